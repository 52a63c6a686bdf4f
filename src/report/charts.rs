//! The report's charts as SVG, drawn with plotters: bars (incidents per day, acknowledgement
//! times) and a line (displacement trend). Labels are numbers and dates only, so a chart
//! reads the same in both languages; what it shows is said by the caption. Pure.

use plotters::coord::ranged1d::SegmentedCoord;
use plotters::coord::types::{RangedCoordu32, RangedCoordu64};
use plotters::prelude::*;

const ACCENT: RGBColor = RGBColor(0x1f, 0x5f, 0x99);
const FONT: &str = "Noto Sans";
const SIZE: (u32, u32) = (640, 260);

type Result = std::result::Result<(), Box<dyn std::error::Error>>;
/// A chart of one value per label: a segment per label along x, counts up y.
type Chart<'a, 'b> =
    ChartContext<'a, SVGBackend<'b>, Cartesian2d<SegmentedCoord<RangedCoordu32>, RangedCoordu64>>;

/// A bar chart of `values` under `labels` (one bar each).
pub fn bars(labels: &[String], values: &[u64]) -> String {
    draw(labels, values, |chart| {
        // Bars drawn one by one in order (plotters' Histogram groups them in a hash map, whose
        // order would change the SVG from one run to the next).
        chart.draw_series(values.iter().enumerate().map(|(i, v)| {
            let mut bar = Rectangle::new(
                [
                    (SegmentValue::Exact(i as u32), 0),
                    (SegmentValue::Exact(i as u32 + 1), *v),
                ],
                ACCENT.filled(),
            );
            bar.set_margin(0, 0, 3, 3);
            bar
        }))?;
        Ok(())
    })
}

/// A line chart of `values` under `labels`, with its points marked.
pub fn line(labels: &[String], values: &[u64]) -> String {
    draw(labels, values, |chart| {
        let points: Vec<(SegmentValue<u32>, u64)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| (SegmentValue::CenterOf(i as u32), *v))
            .collect();
        chart.draw_series(LineSeries::new(points.clone(), ACCENT.stroke_width(2)))?;
        chart.draw_series(
            points
                .into_iter()
                .map(|p| Circle::new(p, 3, ACCENT.filled())),
        )?;
        Ok(())
    })
}

/// The SVG of a chart of `values` under `labels`: the frame every chart shares (white, the y
/// axis up to a little above the largest value, a label every few segments), then `series`.
fn draw(
    labels: &[String],
    values: &[u64],
    series: impl FnOnce(&mut Chart<'_, '_>) -> Result,
) -> String {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        // SVGBackend writes to a String: drawing has no way to fail but a plotting bug.
        let _ = frame(&root, labels, values).and_then(|mut chart| series(&mut chart));
        let _ = root.present();
    }
    svg
}

fn frame<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    labels: &[String],
    values: &[u64],
) -> std::result::Result<Chart<'a, 'b>, Box<dyn std::error::Error>> {
    root.fill(&WHITE)?;
    // Segments 0..=n-1: one per value (at least two, so the axis has a range).
    let n = labels.len().max(2) as u32;
    let top = values.iter().copied().max().unwrap_or(0).max(1);
    let top = top + top.div_ceil(10);
    let mut chart = ChartBuilder::on(root)
        .margin(8)
        .margin_right(16)
        .x_label_area_size(30)
        .y_label_area_size(52)
        .build_cartesian_2d((0..n - 1).into_segmented(), 0u64..top)?;
    let every = (n as usize).div_ceil(12).max(1);
    chart
        .configure_mesh()
        .disable_x_mesh()
        .light_line_style(WHITE)
        .bold_line_style(RGBColor(0xc9, 0xd1, 0xdb))
        .y_labels(6)
        .x_labels(labels.len().min(40))
        .x_label_formatter(&|v| match v {
            SegmentValue::CenterOf(i) if (*i as usize).is_multiple_of(every) => {
                labels.get(*i as usize).cloned().unwrap_or_default()
            }
            _ => String::new(),
        })
        .y_label_formatter(&|v| format!("{v}"))
        .label_style((FONT, 15))
        .draw()?;
    Ok(chart)
}

/// The acknowledgement-time buckets, in hours, and their labels.
pub const ACK_BUCKETS: &[(i64, &str)] = &[
    (60, "<1"),
    (180, "1-3"),
    (360, "3-6"),
    (720, "6-12"),
    (1440, "12-24"),
    (i64::MAX, ">24"),
];

/// How many of `minutes` fall in each of `ACK_BUCKETS`.
pub fn ack_buckets(minutes: impl IntoIterator<Item = i64>) -> Vec<u64> {
    let mut out = vec![0u64; ACK_BUCKETS.len()];
    for m in minutes {
        let i = ACK_BUCKETS
            .iter()
            .position(|(limit, _)| m < *limit)
            .unwrap_or(ACK_BUCKETS.len() - 1);
        out[i] += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_draw_one_rect_per_value_and_the_labels() {
        let labels: Vec<String> = ["01/12", "02/12", "03/12"].map(String::from).to_vec();
        let svg = bars(&labels, &[2, 0, 5]);
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("02/12"));
        assert!(svg.contains("#1F5F99") || svg.contains("#1f5f99"), "{svg}");
        assert_eq!(svg.matches("fill=\"#1F5F99\"").count(), 3, "{svg}");
        for _ in 0..5 {
            assert_eq!(bars(&labels, &[2, 0, 5]), svg, "the same chart every time");
        }
    }

    #[test]
    fn ack_times_fall_in_their_buckets() {
        assert_eq!(ack_buckets([0, 59, 60, 200, 5000]), vec![2, 1, 1, 0, 0, 1]);
    }

    #[test]
    fn a_line_is_drawn_even_for_one_day() {
        let svg = line(&["01/12".to_string()], &[7]);
        assert!(svg.contains("<polyline") || svg.contains("<path"), "{svg}");
    }

    #[test]
    fn a_line_marks_each_point_under_its_label() {
        let labels: Vec<String> = ["01/12", "02/12", "03/12"].map(String::from).to_vec();
        let svg = line(&labels, &[4, 9, 1]);
        assert_eq!(svg.matches("<circle").count(), 3, "{svg}");
        for l in &labels {
            assert!(svg.contains(l.as_str()), "{l}");
        }
    }
}
