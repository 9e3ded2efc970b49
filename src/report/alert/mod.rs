//! Alerts on a report's rows (`[alerts.NAME]`, [`spec`]): the report's rows for its date go into
//! a temporary SQLite table named `report` (numeric columns typed as numbers), and the alert's
//! condition selects the rows that are sent. Alerts are evaluated here, where reports are built;
//! delivering them is the destinations' job.

mod memory;
pub mod spec;

use chrono::NaiveDate;
use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

use crate::report::{Body, Report, ReportError};
use crate::store::{Store, read_only};
use crate::value::Value;
pub use spec::{Alert, AlertConfig, Fire};

/// What the alerts on `reports` send for `date`: each alert with the reports it sends (the
/// rows that match, or newly match, and "Resolved" messages; [`memory`]), or its error. Alerts
/// whose report is not among `reports`, or that have nothing to send, are left out (logged).
/// With `remember`, what each matched is recorded for the next date.
pub fn fire<'a>(
    alerts: impl IntoIterator<Item = &'a Alert>,
    reports: &[Report],
    (store, date, remember): (&Store, NaiveDate, bool),
) -> Vec<(&'a Alert, Result<Vec<Report>, ReportError>)> {
    let mut fired = Vec::new();
    for alert in alerts {
        let Some(report) = reports.iter().find(|r| r.name == alert.report) else {
            continue;
        };
        match memory::send(store, alert, report, date, remember) {
            Ok(sent) if sent.is_empty() => tracing::info!(
                "alert {}: nothing new in {} for {date}; nothing sent",
                alert.name,
                report.name
            ),
            result => fired.push((alert, result)),
        }
    }
    fired
}

/// The rows of `report` that match `alert`, as a report of their own (named
/// [`Alert::report_name`]); `None` when no row matches.
pub fn evaluate(alert: &Alert, report: &Report) -> Result<Option<Report>, ReportError> {
    let fail = |e: rusqlite::Error| ReportError::Alert {
        alert: alert.name.clone(),
        message: e.to_string(),
    };
    let conn = table(&report.columns, &report.rows).map_err(|message| ReportError::Alert {
        alert: alert.name.clone(),
        message,
    })?;
    let mut stmt = conn.prepare(&select(alert)).map_err(fail)?;
    read_only::refuse_writes(&stmt).map_err(|message| ReportError::Alert {
        alert: alert.name.clone(),
        message,
    })?;
    let matched = stmt
        .query_map([], |r| r.get::<_, i64>(0))
        .map_err(fail)?
        .collect::<Result<Vec<i64>, _>>()
        .map_err(fail)?;
    if matched.is_empty() {
        return Ok(None);
    }
    Ok(Some(Report {
        name: alert.report_name(),
        title: alert.title.clone(),
        first: report.first,
        last: report.last,
        columns: report.columns.clone(),
        rows: matched
            .into_iter()
            .map(|i| {
                usize::try_from(i)
                    .ok()
                    .and_then(|i| report.rows.get(i))
                    .cloned()
                    .ok_or_else(|| ReportError::Alert {
                        alert: alert.name.clone(),
                        message: format!("row {i} is not a row of the report"),
                    })
            })
            .collect::<Result<_, _>>()?,
        body: Body::Alert {
            report: report.name.clone(),
            condition: alert.when.clone(),
        },
        style: report.style.clone(),
        definition: String::new(),
    }))
}

/// Checks the alert's condition against a report's columns, without any row.
pub fn validate(alert: &Alert, columns: &[String]) -> Result<(), String> {
    if let Some(k) = alert.key.iter().find(|k| !columns.contains(k)) {
        return Err(format!(
            "key `{k}` is not a column of report `{}` (columns: {})",
            alert.report,
            columns.join(", ")
        ));
    }
    let conn = table(columns, &[])?;
    let stmt = conn
        .prepare(&select(alert))
        .map_err(|e| format!("when `{}`: {e}", alert.when))?;
    read_only::refuse_writes(&stmt).map_err(|e| format!("when `{}`: {e}", alert.when))?;
    match stmt.parameter_count() {
        0 => Ok(()),
        _ => Err(format!(
            "when `{}` has a parameter, which nothing binds",
            alert.when
        )),
    }
}

/// The query of `alert`: the numbers of the rows that match, in order.
fn select(alert: &Alert) -> String {
    format!(
        "SELECT {ROW} FROM report WHERE ({}) ORDER BY {ROW}",
        alert.condition
    )
}

/// The column that numbers the report's rows in the table (not `rowid`, which a report's own
/// column of that name would hide), and the same quoted for SQL.
const ROW_NAME: &str = "_tally row";
const ROW: &str = "\"_tally row\"";

