//! The tile maps: state leaders (called states solid and outlined, projected ones ringed,
//! leads pale, paler the closer) and the swing since the baseline. Every state is a square of [`TILES`], a hotspot
//! that names its figures and opens its panel on the dashboard.

use crate::format::{percent, thousands};
use crate::measure::text_width;
use crate::palette::{mix_with_white, text_on, Palette, DEMOCRAT, MUTED, NOT_REPORTING, REPUBLICAN, TEXT, TIED, WHITE};
use crate::scene::{Mark, Scene, LABEL_PX, PAD, SMALL_PX};
use crate::tiles::{COLUMNS, ROWS, TILES};
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::RGBColor;
use tally_model::Results;

/// The largest tile: on a wall screen the map stops growing and is centred.
const MAX_CELL: i32 = 72;

/// What a state's tile shows.
struct Tile {
    fill: RGBColor,
    outlined: bool,
    /// Hatched: nothing to show (no votes, no swing), told apart from a pale lead by its
    /// pattern, not only by a shade.
    hatched: bool,
    /// Projected, not called: a white ring inside the tile.
    ringed: bool,
    figure: String,
    tip: String,
}

/// A state's estimate, for its tooltip: ` Estimate: Biden +3.1 (90%: +1.0 to +5.2).`
fn estimate_text(state: &tally_model::results::StateResult) -> String {
    let Some(e) = &state.estimate else { return String::new() };
    if e.sd == 0.0 {
        return String::new();
    }
    format!(
        "; estimated final: {} +{:.1} ({:.0}% interval {:+.1} to {:+.1})",
        e.first,
        e.margin * 100.0,
        e.level * 100.0,
        e.low * 100.0,
        e.high * 100.0
    )
}

/// How a state stands, for its fill: called, leading (by how much), tied, no votes yet.
fn leader_tile(results: &Results, palette: &Palette, code: &str) -> Tile {
    let Some(state) = results.states.get(code) else {
        return blank(code, "no results");
    };
    let ev = format!("{} ({} electoral votes)", state.name, state.electoral_votes);
    let reporting = state
        .reported
        .map(|r| format!(", {} reporting", percent(r)))
        .unwrap_or_default()
        + &estimate_text(state);
    match (&state.leader, &state.called) {
        _ if state.votes == 0 => match state.expected_votes {
            Some(_) => Tile {
                fill: NOT_REPORTING,
                outlined: false,
                hatched: false,
                ringed: false,
                figure: state.electoral_votes.to_string(),
                tip: format!("{ev}: not reporting yet"),
            },
            None => Tile {
                fill: WHITE,
                outlined: false,
                hatched: true,
                ringed: false,
                figure: state.electoral_votes.to_string(),
                tip: format!("{ev}: no votes yet"),
            },
        },
        (_, Some(called)) => Tile {
            fill: palette.color(called),
            outlined: true,
            hatched: false,
            ringed: false,
            figure: state.electoral_votes.to_string(),
            tip: format!(
                "{ev}: called for {called}, margin {:.1} points{reporting}",
                state.margin * 100.0
            ),
        },
        (_, None) if state.projected.is_some() => {
            let projected = state.projected.as_deref().unwrap_or_default();
            Tile {
                fill: mix_with_white(palette.color(projected), 0.75),
                outlined: false,
                hatched: false,
                ringed: true,
                figure: state.electoral_votes.to_string(),
                tip: format!(
                    "{ev}: projected for {projected}, not called; {} by {:.1} points now{reporting}",
                    state.leader.as_deref().unwrap_or("no one leads"),
                    state.margin * 100.0
                ),
            }
        }
        (Some(leader), None) => Tile {
            // Pale: from 20% of the colour for a dead heat to 55% from a 30-point lead.
            fill: mix_with_white(palette.color(leader), 0.2 + 0.35 * (state.margin / 0.30).min(1.0)),
            outlined: false,
            hatched: false,
            ringed: false,
            figure: state.electoral_votes.to_string(),
            tip: format!(
                "{ev}: {leader} leads by {:.1} points{reporting}, not called; {} votes",
                state.margin * 100.0,
                thousands(state.votes)
            ),
        },
        (None, None) => Tile {
            fill: TIED,
            outlined: false,
            hatched: false,
            ringed: false,
            figure: state.electoral_votes.to_string(),
            tip: format!("{ev}: tied{reporting}; {} votes", thousands(state.votes)),
        },
    }
}

