//! Getting started: `tally init [DIR]`, a commented `tally.toml` for the story's setup
//! (PostgreSQL actions, MySQL rewards, a segment, the report, Slack and a schedule) and a `.env`
//! (mode 0600) for its secrets, each value left to the user a `<fill in: ...>` placeholder that
//! the config check names until it is replaced (existing files are never overwritten); and the
//! shell completions and man page, generated from the command-line definitions.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::args::Shell;
use super::emit;
use crate::error::Error;

const CONFIG: &str = r#"# tally.toml, written by `tally init`. Replace every <fill in: ...> (here and in .env);
# `tally check` names the ones that are left, then connects to everything and sends nothing.
# Every key is described in docs/config.md.

timezone = "<fill in: the zone your days start and end in, like Asia/Seoul or UTC>"
store = ".tally/store.sqlite"          # the local SQLite file, relative to this file

# The PostgreSQL (replica) of on-chain actions. The URL is in .env.
[sources.chain]
url = "${CHAIN_DATABASE_URL}"
timezone = "UTC"                       # how to read a `timestamp` without time zone
statement_timeout = "60s"

# The MySQL database of reward claims.
[sources.portal]
url = "${PORTAL_DATABASE_URL}"
timezone = "UTC"                       # how to read DATETIME columns

# Per user, action type and day: how many actions. Pulled one day per query.
[rollups.activity]
source = "chain"
table = "<fill in: the actions table, like public.actions>"
time = "<fill in: its timestamp column, like block_time>"
user = "<fill in: the expression of the player, like lower(signer)>"
dimensions = { action = "<fill in: the action type column, like type_id>" }
measures = { actions = "count(*)" }

# Per wallet and day: the rewards claimed. Pulled six hours per query.
[rollups.rewards]
source = "portal"
table = "<fill in: the rewards table, like rewards>"
time = "<fill in: its time column, like claimed_at>"
user = "<fill in: the expression of the wallet, like lower(wallet)>"
measures = { claims = "count(*)", amount = "sum(<fill in: the amount column, like amount>)" }
# Sum one currency only: two currencies added up mean nothing. Keep the rows of the one the
# report is about, or delete this line when the table holds a single currency.
filter = "<fill in: the one currency to sum, like currency = 'NCG'>"
slice = "6h"

# Heavy and light players by their weighted actions over the last 7 days.
[segments.engagement]
rollup = "activity"
score = "actions"
by = "action"
window = "7d"
weights = {}                           # like { daily_reward7 = 0, hack_and_slash22 = 2 }
default_weight = 1
groups = [ { name = "heavy", min_score = 15 }, { name = "light", min_score = 0 } ]

# Per day and group: users, activity, and their share of the day's rewards.
[reports.rewards_by_segment]
kind = "segment_rewards"
title = "Rewards by engagement segment"
segment = "engagement"
rewards = "rewards"
amount = "amount"
days = 8

# The report in Slack: a message with the table, the CSV and the chart in its thread.
[[deliver]]
kind = "slack"
token = "${SLACK_BOT_TOKEN}"
channel = "${SLACK_CHANNEL}"

# Every day at 09:00 in `timezone`, for yesterday; a notice goes to Slack when a run fails.
[schedule]
cron = "0 9 * * *"
notify = "slack"

# Answer `/tally user ID`, `/tally report NAME` and `/tally status` in Slack (Socket Mode, from
# the store only): uncomment with an app-level token (xapp-..., see docs/slack.md).
# [slack_app]
# app_token = "${SLACK_APP_TOKEN}"
# channels = ["C0123456789"]
"#;

const ENV: &str = r#"# Secrets for tally.toml (this file is readable by its owner only).
CHAIN_DATABASE_URL="<fill in: postgres://USER:PASSWORD@HOST:5432/DATABASE?sslmode=verify-full>"
PORTAL_DATABASE_URL="<fill in: mysql://USER:PASSWORD@HOST:3306/DATABASE?ssl-mode=VERIFY_IDENTITY>"
SLACK_BOT_TOKEN="<fill in: the bot token, xoxb-...>"
SLACK_CHANNEL="<fill in: the channel ID, like C0123456789>"
"#;

/// Writes `tally.toml` and `.env` into `dir`, leaving existing files alone.
pub fn run(dir: &Path) -> Result<bool, Error> {
    std::fs::create_dir_all(dir).map_err(Error::io(format!("creating {}", dir.display())))?;
    let config = dir.join("tally.toml");
    let env = dir.join(".env");
    for (path, text, mode) in [(&config, CONFIG, 0o644), (&env, ENV, 0o600)] {
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(path);
        match created {
            Ok(mut file) => {
                file.write_all(text.as_bytes())
                    .map_err(Error::io(format!("writing {}", path.display())))?;
                crate::stdout::line(&format!("wrote {}", path.display())).map_err(Error::stdout)?;
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                crate::stdout::line(&format!(
                    "kept {} (it exists; tally init never overwrites)",
                    path.display()
                ))
                .map_err(Error::stdout)?;
            }
            Err(e) => return Err(Error::io(format!("writing {}", path.display()))(e)),
        }
    }
    crate::stdout::line(&format!(
        "\nNext: replace each <fill in: ...> in {} and {}, then run\n  tally -c {} check",
        config.display(),
        env.display(),
        config.display()
    ))
    .map_err(Error::stdout)?;
    Ok(true)
}

