//! Chaos: under a live producer, one fault after another — SIGKILL of the job while it reads
//! live, while it replays its archive after a restart and while it writes a snapshot, of one
//! process of a supervised cluster and of every process at once, restarts of the broker and of
//! HDFS — and then the job's count equals the sequential fold; stopped and started once more to
//! the end of the topic it prints the fold, and a replay of its archive gives it too. The job alternates between one process of two workers and a `scripts/cluster.sh`
//! cluster of two processes of one, on the same storage, each time all of it is killed.
//!
//! The suite runs 10 faults; `scripts/chaos.sh` runs 100. `TALLY_CHAOS_FAULTS` sets how many,
//! `TALLY_CHAOS_SEED` the order and timing (printed, so that a failure can be run again). Its
//! own test binary: it restarts the shared broker and HDFS.

mod common;

use common::cluster::*;
use common::hdfs::*;
use common::kafka::*;
use common::*;
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tally_model::Apportionment;

/// What goes wrong.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fault {
    /// SIGKILL of one process of the job while it reads live.
    KillLive,
    /// SIGKILL of one process while the job replays its archive after a restart.
    KillRecovering,
    /// SIGKILL of process 0 (the one that writes snapshots) as it writes one.
    KillSnapshotWrite,
    /// SIGKILL of every process, and of the cluster's script: the job is started again, in the
    /// other shape.
    KillAll,
    /// The broker stopped and started under the running job.
    BrokerRestart,
    /// HDFS stopped and started under the running job.
    HdfsRestart,
}

const KINDS: [Fault; 6] = [
    Fault::KillLive,
    Fault::KillRecovering,
    Fault::KillSnapshotWrite,
    Fault::KillAll,
    Fault::BrokerRestart,
    Fault::HdfsRestart,
];

/// The topic's partitions.
const PARTITIONS: i32 = 4;
/// Records per fault, produced at [`RATE`] a second while the fault happens.
const BATCH: u64 = 16_000;
const RATE: &str = "8000";
/// Records in the topic before the first fault: enough that a restart's replay of the archive
/// lasts long enough (a few hundred milliseconds) to be caught.
const FIRST_BATCH: u64 = 200_000;
/// The job's log filter: the snapshot writer's debug lines say when a write begins.
/// What process 0 logs when the replay after a restart is over.
const RECOVERED: &str = "recovered: the archive is replayed";
const LOG_FILTER: &str = "info,tally_connectors::sinks::snapshots=debug";

/// A xorshift generator: the run's order and timing from one printed seed.
struct Dice(u64);
impl Dice {
    fn next(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
    /// `count` faults: every kind once in each round of six, in a shuffled order.
    fn faults(&mut self, count: usize) -> Vec<Fault> {
        let mut faults = Vec::new();
        while faults.len() < count {
            let mut round = KINDS.to_vec();
            for i in (1..round.len()).rev() {
                round.swap(i, self.next(i as u64 + 1) as usize);
            }
            faults.extend(round);
        }
        faults.truncate(count);
        faults
    }
}

/// The running job, in either shape.
enum Job {
    /// `tally run --workers 2`.
    One { child: ChildGuard, base: String, log: Log },
    /// `cluster.sh --local 2 --workers 1 --supervise`: killing a process restarts the cluster.
    Cluster {
        cluster: RunningCluster,
        logs: tempfile::TempDir,
    },
}

impl Job {
    fn start(cluster: bool, args: &[&str]) -> Job {
        if !cluster {
            let args = [&["run", "--listen", "127.0.0.1:0", "--workers", "2"][..], args].concat();
            let (child, base, log) = start_tally_logged_at(LOG_FILTER, &args, "dashboard at ");
            let base = base.trim_end_matches('/').to_string();
            return Job::One { child, base, log };
        }
        let logs = tempfile::tempdir().unwrap();
        let mut command = cluster_sh();
        command
            .env("TALLY_LOG", LOG_FILTER)
            .args([
                "--local",
                "2",
                "--workers",
                "1",
                "--supervise",
                "--max-restarts",
                "1000",
            ])
            .arg("--logs")
            .arg(logs.path())
            .args(["--", "run", "--listen", "127.0.0.1:0"])
            .args(args);
        let cluster = start_cluster(command, logs.path());
        Job::Cluster { cluster, logs }
    }

