//! The configuration exactly as written in `tally.toml`: plain serde structs, no checks beyond
//! shape. [`super::check`] turns them into a checked [`super::Config`].

use indexmap::IndexMap;
use serde::Deserialize;

/// The whole `tally.toml` file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    /// IANA time zone for days, windows and schedules.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Path of the SQLite store, relative to the config file.
    #[serde(default = "default_store")]
    pub store: String,
    /// Databases to read from, by name.
    #[serde(default)]
    pub sources: IndexMap<String, SourceConfig>,
    /// Aggregates pulled from the sources into the store, by name.
    #[serde(default)]
    pub rollups: IndexMap<String, RollupConfig>,
    /// User segmentations computed over a rollup, by name.
    #[serde(default)]
    pub segments: IndexMap<String, SegmentConfig>,
    /// Reports, by name, in the order they are rendered.
    #[serde(default)]
    pub reports: IndexMap<String, ReportConfig>,
    /// Where `tally run` writes rendered reports.
    #[serde(default)]
    pub output: OutputConfig,
    /// Destinations that `tally run` and `tally deliver` send reports to.
    #[serde(default)]
    pub deliver: Vec<crate::deliver::DeliverConfig>,
    /// The PNG chart.
    #[serde(default)]
    pub chart: ChartConfig,
    /// When `tally daemon` runs.
    pub schedule: Option<ScheduleConfig>,
}

/// `[schedule]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleConfig {
    /// Cron pattern (5 fields, or 6 with seconds first) in the config's time zone.
    pub cron: String,
    /// Extra attempts after a failed run.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Wait before each extra attempt.
    #[serde(default = "default_retry_delay")]
    pub retry_delay: String,
    /// Destination (name, or `slack` / `webhook` for the first of that kind) that gets alerts.
    pub alert: Option<String>,
}

fn default_retries() -> u32 {
    2
}
fn default_retry_delay() -> String {
    "10m".into()
}

/// `[chart]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartConfig {
    /// A TrueType/OpenType font for the chart's labels (default: the built-in DejaVu Sans).
    pub font: Option<String>,
}

/// `[sources.NAME]`: one database.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Connection URL; `${VAR}` is replaced from the environment or the env file.
    pub url: String,
    /// How to read naive DATETIME/TIMESTAMP columns.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Time limit of one slice query.
    #[serde(default = "default_statement_timeout")]
    pub statement_timeout: String,
    /// Time limit of connecting (TCP, TLS, login, session setup).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: String,
    /// Pause between two slice queries to this source: `auto` or a duration.
    #[serde(default = "default_pause")]
    pub pause: String,
    /// Space slice queries out so that this source sends at most this many rows per second.
    pub max_rows_per_second: Option<u64>,
    /// Connections that run slice queries at the same time.
    #[serde(default = "default_parallel")]
    pub parallel: i64,
    /// Load thresholds, like `Threads_running=25` (MySQL) or `active=25` (PostgreSQL).
    pub max_load: Option<String>,
    /// How long slice queries wait for the load or the lag to come down.
    #[serde(default = "default_max_load_wait")]
    pub max_load_wait: String,
    /// Highest replica lag at which slice queries start (`0s`: no check).
    pub max_lag: Option<String>,
}

/// `[rollups.NAME]`: one aggregate query, pulled slice by slice.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollupConfig {
    /// Name of the source to query.
    pub source: String,
    /// Table, or `schema.table`.
    pub table: String,
    /// Timestamp column that slices are cut on.
    pub time: String,
    /// SQL expression that identifies the user.
    pub user: String,
    /// Grouping columns: name = SQL expression.
    #[serde(default)]
    pub dimensions: IndexMap<String, String>,
    /// Aggregates: name = `count(*)`, `count(x)`, `sum(x)`, `min(x)` or `max(x)`.
    pub measures: IndexMap<String, String>,
    /// Optional predicate pushed down to the source.
    pub filter: Option<String>,
    /// Slice length: `1d` or whole hours that divide 24.
    #[serde(default = "default_slice")]
    pub slice: String,
    /// Late-row window: slices ending this close to the newest pulled slice are pulled again.
    #[serde(default = "default_lookback")]
    pub lookback: String,
    /// How long rows are kept in the store.
    #[serde(default = "default_keep")]
    pub keep: String,
    /// Let `sync` run slice queries that read the whole table (no index on `time`).
    #[serde(default)]
    pub allow_full_scan: bool,
}

/// `[segments.NAME]`: a weighted score and the groups it assigns.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SegmentConfig {
    /// The rollup scored.
    pub rollup: String,
    /// The measure that is weighted.
    pub score: String,
    /// The dimension whose values carry weights.
    pub by: Option<String>,
    /// Trailing window in days.
    #[serde(default = "default_window")]
    pub window: String,
    /// Weight of each value of `by`.
    #[serde(default)]
    pub weights: IndexMap<String, toml::Value>,
    /// Weight of values not listed in `weights`.
    #[serde(default = "default_weight")]
    pub default_weight: toml::Value,
    /// Groups, highest threshold first.
    pub groups: Vec<GroupConfig>,
    /// Name of the group of users who were rewarded without any activity.
    #[serde(default = "default_inactive")]
    pub inactive: String,
}

/// One entry of `groups`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupConfig {
    /// Group name shown in reports.
    pub name: String,
    /// Lowest score that belongs to this group.
    pub min_score: toml::Value,
}

/// `[reports.NAME]`: the built-in segment-rewards report or custom SQL.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// `segment_rewards` or `sql` (the default when `sql` is set).
    pub kind: Option<String>,
    /// Title shown above the report.
    pub title: Option<String>,
    /// Number of report days, ending with the report date.
    #[serde(default = "default_days")]
    pub days: u32,
    /// segment_rewards: the segment.
    pub segment: Option<String>,
    /// segment_rewards: the rollup of rewards.
    pub rewards: Option<String>,
    /// segment_rewards: the measure of `rewards` that is summed.
    pub amount: Option<String>,
    /// sql: the query, with `:start` and `:end`.
    pub sql: Option<String>,
}

/// `[output]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Directory that `tally run` writes `<report>/<day>.csv` and `.md` into.
    #[serde(default = "default_output_dir")]
    pub dir: String,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            dir: default_output_dir(),
        }
    }
}

fn default_timezone() -> String {
    "UTC".into()
}
fn default_store() -> String {
    ".tally/store.sqlite".into()
}
fn default_statement_timeout() -> String {
    "60s".into()
}
fn default_parallel() -> i64 {
    1
}

fn default_pause() -> String {
    "auto".into()
}
fn default_connect_timeout() -> String {
    "10s".into()
}
fn default_max_load_wait() -> String {
    "10m".into()
}
fn default_slice() -> String {
    "1d".into()
}
fn default_lookback() -> String {
    "2d".into()
}
fn default_keep() -> String {
    "90d".into()
}
fn default_window() -> String {
    "7d".into()
}
fn default_weight() -> toml::Value {
    toml::Value::Integer(1)
}
fn default_inactive() -> String {
    "inactive".into()
}
fn default_days() -> u32 {
    7
}
fn default_output_dir() -> String {
    "reports".into()
}
