//! Command-line arguments (clap derive). Parsing does nothing else.

use std::path::PathBuf;

use chrono::NaiveDate;
use clap::{Args, Parser, Subcommand};

use crate::report::render::Format;

/// tally: incremental cross-database rollups, user segments and reports that run by themselves.
#[derive(Debug, Parser)]
#[command(name = "tally", version, about, long_about = None)]
pub struct Cli {
    /// Config file.
    #[arg(
        short,
        long,
        global = true,
        env = "TALLY_CONFIG",
        default_value = "tally.toml"
    )]
    pub config: PathBuf,
    /// Env file for `${VAR}` in the config (default: `.env` beside the config, when present).
    #[arg(long, global = true)]
    pub env_file: Option<PathBuf>,
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// Log lines as text for people, or JSON for log collectors.
    #[arg(long, global = true, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Output format of `tally report`: the text formats, or the PNG chart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    /// A table for the terminal.
    Table,
    /// A Markdown table (`md` also works).
    #[value(alias = "md")]
    Markdown,
    /// CSV with a header row.
    Csv,
    /// A JSON object (an array of them for several reports).
    Json,
    /// The chart of a segment_rewards or segment_flow report (needs --output).
    Png,
}

impl ReportFormat {
    /// The text format, or `None` for PNG.
    pub fn text(self) -> Option<Format> {
        match self {
            ReportFormat::Table => Some(Format::Table),
            ReportFormat::Markdown => Some(Format::Markdown),
            ReportFormat::Csv => Some(Format::Csv),
            ReportFormat::Json => Some(Format::Json),
            ReportFormat::Png => None,
        }
    }
}

/// The output of a command that prints facts (`check`, `plan`, `status`, `history`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum InfoFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One JSON document, for scripts.
    Json,
}

/// A shell that `tally completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// Bash.
    Bash,
    /// Z shell.
    Zsh,
    /// fish.
    Fish,
}

/// Which reports and destinations a delivery touches.
#[derive(Debug, Clone, Default, Args)]
pub struct Selection {
    /// Only this report (repeatable; default: every report).
    #[arg(long = "report", value_name = "NAME")]
    pub reports: Vec<String>,
    /// Only this destination, by `name`, or `slack`/`webhook`/`files` for every one of that kind
    /// (repeatable; default: every destination).
    #[arg(long = "to", value_name = "DESTINATION")]
    pub destinations: Vec<String>,
    /// Render everything and print what each destination would get; send nothing, record
    /// nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `--date`: the last report day.
#[derive(Debug, Clone, Args)]
pub struct DateArg {
    /// Last report day, inclusive (default: yesterday in the config's time zone).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = day)]
    pub date: Option<NaiveDate>,
}

/// A day on the command line: `YYYY-MM-DD`, between 1970 and 9999 (a store holds days of data
/// pulled from databases; far dates are typos, and near the ends of the calendar, date arithmetic
/// has nowhere to go).
pub fn day(text: &str) -> Result<NaiveDate, String> {
    let d = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .map_err(|e| format!("`{text}` is not a day like 2026-11-28: {e}"))?;
    let (first, last) = (
        NaiveDate::from_ymd_opt(1970, 1, 1).expect("a valid date"),
        NaiveDate::from_ymd_opt(9999, 12, 31).expect("a valid date"),
    );
    if d < first || d > last {
        return Err(format!("{d} is outside 1970-01-01 to 9999-12-31"));
    }
    Ok(d)
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a demo (two SQLite databases, a config) and print its reports. No server needed.
    Demo(DemoArgs),
    /// Write a commented tally.toml and a .env (mode 0600) for the real setup into DIR.
    Init(InitArgs),
    /// Validate the config, connect to every source and check every rollup's table, every alert's
    /// condition and every destination (sending nothing); warn about configs that give wrong
    /// numbers.
    Check(CheckArgs),
    /// Dry run: the slices a sync would pull and the SQL it would send.
    Plan(PlanArgs),
    /// Pull what the reports need into the store.
    Sync(SyncArgs),
    /// Render reports from the store (all of them without NAME), syncing first.
    Report(ReportArgs),
    /// What a candidate policy (other weights, groups, window or payout) would have done, as a
    /// policy_compare report; the config is not changed, nothing is delivered.
    Whatif(WhatifArgs),
    /// One user from the store (no sync): their groups, the days they changed, the parts of
    /// their score and their rewards.
    User(UserArgs),
    /// Sync, render every report into the output directory, print it and deliver it, with the
    /// alerts that fire on it.
    Run(RunArgs),
    /// Run `tally run` for yesterday at every time of `[schedule] cron`, catching up missed runs;
    /// with `[slack_app]`, answer `/tally` commands in Slack from the store.
    Daemon,
    /// Print the run history, newest first.
    History(HistoryArgs),
    /// Print the next scheduled time, the last run, each rollup's newest final day and the alerts
    /// firing.
    Status(InfoArgs),
    /// Deliver the reports (from the store, without syncing) to every `[[deliver]]` destination.
    Deliver(DeliverArgs),
    /// Run read-only SQL over the store.
    Query(QueryArgs),
    /// Print a shell completion script.
    Completions {
        /// The shell.
        shell: Shell,
    },
    /// Print the man page (roff), generated from these definitions.
    #[command(hide = true)]
    Man,
}

/// `tally demo`.
#[derive(Debug, Clone, Args)]
pub struct DemoArgs {
    /// Directory to create.
    #[arg(long, default_value = "tally-demo")]
    pub dir: PathBuf,
}

/// `tally init`.
#[derive(Debug, Clone, Args)]
pub struct InitArgs {
    /// Directory to write into (created when missing); existing files are never overwritten.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
}

/// `--format` of a command that prints facts (`check`, `status`).
#[derive(Debug, Clone, Args)]
pub struct InfoArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: InfoFormat,
}

