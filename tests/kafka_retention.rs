//! Records Kafka's retention deleted before the job read them: counted as lost, with the
//! ranges logged, in the results, the metrics and `/healthz`, whether the job was down (found
//! at start) or running behind (the brokers say its position is out of range).

mod common;

use common::kafka::*;
use common::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn records_deleted_by_retention_while_the_job_was_down_are_counted_as_lost() {
    if !broker_available("records_deleted_by_retention_while_the_job_was_down") {
        return;
    }
    let topic = fresh_topic("lost", 2);
    let source = topic_url(&topic);
    let storage = tempfile::tempdir().unwrap();
    let storage = storage.path().to_str().unwrap();
    let run_args = ["--source", &source, "--storage", storage, "--workers", "2"];
    run_ok(&["generate", "--count", "2000", "--seed", "31", "--to", &source]);
    let first = parse_results(&run_ok(
        &[&["run", "--stop-at-end", "--listen", "127.0.0.1:0"][..], &run_args].concat(),
    ));
    assert_eq!((records(&first), first["lost"].as_u64()), (2000, Some(0)));

    // While the job is down, 1,000 more arrive, and the topic's oldest records are deleted up to
    // 100 (partition 0) and 50 (partition 1) past where it stopped, as retention would.
    let stopped: Vec<i64> = (0..2).map(|p| watermarks(&topic, p).1).collect();
    run_ok(&["generate", "--count", "1000", "--seed", "32", "--to", &source]);
    delete_records_before(&topic, &[(0, stopped[0] + 100), (1, stopped[1] + 50)]);
    assert_eq!(watermarks(&topic, 0).0, stopped[0] + 100);

    let (job, base) = start_server(&[&run_args[..], &["--checkpoint-interval", "200ms"]].concat());
    let metric = |name: &str| -> Option<u64> {
        let metrics = http_get(&format!("{base}/metrics"))?;
        let line = metrics.lines().find(|l| l.starts_with(name))?;
        line.rsplit(' ').next()?.parse::<f64>().ok().map(|v| v as u64)
    };
    let live = wait_for("the records that are left", Duration::from_secs(60), || {
        let results = live_results(&base)?;
        (records(&results) == 2850).then_some(results)
    });
    assert_eq!(live["lost"], 150, "lost: the 150 deleted records, in no other count");
    assert_eq!(metric("tally_kafka_lost_records_total"), Some(150));
    let health: serde_json::Value = serde_json::from_str(&http_get(&format!("{base}/healthz")).unwrap()).unwrap();
    assert_eq!(
        (&health["status"], &health["lost"]),
        (&"ok".into(), &150.into()),
        "{health}"
    );
    assert!(
        health["detail"]
            .as_str()
            .unwrap()
            .contains("150 records were deleted by Kafka's retention"),
        "{health}"
    );
    // Once the newest snapshot holds the loss (it is written only when the counts change, so
    // it may be the one already there), the next start keeps the total.
    wait_for("a snapshot with the loss", Duration::from_secs(30), || {
        let snapshot = newest_snapshot(storage, &topic)?;
        let results = &snapshot["results"];
        (results["lost"] == 150 && records(results) == 2850).then_some(())
    });
    drop(job);
    let last = parse_results(&run_ok(
        &[&["run", "--stop-at-end", "--listen", "127.0.0.1:0"][..], &run_args].concat(),
    ));
    assert_eq!((records(&last), last["lost"].as_u64()), (2850, Some(150)));
}

/// Stops (`SIGSTOP`) or resumes (`SIGCONT`) the job, as a long pause of its host would.
fn signal(job: &ChildGuard, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &job.0.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success(), "kill {signal}");
}

/// The process's state letter from `/proc/PID/stat` (`T` once stopped).
fn process_state(job: &ChildGuard) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", job.0.id())).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

#[test]
fn records_deleted_by_retention_while_a_running_job_was_behind_are_counted_as_lost() {
    if !broker_available("records_deleted_by_retention_while_a_running_job_was_behind") {
        return;
    }
    let topic = fresh_topic("lost-live", 2);
    let source = topic_url(&topic);
    let storage = tempfile::tempdir().unwrap();
    let storage = storage.path().to_str().unwrap();
    run_ok(&["generate", "--count", "2000", "--seed", "41", "--to", &source]);
    let (job, base, log) = start_tally_logged(
        &[
            "run",
            "--listen",
            "127.0.0.1:0",
            "--source",
            &source,
            "--storage",
            storage,
            "--workers",
            "2",
            // The brokers hold an empty fetch at most this long (the job's default, said here
            // because the pause below relies on it).
            "--kafka-config",
            "fetch.wait.max.ms=10",
        ],
        "dashboard at ",
    );
    let base = base.trim_end_matches('/').to_string();
    wait_for("the first 2,000 records", Duration::from_secs(60), || {
        (records(&live_results(&base)?) == 2000).then_some(())
    });

    // The job stops where it is (its host paused, or a long stall); meanwhile 1,000 more
    // arrive and retention deletes up to 100 (partition 0) and 50 (partition 1) past it.
    let stopped: Vec<i64> = (0..2).map(|p| watermarks(&topic, p).1).collect();
    signal(&job, "-STOP");
    wait_for("the job to stop", Duration::from_secs(10), || {
        (process_state(&job) == Some('T')).then_some(())
    });
    // A fetch the job sent before it stopped is answered, empty, within fetch.wait.max.ms (10
    // ms): a hundred times that, and no answer can carry the records produced next.
    std::thread::sleep(Duration::from_secs(1));
    run_ok(&["generate", "--count", "1000", "--seed", "42", "--to", &source]);
    delete_records_before(&topic, &[(0, stopped[0] + 100), (1, stopped[1] + 50)]);
    assert_eq!(watermarks(&topic, 1).0, stopped[1] + 50);
    signal(&job, "-CONT");

    let logged = || log.lock().map(|lines| lines.join("\n")).unwrap_or_default();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let live = loop {
        let results = live_results(&base);
        match &results {
            Some(r) if records(r) == 2850 => break results.unwrap_or_default(),
            _ if std::time::Instant::now() > deadline => {
                panic!("not the records that are left: {results:?}\n{}", logged())
            }
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    };
    assert_eq!(live["lost"], 150, "lost: the 150 deleted records, in no other count");
    let metrics = http_get(&format!("{base}/metrics")).expect("metrics");
    assert!(metrics.contains("tally_kafka_lost_records_total{topic="), "{metrics}");
    assert!(
        metrics
            .lines()
            .any(|l| l.starts_with("tally_kafka_lost_records_total") && l.ends_with(" 150")),
        "{metrics}"
    );
    let health: serde_json::Value = serde_json::from_str(&http_get(&format!("{base}/healthz")).unwrap()).unwrap();
    assert_eq!(health["lost"], 150, "{health}");
    // Each range is logged, with its partition and offsets.
    let logged = logged();
    for (partition, first, last) in [(0, stopped[0], stopped[0] + 99), (1, stopped[1], stopped[1] + 49)] {
        let range = format!("partition={partition} first={first} last={last}");
        assert!(logged.contains(&range), "no log line with {range}:\n{logged}");
    }
    drop(job);
}
