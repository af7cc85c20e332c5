//! The health contract: what the job tells the server besides results (its health and its own
//! metrics). `/healthz` answers with it (in `routes`).

use tally_model::metrics::Registry;

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
