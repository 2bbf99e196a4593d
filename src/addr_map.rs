//! A map from addresses (an IPv4 or IPv6 address as its integer) to a small value, laid out
//! for lookups over many endpoints (`flow::trace`, the engine's identities): open addressing
//! with linear probing, each slot the key and its value side by side (8 bytes for an IPv4
//! address and a 4-byte value). A lookup reads one slot and usually its neighbours in the
//! same cache line, where a SwissTable reads its control bytes and then, dependent on them,
//! the slot in another line: over 100,000 endpoints neither fits in the first caches, and
//! one miss a lookup instead of two is what matters.
//!
//! The key `0` marks an empty slot; the address `0` itself, should a cloud hold it, is kept
//! beside the slots. Removal shifts the entries after the removed one back (no
//! tombstones), so lookups stay short however the map churns. The hash is foldhash with a
//! random seed per map, as `HashMap` with it: crafted addresses cannot choose their slots.

use std::fmt;
use std::hash::{BuildHasher, Hash};

/// An address as a map key: `u32` (IPv4) or `u128` (IPv6).
pub(crate) trait AddrKey: Copy + Eq + Hash + fmt::Debug {
    /// The key that marks an empty slot.
    const EMPTY: Self;
}

impl AddrKey for u32 {
    const EMPTY: u32 = 0;
}

impl AddrKey for u128 {
    const EMPTY: u128 = 0;
}

/// Most entries per slot, as a fraction `LOAD_NUM / LOAD_DEN`: beyond it the slots double.
/// At 7/8, 100,000 IPv4 entries take 131,072 slots (1 MiB).
const LOAD_NUM: usize = 7;
const LOAD_DEN: usize = 8;

/// Address to value, by open addressing (see the module's documentation).
#[derive(Clone)]
pub(crate) struct AddrMap<K: AddrKey, V: Copy + Default> {
    /// A power of two slots, or none; a slot whose key is [`AddrKey::EMPTY`] is empty.
    /// INVARIANT: at least one slot is empty (the load stays under 1), so probes end.
    slots: Box<[(K, V)]>,
    /// Entries in `slots`.
    len: usize,
    /// The value of the key [`AddrKey::EMPTY`].
    zero: Option<V>,
    hasher: foldhash::fast::RandomState,
}

impl<K: AddrKey, V: Copy + Default> Default for AddrMap<K, V> {
    fn default() -> Self {
        AddrMap {
            slots: Box::default(),
            len: 0,
            zero: None,
            hasher: foldhash::fast::RandomState::default(),
        }
    }
}

impl<K: AddrKey, V: Copy + Default> AddrMap<K, V> {
    /// The slot where `key`'s probe starts (`slots` not empty).
    #[inline]
    fn home(&self, key: K) -> usize {
        (self.hasher.hash_one(key) as usize) & (self.slots.len() - 1)
    }

    /// The value of `key`.
    #[inline]
    pub(crate) fn get(&self, key: K) -> Option<V> {
        if key == K::EMPTY {
            return self.zero;
        }
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            // `i` is masked, so in range; `get` keeps the read path free of panics.
            let (k, v) = *self.slots.get(i)?;
            if k == key {
                return Some(v);
            }
            if k == K::EMPTY {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// The place of `key` in `slots` (not [`AddrKey::EMPTY`]), or of the empty slot where
    /// it would go: `(place, found)`. `slots` not empty.
    fn find(&self, key: K) -> (usize, bool) {
        let mask = self.slots.len() - 1;
        let mut i = self.home(key);
        loop {
            let k = self.slots[i].0;
            if k == key {
                return (i, true);
            }
            if k == K::EMPTY {
                return (i, false);
            }
            i = (i + 1) & mask;
        }
    }

    /// Maps `key` to `value`; the value it had.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        if key == K::EMPTY {
            return self.zero.replace(value);
        }
        if (self.len + 1) * LOAD_DEN > self.slots.len() * LOAD_NUM {
            self.grow();
        }
        let (i, found) = self.find(key);
        let old = found.then_some(self.slots[i].1);
        if !found {
            self.len += 1;
        }
        self.slots[i] = (key, value);
        old
    }

