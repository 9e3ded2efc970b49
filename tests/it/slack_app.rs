//! The Slack app (`[slack_app]`) against a Socket Mode stand-in
//! ([`crate::support::socket_mode`]): each command answered from the store (which it never
//! changes), refusals outside the allow-lists, the rate limit, escaping, reconnection after
//! `disconnect` and after a dropped connection while the daemon keeps its schedule, and
//! `tally check`'s probe.

use std::time::{Duration, Instant};

use serde_json::Value as Json;

use crate::support::slack_server::{SlackServer, TOKEN};
use crate::support::socket_mode::{APP_TOKEN, SocketMode};
use crate::support::{Workspace, daemon, small_segment_rewards, stop};

/// The small segment_rewards fixture with a Slack destination, `[schedule]` and `[slack_app]`.
fn workspace(slack: &SlackServer, app: &SocketMode, schedule: &str, extra: &str) -> Workspace {
    small_segment_rewards(
        &format!(
            r#"
[[deliver]]
kind = "slack"
token = "${{SLACK_BOT_TOKEN}}"
channel = "C0TEST"
api_url = "{}"
attach = []

[schedule]
{schedule}
retries = 0

[slack_app]
app_token = "${{SLACK_APP_TOKEN}}"
channels = ["C0TEST"]
api_url = "{}"
{extra}
"#,
            slack.url, app.api_url
        ),
        &format!("SLACK_BOT_TOKEN={TOKEN}\nSLACK_APP_TOKEN={APP_TOKEN}\n"),
    )
}

/// Every text of an answer (header, sections, table cells, context), unescaped, one per line.
fn texts(answer: &Json) -> String {
    let mut out = Vec::new();
    for block in answer["blocks"].as_array().unwrap() {
        if let Some(t) = block["text"]["text"].as_str() {
            out.push(t.to_string());
        }
        for row in block["rows"].as_array().into_iter().flatten() {
            let cells: Vec<&str> = row
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["text"].as_str().unwrap_or(""))
                .collect();
            out.push(cells.join(" | "));
        }
        for e in block["elements"].as_array().into_iter().flatten() {
            out.push(e["text"].as_str().unwrap_or("").to_string());
        }
    }
    out.join("\n")
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

/// Every table of the store and its rows, as text: what must not change.
fn contents(ws: &Workspace) -> Vec<String> {
    let conn = rusqlite::Connection::open_with_flags(
        ws.path().join("store.sqlite"),
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
    )
    .unwrap();
    let tables: Vec<String> = conn
        .prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut out = Vec::new();
    for t in tables {
        let mut stmt = conn.prepare(&format!("SELECT * FROM \"{t}\"")).unwrap();
        let n = stmt.column_count();
        let rows = stmt
            .query_map([], |r| {
                let cells: Vec<String> = (0..n)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect();
                Ok(cells.join(","))
            })
            .unwrap()
            .map(Result::unwrap);
        out.extend(rows.map(|r| format!("{t}: {r}")));
    }
    out
}

