//! The resource graph: what must exist in the target cloud and in which order.
//!
//! Owns resource addresses ([`Address`]), the engine-level description of what is wanted
//! ([`Desired`], with the [`SourceFacts`] read for each server), and the petgraph of resource
//! nodes and their dependencies ([`ResourceGraph`], with DOT and JSON exports). Knows nothing
//! of HTTP details, plan file syntax or the state file.

mod address;
mod boot;
mod build;
mod desired;
mod from_plan;
mod network;
mod security_group;
mod volume;

pub use address::{Address, AddressError, VolumeStage};
pub use boot::{
    Boot, BootReport, Left, UserDataRef, carried, flavor_differences, image_properties,
};
pub use build::{Entry, GraphError, Node, PortIp, ResourceGraph, ServerNic};
pub use desired::{
    Candidate, Desired, DesiredFleet, DesiredImage, DesiredServer, FlavorSpec, FleetMatch,
    FloatingIpChoice, GroupChoice, KeypairChoice, KeypairMode, Rule, RuleDirection, ServerBoot,
    ServerGroupChoice, SourceFacts, SourceGroup, TransferMode,
};
pub use from_plan::FromPlanError;
pub use network::{
    AddressPair, DesiredNetwork, DesiredNics, DesiredRouter, FixedIp, NicError, NicTarget,
    ResolvedNic, SourceNetwork, SourceNic, SubnetSpec, floating_ip_nic, resolve_nics,
};
pub use volume::{
    DesiredVolumes, ServerVolume, SourceVolume, VolumeError, VolumeFormat, VolumeNode,
    resolve_volumes,
};
