//! Small value types shared by the whole `cloud` module: [`Secret`] (a string that never
//! prints), the id newtypes ([`ServerId`], [`ImageId`], ...), [`Service`], [`Interface`] and
//! [`Microversion`]. Knows nothing of HTTP.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize, Serializer};

/// Passwords, application credential secrets and tokens.
pub use crate::secret::Secret;

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn new(id: impl Into<String>) -> $name {
                $name(id.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> $name {
                $name(s.to_string())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> $name {
                $name(s)
            }
        }
    )*};
}

id_type! {
    /// A Nova server's UUID.
    ServerId,
    /// A Glance image's UUID.
    ImageId,
    /// A Nova flavor's id (often, but not always, a UUID).
    FlavorId,
    /// A Neutron network's UUID.
    NetworkId,
    /// A Neutron subnet's UUID.
    SubnetId,
    /// A Neutron port's UUID.
    PortId,
    /// A Neutron floating IP's UUID.
    FloatingIpId,
    /// A Neutron router's UUID.
    RouterId,
    /// A Neutron security group's UUID.
    SecurityGroupId,
    /// A Neutron security group rule's UUID.
    SecurityGroupRuleId,
    /// A Keystone project's id.
    ProjectId,
    /// A Cinder volume's UUID.
    VolumeId,
    /// A Cinder volume snapshot's UUID (not a Nova server snapshot, which is an image).
    VolumeSnapshotId,
}

/// The OpenStack services s2d talks to, by catalog service type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Identity,
    Compute,
    Image,
    Network,
    /// Swift, for states kept in an object store.
    ObjectStore,
    /// Cinder v3 (catalog type `block-storage`, also found as `volumev3` or `volume`).
    BlockStorage,
}

impl Service {
    /// The service type in the Keystone catalog (and in `<type>_endpoint_override`).
    pub fn catalog_type(self) -> &'static str {
        match self {
            Service::Identity => "identity",
            Service::Compute => "compute",
            Service::Image => "image",
            Service::Network => "network",
            Service::ObjectStore => "object-store",
            Service::BlockStorage => "block-storage",
        }
    }

    /// Every catalog type the service may be listed under, in order of preference: Cinder
    /// is `block-storage` in current catalogs, `volumev3` in older ones and `volume` in
    /// some (the service-types authority's aliases, as openstacksdk reads them).
    pub fn catalog_types(self) -> &'static [&'static str] {
        match self {
            Service::BlockStorage => &["block-storage", "volumev3", "volume"],
            Service::Identity => &["identity"],
            Service::Compute => &["compute"],
            Service::Image => &["image"],
            Service::Network => &["network"],
            Service::ObjectStore => &["object-store"],
        }
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.catalog_type())
    }
}

/// A catalog endpoint's interface.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Interface {
    #[default]
    Public,
    Internal,
    Admin,
}

impl Interface {
    pub fn as_str(self) -> &'static str {
        match self {
            Interface::Public => "public",
            Interface::Internal => "internal",
            Interface::Admin => "admin",
        }
    }
}

impl fmt::Display for Interface {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Interface {
    type Err = String;
    /// Accepts `public`, `internal`, `admin` and the v2.0 spellings `publicURL`, ...
    fn from_str(s: &str) -> Result<Interface, String> {
        match s.to_ascii_lowercase().trim_end_matches("url") {
            "public" => Ok(Interface::Public),
            "internal" => Ok(Interface::Internal),
            "admin" => Ok(Interface::Admin),
            _ => Err(format!(
                "unknown interface {s:?} (expected public, internal or admin)"
            )),
        }
    }
}

/// A Nova API microversion such as `2.79`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Microversion {
    pub major: u16,
    pub minor: u16,
}

impl Microversion {
    pub const fn new(major: u16, minor: u16) -> Microversion {
        Microversion { major, minor }
    }
}

impl fmt::Display for Microversion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for Microversion {
    type Err = String;
    fn from_str(s: &str) -> Result<Microversion, String> {
        let bad = || format!("not a microversion: {s:?} (expected e.g. 2.79)");
        let (a, b) = s.trim().split_once('.').ok_or_else(bad)?;
        Ok(Microversion {
            major: a.parse().map_err(|_| bad())?,
            minor: b.parse().map_err(|_| bad())?,
        })
    }
}

impl Serialize for Microversion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_never_prints() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn microversions_order_numerically() {
        let a: Microversion = "2.9".parse().unwrap();
        let b: Microversion = "2.10".parse().unwrap();
        assert!(a < b);
        assert_eq!(b.to_string(), "2.10");
        assert!("2".parse::<Microversion>().is_err());
        assert!("2.x".parse::<Microversion>().is_err());
    }

    #[test]
    fn interfaces_accept_v2_spellings() {
        assert_eq!("publicURL".parse::<Interface>().unwrap(), Interface::Public);
        assert_eq!(
            "internal".parse::<Interface>().unwrap(),
            Interface::Internal
        );
        assert!("private".parse::<Interface>().is_err());
    }
}