#[test]
fn commands_are_answered_from_the_store_and_never_change_it() {
    let (slack, app) = (SlackServer::start(), SocketMode::start());
    let ws = workspace(
        &slack,
        &app,
        "cron = \"0 0 1 1 *\"",
        "users = [\"U0ASK\", \"U0RATE\", \"U0EVIL\"]",
    );
    // The report of 2026-11-10 is delivered; the daemon has nothing due (the yearly time passed
    // before that run).
    // A player whose id is hostile.
    let src = rusqlite::Connection::open(ws.path().join("src.sqlite")).unwrap();
    for at in ["2026-11-09 10:00:00", "2026-11-10 10:00:00"] {
        src.execute("INSERT INTO actions VALUES ('<!here>`b', 'play', ?1)", [at])
            .unwrap();
    }
    drop(src);
    ws.ok(&[
        "-q",
        "sync",
        "--from",
        "2026-11-09",
        "--to",
        "2026-11-10",
        "--refresh",
    ]);
    ws.ok(&["-q", "run", "--date", "2026-11-10"]);
    // The kept report days go: an answer computes them, and keeps none.
    rusqlite::Connection::open(ws.path().join("store.sqlite"))
        .unwrap()
        .execute("DELETE FROM _tally_report_days", [])
        .unwrap();
    let before = contents(&ws);
    let child = daemon(&ws, &[]);
    app.wait_connected(1);

    let id = app.command("help", "U0ASK", "C0TEST");
    let help = app.answer(&id);
    assert!(!app.acked_empty(&id), "help goes in the acknowledgement");
    assert_eq!(help["response_type"], "ephemeral");
    assert!(texts(&help).contains("/tally report NAME"), "{help}");
    // Sent again (Slack missed the acknowledgement), it gets the same acknowledgement.
    app.resend(&id);
    assert_eq!(app.answer(&id), help);

    // `user`: what `tally user` prints, line by line.
    let answer = app.answer(&app.command("user u3 2026-11-10", "U0ASK", "C0TEST"));
    let shown = unescape(&texts(&answer));
    let printed = ws.ok(&["user", "u3", "--date", "2026-11-10"]);
    for line in printed.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            shown.contains(line.trim_end()),
            "missing {line:?} in\n{shown}"
        );
    }
    assert!(shown.contains("score on 2026-11-10"), "{shown}");

    // Hostile ids are escaped; an id in another case is pointed to the stored one.
    // (Slack sends `<`, `>` and `&` escaped; a mention typed in a command arrives as `<!here>`.)
    for text in [
        "user <!channel>",
        "user &lt;!channel&gt;",
        "report <!here|here> public",
        "<@U0BOSS> \"quoted\"",
    ] {
        let answer = app.answer(&app.command(text, "U0EVIL", "C0TEST"));
        // A mistake or a refusal stays with the asker, even after `public`.
        if text.ends_with("public") {
            assert_eq!(answer["response_type"], "ephemeral", "{answer}");
        }
        let raw = answer.to_string();
        for mention in ["<!channel>", "<!here", "<@U0BOSS>"] {
            assert!(!raw.contains(mention), "{text}: {raw}");
        }
        assert!(raw.contains("&lt;"), "{text}: {raw}");
    }
    // A stored hostile id: shown, never a mention.
    let stored = app.answer(&app.command("user &lt;!here&gt;`b 2026-11-10", "U0EVIL", "C0TEST"));
    let raw = stored.to_string();
    assert!(!raw.contains("<!here>"), "{raw}");
    assert!(raw.contains("&lt;!here&gt;"), "{raw}");
    assert!(texts(&stored).contains("score on 2026-11-10"), "{stored}");
    let upper = texts(&app.answer(&app.command("user U3 2026-11-10", "U0ASK", "C0TEST")));
    assert!(upper.contains("`u3` is"), "{upper}");

    // `report`: the delivery's table, for the channel with `public`.
    let report = app.answer(&app.command(
        "report rewards_by_segment 2026-11-10 public",
        "U0ASK",
        "C0TEST",
    ));
    assert_eq!(report["response_type"], "in_channel");
    let table = |blocks: &Json| {
        blocks
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["type"] == "table")
            .cloned()
            .unwrap()
    };
    let posted = slack.state.lock().unwrap().messages[0]["blocks"].clone();
    assert_eq!(table(&report["blocks"]), table(&posted));
    let unknown = texts(&app.answer(&app.command("report nope", "U0ASK", "C0TEST")));
    assert!(unknown.contains("no report named `nope`"), "{unknown}");
    // A day whose scores the store does not hold is not computed into it.
    let unscored =
        texts(&app.answer(&app.command("report rewards_by_segment 2026-11-20", "U0ASK", "C0TEST")));
    assert!(unscored.contains("has not scored yet"), "{unscored}");

    let id = app.command("status", "U0ASK", "C0TEST");
    let status = texts(&app.answer(&id));
    // Slack sends a command again when it missed the acknowledgement: answered once.
    app.resend(&id);
    assert!(app.acked_empty(&id));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(app.posts(&id), 1);
    assert!(status.contains("last runs:"), "{status}");
    assert!(status.contains("for 2026-11-10"), "{status}");
    assert!(status.contains("next run"), "{status}");

    // Refusals show no data.
    for (user, channel, why) in [
        ("U0ASK", "C0ELSEWHERE", "own channels"),
        ("U0STRANGER", "C0TEST", "list of people"),
    ] {
        let refusal = app.answer(&app.command("user u3 2026-11-10", user, channel));
        let text = texts(&refusal);
        assert!(text.contains(why), "{text}");
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(!text.contains("u3"), "{text}");
        assert_eq!(refusal["response_type"], "ephemeral");
    }

    // Ten commands a minute, then a one-line "slow down".
    for _ in 0..10 {
        let t = texts(&app.answer(&app.command("status", "U0RATE", "C0TEST")));
        assert!(t.contains("schedule"), "{t}");
    }
    let slow = texts(&app.answer(&app.command("status", "U0RATE", "C0TEST")));
    assert!(slow.starts_with("slow down"), "{slow}");
    // Another user is not slowed down.
    assert!(texts(&app.answer(&app.command("help", "U0ASK", "C0TEST"))).contains("status"));

    // Events are acknowledged, and nothing more.
    let event = app.event();
    let until = Instant::now() + Duration::from_secs(5);
    while !app.acked(&event) {
        assert!(Instant::now() < until, "the event was not acknowledged");
        std::thread::sleep(Duration::from_millis(20));
    }

    assert_eq!(contents(&ws), before, "a command changed the store");
    assert_eq!(app.violations(), Vec::<String>::new());
    let log = stop(child);
    assert!(!log.contains(APP_TOKEN) && !log.contains(TOKEN), "{log}");
    assert!(
        !log.contains("/commands/"),
        "a response URL was logged:\n{log}"
    );
}

