//! The `s2d-devcloud` binary: parse flags, start both clouds, write the ready file, wait for
//! SIGINT/SIGTERM. Knows nothing about the services.

fn main() {}
