//! `[schedule] heartbeat`: pings for healthchecks.io and compatible services, so that someone
//! hears about it when runs stop coming at all: `GET URL/start` when a run starts, `POST URL`
//! with the run's summary when it succeeds, `POST URL/fail` with the error when it fails. A
//! ping never fails a run and never delays it by more than 10 seconds (three tries within
//! them); the URL is a secret.

use std::time::{Duration, Instant};

use crate::secret::{Secret, mask_secrets};

/// How long a ping may take, all tries included.
const BUDGET: Duration = Duration::from_secs(10);
/// Tries per ping.
const TRIES: u32 = 3;

/// A heartbeat URL and its client.
pub struct Heartbeat {
    url: Secret,
    client: reqwest::Client,
}

impl Heartbeat {
    /// Pings for `url`, when one is configured.
    pub fn new(url: Option<&Secret>) -> Option<Heartbeat> {
        url.map(|url| Heartbeat {
            url: url.clone(),
            client: crate::deliver::http_client(),
        })
    }

    /// A run starts.
    pub async fn start(&self) {
        self.ping("/start", None).await;
    }

    /// A run succeeded; `summary` is its one line.
    pub async fn success(&self, summary: &str) {
        self.ping("", Some(summary)).await;
    }

    /// A run failed (after its retries); `error` says why.
    pub async fn fail(&self, error: &str) {
        self.ping("/fail", Some(error)).await;
    }

    async fn ping(&self, path: &str, body: Option<&str>) {
        let url = format!("{}{path}", self.url.expose());
        let started = Instant::now();
        let mut last = String::new();
        for attempt in 0..TRIES {
            let left = BUDGET.saturating_sub(started.elapsed());
            if left.is_zero() {
                break;
            }
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(300).min(left)).await;
            }
            let request = match body {
                Some(text) => self.client.post(&url).body(mask_secrets(text)),
                None => self.client.get(&url),
            };
            let left = BUDGET.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, request.send()).await {
                Ok(Ok(response)) if response.status().is_success() => return,
                Ok(Ok(response)) => last = format!("HTTP {}", response.status()),
                Ok(Err(e)) => last = e.without_url().to_string(),
                Err(_) => last = format!("no answer within {} s", BUDGET.as_secs()),
            }
        }
        tracing::warn!(
            "heartbeat{}: {}; the run goes on",
            if path.is_empty() { "" } else { path },
            mask_secrets(&last)
        );
    }
}
