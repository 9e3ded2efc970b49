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
