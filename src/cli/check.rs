//! `tally check`: the config is already valid when this runs; connect to every source and prepare
//! every rollup's slice query, run each alert's condition on its report's columns, check every
//! destination without sending anything, one line each, and keep going past failures.

use serde_json::{Value as Json, json};

use super::args::InfoFormat;
use crate::check::Issue;
use crate::config::Config;
use crate::deliver;
use crate::error::Error;
use crate::lint;
use crate::report::alert::Alert;
use crate::report::{self, ReportKind, ReportSpec};
use crate::rollup::Rollup;
use crate::run;
use crate::secret::mask_secrets;
use crate::source::{Lag, Source, SourceError, SourceSpec};
use crate::store::Store;
use crate::sync::SyncError;
use crate::sync::slice::day_slices;

/// One thing checked.
struct Finding {
    /// `config`, `store`, `source`, `rollup`, `report`, `alert`, `destination` or `slack_app`.
    what: &'static str,
    name: String,
    /// `None` when it was not checked (its source failed).
    ok: Option<bool>,
    text: String,
    /// Facts under it (`tls`, `load`, `lag` of a source).
    details: Vec<(&'static str, String)>,
}

/// Where findings go: printed at once as text, or gathered into one JSON document.
struct Findings {
    format: InfoFormat,
    found: Vec<Finding>,
    /// What works but probably gives wrong numbers (`--strict` fails on it).
    warnings: Vec<Issue>,
    /// Standard output failed (its reader left): nothing more is printed.
    closed: Option<std::io::Error>,
}

impl Findings {
    /// Records a finding, its texts masked (a driver may quote what it was given).
    fn add(&mut self, mut f: Finding) {
        f.text = mask_secrets(&f.text);
        for (_, line) in &mut f.details {
            *line = mask_secrets(line);
        }
        if self.format == InfoFormat::Text && self.closed.is_none() {
            let state = match f.ok {
                Some(true) => "ok",
                Some(false) => "FAILED",
                None => "not checked",
            };
            let mut text = format!("{} {}: {state} ({})", f.what, f.name, f.text);
            for (_, line) in &f.details {
                text.push_str(&format!("\n  {line}"));
            }
            self.closed = crate::stdout::line(&text).err();
        }
        self.found.push(f);
    }

    /// Records a warning: printed at once as text.
    fn warn(&mut self, warning: Issue) {
        let warning = Issue {
            key: warning.key,
            message: mask_secrets(&warning.message),
        };
        if self.format == InfoFormat::Text && self.closed.is_none() {
            self.closed = crate::stdout::line(&format!("warning {warning}")).err();
        }
        self.warnings.push(warning);
    }

