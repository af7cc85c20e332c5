//! Kafka end to end on a real broker: records produced by `tally generate --to kafka://…` or by
//! a third-party client (kcat) give exactly the counts of a sequential fold; rejects reach the
//! dead-letter topic with their reason; metrics report offsets, lag and latency.

mod common;

use common::kafka::*;
use common::*;
use std::process::{Command, Stdio};
use std::time::Duration;
use tally_model::Apportionment;

fn url(topic: &str) -> String {
    topic_url(topic)
}

/// `tally run --stop-at-end` over `topic` with `workers` workers and a fresh local storage, plus
/// `extra` arguments; the final results JSON, without timing.
fn consume_to_end(topic: &str, workers: &str, extra: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let source = url(topic);
    let args = [
        "run",
        "--source",
        &source,
        "--storage",
        dir.path().to_str().unwrap(),
        "--stop-at-end",
        "--listen",
        "127.0.0.1:0",
        "--workers",
        workers,
    ];
    parse_results(&run_ok(&[&args[..], extra].concat()))
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
    let file = generated_file(dir.path(), &mix);
    run_ok(&[&["generate", "--to", &url(&topic)][..], &mix].concat());
    // Keyed by voter, a voter's records sit in one partition in production order, so the
    // dedup order (partition, offset) agrees with the file's order.
    let expected = expected_results(&[file], Apportionment::Census2020);
    assert!(expected["rejected"]["duplicate_voter"].as_u64().unwrap() > 5000);
    for workers in ["1", "3"] {
        assert_eq!(consume_to_end(&topic, workers, &[]), expected, "{workers} workers");
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
        skip("records_from_a_third_party_client: needs kcat (apt-get install kcat)");
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
            let key = tally_model::codec::voter_id(line.as_bytes())
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

    let results = consume_to_end(&topic, "2", &[]);
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
    let mix = [
        "--count",
        "2000",
        "--seed",
        "41",
        "--invalid-rate",
        "0.2",
        "--duplicate-rate",
        "0.2",
    ];
    run_ok(&[&["generate", "--to", &url(&topic)][..], &mix].concat());
    // A third-party client adds duplicates in other partitions than the voter's first record
    // (unkeyed, so their dedup order is not their arrival order).
    let produced = run_ok(&[&["generate"][..], &mix].concat())
        .split(|b| *b == b'\n')
        .filter(|line| !line.is_empty())
        .count();
    let source = read_topic(&topic, produced, Duration::from_secs(30));
    let first_valid: Vec<Vec<u8>> = source
        .iter()
        .filter(|r| tally_model::codec::decode(&r.2).is_ok())
        .take(50)
        .map(|r| r.2.clone())
        .collect();
    let producer: rdkafka::producer::BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("producer");
    for (i, record) in first_valid.iter().enumerate() {
        let message = rdkafka::producer::BaseRecord::<(), [u8]>::to(&topic)
            .payload(record.as_slice())
            .partition((i % 4) as i32);
        producer.send(message).map_err(|(e, _)| e).expect("queued");
    }
    rdkafka::producer::Producer::flush(&producer, Duration::from_secs(30)).expect("delivered");
    let source = read_topic(&topic, source.len() + first_valid.len(), Duration::from_secs(30));

    // Which records the fold rejects, and why, by (partition, offset).
    let mut records: Vec<(i32, i64, &[u8])> = source.iter().map(|r| (r.0, r.1, r.2.as_slice())).collect();
    records.sort();
    let mut voters = std::collections::HashSet::new();
    let mut expected: Vec<(String, String, String)> = records
        .iter()
        .filter_map(|(partition, offset, record)| {
            let reason = match tally_model::codec::decode(record) {
                Ok(ballot) if voters.insert(ballot.voter) => return None,
                Ok(_) => "duplicate_voter".to_string(),
                Err(reason) => reason.as_str().to_string(),
            };
            Some((partition.to_string(), offset.to_string(), reason))
        })
        .collect();
    expected.sort();

    let results = consume_to_end(&topic, "2", &["--dead-letter-topic", &dead]);
    let rejected: u64 = results["rejected"]
        .as_object()
        .unwrap()
        .values()
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(rejected as usize, expected.len());
    assert!(results["rejected"]["duplicate_voter"].as_u64() > Some(300));
    let letters = read_topic(&dead, expected.len(), Duration::from_secs(30));
    let header = |headers: &[(String, String)], key: &str| {
        headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("a {key} header"))
    };
    let mut got: Vec<(String, String, String)> = Vec::new();
    for (_, _, payload, headers) in &letters {
        assert_eq!(header(headers, "tally.source_topic"), topic);
        let (partition, offset) = (
            header(headers, "tally.source_partition"),
            header(headers, "tally.source_offset"),
        );
        // The payload is the source record, byte for byte.
        let original = source
            .iter()
            .find(|r| r.0.to_string() == partition && r.1.to_string() == offset)
            .expect("the dead letter names a source record");
        assert_eq!(&original.2, payload);
        got.push((partition, offset, header(headers, "tally.reject_reason")));
    }
    got.sort();
    assert_eq!(got, expected, "every reject, duplicates included, dead-lettered once");
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
    // Prometheus's own linter accepts what a client that does not ask for OpenMetrics gets.
    if let Some(verdict) = promtool_check_metrics("a_live_job_reports_offsets_lag_and_latency", &metrics) {
        assert_eq!(verdict, Ok(()), "promtool check metrics:\n{metrics}");
    }
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

/// Sends `record` to `partition` of `topic` and waits until it is delivered.
fn produce_to(topic: &str, partition: i32, record: &str) {
    let producer: rdkafka::producer::BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("producer");
    let message = rdkafka::producer::BaseRecord::<(), str>::to(topic)
        .payload(record)
        .partition(partition);
    producer.send(message).map_err(|(e, _)| e).expect("queued");
    rdkafka::producer::Producer::flush(&producer, Duration::from_secs(30)).expect("delivered");
}

#[test]
fn a_displaced_first_record_moves_the_vote_and_is_dead_lettered() {
    if !broker_available("a_displaced_first_record_moves_the_vote") {
        return;
    }
    let topic = fresh_topic("displaced", 4);
    let dead = fresh_topic("displaced-dlq", 1);
    let late = r#"{"id":77,"gender":"Male","age":40,"state":"Ohio","decision":"Late Candidate"}"#;
    let early = r#"{"id":77,"gender":"Male","age":40,"state":"Ohio","decision":"Early Candidate"}"#;
    // Position (3, 0) is read and counted first...
    produce_to(&topic, 3, late);
    let storage = tempfile::tempdir().unwrap();
    let store = storage.path().to_str().unwrap();
    let (_server, base) = start_server(&[
        "--source",
        &url(&topic),
        "--storage",
        store,
        "--workers",
        "2",
        "--dead-letter-topic",
        &dead,
    ]);
    let votes_of = |results: &serde_json::Value, name: &str| {
        results["candidates"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["name"] == name))
            .and_then(|c| c["votes"].as_u64())
            .unwrap_or(0)
    };
    wait_for("the first record counted", Duration::from_secs(60), || {
        let results = live_results(&base)?;
        (votes_of(&results, "Late Candidate") == 1).then_some(())
    });
    // ...then (0, 0) arrives: it precedes (3, 0), so it is the voter's vote.
    produce_to(&topic, 0, early);
    let results = wait_for("the vote to move", Duration::from_secs(60), || {
        let results = live_results(&base)?;
        (votes_of(&results, "Early Candidate") == 1).then_some(results)
    });
    assert_eq!(votes_of(&results, "Late Candidate"), 0);
    assert_eq!(results["votes"], 1);
    assert_eq!(results["rejected"]["duplicate_voter"], 1);
    // The displaced record, read back from the topic, is the one dead-lettered.
    let letters = read_topic(&dead, 1, Duration::from_secs(30));
    let (_, _, payload, headers) = &letters[0];
    assert_eq!(payload.as_slice(), late.as_bytes());
    let header = |key: &str| headers.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str());
    assert_eq!(header("tally.source_partition"), Some("3"));
    assert_eq!(header("tally.source_offset"), Some("0"));
    assert_eq!(header("tally.reject_reason"), Some("duplicate_voter"));
}

