//! Explanations of one hop's decision: why each other rule did not decide ([`why`]), and
//! the smallest single-rule change that flips the verdict ([`fix`], [`fix_flow`]),
//! written as the provider's own request.

use std::collections::{BTreeMap, HashMap};

use ipnet::IpNet;
use serde::Serialize;
use serde_json::{json, Value};

use super::hop::ordered_rules;
use super::render::{decision_text, group_id, group_quoted, rule_id};
use crate::cloud::{Cloud, Request};
use crate::decision::{Decision, Reason, RuleRef, Verdict};
use crate::flow;
use crate::group::{EndpointKey, GroupKey};
use crate::packet::{self, ConnState, Packet};
use crate::provider::{Provider, RuleDraft, Target};
use crate::reference::Evaluator;
use crate::rule::{Action, Direction, Family, IcmpMatch, PortRange, Ports, Remote, Rule};

/// The first field of a rule that a packet fails, in this order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    /// The rule is disabled (Huawei `enabled: false`).
    Disabled,
    /// The rule is for the other direction.
    Direction,
    /// The rule is for the other address family.
    Family,
    /// The protocol differs.
    Protocol,
    /// The destination port is outside the rule's ports.
    Port,
    /// The source port is outside the rule's source ports.
    SourcePort,
    /// The ICMP type or code differs (Gcore).
    Icmp,
    /// The remote address (source on ingress, destination on egress) is outside the
    /// rule's remote side.
    RemoteAddress,
    /// The endpoint's own address is outside the rule's local prefix (ECS quintuple
    /// rules).
    LocalAddress,
}

/// Why a rule of the hop did not decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Why {
    /// The rule does not match the packet.
    Failed {
        /// The first field that failed.
        field: Field,
    },
    /// The rule matches, but what decided comes first in the provider's order.
    Outranked,
    /// The rules were not consulted: the packet belongs to an established connection
    /// (or mixes address families).
    NotConsulted,
}

/// A rule of the hop that did not decide, and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Miss {
    /// The rule.
    pub rule: RuleRef,
    /// Its group's provider id.
    pub group_id: String,
    /// Its provider id.
    pub rule_id: String,
    /// Why it did not decide.
    pub why: Why,
    /// The same in words, naming the packet's value and the rule's.
    pub detail: String,
}

/// Every rule of `endpoint`'s groups, in the provider's order, except the one that
/// decided `packet` in `direction`, each with why it did not decide.
///
/// An unknown endpoint has no rules: the answer is empty.
pub fn why(cloud: &Cloud, endpoint: EndpointKey, direction: Direction, packet: &Packet) -> Vec<Miss> {
    let Some(ep) = cloud.endpoint(endpoint) else {
        return Vec::new();
    };
    let decision = Evaluator::new(cloud).evaluate(endpoint, direction, packet);
    let consulted = !matches!(decision.reason, Reason::Established | Reason::MixedFamily);
    let mut out = Vec::new();
    for (g, rule) in ordered_rules(cloud, ep) {
        let r = RuleRef {
            group: g,
            rule: rule.key,
        };
        if decision.reason == Reason::Rule(r) {
            continue;
        }
        let (why, detail) = if !consulted {
            (
                Why::NotConsulted,
                match decision.reason {
                    Reason::Established => {
                        "not consulted: the packet belongs to an established connection".into()
                    }
                    _ => "not consulted: the packet mixes address families".into(),
                },
            )
        } else {
            match first_failure(cloud, rule, direction, packet) {
                Some((field, detail)) => (Why::Failed { field }, detail),
                None => (
                    Why::Outranked,
                    format!(
                        "matches, but comes after what decided: {}",
                        decision_text(cloud, &decision)
                    ),
                ),
            }
        };
        out.push(Miss {
            rule: r,
            group_id: group_id(cloud, g),
            rule_id: rule.id.clone(),
            why,
            detail,
        });
    }
    out
}

fn proto_name(p: u8) -> String {
    crate::Protocol(p).to_string()
}

fn remote_text(cloud: &Cloud, remote: &Remote) -> String {
    match remote {
        Remote::Any => "any address".into(),
        Remote::Cidr(n) => format!("`{n}`"),
        Remote::Group(g) => format!("the members of group {}", group_quoted(cloud, *g)),
        Remote::AddressGroup(a) => format!(
            "address group `{}`",
            cloud
                .address_group(*a)
                .map(|a| a.id.clone())
                .unwrap_or_else(|| a.to_string())
        ),
    }
}

