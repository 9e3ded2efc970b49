//! The reports beyond the story's table (segment_flow, top_rewarded) and alerts on a report's
//! rows, on the cross fixture in real PostgreSQL and MariaDB: each report must equal a plain
//! computation from the raw rows written here, without tally's code; alerts post once; and no
//! value from the data can ping anyone in Slack.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use rust_decimal::Decimal;
use serde_json::Value as Json;

use crate::cross::{self, Action, Reward, ZONE};
use crate::support::slack_server::{SlackServer, TOKEN};
use crate::support::{MyDb, PgDb, Workspace};

const GROUPS: [&str; 4] = ["whale", "heavy", "light", "inactive"];

/// A segment with a group nobody reaches (`whale`), the two reports, and a farmers' list.
const REPORTS: &str = r#"
[segments.tiers]
rollup = "activity"
score = "actions"
by = "action"
window = "7d"
weights = { daily_reward7 = 0, hack_and_slash22 = 2 }
groups = [ { name = "whale", min_score = 1000 }, { name = "heavy", min_score = 3 }, { name = "light", min_score = 0 } ]

[reports.moves]
kind = "segment_flow"
segment = "tiers"
days = 2

[reports.top]
kind = "top_rewarded"
segment = "tiers"
rewards = "rewards"
amount = "amount"

[reports.farmers]
kind = "top_rewarded"
segment = "tiers"
rewards = "rewards"
amount = "amount"
groups = ["inactive"]
limit = 3
"#;

fn day_of(t: &DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&ZONE).date_naive()
}

