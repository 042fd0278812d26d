//! Ports in Neutron's state: the API's create, Nova's boot port and binding, deletion, and
//! what Nova reads back of a server's ports; their addresses come from [`super::ipam`].

use std::net::IpAddr;

use serde_json::{Value, json};
use time::OffsetDateTime;

use super::floatingips::unlink_fips;
use super::groups::ensure_default;
use super::ipam::{allocate_ip, auto_addresses, default_ips, requested_ips, used_ips};
use super::{NetError, Neutron, Port, PortRequest, SecurityGroup, mac_from, not_found};

impl Neutron {
    /// Create a server's port on `network_id` with the named security groups of `project_id`
    /// (`default` when `sg_names` is empty). Fails with 404 on an unknown network or group.
    ///
    /// This is the port Nova makes when it boots a server (`POST /servers` with
    /// `networks: [{"uuid"[, "fixed_ip"]}]`); [`Neutron::create_port`] is the API's
    /// `POST /v2.0/ports`. They stay two functions because they take different requests and
    /// answer with different errors, and one function would need a mode flag at every step:
    ///
    /// - network: here the project's own, a shared or an external network (a boot on `public`
    ///   works; real Nova refuses that to non-admins with `ExternalNetworkAttachForbidden`);
    ///   `create_port` takes only the project's own or a shared one.
    /// - security groups: here by name or id, as Nova's `security_groups: [{"name"}]`, with
    ///   `SecurityGroupNotFound` / `NoUniqueMatch`; `create_port` takes ids only, 404
    ///   `Security group` otherwise.
    /// - fixed IPs: here at most one address, on whichever subnet of the network contains it,
    ///   and without one an address from the first IPv4 subnet or else any subnet (so an
    ///   IPv6-only network still gives the server an address), with Nova's messages
    ///   ("... is already in use on instance"); `create_port` takes a list of
    ///   `{subnet_id, ip_address}` checked as neutron checks them (`InvalidInput`,
    ///   `InvalidIpForNetwork`, `InvalidIpForSubnet`, `IpAddressAlreadyAllocated`, also among
    ///   the request's own addresses), and without one only the first IPv4 subnet.
    /// - result: here bound at once (`device_id` the server, `device_owner` `compute:nova`,
    ///   no name) and `nova_owned`, so it goes with the server; `create_port`'s port is
    ///   unbound until a boot binds it ([`Neutron::bind_port`]) and outlives the server.
    ///
    /// (Router ports are made apart again: the gateway port in [`Neutron::create_router`] and
    /// interface ports in the API's `add_router_interface`, each with its fixed owner.)
    #[allow(clippy::too_many_arguments)]
    pub fn create_server_port(
        &self,
        project_id: &str,
        network_id: &str,
        fixed_ip: Option<IpAddr>,
        device_id: &str,
        sg_names: &[String],
        nic_index: usize,
        port_id: String,
        mac: u64,
        now: OffsetDateTime,
        ids: &mut dyn FnMut() -> String,
    ) -> Result<Port, NetError> {
        let mut st = self.lock();
        let net = st
            .networks
            .get(network_id)
            .cloned()
            .ok_or_else(|| not_found("Network", network_id))?;
        if net.project_id != project_id && !net.shared && !net.external {
            return Err(not_found("Network", network_id));
        }
        let default_id = ensure_default(&mut st, project_id, now, ids);
        let mut groups = Vec::new();
        if sg_names.is_empty() {
            groups.push(default_id);
        }
        for name in sg_names {
            let matches: Vec<&SecurityGroup> = st
                .security_groups
                .values()
                .filter(|g| g.project_id == project_id && (g.name == *name || g.id == *name))
                .collect();
            match matches.as_slice() {
                [one] => groups.push(one.id.clone()),
                [] => {
                    return Err(NetError::NotFound(
                        "SecurityGroupNotFound",
                        format!("Security group {name} not found."),
                    ));
                }
                _ => {
                    return Err(NetError::Conflict(
                        "NoUniqueMatch",
                        format!(
                            "Multiple security groups found matching '{name}'. Use an ID to be more specific."
                        ),
                    ));
                }
            }
        }
        let subnet = match fixed_ip {
            Some(ip) => Some(
                st.subnets
                    .values()
                    .find(|s| s.network_id == network_id && s.cidr.contains(&ip))
                    .cloned()
                    .ok_or_else(|| {
                        NetError::BadRequest(
                            "InvalidIpForNetwork",
                            format!("Fixed IP address {ip} is not valid on network {network_id}."),
                        )
                    })?,
            ),
            None => st
                .subnets
                .values()
                .find(|s| s.network_id == network_id && s.cidr.addr().is_ipv4())
                .or_else(|| st.subnets.values().find(|s| s.network_id == network_id))
                .cloned(),
        };
        let mac_address = mac_from(mac);
        let mut fixed_ips = Vec::new();
        if let Some(subnet) = subnet {
            let ip = match fixed_ip {
                Some(ip) if used_ips(&st, &subnet).contains(&ip) => {
                    return Err(NetError::Conflict(
                        "IpAddressAlreadyAllocated",
                        format!("Fixed IP address {ip} is already in use on instance."),
                    ));
                }
                Some(ip) => ip,
                None => allocate_ip(&st, &subnet.id)?,
            };
            fixed_ips.push((subnet.id.clone(), ip));
        }
        let eui = auto_addresses(&st, network_id, &mac_address, &fixed_ips);
        fixed_ips.extend(eui);
        let port = Port {
            id: port_id.clone(),
            name: String::new(),
            network_id: network_id.into(),
            project_id: project_id.into(),
            mac_address,
            fixed_ips,
            device_id: device_id.into(),
            device_owner: "compute:nova".into(),
            security_groups: if net.port_security_enabled {
                groups
            } else {
                Vec::new()
            },
            description: String::new(),
            allowed_address_pairs: Vec::new(),
            port_security_enabled: net.port_security_enabled,
            nic_index,
            created_at: now,
            nova_owned: true,
        };
        st.ports.insert(port_id, port.clone());
        Ok(port)
    }

