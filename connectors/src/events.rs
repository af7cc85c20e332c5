//! Internal events, Vector's way: one type per thing that happens in a connector, whose
//! [`InternalEvent::emit`] both logs it and moves the metrics it concerns. A log line and a
//! metric then never disagree, and the list below is the list of what a connector can tell an
//! operator.
//!
//! Metrics that are positions rather than happenings (offsets consumed, high watermarks, bytes
//! queued) are set directly by their owners; `/metrics` reads everything at scrape time.

use crate::kafka::metrics::KafkaMetrics;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
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

/// A rejected record could not be sent to the dead-letter topic (it is still counted under its
/// reason). Every one is counted (`tally_dead_letters_not_sent_total`); the log says so at most
/// once per [`DEAD_LETTER_LOG_EVERY`], with how many went unsaid since, so an outage of the
/// dead-letter topic is a line every few seconds, not a line per record.
pub struct DeadLetterNotSent<'a> {
    pub metrics: &'a KafkaMetrics,
    pub position: Position,
    pub reason: RejectReason,
    pub why: &'a str,
}

/// How often at most a dead letter not sent is logged.
pub const DEAD_LETTER_LOG_EVERY: Duration = Duration::from_secs(10);

impl InternalEvent for DeadLetterNotSent<'_> {
    fn emit(self) {
        let total = self.metrics.dead_letters_not_sent.fetch_add(1, Ordering::Relaxed) + 1;
        let mut logged = self
            .metrics
            .dead_letter_logged
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let due = logged.is_none_or(|(at, _)| at.elapsed() >= DEAD_LETTER_LOG_EVERY);
        if due {
            let unsaid = logged.map_or(0, |(_, said_at)| total - 1 - said_at);
            tracing::error!(
                reason = %self.reason,
                position = ?self.position,
                not_sent_total = total,
                not_logged_since = unsaid,
                "record counted but not dead-lettered: {}",
                self.why
            );
            *logged = Some((Instant::now(), total));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dead_letter_not_sent_is_counted_and_a_burst_is_logged_once() {
        let metrics = KafkaMetrics::default();
        for offset in 0..1_000 {
            DeadLetterNotSent {
                metrics: &metrics,
                position: Position::new(0, offset),
                reason: RejectReason::Malformed,
                why: "the dead-letter queue is full",
            }
            .emit();
        }
        assert_eq!(metrics.dead_letters_not_sent.load(Ordering::Relaxed), 1_000);
        // Logged for the first only: the count at the last log line is 1.
        let logged = metrics.dead_letter_logged.lock().map(|l| l.map(|(_, count)| count));
        assert_eq!(logged.ok().flatten(), Some(1));
    }
}
