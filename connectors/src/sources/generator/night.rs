//! An election night: a scenario's exact records in the order a night reports them.
//!
//! The model, for every reporting unit (a county, or the whole state in a table by state):
//! - no unit reports before its state's polls close (`PollClosings`);
//! - **small units first**: a unit starts reporting [`FIRST_RESULTS_HOURS`] after its state's
//!   closing, plus [`START_SPREAD_HOURS`] × the share of the state's votes cast in units smaller
//!   than it. A state's smallest county starts at once, its largest once everything smaller is
//!   under way: rural counties lead the count and big cities follow, as on real nights;
//! - each unit counts most of its ballots (`1 − LATE_SHARE`) on a front-loaded curve over
//!   [`COUNT_HOURS`] (at `start + COUNT_HOURS × (1 − √(1 − u))`, `u` uniform by seed), and the
//!   rest (mail and provisional ballots, `LATE_SHARE`) evenly over [`LATE_HOURS`] after that;
//! - within a unit, which ballot comes when is a seeded permutation, so no candidate's ballots
//!   are held back: the shift of a state's count through the night (its "red mirage") comes
//!   only from which places have reported.
//!
//! The whole night, from the first closing to the last closing plus [`REPORTING_HOURS`], is
//! compressed into the night's length of wall time. Records are ordered by report time, so slot
//! `k` is the `k`-th to report. Every unit's records are exactly its scenario rows. The plan
//! holds 10 bytes per voter, so a night is limited to [`MAX_NIGHT_VOTERS`].

use super::{permute, splitmix, GeneratorError, Scenario};
use std::collections::BTreeMap;
use std::time::Duration;
use tally_model::reference::PollClosings;
use tally_model::State;

/// Hours from a state's poll closing to its first results.
pub const FIRST_RESULTS_HOURS: f64 = 0.25;
/// Hours over which a state's units start, smallest first.
pub const START_SPREAD_HOURS: f64 = 1.25;
/// Hours over which a unit counts its ballots, once started.
pub const COUNT_HOURS: f64 = 1.5;
/// The share of each unit's ballots counted late.
pub const LATE_SHARE: f64 = 0.2;
/// Hours over which the late ballots come in, after the unit's count.
pub const LATE_HOURS: f64 = 1.0;
/// Hours from a state's poll closing until its whole count is in.
pub const REPORTING_HOURS: f64 = FIRST_RESULTS_HOURS + START_SPREAD_HOURS + COUNT_HOURS + LATE_HOURS;

/// The most voters a night is planned for (about 200 MB of plan).
pub const MAX_NIGHT_VOTERS: u64 = 20_000_000;

/// A unit's rows of the scenario, as (first scenario index, records).
type Rows = Vec<(u64, u64)>;

/// A planned night.
#[derive(Clone, Debug)]
pub struct Night {
    /// Per slot: the index in `units` of the slot's unit.
    unit_of: Vec<u16>,
    /// Per slot: how many of its unit's records reported before it.
    rank: Vec<u32>,
    /// Per slot: when it reports, in hours after the first polls close; never decreasing.
    hours: Vec<f32>,
    /// Per unit: its rows of the scenario as (first scenario index, records).
    units: Vec<Vec<(u64, u64)>>,
    /// Hours from the first closing to the end of the night.
    span: f64,
    length: Duration,
    seed: u64,
}

