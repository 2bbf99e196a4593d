//! What the REST front ends (Huawei and Gcore) share: the JSON body reader [`Body`],
//! URL templates matched against a request's `path`, deterministic ids and creation
//! times, and address prefixes.

use std::net::IpAddr;
use std::sync::OnceLock;

use ipnet::IpNet;
use serde_json::{Map, Value};
use smallvec::SmallVec;

use crate::ids;
use crate::model::Model;
use crate::provider::ApiError;
use crate::request::Request;

/// The request's JSON body as an object: `Err(None)` when there is none, `Err(Some(v))`
/// when it is something else (each provider words its own error).
pub(crate) fn body_object(request: &Request) -> Result<&Map<String, Value>, Option<&Value>> {
    match &request.body {
        Some(Value::Object(map)) => Ok(map),
        other => Err(other.as_ref()),
    }
}

/// The value of `key` in `map`, `None` when absent or `null` (the REST APIs take `null`
/// as "not given").
pub(crate) fn field<'a>(map: &'a Map<String, Value>, key: &str) -> Option<&'a Value> {
    // PERF: a request body's object holds a dozen fields at most, read one by one: a scan
    // of its keys costs less than hashing `key` with SipHash (`serde_json`'s
    // `preserve_order` map) for every field read.
    let value = if map.len() <= 16 {
        map.iter().find(|(k, _)| *k == key).map(|(_, v)| v)
    } else {
        map.get(key)
    };
    value.filter(|v| !v.is_null())
}

/// A JSON object of a request body read field by field, as [`crate::provider::alibaba`]'s
/// `Params` reads RPC parameters: `path` prefixes every field name in messages
/// (`security_group_rule.`), `code` is the provider's error code for a malformed field.
/// `null` reads as absent.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Body<'a, 'p> {
    map: &'a Map<String, Value>,
    path: &'p str,
    code: &'static str,
}

impl<'a, 'p> Body<'a, 'p> {
    /// A reader of `map`, whose fields are named `<path><key>` in messages.
    pub(crate) fn new(map: &'a Map<String, Value>, path: &'p str, code: &'static str) -> Body<'a, 'p> {
        Body { map, path, code }
    }

    fn error(&self, key: &str, message: String) -> ApiError {
        ApiError::new(400, self.code, message).at(format!("{}{key}", self.path))
    }

    /// The value of `key`, `None` when absent or `null`.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value> {
        field(self.map, key)
    }

    /// The first key that is not in `allowed`.
    pub(crate) fn unknown_key(&self, allowed: &[&str]) -> Option<&'a str> {
        self.map
            .keys()
            .find(|k| !allowed.contains(&k.as_str()))
            .map(String::as_str)
    }

    /// Refuses a field that is not in `allowed`.
    ///
    /// # Errors
    /// The reader's code (400) naming the first unknown field and the allowed ones.
    pub(crate) fn check_keys(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.unknown_key(allowed) {
            // Unknown fields are refused rather than ignored (Decision 8): a v2 field such
            // as `port_range_min` silently dropped would widen the rule.
            Some(k) => Err(self.error(
                k,
                format!(
                    "`{}{k}` is not a field of this request (expected {})",
                    self.path,
                    allowed.join(", ")
                ),
            )),
            None => Ok(()),
        }
    }

    /// A required object field.
    ///
    /// # Errors
    /// The reader's code (400) when it is absent or not an object.
    pub(crate) fn object(&self, key: &str) -> Result<&'a Map<String, Value>, ApiError> {
        match self.get(key) {
            Some(Value::Object(m)) => Ok(m),
            None => Err(self.error(key, format!("`{}{key}` is missing", self.path))),
            Some(other) => Err(self.error(
                key,
                format!("`{}{key}` must be an object, found `{other}`", self.path),
            )),
        }
    }

    /// An optional string field.
    ///
    /// # Errors
    /// The reader's code (400) when it is not a string.
    pub(crate) fn str(&self, key: &str) -> Result<Option<&'a str>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(self.error(
                key,
                format!("`{}{key}` must be a string, found `{other}`", self.path),
            )),
        }
    }

    /// An optional string field where empty means absent (remote fields, ids).
    ///
    /// # Errors
    /// As [`Body::str`].
    pub(crate) fn nonempty_str(&self, key: &str) -> Result<Option<&'a str>, ApiError> {
        Ok(self.str(key)?.filter(|s| !s.is_empty()))
    }

    /// An optional boolean field.
    ///
    /// # Errors
    /// The reader's code (400) when it is not `true` or `false`.
    pub(crate) fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(self.error(
                key,
                format!("`{}{key}` must be true or false, found `{other}`", self.path),
            )),
        }
    }
}

