//! Reference data shipped inside the crate: electoral-vote apportionments, the official results
//! by state of 2016, 2020 and 2024, and the poll closing times of 2020 and 2024 (see
//! `data/SOURCES.md` for provenance and attribution).

use crate::units::County;
use crate::vote::State;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

const ELECTORAL_VOTES_CSV: &str = include_str!("../data/electoral_votes.csv");
const PRESIDENT_2020_CSV: &str = include_str!("../data/president_2020_by_state.csv");
const PRESIDENT_2016_CSV: &str = include_str!("../data/president_2016_by_state.csv");
const PRESIDENT_2024_CSV: &str = include_str!("../data/president_2024_by_state.csv");
const COUNTY_2016_CSV: &str = include_str!("../data/president_2016_by_county.csv");
const COUNTY_2020_CSV: &str = include_str!("../data/president_2020_by_county.csv");
const COUNTY_2024_CSV: &str = include_str!("../data/president_2024_by_county.csv");
/// The shipped county tables, whose units are the counties tally knows ([`crate::units`]).
pub(crate) const COUNTY_TABLES: [&str; 3] = [COUNTY_2016_CSV, COUNTY_2020_CSV, COUNTY_2024_CSV];
const POLL_CLOSING_2020_CSV: &str = include_str!("../data/poll_closing_2020.csv");
const POLL_CLOSING_2024_CSV: &str = include_str!("../data/poll_closing_2024.csv");

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
    /// `2020` or `2010`, the census year.
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

/// One row of an official results table: votes for a candidate in a state, or in one county
/// of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OfficialRow {
    /// The state.
    pub state: State,
    /// The county, in a county table; `None` in a state table.
    pub county: Option<County>,
    /// The candidate, as the table names them.
    pub candidate: String,
    /// As the table spells it (e.g. `DEMOCRAT`); swing compares elections party by party.
    pub party: String,
    /// Votes in the state (or the county).
    pub votes: u64,
}

#[derive(Deserialize)]
struct ResultsCsvRow {
    state_po: String,
    #[serde(default)]
    county_fips: Option<String>,
    candidate: String,
    #[serde(default)]
    party: String,
    votes: u64,
}

#[allow(missing_docs, reason = "each variant is documented by its #[error] message")]
/// Why a results table cannot be read; `line` counts the header as line 1.
#[derive(Debug, thiserror::Error)]
pub enum ResultsTableError {
    #[error("line {line}: {cause}")]
    Csv { line: usize, cause: csv::Error },
    #[error("line {line}: unknown state {code:?}")]
    UnknownState { line: usize, code: String },
    #[error("line {line}: empty candidate")]
    EmptyCandidate { line: usize },
    #[error("line {line}: colour {color:?} is not #rrggbb")]
    BadColor { line: usize, color: String },
    #[error("line {line}: {time:?} is not a time HH:MM")]
    BadTime { line: usize, time: String },
    #[error("no row for {code}")]
    MissingState { code: String },
    #[error("line {line}: {code:?} is no county's 5-digit FIPS code")]
    UnknownCounty { line: usize, code: String },
    #[error("line {line}: county {code} is not in {state}")]
    CountyOutsideState {
        line: usize,
        code: String,
        state: &'static str,
    },
}

/// Parses a results table in the format of `data/president_2020_by_state.csv`
/// (`state,state_po,candidate,party,votes`; `state` is not used, and a missing party is empty)
/// or of `data/president_2020_by_county.csv` (`state_po,county_fips,county_name,candidate,
/// party,votes`, one row per county and candidate; the county must be one tally knows, in
/// that state).
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
        let county = match row.county_fips.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(code) => {
                let county = County::parse(code)
                    .filter(|county| county.info().is_some())
                    .ok_or_else(|| ResultsTableError::UnknownCounty {
                        line,
                        code: code.to_string(),
                    })?;
                if county.state() != Some(state) {
                    return Err(ResultsTableError::CountyOutsideState {
                        line,
                        code: code.to_string(),
                        state: state.code(),
                    });
                }
                Some(county)
            }
        };
        rows.push(OfficialRow {
            state,
            county,
            candidate,
            party: row.party.trim().to_string(),
            votes: row.votes,
        });
    }
    Ok(rows)
}

/// A candidate as a candidates file (`name,party[,color]`) describes them, for streams whose
/// names are in no results table.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
pub struct CandidateInfo {
    /// The candidate's name, as the stream spells it.
    pub name: String,
    /// The party.
    pub party: String,
    /// `#rrggbb`, when given.
    #[serde(default)]
    pub color: Option<String>,
}

