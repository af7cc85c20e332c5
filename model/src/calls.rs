//! Race calls, as a newsroom makes them: a state is called for its leader only once no vote still
//! outstanding could overturn the lead; the election is won only by called electoral votes.
//!
//! **The rule.** With an expected total per state ([`Expected`]), the votes still outstanding
//! while the source runs are `ceil(1.02 × expected) − counted` (turnout may beat the expectation
//! by 2%), and none once a bounded source has ended. A state is called when its leader's lead
//! over the runner-up is greater than every vote outstanding: even if every one of them went to
//! the runner-up, the leader would still lead. No count within the bound can overturn a call.
//! Without an expectation nothing is called while the source runs (there is no bound on what is
//! still to come); at the end every state with a leader is called.
//!
//! [`Results`] computes calls from the counts alone, so the graph and the sequential fold agree
//! on them; a [`CallDesk`] adds what needs memory: when each call was made, and the log line of
//! a call the data contradicts later (turnout past the bound), which is withdrawn.

use crate::projection::Withdrawal;
use crate::reference::{Apportionment, OfficialRow, VOTES_TO_WIN};
use crate::results::Results;
use crate::tallies::Tallies;
use crate::units::County;
use crate::vote::State;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How far turnout may exceed the expectation before a call could be wrong: 2%.
pub const TURNOUT_MARGIN: f64 = 1.02;

/// Expected total votes per state (the states a table names), and per county when the table
/// is by county.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Expected {
    /// State → the votes expected there.
    pub states: BTreeMap<State, u64>,
    /// County → the votes expected there (empty for a state table).
    pub counties: BTreeMap<County, u64>,
}

impl Expected {
    /// Per state and county, the votes `rows` stand for at `scale` ([`crate::reference::scaled`]):
    /// exactly what the generator emits for a scenario of the same table and scale.
    pub fn from_rows(rows: &[OfficialRow], scale: f64) -> Expected {
        let mut expected = Expected::default();
        for (row, votes) in rows.iter().zip(crate::reference::scaled(rows, scale)) {
            *expected.states.entry(row.state).or_default() += votes;
            if let Some(county) = row.county {
                *expected.counties.entry(county).or_default() += votes;
            }
        }
        expected
    }

    /// Votes that may still come in `state` after `counted`, or `None` when nothing bounds them.
    pub fn outstanding(&self, state: State, counted: u64, complete: bool) -> Option<u64> {
        if complete {
            return Some(0);
        }
        let expected = *self.states.get(&state)?;
        let bound = (expected as f64 * TURNOUT_MARGIN).ceil() as u64;
        Some(bound.saturating_sub(counted))
    }
}

impl Results {
    /// The counts as a document, with the races called that need no expectation: every state,
    /// once the count is complete.
    pub fn new(tallies: &Tallies, epoch: u64, complete: bool, apportionment: Apportionment) -> Results {
        let mut results = Results::counted(tallies, epoch, complete, apportionment);
        call_races(&mut results, None);
        results
    }

    /// Race calls and % reporting against `expected` (none: calls only once complete).
    pub fn with_expectation(mut self, expected: Option<&Expected>) -> Results {
        call_races(&mut self, expected);
        if let Some(expected) = expected {
            self.expect_units(&expected.counties);
        }
        self
    }
}