    /// Bind a user-created port to a server (Nova boot with `networks: [{"port": id}]`) as
    /// its NIC number `nic_index`.
    pub fn bind_port(
        &self,
        port_id: &str,
        project_id: &str,
        device_id: &str,
        nic_index: usize,
    ) -> Result<Port, NetError> {
        let mut st = self.lock();
        let port = st
            .ports
            .get_mut(port_id)
            .filter(|p| p.project_id == project_id)
            .ok_or_else(|| not_found("Port", port_id))?;
        if !port.device_id.is_empty() {
            return Err(NetError::Conflict(
                "PortInUse",
                format!("Port {port_id} is still in use."),
            ));
        }
        port.device_id = device_id.into();
        port.device_owner = "compute:nova".into();
        port.nic_index = nic_index;
        Ok(port.clone())
    }

    /// Create a port (Neutron `POST /ports`), as ML2 does: the network (404 when the project
    /// cannot see it), Neutron's policy on the attributes only the network's owner may set
    /// (403 for `mac_address`, a fixed `ip_address`, `port_security_enabled` and
    /// `allowed_address_pairs` on a network of another project), the MAC (409
    /// `MacAddressInUse` on the network), the fixed IPs (see [`Neutron::create_server_port`]
    /// for the checks; without `fixed_ips` one address from the first IPv4 subnet and one
    /// from the first DHCPv6-stateful subnet; every port also gets its EUI-64 address on the
    /// network's SLAAC and DHCPv6-stateless subnets), port security (off: no security groups,
    /// 400, and no address pairs, 409) and the security groups by id (default: the project's
    /// `default`, none when port security is off).
    #[allow(clippy::too_many_arguments)]
    pub fn create_port(
        &self,
        project_id: &str,
        is_admin: bool,
        req: &PortRequest,
        port_id: String,
        mac: u64,
        now: OffsetDateTime,
        ids: &mut dyn FnMut() -> String,
    ) -> Result<Port, NetError> {
        let mut st = self.lock();
        let network_id = req.network_id.as_str();
        let net = st
            .networks
            .get(network_id)
            .filter(|n| is_admin || n.project_id == project_id || n.shared || n.external)
            .cloned()
            .ok_or_else(|| not_found("Network", network_id))?;
        if !is_admin && net.project_id != project_id {
            policy_check(req, net.shared)?;
        }
        let mac_address = match &req.mac_address {
            Some(m) => {
                if st
                    .ports
                    .values()
                    .any(|p| p.network_id == network_id && p.mac_address == *m)
                {
                    return Err(NetError::Conflict(
                        "MacAddressInUse",
                        format!(
                            "Unable to complete operation for network {network_id}. The mac address {m} is in use."
                        ),
                    ));
                }
                m.clone()
            }
            None => mac_from(mac),
        };
        let mut fixed_ips = match &req.fixed_ips {
            Some(list) => requested_ips(&st, network_id, list)?,
            None => default_ips(&st, network_id)?,
        };
        let eui = auto_addresses(&st, network_id, &mac_address, &fixed_ips);
        fixed_ips.extend(eui);
        let port_security = req
            .port_security_enabled
            .unwrap_or(net.port_security_enabled);
        let groups = match (&req.security_groups, port_security) {
            (Some(list), false) if !list.is_empty() => {
                return Err(NetError::BadRequest(
                    "PortSecurityAndIPRequiredForSecurityGroups",
                    "Port security must be enabled and port must have an IP address in order to use security groups.".into(),
                ));
            }
            (_, false) => Vec::new(),
            (Some(list), true) => {
                for g in list {
                    if st
                        .security_groups
                        .get(g)
                        .is_none_or(|x| x.project_id != project_id)
                    {
                        return Err(not_found("Security group", g));
                    }
                }
                list.clone()
            }
            (None, true) => vec![ensure_default(&mut st, project_id, now, ids)],
        };
        let pairs = req.allowed_address_pairs.clone().unwrap_or_default();
        if !pairs.is_empty() && !port_security {
            return Err(NetError::Conflict(
                "AddressPairAndPortSecurityRequired",
                "Port Security must be enabled in order to have allowed address pairs on a port."
                    .into(),
            ));
        }
        let port = Port {
            id: port_id.clone(),
            name: req.name.clone(),
            network_id: network_id.into(),
            project_id: project_id.into(),
            fixed_ips,
            device_id: String::new(),
            device_owner: String::new(),
            security_groups: groups,
            description: req.description.clone(),
            allowed_address_pairs: pairs
                .into_iter()
                .map(|(ip, m)| (ip, m.unwrap_or_else(|| mac_address.clone())))
                .collect(),
            port_security_enabled: port_security,
            nic_index: 0,
            mac_address,
            created_at: now,
            nova_owned: false,
        };
        st.ports.insert(port_id, port.clone());
        Ok(port)
    }

