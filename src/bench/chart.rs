//! `braid bench --plot FILE.svg`: consume events/s against consumer
//! processes, one line per partition count (Kafka path), plus the inproc
//! line (no broker, at the largest partition count) as the ceiling.

use anyhow::{anyhow, Result};
use plotters::prelude::*;

use super::results::{CellSummary, Results};

/// Line colours, one per partition count (the inproc line is black).
const COLORS: [RGBColor; 8] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
];

/// One line of the chart: its label, colour and points (processes, events/s).
struct Line {
    label: String,
    color: RGBColor,
    points: Vec<(f64, f64)>,
}

fn lines(cells: &[CellSummary]) -> Vec<Line> {
    let mut out = Vec::new();
    let mut series: Vec<(&str, u32)> = cells
        .iter()
        .filter(|c| c.transport != "inproc")
        .map(|c| (c.transport, c.partitions))
        .collect();
    series.sort_unstable();
    series.dedup();
    for (i, (t, p)) in series.iter().enumerate() {
        out.push(Line {
            label: format!("{t}, {p} partitions"),
            color: COLORS[i % COLORS.len()],
            points: points(cells, t, *p),
        });
    }
    let top = cells
        .iter()
        .filter(|c| c.transport == "inproc")
        .map(|c| c.partitions)
        .max();
    if let Some(p) = top {
        out.push(Line {
            label: format!("inproc (no broker), {p} partitions"),
            color: BLACK,
            points: points(cells, "inproc", p),
        });
    }
    out
}

fn points(cells: &[CellSummary], transport: &str, partitions: u32) -> Vec<(f64, f64)> {
    let mut v: Vec<(f64, f64)> = cells
        .iter()
        .filter(|c| c.transport == transport && c.partitions == partitions)
        .map(|c| (c.processes as f64, c.consume_events_per_sec.median))
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v
}

/// The chart as an SVG document.
pub fn svg(results: &Results) -> Result<String> {
    let cells = results.cells();
    let lines = lines(&cells);
    let all = lines.iter().flat_map(|l| l.points.iter());
    let (mut x0, mut x1, mut y1) = (f64::MAX, f64::MIN, 0.0f64);
    for (x, y) in all {
        x0 = x0.min(*x);
        x1 = x1.max(*x);
        y1 = y1.max(*y);
    }
    if x0 > x1 {
        return Err(anyhow!("nothing to plot yet"));
    }
    if x0 == x1 {
        x0 -= 0.5;
        x1 += 0.5;
    }
    let y1 = if y1 > 0.0 { y1 * 1.1 } else { 1.0 };
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (900, 560)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| anyhow!("cannot draw the chart: {e}");
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "braid bench: consume events/s by consumer processes",
                ("sans-serif", 22),
            )
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(x0..x1, 0.0..y1)
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("consumer processes")
            .y_desc("events/s")
            .x_labels(((x1 - x0) as usize + 1).min(16))
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| crate::report::thousands(y.max(0.0).round() as u64))
            .draw()
            .map_err(|e| err(&e))?;
        for l in &lines {
            let color = l.color;
            chart
                .draw_series(LineSeries::new(l.points.clone(), color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(l.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            chart
                .draw_series(l.points.iter().map(|p| Circle::new(*p, 3, color.filled())))
                .map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK)
            .draw()
            .map_err(|e| err(&e))?;
        root.present().map_err(|e| err(&e))?;
    }
    Ok(out)
}
