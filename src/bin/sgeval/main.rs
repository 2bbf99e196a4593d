//! The `sgeval` command line.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `println!` that ends the program quietly when stdout is closed (`sgeval ... | head`).
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::util::emit(&format!($($arg)*))
    };
}

mod api;
mod bench;
mod check;
mod diff;
mod export;
mod import;
mod lint;
mod policy;
mod reach;
mod replay;
mod util;

/// Evaluate cloud security groups (Alibaba ECS/ENS, Huawei VPC v3, Gcore v2) as each
/// provider documents them.
#[derive(Debug, Parser)]
#[command(name = "sgeval", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Replay a scenario's provider calls and print each call's answer.
    Api(api::Args),
    /// Decide one packet from X to Y: each hop's verdict and what decided it.
    Check(check::Args),
    /// Read provider describe/list output into a scenario (printed on standard output).
    Import(import::Args),
    /// The exact partition of the traffic from X to Y into allowed and denied regions.
    Reach(reach::Args),
    /// Every region whose verdict changes between two scenarios, or across a Terraform plan.
    Diff(diff::Args),
    /// Flow logs against the scenario (agreement) or against a new version (what breaks).
    Replay(replay::Args),
    /// Rules that never decide, redundant rules, conflicts and provider traps.
    Lint(lint::Args),
    /// Write an endpoint's decisions in another system's format (nftables).
    #[command(subcommand)]
    Export(export::ExportCmd),
    /// Measure the engines.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Api(args) => api::run(args),
        Command::Check(args) => check::run(args),
        Command::Import(args) => import::run(args),
        Command::Reach(args) => reach::run(args),
        Command::Diff(args) => diff::run(args),
        Command::Replay(args) => replay::run(args),
        Command::Lint(args) => lint::run(args),
        Command::Export(cmd) => export::run(cmd),
        Command::Bench(cmd) => bench::run(cmd),
    }
}
