//! Projections: each state's final margin estimated from the units that have reported, with an
//! interval, and the calls and national outlook those estimates support.
//!
//! A call ([`crate::calls`]) waits until no outstanding vote could change the state. A
//! projection does what a newsroom's decision desk does: it *estimates* the outstanding vote.
//! The method, in the spirit of the Washington Post's open model (`elex-model`), at county level:
//!
//! 1. **Swing, like for like.** Every unit with votes in has an observed margin between the two
//!    leading candidates (each mapped to its party in the baseline election) and so a swing: that
//!    margin minus the same unit's baseline margin.
//! 2. **A national swing model.** Swing is regressed (weighted least squares, a light ridge on
//!    the slopes) on the unit's baseline margin and the log of its expected vote, over every unit
//!    in. Early returns come from small, rural units; the covariates carry what they say over to
//!    the big, urban ones still out.
//! 3. **A state effect, shrunk.** Each state's residual swing is its units' weighted mean
//!    residual, shrunk toward zero by a prior ([`STATE_EFFECT_SD`]): a state with few units in
//!    leans on the nation.
//! 4. **Each unit's final margin** is a precision-weighted blend of the model's prediction
//!    ([`UNIT_SD`] around it) and the unit's own count so far, whose sampling error shrinks to
//!    zero as the unit completes (sampling without replacement). A finished unit is its count.
//! 5. **The state's final margin** is the unit estimates weighted by expected vote. Its variance
//!    adds the units' own errors (independent), the state effect's error, and a shared model error
//!    ([`MODEL_SD`]) on the part of the vote the model still speaks for, so the band widens as less
//!    is in and narrows to nothing when everything is.
//!
//! A state is *projected* for the candidate ahead when the interval at the call level (99% by
//! default) excludes the other, and at least [`Projector::min_reported`] of its expected vote is
//! in. Projections are estimates, never certainties: results keep `called` for certain calls.
//! Nationally, [`crate::outlook`] draws electoral votes and a win probability from these
//! estimates, every state moving with one shared national error besides its own.

use crate::results::Results;
use crate::swing::Baseline;
use crate::units::County;
use crate::vote::State;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The prior spread of a state's swing around the national model, in margin (0.04: 4 points).
pub const STATE_EFFECT_SD: f64 = 0.04;
/// How far a unit's final margin strays from the model's prediction, before its own count.
pub const UNIT_SD: f64 = 0.05;
/// The error the swing model shares across units not yet in (and across states).
pub const MODEL_SD: f64 = 0.025;
/// How projections are made.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Projector {
    /// The level of the published interval (0.90).
    pub level: f64,
    /// The level whose interval must exclude the other candidate for a projection (0.99).
    pub call_level: f64,
    /// The share of a state's expected vote that must be in before it is projected (0.10).
    pub min_reported: f64,
}

impl Default for Projector {
    fn default() -> Projector {
        Projector {
            level: 0.90,
            call_level: 0.99,
            min_reported: 0.10,
        }
    }
}

/// One state's estimated final result.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StateEstimate {
    /// The candidate estimated to finish ahead.
    pub first: String,
    /// The candidate estimated to finish second (of the two compared).
    pub second: String,
    /// `first`'s estimated final share minus `second`'s, of the state's votes.
    pub margin: f64,
    /// The interval of that margin at `level` (it may go below zero: `second` may still win).
    pub low: f64,
    /// The interval's upper end.
    pub high: f64,
    /// The interval's level.
    pub level: f64,
    /// The standard error of the margin.
    pub sd: f64,
    /// The part of `sd` shared with every other state (the swing model's error).
    #[serde(skip)]
    pub shared_sd: f64,
}

/// A projection the count later contradicted: the state's estimate no longer excludes the
/// other candidate (or now favours them).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawal {
    /// The state's USPS code.
    pub state: String,
    /// The candidate it had been projected for.
    pub candidate: String,
    /// When the projection was made (milliseconds since the Unix epoch).
    pub projected_at: i64,
    /// When it was withdrawn.
    pub withdrawn_at: i64,
}

