//! Internal events, Vector's way: one type per thing that happens in a connector, whose
//! [`InternalEvent::emit`] both logs it and moves the metrics it concerns. A log line and a
//! metric then never disagree, and the list below is the list of what a connector can tell an
//! operator.
//!
//! Metrics that are positions rather than happenings (offsets consumed, high watermarks, bytes
//! queued) are set directly by their owners; `/metrics` reads everything at scrape time.

use crate::kafka::metrics::KafkaMetrics;
use crate::sinks::archive::WriterState;
use std::sync::atomic::Ordering;
use std::time::Instant;
use tally_model::{Position, RejectReason};

/// Something that happened, told once.
pub trait InternalEvent {
    fn emit(self);
}

/// The brokers stopped answering (or a request to them failed). Logged once per outage; the
/// source keeps trying and `/healthz` answers 503 meanwhile.
pub struct KafkaUnreachable<'a> {
    pub metrics: &'a KafkaMetrics,
    pub reason: String,
}

impl InternalEvent for KafkaUnreachable<'_> {
    fn emit(self) {
        if let Ok(mut unreachable) = self.metrics.unreachable.lock() {
            if unreachable.is_none() {
                tracing::warn!(reason = %self.reason, "Kafka is unreachable; serving the last results until it is back");
            }
            unreachable.get_or_insert((Instant::now(), self.reason));
        }
    }
}

/// The brokers answer again (or answered for the first time).
pub struct KafkaReachable<'a> {
    pub metrics: &'a KafkaMetrics,
}

impl InternalEvent for KafkaReachable<'_> {
    fn emit(self) {
        if let Ok(mut unreachable) = self.metrics.unreachable.lock() {
            if let Some((since, _)) = unreachable.take() {
                tracing::info!(after = ?since.elapsed(), "Kafka is reachable again");
            }
        }
    }
}

/// Retention deleted records of a partition before the job read them (it was down or behind
/// for longer than the topic keeps them): they cannot be counted.
pub struct RecordsLostToRetention<'a> {
    pub metrics: &'a KafkaMetrics,
    pub partition: i32,
    /// The first and last offsets lost.
    pub first: i64,
    pub last: i64,
}

impl InternalEvent for RecordsLostToRetention<'_> {
    fn emit(self) {
        let lost = (self.last - self.first + 1).max(0) as u64;
        tracing::error!(
            partition = self.partition,
            first = self.first,
            last = self.last,
            lost,
            "records deleted by Kafka's retention before they were read: they are not counted"
        );
        self.metrics.lost.fetch_add(lost, Ordering::Relaxed);
    }
}

/// A worker was assigned its partitions and reads from now on.
pub struct KafkaPartitionsAssigned<'a> {
    pub worker: usize,
    pub partitions: &'a [i32],
    pub url: &'a str,
}

impl InternalEvent for KafkaPartitionsAssigned<'_> {
    fn emit(self) {
        tracing::info!(worker = self.worker, partitions = ?self.partitions, "consuming {}", self.url);
    }
}

/// A storage write failed; it is retried until it succeeds. Logged once per outage.
pub struct StorageWriteFailed<'a, E: std::fmt::Display> {
    pub state: &'a WriterState,
    pub error: &'a E,
}

impl<E: std::fmt::Display> InternalEvent for StorageWriteFailed<'_, E> {
    fn emit(self) {
        let mut failing = self.state.failing.lock().unwrap_or_else(|p| p.into_inner());
        if failing.is_none() {
            tracing::warn!("storage write failed, retrying until it succeeds: {}", self.error);
        }
        failing.get_or_insert((Instant::now(), self.error.to_string()));
    }
}

/// Storage writes succeed again after failing.
pub struct StorageWritesRecovered<'a> {
    pub state: &'a WriterState,
}

impl InternalEvent for StorageWritesRecovered<'_> {
    fn emit(self) {
        let recovered = self.state.failing.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some((since, _)) = recovered {
            tracing::info!(after = ?since.elapsed(), "storage writes succeed again");
        }
    }
}

/// An archive segment is durable in storage.
pub struct SegmentWritten<'a> {
    pub state: &'a WriterState,
    /// Its stored size, no longer queued.
    pub bytes: u64,
}

impl InternalEvent for SegmentWritten<'_> {
    fn emit(self) {
        self.state.written.fetch_add(1, Ordering::Relaxed);
        self.state.queued_bytes.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// A snapshot is durable in storage (and `LATEST` names it).
pub struct SnapshotWritten<'a> {
    pub state: &'a WriterState,
    pub epoch: u64,
}

impl InternalEvent for SnapshotWritten<'_> {
    fn emit(self) {
        self.state.snapshots.fetch_add(1, Ordering::Relaxed);
        self.state.last_snapshot.store(self.epoch, Ordering::Relaxed);
    }
}

/// A rejected record could not be sent to the dead-letter topic (it is still counted under its
/// reason).
pub struct DeadLetterNotSent<'a> {
    pub position: Position,
    pub reason: RejectReason,
    pub why: &'a str,
}

impl InternalEvent for DeadLetterNotSent<'_> {
    fn emit(self) {
        tracing::error!(reason = %self.reason, position = ?self.position, "record counted but not dead-lettered: {}", self.why);
    }
}
