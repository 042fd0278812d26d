//! `s2d show`, `s2d state list`, `s2d state rm` and `s2d force-unlock`: looking at and editing
//! the state file.

use anyhow::Context;

use super::args::{ForceUnlockArgs, ShowArgs, StateListArgs, StateRmArgs};
use super::render::table;
use super::{ExitStatus, Ui};
use crate::graph::Address;
use crate::state::{self, ForceUnlockOutcome, Origin, Side, StateFile};

/// `s2d show`: the state as a table, or as JSON.
pub fn show(args: &ShowArgs, _ui: &Ui) -> anyhow::Result<ExitStatus> {
    let Some(state) = state::read(&args.state)? else {
        anyhow::bail!(
            "no state at {}: nothing has been applied yet (or pass the state file's path)",
            args.state.display()
        );
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&state)?);
        return Ok(ExitStatus::Success);
    }
    let rows: Vec<[String; 4]> = state
        .resources
        .iter()
        .map(|(address, r)| {
            let side = match r.side {
                Side::Source => "source",
                Side::Target => "target",
            };
            let origin = match r.origin {
                Origin::Created => "created",
                Origin::Adopted => "adopted",
            };
            [
                address.to_string(),
                side.to_string(),
                origin.to_string(),
                r.id.clone(),
            ]
        })
        .collect();
    println!(
        "state {} (lineage {}, serial {}): {} resource{}",
        args.state.display(),
        state.lineage,
        state.serial,
        rows.len(),
        if rows.len() == 1 { "" } else { "s" }
    );
    if !rows.is_empty() {
        print!("{}", table(["ADDRESS", "CLOUD", "ORIGIN", "ID"], &rows));
    }
    Ok(ExitStatus::Success)
}

/// `s2d state list`: one address per line.
pub fn list(args: &StateListArgs, _ui: &Ui) -> anyhow::Result<ExitStatus> {
    if let Some(state) = state::read(&args.state)? {
        for address in state.resources.keys() {
            println!("{address}");
        }
    }
    Ok(ExitStatus::Success)
}

/// `s2d state rm`: forget resources (they stay in the cloud).
pub fn rm(args: &StateRmArgs, ui: &Ui) -> anyhow::Result<ExitStatus> {
    let addresses: Vec<Address> = args
        .addresses
        .iter()
        .map(|a| a.parse::<Address>())
        .collect::<Result<_, _>>()?;
    if !args.state.exists() {
        anyhow::bail!("no state at {}", args.state.display());
    }
    let mut file = StateFile::open(&args.state, "state rm")?;
    let missing: Vec<String> = addresses
        .iter()
        .filter(|a| file.state().get(a).is_none())
        .map(ToString::to_string)
        .collect();
    if !missing.is_empty() {
        anyhow::bail!(
            "not in the state: {} (see `s2d state list --state {}`)",
            missing.join(", "),
            args.state.display()
        );
    }
    for address in &addresses {
        if let Some(resource) = file.state_mut().forget(address)
            && !ui.quiet
        {
            eprintln!(
                "forgot {address} (id {}); it still exists in the cloud",
                resource.id
            );
        }
    }
    file.commit().context("writing the state")?;
    Ok(ExitStatus::Success)
}

/// `s2d force-unlock`: clear the note of a lock whose holder is gone.
pub fn force_unlock(args: &ForceUnlockArgs, _ui: &Ui) -> anyhow::Result<ExitStatus> {
    match state::force_unlock(&args.state)? {
        ForceUnlockOutcome::NotLocked => {
            eprintln!("{} is not locked", args.state.display());
        }
        ForceUnlockOutcome::ClearedStale(info) => eprintln!(
            "cleared the lock of pid {} ({} since {}), which is no longer running",
            info.pid, info.operation, info.since
        ),
    }
    Ok(ExitStatus::Success)
}
