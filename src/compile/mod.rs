//! The compiled engine: indexed lookup structures that give the reference's answer fast.
//!
//! [`Engine::build`] compiles, for every distinct list of groups that endpoints carry, one
//! table per direction and address family. A table is a first-match
//! [`sgeval_classifier::Classifier`] whose entry order IS the provider's decision procedure (see
//! the `lower` module): ECS and ENS pool the rules of all groups by (priority, drop before
//! accept, group order, creation order) after ECS's `InnerAccessPolicy=Accept` member
//! entries; Huawei orders by group, then (priority, deny before allow, creation order);
//! Gcore by group, then creation order. Group references expand to their members'
//! addresses, address groups to their prefixes. Evaluating a packet is one classifier
//! lookup and one load of the decision of the entry that matched; nothing is interpreted
//! per packet.
//!
//! Every answer equals [`crate::reference::Evaluator`]'s, the whole [`Decision`]: verdict
//! and what decided (the rule and its group, the intra-group policy, or the default).
//! `tests/equality.rs` checks that on generated scenarios of all four providers.
//!
//! ```
//! use sgeval::compile::Engine;
//! use sgeval::{flow, reference, Packet, Scenario, Verdict};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cloud = Scenario::from_json(r#"{
//!   "provider": "huawei",
//!   "calls": [
//!     {"api": "CreateSecurityGroup", "ref": "web", "body": {"security_group": {"name": "web"}}},
//!     {"api": "CreateSecurityGroupRule", "body": {"security_group_rule": {
//!        "security_group_id": "$web", "direction": "ingress", "protocol": "tcp",
//!        "multiport": "443", "remote_ip_prefix": "0.0.0.0/0", "action": "allow", "priority": 1}}}
//!   ],
//!   "endpoints": [{"name": "vm-a", "ips": ["192.168.0.10"], "groups": ["$web"]}]
//! }"#)?.build()?;
//! let engine = Engine::build(&cloud)?;
//! let packet = Packet::tcp("203.0.113.7".parse()?, "192.168.0.10".parse()?, 443);
//! let compiled = flow::trace(&cloud, &engine, &packet);
//! assert_eq!(compiled.verdict, Verdict::Allow);
//! // The same answer as the reference, down to the rule that decided.
//! assert_eq!(compiled, flow::trace(&cloud, &reference::Evaluator::new(&cloud), &packet));
//! # Ok(())
//! # }
//! ```
//!
//! Changes to the cloud are taken in with [`Engine::refresh`], which recompiles only the
//! tables the change can reach and keeps the others (shared through [`Arc`]).

pub(crate) mod lower;
mod table;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use sgeval_classifier as classifier;

use crate::cloud::Cloud;
use crate::decision::{Decision, Fallback, Verdict};
use crate::group::{AddressGroupKey, EndpointKey, GroupKey, GroupKind, InnerPolicy};
use crate::packet::{ConnState, Packet};
use crate::provider::{Options, Provider};
use crate::rule::{Direction, Family, Remote};

use self::classifier::Key;
use self::lower::{Ctx, FamilyAddr, LowerError, MemberCache};
use self::table::{Lane, Table};

/// Limits on what [`Engine::build`] compiles.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BuildLimits {
    /// Most classifier entries one table (an endpoint's groups, one direction and family)
    /// may hold after group references, address groups, port lists and ICMP encoding are
    /// expanded. Default 4,194,304.
    pub max_entries: usize,
}

impl Default for BuildLimits {
    fn default() -> Self {
        BuildLimits { max_entries: 1 << 22 }
    }
}

