//! The engine's table sets, with what a refresh asks of every set kept beside them.
//!
//! A member with a new combination of groups makes a new identity, which every table that
//! references one of its groups must learn, and a new list, whose tables may equal some
//! table the engine has, and whose entries are merged from the sets of the fewest groups
//! that hold each of its groups. Asking each set itself follows its pointer and its tables'
//! (a cache miss or more a table), so a refresh cost as much again for every list of the
//! engine, whether or not it had anything to do with the change: with 1,000 lists of
//! other groups beside `update_latency`'s, a new combination took 0.5 ms. What those
//! questions need of a set is a few numbers, kept here in vectors scanned without following
//! any pointer, and its tables' fingerprints in a hash index of chains ([`Prints`]):
//! vectors, so that a clone of the engine copies them whole (with room to grow: the
//! refresh of a clone pushes onto them).

use std::ops::Deref;
use std::sync::Arc;

use smallvec::SmallVec;

use super::{Roomy, TableSet};
use crate::group::GroupKey;

/// What [`Sets`] keeps of each set: bit `g % 64` of each group (as
/// [`super::table::Table`]'s `refs_filter`), so that a clear bit rules a set out, and a
/// bit of each group's hash ([`filter2`]), asked of the sets the first lets through.
#[derive(Clone, Copy, Debug, Default)]
struct Summary {
    /// The groups some table of the set references.
    refs: u64,
    /// The same, by [`filter2`].
    refs2: u32,
    /// The groups of the set's list.
    groups: u64,
    /// The same, by [`filter2`].
    groups2: u32,
    /// How many groups the list has (`u32::MAX` for a free place).
    len: u32,
}

impl Summary {
    /// The summary of `set` (of a free place for `None`).
    fn of(set: Option<&TableSet>) -> Summary {
        let Some(set) = set else {
            return Summary {
                len: u32::MAX,
                ..Summary::default()
            };
        };
        let tables = set
            .v4
            .iter()
            .map(|t| t.refs())
            .chain(set.v6.iter().map(|t| t.refs()));
        let (refs, refs2) = tables.fold((0, 0), |(f, f2), r| (f | filter(r), f2 | filter2(r)));
        Summary {
            refs,
            refs2,
            groups: filter(&set.groups),
            groups2: filter2(&set.groups),
            len: set.groups.len() as u32,
        }
    }
}

/// Bit `g % 64` of each of `groups`.
pub(super) fn filter(groups: &[GroupKey]) -> u64 {
    groups.iter().fold(0, |f, g| f | 1 << (g.get() % 64))
}

/// A bit of 32 for each of `groups`, from the top bits of its number times 2^64/φ:
/// groups that share their bit of [`filter`] (numbers 64 apart) mostly differ here.
// PERF: `update_latency 0 5000 175 0 5 1000`: the groups of the 1,000 other lists number
// up to 98, so an eighth of those lists shared a bit with the new identities' groups
// and were asked about them (7 µs of a new combination's 72-80 µs).
pub(super) fn filter2(groups: &[GroupKey]) -> u32 {
    groups.iter().fold(0, |f, g| {
        f | 1 << ((u64::from(g.get())).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 59)
    })
}

/// The table sets (`None` marks a free place), read as a slice; every change goes through
/// [`Sets::put`] (or [`Sets::taught`], which keeps what is summarized), so that the
/// summaries and fingerprints beside them always describe them.
#[derive(Clone, Debug, Default)]
pub(super) struct Sets {
    sets: Roomy<Option<Arc<TableSet>>>,
    /// By set: [`Summary::refs`] (apart from the rest, as each is scanned alone).
    refs: Roomy<u64>,
    /// By set: [`Summary::refs2`] (read only where `refs` meets).
    refs2: Roomy<u32>,
    /// By set: [`Summary::groups`].
    groups: Roomy<u64>,
    /// By set: [`Summary::groups2`] (read only where `groups` meets).
    groups2: Roomy<u32>,
    /// By set: [`Summary::len`].
    lens: Roomy<u32>,
    /// No place below this one is free ([`Sets::vacant`]).
    vacant: usize,
    /// The IPv4 tables by the tag of their fingerprint, for [`super::Existing`].
    prints4: Prints,
    /// The same of the IPv6 tables.
    prints6: Prints,
}

impl Deref for Sets {
    type Target = [Option<Arc<TableSet>>];

    #[inline]
    fn deref(&self) -> &Self::Target {
        &self.sets
    }
}

