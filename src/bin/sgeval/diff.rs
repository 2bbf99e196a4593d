//! `sgeval diff`: every region whose verdict changes between two scenarios, or between the
//! prior state and the planned values of a Terraform plan (`--plan`), with CI gates
//! (`--expect-no-new`, `--policy`) that never let a value unknown until apply pass silently.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::{json, Value};
use sgeval::flow::{self, Hop};
use sgeval::import::{self, load, scenario::to_json};
use sgeval::query::unresolved::{item_touches, Item, Unknowns};
use sgeval::query::{self, Diff, Difference, Marks, Mode};
use sgeval::{Cloud, Direction, EndpointKey, Provider, Reason, Scenario, Verdict};

use crate::policy::{self, Forbidden};
use crate::reach::{FlowArgs, VerdictArg};
use crate::util::{bad_input, emit, read_scenario, EXIT_DENIED, EXIT_UNRESOLVED};

/// Arguments of `sgeval diff`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario before the change (not with `--plan`).
    #[arg(required_unless_present = "plan", conflicts_with = "plan")]
    pub old: Option<PathBuf>,
    /// The scenario after the change (may be of another provider).
    #[arg(required_unless_present = "plan", conflicts_with = "plan")]
    pub new: Option<PathBuf>,
    /// A Terraform plan (`terraform show -json plan.out > plan.json`): compare its prior
    /// state with its planned values. Rules are named by id and Terraform address.
    #[arg(long, value_name = "PLAN.json")]
    pub plan: Option<PathBuf>,
    /// Source (endpoint, address, CIDR, list); default: every address, so every
    /// endpoint pair and the internet in both families.
    #[arg(long)]
    pub from: Option<String>,
    /// Destination, as `--from`.
    #[arg(long)]
    pub to: Option<String>,
    #[command(flatten)]
    pub flow: FlowArgs,
    /// Print JSON: `{"mode", "equivalent", "changes": [...]}`; when either side has
    /// unresolved items, each change has `"unresolved": true|false` (with the items as
    /// `"before_depends_on"`/`"after_depends_on"`) and `"unresolved_regions"` counts the
    /// marked ones (with `--plan`, always, and also `"unknown"`, `"policy"` and `"gate"`).
    #[arg(long)]
    pub json: bool,
    /// Exit with status 3 when anything changes.
    #[arg(long)]
    pub expect_equivalent: bool,
    /// Exit with status 3 when a region changes to this verdict (`allow`: the change
    /// opens something that was denied).
    #[arg(long, value_name = "VERDICT")]
    pub expect_no_new: Option<VerdictArg>,
    /// Forbidden exposures, one per line (`tcp/22,3389 from internet`, `udp/53 from
    /// 0.0.0.0/0 to web`, `all from internet`), checked against the new side (the planned
    /// state): exit 3 naming each violation.
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Let the gates pass answers that depend on values unknown until apply (or otherwise
    /// left unresolved by the import); they are judged as built, and still listed.
    #[arg(long)]
    pub allow_unknown: bool,
}

/// One side of the comparison.
struct Side {
    cloud: Cloud,
    unknowns: Unknowns,
    /// Group and rule id -> where the import read it (a Terraform address).
    sources: HashMap<String, String>,
    /// Endpoint name -> where the import read it.
    endpoint_sources: HashMap<String, String>,
    /// Endpoints the documents give no address for (unknown until apply), left out of
    /// the cloud (no scenario endpoint is without one), as shown to people.
    addressless: Vec<String>,
}

