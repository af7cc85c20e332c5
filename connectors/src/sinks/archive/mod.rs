//! The raw archive (what Flume did): every record read from Kafka, byte for byte, as NDJSON
//! segments ([`segment`]), written to [`Storage`] by one writer per process.
//!
//! Segments close on size, on age, and at every checkpoint boundary, so a snapshot's offsets
//! always fall between segments. The writer records, per partition, the offset before which its
//! segments are durable; sources report that as progress (`Progress::Durable`), and the job
//! hands a snapshot ([`crate::sinks::snapshots`]) to the writer of process 0 only once every
//! partition is durable up to the snapshot's offsets, whichever process archived it. The same
//! writer writes the snapshots, after the segments they cover. Failed writes are retried
//! (storage down) while the queue grows to a byte bound; at the bound sources pause.

mod events;
pub mod hadoop_snappy;
pub mod segment;
mod sink;

pub use segment::{parse_segment_path, segment_path, Compression, Segment, SegmentBuilder};
pub use sink::{ArchiveConfig, ArchiveSink};

use crate::events::InternalEvent;
use crate::sinks::snapshots::{write_snapshot, Snapshot};
use crate::storage::{Storage, StorageError};
use backon::{ExponentialBuilder, Retryable};
use events::{SegmentWritten, SnapshotWritten, StorageWriteFailed, StorageWritesRecovered};
use prometheus_client::encoding::DescriptorEncoder;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tally_model::metrics::{counter, gauge, Collector};

#[allow(missing_docs, reason = "each variant is documented by its #[error] message")]
/// What can go wrong in the archive and the snapshots.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("{0:?} is not none, gzip or snappy")]
    UnknownCompression(String),
    #[error("zstd segments would need a native libhadoop with zstd to read back (`hdfs dfs -text`, Spark); use gzip")]
    Zstd,
    #[error("cannot {doing} an archive segment: {cause}")]
    Segment { doing: &'static str, cause: std::io::Error },
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Snapshot(#[from] crate::sinks::snapshots::SnapshotError),
}

/// Storage writes have been failing (and are being retried) for `since`.
#[derive(Debug, thiserror::Error)]
#[error("storage failing for {since:.0?} ({queued_bytes} bytes queued): {error}")]
pub struct StorageFailing {
    /// How long writes have been failing.
    pub since: Duration,
    /// Archive bytes waiting to be written.
    pub queued_bytes: u64,
    /// The last failure.
    pub error: String,
}

/// What the writer and its readers share. Its counters and its failing state move through
/// `events`; the queue, the durable offsets and the pending snapshot belong to the writer.
#[derive(Default)]
pub(crate) struct WriterState {
    pub(crate) queued_bytes: AtomicU64,
    pub(crate) written: AtomicU64,
    /// Partition → the offset before which this writer has made every segment durable.
    durable: Mutex<BTreeMap<u32, u64>>,
    pub(crate) snapshots: AtomicU64,
    pub(crate) last_snapshot: AtomicU64,
    /// The newest snapshot not yet written. A newer one replaces it: after an outage only the
    /// latest state is worth writing.
    pending: Mutex<Option<Snapshot>>,
    /// Wakes the writer for a pending snapshot.
    snapshot_queued: tokio::sync::Notify,
    pub(crate) failing: Mutex<Option<(Instant, String)>>,
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
    let retried = job
        .retry(forever)
        .notify(|error: &E, _| StorageWriteFailed { state, error }.emit());
    // Without a limit on attempts, the retry ends only in success.
    let _ = retried.await;
    StorageWritesRecovered { state }.emit();
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
                    SegmentWritten { state: &state, bytes }.emit();
                    let mut durable = state.durable.lock().unwrap_or_else(|p| p.into_inner());
                    let through = durable.entry(partition).or_default();
                    *through = (*through).max(last + 1);
                }
                Ok(Written::Snapshot { epoch }) => {
                    snapshot_in_flight = false;
                    SnapshotWritten { state: &state, epoch }.emit();
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

    /// Queues `segment` for writing (in order per partition); its bytes count as queued until
    /// durable.
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

    /// Queues `snapshot` (replacing one not yet written, whose publication records it takes
    /// over). The caller makes sure the archive already holds the records before its offsets:
    /// they may have been written by other processes (see `Tally::Durable`).
    pub fn snapshot(&self, mut snapshot: Snapshot) {
        if let Ok(mut pending) = self.state.pending.lock() {
            if let Some(replaced) = pending.take() {
                let mut publications = replaced.publications;
                publications.append(&mut snapshot.publications);
                snapshot.publications = publications;
            }
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

/// One segment in storage, as its name tells it. (The segment being written is
/// [`segment::Segment`].)
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct StoredSegment {
    /// The partition it holds records of.
    pub partition: u32,
    /// The offset of its first record.
    pub first: u64,
    /// The offset of its last record.
    pub last: u64,
    /// Its path, relative to the storage root.
    pub path: String,
}

/// A topic's archived segments, in (partition, offset) order.
pub async fn stored_segments(storage: &Storage, topic: &str) -> Result<Vec<StoredSegment>, ArchiveError> {
    let mut found: Vec<StoredSegment> = storage
        .list(&format!("raw/{topic}"))
        .await?
        .into_iter()
        .filter_map(|(path, _)| {
            let (partition, first, last) = parse_segment_path(&path)?;
            Some(StoredSegment {
                partition,
                first,
                last,
                path,
            })
        })
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
    for segment in stored_segments(storage, topic).await? {
        if segment.first >= offsets.get(&segment.partition).copied().unwrap_or(0) {
            storage.delete(&segment.path).await?;
            removed += 1;
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::snapshots::latest_snapshot;

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
                timeline: None,
                desk: None,
                drilldown: None,
                publications: Vec::new(),
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
        let archived = runtime.block_on(stored_segments(&storage, "t")).unwrap();
        assert_eq!(archived.len(), 4);
        let removed = runtime
            .block_on(discard_beyond(&storage, "t", &BTreeMap::from([(0, 30)])))
            .unwrap();
        assert_eq!(removed, 2);
        assert_eq!(runtime.block_on(stored_segments(&storage, "t")).unwrap().len(), 2);
    }
}
