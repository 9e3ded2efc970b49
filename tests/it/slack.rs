//! Delivery to Slack, against the local stand-in for Slack's Web API
//! ([`crate::support::slack_server`]).

use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::support::slack_server::{Reply, SlackServer, TOKEN};
use crate::support::{Workspace, small_segment_rewards};

fn posts(server: &SlackServer) -> usize {
    server
        .calls()
        .iter()
        .filter(|c| c.ends_with("chat.postMessage"))
        .count()
}

/// The small segment_rewards fixture with a Slack destination at `server`.
fn workspace(server: &SlackServer, extra: &str) -> Workspace {
    small_segment_rewards(
        &format!(
            r#"
[[deliver]]
kind = "slack"
token = "${{SLACK_BOT_TOKEN}}"
channel = "C0TEST"
api_url = "{}"
{extra}
"#,
            server.url
        ),
        &format!("SLACK_BOT_TOKEN={TOKEN}\n"),
    )
}

fn deliver(ws: &Workspace, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["deliver", "--date", "2026-11-10"];
    args.extend(extra);
    let out = ws.run(&args);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!all.contains(TOKEN), "token leaked:\n{all}");
    out
}

#[test]
fn message_table_and_csv_upload_in_three_steps() {
    let server = SlackServer::start();
    let ws = workspace(&server, "");
    let out = deliver(&ws, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        server.calls(),
        [
            "/api/chat.postMessage",
            "/api/files.getUploadURLExternal",
            "/upload/F1",
            "/api/files.completeUploadExternal",
            "/api/files.getUploadURLExternal",
            "/upload/F2",
            "/api/files.completeUploadExternal"
        ]
    );
    let s = server.state.lock().unwrap();
    assert!(s.violations.is_empty(), "{:?}", s.violations);
    let msg = &s.messages[0];
    assert_eq!(msg["channel"], "C0TEST");
    let blocks = msg["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(
        blocks[0]["text"]["text"],
        "Rewards by segment: 2026-11-03 – 2026-11-10"
    );
    assert!(
        blocks[1]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("*heavy*"),
        "{}",
        blocks[1]
    );
    let table = &blocks[2];
    assert_eq!(table["type"], "table");
    let rows = table["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1 + 8 * 3);
    assert_eq!(rows[0][6]["text"], "rewards");
    assert_eq!(table["column_settings"][2]["align"], "right");
    assert_eq!(table["column_settings"][1]["align"], "left");
    // Thousands separators and the money's scale.
    assert!(
        rows.iter()
            .skip(1)
            .any(|r| r[6]["text"].as_str().unwrap().contains(",")),
        "{rows:?}"
    );
    for r in rows.iter().skip(1) {
        let money = r[6]["text"].as_str().unwrap();
        assert_eq!(money.split('.').nth(1).map(str::len), Some(2), "{money}");
    }
    assert!(msg["text"].as_str().unwrap().contains("Rewards by segment"));
    // The uploaded bytes are the report's CSV, shared into the message's thread.
    let csv = ws.ok(&[
        "report",
        "--no-sync",
        "--date",
        "2026-11-10",
        "--format",
        "csv",
    ]);
    assert_eq!(String::from_utf8(s.uploads["F1"].clone()).unwrap(), csv);
    assert!(
        s.uploads["F2"].starts_with(b"\x89PNG\r\n"),
        "the second file is the chart"
    );
    let thread = "1764400000.000001".to_string();
    assert_eq!(
        s.completed,
        [
            ("F1".to_string(), "C0TEST".to_string(), thread.clone()),
            ("F2".to_string(), "C0TEST".to_string(), thread)
        ]
    );
}

/// `decimals` rounds amounts (half to even) in the text table, Markdown and Slack, with
/// thousands separators in Slack, while the CSV and JSON keep them exact; the summary's changes
/// are percentage points.
#[test]
fn decimals_round_amounts_for_people_and_files_stay_exact() {
    use rust_decimal::{Decimal, RoundingStrategy};
    let server = SlackServer::start();
    let extra = format!(
        "decimals = 1\n[[deliver]]\nkind = \"slack\"\ntoken = \"${{SLACK_BOT_TOKEN}}\"\n\
         channel = \"C0TEST\"\napi_url = \"{}\"\nattach = [\"csv\"]\n",
        server.url
    );
    let ws = small_segment_rewards(&extra, &format!("SLACK_BOT_TOKEN={TOKEN}\n"));
    assert!(deliver(&ws, &[]).status.success());
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
    let csv = report("csv");
    let exact: Vec<String> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(6).unwrap().to_string())
        .collect();
    assert!(
        exact
            .iter()
            .all(|a| a.split('.').nth(1).map(str::len) == Some(2)),
        "{csv}"
    );
    let round = |a: &str| {
        a.parse::<Decimal>()
            .unwrap()
            .round_dp_with_strategy(1, RoundingStrategy::MidpointNearestEven)
    };
    let s = server.state.lock().unwrap();
    let blocks = s.messages[0]["blocks"].as_array().unwrap();
    let rows = blocks[2]["rows"].as_array().unwrap();
    for (row, exact) in rows.iter().skip(1).zip(&exact) {
        let shown = row[6]["text"].as_str().unwrap();
        let wanted = format!("{:.1}", round(exact));
        assert_eq!(shown.replace(',', ""), wanted, "{exact}");
    }
    let summary = blocks[1]["text"]["text"].as_str().unwrap();
    let changes: Vec<&str> = summary.split(['▲', '▼', '▶']).skip(1).collect();
    assert_eq!(changes.len(), 3, "{summary}");
    for change in changes {
        let value = change.split(" pp").next().unwrap();
        assert!(
            change.starts_with(&format!("{value} pp")) && value.parse::<f64>().is_ok(),
            "{summary}"
        );
    }
    for format in ["table", "md"] {
        let text = report(format);
        for a in &exact {
            let wanted = format!("{:.1}", round(a));
            assert!(text.contains(&wanted), "{format}: {wanted} in\n{text}");
            assert!(
                !text.contains(a.as_str()),
                "{format}: {a} is exact in\n{text}"
            );
        }
    }
    let json: serde_json::Value = serde_json::from_str(&report("json")).unwrap();
    assert_eq!(json["rows"][0]["rewards"], exact[0].as_str(), "{json}");
}

