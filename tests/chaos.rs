//! Crash safety: a crowd of customers talks to a real `madoguchi serve` (real encoder, webhook on
//! loopback) while the test `kill -9`s it at random moments and starts it again on the same
//! address and database, on SQLite and on PostgreSQL. Customers resend whatever got no 200 with
//! the same `client_message_id`. Afterwards the database must hold every acknowledged message
//! exactly once with its reply, every ticket a customer was told about exactly once, intact
//! conversations, and an outbox whose every event reached the receiver (see `crowd::verify`).
//!
//! The short run (`cargo test`, `make test`): 100 customers, 5 kills per database.
//! The long run (`make chaos`): `MADOGUCHI_CHAOS_KILLS=20` (and `MADOGUCHI_CHAOS_CUSTOMERS`).
use std::time::{Duration, Instant};

use rand::Rng;

use crate::api::sqlite_url;
use crate::crowd::{free_addr, report, verify, Crowd, Hooks, ServeSpec, Served, Targets};
use crate::util::{fresh_postgres, trained_workspace};

/// How long the outbox may take to drain after the run: an event a killed server had leased is
/// claimed again once its lease (60 s) runs out.
const OUTBOX_WAIT: Duration = Duration::from_secs(100);

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn sqlite_loses_nothing_when_killed_under_load() {
    let dir = tempfile::tempdir().expect("tempdir");
    chaos("SQLite", &sqlite_url(dir.path(), "chaos.db"));
}

#[test]
fn postgres_loses_nothing_when_killed_under_load() {
    let Some(pg) = fresh_postgres("postgres_loses_nothing_when_killed_under_load") else {
        return;
    };
    chaos("PostgreSQL", &pg.url);
}

fn chaos(label: &str, database: &str) {
    let Some((ws, encoder)) = trained_workspace() else {
        return;
    };
    let kills = setting("MADOGUCHI_CHAOS_KILLS", 5);
    let customers = setting("MADOGUCHI_CHAOS_CUSTOMERS", 100);
    let hooks = Hooks::start();
    let mut server = Served::start(ServeSpec {
        dir: ws.path().to_path_buf(),
        encoder: encoder.clone(),
        database: database.to_string(),
        bind: free_addr(),
        webhook_url: Some(hooks.url.clone()),
    });
    server.wait_ready();
    let targets = Targets::new(vec![server.base.clone()]);
    let started = Instant::now();
    let crowd = Crowd::start(&targets, customers);
    let mut rng = rand::rng();
    let (mut while_loading, mut recoveries) = (0, Vec::new());
    for _ in 0..kills {
        // Mostly under full load; one kill in four while the server is still starting (the
        // database migrated, the model loading).
        if rng.random_bool(0.75) {
            recoveries.push(server.wait_ready());
            std::thread::sleep(Duration::from_millis(rng.random_range(200..2500)));
        } else {
            while_loading += 1;
            std::thread::sleep(Duration::from_millis(rng.random_range(0..400)));
        }
        server.restart();
    }
    recoveries.push(server.wait_ready());
    std::thread::sleep(Duration::from_secs(1));
    let conversations_during_kills = crowd.conversations();
    let (seen, tally) = crowd.finish();
    let took = started.elapsed();
    let failures = tally.failures.lock().expect("failures").clone();
    assert!(
        failures.is_empty(),
        "{} customer(s) could not get through:\n{}",
        failures.len(),
        failures.join("\n")
    );
    let counts = verify(database, &seen, Some(&hooks), OUTBOX_WAIT);
    recoveries.sort();
    let load = |o: &std::sync::atomic::AtomicU64| o.load(std::sync::atomic::Ordering::Relaxed);
    report(&format!(
        "chaos {label}: {kills} kill -9 ({while_loading} while starting) under {customers} \
         customers in {took:.1?}, ready again after median {:.1?} / max {:.1?}; {} conversations \
         finished during the kills; customers resent {} requests ({} unanswered, {} refused with \
         429/503, {} other 5xx); checked: {counts}",
        recoveries[recoveries.len() / 2],
        recoveries[recoveries.len() - 1],
        conversations_during_kills,
        load(&tally.resends),
        load(&tally.no_answer),
        load(&tally.refused),
        load(&tally.server_errors),
    ));
    assert!(counts.messages > 0 && counts.tickets > 0, "{counts}");
}
