//! Snappy as Hadoop frames it (`SnappyCodec`, files named `.snappy`), so `hdfs dfs -text` reads
//! the archive with the jars Hadoop ships (snappy-java; no native libhadoop), as does Spark
//! through the same codec.
//!
//! Hadoop's block stream: for each block of at most [`BLOCK`] raw bytes, its raw length as a
//! big-endian u32, then its compressed chunk as a big-endian u32 length and raw snappy bytes
//! (no snappy framing format). Hadoop's decompressor holds a block and a chunk in 256 KiB
//! buffers, so a block's raw bytes and their worst-case compressed size must both fit in that.
//!
//! Why snappy: on the archive's records it takes about 40% less CPU than deflate's fastest
//! level for 10% more bytes (BENCHMARKS.md, "What the archive costs, again"), and on two cores
//! shared with the graph and a DataNode, CPU is what the archive costs.

use std::io::{self, Read};

/// Raw bytes per block: with snappy's worst case (`32 + n + n/6`) it stays within the 256 KiB
/// buffers of Hadoop's `SnappyDecompressor`.
pub const BLOCK: usize = 192 << 10;

/// A block's raw length this reader refuses (a damaged file must not allocate without bound).
const MAX_BLOCK: usize = 64 << 20;

/// Appends `raw` to `out` as Hadoop blocks of at most [`BLOCK`] bytes, each compressed in
/// `scratch` first: sized for snappy's worst case once, instead of zero-filling that much of
/// `out` for every block.
pub fn compress_into(
    encoder: &mut snap::raw::Encoder,
    scratch: &mut Vec<u8>,
    raw: &[u8],
    out: &mut Vec<u8>,
) -> io::Result<()> {
    for block in raw.chunks(BLOCK) {
        let worst = snap::raw::max_compress_len(block.len());
        if scratch.len() < worst {
            scratch.resize(worst, 0);
        }
        let written = encoder.compress(block, scratch).map_err(io::Error::other)?;
        out.extend_from_slice(&(block.len() as u32).to_be_bytes());
        out.extend_from_slice(&(written as u32).to_be_bytes());
        out.extend_from_slice(&scratch[..written]);
    }
    Ok(())
}

/// Reads a Hadoop snappy stream as the raw bytes it holds.
pub struct SnappyReader<R> {
    inner: R,
    decoder: snap::raw::Decoder,
    chunk: Vec<u8>,
    block: Vec<u8>,
    /// How much of `block` has been read out.
    at: usize,
}

impl<R: Read> SnappyReader<R> {
    /// A reader of the stream `inner`.
    pub fn new(inner: R) -> SnappyReader<R> {
        SnappyReader {
            inner,
            decoder: snap::raw::Decoder::new(),
            chunk: Vec::new(),
            block: Vec::new(),
            at: 0,
        }
    }

    /// The next big-endian u32, or `None` at a clean end of the stream.
    fn read_length(&mut self, at_boundary: bool) -> io::Result<Option<usize>> {
        let mut bytes = [0u8; 4];
        let mut filled = 0;
        while filled < 4 {
            match self.inner.read(&mut bytes[filled..]) {
                Ok(0) if filled == 0 && at_boundary => return Ok(None),
                Ok(0) => return Err(damaged("the stream ends inside a length")),
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Some(u32::from_be_bytes(bytes) as usize))
    }

    /// Decompresses the next block into `block`; false at the end of the stream.
    fn next_block(&mut self) -> io::Result<bool> {
        let Some(raw) = self.read_length(true)? else {
            return Ok(false);
        };
        if raw > MAX_BLOCK {
            return Err(damaged("a block claims more than 64 MiB"));
        }
        self.block.clear();
        self.at = 0;
        while self.block.len() < raw {
            let compressed = self.read_length(false)?.unwrap_or(0);
            if compressed > snap::raw::max_compress_len(MAX_BLOCK) {
                return Err(damaged("a chunk claims more than a block can compress to"));
            }
            self.chunk.resize(compressed, 0);
            self.inner.read_exact(&mut self.chunk)?;
            let invalid = |e| io::Error::new(io::ErrorKind::InvalidData, e);
            let length = snap::raw::decompress_len(&self.chunk).map_err(invalid)?;
            let start = self.block.len();
            if length == 0 {
                return Err(damaged("an empty chunk inside a block"));
            }
            if start + length > raw {
                return Err(damaged("a block's chunks hold more than its length"));
            }
            self.block.resize(start + length, 0);
            self.decoder
                .decompress(&self.chunk, &mut self.block[start..])
                .map_err(invalid)?;
        }
        Ok(true)
    }
}

fn damaged(what: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("not a Hadoop snappy stream: {what}"),
    )
}

impl<R: Read> Read for SnappyReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.at == self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.block.len() - self.at);
        buf[..n].copy_from_slice(&self.block[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress(raw: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        compress_into(&mut snap::raw::Encoder::new(), &mut Vec::new(), raw, &mut out).unwrap();
        out
    }

    fn decompress(stored: &[u8]) -> io::Result<Vec<u8>> {
        let mut raw = Vec::new();
        SnappyReader::new(stored).read_to_end(&mut raw)?;
        Ok(raw)
    }

    #[test]
    fn round_trips_across_blocks_and_concatenated_streams() {
        let records: Vec<u8> = (0..20_000u32)
            .flat_map(|i| format!("{{\"id\":{},\"state\":\"Ohio\"}}\n", i * 7919).into_bytes())
            .collect();
        assert!(records.len() > 2 * BLOCK, "spans several blocks");
        let stored = compress(&records);
        assert!(stored.len() < records.len() / 2, "compresses");
        // The first block's header: its raw length, then its chunk's.
        assert_eq!(u32::from_be_bytes(stored[..4].try_into().unwrap()) as usize, BLOCK);
        assert_eq!(decompress(&stored).unwrap(), records);
        // Two streams one after the other read as one (as blocks appended later would).
        let twice = [stored.clone(), compress(b"tail\n")].concat();
        assert_eq!(decompress(&twice).unwrap(), [&records[..], b"tail\n"].concat());
        assert_eq!(decompress(&[]).unwrap(), b"");
    }

    #[test]
    fn damage_is_an_error_not_a_panic() {
        let stored = compress(b"{\"id\":1}\n{\"id\":2}\n");
        for cut in 1..stored.len() {
            assert!(decompress(&stored[..cut]).is_err(), "cut at {cut}");
        }
        let mut huge = stored.clone();
        huge[..4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decompress(&huge).is_err());
        let mut wrong = stored.clone();
        wrong[..4].copy_from_slice(&3u32.to_be_bytes());
        assert!(decompress(&wrong).is_err(), "a chunk longer than its block");
        let mut garbage = stored;
        let last = garbage.len() - 1;
        garbage[8..last].fill(0xff);
        assert!(decompress(&garbage).is_err());
    }
}
