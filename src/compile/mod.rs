//! The compiled engine: indexed lookup structures that give the reference's answer fast.
//!
//! [`Engine::build`] compiles, for every distinct list of groups that endpoints carry, one
//! table per direction and address family. A table is a first-match
//! [`sgeval_classifier::Classifier`] whose entry order IS the provider's decision procedure (see
//! the `lower` module): ECS and ENS pool the rules of all groups by (priority, drop before
//! accept, group order, creation order) after ECS's `InnerAccessPolicy=Accept` member
//! entries; Huawei orders by group, then (priority, deny before allow, creation order);
//! Gcore by group, then creation order. Address groups expand to their prefixes. Group
//! references do not expand: every address has an identity, the set of groups of the
//! endpoint that owns it (the `identity` module), and a table whose rules name groups'
//! members keeps one classifier per set of those groups that some identity holds (one per
//! ECS group whose intra-group entry leads the table, for the identities it decides).
//! Evaluating a packet is, for such a table, one hash lookup of the remote address's
//! identity, then one classifier lookup and one load of the decision of the entry that
//! matched; nothing is interpreted per packet.
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
//! tables the change can reach and keeps the others (shared through [`Arc`]). A membership
//! change recompiles no table: the endpoint's addresses are mapped to the identity of its
//! new groups, and only when that identity is new do the tables that reference its groups
//! learn it (a variant derived from an existing one's classifiers under an overlay when
//! no identity had the same referenced groups). A change of a few rules of a group is
//! spliced: the engine keeps what it compiled of each group (the rules' `Arc`s, whose
//! fields lowering reads, in chunks shared between snapshots: the `snap` module), finds
//! the rules added, removed or edited, lowers each alone and puts
//! its entries at their place in provider order (an order key: priority, deny first, group
//! order, creation order), the classifiers kept under overlays and the fingerprints kept
//! as sums of per-entry hashes. A new group list's tables are not lowered from the rules
//! when every group of it is in some other list: each group's entries are taken from that
//! list's tables and merged in the new list's order keys (`lower::merged`). What
//! refreshes leave unbuilt, [`Engine::compact`] builds off the read path.
//!
//! # Builds apart
//!
//! A rule spliced into a table lays an overlay over its classifiers; once a lane's overlay
//! passes 64 entries, the refresh that passes it rebuilds the classifiers (milliseconds at
//! thousands of entries, where a splice takes microseconds). Rules added one after another
//! reach that every few dozen adds. An embedder that wants every refresh to stay a splice
//! runs the rebuilds elsewhere, as [`crate::live::Live`] does on a thread of its own:
//! [`Engine::build_apart`] once; after refreshes, [`Engine::take_builds`] hands over a
//! [`Build`] for each table whose overlays reached 32 entries; any thread runs it
//! ([`Build::run`]); [`Engine::install`] takes the [`Built`] result in, the table then
//! answering from the new classifiers under an overlay of the rules changed since. Meanwhile
//! overlays may grow to 192 entries. Keep one build a [`Target`] in flight: every refresh
//! past 32 entries asks again, and a queue of near-identical builds comes back too late to
//! be taken in. The answers are the same whether a result is taken in early, late or
//! never: it is compared with the engine's current lists, not trusted.
//!
//! `examples/add_latency.rs` measures it: a Gcore group filled to 1,000 rules one add at a
//! time, each refresh timed with what the embedder does around it (taking results in,
//! sending builds), had a median of 8.6-8.7 µs and a 99th percentile of 23.5-26.9 µs over
//! three runs (`add_latency gcore 5 apart`), where refreshes that rebuild in place had a
//! 99th percentile of 239-370 µs (README, issue 11's targets).
//!
//! ```
//! use std::sync::mpsc;
//! use sgeval::compile::{Build, Built, Engine, Target, Update};
//! use sgeval::{flow, Packet, Request, Scenario, Verdict};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut cloud = Scenario::from_json(r#"{
//!   "provider": "gcore",
//!   "calls": [{"api": "CreateSecurityGroup", "ref": "web", "body": {"name": "web"}}],
//!   "endpoints": [{"name": "vm", "ips": ["10.0.0.5"], "groups": ["$web"]}]
//! }"#)?.build()?;
//! let (web, web_id) = cloud.groups().map(|g| (g.key, g.id.clone())).next().unwrap();
//! let mut engine = Engine::build(&cloud)?;
//! engine.build_apart();
//! // A builder thread: builds in, results out, each with its target.
//! let (jobs, inbox) = mpsc::channel::<Build>();
//! let (outbox, done) = mpsc::channel::<(Target, Option<Built>)>();
//! let builder = std::thread::spawn(move || {
//!     for build in inbox {
//!         let _ = outbox.send((build.target().clone(), build.run()));
//!     }
//! });
//! let mut pending: Vec<Target> = Vec::new();
//! let mut taken_in = 0;
//! let mut take_in = |engine: &mut Engine, pending: &mut Vec<Target>| {
//!     for (target, built) in done.try_iter() {
//!         pending.retain(|t| *t != target);
//!         if let Some(built) = built {
//!             taken_in += usize::from(engine.install(&built));
//!         }
//!     }
//! };
//! for port in 1000..1200u16 {
//!     let request = Request {
//!         path: Some(format!("/cloud/v2/security_groups/1/1/{web_id}/rules")),
//!         body: Some(serde_json::json!({
//!             "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
//!             "port_range_min": port, "port_range_max": port,
//!             "remote_ip_prefix": "198.51.100.0/24"})),
//!         ..Request::default()
//!     };
//!     assert!(cloud.call("CreateSecurityGroupRule", &request).is_success());
//!     // The results back so far, then the refresh: a splice, never a rebuild.
//!     take_in(&mut engine, &mut pending);
//!     engine.refresh(&cloud, Update::Group(web))?;
//!     for build in engine.take_builds() {
//!         if !pending.contains(build.target()) {
//!             pending.push(build.target().clone());
//!             jobs.send(build)?;
//!         }
//!     }
//! }
//! drop(jobs);
//! builder.join().unwrap();
//! take_in(&mut engine, &mut pending);
//! assert!(taken_in > 0);
//! let packet = Packet::tcp("198.51.100.7".parse()?, "10.0.0.5".parse()?, 1142);
//! assert_eq!(flow::trace(&cloud, &engine, &packet).verdict, Verdict::Allow);
//! # Ok(())
//! # }
//! ```

mod background;
mod by_identity;
mod identity;
mod list;
pub(crate) mod lower;
mod sets;
mod snap;
mod table;

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use sgeval_classifier as classifier;

use crate::cloud::Cloud;
use crate::decision::{Decision, Fallback, Verdict};
use crate::flow::{Flow, Hop};
use crate::group::{AddressGroupKey, EndpointKey, GroupKey};
use crate::model::{FastMap, FastSet};
use crate::packet::{ConnState, Packet};
use crate::provider::{Options, Provider};
use crate::rule::{Direction, Family, Remote, RuleKey};

pub use self::background::{Build, Built, Target};
use self::classifier::Key;
use self::identity::{Identities, IdentityId, Owner};
use self::lower::{Ctx, FamilyAddr, LowerError, Lowered};
use self::sets::Sets;
use self::snap::{Snap, SnapRule};
use self::table::{Lane, Table};
use smallvec::SmallVec;

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
    /// Distinct group lists of the endpoints (endpoints with the same groups in the same
    /// order share tables).
    pub group_lists: usize,
    /// Distinct tables of those lists (identical tables are shared).
    pub tables: usize,
    /// Classifier entries over those tables (every variant of a table counted).
    pub entries: usize,
    /// Identities: distinct group sets of endpoints, and the empty one.
    pub identities: usize,
    /// Bytes, as [`Engine::memory_usage`].
    pub memory_bytes: usize,
}

/// The four tables of one group list and what they depend on besides the list's own groups.
#[derive(Clone, Debug)]
struct TableSet {
    /// The group list, in association order.
    groups: Arc<[GroupKey]>,
    /// IPv4 tables, by direction ([`dir_index`]).
    v4: [Arc<Table<u32>>; 2],
    /// IPv6 tables, by direction.
    v6: [Arc<Table<u128>>; 2],
    /// Address groups the tables expand.
    address_deps: Vec<AddressGroupKey>,
}

/// What the engine knows of one endpoint.
#[derive(Clone, Debug)]
struct Slot {
    /// Index into [`Engine::sets`].
    set: u32,
    /// Where the endpoint's addresses when last compiled start in [`Engine::addrs`] (to
    /// unmap those a change dropped; its group list is its set's).
    start: u32,
    /// How many addresses it had.
    len: u32,
}

impl Slot {
    /// The endpoint's addresses when last compiled.
    #[inline]
    fn ips<'a>(&self, addrs: &'a [IpAddr]) -> &'a [IpAddr] {
        &addrs[self.start as usize..][..self.len as usize]
    }
}

/// The compiled engine over a cloud: immutable, `Send + Sync`, cheap to clone (tables are
/// shared).
#[derive(Clone, Debug)]
pub struct Engine {
    provider: Provider,
    options: Options,
    limits: BuildLimits,
    /// By endpoint key; `None` for keys the cloud does not have.
    slots: Roomy<Option<Slot>>,
    /// Every slot's addresses, one run a slot ([`Slot::start`]): one vector, not an
    /// allocation an endpoint (5,000 endpoints: ~120 KB less, and a clone copies it whole
    /// instead of counting 5,000 references).
    addrs: Roomy<IpAddr>,
    /// Addresses in [`Engine::addrs`] that no slot holds; compacted when most are.
    dead_addrs: usize,
    /// By endpoint key: its set ([`Slot::set`]), or [`NO_SET`]. The read path's copy, 4
    /// bytes an endpoint, so that it stays in cache over many endpoints (`flow::trace`).
    set_index: Roomy<u32>,
    /// Table sets; `None` marks a free place.
    sets: Sets,
    /// How many slots use each set.
    users: Vec<u32>,
    /// Sets that lost their last user, oldest first (some may be in use again): kept, up
    /// to [`IDLE_SETS`], for an endpoint that takes the same group list again.
    idle: std::collections::VecDeque<u32>,
    /// The set of each group list.
    by_groups: FastMap<Arc<[GroupKey]>, u32>,
    /// The identities and the address map.
    identities: Identities,
    /// What the tables were compiled from, per group of some list: to tell which rules a
    /// change of the group added or removed.
    snaps: FastMap<GroupKey, Snap>,
    /// Present where the CPU steps the classifiers' nodes with AVX2: lookups then run whole
    /// inside one function compiled for it ([`classifier::Simd::run`]).
    simd: Option<classifier::Simd>,
    /// Most entries a rule change's overlay may hold per lane before the variant is
    /// rebuilt: [`table::MAX_OVERLAY`], or more when builds run apart
    /// ([`Engine::build_apart`]).
    overlay_limit: usize,
    /// When builds run apart: the sets a splice left with a variant whose overlays hold
    /// [`table::BUILD_AT`] entries or more, for [`Engine::take_builds`].
    heavy: Vec<u32>,
}

