//! `s2d convert`: the same plan in the other syntax. Needs the XML syntax, which this build
//! does not read or write yet.

use super::args::ConvertArgs;
use super::{ExitStatus, Ui};

pub fn run(_args: &ConvertArgs, _ui: &Ui) -> anyhow::Result<ExitStatus> {
    super::not_yet("convert", 2)
}
