//! Slices: half-open `[start, end)` time ranges that never cross a local midnight, so each
//! belongs to exactly one day of the configured zone.

use chrono::{DateTime, Days, NaiveDate, TimeDelta, Utc};
use chrono_tz::Tz;

use crate::days::day_start;

/// One slice of one day.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    /// The local day it belongs to.
    pub day: NaiveDate,
    /// Inclusive start.
    pub start: DateTime<Utc>,
    /// Exclusive end.
    pub end: DateTime<Utc>,
}

/// The slices of `day`: consecutive `hours`-long ranges from the day's start, the last one cut
/// at the next day's start. A 23-hour DST day has 23 hourly slices, a 25-hour day 25.
pub fn day_slices(tz: Tz, day: NaiveDate, hours: u32) -> Vec<Slice> {
    let start = day_start(tz, day);
    let end = day_start(
        tz,
        day.checked_add_days(Days::new(1)).expect("date in range"),
    );
    let step = TimeDelta::hours(hours.into());
    let mut slices = Vec::new();
    let mut at = start;
    while at < end {
        let next = (at + step).min(end);
        slices.push(Slice {
            day,
            start: at,
            end: next,
        });
        at = next;
    }
    slices
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn days_start_at_local_midnight() {
        let s = day_slices(chrono_tz::Asia::Seoul, d("2026-11-28"), 24);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].start.to_rfc3339(), "2026-11-27T15:00:00+00:00");
        assert_eq!(s[0].end.to_rfc3339(), "2026-11-28T15:00:00+00:00");
    }

    #[test]
    fn hourly_slices_follow_dst_in_new_york() {
        let ny = chrono_tz::America::New_York;
        let spring = day_slices(ny, d("2026-03-08"), 1);
        assert_eq!(spring.len(), 23);
        let fall = day_slices(ny, d("2026-11-01"), 1);
        assert_eq!(fall.len(), 25);
        for s in spring.iter().chain(&fall) {
            assert_eq!(s.end - s.start, TimeDelta::hours(1));
        }
        assert_eq!(fall[0].start.to_rfc3339(), "2026-11-01T04:00:00+00:00");
        assert_eq!(fall[24].end.to_rfc3339(), "2026-11-02T05:00:00+00:00");
        let six = day_slices(ny, d("2026-11-01"), 6);
        assert_eq!(six.len(), 5);
        assert_eq!(six[4].end - six[4].start, TimeDelta::hours(1));
    }

    #[test]
    fn consecutive_days_tile_time_without_gaps() {
        let ny = chrono_tz::America::New_York;
        let mut prev_end = None;
        for day in d("2026-03-01").iter_days().take(300) {
            for s in day_slices(ny, day, 6) {
                if let Some(p) = prev_end {
                    assert_eq!(p, s.start);
                }
                prev_end = Some(s.end);
            }
        }
    }

    #[test]
    fn a_missing_midnight_starts_the_day_after_the_gap() {
        // Chile springs forward at local midnight.
        let start = day_start(chrono_tz::America::Santiago, d("2026-09-06"));
        assert_eq!(start.to_rfc3339(), "2026-09-06T04:00:00+00:00");
    }
}
