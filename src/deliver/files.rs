//! `kind = "files"` (and `tally run`'s output folder): reports written to
//! `<dir>/<report>/<day>.<ext>`, atomically (write, then rename), so a reader never sees half a
//! file.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use reqwest::Client;
use serde::Deserialize;

use super::message::Message;
use super::{BoxFuture, DeliverError, Job, Target, chart_of};
use crate::check::Checker;
use crate::report::Report;
use crate::report::render::{self, Format};

/// What `tally run` writes for every report.
pub const DEFAULT_FORMATS: [Format; 2] = [Format::Csv, Format::Markdown];

/// A format a files destination writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// CSV with a header row.
    Csv,
    /// A Markdown table.
    Md,
    /// JSON.
    Json,
    /// The chart (segment_rewards and segment_flow reports only).
    Png,
}

impl FileFormat {
    /// The text format, or `None` for the chart.
    fn text(self) -> Option<Format> {
        match self {
            FileFormat::Csv => Some(Format::Csv),
            FileFormat::Md => Some(Format::Markdown),
            FileFormat::Json => Some(Format::Json),
            FileFormat::Png => None,
        }
    }

    /// The file name's extension.
    fn extension(self) -> &'static str {
        match self {
            FileFormat::Csv => "csv",
            FileFormat::Md => "md",
            FileFormat::Json => "json",
            FileFormat::Png => "png",
        }
    }
}

/// `[[deliver]]` with `kind = "files"`, as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// Name in the delivery records (default: `files:<dir>`).
    pub name: Option<String>,
    /// Reports written here (default: every report).
    #[serde(default)]
    pub reports: Vec<String>,
    /// Directory written to, relative to the config file.
    #[serde(default = "default_dir")]
    pub dir: String,
    /// Formats written.
    #[serde(default = "default_formats")]
    pub formats: Vec<FileFormat>,
}

fn default_dir() -> String {
    "reports".into()
}

fn default_formats() -> Vec<FileFormat> {
    vec![FileFormat::Csv, FileFormat::Md]
}

impl FilesConfig {
    /// Checks the entry; returns its default name and the target.
    pub fn check(&self, c: &mut Checker, _key: &str, _index: usize) -> (String, Arc<dyn Target>) {
        let files = Files {
            dir: c.path(&self.dir),
            formats: self.formats.clone(),
        };
        (format!("files:{}", self.dir), Arc::new(files))
    }
}

/// A checked files destination.
#[derive(Debug)]
pub struct Files {
    dir: PathBuf,
    formats: Vec<FileFormat>,
}

impl Files {
    /// Each format's bytes for `report` (no chart for reports that have none).
    fn files(&self, report: &Report) -> Result<Vec<(FileFormat, Vec<u8>)>, DeliverError> {
        let mut out = Vec::new();
        for f in &self.formats {
            match f.text() {
                Some(text) => out.push((*f, render::render(report, text).into_bytes())),
                None => {
                    if let Some(png) = chart_of(report)? {
                        out.push((*f, png));
                    }
                }
            }
        }
        Ok(out)
    }
}

impl Target for Files {
    fn kind(&self) -> &'static str {
        "files"
    }

    fn takes_notices(&self) -> bool {
        false
    }

    fn deliver<'a, 'b: 'a>(
        &'a self,
        job: &'a mut Job<'b>,
    ) -> BoxFuture<'a, Result<(), DeliverError>> {
        Box::pin(async move {
            for (format, bytes) in self.files(job.report)? {
                write_bytes(&self.dir, job.report, format.extension(), &bytes)?;
            }
            if let Some(revisions) = &job.revisions {
                let csv = render::render(&revisions.as_report(job.report), Format::Csv);
                write_revisions(&self.dir, job.report, csv.as_bytes())?;
            }
            Ok(())
        })
    }

    fn preview(
        &self,
        report: &Report,
        _destination: &str,
        _raw: bool,
    ) -> Result<String, DeliverError> {
        Ok(self
            .files(report)?
            .iter()
            .map(|(format, bytes)| {
                let path = self.dir.join(&report.name).join(format!(
                    "{}.{}",
                    report.last,
                    format.extension()
                ));
                format!("file {} ({} bytes)\n", path.display(), bytes.len())
            })
            .collect())
    }

    fn probe<'a>(&'a self, _http: &'a Client) -> BoxFuture<'a, Result<String, DeliverError>> {
        Box::pin(async move { probe(&self.dir).map_err(DeliverError::Refused) })
    }

    fn notify<'a>(
        &'a self,
        _http: &'a Client,
        _message: &'a Message,
    ) -> BoxFuture<'a, Result<(), DeliverError>> {
        Box::pin(async { Err(DeliverError::Refused("files cannot receive notices".into())) })
    }
}

/// Writes the report in each text format; returns the paths written.
pub fn write(
    dir: &Path,
    report: &Report,
    formats: &[Format],
) -> Result<Vec<PathBuf>, DeliverError> {
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
) -> Result<PathBuf, DeliverError> {
    let folder = dir.join(&report.name);
    std::fs::create_dir_all(&folder)
        .map_err(|e| DeliverError::Write(format!("creating {}: {e}", folder.display())))?;
    let path = folder.join(format!("{}.{extension}", report.last));
    let tmp = folder.join(format!(".{}.{extension}.tmp", report.last));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| DeliverError::Write(format!("writing {}: {e}", path.display())))?;
    Ok(path)
}

/// Writes what changed since the last report as `<dir>/<report>-<date>-revisions.csv`,
/// atomically.
fn write_revisions(dir: &Path, report: &Report, bytes: &[u8]) -> Result<PathBuf, DeliverError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| DeliverError::Write(format!("creating {}: {e}", dir.display())))?;
    let name = format!("{}-{}-revisions.csv", report.name, report.last);
    let path = dir.join(&name);
    let tmp = dir.join(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .map_err(|e| DeliverError::Write(format!("writing {}: {e}", path.display())))?;
    Ok(path)
}

/// Whether reports can be written into `dir`, without writing anything: the folder, or the
/// nearest one above it that exists (where it would be created), must be writable.
pub fn probe(dir: &Path) -> Result<String, String> {
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
