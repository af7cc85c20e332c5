//! One worker's share of a Kafka topic. Worker `i` of `W` (counted over every process) owns the
//! partitions `p` with `p % W == i`, assigned explicitly rather than by a consumer group, so the
//! offsets each worker has read are known exactly. A record's position is (partition, offset).
//!
//! The source never gives up on the brokers: while they are unreachable (at start or later) it
//! reports itself idle, the job keeps serving its last results, and librdkafka resumes fetching
//! from the exact next offset when they return, so nothing is lost or read twice.

use crate::events::{InternalEvent, KafkaPartitionsAssigned, KafkaReachable, KafkaUnreachable, RecordsLostToRetention};
use crate::kafka::metrics::KafkaMetrics;
use crate::kafka::{client_config, one_line, KafkaError, KafkaUrl};
use crate::sinks::archive::{ArchiveConfig, ArchiveSink};
use crate::sinks::dead_letters::DeadLetters;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError as ClientError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::statistics::Statistics;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tally_model::Position;
use tally_source::{DurableSource, RecordBatch, RejectSink, Source, SourceError, SourceState};

/// Where a fresh start begins reading.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartAt {
    /// From the oldest record the topic keeps.
    Earliest,
    /// From records produced after the job starts.
    Latest,
}

impl std::str::FromStr for StartAt {
    type Err = KafkaError;
    fn from_str(text: &str) -> Result<StartAt, KafkaError> {
        match text {
            "earliest" => Ok(StartAt::Earliest),
            "latest" => Ok(StartAt::Latest),
            other => Err(KafkaError::InvalidStart(other.to_string())),
        }
    }
}

#[derive(Clone, Debug)]
/// What a Kafka source reads, and how.
pub struct KafkaSourceConfig {
    /// The brokers and the topic.
    pub url: KafkaUrl,
    /// Where a fresh start begins.
    pub start: StartAt,
    /// Read up to the end offsets seen when the source connects, then end.
    pub stop_at_end: bool,
    /// librdkafka properties, passed through.
    pub properties: Vec<(String, String)>,
    /// Send records that fail validation here, with the reason in a header.
    pub dead_letter_topic: Option<String>,
    /// Next offset per partition to resume from (recovery); others start at `start`.
    pub resume_from: BTreeMap<i32, i64>,
    /// Archive every record read (segments of at most this many bytes or this age).
    pub archive: Option<ArchiveConfig>,
    /// Records already lost before this run (from the snapshot it resumes from); worker 0's
    /// source reports them, so the total survives restarts.
    pub lost_before: u64,
}

/// Consumer defaults: no group management, no commits (offsets live in tally's snapshots),
/// statistics every second for lag. A fetch returns as soon as any record is there
/// (`fetch.min.bytes` is 1), so `fetch.wait.max.ms` only bounds how long the broker holds an
/// empty one. When a partition's
/// prefetch queue is full, librdkafka postpones its next fetch by `fetch.queue.backoff.ms`
/// (default 1 s): a worker that drains its queue faster than that then starves. 2 ms took
/// `--stop-at-end` from 0.5 to 1.3 M records/s on 2 workers (BENCHMARKS.md).
const CONSUMER_DEFAULTS: &[(&str, &str)] = &[
    ("group.id", "tally"),
    ("enable.auto.commit", "false"),
    ("enable.auto.offset.store", "false"),
    ("enable.partition.eof", "false"),
    ("fetch.wait.max.ms", "10"),
    ("queued.min.messages", "200000"),
    ("fetch.queue.backoff.ms", "2"),
    ("statistics.interval.ms", "1000"),
    ("reconnect.backoff.max.ms", "1000"),
    // If retention deletes records a running job has not read yet, its position falls out of
    // range. Any reset librdkafka made on its own would move it silently (`latest` skipping
    // every record in between, deleted or not); `error` tells the source instead, which counts
    // the deleted records as lost and moves on to the oldest one kept, as a restart does.
    ("auto.offset.reset", "error"),
];

/// Reports librdkafka's statistics and errors into [`KafkaMetrics`].
struct SourceContext {
    metrics: Arc<KafkaMetrics>,
    topic: String,
}

