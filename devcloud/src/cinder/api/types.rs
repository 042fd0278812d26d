//! Cinder's volume type routes: list and show, as a project sees them.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::auth::Auth;
use crate::cinder::{error, type_json};
use crate::cloud::SharedCloud;
use crate::error::ApiError;

pub(super) async fn list_types(auth: Auth, State(cloud): State<SharedCloud>) -> Json<Value> {
    let types: Vec<Value> = crate::cinder::types(&cloud)
        .values()
        .map(|t| type_json(t, auth.is_admin))
        .collect();
    Json(json!({"volume_types": types}))
}

pub(super) async fn show_type(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let t = if id == "default" {
        let st = cloud.cinder.lock();
        st.types.get(&st.default_type).cloned()
    } else {
        crate::cinder::types(&cloud).get(&id).cloned()
    };
    let t = t.ok_or_else(|| {
        error(
            StatusCode::NOT_FOUND,
            format!("Volume type {id} could not be found."),
        )
    })?;
    Ok(Json(json!({"volume_type": type_json(&t, auth.is_admin)})))
}
