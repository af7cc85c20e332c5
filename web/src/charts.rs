//! The charts, drawn with plotters' SVG backend from one [`Results`]. Each is laid out at the
//! width it will be shown at ([`crate::scene`]), so text is drawn at its size in pixels; text
//! is emitted as SVG `<text>` (no font files needed), so every title, name and number is in
//! the document, with a `<title>` and a `<desc>` giving the figures in words.
//!
//! The drawers: [`crate::bars`] (candidates, gender, age), [`crate::maps`] (state leaders,
//! swing), [`crate::electoral`] and [`crate::timeline_chart`]; colours from [`crate::palette`].

use crate::format::{percent, thousands};
use crate::palette::Palette;
use crate::scene::{DrawError, Scene};
use tally_model::{Results, Timeline};

/// The charts the server offers, by the name in `/charts/<name>.svg`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Chart {
    /// Votes by candidate.
    Candidates,
    /// Votes by gender.
    Gender,
    /// Votes by age group.
    Age,
    /// The states tile map.
    States,
    /// The electoral bar toward 270.
    Electoral,
    /// How the race moved.
    Timeline,
    /// Swing since the baseline, per state.
    Swing,
    /// One state's counties (`?state=` is required).
    Counties,
    /// The projections: win probability, projected electoral votes, and both over the night.
    Outlook,
}

impl Chart {
    /// Every chart the server draws.
    pub const ALL: [Chart; 9] = [
        Chart::Candidates,
        Chart::Gender,
        Chart::Age,
        Chart::States,
        Chart::Electoral,
        Chart::Timeline,
        Chart::Swing,
        Chart::Counties,
        Chart::Outlook,
    ];

    /// Its file name without `.svg` (`/charts/NAME.svg`).
    pub fn name(self) -> &'static str {
        match self {
            Chart::Candidates => "candidates",
            Chart::Gender => "gender",
            Chart::Age => "age",
            Chart::States => "states",
            Chart::Electoral => "electoral",
            Chart::Timeline => "timeline",
            Chart::Swing => "swing",
            Chart::Counties => "counties",
            Chart::Outlook => "outlook",
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
            Chart::Counties => "Results by county",
            Chart::Outlook => "Projections: chance of winning",
        }
    }
    /// The chart a file name (without `.svg`) names.
    pub fn from_name(name: &str) -> Option<Chart> {
        Chart::ALL.into_iter().find(|chart| chart.name() == name)
    }
    /// The width when the request names none (the height is the chart's own at that width).
    pub const DEFAULT_WIDTH: u32 = 760;
}

/// A chart plotters could not draw (at a size too small for its layout, say).
#[derive(Debug, thiserror::Error)]
#[error("drawing {chart}")]
pub struct ChartError {
    /// The chart's name.
    pub chart: &'static str,
    /// What went wrong.
    #[source]
    pub detail: DrawError,
}

/// Renders `chart` for `results` (the timeline chart: for `timeline`) as an SVG document laid
/// out `width` pixels wide, as tall as it needs, or scaled into `height` when one is asked for.
pub fn render(
    chart: Chart,
    results: &Results,
    timeline: &Timeline,
    width: u32,
    height: Option<u32>,
) -> Result<String, ChartError> {
    render_for(chart, results, timeline, width, height, None)
}

/// [`render`], for the charts of one `state` (the county map needs to know which).
pub fn render_for(
    chart: Chart,
    results: &Results,
    timeline: &Timeline,
    width: u32,
    height: Option<u32>,
    state: Option<tally_model::State>,
) -> Result<String, ChartError> {
    let palette = Palette::of(results);
    let mut scene = Scene::new(width);
    match chart {
        Chart::Candidates => crate::bars::candidates(&mut scene, results, &palette),
        Chart::Gender => crate::bars::grouped(&mut scene, results, &palette, "Votes by gender", &results.by_gender),
        Chart::Age => crate::bars::grouped(
            &mut scene,
            results,
            &palette,
            "Votes by age group",
            &results.by_age_group,
        ),
        Chart::States => crate::maps::states(&mut scene, results, &palette),
        Chart::Swing => crate::maps::swing(&mut scene, results),
        Chart::Electoral => crate::electoral::electoral(&mut scene, results, &palette),
        Chart::Counties => match state {
            Some(state) => crate::county_map::counties(&mut scene, results, &palette, state),
            None => {
                scene.title("Results by county");
                scene.note("Choose a state: /charts/counties.svg?state=PA");
            }
        },
        Chart::Outlook => crate::outlook_chart::outlook_chart(&mut scene, results, timeline, &palette),
        Chart::Timeline => {
            crate::timeline_chart::timeline_chart(&mut scene, timeline, results.electoral_votes_to_win, &palette)
        }
    }
    scene.y += 4;
    scene
        .to_svg(height, chart.title(), &description(chart, results, timeline))
        .map_err(|detail| ChartError {
            chart: chart.name(),
            detail,
        })
}

