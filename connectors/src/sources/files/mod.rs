//! NDJSON files on local disk as a source: one file, or a directory read recursively in path
//! order (names starting with `.` or `_` are skipped, as Hadoop tools do for files in progress).
//!
//! Files are cut into byte-range splits dealt round-robin to workers, so parsing runs in
//! parallel even for one big file. A record's position is `(file index, byte offset of its
//! line)`: path order then line order, the dedup order, whichever worker reads it.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tally_model::Position;
use tally_source::{RecordBatch, Source, SourceError, SourceState};

/// Bytes per split.
pub const SPLIT_BYTES: u64 = 32 << 20;
pub use tally_model::codec::MAX_RECORD_BYTES;

use crate::listing::io_error;
pub use crate::listing::{list_files, path_order, FilesError};
use crate::sinks::archive::Compression;

/// A byte range of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    /// The file.
    pub path: PathBuf,
    /// The file's index in path order: the stream of its records' positions.
    pub stream: u32,
    /// The first byte (a line that starts before it belongs to the split before).
    pub start: u64,
    /// The end of the range (exclusive): a line that starts before it is read whole.
    pub end: u64,
}

/// How a file is compressed, by its name (`.gz`, `.snappy` as the archive writes them): a
/// compressed file is read whole by one worker, as a compressed stream cannot be cut.
fn compression(path: &Path) -> Compression {
    Compression::of_path(&path.to_string_lossy())
}

/// Cuts `files` into splits of at most `split_bytes` (a compressed file is one split).
pub fn plan_splits(files: &[PathBuf], split_bytes: u64) -> Result<Vec<Split>, FilesError> {
    let mut splits = Vec::new();
    for (index, path) in files.iter().enumerate() {
        let len = std::fs::metadata(path).map_err(io_error("read", path))?.len();
        let stream = u32::try_from(index).map_err(|_| FilesError::TooMany)?;
        if compression(path) != Compression::None {
            splits.push(Split {
                path: path.clone(),
                stream,
                start: 0,
                end: u64::MAX,
            });
            continue;
        }
        let mut start = 0;
        while start < len {
            let end = (start + split_bytes.max(1)).min(len);
            splits.push(Split {
                path: path.clone(),
                stream,
                start,
                end,
            });
            start = end;
        }
    }
    Ok(splits)
}

/// Total bytes of `files`, for progress.
pub fn total_bytes(files: &[PathBuf]) -> u64 {
    files
        .iter()
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum()
}

/// Reads its splits line by line; counts bytes read into `progress`.
pub struct FileSource {
    splits: std::vec::IntoIter<Split>,
    /// The longest record kept; a longer line is read past, not into memory.
    max_record_bytes: usize,
    current: Option<SplitReader>,
    progress: Arc<AtomicU64>,
}

impl FileSource {
    /// The splits of worker `index` of `peers`.
    pub fn new(splits: &[Split], index: usize, peers: usize, progress: Arc<AtomicU64>) -> FileSource {
        let mine: Vec<Split> = splits.iter().skip(index).step_by(peers.max(1)).cloned().collect();
        FileSource {
            splits: mine.into_iter(),
            max_record_bytes: MAX_RECORD_BYTES,
            current: None,
            progress,
        }
    }
}

struct SplitReader {
    reader: Box<dyn BufRead + Send>,
    path: PathBuf,
    /// Progress is counted as compressed bytes are read, not per line.
    compressed: bool,
    stream: u32,
    /// Offset of the next line.
    at: u64,
    end: u64,
    line: Vec<u8>,
}

impl SplitReader {
    fn open(split: &Split, progress: &Arc<AtomicU64>) -> Result<SplitReader, FilesError> {
        let failed = |cause| FilesError::Io {
            action: "read",
            path: split.path.clone(),
            cause,
        };
        let file = File::open(&split.path).map_err(failed)?;
        let compression = compression(&split.path);
        if compression != Compression::None {
            let counted = Counted {
                inner: file,
                progress: progress.clone(),
            };
            let decoder = compression.decoder(BufReader::with_capacity(1 << 16, counted));
            return Ok(SplitReader {
                reader: Box::new(BufReader::with_capacity(1 << 20, decoder)),
                path: split.path.clone(),
                compressed: true,
                stream: split.stream,
                at: 0,
                end: split.end,
                line: Vec::new(),
            });
        }
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut at = split.start;
        if split.start > 0 {
            // The line that straddles `start` belongs to the previous split: skip through the
            // first newline at or after `start - 1`, keeping none of it (it may be any length).
            reader.seek(SeekFrom::Start(split.start - 1)).map_err(failed)?;
            let (skipped, _) = read_line_bounded(&mut reader, &mut Vec::new(), 0).map_err(failed)?;
            at = split.start - 1 + skipped as u64;
        }
        Ok(SplitReader {
            reader: Box::new(reader),
            path: split.path.clone(),
            compressed: false,
            stream: split.stream,
            at,
            end: split.end,
            line: Vec::new(),
        })
    }
}

