//! The local store: one SQLite file in WAL mode with plain, documented tables (see
//! `docs/store.md`). A rollup's slice is replaced and checkpointed in one transaction, so a crash
//! leaves either the old slice or the new one.

mod alerts;
mod changes;
mod deliveries;
mod digest;
mod lock;
mod peek;
pub mod read_only;
mod report_days;
mod rollup;
mod runs;
pub mod schema;
mod segments;
mod sent;
mod slices;
mod sorted;
mod user;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags};

pub use alerts::Matched;
pub use deliveries::Delivery;
pub use lock::RunLock;
pub use rollup::SliceWriter;
pub use runs::RunRecord;
pub use segments::SegmentWriter;
pub use sent::{SentDay, SentRows};
pub use slices::{Checkpoint, pulled_instant};
pub use sorted::{RunReader, RunWriter};

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
        "another tally command (pid {holder}) is running on the store {path} (reached by this \
         path or another one); try again when it has finished (`tally run --wait` waits for it)"
    )]
    Locked {
        /// The store file.
        path: PathBuf,
        /// The holder's pid, from the kernel's lock table.
        holder: String,
    },
    /// The store file has a second name (a hard link).
    #[error(
        "store {path} has {links} hard links: SQLite keeps its write-ahead log beside the path it \
         opened, so two names of one file would write two logs and corrupt the store; keep one \
         name (a symlink is fine)"
    )]
    HardLinked {
        /// The store file.
        path: PathBuf,
        /// How many names the file has.
        links: u64,
    },
    /// `store` names a file that is not a tally store: tally leaves it alone.
    #[error(
        "store {path} is {what}, not a tally store: tally creates its tables only in a new or \
         empty file, and leaves others alone; point `store` at another file"
    )]
    Foreign {
        /// The file.
        path: PathBuf,
        /// What it is instead: "a SQLite database with the tables a, b, ...", "not a SQLite
        /// database".
        what: String,
    },
    /// A table tally would create or replace exists and is not one tally created.
    #[error(
        "store {path}: a table or view named `{name}` is there and tally did not create it; tally \
         never drops or changes what is not its own: rename it, or rename the {kind} in the config"
    )]
    NotOurs {
        /// The store file.
        path: PathBuf,
        /// The table's name.
        name: String,
        /// What tally wanted it for: `rollup`, `segment`.
        kind: &'static str,
    },
    /// The store holds a value tally cannot use (a measure that is not a number).
    #[error("{0}")]
    Data(String),
    /// A newer tally has written this store; this one would misread it.
    #[error(
        "the store was written by a newer tally (schema version {found}; this tally knows up to \
         {known}): upgrade tally, or point `store` at another file"
    )]
    Newer {
        /// The store's schema version.
        found: usize,
        /// The newest version this tally knows.
        known: usize,
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

impl StoreError {
    /// Whether SQLite refused a write to a store opened to read only.
    pub fn is_read_only(&self) -> bool {
        matches!(self, StoreError::Sqlite { source, .. }
            if source.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly))
    }
}

/// An open store.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Read as immutable (see [`Store::inspect`]): so are its readers.
    immutable: bool,
    /// The run lock, when this store was opened for a run (or held shared while it is read as
    /// immutable): declared after `conn`, so that the connection closes before the lock's
    /// descriptor does (see [`lock`]).
    _lock: Option<RunLock>,
}

impl Store {
    /// Takes the store's run lock (waiting for it with `wait`), then opens the store for
    /// writing: what every command that syncs, reports or delivers does.
    pub fn open_locked(path: &Path, wait: bool) -> Result<Store, StoreError> {
        let lock = RunLock::acquire(path, wait)?;
        let mut store = Store::open(path)?;
        store._lock = Some(lock);
        Ok(store)
    }

