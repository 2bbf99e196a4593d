//! What ECS and ENS share: RPC parameters in nested or flat form, the error and success
//! body shapes, deterministic ids, and the rule vocabulary both products use (`IpProtocol`,
//! `PortRange` as `a/b`, CIDR or bare address, `accept`/`drop`, priority 1..100).
//!
//! Alibaba RPC APIs take flat query parameters (`Permissions.1.IpProtocol=TCP`,
//! `Tag.2.Key=env`); SDKs and scenario files often nest them (`"Permissions": [{...}]`).
//! `Params` reads both forms into one flat map, so the front ends see a single shape.
//! Values may be strings or numbers (`"Priority": "10"` and `"Priority": 10` are the same
//! parameter on the wire); an object or array where a value is expected is the caller's
//! `Invalid<Param>` error naming the field and the value.

pub(crate) mod codes;
pub(crate) mod members;
pub(crate) mod rules;

use std::fmt;
use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{Map, Value};

use crate::model::Model;
use crate::provider::{push_decimal, ApiError};
use crate::request::{Request, Response};
use crate::rule::{Action, Direction, Family, IcmpMatch, PortRange, Ports, Remote, Rule, RuleKey};

/// Which product's conventions an answer follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// ECS 2014-05-26.
    Ecs,
    /// ENS 2017-11-10.
    Ens,
}

/// Salts of the deterministic ids (see [`Model::call_bits`]).
const SALT_REQUEST: u64 = 0xA11_0001;
const SALT_REQUEST_LO: u64 = 0xA11_0002;
const SALT_GROUP: u64 = 0xA11_0003;
const SALT_RULE: u64 = 0xA11_0004;

impl Dialect {
    fn host(self) -> &'static str {
        match self {
            Dialect::Ecs => "ecs.aliyuncs.com",
            Dialect::Ens => "ens.aliyuncs.com",
        }
    }

    fn product(self) -> &'static str {
        match self {
            Dialect::Ecs => "Ecs",
            Dialect::Ens => "Ens",
        }
    }

    /// The request id of the current call. ECS shows an uppercase UUID
    /// (`473469C7-AA6F-4DC5-B3DB-A3DC0DE3C83E`, A4); ENS 32 lowercase hex digits
    /// (`760bad53276431c499e30dc36f6b26be`, E1).
    pub(crate) fn request_id(self, cloud: &Model) -> String {
        let mut id = crate::ids::uuid(
            cloud.call_bits(SALT_REQUEST, 0),
            cloud.call_bits(SALT_REQUEST_LO, 0),
        );
        // In place: the id is ASCII (hex digits and dashes).
        match self {
            Dialect::Ecs => id.make_ascii_uppercase(),
            Dialect::Ens => id.retain(|c| c != '-'),
        }
        id
    }
}

/// The provider id of group `key`, made by the call in progress (`sg-` and 20 base-36
/// characters, as both products show).
pub(crate) fn group_id(cloud: &Model, key: crate::group::GroupKey) -> String {
    let mut id = String::with_capacity(23);
    id.push_str("sg-");
    crate::ids::push_base36(&mut id, cloud.call_bits(SALT_GROUP, cloud.group_ordinal(key)), 20);
    id
}

/// The provider id of rule `key`, made by the call in progress (`sgr-` and 20 base-36
/// characters).
pub(crate) fn rule_id(cloud: &Model, key: RuleKey) -> String {
    // Written in place, not by `format!` around a second string.
    let mut id = String::with_capacity(24);
    id.push_str("sgr-");
    crate::ids::push_base36(&mut id, cloud.call_bits(SALT_RULE, cloud.rule_ordinal(key)), 20);
    id
}

/// A success answer: `RequestId` first, then `fields`.
pub(crate) fn ok(
    cloud: &Model,
    dialect: Dialect,
    fields: Map<String, Value>,
    created: Option<String>,
) -> Response {
    let mut body = Map::new();
    body.insert("RequestId".into(), Value::String(dialect.request_id(cloud)));
    body.extend(fields);
    Response {
        status: 200,
        body: Value::Object(body),
        created,
    }
}

/// The Alibaba error body `{RequestId, HostId, Code, Message, Recommend}` with the error's
/// HTTP status.
pub(crate) fn error(cloud: &Model, dialect: Dialect, e: ApiError) -> Response {
    let request_id = dialect.request_id(cloud);
    let recommend = format!(
        "https://api.aliyun.com/troubleshoot?q={}&product={}&requestId={}",
        e.code,
        dialect.product(),
        request_id
    );
    let mut body = Map::new();
    body.insert("RequestId".into(), Value::String(request_id));
    body.insert("HostId".into(), Value::String(dialect.host().into()));
    body.insert("Code".into(), Value::String(e.code.to_owned()));
    body.insert("Message".into(), Value::String(e.message));
    body.insert("Recommend".into(), Value::String(recommend));
    Response {
        status: e.status,
        body: Value::Object(body),
        created: None,
    }
}

