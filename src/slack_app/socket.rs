//! Slack's Socket Mode: `apps.connections.open` with the app-level token gives a WebSocket URL;
//! over it Slack sends `hello`, envelopes (each to be acknowledged with its `envelope_id` within
//! 3 seconds, a slash command's answer in the acknowledgement's `payload`) and `disconnect`
//! before it closes a connection.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value as Json, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::config::SlackAppSpec;
use crate::deliver::http;

/// An open Socket Mode connection.
pub type Socket = WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>;

/// Longest wait for the WebSocket handshake and for `hello`.
const CONNECT_LIMIT: Duration = Duration::from_secs(15);

/// What Slack sent over the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// The connection is ready.
    Hello,
    /// Slack is about to close the connection: open another one.
    Disconnect(String),
    /// An envelope to acknowledge: its id, its type and its payload.
    Envelope {
        /// `envelope_id`.
        id: String,
        /// `slash_commands`, `events_api`, `interactive`, ...
        kind: String,
        /// What it carries.
        payload: Json,
    },
    /// Anything else (ignored).
    Other,
}

/// Reads a text frame.
pub fn frame(text: &str) -> Frame {
    let Ok(doc) = serde_json::from_str::<Json>(text) else {
        return Frame::Other;
    };
    let kind = doc["type"].as_str().unwrap_or_default().to_string();
    match (kind.as_str(), doc["envelope_id"].as_str()) {
        ("hello", _) => Frame::Hello,
        ("disconnect", _) => Frame::Disconnect(doc["reason"].as_str().unwrap_or("").to_string()),
        (_, Some(id)) => Frame::Envelope {
            id: id.to_string(),
            kind,
            payload: doc["payload"].clone(),
        },
        _ => Frame::Other,
    }
}

/// The acknowledgement of envelope `id`, with the answer when there is one.
pub fn ack(id: &str, payload: Option<Json>) -> Message {
    let doc = match payload {
        Some(p) => json!({"envelope_id": id, "payload": p}),
        None => json!({"envelope_id": id}),
    };
    Message::text(doc.to_string())
}

/// Asks Slack for a connection URL (`apps.connections.open`). The URL is a secret of sorts
/// (it admits whoever has it): it is never logged.
async fn url(http: &reqwest::Client, spec: &SlackAppSpec) -> Result<String, String> {
    let what = "slack_app: apps.connections.open";
    let endpoint = format!("{}/apps.connections.open", spec.api_url);
    let response = http::send(what, || {
        http.post(&endpoint)
            .bearer_auth(spec.app_token.expose())
            .timeout(Duration::from_secs(30))
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body("")
    })
    .await?;
    let status = response.status();
    let doc: Json = response
        .json()
        .await
        .map_err(|_| format!("{what}: HTTP {status} without a JSON answer"))?;
    if doc["ok"].as_bool() == Some(true)
        && let Some(url) = doc["url"].as_str()
    {
        return Ok(url.to_string());
    }
    let error = doc["error"].as_str().unwrap_or("no error given");
    let hint = match error {
        "invalid_auth" | "not_authed" | "account_inactive" | "token_revoked" => {
            ": slack_app.app_token is not a working app-level token"
        }
        "not_allowed_token_type" => {
            ": slack_app.app_token must be an app-level token (xapp-), not a bot or user token"
        }
        "missing_scope" => ": the app-level token needs the connections:write scope",
        _ => "",
    };
    Err(format!("{what}: {error}{hint}"))
}

/// Opens a connection: a URL from Slack, then the WebSocket.
pub async fn connect(http: &reqwest::Client, spec: &SlackAppSpec) -> Result<Socket, String> {
    let url = url(http, spec).await?;
    match tokio::time::timeout(
        CONNECT_LIMIT,
        tokio_tungstenite::connect_async(url.as_str()),
    )
    .await
    {
        Ok(Ok((socket, _))) => Ok(socket),
        // tungstenite's errors name no URL.
        Ok(Err(e)) => Err(format!("slack_app: the Socket Mode connection failed: {e}")),
        Err(_) => Err(format!(
            "slack_app: the Socket Mode connection did not open within {} s",
            CONNECT_LIMIT.as_secs()
        )),
    }
}

/// Waits for Slack's `hello` on a new connection, at most [`CONNECT_LIMIT`].
pub async fn hello(socket: &mut Socket) -> Result<(), String> {
    let waited = tokio::time::timeout(CONNECT_LIMIT, async {
        while let Some(message) = socket.next().await {
            match message {
                Ok(Message::Text(text)) if frame(&text) == Frame::Hello => return Ok(()),
                Ok(Message::Close(_)) => break,
                Ok(_) => {}
                Err(e) => return Err(format!("slack_app: the Socket Mode connection failed: {e}")),
            }
        }
        Err("slack_app: Slack closed the Socket Mode connection before its hello".to_string())
    })
    .await;
    waited.unwrap_or_else(|_| {
        Err(format!(
            "slack_app: no hello within {} s of connecting",
            CONNECT_LIMIT.as_secs()
        ))
    })
}

/// Proves the token: opens a connection, waits for `hello`, closes it (`tally check`). A
/// command Slack sent to this connection in its moment would go unanswered, so it closes at
/// once.
pub async fn probe(spec: &SlackAppSpec) -> Result<(), String> {
    let http = http::client();
    let mut socket = connect(&http, spec).await?;
    let hello = hello(&mut socket).await;
    let _ = tokio::time::timeout(Duration::from_secs(5), socket.close(None)).await;
    hello
}

/// Sends `message`, flushing it; a connection that takes more than 10 s to take it is given up.
pub async fn send(socket: &mut Socket, message: Message) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_secs(10), socket.send(message)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!(
            "slack_app: writing to the Socket Mode connection failed: {e}"
        )),
        Err(_) => Err("slack_app: the Socket Mode connection took no data for 10 s".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_and_acknowledgements() {
        assert_eq!(
            frame(r#"{"type":"hello","num_connections":1}"#),
            Frame::Hello
        );
        assert_eq!(
            frame(r#"{"type":"disconnect","reason":"refresh_requested"}"#),
            Frame::Disconnect("refresh_requested".into())
        );
        assert_eq!(
            frame(r#"{"envelope_id":"e1","type":"slash_commands","payload":{"text":"help"}}"#),
            Frame::Envelope {
                id: "e1".into(),
                kind: "slash_commands".into(),
                payload: json!({"text": "help"})
            }
        );
        assert_eq!(frame("not json"), Frame::Other);
        assert_eq!(
            ack("e1", None).into_text().unwrap().as_str(),
            r#"{"envelope_id":"e1"}"#
        );
    }
}
