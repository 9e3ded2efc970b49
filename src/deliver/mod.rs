//! Delivery of rendered reports to each `[[deliver]]` destination. Each kind of destination is
//! one module that owns its config, its checks and its delivery behind the [`Target`] trait:
//! [`files`] on disk, [`slack`] through the Web API, a Slack incoming [`webhook`]. It sends what
//! it is handed ([`Parcel`]s: reports and fired alerts, each with its destinations). Each delivery
//! (destination, report, day) is recorded in the store once it succeeds, so reruns do not post
//! twice; a failing destination is reported and the others still run.

pub mod files;
pub mod http;
pub mod message;
pub mod slack;
pub mod webhook;

/// The HTTP client deliveries use (rustls with ring, a 60 s timeout): for heartbeats too.
pub use http::client as http_client;

use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use reqwest::Client;
use serde::Deserialize;

use crate::check::Checker;
use crate::report::revise::{self, Revisions};
use crate::report::{Report, chart};
use crate::store::{Delivery, Store, StoreError};

/// A future a [`Target`] returns.
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn Future<Output = T> + 'a>>;

/// Why a delivery failed.
#[derive(Debug, thiserror::Error)]
pub enum DeliverError {
    /// The service refused it, or could not be reached before anything was sent: nothing
    /// arrived, and the next run tries again.
    #[error("{0}")]
    Refused(String),
    /// It may have arrived (the answer was lost): tally does not send it again by itself.
    #[error("{0}")]
    Doubt(String),
    /// A file could not be written.
    #[error("{0}")]
    Write(String),
    /// The chart could not be drawn.
    #[error("{0}")]
    Chart(String),
    /// The delivery record could not be read or written.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A kind of destination: how it delivers a report, shows what it would send, probes the live
/// service without sending anything, and posts a run-failure notice.
pub trait Target: std::fmt::Debug + Send + Sync {
    /// `slack`, `webhook` or `files`, as `kind` says in the config.
    fn kind(&self) -> &'static str;

    /// Whether `[schedule] notify` may name it (it takes run-failure notices).
    fn takes_notices(&self) -> bool {
        true
    }

    /// Delivers `job.report`, recording progress in `job.record` (saved with [`Job::save`]) so
    /// that a delivery that stops half way resumes instead of sending twice.
    fn deliver<'a, 'b: 'a>(
        &'a self,
        job: &'a mut Job<'b>,
    ) -> BoxFuture<'a, Result<(), DeliverError>>;

    /// What it would send for `report`, as a person would read it, without contacting anyone;
    /// with `raw`, the request's payload too.
    fn preview(
        &self,
        report: &Report,
        destination: &str,
        raw: bool,
    ) -> Result<String, DeliverError>;

    /// Probes the destination without sending anything; what was found.
    fn probe<'a>(&'a self, http: &'a Client) -> BoxFuture<'a, Result<String, DeliverError>>;

    /// Posts a short message (a run-failure notice, a recovery note).
    fn notify<'a>(
        &'a self,
        http: &'a Client,
        message: &'a message::Message,
    ) -> BoxFuture<'a, Result<(), DeliverError>>;
}

/// One delivery of one report to one destination for one day.
pub struct Job<'a> {
    /// The HTTP client.
    pub http: &'a Client,
    /// The report.
    pub report: &'a Report,
    /// The report date.
    pub day: NaiveDate,
    /// The destination's name.
    pub destination: &'a str,
    /// What is done so far (from an earlier, interrupted run too).
    pub record: Delivery,
    /// Writes the record to the store.
    pub saver: &'a dyn Fn(&Delivery) -> Result<(), DeliverError>,
    /// What changed since earlier deliveries of the report here showed its days.
    pub revisions: Option<Revisions>,
    /// The store, for the records of what goes with the delivery (Slack's replies).
    pub store: &'a Store,
}

impl Job<'_> {
    /// Writes the record to the store.
    pub fn save(&self) -> Result<(), DeliverError> {
        (self.saver)(&self.record)
    }
}