    /// Opens (or creates) the store for writing, without the run lock (the daemon's own
    /// bookkeeping between runs).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        if let Ok(meta) = std::fs::metadata(path) {
            lock::single_link(path, std::os::unix::fs::MetadataExt::nlink(&meta))?;
            // Before a connection that could write leaves a `-wal` and `-shm` beside it.
            refuse_foreign_at_rest(path, meta.len())?;
        }
        let conn = Connection::open(path).map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            context: "opening".into(),
            source,
        })?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
            immutable: false,
            _lock: None,
        };
        store
            .conn
            .busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|e| store.err("setting the busy timeout", e))?;
        // Refuse someone else's file, and a newer store, before anything (even the journal
        // mode) changes the file.
        store.refuse_foreign()?;
        let found =
            schema::version(&store.conn).map_err(|e| store.err("reading the schema version", e))?;
        if found > schema::VERSION {
            return Err(StoreError::Newer {
                found,
                known: schema::VERSION,
            });
        }
        // WAL lets readers (reports, `tally query`, other tools) work during a sync;
        // synchronous=NORMAL in WAL mode never corrupts and keeps each transaction atomic.
        // SQLite's own memory is bounded whatever the store's size: an 8 MB page cache (which
        // also bounds a sort's memory), sorts that spill to temporary files, no memory map.
        store
            .conn
            .execute_batch(
                "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; \
                 PRAGMA cache_size = -8192; PRAGMA temp_store = FILE; PRAGMA mmap_size = 0;",
            )
            .map_err(|e| store.err("enabling WAL", e))?;
        schema::migrate(&store.conn, |context, source| StoreError::Sqlite {
            path: path.to_path_buf(),
            context,
            source,
        })?;
        Ok(store)
    }

    /// Opens the store only to look at it (`plan`, `status`, `history`, `query`): an existing
    /// file read-only (so it works in a read-only folder, or as another user), or an empty store
    /// in memory when there is none yet, so that looking never creates or changes a file.
    ///
    /// A WAL store at rest has no `-shm` file, and a plain read-only connection would create
    /// one (and a `-wal`) owned by whoever reads. A user who cannot write the store must not
    /// leave those behind, since the owner's next run could not write them: such a user reads
    /// the file as immutable, holding the run lock shared so that no run changes it meanwhile.
    pub fn inspect(path: &Path) -> Result<Store, StoreError> {
        if !path.exists() {
            return Store::open(Path::new(":memory:"));
        }
        if let Ok(meta) = std::fs::metadata(path) {
            lock::single_link(path, std::os::unix::fs::MetadataExt::nlink(&meta))?;
            refuse_foreign_at_rest(path, meta.len())?;
        }
        let shm = PathBuf::from(format!("{}-shm", path.display()));
        let immutable = !shm.exists() && !writable(path);
        let lock = immutable.then(|| lock::shared(path)).transpose()?;
        let conn = open_read_only(path, immutable).map_err(|source| StoreError::Sqlite {
            path: path.to_path_buf(),
            context: "opening read-only".into(),
            source,
        })?;
        let store = Store {
            conn,
            path: path.to_path_buf(),
            immutable,
            _lock: lock,
        };
        store.refuse_foreign()?;
        let found =
            schema::version(&store.conn).map_err(|e| store.err("reading the schema version", e))?;
        if found > schema::VERSION {
            return Err(StoreError::Newer {
                found,
                known: schema::VERSION,
            });
        }
        Ok(store)
    }

    /// Fails unless the file is new, empty, or a tally store (see [`refuse_foreign`]).
    fn refuse_foreign(&self) -> Result<(), StoreError> {
        refuse_foreign(&self.conn, &self.path)
    }

    /// True when the store file exists (commands that only read it do not create it).
    pub fn exists(path: &Path) -> bool {
        path.exists()
    }

    /// True when the rollup's table is in the store (it was synced at least once).
    pub fn has_table(&self, name: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [name],
                |r| r.get(0),
            )
            .map_err(|e| self.err("reading the store's tables", e))
    }

    /// Opens a read-only connection to the store, for user SQL (`tally query`, custom reports):
    /// it refuses to attach files, set pragmas or reach outside the database ([`read_only`]),
    /// and a signal interrupts what it runs.
    pub fn reader(&self) -> Result<Connection, StoreError> {
        let ctx = "opening a read-only connection";
        let mut conn = open_read_only(&self.path, self.immutable).map_err(|e| self.err(ctx, e))?;
        conn.execute_batch("PRAGMA query_only = ON")
            .map_err(|e| self.err(ctx, e))?;
        crate::value::register_exact_sum(&conn)
            .map_err(|e| self.err("registering tally_sum", e))?;
        read_only::guard(&mut conn).map_err(|e| self.err(ctx, e))?;
        // A signal interrupts the statement (SQLITE_INTERRUPT), however long it would run.
        conn.progress_handler(1000, Some(crate::shutdown::requested))
            .map_err(|e| self.err(ctx, e))?;
        Ok(conn)
    }

    /// Whether the store was opened to read only ([`Store::inspect`]).
    pub fn read_only(&self) -> bool {
        self.conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false)
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

