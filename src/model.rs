//! The data of one emulated cloud: groups, rules, address groups, endpoints, the id
//! counters and the endpoint indexes, with their read methods. It knows nothing of the
//! provider front ends; it changes only through a [`Transaction`], which applies whole
//! or not at all.

use smallvec::SmallVec;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;

use crate::decision::RuleRef;
use crate::group::{AddressGroup, AddressGroupKey, Endpoint, EndpointKey, Group, GroupKey};
use crate::options::Options;
use crate::provider_kind::Provider;
use crate::request::Request;
use crate::rule::{Rule, RuleKey};
use shared_log::{Log, Shared};
pub(crate) mod shared_log;
mod transaction;

pub(crate) use transaction::Transaction;

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
    /// An address group (Huawei) where a security group belongs: a NIC joins security
    /// groups; address groups are peers of rules.
    #[error("endpoint `{endpoint}`: `{group}` is an address group, not a security group (address groups are the remote side of rules: `remote_address_group_id`)")]
    AddressGroupAsGroup {
        /// The endpoint.
        endpoint: String,
        /// The address group id as given.
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
    /// No endpoint has this name (or key).
    #[error("no endpoint is named `{0}`")]
    UnknownEndpoint(String),
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

impl EndpointError {
    /// The error's name (`DuplicateAddress`, `UnknownEndpoint`, ...): the `code` of a
    /// refused `AttachEndpoint` / `DetachEndpoint` scenario call.
    pub fn code(&self) -> &'static str {
        match self {
            EndpointError::DuplicateName(_) => "DuplicateName",
            EndpointError::DuplicateAddress { .. } => "DuplicateAddress",
            EndpointError::NoAddress(_) => "NoAddress",
            EndpointError::NoGroup(_) => "NoGroup",
            EndpointError::UnknownGroup { .. } => "UnknownGroup",
            EndpointError::AddressGroupAsGroup { .. } => "AddressGroupAsGroup",
            EndpointError::RepeatedGroup { .. } => "RepeatedGroup",
            EndpointError::MixedEcsGroupTypes(_) => "MixedEcsGroupTypes",
            EndpointError::GroupsInDifferentNetworks { .. } => "GroupsInDifferentNetworks",
            EndpointError::TooManyRules { .. } => "TooManyRules",
            EndpointError::UnknownEndpoint(_) => "UnknownEndpoint",
            EndpointError::TooManyGroups { .. } => "TooManyGroups",
        }
    }
}

/// The groups holding rules of each id, with how many rules of that id each holds, in
/// group key order (nearly always one group: inline, no allocation of its own). No empty
/// entries, no zero counts, so equal models have equal indexes.
pub(crate) type RuleIds = FastMap<String, SmallVec<[(GroupKey, u32); 1]>>;

/// A hash map for the model's indexes, whose order nothing reads (lookups, updates and
/// equality only). PERF: foldhash, not SipHash: the rule calls look up and update these
/// several times each (9 million of the 96 million instructions of
/// `live_profile ecs rules 1000 100` were SipHash).
pub(crate) type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// A hash set for the same uses as [`FastMap`].
pub(crate) type FastSet<T> = std::collections::HashSet<T, foldhash::fast::RandomState>;

/// Counts rule id `id` of `group` in (`add`) or out of the rule id index.
fn index_id(index: &mut RuleIds, id: &str, group: GroupKey, add: bool) {
    if add {
        let groups = match index.get_mut(id) {
            Some(groups) => groups,
            None => index.entry(id.to_owned()).or_default(),
        };
        match groups.binary_search_by_key(&group, |&(g, _)| g) {
            Ok(i) => groups[i].1 += 1,
            Err(i) => groups.insert(i, (group, 1)),
        }
    } else if let Some(groups) = index.get_mut(id) {
        if let Ok(i) = groups.binary_search_by_key(&group, |&(g, _)| g) {
            groups[i].1 -= 1;
            if groups[i].1 == 0 {
                groups.remove(i);
                if groups.is_empty() {
                    index.remove(id);
                }
            }
        }
    }
}

/// Puts group `key` under `text` (`add`) or takes it out, dropping emptied entries.
fn index_key(index: &mut FastMap<String, BTreeSet<GroupKey>>, text: &str, key: GroupKey, add: bool) {
    if add {
        index.entry(text.to_owned()).or_default().insert(key);
    } else if let Some(keys) = index.get_mut(text) {
        keys.remove(&key);
        if keys.is_empty() {
            index.remove(text);
        }
    }
}

/// Each group's rules counted by their duplicate print ([`crate::provider::rule_print`]),
/// kept with `rule_ids` by every mutation and undo: a provider's duplicate check looks its
/// new rule's print up here and scans the group's rules only on a hit, instead of on
/// every call. No entry for a group without printed rules, no zero counts, so equal
/// models have equal indexes.
pub(crate) type RulePrints = FastMap<GroupKey, FastMap<u64, u32>>;

/// Counts `rule` of `group` in (`add`) or out of the rule id and print indexes.
fn index_rule(
    ids: &mut RuleIds,
    prints: &mut RulePrints,
    provider: Provider,
    group: GroupKey,
    rule: &Rule,
    add: bool,
) {
    index_id(ids, &rule.id, group, add);
    let Some(print) = crate::provider::rule_print(provider, rule) else {
        return;
    };
    if add {
        *prints.entry(group).or_default().entry(print).or_insert(0) += 1;
    } else if let Some(counts) = prints.get_mut(&group) {
        if let Some(n) = counts.get_mut(&print) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&print);
                if counts.is_empty() {
                    prints.remove(&group);
                }
            }
        }
    }
}

/// Endpoints by address, a map per family keyed by the address's integer (8-byte entries
/// for IPv4 where an `IpAddr` key took 24): `flow::trace` looks up both ends of every
/// packet here, over clouds of 100,000 endpoints. foldhash, as SipHash was 40% of a trace.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct AddrIndex {
    v4: HashMap<u32, EndpointKey, foldhash::fast::RandomState>,
    v6: HashMap<u128, EndpointKey, foldhash::fast::RandomState>,
}

impl AddrIndex {
    /// The endpoint that owns `addr`.
    #[inline]
    pub(crate) fn get(&self, addr: &IpAddr) -> Option<&EndpointKey> {
        match addr {
            IpAddr::V4(a) => self.v4.get(&u32::from(*a)),
            IpAddr::V6(a) => self.v6.get(&u128::from(*a)),
        }
    }

