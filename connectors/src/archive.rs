//! The raw archive and the snapshots (what Flume did, plus durable state).
//!
//! Every record read from Kafka is archived byte for byte as NDJSON segments at
//! `raw/<topic>/<partition>/<first-offset>-<last-offset>.ndjson` (partition zero-padded to 5
//! digits and offsets to 20, so path order is (partition, offset) order: the dedup order).
//! Segments close on size, on age, and at every checkpoint boundary, so a snapshot's offsets
//! always fall between segments. A snapshot `snapshots/<topic>/<epoch>.json` holds the results
//! and, per partition, the next offset; it is written only after the segments that cover those
//! offsets. Snapshots are kept per topic, as segments are, so one storage root serves any number
//! of topics.
//!
//! Each process has one writer thread. It records, per partition, the offset before which its
//! segments are durable; sources report that through the graph (`Tally::Durable`), and the job
//! hands a snapshot to the writer of process 0 only once every partition is durable up to the
//! snapshot's offsets, whichever process archived it. Failed writes are retried (storage down)
//! while the queue grows to a byte bound; at the bound sources pause.

use crate::storage::{Storage, StorageError};
use backon::{ExponentialBuilder, Retryable};
use prometheus_client::encoding::DescriptorEncoder;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tally_model::metrics::{counter, gauge, Collector};

/// How segments are stored. Both forms are read directly by Hadoop's tools: `hdfs dfs -text` and
/// Spark's JSON reader decompress a `.gz` file by its name. zstd is not offered: Hadoop reads
/// `.zst` only through a native libhadoop built with zstd, which its Maven jars do not carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// `.ndjson`: the records as they came.
    None,
    /// `.ndjson.gz`: one gzip member per segment, at deflate's fastest level (see BENCHMARKS.md).
    #[default]
    Gzip,
}

impl Compression {
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => ".ndjson",
            Compression::Gzip => ".ndjson.gz",
        }
    }
}

/// What can go wrong in the archive and the snapshots.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{0:?} is not none or gzip")]
    UnknownCompression(String),
    #[error("zstd segments would need a native libhadoop with zstd to read back (`hdfs dfs -text`, Spark); use gzip")]
    Zstd,
    #[error("cannot {doing} an archive segment: {source}")]
    Segment {
        doing: &'static str,
        source: std::io::Error,
    },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot encode snapshot {epoch}: {source}")]
    EncodeSnapshot { epoch: u64, source: serde_json::Error },
    #[error("cannot decode snapshot {path}: {source}")]
    DecodeSnapshot { path: String, source: serde_json::Error },
}

/// Storage writes have been failing (and are being retried) for `since`.
#[derive(Debug, thiserror::Error)]
#[error("storage failing for {since:.0?} ({queued_bytes} bytes queued): {error}")]
pub struct StorageFailing {
    pub since: Duration,
    pub queued_bytes: u64,
    pub error: String,
}

impl std::str::FromStr for Compression {
    type Err = ArchiveError;
    fn from_str(text: &str) -> Result<Compression, ArchiveError> {
        match text {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Err(ArchiveError::Zstd),
            other => Err(ArchiveError::UnknownCompression(other.to_string())),
        }
    }
}

/// True for a gzip-compressed file, by its name (as Hadoop decides).
pub fn is_gzip(path: &str) -> bool {
    path.ends_with(".gz")
}

/// A closed run of one partition's records, as stored (compressed or not).
pub struct Segment {
    pub topic: String,
    pub partition: u32,
    pub first: u64,
    pub last: u64,
    pub compression: Compression,
    pub bytes: bytes::Bytes,
}

impl Segment {
    pub fn path(&self) -> String {
        segment_path(&self.topic, self.partition, self.first, self.last, self.compression)
    }
}

pub fn segment_path(topic: &str, partition: u32, first: u64, last: u64, compression: Compression) -> String {
    let extension = compression.extension();
    format!("raw/{topic}/{partition:05}/{first:020}-{last:020}{extension}")
}

/// `(partition, first, last)` of an archive path (plain or compressed), if it is one.
pub fn parse_segment_path(path: &str) -> Option<(u32, u64, u64)> {
    let mut parts = path.rsplit('/');
    let file = parts.next()?;
    let name = file
        .strip_suffix(Compression::None.extension())
        .or_else(|| file.strip_suffix(Compression::Gzip.extension()))?;
    let partition = parts.next()?.parse().ok()?;
    let (first, last) = name.split_once('-')?;
    Some((partition, first.parse().ok()?, last.parse().ok()?))
}

