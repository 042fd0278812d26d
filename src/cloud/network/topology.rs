//! Neutron's topology calls: making and removing networks, subnets, routers (their external
//! gateway and their interfaces) and ports, for the networks s2d builds from a source network
//! and the ports that keep a NIC's fixed IPs or MAC. Requests are pure functions on
//! [`NetworkEndpoint`], like the rest of the client.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Network, NetworkEndpoint, NetworkService, Port, Subnet};
use crate::cloud::error::Result;
use crate::cloud::request::{ApiRequest, Link, next_link};
use crate::cloud::service::gone_is_false;
use crate::cloud::types::{NetworkId, PortId, RouterId, SecurityGroupId, Service, SubnetId};

/// A subnet's allocation pool.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct AllocationPool {
    pub start: String,
    pub end: String,
}

/// A subnet's host route.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct HostRoute {
    pub destination: String,
    pub nexthop: String,
}

/// A port's allowed address pair.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct AddressPair {
    pub ip_address: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mac_address: Option<String>,
}

/// A router.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Router {
    pub id: RouterId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub project_id: Option<String>,
    #[serde(default)]
    pub external_gateway_info: Option<GatewayInfo>,
}

/// A router's external gateway.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct GatewayInfo {
    pub network_id: NetworkId,
}

/// What `POST /networks` makes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NetworkCreate {
    pub name: String,
    pub description: Option<String>,
    pub mtu: Option<u32>,
    pub port_security_enabled: Option<bool>,
}

/// What `POST /subnets` makes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SubnetCreate {
    pub name: String,
    pub description: Option<String>,
    pub network_id: NetworkId,
    pub cidr: String,
    pub ip_version: u8,
    /// `None`: no gateway (sent as `null`; Neutron would otherwise choose one).
    pub gateway_ip: Option<String>,
    pub allocation_pools: Vec<AllocationPool>,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<HostRoute>,
    pub enable_dhcp: bool,
    pub ipv6_address_mode: Option<String>,
    pub ipv6_ra_mode: Option<String>,
}

/// What `POST /routers` makes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RouterCreate {
    pub name: String,
    pub description: Option<String>,
    pub external_network_id: Option<NetworkId>,
}

/// One fixed IP a new port asks for: a subnet, an address, or both.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FixedIpRequest {
    pub subnet_id: Option<SubnetId>,
    pub ip_address: Option<String>,
}

/// What `POST /ports` makes.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PortCreate {
    pub name: String,
    pub description: Option<String>,
    pub network_id: NetworkId,
    pub fixed_ips: Vec<FixedIpRequest>,
    pub mac_address: Option<String>,
    pub port_security_enabled: Option<bool>,
    pub allowed_address_pairs: Vec<AddressPair>,
    /// `None`: Neutron's default group; empty: none (port security off).
    pub security_groups: Option<Vec<SecurityGroupId>>,
}

impl NetworkEndpoint {
    fn post(&self, resource: &str, key: &str, body: Value) -> ApiRequest {
        ApiRequest::json(
            Method::POST,
            endpoint_url_of(self, &[resource]),
            json!({ key: body }),
        )
    }

    pub fn create_network_request(&self, n: &NetworkCreate) -> ApiRequest {
        let mut body = json!({ "name": n.name, "admin_state_up": true });
        put(
            &mut body,
            "description",
            n.description.as_ref().map(|v| json!(v)),
        );
        put(&mut body, "mtu", n.mtu.map(|v| json!(v)));
        put(
            &mut body,
            "port_security_enabled",
            n.port_security_enabled.map(|v| json!(v)),
        );
        self.post("networks", "network", body)
    }

    pub fn create_subnet_request(&self, s: &SubnetCreate) -> ApiRequest {
        let mut body = json!({
            "name": s.name,
            "network_id": s.network_id,
            "cidr": s.cidr,
            "ip_version": s.ip_version,
            "gateway_ip": s.gateway_ip,
            "enable_dhcp": s.enable_dhcp,
        });
        put(
            &mut body,
            "description",
            s.description.as_ref().map(|v| json!(v)),
        );
        if !s.allocation_pools.is_empty() {
            body["allocation_pools"] = json!(s.allocation_pools);
        }
        if !s.dns_nameservers.is_empty() {
            body["dns_nameservers"] = json!(s.dns_nameservers);
        }
        if !s.host_routes.is_empty() {
            body["host_routes"] = json!(s.host_routes);
        }
        put(
            &mut body,
            "ipv6_address_mode",
            s.ipv6_address_mode.as_ref().map(|v| json!(v)),
        );
        put(
            &mut body,
            "ipv6_ra_mode",
            s.ipv6_ra_mode.as_ref().map(|v| json!(v)),
        );
        self.post("subnets", "subnet", body)
    }

