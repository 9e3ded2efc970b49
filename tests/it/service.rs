//! Operating it like a service: the daemon's `/metrics` and `/healthz` after real runs, the
//! heartbeat pings (a local stand-in records them), systemd's notifications on a datagram
//! socket, and secrets read from `VAR_FILE` and `$CREDENTIALS_DIRECTORY`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{daemon, output, small_segment_rewards, stop};

/// A free local port (bound and released: good enough for a test).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET path` on the daemon: the status code and the body.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let code = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
    Some((code, body))
}

/// Waits up to 60 s for `check` to hold.
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A heartbeat stand-in: records `METHOD PATH BODY` of each request and answers 200.
fn heartbeat_server() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/ping/abc-secret-uuid",
        listener.local_addr().unwrap()
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            reader.read_line(&mut line).unwrap_or_default();
            let mut length = 0;
            loop {
                let mut header = String::new();
                if reader.read_line(&mut header).unwrap_or(0) == 0 || header == "\r\n" {
                    break;
                }
                if let Some(v) = header.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap_or_default();
            let mut parts = line.split_whitespace();
            let (method, path) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            record.lock().unwrap().push(format!(
                "{method} {path} {}",
                String::from_utf8_lossy(&body)
            ));
            let mut stream = stream;
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK");
        }
    });
    (url, seen)
}

