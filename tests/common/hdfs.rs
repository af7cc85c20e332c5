//! HDFS helpers for the integration tests: a real one-node HDFS (started by `scripts/hdfs.sh`).

use std::time::Duration;
use tally_connectors::storage::Storage;

pub fn namenode() -> String {
    std::env::var("HDFS_NAMENODE").unwrap_or_else(|_| "127.0.0.1:9000".to_string())
}

/// Whether HDFS answers; if not, says so and (unless `TALLY_REQUIRE_SERVICES` is set) lets the
/// test skip.
pub fn hdfs_available(test: &str) -> bool {
    let answered = Storage::open(&format!("hdfs://{}/", namenode()))
        .ok()
        .is_some_and(|storage| {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime
                .block_on(async { tokio::time::timeout(Duration::from_secs(15), storage.list("")).await })
                .is_ok_and(|listing| listing.is_ok())
        });
    if answered {
        return true;
    }
    let message = format!(
        "{test}: needs HDFS at {} (start it with scripts/hdfs.sh start, or run scripts/test.sh)",
        namenode()
    );
    super::skip(&message);
    false
}

/// A fresh directory URL on HDFS for one test.
pub fn fresh_root(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("hdfs://{}/tests/{test}-{}-{nanos}", namenode(), std::process::id())
}

/// Runs `scripts/hdfs.sh ARGS…`, returning its stdout; panics if it fails.
pub fn hdfs_sh(args: &[&str]) -> String {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/hdfs.sh");
    let output = std::process::Command::new("bash")
        .arg(script)
        .args(args)
        .output()
        .expect("hdfs.sh runs");
    assert!(
        output.status.success(),
        "hdfs.sh {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Opens `url` with a runtime to drive it.
pub fn open(url: &str) -> (Storage, tokio::runtime::Runtime) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    (Storage::open(url).expect("storage URL"), runtime)
}
