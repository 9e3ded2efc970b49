//! Turns the raw config into a [`Plan`], collecting every problem (with its key) before failing.

use std::collections::HashSet;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use bigdecimal::{BigDecimal, Zero};
use chrono_tz::Tz;
use indexmap::IndexMap;
use sqlparser::dialect::{Dialect, GenericDialect};

use super::Issue;
use super::env::Env;
use super::plan::*;
use super::raw::{self, File};
use crate::deliver::Destination;
use crate::value::{MAX_DIGITS, parse_decimal};

/// Collects issues while the config is checked: every check of every stage reports through it, each
/// problem with its dotted key.
pub struct Checker<'a> {
    pub(super) issues: Vec<Issue>,
    pub(super) env: &'a Env,
    /// The config file: relative paths are relative to its folder.
    pub config_path: &'a Path,
}

impl Checker<'_> {
    /// Records a problem with `key`.
    pub fn issue(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.issues.push(Issue {
            key: key.into(),
            message: message.into(),
        });
    }

    pub(super) fn tz(&mut self, key: &str, value: &str) -> Tz {
        value.parse().unwrap_or_else(|_| {
            self.issue(
                key,
                format!("unknown time zone `{value}` (use an IANA name such as \"Asia/Seoul\" or \"UTC\")"),
            );
            Tz::UTC
        })
    }

    pub(super) fn duration(&mut self, key: &str, value: &str) -> Duration {
        humantime::parse_duration(value).unwrap_or_else(|e| {
            self.issue(
                key,
                format!(
                    "bad duration `{value}`: {e} (examples: \"100ms\", \"60s\", \"6h\", \"2d\")"
                ),
            );
            Duration::ZERO
        })
    }

    /// A duration within `[min, max]`; outside, an issue that names the range.
    pub fn duration_in(
        &mut self,
        key: &str,
        value: &str,
        min: Duration,
        max: Duration,
    ) -> Duration {
        let before = self.issues.len();
        let d = self.duration(key, value);
        if self.issues.len() == before && (d < min || d > max) {
            self.issue(
                key,
                format!(
                    "`{value}` is out of range: use {} to {}",
                    humantime::format_duration(min),
                    humantime::format_duration(max)
                ),
            );
            return min;
        }
        d
    }

    /// A whole number of days, 1 to `max`.
    fn whole_days(&mut self, key: &str, value: &str, max: u32) -> u32 {
        let before = self.issues.len();
        let d = self.duration(key, value);
        if self.issues.len() > before {
            return 1;
        }
        let secs = d.as_secs();
        if secs == 0 || !secs.is_multiple_of(86_400) || d.subsec_nanos() != 0 {
            self.issue(
                key,
                format!("`{value}` must be a whole number of days, at least 1 (like \"7d\")"),
            );
            return 1;
        }
        match u32::try_from(secs / 86_400) {
            Ok(days) if days <= max => days,
            _ => {
                self.issue(key, format!("`{value}` is out of range: use 1d to {max}d"));
                1
            }
        }
    }

    /// A count within `[min, max]`.
    pub fn count<T: Copy + PartialOrd + std::fmt::Display>(
        &mut self,
        key: &str,
        n: T,
        min: T,
        max: T,
    ) -> T {
        if n < min || n > max {
            self.issue(key, format!("{n} is out of range: use {min} to {max}"));
            return min;
        }
        n
    }

    /// `text` with `${VAR}` replaced; a variable that is not set (or still a placeholder) is an
    /// issue, and the text is then empty.
    pub fn interpolate(&mut self, key: &str, text: &str) -> String {
        self.env.interpolate(text).unwrap_or_else(|e| {
            self.issue(key, e);
            String::new()
        })
    }

    /// An `http://` or `https://` URL (a Slack API base or a webhook).
    pub fn http_url(&mut self, key: &str, text: &str) {
        match url::Url::parse(text) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
            Ok(u) => self.issue(
                key,
                format!(
                    "`{}:` URLs are not delivered to: use an https:// URL",
                    u.scheme()
                ),
            ),
            Err(e) => self.issue(key, format!("not a URL: {e} (use an https:// URL)")),
        }
    }

    fn decimal(&mut self, key: &str, value: &toml::Value) -> BigDecimal {
        let parsed = match value {
            toml::Value::Integer(i) => Some(BigDecimal::from(*i)),
            // Display of an f64 is its shortest round-trip form: 0.1 stays 0.1.
            toml::Value::Float(f) if f.is_finite() => parse_decimal(&f.to_string()),
            toml::Value::String(s) => parse_decimal(s),
            _ => None,
        };
        parsed.unwrap_or_else(|| {
            self.issue(
                key,
                format!(
                    "expected a number (at most {MAX_DIGITS} digits written out), found `{value}`"
                ),
            );
            BigDecimal::zero()
        })
    }

    /// Checks an SQL expression that tally puts into its slice query (user, dimensions,
    /// filter) in the source's dialect, and returns it as it will be sent.
    fn expression(&mut self, key: &str, sql: &str, dialect: &dyn Dialect) -> String {
        super::sql::expression(sql, dialect).unwrap_or_else(|problem| {
            self.issue(key, format!("`{sql}` {problem}"));
            sql.to_string()
        })
    }

    /// A weight: a number, 0 or more. A negative weight could push a score below every group,
    /// leaving an active user in no group and outside `inactive`.
    fn weight(&mut self, key: &str, value: &toml::Value) -> BigDecimal {
        let w = self.decimal(key, value);
        if w < BigDecimal::zero() {
            self.issue(key, format!("weights must be 0 or more (found {w})"));
        }
        w
    }

    fn name(&mut self, key: &str, name: &str) {
        let ok = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !ok {
            self.issue(
                key,
                format!("`{name}` is not a valid name: use letters, digits and _ (not first)"),
            );
        } else if name.to_ascii_lowercase().starts_with("_tally") {
            self.issue(
                key,
                format!("`{name}`: names starting with _tally are reserved"),
            );
        }
    }
}

