//! Sources that blink: a server restarted during a sync, a permanent error, a server that
//! accepts connections and says nothing, a signal while connecting, one source down beside a
//! working one.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::process::Stdio;
use std::time::{Duration, Instant};

use mysql_async::prelude::Queryable;

use crate::private::{PrivateMy, PrivatePg};
use crate::support::{PgDb, Workspace, block_on, one_rollup, output};

/// A one-rollup config in hourly slices, 60 ms apart.
fn config(url: &str, extra_source: &str) -> String {
    let source = format!("pause = \"60ms\"\n{extra_source}");
    one_rollup(url, &source, "slice = \"1h\"\nallow_full_scan = true")
}

/// Three days in one-hour slices (72 slice queries), with a short pause so that the sync lasts
/// a few seconds.
const SYNC: [&str; 5] = ["sync", "--from", "2026-06-10", "--to", "2026-06-12"];

const ROWS: &str = "SELECT day, user, n FROM activity ORDER BY day, user";

/// Runs a sync in the background, calls `blink` after `after`, and returns the exit code and
/// what tally printed.
fn sync_with(ws: &Workspace, after: Duration, blink: impl FnOnce()) -> (i32, String) {
    let child = ws
        .command(&SYNC)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(after);
    blink();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The sync survived the restart: it retried, finished, and stored exactly what a clean run
/// stores, each slice once.
fn same_as_a_clean_run(ws: &Workspace, code: i32, text: &str, url: &str) {
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("reconnecting and pulling the slice again"),
        "the restart did not hit the sync: {text}"
    );
    assert_eq!(
        ws.query("SELECT count(*), count(DISTINCT start) FROM _tally_slices"),
        ["72,72"]
    );
    let clean = Workspace::new(&config(url, ""));
    clean.ok(&SYNC);
    assert_eq!(ws.query(ROWS), clean.query(ROWS));
    assert_eq!(ws.query("SELECT sum(n) FROM activity"), ["864"]);
}

#[test]
fn a_postgres_restart_during_a_sync_is_waited_out() {
    let pg = PrivatePg::start();
    block_on(async {
        let (c, conn) = tokio_postgres::connect(&pg.url("postgres"), tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        c.batch_execute(
            "CREATE TABLE actions (signer text, block_time timestamptz);
             INSERT INTO actions SELECT 'u' || (i % 4), timestamptz '2026-06-10 00:00Z' + i * interval '5 minutes'
               FROM generate_series(0, 863) AS i;
             CREATE INDEX ON actions (block_time);",
        )
        .await
        .unwrap();
    });
    let url = pg.url("postgres");
    let ws = Workspace::new(&config(&url, ""));
    let (code, text) = sync_with(&ws, Duration::from_millis(1500), || pg.restart());
    same_as_a_clean_run(&ws, code, &text, &url);
}

#[test]
fn a_mariadb_restart_during_a_sync_is_waited_out() {
    let mut my = PrivateMy::start();
    let url = my.url("test");
    block_on(async {
        let mut c = mysql_async::Conn::new(mysql_async::Opts::from_url(&my.url("")).unwrap())
            .await
            .unwrap();
        for sql in [
            "CREATE DATABASE test",
            "USE test",
            "CREATE TABLE actions (signer VARCHAR(8), block_time DATETIME, INDEX (block_time))",
            "INSERT INTO actions SELECT CONCAT('u', seq % 4), TIMESTAMPADD(MINUTE, 5 * seq, '2026-06-10 00:00:00') FROM seq_0_to_863",
        ] {
            c.query_drop(sql).await.unwrap();
        }
        c.disconnect().await.unwrap();
    });
    let ws = Workspace::new(&config(&url, ""));
    let (code, text) = sync_with(&ws, Duration::from_millis(1500), || my.restart());
    let log = std::fs::read_to_string(my.dir().join("log")).unwrap_or_default();
    assert!(code == 0, "{text}\nserver log:\n{log}");
    same_as_a_clean_run(&ws, code, &text, &url);
}

#[test]
fn a_permanent_error_fails_at_once_without_retrying() {
    let db = PgDb::new();
    db.exec(
        "CREATE TABLE actions (signer text, block_time timestamptz);
         INSERT INTO actions VALUES ('a', '2026-06-10 12:00Z');",
    );
    let ws = Workspace::new(&config(&db.url, "").replace(
        "allow_full_scan = true",
        "allow_full_scan = true\nfilter = \"1 / (length(signer) - length(signer)) = 1\"",
    ));
    let started = Instant::now();
    let (code, text) = output(&ws, &SYNC);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("division by zero"), "{text}");
    assert!(!text.contains("pulling the slice again"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

/// A TCP server that accepts connections and never says anything.
fn silent_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held: Vec<TcpStream> = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}

#[test]
fn a_silent_server_fails_within_connect_timeout() {
    let port = silent_server();
    for url in [
        format!("postgres://u@127.0.0.1:{port}/db"),
        format!("mysql://u@127.0.0.1:{port}/db"),
    ] {
        let ws = Workspace::new(&config(&url, "connect_timeout = \"1s\""));
        let started = Instant::now();
        let (code, text) = output(&ws, &SYNC);
        assert_eq!(code, 1, "{text}");
        assert!(
            text.contains("no answer within connect_timeout (1s)"),
            "{text}"
        );
        assert!(started.elapsed() < Duration::from_secs(5), "{text}");
        let (code, text) = output(&ws, &["check"]);
        assert_eq!(code, 1, "{text}");
        assert!(text.contains("connect_timeout"), "{text}");
    }
}

#[test]
fn a_signal_while_connecting_stops_tally_within_a_second() {
    let port = silent_server();
    for url in [
        format!("postgres://u@127.0.0.1:{port}/db"),
        format!("mysql://u@127.0.0.1:{port}/db"),
    ] {
        let ws = Workspace::new(&config(&url, "connect_timeout = \"60s\""));
        for args in [&SYNC[..], &["check"][..]] {
            let mut child = ws.command(args).stderr(Stdio::piped()).spawn().unwrap();
            std::thread::sleep(Duration::from_millis(800));
            let signalled = Instant::now();
            std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
            let status = child.wait().unwrap();
            let took = signalled.elapsed();
            let mut err = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut err)
                .unwrap();
            assert_eq!(status.code(), Some(130), "{args:?}: {err}");
            assert!(took < Duration::from_secs(1), "{args:?} took {took:?}");
        }
    }
}

#[test]
fn a_server_without_tls_is_named_when_tls_is_required() {
    // Answers PostgreSQL's SSLRequest with 'N', as a server without ssl does.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut request = [0u8; 8];
            if stream.read_exact(&mut request).is_ok() {
                let _ = std::io::Write::write_all(&mut stream, b"N");
            }
        }
    });
    let ws = Workspace::new(&config(
        &format!("postgres://u@127.0.0.1:{port}/db?sslmode=require"),
        "",
    ));
    let (code, text) = output(&ws, &SYNC);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("does not accept TLS connections") && text.contains("sslmode=prefer"),
        "{text}"
    );
}

