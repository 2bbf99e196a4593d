//! Differential property test: the compiled engine equals the reference evaluator on the full
//! `Decision` (verdict and what decided), on generated scenarios of all four providers.
//!
//! Scenarios are generated as scenario JSON and go through the public `Scenario` API and the
//! provider front ends, as a user's would. The generator leans toward what a compiled
//! engine can get wrong: overlapping prefixes around the endpoints' own addresses, equal
//! priorities with opposite actions, port range edges, group references (member addresses
//! in both families), address groups with ranges, ECS intra-group policies and quintuple
//! local prefixes, Gcore ICMP type/code, ICMP packets with non-zero ports, established and
//! mixed-family packets.
//!
//! Calls a front end refuses are dropped before the check (so every checked scenario is a
//! valid one), and a disagreement is written as a corpus case (the reference's answer as
//! the expected one) to `$CARGO_TARGET_TMPDIR/equality-failures/<provider>.json`, ready to
//! be added to `tests/corpus/regression.json`.
//!
//! Case count: 256 per provider by default, `PROPTEST_CASES` to change it.

use std::net::IpAddr;

use ipnet::IpNet;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::TestRunner;
use serde_json::{json, Value};
use sgeval::compile::Engine;
use sgeval::flow::{self, Flow};
use sgeval::provider::{RuleDraft, Target};
use sgeval::reference::Evaluator;
use sgeval::rule::IcmpMatch;
use sgeval::{
    Action, Cloud, ConnState, Decision, Direction, EndpointKey, Family, Packet, PortRange, Provider, Reason,
    Request, Scenario,
};

// ---- pools ----

/// Endpoint `i` has `10.0.0.{i+1}` and/or `fd00::{i+1}`.
const MAX_ENDPOINTS: usize = 4;

const V4_NETS: &[&str] = &[
    "0.0.0.0/0",
    "10.0.0.0/8",
    "10.0.0.0/24",
    "10.0.0.0/30",
    "10.0.0.2/31",
    "10.0.0.3",
    "10.0.0.4/32",
    "192.168.0.0/16",
    "203.0.113.0/24",
];
const V6_NETS: &[&str] = &[
    "::/0",
    "fd00::/8",
    "fd00::/126",
    "fd00::2/127",
    "fd00::1",
    "2001:db8::/32",
];

/// Addresses packets use besides the endpoints' own: inside and just outside the prefixes
/// and the address-group ranges.
const OTHER_V4: &[&str] = &[
    "10.0.0.9",
    "10.0.0.0",
    "10.255.255.255",
    "192.168.3.20",
    "192.168.3.101",
    "203.0.113.127",
    "203.0.113.128",
    "198.51.100.1",
];
const OTHER_V6: &[&str] = &["fd00::ff", "2001:db8:1::15", "2001:db8:1::21", "::", "fe80::1"];

/// Port ranges around the edges, as (lo, hi).
const PORT_RANGES: &[(u16, u16)] = &[
    (1, 65535),
    (80, 80),
    (79, 81),
    (1, 1024),
    (1024, 65535),
    (443, 443),
    (65535, 65535),
    (1, 1),
    (8, 9),
];
const PACKET_PORTS: &[u16] = &[0, 1, 8, 9, 22, 79, 80, 81, 443, 1023, 1024, 65534, 65535];
const PRIORITIES: &[u8] = &[1, 1, 2, 50, 100, 100];

// ---- abstract scenarios ----

#[derive(Clone, Debug)]
struct RuleSpec {
    group: usize,
    egress: bool,
    v6: bool,
    /// 0 all, 1 tcp, 2 udp, 3 icmp (of the family), 4 gre, 5 icmp of the other family.
    protocol: u8,
    dst_ports: Vec<usize>,
    src_ports: Option<usize>,
    /// Gcore ICMP (type, code).
    icmp: (Option<u8>, Option<u8>),
    /// 0 any, 1 CIDR, 2 group, 3 address group, 4 CIDR and group (ECS precedence).
    remote_kind: u8,
    remote: usize,
    local: Option<usize>,
    deny: bool,
    priority: u8,
}

