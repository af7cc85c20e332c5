//! Dead letters: every record the job rejects, sent to a Kafka topic with its reason and where it
//! came from in headers (`tally.reject_reason`, `tally.source_topic`, `tally.source_partition`,
//! `tally.source_offset`), so nothing rejected is lost.
//!
//! Duplicates are known only once the graph has decided them. Most arrive with their bytes; a
//! first record that a smaller position displaces does not (the graph keeps no bytes per voter),
//! so it is read back from the source topic ([`refetch`]) before it is sent. Dead letters are at
//! least once: after a restart, duplicates decided near the end of the replay may be sent again.

pub mod refetch;

use crate::events::{DeadLetterNotSent, InternalEvent};
use crate::kafka::metrics::KafkaMetrics;
use crate::kafka::{client_config, KafkaError, KafkaUrl};
use rdkafka::error::{KafkaError as ClientError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use refetch::{Refetched, Refetcher};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally_model::{Position, RejectReason};
use tally_source::RejectSink;

/// How long a worker that ends without `finish` waits for what is outstanding (the pipeline's
/// own limit is passed to `finish`). Of any limit, at most this share goes to reading displaced
/// records back, the rest to delivery. Waits end as soon as nothing is outstanding, so they cost
/// nothing while the brokers answer.
const END_WAIT: Duration = Duration::from_secs(15);
const REFETCH_SHARE: u32 = 3;

/// Dead letters held while librdkafka's queue is full (it drains as the brokers acknowledge).
/// Past this, a dead letter is told as not sent rather than held or waited for: the worker that
/// calls `rejected` must never block.
const HELD_MAX: usize = 100_000;

/// One worker's dead-letter producer.
pub struct DeadLetters {
    producer: BaseProducer,
    /// Where dead letters go.
    topic: String,
    /// Where the records came from (named in a header).
    source_topic: String,
    /// Reads displaced records back from the source topic.
    refetch: Option<Refetcher>,
    /// Dead letters the full queue refused, oldest first, retried on every `serve`.
    held: std::collections::VecDeque<Held>,
    /// `finish` ran: nothing more is delivered.
    finished: bool,
    /// Where dead letters not sent are counted.
    metrics: Arc<KafkaMetrics>,
}

/// librdkafka's local queue has no room now.
struct QueueFull;

/// A dead letter waiting for room in the producer's queue.
struct Held {
    position: Position,
    record: Vec<u8>,
    reason: RejectReason,
}

impl DeadLetters {
    /// Dead letters of `source`'s records, to `topic`, with the source's client properties.
    pub fn new(
        source: &KafkaUrl,
        properties: &[(String, String)],
        topic: &str,
        metrics: Arc<KafkaMetrics>,
    ) -> Result<DeadLetters, KafkaError> {
        let producer = client_config(
            &source.brokers,
            &[("enable.idempotence", "true"), ("linger.ms", "20")],
            properties,
        )
        .create()
        .map_err(KafkaError::client("cannot create the dead-letter producer"))?;
        Ok(DeadLetters {
            producer,
            topic: topic.to_string(),
            source_topic: source.topic.clone(),
            refetch: Some(Refetcher::new(source, properties)?),
            held: Default::default(),
            finished: false,
            metrics,
        })
    }

    /// Serves delivery reports and sends the displaced records read back so far; call on every
    /// poll of the source.
    pub fn serve(&mut self) {
        self.producer.poll(Duration::ZERO);
        while let Some(held) = self.held.front() {
            if self.send(held.position, &held.record, held.reason).is_err() {
                break;
            }
            self.held.pop_front();
        }
        if let Some(answers) = self.refetch.as_mut().map(Refetcher::ready) {
            self.send_displaced(answers);
        }
    }

    /// Dead-letters displaced records read back from the topic (or says which could not be).
    fn send_displaced(&mut self, answers: Vec<Refetched>) {
        for answer in answers {
            match answer {
                Ok((position, record)) => self.rejected(position, &record, RejectReason::DuplicateVoter),
                Err((position, e)) => DeadLetterNotSent {
                    metrics: &self.metrics,
                    position,
                    reason: RejectReason::DuplicateVoter,
                    why: &format!("it could not be read back: {e}"),
                }
                .emit(),
            }
        }
    }
}

impl RejectSink for DeadLetters {
    fn wants_duplicates(&self) -> bool {
        true
    }

    fn displaced(&mut self, position: Position) {
        if let Some(refetch) = &mut self.refetch {
            refetch.request(position);
        }
    }

    /// Reads back what is still displaced (a third of `limit` at most), then delivers: whatever
    /// is still held or unacknowledged at `limit` is said to be lost, one line each.
    fn finish(&mut self, limit: Duration) {
        self.finished = true;
        let deadline = Instant::now() + limit;
        if let Some(mut refetch) = self.refetch.take() {
            let answers = refetch.finish(Instant::now() + limit / REFETCH_SHARE);
            self.send_displaced(answers);
            if refetch.outstanding() > 0 {
                tracing::error!(
                    "{} displaced duplicates were not read back in time and not dead-lettered",
                    refetch.outstanding()
                );
            }
        }
        // Room frees as the flush proceeds: held letters get one more chance each.
        while !self.held.is_empty() && Instant::now() < deadline {
            self.producer.poll(Duration::from_millis(10));
            self.serve();
        }
        for held in std::mem::take(&mut self.held) {
            DeadLetterNotSent {
                metrics: &self.metrics,
                position: held.position,
                reason: held.reason,
                why: "the job stopped before the dead-letter queue had room",
            }
            .emit();
        }
        let rest = deadline.saturating_duration_since(Instant::now());
        if let Err(e) = self.producer.flush(rest.max(Duration::from_millis(100))) {
            tracing::error!(
                "{} dead letters not delivered within {limit:?} ({e}); they are lost",
                self.producer.in_flight_count()
            );
        }
    }

    fn rejected(&mut self, position: Position, record: &[u8], reason: RejectReason) {
        // Behind letters already held, so that the topic keeps the order they were rejected in;
        // copied only when it must wait.
        let refused = !self.held.is_empty() || self.send(position, record, reason).is_err();
        if refused {
            if self.held.len() < HELD_MAX {
                self.held.push_back(Held {
                    position,
                    record: record.to_vec(),
                    reason,
                });
            } else {
                DeadLetterNotSent {
                    metrics: &self.metrics,
                    position,
                    reason,
                    why: "the dead-letter queue is full",
                }
                .emit();
            }
        }
    }
}

impl DeadLetters {
    /// Queues one dead letter with librdkafka; `Err` when its queue is full (try again later). A
    /// letter librdkafka refuses for any other reason (too large, say) is told as not sent.
    fn send(&self, position: Position, record: &[u8], reason: RejectReason) -> Result<(), QueueFull> {
        let partition = position.stream.to_string();
        let offset = position.offset.to_string();
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "tally.reject_reason",
                value: Some(reason.as_str()),
            })
            .insert(Header {
                key: "tally.source_topic",
                value: Some(self.source_topic.as_str()),
            })
            .insert(Header {
                key: "tally.source_partition",
                value: Some(partition.as_str()),
            })
            .insert(Header {
                key: "tally.source_offset",
                value: Some(offset.as_str()),
            });
        let message = BaseRecord::<(), [u8]>::to(&self.topic).payload(record).headers(headers);
        match self.producer.send(message) {
            Ok(()) => Ok(()),
            Err((ClientError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => Err(QueueFull),
            Err((error, _)) => {
                DeadLetterNotSent {
                    metrics: &self.metrics,
                    position,
                    reason,
                    why: &error.to_string(),
                }
                .emit();
                Ok(())
            }
        }
    }
}

impl Drop for DeadLetters {
    /// A worker that ended without `finish` (an error) still delivers what it can.
    fn drop(&mut self) {
        if !self.finished {
            self.finish(END_WAIT);
        }
    }
}
