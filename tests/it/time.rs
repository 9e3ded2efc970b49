//! Day boundaries in the configured zone: local midnight, naive DATETIME columns in a source
//! zone, and hourly slices across both DST changes of America/New_York in 2026.

use std::collections::BTreeMap;

use chrono::{DateTime, TimeDelta, Utc};
use rust_decimal::Decimal;

use crate::support::{MyDb, PgDb, Workspace};

fn config(url: &str, zone: &str, source_zone: &str, slice: &str, extra: &str) -> String {
    format!(
        r#"
timezone = "{zone}"
store = "store.sqlite"
[sources.db]
url = "{url}"
timezone = "{source_zone}"
pause = "0s"
[rollups.activity]
source = "db"
table = "actions"
time = "block_time"
user = "signer"
measures = {{ n = "count(*)"{extra} }}
slice = "{slice}"
keep = "3650d"
"#
    )
}

fn per_day(ws: &Workspace) -> Vec<String> {
    ws.query("SELECT day, sum(n) FROM activity GROUP BY day ORDER BY day")
}

#[test]
fn a_row_at_local_midnight_belongs_to_the_new_day() {
    let db = PgDb::new();
    db.exec(
        "CREATE TABLE actions (signer text, block_time timestamptz);
         INSERT INTO actions VALUES
           ('a', '2026-11-01 23:59:59.999+09'),
           ('a', '2026-11-02 00:00:00+09'),
           ('b', '2026-11-02 23:59:59+09'),
           ('b', '2026-11-03 00:00:00+09');
         CREATE INDEX ON actions (block_time);",
    );
    // Four rows: PostgreSQL rightly reads them with a Seq Scan even with the index.
    let config = config(&db.url, "Asia/Seoul", "UTC", "1d", "") + "allow_full_scan = true\n";
    let ws = Workspace::new(&config);
    ws.ok(&["sync", "--from", "2026-11-01", "--to", "2026-11-03"]);
    assert_eq!(
        per_day(&ws),
        ["2026-11-01,1", "2026-11-02,2", "2026-11-03,1"]
    );
}

#[test]
fn naive_datetimes_are_read_in_the_source_zone() {
    let db = MyDb::new();
    // 16:59:59 in Los Angeles (PDT, UTC-7) is 23:59:59 UTC; 17:00 is the next UTC day.
    db.exec(
        "CREATE TABLE actions (signer VARCHAR(8), block_time DATETIME(3), INDEX (block_time));
         INSERT INTO actions VALUES ('a', '2026-10-01 16:59:59.999'), ('a', '2026-10-01 17:00:00'), ('b', '2026-10-02 16:59:59')",
    );
    let ws = Workspace::new(&config(&db.url, "UTC", "America/Los_Angeles", "6h", ""));
    ws.ok(&["sync", "--from", "2026-10-01", "--to", "2026-10-02"]);
    assert_eq!(per_day(&ws), ["2026-10-01,1", "2026-10-02,2"]);
}

#[test]
fn hourly_slices_across_both_dst_changes_in_new_york() {
    let db = PgDb::new();
    db.exec("CREATE TABLE actions (signer text, block_time timestamptz, amount numeric(12,2)); CREATE INDEX ON actions (block_time);");
    let ny = chrono_tz::America::New_York;
    let mut expected: BTreeMap<String, (i64, Decimal)> = BTreeMap::new();
    let mut values = Vec::new();
    for (from, to) in [
        ("2026-03-07T05:00:00Z", "2026-03-10T04:00:00Z"),
        ("2026-10-31T04:00:00Z", "2026-11-03T05:00:00Z"),
    ] {
        let mut t: DateTime<Utc> = from.parse().unwrap();
        let end: DateTime<Utc> = to.parse().unwrap();
        let mut i = 0i64;
        while t < end {
            let amount = Decimal::new(i % 997 + 1, 2);
            let day = t.with_timezone(&ny).date_naive().to_string();
            let e = expected.entry(day).or_default();
            e.0 += 1;
            e.1 += amount;
            values.push(format!("('u{}', '{}', {amount})", i % 4, t.to_rfc3339()));
            t += TimeDelta::minutes(20);
            i += 1;
        }
    }
    db.exec(&format!("INSERT INTO actions VALUES {}", values.join(", ")));
    let ws = Workspace::new(&config(
        &db.url,
        "America/New_York",
        "UTC",
        "1h",
        ", amount = \"sum(amount)\"",
    ));
    ws.ok(&["sync", "--from", "2026-03-07", "--to", "2026-03-09"]);
    ws.ok(&["sync", "--from", "2026-10-31", "--to", "2026-11-02"]);
    let got = ws
        .query("SELECT day, sum(n), count(DISTINCT user) FROM activity GROUP BY day ORDER BY day");
    let want: Vec<String> = expected
        .iter()
        .map(|(d, (n, _))| format!("{d},{n},4"))
        .collect();
    assert_eq!(got, want);
    for (day, (_, amount)) in &expected {
        // Exact decimal sums of 1h slices, merged per day in the store.
        let rows = ws.query(&format!("SELECT amount FROM activity WHERE day = '{day}'"));
        let total: Decimal = rows.iter().map(|r| r.parse::<Decimal>().unwrap()).sum();
        assert_eq!(total, *amount, "{day}");
    }
    let slices = ws.query("SELECT day, count(*) FROM _tally_slices GROUP BY day ORDER BY day");
    assert!(slices.contains(&"2026-03-08,23".to_string()), "{slices:?}");
    assert!(slices.contains(&"2026-11-01,25".to_string()), "{slices:?}");
    assert!(slices.contains(&"2026-03-09,24".to_string()), "{slices:?}");
}
