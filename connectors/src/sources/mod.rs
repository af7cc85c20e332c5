//! Sources: where records come from. Each is a `tally_dataflow::Source` built per worker.

pub mod archive;
pub mod files;
pub mod generator;
pub mod kafka;
