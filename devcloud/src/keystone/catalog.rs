//! The service catalog, in v3 form (tokens, `GET /v3/auth/catalog`) and v2.0 form, with the
//! endpoint placements of the `catalog_regions` knob.

use axum::extract::State;
use serde_json::{Value, json};

use super::role_id;
use crate::auth::Auth;
use crate::cloud::{Cloud, SharedCloud};

/// The service catalog of a cloud in v3 form.
pub fn catalog_v3(cloud: &Cloud) -> Value {
    let placements = placements(cloud);
    Value::Array(
        services(cloud)
            .into_iter()
            .map(|(ty, name, path, sid)| {
                let endpoints: Vec<Value> = placements
                    .iter()
                    .flat_map(|(region, prefixes)| {
                        prefixes.iter().map(move |(iface, prefix)| (region, iface, prefix))
                    })
                    .map(|(region, iface, prefix)| {
                        let key = if *region == cloud.region {
                            format!("{sid}-{iface}")
                        } else {
                            format!("{sid}-{region}-{iface}")
                        };
                        json!({"id": role_id(&key), "interface": iface,
                               "region_id": region, "region": region, "url": format!("{prefix}{path}")})
                    })
                    .collect();
                json!({"endpoints": endpoints, "id": role_id(&sid), "type": ty, "name": name})
            })
            .collect(),
    )
}

/// Where the catalog puts endpoints: per region, the URL prefix of each interface. One region
/// with the base URL for all three interfaces, or (knob `catalog_regions`) a distinct
/// `{base}/ep/{region}/{interface}` prefix for each.
fn placements(cloud: &Cloud) -> Vec<(String, Vec<(&'static str, String)>)> {
    let regions = cloud.faults.get().catalog_regions;
    let b = &cloud.base_url;
    if regions.is_empty() {
        return vec![(
            cloud.region.clone(),
            ["public", "internal", "admin"]
                .into_iter()
                .map(|i| (i, b.clone()))
                .collect(),
        )];
    }
    regions
        .into_iter()
        .map(|r| {
            let prefixes = ["public", "internal", "admin"]
                .into_iter()
                .map(|i| (i, format!("{b}/ep/{r}/{i}")))
                .collect();
            (r, prefixes)
        })
        .collect()
}

/// `(type, name, path under the prefix, service id)` of each service.
fn services(cloud: &Cloud) -> Vec<(&'static str, &'static str, &'static str, String)> {
    vec![
        (
            "compute",
            "nova",
            "/compute/v2.1",
            format!("{}-nova", cloud.name),
        ),
        (
            "image",
            "glance",
            "/image",
            format!("{}-glance", cloud.name),
        ),
        (
            "network",
            "neutron",
            "/network",
            format!("{}-neutron", cloud.name),
        ),
        (
            "block-storage",
            "cinder",
            "/volume/v3",
            format!("{}-cinder", cloud.name),
        ),
        (
            "volumev3",
            "cinderv3",
            "/volume/v3",
            format!("{}-cinderv3", cloud.name),
        ),
        (
            "object-store",
            "swift",
            "/object-store/v1/AUTH_devcloud",
            format!("{}-swift", cloud.name),
        ),
        (
            "identity",
            "keystone",
            "/identity",
            format!("{}-keystone", cloud.name),
        ),
    ]
}

pub(super) fn catalog_v2(cloud: &Cloud) -> Value {
    let placements = placements(cloud);
    Value::Array(
        services(cloud)
            .into_iter()
            .map(|(ty, name, path, sid)| {
                let path = if ty == "identity" {
                    format!("{path}/v2.0")
                } else {
                    path.to_string()
                };
                let endpoints: Vec<Value> = placements
                    .iter()
                    .map(|(region, prefixes)| {
                        let url = |iface: &str| {
                            prefixes
                                .iter()
                                .find(|(i, _)| *i == iface)
                                .map(|(_, p)| format!("{p}{path}"))
                        };
                        let key = if *region == cloud.region {
                            sid.clone()
                        } else {
                            format!("{sid}-{region}")
                        };
                        json!({"adminURL": url("admin"), "region": region, "internalURL": url("internal"),
                               "id": role_id(&key), "publicURL": url("public")})
                    })
                    .collect();
                json!({"endpoints": endpoints, "endpoints_links": [], "type": ty, "name": name})
            })
            .collect(),
    )
}

pub(super) async fn v3_catalog(_auth: Auth, State(cloud): State<SharedCloud>) -> axum::Json<Value> {
    axum::Json(
        json!({"catalog": catalog_v3(&cloud), "links": {"self": format!("{}/v3/auth/catalog", cloud.auth_url()), "previous": null, "next": null}}),
    )
}