impl Sets {
    /// Puts `set` at place `i` (past the end: one place more, which must be the next).
    pub(super) fn put(&mut self, i: usize, set: Option<Arc<TableSet>>) {
        let summary = Summary::of(set.as_deref());
        let (t4, t6) = tags(set.as_deref());
        if set.is_none() {
            self.vacant = self.vacant.min(i);
        }
        for d in 0..2 {
            self.prints4.put(i * 2 + d, t4[d]);
            self.prints6.put(i * 2 + d, t6[d]);
        }
        if i == self.sets.len() {
            self.sets.push(set);
            self.refs.push(summary.refs);
            self.refs2.push(summary.refs2);
            self.groups.push(summary.groups);
            self.groups2.push(summary.groups2);
            self.lens.push(summary.len);
        } else {
            self.sets[i] = set;
            self.refs[i] = summary.refs;
            self.refs2[i] = summary.refs2;
            self.groups[i] = summary.groups;
            self.groups2[i] = summary.groups2;
            self.lens[i] = summary.len;
        }
    }

    /// The first free place, if there is one.
    // PERF: scanned from the lowest place that may be free, not from the first (a new
    // list's set looked through every place of the engine for one).
    pub(super) fn vacant(&mut self) -> Option<usize> {
        let from = self.vacant.min(self.sets.len());
        let found = self.sets[from..]
            .iter()
            .position(Option::is_none)
            .map(|k| from + k);
        self.vacant = found.unwrap_or(self.sets.len());
        found
    }

    /// The set at place `i`, taken out (the place freed).
    pub(super) fn take(&mut self, i: usize) -> Option<Arc<TableSet>> {
        let set = self.sets.get_mut(i)?.take();
        self.put(i, None);
        set
    }

    /// The set at place `i`, to be pointed at its identities' variants in place
    /// ([`super::Engine::teach`]). Its tables may be replaced by copies that differ in
    /// that alone: the same referenced groups and fingerprints (checked in debug builds by
    /// [`Sets::hold`]).
    pub(super) fn taught(&mut self, i: usize) -> Option<&mut Arc<TableSet>> {
        self.sets.get_mut(i)?.as_mut()
    }

    /// The places of the sets some table of which may reference one of `groups` (by
    /// [`filter`], then [`filter2`]), in order; a set left out references none of them.
    pub(super) fn referencing(&self, groups: &[GroupKey]) -> Vec<usize> {
        let (f, f2) = (filter(groups), filter2(groups));
        self.refs
            .iter()
            .enumerate()
            .filter(|&(i, r)| r & f != 0 && self.refs2[i] & f2 != 0)
            .map(|(i, _)| i)
            .collect()
    }

    /// For each of `groups` in order, the set of the fewest groups whose list holds it
    /// (the first of them in place order), while there is one: shorter than `groups` when
    /// some group is in no list.
    // PERF: one pass over the sets for all the groups (a pass each scanned the sets'
    // vectors once per group of a new list).
    pub(super) fn fewest_holding(&self, groups: &[GroupKey]) -> SmallVec<[&TableSet; 8]> {
        let bits: SmallVec<[(u64, u32); 8]> = groups.iter().map(|&g| (filter(&[g]), filter2(&[g]))).collect();
        let all = bits.iter().fold(0, |f, b| f | b.0);
        let mut best: SmallVec<[(u32, Option<&TableSet>); 8]> =
            smallvec::smallvec![(u32::MAX, None); groups.len()];
        for (i, (&held, &len)) in self.groups.iter().zip(self.lens.iter()).enumerate() {
            if held & all == 0 {
                continue;
            }
            for (k, &g) in groups.iter().enumerate() {
                // Strictly fewer: the first of the fewest stays.
                let (bit, bit2) = bits[k];
                if held & bit == 0 || self.groups2[i] & bit2 == 0 || len >= best[k].0 {
                    continue;
                }
                if let Some(set) = self.sets[i].as_deref().filter(|set| set.groups.contains(&g)) {
                    best[k] = (len, Some(set));
                }
            }
        }
        best.iter().map_while(|b| b.1).collect()
    }