/// A unit as the estimate sees it: margins are the first candidate's share minus the second's.
#[derive(Clone, Copy, Debug)]
struct Unit {
    expected: f64,
    counted: f64,
    /// The margin among the votes counted (0 with none).
    observed: f64,
    /// The same unit's margin in the baseline election.
    baseline: f64,
    /// ln(expected), centred on 10.
    size: f64,
}

impl Unit {
    /// The variance of the observed margin as an estimate of the unit's final margin: sampling
    /// without replacement, so zero once the unit is complete.
    fn sampling_variance(&self, margin: f64) -> f64 {
        if self.counted <= 0.0 {
            return f64::INFINITY;
        }
        if self.counted >= self.expected {
            return 0.0;
        }
        let spread = (0.98 - margin * margin).max(0.02);
        let correction = (self.expected - self.counted) / (self.expected - 1.0).max(1.0);
        spread / self.counted * correction
    }

    /// How far the unit's final margin may stray from the model's prediction: the units' own
    /// spread ([`UNIT_SD`]) plus the chance in a small electorate's choice (a county of 40
    /// voters is noisy whatever the model says), so a tiny unit neither steers the fit nor
    /// narrows its state's band more than its voters can.
    fn noise(&self, margin: f64) -> f64 {
        UNIT_SD * UNIT_SD + (0.98 - margin * margin).max(0.02) / self.expected.max(1.0)
    }

    fn covariates(&self) -> [f64; 3] {
        [1.0, self.baseline, self.size]
    }
}

/// The two candidates compared: the two with the most votes nationally whose party the baseline
/// knows, with those parties.
fn pair(results: &Results, baseline: &Baseline) -> Option<[(String, String); 2]> {
    let mut known = results
        .candidates
        .iter()
        .filter_map(|c| Some((c.name.clone(), baseline.party_of(&c.name)?.to_string())));
    let first = known.next()?;
    let second = known.find(|(_, party)| *party != first.1)?;
    Some([first, second])
}

/// Each state's units with an expectation (or the state as one unit when it has none).
fn units_by_state(results: &Results, baseline: &Baseline, pair: &[(String, String); 2]) -> BTreeMap<String, Vec<Unit>> {
    let margin = |counts: &BTreeMap<String, u64>| -> (f64, f64) {
        let total: u64 = counts.values().sum();
        let of = |name: &str| counts.get(name).copied().unwrap_or(0) as f64;
        let lead = of(&pair[0].0) - of(&pair[1].0);
        (total as f64, if total == 0 { 0.0 } else { lead / total as f64 })
    };
    let parties = [pair[0].1.as_str(), pair[1].1.as_str()];
    let none = BTreeMap::new();
    let mut states = BTreeMap::new();
    for (code, state) in &results.states {
        let Some(expected) = state.expected_votes.filter(|&e| e > 0) else {
            continue;
        };
        let id = State::lookup(code);
        let state_baseline = id.and_then(|s| baseline.state_margin(s, parties)).unwrap_or(0.0);
        let listed: Vec<Unit> = results
            .units
            .get(code)
            .into_iter()
            .flatten()
            .filter_map(|unit| {
                let expected = unit.expected_votes? as f64;
                let (counted, observed) = margin(&unit.candidates);
                let county = County::parse(&unit.county);
                let base = county.and_then(|c| baseline.county_margin(c, parties));
                Some(Unit {
                    expected: expected.max(counted),
                    counted,
                    observed,
                    baseline: base.unwrap_or(state_baseline),
                    size: expected.max(1.0).ln() - 10.0,
                })
            })
            .collect();
        let units = if listed.is_empty() {
            let (counted, observed) = margin(results.by_state.get(code).unwrap_or(&none));
            vec![Unit {
                expected: (expected as f64).max(counted),
                counted,
                observed,
                baseline: state_baseline,
                size: (expected as f64).max(1.0).ln() - 10.0,
            }]
        } else {
            listed
        };
        states.insert(code.clone(), units);
    }
    states
}

