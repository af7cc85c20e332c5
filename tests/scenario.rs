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

const TABLE_2020: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/model/data/president_2020_by_state.csv");

#[test]
fn a_replay_with_expected_votes_calls_every_state_for_its_winner_at_one_and_a_tenth_percent() {
    // The shipped tables, whole states winner-take-all: 2016 and 2020 under the 2010 census,
    // 2024 under the 2020 census (the certified results, Maine's and Nebraska's districts and
    // 2016's faithless electors aside; see model/data/SOURCES.md).
    let elections = [
        ("2016", "2010", "Trump", 305, "Clinton", 233),
        ("2020", "2010", "Biden", 306, "Trump", 232),
        ("2024", "2020", "Trump", 312, "Harris", 226),
    ];
    for (table, apportionment, winner, won, loser, lost) in elections {
        for scale in ["0.01", "0.001"] {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("night.ndjson");
            let path = file.to_str().unwrap();
            run_ok(&[
                "generate",
                "--scenario",
                table,
                "--scale",
                scale,
                "--seed",
                "9",
                "--out",
                path,
            ]);
            let results = parse_results(&run_ok(&[
                "replay",
                path,
                "--apportionment",
                apportionment,
                "--expected",
                table,
                "--expected-scale",
                scale,
            ]));
            let states = results["states"].as_object().unwrap();
            for (code, state) in states {
                assert_eq!(state["called"], state["leader"], "{table} {code} at {scale}");
                assert!(state["called"].is_string(), "{table} {code} at {scale}: a winner");
                assert_eq!(state["reported"], 1.0, "{table} {code} at {scale}");
                assert_eq!(state["expected_votes"], state["votes"], "{table} {code} at {scale}");
            }
            assert_eq!(results["called_electoral_votes"][winner], won, "{table} at {scale}");
            assert_eq!(results["called_electoral_votes"][loser], lost, "{table} at {scale}");
            assert_eq!(results["winner"], winner);
            assert_eq!(results["reported"], 1.0);
        }
    }
}

#[test]
fn a_live_scenario_calls_states_only_beyond_doubt_and_names_no_winner_before_270_called() {
    // The 2020 table at 0.1% (158 k records) at 40 k records/s: about four seconds of counting.
    let (_job, base) = start_server(&[
        "--scenario",
        TABLE_2020,
        "--scale",
        "0.001",
        "--rate",
        "40000",
        "--apportionment",
        "2010",
        "--workers",
        "2",
    ]);
    let mut calls: std::collections::BTreeMap<String, String> = Default::default();
    let mut seen_running = 0;
    let last = wait_for("the count to end", std::time::Duration::from_secs(60), || {
        let body = http_get(&format!("{base}/api/results"))?;
        let results: serde_json::Value = serde_json::from_str(&body).ok()?;
        let called: u64 = results["called_electoral_votes"]
            .as_object()?
            .values()
            .filter_map(|v| v.as_u64())
            .max()
            .unwrap_or(0);
        match results["winner"].as_str() {
            Some(winner) => assert!(
                results["called_electoral_votes"][winner].as_u64() >= Some(270),
                "a winner without 270 called: {results}"
            ),
            None => assert!(called < 270 || results["complete"] == true, "270 called, no winner"),
        }
        for (code, state) in results["states"].as_object()? {
            if let Some(call) = state["called"].as_str() {
                let first = calls.entry(code.clone()).or_insert_with(|| call.to_string());
                assert_eq!(first, call, "{code}'s call flipped");
                assert!(state["called_at"].as_i64() > Some(0), "{code} called with a time");
            }
        }
        if results["complete"] != true {
            seen_running += 1;
            assert!(results["reported"].as_f64() < Some(1.0) || results["votes"].as_u64() > Some(0));
        }
        (results["complete"] == true).then_some(results)
    });
    assert!(seen_running > 0, "the count was seen while it ran");
    assert_eq!(last["winner"], "Biden");
    assert_eq!(last["reported"], 1.0);
    assert_eq!(
        calls.len(),
        State::all().count(),
        "every state called once, never flipped"
    );
}

/// `(state, party) → share` of a results table, and nationally under `"US"`.
fn shares(table: &str) -> std::collections::BTreeMap<(String, String), f64> {
    let rows = tally_model::reference::parse_official_results(table.as_bytes()).unwrap();
    let mut votes: std::collections::BTreeMap<(String, String), u64> = Default::default();
    for row in &rows {
        *votes
            .entry((row.state.code().to_string(), row.party.clone()))
            .or_default() += row.votes;
        *votes.entry(("US".to_string(), row.party.clone())).or_default() += row.votes;
    }
    let mut totals: std::collections::BTreeMap<String, u64> = Default::default();
    for ((state, _), n) in &votes {
        *totals.entry(state.clone()).or_default() += n;
    }
    votes
        .iter()
        .map(|((state, party), n)| ((state.clone(), party.clone()), *n as f64 / totals[state] as f64))
        .collect()
}

