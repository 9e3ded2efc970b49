//! The one cell type that flows through the pipeline: from a source row, into the store, into a
//! report. Money stays a [`Decimal`] from the driver to the rendered report: no `f64` on that path.

use std::cmp::Ordering;
use std::fmt;

use rusqlite::ToSql;
use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};
use rust_decimal::Decimal;

/// A single cell of a rollup row or a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A whole number (counts, integer sums).
    Int(i64),
    /// An exact decimal (DECIMAL/NUMERIC sums); keeps the scale the source gave it.
    Dec(Decimal),
    /// A floating-point number (only when the source column itself is floating point).
    Float(f64),
    /// Text (users, dimension values, dates).
    Text(String),
}

impl Value {
    /// Builds a value from an exact decimal, turning whole numbers of scale 0 into [`Value::Int`]
    /// so that `sum(int_column)` (a NUMERIC in PostgreSQL, a DECIMAL in MySQL) stays an integer.
    pub fn from_decimal(d: Decimal) -> Value {
        match i64::try_from(d) {
            Ok(i) if d.scale() == 0 => Value::Int(i),
            _ => Value::Dec(d),
        }
    }

    /// True for numbers (integers, decimals and floats).
    pub fn is_numeric(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Dec(_) | Value::Float(_))
    }

    /// The value as an exact decimal, when it is a number (or text holding one).
    pub fn to_decimal(&self) -> Option<Decimal> {
        match self {
            Value::Int(i) => Some(Decimal::from(*i)),
            Value::Dec(d) => Some(*d),
            Value::Float(f) => Decimal::try_from(*f).ok(),
            Value::Text(t) => t.parse().ok(),
            Value::Null => None,
        }
    }

    /// The value as text, for keys (users, dimension values); `None` for NULL.
    pub fn to_key(&self) -> Option<String> {
        match self {
            Value::Null => None,
            Value::Text(t) => Some(t.clone()),
            other => Some(other.to_string()),
        }
    }

    /// Adds two partial sums (of the same measure over two slices). NULL is the identity.
    pub fn add(&self, other: &Value) -> Value {
        match (self, other) {
            (Value::Null, v) | (v, Value::Null) => v.clone(),
            (Value::Int(a), Value::Int(b)) => match a.checked_add(*b) {
                Some(s) => Value::Int(s),
                None => Value::Dec(Decimal::from(*a) + Decimal::from(*b)),
            },
            (Value::Float(a), b) | (b, Value::Float(a)) => {
                Value::Float(a + b.to_f64().unwrap_or(0.0))
            }
            (a, b) => match (a.to_decimal(), b.to_decimal()) {
                (Some(x), Some(y)) => Value::Dec(x + y),
                _ => a.clone(),
            },
        }
    }

    /// Orders two values of the same measure (numbers numerically, text as text).
    pub fn compare(&self, other: &Value) -> Ordering {
        match (self, other) {
            (Value::Null, Value::Null) => Ordering::Equal,
            (Value::Null, _) => Ordering::Less,
            (_, Value::Null) => Ordering::Greater,
            (Value::Int(a), Value::Int(b)) => a.cmp(b),
            (Value::Text(a), Value::Text(b)) => a.cmp(b),
            (a, b) => match (a.to_decimal(), b.to_decimal()) {
                (Some(x), Some(y)) => x.cmp(&y),
                _ => a.to_string().cmp(&b.to_string()),
            },
        }
    }

    fn to_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Dec(d) => d.to_string().parse().ok(),
            Value::Float(f) => Some(*f),
            Value::Text(t) => t.parse().ok(),
            Value::Null => None,
        }
    }
}

/// SQLite cells (the store, SQLite sources): decimals are stored as text in plain notation, so
/// that they stay exact and keep their scale.
impl ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(*i)),
            Value::Dec(d) => ToSqlOutput::Owned(rusqlite::types::Value::Text(d.to_string())),
            Value::Float(f) => ToSqlOutput::Borrowed(ValueRef::Real(*f)),
            Value::Text(t) => ToSqlOutput::Borrowed(ValueRef::Text(t.as_bytes())),
        })
    }
}

impl Value {
    /// Reads a SQLite cell. With `decimal_text`, text that holds a number is read as an exact
    /// decimal (how the store keeps DECIMAL measures).
    pub fn from_sqlite(v: ValueRef<'_>, decimal_text: bool) -> Value {
        match v {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(i) => Value::Int(i),
            ValueRef::Real(f) => Value::Float(f),
            ValueRef::Text(t) => {
                let text = String::from_utf8_lossy(t);
                match text.parse::<Decimal>() {
                    Ok(d) if decimal_text => Value::Dec(d),
                    _ => Value::Text(text.into_owned()),
                }
            }
            ValueRef::Blob(b) => Value::Text(String::from_utf8_lossy(b).into_owned()),
        }
    }
}

impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Null => Ok(()),
            Value::Int(i) => write!(f, "{i}"),
            // Decimal's Display is plain notation that keeps the scale ("12.50000000").
            Value::Dec(d) => write!(f, "{d}"),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(t) => f.write_str(t),
        }
    }
}

/// Registers `tally_sum(x)` on a SQLite connection: the exact sum used for SQLite sources and
/// offered to custom SQL over the store.
pub fn register_exact_sum(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.create_aggregate_function(
        "tally_sum",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        ExactSum,
    )
}

/// `tally_sum(x)`: integers sum as integers, decimal text sums exactly (keeping its scale),
/// floats as floats.
struct ExactSum;

enum Acc {
    Int(i64),
    Dec(Decimal),
    Float(f64),
}

impl Aggregate<Option<Acc>, Option<SqlValue>> for ExactSum {
    fn init(&self, _: &mut Context<'_>) -> rusqlite::Result<Option<Acc>> {
        Ok(None)
    }

    fn step(&self, ctx: &mut Context<'_>, acc: &mut Option<Acc>) -> rusqlite::Result<()> {
        let next = match ctx.get_raw(0) {
            ValueRef::Null => return Ok(()),
            ValueRef::Integer(i) => Acc::Int(i),
            ValueRef::Real(f) => Acc::Float(f),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .ok()
                .and_then(|s| s.trim().parse().ok())
                .map(Acc::Dec)
                .ok_or_else(|| {
                    rusqlite::Error::UserFunctionError(
                        format!(
                            "tally_sum: `{}` is not a number",
                            String::from_utf8_lossy(t)
                        )
                        .into(),
                    )
                })?,
            ValueRef::Blob(_) => {
                return Err(rusqlite::Error::UserFunctionError("tally_sum: blob".into()));
            }
        };
        *acc = Some(match (acc.take(), next) {
            (None, n) => n,
            (Some(Acc::Int(a)), Acc::Int(b)) => match a.checked_add(b) {
                Some(s) => Acc::Int(s),
                None => Acc::Dec(Decimal::from(a) + Decimal::from(b)),
            },
            (Some(Acc::Float(a)), n) | (Some(n), Acc::Float(a)) => Acc::Float(a + n.as_f64()),
            (Some(a), b) => Acc::Dec(a.as_decimal() + b.as_decimal()),
        });
        Ok(())
    }

    fn finalize(
        &self,
        _: &mut Context<'_>,
        acc: Option<Option<Acc>>,
    ) -> rusqlite::Result<Option<SqlValue>> {
        Ok(acc.flatten().map(|a| match a {
            Acc::Int(i) => SqlValue::Integer(i),
            Acc::Dec(d) => SqlValue::Text(d.to_string()),
            Acc::Float(f) => SqlValue::Real(f),
        }))
    }
}

impl Acc {
    fn as_f64(&self) -> f64 {
        match self {
            Acc::Int(i) => *i as f64,
            Acc::Dec(d) => d.to_string().parse().unwrap_or(f64::NAN),
            Acc::Float(f) => *f,
        }
    }

    fn as_decimal(&self) -> Decimal {
        match self {
            Acc::Int(i) => Decimal::from(*i),
            Acc::Dec(d) => *d,
            Acc::Float(f) => Decimal::try_from(*f).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn decimal_sums_keep_scale_and_exactness() {
        let a = Value::Dec(Decimal::from_str("0.10000000").unwrap());
        let b = Value::Dec(Decimal::from_str("0.20000000").unwrap());
        assert_eq!(a.add(&b).to_string(), "0.30000000");
    }

    #[test]
    fn whole_decimals_become_integers() {
        assert_eq!(
            Value::from_decimal(Decimal::from_str("42").unwrap()),
            Value::Int(42)
        );
        assert!(matches!(
            Value::from_decimal(Decimal::from_str("42.0").unwrap()),
            Value::Dec(_)
        ));
    }

    #[test]
    fn null_is_the_identity_of_add() {
        assert_eq!(Value::Null.add(&Value::Int(3)), Value::Int(3));
        assert_eq!(Value::Int(3).add(&Value::Null), Value::Int(3));
    }
}
