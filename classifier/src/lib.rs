//! # sgeval-classifier: a generic first-match packet classifier over five fields
//!
//! Each [`Rule`] holds a source and destination prefix, a source and destination port range
//! and a protocol with mask; the priority of a rule is its position in the slice given to
//! [`Classifier::build`], and the first matching rule wins. [`Classifier::classify`] answers
//! with that rule's index, [`Classifier::classify_batch`] answers many keys at once with
//! their loads interleaved. Addresses are IPv4 (`u32`) or IPv6 (`u128`) values ([`Addr`]).
//!
//! This crate is to `sgeval` what `regex-automata` is to `regex`: the engine under sgeval's
//! compiled security-group engine (`sgeval::compile::Engine`), usable and benchmarked on its
//! own. [`classbench`] reads the ClassBench filter, trace and truth files its benchmarks run
//! on: `cargo bench -p sgeval-classifier`, and `benches/dpdk/run.sh`, which runs sgeval's
//! `bench classbench` command next to DPDK's `rte_acl`.
//!
//! ```
//! use sgeval_classifier::{Classifier, Key, PortRange, Prefix, Rule};
//!
//! let web = Rule {
//!     src: Prefix::ANY,
//!     dst: Prefix::new(0x0a00_0000u32, 8).unwrap(),
//!     src_ports: PortRange::ANY,
//!     dst_ports: PortRange::single(443),
//!     proto: 6,
//!     proto_mask: 0xff,
//! };
//! let classifier = Classifier::build(&[web, Rule::ANY]).unwrap();
//! let key = Key { src: 0xc000_0201, dst: 0x0a01_0203, src_port: 40000, dst_port: 443, proto: 6 };
//! assert_eq!(classifier.classify(&key), Some(0));
//! assert_eq!(classifier.classify(&Key { dst_port: 80, ..key }), Some(1));
//! ```
#![deny(missing_docs)]
// `unsafe` is allowed in one module only: `simd`, the AVX2 node step and flat block check.
#![deny(unsafe_code)]

use std::fmt;
use std::hash::Hash;

pub mod classbench;
mod flat;
mod rfc;
mod simd;
mod tree;

/// An inclusive range of ports, `lo..=hi`; a range with `lo > hi` holds no port. Shown as
/// `80` or `80-90`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct PortRange {
    /// First port in the range.
    pub lo: u16,
    /// Last port in the range (inclusive).
    pub hi: u16,
}

impl PortRange {
    /// Every port, `0..=65535`.
    pub const ANY: PortRange = PortRange { lo: 0, hi: 65535 };

    /// A range `lo..=hi`, or `None` when `lo > hi`.
    pub fn new(lo: u16, hi: u16) -> Option<PortRange> {
        (lo <= hi).then_some(PortRange { lo, hi })
    }

    /// The single port `port`.
    pub fn single(port: u16) -> PortRange {
        PortRange { lo: port, hi: port }
    }

    /// Whether `port` lies in the range.
    pub fn contains(&self, port: u16) -> bool {
        self.lo <= port && port <= self.hi
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.lo == self.hi {
            write!(f, "{}", self.lo)
        } else {
            write!(f, "{}-{}", self.lo, self.hi)
        }
    }
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for u32 {}
    impl Sealed for u128 {}
}

/// An address as an unsigned integer in host order: `u32` for IPv4, `u128` for IPv6.
///
/// The trait is sealed; the classifier relies on the exact integer behaviour of these two
/// types.
pub trait Addr: Copy + Ord + Eq + Hash + fmt::Debug + Send + Sync + 'static + sealed::Sealed {
    /// Width of the address in bits.
    const BITS: u32;
    /// The all-zero address.
    const ZERO: Self;
    /// The all-ones address.
    const MAX: Self;

    /// The network mask of a prefix of `len` bits (`len` is clamped to [`Addr::BITS`]).
    fn mask(len: u8) -> Self;
    /// Bitwise and.
    fn and(self, other: Self) -> Self;
    /// Bitwise or.
    fn or(self, other: Self) -> Self;
    /// Bitwise not.
    fn not(self) -> Self;
    /// Bitwise exclusive or.
    fn xor(self, other: Self) -> Self;
    /// The address widened to 128 bits.
    fn to_u128(self) -> u128;
    /// The low [`Addr::BITS`] bits of `value`.
    fn from_u128_truncating(value: u128) -> Self;

    /// Number of 32-bit words in the address.
    #[doc(hidden)]
    const WORDS: usize;
    /// Word `i` of the address, most significant first.
    #[doc(hidden)]
    fn word(self, i: usize) -> u32;
}

impl Addr for u32 {
    const BITS: u32 = 32;
    const ZERO: Self = 0;
    const MAX: Self = u32::MAX;

    #[inline(always)]
    fn mask(len: u8) -> Self {
        // A shift of 32 would overflow a u32; in u64 it gives the empty mask for `/0`.
        (u64::MAX << (32 - u32::from(len).min(32))) as u32
    }
    #[inline]
    fn and(self, other: Self) -> Self {
        self & other
    }
    #[inline]
    fn or(self, other: Self) -> Self {
        self | other
    }
    #[inline]
    fn not(self) -> Self {
        !self
    }
    #[inline]
    fn xor(self, other: Self) -> Self {
        self ^ other
    }
    #[inline]
    fn to_u128(self) -> u128 {
        u128::from(self)
    }
    #[inline]
    fn from_u128_truncating(value: u128) -> Self {
        value as u32
    }

    const WORDS: usize = 1;
    #[inline(always)]
    fn word(self, _i: usize) -> u32 {
        self
    }
}

impl Addr for u128 {
    const BITS: u32 = 128;
    const ZERO: Self = 0;
    const MAX: Self = u128::MAX;

    #[inline(always)]
    fn mask(len: u8) -> Self {
        u128::MAX.checked_shl(128 - u32::from(len).min(128)).unwrap_or(0)
    }
    #[inline]
    fn and(self, other: Self) -> Self {
        self & other
    }
    #[inline]
    fn or(self, other: Self) -> Self {
        self | other
    }
    #[inline]
    fn not(self) -> Self {
        !self
    }
    #[inline]
    fn xor(self, other: Self) -> Self {
        self ^ other
    }
    #[inline]
    fn to_u128(self) -> u128 {
        self
    }
    #[inline]
    fn from_u128_truncating(value: u128) -> Self {
        value
    }

    const WORDS: usize = 4;
    #[inline(always)]
    fn word(self, i: usize) -> u32 {
        (self >> (96 - 32 * (i & 3))) as u32
    }
}

/// An address prefix: `addr/len`, with every bit after the first `len` zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix<A: Addr> {
    /// The network address (host bits zero).
    pub addr: A,
    /// The prefix length, at most [`Addr::BITS`].
    pub len: u8,
}

impl<A: Addr> Prefix<A> {
    /// The prefix that holds every address (`/0`).
    pub const ANY: Self = Prefix {
        addr: A::ZERO,
        len: 0,
    };

