//! Slack incoming webhooks: the message only (webhooks cannot carry files).

use reqwest::Client;
use serde_json::json;

use super::http;
use super::message::Message;

/// Posts the message to the webhook URL (a secret: never printed).
pub async fn send(http: &Client, url: &str, message: &Message) -> Result<(), String> {
    let body = json!({"text": message.text, "blocks": message.blocks});
    let response = http::send("webhook", || http.post(url).json(&body)).await?;
    let status = response.status();
    if status.is_success() {
        return Ok(());
    }
    let text = response.text().await.unwrap_or_default();
    Err(format!(
        "webhook answered HTTP {status}: {}",
        text.chars().take(200).collect::<String>()
    ))
}
