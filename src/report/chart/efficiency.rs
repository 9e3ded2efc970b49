//! The PNG of a reward_efficiency report: each group's top 10 % share (solid, left axis) and
//! Gini coefficient (dashed, right axis) over the days.

use bigdecimal::ToPrimitive;
use plotters::prelude::*;

use super::{
    Drawn, FAMILY, INACTIVE, PALETTE, SIZE, caption_size, day_label, days_and_groups, legend, marks,
};
use crate::report::Report;
use crate::report::reward_efficiency::Spread;

/// Draws the report into `pixels`.
pub(super) fn draw(report: &Report, spreads: &[Spread], pixels: &mut [u8]) -> Drawn {
    let (days, groups) = days_and_groups(spreads.iter().map(|s| (s.day, s.group.as_str())));
    let n = days.len().max(1);
    let root = BitMapBackend::with_buffer(pixels, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let title = format!("{}: {} – {}", report.title, report.first, report.last);
    let mut chart = ChartBuilder::on(&root)
        .caption(&title, (FAMILY, caption_size(&title)))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(80)
        .right_y_label_area_size(80)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..130f64)?
        .set_secondary_coord(-0.5f64..(n as f64 - 0.5), 0f64..1.3f64);
    let labels = |x: &f64| day_label(&days, *x);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(n + 1)
        .x_label_formatter(&labels)
        .y_label_formatter(&|v| {
            if *v <= 100.0 {
                format!("{v:.0}")
            } else {
                String::new()
            }
        })
        .x_desc("day")
        .y_desc("top 10 % of claimers' share (%)")
        .label_style((FAMILY, 16))
        .axis_desc_style((FAMILY, 18))
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_label_formatter(&|v| {
            if *v <= 1.0 {
                format!("{v:.1}")
            } else {
                String::new()
            }
        })
        .y_desc("Gini (dashed)")
        .label_style((FAMILY, 16))
        .axis_desc_style((FAMILY, 18))
        .draw()?;
    for (g, name) in groups.iter().enumerate() {
        let color = if g + 1 == groups.len() && g > 0 {
            INACTIVE
        } else {
            PALETTE[g % PALETTE.len()]
        };
        let points = |pick: &dyn Fn(&Spread) -> Option<f64>| -> Vec<(f64, f64)> {
            spreads
                .iter()
                .filter(|s| s.group == *name)
                .filter_map(|s| {
                    let d = days.iter().position(|x| *x == s.day.to_string())?;
                    Some((d as f64, pick(s)?))
                })
                .collect()
        };
        let top = points(&|s| s.top10_share.as_ref()?.to_f64());
        let gini = points(&|s| s.gini.as_ref()?.to_f64());
        chart
            .draw_series(LineSeries::new(top, color.stroke_width(3)))?
            .label(name.clone())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 14, y)], color.stroke_width(3))
            });
        // Dashes: every other segment of the Gini line.
        let dashes = gini
            .windows(2)
            .flat_map(|w| {
                let ((x0, y0), (x1, y1)) = (w[0], w[1]);
                (0..10).step_by(2).map(move |i| {
                    let at = |t: f64| (x0 + (x1 - x0) * t, y0 + (y1 - y0) * t);
                    PathElement::new(
                        vec![at(i as f64 / 10.0), at((i + 1) as f64 / 10.0)],
                        color.stroke_width(2),
                    )
                })
            })
            .collect::<Vec<_>>();
        chart.draw_secondary_series(dashes)?;
        chart.draw_secondary_series(gini.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
    }
    marks(&mut chart, report, &days, 130.0)?;
    legend(&mut chart, SeriesLabelPosition::UpperLeft, 16)?;
    root.present()?;
    Ok(())
}
