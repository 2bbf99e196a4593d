//! `sgeval api`.

use std::process::ExitCode;

/// Arguments of `sgeval api`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `sgeval api`.
pub fn run(_args: Args) -> ExitCode {
    ExitCode::from(2)
}
