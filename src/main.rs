//! The `madoguchi` binary: parse the command line, set up logging, run, report errors.
use clap::Parser;
use madoguchi::cli::{Cli, Command};

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    // `serve --log-format json` (or MADOGUCHI_LOG_FORMAT) switches the logs to JSON lines.
    let format = match &cli.command {
        Command::Serve(cmd) => cmd.args.log_format.unwrap_or_default(),
        _ => Default::default(),
    };
    if let Err(e) = madoguchi::telemetry::init_tracing(&cli.log, format) {
        eprintln!("warning: logging not set up: {e}");
    }
    match madoguchi::cli::run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