    /// Maps `addr` to `key`.
    pub(crate) fn insert(&mut self, addr: IpAddr, key: EndpointKey) {
        match addr {
            IpAddr::V4(a) => self.v4.insert(u32::from(a), key),
            IpAddr::V6(a) => self.v6.insert(u128::from(a), key),
        };
    }

    /// Unmaps `addr`.
    pub(crate) fn remove(&mut self, addr: &IpAddr) {
        match addr {
            IpAddr::V4(a) => self.v4.remove(&u32::from(*a)),
            IpAddr::V6(a) => self.v6.remove(&u128::from(*a)),
        };
    }
}

impl Extend<(IpAddr, EndpointKey)> for AddrIndex {
    fn extend<I: IntoIterator<Item = (IpAddr, EndpointKey)>>(&mut self, iter: I) {
        for (addr, key) in iter {
            self.insert(addr, key);
        }
    }
}

/// The data of one provider's cloud ([`crate::Cloud`] is this plus the provider's front end).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Model {
    provider: Provider,
    options: Options,
    groups: BTreeMap<GroupKey, Group>,
    address_groups: BTreeMap<AddressGroupKey, AddressGroup>,
    endpoints: Vec<Endpoint>,
    /// Endpoint by name and by address: simulators look one up per packet.
    by_name: FastMap<String, EndpointKey>,
    by_addr: AddrIndex,
    /// The groups holding rules of each id, and how many (kept by every [`Transaction`]
    /// mutation and undo), so pinning an id checks it and a delete by rule id finds the
    /// rule's group in constant time, not by scanning every rule.
    rule_ids: RuleIds,
    /// The groups with each id (kept like `rule_ids`), so [`Model::group_by_id`] is a
    /// lookup, not a scan of every group; a set, because nothing stops two groups sharing
    /// an id, and the lowest key is the one a scan in key order found first.
    group_ids: FastMap<String, BTreeSet<GroupKey>>,
    /// The groups with each name (kept like `group_ids`): Gcore's membership calls name
    /// groups by name ([`Model::groups_named`]).
    group_names: FastMap<String, BTreeSet<GroupKey>>,
    /// Each group's rules by duplicate print (kept like `rule_ids`, see [`RulePrints`]).
    rule_prints: RulePrints,
    next_group: u32,
    next_rule: u32,
    next_address_group: u32,
    calls: u64,
    /// The call in progress: what seeds its ids.
    call: CallIds,
    /// How many calls of each content seed were made (see [`crate::ids::call_seed`]).
    seen: Seen,
    /// What committed transactions touched, while tracking is on.
    tracking: Tracking,
}

/// What committed changes of a cloud touched, by key: the groups (rules, settings, created
/// or deleted), the address groups and the endpoints, as [`crate::compile::Engine::refresh`]
/// takes them ([`crate::Cloud::track_changes`], [`crate::Cloud::take_changes`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Changes {
    groups: Keys<GroupKey>,
    address_groups: Keys<AddressGroupKey>,
    endpoints: Keys<EndpointKey>,
    /// The lowest place from which endpoints were attached or removed: every key from
    /// there on may name another endpoint now (keys are places in the list).
    endpoints_from: Option<u32>,
    /// Groups created, deleted or changed in their own fields: copied whole by
    /// [`Model::sync_from`]. In the other groups of `groups`, only rules changed:
    /// `rules` names them (added, edited or removed).
    whole: Keys<GroupKey>,
    rules: Keys<(GroupKey, RuleKey)>,
}

/// A sorted set of keys, the few of one change inline.
///
/// PERF: `Live` clones and merges each publication's changes twice (its log, and what the
/// spare it writes next missed); as `BTreeSet`s that took an allocation a non-empty set
/// and about 1,700 instructions a publication (`live_profile ecs set 4000`).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Keys<T>(SmallVec<[T; 4]>);

impl<T> Default for Keys<T> {
    fn default() -> Self {
        Keys(SmallVec::new())
    }
}

impl<T: Ord + Copy> Keys<T> {
    fn insert(&mut self, key: T) {
        if let Err(at) = self.0.binary_search(&key) {
            self.0.insert(at, key);
        }
    }

    fn contains(&self, key: &T) -> bool {
        self.0.binary_search(key).is_ok()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn iter(&self) -> std::slice::Iter<'_, T> {
        self.0.iter()
    }

    /// The keys from `lo` through `hi`.
    fn range(&self, lo: &T, hi: &T) -> &[T] {
        let start = self.0.partition_point(|k| k < lo);
        let end = self.0.partition_point(|k| k <= hi);
        &self.0[start..end.max(start)]
    }

    /// Adds `other`'s keys.
    fn union(&mut self, other: Keys<T>) {
        if self.0.is_empty() {
            *self = other;
        } else if other.0.len() <= 8 {
            for k in other.0 {
                self.insert(k);
            }
        } else {
            // A batch's many keys: sorted once, not placed one by one.
            self.0.extend(other.0);
            self.0.sort_unstable();
            self.0.dedup();
        }
    }
}

impl<'a, T> IntoIterator for &'a Keys<T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

