//! The HTTP API (warp). Input: a `watch` channel of immutable [`Results`], swapped whenever an
//! epoch completes. The server never reaches into sources or storage.

use crate::charts::{render, Chart};
use crate::metrics::ResultsMetrics;
use bytes::Bytes;
use lru::LruCache;
use serde::{Deserialize, Serialize};
use std::convert::Infallible;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tally_model::metrics::Registry;
use tally_model::{Results, State, Timeline};
use tokio::sync::watch;
use warp::http::{header, StatusCode};
use warp::sse::Event;
use warp::{Filter, Rejection, Reply};

/// Why a job is degraded (`/healthz` answers 503 with it).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Degraded(pub String);

impl Degraded {
    /// For `map_err`: a component's own error, as the reason.
    pub fn because(error: impl std::fmt::Display) -> Degraded {
        Degraded(error.to_string())
    }
}

/// What the job tells the server besides results: its health and any metrics of its own
/// (sources and sinks add theirs here).
pub trait JobStatus: Send + Sync + 'static {
    /// `Ok(detail)` when healthy, `Err(why)` when degraded.
    fn health(&self) -> Result<String, Degraded> {
        Ok("ok".to_string())
    }
    /// Adds the job's metrics (collectors read at scrape time) to the server's registry.
    fn register_metrics(&self, _registry: &mut Registry) {}
}

/// A job with nothing to add.
pub struct NoStatus;
impl JobStatus for NoStatus {}

/// What identifies one rendered chart: the chart, its width, the height asked for (none: its
/// own), the state it is cut at, and the publication (epoch, complete) it draws.
type ChartKey = (Chart, u32, Option<u32>, Option<State>, u64, bool);

/// Rendered charts, each for the results it shows. Bounded: a client can ask for millions of
/// sizes, and the least recently used go first.
type ChartCache = Mutex<LruCache<ChartKey, Arc<Rendering>>>;

/// One chart at one size for one publication of the results, rendered once: the requests that
/// arrive while it renders wait for that render rather than start their own.
struct Rendering {
    results: Arc<Results>,
    svg: tokio::sync::OnceCell<Result<Body, String>>,
}

/// A response body as it is and gzipped, compressed once however many ask, with an entity tag
/// of its content (so a chart whose drawing did not change is a 304 across epochs).
#[derive(Clone)]
pub struct Body {
    identity: Bytes,
    gzip: Bytes,
    etag: String,
}

impl Body {
    pub fn new(identity: Bytes) -> Body {
        use std::hash::{Hash, Hasher};
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        identity.hash(&mut hasher);
        let gzip = gzip(&identity);
        Body {
            etag: format!("\"{:016x}\"", hasher.finish()),
            identity,
            gzip,
        }
    }

    /// The reply: gzipped when the client accepts it, with its type and entity tag.
    fn reply(&self, content_type: &'static str, accepts_gzip: bool) -> warp::reply::Response {
        let mut response = match accepts_gzip {
            true => with_type(self.gzip.clone(), content_type),
            false => with_type(self.identity.clone(), content_type),
        };
        let headers = response.headers_mut();
        if accepts_gzip {
            headers.insert(header::CONTENT_ENCODING, header::HeaderValue::from_static("gzip"));
        }
        headers.insert(header::VARY, header::HeaderValue::from_static("accept-encoding"));
        if let Ok(etag) = header::HeaderValue::from_str(&self.etag) {
            headers.insert(header::ETAG, etag);
        }
        response
    }
}

/// `body` gzipped (level 6: within a few percent of the best on SVG and JSON, at a fraction of
/// the time).
fn gzip(body: &[u8]) -> Bytes {
    use std::io::Write;
    let mut encoder = flate2::write::GzEncoder::new(Vec::with_capacity(body.len() / 4), flate2::Compression::new(6));
    // Writing to a Vec cannot fail.
    let _ = encoder.write_all(body);
    Bytes::from(encoder.finish().unwrap_or_default())
}

/// Whether an `Accept-Encoding` header accepts gzip (`gzip` or `*`, without `q=0`).
fn accepts_gzip(header: Option<&str>) -> bool {
    header.is_some_and(|header| {
        header.split(',').any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f64>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
    })
}

