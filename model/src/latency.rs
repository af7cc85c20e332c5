//! End-to-end latency: from a record's creation (its Kafka timestamp) to the completion of the
//! epoch that contains it. An HDR histogram (three significant digits at any magnitude, so a
//! 40 s stall during an outage is recorded as such rather than clamped), shared by the workers
//! behind a mutex that each takes once per completed epoch, not once per record.

use hdrhistogram::Histogram;
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Latencies in milliseconds, recorded by every worker and read at scrape time: an HDR histogram
/// (three significant digits, no upper limit) behind a lock.
pub struct LatencyHistogram {
    /// Milliseconds; grows its range as larger values arrive.
    histogram: Mutex<Histogram<u64>>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        let mut histogram = Histogram::new(3).unwrap_or_else(|_| unreachable!("3 significant digits is valid"));
        histogram.auto(true);
        LatencyHistogram {
            histogram: Mutex::new(histogram),
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
    fn histogram(&self) -> MutexGuard<'_, Histogram<u64>> {
        // A worker that panicked while recording left a histogram that is still valid.
        self.histogram.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records the latency of records created at `created_ms`, as of now.
    pub fn record_since(&self, created_ms: &[i64]) {
        let now = now_ms();
        let mut histogram = self.histogram();
        for &created in created_ms {
            record(&mut histogram, (now - created).max(0) as u64);
        }
    }

    /// Records one latency.
    pub fn record(&self, latency_ms: u64) {
        record(&mut self.histogram(), latency_ms);
    }

    /// Latencies recorded.
    pub fn count(&self) -> u64 {
        self.histogram().len()
    }

    /// The sum of all latencies, in milliseconds (each within the histogram's precision).
    pub fn sum_ms(&self) -> u64 {
        let histogram = self.histogram();
        histogram
            .iter_recorded()
            .map(|v| v.value_iterated_to().saturating_mul(v.count_at_value()))
            .sum()
    }

    /// Records with latency at most `le_ms`.
    pub fn count_at_most(&self, le_ms: u64) -> u64 {
        let histogram = self.histogram();
        histogram.count_between(0, le_ms)
    }

    /// The latency (ms) below which fraction `q` of records fall, within 0.1%.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let histogram = self.histogram();
        (!histogram.is_empty()).then(|| histogram.value_at_quantile(q))
    }
}

/// Records one value; the histogram grows to any value a `u64` holds.
fn record(histogram: &mut Histogram<u64>, latency_ms: u64) {
    if histogram.record(latency_ms).is_err() {
        histogram.saturating_record(latency_ms);
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
        // The median of 0..100 and one outlier, give or take hdr's rank rounding.
        assert!(matches!(histogram.quantile(0.5), Some(49..=51)));
        assert!(matches!(histogram.quantile(0.99), Some(98..=100)));
        // Not clamped: a 50 s stall is 50 s (to three significant digits).
        let max = histogram.quantile(1.0).unwrap_or(0);
        assert!((49_950..=50_050).contains(&max), "{max}");
        assert_eq!(histogram.count_at_most(9), 10);
        let sum = histogram.sum_ms();
        assert!((54_900..=55_000).contains(&sum), "{sum}");
    }
}
