//! # tally-connectors
//!
//! Where records come from and where they go, one module per component, each with its config
//! type, its error type and its tests.
//!
//! Sources (each a `tally_dataflow::Source`, so the graph never knows which one feeds it):
//! - [`generator`]: [`generator::VoterGenerator`], deterministic by seed, and
//!   [`generator::GeneratorSource`] over it.
//! - [`files`]: local NDJSON (plain or gzip) cut into splits, [`files::FileSource`].
//! - [`kafka`]: [`kafka::source::KafkaSource`], partitions spread over workers; it is also a
//!   `DurableSource` (offsets, archive durability, records lost to retention) and a
//!   `RejectSink` (the dead-letter topic).
//! - [`stored`]: files in storage for replay, and [`stored::Recovering`] (archive first, then
//!   live).
//!
//! Sinks:
//! - [`storage`]: [`storage::Storage`], HDFS through hdfs-native or a local directory, with
//!   atomic writes and timed calls ([`storage::StorageError`]).
//! - [`archive`]: the raw archive's segments ([`archive::SegmentBuilder`]), the writer that makes
//!   them and the snapshots durable ([`archive::ArchiveWriter`]), recovery queries.
//! - [`kafka::producer`]: [`kafka::producer::VoteProducer`], the generator's way to Kafka.
//!
//! Errors are one `thiserror` enum per component, matched by variant. Each message is complete
//! (it names its cause), and the cause is not also the error's `source()`, so a printer of
//! error chains (`anyhow`'s `{:#}`) says it once.
//!
//! Metrics are collectors read at scrape time (`KafkaMetrics::collector`,
//! `ArchiveWriter::collector`); nothing here writes exposition text.

pub mod kafka;
pub mod sinks;
pub mod sources;
pub mod storage;
