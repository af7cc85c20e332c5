//! The seed record format: one JSON object per record,
//! `{"id":4839204812345678,"gender":"Female","age":34,"state":"Ohio","decision":"Kamala Harris"}`.
//!
//! [`decode`] validates a record into a [`Ballot`] or names the one [`RejectReason`] it fails
//! on. Presence of all five fields is checked first (`missing_field`; `null` counts as missing),
//! then the fields in the order id, gender, age, state, county, decision. Unknown fields are
//! ignored. `county` is optional (absent or `null`: the vote counts at state level); given, it
//! is a county's 5-digit FIPS code, as a string (`"01001"`) or an integer (`1001`), of a county
//! in the record's state.

use crate::units::County;
use crate::vote::{AgeGroup, CandidateId, CubeKey, Gender, RejectReason, State, VoteKey, MAX_CANDIDATE_CHARS};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;

/// A valid vote, borrowing from the record it was decoded from where it can.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ballot<'a> {
    /// The voter's id.
    pub voter: u64,
    /// The voter's gender.
    pub gender: Gender,
    /// The voter's age in years.
    pub age: u64,
    /// The state voted in.
    pub state: State,
    /// The county voted in, when the record names one.
    pub county: Option<County>,
    /// The candidate chosen, trimmed (borrowed from the record when it needs no unescaping).
    pub decision: Cow<'a, str>,
}

impl Ballot<'_> {
    #[inline]
    /// The cube cell this ballot counts in.
    pub fn cube_key(&self) -> CubeKey {
        CubeKey {
            state: self.state,
            gender: self.gender,
            age_group: AgeGroup::of(self.age).unwrap_or(AgeGroup::From65),
            candidate: CandidateId::of(&self.decision),
        }
    }

    #[inline]
    /// The cube cell and county this ballot counts in.
    pub fn vote_key(&self) -> VoteKey {
        VoteKey {
            cube: self.cube_key(),
            county: self.county,
        }
    }
}

/// The fields as raw JSON text, so that each one can be judged on its own.
#[derive(Deserialize)]
struct RawRecord<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    gender: Option<&'a RawValue>,
    #[serde(borrow)]
    age: Option<&'a RawValue>,
    #[serde(borrow)]
    state: Option<&'a RawValue>,
    #[serde(borrow)]
    county: Option<&'a RawValue>,
    #[serde(borrow)]
    decision: Option<&'a RawValue>,
}

mod canonical;

/// Decodes and validates one record (without its line terminator).
/// The default longest record, in bytes: a longer one is counted as one malformed record
/// (`--max-record-bytes`), by every source alike; the file source reads past such a line
/// without holding it.
pub const MAX_RECORD_BYTES: usize = 1 << 20;

// Inline: the graph's crate calls this once per record, and the fast path below is worth
// compiling into its loop (without it, the split into crates cost up to 6% of throughput).
#[inline]
/// Decodes and validates one seed-format record: a ballot, or the reason it is rejected.
pub fn decode(record: &[u8]) -> Result<Ballot<'_>, RejectReason> {
    match canonical::decode_canonical(record) {
        Some(ballot) => Ok(ballot),
        None => decode_general(record),
    }
}

/// Any JSON layout, and the reason for every reject.
pub(crate) fn decode_general(record: &[u8]) -> Result<Ballot<'_>, RejectReason> {
    let raw: RawRecord<'_> = serde_json::from_slice(record).map_err(|_| RejectReason::Malformed)?;
    let (Some(id), Some(gender), Some(age), Some(state), Some(decision)) =
        (raw.id, raw.gender, raw.age, raw.state, raw.decision)
    else {
        return Err(RejectReason::MissingField);
    };
    let voter = parse_id(id).ok_or(RejectReason::InvalidId)?;
    let gender = json_str(gender)
        .and_then(|text| Gender::parse(&text))
        .ok_or(RejectReason::InvalidGender)?;
    let age = serde_json::from_str::<u64>(age.get())
        .ok()
        .filter(|age| AgeGroup::AGES.contains(age))
        .ok_or(RejectReason::InvalidAge)?;
    let state = json_str(state)
        .and_then(|text| State::lookup(&text))
        .ok_or(RejectReason::UnknownState)?;
    let county = match raw.county {
        Some(raw) => Some(county_of(raw, state)?),
        None => None,
    };
    let decision = json_str(decision)
        .and_then(trimmed_candidate)
        .ok_or(RejectReason::InvalidDecision)?;
    Ok(Ballot {
        voter,
        gender,
        age,
        state,
        county,
        decision,
    })
}

