//! `kind = "slack"`: Slack's Web API with a bot token. A message with the report's table, then
//! the CSV and the chart in its thread ([`api`]), posted at most once per destination, report
//! and day ([`post`]).

mod api;
mod post;

use std::sync::Arc;
use std::time::Duration;

use reqwest::Client;
use serde::Deserialize;
use serde_json::json;

use super::message::{self, Message};
use super::{BoxFuture, DeliverError, Job, Target, chart_of};
use crate::check::Checker;
use crate::report::render::{self, Format};
use crate::report::revise::Revisions;
use crate::report::{Body, Report};
use crate::secret::Secret;
use api::Api;

/// A file posted in the message's thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Attachment {
    /// The whole report as CSV.
    Csv,
    /// The chart (segment_rewards and segment_flow reports only).
    Png,
}

/// A file for the thread: its key in the delivery record, its name, its bytes.
type Upload = (&'static str, String, Vec<u8>);

/// `[[deliver]]` with `kind = "slack"`, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// Name in the delivery records (default: `slack:<channel>`).
    pub name: Option<String>,
    /// Reports sent here (default: every report).
    #[serde(default)]
    pub reports: Vec<String>,
    /// The bot token (`xoxb-...`), a secret.
    pub token: String,
    /// The channel ID.
    pub channel: String,
    /// Files posted in the message's thread.
    #[serde(default = "default_attach")]
    pub attach: Vec<Attachment>,
    /// Base URL of the Web API.
    #[serde(default = "default_api_url")]
    pub api_url: String,
    /// Rows shown in the message.
    #[serde(default = "super::default_max_rows")]
    pub max_rows: usize,
    /// Time limit of each request.
    #[serde(default = "super::default_timeout")]
    pub timeout: String,
}

fn default_attach() -> Vec<Attachment> {
    vec![Attachment::Csv, Attachment::Png]
}

fn default_api_url() -> String {
    "https://slack.com/api".into()
}

impl SlackConfig {
    /// Checks the entry (`key` is `deliver[N]`); returns its default name and the target.
    pub fn check(&self, c: &mut Checker, key: &str, _index: usize) -> (String, Arc<dyn Target>) {
        // Only the commands that deliver need these (see `Checker::interpolate_for`).
        let token = c.interpolate_for(key, &format!("{key}.token"), &self.token);
        let channel = c
            .interpolate_for(key, &format!("{key}.channel"), &self.channel)
            .unwrap_or_else(|| self.channel.clone());
        c.http_url(&format!("{key}.api_url"), &self.api_url);
        let slack = Slack {
            token: Secret::new(token.unwrap_or_default()),
            channel: channel.clone(),
            api_url: self.api_url.trim_end_matches('/').to_string(),
            attach: self.attach.clone(),
            max_rows: c.count(&format!("{key}.max_rows"), self.max_rows, 1, 99),
            timeout: super::timeout(c, key, &self.timeout),
        };
        (format!("slack:{channel}"), Arc::new(slack))
    }
}

/// A checked Slack destination.
#[derive(Debug)]
pub struct Slack {
    token: Secret,
    channel: String,
    api_url: String,
    attach: Vec<Attachment>,
    max_rows: usize,
    timeout: Duration,
}

impl Slack {
    fn api<'a>(&'a self, http: &'a Client) -> Api<'a> {
        Api::new(
            http,
            &self.api_url,
            self.token.expose(),
            &self.channel,
            self.timeout,
        )
    }

    /// The files that go into the thread: a key in the delivery record, the file's name, its
    /// bytes.
    fn uploads(
        &self,
        report: &Report,
        revisions: Option<&Revisions>,
    ) -> Result<Vec<Upload>, DeliverError> {
        let name = |extension: &str| format!("{}-{}.{extension}", report.name, report.last);
        let mut uploads = Vec::new();
        if matches!(report.body, Body::Resolved { .. }) {
            return Ok(uploads); // a reply in a thread: its few keys are in the message
        }
        for a in &self.attach {
            match a {
                Attachment::Csv => {
                    let csv = render::render(report, Format::Csv).into_bytes();
                    uploads.push(("csv", name("csv"), csv));
                }
                Attachment::Png => {
                    if let Some(png) = chart_of(report)? {
                        uploads.push(("png", name("png"), png));
                    }
                }
            }
        }
        if let Some(revisions) = revisions {
            let csv = render::render(&revisions.as_report(report), Format::Csv).into_bytes();
            let file = format!("{}-{}-revisions.csv", report.name, report.last);
            uploads.push(("revisions", file, csv));
        }
        Ok(uploads)
    }

