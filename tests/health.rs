//! Health tells the truth: a real server on 127.0.0.1:0 over real HTTP, with a stand-in classifier.
//! The inference worker is made to panic (the test-only fault hook, or a message the stand-in
//! model chokes on); `/readyz` must turn 503 saying why, a classification during the outage must
//! get 503 at once (not hang), and both must recover once the supervisor has reloaded the model.
//! `/metrics` scraped in a burst must read the database KPIs at most once or twice.
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use madoguchi::api;
use madoguchi::cli::serve::{build_state, classifier_loader};
use madoguchi::cli::Paths;
use madoguchi::config::Config;
use madoguchi::conversation::kpis::KpiCache;
use madoguchi::nlu::queue::{ClassifyBackend, Loader, NluHandle};
use madoguchi::nlu::{Action, Classification, NluError, Reason};
use serde_json::{json, Value};

use crate::util::{repo, trained_workspace};

const API_KEY: &str = "api-key-for-health-tests";

/// A server in its own runtime thread, with the handles a test pokes at.
struct Server {
    base: String,
    nlu: NluHandle,
    kpis: KpiCache,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The stand-in model: a confident `greeting`, except that a message saying "boom" makes it panic.
struct Fake;

impl ClassifyBackend for Fake {
    fn classify(&mut self, texts: &[&str]) -> Result<Vec<Classification>, NluError> {
        assert!(!texts.contains(&"boom"), "the stand-in model exploded");
        Ok(texts
            .iter()
            .map(|t| Classification {
                text: t.to_string(),
                intent: madoguchi::domain::IntentName::try_from("greeting").ok(),
                confidence: 0.95,
                action: Action::Answer,
                reason: Reason::Confident,
                alternatives: Vec::new(),
                threshold: 0.6,
            })
            .collect())
    }

    fn model_version(&self) -> Option<String> {
        Some("v-fake".into())
    }
}

/// Loads `Fake`; every load after the first takes `reload`, so an outage lasts long enough to
/// be watched. Counts the loads in `loads`.
fn fake_loader(reload: Duration, loads: Arc<AtomicUsize>) -> Loader {
    Box::new(move || {
        if loads.fetch_add(1, Ordering::SeqCst) > 0 {
            std::thread::sleep(reload);
        }
        Ok(Box::new(Fake) as Box<dyn ClassifyBackend>)
    })
}

type Started = Result<(String, NluHandle, KpiCache), String>;

/// Workspace paths: the catalog (and models) under `workspace`, the encoder at `encoder`.
fn paths_in(workspace: &Path, encoder: &Path) -> Paths {
    Paths {
        intents: workspace.join("intents"),
        training_data: workspace.join("training-data"),
        models: workspace.join("models"),
        encoder: encoder.to_string_lossy().into_owned(),
        cache: None,
        batch_size: madoguchi::nlu::encoder::DEFAULT_BATCH_SIZE,
        batch_tokens: madoguchi::nlu::encoder::DEFAULT_BATCH_TOKENS,
        precision: Default::default(),
        cpu: Default::default(),
    }
}

/// A server over the repository's catalog and a stand-in classifier from `loader`.
fn start(db_dir: &Path, loader: Loader) -> Server {
    start_with(paths_in(&repo(), Path::new("unused")), db_dir, loader)
}

fn start_with(paths: Paths, db_dir: &Path, loader: Loader) -> Server {
    let config = Config {
        database: format!("sqlite://{}", db_dir.join("health.db").display()),
        api_key: Some(API_KEY.into()),
        ..Config::default()
    };
    let (started_tx, started_rx) = mpsc::channel::<Started>();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let (state, stop_streams, _loaded) = match build_state(&paths, config, loader).await {
                Ok(built) => built,
                Err(e) => {
                    let _ = started_tx.send(Err(format!("{e:#}")));
                    return;
                }
            };
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .expect("bind");
            let addr = listener.local_addr().expect("addr");
            let handles = (state.nlu.clone(), state.kpis.clone());
            let _ = started_tx.send(Ok((format!("http://{addr}"), handles.0, handles.1)));
            let store = state.store.clone();
            let shutdown = async move {
                let _ = stop_rx.await;
            };
            let app = api::router(state);
            api::serve(
                listener,
                app,
                stop_streams,
                shutdown,
                Duration::from_secs(5),
            )
            .await
            .expect("serve");
            store.close().await;
        });
    });
    let (base, nlu, kpis) = started_rx
        .recv()
        .expect("server thread")
        .unwrap_or_else(|e| panic!("server did not start: {e}"));
    Server {
        base,
        nlu,
        kpis,
        stop: Some(stop_tx),
        thread: Some(thread),
    }
}

struct Resp {
    request: String,
    status: u16,
    body: Value,
    text: String,
}

impl std::fmt::Display for Resp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (request, status, text) = (&self.request, self.status, &self.text);
        write!(f, "request: {request}\nstatus: {status}\nbody: {text}")
    }
}

