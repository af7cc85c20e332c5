//! HDFS for real: the raw archive (snappy, gzip and plain segments) and snapshots a Kafka-fed job
//! writes, read back by the Hadoop shell and by `tally replay`; replay up to a snapshot's offsets gives that snapshot; and a job
//! killed with SIGKILL at random points ends with exactly the sequential fold.

mod common;

use common::hdfs::*;
use common::kafka::*;
use common::*;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};
use tally_connectors::sinks::archive::{parse_segment_path, stored_segments, Compression, StoredSegment};
use tally_connectors::sinks::snapshots::latest_snapshot;
use tally_model::Apportionment;

#[test]
fn the_archive_and_snapshots_on_hdfs_replay_to_the_same_numbers() {
    if !broker_available("the_archive_and_snapshots_on_hdfs") || !hdfs_available("the_archive_and_snapshots_on_hdfs") {
        return;
    }
    let topic = fresh_topic("archive", 4);
    let url = topic_url(&topic);
    let root = fresh_root("archive");
    let dir = tempfile::tempdir().unwrap();
    let job = [
        "run",
        "--source",
        &url,
        "--storage",
        &root,
        "--stop-at-end",
        "--listen",
        "127.0.0.1:0",
        "--checkpoint-interval",
        "100ms",
        "--keep-snapshots",
        "100",
        "--workers",
        "2",
    ];
    // Three runs: the first (gzip segments) ends with a snapshot of batch A; the second (plain
    // segments) recovers from it, reads batch B and ends with a snapshot of both; the third
    // (snappy, the default) adds batch C. The archive then holds more than the first snapshot
    // covers, in every form.
    let mut files = Vec::new();
    let mut live = Value::Null;
    for (name, seed, count, compression) in [
        ("a.ndjson", "12", "12000", "gzip"),
        ("b.ndjson", "13", "8000", "none"),
        ("c.ndjson", "14", "6000", "snappy"),
    ] {
        let mix = mixed(count, seed);
        run_ok(&[&["generate", "--to", &url][..], &mix].concat());
        files.push(write_file(
            dir.path(),
            name,
            &run_ok(&[&["generate"][..], &mix].concat()),
        ));
        live = parse_results(&run_ok(&[&job[..], &["--archive-compression", compression]].concat()));
        assert_eq!(
            live,
            expected_results(&files, Apportionment::Census2020),
            "after {name}"
        );
    }

    // The archive: every record, once, in segments named by offset range, readable by Hadoop.
    let (storage, runtime) = open(&root);
    let archived = runtime.block_on(stored_segments(&storage, &topic)).unwrap();
    assert!(!archived.is_empty());
    let mut next: BTreeMap<u32, u64> = BTreeMap::new();
    for segment in &archived {
        assert_eq!(
            segment.first,
            next.get(&segment.partition).copied().unwrap_or(0),
            "segments of {} are contiguous",
            segment.partition
        );
        next.insert(segment.partition, segment.last + 1);
    }
    let total: u64 = next.values().sum();
    assert_eq!(
        Value::from(total),
        live["votes"].as_u64().unwrap()
            + live["rejected"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_u64().unwrap())
                .sum::<u64>()
    );
    // The Hadoop shell reads every form with the jars Hadoop ships: `-text` decompresses a gzip
    // or snappy segment (Hadoop's SnappyCodec, through snappy-java) to exactly the records, byte
    // for byte, and shows a plain one as it is.
    for extension in [".ndjson.gz", ".ndjson", ".ndjson.snappy"] {
        let segment = archived.iter().find(|s| s.path.ends_with(extension));
        let StoredSegment { first, last, path, .. } = segment.unwrap_or_else(|| panic!("{extension} segments"));
        let hdfs_path = format!("{}/{path}", root.split_once(&namenode()).unwrap().1);
        let stored = runtime.block_on(storage.read(path)).unwrap();
        let compression = Compression::of_path(path);
        let mut records = Vec::new();
        std::io::Read::read_to_end(&mut compression.decoder(&stored[..]), &mut records).unwrap();
        if compression != Compression::None {
            assert!(records.len() > stored.len(), "{path} is compressed");
        }
        let shown = hdfs_sh(&["dfs", "-text", &hdfs_path]);
        assert_eq!(shown.as_bytes(), &records[..], "hdfs dfs -text {path}");
        assert_eq!(shown.lines().count() as u64, last - first + 1, "{path}");
        assert!(shown.lines().all(|l| l.starts_with('{')), "{path}");
    }

    // Replaying the archive straight from HDFS gives the live numbers.
    let replayed = parse_results(&run_ok(&["replay", &format!("{root}/raw/{topic}"), "--workers", "2"]));
    assert_eq!(replayed, live);

    // Every snapshot equals a replay of the archive up to its offsets.
    let snapshot = runtime
        .block_on(latest_snapshot(&storage, &topic))
        .unwrap()
        .expect("a snapshot");
    assert_eq!(snapshot.offsets, next, "the final snapshot covers everything read");
    let names = runtime.block_on(storage.list(&format!("snapshots/{topic}"))).unwrap();
    let names: Vec<&String> = names.iter().map(|(n, _)| n).filter(|n| n.ends_with(".json")).collect();
    assert!(names.len() >= 2, "{names:?}");
    for name in [names[0], names[names.len() - 1]] {
        let snapshot: tally_connectors::sinks::snapshots::Snapshot =
            serde_json::from_slice(&runtime.block_on(storage.read(name)).unwrap()).unwrap();
        let upto = tempfile::tempdir().unwrap();
        for StoredSegment {
            partition, first, path, ..
        } in &archived
        {
            if *first < snapshot.offsets.get(partition).copied().unwrap_or(0) {
                let (p, f, l) = parse_segment_path(path).unwrap();
                let bytes = runtime.block_on(storage.read(path)).unwrap();
                let extension = Compression::of_path(path).extension();
                write_file(upto.path(), &format!("{p:05}-{f:020}-{l:020}{extension}"), &bytes);
            }
        }
        let expected = without_timing(snapshot.results.clone());
        let got = if std::fs::read_dir(upto.path()).unwrap().next().is_none() {
            without_timing(serde_json::to_value(tally_model::Results::empty(Apportionment::Census2020)).unwrap())
        } else {
            without_timing(serde_json::from_slice(&run_ok(&["replay", upto.path().to_str().unwrap()])).unwrap())
        };
        assert_eq!(got, expected, "snapshot {name}");
    }
}

