//! Files in [`Storage`] (HDFS or local) as a source: for `tally replay hdfs://…` and for
//! recovery, which replays the raw archive up to a snapshot's offsets.
//!
//! A background thread fetches whole files ahead of the worker (two at most in memory), so the
//! timely worker never blocks on storage. Positions are either (file index, byte offset), the
//! path order of a plain replay, or, for archive segments, (partition, first offset + line),
//! the order of the live records that follow a recovery.

use crate::storage::{Storage, StorageError};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use tally_dataflow::{DurableSource, RecordBatch, RejectSink, Source, SourceError, SourceState};
use tally_model::Position;

/// Why a stored file cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot decompress {path}: {cause}")]
    Decompress { path: String, cause: std::io::Error },
}

/// How a file's records are positioned.
#[derive(Clone, Copy, Debug)]
pub enum Positions {
    /// (this stream, byte offset of the line).
    Bytes { stream: u32 },
    /// (partition, first + line number): an archive segment.
    Archive { partition: u32, first: u64 },
}

#[derive(Clone, Debug)]
pub struct StoredFile {
    pub path: String,
    pub positions: Positions,
}

/// A fetched file's records (decompressed) and, for a compressed file, its stored size.
struct Fetched {
    file: StoredFile,
    records: Vec<u8>,
    compressed: Option<u64>,
}

/// The file being read: where the next line starts, and how many lines came before it.
struct Reading {
    positions: Positions,
    records: Vec<u8>,
    compressed: Option<u64>,
    at: usize,
    line: u64,
}

pub struct StoredFileSource {
    fetched: Receiver<Result<Fetched, StoredError>>,
    current: Option<Reading>,
    /// Stored bytes read: line by line for plain files, file by file for compressed ones (the
    /// total to compare with is what storage lists).
    progress: Arc<AtomicU64>,
}

impl StoredFileSource {
    pub fn new(
        storage: Arc<Storage>,
        runtime: tokio::runtime::Handle,
        files: Vec<StoredFile>,
        progress: Arc<AtomicU64>,
    ) -> Self {
        let (sender, fetched) = std::sync::mpsc::sync_channel(1);
        std::thread::spawn(move || {
            for file in files {
                let read = runtime
                    .block_on(storage.read(&file.path))
                    .map_err(StoredError::from)
                    .and_then(|bytes| {
                        let compressed = crate::sinks::archive::is_gzip(&file.path).then_some(bytes.len() as u64);
                        let records = decompressed(&file.path, bytes)?;
                        Ok(Fetched {
                            file,
                            records,
                            compressed,
                        })
                    });
                let failed = read.is_err();
                // The worker dropped the source (job ending): stop fetching.
                if sender.send(read).is_err() || failed {
                    return;
                }
            }
        });
        StoredFileSource {
            fetched,
            current: None,
            progress,
        }
    }
}

/// The records of a file as stored: gzip (`.gz`, as the archive writes with
/// `--archive-compression gzip`) or plain.
fn decompressed(path: &str, bytes: Vec<u8>) -> Result<Vec<u8>, StoredError> {
    if !crate::sinks::archive::is_gzip(path) {
        return Ok(bytes);
    }
    let mut plain = Vec::with_capacity(bytes.len() * 6);
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&bytes[..]), &mut plain).map_err(|cause| {
        StoredError::Decompress {
            path: path.to_string(),
            cause,
        }
    })?;
    Ok(plain)
}

impl Source for StoredFileSource {
    fn poll(&mut self, max: usize, batch: &mut RecordBatch) -> Result<SourceState, SourceError> {
        let mut taken = 0;
        while taken < max {
            let Some(reading) = &mut self.current else {
                match self.fetched.try_recv() {
                    Ok(Ok(fetched)) => {
                        self.current = Some(Reading {
                            positions: fetched.file.positions,
                            records: fetched.records,
                            compressed: fetched.compressed,
                            at: 0,
                            line: 0,
                        });
                        continue;
                    }
                    Ok(Err(e)) => return Err(e.into()),
                    Err(TryRecvError::Empty) => {
                        return Ok(if taken > 0 {
                            SourceState::Active
                        } else {
                            SourceState::Idle
                        })
                    }
                    Err(TryRecvError::Disconnected) => return Ok(SourceState::Exhausted),
                }
            };
            if reading.at >= reading.records.len() {
                if let Some(compressed) = reading.compressed {
                    self.progress.fetch_add(compressed, Ordering::Relaxed);
                }
                self.current = None;
                continue;
            }
            let rest = &reading.records[reading.at..];
            let length = rest.iter().position(|b| *b == b'\n').map_or(rest.len(), |n| n + 1);
            let record = rest[..length].trim_ascii_end();
            let position = match reading.positions {
                Positions::Bytes { stream } => Position::new(stream, reading.at as u64),
                Positions::Archive { partition, first } => Position::new(partition, first + reading.line),
            };
            reading.at += length;
            if reading.compressed.is_none() {
                self.progress.fetch_add(length as u64, Ordering::Relaxed);
            }
            if record.trim_ascii_start().is_empty() {
                continue;
            }
            reading.line += 1;
            batch.push(position, record);
            taken += 1;
        }
        Ok(SourceState::Active)
    }
}

