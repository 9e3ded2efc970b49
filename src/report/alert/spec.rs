//! `[alerts.NAME]`: as written ([`AlertConfig`]), checked ([`Alert`]), and the checks between
//! them: the report it watches, its condition (one SQL expression over the report's columns) and
//! where it goes.

use indexmap::IndexMap;
use serde::Deserialize;
use sqlparser::dialect::SQLiteDialect;

use crate::check::{Checker, Recipient, sql};
use crate::report::ReportSpec;

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

    /// True when the alert goes to the destination named `destination` (every destination when
    /// `to` is not given).
    pub fn sends_to(&self, destination: &str) -> bool {
        self.to.is_empty() || self.to.iter().any(|t| t == destination)
    }
}

/// Checks `[alerts.NAME]` against the reports and the destinations (by name and kind).
pub fn check(
    c: &mut Checker,
    name: &str,
    a: &AlertConfig,
    reports: &IndexMap<String, ReportSpec>,
    destinations: &[Recipient],
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
    let to =
        a.to.iter()
            .flatten()
            .filter_map(|wanted| match Recipient::find(destinations, wanted) {
                Some(d) => Some(d.name.to_string()),
                None => {
                    c.issue(
                        format!("{key}.to"),
                        format!("no [[deliver]] destination named `{wanted}` (or of that kind)"),
                    );
                    None
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
