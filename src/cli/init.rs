//! `s2d init`: write a commented starter plan that validates.

use std::io::Write;

use anyhow::bail;

use super::args::InitArgs;
use super::{ExitStatus, Ui};

/// Where the Debian package installs the JSON Schema of the TOML plan
/// (`schemas/s2d-plan-1.schema.json`); also the schema's `$id`, as a `file://` URL.
pub const PLAN_JSON_SCHEMA: &str = "/usr/share/s2d/schemas/s2d-plan-1.schema.json";

/// The starter plan: the quickstart's shape, every choice explained. Its first line is
/// taplo's schema directive (a comment to s2d), so that editors with taplo or Even Better
/// TOML complete and check the plan against [`PLAN_JSON_SCHEMA`].
pub const STARTER_TOML: &str = r#"#:schema /usr/share/s2d/schemas/s2d-plan-1.schema.json
# An s2d plan: which servers to bring from the source cloud into the target cloud.
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

# A fleet: instead of `source`, `select` brings over every source server that matches (each
# criterion optional, at least one); `{source}` stands for each one's name. See "Fleets" in
# docs/plan-format.md; `s2d plan` lists what it matched.
# [[server]]
# select = { name = "analytics-*", tags = ["migrate"], metadata = { tier = "db" } }
# name = "{source}"                      # default: "{source}", the source's name
# snapshot = "{source}-s2d"              # default: "{source}-s2d"
"#;

/// The starter plan in the XML syntax: the same plan, the same explanations.
pub const STARTER_XML: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!--
  An s2d plan: which servers to bring from the source cloud into the target cloud.
  Reference: docs/plan-format.md; schema: schemas/s2d-plan-1.xsd.
  Check it with `s2d validate`, preview with `s2d plan`.
-->
<plan xmlns="urn:s2d:plan:1" version="1">
  <!-- An entry of clouds.yaml (searched as the openstack CLI does). -->
  <source cloud="provider"/>
  <target cloud="hospital"/>
  <!-- Or inline auth instead of `cloud` (never the password itself, only the name of the
       environment variable that holds it):
  <target>
    <auth url="https://hospital.example:5000/v3" username="bob" passwordEnv="HOSPITAL_PASSWORD"
          project="research" userDomain="Default" projectDomain="Default"/>
  </target>
  -->

  <!-- Settings for every server that does not say otherwise; any order. -->
  <defaults>
    <!-- The target network the servers join. -->
    <network name="private"/>
    <!-- Exactly one of: import (copy from the source), create (new name), existing (already there). -->
    <keypair import="alice-key"/>
    <!-- "default": copy the source's rules into the target's default group; another name: create it. -->
    <securityGroup name="default"/>
    <!-- pool="public", address="203.0.113.10" or enabled="false". -->
    <floatingIp pool="public"/>
  </defaults>

  <!-- The server's name or UUID in the source cloud; `name` in the target (default: the same). -->
  <server source="ehr-analytics">
    <!--
    <snapshot name="ehr-analytics-s2d"/>       default: "<source>-s2d"
    <image name="ehr-analytics" diskFormat="qcow2" visibility="private"/>
    <flavor name="m1.small"/>                  default: the source's flavor
    -->
  </server>

  <!-- A fleet: instead of `source`, <select> brings over every source server that matches
       (each criterion optional, at least one); `{source}` stands for each one's name. See
       "Fleets" in docs/plan-format.md; `s2d plan` lists what it matched.
  <server name="{source}">
    <select name="analytics-*">
      <tag name="migrate"/>
      <metadata key="tier" value="db"/>
    </select>
    <snapshot name="{source}-s2d"/>
  </server>
  -->
</plan>
"#;

pub fn run(args: &InitArgs, ui: &Ui) -> anyhow::Result<ExitStatus> {
    let (starter, default_path) = if args.xml {
        (STARTER_XML, "s2d.xml")
    } else {
        (STARTER_TOML, "s2d.toml")
    };
    let path = args.path.clone().unwrap_or_else(|| default_path.into());
    if path.as_os_str() == "-" {
        std::io::stdout().write_all(starter.as_bytes())?;
        return Ok(ExitStatus::Success);
    }
    if !args.force && path.exists() {
        bail!(
            "{} exists already: pass --force to overwrite it",
            path.display()
        );
    }
    super::convert::write_whole(&path, starter, args.force).map_err(|e| {
        if e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::AlreadyExists)
        {
            anyhow::anyhow!(
                "{} exists already: pass --force to overwrite it",
                path.display()
            )
        } else {
            e
        }
    })?;
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
        let xml = crate::plan::parse_str(STARTER_XML, crate::plan::Syntax::Xml, "s2d.xml");
        assert!(xml.diagnostics.0.is_empty(), "{:?}", xml.diagnostics);
        // Both starters say the same thing.
        assert_eq!(xml.plan, loaded.plan);
    }

    #[test]
    fn the_toml_starter_names_its_json_schema_first() {
        let first = STARTER_TOML.lines().next().expect("a first line");
        assert_eq!(first, format!("#:schema {PLAN_JSON_SCHEMA}"));
    }
}
