//! The charts, drawn with plotters' SVG backend from one [`Results`]. Text is emitted as SVG
//! `<text>` (no font files needed), so every title, name and number is in the document.

use crate::tiles::{COLUMNS, ROWS, TILES};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::BTreeMap;
use tally_model::{Results, Timeline};

/// The charts the server offers, by the name in `/charts/<name>.svg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Chart {
    Candidates,
    Gender,
    Age,
    States,
    Electoral,
    Timeline,
    Swing,
}

impl Chart {
    pub const ALL: [Chart; 7] = [
        Chart::Candidates,
        Chart::Gender,
        Chart::Age,
        Chart::States,
        Chart::Electoral,
        Chart::Timeline,
        Chart::Swing,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Chart::Candidates => "candidates",
            Chart::Gender => "gender",
            Chart::Age => "age",
            Chart::States => "states",
            Chart::Electoral => "electoral",
            Chart::Timeline => "timeline",
            Chart::Swing => "swing",
        }
    }
    /// What the chart shows, as its SVG `<title>` says.
    pub fn title(self) -> &'static str {
        match self {
            Chart::Candidates => "Votes by candidate",
            Chart::Gender => "Votes by gender",
            Chart::Age => "Votes by age group",
            Chart::States => "State leaders",
            Chart::Electoral => "Electoral votes",
            Chart::Timeline => "How the race moved",
            Chart::Swing => "Swing since the baseline election",
        }
    }
    pub fn from_name(name: &str) -> Option<Chart> {
        Chart::ALL.into_iter().find(|chart| chart.name() == name)
    }
    /// Width and height when the request names none.
    pub fn default_size(self) -> (u32, u32) {
        match self {
            Chart::States | Chart::Swing => (760, 520),
            Chart::Electoral => (760, 200),
            _ => (760, 380),
        }
    }
}

/// A chart plotters could not draw (at a size too small for its layout, say).
#[derive(Debug, thiserror::Error)]
#[error("drawing {chart}: {detail}")]
pub struct ChartError {
    pub chart: &'static str,
    pub detail: String,
}

/// Renders `chart` for `results` (the timeline chart: for `timeline`) as an SVG document of
/// `size` pixels.
pub fn render(chart: Chart, results: &Results, timeline: &Timeline, size: (u32, u32)) -> Result<String, ChartError> {
    let svg = match chart {
        Chart::Timeline => crate::timeline_chart::render_timeline(timeline, results.electoral_votes_to_win, size)?,
        _ => draw(chart, results, size)?,
    };
    Ok(described(svg, chart.title(), &description(chart, results, timeline)))
}

