//! `[alerts.NAME]`: as written ([`AlertConfig`]), checked ([`Alert`]), and the checks between
//! them: the report it watches, its condition (one SQL expression over the report's columns) and
//! where it goes.

use indexmap::IndexMap;
use serde::Deserialize;
use sqlparser::dialect::SQLiteDialect;

use super::report::ReportSpec;
use super::{Checker, sql};
use crate::deliver::Destination;

/// `[alerts.NAME]`: a condition on a report's rows that sends the matching rows.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertConfig {
    /// The report whose rows are looked at.
    pub report: String,
    /// One SQL expression over the report's columns, like `segment = 'heavy' AND share < 30`.
    pub when: String,
    /// Destinations: names, or `slack` / `webhook` / `files` for the first of that kind
    /// (default: every destination).
    pub to: Option<Vec<String>>,
    /// Title of the alert (default: the alert's name with `_` as spaces).
    pub title: Option<String>,
}

/// A checked `[alerts.NAME]`.
#[derive(Debug, Clone)]
pub struct Alert {
    /// The alert's name.
    pub name: String,
    /// The report it looks at.
    pub report: String,
    /// The condition as written.
    pub when: String,
    /// The condition as sent to SQLite (as sqlparser prints it back).
    pub condition: String,
    /// Destination names; every destination when empty.
    pub to: Vec<String>,
    /// Title.
    pub title: String,
}

impl Alert {
    /// The name of the report an alert sends (and of its delivery records): `alerts.NAME`,
    /// which no report can be named.
    pub fn report_name(&self) -> String {
        format!("alerts.{}", self.name)
    }

    /// True when the alert goes to `dest` (every destination when `to` is not given).
    pub fn sends_to(&self, dest: &Destination) -> bool {
        self.to.is_empty() || self.to.contains(&dest.name)
    }
}

/// Checks `[alerts.NAME]`.
pub(super) fn check(
    c: &mut Checker,
    name: &str,
    a: &AlertConfig,
    reports: &IndexMap<String, ReportSpec>,
    destinations: &[Destination],
) -> Alert {
    let key = format!("alerts.{name}");
    c.name(&key, name);
    if !reports.contains_key(&a.report) {
        let known: Vec<&str> = reports.keys().map(String::as_str).collect();
        c.issue(
            format!("{key}.report"),
            format!(
                "unknown report `{}` (reports: {})",
                a.report,
                if known.is_empty() {
                    "none defined".to_string()
                } else {
                    known.join(", ")
                }
            ),
        );
    }
    // The condition runs in tally's own SQLite, under the rules of a SQLite source.
    let rules = sql::Fragments {
        dialect: &SQLiteDialect {},
        builtin: Some(crate::source::functions::SQLITE),
        allowed: &[],
        source: None,
    };
    let condition = sql::expression(&a.when, &rules).unwrap_or_else(|problem| {
        c.issue(format!("{key}.when"), format!("`{}` {problem}", a.when));
        String::new()
    });
    let to = a
        .to
        .iter()
        .flatten()
        .filter_map(|wanted| {
            let found = destinations
                .iter()
                .find(|d| &d.name == wanted)
                .or_else(|| destinations.iter().find(|d| d.kind_name() == wanted));
            match found {
                Some(d) => Some(d.name.clone()),
                None => {
                    c.issue(
                        format!("{key}.to"),
                        format!("no [[deliver]] destination named `{wanted}` (or of that kind)"),
                    );
                    None
                }
            }
        })
        .collect();
    Alert {
        name: name.to_string(),
        report: a.report.clone(),
        when: a.when.clone(),
        condition,
        to,
        title: a.title.clone().unwrap_or_else(|| name.replace('_', " ")),
    }
}
