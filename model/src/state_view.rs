//! One state's results (`GET /api/results?state=PA`, and the candidates, gender and age charts
//! with `?state=`): the same cube as the national document, cut at one state, so the states'
//! documents sum to the national one.

use crate::results::{CandidateResult, Results, StateDetail};
use crate::unit_results::UnitResult;
use crate::units::County;
use crate::vote::State;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One state's document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StateDocument {
    /// The publication's epoch.
    pub epoch: u64,
    /// When it was computed (milliseconds since the Unix epoch).
    pub as_of: i64,
    /// True once the input has ended.
    pub complete: bool,
    /// The USPS code.
    pub state: String,
    /// The state's name.
    pub name: String,
    /// Votes counted in the state.
    pub votes: u64,
    /// Its electoral votes.
    pub electoral_votes: u32,
    /// Votes expected; `null` without an expectation.
    pub expected_votes: Option<u64>,
    /// `votes / expected_votes`, at most 1.
    pub reported: Option<f64>,
    /// Who leads (none on a tie or no votes).
    pub leader: Option<String>,
    /// The lead over the second, as a share of the state's votes.
    pub margin: f64,
    /// Who the state is called for, once no outstanding vote could change it.
    pub called: Option<String>,
    /// When it was first called (milliseconds since the Unix epoch).
    pub called_at: Option<i64>,
    /// Party → change in its share of the state since the baseline election, in points.
    pub swing: BTreeMap<String, f64>,
    /// Candidates by votes in the state, most first (ties by name), with their share of it.
    pub candidates: Vec<StateCandidate>,
    /// Gender → candidate → votes.
    pub by_gender: BTreeMap<String, BTreeMap<String, u64>>,
    /// Age group → candidate → votes.
    pub by_age_group: BTreeMap<String, BTreeMap<String, u64>>,
    /// The state's reporting units (counties), by FIPS code: those counted, and with a
    /// county-level expectation every one expected.
    pub units: Vec<crate::unit_results::UnitResult>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
/// One candidate in the state.
pub struct StateCandidate {
    /// The name.
    pub name: String,
    /// Votes in the state.
    pub votes: u64,
    /// Share of the state's votes.
    pub share: f64,
}

impl Results {
    /// The document of `state`.
    pub fn state_document(&self, state: State) -> StateDocument {
        let code = state.code();
        let summary = self.states.get(code);
        let detail = self.state_details.get(code).cloned().unwrap_or_default();
        let votes = summary.map_or(0, |s| s.votes);
        let mut candidates: Vec<StateCandidate> = self
            .by_state
            .get(code)
            .into_iter()
            .flatten()
            .map(|(name, &count)| StateCandidate {
                name: name.clone(),
                votes: count,
                share: if votes == 0 { 0.0 } else { count as f64 / votes as f64 },
            })
            .collect();
        candidates.sort_by(|a, b| b.votes.cmp(&a.votes).then_with(|| a.name.cmp(&b.name)));
        StateDocument {
            epoch: self.epoch,
            as_of: self.as_of,
            complete: self.complete,
            state: code.to_string(),
            name: state.name().to_string(),
            votes,
            electoral_votes: summary.map_or(0, |s| s.electoral_votes),
            expected_votes: summary.and_then(|s| s.expected_votes),
            reported: summary.and_then(|s| s.reported),
            leader: summary.and_then(|s| s.leader.clone()),
            margin: summary.map_or(0.0, |s| s.margin),
            called: summary.and_then(|s| s.called.clone()),
            called_at: summary.and_then(|s| s.called_at),
            swing: summary.map(|s| s.swing.clone()).unwrap_or_default(),
            candidates,
            by_gender: detail.by_gender,
            by_age_group: detail.by_age_group,
            units: self.units_of(state).to_vec(),
        }
    }

    /// These results cut at `state`, in the national document's shape, for the charts that
    /// draw candidates, gender and age: the state's candidates (its electoral votes to its
    /// leader), and its votes by gender and by age group.
    pub fn for_state(&self, state: State) -> Results {
        let document = self.state_document(state);
        let candidates = document
            .candidates
            .iter()
            .map(|c| CandidateResult {
                name: c.name.clone(),
                votes: c.votes,
                share: c.share,
                electoral_votes: match &document.leader {
                    Some(leader) if *leader == c.name => document.electoral_votes,
                    _ => 0,
                },
                party: self
                    .candidates
                    .iter()
                    .find(|n| n.name == c.name)
                    .and_then(|n| n.party.clone()),
                color: self
                    .candidates
                    .iter()
                    .find(|n| n.name == c.name)
                    .and_then(|n| n.color.clone()),
            })
            .collect();
        Results {
            votes: document.votes,
            candidates,
            by_gender: document.by_gender,
            by_age_group: document.by_age_group,
            ..self.clone()
        }
    }
}

/// What the national document's JSON leaves out but a state's document shows: each state's votes
/// by gender and age group, and each reporting unit's votes. Kept with a snapshot, so that a
/// restarted job shows the states' documents as published while it replays.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Drilldown {
    /// USPS code → the state's votes by gender and by age group.
    pub states: BTreeMap<String, StateDetail>,
    /// FIPS code → candidate → votes in that unit.
    pub units: BTreeMap<String, BTreeMap<String, u64>>,
}

