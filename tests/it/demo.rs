//! The demo runs with no server and no secret, and its store behaves like any other.

use std::process::Command;

use crate::support::Workspace;

#[test]
fn demo_prints_the_report_and_reruns_are_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["demo", "--dir"])
        .arg(&demo)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for word in [
        "heavy",
        "light",
        "inactive",
        "share",
        "rewards",
        // The policy lab: a candidate's columns, the percentiles, and the annotation.
        "rewards_candidate",
        "moved_in",
        "p50",
        "at_least_heavy",
        ": Event dungeon opened",
        "resurrecting",
        "gini",
    ] {
        assert!(text.contains(word), "{word} missing from:\n{text}");
    }
    // Without -v the demo logs nothing, and it writes its charts where it says.
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.trim().is_empty(), "{log}");
    let pngs: Vec<&str> = text
        .split_whitespace()
        .map(|w| w.trim_end_matches(['.', ',']))
        .filter(|w| w.ends_with(".png"))
        .collect();
    assert_eq!(pngs.len(), 6, "{text}");
    for png in pngs {
        let bytes = std::fs::read(png).unwrap();
        assert!(bytes.starts_with(b"\x89PNG\r\n"), "{png}");
    }
    let ws = Workspace::existing(dir, demo.join("tally.toml"));
    let dump = |ws: &Workspace| ws.query("SELECT * FROM activity ORDER BY day, user, action");
    let before = dump(&ws);
    assert!(before.len() > 1000);
    let rows = ws.ok(&["report", "top_actions", "--format", "csv"]);
    assert!(
        rows.starts_with("action,actions\nhack_and_slash22,"),
        "{rows}"
    );
    // `md` is `markdown`.
    let md = ws.ok(&["report", "top_actions", "--no-sync", "--format", "md"]);
    assert_eq!(
        md,
        ws.ok(&["report", "top_actions", "--no-sync", "--format", "markdown"])
    );
    assert!(md.contains("| action"), "{md}");
    ws.ok(&["-q", "sync", "--refresh"]);
    assert_eq!(
        dump(&ws),
        before,
        "a refresh of the same data changes nothing"
    );
}
