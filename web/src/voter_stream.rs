//! `GET /api/stream_votes`: the original voter-data API, as server-sent events — one
//! seed-format record per event, `data:{json}\n\n` — so clients of the Flask generator work
//! unchanged. The records come from a stream factory the binary supplies (one stream per
//! client, as each request ran its own generator in the original).

use futures_util::StreamExt;
use std::convert::Infallible;
use std::sync::Arc;
use warp::sse::Event;
use warp::{Filter, Reply};

/// One client's records (warp needs the stream `Sync`).
pub type RecordStream = std::pin::Pin<Box<dyn futures_util::Stream<Item = String> + Send + Sync>>;

/// Makes the record stream for one new client.
pub type RecordStreams = Arc<dyn Fn() -> RecordStream + Send + Sync>;

pub fn routes(streams: RecordStreams) -> impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone {
    warp::path!("api" / "stream_votes").and(warp::get()).map(move || {
        let events = streams().map(|record| Ok::<_, Infallible>(Event::default().data(record)));
        warp::sse::reply(events)
    })
}

/// Serves the voter API on `listener` until `shutdown` resolves; other routes answer 404.
pub async fn serve(
    listener: tokio::net::TcpListener,
    streams: RecordStreams,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let not_found = warp::any().map(|| {
        let body = serde_json::json!({ "error": "no such route; try /api/stream_votes", "status": 404 });
        warp::reply::with_status(warp::reply::json(&body), warp::http::StatusCode::NOT_FOUND)
    });
    warp::serve(routes(streams).or(not_found))
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
}
