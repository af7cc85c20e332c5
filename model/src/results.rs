//! [`Results`]: the published document (`GET /api/results`), derived from [`Tallies`] at a
//! completed epoch. Every view is a marginal of the one vote cube, so all views agree.

use crate::reference::{Apportionment, VOTES_TO_WIN};
use crate::tallies::Tallies;
use crate::vote::{AgeGroup, CandidateId, Gender, RejectReason, State};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One consistent state of the election: every count reflects exactly the records of the epochs
/// before `epoch`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Results {
    /// Results include every record of every epoch before this one. An epoch is the graph's
    /// logical time: strictly increasing, and meaningful only against other epochs (a count of
    /// epochs, or, when the job snapshots, the millisecond each epoch opened, so that every
    /// process agrees on checkpoint boundaries). For the time of day, see `as_of`.
    pub epoch: u64,
    /// When these results were computed: milliseconds since the Unix epoch (0 before any).
    #[serde(default)]
    pub as_of: i64,
    /// True once the source is exhausted and these are the final numbers.
    pub complete: bool,
    /// Which census the electoral votes are apportioned by.
    pub apportionment: String,
    /// Valid votes counted.
    pub votes: u64,
    /// Records not counted, by reason (every reason is listed).
    pub rejected: BTreeMap<String, u64>,
    /// Candidates by votes, most first (ties by name).
    pub candidates: Vec<CandidateResult>,
    /// Gender → candidate → votes.
    pub by_gender: BTreeMap<String, BTreeMap<String, u64>>,
    /// Age group → candidate → votes.
    pub by_age_group: BTreeMap<String, BTreeMap<String, u64>>,
    /// USPS code → candidate → votes (states with votes only).
    pub by_state: BTreeMap<String, BTreeMap<String, u64>>,
    /// USPS code → leader, margin and electoral votes (all 50 states and DC).
    pub states: BTreeMap<String, StateResult>,
    /// Most electoral votes (then most votes); `null` before any vote.
    pub leader: Option<String>,
    /// The candidate whose called states (see [`crate::calls`]) are worth at least 270
    /// electoral votes, if any; never from leads alone.
    pub winner: Option<String>,
    /// Candidate → electoral votes of the states called for them.
    #[serde(default)]
    pub called_electoral_votes: BTreeMap<String, u32>,
    /// Votes counted over votes expected, in the states with an expectation (at most 1 in each);
    /// `null` without one.
    #[serde(default)]
    pub reported: Option<f64>,
    /// Party → change in its national share since the baseline election, in percentage
    /// points (see [`crate::swing`]); empty without a baseline.
    #[serde(default)]
    pub swing: BTreeMap<String, f64>,
    /// Electoral votes a candidate needs to win.
    pub electoral_votes_to_win: u32,
    /// What is being counted, for a page's heading (`2024 presidential election`); `null`
    /// when the job was not told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub election: Option<String>,
    /// The election's date (`YYYY-MM-DD`), as the AP-compatible feed (`/ap/v2/elections`)
    /// names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub election_date: Option<String>,
    /// True on a rehearsal or simulated night (`--test`), so it is never taken for a live count;
    /// absent on a live one.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
    /// Records never read because they were gone first (Kafka's retention deleted them while
    /// the job was down or behind). They are in no other count.
    #[serde(default)]
    pub lost: u64,
    /// Present only while a restarted job replays its archive: the counts are then those of the
    /// snapshot it recovers from (not the partial replay), and this says how far the replay is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovering: Option<RecoveryProgress>,
    /// The candidate whose projected states ([`crate::projection`]) are worth at least 270
    /// electoral votes; an estimate, unlike `winner`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected_winner: Option<String>,
    /// Candidate → electoral votes of the states projected for them (called ones included).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub projected_electoral_votes: BTreeMap<String, u32>,
    /// The level of the interval that must exclude the other candidate for a projection (0.99).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected_level: Option<f64>,
    /// Win probabilities and electoral-vote ranges from the state estimates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlook: Option<crate::outlook::Outlook>,
    /// Every projection the count later contradicted, oldest first (see [`crate::CallDesk`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub withdrawn_projections: Vec<crate::projection::Withdrawal>,
    /// USPS code → the state's votes by gender and age group, for the drill-down
    /// ([`Results::state_document`]); not part of this document's JSON.
    #[serde(skip)]
    pub state_details: BTreeMap<String, StateDetail>,
    /// USPS code → the state's reporting units ([`crate::unit_results`]); not part of this
    /// document's JSON.
    #[serde(skip)]
    pub units: crate::unit_results::UnitResults,
}