/// `Missing<Param>` (400): the POP gateway's code for an absent required parameter.
pub(crate) fn missing(field: &str) -> ApiError {
    let leaf = field.rsplit('.').next().unwrap_or(field);
    ApiError::new(
        400,
        codes::missing(leaf),
        format!("`{field}` is mandatory for this action"),
    )
    .at(field)
}

/// The error for a parameter neither product defines for the API (or sgeval does not
/// model): rejected rather than ignored, so a misspelt field never widens a rule
/// (Decision 8).
fn unknown(field: &str, api: &str) -> ApiError {
    ApiError::new(
        400,
        "InvalidParameter",
        format!("`{field}` is not a parameter of {api} (or one sgeval does not model)"),
    )
}

/// Common request parameters every RPC call may carry; they do not change the call.
const COMMON: &[&str] = &[
    "Action",
    "Version",
    "Format",
    "AccessKeyId",
    "Signature",
    "SignatureMethod",
    "SignatureVersion",
    "SignatureNonce",
    "SignatureType",
    "Timestamp",
    "SecurityToken",
    "OwnerId",
    "OwnerAccount",
    "ResourceOwnerId",
    "ResourceOwnerAccount",
];

pub(crate) use crate::json_text::show;

use crate::json_text::kind;

/// A parameter's full name (`prefix` then `key`, as [`Params::field`] writes it), written
/// only when shown.
#[derive(Clone, Copy)]
pub(crate) struct FieldName<'a>(pub(crate) &'a str, pub(crate) &'a str);

impl std::fmt::Display for FieldName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)?;
        f.write_str(self.1)
    }
}

/// RPC parameters as one flat map (`Permissions.1.IpProtocol` → value), read from nested
/// or flat JSON. Reading a parameter removes it; [`Params::finish`] rejects what is left.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Params {
    /// Prefix of every key, for messages (`Permissions.2.` for one rule).
    prefix: String,
    map: Flat,
}

/// A few parameters as a vector sorted by key, in the byte order a `BTreeMap<String, _>`
/// keeps. PERF: a call's maps hold a handful of keys each; a B-tree allocated a node of
/// some 600 bytes for every one of them (two or three a call).
#[derive(Clone, Debug, Default, PartialEq)]
struct Flat(Vec<(String, Value)>);