    /// Delete a port, disassociating its floating IPs.
    pub fn delete_port(&self, port_id: &str) {
        let mut st = self.lock();
        st.ports.remove(port_id);
        unlink_fips(&mut st, port_id);
    }

    /// A server goes: delete the ports Nova made for it, unbind those the user passed in, and
    /// disassociate floating IPs from the deleted ones (as Nova's delete does).
    pub fn delete_device_ports(&self, device_id: &str) {
        let mut st = self.lock();
        let ids: Vec<String> = st
            .ports
            .values()
            .filter(|p| p.device_id == device_id)
            .map(|p| p.id.clone())
            .collect();
        for id in &ids {
            if let Some(p) = st.ports.get_mut(id).filter(|p| !p.nova_owned) {
                p.device_id = String::new();
                p.device_owner = String::new();
                p.nic_index = 0;
                continue;
            }
            st.ports.remove(id);
            unlink_fips(&mut st, id);
        }
    }

    /// A server's ports, in NIC order.
    pub fn device_ports(&self, device_id: &str) -> Vec<Port> {
        let mut ports: Vec<Port> = self
            .lock()
            .ports
            .values()
            .filter(|p| p.device_id == device_id)
            .cloned()
            .collect();
        ports.sort_by_key(|p| p.nic_index);
        ports
    }

