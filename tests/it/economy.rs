//! Lifecycle and reward economy reports against independent computations: PostgreSQL actions
//! (the cross test's random players and a few written by hand: new, back after a short and a
//! long gap, gone dormant, a wallet that only claims) and MariaDB rewards with 18 decimals and
//! 30 digits. Everything expected is computed here from the raw rows, with integers.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use num_bigint::BigInt;

use crate::cross::{Action, ZONE, fixture, local_midnight, pg_actions};
use crate::policy::{csv, div_half_even, fixed, share, units};
use crate::support::{MyDb, PgDb, Workspace};

const SCALE: u32 = 18;

fn day_of(t: &DateTime<Utc>) -> NaiveDate {
    t.with_timezone(&ZONE).date_naive()
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// The data: the fixture's actions, hand-written players, and rewards with 18 decimals.
struct Data {
    actions: Vec<Action>,
    /// (wallet, amount as written, time)
    rewards: Vec<(String, String, DateTime<Utc>)>,
}

/// The hand-written players, with the fixture's random ones or alone.
fn data(with_fixture: bool) -> Data {
    let (mut actions, mut fixture_rewards) = fixture();
    if !with_fixture {
        actions.clear();
        fixture_rewards.clear();
    }
    let at = |day: &str| local_midnight(d(day)) + TimeDelta::hours(5);
    let mut act = |user: &str, days: &[&str]| {
        for day in days {
            actions.push(Action {
                signer: user.into(),
                kind: "buy",
                at: at(day),
            });
        }
    };
    act("0xnewcomer", &["2026-11-14"]);
    // Back after 3 idle days (within a 7-day history) and after 9 (beyond it).
    act("0xshortgap", &["2026-11-09", "2026-11-13"]);
    act("0xlonggap", &["2026-11-02", "2026-11-12"]);
    act("0xdormant", &["2026-11-10", "2026-11-11", "2026-11-12"]);
    let mut rewards: Vec<(String, String, DateTime<Utc>)> = fixture_rewards
        .iter()
        .filter(|r| r.currency == "NCG" && day_of(&r.at) != d("2026-11-11"))
        .enumerate()
        .map(|(i, r)| {
            // 30 digits, 18 of them decimals.
            let whole = 100_000_000_000u64 + (i as u64 * 7_919) % 900_000_000_000;
            let frac = (i as u64).wrapping_mul(2_654_435_761) % 1_000_000_000_000_000_000;
            (r.wallet.clone(), format!("{whole}.{frac:018}"), r.at)
        })
        .collect();
    // A wallet that claims every day and never plays, and a claim of the dormant player.
    for k in 0..16 {
        let day = d("2026-11-01") + Days::new(k);
        if day == d("2026-11-11") {
            continue;
        }
        rewards.push((
            "0xfarmer".into(),
            "123456789012.345678901234567890".into(),
            local_midnight(day) + TimeDelta::hours(2),
        ));
    }
    rewards.push((
        "0xdormant".into(),
        "5.000000000000000001".into(),
        at("2026-11-14"),
    ));
    Data { actions, rewards }
}

fn load(data: &Data, reports: &str) -> (Workspace, PgDb, MyDb) {
    let pg = PgDb::new();
    pg_actions(&pg, &data.actions);
    let my = MyDb::new();
    let mut sql = String::from(
        "CREATE TABLE rewards (wallet VARCHAR(64), currency VARCHAR(8), amount DECIMAL(30,18), claimed_at DATETIME, INDEX (claimed_at));\n",
    );
    for (wallet, amount, at) in &data.rewards {
        sql += &format!(
            "INSERT INTO rewards VALUES ('{wallet}', 'NCG', {amount}, '{}');\n",
            at.format("%Y-%m-%d %H:%M:%S")
        );
    }
    my.exec(&sql);
    let config = crate::cross::config(&pg.url, "UTC", &my.url, "UTC") + reports;
    (Workspace::new(&config), pg, my)
}

/// Actions per (user, day), without `noop` (the rollup's filter).
fn counts(data: &Data) -> HashMap<(String, NaiveDate), i64> {
    let mut out = HashMap::new();
    for a in data.actions.iter().filter(|a| a.kind != "noop") {
        *out.entry((a.signer.to_lowercase(), day_of(&a.at)))
            .or_default() += 1;
    }
    out
}

/// Rewards per (user, day), in units of 10^-18.
fn paid(data: &Data) -> HashMap<(String, NaiveDate), BigInt> {
    let mut out = HashMap::new();
    for (wallet, amount, at) in &data.rewards {
        *out.entry((wallet.to_lowercase(), day_of(at))).or_default() += units(amount, SCALE);
    }
    out
}

fn lifecycle_expected(
    data: &Data,
    (interval, history): (u64, u64),
    with_rewards: bool,
    (last, days): (NaiveDate, u64),
) -> Vec<String> {
    let acts = counts(data);
    let money = paid(data);
    let users: BTreeSet<String> = acts
        .keys()
        .chain(money.keys())
        .map(|(u, _)| u.clone())
        .collect();
    let mut lines = Vec::new();
    for k in (0..days).rev() {
        let day = last - Days::new(k);
        let provisional = k < 2;
        let range = |from: u64, to: u64| (day - Days::new(from))..=(day - Days::new(to));
        let (i_days, p_days) = (range(interval - 1, 0), range(2 * interval - 1, interval));
        let h_days = range(interval + history - 1, interval);
        let active = |u: &str, r: &std::ops::RangeInclusive<NaiveDate>| {
            acts.iter()
                .any(|((w, x), n)| w == u && r.contains(x) && *n > 0)
        };
        let mut rows: BTreeMap<usize, (i64, i64, i64, BigInt)> = BTreeMap::new();
        let mut total = BigInt::from(0);
        for u in &users {
            let reward: Option<BigInt> = money
                .iter()
                .filter(|((w, x), _)| w == u && i_days.contains(x))
                .map(|(_, v)| v.clone())
                .reduce(|a, b| a + b);
            if let Some(r) = &reward {
                total += r;
            }
            let (i, p, h) = (active(u, &i_days), active(u, &p_days), active(u, &h_days));
            let state = match (i, p, h) {
                (true, _, false) => 0,
                (true, true, _) => 1,
                (true, false, true) => 2,
                (false, true, _) => 3,
                _ if with_rewards && reward.is_some() => 4,
                _ => continue,
            };
            let row = rows.entry(state).or_default();
            row.0 += 1;
            row.1 += acts
                .iter()
                .filter(|((w, x), _)| w == u && i_days.contains(x))
                .map(|(_, n)| n)
                .sum::<i64>();
            if let Some(r) = reward {
                row.2 += 1;
                row.3 += r;
            }
        }
        let states = if with_rewards { 5 } else { 4 };
        for (s, name) in ["new", "returning", "resurrecting", "dormant", "inactive"]
            .iter()
            .enumerate()
            .take(states)
        {
            let (users, actions, rewarded, rewards) = rows.remove(&s).unwrap_or_default();
            lines.push(if with_rewards {
                format!(
                    "{day},{name},{users},{actions},{rewarded},{},{},{provisional}",
                    fixed(&rewards, SCALE),
                    share(&rewards, &total)
                )
            } else {
                format!("{day},{name},{users},{actions},{provisional}")
            });
        }
    }
    lines
}

const REPORTS: &str = r#"
[reports.daily]
kind = "lifecycle"
segment = "engagement"
rewards = "rewards"
amount = "amount"
history = "7d"

[reports.weekly]
kind = "lifecycle"
segment = "engagement"
rewards = "rewards"
amount = "amount"
interval = "7d"
history = "14d"
days = 3

[reports.plain]
kind = "lifecycle"
segment = "engagement"

[reports.spread]
kind = "reward_efficiency"
segment = "engagement"
rewards = "rewards"
amount = "amount"
"#;

#[test]
fn lifecycle_matches_a_plain_computation() {
    let data = data(true);
    let (ws, _pg, _my) = load(&data, REPORTS);
    let last = d("2026-11-16");
    let daily = csv(
        &ws,
        &["report", "daily", "--date", "2026-11-16", "--format", "csv"],
    );
    assert_eq!(
        daily[0],
        "day,state,users,actions,rewarded,rewards,share,provisional"
    );
    assert_eq!(
        daily[1..],
        lifecycle_expected(&data, (1, 7), true, (last, 8))[..]
    );
    let weekly = csv(
        &ws,
        &[
            "report",
            "weekly",
            "--date",
            "2026-11-16",
            "--format",
            "csv",
            "--no-sync",
        ],
    );
    assert_eq!(
        weekly[1..],
        lifecycle_expected(&data, (7, 14), true, (last, 3))[..]
    );
    let plain = csv(
        &ws,
        &[
            "report",
            "plain",
            "--date",
            "2026-11-16",
            "--format",
            "csv",
            "--no-sync",
        ],
    );
    assert_eq!(plain[0], "day,state,users,actions,provisional");
    assert_eq!(
        plain[1..],
        lifecycle_expected(&data, (1, 28), false, (last, 8))[..]
    );
    // Each report keeps its own days: the daily, weekly and plain ones do not take each
    // other's place in the cache.
    let kept = ws.query(
        "SELECT count(DISTINCT report) FROM _tally_report_days WHERE report LIKE 'lifecycle:%'",
    );
    assert_eq!(kept, ["3"]);
    // A rerun reads the cached days and gives the same.
    let again = csv(
        &ws,
        &[
            "report",
            "daily",
            "--date",
            "2026-11-16",
            "--format",
            "csv",
            "--no-sync",
        ],
    );
    assert_eq!(again, daily);
}

/// Each user's group on `day` by the cross test's segment (window 7, hack_and_slash22 = 2,
/// daily_reward7 = 0, others 1; heavy from 3 per day); `None` without actions in the window.
fn group(data: &Data, user: &str, day: NaiveDate) -> Option<&'static str> {
    let start = day - Days::new(6);
    let mut sum = 0i64;
    let mut seen = false;
    for a in data.actions.iter().filter(|a| a.kind != "noop") {
        if a.signer.to_lowercase() == user && (start..=day).contains(&day_of(&a.at)) {
            seen = true;
            sum += match a.kind {
                "hack_and_slash22" => 2,
                "daily_reward7" => 0,
                _ => 1,
            };
        }
    }
    seen.then_some(if sum >= 21 { "heavy" } else { "light" })
}

