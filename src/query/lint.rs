//! Rule hygiene: per endpoint, across all its groups, the rules that can never decide a
//! packet, redundant rules, conflicts that a silent order decides, rules that match
//! nothing, and provider encoding traps.
//!
//! Every finding about what a rule decides is exact: it is computed on the partition of
//! the endpoint's header space (remote address, the endpoint's own addresses, protocol,
//! ports, ICMP type/code) in the provider's order, as [`crate::reference`] decides.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;
use serde_json::{json, Value};

use super::hop::{hop_list, remote_local_dims, remote_set, Entry, HopList};
use super::partition::{partition_depth, NONE};
use super::ranges::Ranges;
use super::render::{endpoint_name, group_id, group_quoted, group_text, quoted, rule_json, rule_text};
use super::space::{
    full_cube, icmp_kind, packet_json, Cube, Shape, DPORT, DST, ICODE, ITYPE, NDIM, PROTO, SPORT, SRC,
};
use crate::cloud::Cloud;
use crate::decision::{Reason, RuleRef, Verdict};
use crate::group::{EndpointKey, GroupKey};
use crate::packet::{ConnState, Packet};
use crate::protocol::Protocol;
use crate::provider::Provider;
use crate::rule::{Action, Direction, Family, Remote, Rule, RuleKey};

/// What a finding is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// The rule never decides a packet at the endpoint: rules before it in the
    /// provider's order (higher priority, earlier group, ...) decide everything it
    /// matches. `related` names them.
    Shadowed,
    /// The rule decides packets, but removing it changes no verdict: what decides
    /// instead (`related`, or the provider default) gives the same answer.
    Redundant,
    /// Two overlapping rules with opposite actions where an order the rules do not state
    /// decides: equal priorities (drop/deny wins the tie), Huawei's group association
    /// order over a better priority in a later group, or the ECS intra-group policy over
    /// a drop rule. (A rule carved out of another by a strictly better priority is an
    /// explicit exception, not a conflict.) `related` names the rule that wins; the
    /// witness is a packet both match that the winner decides.
    Conflict,
    /// The rule matches no packet: disabled, a remote group without members, an empty
    /// address group, or (at an endpoint) a local prefix that holds none of its
    /// addresses.
    MatchNothing,
    /// A port protocol whose port encoding means every port (`-1/-1` on TCP for
    /// Alibaba, empty `multiport` for Huawei, null `port_range_min`/`max` for Gcore).
    AllPorts,
    /// A rule that references its own group.
    SelfReference,
    /// More rules in a group than the provider's quota
    /// ([`crate::Profile::rules_per_group`]: ECS and ENS 200, Huawei 50).
    /// (ECS's limit of 1000 rules across a NIC's groups is enforced by the front end.)
    Quota,
    /// An ingress rule that lets every address of a family in (`0.0.0.0/0`, `::/0`, or
    /// no remote at all), of any provider; on ECS/ENS also a `SourceCidrIp` that silently
    /// replaced a `SourceGroupId` or a prefix list.
    Widened,
}

impl FindingKind {
    /// Every kind.
    pub const ALL: [FindingKind; 8] = [
        FindingKind::Shadowed,
        FindingKind::Redundant,
        FindingKind::Conflict,
        FindingKind::MatchNothing,
        FindingKind::AllPorts,
        FindingKind::SelfReference,
        FindingKind::Quota,
        FindingKind::Widened,
    ];

    /// The snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::Shadowed => "shadowed",
            FindingKind::Redundant => "redundant",
            FindingKind::Conflict => "conflict",
            FindingKind::MatchNothing => "match_nothing",
            FindingKind::AllPorts => "all_ports",
            FindingKind::SelfReference => "self_reference",
            FindingKind::Quota => "quota",
            FindingKind::Widened => "widened",
        }
    }

    /// `warning` for what is likely a mistake, `info` for what is often meant.
    pub fn severity(self) -> &'static str {
        match self {
            FindingKind::Redundant | FindingKind::SelfReference => "info",
            _ => "warning",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    /// What it is.
    pub kind: FindingKind,
    /// The endpoints where it holds (empty for findings about a group or rule alone).
    pub endpoints: Vec<EndpointKey>,
    /// The direction, for findings at endpoints.
    pub direction: Option<Direction>,
    /// The group the finding is about (the rule's group for rule findings).
    pub group: Option<GroupKey>,
    /// The rule the finding is about.
    pub rule: Option<RuleRef>,
    /// The other rules involved: what shadows the rule, what decides instead of a
    /// redundant rule, the winner of a conflict (an intra-group policy appears as
    /// [`Reason::IntraGroup`]).
    pub related: Vec<Reason>,
    /// What is wrong, in words.
    pub message: String,
    /// A packet that shows it, where one exists.
    pub witness: Option<Packet>,
    /// Why the user accepts it, when an [`Ack`] names it: an acknowledged finding is still
    /// listed but is no warning (`lint --strict` passes it).
    pub acknowledged: Option<String>,
}

