//! Answers that depend on what an import left unresolved.
//!
//! An imported scenario carries, beside its calls, the facts its documents did not settle
//! (`"unresolved": [...]`, see [`crate::import::scenario`]): a rule whose prefix list or
//! port list was not given, a Huawei v1 rule without priority, a group whose rules were not
//! listed, a port whose group order is not known. Replay ignores them; this module tells
//! whether one packet's answer at one hop depends on them, without touching the engines.
//!
//! For a hop, the decision the documents settle is the first rule in the provider's
//! decision order (`order.rs`) that matches, **skipping** the rules whose own fields
//! are in doubt, else the provider default (the "base"). Every unresolved rule that could
//! match the packet on the fields it has (an unknown field matches everything) and could
//! come before the base (an unknown priority is anywhere in its group's block; an unknown
//! action is both verdicts) adds its verdicts to the possible ones; a group whose rules are
//! unknown adds both verdicts wherever it could come first. For a Huawei endpoint whose
//! group order is unknown, every permutation of its groups is tried. When the possible
//! verdicts differ, the answer is unresolved, and the items it depends on are named.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::{Deserialize, Serialize};

use crate::cloud::{Cloud, Request};
use crate::decision::{Decision, Reason, RuleRef, Verdict};
use crate::group::{EndpointKey, GroupKey};
use crate::import::{Origin, UnresolvedKind};
use crate::order;
use crate::packet::{ConnState, Packet};
use crate::provider::Provider;
use crate::rule::{Action, Direction, Remote, Rule, RuleKey};

/// A part of a rule the documents did not give.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aspect {
    /// The remote side (a prefix list, a group or address group not described).
    Remote,
    /// The ports (a port-range list).
    Ports,
    /// The protocol (and with it the ports and ICMP fields).
    Protocol,
    /// Allow or deny.
    Action,
    /// The priority: anywhere in its group's block.
    Priority,
    /// Everything: the rule may match any packet in its direction, at any priority, with
    /// either action.
    All,
}

/// A create call for a rule whose unknown fields were widened so the provider's front end
/// accepts it: the rest of the rule, as the provider reads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Placeholder {
    /// The API (`AuthorizeSecurityGroup`, `CreateSecurityGroupRule`).
    pub api: String,
    /// The request, naming the group by its real id.
    #[serde(flatten)]
    pub request: Request,
}

/// What an unresolved item leaves open, in terms the decision procedure can use.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "on")]
pub enum Effect {
    /// A rule of `group` with the `unknown` aspects.
    Rule {
        /// The group's id.
        group: String,
        /// The rule's direction.
        direction: Direction,
        /// What is not known.
        unknown: Vec<Aspect>,
        /// The rule's id in the cloud, when the rule is there (only its priority or action
        /// are in doubt).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rule: Option<String>,
        /// When the rule is not in the cloud: its create call with the unknown fields
        /// widened (absent: every field is unknown).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request: Option<Box<Placeholder>>,
    },
    /// The association order of an endpoint's groups is unknown (Huawei decides by it).
    GroupOrder {
        /// The endpoint's name.
        endpoint: String,
    },
    /// A group whose rules (or type) are not known: as if it held a rule that matches
    /// anything, at any priority, with either action.
    Group {
        /// The group's id.
        group: String,
        /// When the group is not in the cloud: the endpoint it belongs to ...
        #[serde(default, skip_serializing_if = "Option::is_none")]
        endpoint: Option<String>,
        /// ... and its place in that endpoint's association order.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        position: Option<usize>,
    },
}

/// One fact an imported scenario's documents did not settle.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Item {
    /// What kind of gap.
    pub kind: UnresolvedKind,
    /// The rule, group or endpoint whose meaning depends on it.
    pub subject: String,
    /// The attribute concerned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Where it was read.
    #[serde(default)]
    pub origin: Origin,
    /// What is missing and how to supply it.
    pub message: String,
    /// What it leaves open; absent when no answer can be tied to it (an object that is not
    /// in the scenario).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<Effect>,
}

impl std::fmt::Display for Item {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = serde_json::to_value(&self.kind)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        write!(f, "{kind} `{}`", self.subject)?;
        if let Some(field) = &self.field {
            write!(f, " ({field})")?;
        }
        write!(f, " at {}: {}", self.origin, self.message)
    }
}

/// The rule an item stands for, as far as it is known.
#[derive(Clone, Debug)]
enum Shape {
    /// In the cloud under this key.
    InCloud(RuleKey),
    /// Parsed from the item's widened request.
    Placeholder(Box<Rule>),
    /// Nothing but its group and direction.
    Wildcard,
}

#[derive(Clone, Debug)]
struct Pending {
    item: usize,
    group: GroupKey,
    direction: Direction,
    unknown: BTreeSet<Aspect>,
    shape: Shape,
}

/// A group of unknown content on an endpoint.
#[derive(Clone, Debug)]
enum UnknownGroup {
    /// In the cloud: its described rules are there, more may exist.
    InCloud(GroupKey),
    /// Not in the cloud: on `endpoint` at `position`.
    Missing { endpoint: String, position: usize },
}

/// The unresolved facts of a scenario, tied to the cloud built from it.
#[derive(Clone, Debug)]
pub struct Unknowns {
    items: Vec<Item>,
    rules: Vec<Pending>,
    groups: Vec<(usize, UnknownGroup)>,
    /// Endpoint name -> the group-order item.
    order: HashMap<String, usize>,
    untied: Vec<usize>,
}

