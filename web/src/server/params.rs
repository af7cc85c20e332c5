//! Request parameters more than one route reads.

use super::errors::ApiError;
use tally_model::State;

/// The state a `?state=` names; a 400 naming what was asked for otherwise.
pub(super) fn asked_state(asked: &str) -> Result<State, ApiError> {
    State::lookup(asked).ok_or_else(|| {
        let shown: String = asked.chars().take(40).collect();
        ApiError::BadRequest(format!(
            "unknown state {shown:?}: use a USPS code (PA) or a name (Pennsylvania)"
        ))
    })
}