    /// The prefix `addr/len`, or `None` when `len` exceeds the address width or `addr` has
    /// a host bit set.
    pub fn new(addr: A, len: u8) -> Option<Self> {
        (u32::from(len) <= A::BITS && addr.and(A::mask(len).not()) == A::ZERO).then_some(Prefix { addr, len })
    }

    /// The prefix holding `addr` with its host bits cleared, or `None` when `len` exceeds
    /// the address width.
    pub fn truncating(addr: A, len: u8) -> Option<Self> {
        (u32::from(len) <= A::BITS).then_some(Prefix {
            addr: addr.and(A::mask(len)),
            len,
        })
    }

    /// Whether `addr` lies in the prefix.
    #[inline]
    pub fn contains(&self, addr: A) -> bool {
        addr.and(A::mask(self.len)) == self.addr
    }

    /// The first address of the prefix.
    #[inline]
    pub fn first(&self) -> A {
        self.addr
    }

    /// The last address of the prefix.
    #[inline]
    pub fn last(&self) -> A {
        self.addr.or(A::mask(self.len).not())
    }
}

/// One classifier rule: every field must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Rule<A: Addr> {
    /// Source address prefix.
    pub src: Prefix<A>,
    /// Destination address prefix.
    pub dst: Prefix<A>,
    /// Source ports (inclusive).
    pub src_ports: PortRange,
    /// Destination ports (inclusive).
    pub dst_ports: PortRange,
    /// Protocol value, compared under `proto_mask`.
    pub proto: u8,
    /// Protocol mask: `0xff` for an exact protocol, `0` for any.
    pub proto_mask: u8,
}

impl<A: Addr> Rule<A> {
    /// The rule that matches every key.
    pub const ANY: Self = Rule {
        src: Prefix::ANY,
        dst: Prefix::ANY,
        src_ports: PortRange::ANY,
        dst_ports: PortRange::ANY,
        proto: 0,
        proto_mask: 0,
    };

    /// Whether the rule matches `key`: both prefixes hold their address, both ranges hold
    /// their port and `key.proto & proto_mask == proto`.
    #[inline]
    pub fn matches(&self, key: &Key<A>) -> bool {
        self.src.contains(key.src)
            && self.dst.contains(key.dst)
            && self.src_ports.contains(key.src_port)
            && self.dst_ports.contains(key.dst_port)
            && key.proto & self.proto_mask == self.proto
    }
}

/// The fields of a packet that a [`Classifier`] looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Key<A: Addr> {
    /// Source address.
    pub src: A,
    /// Destination address.
    pub dst: A,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// IP protocol number.
    pub proto: u8,
}

/// Why a classifier could not be built. Building fails only on limits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CapacityError {
    /// More rules than a `u32` index can name.
    #[error("too many rules: `{count}` (at most `{max}`)")]
    TooManyRules {
        /// Rules given.
        count: usize,
        /// Most rules accepted.
        max: usize,
    },
    /// The structure would exceed the memory cap.
    #[error("classifier would need more than `{limit}` bytes")]
    MemoryLimit {
        /// The cap in bytes.
        limit: usize,
    },
}

/// Proof that this CPU steps tree nodes with AVX2 and POPCNT, to run a whole lookup, the
/// caller's own work included, in one function compiled for them ([`Simd::run`]), instead
/// of entering such a function in every [`Classifier::classify`].
#[derive(Clone, Copy, Debug)]
pub struct Simd(simd::Avx2);

impl Simd {
    /// `Some` where the CPU running this has AVX2 and POPCNT (always `None` off x86-64).
    pub fn detect() -> Option<Simd> {
        simd::Avx2::detect().map(Simd)
    }

    /// Calls `f` inside a function compiled for AVX2 and POPCNT, so that `f` and the node
    /// steps of the [`Classifier::classify_in`] and [`Classifier::classify_batch_in`] calls
    /// it makes with this token can inline into that function.
    #[inline(always)]
    pub fn run<R>(self, f: impl FnOnce(Simd) -> R) -> R {
        use simd::Count;
        self.0.run(|avx2| f(Simd(avx2)))
    }
}

/// Most rules a classifier accepts.
pub const MAX_RULES: usize = tree::NONE as usize;

/// Most bytes a classifier may use; building a larger one fails with
/// [`CapacityError::MemoryLimit`].
pub const MEMORY_LIMIT: usize = 1 << 30;

/// An immutable first-match classifier over a rule list.
///
/// An IPv4 list of 256 to 4,096 rules is classified by phase tables (Recursive Flow
/// Classification) when they fit the byte budget of [`Options`]: 13 table loads per
/// lookup. An IPv4 list of 4,097 to 16,384 rules whose parts other than the largest (see
/// below) all lie in its last eighth gets phase tables for the largest part, if they fit,
/// and trees for the others, walked only by keys that no earlier rule matches (ClassBench
/// acl1_10k). Otherwise the rules are split by which address is narrow (destination, else source, else
/// neither); each part becomes a decision tree whose nodes cut one field (an address word,
/// a port or the protocol) into up to 8 or 16 ranges, and whose leaves list the few rules
/// left, in priority order. A part whose rules spread over one address starts with a root
/// table indexed by that address's top 8 to 16 bits. A lookup walks the trees best rule
/// first and stops as soon as no later tree can hold a better rule. Small rule sets get a
/// single tree when it fits in a cache-sized budget. A node step compares the key against
/// all of the node's split points at once, with AVX2 where the CPU has it (detected at run
/// time) and in portable code elsewhere; both give the same answers.
///
/// [`Classifier::build_flat`] skips all of this: the rules in order, checked eight at a
/// time, for a list that is to be rebuilt soon.
#[derive(Clone, Debug)]
pub struct Classifier<A: Addr> {
    layout: Layout<A>,
    len: usize,
}

/// How a classifier holds its rules.
// PERF: four variants, the rarer layouts nested in `Other`. With a fifth variant, LLVM
// stopped unswitching a caller's loop of one-at-a-time `classify` calls on the layout and
// jumped through a table for every key: 87.0 -> 94.0 instructions a lookup on ClassBench
// acl1_1k (`examples/count.rs` under callgrind; the same with a fifth variant that no
// classifier has), 74.6-76.3 -> 71.5-72.0 million lookups a second.
#[derive(Clone, Debug)]
enum Layout<A: Addr> {
    /// Phase tables (IPv4 only; see [`rfc`]).
    Rfc(Box<rfc::Rfc>),
    /// The forest with 8-way nodes (one cache line).
    Narrow(tree::Forest<A, 8>),
    /// The forest with 16-way nodes (two cache lines).
    Wide(tree::Forest<A, 16>),
    /// The other layouts.
    Other(Other<A>),
}

/// [`flat::Flat::classify`], marked cold: a caller's loop over a [`Hybrid`] keeps its
/// tables' path straight.
#[cold]
fn flat_classify<A: Addr>(f: &flat::Flat<A>, key: &Key<A>) -> u32 {
    f.classify(key)
}

