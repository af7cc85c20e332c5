//! When each slot of a generated stream goes out: on a night's clock (each slot once due), at a
//! rate (records per second), both, or as fast as it is read. One schedule drives every way the
//! generator is played (a worker's source, `generate` to a file or to Kafka, each client of the
//! voter API), so all of them keep the same time.

use super::VoterGenerator;
use std::time::{Duration, Instant};
use tally_source::RecordBatch;

/// One stream's slots `first, first + stride, …` in order, as they fall due.
pub struct Schedule {
    next_slot: u64,
    stride: u64,
    /// When the stream started: a night's slots fall due from then, and the rate counts from it.
    started: Instant,
    /// Records per second, if paced.
    rate: Option<f64>,
    /// Records handed out so far.
    sent: u64,
}

/// What a stream has next, after [`Schedule::take`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// More is due now (the batch filled up first).
    Ready,
    /// Nothing more is due for this long.
    Wait(Duration),
    /// Every slot has been handed out.
    Ended,
}

impl Schedule {
    /// Slots `first, first + stride, …` of `generator`'s stream, at `rate` records per second
    /// (`None`, or not a positive number: as fast as they are taken) and, when the generator
    /// plays a night, each not before it is due.
    pub fn new(first: u64, stride: u64, rate: Option<f64>) -> Schedule {
        Schedule {
            next_slot: first,
            stride: stride.max(1),
            started: Instant::now(),
            rate: rate.filter(|r| *r > 0.0 && r.is_finite()),
            sent: 0,
        }
    }

    /// Appends to `batch` the records of the slots due now, at most `max` records (a slot that
    /// emits several may take it a record or two past). Says what comes next.
    pub fn take(&mut self, generator: &VoterGenerator, max: usize, batch: &mut RecordBatch) -> Next {
        let end = generator.voters().unwrap_or(u64::MAX);
        let elapsed = self.started.elapsed();
        let allowed = match self.rate {
            Some(rate) => {
                let due = (elapsed.as_secs_f64() * rate) as u64 + 1;
                due.saturating_sub(self.sent).min(max as u64) as usize
            }
            None => max,
        };
        let before = batch.len();
        let mut night_wait = None;
        while batch.len() - before < allowed && self.next_slot < end {
            if let Some(due) = generator.due_at(self.next_slot).filter(|due| *due > elapsed) {
                night_wait = Some(due - elapsed);
                break;
            }
            generator.slot(self.next_slot, 0, batch);
            self.next_slot += self.stride;
        }
        self.sent += (batch.len() - before) as u64;
        if self.next_slot >= end {
            return Next::Ended;
        }
        match (night_wait, self.rate) {
            (Some(wait), _) => Next::Wait(wait),
            (None, Some(rate)) if batch.len() - before < max => {
                let next_at = Duration::from_secs_f64(self.sent as f64 / rate);
                Next::Wait(next_at.saturating_sub(self.started.elapsed()))
            }
            _ => Next::Ready,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{GeneratorConfig, Scenario};
    use super::*;
    use tally_model::reference::{poll_closing_2020, president_2020};

    fn generator(count: u64) -> VoterGenerator {
        VoterGenerator::new(GeneratorConfig {
            voters: Some(count),
            ..Default::default()
        })
        .expect("a valid configuration")
    }

    #[test]
    fn unpaced_it_hands_out_every_slot_of_its_share_in_order_then_ends() {
        let generator = generator(10);
        let mut schedule = Schedule::new(1, 3, None);
        let mut batch = RecordBatch::default();
        assert_eq!(schedule.take(&generator, 2, &mut batch), Next::Ready);
        assert_eq!(schedule.take(&generator, 100, &mut batch), Next::Ended);
        let mut expected = RecordBatch::default();
        [1, 4, 7]
            .into_iter()
            .for_each(|slot| generator.slot(slot, 0, &mut expected));
        let records = |b: &RecordBatch| b.iter().map(|(_, r)| r.to_vec()).collect::<Vec<_>>();
        assert_eq!(records(&batch), records(&expected));
    }

    #[test]
    fn at_a_rate_it_waits_rather_than_runs_ahead() {
        let generator = generator(1_000);
        let mut schedule = Schedule::new(0, 1, Some(10.0));
        let mut batch = RecordBatch::default();
        let next = schedule.take(&generator, 1_000, &mut batch);
        assert!(batch.len() <= 2, "one record due at the start, not {}", batch.len());
        assert!(
            matches!(next, Next::Wait(wait) if wait <= Duration::from_millis(100)),
            "{next:?}"
        );
    }

    #[test]
    fn on_a_night_nothing_goes_before_it_is_due() {
        let generator = VoterGenerator::new(GeneratorConfig {
            scenario: Some(Scenario::new(president_2020(), 0.0002).expect("a scenario")),
            night: Some((poll_closing_2020().clone(), Duration::from_secs(60))),
            ..Default::default()
        })
        .expect("a night");
        // Before the schedule starts, so every slot it hands out is due by this clock too.
        let started = Instant::now();
        let mut schedule = Schedule::new(0, 1, None);
        let mut batch = RecordBatch::default();
        let next = schedule.take(&generator, usize::MAX, &mut batch);
        let taken = batch.len() as u64;
        // All of the night's slots but its first few are hours (here seconds) away.
        assert!(taken < generator.voters().unwrap_or(0) / 2, "{taken} taken at once");
        assert!((0..taken).all(|slot| generator.due_at(slot).is_some_and(|due| due <= started.elapsed())));
        let Next::Wait(wait) = next else {
            panic!("{next:?}: the rest of the night is not due yet")
        };
        let due = generator.due_at(taken).expect("a night slot");
        assert!(wait <= due, "wait {wait:?} for a slot due at {due:?}");
    }
}
