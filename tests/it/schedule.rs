//! Running by itself: the run lock against a second process, SIGTERM during a sync, the run
//! history, and the daemon's alerts against the local Slack stand-in, on a clock the test drives.

use std::cell::Cell;
use std::process::Command;
use std::rc::Rc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use tally::schedule::pipeline::{Notifier, PipelineRunner};
use tally::schedule::{Clock, Daemon, Schedule, Tick};

use crate::support::slack_server::{SlackServer, TOKEN};
use crate::support::{PgDb, Workspace, block_on, small_segment_rewards};

fn slow_config(url: &str) -> String {
    format!(
        r#"
store = "store.sqlite"
[sources.chain]
url = "{url}"
pause = "10ms"
[rollups.activity]
source = "chain"
table = "actions"
time = "block_time"
user = "signer"
measures = {{ n = "count(*)" }}
slice = "1h"
keep = "3650d"
[reports.daily]
sql = "SELECT day, sum(n) AS n FROM activity WHERE day BETWEEN :start AND :end GROUP BY day ORDER BY day"
days = 20
"#
    )
}

fn actions_db() -> PgDb {
    let db = PgDb::new();
    db.exec(
        "CREATE TABLE actions (signer text, block_time timestamptz);
         INSERT INTO actions SELECT 'u' || (i % 40), timestamptz '2026-10-01 00:00Z' + i * interval '61 seconds'
           FROM generate_series(0, 28000) AS i;
         CREATE INDEX ON actions (block_time);",
    );
    db
}

fn slices_in_store(ws: &Workspace) -> i64 {
    let path = ws.path().join("store.sqlite");
    rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
        .and_then(|c| c.query_row("SELECT count(*) FROM _tally_slices", [], |r| r.get(0)))
        .unwrap_or(0)
}

fn wait_for_slices(ws: &Workspace, child: &mut std::process::Child, n: i64) {
    let started = Instant::now();
    while slices_in_store(ws) < n {
        assert!(started.elapsed() < Duration::from_secs(120), "no progress");
        assert!(child.try_wait().unwrap().is_none(), "ended too early");
        std::thread::sleep(Duration::from_millis(5));
    }
}

const SYNC: [&str; 5] = ["sync", "--from", "2026-10-01", "--to", "2026-10-20"];