impl ClientContext for SourceContext {
    fn stats(&self, statistics: Statistics) {
        if let Some(topic) = statistics.topics.get(&self.topic) {
            for (partition, stats) in &topic.partitions {
                if *partition >= 0 && stats.hi_offset >= 0 {
                    self.metrics.high_watermark(*partition, stats.hi_offset);
                }
            }
        }
        if statistics.brokers.values().any(|b| b.state == "UP") {
            KafkaReachable { metrics: &self.metrics }.emit();
        }
    }

    fn error(&self, error: ClientError, reason: &str) {
        KafkaUnreachable {
            metrics: &self.metrics,
            reason: format!("{error}: {reason}"),
        }
        .emit();
    }
}

impl ConsumerContext for SourceContext {}

/// What the brokers told about the partitions a worker owns: (partition, low, high) watermarks.
type Watermarks = Result<Vec<(i32, i64, i64)>, KafkaError>;

enum Phase {
    /// Waiting for the brokers to tell the partition count and watermarks. The requests block,
    /// so they run on a helper thread (`asking`) and never stall the timely worker, which keeps
    /// stepping the rest of the dataflow meanwhile.
    Connecting {
        last_attempt: Option<Instant>,
        asking: Option<std::sync::mpsc::Receiver<Watermarks>>,
    },
    /// Assigned; `start` is where reading began per owned partition, `next` the next offset,
    /// `end` where to stop.
    Consuming {
        start: BTreeMap<i32, i64>,
        next: BTreeMap<i32, i64>,
        end: Option<BTreeMap<i32, i64>>,
    },
}

/// One worker's share of a topic's partitions (worker `i` of `W` owns `p % W == i`), assigned
/// explicitly.
pub struct KafkaSource {
    config: Arc<KafkaSourceConfig>,
    /// Where every record read is copied (with `--storage`).
    archive: Option<ArchiveSink>,
    /// Where rejected records go (with `--dead-letter-topic`).
    dead_letters: Option<DeadLetters>,
    /// Scratch space for a record whose line breaks are replaced.
    flattened: Vec<u8>,
    consumer: Arc<BaseConsumer<SourceContext>>,
    index: usize,
    peers: usize,
    phase: Phase,
    metrics: Arc<KafkaMetrics>,
    /// Records lost to retention, found by this source, plus `lost_before` for worker 0.
    lost: u64,
    /// The brokers said a position is out of range and it has not been moved yet.
    out_of_range: bool,
    /// Since when a position has been past the partition's end (see `skip_deleted`).
    past_end_since: Option<Instant>,
}

/// How long a position may stay past its partition's end before it is taken as the end.
const PAST_END_GRACE: Duration = Duration::from_secs(10);

/// How long a metadata or watermark request may take while connecting.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(1000);

impl KafkaSource {
    /// The brokers did not answer (or refused a request); told once per outage.
    fn unreachable(&self, reason: String) {
        let metrics = &self.metrics;
        KafkaUnreachable { metrics, reason }.emit();
    }

    /// Worker `index` of `peers`.
    pub fn new(
        config: Arc<KafkaSourceConfig>,
        index: usize,
        peers: usize,
        metrics: Arc<KafkaMetrics>,
    ) -> Result<KafkaSource, KafkaError> {
        let context = SourceContext {
            metrics: metrics.clone(),
            topic: config.url.topic.clone(),
        };
        let mut consumer: BaseConsumer<SourceContext> =
            client_config(&config.url.brokers, CONSUMER_DEFAULTS, &config.properties)
                .create_with_context(context)
                .map_err(KafkaError::client(format!(
                    "cannot create a Kafka consumer for {}",
                    config.url
                )))?;
        // The source is made on the worker thread that polls it: records arriving wake that
        // thread, so an idle worker parks until then instead of polling every millisecond.
        let worker = std::thread::current();
        consumer.set_nonempty_callback(move || worker.unpark());
        let dead_letters = match &config.dead_letter_topic {
            Some(topic) => Some(DeadLetters::new(
                &config.url,
                &config.properties,
                topic,
                metrics.clone(),
            )?),
            None => None,
        };
        let archive = config
            .archive
            .as_ref()
            .map(|archive| ArchiveSink::new(&config.url.topic, archive));
        Ok(KafkaSource {
            lost: if index == 0 { config.lost_before } else { 0 },
            out_of_range: false,
            past_end_since: None,
            config,
            archive,
            flattened: Vec::new(),
            consumer: Arc::new(consumer),
            dead_letters,
            index,
            peers,
            phase: Phase::Connecting {
                last_attempt: None,
                asking: None,
            },
            metrics,
        })
    }