    fn is_cluster(&self) -> bool {
        matches!(self, Job::Cluster { .. })
    }

    /// Process 0's log since it last started.
    fn log(&self) -> String {
        match self {
            Job::One { log, .. } => log.lock().map(|lines| lines.join("\n")).unwrap_or_default(),
            Job::Cluster { logs, .. } => {
                let log = std::fs::read_to_string(logs.path().join("process-0.log")).unwrap_or_default();
                log.rsplit("\n=== ").next().unwrap_or_default().to_string()
            }
        }
    }

    /// Process 0's dashboard, once the current start has one.
    fn base(&self) -> Option<String> {
        match self {
            Job::One { base, .. } => Some(base.clone()),
            Job::Cluster { .. } => {
                let log = self.log();
                let line = log.lines().rev().find(|l| l.contains("dashboard at "))?;
                Some(
                    line.split("dashboard at ")
                        .nth(1)?
                        .trim()
                        .trim_end_matches('/')
                        .to_string(),
                )
            }
        }
    }

    /// How many times the cluster has been started (always 1 for one process).
    fn generation(&self) -> usize {
        match self {
            Job::One { .. } => 1,
            Job::Cluster { cluster, .. } => cluster.lines.lock().unwrap().iter().filter(|l| is_start(l, 1)).count(),
        }
    }

    /// The running processes' ids, process 0 first.
    fn pids(&self) -> Vec<String> {
        match self {
            Job::One { child, .. } => vec![child.0.id().to_string()],
            Job::Cluster { cluster, .. } => {
                let lines = cluster.lines.lock().unwrap();
                (0..2)
                    .filter_map(|p| lines.iter().rev().find(|l| is_start(l, p)).and_then(|l| pid_in(l)))
                    .collect()
            }
        }
    }

    /// `/healthz` says the job reads live (not recovering, not degraded).
    fn live(&self) -> bool {
        let Some(base) = self.base() else { return false };
        http_get_status(&format!("{base}/healthz"))
            .is_some_and(|(code, body)| code == 200 && body.contains("\"status\":\"ok\""))
    }

    /// Kills process `index` (see [`Job::pids`]) with SIGKILL. One process is started again by
    /// the test, as a supervisor would; a cluster restarts itself.
    fn kill_process(self, index: usize, args: &[&str]) -> Job {
        match self {
            Job::One { mut child, .. } => {
                child.0.kill().expect("SIGKILL");
                let _ = child.0.wait();
                Job::start(false, args)
            }
            Job::Cluster { .. } => {
                let generation = self.generation();
                signal(&self.pids()[index], "-KILL");
                wait_for("the cluster to restart", Duration::from_secs(60), || {
                    (self.generation() > generation && self.pids().len() == 2).then_some(())
                });
                self
            }
        }
    }

    /// Kills every process (and the cluster's script first, so that it restarts nothing).
    fn kill_all(self) {
        if let Job::Cluster { mut cluster, .. } = self {
            let _ = cluster.script.0.kill();
            let _ = cluster.script.0.wait();
            let lines = cluster.lines.lock().unwrap();
            for pid in lines.iter().filter_map(|l| pid_in(l)) {
                let _ = std::process::Command::new("kill")
                    .args(["-KILL", &pid])
                    .stderr(std::process::Stdio::null())
                    .status();
            }
        }
        // One process: dropping it kills it.
    }

    /// Stops the job as an operator would (SIGTERM, or Ctrl-C to the cluster's script).
    fn stop(self) {
        match self {
            Job::One { mut child, .. } => assert_stops_cleanly_on_sigterm(&mut child, Duration::from_secs(60)),
            Job::Cluster { mut cluster, .. } => cluster.interrupt(),
        }
    }
}

/// However the test ends: every process it started (each names the topic) is gone, and the
/// broker and HDFS are up for the tests after it.
struct Cleanup(String);
impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pkill")
            .args(["-KILL", "-f", &self.0])
            .status();
        kafka_sh("start");
        hdfs_sh(&["start"]);
    }
}

