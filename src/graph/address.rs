//! Resource addresses: the one spelling of "which resource" that users see in plan output, state
//! keys, events, `--target` and error prefixes.
//!
//! `server.web`, `image.web`, `keypair.alice-key`, `security_group.analytics`,
//! `security_group_rule.analytics[0]`, `floating_ip.web`, `snapshot.ehr-analytics-s2d`,
//! `network.db-net`, `subnet.db-net[0]`, `router.db-net-router`, `port.ehr-db[1]`,
//! `volume.ehr-db[0]` and the steps on its way (`volume_snapshot.ehr-db[0]`,
//! `volume_copy.ehr-db[0]`, `volume_upload.ehr-db[0]`, `volume_image.ehr-db[0]`).
//! [`Address`] derives `Ord`, so anything keyed by it comes out sorted and stable.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which resource, by kind and the name the plan gives it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Address {
    /// The snapshot image made in the source cloud from a source server, by the snapshot's
    /// name (two servers of the plan may copy one source server, each with its own snapshot).
    Snapshot {
        name: String,
    },
    /// The image made in the target cloud from the snapshot.
    Image {
        name: String,
    },
    Keypair {
        name: String,
    },
    SecurityGroup {
        name: String,
    },
    /// The `index`th rule s2d manages in a security group.
    SecurityGroupRule {
        group: String,
        index: usize,
    },
    /// A server group in the target (the source server's, made again with its policy).
    ServerGroup {
        name: String,
    },
    Server {
        name: String,
    },
    /// The floating IP attached to a target server.
    FloatingIp {
        server: String,
    },
    /// A target network built from a source network (`[[network]]`).
    Network {
        name: String,
    },
    /// The `index`th subnet of a built network, in the source network's order.
    Subnet {
        network: String,
        index: usize,
    },
    /// A router of a built network, to an external network.
    Router {
        name: String,
    },
    /// The port s2d makes for the `index`th NIC of a server (one that keeps its IP or MAC).
    Port {
        server: String,
        index: usize,
    },
    /// The `index`th volume a server takes along (the root volume first), or one of the
    /// resources made on its way there.
    Volume {
        server: String,
        index: usize,
        stage: VolumeStage,
    },
}

/// Where a volume is on its way from the source's Cinder to the target's, each a resource
/// of its own: a snapshot of the source volume, a volume made from it in the source, the
/// Glance image Cinder uploads that copy into, the target's copy of that image, and the
/// target volume made from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VolumeStage {
    Snapshot,
    Copy,
    Upload,
    Image,
    Target,
}

impl VolumeStage {
    /// Every stage, in the order they are made.
    pub const ALL: [VolumeStage; 5] = [
        VolumeStage::Snapshot,
        VolumeStage::Copy,
        VolumeStage::Upload,
        VolumeStage::Image,
        VolumeStage::Target,
    ];

    /// The resource type of its address.
    pub fn kind(self) -> &'static str {
        match self {
            VolumeStage::Snapshot => "volume_snapshot",
            VolumeStage::Copy => "volume_copy",
            VolumeStage::Upload => "volume_upload",
            VolumeStage::Image => "volume_image",
            VolumeStage::Target => "volume",
        }
    }

    /// Made on the way and removed once the target volume is there.
    pub fn intermediate(self) -> bool {
        self != VolumeStage::Target
    }
}

impl Address {
    /// The resource type as it appears before the dot.
    pub fn kind(&self) -> &'static str {
        match self {
            Address::Snapshot { .. } => "snapshot",
            Address::Image { .. } => "image",
            Address::Keypair { .. } => "keypair",
            Address::SecurityGroup { .. } => "security_group",
            Address::SecurityGroupRule { .. } => "security_group_rule",
            Address::ServerGroup { .. } => "server_group",
            Address::Server { .. } => "server",
            Address::FloatingIp { .. } => "floating_ip",
            Address::Network { .. } => "network",
            Address::Subnet { .. } => "subnet",
            Address::Router { .. } => "router",
            Address::Port { .. } => "port",
            Address::Volume { stage, .. } => stage.kind(),
        }
    }

    /// The name after the dot (for a rule: its group; a subnet: its network; a port: its
    /// server).
    pub fn name(&self) -> &str {
        match self {
            Address::Snapshot { name } => name,
            Address::Image { name }
            | Address::Keypair { name }
            | Address::SecurityGroup { name }
            | Address::ServerGroup { name }
            | Address::Server { name }
            | Address::Network { name }
            | Address::Router { name } => name,
            Address::SecurityGroupRule { group, .. } => group,
            Address::Subnet { network, .. } => network,
            Address::FloatingIp { server }
            | Address::Port { server, .. }
            | Address::Volume { server, .. } => server,
        }
    }

    /// The position of an indexed address (a rule, a subnet, a port).
    pub fn index(&self) -> Option<usize> {
        match self {
            Address::SecurityGroupRule { index, .. }
            | Address::Subnet { index, .. }
            | Address::Port { index, .. }
            | Address::Volume { index, .. } => Some(*index),
            _ => None,
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.index() {
            Some(index) => write!(f, "{}.{}[{index}]", self.kind(), self.name()),
            None => write!(f, "{}.{}", self.kind(), self.name()),
        }
    }
}