    /// Asks the brokers (at most every half second, off the worker thread) for the partitions
    /// and their watermarks, and assigns ours once they answer.
    fn connect(&mut self) {
        let Phase::Connecting { last_attempt, asking } = &mut self.phase else {
            return;
        };
        let answer = match asking.as_ref().map(|answer| answer.try_recv()) {
            Some(Ok(answer)) => answer,
            Some(Err(std::sync::mpsc::TryRecvError::Empty)) => return,
            Some(Err(std::sync::mpsc::TryRecvError::Disconnected)) | None => {
                if last_attempt.is_some_and(|t| t.elapsed() < Duration::from_millis(500)) {
                    return;
                }
                *last_attempt = Some(Instant::now());
                let (tell, answer) = std::sync::mpsc::channel();
                let (consumer, topic, index, peers) = (
                    self.consumer.clone(),
                    self.config.url.topic.clone(),
                    self.index,
                    self.peers,
                );
                let asked = std::thread::Builder::new()
                    .name("tally-kafka-meta".to_string())
                    .spawn(move || {
                        let _ = tell.send(watermarks(&consumer, &topic, index, peers));
                    });
                *asking = asked.is_ok().then_some(answer);
                return;
            }
        };
        *asking = None;
        let owned = match answer {
            Ok(owned) => owned,
            Err(e) => {
                self.unreachable(e.to_string());
                return;
            }
        };
        let topic = &self.config.url.topic;
        let mut next = BTreeMap::new();
        let mut end = BTreeMap::new();
        let mut assignment = TopicPartitionList::new();
        // Told and counted once the assignment succeeds: a failed attempt is retried and would
        // tell and count again.
        let mut lost: Vec<(i32, i64, i64)> = Vec::new();
        for &(partition, low, high) in &owned {
            let start = match (self.config.resume_from.get(&partition), self.config.start) {
                (Some(&offset), _) if offset < low => {
                    // Retention deleted records the job had not read (it was down or behind
                    // for longer than the topic keeps them).
                    lost.push((partition, offset, low - 1));
                    low
                }
                (Some(&offset), _) => offset,
                (None, StartAt::Earliest) => low,
                (None, StartAt::Latest) => high,
            };
            if let Err(e) = assignment.add_partition_offset(topic, partition, Offset::Offset(start)) {
                self.unreachable(format!("cannot assign partition {partition}: {e}"));
                return;
            }
            next.insert(partition, start);
            end.insert(partition, high);
            self.metrics.consumed(partition, start);
            self.metrics.high_watermark(partition, high);
        }
        if let Err(e) = self.consumer.assign(&assignment) {
            self.unreachable(format!("assignment failed: {e}"));
            return;
        }
        count_lost(&mut self.lost, &self.metrics, lost);
        KafkaReachable { metrics: &self.metrics }.emit();
        let partitions: Vec<i32> = owned.iter().map(|(p, _, _)| *p).collect();
        KafkaPartitionsAssigned {
            worker: self.index,
            partitions: &partitions,
            url: &self.config.url.to_string(),
        }
        .emit();
        self.phase = Phase::Consuming {
            start: next.clone(),
            next,
            end: self.config.stop_at_end.then_some(end),
        };
    }
}

