//! The answers to the commands, read from the store only: opened read-only, never synced, never
//! written (a report day that is not kept is computed and forgotten). Every text that comes from
//! data or from the asker is escaped as the deliveries escape it, and each block stays within
//! Slack's limits.

use chrono::NaiveDate;
use serde_json::{Value as Json, json};

use super::command::{Asked, PER_MINUTE};
use crate::config::Config;
use crate::deliver::message::{self, Whole, clip, escape};
use crate::report::render::Format;
use crate::report::user::{self, Piece, Question, Unexplained};
use crate::run;
use crate::schedule::status::Status;
use crate::store::Store;

/// Most blocks in a message.
const MAX_BLOCKS: usize = 50;
/// Most characters in a section's text.
const MAX_SECTION: usize = 3000;
/// Rows of a report's table in an answer (as a delivery's default).
const MAX_ROWS: usize = 40;
/// Days `user` shows.
const USER_DAYS: u32 = 7;

/// An answer: a plain-text fallback and its blocks.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The fallback (notifications, clients without blocks).
    pub text: String,
    /// Block Kit blocks.
    pub blocks: Vec<Json>,
    /// For the asker alone, even after `public` (refusals, mistakes, failures).
    pub private: bool,
}

impl Reply {
    /// An answer of one line for the asker alone (`text` is escaped here).
    pub fn line(text: &str) -> Reply {
        let text = fit(&escape(text));
        Reply {
            blocks: vec![section(&text)],
            text,
            private: true,
        }
    }

    /// The answer as a slash command's response: for the channel when `public` (and it may
    /// be), for the asker alone otherwise.
    pub fn payload(&self, public: bool) -> Json {
        let public = public && !self.private;
        json!({
            "response_type": if public { "in_channel" } else { "ephemeral" },
            "text": self.text,
            "blocks": self.blocks,
        })
    }

    /// An answer of one section of escaped `text`.
    fn section(text: String) -> Reply {
        Reply {
            blocks: vec![section(&text)],
            text,
            private: false,
        }
    }
}

/// At most a section's characters of escaped `text`; a longer text is cut with a note.
fn fit(text: &str) -> String {
    const NOTE: &str = "\n… (cut to Slack's limits)";
    if text.chars().count() <= MAX_SECTION {
        return text.to_string();
    }
    clip(text, MAX_SECTION - NOTE.chars().count()) + NOTE
}

/// Answers `asked` from the store of `config`; `command` is the slash command, for help.
pub fn answer(config: &Config, command: &str, asked: &Asked) -> Reply {
    match asked {
        Asked::Help => help(config, command),
        Asked::Wrong(why) => Reply::line(&format!("{why} (see `{command} help`)")),
        Asked::Status => status(config),
        Asked::User { id, date } => user(config, id, *date),
        Asked::Report { name, date } => report(config, name, *date),
    }
}

/// The store, opened read-only; the answer instead when there is none yet or it cannot be read.
fn open(config: &Config) -> Result<Store, Reply> {
    if !Store::exists(&config.store) {
        return Err(Reply::line("nothing has run yet: the store is empty."));
    }
    Store::inspect(&config.store).map_err(|e| failed(&e.to_string()))
}

fn failed(why: &str) -> Reply {
    tracing::warn!("slack_app: a command failed: {why}");
    Reply::line(&crate::secret::mask_secrets(&format!(
        "tally could not answer: {why}"
    )))
}

fn help(config: &Config, command: &str) -> Reply {
    let reports: Vec<&str> = config.reports.keys().map(String::as_str).collect();
    let lines = [
        format!(
            "`{command} user ID [YYYY-MM-DD]`: why a user is in their group, and their rewards ({USER_DAYS} days up to the date, yesterday by default)"
        ),
        format!(
            "`{command} report NAME [YYYY-MM-DD]`: a report of the day, as delivered (reports: {})",
            reports.join(", ")
        ),
        format!("`{command} status`: the last runs, the next run, the alerts that fire"),
        format!("`{command} help`: this"),
        format!(
            "Answers are for you alone; end a command with `public` to show the answer to the channel. At most {PER_MINUTE} commands a minute."
        ),
    ];
    Reply::section(fit(&escape(&lines.join("\n"))))
}