impl Side {
    fn new(scenario: &Scenario, cloud: Cloud, value: Option<&Value>, file: &str) -> Side {
        let unknowns = Unknowns::new(&cloud, &scenario.unresolved);
        let mut sources = HashMap::new();
        let mut endpoint_sources = HashMap::new();
        if let Some(v) = value {
            let source = |x: &Value| {
                x["description"]
                    .as_str()
                    .map(|d| d.strip_prefix(&format!("{file}: ")).unwrap_or(d).to_owned())
            };
            for call in v["calls"].as_array().into_iter().flatten() {
                let Some(src) = source(call) else { continue };
                let ids = call["id"].as_str().into_iter().chain(
                    call["ids"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(Value::as_str),
                );
                for id in ids {
                    sources.entry(id.to_owned()).or_insert_with(|| src.clone());
                }
            }
            for e in v["endpoints"].as_array().into_iter().flatten() {
                if let (Some(name), Some(src)) = (e["name"].as_str(), source(e)) {
                    endpoint_sources.insert(name.to_owned(), src);
                }
            }
        }
        Side {
            cloud,
            unknowns,
            sources,
            endpoint_sources,
            addressless: Vec::new(),
        }
    }

    fn endpoint_name(&self, e: EndpointKey) -> String {
        self.cloud.endpoint(e).map(|e| e.name.clone()).unwrap_or_default()
    }

    /// The endpoint, with where it was read when that is not its name.
    fn endpoint_text(&self, e: EndpointKey) -> String {
        let name = self.endpoint_name(e);
        match self.endpoint_sources.get(&name) {
            Some(src) if *src != name => format!("{name} ({src})"),
            _ => name,
        }
    }

    /// The deciding rule's (or group's) id and where it was read: `(id, source)`.
    fn decider(&self, h: &Hop) -> Option<(String, String, Option<String>)> {
        let (kind, id) = match h.decision.reason {
            Reason::Rule(r) => ("rule", self.cloud.rule(r)?.id.clone()),
            Reason::IntraGroup { group } => ("group", self.cloud.group(group)?.id.clone()),
            _ => return None,
        };
        let source = self.sources.get(&id).cloned();
        Some((kind.to_owned(), id, source))
    }

    /// One hop for people: what decided, and the rule's id and address.
    fn hop_text(&self, h: &Hop) -> String {
        let mut s = format!(
            "{} at {}: {}: {}",
            h.direction,
            self.endpoint_text(h.endpoint),
            h.decision.verdict,
            flow::describe(&self.cloud, &h.decision)
        );
        if let Some((kind, id, source)) = self.decider(h) {
            match source {
                Some(src) => s.push_str(&format!("  [{kind} {id} at {src}]")),
                None => s.push_str(&format!("  [{kind} {id}]")),
            }
        }
        s
    }

    /// Adds `endpoint_address` and `address` (where the deciding rule or group was read) to
    /// a hop's JSON.
    fn annotate_hop(&self, h: &Hop, out: &mut Value) {
        let name = self.endpoint_name(h.endpoint);
        if let Some(src) = self.endpoint_sources.get(&name) {
            out["endpoint_address"] = json!(src);
        }
        if let Some((_, _, Some(source))) = self.decider(h) {
            out["address"] = json!(source);
        }
    }

    /// The rules (or groups) that decide along `hops` with their verdict, with where each
    /// was read: `allow by rule sgr-... at alicloud_security_group_rule.ssh`.
    fn deciders(&self, hops: &[Hop]) -> String {
        let mut out = Vec::new();
        for h in hops {
            if let Some((kind, id, source)) = self.decider(h) {
                let mut s = format!("{} by {kind} {id}", h.decision.verdict);
                if let Some(src) = source {
                    s.push_str(&format!(" at {src}"));
                }
                out.push(s);
            }
        }
        out.join(", ")
    }

    /// The unresolved items (indices) an answer through `hops` may depend on
    /// (conservatively: [`Unknowns::touches`]).
    fn depends(&self, hops: &[Hop]) -> BTreeSet<usize> {
        self.unknowns.touches(&self.cloud, hops).into_iter().collect()
    }

    fn items_json(&self, items: &BTreeSet<usize>) -> Value {
        Value::Array(
            items
                .iter()
                .map(|&i| serde_json::to_value(&self.unknowns.items()[i]).unwrap_or_default())
                .collect(),
        )
    }
}

/// An unresolved item's identity across the two sides of a plan.
fn item_key(item: &Item) -> (String, String, Option<String>) {
    (
        serde_json::to_string(&item.kind).unwrap_or_default(),
        item.subject.clone(),
        item.field.clone(),
    )
}

/// What the new side leaves unknown that the old side did not: it may change answers the
/// diff, computed on the clouds as built, cannot show.
#[derive(Debug)]
struct NewUnknown {
    /// The item, in words.
    text: String,
    /// The item as JSON (absent for an endpoint without addresses).
    item: Option<Value>,
    /// The endpoints whose answers it may change; empty: none can be named (its object
    /// is not in the scenario), so any answer may depend on it.
    endpoints: Vec<String>,
}

fn new_unknowns(old: &Side, new: &Side) -> Vec<NewUnknown> {
    let known: BTreeSet<_> = old.unknowns.items().iter().map(item_key).collect();
    let mut out = Vec::new();
    for item in new.unknowns.items() {
        if known.contains(&item_key(item)) {
            continue;
        }
        let endpoints = new
            .cloud
            .endpoints()
            .iter()
            .filter_map(|e| {
                let key = new.cloud.endpoint_by_name(&e.name)?;
                item_touches(&new.cloud, item, key, None).then(|| new.endpoint_text(key))
            })
            .collect();
        out.push(NewUnknown {
            text: item.to_string(),
            item: serde_json::to_value(item).ok(),
            endpoints,
        });
    }
    // An endpoint whose addresses the plan does not give: no region reaches it, so what its
    // groups open is in no change.
    for shown in new.addressless.iter().filter(|e| !old.addressless.contains(e)) {
        out.push(NewUnknown {
            text: format!(
                "endpoint `{shown}` has no address in the documents (unknown until apply): it is left out, so what its groups let in or out is in no region"
            ),
            item: None,
            endpoints: vec![shown.clone()],
        });
    }
    out
}

/// A forbidden exposure and what the new side does about it.
struct PolicyResult {
    rule: Forbidden,
    map: query::Reach,
    /// Allowed regions (indices into `map.regions`) with the items they may depend on.
    violations: Vec<(usize, BTreeSet<usize>)>,
    /// Denied regions whose answer may depend on unresolved items.
    unresolved: Vec<(usize, BTreeSet<usize>)>,
}

/// What the endpoints the plan adds let in: the allowed regions of the query on the new
/// side whose ingress hop is at an endpoint the old side does not have (its address was no
/// endpoint's before, so the diff counts it as open on both sides).
struct Added {
    /// The endpoints the plan adds.
    names: BTreeSet<String>,
    map: query::Reach,
    /// Allowed regions into an added endpoint, with the items they may depend on.
    regions: Vec<(usize, BTreeSet<usize>)>,
}

fn added_endpoints(old: &Side, new: &Side, query: &query::Query) -> Result<Option<Added>, String> {
    let added: BTreeSet<String> = new
        .cloud
        .endpoints()
        .iter()
        .filter(|e| old.cloud.endpoint_by_name(&e.name).is_none())
        .map(|e| e.name.clone())
        .collect();
    if added.is_empty() {
        return Ok(None);
    }
    let map = query::reach(&new.cloud, query).map_err(|e| e.to_string())?;
    let regions = map
        .regions
        .iter()
        .enumerate()
        .filter(|(_, r)| {
            r.verdict == Verdict::Allow
                && r.hops.iter().any(|h| {
                    h.direction == Direction::Ingress && added.contains(&new.endpoint_name(h.endpoint))
                })
        })
        .map(|(i, r)| (i, new.depends(&r.hops)))
        .collect();
    Ok(Some(Added {
        names: added,
        map,
        regions,
    }))
}

/// Runs `sgeval diff`. Exit status: 0 fine, 3 a gate failed on the clouds as built
/// (`--expect-equivalent`, `--expect-no-new`, `--policy`), 4 a gate passed only as built
/// and answers it covers depend on unresolved items (unless `--allow-unknown`), 2 bad input.
pub fn run(args: Args) -> ExitCode {
    let (old, new) = match &args.plan {
        Some(plan) => match plan_sides(plan) {
            Ok(sides) => sides,
            Err(e) => return bad_input(e),
        },
        None => {
            let mut sides = Vec::new();
            for path in [&args.old, &args.new].into_iter().flatten() {
                match file_side(path) {
                    Ok(s) => sides.push(s),
                    Err(e) => return bad_input(e),
                }
            }
            let (Some(new), Some(old)) = (sides.pop(), sides.pop()) else {
                return bad_input("give OLD and NEW scenarios, or `--plan PLAN.json`");
            };
            (old, new)
        }
    };
    let policy = match &args.policy {
        None => Vec::new(),
        Some(path) => {
            let text = match std::fs::read_to_string(path) {
                Ok(t) => t,
                Err(e) => return bad_input(format!("cannot read `{}`: {e}", path.display())),
            };
            match policy::parse(&path.display().to_string(), &text) {
                Ok(p) => p,
                Err(e) => return bad_input(e),
            }
        }
    };
    let from = args.from.as_deref().unwrap_or("any");
    let to = args.to.as_deref().unwrap_or("any");
    let query = match args.flow.query(from, to) {
        Ok(q) => q,
        Err(e) => return bad_input(e),
    };
    let d = match query::diff(&old.cloud, &new.cloud, &query) {
        Ok(d) => d,
        Err(e) => return bad_input(e),
    };
    let added = match &args.plan {
        Some(_) => match added_endpoints(&old, &new, &query) {
            Ok(a) => a,
            Err(e) => return bad_input(e),
        },
        None => None,
    };
    let mut results = Vec::new();
    for rule in policy {
        match check_policy(&new, rule) {
            Ok(r) => results.push(r),
            Err(e) => return bad_input(e),
        }
    }
    let gating = args.plan.is_some() || args.expect_no_new.is_some() || !results.is_empty();
    let marks = Marks {
        old: &old.unknowns,
        new: &new.unknowns,
    };
    // What the output marks is what the gates judge.
    let deps: Vec<(BTreeSet<usize>, BTreeSet<usize>)> = d
        .unresolved(&old.cloud, &new.cloud, marks)
        .into_iter()
        .map(|(b, a)| (b.into_iter().collect(), a.into_iter().collect()))
        .collect();
    let unknown = if gating {
        new_unknowns(&old, &new)
    } else {
        Vec::new()
    };
    let gate = Gate::judge(&args, &new, &d, &deps, &unknown, added.as_ref(), &results);
    let gcore = old.cloud.provider() == Provider::Gcore || new.cloud.provider() == Provider::Gcore;
    if args.plan.is_none() {
        // Two scenario files: the answer, each change marked when it may depend on what an
        // import left unresolved on either side (unmarked without such items); the gates
        // speak on stderr.
        if args.json {
            let mut out = d.to_json_marked(&old.cloud, &new.cloud, marks);
            if gating {
                // Only with the gates asked for: the plain answer keeps its shape.
                out["policy"] = Value::Array(results.iter().map(|r| policy_json(&new, r)).collect());
                out["gate"] = gate.to_json();
            }
            emit(&serde_json::to_string_pretty(&out).unwrap_or_default());
        } else {
            emit(d.to_text_marked(&old.cloud, &new.cloud, marks).trim_end());
            print_policy(&new, &results, gcore);
        }
    } else if args.json {
        let mut out = d.to_json(&old.cloud, &new.cloud);
        annotate_changes(&mut out, &d, &deps, &old, &new);
        out["unknown"] = Value::Array(
            unknown
                .iter()
                .map(|u| json!({"text": u.text, "item": u.item, "endpoints": u.endpoints}))
                .collect(),
        );
        out["added_endpoints"] = Value::Array(
            added
                .iter()
                .flat_map(|a| {
                    let all = a.map.to_json(&new.cloud);
                    a.regions
                        .iter()
                        .map(|r| region_json(&new, &a.map, &all, r))
                        .collect::<Vec<_>>()
                })
                .collect(),
        );
        out["policy"] = Value::Array(results.iter().map(|r| policy_json(&new, r)).collect());
        out["gate"] = gate.to_json();
        emit(&serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        print_changes(&d, &deps, &old, &new, gcore);
        if let Some(a) = added.as_ref().filter(|a| !a.regions.is_empty()) {
            emit("allowed into endpoints the plan adds (their addresses were no endpoint's, so the changes above show them as open before):");
            for r in &a.regions {
                print_region(&new, &a.map, r, gcore);
            }
        }
        if !unknown.is_empty() {
            emit(
                "new in the plan and unknown until apply (they may change answers beyond the regions above):",
            );
            for u in &unknown {
                emit(&format!("  {}", u.text));
                if !u.endpoints.is_empty() {
                    emit(&format!("    at {}", u.endpoints.join(", ")));
                }
            }
        }
        print_policy(&new, &results, gcore);
    }
    gate.exit(&args)
}

/// Reads a scenario file into a side.
fn file_side(path: &Path) -> Result<Side, String> {
    let scenario = read_scenario(path)?;
    if !scenario.unresolved.is_empty() {
        eprintln!(
            "sgeval: warning: {}: {} unresolved item(s) of the import; changes whose answer may depend on them are marked `unresolved` (`sgeval check` tells whether a packet does)",
            path.display(),
            scenario.unresolved.len()
        );
    }
    let cloud = scenario.build().map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Side::new(&scenario, cloud, None, ""))
}

/// Both sides of a plan: the prior state and the planned values.
fn plan_sides(path: &Path) -> Result<(Side, Side), String> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read `{file}`: {e}"))?;
    let docs = load::parse_str(&file, &text).map_err(|e| e.to_string())?;
    let [doc] = docs.as_slice() else {
        return Err(format!(
            "{file}: expected one plan (`terraform show -json plan.out`), found {} document(s)",
            docs.len()
        ));
    };
    let sides = import::read_plan(doc, None).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for (inv, what) in [(&sides.before, "prior state"), (&sides.after, "planned values")] {
        let mut imported = to_json(inv);
        let addressless = drop_addressless(&mut imported.value, &file);
        let scenario = imported.scenario().map_err(|e| format!("{file} ({what}): {e}"))?;
        let cloud = scenario.build().map_err(|e| format!("{file} ({what}): {e}"))?;
        if !imported.skipped.is_empty() {
            eprintln!(
                "sgeval: {file} ({what}): {} resource(s) skipped (`sgeval import` lists them)",
                imported.skipped.len()
            );
        }
        let mut side = Side::new(&scenario, cloud, Some(&imported.value), &file);
        side.addressless = addressless;
        out.push(side);
    }
    let new = out.pop().ok_or("no planned side")?;
    let old = out.pop().ok_or("no prior side")?;
    Ok((old, new))
}