impl KafkaSource {
    /// Retention deleted records this running job had not read: a position is out of range and
    /// librdkafka stopped fetching that partition (`auto.offset.reset=error` does not say which,
    /// and a stopped partition refuses a seek). Every owned partition whose next offset is now
    /// below the oldest kept is counted lost up to it, logged, and the partitions are assigned
    /// again from where each goes on. Whether that was done; if not, it is asked again.
    fn skip_deleted(&mut self) -> bool {
        let Phase::Consuming { next, end, .. } = &mut self.phase else {
            return true;
        };
        let topic = &self.config.url.topic;
        let mut lost = Vec::new();
        let mut moved = next.clone();
        for (&partition, slot) in moved.iter_mut() {
            // A blocking request on the worker thread, once per loss, just after the brokers
            // answered: simpler than the connect phase's helper thread, and as rare as the loss.
            let (low, high) = match self.consumer.fetch_watermarks(topic, partition, CONNECT_TIMEOUT) {
                Ok(watermarks) => watermarks,
                Err(e) => {
                    let (metrics, reason) = (&self.metrics, format!("watermark request failed: {e}"));
                    KafkaUnreachable { metrics, reason }.emit();
                    return false;
                }
            };
            if *slot > high {
                // Past the end. Just after a broker restart its high watermark may lag for a
                // moment: ask again. If it stays so, the broker lost records already read (or
                // the topic was made again): new records take those offsets, so go on from its
                // end, and say so.
                let since = *self.past_end_since.get_or_insert_with(Instant::now);
                if since.elapsed() < PAST_END_GRACE {
                    return false;
                }
                tracing::error!(
                    partition,
                    next = *slot,
                    high,
                    "the partition ends before records already read (lost by the broker, or the topic made again): reading on from its end"
                );
                *slot = high;
            }
            if *slot < low {
                // With `--stop-at-end`, records past the end are not this run's to count.
                let last = match end.as_ref().and_then(|end| end.get(&partition)) {
                    Some(&end) => (low - 1).min(end - 1),
                    None => low - 1,
                };
                if last >= *slot {
                    lost.push((partition, *slot, last));
                }
                *slot = low;
            }
        }
        let mut assignment = TopicPartitionList::new();
        for (&partition, &offset) in &moved {
            if let Err(e) = assignment.add_partition_offset(topic, partition, Offset::Offset(offset)) {
                let (metrics, reason) = (&self.metrics, format!("cannot assign partition {partition}: {e}"));
                KafkaUnreachable { metrics, reason }.emit();
                return false;
            }
        }
        if let Err(e) = self.consumer.assign(&assignment) {
            let (metrics, reason) = (&self.metrics, format!("assignment failed: {e}"));
            KafkaUnreachable { metrics, reason }.emit();
            return false;
        }
        count_lost(&mut self.lost, &self.metrics, lost);
        for (partition, offset) in &moved {
            self.metrics.consumed(*partition, *offset);
        }
        *next = moved;
        self.past_end_since = None;
        true
    }
}

/// Adds each `(partition, first, last)` range retention deleted to `lost`, and tells it.
fn count_lost(lost: &mut u64, metrics: &KafkaMetrics, ranges: Vec<(i32, i64, i64)>) {
    for (partition, first, last) in ranges {
        *lost += (last - first + 1) as u64;
        RecordsLostToRetention {
            metrics,
            partition,
            first,
            last,
        }
        .emit();
    }
}

/// The partitions of `topic` that worker `index` of `peers` owns, with their watermarks.
fn watermarks(consumer: &BaseConsumer<SourceContext>, topic: &str, index: usize, peers: usize) -> Watermarks {
    let metadata = consumer
        .fetch_metadata(Some(topic), CONNECT_TIMEOUT)
        .map_err(KafkaError::client("metadata request failed"))?;
    let partitions = match metadata.topics().iter().find(|t| t.name() == topic) {
        Some(t) if t.error().is_none() && !t.partitions().is_empty() => t.partitions().len() as i32,
        _ => return Err(KafkaError::NoSuchTopic(topic.to_string())),
    };
    (0..partitions)
        .filter(|p| *p as usize % peers == index)
        .map(|partition| {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition, CONNECT_TIMEOUT)
                .map_err(KafkaError::client("watermark request failed"))?;
            Ok((partition, low, high))
        })
        .collect()
}