/// `[[deliver]]` as written: one struct per kind, chosen by `kind`. Each struct refuses keys
/// that are not its own.
#[derive(Debug, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum DeliverConfig {
    /// Slack's Web API.
    Slack(slack::SlackConfig),
    /// A Slack incoming webhook.
    Webhook(webhook::WebhookConfig),
    /// Files on disk.
    Files(files::FilesConfig),
}

impl DeliverConfig {
    /// Checks entry `index`, collecting problems in `c`.
    pub fn check(&self, c: &mut Checker, index: usize, reports: &[&str]) -> Destination {
        let key = format!("deliver[{index}]");
        let ((default_name, target), name, wanted) = match self {
            DeliverConfig::Slack(d) => (d.check(c, &key, index), &d.name, &d.reports),
            DeliverConfig::Webhook(d) => (d.check(c, &key, index), &d.name, &d.reports),
            DeliverConfig::Files(d) => (d.check(c, &key, index), &d.name, &d.reports),
        };
        for r in wanted.iter().filter(|r| !reports.contains(&r.as_str())) {
            c.issue(format!("{key}.reports"), format!("unknown report `{r}`"));
        }
        Destination {
            name: name.clone().unwrap_or(default_name),
            reports: wanted.clone(),
            target,
        }
    }
}

/// A checked `[[deliver]]`.
#[derive(Debug, Clone)]
pub struct Destination {
    /// Name in the delivery records.
    pub name: String,
    /// Reports sent here; empty means all.
    pub reports: Vec<String>,
    /// How it delivers.
    pub target: Arc<dyn Target>,
}

impl Destination {
    /// `slack`, `webhook` or `files`.
    pub fn kind_name(&self) -> &'static str {
        self.target.kind()
    }

    /// The destination as the checks of other parts see it.
    pub fn recipient(&self) -> crate::check::Recipient<'_> {
        crate::check::Recipient {
            name: &self.name,
            kind: self.kind_name(),
            notices: self.target.takes_notices(),
        }
    }

    /// True when `report` goes to this destination.
    pub fn wants(&self, report: &str) -> bool {
        self.reports.is_empty() || self.reports.iter().any(|r| r == report)
    }
}

/// `max_rows`'s default.
fn default_max_rows() -> usize {
    40
}

/// `timeout`'s default.
fn default_timeout() -> String {
    "30s".into()
}

/// A request's time limit: 1 s to 5 min.
fn timeout(c: &mut Checker, key: &str, text: &str) -> Duration {
    c.duration_in(
        &format!("{key}.timeout"),
        text,
        Duration::from_secs(1),
        Duration::from_secs(300),
    )
}

/// What a delivery round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Deliveries sent now.
    pub sent: u32,
    /// Deliveries skipped because they were sent before.
    pub skipped: u32,
    /// What failed and why, one line each ("rewards to slack:C1: HTTP 500 ..."), as logged.
    pub failures: Vec<String>,
}

impl Delivered {
    /// True when nothing failed.
    pub fn ok(&self) -> bool {
        self.failures.is_empty()
    }

    /// A successful run's one line, for the heartbeat.
    pub fn summary(&self, day: NaiveDate) -> String {
        format!(
            "tally: the run for {day} worked: {} sent, {} already delivered",
            self.sent, self.skipped
        )
    }

    /// What failed, for the run history and the failure notice.
    pub fn failure_text(&self) -> String {
        format!("delivery failed: {}", self.failures.join("; "))
    }

    /// Records a failure and logs it.
    pub fn fail(&mut self, what: String) {
        tracing::error!("{what}");
        self.failures.push(what);
    }
}

/// The destinations `names` select: a destination's `name`, or a kind (`slack`, `webhook`,
/// `files`) for every destination of that kind; all of them without names.
pub fn select<'a>(
    destinations: &'a [Destination],
    names: &[String],
) -> Result<Vec<&'a Destination>, String> {
    if names.is_empty() {
        return Ok(destinations.iter().collect());
    }
    let mut chosen: Vec<&Destination> = Vec::new();
    for name in names {
        let found: Vec<&Destination> = destinations
            .iter()
            .filter(|d| d.name == *name || d.kind_name() == name)
            .collect();
        if found.is_empty() {
            let known: Vec<&str> = destinations.iter().map(|d| d.name.as_str()).collect();
            return Err(format!(
                "no destination named `{name}` (destinations: {}; or slack, webhook, files)",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    known.join(", ")
                }
            ));
        }
        for d in found {
            if !chosen.iter().any(|c| c.name == d.name) {
                chosen.push(d);
            }
        }
    }
    Ok(chosen)
}

