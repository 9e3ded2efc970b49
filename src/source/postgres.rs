//! PostgreSQL through tokio-postgres: a read-only session, rows streamed with `query_raw`.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use chrono_tz::Tz;
use futures_util::{TryStreamExt, pin_mut};
use rust_decimal::Decimal;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, NoTls, Row, Statement};

use super::query::{Dialect, slice_sql};
use super::{Errors, Explain, PullError, RowSink, SourceError, TableInfo, chain};
use crate::config::{Rollup, SourceSpec};
use crate::value::Value;

/// An open PostgreSQL session.
pub struct Postgres {
    client: Client,
    timezone: Tz,
    errors: Errors,
    /// Each rollup's prepared slice query, prepared once per session.
    statements: HashMap<String, Statement>,
}

impl Postgres {
    /// Connects and makes the session read-only with a statement timeout.
    pub async fn connect(spec: &SourceSpec) -> Result<Postgres, SourceError> {
        let errors = Errors::new(spec);
        let (client, connection) = tokio_postgres::connect(&spec.url, NoTls)
            .await
            .map_err(|e| errors.at("connecting", chain(&e)))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!("postgres connection closed: {e}");
            }
        });
        let setup = format!(
            "SET default_transaction_read_only = on; SET statement_timeout = {}; \
             SET application_name = 'tally'",
            spec.statement_timeout.as_millis()
        );
        client
            .batch_execute(&setup)
            .await
            .map_err(|e| errors.at("opening a read-only session", e))?;
        Ok(Postgres {
            client,
            timezone: spec.timezone,
            errors,
            statements: HashMap::new(),
        })
    }

    /// Prepares the slice query: PostgreSQL checks the table and columns and tells the time
    /// column's type.
    pub async fn check(&mut self, rollup: &Rollup) -> Result<TableInfo, SourceError> {
        let stmt = self.prepare(rollup).await?;
        let time_column = match stmt.params().first() {
            Some(t) if *t == Type::TIMESTAMPTZ => "timestamptz".to_string(),
            Some(t) => format!("{t} in {}", self.timezone),
            None => "unknown".into(),
        };
        Ok(TableInfo { time_column })
    }

    async fn prepare(&mut self, rollup: &Rollup) -> Result<Statement, SourceError> {
        if let Some(stmt) = self.statements.get(&rollup.name) {
            return Ok(stmt.clone());
        }
        let stmt = self
            .client
            .prepare(&slice_sql(rollup, Dialect::Postgres))
            .await
            .map_err(|e| self.errors.rollup(rollup, db_message(&e)))?;
        self.statements.insert(rollup.name.clone(), stmt.clone());
        Ok(stmt)
    }

    /// `EXPLAIN (FORMAT JSON)` of the slice query with real bounds: a custom plan, as the
    /// slice query gets.
    pub async fn explain(
        &mut self,
        rollup: &Rollup,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<Explain, SourceError> {
        let sql = format!(
            "EXPLAIN (FORMAT JSON) {}",
            slice_sql(rollup, Dialect::Postgres)
        );
        let stmt = self
            .client
            .prepare(&sql)
            .await
            .map_err(|e| self.errors.rollup(rollup, db_message(&e)))?;
        let bounds = self.bounds(rollup, stmt.params().first(), start, end)?;
        let params: Vec<&(dyn ToSql + Sync)> = bounds.iter().map(|b| b.as_ref()).collect();
        let row = self
            .client
            .query_one(&stmt, &params)
            .await
            .map_err(|e| self.errors.rollup(rollup, db_message(&e)))?;
        let plan: serde_json::Value = row.try_get(0).map_err(|e| self.errors.rollup(rollup, e))?;
        let table = rollup.table.last().expect("a table name");
        let mut scans = Vec::new();
        scan_nodes(&plan[0]["Plan"], &mut scans);
        let full_scan = scans.iter().any(|n| {
            n["Node Type"] == "Seq Scan" && n["Relation Name"].as_str() == Some(table.as_str())
        });
        let access = scans.iter().map(describe).collect::<Vec<_>>().join(", ");
        let rows = scans
            .iter()
            .filter_map(|n| n["Plan Rows"].as_f64())
            .reduce(f64::max);
        Ok(Explain {
            access,
            full_scan,
            rows,
        })
    }

    /// Streams one slice into `sink`.
    pub async fn pull<S: RowSink>(
        &mut self,
        rollup: &Rollup,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
        sink: &mut S,
    ) -> Result<u64, PullError<S::Error>> {
        let stmt = self.prepare(rollup).await?;
        let bounds = self.bounds(rollup, stmt.params().first(), start, end)?;
        let params: Vec<&(dyn ToSql + Sync)> = bounds.iter().map(|b| b.as_ref()).collect();
        let stream = self
            .client
            .query_raw(&stmt, params)
            .await
            .map_err(|e| self.query_error(rollup, &e))?;
        pin_mut!(stream);
        let mut rows = 0;
        while let Some(row) = stream
            .try_next()
            .await
            .map_err(|e| self.query_error(rollup, &e))?
        {
            let values = (0..row.len())
                .map(|i| value(&row, i))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|m| self.errors.rollup(rollup, m))?;
            sink.row(values).await.map_err(PullError::Sink)?;
            rows += 1;
        }
        Ok(rows)
    }

    /// Slice bounds typed like the time column: instants for timestamptz, wall-clock times in
    /// the source's zone for naive timestamps.
    fn bounds(
        &self,
        rollup: &Rollup,
        param: Option<&Type>,
        start: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Result<[Box<dyn ToSql + Sync>; 2], SourceError> {
        let naive = |t: DateTime<Utc>| t.with_timezone(&self.timezone).naive_local();
        match param {
            Some(t) if *t == Type::TIMESTAMPTZ => Ok([Box::new(start), Box::new(end)]),
            Some(t) if *t == Type::TIMESTAMP => Ok([Box::new(naive(start)), Box::new(naive(end))]),
            Some(t) if *t == Type::DATE => Err(self.errors.rollup(
                rollup,
                format!(
                    "time column `{}` is a date; it needs a time of day (timestamp or timestamptz)",
                    rollup.time
                ),
            )),
            other => Err(self.errors.rollup(
                rollup,
                format!(
                    "time column `{}` has type {}; use a timestamp or timestamptz column",
                    rollup.time,
                    other.map(|t| t.to_string()).unwrap_or_default()
                ),
            )),
        }
    }

    fn query_error(&self, rollup: &Rollup, e: &tokio_postgres::Error) -> SourceError {
        let mut err = self.errors.rollup(rollup, db_message(e));
        err.timed_out = e.code() == Some(&SqlState::QUERY_CANCELED);
        err
    }
}