    /// The places of the IPv4 tables whose fingerprint may be `fp` (see
    /// [`Sets::table_at`]); every table of fingerprint `fp` is among them.
    pub(super) fn prints4(&self, fp: u64) -> Places<'_> {
        self.prints4.places(fp)
    }

    /// The places of the IPv6 tables whose fingerprint may be `fp` (as [`Sets::prints4`]).
    pub(super) fn prints6(&self, fp: u64) -> Places<'_> {
        self.prints6.places(fp)
    }

    /// The set and direction index of the table at place `k` ([`Sets::prints4`],
    /// [`Sets::prints6`]).
    pub(super) fn table_at(&self, k: usize) -> Option<(&TableSet, usize)> {
        Some((self.sets.get(k / 2)?.as_deref()?, k % 2))
    }

    /// Bytes of the vectors (not of the sets).
    pub(super) fn memory_usage(&self) -> usize {
        self.sets.capacity() * std::mem::size_of::<Option<Arc<TableSet>>>()
            + (self.refs.capacity() + self.groups.capacity()) * 8
            + (self.refs2.capacity() + self.groups2.capacity() + self.lens.capacity()) * 4
            + self.prints4.memory_usage()
            + self.prints6.memory_usage()
    }

    /// Whether the summaries and fingerprints describe the sets (for debug assertions).
    pub(super) fn hold(&self) -> bool {
        self.refs.len() == self.sets.len()
            && self.refs2.len() == self.sets.len()
            && self.groups.len() == self.sets.len()
            && self.groups2.len() == self.sets.len()
            && self.sets[..self.vacant.min(self.sets.len())]
                .iter()
                .all(Option::is_some)
            && self.lens.len() == self.sets.len()
            && self.prints4.hold(self.sets.len() * 2)
            && self.prints6.hold(self.sets.len() * 2)
            && self.sets.iter().enumerate().all(|(i, set)| {
                let s = Summary::of(set.as_deref());
                let (t4, t6) = tags(set.as_deref());
                (
                    self.refs[i],
                    self.refs2[i],
                    self.groups[i],
                    self.groups2[i],
                    self.lens[i],
                ) == (s.refs, s.refs2, s.groups, s.groups2, s.len)
                    && (0..2)
                        .all(|d| self.prints4.tag(i * 2 + d) == t4[d] && self.prints6.tag(i * 2 + d) == t6[d])
            })
    }
}

/// The tags of a set's IPv4 and IPv6 tables' fingerprints, by direction (`None` for a
/// free place).
fn tags(set: Option<&TableSet>) -> ([Option<u32>; 2], [Option<u32>; 2]) {
    set.map_or(([None; 2], [None; 2]), |s| {
        (
            [0, 1].map(|d| Some(tag(s.v4[d].fingerprint))),
            [0, 1].map(|d| Some(tag(s.v6[d].fingerprint))),
        )
    })
}

/// A fingerprint's tag: its low 32 bits.
fn tag(fp: u64) -> u32 {
    fp as u32
}

/// No place: the end of a chain, or an empty bucket, of [`Prints`].
const NONE: u32 = u32::MAX;

/// The tables of one family by place (a set's index times two plus its direction's),
/// found by the tag of their fingerprint: a hash index of chains, whose buckets are the
/// tags' low bits (a fingerprint is a hash already), in vectors so that a clone of the
/// engine copies them whole.
// PERF: a new list's four tables are looked for among the engine's. Scanning every
// place's tag (eight compared at once) cost 23 K instructions and 450 first-level misses
// a new combination beside 1,000 other lists (`update_latency 0 5000 60 0 1 1000` under
// callgrind), more than any other part of what those lists added. A map by fingerprint
// made a clone of such an engine 50-75 µs slower; these are three vectors of numbers.
#[derive(Clone, Debug, Default)]
struct Prints {
    /// By place: its table's tag (0 for a free place).
    tags: Roomy<u32>,
    /// By place: the next place of its bucket's chain ([`NONE`] at the end), or
    /// [`UNLINKED`] for a place in no chain (free).
    next: Roomy<u32>,
    /// By bucket (a tag's low bits, a power of two of them, at least as many as places):
    /// the first place of its chain, or [`NONE`].
    heads: Roomy<u32>,
}

/// [`Prints::next`] of a free place.
const UNLINKED: u32 = u32::MAX - 1;

impl Prints {
    /// Puts the table of tag `tag` at place `k` (`None`: frees it); past the end: one
    /// place more, which must be the next.
    fn put(&mut self, k: usize, tag: Option<u32>) {
        if k == self.tags.len() {
            self.tags.push(0);
            self.next.push(UNLINKED);
            if self.tags.len() > self.heads.len() {
                self.rehash((self.tags.len() * 2).next_power_of_two().max(16));
            }
        } else {
            self.unlink(k);
        }
        self.tags[k] = tag.unwrap_or(0);
        if let Some(tag) = tag {
            let b = self.bucket(tag);
            self.next[k] = self.heads[b];
            self.heads[b] = k as u32;
        }
    }

    /// The bucket of `tag`.
    #[inline]
    fn bucket(&self, tag: u32) -> usize {
        tag as usize & (self.heads.len() - 1)
    }

