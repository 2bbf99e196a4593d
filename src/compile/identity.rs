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

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
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
type Fast = foldhash::fast::RandomState;

/// An address of one family as an [`AddrMap`] keys it; 0 marks a free slot.
trait MapKey: Copy + Eq + Hash {
    /// The key of a free slot.
    const FREE: Self;
}

impl MapKey for u32 {
    const FREE: u32 = 0;
}

impl MapKey for u128 {
    const FREE: u128 = 0;
}

/// One cache line of an [`AddrMap`]: `N` keys, then their owners (64 bytes with four IPv4
/// or two IPv6 keys).
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Bucket<K, const N: usize> {
    keys: [K; N],
    owners: [Owner; N],
}

/// The owner in a free slot (never read).
const FREE: Owner = Owner {
    endpoint: u32::MAX,
    identity: 0,
    set: u32::MAX,
};

impl<K: MapKey, const N: usize> Bucket<K, N> {
    const EMPTY: Self = Bucket {
        keys: [K::FREE; N],
        owners: [FREE; N],
    };

    /// Bit `i` set when slot `i` holds `key` (never asked for [`MapKey::FREE`]).
    #[inline(always)]
    fn matches(&self, key: K) -> u32 {
        let mut m = 0;
        for (i, k) in self.keys.iter().enumerate() {
            m |= u32::from(*k == key) << i;
        }
        m
    }

    /// The first free slot.
    fn free(&self) -> Option<usize> {
        self.keys.iter().position(|k| *k == K::FREE)
    }
}

/// An exact map from addresses of one family to their owners whose lookup reads two cache
/// lines known from the key's hash alone, so that their misses overlap (and those of a
/// packet's two addresses too): bucketized cuckoo hashing (DPDK's `rte_hash`, with the keys
/// in the bucket) with two candidate buckets of `N` slots a key. A SwissTable (`HashMap`)
/// reads its control bytes, then the slot they point at: a miss after another on a map out
/// of cache (`lookup_count trace-100000`: 37 against 34.5 ns a trace at load 7-9; reading the second
/// bucket only when a count of the first's spilled keys, kept beside, was not zero cost a
/// miss on the counts and more instructions). Bucket counts grow by half, not doubling, to
/// keep the engine's memory: ECS sparse 1,017,138 bytes against 1,084,306 with powers of
/// two (1,014,514 with `HashMap`s, counted from their capacities).
#[derive(Clone, Debug)]
struct AddrMap<K, const N: usize> {
    /// Two buckets or more.
    buckets: Vec<Bucket<K, N>>,
    /// The owner of the key [`MapKey::FREE`], which the buckets cannot hold.
    free_key: Option<Owner>,
    /// Keys held (in the buckets).
    len: usize,
    hasher: Fast,
}

/// A key's buckets as [`AddrMap::probe`] read them, and where in them the key is.
struct Probe<'a, K, const N: usize> {
    key: K,
    first: &'a Bucket<K, N>,
    second: &'a Bucket<K, N>,
    /// Bit `i` set when slot `i` of the first bucket holds the key, bit `N + i` when slot
    /// `i` of the second does.
    found: u32,
}

/// The most a map is filled, as a fraction of its slots: inserts then rarely move entries
/// (two buckets of two slots a key fill to about 89 % before inserts fail, of four to about
/// 98 %).
const fn max_load(slots: usize) -> (usize, usize) {
    if slots >= 4 {
        (7, 8)
    } else {
        (3, 4)
    }
}

/// The number of buckets a map of `n` grows to: half as many again (a power of two
/// would leave maps a third emptier on average).
fn grown(n: usize) -> usize {
    n + n / 2 + 1
}

/// How many entries a failed insert moves before the map grows.
const MAX_KICKS: usize = 256;

impl<K: MapKey, const N: usize> Default for AddrMap<K, N> {
    fn default() -> Self {
        AddrMap {
            buckets: vec![Bucket::EMPTY; 2],
            free_key: None,
            len: 0,
            hasher: Fast::default(),
        }
    }
}