/// A user's acknowledgement of a finding they mean to keep (a public web tier open to the
/// internet): the finding's kind and the rule (or, for group findings, the group) it is
/// about, by the id the provider shows, with the reason.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    /// The kind of finding.
    pub kind: FindingKind,
    /// The rule id (or group id) the finding is about.
    pub subject: String,
    /// Why it is acceptable.
    pub reason: String,
}

impl std::str::FromStr for FindingKind {
    type Err = String;

    /// A kind by its snake_case name (`widened`, `shadowed`, ...).
    fn from_str(s: &str) -> Result<FindingKind, String> {
        FindingKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = FindingKind::ALL.iter().map(|k| k.name()).collect();
                format!("unknown finding kind `{s}` (one of {})", names.join(", "))
            })
    }
}

/// Marks the findings that `acks` name as acknowledged, and returns the acks that name no
/// finding (stale: the rule changed or is gone), so they can be reported rather than
/// silently kept.
pub fn acknowledge(cloud: &Cloud, findings: &mut [Finding], acks: &[Ack]) -> Vec<Ack> {
    let mut stale = Vec::new();
    for ack in acks {
        let mut hit = false;
        for f in findings.iter_mut().filter(|f| f.kind == ack.kind) {
            let subject = match (f.rule, f.group) {
                (Some(r), _) => cloud.rule(r).map(|rule| rule.id.clone()),
                (None, Some(g)) => cloud.group(g).map(|g| g.id.clone()),
                (None, None) => None,
            };
            if subject.as_deref() == Some(ack.subject.as_str()) {
                f.acknowledged = Some(ack.reason.clone());
                hit = true;
            }
        }
        if !hit {
            stale.push(ack.clone());
        }
    }
    stale
}

/// Every finding of a cloud, ordered by kind, then group and rule.
pub fn lint(cloud: &Cloud) -> Vec<Finding> {
    let mut out = Vec::new();
    group_findings(cloud, &mut out);
    // Findings that hold at several endpoints alike are one finding naming them all.
    let mut merged: BTreeMap<MergeKey, Finding> = BTreeMap::new();
    for (i, _) in cloud.endpoints().iter().enumerate() {
        let mut found = Vec::new();
        endpoint_findings(cloud, EndpointKey::new(i as u32), &mut found);
        for f in found {
            let key = (
                f.kind,
                f.rule,
                f.related.iter().map(reason_key).collect(),
                f.direction,
                f.message.clone(),
            );
            match merged.get_mut(&key) {
                Some(existing) => existing.endpoints.extend(f.endpoints),
                None => {
                    merged.insert(key, f);
                }
            }
        }
    }
    out.extend(merged.into_values());
    out.sort_by(|a, b| {
        (a.kind, a.group, a.rule.map(|r| r.rule), a.direction).cmp(&(
            b.kind,
            b.group,
            b.rule.map(|r| r.rule),
            b.direction,
        ))
    });
    out
}

type ReasonKey = (u8, Option<GroupKey>, Option<RuleKey>);

/// What makes two endpoint findings the same finding.
type MergeKey = (
    FindingKind,
    Option<RuleRef>,
    Vec<ReasonKey>,
    Option<Direction>,
    String,
);

fn reason_key(r: &Reason) -> ReasonKey {
    match r {
        Reason::Rule(r) => (0, Some(r.group), Some(r.rule)),
        Reason::IntraGroup { group } => (1, Some(*group), None),
        _ => (2, None, None),
    }
}

