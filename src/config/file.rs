//! The top of `tally.toml` as written: plain serde structs, no checks beyond shape. Each stage's
//! table has its own struct beside its checks ([`crate::source::spec`], [`crate::rollup`],
//! [`crate::segment::spec`], [`crate::report::spec`], [`crate::report::alert::spec`],
//! [`super::schedule`], [`super::slack_app`], and each kind of [`crate::deliver`] destination).

use indexmap::IndexMap;
use serde::Deserialize;

use super::schedule::ScheduleConfig;
use super::slack_app::SlackAppConfig;
use crate::deliver::DeliverConfig;
use crate::report::alert::AlertConfig;
use crate::report::notes::AnnotationConfig;
use crate::report::render::CsvFormulas;
use crate::report::spec::ReportConfig;
use crate::rollup::RollupConfig;
use crate::segment::SegmentConfig;
use crate::source::SourceConfig;

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
    pub deliver: Vec<DeliverConfig>,
    /// The PNG chart.
    #[serde(default)]
    pub chart: ChartConfig,
    /// When `tally daemon` runs.
    pub schedule: Option<ScheduleConfig>,
    /// The Slack app that answers `/tally` commands (`tally daemon`).
    pub slack_app: Option<SlackAppConfig>,
    /// Alerts on reports' rows, by name.
    #[serde(default)]
    pub alerts: IndexMap<String, AlertConfig>,
    /// Notes on days of the reports (`[[annotations]]`).
    #[serde(default)]
    pub annotations: Vec<AnnotationConfig>,
}

/// `[chart]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChartConfig {
    /// A TrueType/OpenType font for the chart's labels (default: the built-in DejaVu Sans).
    pub font: Option<String>,
}

/// `[output]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Directory that `tally run` writes `<report>/<day>.csv` and `.md` into.
    #[serde(default = "default_output_dir")]
    pub dir: String,
    /// `escape` (a leading `'` on text cells a spreadsheet would run as formulas) or `keep`.
    #[serde(default)]
    pub csv_formulas: CsvFormulas,
}

impl Default for OutputConfig {
    fn default() -> Self {
        OutputConfig {
            dir: default_output_dir(),
            csv_formulas: Default::default(),
        }
    }
}

fn default_timezone() -> String {
    "UTC".into()
}

fn default_store() -> String {
    ".tally/store.sqlite".into()
}

fn default_output_dir() -> String {
    "reports".into()
}
