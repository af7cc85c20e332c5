//! Exit polls: how each gender and age group voted (`data/exit_polls.csv`, sources in
//! `data/SOURCES.md`), turned into what the generator needs, the chance of each group given a
//! voter's state and party.
//!
//! A poll gives, per group `g`, its share of voters `P(g)` and its vote `P(party | g)`. Their
//! product is a joint table, which is raked (iterative proportional fitting) until its party
//! totals are the actual result (the state's, or the nation's) and its group totals the poll's
//! shares; then `P(g | party)` is read off it. A voter's gender (or age group) drawn from that
//! reproduces the poll's `P(party | g)` wherever the poll agrees with the result, and can never
//! change a party's count: the candidate is fixed first, and the group drawn given it.
//!
//! A state with its own published poll gets its own table (raked to its own result, with the
//! national group shares, since the state tables give only the vote); every other state uses
//! the national table's `P(g | party)`, so the national shares come out as published. A year
//! without a poll for a question (2016's ages) leaves that question to the generator's fixed mix.

use crate::reference::OfficialRow;
use crate::vote::{AgeGroup, State};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const EXIT_POLLS_CSV: &str = include_str!("../data/exit_polls.csv");

/// The parties an exit poll distinguishes: Democrat, Republican, everyone else.
pub const PARTIES: usize = 3;

/// `0` Democrat, `1` Republican, `2` any other, from a results table's party column.
pub fn party_index(party: &str) -> usize {
    match party {
        "DEMOCRAT" => 0,
        "REPUBLICAN" => 1,
        _ => 2,
    }
}

#[derive(Clone, Debug, Deserialize)]
struct PollRow {
    year: u16,
    scope: String,
    question: String,
    group: String,
    share: Option<f64>,
    dem: f64,
    rep: f64,
}

/// One question of one poll: per group, its share of voters (national polls) and its
/// Democratic and Republican shares, in percent.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Question {
    /// `(share of voters, dem, rep)` per group, in the order of [`GENDERS`] or [`AgeGroup::ALL`].
    pub groups: Vec<(Option<f64>, f64, f64)>,
}

/// The two genders exit polls ask about, in their order in a [`Question`].
pub const GENDERS: [&str; 2] = ["Female", "Male"];

/// A year's exit polls: per scope (`US` or a USPS code) and question (`gender`, `age`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ExitPoll {
    questions: BTreeMap<(String, String), Question>,
}

impl ExitPoll {
    /// The shipped polls of `year`, if any.
    pub fn shipped(year: u16) -> Option<&'static ExitPoll> {
        static POLLS: OnceLock<BTreeMap<u16, ExitPoll>> = OnceLock::new();
        POLLS
            .get_or_init(|| {
                let mut polls: BTreeMap<u16, ExitPoll> = BTreeMap::new();
                let mut reader = csv::Reader::from_reader(EXIT_POLLS_CSV.as_bytes());
                for row in reader.deserialize::<PollRow>() {
                    // Compiled in and checked by the tests below.
                    let row = row.expect("embedded exit_polls.csv is valid");
                    let order: Vec<&str> = match row.question.as_str() {
                        "gender" => GENDERS.to_vec(),
                        _ => AgeGroup::ALL.iter().map(|g| g.label()).collect(),
                    };
                    let at = order.iter().position(|g| *g == row.group).expect("known group");
                    let question = polls
                        .entry(row.year)
                        .or_default()
                        .questions
                        .entry((row.scope.clone(), row.question.clone()))
                        .or_default();
                    question.groups.resize(order.len(), (None, 0.0, 0.0));
                    question.groups[at] = (row.share, row.dem, row.rep);
                }
                polls
            })
            .get(&year)
    }

    /// The poll of `question` for `scope` (`US` or a USPS code).
    pub fn question(&self, scope: &str, question: &str) -> Option<&Question> {
        self.questions.get(&(scope.to_string(), question.to_string()))
    }
}

/// `P(group | party)` for every state and party, for gender and age, from a poll and the
/// result it is held to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Demographics {
    /// Per state and party: `[Female, Male]`, when the poll asks about gender.
    gender: BTreeMap<(State, usize), Vec<f64>>,
    /// Per state and party: by [`AgeGroup::ALL`], when the poll asks about age.
    age: BTreeMap<(State, usize), Vec<f64>>,
}

impl Demographics {
    /// Conditional shares from `poll`, raked to the results `rows` (any table: by state or by
    /// county).
    pub fn new(poll: &ExitPoll, rows: &[OfficialRow]) -> Demographics {
        let mut by_state: BTreeMap<State, [f64; PARTIES]> = BTreeMap::new();
        for row in rows {
            by_state.entry(row.state).or_default()[party_index(&row.party)] += row.votes as f64;
        }
        let mut national = [0.0; PARTIES];
        for votes in by_state.values() {
            (0..PARTIES).for_each(|p| national[p] += votes[p]);
        }
        let mut demographics = Demographics::default();
        for (name, into) in [("gender", &mut demographics.gender), ("age", &mut demographics.age)] {
            let Some(us) = poll.question("US", name) else { continue };
            let shares: Vec<f64> = us.groups.iter().map(|g| g.0.unwrap_or(0.0)).collect();
            let national_table = conditional(us, &shares, &national);
            for (&state, votes) in &by_state {
                let table = match poll.question(state.code(), name) {
                    Some(own) => conditional(own, &shares, votes),
                    None => national_table.clone(),
                };
                for (party, column) in table.into_iter().enumerate() {
                    into.insert((state, party), column);
                }
            }
        }
        demographics
    }

