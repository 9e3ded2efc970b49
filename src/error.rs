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

/// Masks the password of every `scheme://user:password@host` in `text`, as a last line of
/// defence for messages that quote a URL.
pub fn mask_url_passwords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        let (head, tail) = rest.split_at(at + 3);
        out.push_str(head);
        let end = tail
            .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '/' | '`'))
            .unwrap_or(tail.len());
        let authority = &tail[..end];
        match (authority.rfind('@'), authority.find(':')) {
            (Some(a), Some(c)) if c < a => {
                out.push_str(&authority[..=c]);
                out.push_str("***");
                out.push_str(&authority[a..]);
            }
            _ => out.push_str(authority),
        }
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
    }
}
