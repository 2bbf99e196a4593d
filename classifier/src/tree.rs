//! The decision trees behind [`super::Classifier`].
//!
//! Every rule is a box in "field space": one `u32` interval per dimension, where the
//! dimensions are the 32-bit words of the source address, those of the destination
//! address, the source port, the destination port and the protocol. A prefix is exactly
//! such a product of word intervals (covered words fixed, the partial word a range, the
//! rest free), so the box is exact for addresses and ports; for the protocol it is the hull
//! `[proto, proto | !mask]` and the leaf check applies the mask.
//!
//! A tree node splits one dimension into up to `N` (8 or 16) intervals at arbitrary points,
//! chosen so that the largest child holds as few rules as possible. A leaf lists the rules
//! that reach it in priority order, each stored in full so the scan needs no other memory.
//! A tree whose rules are narrow in one address may start with a root table instead: the
//! top `k` bits of that address index an array of subtrees, one load in place of the first
//! levels of nodes.

use super::simd::{Avx2, Count, Portable};
use super::{Addr, Key, Rule};

/// Keys a batch lookup interleaves.
const LANES: usize = 8;
/// A tree that at most this many lanes of a batch still need is walked by those lanes one
/// at a time: stepping the others' empty leaves costs more than the overlap buys (measured
/// on ClassBench fw1 10k, batch 64: 10% faster; no set slower).
const SOLO: usize = 2;
/// Room for every field (IPv6: 4 + 4 address words, 2 ports, protocol), rounded up to a
/// power of two so that indexing by a 4-bit field number needs no bounds check.
const DIMS: usize = 16;
/// Rule index meaning "no match yet"; larger than every real index.
pub(super) const NONE: u32 = 0x7fff_ffff;
/// Set in a reference that points at a leaf; the other bits hold the leaf's first slot.
/// A node reference holds the field to test in bits 27..31 and the node index below.
pub(super) const LEAF: u32 = 1 << 31;
/// The reference of the empty leaf (slot 0 is a sentinel that ends every scan).
pub(super) const EMPTY: u32 = LEAF;

/// One decision node: `child[#{i : thr[i] < field}]`, where the field is the one named in
/// the reference to the node (bits 27..31) and both sides are biased (see [`bias`]).
// PERF: one cache line per node for N = 8, two for N = 16 (measured: 8 is faster while the
// structure sits in L2, 16 once it does not). Thresholds past the used ones are `i32::MAX`,
// so the count never selects an unused child; the signed compares vectorise with plain SSE2.
// INVARIANT: N is a power of two.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
pub(super) struct Node<const N: usize> {
    thr: [i32; N],
    child: [u32; N],
}

impl<const N: usize> Node<N> {
    /// Node 0, where leaves point during the lockstep descent: its every child is 0, so
    /// that [`Forest::step`] can or a leaf's own reference back in.
    const DUMMY: Self = Node {
        thr: [i32::MAX; N],
        child: [0; N],
    };

    /// The child for biased field value `v`.
    #[inline(always)]
    fn child<C: Count>(&self, v: i32, count: C) -> u32 {
        self.child[count.below(&self.thr, v) & (N - 1)]
    }
}

/// Maps `u32` order onto `i32` order.
#[inline(always)]
fn bias(v: u32) -> i32 {
    (v ^ 0x8000_0000) as i32
}

/// Bits of a node reference holding the node index.
const INDEX: u32 = (1 << 27) - 1;

/// The field a node reference tests.
#[inline(always)]
fn dim_of(r: u32) -> usize {
    ((r >> 27) as usize) & (DIMS - 1)
}

/// One rule in a leaf, with everything its check needs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Slot<A: Addr> {
    src: A,
    src_mask: A,
    dst: A,
    dst_mask: A,
    sport_lo: u16,
    sport_hi: u16,
    dport_lo: u16,
    dport_hi: u16,
    proto: u8,
    proto_mask: u8,
    /// `index << 1 | last`, where `last` marks the final slot of a leaf.
    meta: u32,
}

impl<A: Addr> Slot<A> {
    const SENTINEL: Self = Slot {
        src: A::ZERO,
        src_mask: A::ZERO,
        dst: A::ZERO,
        dst_mask: A::ZERO,
        sport_lo: 0,
        sport_hi: 0,
        dport_lo: 0,
        dport_hi: 0,
        proto: 0,
        proto_mask: 0,
        meta: NONE << 1 | 1,
    };

    fn new(rule: &Rule<A>, index: u32) -> Self {
        Slot {
            src: rule.src.addr,
            src_mask: A::mask(rule.src.len),
            dst: rule.dst.addr,
            dst_mask: A::mask(rule.dst.len),
            sport_lo: rule.src_ports.lo,
            sport_hi: rule.src_ports.hi,
            dport_lo: rule.dst_ports.lo,
            dport_hi: rule.dst_ports.hi,
            proto: rule.proto,
            proto_mask: rule.proto_mask,
            meta: index << 1,
        }
    }

