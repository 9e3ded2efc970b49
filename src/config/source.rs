//! Checks of `[sources.NAME]`: the URL (scheme, password, TLS parameters), timeouts, pacing and
//! the load and lag thresholds.

use std::path::PathBuf;
use std::time::Duration;

use super::check::Checker;
use super::plan::*;
use super::raw;

/// The URL query parameters that set TLS, per driver: tally reads them itself (the drivers do
/// not know the libpq and MySQL names) and removes them from the URL it hands on.
const PG_TLS: [&str; 4] = ["sslmode", "sslrootcert", "sslcert", "sslkey"];
const MY_TLS: [&str; 11] = [
    "ssl-mode",
    "ssl_mode",
    "ssl-ca",
    "ssl_ca",
    "ssl-cert",
    "ssl_cert",
    "ssl-key",
    "ssl_key",
    "require_ssl",
    "verify_ca",
    "verify_identity",
];

/// Checks one source.
pub(super) fn source(c: &mut Checker, name: &str, s: &raw::SourceConfig) -> SourceSpec {
    let key = format!("sources.{name}");
    let url = c.env.interpolate(&s.url).unwrap_or_else(|e| {
        c.issue(format!("{key}.url"), e);
        String::new()
    });
    let parsed = parse_url(c, &key, &url);
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
    let (max_load, max_lag) = thresholds(c, &key, parsed.kind, s);
    SourceSpec {
        name: name.to_string(),
        kind: parsed.kind,
        url: parsed.url,
        display_url: parsed.display,
        sqlite_path: parsed.sqlite_path,
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
    }
}

/// `max_load` and `max_lag`, with each driver's defaults. SQLite files have neither.
fn thresholds(
    c: &mut Checker,
    key: &str,
    kind: SourceKind,
    s: &raw::SourceConfig,
) -> (Vec<LoadLimit>, Option<Duration>) {
    if kind == SourceKind::Sqlite {
        for (field, set) in [
            ("max_load", s.max_load.is_some()),
            ("max_lag", s.max_lag.is_some()),
        ] {
            if set {
                c.issue(
                    format!("{key}.{field}"),
                    "not for sqlite:// sources (a file has no server load or replica lag)",
                );
            }
        }
        return (Vec::new(), None);
    }
    let default_load = match kind {
        SourceKind::Mysql => "Threads_running=25",
        _ => "active=25",
    };
    let load = load_limits(
        c,
        &format!("{key}.max_load"),
        kind,
        s.max_load.as_deref().unwrap_or(default_load),
    );
    let lag = c.duration_in(
        &format!("{key}.max_lag"),
        s.max_lag.as_deref().unwrap_or("30s"),
        Duration::ZERO,
        Duration::from_secs(7 * 24 * 3600),
    );
    (load, (!lag.is_zero()).then_some(lag))
}

