//! Security group rule fields and neutron's validation of them (protocol, ports, ICMP
//! type/code, ethertype vs. remote prefix) and duplicate comparison. Knows nothing about
//! storage or HTTP.

use ipnet::IpNet;

use super::NetError;

/// The fields of a security group rule that define it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    /// `ingress` or `egress`.
    pub direction: String,
    /// `IPv4` or `IPv6`.
    pub ethertype: String,
    /// Protocol name or number, None = any.
    pub protocol: Option<String>,
    /// Lowest port (or ICMP type).
    pub port_range_min: Option<u32>,
    /// Highest port (or ICMP code).
    pub port_range_max: Option<u32>,
    /// CIDR.
    pub remote_ip_prefix: Option<String>,
    /// Remote group.
    pub remote_group_id: Option<String>,
}

const PROTOCOLS: &[(&str, u8)] = &[
    ("ah", 51),
    ("dccp", 33),
    ("egp", 8),
    ("esp", 50),
    ("gre", 47),
    ("hopopt", 0),
    ("icmp", 1),
    ("igmp", 2),
    ("ip", 0),
    ("ipip", 4),
    ("ipv6-encap", 41),
    ("ipv6-frag", 44),
    ("ipv6-icmp", 58),
    ("icmpv6", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ipv6-route", 43),
    ("ospf", 89),
    ("pgm", 113),
    ("rsvp", 46),
    ("sctp", 132),
    ("tcp", 6),
    ("udp", 17),
    ("udplite", 136),
    ("vrrp", 112),
];

fn bad(kind: &'static str, msg: impl Into<String>) -> NetError {
    NetError::BadRequest(kind, msg.into())
}

/// The IP protocol number of a protocol name or number string.
pub fn protocol_number(p: &str) -> Option<u8> {
    if let Ok(n) = p.parse::<u8>() {
        return Some(n);
    }
    PROTOCOLS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(p))
        .map(|(_, n)| *n)
}

