//! `tally generate`: seed-format voter records to standard output, a file, or Kafka (`--serve`
//! is in `serve.rs`).

use crate::cli::GenerateArgs;
use crate::election::generator;
use anyhow::{bail, Context, Result};
use std::io::Write;
use std::time::Duration;
use tally_connectors::kafka::KafkaUrl;
use tally_connectors::sinks::kafka::{ensure_topic, VoteProducer};
use tally_connectors::sources::generator::{Next, Schedule, VoterGenerator};
use tally_source::RecordBatch;

/// `tally generate`.
pub fn generate(args: GenerateArgs) -> Result<()> {
    // The voter API defaults to a record a second, as the Flask generator did; a night keeps
    // its own clock.
    let default_rate = if args.serve.is_some() && !args.mix.night {
        1.0
    } else {
        0.0
    };
    let rate = args.rate.unwrap_or(default_rate);
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
    let written = play(
        &generator,
        rate,
        &mut out,
        |out, batch| {
            batch.iter().try_for_each(|(_, record)| {
                out.write_all(record)?;
                out.write_all(b"\n")
            })
        },
        // What is written reaches the reader before a wait.
        |out| out.flush(),
    )
    .and_then(|()| out.flush());
    match written {
        // A closed pipe (`tally generate | head`) is the reader's choice, not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write records"),
    }
}

/// Plays `generator`'s whole stream on its [`Schedule`] (a night's clock, `rate` records a
/// second, or as fast as `emit` takes them) into `sink`, a batch at a time; `before_wait` runs
/// before each wait.
fn play<S, E>(
    generator: &VoterGenerator,
    rate: f64,
    sink: &mut S,
    emit: impl Fn(&mut S, &RecordBatch) -> Result<(), E>,
    before_wait: impl Fn(&mut S) -> Result<(), E>,
) -> Result<(), E> {
    let mut schedule = Schedule::new(0, 1, Some(rate));
    let mut batch = RecordBatch::default();
    loop {
        batch.clear();
        let next = schedule.take(generator, 4096, &mut batch);
        emit(sink, &batch)?;
        match next {
            Next::Ready => {}
            Next::Wait(wait) => {
                before_wait(sink)?;
                std::thread::sleep(wait.max(Duration::from_millis(1)));
            }
            Next::Ended => return Ok(()),
        }
    }
}

/// `tally generate --to kafka://…`: the same records `generate` prints, produced to Kafka.
fn produce(generator: &VoterGenerator, url: &KafkaUrl, properties: &[(String, String)], rate: f64) -> Result<()> {
    let mut producing = (VoteProducer::new(url, properties)?, 0u64); // (producer, records sent)
    let started = std::time::Instant::now();
    play(
        generator,
        rate,
        &mut producing,
        |(producer, sent), batch| {
            for (_, record) in batch.iter() {
                producer.send(record)?;
            }
            *sent += batch.len() as u64;
            producer.poll()
        },
        |(producer, _)| producer.poll(),
    )?;
    let (producer, sent) = producing;
    let delivered = producer.flush(Duration::from_secs(120))?;
    let seconds = started.elapsed().as_secs_f64();
    tracing::info!(
        sent,
        delivered,
        records_per_second = (sent as f64 / seconds) as u64,
        "produced to {url}"
    );
    Ok(())
}
