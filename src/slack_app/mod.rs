//! `[slack_app]`: `tally daemon` answers `/tally` slash commands in Slack through Socket Mode
//! (no public URL): `user`, `report`, `status` and `help`, from the store only.
//!
//! The app runs on a thread and a runtime of its own, so that acknowledgements go out within
//! Slack's 3 seconds while a run keeps the daemon's thread busy, and so that nothing the
//! connection does (drops, `disconnect`, a silent server) reaches the schedule. It reconnects
//! with a backoff of 1 s doubling to 60 s, reset by each `hello`.

mod answer;
mod command;
mod socket;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value as Json;
use tokio::sync::{Semaphore, mpsc};
use tokio_tungstenite::tungstenite::Message;

use crate::config::{Config, SlackAppSpec};
use crate::deliver::http;
use answer::Reply;
use command::Guard;
use socket::{Frame, Socket};

pub use socket::probe;

/// An answer not ready this soon goes through the command's `response_url` (the
/// acknowledgement must reach Slack within 3 seconds).
const ACK_WITHIN: Duration = Duration::from_secs(2);
/// A connection that has been silent this long is pinged ...
const PING_AFTER: Duration = Duration::from_secs(30);
/// ... and one silent this long is given up and opened again.
const SILENT_LIMIT: Duration = Duration::from_secs(90);
/// Longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Starts the app on its own thread; it runs until the process ends.
pub fn start(config: Arc<Config>) -> Result<(), String> {
    if config.slack_app.is_none() {
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("slack_app: {e}"))?;
    std::thread::Builder::new()
        .name("tally-slack".into())
        .spawn(move || runtime.block_on(serve(config)))
        .map_err(|e| format!("slack_app: {e}"))?;
    Ok(())
}

/// What the connections share: the config, an HTTP client, one answer computed at a time.
struct App {
    config: Arc<Config>,
    http: reqwest::Client,
    computing: Arc<Semaphore>,
}

