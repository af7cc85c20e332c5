//! Where the sources are, beside the counts: the offsets read, what the archive holds durably,
//! which workers still replay, and records known lost. The graph carries these with the counts
//! (on a stream of their own, not as counts) so that worker 0 sees, at every completed epoch,
//! exactly the positions those counts reflect: what a snapshot must store.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One change in a source's progress, as a worker reports it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Progress {
    /// The next offset to read in a stream (a Kafka partition).
    Offset(u32, u64),
    /// Every record of a stream before this offset is durable in the archive.
    Durable(u32, u64),
    /// A worker still replaying stored records: no checkpoint may be taken while any is.
    Replaying(u32),
    /// Records a source knows it will never read (Kafka's retention deleted them first); the
    /// update's multiplicity is the number of records.
    Lost,
}

/// Every source's progress at one point.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceProgress {
    /// Stream → next offset, for sources that report offsets.
    pub offsets: BTreeMap<u32, u64>,
    /// Workers still replaying stored records.
    pub replaying: BTreeSet<u32>,
    /// Stream → offset before which every record is archived, for sources that archive.
    pub durable: BTreeMap<u32, u64>,
    /// Records lost before they were read.
    pub lost: u64,
}

impl SourceProgress {
    /// Applies a change of multiplicity `delta` to `progress`.
    pub fn apply(&mut self, progress: &Progress, delta: i64) {
        match progress {
            Progress::Offset(stream, offset) => set_offset(&mut self.offsets, *stream, *offset, delta),
            Progress::Durable(stream, offset) => set_offset(&mut self.durable, *stream, *offset, delta),
            Progress::Replaying(worker) => {
                if delta > 0 {
                    self.replaying.insert(*worker);
                } else {
                    self.replaying.remove(worker);
                }
            }
            Progress::Lost => self.lost = self.lost.saturating_add_signed(delta),
        }
    }

    /// True when the archive holds every record before `offsets` (stream → next offset).
    pub fn durable_through(&self, offsets: &BTreeMap<u32, u64>) -> bool {
        offsets
            .iter()
            .all(|(stream, offset)| self.durable.get(stream).is_some_and(|durable| durable >= offset))
    }
}

/// One offset per stream, replaced by an update and its retraction. Within an epoch the new
/// offset may arrive before the old one's retraction.
fn set_offset(offsets: &mut BTreeMap<u32, u64>, stream: u32, offset: u64, delta: i64) {
    if delta > 0 {
        offsets.insert(stream, offset);
    } else if offsets.get(&stream) == Some(&offset) {
        offsets.remove(&stream);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_is_replaced_whichever_order_its_update_and_retraction_come_in() {
        let mut progress = SourceProgress::default();
        progress.apply(&Progress::Offset(0, 10), 1);
        progress.apply(&Progress::Offset(0, 20), 1);
        progress.apply(&Progress::Offset(0, 10), -1);
        assert_eq!(progress.offsets[&0], 20);
        progress.apply(&Progress::Lost, 7);
        progress.apply(&Progress::Durable(0, 20), 1);
        assert_eq!(progress.lost, 7);
        assert!(progress.durable_through(&BTreeMap::from([(0, 20)])));
        assert!(!progress.durable_through(&BTreeMap::from([(0, 21)])));
    }
}
