//! The inference queue: one OS thread owns the classifier (encoder + trained model), fed by a
//! bounded channel, as text-embeddings-inference does. Concurrent requests are drained into one
//! batch (dynamic batching, up to `max_batch` texts, cut by the encoder into forward passes of a
//! token budget); each answer goes back on a oneshot, as soon as its pass is done unless the batch
//! is full. A full queue is refused at once ([`QueueError::Full`] → 429) instead of waiting, and
//! requests whose caller went away are skipped before they reach the model.
//!
//! The model is loaded on the inference thread itself, so the server can listen (and answer
//! `/healthz`) while it loads; [`NluHandle::status`] says whether it is loading, ready, or
//! restarting.
//!
//! The thread is supervised: when the worker panics (or the loader fails or panics), the handle
//! turns not ready at once, the batch in hand and every job still queued are answered
//! [`QueueError::NotReady`] (503) rather than left waiting, and the loader runs again after an
//! exponential backoff ([`RestartPolicy`]). Restarts are counted in
//! `madoguchi_inference_restarts_total`.
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::mpsc::error::{TryRecvError, TrySendError};
use tokio::sync::{mpsc, oneshot};

use super::{Classification, Classifier, NluError};

/// What the worker thread runs: the real [`Classifier`], or a stand-in in tests.
pub trait ClassifyBackend: Send + 'static {
    fn classify(&mut self, texts: &[&str]) -> Result<Vec<Classification>, NluError>;

    /// The model version served, shown by `/readyz` (None when the backend has no such notion).
    fn model_version(&self) -> Option<String> {
        None
    }

    /// [`ClassifyBackend::classify`], handing each result to `on_result` in order as soon as it
    /// is ready (the real classifier: after each forward pass), so the first callers of a batch
    /// are answered before its last pass runs.
    fn classify_each(
        &mut self,
        texts: &[&str],
        on_result: &mut dyn FnMut(Classification),
    ) -> Result<(), NluError> {
        self.classify(texts)?.into_iter().for_each(on_result);
        Ok(())
    }

    /// The queue is empty: let threads kept ready for the next batch sleep.
    fn rest(&mut self) {}

    /// The encoder's (L2-normalised) embeddings of `texts`, for grouping similar messages and
    /// finding near training examples. Backends without an encoder refuse.
    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, NluError> {
        let _ = texts;
        Err(NluError::Training(
            "this classifier backend has no encoder to embed with".into(),
        ))
    }
}

impl ClassifyBackend for Classifier {
    fn classify(&mut self, texts: &[&str]) -> Result<Vec<Classification>, NluError> {
        Classifier::classify(self, texts)
    }

    fn classify_each(
        &mut self,
        texts: &[&str],
        on_result: &mut dyn FnMut(Classification),
    ) -> Result<(), NluError> {
        self.classify_each_pass(texts, on_result)
    }

    fn embed(&mut self, texts: &[&str]) -> Result<Vec<Vec<f32>>, NluError> {
        let embeddings = self.encoder().embed(texts)?;
        Ok((0..embeddings.len())
            .map(|i| embeddings.row(i).to_vec())
            .collect())
    }

    fn model_version(&self) -> Option<String> {
        Some(self.model().manifest.version.clone())
    }

    fn rest(&mut self) {
        self.encoder().rest();
    }
}

/// Builds the backend on the inference thread. It runs again after every failure, hence `Fn`.
pub type Loader = Box<dyn Fn() -> Result<Box<dyn ClassifyBackend>, String> + Send>;

#[derive(Debug, Clone, thiserror::Error)]
pub enum QueueError {
    /// The queue is at capacity: try again shortly.
    #[error("the classifier queue is full")]
    Full,
    /// The model is loading, or the worker is restarting after a failure.
    #[error("the model is not loaded yet")]
    NotReady,
    /// The worker stopped (a bug or shutdown).
    #[error("the classifier worker has stopped")]
    Closed,
    /// Classification failed; the detail is for the logs.
    #[error("classification failed: {0}")]
    Failed(String),
}

