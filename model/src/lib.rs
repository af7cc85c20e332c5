//! # tally-model
//!
//! What tally counts, with no dataflow and no I/O, so that everything that reads or renders
//! results (the web crate, the snapshot store, the tests' oracle) can use it without compiling
//! timely and differential dataflow.
//!
//! - [`vote`]: the vocabulary of a vote — [`State`], [`Gender`], [`AgeGroup`], candidates, the
//!   [`CubeKey`] every count is made of, a record's [`Position`] and why a record is rejected
//!   ([`RejectReason`]).
//! - [`units`]: counties, the reporting units below the state ([`County`]).
//! - [`codec`]: the seed record format (`{"id":…,"gender":…,"age":…,"state":…,"decision":…}`),
//!   strict on input, canonical on output.
//! - [`reference`](mod@reference): the official results by state of 2016, 2020 and 2024, poll
//!   closing times, and the electoral votes per state by census.
//! - [`exit_polls`]: how genders and age groups voted, as the generator draws them.
//! - [`tallies`]: every count as one plain value ([`Tallies`]) and [`fold`], the sequential
//!   specification the graph is held to.
//! - [`progress`]: where the sources are ([`SourceProgress`]: offsets, durability, replay),
//!   carried beside the counts so a snapshot pairs counts with exactly their offsets.
//! - [`results`]: the published document ([`Results`]) derived from the counts.
//! - [`unit_results`]: results by reporting unit (county), listed under their state.
//! - [`state_view`]: one state's document, cut from the same counts (the drill-down).
//! - [`changes`]: what changed between two publications, for clients that poll with a cursor.
//! - [`timeline`]: how the race moved, a bounded series of points ([`Timeline`]).
//! - [`swing`]: each party's change in share against a previous election ([`swing::Baseline`]).
//! - [`parties`]: who stands for which party, and in which colour ([`Parties`]).
//! - [`calls`]: race calls against expected votes ([`Expected`]), and the winner they make.
//! - [`projection`]: each state's final margin estimated from the units in, with an interval;
//!   the projected calls it supports.
//! - [`audit`]: each publication's record (source positions and a digest of its counts).
//! - [`ap`]: the results in the Associated Press Elections API's shape, which `elex` reads.
//! - [`outlook`]: electoral votes and win probabilities from those estimates, states moving
//!   together.
//! - [`latency`]: end-to-end latency, recorded by the workers and read by `/metrics`.
//! - [`metrics`]: constant metrics for prometheus-client, read from counters at scrape time.

#![warn(missing_docs)]

pub mod ap;
pub mod audit;
pub mod calls;
pub mod changes;
pub mod codec;
pub mod exit_polls;
pub mod latency;
pub mod metrics;
pub mod outlook;
pub mod parties;
pub mod progress;
pub mod projection;
pub mod reference;
pub mod results;
pub mod state_view;
pub mod swing;
pub mod tallies;
pub mod timeline;
pub mod unit_results;
pub mod units;
pub mod vote;

#[cfg(test)]
mod test_records;

pub use calls::{CallDesk, Expected};
pub use parties::Parties;
pub use progress::{Progress, SourceProgress};
pub use reference::Apportionment;
pub use results::Results;
pub use tallies::{fold, Tallies};
pub use timeline::Timeline;
pub use units::County;
pub use vote::{AgeGroup, CandidateId, CubeKey, Gender, Position, RejectReason, State, UnitKey, VoteKey, VoterId};
