//! The `tally` binary: parses arguments, sets up logging, runs the command and maps the outcome
//! to an exit code (0 ok, 1 runtime failure, 2 usage or configuration error).

use std::process::ExitCode;

use clap::Parser;
use tally::cli::args::LogFormat;
use tally::cli::{self, Cli};
use tally::secret::mask_secrets;
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The demo speaks for itself: its sync's lines only with -v.
    let demo = matches!(cli.command, tally::cli::Command::Demo(_));
    let level = match (cli.quiet, cli.verbose) {
        (true, _) => "warn",
        (false, 0) if demo => "warn",
        (false, 0) => "info",
        (false, 1) => "debug",
        (false, _) => "trace",
    };
    let filter = EnvFilter::try_from_env("TALLY_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("tally={level},warn")));
    // Colour only for a person at a terminal, and never with NO_COLOR (https://no-color.org):
    // logs redirected to a file stay plain text.
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| tally::secret::MaskedStderr)
        .with_ansi(colour)
        .with_target(false);
    // Under systemd, journald stamps each line with its time: text lines leave theirs out.
    let journald = std::env::var_os("JOURNAL_STREAM").is_some();
    match cli.log_format {
        LogFormat::Text if journald => logs.without_time().init(),
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    let outcome = runtime.block_on(async {
        tally::shutdown::listen();
        cli::execute(&cli).await
    });
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", mask_secrets(&e.to_string()));
            ExitCode::from(e.exit_code())
        }
    }
}
