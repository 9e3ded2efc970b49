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
            Error::Sync(SyncError::Interrupted) | Error::Report(ReportError::Interrupted(_)) => 130,
            _ => 1,
        }
    }

    /// An error writing to standard output.
    pub fn stdout(source: std::io::Error) -> Error {
        Error::Io {
            context: "writing to standard output".into(),
            source,
        }
    }

    /// True when standard output was closed by its reader (`| head`): the command ends there,
    /// quietly and successfully.
    pub fn is_broken_pipe(&self) -> bool {
        matches!(self, Error::Io { source, .. } if source.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }
}
