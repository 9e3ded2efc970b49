//! Revisions: the cells of a report's days that differ from what an earlier delivery showed, and
//! why (late rows, a refresh, a changed definition). A row is known by the report's key, its
//! columns that are not numbers (`day`, `segment` for segment_rewards); a cell is revised when
//! its rendered text differs, and a row that appears or disappears is revised too.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use serde_json::{Value as Json, json};

use super::render::{self, Style};
use super::spec::{ReportKind, ReportSpec};
use super::{Body, Inputs, Report};
use crate::segment::Segment;
use crate::store::{SentDay, Store, StoreError};
use crate::value::Value;

/// One revised cell: the row's day and key, the column, what was shown and what is shown now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// The row's day.
    pub day: String,
    /// The row's key cells (the day first).
    pub key: Vec<String>,
    /// The column; `(row)` when the row appeared or disappeared.
    pub column: String,
    /// What the earlier delivery showed (`(none)` for a row that appeared).
    pub old: String,
    /// What is shown now (`(none)` for a row that disappeared).
    pub new: String,
    /// The report date of the earlier delivery that showed the old value.
    pub since: NaiveDate,
}

/// Why numbers already shown changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cause {
    /// Late rows of days the lookback pulled again.
    LateRows,
    /// `tally sync --refresh` pulled days again.
    Refresh,
    /// What the report is computed from changed: each part, like
    /// "segment `engagement` changed: weights".
    Definition(Vec<String>),
}

/// What changed since the earlier deliveries of a report, cell by cell, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revisions {
    /// The names of the key columns.
    pub key_columns: Vec<String>,
    /// The revised cells, by day, then in report order.
    pub cells: Vec<Revision>,
    /// Why.
    pub cause: Cause,
}

impl Revisions {
    /// The revisions as a report of their own: the key columns, `column`, `old`, `new` (the
    /// `-revisions.csv` file, `tally report --revisions`).
    pub fn as_report(&self, of: &Report) -> Report {
        let columns = self
            .key_columns
            .iter()
            .cloned()
            .chain(["column", "old", "new"].map(String::from))
            .collect();
        let rows = self
            .cells
            .iter()
            .map(|r| {
                r.key
                    .iter()
                    .chain([&r.column, &r.old, &r.new])
                    .map(|t| Value::Text(t.clone()))
                    .collect()
            })
            .collect();
        Report {
            name: format!("{}-revisions", of.name),
            title: format!("{}: revised since the last report", of.title),
            first: of.first,
            last: of.last,
            columns,
            rows,
            body: Body::Table,
            style: Style {
                csv_formulas: of.style.csv_formulas,
                ..Style::default()
            },
            definition: String::new(),
        }
    }
}

/// The row of a revision for a person: the key's cells, then `column: old → new` with numbers
/// grouped (`2026-11-27 · heavy · rewards: 1,234.50 → 1,240.00`).
pub fn line(r: &Revision) -> String {
    let shown = |t: &str| match crate::value::parse_decimal(t) {
        Some(d) => crate::value::number(&Value::Dec(d)),
        None => t.to_string(),
    };
    format!(
        "{} · {}: {} → {}",
        r.key.join(" · "),
        r.column,
        shown(&r.old),
        shown(&r.new)
    )
}

