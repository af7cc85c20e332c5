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

/// Every publication record written for `topic` under a local `storage`, oldest first.
fn records_on_disk(storage: &str, topic: &str) -> Vec<serde_json::Value> {
    let dir = std::path::Path::new(storage).join("publications").join(topic);
    let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    files
        .iter()
        .flat_map(|file| {
            std::fs::read_to_string(file)
                .unwrap_or_default()
                .lines()
                .filter_map(|line| serde_json::from_str(line).ok())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `tally audit` of the publication shown at `at`: its report, and whether it agreed.
fn audit(storage: &str, topic: &str, at: &str) -> (serde_json::Value, bool) {
    let output = run(&["audit", "--storage", storage, "--topic", topic, "--at", at]);
    let report = serde_json::from_slice(&output.stdout).unwrap_or(serde_json::Value::Null);
    (report, output.status.success())
}

#[test]
fn publications_from_before_a_kill_still_audit_against_the_archive() {
    if !broker_available("publications_from_before_a_kill_still_audit") {
        return;
    }
    let topic = fresh_topic("audit", 2);
    let source = topic_url(&topic);
    let storage = tempfile::tempdir().unwrap();
    let storage = storage.path().to_str().unwrap();
    // Plain segments, so that the test can alter a record below; short ones, so that the
    // archive (and with it the next snapshot and its records) keeps up with the count.
    let job = [
        "--source",
        &source,
        "--storage",
        storage,
        "--workers",
        "2",
        "--checkpoint-interval",
        "200ms",
        "--segment-age",
        "100ms",
        "--archive-compression",
        "none",
    ];
    run_ok(&[&["generate", "--to", &source][..], &mixed("3000", "41")].concat());
    let (job_before, base) = start_server(&job);
    // Three more batches, a second or more apart: publications in different seconds.
    for seed in ["42", "43", "44"] {
        let before = produced(&topic);
        run_ok(&[&["generate", "--to", &source][..], &mixed("2000", seed)].concat());
        let all = produced(&topic);
        assert!(all > before);
        wait_for("the batch counted", Duration::from_secs(60), || {
            (records(&results(&base)?) == all).then_some(())
        });
        std::thread::sleep(Duration::from_millis(1100));
    }
    let all = produced(&topic);
    let recorded = wait_for("the last publication on record", Duration::from_secs(120), || {
        let recorded = records_on_disk(storage, &topic);
        (recorded.last()?["records"].as_u64() == Some(all)).then_some(recorded)
    });
    assert!(recorded.len() >= 3, "{recorded:?}");
    // What the job says it showed at the last record's time.
    let last_time = recorded.last().unwrap()["as_of"].to_string();
    let shown = serde_json::from_str::<serde_json::Value>(
        &http_get(&format!("{base}/api/results?at={last_time}")).expect("the record"),
    )
    .expect("JSON");
    assert_eq!(&shown["publication"], recorded.last().unwrap());
    drop(job_before);

    // Killed and restarted: the records survive, on the server and for the audit.
    let (_job_after, base) = start_server(&job);
    wait_for("the restarted job, live", Duration::from_secs(60), || {
        let results = results(&base)?;
        (records(&results) == all && results.get("recovering").is_none()).then_some(())
    });
    for publication in [&recorded[0], &recorded[recorded.len() / 2], recorded.last().unwrap()] {
        let at = publication["as_of"].to_string();
        let (report, agrees) = audit(storage, &topic, &at);
        assert!(agrees, "{report}");
        assert_eq!(&report["publication"], publication);
        assert_eq!(report["derived"]["digest"], publication["digest"]);
        assert_eq!(report["derived"]["records"], publication["records"]);
        // The document re-derived: the counts that were on screen, each candidate's as recorded.
        for (name, votes) in publication["candidates"].as_object().unwrap() {
            let derived = report["results"]["candidates"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| &c["name"] == name);
            assert_eq!(derived.map(|c| &c["votes"]), Some(votes), "{name}");
        }
        let again: serde_json::Value =
            serde_json::from_str(&http_get(&format!("{base}/api/results?at={at}")).expect("the record")).expect("JSON");
        assert_eq!(&again["publication"], publication, "served after the restart");
    }
    // Before the first record, nothing is on record.
    let before_any = (recorded[0]["as_of"].as_i64().unwrap() - 1).to_string();
    assert!(!audit(storage, &topic, &before_any).1);
    let (code, _) = http_get_status(&format!("{base}/api/results?at={before_any}")).expect("an answer");
    assert_eq!(code, 404);

    // Archived votes changed (every one for a candidate in one segment): the audit no longer
    // agrees.
    let segment = std::fs::read_dir(std::path::Path::new(storage).join("raw").join(&topic).join("00000"))
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .min()
        .expect("a segment of partition 0");
    let text = std::fs::read_to_string(&segment).unwrap();
    let (from, to) = ["Harris", "Trump", "Biden", "Stein"]
        .iter()
        .flat_map(|a| ["Harris", "Trump", "Biden", "Stein"].map(|b| (*a, b)))
        .find(|(a, b)| a != b && text.contains(&format!("{a}\"")) && text.contains(&format!("{b}\"")))
        .expect("two candidates in the segment");
    let altered = text.replace(&format!("{from}\""), &format!("{to}\""));
    std::fs::write(&segment, altered).unwrap();
    let (report, agrees) = audit(storage, &topic, &recorded.last().unwrap()["as_of"].to_string());
    assert!(!agrees, "an altered archive must not audit: {report}");
    assert_eq!(report["agrees"], false);
}
