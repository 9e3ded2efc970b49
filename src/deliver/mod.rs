//! Delivery of rendered reports to each `[[deliver]]` destination: files on disk, Slack through
//! the Web API, or a Slack incoming webhook. Each delivery (destination, report, day) is recorded
//! in the store once it succeeds, so reruns do not post twice; a failing destination is reported
//! and the others still run.

pub mod files;
mod http;
pub mod message;
mod slack;
mod webhook;

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use serde_json::{Value as Json, json};

use crate::config::{Destination, DestinationKind, Plan};
use crate::report::render::{self, Format};
use crate::report::{Report, chart};
use crate::store::{Delivery, Store};
use http::Failed;

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

/// The destinations `names` select: a destination's `name`, or a kind (`slack`, `webhook`,
/// `files`) for every destination of that kind; all of them without names.
pub fn select<'a>(plan: &'a Plan, names: &[String]) -> Result<Vec<&'a Destination>, String> {
    if names.is_empty() {
        return Ok(plan.destinations.iter().collect());
    }
    let mut chosen: Vec<&Destination> = Vec::new();
    for name in names {
        let found: Vec<&Destination> = plan
            .destinations
            .iter()
            .filter(|d| d.name == *name || d.kind_name() == name)
            .collect();
        if found.is_empty() {
            let known: Vec<&str> = plan.destinations.iter().map(|d| d.name.as_str()).collect();
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

/// Delivers every report to every selected destination that wants it. A failing destination
/// is logged with the report, counted, and the others still run.
pub async fn deliver_all(
    plan: &Plan,
    store: &Store,
    reports: &[Report],
    day: NaiveDate,
    force: bool,
    destinations: &[&Destination],
) -> Delivered {
    let mut done = Delivered::default();
    if let Err(e) = chart::use_font(plan.chart_font.as_deref()) {
        tracing::error!("{e}");
        done.failed += 1;
        return done;
    }
    let client = http::client();
    for dest in destinations.iter().copied() {
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
            timeout,
            ..
        } => slack::Slack::new(&client, api_url, token, channel, *timeout)
            .post(&message)
            .await
            .map(|_| ())
            .map_err(|e| e.message().to_string()),
        DestinationKind::Webhook { url, timeout, .. } => {
            webhook::send(&client, url, &message, *timeout)
                .await
                .map_err(|e| e.message().to_string())
        }
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
        DestinationKind::Webhook {
            url,
            max_rows,
            timeout,
        } => {
            if record.posting_since.is_some() {
                return Err(
                    "a previous post to this webhook may have arrived (it failed after it was sent, \
                     or tally stopped), and a webhook cannot be asked: look in the channel, and \
                     send it again with `tally deliver --force` if it is not there"
                        .to_string(),
                );
            }
            record.posting_since = Some(Utc::now());
            save(&record)?;
            let message = message::build(report, *max_rows, false);
            match webhook::send(client, url, &message, *timeout).await {
                Ok(()) => record.posting_since = None,
                Err(Failed::Certain(e)) => {
                    record.posting_since = None;
                    save(&record)?;
                    return Err(e);
                }
                Err(Failed::Doubt(e)) => {
                    return Err(format!(
                        "{e}: the message may have been posted, and a webhook cannot be asked, so \
                         tally does not post it again; look in the channel, and send it again with \
                         `tally deliver --force` if it is not there"
                    ));
                }
            }
        }
        DestinationKind::Slack {
            token,
            channel,
            api_url,
            attach,
            max_rows,
            timeout,
        } => {
            let slack = slack::Slack::new(client, api_url, token, channel, *timeout);
            let csv = attach.iter().any(|a| a == "csv");
            // The message's ts is recorded before any file goes up: after a crash the next run
            // uploads into the same thread instead of posting the message again.
            let ts = match record.message_ts.clone() {
                Some(ts) => ts,
                None => {
                    let message = message::build(report, *max_rows, csv);
                    let post = Post {
                        slack: &slack,
                        destination: &dest.name,
                        report: &report.name,
                        day,
                    };
                    post.once(&message, &mut record, &save).await?
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
            // Each file is recorded once it is up: a run after a failed upload sends only what
            // is missing.
            for (extension, bytes) in uploads {
                if record.uploaded.iter().any(|u| u == extension) {
                    continue;
                }
                let name = format!("{}-{}.{extension}", report.name, report.last);
                slack.upload(&name, bytes, &ts).await?;
                record.uploaded.push(extension.to_string());
                save(&record)?;
            }
        }
    }
    record.done = true;
    save(&record)?;
    Ok(true)
}

/// The metadata that tells tally's message for one attempt apart from every other.
fn metadata(report: &str, day: NaiveDate, destination: &str, attempt: Json) -> Json {
    json!({
        "report": report,
        "date": day.to_string(),
        "destination": destination,
        "attempt": attempt,
    })
}

/// Posts of one report for one day to one Slack channel.
struct Post<'a> {
    slack: &'a slack::Slack<'a>,
    destination: &'a str,
    report: &'a str,
    day: NaiveDate,
}

/// Posts after which a lost answer is settled by looking (the first included).
const POSTS: u32 = 3;

/// How long tally keeps looking for a post whose answer was lost: Slack may finish a slow post
/// after tally gave up waiting for its answer.
const SETTLE: [Duration; 2] = [Duration::from_secs(1), Duration::from_secs(2)];

impl Post<'_> {
    /// The metadata of the attempt made at `attempt`.
    fn payload(&self, attempt: chrono::DateTime<Utc>) -> Json {
        metadata(
            self.report,
            self.day,
            self.destination,
            json!(crate::store::pulled_instant(attempt)),
        )
    }

    /// The message's `ts`: found in the channel when an earlier attempt may have posted it,
    /// posted otherwise, and never posted twice: after an answer that was lost, tally looks for
    /// the message before it posts again. The attempt is recorded before each post, so a crash
    /// right after posting is settled the same way by the next run.
    async fn once(
        &self,
        message: &message::Message,
        record: &mut Delivery,
        save: &impl Fn(&Delivery) -> Result<(), String>,
    ) -> Result<String, String> {
        if let Some(since) = record.posting_since {
            let found = self
                .slack
                .find(&self.payload(since), since)
                .await
                .map_err(|e| {
                    self.lookup_failed("an earlier attempt (tally stopped after it)", e)
                })?;
            if let Some(ts) = found {
                tracing::info!(
                    "{} for {}: found the message an earlier attempt posted; not posting again",
                    self.report,
                    self.day
                );
                return self.posted(ts, record, save);
            }
        }
        for attempt in 1..=POSTS {
            let since = Utc::now();
            record.posting_since = Some(since);
            save(record)?;
            let payload = self.payload(since);
            let doubt = match self.slack.post_with(message, Some(&payload)).await {
                Ok(ts) => return self.posted(ts, record, save),
                Err(Failed::Certain(e)) => {
                    record.posting_since = None;
                    save(record)?;
                    return Err(e);
                }
                Err(Failed::Doubt(e)) => e,
            };
            tracing::warn!(
                "{doubt}: the message may have been posted; looking for it in the channel"
            );
            let mut found = None;
            for wait in SETTLE {
                tokio::time::sleep(wait).await;
                found = self
                    .slack
                    .find(&payload, since)
                    .await
                    .map_err(|e| self.lookup_failed(&doubt, e))?;
                if found.is_some() {
                    break;
                }
            }
            match found {
                Some(ts) => return self.posted(ts, record, save),
                None if attempt < POSTS => {
                    tracing::warn!("{doubt}: the message is not in the channel; posting it again");
                    record.posting_since = None;
                    save(record)?;
                }
                None => return Err(format!("{doubt}; the message is not in the channel")),
            }
        }
        unreachable!("the last attempt returns")
    }

    fn posted(
        &self,
        ts: String,
        record: &mut Delivery,
        save: &impl Fn(&Delivery) -> Result<(), String>,
    ) -> Result<String, String> {
        record.message_ts = Some(ts.clone());
        record.posting_since = None;
        save(record)?;
        Ok(ts)
    }

    /// Why tally stops when it cannot look for a message that may have been posted.
    fn lookup_failed(&self, what: &str, e: slack::Lookup) -> String {
        match e {
            slack::Lookup::NoScope(needed) => format!(
                "{what}: the message may have been posted, and without the `{needed}` scope \
                 (channels:history, or groups:history for a private channel) tally cannot look \
                 for it, so it does not post again; look in the channel, add the scope so that \
                 tally can check next time, and send it again with `tally deliver --force` if it \
                 is not there"
            ),
            slack::Lookup::Failed(m) => format!(
                "{what}: the message may have been posted, and looking for it failed ({m}), so \
                 tally does not post again now; the next run looks again"
            ),
        }
    }
}

/// What each selected destination would get for `reports`, without contacting anyone or
/// recording anything: the Slack or webhook JSON payload, and the files by name and size.
pub fn preview(
    plan: &Plan,
    reports: &[Report],
    destinations: &[&Destination],
) -> Result<String, String> {
    chart::use_font(plan.chart_font.as_deref())?;
    let mut out = String::new();
    for dest in destinations.iter().copied() {
        for report in reports.iter().filter(|r| dest.wants(&r.name)) {
            out += &format!(
                "== {} to {} ({})\n",
                report.name,
                dest.name,
                dest.kind_name()
            );
            let files = |names: &[(&str, Vec<u8>)]| {
                names
                    .iter()
                    .map(|(name, bytes)| format!("file {name} ({} bytes)\n", bytes.len()))
                    .collect::<String>()
            };
            match &dest.kind {
                DestinationKind::Slack {
                    channel,
                    attach,
                    max_rows,
                    ..
                } => {
                    let csv = attach.iter().any(|a| a == "csv");
                    let message = message::build(report, *max_rows, csv);
                    let attempt = json!("(the time of the post)");
                    let metadata = metadata(&report.name, report.last, &dest.name, attempt);
                    let payload = slack::post_body(channel, &message, Some(&metadata));
                    out += "chat.postMessage ";
                    out += &serde_json::to_string_pretty(&payload).unwrap_or_default();
                    out += "\n";
                    let mut uploads = Vec::new();
                    if csv {
                        uploads.push((
                            format!("{}-{}.csv", report.name, report.last),
                            render::render(report, Format::Csv).into_bytes(),
                        ));
                    }
                    if attach.iter().any(|a| a == "png")
                        && let Some(png) = chart_of(report)?
                    {
                        uploads.push((format!("{}-{}.png", report.name, report.last), png));
                    }
                    let named: Vec<(&str, Vec<u8>)> = uploads
                        .iter()
                        .map(|(n, b)| (n.as_str(), b.clone()))
                        .collect();
                    out += &files(&named);
                }
                DestinationKind::Webhook { max_rows, .. } => {
                    let message = message::build(report, *max_rows, false);
                    let payload = webhook::body(&message);
                    out += "POST ";
                    out += &serde_json::to_string_pretty(&payload).unwrap_or_default();
                    out += "\n";
                }
                DestinationKind::Files { dir, formats } => {
                    for f in formats {
                        let bytes = match format_of(f) {
                            Some(text) => render::render(report, text).into_bytes(),
                            None => match chart_of(report)? {
                                Some(png) => png,
                                None => continue,
                            },
                        };
                        let path = dir.join(&report.name).join(format!("{}.{f}", report.last));
                        out += &format!("file {} ({} bytes)\n", path.display(), bytes.len());
                    }
                }
            }
            out += "\n";
        }
    }
    Ok(out)
}

/// Checks a destination without sending anything: the Slack token, its scopes and the channel;
/// a webhook's URL; a folder's permissions. Returns what was found, or what is wrong and how to
/// fix it.
pub async fn check(dest: &Destination) -> Result<String, String> {
    match &dest.kind {
        DestinationKind::Slack {
            token,
            channel,
            api_url,
            attach,
            timeout,
            ..
        } => {
            let client = http::client();
            let slack = slack::Slack::new(&client, api_url, token, channel, *timeout);
            slack.check(!attach.is_empty()).await
        }
        DestinationKind::Webhook { url, .. } => {
            let host = url::Url::parse(url)
                .ok()
                .and_then(|u| u.host_str().map(String::from))
                .unwrap_or_default();
            Ok(format!(
                "webhook URL to {host} is well-formed (not called: a webhook cannot be tried without posting)"
            ))
        }
        DestinationKind::Files { dir, .. } => files::check(dir),
    }
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
