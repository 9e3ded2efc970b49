//! Never harm what sits beside tally: a pooler shared with the application, the server's other
//! work, someone else's SQLite file, a store reached by two paths, a report that tries to write.

use crate::support::{MyDb, PgDb, Workspace, unique};

fn config(url: &str, extra_source: &str, extra_rollup: &str) -> String {
    format!(
        r#"
store = "store.sqlite"
[sources.db]
url = "{url}"
pause = "0s"
{extra_source}
[rollups.activity]
source = "db"
table = "actions"
time = "block_time"
user = "signer"
measures = {{ n = "count(*)" }}
keep = "3650d"
{extra_rollup}
"#
    )
}

fn sync_day(day: &str) -> [&str; 5] {
    ["sync", "--from", day, "--to", day]
}

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
    let ws = Workspace::new(&config(
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
    let ws = Workspace::new(&config(&url, "statement_timeout = \"9s\"", ""));
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