/// An open segment's body: records are copied once, from the fetched message into this.
enum Body {
    Plain(Vec<u8>),
    /// Records gather in `pending` and are compressed a block at a time: deflate called once per
    /// record costs more than the compression itself.
    Gzip {
        encoder: Box<flate2::write::GzEncoder<Vec<u8>>>,
        pending: Vec<u8>,
    },
}

/// Record bytes compressed at once.
const COMPRESS_BLOCK: usize = 256 << 10;

impl Body {
    fn new(compression: Compression) -> Body {
        match compression {
            Compression::None => Body::Plain(Vec::with_capacity(1 << 16)),
            Compression::Gzip => Body::Gzip {
                encoder: Box::new(flate2::write::GzEncoder::new(
                    Vec::with_capacity(1 << 16),
                    flate2::Compression::fast(),
                )),
                pending: Vec::with_capacity(COMPRESS_BLOCK + (1 << 10)),
            },
        }
    }

    fn append(&mut self, record: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        match self {
            Body::Plain(bytes) => {
                bytes.extend_from_slice(record);
                bytes.push(b'\n');
                Ok(())
            }
            Body::Gzip { encoder, pending } => {
                pending.extend_from_slice(record);
                pending.push(b'\n');
                if pending.len() >= COMPRESS_BLOCK {
                    encoder.write_all(pending)?;
                    pending.clear();
                }
                Ok(())
            }
        }
    }

    /// Bytes held in memory so far.
    fn held(&self) -> usize {
        match self {
            Body::Plain(bytes) => bytes.len(),
            Body::Gzip { encoder, pending } => encoder.get_ref().len() + pending.len(),
        }
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Body::Plain(bytes) => Ok(bytes),
            Body::Gzip { mut encoder, pending } => {
                use std::io::Write;
                encoder.write_all(&pending)?;
                encoder.finish()
            }
        }
    }
}

struct OpenSegment {
    first: u64,
    last: u64,
    body: Body,
    /// Record bytes appended (before compression): segments close on this, so a segment's
    /// records take the same memory to replay whatever the compression.
    raw_bytes: usize,
    held: usize,
    opened: Instant,
}

/// One worker's open segments, one per partition it owns.
pub struct SegmentBuilder {
    topic: String,
    compression: Compression,
    max_bytes: usize,
    max_age: Duration,
    open: BTreeMap<u32, OpenSegment>,
    open_bytes: usize,
}

impl SegmentBuilder {
    pub fn new(topic: &str, compression: Compression, max_bytes: usize, max_age: Duration) -> SegmentBuilder {
        SegmentBuilder {
            topic: topic.to_string(),
            compression,
            max_bytes,
            max_age,
            open: BTreeMap::new(),
            open_bytes: 0,
        }
    }

    /// Bytes held by open segments (not yet handed to the writer).
    pub fn open_bytes(&self) -> usize {
        self.open_bytes
    }

    /// Appends a record (no line breaks in it); returns the segment if this filled it.
    pub fn append(&mut self, partition: u32, offset: u64, record: &[u8]) -> Result<Option<Segment>, ArchiveError> {
        let compression = self.compression;
        let segment = self.open.entry(partition).or_insert_with(|| OpenSegment {
            first: offset,
            last: offset,
            body: Body::new(compression),
            raw_bytes: 0,
            held: 0,
            opened: Instant::now(),
        });
        segment.last = offset;
        segment.body.append(record).map_err(|source| ArchiveError::Segment {
            doing: "add a record to",
            source,
        })?;
        segment.raw_bytes += record.len() + 1;
        let held = segment.body.held();
        self.open_bytes = self.open_bytes + held - segment.held;
        segment.held = held;
        if segment.raw_bytes >= self.max_bytes {
            return self.close(partition);
        }
        Ok(None)
    }

    fn close(&mut self, partition: u32) -> Result<Option<Segment>, ArchiveError> {
        let Some(open) = self.open.remove(&partition) else {
            return Ok(None);
        };
        self.open_bytes -= open.held;
        let bytes = open.body.finish().map_err(|source| ArchiveError::Segment {
            doing: "finish",
            source,
        })?;
        Ok(Some(Segment {
            topic: self.topic.clone(),
            partition,
            first: open.first,
            last: open.last,
            compression: self.compression,
            bytes: bytes.into(),
        }))
    }