    // PERF: the differences are or-ed together and tested once, so the check has no
    // data-dependent branch.
    #[inline(always)]
    fn matches(&self, k: &Key<A>) -> bool {
        let addr = k
            .src
            .and(self.src_mask)
            .xor(self.src)
            .or(k.dst.and(self.dst_mask).xor(self.dst));
        let sport = u32::from(k.src_port).wrapping_sub(u32::from(self.sport_lo))
            > u32::from(self.sport_hi.wrapping_sub(self.sport_lo));
        let dport = u32::from(k.dst_port).wrapping_sub(u32::from(self.dport_lo))
            > u32::from(self.dport_hi.wrapping_sub(self.dport_lo));
        let proto = (k.proto & self.proto_mask) ^ self.proto;
        (addr == A::ZERO) & ((u32::from(sport) | u32::from(dport) | u32::from(proto)) == 0)
    }
}

/// A forest of trees over shared node and slot arenas.
#[derive(Clone, Debug)]
pub(super) struct Forest<A: Addr, const N: usize> {
    nodes: Vec<Node<N>>,
    slots: Vec<Slot<A>>,
    /// The root tables of every tree that has one, one after another.
    tables: Vec<u32>,
    /// Each tree, best first.
    roots: Vec<Root>,
    /// Always 1; see [`Forest::step`] and [`Portable`].
    unit: i32,
    /// Present when this CPU steps nodes with AVX2.
    avx2: Option<Avx2>,
}

/// One tree of a forest.
#[derive(Clone, Copy, Debug)]
struct Root {
    /// Reference of the root node, or with a root table the table's offset in `tables`.
    at: u32,
    /// With a root table, the field it indexes.
    dim: u32,
    /// With a root table, `32 - k`: the shift that leaves the field's top `k` bits; 0
    /// without one.
    shift: u32,
    /// Smallest rule index in the tree.
    first: u32,
    /// Levels the batch lookup takes in lockstep before finishing each key alone: the
    /// average leaf depth, weighted by leaf size.
    lockstep: u32,
}

/// Tuning knobs of the builder.
#[derive(Clone, Copy, Debug)]
pub(super) struct Params {
    /// A node with at most this many rules becomes a leaf.
    pub leaf: usize,
    /// Deepest node level.
    pub max_depth: usize,
    /// Most bytes of nodes, slots and tables.
    pub max_bytes: usize,
    /// Whether trees start with a root table.
    pub tables: Tables,
}

/// When a tree starts with a root table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Tables {
    /// When [`Builder::table_plan`] finds one worth having.
    Auto,
    /// Never.
    Off,
    /// Always, on the top word of the source (`false`) or destination (`true`) address,
    /// `2^k` slices: lets the tests reach table code with small rule sets.
    #[cfg_attr(not(test), allow(dead_code))]
    Force { dst: bool, k: u32 },
}

impl Default for Params {
    fn default() -> Self {
        Params {
            leaf: 4,
            max_depth: 40,
            max_bytes: 1 << 30,
            tables: Tables::Auto,
        }
    }
}

/// Nodes with at most this many rules drop the rules that an earlier one covers there.
const SHADOW_CHECK: usize = 32;

/// How much a split's largest child weighs against the sum of its children's rule counts
/// (the copies it makes). Measured on ClassBench: lookups barely change between 1 and 16,
/// memory grows with it, and below 4 the fw sets get long leaves.
const MAX_WEIGHT: usize = 4;

/// Field-space view of the rules during the build.
struct Builder<'a, A: Addr, const N: usize> {
    rules: &'a [Rule<A>],
    dims: usize,
    /// Per field, then per rule: the low and high ends of each rule's box (field-major,
    /// since a split scans one field over many rules).
    bounds: Vec<(u32, u32)>,
    nodes: Vec<Node<N>>,
    slots: Vec<Slot<A>>,
    tables: Vec<u32>,
    params: Params,
    /// Leaf depths weighted by leaf size, and the weights, in the tree being built.
    depth_sum: usize,
    depth_weight: usize,
    /// Buffers [`Builder::plan`] reuses.
    scratch: Scratch,
}

/// The working vectors of [`Builder::plan`], kept between calls (PERF: allocated per call,
/// they were a third of a small classifier's build, measured by callgrind on the
/// `update_latency` example's new combinations).
#[derive(Default)]
struct Scratch {
    pts: Vec<u32>,
    diff: Vec<i64>,
    starts: Vec<usize>,
    ov: Vec<usize>,
    prefix: Vec<usize>,
    ends: Vec<usize>,
    /// [`Builder::runs`]' own.
    delta: Vec<i32>,
    cut: Vec<bool>,
    events: Vec<u64>,
}

/// A region of field space: per field, its low or its high end (fields past the tree's
/// count unused). An array, so that a child's region is a copy, not an allocation.
type Region = [u32; DIMS];

/// How one dimension would be split.
struct Plan {
    dim: usize,
    /// Largest child rule count.
    max: usize,
    /// Sum of child rule counts.
    sum: usize,
    /// Last value of each child but the last: the first `n_ends`.
    ends: [u32; 16],
    n_ends: usize,
}

impl Plan {
    fn ends(&self) -> &[u32] {
        &self.ends[..self.n_ends]
    }
}

/// A root table: field `dim` (an address's top word) cut into `2^k` slices, with the
/// runs of slices that share their rules (see [`Builder::runs`]).
struct TablePlan {
    dim: usize,
    k: u32,
    runs: Vec<(u32, usize)>,
}

impl TablePlan {
    /// The shift that leaves a field's top `k` bits.
    fn shift(&self) -> u32 {
        32 - self.k
    }
}

/// Trees with fewer rules get no root table.
const TABLE_MIN_RULES: usize = 64;
/// Root table sizes tried, in bits.
const TABLE_BITS: [u32; 5] = [8, 10, 12, 14, 16];

