//! At most one Slack message per destination, report and day: every message carries metadata
//! that identifies its attempt, each attempt is recorded before it is posted, and after an
//! answer that was lost (or a crash) tally looks for the message in the channel before it posts
//! again.

use std::time::Duration;

use chrono::{NaiveDate, Utc};
use serde_json::{Value as Json, json};

use super::api::{Api, Lookup};
use crate::deliver::DeliverError;
use crate::deliver::http::PostError;
use crate::deliver::message;
use crate::store::Delivery;

/// The metadata that tells tally's message for one attempt apart from every other.
pub fn metadata(report: &str, day: NaiveDate, destination: &str, attempt: Json) -> Json {
    json!({
        "report": report,
        "date": day.to_string(),
        "destination": destination,
        "attempt": attempt,
    })
}

/// Posts of one report for one day to one Slack channel.
pub struct Post<'a> {
    /// The API client of the channel.
    pub api: &'a Api<'a>,
    /// The destination's name.
    pub destination: &'a str,
    /// The report's name.
    pub report: &'a str,
    /// The report date.
    pub day: NaiveDate,
    /// The message it replies to (in that message's thread), if any.
    pub thread: Option<&'a str>,
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
    pub async fn once(
        &self,
        message: &message::Message,
        record: &mut Delivery,
        save: &dyn Fn(&Delivery) -> Result<(), DeliverError>,
    ) -> Result<String, DeliverError> {
        if let Some(ts) = self.earlier(record).await? {
            return self.posted(ts, record, save);
        }
        for attempt in 1..=POSTS {
            let since = Utc::now();
            record.posting_since = Some(since);
            record.attempt_note = None;
            save(record)?;
            let payload = self.payload(since);
            let doubt = match self
                .api
                .post_with(message, Some(&payload), self.thread)
                .await
            {
                Ok(ts) => return self.posted(ts, record, save),
                Err(PostError::NotPosted(e)) => {
                    record.posting_since = None;
                    save(record)?;
                    return Err(DeliverError::Refused(e));
                }
                Err(PostError::MaybePosted(e)) => e,
            };
            tracing::warn!(
                "{doubt}: the message may have been posted; looking for it in the channel"
            );
            // From here on, a run that stops leaves the doubt and its cause in the record.
            record.attempt_note = Some(doubt.clone());
            save(record)?;
            let found = self.settle(&payload, since, &doubt).await?;
            match found {
                Some(ts) => return self.posted(ts, record, save),
                None if attempt < POSTS => {
                    tracing::warn!("{doubt}: the message is not in the channel; posting it again");
                    record.posting_since = None;
                    save(record)?;
                }
                None => {
                    return Err(DeliverError::Doubt(format!(
                        "{doubt}; the message is not in the channel"
                    )));
                }
            }
        }
        unreachable!("the last attempt returns")
    }

    /// The message an earlier attempt of the record posted, when it is in the channel.
    async fn earlier(&self, record: &Delivery) -> Result<Option<String>, DeliverError> {
        let Some(since) = record.posting_since else {
            return Ok(None);
        };
        let earlier = match &record.attempt_note {
            Some(note) => format!("an earlier attempt ({note})"),
            None => "an earlier attempt (tally stopped before its answer came)".to_string(),
        };
        let found = self
            .api
            .find(&self.payload(since), since, self.thread)
            .await
            .map_err(|e| self.lookup_failed(&earlier, e))?;
        let (report, day) = (self.report, self.day);
        match &found {
            Some(_) => tracing::info!(
                "{report} for {day}: found the message {earlier} posted; not posting again"
            ),
            None => tracing::info!(
                "{report} for {day}: the message of {earlier} is not in the channel; posting it"
            ),
        }
        Ok(found)
    }

    /// After a post whose answer was lost (`doubt`), looks for the message a few times, as
    /// Slack may take a moment to list it.
    async fn settle(
        &self,
        payload: &Json,
        since: chrono::DateTime<Utc>,
        doubt: &str,
    ) -> Result<Option<String>, DeliverError> {
        for wait in SETTLE {
            tokio::time::sleep(wait).await;
            let found = self
                .api
                .find(payload, since, self.thread)
                .await
                .map_err(|e| self.lookup_failed(doubt, e))?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    fn posted(
        &self,
        ts: String,
        record: &mut Delivery,
        save: &dyn Fn(&Delivery) -> Result<(), DeliverError>,
    ) -> Result<String, DeliverError> {
        record.message_ts = Some(ts.clone());
        record.posting_since = None;
        record.attempt_note = None;
        save(record)?;
        Ok(ts)
    }

    /// Why tally stops when it cannot look for a message that may have been posted.
    fn lookup_failed(&self, what: &str, e: Lookup) -> DeliverError {
        DeliverError::Doubt(match e {
            Lookup::NoScope(needed) => format!(
                "{what}: the message may have been posted, and without the `{needed}` scope \
                 (channels:history, or groups:history for a private channel) tally cannot look \
                 for it, so it does not post again; look in the channel, add the scope so that \
                 tally can check next time, and send it again with `tally deliver --force` if it \
                 is not there"
            ),
            Lookup::PostError(m) => format!(
                "{what}: the message may have been posted, and looking for it failed ({m}), so \
                 tally does not post again now; the next run looks again"
            ),
        })
    }
}