/// Where the inference worker stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NluStatus {
    /// The first load has not finished.
    Loading,
    /// The model is loaded and the worker takes jobs.
    Ready,
    /// The worker failed (panic or failed load) and is waiting to load again.
    Restarting,
}

impl NluStatus {
    /// The one string form (`/readyz`).
    pub fn as_str(self) -> &'static str {
        match self {
            NluStatus::Loading => "loading",
            NluStatus::Ready => "ready",
            NluStatus::Restarting => "restarting",
        }
    }

    fn from_u8(value: u8) -> NluStatus {
        match value {
            0 => NluStatus::Loading,
            1 => NluStatus::Ready,
            _ => NluStatus::Restarting,
        }
    }

    fn as_u8(self) -> u8 {
        match self {
            NluStatus::Loading => 0,
            NluStatus::Ready => 1,
            NluStatus::Restarting => 2,
        }
    }
}

/// When a failed worker is loaded again: after `first_delay`, doubling per consecutive failure up
/// to `max_delay`; a worker that ran `healthy_after` without failing starts the count afresh.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RestartPolicy {
    pub first_delay: Duration,
    pub max_delay: Duration,
    pub healthy_after: Duration,
}

impl Default for RestartPolicy {
    fn default() -> Self {
        RestartPolicy {
            first_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            healthy_after: Duration::from_secs(60),
        }
    }
}

impl RestartPolicy {
    /// The delay after `delay` when the restart fails again.
    pub fn next_delay(&self, delay: Duration) -> Duration {
        delay.saturating_mul(2).min(self.max_delay)
    }
}

struct Job {
    text: String,
    reply: oneshot::Sender<Result<Classification, QueueError>>,
    enqueued: Instant,
    span: tracing::Span,
}

/// What travels on the channel: a job, or a wake-up for the fault hook (the worker blocks on
/// the channel, so a flag alone would wait for the next job).
enum Work {
    Classify(Job),
    /// Texts to embed (studio grouping), answered between classification batches.
    Embed(EmbedJob),
    Fault,
    /// Serve this backend from the next batch on (see [`NluHandle::swap`]).
    Swap(Swap),
}

/// A new backend and who waits for it to take over.
struct Swap {
    backend: Box<dyn ClassifyBackend>,
    done: oneshot::Sender<()>,
}

/// One [`NluHandle::embed_many`] request.
struct EmbedJob {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Vec<Vec<f32>>, QueueError>>,
}

/// State the handles and the supervisor share.
struct Shared {
    status: AtomicU8,
    /// Set by [`NluHandle::inject_panic`]; the worker panics when it sees it.
    fault: AtomicBool,
    restarts: AtomicU64,
    model_version: Mutex<Option<String>>,
}

impl Shared {
    fn status(&self) -> NluStatus {
        NluStatus::from_u8(self.status.load(Ordering::Acquire))
    }

    fn set_status(&self, status: NluStatus) {
        self.status.store(status.as_u8(), Ordering::Release);
        let ready = if status == NluStatus::Ready { 1.0 } else { 0.0 };
        metrics::gauge!(crate::telemetry::INFERENCE_READY).set(ready);
    }

    fn set_model_version(&self, version: Option<String>) {
        *self.model_version.lock().unwrap_or_else(|p| p.into_inner()) = version;
    }
}

/// Cheap-to-clone handle to the inference worker.
#[derive(Clone)]
pub struct NluHandle {
    tx: mpsc::Sender<Work>,
    shared: Arc<Shared>,
    capacity: usize,
}

/// A reserved place in the queue: taken before the customer message is stored, so a full queue
/// is refused before anything is written.
pub struct Slot<'a> {
    permit: mpsc::Permit<'a, Work>,
}

impl NluHandle {
    /// Starts the supervised inference thread with the default [`RestartPolicy`]. The returned
    /// receiver tells when the model is first loaded (or why the first load failed; the
    /// supervisor keeps retrying either way).
    pub fn spawn(
        loader: Loader,
        capacity: usize,
        max_batch: usize,
    ) -> std::io::Result<(NluHandle, oneshot::Receiver<Result<(), String>>)> {
        NluHandle::spawn_with(loader, capacity, max_batch, RestartPolicy::default())
    }

