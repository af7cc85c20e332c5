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

use crate::keys::{Interned, VoteKeys};
use crate::voters::{Applied, VoterTable};
use crate::Epoch;
use differential_dataflow::{AsCollection, VecCollection};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use tally_model::tallies::Tally;
use tally_model::VoterId;
use tally_model::{Position, RejectReason, VoteKey};
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

/// Changes per small number (a cube cell's, or a county × candidate's; see [`VoteKeys`]): a
/// dense vector and the numbers touched, so that summing an epoch's ballots touches only memory
/// that stays in cache.
#[derive(Default)]
struct Dense {
    by_number: Vec<isize>,
    touched: Vec<u32>,
}

impl Dense {
    #[inline]
    fn add(&mut self, number: u32, diff: isize) {
        let at = number as usize;
        if at >= self.by_number.len() {
            self.by_number.resize(at + 1, 0);
        }
        if self.by_number[at] == 0 {
            self.touched.push(number);
        }
        self.by_number[at] += diff;
    }

    /// Every nonzero change, by number, leaving all at zero.
    fn drain(&mut self) -> impl Iterator<Item = (u32, isize)> + '_ {
        let by_number = &mut self.by_number;
        self.touched
            .drain(..)
            .map(move |number| (number, std::mem::take(&mut by_number[number as usize])))
            .filter(|(_, diff)| *diff != 0)
    }
}

/// An epoch's change in votes, per cube cell and per county × candidate.
#[derive(Default)]
struct Changes {
    cubes: Dense,
    units: Dense,
}

impl Changes {
    #[inline]
    fn add(&mut self, key: Interned, diff: isize) {
        self.cubes.add(key.cube, diff);
        if let Some(unit) = key.unit {
            self.units.add(unit, diff);
        }
    }
}

/// Applies one ballot to `voters`: adds its effect on the vote counts to `changes` and any
/// record it makes a duplicate to `found` (only when the ballot carries its record, i.e. the
/// source wants duplicates). Returns whether the voter had voted before.
fn apply(
    voters: &mut VoterTable,
    keys: &mut VoteKeys,
    ballot: Ballot,
    changes: &mut Changes,
    found: &mut Vec<Duplicate>,
) -> bool {
    let (voter, position, key, record) = ballot;
    let key = keys.intern(key);
    match voters.apply(voter, position, key.key) {
        Applied::First => {
            changes.add(key, 1);
            false
        }
        Applied::Displaced {
            position: held_position,
            key: held_key,
        } => {
            // The new ballot comes first: the vote moves, and the held record is the duplicate.
            changes.add(keys.numbers(held_key), -1);
            changes.add(key, 1);
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
                let mut keys = VoteKeys::default();
                let mut changes = Changes::default();
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
                                changes.add(keys.intern(ballot.2), 1);
                                continue;
                            }
                            if let Some(&ahead) = ids.get(index + PREFETCH_AHEAD) {
                                voters.prefetch(ahead);
                            }
                            let found = &mut duplicates.borrow_mut();
                            if apply(&mut voters, &mut keys, ballot, &mut changes, found) {
                                later_ballots += 1;
                            }
                        }
                        let time = *cap.time();
                        let mut session = output.session(&cap);
                        for (cube, diff) in changes.cubes.drain() {
                            session.give((Tally::Vote(keys.cube(cube)), time, diff));
                        }
                        for (unit, diff) in changes.units.drain() {
                            session.give((Tally::Unit(keys.unit(unit)), time, diff));
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