    pub fn create_router_request(&self, r: &RouterCreate) -> ApiRequest {
        let mut body = json!({ "name": r.name, "admin_state_up": true });
        put(
            &mut body,
            "description",
            r.description.as_ref().map(|v| json!(v)),
        );
        if let Some(net) = &r.external_network_id {
            body["external_gateway_info"] = json!({ "network_id": net });
        }
        self.post("routers", "router", body)
    }

    /// `PUT /routers/{id}/add_router_interface` (or `remove_router_interface`) by subnet.
    pub fn router_interface_request(
        &self,
        router: &RouterId,
        subnet: &SubnetId,
        add: bool,
    ) -> ApiRequest {
        let action = if add {
            "add_router_interface"
        } else {
            "remove_router_interface"
        };
        ApiRequest::json(
            Method::PUT,
            endpoint_url_of(self, &["routers", router.as_str(), action]),
            json!({ "subnet_id": subnet }),
        )
    }

    pub fn create_port_request(&self, p: &PortCreate) -> ApiRequest {
        let mut body = json!({ "name": p.name, "network_id": p.network_id });
        put(
            &mut body,
            "description",
            p.description.as_ref().map(|v| json!(v)),
        );
        if !p.fixed_ips.is_empty() {
            body["fixed_ips"] = Value::Array(
                p.fixed_ips
                    .iter()
                    .map(|f| {
                        let mut ip = json!({});
                        put(&mut ip, "subnet_id", f.subnet_id.as_ref().map(|v| json!(v)));
                        put(
                            &mut ip,
                            "ip_address",
                            f.ip_address.as_ref().map(|v| json!(v)),
                        );
                        ip
                    })
                    .collect(),
            );
        }
        put(
            &mut body,
            "mac_address",
            p.mac_address.as_ref().map(|v| json!(v)),
        );
        put(
            &mut body,
            "port_security_enabled",
            p.port_security_enabled.map(|v| json!(v)),
        );
        if !p.allowed_address_pairs.is_empty() {
            body["allowed_address_pairs"] = json!(p.allowed_address_pairs);
        }
        put(
            &mut body,
            "security_groups",
            p.security_groups.as_ref().map(|v| json!(v)),
        );
        self.post("ports", "port", body)
    }
}

fn endpoint_url_of(ep: &NetworkEndpoint, segments: &[&str]) -> url::Url {
    crate::cloud::request::endpoint_url(&ep.base, segments, &[])
}

fn put(body: &mut Value, key: &str, value: Option<Value>) {
    if let Some(v) = value {
        body[key] = v;
    }
}

#[derive(Deserialize)]
struct RoutersPage {
    routers: Vec<Router>,
    #[serde(default)]
    routers_links: Vec<Link>,
}

impl NetworkService {
    pub async fn create_network(&self, n: &NetworkCreate) -> Result<Network> {
        #[derive(Deserialize)]
        struct Body {
            network: Network,
        }
        let b: Body = self
            .session
            .send_json(Service::Network, self.ep.create_network_request(n))
            .await?;
        Ok(b.network)
    }

    pub async fn create_subnet(&self, s: &SubnetCreate) -> Result<Subnet> {
        #[derive(Deserialize)]
        struct Body {
            subnet: Subnet,
        }
        let b: Body = self
            .session
            .send_json(Service::Network, self.ep.create_subnet_request(s))
            .await?;
        Ok(b.subnet)
    }

    pub async fn create_router(&self, r: &RouterCreate) -> Result<Router> {
        #[derive(Deserialize)]
        struct Body {
            router: Router,
        }
        let b: Body = self
            .session
            .send_json(Service::Network, self.ep.create_router_request(r))
            .await?;
        Ok(b.router)
    }

    pub async fn create_port(&self, p: &PortCreate) -> Result<Port> {
        #[derive(Deserialize)]
        struct Body {
            port: Port,
        }
        let b: Body = self
            .session
            .send_json(Service::Network, self.ep.create_port_request(p))
            .await?;
        Ok(b.port)
    }

