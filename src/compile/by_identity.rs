//! Which variant of a table each identity takes ([`ByIdentity`]).
//!
//! Why pairs too: a table holds a slot for each identity number up to the last one it
//! maps, and identities are numbered engine-wide. Beside many lists that take no part in a
//! change, the identities a table maps are a few scattered among many (a new combination
//! gets the next number), so dense slots made the engine's memory grow with tables times
//! identities (35 MB beside 1,000 other lists, 200 MB beside 3,000) and a new identity
//! zero-filled a long vector in every table that learned it. Such a table keeps the
//! identities past its slots as sorted pairs; a table most identities reach (`web`'s, a
//! lookup's usual table) has them all in slots, one load a lookup as before.

use super::identity::IdentityId;

/// Slots at most this many per identity held (4 bytes a slot against 8 a pair): past it, a
/// new identity goes to the pairs.
const SLOTS_PER_HELD: usize = 8;
/// The pairs back into slots when the slots would be at most this many per identity held
/// (lower than [`SLOTS_PER_HELD`], so one change does not move them back and forth).
const SLOTS_PER_HELD_BACK: usize = 4;
/// Slots this few are always taken (at most 256 bytes).
const ALWAYS_SLOTS: usize = 64;

/// Whether `len` slots are few enough for `held` identities held, at most `per_held` a
/// held identity (the one rule of slots against pairs, with [`SLOTS_PER_HELD`] to grow
/// the slots and [`SLOTS_PER_HELD_BACK`] to take the pairs back).
#[inline(always)]
fn slots_take(len: usize, held: usize, per_held: usize) -> bool {
    len <= ALWAYS_SLOTS || len <= per_held * held
}

/// The variant index (into a table's variants) of each identity; identities not held are
/// on variant 0, the first (of no referenced group).
///
/// A slot per identity number below `slots.len()`, and past them the identities held as
/// sorted pairs when slots would be mostly empty. A lookup reads its slot as it read a
/// plain vector; only an identity past the slots looks at the pairs.
#[derive(Clone, Debug, Default)]
pub(crate) struct ByIdentity {
    /// By identity number: its variant (0 for one not held).
    slots: Vec<u32>,
    /// How many slots are not 0.
    held: usize,
    /// Identities at or past `slots.len()` held, with their variants, sorted by identity,
    /// none on variant 0.
    past: Vec<(IdentityId, u32)>,
}

impl ByIdentity {
    /// The variant of identity `id` (0 for one not held).
    #[inline(always)]
    pub(crate) fn get(&self, id: IdentityId) -> u32 {
        match self.slots.get(id as usize) {
            Some(&v) => v,
            None if self.past.is_empty() => 0,
            None => past_get(&self.past, id),
        }
    }

    /// Puts identity `id` on variant `variant` (0: back on the first).
    // PERF: the slots inline, as a plain vector's writes were (out of line, a new
    // combination's refresh took 1.7% more instructions in `update_latency 0 5000 60 0 1`).
    #[inline(always)]
    pub(crate) fn set(&mut self, id: IdentityId, variant: u32) {
        let at = id as usize;
        if let Some(slot) = self.slots.get_mut(at) {
            self.held = self.held + usize::from(variant != 0) - usize::from(*slot != 0);
            *slot = variant;
            return;
        }
        if self.past.is_empty() {
            if variant == 0 {
                return;
            }
            if slots_take(at + 1, self.held + 1, SLOTS_PER_HELD) {
                self.slots.resize(at + 1, 0);
                self.slots[at] = variant;
                self.held += 1;
                return;
            }
        }
        self.set_past(id, variant);
    }

