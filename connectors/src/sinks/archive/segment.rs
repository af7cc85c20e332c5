//! The archive's segment format: a partition's records, byte for byte and one per line, plain,
//! gzip or snappy, at `raw/<topic>/<partition>/<first-offset>-<last-offset>.ndjson[.gz|.snappy]` (partition
//! zero-padded to 5 digits and offsets to 20, so path order is (partition, offset) order: the
//! dedup order). [`SegmentBuilder`] cuts them on size, on age and at checkpoint boundaries.

use super::{hadoop_snappy, ArchiveError};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How segments are stored. Every form is read directly by Hadoop's tools: `hdfs dfs -text`
/// decompresses a `.gz` or `.snappy` file by its name with the jars Hadoop ships (and Spark's
/// JSON reader uses the same codecs). zstd is not offered: Hadoop reads `.zst` only through a native libhadoop built with
/// zstd, which its Maven jars do not carry.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Compression {
    /// `.ndjson`: the records as they came.
    None,
    /// `.ndjson.gz`: one gzip member per segment, at deflate's fastest level; what `zcat` reads.
    Gzip,
    /// `.ndjson.snappy`: Hadoop's snappy block stream ([`super::hadoop_snappy`]); about 40% less
    /// CPU than gzip for 10% more bytes, the default (see BENCHMARKS.md).
    #[default]
    Snappy,
}

impl Compression {
    /// The file extension of a segment stored this way.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => ".ndjson",
            Compression::Gzip => ".ndjson.gz",
            Compression::Snappy => ".ndjson.snappy",
        }
    }

    /// How a file is compressed, by its name (as Hadoop decides).
    pub fn of_path(path: &str) -> Compression {
        if path.ends_with(".gz") {
            Compression::Gzip
        } else if path.ends_with(".snappy") {
            Compression::Snappy
        } else {
            Compression::None
        }
    }

    /// `stored` read as the bytes it holds.
    pub fn decoder<'a, R: std::io::Read + Send + 'a>(self, stored: R) -> Box<dyn std::io::Read + Send + 'a> {
        match self {
            Compression::None => Box::new(stored),
            Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(stored)),
            Compression::Snappy => Box::new(super::hadoop_snappy::SnappyReader::new(stored)),
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = ArchiveError;
    fn from_str(text: &str) -> Result<Compression, ArchiveError> {
        match text {
            "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "snappy" => Ok(Compression::Snappy),
            "zstd" => Err(ArchiveError::Zstd),
            other => Err(ArchiveError::UnknownCompression(other.to_string())),
        }
    }
}

/// A closed run of one partition's records, as stored (compressed or not).
pub struct Segment {
    /// The topic its records were read from.
    pub topic: String,
    /// The partition.
    pub partition: u32,
    /// The offset of its first record.
    pub first: u64,
    /// The offset of its last record.
    pub last: u64,
    /// How `bytes` are stored.
    pub compression: Compression,
    /// The records, one per line, compressed as `compression` says.
    pub bytes: bytes::Bytes,
}

impl Segment {
    /// Where it is stored, relative to the storage root ([`segment_path`]).
    pub fn path(&self) -> String {
        segment_path(&self.topic, self.partition, self.first, self.last, self.compression)
    }
}

/// `raw/TOPIC/PARTITION/FIRST-LAST.ndjson[.gz|.snappy]`, zero-padded so path order is offset order.
pub fn segment_path(topic: &str, partition: u32, first: u64, last: u64, compression: Compression) -> String {
    let extension = compression.extension();
    format!("raw/{topic}/{partition:05}/{first:020}-{last:020}{extension}")
}

/// `(partition, first, last)` of an archive path (plain or compressed), if it is one.
pub fn parse_segment_path(path: &str) -> Option<(u32, u64, u64)> {
    let mut parts = path.rsplit('/');
    let file = parts.next()?;
    let name = [Compression::None, Compression::Gzip, Compression::Snappy]
        .into_iter()
        .find_map(|compression| file.strip_suffix(compression.extension()))?;
    let partition = parts.next()?.parse().ok()?;
    let (first, last) = name.split_once('-')?;
    Some((partition, first.parse().ok()?, last.parse().ok()?))
}

