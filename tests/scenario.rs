//! The official 2020 results, scaled to 1%, reproduce the scaled table exactly, state by state,
//! and the certified 306–232 outcome under the 2010 apportionment.

mod common;

use common::*;
use tally_model::reference::president_2020;
use tally_model::State;

#[test]
fn the_2020_scenario_at_one_percent_replays_to_the_official_table() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("2020.ndjson");
    let table = concat!(env!("CARGO_MANIFEST_DIR"), "/model/data/president_2020_by_state.csv");
    run_ok(&[
        "generate",
        "--scenario",
        table,
        "--scale",
        "0.01",
        "--seed",
        "2020",
        "--out",
        file.to_str().unwrap(),
    ]);
    let results = parse_results(&run_ok(&[
        "replay",
        file.to_str().unwrap(),
        "--apportionment",
        "2010",
        "--workers",
        "2",
    ]));

    for row in president_2020() {
        let expected = (row.votes as f64 * 0.01).round() as u64;
        let got = results["by_state"][row.state.code()][&row.candidate]
            .as_u64()
            .unwrap_or(0);
        assert_eq!(got, expected, "{} {}", row.state.code(), row.candidate);
    }
    let electoral = |name: &str| {
        results["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["electoral_votes"]
            .as_u64()
    };
    assert_eq!(electoral("Biden"), Some(306));
    assert_eq!(electoral("Trump"), Some(232));
    assert_eq!(results["leader"], "Biden");
    assert_eq!(results["winner"], "Biden");
    assert_eq!(results["states"].as_object().unwrap().len(), State::all().count());
    assert_eq!(results["rejected"]["duplicate_voter"], 0);
}
