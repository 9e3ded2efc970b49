//! A report as a Slack message: a header, a summary line, the report as a Block Kit table block
//! (numbers right-aligned with thousands separators), and a plain-text fallback. Stays within
//! Slack's limits: 100 rows and 20 columns per table, 150 characters per header. A segment_flow
//! report shows its last day as a from × to matrix; an alert shows its condition.
//!
//! User ids, dimension values and cells come from production data: every text Slack shows is
//! [`escape`]d, so a value like `<!channel>` never pings anyone.

use serde_json::{Value as Json, json};

use crate::report::revise::{self, Cause, Revisions};
use crate::report::segment_flow::{Flow, Square};
use crate::report::segment_rewards::Share;
use crate::report::{Body, Report, render};
use crate::value::{Value, number, plain};

/// Most columns a table block holds.
const MAX_COLUMNS: usize = 20;

/// A message ready to post.
#[derive(Debug, Clone)]
pub struct Message {
    /// Plain-text fallback (notifications, clients without blocks).
    pub text: String,
    /// Block Kit blocks.
    pub blocks: Vec<Json>,
}

/// Most revised cells a message lists.
pub const MAX_REVISED: usize = 10;

/// The section that says what changed since the last report: why, then up to
/// [`MAX_REVISED`] cells, or the one line of a changed definition.
fn revised_section(revisions: &Revisions) -> String {
    let why = revise::cause_text(&revisions.cause);
    if matches!(revisions.cause, Cause::Definition(_)) {
        return format!("*Revised since the last report*: {}.", escape(&why));
    }
    format!(
        "*Revised since the last report* ({}):\n{}",
        escape(&why),
        revised_lines(&revisions.cells)
    )
}

/// Up to [`MAX_REVISED`] revised cells, a line each, then how many more.
pub fn revised_lines(cells: &[revise::Revision]) -> String {
    let mut lines: Vec<String> = cells
        .iter()
        .take(MAX_REVISED)
        .map(|r| escape(&revise::line(r)))
        .collect();
    if cells.len() > MAX_REVISED {
        lines.push(format!("and {} more", cells.len() - MAX_REVISED));
    }
    lines.join("\n")
}

/// The reply in the thread of an earlier message whose numbers `cells` revise, naming the days
/// and cells that changed.
pub fn revised_reply(
    report: &Report,
    revisions: &Revisions,
    cells: &[revise::Revision],
) -> Message {
    let mut days: Vec<&str> = cells.iter().map(|c| c.day.as_str()).collect();
    days.dedup();
    let head = format!(
        "Revised in the report for {}: {} of {} ({})",
        report.last,
        if days.len() == 1 {
            "the numbers"
        } else {
            "numbers"
        },
        days.join(", "),
        revise::cause_text(&revisions.cause)
    );
    let text = if matches!(revisions.cause, Cause::Definition(_)) {
        escape(&head)
    } else {
        format!("{}:\n{}", escape(&head), revised_lines(cells))
    };
    Message {
        text: text.clone(),
        blocks: vec![
            json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(&text, 3000)}}),
        ],
    }
}

/// Where the whole table is when the message shows part of it.
#[derive(Debug, Clone, Copy)]
pub enum Whole<'a> {
    /// In the CSV posted in the message's thread.
    AttachedCsv,
    /// In the CSV file the run writes.
    CsvFile,
    /// Printed by this command on the server.
    Command(&'a str),
}