/// Calls in `results` (`states[*].called`, `called_electoral_votes`, `winner`), from its counts
/// and `expected` (none: calls only once complete), and % reporting.
pub fn call_races(results: &mut Results, expected: Option<&Expected>) {
    let none = Expected::default();
    let expected = expected.unwrap_or(&none);
    let mut called_electoral_votes: BTreeMap<String, u32> = BTreeMap::new();
    let (mut counted_where_expected, mut expected_total) = (0u64, 0u64);
    for (code, state) in results.states.iter_mut() {
        let Some(id) = State::lookup(code) else {
            continue;
        };
        state.expected_votes = expected.states.get(&id).copied();
        state.reported = state.expected_votes.map(|e| {
            if e == 0 {
                1.0
            } else {
                (state.votes as f64 / e as f64).min(1.0)
            }
        });
        if let Some(e) = state.expected_votes {
            counted_where_expected += state.votes.min(e);
            expected_total += e;
        }
        let mut ranked: Vec<(&String, &u64)> = results
            .by_state
            .get(code)
            .map(|c| c.iter().collect())
            .unwrap_or_default();
        ranked.sort_by_key(|(_, votes)| std::cmp::Reverse(**votes));
        let first = ranked.first().map_or(0, |(_, v)| **v);
        let second = ranked.get(1).map_or(0, |(_, v)| **v);
        let outstanding = expected.outstanding(id, state.votes, results.complete);
        state.called = match (ranked.first(), outstanding) {
            (Some((leader, _)), Some(outstanding)) if first - second > outstanding => Some((*leader).clone()),
            _ => None,
        };
        if let Some(called) = &state.called {
            *called_electoral_votes.entry(called.clone()).or_default() += state.electoral_votes;
        }
    }
    results.reported = (expected_total > 0).then(|| counted_where_expected as f64 / expected_total as f64);
    results.winner = called_electoral_votes
        .iter()
        .find(|(_, votes)| **votes >= VOTES_TO_WIN)
        .map(|(name, _)| name.clone());
    results.called_electoral_votes = called_electoral_votes;
}

/// Remembers when each state was called (wall-clock milliseconds) across publications, and
/// withdraws, with a log line, a call the data contradicts later. It is saved with each
/// snapshot ([`CallDesk::through`]), so a restarted job keeps the night's call times.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CallDesk {
    /// State → (candidate, when, the votes counted then).
    calls: BTreeMap<String, (String, i64, u64)>,
    projections: BTreeMap<String, (String, i64, u64)>,
    /// With the votes counted when each was withdrawn.
    withdrawn: Vec<(Withdrawal, u64)>,
}

impl CallDesk {
    /// What a snapshot of `votes` votes can vouch for: the calls, projections and withdrawals
    /// made by then. (A restart resumes from the snapshot; later ones are made again.)
    pub fn through(&self, votes: u64) -> CallDesk {
        let made = |entries: &BTreeMap<String, (String, i64, u64)>| {
            entries
                .iter()
                .filter(|(_, entry)| entry.2 <= votes)
                .map(|(code, entry)| (code.clone(), entry.clone()))
                .collect()
        };
        CallDesk {
            calls: made(&self.calls),
            projections: made(&self.projections),
            withdrawn: self.withdrawn.iter().filter(|w| w.1 <= votes).cloned().collect(),
        }
    }

