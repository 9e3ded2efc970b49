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
        Format::Table => {
            let note = footnote(report).map_or(String::new(), |n| format!("{n}\n"));
            let notes: String = notes(report).iter().map(|n| format!("{n}\n")).collect();
            format!("{}\n{}\n{note}{notes}", heading(report), table(report))
        }
        Format::Markdown => {
            let note =
                footnote(report).map_or(String::new(), |n| format!("\n{}\n", markdown_cell(&n)));
            let notes: String = notes(report)
                .iter()
                .map(|n| format!("\n- {}", markdown_cell(n)))
                .collect();
            let notes = if notes.is_empty() {
                notes
            } else {
                format!("{notes}\n")
            };
            format!("{}{note}{notes}", markdown(report))
        }
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
    terminal_table(report).to_string()
}

/// [`table`] at most `width` columns wide: long cells wrap.
pub fn table_within(report: &Report, width: u16) -> String {
    let mut t = terminal_table(report);
    t.set_width(width);
    t.to_string()
}

fn terminal_table(report: &Report) -> Table {
    let mut t = Table::new();
    t.load_preset(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_header(&report.columns);
    for row in &report.rows {
        t.add_row((0..row.len()).map(|i| display(report, row, i)));
    }
    for (i, numeric) in numeric_columns(report).into_iter().enumerate() {
        if let Some(col) = t.column_mut(i).filter(|_| numeric) {
            col.set_cell_alignment(CellAlignment::Right);
        }
    }
    t
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
        .map(|r| {
            (0..r.len())
                .map(|i| markdown_cell(&display(report, r, i)))
                .collect()
        })
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

/// `[output] csv_formulas`: what CSV does with a text cell that a spreadsheet would run as a
/// formula.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CsvFormulas {
    /// A leading `'`, as OWASP advises for CSV injection: the cell reads as text.
    #[default]
    Escape,
    /// Cells as they are.
    Keep,
}

/// How a report is shown, beyond its format.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Style {
    /// What CSV does with text cells that look like formulas.
    pub csv_formulas: CsvFormulas,
    /// The chart's font (`[chart] font`), instead of the built-in one.
    pub font: Option<std::path::PathBuf>,
    /// The report's `decimals`: how amounts are shown in text, Markdown and Slack.
    pub rounding: Option<Rounding>,
    /// The days that may still change, for a report with a `day` column.
    pub provisional: Option<Provisional>,
    /// Notes on the report's days: `[[annotations]]` and recorded changes of the segments it
    /// reads, oldest first.
    pub notes: Vec<Note>,
}

/// A note on one day of a report: an `[[annotations]]` entry, or a change of a segment's
/// definition that tally recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// The day it marks.
    pub day: chrono::NaiveDate,
    /// What it says.
    pub text: String,
}

/// The report's notes as lines (`2026-11-03: text`), newlines as spaces.
pub fn notes(report: &Report) -> Vec<String> {
    report
        .style
        .notes
        .iter()
        .map(|n| {
            let text: String = n
                .text
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            format!("{}: {text}", n.day)
        })
        .collect()
}

/// The days of a report that a later daily run pulls again (they lie within a rollup's
/// `lookback` of the report date): their numbers may still change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provisional {
    /// The report's `day` column.
    pub column: usize,
    /// The provisional days, `YYYY-MM-DD`.
    pub days: Vec<String>,
    /// For how many days late rows are pulled again (the longest lookback, in whole days).
    pub again_days: u32,
}

impl Provisional {
    /// True when `row` is of a provisional day.
    pub fn holds(&self, row: &[Value]) -> bool {
        matches!(row.get(self.column), Some(Value::Text(day)) if self.days.contains(day))
    }
}

/// Cell `column` of `row` as the text, Markdown and Slack tables show it: [`shown`], and a
/// provisional day's date marked with `*`.
pub fn display(report: &Report, row: &[Value], column: usize) -> String {
    let text = shown(report, column, &row[column]).to_string();
    match &report.style.provisional {
        Some(p) if p.column == column && p.holds(row) => format!("{text}*"),
        _ => text,
    }
}

