//! Deterministic provider-looking identifiers: the same scenario yields the same ids.
//!
//! The ids a call makes are seeded by the call's content ([`call_seed`]: the API, the
//! request as canonical JSON, and how many identical calls came before it), not by its
//! position, so an unchanged call gives its objects the same ids in two versions of a
//! scenario and two different calls never share a seed (up to a 64-bit hash collision).

use serde_json::Value;

use crate::request::Request;

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
    // `{:08x}-{:04x}-{:04x}-{:04x}-{:012x}` of the five fields, written digit by digit
    // (every call makes one: the formatter's padding machinery was most of its cost).
    let mut out = String::with_capacity(36);
    push_hex(&mut out, hi >> 32, 8);
    out.push('-');
    push_hex(&mut out, hi >> 16, 4);
    out.push('-');
    push_hex(&mut out, hi, 4);
    out.push('-');
    push_hex(&mut out, lo >> 48, 4);
    out.push('-');
    push_hex(&mut out, lo, 12);
    out
}

/// The low `digits` hex digits of `v`, lowercase, zero-padded (`{:0digits$x}` of
/// `v` masked to `digits` digits).
pub(crate) fn push_hex(out: &mut String, v: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        out.push(HEX[((v >> (4 * i)) & 0xf) as usize] as char);
    }
}

/// `n` lowercase base-36 characters from a seed (Alibaba-style ids such as `sg-bp1...`).
#[cfg(test)]
pub(crate) fn base36(seed: u64, n: usize) -> String {
    let mut out = String::with_capacity(n);
    push_base36(&mut out, seed, n);
    out
}

/// `n` lowercase base-36 characters from a seed appended to `out` (Alibaba-style ids such
/// as `sg-bp1...`: the prefix and these digits in one allocation).
pub(crate) fn push_base36(out: &mut String, mut seed: u64, n: usize) {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let base = seed;
    for i in 0..n {
        if i % 12 == 11 {
            // From the first seed, not the used-up one (a few bits by now), so the tail
            // varies as much as the head.
            seed = mix(base, i as u64);
        }
        out.push(DIGITS[(seed % 36) as usize] as char);
        seed /= 36;
    }
}

/// The seed of the ids a call makes: a hash of the API name and the request (`params`,
/// `body`, `path`, each as canonical JSON: object keys sorted, no spaces), mixed with
/// `occurrence`, how many identical calls the cloud answered before this one.
pub(crate) fn call_seed(api: &str, request: &Request, occurrence: u64) -> u64 {
    // The canonical text is hashed as it is written, never held: the same bytes, so the
    // same seeds, without building a string per call.
    let mut h = Fnv::default();
    h.bytes(api.as_bytes());
    for part in [&request.params, &request.body] {
        h.bytes(b"\0");
        match part {
            Some(v) => canonical(v, &mut h),
            None => h.bytes(b"-"),
        }
    }
    h.bytes(b"\0");
    match &request.path {
        Some(p) => json_string(p, &mut h),
        None => h.bytes(b"-"),
    }
    mix(h.0, occurrence)
}

/// `v` as canonical JSON into `out`: object keys in byte order (the scenario's key order,
/// which `preserve_order` keeps, changes no id), numbers as written.
fn canonical(v: &Value, out: &mut Fnv) {
    match v {
        Value::Array(items) => {
            out.bytes(b"[");
            for (i, x) in items.iter().enumerate() {
                if i > 0 {
                    out.bytes(b",");
                }
                canonical(x, out);
            }
            out.bytes(b"]");
        }
        Value::Object(map) => {
            out.bytes(b"{");
            // PERF: keys already in byte order (as most requests write them) are not
            // collected and sorted first.
            if map.keys().is_sorted() {
                entries(map.iter(), out);
            } else {
                let mut sorted: Vec<(&String, &Value)> = map.iter().collect();
                sorted.sort_unstable_by(|a, b| a.0.cmp(b.0));
                entries(sorted.into_iter(), out);
            }
            out.bytes(b"}");
        }
        Value::String(s) => json_string(s, out),
        scalar => write_json(scalar, out),
    }
}

/// An object's entries as canonical JSON, in the order given, without the braces.
fn entries<'a>(entries: impl Iterator<Item = (&'a String, &'a Value)>, out: &mut Fnv) {
    for (i, (k, x)) in entries.enumerate() {
        if i > 0 {
            out.bytes(b",");
        }
        json_string(k, out);
        out.bytes(b":");
        canonical(x, out);
    }
}

/// `s` as a JSON string (quoted and escaped as `serde_json` writes it).
fn json_string(s: &str, out: &mut Fnv) {
    // PERF: a string `serde_json` would not escape (no quote, backslash or control
    // character) is its bytes between quotes: hashed directly, not through the serializer,
    // and checked as it is hashed (one pass); a string that needs escapes starts again.
    let before = out.0;
    out.bytes(b"\"");
    for &b in s.as_bytes() {
        if b < 0x20 || b == b'"' || b == b'\\' {
            out.0 = before;
            write_json(s, out);
            return;
        }
        out.byte(b);
    }
    out.bytes(b"\"");
}