/// The builder ran over its byte budget.
#[derive(Debug)]
pub(super) struct TooBig;

impl<A: Addr, const N: usize> Forest<A, N> {
    /// Builds one tree per rule group; `groups` lists rule indexes in priority order.
    pub(super) fn build(rules: &[Rule<A>], groups: &[Vec<u32>], params: Params) -> Result<Self, TooBig> {
        let dims = 2 * A::WORDS + 3;
        let mut bounds = vec![(0, 0); rules.len() * dims];
        let mut lo = vec![0u32; dims];
        let mut hi = vec![0u32; dims];
        for (i, r) in rules.iter().enumerate() {
            rule_box(r, &mut lo, &mut hi);
            for d in 0..dims {
                bounds[d * rules.len() + i] = (lo[d], hi[d]);
            }
        }
        let mut b = Builder {
            rules,
            dims,
            bounds,
            // Node 0 stands in for leaves during the lockstep descent.
            nodes: vec![Node::<N>::DUMMY],
            slots: vec![Slot::SENTINEL],
            tables: Vec::new(),
            params,
            depth_sum: 0,
            depth_weight: 0,
            scratch: Scratch::default(),
        };
        let mut roots = Vec::new();
        // The rule lists of the nodes being built, each node's at the end (see
        // [`Builder::node`]).
        let mut stack: Vec<u32> = Vec::with_capacity(rules.len() * 4);
        for group in groups {
            let ids: Vec<u32> = group
                .iter()
                .copied()
                .filter(|&i| !never_matches(&rules[i as usize]))
                .collect();
            let Some(&first) = ids.first() else { continue };
            let region_lo: Region = [0u32; DIMS];
            let mut region_hi: Region = [u32::MAX; DIMS];
            region_hi[2 * A::WORDS] = 65535;
            region_hi[2 * A::WORDS + 1] = 65535;
            region_hi[2 * A::WORDS + 2] = 255;
            b.depth_sum = 0;
            b.depth_weight = 0;
            let (at, dim, shift) = match b.table_plan(&ids) {
                Some(plan) => (
                    b.table(&ids, &plan, &region_lo, &region_hi, &mut stack)?,
                    plan.dim as u32,
                    plan.shift(),
                ),
                None => {
                    stack.clear();
                    stack.extend_from_slice(&ids);
                    (b.node(&mut stack, 0, region_lo, region_hi, 0)?, 0, 0)
                }
            };
            let lockstep = (b.depth_sum / b.depth_weight.max(1)) as u32;
            roots.push(Root {
                at,
                dim,
                shift,
                first,
                lockstep,
            });
        }
        roots.sort_by_key(|r| r.first);
        let mut nodes = b.nodes;
        let mut slots = b.slots;
        let mut tables = b.tables;
        nodes.shrink_to_fit();
        slots.shrink_to_fit();
        tables.shrink_to_fit();
        Ok(Forest {
            nodes,
            slots,
            tables,
            roots,
            unit: 1,
            avx2: Avx2::detect(),
        })
    }

    pub(super) fn memory_usage(&self) -> usize {
        self.nodes.capacity() * std::mem::size_of::<Node<N>>()
            + self.slots.capacity() * std::mem::size_of::<Slot<A>>()
            + self.tables.capacity() * std::mem::size_of::<u32>()
            + self.roots.capacity() * std::mem::size_of::<Root>()
    }

    /// Index of the first matching rule, or [`NONE`].
    #[inline]
    pub(super) fn classify(&self, key: &Key<A>) -> u32 {
        self.classify_below(key, NONE)
    }

    /// The first rule of the forest: a lookup whose answer is already below it need not
    /// walk any tree.
    #[inline(always)]
    pub(super) fn first(&self) -> u32 {
        self.roots.first().map_or(NONE, |r| r.first)
    }

    /// The better of `best` and the first matching rule: [`NONE`] if neither.
    #[inline]
    pub(super) fn classify_below(&self, key: &Key<A>, best: u32) -> u32 {
        match self.avx2 {
            Some(avx2) => avx2.run(|c| self.classify_with(key, c, best)),
            None => self.classify_with(key, self.portable(), best),
        }
    }

    /// [`Forest::classify`] with AVX2 node steps, for a caller already inside
    /// [`Avx2::run`] (see [`crate::Simd::run`]).
    #[inline(always)]
    pub(super) fn classify_with_avx2(&self, key: &Key<A>, avx2: Avx2) -> u32 {
        self.classify_with(key, avx2, NONE)
    }

    /// [`Forest::classify_batch`] with AVX2 node steps, as [`Forest::classify_with_avx2`].
    #[inline(always)]
    pub(super) fn classify_batch_with_avx2(&self, keys: &[Key<A>], out: &mut [Option<u32>], avx2: Avx2) {
        self.batch_with::<_, false>(keys, out, avx2);
    }

    /// The portable node step.
    #[inline(always)]
    fn portable(&self) -> Portable {
        Portable { unit: self.unit }
    }

    /// The same forest with the portable node step only, for tests and comparisons.
    pub(super) fn without_simd(mut self) -> Self {
        self.avx2 = None;
        self
    }

    /// Whether lookups step nodes with AVX2.
    pub(super) fn uses_avx2(&self) -> bool {
        self.avx2.is_some()
    }

