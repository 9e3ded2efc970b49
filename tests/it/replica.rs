//! Replica lag against real replicas of servers of the tests' own: a PostgreSQL hot standby whose
//! replay is paused, and a MariaDB replica whose SQL thread is stopped. tally waits while the lag
//! is over `max_lag`, says so, and goes on when replay resumes.

use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::private::{PrivateMy, PrivatePg};
use crate::support::{Workspace, output};

fn config(url: &str) -> String {
    format!(
        r#"
store = "store.sqlite"
[sources.db]
url = "{url}"
max_lag = "1s"
max_load_wait = "60s"
[rollups.activity]
source = "db"
table = "actions"
time = "block_time"
user = "signer"
measures = {{ n = "count(*)" }}
keep = "3650d"
allow_full_scan = true
"#
    )
}

const SYNC: [&str; 5] = ["sync", "--from", "2026-06-10", "--to", "2026-06-12"];

fn wait_until(what: &str, done: impl Fn() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(started.elapsed() < Duration::from_secs(30), "{what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Syncs from the lagging replica, resumes replay after two seconds, and checks that tally
/// waited for it and then pulled everything.
fn waits_for_the_replica(ws: &Workspace, over: &str, resume: impl FnOnce()) {
    let (code, text) = output(ws, &["check"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("lag: ") && text.contains("OVER"), "{text}");
    let started = Instant::now();
    let child = ws
        .command(&SYNC)
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
    resume();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(started.elapsed() >= Duration::from_secs(2));
    assert!(
        text.contains(over) && text.contains("back under its limits"),
        "{text}"
    );
    assert_eq!(ws.query("SELECT sum(n) FROM activity"), ["864"]);
}

#[test]
fn a_postgres_standby_that_lags_is_waited_for() {
    let primary = PrivatePg::start();
    primary.exec(
        "CREATE TABLE actions (signer text, block_time timestamptz);
         INSERT INTO actions SELECT 'u' || (i % 4), timestamptz '2026-06-10 00:00Z' + i * interval '5 minutes'
           FROM generate_series(0, 863) AS i;",
    );
    let standby = PrivatePg::standby_of(&primary);
    // One transaction replayed after the copy, so that the standby has a replay time.
    primary.exec("CREATE TABLE marker (n int)");
    wait_until("the standby replays the primary", || {
        standby.one("SELECT count(*) FROM pg_tables WHERE tablename = 'marker'") == "1"
    });
    // On the primary, tally sees no lag at all.
    let ws = Workspace::new(&config(&primary.url("postgres")));
    let (code, text) = output(&ws, &["check"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("lag: none, a primary"), "{text}");

    standby.exec("SELECT pg_wal_replay_pause()");
    primary.exec("INSERT INTO actions VALUES ('late', '2026-07-01 00:00Z')");
    // The last replayed transaction grows old while the new one waits.
    std::thread::sleep(Duration::from_millis(1500));
    let ws = Workspace::new(&config(&standby.url("postgres")));
    waits_for_the_replica(&ws, "behind its primary, more than max_lag 1s", || {
        standby.exec("SELECT pg_wal_replay_resume()")
    });
}

#[test]
fn a_mariadb_replica_that_stopped_replaying_is_waited_for() {
    let primary = PrivateMy::start_with(&["--server-id=1", "--log-bin=primary-bin"]);
    let replica = PrivateMy::start_with(&["--server-id=2"]);
    replica.exec(&[
        &format!(
            "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = {}, MASTER_USER = 'root', MASTER_PASSWORD = '', MASTER_USE_GTID = no",
            primary.port
        ),
        "START SLAVE",
    ]);
    primary.exec(&[
        "CREATE DATABASE test",
        "CREATE TABLE test.actions (signer VARCHAR(8), block_time DATETIME)",
        "INSERT INTO test.actions SELECT CONCAT('u', seq % 4), TIMESTAMPADD(MINUTE, 5 * seq, '2026-06-10 00:00:00') FROM test.seq_0_to_863",
    ]);
    wait_until("the replica replays the table", || {
        replica
            .one("SELECT count(*) FROM test.actions")
            .is_some_and(|n| n == "864")
    });
    replica.exec(&["STOP SLAVE SQL_THREAD"]);
    let ws = Workspace::new(&config(&replica.url("test")));
    waits_for_the_replica(&ws, "the replica is not replaying", || {
        replica.exec(&["START SLAVE SQL_THREAD"])
    });
}