/// The request's `path` without its query or fragment, `None` when the request has none.
pub(crate) fn request_path(request: &Request) -> Option<&str> {
    let path = request.path.as_deref()?;
    Some(path.find(['?', '#']).map_or(path, |end| &path[..end]))
}

/// The `{...}` segments of `path` under the first of `templates` that fits it, `None` when
/// none does. A `{...}` segment matches any non-empty segment; a trailing `/` is ignored.
pub(crate) fn match_templates<'p>(templates: &[&str], path: &'p str) -> Option<Ids<'p>> {
    templates.iter().find_map(|t| match_template(t, path))
}

/// The `{...}` segments of a path, borrowed from it (the templates have at most four).
pub(crate) type Ids<'p> = SmallVec<[&'p str; 4]>;

fn match_template<'p>(template: &str, path: &'p str) -> Option<Ids<'p>> {
    // PERF: segment by segment, no lists of segments (every Gcore call matches a path of
    // five or six segments; collecting them cost 2,800 instructions a call).
    let mut t = template.trim_end_matches('/').split('/');
    let mut p = path.trim_end_matches('/').split('/');
    let mut ids = Ids::new();
    loop {
        match (t.next(), p.next()) {
            (None, None) => return Some(ids),
            (Some(ts), Some(ps)) if ts.starts_with('{') => {
                if ps.is_empty() {
                    return None;
                }
                ids.push(ps);
            }
            (Some(ts), Some(ps)) if ts == ps => {}
            // Another segment, or one more on either side.
            _ => return None,
        }
    }
}

/// A deterministic UUID: the `n`th of kind `salt` (and `salt + 1` for its low half) made
/// by the call in progress (see [`Model::call_bits`]).
pub(crate) fn uuid(cloud: &Model, salt: u64, n: u64) -> String {
    ids::uuid(cloud.call_bits(salt, n), cloud.call_bits(salt + 1, n))
}

/// The current call's request id: 32 lowercase hex digits from `salt` and `salt + 1`.
pub(crate) fn request_id(cloud: &Model, salt: u64) -> String {
    // `{:016x}{:016x}`, digit by digit (every call makes one).
    let mut id = String::with_capacity(32);
    ids::push_hex(&mut id, cloud.call_bits(salt, 0), 16);
    ids::push_hex(&mut id, cloud.call_bits(salt + 1, 0), 16);
    id
}

/// An IP address (a full-length prefix) or a CIDR, normalised to its network address.
pub(crate) fn parse_prefix(text: &str) -> Option<IpNet> {
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net.trunc());
    }
    text.parse::<IpAddr>().ok().map(IpNet::from)
}

/// A JSON object of `fields` in order: what `json!({...})` makes of them, built at its
/// final size with each value moved in.
///
/// PERF: for answers; `json!` copies each value it is given (a string written by
/// `to_string` is then copied again) and grows the map as it goes. Shown rules, made with
/// the same keys every time, copy a [`Template`].
pub(crate) fn object<const N: usize>(fields: [(&str, Value); N]) -> Value {
    let mut map = Map::with_capacity(N);
    for (key, value) in fields {
        map.insert(key.to_owned(), value);
    }
    Value::Object(map)
}

/// The keys of a JSON object made again and again with the same keys in the same order
/// (a shown rule), for [`Template::object`].
pub(crate) struct Template(OnceLock<Map<String, Value>>);

impl Template {
    /// A template whose keys the first object made gives.
    pub(crate) const fn new() -> Template {
        Template(OnceLock::new())
    }