/// What one hop's answer may be.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HopDepends {
    /// Every verdict some reading of the unresolved items gives.
    pub verdicts: BTreeSet<Verdict>,
    /// The items (indices into [`Unknowns::items`]) that could decide the hop, or did.
    pub items: Vec<usize>,
}

impl HopDepends {
    /// Whether the verdict depends on unresolved items.
    pub fn is_unresolved(&self) -> bool {
        self.verdicts.len() > 1
    }
}

/// What a whole flow's answer may be: each hop's [`HopDepends`] (empty without unresolved
/// items). The flow may allow when every hop may allow, and deny when any hop may deny, as
/// `sgeval check` answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FlowDepends {
    /// By hop of the flow.
    pub hops: Vec<HopDepends>,
}

impl FlowDepends {
    /// The hops of `flow` (of `packet`) judged against `unknowns`; none without them.
    pub fn of(
        cloud: &Cloud,
        packet: &Packet,
        flow: &crate::flow::Flow,
        unknowns: Option<&Unknowns>,
    ) -> FlowDepends {
        let hops = match unknowns {
            None => Vec::new(),
            Some(u) => flow
                .hops
                .iter()
                .map(|h| u.hop(cloud, h.endpoint, h.direction, packet, &h.decision))
                .collect(),
        };
        FlowDepends { hops }
    }

    /// The verdicts the flow may have: allow when every hop may allow, deny when any may deny.
    pub fn verdicts(&self) -> Vec<Verdict> {
        let mut out = Vec::new();
        if self.hops.iter().all(|h| h.verdicts.contains(&Verdict::Allow)) {
            out.push(Verdict::Allow);
        }
        if self.hops.iter().any(|h| h.verdicts.contains(&Verdict::Deny)) {
            out.push(Verdict::Deny);
        }
        out
    }

    /// Whether the flow's verdict depends on unresolved items.
    pub fn is_unresolved(&self) -> bool {
        !self.hops.is_empty() && self.verdicts().len() > 1
    }

    /// Every item (index into [`Unknowns::items`]) some hop depends on, each once, in hop order.
    pub fn items(&self) -> Vec<usize> {
        let mut out: Vec<usize> = Vec::new();
        for i in self.hops.iter().flat_map(|h| &h.items) {
            if !out.contains(i) {
                out.push(*i);
            }
        }
        out
    }

    /// Marks a flow's JSON (`{"verdict", "hops": [...]}`, as `sgeval check --json` writes it):
    /// each hop's `possible_verdicts` and `depends_on`, `"verdict": "unresolved"` with
    /// `possible_verdicts` when the flow's verdict depends on them, the flow's `depends_on`,
    /// and the items tied to no object of the scenario (`not_tied`).
    pub fn mark_json(&self, unknowns: &Unknowns, out: &mut serde_json::Value) {
        use serde_json::json;
        let items = unknowns.items();
        for (i, h) in self.hops.iter().enumerate() {
            if !h.items.is_empty() {
                out["hops"][i]["possible_verdicts"] = json!(h.verdicts);
                out["hops"][i]["depends_on"] = json!(h.items.iter().map(|&k| &items[k]).collect::<Vec<_>>());
            }
        }
        if self.is_unresolved() {
            out["verdict"] = json!("unresolved");
            out["possible_verdicts"] = json!(self.verdicts());
        }
        let all = self.items();
        if !all.is_empty() {
            out["depends_on"] = json!(all.iter().map(|&k| &items[k]).collect::<Vec<_>>());
        }
        let untied: Vec<_> = unknowns.untied().collect();
        if !untied.is_empty() {
            out["not_tied"] = json!(untied);
        }
    }
}

/// The place of the base decision in the decision order.
#[derive(Clone, Copy, Debug)]
enum Base {
    /// ECS intra-group policy: before every rule.
    First,
    /// A rule at group index `group`.
    Rule {
        group: usize,
        priority: u8,
        allow: bool,
        key: RuleKey,
    },
    /// The provider default: after every rule.
    Last,
}

/// A group slot in an endpoint's association order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Slot {
    Real(GroupKey),
    /// A group not in the cloud (index into `Unknowns::groups`).
    Missing(usize),
}

/// More groups than this on one endpoint with unknown order: every verdict is possible
/// (8! orders are tried at most).
const MAX_PERMUTED: usize = 8;