/// `svg` with a `<title>` and a `<desc>` first inside its root element, as screen readers and
/// search tools read them.
fn described(svg: String, title: &str, desc: &str) -> String {
    let Some(open) = svg
        .find("<svg")
        .and_then(|at| svg[at..].find('>').map(|end| at + end + 1))
    else {
        return svg;
    };
    format!(
        "{}<title>{}</title><desc>{}</desc>{}",
        &svg[..open],
        escape(title),
        escape(desc),
        &svg[open..]
    )
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The figures a chart shows, in words.
fn description(chart: Chart, results: &Results, timeline: &Timeline) -> String {
    let candidates = results
        .candidates
        .iter()
        .take(6)
        .map(|c| {
            let called = results.called_electoral_votes.get(&c.name).copied().unwrap_or(0);
            format!(
                "{}: {} votes ({:.1}%), {} electoral votes ({called} called)",
                c.name,
                thousands(c.votes),
                c.share * 100.0,
                c.electoral_votes
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let counted = format!("{} votes counted", thousands(results.votes));
    match chart {
        Chart::Swing if results.swing.is_empty() => "No baseline election to compare with.".to_string(),
        Chart::Swing => {
            let swing: Vec<String> = results
                .swing
                .iter()
                .map(|(party, points)| format!("{party} {points:+.1} points"))
                .collect();
            format!("Change in national share since the baseline: {}.", swing.join(", "))
        }
        Chart::Timeline => match (timeline.points.first(), timeline.points.last()) {
            (Some(first), Some(last)) => format!(
                "{} points from {} to {} votes counted. Now: {candidates}.",
                timeline.points.len(),
                thousands(first.votes),
                thousands(last.votes)
            ),
            _ => "No votes yet.".to_string(),
        },
        _ if results.candidates.is_empty() => "No votes yet.".to_string(),
        _ => format!("{counted}. {candidates}."),
    }
}

/// Draws every chart but the timeline.
fn draw(chart: Chart, results: &Results, size: (u32, u32)) -> Result<String, ChartError> {
    let failed = |e: &dyn std::fmt::Display| ChartError {
        chart: chart.name(),
        detail: e.to_string(),
    };
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(&e))?;
        let drawn = match chart {
            Chart::Candidates => candidates(&root, results),
            Chart::Gender => grouped(&root, results, "Votes by gender", &results.by_gender),
            Chart::Age => grouped(&root, results, "Votes by age group", &results.by_age_group),
            Chart::States => states(&root, results),
            Chart::Electoral => electoral(&root, results),
            Chart::Swing => swing(&root, results),
            Chart::Timeline => Ok(()),
        };
        drawn.map_err(|e| failed(&e))?;
        root.present().map_err(|e| failed(&e))?;
    }
    Ok(svg)
}

type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;
type Drawn = Result<(), Box<dyn std::error::Error>>;

/// A candidate's colour: blue and red for the two major parties' usual names, otherwise a
/// palette colour fixed by the name, so a candidate keeps its colour as ranks change.
pub fn candidate_color(name: &str) -> RGBColor {
    let lower = name.to_ascii_lowercase();
    if ["biden", "harris", "democrat"].iter().any(|n| lower.contains(n)) {
        return RGBColor(0x1f, 0x5f, 0xbf);
    }
    if ["trump", "republican"].iter().any(|n| lower.contains(n)) {
        return RGBColor(0xd6, 0x27, 0x28);
    }
    const PALETTE: [RGBColor; 6] = [
        RGBColor(0x2c, 0xa0, 0x2c),
        RGBColor(0x94, 0x67, 0xbd),
        RGBColor(0xff, 0x7f, 0x0e),
        RGBColor(0x8c, 0x56, 0x4b),
        RGBColor(0x17, 0xbe, 0xcf),
        RGBColor(0x7f, 0x7f, 0x7f),
    ];
    let hash = name
        .bytes()
        .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    PALETTE[hash as usize % PALETTE.len()]
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub(crate) fn text_style(size: u32, anchor: (HPos, VPos)) -> TextStyle<'static> {
    ("sans-serif", size)
        .into_font()
        .color(&BLACK)
        .pos(Pos::new(anchor.0, anchor.1))
}

fn title<'a>(root: &Area<'a>, text: &str) -> Result<Area<'a>, Box<dyn std::error::Error>> {
    Ok(root.titled(text, ("sans-serif", 24))?)
}

fn no_votes(area: &Area<'_>) -> Drawn {
    let (w, h) = area.dim_in_pixel();
    area.draw(&Text::new(
        "No votes yet",
        (w as i32 / 2, h as i32 / 2),
        text_style(18, (HPos::Center, VPos::Center)),
    ))?;
    Ok(())
}

/// Horizontal bars: one per candidate, longest first.
fn candidates(root: &Area<'_>, results: &Results) -> Drawn {
    let area = title(
        root,
        &format!("Votes by candidate ({} counted)", thousands(results.votes)),
    )?;
    if results.candidates.is_empty() {
        return no_votes(&area);
    }
    let (w, h) = area.dim_in_pixel();
    let shown = &results.candidates[..results.candidates.len().min(12)];
    let row = ((h as i32 - 10) / shown.len() as i32).clamp(14, 60);
    let (label_w, value_w) = (w as i32 * 28 / 100, 150);
    let max = shown[0].votes.max(1) as f64;
    for (i, candidate) in shown.iter().enumerate() {
        let y = 5 + i as i32 * row;
        let bar_h = (row * 7 / 10).max(8);
        let len = ((w as i32 - label_w - value_w) as f64 * candidate.votes as f64 / max) as i32;
        area.draw(&Text::new(
            candidate.name.clone(),
            (label_w - 8, y + bar_h / 2),
            text_style(15, (HPos::Right, VPos::Center)),
        ))?;
        area.draw(&Rectangle::new(
            [(label_w, y), (label_w + len.max(1), y + bar_h)],
            candidate_color(&candidate.name).filled(),
        ))?;
        let value = format!("{} ({:.1}%)", thousands(candidate.votes), candidate.share * 100.0);
        area.draw(&Text::new(
            value,
            (label_w + len + 6, y + bar_h / 2),
            text_style(14, (HPos::Left, VPos::Center)),
        ))?;
    }
    Ok(())
}

