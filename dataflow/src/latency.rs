//! End-to-end latency: from a record's creation (its Kafka timestamp) to the completion of the
//! epoch that contains it, in 1 ms buckets up to 10 s. Shared by all workers (atomic counters).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

const BUCKETS: usize = 10_000;

pub struct LatencyHistogram {
    /// `counts[i]` = records with latency in `[i, i + 1)` ms; the last bucket holds the rest.
    counts: Vec<AtomicU64>,
    sum_ms: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        LatencyHistogram {
            counts: (0..=BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            sum_ms: AtomicU64::new(0),
        }
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl LatencyHistogram {
    /// Records the latency of records created at `created_ms`, as of now.
    pub fn record_since(&self, created_ms: &[i64]) {
        let now = now_ms();
        for &created in created_ms {
            self.record((now - created).max(0) as u64);
        }
    }

    pub fn record(&self, latency_ms: u64) {
        self.counts[(latency_ms as usize).min(BUCKETS)].fetch_add(1, Ordering::Relaxed);
        self.sum_ms.fetch_add(latency_ms, Ordering::Relaxed);
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    pub fn sum_ms(&self) -> u64 {
        self.sum_ms.load(Ordering::Relaxed)
    }

    /// Records with latency at most `le_ms`.
    pub fn count_at_most(&self, le_ms: u64) -> u64 {
        self.counts
            .iter()
            .take((le_ms as usize + 1).min(BUCKETS))
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// The latency (ms, upper bound of its bucket) below which fraction `q` of records fall.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((total as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (ms, count) in self.counts.iter().enumerate() {
            seen += count.load(Ordering::Relaxed);
            if seen >= rank {
                return Some((ms as u64 + 1).min(BUCKETS as u64));
            }
        }
        Some(BUCKETS as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_and_cumulative_counts() {
        let histogram = LatencyHistogram::default();
        assert_eq!(histogram.quantile(0.5), None);
        for ms in 0..100 {
            histogram.record(ms);
        }
        histogram.record(50_000);
        assert_eq!(histogram.count(), 101);
        assert_eq!(histogram.quantile(0.5), Some(51));
        assert_eq!(histogram.quantile(0.99), Some(100));
        assert_eq!(histogram.quantile(1.0), Some(BUCKETS as u64));
        assert_eq!(histogram.count_at_most(9), 10);
        assert_eq!(histogram.sum_ms(), 4950 + 50_000);
    }
}
