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
use std::hash::{BuildHasherDefault, Hash, Hasher};

use smallvec::SmallVec;

use super::hop::{Entry, HopList};
use super::ranges::Ranges;
use super::space::{Cube, DPORT, DST, ICODE, ITYPE, NDIM, PROTO, SPORT, SRC};

/// The pick of a hop whose fallback decides.
pub(crate) const NONE: u32 = u32::MAX;

/// Per hop, the index of the deciding entry (or [`NONE`]); with depth 2, per hop the
/// first and the second matching entry.
pub(crate) type Picks = SmallVec<[u32; 4]>;

/// A uniform box: every packet in it gets the same decision at every hop.
#[derive(Clone, Debug)]
pub(crate) struct Leaf {
    pub cube: Cube,
    pub picks: Picks,
}

/// The split order of the dimensions.
const ORDER: [usize; NDIM] = [0, 1, 2, 3, 4, 5, 6];

/// A small multiplicative hasher for signatures (PERF: SipHash dominated profiles).
#[derive(Default)]
struct SigHasher(u64);

impl Hasher for SigHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.write_u64(b as u64);
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_usize(&mut self, v: usize) {
        self.write_u64(v as u64);
    }
}

type SigMap<V> = HashMap<Vec<u32>, V, BuildHasherDefault<SigHasher>>;

struct Engine<'a> {
    hops: &'a [&'a HopList],
    /// How many matching entries a leaf names per hop (1: the deciding one; 2: also the
    /// one that would decide without it).
    depth: usize,
    full_icmp: Ranges,
    out: Vec<Leaf>,
}

/// Every leaf of `space` under `hops` (all of one family).
pub(crate) fn partition(hops: &[&HopList], space: &Cube) -> Vec<Leaf> {
    partition_depth(hops, space, 1)
}

/// Every leaf of `space`, uniform in the first `depth` matching entries of each hop;
/// `picks[h * depth + j]` is the `j`-th matching entry of hop `h` (or [`NONE`]).
pub(crate) fn partition_depth(hops: &[&HopList], space: &Cube, depth: usize) -> Vec<Leaf> {
    let mut e = Engine {
        hops,
        depth: depth.max(1),
        full_icmp: Ranges::range(0, 255),
        out: Vec::new(),
    };
    e.run(space);
    e.out
}

impl<'a> Engine<'a> {
    fn run(&mut self, space: &Cube) {
        if space.iter().any(Ranges::is_empty) {
            return;
        }
        let icmp = super::space::icmp_kind(&space[PROTO]);
        let mut cands: Vec<Vec<u32>> = Vec::with_capacity(self.hops.len());
        for hop in self.hops {
            let mut list = Vec::new();
            let mut covering = 0;
            for (i, e) in hop.entries.iter().enumerate() {
                if self.intersects(e, space, icmp) {
                    list.push(i as u32);
                    if self.covers(e, space, 0, icmp) {
                        covering += 1;
                        if covering == self.depth {
                            break;
                        }
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
        // PERF: the most selective dimensions first.
        [PROTO, DPORT, SRC, DST, SPORT, ITYPE, ICODE]
            .iter()
            .all(|&d| ((d == ITYPE || d == ICODE) && icmp != Some(true)) || e.cube[d].intersects(&bx[d]))
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
        let hops = self.hops;
        let depth = self.depth;
        let done = level == NDIM
            || cands.iter().zip(hops).all(|(c, h)| {
                c.iter()
                    .take(depth)
                    .all(|&i| self.covers(&h.entries[i as usize], bx, level, icmp))
            });
        if done {
            let mut picks = Picks::new();
            for c in cands {
                for j in 0..depth {
                    picks.push(c.get(j).copied().unwrap_or(NONE));
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

        // Group pieces by what can still decide in them. A signature lists, per hop, the
        // candidates that hold the piece up to the `depth`-th that holds the whole rest
        // (later ones can never be among the first `depth` matches), then `NONE`; it
        // starts with the ICMP flag.
        let mut index: SigMap<usize> = SigMap::default();
        let mut groups: Vec<(Option<bool>, Vec<Vec<u32>>, Ranges)> = Vec::new();
        for (p, &(lo, hi)) in pieces.iter().enumerate() {
            let (flag, rest_of) = if d == PROTO {
                let is_icmp = lo == hi && super::space::is_icmp_proto(lo);
                (Some(is_icmp), &rest[usize::from(is_icmp)])
            } else {
                (icmp, &rest[0])
            };
            let mut sig: Vec<u32> = Vec::with_capacity(total + cands.len() + 1);
            sig.push(match flag {
                None => 0,
                Some(false) => 1,
                Some(true) => 2,
            });
            let mut k = 0;
            for c in cands {
                let mut covering = 0;
                for &i in c {
                    if covering < depth && bits[p * words + k / 64] & (1 << (k % 64)) != 0 {
                        sig.push(i);
                        if rest_of[k] {
                            covering += 1;
                        }
                    }
                    k += 1;
                }
                sig.push(NONE);
            }
            match index.get(&sig) {
                Some(&g) => groups[g].2.push_after(lo, hi),
                None => {
                    let lists: Vec<Vec<u32>> = sig[1..]
                        .split(|&x| x == NONE)
                        .take(cands.len())
                        .map(<[u32]>::to_vec)
                        .collect();
                    index.insert(sig, groups.len());
                    groups.push((flag, lists, Ranges::range(lo, hi)));
                }
            }
        }
        drop(index);
        for (flag, lists, set) in groups {
            let old = std::mem::replace(&mut bx[d], set);
            self.rec(level + 1, bx, flag, &lists);
            bx[d] = old;
        }
    }
}

/// Merges boxes with the same key that differ in one dimension only, until none do.
/// The result covers exactly the same packets with the same keys.
pub(crate) fn merge<K: Clone + Eq + Hash>(mut items: Vec<(K, Cube)>) -> Vec<(K, Cube)> {
    use std::hash::BuildHasher;
    let state = std::collections::hash_map::RandomState::new();
    loop {
        let before = items.len();
        for d in (0..NDIM).rev() {
            // PERF: buckets by a hash of the key and the other dimensions, so no cube is
            // cloned; equality is checked within a bucket.
            let mut buckets: HashMap<u64, SmallVec<[usize; 1]>> = HashMap::with_capacity(items.len());
            let mut out: Vec<(K, Cube)> = Vec::with_capacity(items.len());
            for (k, c) in items {
                let mut h = state.build_hasher();
                k.hash(&mut h);
                for (j, r) in c.iter().enumerate() {
                    if j != d {
                        r.hash(&mut h);
                    }
                }
                let bucket = buckets.entry(h.finish()).or_default();
                let same = bucket
                    .iter()
                    .copied()
                    .find(|&i| out[i].0 == k && (0..NDIM).all(|j| j == d || out[i].1[j] == c[j]));
                match same {
                    Some(i) => out[i].1[d] = out[i].1[d].union(&c[d]),
                    None => {
                        bucket.push(out.len());
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