impl Unknowns {
    /// Ties `items` to `cloud` (built from the same scenario). A widened request the front
    /// end refuses makes its rule a wildcard: never less doubt than the documents leave.
    pub fn new(cloud: &Cloud, items: &[Item]) -> Unknowns {
        let mut out = Unknowns {
            items: items.to_vec(),
            rules: Vec::new(),
            groups: Vec::new(),
            order: HashMap::new(),
            untied: Vec::new(),
        };
        let mut scratch: Option<Cloud> = None;
        for (i, item) in items.iter().enumerate() {
            let tied = match &item.effect {
                None => false,
                Some(Effect::GroupOrder { endpoint }) => {
                    out.order.insert(endpoint.clone(), i);
                    cloud.endpoint_by_name(endpoint).is_some()
                }
                Some(Effect::Group {
                    group,
                    endpoint,
                    position,
                }) => match (cloud.group_by_id(group), endpoint) {
                    (Some(g), _) => {
                        out.groups.push((i, UnknownGroup::InCloud(g.key)));
                        true
                    }
                    (None, Some(e)) => {
                        out.groups.push((
                            i,
                            UnknownGroup::Missing {
                                endpoint: e.clone(),
                                position: position.unwrap_or(usize::MAX),
                            },
                        ));
                        cloud.endpoint_by_name(e).is_some()
                    }
                    (None, None) => false,
                },
                Some(Effect::Rule {
                    group,
                    direction,
                    unknown,
                    rule,
                    request,
                }) => match cloud.group_by_id(group) {
                    None => false,
                    Some(g) => {
                        let mut unknown: BTreeSet<Aspect> = unknown.iter().copied().collect();
                        let shape = match (rule, request) {
                            (Some(id), _) => match g.rules.iter().find(|r| r.id == *id) {
                                Some(r) => Shape::InCloud(r.key),
                                None => Shape::Wildcard,
                            },
                            (None, Some(p)) => {
                                let scratch = scratch.get_or_insert_with(|| cloud.clone());
                                placeholder(scratch, g.key, p)
                                    .map_or(Shape::Wildcard, |r| Shape::Placeholder(Box::new(r)))
                            }
                            (None, None) => Shape::Wildcard,
                        };
                        if matches!(shape, Shape::Wildcard) {
                            unknown.insert(Aspect::All);
                        }
                        out.rules.push(Pending {
                            item: i,
                            group: g.key,
                            direction: *direction,
                            unknown,
                            shape,
                        });
                        true
                    }
                },
            };
            if !tied {
                out.untied.push(i);
            }
        }
        out
    }

    /// The items, as given.
    pub fn items(&self) -> &[Item] {
        &self.items
    }

    /// The items no answer can be tied to (their subject is not in the scenario): listed
    /// with every answer, since it cannot say whether it depends on them.
    pub fn untied(&self) -> impl Iterator<Item = &Item> {
        self.untied.iter().map(|&i| &self.items[i])
    }

    /// The items (indices into [`Unknowns::items`], ascending) an answer through `hops` may
    /// depend on: every item about a group, rule or group order at a hop's endpoint in the
    /// hop's direction. This is conservative: an item is named whenever it could touch a
    /// hop at all, whatever the packets (see [`Unknowns::hop`] for one packet's answer).
    pub fn touches(&self, cloud: &Cloud, hops: &[crate::flow::Hop]) -> Vec<usize> {
        let mut out = BTreeSet::new();
        for h in hops {
            for (i, item) in self.items.iter().enumerate() {
                if item_touches(cloud, item, h.endpoint, Some(h.direction)) {
                    out.insert(i);
                }
            }
        }
        out.into_iter().collect()
    }

    /// The items (indices, ascending) a lint finding may depend on: those about its group
    /// (a rule of it, in the finding's direction when it has one, or the group itself), and
    /// those that could touch its endpoints ([`item_touches`]). Conservative, as
    /// [`Unknowns::touches`].
    pub fn concerns(&self, cloud: &Cloud, finding: &crate::query::Finding) -> Vec<usize> {
        let group = finding.group.and_then(|g| cloud.group(g)).map(|g| g.id.as_str());
        let same = |id: &str| group == Some(id);
        (0..self.items.len())
            .filter(|&i| {
                let item = &self.items[i];
                let about_group = match &item.effect {
                    Some(Effect::Rule { group, direction, .. }) => {
                        same(group) && finding.direction.is_none_or(|d| d == *direction)
                    }
                    Some(Effect::Group { group, .. }) => same(group),
                    _ => false,
                };
                about_group
                    || finding
                        .endpoints
                        .iter()
                        .any(|&e| item_touches(cloud, item, e, finding.direction))
            })
            .collect()
    }