/// Takes the endpoints without addresses out of an imported scenario's JSON (a planned
/// instance's address is unknown until apply); returns them as `name (address)`.
fn drop_addressless(value: &mut Value, file: &str) -> Vec<String> {
    let Some(endpoints) = value["endpoints"].as_array_mut() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    endpoints.retain(|e| {
        let keep = e["ips"].as_array().is_some_and(|ips| !ips.is_empty());
        if !keep {
            let name = e["name"].as_str().unwrap_or_default();
            let source = e["description"]
                .as_str()
                .map(|d| d.strip_prefix(&format!("{file}: ")).unwrap_or(d));
            out.push(match source {
                Some(src) if src != name => format!("{name} ({src})"),
                _ => name.to_owned(),
            });
        }
        keep
    });
    out
}

/// The forbidden exposure's reach on the new side.
fn check_policy(new: &Side, rule: Forbidden) -> Result<PolicyResult, String> {
    let map = query::reach(&new.cloud, &rule.query)
        .map_err(|e| format!("policy line {} `{}`: {e}", rule.line, rule.text))?;
    let mut violations = Vec::new();
    let mut unresolved = Vec::new();
    for (i, r) in map.regions.iter().enumerate() {
        // No security group on the way: nothing the cloud's groups decide.
        if r.hops.is_empty() {
            continue;
        }
        let deps = new.depends(&r.hops);
        if r.verdict == Verdict::Allow {
            violations.push((i, deps));
        } else if !deps.is_empty() {
            unresolved.push((i, deps));
        }
    }
    Ok(PolicyResult {
        rule,
        map,
        violations,
        unresolved,
    })
}

