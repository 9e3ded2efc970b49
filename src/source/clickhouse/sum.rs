//! Exact sums on ClickHouse: integers are summed as `Decimal128(0)` (ClickHouse's integer sums
//! wrap around), and since ClickHouse before 20.x overflows decimal sums silently, each sum of a
//! decimal or an integer is followed by a guard column (`sum(abs(toFloat64(x)))`) that refuses a
//! slice whose sum could leave the 38 digits of the result.

use std::collections::HashMap;

use super::tsv::unwrap_type;
use crate::rollup::{Agg, Measure, Rollup};
use crate::source::query::{Quote, SliceSql};

/// How a sum measure is summed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Sum {
    /// Floats: summed as floats, as every database does.
    Float,
    /// Integers, as `Decimal128(0)` (ClickHouse's integer sums wrap around).
    Integer,
    /// Decimals of this scale: the sum keeps it.
    Decimal(u32),
}

impl Sum {
    /// The largest sum of absolute values that cannot overflow the 38-digit result.
    pub(super) fn bound(self) -> f64 {
        let scale = match self {
            Sum::Decimal(s) => s,
            _ => 0,
        };
        // A margin for the float sum's own rounding.
        0.99 * 10f64.powi(38 - scale as i32)
    }
}

/// The slice query. `sums` says how each sum measure is summed (standard `sum` when it is not
/// known yet); each non-float sum is followed by its guard column.
pub(super) fn slice_sql(
    rollup: &Rollup,
    sums: &HashMap<String, Sum>,
    bounds: (&str, &str),
) -> String {
    let measure = |m: &Measure| match (m.agg, sums.get(&m.name)) {
        (Agg::Count, _) => format!("count({})", m.arg),
        (Agg::Min, _) => format!("min({})", m.arg),
        (Agg::Max, _) => format!("max({})", m.arg),
        (Agg::Sum, Some(Sum::Float) | None) => format!("sum({})", m.arg),
        (Agg::Sum, Some(Sum::Integer)) => {
            format!("sum(toDecimal128({0}, 0)), sum(abs(toFloat64({0})))", m.arg)
        }
        (Agg::Sum, Some(Sum::Decimal(_))) => {
            format!("sum({0}), sum(abs(toFloat64({0})))", m.arg)
        }
    };
    SliceSql {
        quote: Quote::Backtick,
        bounds,
        measure: &measure,
    }
    .build(rollup)
}

/// How a sum of a column of type `ty` is summed; `None` when it is not a number.
pub(super) fn sum_kind(ty: &str) -> Option<Sum> {
    let t = unwrap_type(ty);
    if t.starts_with("Float") {
        return Some(Sum::Float);
    }
    if t.starts_with("Int") || t.starts_with("UInt") {
        return Some(Sum::Integer);
    }
    // Decimal(P, S), Decimal32(S), Decimal64(S), Decimal128(S).
    let args = t.strip_prefix("Decimal")?;
    let inner = args.split_once('(')?.1.trim_end_matches(')');
    let scale = inner.rsplit(',').next()?.trim().parse().ok()?;
    Some(Sum::Decimal(scale))
}

/// Per measure of `rollup`: the bound of its sum's guard, when one follows it.
pub(super) fn guards(rollup: &Rollup, sums: &HashMap<String, Sum>) -> Vec<Option<f64>> {
    rollup
        .measures
        .iter()
        .map(|m| match sums.get(&m.name) {
            Some(s @ (Sum::Integer | Sum::Decimal(_))) if m.agg == Agg::Sum => Some(s.bound()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_are_made_exact() {
        assert_eq!(sum_kind("Int32"), Some(Sum::Integer));
        assert_eq!(sum_kind("Nullable(UInt64)"), Some(Sum::Integer));
        assert_eq!(sum_kind("Decimal(38, 18)"), Some(Sum::Decimal(18)));
        assert_eq!(sum_kind("Decimal64(4)"), Some(Sum::Decimal(4)));
        assert_eq!(sum_kind("Float64"), Some(Sum::Float));
        assert_eq!(sum_kind("String"), None);
        assert!(Sum::Decimal(18).bound() < 1e20 && Sum::Decimal(18).bound() > 9e19);
    }
}