#[derive(Clone, Debug)]
struct Spec {
    provider: Provider,
    /// Per group: ECS enterprise, ECS `InnerAccessPolicy=Drop`, Gcore default rules
    /// (`rules` absent).
    groups: Vec<(bool, bool, bool)>,
    rules: Vec<RuleSpec>,
    /// Per endpoint: has v4, has v6, groups (indexes, association order).
    endpoints: Vec<(bool, bool, Vec<usize>)>,
    ens_egress_deny: bool,
    ecs_enterprise: bool,
}

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        (0usize..4, any::<bool>(), prop::bool::weighted(0.35)),
        prop_oneof![3 => Just(1u8), 2 => Just(0u8), 2 => Just(3u8), 1 => Just(2u8), 1 => Just(4u8), 1 => Just(5u8)],
        prop::collection::vec(0..PORT_RANGES.len(), 1..4),
        prop::option::weighted(0.25, 0..PORT_RANGES.len()),
        (
            prop::option::weighted(0.7, prop::sample::select(vec![0u8, 3, 8, 128])),
            prop::option::weighted(0.4, prop::sample::select(vec![0u8, 1])),
        ),
        (prop_oneof![1 => Just(0u8), 4 => Just(1u8), 3 => Just(2u8), 2 => Just(3u8), 1 => Just(4u8)], 0usize..16),
        prop::option::weighted(0.15, 0usize..16),
        (any::<bool>(), prop::sample::select(PRIORITIES.to_vec())),
    )
        .prop_map(
            |((group, egress, v6), protocol, dst_ports, src_ports, icmp, (remote_kind, remote), local, (deny, priority))| {
                RuleSpec {
                    group,
                    egress,
                    v6,
                    protocol,
                    dst_ports,
                    src_ports,
                    icmp,
                    remote_kind,
                    remote,
                    local,
                    deny,
                    priority,
                }
            },
        )
}

fn spec(provider: Provider) -> impl Strategy<Value = Spec> {
    (
        prop::collection::vec(
            (
                prop::bool::weighted(0.2),
                prop::bool::weighted(0.3),
                prop::bool::weighted(0.3),
            ),
            1..4,
        ),
        prop::collection::vec(rule_spec(), 0..14),
        prop::collection::vec(
            (
                prop::bool::weighted(0.85),
                prop::bool::weighted(0.5),
                prop::collection::vec(0usize..4, 1..4),
            ),
            1..=MAX_ENDPOINTS,
        ),
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(
            move |(groups, mut rules, endpoints, ens_egress_deny, ecs_enterprise)| {
                // ICMP named in the other family's spelling: a Gcore (Neutron) rewrite; the
                // others refuse it, so keep only a few of those.
                if provider != Provider::Gcore {
                    for (i, r) in rules.iter_mut().enumerate() {
                        if r.protocol == 5 && i % 4 != 0 {
                            r.protocol = 3;
                        }
                    }
                }
                Spec {
                    provider,
                    groups,
                    rules,
                    endpoints,
                    ens_egress_deny,
                    ecs_enterprise,
                }
            },
        )
}

// ---- scenario JSON, each rule written by the provider's `emit` ----

fn gref(spec: &Spec, i: usize) -> String {
    format!("$g{}", i % spec.groups.len())
}

/// The group a rule references: another group than its own where there is one (ECS
/// refuses self-references; Huawei and Gcore take them, and get them when alone).
fn remote_group(spec: &Spec, r: &RuleSpec) -> String {
    let n = spec.groups.len();
    let (own, mut target) = (r.group % n, r.remote % n);
    if target == own && n > 1 && spec.provider == Provider::Ecs {
        target = (target + 1) % n;
    }
    format!("$g{target}")
}

fn net(v6: bool, i: usize) -> &'static str {
    if v6 {
        V6_NETS[i % V6_NETS.len()]
    } else {
        V4_NETS[i % V4_NETS.len()]
    }
}

