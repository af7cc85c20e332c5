//! Durable state for a Kafka-fed job: the storage, the archive writer, and the recovery plan
//! (the latest snapshot's offsets and the archived segments to replay before resuming there).

use anyhow::{bail, Result};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, RwLock};
use tally_connectors::sinks::archive::{self, ArchiveWriter};
use tally_connectors::sinks::snapshots::{self, Snapshot};
use tally_connectors::sources::archive::{Positions, StoredFile};
use tally_connectors::sources::ReplayPlan;
use tally_connectors::storage::{Location, Storage};
use tally_model::audit::{Publication, PublicationLog};
use tally_model::results::RecoveryProgress;
use tally_model::{Apportionment, CallDesk, Results, SourceProgress, Tallies, Timeline};

pub struct Durable {
    pub storage: Arc<Storage>,
    /// Runs every storage call (the writer's and the replay's).
    pub runtime: tokio::runtime::Runtime,
    pub writer: Arc<ArchiveWriter>,
    /// Partition → next offset, from the latest snapshot (empty on a fresh start).
    pub resume: BTreeMap<u32, u64>,
    /// Archived segments up to `resume`, with their partitions, in (partition, offset) order.
    pub replay: Vec<(u32, StoredFile)>,
    /// While the archive is replayed: the snapshot's results, to show meanwhile.
    pub recovery: Option<Arc<Recovery>>,
    /// Records lost to retention before the snapshot (its results' `lost`).
    pub lost_before: u64,
    /// How the race moved up to the snapshot (empty on a fresh start).
    pub timeline: Timeline,
    /// The calls made up to the snapshot, with their times (empty on a fresh start).
    pub desk: CallDesk,
    /// Every publication recorded before (see `tally_model::audit`).
    pub publications: Vec<Publication>,
}

/// A recovery in progress, as the dashboard and `/healthz` see it. The graph rebuilds its state
/// by replaying the archive up to the snapshot; until it is there, `/api/results` shows the
/// snapshot's counts (never the partial replay) with the replay's progress.
pub struct Recovery {
    pub snapshot: Results,
    /// `None` once every worker is live.
    progress: Mutex<Option<RecoveryProgress>>,
}

impl Recovery {
    /// A recovery toward `snapshot`, showing its results and its states' documents meanwhile;
    /// `None` (the replay is shown as it goes) if its results cannot be read.
    fn of(snapshot: &Snapshot) -> Option<Recovery> {
        let results = match serde_json::from_value::<Results>(snapshot.results.clone()) {
            Ok(results) => results,
            Err(e) => {
                tracing::warn!("the snapshot's results are unreadable ({e}); showing the replay as it goes");
                return None;
            }
        };
        // Older snapshots have no drill-down: their states then show their totals alone until
        // the replay is done.
        let drilldown = snapshot
            .drilldown
            .clone()
            .and_then(|drilldown| serde_json::from_value(drilldown).ok())
            .unwrap_or_default();
        Some(Recovery::new(results.with_drilldown(drilldown)))
    }

    fn new(snapshot: Results) -> Recovery {
        let progress = RecoveryProgress {
            records: 0,
            of: snapshot.records(),
        };
        Recovery {
            snapshot,
            progress: Mutex::new(Some(progress)),
        }
    }

    /// What to publish for the graph's state at `epoch`: while any worker replays, the snapshot
    /// with the progress; after, the graph's own results.
    pub fn shown(
        &self,
        tallies: &Tallies,
        sources: &SourceProgress,
        epoch: u64,
        live: impl FnOnce() -> Results,
    ) -> Results {
        let mut progress = self.progress.lock().unwrap_or_else(|p| p.into_inner());
        if progress.is_none() || sources.replaying.is_empty() {
            if progress.take().is_some() {
                tracing::info!("recovered: the archive is replayed, reading live");
            }
            return live();
        }
        let replayed = tallies.votes.values().sum::<u64>() + tallies.rejected.values().sum::<u64>();
        let shown = Results::recovering_toward(&self.snapshot, epoch, replayed);
        *progress = shown.recovering;
        shown
    }