fn blank(code: &str, why: &str) -> Tile {
    Tile {
        fill: WHITE,
        outlined: false,
        hatched: true,
        ringed: false,
        figure: String::new(),
        tip: format!("{code}: {why}"),
    }
}

/// The state leaders map, with the candidates' colours and the key.
pub fn states(scene: &mut Scene, results: &Results, palette: &Palette) {
    scene.title("State leaders");
    tile_map(scene, |code| leader_tile(results, palette, code));
    let legend: Vec<(String, RGBColor)> = palette.shown().map(|(n, c)| (n.to_string(), c)).collect();
    scene.legend(&legend);
    key(scene);
}

/// What solid, pale, grey and white tiles mean.
fn key(scene: &mut Scene) {
    let entries: [(&str, RGBColor, bool, bool); 6] = [
        ("called (solid, outlined)", MUTED, true, false),
        (
            "projected, not called (ringed)",
            mix_with_white(MUTED, 0.75),
            false,
            false,
        ),
        ("leading: paler = closer", mix_with_white(MUTED, 0.35), false, false),
        ("tied", TIED, false, false),
        ("not reporting yet", NOT_REPORTING, false, false),
        ("no votes", WHITE, false, true),
    ];
    let row_h = 20;
    let (mut x, mut rows) = (PAD, 1);
    for (label, fill, outlined, hatched) in entries {
        let width = 18 + text_width(label, SMALL_PX, false).ceil() as i32;
        if x > PAD && x + width > scene.width - PAD {
            x = PAD;
            rows += 1;
        }
        let y = scene.y + (rows - 1) * row_h + row_h / 2;
        scene.rect((x, y - 6), (x + 12, y + 6), fill);
        if hatched {
            hatch(scene, (x, y - 6), 12);
        }
        let border = if outlined { 3 } else { 1 };
        scene.outline((x, y - 6), (x + 12, y + 6), TEXT, border);
        if label.starts_with("projected") {
            scene.outline((x + 3, y - 3), (x + 9, y + 3), WHITE, 2);
        }
        scene.text(label, (x + 18, y), SMALL_PX, (HPos::Left, VPos::Center), TEXT);
        x += width + 16;
    }
    scene.y += rows * row_h + 4;
}

/// The swing map: each state's margin change since the baseline, toward the Democrats (blue)
/// or the Republicans (red), full colour from 10 points.
pub fn swing(scene: &mut Scene, results: &Results) {
    scene.title("Swing since the baseline election");
    if results.swing.is_empty() {
        scene.note("No baseline: run with --baseline FILE.csv");
        return;
    }
    tile_map(scene, |code| {
        let Some(state) = results.states.get(code) else {
            return blank(code, "no results");
        };
        let (Some(dem), Some(rep)) = (state.swing.get("DEMOCRAT"), state.swing.get("REPUBLICAN")) else {
            return blank(code, &format!("{}: no votes yet", state.name));
        };
        // Toward the Democrats is positive: their share's change minus the Republicans'.
        let points = dem - rep;
        let (color, side, party) = match points >= 0.0 {
            true => (DEMOCRAT, "D", "the Democrats"),
            false => (REPUBLICAN, "R", "the Republicans"),
        };
        Tile {
            fill: mix_with_white(color, (points.abs() / 10.0).min(1.0)),
            outlined: false,
            hatched: false,
            ringed: false,
            figure: format!("{side}+{:.1}", points.abs()),
            tip: format!(
                "{}: {:.1} points toward {party} since the baseline",
                state.name,
                points.abs()
            ),
        }
    });
    let national: Vec<String> = results
        .swing
        .iter()
        .map(|(party, points)| format!("{party} {points:+.1}"))
        .collect();
    scene.paragraph(
        &format!("Nationally: {} (change in share, points)", national.join(", ")),
        SMALL_PX + 1.0,
        false,
        TEXT,
    );
    scene.note("Blue: the margin moved toward the Democrats; red: toward the Republicans.");
}

