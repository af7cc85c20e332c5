//! `/charts/<name>.svg`: which chart, at what size, of which publication; drawn through the
//! chart cache, and a 304 when the client has this drawing already.

use super::body::Body;
use super::chart_cache::ChartKey;
use super::errors::ApiError;
use super::params::asked_state;
use super::state::WebState;
use crate::charts::{render_for, Chart};
use bytes::Bytes;
use serde::Deserialize;
use std::sync::Arc;
use tally_model::Timeline;
use warp::http::{header, StatusCode};
use warp::{Rejection, Reply};

/// The widths and heights a chart may be asked for, in pixels.
const SIZES: std::ops::RangeInclusive<u32> = 100..=4000;

/// `/charts/<name>.svg`'s query.
#[derive(Deserialize)]
pub(super) struct ChartQuery {
    width: Option<u32>,
    /// Scales the chart into this height; without it, the chart is as tall as its layout.
    height: Option<u32>,
    /// The candidates, gender and age charts of one state.
    state: Option<String>,
    /// The publication to draw (one of the last [`super::KEPT_EPOCHS`]); the latest without it.
    epoch: Option<u64>,
}

/// Answers a chart request: the SVG (gzipped for who takes it), or a 304 when the client has
/// this drawing already.
pub(super) async fn chart(
    file: String,
    query: ChartQuery,
    if_none_match: Option<String>,
    gzip: bool,
    state: Arc<WebState>,
) -> Result<warp::reply::Response, Rejection> {
    let chart = file
        .strip_suffix(".svg")
        .and_then(Chart::from_name)
        .ok_or_else(|| ApiError::NotFound(format!("no chart {file:?}")).reject())?;
    let width = query.width.unwrap_or(Chart::DEFAULT_WIDTH);
    if !SIZES.contains(&width) || query.height.is_some_and(|h| !SIZES.contains(&h)) {
        return Err(ApiError::BadRequest(format!(
            "width and height must be within {}..={} pixels",
            SIZES.start(),
            SIZES.end()
        ))
        .reject());
    }
    let shown = match &query.state {
        Some(asked) if matches!(chart, Chart::Candidates | Chart::Gender | Chart::Age | Chart::Counties) => {
            Some(asked_state(asked).map_err(ApiError::reject)?)
        }
        Some(_) => {
            return Err(ApiError::BadRequest(
                "?state= applies to the candidates, gender, age and counties charts".to_string(),
            )
            .reject())
        }
        None if chart == Chart::Counties => {
            return Err(ApiError::BadRequest("counties.svg needs ?state=, e.g. ?state=PA".to_string()).reject())
        }
        None => None,
    };
    let results = state.results_at(query.epoch).map_err(ApiError::reject)?;
    let key = ChartKey {
        chart,
        width,
        height: query.height,
        state: shown,
        epoch: results.epoch,
        complete: results.complete,
    };
    let rendering = state.charts.rendering(key, &results).map_err(ApiError::reject)?;
    let svg = rendering
        .svg
        .get_or_init(|| async {
            let results = match shown {
                Some(cut) => Arc::new(results.for_state(cut)),
                None => results.clone(),
            };
            let timeline = match chart {
                Chart::Timeline | Chart::Outlook => state.timeline.read().map(|t| t.clone()).unwrap_or_default(),
                _ => Timeline::default(),
            };
            render_for(chart, &results, &timeline, width, query.height, shown)
                .map(|svg| Body::new(Bytes::from(svg)))
                .map_err(Arc::new)
        })
        .await
        .clone();
    let svg = match svg {
        Ok(svg) => svg,
        Err(e) => return Ok(ApiError::Internal(format!("{e}: {}", e.detail)).reply()),
    };
    // The tag is the drawing's: a chart that looks the same at a new epoch is not sent again.
    if if_none_match.as_deref() == Some(svg.etag()) {
        let mut response = warp::reply::with_status(warp::reply(), StatusCode::NOT_MODIFIED).into_response();
        if let Ok(etag) = header::HeaderValue::from_str(svg.etag()) {
            response.headers_mut().insert(header::ETAG, etag);
        }
        return Ok(response);
    }
    let reply = svg.reply("image/svg+xml", gzip);
    Ok(warp::reply::with_header(reply, header::CACHE_CONTROL, "no-cache").into_response())
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{desc, published};
    use super::super::{routes, NoStatus, KEPT_EPOCHS};
    use super::*;
    use crate::server::CHART_CACHE_ENTRIES;
    use tally_model::Results;
    use tokio::sync::watch;

    #[tokio::test]
    async fn a_chart_is_drawn_for_the_epoch_asked_and_an_epoch_no_longer_kept_is_a_410() {
        let (sender, receiver) = watch::channel(published(1, 10));
        let state = WebState::new(receiver, Arc::new(NoStatus), Arc::default());
        let routes = routes(state.clone());
        let get = |path: String| warp::test::request().path(&path).reply(&routes);
        // Epoch 1 is served (and so kept), then 2 published.
        assert_eq!(get("/api/results".into()).await.status(), StatusCode::OK);
        sender.send_replace(published(2, 25));
        let old = get("/charts/candidates.svg?epoch=1".into()).await;
        assert_eq!(old.status(), StatusCode::OK);
        assert!(desc(old.body()).starts_with("10 votes counted"), "{}", desc(old.body()));
        let new = get("/charts/candidates.svg?epoch=2".into()).await;
        assert!(desc(new.body()).starts_with("25 votes counted"), "{}", desc(new.body()));
        let latest = get("/charts/candidates.svg".into()).await;
        assert_eq!(latest.body(), new.body());
        // Publications beyond the last KEPT_EPOCHS are gone.
        for epoch in 3..3 + KEPT_EPOCHS as u64 {
            sender.send_replace(published(epoch, epoch as i64));
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
        let (sender, receiver) = watch::channel(published(1, 10));
        let routes = routes(WebState::new(receiver, Arc::new(NoStatus), Arc::default()));
        let first = warp::test::request()
            .path("/charts/states.svg?width=500")
            .reply(&routes)
            .await;
        let etag = first.headers()[header::ETAG].to_str().unwrap_or_default().to_string();
        // A new epoch with the same counts draws the same chart: not sent again.
        sender.send_replace(published(2, 10));
        let same = warp::test::request()
            .path("/charts/states.svg?width=500&epoch=2")
            .header("if-none-match", &etag)
            .reply(&routes)
            .await;
        assert_eq!(same.status(), StatusCode::NOT_MODIFIED);
        sender.send_replace(published(3, 11));
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
        let cached = state.charts.len();
        assert_eq!(cached, CHART_CACHE_ENTRIES, "{asked} sizes asked for");
        // The most recent sizes are the ones kept.
        let newest = ChartKey {
            chart: Chart::States,
            width: 300 + asked - 1,
            height: Some(200 + (300 + asked - 1) % 7),
            state: None,
            epoch: 0,
            complete: false,
        };
        assert!(state.charts.contains(&newest));
    }
}
