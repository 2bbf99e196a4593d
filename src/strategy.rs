//! Public [proptest](https://docs.rs/proptest) strategies for your own property-based test suites (feature `proptest`).
//!
//! Per provider, the strategies generate what a real client would send, within every
//! documented limit, and packets aimed at the places where decisions change:
//!
//! - [`create_group`]: valid `CreateSecurityGroup` requests (names and descriptions at their
//!   length bounds, tags, group types, ...).
//! - [`rule_call`]: valid rule calls for a group that exists (`AuthorizeSecurityGroup`,
//!   `CreateSecurityGroupRule`, ...), every protocol, port and address form; [`limit_call`]:
//!   a call at the provider's documented maximum of rules.
//! - [`scenario`]: whole [`Scenario`]s: groups, rules that use shared priorities, group
//!   references and both families, and endpoints (dual-stack or not) that join groups.
//! - [`packets`]: packets aimed at a cloud's rule edges (first and last port, the ports
//!   just outside, the first and last address of every prefix and the addresses just
//!   outside), at member addresses, in both families, and a few across families.
//! - [`invalid_call`]: invalid requests, each with the error code the provider must
//!   answer ([`InvalidCall::code`]) and what is wrong ([`InvalidCall::mutation`]).
//!
//! With the reference evaluator as the oracle, a user's own firewall model (a simulator's,
//! a policy compiler's) can be checked against sgeval in a few lines:
//!
//! ```
//! use proptest::prelude::*;
//! use proptest::test_runner::{Config, TestRunner};
//! use sgeval::{flow, reference, strategy, Provider, Verdict};
//!
//! /// The user's own model of Gcore (Neutron): allow when any rule of any group matches.
//! fn my_gcore_firewall(cloud: &sgeval::Cloud, packet: &sgeval::Packet) -> Verdict {
//!     // ... the user's implementation; here, sgeval itself stands in for it.
//!     flow::trace(cloud, &reference::Evaluator::new(cloud), packet).verdict
//! }
//!
//! let cases = strategy::scenario(Provider::Gcore).prop_flat_map(|s| {
//!     let cloud = s.build().expect("generated scenarios are valid");
//!     let packets = strategy::packets(&cloud, 16);
//!     (Just(cloud), packets)
//! });
//! TestRunner::new(Config { cases: 8, ..Config::default() })
//!     .run(&cases, |(cloud, packets)| {
//!         let oracle = reference::Evaluator::new(&cloud);
//!         for p in &packets {
//!             let want = flow::trace(&cloud, &oracle, p).verdict;
//!             prop_assert_eq!(my_gcore_firewall(&cloud, p), want, "{}", p);
//!         }
//!         Ok(())
//!     })
//!     .unwrap();
//! ```
//!
//! `examples/oracle.rs` is the same suite at full size, for every provider.
//!
//! Generated scenarios keep every rule distinct in what it matches (direction, family,
//! protocol, ports and remote), so no provider refuses one as a duplicate or a conflict;
//! priorities are drawn from a small set so that equal priorities are common.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::IpNet;
use proptest::prelude::*;
use proptest::sample::select;
use serde_json::{json, Value};

use crate::cloud::{Cloud, Request, Response};
use crate::packet::{Packet, GRE, ICMP, ICMPV6};
use crate::provider::{Provider, RuleDraft, Target};
use crate::rule::{Action, Direction, Family, IcmpMatch, PortRange};
use crate::scenario::{Call, EndpointSpec, Scenario};

/// A provider call: the API name and the request.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiCall {
    /// The API, as [`Cloud::call`] takes it.
    pub api: String,
    /// The request.
    pub request: Request,
}

impl ApiCall {
    fn new(api: &str, request: Request) -> ApiCall {
        ApiCall {
            api: api.to_owned(),
            request,
        }
    }

    /// Applies the call to `cloud`.
    pub fn apply(&self, cloud: &mut Cloud) -> Response {
        cloud.call(&self.api, &self.request)
    }
}

