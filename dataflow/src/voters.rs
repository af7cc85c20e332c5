//! One worker's voters: each voter's first ballot so far, in 16 bytes.
//!
//! A whole national election is about 158 M voters, so this table is tally's memory budget. A
//! general hash map of `voter → (Position, VoteKey)` costs 40 bytes an entry before its load
//! factor and doubles all at once when it grows; this table costs 16 bytes a slot and grows in
//! small steps, about 21 bytes a voter all the time:
//!
//! - **A slot is the voter id and one packed word**: the number of the voter's vote key (cube
//!   cell and county, numbered per worker by [`crate::keys::VoteKeys`]: a few thousand, about
//!   114,000 with counties; 18 bits), and the full source position of the ballot, the stream in
//!   10 bits and the offset in 36. The position is what decides "first" for a later
//!   ballot, so it is kept whole; nothing else is kept (a displaced record's bytes are in Kafka
//!   and the archive, and the source fetches them when it needs them).
//! - **Anything that does not fit is exact too**: a voter whose cell index, stream or offset is
//!   too large for its field lives in a small side map instead, so a hostile number of
//!   candidates or streams costs memory, never correctness.
//! - **Growth without a doubling spike**: the table is 256 open-addressing shards (linear
//!   probing, any size, not powers of two), each grown by a quarter when it is 85% full. The
//!   shards start at sizes spread over one growth step, so they grow at different moments:
//!   total memory rises smoothly, and a growth step copies one shard (a 256th of the table).
//!
//! - **Large shard arrays are mapped, not allocated**: from 256 KiB on, each is its own
//!   anonymous memory map, zeroed by the kernel as it is touched and returned whole when the
//!   shard grows. From the heap, the freed multi-MB arrays fragment the allocator's arenas: a
//!   third more memory at 158 M voters. Small arrays stay on the heap: mapping and unmapping
//!   thousands a second stalled the other workers and cost 40% of 2-worker throughput.
//!
//! Hashing is seeded per table, so ids chosen to collide cannot be prepared in advance.

use hashbrown::HashMap;
use tally_model::Position;
use tally_model::VoterId;

/// How a ballot changed its voter's entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// The voter's first ballot so far: it counts.
    First,
    /// The ballot precedes the one that counted, which it replaces: the vote moves from `key`,
    /// and the record at `position` is now a duplicate.
    Displaced {
        /// Where the ballot that had counted was read.
        position: Position,
        /// The number of the vote key it had counted under.
        key: u32,
    },
    /// The voter already voted with an earlier ballot: this one is a duplicate.
    Later,
}

/// One slot: `packed == 0` is empty.
#[derive(Clone, Copy, Default)]
#[repr(C)]
struct Slot {
    voter: VoterId,
    packed: u64,
}

const SHARD_BITS: u32 = 8;
const SHARDS: usize = 1 << SHARD_BITS;
const OFFSET_BITS: u32 = 36;
const STREAM_BITS: u32 = 10;
const KEY_BITS: u32 = 64 - OFFSET_BITS - STREAM_BITS;
/// The key field holds the key's number plus one (0 marks an empty slot); all ones marks a
/// voter kept in the side map.
const KEY_FIELD_OVERFLOW: u64 = (1 << KEY_BITS) - 1;
const OVERFLOW: u64 = KEY_FIELD_OVERFLOW << (OFFSET_BITS + STREAM_BITS);
/// A shard grows when more than this share of its slots is full...
const MAX_LOAD: (usize, usize) = (85, 100);
/// ...by this factor.
const GROWTH: (usize, usize) = (5, 4);
/// The first shard's starting size; the others start up to one growth step larger.
const FIRST_SHARD_SLOTS: usize = 64;

/// A zeroed array of slots: on the heap while small, in its own anonymous memory map once it is
/// at least [`MAPPED_BYTES`].
enum Slots {
    Heap(Vec<Slot>),
    Mapped { map: memmap2::MmapMut, len: usize },
}

