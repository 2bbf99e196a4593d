//! Identities: what a remote address is to a group-reference rule.
//!
//! An address's identity is the set of groups its endpoint belongs to (the empty set for an
//! address that is no endpoint's). A rule that names a group's members matches exactly the
//! addresses whose identity holds that group, so tables match identities (Cilium's ipcache,
//! OVS conjunctive matches) instead of expanding every member's address into every table
//! that names the group: a member joining a group whose group set is already an identity
//! changes one entry of the address map and no table.
//!
//! Endpoints own whole addresses (an address belongs to at most one endpoint, which the
//! model checks at attachment), so the map from address to identity is an exact map per
//! family; the map also records the owning endpoint so that endpoints whose keys move (a
//! detached endpoint) never remove another's entry.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crate::group::GroupKey;

/// The number of an identity; 0 is the empty group set (no endpoint's address, or an
/// endpoint in no group).
pub(crate) type IdentityId = u32;

/// Who owns an address: the endpoint (to remove only its own entries), its identity and its
/// table set, so that `flow::trace` finds in one entry (16 bytes with an IPv4 key) all it
/// needs of each address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Owner {
    /// The endpoint's key.
    pub(crate) endpoint: u32,
    /// The identity of its groups.
    pub(crate) identity: IdentityId,
    /// Its table set (`Engine::set_index`'s copy), set by [`Identities::set_tables`].
    pub(crate) set: u32,
}

/// The hasher of the address maps: fast on integer keys, randomly seeded per process.
// PERF: a bucketized cuckoo table (two 64-byte candidate lines a key, both read before
// either is chosen, commit 42b9206) was measured against these `HashMap`s on 5 December
// 2026 (AMD EPYC, load 1-1.5, `LOOKUP_TIME=20 lookup_count`, three rounds in turns): it
// traced slower over 100,000 endpoints (59.3-60.3 against 52.1-52.8 ns, one outlier 64.5)
// and evaluated IPv6 slower (one at a time 40.0-40.6 against 37.4-37.7 ns, batched
// 32.9-33.1 against 28.2-29.1), IPv4 alike; on the machine it was written on it had traced
// faster (34.5 against 37 ns at load 7-9). Its exact memory was 76 KB less at 5,000
// endpoints; the maps are kept for their speed here and 300 lines less.
type Fast = foldhash::fast::RandomState;

/// The identities of an engine and the address map.
#[derive(Clone, Debug)]
pub(crate) struct Identities {
    /// By identity number: the sorted group set.
    sets: super::Roomy<Arc<[GroupKey]>>,
    /// The number of each group set.
    by_set: crate::model::FastMap<Arc<[GroupKey]>, IdentityId>,
    /// By group: the identities that hold it, in increasing order.
    // PERF: a new table takes in the identities of its referenced groups, not every
    // identity (`update_latency 0 5000 175 0 3 1000`: a new combination's four tables
    // asked 1,175 identities each).
    holders: HashMap<GroupKey, Vec<IdentityId>, Fast>,
    v4: HashMap<u32, Owner, Fast>,
    v6: HashMap<u128, Owner, Fast>,
}

impl Default for Identities {
    fn default() -> Self {
        let empty: Arc<[GroupKey]> = Arc::from(Vec::new());
        Identities {
            by_set: HashMap::from_iter([(Arc::clone(&empty), 0)]),
            holders: HashMap::default(),
            sets: super::Roomy(vec![empty]),
            v4: HashMap::default(),
            v6: HashMap::default(),
        }
    }
}

/// The identity's group set of an endpoint's group list: sorted, without repeats.
pub(crate) fn group_set(groups: &[GroupKey]) -> Vec<GroupKey> {
    let mut set = groups.to_vec();
    set.sort_unstable();
    set.dedup();
    set
}

impl Identities {
    /// How many identities there are (numbers `0..len`).
    pub(crate) fn len(&self) -> usize {
        self.sets.len()
    }

    /// Whether `other` numbers the same group sets alike, every number for the same set:
    /// then tables that map identities to variants mean the same in either. Identities
    /// made before two engines parted share their sets (one pointer compared each).
    pub(crate) fn numbered_as(&self, other: &Identities) -> bool {
        self.sets.len() == other.sets.len()
            && self
                .sets
                .iter()
                .zip(other.sets.iter())
                .all(|(a, b)| Arc::ptr_eq(a, b) || a == b)
    }

    /// The group set of identity `id`.
    pub(crate) fn groups(&self, id: IdentityId) -> &[GroupKey] {
        self.sets.get(id as usize).map_or(&[], |s| &s[..])
    }

