//! Files in storage (HDFS or local) as a source ([`stored`]): for `tally replay hdfs://…` and
//! for recovery ([`ArchiveThenLive`]), which replays the raw archive up to a snapshot's offsets.
//!
//! Positions are either (file index, byte offset), the path order of a plain replay, or, for
//! archive segments, (partition, first offset + line), the order of the live records that follow
//! a recovery.

pub mod stored;

pub use stored::{Positions, StoredError, StoredFile, StoredFileSource};

use tally_model::Position;
use tally_source::{DurableSource, RecordBatch, RejectSink, Source, SourceError, SourceState};

/// Recovery: first the archived records up to the snapshot, then the live source, which
/// resumes at the snapshot's offsets.
pub struct ArchiveThenLive<S: Source + DurableSource> {
    replay: Option<StoredFileSource>,
    live: S,
    /// What the live source's reject sink is, asked once: the worker asks at the start, while
    /// replaying, whether ballots must carry their records for duplicates, and the answer must
    /// be the live sink's, or duplicates found after the replay would never be dead-lettered.
    live_rejects: Option<bool>,
}

impl<S: Source + DurableSource> ArchiveThenLive<S> {
    /// Replays `replay` first, then reads `live`.
    pub fn new(replay: StoredFileSource, mut live: S) -> Self {
        let live_rejects = live.rejects().map(|sink| sink.wants_duplicates());
        ArchiveThenLive {
            replay: Some(replay),
            live,
            live_rejects,
        }
    }
}

/// Rejects go to the live source's sink once the replay is over. Replayed records were
/// dead-lettered when first read (duplicates decided just after the replay ends may be sent
/// again: dead letters are at least once).
impl<S: Source + DurableSource> RejectSink for ArchiveThenLive<S> {
    fn rejected(&mut self, position: Position, record: &[u8], reason: tally_model::RejectReason) {
        if let (None, Some(sink)) = (&self.replay, self.live.rejects()) {
            sink.rejected(position, record, reason);
        }
    }
    fn wants_duplicates(&self) -> bool {
        self.live_rejects == Some(true)
    }
    fn displaced(&mut self, position: Position) {
        if let (None, Some(sink)) = (&self.replay, self.live.rejects()) {
            sink.displaced(position);
        }
    }
    fn finish(&mut self, limit: std::time::Duration) {
        if let Some(sink) = self.live.rejects() {
            sink.finish(limit);
        }
    }
}

impl<S: Source + DurableSource> Source for ArchiveThenLive<S> {
    fn poll(&mut self, max: usize, batch: &mut RecordBatch) -> Result<SourceState, SourceError> {
        if let Some(replay) = &mut self.replay {
            match replay.poll(max, batch)? {
                SourceState::Exhausted => self.replay = None,
                state => return Ok(state),
            }
        }
        self.live.poll(max, batch)
    }
    fn idle_wait(&self) -> std::time::Duration {
        match &self.replay {
            Some(replay) => replay.idle_wait(),
            None => self.live.idle_wait(),
        }
    }
    fn durability(&mut self) -> Option<&mut dyn DurableSource> {
        Some(self)
    }
    fn rejects(&mut self) -> Option<&mut dyn RejectSink> {
        match self.live_rejects {
            Some(_) => Some(self),
            None => None,
        }
    }
}

/// Recovery's progress is the live source's, with replay on top.
impl<S: Source + DurableSource> DurableSource for ArchiveThenLive<S> {
    fn offsets(&self) -> Vec<(u32, u64)> {
        self.live.offsets()
    }
    fn checkpoint(&mut self) {
        self.live.checkpoint();
    }
    fn replaying(&self) -> bool {
        self.replay.is_some()
    }
    fn durable(&self) -> Vec<(u32, u64)> {
        // Replayed records are in the archive already.
        self.live.durable()
    }
    fn lost(&self) -> u64 {
        self.live.lost()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::Storage;
    use std::sync::Arc;

    /// A live source with a reject sink that wants duplicates, writing down what it is told.
    #[derive(Default)]
    struct Live {
        told: Vec<Position>,
    }
    impl Source for Live {
        fn poll(&mut self, _: usize, _: &mut RecordBatch) -> Result<SourceState, SourceError> {
            Ok(SourceState::Exhausted)
        }
        fn rejects(&mut self) -> Option<&mut dyn RejectSink> {
            Some(self)
        }
    }
    impl RejectSink for Live {
        fn rejected(&mut self, position: Position, _: &[u8], _: tally_model::RejectReason) {
            self.told.push(position);
        }
        fn wants_duplicates(&self) -> bool {
            true
        }
    }
    impl DurableSource for Live {
        fn offsets(&self) -> Vec<(u32, u64)> {
            Vec::new()
        }
    }

    #[test]
    fn a_recovering_source_wants_what_its_live_source_wants_and_tells_it_after_the_replay() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "x\n").unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let storage = Arc::new(Storage::open(dir.path().to_str().unwrap()).unwrap());
        let files = vec![StoredFile {
            path: "a".into(),
            positions: Positions::Bytes { stream: 0 },
        }];
        let replay = StoredFileSource::new(storage, runtime.handle().clone(), files, Arc::default(), 1 << 20);
        let mut source = ArchiveThenLive::new(replay, Live::default());
        // Asked while replaying, as the worker asks at its start: the live sink's answer.
        assert!(source.rejects().is_some_and(|sink| sink.wants_duplicates()));
        let reason = tally_model::RejectReason::DuplicateVoter;
        if let Some(sink) = source.rejects() {
            sink.rejected(Position::new(0, 0), b"x", reason);
        }
        let mut batch = RecordBatch::default();
        while source.poll(10, &mut batch).unwrap() != SourceState::Exhausted {}
        if let Some(sink) = source.rejects() {
            sink.rejected(Position::new(0, 9), b"y", reason);
        }
        // Only the reject after the replay reached the live sink.
        assert_eq!(source.live.told, vec![Position::new(0, 9)]);
    }
}
