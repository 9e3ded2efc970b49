//! The functions a rollup's SQL fragments (`user`, dimensions, measures, `filter`) may call, per
//! database: string, math, date and time, conversion, conditional and JSON functions that change
//! nothing, read nothing beyond the row and never wait, and the aggregates a measure may use.
//! Anything else is refused when the config is read (a source's `allow_functions` adds names).
//! One lower-case name a line; ClickHouse's names are compared without regard to case.

/// PostgreSQL (checked against `pg_proc`: every overload immutable or stable).
pub const POSTGRES: &str = include_str!("functions/postgres.txt");

/// MySQL and MariaDB.
pub const MYSQL: &str = include_str!("functions/mysql.txt");

/// ClickHouse (checked against `system.functions`).
pub const CLICKHOUSE: &str = include_str!("functions/clickhouse.txt");

/// SQLite (checked against `PRAGMA function_list`).
pub const SQLITE: &str = include_str!("functions/sqlite.txt");

#[cfg(test)]
mod tests {
    use sqlparser::dialect::{ClickHouseDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};

    use super::*;
    use crate::check::sql::{Fragments, expression};

    const PG: &Fragments = &Fragments {
        dialect: &PostgreSqlDialect {},
        builtin: Some(POSTGRES),
        allowed: &[],
        source: Some("chain"),
    };
    const MY: &Fragments = &Fragments {
        dialect: &MySqlDialect {},
        builtin: Some(MYSQL),
        allowed: &[],
        source: Some("chain"),
    };

    /// Every list is lower case, one name a line, sorted, without repeats.
    #[test]
    fn the_lists_are_tidy() {
        for list in [POSTGRES, MYSQL, CLICKHOUSE, SQLITE] {
            let names: Vec<&str> = list.lines().collect();
            let mut sorted = names.clone();
            sorted.sort_unstable();
            sorted.dedup();
            assert_eq!(names, sorted);
            assert!(names.iter().all(|n| {
                !n.is_empty()
                    && n.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
            }));
        }
    }

    /// The functions a security review found accepted and run: each is refused, named.
    #[test]
    fn what_a_security_review_found_run_is_refused() {
        let ch = &Fragments {
            dialect: &ClickHouseDialect {},
            builtin: Some(CLICKHOUSE),
            allowed: &[],
            source: Some("events"),
        };
        let lite = &Fragments {
            dialect: &SQLiteDialect {},
            builtin: Some(SQLITE),
            allowed: &[],
            source: Some("demo"),
        };
        for (rules, bad) in [
            (PG, "pg_stat_reset_shared('bgwriter') IS NULL"),
            (PG, "pg_stat_reset_single_table_counters(1) IS NULL"),
            (PG, "lo_from_bytea(0, 'x') > 0"),
            (PG, "pg_replication_origin_create('x') > 0"),
            (PG, "pg_read_file('/etc/passwd')"),
            (PG, "query_to_xml('select 1', true, true, '')::text"),
            (PG, "pg_sleep(600) IS NULL"),
            (PG, "lower(pg_catalog.pg_read_file('/etc/passwd'))"),
            (MY, "LOAD_FILE('/etc/passwd')"),
            (MY, "SLEEP(600) = 0"),
            (MY, "BENCHMARK(1000000000, md5('x')) = 0"),
            (ch, "sleep(3) = 0"),
            (ch, "sleepEachRow(1) = 0"),
            (lite, "load_extension('x') IS NULL"),
            (lite, "randomblob(1000000000) IS NULL"),
        ] {
            let e = expression(bad, rules).unwrap_err();
            assert!(e.contains("allow_functions"), "{bad}: {e}");
        }
        for good in [
            "lower(signer)",
            "date_trunc('hour', t) > now() - interval '1 day'",
            "coalesce(nullif(trim(w), ''), 'x')",
            "substring(w from 1 for 4)",
        ] {
            assert!(expression(good, PG).is_ok(), "{good}");
        }
        assert!(expression("toDate(t) = today() AND lower(w) <> ''", ch).is_ok());
        assert!(expression("ifnull(json_extract(meta, '$.w'), w)", MY).is_ok());
        assert!(expression("substr(lower(w), 1, 4) = 'ab'", lite).is_ok());
    }
}
