//! The route table: every path the server answers, each a line or a small handler, with errors
//! turned into JSON by [`super::errors::recover`].

use super::ap;
use super::body::{accepts_gzip, Body};
use super::chart_route::chart;
use super::errors::{recover, ApiError};
use super::events::{result_events, EventsQuery};
use super::health::Degraded;
use super::params::asked_state;
use super::state::WebState;
use super::table::{county_csv, results_csv};
use crate::metrics::{accepts_openmetrics, to_prometheus_text};
use bytes::Bytes;
use serde::Deserialize;
use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use tally_model::Timeline;
use warp::http::{header, StatusCode};
use warp::{Filter, Reply};

/// The OpenAPI 3 document of every route (`GET /api/openapi.json`); a test holds it and the
/// router to each other.
pub const OPENAPI: &str = include_str!("../openapi.json");

/// `/api/results`'s query.
#[derive(Deserialize)]
struct ResultsQuery {
    pretty: Option<bool>,
    /// One state's document (USPS code or name).
    state: Option<String>,
    /// The publication asked for (one of the last [`super::KEPT_EPOCHS`]); the latest without it.
    epoch: Option<u64>,
    /// The epoch the client holds: the latest as a change document against it
    /// ([`tally_model::changes`]), or a 304 when nothing is newer.
    since: Option<u64>,
    /// With `since`: the counties that changed too.
    units: Option<bool>,
    /// A time (milliseconds since the Unix epoch, or RFC 3339 in UTC): the record of what was
    /// published then ([`tally_model::audit`]).
    at: Option<String>,
}

/// `/api/results.csv`'s query.
#[derive(Deserialize)]
struct TableQuery {
    /// `state` (the default: one row per state) or `county` (one row per reporting unit).
    level: Option<String>,
}