/// Parses a candidates file: a header, then `name,party[,color]` per line.
pub fn parse_candidates(csv_text: &[u8]) -> Result<Vec<CandidateInfo>, ResultsTableError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(csv_text);
    let mut candidates = Vec::new();
    for (index, row) in reader.deserialize::<CandidateInfo>().enumerate() {
        let line = index + 2;
        let mut row = row.map_err(|cause| ResultsTableError::Csv { line, cause })?;
        row.name = row.name.trim().to_string();
        row.party = row.party.trim().to_string();
        if row.name.is_empty() {
            return Err(ResultsTableError::EmptyCandidate { line });
        }
        row.color = row.color.map(|c| c.trim().to_string()).filter(|c| !c.is_empty());
        if let Some(color) = &row.color {
            let hex = color
                .strip_prefix('#')
                .filter(|h| h.len() == 6 && h.chars().all(|c| c.is_ascii_hexdigit()));
            if hex.is_none() {
                return Err(ResultsTableError::BadColor {
                    line,
                    color: color.clone(),
                });
            }
        }
        candidates.push(row);
    }
    Ok(candidates)
}

/// When each state's first polls closed, in hours after midnight Eastern time (`20.5` is
/// 8:30 p.m.; past midnight counts on: `24.0`, `25.0`).
#[derive(Clone, Debug, PartialEq)]
pub struct PollClosings(pub BTreeMap<State, f64>);

#[derive(Deserialize)]
struct PollClosingRow {
    state_po: String,
    closes_et: String,
}

/// Parses a poll-closing table (`state_po,closes_et` with `HH:MM`, see
/// `data/poll_closing_2020.csv`); every state must be there once.
pub fn parse_poll_closings(csv_text: &[u8]) -> Result<PollClosings, ResultsTableError> {
    let mut reader = csv::Reader::from_reader(csv_text);
    let mut closings = BTreeMap::new();
    for (index, row) in reader.deserialize::<PollClosingRow>().enumerate() {
        let line = index + 2;
        let row = row.map_err(|cause| ResultsTableError::Csv { line, cause })?;
        let state = State::lookup(&row.state_po).ok_or_else(|| ResultsTableError::UnknownState {
            line,
            code: row.state_po.clone(),
        })?;
        let hours = row
            .closes_et
            .trim()
            .split_once(':')
            .and_then(|(h, m)| Some((h.parse::<u32>().ok()?, m.parse::<u32>().ok()?)))
            .filter(|(h, m)| *h <= 30 && *m < 60)
            .map(|(h, m)| f64::from(h) + f64::from(m) / 60.0)
            .ok_or_else(|| ResultsTableError::BadTime {
                line,
                time: row.closes_et.clone(),
            })?;
        closings.insert(state, hours);
    }
    if let Some(missing) = State::all().find(|s| !closings.contains_key(s)) {
        return Err(ResultsTableError::MissingState {
            code: missing.code().to_string(),
        });
    }
    Ok(PollClosings(closings))
}

/// The 2020 poll closings shipped with tally (see `data/SOURCES.md`).
pub fn poll_closing_2020() -> &'static PollClosings {
    static CLOSINGS: OnceLock<PollClosings> = OnceLock::new();
    CLOSINGS.get_or_init(|| {
        parse_poll_closings(POLL_CLOSING_2020_CSV.as_bytes()).expect("embedded poll_closing_2020.csv is valid")
    })
}

/// The 2024 poll closings shipped with tally: 2020's, with Iowa an hour earlier (state law since
/// 2021; see `data/SOURCES.md`).
pub fn poll_closing_2024() -> &'static PollClosings {
    static CLOSINGS: OnceLock<PollClosings> = OnceLock::new();
    CLOSINGS.get_or_init(|| {
        parse_poll_closings(POLL_CLOSING_2024_CSV.as_bytes()).expect("embedded poll_closing_2024.csv is valid")
    })
}

/// The 2016 presidential results by state (MIT Election Lab, reconciled as `data/SOURCES.md`
/// says), shipped with tally.
pub fn president_2016() -> &'static [OfficialRow] {
    static ROWS: OnceLock<Vec<OfficialRow>> = OnceLock::new();
    ROWS.get_or_init(|| {
        parse_official_results(PRESIDENT_2016_CSV.as_bytes()).expect("embedded president_2016_by_state.csv is valid")
    })
}

