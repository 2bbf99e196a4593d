//! `sgeval lint`: rules that never decide, redundant rules, conflicts and provider traps.

use std::path::PathBuf;
use std::process::ExitCode;

use sgeval::query;

use crate::util::{bad_input, emit, read_scenario, warn_unresolved, EXIT_DENIED};

/// Arguments of `sgeval lint`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario file (JSON).
    pub scenario: PathBuf,
    /// Print JSON: `{"findings": [...], "counts": {...}}`.
    #[arg(long)]
    pub json: bool,
    /// Exit with status 3 when there is a finding of severity `warning`.
    #[arg(long)]
    pub strict: bool,
}

/// Runs `sgeval lint`.
pub fn run(args: Args) -> ExitCode {
    let scenario = match read_scenario(&args.scenario) {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    warn_unresolved(&args.scenario, &scenario);
    let cloud = match scenario.build() {
        Ok(c) => c,
        Err(e) => return bad_input(format!("{}: {e}", args.scenario.display())),
    };
    let findings = query::lint(&cloud);
    if args.json {
        let v = query::lint::to_json(&cloud, &findings);
        emit(&serde_json::to_string_pretty(&v).unwrap_or_default());
    } else if findings.is_empty() {
        emit("no findings");
    } else {
        for f in &findings {
            emit(f.to_text(&cloud).trim_end());
        }
        emit(&format!("{} finding(s)", findings.len()));
    }
    let warnings = findings.iter().filter(|f| f.kind.severity() == "warning").count();
    if args.strict && warnings > 0 {
        eprintln!("sgeval: {warnings} warning(s)");
        return ExitCode::from(EXIT_DENIED);
    }
    ExitCode::SUCCESS
}