/// Publications kept for `?epoch=`: a dashboard asks for every chart of the epoch it shows,
/// and these cover the seconds its requests take even at four publications a second.
pub const KEPT_EPOCHS: usize = 32;

/// Rendered charts kept at once: every chart at a few sizes (a dashboard asks for each at the
/// size it shows it, and a handful of readers have different screens). At most about 100 KB
/// each, so a few MB in all.
pub const CHART_CACHE_ENTRIES: usize = 64;

/// Shared by every request.
pub struct WebState {
    results: watch::Receiver<Arc<Results>>,
    status: Arc<dyn JobStatus>,
    /// Rendered charts by (chart, size): rendered at most once per epoch.
    charts: ChartCache,
    /// The latest results as compact JSON, written once per publication however many ask.
    results_json: Mutex<Option<(Arc<Results>, Body)>>,
    /// The publications served lately, newest last, for charts of an asked epoch.
    recent: Mutex<std::collections::VecDeque<Arc<Results>>>,
    /// Records per second as an `f64`'s bits, updated once a second.
    ingest_rate: Arc<AtomicU64>,
    /// Every metric `/metrics` shows: the results' and the job's.
    registry: Registry,
    /// How the race moved (`/api/timeline`, `/charts/timeline.svg`), kept by the job.
    timeline: Arc<RwLock<Timeline>>,
    /// False on the processes of a cluster other than process 0: they have no results and
    /// serve only `/healthz` and `/metrics`, their own.
    serves_results: bool,
}

impl WebState {
    pub fn new(
        results: watch::Receiver<Arc<Results>>,
        status: Arc<dyn JobStatus>,
        timeline: Arc<RwLock<Timeline>>,
    ) -> Arc<WebState> {
        WebState::build(results, status, timeline, true)
    }

    /// For a cluster process other than process 0: only `/healthz` and `/metrics`.
    pub fn status_only(status: Arc<dyn JobStatus>) -> Arc<WebState> {
        let (_, results) = watch::channel(Arc::new(Results::empty(Default::default())));
        WebState::build(results, status, Arc::default(), false)
    }

    fn build(
        results: watch::Receiver<Arc<Results>>,
        status: Arc<dyn JobStatus>,
        timeline: Arc<RwLock<Timeline>>,
        serves_results: bool,
    ) -> Arc<WebState> {
        let ingest_rate = Arc::new(AtomicU64::new(0));
        let mut registry = Registry::default();
        if serves_results {
            registry.register_collector(Box::new(ResultsMetrics {
                results: results.clone(),
                ingest_rate: ingest_rate.clone(),
            }));
        }
        status.register_metrics(&mut registry);
        Arc::new(WebState {
            results,
            status,
            charts: Mutex::new(LruCache::new(
                NonZeroUsize::new(CHART_CACHE_ENTRIES).unwrap_or(NonZeroUsize::MIN),
            )),
            results_json: Mutex::new(None),
            recent: Mutex::new(std::collections::VecDeque::with_capacity(KEPT_EPOCHS)),
            ingest_rate,
            registry,
            timeline,
            serves_results,
        })
    }

    /// The latest results, kept among the recent ones: whatever a client was shown, it can ask
    /// for the charts of.
    fn latest(&self) -> Arc<Results> {
        let latest = self.results.borrow().clone();
        if let Ok(mut recent) = self.recent.lock() {
            if !recent.back().is_some_and(|newest| Arc::ptr_eq(newest, &latest)) {
                if recent.len() == KEPT_EPOCHS {
                    recent.pop_front();
                }
                recent.push_back(latest.clone());
            }
        }
        latest
    }

    /// The results of `epoch` (the newest publication of it), if still kept.
    fn at_epoch(&self, epoch: u64) -> Option<Arc<Results>> {
        let latest = self.latest();
        if latest.epoch == epoch {
            return Some(latest);
        }
        let recent = self.recent.lock().ok()?;
        recent.iter().rev().find(|r| r.epoch == epoch).cloned()
    }

    /// The latest results as compact JSON (serialized and compressed once per publication).
    fn latest_json(&self) -> Result<Body, serde_json::Error> {
        let results = self.latest();
        let cached = self.results_json.lock().ok().and_then(|cached| {
            let (shown, json) = cached.as_ref()?;
            Arc::ptr_eq(shown, &results).then(|| json.clone())
        });
        if let Some(json) = cached {
            return Ok(json);
        }
        let json = Body::new(Bytes::from(serde_json::to_vec(&*results)?));
        if let Ok(mut cached) = self.results_json.lock() {
            *cached = Some((results, json.clone()));
        }
        Ok(json)
    }
}