    /// Nova's `addresses` for a server: network name -> [{addr, version, OS-EXT-IPS:type,
    /// OS-EXT-IPS-MAC:mac_addr}], fixed then floating, the networks in NIC order (a second
    /// NIC on a network adds its entries to the first one's).
    pub fn server_addresses(&self, device_id: &str) -> Addresses {
        let st = self.lock();
        let mut out = Addresses::default();
        let mut ports: Vec<&Port> = st
            .ports
            .values()
            .filter(|p| p.device_id == device_id)
            .collect();
        ports.sort_by_key(|p| p.nic_index);
        for p in ports {
            let name = st
                .networks
                .get(&p.network_id)
                .map(|n| n.name.clone())
                .unwrap_or_default();
            let mut list = Vec::new();
            for (_, ip) in &p.fixed_ips {
                list.push(
                    json!({"version": if ip.is_ipv4() {4} else {6}, "addr": ip.to_string(),
                    "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": p.mac_address}),
                );
            }
            for f in st
                .floatingips
                .values()
                .filter(|f| f.port_id.as_deref() == Some(&p.id))
            {
                list.push(
                    json!({"version": if f.floating_ip_address.is_ipv4() {4} else {6},
                    "addr": f.floating_ip_address.to_string(), "OS-EXT-IPS:type": "floating",
                    "OS-EXT-IPS-MAC:mac_addr": p.mac_address}),
                );
            }
            out.push(name, list);
        }
        out
    }
}

/// A server's `addresses` as Nova answers them: a JSON object whose keys (network names) come
/// in NIC order, as Nova's dict built from the instance's network info in VIF order. Kept
/// as a list and serialized straight to a map in that order, as a `serde_json::Map` would
/// sort the keys (so it must not pass through `serde_json::Value`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Addresses(Vec<(String, Vec<Value>)>);

impl Addresses {
    /// Add `entries` under `network`: at the end for a new network, after that network's
    /// entries for one already there.
    pub fn push(&mut self, network: String, entries: Vec<Value>) {
        match self.0.iter_mut().find(|(n, _)| *n == network) {
            Some((_, existing)) => existing.extend(entries),
            None => self.0.push((network, entries)),
        }
    }

    /// The networks with their entries, in NIC order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[Value])> {
        self.0.iter().map(|(n, e)| (n.as_str(), e.as_slice()))
    }

    /// Drop the `OS-EXT-IPS*` keys of every entry (Nova's view before they are shown).
    pub fn strip_extensions(&mut self) {
        for (_, entries) in &mut self.0 {
            for e in entries {
                if let Value::Object(e) = e {
                    e.retain(|k, _| !k.starts_with("OS-EXT-IPS"));
                }
            }
        }
    }
}

impl serde::Serialize for Addresses {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, entries) in &self.0 {
            map.serialize_entry(name, entries)?;
        }
        map.end()
    }
}

