//! Neutron v2.0: typed calls for networks, subnets, ports, security groups and their rules,
//! and floating IPs (list with filters and paging, get, create, update, delete); the making of
//! networks, subnets, routers and ports is in [`topology`]. Requests are built by pure
//! functions on [`NetworkEndpoint`]. Knows nothing of Nova or Glance.

pub mod topology;

use std::collections::BTreeMap;

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use url::Url;

use super::error::Result;
use super::http::Session;
use super::request::{ApiRequest, Link, endpoint_url, next_link};
use super::service::{gone_is_false, paged};
use super::types::{
    FloatingIpId, NetworkId, PortId, SecurityGroupId, SecurityGroupRuleId, Service, SubnetId,
};

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Network {
    pub id: NetworkId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default, rename = "router:external")]
    pub external: bool,
    #[serde(default)]
    pub shared: bool,
    #[serde(default)]
    pub subnets: Vec<SubnetId>,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub mtu: Option<u32>,
    #[serde(default)]
    pub port_security_enabled: Option<bool>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Subnet {
    pub id: SubnetId,
    #[serde(default)]
    pub name: String,
    pub network_id: NetworkId,
    #[serde(default)]
    pub cidr: String,
    #[serde(default)]
    pub ip_version: u8,
    #[serde(default)]
    pub gateway_ip: Option<String>,
    #[serde(default)]
    pub enable_dhcp: bool,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default, deserialize_with = "super::compute::null_default")]
    pub allocation_pools: Vec<topology::AllocationPool>,
    #[serde(default, deserialize_with = "super::compute::null_default")]
    pub dns_nameservers: Vec<String>,
    #[serde(default, deserialize_with = "super::compute::null_default")]
    pub host_routes: Vec<topology::HostRoute>,
    #[serde(default)]
    pub ipv6_address_mode: Option<String>,
    #[serde(default)]
    pub ipv6_ra_mode: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct FixedIp {
    #[serde(default)]
    pub subnet_id: Option<SubnetId>,
    pub ip_address: String,
}

