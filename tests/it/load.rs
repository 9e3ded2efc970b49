//! Load-aware pacing against real servers: while other sessions keep MariaDB's
//! `Threads_running` (or PostgreSQL's active backends) above `max_load`, tally waits before its
//! slice queries, says so with the value and the limit, and goes on when they end; it gives up
//! after `max_load_wait`.

use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::support::{MyDb, PgDb, Workspace, block_on, one_rollup, output};

/// A one-rollup config with `max_load` and `max_load_wait`.
fn config(url: &str, max_load: &str, wait: &str) -> String {
    let source = format!("pause = \"auto\"\nmax_load = \"{max_load}\"\nmax_load_wait = \"{wait}\"");
    one_rollup(url, &source, "allow_full_scan = true")
}

const SYNC: [&str; 5] = ["sync", "--from", "2026-06-10", "--to", "2026-06-11"];

/// Sessions that each run `sql` (a sleep) at the same time, on a thread of their own.
struct Busy(std::thread::JoinHandle<()>);

impl Busy {
    fn mariadb(url: &str, sessions: usize, sql: &'static str) -> Busy {
        let url = url.to_string();
        Busy(std::thread::spawn(move || {
            block_on(futures_util::future::join_all((0..sessions).map(|_| {
                let url = url.clone();
                async move {
                    let opts = mysql_async::Opts::from_url(&url).unwrap();
                    let mut c = mysql_async::Conn::new(opts).await.unwrap();
                    c.query_drop(sql).await.unwrap();
                    c.disconnect().await.unwrap();
                }
            })));
        }))
    }

    fn postgres(url: &str, sessions: usize, sql: &'static str) -> Busy {
        let url = url.to_string();
        Busy(std::thread::spawn(move || {
            block_on(futures_util::future::join_all((0..sessions).map(|_| {
                let url = url.clone();
                async move {
                    let (c, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
                        .await
                        .unwrap();
                    tokio::spawn(conn);
                    c.batch_execute(sql).await.unwrap();
                }
            })));
        }))
    }

    fn join(self) {
        self.0.join().unwrap();
    }
}

/// Waits until `load()` reaches `at_least`.
fn until(at_least: i64, load: impl Fn() -> i64) {
    let started = Instant::now();
    while load() < at_least {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "the load never reached {at_least}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn threads_running(url: &str) -> i64 {
    block_on(async {
        let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(url).unwrap())
            .await
            .unwrap();
        let v: Option<(String, i64)> = c
            .query_first("SHOW GLOBAL STATUS LIKE 'Threads_running'")
            .await
            .unwrap();
        c.disconnect().await.unwrap();
        v.unwrap().1
    })
}

fn active_backends(url: &str) -> i64 {
    block_on(async {
        let (c, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        c.query_one(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%pg_sleep%'",
            &[],
        )
        .await
        .unwrap()
        .get(0)
    })
}

/// Syncs while the server is busy; tally must have waited for the busy sessions to end.
fn waits_while_busy(ws: &Workspace, busy: Busy, started: Instant, figure: &str) {
    let (code, text) = output(ws, &SYNC);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains(&format!("{figure} = ")) && text.contains("is above max_load 15"),
        "{text}"
    );
    assert!(
        text.contains("waiting before the next slice query"),
        "{text}"
    );
    assert!(text.contains("back under its limits"), "{text}");
    // The sleepers run for 3 s.
    assert!(started.elapsed() >= Duration::from_millis(2500));
    assert_eq!(ws.query("SELECT sum(n) FROM activity"), ["48"]);
    busy.join();
}

const MY_ACTIONS: &str = "CREATE TABLE actions (signer VARCHAR(8), block_time DATETIME);
     INSERT INTO actions SELECT CONCAT('u', seq % 3), TIMESTAMPADD(HOUR, seq, '2026-06-10 00:00:00')
       FROM seq_0_to_47";

#[test]
fn mariadb_slices_wait_while_threads_running_is_over_max_load() {
    let db = MyDb::new();
    db.exec(MY_ACTIONS);
    let started = Instant::now();
    let busy = Busy::mariadb(&db.url, 20, "SELECT SLEEP(3)");
    until(20, || threads_running(&db.url));
    let ws = Workspace::new(&config(&db.url, "Threads_running=15", "60s"));
    waits_while_busy(&ws, busy, started, "Threads_running");
}

#[test]
fn postgres_slices_wait_while_active_backends_are_over_max_load() {
    let db = PgDb::new();
    db.exec(
        "CREATE TABLE actions (signer text, block_time timestamptz);
         INSERT INTO actions SELECT 'u' || (i % 3), timestamptz '2026-06-10 00:00Z' + i * interval '1 hour'
           FROM generate_series(0, 47) AS i;",
    );
    let started = Instant::now();
    let busy = Busy::postgres(&db.url, 20, "SELECT pg_sleep(3)");
    until(20, || active_backends(&db.url));
    let ws = Workspace::new(&config(&db.url, "active=15", "60s"));
    waits_while_busy(&ws, busy, started, "active");
}

#[test]
fn a_load_that_stays_high_fails_after_max_load_wait_without_querying() {
    let db = MyDb::new();
    db.exec(MY_ACTIONS);
    let busy = Busy::mariadb(&db.url, 20, "SELECT SLEEP(6)");
    until(20, || threads_running(&db.url));
    let ws = Workspace::new(&config(&db.url, "Threads_running=15", "1s"));
    let started = Instant::now();
    let (code, text) = output(&ws, &SYNC);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("for longer than max_load_wait (1s)") && text.contains("Threads_running = "),
        "{text}"
    );
    assert!(started.elapsed() < Duration::from_secs(5), "{text}");
    assert_eq!(ws.query("SELECT count(*) FROM _tally_slices"), ["0"]);
    busy.join();
}

#[test]
fn an_unknown_status_variable_is_named() {
    let db = MyDb::new();
    db.exec(MY_ACTIONS);
    let ws = Workspace::new(&config(&db.url, "Threads_sprinting=5", "10s"));
    let (code, text) = output(&ws, &SYNC);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("no status variable `Threads_sprinting`"),
        "{text}"
    );
    let (_, text) = output(&ws, &["check"]);
    assert!(text.contains("Threads_sprinting"), "{text}");
}

#[test]
fn bad_thresholds_are_config_errors() {
    for (url, max_load, needle) in [
        (
            "postgres://u@h/d",
            "Threads_running=5",
            "measure `active` backends",
        ),
        ("mysql://u@h/d", "Threads_running", "must be NAME=NUMBER"),
        ("mysql://u@h/d", "Threads_running=-1", "not a whole number"),
        ("sqlite://x.sqlite", "active=5", "not for sqlite:// sources"),
    ] {
        let ws = Workspace::new(&config(url, max_load, "10s"));
        let (code, text) = output(&ws, &["check"]);
        assert_eq!(code, 2, "{text}");
        assert!(
            text.contains("sources.db.max_load") && text.contains(needle),
            "{max_load}: {text}"
        );
    }
}
