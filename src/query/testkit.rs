//! Building clouds directly, without provider calls: for tests and benchmarks of the
//! queries (the provider front ends validate real requests; this does not).

use std::net::IpAddr;

use serde_json::json;

use crate::cloud::{Cloud, EndpointError};
use crate::decision::RuleRef;
use crate::group::{AddressEntry, AddressGroup, AddressGroupKey, EndpointKey, Group, GroupKey, GroupKind};
use crate::provider::{Options, Provider};
use crate::rule::{Action, Direction, Family, IcmpMatch, Ports, Remote, Rule, RuleKey};

/// A rule that matches everything in `direction` and allows it, priority 1; change its
/// fields to taste. Key, id and `shown` are filled in when it is added.
pub fn rule(direction: Direction) -> Rule {
    Rule {
        key: RuleKey::new(0),
        id: String::new(),
        direction,
        family: None,
        protocol: None,
        dst_ports: Ports::any(),
        src_ports: Ports::any(),
        icmp: IcmpMatch::ANY,
        remote: Remote::Any,
        local: None,
        action: Action::Allow,
        priority: 1,
        enabled: true,
        description: String::new(),
        shown: serde_json::Value::Null.into(),
    }
}

/// Adds a rule to a group of a cloud and returns its reference.
pub fn add_rule(cloud: &mut Cloud, group: GroupKey, mut rule: Rule) -> RuleRef {
    let mut txn = cloud.edit();
    let key = txn.rule_key_mark();
    rule.key = key;
    if rule.id.is_empty() {
        rule.id = format!("rule-{}", key.get());
    }
    if rule.shown.is_null() {
        rule.shown = json!({"id": rule.id, "text": rule.to_string(), "description": rule.description}).into();
    }
    txn.push_rules(group, vec![rule]);
    txn.commit();
    RuleRef { group, rule: key }
}

/// Removes a rule from a cloud.
pub fn remove_rule(cloud: &mut Cloud, r: RuleRef) {
    let mut txn = cloud.edit();
    txn.remove_rules(r.group, &[r.rule]);
    txn.commit();
}

/// Builds a cloud group by group.
#[derive(Clone, Debug)]
pub struct Builder {
    cloud: Cloud,
}

impl Builder {
    /// An empty cloud.
    pub fn new(provider: Provider, options: Options) -> Builder {
        Builder {
            cloud: Cloud::new(provider, options),
        }
    }

    /// Adds an empty group (id `sg-<n>`).
    pub fn group(&mut self, kind: GroupKind) -> GroupKey {
        let mut txn = self.cloud.edit();
        let key = txn.next_group_key();
        let id = format!("sg-{}", key.get());
        txn.insert_group(Group {
            key,
            id: id.clone(),
            name: id.clone(),
            description: String::new(),
            kind,
            rules: Vec::new(),
            shown: json!({"id": id}),
        });
        txn.commit();
        key
    }

    /// Adds a rule (see [`rule`]).
    pub fn rule(&mut self, group: GroupKey, rule: Rule) -> RuleRef {
        add_rule(&mut self.cloud, group, rule)
    }

    /// Adds an address group.
    pub fn address_group(&mut self, family: Family, entries: Vec<AddressEntry>) -> AddressGroupKey {
        let mut txn = self.cloud.edit();
        let key = txn.next_address_group_key();
        let id = format!("ag-{}", key.get());
        txn.insert_address_group(AddressGroup {
            key,
            id: id.clone(),
            name: id.clone(),
            family,
            entries,
            shown: json!({"id": id}),
        });
        txn.commit();
        key
    }

    /// Attaches an endpoint to groups.
    ///
    /// # Errors
    /// As [`Cloud::attach`].
    pub fn endpoint(
        &mut self,
        name: &str,
        ips: &[IpAddr],
        groups: &[GroupKey],
    ) -> Result<EndpointKey, EndpointError> {
        let ids: Vec<String> = groups
            .iter()
            .map(|g| self.cloud.group(*g).map(|g| g.id.clone()).unwrap_or_default())
            .collect();
        self.cloud.attach(name, ips, &ids)
    }

    /// The cloud so far.
    pub fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    /// The cloud.
    pub fn build(self) -> Cloud {
        self.cloud
    }
}

/// [`crate::query::explain::fix`] without replaying the request through the provider's
/// front end, for clouds built here (which the front ends do not know).
pub fn fix_without_replay(
    cloud: &Cloud,
    endpoint: EndpointKey,
    direction: Direction,
    packet: &crate::Packet,
) -> Option<crate::query::explain::Fix> {
    crate::query::explain::fix_checked(cloud, endpoint, direction, packet, false)
}

/// [`crate::query::explain::fix_flow`] without replaying requests.
pub fn fix_flow_without_replay(
    cloud: &Cloud,
    packet: &crate::Packet,
) -> Option<(EndpointKey, Direction, crate::query::explain::Fix)> {
    crate::query::explain::fix_flow_checked(cloud, packet, false)
}
