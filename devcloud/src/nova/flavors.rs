//! Nova flavors: list, detail, get by id, with the fields each microversion shows
//! (`description` 2.55+, `extra_specs` 2.61+, `swap` as 0 from 2.75). Knows nothing about
//! servers except that they refer to flavors by id.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Extension, Json, Router};
use serde_json::{Value, json};

use super::{Microversion, links};
use crate::auth::Auth;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::ApiError;

/// A flavor.
#[derive(Debug, Clone)]
pub struct Flavor {
    /// Id (`"1"` ... `"4"` for the m1 family).
    pub id: String,
    /// Name.
    pub name: String,
    /// RAM in MiB.
    pub ram: u64,
    /// vCPUs.
    pub vcpus: u64,
    /// Root disk in GiB.
    pub disk: u64,
    /// Ephemeral disk in GiB.
    pub ephemeral: u64,
    /// Swap in MiB.
    pub swap: u64,
    /// Public.
    pub is_public: bool,
    /// Extra specs.
    pub extra_specs: BTreeMap<String, String>,
    /// Description.
    pub description: Option<String>,
}

impl Flavor {
    /// A public flavor without extras.
    pub fn new(id: &str, name: &str, ram: u64, vcpus: u64, disk: u64) -> Flavor {
        Flavor {
            id: id.into(),
            name: name.into(),
            ram,
            vcpus,
            disk,
            ephemeral: 0,
            swap: 0,
            is_public: true,
            extra_specs: BTreeMap::new(),
            description: None,
        }
    }

    /// The full flavor body for `mv`.
    pub fn detail(&self, cloud: &Cloud, mv: Microversion) -> Value {
        let mut v = json!({
            "id": self.id, "name": self.name, "ram": self.ram, "vcpus": self.vcpus, "disk": self.disk,
            "OS-FLV-EXT-DATA:ephemeral": self.ephemeral, "OS-FLV-DISABLED:disabled": false,
            "os-flavor-access:is_public": self.is_public, "rxtx_factor": 1.0,
            "swap": if mv.at_least(75) { json!(self.swap) } else if self.swap == 0 { json!("") } else { json!(self.swap) },
            "links": links(cloud, &format!("flavors/{}", self.id)),
        });
        if mv.at_least(55) {
            v["description"] = json!(self.description);
        }
        if mv.at_least(61) {
            v["extra_specs"] = json!(self.extra_specs);
        }
        v
    }
}

pub(super) fn routes() -> Router<SharedCloud> {
    Router::new()
        .route("/flavors", get(list))
        .route("/flavors/detail", get(detail))
        .route("/flavors/{id}", get(show))
        .route("/flavors/{id}/os-extra_specs", get(extra_specs))
}

fn filtered(
    cloud: &Cloud,
    q: &BTreeMap<String, String>,
) -> Result<(Vec<Flavor>, Option<String>), ApiError> {
    let st = cloud.nova.lock();
    let min_ram: u64 = q
        .get("minRam")
        .map(|v| v.parse())
        .transpose()
        .map_err(|_| bad("minRam"))?
        .unwrap_or(0);
    let min_disk: u64 = q
        .get("minDisk")
        .map(|v| v.parse())
        .transpose()
        .map_err(|_| bad("minDisk"))?
        .unwrap_or(0);
    let public = match q.get("is_public").map(|s| s.to_ascii_lowercase()) {
        None => Some(true),
        Some(s) if s == "none" => None,
        Some(s) => Some(matches!(s.as_str(), "true" | "1" | "yes" | "t" | "on")),
    };
    let mut list: Vec<Flavor> = st
        .flavors
        .values()
        .filter(|f| f.ram >= min_ram && f.disk >= min_disk)
        .filter(|f| match public {
            None => true,
            Some(p) => f.is_public == p,
        })
        .cloned()
        .collect();
    // Nova sorts by flavorid ascending by default.
    list.sort_by(|a, b| a.id.cmp(&b.id));
    if let Some(marker) = q.get("marker") {
        let pos = list.iter().position(|f| f.id == *marker).ok_or_else(|| {
            ApiError::nova(
                StatusCode::BAD_REQUEST,
                format!("marker [{marker}] not found"),
            )
        })?;
        list.drain(..=pos);
    }
    let mut next = None;
    if let Some(limit) = q.get("limit") {
        let limit: usize = limit.parse().map_err(|_| bad("limit"))?;
        if list.len() > limit {
            list.truncate(limit);
        }
        if limit > 0 && list.len() == limit {
            next = list.last().map(|f| f.id.clone());
        }
    }
    Ok((list, next))
}

fn bad(what: &str) -> ApiError {
    ApiError::nova(
        StatusCode::BAD_REQUEST,
        format!("Invalid input for query parameter {what}."),
    )
}

fn with_links(
    cloud: &Cloud,
    path: &str,
    q: &BTreeMap<String, String>,
    next: Option<String>,
    body: &mut Value,
) {
    if let Some(marker) = next {
        let mut q = q.clone();
        q.insert("marker".into(), marker);
        let qs: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
        body["flavors_links"] = json!([{"href": format!("{}/compute/v2.1/{path}?{}", cloud.base_url, qs.join("&")), "rel": "next"}]);
    }
}

async fn list(
    _auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let (list, next) = filtered(&cloud, &q)?;
    let items: Vec<Value> = list
        .iter()
        .map(|f| {
            let mut v = json!({"id": f.id, "name": f.name, "links": links(&cloud, &format!("flavors/{}", f.id))});
            if mv.at_least(55) {
                v["description"] = json!(f.description);
            }
            v
        })
        .collect();
    let mut body = json!({"flavors": items});
    with_links(&cloud, "flavors", &q, next, &mut body);
    Ok(Json(body))
}

async fn detail(
    _auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let (list, next) = filtered(&cloud, &q)?;
    let mut body =
        json!({"flavors": list.iter().map(|f| f.detail(&cloud, mv)).collect::<Vec<_>>()});
    with_links(&cloud, "flavors/detail", &q, next, &mut body);
    Ok(Json(body))
}

fn find(cloud: &Cloud, id: &str) -> Result<Flavor, ApiError> {
    cloud.nova.lock().flavors.get(id).cloned().ok_or_else(|| {
        ApiError::nova(
            StatusCode::NOT_FOUND,
            format!("Flavor {id} could not be found."),
        )
    })
}

async fn show(
    _auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let f = find(&cloud, &id)?;
    Ok(Json(json!({"flavor": f.detail(&cloud, mv)})))
}

async fn extra_specs(
    _auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let f = find(&cloud, &id)?;
    Ok(Json(json!({"extra_specs": f.extra_specs})))
}
