//! `sgeval check`.

use std::process::ExitCode;

/// Arguments of `sgeval check`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `sgeval check`.
pub fn run(_args: Args) -> ExitCode {
    ExitCode::from(2)
}