/// Serves on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<WebState>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    tokio::spawn(measure_ingest_rate(state.clone()));
    warp::serve(routes(state))
        .incoming(listener)
        .graceful(shutdown)
        .run()
        .await;
}

async fn measure_ingest_rate(state: Arc<WebState>) {
    let mut last = (Instant::now(), state.latest().records());
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        let now = (Instant::now(), state.latest().records());
        let rate = now.1.saturating_sub(last.1) as f64 / now.0.duration_since(last.0).as_secs_f64().max(1e-3);
        state.ingest_rate.store(rate.to_bits(), Ordering::Relaxed);
        last = now;
    }
}

#[derive(Deserialize)]
struct ResultsQuery {
    pretty: Option<bool>,
    /// One state's document (USPS code or name).
    state: Option<String>,
    /// The publication asked for (one of the last [`KEPT_EPOCHS`]); the latest without it.
    epoch: Option<u64>,
}

#[derive(Deserialize)]
struct EventsQuery {
    /// `event: epoch` with `{epoch, complete, as_of}` instead of the whole document: a page that
    /// fetches what it shows (compressed) needs only to know there is something new.
    compact: Option<bool>,
}

/// The results of `asked` (the latest without one), or why not: a 400 for an epoch no JSON
/// reader keeps exactly, a 410 for one no longer kept.
fn results_at(state: &WebState, asked: Option<u64>) -> Result<Arc<Results>, Rejection> {
    let Some(epoch) = asked else {
        return Ok(state.latest());
    };
    if epoch > MAX_EPOCH {
        return Err(warp::reject::custom(BadRequest(format!(
            "epoch must be at most {MAX_EPOCH} (2^53 - 1, the largest integer JSON readers all keep exactly)"
        ))));
    }
    state.at_epoch(epoch).ok_or_else(|| {
        warp::reject::custom(Gone(format!(
            "epoch {epoch} is no longer kept (the last {KEPT_EPOCHS} publications are); ask for the latest"
        )))
    })
}

#[derive(Deserialize)]
struct ChartQuery {
    width: Option<u32>,
    /// Scales the chart into this height; without it, the chart is as tall as its layout.
    height: Option<u32>,
    /// The candidates, gender and age charts of one state.
    state: Option<String>,
    /// The publication to draw (one of the last [`KEPT_EPOCHS`]); the latest without it.
    epoch: Option<u64>,
}

/// The state a `?state=` names; a 400 naming what was asked for otherwise.
fn asked_state(asked: &str) -> Result<State, Rejection> {
    State::lookup(asked).ok_or_else(|| {
        let shown: String = asked.chars().take(40).collect();
        warp::reject::custom(BadRequest(format!(
            "unknown state {shown:?}: use a USPS code (PA) or a name (Pennsylvania)"
        )))
    })
}

/// A request the server understood but will not answer.
#[derive(Debug)]
struct BadRequest(String);
impl warp::reject::Reject for BadRequest {}

#[derive(Debug)]
struct NotFound(String);
impl warp::reject::Reject for NotFound {}

/// An epoch no longer kept.
#[derive(Debug)]
struct Gone(String);
impl warp::reject::Reject for Gone {}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
    status: u16,
}

const SIZES: std::ops::RangeInclusive<u32> = 100..=4000;

/// The largest `?epoch=` (as the OpenAPI document says): epochs are milliseconds at most, far
/// below it.
const MAX_EPOCH: u64 = (1 << 53) - 1;

/// The OpenAPI 3 document of every route (`GET /api/openapi.json`); a test holds it and the
/// router to each other.
pub const OPENAPI: &str = include_str!("openapi.json");