/// The official 2024 presidential results by state (FEC), shipped with tally.
pub fn president_2024() -> &'static [OfficialRow] {
    static ROWS: OnceLock<Vec<OfficialRow>> = OnceLock::new();
    ROWS.get_or_init(|| {
        parse_official_results(PRESIDENT_2024_CSV.as_bytes()).expect("embedded president_2024_by_state.csv is valid")
    })
}

/// The official 2020 presidential results by state (FEC), shipped with tally.
pub fn president_2020() -> &'static [OfficialRow] {
    static ROWS: OnceLock<Vec<OfficialRow>> = OnceLock::new();
    ROWS.get_or_init(|| {
        parse_official_results(PRESIDENT_2020_CSV.as_bytes()).expect("embedded president_2020_by_state.csv is valid")
    })
}

/// The shipped results of `year` (2016, 2020, 2024) by county: each state's per-candidate sum
/// is exactly the state table's (see `scripts/build-county-tables.py` and `data/SOURCES.md`).
pub fn president_by_county(year: u16) -> Option<&'static [OfficialRow]> {
    static ROWS: [OnceLock<Vec<OfficialRow>>; 3] = [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let index = match year {
        2016 => 0,
        2020 => 1,
        2024 => 2,
        _ => return None,
    };
    Some(ROWS[index].get_or_init(|| {
        parse_official_results(COUNTY_TABLES[index].as_bytes()).expect("embedded county table is valid")
    }))
}