    /// `[P(Female | party), P(Male | party)]` in `state`, if the poll asks about gender.
    pub fn gender(&self, state: State, party: usize) -> Option<&[f64]> {
        self.gender.get(&(state, party)).map(Vec::as_slice)
    }

    /// `P(age group | party)` in `state`, by [`AgeGroup::ALL`], if the poll asks about age.
    pub fn age(&self, state: State, party: usize) -> Option<&[f64]> {
        self.age.get(&(state, party)).map(Vec::as_slice)
    }
}

/// Per party, `P(group | party)`: the poll's joint table (group share × the group's vote; the
/// rest of each group votes for others, at least half a point) raked to the group `shares` and
/// the party totals `votes`.
fn conditional(question: &Question, shares: &[f64], votes: &[f64; PARTIES]) -> Vec<Vec<f64>> {
    let groups = question.groups.len();
    let mut joint: Vec<[f64; PARTIES]> = question
        .groups
        .iter()
        .zip(shares)
        .map(|(&(_, dem, rep), &share)| {
            let other = (100.0 - dem - rep).max(0.5);
            [share * dem, share * rep, share * other]
        })
        .collect();
    let total_votes: f64 = votes.iter().sum();
    let total_share: f64 = shares.iter().sum();
    if total_votes > 0.0 && total_share > 0.0 {
        for _ in 0..200 {
            for p in 0..PARTIES {
                let column: f64 = joint.iter().map(|row| row[p]).sum();
                let want = votes[p] / total_votes;
                if column > 0.0 {
                    joint.iter_mut().for_each(|row| row[p] *= want / column);
                }
            }
            for (row, share) in joint.iter_mut().zip(shares) {
                let sum: f64 = row.iter().sum();
                if sum > 0.0 {
                    let want = share / total_share;
                    row.iter_mut().for_each(|cell| *cell *= want / sum);
                }
            }
        }
    }
    (0..PARTIES)
        .map(|p| {
            let column: f64 = joint.iter().map(|row| row[p]).sum();
            (0..groups)
                .map(|g| {
                    if column > 0.0 {
                        joint[g][p] / column
                    } else {
                        1.0 / groups as f64
                    }
                })
                .collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::{president_2020, president_2024};

    /// `P(party | group)` in percent, nationally, from the conditional shares and the result.
    fn vote_of_groups(demographics: &Demographics, rows: &[OfficialRow], age: bool) -> Vec<[f64; PARTIES]> {
        let mut joint: Vec<[f64; PARTIES]> = vec![[0.0; PARTIES]; if age { 4 } else { 2 }];
        for row in rows {
            let party = party_index(&row.party);
            let shares = if age {
                demographics.age(row.state, party)
            } else {
                demographics.gender(row.state, party)
            };
            for (g, share) in shares.unwrap().iter().enumerate() {
                joint[g][party] += share * row.votes as f64;
            }
        }
        joint
            .into_iter()
            .map(|row| {
                let sum: f64 = row.iter().sum();
                row.map(|cell| 100.0 * cell / sum)
            })
            .collect()
    }

    #[test]
    fn conditional_shares_give_back_the_published_national_vote_of_each_group() {
        for (year, rows) in [(2020, president_2020()), (2024, president_2024())] {
            let poll = ExitPoll::shipped(year).unwrap();
            let demographics = Demographics::new(poll, rows);
            for (name, age) in [("gender", false), ("age", true)] {
                let published = poll.question("US", name).unwrap();
                let got = vote_of_groups(&demographics, rows, age);
                for (g, &(_, dem, rep)) in published.groups.iter().enumerate() {
                    assert!(
                        (got[g][0] - dem).abs() < 1.0,
                        "{year} {name} {g}: {:?} vs {dem}",
                        got[g]
                    );
                    assert!(
                        (got[g][1] - rep).abs() < 1.0,
                        "{year} {name} {g}: {:?} vs {rep}",
                        got[g]
                    );
                }
            }
        }
    }

    #[test]
    fn a_state_poll_is_followed_where_there_is_one() {
        let rows = president_2024();
        let poll = ExitPoll::shipped(2024).unwrap();
        let demographics = Demographics::new(poll, rows);
        let pa = State::lookup("PA").unwrap();
        let oh = State::lookup("OH").unwrap();
        // Pennsylvania's women voted Harris 56 / Trump 44, the nation's 53 / 45: more of Harris's
        // voters there are women than nationally; Ohio (no poll shipped) takes the national share.
        let female = |state, party| demographics.gender(state, party).unwrap()[0];
        assert!(
            female(pa, 0) > female(oh, 0) + 0.005,
            "{} {}",
            female(pa, 0),
            female(oh, 0)
        );
        for party in 0..PARTIES {
            let sum: f64 = demographics.age(pa, party).unwrap().iter().sum();
            assert!((sum - 1.0).abs() < 1e-9);
        }
        // 2016 has no age poll shipped: ages stay with the generator's own mix.
        let d2016 = Demographics::new(ExitPoll::shipped(2016).unwrap(), rows);
        assert!(d2016.age(pa, 0).is_none() && d2016.gender(pa, 0).is_some());
        assert!(ExitPoll::shipped(2012).is_none());
    }
}
