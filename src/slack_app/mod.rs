//! `[slack_app]`: `tally daemon` answers `/tally` slash commands in Slack through Socket Mode
//! (no public URL): `user`, `report`, `status` and `help`, from the store only.
//!
//! The app runs on a thread and a runtime of its own, so that nothing the connection does
//! (drops, `disconnect`, a silent server) reaches the schedule, and a run never delays an
//! acknowledgement. Every command is acknowledged as soon as it arrives: a refusal, `help` or a
//! mistake in the acknowledgement itself; an answer that reads the store goes to the command's
//! `response_url` when it is ready, so a reconnection in between loses nothing. It reconnects
//! with a backoff of 1 s doubling to 60 s, reset by a connection that held for a minute.

mod answer;
mod command;
mod socket;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::Value as Json;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

use crate::config::{Config, SlackAppSpec};
use crate::deliver::http;
use answer::Reply;
use command::{Asked, Guard};
use socket::{Frame, Socket};

pub use socket::probe;

/// A connection that has been silent this long is pinged ...
const PING_AFTER: Duration = Duration::from_secs(30);
/// ... and one silent this long is given up and opened again.
const SILENT_LIMIT: Duration = Duration::from_secs(90);
/// Longest wait between two connection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Slack's `disconnect` is answered with a new connection at once, at most once in this long.
const AT_ONCE_EVERY: Duration = Duration::from_secs(10);
/// How long a connection Slack asked to leave is still read, beside the new one.
const DRAIN: Duration = Duration::from_secs(10);
/// A connection that lasted this long resets the backoff.
const STEADY: Duration = Duration::from_secs(60);
/// Most answers waiting or being computed; more are told that tally is busy.
const MAX_QUEUED: usize = 8;

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
    /// Answers waiting or being computed.
    queued: AtomicUsize,
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
        queued: AtomicUsize::new(0),
    });
    let guard = Arc::new(Mutex::new(Guard::new(&spec)));
    let mut backoff = Duration::from_secs(1);
    let mut at_once: Option<Instant> = None;
    while !crate::shutdown::requested() {
        let opened = Instant::now();
        let ended = match socket::connect(&app.http, &spec).await {
            Ok(socket) => session(&app, &spec, socket, &guard).await,
            Err(e) => Err(e),
        };
        // A connection that held is a fresh start; one that keeps failing waits longer each
        // time.
        if opened.elapsed() >= STEADY {
            backoff = Duration::from_secs(1);
        }
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
            // Slack refreshes connections every few hours: a new one at once, unless it asks
            // again and again.
            Ok(Ended::Disconnect(reason))
                if matches!(reason.as_str(), "warning" | "refresh_requested")
                    && at_once.is_none_or(|t| t.elapsed() >= AT_ONCE_EVERY) =>
            {
                tracing::info!("slack_app: Slack asked to reconnect ({reason})");
                at_once = Some(Instant::now());
                Duration::ZERO
            }
            Ok(Ended::Disconnect(reason)) => {
                let wait = next(&mut backoff);
                tracing::warn!(
                    "slack_app: Slack closed the connection ({reason}); reconnecting in {} s",
                    wait.as_secs()
                );
                wait
            }
            Ok(Ended::Closed) => {
                let wait = next(&mut backoff);
                tracing::warn!(
                    "slack_app: the Socket Mode connection closed; reconnecting in {} s",
                    wait.as_secs()
                );
                wait
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

/// Serves one connection until it ends. After Slack's `disconnect`, the old connection is
/// still read for [`DRAIN`] beside the new one, so that what Slack sent on it before is
/// answered.
async fn session(
    app: &Arc<App>,
    spec: &SlackAppSpec,
    mut socket: Socket,
    guard: &Arc<Mutex<Guard>>,
) -> Result<Ended, String> {
    socket::hello(&mut socket).await?;
    tracing::info!("slack_app: connected; answering {}", spec.command);
    let ended = frames(app, spec, &mut socket, guard, None).await;
    if let Ok(Ended::Disconnect(_)) = &ended {
        let (app, spec, guard) = (Arc::clone(app), spec.clone(), Arc::clone(guard));
        tokio::spawn(async move {
            let until = Instant::now() + DRAIN;
            let _ = frames(&app, &spec, &mut socket, &guard, Some(until)).await;
            let _ = tokio::time::timeout(Duration::from_secs(2), socket.close(None)).await;
        });
    }
    ended
}

/// Reads and acknowledges what comes on `socket` until it ends (or until `until`).
async fn frames(
    app: &Arc<App>,
    spec: &SlackAppSpec,
    socket: &mut Socket,
    guard: &Mutex<Guard>,
    until: Option<Instant>,
) -> Result<Ended, String> {
    let mut heard = Instant::now();
    loop {
        let wait = until.map_or(PING_AFTER, |t| {
            t.saturating_duration_since(Instant::now()).min(PING_AFTER)
        });
        let read = tokio::select! {
            () = crate::shutdown::wait() => {
                let _ = tokio::time::timeout(Duration::from_secs(2), socket.close(None)).await;
                return Ok(Ended::Stopped);
            }
            read = tokio::time::timeout(wait, socket.next()) => read,
        };
        let message = match read {
            Err(_) if until.is_some_and(|t| Instant::now() >= t) => return Ok(Ended::Closed),
            Err(_) if heard.elapsed() >= SILENT_LIMIT => {
                return Err(format!(
                    "slack_app: Slack has been silent for {} s",
                    SILENT_LIMIT.as_secs()
                ));
            }
            Err(_) => {
                socket::send(socket, Message::Ping(Vec::new().into())).await?;
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
        let ack = match socket::frame(&text) {
            Frame::Disconnect(reason) => return Ok(Ended::Disconnect(reason)),
            Frame::Envelope { id, kind, payload } if kind == "slash_commands" => {
                let mut guard = guard.lock().unwrap_or_else(|e| e.into_inner());
                // A command sent again gets its first acknowledgement, and no second answer.
                let answer = guard.earlier(&id).unwrap_or_else(|| {
                    let answer = command(app, spec, &mut guard, payload);
                    guard.remember(&id, answer.clone());
                    answer
                });
                socket::ack(&id, answer)
            }
            // Events and interactions are not for tally: acknowledged, nothing more.
            Frame::Envelope { id, .. } => socket::ack(&id, None),
            Frame::Hello | Frame::Other => continue,
        };
        socket::send(socket, ack).await?;
    }
}

/// Handles a slash command: what goes in its acknowledgement (a refusal, `help`, a mistake);
/// an answer that reads the store is computed apart and posted to the command's
/// `response_url`.
fn command(app: &Arc<App>, spec: &SlackAppSpec, guard: &mut Guard, payload: Json) -> Option<Json> {
    let field = |name: &str| payload[name].as_str().unwrap_or_default().to_string();
    let (channel, user) = (field("channel_id"), field("user_id"));
    if let Some(refusal) = guard.admit(&channel, &user, Instant::now()) {
        tracing::info!("slack_app: refused a command of {user} in {channel}: {refusal}");
        return Some(Reply::line(refusal).payload(false));
    }
    let (asked, public) = command::parse(&field("text"));
    tracing::info!("slack_app: {user} asked {} in {channel}", verb(&asked));
    if matches!(asked, Asked::Help | Asked::Wrong(_)) {
        return Some(answer::answer(&app.config, &spec.command, &asked).payload(public));
    }
    let response_url = field("response_url");
    if app.queued.fetch_add(1, Ordering::SeqCst) >= MAX_QUEUED {
        app.queued.fetch_sub(1, Ordering::SeqCst);
        return Some(
            Reply::line("tally is busy with other answers: ask again in a minute.").payload(false),
        );
    }
    let (app, name) = (Arc::clone(app), spec.command.clone());
    tokio::spawn(async move {
        let (config, computing) = (Arc::clone(&app.config), Arc::clone(&app.computing));
        let permit = computing.acquire_owned().await;
        let reply = tokio::task::spawn_blocking(move || answer::answer(&config, &name, &asked))
            .await
            .unwrap_or_else(|_| Reply::line("tally could not answer: the answer failed"));
        drop(permit);
        app.queued.fetch_sub(1, Ordering::SeqCst);
        respond(&app.http, &response_url, reply.payload(public)).await;
    });
    None
}

/// The command's verb, for the log (the text may hold anything).
fn verb(asked: &Asked) -> &'static str {
    match asked {
        Asked::User { .. } => "user",
        Asked::Report { .. } => "report",
        Asked::Status => "status",
        Asked::Help => "help",
        Asked::Wrong(_) => "(not a command)",
    }
}

/// Posts an answer to the command's `response_url`, once (a post whose answer is lost is not
/// repeated: the asker would see it twice). The URL is never logged: it admits whoever has it.
async fn respond(http: &reqwest::Client, response_url: &str, mut payload: Json) {
    if url::Url::parse(response_url).map_or(true, |u| !matches!(u.scheme(), "https" | "http")) {
        tracing::warn!("slack_app: a command came without a usable response_url");
        return;
    }
    payload["replace_original"] = Json::Bool(false);
    let what = "slack_app: answering through response_url";
    let sent = http::send_once(what, || {
        http.post(response_url)
            .timeout(Duration::from_secs(30))
            .json(&payload)
    })
    .await;
    match sent {
        Ok(r) if r.status().is_success() => {}
        Ok(r) => tracing::warn!("{what}: HTTP {}", r.status()),
        Err(e) => tracing::warn!("{}", e.message()),
    }
}