/// The rule as a provider-neutral draft, which the provider's `emit` writes in its own
/// request shape. The protocol follows the spec's spelling: ICMP "of the other family"
/// is the other family's ICMP for ECS, ENS and Huawei (which refuse it) and `icmp` under
/// IPv6 for Gcore (which rewrites it, as Neutron does).
fn draft(spec: &Spec, r: &RuleSpec) -> RuleDraft {
    let provider = spec.provider;
    let v6 = r.v6;
    let icmp_of = |v6: bool| Some(if v6 { 58u8 } else { 1 });
    let protocol = match (r.protocol, provider) {
        (0, _) => None,
        (1, _) => Some(6),
        (2, _) => Some(17),
        (3, _) => icmp_of(v6),
        (5, Provider::Gcore) => Some(1),
        (5, _) => icmp_of(!v6),
        (_, Provider::Ens) => None,
        _ => Some(47),
    };
    let ported = matches!(protocol, Some(6 | 17));
    let range = |i: usize| PortRange::new(PORT_RANGES[i].0, PORT_RANGES[i].1).expect("valid range");
    let dst_ports: Vec<PortRange> = match (ported, provider) {
        (false, _) => Vec::new(),
        // Items may not overlap: keep those clear of the ones before.
        (true, Provider::Huawei) => {
            let mut ranges: Vec<PortRange> = Vec::new();
            for &i in &r.dst_ports {
                let p = range(i);
                if ranges.iter().all(|q| p.hi < q.lo || q.hi < p.lo) {
                    ranges.push(p);
                }
            }
            ranges
        }
        (true, _) => vec![range(r.dst_ports[0])],
    };
    let alibaba = matches!(provider, Provider::Ecs | Provider::Ens);
    let src_ports = r.src_ports.filter(|_| ported && alibaba).map(range);
    let icmp = if provider == Provider::Gcore && matches!(r.protocol, 3 | 5) {
        IcmpMatch {
            icmp_type: r.icmp.0,
            icmp_code: r.icmp.0.and(r.icmp.1),
        }
    } else {
        IcmpMatch::ANY
    };
    let cidr = || Some(prefix(net(v6, r.remote)));
    let group = || Some(remote_group(spec, r));
    let remote_kind = if provider == Provider::Ens && matches!(r.remote_kind, 2..=4) {
        1
    } else {
        r.remote_kind
    };
    // What each kind becomes: ECS and ENS name "any" as the all-addresses prefix and
    // an address group as a prefix; Gcore too; Huawei has address groups.
    let (remote_cidr, remote_group, remote_address_group) = match (remote_kind, provider) {
        (0, Provider::Ecs | Provider::Ens) => (Some(family(v6).any_net()), None, None),
        (0, _) => (None, None, None),
        (1, _) => (cidr(), None, None),
        (3, Provider::Huawei) => (None, None, Some(if v6 { "$ag6" } else { "$ag4" }.to_owned())),
        (3, _) => (cidr(), None, None),
        (2, _) | (4, Provider::Huawei | Provider::Gcore) => (None, group(), None),
        _ => (cidr(), group(), None),
    };
    let local = r.local.filter(|_| alibaba).map(|l| prefix(net(v6, l)));
    RuleDraft {
        direction: if r.egress {
            Direction::Egress
        } else {
            Direction::Ingress
        },
        family: family(v6),
        protocol,
        dst_ports,
        src_ports,
        icmp,
        remote_cidr,
        remote_group,
        remote_address_group,
        local,
        action: if r.deny { Action::Deny } else { Action::Allow },
        priority: r.priority,
        description: String::new(),
    }
}

/// A pool prefix (a bare address is a host prefix).
fn prefix(text: &str) -> IpNet {
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .expect("pool prefixes parse")
}

fn family(v6: bool) -> Family {
    if v6 {
        Family::V6
    } else {
        Family::V4
    }
}