/// The layouts of [`Layout::Other`].
#[derive(Clone, Debug)]
enum Other<A: Addr> {
    /// Phase tables for most rules, trees for the rest (see [`Hybrid`]).
    Hybrid(Box<Hybrid<A>>),
    /// The rules in order, checked eight at a time ([`Classifier::build_flat`]).
    Flat(flat::Flat<A>),
}

/// Phase tables for the largest part of an IPv4 list (by which address is narrow, see
/// [`partition`]), a forest for the other parts: a lookup takes the tables' answer and walks
/// only the trees that may hold an earlier rule.
#[derive(Clone, Debug)]
struct Hybrid<A: Addr> {
    rfc: rfc::Rfc,
    /// The rule index of each rule of the tables, in order.
    ids: Box<[u32]>,
    rest: tree::Forest<A, 8>,
}

impl<A: Addr> Hybrid<A> {
    /// Tables for the largest part of `groups` within `bytes`, trees for the others; `None`
    /// when the tables do not fit.
    fn build(rules: &[Rule<A>], mut groups: Vec<Vec<u32>>, bytes: usize) -> Option<Self> {
        let largest = (0..groups.len()).max_by_key(|&g| groups[g].len())?;
        let ids = groups.swap_remove(largest);
        if ids.len() > rfc::MAX_RULES {
            return None;
        }
        let part: Vec<Rule<A>> = ids.iter().map(|&i| rules[i as usize]).collect();
        let rfc = rfc::Rfc::build(&part, bytes).ok()?;
        // The other parts are small: the default trees, whose build fails only on memory.
        let rest = tree::Forest::build(rules, &groups, tree::Params::default()).ok()?;
        Some(Hybrid {
            rfc,
            ids: ids.into_boxed_slice(),
            rest,
        })
    }

    /// The tables' answer as a rule index, or [`tree::NONE`].
    #[inline(always)]
    fn tables(&self, key: &Key<A>) -> u32 {
        self.rfc
            .classify(key)
            .and_then(|i| self.ids.get(i as usize).copied())
            .unwrap_or(tree::NONE)
    }

    // PERF: out of line, so that `Classifier::classify` stays as small for the other
    // layouts as before it (inlined, other sets' lookups took 3-11% more instructions).
    #[inline(never)]
    fn classify(&self, key: &Key<A>) -> u32 {
        let best = self.tables(key);
        if best <= self.rest.first() {
            return best;
        }
        self.rest.classify_below(key, best)
    }

    fn classify_batch(&self, keys: &[Key<A>], out: &mut [Option<u32>]) {
        for (o, k) in out.iter_mut().zip(keys) {
            let i = self.tables(k);
            *o = (i != tree::NONE).then_some(i);
        }
        self.rest.classify_batch_below(keys, out);
    }

    fn memory_usage(&self) -> usize {
        self.rfc.memory_usage() + self.ids.len() * 4 + self.rest.memory_usage()
    }
}

/// Whether every part but the largest lies in the last eighth of the rules: then the trees
/// of a [`Hybrid`] are walked only by keys that no earlier rule matches. Where they start
/// earlier, the tables did not pay (ClassBench ipc1_10k, other parts from rule 5,000 of
/// 9,168: the same lookups per second as its trees, ten times the memory).
fn tail_only(groups: &[Vec<u32>], rules: usize) -> bool {
    let largest = groups.iter().map(Vec::len).max().unwrap_or(0);
    let mut others = groups.iter().filter(|g| g.len() < largest);
    groups.iter().filter(|g| g.len() == largest).count() == 1
        && others.all(|g| g.first().is_none_or(|&i| i as usize >= rules - rules / 8))
}

/// IPv4 lists above [`RFC_RULES`] and up to this many rules may get phase tables for their
/// largest part ([`Hybrid`]); above it the build would only spend its work budget to give up.
const HYBRID_RULES: usize = 16_384;

/// Rule sets in this range may get phase tables ([`rfc`]): below it a tree is a few levels
/// deep anyway; above it the rule sets of the classes make the build slow and the cross
/// products outgrow any budget (ClassBench 10k sets whole: over 16 MiB, or too many classes).
const RFC_RULES: std::ops::RangeInclusive<usize> = 256..=4096;

/// What a classifier may spend on speed; [`Options::default`] is what [`Classifier::build`]
/// uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Most bytes of phase tables: an IPv4 set of 256 to 4,096 rules whose tables fit is
    /// classified by them (13 table loads and no branch per lookup, at least 786 KiB), and
    /// so is the largest part of some sets of up to 16,384 rules (see [`Classifier`]);
    /// otherwise, and always for IPv6, by the decision trees. `0` means trees only.
    pub phase_table_bytes: usize,
}

impl Options {
    /// Trees only: the smallest structure (the tables would take 0.8 to 16 MiB).
    pub const COMPACT: Options = Options { phase_table_bytes: 0 };
}

impl Default for Options {
    /// Phase tables up to 16 MiB (ClassBench's 1k sets take 2.0 to 9.6 MB).
    fn default() -> Self {
        Options {
            phase_table_bytes: 16 << 20,
        }
    }
}

/// Byte budget of the single tree tried for small rule sets.
const SINGLE_TREE_BYTES: usize = 1 << 20;

/// Rule sets at least this large get 16-way nodes: fewer levels beat the second cache line
/// per node once the structure outgrows the caches (measured on ClassBench: 16-way wins on
/// every 100k set and on fw1 10k, 8-way on every 1k set).
const WIDE_RULES: usize = 4096;

impl<A: Addr> Classifier<A> {
    /// Builds the classifier with [`Options::default`]; the priority of a rule is its
    /// position in `rules`.
    ///
    /// # Errors
    /// [`CapacityError::TooManyRules`] beyond [`MAX_RULES`] rules; [`CapacityError::MemoryLimit`]
    /// when even a plain list of the rules would exceed [`MEMORY_LIMIT`].
    pub fn build(rules: &[Rule<A>]) -> Result<Self, CapacityError> {
        Self::build_with(rules, Options::default())
    }

