//! API errors as RFC 9457 problem details (`application/problem+json`).
//!
//! Each variant documents its status. The client gets a clean message that names the problem
//! (and, for invalid input, the field); internal details go to the log, never to the client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::model::Invalid;
use crate::writer::WriteError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed (not JSON, a bad query parameter).
    #[error("{0}")]
    BadRequest(String),
    /// 401: no token, or an unknown or revoked one.
    #[error("a valid bearer token is required")]
    Unauthorized,
    /// 403: the caller's role or organisation may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such item, or one the caller may not see.
    #[error("not found")]
    NotFound,
    /// 405: the route exists, the method does not.
    #[error("this method is not allowed on this route")]
    MethodNotAllowed,
    /// 409: the request conflicts with the item's state.
    #[error("{0}")]
    Conflict(String),
    /// 409: no road network is loaded, so no route can follow roads (`POST /api/v1/routes`).
    #[error("{0}")]
    NoRoadNetwork(String),
    /// 412: `If-Match` names a version that is no longer current.
    #[error("version {current} is current")]
    PreconditionFailed { current: u64 },
    /// 413: the body is larger than the limit.
    #[error("the body is larger than {0} KiB")]
    TooLarge(usize),
    /// 413: a file over an import bound (rows); the text says which.
    #[error("{0}")]
    TooLargeFile(String),
    /// 415: the body is not JSON.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 422: the input is well-formed JSON but invalid; names the field.
    #[error("{0}")]
    Invalid(Invalid),
    /// 429: too many requests or connections.
    #[error("{0}")]
    TooMany(String),
    /// 429: the caller has as much work running as it may; `Retry-After` says when to try.
    #[error("{reason}")]
    Busy { reason: String, retry_after: u64 },
    /// 429: too many failed sign-ins from this address; `Retry-After` says when to try again.
    #[error("too many failed sign-ins from this address; try again in {retry_after} s")]
    SignInsLimited { retry_after: u64 },
    /// 503: storage is unavailable or the server is shutting down; nothing was written.
    #[error("{0}")]
    Unavailable(String),
    /// 422: some rows of an imported file are invalid; `rows` lists each (row, column, why).
    /// Nothing was written.
    #[error("{detail}")]
    Rows {
        detail: String,
        rows: serde_json::Value,
    },
    /// 501: this server cannot do that in its mode.
    #[error("{0}")]
    NotImplemented(String),
    /// 500: a bug. Logged in full; the client learns only that it happened.
    #[error("internal error")]
    Internal(String),
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::Invalid(e)
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::NotFound => ApiError::NotFound,
            WriteError::Forbidden(m) => ApiError::Forbidden(m),
            WriteError::PreconditionFailed { current } => ApiError::PreconditionFailed { current },
            WriteError::Conflict(m) => ApiError::Conflict(m),
            WriteError::Retry => ApiError::Conflict(
                "the item kept changing while the patch was applied; try again".into(),
            ),
            WriteError::Unavailable(m) => {
                tracing::warn!(error = %m, "write refused: storage unavailable");
                ApiError::Unavailable(
                    "storage is unavailable; nothing was written, try again later".into(),
                )
            }
            WriteError::Overloaded => ApiError::Unavailable(
                "the server is writing as fast as it can and its queue is full; nothing was \
                 written, retry after a second"
                    .into(),
            ),
            WriteError::ShuttingDown => {
                ApiError::Unavailable("the server is shutting down; nothing was written".into())
            }
            WriteError::InGroup { error, .. } => ApiError::from(*error),
            WriteError::NotSupported(m) => ApiError::NotImplemented(m),
        }
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        tracing::warn!(error = %e, "storage error");
        ApiError::Unavailable("storage is unavailable; try again later".into())
    }
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) | ApiError::NoRoadNetwork(_) => StatusCode::CONFLICT,
            ApiError::PreconditionFailed { .. } => StatusCode::PRECONDITION_FAILED,
            ApiError::TooLarge(_) | ApiError::TooLargeFile(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Invalid(_) | ApiError::Rows { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::TooMany(_) | ApiError::Busy { .. } | ApiError::SignInsLimited { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The problem type: a relative URI documented in `proto/API.md`.
    fn slug(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad-request",
            ApiError::Unauthorized => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not-found",
            ApiError::MethodNotAllowed => "method-not-allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::NoRoadNetwork(_) => "no-road-network",
            ApiError::PreconditionFailed { .. } => "version-mismatch",
            ApiError::TooLarge(_) | ApiError::TooLargeFile(_) => "too-large",
            ApiError::UnsupportedMediaType(_) => "unsupported-media-type",
            ApiError::Invalid(_) => "invalid-input",
            ApiError::Rows { .. } => "invalid-rows",
            ApiError::NotImplemented(_) => "not-implemented",
            ApiError::TooMany(_) | ApiError::Busy { .. } => "too-many-requests",
            ApiError::SignInsLimited { .. } => "too-many-sign-ins",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::Internal(_) => "internal",
        }
    }

    fn title(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "Bad request",
            ApiError::Unauthorized => "Unauthorized",
            ApiError::Forbidden(_) => "Forbidden",
            ApiError::NotFound => "Not found",
            ApiError::MethodNotAllowed => "Method not allowed",
            ApiError::Conflict(_) => "Conflict",
            ApiError::NoRoadNetwork(_) => "No road network",
            ApiError::PreconditionFailed { .. } => "Version mismatch",
            ApiError::TooLarge(_) | ApiError::TooLargeFile(_) => "Body too large",
            ApiError::UnsupportedMediaType(_) => "Unsupported media type",
            ApiError::Invalid(_) => "Invalid input",
            ApiError::Rows { .. } => "Invalid rows",
            ApiError::NotImplemented(_) => "Not implemented",
            ApiError::TooMany(_) | ApiError::Busy { .. } => "Too many requests",
            ApiError::SignInsLimited { .. } => "Too many failed sign-ins",
            ApiError::Unavailable(_) => "Service unavailable",
            ApiError::Internal(_) => "Internal error",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = json!({
            "type": format!("/problems/{}", self.slug()),
            "title": self.title(),
            "status": status.as_u16(),
        });
        match &self {
            ApiError::Invalid(inv) => {
                body["detail"] = json!(format!("{}: {}", inv.field, inv.message));
                body["field"] = json!(inv.field);
            }
            ApiError::Rows { detail, rows } => {
                body["detail"] = json!(detail);
                body["rows"] = rows.clone();
            }
            ApiError::PreconditionFailed { current } => {
                body["detail"] = json!(format!(
                    "version {current} is current; fetch it and retry with If-Match: {current}"
                ));
                body["current_version"] = json!(current);
            }
            ApiError::Internal(detail) => {
                tracing::error!(%detail, "internal error");
                body["detail"] = json!("an internal error occurred; it has been logged");
            }
            other => body["detail"] = json!(other.to_string()),
        }
        let mut resp = (status, body.to_string()).into_response();
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if let ApiError::SignInsLimited { retry_after } | ApiError::Busy { retry_after, .. } = &self
        {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after));
        }
        // Overload, storage down or shutting down: nothing was written, and a client may try
        // again shortly.
        if status == StatusCode::SERVICE_UNAVAILABLE {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"cmcop\""),
            );
        }
        resp
    }
}

pub type ApiResult<T, E = ApiError> = Result<T, E>;