impl Flat {
    fn find(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    /// Sets a key's value.
    fn insert(&mut self, key: String, value: Value) {
        match self.find(&key) {
            Ok(i) => self.0[i].1 = value,
            Err(i) => self.0.insert(i, (key, value)),
        }
    }

    fn remove(&mut self, key: &str) -> Option<Value> {
        self.find(key).ok().map(|i| self.0.remove(i).1)
    }

    fn contains_key(&self, key: &str) -> bool {
        self.find(key).is_ok()
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The places of the keys that start with `head`: they sort together, from `head` on.
    fn under(&self, head: &str) -> std::ops::Range<usize> {
        let start = self.0.partition_point(|(k, _)| k.as_str() < head);
        let len = self.0[start..]
            .iter()
            .take_while(|(k, _)| k.starts_with(head))
            .count();
        start..start + len
    }
}

impl Params {
    /// Flattens a request's `params`.
    ///
    /// # Errors
    /// `InvalidParameter` (400) when `params` is not an object or a parameter is given
    /// twice (once nested, once flat).
    pub(crate) fn parse(request: &Request) -> Result<Params, ApiError> {
        let mut params = Params::default();
        let obj = match &request.params {
            None | Some(Value::Null) => return Ok(params),
            Some(Value::Object(obj)) => obj,
            Some(other) => {
                return Err(ApiError::new(
                    400,
                    "InvalidParameter",
                    format!(
                        "`params` must be an object, found {} `{}`",
                        kind(other),
                        show(other)
                    ),
                ))
            }
        };
        // Every key first, in the request's order, then sorted once (placing each as it
        // came moved the keys after it: quadratic in a request's size).
        let mut entries: Vec<(String, Value, usize)> = Vec::new();
        let mut put = |key: String, value: &Value| {
            if !value.is_null() {
                let at = entries.len();
                entries.push((key, value.clone(), at));
            }
        };
        for (key, value) in obj {
            if COMMON.contains(&key.as_str()) {
                continue;
            }
            match value {
                Value::Null => {}
                Value::Array(items) => {
                    // PERF: keys written by hand, not by `format!` (a key per field of
                    // every call).
                    for (i, item) in items.iter().enumerate() {
                        let mut at = String::with_capacity(key.len() + 24);
                        at.push_str(key);
                        at.push('.');
                        push_decimal(&mut at, i as u64 + 1);
                        match item {
                            Value::Object(fields) => {
                                for (field, v) in fields {
                                    let mut name = String::with_capacity(at.len() + 1 + field.len());
                                    name.push_str(&at);
                                    name.push('.');
                                    name.push_str(field);
                                    put(name, v);
                                }
                            }
                            other => put(at, other),
                        }
                    }
                }
                other => put(key.clone(), other),
            }
        }
        // Stable: a key's occurrences stay in request order, so the first repeat in the
        // request is the least place of a second occurrence.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        let twice = entries
            .windows(2)
            .filter(|w| w[0].0 == w[1].0)
            .map(|w| w[1].2)
            .min();
        if let Some(at) = twice {
            let given = entries.iter().find(|e| e.2 == at).map_or("", |e| e.0.as_str());
            return Err(ApiError::new(
                400,
                "InvalidParameter",
                format!("`{given}` is given twice (once nested, once flat)"),
            ));
        }
        params.map.0 = entries.into_iter().map(|(k, v, _)| (k, v)).collect();
        Ok(params)
    }

    /// The full name of a parameter of this map, for messages.
    pub(crate) fn field(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }

    /// The prefix of every key, for messages (`Permissions.2.` for one rule).
    pub(crate) fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Whether the map holds `key`.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    /// Whether no parameter is left.
    pub(crate) fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// The parameters as a JSON object, without `skip` (for idempotency comparisons).
    pub(crate) fn canonical(&self, skip: &str) -> Value {
        Value::Object(
            self.map
                .iter()
                .filter(|(k, _)| k.as_str() != skip)
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// Takes a text parameter; numbers and booleans read as their text (everything is text
    /// on the wire). An empty string reads as absent.
    ///
    /// # Errors
    /// `invalid` (400) when the value is an object or an array.
    pub(crate) fn text(&mut self, key: &str, invalid: &'static str) -> Result<Option<String>, ApiError> {
        let Some(v) = self.map.remove(key) else {
            return Ok(None);
        };
        let text = match v {
            // Taken out of the map: moved, not copied.
            Value::String(s) => s,
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            Value::Null => return Ok(None),
            v @ (Value::Array(_) | Value::Object(_)) => {
                return Err(ApiError::new(
                    400,
                    invalid,
                    format!(
                        "`{}` must be a string, found {} `{}`",
                        self.field(key),
                        kind(&v),
                        show(&v)
                    ),
                ))
            }
        };
        Ok((!text.is_empty()).then_some(text))
    }

    /// Takes a required text parameter.
    ///
    /// # Errors
    /// `invalid` for a wrong type, `Missing<Param>` when absent or empty.
    pub(crate) fn required(&mut self, key: &str, invalid: &'static str) -> Result<String, ApiError> {
        // The name is written out only for the error.
        self.text(key, invalid)?.ok_or_else(|| missing(&self.field(key)))
    }

    /// Takes the entries `prefix.N.<field>` as one map per `N`, ordered by `N`. `N` must
    /// be a whole number from 1 (written without leading zeros); gaps are allowed.
    ///
    /// # Errors
    /// `invalid` (400) for a bad index, a non-object list entry, or `prefix` given as a
    /// single value rather than a list. After an error the parameters under `prefix` are
    /// gone: the request is refused whole.
    pub(crate) fn list(
        &mut self,
        prefix: &str,
        invalid: &'static str,
    ) -> Result<Vec<(u32, Params)>, ApiError> {
        if let Some(v) = self.map.remove(prefix) {
            return Err(ApiError::new(
                400,
                invalid,
                format!(
                    "`{}` must be a list of objects (or `{}.N.<field>` parameters), found {} `{}`",
                    self.field(prefix),
                    self.field(prefix),
                    kind(&v),
                    show(&v)
                ),
            ));
        }
        let head = [prefix, "."].concat();
        // PERF: the keys under `head` are taken out at once, in order (they sort
        // together), not copied out and looked up one by one; each key's allocation
        // becomes its leaf's. An error leaves them taken: every caller returns it.
        let under = self.map.under(&head);
        let taken = self.map.0.drain(under);
        let mut entries: Vec<(u32, Params)> = Vec::new();
        take_entries(&self.prefix, prefix, &head, invalid, taken, &mut entries)?;
        Ok(entries)
    }

    /// Takes the values `prefix.N` (or a single `prefix` value), ordered by `N`.
    ///
    /// # Errors
    /// `invalid` (400) for a bad index or a value that is not text.
    pub(crate) fn text_list(
        &mut self,
        prefix: &str,
        invalid: &'static str,
    ) -> Result<Vec<(u32, String)>, ApiError> {
        let mut out = Vec::new();
        if self.map.contains_key(prefix) {
            if let Some(single) = self.text(prefix, invalid)? {
                out.push((1, single));
            }
        }
        let head = [prefix, "."].concat();
        let keys = self.keys_under(&head);
        for key in keys {
            let index = &key[head.len()..];
            let n = parse_index(index).ok_or_else(|| {
                ApiError::new(
                    400,
                    invalid,
                    format!(
                        "`{}`: the index `{index}` must be a whole number from 1",
                        self.field(&key)
                    ),
                )
            })?;
            if let Some(v) = self.text(&key, invalid)? {
                out.push((n, v));
            }
        }
        out.sort_by_key(|(n, _)| *n);
        Ok(out)
    }

    /// The keys that start with `head`, in order.
    fn keys_under(&self, head: &str) -> Vec<String> {
        // They sort together, from `head` on.
        self.map.0[self.map.under(head)]
            .iter()
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Moves the listed parameters (when present) into a map of their own.
    pub(crate) fn split_off(&mut self, keys: &[&str]) -> Params {
        let mut out = Params {
            prefix: self.prefix.clone(),
            map: Flat::default(),
        };
        // PERF: each entry moved whole, its key's allocation with it (removed, then
        // written again, a key cost a free and an allocation: ENS's older rule calls,
        // `live_profile ens rules`).
        for key in keys {
            if let Ok(i) = self.map.find(key) {
                let (k, v) = self.map.0.remove(i);
                out.map.insert(k, v);
            }
        }
        out
    }

    /// Succeeds when every parameter was read.
    ///
    /// # Errors
    /// `InvalidParameter` (400) naming the first parameter left over.
    pub(crate) fn finish(self, api: &str) -> Result<(), ApiError> {
        match self.map.0.first() {
            Some((key, _)) => Err(unknown(&self.field(key), api)),
            None => Ok(()),
        }
    }
}

/// Moves the parameters `taken` (the keys under `head`, `prefix.`, in order) into
/// `entries` by index, for [`Params::list`]; `own` is the listing map's own prefix, for
/// messages.
fn take_entries(
    own: &str,
    prefix: &str,
    head: &str,
    invalid: &'static str,
    taken: impl Iterator<Item = (String, Value)>,
    entries: &mut Vec<(u32, Params)>,
) -> Result<(), ApiError> {
    for (mut key, value) in taken {
        let rest = &key[head.len()..];
        // The full name is written out only for an error.
        let full = FieldName(own, &key);
        let Some((index, leaf)) = rest.split_once('.') else {
            return Err(ApiError::new(
                400,
                invalid,
                format!(
                    "`{full}` must name a field as `{prefix}.N.<field>`, found {} `{}`",
                    kind(&value),
                    show(&value)
                ),
            ));
        };
        let n = parse_index(index).ok_or_else(|| {
            ApiError::new(
                400,
                invalid,
                format!("`{full}`: the index `{index}` must be a whole number from 1"),
            )
        })?;
        let leaf_at = key.len() - leaf.len();
        // Entries ordered by index.
        let place = match entries.binary_search_by_key(&n, |(m, _)| *m) {
            Ok(place) => place,
            Err(place) => {
                let mut name = [own, prefix, "."].concat();
                push_decimal(&mut name, u64::from(n));
                name.push('.');
                entries.insert(
                    place,
                    (
                        n,
                        Params {
                            prefix: name,
                            map: Flat::default(),
                        },
                    ),
                );
                place
            }
        };
        // The key's own allocation, its leaf moved to the front.
        key.drain(..leaf_at);
        entries[place].1.map.insert(key, value);
    }
    Ok(())
}

/// `1`, `2`, ... without sign or leading zeros.
fn parse_index(text: &str) -> Option<u32> {
    if text.is_empty() || text.starts_with('0') || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|&n| n >= 1)
}

/// Whether a text starts with `http://` or `https://` (any case), which every Alibaba name
/// and description rule forbids.
pub(crate) fn starts_with_http(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Whether a text contains `http://` or `https://` (any case).
pub(crate) fn contains_http(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    lower.contains("http://") || lower.contains("https://")
}

/// The name rule both products state: `min..=max` characters, starting with a letter
/// (Unicode letters include Chinese characters), not `http(s)://`, and otherwise only
/// letters, digits and the listed punctuation.
pub(crate) fn valid_name(name: &str, min: usize, max: usize, punctuation: &[char]) -> bool {
    let len = name.chars().count();
    (min..=max).contains(&len)
        && name.chars().next().is_some_and(char::is_alphabetic)
        && !starts_with_http(name)
        && name
            .chars()
            .all(|c| c.is_alphabetic() || c.is_ascii_digit() || punctuation.contains(&c))
}

/// A CIDR block or a bare address (a bare address is a /32 or /128). Host bits below the
/// prefix are cleared (`10.1.2.3/8` is `10.0.0.0/8`): the providers accept both spellings
/// and a prefix matches by its leading bits only.
pub(crate) fn parse_cidr(text: &str) -> Option<IpNet> {
    if text.contains('/') {
        text.parse::<IpNet>().ok().map(|net| net.trunc())
    } else {
        text.parse::<IpAddr>().ok().map(IpNet::from)
    }
}

/// The protocols of `IpProtocol` (ECS: TCP, UDP, ICMP, ICMPv6, GRE, ALL; ENS: a subset).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Proto {
    Tcp,
    Udp,
    Icmp,
    Icmpv6,
    Gre,
    All,
}

impl Proto {
    /// Parses any case (`tcp`, `TCP`, `Tcp`).
    pub(crate) fn parse(text: &str) -> Option<Proto> {
        // Compared in place: no lowered copy of the text.
        [
            Proto::Tcp,
            Proto::Udp,
            Proto::Icmp,
            Proto::Icmpv6,
            Proto::Gre,
            Proto::All,
        ]
        .into_iter()
        .find(|p| p.lower().eq_ignore_ascii_case(text))
    }

    /// IANA number, `None` for every protocol.
    pub(crate) fn number(self) -> Option<u8> {
        match self {
            Proto::Tcp => Some(crate::packet::TCP),
            Proto::Udp => Some(crate::packet::UDP),
            Proto::Icmp => Some(crate::packet::ICMP),
            Proto::Icmpv6 => Some(crate::packet::ICMPV6),
            Proto::Gre => Some(crate::packet::GRE),
            Proto::All => None,
        }
    }

    /// Whether `PortRange` holds real ports (`a/b`) rather than `-1/-1`.
    pub(crate) fn has_ports(self) -> bool {
        matches!(self, Proto::Tcp | Proto::Udp)
    }

    /// The family a family-specific protocol implies (ICMP is IPv4 only, ICMPv6 IPv6 only).
    pub(crate) fn family(self) -> Option<Family> {
        match self {
            Proto::Icmp => Some(Family::V4),
            Proto::Icmpv6 => Some(Family::V6),
            _ => None,
        }
    }

    /// The documented spelling (`TCP`, `ICMPv6`, `ALL`).
    pub(crate) fn upper(self) -> &'static str {
        match self {
            Proto::Tcp => "TCP",
            Proto::Udp => "UDP",
            Proto::Icmp => "ICMP",
            Proto::Icmpv6 => "ICMPv6",
            Proto::Gre => "GRE",
            Proto::All => "ALL",
        }
    }

    /// The older APIs' spelling (`tcp`, `all`).
    pub(crate) fn lower(self) -> &'static str {
        match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
            Proto::Icmp => "icmp",
            Proto::Icmpv6 => "icmpv6",
            Proto::Gre => "gre",
            Proto::All => "all",
        }
    }
}

/// Why a `PortRange`-style value was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PortError {
    /// Not `a/b` with two integers, or outside 1..65535, or `a > b`.
    Malformed,
    /// Well formed but wrong for the protocol (`-1/-1` for TCP, `22/22` for ICMP).
    Mismatch,
}