    /// [`NluHandle::spawn`] with an explicit restart policy.
    pub fn spawn_with(
        loader: Loader,
        capacity: usize,
        max_batch: usize,
        policy: RestartPolicy,
    ) -> std::io::Result<(NluHandle, oneshot::Receiver<Result<(), String>>)> {
        let capacity = capacity.max(1);
        let (tx, rx) = mpsc::channel(capacity);
        let shared = Arc::new(Shared {
            status: AtomicU8::new(NluStatus::Loading.as_u8()),
            fault: AtomicBool::new(false),
            restarts: AtomicU64::new(0),
            model_version: Mutex::new(None),
        });
        let (loaded_tx, loaded_rx) = oneshot::channel();
        let supervisor = Supervisor {
            loader,
            rx,
            shared: shared.clone(),
            policy,
            max_batch: max_batch.max(1),
        };
        std::thread::Builder::new()
            .name("madoguchi-inference".into())
            .spawn(move || supervisor.run(loaded_tx))?;
        let handle = NluHandle {
            tx,
            shared,
            capacity,
        };
        Ok((handle, loaded_rx))
    }

    /// True while the model is loaded and the worker takes jobs.
    pub fn is_ready(&self) -> bool {
        self.status() == NluStatus::Ready
    }

    /// Loading, ready or restarting.
    pub fn status(&self) -> NluStatus {
        self.shared.status()
    }

    /// How many times the worker was loaded again after a failure.
    pub fn restarts(&self) -> u64 {
        self.shared.restarts.load(Ordering::Relaxed)
    }