/// Builds the message; at most `max_rows` rows (below 100) are shown, and what changed since
/// the last report, when something did; a cut table says where the `whole` one is.
pub fn build(
    report: &Report,
    max_rows: usize,
    whole: Whole<'_>,
    revisions: Option<&Revisions>,
) -> Message {
    let range = if report.first == report.last {
        report.last.to_string()
    } else {
        format!("{} – {}", report.first, report.last)
    };
    let header = clip(&escape(&format!("{}: {range}", report.title)), 150);
    let summary = summary(report);
    let mut blocks =
        vec![json!({"type": "header", "text": {"type": "plain_text", "text": header}})];
    if let Some(s) = &summary {
        // A section's text holds at most 3,000 characters.
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(s, 3000)}}));
    }
    let revised = revisions.map(revised_section);
    if let Some(r) = &revised {
        blocks.push(json!({"type": "section", "text": {"type": "mrkdwn", "text": clip(r, 3000)}}));
    }
    let shown_rows = max_rows.min(99);
    let shown_cols = report.columns.len().min(MAX_COLUMNS);
    let flow = match &report.body {
        // A square of more groups than a table block has columns is shown as a table.
        Body::SegmentFlow(flows) if Square::of(flows, report.last).names.len() < MAX_COLUMNS => {
            Some(flows)
        }
        _ => None,
    };
    if let Some(flows) = flow {
        blocks.push(matrix(flows, report.last));
        if report.first != report.last {
            let note = format!(
                "The matrix shows {}; every day is in the CSV file.",
                report.last
            );
            blocks.push(context(note));
        }
    } else {
        blocks.push(table(report, shown_rows, shown_cols));
    }
    if let Some(note) = render::footnote(report).filter(|_| flow.is_none()) {
        blocks.push(context(escape(&note)));
    }
    let notes = render::notes(report);
    if !notes.is_empty() {
        // A context block's text holds at most 3,000 characters.
        blocks.push(context(clip(&escape(&notes.join("\n")), 3000)));
    }
    let cut = report.rows.len() > shown_rows || report.columns.len() > shown_cols;
    if cut && flow.is_none() {
        let place = match whole {
            Whole::AttachedCsv => "the attached CSV".to_string(),
            Whole::CsvFile => "the CSV file".to_string(),
            Whole::Command(command) => format!("`{}`", escape(command)),
        };
        let note = format!(
            "Showing {} of {} rows and {} of {} columns; the full table is in {place}.",
            report.rows.len().min(shown_rows),
            report.rows.len(),
            shown_cols,
            report.columns.len()
        );
        blocks.push(context(note));
    }
    let text = fallback(report, &header, summary, revised);
    Message { text, blocks }
}

/// The message's plain text (notifications, clients without blocks): the header, the summary
/// and what was revised, without mrkdwn's bold.
fn fallback(
    report: &Report,
    header: &str,
    summary: Option<String>,
    revised: Option<String>,
) -> String {
    let mut text = match summary {
        // Bold marks go; an alert's condition keeps its own `*`.
        Some(s) if matches!(report.body, Body::SegmentRewards(_)) => {
            format!("{header}\n{}", s.replace('*', ""))
        }
        Some(s) => format!("{header}\n{s}"),
        None => format!("{header} ({} rows)", report.rows.len()),
    };
    if let Some(r) = revised {
        text = format!(
            "{text}\n{}",
            r.replacen(
                "*Revised since the last report*",
                "Revised since the last report",
                1
            )
        );
    }
    text
}

/// A context block of one mrkdwn text.
fn context(text: String) -> Json {
    json!({"type": "context", "elements": [{"type": "mrkdwn", "text": text}]})
}

/// The message as a person reads it in Slack, for dry runs: the header, the summary without its
/// bold marks, the table with its columns aligned, and the notes.
pub fn readable(message: &Message) -> String {
    let unescape = |t: &str| {
        t.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&")
    };
    let mut out = String::new();
    for block in &message.blocks {
        match block["type"].as_str() {
            Some("header") => {
                let title = unescape(block["text"]["text"].as_str().unwrap_or(""));
                out += &format!("{title}\n{}\n", "=".repeat(title.chars().count()));
            }
            Some("section") => {
                out += &format!(
                    "{}\n",
                    unbold(&unescape(block["text"]["text"].as_str().unwrap_or("")))
                );
            }
            Some("table") => out += &aligned(block, &unescape),
            Some("context") => {
                for element in block["elements"].as_array().into_iter().flatten() {
                    out += &format!("({})\n", unescape(element["text"].as_str().unwrap_or("")));
                }
            }
            _ => {}
        }
    }
    out
}

