//! The domain: states, genders, age groups, candidates, reject reasons, and the cube key that
//! every count is made of.

use hashbrown::HashMap;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::OnceLock;

/// The 50 states and DC in name order: `(full name, USPS code)`. A [`State`] is an index here.
pub const STATES: [(&str, &str); 51] = [
    ("Alabama", "AL"),
    ("Alaska", "AK"),
    ("Arizona", "AZ"),
    ("Arkansas", "AR"),
    ("California", "CA"),
    ("Colorado", "CO"),
    ("Connecticut", "CT"),
    ("Delaware", "DE"),
    ("District of Columbia", "DC"),
    ("Florida", "FL"),
    ("Georgia", "GA"),
    ("Hawaii", "HI"),
    ("Idaho", "ID"),
    ("Illinois", "IL"),
    ("Indiana", "IN"),
    ("Iowa", "IA"),
    ("Kansas", "KS"),
    ("Kentucky", "KY"),
    ("Louisiana", "LA"),
    ("Maine", "ME"),
    ("Maryland", "MD"),
    ("Massachusetts", "MA"),
    ("Michigan", "MI"),
    ("Minnesota", "MN"),
    ("Mississippi", "MS"),
    ("Missouri", "MO"),
    ("Montana", "MT"),
    ("Nebraska", "NE"),
    ("Nevada", "NV"),
    ("New Hampshire", "NH"),
    ("New Jersey", "NJ"),
    ("New Mexico", "NM"),
    ("New York", "NY"),
    ("North Carolina", "NC"),
    ("North Dakota", "ND"),
    ("Ohio", "OH"),
    ("Oklahoma", "OK"),
    ("Oregon", "OR"),
    ("Pennsylvania", "PA"),
    ("Rhode Island", "RI"),
    ("South Carolina", "SC"),
    ("South Dakota", "SD"),
    ("Tennessee", "TN"),
    ("Texas", "TX"),
    ("Utah", "UT"),
    ("Vermont", "VT"),
    ("Virginia", "VA"),
    ("Washington", "WA"),
    ("West Virginia", "WV"),
    ("Wisconsin", "WI"),
    ("Wyoming", "WY"),
];

/// A voter's id, as in the record.
pub type VoterId = u64;

/// A state (or DC), as an index into [`STATES`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct State(pub u8);

impl State {
    /// Every state, in [`STATES`] order.
    pub fn all() -> impl Iterator<Item = State> {
        (0..STATES.len() as u8).map(State)
    }
    /// The full name (`Pennsylvania`).
    pub fn name(self) -> &'static str {
        STATES[self.0 as usize].0
    }
    /// The USPS code (`PA`).
    pub fn code(self) -> &'static str {
        STATES[self.0 as usize].1
    }
    /// Looks a state up by full name or USPS code, ignoring ASCII case and surrounding spaces.
    pub fn lookup(text: &str) -> Option<State> {
        static INDEX: OnceLock<HashMap<String, State>> = OnceLock::new();
        let index = INDEX.get_or_init(|| {
            let mut index = HashMap::new();
            for state in State::all() {
                index.insert(state.name().to_ascii_lowercase(), state);
                index.insert(state.code().to_ascii_lowercase(), state);
            }
            index
        });
        let text = text.trim();
        // Names are at most 20 bytes; lower-case into a stack buffer to keep the hot path free
        // of allocation.
        let mut buffer = [0u8; 32];
        let bytes = text.as_bytes();
        if bytes.len() > buffer.len() {
            return None;
        }
        let lowered = &mut buffer[..bytes.len()];
        lowered.copy_from_slice(bytes);
        lowered.make_ascii_lowercase();
        std::str::from_utf8(lowered)
            .ok()
            .and_then(|key| index.get(key).copied())
    }
}

/// A voter's gender as the seed format spells it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Gender {
    /// Female.
    Female,
    /// Male.
    Male,
    /// Neither, or not said.
    Other,
}

impl Gender {
    /// Every gender, in the order charts show them.
    pub const ALL: [Gender; 3] = [Gender::Female, Gender::Male, Gender::Other];

    /// As the seed record spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Female => "Female",
            Gender::Male => "Male",
            Gender::Other => "Other",
        }
    }
    /// Case-insensitive, surrounding spaces ignored.
    pub fn parse(text: &str) -> Option<Gender> {
        let text = text.trim();
        Gender::ALL
            .into_iter()
            .find(|gender| gender.as_str().eq_ignore_ascii_case(text))
    }
}

/// The age groups that results are broken down by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum AgeGroup {
    /// 18 to 29.
    From18To29,
    /// 30 to 44.
    From30To44,
    /// 45 to 64.
    From45To64,
    /// 65 and over.
    From65,
}

impl AgeGroup {
    /// Every group, youngest first.
    pub const ALL: [AgeGroup; 4] = [
        AgeGroup::From18To29,
        AgeGroup::From30To44,
        AgeGroup::From45To64,
        AgeGroup::From65,
    ];
    /// Valid voter ages.
    pub const AGES: std::ops::RangeInclusive<u64> = 18..=120;

    /// The group of a valid age (see [`AgeGroup::AGES`]).
    pub fn of(age: u64) -> Option<AgeGroup> {
        match age {
            18..=29 => Some(AgeGroup::From18To29),
            30..=44 => Some(AgeGroup::From30To44),
            45..=64 => Some(AgeGroup::From45To64),
            65..=120 => Some(AgeGroup::From65),
            _ => None,
        }
    }
    /// As charts and documents label it (`18-29`).
    pub fn label(self) -> &'static str {
        match self {
            AgeGroup::From18To29 => "18-29",
            AgeGroup::From30To44 => "30-44",
            AgeGroup::From45To64 => "45-64",
            AgeGroup::From65 => "65+",
        }
    }
}

