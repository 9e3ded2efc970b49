//! `parallel = N`: a source's slice queries run on N connections at once, while the store still
//! writes one whole slice per transaction, in order.

use crate::support::{DIGITS, MyDb, PgDb, Workspace, one_rollup, pg_admin_exec, unique};

/// Six days in 6-hour slices (24 slices) of `signer`, `kind` actions; `conn` is a dimension that
/// records which connection pulled each row.
const SYNC: [&str; 5] = ["sync", "--from", "2026-06-10", "--to", "2026-06-15"];

/// A one-rollup config on `parallel` connections, with the session's id (`conn`, an expression)
/// as a dimension to tell the connections apart.
fn config(url: &str, parallel: usize, conn: &str, extra_rollup: &str) -> String {
    // The session's id is the user's call: not on tally's list of functions.
    let source =
        format!("parallel = {parallel}\nallow_functions = [\"pg_backend_pid\", \"connection_id\"]");
    let rollup = format!(
        "dimensions = {{ kind = \"kind\", conn = \"{conn}\" }}\nslice = \"6h\"\nallow_full_scan = true\n{extra_rollup}"
    );
    one_rollup(url, &source, &rollup)
}

/// The store's rows with the connection left out, for comparing runs.
const TOTALS: &str =
    "SELECT day, user, kind, sum(n) FROM activity GROUP BY 1, 2, 3 ORDER BY 1, 2, 3";

/// Syncs with one connection and with three; both stores hold the same counts, the three-way
/// store's rows came from three sessions, and every slice was written once.
fn same_rows_on_three_connections(url: &str, conn: &str) {
    let one = Workspace::new(&config(url, 1, conn, ""));
    one.ok(&SYNC);
    let three = Workspace::new(&config(url, 3, conn, ""));
    three.ok(&SYNC);
    assert_eq!(
        one.query("SELECT count(DISTINCT conn) FROM activity"),
        ["1"]
    );
    assert_eq!(
        three.query("SELECT count(DISTINCT conn) FROM activity"),
        ["3"]
    );
    let totals = three.query(TOTALS);
    assert_eq!(one.query(TOTALS), totals);
    assert_eq!(three.query("SELECT sum(n) FROM activity"), ["1728"]);
    assert_eq!(
        three.query("SELECT count(*), count(DISTINCT start), sum(rows) FROM _tally_slices"),
        one.query("SELECT 24, 24, sum(rows) FROM _tally_slices")
    );
    // A rerun pulls nothing new twice: the lookback day is replaced, not added to.
    three.ok(&SYNC);
    assert_eq!(three.query(TOTALS), totals);
}

/// 1,728 actions: one every 5 minutes over 2026-06-10 to 2026-06-15, 7 signers, 3 kinds.
const PG_ACTIONS: &str = "CREATE TABLE actions (signer text, kind text, block_time timestamptz);
     INSERT INTO actions SELECT 'u' || (i % 7), 'k' || (i % 3), timestamptz '2026-06-10 00:00Z' + i * interval '5 minutes'
       FROM generate_series(0, 1727) AS i;
     CREATE INDEX ON actions (block_time);";

#[test]
fn three_postgres_connections_pull_the_same_rows_as_one() {
    let db = PgDb::new();
    db.exec(PG_ACTIONS);
    same_rows_on_three_connections(&db.url, "pg_backend_pid()");
}

#[test]
fn three_mariadb_connections_pull_the_same_rows_as_one() {
    let db = MyDb::new();
    db.exec(&format!(
        "CREATE TABLE actions (signer VARCHAR(8), kind VARCHAR(8), block_time DATETIME, INDEX (block_time));
         INSERT INTO actions SELECT CONCAT('u', i % 7), CONCAT('k', i % 3), TIMESTAMPADD(MINUTE, 5 * i, '2026-06-10 00:00:00')
           FROM (SELECT a.d + 10 * b.d + 100 * c.d + 1000 * e.d AS i FROM {DIGITS} a, {DIGITS} b, {DIGITS} c, {DIGITS} e) AS t
           WHERE i < 1728"
    ));
    same_rows_on_three_connections(&db.url, "CONNECTION_ID()");
}

