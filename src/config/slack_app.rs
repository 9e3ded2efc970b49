//! `[slack_app]`: the Slack app that answers `/tally` commands through Socket Mode, as written
//! ([`SlackAppConfig`]) and checked ([`SlackAppSpec`]). The daemon runs it
//! (`crate::slack_app`).

use serde::Deserialize;

use crate::check::Checker;
use crate::secret::Secret;

/// `[slack_app]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackAppConfig {
    /// The app-level token (`xapp-...`, scope `connections:write`), a secret.
    pub app_token: String,
    /// Channel ids where commands are answered.
    pub channels: Vec<String>,
    /// Slack user ids allowed to ask (everyone in `channels` when empty).
    #[serde(default)]
    pub users: Vec<String>,
    /// The slash command.
    #[serde(default = "default_command")]
    pub command: String,
    /// Base URL of the Web API.
    #[serde(default = "default_api_url")]
    pub api_url: String,
}

fn default_command() -> String {
    "/tally".into()
}

fn default_api_url() -> String {
    "https://slack.com/api".into()
}

/// A checked `[slack_app]`.
#[derive(Debug, Clone)]
pub struct SlackAppSpec {
    /// The app-level token.
    pub app_token: Secret,
    /// Channel ids where commands are answered.
    pub channels: Vec<String>,
    /// Slack user ids allowed to ask; everyone when empty.
    pub users: Vec<String>,
    /// The slash command, like `/tally`.
    pub command: String,
    /// Base URL of the Web API, without a trailing `/`.
    pub api_url: String,
}

/// Checks `[slack_app]`; `scheduled` says whether the config has a `[schedule]` (the daemon,
/// which runs the app, needs one).
pub(super) fn check(c: &mut Checker, s: &SlackAppConfig, scheduled: bool) -> SlackAppSpec {
    let token = c.interpolate_for("slack_app", "slack_app.app_token", &s.app_token);
    if let Some(t) = &token
        && !t.starts_with("xapp-")
    {
        let kind = if t.starts_with("xoxb-") {
            "a bot token (xoxb-), which belongs in [[deliver]]"
        } else {
            "not an app-level token"
        };
        c.issue(
            "slack_app.app_token",
            format!(
                "is {kind}: Socket Mode needs an app-level token (xapp-...) with the \
                 connections:write scope (Basic Information → App-Level Tokens)"
            ),
        );
    }
    if s.channels.is_empty() {
        c.issue(
            "slack_app.channels",
            "is empty: list the channel ids where commands are answered, like [\"C0123ABCD\"]",
        );
    }
    for (i, id) in s.channels.iter().enumerate() {
        if !slack_id(id, &['C', 'G', 'D']) {
            c.issue(
                format!("slack_app.channels[{i}]"),
                format!(
                    "`{id}` is not a channel id: use ids like C0123ABCD (channel details → \
                     About), not names"
                ),
            );
        }
    }
    for (i, id) in s.users.iter().enumerate() {
        if !slack_id(id, &['U', 'W']) {
            c.issue(
                format!("slack_app.users[{i}]"),
                format!(
                    "`{id}` is not a user id: use ids like U0123ABCD (profile → Copy member \
                     ID), not names"
                ),
            );
        }
    }
    let command_ok = s.command.len() >= 2
        && s.command.len() <= 32
        && s.command.starts_with('/')
        && s.command[1..]
            .chars()
            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || "-_".contains(ch));
    if !command_ok {
        c.issue(
            "slack_app.command",
            format!(
                "`{}` is not a slash command: use `/` and up to 31 lower-case letters, digits, \
                 `-` or `_`, like \"/tally\"",
                s.command
            ),
        );
    }
    c.http_url("slack_app.api_url", &s.api_url);
    if !scheduled {
        c.warn(
            "slack_app",
            "is answered by `tally daemon`, which needs [schedule] cron: without it, no \
             command is answered",
        );
    }
    SlackAppSpec {
        app_token: Secret::new(token.unwrap_or_default()),
        channels: s.channels.clone(),
        users: s.users.clone(),
        command: s.command.clone(),
        api_url: s.api_url.trim_end_matches('/').to_string(),
    }
}

/// An id of Slack's: one of `first`, then upper-case letters and digits.
fn slack_id(id: &str, first: &[char]) -> bool {
    let mut chars = id.chars();
    chars.next().is_some_and(|c| first.contains(&c))
        && id.len() >= 3
        && chars.all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
}
