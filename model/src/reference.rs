//! Reference data shipped inside the crate: electoral-vote apportionments and the official 2020
//! results by state (FEC; see `data/SOURCES.md` for provenance and attribution).

use crate::vote::State;
use serde::Deserialize;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

const ELECTORAL_VOTES_CSV: &str = include_str!("../data/electoral_votes.csv");
const PRESIDENT_2020_CSV: &str = include_str!("../data/president_2020_by_state.csv");

/// Electoral votes needed to win: a majority of 538.
pub const VOTES_TO_WIN: u32 = 270;

/// Which census the electoral-vote apportionment comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Apportionment {
    /// 2010 census: elections 2012, 2016, 2020.
    Census2010,
    /// 2020 census: elections 2024 and 2028.
    #[default]
    Census2020,
}

impl Apportionment {
    /// Electoral votes of `state` under this apportionment.
    pub fn electoral_votes(self, state: State) -> u32 {
        let table = electoral_table();
        let row = &table[state.0 as usize];
        match self {
            Apportionment::Census2010 => row.0,
            Apportionment::Census2020 => row.1,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Apportionment::Census2010 => "2010",
            Apportionment::Census2020 => "2020",
        }
    }
}

impl fmt::Display for Apportionment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An apportionment that is neither census.
#[derive(Debug, thiserror::Error)]
#[error("unknown apportionment {0:?}: expected 2010 or 2020")]
pub struct UnknownApportionment(String);

impl FromStr for Apportionment {
    type Err = UnknownApportionment;
    fn from_str(text: &str) -> Result<Self, UnknownApportionment> {
        match text {
            "2010" => Ok(Apportionment::Census2010),
            "2020" => Ok(Apportionment::Census2020),
            other => Err(UnknownApportionment(other.to_string())),
        }
    }
}

#[derive(Deserialize)]
struct ElectoralRow {
    state_po: String,
    ev_2012_2020: u32,
    ev_2024: u32,
}

/// `(2010 census, 2020 census)` electoral votes, indexed by state.
fn electoral_table() -> &'static [(u32, u32); 51] {
    static TABLE: OnceLock<[(u32, u32); 51]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut table = [(0, 0); 51];
        let mut reader = csv::Reader::from_reader(ELECTORAL_VOTES_CSV.as_bytes());
        for row in reader.deserialize::<ElectoralRow>() {
            // The file is compiled in and checked by the tests below.
            let row = row.expect("embedded electoral_votes.csv is valid");
            let state = State::lookup(&row.state_po).expect("embedded state code is known");
            table[state.0 as usize] = (row.ev_2012_2020, row.ev_2024);
        }
        table
    })
}

/// One row of an official results table: votes for a candidate in a state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfficialRow {
    pub state: State,
    pub candidate: String,
    pub votes: u64,
}

#[derive(Deserialize)]
struct ResultsCsvRow {
    state_po: String,
    candidate: String,
    votes: u64,
}

/// Why a results table cannot be read; `line` counts the header as line 1.
#[derive(Debug, thiserror::Error)]
pub enum ResultsTableError {
    #[error("line {line}: {cause}")]
    Csv { line: usize, cause: csv::Error },
    #[error("line {line}: unknown state {code:?}")]
    UnknownState { line: usize, code: String },
    #[error("line {line}: empty candidate")]
    EmptyCandidate { line: usize },
}

/// Parses a results table in the format of `data/president_2020_by_state.csv`
/// (`state,state_po,candidate,party,votes`; only `state_po`, `candidate` and `votes` are used).
pub fn parse_official_results(csv_text: &[u8]) -> Result<Vec<OfficialRow>, ResultsTableError> {
    let mut reader = csv::Reader::from_reader(csv_text);
    let mut rows = Vec::new();
    for (index, row) in reader.deserialize::<ResultsCsvRow>().enumerate() {
        let line = index + 2;
        let row = row.map_err(|cause| ResultsTableError::Csv { line, cause })?;
        let state = State::lookup(&row.state_po).ok_or_else(|| ResultsTableError::UnknownState {
            line,
            code: row.state_po.clone(),
        })?;
        let candidate = row.candidate.trim().to_string();
        if candidate.is_empty() {
            return Err(ResultsTableError::EmptyCandidate { line });
        }
        rows.push(OfficialRow {
            state,
            candidate,
            votes: row.votes,
        });
    }
    Ok(rows)
}

/// The official 2020 presidential results by state (FEC), shipped with tally.
pub fn president_2020() -> &'static [OfficialRow] {
    static ROWS: OnceLock<Vec<OfficialRow>> = OnceLock::new();
    ROWS.get_or_init(|| {
        parse_official_results(PRESIDENT_2020_CSV.as_bytes()).expect("embedded president_2020_by_state.csv is valid")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apportionments_each_sum_to_538() {
        for apportionment in [Apportionment::Census2010, Apportionment::Census2020] {
            let total: u32 = State::all().map(|s| apportionment.electoral_votes(s)).sum();
            assert_eq!(total, 538, "{apportionment}");
        }
        let texas = State::lookup("TX").unwrap();
        assert_eq!(Apportionment::Census2010.electoral_votes(texas), 38);
        assert_eq!(Apportionment::Census2020.electoral_votes(texas), 40);
    }

    #[test]
    fn official_2020_results_match_the_fec_national_totals() {
        let rows = president_2020();
        assert_eq!(rows.len(), 153);
        let total = |name: &str| -> u64 { rows.iter().filter(|r| r.candidate == name).map(|r| r.votes).sum() };
        assert_eq!(total("Biden"), 81_283_501);
        assert_eq!(total("Trump"), 74_223_975);
    }

    #[test]
    fn bad_results_tables_are_reported_with_their_line() {
        let err = parse_official_results(b"state,state_po,candidate,party,votes\nX,ZZ,A,B,1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("ZZ"), "{err}");
        let err = parse_official_results(b"state,state_po,candidate,party,votes\nX,OH,A,B,many\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
