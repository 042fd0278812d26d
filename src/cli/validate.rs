//! `s2d validate` (being written).

use super::{ExitStatus, Ui, args};

pub fn run(_args: &args::ValidateArgs, _ui: &Ui) -> anyhow::Result<ExitStatus> {
    anyhow::bail!("s2d validate: being written")
}
