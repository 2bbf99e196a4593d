//! The reference evaluator: the oracle every other engine is checked against.
//!
//! It is a plain linear scan over the provider-level rules, written to read like
//! SEMANTICS.md, one function per provider. It shares nothing with the compiled engine
//! beyond the rule vocabulary, so a lowering bug there cannot agree with itself here.

use std::net::IpAddr;

use crate::cloud::Cloud;
use crate::decision::{Decision, Fallback, RuleRef, Verdict};
use crate::flow::Evaluate;
use crate::group::{Endpoint, EndpointKey, GroupKind, InnerPolicy};
use crate::packet::{ConnState, Packet};
use crate::provider::Provider;
use crate::rule::{Action, Direction, Remote, Rule};

/// The reference evaluator over a cloud.
#[derive(Clone, Copy, Debug)]
pub struct Evaluator<'a> {
    cloud: &'a Cloud,
}

impl<'a> Evaluator<'a> {
    /// An evaluator that reads `cloud` as it is.
    pub fn new(cloud: &'a Cloud) -> Evaluator<'a> {
        Evaluator { cloud }
    }

    /// The decision of `endpoint`'s groups for `packet` in `direction`.
    ///
    /// Unknown endpoints have no groups and are denied ([`Fallback::NoGroup`]).
    pub fn evaluate(&self, endpoint: EndpointKey, direction: Direction, packet: &Packet) -> Decision {
        if packet.family().is_none() {
            return Decision::MIXED_FAMILY;
        }
        if packet.state == ConnState::Established {
            return Decision::ESTABLISHED;
        }
        let Some(ep) = self.cloud.endpoint(endpoint) else {
            return Decision::fallback(Verdict::Deny, Fallback::NoGroup);
        };
        match self.cloud.provider() {
            Provider::Ecs => self.ecs(ep, direction, packet),
            Provider::Ens => self.ens(ep, direction, packet),
            Provider::Huawei => self.huawei(ep, direction, packet),
            Provider::Gcore => self.gcore(ep, direction, packet),
        }
    }

    /// ECS: an `InnerAccessPolicy=Accept` basic group shared with the peer allows first;
    /// then the rules of all groups pooled, smallest priority first, drop before accept
    /// at equal priority; then the group type's default.
    fn ecs(&self, ep: &Endpoint, direction: Direction, packet: &Packet) -> Decision {
        let peer = remote_addr(direction, packet);
        for &g in &ep.groups {
            let group = &self.cloud.group(g).expect("endpoint groups exist");
            if group.kind
                == (GroupKind::EcsBasic {
                    inner: InnerPolicy::Accept,
                })
                && self.cloud.members(g).any(|m| m.ips.contains(&peer))
            {
                return Decision {
                    verdict: Verdict::Allow,
                    reason: crate::Reason::IntraGroup { group: g },
                };
            }
        }
        if let Some(decision) = self.pooled(ep, direction, packet) {
            return decision;
        }
        let enterprise = ep
            .groups
            .iter()
            .any(|&g| self.cloud.group(g).map(|g| g.kind) == Some(GroupKind::EcsEnterprise));
        match (enterprise, direction) {
            (true, _) => Decision::fallback(Verdict::Deny, Fallback::EcsEnterprise),
            (false, Direction::Ingress) => Decision::fallback(Verdict::Deny, Fallback::EcsBasicIngress),
            (false, Direction::Egress) => Decision::fallback(Verdict::Allow, Fallback::EcsBasicEgress),
        }
    }

    /// ENS: the rules of all groups pooled as in ECS; no intra-group policy; ingress
    /// defaults to deny, egress to the `ens_egress_default` switch (allow).
    fn ens(&self, ep: &Endpoint, direction: Direction, packet: &Packet) -> Decision {
        if let Some(decision) = self.pooled(ep, direction, packet) {
            return decision;
        }
        match direction {
            Direction::Ingress => Decision::fallback(Verdict::Deny, Fallback::EnsIngress),
            Direction::Egress => {
                Decision::fallback(self.cloud.options().ens_egress_default, Fallback::EnsEgress)
            }
        }
    }

    /// The Alibaba pool: of every matching rule of every group, the one with the smallest
    /// priority, drop before accept at equal priority; among equals, the first in group
    /// association order, then creation order.
    fn pooled(&self, ep: &Endpoint, direction: Direction, packet: &Packet) -> Option<Decision> {
        let mut best: Option<(u8, bool, RuleRef, Action)> = None;
        for &g in &ep.groups {
            for rule in &self.cloud.group(g).expect("endpoint groups exist").rules {
                if !self.matches(rule, direction, packet) {
                    continue;
                }
                let accept_last = rule.action == Action::Allow;
                let better = match best {
                    None => true,
                    Some((p, a, _, _)) => (rule.priority, accept_last) < (p, a),
                };
                if better {
                    let at = RuleRef {
                        group: g,
                        rule: rule.key,
                    };
                    best = Some((rule.priority, accept_last, at, rule.action));
                }
            }
        }
        best.map(|(_, _, at, action)| Decision::rule(action.into(), at))
    }

    /// Huawei v3: groups in association order; in a group, rules by priority, deny before
    /// allow at equal priority (then creation order); the first match decides; none: deny.
    fn huawei(&self, ep: &Endpoint, direction: Direction, packet: &Packet) -> Decision {
        for &g in &ep.groups {
            let group = self.cloud.group(g).expect("endpoint groups exist");
            let mut rules: Vec<&Rule> = group.rules.iter().map(|r| &**r).collect();
            // A stable sort keeps creation order among equal (priority, action).
            rules.sort_by_key(|r| (r.priority, r.action == Action::Allow));
            for rule in rules {
                if self.matches(rule, direction, packet) {
                    return Decision::rule(
                        rule.action.into(),
                        RuleRef {
                            group: g,
                            rule: rule.key,
                        },
                    );
                }
            }
        }
        Decision::fallback(Verdict::Deny, Fallback::NoMatch)
    }

    /// Gcore: allow-only rules; the packet passes when any rule of any group matches (the
    /// first in group order then creation order is named); otherwise deny.
    fn gcore(&self, ep: &Endpoint, direction: Direction, packet: &Packet) -> Decision {
        for &g in &ep.groups {
            for rule in &self.cloud.group(g).expect("endpoint groups exist").rules {
                if self.matches(rule, direction, packet) {
                    return Decision::rule(
                        Verdict::Allow,
                        RuleRef {
                            group: g,
                            rule: rule.key,
                        },
                    );
                }
            }
        }
        Decision::fallback(Verdict::Deny, Fallback::NoMatch)
    }

    /// Whether a rule matches: enabled, same direction, header fields, the remote address
    /// in the rule's remote set and the local address in its local prefix.
    fn matches(&self, rule: &Rule, direction: Direction, packet: &Packet) -> bool {
        rule.enabled
            && rule.direction == direction
            && rule.matches_header(packet)
            && rule
                .local
                .is_none_or(|net| net.contains(&local_addr(direction, packet)))
            && self.remote_holds(&rule.remote, remote_addr(direction, packet))
    }

    fn remote_holds(&self, remote: &Remote, addr: IpAddr) -> bool {
        match remote {
            Remote::Any => true,
            Remote::Cidr(net) => net.contains(&addr),
            Remote::Group(g) => self.cloud.members(*g).any(|m| m.ips.contains(&addr)),
            Remote::AddressGroup(a) => self.cloud.address_group(*a).is_some_and(|ag| ag.contains(&addr)),
        }
    }
}

impl Evaluate for Evaluator<'_> {
    fn evaluate(&self, endpoint: EndpointKey, direction: Direction, packet: &Packet) -> Decision {
        Evaluator::evaluate(self, endpoint, direction, packet)
    }
}

/// The far side's address: the source on ingress, the destination on egress.
pub(crate) fn remote_addr(direction: Direction, packet: &Packet) -> IpAddr {
    match direction {
        Direction::Ingress => packet.src,
        Direction::Egress => packet.dst,
    }
}

/// The endpoint's own address: the destination on ingress, the source on egress.
pub(crate) fn local_addr(direction: Direction, packet: &Packet) -> IpAddr {
    match direction {
        Direction::Ingress => packet.dst,
        Direction::Egress => packet.src,
    }
}