/// Reads `a/b` as two integers (`-1` allowed), without `+` signs or spaces.
fn port_pair(text: &str) -> Option<(i32, i32)> {
    let (a, b) = text.split_once('/')?;
    let num = |s: &str| {
        let digits = s.strip_prefix('-').unwrap_or(s);
        (!digits.is_empty() && digits.len() <= 5 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i32>().ok())
            .flatten()
    };
    Some((num(a)?, num(b)?))
}

/// A `PortRange` / `SourcePortRange` for `proto`: `Some(range)` for TCP and UDP
/// (`1 <= a <= b <= 65535`), `None` (every port) for `-1/-1` with the other protocols.
pub(crate) fn port_range(proto: Proto, text: &str) -> Result<Option<PortRange>, PortError> {
    let (a, b) = port_pair(text).ok_or(PortError::Malformed)?;
    if (a, b) == (-1, -1) {
        return if proto.has_ports() {
            Err(PortError::Mismatch)
        } else {
            Ok(None)
        };
    }
    let range = u16::try_from(a)
        .ok()
        .zip(u16::try_from(b).ok())
        .filter(|&(a, b)| a >= 1 && a <= b)
        .and_then(|(a, b)| PortRange::new(a, b))
        .ok_or(PortError::Malformed)?;
    if proto.has_ports() {
        Ok(Some(range))
    } else {
        Err(PortError::Mismatch)
    }
}

