//! The inference queue: one OS thread owns the classifier (encoder + trained model), fed by a
//! bounded channel, as text-embeddings-inference does. Concurrent requests are drained into one
//! batch (dynamic batching, up to `max_batch` texts per forward pass); each answer goes back on a
//! oneshot. A full queue is refused at once ([`QueueError::Full`] → 429) instead of waiting, and
//! requests whose caller went away are skipped before they reach the model.
//!
//! The model is loaded on the worker thread itself, so the server can listen (and answer
//! `/healthz`) while it loads; [`NluHandle::is_ready`] turns true once it is.
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use super::{Classification, Classifier, NluError};

/// What the worker thread runs: the real [`Classifier`], or a stand-in in tests.
pub trait ClassifyBackend: Send + 'static {
    fn classify(&mut self, texts: &[&str]) -> Result<Vec<Classification>, NluError>;
}

impl ClassifyBackend for Classifier {
    fn classify(&mut self, texts: &[&str]) -> Result<Vec<Classification>, NluError> {
        Classifier::classify(self, texts)
    }
}

/// Builds the backend on the worker thread.
pub type Loader = Box<dyn FnOnce() -> Result<Box<dyn ClassifyBackend>, String> + Send>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// The queue is at capacity: try again shortly.
    #[error("the classifier queue is full")]
    Full,
    /// The model is still loading (or failed to load).
    #[error("the model is not loaded yet")]
    NotReady,
    /// The worker stopped (a bug or shutdown).
    #[error("the classifier worker has stopped")]
    Closed,
    /// Classification failed; the detail is for the logs.
    #[error("classification failed: {0}")]
    Failed(String),
}

struct Job {
    text: String,
    reply: oneshot::Sender<Result<Classification, QueueError>>,
    enqueued: Instant,
    span: tracing::Span,
}

/// Cheap-to-clone handle to the inference worker.
#[derive(Clone)]
pub struct NluHandle {
    tx: mpsc::Sender<Job>,
    ready: Arc<AtomicBool>,
    capacity: usize,
}

/// A reserved place in the queue: taken before the customer message is stored, so a full queue
/// is refused before anything is written.
pub struct Slot<'a> {
    permit: mpsc::Permit<'a, Job>,
}

impl NluHandle {
    /// Starts the worker thread, which first runs `loader`. The returned receiver tells when the
    /// model is loaded (or why it could not be).
    pub fn spawn(
        loader: Loader,
        capacity: usize,
        max_batch: usize,
    ) -> std::io::Result<(NluHandle, oneshot::Receiver<Result<(), String>>)> {
        let capacity = capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let ready = Arc::new(AtomicBool::new(false));
        let (loaded_tx, loaded_rx) = oneshot::channel();
        let flag = ready.clone();
        std::thread::Builder::new()
            .name("madoguchi-inference".into())
            .spawn(move || {
                let started = Instant::now();
                match loader() {
                    Ok(backend) => {
                        flag.store(true, Ordering::Release);
                        tracing::info!(
                            seconds = started.elapsed().as_secs_f64(),
                            "classifier loaded"
                        );
                        let _ = loaded_tx.send(Ok(()));
                        worker(backend, rx, max_batch.max(1));
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "cannot load the classifier");
                        let _ = loaded_tx.send(Err(e));
                    }
                }
            })?;
        Ok((
            NluHandle {
                tx,
                ready,
                capacity,
            },
            loaded_rx,
        ))
    }

    /// True once the model is loaded.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Messages waiting for the model now.
    pub fn queued(&self) -> usize {
        self.capacity - self.tx.capacity()
    }

    /// Reserves a place in the queue, or says why there is none (never waits).
    pub fn reserve(&self) -> Result<Slot<'_>, QueueError> {
        if !self.is_ready() {
            return Err(QueueError::NotReady);
        }
        match self.tx.try_reserve() {
            Ok(permit) => {
                metrics::gauge!(crate::telemetry::QUEUE_LENGTH).set(self.queued() as f64);
                Ok(Slot { permit })
            }
            Err(mpsc::error::TrySendError::Full(())) => Err(QueueError::Full),
            Err(mpsc::error::TrySendError::Closed(())) => Err(QueueError::Closed),
        }
    }

    /// Classifies one message (reserving a place first).
    pub async fn classify(&self, text: String) -> Result<Classification, QueueError> {
        self.reserve()?.classify(text).await
    }

    /// Classifies several messages; all or nothing is queued.
    pub async fn classify_many(
        &self,
        texts: Vec<String>,
    ) -> Result<Vec<Classification>, QueueError> {
        if !self.is_ready() {
            return Err(QueueError::NotReady);
        }
        if texts.len() > self.tx.capacity() {
            return Err(QueueError::Full);
        }
        let mut slots = Vec::with_capacity(texts.len());
        for _ in &texts {
            slots.push(self.reserve()?);
        }
        let pending: Vec<_> = slots
            .into_iter()
            .zip(texts)
            .map(|(slot, text)| slot.send(text))
            .collect();
        let mut out = Vec::with_capacity(pending.len());
        for rx in pending {
            out.push(rx.await.map_err(|_| QueueError::Closed)??);
        }
        Ok(out)
    }
}

