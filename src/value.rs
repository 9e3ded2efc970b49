//! The one cell type that flows through the pipeline: from a source row, into the store, into a
//! report. Money stays an arbitrary-precision [`BigDecimal`] from the driver to the rendered
//! report: no `f64` on that path, and no limit on digits short of absurd ([`MAX_DIGITS`]).

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;

use bigdecimal::{BigDecimal, RoundingMode, Signed, ToPrimitive, Zero};
use num_bigint::BigInt;
use num_integer::Integer;
use rusqlite::ToSql;
use rusqlite::functions::{Aggregate, Context, FunctionFlags};
use rusqlite::types::{ToSqlOutput, Value as SqlValue, ValueRef};

/// The most digits a decimal may have when written out in plain notation (its digits plus the
/// zeros its exponent adds): far beyond any SQL DECIMAL (MySQL 65, PostgreSQL 131,072 before the
/// point is possible but not a money amount), and small enough that writing it out is cheap.
pub const MAX_DIGITS: u64 = 1000;

/// Reads a decimal in plain or scientific notation; `None` when it is not a number or would
/// take more than [`MAX_DIGITS`] digits to write out.
pub fn parse_decimal(text: &str) -> Option<BigDecimal> {
    let d = BigDecimal::from_str(text.trim()).ok()?;
    fits(&d).then_some(d)
}

/// True when `d` writes out in at most [`MAX_DIGITS`] digits.
pub fn fits(d: &BigDecimal) -> bool {
    let (int, scale) = d.as_bigint_and_scale();
    let digits = int.magnitude().bits() as f64 * std::f64::consts::LOG10_2;
    digits + (scale.unsigned_abs() as f64) <= MAX_DIGITS as f64
}

/// `d` in plain notation, keeping its scale ("12.50", never "1.25E+1").
pub fn plain(d: &BigDecimal) -> String {
    d.to_plain_string()
}

/// `num / den` rounded half-even to `places` decimals, exactly (whatever the digits). `den`
/// must not be 0.
pub fn div_half_even(num: &BigDecimal, den: &BigDecimal, places: u32) -> BigDecimal {
    let scale = num
        .fractional_digit_count()
        .max(den.fractional_digit_count());
    let (n, _) = num.with_scale(scale).into_bigint_and_scale();
    let (d, _) = den.with_scale(scale).into_bigint_and_scale();
    let negative = n.is_negative() != d.is_negative() && !n.is_zero();
    let (n, d): (BigInt, BigInt) = (n.abs() * BigInt::from(10).pow(places), d.abs());
    let (mut q, r) = n.div_rem(&d);
    let twice = r * 2;
    if twice > d || (twice == d && q.is_odd()) {
        q += 1;
    }
    BigDecimal::new(if negative { -q } else { q }, i64::from(places))
}

/// `d` with at least `scale` decimals, never fewer than it has (nothing is cut): a column of
/// amounts shown at the report's largest scale.
pub fn at_scale(d: &BigDecimal, scale: i64) -> BigDecimal {
    d.with_scale(scale.max(d.fractional_digit_count()))
}

/// The most decimals among `amounts` (0 without any, and never below 0).
pub fn largest_scale<'a>(amounts: impl IntoIterator<Item = &'a BigDecimal>) -> i64 {
    amounts
        .into_iter()
        .map(BigDecimal::fractional_digit_count)
        .max()
        .unwrap_or(0)
        .max(0)
}

/// `100 * part / total`, rounded half-even to one decimal, exactly (whatever the digits); 0.0
/// when the total is 0.
pub fn share(part: &BigDecimal, total: &BigDecimal) -> BigDecimal {
    if total.is_zero() {
        return BigDecimal::new(BigInt::zero(), 1);
    }
    // Bring both to one scale, then share×10 = round(1000 × P / T) on integers.
    let scale = part
        .fractional_digit_count()
        .max(total.fractional_digit_count());
    let (p, _) = part.with_scale(scale).into_bigint_and_scale();
    let (t, _) = total.with_scale(scale).into_bigint_and_scale();
    let negative = p.is_negative() != t.is_negative() && !p.is_zero();
    let (p, t): (BigInt, BigInt) = (p.abs() * 1000, t.abs());
    let (mut q, r) = p.div_rem(&t);
    let twice = r * 2;
    if twice > t || (twice == t && q.is_odd()) {
        q += 1;
    }
    BigDecimal::new(if negative { -q } else { q }, 1)
}