/// Connects, answers, and connects again, until a stop is asked for.
async fn serve(config: Arc<Config>) {
    let Some(spec) = config.slack_app.clone() else {
        return;
    };
    let app = Arc::new(App {
        config,
        http: http::client(),
        computing: Arc::new(Semaphore::new(1)),
    });
    let mut guard = Guard::new(&spec);
    let mut backoff = Duration::from_secs(1);
    while !crate::shutdown::requested() {
        let ended = match socket::connect(&app.http, &spec).await {
            Ok(socket) => session(&app, &spec, socket, &mut guard, &mut backoff).await,
            Err(e) => Err(e),
        };
        let wait = match ended {
            Ok(Ended::Stopped) => return,
            Ok(Ended::Disconnect(reason)) if reason == "link_disabled" => {
                tracing::error!(
                    "slack_app: Slack disabled Socket Mode for the app (link_disabled): turn it \
                     on in the app's settings; trying again in {} s",
                    MAX_BACKOFF.as_secs()
                );
                MAX_BACKOFF
            }
            Ok(Ended::Disconnect(reason)) => {
                tracing::info!("slack_app: Slack asked to reconnect ({reason})");
                Duration::ZERO
            }
            Ok(Ended::Closed) => {
                tracing::warn!("slack_app: the Socket Mode connection closed; reconnecting");
                next(&mut backoff)
            }
            Err(e) => {
                let wait = next(&mut backoff);
                tracing::warn!("{e}; reconnecting in {} s", wait.as_secs());
                wait
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = crate::shutdown::wait() => return,
        }
    }
}

/// The wait before the next attempt; the one after is twice as long, up to [`MAX_BACKOFF`].
fn next(backoff: &mut Duration) -> Duration {
    let wait = *backoff;
    *backoff = (*backoff * 2).min(MAX_BACKOFF);
    wait
}

/// How a connection ended.
enum Ended {
    /// Slack sent `disconnect` with this reason.
    Disconnect(String),
    /// The connection closed.
    Closed,
    /// A stop was asked for.
    Stopped,
}

/// Serves one connection until it ends.
async fn session(
    app: &Arc<App>,
    spec: &SlackAppSpec,
    mut socket: Socket,
    guard: &mut Guard,
    backoff: &mut Duration,
) -> Result<Ended, String> {
    // Acknowledgements written by the tasks that answer.
    let (acks, mut outgoing) = mpsc::unbounded_channel::<Message>();
    let mut heard = Instant::now();
    loop {
        let frame = tokio::select! {
            Some(message) = outgoing.recv() => {
                socket::send(&mut socket, message).await?;
                continue;
            }
            () = crate::shutdown::wait() => {
                let _ = socket.close(None).await;
                return Ok(Ended::Stopped);
            }
            read = tokio::time::timeout(PING_AFTER, socket.next()) => read,
        };
        let message = match frame {
            Err(_) if heard.elapsed() >= SILENT_LIMIT => {
                return Err(format!(
                    "slack_app: Slack has been silent for {} s",
                    SILENT_LIMIT.as_secs()
                ));
            }
            Err(_) => {
                socket::send(&mut socket, Message::Ping(Vec::new().into())).await?;
                continue;
            }
            Ok(None) | Ok(Some(Ok(Message::Close(_)))) => return Ok(Ended::Closed),
            Ok(Some(Err(e))) => {
                return Err(format!("slack_app: the Socket Mode connection failed: {e}"));
            }
            Ok(Some(Ok(message))) => message,
        };
        heard = Instant::now();
        let Message::Text(text) = message else {
            continue;
        };
        match socket::frame(&text) {
            Frame::Hello => {
                *backoff = Duration::from_secs(1);
                tracing::info!("slack_app: connected; answering {} commands", spec.command);
            }
            Frame::Disconnect(reason) => return Ok(Ended::Disconnect(reason)),
            Frame::Envelope { id, kind, payload } if kind == "slash_commands" => {
                command(app, spec, guard, (id, payload), acks.clone());
            }
            // Events and interactions are not for tally: acknowledged, nothing more.
            Frame::Envelope { id, .. } => socket::send(&mut socket, socket::ack(&id, None)).await?,
            Frame::Other => {}
        }
    }
}

/// Handles a slash command: a refusal or a quick answer goes in the acknowledgement; an answer
/// that takes longer than [`ACK_WITHIN`] goes through `response_url` after an empty one.
fn command(
    app: &Arc<App>,
    spec: &SlackAppSpec,
    guard: &mut Guard,
    (id, payload): (String, Json),
    acks: mpsc::UnboundedSender<Message>,
) {
    let field = |name: &str| payload[name].as_str().unwrap_or_default().to_string();
    let (channel, user) = (field("channel_id"), field("user_id"));
    if let Some(refusal) = guard.admit(&channel, &user, Instant::now()) {
        tracing::info!("slack_app: refused a command of {user} in {channel}: {refusal}");
        let _ = acks.send(socket::ack(&id, Some(Reply::line(refusal).payload(false))));
        return;
    }
    let (asked, public) = command::parse(&field("text"));
    tracing::info!("slack_app: {user} asked {:?} in {channel}", verb(&asked));
    let (app, name, response_url) = (Arc::clone(app), spec.command.clone(), field("response_url"));
    tokio::spawn(async move {
        let config = Arc::clone(&app.config);
        let computing = Arc::clone(&app.computing);
        let mut work = Box::pin(async move {
            let _permit = computing.acquire_owned().await;
            tokio::task::spawn_blocking(move || answer::answer(&config, &name, &asked))
                .await
                .unwrap_or_else(|_| Reply::line("tally could not answer: the answer failed"))
        });
        if let Ok(reply) = tokio::time::timeout(ACK_WITHIN, work.as_mut()).await {
            let _ = acks.send(socket::ack(&id, Some(reply.payload(public))));
            return;
        }
        let _ = acks.send(socket::ack(&id, None));
        let reply = work.await;
        respond(&app.http, &response_url, reply.payload(public)).await;
    });
}

/// The command's verb, for the log (the text may hold anything).
fn verb(asked: &command::Asked) -> &'static str {
    match asked {
        command::Asked::User { .. } => "user",
        command::Asked::Report { .. } => "report",
        command::Asked::Status => "status",
        command::Asked::Help => "help",
        command::Asked::Wrong(_) => "(not a command)",
    }
}

/// Posts a late answer to the command's `response_url` (never logged: it admits whoever has
/// it).
async fn respond(http: &reqwest::Client, response_url: &str, mut payload: Json) {
    if url::Url::parse(response_url).map_or(true, |u| !matches!(u.scheme(), "https" | "http")) {
        tracing::warn!("slack_app: a command came without a usable response_url");
        return;
    }
    payload["replace_original"] = Json::Bool(false);
    let sent = http::send("slack_app: answering through response_url", || {
        http.post(response_url)
            .timeout(Duration::from_secs(30))
            .json(&payload)
    })
    .await;
    match sent {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!(
            "slack_app: answering through response_url: HTTP {}",
            r.status()
        ),
        Err(e) => tracing::warn!("{e}"),
    }
}
