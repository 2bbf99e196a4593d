//! The provider-neutral description of a rule that each provider's `rules::emit` writes in
//! its own request shape and its front end's parser reads back (`parse(emit(d)) == d` on
//! every field that decides a verdict, `tests/roundtrip.rs`).
//!
//! A draft says what a request says, not what the model makes of it: a group or address
//! group is named by its provider id (or a scenario `$ref`), the family is the one the
//! request states (Huawei and Gcore `ethertype`, the Alibaba `Ipv6...` field names), and a
//! protocol is named by its number even where the provider would refuse it for the family
//! (so tests can also emit what a front end must refuse).

use ipnet::IpNet;

use crate::rule::{Action, Direction, Family, IcmpMatch, PortRange, Remote, Rule};

/// A rule as a request states it, in no provider's field names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleDraft {
    /// Ingress or egress.
    pub direction: Direction,
    /// The family the request names (Huawei, Gcore `ethertype`; Alibaba: which CIDR
    /// fields, `SourceCidrIp` or `Ipv6SourceCidrIp`).
    pub family: Family,
    /// IANA protocol number, `None` for every protocol.
    pub protocol: Option<u8>,
    /// Destination port ranges, empty for every port (more than one: Huawei `multiport`
    /// only; the others take the first).
    pub dst_ports: Vec<PortRange>,
    /// Source port range (ECS, ENS), `None` for every port.
    pub src_ports: Option<PortRange>,
    /// ICMP type and code (Gcore only).
    pub icmp: IcmpMatch,
    /// Remote prefix.
    pub remote_cidr: Option<IpNet>,
    /// Remote security group, by provider id or scenario `$ref`.
    pub remote_group: Option<String>,
    /// Remote (Huawei) address group, by provider id or scenario `$ref`.
    pub remote_address_group: Option<String>,
    /// Local prefix (ECS quintuple rules, ENS).
    pub local: Option<IpNet>,
    /// Allow or deny (Gcore: allow only, not written).
    pub action: Action,
    /// Priority as the provider numbers it (Gcore: none, not written).
    pub priority: u8,
    /// Description, written when not empty and where the call takes one.
    pub description: String,
}

impl RuleDraft {
    /// A draft of a model rule, naming groups and address groups with `group_id` and
    /// `address_group_id`. The family is the rule's, else IPv4 (a rule of both families
    /// is written as the providers' default ethertype).
    pub fn of_rule(
        rule: &Rule,
        group_id: impl Fn(crate::group::GroupKey) -> String,
        address_group_id: impl Fn(crate::group::AddressGroupKey) -> String,
    ) -> RuleDraft {
        let (remote_cidr, remote_group, remote_address_group) = match &rule.remote {
            Remote::Any => (None, None, None),
            Remote::Cidr(net) => (Some(*net), None, None),
            Remote::Group(g) => (None, Some(group_id(*g)), None),
            Remote::AddressGroup(a) => (None, None, Some(address_group_id(*a))),
        };
        let src_ports = (!rule.src_ports.is_any())
            .then(|| rule.src_ports.0.first().copied())
            .flatten();
        RuleDraft {
            direction: rule.direction,
            family: rule.family.unwrap_or(Family::V4),
            protocol: rule.protocol,
            dst_ports: if rule.dst_ports.is_any() {
                Vec::new()
            } else {
                rule.dst_ports.0.to_vec()
            },
            src_ports,
            icmp: rule.icmp,
            remote_cidr,
            remote_group,
            remote_address_group,
            local: rule.local,
            action: rule.action,
            priority: rule.priority,
            description: rule.description.clone(),
        }
    }

    /// `accept` or `drop`: the policy as both Alibaba products write it in lowercase.
    pub(crate) fn policy_lower(&self) -> &'static str {
        match self.action {
            Action::Allow => "accept",
            Action::Deny => "drop",
        }
    }
}

/// The group rules go to, as a request names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The group's provider id (or a scenario `$ref`).
    pub group: String,
    /// The region (ECS `RegionId`, Gcore `region_id` in the path); each provider has a
    /// default.
    pub region: Option<String>,
    /// The project (Huawei and Gcore paths); each provider has a default.
    pub project: Option<String>,
}

impl Target {
    /// A group by id, with the providers' default region and project.
    pub fn group(id: impl Into<String>) -> Target {
        Target {
            group: id.into(),
            region: None,
            project: None,
        }
    }
}
