//! A local stand-in for Slack's Web API that checks requests the way the real one does (method,
//! bearer token, content types, body shapes, the order of the upload steps and the uploaded
//! bytes) and answers errors, 429s or nothing on demand.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value as Json, json};

pub const TOKEN: &str = "xoxb-test-token-1234";

/// A forced answer for the next call of a method.
#[derive(Clone, Copy)]
pub enum Reply {
    /// `{"ok": false, "error": ...}`.
    Error(&'static str),
    /// HTTP 429 with `Retry-After`.
    TooMany(u64),
    /// HTTP 503.
    Unavailable,
    /// No answer for a long time (the client is killed meanwhile).
    Hang,
    /// Answers as usual (to let one call through before a forced one).
    Pass,
    /// Does what was asked, then answers HTTP 500 (the answer is lost).
    DoThen500,
    /// Does what was asked, then answers after this many seconds (the client has given up).
    DoSlowly(u64),
    /// Does what was asked, then says nothing for a long time (the client is killed meanwhile).
    DoThenHang,
}

#[derive(Default)]
pub struct State {
    /// Every call: (path, what the server saw or did).
    pub calls: Vec<String>,
    /// Posted messages.
    pub messages: Vec<Json>,
    /// Uploaded bytes by file ID.
    pub uploads: HashMap<String, Vec<u8>>,
    /// Declared upload lengths by file ID.
    pub declared: HashMap<String, usize>,
    /// File names by file ID.
    pub names: HashMap<String, String>,
    /// Completed uploads: (file ID, channel, thread_ts).
    pub completed: Vec<(String, String, String)>,
    /// Forced answers, by method.
    pub forced: HashMap<String, VecDeque<Reply>>,
    /// Requests that broke Slack's rules.
    pub violations: Vec<String>,
    /// The scopes `auth.test` reports (`x-oauth-scopes`); the usual ones when `None`.
    pub scopes: Option<String>,
    /// Whether the bot is a member of C0TEST.
    pub outsider: bool,
}

pub struct SlackServer {
    pub url: String,
    pub state: Arc<Mutex<State>>,
}

pub struct Request {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

pub fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    headers.insert(":method".into(), method);
    Some(Request {
        path,
        headers,
        body,
    })
}

/// An answer: status, extra header lines, body.
type Answer = (&'static str, String, String);

pub fn respond(stream: &mut TcpStream, status: &str, extra: &str, body: &str) {
    let _ = write!(
        stream,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n{body}",
        body.len()
    );
}

impl SlackServer {
    pub fn start() -> SlackServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let shared = Arc::clone(&state);
        let base = format!("http://{addr}");
        let upload_base = base.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let state = Arc::clone(&shared);
                let base = upload_base.clone();
                std::thread::spawn(move || serve(stream, &state, &base));
            }
        });
        SlackServer {
            url: format!("{base}/api"),
            state,
        }
    }

    /// Answers the next calls of `method` with `replies`, in order.
    pub fn force(&self, method: &str, replies: &[Reply]) {
        self.state
            .lock()
            .unwrap()
            .forced
            .entry(method.into())
            .or_default()
            .extend(replies.iter().cloned());
    }

    /// Every call so far: the path and what the server saw or did.
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }
}

fn serve(stream: TcpStream, state: &Mutex<State>, base: &str) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some(req) = read_request(&mut reader) {
        let method = req.path.trim_start_matches("/api/").to_string();
        let forced = state
            .lock()
            .unwrap()
            .forced
            .get_mut(&method)
            .and_then(VecDeque::pop_front);
        state.lock().unwrap().calls.push(req.path.clone());
        match forced {
            Some(Reply::Hang) => {
                std::thread::sleep(Duration::from_secs(30));
                return;
            }
            Some(Reply::Pass) => {}
            Some(Reply::DoThen500) => {
                let _ = handle(&req, &method, state, base);
                respond(&mut writer, "500 Internal Server Error", "", "{}");
                continue;
            }
            Some(Reply::DoSlowly(secs)) => {
                let (status, extra, body) = handle(&req, &method, state, base);
                std::thread::sleep(Duration::from_secs(secs));
                respond(&mut writer, status, &extra, &body);
                continue;
            }
            Some(Reply::DoThenHang) => {
                let _ = handle(&req, &method, state, base);
                std::thread::sleep(Duration::from_secs(30));
                return;
            }
            Some(Reply::TooMany(secs)) => {
                respond(
                    &mut writer,
                    "429 Too Many Requests",
                    &format!("retry-after: {secs}\r\n"),
                    "{\"ok\":false,\"error\":\"ratelimited\"}",
                );
                continue;
            }
            Some(Reply::Unavailable) => {
                respond(&mut writer, "503 Service Unavailable", "", "{}");
                continue;
            }
            Some(Reply::Error(code)) => {
                let body = json!({"ok": false, "error": code, "needed": "chat:write"}).to_string();
                respond(&mut writer, "200 OK", "", &body);
                continue;
            }
            None => {}
        }
        let (status, extra, body) = handle(&req, &method, state, base);
        respond(&mut writer, status, &extra, &body);
    }
}

