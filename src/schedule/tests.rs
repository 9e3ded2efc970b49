//! The daemon's loop, driven by a clock the test controls: no sleeping.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;

use super::*;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

#[derive(Clone)]
struct FakeClock {
    now: Rc<Cell<DateTime<Utc>>>,
    sleeps: Rc<RefCell<Vec<DateTime<Utc>>>>,
}

impl Clock for FakeClock {
    fn now(&self) -> DateTime<Utc> {
        self.now.get()
    }

    async fn sleep_until(&self, t: DateTime<Utc>) {
        self.sleeps.borrow_mut().push(t);
        if t > self.now.get() {
            self.now.set(t);
        }
    }
}

struct FakeRunner {
    clock: FakeClock,
    results: VecDeque<Result<(), String>>,
    calls: Rc<RefCell<Vec<(NaiveDate, Trigger)>>>,
    last_success: Option<DateTime<Utc>>,
}

impl Runner for FakeRunner {
    async fn run(&mut self, date: NaiveDate, trigger: Trigger) -> Result<(), String> {
        self.calls.borrow_mut().push((date, trigger));
        let result = self.results.pop_front().unwrap_or(Ok(()));
        if result.is_ok() {
            self.last_success = Some(self.clock.now());
        }
        result
    }

    fn last_success(&mut self) -> Option<DateTime<Utc>> {
        self.last_success
    }
}

#[derive(Default)]
struct FakeNotices {
    texts: Rc<RefCell<Vec<String>>>,
}

impl Notices for FakeNotices {
    async fn failed(&mut self, text: &str) {
        self.texts.borrow_mut().push(text.to_string());
    }

    async fn recovered(&mut self, text: &str) {
        self.texts.borrow_mut().push(text.to_string());
    }
}

type Calls = Rc<RefCell<Vec<(NaiveDate, Trigger)>>>;

struct Setup {
    daemon: Daemon<FakeClock, FakeRunner, FakeNotices>,
    clock: FakeClock,
    calls: Calls,
    notices: Rc<RefCell<Vec<String>>>,
}

fn setup(
    now: &str,
    last_success: Option<&str>,
    results: Vec<Result<(), String>>,
    retries: u32,
) -> Setup {
    let clock = FakeClock {
        now: Rc::new(Cell::new(at(now))),
        sleeps: Rc::default(),
    };
    let calls: Calls = Rc::default();
    let runner = FakeRunner {
        clock: clock.clone(),
        results: results.into(),
        calls: calls.clone(),
        last_success: last_success.map(at),
    };
    let notices = FakeNotices::default();
    let sent = notices.texts.clone();
    let schedule = Schedule::new("0 9 * * *", Tz::UTC).unwrap();
    let daemon = Daemon::new(
        schedule,
        (retries, Duration::from_secs(600)),
        clock.clone(),
        runner,
        notices,
        false,
    );
    Setup {
        daemon,
        clock,
        calls,
        notices: sent,
    }
}

