//! Vote keys as small numbers, so that one ballot's effect on the counts is two additions into
//! arrays that stay in cache.
//!
//! A worker sees up to about 114,000 distinct [`VoteKey`]s at a whole election (every cube cell
//! × the counties of its state), but the counts are kept by two much smaller keys: the cube cell
//! (up to a few thousand) and the county × candidate (a few per county). Summing an epoch's
//! changes by vote key and then regrouping them by hash map was the largest cost counties added
//! (about 5% of a replay's CPU, by `perf`), since nearly every ballot of an epoch then has a
//! vote key of its own. So each vote key is interned once with the numbers of both cells it counts in:
//!
//! - **a row per cube cell**, made the first time the cell is seen, holding one vote key per
//!   county of the cell's state (and one without a county) at consecutive numbers. A ballot's
//!   key number is its row's start plus its county's place in the state: one lookup in a map of
//!   cube cells, no per-key map.
//! - **a block of unit numbers per state × candidate**, one per county in the same order, so a
//!   ballot's county × candidate number is the block's start plus the same place.
//!
//! Keys whose county is not of the cell's state, or not a known county, never come from the
//! codec; they are numbered one by one after a search, and still counted exactly.

use hashbrown::HashMap;
use tally_model::{CandidateId, County, CubeKey, State, UnitKey, VoteKey};

/// The numbers of one vote key: the key's own, the cube cell's, and the county × candidate's
/// (none without a county).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interned {
    /// The vote key's number: what the voter table keeps per voter.
    pub key: u32,
    /// The cube cell's number (see [`VoteKeys::cube`]).
    pub cube: u32,
    /// The county × candidate's number (see [`VoteKeys::unit`]).
    pub unit: Option<u32>,
}

#[derive(Clone, Copy)]
struct Row {
    /// The number of the row's key without a county; its counties' follow.
    start: u32,
    cube: u32,
    /// The unit number of the row's state's first county, for the row's candidate.
    units: u32,
}

/// One worker's vote keys, numbered.
#[derive(Default)]
pub struct VoteKeys {
    rows: HashMap<CubeKey, Row>,
    /// Every key number's key and cell numbers.
    keys: Vec<(VoteKey, Interned)>,
    cubes: Vec<CubeKey>,
    units: Vec<UnitKey>,
    /// Where each state × candidate's block of unit numbers starts.
    unit_blocks: HashMap<(State, CandidateId), u32>,
    /// Units of no known county, outside any block.
    loose_units: HashMap<UnitKey, u32>,
}

impl VoteKeys {
    /// The numbers of `key`, numbering it (and its row) if new.
    #[inline]
    pub fn intern(&mut self, key: VoteKey) -> Interned {
        let row = match self.rows.get(&key.cube) {
            Some(&row) => row,
            None => self.new_row(key.cube),
        };
        let column = match key.county {
            None => return self.keys[row.start as usize].1,
            Some(county) => match county.place() {
                Some((state, in_state)) if state == key.cube.state => u32::from(in_state),
                _ => return self.intern_loose(key, row.cube),
            },
        };
        Interned {
            key: row.start + 1 + column,
            cube: row.cube,
            unit: Some(row.units + column),
        }
    }

    /// The key numbered `number`.
    pub fn key(&self, number: u32) -> VoteKey {
        self.keys[number as usize].0
    }

    /// The numbers of the key numbered `number`.
    pub fn numbers(&self, number: u32) -> Interned {
        self.keys[number as usize].1
    }

    /// The cube cell numbered `number`.
    pub fn cube(&self, number: u32) -> CubeKey {
        self.cubes[number as usize]
    }

    /// The county × candidate numbered `number`.
    pub fn unit(&self, number: u32) -> UnitKey {
        self.units[number as usize]
    }

