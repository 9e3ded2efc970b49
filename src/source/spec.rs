//! `[sources.NAME]`: as written ([`SourceConfig`]), checked ([`SourceSpec`]), and the checks
//! between them: the URL (scheme, password, TLS parameters), timeouts, pacing and the load and
//! lag thresholds.

use std::path::PathBuf;
use std::time::Duration;

use chrono_tz::Tz;
use serde::Deserialize;

use super::tls::Tls;
use super::url::{ParsedUrl, parse_url};
use super::{Driver, LoadFigures};
use crate::check::Checker;
use crate::secret::Secret;

/// `[sources.NAME]`: one database.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Connection URL; `${VAR}` is replaced from the environment or the env file.
    pub url: String,
    /// How to read naive DATETIME/TIMESTAMP columns.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Time limit of one slice query.
    #[serde(default = "default_statement_timeout")]
    pub statement_timeout: String,
    /// Time limit of connecting (TCP, TLS, login, session setup).
    #[serde(default = "default_connect_timeout")]
    pub connect_timeout: String,
    /// Pause between two slice queries to this source: `auto` or a duration.
    #[serde(default = "default_pause")]
    pub pause: String,
    /// Space slice queries out so that this source sends at most this many rows per second.
    pub max_rows_per_second: Option<u64>,
    /// Connections that run slice queries at the same time.
    #[serde(default = "default_parallel")]
    pub parallel: i64,
    /// Load thresholds, like `Threads_running=25` (MySQL) or `active=25` (PostgreSQL).
    pub max_load: Option<String>,
    /// How long slice queries wait for the load or the lag to come down.
    #[serde(default = "default_max_load_wait")]
    pub max_load_wait: String,
    /// Highest replica lag at which slice queries start (`0s`: no check).
    pub max_lag: Option<String>,
    /// The longest time one slice's queries may take on the source, with their retries and
    /// halvings (default: 10 × `statement_timeout`).
    pub max_slice_time: Option<String>,
    /// Functions beyond tally's built-in list that the rollups' SQL may call (the user's
    /// responsibility: they must not write or wait).
    #[serde(default)]
    pub allow_functions: Vec<String>,
}

fn default_timezone() -> String {
    "UTC".into()
}

fn default_statement_timeout() -> String {
    "60s".into()
}

fn default_parallel() -> i64 {
    1
}

fn default_pause() -> String {
    "auto".into()
}

fn default_connect_timeout() -> String {
    "10s".into()
}

fn default_max_load_wait() -> String {
    "10m".into()
}

/// A checked `[sources.NAME]`.
#[derive(Debug, Clone)]
pub struct SourceSpec {
    /// The source's name in the config.
    pub name: String,
    /// The database's driver, found by the URL's scheme.
    pub driver: &'static dyn Driver,
    /// The connection URL, without the TLS parameters tally reads itself: a secret, since it
    /// may hold a password (print `display_url`).
    pub url: Secret,
    /// The URL with its password replaced by `***`.
    pub display_url: String,
    /// The URL waits for a `${VAR}` that is not set: commands that reach the source refuse to
    /// run ([`crate::check::Checked::deferred`]).
    pub waiting: bool,
    /// `driver` is the one the URL names; false while a waiting URL hides its scheme, and the
    /// rollups' SQL cannot be read in its dialect yet.
    pub driver_known: bool,
    /// For file sources (`sqlite://PATH`), the file, relative to the config file.
    pub path: Option<PathBuf>,
    /// How the connection is encrypted and verified.
    pub tls: Tls,
    /// Zone of naive timestamps in this source.
    pub timezone: Tz,
    /// Time limit of one slice query.
    pub statement_timeout: Duration,
    /// Time limit of connecting: TCP, TLS handshake, login and session setup.
    pub connect_timeout: Duration,
    /// Pause between two slice queries.
    pub pause: Pause,
    /// Most rows per second this source sends (slice queries are spaced out to keep under it).
    pub max_rows_per_second: Option<u64>,
    /// Connections that run slice queries at the same time (1 to [`MAX_PARALLEL`]).
    pub parallel: usize,
    /// Load thresholds: no slice query starts while one of them is exceeded.
    pub max_load: Vec<LoadLimit>,
    /// How long to wait for the load (or the lag) to come down before the sync fails.
    pub max_load_wait: Duration,
    /// Highest replica lag at which slice queries start; `None` turns the check off.
    pub max_lag: Option<Duration>,
    /// The longest time one slice's queries may take on the source, with their retries and
    /// halvings; `None` when slice queries have no statement timeout and none is set.
    pub max_slice_time: Option<Duration>,
    /// Functions the rollups' SQL may call beyond the driver's list, lower case (`schema.name`
    /// or `name`).
    pub allow_functions: Vec<String>,
}

