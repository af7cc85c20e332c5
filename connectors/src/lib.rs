//! # tally-connectors
//!
//! Where records come from and where they go, one module per component: the voter
//! [`generator`] (a deterministic, seed-compatible source) and local NDJSON [`files`]. Each
//! source implements `tally_dataflow::Source`, so the graph never knows which one feeds it.

pub mod archive;
pub mod files;
pub mod generator;
pub mod kafka;
pub mod storage;
pub mod stored;
