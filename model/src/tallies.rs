//! [`Tallies`]: the counts the graph maintains, as one plain value, and [`fold`], the sequential
//! specification the graph must agree with.

use crate::codec::decode;
use crate::vote::{CandidateId, CubeKey, Position, RejectReason, UnitKey};
use serde::{Deserialize, Serialize};
use std::collections::btree_map::Entry;
use std::collections::{BTreeMap, HashSet};

/// One counted thing. The graph's whole output is a count per `Tally`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tally {
    /// Votes in one cube cell.
    Vote(CubeKey),
    /// Votes in one county for one candidate (records that name a county).
    Unit(UnitKey),
    /// Records rejected for one reason.
    Rejected(RejectReason),
    /// A candidate's name, present once any valid ballot named it.
    Candidate(CandidateId, String),
}

/// Every count at one point: the cube of votes, the votes by county, the rejects by reason, the
/// candidates' names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tallies {
    /// Votes per cube cell.
    pub votes: BTreeMap<CubeKey, u64>,
    /// Votes per county × candidate, of the records that named a county (each also counts in
    /// `votes`).
    pub units: BTreeMap<UnitKey, u64>,
    /// Rejected records per reason.
    pub rejected: BTreeMap<RejectReason, u64>,
    /// Candidate id → the name it was first seen with.
    pub candidates: BTreeMap<CandidateId, String>,
}

impl Tallies {
    /// Applies a change of `delta` to the count of `tally`.
    pub fn apply(&mut self, tally: &Tally, delta: i64) {
        /// One lookup: this runs for every changed count at every completed epoch.
        fn add<K: Ord>(map: &mut BTreeMap<K, u64>, key: K, delta: i64) {
            match map.entry(key) {
                Entry::Occupied(mut entry) => {
                    let count = entry.get().saturating_add_signed(delta);
                    if count == 0 {
                        entry.remove();
                    } else {
                        *entry.get_mut() = count;
                    }
                }
                Entry::Vacant(entry) => {
                    let count = 0u64.saturating_add_signed(delta);
                    if count != 0 {
                        entry.insert(count);
                    }
                }
            }
        }
        match tally {
            Tally::Vote(key) => add(&mut self.votes, *key, delta),
            Tally::Unit(key) => add(&mut self.units, *key, delta),
            Tally::Rejected(reason) => add(&mut self.rejected, *reason, delta),
            Tally::Candidate(id, name) => {
                if delta > 0 {
                    self.candidates.insert(*id, name.clone());
                } else {
                    self.candidates.remove(id);
                }
            }
        }
    }

    /// Valid votes counted.
    pub fn total_votes(&self) -> u64 {
        self.votes.values().sum()
    }

    /// Records seen: votes plus rejects of every reason.
    pub fn total_records(&self) -> u64 {
        self.total_votes() + self.rejected.values().sum::<u64>()
    }
}

/// The specification of the graph: a plain sequential fold over records in position order.
/// With `dedup`, a voter's first valid record (least position) counts and every later valid
/// record of that voter is `duplicate_voter`.
pub fn fold<'a>(records: impl IntoIterator<Item = (Position, &'a [u8])>, dedup: bool) -> Tallies {
    let mut records: Vec<_> = records.into_iter().collect();
    records.sort_by_key(|(position, _)| *position);
    let mut tallies = Tallies::default();
    let mut voters = HashSet::new();
    for (_, record) in records {
        match decode(record) {
            Ok(ballot) => {
                let key = ballot.vote_key();
                tallies.apply(&Tally::Candidate(key.cube.candidate, ballot.decision.to_string()), 1);
                if dedup && !voters.insert(ballot.voter) {
                    tallies.apply(&Tally::Rejected(RejectReason::DuplicateVoter), 1);
                } else {
                    tallies.apply(&Tally::Vote(key.cube), 1);
                    if let Some(unit) = key.unit() {
                        tallies.apply(&Tally::Unit(unit), 1);
                    }
                }
            }
            Err(reason) => tallies.apply(&Tally::Rejected(reason), 1),
        }
    }
    tallies
}