fn efficiency_expected(data: &Data, (last, days): (NaiveDate, u64)) -> Vec<String> {
    let acts = counts(data);
    let money = paid(data);
    let users: BTreeSet<String> = acts
        .keys()
        .chain(money.keys())
        .map(|(u, _)| u.clone())
        .collect();
    let mut lines = Vec::new();
    for k in (0..days).rev() {
        let day = last - Days::new(k);
        let provisional = k < 2;
        for name in ["heavy", "light", "inactive"] {
            let mut claims: Vec<BigInt> = Vec::new();
            let (mut actions, mut without) = (0i64, 0i64);
            for u in &users {
                let reward = money.get(&(u.clone(), day));
                let g = match group(data, u, day) {
                    Some(g) => g,
                    None if reward.is_some() => "inactive",
                    None => continue,
                };
                if g != name {
                    continue;
                }
                let today = acts.get(&(u.clone(), day)).copied().unwrap_or(0);
                actions += today;
                if let Some(r) = reward {
                    claims.push(r.clone());
                    if today == 0 {
                        without += 1;
                    }
                }
            }
            claims.sort();
            let n = claims.len() as i64;
            let sum: BigInt = claims.iter().sum();
            let zero = BigInt::from(0);
            let top = |k: i64| -> BigInt { claims.iter().rev().take(k as usize).sum() };
            let (per_action, top1, top10, gini) = (
                if actions == 0 {
                    String::new()
                } else {
                    // units of 10^-18 → 8 places.
                    let q = div_half_even(
                        &(&sum * BigInt::from(10).pow(8)),
                        &(BigInt::from(actions) * BigInt::from(10).pow(SCALE)),
                    );
                    fixed(&q, 8)
                },
                if sum == zero {
                    String::new()
                } else {
                    share(&top((n + 99) / 100), &sum)
                },
                if sum == zero {
                    String::new()
                } else {
                    share(&top((n + 9) / 10), &sum)
                },
                if sum == zero || n == 0 {
                    String::new()
                } else {
                    let ranked: BigInt = claims
                        .iter()
                        .enumerate()
                        .map(|(i, x)| x * BigInt::from(i as i64 + 1))
                        .sum();
                    let num = ranked * 2 - BigInt::from(n + 1) * &sum;
                    fixed(&div_half_even(&(num * 1000), &(BigInt::from(n) * &sum)), 3)
                },
            );
            lines.push(format!(
                "{day},{name},{n},{},{actions},{per_action},{top1},{top10},{gini},{without},{provisional}",
                fixed(&sum, SCALE)
            ));
        }
    }
    lines
}