/// The first field of `rule` that `p` fails in `direction`, with words; `None` when the
/// rule matches (the same test as the reference, field by field).
fn first_failure(cloud: &Cloud, rule: &Rule, direction: Direction, p: &Packet) -> Option<(Field, String)> {
    if !rule.enabled {
        return Some((Field::Disabled, "the rule is disabled".into()));
    }
    if rule.direction != direction {
        return Some((
            Field::Direction,
            format!("the rule is for {}, the packet is {direction}", rule.direction),
        ));
    }
    if let Some(f) = rule.family {
        if Some(f) != p.family() {
            return Some((Field::Family, format!("the rule is for {f}, the packet is not")));
        }
    }
    if let Some(proto) = rule.protocol {
        if proto != p.protocol {
            return Some((
                Field::Protocol,
                format!(
                    "protocol `{}` is not the rule's `{}`",
                    proto_name(p.protocol),
                    proto_name(proto)
                ),
            ));
        }
    }
    if !rule.dst_ports.contains(p.dst_port) {
        return Some((
            Field::Port,
            format!(
                "destination port `{}` is not in the rule's `{}`",
                p.dst_port, rule.dst_ports
            ),
        ));
    }
    if !rule.src_ports.contains(p.src_port) {
        return Some((
            Field::SourcePort,
            format!(
                "source port `{}` is not in the rule's `{}`",
                p.src_port, rule.src_ports
            ),
        ));
    }
    if p.is_icmp() && !rule.icmp.matches(p.icmp_type, p.icmp_code) {
        let t = rule
            .icmp
            .icmp_type
            .map(|t| t.to_string())
            .unwrap_or_else(|| "any".into());
        let c = rule
            .icmp
            .icmp_code
            .map(|c| c.to_string())
            .unwrap_or_else(|| "any".into());
        return Some((
            Field::Icmp,
            format!(
                "icmp type `{}` code `{}` is not the rule's type `{t}` code `{c}`",
                p.icmp_type, p.icmp_code
            ),
        ));
    }
    let (remote, local) = match direction {
        Direction::Ingress => (p.src, p.dst),
        Direction::Egress => (p.dst, p.src),
    };
    let remote_ok = match &rule.remote {
        Remote::Any => true,
        Remote::Cidr(n) => n.contains(&remote),
        Remote::Group(g) => cloud.members(*g).any(|m| m.ips.contains(&remote)),
        Remote::AddressGroup(a) => cloud.address_group(*a).is_some_and(|ag| ag.contains(&remote)),
    };
    if !remote_ok {
        return Some((
            Field::RemoteAddress,
            format!(
                "remote address `{remote}` is not in {}",
                remote_text(cloud, &rule.remote)
            ),
        ));
    }
    if let Some(n) = &rule.local {
        if !n.contains(&local) {
            return Some((
                Field::LocalAddress,
                format!("local address `{local}` is not in the rule's `{n}`"),
            ));
        }
    }
    None
}

/// A single-rule edit of a group, the change a [`Fix`] proposes.
#[derive(Clone, Debug, PartialEq)]
pub enum Edit {
    /// Add `rule` to `group`.
    Add {
        /// The group that gets the rule.
        group: GroupKey,
        /// The rule as sgeval models it (key and id are placeholders).
        rule: Box<Rule>,
    },
    /// Remove a rule (narrowing it to nothing).
    Remove {
        /// The rule.
        rule: RuleRef,
    },
}

/// The smallest single-rule change found that flips a hop's verdict.
#[derive(Clone, Debug, PartialEq)]
pub struct Fix {
    /// What changes.
    pub change: Edit,
    /// The hop's decision now.
    pub before: Decision,
    /// The hop's decision after the change (checked with the reference evaluator).
    pub after: Decision,
    /// The change in words.
    pub summary: String,
    /// The provider API to call.
    pub api: String,
    /// The request, in the provider's field names.
    pub request: Request,
}

impl Fix {
    /// The change as a scenario call: `{"api", "params" | "body", "path"}`.
    pub fn call_json(&self) -> Value {
        let mut m = serde_json::Map::new();
        m.insert("api".into(), json!(self.api));
        if let Some(p) = &self.request.params {
            m.insert("params".into(), p.clone());
        }
        if let Some(b) = &self.request.body {
            m.insert("body".into(), b.clone());
        }
        if let Some(p) = &self.request.path {
            m.insert("path".into(), json!(p));
        }
        Value::Object(m)
    }

