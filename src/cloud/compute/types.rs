//! Nova's request and response types: servers, flavors, keypairs, tenant usage, limits and
//! the security groups Nova shows for a server. Plain serde types; knows nothing of HTTP.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;

use crate::cloud::types::{FlavorId, ImageId, NetworkId, PortId, ServerId, VolumeId};

/// A server as `GET /servers/{id}` shows it (fields s2d reads; others are ignored).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Server {
    pub id: ServerId,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub tenant_id: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub metadata: BTreeMap<String, String>,
    /// From 2.26.
    #[serde(default, deserialize_with = "null_default")]
    pub tags: Vec<String>,
    /// `None` for a server booted from a volume (`"image": ""`).
    #[serde(default, deserialize_with = "image_ref")]
    pub image: Option<ImageId>,
    #[serde(default)]
    pub flavor: Option<ServerFlavor>,
    #[serde(default, deserialize_with = "null_default")]
    pub addresses: Addresses,
    #[serde(default)]
    pub key_name: Option<String>,
    #[serde(default, deserialize_with = "null_default")]
    pub security_groups: Vec<NamedRef>,
    #[serde(default, rename = "OS-EXT-STS:task_state")]
    pub task_state: Option<String>,
    #[serde(default, rename = "OS-EXT-STS:vm_state")]
    pub vm_state: Option<String>,
    #[serde(default, rename = "OS-EXT-STS:power_state")]
    pub power_state: Option<i64>,
    #[serde(default, rename = "OS-EXT-AZ:availability_zone")]
    pub availability_zone: Option<String>,
    #[serde(default, rename = "OS-SRV-USG:launched_at")]
    pub launched_at: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
    #[serde(default)]
    pub updated: Option<String>,
    /// Set when the server is in ERROR.
    #[serde(default)]
    pub fault: Option<Fault>,
    /// From 2.19.
    #[serde(default)]
    pub description: Option<String>,
    /// `"True"` (or `true`) when the server has a config drive; `""` when not.
    #[serde(default, deserialize_with = "config_drive")]
    pub config_drive: bool,
    /// The guest's hostname: shown to the owner from 2.90, to admins from 2.3.
    #[serde(default, rename = "OS-EXT-SRV-ATTR:hostname")]
    pub hostname: Option<String>,
    /// The user data, base64: shown from 2.3, to admins only under the default policy.
    /// `None`: not shown; `Some(None)`: shown, and the server has none.
    #[serde(
        default,
        rename = "OS-EXT-SRV-ATTR:user_data",
        deserialize_with = "shown"
    )]
    pub user_data: Option<Option<String>>,
    /// The server's volumes (`os-extended-volumes:volumes_attached`), the root volume of a
    /// server booted from a volume among them.
    #[serde(
        default,
        rename = "os-extended-volumes:volumes_attached",
        deserialize_with = "null_default"
    )]
    pub volumes_attached: Vec<AttachedVolume>,
}

/// One entry of a server's `os-extended-volumes:volumes_attached`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct AttachedVolume {
    pub id: VolumeId,
    /// Whether deleting the server deletes the volume: shown from 2.3 (`None` before).
    #[serde(default)]
    pub delete_on_termination: Option<bool>,
}

/// A field that is there (perhaps `null`) reads as `Some`; one that is absent stays `None`
/// (by `default`).
fn shown<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<Option<String>>, D::Error> {
    Ok(Some(Option::<String>::deserialize(d)?))
}

fn config_drive<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<bool, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Bool(b) => b,
        Value::String(s) => matches!(s.to_ascii_lowercase().as_str(), "true" | "1" | "yes"),
        _ => false,
    })
}

/// A server's `addresses`, by network name, in the order Nova gives them: the order of the
/// server's NICs (Nova builds the object from the instance's network info, in NIC order).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Addresses(pub Vec<(String, Vec<ServerAddress>)>);

impl Addresses {
    /// The network names, in NIC order.
    pub fn keys(&self) -> impl Iterator<Item = &String> {
        self.0.iter().map(|(k, _)| k)
    }

