//! The plan model (being written).
