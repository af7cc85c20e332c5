//! HDFS stopped and started under a running job: ingest and serving go on until the archive
//! buffer is full, then ingest pauses (nothing is dropped); /healthz reports the degraded state;
//! when HDFS is back the archive catches up and every record is counted exactly once. Its own
//! test binary: it stops the shared HDFS.

mod common;

use common::hdfs::*;
use common::kafka::*;
use common::*;
use std::time::{Duration, Instant};

/// Starts HDFS again however the test ends, so later tests find it up.
struct HdfsBack;
impl Drop for HdfsBack {
    fn drop(&mut self) {
        hdfs_sh(&["start"]);
    }
}

#[test]
fn the_job_rides_out_an_hdfs_outage_pausing_at_the_bound_and_losing_nothing() {
    if !broker_available("the_job_rides_out_an_hdfs_outage") || !hdfs_available("the_job_rides_out_an_hdfs_outage") {
        return;
    }
    let topic = fresh_topic("hdfs-outage", 2);
    let url = topic_url(&topic);
    let root = fresh_root("outage");
    let dir = tempfile::tempdir().unwrap();
    let batch = |name: &str, seed: &'static str, count: &'static str| {
        let mix = mixed(count, seed);
        (
            write_file(dir.path(), name, &run_ok(&[&["generate"][..], &mix].concat())),
            mix,
        )
    };
    let (first, first_mix) = batch("a.ndjson", "1", "5000");
    let (second, second_mix) = batch("b.ndjson", "2", "30000");
    let limit = Duration::from_secs(120);
    let (mut job, base) = start_server(&[
        "--source",
        &url,
        "--storage",
        &root,
        "--checkpoint-interval",
        "250ms",
        "--segment-age",
        "100ms",
        "--archive-buffer-mib",
        "1",
        // Plain segments: the second batch is about 3 MiB as records, more than the 1 MiB
        // bound, but gzip would hold it in less.
        "--archive-compression",
        "none",
        "--workers",
        "2",
    ]);

    run_ok(&[&["generate", "--to", &url][..], &first_mix].concat());
    let after_first = expected_live(std::slice::from_ref(&first));
    wait_for("the first batch", limit, || {
        (live_results(&base)? == after_first).then_some(())
    });
    wait_for("a healthy job", limit, || (health(&base)? == 200).then_some(()));

    let _back = HdfsBack;
    hdfs_sh(&["stop"]);
    run_ok(&[&["generate", "--to", &url][..], &second_mix].concat());
    let after_both = expected_live(&[first, second]);
    let total = records(&after_both);
    wait_for("/healthz to report the storage outage", limit, || {
        (health(&base)? == 503).then_some(())
    });
    // Ingest goes on until the archive buffer (1 MiB) is full, then pauses rather than drops.
    let mut last = (
        Instant::now(),
        records(&live_results(&base).expect("results are served")),
    );
    let paused = wait_for("ingest to pause at the buffer bound", limit, || {
        let now = records(&live_results(&base)?);
        if now != last.1 {
            last = (Instant::now(), now);
        }
        (last.0.elapsed() > Duration::from_secs(2)).then_some(now)
    });
    assert!(
        paused > records(&after_first) && paused < total,
        "paused at {paused} of {total} records"
    );

    hdfs_sh(&["start"]);
    wait_for("every record counted exactly once", limit, || {
        (live_results(&base)? == after_both).then_some(())
    });
    wait_for("/healthz to recover", limit, || (health(&base)? == 200).then_some(()));
    // The archive caught up: replaying it gives the same numbers.
    let replayed = wait_for("the archive to catch up", limit, || {
        let output = run(&["replay", &format!("{root}/raw/{topic}")]);
        let replayed = without_timing(serde_json::from_slice(&output.stdout).ok()?);
        (replayed == after_both).then_some(replayed)
    });
    assert_eq!(records(&replayed), total);

    // Stopped (SIGTERM) while storage is down again: the job still ends within 5 s, cleanly,
    // whatever the storage does; the next start recovers from the last snapshot.
    hdfs_sh(&["stop"]);
    run_ok(&[&["generate", "--to", &url][..], &mixed("5000", "3")].concat());
    wait_for("/healthz to report the second outage", limit, || {
        (health(&base)? == 503).then_some(())
    });
    assert_stops_cleanly_on_sigterm(&mut job, Duration::from_secs(5));
}