/// Checks the file and builds the checked [`Config`].
pub fn check(config: File, config_path: &Path, env: &Env) -> Result<Config, Vec<Issue>> {
    let mut c = Checker {
        issues: Vec::new(),
        env,
        config_path,
    };
    let timezone = c.tz("timezone", &config.timezone);
    let sources: IndexMap<String, SourceSpec> = config
        .sources
        .iter()
        .map(|(name, s)| (name.clone(), super::source::source(&mut c, name, s)))
        .collect();
    let rollups: IndexMap<String, Rollup> = config
        .rollups
        .iter()
        .map(|(name, r)| {
            // With an unknown source, the expressions are read as standard SQL.
            let dialect: Box<dyn Dialect> = sources.get(&r.source).map_or_else(
                || Box::new(GenericDialect {}) as Box<dyn Dialect>,
                |s| s.driver.dialect(),
            );
            let mut rollup = rollup(&mut c, name, r, &config, dialect.as_ref());
            rollup.day_zone = timezone;
            rollup.source_zone = sources.get(&r.source).map_or(Tz::UTC, |s| s.timezone);
            (name.clone(), rollup)
        })
        .collect();
    let segments: IndexMap<String, Segment> = config
        .segments
        .iter()
        .map(|(name, s)| (name.clone(), segment(&mut c, name, s, &rollups)))
        .collect();
    for name in rollups.keys() {
        let view = format!("{name}_bi");
        if rollups.contains_key(&view) || segments.contains_key(&view) {
            c.issue(
                format!("rollups.{view}"),
                format!("`{view}` is the name of rollup `{name}`'s view for BI tools; choose another name"),
            );
        }
    }
    for name in segments.keys() {
        if rollups.contains_key(name) {
            c.issue(
                format!("segments.{name}"),
                format!("`{name}` is also a rollup name; rollups and segments share the store's table names"),
            );
        }
    }
    let reports: IndexMap<String, ReportSpec> = config
        .reports
        .iter()
        .map(|(name, r)| (name.clone(), report(&mut c, name, r, &rollups, &segments)))
        .collect();
    let report_names: Vec<&str> = reports.keys().map(String::as_str).collect();
    let destinations: Vec<Destination> = config
        .deliver
        .iter()
        .enumerate()
        .map(|(i, d)| d.check(&mut c, i, &report_names))
        .collect();
    let schedule = config
        .schedule
        .as_ref()
        .map(|s| schedule(&mut c, s, &destinations));
    let chart_font = config
        .chart
        .font
        .as_ref()
        .map(|f| relative_to(config_path, f));
    if let Some(font) = chart_font.as_ref().filter(|f| !f.is_file()) {
        c.issue(
            "chart.font",
            format!("font file {} does not exist", font.display()),
        );
    }
    if config.store.trim().is_empty() {
        c.issue(
            "store",
            "is empty: name the SQLite file, like \".tally/store.sqlite\"",
        );
    }
    if !c.issues.is_empty() {
        return Err(c.issues);
    }
    Ok(Config {
        config_path: config_path.to_path_buf(),
        timezone,
        store: relative_to(config_path, &config.store),
        sources,
        rollups,
        segments,
        reports,
        output_dir: relative_to(config_path, &config.output.dir),
        destinations,
        chart_font,
        schedule,
    })
}