/// An in-memory database with the table `report`: integer columns INTEGER, other numeric columns
/// REAL (so `share < 30` compares numbers), the rest TEXT; and [`ROW`] first.
fn table(columns: &[String], rows: &[Vec<Value>]) -> Result<Connection, String> {
    // SQLite compares column names without case.
    let mut seen: Vec<String> = vec![ROW_NAME.to_lowercase()];
    for c in columns {
        if seen.contains(&c.to_lowercase()) {
            return Err(format!(
                "the report has two columns named `{c}` (without regard to case): an alert needs \
                 distinct names (rename one with AS)"
            ));
        }
        seen.push(c.to_lowercase());
    }
    fill(columns, rows).map_err(|e| e.to_string())
}

/// Creates and fills the table (column names checked distinct).
fn fill(columns: &[String], rows: &[Vec<Value>]) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open_in_memory()?;
    let types: Vec<&str> = (0..columns.len())
        .map(|i| {
            let cells = || rows.iter().map(|r| &r[i]).filter(|v| **v != Value::Null);
            if cells().next().is_none() {
                ""
            } else if cells().all(|v| matches!(v, Value::Int(_))) {
                " INTEGER"
            } else if cells().all(Value::is_numeric) {
                " REAL"
            } else {
                " TEXT"
            }
        })
        .collect();
    let defs: Vec<String> = columns
        .iter()
        .zip(&types)
        .map(|(c, t)| format!("\"{}\"{t}", c.replace('"', "\"\"")))
        .collect();
    conn.execute_batch(&format!(
        "CREATE TABLE report ({ROW} INTEGER PRIMARY KEY, {})",
        defs.join(", ")
    ))?;
    let marks = vec!["?"; columns.len() + 1].join(", ");
    let mut insert = conn.prepare(&format!("INSERT INTO report VALUES ({marks})"))?;
    for (i, row) in rows.iter().enumerate() {
        let values: Vec<SqlValue> = std::iter::once(SqlValue::Integer(i as i64))
            .chain(row.iter().map(|v| match v {
                Value::Null => SqlValue::Null,
                Value::Int(i) => SqlValue::Integer(*i),
                Value::Float(f) => SqlValue::Real(*f),
                Value::Dec(d) => {
                    SqlValue::Real(bigdecimal::ToPrimitive::to_f64(d).unwrap_or(f64::NAN))
                }
                Value::Text(t) => SqlValue::Text(t.clone()),
            }))
            .collect();
        insert.execute(rusqlite::params_from_iter(values))?;
    }
    drop(insert);
    // Only the condition runs from here on: it may read the table and nothing else.
    read_only::guard(&mut conn)?;
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(when: &str) -> Alert {
        Alert {
            name: "a".into(),
            report: "q".into(),
            when: when.into(),
            condition: when.into(),
            to: vec![],
            title: "a".into(),
            fire: Fire::Once,
            key: vec![],
            no_data: false,
        }
    }

    fn columns(names: &[&str]) -> Vec<String> {
        names.iter().map(|c| c.to_string()).collect()
    }

    #[test]
    fn a_condition_is_tried_on_the_columns() {
        assert!(validate(&alert("x > 1 AND \"rowid\" = 2"), &columns(&["x", "rowid"])).is_ok());
        let e = validate(&alert("y > 1"), &columns(&["x"])).unwrap_err();
        assert!(e.contains("no such column: y"), "{e}");
        // Names SQLite would take for one column, and the row number's own name.
        for names in [&["a", "A"][..], &["user", "_tally row"][..]] {
            let e = validate(&alert("1 = 1"), &columns(names)).unwrap_err();
            assert!(e.contains("two columns named"), "{e}");
        }
        // The key of a `fire = "change"` alert names the report's columns.
        let keyed = Alert {
            fire: Fire::Change,
            key: vec!["segment".into()],
            ..alert("x > 1")
        };
        let e = validate(&keyed, &columns(&["x"])).unwrap_err();
        assert!(e.contains("key `segment` is not a column"), "{e}");
        assert!(validate(&keyed, &columns(&["x", "segment"])).is_ok());
    }

    #[test]
    fn matching_rows_come_back_in_order_with_their_values() {
        let report = Report {
            name: "q".into(),
            title: "q".into(),
            first: "2026-11-01".parse().unwrap(),
            last: "2026-11-02".parse().unwrap(),
            columns: columns(&["rowid", "share"]),
            rows: vec![
                vec![Value::Text("x".into()), Value::Int(10)],
                vec![Value::Text("y".into()), Value::Int(40)],
                vec![Value::Text("z".into()), Value::Null],
            ],
            body: Body::Table,
            style: Default::default(),
            definition: String::new(),
        };
        let fired = evaluate(&alert("share < 30 OR share IS NULL"), &report)
            .unwrap()
            .unwrap();
        assert_eq!(fired.name, "alerts.a");
        assert_eq!(
            fired.rows,
            vec![report.rows[0].clone(), report.rows[2].clone()]
        );
        assert!(evaluate(&alert("share > 100"), &report).unwrap().is_none());
    }
}
