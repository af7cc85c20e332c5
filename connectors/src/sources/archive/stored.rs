//! Files in [`Storage`] as a source, streamed: a background thread reads each file in bounded
//! reads (decompressing `.gz` on the way), cuts it into lines of at most `max_record_bytes`, and
//! hands the worker chunks of lines. Memory stays bounded whatever the file sizes (a few chunks
//! and one read buffer), and the timely worker never blocks on storage.

use crate::sources::files::read_line_bounded;
use crate::storage::{Storage, StorageError};
use std::io::{BufRead, BufReader};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};
use std::sync::Arc;
use tally_model::Position;
use tally_source::{RecordBatch, Source, SourceError, SourceState};

#[allow(missing_docs, reason = "each variant is documented by its #[error] message")]
/// Why a stored file cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum StoredError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot read {path}: {cause}")]
    Read { path: String, cause: std::io::Error },
    #[error("cannot decompress {path}: {cause}")]
    Decompress { path: String, cause: std::io::Error },
}

/// How a file's records are positioned.
#[derive(Clone, Copy, Debug)]
pub enum Positions {
    /// (this stream, byte offset of the line).
    Bytes {
        /// The stream of every record in the file.
        stream: u32,
    },
    /// (partition, first + line number): an archive segment.
    Archive {
        /// The partition its records were read from.
        partition: u32,
        /// The offset of its first record.
        first: u64,
    },
}

#[derive(Clone, Debug)]
/// A file in storage, with how its records' positions are numbered.
pub struct StoredFile {
    /// Its path, relative to the storage root.
    pub path: String,
    /// How positions are numbered.
    pub positions: Positions,
}

/// A chunk holds up to this many bytes of records (or one record, if longer)...
const CHUNK_BYTES: usize = 1 << 20;
/// ...and this many chunks wait for the worker at most.
const CHUNKS_AHEAD: usize = 4;
/// Bytes read from a file per call.
const READ_BUFFER: usize = 1 << 20;

/// Records cut from a file: bytes back to back, and where each ends.
#[derive(Default)]
struct Chunk {
    bytes: Vec<u8>,
    records: Vec<(Position, usize)>,
    /// Stored bytes this chunk accounts for, told once it is consumed: the lines' bytes for a
    /// plain file; the whole stored file at the last chunk of a compressed one.
    stored: u64,
}

impl Chunk {
    fn push(&mut self, position: Position, record: &[u8]) {
        self.bytes.extend_from_slice(record);
        self.records.push((position, self.bytes.len()));
    }
}

/// The chunk being handed out, and its next record.
struct Reading {
    chunk: Chunk,
    next: usize,
}

/// Reads stored files (one worker's share) line by line, decompressing gzip and snappy segments.
pub struct StoredFileSource {
    chunks: Receiver<Result<Chunk, StoredError>>,
    current: Option<Reading>,
    /// Stored bytes read (compare with what storage lists).
    progress: Arc<AtomicU64>,
}

impl StoredFileSource {
    /// Reads `files` in order. A line longer than `max_record_bytes` is one empty (malformed)
    /// record, read past rather than into memory, as the file source does.
    pub fn new(
        storage: Arc<Storage>,
        runtime: tokio::runtime::Handle,
        files: Vec<StoredFile>,
        progress: Arc<AtomicU64>,
        max_record_bytes: usize,
    ) -> Self {
        let (sender, chunks) = std::sync::mpsc::sync_channel(CHUNKS_AHEAD);
        std::thread::spawn(move || {
            for file in files {
                match read_file(&storage, &runtime, &file, max_record_bytes, &sender) {
                    Ok(true) => {}
                    // The worker dropped the source (job ending): stop reading.
                    Ok(false) => return,
                    Err(e) => {
                        let _ = sender.send(Err(e));
                        return;
                    }
                }
            }
        });
        StoredFileSource {
            chunks,
            current: None,
            progress,
        }
    }
}

/// Sends `file`'s records in chunks; false once the receiver is gone.
fn read_file(
    storage: &Storage,
    runtime: &tokio::runtime::Handle,
    file: &StoredFile,
    max_record_bytes: usize,
    sender: &SyncSender<Result<Chunk, StoredError>>,
) -> Result<bool, StoredError> {
    let (reader, stored) = storage.blocking_reader(&file.path, runtime)?;
    let compression = crate::sinks::archive::Compression::of_path(&file.path);
    let compressed = compression != crate::sinks::archive::Compression::None;
    let mut lines: Box<dyn BufRead> = match compressed {
        true => Box::new(BufReader::with_capacity(
            READ_BUFFER,
            compression.decoder(BufReader::with_capacity(READ_BUFFER, reader)),
        )),
        false => Box::new(BufReader::with_capacity(READ_BUFFER, reader)),
    };
    let failed = |cause: std::io::Error| {
        let path = file.path.clone();
        // Storage's own failures keep their kind; anything else in a compressed file is its
        // compression.
        match (compressed, cause.get_ref().is_some_and(|e| e.is::<StorageError>())) {
            (true, false) => StoredError::Decompress { path, cause },
            _ => StoredError::Read { path, cause },
        }
    };
    let (mut at, mut line_number) = (0u64, 0u64);
    let mut line = Vec::new();
    let mut chunk = Chunk::default();
    loop {
        line.clear();
        let (consumed, over_long) = read_line_bounded(&mut lines, &mut line, max_record_bytes).map_err(failed)?;
        if consumed == 0 {
            break;
        }
        let position = match file.positions {
            Positions::Bytes { stream } => Position::new(stream, at),
            Positions::Archive { partition, first } => Position::new(partition, first + line_number),
        };
        at += consumed as u64;
        if !compressed {
            chunk.stored += consumed as u64;
        }
        let record = line.trim_ascii_end();
        if !over_long && record.trim_ascii_start().is_empty() {
            continue;
        }
        line_number += 1;
        chunk.push(position, if over_long { b"" } else { record });
        if chunk.bytes.len() >= CHUNK_BYTES && sender.send(Ok(std::mem::take(&mut chunk))).is_err() {
            return Ok(false);
        }
    }
    if compressed {
        chunk.stored += stored;
    }
    Ok(sender.send(Ok(chunk)).is_ok())
}