    /// [`Forest::classify`] with node steps counted by `c`.
    #[inline(always)]
    fn classify_with<C: Count>(&self, key: &Key<A>, c: C, mut best: u32) -> u32 {
        let f = key_fields(key);
        for root in &self.roots {
            if root.first >= best {
                break;
            }
            let leaf = self.descend(&f, self.entry(root, &f), c);
            best = self.scan(leaf, key, best);
        }
        best
    }

    /// Moves every lane that is not done through the root table.
    #[inline(never)]
    fn enter(&self, root: &Root, f: &[[i32; DIMS]; LANES], r: &mut [u32; LANES]) {
        for (rl, fl) in r.iter_mut().zip(f) {
            if *rl != EMPTY {
                *rl = self.entry(root, fl);
            }
        }
    }

    /// Where a lookup of `f` enters the tree of `root`: through its table if it has one.
    #[inline(always)]
    fn entry(&self, root: &Root, f: &[i32; DIMS]) -> u32 {
        if root.shift == 0 {
            return root.at;
        }
        let field = (f[(root.dim as usize) & (DIMS - 1)] as u32) ^ 0x8000_0000;
        let top = field >> (root.shift & 31);
        // The index is in range by construction; a miss would only mean "no rule here".
        self.tables
            .get(root.at as usize + top as usize)
            .copied()
            .unwrap_or(EMPTY)
    }

    /// Classifies `keys` into `out` (same length), interleaving [`LANES`] keys at a time.
    pub(super) fn classify_batch(&self, keys: &[Key<A>], out: &mut [Option<u32>]) {
        match self.avx2 {
            Some(avx2) => avx2.run(|c| self.batch_with::<_, false>(keys, out, c)),
            None => self.batch_with::<_, false>(keys, out, self.portable()),
        }
    }

    /// [`Forest::classify_batch`] where each entry of `out` already holds an answer from
    /// earlier rules of the same list: it is kept unless a rule of the forest comes first.
    pub(super) fn classify_batch_below(&self, keys: &[Key<A>], out: &mut [Option<u32>]) {
        match self.avx2 {
            Some(avx2) => avx2.run(|c| self.batch_with::<_, true>(keys, out, c)),
            None => self.batch_with::<_, true>(keys, out, self.portable()),
        }
    }

    /// [`Forest::classify_batch`] with node steps counted by `c`.
    #[inline(always)]
    fn batch_with<C: Count, const SEEDED: bool>(&self, keys: &[Key<A>], out: &mut [Option<u32>], c: C) {
        let mut ks = keys.chunks_exact(LANES);
        let mut os = out.chunks_exact_mut(LANES);
        for (k, o) in (&mut ks).zip(&mut os) {
            self.lanes::<C, SEEDED>(k, o, c);
        }
        for (k, o) in ks.remainder().iter().zip(os.into_remainder()) {
            let seed = if SEEDED { o.unwrap_or(NONE) } else { NONE };
            let i = self.classify_with(k, c, seed);
            *o = (i != NONE).then_some(i);
        }
    }

    /// [`LANES`] keys through every tree together.
    // PERF: the first `lockstep` levels advance all lanes without branches, so their loads
    // overlap; then each lane finishes its descent, and every lane's first leaf slot is read
    // before any scan so those misses overlap too. Measured against stepping all lanes to
    // the bottom and against branch-free leaf scans: both slower.
    #[inline(always)]
    fn lanes<C: Count, const SEEDED: bool>(&self, keys: &[Key<A>], out: &mut [Option<u32>], c: C) {
        if SEEDED && out.iter().all(|o| o.is_some_and(|b| b <= self.first())) {
            return;
        }
        let mut f = [[0i32; DIMS]; LANES];
        for (fl, k) in f.iter_mut().zip(keys) {
            *fl = key_fields(k);
        }
        let mut best = [NONE; LANES];
        if SEEDED {
            for (b, o) in best.iter_mut().zip(out.iter()) {
                *b = o.unwrap_or(NONE);
            }
        }
        for root in &self.roots {
            if best.iter().all(|&b| b <= root.first) {
                break;
            }
            // A tree that only a few lanes still need is walked by those alone.
            // PERF: counted apart from the `all` above on purpose: one shared count measured
            // 5-7% slower on single-tree batches (ipc1_1k, acl1_1k), by code placement.
            if best.iter().filter(|&&b| b > root.first).count() <= SOLO {
                self.solo(root, &f, keys, &mut best, c);
                continue;
            }
            // Lanes that already beat every rule of the tree wait at the empty leaf.
            let mut r = best.map(|b| if b <= root.first { EMPTY } else { root.at });
            if root.shift != 0 {
                self.enter(root, &f, &mut r);
            }
            for _ in 0..root.lockstep {
                for (rl, fl) in r.iter_mut().zip(&f) {
                    *rl = self.step(fl, *rl, c);
                }
            }
            for (rl, fl) in r.iter_mut().zip(&f) {
                *rl = self.descend(fl, *rl, c);
            }
            let first = r.map(|x| self.slots.get((x & !LEAF) as usize).map_or(0, |s| s.meta));
            for l in 0..LANES {
                if first[l] >> 1 < best[l] {
                    best[l] = self.scan(r[l], &keys[l], best[l]);
                }
            }
        }
        for (o, b) in out.iter_mut().zip(best) {
            *o = (b != NONE).then_some(b);
        }
    }