/// Serde of an exact decimal as its plain text (`"12.50"`, scale kept), for what tally keeps:
/// `#[serde(with = "decimal_text")]`.
pub mod decimal_text {
    use bigdecimal::BigDecimal;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Writes `d` as plain text.
    pub fn serialize<S: Serializer>(d: &BigDecimal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::plain(d))
    }

    /// Reads what [`serialize`] wrote.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BigDecimal, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_decimal(&text).ok_or_else(|| D::Error::custom("not a decimal"))
    }
}

/// [`decimal_text`] for a list of decimals.
pub mod decimal_texts {
    use bigdecimal::BigDecimal;
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    /// Writes each decimal as plain text.
    pub fn serialize<S: Serializer>(ds: &[BigDecimal], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(ds.iter().map(super::plain))
    }

    /// Reads what [`serialize`] wrote.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<BigDecimal>, D::Error> {
        Vec::<String>::deserialize(d)?
            .iter()
            .map(|t| super::parse_decimal(t).ok_or_else(|| D::Error::custom("not a decimal")))
            .collect()
    }
}

/// Half-even rounding to `places` decimals (for ratios computed with [`BigDecimal`]'s division).
pub fn round(d: &BigDecimal, places: i64) -> BigDecimal {
    d.with_scale_round(places, RoundingMode::HalfEven)
}

/// A single cell of a rollup row or a report.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A whole number (counts, integer sums).
    Int(i64),
    /// An exact decimal (DECIMAL/NUMERIC sums); keeps the scale the source gave it.
    Dec(BigDecimal),
    /// A floating-point number (only when the source column itself is floating point).
    Float(f64),
    /// Text (users, dimension values, dates).
    Text(String),
}

impl Value {
    /// Builds a value from an exact decimal, turning whole numbers of scale 0 that fit in an
    /// `i64` into [`Value::Int`] so that `sum(int_column)` (a NUMERIC in PostgreSQL, a DECIMAL in
    /// MySQL) stays an integer.
    pub fn from_decimal(d: BigDecimal) -> Value {
        if d.fractional_digit_count() <= 0 && fits(&d) {
            // Whole, possibly with a negative scale (1E+2 after normalizing): exact at scale 0.
            if let Some(i) = d.with_scale(0).as_bigint_and_scale().0.to_i64() {
                return Value::Int(i);
            }
        }
        Value::Dec(d)
    }

    /// True for numbers (integers, decimals and floats).
    pub fn is_numeric(&self) -> bool {
        matches!(self, Value::Int(_) | Value::Dec(_) | Value::Float(_))
    }

