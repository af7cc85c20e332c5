//! Reporting units below the state: counties and county-equivalents, by 5-digit FIPS code.
//!
//! A record may name its county (`"county":"42101"`); newsrooms report by these units, with
//! expected vote and % in per unit. The units tally knows are those of the county tables it
//! ships (`data/president_{year}_by_county.csv`, built by `scripts/build-county-tables.py`):
//! every county and county-equivalent of 2016–2024, Connecticut's planning regions (its units
//! since 2022), and Alaska as one unit, `02000`. FIPS codes are a closed national standard, so a
//! table or record naming a code outside this set names no county.

use crate::vote::State;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::OnceLock;

/// A county or county-equivalent: its FIPS code (`42101` is Philadelphia County, PA).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct County(pub u32);

/// What tally knows of a county: its state and name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CountyInfo {
    /// The county.
    pub county: County,
    /// The state it lies in.
    pub state: State,
    /// Its name (`Philadelphia County`).
    pub name: String,
    /// Its place among its state's counties, by code, from 0: a dense index for tables kept
    /// per state (see [`County::count_in`]).
    pub in_state: u16,
}

impl County {
    /// The highest 5-digit code.
    const CODES: u32 = 100_000;

    /// Parses exactly five ASCII digits.
    pub fn parse(text: &str) -> Option<County> {
        let bytes = text.as_bytes();
        if bytes.len() != 5 || !bytes.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let code = bytes
            .iter()
            .fold(0u32, |code, digit| code * 10 + u32::from(digit - b'0'));
        Some(County(code))
    }

    /// What tally knows of this county, if it is one.
    #[inline]
    pub fn info(self) -> Option<&'static CountyInfo> {
        let registry = registry();
        let slot = *registry.index.get(self.0 as usize)?;
        (slot != 0).then(|| &registry.counties[usize::from(slot) - 1])
    }

    /// The state of a known county.
    #[inline]
    pub fn state(self) -> Option<State> {
        self.place().map(|(state, _)| state)
    }

    /// A known county's state and place in it ([`CountyInfo::in_state`]), from one small word
    /// per code: the hot path (the codec, the voter table) asks this of every ballot.
    #[inline]
    pub fn place(self) -> Option<(State, u16)> {
        let word = *registry().places.get(self.0 as usize)?;
        (word != 0).then_some((State((word >> 16) as u8 & 0x7f), word as u16))
    }

    /// Every known county, by code.
    pub fn all() -> &'static [CountyInfo] {
        &registry().counties
    }

    /// How many counties `state` has ([`CountyInfo::in_state`] is below it).
    pub fn count_in(state: State) -> usize {
        usize::from(registry().per_state[usize::from(state.0)])
    }

    /// The counties of `state`, in their order within it: the county at `i` has
    /// `place() == Some((state, i))`.
    pub fn of_state(state: State) -> &'static [CountyInfo] {
        let registry = registry();
        let first = registry
            .first
            .get(usize::from(state.0))
            .map_or(0, |&first| first as usize);
        &registry.by_state[first..first + Self::count_in(state)]
    }
}

impl fmt::Display for County {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:05}", self.0)
    }
}

struct Registry {
    counties: Vec<CountyInfo>,
    /// Counties per state, by state index.
    per_state: Vec<u16>,
    /// The counties grouped by state, each state's in their order within it...
    by_state: Vec<CountyInfo>,
    /// ...and where each state's group starts, by state index.
    first: Vec<u32>,
    /// Code → position in `counties` plus one (0: no county).
    index: Vec<u16>,
    /// Code → `1 << 23 | state << 16 | in_state` (0: no county).
    places: Vec<u32>,
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut counties: std::collections::BTreeMap<County, CountyInfo> = Default::default();
        for text in crate::reference::COUNTY_TABLES {
            let mut reader = csv::Reader::from_reader(text.as_bytes());
            for row in reader.records() {
                // The tables are compiled in and checked by `reference`'s tests.
                let row = row.expect("embedded county table is valid CSV");
                let state = State::lookup(&row[0]).expect("embedded county table names states");
                let county = County::parse(&row[1]).expect("embedded county table has 5-digit codes");
                counties.entry(county).or_insert_with(|| CountyInfo {
                    county,
                    state,
                    name: row[2].to_string(),
                    in_state: 0,
                });
            }
        }
        let mut counties: Vec<CountyInfo> = counties.into_values().collect();
        let mut per_state = vec![0u16; State::all().count()];
        for info in &mut counties {
            let count = &mut per_state[usize::from(info.state.0)];
            info.in_state = *count;
            *count += 1;
        }
        let mut index = vec![0u16; County::CODES as usize];
        let mut places = vec![0u32; County::CODES as usize];
        for (position, info) in counties.iter().enumerate() {
            index[info.county.0 as usize] = u16::try_from(position + 1).expect("fewer than 65,535 counties");
            places[info.county.0 as usize] = 1 << 23 | u32::from(info.state.0) << 16 | u32::from(info.in_state);
        }
        let mut by_state = counties.clone();
        by_state.sort_by_key(|info| (info.state, info.in_state));
        let mut first = vec![0u32; per_state.len()];
        for (position, info) in by_state.iter().enumerate().rev() {
            first[usize::from(info.state.0)] = position as u32;
        }
        Registry {
            counties,
            per_state,
            by_state,
            first,
            index,
            places,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_five_digits_and_known_ones_have_their_state() {
        assert_eq!(County::parse("42101"), Some(County(42101)));
        assert_eq!(County::parse("01001"), Some(County(1001)));
        for bad in ["4210", "421011", "4210a", " 42101", "", "-4210"] {
            assert_eq!(County::parse(bad), None, "{bad:?}");
        }
        let philadelphia = County(42101).info().unwrap();
        assert_eq!(
            (philadelphia.state.code(), philadelphia.name.as_str()),
            ("PA", "Philadelphia County")
        );
        assert_eq!(County(1001).to_string(), "01001");
        assert_eq!(County(2000).state().map(State::code), Some("AK"));
        assert_eq!(County(99999).info(), None);
        assert_eq!(County(42999).info(), None);
        // Connecticut: counties before 2024, planning regions since.
        assert_eq!(County(9001).state().map(State::code), Some("CT"));
        assert_eq!(County(9110).state().map(State::code), Some("CT"));
        assert!(County::all().len() > 3100, "{}", County::all().len());
        assert!(State::all().all(|s| County::all().iter().any(|c| c.state == s)));
        let pa = State::lookup("PA").unwrap();
        assert_eq!(County::count_in(pa), 67);
        for state in State::all() {
            let counties = County::of_state(state);
            assert_eq!(counties.len(), County::count_in(state));
            for (i, info) in counties.iter().enumerate() {
                assert_eq!(info.county.place(), Some((state, i as u16)), "{}", info.county);
            }
        }
        assert_eq!(County(42001).info().map(|i| i.in_state), Some(0));
        assert_eq!(County(42133).info().map(|i| i.in_state), Some(66));
        assert_eq!(County(42133).place(), Some((pa, 66)));
        assert_eq!(County(56045).place().map(|(s, _)| s.code()), Some("WY"));
        assert_eq!(County(99999).place(), None);
    }
}
