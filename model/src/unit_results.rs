//! Results by reporting unit (county): what a newsroom lists under a state, each unit with its
//! votes, the votes expected there, % in, leader, margin and swing.
//!
//! Units travel beside the national document, not in its JSON (3,000 units would multiply every
//! publication's size): `GET /api/results?state=PA` lists one state's, and
//! `/api/results.csv?level=county` has them all.

use crate::results::Results;
use crate::tallies::Tallies;
use crate::units::County;
use crate::vote::{CandidateId, State};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::Arc;

/// One reporting unit's results.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnitResult {
    /// The unit's 5-digit FIPS code.
    pub county: String,
    /// Its name.
    pub name: String,
    /// Votes counted in it.
    pub votes: u64,
    /// Votes expected in it; `null` without a county-level expectation.
    pub expected_votes: Option<u64>,
    /// `votes / expected_votes`, at most 1.
    pub reported: Option<f64>,
    /// Who leads (none on a tie or no votes).
    pub leader: Option<String>,
    /// The lead over the second, as a share of the unit's votes.
    pub margin: f64,
    /// Party → change in its share of the unit since the baseline election, in points.
    pub swing: BTreeMap<String, f64>,
    /// Candidate → votes in the unit.
    pub candidates: BTreeMap<String, u64>,
}

/// Every state's units (USPS code → its units by code), shared by the publications that have
/// the same counts.
pub type UnitResults = Arc<BTreeMap<String, Vec<UnitResult>>>;

impl UnitResult {
    pub(crate) fn new(county: County, candidates: BTreeMap<String, u64>) -> UnitResult {
        let (leader, margin, votes) = crate::results::lead(candidates.iter().map(|(name, n)| (name, *n)));
        UnitResult {
            county: county.to_string(),
            name: county.info().map_or_else(String::new, |info| info.name.clone()),
            votes,
            expected_votes: None,
            reported: None,
            leader: leader.cloned(),
            margin,
            swing: BTreeMap::new(),
            candidates,
        }
    }
}

/// The units counted in `tallies`, named by `name_of`.
pub(crate) fn counted_units(tallies: &Tallies, name_of: impl Fn(&CandidateId) -> String) -> UnitResults {
    let mut by_county: BTreeMap<County, BTreeMap<String, u64>> = BTreeMap::new();
    for (key, &count) in &tallies.units {
        *by_county
            .entry(key.county)
            .or_default()
            .entry(name_of(&key.candidate))
            .or_default() += count;
    }
    let mut units: BTreeMap<String, Vec<UnitResult>> = BTreeMap::new();
    for (county, candidates) in by_county {
        if let Some(state) = county.state() {
            units
                .entry(state.code().to_string())
                .or_default()
                .push(UnitResult::new(county, candidates));
        }
    }
    Arc::new(units)
}

impl Results {
    /// Each unit's expected votes and % in, with every expected unit listed (unreported ones at
    /// 0 votes), from the votes expected per county (`Expected::counties`).
    pub(crate) fn expect_units(&mut self, expected: &BTreeMap<County, u64>) {
        if expected.is_empty() {
            return;
        }
        let units = Arc::make_mut(&mut self.units);
        for (&county, &votes) in expected {
            let Some(state) = county.state() else { continue };
            let list = units.entry(state.code().to_string()).or_default();
            let code = county.to_string();
            let at = match list.binary_search_by(|unit| unit.county.cmp(&code)) {
                Ok(at) => at,
                Err(at) => {
                    list.insert(at, UnitResult::new(county, BTreeMap::new()));
                    at
                }
            };
            let unit = &mut list[at];
            unit.expected_votes = Some(votes);
            unit.reported = Some(if votes == 0 {
                1.0
            } else {
                (unit.votes as f64 / votes as f64).min(1.0)
            });
        }
    }

    /// The units of `state`, by code.
    pub fn units_of(&self, state: State) -> &[UnitResult] {
        self.units.get(state.code()).map_or(&[], Vec::as_slice)
    }
}
