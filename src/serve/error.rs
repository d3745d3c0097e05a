//! Every way a request can fail, and the one place where each maps to its HTTP status,
//! body (`{"error": …}`) and headers (`Retry-After`, `WWW-Authenticate`). Handlers return
//! [`ApiError`]; the typed errors of the layers below (the sequencer's [`IngestError`],
//! the store's action and silence refusals) convert into it.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// Why the sequencer could not make a batch durable.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// Appending to or syncing the ingest log failed (disk full, I/O error).
    #[error("ingest log write failed: {0}")]
    Log(#[source] std::io::Error),
    /// The batch's rejected lines could not be stored as dead letters.
    #[error("cannot store dead letters: {0}")]
    DeadLetters(#[source] rusqlite::Error),
    /// Cluster mode: JetStream did not acknowledge every record of the request (nothing of
    /// it is answered `202`; records it did store are de-duplicated when the client retries).
    #[error("the cluster's mention stream did not take the request: {0}")]
    Cluster(String),
}

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// No or an unknown bearer token.
    #[error("missing or unknown bearer token")]
    Unauthorized,
    /// Authenticated, but without the scope the route needs (named in the message).
    #[error("{0}")]
    Forbidden(String),
    /// The body is not something we parse (type or encoding).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The body is over a size limit.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(String),
    /// The request body did not arrive in time; the connection is closed after the answer.
    #[error("{0}")]
    RequestTimeout(String),
    /// No such thing.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// The token's rate limit is exceeded; try again after this many seconds.
    #[error("rate limit for this token exceeded")]
    RateLimited(u64),
    /// Temporarily unable (queue full, shutting down, log not writable); retry after this
    /// many seconds.
    #[error("{1}")]
    Unavailable(u64, String),
    /// A configuration (a reload) is invalid: every problem, positioned, in the body's
    /// `diagnostics` (`file`, `line`, `column`, `message`).
    #[error("{0}")]
    InvalidConfig(String, crate::diag::Diagnostics),
    /// A bug or an unexpected failure below.
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::InvalidConfig(..) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The service is shutting down.
    pub fn shutting_down() -> Self {
        ApiError::Unavailable(5, "shutting down".into())
    }
}

impl From<IngestError> for ApiError {
    fn from(e: IngestError) -> Self {
        ApiError::Unavailable(30, e.to_string())
    }
}

impl From<crate::store::ActionError> for ApiError {
    fn from(e: crate::store::ActionError) -> Self {
        match e {
            crate::store::ActionError::NotFound => ApiError::NotFound("no such incident".into()),
            crate::store::ActionError::Resolved => ApiError::Conflict("the incident is already resolved".into()),
        }
    }
}

impl From<crate::store::planned::PlannedRefused> for ApiError {
    fn from(e: crate::store::planned::PlannedRefused) -> Self {
        use crate::store::planned::PlannedRefused;
        match e {
            PlannedRefused::NotFound(_) => ApiError::NotFound(e.to_string()),
            PlannedRefused::Deleted(..) | PlannedRefused::TooMany(_) => ApiError::Conflict(e.to_string()),
            PlannedRefused::Invalid(msg) => ApiError::BadRequest(msg),
        }
    }
}

impl From<crate::store::silences::SilenceRefused> for ApiError {
    fn from(e: crate::store::silences::SilenceRefused) -> Self {
        use crate::store::silences::SilenceRefused;
        match e {
            SilenceRefused::NotFound(_) => ApiError::NotFound(e.to_string()),
            SilenceRefused::Over(..) | SilenceRefused::TooMany(_) => ApiError::Conflict(e.to_string()),
            SilenceRefused::Invalid(msg) => ApiError::BadRequest(msg),
        }
    }
}

impl From<rusqlite::Error> for ApiError {
    fn from(e: rusqlite::Error) -> Self {
        ApiError::Internal(format!("store: {e}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = json!({ "error": self.to_string() });
        if let ApiError::InvalidConfig(_, d) = &self {
            body["diagnostics"] = d
                .0
                .iter()
                .map(|d| {
                    json!({ "file": d.path.display().to_string(), "line": d.line, "column": d.col, "message": d.message })
                })
                .collect();
            body["text"] = d.to_string().into();
        }
        let mut r = (status, Json(body)).into_response();
        match self {
            ApiError::RateLimited(secs) | ApiError::Unavailable(secs, _) => {
                r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
            }
            ApiError::Unauthorized => {
                r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::RequestTimeout(_) => {
                r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            _ => {}
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_and_headers() {
        let r = ApiError::Unavailable(30, "ingest log write failed: disk full".into()).into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "30");
        let r = ApiError::RateLimited(0).into_response();
        assert_eq!(
            (r.status(), r.headers()[header::RETRY_AFTER].to_str().unwrap()),
            (StatusCode::TOO_MANY_REQUESTS, "1")
        );
        let r = ApiError::Unauthorized.into_response();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()[header::WWW_AUTHENTICATE], "Bearer");
        let r = ApiError::RequestTimeout("body not received within 30s".into()).into_response();
        assert_eq!(
            (r.status(), r.headers()[header::CONNECTION].to_str().unwrap()),
            (StatusCode::REQUEST_TIMEOUT, "close")
        );
        let r = ApiError::Forbidden("`tool` lacks the `respond` scope".into()).into_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert_eq!(ApiError::from(crate::store::ActionError::Resolved).status(), StatusCode::CONFLICT);
        assert_eq!(ApiError::from(crate::store::ActionError::NotFound).status(), StatusCode::NOT_FOUND);
        let d = crate::diag::Diagnostic::at(std::path::Path::new("r.toml"), "a = 1\nb = x\n", Some(10..11), "bad");
        let r = ApiError::InvalidConfig("invalid".into(), crate::diag::Diagnostics(vec![d])).into_response();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        use crate::store::silences::SilenceRefused;
        assert_eq!(ApiError::from(SilenceRefused::NotFound(7)).status(), StatusCode::NOT_FOUND);
        assert_eq!(ApiError::from(SilenceRefused::TooMany(1000)).status(), StatusCode::CONFLICT);
        assert_eq!(
            ApiError::from(SilenceRefused::Over(7, "t".into())).to_string(),
            "silence 7 is already over (it ended at t)"
        );
        let bad = SilenceRefused::Invalid("`reason` is required".into());
        assert_eq!(ApiError::from(bad).to_string(), "`reason` is required");
        let io = IngestError::Log(std::io::Error::other("disk full"));
        assert_eq!(ApiError::from(io).to_string(), "ingest log write failed: disk full");
    }
}
