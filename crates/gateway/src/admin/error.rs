//! The admin surface's one error type. The JSON API renders it as
//! `{"error": {"code", "message", "fields"}}`; the console renders the same
//! value as an HTML page with the same status.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use warden_core::inventory::FieldError;
use warden_store::StoreError;

use crate::admin::inventory::ControlError;
use crate::http::json_response;

/// An admin failure, with the status it answers with.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fields: Vec<FieldError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), fields: Vec::new() }
    }

    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn field(field: &str, message: impl Into<String>) -> ApiError {
        let message = message.into();
        ApiError { fields: vec![FieldError::new(field, &message)], ..ApiError::bad(message) }
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    pub fn store(e: StoreError) -> ApiError {
        tracing::error!(error = %e, "store error; request refused");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "the store is unavailable; nothing was changed",
        )
    }
}

impl From<ControlError> for ApiError {
    fn from(e: ControlError) -> ApiError {
        match e {
            ControlError::Invalid(fields) => {
                let message = fields.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ");
                ApiError { status: StatusCode::BAD_REQUEST, code: "invalid", message, fields }
            }
            ControlError::NotFound(m) => ApiError::not_found(m),
            ControlError::Conflict(m) => ApiError::conflict(m),
            ControlError::Store(e) => ApiError::store(e),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        ApiError::store(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"error": {"code": self.code, "message": self.message}});
        if !self.fields.is_empty() {
            body["error"]["fields"] = json!(self.fields);
        }
        let mut r = json_response(self.status, body);
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"warden-admin\""));
        }
        r
    }
}
