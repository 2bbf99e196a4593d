//! Joining records read from many documents by id: a group described by several answers (or
//! several pages) becomes one record, a rule listed twice (the same page given twice) one
//! rule, and conflicting descriptions of one object an error rather than a silent pick.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::json::{show, At};
use super::{
    AddressGroupRecord, Defaults, EndpointRecord, GroupRecord, ImportError, Inventory, Origin,
    PrefixListRecord, RuleRecord, Skipped, Unresolved, UnresolvedKind,
};
use crate::Provider;

/// How much an endpoint's source knows; a better one replaces a worse one.
pub(crate) type Rank = u8;

/// Fields of a rule that name other objects, per provider, checked when finishing.
pub(crate) struct References {
    /// Fields naming a security group.
    pub groups: &'static [&'static str],
    /// Fields naming a Huawei address group.
    pub address_groups: &'static [&'static str],
    /// Fields naming an ECS prefix list.
    pub prefix_lists: &'static [&'static str],
}

#[derive(Default)]
pub(crate) struct Builder {
    groups: Vec<GroupRecord>,
    group_index: HashMap<String, usize>,
    /// Per group, the creation time of each rule (for ordering) ...
    times: Vec<Vec<Option<String>>>,
    /// ... and the rules already taken, by id or by content.
    rule_keys: Vec<HashMap<String, usize>>,
    /// Groups whose rules were listed (an attribute/show answer or a rule list).
    pub rules_listed: HashSet<String>,
    endpoints: Vec<EndpointRecord>,
    ranks: Vec<Rank>,
    endpoint_index: HashMap<String, usize>,
    address_groups: Vec<AddressGroupRecord>,
    address_group_index: HashMap<String, usize>,
    prefix_lists: Vec<PrefixListRecord>,
    pub unresolved: Vec<Unresolved>,
    pub skipped: Vec<Skipped>,
    pub notes: Vec<String>,
}

fn conflict(at: &At<'_>, field: &str, old: &Value, new: &Value, first: &Origin) -> ImportError {
    at.error(
        field,
        format!(
            "`{}` here, but `{}` at {first}: the documents describe the same object differently (snapshots of different times?)",
            show(new),
            show(old)
        ),
    )
}

impl Builder {
    /// The index of group `id`, created on first sight.
    pub fn group(&mut self, id: &str, at: &At<'_>) -> usize {
        if let Some(&i) = self.group_index.get(id) {
            return i;
        }
        self.groups.push(GroupRecord {
            id: id.to_owned(),
            address: None,
            name: None,
            origin: at.origin(),
            attributes: Map::new(),
            rules: Vec::new(),
            defaults: Defaults::Listed,
        });
        self.times.push(Vec::new());
        self.rule_keys.push(HashMap::new());
        self.group_index.insert(id.to_owned(), self.groups.len() - 1);
        self.groups.len() - 1
    }

    /// Sets a group's name; a different name already read is an error.
    pub fn name(
        &mut self,
        gi: usize,
        name: Option<String>,
        at: &At<'_>,
        field: &str,
    ) -> Result<(), ImportError> {
        let Some(name) = name else { return Ok(()) };
        let g = &mut self.groups[gi];
        match &g.name {
            Some(old) if *old != name => Err(conflict(
                at,
                field,
                &Value::from(old.clone()),
                &Value::from(name),
                &g.origin,
            )),
            _ => {
                g.name = Some(name);
                Ok(())
            }
        }
    }

    /// Sets a group attribute; a different value already read is an error.
    pub fn attribute(
        &mut self,
        gi: usize,
        key: &str,
        value: Value,
        at: &At<'_>,
        field: &str,
    ) -> Result<(), ImportError> {
        let g = &mut self.groups[gi];
        match g.attributes.get(key) {
            Some(old) if *old != value => Err(conflict(at, field, old, &value, &g.origin)),
            Some(_) => Ok(()),
            None => {
                g.attributes.insert(key.to_owned(), value);
                Ok(())
            }
        }
    }