fn handle(req: &Request, method: &str, state: &Mutex<State>, base: &str) -> Answer {
    let (status, body) = answer(req, method, state, base);
    let extra =
        if method == "auth.test" {
            let scopes =
                state.lock().unwrap().scopes.clone().unwrap_or_else(|| {
                    "chat:write,files:write,channels:history,channels:read".into()
                });
            format!("x-oauth-scopes: {scopes}\r\n")
        } else {
            String::new()
        };
    (status, extra, body)
}

fn answer(req: &Request, method: &str, state: &Mutex<State>, base: &str) -> (&'static str, String) {
    let mut s = state.lock().unwrap();
    let ctype = req.headers.get("content-type").cloned().unwrap_or_default();
    if req.headers[":method"] != "POST" {
        s.violations
            .push(format!("{} {}", req.headers[":method"], req.path));
    }
    // An incoming webhook: the URL is the secret, no token; answers plain text.
    if req.path.starts_with("/services/") {
        let body: Json = serde_json::from_slice(&req.body).unwrap_or(Json::Null);
        if !ctype.starts_with("application/json") || !body["blocks"].is_array() {
            s.violations.push(format!("webhook: {ctype} {body}"));
            return ("400 Bad Request", "invalid_payload".into());
        }
        s.messages.push(body);
        return ("200 OK", "ok".into());
    }
    if let Some(id) = req.path.strip_prefix("/upload/") {
        let declared = s.declared.get(id).copied();
        if declared != Some(req.body.len()) {
            let problem = format!(
                "upload {id}: {} bytes, declared {declared:?}",
                req.body.len()
            );
            s.violations.push(problem);
        }
        s.uploads.insert(id.to_string(), req.body.clone());
        return ("200 OK", "OK".into());
    }
    if req.headers.get("authorization").map(String::as_str) != Some(&format!("Bearer {TOKEN}")) {
        return (
            "200 OK",
            json!({"ok": false, "error": "not_authed"}).to_string(),
        );
    }
    let ok = |extra: Json| {
        let mut v = json!({"ok": true});
        v.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        v.to_string()
    };
    match method {
        "chat.postMessage" => {
            let body: Json = serde_json::from_slice(&req.body).unwrap_or(Json::Null);
            if !ctype.starts_with("application/json")
                || !body["blocks"].is_array()
                || !body["text"].is_string()
                || !body["channel"].is_string()
            {
                s.violations
                    .push(format!("chat.postMessage: {ctype} {body}"));
                return (
                    "200 OK",
                    json!({"ok": false, "error": "invalid_arguments"}).to_string(),
                );
            }
            s.messages.push(body);
            let ts = format!("1764400000.{:06}", s.messages.len());
            ("200 OK", ok(json!({"ts": ts, "channel": "C0TEST"})))
        }
        "auth.test" => (
            "200 OK",
            ok(json!({"user": "tally", "team": "Test team", "user_id": "U0BOT"})),
        ),
        "conversations.info" => {
            let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
            match form.get("channel").map(String::as_str) {
                Some("C0TEST") => (
                    "200 OK",
                    ok(
                        json!({"channel": {"id": "C0TEST", "name": "rewards", "is_member": !s.outsider}}),
                    ),
                ),
                _ => (
                    "200 OK",
                    json!({"ok": false, "error": "channel_not_found"}).to_string(),
                ),
            }
        }
        "conversations.history" => {
            // Form arguments, as Slack takes them; messages newest first, with their metadata
            // only when asked for.
            let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
            if !ctype.starts_with("application/x-www-form-urlencoded")
                || form.get("channel").map(String::as_str) != Some("C0TEST")
                || !form.contains_key("oldest")
            {
                s.violations
                    .push(format!("conversations.history: {ctype} {form:?}"));
                return (
                    "200 OK",
                    json!({"ok": false, "error": "invalid_arguments"}).to_string(),
                );
            }
            let metadata = form.get("include_all_metadata").map(String::as_str) == Some("true");
            // The channel's own messages: replies stay in their threads.
            let messages = listed(&s.messages, metadata, |m| !m["thread_ts"].is_string());
            (
                "200 OK",
                ok(json!({"messages": messages, "has_more": false})),
            )
        }
        "conversations.replies" => {
            let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
            let Some(thread) = form.get("ts").cloned() else {
                s.violations
                    .push(format!("conversations.replies without ts: {form:?}"));
                return (
                    "200 OK",
                    json!({"ok": false, "error": "invalid_arguments"}).to_string(),
                );
            };
            let metadata = form.get("include_all_metadata").map(String::as_str) == Some("true");
            let known = (1..=s.messages.len()).any(|i| format!("1764400000.{i:06}") == thread);
            if !known {
                return (
                    "200 OK",
                    json!({"ok": false, "error": "thread_not_found"}).to_string(),
                );
            }
            // The thread: its first message, then the replies, oldest first.
            let mut messages = listed(&s.messages, metadata, |m| m["thread_ts"] == thread.as_str());
            messages.reverse();
            (
                "200 OK",
                ok(json!({"messages": messages, "has_more": false})),
            )
        }
        "files.getUploadURLExternal" => {
            let form: HashMap<String, String> = url::form_urlencoded::parse(&req.body)
                .into_owned()
                .collect();
            let length = form.get("length").and_then(|l| l.parse().ok());
            if !ctype.starts_with("application/x-www-form-urlencoded")
                || !form.contains_key("filename")
                || length.is_none()
            {
                s.violations
                    .push(format!("getUploadURLExternal: {ctype} {form:?}"));
                return (
                    "200 OK",
                    json!({"ok": false, "error": "invalid_arguments"}).to_string(),
                );
            }
            let id = format!("F{}", s.declared.len() + 1);
            s.declared.insert(id.clone(), length.unwrap());
            s.names.insert(id.clone(), form["filename"].clone());
            (
                "200 OK",
                ok(json!({"upload_url": format!("{base}/upload/{id}"), "file_id": id})),
            )
        }
        "files.completeUploadExternal" => {
            let body: Json = serde_json::from_slice(&req.body).unwrap_or(Json::Null);
            let id = body["files"][0]["id"].as_str().unwrap_or("").to_string();
            if !s.uploads.contains_key(&id) {
                s.violations.push(format!(
                    "completeUploadExternal before the bytes of {id} arrived"
                ));
            }
            let channel = body["channel_id"].as_str().unwrap_or("").to_string();
            let thread = body["thread_ts"].as_str().unwrap_or("").to_string();
            s.completed.push((id.clone(), channel, thread));
            ("200 OK", ok(json!({"files": [{"id": id}]})))
        }
        other => {
            s.violations.push(format!("unexpected method {other}"));
            (
                "404 Not Found",
                json!({"ok": false, "error": "unknown_method"}).to_string(),
            )
        }
    }
}

/// The posted messages that `keep` keeps, newest first, as Slack lists them (with their metadata
/// only when asked for).
fn listed(messages: &[Json], metadata: bool, keep: impl Fn(&Json) -> bool) -> Vec<Json> {
    messages
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, m)| keep(m))
        .map(|(i, m)| {
            let mut out = json!({"type": "message", "ts": format!("1764400000.{:06}", i + 1), "text": m["text"]});
            if let Some(thread) = m["thread_ts"].as_str() {
                out["thread_ts"] = json!(thread);
            }
            if metadata && m["metadata"].is_object() {
                out["metadata"] = m["metadata"].clone();
            }
            out
        })
        .collect()
}
