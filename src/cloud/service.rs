//! Helpers every service handle shares: following `next` links through all pages, reading a
//! 404 on delete as "already gone", the polling interval of waits, and resolving an
//! unversioned endpoint (`/image`, `/network`) through its version document. Knows nothing of
//! any one service's bodies.

use std::time::Duration;

use serde_json::Value;
use url::Url;

use super::error::{Error, Result};
use super::http::{SendOpts, Session};
use super::request::{ApiRequest, next_query, with_query};
use super::types::Service;

/// The most pages one list call follows (at the services' default maximum of 1,000 items a
/// page, ten million items): a cloud whose `next` links never end is an error, not a loop.
pub(crate) const MAX_PAGES: usize = 10_000;

/// Every item of a list, following the next links (Nova's `*_links`, Neutron's
/// `*_links`, Glance's `next`): `split` takes a page apart into its items and its next link.
/// Only the link's query is used, on the URL s2d built (see [`next_query`]); a page without
/// items, a link seen before or no link ends the list; more than [`MAX_PAGES`] is an error.
pub(crate) async fn paged<T, P, F>(
    session: &Session,
    service: Service,
    first: ApiRequest,
    split: F,
) -> Result<Vec<T>>
where
    P: serde::de::DeserializeOwned,
    F: Fn(P) -> (Vec<T>, Option<String>),
{
    paged_within(session, service, first, split, MAX_PAGES).await
}

pub(crate) async fn paged_within<T, P, F>(
    session: &Session,
    service: Service,
    first: ApiRequest,
    split: F,
    max_pages: usize,
) -> Result<Vec<T>>
where
    P: serde::de::DeserializeOwned,
    F: Fn(P) -> (Vec<T>, Option<String>),
{
    let mut out = Vec::new();
    let mut req = first;
    // A cloud that keeps returning the same next link must not loop forever.
    let mut seen = std::collections::HashSet::new();
    for _ in 0..max_pages {
        let page: P = session.send_json(service, req.clone()).await?;
        let (items, next) = split(page);
        let got = items.len();
        out.extend(items);
        match next {
            Some(link) if got > 0 && seen.insert(link.clone()) => {
                req.url = with_query(&req.url, &next_query(&link));
            }
            _ => return Ok(out),
        }
    }
    Err(Error::Decode {
        cloud: session.name().to_string(),
        service,
        method: "GET".into(),
        url: req.url.to_string(),
        message: format!(
            "the list goes on past {max_pages} pages ({} items so far); s2d stops there",
            out.len()
        ),
    })
}

pub(crate) fn gone_is_false<T>(r: Result<T>) -> Result<bool> {
    match r {
        Ok(_) => Ok(true),
        Err(e) if e.is_not_found() => Ok(false),
        Err(e) => Err(e),
    }
}

/// Poll every 2 s for short waits, up to every 5 s for long ones.
pub(crate) fn poll_interval(timeout: Duration) -> Duration {
    (timeout / 60).clamp(Duration::from_millis(500), Duration::from_secs(5))
}

/// Resolve an unversioned endpoint (`.../image`, `.../network`) to its versioned base
/// (`.../image/v2`, `.../network/v2.0`) by the version document; an endpoint already ending
/// in a version is used as it is.
pub(crate) async fn discover_versioned(
    session: &Session,
    service: Service,
    major: &str,
) -> Result<Url> {
    let cloud = session.name().to_string();
    let raw = session.catalog_url(service).await?;
    let url = Url::parse(&raw).map_err(|e| Error::Catalog {
        cloud: cloud.clone(),
        message: format!("{service} endpoint {raw:?} is not a URL: {e}"),
    })?;
    let last = url
        .path_segments()
        .and_then(|mut s| s.rfind(|p| !p.is_empty()).map(str::to_string))
        .unwrap_or_default();
    if last == major || last.starts_with(&format!("{major}.")) {
        return Ok(url);
    }
    let doc: Result<Value> = session
        .send_json_opts(
            service,
            ApiRequest::get(url.clone()),
            SendOpts {
                accept: Some(300),
                ..SendOpts::default()
            },
        )
        .await;
    let doc = match doc {
        Ok(doc) => doc,
        // No version document at the root (some proxies only route the versioned paths):
        // the major version is the only one there is, so use it, as openstacksdk does.
        Err(Error::Api { status: 404, .. }) => {
            let base = super::auth::rebase(url.as_str(), None, major);
            tracing::debug!(cloud = %cloud, %service, %base, "no version document; assuming {major}");
            return Url::parse(&base).map_err(|e| Error::Catalog {
                cloud,
                message: format!("{service} endpoint {base:?}: {e}"),
            });
        }
        Err(e) => return Err(e),
    };
    let versions = super::auth::discovery_versions(&doc);
    let usable = |v: &&super::auth::DiscoveredVersion| {
        (v.id == major || v.id.starts_with(&format!("{major}.")))
            && !v.status.eq_ignore_ascii_case("deprecated")
    };
    let pick = versions
        .iter()
        .find(usable)
        .ok_or_else(|| Error::Unsupported {
            cloud: cloud.clone(),
            message: format!(
                "the {service} endpoint {url} offers no {major} API (it offers: {})",
                versions
                    .iter()
                    .map(|v| v.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        })?;
    let base = super::auth::rebase(url.as_str(), pick.self_href.as_deref(), major);
    Url::parse(&base).map_err(|e| Error::Catalog {
        cloud,
        message: format!("{service} endpoint {base:?}: {e}"),
    })
}
