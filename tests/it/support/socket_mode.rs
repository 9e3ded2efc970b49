//! A local stand-in for Slack's Socket Mode: `apps.connections.open` (HTTP, checks the app-level
//! token the way Slack does) hands out the URL of a local WebSocket server that speaks the
//! envelope protocol: `hello` on connect, slash commands as envelopes, acknowledgements checked
//! against their envelope and Slack's 3 seconds, `disconnect` and dropped connections on demand.
//! Answers sent later go to the commands' `response_url`, served here too.

use std::collections::HashMap;
use std::io::BufReader;
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use tokio_tungstenite::tungstenite::{Message, WebSocket, accept};

use super::slack_server::{read_request, respond};

pub const APP_TOKEN: &str = "xapp-1-A0TEST-secret-app-token-5678";

/// What the server is told to do on the open connection.
enum Order {
    Send(String),
    /// `disconnect` (refresh_requested), then close.
    Disconnect,
    /// Close the TCP connection without a word.
    Drop,
}

#[derive(Default)]
struct State {
    /// `apps.connections.open` calls.
    opens: usize,
    /// Connections that got their `hello`.
    hellos: usize,
    /// The open connection.
    current: Option<Sender<Order>>,
    /// The connection that was told to leave by [`SocketMode::disconnect_slowly`].
    previous: Option<Sender<Order>>,
    /// Connections the client closed.
    closed: usize,
    /// Envelopes sent, by id: when.
    sent: HashMap<String, Instant>,
    /// Acknowledgements by envelope id: the payload (Null without one).
    acks: HashMap<String, Json>,
    /// Answers posted to response URLs, by envelope id.
    responses: HashMap<String, Json>,
    /// How many answers were posted to each response URL.
    posts: HashMap<String, usize>,
    /// Each envelope sent, by id (to send it again).
    envelopes: HashMap<String, Json>,
    /// What broke Slack's rules.
    violations: Vec<String>,
    /// Connections to come that say nothing at all (no `hello`).
    mute: usize,
}

pub struct SocketMode {
    /// The Web API base, for `slack_app.api_url`.
    pub api_url: String,
    state: Arc<Mutex<State>>,
    next: Mutex<usize>,
}