fn rule_finding(kind: FindingKind, group: GroupKey, rule: &Rule, message: String) -> Finding {
    Finding {
        kind,
        endpoints: Vec::new(),
        direction: None,
        group: Some(group),
        rule: Some(RuleRef {
            group,
            rule: rule.key,
        }),
        related: Vec::new(),
        message,
        witness: None,
        acknowledged: None,
    }
}

/// Whether a rule has the shape of one the provider adds by itself: Huawei's four
/// default rules of a new group (allow everything from the group itself, and to
/// anywhere, priority 100) and Gcore's default allow-all rules (Decision 6). These are
/// not the user's doing, so hygiene findings about them are left out.
fn provider_default(provider: Provider, group: GroupKey, rule: &Rule) -> bool {
    let bare = rule.protocol.is_none()
        && rule.dst_ports.is_any()
        && rule.src_ports.is_any()
        && rule.local.is_none()
        && rule.action == Action::Allow
        && rule.description.is_empty();
    match provider {
        Provider::Huawei => {
            bare && rule.priority == 100
                && match rule.direction {
                    Direction::Ingress => rule.remote == Remote::Group(group),
                    Direction::Egress => rule.remote == Remote::Any,
                }
        }
        Provider::Gcore => bare && rule.remote == Remote::Any,
        Provider::Ecs | Provider::Ens => false,
    }
}

fn shown_str<'a>(rule: &'a Rule, keys: &[&str]) -> Option<&'a str> {
    keys.iter()
        .find_map(|k| rule.shown.get(*k).and_then(Value::as_str))
        .filter(|s| !s.is_empty())
}

