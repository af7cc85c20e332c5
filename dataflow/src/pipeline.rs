//! Drives one timely worker: pulls raw records from a [`Source`], decodes them, feeds the graph,
//! and advances epochs. Sources (files, the generator, Kafka) live in `tally-connectors`; the
//! contract they implement is `tally-source`'s: [`Source`] for records and positions,
//! [`DurableSource`] for the progress a durable source reports (handed to the graph as
//! `tally_model::Progress`), and [`RejectSink`] for where rejected records go.

use crate::dedup::{Ballot, Duplicates};
use crate::graph::{publish_on_worker_zero, tally_counts, Checkpoint, Epoch, Publish};
use differential_dataflow::input::{Input, InputSession};
use hashbrown::HashSet;
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally_model::codec::decode;
use tally_model::latency::{now_ms, LatencyHistogram};
use tally_model::{CandidateId, Position, Progress, RejectReason};
use tally_source::{RecordBatch, Source, SourceError, SourceState};
use timely::container::CapacityContainerBuilder;
use timely::dataflow::operators::Input as _;
use timely::dataflow::{InputHandle, ProbeHandle};
use timely::worker::Worker;

/// Why a worker stopped before its source ended.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The source failed (its own error, passed on).
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The output frontier stood still for the stall limit.
    #[error(
        "the graph made no progress for {0:?}: a worker is not running (in a cluster, a peer process may be hung \
         or unreachable)"
    )]
    Stalled(Duration),
}

/// True when every record `source` returned is durable (trivially, for sources that do not
/// archive).
fn all_durable(source: &mut dyn Source) -> bool {
    let Some(source) = source.durability() else {
        return true;
    };
    let offsets: BTreeMap<u32, u64> = source.offsets().into_iter().collect();
    source
        .durable()
        .iter()
        .all(|(stream, durable)| offsets.get(stream).is_none_or(|offset| durable >= offset))
}

/// How long the end of a run waits for its archive to become durable, so that the final state
/// can be saved as a snapshot (past it, the job ends without one): at the source's end, and,
/// shorter, when the job is stopped (Ctrl-C, SIGTERM), which must end within seconds whatever
/// the storage does. Either way the next start recovers from the last snapshot written.
const FINAL_DURABILITY_WAIT: Duration = Duration::from_secs(30);
const STOPPED_DURABILITY_WAIT: Duration = Duration::from_secs(1);

/// How long the end of a run gives the reject sink to deliver what it holds. Stopped, a job's
/// whole shutdown (durability 1 s, rejects 1 s, the archive writer 2 s) stays within 5 s.
const FINAL_REJECTS_WAIT: Duration = Duration::from_secs(15);
const STOPPED_REJECTS_WAIT: Duration = Duration::from_secs(1);

/// How the worker cuts the input into epochs.
#[derive(Clone)]
pub struct PipelineOptions {
    /// One vote per voter (the job's rule); off only to measure its cost.
    pub dedup: bool,
    /// An epoch closes after this long...
    pub tick: Duration,
    /// ...or after this many records on this worker, whichever comes first.
    pub epoch_records: usize,
    /// Input may run this many epochs ahead of the output before the worker waits.
    pub epochs_in_flight: u64,
    /// Where to record, per timestamped record, the time from its creation to the completion of
    /// its epoch.
    pub latency: Option<Arc<LatencyHistogram>>,
    /// Take a checkpoint this often. Epochs are then numbered in wall-clock milliseconds, so
    /// every worker (in every process) agrees on which epoch boundaries are checkpoints.
    pub checkpoint_every: Option<Duration>,
    /// A record longer than this is one malformed record, from whichever source (the file
    /// source also reads past such a line without holding it).
    pub max_record_bytes: usize,
    /// Give up (with an error) when the output frontier stands still this long. Epochs close on
    /// every tick, so a frontier that stops means a worker that does not run: in a cluster, a
    /// peer process that hangs while its connections stay open.
    pub stall_limit: Option<Duration>,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            dedup: true,
            tick: Duration::from_millis(20),
            epoch_records: 100_000,
            epochs_in_flight: 4,
            latency: None,
            checkpoint_every: None,
            max_record_bytes: tally_model::codec::MAX_RECORD_BYTES,
            stall_limit: None,
        }
    }
}

