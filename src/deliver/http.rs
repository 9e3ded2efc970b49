//! HTTP with bounded retries: 429 waits for `Retry-After`, 5xx and network errors back off.

use std::time::Duration;

use reqwest::{RequestBuilder, Response, StatusCode};

/// Attempts per request, the first included.
const ATTEMPTS: u32 = 4;
/// Longest `Retry-After` tally waits for.
const MAX_WAIT: Duration = Duration::from_secs(60);

/// A shared client that speaks TLS with rustls and the ring provider (no system OpenSSL).
pub fn client() -> reqwest::Client {
    // Installing twice is harmless: the second call reports that a provider is already set.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("tally/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("HTTP client with rustls")
}

/// Sends the request built by `build`, retrying 429s, 5xx answers and network errors a bounded
/// number of times. Other answers (2xx, 4xx) are returned as they are.
pub async fn send(what: &str, build: impl Fn() -> RequestBuilder) -> Result<Response, String> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last = attempt == ATTEMPTS;
        let wait = match build().send().await {
            Ok(r) if r.status() == StatusCode::TOO_MANY_REQUESTS && !last => retry_after(&r),
            Ok(r) if r.status().is_server_error() && !last => backoff(attempt),
            Ok(r) => return Ok(r),
            // reqwest's message names the URL's host and path, never a header.
            Err(e) if !last => {
                tracing::debug!("{what}: {}", without_url(e));
                backoff(attempt)
            }
            Err(e) => return Err(format!("{what}: {}", without_url(e))),
        };
        tracing::warn!(
            "{what}: retrying in {:.1}s (attempt {attempt} of {ATTEMPTS})",
            wait.as_secs_f64()
        );
        tokio::time::sleep(wait).await;
    }
}

/// How a request that must not be repeated blindly went wrong.
#[derive(Debug)]
pub enum PostError {
    /// It certainly did not take effect (refused before it was sent, rate-limited, or a clear
    /// error answer): trying again cannot duplicate it.
    NotPosted(String),
    /// It may have taken effect (a 5xx answer, a timeout, a connection lost after sending).
    MaybePosted(String),
}

impl PostError {
    /// The message either way.
    pub fn message(&self) -> &str {
        match self {
            PostError::NotPosted(m) | PostError::MaybePosted(m) => m,
        }
    }
}

/// Sends a request that posts something (a message), retrying only what certainly did not
/// arrive: a connection that could not be made, and 429 answers (after `Retry-After`). A 5xx
/// answer or a failure once the request was on its way is a [`PostError::MaybePosted`], for the caller
/// to settle (Slack: look for the message before posting again). Other answers are returned.
pub async fn send_once(
    what: &str,
    build: impl Fn() -> RequestBuilder,
) -> Result<Response, PostError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let last = attempt == ATTEMPTS;
        let wait = match build().send().await {
            Ok(r) if r.status() == StatusCode::TOO_MANY_REQUESTS && !last => retry_after(&r),
            Ok(r) if r.status().is_server_error() => {
                return Err(PostError::MaybePosted(format!(
                    "{what}: HTTP {}",
                    r.status()
                )));
            }
            Ok(r) => return Ok(r),
            Err(e) if e.is_connect() && !last => {
                tracing::debug!("{what}: {}", without_url(e));
                backoff(attempt)
            }
            Err(e) if e.is_connect() || e.is_builder() => {
                return Err(PostError::NotPosted(format!("{what}: {}", without_url(e))));
            }
            Err(e) => {
                return Err(PostError::MaybePosted(format!(
                    "{what}: {}",
                    without_url(e)
                )));
            }
        };
        tracing::warn!(
            "{what}: retrying in {:.1}s (attempt {attempt} of {ATTEMPTS})",
            wait.as_secs_f64()
        );
        tokio::time::sleep(wait).await;
    }
}

fn retry_after(r: &Response) -> Duration {
    r.headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(Duration::from_secs(1), Duration::from_secs)
        .min(MAX_WAIT)
}

fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250 * 2u64.pow(attempt - 1))
}

/// The error without its URL: webhook URLs are secrets.
fn without_url(e: reqwest::Error) -> String {
    let e = e.without_url();
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(&e);
    while let Some(c) = cause {
        text = format!("{text}: {c}");
        cause = c.source();
    }
    text
}