impl<K: MapKey, const N: usize> AddrMap<K, N> {
    const MAX_LOAD: (usize, usize) = max_load(N);

    /// The first bucket of a key of hash `h`, from the hash's low half (Lemire's
    /// multiply-shift, so that the number of buckets need not be a power of two).
    #[inline(always)]
    fn first(&self, h: u64) -> usize {
        (((h & 0xffff_ffff) * self.buckets.len() as u64) >> 32) as usize
    }

    /// The second bucket of a key of hash `h` whose first is `first`: from the hash's high
    /// half, one of the other buckets (there are two or more).
    #[inline(always)]
    fn second(&self, h: u64, first: usize) -> usize {
        let other = (((h >> 32) * (self.buckets.len() - 1) as u64) >> 32) as usize;
        other + usize::from(other >= first)
    }

    /// The two buckets of `key`.
    fn homes(&self, key: K) -> [usize; 2] {
        let h = self.hasher.hash_one(key);
        let first = self.first(h);
        [first, self.second(h, first)]
    }

    /// The owner of `key`.
    #[inline(always)]
    fn get(&self, key: K) -> Option<Owner> {
        self.resolve(self.probe(key))
    }

    /// The owners of two keys, both keys' lines read before either is chosen from.
    #[inline(always)]
    fn get2(&self, x: K, y: K) -> [Option<Owner>; 2] {
        let (x, y) = (self.probe(x), self.probe(y));
        [self.resolve(x), self.resolve(y)]
    }

