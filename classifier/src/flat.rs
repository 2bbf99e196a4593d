//! The rules as one list checked eight at a time: built in one pass over the rules, for a
//! classifier that is to be replaced soon (see [`crate::Classifier::build_flat`]).
//!
//! Each block of eight rules keeps every field in a row of eight words, so that one check
//! of a block is a few operations on whole rows: eight rules per compare with AVX2
//! ([`simd::Avx2::flat_hits`]), in portable Rust elsewhere (which the compiler vectorizes
//! only in part). A rule
//! matches when, for every word of both addresses, `key & mask == value`; when both ports
//! lie in their ranges (`port - lo <= hi - lo`, unsigned); and when
//! `key.proto & proto_mask == proto`. The first block with a match gives the first rule.

use crate::{simd, tree, Addr, Key, Rule};

/// Eight words, one per rule of a block.
type Row = [u32; 8];

/// A block's rows past the address words: source port low and span, destination port low
/// and span, protocol mask, protocol.
const PORT_ROWS: usize = 6;

/// A list of rules in blocks of eight.
#[derive(Clone, Debug)]
pub(crate) struct Flat<A: Addr> {
    /// Per block, [`Flat::rows`] rows: per address word (most significant first) the source
    /// mask and value, then per word the destination mask and value, then the port and
    /// protocol rows. The last block is padded with rules that never match.
    rows: Vec<Row>,
    _addr: std::marker::PhantomData<A>,
}

impl<A: Addr> Flat<A> {
    /// Words of an address: `Addr` is sealed, IPv4 has one, IPv6 four (the key's layout,
    /// [`Flat::scan_by`], has room for four).
    const fn words() -> usize {
        if A::WORDS < 4 {
            A::WORDS
        } else {
            4
        }
    }

    /// Rows of one block.
    const fn rows() -> usize {
        4 * Self::words() + PORT_ROWS
    }

    /// The rules in blocks, in order.
    pub(crate) fn build(rules: &[Rule<A>]) -> Flat<A> {
        let (per, w) = (Self::rows(), Self::words());
        let mut rows = Vec::with_capacity(rules.len().div_ceil(8) * per);
        // PERF: a block is filled in place here, then copied once (not a zeroed vector
        // written rule by rule at scattered places: 70 instructions a rule in a refresh).
        let mut block = [[0u32; 8]; 4 * 4 + PORT_ROWS];
        for eight in rules.chunks(8) {
            // Padding: a protocol mask of 0 with protocol 1 never matches (`x & 0 != 1`).
            block[..per].fill([0; 8]);
            block[per - 1] = [1; 8];
            for (j, r) in eight.iter().enumerate() {
                let (sm, dm) = (A::mask(r.src.len), A::mask(r.dst.len));
                for k in 0..w {
                    block[2 * k][j] = sm.word(k);
                    block[2 * k + 1][j] = r.src.addr.word(k);
                    block[2 * (w + k)][j] = dm.word(k);
                    block[2 * (w + k) + 1][j] = r.dst.addr.word(k);
                }
                let at = 4 * w;
                let (sp, dp) = (r.src_ports, r.dst_ports);
                block[at][j] = sp.lo.into();
                block[at + 1][j] = sp.hi.wrapping_sub(sp.lo).into();
                block[at + 2][j] = dp.lo.into();
                block[at + 3][j] = dp.hi.wrapping_sub(dp.lo).into();
                // An empty port range matches nothing: the padding's protocol test.
                let empty = sp.lo > sp.hi || dp.lo > dp.hi;
                (block[at + 4][j], block[at + 5][j]) = if empty {
                    (0, 1)
                } else {
                    (r.proto_mask.into(), r.proto.into())
                };
            }
            rows.extend_from_slice(&block[..per]);
        }
        Flat {
            rows,
            _addr: std::marker::PhantomData,
        }
    }

    /// The index of the first rule that matches `key`, or [`tree::NONE`]: `hits` gives
    /// the rules of a block that match (bit `j` for rule `j`), given the key's words (as
    /// [`simd::Avx2::flat_hits`] takes them).
    #[inline(always)]
    fn scan_by(&self, key: &Key<A>, hits: impl Fn(&[Row], &[u32; 11]) -> u32) -> u32 {
        let mut words = [0u32; 11];
        for k in 0..Self::words() {
            words[k] = key.src.word(k);
            words[4 + k] = key.dst.word(k);
        }
        words[8] = key.src_port.into();
        words[9] = key.dst_port.into();
        words[10] = key.proto.into();
        for (b, block) in self.rows.chunks_exact(Self::rows()).enumerate() {
            let h = hits(block, &words);
            if h != 0 {
                return (b * 8) as u32 + h.trailing_zeros();
            }
        }
        tree::NONE
    }

    /// The rules of `block` that match the key of `words`, in portable Rust.
    #[inline(always)]
    fn hits(block: &[Row], words: &[u32; 11]) -> u32 {
        let w = Self::words();
        // Per rule: nonzero when some field does not match.
        let mut miss: Row = [0; 8];
        for k in 0..w {
            let (s, d) = (words[k], words[4 + k]);
            let (sm, sv) = (&block[2 * k], &block[2 * k + 1]);
            let (dm, dv) = (&block[2 * (w + k)], &block[2 * (w + k) + 1]);
            for j in 0..8 {
                miss[j] |= ((s & sm[j]) ^ sv[j]) | ((d & dm[j]) ^ dv[j]);
            }
        }
        let at = 4 * w;
        for p in 0..2 {
            let (lo, span) = (&block[at + 2 * p], &block[at + 2 * p + 1]);
            for j in 0..8 {
                miss[j] |= u32::from(words[8 + p].wrapping_sub(lo[j]) > span[j]);
            }
        }
        let (pm, pv) = (&block[at + 4], &block[at + 5]);
        for j in 0..8 {
            miss[j] |= (words[10] & pm[j]) ^ pv[j];
        }
        miss.iter()
            .enumerate()
            .fold(0, |h, (j, m)| h | u32::from(*m == 0) << j)
    }

    /// The first rule that matches `key`, in portable Rust.
    #[inline(never)]
    pub(crate) fn classify(&self, key: &Key<A>) -> u32 {
        self.scan_by(key, Self::hits)
    }

    /// [`Flat::classify`] with eight rules checked per AVX2 compare.
    #[inline(never)]
    pub(crate) fn classify_with_avx2(&self, key: &Key<A>, avx2: simd::Avx2) -> u32 {
        use simd::Count;
        avx2.run(|a| self.scan_by(key, |block, words| a.flat_hits(block, Self::words(), words)))
    }

    /// [`Flat::classify_with_avx2`] (with `avx2`) or [`Flat::classify`] for every key of
    /// `keys`, into the same place of `out` (`None` for no match).
    pub(crate) fn classify_batch(&self, keys: &[Key<A>], out: &mut [Option<u32>], avx2: Option<simd::Avx2>) {
        for (k, o) in keys.iter().zip(out) {
            let i = match avx2 {
                Some(a) => self.classify_with_avx2(k, a),
                None => self.classify(k),
            };
            *o = (i != tree::NONE).then_some(i);
        }
    }

    /// Bytes on the heap.
    pub(crate) fn memory_usage(&self) -> usize {
        self.rows.capacity() * std::mem::size_of::<Row>()
    }
}
