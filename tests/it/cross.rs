//! The independent check: the same raw rows go into PostgreSQL and MariaDB (actions in one,
//! rewards in the other, both ways round), and tally's segment_rewards report must equal a plain
//! computation from the raw rows written here, without tally's code.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Days, NaiveDate, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rust_decimal::Decimal;

use crate::support::{MyDb, PgDb, Workspace};

pub const ZONE: Tz = chrono_tz::Asia::Seoul;
const KINDS: [&str; 5] = ["hack_and_slash22", "daily_reward7", "buy", "sell", "noop"];

pub struct Action {
    pub signer: String,
    pub kind: &'static str,
    pub at: DateTime<Utc>,
}

pub struct Reward {
    pub wallet: String,
    pub currency: &'static str,
    pub amount: Decimal,
    pub at: DateTime<Utc>,
}

pub fn local_midnight(day: NaiveDate) -> DateTime<Utc> {
    ZONE.from_local_datetime(&day.and_hms_opt(0, 0, 0).unwrap())
        .unwrap()
        .with_timezone(&Utc)
}

/// Raw rows over 2026-11-01..=2026-11-16 (Asia/Seoul), with rows right on local midnight.
pub fn fixture() -> (Vec<Action>, Vec<Reward>) {
    let mut rng = SmallRng::seed_from_u64(7);
    let first: NaiveDate = "2026-11-01".parse().unwrap();
    let mut actions = Vec::new();
    let mut rewards = Vec::new();
    for d in 0..16 {
        let day = first + Days::new(d);
        let start = local_midnight(day);
        for u in 0..40 {
            let signer = format!("0xAbC{u:03}");
            let heavy = u % 5 == 0;
            if rng.random_bool(if heavy { 0.9 } else { 0.4 }) {
                let n = if heavy {
                    rng.random_range(10..40)
                } else {
                    rng.random_range(1..6)
                };
                for i in 0..n {
                    // The first action of some users is exactly at local midnight.
                    let offset = if i == 0 && u % 7 == 0 {
                        0
                    } else {
                        rng.random_range(0..86_400)
                    };
                    actions.push(Action {
                        signer: signer.clone(),
                        kind: KINDS[rng.random_range(0..KINDS.len())],
                        at: start + TimeDelta::seconds(offset),
                    });
                }
            }
            // Users 40..45 are only ever rewarded (the inactive group).
            for wallet in [signer.to_lowercase(), format!("0xabc{:03}", 40 + u % 5)] {
                if rng.random_bool(0.3) {
                    let offset = if u % 9 == 0 {
                        86_399
                    } else {
                        rng.random_range(0..86_400)
                    };
                    rewards.push(Reward {
                        wallet,
                        currency: if rng.random_bool(0.85) {
                            "NCG"
                        } else {
                            "CRYSTAL"
                        },
                        amount: Decimal::new(rng.random_range(1..10_000_000_000), 8),
                        at: start + TimeDelta::seconds(offset),
                    });
                }
            }
        }
    }
    (actions, rewards)
}

