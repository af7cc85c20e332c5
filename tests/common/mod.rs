//! Helpers for the binary's integration tests.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use tally_model::{fold, Apportionment, Position, Results};

pub fn tally() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tally"));
    command.env("TALLY_LOG", "warn");
    command
}

/// Runs `tally args…`, expecting success; returns stdout.
pub fn run_ok(args: &[&str]) -> Vec<u8> {
    let output = tally().args(args).output().expect("tally runs");
    assert!(
        output.status.success(),
        "tally {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

pub fn run(args: &[&str]) -> Output {
    tally().args(args).output().expect("tally runs")
}

/// The sequential fold's final results over NDJSON files in path order, as replay reads them.
pub fn expected_results(files: &[PathBuf], apportionment: Apportionment) -> Value {
    let contents: Vec<Vec<u8>> = files
        .iter()
        .map(|f| std::fs::read(f).expect("readable input"))
        .collect();
    let mut records = Vec::new();
    for (stream, text) in contents.iter().enumerate() {
        let mut offset = 0;
        for line in text.split_inclusive(|b| *b == b'\n') {
            let record = line.trim_ascii();
            if !record.is_empty() {
                records.push((Position::new(stream as u32, offset as u64), record));
            }
            offset += line.len();
        }
    }
    let tallies = fold(records, true);
    // Parties as the binary gives them with no flag: from the tables tally ships.
    let results = Results::new(&tallies, 0, true, apportionment).with_parties(&tally_model::Parties::shipped());
    without_epoch(serde_json::to_value(results).expect("results serialize"))
}

/// Without the fields that say when (the epoch, the wall time `as_of`, when each state was
/// called or projected, and the projections withdrawn) and the election's name, date and
/// whether it is a rehearsal, which are labels, not counts.
pub fn without_epoch(mut results: Value) -> Value {
    if let Some(object) = results.as_object_mut() {
        object.remove("epoch");
        object.remove("as_of");
        object.remove("election");
        object.remove("election_date");
        object.remove("test");
        object.remove("withdrawn_projections");
    }
    if let Some(states) = results.get_mut("states").and_then(Value::as_object_mut) {
        for state in states.values_mut().filter_map(Value::as_object_mut) {
            state.remove("called_at");
            state.remove("projected_at");
        }
    }
    results
}

pub fn parse_results(stdout: &[u8]) -> Value {
    without_epoch(serde_json::from_slice(stdout).expect("results JSON on stdout"))
}

/// A child process killed when dropped, so a failing test leaves nothing behind.
pub struct ChildGuard(pub Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `tally run` with `args` on a free port and returns it with its base URL.
pub fn start_server(args: &[&str]) -> (ChildGuard, String) {
    let args = [&["run", "--listen", "127.0.0.1:0"][..], args].concat();
    let (child, url) = start_tally(&args, "dashboard at ");
    (child, url.trim_end_matches('/').to_string())
}

/// Starts `tally args…` and returns it with the URL it prints after `marker` on stderr.
pub fn start_tally(args: &[&str], marker: &'static str) -> (ChildGuard, String) {
    let (child, url, _) = start_tally_logged(args, marker);
    (child, url)
}

/// What a started job has written to stderr so far, line by line.
pub type Log = std::sync::Arc<std::sync::Mutex<Vec<String>>>;

/// [`start_tally`], also keeping every line the job writes to stderr.
pub fn start_tally_logged(args: &[&str], marker: &'static str) -> (ChildGuard, String, Log) {
    start_tally_logged_at("info", args, marker)
}

/// [`start_tally_logged`] with `filter` as the job's log filter (`TALLY_LOG`).
pub fn start_tally_logged_at(filter: &str, args: &[&str], marker: &'static str) -> (ChildGuard, String, Log) {
    let mut child = tally()
        .args(args)
        .env("TALLY_LOG", filter)
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("tally starts");
    let stderr = child.stderr.take().expect("stderr is piped");
    let guard = ChildGuard(child);
    let (url_tx, url_rx) = std::sync::mpsc::channel();
    let log = Log::default();
    let lines = log.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if let Some(url) = line.split(marker).nth(1) {
                let _ = url_tx.send(url.trim().to_string());
            }
            if let Ok(mut lines) = lines.lock() {
                lines.push(line);
            }
        }
    });
    let url = url_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("tally prints its URL");
    (guard, url, log)
}

/// The first `count` server-sent events' data from `url`.
pub fn sse_records(url: &str, count: usize) -> Vec<String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut response = reqwest::Client::new().get(url).send().await.expect("SSE request");
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut text = String::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while text.matches("\n\n").count() < count {
            assert!(Instant::now() < deadline, "only got {text:?}");
            match tokio::time::timeout(Duration::from_secs(10), response.chunk()).await {
                Ok(Ok(Some(chunk))) => text.push_str(&String::from_utf8_lossy(&chunk)),
                other => panic!("stream ended early ({other:?}) after {text:?}"),
            }
        }
        text.split("\n\n")
            .take(count)
            .map(|event| {
                event
                    .strip_prefix("data:")
                    .unwrap_or_else(|| panic!("{event:?} is data:{{json}}"))
                    .to_string()
            })
            .collect()
    })
}

/// Where skipped tests are listed, one line each, for `scripts/test.sh`'s closing count (cargo's
/// own harness has no way for a test to say at run time that it did not run).
pub const SKIPPED_LOG: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/skipped-tests.log");