    /// Reads the two buckets of `key`.
    #[inline(always)]
    fn probe(&self, key: K) -> Probe<'_, K, N> {
        let h = self.hasher.hash_one(key);
        let a = self.first(h);
        let b = self.second(h, a);
        let (first, second) = (&self.buckets[a], &self.buckets[b]);
        Probe {
            key,
            first,
            second,
            found: first.matches(key) | second.matches(key) << N,
        }
    }

    /// The owner a [`AddrMap::probe`] found.
    #[inline(always)]
    fn resolve(&self, p: Probe<'_, K, N>) -> Option<Owner> {
        if p.key == K::FREE {
            return self.free_key;
        }
        // One mask for both buckets (one vector compare's): no branch on which holds the
        // key, a coin toss to the predictor.
        (p.found != 0).then(|| {
            let i = p.found.trailing_zeros() as usize;
            let bucket = if i < N { p.first } else { p.second };
            bucket.owners[i % N]
        })
    }

    /// The bucket and slot of `key`, when it has one.
    fn find(&self, key: K) -> Option<(usize, usize)> {
        self.homes(key).into_iter().find_map(|b| {
            let m = self.buckets[b].matches(key);
            (m != 0).then_some((b, m.trailing_zeros() as usize))
        })
    }

    /// The slot of `key`, when it has one.
    fn slot_mut(&mut self, key: K) -> Option<&mut Owner> {
        if key == K::FREE {
            return self.free_key.as_mut();
        }
        let (b, i) = self.find(key)?;
        Some(&mut self.buckets[b].owners[i])
    }

    /// Maps `key` to `owner`.
    fn insert(&mut self, key: K, owner: Owner) {
        if let Some(slot) = self.slot_mut(key) {
            *slot = owner;
            return;
        }
        if key == K::FREE {
            self.free_key = Some(owner);
            return;
        }
        self.len += 1;
        if self.len * Self::MAX_LOAD.1 > self.buckets.len() * N * Self::MAX_LOAD.0 {
            self.rebuild(grown(self.buckets.len()), None);
        }
        if let Some(left) = self.place(key, owner) {
            self.rebuild(grown(self.buckets.len()), Some(left));
        }
    }

    /// Unmaps `key` when `keep` does not hold for its owner.
    fn remove_unless(&mut self, key: K, keep: impl Fn(&Owner) -> bool) {
        if key == K::FREE {
            self.free_key = self.free_key.filter(keep);
            return;
        }
        if let Some((b, i)) = self.find(key) {
            if !keep(&self.buckets[b].owners[i]) {
                self.take(b, i);
                self.len -= 1;
            }
        }
    }

    /// Puts `key` in slot `i` of bucket `b`.
    fn put(&mut self, b: usize, i: usize, key: K, owner: Owner) {
        self.buckets[b].keys[i] = key;
        self.buckets[b].owners[i] = owner;
    }

    /// Empties slot `i` of bucket `b`, returning its entry.
    fn take(&mut self, b: usize, i: usize) -> (K, Owner) {
        let bucket = &mut self.buckets[b];
        let key = std::mem::replace(&mut bucket.keys[i], K::FREE);
        (key, std::mem::replace(&mut bucket.owners[i], FREE))
    }

    /// Puts `key` (not in the map) in a free slot of its first bucket, else of its second,
    /// moving entries to their other bucket to make room (a random walk of at most
    /// [`MAX_KICKS`] moves); the entry left without a slot when the walk fails.
    fn place(&mut self, mut key: K, mut owner: Owner) -> Option<(K, Owner)> {
        let [a, b] = self.homes(key);
        for home in [a, b] {
            if let Some(i) = self.buckets[home].free() {
                self.put(home, i, key, owner);
                return None;
            }
        }
        // Evict from the second bucket, so that first buckets keep their keys.
        let mut at = b;
        let mut rng = self.hasher.hash_one(key) | 1;
        for _ in 0..MAX_KICKS {
            // xorshift64: which slot to evict.
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let i = (rng % N as u64) as usize;
            let evicted = self.take(at, i);
            self.put(at, i, key, owner);
            (key, owner) = evicted;
            let [x, y] = self.homes(key);
            at = if x == at { y } else { x };
            if let Some(j) = self.buckets[at].free() {
                self.put(at, j, key, owner);
                return None;
            }
        }
        Some((key, owner))
    }

    /// Moves every entry (and `extra`) into `n` buckets, or more when they do not fit.
    fn rebuild(&mut self, mut n: usize, extra: Option<(K, Owner)>) {
        let old = std::mem::take(&mut self.buckets);
        let entries = || {
            old.iter()
                .flat_map(|b| b.keys.iter().zip(&b.owners))
                .filter(|(k, _)| **k != K::FREE)
                .map(|(k, o)| (*k, *o))
                .chain(extra)
        };
        loop {
            self.buckets = vec![Bucket::EMPTY; n];
            if entries().all(|(k, o)| self.place(k, o).is_none()) {
                return;
            }
            n = grown(n);
        }
    }

    /// Bytes of the buckets.
    fn bytes(&self) -> usize {
        std::mem::size_of_val(&self.buckets[..])
    }
}

/// The identities of an engine and the address map.
#[derive(Clone, Debug)]
pub(crate) struct Identities {
    /// By identity number: the sorted group set.
    sets: Vec<Arc<[GroupKey]>>,
    /// The number of each group set.
    by_set: HashMap<Arc<[GroupKey]>, IdentityId>,
    v4: AddrMap<u32, 4>,
    v6: AddrMap<u128, 2>,
}

