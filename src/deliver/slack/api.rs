//! Slack's Web API with a bot token: `chat.postMessage` (with message metadata, so that a post
//! whose answer was lost can be found in `conversations.history`), then each file through the
//! current upload flow (`files.getUploadURLExternal`, POST the bytes,
//! `files.completeUploadExternal` into the message's thread). The retired `files.upload` is
//! never called. `auth.test` and `conversations.info` check a destination without posting.

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Client;
use serde_json::{Value as Json, json};

use crate::deliver::http::{self, PostError};
use crate::deliver::message::Message;

/// The `event_type` of the metadata tally attaches to its messages.
pub const EVENT_TYPE: &str = "tally_report";

/// Pages of `conversations.history` read when looking for a message (200 messages each).
const HISTORY_PAGES: usize = 10;

/// A Slack Web API client for one token and channel.
pub struct Api<'a> {
    http: &'a Client,
    api_url: &'a str,
    token: &'a str,
    channel: &'a str,
    timeout: Duration,
}

/// Why a message could not be looked up.
#[derive(Debug)]
pub enum Lookup {
    /// The token lacks the scope that reads the channel's history.
    NoScope(String),
    /// Anything else.
    PostError(String),
}

impl<'a> Api<'a> {
    /// A client; `api_url` is like `https://slack.com/api`; each request may take `timeout`.
    pub fn new(
        http: &'a Client,
        api_url: &'a str,
        token: &'a str,
        channel: &'a str,
        timeout: Duration,
    ) -> Api<'a> {
        Api {
            http,
            api_url,
            token,
            channel,
            timeout,
        }
    }

    fn request(&self, method: &str, body: &Body) -> reqwest::RequestBuilder {
        let req = self
            .http
            .post(format!("{}/{method}", self.api_url))
            .bearer_auth(self.token)
            .timeout(self.timeout);
        match body {
            Body::Json(j) => req.json(j),
            Body::Form(f) => req.form(f),
        }
    }

    /// Calls a Web API method that may be repeated (reads, uploads) and returns its answer when
    /// `ok` is true.
    async fn call(&self, method: &str, body: Body) -> Result<Json, String> {
        let response = http::send(method, || self.request(method, &body)).await?;
        let status = response.status();
        let answer: Json = response.json().await.map_err(|e| {
            format!(
                "{method}: HTTP {status}, not a Slack API answer: {}",
                e.without_url()
            )
        })?;
        if answer["ok"] == json!(true) {
            return Ok(answer);
        }
        let error = answer["error"].as_str().unwrap_or("unknown_error");
        Err(format!("{method}: {}", self.explain(error, &answer)))
    }

    fn explain(&self, error: &str, answer: &Json) -> String {
        match error {
            "invalid_auth" | "not_authed" | "token_revoked" | "account_inactive" => {
                format!("{error}: Slack rejected the bot token; check the token in the config")
            }
            "channel_not_found" => format!(
                "channel_not_found: no channel `{}` visible to the bot; use the channel ID (like C0123456789), not its name",
                self.channel
            ),
            "not_in_channel" => format!(
                "not_in_channel: the bot is not a member of `{}`; invite it with /invite @your-app in that channel",
                self.channel
            ),
            "missing_scope" => format!(
                "missing_scope: the token needs the `{}` scope; add it under OAuth & Permissions and reinstall the app",
                answer["needed"]
                    .as_str()
                    .unwrap_or("chat:write, files:write")
            ),
            "ratelimited" => {
                "ratelimited: Slack kept rate-limiting after retries; try again later".into()
            }
            other => format!("Slack answered `{other}`"),
        }
    }

    /// Posts a message without metadata (run-failure notices); returns its `ts`.
    pub async fn post(&self, message: &Message) -> Result<String, PostError> {
        self.post_with(message, None, None).await
    }

    /// Posts the message, with `payload` as its metadata (event type [`EVENT_TYPE`]), in the
    /// thread of `thread` when given; returns its `ts`. Never posts twice by itself: a post
    /// whose answer is lost is a [`PostError::MaybePosted`].
    pub async fn post_with(
        &self,
        message: &Message,
        payload: Option<&Json>,
        thread: Option<&str>,
    ) -> Result<String, PostError> {
        let mut body = post_body(self.channel, message, payload);
        if let Some(ts) = thread {
            body["thread_ts"] = json!(ts);
        }
        let body = Body::Json(body);
        let method = "chat.postMessage";
        let response = http::send_once(method, || self.request(method, &body)).await?;
        let status = response.status();
        let answer: Json = response.json().await.map_err(|e| {
            PostError::MaybePosted(format!(
                "{method}: HTTP {status}, not a Slack API answer: {}",
                e.without_url()
            ))
        })?;
        if answer["ok"] != json!(true) {
            let error = answer["error"].as_str().unwrap_or("unknown_error");
            return Err(PostError::NotPosted(format!(
                "{method}: {}",
                self.explain(error, &answer)
            )));
        }
        answer["ts"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| PostError::MaybePosted(format!("{method}: the answer has no ts")))
    }

    /// Looks for tally's message with `payload` in the channel's history since `since` (a
    /// minute earlier, for clocks that differ); returns its `ts`.
    pub async fn find(
        &self,
        payload: &Json,
        since: DateTime<Utc>,
        thread: Option<&str>,
    ) -> Result<Option<String>, Lookup> {
        let oldest = since.timestamp() - 60;
        let mut cursor = String::new();
        for _ in 0..HISTORY_PAGES {
            let mut form = vec![
                ("channel".to_string(), self.channel.to_string()),
                ("oldest".to_string(), format!("{oldest}.000000")),
                ("include_all_metadata".to_string(), "true".to_string()),
                ("limit".to_string(), "200".to_string()),
            ];
            if let Some(ts) = thread {
                form.push(("ts".to_string(), ts.to_string()));
            }
            if !cursor.is_empty() {
                form.push(("cursor".to_string(), cursor.clone()));
            }
            // A reply is in its thread (`conversations.replies`), not in the channel's history.
            let method = if thread.is_some() {
                "conversations.replies"
            } else {
                "conversations.history"
            };
            let response = http::send(method, || self.request(method, &Body::Form(form.clone())))
                .await
                .map_err(Lookup::PostError)?;
            let answer: Json = response
                .json()
                .await
                .map_err(|e| Lookup::PostError(format!("{method}: {}", e.without_url())))?;
            if answer["ok"] != json!(true) {
                let error = answer["error"].as_str().unwrap_or("unknown_error");
                return Err(if error == "missing_scope" {
                    Lookup::NoScope(
                        answer["needed"]
                            .as_str()
                            .unwrap_or("channels:history")
                            .to_string(),
                    )
                } else {
                    Lookup::PostError(format!("{method}: {}", self.explain(error, &answer)))
                });
            }
            let found = answer["messages"].as_array().and_then(|messages| {
                messages.iter().find(|m| {
                    m["metadata"]["event_type"] == EVENT_TYPE
                        && &m["metadata"]["event_payload"] == payload
                })
            });
            if let Some(m) = found {
                return Ok(m["ts"].as_str().map(String::from));
            }
            cursor = answer["response_metadata"]["next_cursor"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if answer["has_more"] != json!(true) || cursor.is_empty() {
                break;
            }
        }
        Ok(None)
    }

    /// Checks the token and the channel without posting: `auth.test` (the token, and its scopes
    /// from the `x-oauth-scopes` header), then `conversations.info` (the channel exists and the
    /// bot is a member). Returns what was found, or what is wrong and how to fix it.
    pub async fn probe(&self, uploads: bool) -> Result<String, String> {
        let method = "auth.test";
        let response = http::send(method, || self.request(method, &Body::Form(vec![]))).await?;
        let scopes: Vec<String> = response
            .headers()
            .get("x-oauth-scopes")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        let answer: Json = response
            .json()
            .await
            .map_err(|e| format!("{method}: not a Slack API answer: {}", e.without_url()))?;
        if answer["ok"] != json!(true) {
            let error = answer["error"].as_str().unwrap_or("unknown_error");
            return Err(format!("{method}: {}", self.explain(error, &answer)));
        }
        let mut needed = vec!["chat:write"];
        if uploads {
            needed.push("files:write");
        }
        let missing: Vec<&str> = needed
            .into_iter()
            .filter(|n| !scopes.iter().any(|s| s == n))
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "the token lacks the {} scope: add it under OAuth & Permissions and reinstall the app (it has: {})",
                missing.join(" and "),
                if scopes.is_empty() {
                    "none".to_string()
                } else {
                    scopes.join(", ")
                }
            ));
        }
        let info = self
            .call(
                "conversations.info",
                Body::Form(vec![("channel".into(), self.channel.into())]),
            )
            .await?;
        let name = info["channel"]["name"].as_str().unwrap_or(self.channel);
        if info["channel"]["is_member"] == json!(false) {
            return Err(format!(
                "the bot is not a member of #{name} ({}): invite it with /invite @your-app in that channel",
                self.channel
            ));
        }
        let history = if scopes
            .iter()
            .any(|s| s == "channels:history" || s == "groups:history")
        {
            String::new()
        } else {
            "; without channels:history (groups:history for a private channel), a post whose \
             answer is lost is not repeated, and needs `deliver --force`"
                .to_string()
        };
        Ok(format!(
            "token of {} in {}, scopes {}; channel #{name} ({}), the bot is a member{history}",
            answer["user"].as_str().unwrap_or("?"),
            answer["team"].as_str().unwrap_or("?"),
            scopes.join(", "),
            self.channel
        ))
    }

    /// Uploads one file into the thread of the message `thread_ts`.
    pub async fn upload(
        &self,
        filename: &str,
        bytes: Vec<u8>,
        thread_ts: &str,
    ) -> Result<(), String> {
        let answer = self
            .call(
                "files.getUploadURLExternal",
                Body::Form(vec![
                    ("filename".into(), filename.into()),
                    ("length".into(), bytes.len().to_string()),
                ]),
            )
            .await?;
        let (Some(upload_url), Some(file_id)) =
            (answer["upload_url"].as_str(), answer["file_id"].as_str())
        else {
            return Err(
                "files.getUploadURLExternal: the answer has no upload_url or file_id".into(),
            );
        };
        let response = http::send("uploading the file", || {
            self.http
                .post(upload_url)
                .timeout(self.timeout)
                .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
                .body(bytes.clone())
        })
        .await?;
        if !response.status().is_success() {
            return Err(format!("uploading {filename}: HTTP {}", response.status()));
        }
        self.call(
            "files.completeUploadExternal",
            Body::Json(json!({
                "files": [{"id": file_id, "title": filename}],
                "channel_id": self.channel,
                "thread_ts": thread_ts,
            })),
        )
        .await?;
        Ok(())
    }
}

/// A request body: JSON for most methods, a form where Slack takes only form arguments.
enum Body {
    Json(Json),
    Form(Vec<(String, String)>),
}

/// The `chat.postMessage` body for `message` in `channel`, with `payload` as its metadata (also
/// what `--dry-run` prints).
pub fn post_body(channel: &str, message: &Message, payload: Option<&Json>) -> Json {
    let mut body = json!({
        "channel": channel,
        "text": message.text,
        "blocks": message.blocks,
        "unfurl_links": false,
    });
    if let Some(payload) = payload {
        body["metadata"] = json!({"event_type": EVENT_TYPE, "event_payload": payload});
    }
    body
}
