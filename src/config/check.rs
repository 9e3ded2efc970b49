//! The whole config checked: each part by its own stage's checks, then what ties them together
//! by name (names shared by rollups, segments and views; each alert's report and destinations;
//! the schedule's notice destination).

use std::path::Path;

use chrono_tz::Tz;
use indexmap::IndexMap;
use sqlparser::dialect::{Dialect, GenericDialect};

use super::file::File;
use super::{Config, schedule, slack_app};
use crate::check::env::Env;
use crate::check::sql::Fragments;
use crate::check::{Checker, Issue, Recipient};
use crate::deliver::Destination;
use crate::report::alert::{self, Alert};
use crate::report::render::Style;
use crate::report::{self, ReportSpec};
use crate::rollup::{self, Rollup};
use crate::segment::{self, Segment};
use crate::source::{self, SourceSpec};

/// Checks the file and builds the checked [`Config`].
pub fn check(file: File, config_path: &Path, env: &Env) -> Result<Config, Vec<Issue>> {
    let mut c = Checker::new(env, config_path);
    let timezone = c.tz("timezone", &file.timezone);
    let sources: IndexMap<String, SourceSpec> = file
        .sources
        .iter()
        .map(|(name, s)| (name.clone(), source::spec::check(&mut c, name, s)))
        .collect();
    let rollups = rollups(&mut c, &file, &sources, timezone);
    let segments: IndexMap<String, Segment> = file
        .segments
        .iter()
        .map(|(name, s)| {
            (
                name.clone(),
                segment::spec::check(&mut c, name, s, &rollups),
            )
        })
        .collect();
    shared_names(&mut c, &rollups, &segments);
    let reports: IndexMap<String, ReportSpec> = file
        .reports
        .iter()
        .map(|(name, r)| {
            let spec = report::spec::check(&mut c, name, r, &rollups, &segments);
            (name.clone(), spec)
        })
        .collect();
    keep_covers_reports(&mut c, &rollups, &segments, &reports);
    let report_names: Vec<&str> = reports.keys().map(String::as_str).collect();
    let destinations: Vec<Destination> = file
        .deliver
        .iter()
        .enumerate()
        .map(|(i, d)| d.check(&mut c, i, &report_names))
        .collect();
    let recipients: Vec<Recipient> = destinations.iter().map(Destination::recipient).collect();
    let schedule = file
        .schedule
        .as_ref()
        .map(|s| schedule::check(&mut c, s, &recipients));
    let slack_app = file
        .slack_app
        .as_ref()
        .map(|s| slack_app::check(&mut c, s, file.schedule.is_some()));
    let alerts = alerts(&mut c, &file, &reports, &recipients);
    let annotations = annotations(&mut c, &file, &reports);
    let style = style(&mut c, &file);
    let (store, output_dir) = (store(&mut c, &file.store), c.path(&file.output.dir));
    let checked = c.finish();
    if !checked.issues.is_empty() {
        // The file has to be fixed anyway: list what waits for a variable too.
        let deferred = checked.deferred.into_iter().map(|(_, issue)| issue);
        return Err(checked.issues.into_iter().chain(deferred).collect());
    }
    Ok(Config {
        config_path: config_path.to_path_buf(),
        timezone,
        store,
        sources,
        rollups,
        segments,
        reports,
        output_dir,
        style,
        destinations,
        schedule,
        slack_app,
        alerts,
        annotations,
        warnings: checked.warnings,
        deferred: checked.deferred,
    })
}

/// `[alerts.NAME]`, each checked against its report and destinations.
fn alerts(
    c: &mut Checker,
    file: &File,
    reports: &IndexMap<String, ReportSpec>,
    recipients: &[Recipient],
) -> IndexMap<String, Alert> {
    file.alerts
        .iter()
        .map(|(name, a)| {
            let alert = alert::spec::check(c, name, a, reports, recipients);
            (name.clone(), alert)
        })
        .collect()
}

/// Each rollup keeps the days its reports read: a report's days, the window of the segment it
/// scores, the days it compares with, and the rollup's lookback. With less, the oldest days are
/// pruned (or never pulled) and the report quietly counts without them.
fn keep_covers_reports(
    c: &mut Checker,
    rollups: &IndexMap<String, Rollup>,
    segments: &IndexMap<String, Segment>,
    reports: &IndexMap<String, ReportSpec>,
) {
    for report in reports.values() {
        let reads = report.reads();
        let direct = reads.rollups.iter().map(|r| (*r, 0, reads.rollups_lead));
        let scored = reads.segments.iter().filter_map(|s| {
            let segment = segments.get(*s)?;
            Some((
                segment.rollup.as_str(),
                reads.window_of(segment),
                reads.lead_days,
            ))
        });
        for (name, window, compare) in direct.chain(scored) {
            let Some(rollup) = rollups.get(name) else {
                continue;
            };
            let lookback = rollup.lookback.as_secs().div_ceil(86_400) as u32;
            let needed = report.days + window + compare + lookback;
            if rollup.keep_days < needed {
                c.issue(
                    format!("rollups.{name}.keep"),
                    format!(
                        "keeps {} days, but report `{}` needs {needed}: its days ({}) + the \
                         segment's window ({window}) + the days before them it reads \
                         (segment_flow's compare, lifecycle's history: {compare}) + lookback \
                         ({lookback}); set keep = \"{needed}d\" or more",
                        rollup.keep_days, report.name, report.days
                    ),
                );
            }
        }
    }
}

