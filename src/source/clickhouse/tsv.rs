//! TabSeparated, as ClickHouse writes it: lines cut as the chunks of an answer arrive, cells
//! unescaped and read by their column's type, and a slice query's rows laid out as the user, the
//! dimensions and the measures, each exact sum followed by its guard.

use bigdecimal::BigDecimal;

use crate::rollup::{Agg, Rollup};
use crate::value::{Value, parse_decimal};

/// How the result's columns map to a row: the user and dimensions, then each measure, with the
/// guard that follows a non-float sum.
pub(super) struct Layout {
    /// Per measure: its sum's bound when a guard column follows it.
    guards: Vec<Option<f64>>,
    /// Columns before the measures.
    keys: usize,
    /// Whether each measure is a sum (its text is a decimal).
    sums: Vec<bool>,
    names: Vec<String>,
    /// The header lines (names, types) are still to come.
    header: u8,
    types: Vec<String>,
}

impl Layout {
    /// The layout of `rollup`'s slice query; `guards` has, per measure, the bound of its sum's
    /// guard when one follows it.
    pub(super) fn new(rollup: &Rollup, guards: Vec<Option<f64>>) -> Layout {
        Layout {
            guards,
            keys: 1 + rollup.dimensions.len(),
            sums: rollup.measures.iter().map(|m| m.agg == Agg::Sum).collect(),
            names: rollup.measures.iter().map(|m| m.name.clone()).collect(),
            header: 2,
            types: Vec::new(),
        }
    }

    /// The values of a line; `None` for the header lines.
    pub(super) fn row(&mut self, line: &str) -> Result<Option<Vec<Value>>, String> {
        if self.header > 0 {
            self.header -= 1;
            if self.header == 0 {
                self.types = line
                    .split('\t')
                    .map(|t| unescape(t).ok().flatten().unwrap_or_default())
                    .collect();
            }
            return Ok(None);
        }
        let cells: Vec<&str> = line.split('\t').collect();
        let want = self.keys + self.sums.len() + self.guards.iter().flatten().count();
        if cells.len() != want || self.types.len() != want {
            return Err(format!(
                "a row of {} columns where {want} were expected",
                cells.len()
            ));
        }
        let mut values = Vec::with_capacity(self.keys + self.sums.len());
        for (cell, ty) in cells.iter().zip(&self.types).take(self.keys) {
            values.push(value(cell, ty)?);
        }
        let mut i = self.keys;
        for (m, guard) in self.guards.iter().enumerate() {
            let v = value(cells[i], &self.types[i])
                .map_err(|e| format!("measure `{}`: {e}", self.names[m]))?;
            i += 1;
            if let Some(bound) = guard {
                let spread: f64 = cells[i].parse().unwrap_or(f64::INFINITY);
                i += 1;
                if spread.is_nan() || spread >= *bound {
                    return Err(format!(
                        "measure `{}`: the sum of this slice may not fit in the 38 digits of a \
                         ClickHouse Decimal128 (its values add up to about {spread:e} in absolute \
                         value), and ClickHouse does not say when a decimal sum overflows; sum \
                         fewer decimals, or in smaller slices",
                        self.names[m]
                    ));
                }
            }
            values.push(v);
        }
        Ok(Some(values))
    }
}

/// Lines of a streamed answer, cut at `\n` as the chunks arrive.
#[derive(Default)]
pub(super) struct Lines {
    /// What has come of the line not ended yet.
    pub(super) rest: Vec<u8>,
}

impl Lines {
    pub(super) fn push(&mut self, chunk: &[u8]) {
        self.rest.extend_from_slice(chunk);
    }

    pub(super) fn next_line(&mut self) -> Option<String> {
        let end = self.rest.iter().position(|b| *b == b'\n')?;
        let line: Vec<u8> = self.rest.drain(..=end).collect();
        Some(String::from_utf8_lossy(&line[..end]).into_owned())
    }
}

/// A cell read by its column's type: integers as integers, decimals exactly, floats as floats,
/// the rest as text.
pub(super) fn value(cell: &str, ty: &str) -> Result<Value, String> {
    let Some(text) = unescape(cell)? else {
        return Ok(Value::Null);
    };
    let ty = unwrap_type(ty);
    let bad = || format!("`{text}` is not a {ty}");
    Ok(match ty {
        "UInt8" | "UInt16" | "UInt32" | "Int8" | "Int16" | "Int32" | "Int64" => {
            Value::Int(text.parse().map_err(|_| bad())?)
        }
        "UInt64" => {
            let u: u64 = text.parse().map_err(|_| bad())?;
            i64::try_from(u).map_or_else(|_| Value::Dec(BigDecimal::from(u)), Value::Int)
        }
        "Float32" | "Float64" => Value::Float(text.parse().map_err(|_| bad())?),
        t if t.starts_with("Decimal") || t.starts_with("Int128") || t.starts_with("UInt128") => {
            Value::from_decimal(parse_decimal(&text).ok_or_else(bad)?)
        }
        _ => Value::Text(text),
    })
}

/// The type inside `Nullable(...)` and `LowCardinality(...)`.
pub(super) fn unwrap_type(ty: &str) -> &str {
    let mut t = ty.trim();
    for wrapper in ["LowCardinality(", "Nullable("] {
        if let Some(inner) = t.strip_prefix(wrapper).and_then(|r| r.strip_suffix(')')) {
            t = inner.trim();
        }
    }
    t
}

/// A cell of TabSeparated: `\N` is NULL, and backslash escapes are undone.
pub(super) fn unescape(cell: &str) -> Result<Option<String>, String> {
    if cell == "\\N" {
        return Ok(None);
    }
    if !cell.contains('\\') {
        return Ok(Some(cell.to_string()));
    }
    let mut out = String::with_capacity(cell.len());
    let mut chars = cell.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        out.push(match chars.next() {
            Some('t') => '\t',
            Some('n') => '\n',
            Some('r') => '\r',
            Some('b') => '\u{8}',
            Some('f') => '\u{c}',
            Some('0') => '\0',
            Some('a') => '\u{7}',
            Some('v') => '\u{b}',
            Some(other) => other,
            None => return Err(format!("`{cell}` ends in a backslash")),
        });
    }
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_separated_cells_are_unescaped() {
        assert_eq!(unescape("\\N").unwrap(), None);
        assert_eq!(unescape("a\\tb\\\\n\\n").unwrap().unwrap(), "a\tb\\n\n");
        assert_eq!(unescape("it\\'s").unwrap().unwrap(), "it's");
        assert!(unescape("x\\").is_err());
    }

    #[test]
    fn cells_are_read_by_type() {
        assert_eq!(value("42", "UInt64").unwrap(), Value::Int(42));
        assert_eq!(
            value("18446744073709551615", "UInt64").unwrap().to_string(),
            "18446744073709551615"
        );
        assert_eq!(
            value("1.500000000000000000", "Decimal(38, 18)")
                .unwrap()
                .to_string(),
            "1.500000000000000000"
        );
        assert_eq!(value("\\N", "Nullable(Int64)").unwrap(), Value::Null);
        assert_eq!(
            value("x\\ty", "String").unwrap(),
            Value::Text("x\ty".into())
        );
        assert!(value("abc", "Int32").is_err());
    }
}