    /// The value as an exact decimal, when it is a number (or text holding one). A float
    /// becomes the decimal of its shortest round-trip text (0.1, not 0.1000000000000000055…).
    pub fn to_decimal(&self) -> Option<BigDecimal> {
        match self {
            Value::Int(i) => Some(BigDecimal::from(*i)),
            Value::Dec(d) => Some(d.clone()),
            Value::Float(f) if f.is_finite() => parse_decimal(&f.to_string()),
            Value::Float(_) => None,
            Value::Text(t) => parse_decimal(t),
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
                None => Value::Dec(BigDecimal::from(*a) + BigDecimal::from(*b)),
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
            Value::Dec(d) => d.to_f64(),
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
            Value::Dec(d) => ToSqlOutput::Owned(rusqlite::types::Value::Text(plain(d))),
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
                match parse_decimal(&text) {
                    Some(d) if decimal_text => Value::Dec(d),
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
            // Plain notation that keeps the scale ("12.50000000").
            Value::Dec(d) => f.write_str(&plain(d)),
            Value::Float(x) => write!(f, "{x}"),
            Value::Text(t) => f.write_str(t),
        }
    }
}

/// Registers `tally_sum(x)` on a SQLite connection: the exact sum used for SQLite sources and
/// offered to custom SQL over the store; and `tally_decimal_sum(x)`, the same for a column
/// declared DECIMAL or NUMERIC, whose values SQLite keeps as floats when they look like numbers.
pub fn register_exact_sum(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    let flags = FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC;
    conn.create_aggregate_function("tally_sum", 1, flags, ExactSum { decimal: false })?;
    conn.create_aggregate_function("tally_decimal_sum", 1, flags, ExactSum { decimal: true })
}

/// `tally_sum(x)`: integers sum as integers, decimal text sums exactly (keeping its scale),
/// floats as floats. With `decimal`, a float is read as the decimal of its shortest round-trip
/// text (SQLite stored the column's '12.34' as the float 12.34; 12.34 is what it meant).
struct ExactSum {
    decimal: bool,
}

enum Acc {
    Int(i64),
    Dec(BigDecimal),
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
            ValueRef::Real(f) if self.decimal => {
                Value::Float(f).to_decimal().map(Acc::Dec).ok_or_else(|| {
                    rusqlite::Error::UserFunctionError(
                        format!("tally_decimal_sum: {f} is not a number").into(),
                    )
                })?
            }
            ValueRef::Real(f) => Acc::Float(f),
            ValueRef::Text(t) => std::str::from_utf8(t)
                .ok()
                .and_then(parse_decimal)
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
                None => Acc::Dec(BigDecimal::from(a) + BigDecimal::from(b)),
            },
            (Some(Acc::Float(a)), n) | (Some(n), Acc::Float(a)) => Acc::Float(a + n.as_f64()),
            (Some(a), b) => Acc::Dec(a.into_decimal() + b.into_decimal()),
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
            Acc::Dec(d) => SqlValue::Text(plain(&d)),
            Acc::Float(f) => SqlValue::Real(f),
        }))
    }
}

impl Acc {
    fn as_f64(&self) -> f64 {
        match self {
            Acc::Int(i) => *i as f64,
            Acc::Dec(d) => d.to_f64().unwrap_or(f64::NAN),
            Acc::Float(f) => *f,
        }
    }

    fn into_decimal(self) -> BigDecimal {
        match self {
            Acc::Int(i) => BigDecimal::from(i),
            Acc::Dec(d) => d,
            // Unreachable: a float in the sum makes it a float sum.
            Acc::Float(f) => parse_decimal(&f.to_string()).unwrap_or_default(),
        }
    }
}

/// A number rounded to `places` decimals, half to even (as shares are), for people: exact
/// decimals and numeric text become decimals with exactly `places` decimals, floats too (through
/// their shortest decimal form); integers and other values stay as they are.
pub fn rounded(v: &Value, places: u32) -> Value {
    let exact = match v {
        Value::Dec(d) => d.clone(),
        Value::Float(f) if f.is_finite() => match parse_decimal(&f.to_string()) {
            Some(d) => d,
            None => return v.clone(),
        },
        Value::Text(t) => match parse_decimal(t) {
            Some(d) if d.fractional_digit_count() > 0 => d,
            _ => return v.clone(),
        },
        _ => return v.clone(),
    };
    Value::Dec(exact.with_scale_round(i64::from(places), bigdecimal::RoundingMode::HalfEven))
}