impl Results {
    /// The counts behind the states' documents.
    pub fn drilldown(&self) -> Drilldown {
        let units = self
            .units
            .values()
            .flatten()
            .map(|unit| (unit.county.clone(), unit.candidates.clone()))
            .collect();
        Drilldown {
            states: self.state_details.clone(),
            units,
        }
    }

    /// These results with `drilldown`'s counts behind their states' documents (a unit whose
    /// code is no county is left out, as a record naming it would be rejected).
    pub fn with_drilldown(mut self, drilldown: Drilldown) -> Results {
        let mut units: BTreeMap<String, Vec<UnitResult>> = BTreeMap::new();
        for (code, candidates) in drilldown.units {
            let Some(county) = County::parse(&code) else { continue };
            let Some(state) = county.state() else { continue };
            units
                .entry(state.code().to_string())
                .or_default()
                .push(UnitResult::new(county, candidates));
        }
        self.state_details = drilldown.states;
        self.units = std::sync::Arc::new(units);
        self
    }
}

#[cfg(test)]
mod tests {
    use crate::reference::Apportionment;
    use crate::tallies::{Tallies, Tally};
    use crate::vote::{AgeGroup, CandidateId, CubeKey, Gender, State};
    use crate::Results;
    use std::collections::BTreeMap;

    #[test]
    fn the_states_documents_sum_to_the_national_one() {
        let mut tallies = Tallies::default();
        let cells = [
            ("TX", Gender::Male, AgeGroup::From18To29, "A", 5),
            ("TX", Gender::Female, AgeGroup::From65, "B", 3),
            ("OH", Gender::Female, AgeGroup::From18To29, "A", 2),
            ("OH", Gender::Male, AgeGroup::From45To64, "B", 7),
        ];
        for (state, gender, age_group, name, count) in cells {
            let candidate = CandidateId::of(name);
            tallies.apply(&Tally::Candidate(candidate, name.to_string()), 1);
            let state = State::lookup(state).unwrap();
            tallies.apply(
                &Tally::Vote(CubeKey {
                    state,
                    gender,
                    age_group,
                    candidate,
                }),
                count,
            );
        }
        let national = Results::new(&tallies, 4, false, Apportionment::Census2020);
        let mut by_gender: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut by_age_group: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut votes = 0;
        for state in State::all() {
            let document = national.state_document(state);
            votes += document.votes;
            assert_eq!(document.votes, document.candidates.iter().map(|c| c.votes).sum::<u64>());
            for (group, counts) in document.by_gender {
                for (name, n) in counts {
                    *by_gender.entry(group.clone()).or_default().entry(name).or_default() += n;
                }
            }
            for (group, counts) in document.by_age_group {
                for (name, n) in counts {
                    *by_age_group.entry(group.clone()).or_default().entry(name).or_default() += n;
                }
            }
        }
        assert_eq!(votes, national.votes);
        let nonempty = |m: &BTreeMap<String, BTreeMap<String, u64>>| {
            m.iter()
                .filter(|(_, c)| !c.is_empty())
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect::<BTreeMap<_, _>>()
        };
        assert_eq!(nonempty(&by_gender), nonempty(&national.by_gender));
        assert_eq!(nonempty(&by_age_group), nonempty(&national.by_age_group));
        let texas = national.state_document(State::lookup("tx").unwrap());
        assert_eq!(texas.candidates[0].name, "A");
        assert_eq!(texas.candidates[0].share, 5.0 / 8.0);
        assert_eq!(texas.leader.as_deref(), Some("A"));
        let view = national.for_state(State::lookup("TX").unwrap());
        assert_eq!(view.votes, 8);
        assert_eq!(view.candidates[0].electoral_votes, 40);
        assert_eq!(view.by_gender["Female"]["B"], 3);
    }

    #[test]
    fn a_drilldown_kept_apart_from_the_json_restores_the_states_documents() {
        let tallies = crate::test_records::tallies_of(&crate::test_records::PENNSYLVANIA_AND_OHIO);
        let published = Results::new(&tallies, 3, false, crate::Apportionment::Census2020);
        let pa = State::lookup("PA").unwrap();
        assert_eq!(published.state_document(pa).units.len(), 2);

        // What a snapshot keeps: the document's JSON, and the drill-down beside it.
        let json = serde_json::to_value(&published).unwrap();
        let kept = serde_json::to_value(published.drilldown()).unwrap();
        let bare: Results = serde_json::from_value(json).unwrap();
        assert!(
            bare.state_document(pa).by_gender.is_empty(),
            "the JSON alone lacks them"
        );
        let restored = bare.with_drilldown(serde_json::from_value(kept).unwrap());
        for code in ["PA", "OH", "CA"] {
            let state = State::lookup(code).unwrap();
            assert_eq!(
                restored.state_document(state),
                published.state_document(state),
                "{code}"
            );
        }
    }
}
