//! `tally generate --serve ADDR`: the voter-data API as server-sent events, optionally also
//! producing every streamed record to Kafka, as the original Flask generator did.
//!
//! `GET /api/stream_votes` sends one seed-format record per event, `data:{json}\n\n`, so
//! clients of the Flask generator work unchanged. Each client gets its own stream from the
//! first voter, as each request ran its own generator in the original.

use anyhow::{anyhow, Context, Result};
use futures_util::stream::{self, StreamExt};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tally_connectors::kafka::{KafkaError, KafkaUrl};
use tally_connectors::sinks::kafka::VoteProducer;
use tally_connectors::sources::generator::{Next, Schedule, VoterGenerator};
use tally_source::RecordBatch;
use warp::sse::Event;
use warp::{Filter, Reply};

/// The longest a stream sleeps between checks, so high rates go out in small batches.
const TICK: Duration = Duration::from_millis(10);

pub fn serve_votes(
    generator: VoterGenerator,
    address: SocketAddr,
    rate: f64,
    kafka: Option<(&KafkaUrl, &[(String, String)])>,
) -> Result<()> {
    let (to_kafka, producing) = match kafka {
        Some((url, properties)) => {
            let (sender, producing) = produce_on_own_thread(VoteProducer::new(url, properties)?)?;
            (Some(sender), Some(producing))
        }
        None => (None, None),
    };
    let generator = Arc::new(generator);
    let streams: RecordStreams = {
        let to_kafka = to_kafka.clone();
        Arc::new(move || Box::pin(client_stream(generator.clone(), rate, to_kafka.clone())))
    };
    drop(to_kafka);
    let runtime = crate::runtime::two_threads("tally-voter-api")?;
    let listener = runtime
        .block_on(tokio::net::TcpListener::bind(address))
        .with_context(|| format!("cannot listen on {address}"))?;
    let local = listener.local_addr().context("listening socket has no address")?;
    eprintln!("tally: voter stream at http://{local}/api/stream_votes");
    runtime.block_on(serve(listener, streams, async {
        let _ = tokio::signal::ctrl_c().await;
    }));
    // Dropping the runtime drops the client streams, and with them the last senders: the
    // producer thread then flushes and ends.
    drop(runtime);
    if let Some(producing) = producing {
        producing
            .join()
            .map_err(|_| anyhow!("the producer thread panicked"))??;
    }
    Ok(())
}

/// Records from the client streams go to Kafka on a thread of their own: a producer whose queue
/// is full waits for room, and that wait must never hold one of the HTTP runtime's two
/// threads. The channel is bounded, so a slow broker slows the streams instead of filling
/// memory. The thread flushes when the last sender is dropped and returns the records delivered.
fn produce_on_own_thread(
    mut producer: VoteProducer,
) -> Result<(ToKafka, std::thread::JoinHandle<Result<u64, KafkaError>>)> {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Vec<String>>(64);
    let thread = std::thread::Builder::new()
        .name("tally-voter-producer".to_string())
        .spawn(move || {
            let mut said = false;
            while let Some(records) = receiver.blocking_recv() {
                for record in &records {
                    if let Err(e) = producer.send(record.as_bytes()) {
                        tracing::error!("{e}");
                    }
                }
                // Said once: the streams go on, and the flush at the end reports the count.
                if let (Err(e), false) = (producer.poll(), said) {
                    tracing::error!("{e}");
                    said = true;
                }
            }
            producer.flush(Duration::from_secs(60))
        })
        .context("cannot start the producer thread")?;
    Ok((sender, thread))
}

/// Where client streams hand their records for Kafka.
type ToKafka = tokio::sync::mpsc::Sender<Vec<String>>;

/// One client's records, from the first, on the generator's schedule (a night's clock, or
/// `rate` per second; 0 = unlimited), each also sent to Kafka when a producer is given.
fn client_stream(
    generator: Arc<VoterGenerator>,
    rate: f64,
    to_kafka: Option<ToKafka>,
) -> impl futures_util::Stream<Item = String> + Send + Sync {
    let state = (Schedule::new(0, 1, Some(rate)), false); // (the schedule, whether it ended)
    stream::unfold(state, move |(mut schedule, ended)| {
        let (generator, to_kafka) = (generator.clone(), to_kafka.clone());
        async move {
            if ended {
                return None;
            }
            let mut batch = RecordBatch::default();
            let next = loop {
                match schedule.take(&generator, 4096, &mut batch) {
                    Next::Wait(wait) if batch.is_empty() => {
                        tokio::time::sleep(wait.clamp(Duration::from_millis(1), TICK)).await
                    }
                    next => break next,
                }
            };
            if batch.is_empty() {
                return None;
            }
            let records: Vec<String> = batch
                .iter()
                .map(|(_, record)| String::from_utf8_lossy(record).into_owned())
                .collect();
            if let Some(to_kafka) = &to_kafka {
                // Waits (asynchronously) while the producer is behind; gone only at shutdown.
                let _ = to_kafka.send(records.clone()).await;
            }
            Some((stream::iter(records), (schedule, next == Next::Ended)))
        }
    })
    .flatten()
}

/// One client's records (warp needs the stream `Sync`).
type RecordStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = String> + Send + Sync>>;

/// Makes the record stream for one new client.
type RecordStreams = Arc<dyn Fn() -> RecordStream + Send + Sync>;

fn routes(streams: RecordStreams) -> impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone {
    warp::path!("api" / "stream_votes").and(warp::get()).map(move || {
        let events = streams().map(|record| Ok::<_, Infallible>(Event::default().data(record)));
        warp::sse::reply(events)
    })
}

/// Serves the voter API on `listener` until `shutdown` resolves; other routes answer 404.
async fn serve(
    listener: tokio::net::TcpListener,
    streams: RecordStreams,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let not_found = warp::any().map(|| {
        let body = serde_json::json!({ "error": "no such route; try /api/stream_votes", "status": 404 });
        warp::reply::with_status(warp::reply::json(&body), warp::http::StatusCode::NOT_FOUND)
    });
    // Every request the voter API does not route is the 404 (so the filter never rejects).
    tally_web::serve_filter(listener, routes(streams).or(not_found), shutdown).await;
}
