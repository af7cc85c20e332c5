//! The HTTP API (warp). Input: a `watch` channel of immutable [`Results`], swapped whenever an
//! epoch completes. The server never reaches into sources or storage.
//!
//! One file, one job: [`routes`](routes()) is the route table; [`WebState`] holds what requests
//! share (the ring of kept epochs among it); `body` compresses and tags responses;
//! `chart_route` answers chart requests, drawn through `chart_cache` once per publication and
//! size; `params` reads what more than one route asks; `table` writes the CSV;
//! `ap` answers the AP-compatible feed; `events` streams publications; `connections` accepts and logs connections; `errors` is the one place failures become status codes;
//! [`JobStatus`] is the health contract the job implements.
//!
//! [`Results`]: tally_model::Results

mod ap;
mod body;
mod chart_cache;
mod chart_route;
mod connections;
mod errors;
mod events;
mod health;
mod params;
mod routes;
mod state;
mod table;

pub use body::Body;
pub use chart_cache::CHART_CACHE_ENTRIES;
pub use connections::{serve, serve_filter};
pub use errors::ApiError;
pub use health::{Degraded, JobStatus, NoStatus};
pub use routes::{routes, OPENAPI};
pub use state::{WebState, KEPT_EPOCHS, MAX_EPOCH};

#[cfg(test)]
mod test_support {
    use std::sync::Arc;
    use tally_model::tallies::{Tallies, Tally};
    use tally_model::{AgeGroup, Apportionment, CandidateId, CubeKey, Gender, Results, State};

    /// Results at `epoch` with `votes` votes for Ada in Ohio.
    pub(crate) fn published(epoch: u64, votes: i64) -> Arc<Results> {
        let mut tallies = Tallies::default();
        let id = CandidateId::of("Ada");
        tallies.apply(&Tally::Candidate(id, "Ada".to_string()), 1);
        let key = CubeKey {
            state: State::lookup("OH").expect("Ohio"),
            gender: Gender::Female,
            age_group: AgeGroup::From18To29,
            candidate: id,
        };
        tallies.apply(&Tally::Vote(key), votes);
        Arc::new(Results::new(&tallies, epoch, false, Apportionment::Census2020))
    }

    pub(crate) fn desc(svg: &[u8]) -> String {
        let text = String::from_utf8_lossy(svg);
        let start = text.find("<desc>").map_or(0, |at| at + 6);
        let end = text.find("</desc>").unwrap_or(start);
        text[start..end].to_string()
    }
}