/// The sentence that says why, for the message.
pub fn cause_text(cause: &Cause) -> String {
    match cause {
        Cause::LateRows => "late rows were pulled again".to_string(),
        Cause::Refresh => "days were pulled again with `tally sync --refresh`".to_string(),
        Cause::Definition(parts) => parts
            .iter()
            .map(|p| format!("the definition of {p}"))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

/// The report's key columns: a built-in report's (`day`, `segment`; `day`, `from`, `to`), or the
/// columns whose cells are never numbers.
pub fn key_columns(report: &Report) -> Vec<usize> {
    let named = |names: &[&str]| -> Vec<usize> {
        names
            .iter()
            .filter_map(|n| report.columns.iter().position(|c| c == n))
            .collect()
    };
    match &report.body {
        Body::SegmentRewards(_) => named(&["day", "segment"]),
        Body::SegmentFlow(_) => named(&["day", "from", "to"]),
        _ => (0..report.columns.len())
            .filter(|&i| {
                report.rows.iter().all(|r| match &r[i] {
                    Value::Text(t) => crate::value::parse_decimal(t).is_none(),
                    Value::Null => true,
                    _ => false,
                })
            })
            .collect(),
    }
}

/// The rows a delivery of the report records: each row's day and its cells as rendered; `None`
/// for a report without a `day` column (its rows are not the same days from one delivery to the
/// next, so there is nothing to revise).
pub fn sent_rows(report: &Report) -> Option<Vec<(String, Vec<String>)>> {
    if matches!(report.body, Body::Alert { .. } | Body::Resolved { .. }) {
        return None;
    }
    let day = report.columns.iter().position(|c| c == "day")?;
    Some(
        report
            .rows
            .iter()
            .map(|row| {
                let cells = (0..row.len())
                    .map(|i| render::shown(report, i, &row[i]).to_string())
                    .collect();
                (row[day].to_string(), cells)
            })
            .collect(),
    )
}

/// What changed in `report` since the earlier deliveries that showed its days: to
/// `destination`, or to any destination when `None`; only deliveries for dates before `before`
/// count. `None` when nothing was revised (or the report has no days to revise).
pub fn since(
    store: &Store,
    report: &Report,
    destination: Option<&str>,
    before: NaiveDate,
) -> Result<Option<Revisions>, StoreError> {
    let Some(rows) = sent_rows(report) else {
        return Ok(None);
    };
    let mut days: Vec<String> = rows.iter().map(|(d, _)| d.clone()).collect();
    days.dedup();
    let earlier = store.earlier_days((destination, &report.name, before), &days)?;
    let cells = compare(report, &rows, &earlier);
    if cells.is_empty() {
        return Ok(None);
    }
    let key = key_columns(report);
    let key_columns = key.iter().map(|&i| report.columns[i].clone()).collect();
    // The definition then and now: a change says why better than a list of cells.
    let changed: Vec<String> = earlier
        .iter()
        .flat_map(|e| changed_parts(&e.definition, &report.definition))
        .fold(Vec::new(), |mut all, p| {
            if !all.contains(&p) {
                all.push(p);
            }
            all
        });
    let cause = if !changed.is_empty() {
        Cause::Definition(changed)
    } else {
        refreshed(store, report, &cells, &earlier)?
    };
    Ok(Some(Revisions {
        key_columns,
        cells,
        cause,
    }))
}

/// The revised cells of `rows` (the report's now) against the earlier days.
fn compare(report: &Report, rows: &[(String, Vec<String>)], earlier: &[SentDay]) -> Vec<Revision> {
    let key = key_columns(report);
    let key_of = |columns: &[String], cells: &[String]| -> Option<Vec<String>> {
        key.iter()
            .map(|&i| {
                let at = columns.iter().position(|c| *c == report.columns[i])?;
                cells.get(at).cloned()
            })
            .collect()
    };
    let mut out = Vec::new();
    for e in earlier {
        let old: BTreeMap<Vec<String>, &Vec<String>> = e
            .rows
            .iter()
            .filter_map(|cells| Some((key_of(&e.columns, cells)?, cells)))
            .collect();
        let mut seen = Vec::new();
        for (_, cells) in rows.iter().filter(|(d, _)| *d == e.day) {
            let k: Vec<String> = key.iter().map(|&i| cells[i].clone()).collect();
            let revision = |column: &str, old: &str, new: &str| Revision {
                day: e.day.clone(),
                key: k.clone(),
                column: column.to_string(),
                old: old.to_string(),
                new: new.to_string(),
                since: e.date,
            };
            match old.get(&k) {
                None => out.push(revision("(row)", "(none)", "(shown now)")),
                Some(was) => {
                    for (i, now) in cells.iter().enumerate() {
                        let name = &report.columns[i];
                        let before = e.columns.iter().position(|c| c == name);
                        match before.and_then(|at| was.get(at)) {
                            Some(then) if then != now && !key.contains(&i) => {
                                out.push(revision(name, then, now));
                            }
                            _ => {}
                        }
                    }
                }
            }
            seen.push(k);
        }
        for (k, _) in old.iter().filter(|(k, _)| !seen.contains(k)) {
            out.push(Revision {
                day: e.day.clone(),
                key: k.clone(),
                column: "(row)".into(),
                old: "(shown)".into(),
                new: "(none)".into(),
                since: e.date,
            });
        }
    }
    out.sort_by(|a, b| a.day.cmp(&b.day));
    out
}

/// Late rows, or a refresh when a slice of a revised day was pulled again with `--refresh`
/// after the earlier delivery.
fn refreshed(
    store: &Store,
    report: &Report,
    cells: &[Revision],
    earlier: &[SentDay],
) -> Result<Cause, StoreError> {
    let rollups: Vec<String> = serde_json::from_str::<Json>(&report.definition)
        .ok()
        .and_then(|d| {
            d.as_object().map(|o| {
                o.keys()
                    .filter_map(|k| k.strip_prefix("rollup `"))
                    .map(|k| k.trim_end_matches('`').to_string())
                    .collect()
            })
        })
        .unwrap_or_default();
    let rollups: Vec<&str> = rollups.iter().map(String::as_str).collect();
    for e in earlier {
        if !cells.iter().any(|c| c.day == e.day) {
            continue;
        }
        let reasons = store.changes_since(&rollups, (&e.day, &e.day), &e.sent_at)?;
        if reasons.iter().any(|r| r == "refresh") {
            return Ok(Cause::Refresh);
        }
    }
    Ok(Cause::LateRows)
}

/// The parts of a definition that differ between `then` and `now`, like
/// "segment `engagement` changed: weights" or "rollup `activity` changed".
pub fn changed_parts(then: &str, now: &str) -> Vec<String> {
    let (Ok(Json::Object(then)), Ok(Json::Object(now))) = (
        serde_json::from_str::<Json>(then),
        serde_json::from_str::<Json>(now),
    ) else {
        return Vec::new();
    };
    let mut parts = Vec::new();
    for (part, value) in &now {
        match (then.get(part), value) {
            (Some(Json::Object(a)), Json::Object(b)) => {
                let fields: Vec<&str> = b
                    .iter()
                    .filter(|(k, v)| a.get(*k) != Some(*v))
                    .map(|(k, _)| k.as_str())
                    .collect();
                if !fields.is_empty() {
                    parts.push(format!("{part} changed: {}", fields.join(", ")));
                }
            }
            (Some(a), b) if a != b => parts.push(format!("{part} changed")),
            _ => {}
        }
    }
    parts
}

/// What a report is computed from, as JSON: the report's kind, each segment's scoring and
/// groups, and each rollup's definition. A delivery records it, so that a later one can tell
/// a change of definition from late rows.
pub fn definition(inputs: Inputs<'_>, spec: &ReportSpec) -> String {
    let mut parts = serde_json::Map::new();
    let kind = match &spec.kind {
        // The candidate's weights are a map: written in order, so that the text is the same
        // from one run to the next.
        ReportKind::PolicyCompare {
            segment,
            rewards,
            amount,
            candidate,
        } => {
            let mut payout: Vec<String> = candidate
                .payout
                .iter()
                .map(|(g, x)| format!("{g}={}", x.normalized()))
                .collect();
            payout.sort();
            format!(
                "PolicyCompare {{ segment: {segment:?}, rewards: {rewards:?}, amount: {amount:?}, \
                 candidate: {}, payout: {} }}",
                segment_definition(&candidate.segment),
                payout.join(",")
            )
        }
        other => format!("{other:?}"),
    };
    parts.insert(format!("report `{}`", spec.name), json!(kind));
    let reads = spec.reads();
    let mut rollups: Vec<&str> = reads.rollups.clone();
    for name in &reads.segments {
        let Some(s) = inputs.segments.get(*name) else {
            continue;
        };
        rollups.push(&s.rollup);
        parts.insert(format!("segment `{name}`"), segment_definition(s));
    }
    for name in rollups {
        if let Some(r) = inputs.rollups.get(name) {
            parts.insert(format!("rollup `{name}`"), json!(r.fingerprint()));
        }
    }
    if let ReportKind::Sql { sql, .. } = &spec.kind {
        parts.insert("sql".into(), json!(sql));
    }
    Json::Object(parts).to_string()
}

/// A segment's scoring and groups as JSON, each key one thing that can change (`weights`,
/// `groups`, `window`...), as [`definition`] and the segment's change records keep it.
pub fn segment_definition(s: &Segment) -> Json {
    // As numbers: `1` and `1.0` are one weight.
    let mut weights: Vec<String> = s
        .weights
        .iter()
        .map(|(k, w)| format!("{k}={}", w.normalized()))
        .collect();
    weights.sort();
    let groups: Vec<String> = s
        .groups
        .iter()
        .map(|g| format!("{}>={}", g.name, g.min_score.normalized()))
        .collect();
    json!({
        "rollup": s.rollup,
        "score": s.score,
        "by": s.by,
        "window": s.window_days,
        "weights": weights.join(","),
        "default_weight": s.default_weight.normalized().to_string(),
        "groups": groups.join(","),
    })
}