/// Findings about groups and rules on their own: traps, quotas, rules that match nothing
/// anywhere.
fn group_findings(cloud: &Cloud, out: &mut Vec<Finding>) {
    let provider = cloud.provider();
    for group in cloud.groups() {
        if let Some(limit) = provider.profile().rules_per_group {
            if group.rules.len() > limit {
                out.push(Finding {
                    kind: FindingKind::Quota,
                    endpoints: Vec::new(),
                    direction: None,
                    group: Some(group.key),
                    rule: None,
                    related: Vec::new(),
                    message: format!(
                        "group `{}` has {} rules; {provider} allows {limit} per group",
                        group.id,
                        group.rules.len()
                    ),
                    witness: None,
                    acknowledged: None,
                });
            }
        }
        for rule in &group.rules {
            let g = group.key;
            if provider_default(provider, g, rule) {
                continue;
            }
            if !rule.enabled {
                out.push(rule_finding(
                    FindingKind::MatchNothing,
                    g,
                    rule,
                    "the rule is disabled (`enabled: false`) and matches nothing".into(),
                ));
                continue;
            }
            let families: Vec<Family> = match rule.family {
                Some(f) => vec![f],
                None => vec![Family::V4, Family::V6],
            };
            if families
                .iter()
                .all(|&f| remote_set(cloud, &rule.remote, f).is_empty())
            {
                let why = match &rule.remote {
                    Remote::Group(r) if cloud.members(*r).next().is_some() => format!(
                        "no member of its remote group {} has an address of the rule's family",
                        group_quoted(cloud, *r)
                    ),
                    Remote::Group(r) => {
                        format!("its remote group {} has no members", group_quoted(cloud, *r))
                    }
                    Remote::AddressGroup(a) => match cloud.address_group(*a) {
                        Some(ag) if ag.entries.is_empty() => {
                            format!("its address group {} is empty", quoted(&ag.id, &ag.name))
                        }
                        Some(ag) => format!(
                            "its address group {} holds no address of the rule's family",
                            quoted(&ag.id, &ag.name)
                        ),
                        None => format!("its address group {a} does not exist"),
                    },
                    Remote::Cidr(net) => format!("its remote `{net}` is not of the rule's family"),
                    Remote::Any => "its remote holds no address".into(),
                };
                out.push(rule_finding(
                    FindingKind::MatchNothing,
                    g,
                    rule,
                    format!("the rule matches nothing: {why}"),
                ));
            }
            if let Some(p) = rule.protocol.map(Protocol).filter(|p| p.has_ports()) {
                if rule.dst_ports.is_any() {
                    let name = p.name().unwrap_or("tcp");
                    let how = match provider {
                        Provider::Ecs | Provider::Ens => match shown_str(rule, &["PortRange"]) {
                            Some(r) => format!("`PortRange` `{r}` on {name}"),
                            None => format!("the port range of this {name} rule"),
                        },
                        Provider::Huawei => format!("an empty `multiport` on {name}"),
                        Provider::Gcore => format!("null `port_range_min`/`port_range_max` on {name}"),
                    };
                    out.push(rule_finding(
                        FindingKind::AllPorts,
                        g,
                        rule,
                        format!("{how} means every port (0-65535), not none"),
                    ));
                }
            }
            if rule.remote == Remote::Group(g) {
                let note = match provider {
                    Provider::Ecs => "ECS refuses this through its API (`InvalidParamter.Conflict`)",
                    _ => "every member of the group, including members added later, is matched",
                };
                out.push(rule_finding(
                    FindingKind::SelfReference,
                    g,
                    rule,
                    format!("the rule references its own group `{}`: {note}", group.id),
                ));
            }
            // Every provider: an ingress allow from a whole family. Gcore rules only allow.
            if rule.direction == Direction::Ingress
                && (rule.action == Action::Allow || provider == Provider::Gcore)
                && rule.enabled
            {
                let whole = match &rule.remote {
                    Remote::Any => true,
                    Remote::Cidr(net) => net.prefix_len() == 0,
                    _ => false,
                };
                let group_ref = shown_str(rule, &["SourceGroupId", "DestGroupId"]);
                let prefix_list = shown_str(rule, &["SourcePrefixListId", "DestPrefixListId"]);
                let mut why = Vec::new();
                if let (Some(gr), Remote::Cidr(net)) = (group_ref, &rule.remote) {
                    why.push(format!(
                        "`SourceCidrIp` `{net}` wins over `SourceGroupId` `{gr}`, which is ignored"
                    ));
                }
                if let (Some(pl), Remote::Cidr(net)) = (prefix_list, &rule.remote) {
                    why.push(format!("prefix list `{pl}` is ignored because `{net}` is given"));
                }
                if whole {
                    why.push(if provider_default(provider, g, rule) {
                        "the provider's own default rule accepts new connections from every address of the family".into()
                    } else {
                        "the rule accepts new connections from every address of the family".into()
                    });
                }
                if whole || !why.is_empty() {
                    out.push(rule_finding(FindingKind::Widened, g, rule, why.join("; ")));
                }
            }
        }
    }
}

/// A rule entry's packets inside `space`, or `None` when it holds none there.
fn clip(e: &Entry, space: &Cube) -> Option<Cube> {
    let mut c: Cube = std::array::from_fn(|d| {
        if d == ITYPE || d == ICODE {
            space[d].clone()
        } else {
            e.cube[d].intersect(&space[d])
        }
    });
    if !e.icmp_any {
        let t = e.cube[ITYPE].intersect(&space[ITYPE]);
        let k = e.cube[ICODE].intersect(&space[ICODE]);
        if t.is_empty() || k.is_empty() {
            // Only the entry's non-ICMP packets are left.
            c[PROTO] = c[PROTO].subtract(&Ranges::from_ranges([(1, 1), (58, 58)]));
        } else {
            c[ITYPE] = t;
            c[ICODE] = k;
        }
    }
    (!c.iter().any(Ranges::is_empty)).then_some(c)
}

/// Whether entry `e` holds some packet of `c` (as [`clip`], without building the box).
fn meets(e: &Entry, c: &Cube) -> bool {
    if ![PROTO, DPORT, SRC, DST, SPORT]
        .iter()
        .all(|&d| e.cube[d].intersects(&c[d]))
    {
        return false;
    }
    if e.icmp_any {
        return true;
    }
    let protocols = e.cube[PROTO].intersect(&c[PROTO]);
    icmp_kind(&protocols) != Some(true)
        || (e.cube[ITYPE].intersects(&c[ITYPE]) && e.cube[ICODE].intersects(&c[ICODE]))
}

