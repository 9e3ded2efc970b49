//! `tally check`: the config is already valid when this runs; connect to every source and prepare
//! every rollup's slice query, one line each, and keep going past failures.

use crate::config::Plan;
use crate::error::Error;
use crate::source::Source;

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
            match source.check(rollup).await {
                Ok(info) => println!(
                    "rollup {}: ok (table {}, time column {}: {})",
                    rollup.name,
                    rollup.table.join("."),
                    rollup.time,
                    info.time_column
                ),
                Err(e) => {
                    ok = false;
                    println!(
                        "rollup {}: FAILED: {}",
                        rollup.name,
                        plan.redact(&e.to_string())
                    );
                }
            }
        }
    }
    Ok(ok)
}