/// `(state, party) → swing in points` of `now` against `then`, per state, and nationally under
/// `"US"` like for like: the states' swings weighted by the votes counted in each.
fn swings(now: &str, then: &str) -> std::collections::BTreeMap<(String, String), f64> {
    let (now_shares, then_shares) = (shares(now), shares(then));
    let rows = tally_model::reference::parse_official_results(now.as_bytes()).unwrap();
    let mut state_votes: std::collections::BTreeMap<String, u64> = Default::default();
    for row in &rows {
        *state_votes.entry(row.state.code().to_string()).or_default() += row.votes;
    }
    let national: u64 = state_votes.values().sum();
    let mut swings: std::collections::BTreeMap<(String, String), f64> = Default::default();
    for ((state, party), share) in now_shares.iter().filter(|((state, _), _)| state != "US") {
        let points = 100.0 * (share - then_shares[&(state.clone(), party.clone())]);
        swings.insert((state.clone(), party.clone()), points);
        *swings.entry(("US".to_string(), party.clone())).or_default() +=
            points * state_votes[state] as f64 / national as f64;
    }
    swings
}

#[test]
fn swing_against_a_baseline_is_the_tables_own_difference_matched_by_party() {
    let table = std::fs::read_to_string(TABLE_2020).unwrap();
    // A baseline where Democrats did 10% worse and Republicans 10% better in every state.
    let mut baseline = String::new();
    for (i, line) in table.lines().enumerate() {
        let mut fields: Vec<String> = line.split(',').map(str::to_string).collect();
        if i > 0 {
            let votes: f64 = fields[4].parse().unwrap();
            let factor = match fields[3].as_str() {
                "DEMOCRAT" => 0.9,
                "REPUBLICAN" => 1.1,
                _ => 1.0,
            };
            fields[4] = ((votes * factor).round() as u64).to_string();
        }
        baseline.push_str(&fields.join(","));
        baseline.push('\n');
    }
    // This election's Democrat is named differently: a candidates file says who she is.
    let renamed = table.replace(",Biden,", ",Harris,");
    let dir = tempfile::tempdir().unwrap();
    let baseline_path = write_file(dir.path(), "baseline.csv", baseline.as_bytes());
    let scenario_path = write_file(dir.path(), "now.csv", renamed.as_bytes());
    let candidates = write_file(
        dir.path(),
        "candidates.csv",
        b"name,party,color\nHarris,DEMOCRAT,#1f5fbf\n",
    );
    let votes = dir.path().join("now.ndjson");
    run_ok(&[
        "generate",
        "--scenario",
        scenario_path.to_str().unwrap(),
        "--scale",
        "0.01",
        "--out",
        votes.to_str().unwrap(),
    ]);
    let results = parse_results(&run_ok(&[
        "replay",
        votes.to_str().unwrap(),
        "--baseline",
        baseline_path.to_str().unwrap(),
        "--candidates",
        candidates.to_str().unwrap(),
    ]));
    let mut checked = 0;
    for ((state, party), expected) in swings(&renamed, &baseline) {
        let got = match state.as_str() {
            "US" => &results["swing"][&party],
            code => &results["states"][code]["swing"][&party],
        };
        let got = got.as_f64().unwrap_or_else(|| panic!("{state} {party}: {got}"));
        // The scenario rounds each row to 1%: shares move by at most a few hundredths of a point.
        assert!(
            (got - expected).abs() < 0.1,
            "{state} {party}: {got} against {expected}"
        );
        checked += 1;
    }
    assert_eq!(checked, 52 * 3, "every state and the nation, for all three parties");
    assert!(results["swing"]["DEMOCRAT"].as_f64() > Some(2.0), "Democrats gained");
    // The drill-down carries the same swing.
    assert!(results["states"]["PA"]["swing"]["REPUBLICAN"].as_f64() < Some(0.0));
}

