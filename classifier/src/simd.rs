//! The node step and the flat block check, portable or with AVX2, and the one place this
//! crate uses `unsafe`.
//!
//! A node step counts the thresholds below the key's field ([`Count::below`]). The portable
//! count is plain Rust that compiles to SSE2 on every x86-64; [`Avx2`] compares all eight
//! thresholds of a cache line at once and counts the mask bits with `popcnt`. An [`Avx2`]
//! value exists only where the CPU was found to have AVX2 and POPCNT at run time
//! ([`Avx2::detect`]); the whole lookup that uses it runs inside [`Count::run`], compiled
//! for those features, so the steps inline into it. [`Avx2::flat_hits`] checks eight rules
//! of a flat classifier ([`crate::flat`]) per compare in the same way.

/// Counts the thresholds of a node below a value; see [`super::tree`]'s `Node::child`.
pub(crate) trait Count: Copy {
    /// `#{i : thr[i] < v}`.
    fn below<const N: usize>(self, thr: &[i32; N], v: i32) -> usize;

    /// Calls `f`, compiled for the instructions this counter uses.
    fn run<R>(self, f: impl FnOnce(Self) -> R) -> R;
}

/// The count in portable Rust.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Portable {
    /// Always 1, but not to the compiler.
    // PERF: masking each comparison with `unit` keeps the count a vector sum; a plain count
    // of booleans becomes a slow bit count on CPUs without `popcnt`.
    pub(crate) unit: i32,
}

impl Count for Portable {
    #[inline(always)]
    fn below<const N: usize>(self, thr: &[i32; N], v: i32) -> usize {
        let mut c = 0i32;
        for &t in thr {
            c += -i32::from(t < v) & self.unit;
        }
        c as usize
    }

    #[inline(always)]
    fn run<R>(self, f: impl FnOnce(Self) -> R) -> R {
        f(self)
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::Avx2;

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod x86 {
    use std::arch::x86_64::{
        __m256i, _mm256_and_si256, _mm256_castsi256_ps, _mm256_cmpeq_epi32, _mm256_cmpgt_epi32,
        _mm256_loadu_si256, _mm256_max_epu32, _mm256_movemask_ps, _mm256_or_si256, _mm256_set1_epi32,
        _mm256_setzero_si256, _mm256_sub_epi32, _mm256_xor_si256,
    };

    use super::Count;

    /// Proof that this CPU has AVX2 and POPCNT: the only constructor is [`Avx2::detect`].
    #[derive(Clone, Copy, Debug)]
    pub(crate) struct Avx2(());

    impl Avx2 {
        /// `Some` when the CPU running this has AVX2 and POPCNT.
        pub(crate) fn detect() -> Option<Avx2> {
            (std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("popcnt"))
                .then_some(Avx2(()))
        }

        /// [`crate::flat`]'s block check, eight rules per compare: bit `j` set when rule
        /// `j` of `block` matches. `block` holds `2 * words` source rows (mask, value per
        /// word), as many destination rows, then the source port's low and span, the
        /// destination port's, the protocol mask and value; `key` is the source words, the
        /// destination words, then the source port, destination port and protocol.
        #[inline(always)]
        pub(crate) fn flat_hits(self, block: &[[u32; 8]], words: usize, key: &[u32; 11]) -> u32 {
            // SAFETY: `self` exists, so `detect` found AVX2 on this CPU.
            unsafe { flat_hits(block, words, key) }
        }
    }

    /// See [`Avx2::flat_hits`].
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[target_feature(enable = "avx2")]
    #[inline]
    unsafe fn flat_hits(block: &[[u32; 8]], words: usize, key: &[u32; 11]) -> u32 {
        // SAFETY (every load): a row is 8 initialised `u32`s, 32 readable bytes, the size of
        // an `__m256i`; the unaligned load has no alignment requirement.
        let row = |i: usize| unsafe { _mm256_loadu_si256(block[i].as_ptr().cast::<__m256i>()) };
        let set = |v: u32| _mm256_set1_epi32(v as i32);
        // Nonzero lanes: some address word or the protocol does not match.
        let mut miss = _mm256_setzero_si256();
        for k in 0..words.min(4) {
            let s = _mm256_xor_si256(_mm256_and_si256(set(key[k]), row(2 * k)), row(2 * k + 1));
            let (m, v) = (2 * (words + k), 2 * (words + k) + 1);
            let d = _mm256_xor_si256(_mm256_and_si256(set(key[4 + k]), row(m)), row(v));
            miss = _mm256_or_si256(miss, _mm256_or_si256(s, d));
        }
        let at = 4 * words;
        let proto = _mm256_xor_si256(_mm256_and_si256(set(key[10]), row(at + 4)), row(at + 5));
        miss = _mm256_or_si256(miss, proto);
        // `port - lo <= span` (unsigned): `max(port - lo, span) == span`.
        let within = |p: u32, lo: usize| {
            let x = _mm256_sub_epi32(set(p), row(lo));
            let span = row(lo + 1);
            _mm256_cmpeq_epi32(_mm256_max_epu32(x, span), span)
        };
        let ok = _mm256_and_si256(
            _mm256_cmpeq_epi32(miss, _mm256_setzero_si256()),
            _mm256_and_si256(within(key[8], at), within(key[9], at + 2)),
        );
        _mm256_movemask_ps(_mm256_castsi256_ps(ok)) as u32
    }

    impl Count for Avx2 {
        #[inline(always)]
        fn below<const N: usize>(self, thr: &[i32; N], v: i32) -> usize {
            // SAFETY: `self` exists, so `detect` found AVX2 and POPCNT on this CPU.
            unsafe { below(thr, v) }
        }

        #[inline(always)]
        fn run<R>(self, f: impl FnOnce(Self) -> R) -> R {
            // SAFETY: `self` exists, so `detect` found AVX2 and POPCNT on this CPU.
            unsafe { run(self, f) }
        }
    }

    /// `f(token)` compiled with AVX2 and POPCNT, so that the steps inside inline.
    ///
    /// # Safety
    /// The CPU must have AVX2 and POPCNT.
    #[target_feature(enable = "avx2,popcnt")]
    #[inline]
    unsafe fn run<R>(token: Avx2, f: impl FnOnce(Avx2) -> R) -> R {
        f(token)
    }

    /// `#{i : thr[i] < v}`, eight thresholds per compare.
    ///
    /// # Safety
    /// The CPU must have AVX2 and POPCNT.
    #[target_feature(enable = "avx2,popcnt")]
    #[inline]
    unsafe fn below<const N: usize>(thr: &[i32; N], v: i32) -> usize {
        const { assert!(N % 8 == 0, "nodes hold whole 8-threshold vectors") };
        let key = _mm256_set1_epi32(v);
        let mut count = 0;
        for eight in thr.chunks_exact(8) {
            // SAFETY: `eight` is 8 initialised `i32`s, 32 readable bytes, the size of an
            // `__m256i`; the unaligned load has no alignment requirement.
            let t = unsafe { _mm256_loadu_si256(eight.as_ptr().cast::<__m256i>()) };
            // Lanes where `t < v` are all ones; their sign bits form the mask.
            let below = _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(key, t)));
            count += (below as u32).count_ones() as usize;
        }
        count
    }
}