    /// [`Fix::call_json`] written for the scenario the cloud came from, to be pasted back
    /// into its `calls`: a string that is the id a call with `ref` created (or a path
    /// segment that is) becomes `$ref`, and every other `$` is doubled (`$$`, a literal
    /// dollar sign in a scenario). `refs` is [`crate::scenario::Replay::refs`]; when two
    /// refs name one id the first in name order is used.
    pub fn call_json_with_refs(&self, refs: &BTreeMap<String, String>) -> Value {
        let mut by_id: HashMap<&str, &str> = HashMap::new();
        for (name, id) in refs {
            by_id.entry(id.as_str()).or_insert(name.as_str());
        }
        let word = |s: &str| match by_id.get(s) {
            Some(name) => format!("${name}"),
            None => s.replace('$', "$$"),
        };
        fn walk(v: &Value, word: &dyn Fn(&str) -> String) -> Value {
            match v {
                Value::String(s) => Value::String(word(s)),
                Value::Array(items) => Value::Array(items.iter().map(|x| walk(x, word)).collect()),
                Value::Object(map) => {
                    Value::Object(map.iter().map(|(k, x)| (k.clone(), walk(x, word))).collect())
                }
                other => other.clone(),
            }
        }
        let mut call = self.call_json();
        if let Value::Object(map) = &mut call {
            for key in ["params", "body"] {
                if let Some(v) = map.get_mut(key) {
                    *v = walk(v, &word);
                }
            }
            if let Some(Value::String(path)) = map.get_mut("path") {
                *path = path.split('/').map(word).collect::<Vec<_>>().join("/");
            }
        }
        call
    }

    /// `{"summary", "before", "after", "call"}`.
    pub fn to_json(&self, cloud: &Cloud) -> Value {
        json!({
            "summary": self.summary,
            "before": decision_text(cloud, &self.before),
            "after": self.after.verdict,
            "call": self.call_json(),
        })
    }
}

/// The smallest single-rule change that flips the verdict of `endpoint`'s hop in
/// `direction` for `packet`, or `None` when no single rule can (an established
/// connection, the ECS intra-group policy, a decision no added rule can outrank and no
/// removal flips, or a Gcore allow that several rules give).
///
/// Tried in order, each checked with the reference evaluator on a copy of the cloud:
/// 1. add the narrowest rule that flips it: the packet's remote address as a host
///    prefix, its protocol (where the provider can name it, else all), its destination
///    port (port protocols), its ICMP type and code (Gcore); placed just high enough to
///    outrank what decided (priority one better, the same priority for a deny since
///    deny wins ties, an earlier Huawei group when priority 1 is taken);
/// 2. remove the rule that decided.
///
/// When the provider's front end answers the rendered API, the request is also replayed
/// on a copy of the cloud and must succeed and flip the verdict.
pub fn fix(cloud: &Cloud, endpoint: EndpointKey, direction: Direction, packet: &Packet) -> Option<Fix> {
    fix_checked(cloud, endpoint, direction, packet, true)
}

/// [`fix`], optionally without replaying the request through the front end (for clouds
/// built without provider calls, which the front ends do not know).
pub(crate) fn fix_checked(
    cloud: &Cloud,
    endpoint: EndpointKey,
    direction: Direction,
    packet: &Packet,
    replay: bool,
) -> Option<Fix> {
    let ep = cloud.endpoint(endpoint)?;
    let family = packet.family()?;
    if packet.state == ConnState::Established {
        return None;
    }
    let before = Evaluator::new(cloud).evaluate(endpoint, direction, packet);
    let want = match before.verdict {
        Verdict::Allow => Verdict::Deny,
        Verdict::Deny => Verdict::Allow,
    };
    let provider = cloud.provider();
    let mut candidates: Vec<Edit> = Vec::new();
    let decider = match before.reason {
        Reason::Rule(r) => cloud.rule(r).map(|rule| (r, rule)),
        _ => None,
    };
    let action = match want {
        Verdict::Allow => Action::Allow,
        Verdict::Deny => Action::Deny,
    };
    // Where a new rule must go, and at which priority, to outrank the decision.
    let placement: Option<(GroupKey, u8)> = match (provider, before.reason, decider) {
        (_, Reason::IntraGroup { .. }, _) => None,
        (Provider::Gcore, _, _) if want == Verdict::Deny => None,
        (Provider::Gcore, _, _) => ep.groups.first().map(|&g| (g, 0)),
        (Provider::Ecs | Provider::Ens, _, Some((r, rule))) => {
            let p = if want == Verdict::Deny {
                Some(rule.priority)
            } else {
                rule.priority.checked_sub(1)
            };
            p.filter(|&p| p >= 1).map(|p| (r.group, p))
        }
        (Provider::Huawei, _, Some((r, rule))) => {
            if want == Verdict::Deny {
                Some((r.group, rule.priority))
            } else if rule.priority > 1 {
                Some((r.group, rule.priority - 1))
            } else {
                let pos = ep.groups.iter().position(|&g| g == r.group).unwrap_or(0);
                pos.checked_sub(1).map(|i| (ep.groups[i], 100))
            }
        }
        (_, Reason::Default { .. }, _) => ep.groups.first().map(|&g| (g, 100)),
        _ => None,
    };
    if let Some((group, priority)) = placement {
        if let Some(rule) = narrow_rule(provider, direction, family, packet, action, priority) {
            candidates.push(Edit::Add {
                group,
                rule: Box::new(rule),
            });
        }
    }
    if let Some((r, _)) = decider {
        candidates.push(Edit::Remove { rule: r });
    }
    for change in candidates {
        let mut trial = cloud.clone();
        apply(&mut trial, &change);
        let after = Evaluator::new(&trial).evaluate(endpoint, direction, packet);
        if after.verdict != want {
            continue;
        }
        let Some((api, request)) = render(cloud, &change) else {
            continue;
        };
        if replay && provider.apis().contains(&api.as_str()) {
            let mut replay = cloud.clone();
            let response = replay.call(&api, &request);
            let flipped = Evaluator::new(&replay)
                .evaluate(endpoint, direction, packet)
                .verdict
                == want;
            if !response.is_success() || !flipped {
                continue;
            }
        }
        let summary = summary(cloud, &change, &before, &after);
        return Some(Fix {
            change,
            before,
            after,
            summary,
            api,
            request,
        });
    }
    None
}

