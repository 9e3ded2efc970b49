//! From download to first run: `tally init` then `tally check`, completions and the man page,
//! the missing-config hint, plain logs when piped, JSON output in column order, SQL from a file
//! or standard input, typed store columns and the BI view, `sync --rollup`.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use crate::support::{Workspace, output, small_segment_rewards};

fn tally(args: &[&str], dir: &std::path::Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_tally"))
        .args(args)
        .current_dir(dir)
        .env_remove("TALLY_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn init_writes_a_config_that_check_says_what_to_fill_in() {
    let dir = tempfile::tempdir().unwrap();
    let out = tally(&["init", "setup"], dir.path());
    assert!(out.status.success());
    let setup = dir.path().join("setup");
    let env = std::fs::metadata(setup.join(".env")).unwrap();
    assert_eq!(env.permissions().mode() & 0o777, 0o600);
    let out = tally(&["-c", "setup/tally.toml", "check"], dir.path());
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    for key in [
        "timezone: still to fill in",
        "rollups.activity.table: still to fill in",
        "rollups.rewards.measures.amount: still to fill in",
        "rollups.rewards.filter: still to fill in: <fill in: the one currency to sum",
        "sources.chain.url: still to fill in: set CHAIN_DATABASE_URL",
        "deliver[0].token: still to fill in: set SLACK_BOT_TOKEN",
    ] {
        assert!(text.contains(key), "{key}:\n{text}");
    }
    // Only what to fill in, not what the placeholders break.
    for line in text.lines().filter(|l| l.starts_with("  - ")) {
        assert!(line.contains(": still to fill in: "), "{line}");
    }
    // A second init keeps both files.
    std::fs::write(setup.join("tally.toml"), "# mine\n").unwrap();
    let out = tally(&["init", "setup"], dir.path());
    assert!(out.status.success());
    assert_eq!(
        std::fs::read_to_string(setup.join("tally.toml")).unwrap(),
        "# mine\n"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("kept"));
}

#[test]
fn completions_and_the_man_page_come_from_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    for (shell, needle) in [
        ("bash", "_tally()"),
        ("zsh", "#compdef tally"),
        ("fish", "complete -c tally"),
    ] {
        let out = tally(&["completions", shell], dir.path());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(needle),
            "{shell}: {text}"
        );
        assert!(text.contains("dry-run"), "{shell} completes the flags");
    }
    let out = tally(&["man"], dir.path());
    let page = String::from_utf8_lossy(&out.stdout);
    assert!(
        page.starts_with(".ie") || page.contains(".TH tally"),
        "{page}"
    );
    for section in [
        ".SH FILES",
        ".SH EXAMPLES",
        ".SH \"EXIT STATUS\"",
        ".SH SUBCOMMANDS",
    ] {
        assert!(page.contains(section), "{section} in\n{page}");
    }
    // Every page it points to is one the package installs.
    let manifest =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml")).unwrap();
    for word in page.split(|c: char| c.is_whitespace() || c == ',' || c == '(' || c == ')') {
        let name = word.trim_end_matches('.');
        if name.ends_with(".md") {
            assert!(
                manifest.contains(&format!("/{name}\"")),
                "{name} is not shipped"
            );
        }
    }
}

#[test]
fn a_missing_config_says_where_tally_looked_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let out = tally(&["check"], dir.path());
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    let looked = dir.path().join("tally.toml");
    assert!(
        text.contains(&format!("looked for {}", looked.display()))
            && text.contains("tally init")
            && text.contains("tally demo")
            && text.contains("-c FILE"),
        "{text}"
    );
}

#[test]
fn piped_logs_have_no_colour_codes_and_json_logs_have_fields() {
    let ws = small_segment_rewards("", "");
    let out = ws.run(&["sync", "--date", "2026-11-10", "--rollup", "rewards"]);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{log}");
    assert!(!log.contains('\x1b'), "{log}");
    let out = ws.run(&[
        "--log-format",
        "json",
        "sync",
        "--from",
        "2026-11-09",
        "--to",
        "2026-11-09",
        "--refresh",
    ]);
    let line = String::from_utf8_lossy(&out.stderr)
        .lines()
        .find(|l| l.contains("\"rollup\":\"activity\"") && l.contains("\"rows\""))
        .map(String::from)
        .expect("a pulled-slice line");
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["fields"]["day"], "2026-11-09");
    assert!(v["fields"]["duration_ms"].is_u64(), "{line}");

    // Under systemd (JOURNAL_STREAM set), text lines leave the time to journald; the packaged
    // unit writes text lines.
    let out = ws
        .command(&[
            "sync",
            "--from",
            "2026-11-09",
            "--to",
            "2026-11-09",
            "--refresh",
        ])
        .env("JOURNAL_STREAM", "8:12345")
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr);
    let line = log
        .lines()
        .find(|l| l.contains("pulled"))
        .expect("a pulled line");
    assert!(line.trim_start().starts_with("INFO"), "{line}");
    let unit =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/tally.service"))
            .unwrap();
    let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
    assert!(
        exec.ends_with(" daemon") && !exec.contains("json"),
        "{exec}"
    );
}