#[test]
fn rerun_does_not_post_again_unless_forced() {
    let server = SlackServer::start();
    let ws = workspace(&server, "");
    assert!(deliver(&ws, &[]).status.success());
    assert!(deliver(&ws, &[]).status.success());
    assert_eq!(server.state.lock().unwrap().messages.len(), 1);
    assert!(deliver(&ws, &["--force"]).status.success());
    assert_eq!(server.state.lock().unwrap().messages.len(), 2);
}

#[test]
fn big_tables_are_truncated_with_a_note() {
    let server = SlackServer::start();
    let ws = workspace(&server, "max_rows = 5");
    assert!(deliver(&ws, &[]).status.success());
    let s = server.state.lock().unwrap();
    let blocks = s.messages[0]["blocks"].as_array().unwrap().clone();
    assert_eq!(blocks[2]["rows"].as_array().unwrap().len(), 6);
    let provisional = blocks[3]["elements"][0]["text"].as_str().unwrap();
    assert!(
        provisional.starts_with("* may still change: late rows are pulled again for 2 days"),
        "{provisional}"
    );
    let note = blocks[4]["elements"][0]["text"].as_str().unwrap();
    assert!(
        note.contains("Showing 5 of 24 rows") && note.contains("attached CSV"),
        "{note}"
    );
}

