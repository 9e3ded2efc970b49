//! `tally whatif`: a candidate policy from the command line (`--set`, `--payout`), checked as
//! a report's `candidate` is, and shown as the policy_compare report it makes. The config is
//! not changed and nothing is delivered.

use indexmap::IndexMap;

use super::args::{ReportArgs, WhatifArgs};
use super::report::show;
use super::usage;
use crate::check::Checker;
use crate::check::env::Env;
use crate::config::Config;
use crate::error::Error;
use crate::report::spec::{CandidateConfig, Policy, policy};
use crate::report::{ReportKind, ReportSpec};
use crate::segment::Segment;
use crate::segment::spec::GroupConfig;

/// Builds the candidate, checks it, and prints the comparison.
pub async fn run(config: &Config, a: &WhatifArgs, quiet: bool) -> Result<bool, Error> {
    let segment = config.segments.get(&a.segment).ok_or_else(|| {
        let known: Vec<&str> = config.segments.keys().map(String::as_str).collect();
        usage(format!(
            "whatif: no segment named `{}` (segments: {})",
            a.segment,
            known.join(", ")
        ))
    })?;
    let Some(rewards) = config.rollups.get(&a.rewards) else {
        let known: Vec<&str> = config.rollups.keys().map(String::as_str).collect();
        return Err(usage(format!(
            "whatif --rewards: no rollup named `{}` (rollups: {})",
            a.rewards,
            known.join(", ")
        )));
    };
    if rewards.measure(&a.amount).is_none() {
        return Err(usage(format!(
            "whatif --amount: rollup `{}` has no measure `{}`",
            a.rewards, a.amount
        )));
    }
    if !(1..=crate::report::spec::MAX_REPORT_DAYS).contains(&a.days) {
        return Err(usage(format!(
            "whatif --days: {} is out of range: use 1 to {}",
            a.days,
            crate::report::spec::MAX_REPORT_DAYS
        )));
    }
    let candidate = candidate(config, segment, &a.set, &a.payout)?;
    let spec = ReportSpec {
        name: "whatif".into(),
        title: title(a),
        days: a.days,
        kind: ReportKind::PolicyCompare {
            segment: a.segment.clone(),
            rewards: a.rewards.clone(),
            amount: a.amount.clone(),
            candidate: Box::new(candidate),
        },
        decimals: None,
    };
    keep_covers(config, &spec, a)?;
    let args = ReportArgs {
        names: Vec::new(),
        date: a.date.clone(),
        format: a.format,
        output: a.output.clone(),
        no_sync: a.no_sync,
        revisions: false,
    };
    show(config, &[&spec], &args, quiet).await
}

/// "What if: engagement with groups.heavy.min_score=20, payout heavy=2".
fn title(a: &WhatifArgs) -> String {
    let changes: Vec<String> = a
        .set
        .iter()
        .cloned()
        .chain(a.payout.iter().map(|p| format!("payout {p}")))
        .collect();
    if changes.is_empty() {
        format!("What if: {} as it is", a.segment)
    } else {
        format!("What if: {} with {}", a.segment, changes.join(", "))
    }
}

/// The candidate of `--set` and `--payout`, each applied in turn to the segment's own policy and
/// checked as a report's `candidate`: the first argument that makes it wrong is named.
fn candidate(
    config: &Config,
    segment: &Segment,
    sets: &[String],
    payouts: &[String],
) -> Result<Policy, Error> {
    let mut candidate = CandidateConfig::default();
    for arg in sets {
        let (key, value) = split(arg, "--set", "KEY=VALUE")?;
        set(&mut candidate, segment, key, value).map_err(|e| usage(format!("--set {arg}: {e}")))?;
        checked(config, segment, &candidate).map_err(|e| usage(format!("--set {arg}: {e}")))?;
    }
    for arg in payouts {
        let (group, value) = split(arg, "--payout", "GROUP=X")?;
        candidate.payout.insert(
            group.to_string(),
            toml::Value::String(value.trim().to_string()),
        );
        checked(config, segment, &candidate).map_err(|e| usage(format!("--payout {arg}: {e}")))?;
    }
    checked(config, segment, &candidate).map_err(usage)
}

/// `KEY=VALUE`, both sides non-empty.
fn split<'a>(arg: &'a str, option: &str, form: &str) -> Result<(&'a str, &'a str), Error> {
    match arg.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => Ok((k.trim(), v.trim())),
        _ => Err(usage(format!("{option} {arg}: expected {form}"))),
    }
}