    /// The verdicts `endpoint`'s groups may give `packet` in `direction`, `actual` being
    /// the engine's decision on the cloud as built.
    pub fn hop(
        &self,
        cloud: &Cloud,
        endpoint: EndpointKey,
        direction: Direction,
        packet: &Packet,
        actual: &Decision,
    ) -> HopDepends {
        let mut out = HopDepends {
            verdicts: BTreeSet::from([actual.verdict]),
            items: Vec::new(),
        };
        if packet.family().is_none() || packet.state == ConnState::Established {
            return out;
        }
        let Some(ep) = cloud.endpoint(endpoint) else {
            return out;
        };
        let provider = cloud.provider();
        let pending: Vec<&Pending> = self
            .rules
            .iter()
            .filter(|p| p.direction == direction && ep.groups.contains(&p.group))
            .collect();
        let mut slots: Vec<Slot> = ep.groups.iter().map(|&g| Slot::Real(g)).collect();
        let mut missing: Vec<(usize, usize)> = self
            .groups
            .iter()
            .enumerate()
            .filter_map(|(k, (_, g))| match g {
                UnknownGroup::Missing { endpoint, position } if *endpoint == ep.name => Some((*position, k)),
                _ => None,
            })
            .collect();
        missing.sort_unstable();
        for (position, k) in missing {
            slots.insert(position.min(slots.len()), Slot::Missing(k));
        }
        let unknown_content: Vec<(usize, GroupKey)> = self
            .groups
            .iter()
            .filter_map(|(i, g)| match g {
                UnknownGroup::InCloud(key) if ep.groups.contains(key) => Some((*i, *key)),
                _ => None,
            })
            .collect();
        let order_item = self
            .order
            .get(&ep.name)
            .copied()
            .filter(|_| provider == Provider::Huawei);
        if pending.is_empty()
            && unknown_content.is_empty()
            && slots.len() == ep.groups.len()
            && order_item.is_none()
        {
            return out;
        }
        let skip: HashSet<RuleKey> = pending
            .iter()
            .filter_map(|p| match p.shape {
                Shape::InCloud(k) => Some(k),
                _ => None,
            })
            .collect();
        // A rule in doubt that decided on the cloud as built is named whatever the verdicts.
        if let Some(k) = actual_rule(actual) {
            if let Some(p) = pending
                .iter()
                .find(|p| matches!(p.shape, Shape::InCloud(x) if x == k))
            {
                push(&mut out.items, p.item);
            }
        }
        let orders: Vec<Vec<Slot>> = match order_item {
            Some(i) if slots.len() > MAX_PERMUTED => {
                out.verdicts.extend([Verdict::Allow, Verdict::Deny]);
                push(&mut out.items, i);
                return out;
            }
            Some(_) => permutations(&slots),
            None => vec![slots.clone()],
        };
        let mut as_given = BTreeSet::new();
        for (n, order) in orders.iter().enumerate() {
            let mut verdicts = BTreeSet::new();
            let real: Vec<GroupKey> = order
                .iter()
                .filter_map(|s| match s {
                    Slot::Real(g) => Some(*g),
                    Slot::Missing(_) => None,
                })
                .collect();
            let index: HashMap<GroupKey, usize> = order
                .iter()
                .enumerate()
                .filter_map(|(i, s)| match s {
                    Slot::Real(g) => Some((*g, i)),
                    Slot::Missing(_) => None,
                })
                .collect();
            let (base, at) = base(cloud, &real, &index, direction, packet, &skip);
            // The base decides in some reading unless a rule that surely exists and
            // matches (only its priority or action in doubt) must come before it.
            let mut base_possible = true;
            for p in &pending {
                let rule = known_rule(cloud, p);
                if !could_match(cloud, p, rule, direction, packet) {
                    continue;
                }
                let gi = index.get(&p.group).copied().unwrap_or(usize::MAX);
                let priority = if p.unknown.contains(&Aspect::Priority) || p.unknown.contains(&Aspect::All) {
                    None
                } else {
                    rule.map(|r| r.priority)
                };
                let actions = actions(provider, p, rule);
                let key = match p.shape {
                    Shape::InCloud(k) => Some(k),
                    _ => None,
                };
                if precedes(provider, gi, priority, actions.contains(&Verdict::Deny), key, at) {
                    verdicts.extend(actions.iter().copied());
                    push(&mut out.items, p.item);
                }
                let certain = rule.is_some()
                    && matches!(p.shape, Shape::InCloud(_))
                    && p.unknown
                        .iter()
                        .all(|a| matches!(a, Aspect::Priority | Aspect::Action));
                if certain && !follows(provider, gi, priority, actions.contains(&Verdict::Allow), key, at) {
                    base_possible = false;
                }
            }
            if base_possible {
                verdicts.insert(base.verdict);
            }
            let wild = |gi: usize| precedes(provider, gi, None, provider != Provider::Gcore, None, at);
            let both = if provider == Provider::Gcore {
                vec![Verdict::Allow]
            } else {
                vec![Verdict::Allow, Verdict::Deny]
            };
            for (i, s) in order.iter().enumerate() {
                if let Slot::Missing(k) = s {
                    if wild(i) {
                        verdicts.extend(both.iter().copied());
                        push(&mut out.items, self.groups[*k].0);
                    }
                }
            }
            for (item, g) in &unknown_content {
                // Its own intra-group policy is as uncertain as its type (an advanced group
                // has none).
                let own_policy = matches!(base.reason, Reason::IntraGroup { group } if group == *g);
                if own_policy || wild(index.get(g).copied().unwrap_or(usize::MAX)) {
                    verdicts.extend(both.iter().copied());
                    push(&mut out.items, *item);
                }
            }
            if n == 0 {
                as_given.clone_from(&verdicts);
            }
            out.verdicts.extend(verdicts);
        }
        if let Some(i) = order_item {
            if out.verdicts
                != as_given
                    .union(&BTreeSet::from([actual.verdict]))
                    .copied()
                    .collect()
            {
                push(&mut out.items, i);
            }
        }
        out
    }
}

/// The rule behind a pending item, when there is one to read (`None` for a wildcard).
fn known_rule<'c>(cloud: &'c Cloud, p: &'c Pending) -> Option<&'c Rule> {
    match &p.shape {
        Shape::InCloud(k) => cloud
            .group(p.group)
            .and_then(|g| g.rules.iter().find(|r| r.key == *k))
            .map(|r| &**r),
        Shape::Placeholder(r) => Some(r),
        Shape::Wildcard => None,
    }
}

fn actual_rule(d: &Decision) -> Option<RuleKey> {
    match d.reason {
        Reason::Rule(RuleRef { rule, .. }) => Some(rule),
        _ => None,
    }
}

fn push(items: &mut Vec<usize>, i: usize) {
    if !items.contains(&i) {
        items.push(i);
    }
}