/// Notices an output frontier that stops moving (see [`PipelineOptions::stall_limit`]).
struct StallWatch {
    limit: Option<Duration>,
    frontier: Option<Epoch>,
    since: Instant,
}

impl StallWatch {
    fn check(&mut self, probe: &ProbeHandle<Epoch>) -> Result<(), PipelineError> {
        let Some(limit) = self.limit else {
            return Ok(());
        };
        let frontier = probe.with_frontier(|f| f.first().copied());
        if frontier != self.frontier {
            self.frontier = frontier;
            self.since = Instant::now();
        } else if self.since.elapsed() > limit {
            return Err(PipelineError::Stalled(limit));
        }
        Ok(())
    }

    /// Steps `worker` while `waiting` holds, giving up on a stall.
    fn step_while(
        &mut self,
        worker: &mut Worker,
        probe: &ProbeHandle<Epoch>,
        mut waiting: impl FnMut() -> bool,
    ) -> Result<(), PipelineError> {
        while waiting() {
            worker.step_or_park(Some(Duration::from_millis(1)));
            self.check(probe)?;
        }
        Ok(())
    }
}

/// The graph's inputs on one worker, and the decoding in front of them.
struct Ingest {
    /// Ballots only ever arrive, so they are a plain timely stream, not a collection.
    ballots: InputHandle<Epoch, CapacityContainerBuilder<Vec<Ballot>>>,
    rejects: InputSession<Epoch, RejectReason, isize>,
    names: InputSession<Epoch, (CandidateId, String), isize>,
    progress: InputSession<Epoch, Progress, isize>,
    named: HashSet<CandidateId>,
    /// The offsets last handed to the graph, per stream.
    reported: BTreeMap<u32, u64>,
    /// The durable offsets last handed to the graph, per stream.
    reported_durable: BTreeMap<u32, u64>,
    /// Whether this worker last reported itself replaying.
    replaying: bool,
    /// The source's lost records last handed to the graph.
    reported_lost: u64,
    /// Whether ballots carry their raw records (for dead-lettering duplicates).
    carry_records: bool,
}

impl Ingest {
    /// Feeds one record to the graph; returns why it was rejected, if it was.
    fn record(&mut self, position: Position, record: &[u8]) -> Option<RejectReason> {
        match decode(record) {
            Ok(ballot) => {
                let key = ballot.vote_key();
                if self.named.insert(key.cube.candidate) {
                    self.names.insert((key.cube.candidate, ballot.decision.into_owned()));
                }
                let carried = self.carry_records.then(|| Box::<[u8]>::from(record));
                self.ballots.send((ballot.voter, position, key, carried));
                None
            }
            Err(reason) => {
                self.rejects.insert(reason);
                Some(reason)
            }
        }
    }
    /// Hands the source's progress to the graph where it changed: offsets, durable offsets,
    /// and whether this worker (`worker`) is replaying.
    fn progress(&mut self, worker: u32, source: &mut dyn Source) {
        let Some(source) = source.durability() else {
            return;
        };
        let replaying = source.replaying();
        let offsets = source.offsets();
        let durable = source.durable();
        let session = &mut self.progress;
        let mut report = |reported: &mut BTreeMap<u32, u64>, progress: fn(u32, u64) -> Progress, stream, offset| {
            match reported.insert(stream, offset) {
                Some(old) if old == offset => return,
                Some(old) => session.update(progress(stream, old), -1),
                None => {}
            }
            session.insert(progress(stream, offset));
        };
        for (stream, offset) in offsets {
            report(&mut self.reported, Progress::Offset, stream, offset);
        }
        for (stream, offset) in durable {
            report(&mut self.reported_durable, Progress::Durable, stream, offset);
        }
        let lost = source.lost();
        if lost > self.reported_lost {
            self.progress
                .update(Progress::Lost, (lost - self.reported_lost) as isize);
            self.reported_lost = lost;
        }
        if replaying != self.replaying {
            self.replaying = replaying;
            self.progress
                .update(Progress::Replaying(worker), if replaying { 1 } else { -1 });
        }
    }
    fn advance_to(&mut self, epoch: Epoch) {
        self.ballots.advance_to(epoch);
        self.rejects.advance_to(epoch);
        self.names.advance_to(epoch);
        self.progress.advance_to(epoch);
        self.ballots.flush();
        self.rejects.flush();
        self.names.flush();
        self.progress.flush();
    }
}

