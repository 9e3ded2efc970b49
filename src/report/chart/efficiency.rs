//! The PNG of a reward_efficiency report: each group's top 10 % share (solid, left axis) and
//! Gini coefficient (dashed, right axis) over the days.

use bigdecimal::ToPrimitive;
use plotters::prelude::*;

use super::{
    Drawn, FAMILY, SIZE, caption_size, dashes, day_mesh, days_and_groups, group_color, legend,
    marks,
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
    day_mesh(&mut chart, &days, "top 10 % of claimers' share (%)", 100.0)?;
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
        let color = group_color(g, groups.len());
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
        let dashed = gini
            .windows(2)
            .flat_map(|w| dashes(w[0], w[1], 10, color.stroke_width(2)));
        chart.draw_secondary_series(dashed)?;
        chart.draw_secondary_series(gini.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
    }
    marks(&mut chart, report, &days, 130.0)?;
    legend(&mut chart, SeriesLabelPosition::UpperLeft, 16)?;
    root.present()?;
    Ok(())
}
