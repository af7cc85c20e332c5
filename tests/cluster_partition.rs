//! A cluster on two hosts, for real addresses: each process in its own network namespace,
//! joined by a veth pair, started by `scripts/cluster.sh` through an ssh stand-in that enters
//! the namespace. The link between them is cut mid-stream (a blackhole route to the other
//! host on each side: both interfaces stay up and nothing is refused, packets vanish, as in a
//! partition; `tc netem` would need a kernel module not every host has); the processes
//! notice within `--stall-timeout` and say so, the supervisor starts the cluster again, and
//! once the link heals it ends with exactly the results of one process.
//!
//! Needs root (network namespaces); elsewhere it says so and skips.

mod common;

use common::*;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs `ip args…`; whether it succeeded, with its error output.
fn ip(args: &[&str]) -> Result<(), String> {
    let output = Command::new("ip").args(args).output().map_err(|e| format!("ip: {e}"))?;
    match output.status.success() {
        true => Ok(()),
        false => Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )),
    }
}

/// Two namespaces joined by a veth pair, each end with its own address; deleted on drop.
struct TwoHosts {
    names: [String; 2],
    devices: [String; 2],
    addresses: [String; 2],
}

impl TwoHosts {
    fn new() -> Result<TwoHosts, String> {
        // Names unique to this run (interface names have at most 15 bytes).
        let id = std::process::id() % 100_000;
        let subnet = format!("10.213.{}", id % 250);
        let hosts = TwoHosts {
            names: [format!("tally-{id}-0"), format!("tally-{id}-1")],
            devices: [format!("tv{id}a"), format!("tv{id}b")],
            addresses: [format!("{subnet}.1"), format!("{subnet}.2")],
        };
        let [a, b] = &hosts.names;
        let [da, db] = &hosts.devices;
        ip(&["netns", "add", a])?;
        ip(&["netns", "add", b])?;
        ip(&["link", "add", da, "type", "veth", "peer", "name", db])?;
        for i in 0..2 {
            let (ns, dev, address) = (&hosts.names[i], &hosts.devices[i], &hosts.addresses[i]);
            ip(&["link", "set", dev, "netns", ns])?;
            ip(&["-n", ns, "addr", "add", &format!("{address}/24"), "dev", dev])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        Ok(hosts)
    }

    /// Every packet each way is dropped, or (`false`) none.
    fn cut(&self, cut: bool) {
        for (ns, other) in self.names.iter().zip(self.addresses.iter().rev()) {
            let action = if cut { "add" } else { "del" };
            let route = format!("{other}/32");
            let done = ip(&["-n", ns, "route", action, "blackhole", &route]);
            assert!(done.is_ok(), "{done:?}");
        }
    }
}

impl Drop for TwoHosts {
    fn drop(&mut self) {
        // If the test failed, cluster.sh was killed and its processes may run on: end them
        // (found by their --peers, which name these addresses) before their namespaces go.
        let peers = format!("--peers {}:", self.addresses[0]);
        let _ = Command::new("pkill").args(["-KILL", "-f", "--", &peers]).status();
        for ns in &self.names {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

/// Whether this user may make network namespaces at all (root), else why not.
fn may_make_namespaces() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .unwrap_or("?");
    match uid {
        "0" => Ok(()),
        _ => Err(format!("runs as uid {uid}; network namespaces need root")),
    }
}

#[test]
fn a_two_host_cluster_cut_apart_mid_stream_notices_restarts_and_ends_exactly() {
    if let Err(why) = may_make_namespaces() {
        eprintln!("SKIPPED a_two_host_cluster_cut_apart_mid_stream: {why}");
        return;
    }
    let hosts = match TwoHosts::new() {
        Ok(hosts) => hosts,
        Err(why) => {
            return skip(&format!(
                "a_two_host_cluster_cut_apart_mid_stream: no namespaces here ({why})"
            ))
        }
    };
    let dir = tempfile::tempdir().unwrap();
    // The ssh stand-in: "ssh HOST COMMAND" runs COMMAND in the namespace that owns HOST.
    let ssh = write_file(
        dir.path(),
        "ssh",
        format!(
            "#!/bin/sh\ncase \"$1\" in\n  {}) ns={} ;;\n  {}) ns={} ;;\n  *) echo \"unknown host $1\" >&2; exit 255 ;;\nesac\nshift\nexec ip netns exec \"$ns\" sh -c \"$*\"\n",
            hosts.addresses[0], hosts.names[0], hosts.addresses[1], hosts.names[1]
        )
        .as_bytes(),
    );
    std::fs::set_permissions(&ssh, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let hostfile = write_file(
        dir.path(),
        "hosts",
        format!("{}:7400\n{}:7400\n", hosts.addresses[0], hosts.addresses[1]).as_bytes(),
    );
    // A generated stream of 24,000 voters at 3,000 a second: eight seconds, cut after the start.
    let job = [
        "run",
        "--listen",
        "127.0.0.1:0",
        "--storage",
        "none",
        "--stop-at-end",
        "--count",
        "24000",
        "--rate",
        "3000",
        "--seed",
        "19",
        "--invalid-rate",
        "0.05",
        "--duplicate-rate",
        "0.1",
    ];
    let alone = run_ok(&[&job[..], &["--workers", "2"]].concat());

    let logs = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/cluster.sh");
    let mut cluster = ChildGuard(
        Command::new(script)
            .args([
                "--hostfile",
                hostfile.to_str().unwrap(),
                "--workers",
                "1",
                "--supervise",
                "--logs",
            ])
            .arg(logs.path())
            .arg("--")
            .args(job)
            .args(["--stall-timeout", "3s", "--connect-timeout", "120s"])
            .env("TALLY_BIN", env!("CARGO_BIN_EXE_tally"))
            .env("TALLY_SSH", &ssh)
            .env("TALLY_LOCAL_HOSTS", "")
            .env("TALLY_REMOTE_BIN", env!("CARGO_BIN_EXE_tally"))
            .env("TALLY_REMOTE_DIR", dir.path())
            .env("TALLY_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cluster.sh starts"),
    );
    let lines: Arc<Mutex<Vec<String>>> = Arc::default();
    if let Some(stderr) = cluster.0.stderr.take() {
        let lines = lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
    }
    let log_of = |process: usize| std::fs::read_to_string(logs.path().join(format!("process-{process}.log")));
    // Both processes connected over the link and counting.
    wait_for("both processes to count", Duration::from_secs(60), || {
        let counting = |p| log_of(p).is_ok_and(|log| log.contains("cluster: connected"));
        (counting(0) && counting(1)).then_some(())
    });
    hosts.cut(true);
    // A partition refuses nothing: each process sees no progress and ends, saying why, within
    // the stall timeout (3 s) and the time to notice and report it.
    wait_for("a process to notice the partition", Duration::from_secs(15), || {
        (0..2)
            .any(|p| log_of(p).is_ok_and(|log| log.contains("no progress")))
            .then_some(())
    });
    wait_for("the supervisor to restart the cluster", Duration::from_secs(60), || {
        let said = lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("restarting the cluster"));
        said.then_some(())
    });
    hosts.cut(false);
    let status = wait_for("the cluster to end", Duration::from_secs(180), || {
        cluster.0.try_wait().ok().flatten()
    });
    let mut stdout = Vec::new();
    if let Some(mut out) = cluster.0.stdout.take() {
        std::io::Read::read_to_end(&mut out, &mut stdout).expect("cluster.sh's output");
    }
    let said = lines.lock().unwrap().join("\n");
    assert!(status.success(), "cluster.sh: {status}\n{said}");
    assert_eq!(
        without_timing(parse_results(&stdout)),
        without_timing(parse_results(&alone)),
        "{said}"
    );
    drop(hosts);
}