/// The value of the metric line that starts with `name` (labels included).
fn metric(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn the_daemon_serves_metrics_health_and_heartbeats_after_real_runs() {
    let port = free_port();
    let (hb_url, pings) = heartbeat_server();
    let ws = small_segment_rewards(
        &format!(
            "[[deliver]]\nkind = \"files\"\ndir = \"out\"\n[schedule]\ncron = \"*/3 * * * * *\"\nretries = 0\n\
             listen = \"127.0.0.1:{port}\"\nheartbeat = \"${{HB_URL}}\"\n"
        ),
        &format!("HB_URL={hb_url}\n"),
    );
    let child = daemon(&ws, &[]);
    // After the catch-up run: the metrics say what the run did.
    eventually("a successful run in /metrics", || {
        get(port, "/metrics").is_some_and(|(_, m)| {
            metric(&m, "tally_runs_total{result=\"success\"}").is_some_and(|n| n >= 1.0)
        })
    });
    let (code, m) = get(port, "/metrics").unwrap();
    assert_eq!(code, 200);
    assert_eq!(metric(&m, "tally_up"), Some(1.0), "{m}");
    assert!(
        m.contains(&format!(
            "tally_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        )),
        "{m}"
    );
    let pulled = metric(&m, "tally_slices_pulled_total{rollup=\"activity\"}").unwrap();
    assert!(pulled >= 1.0, "{m}");
    assert!(
        metric(&m, "tally_rows_pulled_total{rollup=\"activity\"}").is_some(),
        "{m}"
    );
    let delivered = metric(
        &m,
        "tally_deliveries_total{destination=\"files:out\",result=\"success\"}",
    );
    assert!(delivered.is_some_and(|n| n >= 1.0), "{m}");
    assert!(metric(&m, "tally_store_bytes").unwrap() > 4096.0, "{m}");
    assert!(
        metric(&m, "tally_last_success_timestamp_seconds").unwrap() > 1.7e9,
        "{m}"
    );
    assert!(
        metric(&m, "tally_next_run_timestamp_seconds").unwrap() > 1.7e9,
        "{m}"
    );
    assert!(m.contains("tally_run_duration_seconds_count"), "{m}");
    // Midnight (UTC, the config's zone) of yesterday: the report date delivered.
    let yesterday = chrono::Utc::now().date_naive() - chrono::Days::new(1);
    let midnight = yesterday
        .and_hms_opt(0, 0, 0)
        .unwrap()
        .and_utc()
        .timestamp() as f64;
    let day = metric(
        &m,
        "tally_report_last_day_timestamp_seconds{report=\"rewards_by_segment\"}",
    )
    .unwrap();
    assert!(
        day == midnight || day == midnight + 86_400.0,
        "{day} {midnight}"
    );
    assert!(!m.contains("abc-secret-uuid"), "{m}");
    assert_eq!(get(port, "/healthz").unwrap(), (200, "ok\n".into()));
    assert_eq!(get(port, "/nope").unwrap().0, 404);
    // The heartbeat heard a start and a success with the run's summary.
    eventually("a start and a success ping", || {
        let p = pings.lock().unwrap();
        p.iter()
            .any(|l| l.starts_with("GET /ping/abc-secret-uuid/start"))
            && p.iter()
                .any(|l| l.starts_with("POST /ping/abc-secret-uuid tally: the run for"))
    });
    // The source goes away: the next run fails (no retries), /healthz says so, and the
    // heartbeat hears `fail`.
    std::fs::rename(ws.path().join("src.sqlite"), ws.path().join("gone.sqlite")).unwrap();
    eventually("/healthz to turn 503", || {
        get(port, "/healthz").is_some_and(|(code, _)| code == 503)
    });
    let (_, why) = get(port, "/healthz").unwrap();
    assert!(why.starts_with("the last run failed: "), "{why}");
    assert!(
        metric(
            &get(port, "/metrics").unwrap().1,
            "tally_runs_total{result=\"failure\"}"
        )
        .unwrap()
            >= 1.0
    );
    eventually("a fail ping", || {
        pings
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.starts_with("POST /ping/abc-secret-uuid/fail "))
    });
    // It comes back: the next good run turns /healthz 200 again.
    std::fs::rename(ws.path().join("gone.sqlite"), ws.path().join("src.sqlite")).unwrap();
    eventually("/healthz to turn 200", || {
        get(port, "/healthz").is_some_and(|(code, _)| code == 200)
    });
    let err = stop(child);
    assert!(!err.contains("abc-secret-uuid"), "{err}");
}

#[test]
fn systemd_hears_ready_status_watchdog_and_stopping() {
    let port = free_port();
    let ws = small_segment_rewards(
        &format!("[schedule]\ncron = \"0 0 * * *\"\nlisten = \"127.0.0.1:{port}\"\n"),
        "",
    );
    let socket_path = ws.path().join("notify.sock");
    let socket = UnixDatagram::bind(&socket_path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let child = daemon(
        &ws,
        &[
            ("NOTIFY_SOCKET", socket_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "2000000"),
        ],
    );
    let mut seen: Vec<String> = Vec::new();
    let mut buf = [0u8; 4096];
    let receive = |seen: &mut Vec<String>, buf: &mut [u8]| {
        let n = socket.recv(buf).expect("a notification");
        seen.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    };
    // Ready, then the catch-up run, then the next run's time, with watchdog pings.
    while !seen.iter().any(|s| s.contains("STATUS=next run ")) {
        receive(&mut seen, &mut buf);
    }
    let all = seen.join("\n");
    assert!(all.contains("READY=1"), "{all}");
    // One run so far (the catch-up): its slices and rows are the metrics'.
    let (_, m) = get(port, "/metrics").unwrap();
    let pulled = ws.query("SELECT pulled FROM _tally_runs")[0]
        .trim_matches('"')
        .to_string();
    for part in pulled.split("; ") {
        let (rollup, counts) = part.split_once(": ").unwrap();
        let (slices, rows) = counts.split_once(" slices, ").unwrap();
        let rows = rows.trim_end_matches(" rows");
        let label = format!("{{rollup=\"{rollup}\"}}");
        assert_eq!(
            metric(&m, &format!("tally_slices_pulled_total{label}")),
            Some(slices.parse().unwrap()),
            "{pulled}\n{m}"
        );
        assert_eq!(
            metric(&m, &format!("tally_rows_pulled_total{label}")),
            Some(rows.parse().unwrap()),
            "{pulled}\n{m}"
        );
    }
    assert_eq!(
        metric(&m, "tally_runs_total{result=\"success\"}"),
        Some(1.0),
        "{m}"
    );
    assert!(all.contains("STATUS=syncing"), "{all}");
    // Idle, it still pings the watchdog (every second with a 2 s interval).
    let before = seen.iter().filter(|s| s.contains("WATCHDOG=1")).count();
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(4) {
        receive(&mut seen, &mut buf);
    }
    assert!(
        seen.iter().filter(|s| s.contains("WATCHDOG=1")).count() >= before + 2,
        "{seen:?}"
    );
    let err = stop(child);
    while !seen.iter().any(|s| s.contains("STOPPING=1")) {
        receive(&mut seen, &mut buf);
    }
    assert!(err.contains("tally daemon stopped"), "{err}");
}

#[test]
fn secrets_come_from_var_file_and_the_credentials_directory() {
    let ws = small_segment_rewards("", "");
    let config = std::fs::read_to_string(ws.config())
        .unwrap()
        .replace("url = \"sqlite://src.sqlite\"", "url = \"${SRC_URL}\"");
    std::fs::write(ws.config(), config).unwrap();
    let report = [
        "report",
        "rewards_by_segment",
        "--date",
        "2026-11-10",
        "--format",
        "csv",
    ];
    // SRC_URL_FILE: one trailing newline is not part of the value.
    let file = ws.path().join("src_url");
    std::fs::write(&file, "sqlite://src.sqlite\n").unwrap();
    let out = ws
        .command(&report)
        .env("SRC_URL_FILE", &file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let csv = String::from_utf8_lossy(&out.stdout).to_string();
    // $CREDENTIALS_DIRECTORY/SRC_URL, as systemd's LoadCredential= makes it.
    let creds = ws.path().join("creds");
    std::fs::create_dir(&creds).unwrap();
    std::fs::write(creds.join("SRC_URL"), "sqlite://src.sqlite").unwrap();
    let out = ws
        .command(&report)
        .env("CREDENTIALS_DIRECTORY", &creds)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), csv);
    // The environment variable wins over both.
    let out = ws
        .command(&report)
        .env("SRC_URL", "sqlite://src.sqlite")
        .env("SRC_URL_FILE", ws.path().join("missing"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A VAR_FILE that cannot be read: exit 2, naming SRC_URL_FILE and the path, not the content.
    for path in [ws.path().join("missing"), creds.clone()] {
        let out = ws
            .command(&report)
            .env("SRC_URL_FILE", &path)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains("SRC_URL_FILE") && err.contains(path.to_str().unwrap()),
            "{err}"
        );
    }
    // A file of secret text that is not UTF-8 is named, its bytes never printed.
    let binary = ws.path().join("binary");
    std::fs::write(&binary, b"p\xffassw0rd-secret").unwrap();
    let out = ws
        .command(&report)
        .env("SRC_URL_FILE", &binary)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("assw0rd"), "{err}");
    let (code, text) = output(&ws, &["check"]);
    assert_eq!(code, 2, "{text}");
    assert!(text.contains("SRC_URL"), "{text}");
}

/// A heartbeat stand-in that answers every request with `status`, or never answers (`None`);
/// returns its URL and the number of requests.
fn answering(status: Option<u16>) -> (String, Arc<Mutex<usize>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hb-secret-token", listener.local_addr().unwrap());
    let count = Arc::new(Mutex::new(0));
    let seen = count.clone();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            *seen.lock().unwrap() += 1;
            match status {
                Some(code) => {
                    let mut stream = stream;
                    let mut buf = [0u8; 4096];
                    let _ = stream.read(&mut buf);
                    let _ = write!(
                        stream,
                        "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                    );
                }
                // Says nothing, and keeps the connection open.
                None => held.push(stream),
            }
        }
    });
    (url, count)
}