/// mrkdwn's `*bold*` marks taken out, except inside `code`.
fn unbold(text: &str) -> String {
    text.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 0 {
                part.replace('*', "")
            } else {
                part.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("`")
}

/// A table block as text: each column as wide as its widest cell, aligned as the block says.
fn aligned(block: &Json, unescape: &dyn Fn(&str) -> String) -> String {
    let rows: Vec<Vec<String>> = block["rows"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| {
            r.as_array()
                .into_iter()
                .flatten()
                .map(|c| unescape(c["text"].as_str().unwrap_or("").trim()))
                .collect()
        })
        .collect();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let width = |i: usize| {
        rows.iter()
            .filter_map(|r| r.get(i))
            .map(|c| unicode_width::UnicodeWidthStr::width(c.as_str()))
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..columns).map(width).collect();
    let right = |i: usize| block["column_settings"][i]["align"] == "right";
    let mut out = String::new();
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let fill =
                    " ".repeat(widths[i] - unicode_width::UnicodeWidthStr::width(c.as_str()));
                if right(i) {
                    format!("{fill}{c}")
                } else {
                    format!("{c}{fill}")
                }
            })
            .collect();
        out += &format!("{}\n", cells.join("  ").trim_end());
    }
    out
}

/// `text` with Slack's control characters escaped (`&`, `<`, `>`), so that it shows as written
/// and can never be a mention (`<!channel>`, `<@U123>`) or a link.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters of `text`, never cutting an escape (`&amp;`) in two.
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max).collect();
    if let Some(amp) = out.rfind('&')
        && !out[amp..].contains(';')
    {
        out.truncate(amp);
    }
    out
}

/// A raw-text cell (Slack refuses empty ones).
fn cell(text: &str) -> Json {
    let text = if text.is_empty() {
        " ".into()
    } else {
        escape(text)
    };
    json!({"type": "raw_text", "text": text})
}

/// A segment_flow report's `day` as a table block: rows from, columns to.
fn matrix(flows: &[Flow], day: chrono::NaiveDate) -> Json {
    let square = Square::of(flows, day);
    let names = &square.names;
    let mut rows = vec![Json::Array(
        std::iter::once(cell(&format!("{} → {day}", square.since)))
            .chain(names.iter().map(|n| cell(n)))
            .collect(),
    )];
    for from in names {
        let counts = names.iter().map(|to| {
            let users = square.cell(from, to).map_or(0, |f| f.users);
            cell(&number(&Value::Int(users)))
        });
        rows.push(Json::Array(
            std::iter::once(cell(from)).chain(counts).collect(),
        ));
    }
    let settings: Vec<Json> = std::iter::once(json!({"align": "left"}))
        .chain(names.iter().map(|_| json!({"align": "right"})))
        .collect();
    json!({"type": "table", "column_settings": settings, "rows": rows})
}

fn table(report: &Report, rows: usize, cols: usize) -> Json {
    let numeric: Vec<bool> = (0..cols)
        .map(|i| {
            report
                .rows
                .iter()
                .map(|r| &r[i])
                .all(|v| v.is_numeric() || *v == Value::Null)
        })
        .collect();
    let mut out = vec![Json::Array(
        report.columns[..cols].iter().map(|c| cell(c)).collect(),
    )];
    for row in report.rows.iter().take(rows) {
        out.push(Json::Array(
            (0..cols)
                .map(|i| {
                    let text = number(&render::shown(report, i, &row[i]));
                    match &report.style.provisional {
                        Some(p) if p.column == i && p.holds(row) => cell(&format!("{text}*")),
                        _ => cell(&text),
                    }
                })
                .collect(),
        ));
    }
    let settings: Vec<Json> = numeric
        .iter()
        .map(|n| json!({"align": if *n { "right" } else { "left" }}))
        .collect();
    json!({"type": "table", "column_settings": settings, "rows": out})
}

