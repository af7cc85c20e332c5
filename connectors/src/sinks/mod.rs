//! Sinks: where records and state go.

pub mod archive;
pub mod dead_letters;
pub mod kafka;
pub mod snapshots;