impl Slot<'_> {
    fn send(self, text: String) -> oneshot::Receiver<Result<Classification, QueueError>> {
        let (reply, rx) = oneshot::channel();
        self.permit.send(Job {
            text,
            reply,
            enqueued: Instant::now(),
            span: tracing::Span::current(),
        });
        rx
    }

    /// Queues `text` in the reserved place and waits for its classification.
    pub async fn classify(self, text: String) -> Result<Classification, QueueError> {
        self.send(text).await.map_err(|_| QueueError::Closed)?
    }
}

/// The worker loop: block for one job, drain what else is queued (up to `max_batch`), classify
/// the batch in one call, answer each job.
fn worker(mut backend: Box<dyn ClassifyBackend>, mut rx: mpsc::Receiver<Job>, max_batch: usize) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        metrics::gauge!(crate::telemetry::QUEUE_LENGTH).set(rx.len() as f64);
        // Callers that went away (client disconnected, timed out) are not worth a forward pass.
        batch.retain(|job| !job.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let now = Instant::now();
        for job in &batch {
            metrics::histogram!(crate::telemetry::QUEUE_WAIT)
                .record(now.duration_since(job.enqueued).as_secs_f64());
        }
        metrics::histogram!(crate::telemetry::BATCH_SIZE).record(batch.len() as f64);
        let texts: Vec<&str> = batch.iter().map(|j| j.text.as_str()).collect();
        let result = {
            let _span = batch[0].span.enter();
            backend.classify(&texts)
        };
        metrics::histogram!(crate::telemetry::INFERENCE_SECONDS)
            .record(now.elapsed().as_secs_f64());
        match result {
            Ok(results) if results.len() == batch.len() => {
                for (job, c) in batch.into_iter().zip(results) {
                    let _ = job.reply.send(Ok(c));
                }
            }
            Ok(results) => {
                tracing::error!(
                    expected = batch.len(),
                    got = results.len(),
                    "the classifier returned the wrong number of results (this is a bug)"
                );
                for job in batch {
                    let _ = job
                        .reply
                        .send(Err(QueueError::Failed("wrong number of results".into())));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, "classification failed");
                let message = e.to_string();
                for job in batch {
                    let _ = job.reply.send(Err(QueueError::Failed(message.clone())));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::{Action, Reason};
    use std::sync::Mutex;
    use std::time::Duration;

    struct Echo {
        batches: Arc<Mutex<Vec<usize>>>,
        delay: Duration,
    }

    impl ClassifyBackend for Echo {
        fn classify(&mut self, texts: &[&str]) -> Result<Vec<Classification>, NluError> {
            std::thread::sleep(self.delay);
            self.batches.lock().expect("lock").push(texts.len());
            Ok(texts
                .iter()
                .map(|t| Classification {
                    text: t.to_string(),
                    intent: Some(
                        crate::domain::IntentName::try_from("greeting").expect("a valid name"),
                    ),
                    confidence: 0.9,
                    action: Action::Answer,
                    reason: Reason::Confident,
                    alternatives: Vec::new(),
                })
                .collect())
        }
    }

    async fn start(capacity: usize, delay: Duration) -> (NluHandle, Arc<Mutex<Vec<usize>>>) {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let b = batches.clone();
        let (h, loaded) = NluHandle::spawn(
            Box::new(move || Ok(Box::new(Echo { batches: b, delay }) as Box<dyn ClassifyBackend>)),
            capacity,
            8,
        )
        .expect("spawn");
        loaded.await.expect("loaded").expect("ok");
        (h, batches)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_are_batched() {
        let (h, batches) = start(64, Duration::from_millis(50)).await;
        let tasks: Vec<_> = (0..16)
            .map(|i| {
                let h = h.clone();
                tokio::spawn(async move { h.classify(format!("m{i}")).await })
            })
            .collect();
        for (i, t) in tasks.into_iter().enumerate() {
            let c = t.await.expect("join").expect("classify");
            assert_eq!(c.text, format!("m{i}"));
        }
        let batches = batches.lock().expect("lock").clone();
        assert_eq!(batches.iter().sum::<usize>(), 16);
        assert!(batches.len() < 16, "no batching: {batches:?}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_at_once() {
        let (h, _) = start(1, Duration::from_millis(300)).await;
        let busy = {
            let h = h.clone();
            tokio::spawn(async move { h.classify("a".into()).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let queued = h.reserve().expect("one place");
        assert!(matches!(h.reserve(), Err(QueueError::Full)));
        drop(queued);
        busy.await.expect("join").expect("classify");
    }

    #[tokio::test]
    async fn not_ready_until_loaded() {
        let (h, loaded) =
            NluHandle::spawn(Box::new(|| Err("no model".into())), 4, 4).expect("spawn");
        assert!(loaded.await.expect("reported").is_err());
        assert!(matches!(h.reserve(), Err(QueueError::NotReady)));
    }
}