/// One Neutron quota with its use (`quota_details`).
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct QuotaDetail {
    pub limit: i64,
    #[serde(default)]
    pub used: i64,
    #[serde(default)]
    pub reserved: i64,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Port {
    pub id: PortId,
    #[serde(default)]
    pub name: String,
    pub network_id: NetworkId,
    #[serde(default)]
    pub device_id: String,
    #[serde(default)]
    pub device_owner: String,
    #[serde(default)]
    pub mac_address: Option<String>,
    #[serde(default)]
    pub fixed_ips: Vec<FixedIp>,
    #[serde(default)]
    pub security_groups: Vec<SecurityGroupId>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub port_security_enabled: Option<bool>,
    #[serde(default, deserialize_with = "super::compute::null_default")]
    pub allowed_address_pairs: Vec<topology::AddressPair>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct SecurityGroupRule {
    pub id: SecurityGroupRuleId,
    pub security_group_id: SecurityGroupId,
    /// `ingress` or `egress`.
    pub direction: String,
    #[serde(default)]
    pub ethertype: Option<String>,
    #[serde(default)]
    pub protocol: Option<String>,
    #[serde(default)]
    pub port_range_min: Option<u32>,
    #[serde(default)]
    pub port_range_max: Option<u32>,
    #[serde(default)]
    pub remote_ip_prefix: Option<String>,
    #[serde(default)]
    pub remote_group_id: Option<SecurityGroupId>,
    #[serde(default)]
    pub description: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct SecurityGroup {
    pub id: SecurityGroupId,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub security_group_rules: Vec<SecurityGroupRule>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A rule to create.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RuleCreate {
    pub direction: String,
    pub ethertype: Option<String>,
    pub protocol: Option<String>,
    pub port_range_min: Option<u32>,
    pub port_range_max: Option<u32>,
    pub remote_ip_prefix: Option<String>,
    pub remote_group_id: Option<SecurityGroupId>,
    pub description: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct FloatingIp {
    pub id: FloatingIpId,
    pub floating_ip_address: String,
    pub floating_network_id: NetworkId,
    #[serde(default)]
    pub port_id: Option<PortId>,
    #[serde(default)]
    pub fixed_ip_address: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
}

/// A floating IP to create.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FloatingIpCreate {
    /// The external network (the "pool").
    pub floating_network_id: NetworkId,
    /// A specific address, if wanted.
    pub floating_ip_address: Option<String>,
    /// Associate at once.
    pub port_id: Option<PortId>,
    pub description: Option<String>,
}

impl Default for NetworkId {
    fn default() -> NetworkId {
        NetworkId::new("")
    }
}

/// Filters (Neutron takes any field as a query parameter).
pub type Filters = Vec<(&'static str, String)>;

/// The versioned Neutron base (`.../v2.0`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetworkEndpoint {
    pub base: Url,
}

impl NetworkEndpoint {
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        endpoint_url(&self.base, segments, query)
    }

    pub fn list_request(&self, resource: &str, filters: &[(&'static str, String)]) -> ApiRequest {
        ApiRequest::get(self.url(&[resource], filters))
    }

    /// `GET /v2.0/quotas/{project}/details`: the project's quotas with their use.
    pub fn quota_details_request(&self, project: &str) -> ApiRequest {
        ApiRequest::get(self.url(&["quotas", project, "details"], &[]))
    }

    pub fn get_request(&self, resource: &str, id: &str) -> ApiRequest {
        ApiRequest::get(self.url(&[resource, id], &[]))
    }

    pub fn delete_request(&self, resource: &str, id: &str) -> ApiRequest {
        ApiRequest::delete(self.url(&[resource, id], &[]))
    }

    pub fn create_security_group_request(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> ApiRequest {
        let mut sg = json!({ "name": name });
        if let Some(d) = description {
            sg["description"] = json!(d);
        }
        ApiRequest::json(
            Method::POST,
            self.url(&["security-groups"], &[]),
            json!({ "security_group": sg }),
        )
    }

    pub fn create_rule_request(&self, group: &SecurityGroupId, r: &RuleCreate) -> ApiRequest {
        let mut rule = json!({
            "security_group_id": group,
            "direction": r.direction,
        });
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                rule[k] = v;
            }
        };
        put("ethertype", r.ethertype.as_ref().map(|v| json!(v)));
        put("protocol", r.protocol.as_ref().map(|v| json!(v)));
        put("port_range_min", r.port_range_min.map(|v| json!(v)));
        put("port_range_max", r.port_range_max.map(|v| json!(v)));
        put(
            "remote_ip_prefix",
            r.remote_ip_prefix.as_ref().map(|v| json!(v)),
        );
        put(
            "remote_group_id",
            r.remote_group_id.as_ref().map(|v| json!(v)),
        );
        put("description", r.description.as_ref().map(|v| json!(v)));
        ApiRequest::json(
            Method::POST,
            self.url(&["security-group-rules"], &[]),
            json!({ "security_group_rule": rule }),
        )
    }

    pub fn create_floating_ip_request(&self, f: &FloatingIpCreate) -> ApiRequest {
        let mut fip = json!({ "floating_network_id": f.floating_network_id });
        if let Some(a) = &f.floating_ip_address {
            fip["floating_ip_address"] = json!(a);
        }
        if let Some(p) = &f.port_id {
            fip["port_id"] = json!(p);
        }
        if let Some(d) = &f.description {
            fip["description"] = json!(d);
        }
        ApiRequest::json(
            Method::POST,
            self.url(&["floatingips"], &[]),
            json!({ "floatingip": fip }),
        )
    }

    /// Associate with `port` (or disassociate with `None`).
    pub fn associate_floating_ip_request(
        &self,
        id: &FloatingIpId,
        port: Option<&PortId>,
    ) -> ApiRequest {
        ApiRequest::json(
            Method::PUT,
            self.url(&["floatingips", id.as_str()], &[]),
            json!({ "floatingip": { "port_id": port } }),
        )
    }
}

/// Typed Neutron calls over a session.
#[derive(Clone)]
pub struct NetworkService {
    session: Session,
    ep: NetworkEndpoint,
}

impl std::fmt::Debug for NetworkService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkService")
            .field("cloud", &self.session.name())
            .field("endpoint", &self.ep)
            .finish()
    }
}

macro_rules! page_type {
    ($name:ident, $item:ty, $field:ident, $links:ident) => {
        #[derive(Deserialize)]
        struct $name {
            $field: Vec<$item>,
            #[serde(default)]
            $links: Vec<Link>,
        }
    };
}

page_type!(NetworksPage, Network, networks, networks_links);
page_type!(SubnetsPage, Subnet, subnets, subnets_links);
page_type!(PortsPage, Port, ports, ports_links);
page_type!(
    GroupsPage,
    SecurityGroup,
    security_groups,
    security_groups_links
);
page_type!(
    RulesPage,
    SecurityGroupRule,
    security_group_rules,
    security_group_rules_links
);
page_type!(FipsPage, FloatingIp, floatingips, floatingips_links);

#[derive(Deserialize)]
struct GroupBody {
    security_group: SecurityGroup,
}

#[derive(Deserialize)]
struct RuleBody {
    security_group_rule: SecurityGroupRule,
}

#[derive(Deserialize)]
struct FipBody {
    floatingip: FloatingIp,
}

#[derive(Deserialize)]
struct NetworkBody {
    network: Network,
}

impl NetworkService {
    /// Resolve the network endpoint (catalog or override, then discovery of `/v2.0`); cached.
    pub async fn new(session: &Session) -> Result<NetworkService> {
        let base = session
            .endpoints()
            .network
            .get_or_try_init(|| {
                super::service::discover_versioned(session, Service::Network, "v2.0")
            })
            .await?
            .clone();
        Ok(NetworkService {
            session: session.clone(),
            ep: NetworkEndpoint { base },
        })
    }

    pub fn endpoint(&self) -> &NetworkEndpoint {
        &self.ep
    }

    async fn list<T, P, F>(
        &self,
        resource: &str,
        filters: &[(&'static str, String)],
        split: F,
    ) -> Result<Vec<T>>
    where
        P: serde::de::DeserializeOwned,
        F: Fn(P) -> (Vec<T>, Option<String>),
    {
        paged(
            &self.session,
            Service::Network,
            self.ep.list_request(resource, filters),
            split,
        )
        .await
    }

    /// Networks matching `filters` (e.g. `[("name", "public")]`,
    /// `[("router:external", "true")]`).
    pub async fn networks(&self, filters: &[(&'static str, String)]) -> Result<Vec<Network>> {
        self.list("networks", filters, |p: NetworksPage| {
            (p.networks, next_link(&p.networks_links).map(str::to_string))
        })
        .await
    }

    pub async fn get_network(&self, id: &NetworkId) -> Result<Option<Network>> {
        let b: Option<NetworkBody> = self
            .session
            .send_json_opt(
                Service::Network,
                self.ep.get_request("networks", id.as_str()),
            )
            .await?;
        Ok(b.map(|b| b.network))
    }

    pub async fn subnets(&self, filters: &[(&'static str, String)]) -> Result<Vec<Subnet>> {
        self.list("subnets", filters, |p: SubnetsPage| {
            (p.subnets, next_link(&p.subnets_links).map(str::to_string))
        })
        .await
    }

    pub async fn ports(&self, filters: &[(&'static str, String)]) -> Result<Vec<Port>> {
        self.list("ports", filters, |p: PortsPage| {
            (p.ports, next_link(&p.ports_links).map(str::to_string))
        })
        .await
    }

    /// The ports of a server (`device_id`).
    pub async fn server_ports(&self, server: &super::types::ServerId) -> Result<Vec<Port>> {
        self.ports(&[("device_id", server.to_string())]).await
    }

    pub async fn security_groups(
        &self,
        filters: &[(&'static str, String)],
    ) -> Result<Vec<SecurityGroup>> {
        self.list("security-groups", filters, |p: GroupsPage| {
            (
                p.security_groups,
                next_link(&p.security_groups_links).map(str::to_string),
            )
        })
        .await
    }

    pub async fn get_security_group(&self, id: &SecurityGroupId) -> Result<Option<SecurityGroup>> {
        let b: Option<GroupBody> = self
            .session
            .send_json_opt(
                Service::Network,
                self.ep.get_request("security-groups", id.as_str()),
            )
            .await?;
        Ok(b.map(|b| b.security_group))
    }

    pub async fn create_security_group(
        &self,
        name: &str,
        description: Option<&str>,
    ) -> Result<SecurityGroup> {
        let b: GroupBody = self
            .session
            .send_json(
                Service::Network,
                self.ep.create_security_group_request(name, description),
            )
            .await?;
        Ok(b.security_group)
    }

    pub async fn delete_security_group(&self, id: &SecurityGroupId) -> Result<bool> {
        gone_is_false(
            self.session
                .send_empty(
                    Service::Network,
                    self.ep.delete_request("security-groups", id.as_str()),
                )
                .await,
        )
    }

    pub async fn rules(
        &self,
        filters: &[(&'static str, String)],
    ) -> Result<Vec<SecurityGroupRule>> {
        self.list("security-group-rules", filters, |p: RulesPage| {
            (
                p.security_group_rules,
                next_link(&p.security_group_rules_links).map(str::to_string),
            )
        })
        .await
    }

    pub async fn create_rule(
        &self,
        group: &SecurityGroupId,
        r: &RuleCreate,
    ) -> Result<SecurityGroupRule> {
        let b: RuleBody = self
            .session
            .send_json(Service::Network, self.ep.create_rule_request(group, r))
            .await?;
        Ok(b.security_group_rule)
    }

    pub async fn delete_rule(&self, id: &SecurityGroupRuleId) -> Result<bool> {
        gone_is_false(
            self.session
                .send_empty(
                    Service::Network,
                    self.ep.delete_request("security-group-rules", id.as_str()),
                )
                .await,
        )
    }

    pub async fn floating_ips(
        &self,
        filters: &[(&'static str, String)],
    ) -> Result<Vec<FloatingIp>> {
        self.list("floatingips", filters, |p: FipsPage| {
            (
                p.floatingips,
                next_link(&p.floatingips_links).map(str::to_string),
            )
        })
        .await
    }

    /// The project's quotas by resource (`port`, `floatingip`, ...), each with its limit (-1:
    /// unlimited) and use; `None` where the cloud lacks the `quota_details` extension.
    pub async fn quota_details(
        &self,
        project: &str,
    ) -> Result<Option<BTreeMap<String, QuotaDetail>>> {
        #[derive(Deserialize)]
        struct Body {
            quota: BTreeMap<String, serde_json::Value>,
        }
        let b: Option<Body> = self
            .session
            .send_json_opt(Service::Network, self.ep.quota_details_request(project))
            .await?;
        Ok(b.map(|b| {
            b.quota
                .into_iter()
                .filter_map(|(k, v)| Some((k, serde_json::from_value(v).ok()?)))
                .collect()
        }))
    }

    pub async fn get_floating_ip(&self, id: &FloatingIpId) -> Result<Option<FloatingIp>> {
        let b: Option<FipBody> = self
            .session
            .send_json_opt(
                Service::Network,
                self.ep.get_request("floatingips", id.as_str()),
            )
            .await?;
        Ok(b.map(|b| b.floatingip))
    }

    pub async fn create_floating_ip(&self, f: &FloatingIpCreate) -> Result<FloatingIp> {
        let b: FipBody = self
            .session
            .send_json(Service::Network, self.ep.create_floating_ip_request(f))
            .await?;
        Ok(b.floatingip)
    }

    /// Associate with `port`, or disassociate with `None`.
    pub async fn associate_floating_ip(
        &self,
        id: &FloatingIpId,
        port: Option<&PortId>,
    ) -> Result<FloatingIp> {
        let b: FipBody = self
            .session
            .send_json(
                Service::Network,
                self.ep.associate_floating_ip_request(id, port),
            )
            .await?;
        Ok(b.floatingip)
    }

    pub async fn delete_floating_ip(&self, id: &FloatingIpId) -> Result<bool> {
        gone_is_false(
            self.session
                .send_empty(
                    Service::Network,
                    self.ep.delete_request("floatingips", id.as_str()),
                )
                .await,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::request::ReqBody;

    fn ep() -> NetworkEndpoint {
        NetworkEndpoint {
            base: Url::parse("http://h/network/v2.0").unwrap(),
        }
    }

    #[test]
    fn filters_and_bodies() {
        let r = ep().list_request("networks", &[("router:external", "true".into())]);
        assert_eq!(
            r.url.as_str(),
            "http://h/network/v2.0/networks?router%3Aexternal=true"
        );
        let r = ep().create_rule_request(
            &SecurityGroupId::from("g"),
            &RuleCreate {
                direction: "ingress".into(),
                ethertype: Some("IPv4".into()),
                protocol: Some("tcp".into()),
                port_range_min: Some(22),
                port_range_max: Some(22),
                remote_ip_prefix: Some("0.0.0.0/0".into()),
                ..Default::default()
            },
        );
        assert_eq!(
            r.body,
            ReqBody::Json(
                json!({"security_group_rule": {"security_group_id": "g", "direction": "ingress",
                "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
                "remote_ip_prefix": "0.0.0.0/0"}})
            )
        );
        let r = ep().associate_floating_ip_request(&FloatingIpId::from("f"), None);
        assert_eq!(r.method, Method::PUT);
        assert_eq!(
            r.body,
            ReqBody::Json(json!({"floatingip": {"port_id": null}}))
        );
    }
}