/// The text of a port range as the providers show it (`22/22`, `-1/-1`).
pub(crate) fn port_text(range: Option<PortRange>) -> String {
    match range {
        Some(r) => range_text(r),
        None => "-1/-1".into(),
    }
}

/// `lo/hi` of a port range: what `format!("{}/{}", r.lo, r.hi)` writes, without the
/// formatting machinery (PERF: every rule shown or emitted writes one or two).
pub(crate) fn range_text(r: PortRange) -> String {
    let mut s = String::with_capacity(11);
    push_decimal(&mut s, u64::from(r.lo));
    s.push('/');
    push_decimal(&mut s, u64::from(r.hi));
    s
}

/// A validated rule before it gets its key, id and provider view.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct RuleSpec {
    pub(crate) direction: Direction,
    pub(crate) proto: Proto,
    /// Destination ports (`None`: every port).
    pub(crate) ports: Option<PortRange>,
    /// Source ports (`None`: every port).
    pub(crate) src_ports: Option<PortRange>,
    pub(crate) remote: Remote,
    pub(crate) local: Option<IpNet>,
    pub(crate) action: Action,
    pub(crate) priority: u8,
    pub(crate) description: String,
}

impl RuleSpec {
    /// The rule's family: the remote prefix's, else the local prefix's, else the one the
    /// protocol implies, else none (a pure group reference of a protocol of both families
    /// matches the members' addresses of either family).
    pub(crate) fn family(&self) -> Option<Family> {
        match &self.remote {
            Remote::Cidr(net) => Some(Family::of_net(net)),
            _ => None,
        }
        .or_else(|| self.local.as_ref().map(Family::of_net))
        .or_else(|| self.proto.family())
    }

