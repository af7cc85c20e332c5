//! Kafka helpers for the integration tests: a real broker (started by `scripts/kafka.sh`), a
//! fresh topic per test, and reading topics back.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

pub fn bootstrap() -> String {
    std::env::var("KAFKA_BOOTSTRAP").unwrap_or_else(|_| "127.0.0.1:9092".to_string())
}

/// Whether a broker answers; if not, says so and (unless `TALLY_REQUIRE_SERVICES` is set, as
/// `scripts/test.sh` does) lets the test skip.
/// The `--source` URL of `topic` on the test broker.
pub fn topic_url(topic: &str) -> String {
    format!("kafka://{}/{topic}", bootstrap())
}

pub fn broker_available(test: &str) -> bool {
    let consumer: BaseConsumer = match ClientConfig::new().set("bootstrap.servers", bootstrap()).create() {
        Ok(consumer) => consumer,
        Err(e) => panic!("cannot create a Kafka client: {e}"),
    };
    if consumer.fetch_metadata(None, Duration::from_secs(5)).is_ok() {
        return true;
    }
    let message = format!(
        "{test}: needs a Kafka broker at {} (start one with scripts/kafka.sh start, or run scripts/test.sh)",
        bootstrap()
    );
    super::skip(&message);
    false
}

/// A topic name after the test, unique to this run (the topic is not created).
pub fn unique_topic_name(test: &str) -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{test}-{}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed),
        Instant::now().elapsed().subsec_nanos()
    )
}

/// A new topic with `partitions` partitions, named after the test and unique to this run.
pub fn fresh_topic(test: &str, partitions: i32) -> String {
    fresh_topic_with(test, partitions, &[])
}

/// As [`fresh_topic`], with topic-level `config` (e.g. `max.message.bytes`).
pub fn fresh_topic_with(test: &str, partitions: i32, config: &[(&str, &str)]) -> String {
    let name = unique_topic_name(test);
    let (admin, runtime) = admin();
    let mut topic = NewTopic::new(&name, partitions, TopicReplication::Fixed(1));
    for (key, value) in config {
        topic = topic.set(key, value);
    }
    let results = runtime
        .block_on(admin.create_topics(
            [&topic],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        ))
        .expect("create topic");
    for result in results {
        result.unwrap_or_else(|(topic, e)| panic!("cannot create {topic}: {e}"));
    }
    name
}

/// Every record of `topic`: (partition, offset, payload, headers as (key, value) pairs).
pub type Consumed = Vec<(i32, i64, Vec<u8>, Vec<(String, String)>)>;

pub fn read_topic(topic: &str, expected: usize, limit: Duration) -> Consumed {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .set("group.id", "tally-tests")
        .set("enable.auto.commit", "false")
        .create()
        .expect("consumer");
    let metadata = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let partitions = metadata.topics()[0].partitions().len() as i32;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .expect("assignable");
    }
    consumer.assign(&assignment).expect("assign");
    let deadline = Instant::now() + limit;
    let mut records = Vec::new();
    while records.len() < expected {
        assert!(
            Instant::now() < deadline,
            "read {} of {expected} records from {topic}",
            records.len()
        );
        if let Some(message) = consumer.poll(Duration::from_millis(100)) {
            let message = message.expect("no consumer error");
            let headers = message
                .headers()
                .map(|h| {
                    h.iter()
                        .map(|h| {
                            (
                                h.key.to_string(),
                                String::from_utf8_lossy(h.value.unwrap_or_default()).into_owned(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            records.push((
                message.partition(),
                message.offset(),
                message.payload().unwrap_or_default().to_vec(),
                headers,
            ));
        }
    }
    records
}

/// The partition count of `topic`, if it exists.
pub fn partitions_of(topic: &str) -> Option<usize> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("consumer");
    let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10)).ok()?;
    let found = metadata.topics().iter().find(|t| t.name() == topic)?;
    (found.error().is_none() && !found.partitions().is_empty()).then(|| found.partitions().len())
}

/// An admin client of the test broker, with a runtime to drive its calls.
fn admin() -> (AdminClient<DefaultClientContext>, tokio::runtime::Runtime) {
    let admin = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("admin client");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    (admin, runtime)
}

/// Deletes `topic`'s records before the given offset of each partition, as retention does: the
/// partitions' low watermarks move up to those offsets.
pub fn delete_records_before(topic: &str, before: &[(i32, i64)]) {
    let (admin, runtime) = admin();
    let mut offsets = rdkafka::TopicPartitionList::new();
    for (partition, offset) in before {
        offsets
            .add_partition_offset(topic, *partition, rdkafka::Offset::Offset(*offset))
            .expect("partition offset");
    }
    let deleted = runtime
        .block_on(admin.delete_records(
            &offsets,
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        ))
        .expect("delete records");
    for element in deleted.elements() {
        element
            .error()
            .unwrap_or_else(|e| panic!("cannot delete records of {topic}: {e}"));
    }
}

/// The (low, high) watermarks of `topic`'s `partition`.
pub fn watermarks(topic: &str, partition: i32) -> (i64, i64) {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap())
        .create()
        .expect("consumer");
    consumer
        .fetch_watermarks(topic, partition, Duration::from_secs(10))
        .expect("watermarks")
}

/// Runs `scripts/kafka.sh ACTION` (start, stop, restart); panics if it fails.
pub fn kafka_sh(action: &str) {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/kafka.sh");
    let status = std::process::Command::new("bash")
        .args([script, action])
        .status()
        .expect("kafka.sh runs");
    assert!(status.success(), "kafka.sh {action} failed");
}
