//! `sgeval api`: replay a scenario's calls and print each answer as the provider gives it.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;

use crate::util::{bad_input, read_scenario};

/// Arguments of `sgeval api`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario file (JSON).
    scenario: PathBuf,
    /// Print `{"calls": [{"api", "status", "body"}, ...]}` instead of text.
    #[arg(long)]
    json: bool,
}

/// Runs `sgeval api`. Exit status 0 when every call succeeded, 1 when some answered an
/// error (the answers are printed all the same), 2 for a scenario that cannot be read.
pub fn run(args: Args) -> ExitCode {
    let scenario = match read_scenario(&args.scenario) {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    let replay = match scenario.replay() {
        Ok(r) => r,
        Err(e) => return bad_input(e),
    };
    let failed = replay.outcomes.iter().any(|o| !o.response.is_success());
    if args.json {
        let calls: Vec<_> = replay
            .outcomes
            .iter()
            .map(|o| match &o.not_sent {
                Some(why) => json!({"api": o.api, "not_sent": why}),
                None => json!({"api": o.api, "status": o.response.status, "body": o.response.body}),
            })
            .collect();
        let mut out = json!({ "calls": calls });
        if let Some(e) = &replay.endpoint_error {
            out["endpoint_error"] = json!(e.to_string());
        }
        outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        for (i, o) in replay.outcomes.iter().enumerate() {
            if let Some(why) = &o.not_sent {
                outln!("call {i} {} -> not sent: {why}", o.api);
                continue;
            }
            outln!("call {i} {} -> {}", o.api, o.response.status);
            let body = serde_json::to_string_pretty(&o.response.body).unwrap_or_default();
            for line in body.lines() {
                outln!("  {line}");
            }
        }
        if let Some(e) = &replay.endpoint_error {
            outln!("endpoints: {e}");
        }
    }
    if failed || replay.endpoint_error.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
