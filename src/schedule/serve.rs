//! `[schedule] listen`: `GET /metrics` (the Prometheus text format) and `GET /healthz` (`200 ok`,
//! or `503` and why), served on a thread of their own, so that a run never blocks them and they
//! never block a run. Any other path is 404, any other method 405.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};

/// Starts serving on `addr`; returns the address bound (the port, when `addr` asked for 0).
/// The store's size in the metrics is read from `store`.
pub fn start(addr: SocketAddr, store: PathBuf) -> Result<SocketAddr, String> {
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| format!("schedule.listen: cannot listen on {addr}: {e}"))?;
    let bound = listener.local_addr().unwrap_or(addr);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("schedule.listen: {e}"))?;
    std::thread::Builder::new()
        .name("tally-http".into())
        .spawn(move || runtime.block_on(accept(listener, store)))
        .map_err(|e| format!("schedule.listen: {e}"))?;
    Ok(bound)
}

async fn accept(listener: std::net::TcpListener, store: PathBuf) {
    let listener = match tokio::net::TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("schedule.listen: {e}");
            return;
        }
    };
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            // Out of file descriptors, say: try again a little later.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let store = store.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| answer(req, store.clone()));
            // A client that sends nothing is dropped after 10 s.
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(10))
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn answer(
    req: Request<Incoming>,
    store: PathBuf,
) -> Result<Response<Full<Bytes>>, Infallible> {
    const TEXT: &str = "text/plain; charset=utf-8";
    if req.method() != Method::GET {
        return Ok(reply(
            StatusCode::METHOD_NOT_ALLOWED,
            TEXT,
            "only GET\n".into(),
        ));
    }
    Ok(match req.uri().path() {
        "/metrics" => reply(
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            crate::metrics::text(store_bytes(&store)),
        ),
        "/healthz" => {
            match crate::metrics::health(chrono::Utc::now().timestamp(), last_success(&store)) {
                Ok(()) => reply(StatusCode::OK, TEXT, "ok\n".into()),
                Err(why) => reply(StatusCode::SERVICE_UNAVAILABLE, TEXT, format!("{why}\n")),
            }
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            TEXT,
            "not found: try /metrics or /healthz\n".into(),
        ),
    })
}

fn reply(status: StatusCode, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

/// When the last successful run started, from the store's run history (a manual `tally run`
/// counts); `None` when it cannot be read.
fn last_success(store: &Path) -> Option<i64> {
    crate::store::Store::inspect(store)
        .and_then(|s| s.last_success())
        .ok()
        .flatten()
        .map(|t| t.timestamp())
}

/// The store file, its write-ahead log and its shared-memory file, in bytes.
fn store_bytes(store: &Path) -> u64 {
    ["", "-wal", "-shm"]
        .iter()
        .filter_map(|suffix| {
            let mut name = store.as_os_str().to_owned();
            name.push(suffix);
            std::fs::metadata(PathBuf::from(name)).ok()
        })
        .map(|m| m.len())
        .sum()
}
