//! The built-in `segment_flow` report: who moved between groups. For each report day `D`, each
//! user's group `compare` days before is set against their group on `D`: one row per (from, to)
//! pair, a full square in the segment's group order, then `inactive` (no group that day).

use chrono::NaiveDate;

use super::Inputs;
use crate::days::days_before;
use crate::segment::{self, Scored};
use crate::store::{Store, StoreError};
use crate::value::{Value, share};

/// Column names, in order.
pub const COLUMNS: [&str; 5] = ["day", "from", "to", "users", "share"];

/// One cell of a day's square.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    /// The report day.
    pub day: NaiveDate,
    /// The day it is compared with: `compare` days before.
    pub since: NaiveDate,
    /// The group `compare` days before.
    pub from: String,
    /// The group on the day.
    pub to: String,
    /// Users who went from `from` to `to`.
    pub users: i64,
    /// `users` as a share of the `from` group, in percent (0 when it is empty).
    pub share: bigdecimal::BigDecimal,
}

/// One report day's square, read back from a report's flows: the day compared with, the names in
/// the report's order, and the cells.
pub struct Square<'a> {
    /// The day the groups are compared with.
    pub since: NaiveDate,
    /// The group names, rows and columns alike.
    pub names: Vec<&'a str>,
    cells: Vec<&'a Flow>,
}

impl<'a> Square<'a> {
    /// The square of `day` among `flows`.
    pub fn of(flows: &'a [Flow], day: NaiveDate) -> Square<'a> {
        let cells: Vec<&Flow> = flows.iter().filter(|f| f.day == day).collect();
        let mut names: Vec<&str> = Vec::new();
        for f in &cells {
            if !names.contains(&f.from.as_str()) {
                names.push(&f.from);
            }
        }
        Square {
            since: cells.first().map_or(day, |f| f.since),
            names,
            cells,
        }
    }

    /// The cell from `from` to `to`.
    pub fn cell(&self, from: &str, to: &str) -> Option<&'a Flow> {
        self.cells
            .iter()
            .copied()
            .find(|f| f.from == from && f.to == to)
    }
}

/// Builds the report's rows (of [`COLUMNS`]) for the days `first..=last`.
pub fn build(
    inputs: Inputs<'_>,
    store: &Store,
    segment: &str,
    compare_days: u32,
    (first, last): (NaiveDate, NaiveDate),
) -> Result<(Vec<Vec<Value>>, Vec<Flow>), StoreError> {
    let seg = &inputs.segments[segment];
    let rollup = &inputs.rollups[&seg.rollup];
    let report_days: Vec<NaiveDate> = first.iter_days().take_while(|d| *d <= last).collect();
    let groups = seg.groups.len();
    // counts[report day][from][to], with index `groups` for inactive.
    let mut counts = vec![vec![vec![0i64; groups + 1]; groups + 1]; report_days.len()];
    // Each pass reads a few report days and the days they are compared with, together.
    for (chunk, counts) in report_days
        .chunks(segment::PASS_DAYS / 2)
        .zip(counts.chunks_mut(segment::PASS_DAYS / 2))
    {
        let mut days: Vec<NaiveDate> = chunk
            .iter()
            .flat_map(|d| [days_before(*d, compare_days), *d])
            .collect();
        days.sort();
        days.dedup();
        let pairs: Vec<(usize, usize)> = chunk
            .iter()
            .map(|d| {
                let index = |x: NaiveDate| days.binary_search(&x).expect("collected above");
                (index(days_before(*d, compare_days)), index(*d))
            })
            .collect();
        segment::merge(store, seg, rollup, (&days, Scored::Every), &[], |user| {
            let group = |i: usize| user.members[i].as_ref().and_then(|m| m.group);
            for (counts, &(before, on)) in counts.iter_mut().zip(&pairs) {
                let (from, to) = (group(before), group(on));
                if from.is_some() || to.is_some() {
                    counts[from.unwrap_or(groups)][to.unwrap_or(groups)] += 1;
                }
            }
            Ok(())
        })?;
    }
    let names = seg.names();
    let mut rows = Vec::new();
    let mut flows = Vec::new();
    for (r, day) in report_days.iter().enumerate() {
        for (f, from) in names.iter().enumerate() {
            let total: i64 = counts[r][f].iter().sum();
            for (t, to) in names.iter().enumerate() {
                let users = counts[r][f][t];
                let share = share(&users.into(), &total.into());
                rows.push(vec![
                    Value::Text(day.to_string()),
                    Value::Text(from.to_string()),
                    Value::Text(to.to_string()),
                    Value::Int(users),
                    Value::Dec(share.clone()),
                ]);
                flows.push(Flow {
                    day: *day,
                    since: days_before(*day, compare_days),
                    from: from.to_string(),
                    to: to.to_string(),
                    users,
                    share,
                });
            }
        }
    }
    Ok((rows, flows))
}