#[test]
fn rate_limits_are_retried_after_retry_after() {
    let server = SlackServer::start();
    let ws = workspace(&server, "");
    server.force("chat.postMessage", &[Reply::TooMany(1)]);
    let started = Instant::now();
    let out = deliver(&ws, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(started.elapsed() >= Duration::from_secs(1));
    let calls = server.calls();
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.ends_with("chat.postMessage"))
            .count(),
        2
    );
    assert_eq!(server.state.lock().unwrap().messages.len(), 1);
}

#[test]
fn slack_errors_are_explained_and_fail_the_run() {
    let cases = [
        ("invalid_auth", "token"),
        ("channel_not_found", "channel ID"),
        ("not_in_channel", "/invite"),
        ("missing_scope", "chat:write"),
    ];
    for (error, hint) in cases {
        let server = SlackServer::start();
        let ws = workspace(&server, "");
        server.force("chat.postMessage", &[Reply::Error(error)]);
        let out = deliver(&ws, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains(error) && err.contains(hint), "{error}: {err}");
        // The failed delivery is retried by the next run.
        assert!(deliver(&ws, &[]).status.success());
        assert_eq!(server.state.lock().unwrap().messages.len(), 1);
    }
    let server = SlackServer::start();
    let ws = workspace(&server, "");
    server.force("chat.postMessage", &[Reply::TooMany(0); 4]);
    let out = deliver(&ws, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ratelimited"));
}

#[test]
fn a_kill_between_message_and_upload_does_not_post_twice() {
    let server = SlackServer::start();
    let ws = workspace(&server, "");
    server.force("files.getUploadURLExternal", &[Reply::Hang]);
    let mut child = ws
        .command(&["deliver", "--date", "2026-11-10"])
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !server
        .calls()
        .iter()
        .any(|c| c.ends_with("getUploadURLExternal"))
    {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no upload started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let out = deliver(&ws, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = server.state.lock().unwrap();
    assert_eq!(s.messages.len(), 1, "the message was posted once");
    assert_eq!(s.completed.len(), 2, "the CSV and the chart");
    assert_eq!(
        s.completed[0].2, "1764400000.000001",
        "the file went into the first message's thread"
    );
    assert!(s.violations.is_empty(), "{:?}", s.violations);
}

#[test]
fn server_errors_are_retried_with_backoff() {
    let server = SlackServer::start();
    let ws = workspace(&server, "");
    // A 503 may hide a post: tally looks for the message before it posts again.
    server.force(
        "chat.postMessage",
        &[Reply::Unavailable, Reply::Unavailable],
    );
    let out = deliver(&ws, &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let posts = server
        .calls()
        .iter()
        .filter(|c| c.ends_with("chat.postMessage"))
        .count();
    assert_eq!(posts, 3);
    assert_eq!(server.state.lock().unwrap().messages.len(), 1);
}

#[test]
fn a_failing_destination_does_not_stop_the_others() {
    let server = SlackServer::start();
    let hook = format!(
        "{}/services/T000/B000/secretwebhookpath",
        server.url.trim_end_matches("/api")
    );
    let ws = workspace(
        &server,
        &format!(
            "[[deliver]]\nkind = \"webhook\"\nurl = \"{hook}\"\n\n[[deliver]]\nkind = \"files\"\ndir = \"out\"\nformats = [\"csv\", \"png\"]\n"
        ),
    );
    server.force("chat.postMessage", &[Reply::Error("channel_not_found")]);
    let out = deliver(&ws, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(!err.contains("secretwebhookpath"), "{err}");
    let s = server.state.lock().unwrap();
    // The webhook got the message (text and blocks, no files), the files were written.
    assert_eq!(s.messages.len(), 1);
    assert!(
        s.messages[0]["text"]
            .as_str()
            .unwrap()
            .contains("Rewards by segment")
    );
    assert!(
        ws.path()
            .join("out/rewards_by_segment/2026-11-10.csv")
            .is_file()
    );
    let png = std::fs::read(ws.path().join("out/rewards_by_segment/2026-11-10.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"));
    assert!(s.violations.is_empty(), "{:?}", s.violations);
}

/// A Slack that posts the message and then answers 500, or answers after the client gave up:
/// the message is found in the channel's history (by its metadata) and not posted again; the
/// files go into its thread.
#[test]
fn a_post_whose_answer_is_lost_is_found_not_posted_again() {
    for (reply, extra) in [
        (Reply::DoThen500, ""),
        (Reply::DoSlowly(2), "timeout = \"1s\""),
    ] {
        let server = SlackServer::start();
        let ws = workspace(&server, extra);
        server.force("chat.postMessage", &[reply]);
        let out = deliver(&ws, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{err}");
        assert!(err.contains("looking for it in the channel"), "{err}");
        let s = server.state.lock().unwrap();
        assert_eq!(s.messages.len(), 1, "{err}");
        assert_eq!(s.messages[0]["metadata"]["event_type"], "tally_report");
        assert_eq!(
            s.messages[0]["metadata"]["event_payload"]["report"],
            "rewards_by_segment"
        );
        assert_eq!(s.completed.len(), 2);
        assert!(s.completed.iter().all(|c| c.2 == "1764400000.000001"));
        assert!(s.violations.is_empty(), "{:?}", s.violations);
    }
}

/// SIGKILL while the post is in flight, after Slack took it: the next run finds the message
/// and uploads into its thread, without a second post.
#[test]
fn a_kill_while_posting_does_not_post_twice() {
    let server = SlackServer::start();
    let ws = workspace(&server, "");
    server.force("chat.postMessage", &[Reply::DoThenHang]);
    let mut child = ws
        .command(&["deliver", "--date", "2026-11-10"])
        .spawn()
        .unwrap();
    let started = Instant::now();
    while server.state.lock().unwrap().messages.is_empty() {
        assert!(started.elapsed() < Duration::from_secs(60), "no post");
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let out = deliver(&ws, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains(
            "found the message an earlier attempt (tally stopped before its answer came) posted"
        ),
        "{err}"
    );
    let s = server.state.lock().unwrap();
    assert_eq!(s.messages.len(), 1);
    assert_eq!(s.completed.len(), 2);
    assert!(s.completed.iter().all(|c| c.2 == "1764400000.000001"));
}

/// Without the history scope, a post whose answer was lost is not posted again, and the error
/// says why and what to do.
#[test]
fn without_the_history_scope_a_doubtful_post_is_not_repeated() {
    let server = SlackServer::start();
    let ws = workspace(&server, "");
    server.force("chat.postMessage", &[Reply::DoThen500]);
    server.force("conversations.history", &[Reply::Error("missing_scope")]);
    let out = deliver(&ws, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("channels:history")
            && err.contains("does not post again")
            && err.contains("--force"),
        "{err}"
    );
    assert_eq!(posts(&server), 1);
    // The next run does not post blindly either.
    server.force("conversations.history", &[Reply::Error("missing_scope")]);
    let out = deliver(&ws, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(posts(&server), 1);
    assert_eq!(server.state.lock().unwrap().messages.len(), 1);
}

/// A run whose post is in doubt (Slack answered 500 and its history could not be read) records
/// which delivery failed and why; the next run, resuming it, says what happened to the earlier
/// attempt instead of claiming that tally stopped.
#[test]
fn a_resumed_post_says_why_the_earlier_one_was_in_doubt() {
    let server = SlackServer::start();
    let ws = workspace(&server, "");
    server.force("chat.postMessage", &[Reply::DoThen500]);
    server.force("conversations.history", &[Reply::Error("missing_scope")]);
    let out = ws.run(&["run", "--date", "2026-11-10"]);
    assert_eq!(out.status.code(), Some(1));
    let history: Json = serde_json::from_str(&ws.ok(&["history", "--format", "json"])).unwrap();
    let error = history[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("rewards_by_segment to slack:C0TEST:")
            && error.contains("HTTP 500")
            && error.contains("channels:history"),
        "{history}"
    );
    let out = ws.run(&["run", "--date", "2026-11-10"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("found the message an earlier attempt (chat.postMessage: HTTP 500")
            && !err.contains("tally stopped"),
        "{err}"
    );
    assert_eq!(posts(&server), 1);
}

/// When the chart's upload fails, the next run uploads the chart only: the CSV went up already.
#[test]
fn a_failed_upload_is_retried_alone() {
    let server = SlackServer::start();
    let ws = workspace(&server, "");
    // The CSV's upload works; the PNG's is refused.
    server.force(
        "files.completeUploadExternal",
        &[Reply::Pass, Reply::Error("unknown_error")],
    );
    let out = deliver(&ws, &[]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(deliver(&ws, &[]).status.success());
    let s = server.state.lock().unwrap();
    assert_eq!(s.messages.len(), 1);
    let uploads: Vec<usize> = s.declared.values().copied().collect();
    // CSV once, PNG twice (the refused one and the one that went through).
    assert_eq!(uploads.len(), 3, "{:?}", s.calls);
    assert_eq!(s.completed.len(), 2, "the CSV once, then the PNG");
    assert!(s.completed[0].0 != s.completed[1].0);
}

/// A webhook that takes the message and answers 500 cannot be asked what it got: tally does not
/// post again (now or on the next run) and says what to do; `--force` sends it again.
#[test]
fn a_webhook_post_in_doubt_is_not_repeated() {
    let server = SlackServer::start();
    let path = "/services/T000/B000/secretwebhookpath";
    let hook = format!("{}{path}", server.url.trim_end_matches("/api"));
    let ws = small_segment_rewards(
        &format!("[[deliver]]\nkind = \"webhook\"\nurl = \"{hook}\"\n"),
        "",
    );
    server.force(path, &[Reply::DoThen500]);
    for _ in 0..2 {
        let out = deliver(&ws, &[]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("may have") && err.contains("--force"), "{err}");
        assert!(!err.contains("secretwebhookpath"), "{err}");
        assert_eq!(server.state.lock().unwrap().messages.len(), 1);
    }
    assert!(deliver(&ws, &["--force"]).status.success());
    assert_eq!(server.state.lock().unwrap().messages.len(), 2);
}

/// With -v, the retries of a webhook whose server is down are logged without its URL.
#[test]
fn webhook_retries_never_log_the_url() {
    let port = crate::private::free_port();
    let hook = format!("http://127.0.0.1:{port}/services/T000/B000/secretwebhookpath");
    let ws = small_segment_rewards(
        &format!("[[deliver]]\nkind = \"webhook\"\nurl = \"{hook}\"\n"),
        "",
    );
    let out = ws.run(&["-vv", "deliver", "--date", "2026-11-10"]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("retrying"), "{all}");
    assert!(!all.contains("secretwebhookpath"), "{all}");
}

/// `tally check` tries the Slack token and channel without posting: the scopes from
/// `auth.test`, the channel and the bot's membership from `conversations.info`.
#[test]
fn check_tries_the_token_and_the_channel_without_posting() {
    let text = |ws: &Workspace| {
        let out = ws.run(&["check"]);
        (
            out.status.code(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let server = SlackServer::start();
    let ws = workspace(&server, "");
    let (code, out) = text(&ws);
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.contains("destination slack:C0TEST: ok") && out.contains("#rewards"),
        "{out}"
    );

    server.force("auth.test", &[Reply::Error("invalid_auth")]);
    let (code, out) = text(&ws);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("invalid_auth") && out.contains("token"),
        "{out}"
    );

    server.state.lock().unwrap().scopes = Some("chat:write".into());
    let (code, out) = text(&ws);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.contains("lacks the files:write scope"), "{out}");
    server.state.lock().unwrap().scopes = None;

    server.state.lock().unwrap().outsider = true;
    let (code, out) = text(&ws);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("not a member") && out.contains("/invite"),
        "{out}"
    );
    server.state.lock().unwrap().outsider = false;

    let ws = small_segment_rewards(
        &format!(
            "[[deliver]]\nkind = \"slack\"\ntoken = \"${{SLACK_BOT_TOKEN}}\"\nchannel = \"C0NOPE\"\napi_url = \"{}\"\n",
            server.url
        ),
        &format!("SLACK_BOT_TOKEN={TOKEN}\n"),
    );
    let (code, out) = text(&ws);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("channel_not_found") && out.contains("C0NOPE"),
        "{out}"
    );
    assert_eq!(
        server.state.lock().unwrap().messages.len(),
        0,
        "check posted"
    );
    assert!(!out.contains(TOKEN));
}

/// A dry run prints the Slack payload and the files, contacts nobody and records nothing.
#[test]
fn a_dry_run_shows_the_message_as_read_and_sends_nothing() {
    let server = SlackServer::start();
    let ws = workspace(&server, "");
    let out = deliver(&ws, &["--dry-run"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // As a person reads it: the header, the summary without mrkdwn, the table aligned, the
    // files that go with it; no JSON.
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.contains(&"Rewards by segment: 2026-11-03 – 2026-11-10"),
        "{text}"
    );
    assert!(
        text.contains("Share of rewards on 2026-11-10") && !text.contains("*heavy*"),
        "{text}"
    );
    let header = lines
        .iter()
        .find(|l| l.starts_with("day "))
        .expect("the table's header");
    let first = lines
        .iter()
        .find(|l| l.starts_with("2026-11-03"))
        .expect("a row");
    // Right-aligned numbers end where their column's header ends.
    let rewards_end = header.find("rewards").unwrap() + "rewards".len();
    assert!(
        first
            .chars()
            .nth(rewards_end - 1)
            .is_some_and(|c| c.is_ascii_digit()),
        "{header}\n{first}"
    );
    assert!(
        text.contains("rewards_by_segment-2026-11-10.csv (") && text.contains(".png ("),
        "{text}"
    );
    assert!(!text.contains("\"blocks\""), "{text}");
    // With -v, the payload too.
    let out = deliver(&ws, &["--dry-run", "-v"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("chat.postMessage")
            && text.contains("\"blocks\"")
            && text.contains("tally_report"),
        "{text}"
    );
    assert!(server.calls().is_empty(), "{:?}", server.calls());
    assert_eq!(ws.query("SELECT count(*) FROM _tally_deliveries"), ["0"]);
    // The real delivery afterwards is the first.
    assert!(deliver(&ws, &[]).status.success());
    assert_eq!(server.state.lock().unwrap().messages.len(), 1);
}

/// `--report` and `--to` deliver only what they name; `--force` reposts only that.
#[test]
fn selection_delivers_only_what_it_names() {
    let server = SlackServer::start();
    let ws = workspace(
        &server,
        "[[deliver]]\nkind = \"files\"\ndir = \"out\"\nformats = [\"csv\"]\n\n[reports.top]\nsql = \"SELECT user, sum(actions) AS actions FROM activity WHERE day BETWEEN :start AND :end GROUP BY user\"\ndays = 1\n",
    );
    assert!(
        deliver(&ws, &["--report", "top", "--to", "files"])
            .status
            .success()
    );
    assert!(server.calls().is_empty(), "{:?}", server.calls());
    assert!(ws.path().join("out/top/2026-11-10.csv").exists());
    assert!(!ws.path().join("out/rewards_by_segment").exists());
    assert!(deliver(&ws, &["--to", "slack"]).status.success());
    assert_eq!(
        server.state.lock().unwrap().messages.len(),
        2,
        "both reports"
    );
    assert!(
        deliver(&ws, &["--force", "--report", "top", "--to", "slack"])
            .status
            .success()
    );
    let s = server.state.lock().unwrap();
    assert_eq!(s.messages.len(), 3, "only `top` again");
    assert!(s.messages[2]["text"].as_str().unwrap().contains("top"));
    drop(s);
    let out = deliver(&ws, &["--to", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no destination named `nowhere`"));
}
