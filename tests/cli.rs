//! The command line, end to end: generate, replay, run --stop-at-end, and argument errors.

mod common;

use common::*;
use tally_model::Apportionment;

/// The official table shipped with tally.
const TABLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/model/data/president_2020_by_state.csv");

#[test]
fn generate_is_deterministic_by_seed() {
    let args = [
        "generate",
        "--count",
        "2000",
        "--seed",
        "11",
        "--invalid-rate",
        "0.1",
        "--duplicate-rate",
        "0.1",
    ];
    let first = run_ok(&args);
    assert_eq!(first, run_ok(&args));
    assert!(first.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count() > 2000);
    let other = run_ok(&[
        "generate",
        "--count",
        "2000",
        "--seed",
        "12",
        "--invalid-rate",
        "0.1",
        "--duplicate-rate",
        "0.1",
    ]);
    assert_ne!(first, other);
}

#[test]
fn replay_equals_the_sequential_fold_for_any_worker_count() {
    let dir = tempfile::tempdir().unwrap();
    let records = run_ok(&[
        "generate",
        "--count",
        "20000",
        "--seed",
        "3",
        "--invalid-rate",
        "0.05",
        "--duplicate-rate",
        "0.2",
    ]);
    // Split into files so that duplicates cross file boundaries, plus hand-made bad lines.
    let text = String::from_utf8(records).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let (a, b) = lines.split_at(lines.len() / 2);
    let first = write_file(dir.path(), "part-0.ndjson", format!("{}\n", a.join("\n")).as_bytes());
    let mut tail = format!("{}\n", b.join("\n"));
    tail.push_str("{\"id\":1}\n\u{0}garbage\n{\"id\":18446744073709551615,\"gender\":\"Other\",\"age\":30,\"state\":\"dc\",\"decision\":\"Late\"}\n");
    let second = write_file(dir.path(), "part-1.ndjson", tail.as_bytes());
    let expected = expected_results(&[first, second], Apportionment::Census2020);
    assert!(expected["rejected"]["duplicate_voter"].as_u64().unwrap() > 3000);
    assert!(expected["rejected"]["missing_field"].as_u64().unwrap() >= 1);
    let input = dir.path().to_str().unwrap();
    for workers in ["1", "2", "3"] {
        let got = parse_results(&run_ok(&["replay", input, "--workers", workers]));
        assert_eq!(got, expected, "replay with {workers} workers");
    }
}

#[test]
fn run_with_the_generator_stops_at_end_with_the_fold_of_what_generate_prints() {
    let dir = tempfile::tempdir().unwrap();
    let mix = [
        "--count",
        "5000",
        "--seed",
        "5",
        "--invalid-rate",
        "0.1",
        "--duplicate-rate",
        "0.1",
    ];
    let generated = run_ok(&[&["generate"][..], &mix].concat());
    let file = write_file(dir.path(), "generated.ndjson", &generated);
    let expected = expected_results(&[file], Apportionment::Census2010);
    let args = [
        &[
            "run",
            "--listen",
            "127.0.0.1:0",
            "--rate",
            "0",
            "--stop-at-end",
            "--apportionment",
            "2010",
            "-w",
            "2",
        ][..],
        &mix,
    ]
    .concat();
    assert_eq!(parse_results(&run_ok(&args)), expected);
}

#[test]
fn argument_errors_are_one_line_and_exit_non_zero() {
    for args in [
        &["--bogus"][..],
        &["replay"][..],
        &["generate", "--invalid-rate", "1.5"][..],
        &["generate", "--scale", "2"][..],
        &["run", "--listen", "not-an-address"][..],
        &["replay", "x", "--workers", "0"][..],
        &["replay", "x", "--apportionment", "1990"][..],
        &["run", "--process", "1"][..],
        &["run", "--peers", "127.0.0.1:1", "--connect-timeout", "soon"][..],
        // Generator settings that would overflow a count.
        &["generate", "--count", "18446744073709551615"][..],
        &["generate", "--scenario", TABLE, "--scale", "1e300"][..],
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim_end().lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("tally: "), "{stderr}");
    }
    // Missing arguments are named on that one line.
    assert!(String::from_utf8_lossy(&run(&["run", "--process", "1"]).stderr).contains("--peers"));
    for (args, says) in [
        (
            &["run", "--peers", "127.0.0.1:1,127.0.0.1:2", "--process", "2"][..],
            "--process 2",
        ),
        (
            &[
                "run",
                "--peers",
                "127.0.0.1:1,127.0.0.1:2",
                "--process",
                "1",
                "--listen",
                "127.0.0.1:65535",
            ][..],
            "not a port",
        ),
    ] {
        let output = run(args);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert!(String::from_utf8_lossy(&output.stderr).contains(says), "{args:?}");
    }
    let output = run(&["replay", "/definitely/not/here"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("/definitely/not/here"));
    assert!(run(&["--help"]).status.success());
    assert!(run(&["replay", "--help"]).status.success());
}