/// One block per group (gender, age group) with a bar per candidate, as shares of the group.
fn grouped(
    root: &Area<'_>,
    results: &Results,
    heading: &str,
    groups: &BTreeMap<String, BTreeMap<String, u64>>,
) -> Drawn {
    let area = title(root, heading)?;
    if results.candidates.is_empty() {
        return no_votes(&area);
    }
    let names: Vec<&str> = results.candidates.iter().take(6).map(|c| c.name.as_str()).collect();
    let (w, h) = area.dim_in_pixel();
    let legend_h = 28;
    let block = (h as i32 - legend_h) / groups.len().max(1) as i32;
    let label_w = 150;
    let plot_w = w as i32 - label_w - 60;
    let share = |counts: &BTreeMap<String, u64>, name: &str| {
        let total: u64 = counts.values().sum();
        if total == 0 {
            0.0
        } else {
            counts.get(name).copied().unwrap_or(0) as f64 / total as f64
        }
    };
    // Bars are scaled to the largest share shown, so differences between groups stay visible.
    let widest = groups
        .values()
        .flat_map(|counts| names.iter().map(move |name| share(counts, name)))
        .fold(0.0f64, f64::max)
        .max(1e-9);
    for (g, (group, counts)) in groups.iter().enumerate() {
        let total: u64 = counts.values().sum();
        let y0 = g as i32 * block;
        area.draw(&Text::new(
            format!("{group} ({})", thousands(total)),
            (label_w - 8, y0 + block / 2),
            text_style(13, (HPos::Right, VPos::Center)),
        ))?;
        let bar_h = ((block - 6) / names.len() as i32).max(2);
        for (c, name) in names.iter().enumerate() {
            let share = share(counts, name);
            let y = y0 + 3 + c as i32 * bar_h;
            let len = (plot_w as f64 * share / widest) as i32;
            area.draw(&Rectangle::new(
                [(label_w, y), (label_w + len.max(1), y + bar_h - 1)],
                candidate_color(name).filled(),
            ))?;
            if bar_h >= 10 {
                area.draw(&Text::new(
                    format!("{:.1}%", share * 100.0),
                    (label_w + len + 4, y + bar_h / 2),
                    text_style(11, (HPos::Left, VPos::Center)),
                ))?;
            }
        }
    }
    legend(&area, &names, h as i32 - legend_h / 2)
}

pub(crate) fn legend(area: &Area<'_>, names: &[&str], y: i32) -> Drawn {
    let mut x = 10;
    for name in names {
        area.draw(&Rectangle::new(
            [(x, y - 6), (x + 12, y + 6)],
            candidate_color(name).filled(),
        ))?;
        area.draw(&Text::new(
            name.to_string(),
            (x + 16, y),
            text_style(13, (HPos::Left, VPos::Center)),
        ))?;
        x += 40 + 8 * name.chars().count() as i32;
    }
    Ok(())
}

/// The tile map: each state coloured by its leader, paler the closer the race.
fn states(root: &Area<'_>, results: &Results) -> Drawn {
    let area = title(root, "State leaders (shade = margin; outlined = called)")?;
    let (_, h) = area.dim_in_pixel();
    let legend_h = 52;
    tile_map(&area, legend_h, |code| {
        let state = results.states.get(code)?;
        let fill = match &state.leader {
            Some(leader) => {
                // Full colour from a 30-point margin down; never paler than 35%.
                let strength = 0.35 + 0.65 * (state.margin / 0.30).min(1.0);
                mix_with_white(candidate_color(leader), strength)
            }
            None => NO_VOTES,
        };
        Some(Tile {
            fill,
            // A called state is outlined: its leader has won it beyond doubt.
            outlined: state.called.is_some(),
            figure: state.electoral_votes.to_string(),
        })
    })?;
    let names: Vec<&str> = results.candidates.iter().take(6).map(|c| c.name.as_str()).collect();
    legend(&area, &names, h as i32 - legend_h + 12)?;
    map_key(&area, h as i32 - 12)
}

/// The outline of a called state: a closed path, since the SVG backend draws rectangle
/// outlines one pixel wide whatever the style says.
fn outline(from: (i32, i32), to: (i32, i32)) -> PathElement<(i32, i32)> {
    let corners = vec![from, (to.0, from.1), to, (from.0, to.1), from];
    PathElement::new(corners, BLACK.stroke_width(3))
}

