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
//! any pointer: vectors, so that a clone of the engine copies them whole (with room to
//! grow: the refresh of a clone pushes onto them).

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
    /// By table (a set's index times two plus its direction's): the low 32 bits of the
    /// IPv4 table's fingerprint (0 for a free place), for [`super::Existing`] to scan.
    // PERF: 32 bits, which the compiler compares four at a time (64-bit fingerprints
    // were compared one at a time: 25 K instructions a new combination beside 1,000
    // other lists). A map by fingerprint made a clone of such an engine 50-75 µs slower.
    tags4: Roomy<u32>,
    /// The same of the IPv6 tables.
    tags6: Roomy<u32>,
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
        if i == self.sets.len() {
            self.sets.push(set);
            self.refs.push(summary.refs);
            self.refs2.push(summary.refs2);
            self.groups.push(summary.groups);
            self.groups2.push(summary.groups2);
            self.lens.push(summary.len);
            self.tags4.extend(t4);
            self.tags6.extend(t6);
        } else {
            self.sets[i] = set;
            self.refs[i] = summary.refs;
            self.refs2[i] = summary.refs2;
            self.groups[i] = summary.groups;
            self.groups2[i] = summary.groups2;
            self.lens[i] = summary.len;
            self.tags4[i * 2..i * 2 + 2].copy_from_slice(&t4);
            self.tags6[i * 2..i * 2 + 2].copy_from_slice(&t6);
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

    /// The places of the IPv4 tables whose fingerprint may be `fp`, in order (see
    /// [`Sets::table_at`]); every table of fingerprint `fp` is among them.
    pub(super) fn prints4(&self, fp: u64) -> Places<'_> {
        Places::new(&self.tags4, fp)
    }

    /// The places of the IPv6 tables whose fingerprint may be `fp`, in order.
    pub(super) fn prints6(&self, fp: u64) -> Places<'_> {
        Places::new(&self.tags6, fp)
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
            + (self.tags4.capacity() + self.tags6.capacity()) * 4
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
            && self.tags4.len() == self.sets.len() * 2
            && self.tags6.len() == self.sets.len() * 2
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
                    && self.tags4[i * 2..i * 2 + 2] == t4
                    && self.tags6[i * 2..i * 2 + 2] == t6
            })
    }
}

/// The tags of a set's IPv4 and IPv6 tables' fingerprints, by direction (0 for a free
/// place).
fn tags(set: Option<&TableSet>) -> ([u32; 2], [u32; 2]) {
    let tag = |fp: u64| fp as u32;
    set.map_or(([0; 2], [0; 2]), |s| {
        (
            [0, 1].map(|d| tag(s.v4[d].fingerprint)),
            [0, 1].map(|d| tag(s.v6[d].fingerprint)),
        )
    })
}

/// The places whose tag is that of a fingerprint ([`Sets::prints4`]), in order.
pub(super) struct Places<'a> {
    tags: &'a [u32],
    tag: u32,
    from: usize,
}

impl<'a> Places<'a> {
    fn new(tags: &'a [u32], fp: u64) -> Places<'a> {
        Places {
            tags,
            tag: fp as u32,
            from: 0,
        }
    }
}

impl Iterator for Places<'_> {
    type Item = usize;

    fn next(&mut self) -> Option<usize> {
        let rest = self.tags.get(self.from..)?;
        let tag = self.tag;
        // PERF: eight compared without an early exit inside, which the compiler turns into
        // vector compares; the place found within the eight after.
        let mut chunks = rest.chunks_exact(8);
        let mut found = None;
        for (c, chunk) in chunks.by_ref().enumerate() {
            if chunk.iter().fold(0u32, |hit, &t| hit | u32::from(t == tag)) != 0 {
                found = chunk.iter().position(|&t| t == tag).map(|k| c * 8 + k);
                break;
            }
        }
        let found = found.or_else(|| {
            let tail = rest.len() - chunks.remainder().len();
            chunks
                .remainder()
                .iter()
                .position(|&t| t == tag)
                .map(|k| tail + k)
        });
        match found {
            Some(k) => {
                self.from += k + 1;
                Some(self.from - 1)
            }
            None => {
                self.from = self.tags.len();
                None
            }
        }
    }
}