#[test]
fn one_run_at_a_time_and_history() {
    let db = actions_db();
    let ws = Workspace::new(&slow_config(&db.url));
    let mut first = ws.command(&SYNC).spawn().unwrap();
    wait_for_slices(&ws, &mut first, 5);

    let out = ws.run(&["run", "--date", "2026-10-20"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("another tally command") && err.contains("--wait"),
        "{err}"
    );

    let waiting = ws
        .command(&["-q", "run", "--date", "2026-10-20", "--wait"])
        .output()
        .unwrap();
    assert!(first.wait().unwrap().success());
    assert!(
        waiting.status.success(),
        "{}",
        String::from_utf8_lossy(&waiting.stderr)
    );
    assert_eq!(slices_in_store(&ws), 480);

    let history = ws.ok(&["history"]);
    assert!(
        history.contains("ok") && history.contains("manual") && history.contains("2026-10-20"),
        "{history}"
    );
    let json = ws.ok(&["history", "--format", "json"]);
    assert!(
        json.contains("activity: 48 slices"),
        "after the first sync, only the 2 lookback days of hourly slices: {json}"
    );
    let status = ws.ok(&["status"]);
    assert!(status.contains("schedule: none"), "{status}");
    assert!(
        status.contains("last run: #1 ok (manual) for 2026-10-20"),
        "{status}"
    );
    assert!(
        status.contains("2026-10-18"),
        "the newest final day with lookback 2d: {status}"
    );
}

#[test]
fn sigterm_during_a_sync_stops_between_slices() {
    let db = actions_db();
    let reference = Workspace::new(&slow_config(&db.url));
    reference.ok(&SYNC);
    let ws = Workspace::new(&slow_config(&db.url));
    let mut child = ws
        .command(&SYNC)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_for_slices(&ws, &mut child, 20);
    let term = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(err.contains("stopped by a signal"), "{err}");
    let done = slices_in_store(&ws);
    assert!(done < 480, "{done}");
    // Every recorded slice is complete: a rerun pulls the rest and matches the reference.
    ws.ok(&SYNC);
    let dump = "SELECT * FROM activity ORDER BY day, user";
    assert_eq!(ws.query(dump), reference.query(dump));
}

/// A clock the test moves: sleeping jumps to the wake-up time.
#[derive(Clone)]
struct TestClock(Rc<Cell<DateTime<Utc>>>);

impl Clock for TestClock {
    fn now(&self) -> DateTime<Utc> {
        self.0.get()
    }

    async fn sleep_until(&self, t: DateTime<Utc>) {
        if t > self.0.get() {
            self.0.set(t);
        }
    }
}

#[test]
fn the_daemon_alerts_once_per_failure_streak_and_notes_the_recovery() {
    let server = SlackServer::start();
    let extra = format!(
        r#"
[[deliver]]
kind = "slack"
token = "${{SLACK_BOT_TOKEN}}"
channel = "C0TEST"
api_url = "{}"
attach = []

[schedule]
cron = "0 9 * * *"
retries = 1
retry_delay = "1m"
notify = "slack"
"#,
        server.url
    );
    let ws = small_segment_rewards(&extra, &format!("SLACK_BOT_TOKEN={TOKEN}\n"));
    let plan = tally::config::load(&ws.config(), None).unwrap();
    // The source goes missing: every run that needs new days fails until it is back.
    let source = ws.path().join("src.sqlite");
    let hidden = ws.path().join("src.sqlite.away");
    std::fs::rename(&source, &hidden).unwrap();

    let clock = TestClock(Rc::new(Cell::new("2026-11-12T09:00:00Z".parse().unwrap())));
    let schedule = Schedule::new("0 9 * * *", chrono_tz::Tz::UTC).unwrap();
    let spec = plan.schedule.as_ref().unwrap();
    let mut daemon = Daemon::new(
        schedule,
        (spec.retries, spec.retry_delay),
        clock.clone(),
        PipelineRunner::new(&plan, true),
        Notifier::new(&plan),
        false,
    );
    let texts = || -> Vec<String> {
        let s = server.state.lock().unwrap();
        s.messages
            .iter()
            .map(|m| m["text"].as_str().unwrap_or("").to_string())
            .collect()
    };
    block_on(async {
        assert_eq!(daemon.tick().await, Tick::Ran);
        assert_eq!(daemon.tick().await, Tick::Slept);
        assert_eq!(daemon.tick().await, Tick::Ran);
    });
    let alerts = texts();
    assert_eq!(
        alerts.len(),
        1,
        "one alert for two failed scheduled runs: {alerts:?}"
    );
    assert!(
        alerts[0].contains("tally failed: the run for 2026-11-11 failed after 2 attempt(s)"),
        "{}",
        alerts[0]
    );
    assert!(
        alerts[0].contains("src.sqlite")
            && alerts[0].contains("Next run: 2026-11-13 09:00 UTC, for 2026-11-12.")
            && alerts[0].contains("tally run --date 2026-11-11"),
        "{}",
        alerts[0]
    );

    std::fs::rename(&hidden, &source).unwrap();
    block_on(async {
        assert_eq!(daemon.tick().await, Tick::Slept);
        assert_eq!(daemon.tick().await, Tick::Ran);
    });
    let all = texts();
    assert!(
        all.iter().any(|t| t.contains("Rewards by segment")),
        "the report went out: {all:?}"
    );
    assert_eq!(
        all.iter()
            .filter(|t| t.contains("tally recovered: the run for 2026-11-13 succeeded"))
            .count(),
        1
    );
    let history = ws.ok(&["history"]);
    assert!(
        history.contains("catch-up") || history.contains("schedule"),
        "{history}"
    );
    assert!(
        history.contains("retry") && history.contains("failed") && history.contains("ok"),
        "{history}"
    );
}

/// `tally run` from cron sends the daemon's notices to `[schedule] notify`: one when a failure
/// streak starts (not one per failed run), and the recovery note when a run works again; the
/// streak is the same one the daemon keeps.
#[test]
fn tally_run_sends_failure_and_recovery_notices_too() {
    let server = SlackServer::start();
    let extra = format!(
        "[[deliver]]\nkind = \"slack\"\ntoken = \"${{SLACK_BOT_TOKEN}}\"\nchannel = \"C0TEST\"\n\
         api_url = \"{}\"\nattach = []\n\n[schedule]\ncron = \"0 9 * * *\"\nnotify = \"slack\"\n",
        server.url
    );
    let ws = small_segment_rewards(&extra, &format!("SLACK_BOT_TOKEN={TOKEN}\n"));
    let texts = || -> Vec<String> {
        let s = server.state.lock().unwrap();
        s.messages
            .iter()
            .map(|m| m["text"].as_str().unwrap_or("").to_string())
            .collect()
    };
    let source = ws.path().join("src.sqlite");
    let hidden = ws.path().join("src.sqlite.away");
    std::fs::rename(&source, &hidden).unwrap();
    for day in ["2026-11-11", "2026-11-12"] {
        let (code, text) = crate::support::output(&ws, &["run", "--date", day]);
        assert_eq!(code, 1, "{text}");
    }
    let sent = texts();
    assert_eq!(sent.len(), 1, "one notice for the streak: {sent:?}");
    assert!(
        sent[0].contains("tally failed: the run for 2026-11-11 failed")
            && sent[0].contains("src.sqlite")
            && sent[0].contains("tally run --date 2026-11-11"),
        "{}",
        sent[0]
    );
    std::fs::rename(&hidden, &source).unwrap();
    ws.ok(&["run", "--date", "2026-11-10"]);
    ws.ok(&["run", "--date", "2026-11-10"]);
    let sent = texts();
    let recovered: Vec<&String> = sent
        .iter()
        .filter(|t| t.contains("tally recovered: the run for 2026-11-10 succeeded"))
        .collect();
    assert_eq!(recovered.len(), 1, "{sent:?}");
}

/// A daemon started a minute after a scheduled time (it was killed, or deployed) runs that time
/// once and records it as a catch-up; a pattern that never fires is a config error.
#[test]
fn a_missed_time_is_recorded_as_a_catch_up() {
    let ws = small_segment_rewards("[schedule]\ncron = \"0 9 * * *\"\n", "");
    let plan = tally::config::load(&ws.config(), None).unwrap();
    let clock = TestClock(Rc::new(Cell::new("2026-11-11T09:01:00Z".parse().unwrap())));
    let schedule = Schedule::new("0 9 * * *", chrono_tz::Tz::UTC).unwrap();
    let mut daemon = Daemon::new(
        schedule,
        (0, Duration::from_secs(60)),
        clock,
        PipelineRunner::new(&plan, true),
        Notifier::new(&plan),
        false,
    );
    block_on(async { assert_eq!(daemon.tick().await, Tick::Ran) });
    let history: serde_json::Value =
        serde_json::from_str(&ws.ok(&["history", "--format", "json"])).unwrap();
    assert_eq!(history[0]["trigger"], "catch-up", "{history}");
    assert_eq!(history[0]["date"], "2026-11-10", "{history}");

    let config = std::fs::read_to_string(ws.config()).unwrap();
    std::fs::write(ws.config(), config.replace("0 9 * * *", "0 0 31 2 *")).unwrap();
    let (code, text) = crate::support::output(&ws, &["check"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("schedule.cron") && text.contains("never fires"),
        "{text}"
    );
    // A year field: it would fire daily until then, and never after.
    std::fs::write(ws.config(), config.replace("0 9 * * *", "0 0 9 * * * 2030")).unwrap();
    let (code, text) = crate::support::output(&ws, &["check"]);
    assert_eq!(code, 2, "{text}");
    assert!(
        text.contains("schedule.cron") && text.contains("7 fields"),
        "{text}"
    );
}

/// `[schedule] alert`, the old name of `notify`, still loads, with a warning naming the new key;
/// both at once is an error.
#[test]
fn the_old_alert_key_still_loads_with_a_warning() {
    let extra = "[[deliver]]\nkind = \"webhook\"\nurl = \"https://hooks.example.com/in\"\n\
                 [schedule]\ncron = \"0 9 * * *\"\nalert = \"webhook\"\n";
    let ws = small_segment_rewards(extra, "");
    let (code, text) = crate::support::output(&ws, &["status"]);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("schedule.alert") && text.contains("schedule.notify"),
        "{text}"
    );
    let plan = tally::config::load(&ws.config(), None).unwrap();
    assert_eq!(
        plan.schedule.unwrap().notify.as_deref(),
        Some("webhook0"),
        "the notices go where `alert` said"
    );
    let both = std::fs::read_to_string(ws.config()).unwrap() + "notify = \"webhook\"\n";
    std::fs::write(ws.config(), both).unwrap();
    let (code, text) = crate::support::output(&ws, &["status"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("keep `notify` only"), "{text}");
}