/// Why a string is not an address.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("`{0}` is not a resource address: expected `TYPE.NAME`, e.g. `server.web`")]
    NoDot(String),
    #[error(
        "`{kind}` is not a resource type: expected one of snapshot, image, keypair, \
         security_group, security_group_rule, server_group, server, floating_ip, network, \
         subnet, router, port, volume, volume_snapshot, volume_copy, volume_upload, volume_image"
    )]
    UnknownKind { kind: String },
    #[error("`{0}` has an empty name")]
    EmptyName(String),
    #[error(
        "`{0}`: an indexed address is written `KIND.NAME[N]`, e.g. `security_group_rule.web[0]`"
    )]
    BadRuleIndex(String),
}

impl FromStr for Address {
    type Err = AddressError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (kind, rest) = s
            .split_once('.')
            .ok_or_else(|| AddressError::NoDot(s.to_string()))?;
        if rest.is_empty() {
            return Err(AddressError::EmptyName(s.to_string()));
        }
        let name = rest.to_string();
        Ok(match kind {
            "snapshot" => Address::Snapshot { name },
            "image" => Address::Image { name },
            "keypair" => Address::Keypair { name },
            "security_group" => Address::SecurityGroup { name },
            "server_group" => Address::ServerGroup { name },
            "server" => Address::Server { name },
            "floating_ip" => Address::FloatingIp { server: name },
            "network" => Address::Network { name },
            "router" => Address::Router { name },
            "security_group_rule"
            | "subnet"
            | "port"
            | "volume"
            | "volume_snapshot"
            | "volume_copy"
            | "volume_upload"
            | "volume_image" => {
                let bad = || AddressError::BadRuleIndex(s.to_string());
                let (owner, index) = rest
                    .strip_suffix(']')
                    .and_then(|r| r.rsplit_once('['))
                    .ok_or_else(bad)?;
                if owner.is_empty() {
                    return Err(bad());
                }
                let index = index.parse().map_err(|_| bad())?;
                let owner = owner.to_string();
                match kind {
                    "subnet" => Address::Subnet {
                        network: owner,
                        index,
                    },
                    "port" => Address::Port {
                        server: owner,
                        index,
                    },
                    "security_group_rule" => Address::SecurityGroupRule {
                        group: owner,
                        index,
                    },
                    volume => Address::Volume {
                        server: owner,
                        index,
                        stage: VolumeStage::ALL
                            .into_iter()
                            .find(|stage| stage.kind() == volume)
                            .unwrap_or(VolumeStage::Target),
                    },
                }
            }
            other => {
                return Err(AddressError::UnknownKind {
                    kind: other.to_string(),
                });
            }
        })
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_its_spelling() {
        let all = [
            Address::Snapshot {
                name: "ehr-analytics-s2d".into(),
            },
            Address::Image { name: "ehr".into() },
            Address::Keypair {
                name: "alice-key".into(),
            },
            Address::SecurityGroup {
                name: "analytics".into(),
            },
            Address::SecurityGroupRule {
                group: "analytics".into(),
                index: 3,
            },
            Address::ServerGroup { name: "db".into() },
            Address::Server {
                name: "web.1".into(),
            },
            Address::FloatingIp {
                server: "web".into(),
            },
            Address::Network {
                name: "db-net".into(),
            },
            Address::Subnet {
                network: "db-net".into(),
                index: 1,
            },
            Address::Router {
                name: "db-net-router".into(),
            },
            Address::Port {
                server: "ehr-db".into(),
                index: 0,
            },
            Address::Volume {
                server: "ehr-db".into(),
                index: 1,
                stage: VolumeStage::Target,
            },
            Address::Volume {
                server: "ehr-db".into(),
                index: 0,
                stage: VolumeStage::Upload,
            },
        ];
        let spelled: Vec<String> = all.iter().map(ToString::to_string).collect();
        assert_eq!(
            spelled,
            [
                "snapshot.ehr-analytics-s2d",
                "image.ehr",
                "keypair.alice-key",
                "security_group.analytics",
                "security_group_rule.analytics[3]",
                "server_group.db",
                "server.web.1",
                "floating_ip.web",
                "network.db-net",
                "subnet.db-net[1]",
                "router.db-net-router",
                "port.ehr-db[0]",
                "volume.ehr-db[1]",
                "volume_upload.ehr-db[0]",
            ]
        );
        for (address, text) in all.iter().zip(&spelled) {
            assert_eq!(&text.parse::<Address>().expect("parses"), address);
        }
    }

    #[test]
    fn bad_spellings_say_what_is_wrong() {
        assert_eq!(
            "server".parse::<Address>(),
            Err(AddressError::NoDot("server".into()))
        );
        assert_eq!(
            "server.".parse::<Address>(),
            Err(AddressError::EmptyName("server.".into()))
        );
        assert!(matches!(
            "volumes.x".parse::<Address>(),
            Err(AddressError::UnknownKind { kind }) if kind == "volumes"
        ));
        for bad in [
            "security_group_rule.g",
            "security_group_rule.g[x]",
            "security_group_rule.[1]",
            "subnet.db-net",
            "port.web[-1]",
            "volume.web",
        ] {
            assert!(
                matches!(bad.parse::<Address>(), Err(AddressError::BadRuleIndex(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn serializes_as_its_spelling() {
        let a = Address::SecurityGroupRule {
            group: "g".into(),
            index: 0,
        };
        let json = serde_json::to_string(&a).expect("serializes");
        assert_eq!(json, "\"security_group_rule.g[0]\"");
        assert_eq!(
            serde_json::from_str::<Address>(&json).expect("deserializes"),
            a
        );
    }
}