/// Replays a widened request on the scratch cloud and takes the rule it creates.
fn placeholder(scratch: &mut Cloud, group: GroupKey, p: &Placeholder) -> Option<Rule> {
    let before: HashSet<RuleKey> = scratch.group(group)?.rules.iter().map(|r| r.key).collect();
    let answer = scratch.call(&p.api, &p.request);
    if !answer.is_success() {
        return None;
    }
    let new: Vec<&Rule> = scratch
        .group(group)?
        .rules
        .iter()
        .filter(|r| !before.contains(&r.key))
        .map(|r| &**r)
        .collect();
    match new.as_slice() {
        [one] => Some((*one).clone()),
        _ => None,
    }
}

/// The decision the documents settle: the provider's order over the rules not in doubt.
fn base(
    cloud: &Cloud,
    groups: &[GroupKey],
    index: &HashMap<GroupKey, usize>,
    direction: Direction,
    packet: &Packet,
    skip: &HashSet<RuleKey>,
) -> (Decision, Base) {
    let peer = remote(direction, packet);
    for g in order::intra_groups(cloud, groups) {
        if cloud.members(g).any(|m| m.ips.contains(&peer)) {
            return (
                Decision {
                    verdict: Verdict::Allow,
                    reason: Reason::IntraGroup { group: g },
                },
                Base::First,
            );
        }
    }
    for (g, r) in order::rules(cloud, groups, |r| {
        r.direction == direction && !skip.contains(&r.key)
    }) {
        if matches(cloud, r, direction, packet) {
            let verdict = order::verdict(cloud.provider(), r);
            return (
                Decision::rule(
                    verdict,
                    RuleRef {
                        group: g,
                        rule: r.key,
                    },
                ),
                Base::Rule {
                    group: index.get(&g).copied().unwrap_or(usize::MAX),
                    priority: r.priority,
                    allow: verdict == Verdict::Allow,
                    key: r.key,
                },
            );
        }
    }
    (order::fallback(cloud, groups, direction), Base::Last)
}

fn remote(direction: Direction, packet: &Packet) -> std::net::IpAddr {
    match direction {
        Direction::Ingress => packet.src,
        Direction::Egress => packet.dst,
    }
}

fn local(direction: Direction, packet: &Packet) -> std::net::IpAddr {
    match direction {
        Direction::Ingress => packet.dst,
        Direction::Egress => packet.src,
    }
}

fn remote_holds(cloud: &Cloud, remote: &Remote, addr: std::net::IpAddr) -> bool {
    match remote {
        Remote::Any => true,
        Remote::Cidr(net) => net.contains(&addr),
        Remote::Group(g) => cloud.members(*g).any(|m| m.ips.contains(&addr)),
        Remote::AddressGroup(a) => cloud.address_group(*a).is_some_and(|ag| ag.contains(&addr)),
    }
}

/// Whether a rule of known fields matches (as the reference evaluator reads a rule).
fn matches(cloud: &Cloud, r: &Rule, direction: Direction, packet: &Packet) -> bool {
    r.enabled
        && r.direction == direction
        && r.matches_header(packet)
        && r.local.is_none_or(|net| net.contains(&local(direction, packet)))
        && remote_holds(cloud, &r.remote, remote(direction, packet))
}

/// Whether an unresolved rule could match: its unknown aspects match everything.
fn could_match(
    cloud: &Cloud,
    p: &Pending,
    rule: Option<&Rule>,
    direction: Direction,
    packet: &Packet,
) -> bool {
    let u = &p.unknown;
    let Some(r) = rule else {
        return p.direction == direction;
    };
    if u.contains(&Aspect::All) {
        return r.direction == direction;
    }
    let any_proto = u.contains(&Aspect::Protocol);
    let any_remote = u.contains(&Aspect::Remote);
    r.enabled
        && r.direction == direction
        && (any_remote || r.family.is_none_or(|f| Some(f) == packet.family()))
        && (any_proto || r.protocol.is_none_or(|x| x == packet.protocol))
        && (any_proto
            || u.contains(&Aspect::Ports)
            || (r.dst_ports.contains(packet.dst_port) && r.src_ports.contains(packet.src_port)))
        && (any_proto || !packet.is_icmp() || r.icmp.matches(packet.icmp_type, packet.icmp_code))
        && r.local.is_none_or(|net| net.contains(&local(direction, packet)))
        && (any_remote || remote_holds(cloud, &r.remote, remote(direction, packet)))
}

/// The verdicts an unresolved rule may give when it decides.
fn actions(provider: Provider, p: &Pending, rule: Option<&Rule>) -> Vec<Verdict> {
    if provider == Provider::Gcore {
        return vec![Verdict::Allow];
    }
    match rule {
        Some(r) if !p.unknown.contains(&Aspect::Action) && !p.unknown.contains(&Aspect::All) => {
            vec![if r.action == Action::Allow {
                Verdict::Allow
            } else {
                Verdict::Deny
            }]
        }
        _ => vec![Verdict::Allow, Verdict::Deny],
    }
}

