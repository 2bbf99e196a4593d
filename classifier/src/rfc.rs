//! Recursive Flow Classification (Gupta and McKeown, SIGCOMM 1999) for small IPv4 rule sets.
//!
//! The key is cut into seven chunks: the high and low 16 bits of each address, both ports
//! and the protocol. Phase 0 maps each chunk through a table to its equivalence class: the
//! set of rules whose interval in that chunk holds the value (a prefix is exactly a product
//! of a range on its high chunk and a range on its low chunk). Later phases map pairs of
//! classes to the class of their intersection, and the last one straight to the first rule
//! of it. A lookup is 13 loads, 4 or 5 of them dependent, and no data-dependent branch; the
//! price is memory that grows with the product of class counts, so the builder tries five
//! orders of joining the classes ([`Shape`]), keeps the smallest, and gives up past a byte
//! budget, when the caller keeps its tree.

use std::collections::HashMap;

use foldhash::fast::FixedState;

use super::{Addr, Key, Rule};

/// The answer of a final cell with no matching rule.
const MISS: u16 = u16::MAX;

/// Most rules: a rule index and [`MISS`] fit a `u16`.
pub(super) const MAX_RULES: usize = MISS as usize;

/// Classes in one phase-0 chunk.
const CHUNK: usize = 1 << 16;

/// Bytes of the phase-0 tables, whatever the rules.
pub(super) const FIXED_BYTES: usize = (6 * CHUNK + 256) * 2;

/// The phase tables; every class number is a `u16`.
#[derive(Clone, Debug)]
pub(super) struct Rfc {
    /// Phase 0, 16-bit chunks: source high, source low, destination high, destination low,
    /// source port, destination port; each `CHUNK` long so a `u16` index needs no check.
    chunks: [Box<[u16; CHUNK]>; 6],
    /// Phase 0 of the protocol.
    proto: Box<[u16; 256]>,
    /// Phase 1: (source high, source low) and (destination high, destination low).
    src: Table,
    dst: Table,
    /// The four joins after phase 1, in the order of [`Shape`]; the last gives a rule index
    /// or [`MISS`].
    joins: [Table; 4],
    shape: Shape,
}

/// How the classes after phase 1 (source, destination, and the chunks of ports and
/// protocol) are joined; the builder takes the shape with the smallest tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Shape {
    /// Ports, then ports with protocol (`pp`); then (source, destination) and with `pp`.
    Addrs,
    /// Ports and protocol as in `Addrs`; (source, `pp`), then with the destination.
    SrcPorts,
    /// Ports and protocol as in `Addrs`; (destination, `pp`), then with the source.
    DstPorts,
    /// (source, destination), then with the source port; (destination port, protocol);
    /// then both. One dependent load more, but on ClassBench ipc1_1k 17 times fewer cells.
    ChainSrcPort,
    /// As `ChainSrcPort` with the two ports swapped.
    ChainDstPort,
}

impl Shape {
    const ALL: [Shape; 5] = [
        Shape::Addrs,
        Shape::SrcPorts,
        Shape::DstPorts,
        Shape::ChainSrcPort,
        Shape::ChainDstPort,
    ];
}

/// A cross-product table: cell `a * width + b`, the length rounded up to a power of two so
/// that a masked index needs no bounds check.
#[derive(Clone, Debug)]
struct Table {
    cells: Box<[u16]>,
    width: usize,
    mask: usize,
}

impl Table {
    fn new(cells: Vec<u16>, width: usize) -> Table {
        let len = cells.len().next_power_of_two().max(1);
        let mut cells = cells;
        cells.resize(len, MISS);
        Table {
            cells: cells.into_boxed_slice(),
            width,
            mask: len - 1,
        }
    }

    #[inline(always)]
    fn get(&self, a: u16, b: u16) -> u16 {
        // The index is below the table's length by construction (`a < rows`, `b < width`);
        // the mask only spares the bounds check.
        self.cells[(usize::from(a) * self.width + usize::from(b)) & self.mask]
    }

    fn bytes(&self) -> usize {
        self.cells.len() * 2
    }
}

/// The classes of one phase: each a set of rules, as a bit set.
#[derive(Clone)]
struct Classes {
    words: usize,
    /// Class `c` is `bits[c * words..][..words]`.
    bits: Vec<u64>,
    ids: HashMap<Box<[u64]>, u16, FixedState>,
}

/// What a build may still spend.
#[derive(Clone, Copy, Debug)]
struct Budget {
    /// Bytes of tables.
    bytes: usize,
    /// Words of rule sets to combine, over every shape tried: bounds the build's time.
    work: usize,
}

