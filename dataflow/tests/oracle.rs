//! The graph against its specification: for any records (valid, invalid, duplicated), any
//! number of workers and any epoch size, the published final counts equal `fold`.

use proptest::prelude::*;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tally_dataflow::graph::Publish;
use tally_dataflow::{run_worker, MemorySource, PipelineOptions, RecordBatch, RejectSink, Source, SourceState};
use tally_model::{fold, Position, RejectReason, Tallies};

/// Every rejected record a source is told of: position, bytes, reason.
type Told = Arc<Mutex<Vec<(Position, Vec<u8>, RejectReason)>>>;

/// A memory source that asks for duplicates too, and writes down every reject it is told of;
/// a displaced record it looks up by position in `all`, as a Kafka source fetches it.
struct Recording {
    inner: MemorySource,
    all: Arc<Vec<(Position, Vec<u8>)>>,
    told: Told,
}

impl Source for Recording {
    fn poll(&mut self, max: usize, batch: &mut RecordBatch) -> Result<SourceState, tally_dataflow::SourceError> {
        self.inner.poll(max, batch)
    }
    fn rejects(&mut self) -> Option<&mut dyn RejectSink> {
        Some(self)
    }
}

impl RejectSink for Recording {
    fn rejected(&mut self, position: Position, record: &[u8], reason: RejectReason) {
        self.told.lock().unwrap().push((position, record.to_vec(), reason));
    }
    fn wants_duplicates(&self) -> bool {
        true
    }
    fn displaced(&mut self, position: Position) {
        let (_, record) = self
            .all
            .iter()
            .find(|(p, _)| *p == position)
            .expect("a record at that position");
        self.rejected(position, &record.clone(), RejectReason::DuplicateVoter);
    }
}

/// Runs the graph over `records`, dealt round-robin to `workers` workers.
fn run_graph(records: &[(Position, Vec<u8>)], workers: usize, epoch_records: usize, dedup: bool) -> Tallies {
    run_graph_telling(records, workers, epoch_records, dedup, None)
}

/// As [`run_graph`]; with `told`, the sources ask for duplicates and record every reject.
fn run_graph_telling(
    records: &[(Position, Vec<u8>)],
    workers: usize,
    epoch_records: usize,
    dedup: bool,
    told: Option<Told>,
) -> Tallies {
    let records = Arc::new(records.to_vec());
    let last: Arc<Mutex<Option<(Tallies, bool)>>> = Arc::new(Mutex::new(None));
    let sink = last.clone();
    let options = PipelineOptions {
        dedup,
        epoch_records,
        tick: Duration::from_secs(60),
        epochs_in_flight: 2,
        latency: None,
        checkpoint_every: None,
        stall_limit: None,
        ..PipelineOptions::default()
    };
    timely::execute(timely::Config::process(workers), move |worker| {
        let (index, peers) = (worker.index(), worker.peers());
        let mine: Vec<_> = records.iter().skip(index).step_by(peers).cloned().collect();
        let inner = MemorySource::new(mine, 3);
        let mut source: Box<dyn Source> = match &told {
            Some(told) => Box::new(Recording {
                inner,
                all: records.clone(),
                told: told.clone(),
            }),
            None => Box::new(inner),
        };
        let sink = sink.clone();
        let publish: Publish = Box::new(move |tallies, _progress, _epoch, complete| {
            *sink.lock().unwrap() = Some((tallies.clone(), complete));
        });
        run_worker(
            worker,
            source.as_mut(),
            &options,
            &AtomicBool::new(false),
            publish,
            None,
        )
    })
    .expect("timely starts")
    .join()
    .into_iter()
    .for_each(|outcome| outcome.expect("worker ran").expect("source did not fail"));
    let (tallies, complete) = last.lock().unwrap().take().expect("worker 0 published");
    assert!(complete, "the last publication is the complete one");
    tallies
}

fn field(name: &str, value: String) -> Option<String> {
    Some(format!("\"{name}\":{value}"))
}

