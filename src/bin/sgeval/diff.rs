//! `sgeval diff`.

use std::process::ExitCode;

/// Arguments of `sgeval diff`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `sgeval diff`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("sgeval diff: not implemented yet");
    ExitCode::from(2)
}
