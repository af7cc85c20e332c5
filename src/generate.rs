//! `tally generate`: seed-format voter records to standard output, a file, or Kafka (`--serve`
//! is in `serve.rs`).

use crate::cli::GenerateArgs;
use crate::election::generator;
use anyhow::{bail, Context, Result};
use std::io::Write;
use tally_connectors::kafka::KafkaUrl;
use tally_connectors::sinks::kafka::{ensure_topic, VoteProducer};
use tally_connectors::sources::generator::{Pacer, VoterGenerator};
use tally_dataflow::RecordBatch;

/// `tally generate`.
pub fn generate(args: GenerateArgs) -> Result<()> {
    let rate = args.rate.unwrap_or(if args.serve.is_some() { 1.0 } else { 0.0 });
    if rate < 0.0 || !rate.is_finite() {
        bail!("--rate must be 0 (unlimited) or a positive number");
    }
    let generator = generator(&args.mix, args.count)?;
    if let Some(url) = &args.to {
        let created = ensure_topic(url, &args.kafka.properties, args.partitions)?;
        if created {
            tracing::info!(partitions = args.partitions, "created topic {}", url.topic);
        }
    }
    if let Some(address) = args.serve {
        let kafka = args.to.as_ref().map(|url| (url, args.kafka.properties.as_slice()));
        return crate::serve::serve_votes(generator, address, rate, kafka);
    }
    if let Some(url) = &args.to {
        return produce(&generator, url, &args.kafka.properties, rate);
    }
    let out: Box<dyn Write> = match &args.out {
        Some(path) => {
            Box::new(std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?)
        }
        None => Box::new(std::io::stdout().lock()),
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 16, out);
    let mut pacer = (rate > 0.0).then(|| Pacer::new(rate));
    let mut batch = RecordBatch::default();
    let end = generator.voters().unwrap_or(u64::MAX);
    let started = std::time::Instant::now();
    let written = (|| -> std::io::Result<()> {
        for slot in 0..end {
            if let Some(wait) = night_wait(&generator, slot, started) {
                out.flush()?;
                std::thread::sleep(wait);
            }
            if let Some(pacer) = &mut pacer {
                if pacer.available() == 0 {
                    out.flush()?;
                    std::thread::sleep(pacer.wait());
                }
            }
            batch.clear();
            generator.slot(slot, 0, &mut batch);
            for (_, record) in batch.iter() {
                out.write_all(record)?;
                out.write_all(b"\n")?;
            }
            if let Some(pacer) = &mut pacer {
                pacer.sent(batch.len() as u64);
            }
        }
        out.flush()
    })();
    match written {
        // A closed pipe (`tally generate | head`) is the reader's choice, not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write records"),
    }
}

/// In a night, how long until `slot` is due (`None`: now).
fn night_wait(generator: &VoterGenerator, slot: u64, started: std::time::Instant) -> Option<std::time::Duration> {
    let due = generator.due_at(slot)?;
    due.checked_sub(started.elapsed()).filter(|wait| !wait.is_zero())
}

/// `tally generate --to kafka://…`: the same records `generate` prints, produced to Kafka.
fn produce(generator: &VoterGenerator, url: &KafkaUrl, properties: &[(String, String)], rate: f64) -> Result<()> {
    let mut producer = VoteProducer::new(url, properties)?;
    let mut pacer = (rate > 0.0).then(|| Pacer::new(rate));
    let mut batch = RecordBatch::default();
    let end = generator.voters().unwrap_or(u64::MAX);
    let started = std::time::Instant::now();
    let mut sent = 0u64;
    for slot in 0..end {
        if let Some(wait) = night_wait(generator, slot, started) {
            producer.poll()?;
            std::thread::sleep(wait);
        }
        if let Some(pacer) = &mut pacer {
            if pacer.available() == 0 {
                producer.poll()?;
                std::thread::sleep(pacer.wait());
            }
        }
        batch.clear();
        generator.slot(slot, 0, &mut batch);
        for (_, record) in batch.iter() {
            producer.send(record)?;
        }
        sent += batch.len() as u64;
        if let Some(pacer) = &mut pacer {
            pacer.sent(batch.len() as u64);
        }
        if slot % 4096 == 0 {
            producer.poll()?;
        }
    }
    let delivered = producer.flush(std::time::Duration::from_secs(120))?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        sent,
        delivered,
        records_per_second = (sent as f64 / seconds) as u64,
        "produced to {url}"
    );
    Ok(())
}
