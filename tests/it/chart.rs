//! The PNG chart: decoded and checked for size, content and legend; a font for Hangul labels.

use image::{GenericImageView, Rgba};

use crate::support::{Workspace, small_segment_rewards, small_segment_rewards_named};

const BLUE: Rgba<u8> = Rgba([31, 119, 180, 255]);
const ORANGE: Rgba<u8> = Rgba([255, 127, 14, 255]);
const GREY: Rgba<u8> = Rgba([160, 160, 160, 255]);

fn chart(ws: &Workspace) -> Vec<u8> {
    let out = ws.path().join("chart.png");
    let out = out.to_str().unwrap();
    ws.ok(&[
        "report",
        "rewards_by_segment",
        "--no-sync",
        "--date",
        "2026-11-10",
        "--format",
        "png",
        "--output",
        out,
    ]);
    std::fs::read(out).unwrap()
}

#[test]
fn the_chart_has_bars_a_share_line_and_a_legend() {
    let ws = small_segment_rewards("", "");
    let png = chart(&ws);
    let img = image::load_from_memory(&png).unwrap();
    assert_eq!(img.dimensions(), (1200, 675));
    let count = |color: Rgba<u8>, area: (u32, u32, u32, u32)| {
        let (x0, y0, x1, y1) = area;
        (x0..x1)
            .flat_map(|x| (y0..y1).map(move |y| (x, y)))
            .filter(|(x, y)| img.get_pixel(*x, *y) == color)
            .count()
    };
    let whole = (0, 0, 1200, 675);
    for color in [BLUE, ORANGE, GREY] {
        assert!(count(color, whole) > 2_000, "{color:?} bars");
    }
    assert!(
        count(Rgba([0, 0, 0, 255]), whole) > 2_000,
        "text, axes and the share line"
    );
    // The legend sits in the upper left, above the bars: one swatch per group.
    let legend = (110, 50, 320, 170);
    for color in [BLUE, ORANGE, GREY] {
        assert!(count(color, legend) > 50, "{color:?} legend swatch");
    }
}

/// The group names are Hangul, which the built-in font has no glyphs for: it draws the same
/// empty box for every character. With `[chart] font`, the first characters of the legend's two
/// labels (헤 and 라) are drawn as two different glyphs in ink.
#[test]
fn a_configured_font_draws_hangul_labels() {
    let font = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/fonts/NanumGothicCoding.ttf"
    );
    let with_font = small_segment_rewards_named(
        ["헤비", "라이트"],
        &format!("[chart]\nfont = \"{font}\"\n"),
        "",
    );
    let without = small_segment_rewards_named(["헤비", "라이트"], "", "");
    // The first character of each label: dark pixels in the glyph's cell, by position.
    let glyphs = |png: &[u8]| {
        let img = image::load_from_memory(png).unwrap();
        [63, 83].map(|top| {
            (163..179)
                .flat_map(|x| (top..top + 18).map(move |y| (x, y)))
                .filter(|(x, y)| img.get_pixel(*x, *y).0[..3].iter().all(|c| *c < 110))
                .collect::<Vec<(u32, u32)>>()
        })
    };
    let [heavy, light] = glyphs(&chart(&with_font));
    assert!(
        heavy.len() > 25 && light.len() > 25,
        "drawn in ink: {} and {} dark pixels",
        heavy.len(),
        light.len()
    );
    assert_ne!(heavy, light, "two characters, two glyphs");
    let [first, second] = glyphs(&chart(&without));
    let shifted: Vec<(u32, u32)> = second.iter().map(|(x, y)| (*x, y - 20)).collect();
    assert_eq!(
        first, shifted,
        "the built-in font draws one box for every character"
    );
}

#[test]
fn png_needs_an_output_file_a_segment_rewards_report_and_an_existing_font() {
    let ws = small_segment_rewards("[reports.top]\nsql = \"SELECT 1 AS one\"\n", "");
    let out = ws.run(&[
        "report",
        "rewards_by_segment",
        "--no-sync",
        "--format",
        "png",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--output"));
    let file = ws.path().join("x.png");
    let out = ws.run(&[
        "report",
        "top",
        "--no-sync",
        "--format",
        "png",
        "--output",
        file.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reward_efficiency reports only"));
    let config =
        std::fs::read_to_string(ws.config()).unwrap() + "[chart]\nfont = \"missing.ttf\"\n";
    std::fs::write(ws.config(), config).unwrap();
    let out = ws.run(&["check"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("chart.font"));
}