/// `v` as compact JSON, the bytes of its `to_string()`.
fn write_json<T: serde::Serialize + ?Sized>(v: &T, out: &mut Fnv) {
    // INVARIANT: serialising a JSON value or a string into a hasher cannot fail.
    serde_json::to_writer(out, v).expect("JSON into a hasher");
}

/// 64-bit FNV-1a over the bytes written: fixed here so ids stay the same across Rust
/// releases (std's hasher makes no such promise).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn bytes(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    fn byte(&mut self, b: u8) {
        self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
    }
}

impl std::io::Write for Fnv {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.bytes(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(params: Value) -> Request {
        Request {
            params: Some(params),
            ..Request::default()
        }
    }

    #[test]
    fn a_call_seed_depends_on_content_not_key_order() {
        let a = request(json!({"RegionId": "r", "Permissions": [{"Priority": 1, "PortRange": "22/22"}]}));
        let b = request(json!({"Permissions": [{"PortRange": "22/22", "Priority": 1}], "RegionId": "r"}));
        assert_eq!(call_seed("Authorize", &a, 0), call_seed("Authorize", &b, 0));
        // The API, any value, the occurrence and the part the JSON sits in all count.
        assert_ne!(call_seed("Authorize", &a, 0), call_seed("Revoke", &a, 0));
        assert_ne!(call_seed("Authorize", &a, 0), call_seed("Authorize", &a, 1));
        let c = request(json!({"RegionId": "r", "Permissions": [{"Priority": 2, "PortRange": "22/22"}]}));
        assert_ne!(call_seed("Authorize", &a, 0), call_seed("Authorize", &c, 0));
        let in_body = Request {
            body: a.params.clone(),
            ..Request::default()
        };
        assert_ne!(call_seed("Authorize", &a, 0), call_seed("Authorize", &in_body, 0));
        let with_path = Request {
            path: Some("/x".into()),
            ..a.clone()
        };
        assert_ne!(
            call_seed("Authorize", &a, 0),
            call_seed("Authorize", &with_path, 0)
        );
    }

    /// The seed as it was first written: the canonical text built whole, then hashed.
    fn seed_from_text(api: &str, request: &Request, occurrence: u64) -> u64 {
        fn text(v: &Value, out: &mut String) {
            match v {
                Value::Array(items) => {
                    out.push('[');
                    for (i, x) in items.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        text(x, out);
                    }
                    out.push(']');
                }
                Value::Object(map) => {
                    let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                    out.push('{');
                    for (i, (k, x)) in entries.into_iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        out.push_str(&Value::String(k.clone()).to_string());
                        out.push(':');
                        text(x, out);
                    }
                    out.push('}');
                }
                scalar => out.push_str(&scalar.to_string()),
            }
        }
        let mut s = String::from(api);
        for part in [&request.params, &request.body] {
            s.push('\0');
            match part {
                Some(v) => text(v, &mut s),
                None => s.push('-'),
            }
        }
        s.push('\0');
        match &request.path {
            Some(p) => text(&Value::String(p.clone()), &mut s),
            None => s.push('-'),
        }
        let mut h = Fnv::default();
        h.bytes(s.as_bytes());
        mix(h.0, occurrence)
    }

    #[test]
    fn a_call_seed_is_the_hash_of_the_canonical_text() {
        let requests = [
            request(
                json!({"RegionId": "r", "Permissions": [{"Priority": 1, "PortRange": "22/22", "X": null}]}),
            ),
            request(
                json!({"Description": "quote \" back\\slash \u{1} tab\t del\u{7f} é 中", "Port": -1.5e3, "On": true}),
            ),
            Request {
                params: None,
                body: Some(json!({"security_group_rule": {"multiport": "1-2,3", "ids": [1, [2, {}]]}})),
                path: Some("/v3/p/\"x\"/é".into()),
            },
            Request::default(),
        ];
        for r in &requests {
            for occurrence in [0, 7] {
                assert_eq!(
                    call_seed("Api", r, occurrence),
                    seed_from_text("Api", r, occurrence),
                    "{r:?}"
                );
            }
        }
    }

    #[test]
    fn uuid_digits_are_the_formatters() {
        for (a, b) in [
            (0, 0),
            (u64::MAX, u64::MAX),
            (mix(1, 2), mix(3, 4)),
            (0x0123_4567_89ab_cdef, 1),
        ] {
            let hi = (a & 0xffff_ffff_ffff_0fff) | 0x4000;
            let lo = (b & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
            let formatted = format!(
                "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
                hi >> 32,
                (hi >> 16) & 0xffff,
                hi & 0xffff,
                lo >> 48,
                lo & 0xffff_ffff_ffff
            );
            assert_eq!(uuid(a, b), formatted);
            let mut two = String::new();
            push_hex(&mut two, a, 16);
            push_hex(&mut two, b, 16);
            assert_eq!(two, format!("{a:016x}{b:016x}"));
        }
    }

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