/// A test that cannot run here (`message` says what it needs): a failure when
/// `TALLY_REQUIRE_SERVICES` is set (as `scripts/test.sh` sets it); otherwise said on stderr and
/// listed in [`SKIPPED_LOG`], so the suite's closing line counts it as skipped, not passed.
pub fn skip(message: &str) {
    if std::env::var_os("TALLY_REQUIRE_SERVICES").is_some() {
        panic!("{message}");
    }
    eprintln!("SKIPPED {message}");
    use std::io::Write;
    let logged = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(SKIPPED_LOG)
        .and_then(|mut log| writeln!(log, "{message}"));
    if let Err(e) = logged {
        eprintln!("cannot list the skipped test in {SKIPPED_LOG}: {e}");
    }
}

/// `promtool check metrics` on `text` (Prometheus's own linter): `Some(Ok)` when it passes,
/// `Some(Err(what it said))` when not, `None` (the test skipped) without promtool.
pub fn promtool_check_metrics(test: &str, text: &str) -> Option<Result<(), String>> {
    use std::io::Write;
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let Ok(mut child) = child else {
        skip(&format!(
            "{test}: needs promtool (apt-get install prometheus, or run scripts/test.sh)"
        ));
        return None;
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).expect("promtool reads the metrics");
    }
    let output = child.wait_with_output().expect("promtool runs");
    Some(match output.status.success() {
        true => Ok(()),
        false => Err(format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )),
    })
}

/// Polls `probe` until it returns `Some`, or fails after `limit`.
pub fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// [`wait_for`] for an async probe, in an async test.
pub async fn wait_for_async<T, F: std::future::Future<Output = Option<T>>>(
    what: &str,
    limit: Duration,
    mut probe: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Writes what `tally generate MIX…` prints to `dir/records.ndjson`.
pub fn generated_file(dir: &Path, mix: &[&str]) -> PathBuf {
    write_file(dir, "records.ndjson", &run_ok(&[&["generate"][..], mix].concat()))
}

pub fn write_file(dir: &Path, name: &str, text: &[u8]) -> PathBuf {
    let path = dir.join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("temp directory is writable");
    }
    std::fs::write(&path, text).expect("temp file is writable");
    path
}

pub mod cluster;
pub mod hdfs;
pub mod kafka;

/// A blocking GET's body; `None` on any failure (for polling).
pub fn http_get(url: &str) -> Option<String> {
    http_get_status(url).map(|(_, body)| body)
}

/// A blocking GET's status code and body.
pub fn http_get_status(url: &str) -> Option<(u16, String)> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    runtime.block_on(async {
        let response = reqwest::Client::new()
            .get(url)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .ok()?;
        let status = response.status().as_u16();
        Some((status, response.text().await.ok()?))
    })
}

/// Results without the fields that depend on timing (`epoch`, `as_of`) or on whether the source
/// had ended (`complete`, and the race calls and winner that follow from it).
pub fn without_timing(results: Value) -> Value {
    let mut results = without_epoch(results);
    if let Some(object) = results.as_object_mut() {
        object.remove("complete");
        object.remove("winner");
        object.remove("called_electoral_votes");
    }
    if let Some(states) = results.get_mut("states").and_then(Value::as_object_mut) {
        for state in states.values_mut().filter_map(Value::as_object_mut) {
            state.remove("called");
        }
    }
    // Labels, not counts: a snapshot keeps the counts, and each publication labels them anew.
    if let Some(candidates) = results.get_mut("candidates").and_then(Value::as_array_mut) {
        for candidate in candidates.iter_mut().filter_map(Value::as_object_mut) {
            candidate.remove("party");
            candidate.remove("color");
        }
    }
    results
}

/// Records a results document has seen: valid votes plus every reject.
pub fn records(results: &Value) -> u64 {
    results["votes"].as_u64().unwrap_or(0)
        + results["rejected"]
            .as_object()
            .map_or(0, |r| r.values().filter_map(Value::as_u64).sum())
}

/// A running job's results, without timing fields.
pub fn live_results(base: &str) -> Option<Value> {
    Some(without_timing(
        serde_json::from_str(&http_get(&format!("{base}/api/results"))?).ok()?,
    ))
}

/// `tally generate` arguments for `count` voters from `seed`, with 5% invalid records and 10%
/// duplicates mixed in.
pub fn mixed(count: &'static str, seed: &'static str) -> [&'static str; 8] {
    [
        "--count",
        count,
        "--seed",
        seed,
        "--invalid-rate",
        "0.05",
        "--duplicate-rate",
        "0.1",
    ]
}

/// The fold's results over `files` in the form of [`live_results`].
pub fn expected_live(files: &[PathBuf]) -> Value {
    without_timing(expected_results(files, Apportionment::Census2020))
}

/// Sends SIGTERM to `job` and asserts it exits successfully within `limit`.
pub fn assert_stops_cleanly_on_sigterm(job: &mut ChildGuard, limit: Duration) {
    let sent = Instant::now();
    let pid = job.0.id().to_string();
    let signalled = Command::new("kill").args(["-TERM", &pid]).status();
    assert!(signalled.is_ok_and(|status| status.success()), "kill -TERM {pid}");
    let status = wait_for("the job to stop", limit, || job.0.try_wait().ok().flatten());
    assert!(
        status.success(),
        "stopped by SIGTERM after {:?}: {status}",
        sent.elapsed()
    );
}

/// `/healthz`'s status code.
pub fn health(base: &str) -> Option<u16> {
    http_get_status(&format!("{base}/healthz")).map(|(status, _)| status)
}

/// The newest snapshot's file of `topic` under `storage`, parsed.
pub fn newest_snapshot(storage: &str, topic: &str) -> Option<serde_json::Value> {
    let dir = std::path::Path::new(storage).join("snapshots").join(topic);
    let newest = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .max()?;
    serde_json::from_slice(&std::fs::read(newest).ok()?).ok()
}
