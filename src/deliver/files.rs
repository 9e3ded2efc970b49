//! Writes reports to `<dir>/<report>/<day>.<ext>`, atomically (write, then rename), so a reader
//! never sees half a file.

use std::path::{Path, PathBuf};

use crate::error::Error;
use crate::report::Report;
use crate::report::render::{self, Format};

/// What `tally run` writes for every report.
pub const DEFAULT_FORMATS: [Format; 2] = [Format::Csv, Format::Markdown];

/// Writes the report in each format; returns the paths written.
pub fn write(dir: &Path, report: &Report, formats: &[Format]) -> Result<Vec<PathBuf>, Error> {
    let folder = dir.join(&report.name);
    std::fs::create_dir_all(&folder)
        .map_err(Error::io(format!("creating {}", folder.display())))?;
    formats
        .iter()
        .map(|f| {
            let path = folder.join(format!("{}.{}", report.last, f.extension()));
            let tmp = folder.join(format!(".{}.{}.tmp", report.last, f.extension()));
            std::fs::write(&tmp, render::render(report, *f))
                .and_then(|()| std::fs::rename(&tmp, &path))
                .map_err(Error::io(format!("writing {}", path.display())))?;
            Ok(path)
        })
        .collect()
}
