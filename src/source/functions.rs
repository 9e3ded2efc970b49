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