#[test]
fn sync_rollup_touches_only_that_rollup() {
    let ws = small_segment_rewards("", "");
    let before = ws
        .query("SELECT rollup, max(pulled_at) FROM _tally_slices GROUP BY rollup ORDER BY rollup");
    ws.ok(&[
        "sync",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-10",
        "--refresh",
        "--rollup",
        "rewards",
    ]);
    let after = ws
        .query("SELECT rollup, max(pulled_at) FROM _tally_slices GROUP BY rollup ORDER BY rollup");
    assert_eq!(after[0], before[0], "activity was not pulled");
    assert_ne!(after[1], before[1], "rewards was");
    let (code, text) = output(&ws, &["sync", "--rollup", "nope"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("no rollup named `nope`"), "{text}");
}

#[test]
fn json_output_keeps_column_order_and_info_commands_speak_json() {
    let ws = small_segment_rewards("", "");
    let report = ws.ok(&[
        "report",
        "--no-sync",
        "--date",
        "2026-11-10",
        "--format",
        "json",
    ]);
    let first_row = report.find("\"day\"").unwrap();
    let order: Vec<usize> = [
        "\"day\"",
        "\"segment\"",
        "\"users\"",
        "\"active\"",
        "\"share\"",
    ]
    .iter()
    .map(|k| report[first_row..].find(k).unwrap())
    .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{report}");
    for args in [
        &["status", "--format", "json"][..],
        &["history", "--format", "json"],
        &["plan", "--format", "json", "--date", "2026-11-10"],
        &["check", "--format", "json"],
    ] {
        let text = ws.ok(args);
        let v: serde_json::Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{args:?}: {e}\n{text}"));
        assert!(!v.is_null(), "{args:?}");
    }
}

#[test]
fn query_reads_sql_from_a_file_or_standard_input() {
    let ws = small_segment_rewards("", "");
    std::fs::write(
        ws.path().join("q.sql"),
        "SELECT count(*) AS n FROM activity",
    )
    .unwrap();
    let q = ws.path().join("q.sql");
    let from_file = ws.ok(&["query", "--format", "csv", "--file", q.to_str().unwrap()]);
    let mut child = ws
        .command(&["query", "--format", "csv", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"SELECT count(*) AS n FROM activity")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), from_file);
    assert!(from_file.starts_with("n\n"), "{from_file}");
    let (code, text) = output(&ws, &["query", "SELECT * FROM nowhere"]);
    assert_eq!(code, 1);
    assert!(text.contains("query: no such table: nowhere"), "{text}");
}

/// After a run, the segment a report reads has its per-user table and `_bi` view in the store
/// for the days the report scores, without an SQL report naming it; a second run writes no day
/// again, and a change of the groups writes them all.
#[test]
fn every_segment_a_report_reads_has_its_table_after_a_run() {
    let ws = small_segment_rewards("", "");
    ws.ok(&["-q", "run", "--date", "2026-11-10"]);
    // The 3-day window over users u0..u5 with 1, 3, 5, 7, 9, 11 actions a day: heavy from 7.
    let days =
        ws.query("SELECT day, count(*), sum(segment = 'heavy') FROM engagement GROUP BY day");
    assert_eq!(days.len(), 8, "{days:?}");
    assert_eq!(days.last().unwrap(), "2026-11-10,6,3", "{days:?}");
    assert_eq!(
        ws.query("SELECT count(*) FROM engagement_bi"),
        ws.query("SELECT count(*) FROM engagement")
    );
    let u5 =
        ws.query("SELECT score, segment FROM engagement WHERE day = '2026-11-10' AND user = 'u5'");
    assert_eq!(u5, ["11,heavy"]);
    // A mark in a day's rows stays while the day is not written again.
    let store = rusqlite::Connection::open(ws.path().join("store.sqlite")).unwrap();
    store
        .execute("UPDATE engagement SET score = -1 WHERE user = 'u0'", [])
        .unwrap();
    drop(store);
    ws.ok(&["-q", "run", "--date", "2026-11-10"]);
    assert_eq!(
        ws.query("SELECT count(*) FROM engagement WHERE score = -1"),
        ["8"],
        "an unchanged day is not written again"
    );
    let config = std::fs::read_to_string(ws.config()).unwrap();
    std::fs::write(
        ws.config(),
        config.replace("min_score = 7", "min_score = 10"),
    )
    .unwrap();
    ws.ok(&["-q", "run", "--date", "2026-11-10"]);
    assert_eq!(
        ws.query("SELECT sum(segment = 'heavy') FROM engagement WHERE day = '2026-11-10'"),
        ["1"]
    );
}

