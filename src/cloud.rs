//! The emulated control plane: groups, rules, address groups and endpoints, changed only
//! through provider calls (and endpoint attachment), each applied whole or not at all.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::group::{AddressGroup, AddressGroupKey, Endpoint, EndpointKey, Group, GroupKey, GroupKind};
use crate::provider::{self, Options, Provider};
use crate::rule::{Rule, RuleKey};
use crate::RuleRef;

/// A provider call as the scenario gives it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Alibaba RPC-style parameters (nested or flat `Permissions.1.IpProtocol` form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
    /// Huawei / Gcore JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// Huawei / Gcore path (ids in the URL, e.g. `/v3/p/vpc/security-group-rules/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A provider's answer: HTTP status and body shaped as the provider's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body as the provider would send it (success or error).
    pub body: serde_json::Value,
    /// The id of what the call created (a group, an address group), for `$ref`s.
    #[serde(skip)]
    pub created: Option<String>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// Why an endpoint could not be attached.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    /// Two endpoints share a name.
    #[error("endpoint `{0}` is defined twice")]
    DuplicateName(String),
    /// Two endpoints share an address.
    #[error("address `{addr}` of endpoint `{endpoint}` already belongs to endpoint `{other}`")]
    DuplicateAddress {
        /// The address.
        addr: IpAddr,
        /// The endpoint that repeats it.
        endpoint: String,
        /// The endpoint that had it first.
        other: String,
    },
    /// An endpoint with no address.
    #[error("endpoint `{0}` has no address in `ips`")]
    NoAddress(String),
    /// An endpoint with no group.
    #[error("endpoint `{0}` has no security group in `groups` (every NIC needs at least one)")]
    NoGroup(String),
    /// A group id that no call created.
    #[error("endpoint `{endpoint}`: group `{group}` does not exist")]
    UnknownGroup {
        /// The endpoint.
        endpoint: String,
        /// The group id as given.
        group: String,
    },
    /// A group listed twice.
    #[error("endpoint `{endpoint}`: group `{group}` is listed twice")]
    RepeatedGroup {
        /// The endpoint.
        endpoint: String,
        /// The group id.
        group: String,
    },
    /// ECS basic and advanced groups on one NIC (Decision 3).
    #[error("endpoint `{0}` mixes ECS basic and advanced (enterprise) groups, which ECS does not allow")]
    MixedEcsGroupTypes(String),
    /// Groups of different networks on one NIC (ECS: a NIC joins groups of one region and
    /// VPC only).
    #[error("endpoint `{endpoint}`: group `{group}` is in {network}, unlike group `{first}`; {provider} attaches a NIC to groups of one region and VPC only")]
    GroupsInDifferentNetworks {
        /// The endpoint.
        endpoint: String,
        /// The group in another network.
        group: String,
        /// Its network (region and VPC).
        network: String,
        /// The endpoint's first group, whose network the others must share.
        first: String,
        /// The provider.
        provider: Provider,
    },
    /// More rules across a NIC's groups than the provider allows.
    #[error("endpoint `{endpoint}`: its groups hold {count} rules together; {provider} allows at most {limit} across the groups of one NIC")]
    TooManyRules {
        /// The endpoint.
        endpoint: String,
        /// How many rules its groups hold together.
        count: usize,
        /// The provider.
        provider: Provider,
        /// The provider's limit.
        limit: usize,
    },
    /// More groups than the provider lets a NIC join.
    #[error("endpoint `{endpoint}` has {count} groups; {provider} allows at most {limit} per NIC")]
    TooManyGroups {
        /// The endpoint.
        endpoint: String,
        /// How many groups it lists.
        count: usize,
        /// The provider.
        provider: Provider,
        /// The provider's limit.
        limit: usize,
    },
}

/// The emulated cloud of one provider.
#[derive(Clone, Debug)]
pub struct Cloud {
    provider: Provider,
    options: Options,
    groups: BTreeMap<GroupKey, Group>,
    address_groups: BTreeMap<AddressGroupKey, AddressGroup>,
    endpoints: Vec<Endpoint>,
    /// Endpoint by name and by address: simulators look one up per packet.
    by_name: HashMap<String, EndpointKey>,
    by_addr: HashMap<IpAddr, EndpointKey>,
    next_group: u32,
    next_rule: u32,
    next_address_group: u32,
    calls: u64,
    /// The provider front end's own bookkeeping (idempotency tokens, tasks, ...).
    pub(crate) state: provider::State,
}

