//! Custom SQL over the store, on a read-only connection: custom reports and `tally query`.

use chrono::NaiveDate;

use super::ReportError;
use crate::store::{Store, read_only};
use crate::value::Value;

/// Runs `sql` read-only. With a range, `:start` and `:end` are bound to its first and last day
/// (`YYYY-MM-DD`); other named parameters are an error.
pub fn run(
    store: &Store,
    report: &str,
    sql: &str,
    range: Option<(NaiveDate, NaiveDate)>,
) -> Result<(Vec<String>, Vec<Vec<Value>>), ReportError> {
    let fail = |e: rusqlite::Error| match e.sqlite_error_code() {
        Some(rusqlite::ErrorCode::OperationInterrupted) => {
            ReportError::Interrupted(report.to_string())
        }
        _ => ReportError::Sql {
            report: report.to_string(),
            message: e.to_string(),
        },
    };
    let conn = store.reader()?;
    let mut stmt = prepare(&conn, report, sql)?;
    for i in 1..=stmt.parameter_count() {
        let name = stmt.parameter_name(i).unwrap_or("?").to_string();
        let value = match (name.as_str(), range) {
            (":start", Some((first, _))) => first.to_string(),
            (":end", Some((_, last))) => last.to_string(),
            _ => {
                return Err(ReportError::Sql {
                    report: report.to_string(),
                    message: format!(
                        "unknown parameter `{name}`{}",
                        if range.is_some() {
                            " (only :start and :end are bound)"
                        } else {
                            " (tally query binds no parameters)"
                        }
                    ),
                });
            }
        };
        stmt.raw_bind_parameter(i, value).map_err(fail)?;
    }
    let columns: Vec<String> = stmt.column_names().map(|c| c.to_string()).collect();
    let mut rows = Vec::new();
    let mut result = stmt.raw_query();
    while let Some(row) = result.next().map_err(fail)? {
        let cells = (0..columns.len())
            .map(|i| row.get_ref(i).map(|v| Value::from_sqlite(v, false)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(fail)?;
        rows.push(cells);
    }
    Ok((columns, rows))
}

/// The columns `sql` returns, from preparing it read-only (nothing runs).
pub fn columns(store: &Store, report: &str, sql: &str) -> Result<Vec<String>, ReportError> {
    let conn = store.reader()?;
    let stmt = prepare(&conn, report, sql)?;
    Ok(stmt.column_names().map(|c| c.to_string()).collect())
}

/// Prepares user SQL on a reader, refusing a statement that would write.
fn prepare<'c>(
    conn: &'c rusqlite::Connection,
    report: &str,
    sql: &str,
) -> Result<rusqlite::Statement<'c>, ReportError> {
    let fail = |message: String| ReportError::Sql {
        report: report.to_string(),
        message,
    };
    let stmt = conn.prepare(sql).map_err(|e| fail(e.to_string()))?;
    read_only::refuse_writes(&stmt).map_err(fail)?;
    Ok(stmt)
}