/// Every route, with errors turned into JSON.
pub fn routes(state: Arc<WebState>) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let with_state = warp::any().map(move || state.clone());

    // Results live on process 0 of a cluster; the other processes say so.
    let has_results = with_state
        .clone()
        .and_then(|state: Arc<WebState>| async move {
            if state.serves_results {
                Ok(())
            } else {
                Err(warp::reject::custom(NotFound(
                    "this cluster process serves only /healthz and /metrics; results are on process 0".to_string(),
                )))
            }
        })
        .untuple_one();

    // Whether the client takes gzip: every response but the event stream is compressed for
    // one that does (an event stream must reach the page event by event, not when a
    // compressor's buffer fills).
    let gzip = warp::header::optional::<String>("accept-encoding").map(|h: Option<String>| accepts_gzip(h.as_deref()));

    let dashboard = warp::path::end().and(gzip).map(|gzip: bool| {
        static PAGE: std::sync::LazyLock<Body> =
            std::sync::LazyLock::new(|| Body::new(Bytes::from_static(include_str!("dashboard.html").as_bytes())));
        PAGE.reply("text/html; charset=utf-8", gzip)
    });

    let openapi = warp::path!("api" / "openapi.json").and(gzip).map(|gzip: bool| {
        static DOCUMENT: std::sync::LazyLock<Body> =
            std::sync::LazyLock::new(|| Body::new(Bytes::from_static(OPENAPI.as_bytes())));
        DOCUMENT.reply("application/json", gzip)
    });

    let results = warp::path!("api" / "results")
        .and(warp::query::<ResultsQuery>())
        .and(gzip)
        .and(with_state.clone())
        .and_then(|query: ResultsQuery, gzip: bool, state: Arc<WebState>| async move {
            let pretty = query.pretty.unwrap_or(false);
            // A state no one has is a 400 whatever the epoch.
            let cut = query.state.as_deref().map(asked_state).transpose()?;
            let results = results_at(&state, query.epoch)?;
            let latest = query.epoch.is_none() || Arc::ptr_eq(&results, &state.latest());
            let body = match cut {
                Some(cut) => {
                    let document = results.state_document(cut);
                    match pretty {
                        true => serde_json::to_vec_pretty(&document),
                        false => serde_json::to_vec(&document),
                    }
                    .map(|json| Body::new(Bytes::from(json)))
                }
                None if pretty => serde_json::to_vec_pretty(&*results).map(|json| Body::new(Bytes::from(json))),
                None if latest => state.latest_json(),
                None => serde_json::to_vec(&*results).map(|json| Body::new(Bytes::from(json))),
            };
            Ok::<_, Rejection>(match body {
                Ok(body) => body.reply("application/json", gzip),
                Err(e) => error_reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            })
        });

    let table = warp::path!("api" / "results.csv")
        .and(gzip)
        .and(with_state.clone())
        .map(|gzip: bool, state: Arc<WebState>| match results_csv(&state.latest()) {
            Ok(body) => {
                let reply = Body::new(Bytes::from(body)).reply("text/csv; charset=utf-8", gzip);
                warp::reply::with_header(
                    reply,
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"results.csv\"",
                )
                .into_response()
            }
            Err(e) => error_reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
        });

    let timeline =
        warp::path!("api" / "timeline")
            .and(gzip)
            .and(with_state.clone())
            .map(|gzip: bool, state: Arc<WebState>| {
                let body = match state.timeline.read() {
                    Ok(timeline) => serde_json::to_vec(&*timeline),
                    Err(_) => serde_json::to_vec(&Timeline::default()),
                };
                match body {
                    Ok(body) => Body::new(Bytes::from(body)).reply("application/json", gzip),
                    Err(e) => error_reply(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
                }
            });

    let events = warp::path!("api" / "events")
        .and(warp::query::<EventsQuery>())
        .and(with_state.clone())
        .map(|query: EventsQuery, state: Arc<WebState>| {
            let compact = query.compact.unwrap_or(false);
            warp::sse::reply(warp::sse::keep_alive().stream(result_events(state, compact)))
        });

    let charts = warp::path!("charts" / String)
        .and(warp::query::<ChartQuery>())
        .and(warp::header::optional::<String>("if-none-match"))
        .and(gzip)
        .and(with_state.clone())
        .and_then(chart);

    let metrics = warp::path!("metrics")
        .and(with_state.clone())
        .map(|state: Arc<WebState>| {
            let mut body = String::new();
            // Writing to a String cannot fail.
            let _ = prometheus_client::encoding::text::encode(&mut body, &state.registry);
            warp::reply::with_header(
                body,
                header::CONTENT_TYPE,
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )
        });

    let health = warp::path!("healthz").and(with_state).map(|state: Arc<WebState>| {
        let results = state.latest();
        // Recovering is healthy (200): the job is doing what it should, and an orchestrator that
        // restarted it would only start the replay over.
        let (status, code, detail) = match state.status.health() {
            Ok(detail) if results.recovering.is_some() => ("recovering", StatusCode::OK, detail),
            Ok(detail) => ("ok", StatusCode::OK, detail),
            Err(Degraded(detail)) => ("degraded", StatusCode::SERVICE_UNAVAILABLE, detail),
        };
        let body = if state.serves_results {
            serde_json::json!({
                "status": status, "detail": detail, "epoch": results.epoch, "complete": results.complete,
                "lost": results.lost,
            })
        } else {
            serde_json::json!({ "status": status, "detail": detail })
        };
        warp::reply::with_status(warp::reply::json(&body), code)
    });

    warp::get()
        .and(
            metrics
                .or(health)
                .or(openapi)
                .or(has_results.and(dashboard.or(results).or(table).or(timeline).or(events).or(charts))),
        )
        .recover(recover)
}

