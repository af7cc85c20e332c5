//! What every request shares: the latest results and the ring of publications kept for
//! `?epoch=`, the results JSON written once per publication, the chart cache, the job's status
//! and the metrics registry.

use super::body::Body;
use super::chart_cache::ChartCache;
use super::errors::ApiError;
use super::health::JobStatus;
use crate::metrics::ResultsMetrics;
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tally_model::audit::PublicationLog;
use tally_model::metrics::Registry;
use tally_model::{Results, Timeline};
use tokio::sync::watch;

/// Publications kept for `?epoch=`: a dashboard asks for every chart of the epoch it shows,
/// and these cover the seconds its requests take even at four publications a second.
pub const KEPT_EPOCHS: usize = 32;

/// The largest `?epoch=` (as the OpenAPI document says): epochs are milliseconds at most, far
/// below it.
pub const MAX_EPOCH: u64 = (1 << 53) - 1;

/// Shared by every request.
pub struct WebState {
    pub(super) results: watch::Receiver<Arc<Results>>,
    pub(super) status: Arc<dyn JobStatus>,
    /// Rendered charts, each at most once per publication and size.
    pub(super) charts: ChartCache,
    /// The latest results as compact JSON, written once per publication however many ask.
    results_json: Mutex<Option<(Arc<Results>, Body)>>,
    /// The publications served lately, newest last, for charts of an asked epoch.
    recent: Mutex<VecDeque<Arc<Results>>>,
    /// Records per second as an `f64`'s bits, updated once a second.
    ingest_rate: Arc<AtomicU64>,
    /// Every metric `/metrics` shows: the results' and the job's.
    pub(super) registry: Registry,
    /// How the race moved (`/api/timeline`, `/charts/timeline.svg`), kept by the job.
    pub(super) timeline: Arc<RwLock<Timeline>>,
    /// What was published, on the record (`/api/results?at=`), kept by a durable job.
    pub(super) publications: Arc<RwLock<PublicationLog>>,
    /// False on the processes of a cluster other than process 0: they have no results and
    /// serve only `/healthz` and `/metrics`, their own.
    pub(super) serves_results: bool,
}

impl WebState {
    /// The state of a server of `results` (and `timeline`), reporting `status`.
    pub fn new(
        results: watch::Receiver<Arc<Results>>,
        status: Arc<dyn JobStatus>,
        timeline: Arc<RwLock<Timeline>>,
    ) -> Arc<WebState> {
        WebState::build(results, status, timeline, Arc::default(), true)
    }

    /// [`WebState::new`], with the job's publication records (`/api/results?at=`).
    pub fn recorded(
        results: watch::Receiver<Arc<Results>>,
        status: Arc<dyn JobStatus>,
        timeline: Arc<RwLock<Timeline>>,
        publications: Arc<RwLock<PublicationLog>>,
    ) -> Arc<WebState> {
        WebState::build(results, status, timeline, publications, true)
    }

    /// For a cluster process other than process 0: only `/healthz` and `/metrics`.
    pub fn status_only(status: Arc<dyn JobStatus>) -> Arc<WebState> {
        let (_, results) = watch::channel(Arc::new(Results::empty(Default::default())));
        WebState::build(results, status, Arc::default(), Arc::default(), false)
    }

    fn build(
        results: watch::Receiver<Arc<Results>>,
        status: Arc<dyn JobStatus>,
        timeline: Arc<RwLock<Timeline>>,
        publications: Arc<RwLock<PublicationLog>>,
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
            charts: ChartCache::default(),
            results_json: Mutex::new(None),
            recent: Mutex::new(VecDeque::with_capacity(KEPT_EPOCHS)),
            ingest_rate,
            registry,
            timeline,
            publications,
            serves_results,
        })
    }

    /// The latest results, kept among the recent ones: whatever a client was shown, it can ask
    /// for the charts of.
    pub(super) fn latest(&self) -> Arc<Results> {
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

    /// The results of `asked` (the latest without one), or why not: a 400 for an epoch no JSON
    /// reader keeps exactly, a 410 for one no longer kept.
    pub(super) fn results_at(&self, asked: Option<u64>) -> Result<Arc<Results>, ApiError> {
        let Some(epoch) = asked else {
            return Ok(self.latest());
        };
        if epoch > MAX_EPOCH {
            return Err(ApiError::BadRequest(format!(
                "epoch must be at most {MAX_EPOCH} (2^53 - 1, the largest integer JSON readers all keep exactly)"
            )));
        }
        self.at_epoch(epoch).ok_or_else(|| {
            ApiError::Gone(format!(
                "epoch {epoch} is no longer kept (the last {KEPT_EPOCHS} publications are); ask for the latest"
            ))
        })
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
    pub(super) fn latest_json(&self) -> Result<Body, serde_json::Error> {
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

    /// Measures records per second, once a second, for `/metrics`; runs until the runtime ends.
    pub(super) async fn measure_ingest_rate(self: Arc<WebState>) {
        let mut last = (Instant::now(), self.latest().records());
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            tick.tick().await;
            let now = (Instant::now(), self.latest().records());
            let rate = now.1.saturating_sub(last.1) as f64 / now.0.duration_since(last.0).as_secs_f64().max(1e-3);
            self.ingest_rate.store(rate.to_bits(), Ordering::Relaxed);
            last = now;
        }
    }
}
