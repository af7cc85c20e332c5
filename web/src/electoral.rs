//! The electoral-vote bar in the newsroom convention: the Democrat fills from the left, the
//! Republican from the right, anyone else and the votes not yet won sit in the middle, and the
//! 270 mark is at the centre, so the bar reads the same whoever leads the popular vote. Called
//! states are solid, leads pale; each side's total is a big number at its end.

use crate::format::thousands;
use crate::measure::fit;
use crate::palette::{contrast, mix_with_white, Palette, MUTED, NO_VOTES, TEXT, WHITE};
use crate::scene::{Mark, Scene, LABEL_PX, PAD, SMALL_PX};
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::RGBColor;
use tally_model::results::CandidateResult;
use tally_model::Results;

const NUMBER_PX: f64 = 32.0;

/// The candidates at the two ends: the Democrat and the Republican, or else the two with the
/// most votes in name order (so that they keep their sides as the lead changes).
fn sides(results: &Results) -> (Option<&CandidateResult>, Option<&CandidateResult>) {
    let of_party = |party: &str| {
        results.candidates.iter().find(|c| {
            c.party
                .as_deref()
                .is_some_and(|p| p.to_ascii_uppercase().starts_with(party))
        })
    };
    match (of_party("DEMOCRAT"), of_party("REPUBLICAN")) {
        (Some(d), Some(r)) => (Some(d), Some(r)),
        _ => {
            let mut top: Vec<&CandidateResult> = results.candidates.iter().take(2).collect();
            top.sort_by(|a, b| a.name.cmp(&b.name));
            (top.first().copied(), top.get(1).copied())
        }
    }
}

/// Called and leading electoral votes of a candidate.
fn split(results: &Results, candidate: &CandidateResult) -> (u32, u32) {
    let called = results
        .called_electoral_votes
        .get(&candidate.name)
        .copied()
        .unwrap_or(0)
        .min(candidate.electoral_votes);
    (called, candidate.electoral_votes - called)
}

/// Lays out the electoral bar: the Democrat from the left, the Republican from the right, called
/// votes solid and leads pale, 270 in the middle.
pub fn electoral(scene: &mut Scene, results: &Results, palette: &Palette) {
    let to_win = results.electoral_votes_to_win;
    let total: u32 = results.states.values().map(|s| s.electoral_votes).sum::<u32>().max(1);
    scene.title(&format!("Electoral votes: {to_win} to win"));
    let (left, right) = sides(results);
    let half = f64::from(scene.inner() / 2 - 8);
    let top = scene.y;
    // The big numbers, each side's name and its called and leading votes under it.
    for (candidate, x, anchor) in [(left, PAD, HPos::Left), (right, scene.width - PAD, HPos::Right)] {
        let Some(candidate) = candidate else { continue };
        let color = palette.color(&candidate.name);
        // Large text needs 3:1 (WCAG AA); a file's pale colour falls back to black.
        let ink = if contrast(color, WHITE) >= 3.0 { color } else { TEXT };
        let (called, leading) = split(results, candidate);
        scene.bold(
            candidate.electoral_votes.to_string(),
            (x, top + 18),
            NUMBER_PX,
            (anchor, VPos::Center),
            ink,
        );
        let name = fit(&candidate.name, LABEL_PX, true, half);
        scene.bold(name, (x, top + 46), LABEL_PX, (anchor, VPos::Center), TEXT);
        let detail = fit(&format!("{called} called · {leading} leading"), SMALL_PX, false, half);
        scene.text(detail, (x, top + 64), SMALL_PX, (anchor, VPos::Center), MUTED);
    }
    scene.y = top + 78;
    let centre = PAD + (f64::from(scene.inner()) * f64::from(to_win) / f64::from(total)).round() as i32;
    scene.text(
        format!("{to_win} to win"),
        (centre, scene.y + 7),
        SMALL_PX,
        (HPos::Center, VPos::Center),
        TEXT,
    );
    scene.y += 18;
    let (bar_top, bar_bottom) = (scene.y, scene.y + 36);
    let inner = f64::from(scene.inner());
    let x = |votes: u32| PAD + (inner * f64::from(votes) / f64::from(total)).round() as i32;
    scene.rect((PAD, bar_top), (scene.width - PAD, bar_bottom), NO_VOTES);
    // Segments as (from, to) in electoral votes from the left: each candidate's called votes
    // (solid) and leads (pale), in the order they are laid out.
    let mut segments: Vec<(u32, u32, RGBColor, String)> = Vec::new();
    let parts = |candidate: &CandidateResult| {
        let color = palette.color(&candidate.name);
        let (called, leading) = split(results, candidate);
        let name = &candidate.name;
        [
            (called, color, format!("{name}: {called} electoral votes called")),
            (
                leading,
                mix_with_white(color, 0.4),
                format!("{name}: leading for {leading} more"),
            ),
        ]
    };
    let mut lay = |at: u32, parts: &[(u32, RGBColor, String)]| {
        let mut at = at;
        for (votes, color, tip) in parts.iter().filter(|p| p.0 > 0) {
            segments.push((at, at + votes, *color, tip.clone()));
            at += votes;
        }
        at
    };
    let mut from_left = left.map_or(0, |candidate| lay(0, &parts(candidate)));
    let from_right = match right {
        Some(candidate) => {
            let [called, leading] = parts(candidate);
            let start = total.saturating_sub(called.0 + leading.0);
            lay(start, &[leading, called]);
            start
        }
        None => total,
    };
    let is_side = |c: &CandidateResult| [left, right].iter().flatten().any(|s| s.name == c.name);
    let mut middle = Vec::new();
    for candidate in results
        .candidates
        .iter()
        .filter(|c| !is_side(c) && c.electoral_votes > 0)
    {
        from_left = lay(from_left, &parts(candidate));
        middle.push(format!("{} {}", candidate.name, candidate.electoral_votes));
    }
    let undecided = from_right.saturating_sub(from_left);
    for (i, (from, to, color, tip)) in segments.into_iter().enumerate() {
        scene.rect((x(from), bar_top), (x(to), bar_bottom), color);
        scene.hotspot(
            (x(from), bar_top),
            (x(to), bar_bottom),
            format!("segment-{i}"),
            tip,
            None,
        );
    }
    if undecided > 0 {
        let tip = format!("{undecided} electoral votes not yet won by anyone (no votes, tied)");
        scene.hotspot(
            (x(from_left), bar_top),
            (x(from_right), bar_bottom),
            "undecided".into(),
            tip,
            None,
        );
    }
    scene.marks.push(Mark::Line {
        points: vec![(centre, bar_top - 4), (centre, bar_bottom + 4)],
        color: TEXT,
        width: 2,
    });
    scene.y = bar_bottom + 10;
    middle.push(format!("not yet won {undecided}"));
    scene.note(&format!(
        "{} · {} votes counted",
        middle.join(" · "),
        thousands(results.votes)
    ));
}
