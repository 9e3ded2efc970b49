//! The PNG of a lifecycle report: each day's users stacked by state.

use plotters::prelude::*;

use super::{
    Drawn, FAMILY, INACTIVE, PALETTE, SIZE, caption_size, day_mesh, days_and_groups, legend, marks,
};
use crate::report::Report;
use crate::report::lifecycle::Count;

/// Draws the report into `pixels`.
pub(super) fn draw(report: &Report, counts: &[Count], pixels: &mut [u8]) -> Drawn {
    let (days, states) = days_and_groups(counts.iter().map(|c| (c.day, c.state.as_str())));
    let n = days.len().max(1);
    let day_of = |c: &Count| days.iter().position(|d| *d == c.day.to_string());
    let mut totals = vec![0i64; days.len()];
    for c in counts {
        if let Some(d) = day_of(c) {
            totals[d] += c.users;
        }
    }
    let top = (totals.iter().copied().max().unwrap_or(0).max(1) as f64) * 1.3;
    let root = BitMapBackend::with_buffer(pixels, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!("{}: {} – {}", report.title, report.first, report.last);
    let mut chart = ChartBuilder::on(&root)
        .caption(&title, (FAMILY, caption_size(&title)))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(100)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)?;
    day_mesh(&mut chart, &days, "users", top)?;
    let mut bottom = vec![0f64; days.len()];
    for (k, state) in states.iter().enumerate() {
        let color = if state == "inactive" {
            INACTIVE
        } else {
            PALETTE[k % PALETTE.len()]
        };
        let bars: Vec<Rectangle<(f64, f64)>> = counts
            .iter()
            .filter(|c| c.state == *state)
            .filter_map(|c| {
                let d = day_of(c)?;
                let (low, high) = (bottom[d], bottom[d] + c.users as f64);
                bottom[d] = high;
                Some(Rectangle::new(
                    [(d as f64 - 0.35, low), (d as f64 + 0.35, high)],
                    color.filled(),
                ))
            })
            .collect();
        chart
            .draw_series(bars)?
            .label(state.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
    }
    marks(&mut chart, report, &days, top)?;
    legend(&mut chart, SeriesLabelPosition::UpperLeft, 16)?;
    root.present()?;
    Ok(())
}
