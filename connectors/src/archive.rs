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

use crate::storage::Storage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A closed run of one partition's records.
pub struct Segment {
    pub topic: String,
    pub partition: u32,
    pub first: u64,
    pub last: u64,
    pub bytes: Vec<u8>,
}

impl Segment {
    pub fn path(&self) -> String {
        segment_path(&self.topic, self.partition, self.first, self.last)
    }
}

pub fn segment_path(topic: &str, partition: u32, first: u64, last: u64) -> String {
    format!("raw/{topic}/{partition:05}/{first:020}-{last:020}.ndjson")
}

/// `(partition, first, last)` of an archive path, if it is one.
pub fn parse_segment_path(path: &str) -> Option<(u32, u64, u64)> {
    let mut parts = path.rsplit('/');
    let name = parts.next()?.strip_suffix(".ndjson")?;
    let partition = parts.next()?.parse().ok()?;
    let (first, last) = name.split_once('-')?;
    Some((partition, first.parse().ok()?, last.parse().ok()?))
}

struct OpenSegment {
    first: u64,
    last: u64,
    bytes: Vec<u8>,
    opened: Instant,
}

/// One worker's open segments, one per partition it owns.
pub struct SegmentBuilder {
    topic: String,
    max_bytes: usize,
    max_age: Duration,
    open: BTreeMap<u32, OpenSegment>,
    open_bytes: usize,
}

impl SegmentBuilder {
    pub fn new(topic: &str, max_bytes: usize, max_age: Duration) -> SegmentBuilder {
        SegmentBuilder {
            topic: topic.to_string(),
            max_bytes,
            max_age,
            open: BTreeMap::new(),
            open_bytes: 0,
        }
    }

    /// Bytes in open segments (not yet handed to the writer).
    pub fn open_bytes(&self) -> usize {
        self.open_bytes
    }

    /// Appends a record (no line breaks in it); returns the segment if this filled it.
    pub fn append(&mut self, partition: u32, offset: u64, record: &[u8]) -> Option<Segment> {
        let segment = self.open.entry(partition).or_insert_with(|| OpenSegment {
            first: offset,
            last: offset,
            bytes: Vec::with_capacity(1 << 16),
            opened: Instant::now(),
        });
        segment.last = offset;
        segment.bytes.extend_from_slice(record);
        segment.bytes.push(b'\n');
        self.open_bytes += record.len() + 1;
        (segment.bytes.len() >= self.max_bytes)
            .then(|| self.close(partition))
            .flatten()
    }

    fn close(&mut self, partition: u32) -> Option<Segment> {
        let open = self.open.remove(&partition)?;
        self.open_bytes -= open.bytes.len();
        Some(Segment {
            topic: self.topic.clone(),
            partition,
            first: open.first,
            last: open.last,
            bytes: open.bytes,
        })
    }

    /// Segments open longer than the age limit.
    pub fn due(&mut self) -> Vec<Segment> {
        let old: Vec<u32> = self
            .open
            .iter()
            .filter(|(_, s)| s.opened.elapsed() >= self.max_age)
            .map(|(p, _)| *p)
            .collect();
        old.into_iter().filter_map(|p| self.close(p)).collect()
    }