/// Whether a line of cluster.sh says it started process `process`.
fn is_start(line: &str, process: usize) -> bool {
    line.contains(&format!("cluster.sh: process {process} at "))
}

/// The pid in a line of cluster.sh's "process N at ADDRESS (pid PID) logs to …".
fn pid_in(line: &str) -> Option<String> {
    Some(line.split("(pid ").nth(1)?.split(')').next()?.to_string())
}

/// Records in the topic's partitions.
fn produced(topic: &str) -> i64 {
    (0..PARTITIONS).map(|p| watermarks(topic, p).1).sum()
}

/// Polls `probe` about every two milliseconds until it answers, for at most `limit`.
fn poll<T>(limit: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Some(answer) = probe() {
            return Some(answer);
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    None
}

/// How many times `needle` occurs in the job's current log.
fn said(job: &Job, needle: &str) -> usize {
    job.log().matches(needle).count()
}

#[test]
fn faults_of_every_kind_under_a_live_producer_end_in_exactly_the_fold() {
    if !broker_available("chaos") || !hdfs_available("chaos") {
        return;
    }
    let count: usize = std::env::var("TALLY_CHAOS_FAULTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(10);
    let seed = std::env::var("TALLY_CHAOS_SEED")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("chaos: {count} faults, TALLY_CHAOS_SEED={seed}");
    let mut dice = Dice(seed | 1);
    let faults = dice.faults(count);

    let topic = fresh_topic("chaos", PARTITIONS);
    let url = topic_url(&topic);
    let root = fresh_root("chaos");
    let _cleanup = Cleanup(topic.clone());
    let args = [
        "--source",
        &url,
        "--storage",
        &root,
        "--checkpoint-interval",
        "250ms",
        "--segment-age",
        "100ms",
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut files: Vec<PathBuf> = Vec::new();
    let mut producers = Vec::new();
    let mut produce = |batch: usize| {
        let count = if batch == 0 { FIRST_BATCH } else { BATCH };
        let (count, seed) = (count.to_string(), (1000 + batch).to_string());
        let mix = [
            "--count",
            &count,
            "--seed",
            &seed,
            "--invalid-rate",
            "0.05",
            "--duplicate-rate",
            "0.1",
        ];
        let name = format!("batch-{batch}.ndjson");
        files.push(write_file(
            dir.path(),
            &name,
            &run_ok(&[&["generate"][..], &mix].concat()),
        ));
        // Its log (the broker's restarts make it loud) is kept in a file, shown if it fails.
        let log = dir.path().join(format!("producer-{batch}.log"));
        let stderr = std::fs::File::create(&log).expect("the producer's log");
        // The first batch as fast as it goes, the others at a steady rate.
        let rate: &[&str] = if batch == 0 { &[] } else { &["--rate", RATE] };
        let producer = tally()
            .args([&["generate", "--to", &url][..], rate, &mix].concat())
            .stderr(stderr)
            .spawn()
            .expect("producer starts");
        (ChildGuard(producer), log)
    };

    // A first batch, counted and in a snapshot, so that every restart has something to recover.
    let (mut first, _) = produce(0);
    assert!(first.0.wait().expect("the first batch").success());
    let mut job = Job::start(false, &args);
    wait_for("a first snapshot", Duration::from_secs(60), || {
        (said(&job, "snapshot written") > 0).then_some(())
    });
    let mut tally_of: std::collections::BTreeMap<String, usize> = Default::default();
    let started = Instant::now();
    for (i, fault) in faults.iter().enumerate() {
        // The producer connected and delivering before the fault (one that starts while the
        // broker is down ends at once, by design, and a fault should find it mid-stream).
        let before = produced(&topic);
        producers.push(produce(i + 1));
        wait_for("the producer to deliver", Duration::from_secs(30), || {
            (produced(&topic) > before).then_some(())
        });
        let at = Instant::now();
        let outcome = match fault {
            Fault::KillLive => {
                std::thread::sleep(Duration::from_millis(100 + dice.next(1400)));
                let process = dice.next(job.pids().len() as u64) as usize;
                job = job.kill_process(process, &args);
                format!("process {process}")
            }
            Fault::KillRecovering => {
                // A restart, then a kill while process 0's log says it replays the archive
                // (between "recovering from the snapshot" and "recovered"); tried again if the
                // replay was over before it was seen.
                let mut outcome = "replay too short to catch in 5 restarts".to_string();
                for attempt in 1..=5 {
                    job = job.kill_process(0, &args);
                    let replaying = poll(Duration::from_secs(60), || {
                        let log = job.log();
                        if log.contains(RECOVERED) {
                            Some(false)
                        } else {
                            log.contains("recovering from the snapshot").then_some(true)
                        }
                    });
                    if replaying == Some(true) {
                        let process = dice.next(job.pids().len() as u64) as usize;
                        job = job.kill_process(process, &args);
                        outcome = format!("process {process}, replaying, attempt {attempt}");
                        break;
                    }
                }
                outcome
            }
            Fault::KillSnapshotWrite => {
                let before = said(&job, "writing snapshot");
                poll(Duration::from_secs(60), || {
                    (said(&job, "writing snapshot") > before).then_some(())
                })
                .expect("a snapshot write begins");
                let mid_write = said(&job, "writing snapshot") > said(&job, "snapshot written");
                job = job.kill_process(0, &args);
                if mid_write { "mid-write" } else { "just after the write" }.to_string()
            }
            Fault::KillAll => {
                let was_cluster = job.is_cluster();
                job.kill_all();
                job = Job::start(!was_cluster, &args);
                if was_cluster {
                    "cluster → one process"
                } else {
                    "one process → cluster"
                }
                .to_string()
            }
            Fault::BrokerRestart => {
                kafka_sh("restart");
                String::new()
            }
            Fault::HdfsRestart => {
                hdfs_sh(&["restart"]);
                String::new()
            }
        };
        // Every fault is recovered from before the next.
        wait_for("the job to be live again", Duration::from_secs(180), || {
            job.live().then_some(())
        });
        eprintln!(
            "chaos: fault {} of {count}: {fault:?} {outcome} ({} shape); live again after {:.1?}",
            i + 1,
            if job.is_cluster() { "cluster" } else { "one-process" },
            at.elapsed()
        );
        let kind = match fault {
            Fault::KillSnapshotWrite if outcome == "mid-write" => "KillSnapshotWrite (mid-write)".to_string(),
            _ if outcome.contains("too short") => format!("{fault:?} (replay missed)"),
            _ => format!("{fault:?}"),
        };
        *tally_of.entry(kind).or_default() += 1;
    }
    for (mut producer, log) in producers {
        let status = producer.0.wait().expect("producer ends");
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        assert!(status.success(), "a producer failed: {status}\n{said}");
    }
    let expected = expected_live(&files);
    wait_for("the count to equal the fold", Duration::from_secs(300), || {
        let base = job.base()?;
        (live_results(&base)? == expected).then_some(())
    });
    eprintln!("chaos: {count} faults in {:.1?}: {tally_of:#?}", started.elapsed());
    let missed = tally_of.keys().any(|k| k.contains("replay missed"));
    assert!(!missed, "every recovery fault caught a replay: {tally_of:#?}");
    job.stop();

    // A stop writes what the archive holds within seconds and leaves the rest to the next start
    // (which reads it again from Kafka): that start, run to the end of the topic, prints the
    // fold and leaves every record archived, once.
    let expected = expected_results(&files, Apportionment::Census2020);
    let last = [
        &["run", "--stop-at-end", "--listen", "127.0.0.1:0", "--workers", "2"][..],
        &args,
    ]
    .concat();
    assert_eq!(parse_results(&run_ok(&last)), expected, "a last start ends at the fold");
    let replayed = parse_results(&run_ok(&["replay", &format!("{root}/raw/{topic}"), "--workers", "2"]));
    assert_eq!(replayed, expected, "the archive replays to the fold");
}