/// The map's key: what an outline, a pale tile and a grey tile mean.
fn map_key(area: &Area<'_>, y: i32) -> Drawn {
    let mut x = 10;
    let entries: [(&str, RGBColor, bool); 3] = [
        ("called", RGBColor(0x99, 0x99, 0x99), true),
        ("leading, not called", RGBColor(0x99, 0x99, 0x99), false),
        ("no votes or tied", NO_VOTES, false),
    ];
    for (label, color, outlined) in entries {
        area.draw(&Rectangle::new([(x, y - 6), (x + 12, y + 6)], color.filled()))?;
        if outlined {
            area.draw(&outline((x, y - 6), (x + 12, y + 6)))?;
        }
        area.draw(&Text::new(
            label.to_string(),
            (x + 16, y),
            text_style(12, (HPos::Left, VPos::Center)),
        ))?;
        x += 40 + 7 * label.chars().count() as i32;
    }
    Ok(())
}

/// The swing map: each state coloured by how far its margin moved since the baseline, toward
/// the Democrats (blue) or the Republicans (red), full colour from 10 points.
fn swing(root: &Area<'_>, results: &Results) -> Drawn {
    let area = title(root, "Swing since the baseline (margin change, points)")?;
    let (w, h) = area.dim_in_pixel();
    if results.swing.is_empty() {
        area.draw(&Text::new(
            "No baseline: run with --baseline FILE.csv",
            (w as i32 / 2, h as i32 / 2),
            text_style(18, (HPos::Center, VPos::Center)),
        ))?;
        return Ok(());
    }
    let legend_h = 30;
    let (blue, red) = (candidate_color("democrat"), candidate_color("republican"));
    tile_map(&area, legend_h, |code| {
        // Toward the Democrats is positive: their share's change minus the Republicans'.
        let state = results.states.get(code)?;
        let points = state.swing.get("DEMOCRAT")? - state.swing.get("REPUBLICAN")?;
        Some(match points >= 0.0 {
            true => Tile {
                fill: mix_with_white(blue, (points / 10.0).min(1.0)),
                outlined: false,
                figure: format!("D+{points:.1}"),
            },
            false => Tile {
                fill: mix_with_white(red, (-points / 10.0).min(1.0)),
                outlined: false,
                figure: format!("R+{:.1}", -points),
            },
        })
    })?;
    let key: Vec<String> = results
        .swing
        .iter()
        .map(|(party, points)| format!("{party} {points:+.1}"))
        .collect();
    area.draw(&Text::new(
        format!("nationally: {}", key.join("   ")),
        (10, h as i32 - legend_h / 2),
        text_style(13, (HPos::Left, VPos::Center)),
    ))?;
    Ok(())
}

/// A state with nothing to show on a map: no votes, a tie, no swing.
const NO_VOTES: RGBColor = RGBColor(0xdd, 0xdd, 0xdd);

/// One state's tile on a map: its colour, whether it is outlined, and the figure under its code.
struct Tile {
    fill: RGBColor,
    outlined: bool,
    figure: String,
}

/// The states as tiles, laid out by [`TILES`] above `legend_h` pixels of legend; `tile` says
/// what each state (by USPS code) shows, `None` for a grey tile with its code alone.
fn tile_map(area: &Area<'_>, legend_h: i32, tile: impl Fn(&str) -> Option<Tile>) -> Drawn {
    let (w, h) = area.dim_in_pixel();
    let cell = ((w as i32 - 20) / COLUMNS as i32).min((h as i32 - legend_h) / ROWS as i32);
    let left = (w as i32 - cell * COLUMNS as i32) / 2;
    for (code, column, row) in TILES {
        let (x, y) = (left + column as i32 * cell, row as i32 * cell);
        let shown = tile(code);
        let fill = shown.as_ref().map_or(NO_VOTES, |t| t.fill);
        area.draw(&Rectangle::new(
            [(x + 1, y + 1), (x + cell - 1, y + cell - 1)],
            fill.filled(),
        ))?;
        if shown.as_ref().is_some_and(|t| t.outlined) {
            area.draw(&outline((x + 3, y + 3), (x + cell - 3, y + cell - 3)))?;
        }
        area.draw(&Text::new(
            code.to_string(),
            (x + cell / 2, y + cell / 2 - 6),
            text_style(14, (HPos::Center, VPos::Center)),
        ))?;
        if let Some(shown) = shown {
            area.draw(&Text::new(
                shown.figure,
                (x + cell / 2, y + cell / 2 + 10),
                text_style(11, (HPos::Center, VPos::Center)),
            ))?;
        }
    }
    Ok(())
}