/// `max_load`: `NAME=N` thresholds separated by commas, the way gh-ost writes them; `""` or
/// `"none"` turns the check off.
fn load_limits(c: &mut Checker, key: &str, kind: SourceKind, text: &str) -> Vec<LoadLimit> {
    let text = text.trim();
    if text.is_empty() || text.eq_ignore_ascii_case("none") {
        return Vec::new();
    }
    let mut limits = Vec::new();
    for part in text.split(',').map(str::trim) {
        let Some((name, max)) = part.split_once('=') else {
            c.issue(
                key,
                format!(
                    "`{part}` must be NAME=NUMBER, like \"Threads_running=25\" or \"active=25\""
                ),
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
        if kind == SourceKind::Postgres && name != "active" {
            c.issue(
                key,
                format!("PostgreSQL sources measure `active` backends (like \"active=25\"), not `{name}`"),
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

/// A source URL, taken apart.
struct ParsedUrl {
    kind: SourceKind,
    /// What the driver gets: the URL without the TLS parameters.
    url: String,
    display: String,
    sqlite_path: Option<PathBuf>,
    tls: Tls,
}

impl ParsedUrl {
    fn broken() -> ParsedUrl {
        ParsedUrl {
            kind: SourceKind::Sqlite,
            url: String::new(),
            display: String::new(),
            sqlite_path: None,
            tls: Tls::none(),
        }
    }
}

fn parse_url(c: &mut Checker, key: &str, url: &str) -> ParsedUrl {
    let url_key = format!("{key}.url");
    if url.trim().is_empty() {
        if c.issues.iter().all(|i| i.key != url_key) {
            c.issue(url_key, "is empty");
        }
        return ParsedUrl::broken();
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        if path.is_empty() {
            c.issue(&url_key, "sqlite:// needs a file path");
        }
        if query.split('&').any(|p| {
            let name = p.split('=').next().unwrap_or("");
            PG_TLS.contains(&name) || MY_TLS.contains(&name)
        }) {
            c.issue(
                &url_key,
                "a sqlite:// file is read in place: it has no TLS settings",
            );
        }
        return ParsedUrl {
            kind: SourceKind::Sqlite,
            url: url.to_string(),
            display: url.to_string(),
            sqlite_path: Some(super::relative_to(c.config_path, path)),
            tls: Tls::none(),
        };
    }
    let parsed = match url::Url::parse(url) {
        Ok(u) => u,
        Err(e) => {
            c.issue(url_key, format!("not a valid URL: {e}"));
            return ParsedUrl::broken();
        }
    };
    let kind = match parsed.scheme() {
        "postgres" | "postgresql" => SourceKind::Postgres,
        "mysql" | "mariadb" => SourceKind::Mysql,
        other => {
            c.issue(
                url_key,
                format!("unsupported scheme `{other}://` (use postgres://, postgresql://, mysql://, mariadb:// or sqlite://PATH)"),
            );
            return ParsedUrl::broken();
        }
    };
    let display = display_url(c, &parsed);
    let names: &[&str] = match kind {
        SourceKind::Postgres => &PG_TLS,
        _ => &MY_TLS,
    };
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
    let tls = match kind {
        SourceKind::Postgres => pg_tls(c, &url_key, &tls_pairs),
        _ => mysql_tls(c, &url_key, &tls_pairs),
    };
    let mut driver_url = parsed.clone();
    driver_url.set_query((!rest.is_empty()).then(|| rest.join("&")).as_deref());
    ParsedUrl {
        kind,
        url: driver_url.to_string(),
        display,
        sqlite_path: None,
        tls,
    }
}

/// The URL with its password, and any password parameter, replaced by `***`; both are added to
/// the secrets that are never printed.
fn display_url(c: &mut Checker, parsed: &url::Url) -> String {
    let mut display = parsed.clone();
    if let Some(password) = parsed.password() {
        c.secrets.push(password.to_string());
        let decoded = percent_encoding::percent_decode_str(password).decode_utf8_lossy();
        c.secrets.push(decoded.into_owned());
        let _ = display.set_password(Some("***"));
    }
    // libpq-style URLs may carry the password as a query parameter.
    let pairs: Vec<(String, String)> = parsed.query_pairs().into_owned().collect();
    if pairs.iter().any(|(k, _)| k.contains("password")) {
        let mut masked = display.query_pairs_mut();
        masked.clear();
        for (k, v) in &pairs {
            if k.contains("password") {
                c.secrets.push(v.clone());
                masked.append_pair(k, "***");
            } else {
                masked.append_pair(k, v);
            }
        }
    }
    display.to_string()
}

/// libpq's `sslmode`, `sslrootcert`, `sslcert` and `sslkey`. As in libpq, `require` with a root
/// certificate verifies the CA, and `sslrootcert=system` means the system's CAs and
/// `verify-full`.
fn pg_tls(c: &mut Checker, key: &str, pairs: &[(String, String)]) -> Tls {
    let get = |name: &str| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let system = get("sslrootcert") == Some("system");
    let mode = match get("sslmode").map(str::to_ascii_lowercase).as_deref() {
        None if system => TlsMode::VerifyFull,
        None | Some("prefer") | Some("allow") => TlsMode::Prefer,
        Some("disable") => TlsMode::Disable,
        Some("require") => TlsMode::Require,
        Some("verify-ca") => TlsMode::VerifyCa,
        Some("verify-full") => TlsMode::VerifyFull,
        Some(other) => {
            c.issue(
                key,
                format!("sslmode `{other}` is not one of disable, prefer, require, verify-ca, verify-full"),
            );
            TlsMode::Prefer
        }
    };
    if system && mode != TlsMode::VerifyFull {
        c.issue(
            key,
            "sslrootcert=system needs sslmode=verify-full (as in libpq): the system's CAs vouch for host names",
        );
    }
    let ca = get("sslrootcert")
        .filter(|_| !system)
        .map(|p| pem_file(c, key, "sslrootcert", p));
    let explicit = get("sslmode").is_some();
    tls_with_files(
        c,
        key,
        (mode, explicit),
        ca,
        (get("sslcert"), get("sslkey")),
        ("sslcert", "sslkey"),
    )
}

/// MySQL's `ssl-mode`, `ssl-ca`, `ssl-cert` and `ssl-key` (or with `_`), and mysql_async's own
/// `require_ssl`, `verify_ca` and `verify_identity`.
fn mysql_tls(c: &mut Checker, key: &str, pairs: &[(String, String)]) -> Tls {
    let get = |names: [&str; 2]| {
        pairs
            .iter()
            .rev()
            .find(|(k, _)| names.contains(&k.as_str()))
            .map(|(_, v)| v.as_str())
    };
    let flag = |c: &mut Checker, name: &str| -> Option<bool> {
        let value = get([name, name])?;
        match value {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            other => {
                c.issue(key, format!("{name} `{other}` must be true or false"));
                None
            }
        }
    };
    let mode = match get(["ssl-mode", "ssl_mode"])
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("DISABLED") => TlsMode::Disable,
        Some("PREFERRED") => TlsMode::Prefer,
        Some("REQUIRED") => TlsMode::Require,
        Some("VERIFY_CA") => TlsMode::VerifyCa,
        Some("VERIFY_IDENTITY") => TlsMode::VerifyFull,
        Some(other) => {
            c.issue(
                key,
                format!("ssl-mode `{other}` is not one of DISABLED, PREFERRED, REQUIRED, VERIFY_CA, VERIFY_IDENTITY"),
            );
            TlsMode::Prefer
        }
        // mysql_async's own parameters: require_ssl verifies the CA and the name unless
        // verify_ca or verify_identity say otherwise.
        None => match flag(c, "require_ssl") {
            Some(true) => match (flag(c, "verify_ca"), flag(c, "verify_identity")) {
                (Some(false), _) => TlsMode::Require,
                (_, Some(false)) => TlsMode::VerifyCa,
                _ => TlsMode::VerifyFull,
            },
            Some(false) => TlsMode::Disable,
            None => TlsMode::Prefer,
        },
    };
    let ca = get(["ssl-ca", "ssl_ca"]).map(|p| pem_file(c, key, "ssl-ca", p));
    let explicit =
        get(["ssl-mode", "ssl_mode"]).is_some() || get(["require_ssl", "require_ssl"]).is_some();
    tls_with_files(
        c,
        key,
        (mode, explicit),
        ca,
        (get(["ssl-cert", "ssl_cert"]), get(["ssl-key", "ssl_key"])),
        ("ssl-cert", "ssl-key"),
    )
}

/// The TLS settings with their files. A CA file makes `require` verify the CA, as libpq does,
/// and so it does when no mode is given; with `prefer` it would be ignored, which is refused.
fn tls_with_files(
    c: &mut Checker,
    key: &str,
    (mode, explicit): (TlsMode, bool),
    ca: Option<PathBuf>,
    (cert, private_key): (Option<&str>, Option<&str>),
    (cert_name, key_name): (&str, &str),
) -> Tls {
    let mode = match (mode, &ca) {
        (TlsMode::Require, Some(_)) => TlsMode::VerifyCa,
        (TlsMode::Prefer, Some(_)) if !explicit => TlsMode::VerifyCa,
        (TlsMode::Prefer, Some(_)) => {
            c.issue(
                key,
                "a CA file is given with a mode that does not verify (prefer / PREFERRED): choose verify-ca or verify-full (VERIFY_CA, VERIFY_IDENTITY), or drop the CA file",
            );
            TlsMode::Prefer
        }
        (mode, _) => mode,
    };
    if cert.is_some() != private_key.is_some() {
        c.issue(
            key,
            format!("a client certificate needs both {cert_name} and {key_name}"),
        );
    }
    let cert = cert.map(|p| pem_file(c, key, cert_name, p));
    let private_key = private_key.map(|p| pem_file(c, key, key_name, p));
    if mode == TlsMode::Disable && (ca.is_some() || cert.is_some()) {
        c.issue(
            key,
            "certificate files are given but TLS is disabled: remove them or choose a TLS mode",
        );
    }
    Tls {
        mode,
        ca,
        cert,
        key: private_key,
    }
}

/// A PEM file named in the URL, relative to the config file's folder; it must exist.
fn pem_file(c: &mut Checker, key: &str, param: &str, path: &str) -> PathBuf {
    let file = super::relative_to(c.config_path, path);
    if !file.is_file() {
        c.issue(
            key,
            format!("{param}: file {} does not exist", file.display()),
        );
    }
    file
}