/// Prints the completion script for `shell`, generated from the clap definitions.
pub fn completions(shell: Shell) -> Result<bool, Error> {
    let shell = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    let mut command = <super::Cli as clap::CommandFactory>::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, "tally", &mut script);
    emit(&script, None)?;
    Ok(true)
}

/// Prints the man page (roff): the sections generated from the clap definitions, then exit
/// status, files, examples and where the rest is (only what the package installs).
pub fn man() -> Result<bool, Error> {
    let man = clap_mangen::Man::new(<super::Cli as clap::CommandFactory>::command());
    let mut page = Vec::new();
    let render = |page: &mut Vec<u8>| -> std::io::Result<()> {
        man.render_title(page)?;
        man.render_name_section(page)?;
        man.render_synopsis_section(page)?;
        man.render_description_section(page)?;
        man.render_options_section(page)?;
        man.render_subcommands_section(page)?;
        page.extend_from_slice(MAN_SECTIONS.as_bytes());
        man.render_version_section(page)
    };
    render(&mut page).map_err(Error::io("rendering the man page"))?;
    emit(&page, None)?;
    Ok(true)
}

/// The man page's sections that clap does not write.
const MAN_SECTIONS: &str = r#".SH "EXIT STATUS"
.TP
\fB0\fR
Success.
.TP
\fB1\fR
A failure at run time: a source, the store or a delivery failed (the message says which).
.TP
\fB2\fR
A usage or configuration error, named by its key; nothing was changed.
.TP
\fB130\fR
Stopped by SIGINT or SIGTERM; every slice committed so far stays in the store.
.SH FILES
.TP
\fItally.toml\fR
The config, in the current folder unless \fB\-c\fR or \fBTALLY_CONFIG\fR names another.
Relative paths in it are relative to its folder.
.TP
\fI.env\fR
Beside the config: the values of \fB${VAR}\fR references (source URLs, the Slack token), unless
\fB\-\-env\-file\fR names another file. Keep it mode 0600.
.TP
\fI.tally/store.sqlite\fR
The store (the \fBstore\fR key), beside the config: one SQLite file, read with
\fBtally query\fR or \fBsqlite3\fR(1).
.TP
\fI/etc/tally/tally.toml\fR, \fI/etc/tally/.env\fR
With the package: the daemon's config and secrets (see \fI/etc/tally/tally.toml.example\fR).
.TP
\fI/var/lib/tally/\fR
With the package: the daemon's store and reports.
.TP
\fI/usr/share/doc/tally/\fR
With the package: README.md, CHANGELOG.md, and docs/ with guide.md (a real config, step by step),
config.md (every key), daemon.md, slack.md, sources.md and store.md.
.SH EXAMPLES
.TP
\fBtally demo\fR
A demo on generated SQLite data: no server, no secret.
.TP
\fBtally init my\-tally\fR
Writes a commented config and a .env for your databases, with what to fill in.
.TP
\fBtally \-c my\-tally/tally.toml check\fR
Checks the config, then connects to every source and destination; sends nothing.
.TP
\fBtally run \-\-dry\-run\fR
What each destination would get for yesterday, from the store as it is.
.TP
\fBtally run\fR
Syncs, builds and delivers yesterday's reports, once (from cron: add \fB\-\-wait\fR).
.TP
\fBtally report rewards_by_segment \-\-date 2026\-11\-30 \-\-format csv\fR
One report for another day, as CSV.
.TP
\fBtally user 0xabc123 \-\-days 14\fR
Why a player is in their group: their score's parts, their group each day, their rewards.
.TP
\fBtally whatif engagement \-\-rewards rewards \-\-amount amount \-\-set groups.heavy.min_score=20 \-\-payout heavy=2\fR
What the last 8 days would have looked like with heavy from 20 and heavy rewards doubled; changes nothing.
.TP
\fBtally query "SELECT day, count(*) FROM engagement GROUP BY day"\fR
Read\-only SQL over the store.
.TP
\fBsudo systemctl enable \-\-now tally\fR
With the package: the daemon, at every \fB[schedule] cron\fR time.
.SH "SEE ALSO"
\fBsystemctl\fR(1), \fBjournalctl\fR(1), \fBcrontab\fR(5), \fBsqlite3\fR(1)
"#;
