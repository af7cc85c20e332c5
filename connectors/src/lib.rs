//! # tally-connectors
//!
//! Where records come from and where they go, one module per component. Sources: the voter
//! [`generator`] (deterministic, seed-compatible), local NDJSON [`files`] (plain or gzip),
//! [`kafka`] (a partitioned source, the producer, dead letters) and [`stored`] files in HDFS or a
//! local directory (replay and recovery). Sinks: [`storage`] (HDFS through hdfs-native, or a
//! local directory) and, on it, the raw [`archive`] and the snapshots. Each source implements
//! `tally_dataflow::Source`, so the graph never knows which one feeds it.

pub mod archive;
pub mod files;
pub mod generator;
pub mod kafka;
pub mod storage;
pub mod stored;