/// The figures a chart shows, in words.
fn description(chart: Chart, results: &Results, timeline: &Timeline) -> String {
    let candidates = results
        .candidates
        .iter()
        .map(|c| {
            let called = results.called_electoral_votes.get(&c.name).copied().unwrap_or(0);
            format!(
                "{}: {} votes ({}), {} electoral votes ({called} called)",
                c.name,
                thousands(c.votes),
                percent(c.share),
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
        Chart::Outlook => match &results.outlook {
            None => "No estimates: no baseline election to compare with.".to_string(),
            Some(outlook) => {
                let chances: Vec<String> = outlook
                    .win_probability
                    .iter()
                    .map(|(name, p)| {
                        let ev = outlook.electoral_votes.get(name).map_or(0, |[_, median, _]| *median);
                        format!(
                            "{name}: {:.0}% chance of winning, {ev} electoral votes estimated",
                            p * 100.0
                        )
                    })
                    .collect();
                format!("Projections, not calls. {}.", chances.join("; "))
            }
        },
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

#[cfg(test)]
pub(crate) mod tests {
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

    /// The text nodes of an SVG document, trimmed.
    pub(crate) fn texts(svg: &str) -> Vec<String> {
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
        // The swing map names parties, not candidates (tested below); the outlook needs estimates
        // (tested in `outlook_chart`).
        for chart in Chart::ALL
            .into_iter()
            .filter(|c| !matches!(c, Chart::Swing | Chart::Outlook))
        {
            let svg = render(chart, &results, &timeline, Chart::DEFAULT_WIDTH, None).unwrap();
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
            let svg = render(chart, &results, &empty, 300, None).unwrap();
            assert!(
                texts(&svg).iter().any(|t| t == "No votes yet"),
                "{}: {:?}",
                chart.name(),
                texts(&svg)
            );
        }
        let svg = render(Chart::Electoral, &results, &empty, 300, None).unwrap();
        assert!(texts(&svg).iter().any(|t| t.contains("not yet won 538")));
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
        let uncalled = render(Chart::States, &results, &empty, 760, None).unwrap();
        assert_eq!(outlines(&uncalled), 1);
        for code in ["CA", "TX"] {
            let leader = results.states[code].leader.clone();
            results.states.get_mut(code).unwrap().called = leader;
        }
        let called = render(Chart::States, &results, &empty, 760, None).unwrap();
        assert_eq!(outlines(&called), 1 + 2, "two called states, outlined");
        assert!(texts(&called).iter().any(|t| t == "leading: paler = closer"), "the key");

        let none = render(Chart::Swing, &results, &empty, 760, None).unwrap();
        assert!(texts(&none).iter().any(|t| t.contains("No baseline")));
        results.swing = [("DEMOCRAT".to_string(), 2.5), ("REPUBLICAN".to_string(), -2.0)].into();
        let ohio = results.states.get_mut("OH").unwrap();
        ohio.swing = [("DEMOCRAT".to_string(), -1.0), ("REPUBLICAN".to_string(), 3.0)].into();
        let svg = render(Chart::Swing, &results, &empty, 760, None).unwrap();
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
            let svg = render(chart, &results, &timeline, Chart::DEFAULT_WIDTH, None).unwrap();
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
                Chart::Outlook => assert!(desc.contains("No estimates"), "{desc}"),
                Chart::Timeline => assert!(desc.contains("No votes yet"), "{desc}"),
                _ => {
                    assert!(desc.contains("Grace <Hopper> & \"Co\""), "{desc}");
                    assert!(desc.contains(&thousands(results.votes)), "{desc}");
                }
            }
        }
    }

    /// Every text of every chart, at phone to wall-screen widths, with nine candidates of long
    /// names: at least 12 px, and inside the chart by the measured widths.
    #[test]
    fn text_stays_inside_every_chart_at_every_width_and_is_never_under_12_px() {
        let names = [
            "Kamala Devi Harris",
            "Donald John Trump",
            "Robert F. Kennedy Jr.",
            "Jill Stein",
            "Chase Oliver",
            "Cornel West",
            "Claudia De la Cruz",
            "Write-in candidates, all of them together",
            "Peter Sonski",
        ];
        let mut results = results(&names);
        results.swing = [("DEMOCRAT".to_string(), 2.5), ("REPUBLICAN".to_string(), -2.0)].into();
        for state in results.states.values_mut() {
            state.swing = [("DEMOCRAT".to_string(), -11.25), ("REPUBLICAN".to_string(), 3.0)].into();
        }
        let mut timeline = Timeline::default();
        timeline.record(&results.clone().computed_at(1_000));
        timeline.record(&results.clone().computed_at(900_000));
        for width in [320, 360, 500, 760, 1200, 2400] {
            for chart in Chart::ALL {
                let svg = render(chart, &results, &timeline, width, None).unwrap();
                let document = roxmltree::Document::parse(&svg).unwrap();
                let view: Vec<f64> = document
                    .root_element()
                    .attribute("viewBox")
                    .unwrap_or_default()
                    .split(' ')
                    .filter_map(|v| v.parse().ok())
                    .collect();
                assert_eq!(view.len(), 4);
                for text in document.descendants().filter(|n| n.has_tag_name("text")) {
                    let content = text.text().unwrap_or_default().trim();
                    let number = |name: &str| text.attribute(name).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
                    let (x, y, px) = (number("x"), number("y"), number("font-size"));
                    let bold = text.attribute("font-weight") == Some("bold");
                    let width_px = crate::measure::text_width(content, px, bold);
                    let (from, to) = match text.attribute("text-anchor") {
                        Some("middle") => (x - width_px / 2.0, x + width_px / 2.0),
                        Some("end") => (x - width_px, x),
                        _ => (x, x + width_px),
                    };
                    let at = format!("{} at {width}: {content:?}", chart.name());
                    assert!(px >= 11.99, "{at} is {px} px");
                    assert!(
                        from >= -0.5 && to <= view[2] + 0.5,
                        "{at} spans {from:.0}..{to:.0} of {}",
                        view[2]
                    );
                    assert!(y >= 0.0 && y <= view[3], "{at} at y {y} of {}", view[3]);
                }
                // Every candidate a chart lists is in it: the legends wrap rather than drop.
                if matches!(
                    chart,
                    Chart::Gender | Chart::Age | Chart::States | Chart::Timeline | Chart::Candidates
                ) {
                    let texts = texts(&svg);
                    for name in &names[..crate::palette::MAX_SHOWN] {
                        let shown = crate::measure::fit(name, 13.0, false, f64::from(width - 2 * 12 - 18));
                        assert!(
                            texts.iter().any(|t| t.contains(name) || *t == shown),
                            "{} at {width} lists {name}",
                            chart.name()
                        );
                    }
                }
            }
        }
    }

    /// A state with no votes, one not reporting yet and a tied one are each drawn their own way
    /// (hatched; white with a hairline; dark grey) and named so in their tooltips.
    #[test]
    fn no_votes_not_reporting_and_tied_states_are_told_apart() {
        let mut results = results(&["Ada", "Bob"]);
        let empty = Timeline::default();
        for code in ["AK", "HI"] {
            let state = results.states.get_mut(code).unwrap();
            state.votes = 0;
            state.leader = None;
        }
        results.states.get_mut("HI").unwrap().expected_votes = Some(100);
        let ohio = results.states.get_mut("OH").unwrap();
        ohio.leader = None;
        ohio.called = None;
        let svg = render(Chart::States, &results, &empty, 760, None).unwrap();
        let document = roxmltree::Document::parse(&svg).unwrap();
        let tip = |code: &str| {
            document
                .descendants()
                .find(|n| n.attribute("data-state") == Some(code))
                .and_then(|n| n.attribute("aria-label"))
                .unwrap_or_default()
                .to_string()
        };
        assert!(tip("AK").ends_with("no votes yet"), "{}", tip("AK"));
        assert!(tip("HI").ends_with("not reporting yet"), "{}", tip("HI"));
        assert!(tip("OH").contains(": tied"), "{}", tip("OH"));
        // Hatching: grey diagonals, in the key's swatch and on Alaska's tile.
        let hatch_lines = svg.matches("stroke=\"#8A8A8A\"").count();
        assert!(hatch_lines > 4, "{hatch_lines} hatch lines");
        assert!(svg.contains("fill=\"#6E6E6E\""), "the tied grey");
    }

    /// The Democrat at the left end and the Republican at the right whoever leads, each with their
    /// electoral votes as the big number; the 270 mark in the middle.
    #[test]
    fn the_electoral_bar_puts_each_party_at_its_end_whoever_leads() {
        let mut results = results(&["Zed", "Abe"]);
        for candidate in &mut results.candidates {
            let party = if candidate.name == "Abe" {
                "DEMOCRAT"
            } else {
                "REPUBLICAN"
            };
            candidate.party = Some(party.to_string());
        }
        let ends = |results: &Results| {
            let svg = render(Chart::Electoral, results, &Timeline::default(), 760, None).unwrap();
            let document = roxmltree::Document::parse(&svg).unwrap();
            let big: Vec<(String, String)> = document
                .descendants()
                .filter(|n| n.attribute("font-size").and_then(|s| s.parse::<f64>().ok()) >= Some(31.0))
                .map(|n| {
                    let anchor = n.attribute("text-anchor").unwrap_or_default().to_string();
                    (anchor, n.text().unwrap_or_default().trim().to_string())
                })
                .collect();
            let mark = texts(&svg).into_iter().any(|t| t == "270 to win");
            (big, mark)
        };
        let votes = |results: &Results, name: &str| {
            results
                .candidates
                .iter()
                .find(|c| c.name == name)
                .map(|c| c.electoral_votes.to_string())
        };
        for swap in [false, true] {
            if swap {
                // The other candidate takes the popular lead: the sides stay.
                results.candidates.reverse();
            }
            let (big, mark) = ends(&results);
            assert!(mark, "the 270 mark");
            assert_eq!(
                big,
                vec![
                    ("start".to_string(), votes(&results, "Abe").unwrap_or_default()),
                    ("end".to_string(), votes(&results, "Zed").unwrap_or_default()),
                ],
                "the Democrat (Abe) left, the Republican (Zed) right"
            );
        }
    }
}