/// Why an engine could not be compiled. Only limits make compiling fail.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A table would hold more entries than [`BuildLimits::max_entries`].
    #[error(
        "endpoint `{endpoint}`, {direction} {family}: rule `{rule}` takes the table past \
         `max_entries` = `{limit}` classifier entries"
    )]
    TooManyEntries {
        /// The first endpoint that carries the table.
        endpoint: String,
        /// The direction of the table.
        direction: Direction,
        /// The family of the table.
        family: Family,
        /// The rule (its id and its group's id) being expanded when the limit was crossed.
        rule: String,
        /// The limit.
        limit: usize,
    },
    /// The rules that may match ICMP packets cut the destination ports into more than 256
    /// intervals while one of them filters the ICMP code.
    #[error(
        "endpoint `{endpoint}`, {direction} {family}: rule `{rule}` cuts the destination ports of \
         ICMP-matching rules into more than `256` intervals next to an ICMP code filter"
    )]
    IcmpPortIntervals {
        /// The first endpoint that carries the table.
        endpoint: String,
        /// The direction of the table.
        direction: Direction,
        /// The family of the table.
        family: Family,
        /// The rule whose ports crossed the limit.
        rule: String,
    },
    /// The classifier refused its entries (a limit of its own).
    #[error("endpoint `{endpoint}`, {direction} {family}: {source}")]
    Classifier {
        /// The first endpoint that carries the table.
        endpoint: String,
        /// The direction of the table.
        direction: Direction,
        /// The family of the table.
        family: Family,
        /// The classifier's error.
        source: classifier::CapacityError,
    },
}

/// What changed in a cloud since the engine was built or last refreshed, for
/// [`Engine::refresh`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Update {
    /// A group's rules changed (a rule added, removed or edited), or the group's own
    /// settings (ECS `InnerAccessPolicy`), or the group was created or deleted.
    Group(GroupKey),
    /// An endpoint joined or left groups, changed its addresses, or was attached.
    Endpoint(EndpointKey),
    /// An address group's entries changed.
    AddressGroup(AddressGroupKey),
}

/// Sizes of a compiled engine, for reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Endpoints the engine answers for.
    pub endpoints: usize,
    /// Distinct group lists (endpoints with the same groups in the same order share tables).
    pub group_lists: usize,
    /// Distinct tables (identical tables are shared).
    pub tables: usize,
    /// Classifier entries over the distinct tables.
    pub entries: usize,
    /// Bytes, as [`Engine::memory_usage`].
    pub memory_bytes: usize,
}

/// The four tables of one group list and what they depend on besides the list's own groups.
#[derive(Debug)]
struct TableSet {
    /// The group list, in association order.
    groups: Arc<[GroupKey]>,
    /// IPv4 tables, by direction ([`dir_index`]).
    v4: [Arc<Table<u32>>; 2],
    /// IPv6 tables, by direction.
    v6: [Arc<Table<u128>>; 2],
    /// Groups whose member addresses the tables expand (group references and ECS
    /// intra-group policies).
    member_deps: Vec<GroupKey>,
    /// Address groups the tables expand.
    address_deps: Vec<AddressGroupKey>,
}

/// What the engine knows of one endpoint.
#[derive(Clone, Debug)]
struct Slot {
    /// Index into [`Engine::sets`].
    set: u32,
    /// The endpoint's groups and addresses when last compiled, to tell what a membership
    /// change touched.
    groups: Arc<[GroupKey]>,
    ips: Arc<[IpAddr]>,
}

/// The compiled engine over a cloud: immutable, `Send + Sync`, cheap to clone (tables are
/// shared).
#[derive(Clone, Debug)]
pub struct Engine {
    provider: Provider,
    options: Options,
    limits: BuildLimits,
    /// By endpoint key; `None` for keys the cloud does not have.
    slots: Vec<Option<Slot>>,
    /// Table sets; `None` marks a free place.
    sets: Vec<Option<Arc<TableSet>>>,
    /// How many slots use each set.
    users: Vec<u32>,
    /// The set of each group list.
    by_groups: HashMap<Arc<[GroupKey]>, u32>,
}

const NO_GROUP: Decision = Decision {
    verdict: Verdict::Deny,
    reason: crate::Reason::Default {
        fallback: Fallback::NoGroup,
    },
};