/// A vector whose clones keep room to grow: an engine is cloned to be refreshed (as
/// `Live` does), and a refresh that takes in a new endpoint grows the per-endpoint vectors
/// by one; with the exact capacity of a plain clone that copied them whole (5,000
/// endpoints: ~200 KB, most of a new combination's refresh on a fresh clone). The same
/// holds of the vectors by set ([`Sets`]) and by identity ([`identity::Identities`]).
#[derive(Debug, Default)]
struct Roomy<T>(Vec<T>);

impl<T: Clone> Clone for Roomy<T> {
    fn clone(&self) -> Self {
        let mut v = Vec::with_capacity(self.0.len() + self.0.len() / 16 + 16);
        v.extend_from_slice(&self.0);
        Roomy(v)
    }
}

impl<T> std::ops::Deref for Roomy<T> {
    type Target = Vec<T>;
    #[inline]
    fn deref(&self) -> &Vec<T> {
        &self.0
    }
}

impl<T> std::ops::DerefMut for Roomy<T> {
    #[inline]
    fn deref_mut(&mut self) -> &mut Vec<T> {
        &mut self.0
    }
}

/// [`Engine::set_index`] of a key the cloud does not have.
const NO_SET: u32 = u32::MAX;

const NO_GROUP: Decision = Decision {
    verdict: Verdict::Deny,
    reason: crate::Reason::Default {
        fallback: Fallback::NoGroup,
    },
};

/// The remote address of a packet: the source on ingress, the destination on egress.
#[inline]
fn remote<A>(direction: Direction, src: A, dst: A) -> A {
    match direction {
        Direction::Ingress => src,
        Direction::Egress => dst,
    }
}

/// The remote address's identity for [`decide`]: known (a trace found it with the other
/// address's owner) or to be looked up, only when the table references groups.
#[derive(Clone, Copy)]
enum RemoteIdentity<'a, A> {
    Known(IdentityId),
    Of(&'a Identities, A),
}

/// A table's decision for a packet of addresses `src`, `dst`, the remote one's identity
/// given by `identity`. One instance per family (no closure type parameter), so that the
/// table's decision has one caller per family and stays inlined.
// PERF: measured and dropped (`lookup_count` in turns with this code, load 5-8): the
// identity looked up first, before the table set (no change); the lane chosen without a
// branch (0.3 fewer mispredicts, 11 more instructions, 0-1.8 ns slower). The identity
// lookup costs 14-18 instructions and 0.3-0.65 L1 misses a lookup, but time one at a
// time hardly (left out as an experiment, wrong answers: ECS dense 32.2 ns without it,
// 31.8 with it). A one-hash bit filter of the addresses of identities other than 0 (8-16
// bits an address) asked before the map: 4 instructions and 0.25 mispredicts fewer a
// lookup one at a time, 0.25 L1 misses more, time alike (`lookup_count` in turns, load 3-4,
// ECS dense 28.3-28.8 against 28.2-28.9 ns); in the batch, the filter asked for the whole
// chunk and the map only for the packets it may hold took 28 instructions more and 0.06
// mispredicts fewer a packet, no faster (ECS dense 21.5-24.6 against 21.1-21.2 ns).
#[inline(always)]
fn decide<A: FamilyAddr + identity::Keyed>(
    table: &Table<A>,
    src: A,
    dst: A,
    packet: &Packet,
    identity: RemoteIdentity<'_, A>,
    simd: Option<classifier::Simd>,
) -> Decision {
    let lane = table.lane(packet.protocol);
    let key = table.key(lane, src, dst, packet);
    let variant = if table.has_refs() {
        table.variant(match identity {
            RemoteIdentity::Known(id) => id,
            RemoteIdentity::Of(identities, addr) => A::identity_in(identities, addr),
        })
    } else {
        table.plain()
    };
    table.decide(variant, lane, &key, simd)
}

/// The flow of a packet whose source and destination addresses have `owners`: the egress
/// hop at the source's owner, the ingress hop at the destination's, each decided by
/// `decision` (the owner, the direction, the other address's identity).
#[inline(always)]
fn hops(
    owners: [Option<Owner>; 2],
    packet: &Packet,
    decision: impl Fn(Owner, Direction, IdentityId) -> Decision,
) -> Flow {
    let [src, dst] = owners;
    let hop = |at: Option<Owner>, direction, other: Option<Owner>| {
        at.map(|owner| Hop {
            endpoint: EndpointKey::new(owner.endpoint),
            direction,
            decision: decision(owner, direction, other.map_or(0, |o| o.identity)),
        })
    };
    Flow::of(
        hop(src, Direction::Egress, dst),
        hop(dst, Direction::Ingress, src),
        packet,
    )
}

#[inline]
fn dir_index(direction: Direction) -> usize {
    match direction {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

/// Tables by fingerprint (already a hash: foldhash rather than SipHash over it, as a
/// refresh puts every table of the engine in one). A fingerprint finds a candidate: the
/// lists are compared before a table is shared ([`table`]).
type ByPrint<A> = FastMap<u64, Arc<Table<A>>>;

/// Builds tables, sharing identical ones by fingerprint.
struct Builder<'c> {
    ctx: Ctx<'c>,
    limits: BuildLimits,
    identities: &'c Identities,
    v4: ByPrint<u32>,
    v6: ByPrint<u128>,
    /// Whether new tables of few entries are left without classifiers
    /// ([`Table::build_as`]), as refreshes do.
    deferred: bool,
    /// The last deferred table built, per family: its empty classifiers are shared by the
    /// next (PERF: building empty classifiers was ~7% of a new combination's refresh).
    like4: Option<Arc<Table<u32>>>,
    like6: Option<Arc<Table<u128>>>,
    /// How the last table built takes the identities ([`table::Twin`]), for the next.
    twin: Option<table::Twin>,
    /// The engine's sets, whose tables' entries a new list's tables are merged from
    /// ([`lower::merged`]), when they are current (a refresh of endpoints alone).
    donors: Option<&'c Sets>,
    /// The engine's tables to share a new table with, looked through by fingerprint
    /// rather than put in `v4`/`v6` first (a refresh of endpoints alone).
    existing: Option<Existing<'c>>,
}

/// The tables of an engine's sets, each as the copy that learned new identities where
/// there is one ([`learn`]): [`Builder::existing`].
// PERF: a new combination's refresh looks up the new list's four tables; putting every
// table of the engine in a map for that cost ~70 instructions a table (`update_latency 0
// 500 175`); the sets keep their tables' fingerprints' tags beside them instead
// ([`Sets::prints4`]): scanning the tables themselves took a first-level cache miss a
// table (callgrind `--cache-sim=yes`: 124 K of the run's 1.9 M).
#[derive(Clone, Copy)]
struct Existing<'c> {
    sets: &'c Sets,
    copies4: &'c Copies<u32>,
    copies6: &'c Copies<u128>,
}

impl Existing<'_> {
    /// The table of fingerprint `fp` and lists `lowered` among `tables` of the sets, at
    /// places `at` (those that may hold the fingerprint: [`Sets::prints4`] or
    /// [`Sets::prints6`]).
    fn find<A: FamilyAddr>(
        &self,
        tables: impl Fn(&TableSet) -> &[Arc<Table<A>>; 2],
        at: sets::Places<'_>,
        copies: &Copies<A>,
        fp: u64,
        lowered: &Lowered<A>,
    ) -> Option<Arc<Table<A>>> {
        for k in at {
            let Some((set, d)) = self.sets.table_at(k) else {
                continue;
            };
            let t = &tables(set)[d];
            if t.fingerprint == fp && t.lowered() == lowered {
                return Some(Arc::clone(copies.get(&Arc::as_ptr(t)).unwrap_or(t)));
            }
        }
        None
    }
}

/// Finds an engine's table of a fingerprint and lists ([`Existing`]).
type Find<'a, A> = dyn Fn(u64, &Lowered<A>) -> Option<Arc<Table<A>>> + 'a;