#[test]
fn one_source_down_does_not_keep_the_other_from_being_pulled() {
    let port = silent_server();
    let ws = Workspace::new(&format!(
        r#"
store = "store.sqlite"
[sources.down]
url = "postgres://u@127.0.0.1:{port}/db"
connect_timeout = "1s"
[sources.up]
url = "sqlite://up.sqlite"
[rollups.rewards]
source = "down"
table = "rewards"
time = "at"
user = "wallet"
measures = {{ n = "count(*)" }}
keep = "3650d"
[rollups.activity]
source = "up"
table = "actions"
time = "at"
user = "signer"
measures = {{ n = "count(*)" }}
keep = "3650d"
allow_full_scan = true
"#
    ));
    let conn = rusqlite::Connection::open(ws.path().join("up.sqlite")).unwrap();
    conn.execute_batch(
        "CREATE TABLE actions (signer TEXT, at TEXT);
         INSERT INTO actions VALUES ('a', '2026-06-10 10:00:00'), ('b', '2026-06-11 10:00:00');",
    )
    .unwrap();
    let (code, text) = output(&ws, &SYNC);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("source `down` failed")
            && text.contains("the slices of `up` are in the store"),
        "{text}"
    );
    assert_eq!(ws.query("SELECT sum(n) FROM activity"), ["2"]);
}

/// A server that stops answering in the middle of a sync: its backend is stopped (SIGSTOP)
/// between two slices. The next query fails after statement_timeout + connect_timeout, and a
/// signal ends tally at once.
#[test]
fn a_server_that_stops_answering_mid_sync_fails_within_its_timeouts() {
    let pg = PrivatePg::start();
    pg.exec(
        "CREATE TABLE actions (signer text, block_time timestamptz);
         INSERT INTO actions SELECT 'u' || (i % 4), timestamptz '2026-06-10 00:00Z' + i * interval '5 minutes'
           FROM generate_series(0, 863) AS i;",
    );
    let config = config(
        &pg.url("postgres"),
        "statement_timeout = \"1s\"\nconnect_timeout = \"1s\"",
    )
    .replace("pause = \"60ms\"", "pause = \"1s\"")
    .replace("slice = \"1h\"", "slice = \"1d\"");
    for signal in [false, true] {
        let ws = Workspace::new(&config);
        let mut child = ws
            .command(&SYNC)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // tally's session, once it exists, then a moment for the first slice.
        let started = Instant::now();
        let mut backend = String::new();
        while backend.is_empty() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "no tally session"
            );
            backend = pg.one("SELECT pid FROM pg_stat_activity WHERE application_name = 'tally'");
        }
        std::thread::sleep(Duration::from_millis(300));
        pg.signal(&backend, "STOP");
        let stopped = Instant::now();
        if signal {
            std::thread::sleep(Duration::from_millis(500));
            std::process::Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap();
        }
        let status = child.wait().unwrap();
        let took = stopped.elapsed();
        pg.signal(&backend, "CONT");
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        if signal {
            assert_eq!(status.code(), Some(130), "{err}");
            assert!(took < Duration::from_millis(1500), "{took:?}: {err}");
        } else {
            assert_eq!(status.code(), Some(1), "{err}");
            assert!(err.contains("no answer from the server within 2s"), "{err}");
            assert!(took < Duration::from_secs(6), "{took:?}: {err}");
        }
    }
}
