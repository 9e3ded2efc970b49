//! Incremental pulls: late rows inside the lookback are picked up on the next run, final days are
//! not queried again, and `--refresh` brings them in.

use crate::support::{PgDb, Workspace};

fn config(url: &str) -> String {
    format!(
        r#"
timezone = "UTC"
store = "store.sqlite"
[sources.chain]
url = "{url}"
pause = "0s"
[rollups.activity]
source = "chain"
table = "actions"
time = "block_time"
user = "signer"
measures = {{ actions = "count(*)" }}
lookback = "2d"
keep = "3650d"
[reports.daily]
sql = "SELECT day, sum(actions) AS actions FROM activity WHERE day BETWEEN :start AND :end GROUP BY day ORDER BY day"
days = 10
"#
    )
}

fn add(db: &PgDb, day: &str, n: usize) {
    let rows: Vec<String> = (0..n)
        .map(|i| format!("('u{}', '{day}T{:02}:00:00Z')", i % 3, i % 24))
        .collect();
    db.exec(&format!(
        "INSERT INTO actions (signer, block_time) VALUES {}",
        rows.join(", ")
    ));
}

fn day_total(ws: &Workspace, day: &str) -> String {
    ws.query(&format!(
        "SELECT sum(actions) FROM activity WHERE day = '{day}'"
    ))[0]
        .clone()
}

#[test]
fn late_rows_lookback_final_days_and_refresh() {
    let db = PgDb::new();
    db.exec("CREATE TABLE actions (signer text, block_time timestamptz); CREATE INDEX ON actions (block_time);");
    for d in 1..=10 {
        add(&db, &format!("2026-11-{d:02}"), 10);
    }
    let ws = Workspace::new(&config(&db.url));
    ws.ok(&["sync", "--date", "2026-11-10"]);
    assert_eq!(day_total(&ws, "2026-11-05"), "10");

    add(&db, "2026-11-10", 3);
    add(&db, "2026-11-09", 2);
    add(&db, "2026-11-05", 4);
    let plan = ws.ok(&["plan", "--date", "2026-11-10"]);
    let pulls: Vec<&str> = plan.lines().filter(|l| l.starts_with("  2026-")).collect();
    assert_eq!(pulls.len(), 2, "{plan}");
    assert!(pulls.iter().all(|l| l.ends_with("lookback")), "{plan}");
    assert!(plan.contains("GROUP BY signer"), "{plan}");

    ws.ok(&["sync", "--date", "2026-11-10"]);
    assert_eq!(day_total(&ws, "2026-11-10"), "13");
    assert_eq!(day_total(&ws, "2026-11-09"), "12");
    assert_eq!(
        day_total(&ws, "2026-11-05"),
        "10",
        "a final day is not queried again"
    );

    ws.ok(&[
        "sync",
        "--from",
        "2026-11-05",
        "--to",
        "2026-11-05",
        "--refresh",
    ]);
    assert_eq!(day_total(&ws, "2026-11-05"), "14");

    // A day later, 11-09 is still within the lookback of the newest slice pulled before.
    add(&db, "2026-11-11", 5);
    add(&db, "2026-11-09", 1);
    add(&db, "2026-11-10", 1);
    ws.ok(&["sync", "--date", "2026-11-11"]);
    assert_eq!(day_total(&ws, "2026-11-11"), "5");
    assert_eq!(day_total(&ws, "2026-11-10"), "14");
    assert_eq!(day_total(&ws, "2026-11-09"), "13");
    // Another day later it is final: its new late row stays out until a refresh.
    add(&db, "2026-11-12", 2);
    add(&db, "2026-11-09", 1);
    ws.ok(&["sync", "--date", "2026-11-12"]);
    assert_eq!(day_total(&ws, "2026-11-12"), "2");
    assert_eq!(day_total(&ws, "2026-11-09"), "13");
    let report = ws.ok(&[
        "report",
        "--no-sync",
        "--date",
        "2026-11-11",
        "--format",
        "csv",
    ]);
    assert!(
        report.ends_with("2026-11-09,13,false\n2026-11-10,14,true\n2026-11-11,5,true\n"),
        "{report}"
    );
}

#[test]
fn cached_segment_scores_follow_pulled_again_days() {
    let ws = crate::support::small_segment_rewards("", "");
    let report = |ws: &Workspace| {
        ws.ok(&[
            "report",
            "rewards_by_segment",
            "--no-sync",
            "--date",
            "2026-11-10",
            "--format",
            "csv",
        ])
    };
    let before = report(&ws);
    assert_eq!(
        report(&ws),
        before,
        "the second report reads the cached partial scores"
    );

    // u0 becomes heavy on 2026-11-09; the day is pulled again.
    let conn = rusqlite::Connection::open(ws.path().join("src.sqlite")).unwrap();
    for i in 0..60 {
        conn.execute(
            "INSERT INTO actions VALUES ('u0', 'play', ?1)",
            [format!("2026-11-09 11:{i:02}:00")],
        )
        .unwrap();
    }
    ws.ok(&[
        "-q",
        "sync",
        "--from",
        "2026-11-09",
        "--to",
        "2026-11-09",
        "--refresh",
    ]);
    let after = report(&ws);
    assert_ne!(after, before);

    // The same as a store that never had the old day.
    let fresh = Workspace::new(&std::fs::read_to_string(ws.config()).unwrap());
    std::fs::copy(
        ws.path().join("src.sqlite"),
        fresh.path().join("src.sqlite"),
    )
    .unwrap();
    fresh.ok(&["-q", "sync", "--date", "2026-11-10"]);
    assert_eq!(report(&fresh), after);
}