/// Whether entry `e` holds every packet of `bx`.
fn holds(e: &Entry, bx: &Cube) -> bool {
    (0..NDIM).all(|d| {
        if d == ITYPE || d == ICODE {
            e.icmp_any || icmp_kind(&bx[PROTO]) == Some(false) || e.cube[d].is_superset(&bx[d])
        } else {
            e.cube[d].is_superset(&bx[d])
        }
    })
}

fn witness(family: Family, c: &Cube) -> Packet {
    Shape::from_cube(family, c).witness(ConnState::New)
}

/// What one rule does at one endpoint and direction, over the families it lives in.
#[derive(Default)]
struct RuleStudy {
    lives: bool,
    decides: bool,
    changes: bool,
    shadowers: Vec<Reason>,
    replacements: Vec<Reason>,
    sample: Option<Packet>,
}

fn endpoint_findings(cloud: &Cloud, e: EndpointKey, out: &mut Vec<Finding>) {
    let Some(ep) = cloud.endpoint(e) else { return };
    let provider = cloud.provider();
    let families: Vec<Family> = [Family::V4, Family::V6]
        .into_iter()
        .filter(|f| ep.ips.iter().any(|ip| Family::of(ip) == *f))
        .collect();
    for direction in Direction::ALL {
        let mut studies: BTreeMap<RuleRef, RuleStudy> = BTreeMap::new();
        for &family in &families {
            let list = hop_list(cloud, e, direction, family, false);
            let mut space = full_cube(family);
            let (_, local) = remote_local_dims(direction);
            space[local] = member_like(ep.ips.iter().copied(), family);
            let study = Study::new(&list, &space);
            let boxes: Vec<Option<(Cube, Bounds)>> = list
                .entries
                .iter()
                .map(|en| clip(en, &space).map(|c| (bounds(&c), c)).map(|(b, c)| (c, b)))
                .collect();
            study_family(&list, family, &study, &boxes, &mut studies);
            conflicts(cloud, &list, &boxes, family, &study, e, direction, out);
        }
        // Rules of this direction that can live here but hold nothing at this endpoint.
        for &g in &ep.groups {
            let Some(group) = cloud.group(g) else { continue };
            for rule in &group.rules {
                let r = RuleRef {
                    group: g,
                    rule: rule.key,
                };
                if !rule.enabled || rule.direction != direction || provider_default(provider, g, rule) {
                    continue;
                }
                let live: Vec<Family> = families
                    .iter()
                    .copied()
                    .filter(|f| rule.family.is_none_or(|rf| rf == *f))
                    .collect();
                if live.is_empty()
                    || live
                        .iter()
                        .all(|&f| remote_set(cloud, &rule.remote, f).is_empty())
                {
                    continue; // another family only, or reported for the rule itself
                }
                let study = studies.remove(&r).unwrap_or_default();
                if !study.lives {
                    let local = rule.local.map(|n| n.to_string()).unwrap_or_default();
                    out.push(Finding {
                        kind: FindingKind::MatchNothing,
                        endpoints: vec![e],
                        direction: Some(direction),
                        group: Some(g),
                        rule: Some(r),
                        related: Vec::new(),
                        message: if rule.local.is_some() {
                            format!("its local prefix `{local}` holds none of the endpoint's addresses")
                        } else {
                            "it holds no packet this endpoint can send or receive".into()
                        },
                        witness: None,
                        acknowledged: None,
                    });
                } else if !study.decides {
                    let mut message = String::from(
                        "never decides a packet: every packet it matches is decided first by the related rule(s)",
                    );
                    if let Some(why) = shadow_reason(cloud, ep, rule, g, &study.shadowers) {
                        message.push_str(": ");
                        message.push_str(&why);
                    }
                    out.push(Finding {
                        kind: FindingKind::Shadowed,
                        endpoints: vec![e],
                        direction: Some(direction),
                        group: Some(g),
                        rule: Some(r),
                        related: study.shadowers.clone(),
                        message,
                        witness: study.sample,
                        acknowledged: None,
                    });
                } else if !study.changes {
                    out.push(Finding {
                        kind: FindingKind::Redundant,
                        endpoints: vec![e],
                        direction: Some(direction),
                        group: Some(g),
                        rule: Some(r),
                        related: study.replacements.clone(),
                        message: if study.replacements.is_empty() {
                            "removing it changes no verdict: the provider default decides the same".into()
                        } else {
                            "removing it changes no verdict: the related rule(s) (or the provider default) \
                             decide the same"
                                .into()
                        },
                        witness: None,
                        acknowledged: None,
                    });
                }
            }
        }
    }
}

