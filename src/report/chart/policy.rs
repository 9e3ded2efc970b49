//! The PNG of a policy_compare report: for each day, each group's share of the day's rewards
//! now (solid) and under the candidate (light), side by side.

use bigdecimal::ToPrimitive;
use plotters::prelude::*;

use super::{
    Drawn, FAMILY, SIZE, caption_size, day_mesh, days_and_groups, group_color, legend, marks,
};
use crate::report::Report;
use crate::report::policy_compare::Shares;

/// Draws the report into `pixels`.
pub(super) fn draw(report: &Report, shares: &[Shares], pixels: &mut [u8]) -> Drawn {
    let (days, groups) = days_and_groups(shares.iter().map(|s| (s.day, s.group.as_str())));
    let root = BitMapBackend::with_buffer(pixels, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let n = days.len().max(1);
    let title = format!("{}: {} – {}", report.title, report.first, report.last);
    let mut chart = ChartBuilder::on(&root)
        .caption(&title, (FAMILY, caption_size(&title)))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(80)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..130f64)?;
    day_mesh(
        &mut chart,
        &days,
        "share of the day's rewards (%): now, then candidate",
        100.0,
    )?;
    // Each day's slot holds two bars per group: now, then the candidate.
    let slot = 0.8 / groups.len().max(1) as f64;
    for (g, name) in groups.iter().enumerate() {
        let color = group_color(g, groups.len());
        let bar = |s: &Shares, candidate: bool| {
            let d = days.iter().position(|x| *x == s.day.to_string())? as f64;
            let x = d - 0.4 + slot * g as f64 + if candidate { slot / 2.0 } else { 0.0 };
            let v = if candidate { &s.candidate } else { &s.now };
            let style = if candidate {
                color.mix(0.4).filled()
            } else {
                color.filled()
            };
            Some(Rectangle::new(
                [(x, 0.0), (x + slot / 2.0 * 0.9, v.to_f64()?)],
                style,
            ))
        };
        let mine = || shares.iter().filter(|s| s.group == *name);
        chart
            .draw_series(mine().filter_map(|s| bar(s, false)))?
            .label(format!("{name} now"))
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
        chart
            .draw_series(mine().filter_map(|s| bar(s, true)))?
            .label(format!("{name} candidate"))
            .legend(move |(x, y)| {
                Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.mix(0.4).filled())
            });
    }
    marks(&mut chart, report, &days, 130.0)?;
    legend(&mut chart, SeriesLabelPosition::UpperLeft, 14)?;
    root.present()?;
    Ok(())
}