    /// Doubles the slots (at least 16) and puts every entry back.
    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(
            &mut self.slots,
            vec![(K::EMPTY, V::default()); size].into_boxed_slice(),
        );
        for &(k, v) in old.iter().filter(|(k, _)| *k != K::EMPTY) {
            let (i, _) = self.find(k);
            self.slots[i] = (k, v);
        }
    }

    /// Unmaps `key`; the value it had.
    pub(crate) fn remove(&mut self, key: K) -> Option<V> {
        if key == K::EMPTY {
            return self.zero.take();
        }
        if self.slots.is_empty() {
            return None;
        }
        let (mut hole, found) = self.find(key);
        if !found {
            return None;
        }
        let old = self.slots[hole].1;
        // Backward shift: an entry after the hole moves into it unless its probe starts
        // after the hole (cyclically, in `hole+1..=j`), where a lookup would not pass it.
        let mask = self.slots.len() - 1;
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let k = self.slots[j].0;
            if k == K::EMPTY {
                break;
            }
            let home = self.home(k);
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                self.slots[hole] = self.slots[j];
                hole = j;
            }
        }
        self.slots[hole] = (K::EMPTY, V::default());
        self.len -= 1;
        Some(old)
    }

    /// Entries.
    pub(crate) fn len(&self) -> usize {
        self.len + usize::from(self.zero.is_some())
    }

    /// The entries, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (K, V)> + '_ {
        self.zero
            .map(|v| (K::EMPTY, v))
            .into_iter()
            .chain(self.slots.iter().copied().filter(|(k, _)| *k != K::EMPTY))
    }

    /// Bytes of the slots.
    pub(crate) fn memory_usage(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
    }
}

impl<K: AddrKey, V: Copy + Default + PartialEq> PartialEq for AddrMap<K, V> {
    /// The same entries, whatever the slots' order.
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl<K: AddrKey, V: Copy + Default + fmt::Debug> fmt::Debug for AddrMap<K, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// Random inserts, overwrites and removals over a small key space (so probes collide
    /// and removals shift runs), the key 0 among them, checked against a `HashMap` after
    /// every step.
    fn churn<K: AddrKey>(key: impl Fn(u64) -> K) {
        let mut state = 7u64;
        let mut next = move || {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        };
        let mut map = AddrMap::<K, u32>::default();
        let mut want = HashMap::new();
        for step in 0..20_000u32 {
            let k = key(next() % 600);
            if next() % 3 == 0 {
                assert_eq!(map.remove(k), want.remove(&k), "remove {k:?} at {step}");
            } else {
                assert_eq!(
                    map.insert(k, step),
                    want.insert(k, step),
                    "insert {k:?} at {step}"
                );
            }
            assert_eq!(map.len(), want.len());
            let probe = key(next() % 600);
            assert_eq!(
                map.get(probe),
                want.get(&probe).copied(),
                "get {probe:?} at {step}"
            );
        }
        for (k, v) in &want {
            assert_eq!(map.get(*k), Some(*v));
        }
        assert_eq!(map.iter().count(), want.len());
        let copy = map.clone();
        assert_eq!(copy, map);
        let other = want.keys().next().copied().expect("entries left");
        let mut changed = map.clone();
        changed.insert(other, u32::MAX);
        assert_ne!(changed, map);
    }

    #[test]
    fn matches_a_hash_map_under_churn_ipv4() {
        churn(|n| n as u32);
    }

    #[test]
    fn matches_a_hash_map_under_churn_ipv6() {
        churn(|n| u128::from(n) << 64 | u128::from(n));
    }

    #[test]
    fn slots_are_eight_bytes_for_ipv4_and_stay_under_the_load() {
        let mut map = AddrMap::<u32, u32>::default();
        for a in 1..=100_000u32 {
            map.insert(0x0a00_0000 | a, a);
        }
        assert_eq!(map.len(), 100_000);
        assert_eq!(map.memory_usage(), 131_072 * 8);
        for a in 1..=100_000u32 {
            assert_eq!(map.get(0x0a00_0000 | a), Some(a));
        }
        assert_eq!(map.get(0x0b00_0001), None);
        assert_eq!(map.get(0), None);
    }
}