impl Source for StoredFileSource {
    fn poll(&mut self, max: usize, batch: &mut RecordBatch) -> Result<SourceState, SourceError> {
        let mut taken = 0;
        while taken < max {
            let Some(reading) = &mut self.current else {
                match self.chunks.try_recv() {
                    Ok(Ok(chunk)) => {
                        self.current = Some(Reading { chunk, next: 0 });
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
            let records = &reading.chunk.records;
            if reading.next >= records.len() {
                self.progress.fetch_add(reading.chunk.stored, Ordering::Relaxed);
                self.current = None;
                continue;
            }
            let start = match reading.next {
                0 => 0,
                n => records[n - 1].1,
            };
            let (position, end) = records[reading.next];
            batch.push(position, &reading.chunk.bytes[start..end]);
            reading.next += 1;
            taken += 1;
        }
        Ok(SourceState::Active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1 << 20;

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
        let mut source = StoredFileSource::new(storage, runtime.handle().clone(), files, progress.clone(), LIMIT);
        let got = drain(&mut source);
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

    /// Every record the source gives until it ends, with its position.
    fn drain(source: &mut StoredFileSource) -> Vec<(Position, Vec<u8>)> {
        let mut batch = RecordBatch::default();
        while source.poll(10, &mut batch).unwrap() != SourceState::Exhausted {}
        batch.iter().map(|(p, r)| (p, r.to_vec())).collect()
    }

    #[test]
    fn compressed_files_are_read_as_their_records_and_count_their_stored_bytes() {
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"p\nq\n").unwrap();
        let gzip = encoder.finish().unwrap();
        let mut snappy = Vec::new();
        crate::sinks::archive::hadoop_snappy::compress_into(
            &mut snap::raw::Encoder::new(),
            &mut Vec::new(),
            b"p\nq\n",
            &mut snappy,
        )
        .unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let storage = Arc::new(Storage::open(dir.path().to_str().unwrap()).unwrap());
        let files = |path: &str| {
            vec![StoredFile {
                path: path.into(),
                positions: Positions::Archive { partition: 1, first: 7 },
            }]
        };
        for (name, compressed) in [("s.ndjson.gz", gzip), ("s.ndjson.snappy", snappy)] {
            std::fs::write(dir.path().join(name), &compressed).unwrap();
            let progress = Arc::new(AtomicU64::new(0));
            let mut source = StoredFileSource::new(
                storage.clone(),
                runtime.handle().clone(),
                files(name),
                progress.clone(),
                LIMIT,
            );
            let got = drain(&mut source);
            assert_eq!(
                got,
                vec![
                    (Position::new(1, 7), b"p".to_vec()),
                    (Position::new(1, 8), b"q".to_vec())
                ],
                "{name}"
            );
            assert_eq!(progress.load(Ordering::Relaxed), compressed.len() as u64, "{name}");
        }
        for broken in ["broken.gz", "broken.snappy"] {
            std::fs::write(dir.path().join(broken), b"not compressed at all").unwrap();
            let mut source = StoredFileSource::new(
                storage.clone(),
                runtime.handle().clone(),
                files(broken),
                Arc::default(),
                LIMIT,
            );
            let error = first_error(&mut source);
            assert!(error.contains(&format!("cannot decompress {broken}")), "{error}");
        }
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
        let mut source = StoredFileSource::new(storage, runtime.handle().clone(), files, Arc::default(), LIMIT);
        let error = first_error(&mut source);
        assert!(error.contains("nope"), "{error}");
    }

    #[test]
    fn a_long_line_is_one_empty_record_and_a_file_streams_in_chunks() {
        let dir = tempfile::tempdir().unwrap();
        // Three chunks' worth of records around one line ten times the limit.
        let record = format!("{}\n", "v".repeat(999));
        let mut text = record.repeat(1500);
        let long_at = text.len() as u64;
        text.push_str(&format!("{}\n", "x".repeat(10_000)));
        text.push_str(&record.repeat(1500));
        std::fs::write(dir.path().join("big"), &text).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let storage = Arc::new(Storage::open(dir.path().to_str().unwrap()).unwrap());
        let files = vec![StoredFile {
            path: "big".into(),
            positions: Positions::Bytes { stream: 2 },
        }];
        let progress = Arc::new(AtomicU64::new(0));
        let mut source = StoredFileSource::new(storage, runtime.handle().clone(), files, progress.clone(), 1000);
        let mut batch = RecordBatch::default();
        while source.poll(100, &mut batch).unwrap() != SourceState::Exhausted {}
        let got: Vec<(Position, usize)> = batch.iter().map(|(p, r)| (p, r.len())).collect();
        assert_eq!(got.len(), 3001);
        assert_eq!(got[1500], (Position::new(2, long_at), 0), "the long line, empty");
        assert_eq!(got[1501], (Position::new(2, long_at + 10_001), 999));
        assert!(got.iter().enumerate().all(|(i, (_, len))| i == 1500 || *len == 999));
        assert_eq!(progress.load(Ordering::Relaxed), text.len() as u64);
    }
}