    /// Builds the classifier within `options`; the answers are the same whatever they are.
    ///
    /// # Errors
    /// As [`Classifier::build`].
    pub fn build_with(rules: &[Rule<A>], options: Options) -> Result<Self, CapacityError> {
        if rules.len() > MAX_RULES {
            return Err(CapacityError::TooManyRules {
                count: rules.len(),
                max: MAX_RULES,
            });
        }
        let slot = tree::slot_bytes::<A>();
        if rules.len().saturating_mul(slot) > MEMORY_LIMIT {
            return Err(CapacityError::MemoryLimit { limit: MEMORY_LIMIT });
        }
        let layout = |groups: &[Vec<u32>], params: tree::Params| -> Option<Layout<A>> {
            if rules.len() >= WIDE_RULES {
                tree::Forest::build(rules, groups, params).ok().map(Layout::Wide)
            } else {
                tree::Forest::build(rules, groups, params)
                    .ok()
                    .map(Layout::Narrow)
            }
        };
        if RFC_RULES.contains(&rules.len()) && options.phase_table_bytes >= rfc::FIXED_BYTES {
            if let Ok(rfc) = rfc::Rfc::build(rules, options.phase_table_bytes) {
                return Ok(Classifier {
                    layout: Layout::Rfc(Box::new(rfc)),
                    len: rules.len(),
                });
            }
        }
        let all: Vec<u32> = (0..rules.len() as u32).collect();
        let params = tree::Params::default();
        let groups = partition(rules);
        if rules.len() > *RFC_RULES.end()
            && rules.len() <= HYBRID_RULES
            && options.phase_table_bytes >= rfc::FIXED_BYTES
            && tail_only(&groups, rules.len())
        {
            if let Some(h) = Hybrid::build(rules, groups.clone(), options.phase_table_bytes) {
                return Ok(Classifier {
                    layout: Layout::Other(Other::Hybrid(Box::new(h))),
                    len: rules.len(),
                });
            }
        }
        // Small sets: one tree, if it stays within a cache-sized budget.
        if groups.len() > 1 && rules.len() * slot * 4 <= SINGLE_TREE_BYTES {
            let single = tree::Params {
                max_bytes: SINGLE_TREE_BYTES,
                ..params
            };
            if let Some(layout) = layout(std::slice::from_ref(&all), single) {
                return Ok(Classifier {
                    layout,
                    len: rules.len(),
                });
            }
        }
        // Copies of rules are bounded by a budget; past it the builder retries with longer
        // leaves, and at worst keeps the rules as one list, so a build only fails on limits.
        let budget = (rules.len().saturating_mul(slot).saturating_mul(16)).clamp(16 << 20, 48 << 20);
        for leaf in [params.leaf, 16, 64] {
            if let Some(layout) = layout(
                &groups,
                tree::Params {
                    leaf,
                    max_bytes: budget,
                    ..params
                },
            ) {
                return Ok(Classifier {
                    layout,
                    len: rules.len(),
                });
            }
        }
        let list = tree::Params {
            leaf: usize::MAX,
            max_bytes: MEMORY_LIMIT,
            tables: tree::Tables::Off,
            ..params
        };
        let layout = layout(&[all], list).ok_or(CapacityError::MemoryLimit { limit: MEMORY_LIMIT })?;
        Ok(Classifier {
            layout,
            len: rules.len(),
        })
    }

    /// Builds a classifier that checks the rules in order, eight at a time: one pass over
    /// the rules, about as fast to build as a copy of them, but each lookup reads them all
    /// up to the first match. For lists that are to be rebuilt soon with
    /// [`Classifier::build_with`], off the read path ([`Classifier::is_flat`] tells which
    /// these are).
    ///
    /// # Errors
    /// As [`Classifier::build`].
    pub fn build_flat(rules: &[Rule<A>]) -> Result<Self, CapacityError> {
        if rules.len() > MAX_RULES {
            return Err(CapacityError::TooManyRules {
                count: rules.len(),
                max: MAX_RULES,
            });
        }
        if rules.len().saturating_mul(tree::slot_bytes::<A>()) > MEMORY_LIMIT {
            return Err(CapacityError::MemoryLimit { limit: MEMORY_LIMIT });
        }
        Ok(Classifier {
            layout: Layout::Other(Other::Flat(flat::Flat::build(rules))),
            len: rules.len(),
        })
    }

    /// Whether the classifier was built by [`Classifier::build_flat`].
    pub fn is_flat(&self) -> bool {
        matches!(self.layout, Layout::Other(Other::Flat(_)))
    }

    /// The index of the first rule that matches `key`, or `None`.
    #[inline]
    pub fn classify(&self, key: &Key<A>) -> Option<u32> {
        let i = match &self.layout {
            Layout::Rfc(r) => return r.classify(key),
            Layout::Narrow(f) => f.classify(key),
            Layout::Wide(f) => f.classify(key),
            Layout::Other(Other::Hybrid(h)) => h.classify(key),
            Layout::Other(Other::Flat(f)) => flat_classify(f, key),
        };
        (i != tree::NONE).then_some(i)
    }

    /// [`Classifier::classify`] with its node steps taken by `simd` when it is `Some`
    /// (whatever the CPU detection at build time or [`Classifier::without_simd`] chose),
    /// else as [`Classifier::classify`]: the same answers. Called inside [`Simd::run`], the
    /// lookup inlines into the caller's AVX2 function.
    #[inline(always)]
    pub fn classify_in(&self, key: &Key<A>, simd: Option<Simd>) -> Option<u32> {
        let Some(Simd(avx2)) = simd else {
            return self.classify(key);
        };
        let i = match &self.layout {
            Layout::Rfc(r) => return r.classify(key),
            Layout::Narrow(f) => f.classify_with_avx2(key, avx2),
            Layout::Wide(f) => f.classify_with_avx2(key, avx2),
            Layout::Other(Other::Hybrid(h)) => h.classify(key),
            Layout::Other(Other::Flat(f)) => f.classify_with_avx2(key, avx2),
        };
        (i != tree::NONE).then_some(i)
    }

    /// [`Classifier::classify_batch`] with its node steps taken by `simd` when it is
    /// `Some`, as [`Classifier::classify_in`]: the same answers.
    #[inline(always)]
    pub fn classify_batch_in(&self, keys: &[Key<A>], out: &mut [Option<u32>], simd: Option<Simd>) {
        let Some(Simd(avx2)) = simd else {
            return self.classify_batch(keys, out);
        };
        let n = keys.len().min(out.len());
        match &self.layout {
            Layout::Rfc(r) => r.classify_batch(&keys[..n], &mut out[..n]),
            Layout::Narrow(f) => f.classify_batch_with_avx2(&keys[..n], &mut out[..n], avx2),
            Layout::Wide(f) => f.classify_batch_with_avx2(&keys[..n], &mut out[..n], avx2),
            Layout::Other(Other::Hybrid(h)) => h.classify_batch(&keys[..n], &mut out[..n]),
            Layout::Other(Other::Flat(f)) => f.classify_batch(&keys[..n], &mut out[..n], Some(avx2)),
        }
    }

    /// Classifies every key of `keys` into the same position of `out`, interleaving several
    /// keys to overlap their memory loads; the answers equal [`Classifier::classify`]'s.
    /// Extra entries of `out` are left untouched; keys beyond `out`'s length are not
    /// classified.
    pub fn classify_batch(&self, keys: &[Key<A>], out: &mut [Option<u32>]) {
        let n = keys.len().min(out.len());
        match &self.layout {
            Layout::Rfc(r) => r.classify_batch(&keys[..n], &mut out[..n]),
            Layout::Narrow(f) => f.classify_batch(&keys[..n], &mut out[..n]),
            Layout::Wide(f) => f.classify_batch(&keys[..n], &mut out[..n]),
            Layout::Other(Other::Hybrid(h)) => h.classify_batch(&keys[..n], &mut out[..n]),
            Layout::Other(Other::Flat(f)) => f.classify_batch(&keys[..n], &mut out[..n], None),
        }
    }