    /// Lowers to a [`Rule`].
    pub(crate) fn to_rule(&self, key: RuleKey, id: String, shown: Value) -> Rule {
        self.lower(key, id, shown, self.description.clone())
    }

    fn lower(&self, key: RuleKey, id: String, shown: Value, description: String) -> Rule {
        Rule {
            key,
            id,
            direction: self.direction,
            family: self.family(),
            protocol: self.proto.number(),
            dst_ports: self.ports.map(Ports::range).unwrap_or_else(Ports::any),
            src_ports: self.src_ports.map(Ports::range).unwrap_or_else(Ports::any),
            // Neither ECS nor ENS filters ICMP by type or code.
            icmp: IcmpMatch::ANY,
            remote: self.remote.clone(),
            local: self.local,
            action: self.action,
            priority: self.priority,
            enabled: true,
            description,
            shown: shown.into(),
        }
    }

    /// The rule's matching fields as a [`Rule`], without the description (which no
    /// comparison reads: not copied).
    fn bare_rule(&self) -> Rule {
        self.lower(RuleKey::new(0), String::new(), Value::Null, String::new())
    }

    /// Whether an existing rule is this rule (every matching field, the action and,
    /// when `priority` is set, the priority; the description does not count).
    pub(crate) fn same_as(&self, rule: &Rule, priority: bool) -> bool {
        self.matcher(priority)(rule)
    }

    /// [`RuleSpec::same_as`] for many rules: the spec is lowered once, not per rule.
    pub(crate) fn matcher(&self, priority: bool) -> impl Fn(&Rule) -> bool {
        let me = self.bare_rule();
        move |rule| {
            me.same_traffic(rule) && me.action == rule.action && (!priority || me.priority == rule.priority)
        }
    }

    /// Whether two requested rules are the same rule (as [`RuleSpec::same_as`]).
    pub(crate) fn same_spec(&self, other: &RuleSpec) -> bool {
        let other_rule = other.bare_rule();
        self.same_as(&other_rule, true)
    }

    /// Whether `group` may hold a rule this spec is the same as (at any priority): when
    /// not, [`RuleSpec::same_as`] is false for every rule of the group, unscanned.
    pub(crate) fn may_be_in(&self, cloud: &Model, group: crate::GroupKey) -> bool {
        let me = self.bare_rule();
        cloud.may_hold_print(group, rule_print(&me))
    }
}

/// The duplicate print of a rule ([`crate::provider::rule_print`]): the fields
/// [`RuleSpec::same_as`] compares, the priority aside.
pub(crate) fn rule_print(rule: &Rule) -> u64 {
    crate::provider::print_of((
        rule.direction,
        rule.family,
        rule.protocol,
        &rule.dst_ports,
        &rule.src_ports,
        &rule.remote,
        rule.local,
        rule.action,
    ))
}

/// Lowers validated rules with fresh keys and ids, in order, each shown as `shown` makes
/// it from the rule and its id; the caller pushes them.
pub(crate) fn lower_rules<'a, T: 'a>(
    cloud: &Model,
    perms: impl ExactSizeIterator<Item = &'a T>,
    spec: impl Fn(&T) -> &RuleSpec,
    shown: impl Fn(&T, &str) -> Value,
) -> Vec<Rule> {
    let keys: Vec<RuleKey> = cloud.next_rule_keys(perms.len()).collect();
    perms
        .zip(keys)
        .map(|(perm, key)| {
            let id = rule_id(cloud, key);
            let view = shown(perm, &id);
            spec(perm).to_rule(key, id, view)
        })
        .collect()
}

/// The answer fields of a group create: its `SecurityGroupId`, also the created id.
pub(crate) fn created_group(id: String) -> (Map<String, Value>, Option<String>) {
    let mut fields = Map::new();
    fields.insert("SecurityGroupId".into(), Value::String(id.clone()));
    (fields, Some(id))
}

