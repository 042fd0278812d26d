//! The generic list and show handlers every collection shares: neutron's filters (any
//! attribute, repeatable), `fields`, and `limit`/`marker` paging with `<collection>_links`.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Q, bad_input, one, visible};
use crate::auth::Auth;
use crate::cloud::{Cloud, SharedCloud};
use crate::error::ApiError;
use crate::neutron::{NetError, State as NState, not_found};

/// One kind of neutron resource as [`list`] and [`show`] serve it.
pub(super) trait Resource: Sized + 'static {
    /// The key of one item in a body (`security_group`).
    const KEY: &'static str;
    /// The key of the list in a body (`security_groups`).
    const COLLECTION: &'static str;
    /// The collection's path under `/v2.0` (`security-groups`).
    const PATH: &'static str;
    /// What a 404 calls it (`Security group`).
    const KIND: &'static str;

    /// Where the cloud keeps them, by id.
    fn table(st: &NState) -> &BTreeMap<String, Self>;
    /// Whether the caller may see this one.
    fn visible_to(&self, st: &NState, auth: &Auth) -> bool;
    /// Its JSON shape.
    fn to_json(&self, st: &NState) -> Value;
    /// The project it belongs to.
    fn project_id(&self) -> &str;
    /// Run before a list (security groups and rules create the project's `default` group).
    fn before_list(_cloud: &Cloud, _auth: &Auth) {}
    /// Run before a show.
    fn before_show(_cloud: &Cloud, _auth: &Auth) {}
}

/// `impl Resource for Type` from its body keys, path, 404 name, table in the state, JSON shape
/// and visibility rule, written as closures over the item (and the state and caller); further
/// items (`before_list`, `before_show`) go into the impl as they are.
macro_rules! resource {
    ($ty:ty {
        key: $key:literal, collection: $coll:literal, path: $path:literal, kind: $kind:literal,
        table: $table:ident,
        json: |$it:ident, $st:ident| $json:expr,
        visible: |$vit:ident, $vst:ident, $vauth:ident| $vis:expr $(,)?
    } $($extra:item)*) => {
        impl $crate::neutron::api::Resource for $ty {
            const KEY: &'static str = $key;
            const COLLECTION: &'static str = $coll;
            const PATH: &'static str = $path;
            const KIND: &'static str = $kind;

            fn table(st: &$crate::neutron::State) -> &std::collections::BTreeMap<String, Self> {
                &st.$table
            }

            fn visible_to(&self, $vst: &$crate::neutron::State, $vauth: &$crate::auth::Auth) -> bool {
                let $vit = self;
                $vis
            }

            fn project_id(&self) -> &str {
                &self.project_id
            }

            fn to_json(&self, $st: &$crate::neutron::State) -> serde_json::Value {
                let $it = self;
                $json
            }

            $($extra)*
        }
    };
}
pub(super) use resource;

/// The item `id` of the caller's own project (any project for an admin), else neutron's 404:
/// what an update or a delete acts on, or a create refers to (others' shared and external
/// networks can be seen but not changed).
pub(super) fn owned<'a, R: Resource>(
    st: &'a NState,
    auth: &Auth,
    id: &str,
) -> Result<&'a R, NetError> {
    R::table(st)
        .get(id)
        .filter(|r| visible(auth, r.project_id()))
        .ok_or_else(|| not_found(R::KIND, id))
}

/// `GET /v2.0/<collection>`: the items the caller sees, filtered, paged and trimmed.
pub(super) async fn list<R: Resource>(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    R::before_list(&cloud, &auth);
    let items: Vec<Value> = {
        let st = cloud.neutron.lock();
        R::table(&st)
            .values()
            .filter(|r| r.visible_to(&st, &auth))
            .map(|r| r.to_json(&st))
            .collect()
    };
    list_response(&cloud, R::COLLECTION, R::PATH, items, &q)
}

/// `GET /v2.0/<collection>/{id}`: one item the caller sees (404 otherwise), with `fields`.
pub(super) async fn show<R: Resource>(
    auth: Auth,
    State(cloud): State<SharedCloud>,
    Path(id): Path<String>,
    Query(q): Q,
) -> Result<Response, ApiError> {
    R::before_show(&cloud, &auth);
    let st = cloud.neutron.lock();
    let r = R::table(&st)
        .get(&id)
        .filter(|r| r.visible_to(&st, &auth))
        .ok_or_else(|| not_found(R::KIND, &id))?;
    Ok(one(R::KEY, select_fields(r.to_json(&st), &q)))
}

