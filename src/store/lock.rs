//! One run at a time: an exclusive lock on `<store>.lock`, beside the store. The operating system
//! releases it when the process ends, however it ends, so a crash never leaves it stuck.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use super::StoreError;

/// The held lock; dropping it releases the lock.
#[derive(Debug)]
pub struct RunLock {
    _file: File,
}

impl RunLock {
    /// Takes the lock of the store at `store`. When another process holds it, fails with a
    /// message naming it, or with `wait`, waits until it is free.
    pub fn acquire(store: &Path, wait: bool) -> Result<RunLock, StoreError> {
        let path = PathBuf::from(format!("{}.lock", store.display()));
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut holder = String::new();
                let _ = file.read_to_string(&mut holder);
                let holder = holder.trim().to_string();
                if !wait {
                    return Err(StoreError::Locked { path, holder });
                }
                tracing::info!(
                    "waiting for the run lock {} (held by pid {holder})",
                    path.display()
                );
                file.lock().map_err(io)?;
            }
            Err(TryLockError::Error(e)) => return Err(io(e)),
        }
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        write!(file, "{}", std::process::id()).map_err(io)?;
        Ok(RunLock { _file: file })
    }
}