impl Changes {
    /// Whether nothing was touched.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
            && self.address_groups.is_empty()
            && self.endpoints.is_empty()
            && self.endpoints_from.is_none()
    }

    /// Adds what `other` touched.
    pub fn merge(&mut self, other: Changes) {
        self.groups.union(other.groups);
        self.address_groups.union(other.address_groups);
        self.endpoints.union(other.endpoints);
        self.whole.union(other.whole);
        self.rules.union(other.rules);
        self.endpoints_from = match (self.endpoints_from, other.endpoints_from) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// The rules added, edited or removed, by group and key, ascending (a group changed
    /// whole may have more: see [`Changes::rules_of`]).
    pub(crate) fn rules(&self) -> impl Iterator<Item = (GroupKey, RuleKey)> + '_ {
        self.rules.iter().copied()
    }

    /// How many rules were touched.
    pub(crate) fn rule_count(&self) -> usize {
        self.rules.0.len()
    }

    /// Whether `rule` (a group's rule, by key) is among the rules touched.
    pub(crate) fn touched_rule(&self, rule: (GroupKey, RuleKey)) -> bool {
        self.rules.contains(&rule)
    }

    /// Whether some group was changed whole (created, deleted, or its own fields).
    pub(crate) fn any_whole(&self) -> bool {
        !self.whole.is_empty()
    }

    /// Whether this touched groups alone: no endpoint, no address group.
    pub(crate) fn groups_alone(&self) -> bool {
        self.address_groups.is_empty() && self.endpoints.is_empty() && self.endpoints_from.is_none()
    }

    /// The groups touched.
    pub fn groups(&self) -> impl Iterator<Item = GroupKey> + '_ {
        self.groups.iter().copied()
    }

    /// The rules of `group` that were added, edited or removed, ascending by key; `None`
    /// when the group was changed whole (created, deleted, or its own fields changed).
    pub(crate) fn rules_of(&self, group: GroupKey) -> Option<Vec<RuleKey>> {
        if self.whole.contains(&group) {
            return None;
        }
        let (lo, hi) = ((group, RuleKey::new(0)), (group, RuleKey::new(u32::MAX)));
        Some(self.rules.range(&lo, &hi).iter().map(|&(_, k)| k).collect())
    }

    /// The address groups touched.
    pub fn address_groups(&self) -> impl Iterator<Item = AddressGroupKey> + '_ {
        self.address_groups.iter().copied()
    }

    /// The endpoint keys whose endpoint changed, for a cloud that now has `count`
    /// endpoints: those whose groups changed, and every key from the first place where an
    /// endpoint was attached or removed (the later ones moved), at least that one even when
    /// it is past the end now (it named an endpoint that is gone).
    pub fn endpoints(&self, count: usize) -> impl Iterator<Item = EndpointKey> + '_ {
        let moved = match self.endpoints_from {
            Some(from) => from..(count as u32).max(from + 1),
            None => 0..0,
        };
        let from = self.endpoints_from.unwrap_or(u32::MAX);
        self.endpoints
            .iter()
            .copied()
            .filter(move |k| k.get() < from)
            .chain(moved.map(EndpointKey::new))
    }

    /// What changed, in the order to hand to [`crate::compile::Engine::refresh`] one by one,
    /// for a cloud that now has `endpoint_count` endpoints: the endpoints first, so the
    /// engine learns their addresses and new identities before it recompiles the tables of
    /// changed groups and address groups (a recompiled table then knows every identity).
    pub fn updates(&self, endpoint_count: usize) -> Vec<crate::compile::Update> {
        use crate::compile::Update;
        self.endpoints(endpoint_count)
            .map(Update::Endpoint)
            .chain(self.groups().map(Update::Group))
            .chain(self.address_groups().map(Update::AddressGroup))
            .collect()
    }

    fn group(&mut self, key: GroupKey) {
        self.groups.insert(key);
        self.whole.insert(key);
    }

    fn rule(&mut self, group: GroupKey, rule: RuleKey) {
        self.groups.insert(group);
        self.rules.insert((group, rule));
    }

    fn moved_from(&mut self, index: u32) {
        self.endpoints_from = Some(self.endpoints_from.map_or(index, |f| f.min(index)));
    }
}

/// Makes `mine` (a group's rules) equal to `new` (the same group's rules later), where
/// only the rules `changed` names (ascending, [`Changes::rules_of`]) were added, edited or
/// removed: the others are
/// moved, not copied, and the rule id index is kept. `false` when the two do not line up
/// that way (`mine` is then left for a whole copy, its index entries as they were).
///
/// PERF: the unchanged rules before the first change and after the last stay where they
/// are (a change appends or removes a few rules of a long list), and `mine` keeps its
/// room. Moving every rule into a list of exactly `new.len()` cost more than the rest of a
/// rule add together once the group held hundreds of rules, and made the next append
/// reallocate the whole list (`live_profile gcore adds 960`: 129,000 instructions an add
/// here and 58,000 in the append's reallocation, of 529,000).
fn sync_rules(
    mine: &mut Vec<Arc<Rule>>,
    new: &[Arc<Rule>],
    changed: &[RuleKey],
    mut index: impl FnMut(&Rule, bool),
) -> bool {
    // PERF: keys outside the changed ones' range are not looked up (the unchanged rules
    // before an appended one were each a halving: `live_profile gcore adds`).
    let (first, last) = (changed.first().copied(), changed.last().copied());
    let is_changed = |r: &Rule| {
        first.is_some_and(|f| f <= r.key)
            && last.is_some_and(|l| r.key <= l)
            && changed.binary_search(&r.key).is_ok()
    };
    let same = |(a, b): (&Arc<Rule>, &Arc<Rule>)| a.key == b.key && !is_changed(b);
    let head = mine.iter().zip(new).take_while(|&p| same(p)).count();
    let tail = (mine[head..].iter().rev())
        .zip(new[head..].iter().rev())
        .take_while(|&p| same(p))
        .count();
    let (mid, new_mid) = (head..mine.len() - tail, &new[head..new.len() - tail]);
    // The unchanged rules must be the same keys in the same order on both sides.
    let kept = mine[mid.clone()].iter().filter(|r| !is_changed(r)).map(|r| r.key);
    if !kept.eq(new_mid.iter().filter(|r| !is_changed(r)).map(|r| r.key)) {
        return false;
    }
    // The middle out (the rules after it move down once), rebuilt, then put back.
    let mut between = Vec::with_capacity(new_mid.len());
    let mut old = mine.drain(mid);
    for r in new_mid {
        if is_changed(r) {
            index(r, true);
            between.push(r.clone());
            continue;
        }
        // The next old rule that is not a changed one is this rule (checked above).
        for o in old.by_ref() {
            if is_changed(&o) {
                index(&o, false);
                continue;
            }
            between.push(o);
            break;
        }
    }
    for o in old {
        index(&o, false);
    }
    mine.splice(head..head, between);
    true
}

