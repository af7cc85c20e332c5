//! `/charts/outlook.svg`: the projections' national picture. A needle between the two candidates
//! with the best chances points at the leader's win probability; under it, each candidate's
//! projected electoral votes with their range; below, the win probability over the night, so a
//! reader sees how sure the estimate has become and how it got there. Projections are estimates
//! ([`tally_model::projection`]): the chart says so, and the certain calls stay on the others.

use crate::palette::{mix_with_white, Palette, MUTED, TEXT};
use crate::scene::{Mark, Scene, LABEL_PX, PAD, SMALL_PX};
use plotters::style::text_anchor::{HPos, VPos};
use plotters::style::RGBColor;
use tally_model::{Results, Timeline};

/// Lays out the outlook: the needle, projected electoral votes, and the win probability over time.
pub fn outlook_chart(scene: &mut Scene, results: &Results, timeline: &Timeline, palette: &Palette) {
    scene.title("Projections: chance of winning");
    let Some(outlook) = &results.outlook else {
        scene.note("No estimates: they need a baseline election (--baseline) and the votes expected.");
        return;
    };
    // The two with the best chances, the more likely on the right.
    let mut ranked: Vec<(&String, f64)> = outlook.win_probability.iter().map(|(n, p)| (n, *p)).collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let [(right_name, right_p), (left_name, _)] = match ranked.as_slice() {
        [a, b, ..] => [*a, *b],
        _ => {
            scene.note("No estimates yet");
            return;
        }
    };
    let legend: Vec<(String, RGBColor)> = [left_name, right_name]
        .iter()
        .map(|n| (n.to_string(), palette.color(n)))
        .collect();
    scene.legend(&legend);
    needle(scene, palette, [left_name, right_name], right_p);
    for name in [right_name, left_name] {
        let Some([low, median, high]) = outlook.electoral_votes.get(name) else {
            continue;
        };
        let projected = results.projected_electoral_votes.get(name).copied().unwrap_or(0);
        scene.paragraph(
            &format!(
                "{name}: {median} electoral votes estimated (90% of draws {low}–{high}); {projected} in projected states"
            ),
            SMALL_PX + 1.0,
            false,
            TEXT,
        );
    }
    over_the_night(scene, timeline, palette, [left_name, right_name]);
    scene.note("Estimates from the votes counted against the baseline election; a projection is not a call.");
}

/// A half dial from `names[0]` certain (left) to `names[1]` certain (right), its needle at
/// `p` (the right-hand candidate's chance), the figure under it.
fn needle(scene: &mut Scene, palette: &Palette, names: [&String; 2], p: f64) {
    let radius = (scene.inner() / 3).clamp(60, 150);
    let centre = (scene.width / 2, scene.y + radius + 22);
    let at = |share: f64, r: i32| {
        let angle = std::f64::consts::PI * (1.0 - share);
        (
            centre.0 + (f64::from(r) * angle.cos()).round() as i32,
            centre.1 - (f64::from(r) * angle.sin()).round() as i32,
        )
    };
    // Five bands a side: from certain for the left candidate, through a toss-up, to certain for
    // the right one; paler toward the middle.
    let inner = radius * 6 / 10;
    for band in 0..10 {
        let (from, to) = (f64::from(band) / 10.0, f64::from(band + 1) / 10.0);
        let (name, strength) = if band < 5 {
            (names[0], 0.25 + 0.15 * f64::from(4 - band))
        } else {
            (names[1], 0.25 + 0.15 * f64::from(band - 5))
        };
        let steps = 8;
        let mut points: Vec<(i32, i32)> = (0..=steps)
            .map(|i| at(from + (to - from) * f64::from(i) / f64::from(steps), radius))
            .collect();
        points.extend(
            (0..=steps)
                .rev()
                .map(|i| at(from + (to - from) * f64::from(i) / f64::from(steps), inner)),
        );
        let fill = mix_with_white(palette.color(name), strength);
        scene.marks.push(Mark::Polygon {
            points,
            fill,
            stroke: fill,
        });
    }
    scene.marks.push(Mark::Line {
        points: vec![centre, at(p.clamp(0.0, 1.0), radius - 4)],
        color: TEXT,
        width: 3,
    });
    scene.rect((centre.0 - 4, centre.1 - 4), (centre.0 + 4, centre.1 + 4), TEXT);
    let leader = if p >= 0.5 { names[1] } else { names[0] };
    let chance = if p >= 0.5 { p } else { 1.0 - p };
    scene.bold(
        format!("{leader} {}", chance_text(chance)),
        (centre.0, centre.1 + 20),
        LABEL_PX + 2.0,
        (HPos::Center, VPos::Center),
        TEXT,
    );
    scene.text(
        "50%",
        at(0.5, radius + 10),
        SMALL_PX,
        (HPos::Center, VPos::Bottom),
        MUTED,
    );
    scene.y = centre.1 + 40;
}

