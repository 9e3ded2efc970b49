//! The policy lab against independent computations: policy_compare reports (a threshold, a
//! weight, a new top group, a longer window, a zero payout, no change) and `tally whatif` on
//! PostgreSQL actions and MariaDB rewards; exact money at 18 decimals and 30 digits; and
//! score_distribution's nearest-rank percentiles. Everything expected is computed here from the
//! raw rows, with integers, without tally's code.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Days, NaiveDate, Utc};
use num_bigint::BigInt;

use crate::cross::{Action, Reward, ZONE, fixture, my_rewards, pg_actions};
use crate::support::{MyDb, PgDb, Workspace, output};

/// A scoring policy: integer weights (others `default`), a window, groups with integer
/// thresholds (highest first), and payout multipliers in tenths (10 = 1).
#[derive(Clone)]
struct Rules {
    weights: Vec<(&'static str, i64)>,
    default: i64,
    window: u64,
    groups: Vec<(&'static str, i64)>,
    payout: Vec<(&'static str, i64)>,
}

fn now_rules() -> Rules {
    Rules {
        weights: vec![("daily_reward7", 0), ("hack_and_slash22", 2)],
        default: 1,
        window: 7,
        groups: vec![("heavy", 3), ("light", 0)],
        payout: vec![],
    }
}

impl Rules {
    fn weight(&self, kind: &str) -> i64 {
        self.weights
            .iter()
            .find(|(k, _)| *k == kind)
            .map_or(self.default, |(_, w)| *w)
    }

    fn payout(&self, group: &str) -> i64 {
        self.payout
            .iter()
            .find(|(g, _)| *g == group)
            .map_or(10, |(_, x)| *x)
    }

    /// Each user's group on `d`: by the weighted sum over the window (`sum >= min × window`),
    /// or `inactive` for a user rewarded without activity in it.
    fn groups_on(
        &self,
        actions: &[Action],
        paid: &HashMap<String, BigInt>,
        d: NaiveDate,
    ) -> HashMap<String, &'static str> {
        let day_of = |t: &DateTime<Utc>| t.with_timezone(&ZONE).date_naive();
        let start = d - Days::new(self.window - 1);
        let mut sums: HashMap<String, i64> = HashMap::new();
        for a in actions
            .iter()
            .filter(|a| a.kind != "noop" && (start..=d).contains(&day_of(&a.at)))
        {
            *sums.entry(a.signer.to_lowercase()).or_default() += self.weight(a.kind);
        }
        let mut out: HashMap<String, &'static str> = sums
            .into_iter()
            .map(|(u, s)| {
                let g = self
                    .groups
                    .iter()
                    .find(|(_, min)| s >= min * self.window as i64)
                    .expect("the last group starts at 0")
                    .0;
                (u, g)
            })
            .collect();
        for u in paid.keys() {
            out.entry(u.clone()).or_insert("inactive");
        }
        out
    }
}

/// Half-even `n / d` on integers (d > 0).
pub fn div_half_even(n: &BigInt, d: &BigInt) -> BigInt {
    let zero = BigInt::from(0);
    let negative = n < &zero;
    let n = if negative { -n.clone() } else { n.clone() };
    let (mut q, r) = (&n / d, &n % d);
    let twice = &r * 2;
    if &twice > d || (&twice == d && &q % 2 == BigInt::from(1)) {
        q += 1;
    }
    if negative { -q } else { q }
}

/// `units` (of 10^-scale) written out.
pub fn fixed(units: &BigInt, scale: u32) -> String {
    let ten = BigInt::from(10).pow(scale);
    let zero = BigInt::from(0);
    let sign = if units < &zero { "-" } else { "" };
    let abs = if units < &zero {
        -units.clone()
    } else {
        units.clone()
    };
    if scale == 0 {
        return format!("{sign}{abs}");
    }
    format!(
        "{sign}{}.{:0>width$}",
        &abs / &ten,
        (&abs % &ten).to_string(),
        width = scale as usize
    )
}

/// `100 × part / total` in tenths, half-even; 0.0 when the total is 0.
pub fn share(part: &BigInt, total: &BigInt) -> String {
    if total == &BigInt::from(0) {
        return "0.0".into();
    }
    let q = div_half_even(&(part * 1000), total);
    format!("{}.{}", &q / 10, (&q % 10 + 10) % 10)
}

/// An amount's units at `scale` decimals.
pub fn units(text: &str, scale: u32) -> BigInt {
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    format!("{int}{frac:0<width$}", width = scale as usize)
        .parse()
        .unwrap()
}

/// The policy_compare lines (CSV, with the provisional column) computed from the raw rows.
fn expected(
    actions: &[Action],
    rewards: &[(String, String, DateTime<Utc>)],
    scale: u32,
    (now, candidate): (&Rules, &Rules),
    (last, days): (NaiveDate, u64),
) -> Vec<String> {
    let day_of = |t: &DateTime<Utc>| t.with_timezone(&ZONE).date_naive();
    let mut names: Vec<&str> = now.groups.iter().map(|g| g.0).collect();
    for (g, _) in &candidate.groups {
        if !names.contains(g) {
            names.push(g);
        }
    }
    names.push("inactive");
    let mut lines = Vec::new();
    for k in (0..days).rev() {
        let d = last - Days::new(k);
        let provisional = k < 2;
        let mut paid: HashMap<String, BigInt> = HashMap::new();
        for (wallet, amount, _) in rewards.iter().filter(|r| day_of(&r.2) == d) {
            *paid.entry(wallet.to_lowercase()).or_default() += units(amount, scale);
        }
        let pool: BigInt = paid.values().sum();
        let g_now = now.groups_on(actions, &paid, d);
        let g_cand = candidate.groups_on(actions, &paid, d);
        let mut r_cand: BTreeMap<&str, BigInt> = BTreeMap::new();
        for (u, r) in &paid {
            *r_cand.entry(g_cand[u]).or_default() += r;
        }
        let weighted: BigInt = r_cand.iter().map(|(g, r)| r * candidate.payout(g)).sum();
        for name in &names {
            let count = |m: &HashMap<String, &str>| m.values().filter(|g| *g == name).count();
            let moved_in = g_cand
                .iter()
                .filter(|(u, g)| *g == name && g_now.get(*u) != Some(g))
                .count();
            let moved_out = g_now
                .iter()
                .filter(|(u, g)| *g == name && g_cand.get(*u) != Some(g))
                .count();
            let rewards_now: BigInt = paid
                .iter()
                .filter(|(u, _)| g_now.get(*u) == Some(name))
                .map(|(_, r)| r)
                .sum();
            let mine = r_cand.get(name).cloned().unwrap_or_default();
            let rewards_candidate = if weighted == BigInt::from(0) {
                mine
            } else {
                div_half_even(&(&pool * candidate.payout(name) * &mine), &weighted)
            };
            lines.push(format!(
                "{d},{name},{},{},{moved_in},{moved_out},{},{},{},{},{provisional}",
                count(&g_now),
                count(&g_cand),
                fixed(&rewards_now, scale),
                fixed(&rewards_candidate, scale),
                share(&rewards_now, &pool),
                share(&rewards_candidate, &pool),
            ));
        }
    }
    lines
}

fn ncg(rewards: &[Reward]) -> Vec<(String, String, DateTime<Utc>)> {
    rewards
        .iter()
        .filter(|r| r.currency == "NCG")
        .map(|r| (r.wallet.clone(), format!("{:.8}", r.amount), r.at))
        .collect()
}

const HEAD: &str = "day,segment,users_now,users_candidate,moved_in,moved_out,rewards_now,rewards_candidate,share_now,share_candidate,provisional";

/// The cross test's config with one policy_compare report per candidate.
fn config(pg: &PgDb, my: &MyDb) -> String {
    let mut text = crate::cross::config(&pg.url, "UTC", &my.url, "UTC");
    for (name, candidate) in [
        ("same", "{}"),
        (
            "threshold",
            "{ groups = [ { name = \"heavy\", min_score = 5 }, { name = \"light\", min_score = 0 } ] }",
        ),
        (
            "weight",
            "{ weights = { daily_reward7 = 0, hack_and_slash22 = 3 }, payout = { heavy = 2 } }",
        ),
        (
            "top_group",
            "{ groups = [ { name = \"core\", min_score = 6 }, { name = \"heavy\", min_score = 3 }, { name = \"light\", min_score = 0 } ], payout = { core = 3, inactive = 0.5 } }",
        ),
        ("longer", "{ window = \"14d\", payout = { light = 1.5 } }"),
        ("zero", "{ payout = { heavy = 0 } }"),
    ] {
        text += &format!(
            "\n[reports.{name}]\nkind = \"policy_compare\"\nsegment = \"engagement\"\n\
             rewards = \"rewards\"\namount = \"amount\"\ncandidate = {candidate}\n"
        );
    }
    text
}

pub fn csv(ws: &Workspace, args: &[&str]) -> Vec<String> {
    ws.ok(args).lines().map(String::from).collect()
}

#[test]
fn policy_compare_matches_a_plain_computation_for_each_kind_of_change() {
    let (actions, rewards) = fixture();
    let (pg, my) = (PgDb::new(), MyDb::new());
    pg_actions(&pg, &actions);
    my_rewards(&my, &rewards);
    let ws = Workspace::new(&config(&pg, &my));
    let paid = ncg(&rewards);
    let last: NaiveDate = "2026-11-15".parse().unwrap();
    let now = now_rules();
    let candidates = [
        ("same", now.clone()),
        (
            "threshold",
            Rules {
                groups: vec![("heavy", 5), ("light", 0)],
                ..now.clone()
            },
        ),
        (
            "weight",
            Rules {
                weights: vec![("daily_reward7", 0), ("hack_and_slash22", 3)],
                payout: vec![("heavy", 20)],
                ..now.clone()
            },
        ),
        (
            "top_group",
            Rules {
                groups: vec![("core", 6), ("heavy", 3), ("light", 0)],
                payout: vec![("core", 30), ("inactive", 5)],
                ..now.clone()
            },
        ),
        (
            "longer",
            Rules {
                window: 14,
                payout: vec![("light", 15)],
                ..now.clone()
            },
        ),
        (
            "zero",
            Rules {
                payout: vec![("heavy", 0)],
                ..now.clone()
            },
        ),
    ];
    for (name, candidate) in &candidates {
        let lines = csv(
            &ws,
            &["report", name, "--date", "2026-11-15", "--format", "csv"],
        );
        assert_eq!(lines[0], HEAD, "{name}");
        let want = expected(&actions, &paid, 8, (&now, candidate), (last, 8));
        assert_eq!(lines[1..], want[..], "report {name}");
    }
    // A candidate equal to the policy changes nothing.
    for line in csv(
        &ws,
        &[
            "report",
            "same",
            "--date",
            "2026-11-15",
            "--format",
            "csv",
            "--no-sync",
        ],
    )
    .iter()
    .skip(1)
    {
        let c: Vec<&str> = line.split(',').collect();
        assert_eq!(
            (c[2], c[4], c[5], c[6], c[8]),
            (c[3], "0", "0", c[7], c[9]),
            "{line}"
        );
    }
    // A rerun reads the cached days and gives the same lines.
    let again = csv(
        &ws,
        &[
            "report",
            "longer",
            "--date",
            "2026-11-15",
            "--format",
            "csv",
            "--no-sync",
        ],
    );
    assert_eq!(
        again[1..],
        expected(&actions, &paid, 8, (&now, &candidates[4].1), (last, 8))[..]
    );
}

#[test]
fn whatif_equals_policy_compare_and_names_bad_arguments() {
    let (actions, rewards) = fixture();
    let (pg, my) = (PgDb::new(), MyDb::new());
    pg_actions(&pg, &actions);
    my_rewards(&my, &rewards);
    let ws = Workspace::new(&config(&pg, &my));
    let report = |name: &str| {
        csv(
            &ws,
            &["report", name, "--date", "2026-11-15", "--format", "csv"],
        )
    };
    let whatif = |extra: &[&str]| {
        let mut args = vec![
            "whatif",
            "engagement",
            "--rewards",
            "rewards",
            "--amount",
            "amount",
            "--date",
            "2026-11-15",
            "--format",
            "csv",
        ];
        args.extend_from_slice(extra);
        csv(&ws, &args)
    };
    assert_eq!(
        whatif(&["--set", "groups.heavy.min_score=5"]),
        report("threshold")
    );
    assert_eq!(
        whatif(&["--set", "weights.hack_and_slash22=3", "--payout", "heavy=2"]),
        report("weight")
    );
    assert_eq!(
        whatif(&[
            "--set",
            "groups=[{name=\"core\",min_score=6},{name=\"heavy\",min_score=3},{name=\"light\",min_score=0}]",
            "--payout",
            "core=3",
            "--payout",
            "inactive=0.5",
        ]),
        report("top_group")
    );
    assert_eq!(
        whatif(&["--set", "window=14d", "--payout", "light=1.5", "--no-sync"]),
        report("longer")
    );
    assert_eq!(whatif(&[]), report("same"));
    // Bad arguments: exit 2, naming the argument and what is wrong with it.
    for (args, says) in [
        (
            &["--set", "window=0d"][..],
            "--set window=0d: candidate.window",
        ),
        (&["--set", "groups.nope.min_score=3"][..], "no group `nope`"),
        (&["--set", "colour=3"][..], "unknown key `colour`"),
        (
            &["--set", "weights.buy=-1"][..],
            "--set weights.buy=-1: candidate.weights.buy",
        ),
        (
            &["--set", "groups.light.min_score=4"][..],
            "strictly descending",
        ),
        (&["--set", "default_weight=abc"][..], "expected a number"),
        (
            &["--payout", "heavy=-1"][..],
            "--payout heavy=-1: candidate.payout.heavy",
        ),
        (&["--payout", "whales=2"][..], "no group `whales`"),
        (&["--set", "window"][..], "expected KEY=VALUE"),
    ] {
        let mut all = vec![
            "whatif",
            "engagement",
            "--rewards",
            "rewards",
            "--amount",
            "amount",
            "--no-sync",
        ];
        all.extend_from_slice(args);
        let (code, text) = output(&ws, &all);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(text.contains(says), "{args:?}: {text}");
    }
    for (args, says) in [
        (
            &["nope", "--rewards", "rewards", "--amount", "amount"][..],
            "no segment named `nope`",
        ),
        (
            &["engagement", "--rewards", "x", "--amount", "amount"][..],
            "--rewards: no rollup named `x`",
        ),
        (
            &["engagement", "--rewards", "rewards", "--amount", "x"][..],
            "--amount: rollup `rewards` has no measure `x`",
        ),
    ] {
        let mut all = vec!["whatif"];
        all.extend_from_slice(args);
        let (code, text) = output(&ws, &all);
        assert_eq!(code, 2, "{args:?}: {text}");
        assert!(text.contains(says), "{args:?}: {text}");
    }
}

#[test]
fn candidate_pay_is_exact_at_18_decimals_and_a_day_without_rewards_pays_nothing() {
    let (actions, _) = fixture();
    let pg = PgDb::new();
    pg_actions(&pg, &actions);
    let my = MyDb::new();
    // 30 digits, 18 of them decimals; nothing on 2026-11-12.
    let day_of = |t: &DateTime<Utc>| t.with_timezone(&ZONE).date_naive();
    let mut paid = Vec::new();
    let mut seed = 12_345u64;
    for a in actions.iter().step_by(7) {
        if day_of(&a.at) == "2026-11-12".parse::<NaiveDate>().unwrap() {
            continue;
        }
        seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        let whole = seed % 1_000_000_000_000;
        let frac = (seed >> 7) % 1_000_000_000_000_000_000;
        paid.push((a.signer.to_lowercase(), format!("{whole}.{frac:018}"), a.at));
    }
    let mut sql = String::from(
        "CREATE TABLE rewards (wallet VARCHAR(64), currency VARCHAR(8), amount DECIMAL(30,18), claimed_at DATETIME, INDEX (claimed_at));\n",
    );
    for (wallet, amount, at) in &paid {
        sql += &format!(
            "INSERT INTO rewards VALUES ('{wallet}', 'NCG', {amount}, '{}');\n",
            at.format("%Y-%m-%d %H:%M:%S")
        );
    }
    my.exec(&sql);
    let mut text = crate::cross::config(&pg.url, "UTC", &my.url, "UTC");
    text += "\n[reports.odd]\nkind = \"policy_compare\"\nsegment = \"engagement\"\nrewards = \"rewards\"\n\
             amount = \"amount\"\ncandidate = { payout = { heavy = 3, light = 0.7 } }\n";
    let ws = Workspace::new(&text);
    let lines = csv(
        &ws,
        &["report", "odd", "--date", "2026-11-15", "--format", "csv"],
    );
    let candidate = Rules {
        payout: vec![("heavy", 30), ("light", 7)],
        ..now_rules()
    };
    let want = expected(
        &actions,
        &paid,
        18,
        (&now_rules(), &candidate),
        ("2026-11-15".parse().unwrap(), 8),
    );
    assert_eq!(lines[1..], want[..]);
    let empty: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("2026-11-12"))
        .collect();
    assert_eq!(empty.len(), 3);
    for line in empty {
        assert!(
            line.contains(",0.000000000000000000,0.000000000000000000,0.0,0.0,"),
            "{line}"
        );
    }
}

/// The nearest-rank percentile: the ceil(p × n / 100)-th smallest.
fn nearest(sorted: &[i64], p: usize) -> i64 {
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank - 1]
}

