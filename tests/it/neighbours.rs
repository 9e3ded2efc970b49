//! Never harm what sits beside tally: a pooler shared with the application, the server's other
//! work, someone else's SQLite file, a store reached by two paths, a report that tries to write.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{MyDb, PgDb, Workspace, one_rollup, output, sync_day, unique};

const PG_ACTIONS: &str = "CREATE TABLE actions (signer text, block_time timestamptz);
     INSERT INTO actions SELECT 'u' || (i % 5), timestamptz '2026-06-10 00:00Z' + i * interval '30 minutes'
       FROM generate_series(0, 143) AS i;
     CREATE INDEX ON actions (block_time);";

/// Through pgbouncer in transaction mode with a pool of one server connection, as an
/// application's pooler runs: two syncs in a row work (no named prepared statement is left for
/// the next client to trip on), and the server connection they used is handed to the next
/// client as they found it: writable, with the server's statement timeout.
#[test]
fn pooled_postgres_sessions_leave_the_server_connection_as_they_found_it() {
    let db = PgDb::new();
    db.exec(PG_ACTIONS);
    db.exec("CREATE TABLE app (n int)");
    let pooled = db.pooled_url();
    let ws = Workspace::new(&one_rollup(
        &pooled,
        "statement_timeout = \"7s\"",
        "allow_full_scan = true",
    ));
    let checked = ws.ok(&["check"]);
    assert!(checked.contains("activity"), "{checked}");
    ws.ok(&sync_day("2026-06-10"));
    ws.ok(&sync_day("2026-06-11"));
    ws.ok(&sync_day("2026-06-12"));
    assert_eq!(ws.query("SELECT sum(n) FROM activity"), ["144"]);

    let default_timeout = db.rows(&db.url, "SHOW statement_timeout");
    let show = |setting: &str| db.rows(&pooled, &format!("SHOW {setting}"));
    assert_eq!(show("default_transaction_read_only"), [["off"]]);
    assert_eq!(show("transaction_read_only"), [["off"]]);
    assert_eq!(show("statement_timeout"), default_timeout);
    db.rows(&pooled, "INSERT INTO app VALUES (1)");
    assert_eq!(db.rows(&db.url, "SELECT count(*) FROM app"), [["1"]]);
    // Nothing prepared stays on the server connection.
    assert_eq!(
        db.rows(&pooled, "SELECT count(*) FROM pg_prepared_statements"),
        [["0"]]
    );
}