/// The gates' outcome.
struct Gate {
    /// Failures on the clouds as built.
    failed: Vec<String>,
    /// Gate answers that depend on unresolved items.
    unresolved: Vec<String>,
    /// Whether some gate was asked for.
    asked: bool,
}

impl Gate {
    fn judge(
        args: &Args,
        new: &Side,
        d: &Diff,
        deps: &[(BTreeSet<usize>, BTreeSet<usize>)],
        unknown: &[NewUnknown],
        added: Option<&Added>,
        results: &[PolicyResult],
    ) -> Gate {
        let mut blind: Vec<String> = new
            .unknowns
            .untied()
            .map(|i| format!("no endpoint can be named for: {i}"))
            .collect();
        blind.extend(
            new.addressless
                .iter()
                .map(|e| format!("endpoint `{e}` has no address in the documents, so no region reaches it")),
        );
        let mut gate = Gate {
            failed: Vec::new(),
            unresolved: Vec::new(),
            asked: args.expect_no_new.is_some() || !results.is_empty() || args.expect_equivalent,
        };
        if args.expect_equivalent && !d.is_equivalent() {
            gate.failed.push(format!("{} region(s) change", d.changes.len()));
        }
        if let Some(v) = args.expect_no_new {
            let verdict = Verdict::from(v);
            let is_added = |name: &str| added.is_some_and(|a| a.names.contains(name));
            for (c, (b, a)) in d.changes.iter().zip(deps) {
                // An added endpoint's address was open before (no endpoint's): what it lets
                // in is judged below; that it now denies is no closing.
                if verdict == Verdict::Deny && (is_added(&c.from) || is_added(&c.to)) {
                    continue;
                }
                let region = format!("{} -> {} ({})", c.from, c.to, c.witness(d.mode));
                if c.after == verdict {
                    let by = new.deciders(&c.after_hops);
                    gate.failed.push(if by.is_empty() {
                        format!("newly {verdict}: {region}")
                    } else {
                        format!("newly {verdict}: {region}: {by}")
                    });
                } else if !b.is_empty() || !a.is_empty() {
                    gate.unresolved
                        .push(format!("changed region {region} depends on unresolved items"));
                }
            }
            if let (Verdict::Allow, Some(a)) = (verdict, added) {
                for (i, _) in &a.regions {
                    let r = &a.map.regions[*i];
                    gate.failed.push(format!(
                        "newly allow into an endpoint the plan adds: {} ({}): {}",
                        r.shape.text(false),
                        r.witness(Mode::New),
                        new.deciders(&r.hops)
                    ));
                }
            }
            for u in unknown {
                gate.unresolved.push(format!("unknown until apply: {}", u.text));
            }
        }
        for r in results {
            let at = format!("policy line {} `{}`", r.rule.line, r.rule.text);
            for (i, deps) in &r.violations {
                let region = &r.map.regions[*i];
                let mut s = format!("{at}: allowed {}", region.witness(Mode::New));
                let by = new.deciders(&region.hops);
                if !by.is_empty() {
                    s.push_str(&format!(": {by}"));
                }
                if !deps.is_empty() {
                    s.push_str(" (unresolved)");
                }
                gate.failed.push(s);
            }
            for (i, _) in &r.unresolved {
                gate.unresolved.push(format!(
                    "{at}: denied {} only as built: it depends on unresolved items",
                    r.map.regions[*i].witness(Mode::New)
                ));
            }
            // What no region can show: items no endpoint can be named for, and endpoints
            // without addresses, may expose anything the policy forbids.
            for b in &blind {
                gate.unresolved.push(format!("{at}: {b}"));
            }
        }
        gate
    }

