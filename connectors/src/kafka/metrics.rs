//! What the Kafka source reports: per-partition consumed offset and lag, and whether the
//! brokers are reachable (for `/metrics` and `/healthz`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// The brokers have not answered for `since`.
#[derive(Debug, thiserror::Error)]
#[error("Kafka unreachable for {since:.0?}: {reason}")]
pub struct KafkaUnreachable {
    pub since: std::time::Duration,
    pub reason: String,
}

#[derive(Default)]
pub struct KafkaMetrics {
    /// Partition → (next offset to consume, high watermark last reported by the broker).
    partitions: Mutex<BTreeMap<i32, (i64, i64)>>,
    /// Set when the brokers stopped answering, with the reason; cleared when they answer again.
    unreachable: Mutex<Option<(Instant, String)>>,
    /// Records this process found deleted by retention before it read them.
    lost: AtomicU64,
}

impl KafkaMetrics {
    pub fn consumed(&self, partition: i32, next_offset: i64) {
        if let Ok(mut partitions) = self.partitions.lock() {
            partitions.entry(partition).or_insert((0, 0)).0 = next_offset;
        }
    }

    pub fn high_watermark(&self, partition: i32, high: i64) {
        if let Ok(mut partitions) = self.partitions.lock() {
            partitions.entry(partition).or_insert((0, 0)).1 = high;
        }
    }

    pub fn lost(&self, records: u64) {
        self.lost.fetch_add(records, Ordering::Relaxed);
    }

    /// Records this process found lost to retention.
    pub fn lost_records(&self) -> u64 {
        self.lost.load(Ordering::Relaxed)
    }

    pub fn unreachable(&self, reason: String) {
        if let Ok(mut unreachable) = self.unreachable.lock() {
            if unreachable.is_none() {
                tracing::warn!(%reason, "Kafka is unreachable; serving the last results until it is back");
            }
            unreachable.get_or_insert((Instant::now(), reason));
        }
    }

    pub fn reachable(&self) {
        if let Ok(mut unreachable) = self.unreachable.lock() {
            if let Some((since, _)) = unreachable.take() {
                tracing::info!(after = ?since.elapsed(), "Kafka is reachable again");
            }
        }
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

    /// Appends Prometheus text for `topic`.
    pub fn render(&self, topic: &str, out: &mut String) {
        let Ok(partitions) = self.partitions.lock() else {
            return;
        };
        let _ = writeln!(
            out,
            "# HELP tally_kafka_consumed_offset Next offset to consume, per partition."
        );
        let _ = writeln!(out, "# TYPE tally_kafka_consumed_offset gauge");
        for (partition, (next, _)) in partitions.iter() {
            let _ = writeln!(
                out,
                "tally_kafka_consumed_offset{{topic=\"{topic}\",partition=\"{partition}\"}} {next}"
            );
        }
        let _ = writeln!(out, "# HELP tally_kafka_lag Records in the partition not yet consumed.");
        let _ = writeln!(out, "# TYPE tally_kafka_lag gauge");
        for (partition, (next, high)) in partitions.iter() {
            let lag = (high - next).max(0);
            let _ = writeln!(
                out,
                "tally_kafka_lag{{topic=\"{topic}\",partition=\"{partition}\"}} {lag}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP tally_kafka_lost_records_total Records deleted by retention before they were read.\n\
             # TYPE tally_kafka_lost_records_total counter\n\
             tally_kafka_lost_records_total{{topic=\"{topic}\"}} {}",
            self.lost_records()
        );
        let up = u8::from(self.health().is_ok());
        let _ = writeln!(
            out,
            "# HELP tally_kafka_up 1 while the brokers answer.\n# TYPE tally_kafka_up gauge\ntally_kafka_up {up}"
        );
    }
}