/// How many calls of each content seed a model made, so the ids of a call depend on how
/// many identical calls came before it.
///
/// PERF: the counts only grow (every call adds one) and every state a
/// [`crate::live::Live`] writer keeps holds them all. The states share one log
/// ([`Shared`]) and each counts the calls of its first `len`, so a call is one hash update
/// and bringing a state up to date ([`Model::sync_from`]) is a pointer copy. With a map per
/// state each call was hashed into every state, into maps that grew with the cloud's age (a
/// cache miss or two a call once they passed the caches) and were rehashed as they grew,
/// and each publication carried its calls' seeds in a set. `live_profile huawei rules
/// 300000 100` (every call distinct): 1.82-1.90 → 1.60-1.67 user seconds with Huawei's
/// cheaper `emit`, 17.1 → 14.9 MB.
///
/// The log keeps the counts through its last call and only the calls after its shortest
/// view (a state's counts are the last counts less the calls after its `len`), forgetting
/// the older ones ([`Log::forget_below`]) once it keeps 4,096: kept whole, the calls grew 8
/// bytes each for good, also in a stream of a few calls repeated. Peak RSS
/// (`/usr/bin/time -f %M`, `live_profile PROVIDER rules N 100`, release with
/// `CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16`, 8a797e2 → this):
/// ECS for N 300,000 / 1,000,000 / 3,000,000 7.2 / 12.8 / 28.4 MB → 4.9 / 5.0 / 4.9 MB;
/// Huawei (the counts grow by design, one entry per distinct call) 300,000 / 1,000,000
/// 14.6 / 40.6 → 12.7 / 32.4 MB. The lengths cost an append a slot write and a compare:
/// `Live::write` per change under callgrind (`live_profile PROVIDER rules 20000 100`) Huawei
/// 46,263 → 46,583, Gcore 44,306 → 44,440, ECS 41,830 → 41,977, ENS 33,282 → 33,371
/// instructions, most of it other functions inlined differently. `--bench
/// sustained/PROVIDER/rules/100` (`SGEVAL_BENCH_QUICK=1`, non-LTO bench builds in turns):
/// one round with the machine otherwise idle (readers at 29-31 million lookups/s) Huawei
/// 113,300 → 122,900 calls/s, Gcore 111,800 → 117,700, ECS 117,100 → 115,900, ENS 140,500
/// → 154,500; with another job on the machine (load 3.3-4.4, old-new-new-old) Huawei
/// 50,000 / 53,900 → 56,100 / 52,600, Gcore 56,300 / 50,400 → 50,500 / 56,800, ECS
/// 50,100 / 55,300 → 55,800 / 56,800, ENS 71,600 / 78,000 → 74,200 / 69,800.
#[derive(Debug, Default)]
struct Seen(Shared<SeenLog>);

/// The calls a view may still need, in the order they were made (their content seeds),
/// and how many calls of each seed were made through the last.
#[derive(Debug, Default)]
struct SeenLog {
    /// How many calls came before `calls[0]` (forgotten: no view is shorter).
    base: usize,
    calls: Vec<u64>,
    /// Never zero.
    counts: FastMap<u64, u64>,
}

impl Log for SeenLog {
    fn len(&self) -> usize {
        self.base + self.calls.len()
    }

    /// The counts of the last call less those of the calls after the first `len`.
    fn prefix(&self, len: usize) -> SeenLog {
        let mut counts = self.counts.clone();
        for content in &self.calls[len - self.base..] {
            if let Some(n) = counts.get_mut(content) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(content);
                }
            }
        }
        SeenLog {
            base: len,
            calls: Vec::new(),
            counts,
        }
    }

    fn kept(&self) -> usize {
        self.calls.len()
    }

    fn forget_below(&mut self, len: usize) {
        self.calls.drain(..len - self.base);
        self.base = len;
        // A view held far back let the calls grow: give the room back once it let go.
        let room = (2 * self.calls.len()).max(8192);
        if self.calls.capacity() > 2 * room {
            self.calls.shrink_to(room);
        }
    }
}

impl SeenLog {
    /// Adds a call of seed `content`: how many came before it.
    fn push(&mut self, content: u64) -> u64 {
        self.calls.push(content);
        let n = self.counts.entry(content).or_insert(0);
        *n += 1;
        *n - 1
    }
}

impl Seen {
    /// Counts a call of seed `content`: how many came before it.
    fn count(&mut self, content: u64) -> u64 {
        self.0.append(|log| log.push(content))
    }
}

impl Clone for Seen {
    fn clone(&self) -> Seen {
        Seen(self.0.clone())
    }

    /// Shares `source`'s log, keeping this view's place in it when it is the same log.
    fn clone_from(&mut self, source: &Seen) {
        self.0.clone_from(&source.0);
    }
}

impl PartialEq for Seen {
    /// The same count for every seed.
    fn eq(&self, other: &Seen) -> bool {
        if self.0.shares_log_with(&other.0) {
            return self.0.len() == other.0.len();
        }
        self.0.own().counts == other.0.own().counts
    }
}

/// Change tracking: bookkeeping about a model, not part of its state, so two models that
/// tracked differently are still equal.
#[derive(Clone, Debug, Default)]
struct Tracking(Option<Changes>);

impl PartialEq for Tracking {
    fn eq(&self, _: &Tracking) -> bool {
        true
    }
}

/// What the ids of the call in progress derive from: its content seed and the first keys
/// it can give, so an object's id depends on the call and its place among the call's
/// objects of its kind, never on what other calls made before.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct CallIds {
    seed: u64,
    first_group: u32,
    first_rule: u32,
    first_address_group: u32,
}

impl Model {
    /// An empty model of `provider` with the given semantic switches.
    pub(crate) fn new(provider: Provider, options: Options) -> Model {
        Model {
            provider,
            options,
            groups: BTreeMap::new(),
            address_groups: BTreeMap::new(),
            endpoints: Vec::new(),
            by_name: FastMap::default(),
            by_addr: AddrIndex::default(),
            rule_ids: FastMap::default(),
            group_ids: FastMap::default(),
            group_names: FastMap::default(),
            rule_prints: RulePrints::default(),
            next_group: 1,
            next_rule: 1,
            next_address_group: 1,
            calls: 0,
            call: CallIds::default(),
            seen: Seen::default(),
            tracking: Tracking::default(),
        }
    }

    /// Starts recording what committed transactions touch (from empty); see
    /// [`Model::take_changes`].
    pub(crate) fn track_changes(&mut self) {
        self.tracking = Tracking(Some(Changes::default()));
    }

    /// What committed transactions touched since tracking started or the last take (empty
    /// when not tracking); tracking goes on.
    pub(crate) fn take_changes(&mut self) -> Changes {
        self.tracking.0.as_mut().map(std::mem::take).unwrap_or_default()
    }

