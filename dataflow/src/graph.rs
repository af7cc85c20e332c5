//! The differential-dataflow graph: one vote per voter, then one count per [`Tally`].
//!
//! ```text
//! ballots (voter, position, key) ──first ballot per voter──► Vote(cube) ────────────────┐
//!                                   └── later records ───────► Rejected(duplicate_voter) ─┤
//! rejects (reason) ──────────────────────────────────────────► Rejected(reason) ──────────┤
//! names (candidate id, name) ──distinct──────────────────────► Candidate(id, name) ───────┴─► count_total ──┐
//! the first ballots' counties ────────────────────────────────► Unit(county, candidate), as changes ─────────┤
//!                                                                                                             ▼
//! progress (offsets, durable, replaying, lost) ──────────────────────────────────────────────► publish (worker 0)
//! ```
//!
//! Progress is not counted: it travels on a stream of its own beside the counts, so worker 0
//! sees at every completed epoch the positions those counts reflect.
//!
//! Every marginal the job publishes (national, by gender, age group, state, county, electoral
//! votes) is derived from these counts (a few thousand cube cells, and a few per county) when an
//! epoch completes ([`tally_model::Results`]), so the graph's hot path is one exchange by voter
//! id into [`first_ballots`], whose output is already consolidated per epoch.

use crate::dedup::{first_ballots, Ballot, Duplicates};
use differential_dataflow::operators::{CountTotal, ThresholdTotal};
use differential_dataflow::VecCollection;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};
use tally_model::tallies::{Tallies, Tally};
use tally_model::{CandidateId, Progress, RejectReason, SourceProgress};
use timely::dataflow::channels::pact::Exchange;
use timely::dataflow::operators::generic::operator::Operator;
use timely::dataflow::Stream;

pub use crate::Epoch;

/// Counts per [`Tally`] from valid ballots, rejected records and candidate names, as a
/// collection of `(tally, count)` whose changes, each weighted by its count, sum to each
/// tally's count: what worker 0 adds up.
/// Without `dedup` every valid ballot counts (for measuring what dedup costs). Duplicates whose
/// ballots carry their records are handed over through `duplicates` (see [`first_ballots`]).
pub fn tally_counts<'s>(
    ballots: Stream<'s, Epoch, Vec<Ballot>>,
    rejects: VecCollection<'s, Epoch, RejectReason>,
    names: VecCollection<'s, Epoch, (CandidateId, String)>,
    dedup: bool,
    duplicates: Duplicates,
) -> VecCollection<'s, Epoch, (Tally, isize)> {
    let firsts = first_ballots(ballots, dedup, duplicates);
    // County × candidate changes go to worker 0 as they are (count 1, changed by the epoch's
    // change): an epoch of a few thousand ballots changes thousands of them, nearly one per
    // ballot, and keeping each as a total in `count_total` (an arrangement, and a retraction
    // and an addition per change) cost more than all the rest of the counting.
    let units = firsts
        .clone()
        .filter(|tally| matches!(tally, Tally::Unit(_)))
        .map(|tally| (tally, 1));
    firsts
        .filter(|tally| !matches!(tally, Tally::Unit(_)))
        .concat(rejects.map(Tally::Rejected))
        .concat(names.distinct_total().map(|(id, name)| Tally::Candidate(id, name)))
        .count_total()
        .concat(units)
}

/// What reaches worker 0: a changed count, or a change in a source's progress.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Update {
    Count(Tally, isize),
    Progress(Progress),
}

/// What worker 0 is handed whenever the output frontier passes an epoch: the counts of every
/// epoch before `epoch`, the sources' progress they reflect, and whether the input has ended
/// (`complete`).
pub type Publish = Box<dyn FnMut(&Tallies, &SourceProgress, Epoch, bool)>;

/// What worker 0 is handed at a checkpoint boundary `C` (a multiple of the checkpoint
/// interval): the counts of exactly the epochs before `C`, and the progress they reflect.
pub type Checkpoint = Box<dyn FnMut(&Tallies, &SourceProgress, Epoch)>;

/// The most often worker 0 publishes: the consumers (a dashboard refreshing a few times a
/// second, an API) gain nothing from more, and building the published document on every epoch
/// (hundreds a second at a trickle) was about a quarter of the default run's CPU.
pub const PUBLISH_INTERVAL: Duration = Duration::from_millis(100);

/// Gathers the counts to worker 0 and calls `publish` there with one consistent state for
/// completed epochs: updates are held until the frontier has passed their time. A state is
/// published when it differs from the last one published, at most every [`PUBLISH_INTERVAL`]
/// (the next frontier step after it publishes a change held back); the final state always.
pub fn publish_on_worker_zero<'s>(
    counts: VecCollection<'s, Epoch, (Tally, isize)>,
    progress: VecCollection<'s, Epoch, Progress>,
    mut publish: Publish,
    mut checkpoint: Option<(Epoch, Checkpoint)>,
) {
    let updates = counts
        .map(|(tally, count)| Update::Count(tally, count))
        .concat(progress.map(Update::Progress));
    let mut tallies = Tallies::default();
    let mut sources = SourceProgress::default();
    let apply = |tallies: &mut Tallies, sources: &mut SourceProgress, update: &Update, diff: isize| match update {
        // A count changes by retracting the old (tally, count) and adding the new.
        Update::Count(tally, count) => tallies.apply(tally, (*count as i64) * (diff as i64)),
        Update::Progress(progress) => sources.apply(progress, diff as i64),
    };
    let mut pending: Vec<(Update, Epoch, isize)> = Vec::new();
    // The last frontier the counts were brought to, and the last one published.
    let mut passed: Option<Epoch> = None;
    let mut published: Option<Epoch> = None;
    // Whether the counts changed since the last publication, and when that was.
    let mut changed = false;
    let mut last_published: Option<Instant> = None;
    // Every worker builds the sink, but only worker 0 receives updates; the others must stay
    // silent or their (empty) final state would race worker 0's.
    let mut finished = updates.inner.scope().index() != 0;
    updates
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
                    pending.retain(|(update, time, diff)| {
                        let before = *time < boundary;
                        if before {
                            apply(&mut tallies, &mut sources, update, *diff);
                            changed = true;
                        }
                        !before
                    });
                    save(&tallies, &sources, boundary);
                }
            }
            let ready = |time: &Epoch| through.is_none_or(|f| *time < f);
            pending.retain(|(update, time, diff)| {
                if ready(time) {
                    apply(&mut tallies, &mut sources, update, *diff);
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
                        publish(&tallies, &sources, epoch, false);
                    }
                }
                None => {
                    finished = true;
                    let last = passed.map_or(0, |e| e + 1);
                    if let Some((_, save)) = &mut checkpoint {
                        save(&tallies, &sources, last);
                    }
                    publish(&tallies, &sources, last, true);
                }
                _ => {}
            }
        });
}
