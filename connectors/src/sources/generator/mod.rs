//! The voter generator: seed-format records, deterministic by seed.
//!
//! The stream is a sequence of *voter slots*. Slot `k` emits its voter's record and then, by
//! chance, one invalid record (`invalid_rate`) and one duplicate of an earlier voter's record
//! (`duplicate_rate`: half exact redeliveries, half conflicting second ballots). Every slot is
//! computed from `(seed, k)` alone, so any worker can generate any share of the stream, and the
//! same seed always gives the same bytes.
//!
//! Mixes: without a scenario, each voter's (state, candidate) is drawn with the weights of the
//! official 2020 results (so states by turnout and candidates by their share in each state); with
//! a scenario, slot `k` takes the `k`-th cell of a seeded permutation of the scenario's scaled
//! table, so the whole stream reproduces it exactly (by county, with the county's FIPS code in
//! the record, when the table is by county). Ages and genders follow fixed mixes, unless the
//! scenario has exit polls ([`tally_model::exit_polls`]): then they are drawn given the voter's
//! state and party, so groups vote as the polls say while every count stays the table's.
//!
//! A scenario can also be played as an election night ([`night`]): the same records, in the
//! order the states report them after their polls close, due over the night's wall time.

pub mod night;
mod scenario;
pub mod schedule;

pub use scenario::Scenario;
pub use schedule::{Next, Schedule};

use std::path::PathBuf;
use tally_model::codec::VoterRecord;
use tally_model::reference::president_2020;
use tally_model::Position;
use tally_model::{AgeGroup, Gender};
use tally_source::{RecordBatch, SourceError, SourceState};

/// What to generate.
#[derive(Clone, Debug)]
pub struct GeneratorConfig {
    /// Same seed, same records.
    pub seed: u64,
    /// Voters to generate; `None` = without end (ignored with a scenario, which fixes it).
    pub voters: Option<u64>,
    /// Chance, per voter, of an invalid record after it.
    pub invalid_rate: f64,
    /// Chance, per voter, of a duplicate of an earlier voter's record after it.
    pub duplicate_rate: f64,
    /// A results table to reproduce exactly, instead of the random mix.
    pub scenario: Option<Scenario>,
    /// Play the scenario as an election night: the poll closings, and the night's wall time.
    pub night: Option<(tally_model::reference::PollClosings, std::time::Duration)>,
}

impl Default for GeneratorConfig {
    fn default() -> Self {
        GeneratorConfig {
            seed: 0,
            voters: None,
            invalid_rate: 0.0,
            duplicate_rate: 0.0,
            scenario: None,
            night: None,
        }
    }
}

