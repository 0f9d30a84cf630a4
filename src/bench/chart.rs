//! `braid bench --plot FILE.svg`: consume events/s against consumer
//! processes, one line per partition count (Kafka path), plus the inproc
//! line (no broker, at the largest partition count) as the ceiling.
//!
//! The process axis is categorical: one evenly spaced slot per process
//! count measured (1, 2, 4, 8 sit side by side), so no line is drawn
//! across a count that has no data. A subtitle says what each cell
//! measured (events, size, runs, cores), and a cell with more processes
//! than partitions (its extra workers idle) is drawn as a cross.

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

/// One line of the chart: its label, colour, partitions and points
/// (processes, events/s).
struct Line {
    label: String,
    color: RGBColor,
    partitions: u32,
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
            partitions: *p,
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
            partitions: p,
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

/// The process counts measured, in order: the categories of the x axis.
fn process_counts(lines: &[Line]) -> Vec<u32> {
    let mut v: Vec<u32> = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.0 as u32))
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The chart as an SVG document.
pub fn svg(results: &Results) -> Result<String> {
    let cells = results.cells();
    let lines = lines(&cells);
    let counts = process_counts(&lines);
    if counts.is_empty() {
        return Err(anyhow!("nothing to plot yet"));
    }
    // Process count → its slot on the axis.
    let slot = |processes: f64| -> f64 {
        counts
            .iter()
            .position(|c| *c as f64 == processes)
            .unwrap_or(0) as f64
    };
    let y1 = lines
        .iter()
        .flat_map(|l| l.points.iter().map(|p| p.1))
        .fold(0.0f64, f64::max);
    let y1 = if y1 > 0.0 { y1 * 1.15 } else { 1.0 };
    let x1 = counts.len() as f64 - 0.5;
    let over = lines
        .iter()
        .any(|l| l.points.iter().any(|p| p.0 as u32 > l.partitions));
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (900, 580)).into_drawing_area();
        let err = |e: &dyn std::fmt::Display| anyhow!("cannot draw the chart: {e}");
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let root = root
            .titled(
                "braid bench: consume events/s by consumer processes",
                ("sans-serif", 22),
            )
            .map_err(|e| err(&e))?;
        let root = root
            .titled(&results.subtitle(), ("sans-serif", 14))
            .map_err(|e| err(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(-0.5..x1, 0.0..y1)
            .map_err(|e| err(&e))?;
        let labels = counts.clone();
        chart
            .configure_mesh()
            .x_desc("consumer processes (one slot per count measured)")
            .y_desc("events/s")
            .x_labels(counts.len() * 2 + 1)
            .x_label_formatter(&move |x| {
                let i = x.round();
                if (x - i).abs() > 0.01 || i < 0.0 {
                    return String::new();
                }
                labels
                    .get(i as usize)
                    .map(|c| c.to_string())
                    .unwrap_or_default()
            })
            .disable_x_mesh()
            .y_label_formatter(&|y| crate::report::thousands(y.max(0.0).round() as u64))
            .draw()
            .map_err(|e| err(&e))?;
        for l in &lines {
            let color = l.color;
            let pts: Vec<(f64, f64)> = l.points.iter().map(|p| (slot(p.0), p.1)).collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(l.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                });
            let (fit, more): (Vec<_>, Vec<_>) = l
                .points
                .iter()
                .zip(&pts)
                .partition(|(p, _)| p.0 as u32 <= l.partitions);
            chart
                .draw_series(fit.iter().map(|(_, q)| Circle::new(**q, 3, color.filled())))
                .map_err(|e| err(&e))?;
            chart
                .draw_series(
                    more.iter()
                        .map(|(_, q)| Cross::new(**q, 6, color.stroke_width(2))),
                )
                .map_err(|e| err(&e))?;
        }
        if over {
            // A legend entry for the crosses.
            chart
                .draw_series(std::iter::empty::<Circle<(f64, f64), i32>>())
                .map_err(|e| err(&e))?
                .label("x: more processes than partitions (the extra workers idle)")
                .legend(|(x, y)| Cross::new((x + 10, y), 5, BLACK.stroke_width(2)));
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
