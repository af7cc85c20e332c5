//! Helpers for tests of `scripts/cluster.sh`: starting it, reading its processes' logs,
//! signalling them.

use super::{wait_for, ChildGuard};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// `scripts/cluster.sh`, started as a script's background job is (`cluster.sh … &` without job
/// control): with SIGINT ignored, which bash cannot trap unless the script restores it. So
/// Ctrl-C (`interrupt`) is tested in the harder case.
pub fn cluster_sh() -> Command {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster.sh");
    let mut command = Command::new("sh");
    command
        .args(["-c", "trap '' INT; exec \"$0\" \"$@\""])
        .arg(script)
        .env("TALLY_BIN", env!("CARGO_BIN_EXE_tally"))
        .env("TALLY_LOG", "info");
    command
}

/// Waits for `child` to exit within `limit`; returns its status and standard error.
pub fn exit_within(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    wait_for("the process to exit", limit, || child.try_wait().ok().flatten())
}

/// A child's standard error lines, collected as it runs.
pub type Lines = Arc<Mutex<Vec<String>>>;

/// Collects `child`'s standard error (and echoes it, for failing tests).
pub fn collect_lines(child: &mut Child) -> Lines {
    let lines: Lines = Arc::default();
    let stderr = child.stderr.take().expect("stderr is piped");
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("{line}");
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

/// The last dashboard URL process 0 logged (it logs a new one on every start).
pub fn dashboard(logs: &Path) -> Option<String> {
    let log = std::fs::read_to_string(logs.join("process-0.log")).ok()?;
    let line = log.lines().rev().find(|l| l.contains("dashboard at "))?;
    Some(
        line.split("dashboard at ")
            .nth(1)?
            .trim()
            .trim_end_matches('/')
            .to_string(),
    )
}

/// Sends `signal` (e.g. "-INT") to process `pid`.
pub fn signal(pid: &str, signal: &str) {
    let sent = Command::new("kill").args([signal, pid]).status().expect("kill runs");
    assert!(sent.success(), "kill {signal} {pid}");
}

/// A running `cluster.sh`: its standard error so far and process 0's dashboard URL.
pub struct RunningCluster {
    pub script: ChildGuard,
    pub lines: Lines,
    pub base: String,
}

/// Starts `command` (cluster.sh, its options and `--logs logs`), and waits for process 0's
/// dashboard.
pub fn start_cluster(mut command: Command, logs: &Path) -> RunningCluster {
    let mut script = ChildGuard(
        command
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cluster.sh starts"),
    );
    let lines = collect_lines(&mut script.0);
    let base = wait_for("process 0's dashboard", Duration::from_secs(60), || dashboard(logs));
    RunningCluster { script, lines, base }
}

impl RunningCluster {
    /// Ctrl-C: the script stops every process and exits 130.
    pub fn interrupt(&mut self) {
        signal(&self.script.0.id().to_string(), "-INT");
        assert_eq!(
            exit_within(&mut self.script.0, Duration::from_secs(60)).code(),
            Some(130)
        );
    }
}