/// Whether a rule at group index `gi` with `priority` (`None`: any), that may deny when
/// `deny`, created as `key` (`None`: unknown), could come before the base decision.
fn precedes(
    provider: Provider,
    gi: usize,
    priority: Option<u8>,
    deny: bool,
    key: Option<RuleKey>,
    at: Base,
) -> bool {
    let (bg, bp, ballow, bkey) = match at {
        Base::First => return false,
        Base::Last => return true,
        Base::Rule {
            group,
            priority,
            allow,
            key,
        } => (group, priority, allow, key),
    };
    // The smallest place the rule can take in its block: priority and drop-first rank.
    let rank = (priority.unwrap_or(1), !deny);
    let in_block = || {
        rank < (bp, ballow)
            || (rank == (bp, ballow) && (gi < bg || (gi == bg && key.is_none_or(|k| k < bkey))))
    };
    match provider {
        Provider::Ecs | Provider::Ens => in_block(),
        Provider::Huawei => gi < bg || (gi == bg && in_block()),
        // Every Gcore rule allows: order names the rule, never changes the verdict.
        Provider::Gcore => true,
    }
}

/// Whether a rule that surely matches could come after the base decision (the mirror of
/// [`precedes`]: the largest place it can take).
fn follows(
    provider: Provider,
    gi: usize,
    priority: Option<u8>,
    allow: bool,
    key: Option<RuleKey>,
    at: Base,
) -> bool {
    let (bg, bp, ballow, bkey) = match at {
        Base::First => return true,
        Base::Last => return false,
        Base::Rule {
            group,
            priority,
            allow,
            key,
        } => (group, priority, allow, key),
    };
    let rank = (priority.unwrap_or(u8::MAX), allow);
    let in_block = || {
        rank > (bp, ballow)
            || (rank == (bp, ballow) && (gi > bg || (gi == bg && key.is_none_or(|k| k > bkey))))
    };
    match provider {
        Provider::Ecs | Provider::Ens => in_block(),
        Provider::Huawei => gi > bg || (gi == bg && in_block()),
        Provider::Gcore => true,
    }
}

/// Every order of `slots`.
fn permutations(slots: &[Slot]) -> Vec<Vec<Slot>> {
    if slots.len() <= 1 {
        return vec![slots.to_vec()];
    }
    let mut out = Vec::new();
    for i in 0..slots.len() {
        let mut rest = slots.to_vec();
        let first = rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, first);
            out.push(tail);
        }
    }
    out
}

