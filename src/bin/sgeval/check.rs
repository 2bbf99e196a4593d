//! `sgeval check`: decide one packet, hop by hop.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::json;
use sgeval::flow::{self, Flow, PacketSpec};
use sgeval::query::explain;
use sgeval::Protocol;
use sgeval::{Cloud, Family, Reason, Verdict};

use sgeval::query::unresolved::{FlowDepends, Unknowns};

use crate::util::{bad_input, read_scenario, EXIT_DENIED, EXIT_UNRESOLVED};

/// Which engine decides.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineChoice {
    /// The compiled, indexed engine (the default).
    Compiled,
    /// The reference evaluator: a plain linear scan (the oracle).
    Reference,
}

/// An expected verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Expect {
    /// Expect the packet to pass.
    Allow,
    /// Expect the packet to be dropped.
    Deny,
}

/// Arguments of `sgeval check`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Scenario file (JSON).
    scenario: PathBuf,
    /// Source: an endpoint name or an address (an endpoint's address means that endpoint).
    #[arg(long)]
    from: String,
    /// Destination: an endpoint name or an address.
    #[arg(long)]
    to: String,
    /// Protocol: a name (tcp, udp, icmp, icmpv6, gre, ...) or a number 0-255.
    #[arg(long)]
    proto: Protocol,
    /// Destination port (required for tcp, udp, sctp, dccp, udplite).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_port)]
    dport: Option<u16>,
    /// Source port (default 49152 for port protocols).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_port)]
    sport: Option<u16>,
    /// ICMP type (default echo request: 8, or 128 for icmpv6).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_icmp)]
    icmp_type: Option<u8>,
    /// ICMP code (default 0).
    #[arg(long, allow_hyphen_values = true, value_parser = parse_icmp)]
    icmp_code: Option<u8>,
    /// The packet belongs to an established connection.
    #[arg(long)]
    established: bool,
    /// Address family when both sides are endpoints with both (IPv4 or IPv6).
    #[arg(long, value_parser = parse_family)]
    family: Option<Family>,
    /// Engine.
    #[arg(long, value_enum, default_value_t = EngineChoice::Compiled)]
    engine: EngineChoice,
    /// Exit 3 unless the verdict is this one (for CI gates).
    #[arg(long, value_enum)]
    expect: Option<Expect>,
    /// Also list, for each hop, every rule that did not decide and the first field it failed.
    #[arg(long)]
    why: bool,
    /// Also show the smallest single-rule change that flips the verdict, as a provider request
    /// naming groups by the scenario's `$ref`s where it has them (JSON: `call` with the
    /// cloud's ids, `scenario_call` with the `$ref`s).
    #[arg(long)]
    fix: bool,
    /// Print JSON: `{"verdict": ..., "hops": [...]}`.
    #[arg(long)]
    json: bool,
}

/// A port: `0..=65535`, said so when out of range (`-1`, `65536`), not "unexpected argument".
fn parse_port(s: &str) -> Result<u16, String> {
    number(s, "a port is 0 to 65535")
}

/// An ICMP type or code: `0..=255`.
fn parse_icmp(s: &str) -> Result<u8, String> {
    number(s, "an ICMP type or code is 0 to 255")
}

fn number<T: std::str::FromStr + TryFrom<i128>>(s: &str, range: &str) -> Result<T, String> {
    match s.trim().parse::<i128>() {
        Ok(n) => T::try_from(n).map_err(|_| format!("`{s}` is out of range: {range}")),
        Err(_) => Err(format!("`{s}` is not a number: {range}")),
    }
}

fn parse_family(s: &str) -> Result<Family, String> {
    match s.to_ascii_lowercase().as_str() {
        "ipv4" | "v4" | "4" => Ok(Family::V4),
        "ipv6" | "v6" | "6" => Ok(Family::V6),
        _ => Err(format!("unknown family `{s}` (IPv4 or IPv6)")),
    }
}

