//! An explained user for people: a title, lines, and tables rendered as the reports are; as one
//! text for the terminal ([`text`]) or as pieces that a chat message lays out ([`pieces`]).

use super::Explained;
use crate::report::render::{self, Format, Style};
use crate::report::{Body, Report};
use crate::value::{Value, plain};

/// A piece of the explanation.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    /// The first line: who, in which segment, over which days.
    Title(String),
    /// A line of prose.
    Line(String),
    /// A rendered table (in `format`).
    Table(String),
}

/// The explanation as one text in `format` (a table or Markdown).
pub fn text(style: &Style, e: &Explained, format: Format) -> String {
    let end = if format == Format::Markdown {
        "\n\n"
    } else {
        "\n"
    };
    pieces(style, e, format)
        .into_iter()
        .map(|p| match p {
            Piece::Title(t) | Piece::Line(t) => format!("{t}{end}"),
            Piece::Table(t) => format!("{}\n", t.trim_end()),
        })
        .collect()
}

/// The explanation's pieces, tables in `format`.
pub fn pieces(style: &Style, e: &Explained, format: Format) -> Vec<Piece> {
    let (Some(first), Some(last)) = (e.groups.first().map(|g| g.0), e.groups.last().map(|g| g.0))
    else {
        return Vec::new();
    };
    let mut out = vec![Piece::Title(format!(
        "{} in segment {}, {first} to {last}",
        e.user, e.segment
    ))];
    let groups: Vec<String> = e
        .groups
        .iter()
        .map(|(d, g)| format!("{} {}", d.format("%m-%d"), g.as_deref().unwrap_or("none")))
        .collect();
    out.push(Piece::Line(format!("groups: {}", groups.join(", "))));
    for (day, from, to) in e.changes() {
        out.push(Piece::Line(format!("{from} → {to} on {day}")));
    }
    let window_first = crate::days::days_before(last, e.window - 1);
    out.push(Piece::Line(format!(
        "score on {last} (window {} days, {window_first} to {last}):",
        e.window
    )));
    // The tables are rendered as the reports are.
    let table_of = |columns: Vec<String>, rows: Vec<Vec<Value>>| Report {
        name: "user".into(),
        title: "user".into(),
        first: last,
        last,
        columns,
        rows,
        body: Body::Table,
        style: style.clone(),
        definition: String::new(),
    };
    let parts = e.parts.iter().map(|p| {
        let n = |d: &bigdecimal::BigDecimal| Value::from_decimal(d.normalized());
        vec![
            Value::Text(p.value.clone()),
            n(&p.count),
            n(&p.weight),
            n(&p.weighted),
        ]
    });
    let columns = ["value", "count", "weight", "weighted"]
        .map(String::from)
        .to_vec();
    out.push(Piece::Table(table(
        &table_of(columns, parts.collect()),
        format,
    )));
    out.push(Piece::Line(verdict(e)));
    if e.rewards.is_empty() {
        out.push(Piece::Line("rewards: none on these days".into()));
    } else {
        out.push(Piece::Line("rewards:".into()));
        let (columns, rows) = rewards(e);
        out.push(Piece::Table(table(&table_of(columns, rows), format)));
    }
    out
}

/// "sum 87 / 7 days = score 12.43: light (from 0); heavy needs 15, has 12.43".
fn verdict(e: &Explained) -> String {
    let mut verdict = format!(
        "sum {} / {} days = score {}",
        plain(&e.sum.normalized()),
        e.window,
        plain(&e.score)
    );
    if let Some((group, min)) = &e.threshold {
        verdict += &format!(": {group} (from {})", plain(&min.normalized()));
    }
    if let Some((group, min)) = &e.next {
        verdict += &format!(
            "; {group} needs {}, has {}",
            plain(&min.normalized()),
            plain(&e.score)
        );
    }
    verdict
}

/// The rewards' columns and rows (claims only when the rewards rollup counts them).
fn rewards(e: &Explained) -> (Vec<String>, Vec<Vec<Value>>) {
    let claims = e.rewards.iter().any(|r| r.claims.is_some());
    let mut columns = vec!["day".to_string()];
    if claims {
        columns.push("claims".into());
    }
    columns.extend(["amount".to_string(), "share of the day".to_string()]);
    let rows = e
        .rewards
        .iter()
        .map(|r| {
            let mut row = vec![Value::Text(r.day.to_string())];
            if claims {
                row.push(r.claims.clone().unwrap_or(Value::Null));
            }
            row.extend([Value::Dec(r.amount.clone()), Value::Dec(r.share.clone())]);
            row
        })
        .collect();
    (columns, rows)
}

fn table(report: &Report, format: Format) -> String {
    match format {
        Format::Markdown => format!("{}\n", render::render(report, Format::Markdown).trim_end()),
        _ => format!("{}\n", render::table(report)),
    }
}
