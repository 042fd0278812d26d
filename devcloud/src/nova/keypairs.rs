//! Nova keypairs (`/os-keypairs`): per user, list/get/create/import/delete, the MD5
//! fingerprint nova computes, `type` from 2.2, `user_id` for admins from 2.10, paging from
//! 2.35, generated ed25519 keys (before 2.92). Knows nothing about servers except that they
//! embed a keypair's public key.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use base64::Engine;
use md5::Digest;
use serde_json::{Value, json};
use time::OffsetDateTime;

use super::{Microversion, policy_forbidden};
use crate::auth::Auth;
use crate::cloud::SharedCloud;
use crate::error::{ApiError, Service, parse_json};

/// A keypair (belongs to a user).
#[derive(Debug, Clone)]
pub struct Keypair {
    /// Database id.
    pub id: u64,
    /// Name.
    pub name: String,
    /// Owner user.
    pub user_id: String,
    /// OpenSSH public key line.
    pub public_key: String,
    /// MD5 colon-hex fingerprint.
    pub fingerprint: String,
    /// `ssh` or `x509`.
    pub kind: String,
    /// Creation time.
    pub created_at: OffsetDateTime,
}

/// Nova's fingerprint of an OpenSSH public key line: MD5 of the base64-decoded key blob as
/// colon-separated lowercase hex (what `ssh-keygen -l -E md5` prints after `MD5:`).
pub fn fingerprint(public_key: &str) -> Option<String> {
    let mut parts = public_key.split_whitespace();
    let kind = parts.next()?;
    let blob = base64::engine::general_purpose::STANDARD
        .decode(parts.next()?)
        .ok()?;
    // The blob starts with the key type as an SSH string; it must match the line's type.
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    if blob.get(4..4 + len)? != kind.as_bytes() {
        return None;
    }
    let digest = md5::Md5::digest(&blob);
    Some(
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .join(":"),
    )
}

/// A new ed25519 key from `seed`: (OpenSSH private key PEM, public key line).
pub fn generate(seed: [u8; 32], comment: &str) -> Option<(String, String)> {
    let kp = ssh_key::private::Ed25519Keypair::from_seed(&seed);
    let mut private = ssh_key::PrivateKey::from(kp);
    private.set_comment(comment);
    let pem = private
        .to_openssh(ssh_key::LineEnding::LF)
        .ok()?
        .to_string();
    let public = private.public_key().to_openssh().ok()?;
    Some((pem, public))
}

pub(super) fn routes() -> Router<SharedCloud> {
    Router::new()
        .route("/os-keypairs", get(list).post(create))
        .route("/os-keypairs/{name}", get(show).delete(delete))
}

fn target_user(
    auth: &Auth,
    mv: Microversion,
    q: &BTreeMap<String, String>,
    action: &str,
) -> Result<String, ApiError> {
    match q.get("user_id") {
        Some(u) if mv.at_least(10) && *u != auth.user_id => {
            if auth.is_admin {
                Ok(u.clone())
            } else {
                Err(policy_forbidden(&format!(
                    "os_compute_api:os-keypairs:{action}"
                )))
            }
        }
        _ => Ok(auth.user_id.clone()),
    }
}

fn summary(k: &Keypair, mv: Microversion) -> Value {
    let mut v = json!({"fingerprint": k.fingerprint, "name": k.name, "public_key": k.public_key});
    if mv.at_least(2) {
        v["type"] = json!(k.kind);
    }
    v
}

async fn list(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let user = target_user(&auth, mv, &q, "index")?;
    let st = cloud.nova.lock();
    let mut list: Vec<&Keypair> = st.keypairs.values().filter(|k| k.user_id == user).collect();
    list.sort_by(|a, b| a.name.cmp(&b.name));
    let mut next = None;
    if mv.at_least(35) {
        if let Some(marker) = q.get("marker") {
            let pos = list.iter().position(|k| k.name == *marker).ok_or_else(|| {
                ApiError::nova(
                    StatusCode::BAD_REQUEST,
                    format!("marker [{marker}] not found"),
                )
            })?;
            list.drain(..=pos);
        }
        if let Some(limit) = q.get("limit") {
            let limit: usize = limit.parse().map_err(|_| {
                ApiError::nova(
                    StatusCode::BAD_REQUEST,
                    "Invalid input for query parameters limit.",
                )
            })?;
            if list.len() > limit {
                list.truncate(limit);
            }
            if limit > 0 && list.len() == limit {
                next = list.last().map(|k| k.name.clone());
            }
        }
    }
    let mut body = json!({"keypairs": list.iter().map(|k| json!({"keypair": summary(k, mv)})).collect::<Vec<_>>()});
    if let Some(marker) = next {
        let mut q = q.clone();
        q.insert("marker".into(), marker);
        let qs: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
        body["keypairs_links"] = json!([{"href": format!("{}/compute/v2.1/os-keypairs?{}", cloud.base_url, qs.join("&")), "rel": "next"}]);
    }
    Ok(Json(body))
}

fn not_found(name: &str, user: &str) -> ApiError {
    ApiError::nova(
        StatusCode::NOT_FOUND,
        format!("Keypair {name} not found for user {user}"),
    )
}