/// What the `*` of a provisional day means, when a row of the report has one.
pub fn footnote(report: &Report) -> Option<String> {
    let p = report.style.provisional.as_ref()?;
    report.rows.iter().any(|r| p.holds(r)).then(|| {
        format!(
            "* may still change: late rows are pulled again for {} day{}",
            p.again_days,
            if p.again_days == 1 { "" } else { "s" }
        )
    })
}

/// Amounts shown with a fixed number of decimals (`decimals`); CSV and JSON stay exact.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rounding {
    /// Decimal places.
    pub places: u32,
    /// The columns that hold amounts (by index).
    pub columns: Vec<usize>,
}

/// Cell `column` of a row as people read it: an amount rounded to the report's `decimals`,
/// anything else as it is.
pub fn shown<'v>(report: &Report, column: usize, v: &'v Value) -> std::borrow::Cow<'v, Value> {
    match &report.style.rounding {
        Some(r) if r.columns.contains(&column) => {
            std::borrow::Cow::Owned(crate::value::rounded(v, r.places))
        }
        _ => std::borrow::Cow::Borrowed(v),
    }
}

/// A CSV cell: a text that a spreadsheet would run as a formula (it starts with `=`, `+`, `-`,
/// `@`, a tab or a carriage return, and is not a plain number) gets a leading `'`.
fn csv_cell(text: String, formulas: CsvFormulas) -> String {
    let risky = text.starts_with(['=', '+', '-', '@', '\t', '\r'])
        && crate::value::parse_decimal(&text).is_none();
    if formulas == CsvFormulas::Escape && risky {
        format!("'{text}")
    } else {
        text
    }
}

fn csv(report: &Report) -> String {
    let formulas = report.style.csv_formulas;
    let mut w = csv::Writer::from_writer(Vec::new());
    let write = |w: &mut csv::Writer<Vec<u8>>, rec: Vec<String>| {
        w.write_record(rec)
            .expect("writing CSV to memory cannot fail")
    };
    let provisional = report.style.provisional.as_ref();
    let header = report.columns.iter().map(|c| csv_cell(c.clone(), formulas));
    let extra = provisional.map(|_| "provisional".to_string());
    write(&mut w, header.chain(extra).collect());
    for row in &report.rows {
        let cells = row.iter().map(|v| match v {
            Value::Text(t) => csv_cell(t.clone(), formulas),
            number => number.to_string(),
        });
        let extra = provisional.map(|p| p.holds(row).to_string());
        write(&mut w, cells.chain(extra).collect());
    }
    String::from_utf8(w.into_inner().expect("in-memory writer")).expect("CSV of UTF-8 strings")
}

/// Decimals become strings so that no JSON reader turns money into a float.
fn json(report: &Report) -> String {
    let rows: Vec<Json> = report
        .rows
        .iter()
        .map(|row| {
            let mut obj: Map<String, Json> = report
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
            if let Some(p) = &report.style.provisional {
                obj.insert("provisional".into(), json!(p.holds(row)));
            }
            Json::Object(obj)
        })
        .collect();
    let doc = json!({
        "report": report.name,
        "title": report.title,
        "start": report.first.to_string(),
        "end": report.last.to_string(),
        "columns": report
            .columns
            .iter()
            .cloned()
            .chain(report.style.provisional.as_ref().map(|_| "provisional".to_string()))
            .collect::<Vec<String>>(),
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
            style: Style::default(),
            definition: String::new(),
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

    /// OWASP's CSV injection advice: a leading `'` for formula-like text, numbers untouched.
    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_are_escaped() {
        let mut report = sample();
        report.columns = vec!["=user".into(), "n".into()];
        report.rows = vec![
            vec![Value::Text("=cmd|' /C calc'!A0".into()), Value::Int(-5)],
            vec![Value::Text("+1+1".into()), Value::Text("-12.50".into())],
            vec![Value::Text("@SUM(A1)".into()), Value::Text("\tx".into())],
            vec![Value::Text("-".into()), Value::Text("a=b".into())],
        ];
        assert_eq!(
            render(&report, Format::Csv),
            "'=user,n\n'=cmd|' /C calc'!A0,-5\n'+1+1,-12.50\n'@SUM(A1),'\tx\n'-,a=b\n"
        );
        report.style.csv_formulas = CsvFormulas::Keep;
        assert!(render(&report, Format::Csv).starts_with("=user,n\n=cmd"));
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
