//! What newsrooms' tools read. `elex` 2.4.4 (the AP Elections API client the NYT and NPR wrote,
//! installed from PyPI by `scripts/elex.sh`), pointed at a job's AP-compatible feed with
//! `AP_API_BASE_URL`, lists the election, its races, and results whose every count, state and
//! county, equals `/api/results` at the same epoch; calls are its winners; a rehearsal is marked
//! as one. And the change-only feeds: a client that follows a night by cursor, or by the stream
//! of changes, ends holding exactly the final document.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// `elex ARGS… -o json` against `base`, parsed.
fn elex(elex: &PathBuf, base: &str, args: &[&str]) -> Value {
    let cache = tempfile::tempdir().unwrap();
    let output = Command::new(elex)
        .args(args)
        .args(["-o", "json"])
        .env("AP_API_BASE_URL", format!("{base}/ap/v2"))
        .env("AP_API_KEY", "tally-needs-no-key")
        .env("ELEX_CACHE_DIRECTORY", cache.path())
        .output()
        .expect("elex runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "elex {args:?}: {}\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("elex {args:?} printed no JSON ({e}): {stdout}"))
}

fn get(url: &str) -> Value {
    serde_json::from_str(&http_get(url).expect("an answer")).expect("JSON")
}

#[test]
fn elex_reads_the_night_and_agrees_to_the_vote() {
    let Some(elex_bin) = std::env::var_os("TALLY_ELEX").map(PathBuf::from) else {
        return skip("elex_reads_the_night: needs elex (TALLY_ELEX=$(scripts/elex.sh), or run scripts/test.sh)");
    };
    // The 2024 night at 0.02%, with counties, read to its end (so one epoch holds still), marked
    // as a rehearsal.
    let (_job, base) = start_server(&[
        "--scenario",
        "2024",
        "--scale",
        "0.0002",
        "--rate",
        "0",
        "--workers",
        "2",
        "--test",
    ]);
    let results = wait_for("the final results", Duration::from_secs(120), || {
        let results: Value = serde_json::from_str(&http_get(&format!("{base}/api/results"))?).ok()?;
        (results["complete"] == true).then_some(results)
    });
    let date = results["election_date"].as_str().expect("an election date").to_string();
    assert_eq!(date, "2024-11-05", "Election Day of the year played");

    let elections = elex(&elex_bin, &base, &["elections"]);
    assert_eq!(elections[0]["electiondate"], date.as_str(), "{elections}");
    assert_eq!(elections[0]["testresults"], true, "{elections}");

    let races = elex(&elex_bin, &base, &["races", &date]);
    let races = races.as_array().expect("a list of races");
    assert_eq!(races.len(), 51, "a race per state and DC");
    assert!(races.iter().all(|r| r["test"] == true && r["officeid"] == "P"));

    let rows = elex(&elex_bin, &base, &["results", &date]);
    let rows = rows.as_array().expect("a list of results");
    // State → candidate → votes, and county → candidate → votes, as elex read them.
    let mut by_state: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut by_county: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let mut winners: BTreeMap<String, String> = BTreeMap::new();
    for row in rows {
        let name = format!(
            "{} {}",
            row["first"].as_str().unwrap_or_default(),
            row["last"].as_str().unwrap_or_default()
        )
        .trim()
        .to_string();
        let votes = row["votecount"].as_u64().expect("a vote count");
        let state = row["statepostal"].as_str().expect("a state").to_string();
        assert_eq!(row["test"], true, "{row}");
        match row["level"].as_str() {
            Some("state") => {
                by_state.entry(state.clone()).or_default().insert(name.clone(), votes);
                if row["winner"] == true {
                    assert!(winners.insert(state, name).is_none(), "one winner a state");
                }
            }
            // In the six New England states elex calls subunits townships (AP reports towns
            // there) and sums those with a county's code into a county row of its own: both
            // must then agree.
            Some("county") | Some("township") => {
                let fips = row["fipscode"].as_str().expect("a FIPS code").to_string();
                let before = by_county.entry(fips.clone()).or_default().insert(name.clone(), votes);
                assert!(
                    before.is_none_or(|b| b == votes),
                    "{fips} {name}: {before:?} and {votes}"
                );
            }
            other => panic!("a row at level {other:?}: {row}"),
        }
    }
    // Every state and candidate, as /api/results has them at the same (final) epoch.
    let candidates: Vec<String> = results["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(by_state.len(), 51);
    let mut counted = 0;
    for (state, votes) in &by_state {
        for name in &candidates {
            let published = results["by_state"][state][name].as_u64().unwrap_or(0);
            assert_eq!(votes.get(name).copied(), Some(published), "{state} {name}");
            counted += published;
        }
        let called = results["states"][state]["called"].as_str().map(String::from);
        assert_eq!(winners.get(state).cloned(), called, "{state}'s winner is its call");
    }
    assert_eq!(counted, results["votes"].as_u64().unwrap(), "every vote");
    // Every county of every state, as the state's document lists it.
    let mut units = 0;
    for state in by_state.keys() {
        let document = get(&format!("{base}/api/results?state={state}"));
        assert_eq!(document["epoch"], results["epoch"], "the same epoch");
        for unit in document["units"].as_array().unwrap() {
            let fips = unit["county"].as_str().unwrap();
            for name in &candidates {
                let published = unit["candidates"][name].as_u64().unwrap_or(0);
                assert_eq!(
                    by_county.get(fips).and_then(|c| c.get(name)).copied(),
                    Some(published),
                    "{state} {fips} {name}"
                );
            }
            units += 1;
        }
    }
    assert_eq!(units, by_county.len(), "no county elex has that tally does not");
    assert!(units > 3000, "the counties are there: {units}");
    assert!(!winners.is_empty(), "the count's end called states");
}

#[test]
fn the_feed_refuses_what_it_does_not_have_with_a_4xx() {
    let (_job, base) = start_server(&["--count", "1000", "--rate", "0", "--election-date", "2028-11-07"]);
    let elections = wait_for("the feed", Duration::from_secs(60), || {
        let list = get(&format!("{base}/ap/v2/elections"));
        (list["elections"][0]["electionDate"] == "2028-11-07").then_some(list)
    });
    assert_eq!(
        elections["elections"][0]["liveResults"], true,
        "not a rehearsal: {elections}"
    );
    for (path, status) in [
        ("/ap/v2/elections/2024-11-05", 404),
        ("/ap/v2/elections/2028-11-07?format=xml", 400),
        ("/ap/v2/elections/2028-11-07?level=precinct", 400),
        ("/ap/v2/elections/2028-11-07?omitResults=maybe", 400),
        ("/ap/v2/elections/2028-11-07?officeID=P", 200),
    ] {
        let (code, body) = http_get_status(&format!("{base}{path}")).expect("an answer");
        assert_eq!(code, status, "{path}: {body}");
    }
    let only_ohio = get(&format!("{base}/ap/v2/elections/2028-11-07?statePostal=OH&level=state"));
    let races = only_ohio["races"].as_array().unwrap();
    assert_eq!(races.len(), 1);
    assert_eq!(races[0]["resultsType"], "l");
    assert_eq!(races[0]["reportingUnits"].as_array().map(Vec::len), Some(1));
}

/// The events of `url` (name and data) until one whose data says the count is complete.
fn events_until_complete(url: &str) -> Vec<(String, Value)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut response = reqwest::Client::new().get(url).send().await.expect("SSE request");
        let (mut text, mut events) = (String::new(), Vec::new());
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            while let Some(end) = text.find("\n\n") {
                let event: String = text.drain(..end + 2).collect();
                let name = event
                    .lines()
                    .find_map(|l| l.strip_prefix("event:"))
                    .unwrap_or("")
                    .trim();
                let data = event.lines().find_map(|l| l.strip_prefix("data:")).unwrap_or("");
                if name.is_empty() {
                    continue; // a keep-alive comment
                }
                let data: Value = serde_json::from_str(data).expect("JSON data");
                let complete = data["complete"] == true;
                events.push((name.to_string(), data));
                if complete {
                    return events;
                }
            }
            assert!(std::time::Instant::now() < deadline, "no complete event in 120 s");
            match tokio::time::timeout(Duration::from_secs(30), response.chunk()).await {
                Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
                other => panic!("the stream ended early ({other:?})"),
            }
        }
    })
}

