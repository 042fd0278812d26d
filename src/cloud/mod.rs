//! The OpenStack client (being written).
