//! The built-in `segment_rewards` report: per day and per group, how many users, how active, how
//! many were rewarded and their share of the day's rewards. All sums are exact decimals.

use foldhash::{HashMap, HashMapExt};

use bigdecimal::{BigDecimal, Zero};
use chrono::NaiveDate;

use crate::config::{Config, Rollup, days_before};
use crate::exact::Exact;
use crate::segment;
use crate::store::{Store, StoreError};
use crate::value::{Value, parse_decimal, plain, share};

/// Column names, in order.
pub const COLUMNS: [&str; 8] = [
    "day", "segment", "users", "active", "actions", "rewarded", "rewards", "share",
];

/// Inputs of the report, resolved from the config.
pub struct Spec<'a> {
    /// The segment's config.
    pub segment: &'a crate::config::Segment,
    /// The rollup the segment scores.
    pub activity: &'a Rollup,
    /// The rewards rollup.
    pub rewards: &'a Rollup,
    /// The measure of `rewards` summed.
    pub amount: &'a str,
}

impl<'a> Spec<'a> {
    /// Resolves names (already checked by the config) to their definitions.
    pub fn new(config: &'a Config, segment: &str, rewards: &str, amount: &'a str) -> Spec<'a> {
        let segment = &config.segments[segment];
        Spec {
            segment,
            activity: &config.rollups[&segment.rollup],
            rewards: &config.rollups[rewards],
            amount,
        }
    }
}

/// Per-user sums of one measure of a rollup on one day (over all dimension values).
fn per_user(
    store: &Store,
    rollup: &Rollup,
    measure: &str,
    day: NaiveDate,
    scale: &mut i64,
) -> Result<HashMap<String, BigDecimal>, StoreError> {
    let ctx = || format!("reading `{}` for {day}", rollup.name);
    let fail = |e: rusqlite::Error| store.err(ctx(), e);
    let mut sums: HashMap<String, BigDecimal> = HashMap::new();
    let text = day.to_string();
    store.each_row_of_day(&rollup.name, &text, &[Some(measure)], &ctx, |row| {
        let user = row.get_ref(0).map_err(fail)?;
        let user = user.as_str().map_err(|e| fail(e.into()))?;
        let cell = Value::from_sqlite(row.get_ref(1).map_err(fail)?, true);
        let value = match cell {
            Value::Null => return Ok(()),
            other => other.to_decimal().ok_or_else(|| {
                StoreError::Data(format!(
                    "rollup `{}`, {day}: measure `{measure}` of user `{user}` is `{other}`, not a number",
                    rollup.name
                ))
            })?,
        };
        *scale = (*scale).max(value.fractional_digit_count());
        match sums.get_mut(user) {
            Some(sum) => *sum += value,
            None => {
                sums.insert(user.to_string(), value);
            }
        }
        Ok(())
    })?;
    Ok(sums)
}

/// A built report: its columns, its rows, and each line's share.
pub type Built = (Vec<String>, Vec<Vec<Value>>, Vec<Share>);

/// What the chart and the Slack summary read of one line: a group's rewards and share on a day.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    /// The day.
    pub day: NaiveDate,
    /// The group.
    pub group: String,
    /// The group's rewards that day.
    pub rewards: BigDecimal,
    /// Its share of the day's rewards, in percent, rounded half-even to one decimal.
    pub share: BigDecimal,
}

/// One output row before money is given its final scale.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    day: NaiveDate,
    group: String,
    users: i64,
    active: i64,
    actions: BigDecimal,
    rewarded: i64,
    rewards: BigDecimal,
    total: BigDecimal,
}

