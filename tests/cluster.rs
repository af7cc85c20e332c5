//! Timely's cluster mode, on one machine: several tally processes give exactly the answers of
//! one; a process that loses a peer exits promptly; a supervised cluster that loses a process
//! recovers to exactly the sequential fold.

mod common;

use common::cluster::*;
use common::kafka::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `scripts/cluster.sh options… -- tally-args…`, expecting success.
fn cluster_ok(options: &[&str], tally_args: &[&str]) -> Output {
    let output = cluster_sh()
        .args(options)
        .arg("--")
        .args(tally_args)
        .output()
        .expect("cluster.sh runs");
    assert!(
        output.status.success(),
        "cluster.sh {options:?} -- {tally_args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// Results JSON as printed, without the lines that depend on timing (the epoch, the wall time
/// and when each state was called).
fn without_epoch_line(stdout: &[u8]) -> String {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|line| {
            let line = line.trim_start();
            !["\"epoch\"", "\"as_of\"", "\"called_at\""]
                .iter()
                .any(|timed| line.starts_with(timed))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Two free TCP ports on 127.0.0.1, for a two-process cluster.
fn two_peers() -> String {
    let a = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let b = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    format!("{},{}", a.local_addr().expect("bound"), b.local_addr().expect("bound"))
}

#[test]
fn one_process_or_two_with_any_workers_print_byte_identical_results() {
    if !broker_available("one_process_or_two_with_any_workers") {
        return;
    }
    let topic = fresh_topic("cluster", 8);
    let url = topic_url(&topic);
    let mix = mixed("20000", "41");
    let dir = tempfile::tempdir().unwrap();
    let file = generated_file(dir.path(), &mix);
    run_ok(&[&["generate", "--to", &url][..], &mix].concat());
    let expected = expected_results(&[file], tally_model::Apportionment::Census2020);
    let job = ["run", "--source", &url, "--stop-at-end", "--listen", "127.0.0.1:0"];

    let one_by_one = run_ok(&[&job[..], &["--storage", "none", "--workers", "1"]].concat());
    assert_eq!(parse_results(&one_by_one), expected, "1 × 1 equals the fold");
    let one_by_two = run_ok(&[&job[..], &["--storage", "none", "--workers", "2"]].concat());
    // 2 processes × 2 workers, archiving into one shared directory, with snapshots.
    let storage = tempfile::tempdir().unwrap();
    let storage_path = storage.path().to_str().unwrap();
    let two_by_two = cluster_ok(
        &["--local", "2", "--workers", "2"],
        &[&job[..], &["--storage", storage_path, "--checkpoint-interval", "200ms"]].concat(),
    );
    assert_eq!(
        without_epoch_line(&one_by_two),
        without_epoch_line(&one_by_one),
        "1 × 2"
    );
    assert_eq!(
        without_epoch_line(&two_by_two.stdout),
        without_epoch_line(&one_by_one),
        "2 × 2: {}",
        String::from_utf8_lossy(&two_by_two.stderr)
    );

    // Process 0 wrote the final snapshot only once both processes' archives covered it: its
    // offsets are the topic's end, and replaying the archive gives the same results.
    let snapshots = storage.path().join("snapshots").join(&topic);
    let latest = std::fs::read_to_string(snapshots.join("LATEST")).expect("a snapshot was written");
    let snapshot: serde_json::Value =
        serde_json::from_slice(&std::fs::read(snapshots.join(latest.trim())).unwrap()).unwrap();
    let consumed: u64 = snapshot["offsets"]
        .as_object()
        .expect("offsets")
        .values()
        .map(|o| o.as_u64().unwrap())
        .sum();
    let records = expected["votes"].as_u64().unwrap()
        + expected["rejected"]
            .as_object()
            .unwrap()
            .values()
            .map(|n| n.as_u64().unwrap())
            .sum::<u64>();
    assert_eq!(consumed, records, "the snapshot's offsets are the end of the topic");
    assert_eq!(
        without_timing(snapshot["results"].clone()),
        without_timing(expected.clone())
    );
    let archive = storage.path().join("raw").join(&topic);
    let replayed = run_ok(&["replay", archive.to_str().unwrap(), "--workers", "2"]);
    assert_eq!(parse_results(&replayed), expected, "the two processes' archive replays");
}

#[test]
fn replay_over_two_processes_equals_replay_over_one() {
    let dir = tempfile::tempdir().unwrap();
    for (name, seed) in [("a.ndjson", "1"), ("b/c.ndjson", "2"), ("b/d.ndjson", "3")] {
        std::fs::create_dir_all(dir.path().join("b")).unwrap();
        let records = run_ok(&[&["generate"][..], &mixed("15000", seed)].concat());
        write_file(dir.path(), name, &records);
    }
    let input = dir.path().to_str().unwrap();
    let one = run_ok(&["replay", input, "--workers", "1"]);
    let files: Vec<PathBuf> = ["a.ndjson", "b/c.ndjson", "b/d.ndjson"]
        .iter()
        .map(|f| dir.path().join(f))
        .collect();
    assert_eq!(
        parse_results(&one),
        expected_results(&files, tally_model::Apportionment::Census2020)
    );
    // From a hostfile this time (the other tests use --local).
    let peers = two_peers();
    let hosts = tempfile::tempdir().unwrap();
    let hostfile = write_file(
        hosts.path(),
        "hosts",
        format!(
            "# process 0\n{}\n\n{}  # process 1\n",
            peers.split(',').next().unwrap(),
            peers.split(',').nth(1).unwrap()
        )
        .as_bytes(),
    );
    let two = cluster_ok(
        &["--hostfile", hostfile.to_str().unwrap(), "--workers", "1"],
        &["replay", input],
    );
    assert_eq!(without_epoch_line(&two.stdout), without_epoch_line(&one));
    assert!(
        String::from_utf8_lossy(&two.stderr).contains("process 1 at 127.0.0.1:"),
        "the script says where each process runs and logs"
    );
}

/// Starts one cluster process of the embedded generator job; returns it with the URL it serves
/// and its standard error so far.
fn start_process(peers: &str, process: &str, marker: &'static str) -> (ChildGuard, String, Lines) {
    let mut child = tally()
        .args(["run", "--listen", "127.0.0.1:0", "--rate", "2000", "--workers", "1"])
        .args(["--peers", peers, "--process", process, "--connect-timeout", "20s"])
        .env("TALLY_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tally starts");
    let lines = collect_lines(&mut child);
    let guard = ChildGuard(child);
    let url = wait_for("the process's URL", Duration::from_secs(30), || {
        let lines = lines.lock().unwrap();
        lines
            .iter()
            .find_map(|l| Some(l.split(marker).nth(1)?.trim().trim_end_matches('/').to_string()))
    });
    (guard, url, lines)
}

#[test]
fn process_zero_serves_results_the_others_only_health_and_a_lost_peer_ends_the_process() {
    let peers = two_peers();
    // Process 1 first: process 0 must wait for it, not fail.
    let (mut second, second_url, _) = start_process(&peers, "1", "/metrics at ");
    let (mut first, first_url, first_log) = start_process(&peers, "0", "dashboard at ");
    let votes = wait_for("process 0 to count votes", Duration::from_secs(30), || {
        live_results(&first_url).filter(|r| r["votes"].as_u64() > Some(500))
    });
    assert!(votes["votes"].as_u64().is_some());
    assert_eq!(health(&second_url), Some(200));
    let (status, body) = http_get_status(&format!("{second_url}/api/results")).expect("process 1 answers");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("process 0"), "{body}");
    let (status, metrics) = http_get_status(&format!("{second_url}/metrics")).expect("process 1 answers");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("tally_cluster_process{processes=\"2\"} 1"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("tally_votes_total"),
        "process 1 has no results: {metrics}"
    );
    let (_, health) = http_get_status(&format!("{second_url}/healthz")).expect("process 1 answers");
    assert!(health.contains("process 1 of 2"), "{health}");

    second.0.kill().expect("SIGKILL process 1");
    let _ = second.0.wait();
    let started = Instant::now();
    let status = exit_within(&mut first.0, Duration::from_secs(15));
    assert!(!status.success(), "process 0 exits non-zero after losing its peer");
    wait_for("process 0 to say why", Duration::from_secs(5), || {
        first_log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("lost a peer"))
            .then_some(())
    });
    eprintln!("process 0 exited {:?} after the peer's loss", started.elapsed());
}

#[test]
fn processes_started_with_different_shapes_refuse_each_other() {
    let peers = two_peers();
    let spawn = |process: &str, workers: &str| {
        tally()
            .args([
                "run",
                "--listen",
                "127.0.0.1:0",
                "--peers",
                &peers,
                "--process",
                process,
            ])
            .args(["--workers", workers, "--connect-timeout", "20s"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map(ChildGuard)
            .expect("tally starts")
    };
    let mut first = spawn("0", "1");
    let mut second = spawn("1", "2");
    for child in [&mut first, &mut second] {
        let status = exit_within(&mut child.0, Duration::from_secs(30));
        assert!(!status.success());
        let mut stderr = String::new();
        use std::io::Read;
        child
            .0
            .stderr
            .take()
            .expect("piped")
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(stderr.contains("same --peers and --workers"), "{stderr}");
    }
}

#[test]
fn a_supervised_cluster_that_loses_a_process_ends_in_exactly_the_sequential_fold() {
    if !broker_available("a_supervised_cluster_that_loses_a_process") {
        return;
    }
    let topic = fresh_topic("supervised", 4);
    let url = topic_url(&topic);
    let mix = mixed("40000", "43");
    let dir = tempfile::tempdir().unwrap();
    let file = generated_file(dir.path(), &mix);
    let expected = expected_live(&[file]);
    let mut producer = ChildGuard(
        tally()
            .args([&["generate", "--to", &url, "--rate", "10000"][..], &mix].concat())
            .spawn()
            .expect("producer starts"),
    );
    let storage = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let mut command = cluster_sh();
    command
        .args(["--local", "2", "--workers", "1", "--supervise", "--logs"])
        .arg(logs.path())
        .args(["--", "run", "--source", &url, "--listen", "127.0.0.1:0", "--storage"])
        .arg(storage.path())
        .args(["--checkpoint-interval", "250ms", "--segment-age", "100ms"]);
    let mut cluster = start_cluster(command, logs.path());
    let (base, lines) = (cluster.base.clone(), cluster.lines.clone());
    wait_for("votes to be counted", Duration::from_secs(60), || {
        live_results(&base).filter(|r| r["votes"].as_u64() > Some(2000))
    });
    // Once a snapshot exists (so the restart must recover rather than start over), kill
    // process 1 without warning, mid-stream.
    wait_for("a snapshot", Duration::from_secs(60), || {
        storage
            .path()
            .join("snapshots")
            .join(&topic)
            .join("LATEST")
            .exists()
            .then_some(())
    });
    let pid_of_second = lines
        .lock()
        .unwrap()
        .iter()
        .rev()
        .find_map(|l| {
            l.strip_prefix("cluster.sh: process 1 at ")?
                .split("(pid ")
                .nth(1)?
                .split(')')
                .next()
                .map(String::from)
        })
        .expect("the script names process 1's pid");
    signal(&pid_of_second, "-KILL");
    wait_for("the supervisor to restart the cluster", Duration::from_secs(30), || {
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("restarting the cluster"))
            .then_some(())
    });
    wait_for(
        "process 0 to recover from the snapshot",
        Duration::from_secs(60),
        || {
            let log = std::fs::read_to_string(logs.path().join("process-0.log")).ok()?;
            let restarted = log.rsplit("=== ").next()?;
            restarted.contains("recovering from the snapshot").then_some(())
        },
    );
    assert!(producer.0.wait().expect("producer ends").success());
    // The restarted cluster replays its archive and reads on to the end of the topic.
    wait_for(
        "the recovered counts to equal the fold",
        Duration::from_secs(120),
        || {
            let base = dashboard(logs.path())?;
            (live_results(&base)? == expected).then_some(())
        },
    );
    // Ctrl-C stops every process.
    cluster.interrupt();
    let pids: Vec<String> = lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| l.split("(pid ").nth(1)?.split(')').next().map(String::from))
        .collect();
    for pid in pids {
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists()
                || std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.contains(") Z ")),
            "process {pid} is still running"
        );
    }
}