async fn chart(
    file: String,
    query: ChartQuery,
    if_none_match: Option<String>,
    gzip: bool,
    state: Arc<WebState>,
) -> Result<warp::reply::Response, Rejection> {
    let chart = file
        .strip_suffix(".svg")
        .and_then(Chart::from_name)
        .ok_or_else(|| warp::reject::custom(NotFound(format!("no chart {file:?}"))))?;
    let width = query.width.unwrap_or(Chart::DEFAULT_WIDTH);
    if !SIZES.contains(&width) || query.height.is_some_and(|h| !SIZES.contains(&h)) {
        return Err(warp::reject::custom(BadRequest(format!(
            "width and height must be within {}..={} pixels",
            SIZES.start(),
            SIZES.end()
        ))));
    }
    let shown = match &query.state {
        Some(asked) if matches!(chart, Chart::Candidates | Chart::Gender | Chart::Age) => Some(asked_state(asked)?),
        Some(_) => {
            return Err(warp::reject::custom(BadRequest(
                "?state= applies to the candidates, gender and age charts".to_string(),
            )))
        }
        None => None,
    };
    let results = results_at(&state, query.epoch)?;
    let key = (chart, width, query.height, shown, results.epoch, results.complete);
    let rendering = {
        let Ok(mut cache) = state.charts.lock() else {
            return Err(warp::reject::custom(BadRequest(
                "the chart cache is unusable".to_string(),
            )));
        };
        match cache.get(&key) {
            Some(rendering) if Arc::ptr_eq(&rendering.results, &results) => rendering.clone(),
            _ => {
                let rendering = Arc::new(Rendering {
                    results: results.clone(),
                    svg: tokio::sync::OnceCell::new(),
                });
                cache.put(key, rendering.clone());
                rendering
            }
        }
    };
    let svg = rendering
        .svg
        .get_or_init(|| async {
            let results = match shown {
                Some(cut) => Arc::new(results.for_state(cut)),
                None => results.clone(),
            };
            let timeline = match chart {
                Chart::Timeline => state.timeline.read().map(|t| t.clone()).unwrap_or_default(),
                _ => Timeline::default(),
            };
            render(chart, &results, &timeline, width, query.height)
                .map(|svg| Body::new(Bytes::from(svg)))
                .map_err(|e| e.to_string())
        })
        .await
        .clone()
        .map_err(|e| warp::reject::custom(BadRequest(e)))?;
    // The tag is the drawing's: a chart that looks the same at a new epoch is not sent again.
    if if_none_match.as_deref() == Some(svg.etag.as_str()) {
        let mut response = warp::reply::with_status(warp::reply(), StatusCode::NOT_MODIFIED).into_response();
        if let Ok(etag) = header::HeaderValue::from_str(&svg.etag) {
            response.headers_mut().insert(header::ETAG, etag);
        }
        return Ok(response);
    }
    let reply = svg.reply("image/svg+xml", gzip);
    Ok(warp::reply::with_header(reply, header::CACHE_CONTROL, "no-cache").into_response())
}

