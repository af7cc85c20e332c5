//! # tally-web
//!
//! Renders results for people and programs: JSON (`/api/results`, `/api/events`), SVG charts
//! drawn with plotters (`/charts/<name>.svg`), a self-refreshing dashboard (`/`), Prometheus
//! metrics (`/metrics`, encoded by prometheus-client from [`metrics::ResultsMetrics`] and the
//! collectors the job registers) and `/healthz`.
//!
//! Its only input is a stream of immutable [`tally_model::Results`], one per completed epoch,
//! so every page and chart shows one consistent state. It never touches Kafka or storage; the
//! binary hands it a [`server::JobStatus`] for anything else it should report.

pub mod charts;
pub mod metrics;
pub mod server;
pub mod tiles;

pub use server::{routes, serve, Degraded, JobStatus, NoStatus, WebState};
