//! A broker that is down when the job starts, and one that goes away mid-stream: the job says
//! so on /healthz, keeps serving its last results, and when the broker is back resumes with
//! nothing lost and nothing counted twice. Its own test binary: it stops the shared broker.

mod common;

use common::kafka::*;
use common::*;
use std::time::Duration;

/// Restarts the broker however the test ends, so later tests find it up.
struct BrokerBack;
impl Drop for BrokerBack {
    fn drop(&mut self) {
        kafka_sh("start");
    }
}

#[test]
fn the_job_rides_out_broker_outages_without_loss_or_double_counting() {
    if !broker_available("the_job_rides_out_broker_outages") {
        return;
    }
    let topic = fresh_topic("outage", 4);
    let url = topic_url(&topic);
    let dir = tempfile::tempdir().unwrap();
    let batch = |name: &str, seed: &'static str| {
        let mix = mixed("4000", seed);
        let file = write_file(dir.path(), name, &run_ok(&[&["generate"][..], &mix].concat()));
        (file, mix)
    };
    let (first, first_mix) = batch("a.ndjson", "1");
    let (second, second_mix) = batch("b.ndjson", "2");
    let limit = Duration::from_secs(90);

    let _back = BrokerBack;
    kafka_sh("stop");
    let storage = tempfile::tempdir().unwrap();
    let store = storage.path().to_str().unwrap();
    let (mut job, base, log) = start_tally_logged(
        &[
            "run",
            "--listen",
            "127.0.0.1:0",
            "--source",
            &url,
            "--storage",
            store,
            "--workers",
            "2",
        ],
        "dashboard at ",
    );
    let base = base.trim_end_matches('/').to_string();
    wait_for("/healthz to report the broker missing", limit, || {
        (health(&base)? == 503).then_some(())
    });
    let empty = live_results(&base).expect("results are served without a broker");
    assert_eq!(empty["votes"], 0);

    kafka_sh("start");
    run_ok(&[&["generate", "--to", &url][..], &first_mix].concat());
    let after_first = expected_live(std::slice::from_ref(&first));
    wait_for("the first batch to be counted", limit, || {
        (live_results(&base)? == after_first).then_some(())
    });
    wait_for("/healthz to recover", limit, || (health(&base)? == 200).then_some(()));

    kafka_sh("stop");
    wait_for("/healthz to report the outage", limit, || {
        (health(&base)? == 503).then_some(())
    });
    assert_eq!(
        live_results(&base),
        Some(after_first),
        "the last results are still served"
    );

    kafka_sh("start");
    run_ok(&[&["generate", "--to", &url][..], &second_mix].concat());
    let after_both = expected_live(&[first, second]);
    let deadline = std::time::Instant::now() + limit;
    while live_results(&base).as_ref() != Some(&after_both) {
        if std::time::Instant::now() > deadline {
            let log = log.lock().map(|lines| lines.join("\n")).unwrap_or_default();
            panic!(
                "both batches not counted exactly once: {:?}\nexpected {after_both}\nthe job's log:\n{log}",
                live_results(&base)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    wait_for("/healthz to recover", limit, || (health(&base)? == 200).then_some(()));

    // Stopped (SIGTERM) while the broker is gone: still within 5 s, cleanly.
    kafka_sh("stop");
    wait_for("/healthz to report the last outage", limit, || {
        (health(&base)? == 503).then_some(())
    });
    assert_stops_cleanly_on_sigterm(&mut job, Duration::from_secs(5));
}
