//! The local store: one SQLite file in WAL mode with plain, documented tables (see
//! `docs/store.md`). A rollup's slice is replaced and checkpointed in one transaction, so a crash
//! leaves either the old slice or the new one.

mod deliveries;
mod lock;
mod rollup;
mod runs;
mod slices;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

pub use deliveries::Delivery;
pub use lock::RunLock;
pub use rollup::SliceWriter;
pub use runs::RunRecord;
pub use slices::Checkpoint;

/// A store failure, with what tally was doing.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused something.
    #[error("store {path}: {context}: {source}")]
    Sqlite {
        /// The store file.
        path: PathBuf,
        /// What tally was doing.
        context: String,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// Another tally process holds the run lock.
    #[error(
        "another tally command (pid {holder}) is running on this store (lock {path}); \
         wait for it to finish, or use `tally run --wait`"
    )]
    Locked {
        /// The lock file.
        path: PathBuf,
        /// The pid written by the holder.
        holder: String,
    },
    /// A file beside the store (its directory, the lock) could not be used.
    #[error("{path}: {source}")]
    Io {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS _tally_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS _tally_rollups (
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
);
CREATE TABLE IF NOT EXISTS _tally_partials (
    segment TEXT NOT NULL,
    day TEXT NOT NULL,
    version TEXT NOT NULL,
    partials BLOB NOT NULL,
    PRIMARY KEY (segment, day)
);
INSERT OR IGNORE INTO _tally_meta (key, value) VALUES ('schema_version', '2');
-- Schema 1 kept the partial scores one row per user; they are a cache, rebuilt on the next report.
DROP TABLE IF EXISTS _tally_scores;
DROP TABLE IF EXISTS _tally_score_days;
UPDATE _tally_meta SET value = '2' WHERE key = 'schema_version' AND value = '1';
";

impl Store {
    /// Opens (or creates) the store for writing.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            context: "opening".into(),
            source,
        })?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
        };
        store
            .conn
            .busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| store.err("setting the busy timeout", e))?;
        // WAL lets readers (reports, `tally query`, other tools) work during a sync;
        // synchronous=NORMAL in WAL mode never corrupts and keeps each transaction atomic.
        store
            .conn
            .execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
            .map_err(|e| store.err("enabling WAL", e))?;
        store
            .conn
            .execute_batch(SCHEMA)
            .map_err(|e| store.err("creating tally's tables", e))?;
        Ok(store)
    }

    /// Opens the store only to look at it (`tally plan`): an existing file read-only, or an empty
    /// store in memory when there is none yet, so that looking never creates or changes a file.
    pub fn inspect(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Store::open(Path::new(":memory:"));
        }
        let conn = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(
            |source| StoreError::Sqlite {
                path: path.to_path_buf(),
                context: "opening read-only".into(),
                source,
            },
        )?;
        Ok(Store {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Opens a read-only connection to the store, for user SQL (`tally query`, custom reports).
    pub fn reader(&self) -> Result<Connection, StoreError> {
        let conn = Connection::open_with_flags(&self.path, OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|e| self.err("opening a read-only connection", e))?;
        conn.execute_batch("PRAGMA query_only = ON")
            .map_err(|e| self.err("opening a read-only connection", e))?;
        crate::value::register_exact_sum(&conn)
            .map_err(|e| self.err("registering tally_sum", e))?;
        Ok(conn)
    }

    /// The connection, for modules that read the store (segments, reports).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Wraps a SQLite error with the store's path and what was being done.
    pub fn err(&self, context: impl Into<String>, source: rusqlite::Error) -> StoreError {
        StoreError::Sqlite {
            path: self.path.clone(),
            context: context.into(),
            source,
        }
    }
}

/// `FROM <rollup> WHERE <day in [?1, ?2]>`, reading the rows in storage order. Each slice's rows
/// are written in one transaction, so a day's rows are one run of rowids: scanning that run reads
/// each page once, where going through the `(day, user)` index costs a random lookup per row.
/// The `+day` filter keeps the result exact whatever the layout.
pub fn days_from(rollup: &str) -> String {
    let t = quote(rollup);
    format!(
        "FROM {t} WHERE rowid BETWEEN (SELECT min(rowid) FROM {t} WHERE day BETWEEN ?1 AND ?2) \
         AND (SELECT max(rowid) FROM {t} WHERE day BETWEEN ?1 AND ?2) AND +day BETWEEN ?1 AND ?2"
    )
}

/// Quotes a SQLite identifier.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}
