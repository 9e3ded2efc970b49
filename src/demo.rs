//! `tally demo`: builds two SQLite databases shaped like the story (a chain database with an
//! actions table, a portal database with reward claims), a config and an env file, then syncs and
//! prints its reports: rewards by segment, who moved between groups, who took the most rewards,
//! what a candidate policy would have paid, where the scores fall, where the rewards go in the
//! players' lifecycle and how they spread over their claimers. No server, no secret.

use std::path::Path;

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rusqlite::{Connection, params};

use crate::config;
use crate::days::{day_start, days_before};
use crate::error::Error;
use crate::report::render;
use crate::run;
use crate::store::Store;

/// Days of data in the demo.
const DAYS: u32 = 30;
/// Users in the demo.
const USERS: usize = 2_000;
/// The demo's time zone.
const ZONE: Tz = chrono_tz::Asia::Seoul;

/// Action types and how often a typical action is of each type.
const ACTIONS: [(&str, u32); 15] = [
    ("hack_and_slash22", 30),
    ("hack_and_slash_sweep", 10),
    ("combination_equipment", 8),
    ("item_enhancement", 8),
    ("rapid_combination", 4),
    ("buy", 6),
    ("sell", 5),
    ("transfer_asset", 4),
    ("stake", 2),
    ("claim_stake_reward", 3),
    ("event_dungeon_battle", 6),
    ("raid", 5),
    ("grinding", 4),
    ("unlock_world", 2),
    ("noop", 3),
];

const CONFIG: &str = r#"# tally demo: two SQLite databases standing in for a PostgreSQL replica of
# on-chain actions and a MySQL portal database of rewards.
timezone = "Asia/Seoul"
store = ".tally/store.sqlite"

[sources.chain]
url = "${CHAIN_DATABASE_URL}"
timezone = "UTC"          # block_time is stored as naive UTC
pause = "0s"              # a local file needs no pause between slices

[sources.portal]
url = "${PORTAL_DATABASE_URL}"
pause = "0s"

[rollups.activity]
source = "chain"
table = "tx_actions"
time = "block_time"
user = "lower(signer)"
dimensions = { action = "type_id" }
measures = { actions = "count(*)" }
filter = "type_id <> 'noop'"
slice = "1d"
lookback = "2d"

[rollups.rewards]
source = "portal"
table = "reward_claims"
time = "claimed_at"
user = "lower(wallet)"
filter = "currency = 'NCG'"
measures = { claims = "count(*)", amount = "sum(amount)" }

[segments.engagement]
rollup = "activity"
score = "actions"
by = "action"
window = "7d"
weights = { daily_reward7 = 0, hack_and_slash22 = 2 }
default_weight = 1
groups = [ { name = "heavy", min_score = 15 }, { name = "light", min_score = 0 } ]
inactive = "inactive"

[reports.rewards_by_segment]
kind = "segment_rewards"
title = "NCG rewards by engagement segment"
segment = "engagement"
rewards = "rewards"
amount = "amount"
days = 8

[reports.segment_moves]
kind = "segment_flow"
title = "Who moved between engagement groups"
segment = "engagement"
compare = "7d"

[reports.top_earners]
kind = "top_rewarded"
title = "Who took the most NCG"
segment = "engagement"
rewards = "rewards"
amount = "amount"
days = 7
limit = 10

[reports.heavy_at_20]
kind = "policy_compare"
title = "What if heavy started at 20 and earned twice as much per claim"
segment = "engagement"
rewards = "rewards"
amount = "amount"
days = 8
candidate = { groups = [ { name = "heavy", min_score = 20 }, { name = "light", min_score = 0 } ], payout = { heavy = 2 } }

[reports.scores]
kind = "score_distribution"
title = "Where the engagement scores fall"
segment = "engagement"
days = 8

[reports.lifecycle]
kind = "lifecycle"
title = "Players by lifecycle, and the rewards they took"
segment = "engagement"
rewards = "rewards"
amount = "amount"
interval = "1d"
history = "14d"
days = 8

[reports.reward_spread]
kind = "reward_efficiency"
title = "How the rewards spread over their claimers"
segment = "engagement"
rewards = "rewards"
amount = "amount"
days = 8

[reports.top_actions]
title = "Top actions"
sql = "SELECT action, sum(actions) AS actions FROM activity WHERE day BETWEEN :start AND :end GROUP BY action ORDER BY actions DESC LIMIT 10"
days = 7

[reports.segment_sizes]
title = "Segment sizes"
sql = "SELECT day, segment, count(*) AS users, round(avg(score), 2) AS avg_score FROM engagement WHERE day BETWEEN :start AND :end GROUP BY day, segment ORDER BY day, segment"
days = 7