#[inline]
fn dir_index(direction: Direction) -> usize {
    match direction {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

/// Builds tables, sharing identical ones by fingerprint.
struct Builder<'c> {
    ctx: Ctx<'c>,
    limits: BuildLimits,
    v4: HashMap<u64, Arc<Table<u32>>>,
    v6: HashMap<u64, Arc<Table<u128>>>,
}

fn table<A: FamilyAddr>(
    ctx: &mut Ctx<'_>,
    cache: &mut HashMap<u64, Arc<Table<A>>>,
    limits: BuildLimits,
    groups: &[GroupKey],
    direction: Direction,
    endpoint: &dyn Fn() -> String,
) -> Result<Arc<Table<A>>, BuildError>
where
    for<'c> Ctx<'c>: MemberCache<A>,
{
    let lowered = lower::lower::<A>(ctx, groups, direction, limits.max_entries).map_err(|e| match e {
        LowerError::TooManyEntries { rule, limit } => BuildError::TooManyEntries {
            endpoint: endpoint(),
            direction,
            family: A::FAMILY,
            rule,
            limit,
        },
        LowerError::IcmpPortClasses { rule } => BuildError::IcmpPortIntervals {
            endpoint: endpoint(),
            direction,
            family: A::FAMILY,
            rule,
        },
    })?;
    let fp = table::fingerprint(&lowered);
    if let Some(t) = cache.get(&fp) {
        return Ok(Arc::clone(t));
    }
    let t = Arc::new(
        Table::build(&lowered, fp).map_err(|source| BuildError::Classifier {
            endpoint: endpoint(),
            direction,
            family: A::FAMILY,
            source,
        })?,
    );
    cache.insert(fp, Arc::clone(&t));
    Ok(t)
}

impl<'c> Builder<'c> {
    fn new(cloud: &'c Cloud, limits: BuildLimits) -> Builder<'c> {
        Builder {
            ctx: Ctx::new(cloud),
            limits,
            v4: HashMap::new(),
            v6: HashMap::new(),
        }
    }

    /// Compiles the tables of a group list.
    fn set(
        &mut self,
        groups: Arc<[GroupKey]>,
        endpoint: &dyn Fn() -> String,
    ) -> Result<TableSet, BuildError> {
        let (ctx, limits) = (&mut self.ctx, self.limits);
        let (ingress, egress) = (Direction::Ingress, Direction::Egress);
        let v4 = [
            table::<u32>(ctx, &mut self.v4, limits, &groups, ingress, endpoint)?,
            table::<u32>(ctx, &mut self.v4, limits, &groups, egress, endpoint)?,
        ];
        let v6 = [
            table::<u128>(ctx, &mut self.v6, limits, &groups, ingress, endpoint)?,
            table::<u128>(ctx, &mut self.v6, limits, &groups, egress, endpoint)?,
        ];
        let (member_deps, address_deps) = deps(self.ctx.cloud, &groups);
        Ok(TableSet {
            groups,
            v4,
            v6,
            member_deps,
            address_deps,
        })
    }
}

/// The groups whose members, and the address groups whose entries, the tables of a group
/// list expand.
fn deps(cloud: &Cloud, groups: &[GroupKey]) -> (Vec<GroupKey>, Vec<AddressGroupKey>) {
    let mut members = Vec::new();
    let mut addresses = Vec::new();
    for &g in groups {
        let Some(group) = cloud.group(g) else { continue };
        if cloud.provider() == Provider::Ecs
            && group.kind
                == (GroupKind::EcsBasic {
                    inner: InnerPolicy::Accept,
                })
        {
            members.push(g);
        }
        for rule in &group.rules {
            match rule.remote {
                Remote::Group(target) => members.push(target),
                Remote::AddressGroup(a) => addresses.push(a),
                Remote::Any | Remote::Cidr(_) => {}
            }
        }
    }
    members.sort_unstable();
    members.dedup();
    addresses.sort_unstable();
    addresses.dedup();
    (members, addresses)
}

impl Engine {
    /// Compiles every endpoint of `cloud` with the default [`BuildLimits`].
    ///
    /// # Errors
    /// A table beyond a limit ([`BuildError`]), naming the endpoint, direction and rule.
    pub fn build(cloud: &Cloud) -> Result<Engine, BuildError> {
        Engine::build_with(cloud, BuildLimits::default())
    }

    /// Compiles every endpoint of `cloud` within `limits`.
    ///
    /// # Errors
    /// A table beyond a limit ([`BuildError`]), naming the endpoint, direction and rule.
    pub fn build_with(cloud: &Cloud, limits: BuildLimits) -> Result<Engine, BuildError> {
        let mut engine = Engine {
            provider: cloud.provider(),
            options: cloud.options().clone(),
            limits,
            slots: Vec::with_capacity(cloud.endpoints().len()),
            sets: Vec::new(),
            users: Vec::new(),
            by_groups: HashMap::new(),
        };
        let mut builder = Builder::new(cloud, limits);
        for ep in cloud.endpoints() {
            let groups: Arc<[GroupKey]> = ep.groups.as_slice().into();
            let set = match engine.by_groups.get(&groups) {
                Some(&i) => i,
                None => {
                    let name = || ep.name.clone();
                    let set = builder.set(Arc::clone(&groups), &name)?;
                    engine.insert_set(set)
                }
            };
            engine.users[set as usize] += 1;
            engine.slots.push(Some(Slot {
                set,
                groups,
                ips: ep.ips.as_slice().into(),
            }));
        }
        Ok(engine)
    }

    /// Puts a new set in a free place (or at the end) and indexes it by its group list.
    fn insert_set(&mut self, set: TableSet) -> u32 {
        let groups = Arc::clone(&set.groups);
        let set = Some(Arc::new(set));
        let index = match self.sets.iter().position(Option::is_none) {
            Some(i) => {
                self.sets[i] = set;
                self.users[i] = 0;
                i
            }
            None => {
                self.sets.push(set);
                self.users.push(0);
                self.sets.len() - 1
            }
        };
        self.by_groups.insert(groups, index as u32);
        index as u32
    }

    /// The table set of an endpoint.
    #[inline]
    fn set_of(&self, endpoint: EndpointKey) -> Option<&TableSet> {
        let slot = self.slots.get(endpoint.get() as usize)?.as_ref()?;
        self.sets.get(slot.set as usize)?.as_deref()
    }

    /// The decision of `endpoint`'s groups for `packet` in `direction`: the same
    /// [`Decision`] as [`crate::reference::Evaluator::evaluate`], without allocating.
    ///
    /// A packet that mixes families is denied ([`Decision::MIXED_FAMILY`]); an established
    /// one is allowed ([`Decision::ESTABLISHED`]); an endpoint the cloud does not have is
    /// denied ([`Fallback::NoGroup`]).
    #[inline]
    pub fn evaluate(&self, endpoint: EndpointKey, direction: Direction, packet: &Packet) -> Decision {
        // The reference's order: family, then connection state, then the endpoint.
        let addrs = match (packet.src, packet.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => Ok((u32::from(s), u32::from(d))),
            (IpAddr::V6(s), IpAddr::V6(d)) => Err((u128::from(s), u128::from(d))),
            _ => return Decision::MIXED_FAMILY,
        };
        if packet.state == ConnState::Established {
            return Decision::ESTABLISHED;
        }
        let Some(set) = self.set_of(endpoint) else {
            return NO_GROUP;
        };
        let d = dir_index(direction);
        match addrs {
            Ok((s, t)) => set.v4[d].decide(s, t, packet),
            Err((s, t)) => set.v6[d].decide(s, t, packet),
        }
    }

    /// Decides `packets` at one endpoint and direction into the same positions of `out`,
    /// each equal to [`Engine::evaluate`]'s answer. Packets are grouped by family and
    /// protocol lane and classified in batches, which lets the classifier overlap their
    /// memory accesses. Entries of `out` beyond `packets` are left untouched; packets
    /// beyond `out`'s length are not decided. Does not allocate.
    pub fn evaluate_batch(
        &self,
        endpoint: EndpointKey,
        direction: Direction,
        packets: &[Packet],
        out: &mut [Decision],
    ) {
        const CHUNK: usize = 64;
        let set = self.set_of(endpoint);
        let d = dir_index(direction);
        let mut keys4: Option<[Key<u32>; CHUNK]> = None;
        let mut keys6: Option<[Key<u128>; CHUNK]> = None;
        let mut hits = [None; CHUNK];
        // Per packet of the chunk: 0 decided already, else 1 + family * 3 + lane index.
        let mut bucket = [0u8; CHUNK];
        let mut pos = [0u8; CHUNK];
        for (packets, out) in packets.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            let n = packets.len().min(out.len());
            let mut present = [false; 6];
            for i in 0..n {
                let p = &packets[i];
                bucket[i] = 0;
                let v6 = match (p.src, p.dst) {
                    (IpAddr::V4(_), IpAddr::V4(_)) => 0,
                    (IpAddr::V6(_), IpAddr::V6(_)) => 1,
                    _ => {
                        out[i] = Decision::MIXED_FAMILY;
                        continue;
                    }
                };
                if p.state == ConnState::Established {
                    out[i] = Decision::ESTABLISHED;
                    continue;
                }
                let Some(set) = set else {
                    out[i] = NO_GROUP;
                    continue;
                };
                let lane = if v6 == 0 {
                    set.v4[d].lane(p.protocol)
                } else {
                    set.v6[d].lane(p.protocol)
                };
                let b = v6 * 3 + lane.index();
                bucket[i] = b as u8 + 1;
                present[b] = true;
            }
            let Some(set) = set else { continue };
            for (b, _) in present.iter().enumerate().filter(|(_, &p)| p) {
                let lane = match b % 3 {
                    0 => Lane::Main,
                    l => Lane::Icmp(l - 1),
                };
                if b < 3 {
                    let keys = keys4.get_or_insert_with(|| [Key::default(); CHUNK]);
                    run_bucket(
                        &set.v4[d], lane, b, packets, out, n, &bucket, &mut pos, keys, &mut hits,
                    );
                } else {
                    let keys = keys6.get_or_insert_with(|| [Key::default(); CHUNK]);
                    run_bucket(
                        &set.v6[d], lane, b, packets, out, n, &bucket, &mut pos, keys, &mut hits,
                    );
                }
            }
        }
    }

    /// Takes in an update of `cloud`, the cloud this engine was built from (after the
    /// change): recompiles the tables the change can reach, keeps every other table as it
    /// is (the same [`Arc`]), and afterwards answers as [`Engine::build`] on the changed
    /// cloud would. A table whose lowered entries come out unchanged is kept too.
    ///
    /// Endpoints the cloud gained since are compiled as well. A cloud of another provider
    /// or other options is compiled from scratch.
    ///
    /// # Errors
    /// As [`Engine::build`]; the engine is then unchanged.
    pub fn refresh(&mut self, cloud: &Cloud, update: Update) -> Result<(), BuildError> {
        if cloud.provider() != self.provider || cloud.options() != &self.options {
            *self = Engine::build_with(cloud, self.limits)?;
            return Ok(());
        }
        let mut builder = Builder::new(cloud, self.limits);
        for set in self.sets.iter().flatten() {
            for t in &set.v4 {
                builder.v4.insert(t.fingerprint, Arc::clone(t));
            }
            for t in &set.v6 {
                builder.v6.insert(t.fingerprint, Arc::clone(t));
            }
        }
        // Endpoints whose membership is to be taken in: the one named and any the engine
        // has not seen.
        let mut endpoints: Vec<u32> = (self.slots.len() as u32..cloud.endpoints().len() as u32).collect();
        if let Update::Endpoint(e) = update {
            if !endpoints.contains(&e.get()) {
                endpoints.push(e.get());
            }
        }
        // Groups whose member addresses may have changed.
        let mut touched_members: HashSet<GroupKey> = HashSet::new();
        for &e in &endpoints {
            let old = self.slots.get(e as usize).and_then(Option::as_ref);
            let new = cloud.endpoint(EndpointKey::new(e));
            let old_groups = old.map(|s| &s.groups[..]).unwrap_or(&[]);
            let new_groups = new.map(|n| &n.groups[..]).unwrap_or(&[]);
            let same_ips = match (old, new) {
                (Some(o), Some(n)) => o.ips[..] == n.ips[..],
                (None, None) => true,
                _ => false,
            };
            for &g in old_groups.iter().chain(new_groups) {
                if !same_ips || old_groups.contains(&g) != new_groups.contains(&g) {
                    touched_members.insert(g);
                }
            }
        }
        let stale: Vec<usize> = self
            .sets
            .iter()
            .enumerate()
            .filter_map(|(i, s)| Some((i, s.as_ref()?)))
            .filter(|(_, s)| match update {
                Update::Group(g) => s.groups.contains(&g),
                Update::AddressGroup(a) => s.address_deps.contains(&a),
                Update::Endpoint(_) => false,
            } || s.member_deps.iter().any(|g| touched_members.contains(g)))
            .map(|(i, _)| i)
            .collect();
        // Compile everything first, commit after: an error leaves the engine as it was.
        let mut rebuilt: Vec<(usize, TableSet)> = Vec::with_capacity(stale.len());
        for i in stale {
            let Some(old) = &self.sets[i] else { continue };
            let name = || self.endpoint_name(cloud, i);
            rebuilt.push((i, builder.set(Arc::clone(&old.groups), &name)?));
        }
        let mut fresh: Vec<(u32, Arc<[GroupKey]>, Option<TableSet>)> = Vec::new();
        for &e in &endpoints {
            let Some(ep) = cloud.endpoint(EndpointKey::new(e)) else {
                continue;
            };
            let groups: Arc<[GroupKey]> = ep.groups.as_slice().into();
            let known = self.by_groups.contains_key(&groups) || fresh.iter().any(|(_, g, _)| *g == groups);
            let set = if known {
                None
            } else {
                let name = || ep.name.clone();
                Some(builder.set(Arc::clone(&groups), &name)?)
            };
            fresh.push((e, groups, set));
        }
        for (i, set) in rebuilt {
            self.sets[i] = Some(Arc::new(set));
        }
        for (e, groups, set) in fresh {
            if let Some(set) = set {
                self.insert_set(set);
            }
            let index = match self.by_groups.get(&groups) {
                Some(&i) => i,
                // INVARIANT: the list was known or has just been inserted.
                None => continue,
            };
            let ips: Arc<[IpAddr]> = cloud
                .endpoint(EndpointKey::new(e))
                .map(|ep| ep.ips.as_slice().into())
                .unwrap_or_else(|| Arc::from(Vec::new()));
            let e = e as usize;
            if self.slots.len() <= e {
                self.slots.resize(e + 1, None);
            }
            // Count the new use before releasing the old: they may be the same set.
            self.users[index as usize] += 1;
            if let Some(old) = self.slots[e].take() {
                self.release(old.set);
            }
            self.slots[e] = Some(Slot {
                set: index,
                groups,
                ips,
            });
        }
        // Endpoints the cloud no longer has (only when refreshed with another cloud).
        for e in cloud.endpoints().len()..self.slots.len() {
            if let Some(old) = self.slots[e].take() {
                self.release(old.set);
            }
        }
        Ok(())
    }

    /// One use of a set fewer; frees it when unused.
    fn release(&mut self, set: u32) {
        let i = set as usize;
        if let Some(users) = self.users.get_mut(i) {
            *users = users.saturating_sub(1);
            if *users == 0 {
                if let Some(s) = self.sets[i].take() {
                    self.by_groups.remove(&s.groups);
                }
            }
        }
    }

    /// The name of an endpoint that uses set `i` (for errors).
    fn endpoint_name(&self, cloud: &Cloud, i: usize) -> String {
        self.slots
            .iter()
            .position(|s| s.as_ref().is_some_and(|s| s.set as usize == i))
            .and_then(|e| cloud.endpoint(EndpointKey::new(e as u32)))
            .map(|ep| ep.name.clone())
            .unwrap_or_default()
    }

    /// The limits the engine was compiled within.
    pub fn limits(&self) -> BuildLimits {
        self.limits
    }

    /// Bytes the engine uses, heap included; shared tables count once.
    pub fn memory_usage(&self) -> usize {
        self.stats().memory_bytes
    }

    /// Sizes of the engine.
    pub fn stats(&self) -> Stats {
        let mut seen: HashSet<usize> = HashSet::new();
        let mut stats = Stats {
            endpoints: self.slots.iter().flatten().count(),
            group_lists: self.by_groups.len(),
            ..Stats::default()
        };
        let mut bytes = std::mem::size_of::<Self>()
            + self.slots.capacity() * std::mem::size_of::<Option<Slot>>()
            + self.sets.capacity() * std::mem::size_of::<Option<Arc<TableSet>>>()
            + self.users.capacity() * 4;
        for slot in self.slots.iter().flatten() {
            bytes += std::mem::size_of_val(&*slot.ips);
        }
        for set in self.sets.iter().flatten() {
            bytes += std::mem::size_of::<TableSet>()
                + std::mem::size_of_val(&*set.groups) * 2
                + set.member_deps.capacity() * 4
                + set.address_deps.capacity() * 4;
            for t in &set.v4 {
                if seen.insert(Arc::as_ptr(t) as usize) {
                    stats.tables += 1;
                    stats.entries += t.entries();
                    bytes += t.memory_usage();
                }
            }
            for t in &set.v6 {
                if seen.insert(Arc::as_ptr(t) as usize) {
                    stats.tables += 1;
                    stats.entries += t.entries();
                    bytes += t.memory_usage();
                }
            }
        }
        stats.memory_bytes = bytes;
        stats
    }
}

/// Classifies the packets of one bucket of a chunk and writes their decisions.
#[allow(clippy::too_many_arguments)]
#[inline]
fn run_bucket<A: FamilyAddr>(
    table: &Table<A>,
    lane: Lane,
    b: usize,
    packets: &[Packet],
    out: &mut [Decision],
    n: usize,
    bucket: &[u8],
    pos: &mut [u8],
    keys: &mut [Key<A>],
    hits: &mut [Option<u32>],
) {
    let mut m = 0;
    for i in 0..n {
        if usize::from(bucket[i]) == b + 1 {
            let p = &packets[i];
            if let (Some(s), Some(d)) = (A::of_ip(p.src), A::of_ip(p.dst)) {
                keys[m] = table.key(lane, s, d, p);
                pos[m] = i as u8;
                m += 1;
            }
        }
    }
    table.classify_batch(lane, &keys[..m], &mut hits[..m]);
    for j in 0..m {
        out[usize::from(pos[j])] = table.answer(lane, hits[j]);
    }
}

impl crate::flow::Evaluate for Engine {
    fn evaluate(&self, endpoint: EndpointKey, direction: Direction, packet: &Packet) -> Decision {
        Engine::evaluate(self, endpoint, direction, packet)
    }
}

#[cfg(test)]
mod tests;