fn noon(day: &str) -> DateTime<Utc> {
    let day: NaiveDate = day.parse().unwrap();
    ZONE.from_local_datetime(&day.and_hms_opt(12, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// The cross fixture, plus two wallets that tie at the top without ever acting, and two whose ids
/// are Slack mentions.
fn data() -> (Vec<Action>, Vec<Reward>) {
    let (actions, mut rewards) = cross::fixture();
    for (wallet, amount, day) in [
        ("0xtie_b", "5000.00000000", "2026-11-15"),
        ("0xtie_a", "5000.00000000", "2026-11-13"),
        ("<!channel>", "4000.00000000", "2026-11-14"),
        ("<@u123>", "3000.00000000", "2026-11-12"),
    ] {
        rewards.push(Reward {
            wallet: wallet.into(),
            currency: "NCG",
            amount: amount.parse().unwrap(),
            at: noon(day),
        });
    }
    (actions, rewards)
}

/// The group of each user on `day` (window of 7 days, whale ≥ 1000, heavy ≥ 3 per day).
fn groups_on(actions: &[Action], day: NaiveDate) -> HashMap<String, &'static str> {
    let first = day - Days::new(6);
    let mut weighted: HashMap<String, i64> = HashMap::new();
    for a in actions
        .iter()
        .filter(|a| a.kind != "noop" && (first..=day).contains(&day_of(&a.at)))
    {
        let w = match a.kind {
            "hack_and_slash22" => 2,
            "daily_reward7" => 0,
            _ => 1,
        };
        *weighted.entry(a.signer.to_lowercase()).or_default() += w;
    }
    weighted
        .into_iter()
        .map(|(u, sum)| {
            let group = if sum >= 1000 * 7 {
                "whale"
            } else if sum >= 3 * 7 {
                "heavy"
            } else {
                "light"
            };
            (u, group)
        })
        .collect()
}

/// `users * 100 / total` in tenths, rounded half to even, in integers.
fn share(users: i64, total: i64) -> String {
    if total == 0 {
        return "0.0".into();
    }
    let (mut q, r) = (users * 1000 / total, users * 1000 % total);
    if 2 * r > total || (2 * r == total && q % 2 == 1) {
        q += 1;
    }
    format!("{}.{}", q / 10, q % 10)
}

/// segment_flow over the days `last - days + 1 ..= last`, compared with 7 days before.
fn expected_flow(actions: &[Action], last: NaiveDate, days: u64) -> Vec<String> {
    let mut lines = Vec::new();
    for k in (0..days).rev() {
        let day = last - Days::new(k);
        let (before, after) = (
            groups_on(actions, day - Days::new(7)),
            groups_on(actions, day),
        );
        let users: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
        let mut counts: BTreeMap<(&str, &str), i64> = BTreeMap::new();
        for u in users {
            let from = before.get(u).copied().unwrap_or("inactive");
            let to = after.get(u).copied().unwrap_or("inactive");
            *counts.entry((from, to)).or_default() += 1;
        }
        for from in GROUPS {
            let total: i64 = GROUPS
                .iter()
                .map(|to| counts.get(&(from, *to)).copied().unwrap_or(0))
                .sum();
            for to in GROUPS {
                let n = counts.get(&(from, to)).copied().unwrap_or(0);
                // The default 2-day lookback: the last day and the one before may change.
                let provisional = k < 2;
                lines.push(format!(
                    "{day},{from},{to},{n},{},{provisional}",
                    share(n, total)
                ));
            }
        }
    }
    lines
}

/// `d` with exactly 8 decimals.
fn fixed8(d: Decimal) -> String {
    let units = d.mantissa() * 10i128.pow(8 - d.scale());
    let sign = if units < 0 { "-" } else { "" };
    let units = units.abs();
    format!("{sign}{}.{:08}", units / 100_000_000, units % 100_000_000)
}

/// `num / den` rounded half to even at 8 decimals, in integers (`den` > 0).
fn per_action(num: Decimal, den: i64) -> String {
    let n = num.mantissa() * 10i128.pow(8 - num.scale());
    let d = i128::from(den);
    let (mut q, r) = (n / d, n % d);
    if 2 * r > d || (2 * r == d && q % 2 == 1) {
        q += 1;
    }
    format!("{}.{:08}", q / 100_000_000, q % 100_000_000)
}

/// top_rewarded over the 7 days ending `last`: users with NCG rewards, best first, `limit` kept.
fn expected_top(
    actions: &[Action],
    rewards: &[Reward],
    last: NaiveDate,
    only: Option<&str>,
    limit: usize,
) -> Vec<String> {
    let first = last - Days::new(6);
    let in_period = |t: &DateTime<Utc>| (first..=last).contains(&day_of(t));
    let mut paid: HashMap<String, (Decimal, i64)> = HashMap::new();
    for r in rewards
        .iter()
        .filter(|r| r.currency == "NCG" && in_period(&r.at))
    {
        let e = paid.entry(r.wallet.to_lowercase()).or_default();
        e.0 += r.amount;
        e.1 += 1;
    }
    let mut acted: HashMap<String, (i64, BTreeSet<NaiveDate>)> = HashMap::new();
    for a in actions
        .iter()
        .filter(|a| a.kind != "noop" && in_period(&a.at))
    {
        let e = acted.entry(a.signer.to_lowercase()).or_default();
        e.0 += 1;
        e.1.insert(day_of(&a.at));
    }
    let groups = groups_on(actions, last);
    let mut lines: Vec<(Decimal, String, String)> = paid
        .into_iter()
        .filter_map(|(user, (money, claims))| {
            let group = groups.get(&user).copied().unwrap_or("inactive");
            if only.is_some_and(|g| g != group) {
                return None;
            }
            let (n, days) = acted.get(&user).cloned().unwrap_or_default();
            let ratio = if n == 0 {
                String::new()
            } else {
                per_action(money, n)
            };
            let line = format!(
                "{user},{group},{},{claims},{n},{},{ratio}",
                fixed8(money),
                days.len()
            );
            Some((money, user, line))
        })
        .collect();
    lines.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    lines.into_iter().take(limit).map(|l| l.2).collect()
}

/// The CSV lines of `report` for 2026-11-15 (with the header).
fn csv(ws: &Workspace, report: &str) -> Vec<String> {
    ws.ok(&["report", report, "--date", "2026-11-15", "--format", "csv"])
        .lines()
        .map(|l| l.replace('"', ""))
        .collect()
}

fn workspace(pg: &PgDb, my: &MyDb, extra: &str) -> Workspace {
    let ws = Workspace::new(&format!(
        "{}{REPORTS}{extra}",
        cross::config(&pg.url, "UTC", &my.url, "UTC")
    ));
    std::fs::write(ws.path().join(".env"), format!("SLACK_BOT_TOKEN={TOKEN}\n")).unwrap();
    ws
}

fn loaded() -> (PgDb, MyDb, Vec<Action>, Vec<Reward>) {
    let (actions, rewards) = data();
    let pg = PgDb::new();
    let my = MyDb::new();
    cross::pg_actions(&pg, &actions);
    cross::my_rewards(&my, &rewards);
    (pg, my, actions, rewards)
}

#[test]
fn segment_flow_and_top_rewarded_match_a_plain_computation() {
    let (pg, my, actions, rewards) = loaded();
    let ws = workspace(&pg, &my, "");
    let last: NaiveDate = "2026-11-15".parse().unwrap();

    let flow = csv(&ws, "moves");
    assert_eq!(flow[0], "day,from,to,users,share,provisional");
    let want = expected_flow(&actions, last, 2);
    assert_eq!(flow[1..], want[..]);
    assert_eq!(flow.len(), 1 + 2 * 16, "a full square per day");
    // The fixture has movers, users seen on one of the two days only, and an empty group.
    assert!(
        want.iter()
            .any(|l| l.contains(",inactive,light,") && !l.contains(",0,0.0"))
    );
    assert!(
        want.iter()
            .any(|l| l.contains(",light,inactive,") && !l.contains(",0,0.0"))
    );
    assert!(want.iter().any(|l| l.contains(",whale,whale,0,0.0")));
    let png = ws.path().join("moves.png");
    let out = png.to_str().unwrap();
    ws.ok(&[
        "report",
        "moves",
        "--no-sync",
        "--date",
        "2026-11-15",
        "--format",
        "png",
        "--output",
        out,
    ]);
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG\r\n"));

    let top = csv(&ws, "top");
    assert_eq!(
        top[0],
        "user,group,rewards,claims,actions,active_days,rewards_per_action"
    );
    let want = expected_top(&actions, &rewards, last, None, 20);
    assert_eq!(top[1..], want[..]);
    // The tie is broken by user id, and users who never acted come with an empty ratio.
    assert!(
        top[1].starts_with("0xtie_a,inactive,5000.00000000,1,0,0,"),
        "{top:?}"
    );
    assert!(
        top[2].starts_with("0xtie_b,inactive,5000.00000000,1,0,0,"),
        "{top:?}"
    );
    assert!(top[1].ends_with(",0,0,"), "{}", top[1]);
    assert!(
        top.iter()
            .any(|l| l.starts_with("<!channel>,inactive,4000."))
    );

    let farmers = csv(&ws, "farmers");
    let want = expected_top(&actions, &rewards, last, Some("inactive"), 3);
    assert_eq!(farmers[1..], want[..]);
    assert_eq!(farmers.len(), 4);

    // The same numbers again from the store's cached runs.
    assert_eq!(csv(&ws, "moves"), flow);
    assert_eq!(csv(&ws, "top"), top);
}

fn slack(server: &SlackServer) -> String {
    format!(
        r#"
[[deliver]]
kind = "slack"
token = "${{SLACK_BOT_TOKEN}}"
channel = "C0TEST"
api_url = "{}"
reports = ["top"]
attach = []
"#,
        server.url
    )
}

const ALERTS: &str = r#"
[alerts.heavy_share]
report = "rewards_by_segment"
when = "segment = 'heavy' AND share >= 0"
title = "Heavy share <check>"

[alerts.never]
report = "rewards_by_segment"
when = "share > 1000"
"#;

/// The posted messages whose header starts with `title`.
fn messages_titled(server: &SlackServer, title: &str) -> Vec<Json> {
    server
        .state
        .lock()
        .unwrap()
        .messages
        .iter()
        .filter(|m| {
            m["blocks"][0]["text"]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with(title))
        })
        .cloned()
        .collect()
}

#[test]
fn an_alert_posts_its_matching_rows_once_and_data_never_pings() {
    let (pg, my, _, _) = loaded();
    let server = SlackServer::start();
    let ws = workspace(&pg, &my, &format!("{}{ALERTS}", slack(&server)));
    ws.ok(&["-q", "run", "--date", "2026-11-15"]);

    let alerts = messages_titled(&server, "Heavy share &lt;check&gt;");
    assert_eq!(
        alerts.len(),
        1,
        "{:?}",
        server.state.lock().unwrap().messages
    );
    let blocks = alerts[0]["blocks"].as_array().unwrap();
    let summary = blocks[1]["text"]["text"].as_str().unwrap();
    assert!(
        summary.contains("segment = 'heavy' AND share &gt;= 0"),
        "{summary}"
    );
    // The heavy rows of the report's 8 days matched, and only they.
    let rows = blocks[2]["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 1 + 8, "{rows:?}");
    assert_eq!(rows[1][0]["text"], "2026-11-08");
    // The last two days may still change (the 2-day lookback): marked with `*`.
    assert_eq!(rows[7][0]["text"], "2026-11-14*");
    assert_eq!(rows[8][0]["text"], "2026-11-15*");
    assert!(
        rows[1..].iter().all(|r| r[1]["text"] == "heavy"),
        "{rows:?}"
    );
    assert!(messages_titled(&server, "never").is_empty());

    // The top report names users whose ids are mentions: escaped everywhere Slack shows text.
    let top = messages_titled(&server, "top");
    assert_eq!(top.len(), 1);
    let posted = serde_json::to_string(&top[0]).unwrap();
    assert!(
        !posted.contains("<!channel>") && !posted.contains("<@u123>"),
        "{posted}"
    );
    assert!(posted.contains("&lt;!channel&gt;") && posted.contains("&lt;@u123&gt;"));

    // A dry run shows the alert it would send, and sends nothing.
    let preview = ws.ok(&["run", "--dry-run", "--date", "2026-11-15"]);
    assert!(
        preview.contains("== alerts.heavy_share to slack:C0TEST (slack)"),
        "{preview}"
    );
    assert!(!preview.contains("== alerts.never"), "{preview}");
    assert_eq!(messages_titled(&server, "Heavy share").len(), 1);

    // A rerun posts nothing again; --force posts the alert (and the report) once more.
    ws.ok(&["-q", "run", "--date", "2026-11-15"]);
    assert_eq!(messages_titled(&server, "Heavy share").len(), 1);
    assert_eq!(messages_titled(&server, "top").len(), 1);
    ws.ok(&["-q", "deliver", "--date", "2026-11-15", "--force"]);
    assert_eq!(messages_titled(&server, "Heavy share").len(), 2);
    assert!(messages_titled(&server, "never").is_empty());
    let s = server.state.lock().unwrap();
    let ping = s.messages.iter().any(|m| m.to_string().contains("<!"));
    assert!(!ping, "{:?}", s.messages);
}

#[test]
fn an_alert_condition_that_is_not_one_expression_is_a_config_error() {
    for (when, says) in [
        ("share < 30; DELETE FROM report", "alerts.low.when"),
        // Nothing binds a parameter, and extensions are not loaded.
        ("share > ?", "alerts.low.when"),
        ("share > :x", "alerts.low.when"),
        ("load_extension('x') = 1", "alerts.low.when"),
        // sqlparser reads `]]` in a bracketed name as `]` and prints it back single: refused.
        (
            "[users]]) UNION SELECT 0 FROM report WHERE ([users]",
            "alerts.low.when",
        ),
        ("share <", "alerts.low.when"),
        ("", "alerts.low.when"),
    ] {
        let ws = Workspace::new(&format!(
            "{}\n[alerts.low]\nreport = \"rewards_by_segment\"\nwhen = \"{when}\"\n",
            cross::config("sqlite://a.sqlite", "UTC", "sqlite://b.sqlite", "UTC")
        ));
        let out = ws.run(&["report", "--no-sync"]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{when}: {err}");
        assert!(err.contains(says), "{when}: {err}");
    }
}

#[test]
fn check_runs_each_condition_against_the_report_columns() {
    let (pg, my, _, _) = loaded();
    let ws = workspace(
        &pg,
        &my,
        r#"
[alerts.good]
report = "moves"
when = "\"from\" = 'heavy' AND \"to\" = 'inactive' AND share > 20"

[alerts.typo]
report = "top"
when = "reward > 100"
"#,
    );
    let out = ws.run(&["check"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{text}");
    assert!(text.contains("alert good: ok"), "{text}");
    assert!(
        text.contains("alert typo: FAILED") && text.contains("no such column: reward"),
        "{text}"
    );
    // Nothing was synced or sent.
    assert!(!ws.path().join("store.sqlite").exists());
}

#[test]
fn a_png_of_a_report_without_a_chart_is_refused_before_any_sync() {
    let ws = Workspace::new(&format!(
        "{}{REPORTS}",
        cross::config("sqlite://a.sqlite", "UTC", "sqlite://b.sqlite", "UTC")
    ));
    let png = ws.path().join("top.png");
    let out = ws.run(&[
        "report",
        "top",
        "--format",
        "png",
        "--output",
        png.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("reward_efficiency reports only"), "{err}");
    // Neither source (both missing) nor the store was touched.
    assert!(!ws.path().join("store.sqlite").exists(), "{err}");
    assert!(!png.exists());
}
