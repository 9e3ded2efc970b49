//! The one query tally sends: an aggregate over one time slice. Each driver writes it in its
//! dialect through [`SliceSql`].

use crate::rollup::{Agg, Measure, Rollup};

/// How a database quotes identifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quote {
    /// `"ident"` (PostgreSQL, SQLite, standard SQL).
    Double,
    /// `` `ident` `` (MySQL, MariaDB, ClickHouse).
    Backtick,
}

impl Quote {
    /// Quotes an identifier.
    pub fn ident(self, ident: &str) -> String {
        match self {
            Quote::Backtick => format!("`{}`", ident.replace('`', "``")),
            Quote::Double => format!("\"{}\"", ident.replace('"', "\"\"")),
        }
    }

    /// The quoted table name (`schema.table` quoted part by part).
    pub fn table(self, rollup: &Rollup) -> String {
        rollup
            .table
            .iter()
            .map(|p| self.ident(p))
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// A driver's way of writing the slice query.
pub struct SliceSql<'a> {
    /// How identifiers are quoted.
    pub quote: Quote,
    /// The slice's bounds as the query writes them: parameters (`$1`, `?`) or literals.
    pub bounds: (&'a str, &'a str),
    /// Each measure's aggregate, like `sum(amount)`.
    pub measure: &'a dyn Fn(&Measure) -> String,
}

impl SliceSql<'_> {
    /// `SELECT user, dims, measures FROM t WHERE (filter) AND time >= start AND time < end
    /// GROUP BY user, dims`.
    pub fn build(&self, rollup: &Rollup) -> String {
        let mut select = vec![rollup.user.clone()];
        select.extend(rollup.dimensions.iter().map(|d| d.expr.clone()));
        let group_by = select.join(", ");
        select.extend(rollup.measures.iter().map(|m| (self.measure)(m)));
        let time = self.quote.ident(&rollup.time);
        let filter = rollup
            .filter
            .as_ref()
            .map(|f| format!("({f}) AND "))
            .unwrap_or_default();
        format!(
            "SELECT {} FROM {} WHERE {filter}{time} >= {} AND {time} < {} GROUP BY {group_by}",
            select.join(", "),
            self.quote.table(rollup),
            self.bounds.0,
            self.bounds.1,
        )
    }
}

/// The measure's aggregate with the standard names: `count(x)`, `sum(x)`, `min(x)`, `max(x)`.
pub fn standard(m: &Measure) -> String {
    let func = match m.agg {
        Agg::Count => "count",
        Agg::Sum => "sum",
        Agg::Min => "min",
        Agg::Max => "max",
    };
    format!("{func}({})", m.arg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rollup::{Dimension, Measure};
    use std::time::Duration;

    fn rollup() -> Rollup {
        Rollup {
            name: "activity".into(),
            source: "chain".into(),
            table: vec!["public".into(), "tx_actions".into()],
            time: "block_time".into(),
            user: "lower(signer)".into(),
            dimensions: vec![Dimension {
                name: "action".into(),
                expr: "type_id".into(),
            }],
            measures: vec![
                Measure {
                    name: "actions".into(),
                    agg: Agg::Count,
                    arg: "*".into(),
                },
                Measure {
                    name: "amount".into(),
                    agg: Agg::Sum,
                    arg: "amount".into(),
                },
            ],
            filter: Some("type_id <> 'noop'".into()),
            slice_hours: 24,
            lookback: Duration::from_secs(86_400),
            keep_days: 90,
            day_zone: chrono_tz::Tz::UTC,
            source_zone: chrono_tz::Tz::UTC,
            allow_full_scan: false,
        }
    }

    #[test]
    fn postgres_query_is_one_grouped_range_scan() {
        let sql = SliceSql {
            quote: Quote::Double,
            bounds: ("$1", "$2"),
            measure: &standard,
        };
        assert_eq!(
            sql.build(&rollup()),
            "SELECT lower(signer), type_id, count(*), sum(amount) FROM \"public\".\"tx_actions\" \
             WHERE (type_id <> 'noop') AND \"block_time\" >= $1 AND \"block_time\" < $2 \
             GROUP BY lower(signer), type_id"
        );
    }

    #[test]
    fn identifiers_are_quoted_in_the_dialect() {
        let sql = SliceSql {
            quote: Quote::Backtick,
            bounds: ("?", "?"),
            measure: &standard,
        };
        let my = sql.build(&rollup());
        assert!(my.contains("FROM `public`.`tx_actions`"), "{my}");
        assert!(
            my.contains("`block_time` >= ? AND `block_time` < ?"),
            "{my}"
        );
        assert_eq!(Quote::Backtick.ident("a`b"), "`a``b`");
        assert_eq!(Quote::Double.ident("a\"b"), "\"a\"\"b\"");
    }
}
