//! `/charts/timeline.svg`: how the race moved. Above, each candidate's share of the votes
//! counted; below, the electoral votes of the states called for them, with the line at 270;
//! both over the time since the first point of the [`Timeline`].

use crate::charts::{candidate_color, legend, text_style, thousands, ChartError};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use tally_model::Timeline;

type Drawn = Result<(), Box<dyn std::error::Error>>;

/// The timeline chart as an SVG document of `size` pixels.
pub fn render_timeline(timeline: &Timeline, to_win: u32, size: (u32, u32)) -> Result<String, ChartError> {
    let failed = |e: &dyn std::fmt::Display| ChartError {
        chart: "timeline",
        detail: e.to_string(),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(&e))?;
        draw(&root, timeline, to_win).map_err(|e| failed(&e))?;
        root.present().map_err(|e| failed(&e))?;
    }
    Ok(svg)
}

fn draw(root: &DrawingArea<SVGBackend<'_>, plotters::coord::Shift>, timeline: &Timeline, to_win: u32) -> Drawn {
    let area = root.titled("How the race moved", ("sans-serif", 24))?;
    let (w, h) = area.dim_in_pixel();
    let (Some(first), Some(last)) = (timeline.points.first(), timeline.points.last()) else {
        area.draw(&Text::new(
            "No votes yet",
            (w as i32 / 2, h as i32 / 2),
            text_style(18, (HPos::Center, VPos::Center)),
        ))?;
        return Ok(());
    };
    // The candidates with the most votes at the last point, at most six.
    let mut ranked: Vec<(&String, u64)> = last.candidates.iter().map(|(n, c)| (n, c.votes)).collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let names: Vec<&str> = ranked.iter().take(6).map(|(n, _)| n.as_str()).collect();

    let (left, right) = (56, w as i32 - 12);
    let legend_h = 26;
    let plot_h = h as i32 - legend_h - 22;
    let (share_top, share_bottom) = (8, plot_h * 55 / 100);
    let (ev_top, ev_bottom) = (share_bottom + 24, plot_h);
    let span_ms = (last.as_of - first.as_of).max(1) as f64;
    let x = |as_of: i64| left + ((right - left) as f64 * (as_of - first.as_of) as f64 / span_ms) as i32;

    // Shares, on a scale to the next 10% above the largest.
    let widest = timeline
        .points
        .iter()
        .flat_map(|p| names.iter().filter_map(|n| p.candidates.get(*n)).map(|c| c.share))
        .fold(0.1f64, f64::max);
    let top_share = ((widest * 10.0).ceil() / 10.0).min(1.0);
    let y_share = |share: f64| share_bottom - ((share_bottom - share_top) as f64 * share / top_share) as i32;
    let grid = RGBColor(0xdd, 0xdd, 0xdd);
    for tenth in 0..=((top_share * 10.0).round() as i32) {
        let share = f64::from(tenth) / 10.0;
        area.draw(&PathElement::new(
            vec![(left, y_share(share)), (right, y_share(share))],
            grid,
        ))?;
        area.draw(&Text::new(
            format!("{}%", tenth * 10),
            (left - 6, y_share(share)),
            text_style(12, (HPos::Right, VPos::Center)),
        ))?;
    }
    // Called electoral votes, 0 to 538, with the line at 270.
    let y_ev = |votes: u32| ev_bottom - ((ev_bottom - ev_top) as f64 * f64::from(votes) / 538.0) as i32;
    for votes in [0, to_win, 538] {
        let style = if votes == to_win {
            BLACK.stroke_width(1)
        } else {
            grid.stroke_width(1)
        };
        area.draw(&PathElement::new(
            vec![(left, y_ev(votes)), (right, y_ev(votes))],
            style,
        ))?;
        area.draw(&Text::new(
            votes.to_string(),
            (left - 6, y_ev(votes)),
            text_style(12, (HPos::Right, VPos::Center)),
        ))?;
    }
    area.draw(&Text::new(
        "called electoral votes",
        (right, ev_top - 10),
        text_style(12, (HPos::Right, VPos::Center)),
    ))?;
    for name in &names {
        let color = candidate_color(name);
        let share: Vec<(i32, i32)> = timeline
            .points
            .iter()
            .map(|p| (x(p.as_of), y_share(p.candidates.get(*name).map_or(0.0, |c| c.share))))
            .collect();
        area.draw(&PathElement::new(share, color.stroke_width(2)))?;
        // Calls are steps: a state's votes count from the moment it is called.
        let mut called = Vec::new();
        for p in &timeline.points {
            let votes = p.candidates.get(*name).map_or(0, |c| c.called_electoral_votes);
            if let Some(&(_, previous)) = called.last() {
                called.push((x(p.as_of), previous));
            }
            called.push((x(p.as_of), y_ev(votes)));
        }
        area.draw(&PathElement::new(called, color.stroke_width(2)))?;
    }
    let seconds = span_ms / 1000.0;
    let until = if seconds >= 120.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{seconds:.0} s")
    };
    area.draw(&Text::new(
        format!("{} votes", thousands(first.votes)),
        (left, plot_h + 12),
        text_style(12, (HPos::Left, VPos::Center)),
    ))?;
    area.draw(&Text::new(
        format!("{until} later: {} votes", thousands(last.votes)),
        (right, plot_h + 12),
        text_style(12, (HPos::Right, VPos::Center)),
    ))?;
    legend(&area, &names, h as i32 - legend_h / 2)
}
