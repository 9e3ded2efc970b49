//! ClickHouse as a source, against a real server (Debian's 18.16, or TALLY_TEST_CLICKHOUSE_URL):
//! the independent check with the same raw rows as the PostgreSQL and MariaDB tests, naive
//! DateTime columns in a zone, late rows, the statement timeout, the full-scan guard, exact sums
//! and TLS.

use chrono::{TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use crate::cross::{self, Action};
use crate::support::{
    ChDb, MyDb, PgDb, Workspace, ch_admin_url, ch_exec_on, one_rollup, output, tls_dir,
};

/// The fixture's actions in ClickHouse: `DateTime('UTC')` instants, or naive wall-clock times
/// in `zone` (read by the server in its own zone, as it wrote them).
fn ch_actions(db: &ChDb, actions: &[Action], zone: Option<Tz>) {
    let column = if zone.is_some() {
        "DateTime"
    } else {
        "DateTime('UTC')"
    };
    db.exec(&format!(
        "CREATE TABLE actions (signer String, type_id String, block_time {column}) \
         ENGINE = MergeTree ORDER BY (block_time, signer)"
    ));
    for batch in cross::values(actions, |a| {
        let time = match zone {
            Some(tz) => format!("'{}'", cross::naive(&a.at, tz)),
            None => a.at.timestamp().to_string(),
        };
        format!("('{}', '{}', {time})", a.signer, a.kind)
    }) {
        db.exec(&format!(
            "INSERT INTO actions (signer, type_id, block_time) VALUES {batch}"
        ));
    }
}

#[test]
fn clickhouse_actions_and_mariadb_rewards_match_a_plain_computation() {
    let (actions, rewards) = cross::fixture();
    let ch = ChDb::new();
    let my = MyDb::new();
    ch_actions(&ch, &actions, None);
    cross::my_rewards(&my, &rewards);
    let ws = Workspace::new(&cross::config(&ch.url, "UTC", &my.url, "UTC"));
    let (code, text) = output(&ws, &["check"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("time column block_time: DateTime('UTC')")
            && text.contains("reads the slice's range"),
        "{text}"
    );
    cross::check(&ws, &actions, &rewards);
}

#[test]
fn naive_clickhouse_times_are_read_in_the_source_zone() {
    let (actions, rewards) = cross::fixture();
    let ch = ChDb::new();
    let pg = PgDb::new();
    // Wall-clock times of Berlin in a DateTime without a zone, on a server in UTC.
    ch_actions(&ch, &actions, Some(chrono_tz::Europe::Berlin));
    cross::pg_rewards(&pg, &rewards, chrono_tz::America::New_York);
    let ws = Workspace::new(&cross::config(
        &ch.url,
        "Europe/Berlin",
        &pg.url,
        "America/New_York",
    ));
    cross::check(&ws, &actions, &rewards);
}

#[test]
fn late_clickhouse_rows_within_the_lookback_are_pulled_again() {
    let (mut actions, rewards) = cross::fixture();
    let ch = ChDb::new();
    let my = MyDb::new();
    ch_actions(&ch, &actions, None);
    cross::my_rewards(&my, &rewards);
    let ws = Workspace::new(&cross::config(&ch.url, "UTC", &my.url, "UTC"));
    cross::check(&ws, &actions, &rewards);
    // A heavy day for a light user, written after the report ran, on its last day.
    let at = cross::ZONE
        .with_ymd_and_hms(2026, 11, 15, 10, 0, 0)
        .unwrap()
        .with_timezone(&Utc);
    let late: Vec<Action> = (0..30)
        .map(|i| Action {
            signer: "0xAbC001".into(),
            kind: "hack_and_slash22",
            at: at + TimeDelta::seconds(i),
        })
        .collect();
    for a in &late {
        ch.exec(&format!(
            "INSERT INTO actions VALUES ('{}', '{}', {})",
            a.signer,
            a.kind,
            a.at.timestamp()
        ));
    }
    actions.extend(late);
    cross::check(&ws, &actions, &rewards);
}

const SYNC_ONE_DAY: [&str; 5] = ["sync", "--from", "2026-06-10", "--to", "2026-06-10"];

#[test]
fn a_clickhouse_slice_that_times_out_is_split_down_to_one_hour() {
    let db = ChDb::new();
    // Small granules, so that a slice reads about its own rows.
    db.exec(
        "CREATE TABLE actions (signer String, block_time DateTime('UTC')) ENGINE = MergeTree \
           ORDER BY block_time SETTINGS index_granularity = 8;\n\
         INSERT INTO actions SELECT concat('u', toString(number % 7)), toDateTime(1735689600 + number * 600) FROM system.numbers LIMIT 60000;\n\
         INSERT INTO actions SELECT concat('u', toString(number % 7)), toDateTime(1781049600 + number * 600) FROM system.numbers LIMIT 144;\n\
         INSERT INTO actions SELECT 'x', toDateTime(1781154000 + number * 10) FROM system.numbers LIMIT 130",
    );
    // 20 ms per row: a day of 144 rows takes 2.9 s, over the 2 s timeout; half a day does not.
    // (ClickHouse sleeps at most 3 s per block of rows.)
    let ws = Workspace::new(&one_rollup(
        &db.url,
        "statement_timeout = \"2s\"\nallow_functions = [\"sleepEachRow\"]",
        "filter = \"sleepEachRow(0.02) = 0\"",
    ));
    let (code, text) = output(&ws, &SYNC_ONE_DAY);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("hit the statement timeout; pulling it in smaller pieces"),
        "{text}"
    );
    assert_eq!(ws.query("SELECT sum(n), count(*) FROM activity"), ["144,7"]);
    // 130 rows in one hour: even the one-hour piece times out, and the day stays out.
    let (code, text) = output(&ws, &["sync", "--from", "2026-06-11", "--to", "2026-06-11"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("even the one-hour piece") && text.contains("ClickHouse error 159"),
        "{text}"
    );
    assert_eq!(ws.query("SELECT count(*) FROM _tally_slices"), ["1"]);
}

#[test]
fn a_clickhouse_table_not_ordered_by_time_is_refused_with_the_order_it_needs() {
    let db = ChDb::new();
    db.exec(
        "CREATE TABLE actions (signer String, block_time DateTime('UTC')) ENGINE = MergeTree \
           ORDER BY (signer, block_time);\n\
         INSERT INTO actions SELECT 'u', toDateTime(1781049600 + number * 3600) FROM system.numbers LIMIT 24",
    );
    let ws = Workspace::new(&one_rollup(&db.url, "", ""));
    let fix = "ORDER BY (block_time, signer)";
    let (code, text) = output(&ws, &["check"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("does not start with `block_time`") && text.contains(fix),
        "{text}"
    );
    let (code, text) = output(&ws, &SYNC_ONE_DAY);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains(fix) && text.contains("allow_full_scan"),
        "{text}"
    );
    assert_eq!(ws.query("SELECT count(*) FROM _tally_slices"), ["0"]);
    // Allowed, it reads the whole table (force_primary_key stays off).
    let ws = Workspace::new(&one_rollup(&db.url, "", "allow_full_scan = true"));
    ws.ok(&SYNC_ONE_DAY);
    assert_eq!(ws.query("SELECT sum(n) FROM activity"), ["24"]);
}

#[test]
fn clickhouse_sums_are_exact_and_an_overflow_is_refused() {
    let db = ChDb::new();
    db.exec(
        "CREATE TABLE rewards (wallet String, at DateTime('UTC'), wei UInt64, amount Decimal(38, 18), \
           price Float64) ENGINE = MergeTree ORDER BY at;\n\
         INSERT INTO rewards VALUES ('a', 1781049600, 18446744073709551615, '12345678901234567890.123456789012345678', 0.5), \
           ('a', 1781049601, 18446744073709551615, '0.000000000000000001', 0.25), \
           ('b', 1781049602, 1, '-1.5', 1)",
    );
    let rollup = "measures = { n = \"count(*)\", wei = \"sum(wei)\", amount = \"sum(amount)\", price = \"sum(price)\" }";
    let text = one_rollup(&db.url, "", "").replace("measures = { n = \"count(*)\" }", rollup);
    let ws = Workspace::new(
        &text
            .replace("table = \"actions\"", "table = \"rewards\"")
            .replace(
                "time = \"block_time\"\nuser = \"signer\"",
                "time = \"at\"\nuser = \"wallet\"",
            ),
    );
    ws.ok(&SYNC_ONE_DAY);
    assert_eq!(
        ws.query("SELECT user, n, wei, amount, price FROM activity ORDER BY user"),
        [
            "a,2,36893488147419103230,12345678901234567890.123456789012345679,0.75",
            "b,1,1,-1.500000000000000000,1.0"
        ]
    );
    // Enough 10^19 amounts to leave Decimal(38, 18): ClickHouse 18 would wrap around silently.
    db.exec(
        "INSERT INTO rewards SELECT 'c', toDateTime(1781136000 + number), 0, \
           toDecimal128('99999999999999999999', 18), 0 FROM system.numbers LIMIT 3",
    );
    let (code, text) = output(&ws, &["sync", "--from", "2026-06-11", "--to", "2026-06-11"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("measure `amount`") && text.contains("38 digits"),
        "{text}"
    );
}

#[test]
fn clickhouse_over_https_is_verified_with_the_ca() {
    let db = ChDb::new();
    db.exec(
        "CREATE TABLE actions (signer String, block_time DateTime('UTC')) ENGINE = MergeTree ORDER BY block_time;\n\
         INSERT INTO actions VALUES ('u', 1781049600)",
    );
    let ca = tls_dir().join("ca.pem");
    let https = |host: &str, query: &str| {
        format!(
            "clickhouse://default@{host}:8443/{}?ssl=true&{query}",
            db.name
        )
    };
    let ws = Workspace::new(&one_rollup(
        &https("localhost", &format!("sslrootcert={}", ca.display())),
        "",
        "",
    ));
    let (code, text) = output(&ws, &["check"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("tls: encrypted, HTTPS"), "{text}");
    ws.ok(&SYNC_ONE_DAY);
    assert_eq!(ws.query("SELECT sum(n) FROM activity"), ["1"]);
    // Without the test CA, the system's CAs do not know the server's certificate.
    let ws = Workspace::new(&one_rollup(&https("localhost", "sslmode=strict"), "", ""));
    let (code, text) = output(&ws, &["check"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("not signed by a CA tally trusts") && text.contains("sslrootcert="),
        "{text}"
    );
}

/// SIGTERM during a slice query: tally stops, and `KILL QUERY` (by the query's id) stops it on
/// the server, which ClickHouse 18 would not do by itself when the client goes away.
#[test]
fn a_signal_kills_the_running_query_on_clickhouse() {
    let db = ChDb::new();
    db.exec(
        "CREATE TABLE actions (signer String, block_time DateTime('UTC')) ENGINE = MergeTree \
         ORDER BY block_time SETTINGS index_granularity = 1000;\n\
         INSERT INTO actions SELECT 'u', toDateTime(1781049600 + number % 80000) FROM system.numbers LIMIT 200000",
    );
    // 2 s per block of 1,000 rows, 200 blocks: the query would run for minutes.
    let ws = Workspace::new(&one_rollup(
        &format!("{}?max_block_size=1000", db.url),
        "statement_timeout = \"600s\"\nallow_functions = [\"sleepEachRow\"]",
        "filter = \"sleepEachRow(0.002) = 0\"",
    ));
    let running = || -> usize {
        ch_exec_on(
            &ch_admin_url(),
            "SELECT count() FROM system.processes WHERE query LIKE '%sleepEachRow(0.002)%' \
             AND query_id LIKE 'tally-%'",
        )
        .trim()
        .parse()
        .unwrap()
    };
    let mut child = ws.command(&SYNC_ONE_DAY).spawn().unwrap();
    let started = std::time::Instant::now();
    while running() == 0 {
        assert!(
            started.elapsed().as_secs() < 30,
            "the slice query never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    assert_eq!(child.wait().unwrap().code(), Some(130));
    let stopped = std::time::Instant::now();
    while running() > 0 {
        assert!(stopped.elapsed().as_secs() < 5, "the query still runs");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
