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
    /// The results the server publishes.
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
        counter(
            e,
            "tally_projections_withdrawn",
            "Projected calls the count later contradicted.",
            results.withdrawn_projections.len() as u64,
        )?;
        let projected = results
            .projected_electoral_votes
            .iter()
            .map(|(name, votes)| ([("candidate", name.as_str())], i64::from(*votes)));
        gauges(
            e,
            "tally_projected_electoral_votes",
            "Electoral votes of the states projected for each candidate (certain calls included).",
            projected,
        )?;
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
/// `/metrics` in Prometheus's text format 0.0.4, from prometheus-client's OpenMetrics text, for
/// clients that do not ask for OpenMetrics (`curl`, `promtool check metrics`, older scrapers).
/// The formats differ in three ways that matter here: a counter's `HELP` and `TYPE` lines name
/// its samples (`x_total`), not the family (`x`); there is no `# UNIT`; and no `# EOF`.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let counters: std::collections::HashSet<&str> = openmetrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(openmetrics.len() + 16 * counters.len());
    for line in openmetrics.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let descriptor = ["# HELP ", "# TYPE "].into_iter().find_map(|prefix| {
            let rest = line.strip_prefix(prefix)?;
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            counters.contains(name).then_some((prefix, name, tail))
        });
        match descriptor {
            Some((prefix, name, tail)) => {
                out.push_str(&format!("{prefix}{name}_total {tail}\n"));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

/// Whether an `Accept` header asks for OpenMetrics (as Prometheus's scraper does).
pub fn accepts_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|accept| accept.contains("application/openmetrics-text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_described_by_their_sample_names_in_the_prometheus_text_format() {
        let openmetrics = "# HELP tally_votes Valid votes counted.\n# TYPE tally_votes counter\ntally_votes_total 3\n# HELP tally_epoch Results include every epoch before this one.\n# TYPE tally_epoch gauge\ntally_epoch 7\n# EOF\n";
        let text = to_prometheus_text(openmetrics);
        assert_eq!(
            text,
            "# HELP tally_votes_total Valid votes counted.\n# TYPE tally_votes_total counter\ntally_votes_total 3\n# HELP tally_epoch Results include every epoch before this one.\n# TYPE tally_epoch gauge\ntally_epoch 7\n"
        );
        assert!(accepts_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;q=0.2"
        )));
        assert!(!accepts_openmetrics(Some("*/*")));
        assert!(!accepts_openmetrics(None));
    }

    #[test]
    fn withdrawn_projections_and_projected_electoral_votes_are_metrics() {
        let mut results = Results::empty(tally_model::Apportionment::Census2020);
        results.withdrawn_projections.push(tally_model::projection::Withdrawal {
            state: "PA".to_string(),
            candidate: "Ada".to_string(),
            projected_at: 1,
            withdrawn_at: 2,
        });
        results.projected_electoral_votes.insert("Ada".to_string(), 19);
        let (_keep, receiver) = watch::channel(Arc::new(results));
        let mut registry = prometheus_client::registry::Registry::default();
        registry.register_collector(Box::new(ResultsMetrics {
            results: receiver,
            ingest_rate: Arc::default(),
        }));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        assert!(text.contains("\ntally_projections_withdrawn_total 1\n"), "{text}");
        assert!(
            text.contains("\ntally_projected_electoral_votes{candidate=\"Ada\"} 19\n"),
            "{text}"
        );
    }
}