    /// The message, then each file that is not up yet, then the replies in the threads of the
    /// earlier messages whose numbers were revised.
    async fn deliver(&self, job: &mut Job<'_>) -> Result<(), DeliverError> {
        let api = self.api(job.http);
        let csv = if self.attach.contains(&Attachment::Csv) {
            message::Whole::AttachedCsv
        } else {
            message::Whole::CsvFile
        };
        // The message's ts is recorded before any file goes up: after a crash the next run
        // uploads into the same thread instead of posting the message again.
        let ts = match job.record.message_ts.clone() {
            Some(ts) => ts,
            None => {
                let message =
                    message::build(job.report, self.max_rows, csv, job.revisions.as_ref());
                // A "Resolved" message answers the alert message that sent its rows.
                let thread = match &job.report.body {
                    Body::Resolved { alert, since, .. } => {
                        job.store
                            .delivery(job.destination, alert, *since)?
                            .message_ts
                    }
                    _ => None,
                };
                let post = post::Post {
                    api: &api,
                    destination: job.destination,
                    report: &job.report.name,
                    day: job.day,
                    thread: thread.as_deref(),
                };
                post.once(&message, &mut job.record, job.saver).await?
            }
        };
        // Each file is recorded once it is up: a run after a failed upload sends only what is
        // missing.
        for (key, name, bytes) in self.uploads(job.report, job.revisions.as_ref())? {
            if job.record.uploaded.iter().any(|u| u == key) {
                continue;
            }
            api.upload(&name, bytes, &ts)
                .await
                .map_err(DeliverError::Refused)?;
            job.record.uploaded.push(key.to_string());
            job.save()?;
        }
        if let Some(revisions) = &job.revisions {
            self.reply_revised(&api, job, revisions).await?;
        }
        Ok(())
    }

    /// One reply in the thread of each earlier message that showed numbers now revised, posted
    /// once: each reply has its own delivery record (report `<report>#revised-<date>`, day of
    /// the earlier message), so a rerun or a crash never posts it twice.
    async fn reply_revised(
        &self,
        api: &Api<'_>,
        job: &Job<'_>,
        revisions: &Revisions,
    ) -> Result<(), DeliverError> {
        let mut earlier: Vec<chrono::NaiveDate> = revisions.cells.iter().map(|c| c.since).collect();
        earlier.sort();
        earlier.dedup();
        let key = format!("{}#revised-{}", job.report.name, job.day);
        for since in earlier {
            let store = job.store;
            let Some(thread) = store
                .delivery(job.destination, &job.report.name, since)?
                .message_ts
            else {
                continue; // that message was never posted here
            };
            let mut record = store.delivery(job.destination, &key, since)?;
            if record.done {
                continue;
            }
            let cells: Vec<_> = revisions
                .cells
                .iter()
                .filter(|c| c.since == since)
                .cloned()
                .collect();
            let reply = message::revised_reply(job.report, revisions, &cells);
            let saver = |r: &crate::store::Delivery| -> Result<(), DeliverError> {
                Ok(store.record_delivery(job.destination, &key, since, r)?)
            };
            let post = post::Post {
                api,
                destination: job.destination,
                report: &key,
                day: since,
                thread: Some(&thread),
            };
            post.once(&reply, &mut record, &saver).await?;
            record.done = true;
            saver(&record)?;
        }
        Ok(())
    }
}

impl Target for Slack {
    fn kind(&self) -> &'static str {
        "slack"
    }

    fn deliver<'a, 'b: 'a>(
        &'a self,
        job: &'a mut Job<'b>,
    ) -> BoxFuture<'a, Result<(), DeliverError>> {
        Box::pin(self.deliver(job))
    }

    /// The `chat.postMessage` body and the files, by name and size.
    fn preview(
        &self,
        report: &Report,
        destination: &str,
        raw: bool,
    ) -> Result<String, DeliverError> {
        let csv = if self.attach.contains(&Attachment::Csv) {
            message::Whole::AttachedCsv
        } else {
            message::Whole::CsvFile
        };
        let message = message::build(report, self.max_rows, csv, None);
        let mut out = format!(
            "to channel {}\n\n{}",
            self.channel,
            message::readable(&message)
        );
        for (_, name, bytes) in self.uploads(report, None)? {
            out += &format!("\n  └ in the thread: {name} ({} bytes)", bytes.len());
        }
        out.push('\n');
        if raw {
            let metadata = post::metadata(
                &report.name,
                report.last,
                destination,
                json!("(the time of the post)"),
            );
            let body = api::post_body(&self.channel, &message, Some(&metadata));
            out += &format!(
                "\nchat.postMessage {}\n",
                serde_json::to_string_pretty(&body).unwrap_or_default()
            );
        }
        Ok(out)
    }

    fn probe<'a>(&'a self, http: &'a Client) -> BoxFuture<'a, Result<String, DeliverError>> {
        Box::pin(async move {
            self.api(http)
                .probe(!self.attach.is_empty())
                .await
                .map_err(DeliverError::Refused)
        })
    }

    fn notify<'a>(
        &'a self,
        http: &'a Client,
        message: &'a Message,
    ) -> BoxFuture<'a, Result<(), DeliverError>> {
        Box::pin(async move {
            self.api(http)
                .post(message)
                .await
                .map(|_| ())
                .map_err(|e| DeliverError::Refused(e.message().to_string()))
        })
    }
}