fn mix_with_white(color: RGBColor, strength: f64) -> RGBColor {
    let mix = |c: u8| (255.0 - (255.0 - f64::from(c)) * strength).round() as u8;
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}

/// One bar of all 538 electoral votes, split by candidate, with the line at 270.
fn electoral(root: &Area<'_>, results: &Results) -> Drawn {
    let total: u32 = results.states.values().map(|s| s.electoral_votes).sum();
    let area = title(
        root,
        &format!("Electoral votes ({} to win)", results.electoral_votes_to_win),
    )?;
    let (w, h) = area.dim_in_pixel();
    let (left, right) = (20, w as i32 - 20);
    let (top, bottom) = (30, (h as i32 - 40).max(50));
    let scale = |votes: u32| left + ((right - left) as f64 * f64::from(votes) / f64::from(total.max(1))) as i32;
    area.draw(&Rectangle::new(
        [(left, top), (right, bottom)],
        RGBColor(0xee, 0xee, 0xee).filled(),
    ))?;
    // Each candidate's called electoral votes in full colour, then those of the states they
    // lead but that are not yet called, paler.
    let mut at = 0;
    for candidate in results.candidates.iter().filter(|c| c.electoral_votes > 0) {
        let called = results
            .called_electoral_votes
            .get(&candidate.name)
            .copied()
            .unwrap_or(0)
            .min(candidate.electoral_votes);
        let color = candidate_color(&candidate.name);
        let (x0, x1, x2) = (scale(at), scale(at + called), scale(at + candidate.electoral_votes));
        if x1 > x0 {
            area.draw(&Rectangle::new([(x0, top), (x1, bottom)], color.filled()))?;
        }
        if x2 > x1 {
            area.draw(&Rectangle::new(
                [(x1, top), (x2, bottom)],
                mix_with_white(color, 0.45).filled(),
            ))?;
        }
        at += candidate.electoral_votes;
    }
    let mut labels: Vec<String> = results
        .candidates
        .iter()
        .take(6)
        .map(|c| {
            let called = results.called_electoral_votes.get(&c.name).copied().unwrap_or(0);
            format!("{} {} ({called} called)", c.name, c.electoral_votes)
        })
        .collect();
    let undecided = total - at;
    let line = scale(results.electoral_votes_to_win);
    area.draw(&PathElement::new(
        vec![(line, top - 8), (line, bottom + 8)],
        BLACK.stroke_width(2),
    ))?;
    area.draw(&Text::new(
        "270",
        (line, top - 12),
        text_style(13, (HPos::Center, VPos::Bottom)),
    ))?;
    labels.push(format!("undecided {undecided}"));
    area.draw(&Text::new(
        labels.join("   ·   "),
        (left, bottom + 22),
        text_style(15, (HPos::Left, VPos::Center)),
    ))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_model::tallies::{Tallies, Tally};
    use tally_model::Apportionment;
    use tally_model::{AgeGroup, CandidateId, CubeKey, Gender, State};

    fn results(names: &[&str]) -> Results {
        let mut tallies = Tallies::default();
        for (i, name) in names.iter().enumerate() {
            let id = CandidateId::of(name);
            tallies.apply(&Tally::Candidate(id, name.to_string()), 1);
            for state in ["CA", "TX", "OH"] {
                let key = CubeKey {
                    state: State::lookup(state).unwrap(),
                    gender: Gender::ALL[i % 3],
                    age_group: AgeGroup::ALL[i % 4],
                    candidate: id,
                };
                tallies.apply(&Tally::Vote(key), 10 + i as i64 * (1 + state.len() as i64));
            }
        }
        Results::new(&tallies, 3, false, Apportionment::Census2020)
    }

    fn texts(svg: &str) -> Vec<String> {
        let document = roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("not XML: {e}\n{svg}"));
        document
            .descendants()
            .filter_map(|n| n.text())
            .map(|t| t.trim().to_string())
            .collect()
    }

    #[test]
    fn every_chart_is_svg_naming_every_candidate_even_with_markup_in_names() {
        let names = ["Ada", "Grace <Hopper> & \"Co\""];
        let results = results(&names);
        // A timeline of two publications of these results.
        let mut timeline = Timeline::default();
        timeline.record(&results.clone().computed_at(1_000));
        let mut later = results.clone().computed_at(61_000);
        later.votes += 1;
        timeline.record(&later);
        // The swing map names parties, not candidates (tested below).
        for chart in Chart::ALL.into_iter().filter(|c| *c != Chart::Swing) {
            let svg = render(chart, &results, &timeline, chart.default_size()).unwrap();
            let texts = texts(&svg);
            for name in names {
                assert!(
                    texts.iter().any(|t| t.contains(name)),
                    "{} names {name}: {texts:?}",
                    chart.name()
                );
            }
            assert!(!svg.contains("<Hopper>"), "markup in names is escaped");
        }
    }

    #[test]
    fn charts_of_no_votes_say_so() {
        let results = results(&[]);
        let empty = Timeline::default();
        for chart in [Chart::Candidates, Chart::Gender, Chart::Age, Chart::Timeline] {
            let svg = render(chart, &results, &empty, (300, 200)).unwrap();
            assert!(texts(&svg).iter().any(|t| t == "No votes yet"), "{}", chart.name());
        }
        let svg = render(Chart::Electoral, &results, &empty, (300, 200)).unwrap();
        assert!(texts(&svg).iter().any(|t| t.contains("undecided 538")));
    }

    #[test]
    fn called_states_are_outlined_and_the_swing_map_names_each_shift() {
        let mut results = results(&["Ada", "Bob"]);
        let empty = Timeline::default();
        let outlines = |svg: &str| svg.matches("stroke-width=\"3\"").count();
        for state in results.states.values_mut() {
            state.called = None;
        }
        // The key's "called" entry is outlined too.
        let uncalled = render(Chart::States, &results, &empty, (760, 520)).unwrap();
        assert_eq!(outlines(&uncalled), 1);
        for code in ["CA", "TX"] {
            let leader = results.states[code].leader.clone();
            results.states.get_mut(code).unwrap().called = leader;
        }
        let called = render(Chart::States, &results, &empty, (760, 520)).unwrap();
        assert_eq!(outlines(&called), 1 + 2, "two called states, outlined");
        assert!(texts(&called).iter().any(|t| t == "leading, not called"), "the key");

        let none = render(Chart::Swing, &results, &empty, (760, 520)).unwrap();
        assert!(texts(&none).iter().any(|t| t.contains("No baseline")));
        results.swing = [("DEMOCRAT".to_string(), 2.5), ("REPUBLICAN".to_string(), -2.0)].into();
        let ohio = results.states.get_mut("OH").unwrap();
        ohio.swing = [("DEMOCRAT".to_string(), -1.0), ("REPUBLICAN".to_string(), 3.0)].into();
        let svg = render(Chart::Swing, &results, &empty, (760, 520)).unwrap();
        let texts = texts(&svg);
        assert!(
            texts.iter().any(|t| t == "R+4.0"),
            "Ohio moved 4 points toward the Republicans"
        );
        assert!(texts.iter().any(|t| t.contains("DEMOCRAT +2.5")));
    }

    #[test]
    fn every_chart_has_a_title_and_a_description_with_its_figures_escaped() {
        let results = results(&["Ada", "Grace <Hopper> & \"Co\""]);
        let timeline = Timeline::default();
        for chart in Chart::ALL {
            let svg = render(chart, &results, &timeline, chart.default_size()).unwrap();
            let document = roxmltree::Document::parse(&svg).unwrap();
            let child = |tag: &str| {
                document
                    .root_element()
                    .children()
                    .find(|n| n.has_tag_name(tag))
                    .and_then(|n| n.text())
                    .map(str::to_string)
            };
            assert_eq!(child("title").as_deref(), Some(chart.title()), "{}", chart.name());
            let desc = child("desc").unwrap_or_default();
            match chart {
                Chart::Swing => assert!(desc.contains("No baseline"), "{desc}"),
                Chart::Timeline => assert!(desc.contains("No votes yet"), "{desc}"),
                _ => {
                    assert!(desc.contains("Grace <Hopper> & \"Co\""), "{desc}");
                    assert!(desc.contains(&thousands(results.votes)), "{desc}");
                }
            }
        }
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
    }
}
