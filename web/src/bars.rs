//! Bar charts: votes by candidate, and shares by gender and by age group. Each bar has its
//! label above it, so a long name never has to share a line with a bar at phone widths.

use crate::format::{percent, thousands};
use crate::measure::text_width;
use crate::palette::{Palette, FOLDED, MUTED, TEXT};
use crate::scene::{Scene, LABEL_PX, PAD, SMALL_PX};
use plotters::style::text_anchor::{HPos, VPos};
use std::collections::BTreeMap;
use tally_model::Results;

/// One bar per candidate, most votes first (the folded ones as one "others" bar): the name and
/// the votes and share above, the bar below, scaled to the leader.
pub fn candidates(scene: &mut Scene, results: &Results, palette: &Palette) {
    scene.title(&format!("Votes by candidate ({} counted)", thousands(results.votes)));
    if results.candidates.is_empty() {
        scene.note("No votes yet");
        return;
    }
    let mut rows: Vec<(String, u64, f64, plotters::style::RGBColor, String)> = Vec::new();
    for c in results.candidates.iter().filter(|c| palette.is_shown(&c.name)) {
        let called = results.called_electoral_votes.get(&c.name).copied().unwrap_or(0);
        let tip = format!(
            "{}: {} votes ({}), {} electoral votes ({called} called)",
            c.name,
            thousands(c.votes),
            percent(c.share),
            c.electoral_votes
        );
        rows.push((c.name.clone(), c.votes, c.share, palette.color(&c.name), tip));
    }
    if palette.folded() > 0 {
        let rest = results.candidates.iter().filter(|c| !palette.is_shown(&c.name));
        let (votes, share) = rest.fold((0, 0.0), |(v, s), c| (v + c.votes, s + c.share));
        let name = format!("{} others", palette.folded());
        let tip = format!("{name}: {} votes ({})", thousands(votes), percent(share));
        rows.push((name, votes, share, FOLDED, tip));
    }
    let most = rows.iter().map(|r| r.1).max().unwrap_or(1).max(1) as f64;
    let line_h = (LABEL_PX * 1.35).ceil() as i32;
    for (i, (name, votes, share, color, tip)) in rows.into_iter().enumerate() {
        let top = scene.y;
        let value = format!("{} · {}", thousands(votes), percent(share));
        let fits =
            text_width(&name, LABEL_PX, true) + text_width(&value, LABEL_PX, false) + 12.0 <= f64::from(scene.inner());
        let name = crate::measure::fit(&name, LABEL_PX, true, f64::from(scene.inner()));
        scene.bold(
            name,
            (PAD, scene.y + line_h / 2),
            LABEL_PX,
            (HPos::Left, VPos::Center),
            TEXT,
        );
        if !fits {
            scene.y += line_h;
        }
        let right = (scene.width - PAD, scene.y + line_h / 2);
        scene.text(value, right, LABEL_PX, (HPos::Right, VPos::Center), TEXT);
        scene.y += line_h + 2;
        let length = (f64::from(scene.inner()) * votes as f64 / most).round() as i32;
        scene.rect((PAD, scene.y), (PAD + length.max(1), scene.y + 16), color);
        scene.y += 16;
        scene.hotspot((0, top), (scene.width, scene.y), format!("candidate-{i}"), tip, None);
        scene.y += 12;
    }
}

/// One block per group (a gender, an age group) with a bar per candidate: the candidate's share
/// of the group's votes, scaled to the largest share shown so the differences stay visible.
pub fn grouped(
    scene: &mut Scene,
    results: &Results,
    palette: &Palette,
    heading: &str,
    groups: &BTreeMap<String, BTreeMap<String, u64>>,
) {
    scene.title(heading);
    if results.candidates.is_empty() {
        scene.note("No votes yet");
        return;
    }
    let shown: Vec<(&str, plotters::style::RGBColor)> = palette.shown().collect();
    let legend: Vec<(String, plotters::style::RGBColor)> = shown.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    scene.legend(&legend);
    let share = |counts: &BTreeMap<String, u64>, name: &str| {
        let total: u64 = counts.values().sum();
        match total {
            0 => 0.0,
            _ => counts.get(name).copied().unwrap_or(0) as f64 / total as f64,
        }
    };
    let widest = groups
        .values()
        .flat_map(|counts| shown.iter().map(move |(name, _)| share(counts, name)))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    // Room at the right of the longest bar for its "100.0%".
    let figure_w = text_width("100.0%", SMALL_PX, false).ceil() as i32 + 6;
    let bar_room = f64::from(scene.inner() - figure_w);
    for (g, (group, counts)) in groups.iter().enumerate() {
        let total: u64 = counts.values().sum();
        scene.paragraph(&format!("{group} · {} votes", thousands(total)), LABEL_PX, true, TEXT);
        for (c, (name, color)) in shown.iter().enumerate() {
            let share = share(counts, name);
            let y = scene.y;
            let length = (bar_room * share / widest).round() as i32;
            scene.rect((PAD, y + 1), (PAD + length.max(1), y + 15), *color);
            let figure = percent(share);
            scene.text(
                figure.clone(),
                (PAD + length + 5, y + 8),
                SMALL_PX,
                (HPos::Left, VPos::Center),
                MUTED,
            );
            let votes = counts.get(*name).copied().unwrap_or(0);
            let tip = format!("{group}, {name}: {figure} ({} votes)", thousands(votes));
            scene.hotspot((PAD, y), (scene.width - PAD, y + 16), format!("{g}-{c}"), tip, None);
            scene.y += 17;
        }
        scene.y += 10;
    }
}