#[test]
fn store_columns_are_typed_and_each_rollup_has_a_bi_view() {
    let ws = small_segment_rewards("", "");
    let types =
        ws.query("SELECT name || ' ' || type FROM pragma_table_info('rewards') ORDER BY cid");
    assert_eq!(types, ["day TEXT", "user TEXT", "amount TEXT"]);
    let counts = ws.query("SELECT type FROM pragma_table_info('activity') WHERE name = 'actions'");
    assert_eq!(counts, ["INTEGER"]);
    assert_eq!(
        ws.query("SELECT typeof(amount) FROM rewards_bi LIMIT 1"),
        ["real"]
    );
    assert_eq!(
        ws.query("SELECT count(*) FROM rewards_bi"),
        ws.query("SELECT count(*) FROM rewards")
    );
}

#[test]
fn the_demo_prints_commands_that_work_in_that_order() {
    let dir = tempfile::tempdir().unwrap();
    let out = tally(&["-q", "demo", "--dir", "demo"], dir.path());
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}");
    let commands: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("tally "))
        .collect();
    assert!(commands.len() >= 3, "{text}");
    assert!(commands[0].starts_with("init "), "{text}");
    for command in commands {
        let ws = Workspace::existing(
            tempfile::tempdir().unwrap(),
            dir.path().join("demo/tally.toml"),
        );
        let args = shell_words(command);
        let out = Command::new(env!("CARGO_BIN_EXE_tally"))
            .args(&args)
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "tally {command}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        drop(ws);
    }
}

/// Splits a command line printed by the demo (words, and double-quoted strings).
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quoted = false;
    for ch in line.chars() {
        match ch {
            '"' => quoted = !quoted,
            ' ' if !quoted => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// `history` fits 100 columns, however long an error is, and shows when each run started in the
/// config's zone; its JSON keeps every field as the store does.
#[test]
fn history_fits_a_hundred_columns_in_the_configs_zone() {
    let ws = small_segment_rewards("", "");
    let config = std::fs::read_to_string(ws.config()).unwrap();
    std::fs::write(ws.config(), format!("timezone = \"Asia/Seoul\"\n{config}")).unwrap();
    ws.ok(&["-q", "run", "--date", "2026-11-10"]);
    std::fs::rename(ws.path().join("src.sqlite"), ws.path().join("away.sqlite")).unwrap();
    let (code, _) = output(&ws, &["-q", "run", "--date", "2026-11-11"]);
    assert_eq!(code, 1);
    let text = ws.ok(&["history"]);
    for line in text.lines() {
        assert!(
            line.chars().count() <= 100,
            "{} wide:\n{text}",
            line.chars().count()
        );
    }
    assert!(text.contains(" KST") && text.contains("failed"), "{text}");
    let json: serde_json::Value =
        serde_json::from_str(&ws.ok(&["history", "--format", "json"])).unwrap();
    assert!(
        json[0]["started"].as_str().unwrap().ends_with('Z'),
        "{json}"
    );
    assert!(
        json[0]["error"].as_str().unwrap().contains("src.sqlite"),
        "{json}"
    );
}

#[test]
fn an_sql_report_alone_writes_its_segment_table_from_a_new_store() {
    // No built-in report scores the segment first: the segment table's days are written from
    // partial scores made for them (a regression: the table's transaction was open when the
    // partial scores' own began).
    let ws = crate::support::small_segment_rewards("", "");
    let config = std::fs::read_to_string(ws.config()).unwrap();
    let start = config.find("[reports.rewards_by_segment]").unwrap();
    let config = format!(
        "{}[reports.sizes]\nsql = \"SELECT day, segment, count(*) AS users FROM engagement WHERE day BETWEEN :start AND :end GROUP BY day, segment ORDER BY day, segment\"\ndays = 2\n",
        &config[..start]
    );
    std::fs::write(ws.config(), config).unwrap();
    std::fs::remove_file(ws.path().join("store.sqlite")).unwrap();
    let out = ws.ok(&["report", "sizes", "--date", "2026-11-10", "--format", "csv"]);
    assert!(
        out.starts_with("day,segment,users,provisional\n2026-11-09,heavy,"),
        "{out}"
    );
}