/// Whether `item` could bear on `endpoint`'s answers in `direction` (either when `None`):
/// it is about one of the endpoint's groups (a rule in that direction, or the group
/// itself), a group to be attached to it, or its group order. Conservative, as
/// [`Unknowns::touches`].
pub fn item_touches(cloud: &Cloud, item: &Item, endpoint: EndpointKey, direction: Option<Direction>) -> bool {
    let Some(e) = cloud.endpoint(endpoint) else {
        return false;
    };
    let has = |id: &str| {
        e.groups
            .iter()
            .any(|&g| cloud.group(g).is_some_and(|g| g.id == id))
    };
    match &item.effect {
        None => false,
        Some(Effect::Rule {
            group, direction: d, ..
        }) => direction.is_none_or(|x| x == *d) && has(group),
        Some(Effect::Group { group, endpoint, .. }) => {
            has(group) || endpoint.as_deref() == Some(e.name.as_str())
        }
        Some(Effect::GroupOrder { endpoint }) => *endpoint == e.name,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::reference::Evaluator;
    use crate::Scenario;

    fn cloud(v: Value) -> (Cloud, Unknowns) {
        let s = Scenario::from_value(&v).unwrap();
        let cloud = s.build().unwrap();
        let u = Unknowns::new(&cloud, &s.unresolved);
        (cloud, u)
    }

    /// The possible verdicts at `endpoint`'s ingress and the subjects of the items named.
    fn ingress(cloud: &Cloud, u: &Unknowns, endpoint: &str, p: &Packet) -> (Vec<Verdict>, Vec<String>) {
        let ep = cloud.endpoint_by_name(endpoint).unwrap();
        let actual = Evaluator::new(cloud).evaluate(ep, Direction::Ingress, p);
        let h = u.hop(cloud, ep, Direction::Ingress, p, &actual);
        (
            h.verdicts.into_iter().collect(),
            h.items.iter().map(|&i| u.items()[i].subject.clone()).collect(),
        )
    }

    fn tcp(src: &str, dst: &str, port: u16) -> Packet {
        Packet::tcp(src.parse().unwrap(), dst.parse().unwrap(), port)
    }

    fn item(subject: &str, effect: Value) -> Value {
        json!({"kind": "prefix_list_entries", "subject": subject, "message": "m", "effect": effect})
    }

    fn ecs_perm(port: &str, policy: &str, priority: u8) -> Value {
        json!({"IpProtocol": "TCP", "PortRange": port, "SourceCidrIp": "0.0.0.0/0", "Policy": policy, "Priority": priority.to_string()})
    }

    /// An ECS group `sg-1` with one drop rule for 22 at priority 10, on `vm`; `items` unresolved.
    fn ecs(items: Value) -> (Cloud, Unknowns) {
        cloud(json!({"provider": "ecs", "calls": [
            {"api": "CreateSecurityGroup", "id": "sg-1", "params": {"RegionId": "cn-hangzhou", "VpcId": "vpc-1"}},
            {"api": "AuthorizeSecurityGroup", "ids": ["sgr-drop"], "params": {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-1",
              "Permissions": [ecs_perm("22/22", "Drop", 10)]}}],
          "endpoints": [{"name": "vm", "ips": ["10.0.0.5"], "groups": ["sg-1"]}],
          "unresolved": items}))
    }

    fn placeholder(port: &str, policy: &str, priority: u8) -> Value {
        json!({"api": "AuthorizeSecurityGroup", "params": {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-1",
               "Permissions": [ecs_perm(port, policy, priority)]}})
    }

    #[test]
    fn an_open_rule_before_the_decider_that_could_match_makes_both_verdicts_possible() {
        let effect = json!({"on": "rule", "group": "sg-1", "direction": "ingress", "unknown": ["remote"],
                            "request": placeholder("22/22", "Accept", 1)});
        let (c, u) = ecs(json!([item("sgr-pl", effect)]));
        assert_eq!(u.untied().count(), 0);
        let (v, items) = ingress(&c, &u, "vm", &tcp("192.0.2.1", "10.0.0.5", 22));
        assert_eq!(v, [Verdict::Allow, Verdict::Deny]);
        assert_eq!(items, ["sgr-pl"]);
        // Port 80: the open rule is for 22 only; the default denies, settled.
        let (v, items) = ingress(&c, &u, "vm", &tcp("192.0.2.1", "10.0.0.5", 80));
        assert_eq!((v, items.len()), (vec![Verdict::Deny], 0));
    }

    #[test]
    fn an_open_rule_after_the_decider_or_losing_the_drop_first_tie_cannot_decide() {
        for (priority, policy) in [(50, "Accept"), (10, "Accept")] {
            let effect = json!({"on": "rule", "group": "sg-1", "direction": "ingress", "unknown": ["remote"],
                                "request": placeholder("22/22", policy, priority)});
            let (c, u) = ecs(json!([item("sgr-pl", effect)]));
            let (v, items) = ingress(&c, &u, "vm", &tcp("192.0.2.1", "10.0.0.5", 22));
            assert_eq!((v, items.len()), (vec![Verdict::Deny], 0), "priority {priority}");
        }
        // A drop at equal priority created later: the same verdict, so settled too.
        let effect = json!({"on": "rule", "group": "sg-1", "direction": "ingress", "unknown": ["remote"],
                            "request": placeholder("22/23", "Drop", 10)});
        let (c, u) = ecs(json!([item("sgr-pl", effect)]));
        let (v, _) = ingress(&c, &u, "vm", &tcp("192.0.2.1", "10.0.0.5", 22));
        assert_eq!(v, [Verdict::Deny]);
    }

    #[test]
    fn an_unknown_priority_is_anywhere_and_an_unknown_action_is_both() {
        // The rule in the cloud at priority 100 (accept) is skipped by the base; with its
        // priority unknown it could come first.
        let (c, u) = cloud(json!({"provider": "ecs", "calls": [
            {"api": "CreateSecurityGroup", "id": "sg-1", "params": {"RegionId": "cn-hangzhou", "VpcId": "vpc-1"}},
            {"api": "AuthorizeSecurityGroup", "ids": ["sgr-drop"], "params": {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-1",
              "Permissions": [ecs_perm("22/22", "Drop", 10)]}},
            {"api": "AuthorizeSecurityGroup", "ids": ["sgr-v1"], "params": {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-1",
              "Permissions": [ecs_perm("1/65535", "Accept", 100)]}}],
          "endpoints": [{"name": "vm", "ips": ["10.0.0.5"], "groups": ["sg-1"]}],
          "unresolved": [item("sgr-v1", json!({"on": "rule", "group": "sg-1", "direction": "ingress", "unknown": ["priority"], "rule": "sgr-v1"}))]}));
        let (v, items) = ingress(&c, &u, "vm", &tcp("192.0.2.1", "10.0.0.5", 22));
        assert_eq!(
            (v, items),
            (vec![Verdict::Allow, Verdict::Deny], vec!["sgr-v1".to_owned()])
        );
        // Port 80: the rule in doubt decides on the cloud as built, and whatever its
        // priority it is the only match: allow, and the item is named.
        let (v, items) = ingress(&c, &u, "vm", &tcp("192.0.2.1", "10.0.0.5", 80));
        assert_eq!((v, items), (vec![Verdict::Allow], vec!["sgr-v1".to_owned()]));
        // An unknown action on a wildcard (no request): both verdicts on any packet.
        let (c, u) = ecs(json!([item(
            "x",
            json!({"on": "rule", "group": "sg-1", "direction": "ingress", "unknown": ["all"]})
        )]));
        let (v, _) = ingress(&c, &u, "vm", &tcp("192.0.2.1", "10.0.0.5", 80));
        assert_eq!(v, [Verdict::Allow, Verdict::Deny]);
    }

    #[test]
    fn a_refused_placeholder_is_a_wildcard() {
        let effect = json!({"on": "rule", "group": "sg-1", "direction": "ingress", "unknown": ["ports"],
                            "request": placeholder("99999/1", "Accept", 1)});
        let (c, u) = ecs(json!([item("sgr-bad", effect)]));
        let (v, _) = ingress(&c, &u, "vm", &tcp("192.0.2.1", "10.0.0.5", 80));
        assert_eq!(v, [Verdict::Allow, Verdict::Deny]);
    }

    fn huawei(order_known: bool, missing: Option<usize>) -> (Cloud, Unknowns) {
        let rule = |g: &str, action: &str| {
            json!({"api": "CreateSecurityGroupRule", "body": {"security_group_rule": {"security_group_id": g, "direction": "ingress",
                   "ethertype": "IPv4", "protocol": "tcp", "multiport": "22", "remote_ip_prefix": "0.0.0.0/0", "action": action, "priority": 1}}})
        };
        let mut items = Vec::new();
        if !order_known {
            items.push(json!({"kind": "group_order", "subject": "port", "message": "m", "effect": {"on": "group_order", "endpoint": "port"}}));
        }
        if let Some(position) = missing {
            items.push(json!({"kind": "missing_object", "subject": "port", "message": "m",
                              "effect": {"on": "group", "group": "g-missing", "endpoint": "port", "position": position}}));
        }
        cloud(json!({"provider": "huawei", "calls": [
            {"api": "CreateSecurityGroup", "id": "g-allow", "defaults": false, "body": {"security_group": {"name": "a"}}},
            {"api": "CreateSecurityGroup", "id": "g-deny", "defaults": false, "body": {"security_group": {"name": "d"}}},
            rule("g-allow", "allow"), rule("g-deny", "deny")],
          "endpoints": [{"name": "port", "ips": ["192.168.0.10"], "groups": ["g-allow", "g-deny"]}],
          "unresolved": items}))
    }

    #[test]
    fn huawei_unknown_group_order_tries_every_order() {
        let p = tcp("192.0.2.1", "192.168.0.10", 22);
        let (c, u) = huawei(true, None);
        assert_eq!(ingress(&c, &u, "port", &p).0, [Verdict::Allow]);
        let (c, u) = huawei(false, None);
        let (v, items) = ingress(&c, &u, "port", &p);
        assert_eq!(
            (v, items),
            (vec![Verdict::Allow, Verdict::Deny], vec!["port".to_owned()])
        );
        // Port 80 matches no rule in any order: settled.
        let (v, items) = ingress(&c, &u, "port", &tcp("192.0.2.1", "192.168.0.10", 80));
        assert_eq!((v, items.len()), (vec![Verdict::Deny], 0));
    }

    #[test]
    fn huawei_missing_group_matters_only_before_the_deciding_group() {
        let p = tcp("192.0.2.1", "192.168.0.10", 22);
        let (c, u) = huawei(true, Some(0));
        assert_eq!(ingress(&c, &u, "port", &p).0, [Verdict::Allow, Verdict::Deny]);
        let (c, u) = huawei(true, Some(2));
        let (v, items) = ingress(&c, &u, "port", &p);
        assert_eq!((v, items.len()), (vec![Verdict::Allow], 0));
    }

    #[test]
    fn gcore_open_rules_can_only_allow_and_established_packets_are_settled() {
        let (c, u) = cloud(json!({"provider": "gcore", "calls": [
            {"api": "CreateSecurityGroup", "id": "g", "defaults": false, "body": {"name": "g", "rules": []}}],
          "endpoints": [{"name": "vm", "ips": ["10.0.0.5"], "groups": ["g"]}],
          "unresolved": [item("r", json!({"on": "rule", "group": "g", "direction": "ingress", "unknown": ["remote"],
              "request": {"api": "CreateSecurityGroupRule", "body": {"group_id": "g", "direction": "ingress", "ethertype": "IPv4",
                          "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"}}}))]}));
        let p = tcp("192.0.2.1", "10.0.0.5", 22);
        assert_eq!(ingress(&c, &u, "vm", &p).0, [Verdict::Allow, Verdict::Deny]);
        assert_eq!(
            ingress(&c, &u, "vm", &tcp("192.0.2.1", "10.0.0.5", 23)).0,
            [Verdict::Deny]
        );
        let mut established = p;
        established.state = ConnState::Established;
        assert_eq!(ingress(&c, &u, "vm", &established).0, [Verdict::Allow]);
    }

    #[test]
    fn a_group_of_unknown_type_puts_its_intra_group_policy_in_doubt() {
        let scenario = |items: Value| {
            cloud(json!({"provider": "ecs", "calls": [
                {"api": "CreateSecurityGroup", "id": "sg-1", "params": {"RegionId": "cn-hangzhou", "VpcId": "vpc-1"}},
                {"api": "ModifySecurityGroupPolicy", "params": {"RegionId": "cn-hangzhou", "SecurityGroupId": "sg-1", "InnerAccessPolicy": "Accept"}}],
              "endpoints": [{"name": "a", "ips": ["10.0.0.5"], "groups": ["sg-1"]}, {"name": "b", "ips": ["10.0.0.6"], "groups": ["sg-1"]}],
              "unresolved": items}))
        };
        let p = tcp("10.0.0.6", "10.0.0.5", 22);
        let (c, u) = scenario(json!([]));
        assert_eq!(ingress(&c, &u, "a", &p).0, [Verdict::Allow]);
        let (c, u) = scenario(
            json!([{"kind": "missing_object", "subject": "sg-1", "field": "SecurityGroupType", "message": "m",
                                      "effect": {"on": "group", "group": "sg-1"}}]),
        );
        assert_eq!(
            ingress(&c, &u, "a", &p),
            (vec![Verdict::Allow, Verdict::Deny], vec!["sg-1".to_owned()])
        );
    }

    #[test]
    fn items_about_objects_not_in_the_scenario_are_untied() {
        let (_, u) = ecs(json!([
            {"kind": "missing_object", "subject": "eni-x", "message": "m"},
            item("r", json!({"on": "rule", "group": "sg-nowhere", "direction": "ingress", "unknown": ["all"]}))
        ]));
        assert_eq!(u.untied().count(), 2);
    }
}