fn status(config: &Config) -> Reply {
    let s = match open(config)
        .and_then(|store| Status::read(config, &store, 3).map_err(|e| failed(&e.to_string())))
    {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    let mut lines = vec![s.schedule_line(config)];
    if s.last.is_empty() {
        lines.push("last runs: none".into());
    } else {
        lines.push("last runs:".into());
        lines.extend(
            s.last
                .iter()
                .map(|r| format!("• {}", Status::run_line(config, r))),
        );
    }
    let days: Vec<String> = s
        .rollups
        .iter()
        .map(|(name, day)| format!("{name} {}", day.map_or("none".into(), |d| d.to_string())))
        .collect();
    lines.push(format!("newest final days: {}", days.join(", ")));
    let alerts = s.alert_lines();
    if alerts.is_empty() {
        lines.push("alerts: none firing".into());
    }
    lines.extend(alerts);
    Reply::section(fit(&escape(&lines.join("\n"))))
}

fn user(config: &Config, id: &str, date: Option<NaiveDate>) -> Reply {
    let store = match open(config) {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    let q = Question {
        id,
        segment: None,
        last: run::report_date(config, date),
        days: USER_DAYS,
    };
    let explained = match user::find(config.report_inputs(), &config.reports, &store, &q) {
        Ok(e) => e,
        Err(Unexplained::Store(e)) => return failed(&e.to_string()),
        Err(e) => return Reply::line(&e.to_string()),
    };
    let mut blocks = Vec::new();
    let mut text = String::new();
    for piece in user::pieces(&config.style, &explained, Format::Table) {
        match piece {
            Piece::Title(t) => {
                text = escape(&t);
                blocks.push(header(&t));
            }
            Piece::Line(l) => blocks.push(section(&fit(&escape(&l)))),
            Piece::Table(t) => blocks.push(code(&t)),
        }
    }
    let short: String = id.chars().take(100).collect();
    let note = format!("the whole answer: tally user {short} on the server");
    Reply {
        text,
        blocks: within_limits(blocks, &note),
        private: false,
    }
}

fn report(config: &Config, name: &str, date: Option<NaiveDate>) -> Reply {
    let Some(spec) = config.reports.get(name) else {
        let known: Vec<&str> = config.reports.keys().map(String::as_str).collect();
        return Reply::line(&format!(
            "no report named `{name}` (reports: {})",
            known.join(", ")
        ));
    };
    let store = match open(config) {
        Ok(s) => s,
        Err(reply) => return reply,
    };
    let day = run::report_date(config, date);
    match run::unsynced(config, &store, &[spec]) {
        Ok(None) => {}
        Ok(Some(rollup)) => {
            return Reply::line(&format!(
                "`{name}` has nothing synced yet (rollup `{rollup}`)."
            ));
        }
        Err(e) => return failed(&e.to_string()),
    }
    let report = match crate::report::build(config.report_inputs(), &store, spec, day) {
        Ok(r) => r,
        // The store is read-only here: a day it has not scored would have to be written.
        Err(crate::report::ReportError::Store(e)) if e.is_read_only() => {
            return Reply::line(&format!(
                "`{name}` for {day} needs days the store has not scored yet (a run scores them): \
                 ask again after the next run, or run `tally report {name} --date {day} --no-sync` \
                 on the server."
            ));
        }
        Err(e) => return failed(&e.to_string()),
    };
    let command = format!("tally report {name} --date {day} --no-sync");
    let m = message::build(&report, MAX_ROWS, Whole::Command(&command), None);
    let note = format!("the whole report: {command} on the server");
    Reply {
        text: m.text,
        blocks: within_limits(m.blocks, &note),
        private: false,
    }
}

/// A header block of `text`, escaped as the deliveries' headers are; at most 150 characters.
fn header(text: &str) -> Json {
    json!({"type": "header", "text": {"type": "plain_text", "text": clip(&escape(text), 150)}})
}

/// A section of mrkdwn `text`, already escaped.
fn section(text: &str) -> Json {
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// A table as a code block; a table longer than a section holds loses its last lines, and says
/// so. A backquote in a cell would end the block: it is shown as `ˋ`.
fn code(table: &str) -> Json {
    let escaped = escape(table.trim_end()).replace('`', "ˋ");
    let room = MAX_SECTION - 8 - 40;
    if escaped.chars().count() <= room {
        return section(&format!("```\n{escaped}\n```"));
    }
    let mut kept = String::new();
    let mut cut = 0;
    for line in escaped.lines() {
        if cut == 0 && kept.chars().count() + line.chars().count() < room {
            kept += line;
            kept.push('\n');
        } else {
            cut += 1;
        }
    }
    section(&format!("```\n{kept}… {cut} more lines\n```"))
}

/// At most [`MAX_BLOCKS`] blocks: a longer answer is cut, with a note that says where the whole
/// one is.
fn within_limits(mut blocks: Vec<Json>, whole: &str) -> Vec<Json> {
    if blocks.len() > MAX_BLOCKS {
        blocks.truncate(MAX_BLOCKS - 1);
        let note = format!("(cut to Slack's limits; {})", escape(whole));
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": note}]}));
    }
    blocks
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_tables_and_answers_stay_within_limits() {
        let table: String = (0..500).map(|i| format!("row {i} <!channel>\n")).collect();
        let block = code(&table);
        let text = block["text"]["text"].as_str().unwrap();
        assert!(text.chars().count() <= MAX_SECTION);
        assert!(text.contains("more lines"));
        assert!(!text.contains("<!channel>"));
        // A backquote in a cell cannot end the block early.
        let fenced = code("| a```b | `c` |")["text"]["text"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(fenced, "```\n| aˋˋˋb | ˋcˋ |\n```");
        let many = (0..80).map(|i| section(&i.to_string())).collect();
        let cut = within_limits(many, "tally user x");
        assert_eq!(cut.len(), MAX_BLOCKS);
        assert!(cut[49].to_string().contains("cut to Slack's limits"));
    }
}