/// An open segment's body: records are copied once, from the fetched message into this.
enum Body {
    Plain(Vec<u8>),
    /// Records gather in `pending` and are compressed a block at a time: deflate called once per
    /// record costs more than the compression itself.
    Gzip {
        encoder: Box<flate2::write::GzEncoder<Vec<u8>>>,
        pending: Vec<u8>,
    },
    /// Records gather in `pending` and are compressed into `stored` a block at a time.
    Snappy {
        encoder: Box<snap::raw::Encoder>,
        scratch: Vec<u8>,
        pending: Vec<u8>,
        stored: Vec<u8>,
    },
}

/// Record bytes compressed at once.
const COMPRESS_BLOCK: usize = 256 << 10;

impl Body {
    fn new(compression: Compression) -> Body {
        match compression {
            Compression::None => Body::Plain(Vec::with_capacity(1 << 16)),
            Compression::Gzip => Body::Gzip {
                encoder: Box::new(flate2::write::GzEncoder::new(
                    Vec::with_capacity(1 << 16),
                    flate2::Compression::fast(),
                )),
                pending: Vec::with_capacity(COMPRESS_BLOCK + (1 << 10)),
            },
            Compression::Snappy => Body::Snappy {
                encoder: Box::new(snap::raw::Encoder::new()),
                scratch: Vec::new(),
                pending: Vec::with_capacity(hadoop_snappy::BLOCK + (1 << 10)),
                stored: Vec::with_capacity(1 << 16),
            },
        }
    }

    fn append(&mut self, record: &[u8]) -> std::io::Result<()> {
        use std::io::Write;
        match self {
            Body::Plain(bytes) => {
                bytes.extend_from_slice(record);
                bytes.push(b'\n');
                Ok(())
            }
            Body::Gzip { encoder, pending } => {
                pending.extend_from_slice(record);
                pending.push(b'\n');
                if pending.len() >= COMPRESS_BLOCK {
                    encoder.write_all(pending)?;
                    pending.clear();
                }
                Ok(())
            }
            Body::Snappy {
                encoder,
                scratch,
                pending,
                stored,
            } => {
                pending.extend_from_slice(record);
                pending.push(b'\n');
                if pending.len() >= hadoop_snappy::BLOCK {
                    hadoop_snappy::compress_into(encoder, scratch, &pending[..hadoop_snappy::BLOCK], stored)?;
                    pending.drain(..hadoop_snappy::BLOCK);
                }
                Ok(())
            }
        }
    }

    /// Bytes held in memory so far.
    fn held(&self) -> usize {
        match self {
            Body::Plain(bytes) => bytes.len(),
            Body::Gzip { encoder, pending } => encoder.get_ref().len() + pending.len(),
            Body::Snappy { pending, stored, .. } => stored.len() + pending.len(),
        }
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Body::Plain(bytes) => Ok(bytes),
            Body::Gzip { mut encoder, pending } => {
                use std::io::Write;
                encoder.write_all(&pending)?;
                encoder.finish()
            }
            Body::Snappy {
                mut encoder,
                mut scratch,
                pending,
                mut stored,
            } => {
                hadoop_snappy::compress_into(&mut encoder, &mut scratch, &pending, &mut stored)?;
                Ok(stored)
            }
        }
    }
}

struct OpenSegment {
    first: u64,
    last: u64,
    body: Body,
    /// Record bytes appended (before compression): segments close on this, so a segment's
    /// records take the same memory to replay whatever the compression.
    raw_bytes: usize,
    held: usize,
    opened: Instant,
}

/// One worker's open segments, one per partition it owns.
pub struct SegmentBuilder {
    topic: String,
    compression: Compression,
    max_bytes: usize,
    max_age: Duration,
    open: BTreeMap<u32, OpenSegment>,
    open_bytes: usize,
}