/// Builds the report for the days `first..=last`. The lines of a day whose inputs are unchanged
/// since a previous run (the segment, the rollups, the digests of the window's and the day's
/// slices) are read from the store; only the other days are scored.
pub fn build(
    store: &Store,
    spec: &Spec,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Built, StoreError> {
    let days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    let key = spec.cache_key();
    let mut by_day: Vec<Option<(Vec<Line>, i64)>> = Vec::with_capacity(days.len());
    let mut versions = Vec::with_capacity(days.len());
    for day in &days {
        let version = spec.version(store, *day)?;
        let cached = store
            .report_day(&key, &day.to_string(), &version)?
            .and_then(|text| decode(*day, &text));
        by_day.push(cached);
        versions.push(version);
    }
    let todo: Vec<NaiveDate> = days
        .iter()
        .zip(&by_day)
        .filter(|(_, cached)| cached.is_none())
        .map(|(d, _)| *d)
        .collect();
    // Scored in memory: the `<segment>` table is written only for SQL reports that use it.
    segment::assign(store, spec.segment, spec.activity, &todo, |scored| {
        let i = days
            .iter()
            .position(|d| *d == scored.day)
            .expect("a report day");
        let mut scale = 0;
        let mut lines = Vec::new();
        day_lines(store, spec, scored, &mut scale, &mut lines)?;
        store.keep_report_day(
            &key,
            &days[i].to_string(),
            &versions[i],
            &encode(&lines, scale),
        )?;
        by_day[i] = Some((lines, scale));
        Ok(())
    })?;
    let amount_scale = by_day.iter().flatten().map(|(_, s)| *s).max().unwrap_or(0);
    let lines: Vec<Line> = by_day
        .into_iter()
        .flatten()
        .flat_map(|(lines, _)| lines)
        .collect();
    let shares = lines
        .iter()
        .map(|l| Share {
            day: l.day,
            group: l.group.clone(),
            rewards: l.rewards.clone(),
            share: share(&l.rewards, &l.total),
        })
        .collect();
    let rows = lines
        .into_iter()
        .map(|l| l.into_row(amount_scale))
        .collect();
    Ok((
        COLUMNS.iter().map(|c| c.to_string()).collect(),
        rows,
        shares,
    ))
}

impl Spec<'_> {
    /// The cache's name for this report's lines: reports with the same inputs share them.
    fn cache_key(&self) -> String {
        format!(
            "segment_rewards:{}:{}:{}",
            self.segment.name, self.rewards.name, self.amount
        )
    }

    /// Everything the lines of `day` are computed from.
    fn version(&self, store: &Store, day: NaiveDate) -> Result<String, StoreError> {
        let window_start = days_before(day, self.segment.window_days - 1).to_string();
        let d = day.to_string();
        let mut weights: Vec<String> = self
            .segment
            .weights
            .iter()
            .map(|(k, w)| format!("{k}={w}"))
            .collect();
        weights.sort();
        let groups: Vec<String> = self
            .segment
            .groups
            .iter()
            .map(|g| format!("{}>={}", g.name, g.min_score))
            .collect();
        Ok(format!(
            "{FORMAT};segment=by:{:?},score:{},window:{},weights:{},default:{},groups:{},inactive:{};\
             activity={}@{};rewards={}:{}@{}",
            self.segment.by,
            self.segment.score,
            self.segment.window_days,
            weights.join(","),
            self.segment.default_weight,
            groups.join(","),
            self.segment.inactive,
            self.activity.fingerprint(),
            store.slices_version(&self.activity.name, &window_start, &d)?,
            self.rewards.fingerprint(),
            self.amount,
            store.slices_version(&self.rewards.name, &d, &d)?,
        ))
    }
}

/// The layout of cached lines; a change of layout (or of how lines are computed) changes it.
const FORMAT: &str = "lines2";

/// A day's lines as JSON: the scale of its reward amounts and, per line, the group and its
/// counts and sums (decimals as text, exact).
fn encode(lines: &[Line], scale: i64) -> String {
    let lines: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| {
            serde_json::json!([
                l.group,
                l.users,
                l.active,
                plain(&l.actions),
                l.rewarded,
                plain(&l.rewards),
                plain(&l.total)
            ])
        })
        .collect();
    serde_json::json!({ "scale": scale, "lines": lines }).to_string()
}

