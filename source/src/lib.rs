//! # tally-source
//!
//! The contract between a source of records and the worker loop that feeds the graph, and
//! nothing else: no timely, no differential, no I/O.
//!
//! It is its own crate so that the connectors (files, the generator, Kafka, the archive) can
//! implement it without compiling the dataflow engine, and the engine can drive any of them
//! without knowing one. `tally-dataflow` re-exports it.
//!
//! - [`Source`]: records and their positions, polled in batches into a [`RecordBatch`] (one flat
//!   buffer, no allocation per record), saying after each poll whether more is ready
//!   ([`SourceState`]).
//! - [`DurableSource`]: what a source that reports offsets, archives or replays says beside its
//!   records; the worker hands it to the graph as [`tally_model::Progress`].
//! - [`RejectSink`]: where a source sends the records the job rejects (a dead-letter topic).
//! - [`MemorySource`]: records held in memory, for tests, benchmarks and embedding.

#![warn(missing_docs)]

use std::time::Duration;
use tally_model::{Position, RejectReason};

/// Raw records with their positions (and, where the source has them, creation times in
/// milliseconds since the Unix epoch), in one flat buffer: no allocation per record.
#[derive(Default)]
pub struct RecordBatch {
    bytes: Vec<u8>,
    records: Vec<(Position, usize, usize)>,
    timestamps: Vec<(usize, i64)>,
}

impl RecordBatch {
    /// Empties the batch, keeping its buffers for the next poll.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.records.clear();
        self.timestamps.clear();
    }
    /// How many records the batch holds.
    pub fn len(&self) -> usize {
        self.records.len()
    }
    /// True when the batch holds no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }
    /// Appends a copy of `record`, read at `position`.
    pub fn push(&mut self, position: Position, record: &[u8]) {
        self.push_with(position, |bytes| bytes.extend_from_slice(record));
    }
    /// Appends a record that `write` appends to the buffer it is given.
    pub fn push_with(&mut self, position: Position, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.bytes.len();
        write(&mut self.bytes);
        self.records.push((position, start, self.bytes.len()));
    }
    /// Appends a record created at `timestamp_ms` (for end-to-end latency).
    pub fn push_timestamped(&mut self, position: Position, timestamp_ms: i64, record: &[u8]) {
        self.timestamps.push((self.records.len(), timestamp_ms));
        self.push(position, record);
    }
    /// Creation times of the records that have one.
    pub fn timestamps(&self) -> impl Iterator<Item = i64> + '_ {
        self.timestamps.iter().map(|(_, t)| *t)
    }
    /// The records in the order they were appended, with their positions.
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

/// Why a source failed; the job ends with it. Each connector has its own error type; the graph
/// only passes it on.
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// One worker's share of an input: records and their positions. Sources that do more say so
/// through [`Source::durability`] and [`Source::rejects`], so the plain ones (files, the
/// generator, memory) implement one method.
pub trait Source {
    /// Appends at most `max` records to `batch`. An error ends the job.
    fn poll(&mut self, max: usize, batch: &mut RecordBatch) -> Result<SourceState, SourceError>;

    /// After an `Idle` poll, how long the worker may park before polling again (at most until
    /// its epoch's tick). A source that wakes the worker's thread when records arrive
    /// (`Thread::unpark`) can wait long; one that cannot is polled every millisecond.
    fn idle_wait(&self) -> Duration {
        Duration::from_millis(1)
    }

    /// A source that reports offsets, archives what it reads or replays an archive.
    fn durability(&mut self) -> Option<&mut dyn DurableSource> {
        None
    }

    /// A source that sends rejected records somewhere (a dead-letter topic).
    fn rejects(&mut self) -> Option<&mut dyn RejectSink> {
        None
    }
}

/// What a durability-aware source reports beside its records. The worker hands it to the graph
/// as [`tally_model::Progress`], so each completed epoch's counts come with exactly the
/// positions they reflect.
pub trait DurableSource {
    /// The next offset of every stream this source owns, after the records returned so far.
    fn offsets(&self) -> Vec<(u32, u64)>;

    /// Called when the records returned so far are all of this source's records before a
    /// checkpoint boundary (e.g. to seal archive segments there).
    fn checkpoint(&mut self) {}

    /// True while the source replays stored records (recovery), before reading live ones.
    fn replaying(&self) -> bool {
        false
    }

    /// Per stream, the offset before which every record is durable in the archive.
    fn durable(&self) -> Vec<(u32, u64)> {
        Vec::new()
    }

    /// Records this source knows it will never read (e.g. deleted by Kafka's retention before
    /// it got to them), in total since it started, plus what it was told was lost before.
    fn lost(&self) -> u64 {
        0
    }
}

/// Where a source sends the records the job rejects.
pub trait RejectSink {
    /// Told of every rejected record: at once for those that fail validation, and once the
    /// graph has decided it for duplicates, when [`RejectSink::wants_duplicates`].
    fn rejected(&mut self, position: Position, record: &[u8], reason: RejectReason);

    /// True when `rejected` should hear of duplicates too. Ballots then carry their raw records
    /// through the graph (no further than the dedup operator).
    fn wants_duplicates(&self) -> bool {
        false
    }

    /// Told, when it wants duplicates, that the record at `position`, which had counted, is a
    /// `duplicate_voter` after all: a ballot of the same voter at an earlier position arrived
    /// later. The graph keeps no record bytes per voter, so the sink reads this one back (the
    /// Kafka source fetches it from the topic). `position` may be in a stream another worker
    /// reads.
    fn displaced(&mut self, _position: Position) {}

    /// Called once, when the worker is done: deliver what is still outstanding, returning within
    /// `limit` whatever the sink's service does, and say what could not be delivered.
    fn finish(&mut self, _limit: Duration) {}
}

/// A source over records held in memory, handed out `per_poll` at a time: for tests, benchmarks
/// and embedding.
pub struct MemorySource {
    records: std::vec::IntoIter<(Position, Vec<u8>)>,
    per_poll: usize,
}

impl MemorySource {
    /// A source of `records`, at most `per_poll` (at least one) a poll.
    pub fn new(records: Vec<(Position, Vec<u8>)>, per_poll: usize) -> MemorySource {
        MemorySource {
            records: records.into_iter(),
            per_poll: per_poll.max(1),
        }
    }
}

impl Source for MemorySource {
    fn poll(&mut self, max: usize, batch: &mut RecordBatch) -> Result<SourceState, SourceError> {
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