/// The exact number of records (or expected votes) each of `rows` stands for at `scale`: per
/// state and candidate, `round(total × scale)` (the state table's figure, whatever the table's
/// units), apportioned over the group's rows by the largest-remainder method (ties to the
/// earlier row). A state table's rows are their own groups, so each is `round(votes × scale)`.
/// The generator and the expectation both scale with this, so they agree to the vote.
pub fn scaled(rows: &[OfficialRow], scale: f64) -> Vec<u64> {
    let mut groups: BTreeMap<(State, &str), Vec<usize>> = BTreeMap::new();
    for (index, row) in rows.iter().enumerate() {
        groups
            .entry((row.state, row.candidate.as_str()))
            .or_default()
            .push(index);
    }
    let mut counts = vec![0u64; rows.len()];
    for members in groups.values() {
        let total: u64 = members.iter().map(|&i| rows[i].votes).sum();
        let target = (total as f64 * scale).round() as u64;
        if total == 0 {
            continue;
        }
        // Exact shares in integers: target × votes / total, with u128 against overflow.
        let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(members.len());
        let mut given = 0u64;
        for &i in members {
            let exact = u128::from(target) * u128::from(rows[i].votes);
            let share = (exact / u128::from(total)) as u64;
            counts[i] = share;
            given += share;
            remainders.push((exact % u128::from(total), i));
        }
        remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for &(_, i) in remainders.iter().take((target - given) as usize) {
            counts[i] += 1;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn county_tables_sum_to_the_state_tables_exactly() {
        for (year, states) in [
            (2016, president_2016()),
            (2020, president_2020()),
            (2024, president_2024()),
        ] {
            let counties = president_by_county(year).unwrap();
            let mut sums: BTreeMap<(State, String), u64> = BTreeMap::new();
            for row in counties {
                let county = row.county.expect("a county table's rows have counties");
                assert_eq!(county.state(), Some(row.state), "{year} {county}");
                *sums.entry((row.state, row.candidate.clone())).or_default() += row.votes;
            }
            let official: BTreeMap<(State, String), u64> = states
                .iter()
                .map(|r| ((r.state, r.candidate.clone()), r.votes))
                .collect();
            assert_eq!(sums, official, "{year}");
            // Scaled, the counties still sum to the scaled state table.
            for scale in [0.01, 0.0007] {
                let mut scaled_sums: BTreeMap<(State, String), u64> = BTreeMap::new();
                for (row, count) in counties.iter().zip(scaled(counties, scale)) {
                    *scaled_sums.entry((row.state, row.candidate.clone())).or_default() += count;
                }
                let want: BTreeMap<(State, String), u64> = states
                    .iter()
                    .zip(scaled(states, scale))
                    .map(|(r, n)| ((r.state, r.candidate.clone()), n))
                    .collect();
                assert_eq!(scaled_sums, want, "{year} at {scale}");
            }
        }
        assert_eq!(president_by_county(2012), None);
    }

    #[test]
    fn county_rows_must_name_a_known_county_of_their_state() {
        let head = "state_po,county_fips,county_name,candidate,party,votes\n";
        let ok = parse_official_results(format!("{head}PA,42101,Philadelphia,A,,5\n").as_bytes()).unwrap();
        assert_eq!(ok[0].county, Some(County(42101)));
        for (row, says) in [
            ("PA,99999,X,A,,5", "99999"),
            ("PA,4210,X,A,,5", "4210"),
            ("OH,42101,X,A,,5", "not in OH"),
        ] {
            let err = parse_official_results(format!("{head}{row}\n").as_bytes())
                .unwrap_err()
                .to_string();
            assert!(err.contains(says) && err.contains("line 2"), "{row}: {err}");
        }
    }

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
    fn poll_closings_cover_every_state_from_six_pm_to_midnight() {
        let closings = poll_closing_2020();
        assert_eq!(closings.0.len(), 51);
        let first = closings.0.values().cloned().fold(f64::MAX, f64::min);
        let last = closings.0.values().cloned().fold(0.0, f64::max);
        assert_eq!((first, last), (18.0, 24.0));
        assert_eq!(closings.0[&State::lookup("AR").unwrap()], 20.5);
        let err = parse_poll_closings(b"state_po,closes_et\nOH,7pm\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("7pm"), "{err}");
        let err = parse_poll_closings(b"state_po,closes_et\nOH,19:30\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("no row for"), "{err}");
    }

    #[test]
    fn candidates_files_give_parties_and_optional_colours() {
        let parsed = parse_candidates(b"name,party,color\nAda,DEMOCRAT,#1f5fbf\nBob,REPUBLICAN\n").unwrap();
        assert_eq!(parsed[0].color.as_deref(), Some("#1f5fbf"));
        assert_eq!(parsed[1].party, "REPUBLICAN");
        assert_eq!(parsed[1].color, None);
        let err = parse_candidates(b"name,party,color\nAda,D,blue\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2") && err.contains("blue"), "{err}");
    }

    /// Whole states, winner-take-all: electoral votes of (the Democrat, the Republican).
    fn winner_take_all(rows: &[OfficialRow], d: &str, r: &str, apportionment: Apportionment) -> [u32; 2] {
        let mut electoral = [0u32; 2];
        for state in State::all() {
            let votes = |name: &str| {
                rows.iter()
                    .find(|row| row.state == state && row.candidate == name)
                    .map_or(0, |row| row.votes)
            };
            electoral[usize::from(votes(r) > votes(d))] += apportionment.electoral_votes(state);
        }
        electoral
    }

    #[test]
    fn results_2016_are_within_a_few_hundred_votes_of_the_fec_and_give_305_233() {
        let rows = president_2016();
        assert_eq!(rows.len(), 153);
        let total = |name: &str| -> u64 { rows.iter().filter(|r| r.candidate == name).map(|r| r.votes).sum() };
        // The FEC's national totals are 65,853,514 and 62,984,828 (see data/SOURCES.md).
        assert_eq!(total("Clinton"), 65_853_514 + 67);
        assert_eq!(total("Trump"), 62_984_828 + 234);
        // Certified 304-227: Maine's 2nd district elector (Trump) and seven faithless electors.
        assert_eq!(
            winner_take_all(rows, "Clinton", "Trump", Apportionment::Census2010),
            [233, 305]
        );
    }

    #[test]
    fn official_2024_results_match_the_fec_totals_and_the_certified_electoral_votes() {
        let rows = president_2024();
        assert_eq!(rows.len(), 153);
        let total = |name: &str| -> u64 { rows.iter().filter(|r| r.candidate == name).map(|r| r.votes).sum() };
        assert_eq!(total("Harris"), 75_017_613);
        assert_eq!(total("Trump"), 77_302_580);
        assert_eq!(rows.iter().map(|r| r.votes).sum::<u64>(), 155_238_302);
        // Whole states, winner-take-all, under the 2020 census: the certified 312-226 (Maine's
        // and Nebraska's district electors, one each way, cancel out).
        let mut electoral = [0u32; 2];
        for state in State::all() {
            let votes = |name: &str| {
                rows.iter()
                    .find(|r| r.state == state && r.candidate == name)
                    .map_or(0, |r| r.votes)
            };
            let seats = Apportionment::Census2020.electoral_votes(state);
            electoral[usize::from(votes("Trump") > votes("Harris"))] += seats;
        }
        assert_eq!(electoral, [226, 312]);
        assert_eq!(poll_closing_2024().0[&State::lookup("IA").unwrap()], 21.0);
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