impl Budget {
    /// Charges a table of `cells` cells whose each cell combines two sets of `words` words.
    fn take(&mut self, cells: usize, words: usize) -> Result<(), TooBig> {
        // Charged as laid out: rounded up to a power of two (see `Table`).
        self.bytes = self
            .bytes
            .checked_sub(cells.next_power_of_two().saturating_mul(2))
            .ok_or(TooBig)?;
        self.work = self.work.checked_sub(cells.saturating_mul(words)).ok_or(TooBig)?;
        Ok(())
    }
}

/// Words of rule sets a build may combine: ClassBench's 1k sets take at most a third of it
/// (ipc1_1k: 0.15 s under load); a 4,000-rule set that would need more gives up sooner.
const WORK: usize = 1 << 26;

/// The build ran over its budget.
#[derive(Debug)]
pub(super) struct TooBig;

impl Classes {
    fn new(words: usize) -> Classes {
        Classes {
            words,
            bits: Vec::new(),
            ids: HashMap::default(),
        }
    }

    fn len(&self) -> usize {
        self.bits.len() / self.words.max(1)
    }

    fn get(&self, c: u16) -> &[u64] {
        &self.bits[usize::from(c) * self.words..][..self.words]
    }

    /// The class of `set`, added if new.
    fn intern(&mut self, set: &[u64]) -> Result<u16, TooBig> {
        if let Some(&c) = self.ids.get(set) {
            return Ok(c);
        }
        let c = u16::try_from(self.len()).map_err(|_| TooBig)?;
        if c == MISS {
            return Err(TooBig);
        }
        self.bits.extend_from_slice(set);
        self.ids.insert(set.into(), c);
        Ok(c)
    }
}

/// Rule intervals (`lo..=hi`, each at most `max`) to a phase-0 table of `max + 1` entries.
fn chunk(words: usize, spans: &[(u32, u32)], table: &mut [u16]) -> Result<Classes, TooBig> {
    let mut events: Vec<(u32, bool, usize)> = Vec::with_capacity(spans.len() * 2);
    for (i, &(lo, hi)) in spans.iter().enumerate() {
        if lo <= hi {
            events.push((lo, true, i));
            events.push((hi + 1, false, i));
        }
    }
    events.sort_unstable_by_key(|e| e.0);
    let mut classes = Classes::new(words);
    let mut set = vec![0u64; words];
    let mut at = 0u32;
    let mut e = 0;
    let end = table.len() as u32;
    while at < end {
        while e < events.len() && events[e].0 <= at {
            let (_, add, i) = events[e];
            if add {
                set[i / 64] |= 1 << (i % 64);
            } else {
                set[i / 64] &= !(1 << (i % 64));
            }
            e += 1;
        }
        let next = events.get(e).map_or(end, |ev| ev.0.min(end));
        let c = classes.intern(&set)?;
        table[at as usize..next as usize].fill(c);
        at = next;
    }
    Ok(classes)
}

/// The cross product of `a` and `b`: a table of `a.len() * b.len()` cells and its classes.
fn cross(a: &Classes, b: &Classes, budget: &mut Budget) -> Result<(Table, Classes), TooBig> {
    let (na, nb) = (a.len(), b.len());
    let cells = na.checked_mul(nb).ok_or(TooBig)?;
    budget.take(cells, a.words)?;
    let mut out = Classes::new(a.words);
    let mut table = Vec::with_capacity(cells);
    let mut set = vec![0u64; a.words];
    for i in 0..na {
        let x = a.get(i as u16);
        for j in 0..nb {
            for ((s, p), q) in set.iter_mut().zip(x).zip(b.get(j as u16)) {
                *s = p & q;
            }
            table.push(out.intern(&set)?);
        }
    }
    Ok((Table::new(table, nb), out))
}

/// The cross product of `a` and `b` to the first rule of each intersection.
fn last(a: &Classes, b: &Classes, budget: &mut Budget) -> Result<Table, TooBig> {
    let (na, nb) = (a.len(), b.len());
    let cells = na.checked_mul(nb).ok_or(TooBig)?;
    budget.take(cells, a.words)?;
    let mut table = Vec::with_capacity(cells);
    for i in 0..na {
        let x = a.get(i as u16);
        for j in 0..nb {
            let first = x.iter().zip(b.get(j as u16)).enumerate().find_map(|(w, (p, q))| {
                let both = p & q;
                (both != 0).then(|| w * 64 + both.trailing_zeros() as usize)
            });
            table.push(first.map_or(MISS, |r| r as u16));
        }
    }
    Ok(Table::new(table, nb))
}

