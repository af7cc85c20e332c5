//! `/ap/v2/elections` and `/ap/v2/elections/{date}`: the latest results in the Associated Press
//! Elections API's shape ([`tally_model::ap`]), for newsroom tools such as `elex`
//! (`AP_API_BASE_URL=http://HOST/ap/v2`). The query parameters AP defines that change the
//! answer are honoured (`omitResults`, `level`, `officeID`, `statePostal`, `format`); the others
//! a client sends (`apiKey`, `test`, `national`, `setzerocounts`) are accepted and ignored:
//! tally has no keys, and serves one night, marked `test` when it is a rehearsal.

use super::body::Body;
use super::errors::ApiError;
use super::state::WebState;
use bytes::Bytes;
use std::collections::HashMap;
use tally_model::ap::{election, election_list, Request};

/// The night's date, as the latest results name it.
fn night(state: &WebState) -> (Option<String>, bool) {
    let results = state.latest();
    (results.election_date.clone(), results.test)
}

/// `format=`: JSON only.
fn check_format(query: &HashMap<String, String>) -> Result<(), ApiError> {
    match value(query, "format").as_deref() {
        None | Some("json") | Some("JSON") => Ok(()),
        Some(other) => {
            let shown: String = other.chars().take(20).collect();
            Err(ApiError::BadRequest(format!(
                "format {shown:?}: this feed speaks json only"
            )))
        }
    }
}

/// A parameter, by AP's name in any case.
fn value(query: &HashMap<String, String>, name: &str) -> Option<String> {
    query
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .map(|(_, value)| value.clone())
}

/// A true/false parameter (`true` or `false`, as JSON or Python writes them); a 400 for
/// anything else.
fn flag(query: &HashMap<String, String>, name: &str) -> Result<bool, ApiError> {
    match value(query, name).as_deref() {
        None | Some("false") | Some("False") => Ok(false),
        Some("true") | Some("True") => Ok(true),
        Some(other) => {
            let shown: String = other.chars().take(20).collect();
            Err(ApiError::BadRequest(format!("{name} {shown:?}: use true or false")))
        }
    }
}

/// A comma-separated list parameter.
fn list(query: &HashMap<String, String>, name: &str) -> Option<Vec<String>> {
    value(query, name).map(|v| {
        v.split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    })
}

/// `GET /ap/v2/elections`.
pub fn elections(
    query: &HashMap<String, String>,
    state: &WebState,
    gzip: bool,
) -> Result<warp::reply::Response, ApiError> {
    check_format(query)?;
    let (date, test) = night(state);
    let list = match date {
        Some(date) => election_list(&date, test),
        None => tally_model::ap::ElectionList { elections: Vec::new() },
    };
    json(&list, gzip, None)
}

/// `GET /ap/v2/elections/{date}`.
pub fn races(
    date: &str,
    query: &HashMap<String, String>,
    state: &WebState,
    gzip: bool,
    if_none_match: Option<&str>,
) -> Result<warp::reply::Response, ApiError> {
    check_format(query)?;
    let results = state.latest();
    let Some(night) = results.election_date.as_deref() else {
        return Err(ApiError::NotFound("no election is being counted yet".to_string()));
    };
    if date != night {
        let shown: String = date.chars().take(20).collect();
        return Err(ApiError::NotFound(format!(
            "no election on {shown:?}: this feed has {night}"
        )));
    }
    let level = value(query, "level").map(|v| v.to_ascii_lowercase());
    let states_only = match level.as_deref() {
        None | Some("ru") | Some("fipscode") => false,
        Some("state") | Some("national") => true,
        Some(other) => {
            let shown: String = other.chars().take(20).collect();
            return Err(ApiError::BadRequest(format!(
                "level {shown:?}: use ru, state or national"
            )));
        }
    };
    let request = Request {
        omit_results: flag(query, "omitResults")?,
        states_only,
        office_ids: list(query, "officeID"),
        states: list(query, "statePostal"),
    };
    json(&election(&results, night, results.test, &request), gzip, if_none_match)
}

/// `value` as JSON, tagged with a digest of it: a client that holds it (elex's cache sends
/// `If-None-Match`) gets a 304.
fn json(
    value: &impl serde::Serialize,
    gzip: bool,
    if_none_match: Option<&str>,
) -> Result<warp::reply::Response, ApiError> {
    serde_json::to_vec(value)
        .map(|body| Body::new(Bytes::from(body)).reply_unless("application/json", gzip, if_none_match))
        .map_err(|e| ApiError::Internal(format!("writing the AP feed: {e}")))
}