/// The national swing model: coefficients on [`Unit::covariates`], by weighted least squares
/// over the units with votes in (a ridge keeps the slopes near zero while little is in).
fn fit(states: &BTreeMap<String, Vec<Unit>>) -> [f64; 3] {
    let mut xtx = [[0.0; 3]; 3];
    let mut xty = [0.0; 3];
    for unit in states.values().flatten().filter(|u| u.counted > 0.0) {
        let weight = 1.0 / (unit.noise(unit.baseline) + unit.sampling_variance(unit.baseline));
        let x = unit.covariates();
        let swing = unit.observed - unit.baseline;
        for i in 0..3 {
            xty[i] += weight * x[i] * swing;
            for j in 0..3 {
                xtx[i][j] += weight * x[i] * x[j];
            }
        }
    }
    // Priors: the national swing within about 10 points, the slopes within about 0.2 and 0.02.
    let ridge = [1.0 / 0.1f64.powi(2), 1.0 / 0.2f64.powi(2), 1.0 / 0.02f64.powi(2)];
    for (i, r) in ridge.iter().enumerate() {
        xtx[i][i] += r;
    }
    solve(xtx, xty)
}

/// `a⁻¹ b` for a symmetric positive definite 3×3 `a` (Gaussian elimination).
fn solve(mut a: [[f64; 3]; 3], mut b: [f64; 3]) -> [f64; 3] {
    for col in 0..3 {
        let pivot_row = a[col];
        for row in col + 1..3 {
            let factor = a[row][col] / pivot_row[col];
            for (value, above) in a[row].iter_mut().zip(pivot_row).skip(col) {
                *value -= factor * above;
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = [0.0; 3];
    for row in (0..3).rev() {
        let rest: f64 = (row + 1..3).map(|k| a[row][k] * x[k]).sum();
        x[row] = (b[row] - rest) / a[row][row];
    }
    x
}

/// The standard normal quantile for a two-sided interval at `level` (Acklam's approximation,
/// accurate to about 1e-9).
pub fn z_for(level: f64) -> f64 {
    let p = 0.5 + level.clamp(0.0, 0.999_999) / 2.0;
    let q = p - 0.5;
    if (0.02425..=0.97575).contains(&p) {
        let r = q * q;
        let a = [
            -39.696_830_286_653_76,
            220.946_098_424_520_5,
            -275.928_510_446_968_7,
            138.357_751_867_269,
            -30.664_798_066_147_16,
            2.506_628_277_459_239,
        ];
        let b = [
            -54.476_098_798_224_06,
            161.585_836_858_040_9,
            -155.698_979_859_886_6,
            66.801_311_887_719_72,
            -13.280_681_552_885_72,
        ];
        (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
            / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1.0)
    } else {
        let c = [
            -0.007_784_894_002_430_293,
            -0.322_396_458_041_136_5,
            -2.400_758_277_161_838,
            -2.549_732_539_343_734,
            4.374_664_141_464_968,
            2.938_163_982_698_783,
        ];
        let d = [
            0.007_784_695_709_041_462,
            0.322_467_129_070_039_8,
            2.445_134_137_142_996,
            3.754_408_661_907_416,
        ];
        let r = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5])
            / ((((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1.0)
    }
}

/// Every state's estimate from `results`' counts against `baseline`; none for a state without an
/// expectation, or before two candidates of known parties have votes.
pub fn estimate(results: &Results, baseline: &Baseline, projector: &Projector) -> BTreeMap<String, StateEstimate> {
    let Some(pair) = pair(results, baseline) else {
        return BTreeMap::new();
    };
    let states = units_by_state(results, baseline, &pair);
    let beta = fit(&states);
    let z = z_for(projector.level);
    let mut estimates = BTreeMap::new();
    for (code, units) in &states {
        // The state effect: residual swing of its units in, shrunk toward the nation.
        let (mut sum, mut weights) = (0.0, 1.0 / (STATE_EFFECT_SD * STATE_EFFECT_SD));
        for unit in units.iter().filter(|u| u.counted > 0.0) {
            let weight = 1.0 / (unit.noise(unit.baseline) + unit.sampling_variance(unit.baseline));
            let predicted: f64 = unit.covariates().iter().zip(&beta).map(|(x, b)| x * b).sum();
            sum += weight * (unit.observed - unit.baseline - predicted);
            weights += weight;
        }
        let (effect, effect_variance) = (sum / weights, 1.0 / weights);
        let total: f64 = units.iter().map(|u| u.expected).sum();
        let (mut margin_votes, mut own_variance, mut modelled) = (0.0, 0.0, 0.0);
        for unit in units {
            let swing: f64 = unit.covariates().iter().zip(&beta).map(|(x, b)| x * b).sum();
            let prior = (unit.baseline + swing + effect).clamp(-1.0, 1.0);
            let (sampling, noise) = (unit.sampling_variance(prior), unit.noise(prior));
            // The weight of the unit's own count against the model's prediction.
            let own = if sampling.is_infinite() {
                0.0
            } else {
                noise / (noise + sampling)
            };
            let final_margin = own * unit.observed + (1.0 - own) * prior;
            margin_votes += unit.expected * final_margin;
            own_variance += unit.expected * unit.expected * (1.0 - own) * noise;
            modelled += unit.expected * (1.0 - own);
        }
        if total <= 0.0 {
            continue;
        }
        let mut margin = margin_votes / total;
        let modelled = modelled / total;
        let shared_sd = modelled * MODEL_SD;
        let mut sd =
            (own_variance / (total * total) + modelled * modelled * effect_variance + shared_sd * shared_sd).sqrt();
        if results.complete {
            // The count is over: the estimate is the count.
            let (counted, observed) = units
                .iter()
                .fold((0.0, 0.0), |(n, m), u| (n + u.counted, m + u.counted * u.observed));
            margin = if counted > 0.0 { observed / counted } else { 0.0 };
            sd = 0.0;
        }
        let ([first, second], margin) = if margin >= 0.0 {
            ([&pair[0].0, &pair[1].0], margin)
        } else {
            ([&pair[1].0, &pair[0].0], -margin)
        };
        estimates.insert(
            code.clone(),
            StateEstimate {
                first: first.clone(),
                second: second.clone(),
                margin,
                low: margin - z * sd,
                high: margin + z * sd,
                level: projector.level,
                sd,
                shared_sd: if results.complete { 0.0 } else { shared_sd },
            },
        );
    }
    estimates
}

/// Sets each state's `estimate` and `projected`, and the national outlook and
/// `projected_winner`, in `results` (after calls: a called state is projected for its call).
pub fn apply_projection(results: &mut Results, baseline: &Baseline, projector: &Projector) {
    let estimates = estimate(results, baseline, projector);
    let z_call = z_for(projector.call_level);
    let mut projected_votes: BTreeMap<String, u32> = BTreeMap::new();
    for (code, state) in results.states.iter_mut() {
        let estimate = estimates.get(code).cloned();
        let enough_in = state.reported.is_some_and(|r| r >= projector.min_reported);
        state.projected = match (&state.called, &estimate) {
            (Some(called), _) => Some(called.clone()),
            (None, Some(e)) if enough_in && e.margin - z_call * e.sd > 0.0 => Some(e.first.clone()),
            _ => None,
        };
        if let Some(projected) = &state.projected {
            *projected_votes.entry(projected.clone()).or_default() += state.electoral_votes;
        }
        state.estimate = estimate;
    }
    results.projected_winner = projected_votes
        .iter()
        .find(|(_, votes)| **votes >= crate::reference::VOTES_TO_WIN)
        .map(|(name, _)| name.clone());
    results.projected_electoral_votes = projected_votes;
    results.projected_level = Some(projector.call_level);
    results.outlook = crate::outlook::outlook(results);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::Expected;
    use crate::reference::{Apportionment, OfficialRow};
    use crate::tallies::{Tallies, Tally};
    use crate::vote::{AgeGroup, CandidateId, CubeKey, Gender, UnitKey};

    const RURAL: u32 = 42001;
    const CITY: u32 = 42003;

    fn row(county: u32, candidate: &str, party: &str, votes: u64) -> OfficialRow {
        OfficialRow {
            state: State::lookup("PA").expect("PA"),
            county: Some(County(county)),
            candidate: candidate.into(),
            party: party.into(),
            votes,
        }
    }

    /// Last time, 1,000 votes in each county: the rural one R+20, the city D+40.
    fn baseline() -> Baseline {
        let then = [
            row(RURAL, "Old R", "REPUBLICAN", 600),
            row(RURAL, "Old D", "DEMOCRAT", 400),
            row(CITY, "Old R", "REPUBLICAN", 300),
            row(CITY, "Old D", "DEMOCRAT", 700),
        ];
        let parties = [
            ("D".to_string(), "DEMOCRAT".to_string()),
            ("R".to_string(), "REPUBLICAN".to_string()),
        ];
        Baseline::new(&then, &parties)
    }

    /// Pennsylvania's count: `(county, candidate, votes)`, 1,000 expected in each county.
    fn count(votes: &[(u32, &str, i64)], complete: bool) -> Results {
        let mut tallies = Tallies::default();
        for &(county, name, n) in votes {
            let id = CandidateId::of(name);
            tallies.apply(&Tally::Candidate(id, name.to_string()), 1);
            let cube = CubeKey {
                state: State::lookup("PA").expect("PA"),
                gender: Gender::Female,
                age_group: AgeGroup::From45To64,
                candidate: id,
            };
            tallies.apply(&Tally::Vote(cube), n);
            tallies.apply(
                &Tally::Unit(UnitKey {
                    county: County(county),
                    candidate: id,
                }),
                n,
            );
        }
        let expected = Expected::from_rows(
            &[row(RURAL, "R", "REPUBLICAN", 1000), row(CITY, "R", "REPUBLICAN", 1000)],
            1.0,
        );
        Results::new(&tallies, 1, complete, Apportionment::Census2020).with_expectation(Some(&expected))
    }

    fn projected(votes: &[(u32, &str, i64)], complete: bool) -> Results {
        let mut results = count(votes, complete);
        apply_projection(&mut results, &baseline(), &Projector::default());
        results
    }

    /// The estimated final margin of R over D in Pennsylvania.
    fn r_margin(results: &Results) -> f64 {
        let e = results.states["PA"].estimate.as_ref().expect("an estimate");
        if e.first == "R" {
            e.margin
        } else {
            -e.margin
        }
    }

    #[test]
    fn the_normal_equations_are_solved() {
        let x = solve([[4.0, 1.0, 0.0], [1.0, 3.0, 1.0], [0.0, 1.0, 2.0]], [6.0, 10.0, 8.0]);
        for (got, want) in x.iter().zip([1.0, 2.0, 3.0]) {
            assert!((got - want).abs() < 1e-12, "{x:?}");
        }
    }

    #[test]
    fn the_normal_quantiles_are_right() {
        for (level, z) in [
            (0.90, 1.644_853_6),
            (0.95, 1.959_964_0),
            (0.99, 2.575_829_3),
            (0.5, 0.674_489_8),
        ] {
            assert!((z_for(level) - z).abs() < 1e-6, "{level}: {}", z_for(level));
        }
    }

    #[test]
    fn a_fully_reported_state_is_its_count_with_a_zero_width_interval() {
        let votes = [(RURAL, "R", 580), (RURAL, "D", 420), (CITY, "R", 290), (CITY, "D", 710)];
        for complete in [false, true] {
            let results = projected(&votes, complete);
            let e = results.states["PA"].estimate.as_ref().expect("an estimate");
            assert_eq!((e.first.as_str(), e.second.as_str()), ("D", "R"));
            assert!((e.margin - 260.0 / 2000.0).abs() < 1e-12, "{e:?}");
            assert_eq!((e.sd, e.low, e.high), (0.0, e.margin, e.margin));
            assert_eq!(results.states["PA"].projected.as_deref(), Some("D"));
            // A certain state weighs the same in every draw of the outlook.
            let outlook = results.outlook.as_ref().expect("an outlook");
            assert_eq!(outlook.electoral_votes["D"], [19, 19, 19]);
            assert_eq!(outlook.electoral_votes["R"], [0, 0, 0]);
        }
    }

    #[test]
    fn more_votes_for_a_candidate_never_lower_their_estimate() {
        let mut last = f64::NEG_INFINITY;
        for r in (200..=300).step_by(10) {
            let results = projected(&[(RURAL, "R", r), (RURAL, "D", 400 - r)], false);
            let margin = r_margin(&results);
            assert!(margin >= last, "{r} of 400 for R: R{margin:+} after R{last:+}");
            last = margin;
        }
        // And the city, still out, is expected to stay far more Democratic than the country.
        assert!(
            last < 0.2,
            "the rural swing is carried over, not the rural margin: R{last:+}"
        );
    }

    #[test]
    fn the_interval_narrows_as_the_count_comes_in() {
        let mut last = f64::INFINITY;
        for counted in [100, 300, 600, 900, 1000] {
            let r = counted * 3 / 5;
            let results = projected(&[(RURAL, "R", r), (RURAL, "D", counted - r)], false);
            let sd = results.states["PA"].estimate.as_ref().expect("an estimate").sd;
            assert!(sd < last, "{counted} in: sd {sd} after {last}");
            last = sd;
        }
    }

    #[test]
    fn a_projection_needs_enough_in_and_is_not_a_call() {
        // 40 votes of 2,000, all for R: too little to project anything.
        let early = projected(&[(RURAL, "R", 40)], false);
        assert_eq!(early.states["PA"].projected, None);
        // The rural county is in, as it voted last time; half the city is in, as it voted last
        // time. The count is tied, 750 to 750, so nothing is certain; but the city's other half is
        // all that is out, and it is far more Democratic: projected for D.
        let votes = [(RURAL, "R", 600), (RURAL, "D", 400), (CITY, "R", 150), (CITY, "D", 350)];
        let results = projected(&votes, false);
        let pa = &results.states["PA"];
        assert_eq!(pa.called, None);
        assert_eq!(pa.projected.as_deref(), Some("D"));
        let e = pa.estimate.as_ref().expect("an estimate");
        assert!((e.margin - 0.1).abs() < 0.02, "{e:?}");
        assert!(e.low < e.margin && e.margin < e.high && e.low > 0.0, "{e:?}");
        assert_eq!(results.projected_electoral_votes.get("D"), Some(&19));
        assert_eq!(results.projected_winner, None, "19 electoral votes win nothing");
        assert_eq!(results.projected_level, Some(0.99));
        // A stricter level than the estimate supports projects nothing.
        let mut strict = count(&votes, false);
        let projector = Projector {
            call_level: 0.999_999,
            ..Projector::default()
        };
        apply_projection(&mut strict, &baseline(), &projector);
        let e = strict.states["PA"].estimate.as_ref().expect("an estimate");
        assert_eq!(
            strict.states["PA"].projected.is_some(),
            e.margin > z_for(0.999_999) * e.sd
        );
    }

    #[test]
    fn the_outlook_is_the_same_for_the_same_counts() {
        let votes = [(RURAL, "R", 300), (RURAL, "D", 200), (CITY, "D", 100)];
        let (a, b) = (projected(&votes, false), projected(&votes, false));
        assert_eq!(a.outlook, b.outlook);
        let outlook = a.outlook.expect("an outlook");
        let [low, median, high] = outlook.electoral_votes["D"];
        assert!(low <= median && median <= high && high <= 19);
    }
}
