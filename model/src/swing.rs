//! Swing against a previous election: per state and nationally, for each party, the change in
//! its share of the votes, in percentage points (`+2.5` is 2.5 points more than last time).
//!
//! Elections are compared party by party, since candidates change: a candidate's party comes
//! from a candidates file, else the tables (the expectation's, then the baseline's own rows).
//! Candidates of no known party are left out of every swing.

use crate::reference::OfficialRow;
use crate::results::Results;
use crate::units::County;
use crate::vote::State;
use std::collections::BTreeMap;

/// A previous election's votes by state and party, and which party each candidate stands for.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Baseline {
    states: BTreeMap<State, BTreeMap<String, u64>>,
    /// The same by county, from a county table.
    counties: BTreeMap<County, BTreeMap<String, u64>>,
    /// Candidate name → party.
    parties: BTreeMap<String, String>,
}

impl Baseline {
    /// The previous election `rows`, with candidates' parties from `parties` first (a
    /// candidates file, the expectation's table), then from `rows` themselves.
    pub fn new(rows: &[OfficialRow], parties: &[(String, String)]) -> Baseline {
        let mut baseline = Baseline::default();
        for row in rows {
            if row.party.is_empty() {
                continue;
            }
            *baseline
                .states
                .entry(row.state)
                .or_default()
                .entry(row.party.clone())
                .or_default() += row.votes;
            if let Some(county) = row.county {
                *baseline
                    .counties
                    .entry(county)
                    .or_default()
                    .entry(row.party.clone())
                    .or_default() += row.votes;
            }
            baseline
                .parties
                .entry(row.candidate.clone())
                .or_insert_with(|| row.party.clone());
        }
        for (candidate, party) in parties.iter().filter(|(_, party)| !party.is_empty()) {
            baseline.parties.insert(candidate.clone(), party.clone());
        }
        baseline
    }

    /// The party `candidate` stands for, as the baseline knows it.
    pub fn party_of(&self, candidate: &str) -> Option<&str> {
        self.parties.get(candidate).map(String::as_str)
    }

    /// `state`'s margin between two parties (the first's share minus the second's) in the
    /// baseline election.
    pub fn state_margin(&self, state: State, parties: [&str; 2]) -> Option<f64> {
        margin(self.states.get(&state)?, parties)
    }

    /// The same for `county`.
    pub fn county_margin(&self, county: County, parties: [&str; 2]) -> Option<f64> {
        margin(self.counties.get(&county)?, parties)
    }

    /// Party → change in share, in points, of `now` (candidate → votes) against `then` (party →
    /// votes); only for parties in both, and nothing when either has no votes.
    fn swing(&self, now: &BTreeMap<String, u64>, then: &BTreeMap<String, u64>) -> BTreeMap<String, f64> {
        let now_total: u64 = now.values().sum();
        let then_total: u64 = then.values().sum();
        if now_total == 0 || then_total == 0 {
            return BTreeMap::new();
        }
        let mut by_party: BTreeMap<&str, u64> = BTreeMap::new();
        for (candidate, votes) in now {
            if let Some(party) = self.parties.get(candidate) {
                *by_party.entry(party).or_default() += votes;
            }
        }
        then.iter()
            .filter_map(|(party, &then_votes)| {
                let now_votes = *by_party.get(party.as_str())?;
                let points = 100.0 * (now_votes as f64 / now_total as f64 - then_votes as f64 / then_total as f64);
                Some((party.clone(), points))
            })
            .collect()
    }
}

/// Sets `results`' swing, per unit, per state and nationally, against `baseline`, like for like:
/// a state's swing is the average of its counted units' swings (each unit's counted votes
/// against the same unit's baseline), and the national swing the same over every counted unit
/// in the country. A state whose counted votes name no unit the baseline has (records without
/// counties, or units that changed, as Connecticut's in 2024) is one unit: its count against its
/// own baseline. So a partial count is compared with the same places last time, not with the
/// whole of last time.
///
/// Each unit weighs as the votes counted in it. Weighing by the votes expected there instead
/// lets a unit with a handful of ballots in speak for all of its expected vote: on the 2024
/// night at 0.2%, that read R+4.8 at 10% reporting against R+2.4 at the end.
pub fn apply_swing(results: &mut Results, baseline: &Baseline) {
    let none = BTreeMap::new();
    let units = std::sync::Arc::make_mut(&mut results.units);
    let mut national: Vec<(f64, BTreeMap<String, f64>)> = Vec::new();
    for (code, state) in results.states.iter_mut() {
        let mut matched: Vec<(f64, BTreeMap<String, f64>)> = Vec::new();
        for unit in units.get_mut(code).into_iter().flatten() {
            let then = County::parse(&unit.county).and_then(|county| baseline.counties.get(&county));
            let Some(then) = then else { continue };
            unit.swing = baseline.swing(&unit.candidates, then);
            if unit.votes > 0 && !unit.swing.is_empty() {
                matched.push((unit.votes as f64, unit.swing.clone()));
            }
        }
        if matched.is_empty() {
            let then = State::lookup(code)
                .and_then(|s| baseline.states.get(&s))
                .unwrap_or(&none);
            state.swing = baseline.swing(results.by_state.get(code).unwrap_or(&none), then);
            if !state.swing.is_empty() {
                national.push((state.votes as f64, state.swing.clone()));
            }
        } else {
            state.swing = weighted_mean(&matched);
            national.extend(matched);
        }
    }
    results.swing = weighted_mean(&national);
}

