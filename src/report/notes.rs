//! Notes on a report's days: `[[annotations]]` from the config ([`AnnotationConfig`], checked
//! into [`Annotation`]), and the changes of the segments' definitions that tally records
//! itself, so that the day a policy changed marks itself.

use chrono::NaiveDate;
use indexmap::IndexMap;
use serde::Deserialize;

use super::render::Note;
use super::revise::{changed_parts, segment_definition};
use super::{Inputs, ReportSpec};
use crate::check::Checker;
use crate::store::{Store, StoreError};

/// One `[[annotations]]` entry as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnnotationConfig {
    /// The day it marks: `"YYYY-MM-DD"` or a TOML date.
    pub date: toml::Value,
    /// What it says.
    pub text: String,
    /// The reports it goes on (default: all).
    pub reports: Option<Vec<String>>,
}

/// A checked `[[annotations]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Annotation {
    /// The day it marks.
    pub date: NaiveDate,
    /// What it says.
    pub text: String,
    /// The reports it goes on; every report when empty.
    pub reports: Vec<String>,
}

/// Checks `[[annotations]]` entry `i` against the reports.
pub fn check<R>(
    c: &mut Checker,
    i: usize,
    a: &AnnotationConfig,
    reports: &IndexMap<String, R>,
) -> Annotation {
    let key = format!("annotations[{i}]");
    let written = match &a.date {
        toml::Value::String(s) => s.clone(),
        toml::Value::Datetime(d) => d.to_string(),
        other => other.to_string(),
    };
    let date = NaiveDate::parse_from_str(written.trim(), "%Y-%m-%d").unwrap_or_else(|_| {
        c.issue(
            format!("{key}.date"),
            format!("`{written}` is not a date like \"2026-11-03\""),
        );
        NaiveDate::default()
    });
    if a.text.trim().is_empty() {
        c.issue(
            format!("{key}.text"),
            "is empty: say what happened that day",
        );
    }
    let names = a.reports.clone().unwrap_or_default();
    for name in names.iter().filter(|n| !reports.contains_key(*n)) {
        let known: Vec<&str> = reports.keys().map(String::as_str).collect();
        c.issue(
            format!("{key}.reports"),
            format!("no report named `{name}` (reports: {})", known.join(", ")),
        );
    }
    Annotation {
        date,
        text: a.text.trim().to_string(),
        reports: names,
    }
}

/// Records, for each segment that `specs` read, its definition when it differs from the last
/// one recorded, on report date `date`, with what changed.
pub fn record_changes(
    inputs: Inputs<'_>,
    store: &Store,
    specs: &[&ReportSpec],
    date: NaiveDate,
) -> Result<(), StoreError> {
    let mut seen: Vec<&str> = Vec::new();
    for spec in specs {
        for name in spec.reads().segments {
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            let Some(segment) = inputs.segments.get(name) else {
                continue;
            };
            let now =
                serde_json::json!({ format!("segment `{name}`"): segment_definition(segment) })
                    .to_string();
            let day = date.to_string();
            // The history of later dates stays as it is (a rerun of an older date).
            let newest = store.segment_definition_before(name, None)?;
            if newest.as_ref().is_some_and(|(d, _)| *d > day) {
                continue;
            }
            // Compared with the definition before this date: a rerun of the date with the
            // definition of the day before records no change.
            let changed = match store.segment_definition_before(name, Some(&day))? {
                Some((_, then)) if then == now => {
                    store.forget_segment_definition(name, &day)?;
                    continue;
                }
                Some((_, then)) => changed_parts(&then, &now).join("; "),
                None => String::new(),
            };
            if newest.is_some_and(|(d, then)| d == day && then == now) {
                continue;
            }
            store.record_segment_definition(name, &day, &now, &changed)?;
        }
    }
    Ok(())
}

/// The notes of report `spec` on the days `first..=last`: the annotations that go on it and the
/// recorded changes of the segments it reads, by day.
pub fn of_report(
    inputs: Inputs<'_>,
    store: &Store,
    spec: &ReportSpec,
    (first, last): (NaiveDate, NaiveDate),
) -> Result<Vec<Note>, StoreError> {
    let mut notes: Vec<Note> = inputs
        .annotations
        .iter()
        .filter(|a| a.reports.is_empty() || a.reports.contains(&spec.name))
        .filter(|a| (first..=last).contains(&a.date))
        .map(|a| Note {
            day: a.date,
            text: a.text.clone(),
        })
        .collect();
    let range = (first.to_string(), last.to_string());
    for name in spec.reads().segments {
        for (day, changed) in store.segment_changes(name, (&range.0, &range.1))? {
            let Ok(day) = day.parse() else { continue };
            notes.push(Note { day, text: changed });
        }
    }
    notes.sort_by_key(|n| n.day);
    Ok(notes)
}