    /// The addresses of each network, in NIC order.
    pub fn values(&self) -> impl Iterator<Item = &Vec<ServerAddress>> {
        self.0.iter().map(|(_, v)| v)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The addresses of the network of this name.
    pub fn get(&self, network: &str) -> Option<&Vec<ServerAddress>> {
        self.0.iter().find(|(k, _)| k == network).map(|(_, v)| v)
    }

    /// The position of the NIC with this MAC address, if Nova shows it.
    pub fn position_of_mac(&self, mac: &str) -> Option<usize> {
        self.values().flatten().position(|a| {
            a.mac_addr
                .as_deref()
                .is_some_and(|m| m.eq_ignore_ascii_case(mac))
        })
    }
}

impl<'de> Deserialize<'de> for Addresses {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct InOrder;
        impl<'de> serde::de::Visitor<'de> for InOrder {
            type Value = Addresses;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of network names to address lists")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Addresses, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, Vec<ServerAddress>>()? {
                    out.push((k, v));
                }
                Ok(Addresses(out))
            }
        }
        d.deserialize_map(InOrder)
    }
}

impl Serialize for Addresses {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// `null` reads as the empty collection.
pub(crate) fn null_default<'de, D, T>(d: D) -> std::result::Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

fn image_ref<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<ImageId>, D::Error> {
    let v = Value::deserialize(d)?;
    Ok(v.get("id").and_then(Value::as_str).map(ImageId::from))
}

/// A server's flavor: `{id, links}` before 2.47, the embedded description after.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
pub struct ServerFlavor {
    #[serde(default)]
    pub id: Option<FlavorId>,
    #[serde(default)]
    pub original_name: Option<String>,
    #[serde(default)]
    pub vcpus: Option<u32>,
    #[serde(default)]
    pub ram: Option<u64>,
    #[serde(default)]
    pub disk: Option<u64>,
    #[serde(default)]
    pub ephemeral: Option<u64>,
    #[serde(default)]
    pub swap: Option<u64>,
    #[serde(default)]
    pub extra_specs: Option<BTreeMap<String, String>>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ServerAddress {
    pub addr: String,
    #[serde(default)]
    pub version: Option<u8>,
    #[serde(default, rename = "OS-EXT-IPS:type")]
    pub kind: Option<String>,
    #[serde(default, rename = "OS-EXT-IPS-MAC:mac_addr")]
    pub mac_addr: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub struct NamedRef {
    pub name: String,
}

/// A server's `fault`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Fault {
    #[serde(default)]
    pub code: Option<u16>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub details: Option<String>,
    #[serde(default)]
    pub created: Option<String>,
}

/// A network for a new server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ServerNetwork {
    Network(NetworkId),
    Port(PortId),
}

/// What `POST /servers` needs.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerCreate {
    pub name: String,
    pub image: Option<ImageId>,
    pub flavor: FlavorId,
    pub key_name: Option<String>,
    /// Empty means `"auto"` at 2.37+ (and nothing before).
    pub networks: Vec<ServerNetwork>,
    pub security_groups: Vec<String>,
    pub metadata: BTreeMap<String, String>,
    pub tags: Vec<String>,
    pub availability_zone: Option<String>,
    /// Sent from 2.19.
    pub description: Option<String>,
    pub config_drive: bool,
    /// Sent from 2.90.
    pub hostname: Option<String>,
    /// Base64, as Nova takes it.
    pub user_data: Option<String>,
    /// The server group to boot into (the scheduler hint `group`).
    pub group: Option<String>,
    /// `block_device_mapping_v2`: existing volumes to boot from (`boot_index` 0, with
    /// `image` then `None`) and to attach. Empty: none sent.
    pub block_devices: Vec<BlockDevice>,
}

/// One entry of `block_device_mapping_v2`: an existing volume mapped to the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockDevice {
    /// The volume's id.
    pub uuid: VolumeId,
    /// `volume`.
    pub source_type: String,
    /// `volume`.
    pub destination_type: String,
    /// `Some(0)` for the root volume, `Some(n)` for the boot order of others, `None`: not
    /// bootable.
    pub boot_index: Option<i32>,
    pub delete_on_termination: bool,
}

impl BlockDevice {
    /// An existing volume (`source_type` and `destination_type` `volume`).
    pub fn volume(uuid: VolumeId, boot_index: Option<i32>, delete_on_termination: bool) -> Self {
        BlockDevice {
            uuid,
            source_type: "volume".into(),
            destination_type: "volume".into(),
            boot_index,
            delete_on_termination,
        }
    }
}

impl Default for FlavorId {
    fn default() -> FlavorId {
        FlavorId::new("")
    }
}

/// Filters for `GET /servers/detail`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerQuery {
    /// Exactly this name (sent as the anchored, escaped regex Nova expects).
    pub name: Option<String>,
    pub status: Option<String>,
    /// All of these tags (2.26+).
    pub tags: Vec<String>,
    /// Page size.
    pub limit: Option<u32>,
}

