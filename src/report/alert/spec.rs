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
    /// `"once"` (the default: once per date) or `"change"` (rows that newly match, and a
    /// "Resolved" message for rows that stop matching).
    pub fire: Option<String>,
    /// With `fire = "change"`: the columns that tell rows apart (default: the report's columns
    /// that are not numbers, without `day`).
    pub key: Option<Vec<String>>,
    /// Send the alert when the report has no rows for the report date.
    #[serde(default)]
    pub no_data: bool,
}

/// When an alert sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fire {
    /// Once per alert and date, with every row that matches.
    Once,
    /// Only rows that newly match; a "Resolved" message for rows that stopped matching.
    Change,
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
    /// When it sends.
    pub fire: Fire,
    /// The columns that tell its rows apart (`fire = "change"`); empty for the default.
    pub key: Vec<String>,
    /// Whether no rows for the report date is news.
    pub no_data: bool,
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
    let (fire, key) = memory(c, &key, a, reports.get(&a.report));
    Alert {
        name: name.to_string(),
        report: a.report.clone(),
        when: a.when.clone(),
        condition,
        to,
        title: a.title.clone().unwrap_or_else(|| name.replace('_', " ")),
        fire,
        key,
        no_data: a.no_data,
    }
}

/// `fire` and `key`: `key` only with `fire = "change"`, naming columns of the report (known
/// here for the built-in reports; an sql report's are checked when it runs).
fn memory(
    c: &mut Checker,
    key: &str,
    a: &AlertConfig,
    report: Option<&ReportSpec>,
) -> (Fire, Vec<String>) {
    let fire = match a.fire.as_deref() {
        None | Some("once") => Fire::Once,
        Some("change") => Fire::Change,
        Some(other) => {
            c.issue(
                format!("{key}.fire"),
                format!("`{other}` is not \"once\" or \"change\""),
            );
            Fire::Once
        }
    };
    let columns = report.and_then(|r| crate::report::columns(r, None).ok().flatten());
    let keys = a.key.clone().unwrap_or_default();
    if !keys.is_empty() && fire == Fire::Once {
        c.issue(
            format!("{key}.key"),
            "is only for fire = \"change\" (an alert that fires once per date has no rows to \
             tell apart)",
        );
    }
    if let Some(columns) = &columns {
        for k in keys.iter().filter(|k| !columns.contains(k)) {
            c.issue(
                format!("{key}.key"),
                format!(
                    "`{k}` is not a column of report `{}` (columns: {})",
                    a.report,
                    columns.join(", ")
                ),
            );
        }
    }
    (fire, keys)
}