/// Shard arrays this large are mapped. Mapping small ones would cost more than it saves: every
/// unmap stalls the process's other threads (the other workers), and small arrays freed on
/// the heap are reused by other shards' growth. Large ones are what fragment the heap.
const MAPPED_BYTES: usize = 256 << 10;

impl Slots {
    fn zeroed(len: usize) -> Slots {
        let bytes = len.max(1) * std::mem::size_of::<Slot>();
        if bytes < MAPPED_BYTES {
            return Slots::Heap(vec![Slot::default(); len]);
        }
        // Populated (written-to pages from the start): a probe that reads an untouched page
        // would map the shared zero page, and the write that follows would fault again and
        // flush the other workers' TLBs. Every page gets entries anyway at the loads kept.
        match memmap2::MmapOptions::new().len(bytes).populate().map_anon() {
            Ok(map) => Slots::Mapped { map, len },
            // As a Vec would: out of memory (or of maps) ends the process with this message.
            Err(_) => std::alloc::handle_alloc_error(
                std::alloc::Layout::array::<Slot>(len).unwrap_or(std::alloc::Layout::new::<Slot>()),
            ),
        }
    }
    fn len(&self) -> usize {
        match self {
            Slots::Heap(slots) => slots.len(),
            Slots::Mapped { len, .. } => *len,
        }
    }
    fn as_slice(&self) -> &[Slot] {
        match self {
            Slots::Heap(slots) => slots,
            // SAFETY: the map is page-aligned (more than `Slot`'s alignment), at least `len`
            // slots long, lives as long as `self`, and any bytes (zeros included) are a valid
            // `Slot`.
            Slots::Mapped { map, len } => unsafe { std::slice::from_raw_parts(map.as_ptr().cast::<Slot>(), *len) },
        }
    }
    fn as_mut_slice(&mut self) -> &mut [Slot] {
        match self {
            Slots::Heap(slots) => slots,
            // SAFETY: as in `as_slice`, and `&mut self` makes the borrow unique.
            Slots::Mapped { map, len } => unsafe {
                std::slice::from_raw_parts_mut(map.as_mut_ptr().cast::<Slot>(), *len)
            },
        }
    }
}

/// Every voter one worker owns, with their first ballot so far.
pub struct VoterTable {
    seed: u64,
    shards: Vec<Slots>,
    /// Occupied slots per shard.
    lens: Vec<usize>,
    /// Voters whose entry does not pack into a slot.
    overflow: HashMap<VoterId, (Position, u32)>,
}

impl Default for VoterTable {
    fn default() -> Self {
        VoterTable::with_seed(std::hash::BuildHasher::hash_one(
            &std::collections::hash_map::RandomState::new(),
            0u64,
        ))
    }
}

/// A bijective 64-bit mix (the splitmix64 finaliser): every bit of the id moves the shard and
/// the slot.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The home slot of hash `hash` in a shard of `len` slots (Lemire's multiply-shift range map).
fn home(hash: u64, len: usize) -> usize {
    (((hash & 0xffff_ffff) * len as u64) >> 32) as usize
}

impl VoterTable {
    /// A table whose hashing is seeded with `seed`.
    pub fn with_seed(seed: u64) -> VoterTable {
        let step = FIRST_SHARD_SLOTS * (GROWTH.0 - GROWTH.1) / GROWTH.1;
        let shards = (0..SHARDS)
            .map(|i| Slots::zeroed(FIRST_SHARD_SLOTS + step * i / SHARDS))
            .collect();
        VoterTable {
            seed,
            shards,
            lens: vec![0; SHARDS],
            overflow: HashMap::new(),
        }
    }

    /// Voters in the table.
    pub fn len(&self) -> usize {
        // A voter in the side map has a slot too, marked as such.
        self.lens.iter().sum::<usize>()
    }

