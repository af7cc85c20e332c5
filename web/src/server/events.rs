//! `/api/events`: the results as a server-sent event stream: whole, compact, or as changes.

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
    /// The whole document first, then `event: changes` with what changed since the one sent
    /// before ([`tally_model::changes`]): what a client that keeps the document needs.
    pub changes: Option<bool>,
}

/// What each event carries.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
    Whole,
    Compact,
    Changes,
}

impl EventsQuery {
    pub(super) fn shape(&self) -> Shape {
        match (self.compact.unwrap_or(false), self.changes.unwrap_or(false)) {
            (true, _) => Shape::Compact,
            (false, true) => Shape::Changes,
            (false, false) => Shape::Whole,
        }
    }
}

/// The latest results now, then again whenever they change (at most four times a second):
/// whole; or `compact` as `event: epoch` with the epoch, whether it is final and when it was
/// computed; or whole first and then as `event: changes` against the one sent before. Each one
/// sent is kept among the recent ones, so a page can ask for its charts.
pub(super) fn result_events(
    state: Arc<WebState>,
    shape: Shape,
) -> impl futures_util::Stream<Item = Result<Event, Infallible>> {
    let results = state.results.clone();
    let sent: Option<Arc<tally_model::Results>> = None;
    futures_util::stream::unfold((results, state, sent), move |(mut results, state, sent)| async move {
        if sent.is_some() {
            results.changed().await.ok()?;
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        results.borrow_and_update();
        let latest = state.latest();
        let event = match (shape, &sent) {
            (Shape::Changes, Some(before)) => Event::default()
                .event("changes")
                .data(serde_json::to_string(&tally_model::changes::changes(before, &latest, false).ok()?).ok()?),
            (Shape::Compact, _) => {
                let summary = serde_json::json!({
                    "epoch": latest.epoch, "complete": latest.complete, "as_of": latest.as_of,
                });
                Event::default().event("epoch").data(summary.to_string())
            }
            _ => Event::default()
                .event("results")
                .data(serde_json::to_string(&*latest).ok()?),
        };
        Some((Ok(event), (results, state, Some(latest))))
    })
}