/// The pause between two slice queries on one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pause {
    /// A share of the previous query's time ([`AUTO_PAUSE_SHARE`]), at most [`AUTO_PAUSE_MAX`].
    Auto,
    /// A fixed pause (zero: none).
    Fixed(Duration),
}

/// With `pause = "auto"`, the pause after a query is its time divided by this: the source
/// spends at most 4/5 of a connection's time on tally's queries.
pub const AUTO_PAUSE_SHARE: u32 = 4;

/// The longest automatic pause.
pub const AUTO_PAUSE_MAX: Duration = Duration::from_secs(5);

/// One `max_load` threshold, like `Threads_running=25`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadLimit {
    /// The load figure: a MySQL `SHOW GLOBAL STATUS` variable, or `active` for PostgreSQL.
    pub name: String,
    /// Slice queries wait while the figure is above this.
    pub max: u64,
}

/// The most connections a source may use at once.
pub const MAX_PARALLEL: usize = 16;

/// Checks one source.
pub fn check(c: &mut Checker, name: &str, s: &SourceConfig) -> SourceSpec {
    let key = format!("sources.{name}");
    let (parsed, url, display_url, waiting) = url(c, &key, &s.url);
    let k = |field: &str| format!("{key}.{field}");
    let statement_timeout = c.duration_in(
        &k("statement_timeout"),
        &s.statement_timeout,
        Duration::ZERO,
        Duration::from_secs(24 * 3600),
    );
    if !statement_timeout.is_zero() && statement_timeout < Duration::from_millis(100) {
        // Drivers count in milliseconds or less precisely: a tiny limit would become none.
        c.issue(
            k("statement_timeout"),
            format!(
                "`{}` is out of range: use \"0s\" (no limit) or 100ms to 24h",
                s.statement_timeout
            ),
        );
    }
    let connect_timeout = c.duration_in(
        &k("connect_timeout"),
        &s.connect_timeout,
        Duration::from_millis(100),
        Duration::from_secs(3600),
    );
    let pause = match s.pause.trim() {
        "auto" => Pause::Auto,
        text => Pause::Fixed(c.duration_in(
            &k("pause"),
            text,
            Duration::ZERO,
            Duration::from_secs(3600),
        )),
    };
    let max_load_wait = c.duration_in(
        &k("max_load_wait"),
        &s.max_load_wait,
        Duration::ZERO,
        Duration::from_secs(24 * 3600),
    );
    let (max_load, max_lag) = thresholds(c, &key, parsed.driver, s);
    let max_slice_time = max_slice_time(c, &k("max_slice_time"), s, statement_timeout);
    let allow_functions = s
        .allow_functions
        .iter()
        .enumerate()
        .filter_map(|(i, f)| function_name(c, &format!("{key}.allow_functions[{i}]"), f))
        .collect();
    SourceSpec {
        name: name.to_string(),
        driver: parsed.driver,
        url,
        display_url,
        waiting,
        driver_known: parsed.driver_known,
        path: parsed.path,
        tls: parsed.tls,
        timezone: c.tz(&k("timezone"), &s.timezone),
        statement_timeout,
        connect_timeout,
        pause,
        max_rows_per_second: s
            .max_rows_per_second
            .map(|n| c.count(&k("max_rows_per_second"), n, 1, u64::MAX)),
        parallel: parallel(c, &k("parallel"), s.parallel),
        max_load,
        max_load_wait,
        max_lag,
        max_slice_time,
        allow_functions,
    }
}

/// The source's URL taken apart, the URL as a secret, how it is shown, and whether it waits for
/// a `${VAR}` that is not set (only the commands that reach the source need it, see
/// `Checker::interpolate_for`).
fn url(c: &mut Checker, key: &str, written: &str) -> (ParsedUrl, Secret, String, bool) {
    let Some(url) = c.interpolate_for(key, &format!("{key}.url"), written) else {
        let parsed = ParsedUrl::waiting(written);
        let display = parsed.display.clone();
        return (parsed, Secret::default(), display, true);
    };
    let mut parsed = parse_url(c, key, &url);
    // A URL that is one `${VAR}` is a secret as a whole; in any other, its password is (and
    // was remembered on its own), so that the host, port and database can be seen.
    let (secret, display) = if crate::check::env::is_reference(written) {
        (
            Secret::new(std::mem::take(&mut parsed.url)),
            "***".to_string(),
        )
    } else {
        let display = parsed.display.clone();
        (
            Secret::with_parts_remembered(std::mem::take(&mut parsed.url)),
            display,
        )
    };
    (parsed, secret, display, false)
}