    fn to_json(&self) -> Value {
        json!({
            "asked": self.asked,
            "passed": self.failed.is_empty() && self.unresolved.is_empty(),
            "failed": self.failed,
            "unresolved": self.unresolved,
        })
    }

    fn exit(&self, args: &Args) -> ExitCode {
        if !self.failed.is_empty() {
            for f in &self.failed {
                eprintln!("sgeval: expectation failed: {f}");
            }
            return ExitCode::from(EXIT_DENIED);
        }
        if !self.unresolved.is_empty() {
            for u in &self.unresolved {
                if args.allow_unknown {
                    eprintln!("sgeval: warning (--allow-unknown): {u}");
                } else {
                    eprintln!("sgeval: unresolved: {u}");
                }
            }
            if !args.allow_unknown {
                eprintln!("sgeval: the gate cannot pass on values unknown until apply; `--allow-unknown` judges them as built");
                return ExitCode::from(EXIT_UNRESOLVED);
            }
        }
        ExitCode::SUCCESS
    }
}

/// Adds to each change of `d.to_json` where each deciding rule was read, and whether the
/// change depends on unresolved items.
fn annotate_changes(
    out: &mut Value,
    d: &Diff,
    deps: &[(BTreeSet<usize>, BTreeSet<usize>)],
    old: &Side,
    new: &Side,
) {
    let Some(changes) = out["changes"].as_array_mut() else {
        return;
    };
    for ((v, c), (b, a)) in changes.iter_mut().zip(&d.changes).zip(deps) {
        for (k, h) in c.before_hops.iter().enumerate() {
            old.annotate_hop(h, &mut v["before_hops"][k]);
        }
        for (k, h) in c.after_hops.iter().enumerate() {
            new.annotate_hop(h, &mut v["after_hops"][k]);
        }
        v["unresolved"] = json!(!b.is_empty() || !a.is_empty());
        if !b.is_empty() {
            v["before_depends_on"] = old.items_json(b);
        }
        if !a.is_empty() {
            v["after_depends_on"] = new.items_json(a);
        }
    }
    out["unresolved_regions"] = json!(deps
        .iter()
        .filter(|(b, a)| !b.is_empty() || !a.is_empty())
        .count());
}

