//! Which segment and rewards `tally user` reads, and whether the store knows the user at all
//! (with the lower-cased form when only that one is known).

use chrono::NaiveDate;
use indexmap::IndexMap;

use super::{Explained, RewardsOf, explain};
use crate::report::{Inputs, ReportKind, ReportSpec};
use crate::rollup::Agg;
use crate::segment::Segment;
use crate::store::{Store, StoreError};

/// Why a user cannot be explained.
#[derive(Debug, thiserror::Error)]
pub enum Unexplained {
    /// The segment asked for does not exist, or there is none: a usage error.
    #[error("{0}")]
    Segment(String),
    /// The store does not hold the user.
    #[error("{0}")]
    User(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What to explain: the user, the segment by name (the first one when `None`), the last day and
/// the number of days.
pub struct Question<'a> {
    /// The user id, as the rollup's `user` expression stores it.
    pub id: &'a str,
    /// The segment's name.
    pub segment: Option<&'a str>,
    /// The last day.
    pub last: NaiveDate,
    /// How many days up to `last`.
    pub days: u32,
}

/// Explains the user of `q` from `store`.
pub fn find(
    inputs: Inputs<'_>,
    reports: &IndexMap<String, ReportSpec>,
    store: &Store,
    q: &Question<'_>,
) -> Result<Explained, Unexplained> {
    let segment = segment(inputs, q.segment)?;
    let activity = &inputs.rollups[&segment.rollup];
    let rewards = rewards_of(inputs, reports, &segment.name);
    let holds = |rollup: &str, id: &str| -> Result<bool, StoreError> {
        Ok(store.has_table(rollup)? && store.has_user(rollup, id)?)
    };
    let known = holds(&activity.name, q.id)?
        || match &rewards {
            Some(r) => holds(&r.rollup.name, q.id)?,
            None => false,
        };
    if !known {
        let lower = q.id.to_lowercase();
        let hint = if lower != q.id && holds(&activity.name, &lower)? {
            format!(
                "; `{lower}` is: ids are matched as the rollup's user expression stores them \
                 (`{}`)",
                activity.user
            )
        } else {
            String::new()
        };
        return Err(Unexplained::User(format!(
            "user: `{}` is not in the store (rollup `{}`{}){hint}",
            q.id,
            activity.name,
            rewards
                .as_ref()
                .map_or(String::new(), |r| format!(" or `{}`", r.rollup.name)),
        )));
    }
    Ok(explain(
        store,
        (segment, activity),
        rewards,
        q.id,
        (q.last, q.days),
    )?)
}

/// The segment named, or the first one.
pub fn segment<'a>(inputs: Inputs<'a>, name: Option<&str>) -> Result<&'a Segment, Unexplained> {
    match name {
        Some(name) => inputs.segments.get(name).ok_or_else(|| {
            let known: Vec<&str> = inputs.segments.keys().map(String::as_str).collect();
            Unexplained::Segment(format!(
                "user --segment: no segment named `{name}` (segments: {})",
                known.join(", ")
            ))
        }),
        None => inputs
            .segments
            .values()
            .next()
            .ok_or_else(|| Unexplained::Segment("user: the config has no segment".into())),
    }
}

/// The rewards a report of the segment reads: its rollup, its amount and its claims.
fn rewards_of<'a>(
    inputs: Inputs<'a>,
    reports: &'a IndexMap<String, ReportSpec>,
    segment: &str,
) -> Option<RewardsOf<'a>> {
    reports.values().find_map(|r| {
        let (s, rewards, amount) = match &r.kind {
            ReportKind::SegmentRewards {
                segment,
                rewards,
                amount,
            }
            | ReportKind::TopRewarded {
                segment,
                rewards,
                amount,
                ..
            }
            | ReportKind::PolicyCompare {
                segment,
                rewards,
                amount,
                ..
            }
            | ReportKind::RewardEfficiency {
                segment,
                rewards,
                amount,
            } => (segment, rewards, amount),
            ReportKind::Lifecycle {
                segment,
                rewards: Some((rewards, amount)),
                ..
            } => (segment, rewards, amount),
            _ => return None,
        };
        let rollup = inputs.rollups.get(rewards).filter(|_| s == segment)?;
        let claims = rollup
            .measures
            .iter()
            .find(|m| m.agg == Agg::Count && m.arg == "*")
            .map(|m| m.name.as_str());
        Some(RewardsOf {
            rollup,
            amount,
            claims,
        })
    })
}