/// A report (or a fired alert's rows) and the destinations it goes to.
#[derive(Debug)]
pub struct Parcel<'a> {
    /// What is sent.
    pub report: &'a Report,
    /// Where it goes.
    pub to: Vec<&'a Destination>,
}

/// Delivers each parcel to each of its destinations. A failing destination is logged with the
/// report, counted, and the others still run.
pub async fn deliver_all(
    store: &Store,
    parcels: &[Parcel<'_>],
    day: NaiveDate,
    force: bool,
) -> Delivered {
    let mut round = Round {
        client: http::client(),
        store,
        day,
        force,
        done: Delivered::default(),
    };
    for parcel in parcels {
        for dest in &parcel.to {
            round.send(dest, parcel.report).await;
        }
    }
    round.done
}

/// One round of deliveries for one report date, and what it did so far.
struct Round<'a> {
    client: Client,
    store: &'a Store,
    day: NaiveDate,
    /// Deliver again what was delivered before.
    force: bool,
    done: Delivered,
}

impl Round<'_> {
    /// Delivers one report to one destination, counting and logging the outcome.
    async fn send(&mut self, dest: &Destination, report: &Report) {
        let day = self.day;
        crate::service::status(&format!("delivering {} to {}", report.name, dest.name));
        crate::service::alive();
        let outcome = self.deliver_one(dest, report).await;
        if let Some(alert) = report.name.strip_prefix("alerts.") {
            if matches!(outcome, Ok(true)) {
                let name = alert.split(".resolved-").next().unwrap_or(alert);
                crate::metrics::alert_sent(name);
            }
        } else if outcome.is_ok() {
            crate::metrics::report_delivered(&report.name, day);
        }
        if !matches!(outcome, Ok(false)) {
            crate::metrics::delivered(&dest.name, outcome.is_ok());
        }
        match outcome {
            Ok(true) => {
                self.done.sent += 1;
                tracing::info!("delivered {} for {day} to {}", report.name, dest.name);
            }
            Ok(false) => {
                self.done.skipped += 1;
                tracing::info!(
                    "{} for {day} was already delivered to {} (use --force to send it again)",
                    report.name,
                    dest.name
                );
            }
            Err(e) => self
                .done
                .fail(format!("{} to {}: {e}", report.name, dest.name)),
        }
    }

    /// Delivers one report; `Ok(false)` when it had been delivered before.
    async fn deliver_one(&self, dest: &Destination, report: &Report) -> Result<bool, DeliverError> {
        let (store, day) = (self.store, self.day);
        let record = if self.force {
            Delivery::default()
        } else {
            store.delivery(&dest.name, &report.name, day)?
        };
        if record.done {
            return Ok(false);
        }
        let saver = |record: &Delivery| -> Result<(), DeliverError> {
            Ok(store.record_delivery(&dest.name, &report.name, day, record)?)
        };
        let mut job = Job {
            http: &self.client,
            report,
            day,
            destination: &dest.name,
            record,
            saver: &saver,
            revisions: revise::since(store, report, Some(&dest.name), day)?,
            store,
        };
        dest.target.deliver(&mut job).await?;
        // What it showed, before it counts as done: the next delivery compares with it.
        if let Some(rows) = revise::sent_rows(report) {
            store.record_sent(
                (&dest.name, &report.name, day),
                &report.columns,
                &report.definition,
                &rows,
            )?;
        }
        job.record.done = true;
        job.save()?;
        Ok(true)
    }
}

/// Posts a short text (a run-failure notice, a recovery note) to a destination that takes
/// notices. The text
/// is escaped for Slack: an error message may quote data.
pub async fn notify(dest: &Destination, text: &str) -> Result<(), DeliverError> {
    let client = http::client();
    let text = message::escape(text);
    let message = message::Message {
        text: text.clone(),
        blocks: vec![serde_json::json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": message::clip(&text, 3000)}
        })],
    };
    dest.target.notify(&client, &message).await
}

