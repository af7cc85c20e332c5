//! `tally backtest`: a night played and its projections scored, for the shipped county tables
//! and for any tables in the shipped formats.

mod common;

use common::*;

/// The coverage row for all checkpoints, and the night's wrong projections, from the report.
fn summary(report: &str) -> (f64, usize) {
    let pooled = report
        .lines()
        .find_map(|line| line.trim_start().strip_prefix("all |"))
        .and_then(|rest| rest.trim().split('%').next()?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no pooled coverage in:\n{report}"));
    let wrong = report
        .lines()
        .find_map(|line| line.strip_prefix("wrong projections over the night: "))
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no count of wrong projections in:\n{report}"));
    (pooled, wrong)
}

#[test]
fn the_2024_night_against_2020_projects_no_state_wrongly_and_names_the_winner_before_the_end() {
    let out = run_ok(&[
        "backtest",
        "--scenario",
        "2024",
        "--baseline",
        "2020",
        "--scale",
        "0.002",
        "--every",
        "0.02",
    ]);
    let report = String::from_utf8(out).unwrap();
    for checkpoint in ["10%", "25%", "50%", "75%", "90%"] {
        assert!(
            report.lines().any(|l| l.trim_start().starts_with(checkpoint)),
            "no {checkpoint} row:\n{report}"
        );
    }
    let (coverage, wrong) = summary(&report);
    assert_eq!(wrong, 0, "{report}");
    assert!((50.0..=100.0).contains(&coverage), "{report}");
    let winner = report
        .lines()
        .find_map(|l| l.strip_prefix("winner (Trump) projected from "))
        .unwrap_or_else(|| panic!("Trump is never projected:\n{report}"));
    let at: f64 = winner.split('%').next().unwrap().parse().unwrap();
    assert!(at < 100.0, "{report}");
    // Every state is listed with the level at which it was projected.
    assert_eq!(
        report.lines().filter(|l| l.split(" | ").count() == 4).count(),
        52,
        "{report}"
    );
}

#[test]
fn any_tables_in_the_shipped_formats_can_be_backtested() {
    // State tables, not counties: each state is one unit.
    let now = concat!(env!("CARGO_MANIFEST_DIR"), "/model/data/president_2024_by_state.csv");
    let then = concat!(env!("CARGO_MANIFEST_DIR"), "/model/data/president_2020_by_state.csv");
    let out = run_ok(&[
        "backtest",
        "--scenario",
        now,
        "--baseline",
        then,
        "--scale",
        "0.001",
        "--every",
        "0.05",
    ]);
    let report = String::from_utf8(out).unwrap();
    let (_, wrong) = summary(&report);
    assert_eq!(wrong, 0, "{report}");
    assert!(report.contains("winner (Trump) projected"), "{report}");
}

#[test]
fn a_backtest_without_a_baseline_says_what_it_needs() {
    let out = run(&["backtest", "--scenario", "2024", "--scale", "0.001"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--baseline"), "{stderr}");
}