    /// The version of the loaded model, when the backend names one.
    pub fn model_version(&self) -> Option<String> {
        self.shared
            .model_version
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Test-only fault hook: the worker panics on its next loop iteration (at once when idle),
    /// exactly as if the model had panicked, so tests can watch the supervisor restart it.
    #[doc(hidden)]
    pub fn inject_panic(&self) {
        self.shared.fault.store(true, Ordering::Release);
        // Wake an idle worker; a full queue wakes it anyway.
        let _ = self.tx.try_send(Work::Fault);
    }

    /// Replaces the model served, atomically: jobs queued before the call finish on the old
    /// backend, later ones run on `backend`; no job fails for it. Returns once the worker serves
    /// the new backend (`NotReady` if the worker is down or restarting: its loader decides then).
    pub async fn swap(&self, backend: Box<dyn ClassifyBackend>) -> Result<(), QueueError> {
        if !self.is_ready() {
            return Err(QueueError::NotReady);
        }
        let (done, taken) = oneshot::channel();
        self.tx
            .send(Work::Swap(Swap { backend, done }))
            .await
            .map_err(|_| QueueError::Closed)?;
        taken.await.map_err(|_| QueueError::NotReady)
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
            Err(TrySendError::Full(())) => Err(QueueError::Full),
            Err(TrySendError::Closed(())) => Err(QueueError::Closed),
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

impl NluHandle {
    /// Embeds `texts` with the loaded encoder (one queue place for all of them; answered between
    /// classification batches). Callers should send a few dozen texts at a time, so customers'
    /// messages are not held behind a long embedding job.
    pub async fn embed_many(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, QueueError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        if !self.is_ready() {
            return Err(QueueError::NotReady);
        }
        let permit = match self.tx.try_reserve() {
            Ok(permit) => permit,
            Err(TrySendError::Full(())) => return Err(QueueError::Full),
            Err(TrySendError::Closed(())) => return Err(QueueError::Closed),
        };
        let (reply, rx) = oneshot::channel();
        permit.send(Work::Embed(EmbedJob { texts, reply }));
        rx.await.map_err(|_| QueueError::Closed)?
    }
}

impl Slot<'_> {
    fn send(self, text: String) -> oneshot::Receiver<Result<Classification, QueueError>> {
        let (reply, rx) = oneshot::channel();
        self.permit.send(Work::Classify(Job {
            text,
            reply,
            enqueued: Instant::now(),
            span: tracing::Span::current(),
        }));
        rx
    }

    /// Queues `text` in the reserved place and waits for its classification.
    pub async fn classify(self, text: String) -> Result<Classification, QueueError> {
        self.send(text).await.map_err(|_| QueueError::Closed)?
    }
}

/// How often a down worker's queue is swept while waiting to restart.
const DOWN_SWEEP_INTERVAL: Duration = Duration::from_millis(20);

/// Owns the loader and the receiving end; loads, runs and restarts the worker until every
/// handle is gone.
struct Supervisor {
    loader: Loader,
    rx: mpsc::Receiver<Work>,
    shared: Arc<Shared>,
    policy: RestartPolicy,
    max_batch: usize,
}

impl Supervisor {
    fn run(mut self, loaded: oneshot::Sender<Result<(), String>>) {
        let mut first_load = Some(loaded);
        let mut delay = self.policy.first_delay;
        loop {
            let loaded = self.load();
            if let Some(report) = first_load.take() {
                let _ = report.send(loaded.as_ref().map(|_| ()).map_err(Clone::clone));
            }
            match loaded {
                Ok(backend) => {
                    let started = Instant::now();
                    let Err(panic) = self.serve(backend) else {
                        return; // every handle is gone: shutdown
                    };
                    tracing::error!(panic = %panic, "the inference worker panicked");
                    if started.elapsed() >= self.policy.healthy_after {
                        delay = self.policy.first_delay;
                    }
                }
                Err(e) => tracing::error!(error = %e, "cannot load the classifier"),
            }
            self.shared.set_status(NluStatus::Restarting);
            tracing::warn!(
                seconds = delay.as_secs_f64(),
                "restarting the inference worker after a delay"
            );
            if !self.refuse_until(Instant::now() + delay) {
                return;
            }
            delay = self.policy.next_delay(delay);
            self.shared.restarts.fetch_add(1, Ordering::Relaxed);
            metrics::counter!(crate::telemetry::INFERENCE_RESTARTS).increment(1);
        }
    }

    /// Runs the loader (a panic in it counts as a failed load); marks the handle ready on
    /// success, restarting on failure (before the first load is reported either way).
    fn load(&self) -> Result<Box<dyn ClassifyBackend>, String> {
        let started = Instant::now();
        let loaded = catch_unwind(AssertUnwindSafe(|| (self.loader)()))
            .unwrap_or_else(|panic| Err(format!("the loader panicked: {}", panic_text(&panic))));
        let backend = loaded.inspect_err(|_| self.shared.set_status(NluStatus::Restarting))?;
        self.shared.set_model_version(backend.model_version());
        // A fault injected while the worker was down is not meant for the new one.
        self.shared.fault.store(false, Ordering::Release);
        self.shared.set_status(NluStatus::Ready);
        tracing::info!(
            seconds = started.elapsed().as_secs_f64(),
            "classifier loaded"
        );
        Ok(backend)
    }

    /// Runs the worker until every handle is gone (Ok) or it panics (Err, the panic message).
    fn serve(&mut self, backend: Box<dyn ClassifyBackend>) -> Result<(), String> {
        let (rx, shared, max_batch) = (&mut self.rx, &*self.shared, self.max_batch);
        catch_unwind(AssertUnwindSafe(|| worker(backend, rx, shared, max_batch))).map_err(|panic| {
            shared.set_status(NluStatus::Restarting);
            panic_text(&panic)
        })
    }

    /// While the worker is down, answers whatever reaches the queue with `NotReady` (nothing
    /// should wait for a model that is not there) until `deadline`. False when every handle is
    /// gone.
    fn refuse_until(&mut self, deadline: Instant) -> bool {
        loop {
            loop {
                match self.rx.try_recv() {
                    Ok(Work::Classify(job)) => {
                        let _ = job.reply.send(Err(QueueError::NotReady));
                    }
                    Ok(Work::Embed(job)) => {
                        let _ = job.reply.send(Err(QueueError::NotReady));
                    }
                    // The loader loads the wanted model when the worker comes back.
                    Ok(Work::Fault | Work::Swap(_)) => {}
                    Err(TryRecvError::Empty) => break,
                    Err(TryRecvError::Disconnected) => return false,
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return true;
            }
            std::thread::sleep((deadline - now).min(DOWN_SWEEP_INTERVAL));
        }
    }
}

/// A panic payload as text.
fn panic_text(panic: &Box<dyn Any + Send>) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_string()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".into()
    }
}

/// The jobs of one batch. If the worker panics while holding them, dropping this marks the
/// handle not ready first and then answers each job `NotReady`, so no caller hangs or sees a 500.
struct InFlight<'a> {
    jobs: Vec<Job>,
    shared: &'a Shared,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.shared.set_status(NluStatus::Restarting);
        }
        for job in self.jobs.drain(..) {
            let _ = job.reply.send(Err(QueueError::NotReady));
        }
    }
}

