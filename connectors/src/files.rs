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
use tally_dataflow::{Position, RecordBatch, Source, SourceState};

/// Bytes per split.
pub const SPLIT_BYTES: u64 = 32 << 20;
/// A line longer than this is one malformed record, not a reason to run out of memory.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

/// The input files under `path`, in path order.
pub fn list_files(path: &Path) -> Result<Vec<PathBuf>, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if meta.is_file() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    let mut directories = vec![path.to_path_buf()];
    while let Some(directory) = directories.pop() {
        let entries = std::fs::read_dir(&directory).map_err(|e| format!("cannot list {}: {e}", directory.display()))?;
        for entry in entries {
            let entry = entry.map_err(|e| format!("cannot list {}: {e}", directory.display()))?;
            let name = entry.file_name();
            if name.to_string_lossy().starts_with(['.', '_']) {
                continue;
            }
            let kind = entry
                .file_type()
                .map_err(|e| format!("cannot stat {}: {e}", entry.path().display()))?;
            if kind.is_dir() {
                directories.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// A byte range of one file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub path: PathBuf,
    pub stream: u32,
    pub start: u64,
    pub end: u64,
}

/// Cuts `files` into splits of at most `split_bytes`.
pub fn plan_splits(files: &[PathBuf], split_bytes: u64) -> Result<Vec<Split>, String> {
    let mut splits = Vec::new();
    for (index, path) in files.iter().enumerate() {
        let len = std::fs::metadata(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .len();
        let stream = u32::try_from(index).map_err(|_| "too many input files".to_string())?;
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
    current: Option<SplitReader>,
    progress: Arc<AtomicU64>,
}

impl FileSource {
    /// The splits of worker `index` of `peers`.
    pub fn new(splits: &[Split], index: usize, peers: usize, progress: Arc<AtomicU64>) -> FileSource {
        let mine: Vec<Split> = splits.iter().skip(index).step_by(peers.max(1)).cloned().collect();
        FileSource {
            splits: mine.into_iter(),
            current: None,
            progress,
        }
    }
}

struct SplitReader {
    reader: BufReader<File>,
    stream: u32,
    /// Offset of the next line.
    at: u64,
    end: u64,
    line: Vec<u8>,
}

impl SplitReader {
    fn open(split: &Split) -> Result<SplitReader, String> {
        let failed = |e: std::io::Error| format!("cannot read {}: {e}", split.path.display());
        let file = File::open(&split.path).map_err(failed)?;
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut at = split.start;
        if split.start > 0 {
            // The line that straddles `start` belongs to the previous split: skip through the
            // first newline at or after `start - 1`.
            reader.seek(SeekFrom::Start(split.start - 1)).map_err(failed)?;
            let mut skipped = Vec::new();
            at = split.start - 1 + reader.read_until(b'\n', &mut skipped).map_err(failed)? as u64;
        }
        Ok(SplitReader {
            reader,
            stream: split.stream,
            at,
            end: split.end,
            line: Vec::new(),
        })
    }
}

impl Source for FileSource {
    fn poll(&mut self, max: usize, batch: &mut RecordBatch) -> Result<SourceState, String> {
        let mut taken = 0;
        while taken < max {
            let reader = match &mut self.current {
                Some(reader) => reader,
                None => match self.splits.next() {
                    Some(split) => self.current.insert(SplitReader::open(&split)?),
                    None => return Ok(SourceState::Exhausted),
                },
            };
            if reader.at >= reader.end {
                self.current = None;
                continue;
            }
            reader.line.clear();
            let read = reader
                .reader
                .read_until(b'\n', &mut reader.line)
                .map_err(|e| format!("read failed: {e}"))?;
            if read == 0 {
                self.current = None;
                continue;
            }
            let position = Position::new(reader.stream, reader.at);
            reader.at += read as u64;
            self.progress.fetch_add(read as u64, Ordering::Relaxed);
            let record = reader.line.trim_ascii_end();
            if record.trim_ascii_start().is_empty() {
                continue;
            }
            // An over-long line still counts, as one malformed record.
            batch.push(position, if record.len() > MAX_RECORD_BYTES { b"" } else { record });
            taken += 1;
        }
        Ok(SourceState::Active)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        assert!(list_files(&dir.path().join("missing")).unwrap_err().contains("missing"));
    }
}