    /// The identities that hold one or more of `groups`, in increasing order.
    pub(crate) fn holding(&self, groups: &[GroupKey]) -> Cow<'_, [IdentityId]> {
        let of = |g| self.holders.get(g).map_or(&[][..], |ids| &ids[..]);
        match groups {
            [] => Cow::Borrowed(&[]),
            [g] => Cow::Borrowed(of(g)),
            _ => {
                let mut ids: Vec<IdentityId> = groups.iter().flat_map(of).copied().collect();
                ids.sort_unstable();
                ids.dedup();
                Cow::Owned(ids)
            }
        }
    }

    /// Every identity with its group set.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (IdentityId, &[GroupKey])> {
        self.sets
            .iter()
            .enumerate()
            .map(|(i, s)| (i as IdentityId, &s[..]))
    }

    /// The identity of a sorted group set, made when new; `true` when it is new.
    pub(crate) fn intern(&mut self, set: Vec<GroupKey>) -> (IdentityId, bool) {
        if let Some(&id) = self.by_set.get(&set[..]) {
            return (id, false);
        }
        let id = self.sets.len() as IdentityId;
        for &g in &set {
            self.holders.entry(g).or_default().push(id);
        }
        let set: Arc<[GroupKey]> = set.into();
        self.by_set.insert(Arc::clone(&set), id);
        self.sets.push(set);
        (id, true)
    }

    /// Forgets the identities numbered `len..` (made by a refresh that then failed); no
    /// address maps to them.
    pub(crate) fn truncate(&mut self, len: usize) {
        let len = len.max(1);
        for set in self.sets.drain(len..) {
            for g in set.iter() {
                if let Some(ids) = self.holders.get_mut(g) {
                    ids.retain(|&id| (id as usize) < len);
                }
            }
            self.by_set.remove(&set);
        }
    }

    /// Maps `addr` to `endpoint` and its identity; its table set is `u32::MAX` (none) until
    /// [`Identities::set_tables`] gives it.
    pub(crate) fn insert(&mut self, addr: IpAddr, endpoint: u32, identity: IdentityId) {
        let owner = Owner {
            endpoint,
            identity,
            set: u32::MAX,
        };
        match addr {
            IpAddr::V4(a) => {
                self.v4.insert(u32::from(a), owner);
            }
            IpAddr::V6(a) => {
                self.v6.insert(u128::from(a), owner);
            }
        }
    }

    /// Unmaps `addr` when `endpoint` owns it.
    pub(crate) fn remove(&mut self, addr: IpAddr, endpoint: u32) {
        match addr {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                if self.v4.get(&a).is_some_and(|o| o.endpoint == endpoint) {
                    self.v4.remove(&a);
                }
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                if self.v6.get(&a).is_some_and(|o| o.endpoint == endpoint) {
                    self.v6.remove(&a);
                }
            }
        }
    }

    /// Records `set` as the table set of `addr` when `endpoint` owns it.
    pub(crate) fn set_tables(&mut self, addr: IpAddr, endpoint: u32, set: u32) {
        let owner = match addr {
            IpAddr::V4(a) => self.v4.get_mut(&u32::from(a)),
            IpAddr::V6(a) => self.v6.get_mut(&u128::from(a)),
        };
        if let Some(o) = owner.filter(|o| o.endpoint == endpoint) {
            o.set = set;
        }
    }

    /// The owners of two IPv4 addresses (a packet's source and destination), both looked
    /// up before either is used so that their cache misses overlap.
    #[inline(always)]
    pub(crate) fn owners_v4(&self, a: u32, b: u32) -> [Option<Owner>; 2] {
        [self.v4.get(&a).copied(), self.v4.get(&b).copied()]
    }

    /// The owners of two IPv6 addresses, as [`Identities::owners_v4`].
    #[inline(always)]
    pub(crate) fn owners_v6(&self, a: u128, b: u128) -> [Option<Owner>; 2] {
        [self.v6.get(&a).copied(), self.v6.get(&b).copied()]
    }

    /// The owner of an address.
    pub(crate) fn owner(&self, addr: IpAddr) -> Option<Owner> {
        match addr {
            IpAddr::V4(a) => self.v4.get(&u32::from(a)).copied(),
            IpAddr::V6(a) => self.v6.get(&u128::from(a)).copied(),
        }
    }

    /// The identity of an IPv4 address.
    #[inline]
    pub(crate) fn of_v4(&self, addr: u32) -> IdentityId {
        self.v4.get(&addr).map_or(0, |o| o.identity)
    }

    /// The identity of an IPv6 address.
    #[inline]
    pub(crate) fn of_v6(&self, addr: u128) -> IdentityId {
        self.v6.get(&addr).map_or(0, |o| o.identity)
    }

    /// Bytes of the maps, heap included.
    pub(crate) fn memory_usage(&self) -> usize {
        std::mem::size_of::<Self>()
            + map_bytes(&self.v4)
            + map_bytes(&self.v6)
            + map_bytes(&self.holders)
            + self.holders.values().map(|ids| ids.capacity() * 4).sum::<usize>()
            + self
                .sets
                .iter()
                .map(|s| std::mem::size_of_val(&**s) + 16 + std::mem::size_of::<(Arc<[GroupKey]>, u32)>() * 2)
                .sum::<usize>()
    }
}

/// Heap bytes of a `HashMap` (hashbrown's layout): its buckets (a power of two, of which
/// 7/8 are usable, or one more than its capacity when small), each an aligned `(K, V)` and
/// one control byte, and the 16 control bytes that trail them for group loads (SSE2's group
/// width; 8 on targets without it, so this overcounts there by 8 bytes a map).
fn map_bytes<K, V, S>(map: &HashMap<K, V, S>) -> usize {
    let capacity = map.capacity();
    let buckets = match capacity {
        0 => return 0,
        1..=7 => (capacity + 1).next_power_of_two(),
        _ => (capacity * 8 / 7).next_power_of_two(),
    };
    buckets * (std::mem::size_of::<(K, V)>() + 1) + 16
}

/// An address of one family as the address map keys it.
pub(crate) trait Keyed: Copy {
    /// The identity of `addr` in `identities`.
    fn identity_in(identities: &Identities, addr: Self) -> IdentityId;
}

impl Keyed for u32 {
    #[inline]
    fn identity_in(identities: &Identities, addr: u32) -> IdentityId {
        identities.of_v4(addr)
    }
}

impl Keyed for u128 {
    #[inline]
    fn identity_in(identities: &Identities, addr: u128) -> IdentityId {
        identities.of_v6(addr)
    }
}