/// The first three joins of `shape` within `budget` bytes, their bytes plus those of the
/// last table, and the two class lists the last table joins.
fn joins(
    shape: Shape,
    src: &Classes,
    dst: &Classes,
    sport: &Classes,
    dport: &Classes,
    proto: &Classes,
    budget: &mut Budget,
) -> Result<(usize, [Table; 3], Classes, Classes), TooBig> {
    // Each shape has the whole byte budget; the work is shared by all.
    let mut left = *budget;
    let tried = joins_within(shape, src, dst, sport, dport, proto, &mut left);
    budget.work = left.work;
    tried
}

/// [`joins`], charging `left`.
fn joins_within(
    shape: Shape,
    src: &Classes,
    dst: &Classes,
    sport: &Classes,
    dport: &Classes,
    proto: &Classes,
    left: &mut Budget,
) -> Result<(usize, [Table; 3], Classes, Classes), TooBig> {
    let (t0, t1, t2, x, z) = match shape {
        Shape::Addrs | Shape::SrcPorts | Shape::DstPorts => {
            let (t0, ports) = cross(sport, dport, left)?;
            let (t1, pp) = cross(&ports, proto, left)?;
            let (x, y, z) = match shape {
                Shape::SrcPorts => (src, &pp, dst.clone()),
                Shape::DstPorts => (dst, &pp, src.clone()),
                _ => (src, dst, pp.clone()),
            };
            let (t2, xc) = cross(x, y, left)?;
            (t0, t1, t2, xc, z)
        }
        Shape::ChainSrcPort | Shape::ChainDstPort => {
            let (a, b) = if shape == Shape::ChainSrcPort {
                (sport, dport)
            } else {
                (dport, sport)
            };
            let (t0, sd) = cross(src, dst, left)?;
            let (t1, m) = cross(&sd, a, left)?;
            let (t2, o) = cross(b, proto, left)?;
            (t0, t1, t2, m, o)
        }
    };
    let last = x
        .len()
        .saturating_mul(z.len())
        .next_power_of_two()
        .saturating_mul(2);
    if last > left.bytes {
        return Err(TooBig);
    }
    let bytes = t0.bytes() + t1.bytes() + t2.bytes() + last;
    Ok((bytes, [t0, t1, t2], x, z))
}

impl Rfc {
    /// Builds the tables for IPv4 rules (`A::WORDS == 1`), or fails when they would take
    /// more than `budget` bytes or more classes than a `u16` names.
    pub(super) fn build<A: Addr>(rules: &[Rule<A>], budget: usize) -> Result<Rfc, TooBig> {
        Rfc::build_shapes(rules, budget, &Shape::ALL)
    }

    /// One classifier per shape, whatever its size, for tests.
    #[cfg(test)]
    pub(super) fn each_shape<A: Addr>(rules: &[Rule<A>]) -> Result<Vec<Rfc>, TooBig> {
        Shape::ALL
            .iter()
            .map(|s| Rfc::build_shapes(rules, usize::MAX, std::slice::from_ref(s)))
            .collect()
    }