#[allow(missing_docs, reason = "each variant is documented by its #[error] message")]
/// Why a generator cannot be made as configured.
#[derive(Debug, thiserror::Error)]
pub enum GeneratorError {
    #[error("scale must be a positive number, not {0}")]
    Scale(f64),
    #[error("--night plays a scenario: give --scenario FILE.csv --scale X")]
    NightWithoutScenario,
    #[error("a night plans at most 65,535 reporting units, not {0}")]
    TooManyUnits(usize),
    #[error("{what} would make more than {MAX_VOTERS} voters, the most a generator makes")]
    TooManyVoters { what: String },
    #[error("{name} must be between 0 and 1, not {rate}")]
    Rate { name: &'static str, rate: f64 },
    #[error("cannot read {}: {cause}", path.display())]
    Read { path: PathBuf, cause: std::io::Error },
    #[error("{}: {cause}", path.display())]
    Table {
        path: PathBuf,
        cause: tally_model::reference::ResultsTableError,
    },
}

/// Generates the records of any voter slot.
pub struct VoterGenerator {
    config: GeneratorConfig,
    /// With a night: which record each slot is, and when it is due.
    night: Option<night::Night>,
    /// Without a scenario: every (state, candidate) of the 2020 table, weighted by its votes.
    mix: Scenario,
}

/// Records a slot emits at most, which spaces slot positions.
pub const RECORDS_PER_SLOT: u64 = 3;

/// The most voters a generator makes (about 1.1 trillion): slot positions and every count stay
/// far inside a `u64`, and no election comes near (2020: 158 million).
pub const MAX_VOTERS: u64 = 1 << 40;

impl VoterGenerator {
    /// A generator of `config`, or why the configuration is not one.
    pub fn new(config: GeneratorConfig) -> Result<VoterGenerator, GeneratorError> {
        if let Some(voters) = config.voters.filter(|voters| *voters > MAX_VOTERS) {
            return Err(GeneratorError::TooManyVoters {
                what: format!("count {voters}"),
            });
        }
        for (name, rate) in [
            ("invalid rate", config.invalid_rate),
            ("duplicate rate", config.duplicate_rate),
        ] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(GeneratorError::Rate { name, rate });
            }
        }
        let mix = Scenario::new(president_2020(), 1.0)?;
        let night = match (&config.night, &config.scenario) {
            (Some((closings, length)), Some(scenario)) => {
                Some(night::Night::new(scenario, closings, config.seed, *length)?)
            }
            (Some(_), None) => return Err(GeneratorError::NightWithoutScenario),
            (None, _) => None,
        };
        Ok(VoterGenerator { config, mix, night })
    }

    /// With a night, when slot `k` is due after the night starts (`None`: whenever).
    pub fn due_at(&self, k: u64) -> Option<std::time::Duration> {
        self.night.as_ref().map(|night| night.due_at(k))
    }

    /// Voter slots in the stream; `None` = endless.
    pub fn voters(&self) -> Option<u64> {
        match &self.config.scenario {
            Some(scenario) => Some(scenario.voters()),
            None => self.config.voters,
        }
    }

    /// Appends slot `k`'s records to `batch`, at positions `(stream, k × 3 + i)`.
    pub fn slot(&self, k: u64, stream: u32, batch: &mut RecordBatch) {
        let mut rng = SlotRng::new(self.config.seed, k);
        let position = |i: u64| Position::new(stream, k * RECORDS_PER_SLOT + i);
        batch.push_with(position(0), |out| self.voter(k).write_json(out));
        if rng.chance(self.config.invalid_rate) {
            batch.push_with(position(1), |out| self.invalid(k, &mut rng, out));
        }
        if k > 0 && rng.chance(self.config.duplicate_rate) {
            let earlier = k - 1 - rng.below(k.min(1000));
            let mut record = self.voter(earlier);
            if rng.chance(0.5) {
                // A conflicting second ballot: same voter, another candidate.
                record.decision = &self.mix.cell(rng.below(self.mix.voters())).candidate;
            }
            batch.push_with(position(2), |out| record.write_json(out));
        }
    }

    /// The valid record of slot `k`'s voter.
    fn voter(&self, k: u64) -> VoterRecord<'_> {
        let mut rng = SlotRng::new(self.config.seed ^ 0x5eed_0f70_11e5, k);
        let (cell, place) = match &self.config.scenario {
            Some(scenario) => {
                let (cell, place) = scenario.locate(match &self.night {
                    Some(night) => night.scenario_index(k),
                    None => permute(k, scenario.voters(), self.config.seed),
                });
                (cell, Some(place))
            }
            None => (self.mix.cell(rng.below(self.mix.voters())), None),
        };
        let seed = self.config.seed;
        let age_group = match (cell.age_weights, place) {
            (Some(weights), Some(place)) => scenario::quota(&weights, place, seed, scenario::AGE_STEP),
            _ => rng.weighted(&AGE_MIX.map(|(_, weight, _)| weight)),
        };
        let (_, _, ages) = &AGE_MIX[age_group];
        let age = ages.start + rng.below(ages.end - ages.start);
        let gender = match (cell.gender_weights, place) {
            (Some(weights), Some(place)) => [Gender::Female, Gender::Male, Gender::Other]
                [scenario::quota(&weights, place, seed, scenario::GENDER_STEP)],
            _ => GENDER_MIX[rng.weighted(&GENDER_MIX.map(|(_, w)| w))].0,
        };
        VoterRecord {
            id: voter_id(k, self.config.seed),
            gender: gender.as_str(),
            age,
            state: cell.state.name(),
            county: cell.county.as_deref(),
            decision: &cell.candidate,
        }
    }

    /// An invalid record for slot `k`, of one of the codec's reject reasons.
    fn invalid(&self, k: u64, rng: &mut SlotRng, out: &mut Vec<u8>) {
        let mut record = self.voter(k);
        match rng.below(8) {
            0 => {
                // `out` holds earlier records too: cut only this one.
                let start = out.len();
                record.write_json(out);
                out.truncate(start + (out.len() - start) / 2);
                return;
            }
            1 => {
                let text = format!(
                    r#"{{"id":{},"gender":"{}","age":{}}}"#,
                    record.id, record.gender, record.age
                );
                out.extend_from_slice(text.as_bytes());
                return;
            }
            2 => {
                let text = format!(
                    r#"{{"id":"voter-{}","gender":"{}","age":{},"state":"{}","decision":"{}"}}"#,
                    record.id, record.gender, record.age, record.state, record.decision
                );
                out.extend_from_slice(text.as_bytes());
                return;
            }
            3 => record.gender = "Unknown",
            4 => record.age = if rng.chance(0.5) { 7 } else { 150 },
            5 => record.state = "Atlantis",
            6 => record.county = Some("99999"),
            _ => record.decision = "",
        }
        record.write_json(out);
    }
}

