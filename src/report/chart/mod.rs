//! The PNG charts: a segment_rewards report's stacked bars of rewards per day by group with a
//! line for the top group's share, a segment_flow report's heat grid ([`flow`]), a
//! policy_compare report's shares side by side ([`policy`]), a score_distribution report's
//! histograms ([`scores`]), a lifecycle report's stacked states ([`lifecycle`]) and a
//! reward_efficiency report's top shares and Gini ([`efficiency`]); the report's notes (annotations, segment changes) mark their days.
//! Fonts never come from the system: DejaVu Sans ships inside the binary, and `[chart] font`
//! may replace it (for Hangul or other scripts).

mod efficiency;
mod flow;
mod lifecycle;
mod policy;
mod scores;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use image::ImageEncoder;
use plotters::chart::DualCoordChartContext;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use bigdecimal::ToPrimitive;

use super::ReportKind;
use super::segment_rewards::Share;
use super::{Body, Report};

/// Width and height in pixels: 16:9, sharp at Slack's preview size.
pub const SIZE: (u32, u32) = (1200, 675);
const FAMILY: &str = "sans-serif";
static DEFAULT_FONT: &[u8] = include_bytes!("../../../assets/fonts/DejaVuSans.ttf");

/// Colors of the groups in config order; the inactive group (last) is grey.
const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
];
const INACTIVE: RGBColor = RGBColor(160, 160, 160);

/// Makes the chart's font available: the built-in one, or `font` (`[chart] font`) when given.
/// plotters keeps fonts for the whole process: a font file is read once.
fn use_font(font: Option<&Path>) -> Result<(), String> {
    /// The font registered last: `None` before the first chart, `Some(None)` for the built-in.
    static LOADED: Mutex<Option<Option<PathBuf>>> = Mutex::new(None);
    let mut loaded = LOADED.lock().unwrap_or_else(|e| e.into_inner());
    if loaded.as_ref().is_some_and(|l| l.as_deref() == font) {
        return Ok(());
    }
    if font.is_none() && register_font(FAMILY, FontStyle::Normal, DEFAULT_FONT).is_err() {
        unreachable!("the built-in font is a valid TrueType font");
    }
    if let Some(path) = font {
        let bytes =
            std::fs::read(path).map_err(|e| format!("chart.font {}: {e}", path.display()))?;
        // plotters keeps fonts for the whole process; one font per command is leaked on purpose.
        let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
        register_font(FAMILY, FontStyle::Normal, bytes).map_err(|_| {
            format!(
                "chart.font {}: not a TrueType or OpenType font",
                path.display()
            )
        })?;
    }
    *loaded = Some(font.map(Path::to_path_buf));
    Ok(())
}

/// `name` on one line (control characters as spaces), cut to `max` characters with an ellipsis.
fn fit(name: &str, max: usize) -> String {
    let name: String = name
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if name.chars().count() <= max.max(1) {
        return name;
    }
    let kept: String = name.chars().take(max.saturating_sub(1).max(1)).collect();
    format!("{kept}…")
}

/// The color of group `g` of `n`: the palette's, grey for the last (the inactive group).
fn group_color(g: usize, n: usize) -> RGBColor {
    if g + 1 == n && g > 0 {
        INACTIVE
    } else {
        PALETTE[g % PALETTE.len()]
    }
}

/// A dashed straight line from `from` to `to`: every other of `pieces` pieces.
fn dashes(
    from: (f64, f64),
    to: (f64, f64),
    pieces: usize,
    style: ShapeStyle,
) -> impl Iterator<Item = PathElement<(f64, f64)>> {
    let at = move |i: usize| {
        let t = i as f64 / pieces as f64;
        (from.0 + (to.0 - from.0) * t, from.1 + (to.1 - from.1) * t)
    };
    (0..pieces)
        .step_by(2)
        .map(move |i| PathElement::new(vec![at(i), at(i + 1)], style))
}

/// The mesh of a chart over the days: `MM-DD` below, `y_desc` on the left, whole numbers up to
/// `y_top` (none above it: the legend's room).
fn day_mesh<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    days: &[String],
    y_desc: &str,
    y_top: f64,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let labels = |x: &f64| day_label(days, *x);
    let numbers = |v: &f64| {
        if *v <= y_top {
            format!("{v:.0}")
        } else {
            String::new()
        }
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(days.len().max(1) + 1)
        .x_label_formatter(&labels)
        .y_label_formatter(&numbers)
        .x_desc("day")
        .y_desc(y_desc)
        .label_style((FAMILY, 16))
        .axis_desc_style((FAMILY, 18))
        .draw()?;
    Ok(())
}

/// The report's notes as lines at the foot of a chart without a day axis.
fn notes_below<DB: DrawingBackend>(
    root: &DrawingArea<DB, plotters::coord::Shift>,
    report: &Report,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    let lines = report.style.notes.iter().rev().take(3);
    for (k, note) in lines.enumerate() {
        let text = fit(&note.text, 100);
        let y = SIZE.1 as i32 - 18 - 18 * k as i32;
        root.draw(&Text::new(
            format!("{}: {text}", note.day),
            (20, y),
            (FAMILY, 14).into_font(),
        ))?;
    }
    Ok(())
}