impl Cloud {
    /// An empty cloud of `provider` with the given semantic switches.
    pub fn new(provider: Provider, options: Options) -> Cloud {
        Cloud {
            provider,
            options,
            groups: BTreeMap::new(),
            address_groups: BTreeMap::new(),
            endpoints: Vec::new(),
            by_name: HashMap::new(),
            by_addr: HashMap::new(),
            next_group: 1,
            next_rule: 1,
            next_address_group: 1,
            calls: 0,
            state: provider::State::new(provider),
        }
    }

    /// The provider.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The semantic switches.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// Applies one provider call. The call takes effect whole or not at all: an error answer
    /// leaves the cloud as it was.
    pub fn call(&mut self, api: &str, request: &Request) -> Response {
        self.calls += 1;
        provider::call(self, api, request)
    }

    /// How many calls were made so far (the seed of deterministic request ids).
    pub fn call_count(&self) -> u64 {
        self.calls
    }

    /// Every group, by key.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// A group by key.
    pub fn group(&self, key: GroupKey) -> Option<&Group> {
        self.groups.get(&key)
    }

    /// A group by its provider id.
    pub fn group_by_id(&self, id: &str) -> Option<&Group> {
        self.groups.values().find(|g| g.id == id)
    }

    /// A rule by reference.
    pub fn rule(&self, r: RuleRef) -> Option<&Rule> {
        self.groups
            .get(&r.group)?
            .rules
            .iter()
            .find(|rule| rule.key == r.rule)
    }

    /// Every address group.
    pub fn address_groups(&self) -> impl Iterator<Item = &AddressGroup> {
        self.address_groups.values()
    }

    /// An address group by key.
    pub fn address_group(&self, key: AddressGroupKey) -> Option<&AddressGroup> {
        self.address_groups.get(&key)
    }

    /// An address group by its provider id.
    pub fn address_group_by_id(&self, id: &str) -> Option<&AddressGroup> {
        self.address_groups.values().find(|g| g.id == id)
    }

    /// Every endpoint, in the order attached.
    pub fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// The keys of every endpoint, in the order attached (the order of [`Cloud::endpoints`]).
    pub fn endpoint_keys(&self) -> impl DoubleEndedIterator<Item = EndpointKey> + ExactSizeIterator {
        (0..self.endpoints.len() as u32).map(EndpointKey::new)
    }

    /// An endpoint by key.
    pub fn endpoint(&self, key: EndpointKey) -> Option<&Endpoint> {
        self.endpoints.get(key.get() as usize)
    }

    /// An endpoint by name.
    pub fn endpoint_by_name(&self, name: &str) -> Option<EndpointKey> {
        self.by_name.get(name).copied()
    }

    /// The endpoint that owns an address.
    pub fn endpoint_by_addr(&self, addr: IpAddr) -> Option<EndpointKey> {
        self.by_addr.get(&addr).copied()
    }

    /// Attaches a NIC with its addresses and its groups (by provider id, in association order).
    ///
    /// # Errors
    /// A repeated name or address, no address, no group, an unknown or repeated group, more
    /// groups than the provider allows per NIC, ECS basic and advanced groups together, or a
    /// provider's own limit (ECS: groups of one region and VPC, at most 1,000 rules across
    /// them).
    pub fn attach(
        &mut self,
        name: &str,
        ips: &[IpAddr],
        group_ids: &[String],
    ) -> Result<EndpointKey, EndpointError> {
        if self.by_name.contains_key(name) {
            return Err(EndpointError::DuplicateName(name.to_owned()));
        }
        if ips.is_empty() {
            return Err(EndpointError::NoAddress(name.to_owned()));
        }
        for (i, addr) in ips.iter().enumerate() {
            let other = self
                .by_addr
                .get(addr)
                .and_then(|&k| self.endpoint(k))
                .map(|e| e.name.clone())
                .or_else(|| ips[..i].contains(addr).then(|| name.to_owned()));
            if let Some(other) = other {
                return Err(EndpointError::DuplicateAddress {
                    addr: *addr,
                    endpoint: name.to_owned(),
                    other,
                });
            }
        }
        if group_ids.is_empty() {
            return Err(EndpointError::NoGroup(name.to_owned()));
        }
        let limit = self.provider.profile().groups_per_nic;
        if group_ids.len() > limit {
            return Err(EndpointError::TooManyGroups {
                endpoint: name.to_owned(),
                count: group_ids.len(),
                provider: self.provider,
                limit,
            });
        }
        let mut keys = Vec::with_capacity(group_ids.len());
        for id in group_ids {
            let key = self
                .group_by_id(id)
                .map(|g| g.key)
                .ok_or_else(|| EndpointError::UnknownGroup {
                    endpoint: name.to_owned(),
                    group: id.clone(),
                })?;
            if keys.contains(&key) {
                return Err(EndpointError::RepeatedGroup {
                    endpoint: name.to_owned(),
                    group: id.clone(),
                });
            }
            keys.push(key);
        }
        let enterprise = keys
            .iter()
            .filter(|k| matches!(self.groups[k].kind, GroupKind::EcsEnterprise))
            .count();
        if enterprise != 0 && enterprise != keys.len() {
            return Err(EndpointError::MixedEcsGroupTypes(name.to_owned()));
        }
        provider::check_attach(self, name, &keys)?;
        let key = EndpointKey::new(self.endpoints.len() as u32);
        self.endpoints.push(Endpoint {
            name: name.to_owned(),
            ips: ips.to_vec(),
            groups: keys,
        });
        self.by_name.insert(name.to_owned(), key);
        self.by_addr.extend(ips.iter().map(|&a| (a, key)));
        Ok(key)
    }