/// The per-state table: one row per state (its code, name, electoral votes, votes, expected
/// votes, % reporting, leader, margin and call), then a column of votes per candidate, in the
/// national order.
fn results_csv(results: &Results) -> Result<Vec<u8>, csv::Error> {
    let mut out = csv::Writer::from_writer(Vec::new());
    let names: Vec<&str> = results.candidates.iter().map(|c| c.name.as_str()).collect();
    let mut header = vec![
        "state",
        "name",
        "electoral_votes",
        "votes",
        "expected_votes",
        "reported",
        "leader",
        "margin",
        "called",
    ];
    header.extend(names.iter().copied());
    out.write_record(&header)?;
    for (code, state) in &results.states {
        let optional = |value: Option<String>| value.unwrap_or_default();
        let mut row = vec![
            code.clone(),
            state.name.clone(),
            state.electoral_votes.to_string(),
            state.votes.to_string(),
            optional(state.expected_votes.map(|v| v.to_string())),
            optional(state.reported.map(|r| format!("{r:.4}"))),
            optional(state.leader.clone()),
            format!("{:.4}", state.margin),
            optional(state.called.clone()),
        ];
        let votes = results.by_state.get(code);
        row.extend(
            names
                .iter()
                .map(|name| votes.and_then(|v| v.get(*name)).copied().unwrap_or(0).to_string()),
        );
        out.write_record(&row)?;
    }
    out.into_inner().map_err(|e| e.into_error().into())
}

/// `body` as it is (shared, not copied), with its content type.
fn with_type(body: Bytes, content_type: &'static str) -> warp::reply::Response {
    let mut response = warp::http::Response::new(body);
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, header::HeaderValue::from_static(content_type));
    response.into_response()
}

