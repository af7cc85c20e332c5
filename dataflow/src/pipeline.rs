//! Drives one timely worker: pulls raw records from a [`Source`], decodes them, feeds the graph,
//! and advances epochs. Sources (files, the generator, Kafka) live in `tally-connectors`; this
//! module only knows the trait.

use crate::codec::decode;
use crate::graph::{publish_on_worker_zero, tally_counts, Epoch, Publish, VoterId};
use crate::model::{CandidateId, CubeKey, Position, RejectReason};
use differential_dataflow::input::{Input, InputSession};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use timely::dataflow::ProbeHandle;
use timely::worker::Worker;

/// Raw records with their positions, in one flat buffer (no allocation per record).
#[derive(Default)]
pub struct RecordBatch {
    bytes: Vec<u8>,
    records: Vec<(Position, usize, usize)>,
}

impl RecordBatch {
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.records.clear();
    }
    pub fn len(&self) -> usize {
        self.records.len()
    }
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
    pub fn push(&mut self, position: Position, record: &[u8]) {
        self.push_with(position, |bytes| bytes.extend_from_slice(record));
    }
    /// Appends a record that `write` appends to the buffer it is given.
    pub fn push_with(&mut self, position: Position, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.bytes.len();
        write(&mut self.bytes);
        self.records.push((position, start, self.bytes.len()));
    }
    pub fn iter(&self) -> impl Iterator<Item = (Position, &[u8])> {
        self.records
            .iter()
            .map(|&(position, start, end)| (position, &self.bytes[start..end]))
    }
}

/// What a source has after a poll.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SourceState {
    /// More records may be ready right away.
    Active,
    /// Nothing more is ready now; poll again soon.
    Idle,
    /// The source has ended; everything it will ever have was returned.
    Exhausted,
}

/// One worker's share of an input.
pub trait Source {
    /// Appends at most `max` records to `batch`. An error ends the job.
    fn poll(&mut self, max: usize, batch: &mut RecordBatch) -> Result<SourceState, String>;
}

/// How the worker cuts the input into epochs.
#[derive(Clone, Debug)]
pub struct PipelineOptions {
    /// One vote per voter (the job's rule); off only to measure its cost.
    pub dedup: bool,
    /// An epoch closes after this long...
    pub tick: Duration,
    /// ...or after this many records on this worker, whichever comes first.
    pub epoch_records: usize,
    /// Input may run this many epochs ahead of the output before the worker waits.
    pub epochs_in_flight: u64,
}

impl Default for PipelineOptions {
    fn default() -> Self {
        PipelineOptions {
            dedup: true,
            tick: Duration::from_millis(20),
            epoch_records: 100_000,
            epochs_in_flight: 4,
        }
    }
}

/// The graph's inputs on one worker, and the decoding in front of them.
struct Ingest {
    ballots: InputSession<Epoch, (VoterId, (Position, CubeKey)), isize>,
    rejects: InputSession<Epoch, RejectReason, isize>,
    names: InputSession<Epoch, (CandidateId, String), isize>,
    named: HashSet<CandidateId>,
}

impl Ingest {
    fn record(&mut self, position: Position, record: &[u8]) {
        match decode(record) {
            Ok(ballot) => {
                let cube = ballot.cube_key();
                if self.named.insert(cube.candidate) {
                    self.names
                        .insert((cube.candidate, ballot.decision.into_owned()));
                }
                self.ballots.insert((ballot.voter, (position, cube)));
            }
            Err(reason) => self.rejects.insert(reason),
        }
    }
    fn advance_to(&mut self, epoch: Epoch) {
        self.ballots.advance_to(epoch);
        self.rejects.advance_to(epoch);
        self.names.advance_to(epoch);
        self.ballots.flush();
        self.rejects.flush();
        self.names.flush();
    }
}

/// Records handed to the graph per poll.
const POLL_RECORDS: usize = 4096;

/// Runs the graph on this worker over `source` until it is exhausted or `stop` is set. Worker 0
/// calls `publish` for every completed epoch, the last time with `complete` set.
pub fn run_worker(
    worker: &mut Worker,
    source: &mut dyn Source,
    options: &PipelineOptions,
    stop: &AtomicBool,
    publish: Publish,
) -> Result<(), String> {
    let dedup = options.dedup;
    let probe = ProbeHandle::new();
    let mut ingest = worker.dataflow::<Epoch, _, _>(|scope| {
        let (ballots, ballot_stream) = scope.new_collection();
        let (rejects, reject_stream) = scope.new_collection();
        let (names, name_stream) = scope.new_collection();
        let counts = tally_counts(ballot_stream, reject_stream, name_stream, dedup);
        publish_on_worker_zero(counts.probe_with(&probe), publish);
        Ingest {
            ballots,
            rejects,
            names,
            named: HashSet::new(),
        }
    });

    let mut batch = RecordBatch::default();
    let mut epoch: Epoch = 0;
    let mut exhausted = false;
    while !exhausted && !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        let mut taken = 0;
        while taken < options.epoch_records && started.elapsed() < options.tick {
            batch.clear();
            let state = source.poll(POLL_RECORDS.min(options.epoch_records - taken), &mut batch)?;
            for (position, record) in batch.iter() {
                ingest.record(position, record);
            }
            taken += batch.len();
            match state {
                SourceState::Active => {
                    worker.step();
                }
                SourceState::Idle => {
                    worker.step_or_park(Some(Duration::from_millis(1)));
                }
                SourceState::Exhausted => {
                    exhausted = true;
                    break;
                }
            }
        }
        epoch += 1;
        ingest.advance_to(epoch);
        let behind = epoch.saturating_sub(options.epochs_in_flight);
        worker.step_or_park_while(Some(Duration::from_millis(1)), || probe.less_than(&behind));
    }
    drop(ingest);
    worker.step_or_park_while(Some(Duration::from_millis(1)), || !probe.done());
    Ok(())
}

/// A source over records held in memory, handed out `per_poll` at a time: for tests, benchmarks
/// and embedding.
pub struct MemorySource {
    records: std::vec::IntoIter<(Position, Vec<u8>)>,
    per_poll: usize,
}

impl MemorySource {
    pub fn new(records: Vec<(Position, Vec<u8>)>, per_poll: usize) -> MemorySource {
        MemorySource {
            records: records.into_iter(),
            per_poll: per_poll.max(1),
        }
    }
}

impl Source for MemorySource {
    fn poll(&mut self, max: usize, batch: &mut RecordBatch) -> Result<SourceState, String> {
        for (position, record) in self.records.by_ref().take(max.min(self.per_poll)) {
            batch.push(position, &record);
        }
        Ok(if self.records.len() == 0 {
            SourceState::Exhausted
        } else {
            SourceState::Active
        })
    }
}