/// A chance as a reader takes it: never "100%" or "0%" while anything is estimated.
fn chance_text(p: f64) -> String {
    match p {
        p if p > 0.99 => ">99%".to_string(),
        p if p < 0.01 => "<1%".to_string(),
        p => format!("{:.0}%", p * 100.0),
    }
}

/// Each candidate's chance over the night, 0 to 100%, from the timeline's points that had one.
fn over_the_night(scene: &mut Scene, timeline: &Timeline, palette: &Palette, names: [&String; 2]) {
    let points: Vec<_> = timeline
        .points
        .iter()
        .filter(|p| {
            names
                .iter()
                .any(|n| p.candidates.get(*n).and_then(|c| c.win_probability).is_some())
        })
        .collect();
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return;
    };
    let axis_w = 44;
    let (left, right) = (PAD + axis_w, scene.width - PAD);
    let (top, bottom) = (scene.y + 8, scene.y + 8 + (scene.width / 5).clamp(80, 160));
    let span = (last.as_of - first.as_of).max(1) as f64;
    let x = |as_of: i64| left + ((right - left) as f64 * (as_of - first.as_of) as f64 / span) as i32;
    let y = |p: f64| bottom - ((bottom - top) as f64 * p) as i32;
    for (p, color) in [
        (0.0, RGBColor(0xdd, 0xdd, 0xdd)),
        (0.5, MUTED),
        (1.0, RGBColor(0xdd, 0xdd, 0xdd)),
    ] {
        scene.marks.push(Mark::Line {
            points: vec![(left, y(p)), (right, y(p))],
            color,
            width: 1,
        });
        scene.text(
            format!("{:.0}%", p * 100.0),
            (left - 6, y(p)),
            SMALL_PX,
            (HPos::Right, VPos::Center),
            MUTED,
        );
    }
    for name in names {
        let line: Vec<(i32, i32)> = points
            .iter()
            .map(|p| {
                (
                    x(p.as_of),
                    y(p.candidates.get(name).and_then(|c| c.win_probability).unwrap_or(0.0)),
                )
            })
            .collect();
        scene.marks.push(Mark::Line {
            points: line,
            color: palette.color(name),
            width: 2,
        });
    }
    scene.y = bottom + 8;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::charts::tests::texts;
    use crate::charts::{render, Chart};
    use tally_model::outlook::Outlook;
    use tally_model::Apportionment;

    #[test]
    fn the_outlook_names_the_favourite_their_chance_and_both_ranges() {
        let mut results = Results::empty(Apportionment::Census2020);
        let mut timeline = Timeline::default();
        let mut outlook = Outlook::default();
        for (step, chance) in [(1, 0.6), (2, 0.876)] {
            outlook.win_probability = [("Ada".to_string(), chance), ("Bea".to_string(), 1.0 - chance)].into();
            outlook.electoral_votes = [
                ("Ada".to_string(), [250, 290, 320]),
                ("Bea".to_string(), [218, 248, 288]),
            ]
            .into();
            results.outlook = Some(outlook.clone());
            results.as_of = step * 60_000;
            results.votes = step as u64;
            timeline.record(&results);
        }
        let svg = render(Chart::Outlook, &results, &timeline, Chart::DEFAULT_WIDTH, None).expect("drawn");
        let shown = texts(&svg);
        assert!(shown.iter().any(|t| t == "Ada 88%"), "{shown:?}");
        assert!(
            shown
                .iter()
                .any(|t| t.starts_with("Ada: 290 electoral votes") && t.contains("250–320")),
            "{shown:?}"
        );
        assert!(shown.iter().any(|t| t.starts_with("Bea: 248")), "{shown:?}");
        assert!(svg.contains("a projection is not a call"), "{svg}");
        // Without estimates, it says what it needs.
        let none = render(
            Chart::Outlook,
            &Results::empty(Apportionment::Census2020),
            &Timeline::default(),
            400,
            None,
        )
        .expect("drawn");
        assert!(texts(&none).iter().any(|t| t.contains("--baseline")), "{none}");
    }

    #[test]
    fn a_chance_is_never_shown_as_a_certainty() {
        assert_eq!(chance_text(0.9996), ">99%");
        assert_eq!(chance_text(0.004), "<1%");
        assert_eq!(chance_text(0.5), "50%");
        assert_eq!(chance_text(0.876), "88%");
    }
}
