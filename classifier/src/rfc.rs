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
//!
//! The build keeps each class both as a bit set and as the list of its rules: address
//! classes hold few rules, so a pair is combined by walking the shorter list, and a row's
//! pairs that share no rule at all (most of them, on host-to-host rules) are found from the
//! rules' lists of classes and filled with the empty set without being combined. The
//! source-destination join, which three shapes share, is built once.

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

/// The classes of one phase: each a set of rules, both as a bit set (to test a rule) and as
/// the sorted list of its rules (to walk it): the sets of address classes are mostly small,
/// so an intersection walks the shorter list rather than every word.
#[derive(Clone)]
struct Classes {
    words: usize,
    /// Class `c` is `bits[c * words..][..words]`.
    bits: Vec<u64>,
    /// Class `c` lists `members[starts[c]..starts[c + 1]]`.
    starts: Vec<usize>,
    members: Vec<u16>,
    /// Classes of at most `words` rules by their list, the others by their bit set: each
    /// key no longer than `words` words, so that interning costs what combining did.
    short: HashMap<Box<[u16]>, u16, FixedState>,
    long: HashMap<Box<[u64]>, u16, FixedState>,
}
/// What a build may still spend.
#[derive(Clone, Copy, Debug)]
struct Budget {
    /// Bytes of tables.
    bytes: usize,
    /// Rules tested to combine classes (see [`WORK`]).
    work: usize,
}

impl Budget {
    /// Charges a table of `cells` cells, and one unit of work per cell.
    fn take(&mut self, cells: usize) -> Result<(), TooBig> {
        // Charged as laid out: rounded up to a power of two (see `Table`).
        self.bytes = self
            .bytes
            .checked_sub(cells.next_power_of_two().saturating_mul(2))
            .ok_or(TooBig)?;
        self.spend(cells)
    }

    /// Charges `units` of work.
    #[inline(always)]
    fn spend(&mut self, units: usize) -> Result<(), TooBig> {
        self.work = self.work.checked_sub(units).ok_or(TooBig)?;
        Ok(())
    }
}

/// Rules tested to combine classes (plus one per cell), over every shape tried: bounds the
/// build's time.
const WORK: usize = 1 << 26;

/// The build ran over its budget.
#[derive(Debug)]
pub(super) struct TooBig;

impl Classes {
    fn new(words: usize) -> Classes {
        Classes {
            words,
            bits: Vec::new(),
            starts: vec![0],
            members: Vec::new(),
            short: HashMap::default(),
            long: HashMap::default(),
        }
    }

    fn len(&self) -> usize {
        self.starts.len() - 1
    }

    /// The rules of class `c`, in order.
    fn list(&self, c: usize) -> &[u16] {
        &self.members[self.starts[c]..self.starts[c + 1]]
    }

    /// The bit set of class `c`.
    fn bits(&self, c: usize) -> &[u64] {
        &self.bits[c * self.words..][..self.words]
    }

    /// Whether class `c` holds rule `r`.
    #[inline(always)]
    fn has(&self, c: usize, r: u16) -> bool {
        let r = usize::from(r);
        self.bits[c * self.words + r / 64] >> (r % 64) & 1 != 0
    }

    /// The class of the rules in `list` (in order), added if new.
    fn intern(&mut self, list: &[u16]) -> Result<u16, TooBig> {
        if list.len() > self.words {
            let mut set = vec![0u64; self.words];
            for &r in list {
                set[usize::from(r) / 64] |= 1 << (r % 64);
            }
            return self.intern_bits(&set, &mut Vec::new());
        }
        if let Some(&c) = self.short.get(list) {
            return Ok(c);
        }
        let c = self.add(list)?;
        self.short.insert(list.into(), c);
        Ok(c)
    }

    /// The class of the rules of bit set `set`, added if new; `list` is scratch space.
    fn intern_bits(&mut self, set: &[u64], list: &mut Vec<u16>) -> Result<u16, TooBig> {
        let count: usize = set.iter().map(|w| w.count_ones() as usize).sum();
        let c = if count <= self.words {
            None
        } else {
            match self.long.get(set) {
                Some(&c) => return Ok(c),
                None => Some(()),
            }
        };
        list.clear();
        for (w, &word) in set.iter().enumerate() {
            let mut word = word;
            while word != 0 {
                list.push((w * 64 + word.trailing_zeros() as usize) as u16);
                word &= word - 1;
            }
        }
        if c.is_none() {
            return self.intern(list);
        }
        let c = self.add(list)?;
        self.long.insert(set.into(), c);
        Ok(c)
    }