impl Default for Identities {
    fn default() -> Self {
        let empty: Arc<[GroupKey]> = Arc::from(Vec::new());
        Identities {
            by_set: HashMap::from([(Arc::clone(&empty), 0)]),
            sets: vec![empty],
            v4: AddrMap::default(),
            v6: AddrMap::default(),
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

    /// The group set of identity `id`.
    pub(crate) fn groups(&self, id: IdentityId) -> &[GroupKey] {
        self.sets.get(id as usize).map_or(&[], |s| &s[..])
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
        let set: Arc<[GroupKey]> = set.into();
        self.by_set.insert(Arc::clone(&set), id);
        self.sets.push(set);
        (id, true)
    }

    /// Forgets the identities numbered `len..` (made by a refresh that then failed); no
    /// address maps to them.
    pub(crate) fn truncate(&mut self, len: usize) {
        for set in self.sets.drain(len.max(1)..) {
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
            IpAddr::V4(a) => self.v4.insert(u32::from(a), owner),
            IpAddr::V6(a) => self.v6.insert(u128::from(a), owner),
        }
    }

    /// Unmaps `addr` when `endpoint` owns it.
    pub(crate) fn remove(&mut self, addr: IpAddr, endpoint: u32) {
        let another = |o: &Owner| o.endpoint != endpoint;
        match addr {
            IpAddr::V4(a) => self.v4.remove_unless(u32::from(a), another),
            IpAddr::V6(a) => self.v6.remove_unless(u128::from(a), another),
        }
    }

    /// Records `set` as the table set of `addr` when `endpoint` owns it.
    pub(crate) fn set_tables(&mut self, addr: IpAddr, endpoint: u32, set: u32) {
        let owner = match addr {
            IpAddr::V4(a) => self.v4.slot_mut(u32::from(a)),
            IpAddr::V6(a) => self.v6.slot_mut(u128::from(a)),
        };
        if let Some(o) = owner.filter(|o| o.endpoint == endpoint) {
            o.set = set;
        }
    }

    /// The owners of two IPv4 addresses (a packet's source and destination), both looked
    /// up before either is used so that their cache misses overlap.
    #[inline]
    pub(crate) fn owners_v4(&self, a: u32, b: u32) -> [Option<Owner>; 2] {
        self.v4.get2(a, b)
    }

    /// The owners of two IPv6 addresses, as [`Identities::owners_v4`].
    #[inline]
    pub(crate) fn owners_v6(&self, a: u128, b: u128) -> [Option<Owner>; 2] {
        self.v6.get2(a, b)
    }

    /// The owner of an address.
    pub(crate) fn owner(&self, addr: IpAddr) -> Option<Owner> {
        match addr {
            IpAddr::V4(a) => self.v4.get(u32::from(a)),
            IpAddr::V6(a) => self.v6.get(u128::from(a)),
        }
    }

    /// The identity of an IPv4 address.
    #[inline]
    pub(crate) fn of_v4(&self, addr: u32) -> IdentityId {
        self.v4.get(addr).map_or(0, |o| o.identity)
    }

    /// The identity of an IPv6 address.
    #[inline]
    pub(crate) fn of_v6(&self, addr: u128) -> IdentityId {
        self.v6.get(addr).map_or(0, |o| o.identity)
    }

    /// Bytes of the maps, heap included (the identities' map an estimate from its
    /// capacity).
    pub(crate) fn memory_usage(&self) -> usize {
        std::mem::size_of::<Self>()
            + self.v4.bytes()
            + self.v6.bytes()
            + self
                .sets
                .iter()
                .map(|s| std::mem::size_of_val(&**s) + 16 + std::mem::size_of::<(Arc<[GroupKey]>, u32)>() * 2)
                .sum::<usize>()
    }
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

/// The groups of a sorted `set` that are in the sorted `refs`: an identity's projection onto
/// the groups one table references.
pub(crate) fn project(set: &[GroupKey], refs: &[GroupKey]) -> Vec<GroupKey> {
    let (mut i, mut j, mut out) = (0, 0, Vec::new());
    while i < set.len() && j < refs.len() {
        match set[i].cmp(&refs[j]) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                out.push(set[i]);
                i += 1;
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn owner(endpoint: u32) -> Owner {
        Owner {
            endpoint,
            identity: endpoint % 7,
            set: endpoint / 3,
        }
    }

    /// Inserts (key, endpoint) or removes (key, endpoint unless another owns it), each
    /// checked against a `HashMap`, then every key of `keys` looked up one at a time and
    /// two at a time.
    fn agrees<K: MapKey + std::fmt::Debug, const N: usize>(ops: &[(bool, K, u32)], keys: &[K]) {
        let mut map = AddrMap::<K, N>::default();
        let mut want = HashMap::new();
        for &(insert, key, endpoint) in ops {
            if insert {
                map.insert(key, owner(endpoint));
                want.insert(key, owner(endpoint));
            } else {
                map.remove_unless(key, |o| o.endpoint != endpoint);
                if want.get(&key).is_some_and(|o: &Owner| o.endpoint == endpoint) {
                    want.remove(&key);
                }
            }
            assert_eq!(map.get(key), want.get(&key).copied(), "{key:?} after an update");
        }
        assert_eq!(map.len + usize::from(map.free_key.is_some()), want.len());
        for (b, bucket) in map.buckets.iter().enumerate() {
            for &k in bucket.keys.iter().filter(|k| **k != K::FREE) {
                assert!(map.homes(k).contains(&b), "{k:?} in neither of its buckets");
            }
        }
        for w in keys.windows(2) {
            let expected = [w[0], w[1]].map(|k| want.get(&k).copied());
            assert_eq!(map.get2(w[0], w[1]), expected, "{w:?}");
        }
        for (key, o) in &want {
            assert_eq!(map.get(*key), Some(*o), "{key:?}");
            let mut moved = *o;
            moved.set = 12345;
            *map.slot_mut(*key).expect("slot") = moved;
            assert_eq!(map.get(*key), Some(moved));
        }
    }

    proptest! {
        /// Few keys in a small range (0 included): replacing, removing by the owner and by
        /// another, filling a bucket of one.
        #[test]
        fn small_maps_agree_with_hashmap(ops in prop::collection::vec((any::<bool>(), 0u32..40, 0u32..4), 0..200)) {
            let keys: Vec<u32> = (0..41).collect();
            agrees::<u32, 4>(&ops, &keys);
            let ops6: Vec<(bool, u128, u32)> = ops.iter().map(|&(i, k, e)| (i, u128::from(k) << 100 | u128::from(k), e)).collect();
            let keys6: Vec<u128> = keys.iter().map(|&k| u128::from(k) << 100 | u128::from(k)).collect();
            agrees::<u128, 2>(&ops6, &keys6);
        }

        /// Many keys: growth and entries moved between their buckets.
        #[test]
        fn large_maps_agree_with_hashmap(seed in any::<u64>(), n in 1usize..5000) {
            let mut x = seed | 1;
            let ops: Vec<(bool, u32, u32)> = (0..n).map(|i| {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                // Mostly inserts of keys in a range of 4n, some removals.
                (i % 5 != 4, (x % (4 * n as u64)) as u32, (x >> 40) as u32 % 3)
            }).collect();
            let keys: Vec<u32> = ops.iter().map(|o| o.1).chain([0, u32::MAX]).collect();
            agrees::<u32, 4>(&ops, &keys);
        }
    }

    #[test]
    fn a_full_map_of_consecutive_addresses_reads_its_lines() {
        // 100,000 endpoints' addresses, as `lookup_count trace-100000` makes them.
        let mut map = AddrMap::<u32, 4>::default();
        for i in 0..100_000u32 {
            map.insert(0x0a00_0001 + i, owner(i));
        }
        assert_eq!(std::mem::size_of::<Bucket<u32, 4>>(), 64);
        assert_eq!(std::mem::size_of::<Bucket<u128, 2>>(), 64);
        // 7/8 full at most, and not a third emptier than that after growing.
        let slots = map.buckets.len() * 4;
        assert!(
            100_000 * 8 <= slots * 7 && 100_000 * 12 > slots * 7,
            "{slots} slots"
        );
        assert_eq!(map.bytes(), map.buckets.len() * 64);
        for i in 0..100_000u32 {
            assert_eq!(map.get(0x0a00_0001 + i), Some(owner(i)));
        }
        assert_eq!(map.get(0x0a00_0000), None);
    }
}