#[test]
fn an_election_night_reports_states_after_their_polls_close_and_reproduces_the_table() {
    let dir = tempfile::tempdir().unwrap();
    let night = |name: &str| {
        let file = dir.path().join(name);
        run_ok(&[
            "generate",
            "--scenario",
            TABLE_2020,
            "--scale",
            "0.001",
            "--seed",
            "5",
            "--night",
            "--night-length",
            "2s",
            "--out",
            file.to_str().unwrap(),
        ]);
        file
    };
    let (first, second) = (night("a.ndjson"), night("b.ndjson"));
    let bytes = std::fs::read(&first).unwrap();
    assert_eq!(bytes, std::fs::read(&second).unwrap(), "same seed, same bytes");

    // The order states first report in follows their poll closings (2020, Eastern time).
    let closings = tally_model::reference::poll_closing_2020();
    let mut order: Vec<State> = Vec::new();
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let state = tally_model::codec::decode(line)
            .expect("a night emits valid records")
            .state;
        if !order.contains(&state) {
            order.push(state);
        }
    }
    assert_eq!(order.len(), 51);
    let close = |state: &State| closings.0[state];
    assert!(
        ["IN", "KY"].contains(&order[0].code()),
        "the 6 p.m. states first: {}",
        order[0].code()
    );
    let position = |test: &dyn Fn(f64) -> bool| order.iter().position(|s| test(close(s))).unwrap();
    let last_six_pm = order.iter().rposition(|s| close(s) == 18.0).unwrap();
    assert!(
        last_six_pm < position(&|c| c >= 19.0),
        "6 p.m. states before any later one"
    );
    let last_by_eight = order.iter().rposition(|s| close(s) <= 20.0).unwrap();
    assert!(last_by_eight < position(&|c| c >= 24.0), "Alaska and Hawaii last");

    // Exactly the scenario's records, and with the scenario expected, every state called.
    let results = parse_results(&run_ok(&[
        "replay",
        first.to_str().unwrap(),
        "--apportionment",
        "2010",
        "--expected",
        TABLE_2020,
        "--expected-scale",
        "0.001",
    ]));
    for row in president_2020() {
        let expected = (row.votes as f64 * 0.001).round() as u64;
        assert_eq!(
            results["by_state"][row.state.code()][&row.candidate]
                .as_u64()
                .unwrap_or(0),
            expected,
            "{} {}",
            row.state.code(),
            row.candidate
        );
    }
    assert_eq!(results["winner"], "Biden");
}

#[test]
fn a_live_night_names_no_winner_before_270_called_and_never_flips_a_call() {
    let (_job, base) = start_server(&[
        "--scenario",
        TABLE_2020,
        "--scale",
        "0.001",
        "--night",
        "--night-length",
        "6s",
        "--apportionment",
        "2010",
        "--workers",
        "2",
    ]);
    let mut calls: std::collections::BTreeMap<String, String> = Default::default();
    let mut reported = Vec::new();
    let last = wait_for("the night to end", std::time::Duration::from_secs(60), || {
        let results: serde_json::Value = serde_json::from_str(&http_get(&format!("{base}/api/results"))?).ok()?;
        if let Some(winner) = results["winner"].as_str() {
            assert!(
                results["called_electoral_votes"][winner].as_u64() >= Some(270),
                "{results}"
            );
        }
        for (code, state) in results["states"].as_object()? {
            if let Some(call) = state["called"].as_str() {
                let first = calls.entry(code.clone()).or_insert_with(|| call.to_string());
                assert_eq!(first, call, "{code}'s call flipped");
            }
        }
        reported.push(results["reported"].as_f64()?);
        (results["complete"] == true).then_some(results)
    });
    assert!(
        reported.windows(2).all(|w| w[0] <= w[1]),
        "reporting only rises: {reported:?}"
    );
    assert!(
        reported.iter().any(|r| *r > 0.0 && *r < 1.0),
        "the night was seen while it ran"
    );
    assert_eq!(last["winner"], "Biden");
    assert_eq!(calls.len(), 51);
}