    /// Starts a change: every mutation goes through the handle, which commits whole or,
    /// dropped, leaves the model as it was.
    pub(crate) fn begin(&mut self) -> Transaction<'_> {
        Transaction::new(self)
    }

    /// Starts the change of one provider call: counts the call (a refused call is a call
    /// too: its answer took a request id), seeds the ids it makes from its content and
    /// how many identical calls came before (counted whether they succeeded or not), then
    /// [`Model::begin`].
    pub(crate) fn begin_call(&mut self, api: &str, request: &Request) -> Transaction<'_> {
        self.calls += 1;
        let content = crate::ids::call_seed(api, request, 0);
        let occurrence = self.seen.count(content);
        self.call = CallIds {
            seed: crate::ids::mix(content, occurrence),
            first_group: self.next_group,
            first_rule: self.next_rule,
            first_address_group: self.next_address_group,
        };
        self.begin()
    }

    /// Makes this model equal to `newer`, a later state of the same model, where
    /// `changes` holds everything that changed in between (what tracking recorded since
    /// the two were equal): copies what changed, not the whole model. Its own tracking is
    /// kept as it was.
    pub(crate) fn sync_from(&mut self, newer: &Model, changes: &Changes) {
        // Every field is named, so a new one cannot be forgotten here.
        let Model {
            provider,
            options,
            groups,
            address_groups,
            endpoints,
            by_name,
            by_addr,
            rule_ids,
            group_ids,
            group_names,
            rule_prints,
            next_group,
            next_rule,
            next_address_group,
            calls,
            call,
            seen,
            tracking: _,
        } = newer;
        self.provider = *provider;
        if self.options != *options {
            self.options = options.clone();
        }
        for &key in &changes.groups {
            if let Some(changed) = changes.rules_of(key) {
                if let (Some(mine), Some(new)) = (self.groups.get_mut(&key), groups.get(&key)) {
                    let (ids, prints, provider) = (&mut self.rule_ids, &mut self.rule_prints, self.provider);
                    if sync_rules(&mut mine.rules, &new.rules, &changed, |r, add| {
                        index_rule(ids, prints, provider, key, r, add)
                    }) {
                        continue;
                    }
                }
            }
            if let Some(old) = self.groups.remove(&key) {
                self.index_rules(key, &old.rules, false);
                self.index_group(&old.id, key, false);
                self.index_name(&old.name, key, false);
            }
            if let Some(new) = groups.get(&key) {
                self.index_rules(key, &new.rules, true);
                self.index_group(&new.id, key, true);
                self.index_name(&new.name, key, true);
                self.groups.insert(key, new.clone());
            }
        }
        for &key in &changes.address_groups {
            match address_groups.get(&key) {
                Some(a) => self.address_groups.insert(key, a.clone()),
                None => self.address_groups.remove(&key),
            };
        }
        let from = changes.endpoints_from.map_or(usize::MAX, |f| f as usize);
        for &key in &changes.endpoints {
            let i = key.get() as usize;
            if i < from {
                if let (Some(mine), Some(new)) = (self.endpoints.get_mut(i), endpoints.get(i)) {
                    // Same name and addresses (a move would have set `endpoints_from`).
                    mine.groups.clone_from(&new.groups);
                }
            }
        }
        if from < usize::MAX {
            for e in self.endpoints.drain(from.min(self.endpoints.len())..) {
                self.by_name.remove(&e.name);
                for a in &e.ips {
                    self.by_addr.remove(a);
                }
            }
            for (i, e) in endpoints.iter().enumerate().skip(from) {
                let key = EndpointKey::new(i as u32);
                self.by_name.insert(e.name.clone(), key);
                for a in &e.ips {
                    self.by_addr.insert(*a, key);
                }
                self.endpoints.push(e.clone());
            }
        }
        // The indexes were kept above, object by object.
        let _ = (by_name, by_addr, rule_ids, group_ids, group_names, rule_prints);
        (self.next_group, self.next_rule, self.next_address_group) =
            (*next_group, *next_rule, *next_address_group);
        self.calls = *calls;
        self.call = *call;
        self.seen.clone_from(seen);
    }

    /// The provider.
    pub(crate) fn provider(&self) -> Provider {
        self.provider
    }

    /// The semantic switches.
    pub(crate) fn options(&self) -> &Options {
        &self.options
    }

    /// Counts `rules` of `group` in (`add`) or out of the rule id and print indexes.
    fn index_rules(&mut self, group: GroupKey, rules: &[Arc<Rule>], add: bool) {
        for r in rules {
            index_rule(
                &mut self.rule_ids,
                &mut self.rule_prints,
                self.provider,
                group,
                r,
                add,
            );
        }
    }

    /// Whether the print index counts exactly the prints of the rules there are (what a
    /// scan of every group finds): the tests check it after random call streams.
    #[cfg(test)]
    pub(crate) fn prints_match_rules(&self) -> bool {
        let mut scanned = RulePrints::default();
        let mut ids = RuleIds::default();
        for g in self.groups.values() {
            for r in &g.rules {
                index_rule(&mut ids, &mut scanned, self.provider, g.key, r, true);
            }
        }
        scanned == self.rule_prints
    }

    /// How many rules have id `id`, in every group.
    pub(crate) fn rules_with_id(&self, id: &str) -> u32 {
        self.rule_ids
            .get(id)
            .map_or(0, |groups| groups.iter().map(|&(_, n)| n).sum())
    }

    /// The groups holding a rule with id `id`, in key order (as a scan of every group
    /// finds them).
    pub(crate) fn groups_with_rule_id(&self, id: &str) -> impl Iterator<Item = GroupKey> + '_ {
        self.rule_ids.get(id).into_iter().flatten().map(|&(g, _)| g)
    }

    /// Whether group `group` may hold a rule of duplicate print `print`
    /// ([`crate::provider::rule_print`]): `false` means none of its rules is one the
    /// provider's duplicate check would call the same, so the check need not scan them.
    pub(crate) fn may_hold_print(&self, group: GroupKey, print: u64) -> bool {
        self.rule_prints
            .get(&group)
            .is_some_and(|counts| counts.contains_key(&print))
    }

    /// Counts group `key` in (`add`) or out of the group id index under `id`.
    fn index_group(&mut self, id: &str, key: GroupKey, add: bool) {
        index_key(&mut self.group_ids, id, key, add);
    }

    /// Counts group `key` in (`add`) or out of the group name index under `name`.
    fn index_name(&mut self, name: &str, key: GroupKey, add: bool) {
        index_key(&mut self.group_names, name, key, add);
    }

    /// The groups named `name`, by key (as a scan of [`Model::groups`] finds them).
    pub(crate) fn groups_named(&self, name: &str) -> impl Iterator<Item = &Group> {
        self.group_names
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|key| self.groups.get(key))
    }

    /// Whether the providers' count quotas hold ([`crate::options::Quotas`]).
    pub(crate) fn enforces_quotas(&self) -> bool {
        self.options.quotas == crate::options::Quotas::Enforced
    }

    /// How many calls were made so far (the seed of deterministic timestamps).
    pub(crate) fn call_count(&self) -> u64 {
        self.calls
    }

    /// Every group, by key.
    pub(crate) fn groups(&self) -> impl Iterator<Item = &Group> {
        self.groups.values()
    }

    /// A group by key.
    pub(crate) fn group(&self, key: GroupKey) -> Option<&Group> {
        self.groups.get(&key)
    }

    /// A group by its provider id.
    pub(crate) fn group_by_id(&self, id: &str) -> Option<&Group> {
        let key = self.group_ids.get(id)?.first()?;
        self.groups.get(key)
    }

    /// A rule by reference.
    pub(crate) fn rule(&self, r: RuleRef) -> Option<&Rule> {
        let group = self.groups.get(&r.group)?;
        group.place_of(r.rule).map(|i| &*group.rules[i])
    }

    /// Every address group.
    pub(crate) fn address_groups(&self) -> impl Iterator<Item = &AddressGroup> {
        self.address_groups.values()
    }

    /// An address group by key.
    pub(crate) fn address_group(&self, key: AddressGroupKey) -> Option<&AddressGroup> {
        self.address_groups.get(&key)
    }

    /// An address group by its provider id.
    pub(crate) fn address_group_by_id(&self, id: &str) -> Option<&AddressGroup> {
        self.address_groups.values().find(|g| g.id == id)
    }

    /// Every endpoint, in the order attached.
    pub(crate) fn endpoints(&self) -> &[Endpoint] {
        &self.endpoints
    }

    /// An endpoint by key.
    pub(crate) fn endpoint(&self, key: EndpointKey) -> Option<&Endpoint> {
        self.endpoints.get(key.get() as usize)
    }

    /// An endpoint by name.
    pub(crate) fn endpoint_by_name(&self, name: &str) -> Option<EndpointKey> {
        self.by_name.get(name).copied()
    }

    /// The endpoint that owns an address.
    pub(crate) fn endpoint_by_addr(&self, addr: IpAddr) -> Option<EndpointKey> {
        self.by_addr.get(&addr).copied()
    }

    /// Rebuilds the name and address indexes of the endpoints from place `index` on (after
    /// an endpoint was removed or put back there, the later ones moved).
    fn reindex_from(&mut self, index: usize) {
        for (i, e) in self.endpoints.iter().enumerate().skip(index) {
            let key = EndpointKey::new(i as u32);
            self.by_name.insert(e.name.clone(), key);
            for a in &e.ips {
                self.by_addr.insert(*a, key);
            }
        }
    }

    /// The endpoints that are members of a group.
    pub(crate) fn members(&self, group: GroupKey) -> impl Iterator<Item = &Endpoint> {
        self.endpoints.iter().filter(move |e| e.groups.contains(&group))
    }

    /// The rules of other groups that reference group `key` (`Remote::Group`), as
    /// (their group, rule); a group's references to itself are not listed.
    pub(crate) fn references_to(&self, key: GroupKey) -> Vec<(GroupKey, RuleKey)> {
        self.groups
            .values()
            .filter(|g| g.key != key)
            .flat_map(|g| {
                g.rules
                    .iter()
                    .filter(move |r| r.remote == crate::rule::Remote::Group(key))
                    .map(move |r| (g.key, r.key))
            })
            .collect()
    }

    /// The key the next group will get.
    pub(crate) fn next_group_key(&self) -> GroupKey {
        GroupKey::new(self.next_group)
    }

    /// Keys for `n` new rules, consecutive; they are taken for good once a rule using them
    /// is inserted.
    pub(crate) fn next_rule_keys(&self, n: usize) -> impl Iterator<Item = RuleKey> {
        (self.next_rule..self.next_rule + n as u32).map(RuleKey::new)
    }

    /// The key the next address group will get.
    pub(crate) fn next_address_group_key(&self) -> AddressGroupKey {
        AddressGroupKey::new(self.next_address_group)
    }

    /// The key the next rule will get: every rule a call creates has a key at or above the
    /// one read before the call.
    pub(crate) fn rule_key_mark(&self) -> RuleKey {
        RuleKey::new(self.next_rule)
    }

    /// A deterministic pseudo-random 64-bit value for value `n` of kind `salt` that no
    /// call changes (Huawei's project id).
    pub(crate) fn fixed_bits(&self, salt: u64, n: u64) -> u64 {
        crate::ids::mix(self.provider as u64 * 0x1_0000 + salt, n)
    }

    /// A deterministic pseudo-random 64-bit value for the `n`th id of kind `salt` made by
    /// the call in progress: the same call (same content, same number of identical calls
    /// before it) gives the same ids in any scenario; different calls, different ids.
    pub(crate) fn call_bits(&self, salt: u64, n: u64) -> u64 {
        crate::ids::mix(self.fixed_bits(salt, self.call.seed), n)
    }

    /// Group `key`'s place among the groups the call in progress made (0 for its first).
    pub(crate) fn group_ordinal(&self, key: GroupKey) -> u64 {
        u64::from(key.get().wrapping_sub(self.call.first_group))
    }

    /// Rule `key`'s place among the rules the call in progress made (0 for its first).
    pub(crate) fn rule_ordinal(&self, key: RuleKey) -> u64 {
        u64::from(key.get().wrapping_sub(self.call.first_rule))
    }

    /// Address group `key`'s place among those the call in progress made.
    pub(crate) fn address_group_ordinal(&self, key: AddressGroupKey) -> u64 {
        u64::from(key.get().wrapping_sub(self.call.first_address_group))
    }
}

