//! The commands: [`execute`] dispatches each to a function of its own, which loads the checked
//! config and drives the pipeline (sync → segment → report → deliver) as far as it needs.

pub mod args;
mod check;
mod daemon;
mod deliver;
mod init;
mod plan;
mod report;
mod status;
mod sync;
mod user;
mod whatif;

use std::path::Path;

pub use args::{Cli, Command};

use crate::config::{self, Config, ConfigError, Needs};
use crate::error::Error;
use crate::report::ReportSpec;
use crate::store::Store;

/// Runs a command. `Ok(false)` means it ran but something in it failed (exit code 1).
pub async fn execute(cli: &Cli) -> Result<bool, Error> {
    match &cli.command {
        Command::Demo(a) => crate::demo::run(&a.dir, cli.quiet).await,
        Command::Init(a) => init::run(&a.dir),
        Command::Check(a) => check::run(&load(cli, Needs::ALL)?, a.format, a.strict).await,
        Command::Plan(a) => plan::run(&load(cli, Needs::SOURCES)?, a),
        Command::Sync(a) => sync::run(&load(cli, Needs::SOURCES)?, a, cli.quiet).await,
        Command::Report(a) => {
            let needs = if a.no_sync {
                Needs::STORE
            } else {
                Needs::SOURCES
            };
            report::run(&load(cli, needs)?, a, cli.quiet).await
        }
        Command::Whatif(a) => {
            let needs = if a.no_sync {
                Needs::STORE
            } else {
                Needs::SOURCES
            };
            whatif::run(&load(cli, needs)?, a, cli.quiet).await
        }
        Command::User(a) => user::run(&load(cli, Needs::STORE)?, a),
        Command::Run(a) => {
            let needs = if a.select.dry_run {
                Needs::DESTINATIONS
            } else {
                Needs::ALL
            };
            deliver::run(&load(cli, needs)?, a, cli.quiet, cli.verbose > 0).await
        }
        Command::Deliver(a) => {
            deliver::deliver(&load(cli, Needs::DESTINATIONS)?, a, cli.verbose > 0).await
        }
        Command::Daemon => daemon::run(&load(cli, Needs::ALL)?, cli.quiet).await,
        Command::History(a) => status::history(&load(cli, Needs::STORE)?, a.limit, a.format),
        Command::Status(a) => status::status(&load(cli, Needs::STORE)?, a.format),
        Command::Query(a) => report::query(&load(cli, Needs::STORE)?, a),
        Command::Completions { shell } => init::completions(*shell),
        Command::Man => init::man(),
    }
}

/// Loads the config for a command that uses `needs`: a `${VAR}` that is not set fails only the
/// commands that use its source or destination.
fn load(cli: &Cli, needs: Needs) -> Result<Config, Error> {
    let config = config::load(&cli.config, cli.env_file.as_deref())?;
    config.require(needs)?;
    Ok(config)
}

/// Writes `bytes` to `output`, or to standard output.
fn emit(bytes: &[u8], output: Option<&Path>) -> Result<(), Error> {
    match output {
        Some(path) => {
            std::fs::write(path, bytes).map_err(Error::io(format!("writing {}", path.display())))
        }
        None => crate::stdout::write(bytes).map_err(Error::stdout),
    }
}

/// `command` needs a store with synced rows, and there is no store yet.
fn nothing_synced(config: &Config, command: &str) -> Error {
    Error::Runtime(format!(
        "{command}: nothing is synced yet (no store at {}): run `tally sync` or `tally run` first",
        config.store.display()
    ))
}

/// Fails unless every rollup the reports read has been synced at least once.
fn synced(
    config: &Config,
    store: &Store,
    specs: &[&ReportSpec],
    command: &str,
) -> Result<(), Error> {
    match crate::run::unsynced(config, store, specs)? {
        Some(rollup) => Err(Error::Runtime(format!(
            "{command}: nothing is synced yet for rollup `{rollup}`: run `tally sync` (or the \
             command without --no-sync) first"
        ))),
        None => Ok(()),
    }
}

/// A usage error (exit code 2).
fn usage(message: impl Into<String>) -> Error {
    Error::Config(ConfigError::Usage(message.into()))
}