    /// Takes place `k` out of its chain, if it is in one.
    fn unlink(&mut self, k: usize) {
        if self.next[k] == UNLINKED {
            return;
        }
        let b = self.bucket(self.tags[k]);
        let after = self.next[k];
        if self.heads[b] == k as u32 {
            self.heads[b] = after;
        } else {
            let mut at = self.heads[b];
            // INVARIANT: a linked place is in its tag's bucket's chain.
            while at != NONE {
                if self.next[at as usize] == k as u32 {
                    self.next[at as usize] = after;
                    break;
                }
                at = self.next[at as usize];
            }
        }
        self.next[k] = UNLINKED;
    }

    /// Links every linked place again, into `buckets` buckets.
    fn rehash(&mut self, buckets: usize) {
        self.heads.clear();
        self.heads.resize(buckets, NONE);
        for k in 0..self.tags.len() {
            if self.next[k] != UNLINKED {
                let b = self.bucket(self.tags[k]);
                self.next[k] = self.heads[b];
                self.heads[b] = k as u32;
            }
        }
    }

    /// The tag at place `k` (`None` for a free place or one past the end).
    fn tag(&self, k: usize) -> Option<u32> {
        (self.next.get(k)? != &UNLINKED).then(|| self.tags[k])
    }

    /// The places whose tag is that of `fp`.
    fn places(&self, fp: u64) -> Places<'_> {
        let tag = tag(fp);
        let at = if self.heads.is_empty() {
            NONE
        } else {
            self.heads[self.bucket(tag)]
        };
        Places {
            prints: self,
            tag,
            at,
        }
    }

    /// Bytes of the vectors.
    fn memory_usage(&self) -> usize {
        (self.tags.capacity() + self.next.capacity() + self.heads.capacity()) * 4
    }

    /// Whether it indexes `places` places, each linked place once in its tag's chain and
    /// no other place in a chain (for debug assertions).
    fn hold(&self, places: usize) -> bool {
        if self.tags.len() != places || self.next.len() != places || self.heads.len() < places {
            return false;
        }
        let mut seen = vec![false; places];
        for (b, &head) in self.heads.iter().enumerate() {
            let mut at = head;
            while at != NONE {
                let k = at as usize;
                if k >= places || seen[k] || self.next[k] == UNLINKED || self.bucket(self.tags[k]) != b {
                    return false;
                }
                seen[k] = true;
                at = self.next[k];
            }
        }
        (0..places).all(|k| seen[k] == (self.next[k] != UNLINKED))
    }
}

/// The places whose tag is that of a fingerprint ([`Sets::prints4`]).
pub(super) struct Places<'a> {
    prints: &'a Prints,
    tag: u32,
    /// The next place of the chain to look at.
    at: u32,
}

impl Iterator for Places<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        while self.at != NONE {
            let k = self.at as usize;
            self.at = self.prints.next[k];
            if self.prints.tags[k] == self.tag {
                return Some(k);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What [`Prints`] must answer, kept plainly: the tag of each place, `None` if free.
    fn expected(model: &[Option<u32>], fp: u64) -> Vec<usize> {
        let mut v: Vec<usize> = (0..model.len()).filter(|&k| model[k] == Some(tag(fp))).collect();
        v.sort_unstable();
        v
    }

    proptest! {
        #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

        /// After any sequence of puts (new places, tables replaced, places freed), the
        /// places found for a fingerprint are exactly those whose table has its tag, and
        /// the chains hold. Tags are drawn from a few values that share buckets (and 0,
        /// which a free place also stores).
        #[test]
        fn prints_find_exactly_the_places_of_a_tag(
            ops in proptest::collection::vec((0usize..80, proptest::option::weighted(0.8, 0u32..6)), 0..300),
            high in any::<u32>(),
        ) {
            let mut prints = Prints::default();
            let mut model: Vec<Option<u32>> = Vec::new();
            // Tags that collide in the low bits (the buckets) and differ above them.
            let tag_of = |t: u32| if t == 0 { 0 } else { (t % 3) | ((t / 3 + 1) << 20) ^ (high & !0xffff) };
            for (k, t) in ops {
                let k = k.min(model.len());
                let t = t.map(tag_of);
                prints.put(k, t);
                if k == model.len() {
                    model.push(t);
                } else {
                    model[k] = t;
                }
                prop_assert!(prints.hold(model.len()));
            }
            for t in (0..6).map(tag_of) {
                let fp = u64::from(t) | 0xdead_beef_0000_0000;
                let mut found: Vec<usize> = prints.places(fp).collect();
                found.sort_unstable();
                prop_assert_eq!(found, expected(&model, fp));
            }
            for (k, t) in model.iter().enumerate() {
                prop_assert_eq!(prints.tag(k), *t);
            }
        }
    }

    #[test]
    fn an_empty_index_finds_nothing() {
        assert_eq!(Prints::default().places(0).count(), 0);
        assert_eq!(Prints::default().places(7).count(), 0);
    }
}