/// The latest results now, then again whenever they change (at most four times a second):
/// whole, or `compact` as `event: epoch` with the epoch, whether it is final and when it was
/// computed. Each one sent is kept among the recent ones, so a page can ask for its charts.
fn result_events(state: Arc<WebState>, compact: bool) -> impl futures_util::Stream<Item = Result<Event, Infallible>> {
    let results = state.results.clone();
    futures_util::stream::unfold((results, state, true), move |(mut results, state, first)| async move {
        if !first {
            results.changed().await.ok()?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        results.borrow_and_update();
        let latest = state.latest();
        let event = match compact {
            true => {
                let summary = serde_json::json!({
                    "epoch": latest.epoch, "complete": latest.complete, "as_of": latest.as_of,
                });
                Event::default().event("epoch").data(summary.to_string())
            }
            false => Event::default()
                .event("results")
                .data(serde_json::to_string(&*latest).ok()?),
        };
        Some((Ok(event), (results, state, false)))
    })
}

fn error_reply(status: StatusCode, error: String) -> warp::reply::Response {
    let body = ErrorBody {
        error,
        status: status.as_u16(),
    };
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

async fn recover(rejection: Rejection) -> Result<warp::reply::Response, Infallible> {
    let (status, message) = if let Some(NotFound(message)) = rejection.find() {
        (StatusCode::NOT_FOUND, message.clone())
    } else if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "no such route".to_string())
    } else if let Some(Gone(message)) = rejection.find() {
        (StatusCode::GONE, message.clone())
    } else if let Some(BadRequest(message)) = rejection.find() {
        (StatusCode::BAD_REQUEST, message.clone())
    } else if let Some(e) = rejection.find::<warp::reject::InvalidQuery>() {
        (StatusCode::BAD_REQUEST, e.to_string())
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        (StatusCode::METHOD_NOT_ALLOWED, "only GET is served".to_string())
    } else {
        (StatusCode::BAD_REQUEST, format!("{rejection:?}"))
    };
    let reply = error_reply(status, message);
    Ok(match status {
        // RFC 9110: a 405 says which methods are served.
        StatusCode::METHOD_NOT_ALLOWED => warp::reply::with_header(reply, "allow", "GET").into_response(),
        _ => reply,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tally_model::tallies::{Tallies, Tally};
    use tally_model::{AgeGroup, Apportionment, CandidateId, CubeKey, Gender};

    /// Results at `epoch` with `votes` votes for Ada in Ohio.
    fn results_at(epoch: u64, votes: i64) -> Arc<Results> {
        let mut tallies = Tallies::default();
        let id = CandidateId::of("Ada");
        tallies.apply(&Tally::Candidate(id, "Ada".to_string()), 1);
        let key = CubeKey {
            state: State::lookup("OH").expect("Ohio"),
            gender: Gender::Female,
            age_group: AgeGroup::From18To29,
            candidate: id,
        };
        tallies.apply(&Tally::Vote(key), votes);
        Arc::new(Results::new(&tallies, epoch, false, Apportionment::Census2020))
    }

    fn desc(svg: &[u8]) -> String {
        let text = String::from_utf8_lossy(svg);
        let start = text.find("<desc>").map_or(0, |at| at + 6);
        let end = text.find("</desc>").unwrap_or(start);
        text[start..end].to_string()
    }

    #[tokio::test]
    async fn a_chart_is_drawn_for_the_epoch_asked_and_an_epoch_no_longer_kept_is_a_410() {
        let (sender, receiver) = watch::channel(results_at(1, 10));
        let state = WebState::new(receiver, Arc::new(NoStatus), Arc::default());
        let routes = routes(state.clone());
        let get = |path: String| warp::test::request().path(&path).reply(&routes);
        // Epoch 1 is served (and so kept), then 2 published.
        assert_eq!(get("/api/results".into()).await.status(), StatusCode::OK);
        sender.send_replace(results_at(2, 25));
        let old = get("/charts/candidates.svg?epoch=1".into()).await;
        assert_eq!(old.status(), StatusCode::OK);
        assert!(desc(old.body()).starts_with("10 votes counted"), "{}", desc(old.body()));
        let new = get("/charts/candidates.svg?epoch=2".into()).await;
        assert!(desc(new.body()).starts_with("25 votes counted"), "{}", desc(new.body()));
        let latest = get("/charts/candidates.svg".into()).await;
        assert_eq!(latest.body(), new.body());
        // Publications beyond the last KEPT_EPOCHS are gone.
        for epoch in 3..3 + KEPT_EPOCHS as u64 {
            sender.send_replace(results_at(epoch, epoch as i64));
            let _ = state.latest();
        }
        let gone = get("/charts/candidates.svg?epoch=1".into()).await;
        assert_eq!(gone.status(), StatusCode::GONE);
        let body: serde_json::Value = serde_json::from_slice(gone.body()).unwrap_or_default();
        assert!(body["error"].as_str().is_some_and(|e| e.contains("epoch 1")), "{body}");
        assert_eq!(
            get("/charts/candidates.svg?epoch=999".into()).await.status(),
            StatusCode::GONE
        );
    }

    #[tokio::test]
    async fn a_chart_that_looks_the_same_is_a_304_and_bodies_are_gzipped_for_who_accepts_it() {
        let (sender, receiver) = watch::channel(results_at(1, 10));
        let routes = routes(WebState::new(receiver, Arc::new(NoStatus), Arc::default()));
        let first = warp::test::request()
            .path("/charts/states.svg?width=500")
            .reply(&routes)
            .await;
        let etag = first.headers()[header::ETAG].to_str().unwrap_or_default().to_string();
        // A new epoch with the same counts draws the same chart: not sent again.
        sender.send_replace(results_at(2, 10));
        let same = warp::test::request()
            .path("/charts/states.svg?width=500&epoch=2")
            .header("if-none-match", &etag)
            .reply(&routes)
            .await;
        assert_eq!(same.status(), StatusCode::NOT_MODIFIED);
        sender.send_replace(results_at(3, 11));
        let changed = warp::test::request()
            .path("/charts/states.svg?width=500")
            .header("if-none-match", &etag)
            .reply(&routes)
            .await;
        assert_eq!(changed.status(), StatusCode::OK);
        assert_ne!(changed.headers()[header::ETAG], etag.as_str());

        for path in [
            "/",
            "/api/results",
            "/api/results.csv",
            "/api/timeline",
            "/api/openapi.json",
            "/charts/age.svg",
        ] {
            let plain = warp::test::request().path(path).reply(&routes).await;
            assert!(plain.headers().get(header::CONTENT_ENCODING).is_none(), "{path}");
            let zipped = warp::test::request()
                .path(path)
                .header("accept-encoding", "br;q=1.0, gzip;q=0.8")
                .reply(&routes)
                .await;
            assert_eq!(zipped.headers()[header::CONTENT_ENCODING], "gzip", "{path}");
            let mut unzipped = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&zipped.body()[..]), &mut unzipped)
                .unwrap_or_default();
            assert_eq!(unzipped, plain.body().to_vec(), "{path}");
            let refused = warp::test::request()
                .path(path)
                .header("accept-encoding", "gzip;q=0, identity")
                .reply(&routes)
                .await;
            assert!(refused.headers().get(header::CONTENT_ENCODING).is_none(), "{path}");
        }
    }

    #[test]
    fn accept_encoding_is_read_as_rfc_9110_says() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, GZIP;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("br, identity")));
        assert!(!accepts_gzip(None));
    }

    #[tokio::test]
    async fn the_chart_cache_holds_to_its_bound_whatever_sizes_are_asked_for() {
        let (_sender, results) = watch::channel(Arc::new(Results::empty(Default::default())));
        let state = WebState::new(results, Arc::new(NoStatus), Arc::default());
        let routes = routes(state.clone());
        let asked = 3 * CHART_CACHE_ENTRIES as u32;
        for width in 300..300 + asked {
            let path = format!("/charts/states.svg?width={width}&height={}", 200 + width % 7);
            let response = warp::test::request().path(&path).reply(&routes).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
        }
        let cached = state.charts.lock().map(|cache| cache.len()).unwrap_or(usize::MAX);
        assert_eq!(cached, CHART_CACHE_ENTRIES, "{asked} sizes asked for");
        // The most recent sizes are the ones kept.
        let newest = (
            Chart::States,
            300 + asked - 1,
            Some(200 + (300 + asked - 1) % 7),
            None,
            0,
            false,
        );
        assert!(state.charts.lock().is_ok_and(|cache| cache.contains(&newest)));
    }

    /// Every documented path answers with one of its documented statuses (and is therefore a
    /// route); every route the router serves is documented; an unknown path is a JSON 404.
    #[tokio::test]
    async fn the_openapi_document_and_the_router_agree() {
        let document: serde_json::Value = serde_json::from_str(OPENAPI).expect("the document is JSON");
        let paths = document["paths"].as_object().expect("paths");
        let (_sender, results) = watch::channel(Arc::new(Results::empty(Default::default())));
        let routes = routes(WebState::new(results, Arc::new(NoStatus), Arc::default()));
        for (path, item) in paths {
            let operation = &item["get"];
            let documented: Vec<&str> = operation["responses"]
                .as_object()
                .expect("responses")
                .keys()
                .map(String::as_str)
                .collect();
            // A path parameter is tried with every value it may take.
            let values: Vec<String> = operation["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|p| p["in"] == "path")
                .and_then(|p| p["schema"]["enum"].as_array())
                .map(|values| values.iter().filter_map(|v| v.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let concrete: Vec<String> = match path.split_once('{') {
                Some((prefix, _)) => values.iter().map(|v| format!("{prefix}{v}")).collect(),
                None => vec![path.clone()],
            };
            assert!(!concrete.is_empty(), "{path} has values to try");
            for request in concrete {
                if request == "/api/events" {
                    continue; // an endless stream; its route is checked below by its headers
                }
                let response = warp::test::request().path(&request).reply(&routes).await;
                let status = response.status().as_u16().to_string();
                assert!(
                    documented.contains(&status.as_str()),
                    "{request}: {status} not in {documented:?}"
                );
                assert_ne!(status, "404", "{request} is documented but not routed");
            }
        }
        // The router's routes, all documented (the list the router is built from above).
        for route in [
            "/",
            "/api/results",
            "/api/events",
            "/api/openapi.json",
            "/api/timeline",
            "/api/results.csv",
            "/metrics",
            "/healthz",
        ]
        .into_iter()
        .map(str::to_string)
        .chain(Chart::ALL.iter().map(|chart| format!("/charts/{}.svg", chart.name())))
        {
            assert!(paths.contains_key(&route), "{route} is routed but not documented");
        }
        assert_eq!(
            paths.len(),
            8 + Chart::ALL.len(),
            "a documented path the router does not have"
        );
        let unknown = warp::test::request().path("/api/nope").reply(&routes).await;
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
        let body: serde_json::Value = serde_json::from_slice(unknown.body()).expect("a JSON error");
        assert_eq!(body["status"], 404);
    }
}
