//! `/metrics` in the Prometheus text format, from the latest results.

use std::fmt::Write;
use tally_model::latency::LatencyHistogram;
use tally_model::Results;

/// Escapes a label value (backslash, double quote, newline).
pub fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

/// The job's metrics; `ingest_rate` is records per second over the last second.
pub fn render(results: &Results, ingest_rate: f64, out: &mut String) {
    family(out, "tally_votes_total", "counter", "Valid votes counted.");
    let _ = writeln!(out, "tally_votes_total {}", results.votes);
    family(
        out,
        "tally_records_total",
        "counter",
        "Records seen: votes plus rejects.",
    );
    let _ = writeln!(out, "tally_records_total {}", results.records());
    family(
        out,
        "tally_rejected_total",
        "counter",
        "Records not counted, by reason.",
    );
    for (reason, count) in &results.rejected {
        let _ = writeln!(out, "tally_rejected_total{{reason=\"{reason}\"}} {count}");
    }
    family(
        out,
        "tally_epoch",
        "gauge",
        "Results include every epoch before this one.",
    );
    let _ = writeln!(out, "tally_epoch {}", results.epoch);
    family(out, "tally_results_complete", "gauge", "1 once the input has ended.");
    let _ = writeln!(out, "tally_results_complete {}", u8::from(results.complete));
    family(
        out,
        "tally_ingest_records_per_second",
        "gauge",
        "Records published per second, over the last second.",
    );
    let _ = writeln!(out, "tally_ingest_records_per_second {ingest_rate:.1}");
    family(out, "tally_candidate_votes", "gauge", "Votes per candidate.");
    for candidate in &results.candidates {
        let _ = writeln!(
            out,
            "tally_candidate_votes{{candidate=\"{}\"}} {}",
            label(&candidate.name),
            candidate.votes
        );
    }
    family(
        out,
        "tally_candidate_electoral_votes",
        "gauge",
        "Electoral votes per candidate.",
    );
    for candidate in &results.candidates {
        let _ = writeln!(
            out,
            "tally_candidate_electoral_votes{{candidate=\"{}\"}} {}",
            label(&candidate.name),
            candidate.electoral_votes
        );
    }
}

/// Histogram buckets (seconds) for end-to-end latency.
const LATENCY_BUCKETS_MS: [u64; 12] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000];

/// End-to-end latency, from a record's creation to the completion of its epoch, as a
/// Prometheus histogram.
pub fn render_latency(latency: &LatencyHistogram, out: &mut String) {
    let name = "tally_end_to_end_latency_seconds";
    family(
        out,
        name,
        "histogram",
        "From a record's Kafka timestamp to the publication of its epoch.",
    );
    for le in LATENCY_BUCKETS_MS {
        let _ = writeln!(
            out,
            "{name}_bucket{{le=\"{}\"}} {}",
            le as f64 / 1000.0,
            latency.count_at_most(le)
        );
    }
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {}", latency.count());
    let _ = writeln!(out, "{name}_sum {}", latency.sum_ms() as f64 / 1000.0);
    let _ = writeln!(out, "{name}_count {}", latency.count());
    let quantiles = "tally_end_to_end_latency_quantile_seconds";
    family(
        out,
        quantiles,
        "gauge",
        "End-to-end latency quantiles since start, to the millisecond.",
    );
    for q in [0.5, 0.9, 0.99, 0.999] {
        if let Some(ms) = latency.quantile(q) {
            let _ = writeln!(out, "{quantiles}{{quantile=\"{q}\"}} {}", ms as f64 / 1000.0);
        }
    }
}
