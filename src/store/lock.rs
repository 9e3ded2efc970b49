//! One run at a time per store file, however it is reached: an exclusive `flock` on the database
//! file itself, so that a symlink, another relative path or a bind mount all meet the same lock.
//! The operating system releases it when the process ends, however it ends, so a crash never
//! leaves it stuck. A file with a second hard link is refused: SQLite keeps its write-ahead log
//! beside the path it opened, so two names of one file would write two logs and corrupt it.
//!
//! The lock's descriptor must outlive every SQLite connection of this process to the file
//! (closing any descriptor of a file drops the process's POSIX locks on it, which SQLite uses):
//! the [`super::Store`] that holds the lock closes its connection first.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::StoreError;

/// The held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock of the store at `store` (creating the file, empty, when there is none).
    /// When another process holds it, fails with a message naming its pid, or with `wait`, waits
    /// until it is free.
    pub fn acquire(store: &Path, wait: bool) -> Result<RunLock, StoreError> {
        let io = |source| StoreError::Io {
            path: store.to_path_buf(),
            source,
        };
        if let Some(dir) = store.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(store)
            .map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        single_link(store, meta.nlink())?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let holder = holder(&meta);
                if !wait {
                    return Err(StoreError::Locked {
                        path: store.to_path_buf(),
                        holder,
                    });
                }
                tracing::info!(
                    "waiting for the run lock on {} (held by pid {holder})",
                    store.display()
                );
                file.lock().map_err(io)?;
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        Ok(RunLock { _file: file })
    }
}

/// A shared hold on the same lock, for a reader that reads the store file as immutable: no run
/// can start (and change the file under it) while it reads. Fails, naming the holder, while a
/// run holds the lock.
pub fn shared(store: &Path) -> Result<RunLock, StoreError> {
    let io = |source| StoreError::Io {
        path: store.to_path_buf(),
        source,
    };
    let file = File::open(store).map_err(io)?;
    match file.try_lock_shared() {
        Ok(()) => Ok(RunLock { _file: file }),
        Err(TryLockError::WouldBlock) => Err(StoreError::Locked {
            path: store.to_path_buf(),
            holder: holder(&file.metadata().map_err(io)?),
        }),
        Err(TryLockError::Error(e)) => Err(io(e)),
    }
}

/// Refuses a store file with more than one hard link.
pub(super) fn single_link(store: &Path, links: u64) -> Result<(), StoreError> {
    if links > 1 {
        return Err(StoreError::HardLinked {
            path: store.to_path_buf(),
            links,
        });
    }
    Ok(())
}

/// The pid that holds a `flock` on the file, from the kernel's table of locks (`/proc/locks`),
/// whatever path it took the lock by; `unknown` where there is no such table.
fn holder(meta: &std::fs::Metadata) -> String {
    let dev = meta.dev();
    // The kernel writes the device as hex MAJOR:MINOR and the inode in decimal.
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    let wanted = format!("{major:02x}:{minor:02x}:{}", meta.ino());
    let table = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    table
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.get(1) == Some(&"FLOCK") && f.get(5) == Some(&wanted.as_str()))
        .and_then(|f| f.get(4).map(|pid| pid.to_string()))
        .unwrap_or_else(|| "unknown".into())
}