/// A number as people read it (Slack, charts): thousands separators, decimals at their scale;
/// other values as they are.
pub fn number(v: &Value) -> String {
    match v {
        Value::Int(_) | Value::Dec(_) => {
            let text = v.to_string();
            let (sign, digits) = text
                .strip_prefix('-')
                .map_or(("", text.as_str()), |d| ("-", d));
            let (int, frac) = digits
                .split_once('.')
                .map_or((digits, None), |(i, f)| (i, Some(f)));
            let mut grouped = String::new();
            for (i, ch) in int.chars().enumerate() {
                if i > 0 && (int.len() - i) % 3 == 0 {
                    grouped.push(',');
                }
                grouped.push(ch);
            }
            match frac {
                Some(f) => format!("{sign}{grouped}.{f}"),
                None => format!("{sign}{grouped}"),
            }
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> BigDecimal {
        parse_decimal(s).unwrap()
    }

    #[test]
    fn amounts_are_rounded_half_to_even_for_people() {
        let r = |v: Value| rounded(&v, 1).to_string();
        assert_eq!(r(Value::Dec(d("12.25"))), "12.2");
        assert_eq!(r(Value::Dec(d("12.35"))), "12.4");
        assert_eq!(r(Value::Dec(d("-12.35"))), "-12.4");
        assert_eq!(r(Value::Dec(d("7"))), "7.0");
        assert_eq!(r(Value::Int(7)), "7");
        assert_eq!(r(Value::Text("1.05".into())), "1.0");
        assert_eq!(r(Value::Text("u1".into())), "u1");
        assert_eq!(r(Value::Float(2.675)), "2.7");
        assert_eq!(
            rounded(&Value::Dec(d("1000000000000000000.5")), 0).to_string(),
            "1000000000000000000"
        );
    }

    #[test]
    fn decimal_sums_keep_scale_and_exactness() {
        let a = Value::Dec(d("0.10000000"));
        let b = Value::Dec(d("0.20000000"));
        assert_eq!(a.add(&b).to_string(), "0.30000000");
    }

    #[test]
    fn wei_sized_sums_stay_exact() {
        // Two claims of 5e26 with 8 decimals: more digits than rust_decimal's 28.
        let claim = Value::Dec(d("500000000000000000000000000.00000000"));
        assert_eq!(
            claim.add(&claim).to_string(),
            "1000000000000000000000000000.00000000"
        );
        let big = d(
            "1234567890123456789012345678901234567890123456789012345678901234.567890123456789012345678901234",
        );
        assert_eq!(Value::Dec(big.clone()).to_string(), plain(&big));
        assert_eq!(
            Value::Int(i64::MAX).add(&Value::Int(1)).to_string(),
            "9223372036854775808"
        );
    }

    #[test]
    fn whole_decimals_become_integers() {
        assert_eq!(Value::from_decimal(d("42")), Value::Int(42));
        assert!(matches!(Value::from_decimal(d("42.0")), Value::Dec(_)));
        assert!(matches!(
            Value::from_decimal(d("99999999999999999999")),
            Value::Dec(_)
        ));
    }

    #[test]
    fn absurd_exponents_are_not_numbers() {
        assert!(parse_decimal("1e5").is_some());
        assert!(parse_decimal("1e999999999").is_none());
        assert!(parse_decimal("1e-999999999").is_none());
        assert!(parse_decimal("12abc").is_none());
    }

    #[test]
    fn shares_round_half_even_exactly() {
        let s = |p: &str, t: &str| plain(&share(&d(p), &d(t)));
        assert_eq!(s("1", "8"), "12.5");
        assert_eq!(s("1", "16"), "6.2");
        assert_eq!(s("3", "16"), "18.8");
        assert_eq!(s("5", "0"), "0.0");
        assert_eq!(s("1", "1"), "100.0");
        assert_eq!(s("0.00000001", "3"), "0.0");
        assert_eq!(s("-1", "8"), "-12.5");
        assert_eq!(
            s(
                "500000000000000000000000000",
                "1000000000000000000000000000.00000000"
            ),
            "50.0"
        );
        // Exactly half of the last place, far beyond 28 digits: half-even keeps the even digit.
        assert_eq!(s("1", "1600000000000000000000000000000000000000").len(), 3);
        assert_eq!(
            s(
                "25",
                "10000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
            ),
            "0.0"
        );
    }

    #[test]
    fn null_is_the_identity_of_add() {
        assert_eq!(Value::Null.add(&Value::Int(3)), Value::Int(3));
        assert_eq!(Value::Int(3).add(&Value::Null), Value::Int(3));
    }

    #[test]
    fn numbers_get_thousands_separators_and_keep_their_scale() {
        assert_eq!(number(&Value::Int(1234567)), "1,234,567");
        assert_eq!(number(&Value::Int(-999)), "-999");
        assert_eq!(
            number(&Value::Dec(parse_decimal("-12345.50").unwrap())),
            "-12,345.50"
        );
        assert_eq!(number(&Value::Text("1234".into())), "1234");
    }
}
