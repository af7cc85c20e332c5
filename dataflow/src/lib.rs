//! # tally-dataflow
//!
//! The election as a differential-dataflow computation, and nothing else: the domain model
//! ([`model`]), the seed record format ([`codec`]), the graph ([`graph`]) with its one-vote-per-voter
//! operator ([`dedup`]), the counts it
//! maintains ([`tallies`]), the published document derived from them ([`results`]) and the
//! loop that drives one worker ([`pipeline`]).
//!
//! This crate does no I/O. Sources implement [`pipeline::Source`] elsewhere; publishing is a
//! callback. That keeps the whole computation testable with plain vectors: [`tallies::fold`]
//! is the sequential specification, and the tests hold the graph to it for any record set,
//! epoch size and number of workers.

pub mod codec;
pub mod dedup;
pub mod graph;
pub mod latency;
pub mod model;
pub mod pipeline;
pub mod reference;
pub mod results;
pub mod tallies;
pub mod voters;

pub use graph::Epoch;
pub use model::{Position, RejectReason};
pub use pipeline::{run_worker, MemorySource, PipelineOptions, RecordBatch, Source, SourceState};
pub use reference::Apportionment;
pub use results::Results;
pub use tallies::{fold, Tallies};