/// A candidate, named by a stable 64-bit hash of its name.
///
/// The candidate set is open, and every worker (in every process) must give the same name the
/// same key without talking to the others, so the key is a fixed hash (FNV-1a) rather than an
/// interning counter. Names travel through the graph separately (see `Tally::Candidate`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CandidateId(pub u64);

impl CandidateId {
    /// The id of the candidate named `name` (a hash of it, so every worker agrees without talking).
    pub fn of(name: &str) -> CandidateId {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for byte in name.as_bytes() {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
        CandidateId(hash)
    }
}

/// The longest candidate name accepted, in characters.
pub const MAX_CANDIDATE_CHARS: usize = 64;

/// One cell of the results cube: every count tally publishes is a sum over these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CubeKey {
    /// Where the vote was cast.
    pub state: State,
    /// The voter's gender.
    pub gender: Gender,
    /// The voter's age group.
    pub age_group: AgeGroup,
    /// Who the vote is for.
    pub candidate: CandidateId,
}

/// What a counted vote is: its cube cell and, when the record named one, its county. The graph
/// keeps one per voter; the cube and the county × candidate counts are both sums over these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VoteKey {
    /// The cube cell.
    pub cube: CubeKey,
    /// The county, if the record named one.
    pub county: Option<crate::units::County>,
}

impl VoteKey {
    /// The county × candidate cell this vote counts in, if it has a county.
    pub fn unit(&self) -> Option<UnitKey> {
        self.county.map(|county| UnitKey {
            county,
            candidate: self.cube.candidate,
        })
    }
}

/// One county × candidate cell: votes by reporting unit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct UnitKey {
    /// The county.
    pub county: crate::units::County,
    /// Who the vote is for.
    pub candidate: CandidateId,
}

/// Where a record came from: a stream (Kafka partition, or file in path order) and an offset in
/// it (Kafka offset, or byte offset of the line). "First" for one-voter-one-vote means least
/// position, which makes it independent of how records fall into epochs or workers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Position {
    /// The stream: a Kafka partition, or a file's index in path order.
    pub stream: u32,
    /// The offset in it (a Kafka offset, or a byte offset).
    pub offset: u64,
}

impl Position {
    /// The position `offset` in `stream`.
    pub fn new(stream: u32, offset: u64) -> Position {
        Position { stream, offset }
    }
}

/// Why a record was not counted as a vote.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RejectReason {
    /// Not a JSON object of the seed format (or longer than the record limit).
    Malformed,
    /// A field is missing.
    MissingField,
    /// The id is not a non-negative integer (a number or a string of digits) that fits 64 bits.
    InvalidId,
    /// The gender is not `Female`, `Male` or `Other`.
    InvalidGender,
    /// The age is not an integer within `AgeGroup::AGES` (18 to 120).
    InvalidAge,
    /// The state is no state's name or code.
    UnknownState,
    /// The county is not the 5-digit FIPS code of a county tally knows (see `units`).
    UnknownCounty,
    /// The county is a known one, but not in the record's state.
    CountyOutsideState,
    /// The decision is empty, too long, or holds control characters.
    InvalidDecision,
    /// The voter voted already: a later record of the same id.
    DuplicateVoter,
}

impl RejectReason {
    /// Every reason, in the order metrics list them.
    pub const ALL: [RejectReason; 10] = [
        RejectReason::Malformed,
        RejectReason::MissingField,
        RejectReason::InvalidId,
        RejectReason::InvalidGender,
        RejectReason::InvalidAge,
        RejectReason::UnknownState,
        RejectReason::UnknownCounty,
        RejectReason::CountyOutsideState,
        RejectReason::InvalidDecision,
        RejectReason::DuplicateVoter,
    ];

    /// As documents and metrics name it (`invalid_age`).
    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::Malformed => "malformed",
            RejectReason::MissingField => "missing_field",
            RejectReason::InvalidId => "invalid_id",
            RejectReason::InvalidGender => "invalid_gender",
            RejectReason::InvalidAge => "invalid_age",
            RejectReason::UnknownState => "unknown_state",
            RejectReason::UnknownCounty => "unknown_county",
            RejectReason::CountyOutsideState => "county_outside_state",
            RejectReason::InvalidDecision => "invalid_decision",
            RejectReason::DuplicateVoter => "duplicate_voter",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_found_by_name_or_code_in_any_case() {
        assert_eq!(State::lookup("Ohio").map(State::code), Some("OH"));
        assert_eq!(State::lookup("oh").map(State::code), Some("OH"));
        assert_eq!(State::lookup(" new YORK ").map(State::code), Some("NY"));
        assert_eq!(State::lookup("District of Columbia").map(State::code), Some("DC"));
        assert_eq!(State::lookup("Atlantis"), None);
        assert_eq!(State::lookup(""), None);
        assert_eq!(State::lookup(&"x".repeat(100)), None);
    }

    #[test]
    fn age_groups_have_their_documented_bounds() {
        assert_eq!(AgeGroup::of(17), None);
        assert_eq!(AgeGroup::of(18), Some(AgeGroup::From18To29));
        assert_eq!(AgeGroup::of(30), Some(AgeGroup::From30To44));
        assert_eq!(AgeGroup::of(64), Some(AgeGroup::From45To64));
        assert_eq!(AgeGroup::of(120), Some(AgeGroup::From65));
        assert_eq!(AgeGroup::of(121), None);
    }

    #[test]
    fn gender_parses_case_insensitively() {
        assert_eq!(Gender::parse("female"), Some(Gender::Female));
        assert_eq!(Gender::parse("MALE"), Some(Gender::Male));
        assert_eq!(Gender::parse("Other"), Some(Gender::Other));
        assert_eq!(Gender::parse("unknown"), None);
    }
}
