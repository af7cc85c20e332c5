//! The differential-dataflow graph: one vote per voter, then one count per [`Tally`].
//!
//! ```text
//! ballots (voter, position, cube) ──first ballot per voter──► Vote(cube) ──────────┐
//!                                      └── later records ───► Rejected(duplicate_voter)
//! rejects (reason) ───────────────────────────────────────► Rejected(reason) ├─► count_total
//! names (candidate id, name) ──distinct──────────────────► Candidate(id, name) ┘
//! progress (offsets, replaying markers) ─────────────────────────────────────┘
//! ```
//!
//! Every marginal the job publishes (national, by gender, age group, state, electoral votes) is
//! derived from these few thousand counts when an epoch completes ([`crate::Results`]), so the
//! graph's hot path is one exchange by voter id into [`first_ballots`], whose output is already
//! consolidated per epoch.

use crate::dedup::{first_ballots, Ballot, Duplicates};
use differential_dataflow::operators::{CountTotal, ThresholdTotal};
use differential_dataflow::VecCollection;
use std::time::{Duration, Instant};
use tally_model::tallies::{Tallies, Tally};
use tally_model::{CandidateId, RejectReason};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::Stream;

/// Logical time: epochs advance on a short tick or a record budget, whichever comes first.
pub type Epoch = u64;
/// A voter's id, as in the record.
pub type VoterId = u64;

/// Counts per [`Tally`] from valid ballots, rejected records, candidate names and the sources'
/// progress (`Tally::Offset`, `Tally::Replaying`).
/// Without `dedup` every valid ballot counts (for measuring what dedup costs). Duplicates whose
/// ballots carry their records are handed over through `duplicates` (see [`first_ballots`]).
pub fn tally_counts<'s>(
    ballots: Stream<'s, Epoch, Vec<Ballot>>,
    rejects: VecCollection<'s, Epoch, RejectReason>,
    names: VecCollection<'s, Epoch, (CandidateId, String)>,
    progress: VecCollection<'s, Epoch, Tally>,
    dedup: bool,
    duplicates: Duplicates,
) -> VecCollection<'s, Epoch, (Tally, isize)> {
    first_ballots(ballots, dedup, duplicates)
        .concat(rejects.map(Tally::Rejected))
        .concat(names.distinct_total().map(|(id, name)| Tally::Candidate(id, name)))
        .concat(progress)
        .count_total()
}

/// What worker 0 is handed whenever the output frontier passes an epoch: the counts of every
/// epoch before `epoch`, and whether the input has ended (`complete`).
pub type Publish = Box<dyn FnMut(&Tallies, Epoch, bool)>;

/// What worker 0 is handed at a checkpoint boundary `C` (a multiple of the checkpoint
/// interval): the counts of exactly the epochs before `C`.
pub type Checkpoint = Box<dyn FnMut(&Tallies, Epoch)>;

/// The most often worker 0 publishes: the consumers (a dashboard refreshing a few times a
/// second, an API) gain nothing from more, and building the published document on every epoch
/// (hundreds a second at a trickle) was about a quarter of the default run's CPU.
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(100);

/// Gathers the counts to worker 0 and calls `publish` there with one consistent state for
/// completed epochs: updates are held until the frontier has passed their time. A state is
/// published when it differs from the last one published, at most every [`PUBLISH_INTERVAL`]
/// (the next frontier step after it publishes a change held back); the final state always.
pub fn publish_on_worker_zero(
    counts: VecCollection<'_, Epoch, (Tally, isize)>,
    mut publish: Publish,
    mut checkpoint: Option<(Epoch, Checkpoint)>,
) {
    let mut tallies = Tallies::default();
    let mut pending: Vec<((Tally, isize), Epoch, isize)> = Vec::new();
    // The last frontier the counts were brought to, and the last one published.
    let mut passed: Option<Epoch> = None;
    let mut published: Option<Epoch> = None;
    // Whether the counts changed since the last publication, and when that was.
    let mut changed = false;
    let mut last_published: Option<Instant> = None;
    // Every worker builds the sink, but only worker 0 receives updates; the others must stay
    // silent or their (empty) final state would race worker 0's.
    let mut finished = counts.inner.scope().index() != 0;
    counts
        .inner
        .sink(Exchange::new(|_| 0), "Publish", move |(input, frontier)| {
            input.for_each(|_, updates| pending.append(updates));
            if finished {
                return;
            }
            let through = frontier.frontier().first().copied();
            // Apply in time order: counts are unsigned, and a retraction must never come before
            // the update it retracts. (Stable, so same-time updates keep their order.)
            pending.sort_by_key(|(_, time, _)| *time);
            // A checkpoint boundary the frontier has just passed: stop there first, so the
            // checkpoint sees exactly the epochs before it.
            if let (Some((every, save)), Some(f)) = (&mut checkpoint, through) {
                let boundary = f / *every * *every;
                if boundary > 0 && passed < Some(boundary) {
                    pending.retain(|((tally, count), time, diff)| {
                        let before = *time < boundary;
                        if before {
                            tallies.apply(tally, (*count as i64) * (*diff as i64));
                            changed = true;
                        }
                        !before
                    });
                    save(&tallies, boundary);
                }
            }
            let ready = |time: &Epoch| through.is_none_or(|f| *time < f);
            pending.retain(|((tally, count), time, diff)| {
                if ready(time) {
                    // A count changes by retracting the old (tally, count) and adding the new.
                    tallies.apply(tally, (*count as i64) * (*diff as i64));
                    changed = true;
                    false
                } else {
                    true
                }
            });
            if through.is_some() {
                passed = passed.max(through);
            }
            match through {
                Some(epoch) if published < Some(epoch) => {
                    let due = last_published.is_none_or(|at| at.elapsed() >= PUBLISH_INTERVAL);
                    if changed && due {
                        published = Some(epoch);
                        changed = false;
                        last_published = Some(Instant::now());
                        publish(&tallies, epoch, false);
                    }
                }
                None => {
                    finished = true;
                    let last = passed.map_or(0, |e| e + 1);
                    if let Some((_, save)) = &mut checkpoint {
                        save(&tallies, last);
                    }
                    publish(&tallies, last, true);
                }
                _ => {}
            }
        });
}