    fn close_all(&mut self, partitions: Vec<u32>) -> Result<Vec<Segment>, ArchiveError> {
        let mut closed = Vec::new();
        for partition in partitions {
            closed.extend(self.close(partition)?);
        }
        Ok(closed)
    }

    /// Segments open longer than the age limit.
    pub fn due(&mut self) -> Result<Vec<Segment>, ArchiveError> {
        let old: Vec<u32> = self
            .open
            .iter()
            .filter(|(_, s)| s.opened.elapsed() >= self.max_age)
            .map(|(p, _)| *p)
            .collect();
        self.close_all(old)
    }

    /// The open segment holding the most bytes, closed early.
    pub fn close_largest(&mut self) -> Result<Option<Segment>, ArchiveError> {
        match self.open.iter().max_by_key(|(_, s)| s.held).map(|(p, _)| *p) {
            Some(partition) => self.close(partition),
            None => Ok(None),
        }
    }

    /// Every open segment (at a checkpoint boundary).
    pub fn seal(&mut self) -> Result<Vec<Segment>, ArchiveError> {
        let all: Vec<u32> = self.open.keys().copied().collect();
        self.close_all(all)
    }
}

/// A checkpoint: results and the offsets they reflect.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    pub epoch: u64,
    pub topic: String,
    /// Partition → next offset to read.
    pub offsets: BTreeMap<u32, u64>,
    /// The `/api/results` document at this epoch.
    pub results: serde_json::Value,
}

#[derive(Default)]
struct WriterState {
    queued_bytes: AtomicU64,
    written: AtomicU64,
    /// Partition → the offset before which this writer has made every segment durable.
    durable: Mutex<BTreeMap<u32, u64>>,
    snapshots: AtomicU64,
    last_snapshot: AtomicU64,
    /// The newest snapshot not yet written. A newer one replaces it: after an outage only the
    /// latest state is worth writing.
    pending: Mutex<Option<Snapshot>>,
    /// Wakes the writer for a pending snapshot.
    snapshot_queued: tokio::sync::Notify,
    failing: Mutex<Option<(Instant, String)>>,
}

/// Segment writes in flight at once. A write's cost is mostly waiting (HDFS's NameNode answers a
/// file's `complete` only after the DataNode reports the block, and the client then sleeps
/// 500 ms before asking again), so a few at once keep the storage busy. Segments of one
/// partition are written in order, so its durable offset only ever grows over a contiguous run.
const WRITES_IN_FLIGHT: usize = 8;

/// The single writer of the archive and the snapshots.
pub struct ArchiveWriter {
    segments: Mutex<Option<tokio::sync::mpsc::UnboundedSender<Segment>>>,
    state: Arc<WriterState>,
    limit_bytes: u64,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Runs `job` until it succeeds (exponential backoff from 100 ms to 2 s), recording failures
/// for /healthz.
async fn until_done<F, Fut, E>(state: &WriterState, job: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let forever = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(2))
        .without_max_times();
    let retried = job.retry(forever).notify(|e: &E, _| {
        let mut failing = state.failing.lock().unwrap_or_else(|p| p.into_inner());
        if failing.is_none() {
            tracing::warn!("storage write failed, retrying until it succeeds: {e}");
        }
        failing.get_or_insert((Instant::now(), e.to_string()));
    });
    // Without a limit on attempts, the retry ends only in success.
    let _ = retried.await;
    let recovered = state.failing.lock().unwrap_or_else(|p| p.into_inner()).take();
    if let Some((since, _)) = recovered {
        tracing::info!(after = ?since.elapsed(), "storage writes succeed again");
    }
}

struct ArchiveCollector(Arc<ArchiveWriter>);

impl std::fmt::Debug for ArchiveCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ArchiveCollector")
    }
}

impl Collector for ArchiveCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let (writer, e) = (&self.0, &mut encoder);
        let s = &writer.state;
        counter(
            e,
            "tally_archive_segments",
            "Archive segments written.",
            s.written.load(Ordering::Relaxed),
        )?;
        let queued = s.queued_bytes.load(Ordering::Relaxed) as i64;
        gauge(e, "tally_archive_queued_bytes", "Bytes waiting to be written.", queued)?;
        counter(
            e,
            "tally_snapshots",
            "Snapshots written.",
            s.snapshots.load(Ordering::Relaxed),
        )?;
        let epoch = s.last_snapshot.load(Ordering::Relaxed) as i64;
        gauge(
            e,
            "tally_snapshot_epoch",
            "The epoch of the latest snapshot written.",
            epoch,
        )?;
        let failing = i64::from(writer.health().is_err());
        gauge(
            e,
            "tally_storage_failing",
            "1 while storage writes fail (and are retried).",
            failing,
        )
    }
}

