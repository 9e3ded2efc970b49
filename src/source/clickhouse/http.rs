//! ClickHouse's HTTP interface: the client and the settings every query carries (`readonly=1`,
//! `max_execution_time`, the URL's own), a query sent and its answer's status read, small answers
//! read whole, and the server's exceptions and the network's failures in plain words.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;

use super::tsv::unescape;
use crate::secret::Secret;
use crate::source::tls::{self, Tls, TlsMode};
use crate::source::{
    BoxFuture, Calls, Failure, SourceError, SourceSpec, chain, io_error, io_is_transient,
};

/// Server errors a new request may cure: network errors (210), socket timeouts (209), too many
/// queries at once (202), a replica or ZooKeeper that is away (242, 999, 225), an aborted query
/// (236, the server is shutting down).
const TRANSIENT_CODES: [u32; 7] = [202, 209, 210, 225, 236, 242, 999];

/// `TIMEOUT_EXCEEDED`: `max_execution_time` stopped the query.
const TIMEOUT_CODE: u32 = 159;

/// The names of ClickHouse's JDBC driver, for messages about TLS.
const TLS_NAMES: tls::Names = tls::Names {
    mode: ["sslmode", "verify-ca", "strict"],
    ca: "sslrootcert",
    require: "none",
};

/// The HTTP side of a ClickHouse session.
pub(super) struct Transport {
    client: reqwest::Client,
    /// `http(s)://host:port/`, with no credentials.
    endpoint: url::Url,
    user: String,
    password: Option<Secret>,
    /// The URL's own parameters (settings), then tally's, which win.
    params: Vec<(String, String)>,
    /// The database of tables named without one.
    pub(super) database: String,
    /// True over HTTPS.
    pub(super) encrypted: bool,
    /// The TLS settings and the host, for plain words about certificates.
    tls: Tls,
    host: String,
    pub(super) calls: Calls,
}

impl Transport {
    /// The client for `spec`'s URL (port 8123, or 8443 with TLS), with its user, password,
    /// database and settings.
    pub(super) fn new(spec: &SourceSpec, calls: Calls) -> Result<Transport, SourceError> {
        let url = url::Url::parse(spec.url.expose()).map_err(|e| calls.at("reading the URL", e))?;
        let encrypted = spec.tls.mode != TlsMode::Disable;
        let host = url.host_str().unwrap_or("localhost").to_string();
        let port = url.port().unwrap_or(if encrypted { 8443 } else { 8123 });
        let scheme = if encrypted { "https" } else { "http" };
        let endpoint = url::Url::parse(&format!("{scheme}://{}:{port}/", bracketed(&host)))
            .map_err(|e| calls.at("reading the URL", e))?;
        let decode = |t: &str| {
            percent_encoding::percent_decode_str(t)
                .decode_utf8_lossy()
                .into_owned()
        };
        let user = match url.username() {
            "" => "default".to_string(),
            name => decode(name),
        };
        let password = url.password().map(|p| Secret::new(decode(p)));
        let database = match url.path().trim_matches('/') {
            "" => "default".to_string(),
            db => decode(db),
        };
        Ok(Transport {
            client: client(spec, encrypted).map_err(|m| calls.at("setting up HTTP", m))?,
            params: settings(spec, &url, &database),
            endpoint,
            user,
            password,
            database,
            encrypted,
            tls: spec.tls.clone(),
            host,
            calls,
        })
    }

