//! What a restart keeps of the night: a Kafka job killed without warning comes back with the
//! times its races were called, as published before the kill.

mod common;

use common::kafka::*;
use common::*;
use std::collections::BTreeMap;
use std::time::Duration;

/// Every record in the topic's two partitions.
fn produced(topic: &str) -> u64 {
    (0..2).map(|p| watermarks(topic, p).1 as u64).sum()
}

/// State → (called for, when), for every called state.
fn calls(results: &serde_json::Value) -> BTreeMap<String, (String, i64)> {
    results["states"]
        .as_object()
        .map(|states| {
            states
                .iter()
                .filter_map(|(code, s)| {
                    Some((
                        code.clone(),
                        (s["called"].as_str()?.to_string(), s["called_at"].as_i64()?),
                    ))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `/api/results` as served, calls and times included.
fn results(base: &str) -> Option<serde_json::Value> {
    serde_json::from_str(&http_get(&format!("{base}/api/results"))?).ok()
}

#[test]
fn a_killed_job_comes_back_with_the_times_its_races_were_called() {
    if !broker_available("a_killed_job_comes_back_with_the_times_its_races_were_called") {
        return;
    }
    let topic = fresh_topic("restart-calls", 2);
    let source = topic_url(&topic);
    let storage = tempfile::tempdir().unwrap();
    let storage = storage.path().to_str().unwrap();
    // The 2024 night at 0.1%, measured against 120% of it: the lopsided states are called
    // before the end (their leads exceed the fifth still outstanding), the close ones are not.
    let job = [
        "--source",
        &source,
        "--storage",
        storage,
        "--workers",
        "2",
        "--expected",
        "2024",
        "--expected-scale",
        "0.0012",
        "--checkpoint-interval",
        "200ms",
    ];
    run_ok(&[
        "generate",
        "--scenario",
        "2024",
        "--scale",
        "0.001",
        "--seed",
        "3",
        "--to",
        &source,
    ]);
    let first_part = produced(&topic);
    let (job_before, base) = start_server(&job);
    let before = wait_for("the first part counted", Duration::from_secs(120), || {
        let results = results(&base)?;
        (records(&results) == first_part).then_some(results)
    });
    let called = calls(&before);
    assert!(called.len() >= 5, "some states called: {before}");

    // More arrive and are counted; a snapshot of them is written; then the job is killed.
    run_ok(&[
        "generate",
        "--scenario",
        "2024",
        "--scale",
        "0.0002",
        "--seed",
        "4",
        "--to",
        &source,
    ]);
    let all = produced(&topic);
    wait_for("a snapshot of everything", Duration::from_secs(120), || {
        let snapshot = newest_snapshot(storage, &topic)?;
        (records(&snapshot["results"]) == all && snapshot["desk"].is_object()).then_some(())
    });
    drop(job_before);

    let (_job_after, base) = start_server(&job);
    let after = wait_for("the restarted job, live", Duration::from_secs(120), || {
        let results = results(&base)?;
        (records(&results) == all && results.get("recovering").is_none()).then_some(results)
    });
    let again = calls(&after);
    for (code, call) in &called {
        assert_eq!(
            again.get(code),
            Some(call),
            "{code}'s call and its time, kept across the restart"
        );
    }
}
