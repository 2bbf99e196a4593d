//! One hop (an endpoint and a direction) as an ordered first-match list of boxes in the
//! flow's header space, in the exact order of the provider's decision procedure
//! ([`crate::order`], as [`crate::reference`] decides): the first entry that holds a packet
//! decides it, else the fallback.

use super::ranges::Ranges;
use super::space::{full_cube, Cube, DPORT, DST, ICODE, ITYPE, PROTO, SPORT, SRC};
use crate::cloud::Cloud;
use crate::decision::{Decision, Fallback, Reason, RuleRef, Verdict};
use crate::group::{Endpoint, EndpointKey, GroupKey};
use crate::order;
use crate::rule::{Direction, Family, Remote, Rule};

/// A box and the decision it makes when it is the first to hold a packet.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// The packets the entry holds (ICMP dimensions apply to ICMP protocols only).
    pub cube: Cube,
    /// Whether the ICMP dimensions are every value.
    pub icmp_any: bool,
    /// What the entry decides.
    pub decision: Decision,
}

impl Entry {
    /// The rule behind the entry, if it is a rule (not the ECS intra-group policy).
    pub fn rule(&self) -> Option<RuleRef> {
        match self.decision.reason {
            Reason::Rule(r) => Some(r),
            _ => None,
        }
    }
}

/// A hop's decision procedure in one family.
#[derive(Clone, Debug)]
pub(crate) struct HopList {
    pub endpoint: EndpointKey,
    pub direction: Direction,
    pub entries: Vec<Entry>,
    pub fallback: Decision,
}

impl HopList {
    /// The decision of entry `pick`, or the fallback for [`super::partition::NONE`].
    pub fn decision(&self, pick: u32) -> Decision {
        self.entries
            .get(pick as usize)
            .map(|e| e.decision)
            .unwrap_or(self.fallback)
    }
}

/// Where the remote and local addresses of a hop sit in the flow's dimensions.
pub(crate) fn remote_local_dims(direction: Direction) -> (usize, usize) {
    match direction {
        Direction::Ingress => (SRC, DST),
        Direction::Egress => (DST, SRC),
    }
}

/// The addresses of `family` in a rule's remote side.
pub(crate) fn remote_set(cloud: &Cloud, remote: &Remote, family: Family) -> Ranges {
    match remote {
        Remote::Any => Ranges::family(family),
        Remote::Cidr(net) => Ranges::from_net(net, family),
        Remote::Group(g) => member_set(cloud, *g, family),
        Remote::AddressGroup(a) => match cloud.address_group(*a) {
            None => Ranges::empty(),
            Some(ag) => Ranges::from_ranges(ag.entries.iter().filter_map(|e| entry_range(e, family))),
        },
    }
}

/// An address-group entry as a range of `family` (as [`crate::group::AddressEntry::contains`]
/// reads it).
fn entry_range(e: &crate::group::AddressEntry, family: Family) -> Option<(u128, u128)> {
    use super::ranges::{addr_value, family_max};
    match e {
        crate::group::AddressEntry::Net(net) => {
            (Family::of_net(net) == family).then(|| (addr_value(net.network()), addr_value(net.broadcast())))
        }
        crate::group::AddressEntry::Range(first, last) => {
            if Family::of(first) != family {
                return None;
            }
            // `addr <= last` compares across families as IpAddr does: every IPv4 address
            // is below every IPv6 address.
            let hi = if Family::of(last) == family {
                addr_value(*last)
            } else if family == Family::V4 {
                family_max(family)
            } else {
                return None;
            };
            let lo = addr_value(*first);
            (lo <= hi).then_some((lo, hi))
        }
    }
}

/// The private addresses of `family` of a group's members.
pub(crate) fn member_set(cloud: &Cloud, group: GroupKey, family: Family) -> Ranges {
    Ranges::from_ranges(
        cloud
            .members(group)
            .flat_map(|m| m.ips.iter())
            .filter(|ip| Family::of(ip) == family)
            .map(|ip| {
                let v = super::ranges::addr_value(*ip);
                (v, v)
            }),
    )
}

/// A rule's box in the flow dimensions of a hop in `direction` and `family`, or `None`
/// when the rule can never match there (disabled, other direction, other family, or a
/// field that holds nothing).
pub(crate) fn rule_cube(cloud: &Cloud, rule: &Rule, direction: Direction, family: Family) -> Option<Cube> {
    if !rule.enabled || rule.direction != direction || rule.family.is_some_and(|f| f != family) {
        return None;
    }
    let mut c = full_cube(family);
    if let Some(p) = rule.protocol {
        c[PROTO] = Ranges::single(p as u128);
    }
    c[DPORT] = Ranges::from_ports(&rule.dst_ports);
    c[SPORT] = Ranges::from_ports(&rule.src_ports);
    if let Some(t) = rule.icmp.icmp_type {
        c[ITYPE] = Ranges::single(t as u128);
    }
    if let Some(code) = rule.icmp.icmp_code {
        c[ICODE] = Ranges::single(code as u128);
    }
    let (remote, local) = remote_local_dims(direction);
    c[remote] = remote_set(cloud, &rule.remote, family);
    if let Some(net) = &rule.local {
        c[local] = Ranges::from_net(net, family);
    }
    if c.iter().any(Ranges::is_empty) {
        return None;
    }
    Some(c)
}

fn rule_entry(
    cloud: &Cloud,
    group: GroupKey,
    rule: &Rule,
    direction: Direction,
    family: Family,
) -> Option<Entry> {
    let cube = rule_cube(cloud, rule, direction, family)?;
    let verdict = order::verdict(cloud.provider(), rule);
    Some(Entry {
        icmp_any: rule.icmp.icmp_type.is_none() && rule.icmp.icmp_code.is_none(),
        cube,
        decision: Decision::rule(
            verdict,
            RuleRef {
                group,
                rule: rule.key,
            },
        ),
    })
}

/// Every rule of an endpoint's groups in the provider's decision order ([`crate::order`]),
/// with its group (all rules, whatever their direction or state; used by explanations).
pub(crate) fn ordered_rules<'c>(cloud: &'c Cloud, ep: &Endpoint) -> Vec<(GroupKey, &'c Rule)> {
    order::rules(cloud, &ep.groups, |_| true)
}

/// The hop's first-match list for new connections (or, when `established`, no entries
/// and the established decision).
pub(crate) fn hop_list(
    cloud: &Cloud,
    endpoint: EndpointKey,
    direction: Direction,
    family: Family,
    established: bool,
) -> HopList {
    let mut list = HopList {
        endpoint,
        direction,
        entries: Vec::new(),
        fallback: Decision::ESTABLISHED,
    };
    if established {
        return list;
    }
    let Some(ep) = cloud.endpoint(endpoint) else {
        list.fallback = Decision::fallback(Verdict::Deny, Fallback::NoGroup);
        return list;
    };
    let (remote, _) = remote_local_dims(direction);
    for g in order::intra_groups(cloud, &ep.groups) {
        let members = member_set(cloud, g, family);
        if members.is_empty() {
            continue;
        }
        let mut cube = full_cube(family);
        cube[remote] = members;
        list.entries.push(Entry {
            cube,
            icmp_any: true,
            decision: Decision {
                verdict: Verdict::Allow,
                reason: Reason::IntraGroup { group: g },
            },
        });
    }
    for (g, rule) in ordered_rules(cloud, ep) {
        if let Some(e) = rule_entry(cloud, g, rule, direction, family) {
            list.entries.push(e);
        }
    }
    list.fallback = order::fallback(cloud, &ep.groups, direction);
    list
}
