//! # tally-dataflow
//!
//! The election as a differential-dataflow computation, and nothing else. The vocabulary (votes,
//! the record codec, the counts and the published results) is `tally-model`'s; this crate adds
//! the graph that maintains the counts incrementally and the loop that feeds it:
//!
//! - [`graph`]: the whole computation on one screen, [`graph::tally_counts`], and the sink that
//!   hands worker 0 one consistent [`tally_model::Tallies`] per completed epoch.
//! - [`dedup`]: one vote per voter, a specialised operator over the [`voters::VoterTable`],
//!   summing changes by the small numbers [`keys::VoteKeys`] gives each vote key.
//! - [`pipeline`]: drives one timely worker from a [`Source`] (records and their positions),
//!   cutting the input into epochs; sources that archive or replay what they read also
//!   implement [`DurableSource`], whose progress travels beside the counts, never as counts.
//!
//! This crate does no I/O. Sources live in `tally-connectors`; publishing is a callback. That
//! keeps the computation testable with plain vectors: [`tally_model::fold`] is the sequential
//! specification, and `tests/oracle.rs` holds the graph to it for any record set, epoch size
//! and number of workers.
//!
//! The whole computation, from records in memory to counts equal to the fold:
//!
//! ```
//! use std::sync::atomic::AtomicBool;
//! use std::sync::{Arc, Mutex};
//! use tally_dataflow::{run_worker, MemorySource, PipelineOptions};
//! use tally_model::{fold, Position, Tallies};
//!
//! let records: Vec<(Position, Vec<u8>)> = [
//!     r#"{"id":1,"gender":"Female","age":34,"state":"Ohio","decision":"Kamala Harris"}"#,
//!     r#"{"id":2,"gender":"Male","age":61,"state":"TX","decision":"Donald Trump"}"#,
//!     r#"{"id":1,"gender":"Female","age":34,"state":"Ohio","decision":"Donald Trump"}"#,
//!     r#"{"id":3,"gender":"Male","age":"old","state":"TX","decision":"Donald Trump"}"#,
//! ]
//! .iter()
//! .enumerate()
//! .map(|(line, record)| (Position::new(0, line as u64), record.as_bytes().to_vec()))
//! .collect();
//!
//! let counted: Arc<Mutex<Tallies>> = Arc::default();
//! let (input, output) = (records.clone(), counted.clone());
//! timely::execute_directly(move |worker| {
//!     let mut source = MemorySource::new(input.clone(), 2);
//!     let publish = Box::new(move |tallies: &Tallies, _: &_, _, complete: bool| {
//!         if complete {
//!             *output.lock().unwrap() = tallies.clone();
//!         }
//!     });
//!     let stop = AtomicBool::new(false);
//!     run_worker(worker, &mut source, &PipelineOptions::default(), &stop, publish, None).unwrap();
//! });
//!
//! let expected = fold(records.iter().map(|(p, r)| (*p, r.as_slice())), true);
//! assert_eq!(*counted.lock().unwrap(), expected);
//! assert_eq!(expected.total_votes(), 2, "voter 1 once, voter 3's record rejected");
//! ```

#![warn(missing_docs)]

pub mod dedup;
pub mod graph;
pub mod keys;
pub mod pipeline;
pub mod voters;

/// Logical time: epochs advance on a short tick or a record budget, whichever comes first
/// (numbered in wall-clock milliseconds when the job checkpoints).
pub type Epoch = u64;
pub use pipeline::{run_worker, PipelineError, PipelineOptions};
/// The source contract, re-exported: the worker loop drives any [`Source`].
pub use tally_source::{DurableSource, MemorySource, RecordBatch, RejectSink, Source, SourceError, SourceState};
