//! `sgeval lint`.

use std::process::ExitCode;

/// Arguments of `sgeval lint`.
#[derive(Debug, clap::Args)]
pub struct Args {}

/// Runs `sgeval lint`.
pub fn run(_args: Args) -> ExitCode {
    eprintln!("sgeval lint: not implemented yet");
    ExitCode::from(2)
}