/// What a finished write was.
enum Written {
    Segment { partition: u32, last: u64, bytes: u64 },
    Snapshot { epoch: u64 },
}

/// The writer's loop: segments as they come, at most [`WRITES_IN_FLIGHT`] at once and one per
/// partition, and the pending snapshot whenever there is one. Ends when the senders are gone and
/// everything is written.
async fn write_all(
    storage: Arc<Storage>,
    state: Arc<WriterState>,
    mut queue: tokio::sync::mpsc::UnboundedReceiver<Segment>,
    keep_snapshots: usize,
) {
    let mut waiting: BTreeMap<u32, std::collections::VecDeque<Segment>> = BTreeMap::new();
    let mut busy: std::collections::BTreeSet<u32> = Default::default();
    let mut writes = tokio::task::JoinSet::new();
    let mut snapshot_in_flight = false;
    let mut open = true;
    loop {
        for (partition, queued) in waiting.iter_mut() {
            if writes.len() >= WRITES_IN_FLIGHT + usize::from(snapshot_in_flight) {
                break;
            }
            if busy.contains(partition) {
                continue;
            }
            let Some(segment) = queued.pop_front() else {
                continue;
            };
            busy.insert(*partition);
            let (storage, state) = (storage.clone(), state.clone());
            writes.spawn(async move {
                let path = segment.path();
                until_done(&state, || storage.write_atomic(&path, segment.bytes.clone())).await;
                Written::Segment {
                    partition: segment.partition,
                    last: segment.last,
                    bytes: segment.bytes.len() as u64,
                }
            });
        }
        waiting.retain(|_, queued| !queued.is_empty());
        if !snapshot_in_flight {
            let ready = state.pending.lock().unwrap_or_else(|p| p.into_inner()).take();
            if let Some(snapshot) = ready {
                snapshot_in_flight = true;
                let (storage, state) = (storage.clone(), state.clone());
                writes.spawn(async move {
                    until_done(&state, || write_snapshot(&storage, &snapshot, keep_snapshots)).await;
                    Written::Snapshot { epoch: snapshot.epoch }
                });
            }
        }
        if !open && writes.is_empty() && waiting.is_empty() {
            break;
        }
        tokio::select! {
            segment = queue.recv(), if open => match segment {
                Some(segment) => waiting.entry(segment.partition).or_default().push_back(segment),
                None => open = false,
            },
            Some(done) = writes.join_next() => match done {
                Ok(Written::Segment { partition, last, bytes }) => {
                    busy.remove(&partition);
                    state.queued_bytes.fetch_sub(bytes, Ordering::Relaxed);
                    state.written.fetch_add(1, Ordering::Relaxed);
                    let mut durable = state.durable.lock().unwrap_or_else(|p| p.into_inner());
                    let through = durable.entry(partition).or_default();
                    *through = (*through).max(last + 1);
                }
                Ok(Written::Snapshot { epoch }) => {
                    snapshot_in_flight = false;
                    state.snapshots.fetch_add(1, Ordering::Relaxed);
                    state.last_snapshot.store(epoch, Ordering::Relaxed);
                }
                Err(e) => {
                    // A write task cannot fail (it retries); if it panicked, say so and stop:
                    // what it held is not durable, so no snapshot will claim it.
                    tracing::error!("an archive write stopped: {e}");
                    return;
                }
            },
            _ = state.snapshot_queued.notified(), if !snapshot_in_flight => {}
        }
    }
}

impl ArchiveWriter {
    /// Starts the writer on `runtime`; queued segments may hold up to `limit_bytes`.
    pub fn start(
        storage: Arc<Storage>,
        runtime: tokio::runtime::Handle,
        keep_snapshots: usize,
        limit_bytes: u64,
    ) -> Arc<ArchiveWriter> {
        let (segments, queue) = tokio::sync::mpsc::unbounded_channel::<Segment>();
        let state = Arc::new(WriterState::default());
        let thread_state = state.clone();
        let thread = std::thread::Builder::new()
            .name("tally-archive".to_string())
            .spawn(move || runtime.block_on(write_all(storage, thread_state, queue, keep_snapshots)))
            .expect("spawning the archive writer thread");
        Arc::new(ArchiveWriter {
            segments: Mutex::new(Some(segments)),
            state,
            limit_bytes,
            thread: Mutex::new(Some(thread)),
        })
    }