fn rollup(
    c: &mut Checker,
    name: &str,
    r: &raw::RollupConfig,
    config: &File,
    dialect: &dyn Dialect,
) -> Rollup {
    let key = format!("rollups.{name}");
    c.name(&key, name);
    if !config.sources.contains_key(&r.source) {
        let known: Vec<&str> = config.sources.keys().map(String::as_str).collect();
        c.issue(
            format!("{key}.source"),
            format!(
                "unknown source `{}` (sources: {})",
                r.source,
                known.join(", ")
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
                expr: c.expression(&format!("{key}.dimensions.{n}"), expr, dialect),
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
            measure(c, &k, n, expr, dialect)
        })
        .collect();
    let slice = c.duration(&format!("{key}.slice"), &r.slice).as_secs();
    let slice_hours =
        if slice > 0 && slice.is_multiple_of(3600) && 24u64.is_multiple_of(slice / 3600) {
            (slice / 3600) as u32
        } else {
            c.issue(
                format!("{key}.slice"),
                format!(
                    "`{}` must be \"1d\" or whole hours that divide 24 (\"12h\", \"6h\", \"1h\")",
                    r.slice
                ),
            );
            24
        };
    let user = c.expression(&format!("{key}.user"), &r.user, dialect);
    let filter = r
        .filter
        .as_ref()
        .filter(|f| !f.trim().is_empty())
        .map(|f| c.expression(&format!("{key}.filter"), f, dialect));
    Rollup {
        name: name.to_string(),
        source: r.source.clone(),
        table,
        time: r.time.trim().to_string(),
        user,
        dimensions,
        measures,
        filter,
        slice_hours,
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

fn measure(c: &mut Checker, key: &str, name: &str, expr: &str, dialect: &dyn Dialect) -> Measure {
    let (agg, arg) = super::sql::measure(expr, dialect).unwrap_or_else(|problem| {
        c.issue(key, format!("`{expr}`: {problem}"));
        (Agg::Count, "*".into())
    });
    Measure {
        name: name.to_string(),
        agg,
        arg,
    }
}

fn segment(
    c: &mut Checker,
    name: &str,
    s: &raw::SegmentConfig,
    rollups: &IndexMap<String, Rollup>,
) -> Segment {
    let key = format!("segments.{name}");
    c.name(&key, name);
    match rollups.get(&s.rollup) {
        None => c.issue(
            format!("{key}.rollup"),
            format!(
                "unknown rollup `{}` (rollups: {})",
                s.rollup,
                names(rollups)
            ),
        ),
        Some(r) => {
            if r.measure(&s.score).is_none() {
                c.issue(
                    format!("{key}.score"),
                    format!("rollup `{}` has no measure `{}`", r.name, s.score),
                );
            }
            if let Some(by) =
                s.by.as_ref()
                    .filter(|by| !r.dimensions.iter().any(|d| &d.name == *by))
            {
                c.issue(
                    format!("{key}.by"),
                    format!("rollup `{}` has no dimension `{by}`", r.name),
                );
            }
        }
    }
    if s.by.is_none() && !s.weights.is_empty() {
        c.issue(
            format!("{key}.weights"),
            "weights need `by` (the dimension they apply to)",
        );
    }
    let weights = s
        .weights
        .iter()
        .map(|(k, v)| (k.clone(), c.weight(&format!("{key}.weights.{k}"), v)))
        .collect();
    let groups: Vec<Group> = s
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| Group {
            name: g.name.clone(),
            min_score: c.decimal(&format!("{key}.groups[{i}].min_score"), &g.min_score),
        })
        .collect();
    check_groups(c, &key, &groups, &s.inactive);
    Segment {
        name: name.to_string(),
        rollup: s.rollup.clone(),
        score: s.score.clone(),
        by: s.by.clone(),
        window_days: c.whole_days(&format!("{key}.window"), &s.window, MAX_WINDOW_DAYS),
        weights,
        default_weight: c.weight(&format!("{key}.default_weight"), &s.default_weight),
        groups,
        inactive: s.inactive.clone(),
    }
}

fn check_groups(c: &mut Checker, key: &str, groups: &[Group], inactive: &str) {
    if groups.is_empty() {
        c.issue(format!("{key}.groups"), "at least one group is needed");
        return;
    }
    let mut names = HashSet::from([inactive]);
    for (i, pair) in groups.windows(2).enumerate() {
        if pair[1].min_score >= pair[0].min_score {
            c.issue(
                format!("{key}.groups[{}].min_score", i + 1),
                format!(
                    "min_score must be strictly descending: `{}` ({}) is not below `{}` ({})",
                    pair[1].name, pair[1].min_score, pair[0].name, pair[0].min_score
                ),
            );
        }
    }
    let last = groups.last().expect("groups is not empty");
    if last.min_score > BigDecimal::zero() {
        c.issue(
            format!("{key}.groups[{}].min_score", groups.len() - 1),
            format!(
                "the last group's min_score must be 0 or less so that every active user gets a group (found {})",
                last.min_score
            ),
        );
    }
    for (i, g) in groups.iter().enumerate() {
        if g.name.trim().is_empty() || !names.insert(g.name.as_str()) {
            c.issue(
                format!("{key}.groups[{i}].name"),
                format!(
                    "group name `{}` is empty or used twice (the inactive group is `{inactive}`)",
                    g.name
                ),
            );
        }
    }
}

fn report(
    c: &mut Checker,
    name: &str,
    r: &raw::ReportConfig,
    rollups: &IndexMap<String, Rollup>,
    segments: &IndexMap<String, Segment>,
) -> ReportSpec {
    let key = format!("reports.{name}");
    c.name(&key, name);
    let days = c.count(&format!("{key}.days"), r.days, 1, MAX_REPORT_DAYS);
    let kind_name = r.kind.clone().unwrap_or_else(|| {
        if r.sql.is_some() {
            "sql"
        } else {
            "segment_rewards"
        }
        .into()
    });
    let kind = match kind_name.as_str() {
        "segment_rewards" => segment_rewards(c, &key, r, rollups, segments),
        "sql" => {
            let sql = r.sql.clone().unwrap_or_else(|| {
                c.issue(format!("{key}.sql"), "a sql report needs `sql`");
                String::new()
            });
            for field in [
                ("segment", &r.segment),
                ("rewards", &r.rewards),
                ("amount", &r.amount),
            ] {
                if field.1.is_some() {
                    c.issue(
                        format!("{key}.{}", field.0),
                        "only for kind = \"segment_rewards\"",
                    );
                }
            }
            ReportKind::Sql {
                rollups: mentioned(&sql, rollups.keys()),
                segments: mentioned(&sql, segments.keys()),
                sql,
            }
        }
        other => {
            c.issue(
                format!("{key}.kind"),
                format!("unknown kind `{other}` (use \"segment_rewards\" or \"sql\")"),
            );
            ReportKind::Sql {
                sql: String::new(),
                rollups: vec![],
                segments: vec![],
            }
        }
    };
    ReportSpec {
        name: name.to_string(),
        title: r.title.clone().unwrap_or_else(|| name.replace('_', " ")),
        days,
        kind,
    }
}

fn segment_rewards(
    c: &mut Checker,
    key: &str,
    r: &raw::ReportConfig,
    rollups: &IndexMap<String, Rollup>,
    segments: &IndexMap<String, Segment>,
) -> ReportKind {
    if r.sql.is_some() {
        c.issue(
            format!("{key}.sql"),
            "not allowed with kind = \"segment_rewards\"",
        );
    }
    let mut required = |field: &str, value: &Option<String>| {
        value.clone().unwrap_or_else(|| {
            c.issue(
                format!("{key}.{field}"),
                "required for kind = \"segment_rewards\"",
            );
            String::new()
        })
    };
    let segment = required("segment", &r.segment);
    let rewards = required("rewards", &r.rewards);
    let amount = required("amount", &r.amount);
    if !segment.is_empty() && !segments.contains_key(&segment) {
        c.issue(
            format!("{key}.segment"),
            format!(
                "unknown segment `{segment}` (segments: {})",
                names(segments)
            ),
        );
    }
    match rollups.get(&rewards) {
        None if !rewards.is_empty() => c.issue(
            format!("{key}.rewards"),
            format!("unknown rollup `{rewards}` (rollups: {})", names(rollups)),
        ),
        Some(rollup) if !amount.is_empty() && rollup.measure(&amount).is_none() => c.issue(
            format!("{key}.amount"),
            format!("rollup `{rewards}` has no measure `{amount}`"),
        ),
        _ => {}
    }
    ReportKind::SegmentRewards {
        segment,
        rewards,
        amount,
    }
}

/// Checks `[schedule]`.
fn schedule(
    c: &mut Checker,
    s: &raw::ScheduleConfig,
    destinations: &[Destination],
) -> ScheduleSpec {
    if let Err(e) = croner::Cron::from_str(&s.cron) {
        c.issue(
            "schedule.cron",
            format!(
                "`{}`: {e} (use 5 fields like \"0 9 * * *\", or 6 with seconds first)",
                s.cron
            ),
        );
    }
    let alert = s.alert.as_ref().and_then(|name| {
        let found = destinations
            .iter()
            .find(|d| &d.name == name)
            .or_else(|| destinations.iter().find(|d| d.kind_name() == name));
        match found {
            Some(d) if !d.target.alerts() => {
                c.issue(
                    "schedule.alert",
                    format!("`{name}` writes files; alerts go to a slack or webhook destination"),
                );
                None
            }
            Some(d) => Some(d.name.clone()),
            None => {
                c.issue(
                    "schedule.alert",
                    format!("no [[deliver]] destination named `{name}` (or of that kind)"),
                );
                None
            }
        }
    });
    ScheduleSpec {
        cron: s.cron.clone(),
        retries: c.count("schedule.retries", s.retries, 0, 100),
        retry_delay: c.duration_in(
            "schedule.retry_delay",
            &s.retry_delay,
            Duration::from_secs(1),
            Duration::from_secs(24 * 3600),
        ),
        alert,
    }
}

/// The names that occur in `sql` as whole words.
fn mentioned<'a>(sql: &str, names: impl Iterator<Item = &'a String>) -> Vec<String> {
    let words: HashSet<String> = sql
        .split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
        .map(str::to_ascii_lowercase)
        .collect();
    names
        .filter(|n| words.contains(&n.to_ascii_lowercase()))
        .cloned()
        .collect()
}

fn names<V>(map: &IndexMap<String, V>) -> String {
    let v: Vec<&str> = map.keys().map(String::as_str).collect();
    if v.is_empty() {
        "none defined".into()
    } else {
        v.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(text: &str) -> Result<Config, Vec<Issue>> {
        let config: File = toml::from_str(text).unwrap();
        check(config, Path::new("/tmp/tally.toml"), &Env::default())
    }

    const BASE: &str = r#"
        [sources.chain]
        url = "postgres://u:s3cret@localhost/db"
        [rollups.activity]
        source = "chain"
        table = "public.actions"
        time = "t"
        user = "lower(signer)"
        dimensions = { action = "type_id" }
        measures = { actions = "count(*)" }
        [segments.engagement]
        rollup = "activity"
        score = "actions"
        by = "action"
        weights = { a = 0.5, b = 2 }
        groups = [ { name = "heavy", min_score = 15 }, { name = "light", min_score = 0 } ]
    "#;

    #[test]
    fn a_good_config_becomes_a_plan() {
        let p = config(BASE).unwrap();
        assert_eq!(p.rollups["activity"].table, vec!["public", "actions"]);
        assert_eq!(
            p.sources["chain"].display_url,
            "postgres://u:***@localhost/db"
        );
        assert_eq!(
            p.sources["chain"].url.expose(),
            "postgres://u:s3cret@localhost/db"
        );
        assert_eq!(crate::config::secret::mask("pw s3cret"), "pw ***");
        assert_eq!(p.segments["engagement"].weights["a"].to_string(), "0.5");
        assert_eq!(p.segments["engagement"].window_days, 7);
    }

    #[test]
    fn all_problems_are_reported_with_their_keys() {
        let text = BASE
            .replace(
                "lower(signer)\"",
                "lower(signer)\"\nslice = \"5h\"\nkeep = \"1x\"",
            )
            .replace("min_score = 0", "min_score = 20");
        let issues = config(&text).unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert!(keys.contains(&"rollups.activity.slice"), "{keys:?}");
        assert!(keys.contains(&"rollups.activity.keep"), "{keys:?}");
        assert!(
            keys.contains(&"segments.engagement.groups[1].min_score"),
            "{keys:?}"
        );
    }

    #[test]
    fn measures_are_parsed() {
        let text = BASE.replace(
            "actions = \"count(*)\"",
            "actions = \"count(*)\", total = \"SUM(amount)\", bad = \"avg(x)\"",
        );
        let issues = config(&text).unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].key, "rollups.activity.measures.bad");
    }

    #[test]
    fn config_order_is_kept() {
        let text = BASE
            .replace(
                "measures = { actions = \"count(*)\" }",
                "measures = { z = \"count(*)\", a = \"max(t)\" }",
            )
            .replace("score = \"actions\"", "score = \"z\"")
            + "[reports.zeta]\nsql = \"SELECT 1\"\n[reports.alpha]\nsql = \"SELECT 2\"\n";
        let p = config(&text).unwrap();
        assert_eq!(p.reports.keys().collect::<Vec<_>>(), ["zeta", "alpha"]);
        let names: Vec<&str> = p.rollups["activity"]
            .measures
            .iter()
            .map(|m| m.name.as_str())
            .collect();
        assert_eq!(names, ["z", "a"]);
    }

    #[test]
    fn negative_weights_are_refused() {
        let issues = config(&BASE.replace("a = 0.5", "a = -1")).unwrap_err();
        assert_eq!(issues[0].key, "segments.engagement.weights.a");
    }

    #[test]
    fn pasted_sql_must_stay_one_expression() {
        let text = BASE.replace("lower(signer)", "lower(signer))");
        let issues = config(&text).unwrap_err();
        assert_eq!(issues[0].key, "rollups.activity.user");
    }

    #[test]
    fn tls_parameters_are_taken_out_and_the_rest_kept_byte_for_byte() {
        let text = BASE.replace(
            "postgres://u:s3cret@localhost/db",
            "postgres://u:s3cret@localhost/db?options=-c%20search_path%3Dapp&sslmode=require&application_name=a+b",
        );
        let p = config(&text).unwrap();
        let source = &p.sources["chain"];
        assert_eq!(
            source.url.expose(),
            "postgres://u:s3cret@localhost/db?options=-c%20search_path%3Dapp&application_name=a+b"
        );
        assert_eq!(source.tls.mode, TlsMode::Require);
        let none = config(BASE).unwrap();
        assert_eq!(
            none.sources["chain"].url.expose(),
            "postgres://u:s3cret@localhost/db"
        );
        assert_eq!(none.sources["chain"].tls.mode, TlsMode::Prefer);
    }

    #[test]
    fn a_ca_file_without_a_mode_verifies_and_with_prefer_is_refused() {
        let ca = std::env::temp_dir().join(format!("tally-unit-ca-{}.pem", std::process::id()));
        std::fs::write(&ca, "x").unwrap();
        let with = |query: &str| {
            BASE.replace(
                "postgres://u:s3cret@localhost/db",
                &format!("postgres://u@localhost/db?{query}"),
            )
        };
        let p = config(&with(&format!("sslrootcert={}", ca.display()))).unwrap();
        assert_eq!(p.sources["chain"].tls.mode, TlsMode::VerifyCa);
        let issues = config(&with(&format!(
            "sslmode=prefer&sslrootcert={}",
            ca.display()
        )))
        .unwrap_err();
        assert!(issues[0].message.contains("does not verify"), "{issues:?}");
        let my = BASE.replace(
            "postgres://u:s3cret@localhost/db",
            &format!("mysql://u@localhost/db?ssl-ca={}", ca.display()),
        );
        assert_eq!(
            config(&my).unwrap().sources["chain"].tls.mode,
            TlsMode::VerifyCa
        );
        std::fs::remove_file(ca).unwrap();
    }

    #[test]
    fn sql_reports_find_the_tables_they_use() {
        assert_eq!(
            mentioned(
                "SELECT * FROM activity JOIN engagement_x",
                ["activity".to_string(), "engagement".to_string()].iter()
            ),
            vec!["activity".to_string()]
        );
    }
}