[output]
dir = "reports"

[[annotations]]
date = "ANNOTATION_DATE"
text = "Event dungeon opened"
"#;

const ENV: &str =
    "CHAIN_DATABASE_URL=sqlite://chain.sqlite\nPORTAL_DATABASE_URL=sqlite://portal.sqlite\n";

/// Creates the demo in `dir`, syncs it and prints its reports for its last day: rewards by
/// segment, who moved between groups and who took the most.
pub async fn run(dir: &Path, quiet: bool) -> Result<bool, Error> {
    let last = days_before(Utc::now().with_timezone(&ZONE).date_naive(), 1);
    create(dir, last)?;
    let config_path = dir.join("tally.toml");
    let config = config::load(&config_path, None)?;
    let mut store = Store::open(&config.store)?;
    let specs: Vec<&crate::report::ReportSpec> = config.reports.values().collect();
    let ranges = run::needed(&config, &specs, last)?;
    run::sync_ranges(&config, &mut store, &ranges, false, quiet).await?;
    // Every report is built, so that each command printed below works as it is printed.
    let reports = run::build_all(&config, &store, &specs, last)?;
    for name in [
        "rewards_by_segment",
        "segment_moves",
        "top_earners",
        "heavy_at_20",
        "scores",
        "lifecycle",
        "reward_spread",
    ] {
        let report = reports
            .iter()
            .find(|r| r.name == name)
            .expect("the demo has these reports");
        if name != "rewards_by_segment" {
            crate::stdout::line("").map_err(Error::stdout)?;
        }
        crate::stdout::write(render::render(report, render::Format::Table).as_bytes())
            .map_err(Error::stdout)?;
    }
    let charts = charts(&config.output_dir, &reports)?;
    crate::stdout::line(&format!(
        "\nThe demo is in {dir}; its charts are {charts}.\n\
         Next, a config for your own databases (it says what to fill in):\n  tally init my-tally\n\
         Or look around the demo:\n  tally -c {cfg} report\n  \
         tally -c {cfg} query \"SELECT * FROM engagement ORDER BY score DESC LIMIT 5\"",
        dir = dir.display(),
        charts = charts.join(", "),
        cfg = config_path.display()
    ))
    .map_err(Error::stdout)?;
    Ok(true)
}