/// Neutron's policy on a port of a network the project does not own (`create_port:*` in
/// neutron/conf/policies/port.py: `mac_address`, `fixed_ips:ip_address`,
/// `port_security_enabled` and `allowed_address_pairs` need admin, a service, or a member of
/// the network's project; `create_port` itself and `fixed_ips:subnet_id` are also open on a
/// shared network). The refusal names every rule the request was checked against.
fn policy_check(req: &PortRequest, shared: bool) -> Result<(), NetError> {
    let refused = !shared
        || req.mac_address.is_some()
        || req.port_security_enabled.is_some()
        || req.allowed_address_pairs.is_some()
        || req
            .fixed_ips
            .as_ref()
            .is_some_and(|l| l.iter().any(|f| f.ip_address.is_some()));
    if !refused {
        return Ok(());
    }
    // neutron.policy._build_match_rule: `create_port`, and for each attribute set (in the
    // port's attribute map order) `create_port:<attr>`, with a list of dicts' keys as its
    // sub-rules; each step a new oslo.policy AndCheck, printed "(a and b)".
    let rule = |name: &str| format!("rule:create_port:{name}");
    let with_keys = |name: &str, keys: Vec<&str>| {
        let subs: Vec<String> = keys.iter().map(|k| rule(&format!("{name}:{k}"))).collect();
        if subs.is_empty() {
            rule(name)
        } else {
            format!("({} and ({}))", rule(name), subs.join(" and "))
        }
    };
    let mut attrs = Vec::new();
    if req.mac_address.is_some() {
        attrs.push(rule("mac_address"));
    }
    if let Some(list) = &req.fixed_ips {
        let keys = list
            .iter()
            .flat_map(|f| {
                [
                    f.subnet_id.as_ref().map(|_| "subnet_id"),
                    f.ip_address.as_ref().map(|_| "ip_address"),
                ]
            })
            .flatten()
            .collect();
        attrs.push(with_keys("fixed_ips", keys));
    }
    if req.port_security_enabled.is_some() {
        attrs.push(rule("port_security_enabled"));
    }
    if let Some(pairs) = &req.allowed_address_pairs {
        let keys = pairs
            .iter()
            .flat_map(|(_, mac)| [Some("ip_address"), mac.as_ref().map(|_| "mac_address")])
            .flatten()
            .collect();
        attrs.push(with_keys("allowed_address_pairs", keys));
    }
    let text = attrs
        .into_iter()
        .fold("rule:create_port".to_string(), |acc, a| {
            format!("({acc} and {a})")
        });
    Err(NetError::Forbidden(
        "PolicyNotAuthorized",
        format!("{text} is disallowed by policy"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neutron::FixedIpRequest;

    const NOW: OffsetDateTime = OffsetDateTime::UNIX_EPOCH;

    /// A Neutron with project `p`'s network `n` (subnet `s`, 10.0.0.0/24, pool .10-.20) and
    /// admin's shared network `shared` (subnet `ss`, 10.1.0.0/24).
    fn neutron() -> Neutron {
        let n = Neutron::new();
        n.create_network("n", "p", "net", false, false, NOW);
        n.create_subnet("s", "p", "n", "sub", "10.0.0.0/24".parse().unwrap(), NOW);
        n.lock().subnets.get_mut("s").unwrap().allocation_pools =
            vec![("10.0.0.10".parse().unwrap(), "10.0.0.20".parse().unwrap())];
        n.create_network("shared", "admin", "shared-net", false, true, NOW);
        n.create_subnet(
            "ss",
            "admin",
            "shared",
            "ssub",
            "10.1.0.0/24".parse().unwrap(),
            NOW,
        );
        n
    }

    fn create(n: &Neutron, project: &str, req: PortRequest) -> Result<Port, NetError> {
        let mut counter = 0;
        let mut ids = move || {
            counter += 1;
            format!("id-{counter}")
        };
        let id = format!("port-{}", n.lock().ports.len());
        n.create_port(project, false, &req, id, 7, NOW, &mut ids)
    }

    fn fixed(subnet: Option<&str>, ip: Option<&str>) -> FixedIpRequest {
        FixedIpRequest {
            subnet_id: subnet.map(str::to_string),
            ip_address: ip.map(|i| i.parse().unwrap()),
        }
    }

    fn req(network: &str) -> PortRequest {
        PortRequest {
            network_id: network.into(),
            ..PortRequest::default()
        }
    }

    fn kind(e: NetError) -> (&'static str, &'static str, String) {
        match e {
            NetError::NotFound(t, m) => ("404", t, m),
            NetError::Conflict(t, m) => ("409", t, m),
            NetError::BadRequest(t, m) => ("400", t, m),
            NetError::Forbidden(t, m) => ("403", t, m),
        }
    }

    #[test]
    fn fixed_ip_and_mac_are_kept_and_conflict_as_neutron_answers() {
        let n = neutron();
        let p = create(
            &n,
            "p",
            PortRequest {
                fixed_ips: Some(vec![fixed(Some("s"), Some("10.0.0.5"))]),
                mac_address: Some("fa:16:3e:00:00:05".into()),
                allowed_address_pairs: Some(vec![("10.0.0.200".into(), None)]),
                ..req("n")
            },
        )
        .unwrap();
        assert_eq!(
            p.fixed_ips,
            [("s".to_string(), "10.0.0.5".parse().unwrap())]
        );
        assert_eq!(p.mac_address, "fa:16:3e:00:00:05");
        assert_eq!(
            p.allowed_address_pairs,
            [("10.0.0.200".to_string(), "fa:16:3e:00:00:05".to_string())]
        );
        let again = |fixed_ips, mac_address| {
            kind(
                create(
                    &n,
                    "p",
                    PortRequest {
                        fixed_ips,
                        mac_address,
                        ..req("n")
                    },
                )
                .unwrap_err(),
            )
        };
        let (status, ty, msg) = again(Some(vec![fixed(None, Some("10.0.0.5"))]), None);
        assert_eq!((status, ty), ("409", "IpAddressAlreadyAllocated"));
        assert_eq!(msg, "IP address 10.0.0.5 already allocated in subnet s");
        let (status, ty, _) = again(None, Some("fa:16:3e:00:00:05".into()));
        assert_eq!((status, ty), ("409", "MacAddressInUse"));
        let (status, ty, _) = again(Some(vec![fixed(Some("s"), Some("10.9.0.5"))]), None);
        assert_eq!((status, ty), ("400", "InvalidIpForSubnet"));
        let (status, ty, _) = again(Some(vec![fixed(None, Some("10.9.0.5"))]), None);
        assert_eq!((status, ty), ("400", "InvalidIpForNetwork"));
        let (status, ty, _) = again(Some(vec![fixed(Some("ss"), None)]), None);
        assert_eq!((status, ty), ("400", "InvalidInput"));
        let (status, ty, _) = again(Some(vec![fixed(Some("nope"), None)]), None);
        assert_eq!((status, ty), ("404", "SubnetNotFound"));
        // The broadcast address is no port's; the gateway and addresses outside the pool are.
        let (status, ty, _) = again(Some(vec![fixed(None, Some("10.0.0.255"))]), None);
        assert_eq!((status, ty), ("400", "InvalidIpForNetwork"));
        for ip in ["10.0.0.1", "10.0.0.200"] {
            let p = create(
                &n,
                "p",
                PortRequest {
                    fixed_ips: Some(vec![fixed(None, Some(ip))]),
                    ..req("n")
                },
            )
            .unwrap();
            assert_eq!(p.fixed_ips[0].1.to_string(), ip);
        }
    }

    #[test]
    fn addresses_are_allocated_from_the_pools() {
        let n = neutron();
        let ips: Vec<String> = (0..3)
            .map(|_| {
                create(&n, "p", req("n")).unwrap().fixed_ips[0]
                    .1
                    .to_string()
            })
            .collect();
        assert_eq!(ips, ["10.0.0.10", "10.0.0.11", "10.0.0.12"]);
    }

    #[test]
    fn port_security_off_takes_no_groups_and_no_address_pairs() {
        let n = neutron();
        let p = create(
            &n,
            "p",
            PortRequest {
                port_security_enabled: Some(false),
                ..req("n")
            },
        )
        .unwrap();
        assert!(p.security_groups.is_empty() && !p.port_security_enabled);
        let g = n.ensure_default_group("p", NOW, &mut || "g".to_string());
        let e = create(
            &n,
            "p",
            PortRequest {
                port_security_enabled: Some(false),
                security_groups: Some(vec![g]),
                ..req("n")
            },
        )
        .unwrap_err();
        assert_eq!(
            kind(e).1,
            "PortSecurityAndIPRequiredForSecurityGroups",
            "400 as neutron"
        );
        let e = create(
            &n,
            "p",
            PortRequest {
                port_security_enabled: Some(false),
                allowed_address_pairs: Some(vec![("10.0.0.9".into(), None)]),
                ..req("n")
            },
        )
        .unwrap_err();
        assert_eq!(kind(e).1, "AddressPairAndPortSecurityRequired");
    }

    #[test]
    fn policy_refuses_chosen_addresses_on_a_network_of_another_project() {
        let n = neutron();
        // On the shared network: a subnet may be chosen, an address or a MAC may not.
        create(
            &n,
            "p",
            PortRequest {
                fixed_ips: Some(vec![fixed(Some("ss"), None)]),
                ..req("shared")
            },
        )
        .unwrap();
        let refused = |r: PortRequest| kind(create(&n, "p", r).unwrap_err());
        assert_eq!(
            refused(PortRequest {
                fixed_ips: Some(vec![fixed(Some("ss"), Some("10.1.0.9"))]),
                ..req("shared")
            }),
            (
                "403",
                "PolicyNotAuthorized",
                "(rule:create_port and (rule:create_port:fixed_ips and (rule:create_port:fixed_ips:subnet_id and rule:create_port:fixed_ips:ip_address))) is disallowed by policy".into()
            )
        );
        assert_eq!(
            refused(PortRequest {
                mac_address: Some("fa:16:3e:00:00:09".into()),
                ..req("shared")
            })
            .2,
            "(rule:create_port and rule:create_port:mac_address) is disallowed by policy"
        );
        assert_eq!(
            refused(PortRequest {
                mac_address: Some("fa:16:3e:00:00:09".into()),
                port_security_enabled: Some(true),
                ..req("shared")
            })
            .2,
            "((rule:create_port and rule:create_port:mac_address) and rule:create_port:port_security_enabled) is disallowed by policy"
        );
        // Admin's external network: no port at all.
        n.create_network("ext", "admin", "public", true, false, NOW);
        assert_eq!(
            refused(req("ext")).2,
            "rule:create_port is disallowed by policy"
        );
        // Another project's private network is not seen.
        assert_eq!(
            kind(create(&n, "q", req("n")).unwrap_err()).1,
            "NetworkNotFound"
        );
        // The owner may do all of it.
        create(
            &n,
            "admin",
            PortRequest {
                fixed_ips: Some(vec![fixed(Some("ss"), Some("10.1.0.9"))]),
                mac_address: Some("fa:16:3e:00:00:09".into()),
                ..req("shared")
            },
        )
        .unwrap();
    }

    #[test]
    fn slaac_subnets_give_every_port_its_eui64_address() {
        let n = neutron();
        n.create_subnet("v6", "p", "n", "v6", "fd00:1::/64".parse().unwrap(), NOW);
        n.lock().subnets.get_mut("v6").unwrap().ipv6_address_mode = Some("slaac".into());
        let p = create(
            &n,
            "p",
            PortRequest {
                mac_address: Some("fa:16:3e:12:34:56".into()),
                ..req("n")
            },
        )
        .unwrap();
        let ips: Vec<String> = p.fixed_ips.iter().map(|(_, ip)| ip.to_string()).collect();
        assert_eq!(ips, ["10.0.0.10", "fd00:1::f816:3eff:fe12:3456"]);
    }

    #[test]
    fn a_server_keeps_its_nics_in_boot_order_and_leaves_user_ports_behind() {
        let n = neutron();
        n.create_network("a", "p", "zzz-first", false, false, NOW);
        n.create_subnet("sa", "p", "a", "sa", "10.2.0.0/24".parse().unwrap(), NOW);
        let user = create(&n, "p", req("n")).unwrap();
        let mut ids = || "g".to_string();
        n.create_server_port(
            "p",
            "a",
            None,
            "vm",
            &[],
            0,
            "nova-port".into(),
            1,
            NOW,
            &mut ids,
        )
        .unwrap();
        n.bind_port(&user.id, "p", "vm", 1).unwrap();
        let order: Vec<String> = n.device_ports("vm").into_iter().map(|p| p.id).collect();
        assert_eq!(order, ["nova-port".to_string(), user.id.clone()]);
        let bound = n.lock().ports[&user.id].clone();
        assert_eq!(
            (bound.device_id.as_str(), bound.device_owner.as_str()),
            ("vm", "compute:nova")
        );
        n.delete_device_ports("vm");
        let st = n.lock();
        assert!(!st.ports.contains_key("nova-port"));
        let kept = &st.ports[&user.id];
        assert_eq!(
            (kept.device_id.as_str(), kept.device_owner.as_str()),
            ("", "")
        );
    }
}
