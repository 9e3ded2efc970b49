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

mod revisions {
    use std::collections::BTreeMap;
    use std::time::{Duration, Instant};

    use chrono::{DateTime, TimeDelta, Utc};
    use rust_decimal::Decimal;

    use crate::cross::{Action, Reward, config, expected, fixture, my_rewards, pg_actions};
    use crate::support::slack_server::{Reply, SlackServer, TOKEN};
    use crate::support::{MyDb, PgDb, Workspace};

    /// The lines of the report for `date` from the raw rows, as `day,segment -> cells`.
    fn lines(
        actions: &[Action],
        rewards: &[Reward],
        date: &str,
    ) -> BTreeMap<(String, String), Vec<String>> {
        expected(actions, rewards, date.parse().unwrap(), 8)
            .into_iter()
            .map(|l| {
                let cells: Vec<String> = l.split(',').map(String::from).collect();
                ((cells[0].clone(), cells[1].clone()), cells)
            })
            .collect()
    }

    const COLUMNS: [&str; 8] = [
        "day", "segment", "users", "active", "actions", "rewarded", "rewards", "share",
    ];

    /// The revisions CSV a plain comparison of the two reports gives.
    fn revised_csv(
        before: &BTreeMap<(String, String), Vec<String>>,
        after: &BTreeMap<(String, String), Vec<String>>,
    ) -> (String, usize) {
        let mut out = String::from("day,segment,column,old,new\n");
        let mut n = 0;
        let mut days: Vec<&String> = after.keys().map(|(d, _)| d).collect();
        days.dedup();
        for day in days {
            for segment in ["heavy", "light", "inactive"] {
                let key = (day.clone(), segment.to_string());
                let (Some(old), Some(new)) = (before.get(&key), after.get(&key)) else {
                    continue;
                };
                for (i, column) in COLUMNS.iter().enumerate().skip(2) {
                    if old[i] != new[i] {
                        out += &format!("{day},{segment},{column},{},{}\n", old[i], new[i]);
                        n += 1;
                    }
                }
            }
        }
        (out, n)
    }

    fn at(day: &str, hour: u32) -> DateTime<Utc> {
        let d: chrono::NaiveDate = day.parse().unwrap();
        crate::cross::local_midnight(d) + TimeDelta::hours(i64::from(hour))
    }