#[test]
fn reward_efficiency_matches_a_plain_computation() {
    let data = data(true);
    let (ws, _pg, _my) = load(&data, REPORTS);
    let lines = csv(
        &ws,
        &[
            "report",
            "spread",
            "--date",
            "2026-11-16",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        lines[0],
        "day,segment,claimers,rewards,actions,rewards_per_action,top1_share,top10_share,gini,claimers_without_actions,provisional"
    );
    assert_eq!(
        lines[1..],
        efficiency_expected(&data, (d("2026-11-16"), 8))[..]
    );
    // 2026-11-11 has no rewards: nothing to share, no Gini.
    for line in lines.iter().filter(|l| l.starts_with("2026-11-11,")) {
        assert!(line.contains(",0,0.000000000000000000,"), "{line}");
        assert!(line.contains(",,,,0,"), "{line}");
    }
}

#[test]
fn the_hand_written_players_land_in_their_states() {
    let data = data(false);
    let (ws, _pg, _my) = load(&data, REPORTS);
    let daily = csv(
        &ws,
        &["report", "daily", "--date", "2026-11-14", "--format", "csv"],
    );
    assert_eq!(
        daily[1..],
        lifecycle_expected(&data, (1, 7), true, (d("2026-11-14"), 8))[..]
    );
    let users = |day: &str| -> Vec<String> {
        daily
            .iter()
            .filter(|l| l.starts_with(day))
            .map(|l| {
                let c: Vec<&str> = l.split(',').collect();
                format!("{}={}", c[1], c[2])
            })
            .collect()
    };
    // 11-13: back after 3 idle days (resurrecting); stopped after 11-12 (dormant: the one back
    // after 9 idle days, new on 11-12, and the one active 11-10 to 11-12); the farmer claims.
    assert_eq!(
        users("2026-11-13"),
        [
            "new=0",
            "returning=0",
            "resurrecting=1",
            "dormant=2",
            "inactive=1"
        ]
    );
    assert_eq!(
        users("2026-11-12"),
        [
            "new=1",
            "returning=1",
            "resurrecting=0",
            "dormant=0",
            "inactive=1"
        ]
    );
    // 11-14: the newcomer; the short-gap player stopped; the dormant one claims without playing.
    assert_eq!(
        users("2026-11-14"),
        [
            "new=1",
            "returning=0",
            "resurrecting=0",
            "dormant=1",
            "inactive=2"
        ]
    );
}

#[test]
fn one_claimer_equal_claims_and_one_who_takes_everything() {
    // Light players l1..l4 (one action a day); h1 heavy (30 a day). 11-10: h1 alone claims in
    // heavy, l1..l4 claim 5 each; 11-11: l4 takes 12, the others 0; 11-12: no claims.
    let mut actions = Vec::new();
    let at = |day: &str, h: i64| local_midnight(d(day)) + TimeDelta::hours(h);
    for day in ["2026-11-09", "2026-11-10", "2026-11-11", "2026-11-12"] {
        for u in ["0xl1", "0xl2", "0xl3", "0xl4"] {
            actions.push(Action {
                signer: u.into(),
                kind: "buy",
                at: at(day, 3),
            });
        }
        for _ in 0..30 {
            actions.push(Action {
                signer: "0xh1".into(),
                kind: "buy",
                at: at(day, 4),
            });
        }
    }
    let mut rewards = Vec::new();
    for u in ["0xl1", "0xl2", "0xl3", "0xl4"] {
        rewards.push((u.to_string(), "5".to_string(), at("2026-11-10", 6)));
        let x = if u == "0xl4" { "12" } else { "0" };
        rewards.push((u.to_string(), x.to_string(), at("2026-11-11", 6)));
    }
    rewards.push(("0xh1".into(), "7.5".into(), at("2026-11-10", 6)));
    let data = Data { actions, rewards };
    let (ws, _pg, _my) = load(&data, REPORTS);
    let lines = csv(
        &ws,
        &[
            "report",
            "spread",
            "--date",
            "2026-11-12",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        lines[1..],
        efficiency_expected(&data, (d("2026-11-12"), 8))[..]
    );
    let line = |day: &str, group: &str| -> String {
        lines
            .iter()
            .find(|l| l.starts_with(&format!("{day},{group},")))
            .unwrap()
            .clone()
    };
    let s18 = |x: &str| format!("{x}.000000000000000000");
    assert_eq!(
        line("2026-11-10", "heavy"),
        "2026-11-10,heavy,1,7.500000000000000000,30,0.25000000,100.0,100.0,0.000,0,false"
    );
    assert_eq!(
        line("2026-11-10", "light"),
        format!(
            "2026-11-10,light,4,{},4,5.00000000,25.0,25.0,0.000,0,false",
            s18("20")
        )
    );
    assert_eq!(
        line("2026-11-11", "light"),
        format!(
            "2026-11-11,light,4,{},4,3.00000000,100.0,100.0,0.750,0,true",
            s18("12")
        )
    );
    assert_eq!(
        line("2026-11-12", "light"),
        format!("2026-11-12,light,0,{},4,0.00000000,,,,0,true", s18("0"))
    );
}