fn print_changes(d: &Diff, deps: &[(BTreeSet<usize>, BTreeSet<usize>)], old: &Side, new: &Side, gcore: bool) {
    if d.changes.is_empty() {
        emit("no change: the prior state and the planned values decide every packet alike");
    } else {
        emit(&format!("{} change(s)", d.changes.len()));
    }
    for (c, (b, a)) in d.changes.iter().zip(deps) {
        print_change(c, d.mode, old, new, gcore);
        if !b.is_empty() || !a.is_empty() {
            emit("      unresolved: the answer depends on what the plan does not settle:");
            for &i in b {
                emit(&format!("        before: {}", old.unknowns.items()[i]));
            }
            for &i in a {
                emit(&format!("        after:  {}", new.unknowns.items()[i]));
            }
        }
    }
}

fn print_change(c: &Difference, mode: Mode, old: &Side, new: &Side, gcore: bool) {
    emit(&format!(
        "{} -> {}: {} -> {}  {}",
        c.from,
        c.to,
        c.before,
        c.after,
        c.shape.text(gcore)
    ));
    for h in &c.before_hops {
        emit(&format!("      before: {}", old.hop_text(h)));
    }
    for h in &c.after_hops {
        emit(&format!("      after:  {}", new.hop_text(h)));
    }
    emit(&format!("      e.g. {}", c.witness(mode)));
}