/// Every route, with errors turned into JSON.
pub fn routes(state: Arc<WebState>) -> impl Filter<Extract = (impl Reply,), Error = Infallible> + Clone {
    let with_state = warp::any().map(move || state.clone());

    // Results live on process 0 of a cluster; the other processes say so.
    let has_results = with_state
        .clone()
        .and_then(|state: Arc<WebState>| async move {
            match state.serves_results {
                true => Ok(()),
                false => Err(ApiError::NotFound(
                    "this cluster process serves only /healthz and /metrics; results are on process 0".to_string(),
                )
                .reject()),
            }
        })
        .untuple_one();

    // Whether the client takes gzip: every response but the event stream is compressed for
    // one that does (an event stream must reach the page event by event, not when a
    // compressor's buffer fills).
    let gzip = warp::header::optional::<String>("accept-encoding").map(|h: Option<String>| accepts_gzip(h.as_deref()));

    let dashboard = warp::path::end().and(gzip).map(|gzip: bool| {
        static PAGE: std::sync::LazyLock<Body> =
            std::sync::LazyLock::new(|| Body::new(Bytes::from_static(include_str!("../dashboard.html").as_bytes())));
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
        .and(warp::header::optional::<String>("if-none-match"))
        .and(with_state.clone())
        .and_then(
            |query: ResultsQuery, gzip: bool, if_none_match: Option<String>, state: Arc<WebState>| async move {
                results(query, gzip, if_none_match.as_deref(), &state).map_err(ApiError::reject)
            },
        );

    let table = warp::path!("api" / "results.csv")
        .and(warp::query::<TableQuery>())
        .and(gzip)
        .and(with_state.clone())
        .map(|query: TableQuery, gzip: bool, state: Arc<WebState>| {
            let (body, file) = match query.level.as_deref() {
                None | Some("state") => (results_csv(&state.latest()), "results.csv"),
                Some("county") => (county_csv(&state.latest()), "results-by-county.csv"),
                Some(other) => {
                    let shown: String = other.chars().take(40).collect();
                    let message = format!("unknown level {shown:?}: use state or county");
                    return ApiError::BadRequest(message).reply();
                }
            };
            match body {
                Ok(body) => {
                    let reply = Body::new(Bytes::from(body)).reply("text/csv; charset=utf-8", gzip);
                    let disposition = format!("attachment; filename=\"{file}\"");
                    warp::reply::with_header(reply, header::CONTENT_DISPOSITION, disposition).into_response()
                }
                Err(e) => ApiError::Internal(format!("writing the results table: {e}")).reply(),
            }
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
                    Err(e) => ApiError::Internal(format!("writing the timeline: {e}")).reply(),
                }
            });

    let events = warp::path!("api" / "events")
        .and(warp::query::<EventsQuery>())
        .and(with_state.clone())
        .map(|query: EventsQuery, state: Arc<WebState>| {
            warp::sse::reply(warp::sse::keep_alive().stream(result_events(state, query.shape())))
        });

    // The AP-compatible feed (see `super::ap`).
    let ap_elections = warp::path!("ap" / "v2" / "elections")
        .and(warp::query::<HashMap<String, String>>())
        .and(gzip)
        .and(with_state.clone())
        .map(|query: HashMap<String, String>, gzip: bool, state: Arc<WebState>| {
            ap::elections(&query, &state, gzip).unwrap_or_else(|e| e.reply())
        });
    let ap_races = warp::path!("ap" / "v2" / "elections" / String)
        .and(warp::query::<HashMap<String, String>>())
        .and(gzip)
        .and(warp::header::optional::<String>("if-none-match"))
        .and(with_state.clone())
        .map(
            |date: String, query: HashMap<String, String>, gzip: bool, held: Option<String>, state: Arc<WebState>| {
                ap::races(&date, &query, &state, gzip, held.as_deref()).unwrap_or_else(|e| e.reply())
            },
        );

    let charts = warp::path!("charts" / String)
        .and(warp::query())
        .and(warp::header::optional::<String>("if-none-match"))
        .and(gzip)
        .and(with_state.clone())
        .and_then(chart);

    // OpenMetrics for a scraper that asks for it (Prometheus does); the Prometheus text format
    // for everyone else (curl, promtool).
    let metrics = warp::path!("metrics")
        .and(warp::header::optional::<String>("accept"))
        .and(with_state.clone())
        .map(|accept: Option<String>, state: Arc<WebState>| {
            let mut body = String::new();
            // Writing to a String cannot fail.
            let _ = prometheus_client::encoding::text::encode(&mut body, &state.registry);
            let (body, content_type) = match accepts_openmetrics(accept.as_deref()) {
                true => (body, "application/openmetrics-text; version=1.0.0; charset=utf-8"),
                false => (to_prometheus_text(&body), "text/plain; version=0.0.4; charset=utf-8"),
            };
            warp::reply::with_header(body, header::CONTENT_TYPE, content_type)
        });

    let health = warp::path!("healthz").and(with_state).map(health);

    warp::get()
        .and(
            metrics.or(health).or(openapi).or(has_results.and(
                dashboard
                    .or(results)
                    .or(table)
                    .or(timeline)
                    .or(events)
                    .or(charts)
                    .or(ap_elections)
                    .or(ap_races),
            )),
        )
        .recover(recover)
}

/// `/healthz`: 200 when ok or recovering, 503 with the reason when degraded; on the process
/// that has results, the epoch it shows and what was lost.
fn health(state: Arc<WebState>) -> impl warp::Reply {
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
}

/// `/api/results`: the whole document or one state's, of the latest publication or the one
/// asked for.
fn results(
    query: ResultsQuery,
    gzip: bool,
    if_none_match: Option<&str>,
    state: &WebState,
) -> Result<warp::reply::Response, ApiError> {
    // Which document is asked for, as the OpenAPI document says: a publication's record (`at`),
    // else the changes since a cursor (`since`), else a publication; the parameters of the
    // others do not apply (a fuzzer rightly calls a 400 for a combination the schema allows
    // wrong).
    if let Some(at) = &query.at {
        return published_at(at, gzip, state);
    }
    if let Some(since) = query.since {
        return changes_since(since, query.units.unwrap_or(false), gzip, state);
    }
    let pretty = query.pretty.unwrap_or(false);
    // A state no one has is a 400 whatever the epoch.
    let cut = query.state.as_deref().map(asked_state).transpose()?;
    let results = state.results_at(query.epoch)?;
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
    match body {
        Ok(body) => Ok(body.reply_unless("application/json", gzip, if_none_match)),
        Err(e) => Err(ApiError::Internal(format!("writing the results: {e}"))),
    }
}

/// `/api/results?at=TIME`: the record of the publication shown at TIME (the newest recorded at
/// or before it), which `tally audit` checks against the archive.
fn published_at(at: &str, gzip: bool, state: &WebState) -> Result<warp::reply::Response, ApiError> {
    let shown: String = at.chars().take(40).collect();
    let Some(ms) = tally_model::audit::parse_time(at) else {
        return Err(ApiError::BadRequest(format!(
            "at {shown:?}: a time as milliseconds since 1970 or RFC 3339 in UTC (2024-11-06T03:41:00Z)"
        )));
    };
    let log = state
        .publications
        .read()
        .map_err(|_| ApiError::Internal("the publication records' lock is poisoned".to_string()))?;
    let Some(publication) = log.at(ms) else {
        let first = log.entries().first().map(|p| tally_model::ap::rfc3339(p.as_of));
        return Err(ApiError::NotFound(match first {
            Some(first) => format!("nothing was published by {shown}: the records begin at {first}"),
            None => "no publication is on record (a job records them only with --storage)".to_string(),
        }));
    };
    let body = serde_json::json!({ "at": ms, "publication": publication });
    serde_json::to_vec(&body)
        .map(|json| Body::new(Bytes::from(json)).reply("application/json", gzip))
        .map_err(|e| ApiError::Internal(format!("writing the record: {e}")))
}

/// `/api/results?since=S`: the latest publication as a change document against S's, or a 304
/// when S is the latest; S no longer kept is a 410, as for `?epoch=` (the client then fetches
/// the whole document).
fn changes_since(
    since: u64,
    with_units: bool,
    gzip: bool,
    state: &WebState,
) -> Result<warp::reply::Response, ApiError> {
    let held = state.results_at(Some(since))?;
    let latest = state.latest();
    if held.epoch == latest.epoch {
        return Ok(super::body::not_modified(&format!("\"since-{since}\"")));
    }
    let change = tally_model::changes::changes(&held, &latest, with_units)
        .and_then(|change| serde_json::to_vec(&change))
        .map_err(|e| ApiError::Internal(format!("writing the changes: {e}")))?;
    Ok(Body::new(Bytes::from(change)).reply("application/json", gzip))
}

#[cfg(test)]
mod tests {
    use super::super::NoStatus;
    use super::*;
    use crate::charts::Chart;
    use tally_model::Results;
    use tokio::sync::watch;
    use warp::http::StatusCode;

    /// Every documented path answers with one of its documented statuses (and is therefore a
    /// route); every route the router serves is documented; an unknown path is a JSON 404.
    #[tokio::test]
    async fn the_openapi_document_and_the_router_agree() {
        let document: serde_json::Value = serde_json::from_str(OPENAPI).expect("the document is JSON");
        let paths = document["paths"].as_object().expect("paths");
        let mut night = Results::empty(Default::default());
        night.election_date = Some("2024-11-05".to_string());
        let (_sender, results) = watch::channel(Arc::new(night));
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
                .map(|p| match p["schema"]["enum"].as_array() {
                    Some(values) => values.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
                    None => p["schema"]["example"]
                        .as_str()
                        .map(str::to_string)
                        .into_iter()
                        .collect(),
                })
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
            "/ap/v2/elections",
            "/ap/v2/elections/{date}",
        ]
        .into_iter()
        .map(str::to_string)
        .chain(Chart::ALL.iter().map(|chart| format!("/charts/{}.svg", chart.name())))
        {
            assert!(paths.contains_key(&route), "{route} is routed but not documented");
        }
        assert_eq!(
            paths.len(),
            10 + Chart::ALL.len(),
            "a documented path the router does not have"
        );
        let unknown = warp::test::request().path("/api/nope").reply(&routes).await;
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
        let body: serde_json::Value = serde_json::from_slice(unknown.body()).expect("a JSON error");
        assert_eq!(body["status"], 404);
    }

    /// A client that holds an epoch gets what changed since, or a 304; a document it holds by
    /// its ETag is a 304 too.
    #[tokio::test]
    async fn a_cursor_gets_only_what_changed_or_a_304() {
        use super::super::test_support::published;
        let (sender, results) = watch::channel(published(1, 5));
        let routes = routes(WebState::new(results, Arc::new(NoStatus), Arc::default()));
        let get = |path: &str| warp::test::request().path(path).reply(&routes);
        let first = get("/api/results").await;
        let held: serde_json::Value = serde_json::from_slice(first.body()).expect("JSON");
        let etag = first.headers()[header::ETAG].to_str().expect("an ETag").to_string();
        let again = warp::test::request()
            .path("/api/results")
            .header("if-none-match", &etag)
            .reply(&routes)
            .await;
        assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        assert_eq!(get("/api/results?since=1").await.status(), StatusCode::NOT_MODIFIED);

        sender.send(published(2, 9)).expect("published");
        let change = get("/api/results?since=1&units=true").await;
        assert_eq!(change.status(), StatusCode::OK);
        let change: serde_json::Value = serde_json::from_slice(change.body()).expect("JSON");
        assert_eq!((change["since"].as_u64(), change["epoch"].as_u64()), (Some(1), Some(2)));
        let listed: Vec<&String> = change["states"].as_object().expect("states").keys().collect();
        assert_eq!(listed, ["OH"], "Ohio alone changed");
        let whole: serde_json::Value = serde_json::from_slice(get("/api/results").await.body()).expect("JSON");
        assert_eq!(tally_model::changes::apply(&held, &change), whole);
        let stale = warp::test::request()
            .path("/api/results")
            .header("if-none-match", &etag)
            .reply(&routes)
            .await;
        assert_eq!(stale.status(), StatusCode::OK, "a new publication is not the one held");

        // A cursor is over the national document: a state does not apply to it.
        let national = get("/api/results?since=1&state=OH").await;
        let national: serde_json::Value = serde_json::from_slice(national.body()).expect("JSON");
        assert_eq!(national["since"], 1);
        assert_eq!(get("/api/results?since=7").await.status(), StatusCode::GONE);
        assert_eq!(get("/api/results?since=x").await.status(), StatusCode::BAD_REQUEST);
        // Without a cursor, `units` does not apply.
        assert_eq!(get("/api/results?units=true").await.status(), StatusCode::OK);
        assert_eq!(get("/api/results?at=yesterday").await.status(), StatusCode::BAD_REQUEST);
        assert_eq!(get("/api/results?at=1000").await.status(), StatusCode::NOT_FOUND);
    }
}
