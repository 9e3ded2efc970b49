//! Crash safety: SIGKILL in the middle of a many-slice sync, rerun, and the report equals the one
//! of an uninterrupted run.

use std::time::{Duration, Instant};

use crate::support::{PgDb, Workspace};

fn config(url: &str) -> String {
    format!(
        r#"
store = "store.sqlite"
[sources.chain]
url = "{url}"
pause = "5ms"
[rollups.activity]
source = "chain"
table = "actions"
time = "block_time"
user = "signer"
dimensions = {{ kind = "kind" }}
measures = {{ n = "count(*)", total = "sum(amount)" }}
slice = "1h"
keep = "3650d"
[reports.daily]
sql = "SELECT day, kind, sum(n) AS n, count(*) AS rows FROM activity WHERE day BETWEEN :start AND :end GROUP BY day, kind ORDER BY day, kind"
days = 20
"#
    )
}

fn slices_in_store(ws: &Workspace) -> i64 {
    let path = ws.path().join("store.sqlite");
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return 0;
    };
    conn.query_row("SELECT count(*) FROM _tally_slices", [], |r| r.get(0))
        .unwrap_or(0)
}

#[test]
fn sigkill_during_sync_loses_and_duplicates_nothing() {
    let db = PgDb::new();
    db.exec(
        "CREATE TABLE actions (signer text, kind text, amount numeric(18,6), block_time timestamptz);
         INSERT INTO actions
           SELECT 'u' || (i % 50), 'k' || (i % 7), (i % 1000) / 1000.0, timestamptz '2026-10-01 00:00Z' + i * interval '37 seconds'
           FROM generate_series(0, 46000) AS i;
         CREATE INDEX ON actions (block_time);",
    );
    let args = ["sync", "--from", "2026-10-01", "--to", "2026-10-20"];
    let reference = Workspace::new(&config(&db.url));
    reference.ok(&args);
    let report = [
        "report",
        "--no-sync",
        "--date",
        "2026-10-20",
        "--format",
        "csv",
    ];
    let want = reference.ok(&report);
    assert!(want.lines().count() > 100);

    let ws = Workspace::new(&config(&db.url));
    let mut child = ws.command(&args).spawn().unwrap();
    let started = Instant::now();
    while slices_in_store(&ws) < 40 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "sync made no progress"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "sync ended before it could be killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let done = slices_in_store(&ws);
    assert!(
        done < 480,
        "killed after all slices ({done}); the test needs a slower sync"
    );

    ws.ok(&args);
    assert_eq!(slices_in_store(&ws), 480);
    assert_eq!(ws.ok(&report), want);
    let dump = "SELECT * FROM activity ORDER BY day, user, kind";
    assert_eq!(ws.query(dump), reference.query(dump));
}

/// A store whose schema is newer than this tally knows is refused, and the file is not touched.
#[test]
fn a_store_from_a_newer_tally_is_refused_untouched() {
    let ws = crate::support::Workspace::new("store = \"store.sqlite\"\n");
    let path = ws.path().join("store.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE _tally_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         INSERT INTO _tally_meta VALUES ('schema_version', '99');",
    )
    .unwrap();
    drop(conn);
    let bytes = std::fs::read(&path).unwrap();
    for args in [
        &["sync", "--from", "2026-11-01", "--to", "2026-11-01"][..],
        &["status"][..],
    ] {
        let (code, text) = crate::support::output(&ws, args);
        assert_eq!(code, 1, "{args:?}: {text}");
        assert!(
            text.contains("written by a newer tally (schema version 99; this tally knows up to"),
            "{args:?}: {text}"
        );
    }
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
    assert!(!ws.path().join("store.sqlite-wal").exists());
}

/// Two configs that reach one store through a symlink take the same run lock.
#[test]
fn a_store_reached_through_a_symlink_shares_its_lock() {
    let ws = crate::support::Workspace::new("store = \"real/store.sqlite\"\n");
    std::fs::create_dir(ws.path().join("real")).unwrap();
    std::os::unix::fs::symlink(ws.path().join("real"), ws.path().join("link")).unwrap();
    std::fs::write(
        ws.path().join("other.toml"),
        "store = \"link/store.sqlite\"\n",
    )
    .unwrap();
    let real = tally::store::RunLock::acquire(&ws.path().join("real/store.sqlite"), false).unwrap();
    let other = tally::store::RunLock::acquire(&ws.path().join("link/store.sqlite"), false);
    assert!(
        matches!(other, Err(tally::store::StoreError::Locked { .. })),
        "{other:?}"
    );
    drop(real);
    assert!(tally::store::RunLock::acquire(&ws.path().join("link/store.sqlite"), false).is_ok());
}
