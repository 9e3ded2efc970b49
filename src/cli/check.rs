//! `tally check`: the config is already valid when this runs; connect to every source and prepare
//! every rollup's slice query, one line each, and keep going past failures.

use crate::config::{Plan, Rollup};
use crate::error::Error;
use crate::run;
use crate::source::{Explain, Source};
use crate::sync::slice::day_slices;

/// Prints one line per source and rollup; `Ok(false)` when any failed.
pub async fn run(plan: &Plan) -> Result<bool, Error> {
    println!("config {}: ok", plan.config_path.display());
    let mut ok = true;
    for spec in plan.sources.values() {
        let rollups: Vec<_> = plan
            .rollups
            .values()
            .filter(|r| r.source == spec.name)
            .collect();
        let mut source = match Source::connect(spec).await {
            Ok(s) => {
                println!("source {}: ok ({})", spec.name, spec.display_url);
                s
            }
            Err(e) => {
                ok = false;
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
                continue;
            }
        };
        for rollup in rollups {
            match check_rollup(plan, &mut source, rollup).await {
                Ok(line) => println!("rollup {}: ok ({line})", rollup.name),
                Err(e) => {
                    ok = false;
                    println!("rollup {}: FAILED: {}", rollup.name, plan.redact(&e));
                }
            }
        }
    }
    Ok(ok)
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
