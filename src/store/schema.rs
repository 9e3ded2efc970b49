//! The store's schema as an ordered list of migrations. The store records how many it has
//! applied (`schema_version` in `_tally_meta`); opening it applies the rest, each in its own
//! transaction. A store that a newer tally has migrated further is refused and left untouched.

use rusqlite::{Connection, OptionalExtension};

use super::StoreError;

/// Migration `i` takes the store from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: checkpoints, rollup definitions, deliveries and run history.
    "CREATE TABLE IF NOT EXISTS _tally_rollups (
         name TEXT PRIMARY KEY,
         fingerprint TEXT NOT NULL,
         created_at TEXT NOT NULL
     );
     CREATE TABLE IF NOT EXISTS _tally_slices (
         rollup TEXT NOT NULL,
         start TEXT NOT NULL,
         end TEXT NOT NULL,
         day TEXT NOT NULL,
         rows INTEGER NOT NULL,
         pulled_at TEXT NOT NULL,
         PRIMARY KEY (rollup, start)
     );
     CREATE TABLE IF NOT EXISTS _tally_deliveries (
         destination TEXT NOT NULL,
         report TEXT NOT NULL,
         day TEXT NOT NULL,
         message_ts TEXT,
         done INTEGER NOT NULL,
         updated_at TEXT NOT NULL,
         PRIMARY KEY (destination, report, day)
     );
     CREATE TABLE IF NOT EXISTS _tally_runs (
         id INTEGER PRIMARY KEY,
         started_at TEXT NOT NULL,
         finished_at TEXT,
         status TEXT NOT NULL,
         trigger TEXT NOT NULL,
         report_date TEXT NOT NULL,
         pulled TEXT NOT NULL,
         deliveries TEXT NOT NULL,
         error TEXT
     );",
    // 2: partial scores as one blob per segment and day (schema 1 kept one row per user; they
    // are a cache, rebuilt on the next report).
    "CREATE TABLE IF NOT EXISTS _tally_partials (
         segment TEXT NOT NULL,
         day TEXT NOT NULL,
         version TEXT NOT NULL,
         partials BLOB NOT NULL,
         PRIMARY KEY (segment, day)
     );
     DROP TABLE IF EXISTS _tally_scores;
     DROP TABLE IF EXISTS _tally_score_days;",
    // 3: a digest of each slice's rows, so that a slice pulled again with the same rows keeps its
    // rows and the cached scores of its day.
    "ALTER TABLE _tally_slices ADD COLUMN digest TEXT;",
    // 4: the lines of built-in reports per day, so that a daily run computes the new day only.
    "CREATE TABLE IF NOT EXISTS _tally_report_days (
         report TEXT NOT NULL,
         day TEXT NOT NULL,
         version TEXT NOT NULL,
         lines TEXT NOT NULL,
         PRIMARY KEY (report, day)
     );",
];

/// The schema version this tally writes.
pub const VERSION: usize = MIGRATIONS.len();

/// The version a store is at: 0 for a new file.
pub fn version(conn: &Connection) -> rusqlite::Result<usize> {
    let has_meta: bool = conn.query_row(
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_tally_meta'",
        [],
        |r| r.get(0),
    )?;
    if !has_meta {
        return Ok(0);
    }
    let text: Option<String> = conn
        .query_row(
            "SELECT value FROM _tally_meta WHERE key = 'schema_version'",
            [],
            |r| r.get(0),
        )
        .optional()?;
    Ok(text.and_then(|t| t.parse().ok()).unwrap_or(0))
}

/// Brings the store up to [`VERSION`]; `err` wraps SQLite's errors.
pub fn migrate(
    conn: &Connection,
    err: impl Fn(String, rusqlite::Error) -> StoreError,
) -> Result<(), StoreError> {
    let found = version(conn).map_err(|e| err("reading the schema version".into(), e))?;
    if found > VERSION {
        return Err(StoreError::Newer {
            found,
            known: VERSION,
        });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found) {
        let to = i + 1;
        let batch = format!(
            "BEGIN IMMEDIATE;
             CREATE TABLE IF NOT EXISTS _tally_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             {sql}
             INSERT OR REPLACE INTO _tally_meta (key, value) VALUES ('schema_version', '{to}');
             COMMIT;"
        );
        if let Err(e) = conn.execute_batch(&batch) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(err(
                format!("upgrading the store to schema version {to}"),
                e,
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_store_gets_every_migration_and_a_second_open_none() {
        let conn = Connection::open_in_memory().unwrap();
        let err = |c: String, e| StoreError::Sqlite {
            path: ":memory:".into(),
            context: c,
            source: e,
        };
        migrate(&conn, err).unwrap();
        assert_eq!(version(&conn).unwrap(), VERSION);
        migrate(&conn, err).unwrap();
        conn.execute(
            "INSERT INTO _tally_slices VALUES ('r', 's', 'e', 'd', 1, 'p', 'x')",
            [],
        )
        .unwrap();
    }

    #[test]
    fn a_store_from_a_newer_tally_is_refused() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE _tally_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             INSERT INTO _tally_meta VALUES ('schema_version', '99');",
        )
        .unwrap();
        let err = |c: String, e| StoreError::Sqlite {
            path: ":memory:".into(),
            context: c,
            source: e,
        };
        assert!(matches!(
            migrate(&conn, err),
            Err(StoreError::Newer { found: 99, .. })
        ));
    }
}