/// The worker loop: block for one job, drain what else is queued (up to `max_batch`, and not past
/// a swap), classify the batch in one call, answering each job as its forward pass ends, then
/// take over a swapped-in backend.
/// Returns when every handle is gone.
fn worker(
    mut backend: Box<dyn ClassifyBackend>,
    rx: &mut mpsc::Receiver<Work>,
    shared: &Shared,
    max_batch: usize,
) {
    loop {
        if rx.is_empty() {
            backend.rest();
        }
        let Some(first) = rx.blocking_recv() else {
            return;
        };
        let mut batch = InFlight {
            jobs: Vec::new(),
            shared,
        };
        let mut embeds = Vec::new();
        let swap = collect_batch(first, rx, max_batch, &mut batch.jobs, &mut embeds);
        // A full batch means a backlog: every caller waits mostly in the queue, and answers sent
        // between passes would only set the HTTP threads against the encoder's (measured: −5 %
        // saturated turns/s). Below that, each caller is answered as soon as its pass is done.
        let answer_early = batch.jobs.len() < max_batch;
        if shared.fault.swap(false, Ordering::AcqRel) {
            panic!("inference worker fault injected (test hook)");
        }
        metrics::gauge!(crate::telemetry::QUEUE_LENGTH).set(rx.len() as f64);
        // Callers that went away (client disconnected, timed out) are not worth a forward pass.
        batch.jobs.retain(|job| !job.reply.is_closed());
        if !batch.jobs.is_empty() {
            classify_batch(backend.as_mut(), &mut batch.jobs, answer_early);
        }
        // Embeddings queued before a swap are made by the model they were asked of.
        for job in embeds {
            embed_job(backend.as_mut(), job);
        }
        if let Some(swap) = swap {
            shared.set_model_version(swap.backend.model_version());
            backend = swap.backend;
            let _ = swap.done.send(());
            tracing::info!(model = ?backend.model_version(), "now serving a new model");
        }
    }
}

/// Takes `first` and whatever else is queued now, up to `max_batch` jobs; stops at a swap (the
/// jobs before it belong to the old backend) and returns it.
fn collect_batch(
    first: Work,
    rx: &mut mpsc::Receiver<Work>,
    max_batch: usize,
    jobs: &mut Vec<Job>,
    embeds: &mut Vec<EmbedJob>,
) -> Option<Swap> {
    let mut next = Some(first);
    while let Some(work) = next.take() {
        match work {
            Work::Classify(job) => jobs.push(job),
            Work::Embed(job) => embeds.push(job),
            Work::Swap(swap) => return Some(swap),
            Work::Fault => {}
        }
        if jobs.len() >= max_batch {
            break;
        }
        next = rx.try_recv().ok();
    }
    None
}

