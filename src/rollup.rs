//! What to pull: `[rollups.NAME]` as written ([`RollupConfig`]), checked ([`Rollup`]), and the
//! checks between them. A rollup's SQL fragments are read by its source's rules
//! ([`crate::check::sql`]). Sources build its slice query, the store keeps its rows, the sync
//! pulls it and segments score it.

use std::collections::HashSet;
use std::time::Duration;

use crate::check::Checker;
pub use crate::check::sql::Agg;
use crate::check::sql::Fragments;
use chrono_tz::Tz;
use indexmap::IndexMap;
use serde::Deserialize;

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

fn default_slice() -> String {
    "1d".into()
}

fn default_lookback() -> String {
    "2d".into()
}

fn default_keep() -> String {
    "90d".into()
}

/// The longest `keep`: 100 years ("forever" for a store of daily rollups).
pub const MAX_KEEP_DAYS: u32 = 36_500;

/// The longest `lookback`.
pub const MAX_LOOKBACK_DAYS: u32 = 3_650;

/// A named measure of a rollup.
#[derive(Debug, Clone)]
pub struct Measure {
    /// Column name in the store.
    pub name: String,
    /// Aggregate function.
    pub agg: Agg,
    /// Argument expression (`*` for `count(*)`).
    pub arg: String,
}

/// A named grouping column of a rollup.
#[derive(Debug, Clone)]
pub struct Dimension {
    /// Column name in the store.
    pub name: String,
    /// SQL expression evaluated by the source.
    pub expr: String,
}

/// A checked `[rollups.NAME]`.
#[derive(Debug, Clone)]
pub struct Rollup {
    /// Rollup name, also its table name in the store.
    pub name: String,
    /// Source name.
    pub source: String,
    /// Table name parts (`schema`, `table`).
    pub table: Vec<String>,
    /// Time column.
    pub time: String,
    /// User expression.
    pub user: String,
    /// Grouping columns in config order.
    pub dimensions: Vec<Dimension>,
    /// Measures in config order.
    pub measures: Vec<Measure>,
    /// Predicate pushed to the source.
    pub filter: Option<String>,
    /// Slice length in hours (24 for daily slices).
    pub slice_hours: u32,
    /// Late-row window.
    pub lookback: Duration,
    /// Days of rows kept in the store.
    pub keep_days: u32,
    /// Zone of the days (the config's `timezone`).
    pub day_zone: Tz,
    /// Zone of the source's naive timestamps.
    pub source_zone: Tz,
    /// Sync may run slice queries that read the whole table.
    pub allow_full_scan: bool,
}

impl Rollup {
    /// A fingerprint of everything that shapes the stored rows: when it changes, the stored rows
    /// no longer mean the same thing and the rollup is pulled again.
    pub fn fingerprint(&self) -> String {
        let dims: Vec<String> = self
            .dimensions
            .iter()
            .map(|d| format!("{}={}", d.name, d.expr))
            .collect();
        let measures: Vec<String> = self
            .measures
            .iter()
            .map(|m| format!("{}={:?}({})", m.name, m.agg, m.arg))
            .collect();
        format!(
            "source={};table={};time={};user={};dims=[{}];measures=[{}];filter={};slice={}h;zones={},{}",
            self.source,
            self.table.join("."),
            self.time,
            self.user,
            dims.join(","),
            measures.join(","),
            self.filter.as_deref().unwrap_or(""),
            self.slice_hours,
            self.day_zone,
            self.source_zone
        )
    }

    /// What column `i` of the slice query is, for messages: the user, a dimension or a measure.
    pub fn column(&self, i: usize) -> String {
        let dims = self.dimensions.len();
        match i {
            0 => "the user".to_string(),
            i if i <= dims => format!("dimension `{}`", self.dimensions[i - 1].name),
            i => match self.measures.get(i - 1 - dims) {
                Some(m) => format!("measure `{}`", m.name),
                None => format!("column {}", i + 1),
            },
        }
    }

    /// Looks up a measure by name.
    pub fn measure(&self, name: &str) -> Option<&Measure> {
        self.measures.iter().find(|m| m.name == name)
    }
}

