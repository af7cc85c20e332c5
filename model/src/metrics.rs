//! Helpers for metrics read at scrape time: components keep their own counters (atomics, or
//! the published results) and describe them to prometheus-client's encoder as constant
//! metrics, so the hot paths pay nothing for `/metrics` and nothing writes the text format by
//! hand.

use crate::latency::LatencyHistogram;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use std::fmt;

pub use prometheus_client::collector::Collector;
pub use prometheus_client::registry::Registry;

/// A counter named `name` (the encoder appends `_total`).
pub fn counter(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: u64) -> fmt::Result {
    let metric = ConstCounter::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// A counter with one sample per label set.
pub fn counters<L: EncodeLabelSet>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, u64)>,
) -> fmt::Result {
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, value) in samples {
        ConstCounter::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// A gauge.
pub fn gauge<N>(encoder: &mut DescriptorEncoder, name: &str, help: &str, value: N) -> fmt::Result
where
    ConstGauge<N>: EncodeMetric,
{
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

/// A gauge with one sample per label set.
pub fn gauges<L: EncodeLabelSet, N>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    samples: impl IntoIterator<Item = (L, N)>,
) -> fmt::Result
where
    ConstGauge<N>: EncodeMetric,
{
    let mut family = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, value) in samples {
        ConstGauge::new(value).encode(family.encode_family(&labels)?)?;
    }
    Ok(())
}

/// Bucket bounds (milliseconds) for the end-to-end latency histogram.
const LATENCY_BUCKETS_MS: [u64; 12] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

impl fmt::Debug for LatencyHistogram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LatencyHistogram {{ count: {} }}", self.count())
    }
}

/// End-to-end latency as a Prometheus histogram (seconds) and its quantiles, from the HDR
/// histogram the workers record into.
impl Collector for LatencyHistogram {
    fn encode(&self, mut encoder: DescriptorEncoder) -> fmt::Result {
        // Per bucket, not cumulative: the encoder accumulates.
        let mut below = 0;
        let mut buckets: Vec<(f64, u64)> = Vec::with_capacity(LATENCY_BUCKETS_MS.len() + 1);
        for le in LATENCY_BUCKETS_MS {
            let upto = self.count_at_most(le);
            buckets.push((le as f64 / 1000.0, upto - below));
            below = upto;
        }
        // `f64::MAX` is how prometheus-client spells the +Inf bucket.
        buckets.push((f64::MAX, self.count() - below));
        encoder
            .encode_descriptor(
                "tally_end_to_end_latency_seconds",
                "From a record's Kafka timestamp to the publication of its epoch.",
                None,
                MetricType::Histogram,
            )?
            .encode_histogram::<prometheus_client::encoding::NoLabelSet>(
                self.sum_ms() as f64 / 1000.0,
                self.count(),
                &buckets,
                None,
            )?;
        // Gauges labelled `q`: only a summary may carry `quantile`, and prometheus-client encodes
        // no summaries. The histogram above is the form to aggregate; these are exact to 0.1%.
        let quantiles = [0.5, 0.9, 0.99, 0.999]
            .into_iter()
            .filter_map(|q| Some(([("q", q.to_string())], self.quantile(q)? as f64 / 1000.0)));
        gauges(
            &mut encoder,
            "tally_end_to_end_latency_quantile_seconds",
            "End-to-end latency quantiles since start, within 0.1%.",
            quantiles,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latency_is_encoded_as_a_histogram_with_quantiles() {
        let latency = LatencyHistogram::default();
        for ms in [3, 3, 40, 1500] {
            latency.record(ms);
        }
        let mut registry = Registry::default();
        registry.register_collector(Box::new(std::sync::Arc::new(latency)));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("tally_end_to_end_latency_seconds_count 4"), "{text}");
        assert!(
            text.contains("tally_end_to_end_latency_seconds_bucket{le=\"0.005\"} 2"),
            "{text}"
        );
        assert!(
            text.contains("tally_end_to_end_latency_seconds_bucket{le=\"+Inf\"} 4"),
            "{text}"
        );
        assert!(
            text.contains("tally_end_to_end_latency_quantile_seconds{q=\"0.5\"} 0.003"),
            "{text}"
        );
    }
}
