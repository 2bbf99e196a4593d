//! `sgeval lint`: rules that never decide, redundant rules, conflicts and provider traps.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use sgeval::query;
use sgeval::query::unresolved::{Item, Unknowns};

use crate::util::{bad_input, emit, read_scenario, EXIT_DENIED};

/// Arguments of `sgeval lint`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario file (JSON).
    pub scenario: PathBuf,
    /// Print JSON: `{"findings": [...], "counts": {...}}`.
    #[arg(long)]
    pub json: bool,
    /// Exit with status 3 when there is a finding of severity `warning` that is not
    /// acknowledged.
    #[arg(long)]
    pub strict: bool,
    /// Acknowledge a finding: `KIND:ID` (a rule id, or a group id for group findings),
    /// optionally `=REASON`; repeatable. The scenario's own `acknowledged` list is read too.
    #[arg(long = "ack", value_name = "KIND:ID[=REASON]", value_parser = parse_ack)]
    pub acks: Vec<query::lint::Ack>,
}

fn parse_ack(s: &str) -> Result<query::lint::Ack, String> {
    let (head, reason) = match s.split_once('=') {
        Some((h, r)) => (h, r.to_owned()),
        None => (s, "acknowledged with --ack".to_owned()),
    };
    let (kind, subject) = head
        .split_once(':')
        .ok_or_else(|| format!("`{s}`: expected KIND:ID (e.g. widened:sgr-bp1r00000000000c3)"))?;
    if subject.is_empty() {
        return Err(format!("`{s}`: the id after `:` is empty"));
    }
    Ok(query::lint::Ack {
        kind: kind.parse()?,
        subject: subject.to_owned(),
        reason,
    })
}

/// Runs `sgeval lint`.
pub fn run(args: Args) -> ExitCode {
    let scenario = match read_scenario(&args.scenario) {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    if !scenario.unresolved.is_empty() {
        eprintln!(
            "sgeval: warning: {}: {} unresolved item(s) of the import; findings about their groups, rules or endpoints are marked `unresolved`, the rest of this answer does not weigh them; `sgeval check` tells whether a packet depends on them",
            args.scenario.display(),
            scenario.unresolved.len()
        );
    }
    let items = scenario.unresolved.clone();
    let replay = match scenario.replay() {
        Ok(r) => r,
        Err(e) => return bad_input(format!("{}: {e}", args.scenario.display())),
    };
    // The scenario's acknowledgements may name a rule or group by `$ref`.
    let mut acks = Vec::with_capacity(scenario.acknowledged.len() + args.acks.len());
    for ack in scenario.acknowledged.iter().chain(&args.acks) {
        let mut ack = ack.clone();
        if let Some(name) = ack.subject.strip_prefix('$') {
            match replay.refs.get(name) {
                Some(id) => ack.subject.clone_from(id),
                None => {
                    return bad_input(format!(
                        "{}: acknowledged `{}`: no call has ref `{name}` (or it created nothing)",
                        args.scenario.display(),
                        ack.subject
                    ))
                }
            }
        }
        acks.push(ack);
    }
    let cloud = match replay.into_cloud() {
        Ok(c) => c,
        Err(e) => return bad_input(format!("{}: {e}", args.scenario.display())),
    };
    let mut findings = query::lint(&cloud);
    for stale in query::lint::acknowledge(&cloud, &mut findings, &acks) {
        eprintln!(
            "sgeval: warning: acknowledged {}:{} names no finding (the rule changed or is gone)",
            stale.kind, stale.subject
        );
    }
    let unknowns = Unknowns::new(&cloud, &items);
    let marks: Vec<Vec<usize>> = findings.iter().map(|f| unknowns.concerns(&cloud, f)).collect();
    if args.json {
        let mut v = query::lint::to_json(&cloud, &findings);
        for (f, m) in v["findings"].as_array_mut().into_iter().flatten().zip(&marks) {
            if !m.is_empty() {
                let items: Vec<&Item> = m.iter().map(|&k| &unknowns.items()[k]).collect();
                f["unresolved"] = json!(items);
            }
        }
        emit(&serde_json::to_string_pretty(&v).unwrap_or_default());
    } else if findings.is_empty() {
        emit("no findings");
    } else {
        for (f, m) in findings.iter().zip(&marks) {
            emit(f.to_text(&cloud).trim_end());
            for &k in m {
                emit(&format!("    unresolved: {}", unknowns.items()[k]));
            }
        }
        emit(&format!("{} finding(s)", findings.len()));
    }
    let warnings = findings
        .iter()
        .filter(|f| f.kind.severity() == "warning" && f.acknowledged.is_none())
        .count();
    if args.strict && warnings > 0 {
        eprintln!("sgeval: {warnings} warning(s)");
        return ExitCode::from(EXIT_DENIED);
    }
    ExitCode::SUCCESS
}
