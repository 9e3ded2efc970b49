//! The report's memory does not grow with the number of users: scoring merges sorted runs of
//! each day's partial scores instead of holding every user of the window, and so do the reports
//! built on it (segment_flow, top_rewarded).

use rusqlite::{Connection, params};

use crate::safety::peak_rss_kb;
use crate::support::Workspace;

const CONFIG: &str = r#"
timezone = "UTC"
store = "store.sqlite"

[sources.chain]
url = "sqlite://chain.sqlite"
pause = "0s"

[rollups.activity]
source = "chain"
table = "actions"
time = "at"
user = "signer"
dimensions = { action = "kind" }
measures = { actions = "count(*)" }
allow_full_scan = true
keep = "3650d"

[rollups.rewards]
source = "chain"
table = "rewards"
time = "at"
user = "wallet"
measures = { amount = "sum(amount)", claims = "count(*)" }
allow_full_scan = true
keep = "3650d"

[segments.engagement]
rollup = "activity"
score = "actions"
by = "action"
weights = { play = 2 }
groups = [ { name = "heavy", min_score = 2 }, { name = "light", min_score = 0 } ]

[reports.rewards_by_segment]
kind = "segment_rewards"
segment = "engagement"
rewards = "rewards"
amount = "amount"
days = 2

[reports.moves]
kind = "segment_flow"
segment = "engagement"
compare = "1d"

[reports.top]
kind = "top_rewarded"
segment = "engagement"
rewards = "rewards"
amount = "amount"
days = 2
"#;

/// A workspace whose SQLite source has `users` users, each with the same rows: one or two
/// actions a day over 2026-06-01..=2026-06-08, and a reward on the last two days for a third.
fn workspace(users: u32) -> Workspace {
    let ws = Workspace::new(CONFIG);
    let mut db = Connection::open(ws.path().join("chain.sqlite")).unwrap();
    db.execute_batch(
        "CREATE TABLE actions (signer TEXT, kind TEXT, at TEXT);
         CREATE TABLE rewards (wallet TEXT, amount DECIMAL(20, 8), at TEXT);",
    )
    .unwrap();
    let tx = db.transaction().unwrap();
    {
        let mut action = tx
            .prepare("INSERT INTO actions VALUES (?1, ?2, ?3)")
            .unwrap();
        let mut reward = tx
            .prepare("INSERT INTO rewards VALUES (?1, ?2, ?3)")
            .unwrap();
        for day in 1..=8 {
            for u in 0..users {
                let signer = format!("0x{u:08x}");
                let at = format!("2026-06-{day:02} {:02}:{:02}:00", u % 24, u % 60);
                action.execute(params![signer, "play", at]).unwrap();
                if u % 2 == 0 {
                    action.execute(params![signer, "trade", at]).unwrap();
                }
                if day >= 7 && u % 3 == 0 {
                    reward.execute(params![signer, "1.25", at]).unwrap();
                }
            }
        }
    }
    tx.commit().unwrap();
    ws
}

#[test]
fn the_report_s_memory_does_not_grow_with_users() {
    let mut peaks = Vec::new();
    let mut other_peaks = Vec::new();
    for users in [50_000, 500_000] {
        let ws = workspace(users);
        let (ok, peak_kb) = peak_rss_kb(ws.command(&[
            "report",
            "rewards_by_segment",
            "--date",
            "2026-06-08",
            "--format",
            "csv",
        ]));
        assert!(ok, "{users} users");
        // Every user is heavy (score 2 or 3 a day); a third got 1.25 on each report day.
        let lines = ws.ok(&[
            "report",
            "rewards_by_segment",
            "--date",
            "2026-06-08",
            "--format",
            "csv",
            "--no-sync",
        ]);
        let rewarded = users.div_ceil(3);
        assert!(
            lines.contains(&format!(
                "2026-06-08,heavy,{users},{users},{},{rewarded},",
                users + users.div_ceil(2)
            )),
            "{lines}"
        );
        eprintln!("{users} users: peak RSS {peak_kb} kB");
        peaks.push(peak_kb);
        // The reports that read the same merge, from the store synced above.
        let mut others = Vec::new();
        for report in ["moves", "top"] {
            let (ok, kb) = peak_rss_kb(ws.command(&[
                "report",
                report,
                "--date",
                "2026-06-08",
                "--format",
                "csv",
                "--no-sync",
            ]));
            assert!(ok, "{report}, {users} users");
            eprintln!("{report}, {users} users: peak RSS {kb} kB");
            others.push(kb);
        }
        other_peaks.push(others);
    }
    // These compute the day runs the first report did not need (top: the claims' sums) while
    // SQLite's page cache is full: its two bounded buffers, 8 MB of cache and an 8 MB sort.
    for (i, report) in ["moves", "top"].iter().enumerate() {
        let (small, big) = (other_peaks[0][i], other_peaks[1][i]);
        assert!(
            big < small + 16 * 1024 && big < 64 * 1024,
            "{report}: peak RSS grew from {small} kB to {big} kB"
        );
    }
    // Ten times the users: the same memory, give or take what SQLite's bounded caches hold (an
    // 8 MB page cache, sorts that spill to files past 8 MB).
    assert!(
        peaks[1] < peaks[0] + 8 * 1024,
        "peak RSS grew from {} kB to {} kB",
        peaks[0],
        peaks[1]
    );
    assert!(peaks[1] < 64 * 1024, "peak RSS {} kB", peaks[1]);
}
