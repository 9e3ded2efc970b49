//! Secrets: passwords in source URLs, Slack tokens, webhook URLs, and all their masking. [`Secret`]
//! never shows its value in `Debug` or `Display`, and every secret read from the config is
//! remembered here, so that the output edges (log lines through [`MaskedStderr`], error messages,
//! `tally check`, notices, the run history) mask it with [`mask_secrets`] wherever a library put
//! it into a message.

use std::fmt;
use std::sync::Mutex;

/// Every secret's text seen so far (and its percent-decoded form).
static KNOWN: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// A value that must never be printed.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value` and remembers it for [`mask`].
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        remember(&value);
        Secret(value)
    }

    /// Wraps `value` without remembering it whole: for a source URL whose secret parts (its
    /// password) are remembered on their own, so that its host and database can be shown.
    pub fn with_parts_remembered(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that sends it (a driver, an HTTP header).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Remembers a secret that is not kept in a [`Secret`] (a password inside a URL), with its
/// percent-decoded form. Texts shorter than 3 characters are not masked: they would mask
/// ordinary words.
pub fn remember(text: &str) {
    let decoded = percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned();
    let mut known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    for t in [text.to_string(), decoded] {
        if t.len() >= 3 && !known.contains(&t) {
            known.push(t);
        }
    }
    // Longest first, so that a secret containing another is masked whole.
    known.sort_by_key(|t| std::cmp::Reverse(t.len()));
}

/// `text` with every remembered secret replaced by `***`.
pub fn mask(text: &str) -> String {
    let known = KNOWN.lock().unwrap_or_else(|e| e.into_inner());
    let mut out = text.to_string();
    for s in known.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "***");
        }
    }
    out
}

/// Standard error with every secret masked ([`mask_secrets`]): where log lines go. Each log
/// event arrives in one write.
#[derive(Debug, Clone, Copy, Default)]
pub struct MaskedStderr;

impl std::io::Write for MaskedStderr {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let masked = mask_secrets(&String::from_utf8_lossy(buf));
        std::io::stderr().write_all(masked.as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Masks the password of every `scheme://user:password@host` in `text`, as a last line of
/// defence for messages that quote a URL. The password may hold `/`, `:` or `@`: everything
/// between the first `:` and the last `@` of the URL's first word is masked.
pub fn mask_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`'))
            .unwrap_or(tail.len());
        let word = &tail[..end];
        match (word.find(':'), word.rfind('@')) {
            (Some(c), Some(a)) if c < a && !word[..c].contains('/') => {
                out.push_str(&word[..=c]);
                out.push_str("***");
                out.push_str(&word[a..]);
            }
            _ => out.push_str(word),
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

/// Masks every secret in text on its way out: the config's secrets ([`remember`]),
/// and those tally can recognise in text it did not write (a TOML parse error quotes the
/// config's line): URL passwords, Slack tokens (`xoxb-...`, `xapp-...`) and the secret path of Slack
/// incoming webhooks (`/services/T.../B.../...`).
pub fn mask_secrets(text: &str) -> String {
    let masked = mask_url_passwords(&mask(text));
    let mut out = String::with_capacity(masked.len());
    let mut rest = masked.as_str();
    loop {
        let bot = rest.match_indices("xox").map(|(i, _)| i).find(|&i| {
            let b = rest.as_bytes();
            b.get(i + 3).is_some_and(u8::is_ascii_alphabetic) && b.get(i + 4) == Some(&b'-')
        });
        // App-level tokens (Socket Mode): `xapp-...`.
        let token = match (bot, rest.find("xapp-")) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // Slack workspace IDs start with T: a plain path like /srv/services/x is left alone.
        let hook = rest.find("/services/T");
        let (at, keep) = match (token, hook) {
            (Some(t), Some(h)) if h < t => (h, "/services/".len()),
            (Some(t), _) => (t, 5),
            (None, Some(h)) => (h, "/services/".len()),
            (None, None) => break,
        };
        out.push_str(&rest[..at + keep]);
        out.push_str("***");
        let tail = &rest[at + keep..];
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '`' | ')'))
            .unwrap_or(tail.len());
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints() {
        let s = Secret::new("xoxb-never-printed");
        assert_eq!(format!("{s} {s:?}"), "*** Secret(***)");
        assert_eq!(s.expose(), "xoxb-never-printed");
        assert_eq!(
            mask("token xoxb-never-printed rejected"),
            "token *** rejected"
        );
        remember("p%40ss");
        assert_eq!(mask("login p@ss and p%40ss"), "login *** and ***");
        assert_eq!(mask("ab"), "ab");
    }

    #[test]
    fn url_passwords_are_masked() {
        assert_eq!(
            mask_url_passwords("url = \"postgres://me:p@ss:w0rd@db:5432/x\" and mysql://a@b"),
            "url = \"postgres://me:***@db:5432/x\" and mysql://a@b"
        );
        assert_eq!(
            mask_url_passwords("postgres://me:pa/ss@db/x"),
            "postgres://me:***@db/x"
        );
        assert_eq!(
            mask_url_passwords("https://host:8080/path"),
            "https://host:8080/path"
        );
    }

    #[test]
    fn tokens_and_webhook_paths_are_masked() {
        let line = "3 | token = \"xoxb-123-456-abc\" url = \"https://hooks.slack.com/services/T0/B0/SECRET\"";
        let masked = mask_secrets(line);
        assert!(
            !masked.contains("123-456-abc") && !masked.contains("SECRET"),
            "{masked}"
        );
        assert!(
            masked.contains("xoxb-***") && masked.contains("/services/***"),
            "{masked}"
        );
        let app = mask_secrets("5 | app_token = \"xapp-7-B0-99-f00d\" and xoxp-7-8");
        assert_eq!(app, "5 | app_token = \"xapp-***\" and xoxp-***");
        // A word with `xox` in it before a token hides nothing.
        assert_eq!(mask_secrets("xoxo, xoxb-9-9"), "xoxo, xoxb-***");
    }
}
