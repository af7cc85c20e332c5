//! One vote per voter, as a specialised operator.
//!
//! Ballots only ever arrive (a record read cannot be unread), so "the voter's first record" needs
//! no general `reduce`: each worker keeps, per voter it owns, the least position seen and that
//! record's cube cell, in a hash map. Ballots are held until the input frontier passes their
//! epoch and then applied in epoch order, so each epoch's output is exactly the change between
//! the answers before and after it, whatever order the messages came in. A later ballot with a
//! smaller position (records of one voter spread over partitions, or read out of order) moves
//! the vote: the old cell is retracted and the new one counted in the same epoch.
//!
//! The output is consolidated per epoch: a few thousand cube cells instead of one update per
//! ballot, which is what makes this 2–3× cheaper than `reduce` plus `count_total` over every
//! ballot. `dataflow/tests/oracle.rs` checks it against a sequential fold.
//!
//! When ballots carry their raw records (a source that dead-letters rejects asks for that), the
//! operator hands every duplicate's position and bytes to its worker through `duplicates`,
//! outside the computation's output. A first record that a smaller position displaces is a
//! duplicate too; its bytes are not kept (about 100 bytes a voter, five times the state), so
//! it is handed over by position only, and the source fetches it.
//!
//! The per-voter state is a [`VoterTable`]: 16 bytes a slot, grown without doubling spikes.

use crate::voters::{Applied, VoterTable};
use crate::Epoch;
use differential_dataflow::{AsCollection, VecCollection};
use hashbrown::HashMap;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use tally_model::tallies::Tally;
use tally_model::VoterId;
use tally_model::{CubeKey, Position, RejectReason, UnitKey, VoteKey};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::operators::Capability;
use timely::dataflow::Stream;

/// A valid record as the graph sees it: who voted, where the record was, for what cell (and
/// county), and (only for dead-lettering) the raw record.
pub type Ballot = (VoterId, Position, VoteKey, Option<Box<[u8]>>);

/// How many ballots ahead the voter table is asked to prefetch: enough to cover a memory
/// access while the ballots in between are applied.
const PREFETCH_AHEAD: usize = 8;

/// A record found to be a duplicate: its position and, unless it was a displaced first record,
/// its bytes.
pub type Duplicate = (Position, Option<Box<[u8]>>);

/// Where [`first_ballots`] hands duplicates to its worker.
pub type Duplicates = Rc<RefCell<Vec<Duplicate>>>;

/// Spreads voters over workers by a mix of all of the id's bits (the exchange uses the low bits
/// when the worker count is a power of two, and ids need not be random).
fn owner(voter: VoterId) -> u64 {
    voter.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 29
}

/// An epoch's change in votes per interned key (by the voter table's index): a dense vector
/// and the indices touched, since a map of up to a hundred thousand keys (cube cells ×
/// counties) missed the cache on most ballots.
#[derive(Default)]
struct Changes {
    by_key: Vec<isize>,
    touched: Vec<u32>,
}

impl Changes {
    #[inline]
    fn add(&mut self, index: u32, diff: isize) {
        let at = index as usize;
        if at >= self.by_key.len() {
            self.by_key.resize(at + 1, 0);
        }
        if self.by_key[at] == 0 {
            self.touched.push(index);
        }
        self.by_key[at] += diff;
    }

    /// Every nonzero change, by key index, leaving all at zero.
    fn drain(&mut self) -> impl Iterator<Item = (u32, isize)> + '_ {
        let by_key = &mut self.by_key;
        self.touched
            .drain(..)
            .map(move |index| (index, std::mem::take(&mut by_key[index as usize])))
            .filter(|(_, diff)| *diff != 0)
    }
}

