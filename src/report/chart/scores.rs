//! The PNG of a score_distribution report: each day's histogram of scores on a log scale (one
//! line per day, the report date's thickest), and each group's threshold as a vertical line.

use plotters::prelude::*;

use super::{Drawn, FAMILY, PALETTE, SIZE, caption_size, legend, notes_below};
use crate::report::Report;
use crate::report::score_distribution::{BINS_PER_DECADE, Histogram};

/// Draws the report into `pixels`.
pub(super) fn draw(
    report: &Report,
    histograms: &[Histogram],
    thresholds: &[(String, f64)],
    pixels: &mut [u8],
) -> Drawn {
    let root = BitMapBackend::with_buffer(pixels, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let (x_low, x_high, most) = extent(histograms, thresholds);
    let title = format!("{}: {} – {}", report.title, report.first, report.last);
    let mut chart = ChartBuilder::on(&root)
        .caption(&title, (FAMILY, caption_size(&title)))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(90)
        .build_cartesian_2d((x_low..x_high).log_scale(), 0f64..most * 1.3)?;
    chart
        .configure_mesh()
        .x_desc("score (log scale)")
        .y_label_formatter(&|v| format!("{v:.0}"))
        .y_desc("users per bin")
        .label_style((FAMILY, 16))
        .axis_desc_style((FAMILY, 18))
        .draw()?;
    for (i, h) in histograms.iter().enumerate() {
        let last = i + 1 == histograms.len();
        let color = PALETTE[i % PALETTE.len()].mix(if last { 1.0 } else { 0.5 });
        let width = if last { 3 } else { 1 };
        let points: Vec<(f64, f64)> = h
            .bins
            .iter()
            .flat_map(|(b, n)| {
                let (a, z) = edges(*b);
                [(a, *n as f64), (z, *n as f64)]
            })
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(width)))?
            .label(format!(
                "{}{}",
                h.day,
                if h.zero_or_less > 0 {
                    format!(" ({} at 0 or less)", h.zero_or_less)
                } else {
                    String::new()
                }
            ))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(width))
            });
    }
    for (name, t) in thresholds.iter().filter(|(_, t)| *t > 0.0) {
        chart.draw_series(LineSeries::new(
            [(*t, 0.0), (*t, most * 1.3)],
            BLACK.stroke_width(2),
        ))?;
        chart.draw_series([Text::new(
            format!(" {name} ≥ {t}"),
            (*t, most * 1.25),
            (FAMILY, 16).into_font(),
        )])?;
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight, 14)?;
    notes_below(&root, report)?;
    root.present()?;
    Ok(())
}

/// The scores bin `b` holds: from `10^(b / BINS_PER_DECADE)` to the next bin's start.
fn edges(b: i32) -> (f64, f64) {
    let per = f64::from(BINS_PER_DECADE);
    (
        10f64.powf(f64::from(b) / per),
        10f64.powf(f64::from(b + 1) / per),
    )
}

/// The chart's scores (the bins' and the thresholds', with room on each side) and its highest
/// count of users.
fn extent(histograms: &[Histogram], thresholds: &[(String, f64)]) -> (f64, f64, f64) {
    let bins = histograms
        .iter()
        .flat_map(|h| h.bins.iter().map(|(b, _)| *b));
    let low = bins.clone().min().unwrap_or(0);
    let high = bins.max().unwrap_or(BINS_PER_DECADE);
    let positive = thresholds.iter().map(|(_, t)| *t).filter(|t| *t > 0.0);
    let x_low = positive.clone().fold(edges(low).0, f64::min) / 1.5;
    let x_high = positive.fold(edges(high).1, f64::max) * 1.5;
    let most = histograms
        .iter()
        .flat_map(|h| h.bins.iter().map(|(_, n)| *n))
        .max()
        .unwrap_or(1)
        .max(1) as f64;
    (x_low, x_high, most)
}
