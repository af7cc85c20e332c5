//! # tally-connectors
//!
//! Where records come from and where they go, laid out as Vector lays out components: each
//! source and sink is a module with its config type, its error type, its code and its tests.
//!
//! Sources ([`sources`]), each a `tally_source::Source`; a [`sources::SourceConfig`] builds
//! every worker's share with one function:
//! - [`sources::kafka`]: [`sources::kafka::KafkaSource`], a topic's partitions spread over the
//!   workers. It is also a `DurableSource` (offsets, archive durability, records lost to
//!   retention) and hands rejects to its dead letters.
//! - [`sources::files`]: local NDJSON (plain or gzip) cut into splits.
//! - [`sources::generator`]: [`sources::generator::VoterGenerator`], deterministic by seed.
//! - [`sources::archive`]: files in storage, for replay and for recovery
//!   ([`sources::archive::ArchiveThenLive`]: the archive first, then live).
//!
//! Sinks ([`sinks`]):
//! - [`sinks::archive`]: every record read, as segments ([`sinks::archive::ArchiveSink`] on the
//!   source's side, one [`sinks::archive::ArchiveWriter`] per process).
//! - [`sinks::snapshots`]: results with the offsets they reflect, for recovery.
//! - [`sinks::dead_letters`]: rejected records to a Kafka topic with their reason.
//! - [`sinks::kafka`]: [`sinks::kafka::VoteProducer`], the generator's way to Kafka.
//!
//! Shared: [`storage::Storage`] (HDFS through hdfs-native, or a local directory) and the Kafka
//! client settings ([`kafka`]).
//!
//! What happens inside a connector is told through typed internal events (`events.rs`): each
//! logs and moves its metrics in one place. `/metrics` reads them at scrape time through
//! collectors (`KafkaMetrics::collector`, `ArchiveWriter::collector`); nothing here writes
//! exposition text.
//!
//! Errors are one `thiserror` enum per component, matched by variant. Each message is complete
//! (it names its cause), and the cause is not also the error's `source()`, so a printer of
//! error chains (`anyhow`'s `{:#}`) says it once.

#![warn(missing_docs)]

pub(crate) mod events;
pub mod kafka;
pub mod listing;
pub mod sinks;
pub mod sources;
pub mod storage;
