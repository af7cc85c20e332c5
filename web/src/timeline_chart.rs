//! `/charts/timeline.svg`: how the race moved. Above, each candidate's share of the votes
//! counted; below, the electoral votes of the states called for them, with the line at 270;
//! both over the time since the first point of the [`Timeline`].

use crate::format::thousands;
use crate::palette::{Palette, MUTED, TEXT};
use crate::scene::{Mark, Scene, PAD, SMALL_PX};
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::RGBColor;
use tally_model::Timeline;

/// Lays out how the race moved: each candidate's share, and called electoral votes toward `to_win`.
pub fn timeline_chart(scene: &mut Scene, timeline: &Timeline, to_win: u32, palette: &Palette) {
    scene.title("How the race moved");
    let (Some(first), Some(last)) = (timeline.points.first(), timeline.points.last()) else {
        scene.note("No votes yet");
        return;
    };
    // The candidates the results colour, in their order.
    let names: Vec<(&str, RGBColor)> = palette.shown().collect();
    let legend: Vec<(String, RGBColor)> = names.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    scene.legend(&legend);

    let axis_w = 44;
    let (left, right) = (PAD + axis_w, scene.width - PAD);
    let plot_h = (scene.width * 45 / 100).clamp(220, 420);
    let share_top = scene.y + 8;
    let share_bottom = share_top + plot_h * 55 / 100;
    let (ev_top, ev_bottom) = (share_bottom + 28, share_top + plot_h);
    let span_ms = (last.as_of - first.as_of).max(1) as f64;
    let x = |as_of: i64| left + ((right - left) as f64 * (as_of - first.as_of) as f64 / span_ms) as i32;

    // Shares, on a scale to the next 10% above the largest.
    let widest = timeline
        .points
        .iter()
        .flat_map(|p| names.iter().filter_map(|(n, _)| p.candidates.get(*n)).map(|c| c.share))
        .fold(0.1f64, f64::max);
    let top_share = ((widest * 10.0).ceil() / 10.0).min(1.0);
    let y_share = |share: f64| share_bottom - ((share_bottom - share_top) as f64 * share / top_share) as i32;
    let grid = RGBColor(0xdd, 0xdd, 0xdd);
    let tenths = (top_share * 10.0).round() as i32;
    // Every tenth on a tall plot; every other one when the labels would touch.
    let step = if (share_bottom - share_top) / tenths.max(1) >= 16 {
        1
    } else {
        2
    };
    for tenth in (0..=tenths).step_by(step) {
        let y = y_share(f64::from(tenth) / 10.0);
        scene.marks.push(Mark::Line {
            points: vec![(left, y), (right, y)],
            color: grid,
            width: 1,
        });
        scene.text(
            format!("{}%", tenth * 10),
            (left - 6, y),
            SMALL_PX,
            (HPos::Right, VPos::Center),
            MUTED,
        );
    }
    // Called electoral votes, 0 to 538, with the line at 270.
    let y_ev = |votes: u32| ev_bottom - ((ev_bottom - ev_top) as f64 * f64::from(votes) / 538.0) as i32;
    for votes in [0, to_win, 538] {
        let (color, label) = if votes == to_win { (TEXT, TEXT) } else { (grid, MUTED) };
        scene.marks.push(Mark::Line {
            points: vec![(left, y_ev(votes)), (right, y_ev(votes))],
            color,
            width: 1,
        });
        scene.text(
            votes.to_string(),
            (left - 6, y_ev(votes)),
            SMALL_PX,
            (HPos::Right, VPos::Center),
            label,
        );
    }
    scene.text(
        "called electoral votes",
        (right, ev_top - 12),
        SMALL_PX,
        (HPos::Right, VPos::Center),
        MUTED,
    );
    for (name, color) in &names {
        let share: Vec<(i32, i32)> = timeline
            .points
            .iter()
            .map(|p| (x(p.as_of), y_share(p.candidates.get(*name).map_or(0.0, |c| c.share))))
            .collect();
        scene.marks.push(Mark::Line {
            points: share,
            color: *color,
            width: 2,
        });
        // Calls are steps: a state's votes count from the moment it is called.
        let mut called: Vec<(i32, i32)> = Vec::new();
        for p in &timeline.points {
            let votes = p.candidates.get(*name).map_or(0, |c| c.called_electoral_votes);
            if let Some(&(_, previous)) = called.last() {
                called.push((x(p.as_of), previous));
            }
            called.push((x(p.as_of), y_ev(votes)));
        }
        scene.marks.push(Mark::Line {
            points: called,
            color: *color,
            width: 2,
        });
    }
    let seconds = span_ms / 1000.0;
    let until = if seconds >= 120.0 {
        format!("{:.0} min", seconds / 60.0)
    } else {
        format!("{seconds:.0} s")
    };
    scene.y = ev_bottom + 8;
    scene.note(&format!(
        "From {} votes counted to {} votes, {until} later.",
        thousands(first.votes),
        thousands(last.votes)
    ));
}