/// Diagonal grey lines across the square of `side` pixels at `from`.
fn hatch(scene: &mut Scene, from: (i32, i32), side: i32) {
    let (x, y) = from;
    let step = (side / 4).max(4);
    let mut d = step;
    while d < 2 * side {
        // The diagonal x + y = d, clipped to the square.
        let start = (x + d.min(side), y + (d - side).max(0));
        let end = (x + (d - side).max(0), y + d.min(side));
        let line = Mark::Line {
            points: vec![start, end],
            color: HATCH,
            width: 1,
        };
        scene.marks.push(line);
        d += step;
    }
}

/// Diagonal grey lines across the polygon `points` (even-odd), clipped to it: each diagonal
/// `x + y = d` is cut where it crosses the polygon's edges, and drawn between pairs of crossings.
pub(crate) fn hatch_polygon(scene: &mut Scene, points: &[(i32, i32)]) {
    if points.len() < 3 {
        return;
    }
    let sums = points.iter().map(|(x, y)| x + y);
    let (low, high) = (sums.clone().min().unwrap_or(0), sums.max().unwrap_or(0));
    let step = 6;
    let mut d = low - low.rem_euclid(step) + step;
    while d < high {
        let mut crossings: Vec<f64> = Vec::new();
        for (i, &(ax, ay)) in points.iter().enumerate() {
            let (bx, by) = points[(i + 1) % points.len()];
            let (fa, fb) = (f64::from(ax + ay - d), f64::from(bx + by - d));
            if (fa < 0.0) != (fb < 0.0) {
                let t = fa / (fa - fb);
                crossings.push(f64::from(ax) + t * f64::from(bx - ax));
            }
        }
        crossings.sort_by(f64::total_cmp);
        for pair in crossings.chunks_exact(2) {
            let (x0, x1) = (pair[0].round() as i32, pair[1].round() as i32);
            if x1 > x0 {
                scene.marks.push(Mark::Line {
                    points: vec![(x0, d - x0), (x1, d - x1)],
                    color: HATCH,
                    width: 1,
                });
            }
        }
        d += step;
    }
}

/// The hatching's grey: 3:1 against white, as a graphic needs (WCAG 1.4.11).
const HATCH: RGBColor = RGBColor(0x8a, 0x8a, 0x8a);

/// The states as tiles from the current row down, each filled and labelled as `tile` says.
fn tile_map(scene: &mut Scene, tile: impl Fn(&str) -> Tile) {
    let cell = (scene.inner() / COLUMNS as i32).min(MAX_CELL);
    let left = (scene.width - cell * COLUMNS as i32) / 2;
    let top = scene.y;
    for (code, column, row) in TILES {
        let (x, y) = (left + column as i32 * cell, top + row as i32 * cell);
        let shown = tile(code);
        scene.rect((x + 1, y + 1), (x + cell - 1, y + cell - 1), shown.fill);
        if shown.hatched {
            hatch(scene, (x + 1, y + 1), cell - 2);
        }
        if shown.fill == NOT_REPORTING && !shown.hatched {
            scene.outline((x + 1, y + 1), (x + cell - 1, y + cell - 1), MUTED, 1);
        }
        if shown.outlined {
            scene.outline((x + 3, y + 3), (x + cell - 3, y + cell - 3), TEXT, 3);
        }
        if shown.ringed {
            scene.outline((x + 4, y + 4), (x + cell - 4, y + cell - 4), WHITE, 2);
        }
        let ink = text_on(shown.fill);
        // The figure goes under the code when both fit the tile; the tooltip has it always.
        let two_lines = cell as f64 >= LABEL_PX + SMALL_PX + 8.0
            && text_width(&shown.figure, SMALL_PX, false) <= f64::from(cell - 4);
        let code_y = if two_lines { y + cell / 2 - 7 } else { y + cell / 2 };
        scene.bold(
            code,
            (x + cell / 2, code_y),
            LABEL_PX.min(f64::from(cell) * 0.45).max(SMALL_PX),
            (HPos::Center, VPos::Center),
            ink,
        );
        if two_lines && !shown.figure.is_empty() {
            scene.text(
                shown.figure,
                (x + cell / 2, y + cell / 2 + 9),
                SMALL_PX,
                (HPos::Center, VPos::Center),
                ink,
            );
        }
        scene.hotspot(
            (x, y),
            (x + cell, y + cell),
            format!("state-{code}"),
            shown.tip,
            Some(code),
        );
    }
    scene.y = top + ROWS as i32 * cell + 10;
}
