//! Each provider's decision order, shared by the compiled engine ([`crate::compile`]) and
//! the queries ([`crate::query`]): in which order the rules of an endpoint's groups are
//! tried (the first match decides), what a matching rule decides, and the provider
//! default when none matches.
//!
//! - ECS: the basic groups with `InnerAccessPolicy=Accept` first ([`intra_groups`]), then
//!   the rules of all groups pooled and ordered by priority, drop before accept, group
//!   association order, creation order; the group type's default when nothing matches.
//! - ENS: the same pool, no intra-group policy.
//! - Huawei: group association order, in each group priority, deny before allow, creation
//!   order.
//! - Gcore: group association order, then creation order; every rule allows.
//!
//! [`crate::reference`] does not use this module: the oracle keeps its own reading of
//! SEMANTICS.md, so an ordering bug here shows up as a disagreement with it.

use crate::cloud::Cloud;
use crate::decision::{Decision, Fallback, Verdict};
use crate::group::{GroupKey, GroupKind, InnerPolicy};
use crate::provider_kind::Provider;
use crate::rule::{Action, Direction, Rule};

/// The rank of a rule inside a pool (ECS/ENS) or a group (Huawei): lower priority numbers
/// first, then drop/deny before accept/allow.
fn rank(rule: &Rule) -> (u8, bool) {
    (rule.priority, rule.action == Action::Allow)
}

/// The rules of `groups` (in association order) that `keep` accepts, in the provider's
/// decision order, each with its group.
pub(crate) fn rules<'c>(
    cloud: &'c Cloud,
    groups: &[GroupKey],
    keep: impl Fn(&Rule) -> bool,
) -> Vec<(GroupKey, &'c Rule)> {
    let rules_of = |g: GroupKey| {
        cloud
            .group(g)
            .into_iter()
            .flat_map(|group| group.rules.iter().map(|r| &**r))
            .filter(|r| keep(r))
            .map(move |r| (g, r))
    };
    match cloud.provider() {
        Provider::Ecs | Provider::Ens => {
            // INVARIANT: ties of rank keep group association order, then creation order
            // (each rule's place in the pool is part of its sort key): the reference's tie
            // order. PERF: one integer key per rule, sorted without comparing rules.
            let mut pool: Vec<(u64, GroupKey, &Rule)> = groups
                .iter()
                .flat_map(|&g| rules_of(g))
                .enumerate()
                .map(|(i, (g, r))| (u64::from(rank_key(r)) << 32 | i as u64, g, r))
                .collect();
            pool.sort_unstable_by_key(|&(k, _, _)| k);
            pool.into_iter().map(|(_, g, r)| (g, r)).collect()
        }
        Provider::Huawei => {
            let mut out = Vec::new();
            for &g in groups {
                let start = out.len();
                out.extend(rules_of(g));
                // Stable: creation order among equal rank.
                out[start..].sort_by_key(|(_, r): &(GroupKey, &Rule)| rank(r));
            }
            out
        }
        Provider::Gcore => groups.iter().flat_map(|&g| rules_of(g)).collect(),
    }
}

/// The ECS basic groups with `InnerAccessPolicy=Accept` among `groups`, in association
/// order: their members may talk, before every rule (none for other providers).
pub(crate) fn intra_groups<'a>(
    cloud: &'a Cloud,
    groups: &'a [GroupKey],
) -> impl Iterator<Item = GroupKey> + 'a {
    let accept = GroupKind::EcsBasic {
        inner: InnerPolicy::Accept,
    };
    let ecs = cloud.provider() == Provider::Ecs;
    groups
        .iter()
        .copied()
        .filter(move |&g| ecs && cloud.group(g).is_some_and(|group| group.kind == accept))
}

/// What a matching rule decides: its action, except on Gcore, whose rules only allow
/// (whatever an action field would say).
pub(crate) fn verdict(provider: Provider, rule: &Rule) -> Verdict {
    match provider {
        Provider::Gcore => Verdict::Allow,
        _ => rule.action.into(),
    }
}

/// The provider default when no rule of `groups` matches in `direction`.
pub(crate) fn fallback(cloud: &Cloud, groups: &[GroupKey], direction: Direction) -> Decision {
    match cloud.provider() {
        Provider::Ecs => {
            let enterprise = groups
                .iter()
                .any(|&g| cloud.group(g).map(|g| g.kind) == Some(GroupKind::EcsEnterprise));
            match (enterprise, direction) {
                (true, _) => Decision::fallback(Verdict::Deny, Fallback::EcsEnterprise),
                (false, Direction::Ingress) => Decision::fallback(Verdict::Deny, Fallback::EcsBasicIngress),
                (false, Direction::Egress) => Decision::fallback(Verdict::Allow, Fallback::EcsBasicEgress),
            }
        }
        Provider::Ens => match direction {
            Direction::Ingress => Decision::fallback(Verdict::Deny, Fallback::EnsIngress),
            Direction::Egress => Decision::fallback(cloud.options().ens_egress_default, Fallback::EnsEgress),
        },
        Provider::Huawei | Provider::Gcore => Decision::fallback(Verdict::Deny, Fallback::NoMatch),
    }
}

/// A source's place in the decision order of one endpoint's group list, as a number: the
/// entries of a table are in ascending key order (when every group's rules have increasing
/// keys in creation order, which [`crate::compile`] checks before relying on it), so a rule
/// added later can be placed by comparing keys alone.
///
/// `group` is the group's position in the list; `rule` is `None` for ECS's
/// `InnerAccessPolicy=Accept` of the group, else the rule's rank ([`rank_key`]) and key.
pub(crate) fn key(provider: Provider, group: usize, rule: Option<(u32, u32)>) -> u128 {
    let group = group as u128;
    match (provider, rule) {
        // Intra-group entries come before every rule, in group order.
        (_, None) => group << 32,
        (Provider::Ecs | Provider::Ens, Some((rank, key))) => {
            1 << 127 | u128::from(rank) << 64 | group << 32 | u128::from(key)
        }
        (Provider::Huawei, Some((rank, key))) => {
            1 << 127 | group << 64 | u128::from(rank) << 32 | u128::from(key)
        }
        (Provider::Gcore, Some((_, key))) => 1 << 127 | group << 64 | u128::from(key),
    }
}

/// [`rank`] as one number, for [`key`].
pub(crate) fn rank_key(rule: &Rule) -> u32 {
    let (priority, allow) = rank(rule);
    u32::from(priority) << 1 | u32::from(allow)
}