const NON_FILTERS: &[&str] = &[
    "fields",
    "limit",
    "marker",
    "sort_key",
    "sort_dir",
    "page_reverse",
];

fn value_matches(v: &Value, want: &str) -> bool {
    match v {
        Value::String(s) => s == want,
        Value::Bool(b) => want.eq_ignore_ascii_case(if *b { "true" } else { "false" }),
        Value::Number(n) => n.to_string() == want,
        Value::Null => want.is_empty() || want == "None",
        Value::Array(a) => a.iter().any(|e| match (e, want.split_once('=')) {
            (Value::Object(o), Some((k, w))) => o.get(k).is_some_and(|x| value_matches(x, w)),
            (other, _) => value_matches(other, want),
        }),
        Value::Object(_) => false,
    }
}

/// Apply neutron's filters, paging and `fields` to `items`; answer `{collection: [...]}`.
fn list_response(
    cloud: &Cloud,
    collection: &str,
    path: &str,
    items: Vec<Value>,
    q: &[(String, String)],
) -> Result<Response, ApiError> {
    let mut filters: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (k, v) in q {
        if !NON_FILTERS.contains(&k.as_str()) {
            filters.entry(k.as_str()).or_default().push(v.as_str());
        }
    }
    let mut items: Vec<Value> = items
        .into_iter()
        .filter(|item| {
            filters.iter().all(|(k, wants)| match item.get(*k) {
                Some(v) => wants.iter().any(|w| value_matches(v, w)),
                None => true,
            })
        })
        .collect();
    let get = |k: &str| q.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
    let mut links = Vec::new();
    // neutron's get_limit_and_marker: `limit` (0 = none), capped at pagination_max_limit,
    // which is also the page size without `limit`.
    let asked: usize = match get("limit") {
        Some(limit) => limit.parse().map_err(|_| {
            bad_input(format!(
                "Invalid input for limit. Reason: '{limit}' is not an integer."
            ))
        })?,
        None => 0,
    };
    let limit = match cloud.faults.get().max_limit {
        Some(max) if max > 0 => match asked.min(max) {
            0 => max,
            l => l,
        },
        _ => asked,
    };
    if limit > 0 {
        items.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
        if let Some(marker) = get("marker") {
            items.retain(|i| i["id"].as_str().is_some_and(|id| id > marker));
        }
        items.truncate(limit);
        // get_pagination_links: `next` unless the page is short, and always `previous`; the
        // request's query kept, `marker` (and `page_reverse`) replaced.
        let base: Vec<(&str, &str)> = q
            .iter()
            .filter(|(k, _)| k != "marker" && k != "page_reverse")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let href = |extra: Vec<(&str, &str)>| {
            let mut pairs = base.clone();
            pairs.extend(extra);
            format!(
                "{}/network/v2.0/{path}?{}",
                cloud.base_url,
                crate::error::urlencode(pairs)
            )
        };
        let first = items.first().and_then(|i| i["id"].as_str());
        let last = items.last().and_then(|i| i["id"].as_str());
        if items.len() >= limit {
            links.push(json!({"rel": "next", "href": href(last.map(|m| ("marker", m)).into_iter().collect())}));
        }
        let mut previous: Vec<(&str, &str)> = first.map(|m| ("marker", m)).into_iter().collect();
        previous.push(("page_reverse", "True"));
        links.push(json!({"rel": "previous", "href": href(previous)}));
    }
    let items: Vec<Value> = items.into_iter().map(|i| select_fields(i, q)).collect();
    let mut body = json!({ collection: items });
    if !links.is_empty() {
        body[format!("{collection}_links")] = Value::Array(links);
    }
    Ok(axum::Json(body).into_response())
}

fn select_fields(mut v: Value, q: &[(String, String)]) -> Value {
    let fields: Vec<&str> = q
        .iter()
        .filter(|(k, _)| k == "fields")
        .map(|(_, v)| v.as_str())
        .collect();
    if !fields.is_empty()
        && let Value::Object(m) = &mut v
    {
        m.retain(|k, _| fields.contains(&k.as_str()));
    }
    v
}