    /// The lanes that still need the tree of `root` walk it one at a time.
    // PERF: kept out of line, so that it does not disturb the code of the lockstep walk
    // (inlined, it made single-tree batches 9% slower).
    #[inline(never)]
    fn solo<C: Count>(
        &self,
        root: &Root,
        f: &[[i32; DIMS]; LANES],
        keys: &[Key<A>],
        best: &mut [u32; LANES],
        c: C,
    ) {
        c.run(|c| {
            for ((b, fl), k) in best.iter_mut().zip(f).zip(keys) {
                if *b > root.first {
                    *b = self.scan(self.descend(fl, self.entry(root, fl), c), k, *b);
                }
            }
        })
    }

    /// One branch-free level: from a node to its child; a leaf stays put.
    #[inline(always)]
    fn step<C: Count>(&self, f: &[i32; DIMS], r: u32, c: C) -> u32 {
        // PERF: masked with `-unit` (all ones, but not to the compiler) so that the blend
        // below stays arithmetic; seen as a select, it became a mispredicted branch.
        let stay = (((r as i32) >> 31) & -self.unit) as u32;
        let node = r & !stay;
        let n = &self.nodes[(node & INDEX) as usize];
        n.child(f[dim_of(node)], c) | (r & stay)
    }

    /// Follows the tree from `r` to a leaf reference.
    #[inline(always)]
    fn descend<C: Count>(&self, f: &[i32; DIMS], mut r: u32, c: C) -> u32 {
        while r & LEAF == 0 {
            r = self.nodes[(r & INDEX) as usize].child(f[dim_of(r)], c);
        }
        r
    }

    /// The better of `best` and the first rule of leaf `r` that matches.
    #[inline(always)]
    fn scan(&self, r: u32, key: &Key<A>, mut best: u32) -> u32 {
        for s in self.slots.get((r & !LEAF) as usize..).unwrap_or_default() {
            let index = s.meta >> 1;
            if index >= best {
                break;
            }
            if s.matches(key) {
                best = index;
                break;
            }
            if s.meta & 1 != 0 {
                break;
            }
        }
        best
    }
}

/// Bytes of one leaf slot.
pub(super) fn slot_bytes<A: Addr>() -> usize {
    std::mem::size_of::<Slot<A>>()
}

/// Whether the protocol test can never pass (a value bit outside the mask).
fn never_matches<A: Addr>(r: &Rule<A>) -> bool {
    r.proto & !r.proto_mask != 0
}

/// The key in field space, biased (see [`bias`]).
#[inline(always)]
fn key_fields<A: Addr>(k: &Key<A>) -> [i32; DIMS] {
    let mut out = [0i32; DIMS];
    let w = A::WORDS;
    for i in 0..w {
        out[i] = bias(k.src.word(i));
        out[w + i] = bias(k.dst.word(i));
    }
    out[2 * w] = bias(u32::from(k.src_port));
    out[2 * w + 1] = bias(u32::from(k.dst_port));
    out[2 * w + 2] = bias(u32::from(k.proto));
    out
}

/// The rule's box in field space.
fn rule_box<A: Addr>(r: &Rule<A>, lo: &mut [u32], hi: &mut [u32]) {
    let w = A::WORDS;
    for (base, p) in [(0, &r.src), (w, &r.dst)] {
        let first = p.first();
        let last = p.last();
        for i in 0..w {
            lo[base + i] = first.word(i);
            hi[base + i] = last.word(i);
        }
    }
    lo[2 * w] = u32::from(r.src_ports.lo);
    hi[2 * w] = u32::from(r.src_ports.hi);
    lo[2 * w + 1] = u32::from(r.dst_ports.lo);
    hi[2 * w + 1] = u32::from(r.dst_ports.hi);
    lo[2 * w + 2] = u32::from(r.proto);
    hi[2 * w + 2] = u32::from(r.proto | !r.proto_mask);
}