#[test]
fn score_distribution_matches_a_plain_computation() {
    // A one-day window: 2026-11-01 has a single user, 2026-11-02 none, 2026-11-03 ten users
    // with tied scores, and the fixture's busier days after.
    let (mut actions, _) = fixture();
    actions.retain(|a| a.at.with_timezone(&ZONE).date_naive() > "2026-11-03".parse().unwrap());
    let at = |day: &str, h: u32| {
        crate::cross::local_midnight(day.parse().unwrap()) + chrono::TimeDelta::hours(h.into())
    };
    for _ in 0..3 {
        actions.push(Action {
            signer: "0xsolo".into(),
            kind: "buy",
            at: at("2026-11-01", 3),
        });
    }
    for (u, n) in [1, 1, 1, 1, 2, 2, 2, 2, 3, 5].iter().enumerate() {
        for _ in 0..*n {
            actions.push(Action {
                signer: format!("0xtie{u}"),
                kind: "sell",
                at: at("2026-11-03", 5),
            });
        }
    }
    let pg = PgDb::new();
    pg_actions(&pg, &actions);
    let text = format!(
        r#"
timezone = "Asia/Seoul"
store = "store.sqlite"
[sources.chain]
url = "{}"
pause = "0s"
[rollups.activity]
source = "chain"
table = "actions"
time = "block_time"
user = "lower(signer)"
dimensions = {{ action = "type_id" }}
measures = {{ actions = "count(*)" }}
filter = "type_id <> 'noop'"
keep = "3650d"
[segments.engagement]
rollup = "activity"
score = "actions"
by = "action"
window = "1d"
weights = {{ hack_and_slash22 = 2, daily_reward7 = 0 }}
groups = [ {{ name = "core", min_score = 20 }}, {{ name = "heavy", min_score = 3 }}, {{ name = "light", min_score = 0 }} ]
[reports.scores]
kind = "score_distribution"
segment = "engagement"
days = 10
"#,
        pg.url
    );
    let ws = Workspace::new(&text);
    let lines = csv(
        &ws,
        &[
            "report",
            "scores",
            "--date",
            "2026-11-10",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        lines[0],
        "day,users,p10,p25,p50,p75,p90,p99,max,at_least_core,at_least_heavy,at_least_light,provisional"
    );
    let first: NaiveDate = "2026-11-01".parse().unwrap();
    for (k, line) in lines[1..].iter().enumerate() {
        let d = first + Days::new(k as u64);
        let rules = Rules {
            window: 1,
            groups: vec![("core", 20), ("heavy", 3), ("light", 0)],
            ..now_rules()
        };
        let day_of = |t: &DateTime<Utc>| t.with_timezone(&ZONE).date_naive();
        let mut sums: HashMap<String, i64> = HashMap::new();
        for a in actions
            .iter()
            .filter(|a| a.kind != "noop" && day_of(&a.at) == d)
        {
            *sums.entry(a.signer.to_lowercase()).or_default() += rules.weight(a.kind);
        }
        let mut scores: Vec<i64> = sums.values().copied().collect();
        scores.sort();
        let provisional = d >= "2026-11-09".parse().unwrap();
        let cells = if scores.is_empty() {
            ",,,,,,".to_string()
        } else {
            [10, 25, 50, 75, 90, 99]
                .iter()
                .map(|p| format!("{}.00", nearest(&scores, *p)))
                .chain([format!("{}.00", scores.last().unwrap())])
                .collect::<Vec<_>>()
                .join(",")
        };
        let at_least = |min: i64| scores.iter().filter(|s| **s >= min).count();
        assert_eq!(
            *line,
            format!(
                "{d},{},{cells},{},{},{},{provisional}",
                scores.len(),
                at_least(20),
                at_least(3),
                at_least(0)
            )
        );
    }
    // The single user and the day without users.
    assert!(
        lines[1].starts_with("2026-11-01,1,3.00,3.00,3.00,3.00,3.00,3.00,3.00,0,1,1,"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("2026-11-02,0,,,,,,,,0,0,0,"),
        "{}",
        lines[2]
    );
    // Ties: p25 is the 3rd smallest of 10 (1), p50 the 5th (2), p90 the 9th (3).
    assert!(
        lines[3].starts_with("2026-11-03,10,1.00,1.00,2.00,2.00,3.00,5.00,5.00,0,2,10,"),
        "{}",
        lines[3]
    );
}

#[test]
fn annotations_and_segment_changes_mark_their_days() {
    let (actions, rewards) = fixture();
    let (pg, my) = (PgDb::new(), MyDb::new());
    pg_actions(&pg, &actions);
    my_rewards(&my, &rewards);
    let base = config(&pg, &my);
    let notes = "\n[[annotations]]\ndate = 2026-11-12\ntext = \"Raid event <!channel>\"\n\
                 \n[[annotations]]\ndate = \"2026-11-13\"\ntext = \"Only on threshold\"\nreports = [\"threshold\"]\n\
                 \n[[annotations]]\ndate = \"2026-10-01\"\ntext = \"Long before\"\n";
    let ws = Workspace::new(&format!("{base}{notes}"));
    let table = ws.ok(&["report", "same", "--date", "2026-11-14"]);
    assert!(
        table.contains("2026-11-12: Raid event <!channel>"),
        "{table}"
    );
    assert!(
        !table.contains("Only on threshold") && !table.contains("Long before"),
        "{table}"
    );
    let md = ws.ok(&[
        "report",
        "threshold",
        "--date",
        "2026-11-14",
        "--format",
        "md",
        "--no-sync",
    ]);
    assert!(md.contains("- 2026-11-12: Raid event"), "{md}");
    assert!(md.contains("- 2026-11-13: Only on threshold"), "{md}");
    // The chart draws the marks.
    let png = ws.path().join("same.png");
    ws.ok(&[
        "report",
        "same",
        "--date",
        "2026-11-14",
        "--format",
        "png",
        "--output",
        png.to_str().unwrap(),
        "--no-sync",
    ]);
    assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    // A change of the segment in the config marks the report date of the first run after it.
    let changed =
        format!("{base}{notes}").replace("hack_and_slash22 = 2 }", "hack_and_slash22 = 4 }");
    assert_ne!(changed, format!("{base}{notes}"));
    std::fs::write(ws.config(), &changed).unwrap();
    let table = ws.ok(&["report", "same", "--date", "2026-11-15"]);
    assert!(
        table.contains("2026-11-15: segment `engagement` changed: weights"),
        "{table}"
    );
    // Recorded once: a later report still shows it on its day, and nothing new.
    let later = ws.ok(&["report", "same", "--date", "2026-11-16", "--no-sync"]);
    assert_eq!(later.matches("changed: weights").count(), 1, "{later}");
    // The same weight written another way is no change; back to the old weights and the date
    // run again, the change is gone (it was never published in the end).
    let same_number = changed.replace("hack_and_slash22 = 4 }", "hack_and_slash22 = 4.0 }");
    std::fs::write(ws.config(), &same_number).unwrap();
    let again = ws.ok(&["report", "same", "--date", "2026-11-16", "--no-sync"]);
    assert_eq!(again.matches("changed:").count(), 1, "{again}");
    std::fs::write(ws.config(), format!("{base}{notes}")).unwrap();
    let reverted = ws.ok(&["report", "same", "--date", "2026-11-15", "--no-sync"]);
    assert!(!reverted.contains("changed:"), "{reverted}");
    // Renaming the inactive group renames it on every day, cached or not.
    let renamed = format!("{base}{notes}").replace(
        "groups = [ { name = \"heavy\", min_score = 3 }, { name = \"light\", min_score = 0 } ]\n",
        "groups = [ { name = \"heavy\", min_score = 3 }, { name = \"light\", min_score = 0 } ]\ninactive = \"idle\"\n",
    );
    assert_ne!(renamed, format!("{base}{notes}"));
    let renamed = renamed.replace("inactive = 0.5", "idle = 0.5");
    std::fs::write(ws.config(), &renamed).unwrap();
    let csv = ws.ok(&[
        "report",
        "same",
        "--date",
        "2026-11-15",
        "--format",
        "csv",
        "--no-sync",
    ]);
    assert_eq!(csv.matches(",idle,").count(), 8, "{csv}");
    assert!(!csv.contains(",inactive,"), "{csv}");
    // Bad annotations are config errors naming the key.
    for (entry, key) in [
        ("date = \"11/12/2026\"\ntext = \"x\"", "annotations[0].date"),
        ("date = \"2026-11-12\"\ntext = \" \"", "annotations[0].text"),
        (
            "date = \"2026-11-12\"\ntext = \"x\"\nreports = [\"nope\"]",
            "annotations[0].reports",
        ),
    ] {
        std::fs::write(ws.config(), format!("{base}\n[[annotations]]\n{entry}\n")).unwrap();
        let (code, text) = output(&ws, &["check"]);
        assert_eq!(code, 2, "{text}");
        assert!(text.contains(key), "{text}");
    }
}

#[test]
fn score_distribution_and_policy_compare_draw_charts() {
    let (actions, rewards) = fixture();
    let (pg, my) = (PgDb::new(), MyDb::new());
    pg_actions(&pg, &actions);
    my_rewards(&my, &rewards);
    let text = format!(
        "{}\n[reports.scores]\nkind = \"score_distribution\"\nsegment = \"engagement\"\n",
        config(&pg, &my)
    );
    let ws = Workspace::new(&text);
    for name in ["scores", "top_group"] {
        let png = ws.path().join(format!("{name}.png"));
        ws.ok(&[
            "report",
            name,
            "--date",
            "2026-11-15",
            "--format",
            "png",
            "--output",
            png.to_str().unwrap(),
        ]);
        assert!(
            std::fs::read(&png).unwrap().starts_with(b"\x89PNG"),
            "{name}"
        );
    }
}

#[test]
fn score_distribution_ranks_many_distinct_scores_in_a_file() {
    // 120 000 users with distinct scores (more than are counted in memory): the percentiles come
    // from the temporary file, and still equal a plain computation.
    let ws = crate::support::Workspace::new("");
    let conn = rusqlite::Connection::open(ws.path().join("src.sqlite")).unwrap();
    conn.execute_batch(
        "CREATE TABLE actions (signer TEXT, power TEXT, at TEXT);
         CREATE INDEX actions_at ON actions (at);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120000)
         INSERT INTO actions SELECT 'u' || i, printf('%d.%03d', i, (i * 7919) % 1000), '2026-11-10 10:00:00' FROM n;",
    )
    .unwrap();
    let mut powers: Vec<rust_decimal::Decimal> = (1..=120_000i64)
        .map(|i| rust_decimal::Decimal::new(i * 1000 + (i * 7919) % 1000, 3))
        .collect();
    powers.sort();
    std::fs::write(
        ws.config(),
        r#"store = "store.sqlite"
[sources.src]
url = "sqlite://src.sqlite"
pause = "0s"
[rollups.activity]
source = "src"
table = "actions"
time = "at"
user = "signer"
measures = { power = "sum(power)" }
keep = "3650d"
[segments.s]
rollup = "activity"
score = "power"
window = "1d"
groups = [ { name = "top", min_score = 50000 }, { name = "rest", min_score = 0 } ]
[reports.scores]
kind = "score_distribution"
segment = "s"
days = 1
"#,
    )
    .unwrap();
    let lines = csv(
        &ws,
        &[
            "report",
            "scores",
            "--date",
            "2026-11-10",
            "--format",
            "csv",
        ],
    );
    let n = powers.len();
    let at = |p: usize| {
        let rank = (p * n).div_ceil(100).max(1);
        powers[rank - 1]
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven)
    };
    let top = powers
        .iter()
        .filter(|p| **p >= rust_decimal::Decimal::from(50_000))
        .count();
    let want = format!(
        "2026-11-10,{n},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2},{:.2},{top},{n},true",
        at(10),
        at(25),
        at(50),
        at(75),
        at(90),
        at(99),
        powers[n - 1]
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointNearestEven),
    );
    assert_eq!(lines[1], want);
}