/// A slice pulled again with the same rows keeps the stored rows (and so the cached scores of its
/// day); a slice whose rows changed is rewritten.
#[test]
fn a_slice_pulled_again_with_the_same_rows_is_kept() {
    let db = PgDb::new();
    db.exec("CREATE TABLE actions (signer text, block_time timestamptz); CREATE INDEX ON actions (block_time);");
    for d in 1..=4 {
        add(&db, &format!("2026-11-{d:02}"), 10);
    }
    let ws = Workspace::new(&config(&db.url));
    let sync = [
        "sync",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-04",
        "--refresh",
    ];
    ws.ok(&sync);
    let layout =
        "SELECT day, min(rowid), max(rowid), sum(actions) FROM activity GROUP BY day ORDER BY day";
    let before = ws.query(layout);
    let digests = ws.query("SELECT start, digest FROM _tally_slices ORDER BY start");
    let out = ws.run(&sync);
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(log.matches("unchanged").count(), 4, "{log}");
    assert_eq!(ws.query(layout), before, "unchanged rows are not rewritten");
    assert_eq!(
        ws.query("SELECT start, digest FROM _tally_slices ORDER BY start"),
        digests
    );

    add(&db, "2026-11-03", 1);
    let out = ws.run(&sync);
    let log = String::from_utf8_lossy(&out.stderr);
    assert_eq!(log.matches("unchanged").count(), 3, "{log}");
    let after = ws.query(layout);
    assert_eq!(after[0], before[0]);
    assert_ne!(after[2], before[2]);
    assert_eq!(day_total(&ws, "2026-11-03"), "11");
}

/// The lines of a report day are kept in the store and read back while their inputs are the
/// same; new rows for a day, or a changed segment, make the day computed again, and the report
/// always equals the one of a fresh store.
#[test]
fn cached_report_days_follow_their_inputs() {
    let ws = crate::support::small_segment_rewards("", "");
    let report = [
        "report",
        "--no-sync",
        "--date",
        "2026-11-10",
        "--format",
        "csv",
    ];
    let first = ws.ok(&report);
    assert_eq!(
        ws.query("SELECT count(*) FROM _tally_report_days WHERE report NOT LIKE 'table:%' AND report NOT LIKE 'values:%'"),
        ["8"],
        "one cached day per report day"
    );
    assert_eq!(ws.ok(&report), first);

    let fresh = |ws: &Workspace| {
        let copy = Workspace::new("");
        for f in ["src.sqlite", "tally.toml", ".env"] {
            std::fs::copy(ws.path().join(f), copy.path().join(f)).unwrap();
        }
        copy.ok(&["-q", "sync", "--date", "2026-11-10"]);
        copy.ok(&report)
    };
    // A late reward for 2026-11-05: the day's lines change, the others are read back.
    let src = rusqlite::Connection::open(ws.path().join("src.sqlite")).unwrap();
    src.execute(
        "INSERT INTO rewards VALUES ('u0', '7.75', '2026-11-05 13:00:00')",
        [],
    )
    .unwrap();
    ws.ok(&[
        "-q",
        "sync",
        "--from",
        "2026-11-05",
        "--to",
        "2026-11-05",
        "--refresh",
    ]);
    let after = ws.ok(&report);
    assert_ne!(after, first);
    assert_eq!(after, fresh(&ws));
    let changed: Vec<_> = first
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .map(|(a, _)| a.split(',').next().unwrap().to_string())
        .collect();
    assert!(
        !changed.is_empty() && changed.iter().all(|d| d == "2026-11-05"),
        "{changed:?}"
    );

    // Another threshold: every day is computed again.
    let config = std::fs::read_to_string(ws.config()).unwrap();
    std::fs::write(
        ws.config(),
        config.replace("min_score = 7", "min_score = 3"),
    )
    .unwrap();
    let regrouped = ws.ok(&report);
    assert_ne!(regrouped, after);
    assert_eq!(regrouped, fresh(&ws));
}

/// `keep` prunes only the days older than it, and says so when that empties a rollup; a long
/// `keep` (100 years, "forever") prunes nothing.
#[test]
fn keep_prunes_only_older_days_and_warns_when_it_empties_a_rollup() {
    let db = PgDb::new();
    db.exec("CREATE TABLE actions (signer text, block_time timestamptz); CREATE INDEX ON actions (block_time);");
    for d in 1..=3 {
        add(&db, &format!("2026-01-{d:02}"), 5);
    }
    let ws = Workspace::new(&config(&db.url).replace("keep = \"3650d\"", "keep = \"36500d\""));
    ws.ok(&["sync", "--from", "2026-01-01", "--to", "2026-01-03"]);
    // A sync of another range prunes nothing with a 100-year keep.
    ws.ok(&["sync", "--from", "2026-01-03", "--to", "2026-01-03"]);
    assert_eq!(ws.query("SELECT count(DISTINCT day) FROM activity"), ["3"]);
    // With keep = 30d, days from January are older than keep (counted back from today).
    let short = std::fs::read_to_string(ws.config())
        .unwrap()
        .replace("keep = \"36500d\"", "keep = \"30d\"");
    std::fs::write(ws.config(), short).unwrap();
    let out = ws.run(&["sync", "--from", "2026-01-03", "--to", "2026-01-03"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("keep (30 days) removes all of its 9 rows, over 3 days before"),
        "{log}"
    );
    assert_eq!(ws.query("SELECT count(*) FROM activity"), ["0"]);
}