/// An invalid call and the error code the provider must answer.
#[derive(Clone, Debug, PartialEq)]
pub struct InvalidCall {
    /// The call.
    pub call: ApiCall,
    /// The provider's error code (`Code`, `error_code` or `exception_class` of the body).
    pub code: &'static str,
    /// What is wrong with the call.
    pub mutation: &'static str,
}

/// The provider error code of an error answer, from whichever field the provider uses
/// (`Code` for ECS/ENS, `error_code` for Huawei, `exception_class` for Gcore).
pub fn error_code(response: &Response) -> Option<&str> {
    crate::testkit::error_code(&response.body)
}

fn params(v: Value) -> Request {
    Request {
        params: Some(v),
        ..Default::default()
    }
}

fn body(v: Value) -> Request {
    Request {
        body: Some(v),
        ..Default::default()
    }
}

// ---------------------------------------------------------------------------------------
// Text at its bounds

/// Text of `min..=max` characters: a first character from `first`, the rest from `rest`,
/// with the bounds themselves drawn often.
fn text(first: &'static str, rest: &'static str, min: usize, max: usize) -> BoxedStrategy<String> {
    let len = prop_oneof![Just(min), Just(max), min..=max];
    let first: Vec<char> = first.chars().collect();
    let rest: Vec<char> = rest.chars().collect();
    len.prop_flat_map(move |n| {
        (
            select(first.clone()),
            prop::collection::vec(select(rest.clone()), n.saturating_sub(1)),
            Just(n),
        )
    })
    .prop_map(|(f, r, n)| {
        if n == 0 {
            String::new()
        } else {
            std::iter::once(f).chain(r).collect()
        }
    })
    .boxed()
}

const LETTERS: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ安全组";
const ALNUM: &str = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

// ---------------------------------------------------------------------------------------
// CreateSecurityGroup

/// A valid `CreateSecurityGroup` request of `provider`. For ECS the group type is drawn
/// (basic or advanced); use [`create_group_of`] to fix it.
pub fn create_group(provider: Provider) -> BoxedStrategy<ApiCall> {
    match provider {
        Provider::Ecs => prop_oneof![Just(false), Just(true)]
            .prop_flat_map(|enterprise| create_group_of(Provider::Ecs, enterprise))
            .boxed(),
        other => create_group_of(other, false),
    }
}

