//! # tally-web
//!
//! Renders results for people and programs: JSON (`/api/results`, `/api/events`, `/api/timeline`), SVG charts
//! drawn with plotters (`/charts/<name>.svg`), a self-refreshing dashboard (`/`), Prometheus
//! metrics (`/metrics`, encoded by prometheus-client from [`metrics::ResultsMetrics`] and the
//! collectors the job registers) and `/healthz`.
//!
//! Its only input is a stream of immutable [`tally_model::Results`], one per completed epoch,
//! so every page and chart shows one consistent state. It never touches Kafka or storage; the
//! binary hands it a [`server::JobStatus`] for anything else it should report (its health as
//! `Ok(detail)` or [`server::Degraded`], and its own metrics collectors).
//!
//! - [`server`]: [`server::WebState`] (the latest results, the job's status, rendered charts, the
//!   metrics registry) and the warp [`server::routes`].
//! - [`charts`]: [`charts::render`] draws a [`charts::Chart`] of one results document as SVG,
//!   laid out as a [`scene::Scene`] at the width it is shown at (text measured by [`measure`],
//!   colours from [`palette`]): [`bars`], [`maps`] (with [`tiles`]), [`electoral`] and
//!   [`timeline_chart`].
//! - [`metrics`]: [`metrics::ResultsMetrics`], the results as metrics.
//!
//! It depends on `tally-model` only: no timely, no differential, no Kafka, no HDFS.

#![warn(missing_docs)]

pub mod bars;
pub mod charts;
pub mod county_map;
pub mod electoral;
pub mod format;
pub mod maps;
pub mod measure;
pub mod metrics;
pub mod outlook_chart;
pub mod palette;
pub mod scene;
pub mod server;
pub mod tiles;
pub mod timeline_chart;

pub use server::{routes, serve, serve_filter, Degraded, JobStatus, NoStatus, WebState};
