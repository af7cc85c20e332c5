//! How the race moved: one point per published change, at most [`TIMELINE_POINTS`] however long
//! the run. When full, the older half is thinned to every other point, so recent movement keeps
//! its detail and the whole night stays in view. Kept in the snapshots, so a restart keeps it.

use crate::results::Results;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The most points a timeline holds.
pub const TIMELINE_POINTS: usize = 1000;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
/// How the race moved: a point per publication that changed something, at most a thousand (the
/// older half thinned when full).
pub struct Timeline {
    /// Oldest first.
    pub points: Vec<TimelinePoint>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// The race at one publication.
pub struct TimelinePoint {
    /// When (milliseconds since the Unix epoch).
    pub as_of: i64,
    /// Votes counted.
    pub votes: u64,
    /// Share of the expected votes counted, with an expectation.
    pub reported: Option<f64>,
    /// Candidate → their figures.
    pub candidates: BTreeMap<String, CandidatePoint>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
/// One candidate at one point.
pub struct CandidatePoint {
    /// Votes counted.
    pub votes: u64,
    /// Share of the votes.
    pub share: f64,
    /// Electoral votes of the states called for them.
    pub called_electoral_votes: u32,
    /// Electoral votes of the states projected for them (called ones included), with a baseline.
    #[serde(default)]
    pub projected_electoral_votes: u32,
    /// Their chance of 270 from the state estimates, with a baseline.
    #[serde(default)]
    pub win_probability: Option<f64>,
}

impl TimelinePoint {
    fn of(results: &Results) -> TimelinePoint {
        let candidates = results
            .candidates
            .iter()
            .map(|c| {
                let point = CandidatePoint {
                    votes: c.votes,
                    share: c.share,
                    called_electoral_votes: results.called_electoral_votes.get(&c.name).copied().unwrap_or(0),
                    projected_electoral_votes: results.projected_electoral_votes.get(&c.name).copied().unwrap_or(0),
                    win_probability: results
                        .outlook
                        .as_ref()
                        .and_then(|o| o.win_probability.get(&c.name).copied()),
                };
                (c.name.clone(), point)
            })
            .collect();
        TimelinePoint {
            as_of: results.as_of,
            votes: results.votes,
            reported: results.reported,
            candidates,
        }
    }

    /// The same count and calls (whenever they were seen).
    fn same_as(&self, other: &TimelinePoint) -> bool {
        self.votes == other.votes && self.candidates == other.candidates && self.reported == other.reported
    }
}

impl Timeline {
    /// Adds `results` as a point, unless nothing changed since the last one.
    pub fn record(&mut self, results: &Results) {
        let point = TimelinePoint::of(results);
        if self.points.last().is_some_and(|last| last.same_as(&point)) {
            return;
        }
        self.points.push(point);
        if self.points.len() > TIMELINE_POINTS {
            let newer = self.points.len() / 2;
            let mut index = 0;
            self.points.retain(|_| {
                let keep = index >= newer || index % 2 == 0;
                index += 1;
                keep
            });
        }
    }

    /// The points a snapshot of `votes` votes can vouch for (a restart resumes from there).
    pub fn through(&self, votes: u64) -> Timeline {
        Timeline {
            points: self.points.iter().filter(|p| p.votes <= votes).cloned().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference::Apportionment;
    use crate::tallies::{Tallies, Tally};
    use crate::vote::{AgeGroup, CandidateId, CubeKey, Gender, State};

    fn results(a: i64, b: i64, at: i64) -> Results {
        let mut tallies = Tallies::default();
        for (name, count) in [("A", a), ("B", b)] {
            let id = CandidateId::of(name);
            tallies.apply(&Tally::Candidate(id, name.to_string()), 1);
            let key = CubeKey {
                state: State::lookup("OH").unwrap(),
                gender: Gender::Female,
                age_group: AgeGroup::From65,
                candidate: id,
            };
            tallies.apply(&Tally::Vote(key), count);
        }
        Results::new(&tallies, at as u64, false, Apportionment::Census2020).computed_at(at)
    }

    #[test]
    fn a_long_run_keeps_at_most_the_bound_in_order_with_the_newest_whole() {
        let mut timeline = Timeline::default();
        for step in 1..=10_000i64 {
            timeline.record(&results(step, step / 2, step));
            timeline.record(&results(step, step / 2, step + 1));
        }
        assert!(timeline.points.len() <= TIMELINE_POINTS);
        assert!(timeline.points.len() >= TIMELINE_POINTS / 2);
        assert!(timeline
            .points
            .windows(2)
            .all(|w| w[0].as_of < w[1].as_of && w[0].votes < w[1].votes));
        assert_eq!(timeline.points.first().map(|p| p.votes), Some(1));
        let last = timeline.points.last().unwrap();
        assert_eq!(last.votes, 15_000);
        assert_eq!(last.candidates["A"].votes, 10_000);
        // The newest points are every step; an unchanged count added none.
        let newest: Vec<u64> = timeline.points.iter().rev().take(10).map(|p| p.votes).collect();
        assert!(newest.windows(2).all(|w| w[0] - w[1] <= 2), "{newest:?}");
        let through = timeline.through(9_000);
        assert!(through.points.iter().all(|p| p.votes <= 9_000));
        assert_eq!(
            through.points.len(),
            timeline.points.iter().filter(|p| p.votes <= 9_000).count()
        );
    }
}
