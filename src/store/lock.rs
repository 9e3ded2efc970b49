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
        let dir_io = |source| StoreError::Io {
            path: store.to_path_buf(),
            source,
        };
        if let Some(dir) = store.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(dir_io)?;
        }
        // The lock sits beside the real file: two configs that reach one store through a symlink
        // (or another relative path) take the same lock.
        let path = PathBuf::from(format!(
            "{}.lock",
            canonical(store).map_err(dir_io)?.display()
        ));
        let io = |source| StoreError::Io {
            path: path.clone(),
            source,
        };
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

/// The store's path with every symlink resolved: the file's own when it exists, else its
/// folder's, with the file name.
fn canonical(store: &Path) -> std::io::Result<PathBuf> {
    if store.exists() {
        return std::fs::canonicalize(store);
    }
    let dir = match store.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => std::fs::canonicalize(d)?,
        None => std::env::current_dir()?,
    };
    Ok(match store.file_name() {
        Some(name) => dir.join(name),
        None => dir,
    })
}