/// Runs `sgeval check`. Exit status: 0 allowed, 3 denied (or `--expect` not met), 2 bad input,
/// 4 unresolved (an imported scenario's unresolved items could give either verdict).
pub fn run(args: Args) -> ExitCode {
    let scenario = match read_scenario(&args.scenario) {
        Ok(s) => s,
        Err(e) => return bad_input(e),
    };
    let cloud = match scenario.build() {
        Ok(c) => c,
        Err(e) => return bad_input(format!("{}: {e}", args.scenario.display())),
    };
    let spec = PacketSpec {
        from: args.from.clone(),
        to: args.to.clone(),
        protocol: args.proto.0,
        dport: args.dport,
        sport: args.sport,
        icmp_type: args.icmp_type,
        icmp_code: args.icmp_code,
        established: args.established,
        family: args.family,
    };
    let packet = match spec.packet(&cloud) {
        Ok(p) => p,
        Err(e) => return bad_input(e),
    };
    if cloud.endpoint_by_addr(packet.src).is_none() && cloud.endpoint_by_addr(packet.dst).is_none() {
        return bad_input(format!(
            "neither `{}` nor `{}` is an endpoint of the scenario, so no security group decides",
            args.from, args.to
        ));
    }
    let flow = match args.engine {
        EngineChoice::Reference => flow::trace(&cloud, &sgeval::reference::Evaluator::new(&cloud), &packet),
        EngineChoice::Compiled => match compiled(&cloud, &packet) {
            Ok(f) => f,
            Err(e) => return bad_input(e),
        },
    };
    let fix = args.fix.then(|| explain::fix_flow(&cloud, &packet)).flatten();
    let unknowns = (!scenario.unresolved.is_empty()).then(|| Unknowns::new(&cloud, &scenario.unresolved));
    let depends = FlowDepends::of(&cloud, &packet, &flow, unknowns.as_ref());
    if args.json {
        let mut out = flow_json(&cloud, &packet, &flow);
        if let Some(u) = &unknowns {
            depends.mark_json(u, &mut out);
        }
        if args.why {
            for (i, h) in flow.hops.iter().enumerate() {
                let misses = explain::why(&cloud, h.endpoint, h.direction, &packet);
                out["hops"][i]["not_deciding"] = serde_json::to_value(&misses).unwrap_or_default();
            }
        }
        if args.fix {
            out["fix"] = match &fix {
                Some((endpoint, direction, f)) => {
                    let mut v = f.to_json(&cloud);
                    v["scenario_call"] = f.call_json_with_refs(&scenario_refs(&scenario));
                    v["endpoint"] = json!(endpoint_name(&cloud, *endpoint));
                    v["direction"] = json!(direction);
                    v
                }
                None => serde_json::Value::Null,
            };
        }
        outln!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        print_human(&cloud, &packet, &flow, depends.is_unresolved());
        if let Some(u) = &unknowns {
            print_depends(&depends, u);
        }
        if args.why {
            for h in &flow.hops {
                let misses = explain::why(&cloud, h.endpoint, h.direction, &packet);
                outln!(
                    "{} at {}: {} other rule(s)",
                    h.direction,
                    endpoint_name(&cloud, h.endpoint),
                    misses.len()
                );
                for m in misses {
                    let group = match cloud.group_by_id(&m.group_id) {
                        Some(g) if !g.name.is_empty() => format!("{} ({})", g.id, g.name),
                        _ => m.group_id.clone(),
                    };
                    outln!("  {} in group {group}: {}", m.rule_id, m.detail);
                }
            }
        }
        if args.fix {
            match &fix {
                Some((endpoint, direction, f)) => {
                    outln!(
                        "fix at {} {direction}: {}",
                        endpoint_name(&cloud, *endpoint),
                        f.summary
                    );
                    outln!("  call: {}", f.call_json_with_refs(&scenario_refs(&scenario)));
                }
                None => outln!("fix: no single-rule change flips this verdict"),
            }
        }
    }
    if depends.is_unresolved() {
        if let Some(e) = args.expect {
            eprintln!(
                "sgeval: expected {}, but the answer is unresolved",
                if e == Expect::Allow { "allow" } else { "deny" }
            );
        }
        return ExitCode::from(EXIT_UNRESOLVED);
    }
    let wanted = match args.expect {
        Some(Expect::Allow) => Verdict::Allow,
        Some(Expect::Deny) => Verdict::Deny,
        None => Verdict::Allow,
    };
    match (args.expect.is_some(), flow.verdict == wanted) {
        (_, true) => ExitCode::SUCCESS,
        (true, false) => {
            eprintln!("sgeval: expected {wanted}, got {}", flow.verdict);
            ExitCode::from(EXIT_DENIED)
        }
        (false, false) => ExitCode::from(EXIT_DENIED),
    }
}