/// A state's votes by gender and by age group (group → candidate → votes), kept beside the
/// national document for the drill-down but not part of its JSON.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct StateDetail {
    /// Gender → candidate → votes in the state.
    pub by_gender: BTreeMap<String, BTreeMap<String, u64>>,
    /// Age group → candidate → votes in the state.
    pub by_age_group: BTreeMap<String, BTreeMap<String, u64>>,
}

/// A recovery's progress: records replayed so far of the records the snapshot reflects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryProgress {
    /// Records replayed so far.
    pub records: u64,
    /// Records the snapshot reflects.
    pub of: u64,
}

impl Results {
    /// What to show while the graph replays toward `snapshot`: the snapshot's counts, at the
    /// current `epoch`, with the replay's progress (`replayed` records of the snapshot's).
    pub fn recovering_toward(snapshot: &Results, epoch: u64, replayed: u64) -> Results {
        let of = snapshot.records();
        Results {
            epoch,
            as_of: crate::latency::now_ms(),
            complete: false,
            recovering: Some(RecoveryProgress {
                records: replayed.min(of),
                of,
            }),
            ..snapshot.clone()
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// One candidate nationally.
pub struct CandidateResult {
    /// The name, as the stream spells it.
    pub name: String,
    /// Votes counted.
    pub votes: u64,
    /// Fraction of all valid votes, 0 to 1.
    pub share: f64,
    /// Electoral votes from the states they lead.
    pub electoral_votes: u32,
    /// The candidate's party as the results tables spell it (`DEMOCRAT`), when known (see
    /// [`Results::with_parties`]); charts colour by it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub party: Option<String>,
    /// `#rrggbb` from a candidates file, when it gives one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// One state.
pub struct StateResult {
    /// The state's name.
    pub name: String,
    /// The candidate with the most votes; `null` with no votes or a tie for first.
    pub leader: Option<String>,
    /// Leader's share minus the runner-up's share of the state's votes, 0 to 1.
    pub margin: f64,
    /// Votes cast in the state.
    pub votes: u64,
    /// The state's electoral votes, all awarded to the leader (winner-take-all).
    pub electoral_votes: u32,
    /// Votes expected in the state; `null` without an expectation.
    #[serde(default)]
    pub expected_votes: Option<u64>,
    /// `votes / expected_votes`, at most 1; `null` without an expectation.
    #[serde(default)]
    pub reported: Option<f64>,
    /// The candidate the state is called for (see [`crate::calls`]), if it is.
    #[serde(default)]
    pub called: Option<String>,
    /// When the call was first made (milliseconds since the Unix epoch), in a live job.
    #[serde(default)]
    pub called_at: Option<i64>,
    /// Party → change in its share of the state since the baseline election, in points.
    #[serde(default)]
    pub swing: BTreeMap<String, f64>,
    /// The state's estimated final margin with its interval ([`crate::projection`]); `null`
    /// without a baseline and an expectation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub estimate: Option<crate::projection::StateEstimate>,
    /// The candidate the state is projected for: certain calls, and estimates whose interval at
    /// the call level excludes the other candidate. A projection is not a call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected: Option<String>,
    /// When the current projection was first made (milliseconds since the Unix epoch), in a
    /// live job.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub projected_at: Option<i64>,
}

impl Results {
    /// The document for `tallies`, complete through `epoch`.
    /// With `lost`: records the sources know they never read (`SourceProgress::lost`).
    pub fn with_lost(self, lost: u64) -> Results {
        Results { lost, ..self }
    }

    /// Computed at `as_of` (milliseconds since the Unix epoch).
    pub fn computed_at(self, as_of: i64) -> Results {
        Results { as_of, ..self }
    }

    /// The counts as a document, before any race is called (`Results::new`, in `calls`, calls
    /// the races that need no expectation).
    pub fn counted(tallies: &Tallies, epoch: u64, complete: bool, apportionment: Apportionment) -> Results {
        let name_of = |id: &CandidateId| -> String {
            tallies
                .candidates
                .get(id)
                .cloned()
                .unwrap_or_else(|| format!("#{:016x}", id.0))
        };
        // This runs at every publication over every cell of the cube: sum with small keys first,
        // then name each sum once (a string key per cell made it the costliest part of an idle
        // job's publications).
        let mut national: BTreeMap<CandidateId, u64> = BTreeMap::new();
        let mut per_state: BTreeMap<State, BTreeMap<CandidateId, u64>> = BTreeMap::new();
        let mut state_gender: BTreeMap<(State, Gender, CandidateId), u64> = BTreeMap::new();
        let mut state_age: BTreeMap<(State, AgeGroup, CandidateId), u64> = BTreeMap::new();
        for (key, &count) in &tallies.votes {
            *national.entry(key.candidate).or_default() += count;
            *per_state
                .entry(key.state)
                .or_default()
                .entry(key.candidate)
                .or_default() += count;
            *state_gender.entry((key.state, key.gender, key.candidate)).or_default() += count;
            *state_age.entry((key.state, key.age_group, key.candidate)).or_default() += count;
        }
        let mut by_gender: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut by_age_group: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
        let mut state_details: BTreeMap<String, StateDetail> = BTreeMap::new();
        let mut national_gender: BTreeMap<(Gender, CandidateId), u64> = BTreeMap::new();
        let mut national_age: BTreeMap<(AgeGroup, CandidateId), u64> = BTreeMap::new();
        for (&(state, gender, id), &count) in &state_gender {
            let detail = state_details.entry(state.code().to_string()).or_default();
            *detail
                .by_gender
                .entry(gender.as_str().to_string())
                .or_default()
                .entry(name_of(&id))
                .or_default() += count;
            *national_gender.entry((gender, id)).or_default() += count;
        }
        for (&(state, age_group, id), &count) in &state_age {
            let detail = state_details.entry(state.code().to_string()).or_default();
            *detail
                .by_age_group
                .entry(age_group.label().to_string())
                .or_default()
                .entry(name_of(&id))
                .or_default() += count;
            *national_age.entry((age_group, id)).or_default() += count;
        }
        for ((gender, id), count) in national_gender {
            *by_gender
                .entry(gender.as_str().to_string())
                .or_default()
                .entry(name_of(&id))
                .or_default() += count;
        }
        for ((age_group, id), count) in national_age {
            *by_age_group
                .entry(age_group.label().to_string())
                .or_default()
                .entry(name_of(&id))
                .or_default() += count;
        }
        for gender in Gender::ALL {
            by_gender.entry(gender.as_str().to_string()).or_default();
        }
        for group in AgeGroup::ALL {
            by_age_group.entry(group.label().to_string()).or_default();
        }

        let mut electoral: BTreeMap<CandidateId, u32> = BTreeMap::new();
        let mut states = BTreeMap::new();
        let mut by_state = BTreeMap::new();
        for state in State::all() {
            let counts = per_state.get(&state);
            let (leader, margin, state_votes) = lead(counts.into_iter().flatten().map(|(id, n)| (*id, *n)));
            let seats = apportionment.electoral_votes(state);
            if let Some(leader) = leader {
                *electoral.entry(leader).or_default() += seats;
            }
            states.insert(
                state.code().to_string(),
                StateResult {
                    name: state.name().to_string(),
                    leader: leader.map(|id| name_of(&id)),
                    margin,
                    votes: state_votes,
                    electoral_votes: seats,
                    expected_votes: None,
                    reported: None,
                    called: None,
                    called_at: None,
                    swing: BTreeMap::new(),
                    estimate: None,
                    projected: None,
                    projected_at: None,
                },
            );
            if let Some(counts) = counts {
                let named = counts.iter().map(|(id, n)| (name_of(id), *n)).collect();
                by_state.insert(state.code().to_string(), named);
            }
        }

        let votes: u64 = national.values().sum();
        let mut candidates: Vec<CandidateResult> = national
            .iter()
            .map(|(id, &count)| CandidateResult {
                name: name_of(id),
                votes: count,
                share: if votes == 0 { 0.0 } else { count as f64 / votes as f64 },
                electoral_votes: electoral.get(id).copied().unwrap_or(0),
                party: None,
                color: None,
            })
            .collect();
        candidates.sort_by(|a, b| b.votes.cmp(&a.votes).then_with(|| a.name.cmp(&b.name)));
        let leader = candidates
            .iter()
            .max_by(|a, b| {
                (a.electoral_votes, a.votes)
                    .cmp(&(b.electoral_votes, b.votes))
                    .then_with(|| b.name.cmp(&a.name))
            })
            .map(|c| c.name.clone());
        let rejected = RejectReason::ALL
            .iter()
            .map(|r| (r.as_str().to_string(), tallies.rejected.get(r).copied().unwrap_or(0)))
            .collect();

        Results {
            epoch,
            as_of: 0,
            complete,
            apportionment: apportionment.as_str().to_string(),
            votes,
            rejected,
            candidates,
            by_gender,
            by_age_group,
            by_state,
            states,
            leader,
            winner: None,
            called_electoral_votes: BTreeMap::new(),
            reported: None,
            swing: BTreeMap::new(),
            electoral_votes_to_win: VOTES_TO_WIN,
            election: None,
            election_date: None,
            test: false,
            lost: 0,
            recovering: None,
            projected_winner: None,
            projected_electoral_votes: BTreeMap::new(),
            projected_level: None,
            outlook: None,
            withdrawn_projections: Vec::new(),
            state_details,
            units: crate::unit_results::counted_units(tallies, name_of),
        }
    }

    /// The empty document, before any epoch completes.
    pub fn empty(apportionment: Apportionment) -> Results {
        Results::counted(&Tallies::default(), 0, false, apportionment)
    }

    /// Records seen: valid votes plus every reject.
    pub fn records(&self) -> u64 {
        self.votes + self.rejected.values().sum::<u64>()
    }
}

/// Who leads `counts` (none on a tie or without votes), by how much as a share of all votes,
/// and all votes: the same rule for a state and for a county.
pub(crate) fn lead<K>(counts: impl IntoIterator<Item = (K, u64)>) -> (Option<K>, f64, u64) {
    let (mut first, mut second, mut total): (Option<(K, u64)>, u64, u64) = (None, 0, 0);
    for (key, votes) in counts {
        total += votes;
        match &first {
            Some((_, top)) if votes <= *top => second = second.max(votes),
            _ => {
                if let Some((_, top)) = first.replace((key, votes)) {
                    second = second.max(top);
                }
            }
        }
    }
    let top = first.as_ref().map_or(0, |(_, votes)| *votes);
    let margin = if total == 0 {
        0.0
    } else {
        (top - second) as f64 / total as f64
    };
    (first.filter(|_| top > second).map(|(key, _)| key), margin, total)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tallies::Tally;
    use crate::vote::{CubeKey, Gender};

    fn vote(tallies: &mut Tallies, state: &str, candidate: &str, count: i64) {
        let id = CandidateId::of(candidate);
        tallies.apply(&Tally::Candidate(id, candidate.to_string()), 1);
        let key = CubeKey {
            state: State::lookup(state).unwrap(),
            gender: Gender::Female,
            age_group: AgeGroup::From18To29,
            candidate: id,
        };
        tallies.apply(&Tally::Vote(key), count);
    }

    #[test]
    fn winner_takes_the_state_and_a_tie_awards_nothing() {
        let mut tallies = Tallies::default();
        vote(&mut tallies, "TX", "A", 3);
        vote(&mut tallies, "TX", "B", 1);
        vote(&mut tallies, "OH", "A", 2);
        vote(&mut tallies, "OH", "B", 2);
        let results = Results::new(&tallies, 7, false, Apportionment::Census2020);
        assert_eq!(results.votes, 8);
        assert_eq!(results.states["TX"].leader.as_deref(), Some("A"));
        assert_eq!(results.states["TX"].margin, 0.5);
        assert_eq!(results.states["OH"].leader, None);
        assert_eq!(results.states["CA"].votes, 0);
        assert_eq!(results.candidates[0].name, "A");
        assert_eq!(results.candidates[0].electoral_votes, 40);
        assert_eq!(results.candidates[1].electoral_votes, 0);
        assert_eq!(results.leader.as_deref(), Some("A"));
        assert_eq!(results.winner, None);
        assert_eq!(results.rejected.len(), RejectReason::ALL.len());
        assert_eq!(results.by_gender["Female"]["A"], 5);
        assert_eq!(results.by_gender["Male"].len(), 0);
    }

    #[test]
    fn the_lead_is_strict_and_does_not_depend_on_order() {
        assert_eq!(lead([("a", 5), ("b", 3), ("c", 2)]), (Some("a"), 0.2, 10));
        assert_eq!(lead([("c", 2), ("b", 3), ("a", 5)]), (Some("a"), 0.2, 10));
        assert_eq!(lead([("a", 4), ("b", 4), ("c", 2)]), (None, 0.0, 10));
        assert_eq!(lead([("c", 2), ("a", 4), ("b", 4)]), (None, 0.0, 10));
        assert_eq!(lead([("a", 0), ("b", 0)]), (None, 0.0, 0));
        assert_eq!(lead(Vec::<(&str, u64)>::new()), (None, 0.0, 0));
    }

    #[test]
    fn empty_results_have_no_leader() {
        let results = Results::empty(Apportionment::Census2010);
        assert_eq!(results.leader, None);
        assert_eq!(results.states.len(), 51);
        assert!(results.candidates.is_empty());
    }
}
