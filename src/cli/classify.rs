//! `madoguchi classify`: messages on stdin, one per line; one result per input line on stdout.
use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;

use clap::{Args, ValueEnum};

use super::Paths;
use crate::nlu::{Classification, Classifier, TrainedModel};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Format {
    /// One JSON object per line.
    Jsonl,
    /// A readable line per message.
    Text,
}

#[derive(Debug, Args)]
pub struct ClassifyArgs {
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

pub fn run(paths: &Paths, args: ClassifyArgs) -> anyhow::Result<()> {
    let model = TrainedModel::load_current(&paths.models)?;
    let (encoder, _) = paths.load_encoder()?;
    let classifier = Classifier::new(Arc::new(encoder), model, &paths.models)?;
    let stdin = std::io::stdin();
    let interactive = stdin.is_terminal();
    let mut out = std::io::stdout().lock();
    let mut pending: Vec<(usize, String)> = Vec::new();
    for (n, line) in stdin.lock().split(b'\n').enumerate() {
        let line = line?;
        let line_no = n + 1;
        let text = match String::from_utf8(line) {
            Ok(t) => t.trim_end_matches('\r').to_string(),
            Err(_) => {
                flush(&classifier, &mut pending, args.format, &mut out)?;
                print_error(
                    &mut out,
                    args.format,
                    "",
                    &format!("line {line_no} is not valid UTF-8"),
                )?;
                continue;
            }
        };
        if text.trim().is_empty() {
            flush(&classifier, &mut pending, args.format, &mut out)?;
            print_error(
                &mut out,
                args.format,
                &text,
                &format!("line {line_no} is empty"),
            )?;
            continue;
        }
        pending.push((line_no, text));
        if interactive || pending.len() >= 32 {
            flush(&classifier, &mut pending, args.format, &mut out)?;
        }
    }
    flush(&classifier, &mut pending, args.format, &mut out)?;
    Ok(())
}

fn flush(
    classifier: &Classifier,
    pending: &mut Vec<(usize, String)>,
    format: Format,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let texts: Vec<&str> = pending.iter().map(|(_, t)| t.as_str()).collect();
    for c in classifier.classify(&texts)? {
        print_result(out, format, &c)?;
    }
    pending.clear();
    out.flush()?;
    Ok(())
}

fn print_result(out: &mut impl Write, format: Format, c: &Classification) -> anyhow::Result<()> {
    match format {
        Format::Jsonl => writeln!(out, "{}", serde_json::to_string(c)?)?,
        Format::Text => {
            let alts: Vec<String> = c
                .alternatives
                .iter()
                .map(|a| format!("{} {:.2}", a.intent, a.confidence))
                .collect();
            writeln!(
                out,
                "{:<8} {:<20} {:.2}  {}   [{}]",
                serde_json::to_value(c.action)?.as_str().unwrap_or_default(),
                c.intent.as_deref().unwrap_or("(out of scope)"),
                c.confidence,
                c.text,
                alts.join(", ")
            )?
        }
    }
    Ok(())
}

fn print_error(
    out: &mut impl Write,
    format: Format,
    text: &str,
    message: &str,
) -> anyhow::Result<()> {
    match format {
        Format::Jsonl => writeln!(
            out,
            "{}",
            serde_json::json!({ "text": text, "error": message })
        )?,
        Format::Text => writeln!(out, "error    {message}")?,
    }
    Ok(())
}