    pub fn segment(&self, segment: Segment) {
        self.state
            .queued_bytes
            .fetch_add(segment.bytes.len() as u64, Ordering::Relaxed);
        if let Ok(segments) = self.segments.lock() {
            if let Some(segments) = segments.as_ref() {
                let _ = segments.send(segment);
            }
        }
    }

    /// Queues `snapshot` (replacing one not yet written). The caller makes sure the archive
    /// already holds the records before its offsets: they may have been written by other
    /// processes (see `Tally::Durable`).
    pub fn snapshot(&self, snapshot: Snapshot) {
        if let Ok(mut pending) = self.state.pending.lock() {
            *pending = Some(snapshot);
        }
        self.state.snapshot_queued.notify_one();
    }

    /// The offset before which this writer has made every segment of `partition` durable.
    pub fn durable_through(&self, partition: u32) -> Option<u64> {
        let durable = self.state.durable.lock().unwrap_or_else(|p| p.into_inner());
        durable.get(&partition).copied()
    }
    /// True while queued segments plus `open` bytes not yet handed over reach the bound:
    /// sources pause rather than buffer more.
    pub fn backlogged(&self, open: usize) -> bool {
        self.state.queued_bytes.load(Ordering::Relaxed) + open as u64 >= self.limit_bytes
    }

    /// True when `open` bytes, not yet handed over, are at least half the bound.
    pub fn mostly_open(&self, open: usize) -> bool {
        open as u64 * 2 >= self.limit_bytes
    }

    /// `Err` while writes are failing.
    pub fn health(&self) -> Result<(), StorageFailing> {
        match self.state.failing.lock().ok().and_then(|f| f.clone()) {
            Some((since, error)) => Err(StorageFailing {
                since: since.elapsed(),
                queued_bytes: self.state.queued_bytes.load(Ordering::Relaxed),
                error,
            }),
            None => Ok(()),
        }
    }

    /// The archive's and the snapshots' metrics, read at every scrape.
    pub fn collector(self: &Arc<Self>) -> Box<dyn Collector> {
        Box::new(ArchiveCollector(self.clone()))
    }

    /// Writes everything queued, waiting at most `limit`; false if it could not.
    pub fn finish(&self, limit: Duration) -> bool {
        if let Ok(mut segments) = self.segments.lock() {
            segments.take();
        }
        let deadline = Instant::now() + limit;
        let Some(thread) = self.thread.lock().ok().and_then(|mut t| t.take()) else {
            return true;
        };
        while !thread.is_finished() {
            if Instant::now() >= deadline {
                tracing::error!("storage writes still pending at exit; the next start recovers from the last snapshot");
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = thread.join();
        true
    }
}

/// Where `topic`'s snapshots live (relative to the storage root).
pub fn snapshot_dir(topic: &str) -> String {
    format!("snapshots/{topic}")
}

/// Snapshot files laid out as before snapshots were kept per topic: directly in `snapshots/`.
pub async fn unmigrated_snapshots(storage: &Storage) -> Result<Vec<String>, ArchiveError> {
    Ok(storage
        .list("snapshots")
        .await?
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| path.matches('/').count() == 1)
        .collect())
}

/// Writes `snapshot`, points its topic's `LATEST` at it, and deletes all but the newest `keep`.
async fn write_snapshot(storage: &Storage, snapshot: &Snapshot, keep: usize) -> Result<(), ArchiveError> {
    let dir = snapshot_dir(&snapshot.topic);
    let name = format!("{:020}.json", snapshot.epoch);
    let body = serde_json::to_vec(snapshot).map_err(|source| ArchiveError::EncodeSnapshot {
        epoch: snapshot.epoch,
        source,
    })?;
    storage.write_atomic(&format!("{dir}/{name}"), body).await?;
    storage
        .write_atomic(&format!("{dir}/LATEST"), name.into_bytes())
        .await?;
    let listing = storage.list(&dir).await?;
    let mut snapshots: Vec<&String> = listing
        .iter()
        .map(|(p, _)| p)
        .filter(|p| p.ends_with(".json"))
        .collect();
    snapshots.sort();
    for old in snapshots.iter().rev().skip(keep.max(1)) {
        storage.delete(old).await?;
    }
    Ok(())
}

/// The newest readable snapshot of `topic`, if any (`LATEST` first, then older ones if it is
/// damaged).
pub async fn latest_snapshot(storage: &Storage, topic: &str) -> Result<Option<Snapshot>, ArchiveError> {
    let dir = snapshot_dir(topic);
    let mut names: Vec<String> = storage
        .list(&dir)
        .await?
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.ends_with(".json"))
        .collect();
    names.sort();
    if let Ok(latest) = storage.read(&format!("{dir}/LATEST")).await {
        let latest = format!("{dir}/{}", String::from_utf8_lossy(&latest).trim());
        names.retain(|n| *n <= latest);
    }
    for name in names.iter().rev() {
        let read = storage.read(name).await.map_err(ArchiveError::from);
        match read.and_then(|bytes| {
            serde_json::from_slice::<Snapshot>(&bytes).map_err(|source| ArchiveError::DecodeSnapshot {
                path: name.clone(),
                source,
            })
        }) {
            Ok(snapshot) => return Ok(Some(snapshot)),
            Err(e) => tracing::warn!("skipping unreadable snapshot {name}: {e}"),
        }
    }
    Ok(None)
}

