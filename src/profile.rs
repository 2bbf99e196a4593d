//! Each provider's quotas and limits in one table ([`Profile`]).

use crate::provider_kind::Provider;

/// A provider's quotas and limits, with the source of every value
/// (the keys of SEMANTICS.md's "Sources").
///
/// | | ECS | ENS | Huawei | Gcore |
/// |---|---|---|---|---|
/// | groups per NIC | 10 (A1) | 10 (A1) | 5 (H12) | 100 (none documented) |
/// | rules across a NIC's groups | 1,000 (A1, A6) | none | none | none |
/// | rules per group | 200 (A6) | 200 (E1) | 50 (H4b) | none |
/// | rules in one call | 100 (A6) | 200 (E1) | 200 (H3) | 100 (N1) |
/// | groups per region, account or tenant | 100 (A4) | 100 (unconfirmed) | 100 (H4b) | none |
/// | group-reference rules per group | 20 (A2) | none | none | none |
/// | tags per group | 20 (A4) | none | none | none |
/// | items in one `multiport` | none | none | 20 (H2, H4c) | none |
///
/// The front ends enforce these with the provider's error codes; [`crate::limits`] takes
/// its per-provider defaults from here, and [`crate::query::lint()`] its group quota.
///
/// `None`: the provider documents no limit there (or has no such thing) and sgeval enforces
/// none.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Profile {
    /// Security groups one NIC may join (A1; Huawei H12; Gcore documents none, 100).
    pub groups_per_nic: usize,
    /// Rules across all groups of one NIC (ECS: "cannot exceed 1,000", A1, A6).
    pub rules_per_nic: Option<usize>,
    /// Rules in one group, inbound and outbound together (ECS A6, ENS E1, Huawei H4b, its
    /// default rules included).
    pub rules_per_group: Option<usize>,
    /// Rules (or rule ids) in one call: ECS `Permissions.N`/`SecurityGroupRuleId.N` (A6),
    /// ENS `Permissions` (E1), Huawei batch create (H3), Gcore Neutron's default rule quota
    /// (N1).
    pub rules_per_call: usize,
    /// Security groups in one region (ECS A4), account (ENS, unconfirmed) or tenant
    /// (Huawei H4b).
    pub groups_per_tenant: Option<usize>,
    /// Rules per ECS basic group that reference another group
    /// (`AuthorizedGroupRule.LimitExceed`, A2).
    pub group_rules_per_group: Option<usize>,
    /// `Tag.N` entries per group (ECS A4).
    pub tags_per_group: Option<usize>,
    /// Items in one Huawei `multiport` (H2, H4c).
    pub multiport_items: Option<usize>,
}

impl Profile {
    /// Alibaba Cloud ECS.
    pub const ECS: Profile = Profile {
        groups_per_nic: 10,
        rules_per_nic: Some(1000),
        rules_per_group: Some(200),
        rules_per_call: 100,
        groups_per_tenant: Some(100),
        group_rules_per_group: Some(20),
        tags_per_group: Some(20),
        multiport_items: None,
    };

    /// Alibaba Cloud ENS.
    pub const ENS: Profile = Profile {
        groups_per_nic: 10,
        rules_per_nic: None,
        rules_per_group: Some(200),
        rules_per_call: 200,
        groups_per_tenant: Some(100),
        group_rules_per_group: None,
        tags_per_group: None,
        multiport_items: None,
    };

    /// Huawei Cloud VPC v3.
    pub const HUAWEI: Profile = Profile {
        groups_per_nic: 5,
        rules_per_nic: None,
        rules_per_group: Some(50),
        rules_per_call: 200,
        groups_per_tenant: Some(100),
        group_rules_per_group: None,
        tags_per_group: None,
        multiport_items: Some(20),
    };

    /// Gcore Cloud v2.
    pub const GCORE: Profile = Profile {
        groups_per_nic: 100,
        rules_per_nic: None,
        rules_per_group: None,
        rules_per_call: 100,
        groups_per_tenant: None,
        group_rules_per_group: None,
        tags_per_group: None,
        multiport_items: None,
    };
}

impl Provider {
    /// The provider's quotas and limits.
    pub fn profile(self) -> &'static Profile {
        match self {
            Provider::Ecs => &Profile::ECS,
            Provider::Ens => &Profile::ENS,
            Provider::Huawei => &Profile::HUAWEI,
            Provider::Gcore => &Profile::GCORE,
        }
    }
}

/// A quota the profile states, in a `const` (a profile without it does not build).
pub(crate) const fn known(quota: Option<usize>) -> usize {
    match quota {
        Some(n) => n,
        None => panic!("the profile states no such quota"),
    }
}
