//! `s2d init` (being written).

use super::{ExitStatus, Ui, args};

pub fn run(_args: &args::InitArgs, _ui: &Ui) -> anyhow::Result<ExitStatus> {
    anyhow::bail!("s2d init: being written")
}
