//! Durable state for a Kafka-fed job: the storage, the archive writer, and the recovery plan
//! (the latest snapshot's offsets and the archived segments to replay before resuming there).

use anyhow::{anyhow, bail, Context, Result};
use std::collections::BTreeMap;
use std::sync::Arc;
use tally_connectors::archive::{self, ArchiveWriter};
use tally_connectors::storage::Storage;
use tally_connectors::stored::{Positions, StoredFile};

pub struct Durable {
    pub storage: Arc<Storage>,
    /// Runs every storage call (the writer's and the replay's).
    pub runtime: tokio::runtime::Runtime,
    pub writer: Arc<ArchiveWriter>,
    /// Partition → next offset, from the latest snapshot (empty on a fresh start).
    pub resume: BTreeMap<u32, u64>,
    /// Archived segments up to `resume`, with their partitions, in (partition, offset) order.
    pub replay: Vec<(u32, StoredFile)>,
}

impl Durable {
    /// Opens `url` and plans recovery for `topic`. Only one process (`discard`) removes the
    /// segments beyond the snapshot; in a cluster every process plans before any worker starts
    /// (the workers start only once all processes have connected), so none reads what another
    /// is about to remove or writes what another removes.
    pub fn prepare(url: &str, topic: &str, keep_snapshots: usize, buffer_bytes: u64, discard: bool) -> Result<Durable> {
        let storage = Arc::new(Storage::open(url).map_err(|e| anyhow!(e))?);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("tally-storage")
            .enable_all()
            .build()
            .context("cannot start the storage runtime")?;
        let snapshot = runtime
            .block_on(archive::latest_snapshot(&storage))
            .map_err(|e| anyhow!(e))?;
        let resume = match &snapshot {
            Some(snapshot) if snapshot.topic != topic => {
                bail!(
                    "{url} holds snapshots of topic {:?}, not {topic:?}; use another --storage",
                    snapshot.topic
                )
            }
            Some(snapshot) => snapshot.offsets.clone(),
            None => BTreeMap::new(),
        };
        let discarded = match discard {
            true => runtime
                .block_on(archive::discard_beyond(&storage, topic, &resume))
                .map_err(|e| anyhow!(e))?,
            false => 0,
        };
        let segments = runtime
            .block_on(archive::segments(&storage, topic))
            .map_err(|e| anyhow!(e))?;
        // Only what the snapshot covers: segments beyond it may still be listed here while
        // another process discards them.
        let replay: Vec<(u32, StoredFile)> = segments
            .into_iter()
            .filter(|(partition, first, _, _)| *first < resume.get(partition).copied().unwrap_or(0))
            .map(|(partition, first, _, path)| {
                (
                    partition,
                    StoredFile {
                        path,
                        positions: Positions::Archive { partition, first },
                    },
                )
            })
            .collect();
        match &snapshot {
            Some(snapshot) => tracing::info!(
                epoch = snapshot.epoch,
                segments = replay.len(),
                discarded,
                "recovering from the snapshot in {url}: replaying the archive, then resuming Kafka at {:?}",
                snapshot.offsets
            ),
            None => tracing::info!(discarded, "no snapshot in {url}: starting fresh"),
        }
        let writer = ArchiveWriter::start(storage.clone(), runtime.handle().clone(), keep_snapshots, buffer_bytes);
        Ok(Durable {
            storage,
            runtime,
            writer,
            resume,
            replay,
        })
    }

    /// The segments worker `index` of `peers` replays: those of the partitions it owns.
    pub fn replay_for(&self, index: usize, peers: usize) -> Vec<StoredFile> {
        self.replay
            .iter()
            .filter(|(p, _)| *p as usize % peers == index)
            .map(|(_, f)| f.clone())
            .collect()
    }
}