/// A valid `CreateSecurityGroup` request; `enterprise` asks ECS for an advanced group (other
/// providers ignore it).
pub fn create_group_of(provider: Provider, enterprise: bool) -> BoxedStrategy<ApiCall> {
    match provider {
        // A4/A5: name 2-128, starts with a letter, letters digits `:_.-`; description 2-256;
        // Tag.N 1..20, keys 1-128 not starting with aliyun/acs:, values 0-128.
        Provider::Ecs => (
            text(LETTERS, "abcXYZ019:_.-安", 2, 128),
            prop::option::of(text(LETTERS, "abc XYZ 019,.-", 2, 256)),
            prop::collection::btree_map(
                text("kvt", "abcdef0123_-", 1, 128),
                text("v", "xyz012 -", 0, 128),
                0..=20,
            ),
            // Rule calls name the group's region; the strategies use one.
            Just("cn-hangzhou"),
        )
            .prop_map(move |(name, description, tags, region)| {
                let mut p = json!({"RegionId": region, "VpcId": "vpc-strategy", "SecurityGroupName": name,
                    "SecurityGroupType": if enterprise { "enterprise" } else { "normal" }});
                if let Some(d) = description {
                    p["Description"] = json!(d);
                }
                for (i, (k, v)) in tags.into_iter().enumerate() {
                    p[format!("Tag.{}.Key", i + 1)] = json!(k);
                    p[format!("Tag.{}.Value", i + 1)] = json!(v);
                }
                ApiCall::new("CreateSecurityGroup", params(p))
            })
            .boxed(),
        // E1/E2: name 2-128, starts with a letter, letters digits `:_-` (no `.`);
        // description 2-256, starts with a letter.
        Provider::Ens => (
            text(LETTERS, "abcXYZ019:_-", 2, 128),
            prop::option::of(text(LETTERS, "abc XYZ 019,.-", 2, 256)),
        )
            .prop_map(|(name, description)| {
                let mut p = json!({"SecurityGroupName": name});
                if let Some(d) = description {
                    p["Description"] = json!(d);
                }
                ApiCall::new("CreateSecurityGroup", params(p))
            })
            .boxed(),
        // H1: name 1-64 (letters, digits, Chinese, `_-.`), description 0-255 without `<>`,
        // tags key 1-36 value 0-43 unique, enterprise project `0`.
        Provider::Huawei => (
            text(ALNUM, "abcXYZ019_-.安全", 1, 64),
            prop::option::of(text(ALNUM, "abc XYZ 019,.-()", 0, 255)),
            prop::collection::btree_map(text("kt", "abc012_-", 1, 36), text("v", "xyz012", 0, 43), 0..=10),
            any::<bool>(),
        )
            .prop_map(|(name, description, tags, project)| {
                let mut sg = json!({"name": name});
                if let Some(d) = description {
                    sg["description"] = json!(d);
                }
                if !tags.is_empty() {
                    sg["tags"] = tags
                        .into_iter()
                        .map(|(key, value)| json!({"key": key, "value": value}))
                        .collect();
                }
                if project {
                    sg["enterprise_project_id"] = json!("0");
                }
                ApiCall::new("CreateSecurityGroup", body(json!({"security_group": sg})))
            })
            .boxed(),
        // G1/G2: name and description up to 255 characters, tags a string map.
        Provider::Gcore => (
            text(ALNUM, "abc XYZ 019_-.", 1, 255),
            prop::option::of(text(ALNUM, "abc XYZ 019", 0, 255)),
            prop::collection::btree_map(text("kt", "abc012_-", 1, 255), text("v", "xyz012", 0, 255), 0..=4),
        )
            .prop_map(|(name, description, tags)| {
                let mut b = json!({"name": name});
                if let Some(d) = description {
                    b["description"] = json!(d);
                }
                if !tags.is_empty() {
                    b["tags"] = json!(tags);
                }
                ApiCall::new("CreateSecurityGroup", body(b))
            })
            .boxed(),
    }
}

// ---------------------------------------------------------------------------------------
// Rules, provider-neutral, then written by each provider's `emit`