    /// Adds a rule to group `gi`. A rule already taken (same id, or same content when the
    /// provider gives no ids) is the same page read twice and is dropped; a rule id seen
    /// with other content is an error.
    pub fn rule(
        &mut self,
        gi: usize,
        rule: RuleRecord,
        created: Option<String>,
        at: &At<'_>,
    ) -> Result<(), ImportError> {
        // PERF: content keys only for rules without ids (ENS), not for every rule.
        let key = rule
            .id
            .clone()
            .unwrap_or_else(|| format!("{}|{}", rule.direction, Value::Object(rule.fields.clone())));
        if let Some(&ri) = self.rule_keys[gi].get(&key) {
            let old = &self.groups[gi].rules[ri];
            if old.direction != rule.direction || old.fields != rule.fields {
                return Err(at.error_here(format!(
                    "rule `{key}` is listed again with other fields (first at {}): the documents disagree",
                    old.origin
                )));
            }
            return Ok(());
        }
        self.rule_keys[gi].insert(key, self.groups[gi].rules.len());
        self.groups[gi].rules.push(rule);
        self.times[gi].push(created);
        Ok(())
    }

    /// Adds an endpoint. One of better rank replaces it; one of worse rank is dropped; one
    /// of equal rank must say the same.
    pub fn endpoint(&mut self, e: EndpointRecord, rank: Rank, at: &At<'_>) -> Result<(), ImportError> {
        match self.endpoint_index.get(&e.name) {
            None => {
                self.endpoint_index.insert(e.name.clone(), self.endpoints.len());
                self.endpoints.push(e);
                self.ranks.push(rank);
            }
            Some(&i) => {
                let old = &self.endpoints[i];
                if rank > self.ranks[i] {
                    self.endpoints[i] = e;
                    self.ranks[i] = rank;
                } else if rank == self.ranks[i]
                    && (old.ips != e.ips
                        || old.groups != e.groups
                        || old.port_security != e.port_security
                        || old.instance != e.instance)
                {
                    return Err(at.error_here(format!(
                        "endpoint `{}` is described again differently (first at {})",
                        e.name, old.origin
                    )));
                }
            }
        }
        Ok(())
    }

    /// Whether an endpoint of that name was read.
    pub fn has_endpoint(&self, name: &str) -> bool {
        self.endpoint_index.contains_key(name)
    }

    /// Drops the endpoints `keep` refuses (with their ranks).
    pub fn retain_endpoints(&mut self, mut keep: impl FnMut(&EndpointRecord, Rank) -> bool) {
        let mut kept = Vec::new();
        let mut ranks = Vec::new();
        for (e, r) in self.endpoints.drain(..).zip(self.ranks.drain(..)) {
            if keep(&e, r) {
                kept.push(e);
                ranks.push(r);
            }
        }
        self.endpoint_index = kept
            .iter()
            .enumerate()
            .map(|(i, e)| (e.name.clone(), i))
            .collect();
        self.endpoints = kept;
        self.ranks = ranks;
    }

    /// Adds an address group; the same id read twice must say the same.
    pub fn address_group(&mut self, a: AddressGroupRecord, at: &At<'_>) -> Result<(), ImportError> {
        if let Some(&i) = self.address_group_index.get(&a.id) {
            let old = &self.address_groups[i];
            if old.ip_set != a.ip_set || old.ip_version != a.ip_version {
                return Err(at.error_here(format!(
                    "address group `{}` is described again differently (first at {})",
                    a.id, old.origin
                )));
            }
            return Ok(());
        }
        self.address_group_index
            .insert(a.id.clone(), self.address_groups.len());
        self.address_groups.push(a);
        Ok(())
    }

    /// Adds a prefix list; the same id read twice must say the same.
    pub fn prefix_list(&mut self, p: PrefixListRecord, at: &At<'_>) -> Result<(), ImportError> {
        if let Some(old) = self.prefix_lists.iter().find(|o| o.id == p.id) {
            if old.entries != p.entries || old.family != p.family {
                return Err(at.error_here(format!(
                    "prefix list `{}` is described again differently (first at {})",
                    p.id, old.origin
                )));
            }
            return Ok(());
        }
        self.prefix_lists.push(p);
        Ok(())
    }

