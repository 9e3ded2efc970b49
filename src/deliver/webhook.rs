//! Slack incoming webhooks: the message only (webhooks cannot carry files).

use std::time::Duration;

use reqwest::Client;
use serde_json::json;

use super::http::{self, Failed};
use super::message::Message;

/// Posts the message to the webhook URL (a secret: never printed). A post whose answer was lost
/// is a [`Failed::Doubt`]: a webhook cannot be asked what it received.
pub async fn send(
    http: &Client,
    url: &str,
    message: &Message,
    timeout: Duration,
) -> Result<(), Failed> {
    let body = body(message);
    let response =
        http::send_once("webhook", || http.post(url).timeout(timeout).json(&body)).await?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    Err(Failed::Certain(format!(
        "webhook answered HTTP {status}: {}",
        text.chars().take(200).collect::<String>()
    )))
}

/// The JSON body a webhook gets for `message` (also what `--dry-run` prints).
pub fn body(message: &Message) -> serde_json::Value {
    json!({"text": message.text, "blocks": message.blocks})
}
