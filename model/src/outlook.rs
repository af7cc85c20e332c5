//! The national outlook: electoral votes with a range, and each candidate's chance of 270, from
//! every state's [`StateEstimate`].
//!
//! States do not move independently: when the swing model is wrong, it is wrong the same way
//! everywhere (a polling miss, a turnout shift). Each draw therefore moves every state by one
//! shared national error, scaled by the part of its uncertainty the model shares
//! ([`StateEstimate::shared_sd`]), plus its own. Draws come from a fixed seed, so the same counts
//! give the same outlook on every process and every run.

use crate::projection::StateEstimate;
use crate::reference::VOTES_TO_WIN;
use crate::results::Results;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Draws for the national outlook.
pub const DRAWS: usize = 2000;
/// Standard errors from a tie beyond which a state is not drawn: it goes to its leader in every
/// draw (the chance of anything else is below one in a billion at 6).
pub const DECIDED: f64 = 6.0;

/// The national picture the projections make.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Outlook {
    /// Candidate → the probability of at least 270 electoral votes.
    pub win_probability: BTreeMap<String, f64>,
    /// Candidate → electoral votes: 5th percentile, median, 95th percentile of the draws.
    pub electoral_votes: BTreeMap<String, [u32; 3]>,
}

/// The outlook from the estimates in `results` (none before any state has one).
pub fn outlook(results: &Results) -> Option<Outlook> {
    let states: Vec<(&StateEstimate, u32)> = results
        .states
        .values()
        .filter_map(|s| Some((s.estimate.as_ref()?, s.electoral_votes)))
        .collect();
    draw(&states)
}

/// Electoral votes and win probabilities from [`DRAWS`] draws of every state's final margin
/// (each state given with its electoral votes).
fn draw(states: &[(&StateEstimate, u32)]) -> Option<Outlook> {
    if states.is_empty() {
        return None;
    }
    let mut names: Vec<&String> = states.iter().flat_map(|(e, _)| [&e.first, &e.second]).collect();
    names.sort();
    names.dedup();
    let index = |name: &String| names.binary_search(&name).unwrap_or(0);
    // A state whose estimate is beyond doubt in any draw (complete, or more than DECIDED standard
    // errors from a tie) adds its votes to every draw alike; only the others are drawn.
    let mut settled = vec![0u32; names.len()];
    let mut drawn = Vec::new();
    for (estimate, electoral_votes) in states {
        if estimate.margin > DECIDED * estimate.sd {
            settled[index(&estimate.first)] += electoral_votes;
        } else {
            let own_sd = (estimate.sd * estimate.sd - estimate.shared_sd * estimate.shared_sd)
                .max(0.0)
                .sqrt();
            // The national error moves every state the same way for the same candidate.
            let sign = if estimate.first < estimate.second { 1.0 } else { -1.0 };
            let sides = [index(&estimate.first), index(&estimate.second)];
            drawn.push((
                estimate.margin,
                sign * estimate.shared_sd,
                own_sd,
                sides,
                *electoral_votes,
            ));
        }
    }
    let mut random = Normal::new(0x7a11_9e37_79b9_7f4a);
    let mut tallies: Vec<Vec<u32>> = vec![Vec::with_capacity(DRAWS); names.len()];
    let mut votes = vec![0u32; names.len()];
    for _ in 0..DRAWS {
        let national = random.next();
        votes.copy_from_slice(&settled);
        for &(margin, shared, own_sd, [first, second], electoral_votes) in &drawn {
            let margin = margin + national * shared + own_sd * random.next();
            votes[if margin >= 0.0 { first } else { second }] += electoral_votes;
        }
        for (tally, v) in tallies.iter_mut().zip(&votes) {
            tally.push(*v);
        }
    }
    let mut outlook = Outlook::default();
    for (name, mut draws) in names.into_iter().zip(tallies) {
        let wins = draws.iter().filter(|&&v| v >= VOTES_TO_WIN).count();
        draws.sort_unstable();
        let at = |q: f64| draws[((draws.len() - 1) as f64 * q).round() as usize];
        outlook.win_probability.insert(name.clone(), wins as f64 / DRAWS as f64);
        outlook
            .electoral_votes
            .insert(name.clone(), [at(0.05), at(0.5), at(0.95)]);
    }
    Some(outlook)
}

