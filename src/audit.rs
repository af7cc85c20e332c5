//! `tally audit`: what a durable job published at a time, re-derived from its raw archive.
//!
//! The job records each publication (at most one a second) with the Kafka offsets its counts
//! reflect and a SHA-256 digest of those counts (`tally_model::audit`), beside its snapshots.
//! This reads the record of the publication shown at `--at`, folds the archived records before
//! those offsets with the sequential fold (the specification the graph is held to), and
//! compares digests. It prints a JSON report, with the results document re-derived from those
//! records (the counts of what was on screen, state by state), and exits 1 when the digests
//! differ: the published count was not what the archive says the job had read.

use crate::cli::AuditArgs;
use anyhow::{bail, Context, Result};
use std::io::Read;
use tally_connectors::sinks::archive::{stored_segments, Compression};
use tally_connectors::sinks::snapshots::publications;
use tally_connectors::storage::Storage;
use tally_model::audit::{digest, parse_time, PublicationLog};
use tally_model::{fold, Position};

pub fn audit(args: AuditArgs) -> Result<()> {
    let at = parse_time(&args.at)
        .with_context(|| format!("--at {:?}: milliseconds since 1970, or RFC 3339 in UTC", args.at))?;
    let storage = Storage::at(&args.storage)?;
    let runtime = crate::runtime::two_threads("tally-audit")?;
    let log = PublicationLog::restored(runtime.block_on(publications(&storage, &args.topic))?);
    let Some(publication) = log.at(at).cloned() else {
        bail!(
            "no publication of {:?} is on record at or before {} in {}",
            args.topic,
            tally_model::ap::rfc3339(at),
            args.storage
        );
    };
    // Every archived record before the publication's offsets, numbered as the job read them.
    let segments = runtime.block_on(stored_segments(&storage, &args.topic))?;
    let mut records: Vec<(Position, Vec<u8>)> = Vec::new();
    for (&partition, &end) in &publication.offsets {
        let mut next = None;
        for segment in segments.iter().filter(|s| s.partition == partition && s.first < end) {
            if next.is_some_and(|next| segment.first != next) {
                bail!(
                    "the archive of partition {partition} has a gap before offset {}",
                    segment.first
                );
            }
            next = Some(segment.last + 1);
            let stored = runtime
                .block_on(storage.read(&segment.path))
                .with_context(|| format!("reading {}", segment.path))?;
            let mut text = Vec::new();
            Compression::of_path(&segment.path)
                .decoder(&stored[..])
                .read_to_end(&mut text)
                .with_context(|| format!("decompressing {}", segment.path))?;
            // As a replay reads a segment: one record a line, blank lines skipped, an over-long
            // record counted as malformed.
            let lines = text.split(|b| *b == b'\n').map(<[u8]>::trim_ascii_end);
            let kept = lines.filter(|line| !line.trim_ascii_start().is_empty());
            for (offset, line) in (segment.first..end).zip(kept) {
                let record = if line.len() > args.max_record_bytes {
                    &[][..]
                } else {
                    line
                };
                records.push((Position::new(partition, offset), record.to_vec()));
            }
        }
        let read = next.map_or(0, |next: u64| next.min(end));
        if read < end {
            bail!("the archive of partition {partition} ends at offset {read}, before the publication's {end}");
        }
    }
    let tallies = fold(records.iter().map(|(p, r)| (*p, r.as_slice())), true);
    let derived = digest(&tallies);
    let agrees = derived == publication.digest;
    let report = serde_json::json!({
        "at": tally_model::ap::rfc3339(at),
        "publication": publication,
        "derived": {
            "records": tallies.total_records(),
            "votes": tallies.total_votes(),
            "digest": derived,
        },
        "agrees": agrees,
        "results": tally_model::Results::new(&tallies, publication.epoch, false, args.apportionment)
            .with_lost(publication.lost)
            .computed_at(publication.as_of),
    });
    println!("{}", serde_json::to_string_pretty(&report)?);
    if !agrees {
        bail!(
            "the publication of epoch {} does not match the archive",
            publication.epoch
        );
    }
    Ok(())
}
