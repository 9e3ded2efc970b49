//! A source's URL taken apart: its driver (by scheme), the TLS parameters tally reads itself, the
//! rest for the driver byte for byte, and the URL to show, with its password masked.

use std::path::PathBuf;

use super::tls::{self, Tls};
use super::{Driver, driver_for, schemes};
use crate::check::Checker;

/// A source URL, taken apart.
pub(super) struct ParsedUrl {
    /// The database's driver, found by the URL's scheme.
    pub driver: &'static dyn Driver,
    /// What the driver gets: the URL without the TLS parameters.
    pub url: String,
    /// The URL with its password masked.
    pub display: String,
    /// For a file source, the file.
    pub path: Option<PathBuf>,
    /// The TLS settings.
    pub tls: Tls,
    /// The driver is the one the URL names (not a stand-in while its scheme is not known).
    pub driver_known: bool,
}

impl ParsedUrl {
    /// What a URL that could not be read stands for while the other checks go on.
    fn broken() -> ParsedUrl {
        ParsedUrl {
            driver: driver_for("postgres").expect("the PostgreSQL driver"),
            url: String::new(),
            display: String::new(),
            path: None,
            tls: Tls::none(),
            driver_known: false,
        }
    }

    /// A URL that waits for a `${VAR}` that is not set: its driver when the scheme is written
    /// before the first `${` (`postgres://tally:${PW}@db/chain`), else a stand-in.
    pub(super) fn waiting(written: &str) -> ParsedUrl {
        let before = written.split("${").next().unwrap_or("");
        let driver = before
            .split_once("://")
            .and_then(|(scheme, _)| driver_for(&scheme.to_ascii_lowercase()));
        ParsedUrl {
            display: "***".to_string(),
            driver_known: driver.is_some(),
            driver: driver.unwrap_or(ParsedUrl::broken().driver),
            ..ParsedUrl::broken()
        }
    }
}

pub(super) fn parse_url(c: &mut Checker, key: &str, url: &str) -> ParsedUrl {
    let url_key = format!("{key}.url");
    if url.trim().is_empty() {
        if !c.has_issue(&url_key) {
            c.issue(url_key, "is empty");
        }
        return ParsedUrl::broken();
    }
    let scheme = url.split_once("://").map_or("", |(s, _)| s);
    let Some(driver) = driver_for(&scheme.to_ascii_lowercase()) else {
        c.issue(
            url_key,
            format!("unsupported scheme `{scheme}://` (use {})", schemes()),
        );
        return ParsedUrl::broken();
    };
    if driver.capabilities().file {
        return file_url(c, &url_key, driver, url, scheme);
    }
    let parsed = match url::Url::parse(url) {
        Ok(u) => u,
        Err(e) => {
            c.issue(url_key, format!("not a valid URL: {e}"));
            return ParsedUrl::broken();
        }
    };
    let display = display_url(&parsed);
    let names = driver.tls_params();
    // The query is taken apart by hand, segment by segment: the TLS parameters come out, and the
    // others go to the driver byte for byte (re-encoding would turn `%20` into `+`, which
    // tokio-postgres reads as a plus).
    let mut tls_pairs = Vec::new();
    let mut rest = Vec::new();
    for segment in parsed
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|s| !s.is_empty())
    {
        let (k, v) = segment.split_once('=').unwrap_or((segment, ""));
        let decode = |t: &str| {
            percent_encoding::percent_decode_str(t)
                .decode_utf8_lossy()
                .into_owned()
        };
        if names.contains(&decode(k).as_str()) {
            tls_pairs.push((decode(k), decode(v)));
        } else {
            rest.push(segment);
        }
    }
    let tls = tls::settings(c, &url_key, driver.tls(&tls_pairs));
    let mut driver_url = parsed.clone();
    driver_url.set_query((!rest.is_empty()).then(|| rest.join("&")).as_deref());
    ParsedUrl {
        driver,
        url: driver_url.to_string(),
        display,
        path: None,
        tls,
        driver_known: true,
    }
}

/// `scheme://PATH` of a file source, relative to the config file. A file is read in place: no
/// TLS parameters.
fn file_url(
    c: &mut Checker,
    key: &str,
    driver: &'static dyn Driver,
    url: &str,
    scheme: &str,
) -> ParsedUrl {
    let path = &url[scheme.len() + 3..];
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    if path.is_empty() {
        c.issue(key, format!("{scheme}:// needs a file path"));
    }
    let tls_names = ["ssl", "tls", "secure"];
    if query.split('&').any(|p| {
        let name = p.split('=').next().unwrap_or("").to_ascii_lowercase();
        tls_names.iter().any(|t| name.contains(t))
    }) {
        c.issue(
            key,
            format!("a {scheme}:// file is read in place: it has no TLS settings"),
        );
    }
    ParsedUrl {
        driver,
        url: url.to_string(),
        display: url.to_string(),
        path: Some(c.path(path)),
        tls: Tls::none(),
        driver_known: true,
    }
}

/// The URL with its password, and any password parameter, replaced by `***`; both are added to
/// the secrets that are never printed.
fn display_url(parsed: &url::Url) -> String {
    let mut display = parsed.clone();
    if let Some(password) = parsed.password() {
        crate::secret::remember(password);
        let _ = display.set_password(Some("***"));
    }
    // libpq-style URLs may carry the password as a query parameter.
    let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    if pairs.iter().any(|(k, _)| k.contains("password")) {
        let mut masked = display.query_pairs_mut();
        masked.clear();
        for (k, v) in &pairs {
            if k.contains("password") {
                crate::secret::remember(v);
                masked.append_pair(k, "***");
            } else {
                masked.append_pair(k, v);
            }
        }
    }
    display.to_string()
}
