//! `madoguchi serve`: the HTTP service. Loads the configuration, connects and migrates the
//! database, loads the dialogue engine, starts the inference thread on the published model
//! version (the model loads in the background: `/readyz` says when it is ready; a fresh database
//! gets `models/current` recorded as published), the event bus, the webhook dispatcher and the
//! follower that swaps in whatever is published later, the retention job (with
//! `retention_days`), and serves until Ctrl-C or SIGTERM.
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
use crate::nlu::loader::{ModelChoice, ModelLoader};
use crate::nlu::queue::{Loader, NluHandle};
use crate::nlu::Encoder;
use crate::store::Store;
use crate::studio::publishing::published_or_current;
use crate::studio::{ModelPaths, ModelService};

#[derive(Debug, Args)]
pub struct ServeCmd {
    #[command(flatten)]
    pub args: ServeArgs,
}

/// Loads model versions from `paths.models` with the encoder the flags name (built once, on
/// first use).
pub fn model_loader(paths: &Paths) -> Arc<ModelLoader> {
    let p = paths.clone();
    Arc::new(ModelLoader::new(
        paths.models.clone(),
        Box::new(move || {
            let (encoder, _) = p.load_encoder().map_err(|e| format!("{e:#}"))?;
            Ok(Arc::new(encoder) as Arc<dyn Encoder>)
        }),
    ))
}

/// Loads the last trained model (`models/current`) on the inference thread (`chat`, tests);
/// `serve` loads the published one.
pub fn classifier_loader(paths: &Paths) -> Loader {
    model_loader(paths).loader()
}

fn model_paths(paths: &Paths) -> ModelPaths {
    ModelPaths {
        intents: paths.intents.clone(),
        training_data: paths.training_data.clone(),
        models: paths.models.clone(),
        cache: paths.cache_dir(),
        encoder_weights: Some(std::path::Path::new(&paths.encoder).join("model.safetensors"))
            .filter(|p| p.is_file()),
    }
}

/// Connects to the configured database and migrates it.
async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let store = Store::connect(&config.database)
        .await
        .context("cannot open the database")?
        .with_outbox(config.webhook_url.is_some());
    store
        .migrate()
        .await
        .context("cannot migrate the database")?;
    Ok(store)
}

/// Everything the API needs, built from the configuration: the store (migrated), the dialogue
/// engine, the inference thread, the event bus, the conversation service and, when a webhook is
/// configured, its dispatcher. Returns the state, the shutdown sender for live streams and
/// background tasks, and the receiver that reports when the model is loaded.
pub async fn build_state(paths: &Paths, config: Config, loader: Loader) -> anyhow::Result<Built> {
    let store = open_store(&config).await?;
    assemble(paths, config, store, loader, model_loader(paths), None).await
}

/// What [`build_state`] returns: the state, the shutdown sender for live streams and background
/// tasks, and the receiver that reports when the model is loaded.
pub type Built = (
    AppState,
    watch::Sender<bool>,
    oneshot::Receiver<Result<(), String>>,
);

/// [`build_state`] for `serve`: the inference thread loads the published model (recording the
/// last trained one as published on a fresh database), and the replica follows publishes.
pub async fn build_serving_state(paths: &Paths, config: Config) -> anyhow::Result<Built> {
    let store = open_store(&config).await?;
    let models = model_loader(paths);
    let serving = published_or_current(&store, &paths.models)
        .await
        .context("cannot read the published model version")?;
    if let Some(choice) = &serving {
        models.set_wanted(choice.clone());
    }
    let built = assemble(paths, config, store, models.loader(), models, serving).await?;
    built.0.models.spawn_follower(built.0.shutdown.clone());
    Ok(built)
}

async fn assemble(
    paths: &Paths,
    config: Config,
    store: Store,
    loader: Loader,
    models: Arc<ModelLoader>,
    serving: Option<ModelChoice>,
) -> anyhow::Result<Built> {
    let webhook = webhook_target(&config);
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
        intents_dir: paths.intents.clone(),
        locales: catalog.locales.clone(),
        settings: Settings {
            max_message_chars: config.max_message_chars,
            minutes_per_ticket: config.minutes_per_ticket,
        },
        bus,
        streams: StreamLimits::new(config.max_streams_per_conversation, config.max_streams),
    });
    let line = crate::channels::line::LineSettings::from_config(&config);
    let models = ModelService::new(conversations.clone(), models, model_paths(paths), serving);
    let (mut state, stop) = AppState::new(config, conversations.clone(), models);
    state.studio = crate::studio::Studio::new(crate::studio::Workspace {
        intents: paths.intents.clone(),
        training_data: paths.training_data.clone(),
        models: paths.models.clone(),
    });
    if let Some(settings) = line {
        let copy =
            crate::channels::line::LineCopy::load(&paths.intents).map_err(anyhow::Error::msg)?;
        crate::channels::line::start(conversations, settings, copy, state.shutdown.clone());
    }
    if let Some(days) = state.config.retention_days {
        let job =
            crate::conversation::privacy::retention(store.clone(), days, state.shutdown.clone());
        tokio::spawn(job);
    }
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
    let created = store
        .create_account(crate::store::NewAccount {
            name: "admin",
            display_name: "admin",
            role: crate::domain::AccountRole::Admin,
            password_hash: &hash.0,
        })
        .await;
    match created {
        Ok(_) => {}
        // Another replica starting on the same database created it first: theirs stands.
        Err(crate::store::StoreError::Conflict(_)) => return Ok(()),
        Err(e) => return Err(e).context("cannot create the first admin account"),
    }
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
    let (state, stop, loaded) = build_serving_state(paths, config).await?;
    let store = state.store.clone();
    ensure_admin(&store, admin_password).await?;
    let listener = api::listen(bind).with_context(|| format!("cannot listen on {bind}"))?;
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
