//! Test helpers shared by the proptest strategies, the integration tests and the fuzz
//! targets (feature `testkit`; hidden from the docs, not a stable API).
//!
//! - [`edge_addresses`], [`edge_ports`], [`port_edges`]: the places where a cloud's
//!   decisions change, which generated packets aim at.
//! - [`error_code`]: the provider error code of an answer, in whichever field the
//!   provider uses.
//! - [`invalid_requests`]: the table of invalid requests and the status and code each
//!   provider answers (`tests/corpus/invalid_requests.json`, format in
//!   `tests/corpus/README.md`), which `strategy::invalid_call` draws from and the corpus
//!   test sends to every front end.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;

use crate::cloud::{Cloud, Request};
use crate::group::AddressEntry;
use crate::provider::Provider;
use crate::rule::Remote;

/// A far address per family, outside every prefix the tests use.
pub const OUTSIDE: [&str; 2] = ["198.51.100.77", "2001:db8:ffff::77"];

/// The addresses where a cloud's decisions change, sorted, each once: endpoint addresses,
/// the first and last address of every rule prefix (remote and local) and of every
/// address-group entry, the addresses just outside them, and [`OUTSIDE`].
pub fn edge_addresses(cloud: &Cloud) -> Vec<IpAddr> {
    let mut out: BTreeSet<IpAddr> = BTreeSet::new();
    for e in cloud.endpoints() {
        out.extend(e.ips.iter().copied());
    }
    let mut span = |first: IpAddr, last: IpAddr| {
        out.extend(
            [Some(first), Some(last), step(first, -1), step(last, 1)]
                .into_iter()
                .flatten(),
        );
    };
    for g in cloud.groups() {
        for r in &g.rules {
            let remote = match r.remote {
                Remote::Cidr(n) => Some(n),
                _ => None,
            };
            for net in [remote, r.local].into_iter().flatten() {
                span(net.network(), net.broadcast());
            }
        }
    }
    for ag in cloud.address_groups() {
        for entry in &ag.entries {
            match entry {
                AddressEntry::Net(n) => span(n.network(), n.broadcast()),
                AddressEntry::Range(lo, hi) => span(*lo, *hi),
            }
        }
    }
    out.extend(OUTSIDE.iter().map(|a| a.parse::<IpAddr>().expect("address")));
    out.into_iter().collect()
}

/// The address `by` (-1 or 1) away from `a`, when there is one.
fn step(a: IpAddr, by: i8) -> Option<IpAddr> {
    let next = |n: u128, max: u128| {
        if by < 0 {
            n.checked_sub(1)
        } else {
            n.checked_add(1).filter(|&m| m <= max)
        }
    };
    match a {
        IpAddr::V4(x) => {
            next(u128::from(u32::from(x)), u128::from(u32::MAX)).map(|m| IpAddr::V4((m as u32).into()))
        }
        IpAddr::V6(x) => next(u128::from(x), u128::MAX).map(|m| IpAddr::V6(m.into())),
    }
}

/// The edges of the port range `lo..=hi`: just below, first, last, just above (saturating
/// at 0 and 65535).
pub fn port_edges(lo: u16, hi: u16) -> [u16; 4] {
    [lo.saturating_sub(1), lo, hi, hi.saturating_add(1)]
}

/// The ports where a cloud's decisions change, sorted, each once: 0, 1, 22, 443, 65535 and
/// the [`port_edges`] of every destination and source range of every rule.
pub fn edge_ports(cloud: &Cloud) -> Vec<u16> {
    let mut out: BTreeSet<u16> = [0u16, 1, 22, 443, 65535].into_iter().collect();
    for g in cloud.groups() {
        for r in &g.rules {
            for range in r.dst_ports.0.iter().chain(r.src_ports.0.iter()) {
                out.extend(port_edges(range.lo, range.hi));
            }
        }
    }
    out.into_iter().collect()
}

/// The provider error code of an error body, from whichever field the provider uses
/// (`Code` for ECS/ENS, `error_code` for Huawei, `exception_class` for Gcore); an empty
/// code is none.
pub fn error_code(body: &Value) -> Option<&str> {
    ["Code", "error_code", "code", "exception_class"]
        .iter()
        .find_map(|k| body.get(*k).and_then(Value::as_str))
        .filter(|c| !c.is_empty())
}

/// The invalid-request table: a group-creating request per provider (the setup) and the rows.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvalidRequests {
    /// Per provider, the `CreateSecurityGroup` request whose group `$group` stands for.
    pub setup: BTreeMap<Provider, Request>,
    /// The invalid requests.
    pub rows: Vec<InvalidRequest>,
}

/// One invalid request and what the provider answers.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvalidRequest {
    /// The provider.
    pub provider: Provider,
    /// The API.
    pub api: String,
    /// What is wrong with the request.
    pub mutation: String,
    /// The request; a `"$group"` string is the setup group's id.
    pub request: Request,
    /// The HTTP status.
    pub status: u16,
    /// The provider's error code.
    pub code: String,
    /// The SEMANTICS.md source keys that document the code.
    pub source: String,
}

impl InvalidRequest {
    /// The request with `"$group"` replaced by `group`.
    pub fn request_for(&self, group: &str) -> Request {
        let fill = |v: &Option<Value>| v.as_ref().map(|v| with_group(v, group));
        Request {
            params: fill(&self.request.params),
            body: fill(&self.request.body),
            path: self.request.path.as_ref().map(|p| p.replace("$group", group)),
        }
    }
}

fn with_group(v: &Value, group: &str) -> Value {
    match v {
        Value::String(s) if s == "$group" => Value::String(group.to_owned()),
        Value::Array(a) => Value::Array(a.iter().map(|x| with_group(x, group)).collect()),
        Value::Object(m) => Value::Object(m.iter().map(|(k, x)| (k.clone(), with_group(x, group))).collect()),
        _ => v.clone(),
    }
}

/// The file `tests/corpus/invalid_requests.json` as it is committed.
pub const INVALID_REQUESTS_JSON: &str = include_str!("../tests/corpus/invalid_requests.json");

/// The invalid-request table (`tests/corpus/invalid_requests.json`, read once).
pub fn invalid_requests() -> &'static InvalidRequests {
    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        invalid_requests: InvalidRequests,
    }
    static TABLE: OnceLock<InvalidRequests> = OnceLock::new();
    TABLE.get_or_init(|| {
        serde_json::from_str::<File>(INVALID_REQUESTS_JSON)
            .expect("tests/corpus/invalid_requests.json follows its format")
            .invalid_requests
    })
}