/// Age groups with their weight (percent of voters) and the ages drawn within them.
const AGE_MIX: [(AgeGroup, u64, std::ops::Range<u64>); 4] = [
    (AgeGroup::From18To29, 17, 18..30),
    (AgeGroup::From30To44, 24, 30..45),
    (AgeGroup::From45To64, 36, 45..65),
    (AgeGroup::From65, 23, 65..96),
];

/// Genders with their weight (per mille).
const GENDER_MIX: [(Gender, u64); 3] = [(Gender::Female, 515), (Gender::Male, 475), (Gender::Other, 10)];

/// Sixteen-digit-ish voter ids, distinct for distinct slots under one seed: a bijection of the
/// 53-bit slot space (xor-shifts and odd multiplications are invertible modulo 2^53).
fn voter_id(k: u64, seed: u64) -> u64 {
    const BITS: u32 = 53;
    const MASK: u64 = (1 << BITS) - 1;
    let mut x = (k ^ splitmix(seed)) & MASK;
    x ^= x >> 29;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9) & MASK;
    x ^= x >> 32;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb) & MASK;
    x ^= x >> 29;
    1_000_000_000_000_000 + x
}

/// A seeded permutation of `0..n` (a Feistel network on the next even power of two, walking
/// cycles back into range), so slot `k` can find its scenario cell without shuffling a table.
fn permute(k: u64, n: u64, seed: u64) -> u64 {
    let bits = (64 - n.saturating_sub(1).leading_zeros()).max(2).div_ceil(2) * 2;
    let half = bits / 2;
    let mask = (1u64 << half) - 1;
    let mut x = k;
    loop {
        let (mut left, mut right) = (x >> half, x & mask);
        for round in 0..4u64 {
            let f = splitmix(seed ^ (round << 56) ^ right) & mask;
            (left, right) = (right, left ^ f);
        }
        x = (left << half) | right;
        if x < n {
            return x;
        }
    }
}

/// The SplitMix64 finalizer: a strong 64-bit mix, the basis of counter-based generation here.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A small counter-based generator for one slot: its draws depend on `(seed, slot)` only.
struct SlotRng(u64);

impl SlotRng {
    fn new(seed: u64, slot: u64) -> SlotRng {
        SlotRng(splitmix(seed) ^ splitmix(slot.wrapping_mul(0x2545_f491_4f6c_dd1d)))
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        splitmix(self.0)
    }
    /// Uniform in `0..n` (n > 0), by widening multiplication.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
    fn weighted(&mut self, weights: &[u64]) -> usize {
        let mut pick = self.below(weights.iter().sum());
        for (i, w) in weights.iter().enumerate() {
            if pick < *w {
                return i;
            }
            pick -= w;
        }
        weights.len() - 1
    }
}

/// One worker's share of a generated stream: slots `index, index + peers, …`, on the
/// generator's [`Schedule`].
pub struct GeneratorSource {
    generator: std::sync::Arc<VoterGenerator>,
    schedule: Schedule,
}

impl GeneratorSource {
    /// `rate` is this worker's share of the records per second, if paced.
    pub fn new(generator: std::sync::Arc<VoterGenerator>, index: usize, peers: usize, rate: Option<f64>) -> Self {
        GeneratorSource {
            generator,
            schedule: Schedule::new(index as u64, peers as u64, rate),
        }
    }
}

impl tally_source::Source for GeneratorSource {
    fn poll(&mut self, max: usize, batch: &mut RecordBatch) -> Result<SourceState, SourceError> {
        Ok(match self.schedule.take(&self.generator, max, batch) {
            Next::Ready => SourceState::Active,
            Next::Wait(_) => SourceState::Idle,
            Next::Ended => SourceState::Exhausted,
        })
    }