#[test]
fn the_app_reconnects_while_the_daemon_keeps_its_schedule() {
    let (slack, app) = (SlackServer::start(), SocketMode::start());
    // A run every 2 seconds (for yesterday, which the source has no rows of).
    let ws = workspace(&slack, &app, "cron = \"*/2 * * * * *\"", "");
    let child = daemon(&ws, &[]);
    app.wait_connected(1);
    let runs = |ws: &Workspace| {
        ws.query("SELECT count(*) FROM _tally_runs WHERE status = 'ok'")[0]
            .parse::<u32>()
            .unwrap()
    };
    // Slack asks for a new connection: the app opens one at once.
    app.disconnect();
    app.wait_connected(2);
    assert!(texts(&app.answer(&app.command("help", "U0ANY", "C0TEST"))).contains("status"));
    // Asked again within 10 s, the app waits for its backoff instead of looping, longer each
    // time while no connection holds.
    for (n, at_least) in [(3, 900), (4, 1900)] {
        let asked = Instant::now();
        app.disconnect();
        app.wait_connected(n);
        let waited = asked.elapsed();
        assert!(waited >= Duration::from_millis(at_least), "{n}: {waited:?}");
    }
    // The connection drops without a word: the app opens another after its backoff, and the
    // schedule runs meanwhile.
    let ran = runs(&ws);
    app.drop_connection();
    app.wait_connected(5);
    let until = Instant::now() + Duration::from_secs(30);
    while runs(&ws) < ran + 2 {
        assert!(Instant::now() < until, "the schedule stopped");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(texts(&app.answer(&app.command("status", "U0ANY", "C0TEST"))).contains("last runs"));
    assert_eq!(app.opens(), 5);
    assert_eq!(app.violations(), Vec::<String>::new());
    let log = stop(child);
    assert_eq!(
        log.matches("Slack asked to reconnect (refresh_requested)")
            .count(),
        1,
        "{log}"
    );
    assert!(
        log.contains("(refresh_requested); reconnecting in 2 s"),
        "{log}"
    );
    assert!(!log.contains(APP_TOKEN), "{log}");
}

#[test]
fn what_slack_sent_before_a_refresh_is_answered_on_the_old_connection() {
    let (slack, app) = (SlackServer::start(), SocketMode::start());
    let ws = workspace(&slack, &app, "cron = \"0 0 1 1 *\"", "");
    ws.ok(&["-q", "run", "--date", "2026-11-10"]);
    let child = daemon(&ws, &[]);
    app.wait_connected(1);
    // Slack says `disconnect` and keeps the old connection a while: the app opens a new one
    // and still answers what comes on the old one, then closes it.
    app.disconnect_slowly();
    app.wait_connected(2);
    let help = app.command_on_previous("help", "U0ANY", "C0TEST");
    assert!(texts(&app.answer(&help)).contains("status"));
    let status = app.command_on_previous("status", "U0ANY", "C0TEST");
    assert!(texts(&app.answer(&status)).contains("for 2026-11-10"));
    assert!(texts(&app.answer(&app.command("help", "U0ANY", "C0TEST"))).contains("status"));
    let until = Instant::now() + Duration::from_secs(30);
    while app.closed() < 1 {
        assert!(Instant::now() < until, "the old connection was not closed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(app.opens(), 2);
    assert_eq!(app.violations(), Vec::<String>::new());
    stop(child);
}

#[test]
fn a_connection_without_hello_is_given_up_and_opened_again() {
    let (slack, app) = (SlackServer::start(), SocketMode::start());
    let ws = workspace(&slack, &app, "cron = \"0 0 1 1 *\"", "");
    app.mute(1);
    let child = daemon(&ws, &[]);
    let started = Instant::now();
    app.wait_connected(1);
    assert!(
        started.elapsed() >= Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(app.opens(), 2);
    assert!(texts(&app.answer(&app.command("help", "U0ANY", "C0TEST"))).contains("status"));
    let log = stop(child);
    assert!(log.contains("no hello within 15 s of connecting"), "{log}");
}

#[test]
fn slow_answers_go_to_the_response_url_and_acks_stay_timely_during_runs() {
    let (slack, app) = (SlackServer::start(), SocketMode::start());
    // A report that takes seconds, built by a run every 2 seconds: the daemon is always busy.
    let slow = "[reports.slow]\nkind = \"sql\"\nsql = \"WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL \
                SELECT x + 1 FROM c WHERE x < 50000000) SELECT count(*) AS n FROM c\"\n";
    let ws = workspace(&slack, &app, "cron = \"*/2 * * * * *\"", "");
    let config = std::fs::read_to_string(ws.config()).unwrap();
    std::fs::write(ws.config(), format!("{config}\n{slow}")).unwrap();
    let child = daemon(&ws, &[]);
    app.wait_connected(1);
    let until = Instant::now() + Duration::from_secs(60);
    while ws.query("SELECT count(*) FROM _tally_runs")[0] == "0" {
        assert!(Instant::now() < until, "no run started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let id = app.command("report slow public", "U0ANY", "C0TEST");
    // Slack refreshes the connection while the answer is computed: the answer still arrives.
    std::thread::sleep(Duration::from_millis(300));
    app.disconnect();
    app.wait_connected(2);
    // Commands during the runs and during the slow answer are acknowledged within 3 s (the
    // stand-in records any later one), help in the acknowledgement itself.
    for _ in 0..5 {
        let help = app.command("help", "U0ANY", "C0TEST");
        let t = texts(&app.answer(&help));
        assert!(t.contains("status"), "{t}");
        assert!(!app.acked_empty(&help));
        std::thread::sleep(Duration::from_millis(500));
    }
    let answer = app.answer(&id);
    assert!(
        app.acked_empty(&id),
        "a slow answer went in the acknowledgement"
    );
    assert_eq!(answer["response_type"], "in_channel");
    assert!(texts(&answer).contains("50,000,000"), "{answer}");
    assert_eq!(app.violations(), Vec::<String>::new());
    stop(child);
}

#[test]
fn check_opens_and_closes_a_socket_mode_connection() {
    let (slack, app) = (SlackServer::start(), SocketMode::start());
    let ws = workspace(&slack, &app, "cron = \"0 9 * * *\"", "");
    let out = ws.ok(&["check"]);
    assert!(
        out.contains("slack_app /tally: ok (the app-level token opened a Socket Mode connection"),
        "{out}"
    );
    assert_eq!(app.opens(), 1);
    app.wait_connected(1);
    // The check closed its connection (the stand-in saw the close frame).
    let until = Instant::now() + Duration::from_secs(5);
    while app.closed() < 1 {
        assert!(Instant::now() < until, "the check left its connection open");
        std::thread::sleep(Duration::from_millis(20));
    }
    // A token Slack does not take fails the check, named, and never printed.
    std::fs::write(
        ws.path().join(".env"),
        format!("SLACK_BOT_TOKEN={TOKEN}\nSLACK_APP_TOKEN=xapp-1-revoked-0000\n"),
    )
    .unwrap();
    let out = ws.run(&["check"]);
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(1), "{all}");
    assert!(all.contains("slack_app /tally: FAILED"), "{all}");
    assert!(all.contains("invalid_auth"), "{all}");
    assert!(!all.contains("xapp-1-revoked-0000"), "{all}");
    // A bot token where the app-level token goes is a config error.
    std::fs::write(
        ws.path().join(".env"),
        format!("SLACK_BOT_TOKEN={TOKEN}\nSLACK_APP_TOKEN={TOKEN}\n"),
    )
    .unwrap();
    let out = ws.run(&["check"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("slack_app.app_token"), "{err}");
    assert!(err.contains("xoxb-"), "{err}");
    assert!(!err.contains(TOKEN), "{err}");
}
