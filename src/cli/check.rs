//! `tally check`: the config is already valid when this runs; connect to every source and prepare
//! every rollup's slice query, one line each, and keep going past failures.

use crate::config::{Plan, Rollup, SourceKind, SourceSpec};
use crate::error::Error;
use crate::run;
use crate::source::{Explain, Lag, Source, SourceError};
use crate::sync::SyncError;
use crate::sync::slice::day_slices;

/// Prints one line per source and rollup; `Ok(false)` when any failed. A signal stops it at
/// once, even while it connects or waits for an answer.
pub async fn run(plan: &Plan) -> Result<bool, Error> {
    println!("config {}: ok", plan.config_path.display());
    let mut ok = true;
    for spec in plan.sources.values() {
        tokio::select! {
            source_ok = check_source(plan, spec) => ok &= source_ok,
            _ = crate::shutdown::wait() => return Err(SyncError::Interrupted.into()),
        }
    }
    Ok(ok)
}

/// Connects to one source and checks its rollups; false when anything failed.
async fn check_source(plan: &Plan, spec: &SourceSpec) -> bool {
    let rollups: Vec<_> = plan
        .rollups
        .values()
        .filter(|r| r.source == spec.name)
        .collect();
    let mut source = match Source::connect(spec).await {
        Ok(mut s) => {
            println!("source {}: ok ({})", spec.name, spec.display_url);
            if spec.kind != SourceKind::Sqlite {
                for line in session(spec, &mut s).await {
                    println!("  {}", plan.redact(&line));
                }
            }
            s
        }
        Err(e) => {
            println!(
                "source {} ({}): FAILED: {}",
                spec.name,
                spec.display_url,
                plan.redact(&e.to_string())
            );
            for r in rollups {
                println!(
                    "rollup {}: not checked (source {} failed)",
                    r.name, spec.name
                );
            }
            return false;
        }
    };
    let mut ok = true;
    for rollup in rollups {
        match check_rollup(plan, &mut source, rollup).await {
            Ok(line) => println!("rollup {}: ok ({line})", rollup.name),
            Err(e) => {
                ok = false;
                println!("rollup {}: FAILED: {}", rollup.name, plan.redact(&e));
            }
        }
    }
    ok
}

/// How the session is encrypted, and the source's load and lag next to their limits.
async fn session(spec: &SourceSpec, source: &mut Source) -> Vec<String> {
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
    vec![tls, load, lag]
}

/// Prepares the rollup's slice query and EXPLAINs it for yesterday's first slice: a plan that
/// reads the whole table fails (unless allowed) and names the index to create.
async fn check_rollup(plan: &Plan, source: &mut Source, rollup: &Rollup) -> Result<String, String> {
    let info = source.check(rollup).await.map_err(|e| e.to_string())?;
    let day = run::report_date(plan, None);
    let slice = day_slices(plan.timezone, day, rollup.slice_hours)[0];
    let explain = source
        .explain(rollup, slice.start, slice.end)
        .await
        .map_err(|e| e.to_string())?;
    if explain.full_scan && !rollup.allow_full_scan {
        return Err(format!(
            "the slice query scans the whole table ({}); create an index: {}",
            explain.access,
            Explain::index_hint(rollup)
        ));
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