/// A Nova security group as `GET /servers/{id}/os-security-groups` shows it.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ServerSecurityGroup {
    #[serde(default)]
    pub id: Option<String>,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Flavor {
    pub id: FlavorId,
    pub name: String,
    pub ram: u64,
    pub vcpus: u32,
    pub disk: u64,
    #[serde(default, rename = "OS-FLV-EXT-DATA:ephemeral")]
    pub ephemeral: u64,
    /// Older microversions show no swap as `""`.
    #[serde(default, deserialize_with = "swap_mb")]
    pub swap: u64,
    #[serde(default)]
    pub rxtx_factor: Option<f64>,
    #[serde(default = "yes", rename = "os-flavor-access:is_public")]
    pub is_public: bool,
    #[serde(default, rename = "OS-FLV-DISABLED:disabled")]
    pub disabled: bool,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub extra_specs: Option<BTreeMap<String, String>>,
}

fn yes() -> bool {
    true
}

fn swap_mb<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<u64, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Number(n) => n.as_u64().unwrap_or(0),
        Value::String(s) => s.parse().unwrap_or(0),
        _ => 0,
    })
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Keypair {
    pub name: String,
    #[serde(default)]
    pub public_key: String,
    #[serde(default)]
    pub fingerprint: String,
    /// `ssh` or `x509` (2.2+).
    #[serde(default, rename = "type")]
    pub key_type: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    /// Only when Nova generated the key (before 2.92); never logged.
    #[serde(default, skip_serializing)]
    pub private_key: Option<crate::cloud::types::Secret>,
}

/// One project's usage over a period (simple-tenant-usage).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct TenantUsage {
    pub tenant_id: String,
    #[serde(default)]
    pub total_hours: f64,
    #[serde(default)]
    pub total_local_gb_usage: f64,
    #[serde(default)]
    pub total_memory_mb_usage: f64,
    #[serde(default)]
    pub total_vcpus_usage: f64,
    #[serde(default)]
    pub start: Option<String>,
    #[serde(default)]
    pub stop: Option<String>,
    #[serde(default)]
    pub server_usages: Vec<ServerUsage>,
}

#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct ServerUsage {
    #[serde(default)]
    pub instance_id: Option<ServerId>,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub hours: f64,
    #[serde(default)]
    pub flavor: Option<String>,
    #[serde(default)]
    pub vcpus: u32,
    #[serde(default)]
    pub memory_mb: u64,
    #[serde(default)]
    pub local_gb: u64,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub ended_at: Option<String>,
    #[serde(default)]
    pub state: Option<String>,
    #[serde(default)]
    pub uptime: u64,
    #[serde(default)]
    pub tenant_id: Option<String>,
}

impl TenantUsage {
    /// Add another page's figures for the same project.
    pub(crate) fn absorb(&mut self, other: TenantUsage) {
        self.total_hours += other.total_hours;
        self.total_local_gb_usage += other.total_local_gb_usage;
        self.total_memory_mb_usage += other.total_memory_mb_usage;
        self.total_vcpus_usage += other.total_vcpus_usage;
        self.server_usages.extend(other.server_usages);
    }
}

/// `GET /limits`: the absolute limits (`maxTotalCores`, `totalCoresUsed`, ...).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Limits {
    pub absolute: BTreeMap<String, i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A server booted from a volume as `server-show-resp.json` (2.96) shows it: `image` is
    /// `""`, the volumes are in `os-extended-volumes:volumes_attached`.
    #[test]
    fn volumes_attached_of_a_volume_backed_server() {
        let s: Server = serde_json::from_value(json!({
            "id": "s1", "name": "db", "status": "ACTIVE", "image": "",
            "os-extended-volumes:volumes_attached": [
                {"id": "root-vol", "delete_on_termination": true},
                {"id": "data-vol", "delete_on_termination": false}
            ]
        }))
        .unwrap();
        assert_eq!(s.image, None);
        assert_eq!(
            s.volumes_attached,
            [
                AttachedVolume {
                    id: VolumeId::from("root-vol"),
                    delete_on_termination: Some(true)
                },
                AttachedVolume {
                    id: VolumeId::from("data-vol"),
                    delete_on_termination: Some(false)
                }
            ]
        );
        // Before 2.3: ids only.
        let s: Server = serde_json::from_value(json!({
            "id": "s1", "os-extended-volumes:volumes_attached": [{"id": "v"}]
        }))
        .unwrap();
        assert_eq!(s.volumes_attached[0].delete_on_termination, None);
        let s: Server = serde_json::from_value(json!({"id": "s1"})).unwrap();
        assert!(s.volumes_attached.is_empty());
    }
}
