//! devcloud
