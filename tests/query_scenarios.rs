//! The what-if queries on clouds built by the provider front ends: every scenario of the
//! shared corpus (tests/corpus/*.json) that builds, and the examples. Packets are drawn
//! from the edges of every rule's addresses, ports, protocols and ICMP fields, and each
//! answer is checked against `reference::Evaluator`. Fixes are replayed as scenario calls.

mod common;

use std::net::IpAddr;
use std::path::Path;

use serde_json::Value;
use sgeval::query::{self, explain, Query, Side};
use sgeval::{flow, reference, testkit, Cloud, ConnState, Packet, Scenario};

/// Every scenario that builds: (label, scenario JSON).
fn scenarios() -> Vec<(String, Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out: Vec<(String, Value)> = common::load_all()
        .into_iter()
        .map(|case| (case.name, case.scenario))
        .collect();
    let mut examples: Vec<_> = std::fs::read_dir(root.join("examples"))
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    examples.sort();
    for p in examples {
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        out.push((p.display().to_string(), v));
    }
    out.into_iter()
        .filter(|(_, v)| Scenario::from_value(v).and_then(|s| s.build()).is_ok())
        .collect()
}

fn build(v: &Value) -> Cloud {
    Scenario::from_value(v).unwrap().build().unwrap()
}

/// xorshift64*.
struct Rng(u64);

impl Rng {
    fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        v[(self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % v.len() as u64) as usize]
    }
}

/// Values around every edge the cloud's rules and endpoints draw.
struct Edges {
    addrs: [Vec<IpAddr>; 2],
    ports: Vec<u16>,
    protocols: Vec<u8>,
    icmp: Vec<u8>,
}

fn edges(cloud: &Cloud) -> Edges {
    // The shared edge addresses, and the ends of each family's space.
    let mut addrs: [Vec<IpAddr>; 2] = [
        ["0.0.0.0", "255.255.255.255", "8.8.8.8"]
            .map(|a| a.parse().unwrap())
            .to_vec(),
        ["::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::1"]
            .map(|a| a.parse().unwrap())
            .to_vec(),
    ];
    for a in testkit::edge_addresses(cloud) {
        addrs[usize::from(a.is_ipv6())].push(a);
    }
    let mut ports = vec![0u16, 1, 65535];
    let mut protocols = vec![0u8, 1, 6, 17, 47, 58, 132, 255];
    let mut icmp = vec![0u8, 8, 255];
    for g in cloud.groups() {
        for r in &g.rules {
            for pr in r.dst_ports.0.iter().chain(r.src_ports.0.iter()) {
                ports.extend(testkit::port_edges(pr.lo, pr.hi));
            }
            protocols.extend(r.protocol);
            for v in [r.icmp.icmp_type, r.icmp.icmp_code].into_iter().flatten() {
                icmp.extend([v, v.saturating_sub(1), v.saturating_add(1)]);
            }
        }
    }
    Edges {
        addrs,
        ports,
        protocols,
        icmp,
    }
}

fn sample(edges: &Edges, rng: &mut Rng, n: usize) -> Vec<Packet> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let fam = &edges.addrs[i % 2];
        out.push(Packet {
            src: rng.pick(fam),
            dst: rng.pick(fam),
            protocol: rng.pick(&edges.protocols),
            src_port: rng.pick(&edges.ports),
            dst_port: rng.pick(&edges.ports),
            icmp_type: rng.pick(&edges.icmp),
            icmp_code: rng.pick(&edges.icmp),
            state: ConnState::New,
        });
    }
    out
}

#[test]
fn reach_agrees_with_the_reference_on_every_corpus_scenario() {
    let all = scenarios();
    assert!(all.len() > 50, "the corpus and the examples give scenarios");
    let mut packets = 0;
    for (name, v) in &all {
        let cloud = build(v);
        let engine = reference::Evaluator::new(&cloud);
        let map = query::reach(&cloud, &Query::new(Side::any(), Side::any())).unwrap();
        let mut rng = Rng(0x9e37_79b9 ^ name.len() as u64);
        for p in sample(&edges(&cloud), &mut rng, 400) {
            let holding: Vec<_> = map.regions.iter().filter(|r| r.shape.contains(&p)).collect();
            assert_eq!(holding.len(), 1, "{name}: {p} in {} regions", holding.len());
            let expected = flow::trace(&cloud, &engine, &p);
            assert_eq!(holding[0].verdict, expected.verdict, "{name}: {p}");
            assert_eq!(&holding[0].hops[..], &expected.hops[..], "{name}: {p}");
            packets += 1;
        }
    }
    eprintln!("reach: {} scenarios, {packets} packets", all.len());
    assert!(packets > 20_000);
}