/// Checks one rollup. `sources` are the names of the sources; `rules` are its source's (how
/// its SQL is read, and what it may call).
pub fn check(
    c: &mut Checker,
    name: &str,
    r: &RollupConfig,
    sources: &[&str],
    rules: &Fragments,
) -> Rollup {
    let key = format!("rollups.{name}");
    c.name(&key, name);
    if !sources.contains(&r.source.as_str()) {
        c.issue(
            format!("{key}.source"),
            format!(
                "unknown source `{}` (sources: {})",
                r.source,
                sources.join(", ")
            ),
        );
    }
    let table: Vec<String> = r.table.split('.').map(|p| p.trim().to_string()).collect();
    if table.len() > 2 || table.iter().any(String::is_empty) {
        c.issue(
            format!("{key}.table"),
            format!("`{}` must be `table` or `schema.table`", r.table),
        );
    }
    if r.time.trim().is_empty() || r.time.contains(['"', '`']) {
        c.issue(format!("{key}.time"), "must be a column name");
    }
    let (dimensions, measures) = columns(c, &key, r, rules);
    let user = c.expression(&format!("{key}.user"), &r.user, rules);
    let filter = r
        .filter
        .as_ref()
        .filter(|f| !f.trim().is_empty())
        .map(|f| c.expression(&format!("{key}.filter"), f, rules));
    Rollup {
        name: name.to_string(),
        source: r.source.clone(),
        table,
        time: r.time.trim().to_string(),
        user,
        dimensions,
        measures,
        filter,
        slice_hours: slice_hours(c, &key, &r.slice),
        lookback: c.duration_in(
            &format!("{key}.lookback"),
            &r.lookback,
            Duration::ZERO,
            Duration::from_secs(u64::from(MAX_LOOKBACK_DAYS) * 86_400),
        ),
        keep_days: c.whole_days(&format!("{key}.keep"), &r.keep, MAX_KEEP_DAYS),
        day_zone: Tz::UTC,
        source_zone: Tz::UTC,
        allow_full_scan: r.allow_full_scan,
    }
}

/// The dimensions and measures, whose names are the store table's columns: distinct (ignoring
/// case), and none of them `day` or `user`.
fn columns(
    c: &mut Checker,
    key: &str,
    r: &RollupConfig,
    rules: &Fragments,
) -> (Vec<Dimension>, Vec<Measure>) {
    let mut seen = HashSet::from(["day".to_string(), "user".to_string()]);
    let mut column = |c: &mut Checker, k: String, n: &str| {
        c.name(&k, n);
        if !seen.insert(n.to_ascii_lowercase()) {
            c.issue(k, format!("`{n}` is used twice or is reserved (day, user)"));
        }
    };
    let dimensions = r
        .dimensions
        .iter()
        .map(|(n, expr)| {
            column(c, format!("{key}.dimensions.{n}"), n);
            Dimension {
                name: n.clone(),
                expr: c.expression(&format!("{key}.dimensions.{n}"), expr, rules),
            }
        })
        .collect();
    if r.measures.is_empty() {
        c.issue(
            format!("{key}.measures"),
            "at least one measure is needed, like { actions = \"count(*)\" }",
        );
    }
    let measures = r
        .measures
        .iter()
        .map(|(n, expr)| {
            let k = format!("{key}.measures.{n}");
            column(c, k.clone(), n);
            measure(c, &k, n, expr, rules)
        })
        .collect();
    (dimensions, measures)
}

/// `slice`: `1d`, or whole hours that divide 24.
fn slice_hours(c: &mut Checker, key: &str, text: &str) -> u32 {
    let slice = c.duration(&format!("{key}.slice"), text).as_secs();
    if slice > 0 && slice.is_multiple_of(3600) && 24u64.is_multiple_of(slice / 3600) {
        return (slice / 3600) as u32;
    }
    c.issue(
        format!("{key}.slice"),
        format!("`{text}` must be \"1d\" or whole hours that divide 24 (\"12h\", \"6h\", \"1h\")"),
    );
    24
}

fn measure(c: &mut Checker, key: &str, name: &str, expr: &str, rules: &Fragments) -> Measure {
    let (agg, arg) = crate::check::sql::measure(expr, rules).unwrap_or_else(|problem| {
        c.issue(key, format!("`{expr}`: {problem}"));
        (Agg::Count, "*".into())
    });
    Measure {
        name: name.to_string(),
        agg,
        arg,
    }
}
