//! A state's county map: every county shaded by its leader's colour (deeper the wider the
//! margin), hatched while it has not reported, each a hotspot naming its figures.
//!
//! The shapes are the us-atlas TopoJSON (`data/counties-albers-10m.json`, from npm's
//! `us-atlas` 3.0.1, ISC license; `scripts/fetch-county-map.sh` fetches it again), already
//! projected (Albers USA, 975 × 610), read once with the `topojson` crate into GeoJSON
//! polygons. Its units are the Census Bureau's counties of 2017, so Alaska's boroughs are drawn
//! as the one unit tally counts Alaska as, and Connecticut's planning regions (its units in the
//! 2024 table) have no shape: a state whose units have none says so and leaves them to the
//! table.

use crate::format::{percent, thousands};
use crate::palette::{mix_with_white, Palette, NOT_REPORTING, TIED, WHITE};
use crate::scene::{Mark, Scene};
use geojson::Value;
use plotters::style::RGBColor;
use std::collections::BTreeMap;
use std::sync::OnceLock;
use tally_model::unit_results::UnitResult;
use tally_model::{County, Results, State};

const ATLAS: &str = include_str!("../data/counties-albers-10m.json");

/// A county's outline: its rings (the outer ring of each of its polygons), in atlas pixels.
type Shape = Vec<Vec<(f64, f64)>>;

/// Unit → its shape, for every county the atlas has and tally knows.
fn atlas() -> &'static BTreeMap<County, Shape> {
    static ATLAS_SHAPES: OnceLock<BTreeMap<County, Shape>> = OnceLock::new();
    ATLAS_SHAPES.get_or_init(|| match read_atlas(ATLAS) {
        Ok(shapes) => shapes,
        Err(error) => {
            // The file is compiled in and read by the tests: this is a build gone wrong.
            tracing::error!("the county atlas cannot be read: {error}");
            BTreeMap::new()
        }
    })
}

/// Reads a us-atlas counties topology into shapes by unit.
fn read_atlas(text: &str) -> Result<BTreeMap<County, Shape>, String> {
    let topology = match text.parse::<topojson::TopoJson>().map_err(|e| e.to_string())? {
        topojson::TopoJson::Topology(topology) => topology,
        _ => return Err("not a Topology".to_string()),
    };
    let collection = topojson::to_geojson(&topology, "counties").map_err(|e| e.to_string())?;
    let mut shapes: BTreeMap<County, Shape> = BTreeMap::new();
    for feature in collection.features {
        let code = match &feature.id {
            Some(geojson::feature::Id::String(code)) => code.clone(),
            Some(geojson::feature::Id::Number(code)) => format!("{code:0>5}"),
            None => continue,
        };
        let Some(mut county) = County::parse(&code) else {
            continue;
        };
        // Alaska is one unit (see `tally_model::units`).
        if county.0 / 1000 == 2 {
            county = County(2000);
        }
        if county.info().is_none() {
            continue;
        }
        let polygons = match feature.geometry.map(|g| g.value) {
            Some(Value::Polygon(rings)) => vec![rings],
            Some(Value::MultiPolygon(polygons)) => polygons,
            _ => continue,
        };
        let rings = shapes.entry(county).or_default();
        for polygon in polygons {
            if let Some(outer) = polygon.into_iter().next() {
                rings.push(outer.iter().filter(|p| p.len() >= 2).map(|p| (p[0], p[1])).collect());
            }
        }
    }
    Ok(shapes)
}

/// How a county is drawn: its fill, whether it is hatched (not reported), and its tooltip.
fn look(unit: Option<&UnitResult>, palette: &Palette, name: &str) -> (RGBColor, bool, String) {
    let Some(unit) = unit.filter(|u| u.votes > 0) else {
        return (NOT_REPORTING, true, format!("{name}: not reporting yet"));
    };
    let reporting = unit
        .reported
        .map(|r| format!(", {} reporting", percent(r)))
        .unwrap_or_default();
    let votes = thousands(unit.votes);
    match &unit.leader {
        Some(leader) => (
            // From 25% of the colour for a dead heat to full colour from a 50-point lead.
            mix_with_white(palette.color(leader), 0.25 + 0.75 * (unit.margin / 0.5).min(1.0)),
            false,
            format!(
                "{name}: {leader} leads by {:.1} points{reporting}; {votes} votes",
                unit.margin * 100.0
            ),
        ),
        None => (TIED, false, format!("{name}: tied{reporting}; {votes} votes")),
    }
}

