//! The dashboard in a real browser: headless Chromium (Debian's, installed by scripts/test.sh)
//! driven over the DevTools protocol by `scripts/browser_check.py` (its docstring lists every
//! check): at 390×844, 1024×768 and 1440×1000 (and 360 and 2560 wide) the page fits the
//! screen, logs no console error, shows the numbers `/api/results` gives with every chart at the
//! same epoch, draws chart text at 12 px or more inside its chart, names every candidate in
//! every legend, meets WCAG AA contrast, redraws no unchanged chart, shows tooltips, and opens a
//! state's panel at a click, from its address and with the keyboard; live, each view arrives
//! within 2 s of its results, a tab put in the background closes its stream and draws nothing
//! until it is in front again, and with a baseline the projections show (the outlook chart, the
//! map's key for projected states, a projected state's estimate in its panel). Screenshots of each size are left in
//! `target/browser-screenshots/`.

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

/// The 2024 table with "Other" split among six minor candidates with long names, so that the
/// legends have eight entries to lay out.
fn many_candidates(dir: &std::path::Path) -> PathBuf {
    const MINOR: [(&str, &str); 6] = [
        ("Robert F. Kennedy Jr.", "INDEPENDENT"),
        ("Jill Stein", "GREEN"),
        ("Chase Oliver", "LIBERTARIAN"),
        ("Cornel West", "INDEPENDENT"),
        ("Claudia De la Cruz", "SOCIALISM AND LIBERATION"),
        ("Write-in votes for everyone else", ""),
    ];
    let shipped = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/model/data/president_2024_by_state.csv"
    ))
    .expect("the shipped 2024 table");
    let mut table = String::new();
    for (i, line) in shipped.lines().enumerate() {
        let fields: Vec<&str> = line.split(',').collect();
        match fields.as_slice() {
            [state, code, "Other", _, votes] if i > 0 => {
                let votes: u64 = votes.parse().expect("votes");
                for (k, (name, party)) in MINOR.iter().enumerate() {
                    let share = votes / 6 + u64::from(k == 0) * (votes % 6);
                    table.push_str(&format!("{state},{code},{name},{party},{share}\n"));
                }
            }
            [state, code, "Harris", party, votes] => {
                table.push_str(&format!("{state},{code},Kamala D. Harris,{party},{votes}\n"))
            }
            [state, code, "Trump", party, votes] => {
                table.push_str(&format!("{state},{code},Donald J. Trump,{party},{votes}\n"))
            }
            _ => table.push_str(&format!("{line}\n")),
        }
    }
    write_file(dir, "eight-candidates.csv", table.as_bytes())
}

/// Runs the browser check in `mode` against `base`; its JSON report.
fn browser_check(python: &std::path::Path, chromium: &std::path::Path, base: &str, mode: &str) -> serde_json::Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/browser_check.py");
    let shots = concat!(env!("CARGO_MANIFEST_DIR"), "/target/browser-screenshots");
    let output = Command::new(python)
        .arg(script)
        .arg(base)
        .arg(chromium)
        .arg(mode)
        .env("TALLY_SCREENSHOTS", shots)
        .output()
        .expect("the browser check runs");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "the dashboard, looked at in Chromium:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&report).expect("a JSON report")
}

fn tools_or_skip(test: &str) -> Option<(PathBuf, PathBuf)> {
    match tools() {
        Ok(tools) => Some(tools),
        Err(why) => {
            skip(&format!("{test}: {why} (or run scripts/test.sh)"));
            None
        }
    }
}

#[test]
fn the_dashboard_works_from_phones_to_desktops_with_eight_candidates() {
    let Some((python, chromium)) = tools_or_skip("the_dashboard_works_from_phones_to_desktops") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let table = many_candidates(dir.path());
    let (_job, base) = start_server(&[
        "--scenario",
        table.to_str().unwrap(),
        "--scale",
        "0.0005",
        "--baseline",
        "2020",
        "--workers",
        "2",
        // A rehearsal: its banner is checked at every size (and meets the contrast check).
        "--test",
    ]);
    let results = wait_for("the final results", Duration::from_secs(120), || {
        let results: serde_json::Value = serde_json::from_str(&http_get(&format!("{base}/api/results"))?).ok()?;
        (results["complete"] == true).then_some(results)
    });
    assert_eq!(
        results["candidates"].as_array().map(Vec::len),
        Some(8),
        "eight candidates"
    );
    assert_eq!(results["test"], true);
    let report = browser_check(&python, &chromium, &base, "final");
    assert_eq!(report["viewports"].as_array().map(Vec::len), Some(5));
    let banner = report["viewports"][0]["banner"].as_str().unwrap_or_default();
    assert!(banner.starts_with("TEST"), "{report}");
}

#[test]
fn a_live_dashboard_shows_each_publication_within_two_seconds() {
    let Some((python, chromium)) = tools_or_skip("a_live_dashboard_shows_each_publication") else {
        return;
    };
    let (_job, base) = start_server(&[
        "--scenario",
        "2024",
        "--scale",
        "0.001",
        "--night",
        "--night-length",
        "90s",
        "--baseline",
        "2020",
        "--workers",
        "2",
    ]);
    let report = browser_check(&python, &chromium, &base, "live");
    // With a baseline, a state projected and not called showed its estimate in its panel.
    let panel = report["projections"]["panel"].as_str().unwrap_or_default();
    assert!(
        panel.contains("projected for") && panel.contains("% interval"),
        "{report}"
    );
    let lags = report["live"]["lags_ms"].as_array().cloned().unwrap_or_default();
    assert!(lags.len() >= 3, "{report}");
    let results: serde_json::Value =
        serde_json::from_str(&http_get(&format!("{base}/api/results")).expect("results")).expect("JSON");
    assert_eq!(results["complete"], false, "the views were of a live count");
}

#[test]
fn the_state_panel_maps_and_lists_its_counties() {
    let Some((python, chromium)) = tools_or_skip("the_state_panel_maps_and_lists_its_counties") else {
        return;
    };
    let (_job, base) = start_server(&[
        "--scenario",
        "2020",
        "--scale",
        "0.0005",
        "--rate",
        "0",
        "--baseline",
        "2016",
        "--workers",
        "2",
    ]);
    wait_for("the final results", Duration::from_secs(120), || {
        let results: serde_json::Value = serde_json::from_str(&http_get(&format!("{base}/api/results"))?).ok()?;
        (results["complete"] == true).then_some(())
    });
    let report = browser_check(&python, &chromium, &base, "counties:PA");
    assert_eq!(report["failures"].as_array().map(Vec::len), Some(0), "{report}");
}
