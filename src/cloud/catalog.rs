//! The service catalog from a Keystone token (v3 `catalog` or v2.0 `serviceCatalog`) and the
//! choice of an endpoint by service type, interface and region. Knows nothing of HTTP.

use serde::Deserialize;

use super::types::Interface;

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Catalog {
    pub services: Vec<CatalogService>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogService {
    pub service_type: String,
    pub name: Option<String>,
    pub endpoints: Vec<CatalogEndpoint>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CatalogEndpoint {
    pub interface: Interface,
    pub region: Option<String>,
    pub url: String,
}

/// Keystone v3 `token.catalog[]`.
#[derive(Deserialize)]
pub(crate) struct V3Service {
    #[serde(rename = "type")]
    service_type: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    endpoints: Vec<V3Endpoint>,
}

#[derive(Deserialize)]
struct V3Endpoint {
    interface: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    region_id: Option<String>,
    url: String,
}

/// Keystone v2.0 `access.serviceCatalog[]`.
#[derive(Deserialize)]
pub(crate) struct V2Service {
    #[serde(rename = "type")]
    service_type: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    endpoints: Vec<V2Endpoint>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V2Endpoint {
    #[serde(default)]
    region: Option<String>,
    #[serde(default, rename = "publicURL")]
    public_url: Option<String>,
    #[serde(default, rename = "internalURL")]
    internal_url: Option<String>,
    #[serde(default, rename = "adminURL")]
    admin_url: Option<String>,
}

impl Catalog {
    pub(crate) fn from_v3(services: Vec<V3Service>) -> Catalog {
        let services = services
            .into_iter()
            .map(|s| CatalogService {
                service_type: s.service_type,
                name: s.name,
                endpoints: s
                    .endpoints
                    .into_iter()
                    .filter_map(|e| {
                        Some(CatalogEndpoint {
                            interface: e.interface.parse().ok()?,
                            region: e.region_id.or(e.region),
                            url: e.url,
                        })
                    })
                    .collect(),
            })
            .collect();
        Catalog { services }
    }

    pub(crate) fn from_v2(services: Vec<V2Service>) -> Catalog {
        let services = services
            .into_iter()
            .map(|s| {
                let mut endpoints = Vec::new();
                for e in s.endpoints {
                    for (interface, url) in [
                        (Interface::Public, e.public_url),
                        (Interface::Internal, e.internal_url),
                        (Interface::Admin, e.admin_url),
                    ] {
                        if let Some(url) = url {
                            endpoints.push(CatalogEndpoint {
                                interface,
                                region: e.region.clone(),
                                url,
                            });
                        }
                    }
                }
                CatalogService {
                    service_type: s.service_type,
                    name: s.name,
                    endpoints,
                }
            })
            .collect();
        Catalog { services }
    }

    /// The endpoint URL of `service_type` with `interface`, in `region` (any region when
    /// `None`, the first listed). The error says what the catalog does have.
    pub fn endpoint(
        &self,
        service_type: &str,
        interface: Interface,
        region: Option<&str>,
    ) -> Result<&str, String> {
        let services: Vec<&CatalogService> = self
            .services
            .iter()
            .filter(|s| s.service_type == service_type)
            .collect();
        if services.is_empty() {
            return Err(format!(
                "the catalog has no {service_type} service (it has: {})",
                self.summary()
            ));
        }
        let all = services.iter().flat_map(|s| s.endpoints.iter());
        let mut found = all
            .clone()
            .filter(|e| e.interface == interface)
            .filter(|e| region.is_none_or(|r| e.region.as_deref() == Some(r)));
        if let Some(e) = found.next() {
            return Ok(&e.url);
        }
        let have: Vec<String> = all
            .map(|e| {
                format!(
                    "{} in {}",
                    e.interface,
                    e.region.as_deref().unwrap_or("no region")
                )
            })
            .collect();
        Err(format!(
            "the catalog has no {service_type} endpoint with interface {interface}{} (it has: {})",
            region
                .map(|r| format!(" in region {r}"))
                .unwrap_or_default(),
            have.join(", ")
        ))
    }

    /// `compute (public RegionOne, internal RegionOne), image (...)`.
    pub fn summary(&self) -> String {
        if self.services.is_empty() {
            return "nothing".into();
        }
        self.services
            .iter()
            .map(|s| {
                let eps: Vec<String> = s
                    .endpoints
                    .iter()
                    .map(|e| format!("{} {}", e.interface, e.region.as_deref().unwrap_or("-")))
                    .collect();
                format!("{} ({})", s.service_type, eps.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        let v3: Vec<V3Service> = serde_json::from_value(serde_json::json!([
            {"type": "compute", "name": "nova", "endpoints": [
                {"interface": "public", "region": "RegionOne", "region_id": "RegionOne", "url": "https://one/compute/v2.1"},
                {"interface": "internal", "region": "RegionOne", "region_id": "RegionOne", "url": "http://one-int/compute/v2.1"},
                {"interface": "public", "region": "RegionTwo", "region_id": "RegionTwo", "url": "https://two/compute/v2.1"}
            ]},
            {"type": "image", "name": "glance", "endpoints": [
                {"interface": "public", "region": "RegionOne", "url": "https://one/image"}
            ]}
        ]))
        .unwrap();
        Catalog::from_v3(v3)
    }

    #[test]
    fn selects_by_interface_and_region() {
        let c = catalog();
        assert_eq!(
            c.endpoint("compute", Interface::Public, Some("RegionTwo")),
            Ok("https://two/compute/v2.1")
        );
        assert_eq!(
            c.endpoint("compute", Interface::Internal, None),
            Ok("http://one-int/compute/v2.1")
        );
        assert_eq!(
            c.endpoint("compute", Interface::Public, None),
            Ok("https://one/compute/v2.1")
        );
    }

    #[test]
    fn errors_name_what_the_catalog_has() {
        let c = catalog();
        let e = c.endpoint("network", Interface::Public, None).unwrap_err();
        assert!(e.contains("no network service"), "{e}");
        assert!(e.contains("compute (public RegionOne"), "{e}");
        let e = c
            .endpoint("image", Interface::Public, Some("RegionTwo"))
            .unwrap_err();
        assert!(e.contains("in region RegionTwo"), "{e}");
        assert!(e.contains("public in RegionOne"), "{e}");
    }

    #[test]
    fn v2_catalog() {
        let v2: Vec<V2Service> = serde_json::from_value(serde_json::json!([
            {"type": "compute", "name": "nova", "endpoints": [
                {"region": "RegionOne", "publicURL": "http://p/v2.1/t", "internalURL": "http://i/v2.1/t", "adminURL": "http://a/v2.1/t"}
            ]}
        ]))
        .unwrap();
        let c = Catalog::from_v2(v2);
        assert_eq!(
            c.endpoint("compute", Interface::Admin, Some("RegionOne")),
            Ok("http://a/v2.1/t")
        );
    }
}
