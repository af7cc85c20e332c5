//! `cargo bench`: votes per second through generate → decode → graph → published results
//! (with and without dedup, 1 and 2 workers), and SVG render time per chart. Medians of several
//! runs; these machines are small and noisy.
//!
//! `TALLY_BENCH_VOTERS` (default 2,000,000) and `TALLY_BENCH_RUNS` (default 5) scale it.

use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tally_connectors::sources::generator::{GeneratorConfig, GeneratorSource, VoterGenerator};
use tally_dataflow::graph::Publish;
use tally_dataflow::{run_worker, PipelineOptions};
use tally_model::{Apportionment, Results, Tallies};
use tally_web::charts::{render, Chart};

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn median(mut samples: Vec<f64>) -> f64 {
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// One run: the whole generated stream through the graph; returns (seconds, final tallies).
fn run_once(voters: u64, workers: usize, dedup: bool) -> (f64, Tallies) {
    let config = GeneratorConfig {
        seed: 1,
        voters: Some(voters),
        duplicate_rate: 0.01,
        invalid_rate: 0.01,
        ..Default::default()
    };
    let generator = Arc::new(VoterGenerator::new(config).expect("valid generator config"));
    let last: Arc<Mutex<Option<Tallies>>> = Arc::default();
    let sink = last.clone();
    let epoch_records = env_or("TALLY_BENCH_EPOCH_RECORDS", 100_000) as usize;
    let options = PipelineOptions {
        dedup,
        epoch_records,
        ..PipelineOptions::default()
    };
    let started = Instant::now();
    timely::execute(timely::Config::process(workers), move |worker| {
        let mut source = GeneratorSource::new(generator.clone(), worker.index(), worker.peers(), None);
        let sink = sink.clone();
        let publish: Publish = Box::new(move |tallies, _progress, epoch, complete| {
            // Publishing is part of the path measured: build the document as the job does.
            let results = Results::new(tallies, epoch, complete, Apportionment::Census2020);
            std::hint::black_box(&results);
            if complete {
                *sink.lock().expect("no poisoned lock") = Some(tallies.clone());
            }
        });
        run_worker(worker, &mut source, &options, &AtomicBool::new(false), publish, None)
    })
    .expect("timely starts")
    .join()
    .into_iter()
    .for_each(|outcome| outcome.expect("worker ran").expect("source ran"));
    let seconds = started.elapsed().as_secs_f64();
    let tallies = last.lock().expect("no poisoned lock").take().expect("published");
    (seconds, tallies)
}

fn main() {
    // `cargo test --benches` runs this with --bench absent; only measure under `cargo bench`.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let voters = env_or("TALLY_BENCH_VOTERS", 2_000_000);
    let runs = env_or("TALLY_BENCH_RUNS", 5) as usize;
    println!("## Graph throughput ({voters} voters, 1% invalid, 1% duplicates; median of {runs})\n");
    println!("| workers | dedup | records/s (median) | min..max |");
    println!("|---|---|---|---|");
    for workers in [1, 2] {
        for dedup in [true, false] {
            let mut rates = Vec::new();
            for _ in 0..runs {
                let (seconds, tallies) = run_once(voters, workers, dedup);
                rates.push(tallies.total_records() as f64 / seconds);
            }
            let (lo, hi) = (
                rates.iter().cloned().fold(f64::MAX, f64::min),
                rates.iter().cloned().fold(0.0, f64::max),
            );
            println!(
                "| {workers} | {} | {:.0} | {:.0}..{:.0} |",
                if dedup { "on" } else { "off" },
                median(rates),
                lo,
                hi
            );
        }
    }

    let (_, tallies) = run_once(200_000, 2, true);
    let results = Results::new(&tallies, 1, true, Apportionment::Census2020);
    // A full timeline: the bound's worth of points of these results.
    let mut timeline = tally_model::Timeline::default();
    for step in 0..tally_model::timeline::TIMELINE_POINTS as i64 {
        let mut point = results.clone().computed_at(step * 1000);
        point.votes += step as u64;
        timeline.record(&point);
    }
    println!("\n## SVG render time per chart (median of 50)\n");
    println!("| chart | median |");
    println!("|---|---|");
    for chart in Chart::ALL {
        let samples: Vec<f64> = (0..50)
            .map(|_| {
                let started = Instant::now();
                std::hint::black_box(render(chart, &results, &timeline, Chart::DEFAULT_WIDTH, None).expect("renders"));
                started.elapsed().as_secs_f64()
            })
            .collect();
        println!("| {} | {:?} |", chart.name(), Duration::from_secs_f64(median(samples)));
    }
}