/// Classifies the batch in one call and answers (and removes) every job: with `answer_early`,
/// each as soon as its forward pass is done (a batch may hold several passes, and the first
/// callers need not wait for the last), else all once the batch is done.
fn classify_batch(backend: &mut dyn ClassifyBackend, jobs: &mut Vec<Job>, answer_early: bool) {
    let now = Instant::now();
    for job in jobs.iter() {
        metrics::histogram!(crate::telemetry::QUEUE_WAIT)
            .record(now.duration_since(job.enqueued).as_secs_f64());
    }
    metrics::histogram!(crate::telemetry::BATCH_SIZE).record(jobs.len() as f64);
    let texts: Vec<String> = jobs
        .iter_mut()
        .map(|j| std::mem::take(&mut j.text))
        .collect();
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    let span = jobs[0].span.clone();
    let (expected, mut got) = (jobs.len(), 0);
    let mut held = Vec::new();
    // In order, one per text: the next unanswered job is the oldest left.
    let answer = |jobs: &mut Vec<Job>, c: Classification| {
        if !jobs.is_empty() {
            let _ = jobs.remove(0).reply.send(Ok(c));
        }
    };
    let result = span.in_scope(|| {
        backend.classify_each(&texts, &mut |c| {
            got += 1;
            if answer_early {
                answer(jobs, c);
            } else {
                held.push(c);
            }
        })
    });
    if result.is_ok() {
        held.into_iter().for_each(|c| answer(jobs, c));
    }
    metrics::histogram!(crate::telemetry::INFERENCE_SECONDS).record(now.elapsed().as_secs_f64());
    match result {
        Ok(()) if got == expected => {}
        Ok(()) => {
            tracing::error!(
                expected,
                got,
                "the classifier returned the wrong number of results (this is a bug)"
            );
            for job in jobs.drain(..) {
                let _ = job
                    .reply
                    .send(Err(QueueError::Failed("wrong number of results".into())));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "classification failed");
            let message = e.to_string();
            for job in jobs.drain(..) {
                let _ = job.reply.send(Err(QueueError::Failed(message.clone())));
            }
        }
    }
}

