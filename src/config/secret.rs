//! Secrets: passwords in source URLs, Slack tokens, webhook URLs. [`Secret`] never shows its
//! value in `Debug` or `Display`, and every secret read from the config is remembered here, so
//! that the output edges (log lines, error messages, `tally check`, alerts, the run history) mask
//! it with [`mask`] wherever a library put it into a message.

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
}
