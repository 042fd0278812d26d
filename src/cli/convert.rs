//! `s2d convert` (being written).

use super::{ExitStatus, Ui, args};

pub fn run(_args: &args::ConvertArgs, _ui: &Ui) -> anyhow::Result<ExitStatus> {
    anyhow::bail!("s2d convert: being written")
}
