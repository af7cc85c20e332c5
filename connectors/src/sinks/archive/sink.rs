//! The archive as a source sees it: every record it reads goes in, segments go to the writer as
//! they close, and reading pauses while the writer is behind.

use super::{ArchiveError, ArchiveWriter, Compression, SegmentBuilder};
use std::sync::Arc;
use std::time::Duration;

/// Where and how a source archives what it reads.
#[derive(Clone)]
pub struct ArchiveConfig {
    /// The process's single writer.
    pub writer: Arc<ArchiveWriter>,
    /// How segments are stored.
    pub compression: Compression,
    /// Record bytes (before compression) per segment.
    pub segment_bytes: usize,
    /// A segment closes at this age, if not full before.
    pub segment_age: Duration,
}

impl std::fmt::Debug for ArchiveConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ArchiveConfig {{ compression: {:?}, segment_bytes: {}, segment_age: {:?} }}",
            self.compression, self.segment_bytes, self.segment_age
        )
    }
}

/// One worker's segments of one topic.
pub struct ArchiveSink {
    builder: SegmentBuilder,
    writer: Arc<ArchiveWriter>,
    /// A failure met where it could not be returned (at a checkpoint): the next call that can
    /// return it does, so nothing read goes unarchived silently.
    failed: Option<ArchiveError>,
}

impl ArchiveSink {
    /// The sink of a source reading `topic`.
    pub fn new(topic: &str, config: &ArchiveConfig) -> ArchiveSink {
        ArchiveSink {
            builder: SegmentBuilder::new(topic, config.compression, config.segment_bytes, config.segment_age),
            writer: config.writer.clone(),
            failed: None,
        }
    }

    /// Before reading: hands over segments that aged out, and says whether reading must pause
    /// because the writer is behind (storage slow or down: ingest pauses, nothing is dropped).
    pub fn paused(&mut self) -> Result<bool, ArchiveError> {
        if let Some(failed) = self.failed.take() {
            return Err(failed);
        }
        for segment in self.builder.due()? {
            self.writer.segment(segment);
        }
        if !self.writer.backlogged(self.builder.open_bytes()) {
            return Ok(false);
        }
        // Open segments filling most of the buffer are handed to the writer now, or the pause
        // would last until they age out.
        if self.writer.mostly_open(self.builder.open_bytes()) {
            if let Some(segment) = self.builder.close_largest()? {
                self.writer.segment(segment);
            }
        }
        Ok(true)
    }

    /// Archives one record (no line breaks in it); returns whether reading must now pause.
    pub fn append(&mut self, partition: u32, offset: u64, record: &[u8]) -> Result<bool, ArchiveError> {
        if let Some(segment) = self.builder.append(partition, offset, record)? {
            self.writer.segment(segment);
        }
        Ok(self.writer.backlogged(self.builder.open_bytes()))
    }

    /// At a checkpoint boundary: closes every open segment, so the checkpoint's offsets fall
    /// between segments.
    pub fn seal(&mut self) {
        match self.builder.seal() {
            Ok(segments) => segments.into_iter().for_each(|segment| self.writer.segment(segment)),
            Err(e) => self.failed = Some(e),
        }
    }

    /// The offset before which this process's segments of `partition` are durable.
    pub fn durable_through(&self, partition: u32) -> Option<u64> {
        self.writer.durable_through(partition)
    }
}
