//! Kafka end to end on a real broker: records produced by `tally generate --to kafka://…` or by
//! a third-party client (kcat) give exactly the counts of a sequential fold; rejects reach the
//! dead-letter topic with their reason; metrics report offsets, lag and latency.

mod common;

use common::kafka::*;
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;
use tally_dataflow::Apportionment;

fn url(topic: &str) -> String {
    format!("kafka://{}/{topic}", bootstrap())
}

#[test]
fn produced_records_count_exactly_as_the_sequential_fold_for_any_worker_count() {
    if !broker_available("produced_records_count_exactly") {
        return;
    }
    let topic = fresh_topic("oracle", 8);
    let dir = tempfile::tempdir().unwrap();
    let mix = [
        "--count",
        "30000",
        "--seed",
        "31",
        "--invalid-rate",
        "0.05",
        "--duplicate-rate",
        "0.2",
    ];
    let file = write_file(
        dir.path(),
        "records.ndjson",
        &run_ok(&[&["generate"][..], &mix].concat()),
    );
    run_ok(&[&["generate", "--to", &url(&topic)][..], &mix].concat());
    // Keyed by voter, a voter's records sit in one partition in production order, so the
    // dedup order (partition, offset) agrees with the file's order.
    let expected = expected_results(&[file], Apportionment::Census2020);
    assert!(expected["rejected"]["duplicate_voter"].as_u64().unwrap() > 5000);
    for workers in ["1", "3"] {
        let storage = tempfile::tempdir().unwrap();
        let args = [
            "run",
            "--source",
            &url(&topic),
            "--storage",
            storage.path().to_str().unwrap(),
            "--stop-at-end",
            "--listen",
            "127.0.0.1:0",
            "--workers",
            workers,
        ];
        assert_eq!(parse_results(&run_ok(&args)), expected, "{workers} workers");
    }
}

/// kcat, from Debian's packages (scripts/test.sh installs it).
fn kcat() -> Option<Command> {
    Command::new("kcat")
        .arg("-V")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|_| Command::new("kcat"))
}

#[test]
fn records_from_a_third_party_client_count_too() {
    if !broker_available("records_from_a_third_party_client") {
        return;
    }
    let Some(mut kcat) = kcat() else {
        assert!(
            std::env::var_os("TALLY_REQUIRE_SERVICES").is_none(),
            "kcat is not installed"
        );
        eprintln!("SKIPPED records_from_a_third_party_client: needs kcat (apt-get install kcat)");
        return;
    };
    let topic = fresh_topic("kcat", 4);
    let lines = [
        r#"{"id":1,"gender":"Female","age":34,"state":"Ohio","decision":"Kamala Harris"}"#,
        r#"{"id":2,"gender":"male","age":61,"state":"TX","decision":"Donald Trump"}"#,
        r#"{"id":"3","gender":"Other","age":19,"state":"california","decision":"Kamala Harris","extra":true}"#,
        r#"{"id":1,"gender":"Female","age":34,"state":"Ohio","decision":"Donald Trump"}"#,
        r#"{"id":4,"gender":"Female","age":12,"state":"Ohio","decision":"Kamala Harris"}"#,
        r#"not json at all"#,
    ];
    // Key each record by its voter id, as tally's producer does; `-K '|'` splits key|value.
    let input: String = lines
        .iter()
        .map(|line| {
            let key = tally_dataflow::codec::voter_id(line.as_bytes())
                .map(|id| id.to_string())
                .unwrap_or_default();
            format!("{key}|{line}\n")
        })
        .collect();
    let mut child = kcat
        .args(["-P", "-b", &bootstrap(), "-t", &topic, "-K", "|"])
        .stdin(Stdio::piped())
        .spawn()
        .expect("kcat starts");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().expect("stdin is piped");
        stdin.write_all(input.as_bytes()).expect("kcat reads");
    }
    assert!(child.wait().expect("kcat ends").success());

    let storage = tempfile::tempdir().unwrap();
    let args = [
        "run",
        "--source",
        &url(&topic),
        "--storage",
        storage.path().to_str().unwrap(),
        "--stop-at-end",
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "2",
    ];
    let results = parse_results(&run_ok(&args));
    assert_eq!(results["votes"], 3);
    let votes = |name: &str| {
        results["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["votes"]
            .clone()
    };
    assert_eq!(
        votes("Kamala Harris"),
        2,
        "voter 1's first ballot counts, the second does not"
    );
    assert_eq!(votes("Donald Trump"), 1);
    assert_eq!(results["rejected"]["duplicate_voter"], 1);
    assert_eq!(results["rejected"]["invalid_age"], 1);
    assert_eq!(results["rejected"]["malformed"], 1);
    assert_eq!(results["by_state"]["CA"]["Kamala Harris"], 1);
}