/// The ids the scenario's `ref`s stand for, so a fix's call can name groups as the
/// scenario does (replayed again, only for `--fix`: the cloud came from `build`).
fn scenario_refs(scenario: &sgeval::Scenario) -> BTreeMap<String, String> {
    scenario.replay().map(|r| r.refs).unwrap_or_default()
}

fn compiled(cloud: &Cloud, packet: &sgeval::Packet) -> Result<Flow, String> {
    let engine = sgeval::compile::Engine::build(cloud).map_err(|e| e.to_string())?;
    Ok(flow::trace(cloud, &engine, packet))
}

fn endpoint_name(cloud: &Cloud, key: sgeval::EndpointKey) -> String {
    cloud.endpoint(key).map(|e| e.name.clone()).unwrap_or_default()
}

/// The JSON answer of `check`.
pub fn flow_json(cloud: &Cloud, packet: &sgeval::Packet, flow: &Flow) -> serde_json::Value {
    let hops: Vec<_> = flow
        .hops
        .iter()
        .map(|h| {
            let mut hop = json!({
                "endpoint": endpoint_name(cloud, h.endpoint),
                "direction": h.direction,
                "verdict": h.decision.verdict,
                "decided_by": flow::label(cloud, &h.decision),
                "explanation": flow::describe(cloud, &h.decision),
            });
            match h.decision.reason {
                Reason::Rule(r) => {
                    if let Some(g) = cloud.group(r.group) {
                        hop["group"] = json!({"id": g.id, "name": g.name});
                    }
                    if let Some(rule) = cloud.rule(r) {
                        hop["rule"] = serde_json::Value::clone(&rule.shown);
                    }
                }
                Reason::IntraGroup { group } => {
                    if let Some(g) = cloud.group(group) {
                        hop["group"] = json!({"id": g.id, "name": g.name});
                    }
                }
                _ => {}
            }
            hop
        })
        .collect();
    json!({"verdict": flow.verdict, "packet": packet, "hops": hops})
}

/// The hops and, unless the answer is unresolved (then [`Depends::print`] says so), the verdict.
fn print_human(cloud: &Cloud, packet: &sgeval::Packet, flow: &Flow, unresolved: bool) {
    outln!("packet: {packet}");
    for h in &flow.hops {
        outln!(
            "  {:<7} at {:<12} {:<5}  {}",
            h.direction.to_string(),
            endpoint_name(cloud, h.endpoint),
            h.decision.verdict.to_string(),
            flow::describe(cloud, &h.decision)
        );
    }
    if !unresolved {
        outln!("verdict: {}", flow.verdict);
    }
}

/// The flow's dependence on an imported scenario's unresolved items, said to a person.
fn print_depends(depends: &FlowDepends, unknowns: &Unknowns) {
    let items = unknowns.items();
    let all = depends.items();
    if depends.is_unresolved() {
        outln!("verdict: unresolved (allow or deny, depending on what the documents did not give):");
    } else if !all.is_empty() {
        outln!("the verdict holds whatever these settle, but it depends on them:");
    }
    for k in all {
        outln!("  {}", items[k]);
    }
    let untied: Vec<_> = unknowns.untied().collect();
    if !untied.is_empty() {
        outln!(
            "note: {} unresolved item(s) of the import concern objects not in the scenario; no answer is tied to them:",
            untied.len()
        );
        for u in untied {
            outln!("  {u}");
        }
    }
}