/// True when the report can be drawn (a built-in report but top_rewarded).
pub fn can_draw(report: &Report) -> bool {
    matches!(
        report.body,
        Body::SegmentRewards(_)
            | Body::SegmentFlow(_)
            | Body::PolicyCompare(_)
            | Body::ScoreDistribution { .. }
            | Body::Lifecycle(_)
            | Body::RewardEfficiency(_)
    )
}

/// True when reports of this kind have a chart.
pub fn draws(kind: &ReportKind) -> bool {
    matches!(
        kind,
        ReportKind::SegmentRewards { .. }
            | ReportKind::SegmentFlow { .. }
            | ReportKind::PolicyCompare { .. }
            | ReportKind::ScoreDistribution { .. }
            | ReportKind::Lifecycle { .. }
            | ReportKind::RewardEfficiency { .. }
    )
}

/// Why the report `name` has no PNG.
pub fn cannot_draw(name: &str) -> String {
    format!(
        "report `{name}`: PNG charts are drawn for segment_rewards, segment_flow, policy_compare, \
         score_distribution, lifecycle and reward_efficiency reports only"
    )
}

/// The data of the chart.
struct Series {
    days: Vec<String>,
    groups: Vec<String>,
    /// rewards[group][day]
    rewards: Vec<Vec<f64>>,
    /// The first group's share per day, in percent.
    top_share: Vec<f64>,
}

fn series(shares: &[Share]) -> Series {
    let (days, groups) = days_and_groups(shares.iter().map(|s| (s.day, s.group.as_str())));
    let mut rewards = vec![vec![0.0; days.len()]; groups.len()];
    let mut top_share = vec![0.0; days.len()];
    for s in shares {
        let d = days
            .iter()
            .position(|x| *x == s.day.to_string())
            .expect("collected");
        let g = groups
            .iter()
            .position(|x| *x == s.group)
            .expect("collected");
        // Floating point is fine here: this is a picture, the numbers are in the CSV.
        rewards[g][d] = s.rewards.to_f64().unwrap_or(0.0);
        if g == 0 {
            top_share[d] = s.share.to_f64().unwrap_or(0.0);
        }
    }
    Series {
        days,
        groups,
        rewards,
        top_share,
    }
}

/// Draws the chart of a segment_rewards or segment_flow report as PNG bytes.
pub fn png(report: &Report) -> Result<Vec<u8>, String> {
    use_font(report.style.font.as_deref())?;
    let (w, h) = SIZE;
    let mut pixels = vec![0u8; (w * h * 3) as usize];
    let drawn = match &report.body {
        Body::SegmentRewards(shares) => draw(report, &series(shares), &mut pixels),
        Body::SegmentFlow(flows) => flow::draw(report, flows, &mut pixels),
        Body::PolicyCompare(shares) => policy::draw(report, shares, &mut pixels),
        Body::Lifecycle(counts) => lifecycle::draw(report, counts, &mut pixels),
        Body::RewardEfficiency(spreads) => efficiency::draw(report, spreads, &mut pixels),
        Body::ScoreDistribution {
            histograms,
            thresholds,
        } => scores::draw(report, histograms, thresholds, &mut pixels),
        _ => return Err(cannot_draw(&report.name)),
    };
    drawn.map_err(|e| format!("drawing the chart of `{}`: {e}", report.name))?;
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&pixels, w, h, image::ColorType::Rgb8)
        .map_err(|e| format!("encoding the chart of `{}`: {e}", report.name))?;
    Ok(out)
}

/// A chart of days (x) with an amount on the left axis and a percentage on the right.
type DayChart<'a, 'b> = DualCoordChartContext<
    'a,
    BitMapBackend<'b>,
    Cartesian2d<RangedCoordf64, RangedCoordf64>,
    Cartesian2d<RangedCoordf64, RangedCoordf64>,
>;

type Drawn = Result<(), Box<dyn std::error::Error>>;

/// The title's font size: 30 px, smaller for a long title so that it fits the width.
fn caption_size(title: &str) -> u32 {
    let chars = title.chars().count().max(1) as u32;
    // DejaVu Sans is about 0.55 em wide a character; keep 40 px of margin.
    let fits = (SIZE.0 - 40) * 100 / (chars * 55);
    fits.clamp(14, 30)
}

/// The chart's legend, in a box at `position` with labels of `size` px.
fn legend<'a, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    chart: &mut ChartContext<'a, DB, CT>,
    position: SeriesLabelPosition,
    size: u32,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    chart
        .configure_series_labels()
        .position(position)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font((FAMILY, size))
        .draw()?;
    Ok(())
}

/// The days (`YYYY-MM-DD`) and the groups of a chart's points, each once, in order of appearance.
fn days_and_groups<'a>(
    points: impl Iterator<Item = (chrono::NaiveDate, &'a str)>,
) -> (Vec<String>, Vec<String>) {
    let (mut days, mut groups): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for (day, group) in points {
        let day = day.to_string();
        if !days.contains(&day) {
            days.push(day);
        }
        if !groups.iter().any(|g| g == group) {
            groups.push(group.to_string());
        }
    }
    (days, groups)
}