/// Fails unless the database is new, empty, or a tally store (it has `_tally_meta`): tally
/// never adopts someone else's SQLite file, whose tables could share a rollup's name.
fn refuse_foreign(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let foreign = |what: String| StoreError::Foreign {
        path: path.to_path_buf(),
        what,
    };
    let names = conn
        .prepare("SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name")
        .and_then(|mut s| {
            s.query_map([], |r| r.get::<_, String>(0))?
                .collect::<rusqlite::Result<Vec<String>>>()
        });
    let names = match names {
        Ok(names) => names,
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase) => {
            return Err(foreign("not a SQLite database".into()));
        }
        Err(source) => {
            return Err(StoreError::Sqlite {
                path: path.to_path_buf(),
                context: "reading the store's tables".into(),
                source,
            });
        }
    };
    if names.is_empty() || names.iter().any(|n| n == "_tally_meta") {
        return Ok(());
    }
    let shown: Vec<&str> = names.iter().take(5).map(String::as_str).collect();
    let more = match names.len() - shown.len() {
        0 => String::new(),
        n => format!(" and {n} more"),
    };
    Err(foreign(format!(
        "a SQLite database with other tables ({}{more})",
        shown.join(", ")
    )))
}

/// [`refuse_foreign`] for a file that is there, read without changing anything beside it: a
/// file that is not empty and does not start with SQLite's header is refused (SQLite itself
/// takes a file shorter than a page for an empty database), and a database at rest (no `-wal`)
/// is read as immutable.
fn refuse_foreign_at_rest(path: &Path, len: u64) -> Result<(), StoreError> {
    use std::io::Read;
    if len == 0 {
        return Ok(());
    }
    let mut header = [0u8; 16];
    let read = std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut header));
    if read.is_err() || &header != b"SQLite format 3\0" {
        return Err(StoreError::Foreign {
            path: path.to_path_buf(),
            what: "not a SQLite database".into(),
        });
    }
    if PathBuf::from(format!("{}-wal", path.display())).exists() {
        // In use: reading it as immutable could race a checkpoint, and there is nothing left
        // to spare; the check on the real connection follows.
        return Ok(());
    }
    let conn = open_read_only(path, true).map_err(|source| StoreError::Sqlite {
        path: path.to_path_buf(),
        context: "opening read-only".into(),
        source,
    })?;
    refuse_foreign(&conn, path)
}

/// Whether this process may write the file (opening it for writing changes nothing).
fn writable(path: &Path) -> bool {
    std::fs::OpenOptions::new().write(true).open(path).is_ok()
}

/// A read-only connection; with `immutable`, one that creates no file beside the store (see
/// [`Store::inspect`]). A WAL-mode store needs its `-shm` file to be read; a user who cannot
/// create it (a read-only folder) reads the store as immutable too, which is safe while no
/// `-wal` file shows a writer at work (and refused, with why, when one does).
fn open_read_only(path: &Path, immutable: bool) -> rusqlite::Result<Connection> {
    let open_immutable = || {
        let uri = format!(
            "file:{}?immutable=1",
            percent_encoding::utf8_percent_encode(
                &path.display().to_string(),
                percent_encoding::NON_ALPHANUMERIC
            )
            .to_string()
            .replace("%2F", "/")
        );
        Connection::open_with_flags(
            uri,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI,
        )
    };
    if immutable {
        return open_immutable();
    }
    let plain = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).and_then(|c| {
        c.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))
            .map(|()| c)
    });
    match plain {
        Ok(conn) => Ok(conn),
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::ReadOnly) => {
            let wal = PathBuf::from(format!("{}-wal", path.display()));
            if wal.exists() {
                return Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_READONLY),
                    Some(
                        "another process is writing the store, and this user cannot share its \
                         lock files (-shm): read it as the store's owner, or when the run is over"
                            .into(),
                    ),
                ));
            }
            open_immutable()
        }
        Err(e) => Err(e),
    }
}

/// A string literal for the few values that go into a batch (names and fingerprints, never user
/// data).
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// Quotes a SQLite identifier.
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}