    /// Adds the class of `list`, not yet known.
    fn add(&mut self, list: &[u16]) -> Result<u16, TooBig> {
        let c = u16::try_from(self.len()).map_err(|_| TooBig)?;
        if c == MISS {
            return Err(TooBig);
        }
        let at = self.bits.len();
        self.bits.resize(at + self.words, 0);
        for &r in list {
            let r = usize::from(r);
            self.bits[at + r / 64] |= 1 << (r % 64);
        }
        self.members.extend_from_slice(list);
        self.starts.push(self.members.len());
        Ok(c)
    }

    /// The shorter of classes `i` of `self` and `j` of `other` to walk, and the other to test.
    #[inline(always)]
    fn pair<'a>(&'a self, i: usize, other: &'a Classes, j: usize) -> (&'a [u16], &'a Classes, usize) {
        let (x, y) = (self.list(i), other.list(j));
        if x.len() <= y.len() {
            (x, other, j)
        } else {
            (y, self, i)
        }
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
    let mut list = Vec::new();
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
        let c = classes.intern_bits(&set, &mut list)?;
        table[at as usize..next as usize].fill(c);
        at = next;
    }
    Ok(classes)
}

/// For each class of `a`, the classes of `b` that share a rule with it, when finding them
/// costs less than walking the whole row: most pairs of address classes share no rule, and
/// their cells are the empty set.
struct Rows {
    /// The classes of `b` that hold rule `r`: `holders[starts[r]..starts[r + 1]]`.
    starts: Vec<usize>,
    holders: Vec<u16>,
    /// `seen[j] == i + 1` once class `j` of `b` is listed for row `i`.
    seen: Vec<usize>,
    /// The classes of `b` listed for the current row.
    found: Vec<u16>,
}

impl Rows {
    fn new(b: &Classes, rules: usize, budget: &mut Budget) -> Result<Rows, TooBig> {
        budget.spend(b.members.len())?;
        // Counted, then placed: one allocation, not one per rule.
        let mut starts = vec![0usize; rules + 1];
        for &r in &b.members {
            starts[usize::from(r) + 1] += 1;
        }
        for r in 0..rules {
            starts[r + 1] += starts[r];
        }
        let mut next = starts.clone();
        let mut holders = vec![0u16; b.members.len()];
        for j in 0..b.len() {
            for &r in b.list(j) {
                let at = &mut next[usize::from(r)];
                holders[*at] = j as u16;
                *at += 1;
            }
        }
        Ok(Rows {
            starts,
            holders,
            seen: vec![0; b.len()],
            found: Vec::new(),
        })
    }

    /// The classes of `b` that hold rule `r`.
    #[inline(always)]
    fn of(&self, r: u16) -> &[u16] {
        let r = usize::from(r);
        &self.holders[self.starts[r]..self.starts[r + 1]]
    }

    /// The classes of `b` that share a rule with class `i` of `a`, or `None` when the row is
    /// cheaper walked whole; charges `budget` what it walked.
    fn sharing(&mut self, a: &Classes, i: usize, budget: &mut Budget) -> Result<Option<&[u16]>, TooBig> {
        let list = a.list(i);
        let mut cost = 0;
        for &r in list {
            cost += self.of(r).len();
            if cost >= self.seen.len() {
                budget.spend(cost)?;
                return Ok(None);
            }
        }
        budget.spend(cost)?;
        self.found.clear();
        for &r in list {
            let (starts, holders) = (&self.starts, &self.holders);
            for &j in &holders[starts[usize::from(r)]..starts[usize::from(r) + 1]] {
                if self.seen[usize::from(j)] != i + 1 {
                    self.seen[usize::from(j)] = i + 1;
                    self.found.push(j);
                }
            }
        }
        Ok(Some(&self.found))
    }
}