#[test]
fn diff_between_consecutive_corpus_scenarios_agrees_with_the_reference() {
    let all = scenarios();
    let mut compared = 0;
    for pair in all.windows(2) {
        let (a, b) = (build(&pair[0].1), build(&pair[1].1));
        let d = query::diff(&a, &b, &query::diff::everything()).unwrap();
        let (ea, eb) = (reference::Evaluator::new(&a), reference::Evaluator::new(&b));
        let mut edges_a = edges(&a);
        let edges_b = edges(&b);
        for i in 0..2 {
            edges_a.addrs[i].extend(edges_b.addrs[i].iter().copied());
        }
        edges_a.ports.extend(edges_b.ports);
        edges_a.protocols.extend(edges_b.protocols);
        edges_a.icmp.extend(edges_b.icmp);
        let mut rng = Rng(0x1234_5678 + compared);
        for p in sample(&edges_a, &mut rng, 300) {
            let before = flow::trace(&a, &ea, &p).verdict;
            let after = flow::trace(&b, &eb, &p).verdict;
            let holding = d.changes.iter().filter(|c| c.shape.contains(&p)).count();
            assert_eq!(
                holding,
                usize::from(before != after),
                "{} -> {}: {p} ({before} -> {after})",
                pair[0].0,
                pair[1].0
            );
        }
        compared += 1;
    }
    assert!(compared > 50);
}

#[test]
fn lint_witnesses_are_decided_as_the_findings_say() {
    for (name, v) in scenarios() {
        let cloud = build(&v);
        let engine = reference::Evaluator::new(&cloud);
        for f in query::lint(&cloud) {
            let Some(w) = f.witness else { continue };
            let (Some(&e), Some(d)) = (f.endpoints.first(), f.direction) else {
                continue;
            };
            let decision = engine.evaluate(e, d, &w);
            match f.kind {
                query::FindingKind::Conflict => assert_eq!(decision.reason, f.related[0], "{name}: {w}"),
                query::FindingKind::Shadowed => {
                    assert!(
                        f.related.contains(&decision.reason),
                        "{name}: {w} decided by {decision:?}"
                    )
                }
                _ => {}
            }
        }
    }
}

#[test]
fn fixes_replay_as_scenario_calls_and_flip_the_verdict() {
    let mut fixed = 0;
    let mut by_provider = std::collections::BTreeMap::new();
    for (name, v) in scenarios() {
        let cloud = build(&v);
        let engine = reference::Evaluator::new(&cloud);
        let mut rng = Rng(0xf1f1 ^ name.len() as u64);
        let edges = edges(&cloud);
        let mut tried = 0;
        for p in sample(&edges, &mut rng, 2000) {
            let involves = cloud.endpoint_by_addr(p.src).is_some() || cloud.endpoint_by_addr(p.dst).is_some();
            if !involves || tried >= 6 {
                continue;
            }
            tried += 1;
            let before = flow::trace(&cloud, &engine, &p).verdict;
            let Some((_, _, fix)) = explain::fix_flow(&cloud, &p) else {
                continue;
            };
            let mut scenario = v.clone();
            scenario["calls"].as_array_mut().unwrap().push(fix.call_json());
            let built = Scenario::from_value(&scenario).and_then(|s| s.build());
            let after_cloud =
                built.unwrap_or_else(|e| panic!("{name}: fix {} does not replay: {e}", fix.call_json()));
            let after = flow::trace(&after_cloud, &reference::Evaluator::new(&after_cloud), &p).verdict;
            assert_ne!(after, before, "{name}: {} does not flip {p}", fix.summary);
            fixed += 1;
            *by_provider.entry(cloud.provider().name()).or_insert(0) += 1;
        }
    }
    eprintln!("fixes replayed: {fixed} {by_provider:?}");
    assert!(fixed > 100, "{fixed} fixes replayed");
    assert_eq!(by_provider.len(), 4, "fixes for every provider: {by_provider:?}");
}