#[cfg(test)]
mod seen_tests {
    use super::Seen;
    use crate::model::shared_log::FORGET_AT;
    use crate::model::FastMap;

    /// Clones share the call counts until both go on: each then counts its own calls, as
    /// a model with its own counts would.
    #[test]
    fn clones_count_their_own_calls() {
        let mut a = Seen::default();
        assert_eq!(a.count(7), 0);
        let mut b = a.clone();
        assert!(a == b);
        assert_eq!(a.count(7), 1);
        assert!(a != b);
        assert_eq!(b.count(7), 1, "b goes on from its own prefix");
        assert!(!a.0.shares_log_with(&b.0));
        assert!(a == b);
        assert_eq!(a.count(7), 2);
        assert_eq!(b.count(9), 0);
        assert!(a != b);
        let mut c = b.clone();
        c.clone_from(&a);
        assert!(c == a);
        assert_eq!(c.count(7), 3);
        assert_eq!(a.count(7), 3, "a went on in a copy when c had");
        assert_eq!(b.count(7), 2);
    }

    /// `Live`'s writer in a steady stream: the spare is brought up to date from the
    /// current state, takes a batch of calls and becomes the current state.
    fn live_stream(current: &mut Seen, spare: &mut Seen, calls: u64, batch: u64, seed: impl Fn(u64) -> u64) {
        for i in 0..calls {
            if i % batch == 0 {
                spare.clone_from(current);
                std::mem::swap(current, spare);
            }
            current.count(seed(i));
        }
    }

