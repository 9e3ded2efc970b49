//! Slack's Web API with a bot token: `chat.postMessage`, then each file through the current
//! upload flow (`files.getUploadURLExternal`, POST the bytes, `files.completeUploadExternal`
//! into the message's thread). The retired `files.upload` is never called.

use reqwest::Client;
use serde_json::{Value as Json, json};

use super::http;
use super::message::Message;

/// A Slack Web API client for one token and channel.
pub struct Slack<'a> {
    http: &'a Client,
    api_url: &'a str,
    token: &'a str,
    channel: &'a str,
}

impl<'a> Slack<'a> {
    /// A client; `api_url` is like `https://slack.com/api`.
    pub fn new(http: &'a Client, api_url: &'a str, token: &'a str, channel: &'a str) -> Slack<'a> {
        Slack {
            http,
            api_url,
            token,
            channel,
        }
    }

    /// Calls a Web API method and returns its answer when `ok` is true.
    async fn call(&self, method: &str, body: Body) -> Result<Json, String> {
        let url = format!("{}/{method}", self.api_url);
        let response = http::send(method, || {
            let req = self.http.post(&url).bearer_auth(self.token);
            match &body {
                Body::Json(j) => req.json(j),
                Body::Form(f) => req.form(f),
            }
        })
        .await?;
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

    /// Posts the message; returns its `ts`.
    pub async fn post(&self, message: &Message) -> Result<String, String> {
        let answer = self
            .call(
                "chat.postMessage",
                Body::Json(json!({
                    "channel": self.channel,
                    "text": message.text,
                    "blocks": message.blocks,
                    "unfurl_links": false,
                })),
            )
            .await?;
        answer["ts"]
            .as_str()
            .map(String::from)
            .ok_or_else(|| "chat.postMessage: the answer has no ts".into())
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