impl SocketMode {
    pub fn start() -> SocketMode {
        let state = Arc::new(Mutex::new(State::default()));
        let ws = TcpListener::bind("127.0.0.1:0").unwrap();
        let ws_url = format!("ws://{}/link/?ticket=", ws.local_addr().unwrap());
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in ws.incoming().flatten() {
                let state = Arc::clone(&shared);
                std::thread::spawn(move || connection(stream, &state));
            }
        });
        let http = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", http.local_addr().unwrap());
        let shared = Arc::clone(&state);
        std::thread::spawn(move || {
            for stream in http.incoming().flatten() {
                let state = Arc::clone(&shared);
                let ws_url = ws_url.clone();
                std::thread::spawn(move || web(stream, &state, &ws_url));
            }
        });
        SocketMode {
            api_url: format!("{base}/api"),
            state,
            next: Mutex::new(0),
        }
    }

    /// Waits until `n` connections in all got their `hello`.
    pub fn wait_connected(&self, n: usize) {
        let until = Instant::now() + Duration::from_secs(30);
        while self.state.lock().unwrap().hellos < n {
            assert!(Instant::now() < until, "no connection number {n}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The next `n` connections say nothing, not even `hello`.
    pub fn mute(&self, n: usize) {
        self.state.lock().unwrap().mute = n;
    }

    /// How many times `apps.connections.open` was called.
    pub fn opens(&self) -> usize {
        self.state.lock().unwrap().opens
    }

    /// Sends the slash command `text` from `user` in `channel`; returns the envelope id.
    pub fn command(&self, text: &str, user: &str, channel: &str) -> String {
        self.command_on(text, user, channel, false)
    }

    /// [`SocketMode::command`] on the connection told to leave.
    pub fn command_on_previous(&self, text: &str, user: &str, channel: &str) -> String {
        self.command_on(text, user, channel, true)
    }

    fn command_on(&self, text: &str, user: &str, channel: &str, previous: bool) -> String {
        let id = self.next_id();
        let base = self.api_url.trim_end_matches("/api");
        let envelope = json!({
            "envelope_id": id,
            "type": "slash_commands",
            "accepts_response_payload": true,
            "payload": {
                "token": "deprecated-verification-token",
                "team_id": "T0TEST",
                "channel_id": channel,
                "channel_name": "rewards",
                "user_id": user,
                "user_name": "someone",
                "command": "/tally",
                "text": text,
                "api_app_id": "A0TEST",
                "response_url": format!("{base}/commands/T0TEST/{id}"),
                "trigger_id": "1.2.3",
            }
        });
        let mut s = self.state.lock().unwrap();
        s.sent.insert(id.clone(), Instant::now());
        s.envelopes.insert(id.clone(), envelope.clone());
        let sender = if previous { &s.previous } else { &s.current };
        let sender = sender.as_ref().expect("no such connection");
        sender.send(Order::Send(envelope.to_string())).unwrap();
        id
    }

    /// Sends envelope `id` again, as Slack does when it did not get the acknowledgement
    /// (`retry_attempt` 1); waits for its new acknowledgement.
    pub fn resend(&self, id: &str) {
        {
            let mut s = self.state.lock().unwrap();
            let mut envelope = s.envelopes[id].clone();
            envelope["retry_attempt"] = json!(1);
            envelope["retry_reason"] = json!("timeout");
            s.acks.remove(id);
            s.sent.insert(id.to_string(), Instant::now());
            let sender = s.current.as_ref().expect("no open connection");
            sender.send(Order::Send(envelope.to_string())).unwrap();
        }
        let until = Instant::now() + Duration::from_secs(5);
        while !self.acked(id) {
            assert!(
                Instant::now() < until,
                "{id} sent again was not acknowledged"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How many answers were posted to the response URL of envelope `id`.
    pub fn posts(&self, id: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .posts
            .get(id)
            .copied()
            .unwrap_or(0)
    }

    /// The answer to envelope `id`: the acknowledgement's payload, or, after an empty one, what
    /// was posted to the response URL.
    pub fn answer(&self, id: &str) -> Json {
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            {
                let s = self.state.lock().unwrap();
                match s.acks.get(id) {
                    Some(Json::Null) => {
                        if let Some(r) = s.responses.get(id) {
                            return r.clone();
                        }
                    }
                    Some(payload) => return payload.clone(),
                    None => {}
                }
            }
            assert!(Instant::now() < until, "no answer to {id}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether envelope `id` was acknowledged without an answer (which then went to the
    /// response URL).
    pub fn acked_empty(&self, id: &str) -> bool {
        self.state.lock().unwrap().acks.get(id) == Some(&Json::Null)
    }

    /// Whether envelope `id` was acknowledged.
    pub fn acked(&self, id: &str) -> bool {
        self.state.lock().unwrap().acks.contains_key(id)
    }

    /// Sends `disconnect` on the open connection, then closes it.
    pub fn disconnect(&self) {
        let s = self.state.lock().unwrap();
        s.current.as_ref().unwrap().send(Order::Disconnect).unwrap();
    }

    /// Sends `disconnect` on the open connection and keeps it open (as Slack does for a while).
    pub fn disconnect_slowly(&self) {
        let mut s = self.state.lock().unwrap();
        let current = s.current.clone().unwrap();
        let frame = json!({"type": "disconnect", "reason": "refresh_requested"});
        current.send(Order::Send(frame.to_string())).unwrap();
        s.previous = Some(current);
    }

    /// How many connections the client closed.
    pub fn closed(&self) -> usize {
        self.state.lock().unwrap().closed
    }

    /// Drops the open connection without a word.
    pub fn drop_connection(&self) {
        let s = self.state.lock().unwrap();
        s.current.as_ref().unwrap().send(Order::Drop).unwrap();
    }

    /// A new envelope id.
    fn next_id(&self) -> String {
        let mut next = self.next.lock().unwrap();
        *next += 1;
        format!("env-{}", *next)
    }

    /// Sends an envelope that is not a command (an event).
    pub fn event(&self) -> String {
        let id = self.next_id();
        let envelope = json!({"envelope_id": id, "type": "events_api", "payload": {"event": {"type": "app_mention"}}});
        let mut s = self.state.lock().unwrap();
        s.sent.insert(id.clone(), Instant::now());
        s.current
            .as_ref()
            .unwrap()
            .send(Order::Send(envelope.to_string()))
            .unwrap();
        id
    }

    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }
}

/// One WebSocket connection: `hello`, then envelopes out and acknowledgements in.
fn connection(stream: TcpStream, state: &Mutex<State>) {
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .unwrap();
    let Ok(mut ws) = accept(stream) else {
        return;
    };
    {
        let mut s = state.lock().unwrap();
        if s.mute > 0 {
            s.mute -= 1;
            drop(s);
            // Holds the connection open, silent, until the client leaves.
            loop {
                match ws.read() {
                    Err(tokio_tungstenite::tungstenite::Error::Io(e))
                        if matches!(
                            e.kind(),
                            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                        ) => {}
                    Ok(Message::Close(_)) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        }
    }
    let (orders, inbox): (Sender<Order>, Receiver<Order>) = channel();
    ws.send(Message::text(
        json!({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0TEST"}})
            .to_string(),
    ))
    .unwrap();
    {
        let mut s = state.lock().unwrap();
        s.current = Some(orders);
        s.hellos += 1;
    }
    loop {
        match ws.read() {
            Ok(Message::Text(text)) => ack(&text, state),
            Ok(Message::Close(_)) => {
                state.lock().unwrap().closed += 1;
                return;
            }
            Ok(_) => {}
            Err(tokio_tungstenite::tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
        while let Ok(order) = inbox.try_recv() {
            if !obey(&mut ws, order) {
                return;
            }
        }
    }
}

/// Carries out an order; false when the connection is over.
fn obey(ws: &mut WebSocket<TcpStream>, order: Order) -> bool {
    match order {
        Order::Send(text) => ws.send(Message::text(text)).is_ok(),
        Order::Disconnect => {
            let _ = ws.send(Message::text(
                json!({"type": "disconnect", "reason": "refresh_requested", "debug_info": {"host": "local"}})
                    .to_string(),
            ));
            let _ = ws.close(None);
            let _ = ws.flush();
            false
        }
        Order::Drop => {
            let _ = ws.get_mut().shutdown(std::net::Shutdown::Both);
            false
        }
    }
}

/// Checks an acknowledgement: a known envelope, within 3 seconds, once, a payload of the right
/// shape.
fn ack(text: &str, state: &Mutex<State>) {
    let mut s = state.lock().unwrap();
    let Ok(doc) = serde_json::from_str::<Json>(text) else {
        s.violations.push(format!("not JSON: {text}"));
        return;
    };
    let Some(id) = doc["envelope_id"].as_str() else {
        s.violations.push(format!("no envelope_id: {text}"));
        return;
    };
    let sent = s.sent.get(id).copied();
    match sent {
        None => s.violations.push(format!("unknown envelope {id}")),
        Some(at) if at.elapsed() > Duration::from_secs(3) => s
            .violations
            .push(format!("{id} acknowledged after {:?}", at.elapsed())),
        Some(_) => {}
    }
    if s.acks.contains_key(id) {
        s.violations.push(format!("{id} acknowledged twice"));
    }
    let payload = doc["payload"].clone();
    if !payload.is_null() {
        check_message(&payload, &mut s.violations);
    }
    s.acks.insert(id.to_string(), payload);
}

/// A command's answer as Slack takes it: a response type, a text, 1 to 50 blocks, header texts
/// within 150 characters, section and context texts within 3,000, tables of at most 100 rows
/// and 20 columns.
fn check_message(m: &Json, violations: &mut Vec<String>) {
    if !matches!(
        m["response_type"].as_str(),
        Some("ephemeral" | "in_channel")
    ) {
        violations.push(format!("response_type: {}", m["response_type"]));
    }
    match m["text"].as_str() {
        Some(t) if t.chars().count() <= 40_000 => {}
        _ => violations.push("no text, or too long a text".into()),
    }
    let blocks = m["blocks"].as_array().cloned().unwrap_or_default();
    if blocks.is_empty() || blocks.len() > 50 {
        violations.push(format!("{} blocks", blocks.len()));
    }
    let mut texts: Vec<(usize, String)> = Vec::new();
    for b in &blocks {
        let limit = if b["type"] == "header" { 150 } else { 3000 };
        if let Some(t) = b["text"]["text"].as_str() {
            texts.push((limit, t.to_string()));
        }
        for e in b["elements"].as_array().into_iter().flatten() {
            texts.push((3000, e["text"].as_str().unwrap_or("").to_string()));
        }
        if b["type"] == "table" {
            let rows = b["rows"].as_array().cloned().unwrap_or_default();
            if rows.len() > 100
                || rows
                    .iter()
                    .any(|r| r.as_array().is_none_or(|c| c.len() > 20))
            {
                violations.push("a table over 100 rows or 20 columns".into());
            }
        }
    }
    for (limit, text) in texts {
        if text.chars().count() > limit {
            violations.push(format!("a text of {} characters", text.chars().count()));
        }
    }
}

/// The Web API part: `apps.connections.open` and the response URLs.
fn web(stream: TcpStream, state: &Mutex<State>, ws_url: &str) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader) {
        let mut s = state.lock().unwrap();
        if req.headers[":method"] != "POST" {
            s.violations
                .push(format!("{} {}", req.headers[":method"], req.path));
        }
        if let Some(id) = req
            .path
            .rsplit('/')
            .next()
            .filter(|_| req.path.starts_with("/commands/"))
        {
            let ctype = req.headers.get("content-type").cloned().unwrap_or_default();
            let body: Json = serde_json::from_slice(&req.body).unwrap_or(Json::Null);
            if !ctype.starts_with("application/json") {
                s.violations.push(format!("response_url: {ctype}"));
            }
            if req.headers.contains_key("authorization") {
                s.violations.push("a token sent to a response_url".into());
            }
            check_message(&body, &mut s.violations);
            s.responses.insert(id.to_string(), body);
            *s.posts.entry(id.to_string()).or_default() += 1;
            drop(s);
            respond(&mut writer, "200 OK", "", "ok");
            continue;
        }
        if req.path != "/api/apps.connections.open" {
            drop(s);
            respond(&mut writer, "404 Not Found", "", "{}");
            continue;
        }
        s.opens += 1;
        let body = if req.headers.get("authorization").map(String::as_str)
            == Some(&format!("Bearer {APP_TOKEN}"))
        {
            json!({"ok": true, "url": format!("{ws_url}{}", s.opens)})
        } else if req
            .headers
            .get("authorization")
            .is_some_and(|a| a.starts_with("Bearer xoxb-"))
        {
            json!({"ok": false, "error": "not_allowed_token_type"})
        } else {
            json!({"ok": false, "error": "invalid_auth"})
        };
        drop(s);
        respond(&mut writer, "200 OK", "", &body.to_string());
    }
}
