//! `s2d init`: write a commented starter plan that validates.

use std::io::Write;

use anyhow::Context;

use super::args::InitArgs;
use super::{ExitStatus, Ui};

/// The starter plan: the quickstart's shape, every choice explained.
pub const STARTER_TOML: &str = r#"# An s2d plan: which servers to bring from the source cloud into the target cloud.
# Reference: docs/plan-format.md. Check it with `s2d validate`, preview with `s2d plan`.
version = 1

[source]
# An entry of clouds.yaml (searched as the openstack CLI does).
cloud = "provider"

[target]
cloud = "hospital"
# Or inline auth instead of `cloud` (never the password itself, only the name of the
# environment variable that holds it):
# auth_url = "https://hospital.example:5000/v3"
# username = "bob"
# password_env = "HOSPITAL_PASSWORD"
# project_name = "research"
# user_domain_name = "Default"
# project_domain_name = "Default"

[defaults]
# The target network the servers join.
network = "private"
# Exactly one of: import (copy from the source), create (new name), existing (already there).
keypair = { import = "alice-key" }
# "default": copy the source's rules into the target's default group; another name: create it.
security_group = "default"
# { pool = "public" }, { address = "203.0.113.10" } or false.
floating_ip = { pool = "public" }

[[server]]
# The server's name or UUID in the source cloud.
source = "ehr-analytics"
# name = "ehr-analytics"                 # in the target (default: the source's name)
# snapshot = "ehr-analytics-s2d"         # default: "<source>-s2d"
# image = { name = "ehr-analytics", disk_format = "qcow2", visibility = "private" }
# flavor = "m1.small"                    # default: the source's flavor
"#;

pub fn run(args: &InitArgs, ui: &Ui) -> anyhow::Result<ExitStatus> {
    if args.xml {
        anyhow::bail!(
            "s2d init --xml: the XML plan syntax is not supported by this build yet; run `s2d init` for TOML"
        );
    }
    let path = args.path.clone().unwrap_or_else(|| "s2d.toml".into());
    if path.as_os_str() == "-" {
        std::io::stdout().write_all(STARTER_TOML.as_bytes())?;
        return Ok(ExitStatus::Success);
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true);
    if args.force {
        options.create(true).truncate(true);
    } else {
        options.create_new(true);
    }
    let mut file = match options.open(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            anyhow::bail!(
                "{} exists already: pass --force to overwrite it",
                path.display()
            )
        }
        other => other.with_context(|| format!("creating {}", path.display()))?,
    };
    file.write_all(STARTER_TOML.as_bytes())
        .with_context(|| format!("writing {}", path.display()))?;
    if !ui.quiet {
        eprintln!(
            "wrote {}; edit it, then run `s2d validate {}`",
            path.display(),
            path.display()
        );
    }
    Ok(ExitStatus::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_starter_plan_validates() {
        let loaded = crate::plan::parse_str(STARTER_TOML, crate::plan::Syntax::Toml, "s2d.toml");
        assert!(loaded.diagnostics.0.is_empty(), "{:?}", loaded.diagnostics);
    }
}