#[test]
fn a_failing_slice_stops_the_sync_and_keeps_the_whole_slices_before_it() {
    let db = PgDb::new();
    db.exec(PG_ACTIONS);
    // Division by zero in every slice of 2026-06-12, the 9th to 12th of the 24 slices.
    let filter = "filter = \"1 / (extract(day FROM block_time)::int - 12) IS NOT NULL\"";
    let ws = Workspace::new(&config(&db.url, 2, "1", filter));
    let out = ws.run(&SYNC);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("slice 2026-06-12 [2026-06-12 00:00:00 UTC")
            && text.contains("division by zero"),
        "{text}"
    );
    // Each line names the source and the rollup once.
    let error = text.lines().find(|l| l.starts_with("error:")).unwrap();
    assert_eq!(error.matches("source `").count(), 1, "{error}");
    assert_eq!(error.matches("rollup `").count(), 1, "{error}");
    // The two days before it are in, whole; nothing of the failing day or after it.
    assert_eq!(
        ws.query("SELECT day, count(*), sum(n) FROM activity GROUP BY day ORDER BY day"),
        ["2026-06-10,21,288", "2026-06-11,21,288"]
    );
    assert_eq!(ws.query("SELECT count(*) FROM _tally_slices"), ["8"]);
}

/// A login role that may hold one connection at a time; dropped with the test.
struct OneConnectionRole(String);

impl OneConnectionRole {
    fn new() -> OneConnectionRole {
        let name = unique("tally_one");
        pg_admin_exec(&format!(
            "CREATE ROLE {name} LOGIN PASSWORD 'tally-test' CONNECTION LIMIT 1"
        ));
        OneConnectionRole(name)
    }

    fn url(&self, db_url: &str) -> String {
        let mut url = url::Url::parse(db_url).unwrap();
        url.set_username(&self.0).unwrap();
        url.set_password(Some("tally-test")).unwrap();
        url.to_string()
    }
}

impl Drop for OneConnectionRole {
    fn drop(&mut self) {
        pg_admin_exec(&format!("DROP ROLE IF EXISTS {}", self.0));
    }
}

#[test]
fn a_refused_second_connection_names_parallel() {
    let db = PgDb::new();
    db.exec(&format!("{PG_ACTIONS} GRANT SELECT ON actions TO PUBLIC;"));
    let role = OneConnectionRole::new();
    let ws = Workspace::new(&config(&role.url(&db.url), 2, "1", ""));
    let out = ws.run(&SYNC);
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("connection 2 of 2, `parallel = 2`") && text.contains("too many connections"),
        "{text}"
    );
    assert!(!text.contains("tally-test"), "password leaked: {text}");
    // With one connection the same role syncs.
    let ws = Workspace::new(&config(&role.url(&db.url), 1, "1", ""));
    ws.ok(&SYNC);
    assert_eq!(ws.query("SELECT sum(n) FROM activity"), ["1728"]);
}

#[test]
fn a_sqlite_source_reads_on_one_connection_whatever_parallel_says() {
    let one = crate::support::small_segment_rewards("", "");
    let config = std::fs::read_to_string(one.config())
        .unwrap()
        .replace("pause = \"0s\"", "pause = \"0s\"\nparallel = 4");
    let four = Workspace::new(&config);
    std::fs::copy(
        one.path().join("src.sqlite"),
        four.path().join("src.sqlite"),
    )
    .unwrap();
    four.ok(&["-q", "sync", "--date", "2026-11-10"]);
    for sql in [
        "SELECT day, user, actions FROM activity ORDER BY 1, 2",
        "SELECT day, user, amount FROM rewards ORDER BY 1, 2",
        "SELECT rollup, start, rows FROM _tally_slices ORDER BY 1, 2",
    ] {
        assert_eq!(four.query(sql), one.query(sql), "{sql}");
    }
}
