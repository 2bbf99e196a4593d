//! The exact partition of a box of header space by the decisions of one or more hops.
//!
//! The box is split one dimension at a time (protocol, ICMP type, ICMP code, destination
//! port, source port, source address, destination address) on the boundaries of the
//! entries that can still decide inside it. Pieces of a dimension in which the same
//! entries can still decide are kept together (a dimension of a box is a set of ranges,
//! not one range), so equal sub-problems are solved once. A hop's candidate list is cut
//! after the first entry that holds the whole box: later entries can never decide there.
//! A box is a leaf when each hop's first candidate holds all of it (or it has none: the
//! fallback decides); each leaf is decided once, by position in the provider's order.

use std::collections::HashMap;
use std::hash::Hash;

use smallvec::SmallVec;

use super::hop::{Entry, HopList};
use super::ranges::Ranges;
use super::space::{Cube, ICODE, ITYPE, NDIM, PROTO};

/// The pick of a hop whose fallback decides.
pub(crate) const NONE: u32 = u32::MAX;

/// Per hop, the index of the deciding entry (or [`NONE`]).
pub(crate) type Picks = SmallVec<[u32; 4]>;

/// A uniform box: every packet in it gets the same decision at every hop.
#[derive(Clone, Debug)]
pub(crate) struct Leaf {
    pub cube: Cube,
    pub picks: Picks,
}

/// The split order of the dimensions.
const ORDER: [usize; NDIM] = [0, 1, 2, 3, 4, 5, 6];

struct Engine<'a> {
    hops: &'a [&'a HopList],
    full_icmp: Ranges,
    out: Vec<Leaf>,
    /// Stop when a leaf satisfies this (used to look for one witness).
    stop: Option<&'a dyn Fn(&Picks) -> bool>,
    stopped: bool,
}

/// Every leaf of `space` under `hops` (all of one family).
pub(crate) fn partition(hops: &[&HopList], space: &Cube) -> Vec<Leaf> {
    partition_without(hops, space, &[])
}

/// As [`partition`], with hop `k` read without its entry `skip[k]` (when given).
pub(crate) fn partition_without(hops: &[&HopList], space: &Cube, skip: &[Option<u32>]) -> Vec<Leaf> {
    let mut e = Engine::new(hops, None);
    e.run(space, skip);
    e.out
}

/// The first leaf of `space` (in split order) whose picks satisfy `want`, if any.
pub(crate) fn find(hops: &[&HopList], space: &Cube, want: &dyn Fn(&Picks) -> bool) -> Option<Leaf> {
    let mut e = Engine::new(hops, Some(want));
    e.run(space, &[]);
    e.out.into_iter().find(|l| want(&l.picks))
}

impl<'a> Engine<'a> {
    fn new(hops: &'a [&'a HopList], stop: Option<&'a dyn Fn(&Picks) -> bool>) -> Engine<'a> {
        Engine {
            hops,
            full_icmp: Ranges::range(0, 255),
            out: Vec::new(),
            stop,
            stopped: false,
        }
    }

    fn run(&mut self, space: &Cube, skip: &[Option<u32>]) {
        if space.iter().any(Ranges::is_empty) {
            return;
        }
        let icmp = super::space::icmp_kind(&space[PROTO]);
        let mut cands: Vec<Vec<u32>> = Vec::with_capacity(self.hops.len());
        for (k, hop) in self.hops.iter().enumerate() {
            let skipped = skip.get(k).copied().flatten();
            let mut list = Vec::new();
            for (i, e) in hop.entries.iter().enumerate() {
                if Some(i as u32) != skipped && self.intersects(e, space, icmp) {
                    list.push(i as u32);
                    if self.covers(e, space, 0, icmp) {
                        break;
                    }
                }
            }
            cands.push(list);
        }
        let mut bx = space.clone();
        self.rec(0, &mut bx, icmp, &cands);
    }

    /// The entry's set in dimension `d` for a box whose protocols are (or are not) ICMP.
    fn set<'e>(&'e self, e: &'e Entry, d: usize, icmp: Option<bool>) -> &'e Ranges {
        if (d == ITYPE || d == ICODE) && icmp != Some(true) {
            &self.full_icmp
        } else {
            &e.cube[d]
        }
    }

    fn intersects(&self, e: &Entry, bx: &Cube, icmp: Option<bool>) -> bool {
        (0..NDIM).all(|d| ((d == ITYPE || d == ICODE) && icmp != Some(true)) || e.cube[d].intersects(&bx[d]))
    }

    /// Whether `e` holds every packet of `bx` in the dimensions split at `level` and later
    /// (earlier ones are held by construction).
    fn covers(&self, e: &Entry, bx: &Cube, level: usize, icmp: Option<bool>) -> bool {
        ORDER[level..].iter().all(|&d| match (d, icmp) {
            (ITYPE | ICODE, Some(false)) => true,
            (ITYPE | ICODE, None) => e.icmp_any,
            _ => e.cube[d].is_superset(&bx[d]),
        })
    }

