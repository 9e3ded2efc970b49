//! Report output formats: terminal table, Markdown, CSV and JSON. Tables align by display width,
//! so wide characters (Hangul, CJK) line up; numbers are right-aligned.

use comfy_table::{CellAlignment, ContentArrangement, Table, presets};
use serde_json::{Map, Value as Json, json};
use unicode_width::UnicodeWidthStr;

use super::Report;
use crate::value::Value;

/// An output format of `tally report` and `tally query`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table for the terminal.
    Table,
    /// A Markdown table.
    Markdown,
    /// CSV with a header row.
    Csv,
    /// A JSON object with the rows as objects.
    Json,
}

impl Format {
    /// The usual file extension.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Table => "txt",
            Format::Markdown => "md",
            Format::Csv => "csv",
            Format::Json => "json",
        }
    }
}

/// Renders a report.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Table => format!("{}\n{}\n", heading(report), table(report)),
        Format::Markdown => markdown(report),
        Format::Csv => csv(report),
        Format::Json => json(report),
    }
}

fn heading(report: &Report) -> String {
    if report.first == report.last {
        format!("{} ({})", report.title, report.last)
    } else {
        format!("{} ({} to {})", report.title, report.first, report.last)
    }
}

/// True when every non-empty cell of the column is a number.
fn numeric_columns(report: &Report) -> Vec<bool> {
    (0..report.columns.len())
        .map(|i| {
            let mut cells = report
                .rows
                .iter()
                .map(|r| &r[i])
                .filter(|v| **v != Value::Null);
            let mut any = false;
            let all = cells.all(|v| {
                any = true;
                v.is_numeric()
                    || matches!(v, Value::Text(t) if crate::value::parse_decimal(t).is_some())
            });
            any && all
        })
        .collect()
}

/// A table for the terminal (also what `tally query` prints).
pub fn table(report: &Report) -> String {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(&report.columns);
    for row in &report.rows {
        t.add_row(row.iter().map(|v| v.to_string()));
    }
    for (i, numeric) in numeric_columns(report).into_iter().enumerate() {
        if let Some(col) = t.column_mut(i).filter(|_| numeric) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    t.to_string()
}

/// A cell that cannot break its table row: `|` escaped, line breaks as `<br>`.
fn markdown_cell(text: &str) -> String {
    text.replace('|', "\\|")
        .replace("\r\n", "<br>")
        .replace(['\r', '\n'], "<br>")
}

fn markdown(report: &Report) -> String {
    let numeric = numeric_columns(report);
    let cells: Vec<Vec<String>> = report
        .rows
        .iter()
        .map(|r| r.iter().map(|v| markdown_cell(&v.to_string())).collect())
        .collect();
    let headers: Vec<String> = report.columns.iter().map(|c| markdown_cell(c)).collect();
    let widths: Vec<usize> = headers
        .iter()
        .enumerate()
        .map(|(i, c)| {
            cells
                .iter()
                .map(|r| r[i].width())
                .chain([c.width(), 3])
                .max()
                .unwrap_or(3)
        })
        .collect();
    let pad = |text: &str, i: usize| {
        let fill = " ".repeat(widths[i] - text.width());
        if numeric[i] {
            format!("{fill}{text}")
        } else {
            format!("{text}{fill}")
        }
    };
    let line = |row: Vec<String>| format!("| {} |\n", row.join(" | "));
    let mut out = format!("### {}\n\n", heading(report));
    out += &line(headers.iter().enumerate().map(|(i, c)| pad(c, i)).collect());
    out += &line(
        widths
            .iter()
            .zip(&numeric)
            .map(|(w, n)| {
                if *n {
                    format!("{}:", "-".repeat(w - 1))
                } else {
                    "-".repeat(*w)
                }
            })
            .collect(),
    );
    for row in cells {
        out += &line(row.iter().enumerate().map(|(i, c)| pad(c, i)).collect());
    }
    out
}

fn csv(report: &Report) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let write = |w: &mut csv::Writer<Vec<u8>>, rec: Vec<String>| {
        w.write_record(rec)
            .expect("writing CSV to memory cannot fail")
    };
    write(&mut w, report.columns.clone());
    for row in &report.rows {
        write(&mut w, row.iter().map(|v| v.to_string()).collect());
    }
    String::from_utf8(w.into_inner().expect("in-memory writer")).expect("CSV of UTF-8 strings")
}

/// Decimals become strings so that no JSON reader turns money into a float.
fn json(report: &Report) -> String {
    let rows: Vec<Json> = report
        .rows
        .iter()
        .map(|row| {
            let obj: Map<String, Json> = report
                .columns
                .iter()
                .zip(row)
                .map(|(c, v)| {
                    let j = match v {
                        Value::Null => Json::Null,
                        Value::Int(i) => json!(i),
                        Value::Float(f) => json!(f),
                        Value::Dec(d) => json!(crate::value::plain(d)),
                        Value::Text(t) => json!(t),
                    };
                    (c.clone(), j)
                })
                .collect();
            Json::Object(obj)
        })
        .collect();
    let doc = json!({
        "report": report.name,
        "title": report.title,
        "start": report.first.to_string(),
        "end": report.last.to_string(),
        "columns": report.columns,
        "rows": rows,
    });
    serde_json::to_string_pretty(&doc).expect("serializable") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Report {
        Report {
            name: "r".into(),
            title: "Rewards".into(),
            first: "2026-11-27".parse().unwrap(),
            last: "2026-11-28".parse().unwrap(),
            columns: vec!["segment".into(), "rewards".into()],
            rows: vec![
                vec![
                    Value::Text("헤비".into()),
                    Value::Dec(crate::value::parse_decimal("12.50").unwrap()),
                ],
                vec![Value::Text("light".into()), Value::Int(3)],
            ],
            body: crate::report::Body::Table,
        }
    }

    #[test]
    fn markdown_cells_keep_the_table_whole() {
        assert_eq!(markdown_cell("a|b\nc\r\nd\re"), "a\\|b<br>c<br>d<br>e");
    }

    #[test]
    fn markdown_aligns_wide_characters_and_numbers() {
        let md = render(&sample(), Format::Markdown);
        let lines: Vec<&str> = md.lines().skip(2).collect();
        assert_eq!(lines[0], "| segment | rewards |");
        assert_eq!(lines[1], "| ------- | ------: |");
        assert_eq!(lines[2], "| 헤비    |   12.50 |");
        assert_eq!(lines[3], "| light   |       3 |");
    }

    #[test]
    fn csv_and_json_keep_decimals_exact() {
        assert_eq!(
            render(&sample(), Format::Csv),
            "segment,rewards\n헤비,12.50\nlight,3\n"
        );
        let j: Json = serde_json::from_str(&render(&sample(), Format::Json)).unwrap();
        assert_eq!(j["rows"][0]["rewards"], json!("12.50"));
        assert_eq!(j["rows"][1]["rewards"], json!(3));
    }
}