/// The report computed directly from the raw rows: window 7 days, weights
/// hack_and_slash22 = 2, daily_reward7 = 0, others 1; heavy when the weighted sum reaches 3 per
/// day (compared as `sum >= 3 * 7` to stay in integers).
pub fn expected(actions: &[Action], rewards: &[Reward], last: NaiveDate, days: u64) -> Vec<String> {
    let day_of = |t: &DateTime<Utc>| t.with_timezone(&ZONE).date_naive();
    let mut lines = Vec::new();
    for k in (0..days).rev() {
        let d = last - Days::new(k);
        // The default 2-day lookback pulls the report date and the day before again.
        let provisional = k < 2;
        let window_start = d - Days::new(6);
        let real: Vec<&Action> = actions.iter().filter(|a| a.kind != "noop").collect();
        let mut weighted: HashMap<String, i64> = HashMap::new();
        for a in real
            .iter()
            .filter(|a| (window_start..=d).contains(&day_of(&a.at)))
        {
            let w = match a.kind {
                "hack_and_slash22" => 2,
                "daily_reward7" => 0,
                _ => 1,
            };
            *weighted.entry(a.signer.to_lowercase()).or_default() += w;
        }
        let mut today: HashMap<String, i64> = HashMap::new();
        for a in real.iter().filter(|a| day_of(&a.at) == d) {
            *today.entry(a.signer.to_lowercase()).or_default() += 1;
        }
        let mut paid: HashMap<String, Decimal> = HashMap::new();
        for r in rewards
            .iter()
            .filter(|r| r.currency == "NCG" && day_of(&r.at) == d)
        {
            *paid.entry(r.wallet.to_lowercase()).or_default() += r.amount;
        }
        let total: Decimal = paid.values().sum();
        let group_of = |sum: i64| if sum >= 3 * 7 { "heavy" } else { "light" };
        let mut groups: BTreeMap<&str, HashSet<String>> = BTreeMap::new();
        for (u, sum) in &weighted {
            groups.entry(group_of(*sum)).or_default().insert(u.clone());
        }
        for name in ["heavy", "light"] {
            let members = groups.remove(name).unwrap_or_default();
            let money: Decimal = members.iter().filter_map(|u| paid.get(u)).sum();
            lines.push(format!(
                "{d},{name},{},{},{},{},{},{},{provisional}",
                members.len(),
                members.iter().filter(|u| today.contains_key(*u)).count(),
                members.iter().filter_map(|u| today.get(u)).sum::<i64>(),
                members.iter().filter(|u| paid.contains_key(*u)).count(),
                fixed8(money),
                share(money, total)
            ));
        }
        let inactive: Vec<&Decimal> = paid
            .iter()
            .filter(|(u, _)| !weighted.contains_key(*u))
            .map(|(_, v)| v)
            .collect();
        let money: Decimal = inactive.iter().copied().sum();
        lines.push(format!(
            "{d},inactive,{n},0,0,{n},{},{},{provisional}",
            fixed8(money),
            share(money, total),
            n = inactive.len()
        ));
    }
    lines
}

fn fixed8(d: Decimal) -> String {
    let units = d.mantissa() * 10i128.pow(8 - d.scale());
    format!("{}.{:08}", units / 100_000_000, units % 100_000_000)
}

/// 100 * part / total in tenths, rounded half to even, with integer arithmetic only.
fn share(part: Decimal, total: Decimal) -> String {
    if total.is_zero() {
        return "0.0".into();
    }
    let scaled = |d: Decimal| d.mantissa() * 10i128.pow(8 - d.scale());
    let (p, t) = (scaled(part) * 1000, scaled(total));
    let (mut q, r) = (p / t, p % t);
    if 2 * r > t || (2 * r == t && q % 2 == 1) {
        q += 1;
    }
    format!("{}.{}", q / 10, q % 10)
}

pub fn config(chain_url: &str, chain_tz: &str, portal_url: &str, portal_tz: &str) -> String {
    format!(
        r#"
timezone = "Asia/Seoul"
store = "store.sqlite"

[sources.chain]
url = "{chain_url}"
timezone = "{chain_tz}"
pause = "0s"

[sources.portal]
url = "{portal_url}"
timezone = "{portal_tz}"
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

[rollups.rewards]
source = "portal"
table = "rewards"
time = "claimed_at"
user = "lower(wallet)"
filter = "currency = 'NCG'"
measures = {{ claims = "count(*)", amount = "sum(amount)" }}
keep = "3650d"

[segments.engagement]
rollup = "activity"
score = "actions"
by = "action"
window = "7d"
weights = {{ daily_reward7 = 0, hack_and_slash22 = 2 }}
groups = [ {{ name = "heavy", min_score = 3 }}, {{ name = "light", min_score = 0 }} ]

[reports.rewards_by_segment]
kind = "segment_rewards"
segment = "engagement"
rewards = "rewards"
amount = "amount"
days = 8
"#
    )
}

/// Batches of SQL `VALUES` tuples.
pub fn values<T>(rows: &[T], tuple: impl Fn(&T) -> String) -> Vec<String> {
    rows.chunks(500)
        .map(|c| c.iter().map(&tuple).collect::<Vec<_>>().join(", "))
        .collect()
}

pub fn naive(t: &DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz)
        .naive_local()
        .format("%Y-%m-%d %H:%M:%S")
        .to_string()
}

pub fn pg_actions(db: &PgDb, actions: &[Action]) {
    let mut sql = String::from(
        "CREATE TABLE actions (id bigserial PRIMARY KEY, signer text NOT NULL, type_id text NOT NULL, block_time timestamptz NOT NULL);
         CREATE INDEX ON actions (block_time);",
    );
    for batch in values(actions, |a| {
        format!("('{}', '{}', '{}')", a.signer, a.kind, a.at.to_rfc3339())
    }) {
        sql += &format!("INSERT INTO actions (signer, type_id, block_time) VALUES {batch};");
    }
    db.exec(&sql);
}