/// Embeds one request's texts and answers it (a caller that went away is skipped).
fn embed_job(backend: &mut dyn ClassifyBackend, job: EmbedJob) {
    if job.reply.is_closed() {
        return;
    }
    let texts: Vec<&str> = job.texts.iter().map(String::as_str).collect();
    let result = backend
        .embed(&texts)
        .map_err(|e| QueueError::Failed(e.to_string()));
    let _ = job.reply.send(result);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nlu::{Action, Reason};
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    /// A stand-in model: answers `greeting` after `delay`; panics on a message saying "boom".
    struct Echo {
        batches: Arc<Mutex<Vec<usize>>>,
        delay: Duration,
    }

    fn greeting(text: &str) -> Classification {
        Classification {
            text: text.to_string(),
            intent: Some(crate::domain::IntentName::try_from("greeting").expect("a valid name")),
            confidence: 0.9,
            action: Action::Answer,
            reason: Reason::Confident,
            alternatives: Vec::new(),
            threshold: 0.6,
        }
    }

    impl ClassifyBackend for Echo {
        fn classify(&mut self, texts: &[&str]) -> Result<Vec<Classification>, NluError> {
            std::thread::sleep(self.delay);
            assert!(!texts.contains(&"boom"), "the model exploded");
            self.batches.lock().expect("lock").push(texts.len());
            Ok(texts.iter().map(|t| greeting(t)).collect())
        }

        fn model_version(&self) -> Option<String> {
            Some("v-test".into())
        }
    }

    const FAST_RESTARTS: RestartPolicy = RestartPolicy {
        first_delay: Duration::from_millis(200),
        max_delay: Duration::from_secs(1),
        healthy_after: Duration::from_secs(60),
    };

    /// A handle over `Echo`, loaded; also returns the batch sizes seen and the number of loads.
    async fn start(
        capacity: usize,
        delay: Duration,
    ) -> (NluHandle, Arc<Mutex<Vec<usize>>>, Arc<AtomicUsize>) {
        let batches = Arc::new(Mutex::new(Vec::new()));
        let loads = Arc::new(AtomicUsize::new(0));
        let (b, l) = (batches.clone(), loads.clone());
        let loader: Loader = Box::new(move || {
            l.fetch_add(1, Ordering::SeqCst);
            let batches = b.clone();
            Ok(Box::new(Echo { batches, delay }) as Box<dyn ClassifyBackend>)
        });
        let (h, loaded) = NluHandle::spawn_with(loader, capacity, 8, FAST_RESTARTS).expect("spawn");
        loaded.await.expect("loaded").expect("ok");
        (h, batches, loads)
    }

    /// Waits (at most 5 s) until the handle is ready again.
    async fn until_ready(h: &NluHandle) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while !h.is_ready() {
            assert!(
                Instant::now() < deadline,
                "never ready again: {:?}",
                h.status()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_are_batched() {
        let (h, batches, _) = start(64, Duration::from_millis(50)).await;
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

    /// A model that runs one text per forward pass and waits for the test's go before each.
    struct Gated {
        go: std::sync::mpsc::Receiver<()>,
    }

    impl ClassifyBackend for Gated {
        fn classify(&mut self, texts: &[&str]) -> Result<Vec<Classification>, NluError> {
            Ok(texts.iter().map(|t| greeting(t)).collect())
        }

        fn classify_each(
            &mut self,
            texts: &[&str],
            on_result: &mut dyn FnMut(Classification),
        ) -> Result<(), NluError> {
            for t in texts {
                self.go
                    .recv()
                    .map_err(|_| NluError::Bug("the test hung up"))?;
                on_result(greeting(t));
            }
            Ok(())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_first_callers_of_a_batch_are_answered_before_its_last_pass() {
        let (go, gate) = std::sync::mpsc::channel();
        let gate = Mutex::new(Some(gate));
        let loader: Loader = Box::new(move || {
            let go = gate
                .lock()
                .expect("lock")
                .take()
                .ok_or_else(|| "loaded twice".to_string())?;
            Ok(Box::new(Gated { go }) as Box<dyn ClassifyBackend>)
        });
        let (h, loaded) = NluHandle::spawn_with(loader, 8, 8, FAST_RESTARTS).expect("spawn");
        loaded.await.expect("loaded").expect("ok");
        let ask = |text: &str| {
            let (h, text) = (h.clone(), text.to_string());
            tokio::spawn(async move { h.classify(text).await })
        };
        // "a" holds the worker (waiting for a go) while "b", then "c" queue up as one batch.
        let queued = |n: usize| {
            let h = h.clone();
            async move {
                while h.queued() != n {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        };
        let within = Duration::from_secs(5);
        let a = ask("a");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let b = ask("b");
        tokio::time::timeout(within, queued(1))
            .await
            .expect("b queued");
        let mut c = ask("c");
        tokio::time::timeout(within, queued(2))
            .await
            .expect("c queued");
        go.send(()).expect("go a");
        let a = tokio::time::timeout(within, a).await.expect("a answered");
        assert_eq!(a.expect("join").expect("classify").text, "a");
        go.send(()).expect("go b");
        let b = tokio::time::timeout(within, b).await.expect("b answered");
        assert_eq!(b.expect("join").expect("classify").text, "b");
        // "c" runs in the batch's second pass, which has not had its go.
        let pending = tokio::time::timeout(Duration::from_millis(100), &mut c).await;
        assert!(pending.is_err(), "c was answered before its pass ran");
        go.send(()).expect("go c");
        let c = tokio::time::timeout(within, c).await.expect("c answered");
        assert_eq!(c.expect("join").expect("classify").text, "c");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_full_queue_refuses_at_once() {
        let (h, _, _) = start(1, Duration::from_millis(300)).await;
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
        assert_eq!(h.status(), NluStatus::Restarting);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_injected_panic_turns_not_ready_answers_the_queue_and_restarts() {
        let (h, _, loads) = start(8, Duration::from_millis(150)).await;
        assert_eq!(h.model_version().as_deref(), Some("v-test"));
        let busy = {
            let h = h.clone();
            tokio::spawn(async move { h.classify("first".into()).await })
        };
        tokio::time::sleep(Duration::from_millis(40)).await;
        // Queued behind the batch in hand when the fault strikes.
        let waiting = {
            let slot = h.reserve().expect("a place");
            slot.send("second".into())
        };
        h.inject_panic();
        busy.await
            .expect("join")
            .expect("the batch in hand is answered");
        let answer = tokio::time::timeout(Duration::from_secs(2), waiting)
            .await
            .expect("a queued job is answered, not left hanging")
            .expect("answered, not dropped");
        assert!(matches!(answer, Err(QueueError::NotReady)), "{answer:?}");
        assert!(!h.is_ready());
        assert!(matches!(h.reserve(), Err(QueueError::NotReady)));

        until_ready(&h).await;
        assert_eq!(
            h.classify("third".into()).await.expect("classify").text,
            "third"
        );
        assert_eq!(h.restarts(), 1);
        assert_eq!(loads.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_model_answers_its_batch_and_is_restarted() {
        let (h, _, _) = start(8, Duration::ZERO).await;
        let answer = tokio::time::timeout(Duration::from_secs(2), h.classify("boom".into()))
            .await
            .expect("answered, not hanging");
        assert!(matches!(answer, Err(QueueError::NotReady)), "{answer:?}");
        assert_ne!(h.status(), NluStatus::Ready);
        until_ready(&h).await;
        h.classify("hello".into()).await.expect("classify");
        assert_eq!(h.restarts(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_failing_loader_is_retried_until_it_loads() {
        let attempts = Arc::new(AtomicUsize::new(0));
        let a = attempts.clone();
        let loader: Loader = Box::new(move || {
            if a.fetch_add(1, Ordering::SeqCst) < 2 {
                return Err("model files missing".into());
            }
            let batches = Arc::new(Mutex::new(Vec::new()));
            let delay = Duration::ZERO;
            Ok(Box::new(Echo { batches, delay }) as Box<dyn ClassifyBackend>)
        });
        let policy = RestartPolicy {
            first_delay: Duration::from_millis(20),
            ..FAST_RESTARTS
        };
        let (h, loaded) = NluHandle::spawn_with(loader, 4, 4, policy).expect("spawn");
        assert!(loaded.await.expect("reported").is_err());
        until_ready(&h).await;
        assert_eq!(attempts.load(Ordering::SeqCst), 3);
        assert_eq!(h.restarts(), 2);
        h.classify("hello".into()).await.expect("classify");
    }

    /// A stand-in model that tags every answer with its name (and takes `delay` per batch).
    struct Tagged(&'static str, Duration);

    impl ClassifyBackend for Tagged {
        fn classify(&mut self, texts: &[&str]) -> Result<Vec<Classification>, NluError> {
            std::thread::sleep(self.1);
            let mut echo = Echo {
                batches: Arc::default(),
                delay: Duration::ZERO,
            };
            let mut out = echo.classify(texts)?;
            for c in &mut out {
                c.text = format!("{}:{}", self.0, c.text);
            }
            Ok(out)
        }

        fn model_version(&self) -> Option<String> {
            Some(self.0.into())
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_swap_lets_queued_jobs_finish_on_the_old_model_and_fails_none() {
        let loader: Loader =
            Box::new(|| Ok(Box::new(Tagged("old", Duration::from_millis(30))) as _));
        let (h, loaded) = NluHandle::spawn_with(loader, 64, 4, FAST_RESTARTS).expect("spawn");
        loaded.await.expect("loaded").expect("ok");
        // Queued synchronously, so they are surely ahead of the swap.
        let before: Vec<_> = (0..10)
            .map(|i| h.reserve().expect("place").send(format!("b{i}")))
            .collect();
        h.swap(Box::new(Tagged("new", Duration::ZERO)))
            .await
            .expect("swapped");
        assert_eq!(h.model_version().as_deref(), Some("new"));
        for rx in before {
            let c = rx.await.expect("answered").expect("no job fails");
            assert!(c.text.starts_with("old:"), "{}", c.text);
        }
        let after = h.classify("a".into()).await.expect("classify");
        assert_eq!(after.text, "new:a");
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let policy = RestartPolicy::default();
        let mut delay = policy.first_delay;
        let mut seen = Vec::new();
        for _ in 0..9 {
            seen.push(delay.as_millis());
            delay = policy.next_delay(delay);
        }
        assert_eq!(
            seen,
            [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000]
        );
    }
}
