//! The archive writer's internal events: each logs and moves the writer's counters in one
//! place (see `crate::events` for the pattern).

use super::WriterState;
use crate::events::InternalEvent;
use std::sync::atomic::Ordering;
use std::time::Instant;

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