    /// Every open segment (at a checkpoint boundary).
    pub fn seal(&mut self) -> Vec<Segment> {
        let all: Vec<u32> = self.open.keys().copied().collect();
        all.into_iter().filter_map(|p| self.close(p)).collect()
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
    failing: Mutex<Option<(Instant, String)>>,
}

/// The single writer of the archive and the snapshots.
pub struct ArchiveWriter {
    segments: Mutex<Option<std::sync::mpsc::Sender<Segment>>>,
    state: Arc<WriterState>,
    limit_bytes: u64,
    thread: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Runs `job` until it succeeds, recording failures for /healthz.
fn until_done(state: &WriterState, runtime: &tokio::runtime::Handle, job: impl Fn() -> Result<(), String>) {
    let mut backoff = Duration::from_millis(100);
    let _enter = runtime.enter();
    loop {
        match job() {
            Ok(()) => break,
            Err(e) => {
                let mut failing = state.failing.lock().unwrap_or_else(|p| p.into_inner());
                if failing.is_none() {
                    tracing::warn!("storage write failed, retrying until it succeeds: {e}");
                }
                failing.get_or_insert((Instant::now(), e));
                drop(failing);
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
    if let Some((since, _)) = state.failing.lock().unwrap_or_else(|p| p.into_inner()).take() {
        tracing::info!(after = ?since.elapsed(), "storage writes succeed again");
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
        let (segments, queue) = std::sync::mpsc::channel::<Segment>();
        let state = Arc::new(WriterState::default());
        let thread_state = state.clone();
        let thread = std::thread::Builder::new()
            .name("tally-archive".to_string())
            .spawn(move || {
                let state = thread_state;
                let mut open = true;
                while open || state.pending.lock().map(|p| p.is_some()).unwrap_or(false) {
                    match queue.recv_timeout(Duration::from_millis(50)) {
                        Ok(segment) => {
                            until_done(&state, &runtime, || {
                                runtime.block_on(storage.write_atomic(&segment.path(), segment.bytes.clone()))
                            });
                            state
                                .queued_bytes
                                .fetch_sub(segment.bytes.len() as u64, Ordering::Relaxed);
                            state.written.fetch_add(1, Ordering::Relaxed);
                            let mut durable = state.durable.lock().unwrap_or_else(|p| p.into_inner());
                            let through = durable.entry(segment.partition).or_default();
                            *through = (*through).max(segment.last + 1);
                        }
                        Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
                        Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => open = false,
                    }
                    let ready = state.pending.lock().unwrap_or_else(|p| p.into_inner()).take();
                    if let Some(snapshot) = ready {
                        until_done(&state, &runtime, || {
                            runtime.block_on(write_snapshot(&storage, &snapshot, keep_snapshots))
                        });
                        state.snapshots.fetch_add(1, Ordering::Relaxed);
                        state.last_snapshot.store(snapshot.epoch, Ordering::Relaxed);
                    }
                }
            })
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

    /// `Err` while writes are failing.
    pub fn health(&self) -> Result<(), String> {
        match self.state.failing.lock().ok().and_then(|f| f.clone()) {
            Some((since, e)) => Err(format!(
                "storage failing for {:.0?} ({} bytes queued): {e}",
                since.elapsed(),
                self.state.queued_bytes.load(Ordering::Relaxed)
            )),
            None => Ok(()),
        }
    }

    pub fn metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let s = &self.state;
        let _ = writeln!(
            out,
            "# TYPE tally_archive_segments_total counter\ntally_archive_segments_total {}",
            s.written.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# TYPE tally_archive_queued_bytes gauge\ntally_archive_queued_bytes {}",
            s.queued_bytes.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# TYPE tally_snapshots_total counter\ntally_snapshots_total {}",
            s.snapshots.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            out,
            "# TYPE tally_snapshot_epoch gauge\ntally_snapshot_epoch {}",
            s.last_snapshot.load(Ordering::Relaxed)
        );
        let failing = u8::from(self.health().is_err());
        let _ = writeln!(
            out,
            "# TYPE tally_storage_failing gauge\ntally_storage_failing {failing}"
        );
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
pub async fn unmigrated_snapshots(storage: &Storage) -> Result<Vec<String>, String> {
    Ok(storage
        .list("snapshots")
        .await?
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| path.matches('/').count() == 1)
        .collect())
}

/// Writes `snapshot`, points its topic's `LATEST` at it, and deletes all but the newest `keep`.
async fn write_snapshot(storage: &Storage, snapshot: &Snapshot, keep: usize) -> Result<(), String> {
    let dir = snapshot_dir(&snapshot.topic);
    let name = format!("{:020}.json", snapshot.epoch);
    let body = serde_json::to_vec(snapshot).map_err(|e| e.to_string())?;
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
pub async fn latest_snapshot(storage: &Storage, topic: &str) -> Result<Option<Snapshot>, String> {
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
        match storage
            .read(name)
            .await
            .and_then(|b| serde_json::from_slice::<Snapshot>(&b).map_err(|e| e.to_string()))
        {
            Ok(snapshot) => return Ok(Some(snapshot)),
            Err(e) => tracing::warn!("skipping unreadable snapshot {name}: {e}"),
        }
    }
    Ok(None)
}

/// A topic's archived segments as `(partition, first, last, path)`, in (partition, offset) order.
pub async fn segments(storage: &Storage, topic: &str) -> Result<Vec<(u32, u64, u64, String)>, String> {
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
pub async fn discard_beyond(storage: &Storage, topic: &str, offsets: &BTreeMap<u32, u64>) -> Result<usize, String> {
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
        let mut builder = SegmentBuilder::new("t", 10, Duration::from_secs(3600));
        assert!(builder.append(3, 7, b"abcd").is_none());
        let full = builder.append(3, 8, b"efgh").expect("10 bytes close the segment");
        assert_eq!((full.partition, full.first, full.last), (3, 7, 8));
        assert_eq!(full.bytes, b"abcd\nefgh\n");
        assert_eq!(
            full.path(),
            "raw/t/00003/00000000000000000007-00000000000000000008.ndjson"
        );
        assert_eq!(parse_segment_path(&full.path()), Some((3, 7, 8)));
        builder.append(1, 0, b"x");
        builder.append(3, 9, b"y");
        let sealed = builder.seal();
        assert_eq!(
            sealed
                .iter()
                .map(|s| (s.partition, s.first, s.last))
                .collect::<Vec<_>>(),
            vec![(1, 0, 0), (3, 9, 9)]
        );
        assert!(builder.seal().is_empty());
        assert_eq!(parse_segment_path("raw/t/x/1-2.ndjson"), None);
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
                bytes: b"r\n".to_vec(),
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
