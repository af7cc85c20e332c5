//! Reads single records back from Kafka by position, off the worker thread.
//!
//! The dedup graph keeps no record bytes per voter (at 158 M voters that would be the largest
//! thing in memory). When a voter's counted record is displaced by one at an earlier position,
//! it becomes a `duplicate_voter` and must be dead-lettered, so its bytes are fetched again here:
//! the topic still holds them (the archive does too). Displacements are rare, since the
//! producer keys records by voter, so one record per request is fast enough.

use crate::kafka::{client_config, one_line, KafkaError, KafkaUrl};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::{Offset, TopicPartitionList};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};
use tally_model::Position;

/// How long one record may take to fetch before it is reported missing.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// A record read back, or why it could not be.
pub type Refetched = Result<(Position, Vec<u8>), (Position, KafkaError)>;

/// A helper thread that fetches records by (partition, offset).
pub struct Refetcher {
    requests: Option<Sender<Position>>,
    fetched: Receiver<Refetched>,
    outstanding: usize,
}

impl Refetcher {
    /// A refetcher reading from `url`'s topic with the source's client properties.
    pub fn new(url: &KafkaUrl, properties: &[(String, String)]) -> Result<Refetcher, KafkaError> {
        let consumer: BaseConsumer = client_config(
            &url.brokers,
            &[
                ("group.id", "tally-refetch"),
                ("enable.auto.commit", "false"),
                ("fetch.wait.max.ms", "10"),
            ],
            properties,
        )
        .create()
        .map_err(KafkaError::client(format!("cannot create a Kafka consumer for {url}")))?;
        let (requests, asked) = channel::<Position>();
        let (tell, fetched) = channel();
        let topic = url.topic.clone();
        std::thread::Builder::new()
            .name("tally-kafka-refetch".to_string())
            .spawn(move || {
                for position in asked {
                    let answer = fetch(&consumer, &topic, position)
                        .map(|record| (position, record))
                        .map_err(|e| (position, e));
                    if tell.send(answer).is_err() {
                        return;
                    }
                }
            })
            .map_err(|cause| KafkaError::Start {
                what: "the refetch thread",
                cause,
            })?;
        Ok(Refetcher {
            requests: Some(requests),
            fetched,
            outstanding: 0,
        })
    }

    /// Asks for the record at `position`; it comes back from [`Refetcher::ready`].
    pub fn request(&mut self, position: Position) {
        if let Some(requests) = &self.requests {
            if requests.send(position).is_ok() {
                self.outstanding += 1;
            }
        }
    }

    /// The answers that have arrived, without waiting.
    pub fn ready(&mut self) -> Vec<Refetched> {
        let answers: Vec<Refetched> = self.fetched.try_iter().collect();
        self.outstanding -= answers.len();
        answers
    }

    /// Every outstanding answer that arrives before `deadline` (the end of a run).
    pub fn finish(&mut self, deadline: Instant) -> Vec<Refetched> {
        self.requests = None;
        let mut answers = Vec::new();
        while self.outstanding > 0 {
            match self
                .fetched
                .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            {
                Ok(answer) => {
                    answers.push(answer);
                    self.outstanding -= 1;
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => break,
            }
        }
        answers
    }

    /// Requests not answered (yet).
    pub fn outstanding(&self) -> usize {
        self.outstanding
    }
}

/// The record at `position`, as the source read it (one line).
fn fetch(consumer: &BaseConsumer, topic: &str, position: Position) -> Result<Vec<u8>, KafkaError> {
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, position.stream as i32, Offset::Offset(position.offset as i64))
        .map_err(KafkaError::client("cannot assign the partition"))?;
    consumer
        .assign(&assignment)
        .map_err(KafkaError::client("cannot assign the partition"))?;
    let deadline = Instant::now() + FETCH_TIMEOUT;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            None => continue,
            Some(Err(e)) => return Err(KafkaError::client("fetch failed")(e)),
            Some(Ok(message)) if message.partition() as u32 != position.stream => continue,
            Some(Ok(message)) if message.offset() as u64 == position.offset => {
                let mut scratch = Vec::new();
                return Ok(one_line(message.payload().unwrap_or_default(), &mut scratch).to_vec());
            }
            Some(Ok(message)) => return Err(KafkaError::Gone(message.offset())),
        }
    }
    Err(KafkaError::FetchTimeout(FETCH_TIMEOUT))
}
