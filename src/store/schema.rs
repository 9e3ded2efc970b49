//! The store's schema as an ordered list of migrations. The store records how many it has
//! applied (`schema_version` in `_tally_meta`); opening it applies the rest, each in its own
//! transaction. A store that a newer tally has migrated further is refused and left untouched.

use rusqlite::{Connection, OptionalExtension};

use super::StoreError;

/// One migration.
enum Step {
    /// Statements that can run twice (`IF NOT EXISTS`).
    Sql(&'static str),
    /// A column added to a table, unless it is there already (a store that went back to an
    /// older tally and forward again).
    AddColumn(&'static str, &'static str, &'static str),
}

use Step::{AddColumn, Sql};

/// Migration `i` takes the store from version `i` to `i + 1`.
const MIGRATIONS: &[Step] = &[
    // 1: checkpoints, rollup definitions, deliveries and run history.
    Sql("CREATE TABLE IF NOT EXISTS _tally_rollups (
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
     );"),
    // 2: partial scores as one blob per segment and day (schema 1 kept one row per user; they
    // are a cache, rebuilt on the next report).
    Sql("CREATE TABLE IF NOT EXISTS _tally_partials (
         segment TEXT NOT NULL,
         day TEXT NOT NULL,
         version TEXT NOT NULL,
         partials BLOB NOT NULL,
         PRIMARY KEY (segment, day)
     );
     DROP TABLE IF EXISTS _tally_scores;
     DROP TABLE IF EXISTS _tally_score_days;"),
    // 3: a digest of each slice's rows, so that a slice pulled again with the same rows keeps its
    // rows and the cached scores of its day.
    AddColumn("_tally_slices", "digest", "TEXT"),
    // 4: the lines of built-in reports per day, so that a daily run computes the new day only.
    Sql("CREATE TABLE IF NOT EXISTS _tally_report_days (
         report TEXT NOT NULL,
         day TEXT NOT NULL,
         version TEXT NOT NULL,
         lines TEXT NOT NULL,
         PRIMARY KEY (report, day)
     );"),
    // 5: when a Slack post was last attempted, so that a post whose answer was lost (or a
    // crash right after posting) is looked for before posting again.
    AddColumn("_tally_deliveries", "posting_since", "TEXT"),
    // 6: the files already uploaded into the message's thread (`csv,png`).
    AddColumn("_tally_deliveries", "uploaded", "TEXT"),
    // 7: per-user results of a day as sorted runs, read a chunk at a time (memory does not grow
    // with users); they replace the one-blob-per-day partial scores, a cache.
    Sql("CREATE TABLE IF NOT EXISTS _tally_sorted (
         name TEXT NOT NULL,
         day TEXT NOT NULL,
         chunk INTEGER NOT NULL,
         data BLOB NOT NULL,
         PRIMARY KEY (name, day, chunk)
     );
     CREATE TABLE IF NOT EXISTS _tally_sorted_heads (
         name TEXT NOT NULL,
         day TEXT NOT NULL,
         version TEXT NOT NULL,
         rollup TEXT NOT NULL,
         chunks INTEGER NOT NULL,
         PRIMARY KEY (name, day)
     );
     CREATE INDEX IF NOT EXISTS _tally_sorted_heads_rollup ON _tally_sorted_heads (rollup, day);
     DROP TABLE IF EXISTS _tally_partials;"),
    // 8: the tables and views tally made outside its `_tally` names (rollups, their `_bi` views,
    // segments), so that it never drops or writes into a table it did not create. Rollups'
    // tables are known from `_tally_rollups`; segment tables are claimed when next written.
    Sql("CREATE TABLE IF NOT EXISTS _tally_tables (
         name TEXT PRIMARY KEY,
         kind TEXT NOT NULL
     );
     INSERT OR IGNORE INTO _tally_tables (name, kind) SELECT name, 'rollup' FROM _tally_rollups;
     INSERT OR IGNORE INTO _tally_tables (name, kind)
         SELECT name || '_bi', 'view' FROM _tally_rollups;"),
    // 9: why an earlier post's outcome is unknown (its answer, like an HTTP 500), so that the
    // run that resumes it can say so.
    AddColumn("_tally_deliveries", "attempt_note", "TEXT"),
    // 10: what each delivery showed, cell by cell, so that a later one can say what was revised;
    // why each slice last changed; and which rows each alert matched on each date.
    Sql("CREATE TABLE IF NOT EXISTS _tally_sent (
         id INTEGER PRIMARY KEY,
         destination TEXT NOT NULL,
         report TEXT NOT NULL,
         date TEXT NOT NULL,
         columns TEXT NOT NULL,
         definition TEXT NOT NULL,
         sent_at TEXT NOT NULL,
         UNIQUE (destination, report, date)
     );
     CREATE TABLE IF NOT EXISTS _tally_sent_rows (
         sent INTEGER NOT NULL,
         day TEXT NOT NULL,
         cells TEXT NOT NULL
     );
     CREATE INDEX IF NOT EXISTS _tally_sent_rows_sent ON _tally_sent_rows (sent, day);
     CREATE TABLE IF NOT EXISTS _tally_alert_rows (
         alert TEXT NOT NULL,
         date TEXT NOT NULL,
         key TEXT NOT NULL,
         since TEXT NOT NULL,
         PRIMARY KEY (alert, date, key)
     );"),
    AddColumn("_tally_slices", "changed_by", "TEXT"),
    AddColumn("_tally_slices", "changed_at", "TEXT"),
    // 13: when each segment's definition changed.
    Sql("CREATE TABLE IF NOT EXISTS _tally_segment_changes (
         segment TEXT NOT NULL,
         day TEXT NOT NULL,
         definition TEXT NOT NULL,
         changed TEXT NOT NULL,
         PRIMARY KEY (segment, day)
     );"),
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

/// Brings the store up to [`VERSION`]; `err` wraps SQLite's errors. The version is read again
/// inside the migrating transaction, so two processes opening a store at once migrate it once.
pub fn migrate(
    conn: &Connection,
    err: impl Fn(String, rusqlite::Error) -> StoreError,
) -> Result<(), StoreError> {
    if version(conn).map_err(|e| err("reading the schema version".into(), e))? == VERSION {
        return Ok(());
    }
    conn.execute_batch("BEGIN IMMEDIATE")
        .map_err(|e| err("upgrading the store".into(), e))?;
    let result = apply(conn, &err);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = conn
        .execute_batch(end)
        .map_err(|e| err("upgrading the store".into(), e));
    result.and(ended)
}

/// The migrations the store lacks, inside the caller's transaction.
fn apply(
    conn: &Connection,
    err: &impl Fn(String, rusqlite::Error) -> StoreError,
) -> Result<(), StoreError> {
    let found = version(conn).map_err(|e| err("reading the schema version".into(), e))?;
    if found > VERSION {
        return Err(StoreError::Newer {
            found,
            known: VERSION,
        });
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(found) {
        let to = i + 1;
        let ctx = || format!("upgrading the store to schema version {to}");
        let sql = match step {
            Sql(sql) => sql.to_string(),
            AddColumn(table, column, decl) => {
                let exists: bool = conn
                    .query_row(
                        "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
                        [table, column],
                        |r| r.get(0),
                    )
                    .map_err(|e| err(ctx(), e))?;
                if exists {
                    String::new()
                } else {
                    format!("ALTER TABLE {table} ADD COLUMN {column} {decl};")
                }
            }
        };
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS _tally_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
             {sql}
             INSERT OR REPLACE INTO _tally_meta (key, value) VALUES ('schema_version', '{to}');"
        ))
        .map_err(|e| err(ctx(), e))?;
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
            "INSERT INTO _tally_slices VALUES ('r', 's', 'e', 'd', 1, 'p', 'x', 'new', 'p')",
            [],
        )
        .unwrap();
    }

    #[test]
    fn a_store_sent_back_to_version_2_migrates_again() {
        let conn = Connection::open_in_memory().unwrap();
        let err = |c: String, e| StoreError::Sqlite {
            path: ":memory:".into(),
            context: c,
            source: e,
        };
        migrate(&conn, err).unwrap();
        // An older tally set the version back; the digest column is still there.
        conn.execute(
            "UPDATE _tally_meta SET value = '2' WHERE key = 'schema_version'",
            [],
        )
        .unwrap();
        migrate(&conn, err).unwrap();
        assert_eq!(version(&conn).unwrap(), VERSION);
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