#[test]
fn generate_creates_a_missing_topic_with_the_partitions_asked_for() {
    if !broker_available("generate_creates_a_missing_topic") {
        return;
    }
    let topic = unique_topic_name("created");
    assert_eq!(partitions_of(&topic), None);
    run_ok(&[
        "generate",
        "--to",
        &url(&topic),
        "--count",
        "300",
        "--seed",
        "5",
        "--partitions",
        "3",
    ]);
    assert_eq!(partitions_of(&topic), Some(3));
    assert_eq!(read_topic(&topic, 300, Duration::from_secs(30)).len(), 300);
}

#[test]
fn a_producer_that_cannot_deliver_stops_with_one_clear_line() {
    if !broker_available("a_producer_that_cannot_deliver") {
        return;
    }
    // Every batch of the generator's records is larger than this topic accepts.
    let topic = fresh_topic_with("undeliverable", 1, &[("max.message.bytes", "64")]);
    let output = run(&["generate", "--to", &url(&topic), "--count", "2000000", "--seed", "5"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("tally: ")).collect();
    assert_eq!(errors.len(), 1, "{stderr}");
    assert!(
        errors[0].contains("cannot deliver to") && errors[0].contains(&topic),
        "{stderr}"
    );
}

#[test]
fn a_restarted_job_shows_its_snapshot_while_it_replays_then_goes_live() {
    if !broker_available("a_restarted_job_shows_its_snapshot_while_it_replays") {
        return;
    }
    let topic = fresh_topic("recovering", 4);
    let source = url(&topic);
    let storage = tempfile::tempdir().unwrap();
    let storage = storage.path().to_str().unwrap();
    run_ok(&["generate", "--count", "1000000", "--seed", "21", "--to", &source]);
    let first = parse_results(&run_ok(&[
        "run",
        "--source",
        &source,
        "--storage",
        storage,
        "--stop-at-end",
        "--listen",
        "127.0.0.1:0",
        "--workers",
        "2",
    ]));
    let records = first["votes"].as_u64().unwrap();

    // Restarted, the job replays 1,000,000 archived records before it reads the topic again.
    // Until then every answer is the snapshot itself (never zeros, never a partial replay),
    // marked as recovering; /healthz says so, with 200: the job is doing what it should.
    let restarted_at = tally_model::latency::now_ms();
    let (_job, base) = start_server(&["--source", &source, "--storage", storage, "--workers", "2"]);
    // The timeline of the first run came back with the snapshot.
    let timeline: serde_json::Value =
        serde_json::from_str(&http_get(&format!("{base}/api/timeline")).expect("the timeline")).unwrap();
    let kept = timeline["points"].as_array().expect("points");
    assert!(
        kept.first().and_then(|p| p["as_of"].as_i64()) < Some(restarted_at),
        "the first run's timeline is kept: {timeline}"
    );
    let mut recovering = 0;
    let live = wait_for("the restarted job to go live", Duration::from_secs(120), || {
        let (health_status, health) = http_get_status(&format!("{base}/healthz"))?;
        let health: serde_json::Value = serde_json::from_str(&health).ok()?;
        let mut results: serde_json::Value = serde_json::from_str(&http_get(&format!("{base}/api/results"))?).ok()?;
        let Some(progress) = results.as_object_mut()?.remove("recovering") else {
            return Some(results);
        };
        recovering += 1;
        assert_eq!(without_timing(results), without_timing(first.clone()));
        assert_eq!(progress["of"].as_u64(), Some(records));
        assert!(progress["records"].as_u64().unwrap() <= records, "{progress}");
        // /healthz was asked first: it may already be past the replay, never behind it.
        assert_eq!(health_status, 200);
        let said = (health["status"].as_str()?, health["detail"].as_str()?);
        assert!(
            said.0 == "recovering" && said.1.starts_with("recovering: replayed ") || said == ("ok", "ok"),
            "{health}"
        );
        None
    });
    assert!(recovering > 0, "the replay of 1,000,000 records was never seen");
    assert_eq!(without_timing(live), without_timing(first.clone()));
    let timeline: serde_json::Value =
        serde_json::from_str(&http_get(&format!("{base}/api/timeline")).expect("the timeline")).unwrap();
    let votes: Vec<u64> = timeline["points"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["votes"].as_u64())
        .collect();
    assert!(
        votes.windows(2).all(|w| w[0] <= w[1]),
        "votes never decrease: {votes:?}"
    );
    assert_eq!(votes.last().copied(), first["votes"].as_u64());
    let health: serde_json::Value = serde_json::from_str(&http_get(&format!("{base}/healthz")).unwrap()).unwrap();
    assert_eq!(
        (&health["status"], &health["detail"]),
        (&"ok".into(), &"ok".into()),
        "{health}"
    );
}

#[test]
fn a_stop_with_undeliverable_dead_letters_ends_within_five_seconds() {
    if !broker_available("a_stop_with_undeliverable_dead_letters") {
        return;
    }
    let topic = fresh_topic("dlq-stop", 2);
    // Never created (the test broker does not create topics): every dead letter stays queued.
    let missing = unique_topic_name("dlq-missing");
    run_ok(&[&["generate", "--to", &url(&topic)][..], &mixed("5000", "8")].concat());
    let produced: u64 = (0..2).map(|p| watermarks(&topic, p).1 as u64).sum();
    let storage = tempfile::tempdir().unwrap();
    let (mut job, base) = start_server(&[
        "--source",
        &url(&topic),
        "--storage",
        storage.path().to_str().unwrap(),
        "--dead-letter-topic",
        &missing,
    ]);
    wait_for("every record read, rejects among them", Duration::from_secs(60), || {
        let results = live_results(&base)?;
        let rejected: u64 = results["rejected"]
            .as_object()?
            .values()
            .filter_map(|n| n.as_u64())
            .sum();
        (records(&results) == produced && rejected > 0).then_some(())
    });
    assert_stops_cleanly_on_sigterm(&mut job, Duration::from_secs(5));
}
