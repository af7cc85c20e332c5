//! What was published, and proof of it: each publication of a durable job is recorded with the
//! source positions its counts reflect (per partition, the next offset) and a digest of the
//! counts, so that an editor's "what did we show at 22:41, and was it right for the ballots we
//! had?" has an answer: `GET /api/results?at=TIME` shows the record, and `tally audit` folds
//! the raw archive up to those positions and checks the digest.
//!
//! One record a second at most (the last publication of each second whose counts changed): a
//! night is a few tens of thousands of records, kept with the snapshots (see
//! `connectors::sinks::snapshots`). The digest is SHA-256 over the counts alone (votes by cube
//! cell, by county, rejects by reason), never labels or times, so the sequential fold of the
//! same records gives the same digest.

use crate::tallies::Tallies;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// One publication, as recorded.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Publication {
    /// Its epoch.
    pub epoch: u64,
    /// When it was computed (milliseconds since the Unix epoch).
    pub as_of: i64,
    /// Partition → next offset: its counts are those of every record before these.
    pub offsets: BTreeMap<u32, u64>,
    /// Records retention deleted before they were read (in no count).
    pub lost: u64,
    /// Records counted (votes and rejects).
    pub records: u64,
    /// Valid votes.
    pub votes: u64,
    /// Candidate → votes, as published.
    pub candidates: BTreeMap<String, u64>,
    /// SHA-256 of the counts ([`digest`]), in hex.
    pub digest: String,
}

impl Publication {
    /// The record of `tallies` at `epoch`, computed at `as_of`, reflecting `offsets`.
    pub fn of(tallies: &Tallies, epoch: u64, as_of: i64, offsets: BTreeMap<u32, u64>, lost: u64) -> Publication {
        let mut candidates: BTreeMap<String, u64> = BTreeMap::new();
        for (key, count) in &tallies.votes {
            let name = tallies.candidates.get(&key.candidate).cloned().unwrap_or_default();
            *candidates.entry(name).or_default() += count;
        }
        Publication {
            epoch,
            as_of,
            offsets,
            lost,
            records: tallies.total_records(),
            votes: tallies.total_votes(),
            candidates,
            digest: digest(tallies),
        }
    }
}

/// SHA-256 (hex) of the counts in `tallies`: votes per cube cell, votes per county and
/// candidate, rejects per reason, each in key order, as fixed-width little-endian fields (cheap
/// enough for every publication: a whole night with counties is some ten thousand entries).
pub fn digest(tallies: &Tallies) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"votes");
    for (key, count) in &tallies.votes {
        hasher.update([key.state.0, key.gender as u8, key.age_group as u8]);
        hasher.update(key.candidate.0.to_le_bytes());
        hasher.update(count.to_le_bytes());
    }
    hasher.update(b"units");
    for (key, count) in &tallies.units {
        hasher.update(key.county.0.to_le_bytes());
        hasher.update(key.candidate.0.to_le_bytes());
        hasher.update(count.to_le_bytes());
    }
    hasher.update(b"rejected");
    for (reason, count) in &tallies.rejected {
        hasher.update([*reason as u8]);
        hasher.update(count.to_le_bytes());
    }
    hasher.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A time as milliseconds since the Unix epoch, or as RFC 3339 in UTC
