//! The one place where failures become status codes: a client's fault is a 4xx that says what
//! was wrong; the server's own is a 5xx that says only that it failed (the detail goes to the
//! log, never into a body).

use serde::Serialize;
use std::convert::Infallible;
use warp::http::StatusCode;
use warp::{Rejection, Reply};

/// Why a request was not answered with what it asked for.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request asks for something that cannot be: a 400 saying what.
    #[error("{0}")]
    BadRequest(String),
    /// No such thing here: a 404.
    #[error("{0}")]
    NotFound(String),
    /// An epoch no longer kept: a 410.
    #[error("{0}")]
    Gone(String),
    /// The server failed (a chart it could not draw, a lock a panic poisoned): a 500 whose body
    /// does not repeat the detail.
    #[error("{0}")]
    Internal(String),
}

impl warp::reject::Reject for ApiError {}

impl ApiError {
    /// The status this failure is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The failure as a warp rejection, for filters.
    pub fn reject(self) -> Rejection {
        warp::reject::custom(self)
    }

    /// The JSON error reply: the message for a client's fault; for the server's, a fixed text,
    /// the detail logged.
    pub fn reply(&self) -> warp::reply::Response {
        let message = match self {
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "an HTTP request failed in the server");
                "internal server error (the detail is in the server's log)".to_string()
            }
            client => client.to_string(),
        };
        error_reply(self.status(), message)
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: String,
    status: u16,
}

fn error_reply(status: StatusCode, error: String) -> warp::reply::Response {
    let body = ErrorBody {
        error,
        status: status.as_u16(),
    };
    warp::reply::with_status(warp::reply::json(&body), status).into_response()
}

/// Every rejection as a JSON error. warp's own rejections are all about the request (no route,
/// a query that does not parse, a header that is not text, a method not served), so an
/// unrecognised one is a 400 too, said in general terms: its `Debug` text is the server's.
pub async fn recover(rejection: Rejection) -> Result<warp::reply::Response, Infallible> {
    if let Some(error) = rejection.find::<ApiError>() {
        return Ok(error.reply());
    }
    let (status, message) = if rejection.is_not_found() {
        (StatusCode::NOT_FOUND, "no such route".to_string())
    } else if let Some(e) = rejection.find::<warp::reject::InvalidQuery>() {
        (StatusCode::BAD_REQUEST, e.to_string())
    } else if let Some(e) = rejection.find::<warp::reject::InvalidHeader>() {
        (StatusCode::BAD_REQUEST, e.to_string())
    } else if rejection.find::<warp::reject::MethodNotAllowed>().is_some() {
        // RFC 9110: a 405 says which methods are served.
        let reply = error_reply(StatusCode::METHOD_NOT_ALLOWED, "only GET is served".to_string());
        return Ok(warp::reply::with_header(reply, "allow", "GET").into_response());
    } else {
        tracing::debug!(?rejection, "an HTTP request rejected");
        (StatusCode::BAD_REQUEST, "the request cannot be served".to_string())
    };
    Ok(error_reply(status, message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use warp::Filter;

    /// What a route failing with `error` answers.
    async fn answer(error: ApiError) -> (u16, String) {
        let error = std::sync::Arc::new(std::sync::Mutex::new(Some(error)));
        let route = warp::any()
            .and_then(move || {
                let error = error.lock().ok().and_then(|mut e| e.take());
                async move { Err::<String, _>(error.map_or_else(warp::reject::not_found, ApiError::reject)) }
            })
            .recover(recover);
        let response = warp::test::request().path("/").reply(&route).await;
        (
            response.status().as_u16(),
            String::from_utf8_lossy(response.body()).into_owned(),
        )
    }

    #[tokio::test]
    async fn a_server_fault_is_a_500_that_keeps_its_detail_out_of_the_body() {
        let (status, body) = answer(ApiError::Internal("lock poisoned at server.rs:12".to_string())).await;
        assert_eq!(status, 500);
        assert!(!body.contains("poisoned"), "{body}");
        assert!(body.contains("\"status\":500"), "{body}");
    }

    #[tokio::test]
    async fn a_client_fault_is_a_4xx_that_says_what_was_wrong() {
        for (error, status) in [
            (ApiError::BadRequest("unknown state ZZ".into()), 400),
            (ApiError::NotFound("no chart x".into()), 404),
            (ApiError::Gone("epoch 1 is no longer kept".into()), 410),
        ] {
            let message = error.to_string();
            let (answered, body) = answer(error).await;
            assert_eq!(answered, status, "{body}");
            assert!(body.contains(&message), "{body}");
        }
    }
}