impl SegmentBuilder {
    /// A builder of `topic`'s segments, closing each at `max_bytes` of records or `max_age`.
    pub fn new(topic: &str, compression: Compression, max_bytes: usize, max_age: Duration) -> SegmentBuilder {
        SegmentBuilder {
            topic: topic.to_string(),
            compression,
            max_bytes,
            max_age,
            open: BTreeMap::new(),
            open_bytes: 0,
        }
    }

    /// Bytes held by open segments (not yet handed to the writer).
    pub fn open_bytes(&self) -> usize {
        self.open_bytes
    }

    /// Appends a record (no line breaks in it); returns the segment if this filled it.
    pub fn append(&mut self, partition: u32, offset: u64, record: &[u8]) -> Result<Option<Segment>, ArchiveError> {
        let compression = self.compression;
        let segment = self.open.entry(partition).or_insert_with(|| OpenSegment {
            first: offset,
            last: offset,
            body: Body::new(compression),
            raw_bytes: 0,
            held: 0,
            opened: Instant::now(),
        });
        segment.last = offset;
        segment.body.append(record).map_err(|cause| ArchiveError::Segment {
            doing: "add a record to",
            cause,
        })?;
        segment.raw_bytes += record.len() + 1;
        let held = segment.body.held();
        self.open_bytes = self.open_bytes + held - segment.held;
        segment.held = held;
        if segment.raw_bytes >= self.max_bytes {
            return self.close(partition);
        }
        Ok(None)
    }

    fn close(&mut self, partition: u32) -> Result<Option<Segment>, ArchiveError> {
        let Some(open) = self.open.remove(&partition) else {
            return Ok(None);
        };
        self.open_bytes -= open.held;
        let bytes = open
            .body
            .finish()
            .map_err(|cause| ArchiveError::Segment { doing: "finish", cause })?;
        Ok(Some(Segment {
            topic: self.topic.clone(),
            partition,
            first: open.first,
            last: open.last,
            compression: self.compression,
            bytes: bytes.into(),
        }))
    }

    fn close_all(&mut self, partitions: Vec<u32>) -> Result<Vec<Segment>, ArchiveError> {
        let mut closed = Vec::new();
        for partition in partitions {
            closed.extend(self.close(partition)?);
        }
        Ok(closed)
    }

    /// Segments open longer than the age limit.
    pub fn due(&mut self) -> Result<Vec<Segment>, ArchiveError> {
        let old: Vec<u32> = self
            .open
            .iter()
            .filter(|(_, s)| s.opened.elapsed() >= self.max_age)
            .map(|(p, _)| *p)
            .collect();
        self.close_all(old)
    }

    /// The open segment holding the most bytes, closed early.
    pub fn close_largest(&mut self) -> Result<Option<Segment>, ArchiveError> {
        match self.open.iter().max_by_key(|(_, s)| s.held).map(|(p, _)| *p) {
            Some(partition) => self.close(partition),
            None => Ok(None),
        }
    }