/// Writes the PNG chart of each report that has one, as a `files` destination names it
/// (`<dir>/<report>/<day>.png`); returns their paths.
fn charts(dir: &Path, reports: &[crate::report::Report]) -> Result<Vec<String>, Error> {
    let mut written = Vec::new();
    let drawn = reports.iter().filter(|r| crate::report::chart::can_draw(r));
    for report in drawn {
        let png = crate::report::chart::png(report).map_err(crate::report::ReportError::Chart)?;
        let folder = dir.join(&report.name);
        std::fs::create_dir_all(&folder)
            .map_err(Error::io(format!("creating {}", folder.display())))?;
        let path = folder.join(format!("{}.png", report.last));
        std::fs::write(&path, png).map_err(Error::io(format!("writing {}", path.display())))?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

/// Writes the databases, `tally.toml` and `.env` into `dir`, replacing an earlier demo.
pub fn create(dir: &Path, last: NaiveDate) -> Result<(), Error> {
    std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    for stale in ["chain.sqlite", "portal.sqlite", ".tally/store.sqlite"] {
        for suffix in ["", "-wal", "-shm"] {
            let path = dir.join(format!("{stale}{suffix}"));
            if path.exists() {
                std::fs::remove_file(&path)
                    .map_err(Error::io(format!("removing {}", path.display())))?;
            }
        }
    }
    // The annotation marks a day that the demo's reports show.
    let config = CONFIG.replace("ANNOTATION_DATE", &days_before(last, 3).to_string());
    for (name, text) in [("tally.toml", config.as_str()), (".env", ENV)] {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(Error::io(format!("writing {}", path.display())))?;
    }
    let first = days_before(last, DAYS - 1);
    generate(dir, first, last).map_err(|e| Error::Io {
        context: format!("generating the demo databases in {}", dir.display()),
        source: std::io::Error::other(e),
    })
}

/// The demo's players: a wallet address in mixed case and how much they play; one in eight
/// grinds and makes most of the actions.
fn players(rng: &mut SmallRng) -> Vec<(String, f64)> {
    (0..USERS)
        .map(|i| {
            let mut address = String::from("0x");
            for _ in 0..40 {
                let c = b"0123456789abcdefABCDEF"[rng.random_range(0..22)] as char;
                address.push(c);
            }
            let level = if i % 8 == 0 {
                rng.random_range(12.0..40.0)
            } else {
                rng.random_range(0.5..6.0)
            };
            (address, level)
        })
        .collect()
}

/// A random instant of one day, as the demo's sources write times.
struct Day {
    start: DateTime<Utc>,
    seconds: i64,
}

impl Day {
    fn new(day: NaiveDate) -> Day {
        let start = day_start(ZONE, day);
        let seconds = (day_start(ZONE, day.succ_opt().expect("date")) - start).num_seconds();
        Day { start, seconds }
    }

    fn at(&self, rng: &mut SmallRng) -> String {
        let t = self.start + TimeDelta::seconds(rng.random_range(0..self.seconds));
        t.format("%Y-%m-%d %H:%M:%S").to_string()
    }
}

fn generate(dir: &Path, first: NaiveDate, last: NaiveDate) -> rusqlite::Result<()> {
    let mut rng = SmallRng::seed_from_u64(20_260_101);
    let users = players(&mut rng);
    let mut chain = Connection::open(dir.join("chain.sqlite"))?;
    let mut portal = Connection::open(dir.join("portal.sqlite"))?;
    chain.execute_batch(
        "CREATE TABLE tx_actions (id INTEGER PRIMARY KEY, signer TEXT NOT NULL, type_id TEXT NOT NULL, block_time TEXT NOT NULL);",
    )?;
    portal.execute_batch(
        "CREATE TABLE reward_claims (id INTEGER PRIMARY KEY, wallet TEXT NOT NULL, currency TEXT NOT NULL, amount TEXT NOT NULL, claimed_at TEXT NOT NULL);",
    )?;
    let tx_chain = chain.transaction()?;
    let tx_portal = portal.transaction()?;
    {
        let mut act = tx_chain
            .prepare("INSERT INTO tx_actions (signer, type_id, block_time) VALUES (?1, ?2, ?3)")?;
        let mut claim = tx_portal.prepare(
            "INSERT INTO reward_claims (wallet, currency, amount, claimed_at) VALUES (?1, ?2, ?3, ?4)",
        )?;
        for day in first.iter_days().take_while(|d| *d <= last) {
            let day = Day::new(day);
            for (i, (address, level)) in users.iter().enumerate() {
                // One player in forty claims rewards without playing.
                let inactive_claimer = i % 40 == 39;
                if !inactive_claimer && rng.random_bool((0.25 + level / 12.0).min(0.95)) {
                    play(&mut act, &mut rng, address, *level, &day)?;
                }
                let chance = if inactive_claimer {
                    0.3
                } else {
                    (0.04 + level / 100.0).min(0.5)
                };
                if rng.random_bool(chance) {
                    claim_reward(&mut claim, &mut rng, address, &day)?;
                }
            }
        }
    }
    tx_chain.commit()?;
    tx_portal.commit()?;
    chain.execute_batch("CREATE INDEX tx_actions_block_time ON tx_actions (block_time);")?;
    portal.execute_batch("CREATE INDEX reward_claims_claimed_at ON reward_claims (claimed_at);")?;
    Ok(())
}

/// A player's actions of one day: the daily check-in, then a number of actions that grows with
/// their level, of kinds drawn by weight.
fn play(
    act: &mut rusqlite::Statement<'_>,
    rng: &mut SmallRng,
    address: &str,
    level: f64,
    day: &Day,
) -> rusqlite::Result<()> {
    let total_weight: u32 = ACTIONS.iter().map(|a| a.1).sum();
    act.execute(params![address, "daily_reward7", day.at(rng)])?;
    let n = (level * rng.random_range(0.3..1.7)) as u32;
    for _ in 0..n {
        let mut pick = rng.random_range(0..total_weight);
        let kind = ACTIONS
            .iter()
            .find(|(_, w)| {
                let hit = pick < *w;
                pick = pick.saturating_sub(*w);
                hit
            })
            .map_or("noop", |a| a.0);
        act.execute(params![address, kind, day.at(rng)])?;
    }
    Ok(())
}

/// One reward claim: 1 to 500 of a currency, NCG nine times in ten, by the wallet in lower case.
fn claim_reward(
    claim: &mut rusqlite::Statement<'_>,
    rng: &mut SmallRng,
    address: &str,
    day: &Day,
) -> rusqlite::Result<()> {
    let cents: u32 = rng.random_range(100..50_000);
    let currency = if rng.random_bool(0.9) {
        "NCG"
    } else {
        "CRYSTAL"
    };
    let amount = format!("{}.{:02}", cents / 100, cents % 100);
    claim.execute(params![
        address.to_lowercase(),
        currency,
        amount,
        day.at(rng)
    ])?;
    Ok(())
}