#[test]
fn the_2024_night_swings_against_2020_as_the_official_tables_do() {
    // The state tables, so that each state is one unit (by county, see `history` in the night's
    // tests): each state's swing is its own difference, and the nation's their mean weighted
    // by the votes counted.
    let table_2024 = concat!(env!("CARGO_MANIFEST_DIR"), "/model/data/president_2024_by_state.csv");
    let dir = tempfile::tempdir().unwrap();
    let votes = dir.path().join("2024.ndjson");
    run_ok(&[
        "generate",
        "--scenario",
        table_2024,
        "--scale",
        "0.01",
        "--out",
        votes.to_str().unwrap(),
    ]);
    let results = parse_results(&run_ok(&[
        "replay",
        votes.to_str().unwrap(),
        "--expected",
        table_2024,
        "--expected-scale",
        "0.01",
        "--baseline",
        TABLE_2020,
    ]));
    let expected = swings(
        &std::fs::read_to_string(table_2024).unwrap(),
        &std::fs::read_to_string(TABLE_2020).unwrap(),
    );
    for ((state, party), expected) in expected {
        let got = match state.as_str() {
            "US" => &results["swing"][&party],
            code => &results["states"][code]["swing"][&party],
        };
        let got = got.as_f64().unwrap_or_else(|| panic!("{state} {party}: {got}"));
        assert!(
            (got - expected).abs() < 0.1,
            "{state} {party}: {got} against {expected}"
        );
    }
    // Nationally the Republicans gained about 3 points and the Democrats lost about 3.
    assert!(results["swing"]["REPUBLICAN"].as_f64() > Some(2.0));
    assert!(results["swing"]["DEMOCRAT"].as_f64() < Some(-2.0));
    assert_eq!(results["winner"], "Trump");
    // With the count complete, every estimate is the count itself, every projection a call.
    for (code, state) in results["states"].as_object().unwrap() {
        let estimate = &state["estimate"];
        assert_eq!(estimate["sd"], 0.0, "{code}: {estimate}");
        assert_eq!(estimate["low"], estimate["high"], "{code}: {estimate}");
        let votes = &results["by_state"][code];
        let (first, second) = (
            estimate["first"].as_str().unwrap(),
            estimate["second"].as_str().unwrap(),
        );
        let of = |name: &str| votes[name].as_f64().unwrap_or(0.0);
        let total: f64 = votes.as_object().unwrap().values().filter_map(|v| v.as_f64()).sum();
        let margin = (of(first) - of(second)) / total;
        assert!(
            (estimate["margin"].as_f64().unwrap() - margin).abs() < 1e-9,
            "{code}: {estimate}"
        );
        assert_eq!(state["projected"], state["called"], "{code}");
    }
    assert_eq!(results["projected_winner"], "Trump");
    assert_eq!(results["outlook"]["win_probability"]["Trump"], 1.0);
    assert_eq!(
        results["projected_electoral_votes"]["Trump"],
        results["called_electoral_votes"]["Trump"]
    );
}

/// Each shipped year, generated at 1% to a file and replayed through the job: every county
/// gets exactly its scaled table value (the county CSV), and the counties sum to their states.
#[test]
fn every_county_of_each_shipped_year_replays_to_its_table_value_at_one_percent() {
    use tally_model::reference::{president_by_county, scaled};
    let dir = tempfile::tempdir().unwrap();
    for year in ["2016", "2020", "2024"] {
        let file = dir.path().join(format!("{year}.ndjson"));
        run_ok(&[
            "generate",
            "--scenario",
            year,
            "--scale",
            "0.01",
            "--seed",
            year,
            "--out",
            file.to_str().unwrap(),
        ]);
        let (_job, base) = start_server(&[
            "--source",
            file.to_str().unwrap(),
            "--workers",
            "2",
            "--expected",
            year,
            "--expected-scale",
            "0.01",
        ]);
        wait_for("the replay to end", std::time::Duration::from_secs(120), || {
            let results: serde_json::Value = serde_json::from_str(&http_get(&format!("{base}/api/results"))?).ok()?;
            (results["complete"] == true).then_some(())
        });
        let rows = president_by_county(year.parse().unwrap()).unwrap();
        let mut want: std::collections::BTreeMap<(String, String), u64> = Default::default();
        for (row, count) in rows.iter().zip(scaled(rows, 0.01)) {
            *want
                .entry((row.county.unwrap().to_string(), row.candidate.clone()))
                .or_default() += count;
        }
        let table = http_get(&format!("{base}/api/results.csv?level=county")).expect("the county table");
        let mut reader = csv::Reader::from_reader(table.as_bytes());
        let header = reader.headers().unwrap().clone();
        let mut checked = 0;
        for record in reader.records() {
            let record = record.unwrap();
            // Every unit is expected, so every one is listed and complete.
            assert_eq!(
                &record[3], &record[4],
                "{year} {}: all expected votes are in",
                &record[1]
            );
            for (column, name) in header.iter().enumerate().skip(8) {
                let got: u64 = record[column].parse().unwrap();
                let key = (record[1].to_string(), name.to_string());
                assert_eq!(got, want.get(&key).copied().unwrap_or(0), "{year} {key:?}");
                checked += 1;
            }
        }
        assert_eq!(checked, want.len(), "{year}: every county × candidate of the table");
    }
}