/// The county a record's `county` value names, checked against its state.
fn county_of(raw: &RawValue, state: State) -> Result<County, RejectReason> {
    let text = raw.get();
    let county = if text.starts_with('"') {
        json_str(raw).and_then(|code| County::parse(&code))
    } else {
        serde_json::from_str::<u32>(text)
            .ok()
            .filter(|code| *code < 100_000)
            .map(County)
    };
    check_county(county, state)
}

/// A parsed county code must be a known county, of `state`.
#[inline]
pub(crate) fn check_county(county: Option<County>, state: State) -> Result<County, RejectReason> {
    let county = county.ok_or(RejectReason::UnknownCounty)?;
    match county.state() {
        None => Err(RejectReason::UnknownCounty),
        Some(of) if of != state => Err(RejectReason::CountyOutsideState),
        Some(_) => Ok(county),
    }
}

#[derive(Deserialize)]
struct IdOnly<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
}

/// The voter id of a record, if it has a valid one, without validating the rest: producers key
/// records by it so that all of a voter's records land in one partition, in order.
pub fn voter_id(record: &[u8]) -> Option<u64> {
    serde_json::from_slice::<IdOnly<'_>>(record).ok()?.id.and_then(parse_id)
}

/// An unsigned 64-bit integer, or a string of ASCII digits that is one.
fn parse_id(raw: &RawValue) -> Option<u64> {
    let text = raw.get();
    if text.starts_with('"') {
        let digits = json_str(raw)?;
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        digits.parse().ok()
    } else {
        serde_json::from_str::<u64>(text).ok()
    }
}

/// The value of a JSON string, borrowed when it has no escapes; `None` if not a string.
fn json_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    let text = raw.get();
    if text.len() >= 2 && text.starts_with('"') && text.ends_with('"') && !text.contains('\\') {
        return Some(Cow::Borrowed(&text[1..text.len() - 1]));
    }
    serde_json::from_str::<String>(text).ok().map(Cow::Owned)
}

fn trimmed_candidate(name: Cow<'_, str>) -> Option<Cow<'_, str>> {
    let trimmed = name.trim();
    if trimmed.is_empty() || trimmed.chars().count() > MAX_CANDIDATE_CHARS || trimmed.chars().any(char::is_control) {
        return None;
    }
    if trimmed.len() == name.len() {
        return Some(name);
    }
    Some(Cow::Owned(trimmed.to_string()))
}

/// A record in the seed format, for writing (the generator's output).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoterRecord<'a> {
    /// The voter's id.
    pub id: u64,
    /// `Female`, `Male` or `Other`.
    pub gender: &'a str,
    /// Age in years.
    pub age: u64,
    /// The state's name or USPS code.
    pub state: &'a str,
    /// The county's 5-digit FIPS code, if the record names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub county: Option<&'a str>,
    /// The candidate's name.
    pub decision: &'a str,
}