/// `parallel = 4` through a pool of one server connection: each day's 20,000 rows are more
/// than a connection may send ahead of the store, so a connection that got the server first
/// waits for the writer while holding it. The writer takes that connection's slice instead of
/// waiting for an earlier day whose connection waits for the pool (which never came), so the
/// sync finishes, exactly.
#[test]
fn parallel_connections_through_a_small_pool_do_not_wait_for_each_other() {
    let db = PgDb::new();
    db.exec(
        "CREATE TABLE actions (signer text, block_time timestamptz);
         INSERT INTO actions SELECT 'u' || i, timestamptz '2026-06-10 00:00Z' + (i % 8) * interval '1 day'
           FROM generate_series(0, 159999) AS i;
         CREATE INDEX ON actions (block_time);",
    );
    let ws = Workspace::new(&one_rollup(
        &db.pooled_url(),
        "parallel = 4\nstatement_timeout = \"20s\"\nconnect_timeout = \"5s\"",
        "",
    ));
    let (code, text) = output(&ws, &["sync", "--from", "2026-06-10", "--to", "2026-06-17"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(
        ws.query("SELECT count(DISTINCT day), count(*), sum(n) FROM activity"),
        ["8,160000,160000"]
    );
}

/// MariaDB: everything tally sends is a text-protocol statement (no prepared statement stays on
/// the connection), and what it sets, it sets for one statement (`SET STATEMENT ... FOR`),
/// as the server's general log shows.
#[test]
fn mariadb_sessions_set_nothing_on_the_connection() {
    let db = MyDb::new();
    db.exec(
        "CREATE TABLE actions (signer VARCHAR(8), block_time TIMESTAMP NULL, INDEX (block_time));
         INSERT INTO actions VALUES ('a', '2026-06-10 12:00:00'), ('b', '2026-06-11 01:00:00')",
    );
    let user = unique("tally_nb");
    db.admin_rows(&format!("CREATE USER '{user}'@'%'"));
    db.admin_rows(&format!("GRANT ALL ON {}.* TO '{user}'@'%'", db.name()));
    let url = crate::support::with_user(&db.url, &user);
    let ws = Workspace::new(&one_rollup(&url, "statement_timeout = \"9s\"", ""));
    db.admin_rows("SET GLOBAL log_output = 'TABLE'");
    db.admin_rows("SET GLOBAL general_log = 1");
    ws.ok(&["check"]);
    ws.ok(&sync_day("2026-06-10"));
    ws.ok(&sync_day("2026-06-11"));
    db.admin_rows("SET GLOBAL general_log = 0");
    let log = db.admin_rows(&format!(
        "SELECT command_type, CONVERT(argument USING utf8mb4) FROM mysql.general_log \
         WHERE user_host LIKE '{user}[%' ORDER BY event_time"
    ));
    db.admin_rows(&format!("DROP USER '{user}'@'%'"));
    assert_eq!(ws.query("SELECT sum(n) FROM activity"), ["2"]);
    assert!(
        log.iter().any(|r| r[1]
            .starts_with("SET STATEMENT max_statement_time = 9, time_zone = '+00:00' FOR SELECT")),
        "{log:?}"
    );
    for row in &log {
        let (command, text) = (&row[0], row[1].to_ascii_uppercase());
        assert_ne!(command, "Prepare", "{row:?}");
        assert!(
            !text.starts_with("SET ") || text.starts_with("SET STATEMENT "),
            "a setting left on the connection: {row:?}"
        );
    }
}

/// A config that calls a function off the list is refused by `check` and by `sync` alike,
/// naming the key and the function, before anything connects or any store is created.
#[test]
fn functions_off_the_list_are_refused_by_name() {
    for (url, filter, function) in [
        (
            "postgres://u@127.0.0.1/x",
            "pg_stat_reset_shared('bgwriter') IS NULL",
            "pg_stat_reset_shared",
        ),
        (
            "postgres://u@127.0.0.1/x",
            "length(pg_read_file('/etc/passwd')) > 0",
            "pg_read_file",
        ),
        (
            "postgres://u@127.0.0.1/x",
            "query_to_xml('select 1', true, true, '') IS NOT NULL",
            "query_to_xml",
        ),
        ("mysql://u@127.0.0.1/x", "SLEEP(600) = 0", "SLEEP"),
        (
            "mysql://u@127.0.0.1/x",
            "LOAD_FILE('/etc/passwd') IS NULL",
            "LOAD_FILE",
        ),
        (
            "mysql://u@127.0.0.1/x",
            "BENCHMARK(100000000, md5('x')) = 0",
            "BENCHMARK",
        ),
        ("clickhouse://u@127.0.0.1/x", "sleep(3) = 0", "sleep"),
        (
            "sqlite://src.sqlite",
            "randomblob(10) IS NULL",
            "randomblob",
        ),
    ] {
        let ws = Workspace::new(&one_rollup(url, "", &format!("filter = \"{filter}\"")));
        for args in [&["check"][..], &sync_day("2026-06-10")[..]] {
            let (code, text) = output(&ws, args);
            assert_eq!(code, 2, "{filter}: {text}");
            assert!(
                text.contains("rollups.activity.filter")
                    && text.contains(&format!("`{function}`"))
                    && text.contains("sources.db.allow_functions"),
                "{filter}: {text}"
            );
        }
        assert!(!ws.path().join("store.sqlite").exists());
    }
}

/// A `store` that names someone else's SQLite file is refused, naming it and its tables, and
/// the file is left byte for byte as it was: no WAL, no table dropped.
#[test]
fn a_foreign_sqlite_file_is_never_adopted() {
    let ws = Workspace::new(&one_rollup("sqlite://src.sqlite", "", ""));
    let src = rusqlite::Connection::open(ws.path().join("src.sqlite")).unwrap();
    src.execute_batch(
        "CREATE TABLE actions (signer TEXT, block_time TEXT);
         CREATE INDEX actions_t ON actions (block_time);
         INSERT INTO actions VALUES ('a', '2026-06-10 10:00:00');",
    )
    .unwrap();
    drop(src);
    let theirs = ws.path().join("store.sqlite");
    // Their database is in WAL mode, as most applications' are: refusing it leaves no -wal or
    // -shm file beside it.
    let conn = rusqlite::Connection::open(&theirs).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         CREATE TABLE activity (id INTEGER, what TEXT); INSERT INTO activity VALUES (1, 'mine');
         CREATE TABLE invoices (n INTEGER);",
    )
    .unwrap();
    drop(conn);
    let before = std::fs::read(&theirs).unwrap();
    let (code, text) = output(&ws, &["check"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("store.sqlite: FAILED") && text.contains("not a tally store"),
        "{text}"
    );
    for args in [&sync_day("2026-06-10")[..], &["query", "SELECT 1"][..]] {
        let (code, text) = output(&ws, args);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(
            text.contains("store.sqlite")
                && text.contains("not a tally store")
                && text.contains("activity, invoices"),
            "{args:?}: {text}"
        );
    }
    assert_eq!(std::fs::read(&theirs).unwrap(), before);
    for beside in [
        "store.sqlite-wal",
        "store.sqlite-shm",
        "store.sqlite-journal",
    ] {
        assert!(!ws.path().join(beside).exists(), "{beside} was left");
    }

    // Not a database at all, however short: refused the same way, and left as it was (SQLite
    // alone takes a file shorter than a page for an empty database).
    for text in ["just some text, not SQLite\n".repeat(100), "\n".into()] {
        std::fs::write(&theirs, &text).unwrap();
        let (code, out) = output(&ws, &sync_day("2026-06-10"));
        assert_eq!(code, 2, "{out}");
        assert!(out.contains("not a SQLite database"), "{out}");
        assert_eq!(std::fs::read_to_string(&theirs).unwrap(), text);
    }
}

/// In tally's own store, a table that someone else made under a rollup's name is not dropped
/// to make room: the sync stops and names it.
#[test]
fn a_table_tally_did_not_create_is_never_dropped() {
    let ws = Workspace::new(&one_rollup("sqlite://src.sqlite", "", ""));
    let src = rusqlite::Connection::open(ws.path().join("src.sqlite")).unwrap();
    src.execute_batch(
        "CREATE TABLE actions (signer TEXT, block_time TEXT);
         CREATE INDEX actions_t ON actions (block_time);
         INSERT INTO actions VALUES ('a', '2026-06-10 10:00:00');",
    )
    .unwrap();
    drop(src);
    ws.ok(&sync_day("2026-06-10"));
    let store = rusqlite::Connection::open(ws.path().join("store.sqlite")).unwrap();
    store
        .execute_batch("CREATE TABLE rewards (note TEXT); INSERT INTO rewards VALUES ('keep me');")
        .unwrap();
    drop(store);
    let more = std::fs::read_to_string(ws.config()).unwrap()
        + "[rollups.rewards]\nsource = \"db\"\ntable = \"actions\"\ntime = \"block_time\"\n\
           user = \"signer\"\nmeasures = { n = \"count(*)\" }\n";
    std::fs::write(ws.config(), more).unwrap();
    let (code, text) = output(&ws, &sync_day("2026-06-10"));
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("`rewards`") && text.contains("did not create"),
        "{text}"
    );
    assert_eq!(ws.query("SELECT note FROM rewards"), ["keep me"]);
}

/// A rollup whose definition changes is rebuilt in a store this tally created: its own table
/// and view are recorded as its own (they were not, and the second sync refused them as
/// someone else's).
#[test]
fn a_changed_rollup_is_rebuilt_in_a_new_store() {
    let ws = Workspace::new(&one_rollup("sqlite://src.sqlite", "", ""));
    let src = rusqlite::Connection::open(ws.path().join("src.sqlite")).unwrap();
    src.execute_batch(
        "CREATE TABLE actions (signer TEXT, block_time TEXT);
         CREATE INDEX actions_t ON actions (block_time);
         INSERT INTO actions VALUES ('A', '2026-06-10 10:00:00'), ('a', '2026-06-10 11:00:00');",
    )
    .unwrap();
    drop(src);
    ws.ok(&sync_day("2026-06-10"));
    assert_eq!(ws.query("SELECT count(*) FROM activity"), ["2"]);
    let changed = std::fs::read_to_string(ws.config())
        .unwrap()
        .replace("user = \"signer\"", "user = \"lower(signer)\"");
    std::fs::write(ws.config(), changed).unwrap();
    ws.ok(&sync_day("2026-06-10"));
    assert_eq!(ws.query("SELECT user, n FROM activity"), ["a,2"]);
    ws.ok(&sync_day("2026-06-10"));
}

/// A PostgreSQL source whose one slice query would sleep for half a minute, reached at the URL
/// `url` gives for its database.
fn slow_pg_source_at(url: impl Fn(&PgDb) -> String) -> (PgDb, Workspace) {
    let db = PgDb::new();
    db.exec(PG_ACTIONS);
    // 144 rows at 0.2 s each: the one slice query would run for half a minute.
    let ws = Workspace::new(&one_rollup(
        &url(&db),
        "statement_timeout = \"60s\"\nallow_functions = [\"pg_sleep\"]",
        "filter = \"pg_sleep(0.2) IS NOT NULL\"\nallow_full_scan = true",
    ));
    (db, ws)
}

/// The slice queries of `db` still running on the server.
fn pg_running(db: &PgDb) -> usize {
    let sql = format!(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = '{}' AND state = 'active' \
         AND query LIKE '%pg_sleep%' AND pid <> pg_backend_pid()",
        db.name()
    );
    db.rows(&db.url, &sql)[0][0].parse().unwrap()
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM during a slice query: tally stops, and the query stops on the server too (a
/// PostgreSQL cancel request): nothing keeps sleeping there after tally has gone. Through
/// pgbouncer too, which takes a cancel connection closed (or half-closed) before it has passed
/// the request on for a client gone: it dropped the request, or crashed.
#[test]
fn a_signal_cancels_the_running_query_on_postgres() {
    for pooled in [false, true] {
        let (db, ws) = slow_pg_source_at(|db| {
            if pooled {
                db.pooled_url()
            } else {
                db.url.clone()
            }
        });
        let mut child = ws.command(&sync_day("2026-06-10")).spawn().unwrap();
        wait_until("the slice query starts", Duration::from_secs(30), || {
            pg_running(&db) > 0
        });
        let term = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        assert_eq!(child.wait().unwrap().code(), Some(130));
        wait_until(
            &format!("the query is cancelled (pooled: {pooled})"),
            Duration::from_secs(3),
            || pg_running(&db) == 0,
        );
        // The pooler is still there for the application (pgbouncer 1.18 crashed on a cancel
        // whose client had closed before it was passed on).
        assert_eq!(db.rows(&db.pooled_url(), "SELECT 1"), [["1"]]);
    }
}

/// The same on MariaDB, with `KILL QUERY` on a connection of its own.
#[test]
fn a_signal_cancels_the_running_query_on_mariadb() {
    let db = MyDb::new();
    db.exec(
        "CREATE TABLE actions (signer VARCHAR(8), block_time DATETIME, INDEX (block_time));
         INSERT INTO actions VALUES ('a', '2026-06-10 01:00:00'), ('b', '2026-06-10 02:00:00'),
           ('c', '2026-06-10 03:00:00'), ('d', '2026-06-10 04:00:00')",
    );
    let ws = Workspace::new(&one_rollup(
        &db.url,
        "statement_timeout = \"60s\"\nallow_functions = [\"sleep\"]",
        "filter = \"SLEEP(8) = 0\"\nallow_full_scan = true",
    ));
    let running = || -> usize {
        db.admin_rows(&format!(
            "SELECT count(*) FROM information_schema.PROCESSLIST WHERE DB = '{}' \
             AND COMMAND = 'Query' AND INFO LIKE '%SLEEP(8)%' AND ID <> CONNECTION_ID()",
            db.name()
        ))[0][0]
            .parse()
            .unwrap()
    };
    let mut child = ws.command(&sync_day("2026-06-10")).spawn().unwrap();
    wait_until("the slice query starts", Duration::from_secs(30), || {
        running() > 0
    });
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert_eq!(child.wait().unwrap().code(), Some(130));
    wait_until("the query is killed", Duration::from_secs(3), || {
        running() == 0
    });
}

/// A slice whose queries, with the halvings that the statement timeout brings, take longer than
/// `max_slice_time` is given up, naming the slice, and its last query is cancelled.
#[test]
fn a_slice_gives_up_after_max_slice_time() {
    let db = PgDb::new();
    db.exec(PG_ACTIONS);
    let ws = Workspace::new(&one_rollup(
        &db.url,
        "statement_timeout = \"2s\"\nmax_slice_time = \"3s\"\nallow_functions = [\"pg_sleep\"]",
        "filter = \"pg_sleep(0.2) IS NOT NULL\"\nallow_full_scan = true",
    ));
    let started = Instant::now();
    let (code, text) = output(&ws, &sync_day("2026-06-10"));
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("slice 2026-06-10")
            && text.contains("gave up after max_slice_time (3s)")
            && text.contains("asked the server to cancel the query"),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(10), "{text}");
    wait_until("the query is cancelled", Duration::from_secs(2), || {
        pg_running(&db) == 0
    });

    for (value, problem) in [
        ("\"1s\"", "shorter than statement_timeout"),
        ("\"0s\"", "out of range"),
        ("\"30d\"", "out of range"),
    ] {
        let bad = Workspace::new(&one_rollup(
            &db.url,
            &format!("statement_timeout = \"2s\"\nmax_slice_time = {value}"),
            "",
        ));
        let (code, text) = output(&bad, &["check"]);
        assert_eq!(code, 2, "{text}");
        assert!(
            text.contains("sources.db.max_slice_time") && text.contains(problem),
            "{text}"
        );
    }
}

/// A store reached by a hard link is refused: SQLite would keep two write-ahead logs for one
/// file. Reached by a symlink to the file, or by a bind mount of its folder, it shares one lock,
/// whose message names the holder's pid.
#[test]
fn one_lock_per_store_file_however_it_is_reached() {
    let ws = Workspace::new(&one_rollup("sqlite://src.sqlite", "", ""));
    let real = ws.path().join("store.sqlite");
    let lock = tally::store::RunLock::acquire(&real, false).unwrap();
    let same = |path: &std::path::Path| {
        let other = tally::store::RunLock::acquire(path, false);
        match other {
            Err(e @ tally::store::StoreError::Locked { .. }) => e.to_string(),
            other => panic!("{}: {other:?}", path.display()),
        }
    };
    std::os::unix::fs::symlink(&real, ws.path().join("link.sqlite")).unwrap();
    let message = same(&ws.path().join("link.sqlite"));
    assert!(
        message.contains(&format!("pid {}", std::process::id())),
        "{message}"
    );
    let is_root = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    if is_root {
        let mount = ws.path().join("mounted");
        std::fs::create_dir(&mount).unwrap();
        let bind = |args: &[&str]| Command::new(args[0]).args(&args[1..]).status().unwrap();
        let (from, to) = (ws.path().to_str().unwrap(), mount.to_str().unwrap());
        assert!(bind(&["mount", "--bind", from, to]).success());
        let message = same(&mount.join("store.sqlite"));
        assert!(bind(&["umount", to]).success());
        assert!(message.contains("pid"), "{message}");
    }
    drop(lock);

    std::fs::hard_link(&real, ws.path().join("hard.sqlite")).unwrap();
    let (code, text) = output(&ws, &sync_day("2026-06-10"));
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("2 hard links") && text.contains("write-ahead log"),
        "{text}"
    );
}

/// SQL over the store that would never end (a recursive query without a stop) gives way to
/// SIGTERM, in `tally query` and in an `sql` report: the command stops with 130 and the run lock
/// is free for the next one (it ignored the signal and held the lock until killed).
#[test]
fn a_signal_stops_sql_over_the_store_that_never_ends() {
    const ENDLESS: &str =
        "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT count(*) FROM r";
    let extra = format!("[reports.endless]\nkind = \"sql\"\nsql = \"{ENDLESS}\"\n");
    let ws = crate::support::small_segment_rewards(&extra, "");
    for args in [
        &["query", ENDLESS][..],
        &["report", "endless", "--date", "2026-11-10"][..],
    ] {
        let mut child = ws.command(args).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(700));
        assert!(
            child.try_wait().unwrap().is_none(),
            "{args:?} ended by itself"
        );
        let term = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(term.success());
        let started = Instant::now();
        let code = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status.code();
            }
            if started.elapsed() > Duration::from_secs(5) {
                child.kill().unwrap();
                panic!("{args:?} ignored SIGTERM");
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        assert_eq!(code, Some(130), "{args:?}");
    }
    ws.ok(&sync_day("2026-11-10"));
}