/// A scenario call of `api` with `request`.
fn call(api: &str, request: Request) -> Value {
    let mut call = serde_json::to_value(request).expect("requests serialise");
    call["api"] = json!(api);
    call
}

fn render(spec: &Spec) -> Value {
    let mut calls = Vec::new();
    let n = spec.groups.len();
    match spec.provider {
        Provider::Ecs => {
            for (i, &(enterprise, drop, _)) in spec.groups.iter().enumerate() {
                let enterprise = enterprise && spec.ecs_enterprise;
                calls.push(
                    json!({"api": "CreateSecurityGroup", "ref": format!("g{i}"), "params": {
                    "RegionId": "cn-hangzhou", "VpcId": "vpc-1", "SecurityGroupName": format!("g{i}"),
                    "SecurityGroupType": if enterprise { "enterprise" } else { "normal" }}}),
                );
                if drop && !enterprise {
                    calls.push(json!({"api": "ModifySecurityGroupPolicy", "params": {
                        "RegionId": "cn-hangzhou", "SecurityGroupId": format!("$g{i}"),
                        "InnerAccessPolicy": "Drop"}}));
                }
            }
            for r in &spec.rules {
                let (api, request) = Provider::Ecs
                    .emit(&Target::group(gref(spec, r.group)), &draft(spec, r))
                    .expect("ECS states every rule");
                calls.push(call(api, request));
            }
        }
        Provider::Ens => {
            for i in 0..n {
                let perms: Vec<Value> = spec
                    .rules
                    .iter()
                    .filter(|r| r.group % n == i)
                    .map(|r| Provider::Ens.emit_entry(&draft(spec, r)))
                    .collect();
                calls.push(
                    json!({"api": "CreateSecurityGroup", "ref": format!("g{i}"), "params": {
                    "SecurityGroupName": format!("g{i}"), "Permissions": perms}}),
                );
            }
        }
        Provider::Huawei => {
            calls.push(json!({"api": "CreateAddressGroup", "ref": "ag4", "body": {"address_group": {
                "name": "ag4", "ip_version": 4,
                "ip_set": ["10.0.0.2", "10.0.0.3-10.0.0.6", "192.168.3.20-192.168.3.100", "203.0.113.0/25"]}}}));
            calls.push(
                json!({"api": "CreateAddressGroup", "ref": "ag6", "body": {"address_group": {
                "name": "ag6", "ip_version": 6,
                "ip_set": ["fd00::2-fd00::3", "2001:db8:1::10-2001:db8:1::20"]}}}),
            );
            for i in 0..n {
                calls.push(json!({"api": "CreateSecurityGroup", "ref": format!("g{i}"),
                    "body": {"security_group": {"name": format!("g{i}")}}}));
            }
            for r in &spec.rules {
                let (api, request) = Provider::Huawei
                    .emit(&Target::group(gref(spec, r.group)), &draft(spec, r))
                    .expect("Huawei states every rule");
                calls.push(call(api, request));
            }
        }
        Provider::Gcore => {
            for (i, &(_, _, defaults)) in spec.groups.iter().enumerate() {
                let body = if defaults {
                    json!({"name": format!("g{i}")})
                } else {
                    json!({"name": format!("g{i}"), "rules": []})
                };
                calls.push(json!({"api": "CreateSecurityGroup", "ref": format!("g{i}"),
                    "path": "/cloud/v2/security_groups/1/1", "body": body}));
            }
            for r in &spec.rules {
                let (api, request) = Provider::Gcore
                    .emit(&Target::group(gref(spec, r.group)), &draft(spec, r))
                    .expect("Gcore states every rule");
                calls.push(call(api, request));
            }
        }
    }
    let endpoints: Vec<Value> = spec
        .endpoints
        .iter()
        .enumerate()
        .map(|(i, (v4, v6, groups))| {
            let mut ips = Vec::new();
            if *v4 || !*v6 {
                ips.push(format!("10.0.0.{}", i + 1));
            }
            if *v6 {
                ips.push(format!("fd00::{}", i + 1));
            }
            let mut gs: Vec<String> = Vec::new();
            for &g in groups {
                let r = gref(spec, g);
                if !gs.contains(&r) {
                    gs.push(r);
                }
            }
            json!({"name": format!("ep{i}"), "ips": ips, "groups": gs})
        })
        .collect();
    let mut scenario = json!({"provider": spec.provider.name(), "calls": calls, "endpoints": endpoints});
    if spec.provider == Provider::Ens && spec.ens_egress_deny {
        scenario["options"] = json!({"ens_egress_default": "deny"});
    }
    scenario
}