    /// The same classifier with the portable node step only, even where the CPU has AVX2:
    /// for tests and before/after comparisons (the answers are the same).
    #[doc(hidden)]
    pub fn without_simd(self) -> Self {
        let layout = match self.layout {
            Layout::Rfc(r) => Layout::Rfc(r),
            Layout::Narrow(f) => Layout::Narrow(f.without_simd()),
            Layout::Wide(f) => Layout::Wide(f.without_simd()),
            Layout::Other(Other::Hybrid(mut h)) => {
                h.rest = h.rest.without_simd();
                Layout::Other(Other::Hybrid(h))
            }
            Layout::Other(Other::Flat(f)) => Layout::Other(Other::Flat(f)),
        };
        Classifier { layout, ..self }
    }

    /// Whether lookups step nodes with AVX2 (detected when the classifier was built).
    #[doc(hidden)]
    pub fn uses_simd(&self) -> bool {
        match &self.layout {
            Layout::Rfc(_) => false,
            Layout::Narrow(f) => f.uses_avx2(),
            Layout::Wide(f) => f.uses_avx2(),
            Layout::Other(Other::Hybrid(h)) => h.rest.uses_avx2(),
            Layout::Other(Other::Flat(_)) => false,
        }
    }

    /// Bytes used by the structure, heap included.
    pub fn memory_usage(&self) -> usize {
        std::mem::size_of::<Self>()
            + match &self.layout {
                Layout::Rfc(r) => r.memory_usage(),
                Layout::Narrow(f) => f.memory_usage(),
                Layout::Wide(f) => f.memory_usage(),
                Layout::Other(Other::Hybrid(h)) => h.memory_usage(),
                Layout::Other(Other::Flat(f)) => f.memory_usage(),
            }
    }