/// The label of day `x` on a day axis: `MM-DD` at a whole index, nothing between.
fn day_label(days: &[String], x: f64) -> String {
    let i = x.round();
    let index = i as usize;
    if (x - i).abs() < 1e-6 && i >= 0.0 && index < days.len() {
        days[index].get(5..).unwrap_or(&days[index]).to_string()
    } else {
        String::new()
    }
}

/// The report's notes on a day axis: a dashed vertical line on each note's day, its text at the
/// top (`top` is the axis's highest value).
fn marks<DB: DrawingBackend>(
    chart: &mut ChartContext<'_, DB, Cartesian2d<RangedCoordf64, RangedCoordf64>>,
    report: &Report,
    days: &[String],
    top: f64,
) -> Drawn
where
    DB::ErrorType: 'static,
{
    for (k, note) in report.style.notes.iter().enumerate() {
        let Some(d) = days.iter().position(|x| *x == note.day.to_string()) else {
            continue;
        };
        let x = d as f64;
        chart.draw_series(dashes((x, 0.0), (x, top), 40, BLACK.stroke_width(2)))?;
        // Notes of one chart stack down from the top, each cut to one short line.
        let text = fit(&note.text, 48);
        let y = top * (0.97 - 0.05 * (k % 4) as f64);
        chart.draw_series([Text::new(
            format!(" {text}"),
            (x, y),
            (FAMILY, 14).into_font(),
        )])?;
    }
    Ok(())
}

fn draw(report: &Report, s: &Series, pixels: &mut [u8]) -> Drawn {
    let root = BitMapBackend::with_buffer(pixels, SIZE).into_drawing_area();
    root.fill(&WHITE)?;
    let n = s.days.len().max(1);
    let highest = (0..s.days.len())
        .map(|d| s.rewards.iter().map(|g| g[d]).sum::<f64>())
        .fold(0.0, f64::max);
    // Headroom above the tallest bar keeps the legend clear of the bars.
    let top = if highest > 0.0 { highest * 1.35 } else { 1.0 };
    let title = format!("{}: {} – {}", report.title, report.first, report.last);
    let mut chart = ChartBuilder::on(&root)
        .caption(&title, (FAMILY, caption_size(&title)))
        .margin(20)
        .x_label_area_size(55)
        .y_label_area_size(100)
        .right_y_label_area_size(80)
        .build_cartesian_2d(-0.5f64..(n as f64 - 0.5), 0f64..top)?
        .set_secondary_coord(-0.5f64..(n as f64 - 0.5), 0f64..100f64);
    axes(&mut chart, s)?;
    bars(&mut chart, s)?;
    let first = s.groups.first().map_or("", String::as_str);
    let share = s.top_share.iter().enumerate().map(|(d, v)| (d as f64, *v));
    chart
        .draw_secondary_series(LineSeries::new(share.clone(), BLACK.stroke_width(3)))?
        .label(format!("{first} share (%)"))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], BLACK.stroke_width(3)));
    chart.draw_secondary_series(share.map(|p| Circle::new(p, 4, BLACK.filled())))?;
    marks(&mut chart, report, &s.days, top)?;
    legend(&mut chart, SeriesLabelPosition::UpperLeft, 16)?;
    root.present()?;
    Ok(())
}

/// The days (as `MM-DD`) below, the rewards on the left, the top group's share on the right.
fn axes(chart: &mut DayChart, s: &Series) -> Drawn {
    let day_label = |x: &f64| day_label(&s.days, *x);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(s.days.len().max(1) + 1)
        .x_label_formatter(&day_label)
        .y_label_formatter(&|v| format!("{v:.0}"))
        .x_desc("day")
        .y_desc("rewards (sum of amount per day)")
        .label_style((FAMILY, 16))
        .axis_desc_style((FAMILY, 18))
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc(format!(
            "share of {} (%)",
            s.groups.first().map_or("", String::as_str)
        ))
        .label_style((FAMILY, 16))
        .axis_desc_style((FAMILY, 18))
        .draw()?;
    Ok(())
}

/// Each day's rewards as a bar stacked by group, the inactive group grey on top.
fn bars(chart: &mut DayChart, s: &Series) -> Drawn {
    let mut bottom = vec![0.0; s.days.len()];
    for (g, name) in s.groups.iter().enumerate() {
        let color = group_color(g, s.groups.len());
        let bars: Vec<Rectangle<(f64, f64)>> = (0..s.days.len())
            .map(|d| {
                let (low, high) = (bottom[d], bottom[d] + s.rewards[g][d]);
                bottom[d] = high;
                let x = d as f64;
                Rectangle::new([(x - 0.35, low), (x + 0.35, high)], color.filled())
            })
            .collect();
        chart
            .draw_series(bars)?
            .label(name.clone())
            .legend(move |(x, y)| Rectangle::new([(x, y - 6), (x + 14, y + 6)], color.filled()));
    }
    Ok(())
}