/// Why a shadowing may surprise: an order the rules do not state (Huawei's group order
/// over a better priority, a tie that drop/deny wins, the ECS intra-group policy).
fn shadow_reason(
    cloud: &Cloud,
    ep: &crate::group::Endpoint,
    rule: &Rule,
    group: GroupKey,
    shadowers: &[Reason],
) -> Option<String> {
    let pos = |g: GroupKey| ep.groups.iter().position(|&x| x == g);
    for s in shadowers {
        match s {
            Reason::IntraGroup { group: ig } => {
                return Some(format!(
                    "the intra-group policy of {} (InnerAccessPolicy=Accept) goes before every rule",
                    group_quoted(cloud, *ig)
                ))
            }
            Reason::Rule(r) => {
                let Some(other) = cloud.rule(*r) else { continue };
                if cloud.provider() == Provider::Huawei
                    && r.group != group
                    && pos(r.group) < pos(group)
                    && other.priority > rule.priority
                {
                    return Some(format!(
                        "group {} comes before group {} on the endpoint, so its priority-{} rule goes \
                         before this priority-{} rule",
                        group_quoted(cloud, r.group),
                        group_quoted(cloud, group),
                        other.priority,
                        rule.priority
                    ));
                }
                if other.priority == rule.priority
                    && other.action != rule.action
                    && other.action == Action::Deny
                {
                    return Some(format!(
                        "at equal priority {} the provider lets {} win",
                        rule.priority,
                        if cloud.provider() == Provider::Huawei {
                            "deny"
                        } else {
                            "drop"
                        }
                    ));
                }
            }
            _ => {}
        }
    }
    None
}

/// The set of an endpoint's addresses of `family`.
fn member_like(ips: impl Iterator<Item = std::net::IpAddr>, family: Family) -> Ranges {
    Ranges::from_ranges(ips.filter(|ip| Family::of(ip) == family).map(|ip| {
        let v = super::ranges::addr_value(ip);
        (v, v)
    }))
}

fn push_unique(v: &mut Vec<Reason>, r: Reason) {
    if !v.contains(&r) {
        v.push(r);
    }
}

/// The partition of one hop's space, uniform in the first two matching entries: for
/// every leaf, the entry that decides and the one that would decide without it.
struct Study {
    leaves: Vec<super::partition::Leaf>,
    /// Leaves by deciding entry.
    by_first: BTreeMap<u32, Vec<usize>>,
}

impl Study {
    fn new(list: &HopList, space: &Cube) -> Study {
        let leaves = partition_depth(&[list], space, 2);
        let mut by_first: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
        for (i, leaf) in leaves.iter().enumerate() {
            by_first.entry(leaf.picks[0]).or_default().push(i);
        }
        Study { leaves, by_first }
    }

    /// The first leaf where entry `first` decides and `other` holds a packet: that
    /// packet region.
    fn decided_by_and_held(&self, first: u32, other: &Entry) -> Option<Cube> {
        self.by_first
            .get(&first)?
            .iter()
            .filter(|&&l| meets(other, &self.leaves[l].cube))
            .find_map(|&l| clip(other, &self.leaves[l].cube))
    }
}

/// The bounding box of an entry's packets in the space (lowest and highest value of the
/// protocol, port and address dimensions), for quick rejection.
type Bounds = [(u128, u128); 5];

const BOUND_DIMS: [usize; 5] = [PROTO, DPORT, SRC, DST, SPORT];

fn bounds(c: &Cube) -> Bounds {
    std::array::from_fn(|k| {
        let r = &c[BOUND_DIMS[k]];
        (r.first().unwrap_or(0), r.last().unwrap_or(0))
    })
}

fn bounds_meet(a: &Bounds, b: &Bounds) -> bool {
    a.iter().zip(b).all(|(x, y)| x.0 <= y.1 && y.0 <= x.1)
}