/// The server's message when there is one (tokio-postgres' Display says only "db error").
fn db_message(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => match db.hint() {
            Some(hint) => format!("{} (hint: {hint})", db.message()),
            None => db.message().to_string(),
        },
        None => e.to_string(),
    }
}

fn value(row: &Row, i: usize) -> Result<Value, String> {
    let ty = row.columns()[i].type_();
    let err = |e: tokio_postgres::Error| format!("column {} ({ty}): {e}", i + 1);
    let v = match *ty {
        Type::BOOL => row
            .try_get::<_, Option<bool>>(i)
            .map_err(err)?
            .map(|b| Value::Int(b.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(i)
            .map_err(err)?
            .map(|n| Value::Int(n.into())),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(i)
            .map_err(err)?
            .map(|n| Value::Int(n.into())),
        Type::INT8 => row
            .try_get::<_, Option<i64>>(i)
            .map_err(err)?
            .map(Value::Int),
        Type::OID => row
            .try_get::<_, Option<u32>>(i)
            .map_err(err)?
            .map(|n| Value::Int(n.into())),
        Type::NUMERIC => row
            .try_get::<_, Option<Decimal>>(i)
            .map_err(err)?
            .map(Value::from_decimal),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(i)
            .map_err(err)?
            .map(|f| Value::Float(f.into())),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(i)
            .map_err(err)?
            .map(Value::Float),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => row
            .try_get::<_, Option<String>>(i)
            .map_err(err)?
            .map(Value::Text),
        Type::TIMESTAMP => row
            .try_get::<_, Option<NaiveDateTime>>(i)
            .map_err(err)?
            .map(|t| Value::Text(t.to_string())),
        Type::TIMESTAMPTZ => row
            .try_get::<_, Option<DateTime<Utc>>>(i)
            .map_err(err)?
            .map(|t| Value::Text(t.to_rfc3339())),
        Type::DATE => row
            .try_get::<_, Option<NaiveDate>>(i)
            .map_err(err)?
            .map(|d| Value::Text(d.to_string())),
        _ => {
            return Err(format!(
                "column {} has type {ty}, which tally does not store; cast it in the expression (e.g. `expr::text`)",
                i + 1
            ));
        }
    };
    Ok(v.unwrap_or(Value::Null))
}

/// The nodes of a plan that read a relation (scans), depth first.
fn scan_nodes<'a>(node: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
    if node["Relation Name"].is_string()
        || node["Node Type"]
            .as_str()
            .is_some_and(|t| t.contains("Index Scan"))
    {
        out.push(node);
    }
    for child in node["Plans"].as_array().into_iter().flatten() {
        scan_nodes(child, out);
    }
}

/// `Index Scan using idx on actions`, `Seq Scan on actions`.
fn describe(node: &&serde_json::Value) -> String {
    let mut text = node["Node Type"].as_str().unwrap_or("?").to_string();
    if let Some(index) = node["Index Name"].as_str() {
        text += &format!(" using {index}");
    }
    if let Some(rel) = node["Relation Name"].as_str() {
        text += &format!(" on {rel}");
    }
    text
}