/// No AVX2 kernel off x86-64: the type has no value, so only the portable count runs.
#[cfg(not(target_arch = "x86_64"))]
#[derive(Clone, Copy, Debug)]
pub(crate) enum Avx2 {}

#[cfg(not(target_arch = "x86_64"))]
impl Avx2 {
    /// Always `None`.
    pub(crate) fn detect() -> Option<Avx2> {
        None
    }

    /// Never called: there is no value.
    pub(crate) fn flat_hits(self, _block: &[[u32; 8]], _words: usize, _key: &[u32; 11]) -> u32 {
        match self {}
    }
}

#[cfg(not(target_arch = "x86_64"))]
impl Count for Avx2 {
    fn below<const N: usize>(self, _thr: &[i32; N], _v: i32) -> usize {
        match self {}
    }

    fn run<R>(self, _f: impl FnOnce(Self) -> R) -> R {
        match self {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AVX2 count against the portable one on edge values (skipped without AVX2).
    #[test]
    fn avx2_count_equals_portable() {
        let Some(avx2) = Avx2::detect() else {
            eprintln!("no AVX2 here: only the portable count is tested");
            return;
        };
        let edges = [i32::MIN, i32::MIN + 1, -1, 0, 1, 7, i32::MAX - 1, i32::MAX];
        let portable = Portable { unit: 1 };
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        // Miri runs the AVX2 code too (`RUSTFLAGS="-Ctarget-feature=+avx2,+popcnt" cargo +nightly
        // miri test -p sgeval-classifier --lib simd`), slowly: fewer rounds there.
        for round in 0..if cfg!(miri) { 40 } else { 2000 } {
            let mut thr16 = [0i32; 16];
            for t in &mut thr16 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                *t = if round % 2 == 0 {
                    edges[(x % 8) as usize]
                } else {
                    x as i32
                };
            }
            thr16.sort_unstable();
            let mut thr8 = [0i32; 8];
            thr8.copy_from_slice(&thr16[..8]);
            for v in edges.iter().copied().chain(thr16).chain([x as i32]) {
                assert_eq!(avx2.below(&thr8, v), portable.below(&thr8, v), "{thr8:?} {v}");
                assert_eq!(avx2.below(&thr16, v), portable.below(&thr16, v), "{thr16:?} {v}");
                assert_eq!(avx2.run(|a| a.below(&thr16, v)), portable.below(&thr16, v));
            }
        }
    }
}