impl FileSource {
    /// With `limit` as the longest record (the default is [`MAX_RECORD_BYTES`]).
    pub fn with_max_record_bytes(self, limit: usize) -> FileSource {
        FileSource {
            max_record_bytes: limit,
            ..self
        }
    }
}

impl Source for FileSource {
    fn poll(&mut self, max: usize, batch: &mut RecordBatch) -> Result<SourceState, SourceError> {
        let mut taken = 0;
        while taken < max {
            let reader = match &mut self.current {
                Some(reader) => reader,
                None => match self.splits.next() {
                    Some(split) => self.current.insert(SplitReader::open(&split, &self.progress)?),
                    None => return Ok(SourceState::Exhausted),
                },
            };
            if reader.at >= reader.end {
                self.current = None;
                continue;
            }
            // A whole line in the read buffer is handed over from there, without a copy.
            let buffered = reader.reader.fill_buf().map_err(|cause| FilesError::Io {
                action: "read",
                path: reader.path.clone(),
                cause,
            })?;
            if let Some(end) = memchr::memchr(b'\n', buffered).filter(|end| *end <= self.max_record_bytes) {
                let position = Position::new(reader.stream, reader.at);
                let record = buffered[..end].trim_ascii_end();
                let read = end + 1;
                let blank = record.trim_ascii_start().is_empty();
                if !blank {
                    batch.push(position, record);
                    taken += 1;
                }
                reader.reader.consume(read);
                reader.at += read as u64;
                if !reader.compressed {
                    self.progress.fetch_add(read as u64, Ordering::Relaxed);
                }
                continue;
            }
            reader.line.clear();
            let (read, over_long) = read_line_bounded(&mut reader.reader, &mut reader.line, self.max_record_bytes)
                .map_err(|cause| FilesError::Io {
                    action: "read",
                    path: reader.path.clone(),
                    cause,
                })?;
            if read == 0 {
                self.current = None;
                continue;
            }
            let position = Position::new(reader.stream, reader.at);
            reader.at += read as u64;
            if !reader.compressed {
                self.progress.fetch_add(read as u64, Ordering::Relaxed);
            }
            let record = reader.line.trim_ascii_end();
            if !over_long && record.trim_ascii_start().is_empty() {
                continue;
            }
            // An over-long line still counts, as one malformed record.
            batch.push(position, if over_long { b"" } else { record });
            taken += 1;
        }
        Ok(SourceState::Active)
    }
}

/// Reads one line (through its `\n`) into `line`, keeping at most `limit` bytes of it. Returns
/// the bytes consumed and whether the record (the line without trailing whitespace) is longer
/// than `limit`; a line of any length costs at most `limit` bytes of memory.
pub(crate) fn read_line_bounded(
    reader: &mut impl BufRead,
    line: &mut Vec<u8>,
    limit: usize,
) -> std::io::Result<(usize, bool)> {
    let (mut consumed, mut over_long) = (0, false);
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            break;
        }
        let (chunk, ended) = match memchr::memchr(b'\n', available) {
            Some(end) => (&available[..=end], true),
            None => (available, false),
        };
        let keep = chunk.len().min(limit.saturating_sub(line.len()));
        line.extend_from_slice(&chunk[..keep]);
        over_long |= chunk[keep..].iter().any(|b| !b.is_ascii_whitespace());
        let length = chunk.len();
        reader.consume(length);
        consumed += length;
        if ended {
            break;
        }
    }
    Ok((consumed, over_long))
}

/// A reader that counts the bytes read through it into `progress`.
struct Counted<R> {
    inner: R,
    progress: Arc<AtomicU64>,
}

