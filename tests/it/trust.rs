//! Numbers you can trust from one day to the next: provisional days, revisions of numbers
//! already posted, and alerts that remember.

use crate::support::small_segment_rewards;

/// With the default 2-day lookback, the report date and the day before are provisional: marked
/// `*` in the text and Markdown tables with a footnote, `true` in the CSV's and JSON's
/// `provisional` column; with `lookback = "0s"` no day is.
#[test]
fn provisional_days_are_marked_for_a_two_day_and_a_zero_day_lookback() {
    let ws = small_segment_rewards("", "");
    let report = |format: &str| {
        ws.ok(&[
            "report",
            "--no-sync",
            "--date",
            "2026-11-10",
            "--format",
            format,
        ])
    };
    let table = report("table");
    for day in ["2026-11-09*", "2026-11-10*"] {
        assert!(table.contains(day), "{day} in\n{table}");
    }
    assert!(!table.contains("2026-11-08*"), "{table}");
    assert!(
        table.contains("* may still change: late rows are pulled again for 2 days"),
        "{table}"
    );
    assert!(report("md").contains("2026-11-10*"));
    let csv = report("csv");
    let flags: Vec<(&str, &str)> = csv
        .lines()
        .skip(1)
        .map(|l| (&l[..10], l.rsplit(',').next().unwrap()))
        .collect();
    assert!(
        csv.starts_with("day,segment,users,active,actions,rewarded,rewards,share,provisional\n")
    );
    for (day, flag) in flags {
        let want = if day >= "2026-11-09" { "true" } else { "false" };
        assert_eq!(flag, want, "{day}");
    }
    let json: serde_json::Value = serde_json::from_str(&report("json")).unwrap();
    assert_eq!(json["rows"][0]["provisional"], false);
    assert_eq!(json["rows"][23]["provisional"], true);

    let config = std::fs::read_to_string(ws.config()).unwrap();
    let config = config.replace("keep = \"3650d\"", "keep = \"3650d\"\nlookback = \"0s\"");
    std::fs::write(ws.config(), config).unwrap();
    let table = report("table");
    assert!(!table.contains('*'), "{table}");
    assert!(report("csv").lines().skip(1).all(|l| l.ends_with(",false")));
}