/// A record, valid or broken in one of the ways the codec names, from a small voter-id space so
/// that duplicates are common.
fn record() -> impl Strategy<Value = Vec<u8>> {
    let id = prop_oneof![
        8 => (0u64..12).prop_map(|id| id.to_string()),
        1 => (0u64..12).prop_map(|id| format!("\"{id}\"")),
        1 => Just("-4".to_string()),
        1 => Just("null".to_string()),
    ];
    let gender = prop_oneof![
        6 => prop::sample::select(vec!["\"Female\"", "\"male\"", "\"Other\""]).prop_map(String::from),
        1 => Just("\"robot\"".to_string()),
    ];
    let age = prop_oneof![8 => 18u64..=120, 1 => 0u64..18, 1 => 121u64..200].prop_map(|a| a.to_string());
    let state = prop_oneof![
        8 => prop::sample::select(vec!["\"Ohio\"", "\"tx\"", "\"ME\"", "\"Georgia\""]).prop_map(String::from),
        1 => Just("\"Atlantis\"".to_string()),
    ];
    let decision = prop_oneof![
        8 => prop::sample::select(vec!["\"Ada\"", "\"Grace\"", "\" Ada \"", "\"Émile\""]).prop_map(String::from),
        1 => Just("\"\"".to_string()),
    ];
    // Counties of Ohio and Texas, as strings and integers, one of another state, one of none.
    let county = prop_oneof![
        4 => Just(None),
        2 => prop::sample::select(vec!["\"39035\"", "\"48201\"", "39049", "\"13121\""]).prop_map(|c| Some(c.to_string())),
        1 => prop::sample::select(vec!["\"99999\"", "\"4820\"", "null"]).prop_map(|c| Some(c.to_string())),
    ];
    let complete = (id, gender, age, state, decision, county, 0usize..7).prop_map(|(i, g, a, s, d, c, drop)| {
        let fields = [
            field("id", i),
            field("gender", g),
            field("age", a),
            field("state", s),
            field("decision", d),
            c.and_then(|c| field("county", c)),
        ];
        let kept: Vec<String> = fields
            .into_iter()
            .enumerate()
            .filter(|(n, _)| *n != drop)
            .filter_map(|(_, f)| f)
            .collect();
        format!("{{{}}}", kept.join(",")).into_bytes()
    });
    prop_oneof![12 => complete, 1 => Just(b"{not json".to_vec()), 1 => Just(b"[]".to_vec())]
}

