//! The `Auth` extractor: validates `X-Auth-Token` against the cloud's Keystone and yields who
//! is calling, as keystonemiddleware does in front of every real service. Knows nothing about
//! the services behind it.

use axum::extract::FromRequestParts;
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::cloud::SharedCloud;

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Auth {
    /// The token presented.
    pub token: String,
    /// User id.
    pub user_id: String,
    /// User name.
    pub user_name: String,
    /// Scoped project id.
    pub project_id: String,
    /// Scoped project name.
    pub project_name: String,
    /// Role names on the project.
    pub roles: Vec<String>,
    /// Whether the roles include `admin`.
    pub is_admin: bool,
}

/// keystonemiddleware's 401: `{"error": {"code": 401, "title": "Unauthorized", "message":
/// "The request you have made requires authentication."}}` with
/// `WWW-Authenticate: Keystone uri="<auth_url>"`.
#[derive(Debug)]
pub struct Unauthorized {
    auth_url: String,
}

impl Unauthorized {
    /// The 401 of `cloud` (naming its identity endpoint).
    pub fn of(cloud: &crate::cloud::Cloud) -> Unauthorized {
        Unauthorized {
            auth_url: cloud.auth_url(),
        }
    }
}

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        let body = json!({"error": {"code": 401, "title": "Unauthorized",
            "message": "The request you have made requires authentication."}});
        let mut resp = (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
        if let Ok(v) = format!("Keystone uri=\"{}\"", self.auth_url).parse() {
            resp.headers_mut().insert("www-authenticate", v);
        }
        resp
    }
}

impl FromRequestParts<SharedCloud> for Auth {
    type Rejection = Unauthorized;

    async fn from_request_parts(
        parts: &mut Parts,
        cloud: &SharedCloud,
    ) -> Result<Self, Self::Rejection> {
        let unauthorized = || Unauthorized {
            auth_url: cloud.auth_url(),
        };
        let token = parts
            .headers
            .get("x-auth-token")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(unauthorized)?;
        cloud
            .keystone
            .validate(token, cloud.clock.now())
            .ok_or_else(unauthorized)
    }
}
