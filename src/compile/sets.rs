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
//! any pointer, and the tables by fingerprint in a map.

use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;

use smallvec::SmallVec;

use super::TableSet;
use crate::group::GroupKey;

/// The tables of each fingerprint, by their place: a set's index times two plus its
/// direction's, increasing.
type ByPrint = HashMap<u64, SmallVec<[u32; 2]>, foldhash::fast::RandomState>;

/// What [`Sets`] keeps of each set: bit `g % 64` of each group (as
/// [`super::table::Table`]'s `refs_filter`), so that a clear bit rules a set out.
#[derive(Clone, Copy, Debug, Default)]
struct Summary {
    /// The groups some table of the set references.
    refs: u64,
    /// The groups of the set's list.
    groups: u64,
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
        let refs = set.v4.iter().map(|t| t.refs_filter()).fold(0, |f, b| f | b)
            | set.v6.iter().map(|t| t.refs_filter()).fold(0, |f, b| f | b);
        Summary {
            refs,
            groups: filter(&set.groups),
            len: set.groups.len() as u32,
        }
    }
}

/// Bit `g % 64` of each of `groups`.
pub(super) fn filter(groups: &[GroupKey]) -> u64 {
    groups.iter().fold(0, |f, g| f | 1 << (g.get() % 64))
}

/// The table sets (`None` marks a free place), read as a slice; every change goes through
/// [`Sets::put`] (or [`Sets::taught`], which keeps what is summarized), so that the
/// summaries and fingerprints beside them always describe them.
#[derive(Clone, Debug, Default)]
pub(super) struct Sets {
    sets: Vec<Option<Arc<TableSet>>>,
    /// By set: [`Summary::refs`] (apart from the rest, as each is scanned alone).
    refs: Vec<u64>,
    /// By set: [`Summary::groups`].
    groups: Vec<u64>,
    /// By set: [`Summary::len`].
    lens: Vec<u32>,
    /// The IPv4 tables by fingerprint, for [`super::Existing`].
    // PERF: a map, not a scan of every table's fingerprint (a new list's four tables each
    // scanned them all: 25 K instructions a new combination beside 1,000 other lists).
    prints4: ByPrint,
    /// The IPv6 tables by fingerprint.
    prints6: ByPrint,
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
        if let Some(old) = self.sets.get(i).and_then(Option::as_deref) {
            for d in 0..2 {
                let k = (i * 2 + d) as u32;
                unindex(&mut self.prints4, old.v4[d].fingerprint, k);
                unindex(&mut self.prints6, old.v6[d].fingerprint, k);
            }
        }
        if let Some(new) = set.as_deref() {
            for d in 0..2 {
                let k = (i * 2 + d) as u32;
                index(&mut self.prints4, new.v4[d].fingerprint, k);
                index(&mut self.prints6, new.v6[d].fingerprint, k);
            }
        }
        if i == self.sets.len() {
            self.sets.push(set);
            self.refs.push(summary.refs);
            self.groups.push(summary.groups);
            self.lens.push(summary.len);
        } else {
            self.sets[i] = set;
            self.refs[i] = summary.refs;
            self.groups[i] = summary.groups;
            self.lens[i] = summary.len;
        }
    }

    /// The set at place `i`, taken out (the place freed).
    pub(super) fn take(&mut self, i: usize) -> Option<Arc<TableSet>> {
        let set = self.sets.get(i)?.clone();
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

    /// The places of the sets some table of which may reference one of the groups of
    /// `filter` ([`filter`]), in order; a set left out references none of them.
    pub(super) fn referencing(&self, filter: u64) -> Vec<usize> {
        self.refs
            .iter()
            .enumerate()
            .filter(|&(_, r)| r & filter != 0)
            .map(|(i, _)| i)
            .collect()
    }

    /// The set of the fewest groups whose list holds `g` (the first of them in place
    /// order).
    pub(super) fn fewest_holding(&self, g: GroupKey) -> Option<&TableSet> {
        let bit = filter(&[g]);
        let (mut fewest, mut best) = (u32::MAX, None);
        for (i, (&groups, &len)) in self.groups.iter().zip(&self.lens).enumerate() {
            // Strictly fewer: the first of the fewest stays.
            if groups & bit == 0 || len >= fewest {
                continue;
            }
            if let Some(set) = self.sets[i].as_deref().filter(|set| set.groups.contains(&g)) {
                (fewest, best) = (len, Some(set));
                if len == 1 {
                    break; // none has fewer
                }
            }
        }
        best
    }

    /// The places of the IPv4 tables of fingerprint `fp`, in order (see
    /// [`Sets::table_at`]).
    pub(super) fn prints4(&self, fp: u64) -> &[u32] {
        self.prints4.get(&fp).map_or(&[], |at| &at[..])
    }

    /// The places of the IPv6 tables of fingerprint `fp`, in order.
    pub(super) fn prints6(&self, fp: u64) -> &[u32] {
        self.prints6.get(&fp).map_or(&[], |at| &at[..])
    }

    /// The set and direction index of the table at place `k` ([`Sets::prints4`],
    /// [`Sets::prints6`]).
    pub(super) fn table_at(&self, k: u32) -> Option<(&TableSet, usize)> {
        let k = k as usize;
        Some((self.sets.get(k / 2)?.as_deref()?, k % 2))
    }

    /// Bytes of the vectors (not of the sets).
    pub(super) fn memory_usage(&self) -> usize {
        self.sets.capacity() * std::mem::size_of::<Option<Arc<TableSet>>>()
            + (self.refs.capacity() + self.groups.capacity()) * 8
            + self.lens.capacity() * 4
            + [&self.prints4, &self.prints6]
                .iter()
                .map(|m| m.capacity() * (std::mem::size_of::<(u64, SmallVec<[u32; 2]>)>() + 1))
                .sum::<usize>()
    }

    /// Whether the summaries and fingerprints describe the sets (for debug assertions).
    pub(super) fn hold(&self) -> bool {
        let (mut prints4, mut prints6) = (ByPrint::default(), ByPrint::default());
        for (i, set) in self.sets.iter().enumerate() {
            for d in 0..2 {
                if let Some(set) = set {
                    index(&mut prints4, set.v4[d].fingerprint, (i * 2 + d) as u32);
                    index(&mut prints6, set.v6[d].fingerprint, (i * 2 + d) as u32);
                }
            }
        }
        self.refs.len() == self.sets.len()
            && self.groups.len() == self.sets.len()
            && self.lens.len() == self.sets.len()
            && prints4 == self.prints4
            && prints6 == self.prints6
            && self.sets.iter().enumerate().all(|(i, set)| {
                let s = Summary::of(set.as_deref());
                (self.refs[i], self.groups[i], self.lens[i]) == (s.refs, s.groups, s.len)
            })
    }
}

/// Adds table `k` to those of fingerprint `fp`, in order.
fn index(prints: &mut ByPrint, fp: u64, k: u32) {
    let at = prints.entry(fp).or_default();
    if let Err(p) = at.binary_search(&k) {
        at.insert(p, k);
    }
}

/// Takes table `k` from those of fingerprint `fp` (the entry gone with its last table).
fn unindex(prints: &mut ByPrint, fp: u64, k: u32) {
    if let Some(at) = prints.get_mut(&fp) {
        if let Ok(p) = at.binary_search(&k) {
            at.remove(p);
        }
        if at.is_empty() {
            prints.remove(&fp);
        }
    }
}