    /// A stream repeating a few calls keeps a bounded log once no view needs the old
    /// calls, however long it runs; the counts stay right.
    #[test]
    fn the_log_forgets_the_calls_no_view_needs() {
        let (mut current, mut spare) = (Seen::default(), Seen::default());
        live_stream(&mut current, &mut spare, 200_000, 100, |i| i % 2);
        // Forgetting starts past `FORGET_AT` kept calls and leaves the last batch.
        assert!(current.0.kept() <= FORGET_AT + 100, "kept {}", current.0.kept());
        assert!(spare.0.shares_log_with(&current.0));
        assert_eq!(current.count(0), 100_000);
        assert_eq!(current.count(1), 100_000);
    }

    /// A view held far back (a reader's old snapshot) holds the calls after it; it still
    /// counts right when it goes on after others moved on, its clones go on apart, and
    /// once it is dropped the log forgets again.
    #[test]
    fn an_old_view_counts_right_and_holds_the_log_until_dropped() {
        let (mut current, mut spare) = (Seen::default(), Seen::default());
        live_stream(&mut current, &mut spare, 10_000, 100, |i| i % 3);
        let old = current.clone();
        // A view between the two, dropped while the stream goes on.
        live_stream(&mut current, &mut spare, 10_000, 100, |i| i % 3);
        let middle = current.clone();
        live_stream(&mut current, &mut spare, 30_000, 100, |i| i % 5);
        drop(middle);
        live_stream(&mut current, &mut spare, 30_000, 100, |i| i % 5);
        assert!(current.0.kept() >= 70_000, "the old view holds its calls");
        let (mut a, mut b) = (old.clone(), old.clone());
        assert!(a == old && a.0.shares_log_with(&current.0));
        assert_eq!(a.count(0), 3_334, "a goes on from the old counts");
        assert_eq!(b.count(0), 3_334, "b too, apart from a");
        assert_eq!(b.count(2), 3_333);
        assert!(a != b && a != old);
        assert_eq!(a.count(4), 0);
        assert_eq!(a.count(0), 3_335);
        assert_eq!(old.clone().count(1), 3_333, "the old view is as it was");
        drop((old, a, b));
        live_stream(&mut current, &mut spare, 10_000, 100, |i| i % 5);
        assert!(current.0.kept() <= FORGET_AT + 100, "kept {}", current.0.kept());
        assert_eq!(current.count(4), 6_000 + 6_000 + 2_000);
    }

    /// Views made, dropped, brought up to date and going on at random count exactly as
    /// each one's own counts would, and compare equal exactly when those are: whether
    /// their logs forgot calls or not.
    #[test]
    fn views_count_as_their_own_counts_would() {
        let mut views: Vec<(Seen, FastMap<u64, u64>)> = vec![(Seen::default(), FastMap::default())];
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut forgot = false;
        // The view that counted last: most calls go on from it, as a writer's do.
        let mut last = 0;
        for step in 0..300_000 {
            let mut i = next(views.len() as u64) as usize;
            match next(1000) {
                0..=9 if views.len() < 8 => {
                    let copy = (views[i].0.clone(), views[i].1.clone());
                    views.push(copy);
                }
                10..=19 if views.len() > 1 => {
                    views.swap_remove(i);
                    if last == i {
                        last = 0;
                    } else if last == views.len() {
                        last = i;
                    }
                }
                20..=99 => {
                    // Mostly brought up to date from the writer, as `Live`'s spares are.
                    let j = if next(4) > 0 {
                        last
                    } else {
                        next(views.len() as u64) as usize
                    };
                    let (seen, counts) = (views[j].0.clone(), views[j].1.clone());
                    views[i].0.clone_from(&seen);
                    views[i].1 = counts;
                }
                _ => {
                    if next(64) > 0 {
                        i = last;
                    }
                    last = i;
                    let content = next(6);
                    let (seen, counts) = &mut views[i];
                    let n = counts.entry(content).or_insert(0);
                    assert_eq!(seen.count(content), *n, "step {step}");
                    *n += 1;
                    forgot |= seen.0.forgot() > 0;
                }
            }
            if step % 997 == 0 {
                for (a, ca) in &views {
                    for (b, cb) in &views {
                        assert_eq!(a == b, ca == cb, "step {step}");
                    }
                }
            }
        }
        assert!(forgot, "some log forgot calls");
    }