/// `sql` reports and `tally query` only read: statements that would write, attach a file, set a
/// pragma or reach outside the store are refused before they run, and nothing changes.
#[test]
fn sql_over_the_store_only_reads() {
    let ws = crate::support::small_segment_rewards("", "");
    let copy = ws.path().join("copy.db");
    let rows = ws.query("SELECT count(*) FROM activity");
    for bad in [
        "DELETE FROM activity".to_string(),
        "INSERT INTO activity SELECT * FROM activity".into(),
        "CREATE TABLE t (x)".into(),
        "ATTACH 'other.db' AS other".into(),
        "VACUUM".into(),
        format!("VACUUM INTO '{}'", copy.display()),
        "PRAGMA journal_mode = DELETE".into(),
        "PRAGMA writable_schema = 1".into(),
        "SELECT load_extension('x')".into(),
    ] {
        let (code, text) = output(&ws, &["query", &bad]);
        assert_eq!(code, 1, "{bad}: {text}");
        assert!(
            text.contains("only reads") || text.contains("not authorized"),
            "{bad}: {text}"
        );
        let config = std::fs::read_to_string(ws.config()).unwrap();
        let reported =
            Workspace::existing(tempfile::tempdir().unwrap(), ws.path().join("bad.toml"));
        std::fs::write(
            reported.config(),
            format!("{config}\n[reports.bad]\nsql = \"\"\"{bad}\"\"\"\n"),
        )
        .unwrap();
        for args in [
            &["check"][..],
            &["report", "bad", "--no-sync", "--date", "2026-11-10"][..],
        ] {
            let (code, text) = output(&reported, args);
            assert_ne!(code, 0, "{bad}: {text}");
            let refused = text.contains("only reads") || text.contains("not authorized");
            assert!(text.contains("bad") && refused, "{bad}: {text}");
        }
    }
    assert!(!copy.exists());
    assert!(!ws.path().join("other.db").exists());
    assert_eq!(ws.query("SELECT count(*) FROM activity"), rows);
    // Reading the schema is reading.
    let columns = ws.query("SELECT name FROM pragma_table_info('activity') ORDER BY cid");
    assert_eq!(columns, ["day", "user", "actions"]);
}

/// A text cell that a spreadsheet would run as a formula is written to CSV with a leading `'`;
/// numbers are left alone; `[output] csv_formulas = "keep"` opts out.
#[test]
fn csv_cells_that_look_like_formulas_are_escaped() {
    let ws = crate::support::small_segment_rewards("", "");
    let sql = "SELECT '=cmd|'' /C calc''!A0' AS wallet, -12.5 AS n, '-3' AS t, '@x' AS at";
    let csv = ws.ok(&["query", "--format", "csv", sql]);
    assert_eq!(csv, "wallet,n,t,at\n'=cmd|' /C calc'!A0,-12.5,-3,'@x\n");
    let config = std::fs::read_to_string(ws.config()).unwrap();
    std::fs::write(
        ws.config(),
        format!("{config}\n[output]\ncsv_formulas = \"keep\"\n"),
    )
    .unwrap();
    let csv = ws.ok(&["query", "--format", "csv", sql]);
    assert_eq!(csv, "wallet,n,t,at\n=cmd|' /C calc'!A0,-12.5,-3,@x\n");
}
