//! The dashboard in a real browser: headless Chromium (Debian's, installed by scripts/test.sh)
//! driven over the DevTools protocol by `scripts/browser_check.py`, at 390×844, 1024×768 and
//! 1440×1000. The page must fit the screen (no sideways scrolling), log no console error, and
//! show the numbers `/api/results` gives.

mod common;

use common::*;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

/// The Python with `websocket-client` (beside Schemathesis's `st`, as scripts/schemathesis.sh
/// installs them) and Chromium, or why the test cannot run.
fn tools() -> Result<(PathBuf, PathBuf), String> {
    let st = std::env::var_os("TALLY_SCHEMATHESIS")
        .map(PathBuf::from)
        .or_else(|| {
            let home = std::env::var_os("HOME")?;
            Some(PathBuf::from(home).join(".cache/tally/schemathesis-4.32.5/bin/st"))
        })
        .filter(|st| st.is_file())
        .ok_or("no Python tools: run scripts/schemathesis.sh")?;
    let python = st.with_file_name("python");
    let chromium = std::env::var_os("TALLY_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.is_file() {
        return Err(format!(
            "no Chromium at {} (apt-get install chromium)",
            chromium.display()
        ));
    }
    Ok((python, chromium))
}

#[test]
fn the_dashboard_fits_phones_to_desktops_without_errors_and_shows_the_api_numbers() {
    let (python, chromium) = match tools() {
        Ok(tools) => tools,
        Err(why) if std::env::var_os("TALLY_REQUIRE_SERVICES").is_some() => panic!("{why}"),
        Err(why) => {
            eprintln!("SKIPPED the_dashboard_fits_phones_to_desktops: {why} (or run scripts/test.sh)");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(
        dir.path(),
        "votes.ndjson",
        &run_ok(&["generate", "--count", "3000", "--seed", "4", "--invalid-rate", "0.05"]),
    );
    let (_job, base) = start_server(&["--source", file.to_str().unwrap(), "--workers", "2"]);
    wait_for("the final results", Duration::from_secs(60), || {
        let results: serde_json::Value = serde_json::from_str(&http_get(&format!("{base}/api/results"))?).ok()?;
        (results["complete"] == true).then_some(())
    });
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/browser_check.py");
    let output = Command::new(&python)
        .arg(script)
        .arg(&base)
        .arg(&chromium)
        .output()
        .expect("the browser check runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the dashboard, looked at in Chromium:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(&report).expect("a JSON report");
    assert_eq!(report["viewports"].as_array().map(Vec::len), Some(3));
}