impl VoterRecord<'_> {
    /// Appends the record as one line of JSON, without a newline.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        // Serializing plain strings and integers into a Vec cannot fail.
        serde_json::to_writer(out, self).expect("serializing a voter record cannot fail");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(line: &str) -> RejectReason {
        decode(line.as_bytes()).unwrap_err()
    }

    #[test]
    fn the_seed_example_decodes() {
        let line = r#"{"id":4839204812345678,"gender":"Female","age":34,"state":"Ohio","decision":"Kamala Harris"}"#;
        let ballot = decode(line.as_bytes()).unwrap();
        assert_eq!(ballot.voter, 4839204812345678);
        assert_eq!(ballot.gender, Gender::Female);
        assert_eq!(ballot.age, 34);
        assert_eq!(ballot.state.code(), "OH");
        assert_eq!(ballot.decision, "Kamala Harris");
        assert_eq!(ballot.cube_key().age_group, AgeGroup::From30To44);
    }

    #[test]
    fn lenient_where_the_format_allows() {
        let line = r#"{"extra":[1,2],"id":"17","gender":"mAlE","age":120,"state":"wy","decision":"  Jo \u00e9 "}"#;
        let ballot = decode(line.as_bytes()).unwrap();
        assert_eq!(ballot.voter, 17);
        assert_eq!(ballot.gender, Gender::Male);
        assert_eq!(ballot.state.code(), "WY");
        assert_eq!(ballot.decision, "Jo é");
    }

    #[test]
    fn every_reject_reason_is_reachable() {
        let ok = r#""gender":"Male","age":40,"state":"TX","decision":"A""#;
        assert_eq!(reason("not json"), RejectReason::Malformed);
        assert_eq!(reason("[1,2]"), RejectReason::Malformed);
        assert_eq!(reason(r#"{"id":1,"id":2}"#), RejectReason::Malformed);
        assert_eq!(reason(&format!("{{{ok}}}")), RejectReason::MissingField);
        assert_eq!(reason(&format!(r#"{{"id":null,{ok}}}"#)), RejectReason::MissingField);
        for id in [
            r#"-1"#,
            r#"1.5"#,
            r#""12a""#,
            r#""""#,
            r#"true"#,
            r#"18446744073709551616"#,
        ] {
            assert_eq!(
                reason(&format!(r#"{{"id":{id},{ok}}}"#)),
                RejectReason::InvalidId,
                "{id}"
            );
        }
        let rest = r#""age":40,"state":"TX","decision":"A""#;
        assert_eq!(
            reason(&format!(r#"{{"id":1,"gender":"X",{rest}}}"#)),
            RejectReason::InvalidGender
        );
        assert_eq!(
            reason(&format!(r#"{{"id":1,"gender":3,{rest}}}"#)),
            RejectReason::InvalidGender
        );
        let head = r#""id":1,"gender":"Male""#;
        for age in ["17", "121", "\"40\"", "40.5", "-3"] {
            let line = format!(r#"{{{head},"age":{age},"state":"TX","decision":"A"}}"#);
            assert_eq!(reason(&line), RejectReason::InvalidAge, "{age}");
        }
        let line = format!(r#"{{{head},"age":40,"state":"Atlantis","decision":"A"}}"#);
        assert_eq!(reason(&line), RejectReason::UnknownState);
        for county in ["\"99999\"", "\"4810\"", "\"48a01\"", "100000", "-1", "true", "\"\""] {
            let line = format!(r#"{{{head},"age":40,"state":"TX","county":{county},"decision":"A"}}"#);
            assert_eq!(reason(&line), RejectReason::UnknownCounty, "{county}");
        }
        let line = format!(r#"{{{head},"age":40,"state":"TX","county":"42101","decision":"A"}}"#);
        assert_eq!(reason(&line), RejectReason::CountyOutsideState);
        // Checked before the decision, after the state.
        let line = format!(r#"{{{head},"age":40,"state":"TX","county":"42101","decision":""}}"#);
        assert_eq!(reason(&line), RejectReason::CountyOutsideState);
        for (county, want) in [
            ("\"48201\"", Some(County(48201))),
            ("48201", Some(County(48201))),
            ("null", None),
        ] {
            let line = format!(r#"{{{head},"age":40,"state":"TX","county":{county},"decision":"A"}}"#);
            assert_eq!(decode(line.as_bytes()).map(|b| b.county), Ok(want), "{county}");
        }
        let long = "x".repeat(65);
        for decision in ["\"\"", "\"   \"", "5", &format!("\"{long}\""), "\"a\\nb\""] {
            let line = format!(r#"{{{head},"age":40,"state":"TX","decision":{decision}}}"#);
            assert_eq!(reason(&line), RejectReason::InvalidDecision, "{decision}");
        }
        let line = format!(r#"{{{head},"age":40,"state":"TX","decision":"{}"}}"#, "y".repeat(64));
        assert!(decode(line.as_bytes()).is_ok());
    }

    #[test]
    fn voter_ids_are_read_without_the_rest() {
        assert_eq!(voter_id(br#"{"id":"12","gender":7}"#), Some(12));
        assert_eq!(voter_id(br#"{"age":3,"id":99}"#), Some(99));
        assert_eq!(voter_id(br#"{"id":"x"}"#), None);
        assert_eq!(voter_id(b"nope"), None);
    }

    #[test]
    fn written_records_decode_to_themselves() {
        let record = VoterRecord {
            id: 42,
            gender: "Other",
            age: 70,
            state: "Maine",
            county: Some("23005"),
            decision: "Q \"R\"",
        };
        let mut line = Vec::new();
        record.write_json(&mut line);
        let ballot = decode(&line).unwrap();
        assert_eq!((ballot.voter, ballot.age, ballot.state.code()), (42, 70, "ME"));
        assert_eq!(ballot.county, Some(County(23005)));
        assert_eq!(ballot.decision, "Q \"R\"");
    }
}
