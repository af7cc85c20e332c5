//! The health contract: what the job tells the server besides results (its health and its own
//! metrics), and `/healthz`, which answers with it.

use super::state::WebState;
use std::sync::Arc;
use tally_model::metrics::Registry;
use warp::http::StatusCode;

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

/// `/healthz`: 200 when ok or recovering, 503 with the reason when degraded; on the process
/// that has results, the epoch it shows and what was lost.
pub(super) fn health(state: Arc<WebState>) -> impl warp::Reply {
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