/// The first party's share minus the second's in `votes` (party → votes).
fn margin(votes: &BTreeMap<String, u64>, parties: [&str; 2]) -> Option<f64> {
    let total: u64 = votes.values().sum();
    let of = |party: &str| votes.get(party).copied().unwrap_or(0) as f64;
    (total > 0).then(|| (of(parties[0]) - of(parties[1])) / total as f64)
}

/// Per party, the mean of its swings weighted by each unit's weight (over the units that have
/// that party).
fn weighted_mean(swings: &[(f64, BTreeMap<String, f64>)]) -> BTreeMap<String, f64> {
    let mut sums: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (weight, swing) in swings {
        for (party, points) in swing {
            let sum = sums.entry(party.clone()).or_default();
            sum.0 += weight * points;
            sum.1 += weight;
        }
    }
    sums.into_iter()
        .filter(|(_, (_, weight))| *weight > 0.0)
        .map(|(party, (sum, weight))| (party, sum / weight))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Apportionment;
    use crate::tallies::{Tallies, Tally};
    use crate::vote::{AgeGroup, CandidateId, CubeKey, Gender};

    fn row(state: &str, candidate: &str, party: &str, votes: u64) -> OfficialRow {
        OfficialRow {
            county: None,
            state: State::lookup(state).unwrap(),
            candidate: candidate.into(),
            party: party.into(),
            votes,
        }
    }

    #[test]
    fn swing_is_the_change_in_each_partys_share_in_points_matched_by_party() {
        // Then: OH 60/40, TX 50/50. Now, with new candidates: OH 55/45, TX 45/55.
        let then = [
            row("OH", "Old D", "DEMOCRAT", 600),
            row("OH", "Old R", "REPUBLICAN", 400),
            row("TX", "Old D", "DEMOCRAT", 500),
            row("TX", "Old R", "REPUBLICAN", 500),
        ];
        let parties = [
            ("New D".to_string(), "DEMOCRAT".to_string()),
            ("New R".to_string(), "REPUBLICAN".to_string()),
        ];
        let baseline = Baseline::new(&then, &parties);
        let mut tallies = Tallies::default();
        for (state, name, votes) in [
            ("OH", "New D", 55),
            ("OH", "New R", 45),
            ("TX", "New D", 45),
            ("TX", "New R", 55),
        ] {
            let id = CandidateId::of(name);
            tallies.apply(&Tally::Candidate(id, name.to_string()), 1);
            let key = CubeKey {
                state: State::lookup(state).unwrap(),
                gender: Gender::Male,
                age_group: AgeGroup::From45To64,
                candidate: id,
            };
            tallies.apply(&Tally::Vote(key), votes);
        }
        let mut results = Results::new(&tallies, 1, false, Apportionment::Census2020);
        apply_swing(&mut results, &baseline);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        assert!(close(results.states["OH"].swing["DEMOCRAT"], -5.0));
        assert!(close(results.states["OH"].swing["REPUBLICAN"], 5.0));
        assert!(close(results.states["TX"].swing["DEMOCRAT"], -5.0));
        // Nationally: 100/200 now against 1100/2000 then.
        assert!(close(results.swing["DEMOCRAT"], 50.0 - 55.0));
        // A state without votes now has no swing.
        assert!(results.states["CA"].swing.is_empty());
    }

    #[test]
    fn a_partial_count_is_compared_with_the_same_places_last_time() {
        // Then: county A 80/20 (R), county B 30/70 (D): the state was 55/45 D.
        let unit = |county: u32, name: &str, party: &str, votes: u64| OfficialRow {
            county: Some(County(county)),
            ..row("PA", name, party, votes)
        };
        let then = [
            unit(42001, "Old R", "REPUBLICAN", 80),
            unit(42001, "Old D", "DEMOCRAT", 20),
            unit(42101, "Old R", "REPUBLICAN", 30),
            unit(42101, "Old D", "DEMOCRAT", 70),
        ];
        let parties = [
            ("New D".to_string(), "DEMOCRAT".to_string()),
            ("New R".to_string(), "REPUBLICAN".to_string()),
        ];
        let baseline = Baseline::new(&then, &parties);
        // Now only county A has reported, at 75/25: five points more Republican than it was.
        let mut tallies = Tallies::default();
        for (name, votes) in [("New D", 25), ("New R", 75)] {
            let id = CandidateId::of(name);
            tallies.apply(&Tally::Candidate(id, name.to_string()), 1);
            let cube = CubeKey {
                state: State::lookup("PA").unwrap(),
                gender: Gender::Male,
                age_group: AgeGroup::From45To64,
                candidate: id,
            };
            tallies.apply(&Tally::Vote(cube), votes);
            let unit = crate::vote::UnitKey {
                county: County(42001),
                candidate: id,
            };
            tallies.apply(&Tally::Unit(unit), votes);
        }
        let mut results = Results::new(&tallies, 1, false, Apportionment::Census2020);
        apply_swing(&mut results, &baseline);
        let close = |a: f64, b: f64| (a - b).abs() < 1e-9;
        // Against the whole state last time it would read R+30; like for like it is R−5.
        assert!(close(results.swing["REPUBLICAN"], -5.0), "{:?}", results.swing);
        assert!(close(results.states["PA"].swing["REPUBLICAN"], -5.0));
        let units = results.units_of(State::lookup("PA").unwrap());
        assert_eq!(units.len(), 1);
        assert!(close(units[0].swing["DEMOCRAT"], 5.0));
    }
}