impl Night {
    /// Plans `scenario`'s night: its records in report order after `closings`, by `seed`,
    /// compressed into `length` of wall time.
    pub fn new(
        scenario: &Scenario,
        closings: &PollClosings,
        seed: u64,
        length: Duration,
    ) -> Result<Night, GeneratorError> {
        let voters = scenario.voters();
        if voters > MAX_NIGHT_VOTERS {
            return Err(GeneratorError::TooManyVoters {
                what: format!("a night of {voters} voters (at most {MAX_NIGHT_VOTERS}; use a smaller --scale)"),
            });
        }
        // Units in order of (state, county); each with its rows.
        let mut by_unit: BTreeMap<(State, Option<&str>), Rows> = BTreeMap::new();
        let mut start = 0;
        for (cell, &upto) in scenario.cells.iter().zip(&scenario.cumulative) {
            let rows = by_unit.entry((cell.state, cell.county.as_deref())).or_default();
            if upto > start {
                rows.push((start, upto - start));
            }
            start = upto;
        }
        if by_unit.len() > usize::from(u16::MAX) {
            return Err(GeneratorError::TooManyUnits(by_unit.len()));
        }
        let first = closings.0.values().copied().fold(f64::MAX, f64::min);
        let last = closings.0.values().copied().fold(f64::MIN, f64::max);
        let span = (last - first + REPORTING_HOURS).max(f64::EPSILON);
        let count = |rows: &[(u64, u64)]| -> u64 { rows.iter().map(|(_, n)| n).sum() };
        // Each unit's start: its state's closing, then by the share of the state's votes in
        // smaller units (ties by code, so the plan depends on the seed alone).
        let mut starts: Vec<f64> = vec![0.0; by_unit.len()];
        let mut states: BTreeMap<State, Vec<(u64, usize)>> = BTreeMap::new();
        for (index, ((state, _), rows)) in by_unit.iter().enumerate() {
            states.entry(*state).or_default().push((count(rows), index));
        }
        for (state, mut units) in states {
            let close = closings.0.get(&state).copied().unwrap_or(last) - first;
            let total: u64 = units.iter().map(|(n, _)| n).sum();
            units.sort();
            let mut smaller = 0u64;
            for (n, index) in units {
                let below = if total == 0 { 0.0 } else { smaller as f64 / total as f64 };
                starts[index] = close + FIRST_RESULTS_HOURS + START_SPREAD_HOURS * below;
                smaller += n;
            }
        }
        let mut reports: Vec<(f32, u16)> = Vec::with_capacity(voters as usize);
        for (index, rows) in by_unit.values().enumerate() {
            for j in 0..count(rows) {
                let u = (splitmix(seed ^ ((index as u64 + 1) << 40) ^ j) >> 11) as f64 / (1u64 << 53) as f64;
                let after = if u < 1.0 - LATE_SHARE {
                    COUNT_HOURS * (1.0 - (1.0 - u / (1.0 - LATE_SHARE)).sqrt())
                } else {
                    COUNT_HOURS + LATE_HOURS * (u - (1.0 - LATE_SHARE)) / LATE_SHARE
                };
                reports.push(((starts[index] + after) as f32, index as u16));
            }
        }
        // Stable: equal times keep unit order, so the plan depends on the seed alone.
        reports.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut reported = vec![0u32; by_unit.len()];
        let mut night = Night {
            unit_of: Vec::with_capacity(reports.len()),
            rank: Vec::with_capacity(reports.len()),
            hours: Vec::with_capacity(reports.len()),
            units: by_unit.into_values().collect(),
            span,
            length,
            seed,
        };
        for (hours, unit) in reports {
            night.unit_of.push(unit);
            night.rank.push(reported[usize::from(unit)]);
            night.hours.push(hours);
            reported[usize::from(unit)] += 1;
        }
        Ok(night)
    }

    /// The scenario index of slot `k`'s record.
    pub fn scenario_index(&self, k: u64) -> u64 {
        let unit = usize::from(self.unit_of[k as usize]);
        let rows = &self.units[unit];
        let count: u64 = rows.iter().map(|(_, n)| n).sum();
        let mut j = permute(
            u64::from(self.rank[k as usize]),
            count,
            self.seed ^ ((unit as u64 + 1) << 44),
        );
        for (start, n) in rows {
            if j < *n {
                return start + j;
            }
            j -= n;
        }
        unreachable!("a rank within the unit's count lands in one of its rows")
    }

    /// When slot `k` is due, from the night's start, in wall time.
    pub fn due_at(&self, k: u64) -> Duration {
        let hours = self.hours.get(k as usize).copied().unwrap_or(self.span as f32);
        self.length.mul_f64((f64::from(hours) / self.span).clamp(0.0, 1.0))
    }