    /// The groups read so far.
    pub fn groups(&self) -> &[GroupRecord] {
        &self.groups
    }

    /// Adds an unresolved item.
    pub fn unresolved(
        &mut self,
        kind: UnresolvedKind,
        subject: &str,
        field: Option<&str>,
        origin: Origin,
        message: String,
    ) {
        self.unresolved.push(Unresolved {
            kind,
            subject: subject.to_owned(),
            field: field.map(str::to_owned),
            origin,
            message,
        });
    }

    /// The inventory: rules in creation order where every rule of a group has a time,
    /// references to objects no document describes listed as unresolved.
    pub fn finish(mut self, provider: Provider, refs: &References) -> Inventory {
        for (g, times) in self.groups.iter_mut().zip(self.times.iter()) {
            if times.iter().all(Option::is_some) {
                let mut order: Vec<usize> = (0..g.rules.len()).collect();
                // Stable: equal times keep document order.
                order.sort_by(|&a, &b| times[a].cmp(&times[b]));
                let mut rules: Vec<Option<RuleRecord>> = g.rules.drain(..).map(Some).collect();
                g.rules = order.into_iter().filter_map(|i| rules[i].take()).collect();
            }
        }
        let group_ids: HashSet<&str> = self.groups.iter().map(|g| g.id.as_str()).collect();
        let address_ids: HashSet<&str> = self.address_groups.iter().map(|a| a.id.as_str()).collect();
        let prefix_ids: HashSet<&str> = self.prefix_lists.iter().map(|p| p.id.as_str()).collect();
        let mut unresolved = std::mem::take(&mut self.unresolved);
        for g in &self.groups {
            for r in &g.rules {
                let subject = r.id.clone().unwrap_or_else(|| r.origin.to_string());
                let mut check = |fields: &[&str],
                                 known: &HashSet<&str>,
                                 kind: UnresolvedKind,
                                 what: &str,
                                 call: &str| {
                    for f in fields {
                        if let Some(Value::String(id)) = r.fields.get(*f) {
                            if !known.contains(id.as_str()) {
                                unresolved.push(Unresolved {
                                    kind: kind.clone(),
                                    subject: subject.clone(),
                                    field: Some((*f).to_owned()),
                                    origin: r.origin.clone(),
                                    message: format!(
                                        "rule of group `{}` names {what} `{id}` that no document describes; add its {call} answer",
                                        g.id
                                    ),
                                });
                            }
                        }
                    }
                };
                check(
                    refs.groups,
                    &group_ids,
                    UnresolvedKind::MissingObject,
                    "security group",
                    "describe",
                );
                check(
                    refs.address_groups,
                    &address_ids,
                    UnresolvedKind::MissingObject,
                    "address group",
                    "ListAddressGroup",
                );
                check(
                    refs.prefix_lists,
                    &prefix_ids,
                    UnresolvedKind::PrefixListEntries,
                    "prefix list",
                    "DescribePrefixListAttributes",
                );
            }
        }
        for e in &self.endpoints {
            for gid in &e.groups {
                if !group_ids.contains(gid.as_str()) {
                    unresolved.push(Unresolved {
                        kind: UnresolvedKind::MissingObject,
                        subject: e.name.clone(),
                        field: Some("groups".to_owned()),
                        origin: e.origin.clone(),
                        message: format!(
                            "endpoint `{}` is in group `{gid}` that no document describes; add the group's describe/list answer",
                            e.name
                        ),
                    });
                }
            }
        }
        Inventory {
            provider,
            groups: self.groups,
            address_groups: self.address_groups,
            prefix_lists: self.prefix_lists,
            endpoints: self.endpoints,
            unresolved,
            skipped: self.skipped,
            notes: self.notes,
        }
    }
}
