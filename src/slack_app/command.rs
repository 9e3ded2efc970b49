//! What a slash command asks ([`Asked`]), and whether its asker may ask it now ([`Guard`]: the
//! channels and users of `[slack_app]`, and at most [`PER_MINUTE`] commands a minute each).

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde_json::Value as Json;

use crate::config::SlackAppSpec;

/// Most commands a Slack user may send in a minute.
pub const PER_MINUTE: usize = 10;

/// A command, parsed from its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Asked {
    /// `user ID [DATE]`.
    User {
        /// The user id, as typed.
        id: String,
        /// The last day (the report date when `None`).
        date: Option<NaiveDate>,
    },
    /// `report NAME [DATE]`.
    Report {
        /// The report's name.
        name: String,
        /// The report date (yesterday when `None`).
        date: Option<NaiveDate>,
    },
    /// `status`.
    Status,
    /// `help`, or no text.
    Help,
    /// Anything else: the one-line reason.
    Wrong(String),
}

/// A command's text parsed: what is asked, and whether the answer is for the channel
/// (`public` at the end) or for the asker alone (always, for a mistake).
pub fn parse(text: &str) -> (Asked, bool) {
    // Slack escapes `&`, `<` and `>` in the text it sends.
    let text = text
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    let words: Vec<&str> = text.split_whitespace().collect();
    // `public` at the end asks for the channel, unless it is what the command needs (`user
    // public`: a user called public).
    if let [rest @ .., last] = words.as_slice()
        && !rest.is_empty()
        && last.eq_ignore_ascii_case("public")
    {
        let asked = asked(rest);
        if !matches!(asked, Asked::Wrong(_)) {
            return (asked, true);
        }
    }
    (asked(&words), false)
}

/// What the words of a command ask.
fn asked(words: &[&str]) -> Asked {
    let verb = words.first().map(|w| w.to_ascii_lowercase());
    match (verb.as_deref(), words.get(1..).unwrap_or_default()) {
        (None | Some("help"), _) => Asked::Help,
        (Some("status"), []) => Asked::Status,
        (Some("user"), [id, date @ ..]) if date.len() <= 1 => dated(date, |date| Asked::User {
            id: id.to_string(),
            date,
        }),
        (Some("report"), [name, date @ ..]) if date.len() <= 1 => {
            dated(date, |date| Asked::Report {
                name: name.to_string(),
                date,
            })
        }
        (Some("user"), _) => Asked::Wrong("use: user ID [YYYY-MM-DD]".into()),
        (Some("report"), _) => Asked::Wrong("use: report NAME [YYYY-MM-DD]".into()),
        (Some("status"), _) => Asked::Wrong("use: status (it takes nothing more)".into()),
        (Some(other), _) => Asked::Wrong(format!(
            "`{}` is not a command: try help",
            other.chars().take(40).collect::<String>()
        )),
    }
}

/// What `make` asks with the optional date in `date` (none, or a word to read as one).
fn dated(date: &[&str], make: impl FnOnce(Option<NaiveDate>) -> Asked) -> Asked {
    match date.first().map(|d| day(d)) {
        None => make(None),
        Some(Ok(d)) => make(Some(d)),
        Some(Err(e)) => Asked::Wrong(e),
    }
}

fn day(text: &str) -> Result<NaiveDate, String> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| {
        format!(
            "`{}` is not a date: use YYYY-MM-DD",
            text.chars().take(40).collect::<String>()
        )
    })
}

/// Who may ask, how often, and each command once.
pub struct Guard {
    channels: Vec<String>,
    users: Vec<String>,
    /// Each user's commands in the last minute.
    recent: HashMap<String, VecDeque<Instant>>,
    /// The newest envelopes with what acknowledged them (Slack sends an envelope again when it
    /// missed the acknowledgement).
    seen: VecDeque<(String, Option<Json>)>,
}

/// How many envelopes [`Guard::earlier`] remembers.
const SEEN: usize = 256;

impl Guard {
    /// The allow-lists of `spec`.
    pub fn new(spec: &SlackAppSpec) -> Guard {
        Guard {
            channels: spec.channels.clone(),
            users: spec.users.clone(),
            recent: HashMap::new(),
            seen: VecDeque::new(),
        }
    }

    /// What acknowledged envelope `id` when it came before: a retry gets the same
    /// acknowledgement, and is not answered again.
    pub fn earlier(&self, id: &str) -> Option<Option<Json>> {
        self.seen
            .iter()
            .find(|(seen, _)| seen == id)
            .map(|(_, ack)| ack.clone())
    }