impl RuleSpec {
    /// Validate as neutron does, returning the normalized rule.
    pub fn validated(mut self) -> Result<RuleSpec, NetError> {
        if self.direction != "ingress" && self.direction != "egress" {
            return Err(bad(
                "HTTPBadRequest",
                format!(
                    "Invalid input for direction. Reason: '{}' is not in ['ingress', 'egress'].",
                    self.direction
                ),
            ));
        }
        if self.ethertype != "IPv4" && self.ethertype != "IPv6" {
            return Err(bad(
                "HTTPBadRequest",
                format!(
                    "Invalid input for ethertype. Reason: '{}' is not in ['IPv4', 'IPv6'].",
                    self.ethertype
                ),
            ));
        }
        if matches!(self.protocol.as_deref(), Some("") | Some("any")) {
            self.protocol = None;
        }
        let proto = match &self.protocol {
            None => None,
            Some(p) => Some(protocol_number(p).ok_or_else(|| {
                bad("SecurityGroupRuleInvalidProtocol", format!("Security group rule protocol {p} not supported. Only protocol values [None, 'ah', 'dccp', 'egp', 'esp', 'gre', 'hopopt', 'icmp', 'igmp', 'ip', 'ipip', 'ipv6-encap', 'ipv6-frag', 'ipv6-icmp', 'icmpv6', 'ipv6-nonxt', 'ipv6-opts', 'ipv6-route', 'ospf', 'pgm', 'rsvp', 'sctp', 'tcp', 'udp', 'udplite', 'vrrp'] and integer representations [0 to 255] are supported."))
            })?),
        };
        let has_ports = self.port_range_min.is_some() || self.port_range_max.is_some();
        match proto {
            None if has_ports => {
                return Err(bad(
                    "SecurityGroupProtocolRequiredWithPorts",
                    "Must also specify protocol if port range is given.",
                ));
            }
            Some(6) | Some(17) | Some(33) | Some(132) | Some(136) => {
                for p in [self.port_range_min, self.port_range_max]
                    .into_iter()
                    .flatten()
                {
                    if p == 0 || p > 65535 {
                        return Err(bad(
                            "SecurityGroupInvalidPortValue",
                            format!("Invalid value for port {p}."),
                        ));
                    }
                }
                match (self.port_range_min, self.port_range_max) {
                    (Some(a), Some(b)) if a > b => {
                        return Err(bad(
                            "SecurityGroupInvalidPortRange",
                            "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                        ));
                    }
                    (Some(_), None) | (None, Some(_)) => {
                        return Err(bad(
                            "SecurityGroupInvalidPortRange",
                            "For TCP/UDP protocols, port_range_min must be <= port_range_max",
                        ));
                    }
                    _ => {}
                }
            }
            Some(1) | Some(58) => {
                if let Some(t) = self.port_range_min
                    && t > 255
                {
                    return Err(bad(
                        "SecurityGroupInvalidIcmpValue",
                        format!(
                            "Invalid value for ICMP port_range_min(type): {t}. It must be 0 to 255."
                        ),
                    ));
                }
                if let Some(c) = self.port_range_max {
                    if c > 255 {
                        return Err(bad(
                            "SecurityGroupInvalidIcmpValue",
                            format!(
                                "Invalid value for ICMP port_range_max(code): {c}. It must be 0 to 255."
                            ),
                        ));
                    }
                    if self.port_range_min.is_none() {
                        return Err(bad(
                            "SecurityGroupMissingIcmpType",
                            format!(
                                "ICMP code (port-range-max) {c} is provided but ICMP type (port-range-min) is missing."
                            ),
                        ));
                    }
                }
            }
            Some(p) if has_ports => {
                return Err(bad(
                    "SecurityGroupInvalidProtocolForPort",
                    format!(
                        "Invalid protocol {p} for port range, only supported for TCP, UDP, UDPLITE, SCTP and DCCP."
                    ),
                ));
            }
            _ => {}
        }
        if self.remote_ip_prefix.is_some() && self.remote_group_id.is_some() {
            return Err(bad(
                "SecurityGroupRemoteGroupAndRemoteIpPrefix",
                "Only remote_ip_prefix or remote_group_id may be provided.",
            ));
        }
        if let Some(prefix) = &self.remote_ip_prefix {
            let net: IpNet = prefix
                .parse()
                .or_else(|_| prefix.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| bad("HTTPBadRequest", format!("Invalid input for remote_ip_prefix. Reason: '{prefix}' is not a valid IP subnet.")))?;
            let v4 = matches!(net, IpNet::V4(_));
            if v4 != (self.ethertype == "IPv4") {
                return Err(bad(
                    "SecurityGroupRuleParameterConflict",
                    format!(
                        "Conflicting value ethertype {} for CIDR {prefix}",
                        self.ethertype
                    ),
                ));
            }
            self.remote_ip_prefix = Some(net.to_string());
        }
        Ok(self)
    }

    /// The CIDR with host bits cleared, as neutron's `normalized_cidr`.
    pub fn normalized_cidr(&self) -> Option<String> {
        let p = self.remote_ip_prefix.as_ref()?;
        p.parse::<IpNet>().ok().map(|n| n.trunc().to_string())
    }

    /// Whether two rules are duplicates in neutron's sense.
    pub fn same_as(&self, other: &RuleSpec) -> bool {
        let proto = |s: &RuleSpec| s.protocol.as_deref().and_then(protocol_number);
        self.direction == other.direction
            && self.ethertype == other.ethertype
            && proto(self) == proto(other)
            && self.port_range_min == other.port_range_min
            && self.port_range_max == other.port_range_max
            && self.normalized_cidr() == other.normalized_cidr()
            && self.remote_group_id == other.remote_group_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(protocol: Option<&str>, ports: Option<(u32, u32)>, prefix: Option<&str>) -> RuleSpec {
        RuleSpec {
            direction: "ingress".into(),
            ethertype: "IPv4".into(),
            protocol: protocol.map(str::to_string),
            port_range_min: ports.map(|p| p.0),
            port_range_max: ports.map(|p| p.1),
            remote_ip_prefix: prefix.map(str::to_string),
            remote_group_id: None,
        }
    }

    #[test]
    fn duplicates_compare_protocol_numbers_and_normalized_cidrs() {
        let a = spec(Some("tcp"), Some((22, 22)), Some("10.0.0.0/8"))
            .validated()
            .unwrap();
        let b = spec(Some("6"), Some((22, 22)), Some("10.1.2.3/8"))
            .validated()
            .unwrap();
        assert!(a.same_as(&b));
        let c = spec(Some("udp"), Some((22, 22)), Some("10.0.0.0/8"))
            .validated()
            .unwrap();
        assert!(!a.same_as(&c));
    }

    #[test]
    fn validation_errors_name_neutron_types() {
        let kind = |s: RuleSpec| match s.validated() {
            Err(NetError::BadRequest(k, _)) => k,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            kind(spec(Some("tcp"), Some((0, 10)), None)),
            "SecurityGroupInvalidPortValue"
        );
        assert_eq!(
            kind(spec(Some("icmp"), Some((300, 0)), None)),
            "SecurityGroupInvalidIcmpValue"
        );
        assert_eq!(
            kind(spec(Some("gre"), Some((1, 2)), None)),
            "SecurityGroupInvalidProtocolForPort"
        );
        assert_eq!(kind(spec(None, None, Some("nonsense"))), "HTTPBadRequest");
        let mut both = spec(None, None, Some("10.0.0.0/8"));
        both.remote_group_id = Some("g".into());
        assert_eq!(kind(both), "SecurityGroupRemoteGroupAndRemoteIpPrefix");
        // A bare address is accepted as a /32, as neutron does.
        let host = spec(None, None, Some("192.0.2.7")).validated().unwrap();
        assert_eq!(host.remote_ip_prefix.as_deref(), Some("192.0.2.7/32"));
    }
}