#[allow(clippy::too_many_arguments)]
fn table<A: FamilyAddr>(
    ctx: &Ctx<'_>,
    identities: &Identities,
    cache: &mut ByPrint<A>,
    limits: BuildLimits,
    groups: &[GroupKey],
    direction: Direction,
    previous: Option<&Arc<Table<A>>>,
    endpoint: &dyn Fn() -> String,
    deferred: bool,
    like: &mut Option<Arc<Table<A>>>,
    twin: &mut Option<table::Twin>,
    donors: &[&Lowered<A>],
    existing: &Find<'_, A>,
) -> Result<Arc<Table<A>>, BuildError> {
    // From the groups' entries in other lists' tables where that gives the same lists.
    let merged = if donors.is_empty() {
        None
    } else {
        lower::merged::<A>(ctx, groups, direction, limits.max_entries, donors)
    };
    let lowered = match merged {
        Some(lowered) => Ok(lowered),
        None => lower::lower::<A>(ctx, groups, direction, limits.max_entries),
    };
    let lowered = lowered.map_err(|e| match e {
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
    // Equal fingerprints make a candidate; the lists decide (a fingerprint is a 64-bit
    // sum of fast entry hashes, [`lower::entry_hash`], not proof of equality).
    if let Some(t) = cache.get(&fp) {
        if *t.lowered() == lowered {
            return Ok(Arc::clone(t));
        }
    }
    if let Some(t) = existing(fp, &lowered) {
        cache.insert(fp, Arc::clone(&t));
        return Ok(t);
    }
    let refused = |source| BuildError::Classifier {
        endpoint: endpoint(),
        direction,
        family: A::FAMILY,
        source,
    };
    // The same list's table before the change: its classifiers kept under overlays when
    // the change is small.
    let lowered = match previous {
        Some(old) => match old.patched(lowered, fp).map_err(refused)? {
            Ok(patched) => {
                let t = Arc::new(patched);
                cache.insert(fp, Arc::clone(&t));
                return Ok(t);
            }
            Err(lowered) => lowered,
        },
        None => lowered,
    };
    let t = Table::build_as(lowered, fp, identities, deferred, like.as_deref(), twin.as_ref())
        .map_err(refused)?;
    if let Some(next) = t.twin() {
        *twin = Some(next);
    }
    let t = Arc::new(t);
    if deferred && t.has_unbuilt() {
        *like = Some(Arc::clone(&t));
    }
    cache.insert(fp, Arc::clone(&t));
    Ok(t)
}

impl<'c> Builder<'c> {
    fn new(cloud: &'c Cloud, limits: BuildLimits, identities: &'c Identities) -> Builder<'c> {
        Builder {
            ctx: Ctx::new(cloud),
            limits,
            identities,
            v4: ByPrint::default(),
            v6: ByPrint::default(),
            deferred: false,
            like4: None,
            like6: None,
            twin: None,
            donors: None,
            existing: None,
        }
    }

    /// Compiles the tables of a group list; `previous` is the list's set before a change
    /// of its rules, whose tables are patched rather than rebuilt where they can be.
    fn set(
        &mut self,
        groups: Arc<[GroupKey]>,
        previous: Option<&TableSet>,
        endpoint: &dyn Fn() -> String,
    ) -> Result<TableSet, BuildError> {
        let (ctx, limits, ids, lazy) = (&self.ctx, self.limits, self.identities, self.deferred);
        let existing = self.existing;
        let e4 = |fp: u64, l: &Lowered<u32>| {
            let e = existing?;
            e.find(|s| &s.v4, e.sets.prints4(fp), e.copies4, fp, l)
        };
        let e6 = |fp: u64, l: &Lowered<u128>| {
            let e = existing?;
            e.find(|s| &s.v6, e.sets.prints6(fp), e.copies6, fp, l)
        };
        let (ingress, egress) = (Direction::Ingress, Direction::Egress);
        let p4 = |d: usize| previous.map(|p| &p.v4[d]);
        let p6 = |d: usize| previous.map(|p| &p.v6[d]);
        // For each group, the set of the fewest groups that holds it (its entries are
        // taken from that set's tables).
        let donors: SmallVec<[&TableSet; 8]> = match (previous, self.donors) {
            (None, Some(sets)) => sets.fewest_holding(&groups),
            _ => SmallVec::new(),
        };
        let donors: &[&TableSet] = if donors.len() == groups.len() {
            &donors
        } else {
            &[]
        };
        let d4 =
            |d: usize| -> SmallVec<[&Lowered<u32>; 8]> { donors.iter().map(|s| s.v4[d].lowered()).collect() };
        let d6 = |d: usize| -> SmallVec<[&Lowered<u128>; 8]> {
            donors.iter().map(|s| s.v6[d].lowered()).collect()
        };
        let v4 = [
            table::<u32>(
                ctx,
                ids,
                &mut self.v4,
                limits,
                &groups,
                ingress,
                p4(0),
                endpoint,
                lazy,
                &mut self.like4,
                &mut self.twin,
                &d4(0),
                &e4,
            )?,
            table::<u32>(
                ctx,
                ids,
                &mut self.v4,
                limits,
                &groups,
                egress,
                p4(1),
                endpoint,
                lazy,
                &mut self.like4,
                &mut self.twin,
                &d4(1),
                &e4,
            )?,
        ];
        let v6 = [
            table::<u128>(
                ctx,
                ids,
                &mut self.v6,
                limits,
                &groups,
                ingress,
                p6(0),
                endpoint,
                lazy,
                &mut self.like6,
                &mut self.twin,
                &d6(0),
                &e6,
            )?,
            table::<u128>(
                ctx,
                ids,
                &mut self.v6,
                limits,
                &groups,
                egress,
                p6(1),
                endpoint,
                lazy,
                &mut self.like6,
                &mut self.twin,
                &d6(1),
                &e6,
            )?,
        ];
        let address_deps = address_deps(self.ctx.cloud, &groups);
        Ok(TableSet {
            groups,
            v4,
            v6,
            address_deps,
        })
    }
}

/// The address groups whose entries the tables of a group list expand.
fn address_deps(cloud: &Cloud, groups: &[GroupKey]) -> Vec<AddressGroupKey> {
    let mut addresses = Vec::new();
    for &g in groups {
        let Some(group) = cloud.group(g) else { continue };
        for rule in &group.rules {
            if let Remote::AddressGroup(a) = rule.remote {
                addresses.push(a);
            }
        }
    }
    addresses.sort_unstable();
    addresses.dedup();
    addresses
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
            slots: Roomy(Vec::with_capacity(cloud.endpoints().len())),
            addrs: Roomy(Vec::with_capacity(
                cloud.endpoints().iter().map(|ep| ep.ips.len()).sum(),
            )),
            dead_addrs: 0,
            set_index: Roomy(Vec::new()),
            sets: Sets::default(),
            users: Vec::new(),
            idle: std::collections::VecDeque::new(),
            by_groups: HashMap::default(),
            identities: Identities::default(),
            snaps: HashMap::default(),
            simd: classifier::Simd::detect(),
            overlay_limit: table::MAX_OVERLAY,
            heavy: Vec::new(),
        };
        // Identities first: every table learns every identity when it is built.
        for (e, ep) in cloud.endpoints().iter().enumerate() {
            let (id, _) = engine.identities.intern(identity::group_set(&ep.groups));
            for &ip in &ep.ips {
                engine.identities.insert(ip, e as u32, id);
            }
        }
        let identities = std::mem::take(&mut engine.identities);
        let mut builder = Builder::new(cloud, limits, &identities);
        for ep in cloud.endpoints() {
            let set = match engine.by_groups.get(&ep.groups[..]) {
                Some(&i) => i,
                None => {
                    let name = || ep.name.clone();
                    let set = builder.set(ep.groups.as_slice().into(), None, &name)?;
                    engine.insert_set(set)
                }
            };
            engine.users[set as usize] += 1;
            let start = engine.addrs.len() as u32;
            engine.addrs.extend_from_slice(&ep.ips);
            engine.slots.push(Some(Slot {
                set,
                start,
                len: ep.ips.len() as u32,
            }));
        }
        drop(builder);
        engine.identities = identities;
        for set in engine.sets.clone().iter().flatten() {
            engine.snap(cloud, &set.groups);
        }
        engine.index_sets(0..engine.slots.len());
        debug_assert!(engine.sets.hold(), "set summaries after a build");
        Ok(engine)
    }

    /// Puts a new set in a free place (or at the end) and indexes it by its group list.
    fn insert_set(&mut self, set: TableSet) -> u32 {
        let groups = Arc::clone(&set.groups);
        let set = Some(Arc::new(set));
        let index = match self.sets.vacant() {
            Some(i) => {
                self.sets.put(i, set);
                self.users[i] = 0;
                i
            }
            None => {
                self.sets.put(self.sets.len(), set);
                self.users.push(0);
                self.sets.len() - 1
            }
        };
        self.by_groups.insert(groups, index as u32);
        index as u32
    }

    /// Moves the slots' addresses together when most of [`Engine::addrs`] is dead.
    fn compact_addrs(&mut self) {
        if self.dead_addrs <= 64 || self.dead_addrs * 2 <= self.addrs.len() {
            return;
        }
        let live = self.addrs.len() - self.dead_addrs;
        let mut addrs = Vec::with_capacity(live + live / 16 + 16);
        for slot in self.slots.iter_mut().flatten() {
            let start = addrs.len() as u32;
            addrs.extend_from_slice(slot.ips(&self.addrs));
            slot.start = start;
        }
        self.addrs = Roomy(addrs);
        self.dead_addrs = 0;
    }

    /// Copies the sets of the slots of `endpoints` into [`Engine::set_index`] and into
    /// their addresses' entries of the address map (`flow::trace`'s way to the tables).
    fn index_sets(&mut self, endpoints: impl Iterator<Item = usize>) {
        self.set_index.resize(self.slots.len(), NO_SET);
        for e in endpoints {
            if let Some(i) = self.set_index.get_mut(e) {
                *i = self.slots[e].as_ref().map_or(NO_SET, |s| s.set);
                if let Some(slot) = &self.slots[e] {
                    for &ip in slot.ips(&self.addrs) {
                        self.identities.set_tables(ip, e as u32, slot.set);
                    }
                }
            }
        }
    }

    /// The table set of an endpoint.
    #[inline]
    fn set_of(&self, endpoint: EndpointKey) -> Option<&TableSet> {
        let set = *self.set_index.get(endpoint.get() as usize)?;
        // `NO_SET` is past every set.
        self.sets.get(set as usize)?.as_deref()
    }

    /// The decision of `endpoint`'s groups for `packet` in `direction`: the same
    /// [`Decision`] as [`crate::reference::Evaluator::evaluate`], without allocating.
    ///
    /// A packet that mixes families is denied ([`Decision::MIXED_FAMILY`]); an established
    /// one is allowed ([`Decision::ESTABLISHED`]); an endpoint the cloud does not have is
    /// denied ([`Fallback::NoGroup`]).
    #[inline]
    pub fn evaluate(&self, endpoint: EndpointKey, direction: Direction, packet: &Packet) -> Decision {
        // PERF: the AVX2 boundary crossed once, around the whole lookup, so that the node
        // steps inline into it (not once inside each classifier call).
        match self.simd {
            Some(simd) => simd.run(|simd| self.evaluate_in(Some(simd), endpoint, direction, packet)),
            None => self.evaluate_in(None, endpoint, direction, packet),
        }
    }

    /// [`Engine::evaluate`] with the classifiers' node steps taken by `simd`.
    #[inline(always)]
    fn evaluate_in(
        &self,
        simd: Option<classifier::Simd>,
        endpoint: EndpointKey,
        direction: Direction,
        packet: &Packet,
    ) -> Decision {
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
            Ok((s, t)) => decide(
                &set.v4[d],
                s,
                t,
                packet,
                RemoteIdentity::Of(&self.identities, remote(direction, s, t)),
                simd,
            ),
            Err((s, t)) => decide(
                &set.v6[d],
                s,
                t,
                packet,
                RemoteIdentity::Of(&self.identities, remote(direction, s, t)),
                simd,
            ),
        }
    }

    /// [`crate::flow::trace`] on this engine ([`crate::flow::Evaluate::flow`]): each of the
    /// packet's two addresses looked up once, both before either hop, in the address map
    /// whose entry holds the owning endpoint, its identity (the other hop's remote
    /// identity) and its table set; each hop is then [`Engine::evaluate`]'s decision
    /// without another lookup. The cloud's own address index is not read: the engine
    /// answers for the cloud it was built from or last refreshed with.
    fn trace(&self, packet: &Packet) -> Flow {
        // PERF: one match on the families, each arm looking up and deciding (looking the
        // owners up in a match of their own first, as `trace_batch` must, cost 30
        // instructions a trace more: `lookup_count trace-10`, 589 against 559).
        match (packet.src, packet.dst) {
            (IpAddr::V4(s), IpAddr::V4(t)) => {
                let (s, t) = (u32::from(s), u32::from(t));
                self.traced_v4(packet, s, t, self.identities.owners_v4(s, t))
            }
            (IpAddr::V6(s), IpAddr::V6(t)) => {
                let (s, t) = (u128::from(s), u128::from(t));
                self.traced_v6(packet, s, t, self.identities.owners_v6(s, t))
            }
            _ => self.mixed(packet),
        }
    }

    /// [`crate::flow::trace_batch`] on this engine ([`crate::flow::Evaluate::flow_batch`]):
    /// [`Engine::trace`] of every packet, the owners of the next packet's addresses looked up
    /// before this packet's hops, so that their cache misses overlap its work (a map out of
    /// cache costs a miss per address, which one packet alone cannot hide).
    // PERF: one packet ahead rather than a chunk of 16 packets' owners in an array first:
    // 469.6 against 484.1 instructions a trace (`lookup_count trace-batch-100000` under
    // callgrind), best times over ten rounds in turns 33.0 / 33.3 against 34.3 / 36.8 ns
    // over 10 / 100,000 endpoints (`LOOKUP_TIME=100`). `owners_v4` and `owners_v6` are
    // always inlined: without it, the second call site made the compiler lay out the
    // one-at-a-time `trace` worse (443 -> 476 instructions, 31 -> 49 ns over 10).
    fn trace_batch(&self, packets: &[Packet], out: &mut [Flow]) {
        let n = packets.len().min(out.len());
        let Some(first) = packets.first() else { return };
        let mut next = self.owners_of(first);
        for i in 0..n {
            let (p, o) = (&packets[i], next);
            if let Some(q) = packets.get(i + 1) {
                next = self.owners_of(q);
            }
            out[i] = match (p.src, p.dst) {
                (IpAddr::V4(s), IpAddr::V4(t)) => self.traced_v4(p, u32::from(s), u32::from(t), o),
                (IpAddr::V6(s), IpAddr::V6(t)) => self.traced_v6(p, u128::from(s), u128::from(t), o),
                _ => self.mixed(p),
            };
        }
    }

    /// The owners of a packet's two addresses (none for a packet of mixed families).
    #[inline(always)]
    fn owners_of(&self, p: &Packet) -> [Option<Owner>; 2] {
        match (p.src, p.dst) {
            (IpAddr::V4(s), IpAddr::V4(t)) => self.identities.owners_v4(u32::from(s), u32::from(t)),
            (IpAddr::V6(s), IpAddr::V6(t)) => self.identities.owners_v6(u128::from(s), u128::from(t)),
            _ => [None; 2],
        }
    }

    /// The flow of an IPv4 packet from `s` to `t`, addresses of `owners`.
    #[inline(always)]
    fn traced_v4(&self, packet: &Packet, s: u32, t: u32, owners: [Option<Owner>; 2]) -> Flow {
        // PERF: not run inside `Simd::run` as `evaluate` is: there the two hops stayed out
        // of line (`lookup_count trace-100000`: 618 against 559 instructions a trace,
        // 46-48 against 37-38 ns at load 6), so each classifier call enters AVX2 itself.
        let simd = self.simd;
        self.traced(owners, packet, |set, d, remote| {
            decide(&set.v4[d], s, t, packet, RemoteIdentity::Known(remote), simd)
        })
    }

    /// The flow of an IPv6 packet, as [`Engine::traced_v4`].
    #[inline(always)]
    fn traced_v6(&self, packet: &Packet, s: u128, t: u128, owners: [Option<Owner>; 2]) -> Flow {
        let simd = self.simd;
        self.traced(owners, packet, |set, d, remote| {
            decide(&set.v6[d], s, t, packet, RemoteIdentity::Known(remote), simd)
        })
    }

    /// The flow of a packet of mixed families: `evaluate`'s first answer, at each owner.
    #[cold]
    fn mixed(&self, packet: &Packet) -> Flow {
        let owners = [
            self.identities.owner(packet.src),
            self.identities.owner(packet.dst),
        ];
        hops(owners, packet, |_, _, _| Decision::MIXED_FAMILY)
    }

    /// The flow of a packet of one family whose addresses have `owners`: each hop decided
    /// as [`Engine::evaluate`] does after its family check, by `decide_at` (the set, the
    /// direction's index, the remote identity) once the set is found.
    #[inline(always)]
    fn traced(
        &self,
        owners: [Option<Owner>; 2],
        packet: &Packet,
        decide_at: impl Fn(&TableSet, usize, IdentityId) -> Decision,
    ) -> Flow {
        hops(owners, packet, |owner, direction, remote| {
            if packet.state == ConnState::Established {
                return Decision::ESTABLISHED;
            }
            // `NO_SET` is past every set.
            match self.sets.get(owner.set as usize).and_then(Option::as_deref) {
                Some(set) => decide_at(set, dir_index(direction), remote),
                None => NO_GROUP,
            }
        })
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
        let set = self.set_of(endpoint);
        let d = dir_index(direction);
        let mut c4 = ChunkKeys::<u32>::default();
        let mut c6 = ChunkKeys::<u128>::default();
        let mut hits = [None; CHUNK];
        for (packets, out) in packets.chunks(CHUNK).zip(out.chunks_mut(CHUNK)) {
            let n = packets.len().min(out.len());
            c4.clear();
            c6.clear();
            for i in 0..n {
                let p = &packets[i];
                let addrs = match (p.src, p.dst) {
                    (IpAddr::V4(s), IpAddr::V4(t)) => Ok((u32::from(s), u32::from(t))),
                    (IpAddr::V6(s), IpAddr::V6(t)) => Err((u128::from(s), u128::from(t))),
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
                // PERF: the identity looked up here, in the pass that puts the packet in
                // its lane: in a pass of their own first, the chunk's lookups took 16
                // instructions and 0.25 mispredicts more a packet, 2-3.5 ns (`lookup_count`
                // in turns, load 6.4).
                match addrs {
                    Ok((s, t)) => {
                        let table = &*set.v4[d];
                        let variant = if table.has_refs() {
                            table.variant_index(self.identities.of_v4(remote(direction, s, t)))
                        } else {
                            0
                        };
                        c4.put(table, i, s, t, p, variant, out);
                    }
                    Err((s, t)) => {
                        let table = &*set.v6[d];
                        let variant = if table.has_refs() {
                            table.variant_index(self.identities.of_v6(remote(direction, s, t)))
                        } else {
                            0
                        };
                        c6.put(table, i, s, t, p, variant, out);
                    }
                }
            }
            let Some(set) = set else { continue };
            for lane in [Lane::Main, Lane::Icmp(0), Lane::Icmp(1)] {
                c4.run(&set.v4[d], lane, out, &mut hits);
                c6.run(&set.v6[d], lane, out, &mut hits);
            }
        }
    }

    /// Takes in an update of `cloud`, the cloud this engine was built from (after the
    /// change): recompiles the tables the change can reach, keeps every other table as it
    /// is (the same [`Arc`]), and afterwards answers as [`Engine::build`] on the changed
    /// cloud would. A table whose lowered entries come out unchanged is kept too.
    ///
    /// Endpoints the cloud gained since are compiled as well. A cloud of another provider
    /// or other options is compiled from scratch. The tables of a group list whose last
    /// endpoint left are kept for the next endpoint that takes that list (the last 8 such
    /// lists, while their groups do not change; counted in [`Engine::memory_usage`], not
    /// in [`Stats::group_lists`]).
    ///
    /// An error may free such unused lists; the answers are unchanged.
    ///
    /// # Errors
    /// As [`Engine::build`]; the engine is then unchanged.
    pub fn refresh(&mut self, cloud: &Cloud, update: Update) -> Result<(), BuildError> {
        self.refresh_knowing(cloud, update, None)
    }

    /// Takes in `updates`, changes of groups alone (rules, settings, a group created or
    /// deleted: no endpoint or address group changed), by taking their tables from
    /// `newer`, an engine of the same cloud after them, rather than compiling them again:
    /// the sets of the group lists that hold a changed group, and the groups' snapshots.
    /// `true` when done; `false`, the engine unchanged, when the updates reach further,
    /// `newer` lacks one of those lists or compiles with other settings, or the two number
    /// identities differently (a table maps identity numbers to its variants).
    ///
    /// For an engine one change behind another, as a [`crate::live::Live`] spare is
    /// behind the state it is brought up to: it would otherwise splice (or compile) every
    /// change twice, once in each engine.
    pub(crate) fn adopt(&mut self, newer: &Engine, updates: &[Update]) -> bool {
        if self.provider != newer.provider || self.options != newer.options || self.limits != newer.limits {
            return false;
        }
        let mut groups: SmallVec<[GroupKey; 4]> = SmallVec::new();
        for &update in updates {
            match update {
                Update::Group(g) => groups.push(g),
                Update::Endpoint(_) | Update::AddressGroup(_) => return false,
            }
        }
        if !self.identities.numbered_as(&newer.identities) {
            return false;
        }
        let holds = |set: &TableSet| groups.iter().any(|g| set.groups.contains(g));
        // Unused sets of a changed group are freed, as a refresh frees them; a set in use
        // takes `newer`'s set of the same list.
        let mut staged: Vec<(usize, Arc<TableSet>)> = Vec::new();
        for (i, set) in self.sets.iter().enumerate() {
            let Some(set) = set.as_deref().filter(|s| holds(s)) else {
                continue;
            };
            if self.users.get(i) == Some(&0) {
                if self.idle.contains(&(i as u32)) {
                    continue;
                }
                return false;
            }
            let theirs = newer
                .by_groups
                .get(&set.groups[..])
                .and_then(|&j| newer.sets.get(j as usize));
            match theirs {
                Some(Some(theirs)) => staged.push((i, Arc::clone(theirs))),
                _ => return false,
            }
        }
        // Commit: nothing below fails.
        self.drop_idle(holds);
        for (i, set) in staged {
            self.sets.put(i, Some(set));
        }
        for g in groups {
            match newer.snaps.get(&g) {
                Some(snap) => {
                    self.snaps.insert(g, snap.clone());
                }
                None => {
                    self.snaps.remove(&g);
                }
            }
        }
        debug_assert!(self.sets.hold(), "set summaries after an adoption");
        true
    }

    /// Whether the engine compiled group `g`'s rule `rule` (its snapshot of the group holds
    /// the key).
    pub(crate) fn holds_rule(&self, g: GroupKey, rule: RuleKey) -> bool {
        self.snaps.get(&g).is_some_and(|s| s.rules.get(rule).is_some())
    }

    /// Whether the engine's snapshot of group `g` holds the group's rules as `cloud` has
    /// them, for tests.
    #[cfg(test)]
    pub(crate) fn snap_is_of(&self, cloud: &Cloud, g: GroupKey) -> bool {
        let (Some(snap), Some(group)) = (self.snaps.get(&g), cloud.group(g)) else {
            return false;
        };
        *snap == Snap::of(group)
    }

    /// [`Engine::refresh`] where the caller knows which rules of an [`Update::Group`]'s
    /// group changed since this engine took it in (`changed`, ascending; the change
    /// tracking's [`crate::cloud::Changes`] for a group not changed whole): the other rules
    /// are not compared field by field. A `changed` that misses a rule leaves the engine
    /// answering for the old rule, so only exact tracking may pass it.
    pub(crate) fn refresh_knowing(
        &mut self,
        cloud: &Cloud,
        update: Update,
        changed: Option<&[RuleKey]>,
    ) -> Result<(), BuildError> {
        if cloud.provider() != self.provider || cloud.options() != &self.options {
            let overlay_limit = self.overlay_limit;
            *self = Engine::build_with(cloud, self.limits)?;
            self.overlay_limit = overlay_limit;
            return Ok(());
        }
        // Unused sets of the changed group (or address group) are freed, not compiled.
        match update {
            Update::Group(g) => self.drop_idle(|s| s.groups.contains(&g)),
            Update::AddressGroup(a) => self.drop_idle(|s| s.address_deps.contains(&a)),
            Update::Endpoint(_) => {}
        }
        // One group's rules changed, no endpoint came or went: splice the rules that
        // changed into the tables (falls through when it cannot). Slots past the cloud's
        // endpoints are those of endpoints that left (emptied, not dropped), which a
        // splice need not know.
        if let Update::Group(g) = update {
            let n = cloud.endpoints().len();
            let settled = n <= self.slots.len() && self.slots[n..].iter().all(Option::is_none);
            if settled && self.splice_rules(cloud, g, changed) {
                return Ok(());
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
        // Their identities; new ones are made now and forgotten again when compiling fails.
        let mark = self.identities.len();
        let mut fresh_ids: Vec<IdentityId> = Vec::new();
        let mut ids: Vec<Option<IdentityId>> = Vec::with_capacity(endpoints.len());
        for &e in &endpoints {
            let id = cloud.endpoint(EndpointKey::new(e)).map(|ep| {
                let (id, new) = self.identities.intern(identity::group_set(&ep.groups));
                if new {
                    fresh_ids.push(id);
                }
                id
            });
            ids.push(id);
        }
        let staged = match self.stage(cloud, update, &endpoints, &fresh_ids) {
            Ok(staged) => staged,
            Err(e) => {
                self.identities.truncate(mark);
                return Err(e);
            }
        };
        // Commit: nothing below fails.
        for (i, set) in staged.sets {
            self.sets.put(i, Some(set));
        }
        let mut again = staged.rebuilt;
        for set in staged.fresh {
            let groups = Arc::clone(&set.groups);
            again.push(self.insert_set(set) as usize);
            self.snap(cloud, &groups);
        }
        self.teach(&fresh_ids, &staged.points, &again);
        // Addresses: first unmap what the endpoints had (only where they still own it, as
        // keys of detached endpoints move), then map what they have.
        for &e in &endpoints {
            if let Some(old) = self.slots.get(e as usize).and_then(Option::as_ref) {
                for &ip in old.ips(&self.addrs) {
                    self.identities.remove(ip, e);
                }
            }
        }
        for e in cloud.endpoints().len()..self.slots.len() {
            if let Some(old) = &self.slots[e] {
                for &ip in old.ips(&self.addrs) {
                    self.identities.remove(ip, e as u32);
                }
            }
        }
        for (&e, id) in endpoints.iter().zip(&ids) {
            let (Some(ep), Some(id)) = (cloud.endpoint(EndpointKey::new(e)), id) else {
                continue;
            };
            for &ip in &ep.ips {
                self.identities.insert(ip, e, *id);
            }
        }
        for &e in &endpoints {
            let Some(ep) = cloud.endpoint(EndpointKey::new(e)) else {
                continue;
            };
            let index = match self.by_groups.get(&ep.groups[..]) {
                Some(&i) => i,
                // INVARIANT: the list was known or has just been inserted.
                None => continue,
            };
            let e = e as usize;
            if self.slots.len() <= e {
                self.slots.resize(e + 1, None);
            }
            // Count the new use before releasing the old: they may be the same set.
            self.users[index as usize] += 1;
            let mut place = None;
            if let Some(old) = self.slots[e].take() {
                self.release(old.set);
                if old.len as usize >= ep.ips.len() {
                    place = Some(old.start);
                }
                self.dead_addrs += old.len as usize;
            }
            // The old run when the addresses fit in it, else a new one at the end.
            let start = match place {
                Some(start) => {
                    let at = start as usize;
                    self.addrs[at..at + ep.ips.len()].copy_from_slice(&ep.ips);
                    self.dead_addrs -= ep.ips.len();
                    start
                }
                None => {
                    self.addrs.extend_from_slice(&ep.ips);
                    (self.addrs.len() - ep.ips.len()) as u32
                }
            };
            self.slots[e] = Some(Slot {
                set: index,
                start,
                len: ep.ips.len() as u32,
            });
        }
        // Endpoints the cloud no longer has.
        for e in cloud.endpoints().len()..self.slots.len() {
            if let Some(old) = self.slots[e].take() {
                self.release(old.set);
                self.dead_addrs += old.len as usize;
            }
        }
        self.compact_addrs();
        // What was compiled of a changed group: taken again where some list has it.
        if let Update::Group(g) = update {
            if self.snaps.remove(&g).is_some() {
                self.snap(cloud, &[g]);
            }
        }
        let gone = cloud.endpoints().len()..self.slots.len();
        self.index_sets(endpoints.iter().map(|&e| e as usize).chain(gone));
        debug_assert!(self.sets.hold(), "set summaries after a refresh");
        Ok(())
    }

    /// Takes what the cloud has of `groups` where the engine has no snapshot yet.
    fn snap(&mut self, cloud: &Cloud, groups: &[GroupKey]) {
        for &g in groups {
            if let (std::collections::hash_map::Entry::Vacant(slot), Some(group)) =
                (self.snaps.entry(g), cloud.group(g))
            {
                slot.insert(Snap::of(group));
            }
        }
    }

    /// [`Engine::refresh`] of a change of group `g`'s rules, when every table it reaches
    /// takes the change by splicing (each rule added or removed lowered alone and put in
    /// its place, the classifiers kept under their overlays): `true` when done, `false`
    /// (the engine unchanged) when the change reaches further (the group's kind, many
    /// rules, the ICMP lists' encoding, the referenced groups, a limit) and the tables are
    /// to be compiled as usual.
    // PERF: compiled apart from `refresh`, so that the code of other refresh paths does
    // not change how its loop over the group's rules is compiled.
    #[inline(never)]
    fn splice_rules(&mut self, cloud: &Cloud, g: GroupKey, changed: Option<&[RuleKey]>) -> bool {
        let (Some(old), Some(group)) = (self.snaps.get(&g), cloud.group(g)) else {
            return false;
        };
        let rules = &group.rules;
        if group.kind != old.kind || !rules.windows(2).all(|w| w[0].key < w[1].key) || !old.rules.increasing()
        {
            return false;
        }
        // The rules that changed: removed (or edited) ones first, then added (or edited).
        // The new snapshot shares the chunks of rules that did not change with the old one.
        let mut edits: Vec<lower::Edit<'_>> = Vec::new();
        let mut adds: Vec<lower::Edit<'_>> = Vec::new();
        let mut kept = snap::Builder::with_capacity(rules.len());
        let remove = |o: &SnapRule| lower::Edit::Remove {
            group: g,
            rule: o.key,
            rank: o.rank,
            icmp_filter: o.rule.icmp.icmp_type.is_some() || o.rule.icmp.icmp_code.is_some(),
        };
        let mut j = 0;
        for chunk in old.rules.chunks() {
            // PERF: a chunk whose rules the group holds as the same `Arc`s, in the same
            // places, is shared whole (`live_profile gcore adds`: the rules before an added
            // one were each counted in and out again).
            let is = |(n, o): (&Arc<crate::rule::Rule>, &SnapRule)| o.key == n.key && Arc::ptr_eq(&o.rule, n);
            let same = rules.get(j..j + chunk.len()).is_some_and(|new| match changed {
                // Exact tracking: no key of the chunk's range changed and the group has the
                // chunk's first and last rules in its places, so it has the ones between
                // (PERF: not compared one by one, `live_profile gcore adds`).
                Some(keys) => {
                    let (first, last) = (&chunk[0], &chunk[chunk.len() - 1]);
                    let untouched = keys[keys.partition_point(|k| *k < first.key)..]
                        .first()
                        .is_none_or(|k| *k > last.key);
                    let same = untouched && new[0].key == first.key && new[new.len() - 1].key == last.key;
                    debug_assert!(
                        !same
                            || new
                                .iter()
                                .zip(chunk.iter())
                                .all(|(n, o)| n.key == o.key && o.is(n)),
                        "a chunk changed untracked"
                    );
                    same
                }
                // The last rules first: a change at the end (an add) fails there at once.
                None => {
                    new.iter().zip(chunk.iter()).next_back().is_some_and(is)
                        && new.iter().zip(chunk.iter()).all(is)
                }
            });
            if same {
                kept.share(chunk);
                j += chunk.len();
                continue;
            }
            for o in chunk.iter() {
                // The group's rules before this one were added.
                while let Some(n) = rules.get(j).filter(|n| n.key < o.key) {
                    adds.push(lower::Edit::Add { group: g, rule: n });
                    kept.push(SnapRule::of(n));
                    j += 1;
                }
                match rules.get(j).filter(|n| n.key == o.key) {
                    Some(n) => {
                        // PERF: a rule the tracking did not name is not compared (a few changed
                        // rules of hundreds: `live_profile gcore adds 960`, 58,000 instructions
                        // an add in the comparisons).
                        // The same `Arc` is the same rule (see `SnapRule::rule`): neither the
                        // tracking nor the fields need asking.
                        let same = Arc::ptr_eq(&o.rule, n);
                        let unchanged = same
                            || match changed {
                                Some(keys) => keys.binary_search(&n.key).is_err(),
                                None => o.is(n),
                            };
                        debug_assert!(!unchanged || o.is(n), "rule {:?} changed untracked", n.key);
                        if same {
                            kept.push(o.clone());
                        } else if unchanged {
                            // The same fields in a new `Arc` (an id or view edited, or another
                            // cloud's copy): this one is kept, so the old rule is not, and the
                            // next refresh compares the pointer.
                            kept.push(SnapRule::of(n));
                        } else {
                            edits.push(remove(o));
                            adds.push(lower::Edit::Add { group: g, rule: n });
                            kept.push(SnapRule::of(n));
                        }
                        j += 1;
                    }
                    None => edits.push(remove(o)),
                }
                if edits.len() + adds.len() > MAX_SPLICED_RULES {
                    return false;
                }
            }
        }
        for n in &rules[j..] {
            adds.push(lower::Edit::Add { group: g, rule: n });
            kept.push(SnapRule::of(n));
            if edits.len() + adds.len() > MAX_SPLICED_RULES {
                return false;
            }
        }
        let snap = Snap {
            kind: group.kind,
            rules: kept.finish(),
        };
        edits.extend(adds);
        if edits.len() > MAX_SPLICED_RULES {
            return false;
        }
        if edits.is_empty() {
            // PERF: no rule to splice (a rule added, then revoked, before this engine took
            // either in): the tables stand, as a splice of nothing would leave them.
            self.snaps.insert(g, snap);
            return true;
        }
        let snaps = &self.snaps;
        let rank = |h: GroupKey, r: crate::key::RuleKey| -> Option<u32> {
            let rules = if h == g {
                &snap.rules
            } else {
                &snaps.get(&h)?.rules
            };
            Some(rules.get(r)?.rank)
        };
        let ctx = Ctx::new(cloud);
        let mut staged: Vec<(usize, Arc<TableSet>)> = Vec::new();
        for (i, set) in self.sets.iter().enumerate() {
            let Some(set) = set else { continue };
            if !set.groups.contains(&g) {
                continue;
            }
            // Each list's tables are spliced for that list (the order keys hold the group's
            // place in it), so a table shared between lists is spliced once per list.
            let mut next = TableSet::clone(set);
            for (d, direction) in [Direction::Ingress, Direction::Egress].into_iter().enumerate() {
                let Some(v4) = spliced(
                    &ctx,
                    &set.v4[d],
                    &set.groups,
                    direction,
                    self.limits,
                    self.overlay_limit,
                    &edits,
                    &rank,
                ) else {
                    return false;
                };
                let Some(v6) = spliced(
                    &ctx,
                    &set.v6[d],
                    &set.groups,
                    direction,
                    self.limits,
                    self.overlay_limit,
                    &edits,
                    &rank,
                ) else {
                    return false;
                };
                next.v4[d] = v4;
                next.v6[d] = v6;
            }
            for e in &edits {
                if let lower::Edit::Add { rule, .. } = e {
                    if let Remote::AddressGroup(a) = rule.remote {
                        if let Err(at) = next.address_deps.binary_search(&a) {
                            next.address_deps.insert(at, a);
                        }
                    }
                }
            }
            staged.push((i, Arc::new(next)));
        }
        // Commit.
        for (i, set) in staged {
            if self.overlay_limit > table::MAX_OVERLAY && set.heavy() && !self.heavy.contains(&(i as u32)) {
                self.heavy.push(i as u32);
            }
            self.sets.put(i, Some(set));
        }
        self.snaps.insert(g, snap);
        debug_assert!(self.sets.hold(), "set summaries after a splice");
        true
    }

    /// Compiles what a refresh needs without changing the engine (its identities
    /// aside, which already hold `fresh_ids`): the sets to replace (those with a changed
    /// group or address group, and those whose tables learn a new identity) and the sets
    /// of group lists the engine does not have yet.
    fn stage(
        &self,
        cloud: &Cloud,
        update: Update,
        endpoints: &[u32],
        fresh_ids: &[IdentityId],
    ) -> Result<Staged, BuildError> {
        let stale_where = |touched: &dyn Fn(&TableSet) -> bool| -> Vec<usize> {
            let sets = self.sets.iter().enumerate();
            sets.filter(|(_, s)| s.as_deref().is_some_and(touched))
                .map(|(i, _)| i)
                .collect()
        };
        let stale: Vec<usize> = match update {
            Update::Group(g) => stale_where(&|s| s.groups.contains(&g)),
            Update::AddressGroup(a) => stale_where(&|s| s.address_deps.contains(&a)),
            // An endpoint's change makes no set stale: the sets are not read.
            Update::Endpoint(_) => Vec::new(),
        };
        let unknown: Vec<u32> = endpoints
            .iter()
            .copied()
            .filter(|&e| {
                cloud
                    .endpoint(EndpointKey::new(e))
                    .is_some_and(|ep| !self.by_groups.contains_key(&ep.groups[..]))
            })
            .collect();
        let mut staged = Staged::default();
        if stale.is_empty() && unknown.is_empty() && fresh_ids.is_empty() {
            return Ok(staged);
        }
        // Existing tables learn the new identities (copies: the classifiers are shared);
        // the commit points them at the variants they have ([`Engine::teach`]).
        // Only endpoints changed: the new lists' tables are shared with the engine's
        // through a scan of the fingerprints ([`Existing`]), and only the sets that may
        // reference a group of a new identity are asked about it; else every table is put
        // in the builder's maps (a changed list's unchanged tables are found there).
        let scan = stale.is_empty();
        // The groups of the new identities.
        let reach: Vec<GroupKey> = fresh_ids
            .iter()
            .flat_map(|&id| self.identities.groups(id).iter().copied())
            .collect();
        // PERF: a set that references none of the new identities' groups learns nothing,
        // and is not read (`update_latency 0 5000 175 0 1 1000`: 1,000 lists of other
        // groups made a new combination's refresh 0.5 ms).
        let asked: Vec<usize> = if scan {
            self.sets.referencing(&reach)
        } else {
            (0..self.sets.len()).collect()
        };
        // PERF: every table asked may get a point (a new combination's identity is known
        // to every table that references one of its groups): room made once, not grown.
        if !fresh_ids.is_empty() {
            staged.points.reserve(asked.len() * 4);
        }
        let tables = if scan {
            0
        } else {
            self.sets.iter().flatten().count() * 2
        };
        let mut v4: ByPrint<u32> = HashMap::with_capacity_and_hasher(tables, Default::default());
        let mut v6: ByPrint<u128> = HashMap::with_capacity_and_hasher(tables, Default::default());
        let (mut copies4, mut copies6): (Copies<u32>, Copies<u128>) = Default::default();
        let mut taught: FastSet<usize> = FastSet::default();
        for &i in &asked {
            let Some(set) = &self.sets[i] else { continue };
            let err = |e| self.classifier_error(cloud, i, e);
            for (d, t) in set.v4.iter().enumerate() {
                let prints = (!scan).then_some(&mut v4);
                match learn(prints, &mut copies4, t, &self.identities, fresh_ids).map_err(err)? {
                    Learned::Copied => {
                        taught.insert(i);
                    }
                    Learned::Point(to) => staged.points.push((i, d, Arc::as_ptr(t) as usize, to)),
                    Learned::Known => {}
                }
            }
            for (d, t) in set.v6.iter().enumerate() {
                let prints = (!scan).then_some(&mut v6);
                match learn(prints, &mut copies6, t, &self.identities, fresh_ids).map_err(err)? {
                    Learned::Copied => {
                        taught.insert(i);
                    }
                    Learned::Point(to) => staged.points.push((i, 2 + d, Arc::as_ptr(t) as usize, to)),
                    Learned::Known => {}
                }
            }
        }
        let mut builder = Builder::new(cloud, self.limits, &self.identities);
        builder.v4 = v4;
        builder.v6 = v6;
        if scan {
            builder.existing = Some(Existing {
                sets: &self.sets,
                copies4: &copies4,
                copies6: &copies6,
            });
        }
        // New tables of few entries answer from overlays until `compact`.
        builder.deferred = true;
        // Only endpoints changed: every set's tables are current, to merge new lists' from.
        if matches!(update, Update::Endpoint(_)) {
            builder.donors = Some(&self.sets);
        }
        for &i in &stale {
            let Some(old) = &self.sets[i] else { continue };
            let name = || self.endpoint_name(cloud, i);
            // The tables are patched from their copies that learned the new identities:
            // a patched table keeps its identities' variants, so patching the tables as
            // they were would leave the new identities on the first variant.
            let old = taught_set(old, &copies4, &copies6);
            staged.sets.push((
                i,
                Arc::new(builder.set(Arc::clone(&old.groups), Some(&old), &name)?),
            ));
            staged.rebuilt.push(i);
            taught.remove(&i);
        }
        for i in taught {
            let Some(old) = &self.sets[i] else { continue };
            staged
                .sets
                .push((i, Arc::new(taught_set(old, &copies4, &copies6))));
        }
        let mut lists: Vec<Arc<[GroupKey]>> = Vec::new();
        for e in unknown {
            let Some(ep) = cloud.endpoint(EndpointKey::new(e)) else {
                continue;
            };
            if lists.iter().any(|g| g[..] == ep.groups[..]) {
                continue;
            }
            let groups: Arc<[GroupKey]> = ep.groups.as_slice().into();
            lists.push(Arc::clone(&groups));
            let name = || ep.name.clone();
            staged.fresh.push(builder.set(groups, None, &name)?);
        }
        Ok(staged)
    }

    /// Points the identities `fresh` at their variants in every table that has not taken
    /// them in yet (the staged tables learned those that needed a new variant, so this
    /// cannot fail): in place where the engine alone holds the table, else on one copy
    /// that every set holding the table gets (a clone of the engine keeps its tables).
    /// `points`: what [`Engine::stage`] found each table lacks; `again`: sets compiled
    /// anew, whose tables are looked at again after `points` (those of a new list may be
    /// tables of other sets, shared, that `points` just replaced by a copy).
    // PERF: kept out of `refresh`, whose rule-change path it would otherwise crowd. The
    // variants found while staging are used here (`update_latency 0 500 175`: finding
    // each table's variant again cost ~200 instructions a table, ~8% of a refresh).
    #[inline(never)]
    fn teach(&mut self, fresh: &[IdentityId], points: &[(usize, usize, usize, Points)], again: &[usize]) {
        if fresh.is_empty() {
            return;
        }
        let mut copies4: Copies<u32> = Copies::default();
        let mut copies6: Copies<u128> = Copies::default();
        // The points of a set come together: the set is made unique once for all of its
        // tables. PERF: `Arc::make_mut` is an atomic compare-and-swap, paid for each table
        // of each set on every new identity otherwise.
        for run in points.chunk_by(|a, b| a.0 == b.0) {
            let i = run[0].0;
            if again.contains(&i) {
                continue; // compiled anew: looked at below
            }
            let Some(set) = self.sets.taught(i) else {
                continue;
            };
            // Else a taught copy (made while the table was alive, so at another address).
            if !run.iter().any(|(_, slot, table, _)| held_at(set, *slot, *table)) {
                continue;
            }
            let set = Arc::make_mut(set);
            for (_, slot, table, to) in run {
                if !held_at(set, *slot, *table) {
                    continue;
                }
                match *slot {
                    s @ 0..=1 => taught_in_place(&mut set.v4[s], to, &mut copies4),
                    s => taught_in_place(&mut set.v6[s - 2], to, &mut copies6),
                }
            }
        }
        let ids = &self.identities;
        for &i in again {
            let Some(set) = self.sets.taught(i) else {
                continue;
            };
            let need4 = set.v4.each_ref().map(|t| unknown(t, ids, fresh));
            let need6 = set.v6.each_ref().map(|t| unknown(t, ids, fresh));
            if need4.iter().chain(&need6).all(Option::is_none) {
                continue;
            }
            let set = Arc::make_mut(set);
            for (t, point) in set.v4.iter_mut().zip(need4) {
                if let Some(point) = point {
                    taught_in_place(t, &point, &mut copies4);
                }
            }
            for (t, point) in set.v6.iter_mut().zip(need6) {
                if let Some(point) = point {
                    taught_in_place(t, &point, &mut copies6);
                }
            }
        }
    }

    /// A classifier refusal while a set learned an identity, as a [`BuildError`].
    fn classifier_error(&self, cloud: &Cloud, set: usize, source: classifier::CapacityError) -> BuildError {
        BuildError::Classifier {
            endpoint: self.endpoint_name(cloud, set),
            // The tables of a set are taught together; the first one of the set is named.
            direction: Direction::Ingress,
            family: Family::V4,
            source,
        }
    }

    /// One use of a set fewer. An unused set is kept while it is among the last
    /// [`IDLE_SETS`] to lose their users (and its groups do not change,
    /// [`Engine::drop_idle`]), then freed.
    ///
    /// PERF: a member that leaves a combination of groups and one that takes it again (an
    /// autoscaling group's churn, the `members` streams of `benches/live.rs`) found the
    /// list's tables freed and compiled them again: `live_profile ecs members 4000`,
    /// one publication a change, spent 35,000 of 53,000 instructions a change compiling
    /// and freeing them.
    fn release(&mut self, set: u32) {
        let i = set as usize;
        if let Some(users) = self.users.get_mut(i) {
            *users = users.saturating_sub(1);
            if *users == 0 {
                // Last in, whether or not it was idle before (in use again since).
                self.idle.retain(|&k| k != set);
                self.idle.push_back(set);
                while self.idle.len() > IDLE_SETS {
                    if let Some(oldest) = self.idle.pop_front() {
                        self.free_if_unused(oldest);
                    }
                }
            }
        }
    }

    /// Frees set `i` if no slot uses it.
    fn free_if_unused(&mut self, i: u32) {
        if self.users.get(i as usize) == Some(&0) {
            if let Some(s) = self.sets.take(i as usize) {
                self.by_groups.remove(&s.groups);
            }
        }
    }

    /// Frees the unused sets kept by [`Engine::release`] for which `stale` holds: a change
    /// of their groups is not compiled into them (a group may even be gone).
    fn drop_idle(&mut self, stale: impl Fn(&TableSet) -> bool) {
        let idle = std::mem::take(&mut self.idle);
        for i in idle {
            let unused = self.users.get(i as usize) == Some(&0);
            let set = self.sets.get(i as usize).and_then(Option::as_deref);
            match set.map(&stale) {
                Some(true) => self.free_if_unused(i),
                Some(false) if unused => self.idle.push_back(i),
                // In use again, or freed: no longer idle.
                _ => {}
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

    /// Builds the classifiers that refreshes left for later: of tables whose rules changed
    /// since (spliced in under overlays) and of the tables of new group lists compiled by a
    /// refresh (answering from overlays alone, or from flat classifiers that check up to
    /// 256 entries a lane in order). Answers do not change; lookups on those
    /// tables become as fast as after [`Engine::build`]. Refreshes stay cheap by leaving
    /// this work undone: call it off the read path (on a copy that then takes the place of
    /// the engine in use) when the engine is not being changed. Returns how many tables
    /// were rebuilt.
    ///
    /// # Errors
    /// The classifier refused its entries ([`BuildError::Classifier`]); the engine is then
    /// unchanged.
    pub fn compact(&mut self, cloud: &Cloud) -> Result<usize, BuildError> {
        let (mut done4, mut done6): (Copies<u32>, Copies<u128>) = Default::default();
        let mut staged: Vec<(usize, Arc<TableSet>)> = Vec::new();
        for (i, set) in self.sets.iter().enumerate() {
            let Some(set) = set else { continue };
            let mut next = TableSet::clone(set);
            let mut changed = false;
            for d in 0..2 {
                let err = |e| self.classifier_error(cloud, i, e);
                if let Some(n) = compacted(&set.v4[d], &mut done4).map_err(err)? {
                    next.v4[d] = n;
                    changed = true;
                }
                if let Some(n) = compacted(&set.v6[d], &mut done6).map_err(err)? {
                    next.v6[d] = n;
                    changed = true;
                }
            }
            if changed {
                staged.push((i, Arc::new(next)));
            }
        }
        for (i, set) in staged {
            self.sets.put(i, Some(set));
        }
        debug_assert!(self.sets.hold(), "set summaries after compact");
        Ok(done4.len() + done6.len())
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
            // Lists in use: the unused ones kept ([`Engine::release`]) are counted in
            // the bytes alone.
            group_lists: (self.by_groups.values())
                .filter(|&&i| self.users.get(i as usize).is_some_and(|&u| u > 0))
                .count(),
            ..Stats::default()
        };
        let mut bytes = std::mem::size_of::<Self>()
            + self.slots.capacity() * std::mem::size_of::<Option<Slot>>()
            + self.set_index.capacity() * 4
            + self.sets.memory_usage()
            + self.users.capacity() * 4;
        bytes += self.addrs.capacity() * std::mem::size_of::<IpAddr>();
        // The sets in use first: a table they share with an unused set counts as theirs.
        let mut sets: Vec<(bool, &TableSet)> = (self.sets.iter().enumerate())
            .filter_map(|(i, s)| Some((self.users.get(i).is_some_and(|&u| u > 0), s.as_deref()?)))
            .collect();
        sets.sort_by_key(|&(used, _)| !used);
        for (used, set) in sets {
            bytes += std::mem::size_of::<TableSet>()
                + std::mem::size_of_val(&*set.groups) * 2
                + set.address_deps.capacity() * 4;
            // A table once, its entries and bytes read only then.
            let mut count = |at: usize, entries: &dyn Fn() -> usize, memory: &dyn Fn() -> usize| {
                if seen.insert(at) {
                    bytes += memory();
                    if used {
                        stats.tables += 1;
                        stats.entries += entries();
                    }
                }
            };
            for t in &set.v4 {
                count(Arc::as_ptr(t) as usize, &|| t.entries(), &|| t.memory_usage());
            }
            for t in &set.v6 {
                count(Arc::as_ptr(t) as usize, &|| t.entries(), &|| t.memory_usage());
            }
        }
        stats.identities = self.identities.len();
        stats.memory_bytes = bytes + self.identities.memory_usage();
        stats
    }
}

/// What [`Engine::stage`] compiled, for the refresh to commit.
#[derive(Default)]
struct Staged {
    /// Sets to replace, by index.
    sets: Vec<(usize, Arc<TableSet>)>,
    /// Sets of new group lists.
    fresh: Vec<TableSet>,
    /// Tables that have the variants of the new identities but do not point them there
    /// yet, for [`Engine::teach`]: the set, the table's place in it (IPv4 by direction,
    /// then IPv6), the table's address (the set may have been replaced since) and the
    /// identities with their variants.
    points: Vec<(usize, usize, usize, Points)>,
    /// Sets in `sets` compiled anew (their tables may not be those [`Staged::points`]
    /// names).
    rebuilt: Vec<usize>,
}

/// Identities with the variant of a table to point each at.
type Points = SmallVec<[(IdentityId, u32); 2]>;

/// `t` with its overlays built into its classifiers, once per table however many sets share
/// it (`done`, by the old table's address); `None` when it has no overlay.
fn compacted<A: FamilyAddr>(
    t: &Arc<Table<A>>,
    done: &mut Copies<A>,
) -> Result<Option<Arc<Table<A>>>, classifier::CapacityError> {
    if !t.overlaid() {
        return Ok(None);
    }
    if let Some(n) = done.get(&Arc::as_ptr(t)) {
        return Ok(Some(Arc::clone(n)));
    }
    let n = Arc::new(t.compact()?);
    done.insert(Arc::as_ptr(t), Arc::clone(&n));
    Ok(Some(n))
}

/// `set` with each table replaced by its copy in `v4`/`v6` (by the table's address: the
/// copy that learned new identities, [`learn`]), where there is one.
fn taught_set(set: &TableSet, v4: &Copies<u32>, v6: &Copies<u128>) -> TableSet {
    let mut set = TableSet::clone(set);
    for t in set.v4.iter_mut() {
        if let Some(n) = v4.get(&Arc::as_ptr(t)) {
            *t = Arc::clone(n);
        }
    }
    for t in set.v6.iter_mut() {
        if let Some(n) = v6.get(&Arc::as_ptr(t)) {
            *t = Arc::clone(n);
        }
    }
    set
}

/// What [`learn`] did with a table.
enum Learned {
    /// A copy learned the new identities (so the set that holds the table changes).
    Copied,
    /// The table has their variants: the identities to point at them.
    Point(Points),
    /// The table points them at their variants already (the first, of no referenced group).
    Known,
}

/// Puts in `copies` (by the table's address) a copy of `table` that learned the identities
/// `fresh` when one of them needs a variant it does not have; else finds the variants it
/// has of them, for [`Engine::teach`]. Puts the table, or that copy, in `prints` for the
/// builder to share, when given.
fn learn<A: FamilyAddr>(
    prints: Option<&mut ByPrint<A>>,
    copies: &mut Copies<A>,
    table: &Arc<Table<A>>,
    identities: &Identities,
    fresh: &[IdentityId],
) -> Result<Learned, classifier::CapacityError> {
    if copies.contains_key(&Arc::as_ptr(table)) {
        return Ok(Learned::Copied);
    }
    let mut to = Points::new();
    let mut lacks = false;
    if table.has_refs() {
        for &id in fresh {
            match table.known_variant(identities.groups(id)) {
                Some(v) if table.variant_index(id) != v => to.push((id, v)),
                Some(_) => {}
                None => lacks = true,
            }
        }
    }
    // Identities whose variants the table has are taken in by the commit, in place
    // ([`Engine::teach`]): only a new variant is built here, on a copy, as it may fail.
    if !lacks {
        if let Some(prints) = prints {
            prints
                .entry(table.fingerprint)
                .or_insert_with(|| Arc::clone(table));
        }
        return Ok(if to.is_empty() {
            Learned::Known
        } else {
            Learned::Point(to)
        });
    }
    let mut taught = Table::clone(table);
    for &id in fresh {
        taught.admit_as(id, identities.groups(id), true)?;
    }
    let taught = Arc::new(taught);
    if let Some(prints) = prints {
        prints.insert(table.fingerprint, Arc::clone(&taught));
    }
    copies.insert(Arc::as_ptr(table), taught);
    Ok(Learned::Copied)
}

/// Copies of tables, by the address of the table copied: [`Engine::teach`]'s of shared
/// tables, [`learn`]'s of tables that needed a new variant, [`compacted`]'s.
// PERF: foldhash, as [`ByPrint`]: a new combination's refresh looks up every table of the
// engine here (`update_latency 0 5000` under callgrind: SipHash 9.1 M of 175.0 M
// instructions).
type Copies<A> = FastMap<*const Table<A>, Arc<Table<A>>>;

/// The identities of `fresh` that `table` does not point at their variant yet, with that
/// variant (it has them all: [`learn`] taught the tables that lacked one); `None` when
/// there is none.
fn unknown<A: FamilyAddr>(table: &Table<A>, identities: &Identities, fresh: &[IdentityId]) -> Option<Points> {
    if !table.has_refs() {
        return None;
    }
    let mut out = Points::new();
    for &id in fresh {
        // INVARIANT: `Engine::stage` taught the tables that lacked a variant ([`learn`]).
        let v = table.known_variant(identities.groups(id));
        debug_assert!(v.is_some(), "identity {id} without its variant");
        if let Some(v) = v {
            if table.variant_index(id) != v {
                out.push((id, v));
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Whether the table at `slot` of `set` (IPv4 by direction, then IPv6) is at address
/// `table`.
fn held_at(set: &TableSet, slot: usize, table: usize) -> bool {
    let held = match slot {
        s @ 0..=1 => Arc::as_ptr(&set.v4[s]) as usize,
        s => Arc::as_ptr(&set.v6[s - 2]) as usize,
    };
    held == table
}

/// `table`, pointing each identity of `point` at its variant: changed in place when not
/// shared, else replaced by its copy in `copies` (made once).
fn taught_in_place<A: FamilyAddr>(
    table: &mut Arc<Table<A>>,
    point: &[(IdentityId, u32)],
    copies: &mut Copies<A>,
) {
    let old = Arc::as_ptr(table);
    if let Some(copy) = copies.get(&old) {
        *table = Arc::clone(copy);
        return;
    }
    let t = Arc::make_mut(table);
    for &(id, v) in point {
        t.point(id, v);
    }
    if !std::ptr::eq(Arc::as_ptr(table), old) {
        // The old table lives on in its other holders, so its address is not reused.
        copies.insert(old, Arc::clone(table));
    }
}

/// Most rules one change may add or remove and still be spliced into the tables.
pub(crate) const MAX_SPLICED_RULES: usize = 8;

/// Unused table sets an engine keeps ([`Engine::release`]).
const IDLE_SETS: usize = 8;

/// `table` (of `groups` for `direction`) with `edits` spliced in one after the other, its
/// overlays held to `overlay_limit` entries a lane ([`Engine::build_apart`]); `None` when
/// one cannot be.
// The engine's fields it reads, passed apart: the caller holds the engine's sets borrowed.
#[allow(clippy::too_many_arguments)]
fn spliced<A: FamilyAddr>(
    ctx: &Ctx<'_>,
    table: &Arc<Table<A>>,
    groups: &[GroupKey],
    direction: Direction,
    limits: BuildLimits,
    overlay_limit: usize,
    edits: &[lower::Edit<'_>],
    rank: &dyn Fn(GroupKey, crate::key::RuleKey) -> Option<u32>,
) -> Option<Arc<Table<A>>> {
    let mut current = Arc::clone(table);
    for &edit in edits {
        let r = lower::splice(
            ctx,
            current.lowered(),
            groups,
            direction,
            limits.max_entries,
            edit,
            rank,
        );
        let Some((lowered, changes)) = r.ok()? else {
            continue;
        };
        let fp = table::fingerprint(&lowered);
        current = Arc::new(current.spliced(lowered, changes, fp, overlay_limit).ok()??);
    }
    Some(current)
}

/// Packets per chunk of a batch.
const CHUNK: usize = 64;

/// The packets of one family and lane in a chunk of a batch: their keys, their places in
/// the chunk and their table's variant for their remote identity. Packets of the first
/// variant fill the arrays from the front, the others from the back, so that a lane of two
/// variants (the usual: addresses of no referenced group, and one identity) is two
/// batches without reordering anything.
struct LaneKeys<A: classifier::Addr> {
    keys: [Key<A>; CHUNK],
    pos: [u8; CHUNK],
    variant: [u32; CHUNK],
    /// Packets at the front (the first variant, and variants that answer from its
    /// classifiers, [`Table::shares_first`]).
    front: usize,
    /// Packets at the back (other variants), at `CHUNK - back..`.
    back: usize,
    /// The variant of the last packet put at the back.
    other: u32,
    /// Whether the back holds more than one variant.
    mixed: bool,
}

/// The packets of one family in a chunk of a batch, by lane (main, ICMP, ICMPv6).
struct ChunkKeys<A: classifier::Addr> {
    lanes: [LaneKeys<A>; 3],
}

impl<A: FamilyAddr> Default for ChunkKeys<A> {
    fn default() -> Self {
        let lane = || LaneKeys {
            keys: [Key::default(); CHUNK],
            pos: [0; CHUNK],
            variant: [0; CHUNK],
            front: 0,
            back: 0,
            other: 0,
            mixed: false,
        };
        ChunkKeys {
            lanes: [lane(), lane(), lane()],
        }
    }
}

impl<A: FamilyAddr> ChunkKeys<A> {
    /// Empties every lane, for the next chunk.
    #[inline]
    fn clear(&mut self) {
        for l in &mut self.lanes {
            l.front = 0;
            l.back = 0;
            l.mixed = false;
        }
    }

    /// Appends packet `i` of the chunk to its lane of `table`, with its key and variant:
    /// at the front for a variant that answers from the first variant's classifiers, else
    /// at the back (without a branch). A packet of another variant than the first whose
    /// overlay answers ahead of the classifier ([`Table::ahead`]) is decided here instead.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    fn put(
        &mut self,
        table: &Table<A>,
        i: usize,
        src: A,
        dst: A,
        packet: &Packet,
        variant: u32,
        out: &mut [Decision],
    ) {
        let lane = table.lane(packet.protocol);
        let key = table.key(lane, src, dst, packet);
        if variant != 0 {
            if let Some(d) = table.ahead(table.variant_at(variant), lane, &key) {
                if let Some(o) = out.get_mut(i) {
                    *o = d;
                }
                return;
            }
        }
        let l = &mut self.lanes[lane.index()];
        let other = !table.shares_first(variant);
        // INVARIANT: at most `CHUNK` packets a chunk, so `front + back < CHUNK` here.
        let j = if other { CHUNK - 1 - l.back } else { l.front }.min(CHUNK - 1);
        l.keys[j] = key;
        l.pos[j] = i as u8;
        l.variant[j] = variant;
        l.mixed |= other & (l.back > 0) & (variant != l.other);
        l.other = if other { variant } else { l.other };
        l.front += usize::from(!other);
        l.back += usize::from(other);
    }

    /// Classifies the packets of one lane of the chunk and writes their decisions: the
    /// front's in one batch by the first variant's classifiers, each answered by its own
    /// variant's overlays; the back's in one batch when it holds one variant, else
    /// partitioned, smallest variant first, without a branch per packet.
    #[inline]
    fn run(&mut self, table: &Table<A>, lane: Lane, out: &mut [Decision], hits: &mut [Option<u32>]) {
        let l = &mut self.lanes[lane.index()];
        if l.front > 0 {
            let range = 0..l.front;
            let keys = &l.keys[range.clone()];
            let hits = &mut hits[..keys.len()];
            table.classify_batch(table.plain(), lane, keys, hits);
            for ((key, hit), (&p, &v)) in keys
                .iter()
                .zip(hits.iter())
                .zip(l.pos[range.clone()].iter().zip(&l.variant[range]))
            {
                if let Some(o) = out.get_mut(usize::from(p)) {
                    *o = table.answer(table.variant_at(v), lane, key, *hit);
                }
            }
        }
        let n = CHUNK;
        let mut start = CHUNK - l.back.min(CHUNK);
        while start < n {
            let (v, end) = if l.mixed {
                let v = l.variant[start..n].iter().copied().min().unwrap_or(0);
                let mut k = start;
                for j in start..n {
                    let take = l.variant[j] == v;
                    l.keys.swap(j, k);
                    l.pos.swap(j, k);
                    l.variant.swap(j, k);
                    k += usize::from(take);
                }
                (v, k)
            } else {
                (l.other, n)
            };
            Self::batch(table, lane, l, v, start..end, out, hits);
            start = end;
        }
    }

    /// Classifies `range` of a lane's keys by variant `v` and writes their decisions.
    #[inline(always)]
    fn batch(
        table: &Table<A>,
        lane: Lane,
        l: &LaneKeys<A>,
        v: u32,
        range: std::ops::Range<usize>,
        out: &mut [Decision],
        hits: &mut [Option<u32>],
    ) {
        let variant = table.variant_at(v);
        let keys = &l.keys[range.clone()];
        let hits = &mut hits[..keys.len()];
        table.classify_batch(variant, lane, keys, hits);
        for ((key, hit), &p) in keys.iter().zip(hits.iter()).zip(&l.pos[range]) {
            if let Some(o) = out.get_mut(usize::from(p)) {
                *o = table.answer(variant, lane, key, *hit);
            }
        }
    }
}

impl crate::flow::Evaluate for Engine {
    fn evaluate(&self, endpoint: EndpointKey, direction: Direction, packet: &Packet) -> Decision {
        Engine::evaluate(self, endpoint, direction, packet)
    }

    fn flow(&self, _cloud: &Cloud, packet: &Packet) -> Flow {
        self.trace(packet)
    }

    fn flow_batch(&self, _cloud: &Cloud, packets: &[Packet], out: &mut [Flow]) {
        self.trace_batch(packets, out);
    }
}

#[cfg(test)]
mod tests;
