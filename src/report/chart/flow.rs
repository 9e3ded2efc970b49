//! The PNG of a segment_flow report: the report day's from × to square as a heat grid, each
//! cell shaded by its share of the `from` group and labelled with its count of users and that
//! share.

use bigdecimal::ToPrimitive;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::{FAMILY, PALETTE, SIZE, fit, notes_below};
use crate::report::Report;
use crate::report::segment_flow::{Flow, Square};
use crate::value::{Value, number};

/// Draws the last report day's square into `pixels`.
pub(super) fn draw(
    report: &Report,
    flows: &[Flow],
    pixels: &mut [u8],
) -> Result<(), Box<dyn std::error::Error>> {
    let root = BitMapBackend::with_buffer(pixels, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let square = Square::of(flows, report.last);
    let (since, names) = (square.since, &square.names);
    let title = format!("{}: {since} → {}", report.title, report.last);
    let (w, h) = (SIZE.0 as i32, SIZE.1 as i32);
    root.draw(&Text::new(title, (w / 2, 30), centered(30, &BLACK)))?;
    let n = names.len().max(1) as i32;
    // Room on the left for the row names, at the top for the column names.
    let (left, top) = (260, 130);
    let side = ((w - left - 40) / n).min((h - top - 30) / n);
    let grid_left = left + (w - left - 40 - side * n) / 2;
    root.draw(&Text::new(
        format!("on {}", report.last),
        (grid_left + side * n / 2, top - 60),
        centered(20, &BLACK),
    ))?;
    root.draw(&Text::new(
        format!("on {since}"),
        (grid_left - 160, top - 60),
        centered(20, &BLACK),
    ))?;
    // Labels shrink with the cells and are cut to fit (about 0.55 em a character).
    let label_size = (side as u32 / 4).clamp(10, 20);
    let fits = |width: i32| (width as f64 / (f64::from(label_size) * 0.55)) as usize;
    for (r, from) in names.iter().enumerate() {
        let y0 = top + side * r as i32;
        root.draw(&Text::new(
            fit(from, fits(200)),
            (grid_left - 110, y0 + side / 2),
            centered(label_size, &BLACK),
        ))?;
        for (c, to) in names.iter().enumerate() {
            let x0 = grid_left + side * c as i32;
            if r == 0 {
                root.draw(&Text::new(
                    fit(to, fits(side - 4)),
                    (x0 + side / 2, top - 25),
                    centered(label_size, &BLACK),
                ))?;
            }
            if let Some(cell) = square.cell(from, to) {
                draw_cell(&root, cell, (x0, y0), side)?;
            }
        }
    }
    notes_below(&root, report)?;
    root.present()?;
    Ok(())
}

/// Text of `size` in `color`, centered on its position.
fn centered(size: u32, color: &'static RGBColor) -> TextStyle<'static> {
    TextStyle::from((FAMILY, size).into_font())
        .color(color)
        .pos(Pos::new(HPos::Center, VPos::Center))
}

/// One cell of the square at `(x0, y0)`, `side` pixels wide: shaded by its share of its from
/// group, with its count over its share.
fn draw_cell(
    root: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
    cell: &Flow,
    (x0, y0): (i32, i32),
    side: i32,
) -> Result<(), Box<dyn std::error::Error>> {
    let base = PALETTE[0];
    // A picture: floating point is fine, the exact shares are in the CSV.
    let share = (cell.share.to_f64().unwrap_or(0.0) / 100.0).clamp(0.0, 1.0);
    let mix = |full: u8| (255.0 - (255.0 - f64::from(full)) * share).round() as u8;
    let fill = RGBColor(mix(base.0), mix(base.1), mix(base.2));
    let corners = [(x0, y0), (x0 + side, y0 + side)];
    root.draw(&Rectangle::new(corners, fill.filled()))?;
    root.draw(&Rectangle::new(corners, RGBColor(120, 120, 120)))?;
    let ink: &'static RGBColor = if share > 0.55 { &WHITE } else { &BLACK };
    let (count, percent, size) = labels(cell, side);
    let gap = (size as i32 * 6) / 10;
    for (text, dy) in [(count, -gap), (percent, gap)] {
        root.draw(&Text::new(
            text,
            (x0 + side / 2, y0 + side / 2 + dy),
            centered(size, ink),
        ))?;
    }
    Ok(())
}

/// A cell's two lines, its count and its share, and the font size at which both fit a cell
/// `side` pixels wide (about 0.6 em a character; two lines of 1.2 em).
fn labels(cell: &Flow, side: i32) -> (String, String, u32) {
    let count = number(&Value::Int(cell.users));
    let percent = format!("{}%", Value::Dec(cell.share.clone()));
    let longest = count.chars().count().max(percent.chars().count()).max(1) as f64;
    let room = f64::from((side - 6).max(1));
    let size = (room / (longest * 0.6)).min(room / 2.6).clamp(8.0, 22.0) as u32;
    (count, percent, size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cell_shows_its_count_and_its_share() {
        let cell = |users: i64, share: &str| Flow {
            day: chrono::NaiveDate::from_ymd_opt(2026, 12, 5).unwrap(),
            since: chrono::NaiveDate::from_ymd_opt(2026, 11, 28).unwrap(),
            from: "light".into(),
            to: "heavy".into(),
            users,
            share: share.parse().unwrap(),
        };
        for side in [40, 60, 120, 300] {
            let (count, percent, size) = labels(&cell(1_234_567, "61.2"), side);
            assert_eq!((count.as_str(), percent.as_str()), ("1,234,567", "61.2%"));
            assert!((8..=22).contains(&size), "{side}: {size}");
        }
        // A wide cell gets the largest font; a narrow one a smaller one.
        assert_eq!(labels(&cell(9, "0.5"), 300).2, 22);
        assert!(labels(&cell(1_234_567, "61.2"), 60).2 < 22);
    }
}