/// A fix for a whole flow ([`flow::trace`]): for a denied flow, the fix of its one
/// denying hop (two denying hops need two changes: `None`); for an allowed flow, the fix
/// of the ingress hop, else of the egress hop. Returns the hop's endpoint and direction
/// with the fix.
pub fn fix_flow(cloud: &Cloud, packet: &Packet) -> Option<(EndpointKey, Direction, Fix)> {
    fix_flow_checked(cloud, packet, true)
}

/// [`fix_flow`], optionally without replaying requests (see [`fix_checked`]).
pub(crate) fn fix_flow_checked(
    cloud: &Cloud,
    packet: &Packet,
    replay: bool,
) -> Option<(EndpointKey, Direction, Fix)> {
    let trace = flow::trace(cloud, &Evaluator::new(cloud), packet);
    let hops: Vec<&flow::Hop> = match trace.verdict {
        Verdict::Deny => {
            let denying: Vec<&flow::Hop> = trace.hops.iter().filter(|h| !h.decision.is_allow()).collect();
            if denying.len() != 1 {
                return None;
            }
            denying
        }
        Verdict::Allow => trace.hops.iter().rev().collect(),
    };
    hops.into_iter().find_map(|h| {
        fix_checked(cloud, h.endpoint, h.direction, packet, replay).map(|f| (h.endpoint, h.direction, f))
    })
}

/// Whether a provider can name a protocol in a rule (else the rule takes all protocols).
fn nameable(provider: Provider, p: u8) -> bool {
    match provider {
        Provider::Ecs => [
            packet::TCP,
            packet::UDP,
            packet::ICMP,
            packet::ICMPV6,
            packet::GRE,
        ]
        .contains(&p),
        // The single-rule calls take tcp, udp, icmp, gre and all (E3).
        Provider::Ens => [packet::TCP, packet::UDP, packet::ICMP, packet::GRE].contains(&p),
        Provider::Huawei => true,
        Provider::Gcore => crate::provider::gcore::rules::protocol_name(p).is_some(),
    }
}

/// Whether the provider's rules carry ports for this protocol.
fn ported(provider: Provider, p: u8) -> bool {
    match provider {
        Provider::Ecs | Provider::Ens | Provider::Huawei => {
            matches!(crate::Protocol(p), crate::Protocol::TCP | crate::Protocol::UDP)
        }
        Provider::Gcore => crate::Protocol(p).has_ports(),
    }
}

