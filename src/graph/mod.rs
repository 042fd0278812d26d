//! The resource graph: what must exist in the target cloud and in which order.
//!
//! Owns resource addresses ([`Address`]) and, with the engine issue, the petgraph of resource
//! nodes and their dependencies. Knows nothing of HTTP details.

mod address;

pub use address::{Address, AddressError};