    /// Until the epoch's tick: generated records carry no creation time, so gathering the ones
    /// that fall due meanwhile delays nothing anyone sees, and saves a wake-up per record.
    fn idle_wait(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use tally_model::codec::decode;
    use tally_model::reference::OfficialRow;
    use tally_model::State;

    fn records(config: GeneratorConfig, slots: u64) -> Vec<Vec<u8>> {
        let generator = VoterGenerator::new(config).unwrap();
        let mut batch = RecordBatch::default();
        (0..slots).for_each(|k| generator.slot(k, 0, &mut batch));
        batch.iter().map(|(_, r)| r.to_vec()).collect()
    }

    #[test]
    fn same_seed_same_bytes_other_seed_other_bytes() {
        let config = |seed| GeneratorConfig {
            seed,
            invalid_rate: 0.1,
            duplicate_rate: 0.1,
            ..Default::default()
        };
        assert_eq!(records(config(7), 500), records(config(7), 500));
        assert_ne!(records(config(7), 500), records(config(8), 500));
    }

    #[test]
    fn clean_voters_are_valid_and_distinct() {
        let all = records(
            GeneratorConfig {
                seed: 3,
                ..Default::default()
            },
            20_000,
        );
        assert_eq!(all.len(), 20_000);
        let mut ids = HashSet::new();
        for record in &all {
            let ballot = decode(record).expect("generated voters are valid");
            assert!(ids.insert(ballot.voter), "voter ids are distinct");
            assert!((1_000_000_000_000_000..20_000_000_000_000_000).contains(&ballot.voter));
        }
        // Turnout weighting: California (~10.6% of 2020 votes) far outnumbers Wyoming (~0.2%).
        let count = |code| all.iter().filter(|r| decode(r).unwrap().state.code() == code).count();
        assert!(count("CA") > 1500 && count("CA") < 2700, "{}", count("CA"));
        assert!(count("WY") < 120, "{}", count("WY"));
    }

    #[test]
    fn rates_mix_in_rejects_and_duplicates() {
        let config = GeneratorConfig {
            seed: 1,
            invalid_rate: 0.2,
            duplicate_rate: 0.3,
            ..Default::default()
        };
        let all = records(config, 5000);
        let invalid = all.iter().filter(|r| decode(r).is_err()).count();
        assert!((800..1200).contains(&invalid), "{invalid}");
        let mut ids = HashSet::new();
        let duplicates = all
            .iter()
            .filter_map(|r| decode(r).ok())
            .filter(|b| !ids.insert(b.voter))
            .count();
        assert!((1300..1700).contains(&duplicates), "{duplicates}");
    }

    #[test]
    fn a_scenario_is_reproduced_exactly() {
        let rows = vec![
            OfficialRow {
                county: None,
                state: State::lookup("OH").unwrap(),
                candidate: "A".into(),
                party: String::new(),
                votes: 1234,
            },
            OfficialRow {
                county: None,
                state: State::lookup("OH").unwrap(),
                candidate: "B".into(),
                party: String::new(),
                votes: 766,
            },
            OfficialRow {
                county: None,
                state: State::lookup("WY").unwrap(),
                candidate: "A".into(),
                party: String::new(),
                votes: 15,
            },
        ];
        let scenario = Scenario::new(&rows, 0.1).unwrap();
        assert_eq!(scenario.voters(), 123 + 77 + 2);
        let config = GeneratorConfig {
            seed: 9,
            scenario: Some(scenario),
            ..Default::default()
        };
        let all = records(config, 202);
        let count = |state: &str, name: &str| {
            all.iter()
                .map(|r| decode(r).unwrap())
                .filter(|b| b.state.code() == state && b.decision == name)
                .count()
        };
        assert_eq!((count("OH", "A"), count("OH", "B"), count("WY", "A")), (123, 77, 2));
    }

    #[test]
    fn permutation_is_a_bijection() {
        for n in [1u64, 2, 3, 17, 1000, 4097] {
            let seen: HashSet<u64> = (0..n).map(|k| permute(k, n, 5)).collect();
            assert_eq!(seen.len() as u64, n);
            assert!(seen.iter().all(|&x| x < n));
        }
    }

    #[test]
    fn bad_rates_and_scales_are_errors() {
        assert!(VoterGenerator::new(GeneratorConfig {
            invalid_rate: 1.5,
            ..Default::default()
        })
        .is_err());
        assert!(Scenario::new(president_2020(), -1.0).is_err());
        assert!(Scenario::new(president_2020(), f64::NAN).is_err());
    }

    #[test]
    fn scales_and_counts_that_would_overflow_are_errors() {
        for scale in [1e300, 1e7, f64::MAX] {
            let error = Scenario::new(president_2020(), scale).err();
            assert!(
                matches!(error, Some(GeneratorError::TooManyVoters { .. })),
                "{scale}: {error:?}"
            );
        }
        // The largest scale that fits still works: 158 M votes × 6,000 < 2^40.
        assert!(Scenario::new(president_2020(), 6000.0).is_ok_and(|s| s.voters() <= MAX_VOTERS));
        let error = VoterGenerator::new(GeneratorConfig {
            voters: Some(u64::MAX),
            ..Default::default()
        })
        .err();
        assert!(matches!(error, Some(GeneratorError::TooManyVoters { .. })), "{error:?}");
    }
}