/// Replays the rendered scenario and drops the calls the front end refused and the
/// endpoints it could not attach (ECS type mixing), so that what remains builds. `None`
/// when nothing usable remains.
fn valid_scenario(spec: &Spec) -> Option<(Value, Cloud)> {
    let mut value = render(spec);
    for _ in 0..4 {
        let scenario = Scenario::from_value(&value).expect("generated scenarios parse");
        let replay = match scenario.replay() {
            Ok(r) => r,
            Err(_) => return None,
        };
        let failed: Vec<usize> = replay.failures().iter().map(|f| f.index).collect();
        if failed.is_empty() && replay.endpoint_error.is_none() {
            let cloud = replay.into_cloud().ok()?;
            return Some((value, cloud));
        }
        if let Some(calls) = value["calls"].as_array_mut() {
            let kept: Vec<Value> = calls
                .iter()
                .enumerate()
                .filter(|(i, _)| !failed.contains(i))
                .map(|(_, c)| c.clone())
                .collect();
            *calls = kept;
        }
        if failed.is_empty() {
            // Only the endpoints failed: drop the one named in the error.
            if let Some(sgeval::ScenarioError::Endpoint { index, .. }) = &replay.endpoint_error {
                if let Some(eps) = value["endpoints"].as_array_mut() {
                    if *index < eps.len() {
                        eps.remove(*index);
                    }
                }
            } else {
                // A `$ref` to a refused call.
                return None;
            }
        }
    }
    None
}

// ---- packets ----

fn addr_pool() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    for i in 1..=MAX_ENDPOINTS {
        out.push(format!("10.0.0.{i}").parse().expect("v4"));
        out.push(format!("fd00::{i}").parse().expect("v6"));
    }
    out.extend(OTHER_V4.iter().map(|s| s.parse::<IpAddr>().expect("v4")));
    out.extend(OTHER_V6.iter().map(|s| s.parse::<IpAddr>().expect("v6")));
    out
}

fn packet() -> impl Strategy<Value = Packet> {
    let pool = addr_pool();
    (
        (prop::sample::select(pool.clone()), prop::sample::select(pool)),
        prop_oneof![4 => Just(6u8), 2 => Just(17u8), 2 => Just(1u8), 2 => Just(58u8), 1 => Just(47u8), 1 => Just(132u8), 1 => Just(0u8)],
        (
            prop::sample::select(PACKET_PORTS.to_vec()),
            prop::sample::select(PACKET_PORTS.to_vec()),
            prop::bool::weighted(0.6),
        ),
        (prop::sample::select(vec![0u8, 3, 8, 128]), prop::sample::select(vec![0u8, 1])),
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.05),
    )
        .prop_map(|((src, mut dst), protocol, (sp, dp, icmp_zero_ports), (t, c), established, mixed)| {
            let same = matches!((src, dst), (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)));
            if !same && !mixed {
                dst = src;
            }
            let icmp = protocol == 1 || protocol == 58;
            let (sp, dp) = if icmp && icmp_zero_ports { (0, 0) } else { (sp, dp) };
            Packet {
                src_port: sp,
                dst_port: dp,
                icmp_type: if icmp { t } else { 0 },
                icmp_code: if icmp { c } else { 0 },
                state: if established {
                    ConnState::Established
                } else {
                    ConnState::New
                },
                ..Packet::new(src, dst, protocol)
            }
        })
}

