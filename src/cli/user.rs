//! `tally user`: one user explained from the store (no sync): their groups, the days they
//! changed, the parts of their score, their rewards.

use super::args::{UserArgs, UserFormat};
use super::{emit, nothing_synced, usage};
use crate::config::Config;
use crate::error::Error;
use crate::report::render::Format;
use crate::report::user::{self, Question, Unexplained};
use crate::run;
use crate::store::Store;

/// Prints what the store says of one user; an unknown user is an error (exit 1).
pub fn run(config: &Config, a: &UserArgs) -> Result<bool, Error> {
    if !(1..=366).contains(&a.days) {
        return Err(usage(format!(
            "user --days: {} is out of range: use 1 to 366",
            a.days
        )));
    }
    // A wrong segment is a usage error, said before the store is looked for.
    if let Err(e) = user::segment(config.report_inputs(), a.segment.as_deref()) {
        return Err(usage(e.to_string()));
    }
    if !Store::exists(&config.store) {
        return Err(nothing_synced(config, "user"));
    }
    let store = Store::inspect(&config.store)?;
    let explained = user::find(
        config.report_inputs(),
        &config.reports,
        &store,
        &question(config, a, &a.id),
    )
    .map_err(|e| match e {
        Unexplained::Segment(message) => usage(message),
        Unexplained::User(message) => Error::Runtime(message),
        Unexplained::Store(e) => e.into(),
    })?;
    let text = match a.format {
        UserFormat::Json => format!("{:#}\n", explained.json()),
        UserFormat::Text => user::text(&config.style, &explained, Format::Table),
        UserFormat::Markdown => user::text(&config.style, &explained, Format::Markdown),
    };
    emit(text.as_bytes(), None)?;
    Ok(true)
}

fn question<'a>(config: &Config, a: &'a UserArgs, id: &'a str) -> Question<'a> {
    Question {
        id,
        segment: a.segment.as_deref(),
        last: run::report_date(config, a.date.date),
        days: a.days,
    }
}