/// A provider view built with `json!` as the map it is (an empty map for anything else).
pub(crate) fn into_map(v: Value) -> Map<String, Value> {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// A CIDR field of `family` as shown: the prefix when the rule has one of that family,
/// else empty.
pub(crate) fn net_text(net: Option<&IpNet>, family: Family) -> String {
    net.filter(|n| Family::of_net(n) == family)
        .map(crate::provider::cidr_text)
        .unwrap_or_default()
}

/// Reads a CIDR field of one family; anything else is `code`.
///
/// # Errors
/// `code` (400) for a value that is no CIDR block or address of `family`.
pub(crate) fn cidr(
    q: &mut Params,
    key: &str,
    code: &'static str,
    family: Family,
) -> Result<Option<IpNet>, ApiError> {
    let Some(text) = q.text(key, code)? else {
        return Ok(None);
    };
    match parse_cidr(&text) {
        Some(net) if Family::of_net(&net) == family => Ok(Some(net)),
        _ => Err(ApiError::new(
            400,
            code,
            format!(
                "`{}` `{text}` is not an {family} CIDR block or address",
                q.field(key)
            ),
        )),
    }
}

/// `Policy`: `accept` or `drop` in any case.
pub(crate) fn parse_policy(text: &str) -> Option<Action> {
    if text.eq_ignore_ascii_case("accept") {
        Some(Action::Allow)
    } else if text.eq_ignore_ascii_case("drop") {
        Some(Action::Deny)
    } else {
        None
    }
}

/// Refuses an ICMP rule with an IPv6 address and an ICMPv6 rule with an IPv4 one:
/// `<namespace>.Ipv4ProtocolConflictWithIpv6Address` and the reverse (ECS spells the
/// namespace `InvalidParam`, ENS `InvalidParameter`). `proto_field` and `proto_text` name
/// the `IpProtocol` as given.
///
/// # Errors
/// The conflict (400).
pub(crate) fn check_proto_family(
    proto: Proto,
    family: Option<Family>,
    namespace: &str,
    proto_field: impl fmt::Display,
    proto_text: &str,
) -> Result<(), ApiError> {
    let (code, message) = match (proto, family) {
        (Proto::Icmp, Some(Family::V6)) => (
            codes::v4_protocol_with_v6_address(namespace),
            "is IPv4 only and cannot take an IPv6 address",
        ),
        (Proto::Icmpv6, Some(Family::V4)) => (
            codes::v6_protocol_with_v4_address(namespace),
            "is IPv6 only and cannot take an IPv4 address",
        ),
        _ => return Ok(()),
    };
    Err(
        ApiError::new(400, code, format!("`{proto_field}` `{proto_text}` {message}"))
            .at(proto_field.to_string()),
    )
}

/// Refuses a rule that gives both the IPv4 and the IPv6 field of one side (`keys`, in
/// that order): `code`, the message ending in `wording` (`together`, `at the same time`).
///
/// # Errors
/// `code` (400) when both are given.
pub(crate) fn one_family(
    q: &Params,
    given: (bool, bool),
    keys: (&str, &str),
    code: &'static str,
    wording: &str,
) -> Result<(), ApiError> {
    if given.0 && given.1 {
        return Err(ApiError::new(
            400,
            code,
            format!(
                "`{}` and `{}` cannot be set {wording}",
                q.field(keys.0),
                q.field(keys.1)
            ),
        ));
    }
    Ok(())
}

/// Calls `api` with `params` as the request's parameters (for the front ends' tests).
#[cfg(test)]
pub(crate) fn call_with(cloud: &mut crate::Cloud, api: &str, params: Value) -> Response {
    cloud.call(
        api,
        &Request {
            params: Some(params),
            ..Request::default()
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_text_writes_what_display_writes() {
        for (lo, hi) in [(0, 0), (1, 65535), (22, 22), (65535, 65535), (80, 8080)] {
            assert_eq!(range_text(PortRange { lo, hi }), format!("{lo}/{hi}"));
        }
    }

    #[test]
    fn push_decimal_writes_what_display_writes() {
        let mut n = 1u64;
        let mut values = vec![0, 9, 10, 99, 100, u64::from(u32::MAX), u64::MAX];
        while let Some(next) = n.checked_mul(7) {
            values.push(n);
            values.push(n - 1);
            n = next + 3;
        }
        for v in values {
            let mut s = String::from("x.");
            push_decimal(&mut s, v);
            assert_eq!(s, format!("x.{v}"));
        }
    }
    use serde_json::json;

    fn params(v: Value) -> Params {
        Params::parse(&Request {
            params: Some(v),
            ..Request::default()
        })
        .expect("parses")
    }

    #[test]
    fn a_parameter_given_twice_is_named_by_its_first_repeat_in_the_request() {
        let request = |v: Value| Request {
            params: Some(v),
            ..Request::default()
        };
        // Flat `B.1.X` and `A.1.X`, then both again nested: `B.1.X` repeats first, though
        // `A.1.X` sorts first.
        let err = Params::parse(&request(json!({
            "B.1.X": "b", "A.1.X": "a", "B": [{"X": "b"}], "A": [{"X": "a"}]
        })))
        .expect_err("given twice");
        assert_eq!(err.status, 400);
        assert_eq!(err.code, "InvalidParameter");
        assert!(err.message.contains("`B.1.X` is given twice"), "{}", err.message);
        // A null is no value: not a repeat.
        let p = Params::parse(&request(json!({"A.1.X": null, "A": [{"X": "a"}]}))).expect("parses");
        assert_eq!(p.map.0.len(), 1);
    }

    #[test]
    fn nested_and_flat_forms_read_the_same() {
        let mut nested = params(json!({"Permissions": [{"IpProtocol": "TCP", "Priority": 10}]}));
        let mut flat = params(json!({"Permissions.1.IpProtocol": "TCP", "Permissions.1.Priority": "10"}));
        let a = nested.list("Permissions", "X").unwrap();
        let b = flat.list("Permissions", "X").unwrap();
        assert_eq!(a.len(), 1);
        for (mut pa, mut pb) in a.into_iter().map(|(_, p)| p).zip(b.into_iter().map(|(_, p)| p)) {
            assert_eq!(
                pa.text("IpProtocol", "X").unwrap(),
                pb.text("IpProtocol", "X").unwrap()
            );
            assert_eq!(pa.text("Priority", "X").unwrap().as_deref(), Some("10"));
            assert_eq!(pb.text("Priority", "X").unwrap().as_deref(), Some("10"));
        }
    }

    #[test]
    fn a_parameter_given_twice_is_refused() {
        let e = Params::parse(&Request {
            params: Some(json!({"Tag": [{"Key": "a"}], "Tag.1.Key": "b"})),
            ..Request::default()
        })
        .unwrap_err();
        assert!(e.message.contains("`Tag.1.Key`"), "{e}");
    }

    #[test]
    fn list_indexes_must_be_whole_numbers_from_one() {
        for bad in ["0", "x", "01", "-1", ""] {
            let mut p = params(json!({ format!("Permissions.{bad}.IpProtocol"): "TCP" }));
            let e = p.list("Permissions", "InvalidParam.Permissions").unwrap_err();
            assert_eq!(e.code, "InvalidParam.Permissions");
        }
        let mut sparse =
            params(json!({"Permissions.3.IpProtocol": "TCP", "Permissions.1.IpProtocol": "UDP"}));
        let entries = sparse.list("Permissions", "X").unwrap();
        assert_eq!(entries.iter().map(|(n, _)| *n).collect::<Vec<_>>(), vec![1, 3]);
        assert!(sparse.is_empty());
    }

    #[test]
    fn an_object_where_text_is_expected_names_field_and_value() {
        let mut p = params(json!({"Permissions": [{"SourceCidrIp": {"a": 1}}]}));
        let mut entries = p.list("Permissions", "X").unwrap();
        let e = entries[0]
            .1
            .text("SourceCidrIp", "InvalidSourceCidrIp.Malformed")
            .unwrap_err();
        assert_eq!(e.code, "InvalidSourceCidrIp.Malformed");
        assert!(e.message.contains("`Permissions.1.SourceCidrIp`") && e.message.contains("{\"a\":1}"));
    }

    #[test]
    fn leftover_parameters_are_refused_and_common_ones_ignored() {
        let p = params(json!({"Action": "X", "Format": "JSON", "SourceCidr": "1.2.3.4"}));
        let e = p.finish("AuthorizeSecurityGroup").unwrap_err();
        assert!(e.message.contains("`SourceCidr`"));
    }

    #[test]
    fn port_ranges_follow_the_protocol() {
        assert_eq!(port_range(Proto::Tcp, "22/22"), Ok(PortRange::new(22, 22)));
        assert_eq!(port_range(Proto::Tcp, "200/1"), Err(PortError::Malformed));
        assert_eq!(port_range(Proto::Tcp, "0/80"), Err(PortError::Malformed));
        assert_eq!(port_range(Proto::Tcp, "1/65536"), Err(PortError::Malformed));
        assert_eq!(port_range(Proto::Tcp, "-1/-1"), Err(PortError::Mismatch));
        assert_eq!(port_range(Proto::Udp, "+1/2"), Err(PortError::Malformed));
        assert_eq!(port_range(Proto::Icmp, "-1/-1"), Ok(None));
        assert_eq!(port_range(Proto::All, "1/200"), Err(PortError::Mismatch));
        assert_eq!(port_range(Proto::Gre, "-1"), Err(PortError::Malformed));
    }

    #[test]
    fn cidrs_accept_bare_addresses_and_clear_host_bits() {
        assert_eq!(parse_cidr("10.1.2.3"), "10.1.2.3/32".parse().ok());
        assert_eq!(parse_cidr("10.1.2.3/8"), "10.0.0.0/8".parse().ok());
        assert_eq!(parse_cidr("2001:db8::1"), "2001:db8::1/128".parse().ok());
        assert_eq!(parse_cidr("10.0.0.0/33"), None);
        assert_eq!(parse_cidr("256.0.0.0/8"), None);
        assert_eq!(parse_cidr("fe80::1%eth0"), None);
    }

    #[test]
    fn names_follow_the_documented_rule() {
        let ecs = [':', '_', '.', '-'];
        assert!(valid_name("web-tier.v2", 2, 128, &ecs));
        assert!(valid_name("安全组1", 2, 128, &ecs));
        assert!(!valid_name("w", 2, 128, &ecs));
        assert!(!valid_name("1web", 2, 128, &ecs));
        assert!(!valid_name("web tier", 2, 128, &ecs));
        assert!(!valid_name("web.tier", 2, 128, &[':', '_', '-']));
        assert!(starts_with_http("HTTPS://x"));
    }
}