    /// The endpoints that are members of a group.
    pub fn members(&self, group: GroupKey) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.iter().filter(move |e| e.groups.contains(&group))
    }

    // ---- for the provider front ends: every mutation goes through these ----

    /// Reserves the key of the next group.
    pub(crate) fn next_group_key(&self) -> GroupKey {
        GroupKey::new(self.next_group)
    }

    /// Adds a group built with the key from [`Cloud::next_group_key`].
    pub(crate) fn insert_group(&mut self, group: Group) {
        debug_assert_eq!(group.key.get(), self.next_group);
        self.next_group += 1;
        self.next_rule = self
            .next_rule
            .max(group.rules.iter().map(|r| r.key.get() + 1).max().unwrap_or(0));
        self.groups.insert(group.key, group);
    }

    /// Keys for `n` new rules, consecutive; they are taken for good once a rule using them
    /// is inserted.
    pub(crate) fn next_rule_keys(&self, n: usize) -> impl Iterator<Item = RuleKey> {
        (self.next_rule..self.next_rule + n as u32).map(RuleKey::new)
    }

    /// Appends rules (keys from [`Cloud::next_rule_keys`]) to a group.
    pub(crate) fn push_rules(&mut self, group: GroupKey, rules: Vec<Rule>) {
        if let Some(max) = rules.iter().map(|r| r.key.get() + 1).max() {
            self.next_rule = self.next_rule.max(max);
        }
        if let Some(g) = self.groups.get_mut(&group) {
            g.rules.extend(rules);
        }
    }

    /// Removes rules from a group by key.
    pub(crate) fn remove_rules(&mut self, group: GroupKey, keys: &[RuleKey]) {
        if let Some(g) = self.groups.get_mut(&group) {
            g.rules.retain(|r| !keys.contains(&r.key));
        }
    }

    /// Mutable access to a group, for changes to its own fields (not its key).
    pub(crate) fn group_mut(&mut self, key: GroupKey) -> Option<&mut Group> {
        self.groups.get_mut(&key)
    }

    /// Reserves the key of the next address group.
    pub(crate) fn next_address_group_key(&self) -> AddressGroupKey {
        AddressGroupKey::new(self.next_address_group)
    }

    /// Adds an address group built with the key from [`Cloud::next_address_group_key`].
    pub(crate) fn insert_address_group(&mut self, group: AddressGroup) {
        self.next_address_group += 1;
        self.address_groups.insert(group.key, group);
    }

    /// The key the next rule will get: every rule a call creates has a key at or above the
    /// one read before the call.
    pub(crate) fn rule_key_mark(&self) -> RuleKey {
        RuleKey::new(self.next_rule)
    }

    /// Gives the objects one call created the ids the cloud really gave them (an imported
    /// scenario names `sg-...`, `sgr-...`, UUIDs): `created` (the id the call answered: a
    /// group, an address group or a single rule) becomes `id`; the rules it created (keys
    /// from `mark` on, in creation order) take `rule_ids`, one each. With `drop_rules`,
    /// those rules are removed instead (the group as listed starts with none of the rules
    /// a create call adds by itself). Answers the provider's bookkeeping already gave keep
    /// the generated ids.
    ///
    /// # Errors
    /// A message naming what does not fit: nothing created, a count mismatch, an id that
    /// another object already has. Nothing changes then.
    pub(crate) fn pin_ids(
        &mut self,
        created: Option<&str>,
        id: Option<&str>,
        mark: RuleKey,
        rule_ids: Option<&[String]>,
        drop_rules: bool,
    ) -> Result<(), String> {
        let mut new_rules: Vec<(GroupKey, RuleKey, String)> = self
            .groups
            .values()
            .flat_map(|g| g.rules.iter().map(move |r| (g.key, r.key, r.id.clone())))
            .filter(|(_, r, _)| *r >= mark)
            .collect();
        // Keys are handed out in creation order.
        new_rules.sort_by_key(|(_, r, _)| *r);
        let created_group = created.and_then(|c| self.group_by_id(c)).map(|g| g.key);
        let created_rule = created.filter(|c| new_rules.len() == 1 && new_rules[0].2 == *c);
        if drop_rules && created_group.is_none() {
            return Err("`defaults: false` needs a call that creates a security group".into());
        }
        // One list of new rule ids, whether given as `ids` or as the `id` of a call that
        // created one rule.
        let rule_ids: Option<Vec<String>> = match (rule_ids, id, created_rule) {
            (Some(_), Some(_), Some(_)) => {
                return Err("`id` and `ids` both name the one rule this call created".into())
            }
            (None, Some(one), Some(_)) => Some(vec![one.to_owned()]),
            (ids, _, _) => ids.map(<[String]>::to_vec),
        };
        let taken = |cloud: &Cloud, x: &str| {
            cloud.group_by_id(x).is_some()
                || cloud.address_group_by_id(x).is_some()
                || cloud
                    .groups
                    .values()
                    .flat_map(|g| &g.rules)
                    .any(|r| r.id == x && r.key < mark)
        };
        if let Some(ids) = &rule_ids {
            if drop_rules {
                return Err(
                    "`ids` and `defaults: false` do not go together (the created rules are removed)".into(),
                );
            }
            if ids.len() != new_rules.len() {
                return Err(format!(
                    "{} id(s) given in `ids`, but the call created {} rule(s)",
                    ids.len(),
                    new_rules.len()
                ));
            }
            let mut seen = std::collections::BTreeSet::new();
            for rid in ids {
                if rid.is_empty() {
                    return Err("an empty rule id in `ids`".into());
                }
                if !seen.insert(rid.as_str()) {
                    return Err(format!("rule id `{rid}` is given twice in `ids`"));
                }
                if taken(self, rid) {
                    return Err(format!("rule id `{rid}` already names another object"));
                }
            }
        }
        let renamed = match (created, id) {
            (Some(_), Some(_)) if created_rule.is_some() => None,
            (Some(old), Some(new)) if old != new => {
                if new.is_empty() {
                    return Err("an empty `id`".into());
                }
                if taken(self, new) {
                    return Err(format!("id `{new}` already names another object"));
                }
                Some((old.to_owned(), new.to_owned()))
            }
            (None, Some(new)) => {
                return Err(format!(
                    "`id` `{new}` given, but the call created nothing to name"
                ))
            }
            _ => None,
        };
        // Validated: from here on nothing fails.
        if drop_rules {
            if let Some(g) = created_group.and_then(|k| self.groups.get_mut(&k)) {
                g.rules.retain(|r| r.key < mark);
            }
        } else if let Some(ids) = &rule_ids {
            for ((g, r, old), rid) in new_rules.iter().zip(ids) {
                self.rename_everywhere(old, rid);
                if let Some(rule) = self
                    .groups
                    .get_mut(g)
                    .and_then(|g| g.rules.iter_mut().find(|x| x.key == *r))
                {
                    rule.id.clone_from(rid);
                }
            }
        }
        if let Some((old, new)) = renamed {
            self.rename_everywhere(&old, &new);
            for g in self.groups.values_mut().filter(|g| g.id == old) {
                g.id.clone_from(&new);
            }
            for a in self.address_groups.values_mut().filter(|a| a.id == old) {
                a.id.clone_from(&new);
            }
        }
        Ok(())
    }

    /// Replaces `old` by `new` wherever an answer shows it: groups' and address groups' own
    /// views, and every rule's (a rule names its group, a peer group, an address group).
    fn rename_everywhere(&mut self, old: &str, new: &str) {
        for g in self.groups.values_mut() {
            replace_str(&mut g.shown, old, new);
            for r in &mut g.rules {
                replace_str(&mut r.shown, old, new);
            }
        }
        for a in self.address_groups.values_mut() {
            replace_str(&mut a.shown, old, new);
        }
    }

    /// A deterministic pseudo-random 64-bit value for id `n` of kind `salt`: the same
    /// scenario always produces the same ids.
    pub(crate) fn id_bits(&self, salt: u64, n: u64) -> u64 {
        crate::ids::mix(self.provider as u64 * 0x1_0000 + salt, n)
    }
}

/// Replaces every string value equal to `old` in `v` by `new`.
fn replace_str(v: &mut serde_json::Value, old: &str, new: &str) {
    match v {
        serde_json::Value::String(s) if s == old => *s = new.to_owned(),
        serde_json::Value::Array(items) => items.iter_mut().for_each(|x| replace_str(x, old, new)),
        serde_json::Value::Object(map) => map.values_mut().for_each(|x| replace_str(x, old, new)),
        _ => {}
    }
}