    /// Number of rules the classifier was built from.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the classifier was built from no rules.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Splits the rules by which address is narrow, so that cutting an address in one tree
/// does not copy the rules that are wide in it: destination narrow; else source narrow;
/// else neither. Empty parts are dropped; each part keeps priority order.
fn partition<A: Addr>(rules: &[Rule<A>]) -> Vec<Vec<u32>> {
    let narrow = (A::BITS / 2) as u8;
    let mut groups = vec![Vec::new(), Vec::new(), Vec::new()];
    for (i, r) in rules.iter().enumerate() {
        let g = if r.dst.len >= narrow {
            0
        } else if r.src.len >= narrow {
            1
        } else {
            2
        };
        groups[g].push(i as u32);
    }
    groups.retain(|g| !g.is_empty());
    groups
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r4(src: (u32, u8), dst: (u32, u8), sp: (u16, u16), dp: (u16, u16), proto: (u8, u8)) -> Rule<u32> {
        Rule {
            src: Prefix::new(src.0, src.1).unwrap(),
            dst: Prefix::new(dst.0, dst.1).unwrap(),
            src_ports: PortRange::new(sp.0, sp.1).unwrap(),
            dst_ports: PortRange::new(dp.0, dp.1).unwrap(),
            proto: proto.0,
            proto_mask: proto.1,
        }
    }

    fn k4(src: u32, dst: u32, sp: u16, dp: u16, proto: u8) -> Key<u32> {
        Key {
            src,
            dst,
            src_port: sp,
            dst_port: dp,
            proto,
        }
    }

    #[test]
    fn prefix_new_rejects_host_bits_and_long_lengths() {
        assert!(Prefix::new(0x0a00_0001u32, 8).is_none());
        assert!(Prefix::new(0x0a00_0000u32, 33).is_none());
        assert!(Prefix::new(1u128, 129).is_none());
        assert_eq!(
            Prefix::new(0x0a00_0000u32, 8),
            Some(Prefix {
                addr: 0x0a00_0000,
                len: 8
            })
        );
        assert_eq!(Prefix::new(u32::MAX, 32).map(|p| p.last()), Some(u32::MAX));
        assert_eq!(Prefix::<u128>::ANY.last(), u128::MAX);
        assert_eq!(
            Prefix::truncating(0x0a01_0203u32, 16),
            Prefix::new(0x0a01_0000, 16)
        );
    }

    #[test]
    fn first_match_wins_and_misses_are_none() {
        let rules = [
            r4((0x0a00_0000, 8), (0, 0), (0, 65535), (80, 80), (6, 0xff)),
            r4((0x0a01_0000, 16), (0, 0), (0, 65535), (0, 65535), (0, 0)),
            r4((0, 0), (0xc0a8_0000, 16), (1024, 65535), (0, 65535), (17, 0xff)),
        ];
        let c = Classifier::build(&rules).unwrap();
        assert_eq!(c.len(), 3);
        assert_eq!(c.classify(&k4(0x0a01_0101, 5, 9, 80, 6)), Some(0));
        assert_eq!(c.classify(&k4(0x0a01_0101, 5, 9, 81, 6)), Some(1));
        assert_eq!(c.classify(&k4(0x0b01_0101, 0xc0a8_0101, 1024, 1, 17)), Some(2));
        assert_eq!(c.classify(&k4(0x0b01_0101, 0xc0a8_0101, 1023, 1, 17)), None);
        assert_eq!(c.classify(&k4(0x0b01_0101, 0xc0a8_0101, 1024, 1, 6)), None);
    }

    #[test]
    fn protocol_value_outside_its_mask_never_matches() {
        let c = Classifier::build(&[r4((0, 0), (0, 0), (0, 65535), (0, 65535), (6, 0xf0))]).unwrap();
        for p in 0..=255u8 {
            assert_eq!(c.classify(&k4(1, 2, 3, 4, p)), None, "proto {p}");
        }
    }

    #[test]
    fn classifier_is_shareable_between_threads() {
        fn shareable<T: Send + Sync + Clone + fmt::Debug + 'static>() {}
        shareable::<Classifier<u32>>();
        shareable::<Classifier<u128>>();
    }

    #[test]
    fn empty_classifier_matches_nothing() {
        let c = Classifier::<u128>::build(&[]).unwrap();
        assert!(c.is_empty());
        assert_eq!(c.classify(&Key::default()), None);
    }

    #[test]
    fn ipv6_prefixes_match_on_the_high_bits() {
        let net = 0x2001_0db8u128 << 96;
        let rules = [
            Rule {
                dst: Prefix::new(net, 32).unwrap(),
                ..Rule::ANY
            },
            Rule::ANY,
        ];
        let c = Classifier::build(&rules).unwrap();
        let key = Key {
            dst: net | 7,
            ..Key::default()
        };
        assert_eq!(c.classify(&key), Some(0));
        assert_eq!(
            c.classify(&Key {
                dst: net ^ (1 << 96),
                ..key
            }),
            Some(1)
        );
    }

    #[test]
    fn batch_agrees_with_one_at_a_time() {
        let rules = [
            r4((0x0a00_0000, 8), (0, 0), (0, 65535), (80, 80), (6, 0xff)),
            r4((0, 0), (0, 0), (0, 1023), (0, 65535), (0, 0)),
        ];
        let c = Classifier::build(&rules).unwrap();
        let keys: Vec<_> = (0..200u32)
            .map(|i| k4(i.wrapping_mul(0x0101_0101), i, (i * 7) as u16, 80, 6))
            .collect();
        let mut out = vec![Some(99); keys.len()];
        c.classify_batch(&keys, &mut out);
        for (k, o) in keys.iter().zip(&out) {
            assert_eq!(*o, c.classify(k));
        }
    }

    /// Security-group-shaped lists: wide rules that no field separates from one another
    /// (only shadowing prunes them), host prefixes from an expanded group, a few ports.
    fn sg_shaped<A: Addr>(host: impl Fn(u64) -> A) -> (Vec<Rule<A>>, Vec<Key<A>>) {
        let bits = A::BITS as u8;
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let local = host(1);
        let ports = [22u16, 80, 443, 5432, 8080];
        let mut rules = Vec::new();
        for _ in 0..400 {
            let r = next();
            let len = [0, bits / 4, bits / 2, bits - 8, bits][(r % 5) as usize];
            let lo = ports[(r >> 8) as usize % ports.len()];
            rules.push(Rule {
                src: Prefix::truncating(host(r >> 20), len).unwrap_or(Prefix::ANY),
                dst: if r >> 30 & 1 == 0 {
                    Prefix::new(local, bits).unwrap_or(Prefix::ANY)
                } else {
                    Prefix::ANY
                },
                src_ports: PortRange::ANY,
                dst_ports: if r >> 16 & 3 == 0 {
                    PortRange { lo, hi: lo + 10 }
                } else {
                    PortRange::single(lo)
                },
                proto: [6, 17, 0][(r >> 24) as usize % 3],
                proto_mask: [0xff, 0xff, 0][(r >> 24) as usize % 3],
            });
        }
        for m in 0..600 {
            let src = Prefix::new(host(1000 + m), bits).unwrap_or(Prefix::ANY);
            rules.push(Rule {
                src,
                dst_ports: PortRange::single(5432),
                proto: 6,
                proto_mask: 0xff,
                ..Rule::ANY
            });
        }
        let keys = (0..20_000)
            .map(|_| {
                let r = next();
                let src = if r & 1 == 0 {
                    host(1000 + (r >> 8) % 600)
                } else {
                    host(r >> 20)
                };
                let dst_port = ports[(r >> 4) as usize % ports.len()] + (r >> 50) as u16 % 12;
                Key {
                    src,
                    dst: local,
                    src_port: (r >> 40) as u16,
                    dst_port,
                    proto: [6, 17][(r >> 63) as usize],
                }
            })
            .collect();
        (rules, keys)
    }

    /// Every key classified through [`Classifier::classify_in`] and
    /// [`Classifier::classify_batch_in`] inside [`Simd::run`] where the CPU has AVX2 (else
    /// with `None`): one at a time, then batched.
    fn classify_all_in<A: Addr>(c: &Classifier<A>, keys: &[Key<A>]) -> [Vec<Option<u32>>; 2] {
        let go = |simd: Option<Simd>| {
            let one = keys.iter().map(|k| c.classify_in(k, simd)).collect();
            let mut batch = vec![None; keys.len()];
            c.classify_batch_in(keys, &mut batch, simd);
            [one, batch]
        };
        match Simd::detect() {
            Some(simd) => simd.run(|simd| go(Some(simd))),
            None => go(None),
        }
    }

    fn check_sg<A: Addr>(host: impl Fn(u64) -> A) {
        let (rules, keys) = sg_shaped(host);
        let built = Classifier::build(&rules).unwrap();
        for c in [built.clone(), built.without_simd()] {
            let mut batch = vec![None; keys.len()];
            c.classify_batch(&keys, &mut batch);
            let [one_in, batch_in] = classify_all_in(&c, &keys);
            for (i, (k, b)) in keys.iter().zip(&batch).enumerate() {
                let want = prop::naive(&rules, k);
                assert_eq!(c.classify(k), want, "{k:?} (AVX2: {})", c.uses_simd());
                assert_eq!(*b, want, "batch {k:?} (AVX2: {})", c.uses_simd());
                assert_eq!((one_in[i], batch_in[i]), (want, want), "_in {k:?}");
            }
        }
    }

    #[test]
    fn security_group_shaped_v4_equals_linear_scan() {
        check_sg(|n| 0x0a00_0000u32 | (n as u32 & 0x00ff_ffff));
    }

    /// ACL-shaped: 4,500 host-to-host rules (above the tables' 4,096) and, among them from
    /// rule `wide_from` on, rules wide in the destination.
    fn acl_shaped(wide_from: u64) -> (Vec<Rule<u32>>, Vec<Key<u32>>) {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let src = |n: u64| 0xac10_0000 | (n % 700) as u32;
        let dst = |n: u64| 0x0a00_0000 | ((n % 90) as u32) << 4;
        let port = |n: u64| [22u16, 80, 443, 1521, 8080][(n % 5) as usize];
        let mut rules = Vec::new();
        for i in 0..4_500u64 {
            let r = next();
            let wide = i >= wide_from && (i % 29 == 0 || i > 4_490);
            rules.push(Rule {
                src: Prefix::truncating(src(r), if r >> 40 & 7 == 0 { 23 } else { 32 }).unwrap(),
                dst: if wide {
                    Prefix::truncating(dst(r >> 8), (r >> 50) as u8 % 16).unwrap()
                } else {
                    Prefix::truncating(dst(r >> 8), if r >> 44 & 3 == 0 { 28 } else { 32 }).unwrap()
                },
                src_ports: PortRange::ANY,
                dst_ports: if r >> 20 & 7 == 0 {
                    PortRange { lo: 1024, hi: 65535 }
                } else {
                    PortRange::single(port(r >> 24))
                },
                proto: [6, 17, 0][(r >> 32) as usize % 3],
                proto_mask: [0xff, 0xff, 0][(r >> 32) as usize % 3],
            });
        }
        let keys = (0..6_000)
            .map(|_| {
                let r = next();
                Key {
                    src: src(r) | (r >> 60) as u32 & 1 << 9,
                    dst: dst(r >> 8) | (r >> 58) as u32 & 3,
                    src_port: (r >> 40) as u16,
                    dst_port: if r >> 30 & 3 == 0 {
                        (r >> 16) as u16
                    } else {
                        port(r >> 24)
                    },
                    proto: [6, 17, 1][(r >> 33) as usize % 3],
                }
            })
            .collect();
        (rules, keys)
    }

    #[test]
    fn acl_shaped_above_4096_rules_gets_tables_and_trees() {
        // Other parts in the last eighth: tables and trees; from the start: trees only.
        for (wide_from, hybrid) in [(4_000, true), (0, false)] {
            let (rules, keys) = acl_shaped(wide_from);
            let built = Classifier::build(&rules).unwrap();
            assert_eq!(
                matches!(built.layout, Layout::Other(Other::Hybrid(_))),
                hybrid,
                "from {wide_from}"
            );
            let compact = Classifier::build_with(&rules, Options::COMPACT).unwrap();
            assert!(matches!(compact.layout, Layout::Wide(_)), "COMPACT: trees only");
            let want: Vec<_> = keys.iter().map(|k| prop::naive(&rules, k)).collect();
            let hits = want.iter().filter(|w| w.is_some()).count();
            assert!(hits > keys.len() / 10, "the keys hit rules: {hits}");
            for c in [built.clone(), built.without_simd(), compact] {
                let mut batch = vec![None; keys.len()];
                c.classify_batch(&keys, &mut batch);
                let [one_in, batch_in] = classify_all_in(&c, &keys);
                for (i, ((k, b), w)) in keys.iter().zip(&batch).zip(&want).enumerate() {
                    assert_eq!(c.classify(k), *w, "{k:?} (AVX2: {})", c.uses_simd());
                    assert_eq!(*b, *w, "batch {k:?} (AVX2: {})", c.uses_simd());
                    assert_eq!((one_in[i], batch_in[i]), (*w, *w), "_in {k:?}");
                }
            }
        }
    }

    #[test]
    fn phase_tables_are_chosen_within_the_budget_only() {
        let (rules, keys) = sg_shaped(|n| 0x0a00_0000u32 | (n as u32 & 0x00ff_ffff));
        let fast = Classifier::build(&rules).unwrap();
        assert!(
            matches!(fast.layout, Layout::Rfc(_)),
            "1,000 IPv4 rules: phase tables"
        );
        let tight = Options {
            phase_table_bytes: rfc::FIXED_BYTES + 64,
        };
        for options in [Options::COMPACT, tight] {
            let c = Classifier::build_with(&rules, options).unwrap();
            assert!(!matches!(c.layout, Layout::Rfc(_)), "{options:?}: trees");
            for k in &keys {
                assert_eq!(c.classify(k), fast.classify(k), "{options:?} {k:?}");
            }
        }
        let (rules6, _) = sg_shaped(|n| (0x2001_0db8u128 << 96) | u128::from(n));
        let c = Classifier::build(&rules6).unwrap();
        assert!(!matches!(c.layout, Layout::Rfc(_)), "IPv6: trees");
    }

    #[test]
    fn security_group_shaped_v6_equals_linear_scan() {
        check_sg(|n| (0x2001_0db8u128 << 96) | u128::from(n & 0xffff_ffff_ffff));
    }

    mod prop {
        use proptest::prelude::*;

        use super::super::*;

        /// The oracle: a scan written from the matching definition, sharing nothing with
        /// the classifier (no `Prefix::contains`, no `Rule::matches`).
        pub(super) fn naive<A: Addr>(rules: &[Rule<A>], k: &Key<A>) -> Option<u32> {
            for (i, r) in rules.iter().enumerate() {
                let in_prefix = |a: A, p: &Prefix<A>| {
                    let shift = A::BITS - u32::from(p.len);
                    p.len == 0 || (a.to_u128() >> shift) == (p.addr.to_u128() >> shift)
                };
                if in_prefix(k.src, &r.src)
                    && in_prefix(k.dst, &r.dst)
                    && r.src_ports.lo <= k.src_port
                    && k.src_port <= r.src_ports.hi
                    && r.dst_ports.lo <= k.dst_port
                    && k.dst_port <= r.dst_ports.hi
                    && k.proto & r.proto_mask == r.proto
                {
                    return Some(i as u32);
                }
            }
            None
        }

        /// Addresses from a few shared bases so prefixes nest and overlap.
        fn addr<A: Addr>() -> impl Strategy<Value = A> {
            let bits = A::BITS;
            (0usize..4, any::<u128>(), 0u32..=bits).prop_map(move |(base, noise, keep)| {
                let bases = [
                    0u128,
                    0x0a00_0000u128 << (bits - 32),
                    u128::MAX,
                    0x8000_0000u128 << (bits - 32),
                ];
                let b = A::from_u128_truncating(bases[base]).to_u128();
                let low_mask = if keep == 0 { 0 } else { u128::MAX >> (128 - keep) };
                A::from_u128_truncating((b & !low_mask) | (noise & low_mask))
            })
        }

        fn prefix<A: Addr>() -> impl Strategy<Value = Prefix<A>> {
            let bits = A::BITS as u8;
            (addr::<A>(), prop_oneof![Just(0u8), Just(bits), 0..=bits])
                .prop_map(|(a, len)| Prefix::truncating(a, len).unwrap_or(Prefix::ANY))
        }

        fn port() -> impl Strategy<Value = u16> {
            prop_oneof![
                Just(0u16),
                Just(65535),
                Just(1023),
                Just(1024),
                Just(80),
                Just(443),
                any::<u16>()
            ]
        }

        fn ports() -> impl Strategy<Value = PortRange> {
            prop_oneof![
                1 => Just(PortRange::ANY),
                2 => (port(), port()).prop_map(|(a, b)| PortRange { lo: a.min(b), hi: a.max(b) }),
                1 => port().prop_map(PortRange::single),
            ]
        }

        fn rule<A: Addr>() -> impl Strategy<Value = Rule<A>> {
            let proto = prop_oneof![
                Just((0u8, 0u8)),
                Just((6, 0xff)),
                Just((17, 0xff)),
                (any::<u8>(), any::<u8>()).prop_map(|(p, m)| (p, m)),
            ];
            (prefix::<A>(), prefix::<A>(), ports(), ports(), proto).prop_map(|(src, dst, sp, dp, (p, m))| {
                Rule {
                    src,
                    dst,
                    src_ports: sp,
                    dst_ports: dp,
                    proto: p,
                    proto_mask: m,
                }
            })
        }

        /// Keys biased to the edges of the rules' boxes, plus random ones.
        fn keys<A: Addr>(rules: &[Rule<A>], seeds: &[(u64, Key<A>)]) -> Vec<Key<A>> {
            let mut out = Vec::new();
            for (s, random) in seeds {
                out.push(*random);
                if rules.is_empty() {
                    continue;
                }
                let r = &rules[(*s as usize) % rules.len()];
                let pick = |bit: u64| (s >> bit) & 1 == 1;
                let edge = |p: &Prefix<A>, b: u64| if pick(b) { p.first() } else { p.last() };
                let port_edge = |p: &PortRange, b: u64| {
                    let v = if pick(b) { p.lo } else { p.hi };
                    match (s >> (b + 20)) & 3 {
                        0 => v.wrapping_add(1),
                        1 => v.wrapping_sub(1),
                        _ => v,
                    }
                };
                let mut k = Key {
                    src: edge(&r.src, 1),
                    dst: edge(&r.dst, 2),
                    src_port: port_edge(&r.src_ports, 3),
                    dst_port: port_edge(&r.dst_ports, 4),
                    proto: if pick(5) { r.proto } else { r.proto | !r.proto_mask },
                };
                if pick(6) {
                    // Step just outside the source prefix.
                    k.src = A::from_u128_truncating(r.src.last().to_u128().wrapping_add(1));
                }
                if pick(7) {
                    k.dst = A::from_u128_truncating(r.dst.first().to_u128().wrapping_sub(1));
                }
                out.push(k);
            }
            out
        }

        fn key<A: Addr>() -> impl Strategy<Value = Key<A>> {
            (
                addr::<A>(),
                addr::<A>(),
                port(),
                port(),
                prop_oneof![Just(6u8), Just(17), any::<u8>()],
            )
                .prop_map(|(src, dst, src_port, dst_port, proto)| Key {
                    src,
                    dst,
                    src_port,
                    dst_port,
                    proto,
                })
        }

        /// Every way the classifier can be laid out: what `build` picks, the partitioned
        /// forest, one deep tree with single-rule leaves, and the plain list.
        fn shapes<A: Addr>(rules: &[Rule<A>]) -> Vec<(&'static str, Classifier<A>)> {
            let all: Vec<u32> = (0..rules.len() as u32).collect();
            let p = tree::Params::default();
            let narrow = |groups: &[Vec<u32>], params| Classifier {
                layout: Layout::Narrow(tree::Forest::build(rules, groups, params).expect("fits")),
                len: rules.len(),
            };
            let wide = |groups: &[Vec<u32>], params| Classifier {
                layout: Layout::Wide(tree::Forest::build(rules, groups, params).expect("fits")),
                len: rules.len(),
            };
            let mut all_shapes = vec![
                ("build", Classifier::build(rules).expect("builds")),
                (
                    "compact",
                    Classifier::build_with(rules, Options::COMPACT).expect("builds"),
                ),
                ("partitioned", narrow(&partition(rules), p)),
                ("flat", Classifier::build_flat(rules).expect("builds")),
                ("partitioned wide", wide(&partition(rules), p)),
                (
                    "deep",
                    narrow(std::slice::from_ref(&all), tree::Params { leaf: 1, ..p }),
                ),
                (
                    "deep wide",
                    wide(std::slice::from_ref(&all), tree::Params { leaf: 1, ..p }),
                ),
                (
                    "list",
                    narrow(
                        std::slice::from_ref(&all),
                        tree::Params {
                            leaf: usize::MAX,
                            tables: tree::Tables::Off,
                            ..p
                        },
                    ),
                ),
                (
                    "source table",
                    narrow(
                        &partition(rules),
                        tree::Params {
                            tables: tree::Tables::Force { dst: false, k: 8 },
                            ..p
                        },
                    ),
                ),
                (
                    "destination table wide",
                    wide(
                        std::slice::from_ref(&all),
                        tree::Params {
                            tables: tree::Tables::Force { dst: true, k: 3 },
                            ..p
                        },
                    ),
                ),
                (
                    "destination table deep",
                    narrow(
                        &[all],
                        tree::Params {
                            leaf: 1,
                            tables: tree::Tables::Force { dst: true, k: 16 },
                            ..p
                        },
                    ),
                ),
            ];
            // Phase tables in each shape, whatever the rule count, for IPv4 (IPv6 never gets
            // them).
            const SHAPES: [&str; 5] = [
                "phase tables, addresses joined",
                "phase tables, source and ports joined",
                "phase tables, destination and ports joined",
                "phase tables, chained by source port",
                "phase tables, chained by destination port",
            ];
            // Tables for the largest part and trees for the others, whatever the rule count.
            match Hybrid::build(rules, partition(rules), usize::MAX) {
                Some(h) => all_shapes.push((
                    "phase tables and trees",
                    Classifier {
                        layout: Layout::Other(Other::Hybrid(Box::new(h))),
                        len: rules.len(),
                    },
                )),
                None => assert!(
                    A::WORDS > 1 || rules.is_empty(),
                    "hybrid of {} IPv4 rules",
                    rules.len()
                ),
            }
            match rfc::Rfc::each_shape(rules) {
                Ok(each) => all_shapes.extend(each.into_iter().zip(SHAPES).map(|(rfc, name)| {
                    (
                        name,
                        Classifier {
                            layout: Layout::Rfc(Box::new(rfc)),
                            len: rules.len(),
                        },
                    )
                })),
                Err(_) => assert!(A::WORDS > 1, "phase tables of {} IPv4 rules", rules.len()),
            }
            all_shapes
        }

        fn check<A: Addr>(rules: &[Rule<A>], seeds: &[(u64, Key<A>)]) -> Result<(), TestCaseError> {
            let ks = keys(rules, seeds);
            let want: Vec<Option<u32>> = ks.iter().map(|k| naive(rules, k)).collect();
            // Each shape with the node step this CPU uses (AVX2 where it has it) and with the
            // portable one.
            let both = shapes(rules)
                .into_iter()
                .flat_map(|(shape, c)| [(shape, false, c.clone()), (shape, true, c.without_simd())]);
            for (shape, portable, c) in both {
                let mut batch = vec![None; ks.len()];
                c.classify_batch(&ks, &mut batch);
                let [one_in, batch_in] = super::classify_all_in(&c, &ks);
                prop_assert_eq!(&one_in, &want, "{} (portable: {}) classify_in", shape, portable);
                prop_assert_eq!(
                    &batch_in,
                    &want,
                    "{} (portable: {}) classify_batch_in",
                    shape,
                    portable
                );
                for ((k, b), w) in ks.iter().zip(&batch).zip(&want) {
                    prop_assert_eq!(
                        c.classify(k),
                        *w,
                        "{} (portable: {}) key {:?}",
                        shape,
                        portable,
                        k
                    );
                    prop_assert_eq!(*b, *w, "{} (portable: {}) batch key {:?}", shape, portable, k);
                }
            }
            Ok(())
        }

        proptest! {
            #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

            #[test]
            fn classifier_equals_linear_scan_v4(
                rules in prop::collection::vec(rule::<u32>(), 0..80),
                seeds in prop::collection::vec((any::<u64>(), key::<u32>()), 1..120),
            ) {
                check(&rules, &seeds)?;
            }

            #[test]
            fn classifier_equals_linear_scan_v6(
                rules in prop::collection::vec(rule::<u128>(), 0..80),
                seeds in prop::collection::vec((any::<u64>(), key::<u128>()), 1..120),
            ) {
                check(&rules, &seeds)?;
            }
        }
    }
}
