//! Writes reports to `<dir>/<report>/<day>.<ext>`, atomically (write, then rename), so a reader
//! never sees half a file.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::report::Report;
use crate::report::render::{self, Format};

/// What `tally run` writes for every report.
pub const DEFAULT_FORMATS: [Format; 2] = [Format::Csv, Format::Markdown];

/// Writes the report in each text format; returns the paths written.
pub fn write(dir: &Path, report: &Report, formats: &[Format]) -> Result<Vec<PathBuf>, Error> {
    formats
        .iter()
        .map(|f| {
            write_bytes(
                dir,
                report,
                f.extension(),
                render::render(report, *f).as_bytes(),
            )
        })
        .collect()
}

/// Writes `<dir>/<report>/<day>.<extension>`; returns its path.
pub fn write_bytes(
    dir: &Path,
    report: &Report,
    extension: &str,
    bytes: &[u8],
) -> Result<PathBuf, Error> {
    let folder = dir.join(&report.name);
    std::fs::create_dir_all(&folder)
        .map_err(Error::io(format!("creating {}", folder.display())))?;
    let path = folder.join(format!("{}.{extension}", report.last));
    let tmp = folder.join(format!(".{}.{extension}.tmp", report.last));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(Error::io(format!("writing {}", path.display())))?;
    Ok(path)
}

/// Whether reports can be written into `dir`, without writing anything: the folder, or the
/// nearest one above it that exists (where it would be created), must be writable.
pub fn check(dir: &Path) -> Result<String, String> {
    let mut probe = dir;
    while !probe.exists() {
        match probe.parent() {
            Some(p) if !p.as_os_str().is_empty() => probe = p,
            _ => {
                probe = Path::new(".");
                break;
            }
        }
    }
    if !probe.is_dir() {
        return Err(format!("{} is not a folder", probe.display()));
    }
    let writable = can_write(probe);
    match (writable, probe == dir) {
        (true, true) => Ok(format!("{} is writable", dir.display())),
        (true, false) => Ok(format!(
            "{} does not exist yet; it will be created in {}, which is writable",
            dir.display(),
            probe.display()
        )),
        (false, _) => Err(format!(
            "{} is not writable by this user: reports cannot be written into {}",
            probe.display(),
            dir.display()
        )),
    }
}

/// True when this process may create files in `dir`: the kernel answers, for a throwaway file
/// that is removed at once (mode bits say too little: root, ACLs, read-only mounts).
fn can_write(dir: &Path) -> bool {
    let metadata = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(_) => return false,
    };
    if metadata.permissions().readonly() {
        return false;
    }
    let probe = dir.join(format!(".tally-check-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            true
        }
        Err(e) => e.kind() == std::io::ErrorKind::AlreadyExists,
    }
}
