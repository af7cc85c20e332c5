//! Snapshots: `snapshots/<topic>/<epoch>.json` holds the results and, per partition, the next
//! offset they reflect, with `LATEST` naming the newest. Kept per topic, as segments are, so one
//! storage root serves any number of topics. The archive's writer writes them, after the
//! segments that cover their offsets ([`crate::sinks::archive`]); recovery reads the newest
//! readable one.

use crate::storage::{Storage, StorageError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[allow(missing_docs, reason = "each variant is documented by its #[error] message")]
/// Why a snapshot could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error("cannot encode snapshot {epoch}: {cause}")]
    Encode { epoch: u64, cause: serde_json::Error },
    #[error("cannot decode snapshot {path}: {cause}")]
    Decode { path: String, cause: serde_json::Error },
}

/// A checkpoint: results and the offsets they reflect.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Snapshot {
    /// The checkpoint epoch the results are of.
    pub epoch: u64,
    /// The topic the offsets are of.
    pub topic: String,
    /// Partition → next offset to read.
    pub offsets: BTreeMap<u32, u64>,
    /// The `/api/results` document at this epoch.
    pub results: serde_json::Value,
    /// How the race moved up to these results (`/api/timeline`), so a restart keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<serde_json::Value>,
    /// The calls and projections made up to these results, with their times, so a restart keeps
    /// when each was made (`tally_model::CallDesk`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desk: Option<serde_json::Value>,
    /// What the results' JSON leaves out and the states' documents show (votes by gender and
    /// age group per state, and per reporting unit: `tally_model::state_view::Drilldown`), so a
    /// restarted job serves them while it replays.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drilldown: Option<serde_json::Value>,
    /// The publications recorded since the snapshot before (`tally_model::audit`), written
    /// beside it to `publications/TOPIC/EPOCH.jsonl` rather than in it, so a snapshot stays
    /// small however long the night.
    #[serde(skip)]
    pub publications: Vec<tally_model::audit::Publication>,
}

/// Where `topic`'s publication records live (relative to the storage root).
pub fn publications_dir(topic: &str) -> String {
    format!("publications/{topic}")
}

/// Every publication recorded for `topic`, oldest first (files that cannot be read are
/// skipped with a warning: an audit then says the time is not recorded).
pub async fn publications(
    storage: &Storage,
    topic: &str,
) -> Result<Vec<tally_model::audit::Publication>, SnapshotError> {
    let dir = publications_dir(topic);
    let mut names: Vec<String> = match storage.list(&dir).await {
        Ok(listing) => listing
            .into_iter()
            .map(|(p, _)| p)
            .filter(|p| p.ends_with(".jsonl"))
            .collect(),
        // None written yet.
        Err(_) => return Ok(Vec::new()),
    };
    names.sort();
    let mut all = Vec::new();
    for name in names {
        let bytes = storage.read(&name).await?;
        for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
            match serde_json::from_slice(line) {
                Ok(publication) => all.push(publication),
                Err(e) => tracing::warn!("skipping an unreadable publication record in {name}: {e}"),
            }
        }
    }
    Ok(all)
}

/// Where `topic`'s snapshots live (relative to the storage root).
pub fn snapshot_dir(topic: &str) -> String {
    format!("snapshots/{topic}")
}

/// Snapshot files laid out as before snapshots were kept per topic: directly in `snapshots/`.
pub async fn unmigrated_snapshots(storage: &Storage) -> Result<Vec<String>, SnapshotError> {
    Ok(storage
        .list("snapshots")
        .await?
        .into_iter()
        .map(|(path, _)| path)
        .filter(|path| path.matches('/').count() == 1)
        .collect())
}

/// Writes `snapshot`, points its topic's `LATEST` at it, and deletes all but the newest `keep`.
pub(crate) async fn write_snapshot(storage: &Storage, snapshot: &Snapshot, keep: usize) -> Result<(), SnapshotError> {
    // At debug level, so that a fault can be aimed at the write (scripts/chaos.sh).
    tracing::debug!(epoch = snapshot.epoch, "writing snapshot");
    let mut files = Vec::with_capacity(3);
    if !snapshot.publications.is_empty() {
        let mut lines = Vec::new();
        for publication in &snapshot.publications {
            serde_json::to_writer(&mut lines, publication).map_err(|cause| SnapshotError::Encode {
                epoch: snapshot.epoch,
                cause,
            })?;
            lines.push(b'\n');
        }
        let path = format!("{}/{:020}.jsonl", publications_dir(&snapshot.topic), snapshot.epoch);
        files.push((path, lines.into()));
    }
    let dir = snapshot_dir(&snapshot.topic);
    let name = format!("{:020}.json", snapshot.epoch);
    let body = serde_json::to_vec(snapshot).map_err(|cause| SnapshotError::Encode {
        epoch: snapshot.epoch,
        cause,
    })?;
    files.push((format!("{dir}/{name}"), body.into()));
    files.push((format!("{dir}/LATEST"), name.into_bytes().into()));
    // In this order: the publications, then the snapshot, then the pointer to it.
    storage.write_all_atomic(files).await?;
    let listing = storage.list(&dir).await?;
    let mut snapshots: Vec<&String> = listing
        .iter()
        .map(|(p, _)| p)
        .filter(|p| p.ends_with(".json"))
        .collect();
    snapshots.sort();
    for old in snapshots.iter().rev().skip(keep.max(1)) {
        storage.delete(old).await?;
    }
    tracing::debug!(epoch = snapshot.epoch, "snapshot written");
    Ok(())
}

/// The newest readable snapshot of `topic`, if any (`LATEST` first, then older ones if it is
/// damaged).
pub async fn latest_snapshot(storage: &Storage, topic: &str) -> Result<Option<Snapshot>, SnapshotError> {
    let dir = snapshot_dir(topic);
    let mut names: Vec<String> = storage
        .list(&dir)
        .await?
        .into_iter()
        .map(|(p, _)| p)
        .filter(|p| p.ends_with(".json"))
        .collect();
    names.sort();
    if let Ok(latest) = storage.read(&format!("{dir}/LATEST")).await {
        let latest = format!("{dir}/{}", String::from_utf8_lossy(&latest).trim());
        names.retain(|n| *n <= latest);
    }
    for name in names.iter().rev() {
        let read = storage.read(name).await.map_err(SnapshotError::from);
        match read.and_then(|bytes| {
            serde_json::from_slice::<Snapshot>(&bytes).map_err(|cause| SnapshotError::Decode {
                path: name.clone(),
                cause,
            })
        }) {
            Ok(snapshot) => return Ok(Some(snapshot)),
            Err(e) => tracing::warn!("skipping unreadable snapshot {name}: {e}"),
        }
    }
    Ok(None)
}