/// What each parcel's destinations would get, without contacting anyone or recording anything:
/// the Slack or webhook JSON payload, and the files by name and size.
pub fn preview(parcels: &[Parcel<'_>], raw: bool) -> Result<String, DeliverError> {
    let mut out = String::new();
    for parcel in parcels {
        for dest in &parcel.to {
            out += &format!(
                "== {} to {} ({})\n",
                parcel.report.name,
                dest.name,
                dest.kind_name()
            );
            out += &dest.target.preview(parcel.report, &dest.name, raw)?;
            out += "\n";
        }
    }
    Ok(out)
}

/// Probes a destination without sending anything: the Slack token, its scopes and the channel;
/// a webhook's URL; a folder's permissions. Returns what was found, or what is wrong and how to
/// fix it.
pub async fn probe(dest: &Destination) -> Result<String, DeliverError> {
    let client = http::client();
    dest.target.probe(&client).await
}

/// The report's chart, or `None` (with a note) for reports that have no chart.
fn chart_of(report: &Report) -> Result<Option<Vec<u8>>, DeliverError> {
    if !chart::can_draw(report) {
        tracing::info!(
            "{} has no chart (only segment_rewards and segment_flow reports do); no PNG",
            report.name
        );
        return Ok(None);
    }
    chart::png(report).map(Some).map_err(DeliverError::Chart)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    struct File {
        deliver: Vec<DeliverConfig>,
    }

    fn parse(entry: &str) -> Result<Vec<DeliverConfig>, String> {
        toml::from_str::<File>(&format!("[[deliver]]\n{entry}"))
            .map(|f| f.deliver)
            .map_err(|e| e.to_string())
    }

    /// Serde has had bugs with `deny_unknown_fields` inside internally tagged enums: each kind
    /// must still refuse a key of another kind, and say which key.
    #[test]
    fn each_kind_refuses_the_keys_of_the_others() {
        for (entry, stranger) in [
            (
                "kind = \"slack\"\ntoken = \"t\"\nchannel = \"C1\"\nurl = \"https://x\"",
                "url",
            ),
            (
                "kind = \"slack\"\ntoken = \"t\"\nchannel = \"C1\"\nformats = [\"csv\"]",
                "formats",
            ),
            (
                "kind = \"webhook\"\nurl = \"https://x\"\nchannel = \"C1\"",
                "channel",
            ),
            (
                "kind = \"webhook\"\nurl = \"https://x\"\nattach = [\"csv\"]",
                "attach",
            ),
            ("kind = \"files\"\ndir = \"out\"\ntoken = \"t\"", "token"),
            ("kind = \"files\"\ndir = \"out\"\nmax_rows = 3", "max_rows"),
        ] {
            let e = parse(entry).unwrap_err();
            assert!(
                e.contains(&format!("unknown field `{stranger}`")),
                "{entry}: {e}"
            );
        }
    }

    #[test]
    fn kinds_formats_and_attachments_are_checked_by_name() {
        assert!(
            parse("kind = \"email\"\nto = \"a@b\"")
                .unwrap_err()
                .contains("unknown variant `email`")
        );
        assert!(parse("token = \"t\"").unwrap_err().contains("kind"));
        let e = parse("kind = \"files\"\nformats = [\"csv\", \"pdf\"]").unwrap_err();
        assert!(e.contains("unknown variant `pdf`"), "{e}");
        let e = parse("kind = \"slack\"\ntoken = \"t\"\nchannel = \"C1\"\nattach = [\"md\"]")
            .unwrap_err();
        assert!(e.contains("unknown variant `md`"), "{e}");
        let e = parse("kind = \"slack\"\nchannel = \"C1\"").unwrap_err();
        assert!(e.contains("missing field `token`"), "{e}");
        for good in [
            "kind = \"slack\"\ntoken = \"t\"\nchannel = \"C1\"\nattach = [\"csv\"]\nmax_rows = 5",
            "kind = \"webhook\"\nurl = \"https://x\"\ntimeout = \"5s\"",
            "kind = \"files\"",
        ] {
            assert!(parse(good).is_ok(), "{good}");
        }
    }
}