/// The class in `out` of the rules that class `i` of `a` and class `j` of `b` share; `set`
/// and `words` are scratch space. Charges `budget` the cheaper of walking the shorter list
/// and combining the words.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn both(
    a: &Classes,
    i: usize,
    b: &Classes,
    j: usize,
    out: &mut Classes,
    set: &mut Vec<u16>,
    words: &mut [u64],
    budget: &mut Budget,
) -> Result<u16, TooBig> {
    let (walk, test, t) = a.pair(i, b, j);
    if walk.len() <= a.words {
        budget.spend(walk.len())?;
        set.clear();
        set.extend(walk.iter().copied().filter(|&r| test.has(t, r)));
        out.intern(set)
    } else {
        // Long lists: word by word is cheaper.
        budget.spend(a.words)?;
        for ((w, p), q) in words.iter_mut().zip(a.bits(i)).zip(b.bits(j)) {
            *w = p & q;
        }
        out.intern_bits(words, set)
    }
}

/// The cross product of `a` and `b`: a table of `a.len() * b.len()` cells and its classes.
fn cross(a: &Classes, b: &Classes, budget: &mut Budget) -> Result<(Table, Classes), TooBig> {
    let (na, nb) = (a.len(), b.len());
    let cells = na.checked_mul(nb).ok_or(TooBig)?;
    budget.take(cells)?;
    let mut rows = Rows::new(b, a.words * 64, budget)?;
    let mut out = Classes::new(a.words);
    let mut table = Vec::with_capacity(cells);
    let mut set = Vec::new();
    let mut words = vec![0u64; a.words];
    let mut empty = None;
    for i in 0..na {
        if let Some(found) = rows.sharing(a, i, budget)? {
            // Every cell but those found is the empty set.
            let row = table.len();
            if found.len() < nb {
                let e = match empty {
                    Some(e) => e,
                    None => *empty.insert(out.intern(&[])?),
                };
                table.resize(row + nb, e);
            } else {
                table.resize(row + nb, MISS);
            }
            for &j in found {
                table[row + usize::from(j)] =
                    both(a, i, b, usize::from(j), &mut out, &mut set, &mut words, budget)?;
            }
            continue;
        }
        for j in 0..nb {
            table.push(both(a, i, b, j, &mut out, &mut set, &mut words, budget)?);
        }
    }
    Ok((Table::new(table, nb), out))
}

/// The cross product of `a` and `b` to the first rule of each intersection.
fn last(a: &Classes, b: &Classes, budget: &mut Budget) -> Result<Table, TooBig> {
    let (na, nb) = (a.len(), b.len());
    let cells = na.checked_mul(nb).ok_or(TooBig)?;
    budget.take(cells)?;
    let mut rows = Rows::new(b, a.words * 64, budget)?;
    let mut table = Vec::with_capacity(cells);
    let first = |i: usize, j: usize, budget: &mut Budget| -> Result<u16, TooBig> {
        let (walk, test, t) = a.pair(i, b, j);
        let first = if walk.len() <= a.words {
            budget.spend(walk.len())?;
            // Both lists are in rule order: the first of the shorter that the other holds.
            walk.iter().copied().find(|&r| test.has(t, r))
        } else {
            budget.spend(a.words)?;
            a.bits(i)
                .iter()
                .zip(b.bits(j))
                .enumerate()
                .find_map(|(w, (p, q))| {
                    let both = p & q;
                    (both != 0).then(|| (w * 64 + both.trailing_zeros() as usize) as u16)
                })
        };
        Ok(first.unwrap_or(MISS))
    };
    for i in 0..na {
        if let Some(found) = rows.sharing(a, i, budget)? {
            let row = table.len();
            table.resize(row + nb, MISS);
            for &j in found {
                table[row + usize::from(j)] = first(i, usize::from(j), budget)?;
            }
            continue;
        }
        for j in 0..nb {
            table.push(first(i, j, budget)?);
        }
    }
    Ok(Table::new(table, nb))
}

/// The join of the source and destination classes, which three shapes share: built once.
type Both = Option<Result<(Table, Classes), TooBig>>;