    /// Every open segment (at a checkpoint boundary).
    pub fn seal(&mut self) -> Result<Vec<Segment>, ArchiveError> {
        let all: Vec<u32> = self.open.keys().copied().collect();
        self.close_all(all)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn segments_close_on_size_and_seal_at_boundaries() {
        let mut builder = SegmentBuilder::new("t", Compression::None, 10, Duration::from_secs(3600));
        assert!(builder.append(3, 7, b"abcd").unwrap().is_none());
        let full = builder
            .append(3, 8, b"efgh")
            .unwrap()
            .expect("10 bytes close the segment");
        assert_eq!((full.partition, full.first, full.last), (3, 7, 8));
        assert_eq!(&full.bytes[..], b"abcd\nefgh\n");
        assert_eq!(
            full.path(),
            "raw/t/00003/00000000000000000007-00000000000000000008.ndjson"
        );
        assert_eq!(parse_segment_path(&full.path()), Some((3, 7, 8)));
        builder.append(1, 0, b"x").unwrap();
        builder.append(3, 9, b"y").unwrap();
        let sealed = builder.seal().unwrap();
        assert_eq!(
            sealed
                .iter()
                .map(|s| (s.partition, s.first, s.last))
                .collect::<Vec<_>>(),
            vec![(1, 0, 0), (3, 9, 9)]
        );
        assert!(builder.seal().unwrap().is_empty());
        assert_eq!(parse_segment_path("raw/t/x/1-2.ndjson"), None);
        assert_eq!(parse_segment_path("raw/t/00002/1-2.ndjson.gz"), Some((2, 1, 2)));
        assert_eq!(parse_segment_path("raw/t/00002/1-2.ndjson.zst"), None);
    }

    #[test]
    fn compressed_segments_hold_exactly_the_records_and_close_on_record_bytes() {
        // Records past one compression block, so both the block and the final flush are used.
        let records: Vec<Vec<u8>> = (0..20_000u32)
            .map(|i| format!("{{\"id\":{i},\"state\":\"Ohio\"}}").into_bytes())
            .collect();
        let raw: usize = records.iter().map(|r| r.len() + 1).sum();
        for (compression, extension) in [(Compression::Gzip, "gz"), (Compression::Snappy, "snappy")] {
            let mut builder = SegmentBuilder::new("t", compression, raw, Duration::from_secs(3600));
            let mut closed = None;
            for (offset, record) in records.iter().enumerate() {
                assert!(closed.is_none(), "closed early at {offset}");
                closed = builder.append(0, 100 + offset as u64, record).unwrap();
                assert!(builder.open_bytes() < raw / 2 || closed.is_some(), "held compressed");
            }
            let segment = closed.expect("closes once the record bytes reach the limit");
            assert_eq!((segment.first, segment.last), (100, 100 + records.len() as u64 - 1));
            let path = segment.path();
            assert_eq!(
                path,
                format!("raw/t/00000/00000000000000000100-00000000000000020099.ndjson.{extension}")
            );
            assert_eq!(Compression::of_path(&path), compression);
            assert_eq!(parse_segment_path(&path), Some((0, 100, 20_099)));
            assert!(segment.bytes.len() < raw / 3, "{} of {raw}", segment.bytes.len());
            let mut expected = records.join(&b'\n');
            expected.push(b'\n');
            let mut stored = Vec::new();
            compression
                .decoder(&segment.bytes[..])
                .read_to_end(&mut stored)
                .unwrap();
            assert_eq!(stored, expected, "{compression:?}");
            assert_eq!(builder.open_bytes(), 0);
        }
    }

    #[test]
    fn the_largest_open_segment_closes_first() {
        let mut builder = SegmentBuilder::new("t", Compression::None, 1 << 20, Duration::from_secs(3600));
        builder.append(0, 0, b"a").unwrap();
        builder.append(1, 0, b"bbbb").unwrap();
        builder.append(2, 0, b"cc").unwrap();
        assert_eq!(builder.open_bytes(), 2 + 5 + 3);
        let largest = builder.close_largest().unwrap().expect("open segments");
        assert_eq!((largest.partition, &largest.bytes[..]), (1, &b"bbbb\n"[..]));
        assert_eq!(builder.open_bytes(), 5);
        builder.seal().unwrap();
        assert!(builder.close_largest().unwrap().is_none());
    }

    #[test]
    fn compression_is_chosen_by_name_and_zstd_is_refused_with_the_reason() {
        assert_eq!("gzip".parse::<Compression>().ok(), Some(Compression::Gzip));
        assert_eq!("none".parse::<Compression>().ok(), Some(Compression::None));
        assert_eq!("snappy".parse::<Compression>().ok(), Some(Compression::Snappy));
        assert!("zstd"
            .parse::<Compression>()
            .unwrap_err()
            .to_string()
            .contains("libhadoop"));
        assert!("lz4".parse::<Compression>().is_err());
        assert_eq!(Compression::of_path("raw/t/00000/1-2.ndjson.gz"), Compression::Gzip);
        assert_eq!(Compression::of_path("raw/t/00000/1-2.ndjson"), Compression::None);
    }
}
