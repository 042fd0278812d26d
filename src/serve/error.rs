//! API errors: a status and a JSON body `{"error": {"code"?, "message", "help"?,
//! "request_id"?}, ...}`. Errors of the workflow answer with the code and help the CLI shows
//! ([`crate::workflow::Taught`]). Messages are written for the person at the other end; none
//! carries a secret (cloud errors are already free of them, see `crate::cloud::error`).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// The stable code (`s2d::auth::rejected`, ...), when the error has one.
    pub code: Option<String>,
    pub message: String,
    pub help: Option<String>,
    pub request_id: Option<String>,
    /// More fields beside `error` (e.g. `diagnostics`, `job`).
    pub extra: Option<Box<(&'static str, Value)>>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: None,
            message: message.into(),
            help: None,
            request_id: None,
            extra: None,
        }
    }

    /// A workflow error, with its code and help; the status follows the code: the plan's
    /// fault 422, a held lock or a conflict 409, the clouds' (and authentication) 502.
    pub fn taught(t: crate::workflow::Taught) -> ApiError {
        let status = if t.code.starts_with("s2d::plan::") || t.code.starts_with("s2d::graph::") {
            StatusCode::UNPROCESSABLE_ENTITY
        } else if t.code.starts_with("s2d::state::locked") {
            StatusCode::CONFLICT
        } else if t.code.starts_with("s2d::config::") {
            StatusCode::UNPROCESSABLE_ENTITY
        } else if t.code.starts_with("s2d::state::") || t.code.starts_with("s2d::io::") {
            StatusCode::INTERNAL_SERVER_ERROR
        } else {
            StatusCode::BAD_GATEWAY
        };
        ApiError {
            status,
            code: Some(t.code),
            message: t.message,
            help: t.help,
            request_id: t.request_id,
            extra: None,
        }
    }

    pub fn not_found(what: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, format!("no {what}"))
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, message)
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A cloud refused or could not be reached.
    pub fn cloud(message: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::BAD_GATEWAY, message.to_string())
    }

    /// Something on the service's side (disk, a task that died).
    pub fn internal(message: impl std::fmt::Display) -> ApiError {
        tracing::error!("{message}");
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message.to_string())
    }

    pub fn help(mut self, help: impl Into<String>) -> ApiError {
        self.help = Some(help.into());
        self
    }

    pub fn with(mut self, key: &'static str, value: Value) -> ApiError {
        self.extra = Some(Box::new((key, value)));
        self
    }
}

impl From<super::store::StoreError> for ApiError {
    fn from(e: super::store::StoreError) -> ApiError {
        ApiError::internal(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({ "message": self.message });
        if let Some(code) = self.code {
            error["code"] = Value::String(code);
        }
        if let Some(help) = self.help {
            error["help"] = Value::String(help);
        }
        if let Some(id) = self.request_id {
            error["request_id"] = Value::String(id);
        }
        let mut body = json!({ "error": error });
        if let Some((key, value)) = self.extra.map(|e| *e) {
            body[key] = value;
        }
        (self.status, Json(body)).into_response()
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