/// A hostile record: a valid one cut short, with a field of the wrong type or a huge number,
/// nested deep, with invalid UTF-8 or NUL bytes, with duplicate keys, or plain noise.
fn hostile() -> impl Strategy<Value = Vec<u8>> {
    let valid = r#"{"id":7,"gender":"Female","age":34,"state":"Ohio","decision":"Ada"}"#;
    let wrong_id = prop::sample::select(vec![
        "1e400",
        "18446744073709551616",
        "-0",
        "7.5",
        "[7]",
        "{\"n\":7}",
        "true",
        "\"\\u0000\"",
        "99999999999999999999999999999999",
    ]);
    prop_oneof![
        (0..valid.len()).prop_map(move |cut| valid.as_bytes()[..cut].to_vec()),
        wrong_id.prop_map(move |id| valid.replacen("7", id, 1).into_bytes()),
        (1usize..400).prop_map(|depth| format!(
            r#"{{"id":{}1{},"gender":"Male","age":40,"state":"TX","decision":"B"}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        )
        .into_bytes()),
        (
            0..valid.len(),
            prop::sample::select(vec![0u8, 0xff, 0xc3, 0x80, b'"', b'\\'])
        )
            .prop_map(move |(at, byte)| {
                let mut bytes = valid.as_bytes().to_vec();
                bytes.insert(at, byte);
                bytes
            }),
        Just(br#"{"id":8,"id":9,"gender":"Male","age":40,"state":"TX","decision":"B"}"#.to_vec()),
        Just(br#"{"id":8,"gender":"Male","gender":"Female","age":40,"state":"TX","decision":"B"}"#.to_vec()),
        prop::collection::vec(any::<u8>(), 0..80),
    ]
}

/// Records at distinct positions over a few streams, in a shuffled order.
fn records() -> impl Strategy<Value = Vec<(Position, Vec<u8>)>> {
    prop::collection::vec((0u32..3, record()), 0..120)
        .prop_map(|records| {
            records
                .into_iter()
                .enumerate()
                .map(|(offset, (stream, record))| (Position::new(stream, offset as u64), record))
                .collect::<Vec<_>>()
        })
        .prop_shuffle()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn graph_equals_the_sequential_fold(
        records in records(),
        workers in 1usize..=3,
        epoch_records in 1usize..40,
    ) {
        let expected = fold(records.iter().map(|(p, r)| (*p, r.as_slice())), true);
        prop_assert_eq!(run_graph(&records, workers, epoch_records, true), expected);
    }

    #[test]
    fn every_reject_duplicates_included_is_told_to_the_source_once(
        records in records(),
        workers in 1usize..=3,
        epoch_records in 1usize..40,
    ) {
        // The fold's rejects, by position: later valid records of a voter are duplicates.
        let mut sorted = records.clone();
        sorted.sort();
        let mut voters = std::collections::HashSet::new();
        let mut expected: Vec<(Position, Vec<u8>, RejectReason)> = sorted
            .into_iter()
            .filter_map(|(position, record)| {
                let reason = match tally_model::codec::decode(&record) {
                    Ok(ballot) if voters.insert(ballot.voter) => return None,
                    Ok(_) => RejectReason::DuplicateVoter,
                    Err(reason) => reason,
                };
                Some((position, record, reason))
            })
            .collect();
        let told: Told = Arc::default();
        let tallies = run_graph_telling(&records, workers, epoch_records, true, Some(told.clone()));
        prop_assert_eq!(tallies, fold(records.iter().map(|(p, r)| (*p, r.as_slice())), true));
        let mut got = told.lock().unwrap().clone();
        got.sort();
        expected.sort();
        prop_assert_eq!(got, expected);
    }

    #[test]
    fn hostile_records_are_each_counted_once_and_the_graph_agrees(
        records in prop::collection::vec(prop_oneof![3 => hostile(), 1 => record()], 0..120),
        workers in 1usize..=2,
    ) {
        let records: Vec<(Position, Vec<u8>)> = records
            .into_iter()
            .enumerate()
            .map(|(offset, record)| (Position::new(0, offset as u64), record))
            .collect();
        let expected = fold(records.iter().map(|(p, r)| (*p, r.as_slice())), true);
        // Every record is a vote or a reject under exactly one reason: none lost, none twice.
        prop_assert_eq!(expected.total_records(), records.len() as u64);
        prop_assert_eq!(run_graph(&records, workers, 5, true), expected);
    }

    #[test]
    fn without_dedup_every_valid_record_counts(records in records(), workers in 1usize..=2) {
        let expected = fold(records.iter().map(|(p, r)| (*p, r.as_slice())), false);
        prop_assert_eq!(run_graph(&records, workers, 7, false), expected);
    }
}

#[test]
fn the_first_record_by_position_wins_whatever_the_arrival_order() {
    let early = br#"{"id":1,"gender":"Male","age":30,"state":"OH","decision":"Early"}"#.to_vec();
    let late = br#"{"id":1,"gender":"Male","age":30,"state":"OH","decision":"Late"}"#.to_vec();
    // The later position arrives first, in an earlier epoch.
    let records = vec![(Position::new(0, 9), late), (Position::new(0, 2), early)];
    let tallies = run_graph(&records, 1, 1, true);
    assert_eq!(tallies.total_votes(), 1);
    let results = tally_model::Results::new(&tallies, 0, true, Default::default());
    assert_eq!(results.candidates[0].name, "Early");
    assert_eq!(results.rejected["duplicate_voter"], 1);
}

#[test]
fn a_record_over_the_limit_is_malformed_whatever_its_source() {
    let short = r#"{"id":1,"gender":"Male","age":40,"state":"OH","decision":"A"}"#;
    let long = format!(
        r#"{{"id":2,"gender":"Male","age":40,"state":"OH","decision":"{}"}}"#,
        "B".repeat(40)
    );
    let records: Vec<(Position, Vec<u8>)> = [short, long.as_str()]
        .iter()
        .enumerate()
        .map(|(i, r)| (Position::new(0, i as u64), r.as_bytes().to_vec()))
        .collect();
    let limit = short.len() + 10;
    assert!(long.len() > limit);
    let last: Arc<Mutex<Option<Tallies>>> = Arc::default();
    let sink = last.clone();
    timely::execute_directly(move |worker| {
        let mut source = MemorySource::new(records.clone(), 1);
        let sink = sink.clone();
        let publish: Publish = Box::new(move |tallies, _, _, complete| {
            if complete {
                *sink.lock().unwrap() = Some(tallies.clone());
            }
        });
        let options = PipelineOptions {
            max_record_bytes: limit,
            ..PipelineOptions::default()
        };
        run_worker(worker, &mut source, &options, &AtomicBool::new(false), publish, None).unwrap();
    });
    let tallies = last.lock().unwrap().take().expect("final counts");
    assert_eq!(tallies.total_votes(), 1, "only the short record counts");
    assert_eq!(tallies.rejected.get(&RejectReason::Malformed), Some(&1));
}