    /// The results to show before the first epoch completes.
    pub fn initial(&self) -> Results {
        Results::recovering_toward(&self.snapshot, 0, 0)
    }

    /// `Some(progress)` while recovering.
    pub fn progress(&self) -> Option<RecoveryProgress> {
        *self.progress.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Durable {
    /// Opens `url` and plans recovery for `topic`. Only one process (`discard`) removes the
    /// segments beyond the snapshot; in a cluster every process plans before any worker starts
    /// (the workers start only once all processes have connected), so none reads what another
    /// is about to remove or writes what another removes.
    pub fn prepare(
        url: &Location,
        topic: &str,
        keep_snapshots: usize,
        buffer_bytes: u64,
        discard: bool,
    ) -> Result<Durable> {
        let storage = Arc::new(Storage::at(url)?);
        let runtime = crate::runtime::two_threads("tally-storage")?;
        let unmigrated = runtime.block_on(snapshots::unmigrated_snapshots(&storage))?;
        if !unmigrated.is_empty() {
            bail!(
                "{url} holds snapshots in the old layout (snapshots/*.json and snapshots/LATEST); \
                 snapshots are now kept per topic: move them into {url}/{dir}/ (for a local root: \
                 mkdir -p ROOT/{dir} && mv ROOT/snapshots/*.json ROOT/snapshots/LATEST ROOT/{dir}/; on \
                 HDFS the same with hdfs dfs -mkdir -p and hdfs dfs -mv) if they are snapshots of \
                 {topic:?}, or use another --storage",
                dir = snapshots::snapshot_dir(topic)
            );
        }
        let snapshot = runtime.block_on(snapshots::latest_snapshot(&storage, topic))?;
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
            true => runtime.block_on(archive::discard_beyond(&storage, topic, &resume))?,
            false => 0,
        };
        let segments = runtime.block_on(archive::stored_segments(&storage, topic))?;
        // Only what the snapshot covers: segments beyond it may still be listed here while
        // another process discards them.
        let replay: Vec<(u32, StoredFile)> = segments
            .into_iter()
            .filter(|segment| segment.first < resume.get(&segment.partition).copied().unwrap_or(0))
            .map(|segment| {
                (
                    segment.partition,
                    StoredFile {
                        path: segment.path,
                        positions: Positions::Archive {
                            partition: segment.partition,
                            first: segment.first,
                        },
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
        // Nothing to replay, nothing to wait for (a snapshot of an empty topic). Only the first
        // process publishes results, so only it shows the recovery.
        let recovery = match &snapshot {
            Some(snapshot) if !replay.is_empty() && discard => Recovery::of(snapshot).map(Arc::new),
            _ => None,
        };
        let lost_before = snapshot
            .as_ref()
            .and_then(|s| s.results.get("lost"))
            .and_then(serde_json::Value::as_u64)
            .unwrap_or(0);
        let timeline = snapshot
            .as_ref()
            .and_then(|s| s.timeline.clone())
            .and_then(|timeline| serde_json::from_value(timeline).ok())
            .unwrap_or_default();
        let desk = snapshot
            .as_ref()
            .and_then(|s| s.desk.clone())
            .and_then(|desk| serde_json::from_value(desk).ok())
            .unwrap_or_default();
        let publications = runtime.block_on(snapshots::publications(&storage, topic))?;
        let writer = ArchiveWriter::start(storage.clone(), runtime.handle().clone(), keep_snapshots, buffer_bytes);
        Ok(Durable {
            recovery,
            lost_before,
            timeline,
            desk,
            publications,
            storage,
            runtime,
            writer,
            resume,
            replay,
        })
    }

    /// What the Kafka source's workers replay before reading live, with the job's record limit.
    pub fn replay_plan(&self, max_record_bytes: usize) -> ReplayPlan {
        ReplayPlan {
            storage: self.storage.clone(),
            runtime: self.runtime.handle().clone(),
            segments: self.replay.clone(),
            max_record_bytes,
        }
    }
}

/// Worker 0's snapshots on their way to storage. A checkpoint's state is held here until the
/// archive is durable up to its offsets (`SourceProgress::durable`, reported through the graph by every
/// worker of every process). At most two wait: the oldest, which the archive reaches first, and
/// the newest, which replaces any later checkpoint. (Keeping only the newest would starve
/// while the archive lags by more than a checkpoint interval.)
pub struct SnapshotGate {
    writer: Arc<ArchiveWriter>,
    topic: String,
    apportionment: Apportionment,
    waiting: Mutex<VecDeque<Snapshot>>,
    /// The job's timeline, saved with each snapshot up to its count.
    timeline: Arc<RwLock<Timeline>>,
    /// The job's call desk, saved with each snapshot up to its count.
    desk: Arc<Mutex<CallDesk>>,
    /// The job's publication records, written beside each snapshot up to its epoch.
    publications: Arc<RwLock<PublicationLog>>,
}

impl SnapshotGate {
    pub fn new(
        writer: Arc<ArchiveWriter>,
        topic: String,
        apportionment: Apportionment,
        timeline: Arc<RwLock<Timeline>>,
        desk: Arc<Mutex<CallDesk>>,
    ) -> SnapshotGate {
        SnapshotGate {
            writer,
            topic,
            apportionment,
            waiting: Mutex::default(),
            timeline,
            desk,
            publications: Arc::default(),
        }
    }

    /// Records the publication of `tallies` at `epoch` (shown at `as_of`): the last of each
    /// second is kept (see `tally_model::audit`).
    pub fn record(&self, tallies: &Tallies, progress: &SourceProgress, epoch: u64, as_of: i64) {
        let publication = Publication::of(tallies, epoch, as_of, progress.offsets.clone(), progress.lost);
        if let Ok(mut log) = self.publications.write() {
            log.record(publication);
        }
    }

    /// The gate, writing the records of `publications` beside each snapshot.
    pub fn with_publications(mut self, publications: Arc<RwLock<PublicationLog>>) -> SnapshotGate {
        self.publications = publications;
        self
    }

    /// The state at a checkpoint boundary; skipped while a worker is still replaying the
    /// archive (the counts would not yet match the offsets).
    pub fn offer(&self, tallies: &Tallies, progress: &SourceProgress, epoch: u64) {
        if !progress.replaying.is_empty() {
            return;
        }
        let results = Results::new(tallies, epoch, false, self.apportionment).with_lost(progress.lost);
        let votes = results.votes;
        let drilldown = serde_json::to_value(results.drilldown()).ok();
        match serde_json::to_value(&results) {
            Ok(results) => {
                let timeline = self
                    .timeline
                    .read()
                    .ok()
                    .and_then(|timeline| serde_json::to_value(timeline.through(votes)).ok());
                let desk = self
                    .desk
                    .lock()
                    .ok()
                    .and_then(|desk| serde_json::to_value(desk.through(votes)).ok());
                let snapshot = Snapshot {
                    epoch,
                    topic: self.topic.clone(),
                    offsets: progress.offsets.clone(),
                    results,
                    timeline,
                    desk,
                    drilldown,
                    publications: Vec::new(),
                };
                if let Ok(mut waiting) = self.waiting.lock() {
                    if waiting.len() == 2 {
                        waiting.pop_back();
                    }
                    waiting.push_back(snapshot);
                }
            }
            Err(e) => tracing::error!("cannot encode snapshot {epoch}: {e}"),
        }
    }

    /// True while a snapshot waits for the archive.
    /// The archive writer the snapshots are written with (also the raw records').
    pub fn writer(&self) -> &Arc<ArchiveWriter> {
        &self.writer
    }

    pub fn waiting(&self) -> bool {
        self.waiting.lock().map(|w| !w.is_empty()).unwrap_or(false)
    }

    /// Called with every published state and after every offer: hands the newest waiting
    /// snapshot that the archive covers to the writer (and returns its epoch), and drops the
    /// older ones.
    pub fn release(&self, progress: &SourceProgress) -> Option<u64> {
        let mut waiting = self.waiting.lock().ok()?;
        let newest = waiting.iter().rposition(|s| progress.durable_through(&s.offsets))?;
        let mut snapshot = waiting.drain(..=newest).next_back()?;
        let epoch = snapshot.epoch;
        if let Ok(mut log) = self.publications.write() {
            snapshot.publications = log.take_through(epoch);
        }
        self.writer.snapshot(snapshot);
        Some(epoch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn sources(offsets: &[(u32, u64)], durable: &[(u32, u64)]) -> SourceProgress {
        SourceProgress {
            offsets: offsets.iter().copied().collect::<BTreeMap<_, _>>(),
            durable: durable.iter().copied().collect::<BTreeMap<_, _>>(),
            ..SourceProgress::default()
        }
    }

    /// A checkpoint with no counts and these offsets.
    fn offer(gate: &SnapshotGate, progress: &SourceProgress, epoch: u64) {
        gate.offer(&Tallies::default(), progress, epoch);
    }

    #[test]
    fn while_replaying_the_snapshot_is_shown_with_progress_then_the_live_counts() {
        use tally_model::tallies::Tally;
        use tally_model::{AgeGroup, CandidateId, CubeKey, Gender, Progress, RejectReason, State};
        let vote = |state: &str, count: i64, tallies: &mut Tallies| {
            let key = CubeKey {
                state: State::lookup(state).expect("a state"),
                gender: Gender::ALL[0],
                age_group: AgeGroup::ALL[0],
                candidate: CandidateId::of("A"),
            };
            tallies.apply(&Tally::Candidate(key.candidate, "A".into()), 1);
            tallies.apply(&Tally::Vote(key), count);
        };
        let mut at_snapshot = Tallies::default();
        vote("OH", 90, &mut at_snapshot);
        at_snapshot.apply(&Tally::Rejected(RejectReason::ALL[0]), 10);
        let snapshot = Results::new(&at_snapshot, 7, false, Apportionment::Census2020);
        let recovery = Recovery::new(snapshot.clone());
        let progress = |records, of| Some(RecoveryProgress { records, of });
        assert_eq!(recovery.progress(), progress(0, 100));
        assert_eq!(recovery.initial().recovering, progress(0, 100));
        assert_eq!(recovery.initial().votes, 90, "the snapshot at once, not zeros");

        // Part of the archive replayed: the snapshot's counts are shown, with the progress.
        let mut partial = Tallies::default();
        vote("OH", 30, &mut partial);
        let mut replaying = SourceProgress::default();
        replaying.apply(&Progress::Replaying(0), 1);
        let shown = recovery.shown(&partial, &replaying, 9, || panic!("not live yet"));
        assert_eq!(shown.recovering, progress(30, 100));
        assert_eq!((shown.epoch, shown.votes, &shown.by_state), (9, 90, &snapshot.by_state));
        assert_eq!(recovery.progress(), progress(30, 100));

        // Every worker live: the graph's own results, and recovery is over for good.
        let mut live = at_snapshot.clone();
        vote("TX", 5, &mut live);
        let all_live = SourceProgress::default();
        let shown = recovery.shown(&live, &all_live, 10, || {
            Results::new(&live, 10, false, Apportionment::Census2020)
        });
        assert_eq!((shown.votes, shown.recovering), (95, None));
        assert_eq!(recovery.progress(), None);
        let serialized = serde_json::to_value(&shown).expect("JSON");
        assert!(serialized.get("recovering").is_none(), "absent when live");
        replaying.apply(&Progress::Replaying(1), 1);
        assert_eq!(
            recovery
                .shown(&live, &replaying, 11, || {
                    Results::new(&live, 11, false, Apportionment::Census2020)
                })
                .votes,
            95
        );
    }

    #[test]
    fn a_snapshot_waits_until_every_partition_is_durable_up_to_its_offsets() {
        let dir = tempfile::tempdir().expect("temp dir");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let storage = Arc::new(Storage::open(dir.path().to_str().expect("utf-8 path")).expect("local storage"));
        let writer = ArchiveWriter::start(storage.clone(), runtime.handle().clone(), 5, 1 << 20);
        let gate = SnapshotGate::new(
            writer,
            "t".into(),
            Apportionment::Census2020,
            Arc::default(),
            Arc::default(),
        );
        // A checkpoint taken while a worker replays is not a snapshot at all.
        let mut replaying = sources(&[(0, 5)], &[(0, 5)]);
        replaying.replaying.insert(1);
        offer(&gate, &replaying, 1);
        assert_eq!(gate.release(&replaying), None);

        offer(&gate, &sources(&[(0, 10), (1, 4)], &[]), 2);
        // Partition 1 (archived by another process, say) is not durable yet.
        assert_eq!(gate.release(&sources(&[], &[(0, 10), (1, 3)])), None);
        assert_eq!(gate.release(&sources(&[], &[(0, 10), (1, 4)])), Some(2));
        assert_eq!(gate.release(&sources(&[], &[(0, 99), (1, 99)])), None, "released once");

        // While the archive lags, the oldest waiting snapshot still gets out, then the newest.
        for (epoch, offset) in [(3, 20), (4, 30), (5, 40)] {
            offer(&gate, &sources(&[(0, offset)], &[]), epoch);
        }
        assert_eq!(gate.release(&sources(&[], &[(0, 25)])), Some(3));
        assert_eq!(gate.release(&sources(&[], &[(0, 35)])), None, "4 was replaced by 5");
        assert!(gate.waiting());
        assert_eq!(gate.release(&sources(&[], &[(0, 40)])), Some(5));
        assert!(!gate.waiting());

        assert!(gate.writer.finish(std::time::Duration::from_secs(10)));
        let latest = runtime
            .block_on(tally_connectors::sinks::snapshots::latest_snapshot(&storage, "t"))
            .expect("readable")
            .expect("a snapshot");
        assert_eq!((latest.epoch, latest.offsets[&0]), (5, 40));
    }

    #[test]
    fn a_restart_shows_each_states_document_from_the_snapshot_while_it_replays() {
        let dir = tempfile::tempdir().expect("temp dir");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let storage = Arc::new(Storage::open(dir.path().to_str().expect("utf-8 path")).expect("local storage"));
        let writer = ArchiveWriter::start(storage.clone(), runtime.handle().clone(), 5, 1 << 20);
        let gate = SnapshotGate::new(
            writer,
            "t".into(),
            Apportionment::Census2020,
            Arc::default(),
            Arc::default(),
        );
        let records = [
            r#"{"id":1,"gender":"Female","age":34,"state":"Pennsylvania","county":"42003","decision":"Kamala Harris"}"#,
            r#"{"id":2,"gender":"Male","age":71,"state":"Pennsylvania","county":"42003","decision":"Donald Trump"}"#,
            r#"{"id":3,"gender":"Male","age":52,"state":"Pennsylvania","county":"42101","decision":"Kamala Harris"}"#,
            r#"{"id":4,"gender":"Female","age":22,"state":"Ohio","decision":"Donald Trump"}"#,
        ];
        let tallies = tally_model::fold(
            records
                .iter()
                .enumerate()
                .map(|(i, r)| (tally_model::Position::new(0, i as u64), r.as_bytes())),
            true,
        );
        gate.offer(&tallies, &sources(&[(0, 4)], &[]), 1);
        assert_eq!(gate.release(&sources(&[], &[(0, 4)])), Some(1));
        assert!(gate.writer.finish(std::time::Duration::from_secs(10)));
        let snapshot = runtime
            .block_on(snapshots::latest_snapshot(&storage, "t"))
            .expect("readable")
            .expect("a snapshot");

        let shown = Recovery::of(&snapshot).expect("readable results").initial();
        let published = Results::new(&tallies, 1, false, Apportionment::Census2020);
        for code in ["PA", "OH"] {
            let state = tally_model::State::lookup(code).expect("a state");
            let (during, before) = (shown.state_document(state), published.state_document(state));
            assert!(
                !during.by_gender.is_empty() && !during.by_age_group.is_empty(),
                "{code}"
            );
            assert_eq!(
                (
                    &during.candidates,
                    &during.by_gender,
                    &during.by_age_group,
                    &during.units
                ),
                (
                    &before.candidates,
                    &before.by_gender,
                    &before.by_age_group,
                    &before.units
                ),
                "{code} while replaying, as published"
            );
        }
    }
}
