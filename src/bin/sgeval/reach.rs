//! `sgeval reach`.

use std::process::ExitCode;

/// Arguments of `sgeval reach`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `sgeval reach`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("sgeval reach: not implemented yet");
    ExitCode::from(2)
}
