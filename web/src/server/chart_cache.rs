//! Rendered charts: each chart rendered at most once per publication and size, the requests
//! that arrive while it renders waiting for that render, in a cache bounded whatever sizes
//! clients ask for.

use super::body::Body;
use super::errors::ApiError;
use crate::charts::{Chart, ChartError};
use lru::LruCache;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex};
use tally_model::{Results, State};

/// Rendered charts kept at once: every chart at a few sizes (a dashboard asks for each at the
/// size it shows it, and a handful of readers have different screens). At most about 100 KB
/// each, so a few MB in all.
pub const CHART_CACHE_ENTRIES: usize = 64;

/// What identifies one rendered chart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) struct ChartKey {
    pub chart: Chart,
    pub width: u32,
    /// The height asked for; none: the chart's own at that width.
    pub height: Option<u32>,
    /// The state the chart is cut at, if any.
    pub state: Option<State>,
    /// The publication drawn: its epoch and whether it is final.
    pub epoch: u64,
    pub complete: bool,
}

/// One chart at one size for one publication of the results, rendered once.
pub(super) struct Rendering {
    results: Arc<Results>,
    /// The drawing, or why it could not be drawn; set by the first request to get here.
    pub svg: tokio::sync::OnceCell<Result<Body, Arc<ChartError>>>,
}

/// Rendered charts, each for the results it shows. Bounded: a client can ask for millions of
/// sizes, and the least recently used go first.
pub(super) struct ChartCache(Mutex<LruCache<ChartKey, Arc<Rendering>>>);

impl Default for ChartCache {
    fn default() -> ChartCache {
        ChartCache(Mutex::new(LruCache::new(
            NonZeroUsize::new(CHART_CACHE_ENTRIES).unwrap_or(NonZeroUsize::MIN),
        )))
    }
}

impl ChartCache {
    /// The rendering of `key` for `results`: the one cached, or a new one to render.
    pub(super) fn rendering(&self, key: ChartKey, results: &Arc<Results>) -> Result<Arc<Rendering>, ApiError> {
        let mut cache = self
            .0
            .lock()
            .map_err(|_| ApiError::Internal("the chart cache's lock is poisoned".to_string()))?;
        Ok(match cache.get(&key) {
            Some(rendering) if Arc::ptr_eq(&rendering.results, results) => rendering.clone(),
            _ => {
                let rendering = Arc::new(Rendering {
                    results: results.clone(),
                    svg: tokio::sync::OnceCell::new(),
                });
                cache.put(key, rendering.clone());
                rendering
            }
        })
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.0.lock().map(|cache| cache.len()).unwrap_or(usize::MAX)
    }

    #[cfg(test)]
    pub(super) fn contains(&self, key: &ChartKey) -> bool {
        self.0.lock().is_ok_and(|cache| cache.contains(key))
    }
}