    /// True when no voter is in the table.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes held by the slots (the bulk of the table's memory).
    pub fn slot_bytes(&self) -> usize {
        self.shards.iter().map(Slots::len).sum::<usize>() * std::mem::size_of::<Slot>()
    }

    /// Records a valid ballot of `voter` at `position` for the vote key numbered `key` (see
    /// [`crate::keys::VoteKeys`]): "first" is least position.
    pub fn apply(&mut self, voter: VoterId, position: Position, key: u32) -> Applied {
        let hash = mix(voter ^ self.seed);
        let shard = (hash >> (64 - SHARD_BITS)) as usize;
        if self.lens[shard] * MAX_LOAD.1 >= self.shards[shard].len() * MAX_LOAD.0 {
            self.grow(shard);
        }
        let slots = self.shards[shard].as_slice();
        let mut i = home(hash, slots.len());
        loop {
            let slot = slots[i];
            if slot.packed == 0 {
                let packed = self.pack(voter, position, key);
                self.shards[shard].as_mut_slice()[i] = Slot { voter, packed };
                self.lens[shard] += 1;
                return Applied::First;
            }
            if slot.voter == voter {
                let (held_position, held_key) = self.unpack(voter, slot.packed);
                if position >= held_position {
                    return Applied::Later;
                }
                if slot.packed == OVERFLOW {
                    self.overflow.remove(&voter);
                }
                let packed = self.pack(voter, position, key);
                self.shards[shard].as_mut_slice()[i].packed = packed;
                return Applied::Displaced {
                    position: held_position,
                    key: held_key,
                };
            }
            i += 1;
            if i == slots.len() {
                i = 0;
            }
        }
    }

