//! `kind = "webhook"`: a Slack incoming webhook, which takes the message only (no files), and
//! cannot be asked what it received.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Client;
use serde::Deserialize;
use serde_json::json;

use super::http::{self, PostError};
use super::message::{self, Message};
use super::{BoxFuture, DeliverError, Job, Target};
use crate::check::Checker;
use crate::report::Report;
use crate::secret::Secret;

/// `[[deliver]]` with `kind = "webhook"`, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Name in the delivery records (default: `webhook<N>`, N its index).
    pub name: Option<String>,
    /// Reports sent here (default: every report).
    #[serde(default)]
    pub reports: Vec<String>,
    /// The incoming-webhook URL (a secret).
    pub url: String,
    /// Rows shown in the message.
    #[serde(default = "super::default_max_rows")]
    pub max_rows: usize,
    /// Time limit of each request.
    #[serde(default = "super::default_timeout")]
    pub timeout: String,
}

impl WebhookConfig {
    /// Checks the entry (`key` is `deliver[N]`); returns its default name and the target.
    pub fn check(&self, c: &mut Checker, key: &str, index: usize) -> (String, Arc<dyn Target>) {
        // Only the commands that deliver need it (see `Checker::interpolate_for`).
        let url = c
            .interpolate_for(key, &format!("{key}.url"), &self.url)
            .unwrap_or_default();
        if !url.is_empty() {
            c.http_url(&format!("{key}.url"), &url);
        }
        let webhook = Webhook {
            url: Secret::new(url),
            max_rows: c.count(&format!("{key}.max_rows"), self.max_rows, 1, 99),
            timeout: super::timeout(c, key, &self.timeout),
        };
        (format!("webhook{index}"), Arc::new(webhook))
    }
}

/// A checked webhook destination.
#[derive(Debug)]
pub struct Webhook {
    url: Secret,
    max_rows: usize,
    timeout: Duration,
}

impl Webhook {
    /// Posts the message. A post whose answer was lost is a [`PostError::MaybePosted`].
    async fn send(&self, http: &Client, message: &Message) -> Result<(), PostError> {
        let body = body(message);
        let url = self.url.expose();
        let response = http::send_once("webhook", || {
            http.post(url).timeout(self.timeout).json(&body)
        })
        .await?;
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let text = response.text().await.unwrap_or_default();
        Err(PostError::NotPosted(format!(
            "webhook answered HTTP {status}: {}",
            text.chars().take(200).collect::<String>()
        )))
    }

    /// Posts at most once: an attempt whose answer was lost is never repeated by itself.
    async fn deliver(&self, job: &mut Job<'_>) -> Result<(), DeliverError> {
        if job.record.posting_since.is_some() {
            return Err(DeliverError::Doubt(
                "a previous post to this webhook may have arrived (it failed after it was sent, \
                 or tally stopped), and a webhook cannot be asked: look in the channel, and send \
                 it again with `tally deliver --force` if it is not there"
                    .into(),
            ));
        }
        job.record.posting_since = Some(chrono::Utc::now());
        job.save()?;
        let message = message::build(
            job.report,
            self.max_rows,
            message::Whole::CsvFile,
            job.revisions.as_ref(),
        );
        match self.send(job.http, &message).await {
            Ok(()) => {
                job.record.posting_since = None;
                Ok(())
            }
            Err(PostError::NotPosted(e)) => {
                job.record.posting_since = None;
                job.save()?;
                Err(DeliverError::Refused(e))
            }
            Err(PostError::MaybePosted(e)) => Err(DeliverError::Doubt(format!(
                "{e}: the message may have been posted, and a webhook cannot be asked, so tally \
                 does not post it again; look in the channel, and send it again with `tally \
                 deliver --force` if it is not there"
            ))),
        }
    }
}

impl Target for Webhook {
    fn kind(&self) -> &'static str {
        "webhook"
    }

    fn deliver<'a, 'b: 'a>(
        &'a self,
        job: &'a mut Job<'b>,
    ) -> BoxFuture<'a, Result<(), DeliverError>> {
        Box::pin(self.deliver(job))
    }

    fn preview(
        &self,
        report: &Report,
        _destination: &str,
        raw: bool,
    ) -> Result<String, DeliverError> {
        let message = message::build(report, self.max_rows, message::Whole::CsvFile, None);
        let mut out = message::readable(&message);
        if raw {
            let body = serde_json::to_string_pretty(&body(&message)).unwrap_or_default();
            out += &format!("\nPOST {body}\n");
        }
        Ok(out)
    }

    /// A webhook cannot be tried without posting: its URL was checked with the config.
    fn probe<'a>(&'a self, _http: &'a Client) -> BoxFuture<'a, Result<String, DeliverError>> {
        let host = url::Url::parse(self.url.expose())
            .ok()
            .and_then(|u| u.host_str().map(String::from))
            .unwrap_or_default();
        Box::pin(async move {
            Ok(format!(
                "webhook URL to {host} is well-formed (not called: a webhook cannot be tried \
                 without posting)"
            ))
        })
    }

    fn notify<'a>(
        &'a self,
        http: &'a Client,
        message: &'a Message,
    ) -> BoxFuture<'a, Result<(), DeliverError>> {
        Box::pin(async move {
            self.send(http, message)
                .await
                .map_err(|e| DeliverError::Refused(e.message().to_string()))
        })
    }
}

/// The JSON body a webhook gets for `message`.
fn body(message: &Message) -> serde_json::Value {
    json!({"text": message.text, "blocks": message.blocks})
}