    /// What [`object`] makes of `fields`, whose keys must be the same, in the same order,
    /// at every call.
    ///
    /// PERF: a copy of the first call's map with the values swapped in. The copy takes
    /// each key's hash and the map's table as they are, where [`object`] hashes every key
    /// (SipHash: `serde_json`'s `preserve_order` map) and places it: a Huawei shown rule
    /// of 16 keys cost 14,600 instructions that way.
    pub(crate) fn object<const N: usize>(&self, fields: [(&str, Value); N]) -> Value {
        let template = self.0.get_or_init(|| {
            fields
                .iter()
                .map(|(k, _)| ((*k).to_owned(), Value::Null))
                .collect()
        });
        let mut map = template.clone();
        // INVARIANT: the first call's keys (the tests run with debug assertions).
        debug_assert!(
            map.len() == N && map.keys().zip(&fields).all(|(k, (f, _))| k == f),
            "Template::object: not the keys of the first object"
        );
        for (slot, (_, value)) in map.values_mut().zip(fields) {
            *slot = value;
        }
        Value::Object(map)
    }
}

/// `yyyy-MM-ddTHH:mm:ssZ`, `n` seconds after 2024-01-01T00:00:00Z (deterministic).
pub(crate) fn timestamp(n: u64) -> String {
    // Days from 1970-01-01 to 2024-01-01.
    let days = 19_723 + n / 86_400;
    let secs = n % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    // `{y:04}-{m:02}-{d:02}T{h:02}:{min:02}:{s:02}Z` without the formatter (every rule
    // created shows one).
    let mut s = String::with_capacity(20);
    push_padded(&mut s, y as u64, 4);
    for (sep, n) in [
        ('-', u64::from(m)),
        ('-', u64::from(d)),
        ('T', secs / 3600),
        (':', secs / 60 % 60),
        (':', secs % 60),
    ] {
        s.push(sep);
        push_padded(&mut s, n, 2);
    }
    s.push('Z');
    s
}

/// Appends `n` in decimal, zero-padded to `width` digits (`{n:0width$}`).
fn push_padded(s: &mut String, n: u64, width: usize) {
    let digits = n.checked_ilog10().map_or(1, |l| l as usize + 1);
    s.extend(std::iter::repeat_n('0', width.saturating_sub(digits)));
    crate::provider::push_decimal(s, n);
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_make_what_object_makes() {
        static T: Template = Template::new();
        for (id, n) in [("a", 1), ("b", 2)] {
            let fields = || {
                [
                    ("id", Value::from(id)),
                    ("n", Value::from(n)),
                    ("none", Value::Null),
                ]
            };
            let made = T.object(fields());
            assert_eq!(made, object(fields()));
            assert_eq!(made.to_string(), object(fields()).to_string());
        }
    }

    #[test]
    fn timestamps_are_calendar_dates() {
        assert_eq!(timestamp(0), "2024-01-01T00:00:00Z");
        assert_eq!(timestamp(86_400 * 60 + 3_661), "2024-03-01T01:01:01Z");
        // What the formatter wrote, across days, months and years.
        for n in [59, 3_599, 86_399, 86_400 * 366 + 45_296, 86_400 * 3_000_000 + 7] {
            let days = 19_723 + n / 86_400;
            let (y, m, d) = civil_from_days(days as i64);
            let secs = n % 86_400;
            let text = format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
                secs / 3600,
                secs / 60 % 60,
                secs % 60
            );
            assert_eq!(timestamp(n), text);
        }
    }

    #[test]
    fn templates_capture_their_ids_and_need_every_segment() {
        let t = ["/v1/{a}/x/{b}", "/v1/{a}"];
        let ids = |path| match_templates(&t, path).map(|ids| ids.to_vec());
        assert_eq!(ids("/v1/p/x/q/"), Some(vec!["p", "q"]));
        assert_eq!(ids("/v1/p"), Some(vec!["p"]));
        assert_eq!(match_templates(&t, "/v1//x/q"), None);
        assert_eq!(match_templates(&t, "/v1/p/y/q"), None);
        assert_eq!(match_templates(&t, "/v2/p"), None);
        assert_eq!(match_templates(&t, "/v1/p/x"), None);
        assert_eq!(match_templates(&t, "/v1/p/x/q/r"), None);
        assert_eq!(match_templates(&["/v1/{a}"], "/v1/"), None);
        assert_eq!(match_templates(&["/v1/{a}"], ""), None);
        assert_eq!(
            match_templates(&["/v1/{a}/"], "/v1/é//").map(|ids| ids.to_vec()),
            Some(vec!["é"])
        );
    }
}
