//! `tally backtest`: a scenario's night played through the sequential fold, its projections
//! scored against the final count. Per national checkpoint: how many 90% intervals of states
//! still counting contain the final margin, the mean error of the margin estimates, and the
//! projected calls made and wrong; then when each state and the winner were projected.

use crate::cli::BacktestArgs;
use crate::election;
use anyhow::{bail, Result};
use std::collections::BTreeMap;
use tally_model::codec::decode;
use tally_model::projection::StateEstimate;
use tally_model::tallies::{Tallies, Tally};
use tally_model::Results;
use tally_source::RecordBatch;

/// The national reporting levels the table reports at.
const CHECKPOINTS: [f64; 5] = [0.10, 0.25, 0.50, 0.75, 0.90];

/// One evaluation: national % in, and per state its % in, estimate and projection.
struct Evaluation {
    reported: f64,
    states: BTreeMap<String, (f64, Option<StateEstimate>, Option<String>)>,
    projected_winner: Option<String>,
}

pub(crate) fn backtest(args: BacktestArgs) -> Result<()> {
    if args.measure.baseline.is_none() {
        bail!("backtest needs --baseline (the election before the one played): the estimates are swings from it");
    }
    let mix = args.mix();
    let measures = election::measures(&args.measure, Some(&mix))?;
    let generator = election::generator(&mix, None)?;
    let Some(voters) = generator.voters() else {
        bail!("the scenario has no end")
    };
    let Some(expected) = measures.expected() else {
        bail!("no expected votes for the scenario")
    };
    let total: u64 = expected.states.values().sum();
    let step = ((total as f64 * args.every).ceil() as u64).max(1);
    let apportionment = args.measure.apportionment;
    let evaluate = |tallies: &Tallies| measures.measured(Results::new(tallies, 0, false, apportionment));
    let record = |results: &Results| Evaluation {
        reported: results.reported.unwrap_or(0.0),
        states: results
            .states
            .iter()
            .map(|(code, s)| {
                (
                    code.clone(),
                    (s.reported.unwrap_or(0.0), s.estimate.clone(), s.projected.clone()),
                )
            })
            .collect(),
        projected_winner: results.projected_winner.clone(),
    };
    let mut tallies = Tallies::default();
    let mut evaluations = Vec::new();
    let mut batch = RecordBatch::default();
    let mut k = 0;
    while k < voters {
        let end = (k + step).min(voters);
        batch.clear();
        (k..end).for_each(|slot| generator.slot(slot, 0, &mut batch));
        for (_, bytes) in batch.iter() {
            match decode(bytes) {
                Ok(ballot) => {
                    let key = ballot.vote_key();
                    tallies.apply(&Tally::Candidate(key.cube.candidate, ballot.decision.to_string()), 1);
                    tallies.apply(&Tally::Vote(key.cube), 1);
                    if let Some(unit) = key.unit() {
                        tallies.apply(&Tally::Unit(unit), 1);
                    }
                }
                Err(reason) => tallies.apply(&Tally::Rejected(reason), 1),
            }
        }
        k = end;
        if k < voters {
            evaluations.push(record(&evaluate(&tallies)));
        }
    }
    let last = evaluate(&tallies);
    print!("{}", report(&evaluations, &last));
    Ok(())
}

/// The signed final margin of `first` over `second` in `state`.
fn final_margin(last: &Results, state: &str, first: &str, second: &str) -> f64 {
    let Some(counts) = last.by_state.get(state) else {
        return 0.0;
    };
    let total: u64 = counts.values().sum();
    let of = |name: &str| counts.get(name).copied().unwrap_or(0) as f64;
    if total == 0 {
        0.0
    } else {
        (of(first) - of(second)) / total as f64
    }
}