/// The counties of `state`, from the current row down, scaled to the scene's width.
pub fn counties(scene: &mut Scene, results: &Results, palette: &Palette, state: State) {
    scene.title(&format!("{} by county", state.name()));
    let units = results.units_of(state);
    if units.is_empty() {
        scene.note("No county results: the records name no counties.");
        return;
    }
    let shapes: Vec<(&UnitResult, &Shape)> = units
        .iter()
        .filter_map(|unit| {
            let county = County::parse(&unit.county)?;
            Some((unit, atlas().get(&county)?))
        })
        .collect();
    if shapes.is_empty() {
        scene.note("These units have no shapes in the county atlas: see the table.");
        return;
    }
    let points = shapes.iter().flat_map(|(_, rings)| rings.iter().flatten());
    let (mut min, mut max) = ((f64::MAX, f64::MAX), (f64::MIN, f64::MIN));
    for &(x, y) in points {
        (min.0, min.1, max.0, max.1) = (min.0.min(x), min.1.min(y), max.0.max(x), max.1.max(y));
    }
    let (span_x, span_y) = ((max.0 - min.0).max(1.0), (max.1 - min.1).max(1.0));
    // As wide as the scene, at most 0.8 as tall (a tall state is narrower, centred).
    let inner = f64::from(scene.inner());
    let scale = (inner / span_x).min(inner * 0.8 / span_y);
    let left = f64::from(scene.width) / 2.0 - span_x * scale / 2.0;
    let top = f64::from(scene.y);
    let to_pixels = |&(x, y): &(f64, f64)| {
        (
            (left + (x - min.0) * scale).round() as i32,
            (top + (y - min.1) * scale).round() as i32,
        )
    };
    for (unit, rings) in &shapes {
        let (fill, hatched, tip) = look(Some(unit), palette, &unit.name);
        for (index, ring) in rings.iter().enumerate() {
            let points: Vec<(i32, i32)> = ring.iter().map(to_pixels).collect();
            scene.marks.push(Mark::Polygon {
                points: points.clone(),
                fill,
                stroke: WHITE,
            });
            if hatched {
                crate::maps::hatch_polygon(scene, &points);
            }
            // One hotspot per ring; the first carries the unit's key, the others a suffix.
            let key = match index {
                0 => format!("county-{}", unit.county),
                n => format!("county-{}-{n}", unit.county),
            };
            scene.polygon_hotspot(points, key, tip.clone());
        }
    }
    scene.y = (top + span_y * scale).ceil() as i32 + 8;
    let missing = units.len() - shapes.len();
    if missing > 0 {
        scene.note(&format!(
            "{missing} units have no shape in the county atlas: see the table."
        ));
    }
    scene.note("Deeper colour: a wider lead. Hatched: not reporting yet.");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_atlas_has_every_county_of_the_2020_table_but_a_few_renamed_ones() {
        let shapes = atlas();
        assert!(shapes.len() > 3000, "{}", shapes.len());
        let rows = tally_model::reference::president_by_county(2020).unwrap();
        let units: std::collections::BTreeSet<County> = rows.iter().filter_map(|r| r.county).collect();
        let missing: Vec<&County> = units.iter().filter(|c| !shapes.contains_key(c)).collect();
        assert!(missing.len() <= 3, "{missing:?}");
        // Philadelphia lies inside the atlas's frame; Alaska is one unit of many polygons.
        let philadelphia = &shapes[&County(42101)];
        assert!(philadelphia[0]
            .iter()
            .all(|&(x, y)| (0.0..975.0).contains(&x) && (0.0..610.0).contains(&y)));
        assert!(shapes[&County(2000)].len() > 10);
    }

    #[test]
    fn counties_are_shaded_by_leader_and_hatched_until_they_report() {
        use tally_model::tallies::{Tallies, Tally};
        use tally_model::{AgeGroup, Apportionment, CandidateId, CubeKey, Expected, Gender, UnitKey};
        let pa = State::lookup("PA").unwrap();
        let mut tallies = Tallies::default();
        let id = CandidateId::of("Ada");
        tallies.apply(&Tally::Candidate(id, "Ada".into()), 1);
        let cube = CubeKey {
            state: pa,
            gender: Gender::Female,
            age_group: AgeGroup::From30To44,
            candidate: id,
        };
        tallies.apply(&Tally::Vote(cube), 40);
        tallies.apply(
            &Tally::Unit(UnitKey {
                county: County(42101),
                candidate: id,
            }),
            40,
        );
        // Philadelphia has reported; Adams County is expected and has not.
        let expected = Expected {
            states: [(pa, 100)].into(),
            counties: [(County(42101), 50), (County(42001), 50)].into(),
        };
        let results = Results::new(&tallies, 1, false, Apportionment::Census2020).with_expectation(Some(&expected));
        let mut scene = Scene::new(600);
        counties(&mut scene, &results, &Palette::of(&results), pa);
        let tips: Vec<&str> = scene.hotspots.iter().map(|h| h.tip.as_str()).collect();
        assert!(
            tips.iter()
                .any(|t| t.starts_with("Philadelphia County: Ada leads by 100.0 points, 80.0% reporting")),
            "{tips:?}"
        );
        assert!(tips.contains(&"Adams County: not reporting yet"), "{tips:?}");
        assert!(scene.hotspots.iter().all(|h| h.shape.is_some() && h.to.0 <= 600));
        let hatching = scene.marks.iter().filter(|m| matches!(m, Mark::Line { .. })).count();
        assert!(hatching > 3, "the unreported county is hatched ({hatching} lines)");
        let svg = scene.to_svg(None, "t", "d").unwrap();
        assert!(svg.contains("<polygon points=") && svg.contains("data-key=\"county-42101\""));
        // A state whose records name no counties says so.
        let mut empty = Scene::new(600);
        counties(
            &mut empty,
            &Results::new(&Tallies::default(), 1, false, Apportionment::Census2020),
            &Palette::of(&results),
            pa,
        );
        assert!(empty.hotspots.is_empty());
    }
}