/// Whether each rule entry decides somewhere, and whether removing it changes a verdict.
fn study_family(
    list: &HopList,
    family: Family,
    study: &Study,
    boxes: &[Option<(Cube, Bounds)>],
    studies: &mut BTreeMap<RuleRef, RuleStudy>,
) {
    for (i, entry) in list.entries.iter().enumerate() {
        let Some(r) = entry.rule() else { continue };
        let s = studies.entry(r).or_default();
        let Some((_, bi)) = &boxes[i] else { continue };
        s.lives = true;
        let own = entry.decision.verdict;
        match study.by_first.get(&(i as u32)) {
            Some(leaves) => {
                s.decides = true;
                s.sample = None;
                s.shadowers.clear();
                for &l in leaves {
                    let instead = study.leaves[l].picks[1];
                    let d = list.decision(instead);
                    if d.verdict != own {
                        s.changes = true;
                    } else if instead != NONE {
                        push_unique(&mut s.replacements, d.reason);
                    }
                }
                if s.changes {
                    s.replacements.clear();
                }
            }
            None if !s.decides => {
                // INVARIANT: the entry holds all of its box, so the leaves that meet it
                // are decided by earlier entries: those shadow it.
                for (j, earlier) in list.entries.iter().enumerate().take(i) {
                    let Some((_, bj)) = &boxes[j] else { continue };
                    if !bounds_meet(bi, bj) {
                        continue;
                    }
                    let Some(leaves) = study.by_first.get(&(j as u32)) else {
                        continue;
                    };
                    if let Some(&l) = leaves.iter().find(|&&l| meets(entry, &study.leaves[l].cube)) {
                        push_unique(&mut s.shadowers, earlier.decision.reason);
                        if s.sample.is_none() {
                            s.sample = clip(entry, &study.leaves[l].cube).map(|c| witness(family, &c));
                        }
                    }
                }
            }
            None => {}
        }
    }
}

/// Conflicts between an earlier entry `a` and a later entry `b` of opposite verdicts.
#[allow(clippy::too_many_arguments)]
fn conflicts(
    cloud: &Cloud,
    list: &HopList,
    boxes: &[Option<(Cube, Bounds)>],
    family: Family,
    study: &Study,
    e: EndpointKey,
    direction: Direction,
    out: &mut Vec<Finding>,
) {
    let provider = cloud.provider();
    if provider == Provider::Gcore {
        return; // allow-only rules never conflict
    }
    for (ai, a) in list.entries.iter().enumerate() {
        let Some((abox, ab)) = &boxes[ai] else { continue };
        if !study.by_first.contains_key(&(ai as u32)) {
            continue; // `a` decides nothing, so it wins no overlap
        }
        for (bi, b) in list.entries.iter().enumerate().skip(ai + 1) {
            let Some((bbox, bb)) = &boxes[bi] else { continue };
            if a.decision.verdict == b.decision.verdict
                || !bounds_meet(ab, bb)
                || !BOUND_DIMS.iter().all(|&d| abox[d].intersects(&bbox[d]))
            {
                continue;
            }
            let Some(rb) = b.rule() else { continue };
            if holds(a, bbox) {
                continue; // b is shadowed there; reported as shadowed when wholly so
            }
            let rule_a = a.rule().and_then(|r| cloud.rule(r));
            let rule_b = cloud.rule(rb);
            let why = match (a.decision.reason, rule_a, rule_b) {
                (Reason::IntraGroup { group }, _, Some(_)) => Some(format!(
                    "the intra-group policy of {} (InnerAccessPolicy=Accept) lets members through before \
                     every rule, so this drop never applies between members",
                    group_quoted(cloud, group)
                )),
                (Reason::Rule(ra), Some(x), Some(y)) => {
                    let tie = x.priority == y.priority;
                    let cross_group = provider == Provider::Huawei && ra.group != rb.group;
                    if cross_group && x.priority > y.priority {
                        Some(format!(
                            "group {} comes before group {} on the endpoint, so its priority-{} rule wins \
                             over this priority-{} rule",
                            group_quoted(cloud, ra.group),
                            group_quoted(cloud, rb.group),
                            x.priority,
                            y.priority
                        ))
                    } else if tie && !cross_group {
                        Some(format!(
                            "equal priority {}: the provider lets {} win the tie",
                            x.priority,
                            if provider == Provider::Huawei {
                                "deny"
                            } else {
                                "drop"
                            }
                        ))
                    } else {
                        None // an exception carved out by an explicit priority
                    }
                }
                _ => None,
            };
            let Some(why) = why else { continue };
            let Some(overlap) = study.decided_by_and_held(ai as u32, b) else {
                continue; // earlier rules decide the whole overlap
            };
            out.push(Finding {
                kind: FindingKind::Conflict,
                endpoints: vec![e],
                direction: Some(direction),
                group: Some(rb.group),
                rule: Some(rb),
                related: vec![a.decision.reason],
                message: format!(
                    "overlaps the related rule, which {} what both match: {why}",
                    match a.decision.verdict {
                        Verdict::Allow => "allows",
                        Verdict::Deny => "denies",
                    }
                ),
                witness: Some(witness(family, &overlap)),
                acknowledged: None,
            });
        }
    }
}