/// Reads lines written by [`encode`]; `None` when they are not such lines.
fn decode(day: NaiveDate, text: &str) -> Option<(Vec<Line>, i64)> {
    let value: serde_json::Value = serde_json::from_str(text).ok()?;
    let scale = value["scale"].as_i64()?;
    let dec = |v: &serde_json::Value| parse_decimal(v.as_str()?);
    let lines = value["lines"]
        .as_array()?
        .iter()
        .map(|l| {
            Some(Line {
                day,
                group: l[0].as_str()?.to_string(),
                users: l[1].as_i64()?,
                active: l[2].as_i64()?,
                actions: dec(&l[3])?,
                rewarded: l[4].as_i64()?,
                rewards: dec(&l[5])?,
                total: dec(&l[6])?,
            })
        })
        .collect::<Option<Vec<Line>>>()?;
    Some((lines, scale))
}

/// The report's lines of one day: one per group, then the inactive group.
fn day_lines(
    store: &Store,
    spec: &Spec,
    scored: segment::Scored,
    amount_scale: &mut i64,
    lines: &mut Vec<Line>,
) -> Result<(), StoreError> {
    let segment::Scored {
        day,
        members,
        activity: actions,
    } = scored;
    let rewards = per_user(store, spec.rewards, spec.amount, day, amount_scale)?;
    let total: BigDecimal = rewards.values().sum();
    for (g, group) in spec.segment.groups.iter().enumerate() {
        let users: Vec<&str> = members
            .iter()
            .filter(|(_, m)| m.group == Some(g))
            .map(|(u, _)| &**u)
            .collect();
        lines.push(Line {
            day,
            group: group.name.clone(),
            users: users.len() as i64,
            active: users.iter().filter(|u| actions.contains_key(**u)).count() as i64,
            actions: users
                .iter()
                .filter_map(|u| actions.get(*u))
                .fold(Exact::default(), |sum, t| sum.add(&t.unweighted))
                .to_big(),
            rewarded: users.iter().filter(|u| rewards.contains_key(**u)).count() as i64,
            rewards: users.iter().filter_map(|u| rewards.get(*u)).sum(),
            total: total.clone(),
        });
    }
    let inactive: Vec<&BigDecimal> = rewards
        .iter()
        .filter(|(u, _)| !members.contains_key(u.as_str()))
        .map(|(_, v)| v)
        .collect();
    lines.push(Line {
        day,
        group: spec.segment.inactive.clone(),
        users: inactive.len() as i64,
        active: 0,
        actions: BigDecimal::zero(),
        rewarded: inactive.len() as i64,
        rewards: inactive.into_iter().sum(),
        total,
    });
    Ok(())
}

impl Line {
    fn into_row(self, scale: i64) -> Vec<Value> {
        // Every day's amounts at the report's largest scale (never lower: nothing is cut).
        let rewards = self
            .rewards
            .with_scale(scale.max(self.rewards.fractional_digit_count()));
        vec![
            Value::Text(self.day.to_string()),
            Value::Text(self.group),
            Value::Int(self.users),
            Value::Int(self.active),
            Value::from_decimal(self.actions.normalized()),
            Value::Int(self.rewarded),
            Value::Dec(rewards),
            Value::Dec(share(&self.rewards, &self.total)),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cached_lines_read_back_exactly() {
        let d = |s| parse_decimal(s).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 3).unwrap();
        let lines = vec![Line {
            day,
            group: "he\"avy".into(),
            users: 3,
            active: 2,
            actions: d("12.50"),
            rewarded: 1,
            rewards: d("0.10000000"),
            total: d("123456789012345678901234567890123456789012345678901234567890.12345678"),
        }];
        let text = encode(&lines, 8);
        assert_eq!(decode(day, &text), Some((lines, 8)));
        assert_eq!(decode(day, "{}"), None);
        assert_eq!(decode(day, "not json"), None);
    }
}