    fn rec(&mut self, level: usize, bx: &mut Cube, icmp: Option<bool>, cands: &[Vec<u32>]) {
        if self.stopped {
            return;
        }
        let hops = self.hops;
        let done = level == NDIM
            || cands.iter().zip(hops).all(|(c, h)| {
                c.first()
                    .is_none_or(|&i| self.covers(&h.entries[i as usize], bx, level, icmp))
            });
        if done {
            let picks: Picks = cands.iter().map(|c| c.first().copied().unwrap_or(NONE)).collect();
            if let Some(stop) = self.stop {
                if stop(&picks) {
                    self.stopped = true;
                }
            }
            self.out.push(Leaf {
                cube: bx.clone(),
                picks,
            });
            return;
        }
        let d = ORDER[level];

        // Cut points: where some candidate's set starts or ends.
        let mut cuts: Vec<u128> = Vec::new();
        for (c, h) in cands.iter().zip(hops) {
            for &i in c {
                for (lo, hi) in self.set(&h.entries[i as usize], d, icmp).iter() {
                    cuts.push(lo);
                    if let Some(x) = hi.checked_add(1) {
                        cuts.push(x);
                    }
                }
            }
        }
        if d == PROTO {
            // INVARIANT: a protocol piece is all-ICMP or has no ICMP, so the ICMP
            // dimensions apply to all of it or to none of it.
            cuts.extend([1, 2, 58, 59]);
        }
        cuts.sort_unstable();
        cuts.dedup();
        let mut pieces: Vec<(u128, u128)> = Vec::new();
        for (lo, hi) in bx[d].iter() {
            let mut start = lo;
            let from = cuts.partition_point(|&c| c <= lo);
            for &c in &cuts[from..] {
                if c > hi {
                    break;
                }
                pieces.push((start, c - 1));
                start = c;
            }
            pieces.push((start, hi));
        }

        // Which candidates hold which pieces: bits[piece * words + k].
        let total: usize = cands.iter().map(Vec::len).sum();
        let words = total.div_ceil(64).max(1);
        let mut bits = vec![0u64; pieces.len() * words];
        let mut k = 0;
        for (c, h) in cands.iter().zip(hops) {
            for &i in c {
                for (lo, hi) in self.set(&h.entries[i as usize], d, icmp).iter() {
                    let a = pieces.partition_point(|p| p.1 < lo);
                    let b = pieces.partition_point(|p| p.0 <= hi);
                    for p in a..b {
                        bits[p * words + k / 64] |= 1 << (k % 64);
                    }
                }
                k += 1;
            }
        }

        // Whether each candidate holds the rest of the box (later dimensions), for a
        // piece that is ICMP and for one that is not.
        let flags: Vec<Option<bool>> = if d == PROTO {
            vec![Some(false), Some(true)]
        } else {
            vec![icmp]
        };
        let mut rest: Vec<Vec<bool>> = Vec::with_capacity(flags.len());
        for &f in &flags {
            let mut v = Vec::with_capacity(total);
            for (c, h) in cands.iter().zip(hops) {
                for &i in c {
                    v.push(self.covers(&h.entries[i as usize], bx, level + 1, f));
                }
            }
            rest.push(v);
        }

        // Group pieces by what can still decide in them.
        type Key = (Option<bool>, Vec<Vec<u32>>);
        let mut index: HashMap<Key, usize> = HashMap::new();
        let mut groups: Vec<(Key, Ranges)> = Vec::new();
        for (p, &(lo, hi)) in pieces.iter().enumerate() {
            let (flag, rest_of) = if d == PROTO {
                let is_icmp = lo == hi && super::space::is_icmp_proto(lo);
                (Some(is_icmp), &rest[usize::from(is_icmp)])
            } else {
                (icmp, &rest[0])
            };
            let mut sig: Vec<Vec<u32>> = Vec::with_capacity(cands.len());
            let mut k = 0;
            for c in cands {
                let mut v = Vec::new();
                let mut cut = false;
                for &i in c {
                    if !cut && bits[p * words + k / 64] & (1 << (k % 64)) != 0 {
                        v.push(i);
                        cut = rest_of[k];
                    }
                    k += 1;
                }
                sig.push(v);
            }
            let key = (flag, sig);
            match index.get(&key) {
                Some(&g) => groups[g].1.push_after(lo, hi),
                None => {
                    index.insert(key.clone(), groups.len());
                    groups.push((key, Ranges::range(lo, hi)));
                }
            }
        }
        drop(index);
        for ((flag, sig), set) in groups {
            let old = std::mem::replace(&mut bx[d], set);
            self.rec(level + 1, bx, flag, &sig);
            bx[d] = old;
            if self.stopped {
                return;
            }
        }
    }
}

/// Merges boxes with the same key that differ in one dimension only, until none do.
/// The result covers exactly the same packets with the same keys.
pub(crate) fn merge<K: Clone + Eq + Hash>(mut items: Vec<(K, Cube)>) -> Vec<(K, Cube)> {
    loop {
        let before = items.len();
        for d in (0..NDIM).rev() {
            let mut index: HashMap<(K, Cube), usize> = HashMap::new();
            let mut out: Vec<(K, Cube)> = Vec::with_capacity(items.len());
            for (k, c) in items {
                let mut probe = c.clone();
                probe[d] = Ranges::empty();
                match index.get(&(k.clone(), probe.clone())) {
                    Some(&i) => out[i].1[d] = out[i].1[d].union(&c[d]),
                    None => {
                        index.insert((k.clone(), probe), out.len());
                        out.push((k, c));
                    }
                }
            }
            items = out;
        }
        if items.len() == before {
            return items;
        }
    }
}
