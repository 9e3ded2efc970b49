//! The one query tally sends: an aggregate over one time slice, written in each source's dialect.

use crate::config::{Agg, Rollup, SourceKind};

/// SQL dialect of a source.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// PostgreSQL: `"ident"`, `$1`.
    Postgres,
    /// MySQL and MariaDB: `` `ident` ``, `?`.
    Mysql,
    /// SQLite: `"ident"`, `?1`; `sum` becomes the exact `tally_sum`.
    Sqlite,
}

impl From<SourceKind> for Dialect {
    fn from(kind: SourceKind) -> Dialect {
        match kind {
            SourceKind::Postgres => Dialect::Postgres,
            SourceKind::Mysql => Dialect::Mysql,
            SourceKind::Sqlite => Dialect::Sqlite,
        }
    }
}

impl Dialect {
    /// Quotes an identifier.
    pub fn quote(self, ident: &str) -> String {
        match self {
            Dialect::Mysql => format!("`{}`", ident.replace('`', "``")),
            Dialect::Postgres | Dialect::Sqlite => format!("\"{}\"", ident.replace('"', "\"\"")),
        }
    }

    fn param(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            Dialect::Mysql => "?".into(),
            Dialect::Sqlite => format!("?{n}"),
        }
    }

    /// The quoted table name (`schema.table` quoted part by part).
    pub fn table(self, rollup: &Rollup) -> String {
        rollup
            .table
            .iter()
            .map(|p| self.quote(p))
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// The aggregate query of one slice, with the slice's start and end as parameters 1 and 2:
/// `SELECT user, dims, measures FROM t WHERE (filter) AND time >= $1 AND time < $2 GROUP BY user, dims`.
pub fn slice_sql(rollup: &Rollup, dialect: Dialect) -> String {
    slice_sql_decimal(rollup, dialect, &[])
}

/// [`slice_sql`] for a SQLite source whose `decimal` measures sum columns declared DECIMAL or
/// NUMERIC: they use `tally_decimal_sum`, which reads SQLite's floats as the decimals they were.
pub fn slice_sql_decimal(rollup: &Rollup, dialect: Dialect, decimal: &[String]) -> String {
    let mut select = vec![rollup.user.clone()];
    select.extend(rollup.dimensions.iter().map(|d| d.expr.clone()));
    let group_by = select.join(", ");
    select.extend(rollup.measures.iter().map(|m| {
        let func = match (m.agg, dialect) {
            (Agg::Count, _) => "count",
            // SQLite's own sum() goes through floating point; tally_sum is exact.
            (Agg::Sum, Dialect::Sqlite) if decimal.contains(&m.name) => "tally_decimal_sum",
            (Agg::Sum, Dialect::Sqlite) => "tally_sum",
            (Agg::Sum, _) => "sum",
            (Agg::Min, _) => "min",
            (Agg::Max, _) => "max",
        };
        format!("{func}({})", m.arg)
    }));
    let time = dialect.quote(&rollup.time);
    let filter = rollup
        .filter
        .as_ref()
        .map(|f| format!("({f}) AND "))
        .unwrap_or_default();
    format!(
        "SELECT {} FROM {} WHERE {filter}{time} >= {} AND {time} < {} GROUP BY {group_by}",
        select.join(", "),
        dialect.table(rollup),
        dialect.param(1),
        dialect.param(2),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Dimension, Measure};
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
        assert_eq!(
            slice_sql(&rollup(), Dialect::Postgres),
            "SELECT lower(signer), type_id, count(*), sum(amount) FROM \"public\".\"tx_actions\" \
             WHERE (type_id <> 'noop') AND \"block_time\" >= $1 AND \"block_time\" < $2 \
             GROUP BY lower(signer), type_id"
        );
    }

    #[test]
    fn mysql_and_sqlite_dialects() {
        let my = slice_sql(&rollup(), Dialect::Mysql);
        assert!(my.contains("FROM `public`.`tx_actions`"), "{my}");
        assert!(
            my.contains("`block_time` >= ? AND `block_time` < ?"),
            "{my}"
        );
        let lite = slice_sql(&rollup(), Dialect::Sqlite);
        assert!(lite.contains("tally_sum(amount)"), "{lite}");
        assert!(lite.contains(">= ?1 AND"), "{lite}");
    }
}
