//! Delivery of rendered reports to each `[[deliver]]` destination: files on disk, Slack through
//! the Web API, or a Slack incoming webhook. Each delivery (destination, report, day) is recorded
//! in the store once it succeeds, so reruns do not post twice; a failing destination is reported
//! and the others still run.

pub mod files;
mod http;
pub mod message;
mod slack;
mod webhook;

use chrono::NaiveDate;

use crate::config::{Destination, DestinationKind, Plan};
use crate::report::render::{self, Format};
use crate::report::{Report, chart};
use crate::store::{Delivery, Store};

/// What a delivery round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Deliveries sent now.
    pub sent: u32,
    /// Deliveries skipped because they were sent before.
    pub skipped: u32,
    /// Deliveries that failed (each is logged).
    pub failed: u32,
}

impl Delivered {
    /// True when nothing failed.
    pub fn ok(&self) -> bool {
        self.failed == 0
    }
}

/// Delivers every report to every destination that wants it. A failing destination is logged
/// with the report, counted, and the others still run.
pub async fn deliver_all(
    plan: &Plan,
    store: &Store,
    reports: &[Report],
    day: NaiveDate,
    force: bool,
) -> Delivered {
    let mut done = Delivered::default();
    if let Err(e) = chart::use_font(plan.chart_font.as_deref()) {
        tracing::error!("{e}");
        done.failed += 1;
        return done;
    }
    let client = http::client();
    for dest in &plan.destinations {
        for report in reports.iter().filter(|r| dest.wants(&r.name)) {
            match deliver_one(&client, store, dest, report, day, force).await {
                Ok(true) => {
                    done.sent += 1;
                    tracing::info!("delivered {} for {day} to {}", report.name, dest.name);
                }
                Ok(false) => {
                    done.skipped += 1;
                    tracing::info!(
                        "{} for {day} was already delivered to {} (use --force to send it again)",
                        report.name,
                        dest.name
                    );
                }
                Err(e) => {
                    done.failed += 1;
                    tracing::error!(
                        "delivering {} to {}: {}",
                        report.name,
                        dest.name,
                        plan.redact(&e)
                    );
                }
            }
        }
    }
    done
}

/// Posts a short text (an alert, a recovery note) to a Slack or webhook destination.
pub async fn notify(dest: &Destination, text: &str) -> Result<(), String> {
    let client = http::client();
    let message = message::Message {
        text: text.to_string(),
        blocks: vec![serde_json::json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": text.chars().take(3000).collect::<String>()}
        })],
    };
    match &dest.kind {
        DestinationKind::Slack {
            token,
            channel,
            api_url,
            ..
        } => slack::Slack::new(&client, api_url, token, channel)
            .post(&message)
            .await
            .map(|_| ()),
        DestinationKind::Webhook { url, .. } => webhook::send(&client, url, &message).await,
        DestinationKind::Files { .. } => Err(format!("{} cannot receive alerts", dest.name)),
    }
}

/// Delivers one report; `Ok(false)` when it had been delivered before.
async fn deliver_one(
    client: &reqwest::Client,
    store: &Store,
    dest: &Destination,
    report: &Report,
    day: NaiveDate,
    force: bool,
) -> Result<bool, String> {
    let mut record = if force {
        Delivery::default()
    } else {
        store
            .delivery(&dest.name, &report.name, day)
            .map_err(|e| e.to_string())?
    };
    if record.done {
        return Ok(false);
    }
    let save = |record: &Delivery| {
        store
            .record_delivery(&dest.name, &report.name, day, record)
            .map_err(|e| e.to_string())
    };
    match &dest.kind {
        DestinationKind::Files { dir, formats } => {
            let text: Vec<Format> = formats.iter().filter_map(|f| format_of(f)).collect();
            files::write(dir, report, &text).map_err(|e| e.to_string())?;
            if formats.iter().any(|f| f == "png")
                && let Some(png) = chart_of(report)?
            {
                files::write_bytes(dir, report, "png", &png).map_err(|e| e.to_string())?;
            }
        }
        DestinationKind::Webhook { url, max_rows } => {
            webhook::send(client, url, &message::build(report, *max_rows, false)).await?;
        }
        DestinationKind::Slack {
            token,
            channel,
            api_url,
            attach,
            max_rows,
        } => {
            let slack = slack::Slack::new(client, api_url, token, channel);
            let csv = attach.iter().any(|a| a == "csv");
            // The message's ts is recorded before any file goes up: after a crash the next run
            // uploads into the same thread instead of posting the message again.
            let ts = match record.message_ts.clone() {
                Some(ts) => ts,
                None => {
                    let ts = slack.post(&message::build(report, *max_rows, csv)).await?;
                    record.message_ts = Some(ts.clone());
                    save(&record)?;
                    ts
                }
            };
            let mut uploads = Vec::new();
            if csv {
                uploads.push(("csv", render::render(report, Format::Csv).into_bytes()));
            }
            if attach.iter().any(|a| a == "png")
                && let Some(png) = chart_of(report)?
            {
                uploads.push(("png", png));
            }
            for (extension, bytes) in uploads {
                let name = format!("{}-{}.{extension}", report.name, report.last);
                slack.upload(&name, bytes, &ts).await?;
            }
        }
    }
    record.done = true;
    save(&record)?;
    Ok(true)
}

/// The report's chart, or `None` (with a note) for reports that have no chart.
fn chart_of(report: &Report) -> Result<Option<Vec<u8>>, String> {
    if !chart::can_draw(report) {
        tracing::info!(
            "{} has no chart (only segment_rewards reports do); no PNG",
            report.name
        );
        return Ok(None);
    }
    chart::png(report).map(Some)
}

fn format_of(name: &str) -> Option<Format> {
    match name {
        "csv" => Some(Format::Csv),
        "md" => Some(Format::Markdown),
        "json" => Some(Format::Json),
        _ => None,
    }
}
