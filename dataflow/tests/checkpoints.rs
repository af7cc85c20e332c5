//! Checkpoints see one consistent state: the offsets the sources reported travel through the
//! graph with the counts, so at every checkpoint each worker's offset is exactly what it had
//! handed over when it crossed a checkpoint boundary, and the counts are exactly those records.

use std::collections::BTreeSet;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tally_dataflow::graph::{Checkpoint, Publish};
use tally_dataflow::{run_worker, DurableSource, PipelineOptions, RecordBatch, Source, SourceState};
use tally_model::{Position, SourceProgress, Tallies};

/// Hands out `total` records a few at a time on stream `stream`, reporting its offset and
/// remembering the offsets at which it was told about checkpoint boundaries.
struct CountingSource {
    stream: u32,
    next: u64,
    total: u64,
    crossings: Arc<Mutex<BTreeSet<(u32, u64)>>>,
}

impl Source for CountingSource {
    fn poll(&mut self, max: usize, batch: &mut RecordBatch) -> Result<SourceState, tally_dataflow::SourceError> {
        for _ in 0..max.min(7) {
            if self.next == self.total {
                return Ok(SourceState::Exhausted);
            }
            // Each worker's voters are distinct: no duplicates, so records == votes.
            let id = u64::from(self.stream) * 1_000_000 + self.next;
            let record = format!(r#"{{"id":{id},"gender":"Male","age":40,"state":"OH","decision":"A"}}"#);
            batch.push(Position::new(self.stream, self.next), record.as_bytes());
            self.next += 1;
        }
        // Slow enough that epochs (and checkpoint boundaries) pass during the run.
        std::thread::sleep(Duration::from_micros(200));
        Ok(SourceState::Active)
    }
    fn durability(&mut self) -> Option<&mut dyn DurableSource> {
        Some(self)
    }
}

impl DurableSource for CountingSource {
    fn offsets(&self) -> Vec<(u32, u64)> {
        vec![(self.stream, self.next)]
    }
    fn checkpoint(&mut self) {
        self.crossings.lock().unwrap().insert((self.stream, self.next));
    }
}

#[test]
fn every_checkpoint_pairs_counts_with_exactly_their_offsets() {
    let crossings: Arc<Mutex<BTreeSet<(u32, u64)>>> = Arc::default();
    let saved: Arc<Mutex<Vec<(u64, Tallies, SourceProgress)>>> = Arc::default();
    let options = PipelineOptions {
        tick: Duration::from_millis(1),
        checkpoint_every: Some(Duration::from_millis(5)),
        ..PipelineOptions::default()
    };
    let (crossings_in, saved_in) = (crossings.clone(), saved.clone());
    timely::execute(timely::Config::process(2), move |worker| {
        let stream = worker.index() as u32;
        let mut source = CountingSource {
            stream,
            next: 0,
            total: 3000,
            crossings: crossings_in.clone(),
        };
        let publish: Publish = Box::new(|_, _, _, _| {});
        let saved = saved_in.clone();
        let checkpoint: Checkpoint = Box::new(move |tallies, progress, epoch| {
            saved.lock().unwrap().push((epoch, tallies.clone(), progress.clone()))
        });
        run_worker(
            worker,
            &mut source,
            &options,
            &AtomicBool::new(false),
            publish,
            Some(checkpoint),
        )
    })
    .expect("timely starts")
    .join()
    .into_iter()
    .for_each(|outcome| outcome.expect("worker ran").expect("source ran"));

    let crossings = crossings.lock().unwrap();
    let saved = saved.lock().unwrap();
    assert!(saved.len() >= 3, "only {} checkpoints", saved.len());
    let mut last_epoch = 0;
    for (epoch, tallies, progress) in saved.iter() {
        assert!(*epoch > last_epoch, "checkpoints advance");
        last_epoch = *epoch;
        let offsets: u64 = progress.offsets.values().sum();
        assert_eq!(
            tallies.total_records(),
            offsets,
            "counts are exactly the records before the offsets"
        );
        for (stream, offset) in &progress.offsets {
            // Either the worker's offset at a boundary it crossed, or (last one) its end.
            assert!(
                crossings.contains(&(*stream, *offset)),
                "offset {offset} of stream {stream} at {epoch}"
            );
        }
    }
    let (_, last, _) = saved.last().expect("a final checkpoint");
    assert_eq!(last.total_votes(), 6000, "the final checkpoint has everything");
}