async fn show(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(name): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let user = target_user(&auth, mv, &q, "show")?;
    let st = cloud.nova.lock();
    let k = st
        .keypairs
        .get(&(user.clone(), name.clone()))
        .ok_or_else(|| not_found(&name, &user))?;
    let mut v = summary(k, mv);
    v["user_id"] = json!(k.user_id);
    v["created_at"] = json!(super::py_isoformat(k.created_at));
    v["deleted"] = json!(false);
    v["deleted_at"] = Value::Null;
    v["updated_at"] = Value::Null;
    v["id"] = json!(k.id);
    Ok(Json(json!({"keypair": v})))
}

async fn delete(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    Path(name): Path<String>,
    Query(q): Query<BTreeMap<String, String>>,
) -> Result<StatusCode, ApiError> {
    let user = target_user(&auth, mv, &q, "delete")?;
    let mut st = cloud.nova.lock();
    st.keypairs
        .remove(&(user.clone(), name.clone()))
        .ok_or_else(|| not_found(&name, &user))?;
    Ok(if mv.at_least(2) {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::ACCEPTED
    })
}

fn invalid(msg: &str) -> ApiError {
    ApiError::nova(
        StatusCode::BAD_REQUEST,
        format!("Keypair data is invalid: {msg}"),
    )
}

async fn create(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Extension(mv): Extension<Microversion>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body: Value = parse_json(Service::Nova, &body)?;
    let kp = body
        .get("keypair")
        .and_then(Value::as_object)
        .ok_or_else(|| ApiError::nova(StatusCode::BAD_REQUEST, "Invalid input for field/attribute keypair. Value: None. None is not of type 'object'"))?;
    let name = kp
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| ApiError::nova(StatusCode::BAD_REQUEST, "Invalid input for field/attribute keypair. Value: {}. 'name' is a required property"))?
        .to_string();
    let name_ok = !name.trim().is_empty()
        && name.len() <= 255
        && (mv.at_least(92)
            || name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_ .".contains(c)));
    if !name_ok {
        return Err(ApiError::nova(
            StatusCode::BAD_REQUEST,
            format!(
                "Invalid input for field/attribute name. Value: {name}. '{name}' does not match '^[a-zA-Z0-9 _-]+$'"
            ),
        ));
    }
    let kind = if mv.at_least(2) {
        kp.get("type")
            .and_then(Value::as_str)
            .unwrap_or("ssh")
            .to_string()
    } else {
        "ssh".into()
    };
    if kind != "ssh" && kind != "x509" {
        return Err(ApiError::nova(
            StatusCode::BAD_REQUEST,
            format!(
                "Invalid input for field/attribute type. Value: {kind}. '{kind}' is not one of ['ssh', 'x509']"
            ),
        ));
    }
    if kind == "x509" {
        return Err(invalid("x509 keypairs are not supported by devcloud"));
    }
    let mut q = BTreeMap::new();
    if let Some(u) = kp.get("user_id").and_then(Value::as_str) {
        q.insert("user_id".to_string(), u.to_string());
    }
    let user = target_user(&auth, mv, &q, "create")?;
    let (public_key, private_key) = match kp.get("public_key").and_then(Value::as_str) {
        Some(pk) => (pk.trim().to_string(), None),
        None if mv.at_least(92) => {
            return Err(ApiError::nova(
                StatusCode::BAD_REQUEST,
                "Invalid input for field/attribute keypair. Value: {}. 'public_key' is a required property",
            ));
        }
        None => {
            let mut seed = [0u8; 32];
            for chunk in seed.chunks_mut(8) {
                chunk.copy_from_slice(&cloud.faults.random_u64().to_le_bytes());
            }
            let (private, public) = generate(seed, "Generated-by-Nova")
                .ok_or_else(|| invalid("key generation failed"))?;
            (public, Some(private))
        }
    };
    let fp = fingerprint(&public_key).ok_or_else(|| invalid("failed to generate fingerprint"))?;
    let mut st = cloud.nova.lock();
    let key = (user.clone(), name.clone());
    if st.keypairs.contains_key(&key) {
        return Err(ApiError::nova(
            StatusCode::CONFLICT,
            format!("Key pair '{name}' already exists."),
        ));
    }
    st.next_keypair_id += 1;
    let k = Keypair {
        id: st.next_keypair_id,
        name: name.clone(),
        user_id: user.clone(),
        public_key,
        fingerprint: fp,
        kind,
        created_at: cloud.clock.now(),
    };
    st.keypairs.insert(key, k.clone());
    drop(st);
    let mut v = summary(&k, mv);
    v["user_id"] = json!(k.user_id);
    if let Some(p) = private_key {
        v["private_key"] = json!(p);
    }
    let status = if mv.at_least(2) {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(json!({"keypair": v}))).into_response())
}

/// Add a keypair directly (seeding).
pub fn insert(
    cloud: &crate::cloud::Cloud,
    user_id: &str,
    name: &str,
    public_key: &str,
) -> Option<()> {
    let fp = fingerprint(public_key)?;
    let mut st = cloud.nova.lock();
    st.next_keypair_id += 1;
    let k = Keypair {
        id: st.next_keypair_id,
        name: name.into(),
        user_id: user_id.into(),
        public_key: public_key.into(),
        fingerprint: fp,
        kind: "ssh".into(),
        created_at: cloud.clock.now(),
    };
    st.keypairs.insert((user_id.into(), name.into()), k);
    Some(())
}
