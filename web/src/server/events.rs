//! `/api/events`: the results as a server-sent event stream, whole or compact.

use super::state::WebState;
use serde::Deserialize;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use warp::sse::Event;

/// `/api/events`'s query.
#[derive(Deserialize)]
pub(super) struct EventsQuery {
    /// `event: epoch` with `{epoch, complete, as_of}` instead of the whole document: a page that
    /// fetches what it shows (compressed) needs only to know there is something new.
    pub compact: Option<bool>,
}

/// The latest results now, then again whenever they change (at most four times a second):
/// whole, or `compact` as `event: epoch` with the epoch, whether it is final and when it was
/// computed. Each one sent is kept among the recent ones, so a page can ask for its charts.
pub(super) fn result_events(
    state: Arc<WebState>,
    compact: bool,
) -> impl futures_util::Stream<Item = Result<Event, Infallible>> {
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