/// A topic's archived segments as `(partition, first, last, path)`, in (partition, offset) order.
pub async fn segments(storage: &Storage, topic: &str) -> Result<Vec<(u32, u64, u64, String)>, ArchiveError> {
    let mut found: Vec<(u32, u64, u64, String)> = storage
        .list(&format!("raw/{topic}"))
        .await?
        .into_iter()
        .filter_map(|(path, _)| parse_segment_path(&path).map(|(p, f, l)| (p, f, l, path)))
        .collect();
    found.sort();
    Ok(found)
}

/// Before resuming at `offsets`, removes segments at or beyond them: they were written after
/// the snapshot, will be read again from Kafka, and may be cut differently this time.
pub async fn discard_beyond(
    storage: &Storage,
    topic: &str,
    offsets: &BTreeMap<u32, u64>,
) -> Result<usize, ArchiveError> {
    let mut removed = 0;
    for (partition, first, _, path) in segments(storage, topic).await? {
        if first >= offsets.get(&partition).copied().unwrap_or(0) {
            storage.delete(&path).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_close_on_size_and_seal_at_boundaries() {
        let mut builder = SegmentBuilder::new("t", Compression::None, 10, Duration::from_secs(3600));
        assert!(builder.append(3, 7, b"abcd").unwrap().is_none());
        let full = builder
            .append(3, 8, b"efgh")
            .unwrap()
            .expect("10 bytes close the segment");
        assert_eq!((full.partition, full.first, full.last), (3, 7, 8));
        assert_eq!(&full.bytes[..], b"abcd\nefgh\n");
        assert_eq!(
            full.path(),
            "raw/t/00003/00000000000000000007-00000000000000000008.ndjson"
        );
        assert_eq!(parse_segment_path(&full.path()), Some((3, 7, 8)));
        builder.append(1, 0, b"x").unwrap();
        builder.append(3, 9, b"y").unwrap();
        let sealed = builder.seal().unwrap();
        assert_eq!(
            sealed
                .iter()
                .map(|s| (s.partition, s.first, s.last))
                .collect::<Vec<_>>(),
            vec![(1, 0, 0), (3, 9, 9)]
        );
        assert!(builder.seal().unwrap().is_empty());
        assert_eq!(parse_segment_path("raw/t/x/1-2.ndjson"), None);
        assert_eq!(parse_segment_path("raw/t/00002/1-2.ndjson.gz"), Some((2, 1, 2)));
        assert_eq!(parse_segment_path("raw/t/00002/1-2.ndjson.zst"), None);
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut plain = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(bytes), &mut plain).unwrap();
        plain
    }

    #[test]
    fn gzip_segments_hold_exactly_the_records_and_close_on_record_bytes() {
        // Records past one compression block, so both the block and the final flush are used.
        let records: Vec<Vec<u8>> = (0..20_000u32)
            .map(|i| format!("{{\"id\":{i},\"state\":\"Ohio\"}}").into_bytes())
            .collect();
        let raw: usize = records.iter().map(|r| r.len() + 1).sum();
        let mut builder = SegmentBuilder::new("t", Compression::Gzip, raw, Duration::from_secs(3600));
        let mut closed = None;
        for (offset, record) in records.iter().enumerate() {
            assert!(closed.is_none(), "closed early at {offset}");
            closed = builder.append(0, 100 + offset as u64, record).unwrap();
            assert!(builder.open_bytes() < raw / 2 || closed.is_some(), "held compressed");
        }
        let segment = closed.expect("closes once the record bytes reach the limit");
        assert_eq!((segment.first, segment.last), (100, 100 + records.len() as u64 - 1));
        assert_eq!(
            segment.path(),
            "raw/t/00000/00000000000000000100-00000000000000020099.ndjson.gz"
        );
        assert!(segment.bytes.len() < raw / 3, "{} of {raw}", segment.bytes.len());
        let mut expected = records.join(&b'\n');
        expected.push(b'\n');
        assert_eq!(gunzip(&segment.bytes), expected);
        assert_eq!(builder.open_bytes(), 0);
    }

    #[test]
    fn the_largest_open_segment_closes_first() {
        let mut builder = SegmentBuilder::new("t", Compression::None, 1 << 20, Duration::from_secs(3600));
        builder.append(0, 0, b"a").unwrap();
        builder.append(1, 0, b"bbbb").unwrap();
        builder.append(2, 0, b"cc").unwrap();
        assert_eq!(builder.open_bytes(), 2 + 5 + 3);
        let largest = builder.close_largest().unwrap().expect("open segments");
        assert_eq!((largest.partition, &largest.bytes[..]), (1, &b"bbbb\n"[..]));
        assert_eq!(builder.open_bytes(), 5);
        builder.seal().unwrap();
        assert!(builder.close_largest().unwrap().is_none());
    }

    #[test]
    fn compression_is_chosen_by_name_and_zstd_is_refused_with_the_reason() {
        assert_eq!("gzip".parse::<Compression>().ok(), Some(Compression::Gzip));
        assert_eq!("none".parse::<Compression>().ok(), Some(Compression::None));
        assert!("zstd"
            .parse::<Compression>()
            .unwrap_err()
            .to_string()
            .contains("libhadoop"));
        assert!("lz4".parse::<Compression>().is_err());
        assert!(is_gzip("raw/t/00000/1-2.ndjson.gz") && !is_gzip("raw/t/00000/1-2.ndjson"));
    }

    #[test]
    fn segments_become_durable_and_snapshots_coalesce_and_are_pruned() {
        let dir = tempfile::tempdir().unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let storage = Arc::new(Storage::open(dir.path().to_str().unwrap()).unwrap());
        let writer = ArchiveWriter::start(storage.clone(), runtime.handle().clone(), 2, 1 << 20);
        for epoch in 1..=4u64 {
            writer.segment(Segment {
                topic: "t".into(),
                partition: 0,
                first: epoch * 10,
                last: epoch * 10 + 9,
                compression: Compression::None,
                bytes: b"r\n".to_vec().into(),
            });
            let offsets = BTreeMap::from([(0, epoch * 10 + 10)]);
            writer.snapshot(Snapshot {
                epoch,
                topic: "t".into(),
                offsets,
                results: serde_json::json!({"n": epoch}),
            });
        }
        assert!(writer.finish(Duration::from_secs(10)));
        assert_eq!(writer.durable_through(0), Some(50));
        assert_eq!(writer.durable_through(1), None);
        let latest = runtime.block_on(latest_snapshot(&storage, "t")).unwrap().unwrap();
        assert_eq!((latest.epoch, latest.offsets[&0]), (4, 50));
        assert!(runtime.block_on(latest_snapshot(&storage, "other")).unwrap().is_none());
        // Snapshots queued faster than they are written coalesce to the newest; at most
        // `keep` (2) remain.
        let kept = runtime.block_on(storage.list("snapshots/t")).unwrap();
        let kept = kept.iter().filter(|(p, _)| p.ends_with(".json")).count();
        assert!((1..=2).contains(&kept), "{kept}");
        let archived = runtime.block_on(segments(&storage, "t")).unwrap();
        assert_eq!(archived.len(), 4);
        let removed = runtime
            .block_on(discard_beyond(&storage, "t", &BTreeMap::from([(0, 30)])))
            .unwrap();
        assert_eq!(removed, 2);
        assert_eq!(runtime.block_on(segments(&storage, "t")).unwrap().len(), 2);
    }
}
