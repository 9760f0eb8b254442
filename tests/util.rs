//! Shared helpers: paths, the real binary, skipping.
#![allow(dead_code)]
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The real encoder directory, or None (with a printed reason) when it has not been provisioned.
pub fn real_encoder() -> Option<PathBuf> {
    let dir = std::env::var_os("MADOGUCHI_ENCODER_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("models/encoder/multilingual-e5-small"));
    if dir.join("model.safetensors").is_file() && dir.join("tokenizer.json").is_file() {
        Some(dir)
    } else {
        eprintln!(
            "skipped: the real encoder is not at {} (run `make model`)",
            dir.display()
        );
        None
    }
}

/// Runs the madoguchi binary with `args` in `cwd`, feeding `stdin`.
pub fn madoguchi(cwd: &Path, args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_madoguchi"))
        .args(args)
        .current_dir(cwd)
        .env_remove("MADOGUCHI_INTENTS")
        .env_remove("MADOGUCHI_TRAINING_DATA")
        .env_remove("MADOGUCHI_MODELS")
        .env_remove("MADOGUCHI_ENCODER")
        .env("HF_HUB_OFFLINE", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn madoguchi");
    // A command may exit before reading its input (an error about a missing model, say); its
    // output is what the test checks, so a closed pipe is not a failure here.
    let written = child.stdin.take().expect("stdin").write_all(stdin);
    if let Err(e) = written {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "write stdin: {e}");
    }
    child.wait_with_output().expect("wait")
}

/// Formats an Output for assertion messages.
pub fn show(cmd: &str, out: &Output) -> String {
    format!(
        "command: {cmd}\nstatus: {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Copies the default catalog into `dir` (intents/ and training-data/).
pub fn copy_catalog(dir: &Path) {
    for sub in ["intents", "training-data"] {
        copy_dir(&repo().join(sub), &dir.join(sub));
    }
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

/// A workspace with the default catalog and a model trained by the real binary, shared by every
/// test of this process (training once keeps the suite fast); None when the encoder is absent.
pub fn trained_workspace() -> Option<&'static (tempfile::TempDir, PathBuf)> {
    static WS: OnceLock<Option<(tempfile::TempDir, PathBuf)>> = OnceLock::new();
    WS.get_or_init(|| {
        let encoder = real_encoder()?;
        let dir = tempfile::tempdir().expect("tempdir");
        copy_catalog(dir.path());
        // Reuse embeddings between test runs: only new texts are embedded.
        let cache = repo().join("target/test-embedding-cache");
        let args = [
            "train",
            "--quiet",
            "--encoder",
            encoder.to_str().expect("utf-8 path"),
            "--cache",
            cache.to_str().expect("utf-8 path"),
        ];
        let out = madoguchi(dir.path(), &args, b"");
        assert!(out.status.success(), "{}", show("madoguchi train", &out));
        Some((dir, encoder))
    })
    .as_ref()
}

/// The PostgreSQL server of `make test` (`MADOGUCHI_TEST_POSTGRES_URL`), or None with the reason.
pub fn postgres_base(test: &str) -> Option<String> {
    match std::env::var("MADOGUCHI_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!("{test}: skipped: set MADOGUCHI_TEST_POSTGRES_URL (make test does)");
            None
        }
    }
}

/// `base` with its database name replaced by `name`.
pub fn with_database(base: &str, name: &str) -> String {
    let (url, query) = match base.split_once('?') {
        Some((url, query)) => (url, Some(query)),
        None => (base, None),
    };
    let authority_end = url.find("://").map(|i| i + 3).unwrap_or(0);
    let root = match url[authority_end..].find('/') {
        Some(slash) => &url[..authority_end + slash],
        None => url,
    };
    match query {
        Some(query) => format!("{root}/{name}?{query}"),
        None => format!("{root}/{name}"),
    }
}

/// A fresh PostgreSQL database for one test (dropped with the guard), or None when no server is
/// configured.
pub fn fresh_postgres(test: &str) -> Option<PgDatabase> {
    use sqlx::migrate::MigrateDatabase;
    let base = postgres_base(test)?;
    let name = format!("madoguchi_test_{}", uuid::Uuid::new_v4().simple());
    let url = with_database(&base, &name);
    block_on(sqlx::Postgres::create_database(&url))
        .unwrap_or_else(|e| panic!("create database {name} via {base}: {e}"));
    Some(PgDatabase { url })
}

pub struct PgDatabase {
    pub url: String,
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        use sqlx::migrate::MigrateDatabase;
        if let Err(e) = block_on(sqlx::Postgres::force_drop_database(&self.url)) {
            eprintln!("could not drop {}: {e}", self.url);
        }
    }
}

/// Runs a future to completion on a small runtime of its own (for sync tests).
/// Runs `f` on one runtime shared by the whole test binary: a PostgreSQL pool's connections
/// belong to the runtime they were opened on, so a store opened through here must not outlive it
/// (a runtime per call broke later reads with "the Tokio context is being shut down").
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    static RUNTIME: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime")
        })
        .block_on(f)
}

/// Reads a spawned `madoguchi serve`'s stderr until it says where it listens, then drains the rest
/// on a thread. Returns the base URL and that line; kills the child and panics with what it
/// printed if it exits first.
pub fn wait_listening(child: &mut std::process::Child) -> (String, String) {
    use std::io::BufRead;
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = std::io::BufReader::new(stderr).lines();
    let mut seen = Vec::new();
    loop {
        let Some(Ok(line)) = lines.next() else {
            let _ = child.kill();
            panic!("serve exited before listening:\n{}", seen.join("\n"));
        };
        if let Some(rest) = line.strip_prefix("madoguchi: listening on ") {
            let url = rest.split_whitespace().next().expect("url").to_string();
            std::thread::spawn(move || for _ in lines {});
            return (url, line);
        }
        seen.push(line);
    }
}