/// A small deterministic generator of kill delays, seeded from the clock and printed.
fn delays(count: usize) -> Vec<Duration> {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(1) as u64;
    eprintln!("kill delays seeded with {seed}");
    let mut x = seed | 1;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            Duration::from_millis(300 + x % 1500)
        })
        .collect()
}

#[test]
fn a_job_killed_at_random_points_recovers_exactly() {
    if !broker_available("a_job_killed_at_random_points") || !hdfs_available("a_job_killed_at_random_points") {
        return;
    }
    let topic = fresh_topic("recovery", 4);
    let url = topic_url(&topic);
    let root = fresh_root("recovery");
    let mix = [
        "--count",
        "40000",
        "--seed",
        "77",
        "--invalid-rate",
        "0.05",
        "--duplicate-rate",
        "0.2",
    ];
    let dir = tempfile::tempdir().unwrap();
    let file = generated_file(dir.path(), &mix);
    let expected = expected_results(&[file], Apportionment::Census2020);

    // The producer streams while the job is killed and restarted under it.
    let mut producer = ChildGuard(
        tally()
            .args([&["generate", "--to", &url, "--rate", "12000"][..], &mix].concat())
            .spawn()
            .expect("producer starts"),
    );
    let job_args = [
        "--source",
        &url,
        "--storage",
        &root,
        "--checkpoint-interval",
        "250ms",
        "--segment-age",
        "100ms",
        "--workers",
        "2",
    ];
    for delay in delays(4) {
        let (mut job, base) = start_server(&job_args);
        let started = Instant::now();
        // Let it get going (recovery included), then kill it without warning.
        wait_for("the job to serve results", Duration::from_secs(60), || {
            http_get(&format!("{base}/api/results"))
        });
        std::thread::sleep(delay.saturating_sub(started.elapsed()));
        job.0.kill().expect("SIGKILL");
        let _ = job.0.wait();
    }
    assert!(producer.0.wait().expect("producer ends").success());
    let args = [&["run", "--stop-at-end", "--listen", "127.0.0.1:0"][..], &job_args].concat();
    assert_eq!(
        parse_results(&run_ok(&args)),
        expected,
        "nothing lost, nothing counted twice"
    );
}

#[test]
fn the_same_files_replay_alike_from_hdfs_and_a_local_directory_large_ones_streamed() {
    if !hdfs_available("the_same_files_replay_alike") {
        return;
    }
    // `a-b…` sorts before `a/b…` by bytes (the one file order) but after it by path components:
    // the voter in both counts for the file read first, which must be the same in both.
    let first = br#"{"id":5,"gender":"Male","age":40,"state":"Ohio","decision":"First File"}"#;
    let second = br#"{"id":5,"gender":"Male","age":40,"state":"Ohio","decision":"Second File"}"#;
    // Larger than several HDFS reads, with a line far past the record limit inside.
    let mut large = run_ok(&["generate", "--count", "60000", "--seed", "77", "--invalid-rate", "0.05"]);
    large.extend_from_slice(&vec![b'x'; 3 << 20]);
    large.push(b'\n');
    large.extend(run_ok(&[
        "generate",
        "--count",
        "20000",
        "--seed",
        "78",
        "--duplicate-rate",
        "0.1",
    ]));
    assert!(large.len() > 10 << 20, "{} bytes", large.len());
    let files: [(&str, &[u8]); 3] = [("a-b.ndjson", first), ("a/b.ndjson", second), ("large.ndjson", &large)];

    let local = tempfile::tempdir().unwrap();
    let root = fresh_root("order");
    let (storage, runtime) = open(&root);
    for (name, bytes) in files {
        write_file(local.path(), name, bytes);
        runtime
            .block_on(storage.write_atomic(name, bytes.to_vec()))
            .expect("written to HDFS");
    }
    let limit = ["--max-record-bytes", "4096", "--workers", "1"];
    let from_local = parse_results(&run_ok(
        &[&["replay", local.path().to_str().unwrap()][..], &limit].concat(),
    ));
    let from_hdfs = parse_results(&run_ok(&[&["replay", &root][..], &limit].concat()));
    assert_eq!(from_hdfs, from_local);
    let names: Vec<&str> = from_hdfs["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    assert!(
        names.contains(&"First File") && !names.contains(&"Second File"),
        "{names:?}"
    );
    assert!(from_hdfs["rejected"]["malformed"].as_u64() > Some(0));
}