    /// Sends `sql` and returns the response once its status says the query started well.
    pub(super) async fn send(
        &self,
        sql: &str,
        settings: &[(&str, &str)],
        context: &str,
    ) -> Result<reqwest::Response, SourceError> {
        let mut url = self.endpoint.clone();
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in &self.params {
                if settings.iter().all(|(s, _)| s != k) {
                    query.append_pair(k, v);
                }
            }
            for (k, v) in settings {
                query.append_pair(k, v);
            }
        }
        let body = format!("{sql} FORMAT TabSeparatedWithNamesAndTypes");
        let request = self
            .client
            .post(url)
            .basic_auth(&self.user, self.password.as_ref().map(Secret::expose))
            .body(body);
        let response = request
            .send()
            .await
            .map_err(|e| self.http_error(context, &e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        Err(self.server_error(context, &text, status))
    }

    /// A small query's whole result (tally's own queries: a few rows).
    pub(super) async fn table(
        &self,
        sql: &str,
        settings: &[(&str, &str)],
    ) -> Result<Table, SourceError> {
        let response = self.send(sql, settings, "querying").await?;
        let text = response
            .text()
            .await
            .map_err(|e| self.http_error("reading an answer", &e))?;
        let mut lines = text.lines();
        let _names = lines.next();
        let types: Vec<String> = lines
            .next()
            .map(|l| {
                l.split('\t')
                    .map(|t| unescape(t).ok().flatten().unwrap_or_default())
                    .collect()
            })
            .unwrap_or_default();
        let rows = lines
            .map(|l| l.split('\t').map(|t| unescape(t).ok().flatten()).collect())
            .collect();
        Ok(Table { types, rows })
    }

    /// A failed request: the network (a reset or refused connection is worth another try), or
    /// TLS (in plain words).
    pub(super) fn http_error(&self, context: &str, e: &reqwest::Error) -> SourceError {
        let failure = match io_error(e) {
            Some(io) if io_is_transient(io) => Failure::Transient,
            _ if e.is_connect() || e.is_request() || e.is_body() => Failure::Transient,
            _ => Failure::Permanent,
        };
        if let Some(words) = tls::explain(e, &self.tls, &self.host, TLS_NAMES) {
            return self.calls.at(context, words);
        }
        let mut message = chain(e);
        if let Some(url) = e.url() {
            // reqwest names the URL, whose query holds the settings; the host is enough.
            message = message.replace(url.as_str(), &format!("{}://{}", url.scheme(), self.host));
        }
        self.calls.failed(context, message, failure)
    }

    /// An exception from the server: `Code: 60, e.displayText() = DB::Exception: ...` (18.x) or
    /// `Code: 60. DB::Exception: ... (UNKNOWN_TABLE)` (later).
    pub(super) fn server_error(
        &self,
        context: &str,
        text: &str,
        status: reqwest::StatusCode,
    ) -> SourceError {
        let text = text.trim();
        let code: Option<u32> = text
            .strip_prefix("Code: ")
            .and_then(|rest| {
                rest.split(|c: char| !c.is_ascii_digit())
                    .next()
                    .map(str::to_string)
            })
            .and_then(|digits| digits.parse().ok());
        let message = text
            .split_once("DB::Exception: ")
            .map_or(text, |(_, m)| m)
            .trim_end_matches(", e.what() = DB::Exception")
            .trim()
            .to_string();
        let failure = match code {
            Some(TIMEOUT_CODE) => Failure::Timeout,
            Some(c) if TRANSIENT_CODES.contains(&c) => Failure::Transient,
            None if status.is_server_error() => Failure::Transient,
            _ => Failure::Permanent,
        };
        let message = match code {
            Some(c) => format!("{message} (ClickHouse error {c})"),
            None if message.is_empty() => format!("HTTP {status}"),
            None => format!("HTTP {status}: {message}"),
        };
        self.calls.failed(context, message, failure)
    }

    /// What cancels a query by its id from outside its request: `KILL QUERY` in a request of
    /// its own (not read-only: ClickHouse refuses KILL in a read-only request).
    pub(super) fn killer(&self) -> impl Fn(&str) -> BoxFuture<'static, Result<(), String>> + use<> {
        let mut url = self.endpoint.clone();
        url.query_pairs_mut()
            .append_pair("database", &self.database);
        let (client, user, password) = (
            self.client.clone(),
            self.user.clone(),
            self.password.clone(),
        );
        move |id: &str| {
            let request = client
                .post(url.clone())
                .basic_auth(&user, password.as_ref().map(Secret::expose))
                .body(format!("KILL QUERY WHERE query_id = {} ASYNC", literal(id)));
            Box::pin(async move {
                let response = request.send().await.map_err(|e| e.to_string())?;
                match response.status() {
                    s if s.is_success() => Ok(()),
                    s => Err(format!(
                        "HTTP {s}: {}",
                        response.text().await.unwrap_or_default()
                    )),
                }
            })
        }
    }
}

/// The settings every query carries: the URL's own, then the database, `max_execution_time`
/// (whole seconds: ClickHouse 18 reads no fractions) and `readonly=1`, which tally's win over.
fn settings(spec: &SourceSpec, url: &url::Url, database: &str) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != "readonly" && k != "max_execution_time")
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    params.push(("database".into(), database.to_string()));
    if !spec.statement_timeout.is_zero() {
        let secs = spec.statement_timeout.as_millis().div_ceil(1000);
        params.push(("max_execution_time".into(), secs.to_string()));
    }
    params.push(("readonly".into(), "1".into()));
    params
}

/// The HTTP client, with the source's TLS settings over HTTPS.
fn client(spec: &SourceSpec, encrypted: bool) -> Result<reqwest::Client, String> {
    // reqwest's rustls wants a process-wide provider even for plain HTTP; installing it again is
    // harmless.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(spec.connect_timeout)
        .user_agent(concat!("tally/", env!("CARGO_PKG_VERSION")));
    if encrypted {
        builder = builder.use_preconfigured_tls(tls::client_config(&spec.tls)?);
    }
    builder.build().map_err(|e| e.to_string())
}

/// A ClickHouse result as text: the column names and types, then rows.
pub(super) struct Table {
    /// The column types.
    pub(super) types: Vec<String>,
    /// The rows, each cell unescaped (`None` for NULL).
    pub(super) rows: Vec<Vec<Option<String>>>,
}

/// A `query_id` no other query of this process has used.
pub(super) fn query_id() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "tally-{}-{}-{}",
        std::process::id(),
        Utc::now().timestamp_millis(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// A string literal.
pub(super) fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// An IPv6 host in brackets, as URLs write it.
fn bracketed(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}
