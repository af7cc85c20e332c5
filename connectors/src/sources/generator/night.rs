//! An election night: a scenario's exact records in the order a night reports them.
//!
//! The model: no state reports before its polls close (`PollClosings`). From its closing on,
//! each of a state's records reports at `close + D × (1 − √(1 − u))`, `u` uniform by seed and
//! `D` = [`REPORTING_HOURS`]: a front-loaded curve (a quarter of the state's count in its first
//! half hour, three quarters in its first two hours, all of it after four). The whole night,
//! from the first closing to the last closing plus `D`, is compressed into the night's length
//! of wall time. Records are ordered by report time, so slot `k` is the `k`-th to report.
//!
//! Which record of its state a slot is follows a seeded permutation of the state's cells, so the
//! night emits exactly the scenario's records. The plan holds 9 bytes per voter, so a night is
//! limited to [`MAX_NIGHT_VOTERS`].

use super::{permute, splitmix, GeneratorError, Scenario};
use std::collections::BTreeMap;
use std::time::Duration;
use tally_model::reference::PollClosings;
use tally_model::State;

/// Hours from a state's poll closing until its whole count is in.
pub const REPORTING_HOURS: f64 = 4.0;

/// The most voters a night is planned for (about 180 MB of plan).
pub const MAX_NIGHT_VOTERS: u64 = 20_000_000;

/// A planned night.
#[derive(Clone, Debug)]
pub struct Night {
    /// Per slot: the index (in `State::all()` order) of the slot's state.
    state_of: Vec<u8>,
    /// Per slot: how many of its state's records reported before it.
    rank: Vec<u32>,
    /// Per slot: when it reports, in hours after the first polls close; never decreasing.
    hours: Vec<f32>,
    /// Per state: its rows of the scenario as (first scenario index, records).
    rows: Vec<Vec<(u64, u64)>>,
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
        let states: Vec<State> = State::all().collect();
        let index: BTreeMap<State, usize> = states.iter().enumerate().map(|(i, s)| (*s, i)).collect();
        let mut rows: Vec<Vec<(u64, u64)>> = vec![Vec::new(); states.len()];
        let mut start = 0;
        for ((state, _), &upto) in scenario.cells.iter().zip(&scenario.cumulative) {
            if upto > start {
                rows[index[state]].push((start, upto - start));
            }
            start = upto;
        }
        let first = closings.0.values().copied().fold(f64::MAX, f64::min);
        let last = closings.0.values().copied().fold(f64::MIN, f64::max);
        let span = (last - first + REPORTING_HOURS).max(f64::EPSILON);
        let mut reports: Vec<(f32, u8)> = Vec::with_capacity(voters as usize);
        for (s, state) in states.iter().enumerate() {
            let close = closings.0.get(state).copied().unwrap_or(last) - first;
            let count: u64 = rows[s].iter().map(|(_, n)| n).sum();
            for j in 0..count {
                let u = (splitmix(seed ^ ((s as u64 + 1) << 44) ^ j) >> 11) as f64 / (1u64 << 53) as f64;
                let hours = close + REPORTING_HOURS * (1.0 - (1.0 - u).sqrt());
                reports.push((hours as f32, s as u8));
            }
        }
        // Stable: equal times keep state order, so the plan depends on the seed alone.
        reports.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut reported = vec![0u32; states.len()];
        let mut night = Night {
            state_of: Vec::with_capacity(reports.len()),
            rank: Vec::with_capacity(reports.len()),
            hours: Vec::with_capacity(reports.len()),
            rows,
            span,
            length,
            seed,
        };
        for (hours, s) in reports {
            night.state_of.push(s);
            night.rank.push(reported[s as usize]);
            night.hours.push(hours);
            reported[s as usize] += 1;
        }
        Ok(night)
    }

    /// The scenario index of slot `k`'s record.
    pub fn scenario_index(&self, k: u64) -> u64 {
        let s = self.state_of[k as usize] as usize;
        let rows = &self.rows[s];
        let count: u64 = rows.iter().map(|(_, n)| n).sum();
        let mut j = permute(
            u64::from(self.rank[k as usize]),
            count,
            self.seed ^ ((s as u64 + 1) << 48),
        );
        for (start, n) in rows {
            if j < *n {
                return start + j;
            }
            j -= n;
        }
        unreachable!("a rank within the state's count lands in one of its rows")
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
            let (state, _) = scenario.cell(index);
            let opened = closings.0[state] - first;
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
        let (state, _) = scenario.cell(night.scenario_index(0));
        assert!(["IN", "KY"].contains(&state.code()), "{}", state.code());
        let again = Night::new(&scenario, closings, 7, Duration::from_secs(180)).unwrap();
        assert!((0..scenario.voters()).all(|k| again.scenario_index(k) == night.scenario_index(k)));
    }
}