fn print_policy(new: &Side, results: &[PolicyResult], gcore: bool) {
    for r in results {
        let at = format!("policy line {} `{}`", r.rule.line, r.rule.text);
        if r.violations.is_empty() && r.unresolved.is_empty() {
            emit(&format!("{at}: holds"));
            continue;
        }
        if !r.violations.is_empty() {
            emit(&format!("{at}: VIOLATED in {} region(s)", r.violations.len()));
        } else {
            emit(&format!("{at}: holds only as built (unresolved)"));
        }
        for r2 in r.violations.iter().chain(&r.unresolved) {
            print_region(new, &r.map, r2, gcore);
        }
    }
}

/// A region of a reach map on the new side, its hops named by rule id and address.
fn print_region(new: &Side, map: &query::Reach, (i, deps): &(usize, BTreeSet<usize>), gcore: bool) {
    let region = &map.regions[*i];
    emit(&format!(
        "  {} {}",
        region.verdict.to_string().to_uppercase(),
        region.shape.text(gcore)
    ));
    for h in &region.hops {
        emit(&format!("      {}", new.hop_text(h)));
    }
    emit(&format!("      e.g. {}", region.witness(map.mode)));
    for &k in deps {
        emit(&format!("      unresolved: {}", new.unknowns.items()[k]));
    }
}

/// The region's JSON as `reach --json` gives it, with addresses and what it may depend on.
/// `all` is `map.to_json`, made once per map.
fn region_json(new: &Side, map: &query::Reach, all: &Value, (i, deps): &(usize, BTreeSet<usize>)) -> Value {
    let mut v = all["regions"][*i].clone();
    for (k, h) in map.regions[*i].hops.iter().enumerate() {
        new.annotate_hop(h, &mut v["hops"][k]);
    }
    v["unresolved"] = json!(!deps.is_empty());
    if !deps.is_empty() {
        v["depends_on"] = new.items_json(deps);
    }
    v
}

fn policy_json(new: &Side, r: &PolicyResult) -> Value {
    let all = r.map.to_json(&new.cloud);
    let region = |x: &(usize, BTreeSet<usize>)| region_json(new, &r.map, &all, x);
    json!({
        "line": r.rule.line,
        "rule": r.rule.text,
        "holds": r.violations.is_empty(),
        "violations": r.violations.iter().map(region).collect::<Vec<_>>(),
        "unresolved": r.unresolved.iter().map(region).collect::<Vec<_>>(),
    })
}