#[test]
fn rejected_records_go_to_the_dead_letter_topic_with_their_reason() {
    if !broker_available("rejected_records_go_to_the_dead_letter_topic") {
        return;
    }
    let topic = fresh_topic("dlq-source", 4);
    let dead = fresh_topic("dlq", 1);
    let mix = ["--count", "2000", "--seed", "41", "--invalid-rate", "0.2"];
    run_ok(&[&["generate", "--to", &url(&topic)][..], &mix].concat());
    let storage = tempfile::tempdir().unwrap();
    let args = [
        "run",
        "--source",
        &url(&topic),
        "--storage",
        storage.path().to_str().unwrap(),
        "--dead-letter-topic",
        &dead,
        "--stop-at-end",
        "--listen",
        "127.0.0.1:0",
    ];
    let results = parse_results(&run_ok(&args));
    let invalid: u64 = results["rejected"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(reason, _)| *reason != "duplicate_voter")
        .map(|(_, n)| n.as_u64().unwrap())
        .sum();
    assert!(invalid > 300, "{invalid}");
    let letters = read_topic(&dead, invalid as usize, Duration::from_secs(30));
    assert_eq!(letters.len() as u64, invalid);
    for (_, _, payload, headers) in &letters {
        let reason = headers
            .iter()
            .find(|(k, _)| k == "tally.reject_reason")
            .map(|(_, v)| v.as_str())
            .expect("a reason header");
        let decoded = tally_dataflow::codec::decode(payload).expect_err("dead letters are invalid");
        assert_eq!(decoded.as_str(), reason);
        assert!(headers.iter().any(|(k, v)| k == "tally.source_topic" && *v == topic));
    }
    let by_reason = |reason: &str| {
        letters
            .iter()
            .filter(|l| l.3.iter().any(|(k, v)| k == "tally.reject_reason" && v == reason))
            .count() as u64
    };
    for (reason, count) in results["rejected"].as_object().unwrap() {
        if reason != "duplicate_voter" {
            assert_eq!(by_reason(reason), count.as_u64().unwrap(), "{reason}");
        }
    }
}

#[test]
fn a_live_job_reports_offsets_lag_and_latency() {
    if !broker_available("a_live_job_reports_offsets_lag_and_latency") {
        return;
    }
    let topic = fresh_topic("metrics", 2);
    let storage = tempfile::tempdir().unwrap();
    let store = storage.path().to_str().unwrap();
    let (_server, base) = start_server(&["--source", &url(&topic), "--storage", store, "--workers", "2"]);
    run_ok(&["generate", "--to", &url(&topic), "--count", "500", "--seed", "3"]);
    let metrics = wait_for("metrics of 500 votes", Duration::from_secs(60), || {
        let text = http_get(&format!("{base}/metrics"))?;
        text.contains("tally_votes_total 500").then_some(text)
    });
    for partition in ["0", "1"] {
        assert!(metrics.contains(&format!(
            "tally_kafka_consumed_offset{{topic=\"{topic}\",partition=\"{partition}\"}}"
        )));
        assert!(metrics.contains(&format!(
            "tally_kafka_lag{{topic=\"{topic}\",partition=\"{partition}\"}}"
        )));
    }
    let consumed: u64 = metrics
        .lines()
        .filter(|l| l.starts_with("tally_kafka_consumed_offset{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum();
    assert_eq!(consumed, 500);
    assert!(
        metrics.contains("tally_end_to_end_latency_seconds_count 500"),
        "{metrics}"
    );
    assert!(metrics.contains("tally_kafka_up 1"));
}

#[test]
fn the_voter_api_also_produces_what_it_streams() {
    if !broker_available("the_voter_api_also_produces_what_it_streams") {
        return;
    }
    let topic = fresh_topic("stream", 3);
    let url = url(&topic);
    let (_server, api) = start_tally(
        &[
            "generate",
            "--serve",
            "127.0.0.1:0",
            "--to",
            &url,
            "--count",
            "25",
            "--seed",
            "9",
            "--rate",
            "500",
        ],
        "voter stream at ",
    );
    let streamed = sse_records(&api, 25);
    let produced = read_topic(&topic, 25, Duration::from_secs(30));
    let mut produced: Vec<String> = produced
        .into_iter()
        .map(|(_, _, payload, _)| String::from_utf8(payload).unwrap())
        .collect();
    let mut streamed_sorted = streamed.clone();
    produced.sort();
    streamed_sorted.sort();
    assert_eq!(produced, streamed_sorted);
}