    /// [`Rfc::build`] trying only `shapes`.
    fn build_shapes<A: Addr>(rules: &[Rule<A>], budget: usize, shapes: &[Shape]) -> Result<Rfc, TooBig> {
        if A::WORDS != 1 || rules.len() > MAX_RULES {
            return Err(TooBig);
        }
        let words = rules.len().div_ceil(64).max(1);
        let mut budget = Budget {
            bytes: budget.checked_sub(FIXED_BYTES).ok_or(TooBig)?,
            work: WORK,
        };
        // Built on the heap: 128 KiB each would crowd a test thread's stack.
        let mut chunks: [Box<[u16; CHUNK]>; 6] = std::array::from_fn(|_| {
            vec![0u16; CHUNK]
                .into_boxed_slice()
                .try_into()
                .unwrap_or_else(|_| unreachable!("CHUNK entries"))
        });
        let addr = |p: &super::Prefix<A>| (p.first().word(0), p.last().word(0));
        let spans: [Vec<(u32, u32)>; 6] = [
            rules
                .iter()
                .map(|r| addr(&r.src))
                .map(|(lo, hi)| (lo >> 16, hi >> 16))
                .collect(),
            rules.iter().map(|r| low(addr(&r.src))).collect(),
            rules
                .iter()
                .map(|r| addr(&r.dst))
                .map(|(lo, hi)| (lo >> 16, hi >> 16))
                .collect(),
            rules.iter().map(|r| low(addr(&r.dst))).collect(),
            rules
                .iter()
                .map(|r| (u32::from(r.src_ports.lo), u32::from(r.src_ports.hi)))
                .collect(),
            rules
                .iter()
                .map(|r| (u32::from(r.dst_ports.lo), u32::from(r.dst_ports.hi)))
                .collect(),
        ];
        let mut c0 = Vec::with_capacity(6);
        for (spans, table) in spans.iter().zip(chunks.iter_mut()) {
            c0.push(chunk(words, spans, &mut table[..])?);
        }
        let mut proto = Box::new([0u16; 256]);
        let mut pc = Classes::new(words);
        for (v, cell) in proto.iter_mut().enumerate() {
            let mut set = vec![0u64; words];
            for (i, r) in rules.iter().enumerate() {
                if v as u8 & r.proto_mask == r.proto {
                    set[i / 64] |= 1 << (i % 64);
                }
            }
            *cell = pc.intern(&set)?;
        }
        let (src, sc) = cross(&c0[0], &c0[1], &mut budget)?;
        let (dst, dc) = cross(&c0[2], &c0[3], &mut budget)?;
        // Every shape's first three joins; the last table's size follows from their class
        // counts, and only the smallest shape's is built.
        let mut best: Option<(usize, Shape, [Table; 3], Classes, Classes)> = None;
        for &shape in shapes {
            let Ok((bytes, tables, x, z)) = joins(shape, &sc, &dc, &c0[4], &c0[5], &pc, &mut budget) else {
                continue;
            };
            if best.as_ref().is_none_or(|b| bytes < b.0) {
                best = Some((bytes, shape, tables, x, z));
            }
        }
        let (_, shape, [t0, t1, t2], x, z) = best.ok_or(TooBig)?;
        budget.bytes = budget
            .bytes
            .checked_sub(t0.bytes() + t1.bytes() + t2.bytes())
            .ok_or(TooBig)?;
        let t3 = last(&x, &z, &mut budget)?;
        Ok(Rfc {
            chunks,
            proto,
            src,
            dst,
            joins: [t0, t1, t2, t3],
            shape,
        })
    }

    /// Bytes of every table.
    pub(super) fn memory_usage(&self) -> usize {
        std::mem::size_of::<Self>()
            + FIXED_BYTES
            + self.src.bytes()
            + self.dst.bytes()
            + self.joins.iter().map(Table::bytes).sum::<usize>()
    }

    /// The first matching rule's index, or `None`.
    #[inline(always)]
    pub(super) fn classify<A: Addr>(&self, key: &Key<A>) -> Option<u32> {
        let (src, dst) = (key.src.word(0), key.dst.word(0));
        let c = &self.chunks;
        let s = self
            .src
            .get(c[0][(src >> 16) as usize], c[1][(src & 0xffff) as usize]);
        let d = self
            .dst
            .get(c[2][(dst >> 16) as usize], c[3][(dst & 0xffff) as usize]);
        let sp = c[4][usize::from(key.src_port)];
        let dp = c[5][usize::from(key.dst_port)];
        let pr = self.proto[usize::from(key.proto)];
        let [t0, t1, t2, t3] = &self.joins;
        // PERF: the shape is the same for every key, so the branch predicts.
        let r = match self.shape {
            Shape::Addrs => t3.get(t2.get(s, d), t1.get(t0.get(sp, dp), pr)),
            Shape::SrcPorts => t3.get(t2.get(s, t1.get(t0.get(sp, dp), pr)), d),
            Shape::DstPorts => t3.get(t2.get(d, t1.get(t0.get(sp, dp), pr)), s),
            Shape::ChainSrcPort => t3.get(t1.get(t0.get(s, d), sp), t2.get(dp, pr)),
            Shape::ChainDstPort => t3.get(t1.get(t0.get(s, d), dp), t2.get(sp, pr)),
        };
        answer(r)
    }

    /// [`Rfc::classify`] of each key into `out` (same length).
    pub(super) fn classify_batch<A: Addr>(&self, keys: &[Key<A>], out: &mut [Option<u32>]) {
        for (o, k) in out.iter_mut().zip(keys) {
            *o = self.classify(k);
        }
    }
}

/// A final cell as an answer.
#[inline(always)]
fn answer(r: u16) -> Option<u32> {
    (r != MISS).then_some(u32::from(r))
}

/// The low 16 bits' span of an address span: all of them unless the high halves agree.
fn low((lo, hi): (u32, u32)) -> (u32, u32) {
    if lo >> 16 == hi >> 16 {
        (lo & 0xffff, hi & 0xffff)
    } else {
        (0, 0xffff)
    }
}
