//! `/metrics`: the results' own metrics, read from the latest results at scrape time and
//! encoded by prometheus-client (the job's components register theirs beside them, through
//! [`crate::JobStatus::register_metrics`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tally_model::metrics::{counter, counters, gauge, gauges, Collector};
use tally_model::Results;
use tokio::sync::watch;

/// The latest results, as metrics.
#[derive(Debug)]
pub struct ResultsMetrics {
    pub results: watch::Receiver<Arc<Results>>,
    /// Records per second over the last second, as an `f64`'s bits.
    pub ingest_rate: Arc<AtomicU64>,
}

impl Collector for ResultsMetrics {
    fn encode(&self, mut encoder: prometheus_client::encoding::DescriptorEncoder) -> std::fmt::Result {
        let results = self.results.borrow().clone();
        let e = &mut encoder;
        counter(e, "tally_votes", "Valid votes counted.", results.votes)?;
        counter(
            e,
            "tally_records",
            "Records seen: votes plus rejects.",
            results.records(),
        )?;
        let rejected = results
            .rejected
            .iter()
            .map(|(reason, n)| ([("reason", reason.as_str())], *n));
        counters(e, "tally_rejected", "Records not counted, by reason.", rejected)?;
        gauge(
            e,
            "tally_epoch",
            "Results include every epoch before this one.",
            results.epoch as i64,
        )?;
        gauge(
            e,
            "tally_results_complete",
            "1 once the input has ended.",
            i64::from(results.complete),
        )?;
        let rate = f64::from_bits(self.ingest_rate.load(Ordering::Relaxed));
        gauge(
            e,
            "tally_ingest_records_per_second",
            "Records published per second, over the last second.",
            rate,
        )?;
        let votes = results
            .candidates
            .iter()
            .map(|c| ([("candidate", c.name.as_str())], c.votes as i64));
        gauges(e, "tally_candidate_votes", "Votes per candidate.", votes)?;
        let electoral = results
            .candidates
            .iter()
            .map(|c| ([("candidate", c.name.as_str())], i64::from(c.electoral_votes)));
        gauges(
            e,
            "tally_candidate_electoral_votes",
            "Electoral votes per candidate.",
            electoral,
        )
    }
}