/// Applies one ballot to `voters`: adds its effect on the vote counts to `changes` and any
/// record it makes a duplicate to `found` (only when the ballot carries its record, i.e. the
/// source wants duplicates). Returns whether the voter had voted before.
fn apply(voters: &mut VoterTable, ballot: Ballot, changes: &mut Changes, found: &mut Vec<Duplicate>) -> bool {
    let (voter, position, cube, record) = ballot;
    let index = voters.intern(cube);
    match voters.apply_interned(voter, position, index) {
        Applied::First => {
            changes.add(index, 1);
            false
        }
        Applied::Displaced {
            position: held_position,
            cube: held_cube,
        } => {
            // The new ballot comes first: the vote moves, and the held record is the duplicate.
            changes.add(voters.intern(held_cube), -1);
            changes.add(index, 1);
            if record.is_some() {
                found.push((held_position, None));
            }
            true
        }
        Applied::Later => {
            found.extend(record.map(|bytes| (position, Some(bytes))));
            true
        }
    }
}

/// Vote and duplicate counts from `ballots`: with `dedup`, a voter's least-position ballot is
/// their vote and every other one is a `duplicate_voter` rejection; without it, every ballot
/// counts (only for measuring what dedup costs). Duplicates whose ballots carried their
/// records are appended to `duplicates`.
pub fn first_ballots<'s>(
    ballots: Stream<'s, Epoch, Vec<Ballot>>,
    dedup: bool,
    duplicates: Duplicates,
) -> VecCollection<'s, Epoch, Tally> {
    ballots
        .unary_frontier(
            Exchange::new(|(voter, _, _, _): &Ballot| owner(*voter)),
            "FirstBallot",
            |_, _| {
                let mut stash: BTreeMap<Epoch, (Capability<Epoch>, Vec<Ballot>)> = BTreeMap::new();
                let mut voters = VoterTable::default();
                let mut changes = Changes::default();
                // The epoch's changes summed per cube cell and per county × candidate: what
                // the counts are kept by (a few thousand cells each, fewer than the keys).
                let mut cubes: HashMap<CubeKey, isize> = HashMap::new();
                let mut units: HashMap<UnitKey, isize> = HashMap::new();
                move |(input, frontier), output| {
                    input.for_each(|cap, data| {
                        if let Some(&time) = cap.least() {
                            let entry = stash.entry(time).or_insert_with(|| (cap.delayed(&time, 0), Vec::new()));
                            entry.1.append(data);
                        }
                    });
                    // Whole epochs, in order, once no more ballots can arrive for them.
                    while let Some(entry) = stash.first_entry() {
                        if frontier.less_equal(entry.key()) {
                            break;
                        }
                        let (cap, ballots) = entry.remove();
                        let mut later_ballots: isize = 0;
                        let ids: Vec<VoterId> = ballots.iter().map(|b| b.0).collect();
                        for (index, ballot) in ballots.into_iter().enumerate() {
                            if !dedup {
                                changes.add(voters.intern(ballot.2), 1);
                                continue;
                            }
                            if let Some(&ahead) = ids.get(index + PREFETCH_AHEAD) {
                                voters.prefetch(ahead);
                            }
                            if apply(&mut voters, ballot, &mut changes, &mut duplicates.borrow_mut()) {
                                later_ballots += 1;
                            }
                        }
                        let time = *cap.time();
                        let mut session = output.session(&cap);
                        for (index, diff) in changes.drain() {
                            let key = voters.key(index);
                            *cubes.entry(key.cube).or_default() += diff;
                            if let Some(unit) = key.unit() {
                                *units.entry(unit).or_default() += diff;
                            }
                        }
                        for (cube, diff) in cubes.drain().filter(|(_, diff)| *diff != 0) {
                            session.give((Tally::Vote(cube), time, diff));
                        }
                        for (unit, diff) in units.drain().filter(|(_, diff)| *diff != 0) {
                            session.give((Tally::Unit(unit), time, diff));
                        }
                        if later_ballots > 0 {
                            session.give((Tally::Rejected(RejectReason::DuplicateVoter), time, later_ballots));
                        }
                    }
                }
            },
        )
        .as_collection()
}