#[test]
fn a_heartbeat_that_fails_or_hangs_never_fails_a_run() {
    for (status, tries) in [(Some(503), 3), (None, 0)] {
        let (url, count) = answering(status);
        let ws = small_segment_rewards(
            "[schedule]\ncron = \"0 9 * * *\"\nheartbeat = \"${HB}\"\n",
            &format!("HB={url}\n"),
        );
        let start = Instant::now();
        let (code, text) = output(&ws, &["run", "--date", "2026-11-10"]);
        let took = start.elapsed();
        assert_eq!(code, 0, "{text}");
        assert!(!text.contains("hb-secret-token"), "{text}");
        assert!(text.contains("heartbeat"), "{text}");
        if status.is_some() {
            // Three tries for the start ping and three for the success ping.
            assert_eq!(*count.lock().unwrap(), 2 * tries, "{text}");
            assert!(took < Duration::from_secs(10), "{took:?}");
        } else {
            // Two pings of at most 10 s each.
            assert!(took < Duration::from_secs(25), "{took:?}");
        }
    }
}

#[test]
fn a_manual_run_that_works_clears_the_daemons_failure() {
    let port = free_port();
    let ws = small_segment_rewards(
        &format!("[schedule]\ncron = \"0 0 * * *\"\nretries = 0\nlisten = \"127.0.0.1:{port}\"\n"),
        "",
    );
    std::fs::rename(ws.path().join("src.sqlite"), ws.path().join("gone.sqlite")).unwrap();
    let child = daemon(&ws, &[]);
    // The catch-up run fails: 503 until a run works.
    eventually("/healthz to turn 503", || {
        get(port, "/healthz").is_some_and(|(code, _)| code == 503)
    });
    std::fs::rename(ws.path().join("gone.sqlite"), ws.path().join("src.sqlite")).unwrap();
    let (code, text) = output(&ws, &["run", "--wait"]);
    assert_eq!(code, 0, "{text}");
    assert_eq!(get(port, "/healthz").unwrap(), (200, "ok\n".into()));
    stop(child);
}