#[test]
fn following_by_cursor_or_by_the_changes_stream_ends_with_the_final_document() {
    // The 2024 night at 0.02%, over about eight seconds.
    let (_job, base) = start_server(&[
        "--scenario",
        "2024",
        "--scale",
        "0.0002",
        "--rate",
        "4000",
        "--workers",
        "2",
    ]);
    let stream = std::thread::spawn({
        let url = format!("{base}/api/events?changes=true");
        move || events_until_complete(&url)
    });
    // By cursor: the whole document once, then only what changed.
    let mut held = get(&format!("{base}/api/results"));
    let (mut changes, mut not_modified) = (0, 0);
    while held["complete"] != true {
        let epoch = held["epoch"].as_u64().expect("an epoch");
        let (status, body) = http_get_status(&format!("{base}/api/results?since={epoch}")).expect("an answer");
        match status {
            200 => {
                let change: Value = serde_json::from_str(&body).expect("JSON");
                assert_eq!(change["since"].as_u64(), Some(epoch));
                held = tally_model::changes::apply(&held, &change);
                changes += 1;
            }
            304 => not_modified += 1,
            410 => held = get(&format!("{base}/api/results")),
            other => panic!("since={epoch}: {other} {body}"),
        }
        std::thread::sleep(Duration::from_millis(150));
    }
    let last = get(&format!("{base}/api/results?epoch={}", held["epoch"]));
    assert_eq!(held, last, "the cursor's document is the final one");
    assert!(changes >= 3, "{changes} changes, {not_modified} 304s");
    // Nothing is newer than the final publication.
    let (status, _) = http_get_status(&format!("{base}/api/results?since={}", held["epoch"])).expect("an answer");
    assert_eq!(status, 304);

    let events = stream.join().expect("the stream's reader");
    assert_eq!(events[0].0, "results", "the whole document first");
    let mut followed = events[0].1.clone();
    for (name, change) in &events[1..] {
        assert_eq!(name, "changes");
        assert_eq!(change["since"], followed["epoch"], "each against the one before");
        followed = tally_model::changes::apply(&followed, change);
    }
    assert!(events.len() >= 3, "{} events", events.len());
    let last = get(&format!("{base}/api/results?epoch={}", followed["epoch"]));
    assert_eq!(followed, last, "the stream's document is the final one");
}