/// The candidate checked against `segment` as a report's is; the first issue as text.
fn checked(
    config: &Config,
    segment: &Segment,
    candidate: &CandidateConfig,
) -> Result<Policy, String> {
    let env = Env::default();
    let mut c = Checker::new(&env, &config.config_path);
    let policy = policy(&mut c, "candidate", segment, candidate);
    match c.finish().issues.into_iter().next() {
        Some(issue) => Err(format!("{}: {}", issue.key, issue.message)),
        None => Ok(policy),
    }
}

/// A `--set` value as TOML (`3`, `0.5`, `[...]`); a bare word (`14d`) is text.
fn toml_value(text: &str) -> toml::Value {
    toml::from_str::<toml::Table>(&format!("v = {text}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(text.to_string()))
}

/// Applies one `--set KEY=VALUE` to the candidate.
fn set(
    candidate: &mut CandidateConfig,
    segment: &Segment,
    key: &str,
    value: &str,
) -> Result<(), String> {
    let v = toml_value(value);
    let parts: Vec<&str> = key.split('.').collect();
    match parts.as_slice() {
        ["weights"] => {
            let table: IndexMap<String, toml::Value> = v
                .try_into()
                .map_err(|_| "weights takes a TOML table, like {a = 1, b = 2}".to_string())?;
            candidate.weights = Some(table);
        }
        ["weights", name] => {
            let weights = candidate
                .weights
                .get_or_insert_with(|| own_weights(segment));
            weights.insert((*name).to_string(), v);
        }
        ["default_weight"] => candidate.default_weight = Some(v),
        ["window"] => {
            let text = match v {
                toml::Value::String(s) => s,
                other => other.to_string(),
            };
            candidate.window = Some(text);
        }
        ["groups"] => {
            let groups: Vec<GroupConfig> = v.try_into().map_err(|e| {
                format!(
                    "groups takes a TOML list like [{{name = \"heavy\", min_score = 15}}, \
                     {{name = \"light\", min_score = 0}}] ({})",
                    e.to_string().trim()
                )
            })?;
            candidate.groups = Some(groups);
        }
        ["groups", name, "min_score"] => {
            let groups = candidate.groups.get_or_insert_with(|| own_groups(segment));
            let known: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
            let group = groups
                .iter_mut()
                .find(|g| g.name == *name)
                .ok_or_else(|| format!("no group `{name}` (groups: {})", known.join(", ")))?;
            group.min_score = v;
        }
        _ => {
            return Err(format!(
                "unknown key `{key}` (use weights.VALUE, weights, default_weight, window, \
                 groups.NAME.min_score or groups)"
            ));
        }
    }
    Ok(())
}

/// The segment's weights, as a candidate's table.
fn own_weights(segment: &Segment) -> IndexMap<String, toml::Value> {
    let mut weights: Vec<(&String, _)> = segment.weights.iter().collect();
    weights.sort_by(|a, b| a.0.cmp(b.0));
    weights
        .into_iter()
        .map(|(k, w)| (k.clone(), toml::Value::String(w.to_string())))
        .collect()
}

/// The segment's groups, as a candidate's list.
fn own_groups(segment: &Segment) -> Vec<GroupConfig> {
    segment
        .groups
        .iter()
        .map(|g| GroupConfig {
            name: g.name.clone(),
            min_score: toml::Value::String(g.min_score.to_string()),
        })
        .collect()
}

/// The rollup the segment scores keeps the days the comparison reads (a longer `window` needs
/// more).
fn keep_covers(config: &Config, spec: &ReportSpec, a: &WhatifArgs) -> Result<(), Error> {
    let reads = spec.reads();
    for name in &reads.segments {
        let segment = &config.segments[*name];
        let rollup = &config.rollups[&segment.rollup];
        let lookback = rollup.lookback.as_secs().div_ceil(86_400) as u32;
        let needed = spec.days + reads.window_of(segment) + lookback;
        if rollup.keep_days < needed {
            return Err(usage(format!(
                "whatif: rollup `{}` keeps {} days, but {} days and a window of {} need {needed} \
                 (with its lookback): use fewer --days, a shorter window, or a longer keep",
                rollup.name,
                rollup.keep_days,
                a.days,
                reads.window_of(segment)
            )));
        }
    }
    Ok(())
}