/// Standard normal draws from a fixed seed (splitmix64 and Box–Muller, both of each pair).
struct Normal {
    state: u64,
    spare: Option<f64>,
}

impl Normal {
    fn new(seed: u64) -> Normal {
        Normal {
            state: seed,
            spare: None,
        }
    }

    fn uniform(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn next(&mut self) -> f64 {
        if let Some(spare) = self.spare.take() {
            return spare;
        }
        let (u, v) = (self.uniform(), self.uniform());
        let (radius, angle) = ((-2.0 * u.ln()).sqrt(), std::f64::consts::TAU * v);
        self.spare = Some(radius * angle.sin());
        radius * angle.cos()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A state `margin` ahead for D over R, with standard error `sd` of which `shared` is national.
    fn estimate(margin: f64, sd: f64, shared: f64) -> StateEstimate {
        let (first, second, margin) = if margin >= 0.0 {
            ("D", "R", margin)
        } else {
            ("R", "D", -margin)
        };
        StateEstimate {
            first: first.into(),
            second: second.into(),
            margin,
            low: margin - 1.645 * sd,
            high: margin + 1.645 * sd,
            level: 0.9,
            sd,
            shared_sd: shared,
        }
    }

    #[test]
    fn the_draws_are_standard_normal() {
        let mut random = Normal::new(7);
        let draws: Vec<f64> = (0..20_000).map(|_| random.next()).collect();
        let mean = draws.iter().sum::<f64>() / draws.len() as f64;
        let variance = draws.iter().map(|d| (d - mean).powi(2)).sum::<f64>() / draws.len() as f64;
        assert!(mean.abs() < 0.03, "mean {mean}");
        assert!((variance - 1.0).abs() < 0.05, "variance {variance}");
    }

    #[test]
    fn states_sharing_the_national_error_move_together() {
        // Three tossups of 100 votes each; 270 needs all three.
        let shared: Vec<StateEstimate> = (0..3).map(|_| estimate(0.001, 0.03, 0.03)).collect();
        let own: Vec<StateEstimate> = (0..3).map(|_| estimate(0.001, 0.03, 0.0)).collect();
        let with = |estimates: &[StateEstimate]| {
            draw(&estimates.iter().map(|e| (e, 100)).collect::<Vec<_>>()).expect("an outlook")
        };
        let (together, apart) = (with(&shared), with(&own));
        // Moving as one, a sweep is about as likely as a single state falling D's way (~1/2);
        // independently it is about (1/2)³.
        assert!(together.win_probability["D"] > 0.4, "{together:?}");
        assert!(apart.win_probability["D"] < 0.2, "{apart:?}");
        // Together, every draw is all or nothing; apart, the middle is a split.
        let [low, median, high] = together.electoral_votes["D"];
        assert_eq!((low, high), (0, 300));
        assert!(median == 0 || median == 300, "{together:?}");
        assert!([100, 200].contains(&apart.electoral_votes["D"][1]), "{apart:?}");
    }

    #[test]
    fn a_decided_state_counts_in_every_draw() {
        let sure = estimate(-0.2, 0.01, 0.005);
        let outlook = draw(&[(&sure, 270)]).expect("an outlook");
        assert_eq!(outlook.win_probability["R"], 1.0);
        assert_eq!(outlook.win_probability["D"], 0.0);
        assert_eq!(outlook.electoral_votes["R"], [270, 270, 270]);
    }

    #[test]
    fn no_estimates_no_outlook() {
        assert_eq!(draw(&[]), None);
    }
}
