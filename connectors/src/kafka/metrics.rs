//! What the Kafka source reports: per-partition consumed offset and lag, and whether the
//! brokers are reachable (for `/metrics` and `/healthz`).

use prometheus_client::encoding::DescriptorEncoder;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tally_model::metrics::{counters, gauge, gauges, Collector};

/// The brokers have not answered for `since`.
#[derive(Debug, thiserror::Error)]
#[error("Kafka unreachable for {since:.0?}: {reason}")]
pub struct KafkaUnreachable {
    /// How long the brokers have not answered.
    pub since: std::time::Duration,
    /// What the last failed request said.
    pub reason: String,
}

#[derive(Debug, Default)]
/// What the Kafka sources of this process report, shared with `/metrics` and `/healthz`.
pub struct KafkaMetrics {
    /// Partition → (next offset to consume, high watermark last reported by the broker).
    partitions: Mutex<BTreeMap<i32, (i64, i64)>>,
    /// Set when the brokers stopped answering, with the reason; cleared when they answer again
    /// (by the events `KafkaUnreachable` and `KafkaReachable`).
    pub(crate) unreachable: Mutex<Option<(Instant, String)>>,
    /// Records this process found deleted by retention before it read them
    /// (`RecordsLostToRetention`).
    pub(crate) lost: AtomicU64,
    /// Rejected records counted but not sent to the dead-letter topic (`DeadLetterNotSent`).
    pub(crate) dead_letters_not_sent: AtomicU64,
    /// When a dead letter not sent was last logged, and the count then.
    pub(crate) dead_letter_logged: Mutex<Option<(Instant, u64)>>,
}

impl KafkaMetrics {
    /// Records that `partition` is read up to (its next offset to consume).
    pub fn consumed(&self, partition: i32, next_offset: i64) {
        if let Ok(mut partitions) = self.partitions.lock() {
            partitions.entry(partition).or_insert((0, 0)).0 = next_offset;
        }
    }

    /// The partition's high watermark, as the broker last reported it.
    pub fn high_watermark(&self, partition: i32, high: i64) {
        if let Ok(mut partitions) = self.partitions.lock() {
            partitions.entry(partition).or_insert((0, 0)).1 = high;
        }
    }

    /// Records this process found lost to retention.
    pub fn lost_records(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    /// `Err` while the brokers are unreachable.
    pub fn health(&self) -> Result<(), KafkaUnreachable> {
        match self.unreachable.lock().ok().and_then(|u| u.clone()) {
            Some((since, reason)) => Err(KafkaUnreachable {
                since: since.elapsed(),
                reason,
            }),
            None => Ok(()),
        }
    }

    /// As prometheus-client metrics for `topic`, read at every scrape.
    pub fn collector(self: &Arc<Self>, topic: &str) -> Box<dyn Collector> {
        Box::new(KafkaCollector {
            metrics: self.clone(),
            topic: topic.to_string(),
        })
    }
}

#[derive(Debug)]
struct KafkaCollector {
    metrics: Arc<KafkaMetrics>,
    topic: String,
}

impl Collector for KafkaCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> std::fmt::Result {
        let partitions: Vec<(i32, (i64, i64))> = match self.metrics.partitions.lock() {
            Ok(partitions) => partitions.iter().map(|(p, v)| (*p, *v)).collect(),
            Err(_) => Vec::new(),
        };
        let topic = self.topic.as_str();
        let labels = |partition: i32| [("topic", topic.to_string()), ("partition", partition.to_string())];
        let e = &mut encoder;
        let consumed = partitions.iter().map(|(p, (next, _))| (labels(*p), *next));
        gauges(
            e,
            "tally_kafka_consumed_offset",
            "Next offset to consume, per partition.",
            consumed,
        )?;
        let lag = partitions
            .iter()
            .map(|(p, (next, high))| (labels(*p), (high - next).max(0)));
        gauges(e, "tally_kafka_lag", "Records in the partition not yet consumed.", lag)?;
        counters(
            e,
            "tally_kafka_lost_records",
            "Records deleted by retention before they were read.",
            [([("topic", topic)], self.metrics.lost_records())],
        )?;
        counters(
            e,
            "tally_dead_letters_not_sent",
            "Rejected records counted under their reason but not sent to the dead-letter topic.",
            [(
                [("topic", topic)],
                self.metrics.dead_letters_not_sent.load(Ordering::Relaxed),
            )],
        )?;
        let up = i64::from(self.metrics.health().is_ok());
        gauge(e, "tally_kafka_up", "1 while the brokers answer.", up)
    }
}
