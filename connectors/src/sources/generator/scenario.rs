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
    /// With exit polls: the weights of `[Female, Male, Other]` and of the age groups for this
    /// cell's state and party (computed once here, not per voter).
    pub(super) gender_weights: Option<[u64; 3]>,
    pub(super) age_weights: Option<[u64; 4]>,
}

/// A voter's place in its cell: which cell, and which of the cell's voters (`0..` its size).
#[derive(Clone, Copy, Debug)]
pub(super) struct Place {
    cell: u64,
    offset: u64,
}

/// The steps of the two quota sequences: the fractional parts of the golden ratio and of √2, as
/// fractions of 2^64. Two different irrationals keep a voter's gender and age independent.
pub(super) const GENDER_STEP: u64 = 0x9e37_79b9_7f4a_7c15;
pub(super) const AGE_STEP: u64 = 0x6a09_e667_f3bc_c908;

/// Which group (an index into `weights`) the voter at `place` falls in, by quota: the cell's
/// voters take the points `rotation + offset × step` (mod 1) of a low-discrepancy sequence,
/// with the rotation drawn per cell, and each point falls in the group whose share of the unit
/// interval it lands in. Every group then gets its share of each cell to within a voter or two,
/// so a state's or the nation's group shares equal the raked exit poll to a fraction of a
/// point at any scale; independent draws would be off by about 1/√(group size), over a point
/// for the smaller groups of a small state at 1%.
pub(super) fn quota(weights: &[u64], place: Place, seed: u64, step: u64) -> usize {
    let rotation = super::splitmix(seed ^ step ^ super::splitmix(place.cell));
    let point = rotation.wrapping_add(place.offset.wrapping_mul(step));
    let total: u64 = weights.iter().sum();
    let mut target = ((u128::from(point) * u128::from(total)) >> 64) as u64;
    for (i, weight) in weights.iter().enumerate() {
        if target < *weight {
            return i;
        }
        target -= weight;
    }
    weights.len() - 1
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

    /// Draws genders and ages from `demographics` (exit polls raked to this table), by quota
    /// within each cell ([`quota`]).
    pub fn with_demographics(mut self, demographics: Demographics) -> Scenario {
        // Shares as integer weights, to a billionth.
        let weights = |shares: &[f64]| shares.iter().map(|p| (p * 1e9) as u64).collect::<Vec<u64>>();
        // The polls ask only about women and men: a voter of neither is as common as in the
        // fixed mix, and the rest follow the poll.
        let other = super::GENDER_MIX[2].1;
        let with_other =
            |[female, male]: [u64; 2]| [female * (1000 - other), male * (1000 - other), (female + male) * other];
        for cell in &mut self.cells {
            cell.gender_weights = demographics
                .gender(cell.state, cell.party)
                .and_then(|shares| weights(shares).try_into().ok())
                .map(with_other);
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

    /// The cell of the voter at `index` (in `0..voters()`).
    pub(super) fn cell(&self, index: u64) -> &Cell {
        self.locate(index).0
    }

    /// The cell of the voter at `index` (in `0..voters()`), and the voter's place in it.
    pub(super) fn locate(&self, index: u64) -> (&Cell, Place) {
        let at = self.cumulative.partition_point(|&upto| upto <= index);
        let start = at.checked_sub(1).map_or(0, |before| self.cumulative[before]);
        let place = Place {
            cell: at as u64,
            offset: index - start,
        };
        (&self.cells[at], place)
    }
}

#[cfg(test)]
mod tests {
    use super::super::{GeneratorConfig, VoterGenerator};
    use super::*;
    use std::collections::BTreeMap;
    use tally_model::codec::decode;
    use tally_model::exit_polls::{ExitPoll, GENDERS};
    use tally_model::reference::president_by_county;
    use tally_model::AgeGroup;
    use tally_source::RecordBatch;

    /// Votes by (scope, group, party) of `year`'s county table at `scale`, played with its exit
    /// polls, where scope is `US` and each state's code; and by (county, candidate).
    type Counts = (BTreeMap<(String, String, usize), u64>, BTreeMap<(String, String), u64>);

    fn play(year: u16, scale: f64) -> Counts {
        let rows = president_by_county(year).unwrap();
        let poll = ExitPoll::shipped(year).unwrap();
        let scenario = Scenario::new(rows, scale)
            .unwrap()
            .with_demographics(Demographics::new(poll, rows));
        let voters = scenario.voters();
        let party: BTreeMap<&str, usize> = rows
            .iter()
            .map(|r| (r.candidate.as_str(), party_index(&r.party)))
            .collect();
        let generator = VoterGenerator::new(GeneratorConfig {
            seed: 5,
            scenario: Some(scenario),
            ..Default::default()
        })
        .unwrap();
        let (mut groups, mut units) = Counts::default();
        let mut batch = RecordBatch::default();
        for chunk in (0..voters).step_by(100_000) {
            batch.clear();
            (chunk..voters.min(chunk + 100_000)).for_each(|k| generator.slot(k, 0, &mut batch));
            for (_, record) in batch.iter() {
                let ballot = decode(record).unwrap();
                let age = AgeGroup::of(ballot.age).unwrap().label();
                let party = party[ballot.decision.as_ref()];
                for scope in ["US", ballot.state.code()] {
                    for group in [ballot.gender.as_str(), age] {
                        *groups.entry((scope.to_string(), group.to_string(), party)).or_default() += 1;
                    }
                }
                *units
                    .entry((ballot.county.unwrap().to_string(), ballot.decision.to_string()))
                    .or_default() += 1;
            }
        }
        (groups, units)
    }

    /// Checks every published group × party share of `year` in `scopes` (`US`, USPS codes)
    /// within `tolerance` points; returns the largest difference.
    fn check_against_the_poll(
        year: u16,
        groups: &BTreeMap<(String, String, usize), u64>,
        scopes: &[&str],
        tolerance: f64,
    ) -> f64 {
        let poll = ExitPoll::shipped(year).unwrap();
        let share = |scope: &str, group: &str, party: usize| {
            let of_group: u64 = groups
                .iter()
                .filter(|((s, g, _), _)| s == scope && g == group)
                .map(|(_, n)| n)
                .sum();
            let votes = groups
                .get(&(scope.to_string(), group.to_string(), party))
                .copied()
                .unwrap_or(0);
            100.0 * votes as f64 / of_group as f64
        };
        let ages: Vec<&str> = AgeGroup::ALL.iter().map(|a| a.label()).collect();
        let mut worst: f64 = 0.0;
        let mut checked = 0;
        for &scope in scopes {
            for (question, names) in [("gender", GENDERS.to_vec()), ("age", ages.clone())] {
                let Some(published) = poll.question(scope, question) else {
                    continue;
                };
                for (group, &(_, dem, rep)) in names.iter().zip(&published.groups) {
                    for (party, published) in [(party_index("DEMOCRAT"), dem), (party_index("REPUBLICAN"), rep)] {
                        let got = share(scope, group, party);
                        assert!(
                            (got - published).abs() < tolerance,
                            "{year} {scope} {group}: party {party} {got:.2} against the poll's {published}"
                        );
                        worst = worst.max((got - published).abs());
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 0, "{year} has polls");
        worst
    }

    #[test]
    fn groups_vote_as_the_exit_polls_say_and_every_county_count_stays_exact() {
        let scale = 0.002;
        let (groups, units) = play(2020, scale);
        check_against_the_poll(2020, &groups, &["US"], 1.0);
        // Groups differ as the poll says: women voted Biden by 15 points, men Trump by 8.
        let votes = |group: &str, party: &str| groups[&("US".to_string(), group.to_string(), party_index(party))];
        assert!(votes("Female", "DEMOCRAT") as f64 > 1.1 * votes("Female", "REPUBLICAN") as f64);
        assert!(votes("Male", "REPUBLICAN") as f64 > 1.05 * votes("Male", "DEMOCRAT") as f64);
        let rows = president_by_county(2020).unwrap();
        for (row, count) in rows.iter().zip(scaled(rows, scale)) {
            let key = (row.county.unwrap().to_string(), row.candidate.clone());
            assert_eq!(units.get(&key).copied().unwrap_or(0), count, "{key:?}");
        }
    }

    /// State by state at 1% (the seven 2024 battlegrounds with their own poll): each group's
    /// vote is the raked poll's to a fraction of a point, and the published poll's to within a
    /// point plus the poll's own disagreement with the official count. That disagreement is
    /// real: the state polls publish no group sizes, so they are weighted by the nation's, and
    /// Georgia's age question then implies Harris 47.0% against her official 48.5%. No draw
    /// that keeps every count exact can match such a poll in every group; raking moves each
    /// group the least.
    #[test]
    fn each_state_with_a_poll_matches_its_raked_poll_at_one_percent() {
        let year = 2024;
        let (groups, _) = play(year, 0.01);
        let rows = president_by_county(year).unwrap();
        let poll = ExitPoll::shipped(year).unwrap();
        let demographics = Demographics::new(poll, rows);
        let mut votes: BTreeMap<State, [f64; 3]> = BTreeMap::new();
        for row in rows {
            votes.entry(row.state).or_default()[party_index(&row.party)] += row.votes as f64;
        }
        let ages: Vec<&str> = AgeGroup::ALL.iter().map(|a| a.label()).collect();
        let (mut states, mut worst_raked, mut worst_published) = (0, 0.0f64, 0.0f64);
        for (&state, party_votes) in &votes {
            let total: f64 = party_votes.iter().sum();
            for (question, names) in [("gender", GENDERS.to_vec()), ("age", ages.clone())] {
                let Some(published) = poll.question(state.code(), question) else {
                    continue;
                };
                states += usize::from(question == "gender");
                // The poll's result, its groups weighted by the nation's group sizes.
                let sizes: Vec<f64> = poll
                    .question("US", question)
                    .unwrap()
                    .groups
                    .iter()
                    .map(|g| g.0.unwrap())
                    .collect();
                let implied = |column: fn(&(Option<f64>, f64, f64)) -> f64| {
                    published
                        .groups
                        .iter()
                        .zip(&sizes)
                        .map(|(g, size)| column(g) * size)
                        .sum::<f64>()
                        / sizes.iter().sum::<f64>()
                };
                let disagreement = (implied(|g| g.1) - 100.0 * party_votes[0] / total)
                    .abs()
                    .max((implied(|g| g.2) - 100.0 * party_votes[1] / total).abs());
                for (at, group) in names.iter().enumerate() {
                    let conditional = |party: usize| {
                        let shares = match question {
                            "gender" => demographics.gender(state, party),
                            _ => demographics.age(state, party),
                        };
                        shares.unwrap()[at] * party_votes[party]
                    };
                    let of_group: f64 = (0..3).map(conditional).sum();
                    let counted: u64 = (0..3)
                        .map(|p| groups[&(state.code().to_string(), group.to_string(), p)])
                        .sum();
                    for (party, published) in [(0, published.groups[at].1), (1, published.groups[at].2)] {
                        let got = 100.0 * groups[&(state.code().to_string(), group.to_string(), party)] as f64
                            / counted as f64;
                        let raked = 100.0 * conditional(party) / of_group;
                        let what = format!("{} {group} party {party}: {got:.2}", state.code());
                        assert!((got - raked).abs() < 0.5, "{what} against the raked {raked:.2}");
                        assert!(
                            (got - published).abs() < 1.0 + disagreement,
                            "{what} against the poll's {published}, which disagrees with the count by {disagreement:.2}"
                        );
                        worst_raked = worst_raked.max((got - raked).abs());
                        worst_published = worst_published.max((got - published).abs());
                    }
                }
            }
        }
        assert_eq!(states, 7);
        // The nation, as in 2020.
        check_against_the_poll(year, &groups, &["US"], 1.0);
        eprintln!("{year} at 1%: largest difference {worst_raked:.2} from the raked poll, {worst_published:.2} from the published");
    }
}
