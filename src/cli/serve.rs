//! `madoguchi serve`: the HTTP service. Loads the configuration, connects and migrates the
//! database, loads the dialogue engine, starts the inference thread (the model loads in the
//! background: `/readyz` says when it is ready), the event bus and the webhook dispatcher, and
//! serves until Ctrl-C or SIGTERM.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tokio::sync::{oneshot, watch};

use super::Paths;
use crate::api::{self, AppState};
use crate::catalog::Catalog;
use crate::config::{Config, ServeArgs};
use crate::conversation::outbox::{self, WebhookTarget};
use crate::conversation::{Conversations, EventBus, Parts, Settings, StreamLimits};
use crate::dialogue::Dialogue;
use crate::nlu::queue::{ClassifyBackend, Loader, NluHandle};
use crate::nlu::{Classifier, TrainedModel};
use crate::store::Store;

#[derive(Debug, Args)]
pub struct ServeCmd {
    #[command(flatten)]
    pub args: ServeArgs,
}

/// Loads the classifier (trained model + its encoder) on the inference thread.
pub fn classifier_loader(paths: &Paths) -> Loader {
    let paths = paths.clone();
    Box::new(move || {
        let load = || -> anyhow::Result<Box<dyn ClassifyBackend>> {
            let model = TrainedModel::load_current(&paths.models)?;
            let (encoder, _) = paths.load_encoder()?;
            let classifier = Classifier::new(Arc::new(encoder), model, &paths.models)?;
            Ok(Box::new(classifier))
        };
        load().map_err(|e| format!("{e:#}"))
    })
}

/// Everything the API needs, built from the configuration: the store (migrated), the dialogue
/// engine, the inference thread, the event bus, the conversation service and, when a webhook is
/// configured, its dispatcher. Returns the state, the shutdown sender for live streams and
/// background tasks, and the receiver that reports when the model is loaded.
pub async fn build_state(
    paths: &Paths,
    config: Config,
    loader: Loader,
) -> anyhow::Result<(
    AppState,
    watch::Sender<bool>,
    oneshot::Receiver<Result<(), String>>,
)> {
    let webhook = webhook_target(&config);
    let store = Store::connect(&config.database)
        .await
        .context("cannot open the database")?
        .with_outbox(webhook.is_some());
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    let catalog = load_catalog(paths)?;
    let dialogue = Dialogue::load(&catalog, &paths.intents)?;
    let (nlu, loaded) = NluHandle::spawn(loader, config.queue_capacity, config.max_batch)
        .context("cannot start the inference thread")?;
    let bus = EventBus::start(&store)
        .await
        .context("cannot listen for events")?;
    let conversations = Conversations::new(Parts {
        store: store.clone(),
        nlu,
        dialogue,
        locales: catalog.locales.clone(),
        settings: Settings {
            max_message_chars: config.max_message_chars,
            minutes_per_ticket: config.minutes_per_ticket,
        },
        bus,
        streams: StreamLimits::new(config.max_streams_per_conversation, config.max_streams),
    });
    let (mut state, stop) = AppState::new(config, conversations);
    state.studio = crate::studio::Studio::new(crate::studio::Workspace {
        intents: paths.intents.clone(),
        training_data: paths.training_data.clone(),
        models: paths.models.clone(),
    });
    if let Some(target) = webhook {
        tokio::spawn(outbox::dispatch(store, target, state.shutdown.clone()));
    }
    Ok((state, stop, loaded))
}

fn webhook_target(config: &Config) -> Option<WebhookTarget> {
    Some(WebhookTarget {
        url: config.webhook_url.clone()?,
        secret: config.webhook_secret.clone().unwrap_or_default(),
        attempts: config.webhook_attempts.max(1),
    })
}

fn load_catalog(paths: &Paths) -> anyhow::Result<Catalog> {
    let mut problems = Vec::new();
    let catalog = Catalog::load(&paths.intents, &mut problems)
        .with_context(|| format!("cannot load {}", paths.intents.display()))?;
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("  {p}")).collect();
        anyhow::bail!(
            "{} problem(s) in {}:\n{}",
            problems.len(),
            paths.intents.display(),
            list.join("\n")
        );
    }
    Ok(catalog)
}

/// With no account yet, creates `admin` with `password` or a random one, printed once to the
/// terminal (stderr, never the logs).
async fn ensure_admin(store: &Store, password: Option<String>) -> anyhow::Result<()> {
    use crate::web::console::password::{hash_password, random_password};
    if store.account_count().await? > 0 {
        return Ok(());
    }
    let (password, generated) = match password {
        Some(p) => (p, false),
        None => (random_password(), true),
    };
    let hash = tokio::task::spawn_blocking(move || hash_password(&password).map(|h| (h, password)))
        .await??;
    store
        .create_account(crate::store::NewAccount {
            name: "admin",
            display_name: "admin",
            role: crate::domain::AccountRole::Admin,
            password_hash: &hash.0,
        })
        .await
        .context("cannot create the first admin account")?;
    if generated {
        eprintln!(
            "madoguchi: created the console account `admin` with password {} (shown once; change it with `madoguchi user passwd admin`)",
            hash.1
        );
    } else {
        eprintln!("madoguchi: created the console account `admin` (password from MADOGUCHI_ADMIN_PASSWORD)");
    }
    Ok(())
}

pub fn run(paths: &Paths, cmd: ServeCmd) -> anyhow::Result<()> {
    let config = cmd.args.resolve()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("madoguchi-http")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(paths, config))
}

async fn serve(paths: &Paths, config: Config) -> anyhow::Result<()> {
    let redacted = config.redacted();
    tracing::info!(config = %redacted, "starting madoguchi serve");
    let bind = config.bind;
    let admin_password = config.admin_password.clone();
    let (state, stop, loaded) = build_state(paths, config, classifier_loader(paths)).await?;
    let store = state.store.clone();
    ensure_admin(&store, admin_password).await?;
    let listener = tokio::net::TcpListener::bind(bind)
        .await
        .with_context(|| format!("cannot listen on {bind}"))?;
    let addr = listener.local_addr()?;
    eprintln!("madoguchi: listening on http://{addr} (config: {redacted})");
    eprintln!(
        "madoguchi: demo shop with the chat widget http://{addr}/ (English: /en), \
         agent console http://{addr}/agent, API docs http://{addr}/docs"
    );
    tracing::info!(%addr, "listening");

    // Stop on a signal, or when the model cannot be loaded (the error is reported after draining).
    let load_error = Arc::new(Mutex::new(None::<String>));
    let failed = load_error.clone();
    let shutdown = async move {
        let model = async {
            match loaded.await {
                Ok(Ok(())) => std::future::pending::<()>().await,
                Ok(Err(e)) => *failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e),
                Err(_) => {
                    *failed.lock().unwrap_or_else(|p| p.into_inner()) =
                        Some("the inference thread stopped while loading".into())
                }
            }
        };
        tokio::select! {
            _ = api::shutdown_signal() => {},
            _ = model => {},
        }
    };
    api::serve(
        listener,
        crate::web::app(state),
        stop,
        shutdown,
        Duration::from_secs(30),
    )
    .await
    .context("server error")?;
    store.close().await;
    let error = load_error.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some(e) = error {
        anyhow::bail!("cannot load the classifier: {e}");
    }
    eprintln!("madoguchi: stopped");
    Ok(())
}
