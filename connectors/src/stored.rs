//! Files in [`Storage`] (HDFS or local) as a source: for `tally replay hdfs://…` and for
//! recovery, which replays the raw archive up to a snapshot's offsets.
//!
//! A background thread fetches whole files ahead of the worker (two at most in memory), so the
//! timely worker never blocks on storage. Positions are either (file index, byte offset), the
//! path order of a plain replay, or, for archive segments, (partition, first offset + line),
//! the order of the live records that follow a recovery.

use crate::storage::Storage;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, TryRecvError};
use std::sync::Arc;
use tally_dataflow::{Position, RecordBatch, Source, SourceState};

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

pub struct StoredFileSource {
    fetched: Receiver<Result<(StoredFile, Vec<u8>), String>>,
    current: Option<(Positions, Vec<u8>, usize, u64)>,
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
                let read = runtime.block_on(storage.read(&file.path)).map(|bytes| (file, bytes));
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

impl Source for StoredFileSource {
    fn poll(&mut self, max: usize, batch: &mut RecordBatch) -> Result<SourceState, String> {
        let mut taken = 0;
        while taken < max {
            let Some((positions, bytes, at, line)) = &mut self.current else {
                match self.fetched.try_recv() {
                    Ok(Ok((file, bytes))) => {
                        self.current = Some((file.positions, bytes, 0, 0));
                        continue;
                    }
                    Ok(Err(e)) => return Err(e),
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
            if *at >= bytes.len() {
                self.current = None;
                continue;
            }
            let rest = &bytes[*at..];
            let length = rest.iter().position(|b| *b == b'\n').map_or(rest.len(), |n| n + 1);
            let record = rest[..length].trim_ascii_end();
            let position = match *positions {
                Positions::Bytes { stream } => Position::new(stream, *at as u64),
                Positions::Archive { partition, first } => Position::new(partition, first + *line),
            };
            *at += length;
            self.progress.fetch_add(length as u64, Ordering::Relaxed);
            if record.trim_ascii_start().is_empty() {
                continue;
            }
            *line += 1;
            batch.push(position, record);
            taken += 1;
        }
        Ok(SourceState::Active)
    }
}

/// Recovery: first the archived records up to the snapshot, then the live source, which
/// resumes at the snapshot's offsets.
pub struct Recovering<S: Source> {
    replay: Option<StoredFileSource>,
    live: S,
}

impl<S: Source> Recovering<S> {
    pub fn new(replay: StoredFileSource, live: S) -> Self {
        Recovering {
            replay: Some(replay),
            live,
        }
    }
}

impl<S: Source> Source for Recovering<S> {
    fn poll(&mut self, max: usize, batch: &mut RecordBatch) -> Result<SourceState, String> {
        if let Some(replay) = &mut self.replay {
            match replay.poll(max, batch)? {
                SourceState::Exhausted => self.replay = None,
                state => return Ok(state),
            }
        }
        self.live.poll(max, batch)
    }
    fn wants_duplicates(&self) -> bool {
        self.live.wants_duplicates()
    }
    fn rejected(&mut self, position: Position, record: &[u8], reason: tally_dataflow::RejectReason) {
        // Replayed records were dead-lettered when first read (duplicates decided just after the
        // replay ends may be sent again: dead letters are at least once).
        if self.replay.is_none() {
            self.live.rejected(position, record, reason);
        }
    }
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
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let mut batch = RecordBatch::default();
        let error = loop {
            match source.poll(10, &mut batch) {
                Err(e) => break e,
                Ok(SourceState::Exhausted) => panic!("a missing file must fail"),
                Ok(_) => std::thread::sleep(std::time::Duration::from_millis(5)),
            }
        };
        assert!(error.contains("nope"), "{error}");
    }
}