#[test]
fn every_fix_found_is_a_call_the_provider_accepts() {
    // The fix search first finds a change that flips the reference's verdict, then replays
    // it as the provider's own call. A change the search finds but the provider refuses
    // (a Huawei description with `->` in it, once) would leave the user without a fix.
    let mut found = std::collections::BTreeMap::new();
    for (name, v) in scenarios() {
        let cloud = build(&v);
        let mut rng = Rng(0x5eed ^ name.len() as u64);
        for p in sample(&edges(&cloud), &mut rng, 300) {
            let unreplayed = query::testkit::fix_flow_without_replay(&cloud, &p);
            let replayed = explain::fix_flow(&cloud, &p);
            if let Some((_, _, f)) = &unreplayed {
                assert!(
                    replayed.is_some(),
                    "{name}: {p}: the provider refuses the fix {}",
                    f.call_json()
                );
                *found.entry(cloud.provider().name()).or_insert(0) += 1;
            }
        }
    }
    eprintln!("fixes found and accepted: {found:?}");
    assert_eq!(found.len(), 4, "fixes for every provider: {found:?}");
}

#[test]
fn huawei_fix_adds_a_rule_when_no_rule_matched() {
    // Issue 13, item 1: two groups on one NIC, a deny by "no rule matched"; one
    // CreateSecurityGroupRule flips it.
    let v: Value = serde_json::from_str(
        r#"{"provider": "huawei", "calls": [
 {"api": "CreateSecurityGroup", "ref": "baseline", "body": {"security_group": {"name": "baseline"}}},
 {"api": "CreateSecurityGroup", "ref": "app", "body": {"security_group": {"name": "app"}}},
 {"api": "CreateSecurityGroupRule", "body": {"security_group_rule": {"security_group_id": "$baseline", "direction": "ingress",
   "protocol": "tcp", "multiport": "22", "remote_ip_prefix": "0.0.0.0/0", "action": "deny", "priority": 100}}},
 {"api": "CreateSecurityGroupRule", "body": {"security_group_rule": {"security_group_id": "$app", "direction": "ingress",
   "protocol": "tcp", "multiport": "22", "remote_ip_prefix": "10.0.0.0/8", "action": "allow", "priority": 1}}}
], "endpoints": [{"name": "vm-1", "ips": ["192.168.10.5"], "groups": ["$baseline", "$app"]}]}"#,
    )
    .unwrap();
    let cloud = build(&v);
    let p = Packet::tcp("8.8.8.8".parse().unwrap(), "192.168.10.5".parse().unwrap(), 3389);
    let (_, _, fix) = explain::fix_flow(&cloud, &p).expect("a fix");
    assert_eq!(fix.call_json()["api"], "CreateSecurityGroupRule");
    let mut scenario = v.clone();
    scenario["calls"].as_array_mut().unwrap().push(fix.call_json());
    let after = build(&scenario);
    assert!(flow::trace(&after, &reference::Evaluator::new(&after), &p).verdict == sgeval::Verdict::Allow);
}

#[test]
fn why_explains_the_example_denials() {
    // ens-edge: 198.51.100.4 -> cache-1 tcp/80 is dropped at equal priority; the accept
    // rule matches but is outranked.
    let v: Value = serde_json::from_str(include_str!("../examples/ens-edge.json")).unwrap();
    let cloud = build(&v);
    let e = cloud.endpoint_by_name("cache-1").unwrap();
    let p = Packet::tcp("198.51.100.4".parse().unwrap(), "10.20.0.5".parse().unwrap(), 80);
    let misses = explain::why(&cloud, e, sgeval::Direction::Ingress, &p);
    assert!(misses.iter().any(|m| m.why == explain::Why::Outranked));
    assert!(misses.iter().any(|m| m.why
        == (explain::Why::Failed {
            field: explain::Field::Direction
        })));
    let fix = explain::fix(&cloud, e, sgeval::Direction::Ingress, &p).expect("a fix");
    // Nothing outranks a drop at the same priority from above priority 19: the fix adds
    // an accept one priority better.
    assert_eq!(fix.api, "AuthorizeSecurityGroup");
    assert_eq!(fix.request.params.as_ref().unwrap()["Priority"], 19);
}