/// (`2024-11-06T03:41:00Z`, with or without fractions of a second).
pub fn parse_time(text: &str) -> Option<i64> {
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let text = text.strip_suffix('Z').or_else(|| text.strip_suffix("+00:00"))?;
    let (date, time) = text.split_once(['T', 't', ' '])?;
    let number = |s: &str| -> Option<u32> { s.bytes().all(|b| b.is_ascii_digit()).then(|| s.parse().ok())? };
    let mut date = date.splitn(3, '-');
    let (year, month, day) = (number(date.next()?)?, number(date.next()?)?, number(date.next()?)?);
    let (time, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut time = time.splitn(3, ':');
    let (hour, minute, second) = (number(time.next()?)?, number(time.next()?)?, number(time.next()?)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let millis = match fraction {
        "" => 0,
        digits => number(digits)? as i64 * 1000 / 10_i64.checked_pow(digits.len() as u32)?,
    };
    let days = crate::ap::days_from_civil(i64::from(year), month, day);
    Some(((days * 24 + i64::from(hour)) * 60 + i64::from(minute)) * 60_000 + i64::from(second) * 1000 + millis)
}

/// The publications recorded so far, oldest first, and how many of them are written.
#[derive(Debug, Default)]
pub struct PublicationLog {
    entries: Vec<Publication>,
    handed_out: usize,
}

impl PublicationLog {
    /// A log holding `written` (read back from storage), all of it written already.
    pub fn restored(mut written: Vec<Publication>) -> PublicationLog {
        written.sort_by_key(|p| (p.as_of, p.epoch));
        written.dedup_by_key(|p| p.epoch);
        PublicationLog {
            handed_out: written.len(),
            entries: written,
        }
    }

    /// Records `publication`: the last of each second is kept (it replaces a record of the same
    /// second not yet handed out), and one with the same counts as the last is not a new record.
    pub fn record(&mut self, publication: Publication) {
        if let Some(last) = self.entries.last() {
            if last.digest == publication.digest {
                return;
            }
            let same_second = last.as_of.div_euclid(1000) == publication.as_of.div_euclid(1000);
            if same_second && self.entries.len() > self.handed_out {
                self.entries.pop();
            }
        }
        self.entries.push(publication);
    }

    /// The records of epochs up to `epoch` not handed out before: what a snapshot of `epoch`
    /// writes.
    pub fn take_through(&mut self, epoch: u64) -> Vec<Publication> {
        let end = self.entries.partition_point(|p| p.epoch <= epoch).max(self.handed_out);
        let taken = self.entries[self.handed_out..end].to_vec();
        self.handed_out = end;
        taken
    }

    /// The publication shown at `ms`: the newest recorded at or before it.
    pub fn at(&self, ms: i64) -> Option<&Publication> {
        let end = self.entries.partition_point(|p| p.as_of <= ms);
        end.checked_sub(1).map(|i| &self.entries[i])
    }

    /// Every record.
    pub fn entries(&self) -> &[Publication] {
        &self.entries
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_records::tallies_of as tallies;

    const RECORDS: [&str; 3] = [
        r#"{"id":1,"gender":"Female","age":34,"state":"Ohio","decision":"Ada"}"#,
        r#"{"id":2,"gender":"Male","age":71,"state":"Texas","county":"48201","decision":"Bo"}"#,
        r#"not json"#,
    ];

    #[test]
    fn the_digest_is_of_the_counts_and_changes_with_any_of_them() {
        let all = tallies(&RECORDS);
        assert_eq!(digest(&all), digest(&tallies(&RECORDS)), "deterministic");
        assert_eq!(digest(&all).len(), 64);
        for fewer in [&RECORDS[..2], &[RECORDS[0], RECORDS[2]][..], &RECORDS[1..]] {
            assert_ne!(digest(&all), digest(&tallies(fewer)));
        }
        let publication = Publication::of(&all, 7, 1_000, BTreeMap::from([(0, 3)]), 0);
        assert_eq!((publication.records, publication.votes), (3, 2));
        assert_eq!(
            publication.candidates,
            BTreeMap::from([("Ada".into(), 1), ("Bo".into(), 1)])
        );
    }

    #[test]
    fn times_are_milliseconds_or_rfc3339_in_utc() {
        assert_eq!(parse_time("1730861565123"), Some(1_730_861_565_123));
        assert_eq!(parse_time("2024-11-06T02:52:45Z"), Some(1_730_861_565_000));
        assert_eq!(parse_time("2024-11-06T02:52:45.123Z"), Some(1_730_861_565_123));
        assert_eq!(parse_time("2024-11-06T02:52:45+00:00"), Some(1_730_861_565_000));
        assert_eq!(
            crate::ap::rfc3339(parse_time("2000-02-29T23:59:59Z").unwrap()),
            "2000-02-29T23:59:59Z"
        );
        // Every time the OpenAPI document's pattern admits parses (a 31st of February rolls over).
        assert!(parse_time("2024-02-31T23:59:60.123456789+00:00").is_some());
        assert!(parse_time("999999999999999").is_some());
        for bad in [
            "",
            "yesterday",
            "2024-13-01T00:00:00Z",
            "2024-11-06T02:52:45",
            "2024-11-06T25:00:00Z",
            "-5",
        ] {
            assert_eq!(parse_time(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn one_record_a_second_each_handed_out_once_and_found_by_time() {
        let mut log = PublicationLog::default();
        let at = |epoch: u64, as_of: i64, n: usize| {
            Publication::of(&tallies(&RECORDS[..n]), epoch, as_of, BTreeMap::new(), 0)
        };
        log.record(at(1, 1_000, 1));
        log.record(at(2, 1_900, 2)); // the same second: the last of it is kept
        log.record(at(3, 2_100, 2)); // the same counts
        log.record(at(4, 2_500, 1));
        log.record(at(5, 5_000, 3));
        let epochs: Vec<u64> = log.entries().iter().map(|p| p.epoch).collect();
        assert_eq!(epochs, [2, 4, 5]);
        assert_eq!(log.at(999), None);
        assert_eq!(log.at(2_400).map(|p| p.epoch), Some(2));
        assert_eq!(log.at(4_999).map(|p| p.epoch), Some(4));
        assert_eq!(log.take_through(4).iter().map(|p| p.epoch).collect::<Vec<_>>(), [2, 4]);
        assert!(log.take_through(4).is_empty(), "handed out once");
        // A record handed out stays, even when a later one of its second comes.
        assert_eq!(log.take_through(5).len(), 1);
        log.record(at(6, 5_900, 2));
        assert_eq!(log.entries().iter().map(|p| p.epoch).collect::<Vec<_>>(), [2, 4, 5, 6]);
        assert_eq!(log.take_through(9).len(), 1);
        let restored = PublicationLog::restored(log.entries().to_vec());
        assert_eq!(restored.at(6_000).map(|p| p.epoch), Some(6));
    }
}