    /// Remembers what acknowledged envelope `id`.
    pub fn remember(&mut self, id: &str, ack: Option<Json>) {
        if self.seen.len() == SEEN {
            self.seen.pop_front();
        }
        self.seen.push_back((id.to_string(), ack));
    }

    /// `None` when `user` may ask in `channel` now (the command is counted); otherwise the
    /// one-line refusal, which shows no data.
    pub fn admit(&mut self, channel: &str, user: &str, now: Instant) -> Option<&'static str> {
        if !self.channels.iter().any(|c| c == channel) {
            return Some("tally answers in its own channels only: ask there.");
        }
        if !self.users.is_empty() && !self.users.iter().any(|u| u == user) {
            return Some("you are not on tally's list of people who may ask: ask its admins.");
        }
        let minute = Duration::from_secs(60);
        let times = self.recent.entry(user.to_string()).or_default();
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= minute)
        {
            times.pop_front();
        }
        if times.len() >= PER_MINUTE {
            return Some("slow down: at most 10 commands a minute; try again in a minute.");
        }
        times.push_back(now);
        // Users who stopped asking are forgotten.
        self.recent.retain(|_, t| {
            t.back()
                .is_some_and(|last| now.duration_since(*last) < minute)
        });
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(users: &[&str]) -> SlackAppSpec {
        SlackAppSpec {
            app_token: crate::secret::Secret::new("xapp-1"),
            channels: vec!["C1".into()],
            users: users.iter().map(|u| u.to_string()).collect(),
            command: "/tally".into(),
            api_url: "http://x".into(),
        }
    }

    #[test]
    fn commands_and_their_mistakes() {
        let d = |s: &str| Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap());
        assert_eq!(parse(""), (Asked::Help, false));
        assert_eq!(parse("  HELP "), (Asked::Help, false));
        assert_eq!(parse("status public"), (Asked::Status, true));
        assert_eq!(
            parse("user 0xAb 2026-11-10 public"),
            (
                Asked::User {
                    id: "0xAb".into(),
                    date: d("2026-11-10")
                },
                true
            )
        );
        assert_eq!(
            parse("user &lt;!channel&gt;"),
            (
                Asked::User {
                    id: "<!channel>".into(),
                    date: None
                },
                false
            )
        );
        // `public` alone is a user called public, not a flag.
        assert_eq!(
            parse("user public"),
            (
                Asked::User {
                    id: "public".into(),
                    date: None
                },
                false
            )
        );
        assert_eq!(
            parse("report daily 2026-11-10"),
            (
                Asked::Report {
                    name: "daily".into(),
                    date: d("2026-11-10")
                },
                false
            )
        );
        assert!(matches!(parse("report").0, Asked::Wrong(_)));
        assert!(matches!(
            parse("report a b public"),
            (Asked::Wrong(_), false)
        ));
        assert_eq!(parse("help public"), (Asked::Help, true));
        assert!(
            matches!(parse("user x 10/11/2026").0, Asked::Wrong(m) if m.contains("YYYY-MM-DD"))
        );
        assert!(matches!(parse("drop table").0, Asked::Wrong(m) if m.contains("`drop`")));
    }

    #[test]
    fn allow_lists_and_the_rate_limit() {
        let mut open = Guard::new(&spec(&[]));
        let now = Instant::now();
        assert!(
            open.admit("C2", "U1", now)
                .unwrap()
                .contains("own channels")
        );
        for _ in 0..PER_MINUTE {
            assert_eq!(open.admit("C1", "U1", now), None);
        }
        assert!(
            open.admit("C1", "U1", now)
                .unwrap()
                .starts_with("slow down")
        );
        // Another user has a minute of their own; the first may ask again a minute later.
        assert_eq!(open.admit("C1", "U2", now), None);
        assert_eq!(open.admit("C1", "U1", now + Duration::from_secs(60)), None);
        assert_eq!(open.earlier("e1"), None);
        open.remember("e1", None);
        open.remember("e2", Some(Json::from("help")));
        assert_eq!(open.earlier("e1"), Some(None));
        assert_eq!(open.earlier("e2"), Some(Some(Json::from("help"))));
        let mut listed = Guard::new(&spec(&["U1"]));
        assert_eq!(listed.admit("C1", "U1", now), None);
        assert!(
            listed
                .admit("C1", "U9", now)
                .unwrap()
                .contains("list of people")
        );
    }
}