    /// Models compare by their counts, whether one's log forgot calls and the other's
    /// did not.
    #[test]
    fn views_of_forgetting_and_whole_logs_compare_by_counts() {
        let mut whole = Seen::default();
        let pin = whole.clone();
        let (mut current, mut spare) = (Seen::default(), Seen::default());
        for i in 0..50_000 {
            whole.count(i % 7);
        }
        live_stream(&mut current, &mut spare, 50_000, 100, |i| i % 7);
        assert_eq!(whole.0.kept(), 50_000, "the pinned log forgot nothing");
        assert!(current.0.kept() < 50_000, "kept {}", current.0.kept());
        assert!(whole == current, "untrimmed against trimmed");
        assert!(current == whole, "trimmed against untrimmed");
        current.count(1);
        assert!(whole != current);
        whole.count(1);
        assert!(whole == current);
        whole.count(2);
        current.count(3);
        assert!(whole != current);
        assert!(pin == Seen::default());
    }
}

#[cfg(test)]
mod keys_tests {
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    use super::Keys;

    proptest! {
        /// `Keys` is a set: inserts and unions (of few keys and of many) against
        /// `BTreeSet`, with its ranges and membership.
        #[test]
        fn keys_are_a_sorted_set(
            steps in prop::collection::vec((prop::collection::vec(0u32..40, 0..20), any::<bool>()), 0..12),
            lo in 0u32..40,
            width in 0u32..40,
        ) {
            let mut keys: Keys<u32> = Keys::default();
            let mut model: BTreeSet<u32> = BTreeSet::new();
            for (batch, one_by_one) in steps {
                if one_by_one {
                    for &k in &batch {
                        keys.insert(k);
                    }
                } else {
                    let mut other = Keys::default();
                    for &k in &batch {
                        other.insert(k);
                    }
                    keys.union(other);
                }
                model.extend(batch);
                prop_assert!(keys.iter().copied().eq(model.iter().copied()));
            }
            let hi = lo + width;
            prop_assert!(keys.range(&lo, &hi).iter().copied().eq(model.range(lo..=hi).copied()));
            for k in 0..40 {
                prop_assert_eq!(keys.contains(&k), model.contains(&k));
            }
            prop_assert_eq!(keys.is_empty(), model.is_empty());
        }
    }
}

#[cfg(test)]
mod sync_rules_tests {
    use std::collections::{BTreeMap, BTreeSet};

    use proptest::prelude::*;

    use super::{sync_rules, Changes};
    use crate::group::GroupKey;
    use crate::rule::Rule;
    use crate::{Direction, RuleKey};
    use std::sync::Arc;

    fn rule(key: u32, description: &str) -> Arc<Rule> {
        Arc::new(Rule {
            key: RuleKey::new(key),
            id: format!("r-{key}"),
            description: description.to_string(),
            ..crate::query::testkit::rule(Direction::Ingress)
        })
    }

    /// What one rule of the old list becomes: kept, removed, or edited in place.
    #[derive(Clone, Copy, Debug)]
    enum Fate {
        Kept,
        Removed,
        Edited,
    }

    fn fate() -> impl Strategy<Value = Fate> {
        // Mostly kept: the long unchanged runs a sync skips.
        prop_oneof![6 => Just(Fate::Kept), 1 => Just(Fate::Removed), 1 => Just(Fate::Edited)]
    }

    proptest! {
        /// Whatever rules were added (anywhere), removed or edited, the synced list equals
        /// the new one, and the index saw each changed rule leave and come exactly once.
        #[test]
        fn a_synced_list_equals_the_new_one(
            fates in prop::collection::vec(fate(), 0..40),
            // Rules added: (place among the new list, counted from its start).
            added in prop::collection::vec(0usize..48, 0..6),
            // A group other than the list's, whose changed keys must not count.
            noise in prop::collection::vec(0u32..40, 0..4),
        ) {
            let group = GroupKey::new(1);
            let mut mine: Vec<Arc<Rule>> = (0..fates.len() as u32).map(|k| rule(k, "old")).collect();
            let mut changed: BTreeSet<(GroupKey, RuleKey)> =
                noise.iter().map(|&k| (GroupKey::new(2), RuleKey::new(k))).collect();
            let mut new = Vec::new();
            for (r, fate) in mine.iter().zip(&fates) {
                match fate {
                    Fate::Kept => new.push(r.clone()),
                    Fate::Removed => {
                        changed.insert((group, r.key));
                    }
                    Fate::Edited => {
                        changed.insert((group, r.key));
                        new.push(rule(r.key.get(), "edited"));
                    }
                }
            }
            for (i, &at) in added.iter().enumerate() {
                let key = 100 + i as u32;
                changed.insert((group, RuleKey::new(key)));
                new.insert(at.min(new.len()), rule(key, "added"));
            }
            // Each rule's index balance: +1 per add, -1 per removal.
            let mut balance: BTreeMap<(u32, String), i32> = BTreeMap::new();
            mine.reserve(8);
            let changes = Changes {
                rules: super::Keys(changed.into_iter().collect()),
                ..Changes::default()
            };
            let keys = changes.rules_of(group).expect("not changed whole");
            let synced = sync_rules(&mut mine, &new, &keys, |r, add| {
                *balance.entry((r.key.get(), r.description.clone())).or_default() += if add { 1 } else { -1 };
            });
            prop_assert!(synced);
            prop_assert_eq!(&mine, &new);
            let mut expected: BTreeMap<(u32, String), i32> = BTreeMap::new();
            for (k, fate) in fates.iter().enumerate() {
                match fate {
                    Fate::Kept => {}
                    Fate::Removed => {
                        expected.insert((k as u32, "old".into()), -1);
                    }
                    Fate::Edited => {
                        expected.insert((k as u32, "old".into()), -1);
                        expected.insert((k as u32, "edited".into()), 1);
                    }
                }
            }
            for i in 0..added.len() {
                expected.insert((100 + i as u32, "added".into()), 1);
            }
            balance.retain(|_, v| *v != 0);
            prop_assert_eq!(balance, expected);
        }
    }

    /// Unchanged rules out of their old order cannot be moved into place: refused, the list
    /// left as it was for a whole copy.
    #[test]
    fn unchanged_rules_in_another_order_are_refused() {
        let mut mine = vec![rule(1, "a"), rule(2, "b"), rule(3, "c")];
        let new = vec![rule(1, "a"), rule(3, "c"), rule(2, "b")];
        let before = mine.clone();
        assert!(!sync_rules(&mut mine, &new, &[], |_, _| {
            panic!("no index change")
        }));
        assert_eq!(mine, before);
    }
}