fn reason_json(cloud: &Cloud, r: &Reason) -> Value {
    match r {
        Reason::Rule(r) => rule_json(cloud, *r),
        Reason::IntraGroup { group } => json!({"group": group_id(cloud, *group), "intra_group": true}),
        other => json!({ "reason": other }),
    }
}

fn reason_text(cloud: &Cloud, r: &Reason) -> String {
    match r {
        Reason::Rule(r) => rule_text(cloud, *r),
        Reason::IntraGroup { group } => format!("intra-group policy of {}", group_text(cloud, *group)),
        other => format!("{other:?}"),
    }
}

impl Finding {
    /// The finding as JSON: `{"kind", "severity", "endpoints", "direction", "group",
    /// "rule": {"group", "rule", "shown"}, "related": [...], "message", "witness"}`.
    pub fn to_json(&self, cloud: &Cloud) -> Value {
        json!({
            "kind": self.kind,
            "severity": self.kind.severity(),
            "endpoints": self.endpoints.iter().map(|e| endpoint_name(cloud, *e)).collect::<Vec<_>>(),
            "direction": self.direction,
            "group": self.group.map(|g| group_id(cloud, g)),
            "rule": self.rule.map(|r| rule_json(cloud, r)),
            "related": self.related.iter().map(|r| reason_json(cloud, r)).collect::<Vec<_>>(),
            "message": self.message,
            "witness": self.witness.as_ref().map(packet_json),
            "acknowledged": self.acknowledged,
        })
    }

    /// The finding for people, a few lines.
    pub fn to_text(&self, cloud: &Cloud) -> String {
        let mut s = format!("{} {}", self.kind.severity(), self.kind);
        if let Some(r) = self.rule {
            s.push_str(&format!(": {}", rule_text(cloud, r)));
        } else if let Some(g) = self.group {
            s.push_str(&format!(": group {}", group_text(cloud, g)));
        }
        if !self.endpoints.is_empty() {
            let names: Vec<String> = self.endpoints.iter().map(|e| endpoint_name(cloud, *e)).collect();
            s.push_str(&format!(" at {}", names.join(", ")));
            if let Some(d) = self.direction {
                s.push_str(&format!(" ({d})"));
            }
        }
        s.push_str(&format!("\n    {}\n", self.message));
        if let Some(why) = &self.acknowledged {
            s.push_str(&format!("    acknowledged: {why}\n"));
        }
        for r in &self.related {
            s.push_str(&format!("    related: {}\n", reason_text(cloud, r)));
        }
        if let Some(w) = &self.witness {
            s.push_str(&format!("    e.g. {w}\n"));
        }
        s
    }
}

/// The findings as JSON: `{"findings": [...], "counts": {"shadowed": n, ...}}`.
pub fn to_json(cloud: &Cloud, findings: &[Finding]) -> Value {
    let mut counts = serde_json::Map::new();
    for f in findings {
        let n = counts.get(f.kind.name()).and_then(Value::as_u64).unwrap_or(0);
        counts.insert(f.kind.name().into(), json!(n + 1));
    }
    json!({
        "findings": findings.iter().map(|f| f.to_json(cloud)).collect::<Vec<_>>(),
        "counts": counts,
    })
}
