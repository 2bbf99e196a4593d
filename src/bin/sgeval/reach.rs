//! `sgeval reach`: the exact reachability map from X to Y.

use std::path::PathBuf;
use std::process::ExitCode;

use sgeval::query::unresolved::Unknowns;
use sgeval::query::{self, Mode, Query, Restrict, Side};
use sgeval::Verdict;

use crate::util::{bad_input, emit, read_scenario, EXIT_DENIED, EXIT_UNRESOLVED};

/// A verdict on the command line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum VerdictArg {
    /// Allowed.
    Allow,
    /// Denied.
    Deny,
}

impl From<VerdictArg> for Verdict {
    fn from(v: VerdictArg) -> Verdict {
        match v {
            VerdictArg::Allow => Verdict::Allow,
            VerdictArg::Deny => Verdict::Deny,
        }
    }
}

/// What a flow query shares between `reach` and `diff`.
#[derive(Debug, clap::Args)]
pub struct FlowArgs {
    /// Packets of established connections (replies, later packets): no rule is consulted.
    #[arg(long, conflicts_with = "round_trip")]
    pub established: bool,
    /// Round trips: the new connection and its replies (allowed exactly when the new
    /// connection is, since replies are established).
    #[arg(long)]
    pub round_trip: bool,
    /// Only these protocols (`tcp,udp`, numbers, `all`).
    #[arg(long, value_name = "PROTOCOLS")]
    pub proto: Option<String>,
    /// Only these destination ports (`22,80-90`).
    #[arg(long, value_name = "PORTS")]
    pub dport: Option<String>,
    /// Only these source ports.
    #[arg(long, value_name = "PORTS")]
    pub sport: Option<String>,
}

impl FlowArgs {
    /// The query from X to Y with these options.
    pub fn query(&self, from: &str, to: &str) -> Result<Query, String> {
        let from: Side = from.parse().map_err(|e| format!("`--from`: {e}"))?;
        let to: Side = to.parse().map_err(|e| format!("`--to`: {e}"))?;
        let mode = if self.established {
            Mode::Established
        } else if self.round_trip {
            Mode::RoundTrip
        } else {
            Mode::New
        };
        let mut restrict = Restrict::default();
        if let Some(p) = &self.proto {
            restrict.protocols = Some(Restrict::parse_protocols(p).map_err(|e| e.to_string())?);
        }
        if let Some(p) = &self.dport {
            restrict.dst_ports = Some(Restrict::parse_ports("--dport", p).map_err(|e| e.to_string())?);
        }
        if let Some(p) = &self.sport {
            restrict.src_ports = Some(Restrict::parse_ports("--sport", p).map_err(|e| e.to_string())?);
        }
        Ok(Query {
            from,
            to,
            mode,
            restrict,
        })
    }
}

/// Arguments of `sgeval reach`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario file (JSON).
    pub scenario: PathBuf,
    /// Source: an endpoint name, an address, a CIDR (`0.0.0.0/0`), `internet` (every
    /// address that is no endpoint's), `any` (every address), or a comma-separated list of
    /// these; `!item` takes an item out.
    #[arg(long)]
    pub from: String,
    /// Destination, as `--from`.
    #[arg(long)]
    pub to: String,
    #[command(flatten)]
    pub flow: FlowArgs,
    /// Print JSON: `{"mode", "regions": [...], "exposure": [...]}`.
    #[arg(long)]
    pub json: bool,
    /// Exit with status 3 when some region has this verdict (e.g. `allow`: nothing may
    /// pass), 4 when none has but some region's answer may depend on unresolved items.
    #[arg(long, value_name = "VERDICT")]
    pub expect_none: Option<VerdictArg>,
    /// Let `--expect-none` pass regions whose answer may depend on unresolved items (what
    /// an import left unresolved); they are judged as built, and still marked. Without
    /// it, such a region fails the gate with status 4.
    #[arg(long, requires = "expect_none")]
    pub allow_unknown: bool,
}

/// Runs `sgeval reach`.
pub fn run(args: Args) -> ExitCode {
    let scenario = match read_scenario(&args.scenario) {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    if !scenario.unresolved.is_empty() {
        eprintln!(
            "sgeval: warning: {}: {} unresolved item(s) of the import; regions whose answer may depend on them are marked `unresolved` (`sgeval check` tells whether a packet does)",
            args.scenario.display(),
            scenario.unresolved.len()
        );
    }
    let cloud = match scenario.build() {
        Ok(c) => c,
        Err(e) => return bad_input(format!("{}: {e}", args.scenario.display())),
    };
    let unknowns = Unknowns::new(&cloud, &scenario.unresolved);
    let query = match args.flow.query(&args.from, &args.to) {
        Ok(q) => q,
        Err(e) => return bad_input(e),
    };
    let map = match query::reach(&cloud, &query) {
        Ok(m) => m,
        Err(e) => return bad_input(e),
    };
    if args.json {
        emit(&serde_json::to_string_pretty(&map.to_json_marked(&cloud, &unknowns)).unwrap_or_default());
    } else {
        emit(map.to_text_marked(&cloud, &unknowns).trim_end());
    }
    if let Some(v) = args.expect_none {
        let verdict = Verdict::from(v);
        let hits: Vec<_> = map.with_verdict(verdict).collect();
        if let Some(first) = hits.first() {
            eprintln!(
                "sgeval: expectation failed: {} region(s) are {verdict}, e.g. {}",
                hits.len(),
                first.witness(query.mode)
            );
            return ExitCode::from(EXIT_DENIED);
        }
        // A region that passes as built may not once the unresolved items are known.
        let marks = map.unresolved(&cloud, &unknowns);
        let open: Vec<_> = map
            .regions
            .iter()
            .zip(&marks)
            .filter(|(_, m)| !m.is_empty())
            .collect();
        if let Some((first, items)) = open.first() {
            let names: Vec<String> = items.iter().map(|&k| unknowns.items()[k].to_string()).collect();
            let what = format!(
                "{} region(s) are not {verdict} only as built: they may depend on unresolved items, e.g. {} on {}",
                open.len(),
                first.witness(query.mode),
                names.join("; ")
            );
            if args.allow_unknown {
                eprintln!("sgeval: warning: allowed by --allow-unknown: {what}");
            } else {
                eprintln!("sgeval: expectation unresolved: {what}");
                return ExitCode::from(EXIT_UNRESOLVED);
            }
        }
    }
    ExitCode::SUCCESS
}