impl<A: Addr, const N: usize> Builder<'_, A, N> {
    #[inline]
    fn lo(&self, id: u32, dim: usize) -> u32 {
        self.bounds[dim * self.rules.len() + id as usize].0
    }

    #[inline]
    fn hi(&self, id: u32, dim: usize) -> u32 {
        self.bounds[dim * self.rules.len() + id as usize].1
    }

    /// Bytes of nodes, slots and tables after adding `nodes` and `slots` more.
    fn bytes(&self, nodes: usize, slots: usize) -> usize {
        (self.nodes.len() + nodes) * std::mem::size_of::<Node<N>>()
            + (self.slots.len() + slots) * std::mem::size_of::<Slot<A>>()
            + self.tables.len() * std::mem::size_of::<u32>()
    }

    /// The root table worth having for `ids`, if any: on the top word of the source or
    /// the destination address, with `k` bits chosen so that a lookup's slice holds few
    /// rules without copying wide rules into many slices.
    fn table_plan(&mut self, ids: &[u32]) -> Option<TablePlan> {
        let mut scratch = std::mem::take(&mut self.scratch);
        let plan = self.table_plan_in(ids, &mut scratch);
        self.scratch = scratch;
        plan
    }

    /// [`Builder::table_plan`] with the builder's buffers.
    fn table_plan_in(&self, ids: &[u32], scratch: &mut Scratch) -> Option<TablePlan> {
        let n = ids.len();
        match self.params.tables {
            Tables::Off => return None,
            Tables::Force { dst, k } => {
                let k = k.clamp(1, 16);
                let dim = if dst { A::WORDS } else { 0 };
                let mut runs = Vec::new();
                self.runs(ids, dim, 32 - k, scratch, &mut runs);
                return Some(TablePlan { dim, k, runs });
            }
            Tables::Auto if n < TABLE_MIN_RULES => return None,
            Tables::Auto => {}
        }
        // The plan and the rules a lookup's slice holds, weighted by copies.
        let mut best: Option<(TablePlan, usize)> = None;
        // The runs of the plan being weighed (PERF: one vector for the plans not taken).
        let mut runs = Vec::new();
        for dim in [0, A::WORDS] {
            for k in TABLE_BITS {
                // Tables much larger than the rule count buy nothing.
                if 1usize << k > n.saturating_mul(2) && k > TABLE_BITS[0] {
                    continue;
                }
                let shift = 32 - k;
                self.runs(ids, dim, shift, scratch, &mut runs);
                // Rules in the run of each copy: the slice a lookup from a random rule sees.
                let mut copies = 0usize;
                let mut weighted = 0usize;
                for (_, c) in &runs {
                    copies += c;
                    weighted += c * c;
                }
                if copies > 2 * n + runs.len() {
                    continue;
                }
                let seen = weighted / copies.max(1);
                // Worth it only when the slice holds fewer rules than one node level would
                // leave.
                if seen * 4 > n {
                    continue;
                }
                let better = best
                    .as_ref()
                    .is_none_or(|(b, b_seen)| seen * 2 < *b_seen || (seen < *b_seen && k <= b.k));
                if better {
                    let spare = best.take().map(|(b, _)| b.runs).unwrap_or_default();
                    let runs = std::mem::replace(&mut runs, spare);
                    best = Some((TablePlan { dim, k, runs }, seen));
                }
            }
        }
        best.map(|(plan, _)| plan)
    }

    /// The runs of slices (`field >> shift`) over which no rule of `ids` starts or ends,
    /// as (first slice, rules over it).
    fn runs(&self, ids: &[u32], dim: usize, shift: u32, scratch: &mut Scratch, out: &mut Vec<(u32, usize)>) {
        out.clear();
        let slices = 1u64 << (32 - shift);
        if slices <= 2 * ids.len() as u64 + 512 {
            // PERF: few slices: counted per slice, no sort (the same runs).
            let Scratch { delta, cut, .. } = scratch;
            delta.clear();
            delta.resize(slices as usize + 1, 0);
            cut.clear();
            cut.resize(slices as usize + 1, false);
            cut[0] = true;
            for &id in ids {
                let lo = (self.lo(id, dim) >> shift) as usize;
                let end = (self.hi(id, dim) >> shift) as usize + 1;
                delta[lo] += 1;
                delta[end] -= 1;
                cut[lo] = true;
                cut[end] = true;
            }
            let mut run = 0i32;
            for (c, (&d, &at)) in delta.iter().zip(cut.iter()).take(slices as usize).enumerate() {
                run += d;
                if at {
                    out.push((c as u32, run as usize));
                }
            }
            return;
        }
        // PERF: one sorted list of events (a rule's first slice, `2s`; the slice past its
        // last, `2s + 1`) swept once, rather than the cuts sorted and each rule's two
        // searched for (the same runs; half the instructions of a ~80-rule classifier's
        // root table plans, by callgrind).
        let events = &mut scratch.events;
        events.clear();
        for &id in ids {
            events.push(u64::from(self.lo(id, dim) >> shift) << 1);
            let end = u64::from(self.hi(id, dim) >> shift) + 1;
            if end < slices {
                events.push(end << 1 | 1);
            }
        }
        events.sort_unstable();
        if events.first().is_none_or(|&e| e >> 1 != 0) {
            out.push((0, 0));
        }
        let mut run = 0usize;
        let mut i = 0;
        while i < events.len() {
            let cut = events[i] >> 1;
            while i < events.len() && events[i] >> 1 == cut {
                if events[i] & 1 == 0 {
                    run += 1;
                } else {
                    run -= 1;
                }
                i += 1;
            }
            out.push((cut as u32, run));
        }
    }

    /// Builds the root table of `plan` and a subtree per run; returns the table's offset.
    fn table(
        &mut self,
        ids: &[u32],
        plan: &TablePlan,
        region_lo: &Region,
        region_hi: &Region,
        stack: &mut Vec<u32>,
    ) -> Result<u32, TooBig> {
        let runs = &plan.runs;
        let shift = plan.shift();
        let slices = 1usize << plan.k;
        if self.bytes(0, 0) + slices * std::mem::size_of::<u32>() > self.params.max_bytes {
            return Err(TooBig);
        }
        let copies: usize = runs.iter().map(|r| r.1).sum();
        if self.bytes(0, copies) > self.params.max_bytes {
            return Err(TooBig);
        }
        // Each rule into every run it overlaps, keeping priority order: one list of every
        // run's rules, run after run (a run's count is how many rules lie over it).
        // PERF: one vector rather than one per run (a small classifier's root table has
        // ~100 runs).
        let mut at_run: Vec<usize> = Vec::with_capacity(runs.len() + 1);
        let mut total = 0;
        for r in runs {
            at_run.push(total);
            total += r.1;
        }
        at_run.push(total);
        let mut members = vec![0u32; total];
        let mut fill = at_run.clone();
        for &id in ids {
            let a = self.lo(id, plan.dim) >> shift;
            let b = self.hi(id, plan.dim) >> shift;
            let first = runs.partition_point(|r| r.0 <= a) - 1;
            for (i, r) in runs.iter().enumerate().skip(first) {
                if r.0 > b {
                    break;
                }
                members[fill[i]] = id;
                fill[i] += 1;
            }
        }
        debug_assert!(fill.iter().zip(&at_run[1..]).all(|(f, e)| f == e), "run counts");
        let at = self.tables.len();
        self.tables.resize(at + slices, EMPTY);
        for (i, r) in runs.iter().enumerate() {
            let first = r.0 as usize;
            let end = runs.get(i + 1).map_or(slices, |s| s.0 as usize);
            let mut lo = *region_lo;
            let mut hi = *region_hi;
            lo[plan.dim] = (first as u32) << shift;
            hi[plan.dim] = (((end as u64) << shift) - 1) as u32;
            stack.clear();
            stack.extend_from_slice(&members[at_run[i]..at_run[i + 1]]);
            let r = self.node(stack, 0, lo, hi, 0)?;
            self.tables[at + first..at + end].fill(r);
        }
        u32::try_from(at).map_err(|_| TooBig)
    }

    /// Whether rule `id` matches every key of the region.
    fn covers(&self, id: u32, region_lo: &[u32], region_hi: &[u32]) -> bool {
        let d = self.dims;
        for dim in 0..d - 1 {
            if self.lo(id, dim) > region_lo[dim] || self.hi(id, dim) < region_hi[dim] {
                return false;
            }
        }
        let r = &self.rules[id as usize];
        (region_lo[d - 1]..=region_hi[d - 1]).all(|p| p as u8 & r.proto_mask == r.proto)
    }

    /// `ids` without the rules that an earlier rule of `ids` covers within the region, in
    /// place: how many are kept, at the front.
    fn unshadowed(&self, ids: &mut [u32], region_lo: &[u32], region_hi: &[u32]) -> usize {
        let mut kept = 0;
        for i in 0..ids.len() {
            let id = ids[i];
            if !ids[..kept]
                .iter()
                .any(|&k| self.covers_within(k, id, region_lo, region_hi))
            {
                ids[kept] = id;
                kept += 1;
            }
        }
        kept
    }

    /// Whether every key of the region that rule `b` matches, rule `a` matches too.
    fn covers_within(&self, a: u32, b: u32, region_lo: &[u32], region_hi: &[u32]) -> bool {
        let d = self.dims;
        for dim in 0..d - 1 {
            let (rlo, rhi) = (region_lo[dim], region_hi[dim]);
            if self.lo(a, dim).max(rlo) > self.lo(b, dim).max(rlo)
                || self.hi(a, dim).min(rhi) < self.hi(b, dim).min(rhi)
            {
                return false;
            }
        }
        let (ra, rb) = (&self.rules[a as usize], &self.rules[b as usize]);
        (region_lo[d - 1]..=region_hi[d - 1])
            .map(|p| p as u8)
            .filter(|p| p & rb.proto_mask == rb.proto)
            .all(|p| p & ra.proto_mask == ra.proto)
    }

    fn leaf(&mut self, ids: &[u32], depth: usize) -> Result<u32, TooBig> {
        self.depth_sum += depth * ids.len();
        self.depth_weight += ids.len();
        if ids.is_empty() {
            return Ok(EMPTY);
        }
        let start = self.slots.len();
        if start + ids.len() >= LEAF as usize || self.bytes(0, ids.len()) > self.params.max_bytes {
            return Err(TooBig);
        }
        for &id in ids {
            self.slots.push(Slot::new(&self.rules[id as usize], id));
        }
        if let Some(last) = self.slots.last_mut() {
            last.meta |= 1;
        }
        Ok(LEAF | start as u32)
    }

    /// The subtree of the rules `stack[start..]` (in priority order) within the region.
    /// The children's lists go on the stack past them while each child is built, and are
    /// taken off again: one vector for the whole tree.
    // PERF: a vector per child before (a ~100-rule classifier: ~130 allocations a build).
    fn node(
        &mut self,
        stack: &mut Vec<u32>,
        start: usize,
        region_lo: Region,
        region_hi: Region,
        depth: usize,
    ) -> Result<u32, TooBig> {
        // Rules after one that covers the whole region can never be first.
        if let Some(pos) = stack[start..]
            .iter()
            .position(|&id| self.covers(id, &region_lo, &region_hi))
        {
            stack.truncate(start + pos + 1);
        }
        if stack.len() - start <= SHADOW_CHECK {
            let kept = self.unshadowed(&mut stack[start..], &region_lo, &region_hi);
            stack.truncate(start + kept);
        }
        let n = stack.len() - start;
        if n <= self.params.leaf || depth >= self.params.max_depth {
            return self.leaf(&stack[start..], depth);
        }
        let mut best: Option<Plan> = None;
        let mut scratch = std::mem::take(&mut self.scratch);
        for dim in 0..self.dims {
            if let Some(plan) = self
                .plan(&stack[start..], dim, region_lo[dim], region_hi[dim], &mut scratch)
                .filter(|p| p.max < n)
            {
                let score = |p: &Plan| p.sum + p.max * MAX_WEIGHT;
                let better = best.as_ref().is_none_or(|b| score(&plan) < score(b));
                if better {
                    best = Some(plan);
                }
            }
        }
        self.scratch = scratch;
        let Some(plan) = best else {
            // No field separates these rules here: keep only those not covered by an
            // earlier one (rarely reached, so the quadratic check is affordable).
            if n > SHADOW_CHECK {
                let kept = self.unshadowed(&mut stack[start..], &region_lo, &region_hi);
                stack.truncate(start + kept);
            }
            return self.leaf(&stack[start..], depth);
        };

        if self.bytes(1, 0) > self.params.max_bytes || self.nodes.len() >= INDEX as usize {
            return Err(TooBig);
        }
        let at = self.nodes.len();
        let mut thr = [i32::MAX; N];
        for (t, &e) in thr.iter_mut().zip(plan.ends()) {
            *t = bias(e);
        }
        self.nodes.push(Node {
            thr,
            child: [EMPTY; N],
        });
        let dim = plan.dim;
        let end = stack.len();
        let mut child_lo = region_lo[dim];
        for k in 0..=plan.n_ends {
            let child_hi = plan.ends().get(k).copied().unwrap_or(region_hi[dim]);
            for i in start..end {
                let id = stack[i];
                if self.lo(id, dim) <= child_hi && self.hi(id, dim) >= child_lo {
                    stack.push(id);
                }
            }
            let mut lo = region_lo;
            let mut hi = region_hi;
            lo[dim] = child_lo;
            hi[dim] = child_hi;
            let r = self.node(stack, end, lo, hi, depth + 1)?;
            stack.truncate(end);
            self.nodes[at].child[k] = r;
            child_lo = child_hi.wrapping_add(1);
        }
        Ok((plan.dim as u32) << 27 | at as u32)
    }

    /// The best split of `dim` into at most `N` intervals, minimising the largest
    /// child; `None` when every rule spans the whole region in `dim`.
    fn plan(&self, ids: &[u32], dim: usize, rlo: u32, rhi: u32, scratch: &mut Scratch) -> Option<Plan> {
        // `Plan::ends` holds the `N - 1` ends of a split into at most `N` children.
        const { assert!(N <= 17) };
        if ids
            .iter()
            .all(|&id| self.lo(id, dim) <= rlo && self.hi(id, dim) >= rhi)
        {
            return None;
        }
        let Scratch {
            pts,
            diff,
            starts,
            ov,
            prefix,
            ends,
            ..
        } = scratch;
        // Elementary intervals start at `pts`.
        pts.clear();
        pts.push(rlo);
        for &id in ids {
            let lo = self.lo(id, dim).max(rlo);
            let hi = self.hi(id, dim).min(rhi);
            if lo > rlo {
                pts.push(lo);
            }
            if hi < rhi {
                pts.push(hi + 1);
            }
        }
        pts.sort_unstable();
        pts.dedup();
        let m = pts.len();
        if m == 1 {
            return None;
        }
        // ov[j]: rules over interval j; starts[j]: rules whose first interval is j.
        diff.clear();
        diff.resize(m + 1, 0);
        starts.clear();
        starts.resize(m + 1, 0);
        let find = |v: u32| pts.partition_point(|&p| p <= v) - 1;
        for &id in ids {
            let lo = self.lo(id, dim).max(rlo);
            let hi = self.hi(id, dim).min(rhi);
            let a = find(lo);
            let b = find(hi);
            diff[a] += 1;
            diff[b + 1] -= 1;
            starts[a] += 1;
        }
        ov.clear();
        ov.resize(m, 0);
        let mut run = 0i64;
        for j in 0..m {
            run += diff[j];
            ov[j] = run as usize;
        }
        // prefix[j] = starts[0..j].
        prefix.clear();
        prefix.resize(m + 1, 0);
        for j in 0..m {
            prefix[j + 1] = prefix[j] + starts[j];
        }
        // Rules in the child spanning intervals i..=j.
        let cost = |i: usize, j: usize| ov[i] + prefix[j + 1] - prefix[i + 1];
        let groups = |limit: usize, ends: &mut Vec<usize>| -> bool {
            ends.clear();
            let mut i = 0;
            while i < m {
                if ov[i] > limit || ends.len() == N {
                    return false;
                }
                let mut j = i;
                while j + 1 < m && cost(i, j + 1) <= limit {
                    j += 1;
                }
                ends.push(j);
                i = j + 1;
            }
            true
        };
        let mut lo_m = ov.iter().copied().max().unwrap_or(0);
        let mut hi_m = ids.len();
        while lo_m < hi_m {
            let mid = lo_m + (hi_m - lo_m) / 2;
            if groups(mid, ends) {
                hi_m = mid;
            } else {
                lo_m = mid + 1;
            }
        }
        if !groups(lo_m, ends) {
            return None;
        }
        let mut sum = 0;
        let mut max = 0;
        let mut i = 0;
        for &j in ends.iter() {
            let c = cost(i, j);
            sum += c;
            max = max.max(c);
            i = j + 1;
        }
        let mut values = [0u32; 16];
        let n_ends = ends.len() - 1;
        for (v, &j) in values.iter_mut().zip(&ends[..n_ends]) {
            *v = pts[j + 1] - 1;
        }
        Some(Plan {
            dim,
            max,
            sum,
            ends: values,
            n_ends,
        })
    }
}
