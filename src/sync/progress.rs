//! Sync progress: a bar on a terminal, log lines elsewhere.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

use super::Planned;

/// Reports slices as they are pulled.
pub struct Progress {
    bar: Option<ProgressBar>,
}

impl Progress {
    /// A progress bar when stderr is a terminal and `quiet` is off; log lines otherwise.
    pub fn new(quiet: bool) -> Progress {
        let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
            let bar = ProgressBar::hidden();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {bar:30} {pos}/{len} slices {msg}")
                    .expect("valid template"),
            );
            bar
        });
        Progress { bar }
    }

    pub(super) fn start(&self, slices: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(slices);
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
    }

    pub(super) fn slice(
        &self,
        rollup: &str,
        p: &Planned,
        rows: u64,
        changed: bool,
        took: std::time::Duration,
    ) {
        let line = format!(
            "{rollup} {} [{}, {}) {} rows ({}{})",
            p.slice.day,
            p.slice.start.format("%Y-%m-%dT%H:%MZ"),
            p.slice.end.format("%Y-%m-%dT%H:%MZ"),
            rows,
            p.reason.as_str(),
            if changed { "" } else { ", unchanged" }
        );
        match &self.bar {
            Some(bar) => {
                bar.set_message(line);
                bar.inc(1);
            }
            None => tracing::info!(
                rollup,
                day = %p.slice.day,
                start = %p.slice.start.to_rfc3339(),
                end = %p.slice.end.to_rfc3339(),
                rows,
                reason = p.reason.as_str(),
                changed,
                duration_ms = took.as_millis() as u64,
                "pulled {line}"
            ),
        }
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
