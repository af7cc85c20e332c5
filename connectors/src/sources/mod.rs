//! Sources: where records come from. Each is a `tally_source::Source`; a [`SourceConfig`]
//! says which one a job reads, and [`SourceConfig::build`] makes each worker's share of it.

pub mod archive;
pub mod files;
pub mod generator;
pub mod kafka;

use crate::kafka::metrics::KafkaMetrics;
use crate::kafka::KafkaError;
use crate::storage::Storage;
use archive::{ArchiveThenLive, StoredFile, StoredFileSource};
use files::{FileSource, FilesError, Split};
use generator::{GeneratorSource, VoterGenerator};
use kafka::{KafkaSource, KafkaSourceConfig};
use std::path::Path;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use tally_source::Source;

/// What a job reads. Every worker builds its own share from it.
pub enum SourceConfig {
    /// A Kafka topic's partitions, spread over the workers; after a restart each worker first
    /// replays its partitions' archived segments (`recovery`).
    Kafka {
        /// What to read and how.
        config: Arc<KafkaSourceConfig>,
        /// Where the sources report offsets, lag and reachability.
        metrics: Arc<KafkaMetrics>,
        /// The archive to replay first, after a restart.
        recovery: Option<ReplayPlan>,
    },
    /// Files in storage (HDFS or a local directory), dealt round-robin; `progress` counts
    /// stored bytes read.
    Stored {
        /// Where the files are.
        storage: Arc<Storage>,
        /// The runtime storage calls run on.
        runtime: tokio::runtime::Handle,
        /// The files, in path order.
        files: Vec<StoredFile>,
        /// Stored bytes read so far, by every worker.
        progress: Arc<AtomicU64>,
        /// A longer record is one malformed record.
        max_record_bytes: usize,
    },
    /// The built-in voter generator, at `rate` records per second (all workers together).
    Generator {
        /// The generator, shared by the workers (each generates its share of the slots).
        generator: Arc<VoterGenerator>,
        /// Records per second of all workers together; `None`: as fast as they go.
        rate: Option<f64>,
    },
    /// Local NDJSON files cut into splits; `progress` counts bytes read.
    Files {
        /// The splits, dealt round-robin to the workers.
        splits: Arc<Vec<Split>>,
        /// Bytes read so far, by every worker.
        progress: Arc<AtomicU64>,
        /// A longer record is one malformed record.
        max_record_bytes: usize,
    },
}

/// The archived segments a restarted job replays before it resumes reading Kafka.
pub struct ReplayPlan {
    /// Where the archive is.
    pub storage: Arc<Storage>,
    /// The runtime storage calls run on.
    pub runtime: tokio::runtime::Handle,
    /// Segments with their partitions, in (partition, offset) order.
    pub segments: Vec<(u32, StoredFile)>,
    /// The job's record limit (a live record over it was rejected the same way).
    pub max_record_bytes: usize,
}

impl SourceConfig {
    /// The files under `path`, and their total size in bytes. A line longer than
    /// `max_record_bytes` is one malformed record, read past rather than into memory.
    pub fn files(path: &Path, max_record_bytes: usize) -> Result<(SourceConfig, u64), FilesError> {
        let inputs = files::list_files(path)?;
        let splits = files::plan_splits(&inputs, files::SPLIT_BYTES)?;
        let config = SourceConfig::Files {
            splits: Arc::new(splits),
            progress: Arc::default(),
            max_record_bytes,
        };
        Ok((config, files::total_bytes(&inputs)))
    }

    /// Worker `index` of `peers`'s share.
    pub fn build(&self, index: usize, peers: usize) -> Result<Box<dyn Source>, KafkaError> {
        Ok(match self {
            SourceConfig::Generator { generator, rate } => {
                let share = rate.map(|r| r / peers as f64);
                Box::new(GeneratorSource::new(generator.clone(), index, peers, share))
            }
            SourceConfig::Files {
                splits,
                progress,
                max_record_bytes,
            } => {
                let source = FileSource::new(splits, index, peers, progress.clone());
                Box::new(source.with_max_record_bytes(*max_record_bytes))
            }
            SourceConfig::Kafka {
                config,
                metrics,
                recovery,
            } => {
                let live = KafkaSource::new(config.clone(), index, peers, metrics.clone())?;
                // A worker replays the segments of the partitions it owns.
                let replay: Vec<StoredFile> = recovery
                    .iter()
                    .flat_map(|plan| &plan.segments)
                    .filter(|(partition, _)| *partition as usize % peers == index)
                    .map(|(_, file)| file.clone())
                    .collect();
                match recovery {
                    Some(plan) if !replay.is_empty() => {
                        let stored = StoredFileSource::new(
                            plan.storage.clone(),
                            plan.runtime.clone(),
                            replay,
                            Arc::default(),
                            plan.max_record_bytes,
                        );
                        Box::new(ArchiveThenLive::new(stored, live))
                    }
                    _ => Box::new(live),
                }
            }
            SourceConfig::Stored {
                storage,
                runtime,
                files,
                progress,
                max_record_bytes,
            } => {
                let mine = files.iter().skip(index).step_by(peers).cloned().collect();
                Box::new(StoredFileSource::new(
                    storage.clone(),
                    runtime.clone(),
                    mine,
                    progress.clone(),
                    *max_record_bytes,
                ))
            }
        })
    }

    /// Bytes read so far, for sources that read files.
    pub fn bytes_read(&self) -> Option<Arc<AtomicU64>> {
        match self {
            SourceConfig::Files { progress, .. } | SourceConfig::Stored { progress, .. } => Some(progress.clone()),
            _ => None,
        }
    }
}
