//! Exact money: 100,000 amounts with 8 decimals sum to the exact decimal total, from PostgreSQL,
//! MariaDB and SQLite alike.

use rust_decimal::Decimal;

use crate::support::{MyDb, PgDb, Workspace};

const N: i64 = 100_000;
const USERS: i64 = 7;

/// Amount of row i: up to 1,000 with 8 decimals, digits all over the place.
fn amount(i: i64) -> Decimal {
    Decimal::new((i * 7_919_113) % 100_000_000_000 + 1, 8)
}

fn expected() -> Vec<String> {
    (0..USERS)
        .map(|u| {
            let total: Decimal = (0..N).filter(|i| i % USERS == u).map(amount).sum();
            format!("w{u},{total}")
        })
        .collect()
}

fn config(url: &str) -> String {
    format!(
        r#"
store = "store.sqlite"
[sources.portal]
url = "{url}"
pause = "0s"
[rollups.rewards]
source = "portal"
table = "rewards"
time = "claimed_at"
user = "wallet"
measures = {{ amount = "sum(amount)" }}
slice = "6h"
keep = "3650d"
# All 100,000 rows lie in one day: each slice reads a quarter of the table, for which a full scan
# is the right plan.
allow_full_scan = true
"#
    )
}

fn check(url: &str) {
    let ws = Workspace::new(&config(url));
    ws.ok(&["sync", "--from", "2026-11-01", "--to", "2026-11-01"]);
    let got = ws.query("SELECT user, amount FROM rewards ORDER BY user");
    let want = expected();
    assert_eq!(got, want);
    // Custom SQL over the store has the same exact sum.
    let total: Decimal = (0..N).map(amount).sum();
    assert_eq!(
        ws.query("SELECT tally_sum(amount) FROM rewards"),
        [total.to_string()]
    );
    assert!(
        want[0]
            .split(',')
            .nth(1)
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
            .len()
            == 8
    );
}

fn rows() -> impl Iterator<Item = Vec<String>> {
    let all: Vec<String> = (0..N)
        .map(|i| {
            format!(
                "('w{}', '{}', '2026-11-01 {:02}:{:02}:00')",
                i % USERS,
                amount(i),
                (i / 60) % 24,
                i % 60
            )
        })
        .collect();
    all.chunks(2000)
        .map(|c| c.to_vec())
        .collect::<Vec<_>>()
        .into_iter()
}

#[test]
fn postgres_numeric_sums_are_exact() {
    let db = PgDb::new();
    let mut sql = String::from(
        "CREATE TABLE rewards (wallet text, amount numeric(20,8), claimed_at timestamp);",
    );
    for batch in rows() {
        sql += &format!("INSERT INTO rewards VALUES {};", batch.join(", "));
    }
    db.exec(&sql);
    check(&db.url);
}

#[test]
fn mariadb_decimal_sums_are_exact() {
    let db = MyDb::new();
    let mut sql = String::from(
        "CREATE TABLE rewards (wallet VARCHAR(8), amount DECIMAL(20,8), claimed_at DATETIME, INDEX (claimed_at));\n",
    );
    for batch in rows() {
        sql += &format!("INSERT INTO rewards VALUES {};\n", batch.join(", "));
    }
    db.exec(&sql);
    check(&db.url);
}

#[test]
fn sqlite_text_decimal_sums_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portal.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("CREATE TABLE rewards (wallet TEXT, amount TEXT, claimed_at TEXT)")
        .unwrap();
    for batch in rows() {
        conn.execute_batch(&format!("INSERT INTO rewards VALUES {}", batch.join(", ")))
            .unwrap();
    }
    check(&format!("sqlite://{}", path.display()));
}

/// A SQLite column declared DECIMAL keeps number-looking text as floats (NUMERIC affinity); its
/// sum is still exact, not a sum of floats.
#[test]
fn sqlite_declared_decimal_sums_are_exact() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("portal.sqlite");
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch(
        "CREATE TABLE rewards (wallet TEXT, amount DECIMAL(20, 8), claimed_at TEXT)",
    )
    .unwrap();
    for batch in rows() {
        conn.execute_batch(&format!("INSERT INTO rewards VALUES {}", batch.join(", ")))
            .unwrap();
    }
    let stored: String = conn
        .query_row("SELECT typeof(amount) FROM rewards LIMIT 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(stored, "real", "SQLite keeps these amounts as floats");
    let ws = Workspace::new(&config(&format!("sqlite://{}", path.display())));
    ws.ok(&["sync", "--from", "2026-11-01", "--to", "2026-11-01"]);
    let got = ws.query("SELECT user, amount FROM rewards ORDER BY user");
    for (got, want) in got.iter().zip(expected()) {
        let (gu, ga) = got.split_once(',').unwrap();
        let (wu, wa) = want.split_once(',').unwrap();
        assert_eq!(gu, wu);
        assert_eq!(
            ga.parse::<Decimal>().unwrap(),
            wa.parse::<Decimal>().unwrap(),
            "{got} vs {want}"
        );
    }
}