impl<R: std::io::Read> std::io::Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.progress.fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_over_the_limit_is_one_empty_record_and_never_held_whole() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("long.ndjson");
        let limit = 1000;
        let mut text = "x".repeat(50 * limit);
        text.push('\n');
        text.push_str(&"y".repeat(limit));
        text.push_str("   \r\n");
        text.push_str("z\n");
        std::fs::write(&path, text).unwrap();
        let splits = plan_splits(&[path], SPLIT_BYTES).unwrap();
        let mut source = FileSource::new(&splits, 0, 1, Arc::default()).with_max_record_bytes(limit);
        let mut batch = RecordBatch::default();
        source.poll(2, &mut batch).unwrap();
        // The 50,000-byte line was read past with at most `limit` bytes kept.
        let held = source.current.as_ref().map_or(0, |reader| reader.line.capacity());
        assert!(held <= 2 * limit, "{held} bytes held for a line over {limit}");
        while source.poll(10, &mut batch).unwrap() != SourceState::Exhausted {}
        let records: Vec<(u64, usize)> = batch.iter().map(|(p, r)| (p.offset, r.len())).collect();
        // Over the limit: empty (one malformed record); exactly the limit, trailing spaces
        // aside: kept whole.
        assert_eq!(
            records,
            vec![(0, 0), (50 * limit as u64 + 1, limit), (51 * limit as u64 + 6, 1)]
        );
    }

    #[test]
    fn local_files_and_storage_list_in_the_same_order() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["a-b", "a/b", "a.b", "a0", "a/a/z", "B", "a b"] {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, "x\n").unwrap();
        }
        let local: Vec<String> = list_files(dir.path())
            .unwrap()
            .iter()
            .map(|p| p.strip_prefix(dir.path()).unwrap().to_string_lossy().into_owned())
            .collect();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let storage = crate::storage::Storage::open(dir.path().to_str().unwrap()).unwrap();
        let stored: Vec<String> = runtime
            .block_on(storage.list(""))
            .unwrap()
            .into_iter()
            .map(|(path, _)| path)
            .collect();
        assert_eq!(local, stored);
        assert_eq!(local, ["B", "a b", "a-b", "a.b", "a/a/z", "a/b", "a0"]);
    }
    use std::io::Write;

    fn read_all(splits: &[Split], peers: usize) -> Vec<(Position, Vec<u8>)> {
        let mut all = Vec::new();
        for index in 0..peers {
            let mut source = FileSource::new(splits, index, peers, Arc::default());
            let mut batch = RecordBatch::default();
            while source.poll(3, &mut batch).unwrap() != SourceState::Exhausted {}
            all.extend(batch.iter().map(|(p, r)| (p, r.to_vec())));
        }
        all.sort();
        all
    }

    #[test]
    fn any_split_size_reads_every_line_once_at_its_offset() {
        let dir = tempfile::tempdir().unwrap();
        let mut file = File::create(dir.path().join("a.ndjson")).unwrap();
        file.write_all(b"one\n\ntwo\r\n  \nthree-is-longer\nfour").unwrap();
        let files = list_files(dir.path()).unwrap();
        let expected = vec![
            (Position::new(0, 0), b"one".to_vec()),
            (Position::new(0, 5), b"two".to_vec()),
            (Position::new(0, 13), b"three-is-longer".to_vec()),
            (Position::new(0, 29), b"four".to_vec()),
        ];
        for split_bytes in 1..40 {
            for peers in 1..4 {
                let splits = plan_splits(&files, split_bytes).unwrap();
                assert_eq!(read_all(&splits, peers), expected, "split {split_bytes}, peers {peers}");
            }
        }
    }

    #[test]
    fn directories_are_read_recursively_in_path_order_skipping_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b/c")).unwrap();
        for name in ["b/c/2.json", "a.json", "b/1.json", ".hidden", "_tmp", "b/_COPYING_"] {
            std::fs::write(dir.path().join(name), "x\n").unwrap();
        }
        let files = list_files(dir.path()).unwrap();
        let names: Vec<_> = files
            .iter()
            .map(|f| f.strip_prefix(dir.path()).unwrap().to_path_buf())
            .collect();
        assert_eq!(names, ["a.json", "b/1.json", "b/c/2.json"].map(PathBuf::from));
        assert!(list_files(&dir.path().join("missing"))
            .unwrap_err()
            .to_string()
            .contains("missing"));
    }

    #[test]
    fn compressed_files_read_as_their_plain_form_with_the_same_positions() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"one\n\ntwo\r\n  \nthree-is-longer\nfour";
        std::fs::write(dir.path().join("a.ndjson"), text).unwrap();
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(text).unwrap();
        let compressed = encoder.finish().unwrap();
        std::fs::write(dir.path().join("b.ndjson.gz"), &compressed).unwrap();
        let mut snappy = Vec::new();
        crate::sinks::archive::hadoop_snappy::compress_into(
            &mut snap::raw::Encoder::new(),
            &mut Vec::new(),
            text,
            &mut snappy,
        )
        .unwrap();
        std::fs::write(dir.path().join("c.ndjson.snappy"), &snappy).unwrap();
        let files = list_files(dir.path()).unwrap();
        let splits = plan_splits(&files, 4).unwrap();
        for stream in [1, 2] {
            assert_eq!(
                splits.iter().filter(|s| s.stream == stream).count(),
                1,
                "a compressed file is one split"
            );
        }
        let all = read_all(&splits, 2);
        let plain: Vec<_> = all
            .iter()
            .filter(|(p, _)| p.stream == 0)
            .map(|(p, r)| (p.offset, r))
            .collect();
        assert_eq!(plain.len(), 4);
        for stream in [1, 2] {
            let decompressed: Vec<_> = all
                .iter()
                .filter(|(p, _)| p.stream == stream)
                .map(|(p, r)| (p.offset, r))
                .collect();
            assert_eq!(plain, decompressed, "stream {stream}");
        }
        // Progress counts stored bytes: the plain file's and the compressed file's.
        let progress = Arc::new(AtomicU64::new(0));
        let mut source = FileSource::new(&splits, 0, 1, progress.clone());
        while source.poll(100, &mut RecordBatch::default()).unwrap() != SourceState::Exhausted {}
        assert_eq!(progress.load(Ordering::Relaxed), total_bytes(&files));
    }
}
