//! # tally-dataflow
//!
//! The election as a differential-dataflow computation, and nothing else. The vocabulary (votes,
//! the record codec, the counts and the published results) is `tally-model`'s; this crate adds
//! the graph that maintains the counts incrementally and the loop that feeds it:
//!
//! - [`graph`]: the whole computation on one screen, [`graph::tally_counts`], and the sink that
//!   hands worker 0 one consistent [`tally_model::Tallies`] per completed epoch.
//! - [`dedup`]: one vote per voter, a specialised operator over the [`voters::VoterTable`].
//! - [`pipeline`]: drives one timely worker from a [`Source`] (records and their positions),
//!   cutting the input into epochs; sources that archive or replay what they read also
//!   implement [`DurableSource`], whose progress travels beside the counts, never as counts.
//!
//! This crate does no I/O. Sources live in `tally-connectors`; publishing is a callback. That
//! keeps the computation testable with plain vectors: [`tally_model::fold`] is the sequential
//! specification, and `tests/oracle.rs` holds the graph to it for any record set, epoch size
//! and number of workers.

pub mod dedup;
pub mod graph;
pub mod pipeline;
pub mod voters;

/// Logical time: epochs advance on a short tick or a record budget, whichever comes first
/// (numbered in wall-clock milliseconds when the job checkpoints).
pub type Epoch = u64;
pub use pipeline::{
    run_worker, DurableSource, MemorySource, PipelineError, PipelineOptions, RecordBatch, RejectSink, Source,
    SourceError, SourceState,
};
