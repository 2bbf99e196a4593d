//! `sgeval bench`: throughput of the engines on ClassBench files.

use std::process::ExitCode;

/// Benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCmd {}

/// Runs a benchmark command.
pub fn run(cmd: BenchCmd) -> ExitCode {
    match cmd {}
}
