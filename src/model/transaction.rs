//! The one way to change a [`Model`]: a [`Transaction`] writes in place and keeps an undo
//! journal, so reads through it see its own writes; [`Transaction::commit`] keeps them,
//! and dropping it uncommitted undoes them, leaving the model exactly as it was.
//!
//! Why a journal and not a staged overlay: every read of a front end (a group by id, the
//! rules of a group, the next keys) would otherwise have to merge the overlay with the
//! model, and the model's read API is shared with the engines. The journal costs one small
//! entry per mutation on the way (the rules a call removes are moved into it, not copied;
//! a whole group is copied only by [`Transaction::group_mut`], which ECS's
//! `ModifySecurityGroupPolicy` alone uses), and the undo work only on an error answer.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;

use super::{EndpointError, Model};
use crate::group::{AddressGroup, AddressGroupKey, Endpoint, EndpointKey, Group, GroupKey, GroupKind};
use crate::rule::{Rule, RuleKey};

/// What undoes one mutation.
#[derive(Debug)]
enum Undo {
    /// A group this transaction inserted.
    RemoveGroup(GroupKey),
    /// A group as it was before this transaction replaced or changed it (rules included).
    Group(Box<Group>),
    /// A group's own fields as they were (its `rules` empty: they are journaled apart).
    GroupFields(Box<Group>),
    /// Rules appended to a group: its length before, and how many were appended.
    TruncateRules {
        group: GroupKey,
        len: usize,
        added: usize,
    },
    /// Rules removed from a group, with their indexes before, ascending.
    ReinsertRules {
        group: GroupKey,
        removed: Vec<(usize, Arc<Rule>)>,
    },
    /// A rule as it was at an index.
    Rule {
        group: GroupKey,
        index: usize,
        rule: Arc<Rule>,
    },
    /// An address group this transaction inserted.
    RemoveAddressGroup(AddressGroupKey),
    /// An address group as it was before this transaction replaced or changed it.
    AddressGroup(Box<AddressGroup>),
    /// An endpoint this transaction attached (the last one), with its key.
    PopEndpoint(EndpointKey),
    /// An endpoint this transaction detached, with its place in the list.
    ReinsertEndpoint { index: usize, endpoint: Endpoint },
    /// An endpoint's groups as they were.
    EndpointGroups { key: EndpointKey, groups: Vec<GroupKey> },
}

/// A change of a [`Model`] in progress: whole on [`Transaction::commit`], nothing when
/// dropped. Reads go through `Deref` to the model and see the change's own writes.
#[derive(Debug)]
pub(crate) struct Transaction<'m> {
    model: &'m mut Model,
    journal: Vec<Undo>,
    /// Groups journaled whole (or inserted) by this transaction: finer entries for them
    /// are not needed, restoring the whole group undoes those changes too.
    whole: BTreeSet<GroupKey>,
    /// Groups and address groups this transaction changed in any way: only they can show
    /// an id it made, so pinning looks at them alone.
    touched: BTreeSet<GroupKey>,
    touched_address_groups: BTreeSet<AddressGroupKey>,
    /// The id counters when the transaction began.
    counters: (u32, u32, u32),
    committed: bool,
}

impl Deref for Transaction<'_> {
    type Target = Model;
    fn deref(&self) -> &Model {
        self.model
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.committed {
            self.rollback();
        }
    }
}

