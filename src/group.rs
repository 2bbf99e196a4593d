//! Security groups, address groups and endpoints as the emulated cloud keeps them.

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

use crate::family::Family;
pub use crate::key::{AddressGroupKey, EndpointKey, GroupKey};
use crate::rule::Rule;

/// ECS basic groups' intra-group policy (`InnerAccessPolicy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InnerPolicy {
    /// Members may talk to each other, above every custom rule (the default).
    Accept,
    /// Members are isolated, below every custom rule.
    Drop,
}

/// The provider-specific kind of a group, which fixes its implicit behaviour.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GroupKind {
    /// ECS basic group (`SecurityGroupType=normal`).
    EcsBasic {
        /// Intra-group policy.
        inner: InnerPolicy,
    },
    /// ECS advanced group (`SecurityGroupType=enterprise`).
    EcsEnterprise,
    /// ENS group.
    Ens,
    /// Huawei VPC v3 group.
    Huawei,
    /// Gcore v2 group.
    Gcore,
}

/// A security group: its provider id and its rules in creation order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Internal key.
    pub key: GroupKey,
    /// Provider-visible id (`sg-...`, a UUID, ...).
    pub id: String,
    /// Name as given (may be empty where the provider allows that).
    pub name: String,
    /// Description as given.
    pub description: String,
    /// Kind, with its implicit policies.
    pub kind: GroupKind,
    /// Rules in creation order, each behind an `Arc`: a copy of the group (into the next
    /// state of a [`crate::live::Live`] cloud) shares its rules, and a rule removed from
    /// a long list moves 8 bytes for each rule after it, not a whole rule (160 bytes).
    /// Read them through the `Arc` (`&group.rules[0].id`, `group.rules.iter().map(|r|
    /// &**r)` for `&Rule`s).
    pub rules: Vec<Arc<Rule>>,
    /// The group as the provider shows it (without its rules), for answers.
    pub shown: serde_json::Value,
}

impl Group {
    /// The place of rule `key` in [`Group::rules`]: found by halving, as rules are kept in
    /// key order (their creation order), with a scan for a list that is not.
    pub(crate) fn place_of(&self, key: crate::rule::RuleKey) -> Option<usize> {
        match self.rules.binary_search_by_key(&key, |r| r.key) {
            Ok(i) => Some(i),
            Err(_) => self.rules.iter().position(|r| r.key == key),
        }
    }
}

/// One entry of an address group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressEntry {
    /// A prefix (a bare address is a full-length prefix).
    Net(IpNet),
    /// An inclusive range `first-last` of one family.
    Range(IpAddr, IpAddr),
}

impl AddressEntry {
    /// Whether the entry holds `addr`.
    pub fn contains(&self, addr: &IpAddr) -> bool {
        match self {
            AddressEntry::Net(net) => net.contains(addr),
            AddressEntry::Range(first, last) => {
                Family::of(first) == Family::of(addr) && first <= addr && addr <= last
            }
        }
    }
}

/// A (Huawei) IP address group: a named set of addresses of one family.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddressGroup {
    /// Internal key.
    pub key: AddressGroupKey,
    /// Provider-visible id.
    pub id: String,
    /// Name as given.
    pub name: String,
    /// Family of every entry.
    pub family: Family,
    /// The entries.
    pub entries: Vec<AddressEntry>,
    /// The address group as the provider shows it.
    pub shown: serde_json::Value,
}

impl AddressGroup {
    /// Whether the group holds `addr`.
    pub fn contains(&self, addr: &IpAddr) -> bool {
        self.entries.iter().any(|e| e.contains(addr))
    }
}

/// A NIC: its addresses and its groups, in association order (Huawei decides by that order).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// Name, unique in the scenario.
    pub name: String,
    /// Private addresses; group references resolve to these.
    pub ips: Vec<IpAddr>,
    /// Groups in association order.
    pub groups: Vec<GroupKey>,
}