    pub async fn routers(&self, filters: &[(&'static str, String)]) -> Result<Vec<Router>> {
        self.list("routers", filters, |p: RoutersPage| {
            (p.routers, next_link(&p.routers_links).map(str::to_string))
        })
        .await
    }

    /// Add an interface on `subnet` to the router (its port gets the subnet's gateway IP).
    pub async fn add_router_interface(&self, router: &RouterId, subnet: &SubnetId) -> Result<()> {
        let _: Value = self
            .session
            .send_json(
                Service::Network,
                self.ep.router_interface_request(router, subnet, true),
            )
            .await?;
        Ok(())
    }

    /// Remove the router's interface on `subnet`; `false` when it had none (or is gone).
    pub async fn remove_router_interface(
        &self,
        router: &RouterId,
        subnet: &SubnetId,
    ) -> Result<bool> {
        gone_is_false(
            self.session
                .send_empty(
                    Service::Network,
                    self.ep.router_interface_request(router, subnet, false),
                )
                .await,
        )
    }

    /// Delete a network, subnet, router or port (`resource`: `networks`, `subnets`,
    /// `routers`, `ports`); `false` when it was already gone.
    pub async fn delete_resource(&self, resource: &str, id: &str) -> Result<bool> {
        gone_is_false(
            self.session
                .send_empty(Service::Network, self.ep.delete_request(resource, id))
                .await,
        )
    }

    /// A port by id.
    pub async fn get_port(&self, id: &PortId) -> Result<Option<Port>> {
        #[derive(Deserialize)]
        struct Body {
            port: Port,
        }
        let b: Option<Body> = self
            .session
            .send_json_opt(Service::Network, self.ep.get_request("ports", id.as_str()))
            .await?;
        Ok(b.map(|b| b.port))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use url::Url;

    fn ep() -> NetworkEndpoint {
        NetworkEndpoint {
            base: Url::parse("https://neutron.example/v2.0/").expect("url"),
        }
    }

    fn body(req: &ApiRequest) -> Value {
        match &req.body {
            crate::cloud::request::ReqBody::Json(v) => v.clone(),
            other => panic!("not a JSON body: {other:?}"),
        }
    }

    #[test]
    fn a_subnet_without_a_gateway_says_null_and_carries_its_pools_and_routes() {
        let req = ep().create_subnet_request(&SubnetCreate {
            name: "db".into(),
            network_id: NetworkId::new("n1"),
            cidr: "192.168.50.0/24".into(),
            ip_version: 4,
            gateway_ip: None,
            allocation_pools: vec![AllocationPool {
                start: "192.168.50.10".into(),
                end: "192.168.50.99".into(),
            }],
            host_routes: vec![HostRoute {
                destination: "10.9.0.0/16".into(),
                nexthop: "192.168.50.1".into(),
            }],
            dns_nameservers: vec!["192.168.50.2".into()],
            enable_dhcp: true,
            ..SubnetCreate::default()
        });
        assert_eq!(req.method, Method::POST);
        assert_eq!(req.url.path(), "/v2.0/subnets");
        let b = body(&req);
        assert_eq!(b["subnet"]["gateway_ip"], Value::Null);
        assert_eq!(b["subnet"]["allocation_pools"][0]["end"], "192.168.50.99");
        assert_eq!(b["subnet"]["host_routes"][0]["nexthop"], "192.168.50.1");
        assert!(b["subnet"].get("ipv6_ra_mode").is_none());
    }

    #[test]
    fn a_port_keeps_its_address_and_mac_and_may_turn_port_security_off() {
        let req = ep().create_port_request(&PortCreate {
            name: "db-0".into(),
            network_id: NetworkId::new("n1"),
            fixed_ips: vec![FixedIpRequest {
                subnet_id: None,
                ip_address: Some("192.168.50.10".into()),
            }],
            mac_address: Some("fa:16:3e:00:00:02".into()),
            port_security_enabled: Some(false),
            security_groups: Some(Vec::new()),
            ..PortCreate::default()
        });
        let b = body(&req);
        assert_eq!(
            b["port"]["fixed_ips"],
            json!([{ "ip_address": "192.168.50.10" }])
        );
        assert_eq!(b["port"]["mac_address"], "fa:16:3e:00:00:02");
        assert_eq!(b["port"]["security_groups"], json!([]));
        assert_eq!(b["port"]["port_security_enabled"], false);
    }

    #[test]
    fn router_interfaces_go_by_subnet() {
        let req = ep().router_interface_request(&RouterId::new("r1"), &SubnetId::new("s1"), true);
        assert_eq!(req.method, Method::PUT);
        assert_eq!(req.url.path(), "/v2.0/routers/r1/add_router_interface");
        assert_eq!(body(&req), json!({ "subnet_id": "s1" }));
        let req = ep().create_router_request(&RouterCreate {
            name: "r".into(),
            external_network_id: Some(NetworkId::new("ext")),
            ..RouterCreate::default()
        });
        assert_eq!(
            body(&req)["router"]["external_gateway_info"],
            json!({ "network_id": "ext" })
        );
    }
}
