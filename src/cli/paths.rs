//! [`Paths`]: where the catalog, the training data, the models and the encoder live (flags shared by
//! every subcommand), and how to load the encoder from them.
use std::path::PathBuf;

use clap::Args;

/// Where the catalog, the training data and the models live.
#[derive(Debug, Clone, Args)]
pub struct Paths {
    /// Intent definitions (`<name>.yaml`).
    #[arg(
        long,
        global = true,
        env = "MADOGUCHI_INTENTS",
        default_value = "intents"
    )]
    pub intents: PathBuf,
    /// Labelled utterances (`<locale>/<intent>.yaml`).
    #[arg(
        long,
        global = true,
        env = "MADOGUCHI_TRAINING_DATA",
        default_value = "training-data"
    )]
    pub training_data: PathBuf,
    /// Trained model versions and `current`.
    #[arg(
        long,
        global = true,
        env = "MADOGUCHI_MODELS",
        default_value = "models"
    )]
    pub models: PathBuf,
    /// Encoder: a directory with config.json, model.safetensors and tokenizer.json, or a Hugging
    /// Face Hub id (fetched with hf-hub; honours HF_HUB_OFFLINE).
    #[arg(long, global = true, env = "MADOGUCHI_ENCODER", default_value = crate::nlu::source::DEFAULT_ENCODER_DIR)]
    pub encoder: String,
    /// Embedding cache (default: `<models>/cache`).
    #[arg(long, global = true, env = "MADOGUCHI_CACHE")]
    pub cache: Option<PathBuf>,
    /// At most this many texts per encoder forward pass.
    #[arg(long, global = true, env = "MADOGUCHI_BATCH_SIZE",
        default_value_t = crate::nlu::encoder::DEFAULT_BATCH_SIZE)]
    pub batch_size: usize,
    /// At most this many tokens (texts packed, no padding) per encoder forward pass: passes whose
    /// activations fit the core's L2 cache are fastest.
    #[arg(long, global = true, env = "MADOGUCHI_BATCH_TOKENS",
        default_value_t = crate::nlu::encoder::DEFAULT_BATCH_TOKENS)]
    pub batch_tokens: usize,
    /// Precision of the encoder's transformer layers: `auto` (the fastest that keeps accuracy
    /// parity on this CPU: int8 with AVX2 or AVX-512 VNNI, f32 on the scalar fallback), `f32` or
    /// `int8`.
    #[arg(
        long,
        global = true,
        env = "MADOGUCHI_PRECISION",
        default_value = "auto"
    )]
    pub precision: crate::nlu::kernels::PrecisionChoice,
    /// Highest instruction set the encoder's kernels may use: `auto`, `avx512`, `avx2` or
    /// `scalar` (to run the fallback kernels on a newer CPU).
    #[arg(long, global = true, env = "MADOGUCHI_CPU", default_value = "auto")]
    pub cpu: crate::nlu::kernels::CpuLimit,
}

impl Paths {
    /// The encoder the current model version was trained with: the configured one (a Hub id is
    /// resolved), plus the version's fine-tuned layers when it has them.
    pub fn load_encoder(&self) -> anyhow::Result<(crate::nlu::BertEncoder, PathBuf)> {
        match self.current_delta() {
            Some(delta) => {
                let dir = self.encoder_dir()?;
                let tuned = crate::nlu::finetune::delta::load_finetuned(
                    &dir,
                    &delta,
                    self.encoder_options(),
                )?;
                Ok((tuned, dir))
            }
            None => self.load_base_encoder(),
        }
    }

    /// The configured encoder's directory (resolving a Hub id if needed).
    fn encoder_dir(&self) -> anyhow::Result<PathBuf> {
        let offline = std::env::var("HF_HUB_OFFLINE")
            .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
        Ok(crate::nlu::source::resolve_encoder(&self.encoder, offline)?)
    }

    /// The fine-tuned layers of the version `models/current` names, if it has them.
    fn current_delta(&self) -> Option<PathBuf> {
        let version = crate::nlu::versions::current_version(&self.models)?;
        let path = self
            .models
            .join(version)
            .join(crate::nlu::finetune::delta::DELTA_FILE);
        path.is_file().then_some(path)
    }

    /// The options the encoder is loaded with.
    pub fn encoder_options(&self) -> crate::nlu::EncoderOptions {
        crate::nlu::EncoderOptions {
            batch_size: self.batch_size,
            batch_tokens: self.batch_tokens,
            precision: self.precision,
            cpu: self.cpu,
            ..Default::default()
        }
    }

    /// The configured encoder as published (never fine-tuned layers).
    pub fn load_base_encoder(&self) -> anyhow::Result<(crate::nlu::BertEncoder, PathBuf)> {
        let dir = self.encoder_dir()?;
        let encoder = crate::nlu::BertEncoder::from_dir(&dir, self.encoder_options())?;
        Ok((encoder, dir))
    }

    /// The embedding cache directory.
    pub fn cache_dir(&self) -> PathBuf {
        self.cache
            .clone()
            .unwrap_or_else(|| self.models.join("cache"))
    }
}
