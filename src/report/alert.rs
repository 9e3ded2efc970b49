//! Alerts on a report's rows: the report's rows for its date go into a temporary SQLite table
//! named `report` (numeric columns typed as numbers), and the alert's condition selects the rows
//! that are sent.

use rusqlite::Connection;
use rusqlite::types::Value as SqlValue;

use super::{Body, Report, ReportError};
use crate::config::Alert;
use crate::value::Value;

/// The rows of `report` that match `alert`, as a report of their own (named
/// [`Alert::report_name`]); `None` when no row matches.
pub fn evaluate(alert: &Alert, report: &Report) -> Result<Option<Report>, ReportError> {
    let fail = |e: rusqlite::Error| ReportError::Alert {
        alert: alert.name.clone(),
        message: e.to_string(),
    };
    let conn = table(&report.columns, &report.rows).map_err(fail)?;
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {ROW} FROM report WHERE ({}) ORDER BY {ROW}",
            alert.condition
        ))
        .map_err(fail)?;
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
    }))
}

/// Checks the alert's condition against a report's columns, without any row.
pub fn validate(alert: &Alert, columns: &[String]) -> Result<(), String> {
    let conn = table(columns, &[]).map_err(|e| e.to_string())?;
    conn.prepare(&format!(
        "SELECT {ROW} FROM report WHERE ({})",
        alert.condition
    ))
    .map(|_| ())
    .map_err(|e| e.to_string())
}

/// The column that numbers the report's rows in the table (not `rowid`, which a report's own
/// column of that name would hide).
const ROW: &str = "\"_tally row\"";

/// An in-memory database with the table `report`: integer columns INTEGER, other numeric columns
/// REAL (so `share < 30` compares numbers), the rest TEXT; and [`ROW`] first.
fn table(columns: &[String], rows: &[Vec<Value>]) -> rusqlite::Result<Connection> {
    let conn = Connection::open_in_memory()?;
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
    Ok(conn)
}