    /// Stamps `results`' calls with when they were first made (`results.as_of` for new ones).
    pub fn stamp(&mut self, results: &mut Results) {
        let votes = results.votes;
        for (code, state) in results.states.iter_mut() {
            match (&state.called, self.calls.get(code)) {
                (Some(now), Some((before, at, _))) if now == before => state.called_at = Some(*at),
                (Some(now), earlier) => {
                    if let Some((before, ..)) = earlier {
                        tracing::warn!(state = %code, "the call for {before} is withdrawn: {now} leads beyond doubt");
                    }
                    self.calls.insert(code.clone(), (now.clone(), results.as_of, votes));
                    state.called_at = Some(results.as_of);
                }
                (None, Some((before, ..))) => {
                    tracing::warn!(state = %code, "the call for {before} is withdrawn: the count no longer supports it");
                    self.calls.remove(code);
                    state.called_at = None;
                }
                (None, None) => state.called_at = None,
            }
            // Projections: when each was made; one the count contradicts is withdrawn and logged.
            let before = self.projections.get(code).cloned();
            match (&state.projected, before) {
                (Some(now), Some((was, at, _))) if *now == was => state.projected_at = Some(at),
                (now, Some((was, at, _))) => {
                    tracing::warn!(state = %code, "the projection for {was} is withdrawn: the estimate no longer supports it");
                    let withdrawal = Withdrawal {
                        state: code.clone(),
                        candidate: was,
                        projected_at: at,
                        withdrawn_at: results.as_of,
                    };
                    self.withdrawn.push((withdrawal, votes));
                    self.projections.remove(code);
                    if let Some(now) = now {
                        self.projections
                            .insert(code.clone(), (now.clone(), results.as_of, votes));
                    }
                    state.projected_at = now.as_ref().map(|_| results.as_of);
                }
                (Some(now), None) => {
                    self.projections
                        .insert(code.clone(), (now.clone(), results.as_of, votes));
                    state.projected_at = Some(results.as_of);
                }
                (None, None) => state.projected_at = None,
            }
        }
        results.withdrawn_projections = self.withdrawn.iter().map(|w| w.0.clone()).collect();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tallies::Tally;
    use crate::vote::{AgeGroup, CandidateId, CubeKey, Gender};

    fn tallies(votes: &[(&str, &str, i64)]) -> Tallies {
        let mut tallies = Tallies::default();
        for (state, candidate, count) in votes {
            let id = CandidateId::of(candidate);
            tallies.apply(&Tally::Candidate(id, candidate.to_string()), 1);
            let key = CubeKey {
                state: State::lookup(state).unwrap(),
                gender: Gender::Male,
                age_group: AgeGroup::From30To44,
                candidate: id,
            };
            tallies.apply(&Tally::Vote(key), *count);
        }
        tallies
    }

    fn expected(states: &[(&str, u64)]) -> Expected {
        Expected {
            states: states.iter().map(|(s, n)| (State::lookup(s).unwrap(), *n)).collect(),
            ..Default::default()
        }
    }

    fn results(votes: &[(&str, &str, i64)], complete: bool, expectation: Option<&Expected>) -> Results {
        Results::new(&tallies(votes), 1, complete, Apportionment::Census2020).with_expectation(expectation)
    }

    #[test]
    fn a_state_is_called_only_when_the_lead_exceeds_every_vote_outstanding() {
        // 1,000 expected: up to 1,020 may come. 600 to 300 leaves 120 outstanding: called.
        let e = expected(&[("TX", 1000), ("OH", 1000)]);
        let r = results(
            &[("TX", "A", 600), ("TX", "B", 300), ("OH", "A", 500), ("OH", "B", 300)],
            false,
            Some(&e),
        );
        assert_eq!(r.states["TX"].called.as_deref(), Some("A"));
        // 500 to 300 leaves 220 outstanding against a lead of 200: not yet.
        assert_eq!(r.states["OH"].called, None);
        assert_eq!(r.states["TX"].reported, Some(0.9));
        assert_eq!(r.states["CA"].reported, None);
        assert_eq!(r.reported, Some(1700.0 / 2000.0));
        assert_eq!(r.called_electoral_votes.get("A"), Some(&40));
        // A lead exactly equal to what is outstanding is not enough.
        let r = results(&[("OH", "A", 510), ("OH", "B", 200)], false, Some(&e));
        assert_eq!(r.states["OH"].called, None, "lead 310, outstanding 310");
        let r = results(&[("OH", "A", 511), ("OH", "B", 200)], false, Some(&e));
        assert_eq!(r.states["OH"].called.as_deref(), Some("A"), "lead 311 > 309");
    }

    #[test]
    fn the_winner_comes_from_called_electoral_votes_never_from_leads() {
        // A leads in states worth well over 270, with a handful of votes in each.
        let big = [
            "CA", "TX", "FL", "NY", "PA", "IL", "OH", "GA", "NC", "MI", "NJ", "VA", "WA",
        ];
        let votes: Vec<(&str, &str, i64)> = big.iter().map(|s| (*s, "A", 3)).collect();
        let e = Expected {
            states: big.iter().map(|s| (State::lookup(s).unwrap(), 1_000_000)).collect(),
            ..Default::default()
        };
        let running = results(&votes, false, Some(&e));
        assert!(running.candidates[0].electoral_votes >= 270);
        assert_eq!(running.winner, None);
        assert!(running.called_electoral_votes.is_empty());
        // Without an expectation nothing is called while the source runs...
        let running = results(&votes, false, None);
        assert_eq!(running.winner, None);
        // ...and every led state once it has ended.
        let done = results(&votes, true, None);
        assert_eq!(done.winner.as_deref(), Some("A"));
        assert_eq!(done.states["CA"].called.as_deref(), Some("A"));
        assert_eq!(done.states["OH"].reported, None);
    }

    #[test]
    fn a_tie_is_never_called_and_reporting_is_capped_at_one() {
        let e = expected(&[("OH", 10)]);
        let r = results(&[("OH", "A", 20), ("OH", "B", 20)], true, Some(&e));
        assert_eq!(r.states["OH"].called, None);
        assert_eq!(r.states["OH"].reported, Some(1.0));
        assert_eq!(r.reported, Some(1.0));
    }

    #[test]
    fn the_desk_keeps_the_first_call_time_and_withdraws_a_contradicted_call() {
        let e = expected(&[("TX", 1000)]);
        let mut desk = CallDesk::default();
        let mut first = results(&[("TX", "A", 600), ("TX", "B", 300)], false, Some(&e)).computed_at(100);
        desk.stamp(&mut first);
        assert_eq!(first.states["TX"].called_at, Some(100));
        let mut later = results(&[("TX", "A", 610), ("TX", "B", 300)], false, Some(&e)).computed_at(200);
        desk.stamp(&mut later);
        assert_eq!(later.states["TX"].called_at, Some(100), "the time of the first call");
        // Turnout far past the expectation: B now leads; the call for A is withdrawn.
        let mut contradicted = results(&[("TX", "A", 610), ("TX", "B", 2000)], false, Some(&e)).computed_at(300);
        desk.stamp(&mut contradicted);
        assert_eq!(contradicted.states["TX"].called.as_deref(), Some("B"));
        assert_eq!(contradicted.states["TX"].called_at, Some(300));
    }

    #[test]
    fn a_projection_keeps_its_time_and_one_the_count_contradicts_is_withdrawn_and_logged() {
        let mut desk = CallDesk::default();
        let publish = |desk: &mut CallDesk, projected: Option<&str>, at: i64| {
            let mut r = results(&[("TX", "A", 10), ("TX", "B", 9)], false, None).computed_at(at);
            r.states.get_mut("TX").expect("TX").projected = projected.map(str::to_string);
            desk.stamp(&mut r);
            r
        };
        assert_eq!(publish(&mut desk, Some("A"), 100).states["TX"].projected_at, Some(100));
        let kept = publish(&mut desk, Some("A"), 200);
        assert_eq!(kept.states["TX"].projected_at, Some(100), "the time it was first made");
        assert!(kept.withdrawn_projections.is_empty());
        let withdrawn = publish(&mut desk, None, 300);
        assert_eq!(withdrawn.states["TX"].projected_at, None);
        let logged = Withdrawal {
            state: "TX".into(),
            candidate: "A".into(),
            projected_at: 100,
            withdrawn_at: 300,
        };
        assert_eq!(withdrawn.withdrawn_projections, vec![logged.clone()]);
        // Projected for the other side later: a new projection, and the log remembers the old.
        let flipped = publish(&mut desk, Some("B"), 400);
        assert_eq!(flipped.states["TX"].projected_at, Some(400));
        assert_eq!(flipped.withdrawn_projections, vec![logged]);
    }

    #[test]
    fn a_desk_saved_at_a_count_keeps_what_was_made_by_then_and_restores_its_times() {
        let e = expected(&[("TX", 1000), ("OH", 1000)]);
        let mut desk = CallDesk::default();
        // TX is called at 900 votes; OH only at 1,100.
        let mut early = results(&[("TX", "A", 600), ("TX", "B", 300)], false, Some(&e)).computed_at(100);
        desk.stamp(&mut early);
        let mut late = results(
            &[("TX", "A", 600), ("TX", "B", 300), ("OH", "A", 150), ("OH", "B", 50)],
            false,
            Some(&e),
        )
        .computed_at(200);
        late.states.get_mut("OH").expect("OH").called = Some("A".into());
        desk.stamp(&mut late);
        // Saved with a snapshot of 1,000 votes (as JSON), then read back by a restarted job.
        let saved = serde_json::to_value(desk.through(1000)).expect("serializes");
        let mut restored: CallDesk = serde_json::from_value(saved).expect("deserializes");
        let mut again = results(&[("TX", "A", 600), ("TX", "B", 300)], false, Some(&e)).computed_at(900);
        again.states.get_mut("OH").expect("OH").called = Some("A".into());
        restored.stamp(&mut again);
        assert_eq!(
            again.states["TX"].called_at,
            Some(100),
            "made by 1,000 votes: its time kept"
        );
        assert_eq!(
            again.states["OH"].called_at,
            Some(900),
            "made after the snapshot: made again"
        );
        assert_eq!(desk.through(u64::MAX), desk);
    }
}