/// The backtest's tables, as text.
fn report(evaluations: &[Evaluation], last: &Results) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let winner_of = |code: &str| last.states.get(code).and_then(|s| s.leader.clone());
    let _ = writeln!(
        out,
        "national in | intervals containing the final margin | mean abs. error (pts) | projected | wrong"
    );
    let (mut all_cases, mut all_contained) = (0, 0);
    for checkpoint in CHECKPOINTS {
        let Some(at) = evaluations.iter().find(|e| e.reported >= checkpoint) else {
            continue;
        };
        let (mut cases, mut contained, mut error, mut projected, mut wrong) = (0, 0, 0.0, 0, 0);
        for (code, (reported, estimate, projection)) in &at.states {
            if let Some(p) = projection {
                projected += 1;
                wrong += usize::from(Some(p) != winner_of(code).as_ref());
            }
            let Some(e) = estimate else { continue };
            if *reported >= 1.0 {
                continue;
            }
            let truth = final_margin(last, code, &e.first, &e.second);
            cases += 1;
            contained += usize::from(e.low - 1e-12 <= truth && truth <= e.high + 1e-12);
            error += (truth - e.margin).abs();
        }
        (all_cases, all_contained) = (all_cases + cases, all_contained + contained);
        let share = if cases == 0 {
            0.0
        } else {
            contained as f64 / cases as f64
        };
        let mae = if cases == 0 { 0.0 } else { 100.0 * error / cases as f64 };
        let _ = writeln!(
            out,
            "{:>10.0}% | {:>5.1}% of {:>3} | {:>6.2} | {:>3} | {}",
            100.0 * checkpoint,
            100.0 * share,
            cases,
            mae,
            projected,
            wrong
        );
    }
    let pooled = if all_cases == 0 {
        0.0
    } else {
        all_contained as f64 / all_cases as f64
    };
    let _ = writeln!(out, "       all | {:>5.1}% of {:>3}", 100.0 * pooled, all_cases);
    // When each state was first projected (and stayed so), and every wrong projection.
    let mut levels = Vec::new();
    let mut ever_wrong = BTreeMap::new();
    let _ = writeln!(out, "\nstate | winner | projected at state % in | at national % in");
    for code in last.states.keys() {
        let winner = winner_of(code);
        for e in evaluations {
            let projection = e.states.get(code).and_then(|s| s.2.as_ref());
            if projection.is_some_and(|p| Some(p) != winner.as_ref()) {
                *ever_wrong.entry(code.clone()).or_insert(0) += 1;
            }
        }
        // The first evaluation from which the state stays projected for its winner.
        let stays = evaluations
            .iter()
            .rposition(|e| e.states.get(code).and_then(|s| s.2.as_ref()) != winner.as_ref())
            .map_or(0, |i| i + 1);
        match evaluations.get(stays) {
            Some(e) => {
                let state_in = e.states.get(code).map_or(0.0, |s| s.0);
                levels.push(state_in);
                let _ = writeln!(
                    out,
                    "{code} | {} | {:.1}% | {:.1}%",
                    winner.as_deref().unwrap_or("-"),
                    100.0 * state_in,
                    100.0 * e.reported
                );
            }
            None => {
                levels.push(1.0);
                let _ = writeln!(
                    out,
                    "{code} | {} | at the end | at the end",
                    winner.as_deref().unwrap_or("-")
                );
            }
        }
    }
    levels.sort_by(f64::total_cmp);
    let median = levels.get(levels.len() / 2).copied().unwrap_or(1.0);
    let winner_at = evaluations
        .iter()
        .rposition(|e| e.projected_winner != last.winner.clone().or(last.leader.clone()))
        .map_or(0, |i| i + 1);
    let _ = writeln!(
        out,
        "\nmedian state projected at {:.1}% of its expected vote",
        100.0 * median
    );
    match evaluations.get(winner_at) {
        Some(e) => {
            let _ = writeln!(
                out,
                "winner ({}) projected from {:.1}% national reporting",
                e.projected_winner.as_deref().unwrap_or("-"),
                100.0 * e.reported
            );
        }
        None => {
            let _ = writeln!(out, "winner projected only at the end");
        }
    }
    let wrong: u32 = ever_wrong.values().sum();
    let states: Vec<&str> = ever_wrong.keys().map(String::as_str).collect();
    let _ = match states.is_empty() {
        true => writeln!(out, "wrong projections over the night: 0"),
        false => writeln!(
            out,
            "wrong projections over the night: {wrong} (in {})",
            states.join(", ")
        ),
    };
    out
}