    /// When slot `k` reports, in hours after the first polls close.
    pub fn hours(&self, k: u64) -> f64 {
        f64::from(self.hours.get(k as usize).copied().unwrap_or(0.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_model::reference::{poll_closing_2020, president_2020};

    #[test]
    fn no_state_reports_before_its_polls_close_and_every_record_is_the_scenarios() {
        let scenario = Scenario::new(president_2020(), 0.0005).unwrap();
        let closings = poll_closing_2020();
        let night = Night::new(&scenario, closings, 7, Duration::from_secs(180)).unwrap();
        let first = closings.0.values().copied().fold(f64::MAX, f64::min);
        let mut seen = vec![0u64; scenario.cells.len()];
        let mut last_due = Duration::ZERO;
        for k in 0..scenario.voters() {
            let index = night.scenario_index(k);
            let state = scenario.cell(index).state;
            let opened = closings.0[&state] - first;
            assert!(
                night.hours(k) + 1e-4 >= opened,
                "{} reports before its polls close",
                state.code()
            );
            assert!(night.due_at(k) >= last_due, "slots are in report order");
            last_due = night.due_at(k);
            let row = scenario.cumulative.partition_point(|&upto| upto <= index);
            seen[row] += 1;
        }
        // Every scenario index exactly once: each row's count.
        let mut start = 0;
        for (row, &upto) in scenario.cumulative.iter().enumerate() {
            assert_eq!(seen[row], upto - start, "row {row}");
            start = upto;
        }
        assert!(last_due <= Duration::from_secs(180));
        // The first to report are from the 6 p.m. states (Indiana, Kentucky).
        let state = scenario.cell(night.scenario_index(0)).state;
        assert!(["IN", "KY"].contains(&state.code()), "{}", state.code());
        let again = Night::new(&scenario, closings, 7, Duration::from_secs(180)).unwrap();
        assert!((0..scenario.voters()).all(|k| again.scenario_index(k) == night.scenario_index(k)));
    }
}

#[cfg(test)]
mod history {
    //! The night against what real nights did, from the model's rules alone.
    use super::*;
    use crate::sources::generator::{GeneratorConfig, VoterGenerator};
    use tally_model::codec::decode;
    use tally_model::reference::{poll_closing_2020, poll_closing_2024, president_by_county};
    use tally_model::swing::{apply_swing, Baseline};
    use tally_model::tallies::{Tallies, Tally};
    use tally_model::{Apportionment, Expected, Results};
    use tally_source::RecordBatch;

    /// Every record of a night of `year` at `scale`, in report order.
    fn night_records(year: u16, scale: f64, closings: &PollClosings) -> Vec<Vec<u8>> {
        let scenario = Scenario::new(president_by_county(year).unwrap(), scale).unwrap();
        let voters = scenario.voters();
        let generator = VoterGenerator::new(GeneratorConfig {
            seed: 11,
            scenario: Some(scenario),
            night: Some((closings.clone(), Duration::from_secs(60))),
            ..Default::default()
        })
        .unwrap();
        let mut batch = RecordBatch::default();
        (0..voters).for_each(|k| generator.slot(k, 0, &mut batch));
        batch.iter().map(|(_, record)| record.to_vec()).collect()
    }

    #[test]
    fn in_2020_trump_leads_the_rust_belt_after_a_fifth_is_in_and_biden_wins_it() {
        let scale = 0.002;
        let records = night_records(2020, scale, poll_closing_2020());
        let expected = Expected::from_rows(president_by_county(2020).unwrap(), scale);
        for code in ["PA", "MI", "WI"] {
            let state = State::lookup(code).unwrap();
            let expected = expected.states[&state] as f64;
            let (mut biden, mut trump, mut trump_led_late) = (0u64, 0u64, false);
            for record in &records {
                let ballot = decode(record).unwrap();
                if ballot.state != state {
                    continue;
                }
                assert!(ballot.county.is_some_and(|c| c.state() == Some(state)));
                match ballot.decision.as_ref() {
                    "Biden" => biden += 1,
                    "Trump" => trump += 1,
                    _ => {}
                }
                if (biden + trump) as f64 >= 0.2 * expected && trump > biden {
                    trump_led_late = true;
                }
            }
            assert!(trump_led_late, "{code}: Trump never led after a fifth was in");
            assert!(biden > trump, "{code}: Biden wins in the end ({biden} to {trump})");
        }
    }

    #[test]
    fn at_a_tenth_in_the_like_for_like_swing_is_within_a_point_of_the_final() {
        let scale = 0.002;
        let rows = president_by_county(2024).unwrap();
        let records = night_records(2024, scale, poll_closing_2024());
        let expected = Expected::from_rows(rows, scale);
        let parties: Vec<(String, String)> = rows.iter().map(|r| (r.candidate.clone(), r.party.clone())).collect();
        let baseline = Baseline::new(president_by_county(2020).unwrap(), &parties);
        let total: u64 = expected.states.values().sum();
        let results = |tallies: &Tallies| {
            let mut results =
                Results::new(tallies, 0, false, Apportionment::Census2020).with_expectation(Some(&expected));
            apply_swing(&mut results, &baseline);
            results
        };
        let mut tallies = Tallies::default();
        let mut at_tenth = None;
        for (counted, record) in records.iter().enumerate() {
            let ballot = decode(record).unwrap();
            let key = ballot.vote_key();
            tallies.apply(&Tally::Candidate(key.cube.candidate, ballot.decision.to_string()), 1);
            tallies.apply(&Tally::Vote(key.cube), 1);
            tallies.apply(&Tally::Unit(key.unit().unwrap()), 1);
            if at_tenth.is_none() && counted as u64 + 1 == total / 10 {
                at_tenth = Some(results(&tallies));
            }
        }
        let (early, last) = (at_tenth.unwrap(), results(&tallies));
        let party = "REPUBLICAN";
        let (early, last) = (early.swing[party], last.swing[party]);
        println!("swing at 10%: {early:+.2}, final: {last:+.2}");
        assert!((early - last).abs() < 1.0, "at 10%: {early:+.2}, final: {last:+.2}");
        // The naive comparison, the partial count against the whole of 2020, is far off.
        assert!(last.abs() < 5.0, "{last}");
    }
}