/// One request; a server that does not answer within 10 s fails the test (that is a hang).
fn call(method: &str, url: &str, body: Option<Value>) -> Resp {
    let request = format!("{method} {url} {}", body.clone().unwrap_or_default());
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(10))
        .build();
    let req = agent
        .request(method, url)
        .set("Authorization", &format!("Bearer {API_KEY}"));
    let result = match body {
        Some(b) => req.send_json(b),
        None => req.call(),
    };
    let response = match result {
        Ok(r) | Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("request: {request}\ntransport error (a hang?): {e}"),
    };
    let status = response.status();
    let text = response.into_string().unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Resp {
        request,
        status,
        body,
        text,
    }
}

fn readyz(s: &Server) -> Resp {
    call("GET", &format!("{}/readyz", s.base), None)
}

fn classify(s: &Server, text: &str) -> Resp {
    let body = json!({ "texts": [text] });
    call("POST", &format!("{}/v1/classify", s.base), Some(body))
}

/// Polls `/readyz` (every 20 ms, at most `within`) until it answers `status`.
fn until_readyz(s: &Server, status: u16, within: Duration) -> Resp {
    let deadline = Instant::now() + within;
    loop {
        let r = readyz(s);
        if r.status == status {
            return r;
        }
        assert!(Instant::now() < deadline, "/readyz never {status}\n{r}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn readyz_goes_red_then_green_when_the_inference_worker_dies() {
    let dir = tempfile::tempdir().expect("tempdir");
    let loads = Arc::new(AtomicUsize::new(0));
    let s = start(
        dir.path(),
        fake_loader(Duration::from_secs(1), loads.clone()),
    );
    let r = until_readyz(&s, 200, Duration::from_secs(30));
    assert_eq!(r.body["status"], "ready", "\n{r}");
    assert_eq!(r.body["model"], "v-fake", "\n{r}");
    assert_eq!(classify(&s, "hello").status, 200);

    s.nlu.inject_panic();
    let r = until_readyz(&s, 503, Duration::from_secs(5));
    assert_eq!(r.body["reasons"], json!(["inference_restarting"]), "\n{r}");
    assert_eq!(r.body["error"]["code"], "not_ready", "\n{r}");
    let during = classify(&s, "hello");
    assert_eq!(during.status, 503, "\n{during}");
    assert_eq!(during.body["error"]["code"], "not_ready", "\n{during}");

    let r = until_readyz(&s, 200, Duration::from_secs(30));
    assert_eq!(r.body["restarts"], 1, "\n{r}");
    let after = classify(&s, "hello");
    assert_eq!(after.status, 200, "\n{after}");
    assert_eq!(after.body["results"][0]["intent"], "greeting", "\n{after}");
    assert_eq!(loads.load(Ordering::SeqCst), 2);
    let m = call("GET", &format!("{}/metrics", s.base), None);
    assert!(
        m.text.contains("madoguchi_inference_restarts_total"),
        "\n{m}"
    );
}

#[test]
fn a_panicking_model_answers_503_and_comes_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let loads = Arc::new(AtomicUsize::new(0));
    let s = start(dir.path(), fake_loader(Duration::from_millis(500), loads));
    until_readyz(&s, 200, Duration::from_secs(30));
    let r = classify(&s, "boom");
    assert_eq!(r.status, 503, "\n{r}");
    assert_eq!(r.body["error"]["code"], "not_ready", "\n{r}");
    let r = readyz(&s);
    assert_eq!(r.status, 503, "\n{r}");
    assert_eq!(r.body["reasons"], json!(["inference_restarting"]), "\n{r}");
    until_readyz(&s, 200, Duration::from_secs(30));
    let r = classify(&s, "hello");
    assert_eq!(r.status, 200, "\n{r}");
}

#[test]
fn frequent_scrapes_read_the_kpis_from_the_database_at_most_twice() {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = start(dir.path(), fake_loader(Duration::ZERO, Arc::default()));
    until_readyz(&s, 200, Duration::from_secs(30));
    let before = s.kpis.refreshes();
    for _ in 0..50 {
        let m = call("GET", &format!("{}/metrics", s.base), None);
        assert_eq!(m.status, 200, "\n{m}");
        assert!(m.text.contains("madoguchi_handoff_queue_length"), "\n{m}");
    }
    let refreshes = s.kpis.refreshes() - before;
    assert!(
        (1..=2).contains(&refreshes),
        "50 scrapes refreshed the KPIs {refreshes} times"
    );
}

#[test]
fn the_real_model_is_named_by_readyz_and_reloaded_after_a_fault() {
    let Some((ws, encoder)) = trained_workspace() else {
        return;
    };
    let paths = paths_in(ws.path(), encoder);
    let current = std::fs::read_to_string(paths.models.join("current")).expect("models/current");
    let loader = classifier_loader(&paths);
    let dir = tempfile::tempdir().expect("tempdir");
    let s = start_with(paths, dir.path(), loader);
    let r = until_readyz(&s, 200, Duration::from_secs(180));
    assert_eq!(r.body["model"], current.trim(), "\n{r}");

    s.nlu.inject_panic();
    let r = until_readyz(&s, 503, Duration::from_secs(5));
    assert_eq!(r.body["reasons"], json!(["inference_restarting"]), "\n{r}");
    let r = until_readyz(&s, 200, Duration::from_secs(180));
    assert_eq!(r.body["model"], current.trim(), "\n{r}");
    let r = classify(&s, "こんにちは");
    assert_eq!(r.status, 200, "\n{r}");
}