    /// Key numbers given so far (each below this).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no key has been numbered.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    #[cold]
    fn new_row(&mut self, cube: CubeKey) -> Row {
        let counties = County::of_state(cube.state);
        let units = self.unit_block(cube.state, cube.candidate);
        let row = Row {
            start: self.keys.len() as u32,
            cube: self.cubes.len() as u32,
            units,
        };
        self.cubes.push(cube);
        self.rows.insert(cube, row);
        let whole = VoteKey { cube, county: None };
        self.keys.push((
            whole,
            Interned {
                key: row.start,
                cube: row.cube,
                unit: None,
            },
        ));
        for (place, info) in counties.iter().enumerate() {
            let key = VoteKey {
                cube,
                county: Some(info.county),
            };
            let numbers = Interned {
                key: row.start + 1 + place as u32,
                cube: row.cube,
                unit: Some(units + place as u32),
            };
            self.keys.push((key, numbers));
        }
        row
    }

    /// Where the unit numbers of `state`'s counties for `candidate` start, numbering them if new.
    fn unit_block(&mut self, state: State, candidate: CandidateId) -> u32 {
        *self.unit_blocks.entry((state, candidate)).or_insert_with(|| {
            let start = self.units.len() as u32;
            let counties = County::of_state(state);
            self.units.extend(counties.iter().map(|info| UnitKey {
                county: info.county,
                candidate,
            }));
            start
        })
    }

    /// Numbers a key no row has a place for, by search: no source makes these.
    #[cold]
    fn intern_loose(&mut self, key: VoteKey, cube: u32) -> Interned {
        if let Some((_, numbers)) = self.keys.iter().find(|(k, _)| *k == key) {
            return *numbers;
        }
        let unit = key.unit().map(|unit| match unit.county.place() {
            Some((state, in_state)) => self.unit_block(state, unit.candidate) + u32::from(in_state),
            None => {
                let next = self.units.len() as u32;
                let number = *self.loose_units.entry(unit).or_insert(next);
                if number == next {
                    self.units.push(unit);
                }
                number
            }
        });
        let numbers = Interned {
            key: self.keys.len() as u32,
            cube,
            unit,
        };
        self.keys.push((key, numbers));
        numbers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_model::{AgeGroup, Gender};

    fn key(state: &str, county: Option<u32>, candidate: u64, gender: Gender) -> VoteKey {
        VoteKey {
            cube: CubeKey {
                state: State::lookup(state).unwrap(),
                gender,
                age_group: AgeGroup::From65,
                candidate: CandidateId(candidate),
            },
            county: county.map(County),
        }
    }

    #[test]
    fn every_key_comes_back_whole_with_the_cells_it_counts_in() {
        let mut keys = VoteKeys::default();
        let all = [
            key("PA", Some(42101), 1, Gender::Male),
            key("PA", Some(42001), 1, Gender::Male),
            key("PA", None, 1, Gender::Male),
            key("PA", Some(42101), 2, Gender::Male),
            key("PA", Some(42101), 1, Gender::Female),
            key("OH", Some(39035), 1, Gender::Male),
            // Never from the codec: a county of another state, and an unknown one.
            key("PA", Some(39035), 1, Gender::Male),
            key("PA", Some(42999), 1, Gender::Male),
        ];
        let numbered: Vec<Interned> = all.iter().map(|k| keys.intern(*k)).collect();
        let again: Vec<Interned> = all.iter().rev().map(|k| keys.intern(*k)).collect();
        assert!(numbered.iter().eq(again.iter().rev()), "numbers are stable");
        for (k, n) in all.iter().zip(&numbered) {
            assert_eq!(keys.key(n.key), *k);
            assert_eq!(keys.numbers(n.key), *n);
            assert_eq!(keys.cube(n.cube), k.cube);
            assert_eq!(n.unit.map(|u| keys.unit(u)), k.unit());
        }
        let distinct = |f: fn(&Interned) -> Option<u32>| {
            numbered
                .iter()
                .filter_map(f)
                .collect::<std::collections::BTreeSet<_>>()
                .len()
        };
        assert_eq!(distinct(|n| Some(n.key)), all.len());
        assert_eq!(
            distinct(|n| Some(n.cube)),
            4,
            "PA male 1, PA male 2, PA female 1, OH male 1"
        );
        // 42101 for candidate 1 (male and female alike), 42001, 42101 for 2, 39035 (Ohio's
        // cell and the loose key alike), 42999.
        assert_eq!(distinct(|n| n.unit), 5);
    }
}
