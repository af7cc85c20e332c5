//! Writes seed-format records to Kafka, keyed by voter id so that all of a voter's records land
//! in one partition, in order (which makes offset order a total order per voter: the dedup
//! order). Idempotence is on: a retried send is never written twice.

use crate::kafka::{client_config, KafkaUrl};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tally_model::codec::voter_id;

/// Counts deliveries and keeps the first failure.
#[derive(Default)]
pub struct DeliveryReport {
    delivered: AtomicU64,
    failed: AtomicU64,
    first_error: Mutex<Option<String>>,
}

impl DeliveryReport {
    /// The first delivery error, as text (empty if none was kept).
    fn first_error(&self) -> String {
        self.first_error.lock().ok().and_then(|e| e.clone()).unwrap_or_default()
    }
}

impl ClientContext for DeliveryReport {}

impl ProducerContext for DeliveryReport {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => {
                self.delivered.fetch_add(1, Ordering::Relaxed);
            }
            Err((error, _)) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                if let Ok(mut first) = self.first_error.lock() {
                    first.get_or_insert_with(|| error.to_string());
                }
            }
        }
    }
}

/// Produces seed-format records to a topic, keyed by voter id (so a voter's records share a
/// partition and an order).
pub struct VoteProducer {
    producer: BaseProducer<DeliveryReport>,
    topic: String,
    key: Vec<u8>,
}

/// Throughput-minded defaults; any of them can be overridden with `--kafka-config`.
const PRODUCER_DEFAULTS: &[(&str, &str)] = &[
    ("enable.idempotence", "true"),
    ("acks", "all"),
    ("compression.type", "lz4"),
    ("linger.ms", "5"),
    ("batch.num.messages", "100000"),
    ("batch.size", "4000000"),
    ("queue.buffering.max.messages", "2000000"),
    ("queue.buffering.max.kbytes", "1048576"),
    ("message.timeout.ms", "300000"),
];

impl VoteProducer {
    /// A producer to `url`'s topic, with `extra` librdkafka properties over its defaults.
    pub fn new(url: &KafkaUrl, extra: &[(String, String)]) -> Result<VoteProducer, crate::kafka::KafkaError> {
        let producer = client_config(&url.brokers, PRODUCER_DEFAULTS, extra)
            .create_with_context(DeliveryReport::default())
            .map_err(crate::kafka::KafkaError::client(format!(
                "cannot create a Kafka producer for {url}"
            )))?;
        Ok(VoteProducer {
            producer,
            topic: url.topic.clone(),
            key: Vec::new(),
        })
    }

    /// Queues one record, waiting while the local queue is full.
    pub fn send(&mut self, record: &[u8]) -> Result<(), crate::kafka::KafkaError> {
        self.key.clear();
        if let Some(id) = voter_id(record) {
            self.key.extend_from_slice(id.to_string().as_bytes());
        }
        loop {
            let mut message = BaseRecord::to(&self.topic).payload(record);
            if !self.key.is_empty() {
                message = message.key(&self.key[..]);
            }
            match self.producer.send(message) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), _)) => {
                    self.producer.poll(Duration::from_millis(5));
                }
                Err((cause, _)) => {
                    return Err(crate::kafka::KafkaError::Client {
                        doing: format!("cannot send to {}", self.topic),
                        cause,
                    })
                }
            }
        }
    }

    /// Serves delivery reports; call now and then. Fails with the first record the brokers
    /// refused or that timed out, so a producer that cannot deliver stops at once rather than
    /// after queueing every record.
    pub fn poll(&self) -> Result<(), crate::kafka::KafkaError> {
        self.producer.poll(Duration::ZERO);
        let report = self.producer.context();
        if report.failed.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        Err(crate::kafka::KafkaError::Undelivered {
            topic: self.topic.clone(),
            first_error: report.first_error(),
        })
    }

    /// Waits until every queued record is delivered; fails if any was not.
    pub fn flush(&self, timeout: Duration) -> Result<u64, crate::kafka::KafkaError> {
        self.producer
            .flush(timeout)
            .map_err(crate::kafka::KafkaError::client(format!(
                "records still undelivered after {timeout:?}"
            )))?;
        let report = self.producer.context();
        let failed = report.failed.load(Ordering::Relaxed);
        if failed > 0 {
            return Err(crate::kafka::KafkaError::NotAllDelivered {
                failed,
                first_error: report.first_error(),
            });
        }
        Ok(report.delivered.load(Ordering::Relaxed))
    }
}

/// How long topic metadata and creation may take.
const ADMIN_TIMEOUT: Duration = Duration::from_secs(10);

/// Creates `url`'s topic with `partitions` partitions (and the brokers' default replication)
/// unless it exists. Returns whether it created it.
pub fn ensure_topic(
    url: &KafkaUrl,
    extra: &[(String, String)],
    partitions: i32,
) -> Result<bool, crate::kafka::KafkaError> {
    use crate::kafka::KafkaError;
    let admin: AdminClient<DefaultClientContext> =
        client_config(&url.brokers, &[], extra)
            .create()
            .map_err(KafkaError::client(format!(
                "cannot create a Kafka admin client for {url}"
            )))?;
    let metadata = admin
        .inner()
        .fetch_metadata(Some(&url.topic), ADMIN_TIMEOUT)
        .map_err(KafkaError::client(format!(
            "cannot reach the Kafka brokers at {}",
            url.brokers
        )))?;
    let exists = metadata
        .topics()
        .iter()
        .any(|t| t.name() == url.topic && t.error().is_none() && !t.partitions().is_empty());
    if exists {
        return Ok(false);
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|cause| KafkaError::Start {
            what: "a runtime",
            cause,
        })?;
    // -1: the brokers' default.replication.factor.
    let topic = NewTopic::new(&url.topic, partitions, TopicReplication::Fixed(-1));
    let options = AdminOptions::new().operation_timeout(Some(ADMIN_TIMEOUT));
    let results = runtime
        .block_on(admin.create_topics([&topic], &options))
        .map_err(KafkaError::client(format!("cannot create topic {}", url.topic)))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(KafkaError::CreateTopic { topic, code }),
        }
    }
    Ok(true)
}