/// Records handed to the graph per poll.
const POLL_RECORDS: usize = 4096;
/// The shortest epoch: closing epochs faster only adds per-epoch overhead.
const MIN_EPOCH: Duration = Duration::from_millis(2);

/// Records the latency of every open epoch the output frontier has passed.
fn record_completed(
    open: &mut VecDeque<(Epoch, Vec<i64>)>,
    probe: &ProbeHandle<Epoch>,
    latency: Option<&LatencyHistogram>,
) {
    let Some(latency) = latency else { return };
    while open.front().is_some_and(|(epoch, _)| !probe.less_than(&(epoch + 1))) {
        if let Some((_, created)) = open.pop_front() {
            latency.record_since(&created);
        }
    }
}

/// Runs the graph on this worker over `source` until it is exhausted or `stop` is set. Worker 0
/// calls `publish` for every completed epoch, the last time with `complete` set.
pub fn run_worker(
    worker: &mut Worker,
    source: &mut dyn Source,
    options: &PipelineOptions,
    stop: &AtomicBool,
    publish: Publish,
    checkpoint: Option<Checkpoint>,
) -> Result<(), PipelineError> {
    let dedup = options.dedup;
    let every_ms = options.checkpoint_every.map(|every| (every.as_millis() as u64).max(1));
    let worker_index = worker.index() as u32;
    let probe = ProbeHandle::new();
    let duplicates = Duplicates::default();
    let carry_records = source.rejects().is_some_and(|sink| sink.wants_duplicates());
    let mut ingest = worker.dataflow::<Epoch, _, _>(|scope| {
        let (ballots, ballot_stream) = scope.new_input();
        let (rejects, reject_stream) = scope.new_collection();
        let (names, name_stream) = scope.new_collection();
        let (progress, progress_stream) = scope.new_collection();
        let counts = tally_counts(ballot_stream, reject_stream, name_stream, dedup, duplicates.clone());
        let progress_stream = progress_stream.probe_with(&probe);
        publish_on_worker_zero(
            counts.probe_with(&probe),
            progress_stream,
            publish,
            every_ms.zip(checkpoint),
        );
        Ingest {
            ballots,
            rejects,
            names,
            progress,
            named: HashSet::new(),
            reported: Default::default(),
            reported_durable: Default::default(),
            replaying: false,
            reported_lost: 0,
            carry_records,
        }
    });

    let mut batch = RecordBatch::default();
    // Creation times of this epoch's records, and of earlier epochs not yet complete.
    let mut created: Vec<i64> = Vec::new();
    let mut open_epochs: VecDeque<(Epoch, Vec<i64>)> = VecDeque::new();
    let mut epoch: Epoch = 0;
    // The epochs opened most recently, oldest first: input waits while the oldest is incomplete.
    // Counted in epochs, not epoch numbers, which are milliseconds when checkpointing.
    let mut recent: VecDeque<Epoch> = VecDeque::new();
    let mut exhausted = false;
    let mut stall = StallWatch {
        limit: options.stall_limit,
        frontier: None,
        since: Instant::now(),
    };
    while !exhausted && !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let mut taken = 0;
        while taken < options.epoch_records && started.elapsed() < options.tick {
            batch.clear();
            let state = source.poll(POLL_RECORDS.min(options.epoch_records - taken), &mut batch)?;
            for (position, record) in batch.iter() {
                // Over the limit: malformed, as the file source reads it (an empty record).
                let kept = if record.len() > options.max_record_bytes {
                    &[][..]
                } else {
                    record
                };
                if let Some(reason) = ingest.record(position, kept) {
                    if let Some(sink) = source.rejects() {
                        sink.rejected(position, record, reason);
                    }
                }
            }
            if options.latency.is_some() {
                created.extend(batch.timestamps());
            }
            taken += batch.len();
            match state {
                SourceState::Active => {
                    worker.step();
                }
                SourceState::Idle => {
                    // Caught up: where end-to-end latency is measured (records that carry their
                    // creation time), close the epoch now rather than at the tick. Elsewhere the
                    // epoch runs to its tick: results are published at most every 100 ms, and
                    // each epoch costs the same whatever it holds.
                    if taken > 0 && options.latency.is_some() && started.elapsed() >= MIN_EPOCH {
                        break;
                    }
                    let rest = options.tick.saturating_sub(started.elapsed());
                    worker.step_or_park(Some(source.idle_wait().min(rest)));
                }
                SourceState::Exhausted => {
                    exhausted = true;
                    break;
                }
            }
            record_completed(&mut open_epochs, &probe, options.latency.as_deref());
            hand_over(&duplicates, source);
            stall.check(&probe)?;
        }
        if !created.is_empty() {
            open_epochs.push_back((epoch, std::mem::take(&mut created)));
        }
        ingest.progress(worker_index, &mut *source);
        let next = match every_ms {
            Some(_) => (now_ms() as u64).max(epoch + 1),
            None => epoch + 1,
        };
        if every_ms.is_some_and(|every| next / every > epoch / every) {
            // Everything handed over so far is in epochs before the boundary in (epoch, next].
            if let Some(source) = source.durability() {
                source.checkpoint();
            }
        }
        epoch = next;
        ingest.advance_to(epoch);
        recent.push_back(epoch);
        while recent.len() as u64 > options.epochs_in_flight + 1 {
            recent.pop_front();
        }
        let behind = recent.front().copied().unwrap_or(epoch);
        stall.step_while(worker, &probe, || probe.less_than(&behind))?;
        record_completed(&mut open_epochs, &probe, options.latency.as_deref());
        hand_over(&duplicates, source);
    }
    // Everything read is in the graph: seal it, wait (stepping, boundedly) until it is durable,
    // and report that (the final checkpoint follows when the graph completes).
    if let Some(source) = source.durability() {
        source.checkpoint();
    }
    let wait = match stop.load(Ordering::Relaxed) {
        true => STOPPED_DURABILITY_WAIT,
        false => FINAL_DURABILITY_WAIT,
    };
    let deadline = Instant::now() + wait;
    while !all_durable(&mut *source) && Instant::now() < deadline {
        worker.step_or_park(Some(Duration::from_millis(10)));
        hand_over(&duplicates, source);
    }
    ingest.progress(worker_index, &mut *source);
    drop(ingest);
    stall.step_while(worker, &probe, || !probe.done())?;
    hand_over(&duplicates, source);
    if let Some(sink) = source.rejects() {
        sink.finish(match stop.load(Ordering::Relaxed) {
            true => STOPPED_REJECTS_WAIT,
            false => FINAL_REJECTS_WAIT,
        });
    }
    Ok(())
}

/// Tells the source of the duplicates the graph has found on this worker.
fn hand_over(duplicates: &Duplicates, source: &mut dyn Source) {
    if duplicates.borrow().is_empty() {
        return;
    }
    let found = std::mem::take(&mut *duplicates.borrow_mut());
    let Some(sink) = source.rejects() else {
        return;
    };
    for (position, record) in found {
        match record {
            Some(record) => sink.rejected(position, &record, RejectReason::DuplicateVoter),
            None => sink.displaced(position),
        }
    }
}