    /// Deliver D; late rows arrive for D-1; deliver D+1 (killed while it replies, then run
    /// again): the new message lists exactly the cells a plain computation of both reports says
    /// changed, the revisions CSV matches in the thread and in the files destination, one
    /// "Revised" reply sits in D's thread, and reruns post nothing. Then a change of the
    /// segment's weights is said in one line.
    #[test]
    fn revised_cells_are_listed_and_replied_once() {
        let (mut actions, mut rewards) = fixture();
        let pg = PgDb::new();
        let my = MyDb::new();
        pg_actions(&pg, &actions);
        my_rewards(&my, &rewards);
        let server = SlackServer::start();
        let ws = Workspace::new(&format!(
            "{}\n[[deliver]]\nkind = \"slack\"\ntoken = \"${{SLACK_BOT_TOKEN}}\"\nchannel = \"C0TEST\"\n\
             api_url = \"{}\"\nattach = [\"csv\"]\n\n[[deliver]]\nkind = \"files\"\ndir = \"out\"\n",
            config(&pg.url, "UTC", &my.url, "UTC"),
            server.url
        ));
        std::fs::write(ws.path().join(".env"), format!("SLACK_BOT_TOKEN={TOKEN}\n")).unwrap();
        ws.ok(&["-q", "run", "--date", "2026-11-14"]);
        let before = lines(&actions, &rewards, "2026-11-14");

        // Late rows for 2026-11-13: a big action day for one user, a reward for another.
        let late_actions: Vec<Action> = (0..30)
            .map(|i| Action {
                signer: "0xAbC001".into(),
                kind: "buy",
                at: at("2026-11-13", 12) + TimeDelta::seconds(i),
            })
            .collect();
        let late_reward = Reward {
            wallet: "0xabc002".into(),
            currency: "NCG",
            amount: Decimal::new(123_456_789, 4),
            at: at("2026-11-13", 13),
        };
        let values: Vec<String> = late_actions
            .iter()
            .map(|a| format!("('{}', '{}', '{}')", a.signer, a.kind, a.at.to_rfc3339()))
            .collect();
        pg.exec(&format!(
            "INSERT INTO actions (signer, type_id, block_time) VALUES {};",
            values.join(", ")
        ));
        my.exec(&format!(
            "SET time_zone = '+00:00'; INSERT INTO rewards (wallet, currency, amount, claimed_at) \
             VALUES ('0xABC002', 'NCG', {}, '{}');",
            late_reward.amount,
            late_reward.at.naive_utc()
        ));
        actions.extend(late_actions);
        rewards.push(late_reward);
        let after = lines(&actions, &rewards, "2026-11-15");
        let (csv, n) = revised_csv(&before, &after);
        assert!(n > 0, "the late rows change nothing?");

        // D+1, killed while its reply in D's thread hangs, then run again.
        server.force("chat.postMessage", &[Reply::Pass, Reply::DoThenHang]);
        let mut child = ws
            .command(&["-q", "run", "--date", "2026-11-15"])
            .spawn()
            .unwrap();
        let started = Instant::now();
        while server.state.lock().unwrap().messages.len() < 3 {
            assert!(
                started.elapsed() < Duration::from_secs(90),
                "no reply posted"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        ws.ok(&["-q", "run", "--date", "2026-11-15"]);
        ws.ok(&["-q", "run", "--date", "2026-11-15"]);

        let s = server.state.lock().unwrap();
        assert!(s.violations.is_empty(), "{:?}", s.violations);
        let first_ts = "1764400000.000001";
        let replies: Vec<&serde_json::Value> = s
            .messages
            .iter()
            .filter(|m| m["thread_ts"] == first_ts)
            .collect();
        assert_eq!(replies.len(), 1, "{:?}", s.messages);
        let reply = replies[0]["text"].as_str().unwrap();
        assert!(reply.starts_with("Revised"), "{reply}");
        assert!(reply.contains("2026-11-13"), "{reply}");
        let tops: Vec<&serde_json::Value> = s
            .messages
            .iter()
            .filter(|m| !m["thread_ts"].is_string())
            .collect();
        assert_eq!(tops.len(), 2, "D and D+1, once each");
        let section = tops[1]["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["text"]["text"].as_str())
            .find(|t| t.starts_with("*Revised since the last report*"))
            .expect("a revisions section")
            .to_string();
        assert!(
            section.contains("(late rows were pulled again)"),
            "{section}"
        );
        let listed = section.lines().count() - 1;
        assert_eq!(listed, n.min(10) + usize::from(n > 10), "{section}");
        if n > 10 {
            assert!(
                section.ends_with(&format!("and {} more", n - 10)),
                "{section}"
            );
        }
        let uploaded = s
            .names
            .iter()
            .find(|(_, name)| *name == "rewards_by_segment-2026-11-15-revisions.csv")
            .map(|(id, _)| String::from_utf8(s.uploads[id].clone()).unwrap())
            .expect("the revisions CSV in the thread");
        assert_eq!(uploaded, csv);
        drop(s);
        let file = std::fs::read_to_string(
            ws.path()
                .join("out/rewards_by_segment-2026-11-15-revisions.csv"),
        )
        .unwrap();
        assert_eq!(file, csv);
        // tally report --revisions says the same, and delivers nothing.
        let posts = server.state.lock().unwrap().messages.len();
        let printed = ws.ok(&[
            "report",
            "rewards_by_segment",
            "--no-sync",
            "--date",
            "2026-11-15",
            "--revisions",
            "--format",
            "csv",
        ]);
        assert_eq!(
            printed, "day,segment,column,old,new\n",
            "nothing since the last delivery"
        );
        assert_eq!(server.state.lock().unwrap().messages.len(), posts);

        // A change of the weights: one line says so, no list of cells.
        let config = std::fs::read_to_string(ws.config()).unwrap();
        std::fs::write(
            ws.config(),
            config.replace("hack_and_slash22 = 2", "hack_and_slash22 = 5"),
        )
        .unwrap();
        ws.ok(&["-q", "run", "--date", "2026-11-16"]);
        let s = server.state.lock().unwrap();
        let last = s
            .messages
            .iter()
            .rev()
            .find(|m| !m["thread_ts"].is_string())
            .unwrap();
        let section = last["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|b| b["text"]["text"].as_str())
            .find(|t| t.starts_with("*Revised since the last report*"))
            .expect("a revisions section");
        assert_eq!(
            section,
            "*Revised since the last report*: the definition of segment `engagement` changed: weights."
        );
    }
}

mod alerts {
    use crate::support::slack_server::{SlackServer, TOKEN};
    use crate::support::{Workspace, small_segment_rewards};

    fn workspace(server: &SlackServer, alerts: &str) -> Workspace {
        small_segment_rewards(
            &format!(
                "\n[reports.busy_days]\nsql = \"SELECT day, sum(actions) AS n FROM activity WHERE day \
                 BETWEEN :start AND :end AND day < '2026-11-10' GROUP BY day\"\ndays = 1\n\n\
                 [[deliver]]\nkind = \"slack\"\ntoken = \"${{SLACK_BOT_TOKEN}}\"\nchannel = \"C0TEST\"\n\
                 api_url = \"{}\"\nattach = []\nreports = []\n{alerts}",
                server.url
            ),
            &format!("SLACK_BOT_TOKEN={TOKEN}\n"),
        )
    }

    fn texts(server: &SlackServer) -> Vec<(String, Option<String>)> {
        server
            .state
            .lock()
            .unwrap()
            .messages
            .iter()
            .map(|m| {
                (
                    m["text"].as_str().unwrap_or("").to_string(),
                    m["thread_ts"].as_str().map(String::from),
                )
            })
            .collect()
    }

    /// `fire = "change"`: the heavy row matches on D (sent), keeps matching on D+1 (nothing
    /// sent), stops on D+2 (one "Resolved" reply in the thread of D's alert); `tally status`
    /// says what fires meanwhile. The heavy group's rewards are 9000 + 3 × day + 0.75.
    #[test]
    fn a_change_alert_sends_new_rows_once_and_resolves_in_the_thread() {
        let server = SlackServer::start();
        let ws = workspace(
            &server,
            "\n[alerts.heavy_cheap]\nreport = \"rewards_by_segment\"\n\
             when = \"segment = 'heavy' AND rewards < 9028\"\nfire = \"change\"\n",
        );
        let alert_messages = |server: &SlackServer| -> Vec<(String, Option<String>)> {
            texts(server)
                .into_iter()
                .filter(|(t, _)| t.contains("heavy cheap"))
                .collect()
        };
        ws.ok(&["-q", "run", "--date", "2026-11-08"]);
        let sent = alert_messages(&server);
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert!(
            sent[0].0.contains("1 row of *rewards_by_segment* matched"),
            "{sent:?}"
        );
        let status = ws.ok(&["status"]);
        assert!(
            status.contains("alert heavy_cheap firing since 2026-11-08 (on 2026-11-08: heavy)"),
            "{status}"
        );

        ws.ok(&["-q", "run", "--date", "2026-11-09"]);
        assert_eq!(
            alert_messages(&server).len(),
            1,
            "still matching: nothing sent"
        );
        let status = ws.ok(&["status"]);
        assert!(
            status.contains("firing since 2026-11-08 (on 2026-11-09: heavy)"),
            "{status}"
        );

        ws.ok(&["-q", "run", "--date", "2026-11-10"]);
        ws.ok(&["-q", "run", "--date", "2026-11-10"]);
        let sent = alert_messages(&server);
        assert_eq!(sent.len(), 2, "{sent:?}");
        let (text, thread) = &sent[1];
        assert!(text.starts_with("Resolved"), "{text}");
        assert!(text.contains("no longer matches"), "{text}");
        // In the thread of the alert message of 2026-11-08.
        let messages = server.state.lock().unwrap().messages.clone();
        let first = messages
            .iter()
            .position(|m| m["text"].as_str().unwrap_or("").contains("heavy cheap"))
            .unwrap();
        assert_eq!(
            thread.as_deref(),
            Some(format!("1764400000.{:06}", first + 1).as_str())
        );
        let status = ws.ok(&["status"]);
        assert!(!status.contains("alert heavy_cheap firing"), "{status}");
    }

    /// `no_data`: an alert on a report with no rows for the date says so.
    #[test]
    fn a_no_data_alert_fires_on_a_day_without_rows() {
        let server = SlackServer::start();
        let ws = workspace(
            &server,
            "\n[alerts.quiet]\nreport = \"busy_days\"\nwhen = \"n < 0\"\nno_data = true\n",
        );
        ws.ok(&["-q", "run", "--date", "2026-11-09"]);
        assert!(texts(&server).iter().all(|(t, _)| !t.starts_with("quiet")));
        ws.ok(&["-q", "run", "--date", "2026-11-10"]);
        let quiet: Vec<String> = texts(&server)
            .into_iter()
            .map(|(t, _)| t)
            .filter(|t| t.starts_with("quiet"))
            .collect();
        assert_eq!(quiet.len(), 1, "{quiet:?}");
        assert!(
            quiet[0].contains("*busy_days* has no rows for 2026-11-10"),
            "{quiet:?}"
        );
    }

    /// `key` only with `fire = "change"`, and naming a column of the report.
    #[test]
    fn alert_keys_are_checked() {
        let server = SlackServer::start();
        for (alert, needle) in [
            (
                "fire = \"change\"\nkey = [\"group\"]",
                "alerts.a.key: `group` is not a column",
            ),
            (
                "key = [\"segment\"]",
                "alerts.a.key: is only for fire = \"change\"",
            ),
            ("fire = \"sometimes\"", "alerts.a.fire: `sometimes` is not"),
        ] {
            let ws = workspace(&server, "");
            let config = std::fs::read_to_string(ws.config()).unwrap();
            std::fs::write(
                ws.config(),
                format!("{config}\n[alerts.a]\nreport = \"rewards_by_segment\"\nwhen = \"share > 0\"\n{alert}\n"),
            )
            .unwrap();
            let (code, text) = crate::support::output(&ws, &["check"]);
            assert_eq!(code, 2, "{text}");
            assert!(text.contains(needle), "{needle}: {text}");
        }
    }
}