/// What a rule matches on, before it is written in a provider's shape.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Spec {
    direction: Direction,
    family: Family,
    proto: Proto,
    remote: RemoteSpec,
    allow: bool,
    priority: u8,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Proto {
    /// Every protocol.
    All,
    /// TCP or UDP (6, 17) with destination port ranges (one, or several for Huawei) and an
    /// optional source port range (ECS, ENS).
    Ports(u8, Vec<(u16, u16)>, Option<(u16, u16)>),
    /// ICMP of the rule's family, optionally (Gcore) a type and code.
    Icmp(Option<(u8, Option<u8>)>),
    /// GRE (47).
    Gre,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum RemoteSpec {
    Any,
    Cidr(IpNet),
    /// The n-th group of the scenario.
    Group(usize),
}

impl Spec {
    /// What a provider compares to find duplicates or conflicts (action and priority aside),
    /// with `/0` read as "any".
    fn key(&self) -> String {
        let remote = match &self.remote {
            RemoteSpec::Cidr(net) if net.prefix_len() == 0 => RemoteSpec::Any,
            r => r.clone(),
        };
        let proto = match &self.proto {
            Proto::Ports(p, ports, _) => Proto::Ports(*p, ports.clone(), None),
            p => p.clone(),
        };
        format!("{:?}{:?}{:?}{:?}", self.direction, self.family, proto, remote)
    }
}

/// Addresses rules and endpoints are built around, so that prefixes hold endpoints.
fn v4(host: u32) -> Ipv4Addr {
    Ipv4Addr::from(0x0a00_0000 + host)
}

fn v6(host: u128) -> Ipv6Addr {
    Ipv6Addr::from(0x2001_0db8_0000_0000_0000_0000_0000_0000u128 + host)
}

fn prefix(family: Family) -> BoxedStrategy<IpNet> {
    match family {
        Family::V4 => (
            prop_oneof![
                (0u32..1024).prop_map(v4),
                any::<u32>().prop_map(Ipv4Addr::from),
                Just(Ipv4Addr::new(203, 0, 113, 9))
            ],
            prop_oneof![
                Just(0u8),
                Just(8),
                Just(16),
                Just(24),
                Just(30),
                Just(32),
                0u8..=32
            ],
        )
            .prop_map(|(a, len)| {
                IpNet::new(IpAddr::V4(a), len)
                    .map(|n| n.trunc())
                    .unwrap_or_else(|_| Family::V4.any_net())
            })
            .boxed(),
        Family::V6 => (
            prop_oneof![(0u128..1024).prop_map(v6), any::<u128>().prop_map(Ipv6Addr::from)],
            prop_oneof![
                Just(0u8),
                Just(32),
                Just(64),
                Just(120),
                Just(127),
                Just(128),
                0u8..=128
            ],
        )
            .prop_map(|(a, len)| {
                IpNet::new(IpAddr::V6(a), len)
                    .map(|n| n.trunc())
                    .unwrap_or_else(|_| Family::V6.any_net())
            })
            .boxed(),
    }
}

fn port_range() -> BoxedStrategy<(u16, u16)> {
    prop_oneof![
        Just((1u16, 65535u16)),
        select(vec![22u16, 53, 80, 443, 1024, 3389, 8080, 65535]).prop_map(|p| (p, p)),
        (1u16..=65535, 0u16..2048).prop_map(|(lo, w)| (lo, lo.saturating_add(w))),
    ]
    .boxed()
}

/// Up to `max` disjoint ranges, sorted (Huawei `multiport` items must not overlap).
fn port_list(max: usize) -> BoxedStrategy<Vec<(u16, u16)>> {
    prop::collection::btree_set(1u16..=65535, 1..=2 * max)
        .prop_map(move |points| {
            let points: Vec<u16> = points.into_iter().collect();
            let mut out = Vec::new();
            let mut i = 0;
            while i < points.len() && out.len() < max {
                if i + 1 < points.len() && points[i] % 3 == 0 {
                    out.push((points[i], points[i + 1]));
                    i += 2;
                } else {
                    out.push((points[i], points[i]));
                    i += 1;
                }
            }
            out
        })
        .boxed()
}

/// A rule spec for `provider`; `groups` is how many groups a reference may name (0: none).
fn spec(provider: Provider, groups: usize) -> BoxedStrategy<Spec> {
    let directions = select(vec![Direction::Ingress, Direction::Egress]);
    let families = prop_oneof![3 => Just(Family::V4), 1 => Just(Family::V6)];
    // Small set: equal priorities are common, as are the first and last.
    let priority = prop_oneof![select(vec![1u8, 1, 2, 50, 100]), 1u8..=100];
    (directions, families, any::<bool>(), priority)
        .prop_flat_map(move |(direction, family, allow, priority)| {
            let tcp_udp = select(vec![6u8, 17]);
            let ports: BoxedStrategy<Vec<(u16, u16)>> = match provider {
                Provider::Huawei => {
                    prop_oneof![3 => port_range().prop_map(|r| vec![r]), 1 => port_list(20)].boxed()
                }
                _ => port_range().prop_map(|r| vec![r]).boxed(),
            };
            let source_ports = match provider {
                Provider::Ecs | Provider::Ens => prop::option::weighted(0.2, port_range()).boxed(),
                _ => Just(None).boxed(),
            };
            let icmp = match provider {
                Provider::Gcore => prop::option::of((any::<u8>(), prop::option::of(any::<u8>()))).boxed(),
                _ => Just(None).boxed(),
            };
            let proto = prop_oneof![
                4 => (tcp_udp, ports, source_ports).prop_map(|(p, r, s)| Proto::Ports(p, r, s)),
                1 => Just(Proto::All),
                1 => icmp.prop_map(Proto::Icmp),
                1 => Just(Proto::Gre),
            ];
            let remote = if groups == 0 {
                prop_oneof![1 => Just(RemoteSpec::Any), 4 => prefix(family).prop_map(RemoteSpec::Cidr)]
                    .boxed()
            } else {
                prop_oneof![
                    1 => Just(RemoteSpec::Any),
                    4 => prefix(family).prop_map(RemoteSpec::Cidr),
                    2 => (0..groups).prop_map(RemoteSpec::Group),
                ]
                .boxed()
            };
            (proto, remote).prop_map(move |(proto, remote)| Spec {
                direction,
                family,
                proto,
                remote,
                allow,
                priority,
            })
        })
        .prop_filter_map("the provider has no such rule", move |s| fit(provider, s))
        .boxed()
}

/// Adapts a spec to what the provider can express, or drops it.
fn fit(provider: Provider, mut s: Spec) -> Option<Spec> {
    match provider {
        Provider::Ecs => {
            // An ECS remote names a family only through a CIDR; `ALL` rules from anywhere
            // need one too (no remote at all is `MissingParameter.Source`).
            if s.remote == RemoteSpec::Any {
                s.remote = RemoteSpec::Cidr(s.family.any_net());
            }
            if matches!(s.remote, RemoteSpec::Group(_)) && matches!(s.proto, Proto::Icmp(_)) {
                return None;
            }
        }
        Provider::Ens => {
            if s.remote == RemoteSpec::Any {
                s.remote = RemoteSpec::Cidr(s.family.any_net());
            }
            if matches!(s.remote, RemoteSpec::Group(_)) || s.proto == Proto::Gre {
                return None;
            }
        }
        Provider::Huawei => {
            if let Proto::Ports(p, ports, _) = s.proto {
                s.proto = Proto::Ports(p, ports, None);
            }
        }
        Provider::Gcore => {
            s.allow = true;
            if let Proto::Ports(p, ports, _) = s.proto {
                s.proto = Proto::Ports(p, ports, None);
            }
        }
    }
    Some(s)
}

impl Spec {
    /// The spec as a provider-neutral rule draft, group references named by `groups`
    /// (each provider's `emit` writes it in its own shape).
    fn draft(&self, provider: Provider, groups: &[String]) -> RuleDraft {
        let (protocol, dst_ports, src_ports, icmp) = match &self.proto {
            Proto::All => (None, Vec::new(), None, IcmpMatch::ANY),
            // Huawei: every port is written without `multiport`.
            Proto::Ports(p, r, _) if provider == Provider::Huawei && r[..] == [(1, 65535)] => {
                (Some(*p), Vec::new(), None, IcmpMatch::ANY)
            }
            Proto::Ports(p, r, src) => (
                Some(*p),
                r.iter().filter_map(|&(lo, hi)| PortRange::new(lo, hi)).collect(),
                src.and_then(|(lo, hi)| PortRange::new(lo, hi)),
                IcmpMatch::ANY,
            ),
            Proto::Icmp(tc) => (
                Some(if self.family == Family::V6 { ICMPV6 } else { ICMP }),
                Vec::new(),
                None,
                IcmpMatch {
                    icmp_type: tc.map(|(t, _)| t),
                    icmp_code: tc.and_then(|(_, c)| c),
                },
            ),
            Proto::Gre => (Some(GRE), Vec::new(), None, IcmpMatch::ANY),
        };
        let (remote_cidr, remote_group) = match &self.remote {
            RemoteSpec::Any => (None, None),
            RemoteSpec::Cidr(net) => (Some(*net), None),
            RemoteSpec::Group(g) => (None, Some(groups[*g].clone())),
        };
        RuleDraft {
            direction: self.direction,
            family: self.family,
            protocol,
            dst_ports,
            src_ports,
            icmp,
            remote_cidr,
            remote_group,
            remote_address_group: None,
            local: None,
            action: if self.allow { Action::Allow } else { Action::Deny },
            priority: self.priority,
            description: String::new(),
        }
    }
}

/// The calls that add `specs` to group `group` (ECS: one call per direction and 100
/// rules; ENS: the older single-rule calls; Huawei: one batch call when `batch`).
fn rule_calls(
    provider: Provider,
    group: &str,
    specs: &[Spec],
    groups: &[String],
    batch: bool,
) -> Vec<ApiCall> {
    let drafts: Vec<RuleDraft> = specs.iter().map(|s| s.draft(provider, groups)).collect();
    provider
        .emit_all(&Target::group(group), &drafts, batch)
        .into_iter()
        .map(|(api, request)| ApiCall::new(api, request))
        .collect()
}

/// A rule draft `provider` can state (what its `emit` writes and its front end reads
/// back), group references naming one of `groups` (none when empty).
pub fn rule_draft(provider: Provider, groups: Vec<String>) -> BoxedStrategy<RuleDraft> {
    spec(provider, groups.len())
        .prop_map(move |s| s.draft(provider, &groups))
        .boxed()
}

/// A valid rule call of `provider` that adds one rule to the existing group `group`
/// (ECS: a basic group, ENS, Huawei, Gcore: any), remote by address only.
pub fn rule_call(provider: Provider, group: String) -> BoxedStrategy<ApiCall> {
    spec(provider, 0)
        // ENS's single-rule calls take IPv4 addresses only (E3).
        .prop_filter("ENS Authorize calls are IPv4 only", move |s| {
            provider != Provider::Ens || s.family == Family::V4
        })
        // The rules a new group already has would make it a duplicate.
        .prop_filter("a default rule's twin", move |s| {
            !default_keys(provider, usize::MAX, true).contains(&s.key())
        })
        .prop_map(move |s| {
            rule_calls(provider, &group, std::slice::from_ref(&s), &[], false)
                .pop()
                .expect("one spec makes one call")
        })
        .boxed()
}

/// A valid call at a provider's documented maximum: ECS `AuthorizeSecurityGroup` with 100
/// `Permissions` (A6), ENS `CreateSecurityGroup` with 200 (E1), Huawei
/// `BatchCreateSecurityGroupRules` with 46 rules (the 50-rule quota less the 4 default
/// rules, H4b), Gcore `CreateSecurityGroup` with 100 rules (Neutron's default rule quota,
/// as [`crate::limits::Limits`]). `group` is an existing group (ECS: basic; Huawei: a new
/// one), ignored where the call creates the group. Also gives how many rules the call adds.
pub fn limit_call(provider: Provider, group: String) -> BoxedStrategy<(ApiCall, usize)> {
    let n = match provider {
        Provider::Ecs | Provider::Gcore => 100,
        Provider::Ens => 200,
        Provider::Huawei => 46,
    };
    prop::collection::vec(spec(provider, 0), 4 * n)
        .prop_filter_map("too few distinct rules", move |mut specs| {
            if provider == Provider::Ecs {
                // One direction per call: ingress.
                specs.retain(|s| s.direction == Direction::Ingress);
            }
            let mut taken = default_keys(provider, usize::MAX, true);
            let mut specs = distinct(specs, &mut taken);
            if specs.len() < n {
                return None;
            }
            specs.truncate(n);
            let call = match provider {
                Provider::Ecs => rule_calls(provider, &group, &specs, &[], false).pop()?,
                Provider::Ens => {
                    let perms: Vec<Value> = specs
                        .iter()
                        .map(|s| provider.emit_entry(&s.draft(provider, &[])))
                        .collect();
                    ApiCall::new(
                        "CreateSecurityGroup",
                        params(json!({"SecurityGroupName": "limit", "Permissions": perms})),
                    )
                }
                Provider::Huawei => rule_calls(provider, &group, &specs, &[], true).pop()?,
                Provider::Gcore => {
                    let rules: Vec<Value> = specs
                        .iter()
                        .map(|s| provider.emit_entry(&s.draft(provider, &[])))
                        .collect();
                    ApiCall::new(
                        "CreateSecurityGroup",
                        body(json!({"name": "limit", "rules": rules})),
                    )
                }
            };
            Some((call, n))
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------
// Whole scenarios

/// Keeps the first spec of each key, and none whose key is in `taken`.
fn distinct(specs: Vec<Spec>, taken: &mut BTreeSet<String>) -> Vec<Spec> {
    specs.into_iter().filter(|s| taken.insert(s.key())).collect()
}

/// The keys of the rules a provider creates by itself with group `at`.
fn default_keys(provider: Provider, at: usize, egress_defaults: bool) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    for family in [Family::V4, Family::V6] {
        let rule = |direction, remote| Spec {
            direction,
            family,
            proto: Proto::All,
            remote,
            allow: true,
            priority: 100,
        };
        match provider {
            Provider::Huawei => {
                keys.insert(rule(Direction::Ingress, RemoteSpec::Group(at)).key());
                keys.insert(rule(Direction::Egress, RemoteSpec::Any).key());
            }
            Provider::Gcore if egress_defaults => {
                keys.insert(rule(Direction::Egress, RemoteSpec::Any).key());
            }
            _ => {}
        }
    }
    keys
}

/// A whole valid scenario of `provider`: 1-4 groups, up to 12 rules each (shared
/// priorities, group references where the provider has them, both families), and 1-5
/// endpoints (some dual-stack) each in 1-3 of the groups. Every call succeeds and every
/// endpoint attaches.
pub fn scenario(provider: Provider) -> BoxedStrategy<Scenario> {
    (1usize..=4, any::<bool>())
        .prop_flat_map(move |(n_groups, enterprise)| {
            // ECS advanced groups neither reference nor are referenced.
            let refs = match provider {
                Provider::Ecs if enterprise => 0,
                Provider::Ens => 0,
                _ => n_groups,
            };
            (
                prop::collection::vec(create_group_of(provider, enterprise), n_groups),
                prop::collection::vec(prop::collection::vec(spec(provider, refs), 0..=12), n_groups),
                prop::collection::vec(any::<bool>(), n_groups),
                prop::collection::vec(
                    (
                        prop::sample::subsequence((0..n_groups).collect::<Vec<_>>(), 1..=n_groups.min(3)),
                        any::<bool>(),
                        any::<bool>(),
                    ),
                    1..=5,
                ),
            )
        })
        .prop_map(move |(creates, rules, batch, endpoints)| {
            build_scenario(provider, creates, rules, batch, endpoints)
        })
        .boxed()
}

type EndpointDraw = (Vec<usize>, bool, bool);

fn build_scenario(
    provider: Provider,
    creates: Vec<ApiCall>,
    rules: Vec<Vec<Spec>>,
    batch: Vec<bool>,
    endpoints: Vec<EndpointDraw>,
) -> Scenario {
    let refs: Vec<String> = (0..creates.len()).map(|i| format!("$g{i}")).collect();
    let mut calls: Vec<Call> = Vec::new();
    let mut rules = rules;
    for (i, c) in creates.into_iter().enumerate() {
        let mut request = c.request;
        // ENS: the rules go inline in CreateSecurityGroup's `Permissions` (E1), the
        // only ENS call that takes both families.
        if provider == Provider::Ens {
            let specs = distinct(std::mem::take(&mut rules[i]), &mut BTreeSet::new());
            let perms: Vec<Value> = specs
                .iter()
                .map(|s| provider.emit_entry(&s.draft(provider, &refs)))
                .collect();
            if let Some(p) = request.params.as_mut() {
                p["Permissions"] = Value::Array(perms);
            }
        }
        calls.push(Call {
            api: c.api,
            reference: Some(format!("g{i}")),
            request,
            id: None,
            ids: None,
            defaults: true,
        });
    }
    for (i, specs) in rules.into_iter().enumerate() {
        let mut specs = specs;
        // ECS: a group cannot reference itself through the API (A9e).
        if provider == Provider::Ecs {
            specs.retain(|s| s.remote != RemoteSpec::Group(i));
        }
        let mut taken = default_keys(provider, i, true);
        let specs = distinct(specs, &mut taken);
        for c in rule_calls(provider, &refs[i], &specs, &refs, batch[i]) {
            calls.push(Call {
                api: c.api,
                reference: None,
                request: c.request,
                id: None,
                ids: None,
                defaults: true,
            });
        }
    }
    let endpoints = endpoints
        .into_iter()
        .enumerate()
        .map(|(i, (groups, dual, v6_only))| {
            let host = 10 + i as u32;
            let mut ips = Vec::new();
            if !(v6_only && dual) {
                ips.push(IpAddr::V4(v4(host)));
            }
            if dual {
                ips.push(IpAddr::V6(v6(u128::from(host))));
            }
            EndpointSpec {
                name: format!("ep{i}"),
                ips,
                groups: groups.iter().map(|&g| refs[g].clone()).collect(),
            }
        })
        .collect();
    Scenario {
        provider,
        options: Default::default(),
        calls,
        endpoints,
        acknowledged: Vec::new(),
        unresolved: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------
// Packets aimed at the interesting places

/// `n` packets aimed at `cloud`'s edges: sources and destinations among the endpoint
/// addresses and the first, last and just-outside addresses of every rule prefix (mostly
/// of one family, sometimes across families); TCP, UDP, ICMP of either family, GRE and the
/// rules' own protocols; ports at and beside every range end; ICMP types and codes the
/// rules name; now and then an established packet.
pub fn packets(cloud: &Cloud, n: usize) -> BoxedStrategy<Vec<Packet>> {
    prop::collection::vec(packet(cloud), n).boxed()
}

/// One packet aimed at `cloud`'s edges (see [`packets`]).
pub fn packet(cloud: &Cloud) -> BoxedStrategy<Packet> {
    let addrs = crate::testkit::edge_addresses(cloud);
    let v4: Vec<IpAddr> = addrs.iter().copied().filter(IpAddr::is_ipv4).collect();
    let v6: Vec<IpAddr> = addrs.iter().copied().filter(IpAddr::is_ipv6).collect();
    let ports = crate::testkit::edge_ports(cloud);
    let mut protocols: BTreeSet<u8> = [6u8, 17, ICMP, ICMPV6, 47, 132].into_iter().collect();
    let mut icmp_types: BTreeSet<u8> = [0u8, 3, 8, 128, 129].into_iter().collect();
    for g in cloud.groups() {
        for r in &g.rules {
            protocols.extend(r.protocol);
            icmp_types.extend(r.icmp.icmp_type);
        }
    }
    let protocols: Vec<u8> = protocols.into_iter().collect();
    let icmp_types: Vec<u8> = icmp_types.into_iter().collect();
    let same_family = prop_oneof![
        (select(v4.clone()), select(v4.clone())),
        (select(v6.clone()), select(v6.clone())),
    ];
    let across = (select(v4), select(v6)).prop_map(|(a, b)| (a, b));
    let pair = prop_oneof![12 => same_family, 1 => across];
    (
        pair,
        select(protocols),
        select(ports.clone()),
        select(ports),
        select(icmp_types),
        0u8..3,
        prop::bool::weighted(0.05),
    )
        .prop_map(|((src, dst), protocol, sport, dport, t, code, established)| {
            let mut p = Packet::new(src, dst, protocol);
            if crate::protocol::Protocol(protocol).has_ports() {
                p.src_port = sport;
                p.dst_port = dport;
            }
            if p.is_icmp() {
                p.icmp_type = t;
                p.icmp_code = code;
            }
            if established {
                p.state = crate::packet::ConnState::Established;
            }
            p
        })
        .boxed()
}

// ---------------------------------------------------------------------------------------
// Invalid requests and the codes they must get

/// An invalid call of `provider` against the existing group `group` (for rule calls; ECS: a
/// basic group), with the error code the provider must answer.
pub fn invalid_call(provider: Provider, group: String) -> BoxedStrategy<InvalidCall> {
    let cases = invalid_cases(provider, &group);
    select(cases).boxed()
}

/// The rows of the invalid-request table (`tests/corpus/invalid_requests.json`, see
/// [`crate::testkit::invalid_requests`]) for `provider`, against group `group`. Each row's
/// code is the one the provider documents (its `source` names the SEMANTICS.md keys).
fn invalid_cases(provider: Provider, group: &str) -> Vec<InvalidCall> {
    crate::testkit::invalid_requests()
        .rows
        .iter()
        .filter(|row| row.provider == provider)
        .map(|row| InvalidCall {
            call: ApiCall::new(&row.api, row.request_for(group)),
            code: &row.code,
            mutation: &row.mutation,
        })
        .collect()
}