/// The first three joins of `shape` within `budget` bytes, their bytes plus those of the
/// last table, and the two class lists the last table joins.
#[allow(clippy::too_many_arguments)]
fn joins(
    shape: Shape,
    src: &Classes,
    dst: &Classes,
    sport: &Classes,
    dport: &Classes,
    proto: &Classes,
    both: &mut Both,
    budget: &mut Budget,
) -> Result<(usize, [Table; 3], Classes, Classes), TooBig> {
    // Each shape has the whole byte budget; the work is shared by all.
    let mut left = *budget;
    let tried = joins_within(shape, src, dst, sport, dport, proto, both, &mut left);
    budget.work = left.work;
    tried
}

/// [`joins`], charging `left`.
#[allow(clippy::too_many_arguments)]
fn joins_within(
    shape: Shape,
    src: &Classes,
    dst: &Classes,
    sport: &Classes,
    dport: &Classes,
    proto: &Classes,
    both: &mut Both,
    left: &mut Budget,
) -> Result<(usize, [Table; 3], Classes, Classes), TooBig> {
    let mut src_dst = |left: &mut Budget| -> Result<(Table, Classes), TooBig> {
        if both.is_none() {
            // Charged to the first shape that builds it; later ones are charged its bytes.
            let mut first = *left;
            *both = Some(cross(src, dst, &mut first));
            left.work = first.work;
        }
        match both {
            Some(Ok((t, c))) => {
                left.bytes = left.bytes.checked_sub(t.bytes()).ok_or(TooBig)?;
                Ok((t.clone(), c.clone()))
            }
            _ => Err(TooBig),
        }
    };
    let (t0, t1, t2, x, z) = match shape {
        Shape::Addrs | Shape::SrcPorts | Shape::DstPorts => {
            let (t0, ports) = cross(sport, dport, left)?;
            let (t1, pp) = cross(&ports, proto, left)?;
            let (t2, xc, z) = match shape {
                Shape::SrcPorts => {
                    let (t2, xc) = cross(src, &pp, left)?;
                    (t2, xc, dst.clone())
                }
                Shape::DstPorts => {
                    let (t2, xc) = cross(dst, &pp, left)?;
                    (t2, xc, src.clone())
                }
                _ => {
                    let (t2, xc) = src_dst(left)?;
                    (t2, xc, pp)
                }
            };
            (t0, t1, t2, xc, z)
        }
        Shape::ChainSrcPort | Shape::ChainDstPort => {
            let (a, b) = if shape == Shape::ChainSrcPort {
                (sport, dport)
            } else {
                (dport, sport)
            };
            let (t0, sd) = src_dst(left)?;
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
            rules.iter().map(|r| high(addr(&r.src))).collect(),
            rules.iter().map(|r| low(addr(&r.src))).collect(),
            rules.iter().map(|r| high(addr(&r.dst))).collect(),
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
        let mut set = Vec::new();
        for (v, cell) in proto.iter_mut().enumerate() {
            set.clear();
            set.extend(
                (0..rules.len() as u16)
                    .filter(|&i| v as u8 & rules[usize::from(i)].proto_mask == rules[usize::from(i)].proto),
            );
            *cell = pc.intern(&set)?;
        }
        let (src, sc) = cross(&c0[0], &c0[1], &mut budget)?;
        let (dst, dc) = cross(&c0[2], &c0[3], &mut budget)?;
        // Every shape's first three joins; the last table's size follows from their class
        // counts, and only the smallest shape's is built.
        let mut best: Option<(usize, Shape, [Table; 3], Classes, Classes)> = None;
        let mut both = None;
        for &shape in shapes {
            let Ok((bytes, tables, x, z)) =
                joins(shape, &sc, &dc, &c0[4], &c0[5], &pc, &mut both, &mut budget)
            else {
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

/// The high 16 bits' span of an address span.
fn high((lo, hi): (u32, u32)) -> (u32, u32) {
    (lo >> 16, hi >> 16)
}

/// The low 16 bits' span of an address span: all of them unless the high halves agree.
fn low((lo, hi): (u32, u32)) -> (u32, u32) {
    if lo >> 16 == hi >> 16 {
        (lo & 0xffff, hi & 0xffff)
    } else {
        (0, 0xffff)
    }
}