/// "1 row", "3 rows".
fn rows(n: usize) -> String {
    match n {
        1 => "1 row".to_string(),
        n => format!("{n} rows"),
    }
}

/// The line under the header, as mrkdwn: for segment_rewards, each group's share on the last day
/// and its change against 7 days before; for segment_flow, what is compared; for an alert, its
/// condition and how many rows matched; for the other built-in reports, their last day in a line.
fn summary(report: &Report) -> Option<String> {
    let last = report.last;
    let n = report.rows.len();
    let condition = |c: &str| escape(c).replace('`', "'");
    Some(match &report.body {
        Body::SegmentRewards(shares) => shares_summary(shares, last),
        Body::SegmentFlow(flows) => match flows.first().map(|f| f.day - f.since)?.num_days() {
            1 => "Moves between groups from the day before to each day.".to_string(),
            n => format!("Moves between groups from {n} days before to each day."),
        },
        Body::Alert {
            report: watched,
            condition: c,
        } if n == 0 => {
            format!("*{}* has {}", escape(watched), condition(c))
        }
        Body::Alert {
            report: watched,
            condition: c,
        } => {
            format!(
                "{} of *{}* matched `{}`",
                rows(n),
                escape(watched),
                condition(c)
            )
        }
        Body::Resolved {
            report: watched,
            condition: c,
            since,
            ..
        } => format!(
            "{} of *{}* that matched `{}` since {since} no longer match{}",
            rows(n),
            escape(watched),
            condition(c),
            if n == 1 { "es" } else { "" }
        ),
        Body::Table => return None,
        _ => return lab_summary(report),
    })
}

/// The line under the header of the policy lab's and the reward economy's reports.
fn lab_summary(report: &Report) -> Option<String> {
    let last = report.last;
    Some(match &report.body {
        Body::PolicyCompare(shares) => {
            let parts = of_day(
                shares,
                |s| s.day == last,
                |s| {
                    Some(format!(
                        "*{}* {}% → {}%",
                        escape(&s.group),
                        plain(&s.now),
                        plain(&s.candidate)
                    ))
                },
            );
            format!("Share of rewards on {last}, now → candidate: {parts}")
        }
        Body::Lifecycle(counts) => {
            let parts = of_day(
                counts,
                |c| c.day == last,
                |c| Some(format!("*{}* {}", c.state, number(&Value::Int(c.users)))),
            );
            format!("Users on {last}: {parts}")
        }
        Body::RewardEfficiency(spreads) => {
            let parts = of_day(
                spreads,
                |s| s.day == last,
                |s| {
                    Some(format!(
                        "*{}* top 10% take {}%, Gini {}",
                        escape(&s.group),
                        plain(s.top10_share.as_ref()?),
                        plain(s.gini.as_ref()?)
                    ))
                },
            );
            if parts.is_empty() {
                format!("No rewards on {last}.")
            } else {
                format!("On {last}: {parts}")
            }
        }
        Body::ScoreDistribution { .. } => {
            let row = report.rows.last()?;
            let cell = |name: &str| {
                let at = report.columns.iter().position(|c| c == name);
                at.map_or(String::new(), |i| row[i].to_string())
            };
            format!(
                "Scores on {last}: {} users, median {}, p90 {}, max {}",
                cell("users"),
                cell("p50"),
                cell("p90"),
                cell("max")
            )
        }
        _ => return None,
    })
}

/// The lines of the items `on` picks, each as `line` writes it, joined with ` · `.
fn of_day<T>(items: &[T], on: impl Fn(&T) -> bool, line: impl Fn(&T) -> Option<String>) -> String {
    let parts: Vec<String> = items.iter().filter(|i| on(i)).filter_map(line).collect();
    parts.join(" · ")
}

