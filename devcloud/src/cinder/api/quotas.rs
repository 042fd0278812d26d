//! Cinder's `/limits` and quota sets (`os-quota-sets/{project}`, with `usage` and the
//! defaults), from the project's quota knobs and what it uses.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::{Q, query};
use crate::auth::Auth;
use crate::cinder::{Limits, Snapshot, Volume, error};
use crate::cloud::{Cloud, SharedCloud};
use crate::error::ApiError;

pub(super) async fn limits(auth: Auth, State(cloud): State<SharedCloud>) -> Json<Value> {
    let used = cloud.cinder.usage(&auth.project_id);
    let l = Limits::of(&cloud);
    Json(json!({"limits": {"rate": [], "absolute": {
        "totalSnapshotsUsed": used.snapshots,
        "maxTotalBackups": 10,
        "maxTotalVolumeGigabytes": l.gigabytes,
        "maxTotalSnapshots": l.snapshots,
        "maxTotalBackupGigabytes": 1000,
        "totalBackupGigabytesUsed": 0,
        "maxTotalVolumes": l.volumes,
        "totalVolumesUsed": used.volumes,
        "totalBackupsUsed": 0,
        "totalGigabytesUsed": used.gigabytes,
    }}}))
}

/// The quota set of a project: each resource's limit, with `{"limit", "in_use",
/// "reserved", "allocated"}` when `usage` is asked; the per-type resources of every type.
fn quota_set_json(cloud: &Cloud, project: &str, usage: bool) -> Value {
    let l = Limits::of(cloud);
    let used = cloud.cinder.usage(project);
    let all_types = crate::cinder::types(cloud);
    let per_type: Vec<(String, crate::cinder::Usage)> = {
        let st = cloud.cinder.lock();
        all_types
            .values()
            .map(|t| {
                let vols: Vec<&Volume> = st
                    .volumes
                    .values()
                    .filter(|v| v.project_id == project && v.volume_type_id == t.id)
                    .collect();
                let snaps: Vec<&Snapshot> = st
                    .snapshots
                    .values()
                    .filter(|s| {
                        s.project_id == project
                            && st
                                .volumes
                                .get(&s.volume_id)
                                .is_some_and(|v| v.volume_type_id == t.id)
                    })
                    .collect();
                (
                    t.name.clone(),
                    crate::cinder::Usage {
                        volumes: vols.len() as u64,
                        snapshots: snaps.len() as u64,
                        gigabytes: vols.iter().map(|v| v.size).sum::<u64>()
                            + snaps.iter().map(|s| s.size).sum::<u64>(),
                    },
                )
            })
            .collect()
    };
    let entry = |limit: i64, in_use: u64| {
        if usage {
            json!({"limit": limit, "in_use": in_use, "reserved": 0, "allocated": 0})
        } else {
            json!(limit)
        }
    };
    let mut out = serde_json::Map::new();
    out.insert("id".into(), json!(project));
    out.insert("volumes".into(), entry(l.volumes as i64, used.volumes));
    out.insert(
        "snapshots".into(),
        entry(l.snapshots as i64, used.snapshots),
    );
    out.insert(
        "gigabytes".into(),
        entry(l.gigabytes as i64, used.gigabytes),
    );
    out.insert("backups".into(), entry(10, 0));
    out.insert("backup_gigabytes".into(), entry(1000, 0));
    out.insert("groups".into(), entry(10, 0));
    out.insert("per_volume_gigabytes".into(), entry(-1, 0));
    for (name, u) in per_type {
        out.insert(format!("volumes_{name}"), entry(-1, u.volumes));
        out.insert(format!("snapshots_{name}"), entry(-1, u.snapshots));
        out.insert(format!("gigabytes_{name}"), entry(-1, u.gigabytes));
    }
    json!({"quota_set": out})
}

pub(super) async fn quota_set(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(project): Path<String>,
    Query(q): Q,
) -> Result<Json<Value>, ApiError> {
    if project != auth.project_id && !auth.is_admin {
        return Err(error(
            StatusCode::FORBIDDEN,
            "Policy doesn't allow volume_extension:quotas:show to be performed.",
        ));
    }
    let usage = query(&q, "usage").is_some_and(|u| {
        matches!(
            u.to_ascii_lowercase().as_str(),
            "true" | "1" | "t" | "yes" | "y" | "on"
        )
    });
    Ok(Json(quota_set_json(&cloud, &project, usage)))
}

pub(super) async fn quota_defaults(
    _auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(project): Path<String>,
) -> Json<Value> {
    Json(quota_set_json(&cloud, &project, false))
}
