//! A results table as the generator plays it: every row scaled to an exact number of records,
//! each record one cell of the table (with its county, and its exit-poll weights).

use super::{GeneratorError, MAX_VOTERS};
use std::path::Path;
use tally_model::exit_polls::{party_index, Demographics};
use tally_model::reference::{parse_official_results, scaled, OfficialRow};
use tally_model::State;

/// A results table scaled to exact record counts per (state or county, candidate).
#[derive(Clone, Debug)]
pub struct Scenario {
    pub(super) cells: Vec<Cell>,
    /// `cumulative[i]` = records of cells `0..=i`.
    pub(super) cumulative: Vec<u64>,
}

/// One row of a scenario: where, for whom, and the party the exit polls know them by.
#[derive(Clone, Debug)]
pub(super) struct Cell {
    pub(super) state: State,
    /// The county's FIPS code, as records spell it.
    pub(super) county: Option<String>,
    pub(super) candidate: String,
    pub(super) party: usize,
    /// With exit polls: the weights of `[Female, Male]` and of the age groups for this cell's
    /// state and party (computed once here, not per voter).
    pub(super) gender_weights: Option<[u64; 2]>,
    pub(super) age_weights: Option<[u64; 4]>,
}

impl Scenario {
    /// The records every row stands for at `scale` ([`scaled`]: `round(votes × scale)` per state
    /// and candidate, apportioned over its counties).
    pub fn new(rows: &[OfficialRow], scale: f64) -> Result<Scenario, GeneratorError> {
        if !(scale.is_finite() && scale > 0.0) {
            return Err(GeneratorError::Scale(scale));
        }
        let too_many = || GeneratorError::TooManyVoters {
            what: format!("scale {scale}"),
        };
        let mut cells = Vec::new();
        let mut cumulative = Vec::new();
        let mut total = 0u64;
        // Checked before scaling, whose casts would saturate rather than fail.
        let votes: f64 = rows.iter().map(|row| row.votes as f64).sum();
        if votes * scale > MAX_VOTERS as f64 {
            return Err(too_many());
        }
        for (row, records) in rows.iter().zip(scaled(rows, scale)) {
            total = total
                .checked_add(records)
                .filter(|total| *total <= MAX_VOTERS)
                .ok_or_else(too_many)?;
            cells.push(Cell {
                state: row.state,
                county: row.county.map(|county| county.to_string()),
                candidate: row.candidate.clone(),
                party: party_index(&row.party),
                gender_weights: None,
                age_weights: None,
            });
            cumulative.push(total);
        }
        Ok(Scenario { cells, cumulative })
    }

    /// Draws genders and ages from `demographics` (exit polls raked to this table).
    pub fn with_demographics(mut self, demographics: Demographics) -> Scenario {
        // Shares as integer weights for `SlotRng::weighted`, to a billionth.
        let weights = |shares: &[f64]| shares.iter().map(|p| (p * 1e9) as u64).collect::<Vec<u64>>();
        for cell in &mut self.cells {
            cell.gender_weights = demographics
                .gender(cell.state, cell.party)
                .and_then(|shares| weights(shares).try_into().ok());
            cell.age_weights = demographics
                .age(cell.state, cell.party)
                .and_then(|shares| weights(shares).try_into().ok());
        }
        self
    }

    /// Reads a table in the format of `president_2020_by_state.csv`.
    pub fn load(path: &Path, scale: f64) -> Result<Scenario, GeneratorError> {
        let text = std::fs::read(path).map_err(|cause| GeneratorError::Read {
            path: path.to_path_buf(),
            cause,
        })?;
        let rows = parse_official_results(&text).map_err(|cause| GeneratorError::Table {
            path: path.to_path_buf(),
            cause,
        })?;
        Scenario::new(&rows, scale)
    }

    /// Records (voters) in the scenario.
    pub fn voters(&self) -> u64 {
        self.cumulative.last().copied().unwrap_or(0)
    }

    pub(super) fn cell(&self, index: u64) -> &Cell {
        let at = self.cumulative.partition_point(|&upto| upto <= index);
        &self.cells[at]
    }
}
