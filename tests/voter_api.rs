//! `tally generate --serve`: the original voter API, `GET /api/stream_votes`, as server-sent
//! events in the seed format, deterministic by seed.

mod common;

use common::*;

#[test]
fn the_voter_api_streams_what_generate_prints() {
    let (_server, url) = start_tally(
        &[
            "generate",
            "--serve",
            "127.0.0.1:0",
            "--count",
            "40",
            "--seed",
            "5",
            "--rate",
            "400",
            "--duplicate-rate",
            "0.2",
        ],
        "voter stream at ",
    );
    let printed = String::from_utf8(run_ok(&[
        "generate",
        "--count",
        "40",
        "--seed",
        "5",
        "--duplicate-rate",
        "0.2",
    ]))
    .unwrap();
    let printed: Vec<&str> = printed.lines().collect();
    assert!(printed.len() > 40);
    // Each client gets its own stream from the first record.
    assert_eq!(sse_records(&url, printed.len()), printed);
    assert_eq!(sse_records(&url, 3), printed[..3]);
    let missing = url.replace("/api/stream_votes", "/api/nothing");
    assert_eq!(http_get_status(&missing).map(|(status, _)| status), Some(404));
}

/// `generate --serve --night` plays the night on its own clock, as `run` does: no state's first
/// record reaches a client before its polls close on the compressed night, and the whole night
/// arrives in about its length (not at the voter API's default of a record a second).
#[test]
fn the_voter_api_plays_a_night_on_the_nights_clock() {
    use std::time::{Duration, Instant};
    use tally_model::reference::poll_closing_2024;
    use tally_model::State;
    let length = Duration::from_secs(10);
    let (_server, url) = start_tally(
        &[
            "generate",
            "--serve",
            "127.0.0.1:0",
            "--scenario",
            "2024",
            "--scale",
            "0.00002",
            "--night",
            "--night-length",
            "10s",
            "--poll-closings",
            "2024",
        ],
        "voter stream at ",
    );
    let expected = run_ok(&["generate", "--scenario", "2024", "--scale", "0.00002"])
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .count();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Each state's first record: how long after the request it arrived.
    let (first_seen, received) = runtime.block_on(async {
        let asked = Instant::now();
        let mut response = reqwest::Client::new().get(&url).send().await.expect("SSE request");
        let mut first_seen: std::collections::BTreeMap<State, Duration> = Default::default();
        let (mut pending, mut received) = (String::new(), 0usize);
        let deadline = asked + length * 4;
        while received < expected {
            assert!(
                Instant::now() < deadline,
                "{received} of {expected} records after {:?}",
                length * 4
            );
            let chunk = match tokio::time::timeout(Duration::from_secs(10), response.chunk()).await {
                Ok(Ok(Some(chunk))) => chunk,
                other => panic!("the stream ended early ({other:?}) after {received} records"),
            };
            let now = asked.elapsed();
            pending.push_str(&String::from_utf8_lossy(&chunk));
            while let Some(end) = pending.find("\n\n") {
                let event: String = pending.drain(..end + 2).collect();
                let record: serde_json::Value =
                    serde_json::from_str(event.trim().trim_start_matches("data:")).expect("a JSON record");
                let state = State::lookup(record["state"].as_str().unwrap_or_default()).expect("a state");
                first_seen.entry(state).or_insert(now);
                received += 1;
            }
        }
        (first_seen, received)
    });
    assert_eq!(received, expected);
    let closings = &poll_closing_2024().0;
    let first = closings.values().copied().fold(f64::MAX, f64::min);
    let last = closings.values().copied().fold(f64::MIN, f64::max);
    // The night runs from the first closing to the last plus four hours of reporting.
    let span = last - first + 4.0;
    for (state, seen) in &first_seen {
        let closes = length.mul_f64((closings[state] - first) / span);
        assert!(
            *seen >= closes,
            "{} reported at {seen:?}, before its polls closed at {closes:?} on the night's clock",
            state.code()
        );
    }
    // Late-closing states report late: the clock is the night's, not a rate.
    let (alaska, indiana) = (State::lookup("AK").expect("AK"), State::lookup("IN").expect("IN"));
    assert!(
        first_seen[&alaska] > first_seen[&indiana] + length / 4,
        "{first_seen:?}"
    );
}