/// Random choices that steer a packet toward one rule of the scenario.
#[derive(Clone, Debug)]
struct Steer {
    rule: usize,
    endpoint: usize,
    remote: usize,
    range: usize,
    edge: usize,
    icmp: bool,
}

fn steer() -> impl Strategy<Value = Option<Steer>> {
    prop::option::weighted(
        0.7,
        (
            0usize..64,
            0usize..8,
            0usize..32,
            0usize..4,
            0usize..4,
            any::<bool>(),
        )
            .prop_map(|(rule, endpoint, remote, range, edge, icmp)| Steer {
                rule,
                endpoint,
                remote,
                range,
                edge,
                icmp,
            }),
    )
}

fn endpoint_addr(spec: &Spec, i: usize, v6: bool) -> Option<IpAddr> {
    let (has4, has6, _) = spec.endpoints.get(i)?;
    let has4 = *has4 || !*has6;
    match (v6, has4, *has6) {
        (false, true, _) => format!("10.0.0.{}", i + 1).parse().ok(),
        (true, _, true) => format!("fd00::{}", i + 1).parse().ok(),
        _ => None,
    }
}

fn members(spec: &Spec, group: usize) -> Vec<usize> {
    let n = spec.groups.len();
    (0..spec.endpoints.len())
        .filter(|&i| spec.endpoints[i].2.iter().any(|&g| g % n == group % n))
        .collect()
}

/// Moves a packet toward matching one rule: its family, protocol, an address of its
/// remote set, a member endpoint as the local side, ports at the edges of its ranges.
fn steered(spec: &Spec, base: Packet, s: &Steer) -> Packet {
    if spec.rules.is_empty() || base.state == ConnState::Established || base.family().is_none() {
        return base;
    }
    let r = &spec.rules[s.rule % spec.rules.len()];
    let mut p = base;
    p.protocol = match (r.protocol, r.v6) {
        (0, _) => p.protocol,
        (1, _) => 6,
        (2, _) => 17,
        (3, false) | (5, true) => 1,
        (3, true) | (5, false) => 58,
        _ => 47,
    };
    let local_candidates = members(spec, r.group);
    let local = local_candidates
        .get(s.endpoint % local_candidates.len().max(1))
        .and_then(|&i| endpoint_addr(spec, i, r.v6));
    let pool: Vec<IpAddr> = addr_pool()
        .into_iter()
        .filter(|a| matches!(a, IpAddr::V6(_)) == r.v6)
        .collect();
    let remote_set: Vec<IpAddr> = match r.remote_kind {
        1 | 3 | 4 => {
            let text = net(r.v6, r.remote);
            let net: ipnet::IpNet = text
                .parse()
                .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
                .expect("pool network");
            pool.iter().copied().filter(|a| net.contains(a)).collect()
        }
        2 => members(spec, r.remote)
            .into_iter()
            .filter_map(|i| endpoint_addr(spec, i, r.v6))
            .collect(),
        _ => pool.clone(),
    };
    let remote = remote_set
        .get(s.remote % remote_set.len().max(1))
        .or_else(|| pool.get(s.remote % pool.len().max(1)))
        .copied();
    let (Some(local), Some(remote)) = (local, remote) else {
        return base;
    };
    (p.src, p.dst) = if r.egress {
        (local, remote)
    } else {
        (remote, local)
    };
    let edge = |(lo, hi): (u16, u16), k: usize| sgeval::testkit::port_edges(lo, hi)[k.min(3)];
    p.dst_port = edge(PORT_RANGES[r.dst_ports[s.range % r.dst_ports.len()]], s.edge);
    if let Some(sp) = r.src_ports {
        p.src_port = edge(PORT_RANGES[sp], 3 - s.edge);
    }
    if s.icmp {
        p.icmp_type = r.icmp.0.unwrap_or(p.icmp_type);
        p.icmp_code = r.icmp.1.unwrap_or(p.icmp_code);
    }
    if !(p.protocol == 1 || p.protocol == 58) {
        p.icmp_type = 0;
        p.icmp_code = 0;
    }
    p
}