/// `tally check`.
#[derive(Debug, Clone, Args)]
pub struct CheckArgs {
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: InfoFormat,
    /// Fail (exit code 1) on warnings too: keys that work but probably give wrong numbers.
    #[arg(long)]
    pub strict: bool,
}

/// `tally plan`.
#[derive(Debug, Clone, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub date: DateArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: InfoFormat,
}

/// `tally sync`.
#[derive(Debug, Clone, Args)]
pub struct SyncArgs {
    #[command(flatten)]
    pub date: DateArg,
    /// First day of an explicit range (with --to), for every rollup.
    #[arg(
        long,
        value_name = "YYYY-MM-DD",
        value_parser = day,
        requires = "to",
        conflicts_with = "date"
    )]
    pub from: Option<NaiveDate>,
    /// Last day of an explicit range (with --from).
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = day, requires = "from")]
    pub to: Option<NaiveDate>,
    /// Pull the range again even where it is final.
    #[arg(long)]
    pub refresh: bool,
    /// Only this rollup (repeatable; default: every rollup the reports need).
    #[arg(long = "rollup", value_name = "NAME")]
    pub rollups: Vec<String>,
}

/// `tally report`.
#[derive(Debug, Clone, Args)]
pub struct ReportArgs {
    /// Report names.
    pub names: Vec<String>,
    #[command(flatten)]
    pub date: DateArg,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Do not sync first.
    #[arg(long)]
    pub no_sync: bool,
    /// Print the cells that changed since the last delivery of each report (by any
    /// destination), instead of the reports; deliver nothing.
    #[arg(long)]
    pub revisions: bool,
}

/// `tally user`'s output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum UserFormat {
    /// Lines and tables for people.
    Text,
    /// One JSON document.
    Json,
    /// Markdown.
    #[value(alias = "md")]
    Markdown,
}

/// `tally user`.
#[derive(Debug, Clone, Args)]
pub struct UserArgs {
    /// The user id, as the rollup's `user` expression stores it.
    pub id: String,
    #[command(flatten)]
    pub date: DateArg,
    /// The segment (default: the config's first).
    #[arg(long)]
    pub segment: Option<String>,
    /// Number of days, ending with the date.
    #[arg(long, default_value_t = 7)]
    pub days: u32,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: UserFormat,
}

/// `tally whatif`.
#[derive(Debug, Clone, Args)]
pub struct WhatifArgs {
    /// The segment whose policy is changed.
    pub segment: String,
    /// The rewards rollup.
    #[arg(long, value_name = "ROLLUP")]
    pub rewards: String,
    /// The measure of the rewards rollup that is summed.
    #[arg(long, value_name = "MEASURE")]
    pub amount: String,
    /// A change of the segment: `weights.VALUE=3`, `default_weight=0.5`, `window=14d`,
    /// `groups.NAME.min_score=20`, or `groups=[...]` (TOML) (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// A payout multiplier of a group's rewards, like `heavy=2` (repeatable; default 1).
    #[arg(long = "payout", value_name = "GROUP=X")]
    pub payout: Vec<String>,
    #[command(flatten)]
    pub date: DateArg,
    /// Number of report days, ending with the report date.
    #[arg(long, default_value_t = 8)]
    pub days: u32,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: ReportFormat,
    /// Write to this file instead of standard output.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Do not sync first.
    #[arg(long)]
    pub no_sync: bool,
}

/// `tally run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub date: DateArg,
    /// Deliver again what was already delivered for this day (only what is selected).
    #[arg(long)]
    pub force: bool,
    /// Wait for a run that holds the lock to finish, instead of failing.
    #[arg(long)]
    pub wait: bool,
    #[command(flatten)]
    pub select: Selection,
}

/// `tally history`.
#[derive(Debug, Clone, Args)]
pub struct HistoryArgs {
    /// How many runs.
    #[arg(long, default_value_t = 20)]
    pub limit: u32,
    /// Output format.
    #[arg(long, value_enum, default_value = "text")]
    pub format: InfoFormat,
}

/// `tally deliver`.
#[derive(Debug, Clone, Args)]
pub struct DeliverArgs {
    #[command(flatten)]
    pub date: DateArg,
    /// Deliver again what was already delivered for this day (only what is selected).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub select: Selection,
}

/// `tally query`.
#[derive(Debug, Clone, Args)]
pub struct QueryArgs {
    /// The SQL, or `-` to read it from standard input.
    #[arg(required_unless_present = "file", conflicts_with = "file")]
    pub sql: Option<String>,
    /// Read the SQL from this file.
    #[arg(long, short)]
    pub file: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}
