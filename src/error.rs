//! The error of a whole command, and the exit code it maps to.

use crate::config::ConfigError;
use crate::report::ReportError;
use crate::source::SourceError;
use crate::store::StoreError;
use crate::sync::SyncError;

/// Anything that stops a command.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config or a command-line value is wrong.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A source failed.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sync failed.
    #[error(transparent)]
    Sync(#[from] SyncError),
    /// A report failed.
    #[error(transparent)]
    Report(#[from] ReportError),
    /// A delivery could not be prepared (the dry run's chart).
    #[error(transparent)]
    Deliver(#[from] crate::deliver::DeliverError),
    /// A command cannot do its job in the store's state (nothing synced yet).
    #[error("{0}")]
    Runtime(String),
    /// A file could not be written or read.
    #[error("{context}: {source}")]
    Io {
        /// What tally was doing, naming the file.
        context: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl Error {
    /// 2 for configuration and usage errors, 130 when a signal stopped the command, 1 for
    /// other failures at run time.
    pub fn exit_code(&self) -> u8 {
        // A store that names a file tally must not use as it is: a config problem.
        let store = match self {
            Error::Store(e)
            | Error::Sync(SyncError::Store(e))
            | Error::Report(ReportError::Store(e)) => Some(e),
            _ => None,
        };
        if let Some(
            StoreError::Foreign { .. } | StoreError::HardLinked { .. } | StoreError::NotOurs { .. },
        ) = store
        {
            return 2;
        }
        match self {
            Error::Config(_) => 2,
            Error::Sync(SyncError::Interrupted) => 130,
            _ => 1,
        }
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
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

/// Masks every secret in text on its way out: the config's secrets ([`crate::config::secret`]),
/// and those tally can recognise in text it did not write (a TOML parse error quotes the
/// config's line): URL passwords, Slack tokens (`xoxb-...`) and the secret path of Slack
/// incoming webhooks (`/services/T.../B.../...`).
pub fn mask_secrets(text: &str) -> String {
    let masked = mask_url_passwords(&crate::config::secret::mask(text));
    let mut out = String::with_capacity(masked.len());
    let mut rest = masked.as_str();
    loop {
        let token = rest.find("xox").filter(|&i| {
            let b = rest.as_bytes();
            b.get(i + 3).is_some_and(u8::is_ascii_alphabetic) && b.get(i + 4) == Some(&b'-')
        });
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
    }
}