/// segment_rewards: each group's share on the last day and its change against 7 days before.
fn shares_summary(shares: &[Share], last: chrono::NaiveDate) -> String {
    let week_before = last - chrono::Days::new(7);
    let share = |day, group: &str| {
        shares
            .iter()
            .find(|s| s.day == day && s.group == group)
            .map(|s| &s.share)
    };
    let parts = of_day(
        shares,
        |s| s.day == last,
        |s| {
            let now = &s.share;
            let change = match share(week_before, &s.group) {
                // Changes of a share are percentage points, not percent.
                Some(before) if now > before => format!(" ▲{} pp", plain(&(now - before))),
                Some(before) if now < before => format!(" ▼{} pp", plain(&(before - now))),
                Some(_) => " ▶0.0 pp".to_string(),
                None => String::new(),
            };
            Some(format!("*{}* {}%{change}", escape(&s.group), plain(now)))
        },
    );
    format!("Share of rewards on {last} (change vs {week_before}): {parts}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::parse_decimal;

    #[test]
    fn data_can_never_ping_or_link() {
        assert_eq!(
            escape("<!channel> & <@U123> <https://x|y>"),
            "&lt;!channel&gt; &amp; &lt;@U123&gt; &lt;https://x|y&gt;"
        );
        assert_eq!(escape("a\n\"b'"), "a\n\"b'");
        // Cutting never leaves half an escape behind.
        assert_eq!(clip(&escape("ab<c"), 4), "ab");
        assert_eq!(clip(&escape("ab<c"), 6), "ab&lt;");
        assert_eq!(clip("abc", 3), "abc");
    }

    #[test]
    fn notes_and_the_policy_summary_are_escaped() {
        let day: chrono::NaiveDate = "2026-11-15".parse().unwrap();
        let share = |s: &str| parse_decimal(s).unwrap();
        let report = Report {
            name: "p".into(),
            title: "p".into(),
            first: day,
            last: day,
            columns: vec!["day".into(), "segment".into()],
            rows: vec![vec![
                Value::Text(day.to_string()),
                Value::Text("<!here>".into()),
            ]],
            body: Body::PolicyCompare(vec![crate::report::policy_compare::Shares {
                day,
                group: "<!here>".into(),
                now: share("33.8"),
                candidate: share("49.5"),
            }]),
            style: crate::report::render::Style {
                notes: vec![crate::report::render::Note {
                    day,
                    text: "raid <!channel>\nnext line".into(),
                }],
                ..Default::default()
            },
            definition: String::new(),
        };
        let m = build(&report, 10, Whole::CsvFile, None);
        let all = serde_json::to_string(&m.blocks).unwrap() + &m.text;
        assert!(
            !all.contains("<!channel>") && !all.contains("<!here>"),
            "{all}"
        );
        assert!(
            all.contains("2026-11-15: raid &lt;!channel&gt; next line"),
            "{all}"
        );
        assert!(all.contains("33.8% → 49.5%"), "{all}");
    }

    #[test]
    fn a_flow_report_is_a_matrix_of_its_last_day() {
        let day: chrono::NaiveDate = "2026-11-15".parse().unwrap();
        let since: chrono::NaiveDate = "2026-11-08".parse().unwrap();
        let names = ["<!here>", "inactive"];
        let flows: Vec<Flow> = names
            .iter()
            .flat_map(|from| names.iter().map(move |to| (*from, *to)))
            .enumerate()
            .map(|(i, (from, to))| Flow {
                day,
                since,
                from: from.into(),
                to: to.into(),
                users: 1000 * i as i64,
                share: parse_decimal("25.0").unwrap(),
            })
            .collect();
        let m = matrix(&flows, day);
        let rows = m["rows"].as_array().unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0][0]["text"], "2026-11-08 → 2026-11-15");
        assert_eq!(rows[0][1]["text"], "&lt;!here&gt;");
        assert_eq!(rows[1][0]["text"], "&lt;!here&gt;");
        assert_eq!(rows[1][2]["text"], "1,000");
        assert_eq!(rows[2][1]["text"], "2,000");
        assert_eq!(m["column_settings"][1]["align"], "right");
    }
}
