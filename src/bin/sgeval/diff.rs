//! `sgeval diff`: every region whose verdict changes between two scenarios.

use std::path::PathBuf;
use std::process::ExitCode;

use sgeval::query;

use crate::reach::FlowArgs;
use crate::util::{bad_input, emit, read_scenario, warn_unresolved, EXIT_DENIED};

/// Arguments of `sgeval diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario before the change.
    pub old: PathBuf,
    /// The scenario after the change (may be of another provider).
    pub new: PathBuf,
    /// Source (endpoint, address, CIDR, list); default: every address, so every
    /// endpoint pair and the internet in both families.
    #[arg(long)]
    pub from: Option<String>,
    /// Destination, as `--from`.
    #[arg(long)]
    pub to: Option<String>,
    #[command(flatten)]
    pub flow: FlowArgs,
    /// Print JSON: `{"mode", "equivalent", "changes": [...]}`.
    #[arg(long)]
    pub json: bool,
    /// Exit with status 3 when anything changes.
    #[arg(long)]
    pub expect_equivalent: bool,
}

/// Runs `sgeval diff`.
pub fn run(args: Args) -> ExitCode {
    let mut clouds = Vec::new();
    for path in [&args.old, &args.new] {
        let scenario = match read_scenario(path) {
            Ok(s) => s,
            Err(e) => return bad_input(e),
        };
        warn_unresolved(path, &scenario);
        match scenario.build() {
            Ok(c) => clouds.push(c),
            Err(e) => return bad_input(format!("{}: {e}", path.display())),
        }
    }
    let from = args.from.as_deref().unwrap_or("any");
    let to = args.to.as_deref().unwrap_or("any");
    let query = match args.flow.query(from, to) {
        Ok(q) => q,
        Err(e) => return bad_input(e),
    };
    let (old, new) = (&clouds[0], &clouds[1]);
    let d = match query::diff(old, new, &query) {
        Ok(d) => d,
        Err(e) => return bad_input(e),
    };
    if args.json {
        emit(&serde_json::to_string_pretty(&d.to_json(old, new)).unwrap_or_default());
    } else {
        emit(d.to_text(old, new).trim_end());
    }
    if args.expect_equivalent && !d.is_equivalent() {
        eprintln!("sgeval: expectation failed: {} region(s) change", d.changes.len());
        return ExitCode::from(EXIT_DENIED);
    }
    ExitCode::SUCCESS
}