    /// Asks the CPU to fetch `voter`'s home slot into cache, so that an `apply` for it a few
    /// ballots later does not wait on memory: at a whole election the table is gigabytes and
    /// nearly every lookup misses the cache.
    pub fn prefetch(&self, voter: VoterId) {
        let hash = mix(voter ^ self.seed);
        let slots = self.shards[(hash >> (64 - SHARD_BITS)) as usize].as_slice();
        if slots.is_empty() {
            return;
        }
        let slot: *const Slot = &slots[home(hash, slots.len())];
        #[cfg(target_arch = "x86_64")]
        // SAFETY: a prefetch is only a hint; it reads nothing and never faults, and `slot`
        // points into the shard anyway.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(slot.cast::<i8>());
        }
        #[cfg(not(target_arch = "x86_64"))]
        let _ = slot;
    }

    /// The packed word for an entry, or [`OVERFLOW`] after putting it in the side map.
    fn pack(&mut self, voter: VoterId, position: Position, key: u32) -> u64 {
        let field = u64::from(key) + 1;
        let fits = field < KEY_FIELD_OVERFLOW
            && u64::from(position.stream) < 1 << STREAM_BITS
            && position.offset < 1 << OFFSET_BITS;
        if !fits {
            self.overflow.insert(voter, (position, key));
            return OVERFLOW;
        }
        (field << (OFFSET_BITS + STREAM_BITS)) | (u64::from(position.stream) << OFFSET_BITS) | position.offset
    }

    fn unpack(&self, voter: VoterId, packed: u64) -> (Position, u32) {
        if packed == OVERFLOW {
            return self.overflow[&voter];
        }
        let key = (packed >> (OFFSET_BITS + STREAM_BITS)) - 1;
        let stream = ((packed >> OFFSET_BITS) & ((1 << STREAM_BITS) - 1)) as u32;
        let offset = packed & ((1 << OFFSET_BITS) - 1);
        (Position::new(stream, offset), key as u32)
    }

    /// Moves shard `shard` into a quarter more slots.
    fn grow(&mut self, shard: usize) {
        let old = &self.shards[shard];
        let size = (old.len() * GROWTH.0 / GROWTH.1).max(old.len() + 1);
        let mut grown = Slots::zeroed(size);
        let slots = grown.as_mut_slice();
        for slot in old.as_slice().iter().filter(|slot| slot.packed != 0) {
            let mut i = home(mix(slot.voter ^ self.seed), size);
            while slots[i].packed != 0 {
                i += 1;
                if i == size {
                    i = 0;
                }
            }
            slots[i] = *slot;
        }
        self.shards[shard] = grown;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A vote key's number, as `VoteKeys` would give it.
    fn cube(number: u64) -> u32 {
        number as u32
    }

    #[test]
    fn the_least_position_counts_and_moves_the_vote() {
        let mut table = VoterTable::with_seed(7);
        assert_eq!(table.apply(1, Position::new(3, 50), cube(1)), Applied::First);
        assert_eq!(table.apply(1, Position::new(3, 60), cube(2)), Applied::Later);
        assert_eq!(
            table.apply(1, Position::new(0, 900), cube(3)),
            Applied::Displaced {
                position: Position::new(3, 50),
                key: cube(1)
            }
        );
        assert_eq!(table.apply(1, Position::new(3, 50), cube(1)), Applied::Later);
        assert_eq!(table.len(), 1);
    }

    #[test]
    fn entries_too_large_to_pack_are_kept_exactly() {
        let mut table = VoterTable::with_seed(1);
        let huge = Position::new(u32::MAX, u64::MAX - 1);
        let wide = Position::new(1 << STREAM_BITS, 5);
        assert_eq!(table.apply(10, huge, cube(1)), Applied::First);
        assert_eq!(table.apply(11, wide, cube(2)), Applied::First);
        assert_eq!(
            table.apply(10, Position::new(2, 2), cube(3)),
            Applied::Displaced {
                position: huge,
                key: cube(1)
            }
        );
        // Now packed: a later ballot is measured against the packed position.
        assert_eq!(table.apply(10, Position::new(2, 3), cube(4)), Applied::Later);
        assert_eq!(
            table.apply(11, Position::new(1 << STREAM_BITS, 6), cube(4)),
            Applied::Later
        );
        assert_eq!(table.overflow.len(), 1);
        assert_eq!(table.len(), 2);
    }

    #[test]
    fn more_cells_than_the_field_holds_overflow_exactly() {
        let mut table = VoterTable::with_seed(3);
        let cells = KEY_FIELD_OVERFLOW + 10;
        for voter in 0..cells {
            assert_eq!(table.apply(voter, Position::new(0, voter), cube(voter)), Applied::First);
        }
        for voter in 0..cells {
            let earlier = table.apply(voter, Position::new(0, 0), cube(0));
            let expected = if voter == 0 {
                Applied::Later
            } else {
                Applied::Displaced {
                    position: Position::new(0, voter),
                    key: cube(voter),
                }
            };
            assert_eq!(earlier, expected, "voter {voter}");
        }
        assert_eq!(table.len() as u64, cells);
    }

    #[test]
    fn agrees_with_a_map_through_growth_and_stays_compact() {
        let mut table = VoterTable::with_seed(42);
        let mut model: BTreeMap<u64, (Position, u32)> = BTreeMap::new();
        let mut state = 12345u64;
        for n in 0..400_000u64 {
            state = mix(state.wrapping_add(n));
            let voter = state % 300_000;
            let position = Position::new((state >> 20) as u32 % 4, (state >> 40) % 1000);
            let cell = cube(state % 7);
            let expected = match model.get(&voter).copied() {
                None => {
                    model.insert(voter, (position, cell));
                    Applied::First
                }
                Some((held, _)) if position >= held => Applied::Later,
                Some((held, held_cube)) => {
                    model.insert(voter, (position, cell));
                    Applied::Displaced {
                        position: held,
                        key: held_cube,
                    }
                }
            };
            assert_eq!(table.apply(voter, position, cell), expected);
        }
        assert_eq!(table.len(), model.len());
        let per_voter = table.slot_bytes() as f64 / table.len() as f64;
        assert!(per_voter < 24.0, "{per_voter:.1} bytes of slots per voter");
    }
}