    /// Ends the check: true when nothing failed (and, with `strict`, nothing warned).
    fn finish(self, strict: bool) -> Result<bool, Error> {
        if let Some(e) = self.closed {
            return Err(Error::stdout(e));
        }
        let warned = strict && !self.warnings.is_empty();
        let ok = !warned && self.found.iter().all(|f| f.ok != Some(false));
        if self.format == InfoFormat::Json {
            let checks: Vec<Json> = self
                .found
                .iter()
                .map(|f| {
                    let mut o =
                        json!({"check": f.what, "name": f.name, "ok": f.ok, "detail": f.text});
                    for (k, v) in &f.details {
                        o[*k] = json!(v);
                    }
                    o
                })
                .collect();
            let warnings: Vec<Json> = self
                .warnings
                .iter()
                .map(|w| json!({"key": w.key, "message": w.message}))
                .collect();
            let doc = json!({"ok": ok, "checks": checks, "warnings": warnings});
            crate::stdout::line(&serde_json::to_string_pretty(&doc).unwrap_or_default())
                .map_err(Error::stdout)?;
        }
        Ok(ok)
    }
}

/// Checks every source, rollup and destination; `Ok(false)` when any failed. A signal stops it
/// at once, even while it connects or waits for an answer.
pub async fn run(config: &Config, format: InfoFormat, strict: bool) -> Result<bool, Error> {
    let mut out = Findings {
        format,
        found: Vec::new(),
        warnings: Vec::new(),
        closed: None,
    };
    out.add(Finding {
        what: "config",
        name: config.config_path.display().to_string(),
        ok: Some(true),
        text: "read and checked".into(),
        details: vec![],
    });
    store(config, &mut out);
    for spec in config.sources.values() {
        tokio::select! {
            () = probe_source(config, spec, &mut out) => {}
            _ = crate::shutdown::wait() => return Err(SyncError::Interrupted.into()),
        }
    }
    sql_reports(config, &mut out);
    alerts(config, &mut out);
    for dest in &config.destinations {
        let result = tokio::select! {
            r = deliver::probe(dest) => r,
            _ = crate::shutdown::wait() => return Err(SyncError::Interrupted.into()),
        };
        let (ok, text) = match result {
            Ok(text) => (true, text),
            Err(e) => (false, e.to_string()),
        };
        out.add(Finding {
            what: "destination",
            name: dest.name.clone(),
            ok: Some(ok),
            text,
            details: vec![],
        });
    }
    if let Some(app) = &config.slack_app {
        let result = tokio::select! {
            r = crate::slack_app::probe(app) => r,
            _ = crate::shutdown::wait() => return Err(SyncError::Interrupted.into()),
        };
        let (ok, text) = match result {
            Ok(()) => (
                true,
                "the app-level token opened a Socket Mode connection (closed again)".into(),
            ),
            Err(e) => (false, e),
        };
        out.add(Finding {
            what: "slack_app",
            name: app.command.clone(),
            ok: Some(ok),
            text,
            details: vec![],
        });
    }
    data_warnings(config, &mut out);
    out.finish(strict)
}

/// The config's warnings, and what the store's data says of it ([`lint`]): keys that work but
/// probably give wrong numbers.
fn data_warnings(config: &Config, out: &mut Findings) {
    for w in &config.warnings {
        out.warn(w.clone());
    }
    if !Store::exists(&config.store) {
        return;
    }
    let found =
        Store::inspect(&config.store).and_then(|store| lint::data_warnings(config, &store, &[]));
    match found {
        Ok(warnings) => warnings.into_iter().for_each(|w| out.warn(w)),
        Err(e) => tracing::debug!("looking for configs that give wrong numbers: {e}"),
    }
}

/// Looks at the store file without changing it: not there yet, a tally store, or a file tally
/// will refuse (someone else's database, a second hard link, a newer tally's store).
fn store(config: &Config, out: &mut Findings) {
    let (ok, text) = if !Store::exists(&config.store) {
        (true, "not there yet: the first sync creates it".to_string())
    } else {
        match Store::inspect(&config.store) {
            Ok(_) => (true, "a tally store".to_string()),
            Err(e) => (false, e.to_string()),
        }
    };
    out.add(Finding {
        what: "store",
        name: config.store.display().to_string(),
        ok: Some(ok),
        text,
        details: vec![],
    });
}

/// Prepares each sql report on the store (nothing runs): a table that is not there, or a
/// statement that would write, fails here rather than in the daily run.
fn sql_reports(config: &Config, out: &mut Findings) {
    let sql: Vec<&ReportSpec> = config
        .reports
        .values()
        .filter(|r| matches!(r.kind, ReportKind::Sql { .. }))
        .collect();
    if sql.is_empty() {
        return;
    }
    let store = Store::exists(&config.store)
        .then(|| Store::inspect(&config.store))
        .transpose();
    for spec in sql {
        let (ok, text) = match &store {
            Ok(Some(store)) => match report::columns(spec, Some(store)) {
                Ok(columns) => (
                    Some(true),
                    format!("reads {}", columns.unwrap_or_default().join(", ")),
                ),
                Err(e) => (Some(false), e.to_string()),
            },
            Ok(None) => (
                None,
                "the store is not there yet: run tally once, then check again".to_string(),
            ),
            Err(e) => (None, e.to_string()),
        };
        out.add(Finding {
            what: "report",
            name: spec.name.clone(),
            ok,
            text,
            details: vec![],
        });
    }
}

/// Runs each alert's condition against its report's columns, on no rows: nothing is sent.
fn alerts(config: &Config, out: &mut Findings) {
    if config.alerts.is_empty() {
        return;
    }
    let store = Store::exists(&config.store)
        .then(|| Store::inspect(&config.store))
        .transpose();
    for alert in config.alerts.values() {
        let spec = &config.reports[&alert.report];
        let columns = match &store {
            Ok(store) => report::columns(spec, store.as_ref()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        let (ok, text) = match columns {
            Ok(Some(columns)) => match report::alert::validate(alert, &columns) {
                Ok(()) => (
                    Some(true),
                    format!(
                        "`{}` reads {} ({}); sent to {}",
                        alert.when,
                        spec.name,
                        columns.join(", "),
                        recipients(config, alert)
                    ),
                ),
                Err(e) => (Some(false), format!("alerts.{}: {e}", alert.name)),
            },
            Ok(None) => (
                None,
                format!(
                    "the columns of sql report {} come from the store, which is not there yet: run tally once",
                    spec.name
                ),
            ),
            Err(e) => (
                None,
                format!("the columns of {} are not known: {e}", spec.name),
            ),
        };
        out.add(Finding {
            what: "alert",
            name: alert.name.clone(),
            ok,
            text,
            details: vec![],
        });
    }
}

/// Where an alert goes, as `tally check` says it.
fn recipients(config: &Config, alert: &Alert) -> String {
    let names: Vec<&str> = config
        .destinations
        .iter()
        .filter(|d| alert.sends_to(&d.name))
        .map(|d| d.name.as_str())
        .collect();
    if names.is_empty() {
        "no destination (add a [[deliver]])".to_string()
    } else {
        names.join(", ")
    }
}

/// Connects to one source and checks its rollups.
async fn probe_source(config: &Config, spec: &SourceSpec, out: &mut Findings) {
    let rollups: Vec<_> = config
        .rollups
        .values()
        .filter(|r| r.source == spec.name)
        .collect();
    let mut source = match Source::connect(spec).await {
        Ok(mut s) => {
            let details = if spec.driver.capabilities().file {
                vec![]
            } else {
                session(spec, &mut s).await.into_iter().collect()
            };
            out.add(Finding {
                what: "source",
                name: spec.name.clone(),
                ok: Some(true),
                text: spec.display_url.clone(),
                details,
            });
            s
        }
        Err(e) => {
            out.add(Finding {
                what: "source",
                name: spec.name.clone(),
                ok: Some(false),
                text: format!("{}: {e}", spec.display_url),
                details: vec![],
            });
            for r in rollups {
                out.add(Finding {
                    what: "rollup",
                    name: r.name.clone(),
                    ok: None,
                    text: format!("source {} failed", spec.name),
                    details: vec![],
                });
            }
            return;
        }
    };
    for rollup in rollups {
        let (ok, text) = match probe_rollup(config, &mut source, rollup).await {
            Ok(line) => (true, line),
            Err(e) => (false, e),
        };
        out.add(Finding {
            what: "rollup",
            name: rollup.name.clone(),
            ok: Some(ok),
            text,
            details: vec![],
        });
    }
}

/// How the session is encrypted, and the source's load and lag next to their limits.
async fn session(spec: &SourceSpec, source: &mut Source) -> Vec<(&'static str, String)> {
    let failed = |what: &str, e: SourceError| format!("{what}: could not be read: {}", e.message);
    let tls = match source.encryption().await {
        Ok(enc) => format!("tls: {enc}"),
        Err(e) => failed("tls", e),
    };
    let load = if spec.max_load.is_empty() {
        "load: not checked (max_load is off)".to_string()
    } else {
        match source.load(&spec.max_load).await {
            Ok(values) => {
                let parts: Vec<String> = spec
                    .max_load
                    .iter()
                    .zip(values)
                    .map(|(l, v)| {
                        let state = if v > l.max { "OVER" } else { "ok" };
                        format!("{} = {v} (max_load {}, {state})", l.name, l.max)
                    })
                    .collect();
                format!("load: {}", parts.join(", "))
            }
            Err(e) => failed("load", e),
        }
    };
    let lag = match spec.max_lag {
        None => "lag: not checked (max_lag is 0s)".to_string(),
        Some(max) => {
            let max = humantime::format_duration(max);
            match source.lag().await {
                Ok(Lag::Primary) => format!("lag: none, a primary (max_lag {max})"),
                Ok(Lag::Behind(d)) => {
                    let state = if spec.max_lag.is_some_and(|m| d > m) {
                        "OVER"
                    } else {
                        "ok"
                    };
                    format!(
                        "lag: a replica {:.0} s behind (max_lag {max}, {state})",
                        d.as_secs_f64()
                    )
                }
                Ok(Lag::Stopped(why)) => format!("lag: {why} (max_lag {max}, OVER)"),
                Ok(Lag::Unknown(why)) => format!("lag: not checked: {why}"),
                Err(e) => failed("lag", e),
            }
        }
    };
    vec![("tls", tls), ("load", load), ("lag", lag)]
}

/// Prepares the rollup's slice query and EXPLAINs it for yesterday's first slice: a plan that
/// reads the whole table fails (unless allowed) and names the index to create.
async fn probe_rollup(
    config: &Config,
    source: &mut Source,
    rollup: &Rollup,
) -> Result<String, String> {
    let info = source.probe(rollup).await.map_err(|e| e.to_string())?;
    let day = run::report_date(config, None);
    let slice = day_slices(config.timezone, day, rollup.slice_hours)[0];
    let explain = source
        .explain(rollup, slice.start, slice.end)
        .await
        .map_err(|e| e.to_string())?;
    if let Some(refusal) = explain.refusal(rollup) {
        return Err(refusal);
    }
    let rows = explain
        .rows
        .map(|r| format!(", ~{r:.0} rows per slice"))
        .unwrap_or_default();
    let allowed = if explain.full_scan {
        " (full scan allowed by allow_full_scan)"
    } else {
        ""
    };
    Ok(format!(
        "table {}, time column {}: {}; plan: {}{rows}{allowed}",
        rollup.table.join("."),
        rollup.time,
        info.time_column,
        explain.access
    ))
}