impl<'m> Transaction<'m> {
    pub(super) fn new(model: &'m mut Model) -> Transaction<'m> {
        let counters = (model.next_group, model.next_rule, model.next_address_group);
        Transaction {
            model,
            journal: Vec::new(),
            whole: BTreeSet::new(),
            touched: BTreeSet::new(),
            touched_address_groups: BTreeSet::new(),
            counters,
            committed: false,
        }
    }

    /// Keeps every change (and, while the model tracks changes, records what they touched).
    pub(crate) fn commit(mut self) {
        self.committed = true;
        let first_new_rule = RuleKey::new(self.counters.1);
        let m = &mut *self.model;
        if let Some(changes) = m.tracking.0.as_mut() {
            // The journal undoes every mutation, so it names everything that changed.
            // The rules appended to a group are those this transaction made. Appends go to
            // the end, removals and edits keep the order of what is left, so they are among
            // the group's last rules, as many as the transaction appended to it.
            // PERF: not a walk over the whole group at every append (~15 M instructions in
            // `live_profile huawei rules 4000 1000`, with ~520 rules in the group).
            let mut appended: BTreeMap<GroupKey, usize> = BTreeMap::new();
            for undo in &self.journal {
                if let Undo::TruncateRules { group, added, .. } = undo {
                    *appended.entry(*group).or_default() += added;
                }
            }
            for (group, added) in appended {
                if let Some(g) = m.groups.get(&group) {
                    for r in &g.rules[g.rules.len().saturating_sub(added)..] {
                        if r.key >= first_new_rule {
                            changes.rule(group, r.key);
                        }
                    }
                }
            }
            for undo in &self.journal {
                match undo {
                    Undo::RemoveGroup(key) => changes.group(*key),
                    Undo::Group(g) | Undo::GroupFields(g) => changes.group(g.key),
                    // Walked above, once a group.
                    Undo::TruncateRules { .. } => {}
                    Undo::ReinsertRules { group, removed } => {
                        for (_, r) in removed {
                            changes.rule(*group, r.key);
                        }
                    }
                    Undo::Rule { group, rule, .. } => changes.rule(*group, rule.key),
                    Undo::RemoveAddressGroup(key) => {
                        changes.address_groups.insert(*key);
                    }
                    Undo::AddressGroup(a) => {
                        changes.address_groups.insert(a.key);
                    }
                    Undo::PopEndpoint(key) => changes.moved_from(key.get()),
                    Undo::ReinsertEndpoint { index, .. } => changes.moved_from(*index as u32),
                    Undo::EndpointGroups { key, .. } => {
                        changes.endpoints.insert(*key);
                    }
                }
            }
        }
    }

    /// Undoes every change, newest first.
    fn rollback(&mut self) {
        let m = &mut *self.model;
        while let Some(undo) = self.journal.pop() {
            match undo {
                Undo::RemoveGroup(key) => {
                    if let Some(g) = m.groups.remove(&key) {
                        m.index_rules(key, &g.rules, false);
                        m.index_group(&g.id, key, false);
                        m.index_name(&g.name, key, false);
                    }
                }
                Undo::Group(g) => {
                    m.index_rules(g.key, &g.rules, true);
                    let (key, id, name) = (g.key, g.id.clone(), g.name.clone());
                    if let Some(cur) = m.groups.insert(key, *g) {
                        m.index_rules(key, &cur.rules, false);
                        m.index_group(&cur.id, key, false);
                        m.index_name(&cur.name, key, false);
                    }
                    // After the removal: the restored group may have the same id and name.
                    m.index_group(&id, key, true);
                    m.index_name(&name, key, true);
                }
                Undo::GroupFields(g) => {
                    if let Some(cur) = m.groups.get_mut(&g.key) {
                        let rules = std::mem::take(&mut cur.rules);
                        let before = std::mem::replace(cur, *g);
                        cur.rules = rules;
                        let (key, id, name) = (cur.key, cur.id.clone(), cur.name.clone());
                        if before.id != id {
                            m.index_group(&before.id, key, false);
                            m.index_group(&id, key, true);
                        }
                        if before.name != name {
                            m.index_name(&before.name, key, false);
                            m.index_name(&name, key, true);
                        }
                    }
                }
                Undo::TruncateRules { group, len, .. } => {
                    if let Some(g) = m.groups.get_mut(&group) {
                        let cut: Vec<Arc<Rule>> = g.rules.drain(len.min(g.rules.len())..).collect();
                        m.index_rules(group, &cut, false);
                    }
                }
                Undo::ReinsertRules { group, removed } => {
                    if let Some(g) = m.groups.get_mut(&group) {
                        for (index, rule) in removed {
                            g.rules.insert(index, rule);
                            super::index_rule(
                                &mut m.rule_ids,
                                &mut m.rule_prints,
                                m.provider,
                                group,
                                &g.rules[index],
                                true,
                            );
                        }
                    }
                }
                Undo::Rule { group, index, rule } => {
                    if let Some(slot) = m.groups.get_mut(&group).and_then(|g| g.rules.get_mut(index)) {
                        let (ids, prints, provider) = (&mut m.rule_ids, &mut m.rule_prints, m.provider);
                        super::index_rule(ids, prints, provider, group, slot, false);
                        super::index_rule(ids, prints, provider, group, &rule, true);
                        *slot = rule;
                    }
                }
                Undo::RemoveAddressGroup(key) => {
                    m.address_groups.remove(&key);
                }
                Undo::AddressGroup(a) => {
                    m.address_groups.insert(a.key, *a);
                }
                Undo::PopEndpoint(_) => {
                    if let Some(e) = m.endpoints.pop() {
                        m.by_name.remove(&e.name);
                        for a in &e.ips {
                            m.by_addr.remove(a);
                        }
                    }
                }
                Undo::ReinsertEndpoint { index, endpoint } => {
                    m.endpoints.insert(index, endpoint);
                    m.reindex_from(index);
                }
                Undo::EndpointGroups { key, groups } => {
                    if let Some(e) = m.endpoints.get_mut(key.get() as usize) {
                        e.groups = groups;
                    }
                }
            }
        }
        (m.next_group, m.next_rule, m.next_address_group) = self.counters;
    }

    /// Adds a group built with the key from [`Model::next_group_key`].
    pub(crate) fn insert_group(&mut self, group: Group) {
        debug_assert_eq!(group.key.get(), self.model.next_group);
        let m = &mut *self.model;
        m.next_group += 1;
        m.next_rule = m
            .next_rule
            .max(group.rules.iter().map(|r| r.key.get() + 1).max().unwrap_or(0));
        let key = group.key;
        m.index_rules(key, &group.rules, true);
        m.index_group(&group.id, key, true);
        m.index_name(&group.name, key, true);
        self.journal.push(match m.groups.insert(key, group) {
            Some(old) => {
                m.index_rules(key, &old.rules, false);
                if old.id != m.groups[&key].id {
                    m.index_group(&old.id, key, false);
                }
                if old.name != m.groups[&key].name {
                    m.index_name(&old.name, key, false);
                }
                Undo::Group(Box::new(old))
            }
            None => Undo::RemoveGroup(key),
        });
        self.whole.insert(key);
        self.touched.insert(key);
    }

    /// Appends rules (keys from [`Model::next_rule_keys`]) to a group.
    pub(crate) fn push_rules(&mut self, group: GroupKey, rules: Vec<Rule>) {
        let m = &mut *self.model;
        if let Some(max) = rules.iter().map(|r| r.key.get() + 1).max() {
            m.next_rule = m.next_rule.max(max);
        }
        if let Some(g) = m.groups.get_mut(&group) {
            if !self.whole.contains(&group) {
                self.journal.push(Undo::TruncateRules {
                    group,
                    len: g.rules.len(),
                    added: rules.len(),
                });
            }
            for r in &rules {
                super::index_rule(&mut m.rule_ids, &mut m.rule_prints, m.provider, group, r, true);
            }
            g.rules.extend(rules.into_iter().map(Arc::new));
            self.touched.insert(group);
        }
    }

    /// Removes rules from a group by key (keys it does not hold are skipped).
    pub(crate) fn remove_rules(&mut self, group: GroupKey, keys: &[RuleKey]) {
        let Some(g) = self.model.groups.get_mut(&group) else {
            return;
        };
        // Where the rules are first: a call removes a few rules of a long list, and moving
        // every rule into a new list cost as much as the rest of the call.
        let places: Vec<usize> = if keys.len() <= 8 {
            // PERF: looked up, not scanned for: each rule is an allocation of its own, and a
            // scan of a 1,000-rule group missed the cache once a rule (`live_profile huawei
            // rules 8000 1000`: 43% of the first-level cache misses).
            let mut places: Vec<usize> = keys.iter().filter_map(|&k| g.place_of(k)).collect();
            places.sort_unstable();
            places.dedup();
            places
        } else {
            (g.rules.iter().enumerate())
                .filter(|(_, r)| keys.contains(&r.key))
                .map(|(i, _)| i)
                .collect()
        };
        let mut removed = Vec::with_capacity(places.len());
        if places.len() <= 8 {
            for &index in places.iter().rev() {
                removed.push((index, g.rules.remove(index)));
            }
            removed.reverse();
        } else {
            for (index, rule) in std::mem::take(&mut g.rules).into_iter().enumerate() {
                if keys.contains(&rule.key) {
                    removed.push((index, rule));
                } else {
                    g.rules.push(rule);
                }
            }
        }
        let provider = self.model.provider;
        for (_, rule) in &removed {
            super::index_rule(
                &mut self.model.rule_ids,
                &mut self.model.rule_prints,
                provider,
                group,
                rule,
                false,
            );
        }
        self.touched.insert(group);
        if !removed.is_empty() && !self.whole.contains(&group) {
            self.journal.push(Undo::ReinsertRules { group, removed });
        }
    }

    /// Changes a group's own fields with `f` (not its key, not its rules: the rule id
    /// index does not see them; a changed id is re-indexed). Journals the whole group: for
    /// rare edits only. Whether the group exists.
    pub(crate) fn group_mut(&mut self, key: GroupKey, f: impl FnOnce(&mut Group)) -> bool {
        let Some(g) = self.model.groups.get_mut(&key) else {
            return false;
        };
        if self.whole.insert(key) {
            self.journal.push(Undo::Group(Box::new(g.clone())));
        }
        self.touched.insert(key);
        let (before, before_name) = (g.id.clone(), g.name.clone());
        f(g);
        let (id, name) = (g.id.clone(), g.name.clone());
        if id != before {
            self.model.index_group(&before, key, false);
            self.model.index_group(&id, key, true);
        }
        if name != before_name {
            self.model.index_name(&before_name, key, false);
            self.model.index_name(&name, key, true);
        }
        true
    }

    /// Adds an address group built with the key from [`Model::next_address_group_key`]
    /// (or replaces the one with its key).
    pub(crate) fn insert_address_group(&mut self, group: AddressGroup) {
        let m = &mut *self.model;
        m.next_address_group += 1;
        let key = group.key;
        self.journal.push(match m.address_groups.insert(key, group) {
            Some(old) => Undo::AddressGroup(Box::new(old)),
            None => Undo::RemoveAddressGroup(key),
        });
        self.touched_address_groups.insert(key);
    }

    /// Attaches a NIC with its addresses and its groups (by provider id, in association
    /// order), after the common checks and then `provider_check` (the provider's own, on
    /// the groups' keys).
    ///
    /// # Errors
    /// A repeated name or address, no address, no group, an unknown or repeated group, more
    /// groups than the provider allows per NIC, ECS basic and advanced groups together, or
    /// what `provider_check` answers.
    pub(crate) fn attach(
        &mut self,
        name: &str,
        ips: &[IpAddr],
        group_ids: &[String],
        provider_check: impl FnOnce(&Model, &str, &[GroupKey]) -> Result<(), EndpointError>,
    ) -> Result<EndpointKey, EndpointError> {
        let m = &*self.model;
        if m.by_name.contains_key(name) {
            return Err(EndpointError::DuplicateName(name.to_owned()));
        }
        if ips.is_empty() {
            return Err(EndpointError::NoAddress(name.to_owned()));
        }
        for (i, addr) in ips.iter().enumerate() {
            let other = m
                .by_addr
                .get(addr)
                .and_then(|&k| m.endpoint(k))
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
        // Count first, as the errors were always ordered: no group, too many, then ids.
        if group_ids.is_empty() {
            return Err(EndpointError::NoGroup(name.to_owned()));
        }
        let limit = m.provider().profile().groups_per_nic;
        if m.enforces_quotas() && group_ids.len() > limit {
            return Err(EndpointError::TooManyGroups {
                endpoint: name.to_owned(),
                count: group_ids.len(),
                provider: m.provider(),
                limit,
            });
        }
        let keys = resolve_groups(m, name, group_ids)?;
        check_groups(m, name, &keys)?;
        provider_check(m, name, &keys)?;
        let m = &mut *self.model;
        let key = EndpointKey::new(m.endpoints.len() as u32);
        m.endpoints.push(Endpoint {
            name: name.to_owned(),
            ips: ips.to_vec(),
            groups: keys,
        });
        m.by_name.insert(name.to_owned(), key);
        m.by_addr.extend(ips.iter().map(|&a| (a, key)));
        self.journal.push(Undo::PopEndpoint(key));
        Ok(key)
    }

    /// Replaces the groups of endpoint `key` (keys of existing groups, in association
    /// order), after the checks of [`Transaction::attach`] on groups (at least one, none
    /// twice, the provider's per-NIC limit, ECS basic and advanced apart) and then
    /// `provider_check`. The endpoint keeps its key, name and addresses.
    ///
    /// # Errors
    /// [`EndpointError::UnknownEndpoint`] for a key that names no endpoint, or what the
    /// checks refuse; nothing changes then.
    pub(crate) fn set_groups(
        &mut self,
        key: EndpointKey,
        groups: Vec<GroupKey>,
        provider_check: impl FnOnce(&Model, &str, &[GroupKey]) -> Result<(), EndpointError>,
    ) -> Result<(), EndpointError> {
        let m = &*self.model;
        let Some(endpoint) = m.endpoint(key) else {
            return Err(EndpointError::UnknownEndpoint(key.to_string()));
        };
        let name = endpoint.name.clone();
        for (i, g) in groups.iter().enumerate() {
            let Some(group) = m.group(*g) else {
                return Err(EndpointError::UnknownGroup {
                    endpoint: name,
                    group: g.to_string(),
                });
            };
            if groups[..i].contains(g) {
                return Err(EndpointError::RepeatedGroup {
                    endpoint: name,
                    group: group.id.clone(),
                });
            }
        }
        check_groups(m, &name, &groups)?;
        provider_check(m, &name, &groups)?;
        let e = &mut self.model.endpoints[key.get() as usize];
        let old = std::mem::replace(&mut e.groups, groups);
        self.journal.push(Undo::EndpointGroups { key, groups: old });
        Ok(())
    }

    /// [`Transaction::set_groups`] with the groups named by provider id, as
    /// [`Transaction::attach`] takes them.
    ///
    /// # Errors
    /// As [`Transaction::set_groups`], and an unknown or repeated group id.
    pub(crate) fn set_group_ids(
        &mut self,
        key: EndpointKey,
        group_ids: &[String],
        provider_check: impl FnOnce(&Model, &str, &[GroupKey]) -> Result<(), EndpointError>,
    ) -> Result<(), EndpointError> {
        let m = &*self.model;
        let Some(endpoint) = m.endpoint(key) else {
            return Err(EndpointError::UnknownEndpoint(key.to_string()));
        };
        let keys = resolve_groups(m, &endpoint.name.clone(), group_ids)?;
        self.set_groups(key, keys, provider_check)
    }

    /// Removes endpoint `key`: the endpoints attached after it move down by one place,
    /// so their keys go down by one (an [`EndpointKey`] is a place in the list).
    ///
    /// # Errors
    /// [`EndpointError::UnknownEndpoint`] for a key that names no endpoint.
    pub(crate) fn detach(&mut self, key: EndpointKey) -> Result<(), EndpointError> {
        let index = key.get() as usize;
        let m = &mut *self.model;
        if index >= m.endpoints.len() {
            return Err(EndpointError::UnknownEndpoint(key.to_string()));
        }
        let endpoint = m.endpoints.remove(index);
        m.by_name.remove(&endpoint.name);
        for a in &endpoint.ips {
            m.by_addr.remove(a);
        }
        m.reindex_from(index);
        self.journal.push(Undo::ReinsertEndpoint { index, endpoint });
        Ok(())
    }

    /// Removes a group with its rules. The caller (a front end) has checked that no
    /// endpoint is a member and has removed or refused whatever references the group: a
    /// group that still has members is not removed (`false`), so no endpoint ever names a
    /// group that does not exist.
    pub(crate) fn remove_group(&mut self, key: GroupKey) -> bool {
        if self.model.members(key).next().is_some() {
            return false;
        }
        let Some(old) = self.model.groups.remove(&key) else {
            return false;
        };
        // Its rules and its id leave the id indexes with it (a rollback counts them back in).
        self.model.index_rules(key, &old.rules, false);
        self.model.index_group(&old.id, key, false);
        self.model.index_name(&old.name, key, false);
        if self.whole.insert(key) {
            self.journal.push(Undo::Group(Box::new(old)));
        }
        true
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
    /// another object already has. Nothing of it changes then (and the caller drops the
    /// transaction, so nothing of the call either).
    pub(crate) fn pin_ids(
        &mut self,
        created: Option<&str>,
        id: Option<&str>,
        mark: RuleKey,
        rule_ids: Option<&[String]>,
        drop_rules: bool,
    ) -> Result<(), String> {
        // PERF: a call's rules are in the groups it touched; pinning looks at those alone
        // (and at the rule id index), so a replay of N calls pins in O(N), not O(N^2).
        let mut new_rules: Vec<(GroupKey, RuleKey, String)> = self
            .touched
            .iter()
            .filter_map(|k| self.groups.get(k))
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
        // A rule older than the call has the id when the index counts more rules with it
        // than the call's own new rules.
        let fresh = |x: &str| new_rules.iter().filter(|(_, _, id)| id == x).count() as u32;
        let taken = |m: &Model, x: &str| {
            m.group_by_id(x).is_some() || m.address_group_by_id(x).is_some() || m.rules_with_id(x) > fresh(x)
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
            let mut seen = BTreeSet::new();
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
            if let Some(g) = created_group {
                let drop: Vec<RuleKey> = new_rules
                    .iter()
                    .filter(|(rg, _, _)| *rg == g)
                    .map(|(_, r, _)| *r)
                    .collect();
                self.remove_rules(g, &drop);
            }
        } else if let Some(ids) = &rule_ids {
            for ((g, r, old), rid) in new_rules.iter().zip(ids) {
                self.rename_everywhere(old, rid, false);
                self.edit_rule(*g, *r, |rule| rule.id.clone_from(rid));
            }
        }
        if let Some((old, new)) = renamed {
            // An object this transaction inserted is shown only by what it touched; an
            // older one (an answer naming an existing object) may be named anywhere.
            let inserted = match (self.group_by_id(&old), self.address_group_by_id(&old)) {
                (Some(g), _) => g.key.get() >= self.counters.0,
                (None, Some(a)) => a.key.get() >= self.counters.2,
                (None, None) => false,
            };
            self.rename_everywhere(&old, &new, !inserted);
            let (groups, address_groups) = self.scope(!inserted);
            let groups: Vec<GroupKey> = groups
                .into_iter()
                .filter(|k| self.groups.get(k).is_some_and(|g| g.id == old))
                .collect();
            for g in groups {
                self.edit_group_fields(g, |g| g.id.clone_from(&new));
            }
            let address_groups: Vec<AddressGroupKey> = address_groups
                .into_iter()
                .filter_map(|k| self.address_groups.get(&k))
                .filter(|a| a.id == old)
                .map(|a| a.key)
                .collect();
            for a in address_groups {
                self.edit_address_group(a, |a| a.id.clone_from(&new));
            }
        }
        Ok(())
    }

    /// Changes a group's own fields (not its rules, not its key), journaled.
    fn edit_group_fields(&mut self, key: GroupKey, f: impl FnOnce(&mut Group)) {
        let Some(g) = self.model.groups.get_mut(&key) else {
            return;
        };
        if !self.whole.contains(&key) {
            let rules = std::mem::take(&mut g.rules);
            self.journal.push(Undo::GroupFields(Box::new(g.clone())));
            g.rules = rules;
        }
        let (before, before_name) = (g.id.clone(), g.name.clone());
        f(g);
        let (id, name) = (g.id.clone(), g.name.clone());
        if id != before {
            self.model.index_group(&before, key, false);
            self.model.index_group(&id, key, true);
        }
        if name != before_name {
            self.model.index_name(&before_name, key, false);
            self.model.index_name(&name, key, true);
        }
        self.touched.insert(key);
    }

    /// Changes one rule (not its key), journaled.
    fn edit_rule(&mut self, group: GroupKey, key: RuleKey, f: impl FnOnce(&mut Rule)) {
        let Some(g) = self.model.groups.get_mut(&group) else {
            return;
        };
        let Some(index) = g.rules.iter().position(|r| r.key == key) else {
            return;
        };
        if !self.whole.contains(&group) {
            self.journal.push(Undo::Rule {
                group,
                index,
                rule: Arc::clone(&g.rules[index]),
            });
        }
        // A copy of its own when the journal (or an older state) holds this one.
        let rule = Arc::make_mut(&mut g.rules[index]);
        let provider = self.model.provider;
        let (ids, prints) = (&mut self.model.rule_ids, &mut self.model.rule_prints);
        // Any field may change: the rule leaves the indexes as it was, comes back as it is.
        super::index_rule(ids, prints, provider, group, rule, false);
        f(rule);
        super::index_rule(ids, prints, provider, group, rule, true);
        self.touched.insert(group);
    }

    /// Changes an address group (not its key), journaled.
    fn edit_address_group(&mut self, key: AddressGroupKey, f: impl FnOnce(&mut AddressGroup)) {
        let Some(a) = self.model.address_groups.get_mut(&key) else {
            return;
        };
        self.journal.push(Undo::AddressGroup(Box::new(a.clone())));
        f(a);
        self.touched_address_groups.insert(key);
    }

    /// The groups and address groups to look at: every one (`all`), or those this
    /// transaction touched.
    fn scope(&self, all: bool) -> (Vec<GroupKey>, Vec<AddressGroupKey>) {
        if all {
            (
                self.groups.keys().copied().collect(),
                self.address_groups.keys().copied().collect(),
            )
        } else {
            (
                self.touched.iter().copied().collect(),
                self.touched_address_groups.iter().copied().collect(),
            )
        }
    }

    /// Replaces `old` by `new` wherever an answer shows it: groups' and address groups' own
    /// views, and every rule's (a rule names its group, a peer group, an address group).
    /// Without `all`, `old` is the id of an object this transaction inserted, so only what
    /// it touched can show it (an earlier object naming an id that did not exist yet would
    /// have been refused): the look stays within the call. Journals only what changes.
    fn rename_everywhere(&mut self, old: &str, new: &str, all: bool) {
        let (groups, address_groups) = self.scope(all);
        for key in groups {
            let Some(group) = self.groups.get(&key) else {
                continue;
            };
            let shows = has_str(&group.shown, old);
            let rules: Vec<RuleKey> = group
                .rules
                .iter()
                .filter(|r| has_str(&r.shown, old))
                .map(|r| r.key)
                .collect();
            if shows {
                self.edit_group_fields(key, |g| replace_str(&mut g.shown, old, new));
            }
            for r in rules {
                self.edit_rule(key, r, |rule| {
                    replace_str(std::sync::Arc::make_mut(&mut rule.shown), old, new)
                });
            }
        }
        let address_groups: Vec<AddressGroupKey> = address_groups
            .into_iter()
            .filter_map(|k| self.address_groups.get(&k))
            .filter(|a| has_str(&a.shown, old))
            .map(|a| a.key)
            .collect();
        for a in address_groups {
            self.edit_address_group(a, |a| replace_str(&mut a.shown, old, new));
        }
    }
}

/// The keys of `group_ids` (provider ids, in association order) for endpoint `name`.
fn resolve_groups(m: &Model, name: &str, group_ids: &[String]) -> Result<Vec<GroupKey>, EndpointError> {
    let mut keys = Vec::with_capacity(group_ids.len());
    for id in group_ids {
        let key = m.group_by_id(id).map(|g| g.key).ok_or_else(|| {
            if m.address_group_by_id(id).is_some() {
                EndpointError::AddressGroupAsGroup {
                    endpoint: name.to_owned(),
                    group: id.clone(),
                }
            } else {
                EndpointError::UnknownGroup {
                    endpoint: name.to_owned(),
                    group: id.clone(),
                }
            }
        })?;
        if keys.contains(&key) {
            return Err(EndpointError::RepeatedGroup {
                endpoint: name.to_owned(),
                group: id.clone(),
            });
        }
        keys.push(key);
    }
    Ok(keys)
}

/// The checks every provider makes on a NIC's groups: at least one, at most the
/// provider's per-NIC limit, ECS basic and advanced groups apart (Decision 3).
fn check_groups(m: &Model, name: &str, keys: &[GroupKey]) -> Result<(), EndpointError> {
    if keys.is_empty() {
        return Err(EndpointError::NoGroup(name.to_owned()));
    }
    let limit = m.provider().profile().groups_per_nic;
    if keys.len() > limit {
        return Err(EndpointError::TooManyGroups {
            endpoint: name.to_owned(),
            count: keys.len(),
            provider: m.provider(),
            limit,
        });
    }
    let enterprise = keys
        .iter()
        .filter(|k| matches!(m.groups.get(k).map(|g| g.kind), Some(GroupKind::EcsEnterprise)))
        .count();
    if enterprise != 0 && enterprise != keys.len() {
        return Err(EndpointError::MixedEcsGroupTypes(name.to_owned()));
    }
    Ok(())
}

/// Whether some string value in `v` equals `s`.
fn has_str(v: &serde_json::Value, s: &str) -> bool {
    match v {
        serde_json::Value::String(x) => x == s,
        serde_json::Value::Array(items) => items.iter().any(|x| has_str(x, s)),
        serde_json::Value::Object(map) => map.values().any(|x| has_str(x, s)),
        _ => false,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::{AddressEntry, InnerPolicy};
    use crate::options::Options;
    use crate::provider_kind::Provider;
    use crate::query::testkit;
    use crate::rule::{Direction, Family};
    use proptest::prelude::*;
    use serde_json::json;

    /// One mutation through the handle; indexes pick among what exists (modulo).
    #[derive(Clone, Debug)]
    enum Op {
        Group,
        Rules(usize, usize),
        Remove(usize, u8),
        Policy(usize),
        AddressGroup,
        ReplaceAddressGroup(usize),
        Attach(usize, u8),
        Pin(usize, bool),
        Detach(usize),
        SetGroups(usize, usize, bool),
        RemoveGroup(usize),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            Just(Op::Group),
            (any::<usize>(), 0..4usize).prop_map(|(g, n)| Op::Rules(g, n)),
            (any::<usize>(), any::<u8>()).prop_map(|(g, m)| Op::Remove(g, m)),
            any::<usize>().prop_map(Op::Policy),
            Just(Op::AddressGroup),
            any::<usize>().prop_map(Op::ReplaceAddressGroup),
            (any::<usize>(), any::<u8>()).prop_map(|(g, a)| Op::Attach(g, a)),
            (any::<usize>(), any::<bool>()).prop_map(|(g, r)| Op::Pin(g, r)),
            any::<usize>().prop_map(Op::Detach),
            (any::<usize>(), any::<usize>(), any::<bool>())
                .prop_map(|(e, g, both)| Op::SetGroups(e, g, both)),
            any::<usize>().prop_map(Op::RemoveGroup),
        ]
    }

    fn nth_group(m: &Model, i: usize) -> Option<GroupKey> {
        let keys: Vec<GroupKey> = m.groups.keys().copied().collect();
        (!keys.is_empty()).then(|| keys[i % keys.len()])
    }

    /// Applies `op`, checking that reads through the handle see the write.
    fn apply(t: &mut Transaction<'_>, op: &Op, step: usize) {
        match *op {
            Op::Group => {
                let key = t.next_group_key();
                let id = format!("sg-{}", key.get());
                t.insert_group(Group {
                    key,
                    id: id.clone(),
                    name: id.clone(),
                    description: String::new(),
                    kind: GroupKind::EcsBasic {
                        inner: InnerPolicy::Accept,
                    },
                    rules: Vec::new(),
                    shown: json!({"id": id}),
                });
                assert!(t.group(key).is_some());
            }
            Op::Rules(g, n) => {
                let Some(g) = nth_group(t, g) else { return };
                let before = t.group(g).map_or(0, |g| g.rules.len());
                let rules: Vec<Rule> = t
                    .next_rule_keys(n)
                    .map(|key| {
                        let mut r = testkit::rule(Direction::Ingress);
                        r.key = key;
                        r.id = format!("r-{}", key.get());
                        r.shown = json!({"id": r.id, "group": t.group(g).map(|g| g.id.clone())}).into();
                        r
                    })
                    .collect();
                t.push_rules(g, rules);
                assert_eq!(t.group(g).map_or(0, |g| g.rules.len()), before + n);
            }
            Op::Remove(g, mask) => {
                let Some(g) = nth_group(t, g) else { return };
                let keys: Vec<RuleKey> = t.groups[&g]
                    .rules
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << (i % 8)) != 0)
                    .map(|(_, r)| r.key)
                    .collect();
                t.remove_rules(g, &keys);
                assert!(t.groups[&g].rules.iter().all(|r| !keys.contains(&r.key)));
            }
            Op::Policy(g) => {
                let Some(g) = nth_group(t, g) else { return };
                t.group_mut(g, |group| {
                    group.kind = GroupKind::EcsBasic {
                        inner: InnerPolicy::Drop,
                    };
                    group.name = format!("renamed-{step}");
                });
                assert_eq!(t.groups[&g].name, format!("renamed-{step}"));
            }
            Op::AddressGroup => {
                let key = t.next_address_group_key();
                t.insert_address_group(AddressGroup {
                    key,
                    id: format!("ag-{}", key.get()),
                    name: String::new(),
                    family: Family::V4,
                    entries: vec![AddressEntry::Net("10.0.0.0/8".parse().unwrap())],
                    shown: json!({"id": format!("ag-{}", key.get())}),
                });
                assert!(t.address_group(key).is_some());
            }
            Op::ReplaceAddressGroup(a) => {
                let keys: Vec<AddressGroupKey> = t.address_groups.keys().copied().collect();
                if keys.is_empty() {
                    return;
                }
                let mut changed = t.address_groups[&keys[a % keys.len()]].clone();
                changed.entries.clear();
                t.insert_address_group(changed);
            }
            Op::Attach(g, a) => {
                let Some(g) = nth_group(t, g) else { return };
                let id = t.groups[&g].id.clone();
                let ip: IpAddr = format!("192.0.2.{a}").parse().unwrap();
                let name = format!("vm-{step}");
                let attached = t.attach(&name, &[ip], &[id], |_, _, _| Ok(()));
                assert_eq!(
                    attached.is_ok(),
                    t.endpoint_by_addr(ip)
                        .is_some_and(|e| t.endpoint(e).unwrap().name == name)
                );
            }
            Op::Detach(e) => {
                let n = t.endpoints().len();
                if n == 0 {
                    return;
                }
                let key = EndpointKey::new((e % n) as u32);
                let name = t.endpoint(key).map(|e| e.name.clone()).unwrap();
                assert_eq!(t.detach(key), Ok(()));
                assert_eq!(t.endpoints().len(), n - 1);
                assert_eq!(t.endpoint_by_name(&name), None);
                // The later endpoints moved down and their indexes with them.
                for (i, e) in t.endpoints().iter().enumerate() {
                    assert_eq!(t.endpoint_by_name(&e.name), Some(EndpointKey::new(i as u32)));
                    assert!(e
                        .ips
                        .iter()
                        .all(|a| t.endpoint_by_addr(*a) == Some(EndpointKey::new(i as u32))));
                }
            }
            Op::SetGroups(e, g, both) => {
                let n = t.endpoints().len();
                let Some(g) = nth_group(t, g) else { return };
                if n == 0 {
                    return;
                }
                let key = EndpointKey::new((e % n) as u32);
                let mut groups = vec![g];
                if both {
                    if let Some(other) = t.groups.keys().copied().find(|k| *k != g) {
                        groups.insert(0, other);
                    }
                }
                let done = t.set_groups(key, groups.clone(), |_, _, _| Ok(()));
                if done.is_ok() {
                    assert_eq!(t.endpoint(key).unwrap().groups, groups);
                }
            }
            Op::RemoveGroup(g) => {
                let Some(g) = nth_group(t, g) else { return };
                let in_use = t.members(g).next().is_some();
                assert_eq!(t.remove_group(g), !in_use);
                assert_eq!(t.group(g).is_some(), in_use);
            }
            Op::Pin(g, rules) => {
                let Some(g) = nth_group(t, g) else { return };
                let old = t.groups[&g].id.clone();
                let mark = t.rule_key_mark();
                if rules {
                    // Rules created now, then named.
                    let key = t.next_rule_keys(1).next().unwrap();
                    let mut r = testkit::rule(Direction::Egress);
                    r.key = key;
                    r.id = format!("r-{}", key.get());
                    r.shown = json!({"id": r.id, "group": old}).into();
                    t.push_rules(g, vec![r]);
                    let ids = vec![format!("sgr-pinned-{step}")];
                    assert_eq!(t.pin_ids(None, None, mark, Some(&ids), false), Ok(()));
                    assert!(t.groups[&g].rules.iter().any(|r| r.id == ids[0]));
                } else {
                    let new = format!("sg-pinned-{step}");
                    assert_eq!(t.pin_ids(Some(&old), Some(&new), mark, None, false), Ok(()));
                    assert!(t.group_by_id(&new).is_some());
                }
            }
        }
    }

    fn base() -> Model {
        let mut m = Model::new(Provider::Ecs, Options::default());
        let mut t = m.begin();
        for (i, op) in [
            Op::Group,
            Op::Group,
            Op::Rules(0, 3),
            Op::Rules(1, 2),
            Op::AddressGroup,
            Op::Attach(0, 1),
        ]
        .iter()
        .enumerate()
        {
            apply(&mut t, op, 1000 + i);
        }
        t.commit();
        m
    }

    proptest! {
        /// A dropped transaction leaves the model exactly as it was, whatever it did; a
        /// committed one keeps every change.
        #[test]
        fn a_dropped_transaction_changes_nothing(ops in prop::collection::vec(op(), 0..24), commit in any::<bool>()) {
            let mut m = base();
            let before = m.clone();
            let mut expected = m.clone();
            {
                let mut t = m.begin();
                for (i, op) in ops.iter().enumerate() {
                    apply(&mut t, op, i);
                }
                if commit {
                    t.commit();
                }
            }
            if commit {
                let mut t = expected.begin();
                for (i, op) in ops.iter().enumerate() {
                    apply(&mut t, op, i);
                }
                t.commit();
                prop_assert_eq!(&m, &expected);
            } else {
                prop_assert_eq!(&m, &before);
            }
            // The rule id index counts exactly the rules there are, group by group, after
            // a commit or an undo alike.
            let mut counted = super::super::RuleIds::default();
            for g in m.groups.values() {
                for r in &g.rules {
                    let groups = counted.entry(r.id.clone()).or_default();
                    match groups.last_mut() {
                        Some((key, n)) if *key == g.key => *n += 1,
                        _ => groups.push((g.key, 1)),
                    }
                }
            }
            prop_assert_eq!(&m.rule_ids, &counted);
            // Every rule's group is found by its id, the first a scan finds first.
            for g in m.groups.values() {
                for r in &g.rules {
                    let first = m.groups.values().find(|h| h.rules.iter().any(|x| x.id == r.id)).map(|h| h.key);
                    prop_assert_eq!(m.groups_with_rule_id(&r.id).next(), first);
                    prop_assert!(m.groups_with_rule_id(&r.id).any(|k| k == g.key));
                }
            }
            // The duplicate print index too.
            prop_assert!(m.prints_match_rules());
            // So does the group id index, and every group is found by its id.
            let mut groups: crate::model::FastMap<String, BTreeSet<GroupKey>> = Default::default();
            for g in m.groups.values() {
                groups.entry(g.id.clone()).or_default().insert(g.key);
            }
            prop_assert_eq!(&m.group_ids, &groups);
            // And the group name index.
            let mut named: crate::model::FastMap<String, BTreeSet<GroupKey>> = Default::default();
            for g in m.groups.values() {
                named.entry(g.name.clone()).or_default().insert(g.key);
            }
            prop_assert_eq!(&m.group_names, &named);
            for g in m.groups.values() {
                prop_assert_eq!(m.group_by_id(&g.id).map(|f| f.key), m.groups.values().find(|f| f.id == g.id).map(|f| f.key));
            }
        }
    }

    #[test]
    fn a_refused_pin_changes_nothing_through_the_same_transaction() {
        let mut m = base();
        let before = m.clone();
        let taken = m.groups().nth(1).unwrap().id.clone();
        let first = m.groups().next().unwrap().id.clone();
        let mark = m.rule_key_mark();
        let mut t = m.begin();
        apply(&mut t, &Op::Rules(0, 2), 0);
        // `taken` already names another group.
        assert!(t.pin_ids(Some(&first), Some(&taken), mark, None, false).is_err());
        drop(t);
        assert_eq!(m, before);
    }
}