#[test]
fn processes_on_other_hosts_start_and_stop_over_ssh() {
    // An ssh stand-in that runs the command here, as sshd would run it on the host; and no
    // host counts as local, so the script takes its ssh path for every process.
    let dir = tempfile::tempdir().unwrap();
    let ssh = write_file(dir.path(), "ssh", b"#!/bin/sh\nshift\nexec sh -c \"$*\"\n");
    std::fs::set_permissions(&ssh, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let remote = |command: &mut Command| {
        command
            .env("TALLY_SSH", &ssh)
            .env("TALLY_LOCAL_HOSTS", "")
            .env("TALLY_REMOTE_BIN", env!("CARGO_BIN_EXE_tally"))
            .env("TALLY_REMOTE_DIR", dir.path());
    };
    let input = write_file(
        dir.path(),
        "votes.ndjson",
        &run_ok(&[&["generate"][..], &mixed("5000", "8")].concat()),
    );
    let one = run_ok(&["replay", input.to_str().unwrap(), "--workers", "1"]);
    let mut replay = cluster_sh();
    remote(&mut replay);
    let output = replay
        .args(["--local", "2", "--", "replay", input.to_str().unwrap()])
        .output()
        .expect("cluster.sh runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(without_epoch_line(&output.stdout), without_epoch_line(&one));

    // A live job: Ctrl-C reaches the processes through `pkill` over "ssh".
    let logs = tempfile::tempdir().unwrap();
    let mut live = cluster_sh();
    remote(&mut live);
    live.args(["--local", "2", "--logs"]).arg(logs.path()).args([
        "--",
        "run",
        "--listen",
        "127.0.0.1:0",
        "--rate",
        "500",
    ]);
    let mut cluster = start_cluster(live, logs.path());
    let (base, lines) = (cluster.base.clone(), cluster.lines.clone());
    wait_for("votes", Duration::from_secs(30), || {
        live_results(&base).filter(|r| r["votes"].as_u64() > Some(0))
    });
    let peers = lines
        .lock()
        .unwrap()
        .iter()
        .filter_map(|l| {
            l.strip_prefix("cluster.sh: process ")?
                .split(" at ")
                .nth(1)?
                .split(' ')
                .next()
                .map(String::from)
        })
        .collect::<Vec<_>>()
        .join(",");
    cluster.interrupt();
    let left = Command::new("pgrep")
        .args(["-f", &format!("--peers {peers}")])
        .output()
        .expect("pgrep runs");
    assert!(
        left.stdout.is_empty(),
        "left running: {}",
        String::from_utf8_lossy(&left.stdout)
    );
}

/// Two processes of `tally run job_args…`; process 1 is stopped (SIGSTOP) once votes count, and
/// process 0 must end, failing, within 30 s and say why. Returns process 0's log.
fn hung_peer(job_args: &[&str]) -> Vec<String> {
    let peers = two_peers();
    let spawn = |process: &str| {
        let mut child = tally()
            .args(["run", "--listen", "127.0.0.1:0", "--workers", "1"])
            .args(job_args)
            .args(["--peers", &peers, "--process", process, "--stall-timeout", "3s"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("tally starts");
        let lines = collect_lines(&mut child);
        (ChildGuard(child), lines)
    };
    let (mut first, first_log) = spawn("0");
    let (second, _) = spawn("1");
    let base = wait_for("process 0's dashboard", Duration::from_secs(30), || {
        let lines = first_log.lock().unwrap();
        lines.iter().find_map(|l| {
            Some(
                l.split("dashboard at ")
                    .nth(1)?
                    .trim()
                    .trim_end_matches('/')
                    .to_string(),
            )
        })
    });
    wait_for("votes", Duration::from_secs(30), || {
        live_results(&base).filter(|r| r["votes"].as_u64() > Some(0))
    });
    // Stopped, process 1 keeps its connections open (the kernel still answers for it).
    let pid = second.0.id().to_string();
    signal(&pid, "-STOP");
    let status = exit_within(&mut first.0, Duration::from_secs(30));
    assert!(!status.success());
    wait_for("process 0 to say why", Duration::from_secs(5), || {
        first_log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("no progress"))
            .then_some(())
    });
    signal(&pid, "-KILL");
    let log = first_log.lock().unwrap().clone();
    log
}

#[test]
fn a_hung_peer_ends_the_other_processes_too() {
    hung_peer(&["--rate", "1000"]);
}

#[test]
fn a_process_that_exits_for_a_hung_peer_first_writes_its_archive() {
    if !broker_available("a_process_that_exits_for_a_hung_peer") {
        return;
    }
    let topic = fresh_topic("hung-peer", 2);
    run_ok(&[&["generate", "--to", &topic_url(&topic)][..], &mixed("2000", "5")].concat());
    let storage = tempfile::tempdir().unwrap();
    let log = hung_peer(&[
        "--source",
        &topic_url(&topic),
        "--storage",
        storage.path().to_str().unwrap(),
    ]);
    assert!(
        log.iter().any(|l| l.contains("the archive wrote everything it held")),
        "process 0 exited without finishing its archive: {log:?}"
    );
}