/// The longest `max_slice_time`.
const MAX_SLICE_TIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// `max_slice_time`: 1 s to 7 days, and no shorter than `statement_timeout` (the first query
/// alone may take that long); by default 10 × `statement_timeout`, or none when slice queries
/// have no timeout.
fn max_slice_time(
    c: &mut Checker,
    key: &str,
    s: &SourceConfig,
    statement_timeout: Duration,
) -> Option<Duration> {
    let Some(text) = &s.max_slice_time else {
        return (!statement_timeout.is_zero())
            .then(|| (statement_timeout * 10).min(MAX_SLICE_TIME));
    };
    let limit = c.duration_in(key, text, Duration::from_secs(1), MAX_SLICE_TIME);
    if limit < statement_timeout {
        c.issue(
            key,
            format!(
                "`{text}` is shorter than statement_timeout ({}): one slice query may take that long",
                humantime::format_duration(statement_timeout)
            ),
        );
    }
    Some(limit)
}

/// A name of `allow_functions`: `name` or `schema.name`, lower case.
fn function_name(c: &mut Checker, key: &str, name: &str) -> Option<String> {
    let valid = !name.is_empty()
        && name.split('.').count() <= 2
        && name.split('.').all(|part| {
            part.chars()
                .next()
                .is_some_and(|ch| ch.is_ascii_alphabetic() || ch == '_')
                && part
                    .chars()
                    .all(|ch| ch.is_ascii_alphanumeric() || ch == '_')
        });
    if !valid {
        c.issue(
            key,
            format!("`{name}` is not a function name: use `name` or `schema.name`"),
        );
        return None;
    }
    Some(name.to_ascii_lowercase())
}

/// `max_load` and `max_lag`, with each driver's defaults; a source without load figures or a
/// replica lag (a file) takes neither.
fn thresholds(
    c: &mut Checker,
    key: &str,
    driver: &dyn Driver,
    s: &SourceConfig,
) -> (Vec<LoadLimit>, Option<Duration>) {
    let can = driver.capabilities();
    let unfit = |what: &str| {
        if can.file {
            format!(
                "not for {}:// sources (a file has no server load or replica lag)",
                driver.schemes()[0]
            )
        } else {
            format!("not for {} sources: they have no {what}", driver.name())
        }
    };
    let load = match (can.load, &s.max_load) {
        (Some(figures), text) => load_limits(
            c,
            &format!("{key}.max_load"),
            driver,
            figures,
            text.as_deref().unwrap_or(figures.default),
        ),
        (None, Some(_)) => {
            c.issue(format!("{key}.max_load"), unfit("server load"));
            Vec::new()
        }
        (None, None) => Vec::new(),
    };
    let lag = match (can.lag, &s.max_lag) {
        (true, text) => c.duration_in(
            &format!("{key}.max_lag"),
            text.as_deref().unwrap_or("30s"),
            Duration::ZERO,
            Duration::from_secs(7 * 24 * 3600),
        ),
        (false, Some(_)) => {
            c.issue(format!("{key}.max_lag"), unfit("replica lag"));
            Duration::ZERO
        }
        (false, None) => Duration::ZERO,
    };
    (load, (!lag.is_zero()).then_some(lag))
}

/// `max_load`: `NAME=N` thresholds separated by commas, the way gh-ost writes them; `""` or
/// `"none"` turns the check off.
fn load_limits(
    c: &mut Checker,
    key: &str,
    driver: &dyn Driver,
    figures: LoadFigures,
    text: &str,
) -> Vec<LoadLimit> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    let mut limits = Vec::new();
    for part in text.split(',').map(str::trim) {
        let Some((name, max)) = part.split_once('=') else {
            c.issue(
                key,
                format!("`{part}` must be NAME=NUMBER, like \"{}\"", figures.default),
            );
            continue;
        };
        let name = name.trim();
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '_');
        if !valid {
            c.issue(key, format!("`{name}` is not a load figure name"));
            continue;
        }
        if !figures.names.is_empty() && !figures.names.contains(&name) {
            c.issue(
                key,
                format!(
                    "{} sources measure {} (like \"{}\"), not `{name}`",
                    driver.name(),
                    figures.measure,
                    figures.default
                ),
            );
            continue;
        }
        match max.trim().parse::<u64>() {
            Ok(max) => limits.push(LoadLimit {
                name: name.to_string(),
                max,
            }),
            Err(_) => c.issue(
                key,
                format!(
                    "`{}` in `{part}` is not a whole number of 0 or more",
                    max.trim()
                ),
            ),
        }
    }
    limits
}

/// `parallel`: 1 to [`MAX_PARALLEL`] connections.
fn parallel(c: &mut Checker, key: &str, n: i64) -> usize {
    match usize::try_from(n) {
        Ok(n) if (1..=MAX_PARALLEL).contains(&n) => n,
        _ => {
            c.issue(
                key,
                format!("must be between 1 and {MAX_PARALLEL} connections, not {n}"),
            );
            1
        }
    }
}