#[test]
fn a_storage_root_with_snapshots_in_the_old_layout_is_refused_with_the_way_out() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir(root.path().join("snapshots")).unwrap();
    write_file(root.path(), "snapshots/00000000000000000001.json", b"{}");
    write_file(root.path(), "snapshots/LATEST", b"00000000000000000001.json");
    let store = root.path().to_str().unwrap();
    // No broker is needed: the storage is opened and checked before Kafka is reached.
    let output = run(&[
        "run",
        "--source",
        "kafka://127.0.0.1:9/votes",
        "--storage",
        store,
        "--stop-at-end",
        "--listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("old layout"), "{stderr}");
    assert!(stderr.contains("snapshots/votes"), "{stderr}");
    // Nothing was moved or removed.
    assert!(root.path().join("snapshots/LATEST").exists());
}

/// Runs `tally args…` to the end; returns its status, its stdout and its peak resident set size
/// in bytes, as the kernel counted it (`wait4`'s rusage; std's `wait` would discard it, so the
/// child is reaped by `wait4` instead).
#[allow(clippy::zombie_processes)]
fn run_measuring_peak_rss(args: &[&str]) -> (bool, Vec<u8>, u64) {
    use std::io::Read;
    let mut child = tally()
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("tally starts");
    let mut stdout = Vec::new();
    child
        .stdout
        .take()
        .expect("stdout is piped")
        .read_to_end(&mut stdout)
        .expect("tally's stdout is readable");
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of that plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child (std's handle is not waited on afterwards), with pointers to
    // locals that outlive the call.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 on tally");
    let success = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    (success, stdout, usage.ru_maxrss as u64 * 1024)
}

#[test]
fn a_256_mib_line_in_a_local_file_is_one_malformed_record_and_never_held_whole() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.ndjson");
    {
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).unwrap());
        let vote = |id: u32| {
            format!(
                "{{\"id\":{id},\"gender\":\"Female\",\"age\":34,\"state\":\"Ohio\",\"decision\":\"Kamala Harris\"}}\n"
            )
        };
        file.write_all(vote(1).as_bytes()).unwrap();
        file.write_all(b"{\"id\":2,\"decision\":\"").unwrap();
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..256 {
            file.write_all(&chunk).unwrap();
        }
        file.write_all(b"\"}\n").unwrap();
        file.write_all(vote(3).as_bytes()).unwrap();
        file.flush().unwrap();
    }
    // Two workers, so the line spans splits that start inside it (split size 32 MiB): each
    // skips it without holding it.
    let (success, stdout, peak) = run_measuring_peak_rss(&["replay", path.to_str().unwrap(), "--workers", "2"]);
    assert!(success, "replay failed");
    let results = parse_results(&stdout);
    assert_eq!(results["votes"], 2, "{results}");
    let rejected: u64 = results["rejected"]
        .as_object()
        .map(|reasons| reasons.values().filter_map(|v| v.as_u64()).sum())
        .unwrap_or(0);
    assert_eq!(
        rejected, 1,
        "the long line is one rejected record: {}",
        results["rejected"]
    );
    // The figure, for BENCHMARKS.md: `cargo test --test cli a_256 -- --nocapture`.
    eprintln!("peak RSS replaying a 256 MiB line: {} MB", peak >> 20);
    assert!(peak < 160 << 20, "peak RSS {} MB replaying a 256 MiB line", peak >> 20);
}