    /// [`ByIdentity::set`] of an identity past the slots, when slots up to it would be
    /// mostly empty or the pairs hold some already.
    #[inline(never)]
    fn set_past(&mut self, id: IdentityId, variant: u32) {
        let past = &mut self.past;
        // A new identity has the highest number yet: appended.
        if past.last().is_none_or(|&(last, _)| last < id) {
            if variant != 0 {
                past.push((id, variant));
            }
        } else {
            match (past.binary_search_by_key(&id, |&(i, _)| i), variant) {
                (Ok(at), 0) => {
                    past.remove(at);
                }
                (Ok(at), v) => past[at].1 = v,
                (Err(_), 0) => {}
                (Err(at), v) => past.insert(at, (id, v)),
            }
        }
        // Into slots again when they would be dense enough.
        let Some(&(last, _)) = past.last() else { return };
        let len = last as usize + 1;
        if slots_take(len, self.held + past.len(), SLOTS_PER_HELD_BACK) {
            // The pairs are past the slots, so each fills a slot that was not held.
            self.held += past.len();
            self.slots.resize(len, 0);
            for (i, v) in past.drain(..) {
                self.slots[i as usize] = v;
            }
        }
    }

    /// Room for `count` identities up to `last`, about to be set in increasing order (a
    /// table's build), where slots would take them.
    pub(crate) fn reserve(&mut self, last: IdentityId, count: usize) {
        let len = last as usize + 1;
        if self.past.is_empty() && slots_take(len, self.held + count, SLOTS_PER_HELD) {
            self.slots.reserve(len.saturating_sub(self.slots.len()));
        }
    }

    /// Bytes on the heap.
    pub(crate) fn memory_usage(&self) -> usize {
        self.slots.capacity() * 4 + self.past.capacity() * 8
    }

    /// Whether some identities are held as pairs (for the tests).
    #[cfg(test)]
    pub(crate) fn has_pairs(&self) -> bool {
        !self.past.is_empty()
    }
}

/// [`ByIdentity::get`] among the pairs (out of line: lookups usually end at a slot).
#[inline(never)]
fn past_get(pairs: &[(IdentityId, u32)], id: IdentityId) -> u32 {
    // A new identity (a refresh asks a table whether it knows one) is past them all.
    if pairs.last().is_none_or(|&(last, _)| last < id) {
        return 0;
    }
    match pairs.binary_search_by_key(&id, |&(i, _)| i) {
        Ok(at) => pairs[at].1,
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeMap;

    proptest! {
        /// After every change it answers as a map would, whether the identities are in
        /// slots or pairs, and its count of slots held is right.
        #[test]
        fn answers_as_a_map(
            // Numbers below a top that is sometimes low (slots fill up and take the pairs
            // back) and sometimes high (identities stay pairs).
            changes in (64u32..3000).prop_flat_map(|top| prop::collection::vec((0..top, 0u32..4), 0..600)),
        ) {
            let mut by = ByIdentity::default();
            let mut model: BTreeMap<IdentityId, u32> = BTreeMap::new();
            for (id, variant) in changes {
                by.set(id, variant);
                if variant == 0 {
                    model.remove(&id);
                } else {
                    model.insert(id, variant);
                }
                for probe in model.keys().copied().chain([0, id, id + 1, 2999, 5000]) {
                    prop_assert_eq!(by.get(probe), model.get(&probe).copied().unwrap_or(0));
                }
                prop_assert_eq!(by.held, by.slots.iter().filter(|&&v| v != 0).count());
                prop_assert!(by.past.windows(2).all(|w| w[0].0 < w[1].0));
                prop_assert!(by.past.iter().all(|&(i, v)| i as usize >= by.slots.len() && v != 0));
            }
        }
    }

    #[test]
    fn scattered_identities_go_to_pairs_and_back() {
        let mut by = ByIdentity::default();
        by.set(3, 1);
        assert!(!by.has_pairs());
        // One identity far past the others: a pair, not 1,001 slots.
        by.set(1000, 2);
        assert!(by.has_pairs());
        assert_eq!((by.get(3), by.get(1000), by.get(500), by.get(2000)), (1, 2, 0, 0));
        assert!(by.memory_usage() < 100, "{}", by.memory_usage());
        // Most identities below 1,001 held again: all in slots.
        for id in 4..400 {
            by.set(id, 1);
        }
        assert!(!by.has_pairs());
        assert_eq!((by.get(3), by.get(1000), by.get(500), by.get(399)), (1, 2, 0, 1));
        assert_eq!(by.held, 398);
    }
}
