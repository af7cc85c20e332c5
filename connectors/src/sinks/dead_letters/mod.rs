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
use crate::kafka::{client_config, KafkaError, KafkaUrl};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use refetch::{Refetched, Refetcher};
use std::time::{Duration, Instant};
use tally_dataflow::RejectSink;
use tally_model::{Position, RejectReason};

/// How long the end of a run waits for displaced records still being read back.
const REFETCH_WAIT: Duration = Duration::from_secs(5);

/// One worker's dead-letter producer.
pub struct DeadLetters {
    producer: BaseProducer,
    /// Where dead letters go.
    topic: String,
    /// Where the records came from (named in a header).
    source_topic: String,
    /// Reads displaced records back from the source topic.
    refetch: Option<Refetcher>,
}

impl DeadLetters {
    /// Dead letters of `source`'s records, to `topic`, with the source's client properties.
    pub fn new(source: &KafkaUrl, properties: &[(String, String)], topic: &str) -> Result<DeadLetters, KafkaError> {
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
        })
    }

    /// Serves delivery reports and sends the displaced records read back so far; call on every
    /// poll of the source.
    pub fn serve(&mut self) {
        self.producer.poll(Duration::ZERO);
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

    fn rejected(&mut self, position: Position, record: &[u8], reason: RejectReason) {
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
        let mut message = BaseRecord::<(), [u8]>::to(&self.topic).payload(record).headers(headers);
        // Waits (rarely) while the local queue is full rather than dropping a dead letter.
        for _ in 0..1000 {
            match self.producer.send(message) {
                Ok(()) => return,
                Err((_, unsent)) => {
                    message = unsent;
                    self.producer.poll(Duration::from_millis(5));
                }
            }
        }
        DeadLetterNotSent {
            position,
            reason,
            why: "the dead-letter queue is full",
        }
        .emit();
    }
}

impl Drop for DeadLetters {
    fn drop(&mut self) {
        if let Some(mut refetch) = self.refetch.take() {
            let answers = refetch.finish(Instant::now() + REFETCH_WAIT);
            self.send_displaced(answers);
            if refetch.outstanding() > 0 {
                tracing::error!(
                    "{} displaced duplicates were not read back in time and not dead-lettered",
                    refetch.outstanding()
                );
            }
        }
        if let Err(e) = self.producer.flush(Duration::from_secs(10)) {
            tracing::error!("dead letters not all delivered: {e}");
        }
    }
}