impl Source for KafkaSource {
    fn poll(&mut self, max: usize, batch: &mut RecordBatch) -> Result<SourceState, SourceError> {
        if let Some(dead_letters) = &mut self.dead_letters {
            dead_letters.serve();
        }
        self.connect();
        let Phase::Consuming { next, end, .. } = &mut self.phase else {
            return Ok(SourceState::Idle);
        };
        if let Some(archive) = &mut self.archive {
            if archive.paused()? {
                return Ok(SourceState::Idle);
            }
        }
        let mut taken = 0;
        let mut moved = false;
        while taken < max {
            match self.consumer.poll(Duration::ZERO) {
                None => break,
                Some(Err(ClientError::MessageConsumption(RDKafkaErrorCode::AutoOffsetReset))) => {
                    self.out_of_range = true;
                    break;
                }
                Some(Err(e)) => {
                    // `self.phase` is borrowed: tell the event directly.
                    let (metrics, reason) = (&self.metrics, e.to_string());
                    KafkaUnreachable { metrics, reason }.emit();
                    break;
                }
                Some(Ok(message)) => {
                    let (partition, offset) = (message.partition(), message.offset());
                    let Some(slot) = next.get_mut(&partition) else {
                        continue;
                    };
                    if end.as_ref().is_some_and(|end| offset >= end[&partition]) {
                        continue;
                    }
                    let position = Position::new(partition as u32, offset as u64);
                    let payload = one_line(message.payload().unwrap_or_default(), &mut self.flattened);
                    match message.timestamp().to_millis() {
                        Some(created) => batch.push_timestamped(position, created, payload),
                        None => batch.push(position, payload),
                    }
                    let backlogged = match &mut self.archive {
                        Some(archive) => archive.append(position.stream, position.offset, payload)?,
                        None => false,
                    };
                    *slot = offset + 1;
                    taken += 1;
                    moved = true;
                    if backlogged {
                        // The archive buffer is full: stop reading until storage catches up.
                        break;
                    }
                }
            }
        }
        if moved {
            for (partition, offset) in next.iter() {
                self.metrics.consumed(*partition, *offset);
            }
        }
        let finished = end.as_ref().is_some_and(|end| next.iter().all(|(p, n)| *n >= end[p]));
        let state = if finished {
            SourceState::Exhausted
        } else if taken == 0 {
            SourceState::Idle
        } else {
            SourceState::Active
        };
        if self.out_of_range {
            // Until it is handled, asked again at each poll; the partition is not fetched.
            self.out_of_range = !self.skip_deleted();
        }
        Ok(state)
    }

    /// Arriving records unpark the worker (the consumer's non-empty callback).
    fn idle_wait(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn durability(&mut self) -> Option<&mut dyn DurableSource> {
        Some(self)
    }

    fn rejects(&mut self) -> Option<&mut dyn RejectSink> {
        self.dead_letters.as_mut().map(|sink| sink as &mut dyn RejectSink)
    }
}

impl DurableSource for KafkaSource {
    fn lost(&self) -> u64 {
        self.lost
    }

    fn offsets(&self) -> Vec<(u32, u64)> {
        match &self.phase {
            Phase::Consuming { next, .. } => next.iter().map(|(p, o)| (*p as u32, *o as u64)).collect(),
            Phase::Connecting { .. } => self
                .config
                .resume_from
                .iter()
                .filter(|(p, _)| **p as usize % self.peers == self.index)
                .map(|(p, o)| (*p as u32, *o as u64))
                .collect(),
        }
    }

    fn checkpoint(&mut self) {
        if let Some(archive) = &mut self.archive {
            archive.seal();
        }
    }

    /// Records before the start offsets need no archiving (they were archived before the
    /// snapshot this run resumed from, or precede a fresh start); after them, what the writer
    /// has made durable.
    fn durable(&self) -> Vec<(u32, u64)> {
        let Some(archive) = &self.archive else {
            return Vec::new();
        };
        match &self.phase {
            Phase::Consuming { start, .. } => start
                .iter()
                .map(|(p, s)| {
                    let written = archive.durable_through(*p as u32).unwrap_or(0);
                    (*p as u32, written.max(*s as u64))
                })
                .collect(),
            Phase::Connecting { .. } => self.offsets(),
        }
    }
}
