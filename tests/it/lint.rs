//! Configs that run but give wrong numbers are warned about, against real databases: a weight
//! for an action that never occurs, and rewards users who do not join the activity users. Each
//! warning fires on the bad config and stays silent on the good ones (the tests' and the demo's).

use std::process::Command;

use crate::cross::{config, fixture, my_rewards, pg_actions};
use crate::support::{MyDb, PgDb, Workspace, output};

/// PostgreSQL actions and MariaDB rewards, with `config` changed by `edit`.
fn workspace(edit: impl Fn(String) -> String) -> (PgDb, MyDb, Workspace) {
    let (actions, rewards) = fixture();
    let pg = PgDb::new();
    let my = MyDb::new();
    pg_actions(&pg, &actions);
    my_rewards(&my, &rewards);
    let ws = Workspace::new(&edit(config(&pg.url, "UTC", &my.url, "UTC")));
    (pg, my, ws)
}

/// `run` for the fixture's last day; its log.
fn run_log(ws: &Workspace) -> String {
    let out = ws.run(&["run", "--date", "2026-11-15"]);
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "{log}");
    log
}

#[test]
fn a_weight_for_an_action_that_never_occurs_is_warned_about() {
    let (_pg, _my, ws) = workspace(|c| c.replace("hack_and_slash22 = 2", "hack_and_slash_22 = 2"));
    let log = run_log(&ws);
    let warned: Vec<&str> = log.lines().filter(|l| l.contains("weights.")).collect();
    assert_eq!(warned.len(), 1, "{log}");
    assert!(
        warned[0].contains("segments.engagement.weights.hack_and_slash_22")
            && warned[0].contains("was never `hack_and_slash_22` from 2026-11-09 to 2026-11-15")
            && warned[0].contains("closest values: `hack_and_slash22`"),
        "{}",
        warned[0]
    );
    let (code, text) = output(&ws, &["check"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("warning segments.engagement.weights.hack_and_slash_22:"),
        "{text}"
    );
    let (code, text) = output(&ws, &["check", "--strict"]);
    assert_eq!(code, 1, "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&ws.ok(&["check", "--format", "json"])).unwrap();
    assert_eq!(
        json["warnings"][0]["key"],
        "segments.engagement.weights.hack_and_slash_22"
    );
}

#[test]
fn rewards_users_that_do_not_join_the_activity_users_are_warned_about() {
    // The chain's signers are mixed case; the portal's wallets are lower-cased.
    let (_pg, _my, ws) = workspace(|c| c.replace("user = \"lower(signer)\"", "user = \"signer\""));
    let log = run_log(&ws);
    let warned: Vec<&str> = log.lines().filter(|l| l.contains("reports.")).collect();
    assert_eq!(warned.len(), 1, "{log}");
    let w = warned[0];
    assert!(
        w.contains("reports.rewards_by_segment")
            && w.contains("users rewarded on 2026-11-15 appear in rollup `activity`")
            && w.contains("rollups.rewards.user = `lower(wallet)` gives `0xabc")
            && w.contains("rollups.activity.user = `signer` gives `0xAbC"),
        "{w}"
    );
    let (code, text) = output(&ws, &["check", "--strict"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("warning reports.rewards_by_segment:"),
        "{text}"
    );
}

#[test]
fn good_configs_are_not_warned_about() {
    let (_pg, _my, ws) = workspace(|c| c);
    let log = run_log(&ws);
    assert!(
        !log.contains("weights.") && !log.contains("reports.rewards_by_segment"),
        "{log}"
    );
    let (code, text) = output(&ws, &["check", "--strict"]);
    assert_eq!(code, 0, "{text}");
    assert!(!text.contains("warning"), "{text}");

    // The demo's config too.
    let dir = tempfile::tempdir().unwrap();
    let demo = dir.path().join("demo");
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(["demo", "--dir"])
        .arg(&demo)
        .output()
        .unwrap();
    assert!(out.status.success());
    let out = Command::new(env!("CARGO_BIN_EXE_tally"))
        .arg("-c")
        .arg(demo.join("tally.toml"))
        .args(["check", "--strict"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(!text.contains("warning"), "{text}");
}