/// Recovery: first the archived records up to the snapshot, then the live source, which
/// resumes at the snapshot's offsets.
pub struct Recovering<S: Source + DurableSource> {
    replay: Option<StoredFileSource>,
    live: S,
    /// What the live source's reject sink is, asked once: the worker asks at the start, while
    /// replaying, whether ballots must carry their records for duplicates, and the answer must
    /// be the live sink's, or duplicates found after the replay would never be dead-lettered.
    live_rejects: Option<bool>,
}

impl<S: Source + DurableSource> Recovering<S> {
    pub fn new(replay: StoredFileSource, mut live: S) -> Self {
        let live_rejects = live.rejects().map(|sink| sink.wants_duplicates());
        Recovering {
            replay: Some(replay),
            live,
            live_rejects,
        }
    }
}

/// Rejects go to the live source's sink once the replay is over. Replayed records were
/// dead-lettered when first read (duplicates decided just after the replay ends may be sent
/// again: dead letters are at least once).
impl<S: Source + DurableSource> RejectSink for Recovering<S> {
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

impl<S: Source + DurableSource> Source for Recovering<S> {
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
impl<S: Source + DurableSource> DurableSource for Recovering<S> {
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
        let replay = StoredFileSource::new(storage, runtime.handle().clone(), files, Arc::default());
        let mut source = Recovering::new(replay, Live::default());
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

    #[test]
    fn stored_files_are_read_with_their_positions() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), "x\n\ny\n").unwrap();
        std::fs::write(dir.path().join("b"), "p\nq").unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let storage = Arc::new(Storage::open(dir.path().to_str().unwrap()).unwrap());
        let files = vec![
            StoredFile {
                path: "a".into(),
                positions: Positions::Bytes { stream: 0 },
            },
            StoredFile {
                path: "b".into(),
                positions: Positions::Archive {
                    partition: 3,
                    first: 100,
                },
            },
        ];
        let progress = Arc::new(AtomicU64::new(0));
        let mut source = StoredFileSource::new(storage, runtime.handle().clone(), files, progress.clone());
        let mut batch = RecordBatch::default();
        while source.poll(10, &mut batch).unwrap() != SourceState::Exhausted {}
        let got: Vec<(Position, Vec<u8>)> = batch.iter().map(|(p, r)| (p, r.to_vec())).collect();
        assert_eq!(
            got,
            vec![
                (Position::new(0, 0), b"x".to_vec()),
                (Position::new(0, 3), b"y".to_vec()),
                (Position::new(3, 100), b"p".to_vec()),
                (Position::new(3, 101), b"q".to_vec()),
            ]
        );
        assert_eq!(progress.load(Ordering::Relaxed), 8);
    }

    /// Polls `source` until it fails (the fetch thread works meanwhile); it must not end first.
    fn first_error(source: &mut StoredFileSource) -> String {
        let mut batch = RecordBatch::default();
        loop {
            match source.poll(10, &mut batch) {
                Err(e) => return e.to_string(),
                Ok(SourceState::Exhausted) => panic!("the source ended without the error"),
                Ok(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        }
    }

    #[test]
    fn gzip_files_are_read_as_their_records_and_count_their_stored_bytes() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"p\nq\n").unwrap();
        let compressed = encoder.finish().unwrap();
        std::fs::write(dir.path().join("s.ndjson.gz"), &compressed).unwrap();
        std::fs::write(dir.path().join("broken.gz"), b"not gzip").unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let storage = Arc::new(Storage::open(dir.path().to_str().unwrap()).unwrap());
        let files = |path: &str| {
            vec![StoredFile {
                path: path.into(),
                positions: Positions::Archive { partition: 1, first: 7 },
            }]
        };
        let progress = Arc::new(AtomicU64::new(0));
        let mut source = StoredFileSource::new(
            storage.clone(),
            runtime.handle().clone(),
            files("s.ndjson.gz"),
            progress.clone(),
        );
        let mut batch = RecordBatch::default();
        while source.poll(10, &mut batch).unwrap() != SourceState::Exhausted {}
        let got: Vec<(Position, Vec<u8>)> = batch.iter().map(|(p, r)| (p, r.to_vec())).collect();
        assert_eq!(
            got,
            vec![
                (Position::new(1, 7), b"p".to_vec()),
                (Position::new(1, 8), b"q".to_vec())
            ]
        );
        assert_eq!(progress.load(Ordering::Relaxed), compressed.len() as u64);
        let mut source = StoredFileSource::new(storage, runtime.handle().clone(), files("broken.gz"), Arc::default());
        let error = first_error(&mut source);
        assert!(error.contains("cannot decompress broken.gz"), "{error}");
    }

    #[test]
    fn a_missing_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let storage = Arc::new(Storage::open(dir.path().to_str().unwrap()).unwrap());
        let files = vec![StoredFile {
            path: "nope".into(),
            positions: Positions::Bytes { stream: 0 },
        }];
        let mut source = StoredFileSource::new(storage, runtime.handle().clone(), files, Arc::default());
        let error = first_error(&mut source);
        assert!(error.contains("nope"), "{error}");
    }
}