pub fn my_rewards(db: &MyDb, rewards: &[Reward]) {
    let mut sql = String::from(
        "CREATE TABLE rewards (id BIGINT AUTO_INCREMENT PRIMARY KEY, wallet VARCHAR(64) NOT NULL, currency VARCHAR(16) NOT NULL, amount DECIMAL(20,8) NOT NULL, claimed_at TIMESTAMP NOT NULL, INDEX (claimed_at));\nSET time_zone = '+00:00';\n",
    );
    for batch in values(rewards, |r| {
        format!(
            "('{}', '{}', {}, '{}')",
            r.wallet.to_uppercase().replace("0X", "0x"),
            r.currency,
            r.amount,
            naive(&r.at, Tz::UTC)
        )
    }) {
        sql += &format!(
            "INSERT INTO rewards (wallet, currency, amount, claimed_at) VALUES {batch};\n"
        );
    }
    // One connection runs all statements, so the session's UTC zone applies to the inserts.
    db.exec(&sql);
}

pub fn my_actions(db: &MyDb, actions: &[Action], tz: Tz) {
    let mut sql = String::from(
        "CREATE TABLE actions (id BIGINT AUTO_INCREMENT PRIMARY KEY, signer VARCHAR(64) NOT NULL, type_id VARCHAR(32) NOT NULL, block_time DATETIME NOT NULL, INDEX (block_time));\n",
    );
    for batch in values(actions, |a| {
        format!("('{}', '{}', '{}')", a.signer, a.kind, naive(&a.at, tz))
    }) {
        sql += &format!("INSERT INTO actions (signer, type_id, block_time) VALUES {batch};\n");
    }
    db.exec(&sql);
}

pub fn pg_rewards(db: &PgDb, rewards: &[Reward], tz: Tz) {
    let mut sql = String::from(
        "CREATE TABLE rewards (id bigserial PRIMARY KEY, wallet text NOT NULL, currency text NOT NULL, amount numeric(20,8) NOT NULL, claimed_at timestamp NOT NULL);
         CREATE INDEX ON rewards (claimed_at);",
    );
    for batch in values(rewards, |r| {
        format!(
            "('{}', '{}', {}, '{}')",
            r.wallet,
            r.currency,
            r.amount,
            naive(&r.at, tz)
        )
    }) {
        sql +=
            &format!("INSERT INTO rewards (wallet, currency, amount, claimed_at) VALUES {batch};");
    }
    db.exec(&sql);
}

pub fn report_lines(ws: &Workspace, date: &str) -> Vec<String> {
    ws.ok(&[
        "report",
        "rewards_by_segment",
        "--date",
        date,
        "--format",
        "csv",
    ])
    .lines()
    .map(String::from)
    .collect()
}

pub fn check(ws: &Workspace, actions: &[Action], rewards: &[Reward]) {
    let lines = report_lines(ws, "2026-11-15");
    assert_eq!(
        lines[0],
        "day,segment,users,active,actions,rewarded,rewards,share,provisional"
    );
    let want = expected(actions, rewards, "2026-11-15".parse().unwrap(), 8);
    assert_eq!(lines[1..], want[..]);
    // A rerun (everything final or re-pulled within the lookback) gives the same report.
    assert_eq!(report_lines(ws, "2026-11-15"), lines);
}

#[test]
fn postgres_actions_and_mariadb_rewards_match_a_plain_computation() {
    let (actions, rewards) = fixture();
    let pg = PgDb::new();
    let my = MyDb::new();
    pg_actions(&pg, &actions);
    my_rewards(&my, &rewards);
    let ws = Workspace::new(&config(&pg.url, "UTC", &my.url, "UTC"));
    check(&ws, &actions, &rewards);
}

#[test]
fn mariadb_actions_and_postgres_rewards_match_a_plain_computation() {
    let (actions, rewards) = fixture();
    let pg = PgDb::new();
    let my = MyDb::new();
    // Naive timestamps in two other zones: tally must convert slice bounds into each.
    my_actions(&my, &actions, chrono_tz::Europe::Berlin);
    pg_rewards(&pg, &rewards, chrono_tz::America::New_York);
    let ws = Workspace::new(&config(
        &my.url,
        "Europe/Berlin",
        &pg.url,
        "America/New_York",
    ));
    check(&ws, &actions, &rewards);
}