/// The narrowest rule the provider can express that matches `p` in `direction`.
fn narrow_rule(
    provider: Provider,
    direction: Direction,
    family: Family,
    p: &Packet,
    action: Action,
    priority: u8,
) -> Option<Rule> {
    let remote = match direction {
        Direction::Ingress => p.src,
        Direction::Egress => p.dst,
    };
    // A protocol tied to the other family (ICMP over IPv6, ICMPv6 or an IPv6 extension
    // header over IPv4) cannot be named in a rule of the packet's family: every provider
    // refuses or rewrites it, so the narrowest rule is "all protocols".
    let foreign = crate::Protocol(p.protocol).family().is_some_and(|f| f != family);
    let protocol = (nameable(provider, p.protocol) && !foreign).then_some(p.protocol);
    let dst_ports = match protocol {
        Some(proto) if ported(provider, proto) => {
            if p.dst_port == 0 {
                return None; // every provider starts port ranges at 1
            }
            Ports::range(PortRange::single(p.dst_port))
        }
        _ => Ports::any(),
    };
    let icmp = if provider == Provider::Gcore && protocol.is_some() && p.is_icmp() {
        IcmpMatch {
            icmp_type: Some(p.icmp_type),
            icmp_code: Some(p.icmp_code),
        }
    } else {
        IcmpMatch::ANY
    };
    let verb = match action {
        Action::Allow => "allow",
        Action::Deny => "deny",
    };
    Some(Rule {
        key: crate::rule::RuleKey::new(0),
        id: "(new)".into(),
        direction,
        family: Some(family),
        protocol,
        dst_ports,
        src_ports: Ports::any(),
        icmp,
        remote: Remote::Cidr(IpNet::from(remote)),
        local: None,
        action,
        priority,
        enabled: true,
        // Words, not `->`: Huawei refuses `<` and `>` in a description (H1), and the fix
        // must pass the provider's own validation.
        description: format!(
            "sgeval fix: {verb} {} from {} to {}{}",
            crate::Protocol(p.protocol),
            p.src,
            p.dst,
            if crate::Protocol(p.protocol).has_ports() {
                format!(" port {}", p.dst_port)
            } else {
                String::new()
            }
        ),
        shown: Value::Null.into(),
    })
}

/// Applies a candidate fix to (a copy of) the cloud, through the model's transaction.
fn apply(cloud: &mut Cloud, change: &Edit) {
    cloud.edit_with(|txn| match change {
        Edit::Add { group, rule } => {
            let mut rule = (**rule).clone();
            rule.key = txn.rule_key_mark();
            txn.push_rules(*group, vec![rule]);
        }
        Edit::Remove { rule } => txn.remove_rules(rule.group, &[rule.rule]),
    })
}

fn summary(cloud: &Cloud, change: &Edit, before: &Decision, after: &Decision) -> String {
    let what = match change {
        Edit::Add { group, rule } => format!(
            "add to group {} the rule: {}",
            group_quoted(cloud, *group),
            crate::flow::describe_rule(cloud, rule)
        ),
        Edit::Remove { rule } => format!(
            "remove rule `{}` of group {}",
            rule_id(cloud, *rule),
            group_quoted(cloud, rule.group)
        ),
    };
    format!("{what} (now {}, then {})", before.verdict, after.verdict)
}

fn shown_or(cloud: &Cloud, g: GroupKey, keys: &[&str], default: &str) -> String {
    cloud
        .group(g)
        .and_then(|g| {
            keys.iter().find_map(|k| match g.shown.get(*k) {
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                _ => None,
            })
        })
        .unwrap_or_else(|| default.to_owned())
}

/// The change as the provider's request: API name and request, written by the
/// provider's own `emit`.
fn render(cloud: &Cloud, change: &Edit) -> Option<(String, Request)> {
    let provider = cloud.provider();
    let target = |g: GroupKey| {
        let (region, project) = match provider {
            Provider::Ecs => (Some(shown_or(cloud, g, &["RegionId"], "cn-hangzhou")), None),
            Provider::Ens => (None, None),
            Provider::Huawei => (None, Some(shown_or(cloud, g, &["project_id"], "project"))),
            Provider::Gcore => (
                Some(shown_or(cloud, g, &["region_id"], "1")),
                Some(shown_or(cloud, g, &["project_id"], "1")),
            ),
        };
        Target {
            group: group_id(cloud, g),
            region,
            project,
        }
    };
    let draft = |rule: &Rule| {
        RuleDraft::of_rule(
            rule,
            |g| group_id(cloud, g),
            |a| cloud.address_group(a).map(|a| a.id.clone()).unwrap_or_default(),
        )
    };
    let (api, request) = match change {
        Edit::Add { group, rule } => provider.emit(&target(*group), &draft(rule))?,
        Edit::Remove { rule: r } => {
            let rule = cloud.rule(*r)?;
            provider.emit_remove(&target(r.group), &rule.id, &draft(rule))?
        }
    };
    Some((api.to_owned(), request))
}
