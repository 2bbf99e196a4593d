//! Deterministic provider-looking identifiers: the same scenario yields the same ids.

/// SplitMix64 finaliser over a salt and a counter.
pub(crate) fn mix(salt: u64, n: u64) -> u64 {
    let mut z = salt
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(n)
        .wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A UUID-shaped id (version 4 layout) from two 64-bit values.
pub(crate) fn uuid(a: u64, b: u64) -> String {
    let hi = (a & 0xffff_ffff_ffff_0fff) | 0x4000;
    let lo = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xffff,
        hi & 0xffff,
        lo >> 48,
        lo & 0xffff_ffff_ffff
    )
}

/// `n` lowercase base-36 characters from a seed (Alibaba-style ids such as `sg-bp1...`).
pub(crate) fn base36(mut seed: u64, n: usize) -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut out = String::with_capacity(n);
    for i in 0..n {
        if i % 12 == 11 {
            seed = mix(seed, i as u64);
        }
        out.push(DIGITS[(seed % 36) as usize] as char);
        seed /= 36;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_has_the_canonical_shape() {
        let u = uuid(mix(1, 2), mix(3, 4));
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
        assert_eq!(u.matches('-').count(), 4);
    }

    #[test]
    fn ids_are_deterministic() {
        assert_eq!(base36(mix(7, 1), 20), base36(mix(7, 1), 20));
        assert_ne!(base36(mix(7, 1), 20), base36(mix(7, 2), 20));
    }
}