fn scenario_and_packets(provider: Provider) -> impl Strategy<Value = (Spec, Vec<Packet>)> {
    (spec(provider), prop::collection::vec((packet(), steer()), 1..48)).prop_map(|(spec, raw)| {
        let packets = raw
            .into_iter()
            .map(|(p, s)| match s {
                Some(s) => steered(&spec, p, &s),
                None => p,
            })
            .collect();
        (spec, packets)
    })
}

// ---- the check ----

/// Compares the engines on every packet: the flow (hops as the corpus sees them) and every
/// endpoint's decision in both directions, one at a time and batched. On a disagreement,
/// writes the case to the failure directory and returns the message.
fn compare(scenario: &Value, cloud: &Cloud, packets: &[Packet]) -> Result<usize, String> {
    let engine = Engine::build(cloud).map_err(|e| format!("build: {e}"))?;
    let reference = Evaluator::new(cloud);
    let mut failing: Vec<(Packet, String)> = Vec::new();
    let mut checked = 0;
    for p in packets {
        let want: Flow = flow::trace(cloud, &reference, p);
        let got: Flow = flow::trace(cloud, &engine, p);
        checked += 1;
        if want != got {
            failing.push((*p, format!("flow {p}: compiled {got:?}, reference {want:?}")));
        }
    }
    for e in 0..=cloud.endpoints().len() as u32 {
        // The one past the last endpoint (no groups) is made from its number.
        let e: EndpointKey = serde_json::from_value(e.into()).expect("a key");
        for direction in Direction::ALL {
            let mut batch = vec![Decision::MIXED_FAMILY; packets.len()];
            engine.evaluate_batch(e, direction, packets, &mut batch);
            for (p, b) in packets.iter().zip(&batch) {
                let want = reference.evaluate(e, direction, p);
                let got = engine.evaluate(e, direction, p);
                checked += 1;
                if got != want || *b != want {
                    failing.push((
                        *p,
                        format!("{e:?} {direction} {p}: compiled {got:?}, batched {b:?}, reference {want:?}"),
                    ));
                }
            }
        }
    }
    if failing.is_empty() {
        return Ok(checked);
    }
    let path = write_failure(scenario, cloud, &failing);
    Err(format!(
        "{} disagreement(s), case written to {path}:\n{}",
        failing.len(),
        failing
            .iter()
            .map(|(_, m)| m.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    ))
}

/// Writes a corpus case whose checks are the failing packets with the reference's answer.
fn write_failure(scenario: &Value, cloud: &Cloud, failing: &[(Packet, String)]) -> String {
    let reference = Evaluator::new(cloud);
    let mut checks = Vec::new();
    for (p, _) in failing {
        if checks.iter().any(|c: &(Packet, Value)| c.0 == *p) {
            continue;
        }
        let want = flow::trace(cloud, &reference, p);
        let proto = sgeval::Protocol(p.protocol).to_string();
        let hops: Vec<String> = want
            .hops
            .iter()
            .map(|h| flow::label(cloud, &h.decision))
            .collect();
        checks.push((
            *p,
            json!({"from": p.src.to_string(), "to": p.dst.to_string(), "proto": proto,
                "sport": p.src_port, "dport": p.dst_port, "icmp_type": p.icmp_type,
                "icmp_code": p.icmp_code, "established": p.state == ConnState::Established,
                "verdict": want.verdict.to_string(), "hops": hops}),
        ));
    }
    let provider = scenario["provider"].as_str().unwrap_or("unknown").to_owned();
    let case = json!({"cases": [{
        "name": format!("{provider}-regression-NNN"),
        "source": "tests/equality.rs: the compiled engine disagreed with the reference",
        "scenario": scenario,
        "checks": checks.into_iter().map(|(_, c)| c).collect::<Vec<_>>()}]});
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("equality-failures");
    let path = dir.join(format!("{provider}.json"));
    let text = serde_json::to_string_pretty(&case).unwrap_or_default();
    let _ = std::fs::create_dir_all(&dir).and_then(|_| std::fs::write(&path, text));
    path.display().to_string()
}

fn config() -> ProptestConfig {
    // ProptestConfig::default() reads PROPTEST_CASES (default 256).
    ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Whether the provider's front end answers calls in this build (a placeholder front end
/// answers none, and then there is nothing to generate).
fn front_end_ready(provider: Provider) -> bool {
    let ready = !provider.apis().is_empty();
    if !ready {
        eprintln!("{provider}: no front end in this build, skipped");
    }
    ready
}

fn run(provider: Provider) {
    if !front_end_ready(provider) {
        return;
    }
    let mut runner = TestRunner::new(config());
    let strategy = scenario_and_packets(provider);
    let (scenarios, checks) = (std::cell::Cell::new(0usize), std::cell::Cell::new(0usize));
    let result = runner.run(&strategy, |(spec, packets)| {
        let Some((scenario, cloud)) = valid_scenario(&spec) else {
            return Ok(());
        };
        let n = compare(&scenario, &cloud, &packets).map_err(TestCaseError::fail)?;
        scenarios.set(scenarios.get() + 1);
        checks.set(checks.get() + n);
        Ok(())
    });
    if let Err(e) = result {
        panic!("{provider}: {e}");
    }
    println!(
        "{provider}: {} valid scenarios, {} decisions compared (flows and every endpoint x direction)",
        scenarios.get(),
        checks.get()
    );
}

#[test]
fn compiled_equals_reference_ecs() {
    run(Provider::Ecs);
}

#[test]
fn compiled_equals_reference_ens() {
    run(Provider::Ens);
}

#[test]
fn compiled_equals_reference_huawei() {
    run(Provider::Huawei);
}

#[test]
fn compiled_equals_reference_gcore() {
    run(Provider::Gcore);
}

/// The generator is only worth something if the front ends accept most of what it makes
/// and rules, not defaults, decide a good share of the hops.
#[test]
fn generated_scenarios_replay_and_reach_rules() {
    for provider in Provider::ALL.into_iter().filter(|&p| front_end_ready(p)) {
        let mut runner = TestRunner::deterministic();
        let (mut calls, mut kept, mut decisions, mut by_rule, mut by_intra) =
            (0usize, 0usize, 0usize, 0usize, 0usize);
        let strategy = scenario_and_packets(provider);
        for _ in 0..100 {
            let (spec, packets) = strategy.new_tree(&mut runner).expect("value").current();
            calls += render(&spec)["calls"].as_array().map_or(0, Vec::len);
            let Some((scenario, cloud)) = valid_scenario(&spec) else {
                continue;
            };
            kept += scenario["calls"].as_array().map_or(0, Vec::len);
            let reference = Evaluator::new(&cloud);
            for p in &packets {
                for hop in flow::trace(&cloud, &reference, p).hops {
                    decisions += 1;
                    match hop.decision.reason {
                        Reason::Rule(_) => by_rule += 1,
                        Reason::IntraGroup { .. } => by_intra += 1,
                        _ => {}
                    }
                }
            }
        }
        println!(
            "{provider}: {kept}/{calls} calls accepted, {by_rule}/{decisions} hops decided by a rule, {by_intra} intra-group"
        );
        assert!(
            kept * 10 >= calls * 6,
            "{provider}: only {kept} of {calls} generated calls accepted"
        );
        assert!(
            by_rule * 5 >= decisions,
            "{provider}: only {by_rule} of {decisions} hops decided by a rule"
        );
        if provider == Provider::Ecs {
            assert!(by_intra > 0, "ecs: no intra-group decision generated");
        }
    }
}
