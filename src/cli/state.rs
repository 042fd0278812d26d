//! `s2d show`, `s2d state list|rm|pull|push|migrate` and `s2d force-unlock`: looking at,
//! editing and moving the state, on any backend (a file, PostgreSQL, Swift).

use anyhow::Context;

use super::args::{
    ForceUnlockArgs, ShowArgs, StateListArgs, StateMigrateArgs, StatePullArgs, StatePushArgs,
    StateRmArgs,
};
use super::render::table;
use super::{ExitStatus, Ui};
use crate::graph::Address;
use crate::state::{self, ForceUnlockOutcome, Location, Origin, Side, State, StateFile};

use super::runtime;

/// Read the state at `location` without locking it.
pub(crate) fn read(location: &Location) -> anyhow::Result<Option<State>> {
    match location {
        Location::File(path) => Ok(state::read(path)?),
        remote => Ok(runtime()?.block_on(state::backend::read(remote))?),
    }
}

/// `s2d show`: the state as a table, or as JSON.
pub fn show(args: &ShowArgs, _ui: &Ui) -> anyhow::Result<ExitStatus> {
    let Some(state) = read(&args.state)? else {
        anyhow::bail!(
            "no state at {}: nothing has been applied yet (or pass the state's path or URL)",
            args.state
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
        args.state,
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
    if let Some(state) = read(&args.state)? {
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
    if read(&args.state)?.is_none() {
        anyhow::bail!("no state at {}", args.state);
    }
    runtime()?.block_on(async {
        let mut file = StateFile::open_at(&args.state, "state rm").await?;
        let missing: Vec<String> = addresses
            .iter()
            .filter(|a| file.state().get(a).is_none())
            .map(ToString::to_string)
            .collect();
        if !missing.is_empty() {
            file.release().await;
            anyhow::bail!(
                "not in the state: {} (see `s2d state list --state {}`)",
                missing.join(", "),
                args.state
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
        let written = file.commit_async().await.context("writing the state");
        file.release().await;
        written?;
        Ok(ExitStatus::Success)
    })
}

/// `s2d force-unlock [ID]`: clear a lock whose holder is gone.
pub fn force_unlock(args: &ForceUnlockArgs, _ui: &Ui) -> anyhow::Result<ExitStatus> {
    let outcome = runtime()?.block_on(state::force_unlock(&args.state, args.id.as_deref()))?;
    match outcome {
        ForceUnlockOutcome::NotLocked => {
            eprintln!("{} is not locked", args.state);
        }
        ForceUnlockOutcome::ClearedStale(info) => eprintln!(
            "cleared the lock{} of {}pid {} ({} since {})",
            if info.id.is_empty() {
                String::new()
            } else {
                format!(" {}", info.id)
            },
            if info.who.is_empty() {
                String::new()
            } else {
                format!("{} ", info.who)
            },
            info.pid,
            info.operation,
            info.since
        ),
    }
    Ok(ExitStatus::Success)
}

/// `s2d state pull`: the state as JSON on stdout.
pub fn pull(args: &StatePullArgs, _ui: &Ui) -> anyhow::Result<ExitStatus> {
    let Some(state) = read(&args.state)? else {
        anyhow::bail!("no state at {}", args.state);
    };
    println!("{}", serde_json::to_string_pretty(&state)?);
    Ok(ExitStatus::Success)
}

/// `s2d state push FILE`: replace the state with FILE's, under the lock. Refused (unless
/// --force) when FILE is of another lineage or older than the state there.
pub fn push(args: &StatePushArgs, ui: &Ui) -> anyhow::Result<ExitStatus> {
    let Some(pushed) = state::read(&args.file)? else {
        anyhow::bail!("no state file at {}", args.file.display());
    };
    runtime()?.block_on(async {
        let mut file = StateFile::open_at(&args.state, "state push").await?;
        let current = file.state();
        let there = current.serial > 0 || !current.is_empty();
        if there && !args.force {
            let refusal = if current.lineage != pushed.lineage {
                Some(format!(
                    "{} is of lineage {}, the state at {} of lineage {}: it is another migration's state",
                    args.file.display(),
                    pushed.lineage,
                    args.state,
                    current.lineage
                ))
            } else if pushed.serial < current.serial {
                Some(format!(
                    "{} has serial {}, older than the {} at {}: pushing it would undo later runs",
                    args.file.display(),
                    pushed.serial,
                    current.serial,
                    args.state
                ))
            } else {
                None
            };
            if let Some(refusal) = refusal {
                file.release().await;
                anyhow::bail!("{refusal} (--force pushes it anyway)");
            }
        }
        let written = file.replace(pushed).await;
        let serial = file.state().serial;
        file.release().await;
        written?;
        if !ui.quiet {
            eprintln!("pushed {} to {} (serial {serial})", args.file.display(), args.state);
        }
        Ok(ExitStatus::Success)
    })
}

/// `s2d state migrate --to URL`: copy the state under both locks (refused when a state is
/// there already).
pub fn migrate(args: &StateMigrateArgs, ui: &Ui) -> anyhow::Result<ExitStatus> {
    if args.state == args.to {
        anyhow::bail!("--to names the state's own place ({})", args.to);
    }
    runtime()?.block_on(async {
        let from = StateFile::open_at(&args.state, "state migrate").await?;
        if from.state().serial == 0 && from.state().is_empty() {
            from.release().await;
            anyhow::bail!("no state at {} to migrate", args.state);
        }
        let mut to = match StateFile::open_at(&args.to, "state migrate").await {
            Ok(to) => to,
            Err(e) => {
                from.release().await;
                return Err(e.into());
            }
        };
        if to.state().serial > 0 || !to.state().is_empty() {
            let serial = to.state().serial;
            to.release().await;
            from.release().await;
            anyhow::bail!(
                "{} holds a state already (serial {serial}): migrate to an empty place, or `s2d state push` over it",
                args.to
            );
        }
        let copy = from.state().clone();
        let written = to.replace(copy).await;
        to.release().await;
        from.release().await;
        written?;
        Ok::<_, anyhow::Error>(())
    })?;
    if !ui.quiet {
        eprintln!(
            "copied the state from {} to {}; the old one is left as it was. From now on pass \
             --state {}, or name it in the plan:\n\n[state]\nlocation = \"{}\"",
            args.state, args.to, args.to, args.to
        );
    }
    Ok(ExitStatus::Success)
}
