//! The HTTP API under a property-based fuzzer: Schemathesis (installed by
//! `scripts/schemathesis.sh`) reads `/api/openapi.json` from a live job with a stream running and
//! tries every route with generated and malformed parameters and undeclared methods. Every
//! response must match the document and none may be a 5xx; hand-made hostile requests (huge
//! paths and headers, garbage request lines) get a 4xx; memory stays within a bound throughout.

mod common;

use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// Schemathesis's `st`: `TALLY_SCHEMATHESIS`, or where `scripts/schemathesis.sh` installs it.
fn schemathesis(test: &str) -> Option<PathBuf> {
    let installed = std::env::var_os("TALLY_SCHEMATHESIS").map(PathBuf::from).or_else(|| {
        let cache = std::env::var_os("TALLY_CACHE")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache/tally")))?;
        Some(cache.join("schemathesis-4.32.5/bin/st"))
    });
    if let Some(st) = installed.filter(|st| st.is_file()) {
        return Some(st);
    }
    let message =
        format!("{test}: needs Schemathesis (install it with scripts/schemathesis.sh, or run scripts/test.sh)");
    skip(&message);
    None
}

/// The resident memory of process `pid`, in bytes.
fn resident_bytes(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the job's /proc status");
    let kib: u64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc status");
    kib * 1024
}

/// Sends `request` as raw bytes and returns the status line's code (0 if the server closed the
/// connection without one).
fn raw_status(base: &str, request: &[u8]) -> u16 {
    let address = base.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address).expect("the job accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout set");
    // The server may answer and close before it has read everything sent.
    let _ = stream.write_all(request);
    let mut head = [0u8; 12];
    let mut read = 0;
    while read < head.len() {
        match stream.read(&mut head[read..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => read += n,
        }
    }
    std::str::from_utf8(&head[..read])
        .ok()
        .and_then(|line| line.strip_prefix("HTTP/1.1 "))
        .and_then(|code| code.trim().parse().ok())
        .unwrap_or(0)
}

#[test]
fn every_route_holds_to_its_openapi_document_under_fuzzing_with_memory_bounded() {
    let Some(st) = schemathesis("every_route_holds_to_its_openapi_document") else {
        return;
    };
    // A stream running throughout, slow enough that the job's own state barely grows.
    let (job, base) = start_server(&["--rate", "2000"]);
    wait_for("votes", Duration::from_secs(30), || {
        live_results(&base).filter(|r| r["votes"].as_u64() > Some(0))
    });
    let pid = job.0.id();
    let before = resident_bytes(pid);

    // A well-formed `?epoch=` may name a publication no longer kept: its documented 410 is an
    // answer to valid data, like a 404 for a resource that is gone. The event stream never ends:
    // each of its cases is read for half a second (its status and headers are what is checked)
    // rather than to the default timeout, which took 8 minutes over its 115 cases.
    let config_dir = tempfile::tempdir().expect("a directory");
    let config = write_file(
        config_dir.path(),
        "schemathesis.toml",
        concat!(
            "[checks.positive_data_acceptance]\n",
            "expected-statuses = [\"2xx\", \"3xx\", \"401\", \"403\", \"404\", \"409\", \"410\", \"429\", \"5xx\"]\n",
            "\n[[operations]]\ninclude-path = \"/api/events\"\nrequest-timeout = 0.5\n",
        )
        .as_bytes(),
    );
    let output = Command::new(&st)
        .arg("--config-file")
        .arg(&config)
        .args(["run", &format!("{base}/api/openapi.json")])
        .args([
            "--checks",
            "all",
            "--phases",
            "coverage,fuzzing",
            "--max-examples",
            "100",
        ])
        .args(["--seed", "1", "--workers", "2", "--wait-for-schema", "10"])
        .env("NO_COLOR", "1")
        .output()
        .expect("schemathesis runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("passed"), "{report}");

    // What a fuzzer of documented operations does not send.
    let long_path = format!("GET /charts/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(1 << 20));
    let long_header = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "b".repeat(1 << 20)
    );
    for (what, request) in [
        ("a 1 MiB path", long_path.as_bytes()),
        ("a 1 MiB header", long_header.as_bytes()),
        ("a garbage request line", &b"NOT HTTP AT ALL\r\n\r\n"[..]),
        (
            "an unknown method",
            &b"BREW /api/results HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        ),
        (
            "a broken query",
            &b"GET /api/results?pretty=%ZZ&&== HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        ),
        (
            "a NUL in the path",
            &b"GET /api/res\0ults HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        ),
    ] {
        let status = raw_status(&base, request);
        assert!((400..500).contains(&status), "{what}: {status}");
    }
    let (status, _) = http_get_status(&format!("{base}/charts/{}", "c".repeat(10_000))).expect("an answer");
    assert_eq!(status, 404);

    assert_eq!(health(&base), Some(200), "the job is still healthy");
    let after = resident_bytes(pid);
    let grown = after.saturating_sub(before);
    assert!(
        grown < 64 << 20,
        "memory grew by {} MiB ({} → {} MiB)",
        grown >> 20,
        before >> 20,
        after >> 20
    );
}