fn day(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

#[test]
fn next_times_across_both_dst_changes_in_new_york() {
    let ny = chrono_tz::America::New_York;
    let nine = Schedule::new("0 9 * * *", ny).unwrap();
    assert_eq!(
        nine.next_after(at("2026-03-07T15:00:00Z")),
        Some(at("2026-03-08T13:00:00Z"))
    );
    assert_eq!(
        nine.next_after(at("2026-10-31T14:00:00Z")),
        Some(at("2026-11-01T14:00:00Z"))
    );
    // 02:30 does not exist on 2026-03-08: it runs once, right after the gap.
    let spring = Schedule::new("30 2 * * *", ny).unwrap();
    let first = spring.next_after(at("2026-03-07T12:00:00Z")).unwrap();
    assert_eq!(first, at("2026-03-08T07:00:00Z"));
    assert_eq!(spring.next_after(first), Some(at("2026-03-09T06:30:00Z")));
    // 01:30 happens twice on 2026-11-01: it runs once, at the first.
    let fall = Schedule::new("30 1 * * *", ny).unwrap();
    let first = fall.next_after(at("2026-10-31T12:00:00Z")).unwrap();
    assert_eq!(first, at("2026-11-01T05:30:00Z"));
    assert_eq!(fall.next_after(first), Some(at("2026-11-02T06:30:00Z")));
    // An optional seconds field.
    let seconds = Schedule::new("15 0 9 * * *", Tz::UTC).unwrap();
    assert_eq!(
        seconds.next_after(at("2026-11-01T00:00:00Z")),
        Some(at("2026-11-01T09:00:15Z"))
    );
    assert!(Schedule::new("61 * * * *", Tz::UTC).is_err());
    assert_eq!(
        nine.report_date(at("2026-11-01T14:00:00Z")),
        day("2026-10-31")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn catch_up_after_a_long_gap_runs_once() {
    let mut s = setup(
        "2026-11-10T12:00:00Z",
        Some("2026-11-01T09:00:05Z"),
        vec![],
        2,
    );
    assert_eq!(s.daemon.tick().await, Tick::Ran);
    assert_eq!(s.daemon.tick().await, Tick::Slept);
    assert_eq!(s.clock.now(), at("2026-11-11T09:00:00Z"));
    assert_eq!(s.daemon.tick().await, Tick::Ran);
    assert_eq!(
        *s.calls.borrow(),
        [
            (day("2026-11-09"), Trigger::CatchUp),
            (day("2026-11-10"), Trigger::Schedule)
        ]
    );
}

/// A daemon restarted a minute after a scheduled time it missed (killed, a deploy) runs it as a
/// catch-up, not as if it had been there.
#[tokio::test(flavor = "current_thread")]
async fn a_time_missed_just_before_the_start_is_a_catch_up() {
    let mut s = setup(
        "2026-11-10T09:01:00Z",
        Some("2026-11-09T09:00:05Z"),
        vec![],
        2,
    );
    assert_eq!(s.daemon.tick().await, Tick::Ran);
    assert_eq!(s.daemon.tick().await, Tick::Slept);
    assert_eq!(s.daemon.tick().await, Tick::Ran);
    assert_eq!(
        *s.calls.borrow(),
        [
            (day("2026-11-09"), Trigger::CatchUp),
            (day("2026-11-10"), Trigger::Schedule)
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_run_that_already_succeeded_is_not_repeated() {
    let mut s = setup(
        "2026-11-10T12:00:00Z",
        Some("2026-11-10T09:00:30Z"),
        vec![],
        2,
    );
    assert_eq!(s.daemon.tick().await, Tick::Slept);
    assert!(s.calls.borrow().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_run_is_retried_then_succeeds() {
    let mut s = setup(
        "2026-11-10T09:00:00Z",
        Some("2026-11-09T09:00:01Z"),
        vec![Err("boom".into())],
        2,
    );
    assert_eq!(s.daemon.tick().await, Tick::Ran);
    assert_eq!(
        *s.calls.borrow(),
        [
            (day("2026-11-09"), Trigger::Schedule),
            (day("2026-11-09"), Trigger::Retry)
        ]
    );
    assert_eq!(*s.clock.sleeps.borrow(), [at("2026-11-10T09:10:00Z")]);
    assert!(s.notices.borrow().is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn one_notice_per_failure_streak_and_a_recovery_note() {
    let fail = || Err::<(), String>("source `chain`: connecting: refused".into());
    let results = vec![fail(), fail(), fail(), fail(), Ok(())];
    let mut s = setup(
        "2026-11-10T09:00:00Z",
        Some("2026-11-09T09:00:01Z"),
        results,
        1,
    );
    assert_eq!(s.daemon.tick().await, Tick::Ran); // 2 attempts fail: a notice
    assert_eq!(s.daemon.tick().await, Tick::Slept); // the failed time is not run again
    assert_eq!(s.daemon.tick().await, Tick::Ran); // 2 attempts fail: no new notice
    assert_eq!(s.daemon.tick().await, Tick::Slept);
    assert_eq!(s.daemon.tick().await, Tick::Ran); // works: recovery note
    assert_eq!(s.calls.borrow().len(), 5);
    let notices = s.notices.borrow();
    assert_eq!(notices.len(), 2, "{notices:?}");
    assert!(notices[0].contains("failed after 2 attempt(s)") && notices[0].contains("refused"));
    assert!(
        notices[0].contains("Next run: 2026-11-11 09:00 UTC, for 2026-11-10.")
            && notices[0].contains("tally run --date 2026-11-09"),
        "{}",
        notices[0]
    );
    assert!(notices[1].contains("recovered") && notices[1].contains("2026-11-11"));
}