/// The store's path, relative to the config file: not empty, not a folder.
fn store(c: &mut Checker, written: &str) -> std::path::PathBuf {
    if written.trim().is_empty() {
        c.issue(
            "store",
            "is empty: name the SQLite file, like \".tally/store.sqlite\"",
        );
    }
    let store = c.path(written);
    if store.is_dir() {
        c.issue(
            "store",
            format!(
                "`{written}` is a folder: name the SQLite file inside it, like \"{}/store.sqlite\"",
                written.trim_end_matches('/')
            ),
        );
    }
    store
}

/// Checks each rollup by its source's rules (its dialect and functions; standard SQL when the
/// source is not known), in the config's zone of days.
fn rollups(
    c: &mut Checker,
    file: &File,
    sources: &IndexMap<String, SourceSpec>,
    timezone: Tz,
) -> IndexMap<String, Rollup> {
    let names: Vec<&str> = sources.keys().map(String::as_str).collect();
    file.rollups
        .iter()
        .map(|(name, r)| {
            let source = sources.get(&r.source);
            // A source whose URL waits for a `${VAR}` and hides its scheme: its rollups are read
            // as standard SQL, and what that finds is deferred with the URL, to the commands
            // that reach the source.
            let hidden = source.filter(|s| !s.driver_known);
            let known = source.filter(|s| s.driver_known);
            let dialect: Box<dyn Dialect> = known.map_or_else(
                || Box::new(GenericDialect {}) as Box<dyn Dialect>,
                |s| s.driver.dialect(),
            );
            let rules = Fragments {
                dialect: dialect.as_ref(),
                builtin: known.map(|s| s.driver.functions()),
                allowed: source.map_or(&[], |s| &s.allow_functions),
                source: Some(&r.source),
            };
            let mut rollup = match hidden {
                Some(s) => c.deferring(&format!("sources.{}", s.name), |c| {
                    rollup::check(c, name, r, &names, &rules)
                }),
                None => rollup::check(c, name, r, &names, &rules),
            };
            rollup.day_zone = timezone;
            rollup.source_zone = source.map_or(Tz::UTC, |s| s.timezone);
            (name.clone(), rollup)
        })
        .collect()
}

/// Rollups, their `_bi` views and segments are all tables of the store: their names must differ.
fn shared_names(
    c: &mut Checker,
    rollups: &IndexMap<String, Rollup>,
    segments: &IndexMap<String, Segment>,
) {
    let tables = rollups
        .keys()
        .map(|n| ("rollup", "rollups", n))
        .chain(segments.keys().map(|n| ("segment", "segments", n)));
    for (kind, table, name) in tables {
        let view = format!("{name}_bi");
        let taken = if rollups.contains_key(&view) {
            Some("rollups")
        } else if segments.contains_key(&view) {
            Some("segments")
        } else {
            None
        };
        if let Some(section) = taken {
            c.issue(
                format!("{section}.{view}"),
                format!(
                    "`{view}` is the name of {kind} `{name}`'s view for BI tools \
                     ({table}.{name}); choose another name"
                ),
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
}

/// `[[annotations]]`, each checked against the reports.
fn annotations(
    c: &mut Checker,
    file: &File,
    reports: &IndexMap<String, ReportSpec>,
) -> Vec<report::notes::Annotation> {
    file.annotations
        .iter()
        .enumerate()
        .map(|(i, a)| report::notes::check(c, i, a, reports))
        .collect()
}

/// How reports are shown: `[output] csv_formulas`, `[chart] font` (which must exist).
fn style(c: &mut Checker, file: &File) -> Style {
    let font = file.chart.font.as_ref().map(|f| c.path(f));
    if let Some(font) = font.as_ref().filter(|f| !f.is_file()) {
        c.issue(
            "chart.font",
            format!("font file {} does not exist", font.display()),
        );
    }
    Style {
        csv_formulas: file.output.csv_formulas,
        font,
        rounding: None,
        provisional: None,
        notes: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::tls::TlsMode;

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
        assert_eq!(crate::secret::mask_secrets("pw s3cret"), "pw ***");
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
    fn slack_app_keys_are_named() {
        let app = |keys: &str| config(&format!("{BASE}[slack_app]\n{keys}\n"));
        let issues = app(
            "app_token = \"xoxb-1-2\"\nchannels = [\"#rewards\", \"C0GOOD\"]\n\
             users = [\"alice\"]\ncommand = \"tally\"\napi_url = \"ftp://x\"",
        )
        .unwrap_err();
        let keys: Vec<&str> = issues.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "slack_app.app_token",
                "slack_app.channels[0]",
                "slack_app.users[0]",
                "slack_app.command",
                "slack_app.api_url"
            ],
            "{issues:?}"
        );
        assert!(
            issues[0].message.contains("bot token (xoxb-)"),
            "{issues:?}"
        );
        let empty = app("app_token = \"xapp-1\"\nchannels = []").unwrap_err();
        assert_eq!(empty[0].key, "slack_app.channels");
        // Good, but without [schedule] nothing answers: a warning.
        let fine = app("app_token = \"xapp-1-A\"\nchannels = [\"C0GOOD\"]").unwrap();
        let spec = fine.slack_app.as_ref().unwrap();
        assert_eq!(
            (spec.command.as_str(), spec.api_url.as_str()),
            ("/tally", "https://slack.com/api")
        );
        assert!(
            fine.warnings.iter().any(|w| w.key == "slack_app"),
            "{:?}",
            fine.warnings
        );
    }

    #[test]
    fn a_cron_that_never_fires_is_refused() {
        let issues = config(&format!("{BASE}[schedule]\ncron = \"0 0 31 2 *\"\n")).unwrap_err();
        assert_eq!(issues[0].key, "schedule.cron");
        assert!(issues[0].message.contains("never fires"), "{issues:?}");
        assert!(config(&format!("{BASE}[schedule]\ncron = \"0 0 29 2 *\"\n")).is_ok());
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
}
