//! Unit tests of the compiled engine against the reference, on clouds built directly through
//! the crate's own mutation API (so they reach rule shapes no front end produces: family-less
//! CIDR rules, ports on ICMP rules, ranges across families, disabled rules ...).

use std::net::IpAddr;
use std::sync::Arc;

use ipnet::IpNet;
use proptest::prelude::*;
use smallvec::SmallVec;

use super::{BuildLimits, Engine, Update};
use crate::cloud::Cloud;
use crate::decision::{Decision, Fallback, Reason, Verdict};
use crate::group::{
    AddressEntry, AddressGroup, AddressGroupKey, EndpointKey, Group, GroupKey, GroupKind, InnerPolicy,
};
use crate::packet::{ConnState, Packet, ICMP, ICMPV6, TCP, UDP};
use crate::provider::{Options, Provider};
use crate::reference::Evaluator;
use crate::rule::{Action, Direction, Family, IcmpMatch, PortRange, Ports, Remote, Rule, RuleKey};

// ---- building clouds by hand ----

fn ip(s: &str) -> IpAddr {
    s.parse().expect("test address")
}

fn net(s: &str) -> IpNet {
    s.parse().expect("test network")
}

/// A rule with every field at its widest; tests narrow what they need.
pub(super) fn rule(direction: Direction, action: Action, priority: u8) -> Rule {
    Rule {
        key: RuleKey::new(0),
        id: String::new(),
        direction,
        family: Some(Family::V4),
        protocol: None,
        dst_ports: Ports::any(),
        src_ports: Ports::any(),
        icmp: IcmpMatch::ANY,
        remote: Remote::Any,
        local: None,
        action,
        priority,
        enabled: true,
        description: String::new(),
        shown: serde_json::Value::Null.into(),
    }
}

fn add_group(cloud: &mut Cloud, kind: GroupKind) -> GroupKey {
    cloud.edit_with(|t| {
        let key = t.next_group_key();
        t.insert_group(Group {
            key,
            id: format!("sg-{}", key.get()),
            name: format!("g{}", key.get()),
            description: String::new(),
            kind,
            rules: Vec::new(),
            shown: serde_json::Value::Null,
        });
        key
    })
}

fn add_rules(cloud: &mut Cloud, group: GroupKey, rules: Vec<Rule>) -> Vec<RuleKey> {
    let keys: Vec<RuleKey> = cloud.edit_with(|t| t.next_rule_keys(rules.len()).collect());
    let rules: Vec<Rule> = rules
        .into_iter()
        .zip(&keys)
        .map(|(mut r, &k)| {
            r.key = k;
            r.id = format!("r{}", k.get());
            r
        })
        .collect();
    cloud.edit_with(|t| t.push_rules(group, rules));
    keys
}

fn add_address_group(cloud: &mut Cloud, family: Family, entries: Vec<AddressEntry>) -> AddressGroupKey {
    cloud.edit_with(|t| {
        let key = t.next_address_group_key();
        t.insert_address_group(AddressGroup {
            key,
            id: format!("ag-{}", key.get()),
            name: String::new(),
            family,
            entries,
            shown: serde_json::Value::Null,
        });
        key
    })
}

fn attach(cloud: &mut Cloud, name: &str, ips: &[&str], groups: &[GroupKey]) -> EndpointKey {
    let ips: Vec<IpAddr> = ips.iter().map(|s| ip(s)).collect();
    let ids: Vec<String> = groups
        .iter()
        .map(|g| cloud.group(*g).expect("group").id.clone())
        .collect();
    cloud.attach(name, &ips, &ids).expect("attach")
}

/// Every packet's trace, then every endpoint in both directions: the engine (one at a time
/// and batched) equals the reference.
fn assert_agrees(cloud: &Cloud, engine: &Engine, packets: &[Packet]) {
    let reference = Evaluator::new(cloud);
    // A flow no trace gives (no endpoint has the key), one place past the packets: left as is.
    let unset = crate::flow::Flow {
        hops: SmallVec::from_elem(
            crate::flow::Hop {
                endpoint: EndpointKey::new(u32::MAX),
                direction: Direction::Egress,
                decision: Decision::ESTABLISHED,
            },
            2,
        ),
        verdict: Verdict::Deny,
    };
    let mut batch = vec![unset.clone(); packets.len() + 1];
    crate::flow::trace_batch(cloud, engine, packets, &mut batch);
    assert_eq!(batch[packets.len()], unset, "past the packets");
    // Into fewer flows than packets: the first packets' flows, the rest not traced.
    let short = packets.len().saturating_sub(1);
    let mut fewer = vec![unset.clone(); short];
    crate::flow::trace_batch(cloud, engine, packets, &mut fewer);
    assert_eq!(fewer[..], batch[..short], "a batch into fewer flows");
    for (p, b) in packets.iter().zip(&batch) {
        let want = crate::flow::trace(cloud, &reference, p);
        assert_eq!(crate::flow::trace(cloud, engine, p), want, "trace of packet {p}");
        assert_eq!(*b, want, "batched trace of packet {p}");
    }
    let count = cloud.endpoints().len() as u32;
    // One key past the last endpoint: unknown endpoints too.
    for e in (0..=count).map(EndpointKey::new) {
        for direction in Direction::ALL {
            let mut batch = vec![Decision::ESTABLISHED; packets.len()];
            engine.evaluate_batch(e, direction, packets, &mut batch);
            for (p, b) in packets.iter().zip(&batch) {
                let want = reference.evaluate(e, direction, p);
                let got = engine.evaluate(e, direction, p);
                assert_eq!(got, want, "endpoint {e:?} {direction} packet {p}");
                assert_eq!(*b, want, "batched: endpoint {e:?} {direction} packet {p}");
            }
        }
    }
}

fn packets_between(addrs: &[&str]) -> Vec<Packet> {
    let mut out = Vec::new();
    for s in addrs {
        for d in addrs {
            for (proto, ports) in [
                (TCP, &[(40000u16, 22u16), (1, 80), (80, 443), (65535, 0)][..]),
                (UDP, &[(53, 53)][..]),
                (ICMP, &[(0, 0), (7, 9)][..]),
                (ICMPV6, &[(0, 0)][..]),
                (47, &[(0, 0)][..]),
            ] {
                for &(sp, dp) in ports {
                    for (t, c) in [(8u8, 0u8), (3, 1), (0, 0)] {
                        let p = Packet {
                            src_port: sp,
                            dst_port: dp,
                            icmp_type: t,
                            icmp_code: c,
                            ..Packet::new(ip(s), ip(d), proto)
                        };
                        out.push(p);
                        if proto == TCP && t == 0 {
                            out.push(p.with_state(ConnState::Established));
                        }
                    }
                }
            }
        }
    }
    out
}

// ---- targeted cases ----

#[test]
fn ecs_drop_beats_accept_at_equal_priority_and_intra_group_beats_both() {
    let mut cloud = Cloud::new(Provider::Ecs, Options::default());
    let web = add_group(
        &mut cloud,
        GroupKind::EcsBasic {
            inner: InnerPolicy::Accept,
        },
    );
    let mut accept = rule(Direction::Ingress, Action::Allow, 5);
    accept.protocol = Some(TCP);
    accept.dst_ports = Ports::range(PortRange::single(80));
    let mut drop = rule(Direction::Ingress, Action::Deny, 5);
    drop.remote = Remote::Cidr(net("10.0.0.0/8"));
    let keys = add_rules(&mut cloud, web, vec![accept, drop]);
    let a = attach(&mut cloud, "a", &["10.0.0.1"], &[web]);
    attach(&mut cloud, "b", &["10.0.0.2"], &[web]);
    let engine = Engine::build(&cloud).expect("build");

    let member = Packet::tcp(ip("10.0.0.2"), ip("10.0.0.1"), 80);
    let d = engine.evaluate(a, Direction::Ingress, &member);
    assert_eq!(d.reason, Reason::IntraGroup { group: web });
    let outsider = Packet::tcp(ip("10.0.0.9"), ip("10.0.0.1"), 80);
    let d = engine.evaluate(a, Direction::Ingress, &outsider);
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(
        d.reason,
        Reason::Rule(crate::RuleRef {
            group: web,
            rule: keys[1]
        })
    );
    let internet = Packet::tcp(ip("203.0.113.1"), ip("10.0.0.1"), 80);
    assert_eq!(
        engine.evaluate(a, Direction::Ingress, &internet).verdict,
        Verdict::Allow
    );
    assert_agrees(
        &cloud,
        &engine,
        &packets_between(&["10.0.0.1", "10.0.0.2", "10.0.0.9", "203.0.113.1"]),
    );
}

#[test]
fn ecs_enterprise_and_basic_defaults() {
    let mut cloud = Cloud::new(Provider::Ecs, Options::default());
    let basic = add_group(
        &mut cloud,
        GroupKind::EcsBasic {
            inner: InnerPolicy::Drop,
        },
    );
    let ent = add_group(&mut cloud, GroupKind::EcsEnterprise);
    let a = attach(&mut cloud, "a", &["10.0.0.1"], &[basic]);
    let b = attach(&mut cloud, "b", &["10.0.0.2"], &[ent]);
    let engine = Engine::build(&cloud).expect("build");
    let p = Packet::tcp(ip("10.0.0.1"), ip("10.0.0.2"), 80);
    assert_eq!(
        engine.evaluate(a, Direction::Egress, &p),
        Decision::fallback(Verdict::Allow, Fallback::EcsBasicEgress)
    );
    assert_eq!(
        engine.evaluate(b, Direction::Ingress, &p),
        Decision::fallback(Verdict::Deny, Fallback::EcsEnterprise)
    );
    assert_agrees(&cloud, &engine, &packets_between(&["10.0.0.1", "10.0.0.2"]));
}

#[test]
fn huawei_group_order_beats_priority() {
    let mut cloud = Cloud::new(Provider::Huawei, Options::default());
    let first = add_group(&mut cloud, GroupKind::Huawei);
    let second = add_group(&mut cloud, GroupKind::Huawei);
    let allow = rule(Direction::Ingress, Action::Allow, 100);
    let deny = rule(Direction::Ingress, Action::Deny, 1);
    let allow_key = add_rules(&mut cloud, first, vec![allow])[0];
    add_rules(&mut cloud, second, vec![deny]);
    let a = attach(&mut cloud, "a", &["10.0.0.1"], &[first, second]);
    let engine = Engine::build(&cloud).expect("build");
    let p = Packet::tcp(ip("192.0.2.1"), ip("10.0.0.1"), 22);
    assert_eq!(
        engine.evaluate(a, Direction::Ingress, &p),
        Decision::rule(
            Verdict::Allow,
            crate::RuleRef {
                group: first,
                rule: allow_key
            }
        )
    );
    assert_agrees(&cloud, &engine, &packets_between(&["10.0.0.1", "192.0.2.1"]));
}

#[test]
fn gcore_icmp_type_and_code_with_ports_on_icmp_packets() {
    let mut cloud = Cloud::new(Provider::Gcore, Options::default());
    let g = add_group(&mut cloud, GroupKind::Gcore);
    let mut echo = rule(Direction::Ingress, Action::Allow, 0);
    echo.protocol = Some(ICMP);
    echo.icmp = IcmpMatch {
        icmp_type: Some(8),
        icmp_code: Some(0),
    };
    // An all-protocol rule with ports also sees ICMP packets (ports are compared for every
    // protocol), and a type filter applies to it on ICMP packets.
    let mut odd = rule(Direction::Ingress, Action::Allow, 0);
    odd.dst_ports = Ports(SmallVec::from_slice(&[
        PortRange { lo: 7, hi: 9 },
        PortRange::single(443),
    ]));
    odd.icmp = IcmpMatch {
        icmp_type: Some(3),
        icmp_code: None,
    };
    let mut coded = rule(Direction::Ingress, Action::Allow, 0);
    coded.protocol = Some(ICMP);
    coded.src_ports = Ports::range(PortRange { lo: 5, hi: 10 });
    coded.icmp = IcmpMatch {
        icmp_type: None,
        icmp_code: Some(1),
    };
    add_rules(&mut cloud, g, vec![echo, odd, coded]);
    let a = attach(&mut cloud, "a", &["10.0.0.1"], &[g]);
    let engine = Engine::build(&cloud).expect("build");
    let ping = Packet::new(ip("192.0.2.1"), ip("10.0.0.1"), ICMP).with_icmp(8, 0);
    assert!(engine.evaluate(a, Direction::Ingress, &ping).is_allow());
    assert!(!engine
        .evaluate(a, Direction::Ingress, &ping.with_icmp(8, 1))
        .is_allow());
    let mut ported = ping.with_icmp(3, 1);
    ported.dst_port = 8;
    assert!(engine.evaluate(a, Direction::Ingress, &ported).is_allow());
    let mut packets = packets_between(&["10.0.0.1", "192.0.2.1"]);
    for p in packets.clone() {
        for dp in [6u16, 7, 9, 10, 443, 444] {
            for sp in [4u16, 5, 10, 11] {
                packets.push(Packet {
                    dst_port: dp,
                    src_port: sp,
                    ..p
                });
            }
        }
    }
    assert_agrees(&cloud, &engine, &packets);
}

#[test]
fn address_group_ranges_and_family_less_rules() {
    let mut cloud = Cloud::new(Provider::Huawei, Options::default());
    let g = add_group(&mut cloud, GroupKind::Huawei);
    let ag = add_address_group(
        &mut cloud,
        Family::V4,
        vec![
            AddressEntry::Range(ip("10.0.0.3"), ip("10.0.0.9")),
            AddressEntry::Net(net("192.168.0.0/30")),
            // Ranges whose ends differ in family hold what `contains` says they hold.
            AddressEntry::Range(ip("10.0.1.250"), ip("::1")),
            AddressEntry::Range(ip("2001:db8::5"), ip("10.0.0.1")),
        ],
    );
    let mut by_ag = rule(Direction::Ingress, Action::Allow, 10);
    by_ag.remote = Remote::AddressGroup(ag);
    by_ag.family = None;
    let mut v6 = rule(Direction::Ingress, Action::Deny, 10);
    v6.family = None;
    v6.remote = Remote::Cidr(net("2001:db8::/126"));
    let mut disabled = rule(Direction::Ingress, Action::Allow, 1);
    disabled.enabled = false;
    let mut local = rule(Direction::Egress, Action::Deny, 1);
    local.local = Some(net("10.0.0.1/32"));
    add_rules(&mut cloud, g, vec![by_ag, v6, disabled, local]);
    attach(&mut cloud, "a", &["10.0.0.1", "2001:db8::1"], &[g]);
    let engine = Engine::build(&cloud).expect("build");
    assert_agrees(
        &cloud,
        &engine,
        &packets_between(&[
            "10.0.0.1",
            "10.0.0.2",
            "10.0.0.3",
            "10.0.0.9",
            "10.0.0.10",
            "10.0.1.255",
            "255.255.255.255",
            "192.168.0.3",
            "2001:db8::1",
            "2001:db8::3",
            "2001:db8::4",
        ]),
    );
}

#[test]
fn limits_name_the_endpoint_direction_and_rule() {
    let mut cloud = Cloud::new(Provider::Gcore, Options::default());
    let g = add_group(&mut cloud, GroupKind::Gcore);
    let mut multi = rule(Direction::Egress, Action::Allow, 0);
    multi.dst_ports = Ports((1..=20).map(PortRange::single).collect());
    add_rules(&mut cloud, g, vec![multi]);
    attach(&mut cloud, "web-1", &["10.0.0.1"], &[g]);
    // 20 ports: 20 entries (no ICMP filter anywhere, so no ICMP lists).
    let limits = BuildLimits { max_entries: 19 };
    let err = Engine::build_with(&cloud, limits).expect_err("over the limit");
    let text = err.to_string();
    assert!(
        text.contains("`web-1`") && text.contains("egress IPv4") && text.contains("r1"),
        "{text}"
    );
    assert!(Engine::build_with(&cloud, BuildLimits { max_entries: 20 }).is_ok());
}

#[test]
fn engine_is_send_sync_and_clone() {
    fn check<T: Send + Sync + Clone>() {}
    check::<Engine>();
}

#[test]
fn aggregate_merges_dense_members_and_keeps_the_address_set() {
    use super::classifier::Prefix;
    let mut hosts: Vec<Prefix<u32>> = (0..=255u32)
        .map(|i| Prefix {
            addr: 0x0a00_0000 | i,
            len: 32,
        })
        .collect();
    super::lower::aggregate(&mut hosts);
    assert_eq!(
        hosts,
        vec![Prefix {
            addr: 0x0a00_0000,
            len: 24
        }]
    );
    let mut every: Vec<Prefix<u128>> = vec![
        Prefix { addr: 0, len: 1 },
        Prefix {
            addr: 1 << 127,
            len: 1,
        },
    ];
    super::lower::aggregate(&mut every);
    assert_eq!(every, vec![Prefix { addr: 0, len: 0 }]);
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn aggregate_holds_exactly_the_same_addresses(
        raw in prop::collection::vec((0u32..64, 26u8..=32), 0..24),
        probes in prop::collection::vec(0u32..80, 32),
    ) {
        use super::classifier::Prefix;
        let base = 0xc000_0200u32;
        let input: Vec<Prefix<u32>> = raw
            .iter()
            .filter_map(|&(off, len)| Prefix::truncating(base + off, len))
            .collect();
        let mut merged = input.clone();
        super::lower::aggregate(&mut merged);
        prop_assert!(merged.len() <= input.len());
        for w in merged.windows(2) {
            prop_assert!(w[0].last() < w[1].first(), "sorted and disjoint: {:?}", merged);
        }
        for off in probes.into_iter().chain([0, 63, 64]) {
            let a = base + off;
            prop_assert_eq!(
                input.iter().any(|p| p.contains(a)),
                merged.iter().any(|p| p.contains(a)),
                "address {:#x}", a
            );
        }
    }
}

// ---- refresh ----

/// A cloud with shared group lists, a group reference and an address group; `variant`
/// changes one endpoint's membership.
fn topology(extra_member: bool) -> (Cloud, [GroupKey; 3], AddressGroupKey) {
    let mut cloud = Cloud::new(Provider::Huawei, Options::default());
    let web = add_group(&mut cloud, GroupKind::Huawei);
    let db = add_group(&mut cloud, GroupKind::Huawei);
    let ops = add_group(&mut cloud, GroupKind::Huawei);
    let ag = add_address_group(
        &mut cloud,
        Family::V4,
        vec![AddressEntry::Net(net("198.51.100.0/24"))],
    );
    let mut from_web = rule(Direction::Ingress, Action::Allow, 1);
    from_web.remote = Remote::Group(web);
    from_web.protocol = Some(TCP);
    from_web.dst_ports = Ports::range(PortRange::single(5432));
    let mut from_ag = rule(Direction::Ingress, Action::Deny, 2);
    from_ag.remote = Remote::AddressGroup(ag);
    add_rules(&mut cloud, db, vec![from_web, from_ag]);
    let mut https = rule(Direction::Ingress, Action::Allow, 1);
    https.protocol = Some(TCP);
    https.dst_ports = Ports::range(PortRange::single(443));
    add_rules(&mut cloud, web, vec![https]);
    add_rules(&mut cloud, ops, vec![rule(Direction::Ingress, Action::Allow, 1)]);
    attach(&mut cloud, "web-1", &["10.0.0.1"], &[web]);
    attach(&mut cloud, "web-2", &["10.0.0.2"], &[web]);
    attach(&mut cloud, "db-1", &["10.0.1.1"], &[db]);
    attach(&mut cloud, "ops-1", &["10.0.2.1"], &[ops]);
    if extra_member {
        attach(&mut cloud, "ops-2", &["10.0.2.2"], &[ops, web]);
    } else {
        attach(&mut cloud, "ops-2", &["10.0.2.2"], &[ops]);
    }
    (cloud, [web, db, ops], ag)
}

fn topology_packets() -> Vec<Packet> {
    packets_between(&[
        "10.0.0.1",
        "10.0.0.2",
        "10.0.1.1",
        "10.0.2.1",
        "10.0.2.2",
        "198.51.100.7",
    ])
}

/// Same answers and the same tables (by fingerprint) as a fresh build.
fn assert_same_as_fresh(cloud: &Cloud, updated: &Engine) {
    let fresh = Engine::build(cloud).expect("fresh build");
    for e in 0..cloud.endpoints().len() as u32 {
        let (a, b) = (
            updated.set_of(EndpointKey::new(e)).expect("updated set"),
            fresh.set_of(EndpointKey::new(e)).expect("fresh set"),
        );
        for d in 0..2 {
            assert_eq!(
                a.v4[d].fingerprint, b.v4[d].fingerprint,
                "endpoint {e} v4 dir {d}"
            );
            assert_eq!(
                a.v6[d].fingerprint, b.v6[d].fingerprint,
                "endpoint {e} v6 dir {d}"
            );
        }
        assert_eq!(a.groups, b.groups);
    }
    assert_eq!(updated.stats().group_lists, fresh.stats().group_lists);
    assert_agrees(cloud, updated, &topology_packets());
}

#[test]
fn refresh_after_a_rule_change_rebuilds_only_the_touched_table() {
    let (mut cloud, [web, db, ops], _) = topology(false);
    let mut engine = Engine::build(&cloud).expect("build");
    let before = engine.clone();
    let mut ssh = rule(Direction::Ingress, Action::Allow, 5);
    ssh.protocol = Some(TCP);
    ssh.dst_ports = Ports::range(PortRange::single(22));
    add_rules(&mut cloud, web, vec![ssh]);
    engine.refresh(&cloud, Update::Group(web)).expect("refresh");
    assert_same_as_fresh(&cloud, &engine);

    let web_1 = EndpointKey::new(0);
    let (old, new) = (
        before.set_of(web_1).expect("old"),
        engine.set_of(web_1).expect("new"),
    );
    // The ingress IPv4 table changed; the other three of web's list were kept.
    assert!(!Arc::ptr_eq(&old.v4[0], &new.v4[0]));
    assert!(Arc::ptr_eq(&old.v4[1], &new.v4[1]));
    assert!(Arc::ptr_eq(&old.v6[0], &new.v6[0]));
    assert!(Arc::ptr_eq(&old.v6[1], &new.v6[1]));
    // Lists without `web` were not even looked at: the same set.
    for (e, g) in [(2u32, db), (3, ops)] {
        let (o, n) = (
            before.set_of(EndpointKey::new(e)).expect("old"),
            engine.set_of(EndpointKey::new(e)).expect("new"),
        );
        assert!(std::ptr::eq(o, n), "group {g} list was rebuilt");
    }
    // The old engine still answers as before (the update did not touch shared tables).
    let ssh_packet = Packet::tcp(ip("192.0.2.1"), ip("10.0.0.1"), 22);
    assert!(!before.evaluate(web_1, Direction::Ingress, &ssh_packet).is_allow());
    assert!(engine.evaluate(web_1, Direction::Ingress, &ssh_packet).is_allow());

    // Removing it again gives the original tables' contents.
    let key = cloud.group(web).expect("web").rules.last().expect("rule").key;
    cloud.edit_with(|t| t.remove_rules(web, &[key]));
    engine.refresh(&cloud, Update::Group(web)).expect("refresh");
    assert_same_as_fresh(&cloud, &engine);
}

#[test]
fn a_rule_added_or_removed_keeps_the_classifiers_under_an_overlay() {
    let (mut cloud, [web, _, _], _) = topology(false);
    let mut engine = Engine::build(&cloud).expect("build");
    let web_1 = EndpointKey::new(0);
    let subs = |e: &Engine| Arc::as_ptr(&e.set_of(web_1).expect("set").v4[0].plain().subs);
    let built = subs(&engine);
    // A deny ahead of the https allow: the packet it matches changes its answer.
    let mut deny = rule(Direction::Ingress, Action::Deny, 1);
    deny.protocol = Some(TCP);
    deny.remote = Remote::Cidr(net("192.0.2.0/24"));
    add_rules(&mut cloud, web, vec![deny]);
    engine.refresh(&cloud, Update::Group(web)).expect("refresh");
    assert_eq!(subs(&engine), built, "the classifiers were rebuilt");
    assert_same_as_fresh(&cloud, &engine);
    let https = Packet::tcp(ip("192.0.2.1"), ip("10.0.0.1"), 443);
    assert!(!engine.evaluate(web_1, Direction::Ingress, &https).is_allow());
    // Removing the https rule: its entry stays in the classifier, passed over.
    let key = cloud.group(web).expect("web").rules[0].key;
    cloud.edit_with(|t| t.remove_rules(web, &[key]));
    engine.refresh(&cloud, Update::Group(web)).expect("refresh");
    assert_eq!(subs(&engine), built, "the classifiers were rebuilt");
    assert_same_as_fresh(&cloud, &engine);
    let other = Packet::tcp(ip("198.51.100.1"), ip("10.0.0.1"), 443);
    assert!(!engine.evaluate(web_1, Direction::Ingress, &other).is_allow());
    // Past the overlay's limit the classifiers are built anew, with the same answers.
    let many: Vec<Rule> = (0..=super::table::MAX_OVERLAY as u16)
        .map(|i| {
            let mut r = rule(Direction::Ingress, Action::Allow, 1);
            r.protocol = Some(UDP);
            r.dst_ports = Ports::range(PortRange::single(1000 + i));
            r
        })
        .collect();
    add_rules(&mut cloud, web, many);
    engine.refresh(&cloud, Update::Group(web)).expect("refresh");
    assert_ne!(subs(&engine), built, "past the limit the classifiers are rebuilt");
    assert_same_as_fresh(&cloud, &engine);
}

#[test]
fn refresh_after_a_membership_change_rebuilds_only_dependents() {
    let (before_cloud, [_, _, _], _) = topology(false);
    let (after_cloud, _, _) = topology(true);
    let mut engine = Engine::build(&before_cloud).expect("build");
    let before = engine.clone();
    let ops_2 = EndpointKey::new(4);
    engine
        .refresh(&after_cloud, Update::Endpoint(ops_2))
        .expect("refresh");
    assert_same_as_fresh(&after_cloud, &engine);
    // db references web, which ops-2 joined: rebuilt. web's own list does not depend on
    // web's members: kept. ops-1's list: kept.
    let set = |e: &Engine, k: u32| e.set_of(EndpointKey::new(k)).expect("set") as *const _;
    assert_ne!(set(&before, 2), set(&engine, 2), "db list must be rebuilt");
    assert_eq!(set(&before, 0), set(&engine, 0), "web list must be kept");
    assert_eq!(set(&before, 3), set(&engine, 3), "ops list must be kept");
    // And back.
    engine
        .refresh(&before_cloud, Update::Endpoint(ops_2))
        .expect("refresh");
    assert_same_as_fresh(&before_cloud, &engine);
}

#[test]
fn refresh_takes_in_new_endpoints_and_address_groups() {
    let (mut cloud, [web, _, ops], ag) = topology(false);
    let mut engine = Engine::build(&cloud).expect("build");
    attach(&mut cloud, "new", &["10.0.3.1"], &[web, ops]);
    engine
        .refresh(&cloud, Update::Endpoint(EndpointKey::new(5)))
        .expect("refresh");
    assert_same_as_fresh(&cloud, &engine);
    // An address group whose entries changed (rebuilt here by replacing the cloud's copy).
    let mut changed = cloud.address_group(ag).expect("address group").clone();
    changed.entries.push(AddressEntry::Net(net("10.0.2.0/24")));
    cloud.edit_with(|t| t.insert_address_group(changed));
    engine.refresh(&cloud, Update::AddressGroup(ag)).expect("refresh");
    assert_same_as_fresh(&cloud, &engine);
}

// ---- generated clouds ----

const V4: [&str; 8] = [
    "10.0.0.1",
    "10.0.0.2",
    "10.0.0.3",
    "10.0.1.1",
    "10.0.0.0",
    "10.255.255.255",
    "192.168.1.1",
    "203.0.113.9",
];
const V6: [&str; 6] = [
    "2001:db8::1",
    "2001:db8::2",
    "2001:db8::3",
    "2001:db8:1::1",
    "fe80::1",
    "::",
];
const NETS: [&str; 12] = [
    "0.0.0.0/0",
    "10.0.0.0/8",
    "10.0.0.0/24",
    "10.0.0.0/30",
    "10.0.0.2/31",
    "10.0.0.1/32",
    "192.168.0.0/16",
    "::/0",
    "2001:db8::/32",
    "2001:db8::/126",
    "2001:db8::2/127",
    "2001:db8::1/128",
];
const PORTS: [(u16, u16); 9] = [
    (0, 65535),
    (80, 80),
    (79, 81),
    (1, 1024),
    (1024, 65535),
    (0, 0),
    (65535, 65535),
    (443, 443),
    (8, 9),
];
const PACKET_PORTS: [u16; 10] = [0, 1, 8, 9, 79, 80, 81, 443, 1024, 65535];
const PROTOCOLS: [Option<u8>; 6] = [None, Some(TCP), Some(UDP), Some(ICMP), Some(ICMPV6), Some(47)];
const ICMPS: [IcmpMatch; 5] = [
    IcmpMatch::ANY,
    IcmpMatch {
        icmp_type: Some(8),
        icmp_code: None,
    },
    IcmpMatch {
        icmp_type: Some(8),
        icmp_code: Some(0),
    },
    IcmpMatch {
        icmp_type: Some(3),
        icmp_code: Some(1),
    },
    IcmpMatch {
        icmp_type: None,
        icmp_code: Some(1),
    },
];

#[derive(Clone, Debug)]
struct RuleSpec {
    egress: bool,
    family: u8,
    protocol: usize,
    dst: Vec<usize>,
    src: Vec<usize>,
    icmp: usize,
    remote: (u8, usize),
    local: Option<usize>,
    deny: bool,
    priority: u8,
    enabled: bool,
}

fn rule_spec() -> impl Strategy<Value = RuleSpec> {
    (
        any::<bool>(),
        0u8..3,
        prop_oneof![2 => Just(0usize), 2 => Just(1usize), 3 => 0..PROTOCOLS.len()],
        prop_oneof![
            2 => Just(vec![0usize]),
            3 => prop::collection::vec(0..PORTS.len(), 1..2),
            1 => prop::collection::vec(0..PORTS.len(), 2..4),
        ],
        prop_oneof![3 => Just(vec![0usize]), 1 => prop::collection::vec(0..PORTS.len(), 0..3)],
        prop_oneof![2 => Just(0usize), 1 => 0..ICMPS.len()],
        (0u8..4, 0usize..16),
        prop_oneof![4 => Just(None), 1 => (0..NETS.len()).prop_map(Some)],
        any::<bool>(),
        prop::sample::select(vec![1u8, 1, 2, 50, 100]),
        prop_oneof![9 => Just(true), 1 => Just(false)],
    )
        .prop_map(
            |(egress, family, protocol, dst, src, icmp, remote, local, deny, priority, enabled)| RuleSpec {
                egress,
                family,
                protocol,
                dst,
                src,
                icmp,
                remote,
                local,
                deny,
                priority,
                enabled,
            },
        )
}

#[derive(Clone, Debug)]
struct CloudSpec {
    provider: usize,
    ens_egress_deny: bool,
    /// Kind selector and rules per group.
    groups: Vec<(u8, Vec<RuleSpec>)>,
    /// Address index (into V4 then V6) sets and group index lists per endpoint.
    endpoints: Vec<(Vec<usize>, Vec<usize>)>,
}

fn cloud_spec() -> impl Strategy<Value = CloudSpec> {
    (
        0usize..4,
        any::<bool>(),
        prop::collection::vec((0u8..3, prop::collection::vec(rule_spec(), 0..7)), 1..4),
        prop::collection::vec(
            (
                prop::collection::vec(0..V4.len() + V6.len(), 1..3),
                prop::collection::vec(0usize..3, 1..3),
            ),
            1..5,
        ),
    )
        .prop_map(|(provider, ens_egress_deny, groups, endpoints)| CloudSpec {
            provider,
            ens_egress_deny,
            groups,
            endpoints,
        })
}

fn make_rule(s: &RuleSpec, keys: &[GroupKey], ags: [AddressGroupKey; 2]) -> Rule {
    let ports = |v: &[usize]| {
        Ports(
            v.iter()
                .map(|&i| PortRange {
                    lo: PORTS[i].0,
                    hi: PORTS[i].1,
                })
                .collect(),
        )
    };
    let mut r = rule(
        if s.egress {
            Direction::Egress
        } else {
            Direction::Ingress
        },
        if s.deny { Action::Deny } else { Action::Allow },
        s.priority,
    );
    r.family = [None, Some(Family::V4), Some(Family::V6)][usize::from(s.family)];
    r.protocol = PROTOCOLS[s.protocol];
    r.dst_ports = ports(&s.dst);
    r.src_ports = ports(&s.src);
    r.icmp = ICMPS[s.icmp];
    r.remote = match s.remote.0 {
        0 => Remote::Any,
        // Mostly of the rule's own family, sometimes of the other (never matches).
        1 => Remote::Cidr(net(match (s.family, s.remote.1 % 8) {
            (_, 7) | (0, _) => NETS[s.remote.1 % NETS.len()],
            (1, i) => NETS[i % 7],
            (_, i) => NETS[7 + i % 5],
        })),
        2 => Remote::Group(keys[s.remote.1 % keys.len()]),
        _ => Remote::AddressGroup(ags[s.remote.1 % 2]),
    };
    r.local = s.local.map(|i| net(NETS[i]));
    r.enabled = s.enabled;
    r
}

fn build_cloud(spec: &CloudSpec) -> Cloud {
    let provider = Provider::ALL[spec.provider];
    let options = Options {
        ens_egress_default: if spec.ens_egress_deny {
            Verdict::Deny
        } else {
            Verdict::Allow
        },
        ..Options::default()
    };
    let mut cloud = Cloud::new(provider, options);
    let ag4 = add_address_group(
        &mut cloud,
        Family::V4,
        vec![
            AddressEntry::Range(ip("10.0.0.2"), ip("10.0.0.5")),
            AddressEntry::Net(net("192.168.0.0/24")),
        ],
    );
    let ag6 = add_address_group(
        &mut cloud,
        Family::V6,
        vec![AddressEntry::Range(ip("2001:db8::1"), ip("2001:db8::2"))],
    );
    let keys: Vec<GroupKey> = spec
        .groups
        .iter()
        .map(|(kind, _)| {
            let kind = match provider {
                Provider::Ecs => match kind {
                    0 => GroupKind::EcsBasic {
                        inner: InnerPolicy::Accept,
                    },
                    1 => GroupKind::EcsBasic {
                        inner: InnerPolicy::Drop,
                    },
                    _ => GroupKind::EcsEnterprise,
                },
                Provider::Ens => GroupKind::Ens,
                Provider::Huawei => GroupKind::Huawei,
                Provider::Gcore => GroupKind::Gcore,
            };
            add_group(&mut cloud, kind)
        })
        .collect();
    for (&g, (_, rules)) in keys.iter().zip(&spec.groups) {
        let rules = rules.iter().map(|s| make_rule(s, &keys, [ag4, ag6])).collect();
        add_rules(&mut cloud, g, rules);
    }
    let mut used = Vec::new();
    for (i, (addrs, groups)) in spec.endpoints.iter().enumerate() {
        let mut ips: Vec<IpAddr> = addrs
            .iter()
            .map(|&a| ip(if a < V4.len() { V4[a] } else { V6[a - V4.len()] }))
            .filter(|a| !used.contains(a))
            .collect();
        ips.dedup();
        let mut ids: Vec<String> = Vec::new();
        for &g in groups {
            let id = cloud.group(keys[g % keys.len()]).expect("group").id.clone();
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        if cloud.attach(&format!("ep{i}"), &ips, &ids).is_ok() {
            used.extend(ips);
        }
    }
    cloud
}

fn packet_strategy() -> impl Strategy<Value = Packet> {
    (
        0..V4.len() + V6.len(),
        0..V4.len() + V6.len(),
        prop_oneof![4 => Just(0usize), 4 => 0..4usize, 1 => 4..7usize],
        prop::sample::select(PACKET_PORTS.to_vec()),
        prop::sample::select(PACKET_PORTS.to_vec()),
        prop::sample::select(vec![0u8, 3, 8]),
        prop::sample::select(vec![0u8, 1]),
        prop_oneof![9 => Just(false), 1 => Just(true)],
        prop_oneof![19 => Just(false), 1 => Just(true)],
    )
        .prop_map(|(s, d, proto, sp, dp, t, c, est, mixed)| {
            let addr = |i: usize| ip(if i < V4.len() { V4[i] } else { V6[i - V4.len()] });
            let (src, mut dst) = (addr(s), addr(d));
            // Keep families equal unless a mixed packet is asked for.
            if !mixed && crate::Family::of(&src) != crate::Family::of(&dst) {
                dst = src;
            }
            let protocol = [TCP, UDP, ICMP, ICMPV6, 47, 0, 132][proto];
            Packet {
                src_port: sp,
                dst_port: dp,
                icmp_type: t,
                icmp_code: c,
                state: if est {
                    ConnState::Established
                } else {
                    ConnState::New
                },
                ..Packet::new(src, dst, protocol)
            }
        })
}

/// The generated clouds' config: 256 cases unless PROPTEST_CASES says otherwise; a failure
/// is reported, not persisted (the scenario-level ones become corpus cases, see
/// tests/equality.rs). Rejects allowed in proportion to the cases: the membership test
/// rejects the 3% of its cases whose two clouds attached different endpoints, which passed
/// proptest's fixed 1,024 at PROPTEST_CASES=100000 (31,022 cases in).
fn generated_config() -> ProptestConfig {
    let config = ProptestConfig::default();
    ProptestConfig {
        failure_persistence: None,
        max_global_rejects: config.max_global_rejects.max(config.cases / 8),
        ..config
    }
}

proptest! {
    #![proptest_config(generated_config())]

    #[test]
    fn compiled_equals_reference_on_generated_clouds(
        spec in cloud_spec(),
        packets in prop::collection::vec(packet_strategy(), 1..64),
    ) {
        let cloud = build_cloud(&spec);
        let engine = Engine::build(&cloud).expect("build");
        assert_agrees(&cloud, &engine, &packets);
    }

    #[test]
    fn refresh_after_rule_changes_equals_fresh_build_on_generated_clouds(
        spec in cloud_spec(),
        extra in prop::collection::vec(rule_spec(), 0..3),
        remove in any::<bool>(),
        target in 0usize..3,
        packets in prop::collection::vec(packet_strategy(), 1..32),
    ) {
        let cloud = build_cloud(&spec);
        let mut engine = Engine::build(&cloud).expect("build");
        let keys: Vec<GroupKey> = cloud.groups().map(|g| g.key).collect();
        let group = keys[target % keys.len()];
        let mut changed = cloud.clone();
        let ags = [AddressGroupKey::new(1), AddressGroupKey::new(2)];
        add_rules(&mut changed, group, extra.iter().map(|s| make_rule(s, &keys, ags)).collect());
        if remove {
            if let Some(first) = changed.group(group).and_then(|g| g.rules.first()).map(|r| r.key) {
                changed.edit_with(|t| t.remove_rules(group, &[first]));
            }
        }
        engine.refresh(&changed, Update::Group(group)).expect("refresh");
        assert_agrees(&changed, &engine, &packets);
        let fresh = Engine::build(&changed).expect("fresh");
        for e in 0..changed.endpoints().len() as u32 {
            let (a, b) = (engine.set_of(EndpointKey::new(e)).expect("a"), fresh.set_of(EndpointKey::new(e)).expect("b"));
            for d in 0..2 {
                prop_assert_eq!(a.v4[d].fingerprint, b.v4[d].fingerprint);
                prop_assert_eq!(a.v6[d].fingerprint, b.v6[d].fingerprint);
            }
        }
    }

    #[test]
    fn refresh_after_membership_changes_equals_fresh_build_on_generated_clouds(
        spec in cloud_spec(),
        which in 0usize..5,
        groups in prop::collection::vec(0usize..3, 1..3),
        packets in prop::collection::vec(packet_strategy(), 1..32),
    ) {
        let cloud = build_cloud(&spec);
        let which = which % spec.endpoints.len();
        let mut other = spec.clone();
        other.endpoints[which].1 = groups;
        let changed = build_cloud(&other);
        let names = |c: &Cloud| c.endpoints().iter().map(|e| e.name.clone()).collect::<Vec<_>>();
        // Only a change of that endpoint's groups (an attach refused in one cloud only would
        // shift endpoint keys).
        prop_assume!(names(&cloud) == names(&changed));
        let Some(key) = changed.endpoint_by_name(&format!("ep{which}")) else {
            return Ok(());
        };
        let mut engine = Engine::build(&cloud).expect("build");
        engine.refresh(&changed, Update::Endpoint(key)).expect("refresh");
        assert_agrees(&changed, &engine, &packets);
        let fresh = Engine::build(&changed).expect("fresh");
        for e in 0..changed.endpoints().len() as u32 {
            let (a, b) = (engine.set_of(EndpointKey::new(e)).expect("a"), fresh.set_of(EndpointKey::new(e)).expect("b"));
            prop_assert_eq!(&a.groups, &b.groups);
            for d in 0..2 {
                prop_assert_eq!(a.v4[d].fingerprint, b.v4[d].fingerprint);
                prop_assert_eq!(a.v6[d].fingerprint, b.v6[d].fingerprint);
            }
        }
        prop_assert_eq!(engine.stats().group_lists, fresh.stats().group_lists);
    }
}

// ---- streams of changes ----

/// One change of a stream: what a simulator does to a cloud.
#[derive(Clone, Debug)]
enum Change {
    /// A rule added to a group (by index).
    AddRule(usize, RuleSpec),
    /// A group's `n`th rule (modulo its count) removed.
    RemoveRule(usize, usize),
    /// An endpoint (by place, modulo the count) joins and leaves groups: its new groups.
    SetGroups(usize, Vec<usize>),
    /// A new endpoint: addresses (into V4 then V6) and groups.
    Attach(Vec<usize>, Vec<usize>),
    /// An endpoint removed (later endpoints' keys move down).
    Detach(usize),
}

fn change_strategy() -> impl Strategy<Value = Change> {
    prop_oneof![
        2 => (0usize..3, rule_spec()).prop_map(|(g, r)| Change::AddRule(g, r)),
        2 => (0usize..3, 0usize..8).prop_map(|(g, n)| Change::RemoveRule(g, n)),
        3 => (0usize..6, prop::collection::vec(0usize..3, 1..3)).prop_map(|(e, g)| Change::SetGroups(e, g)),
        2 => (
            prop::collection::vec(0..V4.len() + V6.len(), 1..3),
            prop::collection::vec(0usize..3, 1..3),
        )
            .prop_map(|(a, g)| Change::Attach(a, g)),
        1 => (0usize..6).prop_map(Change::Detach),
    ]
}

/// An endpoint as a stream keeps it: name, addresses, group ids in association order.
type Record = (String, Vec<IpAddr>, Vec<String>);

/// `base` (groups and rules, no endpoint) with `records` attached; the records the cloud
/// refuses (a repeated address, a provider limit) are dropped.
fn with_endpoints(base: &Cloud, records: &mut Vec<Record>) -> Cloud {
    let mut cloud = base.clone();
    records.retain(|(name, ips, groups)| cloud.attach(name, ips, groups).is_ok());
    cloud
}

/// What differs between two clouds with the same groups' keys, as [`Update`]s (the same
/// comparison `Live` makes).
fn updates(before: &Cloud, after: &Cloud) -> Vec<Update> {
    let mut out = Vec::new();
    let groups: std::collections::BTreeSet<GroupKey> =
        before.groups().chain(after.groups()).map(|g| g.key).collect();
    for g in groups {
        if before.group(g) != after.group(g) {
            out.push(Update::Group(g));
        }
    }
    for i in 0..before.endpoints().len().max(after.endpoints().len()) {
        if before.endpoints().get(i) != after.endpoints().get(i) {
            out.push(Update::Endpoint(EndpointKey::new(i as u32)));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// A random stream of rule additions and removals, memberships changed, endpoints
    /// attached and removed: after every step the refreshed engine answers as a fresh build
    /// and as the reference, with the same tables. In a quarter of the cases every group
    /// has 30 rules more, so that lists of two or three groups pass
    /// [`super::table::MAX_OVERLAY`] entries and a refresh builds their lanes flat.
    #[test]
    fn refresh_after_every_step_of_a_change_stream_equals_fresh_build_and_reference(
        spec in cloud_spec(),
        stream in prop::collection::vec(change_strategy(), 1..12),
        packets in prop::collection::vec(packet_strategy(), 1..24),
        pad in prop_oneof![3 => Just(0u16), 1 => Just(30u16)],
    ) {
        let start = build_cloud(&spec);
        let mut base = build_cloud(&CloudSpec { endpoints: Vec::new(), ..spec.clone() });
        let gcore = base.provider() == Provider::Gcore;
        for g in base.groups().map(|g| g.key).collect::<Vec<_>>() {
            // Allows and (where the provider has them) denies on the probed ports.
            let padding = (0..pad)
                .map(|i| {
                    let deny = !gcore && i % 3 == 0;
                    let action = if deny { Action::Deny } else { Action::Allow };
                    let mut r = rule(Direction::Ingress, action, 1 + (i % 5) as u8);
                    r.protocol = Some(TCP);
                    let (lo, hi) = PORTS[i as usize % PORTS.len()];
                    r.dst_ports = Ports::range(PortRange::new(lo, hi).expect("ports"));
                    r.remote = Remote::Cidr(net(if i % 2 == 0 { "10.0.0.0/8" } else { "0.0.0.0/0" }));
                    r
                })
                .collect();
            add_rules(&mut base, g, padding);
        }
        let mut records: Vec<Record> = start
            .endpoints()
            .iter()
            .map(|e| {
                let ids = e.groups.iter().map(|&g| start.group(g).expect("group").id.clone()).collect();
                (e.name.clone(), e.ips.clone(), ids)
            })
            .collect();
        let keys: Vec<GroupKey> = base.groups().map(|g| g.key).collect();
        let ags = [AddressGroupKey::new(1), AddressGroupKey::new(2)];
        let id_of = |base: &Cloud, g: usize| base.group(keys[g % keys.len()]).expect("group").id.clone();
        let mut cloud = with_endpoints(&base, &mut records);
        let mut engine = Engine::build(&cloud).expect("build");
        let mut next_name = records.len();
        for change in &stream {
            match change {
                Change::AddRule(g, r) => {
                    add_rules(&mut base, keys[g % keys.len()], vec![make_rule(r, &keys, ags)]);
                }
                Change::RemoveRule(g, n) => {
                    let g = keys[g % keys.len()];
                    let rules = &base.group(g).expect("group").rules;
                    if !rules.is_empty() {
                        let key = rules[n % rules.len()].key;
                        base.edit_with(|t| t.remove_rules(g, &[key]));
                    }
                }
                Change::SetGroups(e, groups) => {
                    if !records.is_empty() {
                        let at = e % records.len();
                        let mut ids: Vec<String> = Vec::new();
                        for &g in groups {
                            let id = id_of(&base, g);
                            if !ids.contains(&id) {
                                ids.push(id);
                            }
                        }
                        records[at].2 = ids;
                    }
                }
                Change::Attach(addrs, groups) => {
                    let mut ips: Vec<IpAddr> = addrs
                        .iter()
                        .map(|&a| ip(if a < V4.len() { V4[a] } else { V6[a - V4.len()] }))
                        .collect();
                    ips.dedup();
                    let mut ids: Vec<String> = Vec::new();
                    for &g in groups {
                        let id = id_of(&base, g);
                        if !ids.contains(&id) {
                            ids.push(id);
                        }
                    }
                    records.push((format!("ep{next_name}"), ips, ids));
                    next_name += 1;
                }
                Change::Detach(e) => {
                    if !records.is_empty() {
                        let at = e % records.len();
                        records.remove(at);
                    }
                }
            }
            let after = with_endpoints(&base, &mut records);
            // A clone taken before the step shares the tables that refreshes change in
            // place when the engine alone holds them: it must keep answering as before.
            let before = engine.clone();
            for update in updates(&cloud, &after) {
                engine.refresh(&after, update).expect("refresh");
            }
            assert_agrees(&cloud, &before, &packets);
            cloud = after;
            assert_agrees(&cloud, &engine, &packets);
            // Classifiers built for what refreshes left in overlays: the same answers.
            let mut compacted = engine.clone();
            compacted.compact(&cloud).expect("compact");
            assert_agrees(&cloud, &compacted, &packets);
            let fresh = Engine::build(&cloud).expect("fresh");
            for e in 0..cloud.endpoints().len() as u32 {
                let (a, b) = (
                    engine.set_of(EndpointKey::new(e)).expect("a"),
                    fresh.set_of(EndpointKey::new(e)).expect("b"),
                );
                prop_assert_eq!(&a.groups, &b.groups);
                for d in 0..2 {
                    prop_assert_eq!(a.v4[d].fingerprint, b.v4[d].fingerprint);
                    prop_assert_eq!(a.v6[d].fingerprint, b.v6[d].fingerprint);
                }
            }
            prop_assert_eq!(engine.stats().group_lists, fresh.stats().group_lists);
            prop_assert_eq!(engine.stats().endpoints, fresh.stats().endpoints);
        }
    }
}

// ---- rule changes spliced into the tables ----

/// The kind of a plain group of `provider` (ECS: basic, members not trusted).
fn plain_kind(provider: Provider) -> GroupKind {
    match provider {
        Provider::Ecs => GroupKind::EcsBasic {
            inner: InnerPolicy::Drop,
        },
        Provider::Ens => GroupKind::Ens,
        Provider::Huawei => GroupKind::Huawei,
        Provider::Gcore => GroupKind::Gcore,
    }
}

/// The engine's tables are those of a fresh build (by fingerprint) and it answers as the
/// reference.
fn assert_fresh_and_right(cloud: &Cloud, engine: &Engine, packets: &[Packet], what: &str) {
    let fresh = Engine::build(cloud).expect("fresh build");
    for e in 0..cloud.endpoints().len() as u32 {
        let (a, b) = (
            engine.set_of(EndpointKey::new(e)).expect("set"),
            fresh.set_of(EndpointKey::new(e)).expect("fresh set"),
        );
        for d in 0..2 {
            assert_eq!(
                a.v4[d].fingerprint, b.v4[d].fingerprint,
                "{what}: endpoint {e} v4 dir {d}"
            );
            assert_eq!(
                a.v6[d].fingerprint, b.v6[d].fingerprint,
                "{what}: endpoint {e} v6 dir {d}"
            );
        }
    }
    assert_agrees(cloud, engine, packets);
}

/// `group` with its rule `key` changed by `f` in place (same key, same place).
fn edit_rule(cloud: &mut Cloud, group: GroupKey, key: RuleKey, f: impl FnOnce(&mut Rule)) {
    cloud.edit_with(|t| {
        t.group_mut(group, |g| {
            if let Some(r) = g.rules.iter_mut().find(|r| r.key == key) {
                f(Arc::make_mut(r));
            }
        })
    });
}

fn tcp_rule(direction: Direction, action: Action, priority: u8, port: u16, remote: Remote) -> Rule {
    let mut r = rule(direction, action, priority);
    r.protocol = Some(TCP);
    r.dst_ports = Ports::range(PortRange::single(port));
    r.remote = remote;
    r
}

/// Three groups of `provider` (`a` admits `b`'s members, `c` admits `a`'s) and three
/// endpoints: `ab-1` in `a` and `b` (with an IPv6 address), `b-1` in `b`, `ca-1` in `c`
/// and `a`.
fn three_group_cloud(provider: Provider) -> (Cloud, [GroupKey; 3]) {
    let mut cloud = Cloud::new(provider, Options::default());
    let kind = plain_kind(provider);
    let [a, b, c] = [0; 3].map(|_| add_group(&mut cloud, kind));
    let any4 = Remote::Cidr(net("0.0.0.0/0"));
    add_rules(
        &mut cloud,
        a,
        vec![
            tcp_rule(Direction::Ingress, Action::Allow, 50, 22, Remote::Group(b)),
            tcp_rule(Direction::Ingress, Action::Deny, 50, 80, any4.clone()),
            tcp_rule(Direction::Egress, Action::Allow, 1, 443, any4.clone()),
        ],
    );
    add_rules(
        &mut cloud,
        b,
        vec![
            tcp_rule(
                Direction::Ingress,
                Action::Allow,
                1,
                80,
                Remote::Cidr(net("10.0.0.0/24")),
            ),
            tcp_rule(Direction::Ingress, Action::Allow, 100, 443, any4.clone()),
        ],
    );
    add_rules(
        &mut cloud,
        c,
        vec![tcp_rule(
            Direction::Ingress,
            Action::Allow,
            2,
            443,
            Remote::Group(a),
        )],
    );
    attach(&mut cloud, "ab-1", &["10.0.0.1", "2001:db8::1"], &[a, b]);
    attach(&mut cloud, "b-1", &["10.0.0.2"], &[b]);
    attach(&mut cloud, "ca-1", &["10.0.1.1"], &[c, a]);
    (cloud, [a, b, c])
}

/// An engine one change behind another (a `Live` spare) takes the tables of a group
/// change from it, sharing them, and then answers as a fresh build; it refuses when the
/// change reaches endpoints, or when the two number identities differently (here: the same
/// two membership moves taken in in the other order).
#[test]
fn an_engine_behind_adopts_group_changes_from_a_newer_one() {
    let packets = packets_between(&["10.0.0.1", "10.0.0.2", "10.0.1.1", "192.0.2.7", "2001:db8::1"]);
    for provider in Provider::ALL {
        let (mut cloud, [a, b, c]) = three_group_cloud(provider);
        let any4 = Remote::Cidr(net("0.0.0.0/0"));
        let mut newer = Engine::build(&cloud).expect("build");
        let mut behind = newer.clone();

        // A rule of `a` added: taken from the newer engine, the same tables.
        add_rules(
            &mut cloud,
            a,
            vec![tcp_rule(Direction::Ingress, Action::Allow, 1, 8080, any4.clone())],
        );
        newer.refresh(&cloud, Update::Group(a)).expect("refresh");
        assert!(
            behind.adopt(&newer, &[Update::Group(a)]),
            "{provider}: not adopted"
        );
        let set = |e: &Engine| std::ptr::from_ref(e.set_of(EndpointKey::new(0)).expect("set"));
        assert_eq!(set(&behind), set(&newer), "{provider}: the set is not shared");
        assert_fresh_and_right(&cloud, &behind, &packets, &format!("{provider}: adopted"));

        // An endpoint change is compiled, not taken.
        let id = |g: GroupKey, c: &Cloud| c.group(g).expect("group").id.clone();
        let ep = cloud.set_groups("b-1", &[id(c, &cloud)]).expect("set_groups");
        newer.refresh(&cloud, Update::Endpoint(ep)).expect("refresh");
        assert!(
            !behind.adopt(&newer, &[Update::Endpoint(ep)]),
            "{provider}: endpoint adopted"
        );
        behind.refresh(&cloud, Update::Endpoint(ep)).expect("refresh");

        // Two new group sets, numbered in one order by one engine and in the other by the
        // other: a group change is then compiled again, with the same answers.
        let moved = [
            ("ab-1", vec![id(b, &cloud), id(c, &cloud)]),
            ("ca-1", vec![id(a, &cloud), id(b, &cloud), id(c, &cloud)]),
        ];
        let keys: Vec<EndpointKey> = moved
            .iter()
            .map(|(name, groups)| cloud.set_groups(name, groups).expect("set_groups"))
            .collect();
        for &k in &keys {
            newer.refresh(&cloud, Update::Endpoint(k)).expect("refresh");
        }
        for &k in keys.iter().rev() {
            behind.refresh(&cloud, Update::Endpoint(k)).expect("refresh");
        }
        add_rules(
            &mut cloud,
            b,
            vec![tcp_rule(Direction::Ingress, Action::Deny, 1, 8443, any4.clone())],
        );
        newer.refresh(&cloud, Update::Group(b)).expect("refresh");
        assert!(
            !behind.adopt(&newer, &[Update::Group(b)]),
            "{provider}: adopted across numberings"
        );
        behind.refresh(&cloud, Update::Group(b)).expect("refresh");
        assert_fresh_and_right(&cloud, &behind, &packets, &format!("{provider}: compiled again"));
    }
}

/// Rules added, removed and edited one at a time, in every provider: each change is
/// spliced into the tables (the classifiers kept), and the tables are those of a fresh
/// build, answering as the reference. Changes that reach further than one rule's entries
/// (an ICMP type filter, a rule that matches everything, a group's kind, rules out of key
/// order) are compiled as before, with the same result.
#[test]
fn rule_changes_are_spliced_into_the_tables_for_every_provider() {
    let packets = packets_between(&["10.0.0.1", "10.0.0.2", "10.0.1.1", "192.0.2.7", "2001:db8::1"]);
    for provider in Provider::ALL {
        let (mut cloud, [a, b, c]) = three_group_cloud(provider);
        let any4 = Remote::Cidr(net("0.0.0.0/0"));
        let mut engine = Engine::build(&cloud).expect("build");
        let subs = |e: &Engine| Arc::as_ptr(&e.set_of(EndpointKey::new(0)).expect("set").v4[0].plain().subs);
        let built = subs(&engine);

        // Spliced: each step's group, and the change.
        let step =
            |cloud: &mut Cloud, engine: &mut Engine, g: GroupKey, what: &str, change: &dyn Fn(&mut Cloud)| {
                change(cloud);
                let mut spliced = engine.clone();
                assert!(
                    spliced.splice_rules(cloud, g, None),
                    "{provider}: {what} was not spliced"
                );
                assert_fresh_and_right(cloud, &spliced, &packets, &format!("{provider}: {what}"));
                engine.refresh(cloud, Update::Group(g)).expect("refresh");
                assert_fresh_and_right(cloud, engine, &packets, &format!("{provider}: {what} (refresh)"));
            };
        step(&mut cloud, &mut engine, b, "a deny first", &|c| {
            add_rules(
                c,
                b,
                vec![tcp_rule(
                    Direction::Ingress,
                    Action::Deny,
                    1,
                    80,
                    Remote::Cidr(net("10.0.0.2/32")),
                )],
            );
        });
        step(&mut cloud, &mut engine, a, "an allow last", &|c| {
            let mut r = rule(Direction::Ingress, Action::Allow, 100);
            r.protocol = Some(UDP);
            r.remote = Remote::Cidr(net("10.0.0.0/8"));
            add_rules(c, a, vec![r]);
        });
        step(&mut cloud, &mut engine, a, "a rule naming known members", &|c| {
            add_rules(
                c,
                a,
                vec![tcp_rule(
                    Direction::Ingress,
                    Action::Deny,
                    1,
                    443,
                    Remote::Group(b),
                )],
            );
        });
        step(&mut cloud, &mut engine, b, "a rule in the middle removed", &|c| {
            let key = c.group(b).expect("b").rules[0].key;
            c.edit_with(|t| t.remove_rules(b, &[key]));
        });
        step(&mut cloud, &mut engine, a, "a rule's priority edited", &|c| {
            let key = c.group(a).expect("a").rules[1].key;
            edit_rule(c, a, key, |r| r.priority = 1);
        });
        step(&mut cloud, &mut engine, a, "an IPv6 rule", &|c| {
            add_rules(
                c,
                a,
                vec![tcp_rule(
                    Direction::Ingress,
                    Action::Allow,
                    3,
                    8080,
                    Remote::Cidr(net("2001:db8::/32")),
                )],
            );
        });
        step(
            &mut cloud,
            &mut engine,
            a,
            "the rule naming members removed",
            &|c| {
                let key = c
                    .group(a)
                    .expect("a")
                    .rules
                    .iter()
                    .rev()
                    .find(|r| r.remote == Remote::Group(b) && r.action == Action::Deny)
                    .expect("rule")
                    .key;
                c.edit_with(|t| t.remove_rules(a, &[key]));
            },
        );
        step(
            &mut cloud,
            &mut engine,
            c,
            "a rule of a group that is second in its list",
            &|c2| {
                add_rules(
                    c2,
                    c,
                    vec![tcp_rule(Direction::Egress, Action::Deny, 1, 25, any4.clone())],
                );
            },
        );
        assert_eq!(subs(&engine), built, "{provider}: the classifiers were rebuilt");

        // Not spliced; compiled as before.
        let whole =
            |cloud: &mut Cloud, engine: &mut Engine, g: GroupKey, what: &str, change: &dyn Fn(&mut Cloud)| {
                change(cloud);
                assert!(
                    !engine.clone().splice_rules(cloud, g, None),
                    "{provider}: {what} was spliced"
                );
                engine.refresh(cloud, Update::Group(g)).expect("refresh");
                assert_fresh_and_right(cloud, engine, &packets, &format!("{provider}: {what}"));
            };
        whole(&mut cloud, &mut engine, b, "an ICMP type filter", &|c| {
            let mut r = rule(Direction::Ingress, Action::Allow, 5);
            r.protocol = Some(ICMP);
            r.icmp = IcmpMatch {
                icmp_type: Some(8),
                icmp_code: None,
            };
            add_rules(c, b, vec![r]);
        });
        whole(
            &mut cloud,
            &mut engine,
            b,
            "a rule that matches everything",
            &|c| {
                add_rules(c, b, vec![rule(Direction::Egress, Action::Allow, 1)]);
            },
        );
        whole(&mut cloud, &mut engine, a, "rules out of key order", &|c| {
            c.edit_with(|t| t.group_mut(a, |g| g.rules.reverse()));
        });
        whole(
            &mut cloud,
            &mut engine,
            c,
            "the last rule naming a group removed",
            &|c2| {
                let key = c2.group(c).expect("c").rules[0].key;
                c2.edit_with(|t| t.remove_rules(c, &[key]));
            },
        );
        if provider == Provider::Ecs {
            whole(&mut cloud, &mut engine, a, "the group's kind", &|c| {
                c.edit_with(|t| {
                    t.group_mut(a, |g| {
                        g.kind = GroupKind::EcsBasic {
                            inner: InnerPolicy::Accept,
                        }
                    })
                });
            });
        }
    }
}

/// A rule-change step of a stream: add a rule, remove the `n`th, or replace the `n`th in
/// place (same key).
#[derive(Clone, Debug)]
enum RuleChange {
    Add(usize, RuleSpec),
    Remove(usize, usize),
    Edit(usize, usize, RuleSpec),
}

/// Applies `change` to `cloud` (whose groups are `keys`); the group it changed.
fn apply_rule_change(cloud: &mut Cloud, keys: &[GroupKey], change: &RuleChange) -> GroupKey {
    let ags = [AddressGroupKey::new(1), AddressGroupKey::new(2)];
    match change {
        RuleChange::Add(g, r) => {
            let g = keys[g % keys.len()];
            add_rules(cloud, g, vec![make_rule(r, keys, ags)]);
            g
        }
        RuleChange::Remove(g, n) => {
            let g = keys[g % keys.len()];
            let rules = &cloud.group(g).expect("group").rules;
            if !rules.is_empty() {
                let key = rules[n % rules.len()].key;
                cloud.edit_with(|t| t.remove_rules(g, &[key]));
            }
            g
        }
        RuleChange::Edit(g, n, r) => {
            let g = keys[g % keys.len()];
            let rules = &cloud.group(g).expect("group").rules;
            if !rules.is_empty() {
                let key = rules[n % rules.len()].key;
                let new = make_rule(r, keys, ags);
                edit_rule(cloud, g, key, |old| {
                    *old = Rule {
                        key: old.key,
                        id: old.id.clone(),
                        ..new
                    }
                });
            }
            g
        }
    }
}

fn rule_change_strategy() -> impl Strategy<Value = RuleChange> {
    prop_oneof![
        3 => (0usize..3, rule_spec()).prop_map(|(g, r)| RuleChange::Add(g, r)),
        2 => (0usize..3, 0usize..8).prop_map(|(g, n)| RuleChange::Remove(g, n)),
        1 => (0usize..3, 0usize..8, rule_spec()).prop_map(|(g, n, r)| RuleChange::Edit(g, n, r)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// Streams of rule changes taken in by splicing where it applies (else by a refresh):
    /// after every step the tables are those of a fresh build and answer as the reference.
    #[test]
    fn spliced_rule_streams_equal_fresh_build_and_reference(
        spec in cloud_spec(),
        stream in prop::collection::vec(rule_change_strategy(), 1..16),
        packets in prop::collection::vec(packet_strategy(), 1..24),
    ) {
        let mut cloud = build_cloud(&spec);
        let mut engine = Engine::build(&cloud).expect("build");
        let keys: Vec<GroupKey> = cloud.groups().map(|g| g.key).collect();
        for change in &stream {
            let g = apply_rule_change(&mut cloud, &keys, change);
            if !engine.splice_rules(&cloud, g, None) {
                engine.refresh(&cloud, Update::Group(g)).expect("refresh");
            }
            assert_fresh_and_right(&cloud, &engine, &packets, &format!("{change:?}"));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// Classifier builds run apart ([`Engine::builds_at`]) and taken in after more changes, or
    /// never, under the larger overlays of an engine whose builds run apart: after every
    /// step the tables are those of a fresh build and answer as the reference.
    #[test]
    fn builds_taken_in_late_leave_the_answers(
        spec in cloud_spec(),
        stream in prop::collection::vec(rule_change_strategy(), 1..24),
        plan in prop::collection::vec((any::<bool>(), 0usize..4), 24),
        packets in prop::collection::vec(packet_strategy(), 1..24),
    ) {
        let mut cloud = build_cloud(&spec);
        let mut engine = Engine::build(&cloud).expect("build");
        engine.build_apart();
        let keys: Vec<GroupKey> = cloud.groups().map(|g| g.key).collect();
        let mut queue: std::collections::VecDeque<super::Build> = Default::default();
        for (i, change) in stream.iter().enumerate() {
            let g = apply_rule_change(&mut cloud, &keys, change);
            if !engine.splice_rules(&cloud, g, None) {
                engine.refresh(&cloud, Update::Group(g)).expect("refresh");
            }
            let (take, install) = plan[i % plan.len()];
            if take {
                // Every overlaid variant, not only those past `BUILD_AT`.
                queue.extend(engine.builds_at(g, 1));
            }
            for build in queue.drain(..install.min(queue.len())) {
                if let Some(built) = build.run() {
                    engine.install(&built);
                }
            }
            assert_fresh_and_right(&cloud, &engine, &packets, &format!("{i}: {change:?}"));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// Results of builds offered to an engine of another cloud (its groups under the same
    /// keys, other rules: another cloud, or the same one after other changes):
    /// [`Engine::install`] compares a result with the engine's own lists, so whether it
    /// takes one in or not, the tables are those of a fresh build and answer as the
    /// reference.
    #[test]
    fn builds_of_another_cloud_leave_the_answers(
        specs in (cloud_spec(), prop::option::of(cloud_spec())),
        streams in (
            prop::collection::vec(rule_change_strategy(), 1..24),
            prop::collection::vec(rule_change_strategy(), 1..24),
        ),
        packets in prop::collection::vec(packet_strategy(), 1..24),
    ) {
        let mut built = Vec::new();
        let mut engines = Vec::new();
        let mut split = 0;
        let second = specs.1.as_ref().unwrap_or(&specs.0);
        for (spec, stream) in [(&specs.0, &streams.0), (second, &streams.1)] {
            let mut cloud = build_cloud(spec);
            let mut engine = Engine::build(&cloud).expect("build");
            engine.build_apart();
            let keys: Vec<GroupKey> = cloud.groups().map(|g| g.key).collect();
            for change in stream {
                let g = apply_rule_change(&mut cloud, &keys, change);
                if !engine.splice_rules(&cloud, g, None) {
                    engine.refresh(&cloud, Update::Group(g)).expect("refresh");
                }
            }
            for &g in &keys {
                built.extend(engine.builds_at(g, 1).iter().filter_map(super::Build::run));
            }
            engines.push((cloud, engine));
            if engines.len() == 1 {
                split = built.len();
            }
        }
        // Each engine offered the other's results, then its own.
        for (i, (cloud, engine)) in engines.iter_mut().enumerate() {
            let (first, second) = built.split_at(split);
            let (theirs, own) = if i == 0 { (second, first) } else { (first, second) };
            for b in theirs.iter().chain(own) {
                engine.install(b);
                assert_fresh_and_right(cloud, engine, &packets, &format!("engine {i}"));
            }
        }
    }
}

proptest! {
    // Fewer cases: each builds engines of hundreds of rules (debug builds: seconds).
    #![proptest_config(ProptestConfig { cases: 32, failure_persistence: None, ..ProptestConfig::default() })]

    /// Rule changes anywhere in a group of hundreds of rules (the engine's snapshot of it in
    /// many chunks, [`super::snap`]), spliced with the changed rules named (as `Live` names
    /// them) or found by comparing: after every change the snapshot holds the group's
    /// rules; at the end the tables are those of a fresh build and answer as the reference.
    #[test]
    fn splices_in_large_groups_keep_snapshots_and_answers(
        size in 60u16..300,
        stream in prop::collection::vec((0u8..3, any::<prop::sample::Index>(), 0u16..400), 1..12),
        named in any::<bool>(),
    ) {
        let (mut cloud, [web, _, _], _) = topology(false);
        let from = |n: u16| Remote::Cidr(net(&format!("203.0.{}.{}/32", n / 200, n % 200)));
        let rules = (0..size)
            .map(|n| tcp_rule(Direction::Ingress, Action::Allow, (n % 3 + 1) as u8, 2000 + n, from(n)))
            .collect();
        add_rules(&mut cloud, web, rules);
        let mut engine = Engine::build(&cloud).expect("build");
        for (kind, at, port) in stream {
            let keys: Vec<RuleKey> = cloud.group(web).expect("web").rules.iter().map(|r| r.key).collect();
            let pick = at.index(keys.len());
            let changed = match kind {
                0 => {
                    let rule = tcp_rule(Direction::Ingress, Action::Deny, 2, 5000 + port, from(port));
                    add_rules(&mut cloud, web, vec![rule])
                }
                1 => {
                    cloud.edit_with(|t| t.remove_rules(web, &[keys[pick]]));
                    vec![keys[pick]]
                }
                _ => {
                    edit_rule(&mut cloud, web, keys[pick], |r| {
                        r.dst_ports = Ports::range(PortRange::single(6000 + port));
                    });
                    vec![keys[pick]]
                }
            };
            prop_assert!(engine.splice_rules(&cloud, web, named.then_some(&changed[..])));
            prop_assert!(engine.snap_is_of(&cloud, web), "snapshot after {kind} at {pick}");
        }
        assert_same_as_fresh(&cloud, &engine);
        let mut packets = topology_packets();
        for n in (0..size).step_by(13) {
            let src = format!("203.0.{}.{}", n / 200, n % 200).parse().expect("address");
            packets.push(Packet::tcp(src, "10.0.0.1".parse().expect("address"), 2000 + n));
        }
        assert_agrees(&cloud, &engine, &packets);
    }
}

/// A group filled one rule at a time in an engine whose builds run apart: no change
/// rebuilds a variant past [`super::table::MAX_OVERLAY`]; the builds asked for are taken in
/// (each variant then answers from new classifiers under a smaller overlay), with the
/// answers of a fresh build and of the reference.
#[test]
fn builds_apart_keep_rule_adds_splices() {
    let (mut cloud, [web, _, _], _) = topology(false);
    let mut engine = Engine::build(&cloud).expect("build");
    engine.build_apart();
    let ep = EndpointKey::new(0);
    let weight = |e: &Engine| e.set_of(ep).expect("set").v4[0].overlay_weights();
    let subs = |e: &Engine| e.set_of(ep).expect("set").v4[0].classifiers_held();
    let mut installed = 0;
    let mut asked = 0;
    let mut pending: Vec<super::Build> = Vec::new();
    for n in 0..3 * super::table::MAX_OVERLAY as u16 {
        let before = subs(&engine);
        let from = Remote::Cidr(net(&format!("203.0.{}.{}/32", n / 200, n % 200)));
        let rule = tcp_rule(Direction::Ingress, Action::Allow, 50, 2000 + n, from);
        add_rules(&mut cloud, web, vec![rule]);
        assert!(engine.splice_rules(&cloud, web, None), "rule {n} spliced");
        assert_eq!(
            subs(&engine),
            before,
            "rule {n}: no variant rebuilt by the change"
        );
        // Builds asked for now are taken in eight rules later, under an overlay of those.
        if n % 8 == 7 {
            for build in pending.drain(..) {
                let built = build.run().expect("built");
                let before = weight(&engine);
                if engine.install(&built) {
                    installed += 1;
                    assert!(
                        weight(&engine) < before,
                        "rule {n}: a smaller overlay once taken in"
                    );
                }
            }
            pending = engine.builds(web);
            asked += pending.len();
        }
    }
    assert!(
        asked > 0 && installed > 0,
        "asked for {asked} builds, took in {installed}"
    );
    assert_same_as_fresh(&cloud, &engine);
    let mut packets = packets_between(&["203.0.0.5", "203.0.0.150", "10.0.0.1", "10.0.1.1"]);
    for n in (0..3 * super::table::MAX_OVERLAY as u16).step_by(7) {
        let src = format!("203.0.{}.{}", n / 200, n % 200).parse().expect("address");
        for port in [2000 + n, 2001 + n] {
            packets.push(Packet::tcp(src, "10.0.0.1".parse().expect("address"), port));
        }
    }
    assert_agrees(&cloud, &engine, &packets);
}

/// A member joining with a new combination of groups: the new list's small tables answer
/// from overlays (no classifier built on the refresh), the same as a fresh build; after
/// `compact` every table has its classifiers again, with the same answers.
#[test]
fn new_combinations_answer_from_overlays_until_compacted() {
    let (cloud, [web, db, ops], _) = topology(false);
    let mut engine = Engine::build(&cloud).expect("build");
    let overlaid = |e: &Engine| {
        e.sets
            .iter()
            .flatten()
            .filter(|s| s.v4.iter().any(|t| t.overlaid()) || s.v6.iter().any(|t| t.overlaid()))
            .count()
    };
    assert_eq!(overlaid(&engine), 0, "a build leaves no overlay");
    let mut changed = cloud.clone();
    let key = attach(&mut changed, "mixed", &["10.0.3.1"], &[db, web, ops]);
    engine.refresh(&changed, Update::Endpoint(key)).expect("refresh");
    let set = engine.set_of(key).expect("set");
    assert!(set.v4[0].overlaid(), "the new list's table was built");
    assert_same_as_fresh(&changed, &engine);
    assert_agrees(
        &changed,
        &engine,
        &packets_between(&["10.0.3.1", "10.0.0.1", "10.0.1.1", "198.51.100.7"]),
    );
    assert_eq!(
        engine.compact(&changed).expect("compact"),
        overlaid(&engine).max(1)
    );
    assert_eq!(overlaid(&engine), 0, "compact leaves no overlay");
    assert_same_as_fresh(&changed, &engine);
    assert_agrees(
        &changed,
        &engine,
        &packets_between(&["10.0.3.1", "10.0.0.1", "10.0.1.1", "198.51.100.7"]),
    );
    // Rules spliced in since: compacted too.
    let mut more = changed.clone();
    add_rules(
        &mut more,
        db,
        vec![tcp_rule(
            Direction::Ingress,
            Action::Deny,
            1,
            5432,
            Remote::Cidr(net("10.0.0.2/32")),
        )],
    );
    engine.refresh(&more, Update::Group(db)).expect("refresh");
    assert!(overlaid(&engine) > 0);
    assert!(engine.compact(&more).expect("compact") > 0);
    assert_eq!(overlaid(&engine), 0);
    assert_same_as_fresh(&more, &engine);
}

/// Attaches `bc` (10.0.1.1, in `b` and `c`: a new identity) and refreshes: `ab`'s IPv4
/// ingress table (endpoint key 0) gains one variant whose classifiers are an existing
/// variant's (derived, not built). Returns its index.
fn bc_joins_with_a_derived_variant(
    cloud: &mut Cloud,
    engine: &mut Engine,
    [b, c]: [GroupKey; 2],
    what: &str,
) -> usize {
    let ab = EndpointKey::new(0);
    let before = engine.set_of(ab).expect("set").v4[0].variant_list().len();
    let key = attach(cloud, "bc", &["10.0.1.1"], &[b, c]);
    engine.refresh(cloud, Update::Endpoint(key)).expect("refresh");
    let table = &engine.set_of(ab).expect("set").v4[0];
    assert_eq!(table.variant_list().len(), before + 1, "{what}one variant more");
    let last = table.variant_list().last().expect("variant");
    assert!(
        table.variant_list()[..before]
            .iter()
            .any(|v| Arc::ptr_eq(&v.subs, &last.subs)),
        "{what}the new variant was built rather than derived"
    );
    before
}

/// A cloud of three ECS groups whose members may talk (`InnerAccessPolicy=Accept`), for
/// the variant tests.
fn accepting_groups() -> (Cloud, [GroupKey; 3]) {
    let mut cloud = Cloud::new(Provider::Ecs, Options::default());
    let accept = GroupKind::EcsBasic {
        inner: InnerPolicy::Accept,
    };
    let groups = [0; 3].map(|_| add_group(&mut cloud, accept));
    (cloud, groups)
}

/// `n` ingress TCP allows from 10.0.0.0/8 to ports 1000.., priorities cycling through
/// `1..=every`.
fn numbered_allows(n: u16, every: u16) -> Vec<Rule> {
    (0..n)
        .map(|i| {
            tcp_rule(
                Direction::Ingress,
                Action::Allow,
                1 + (i % every) as u8,
                1000 + i,
                Remote::Cidr(net("10.0.0.0/8")),
            )
        })
        .collect()
}

/// [`numbered_allows`]`(n, 5)`, then an allow of TCP 22 from `from`'s members.
fn allows_and_ssh_from(n: u16, from: GroupKey) -> Vec<Rule> {
    let mut rules = numbered_allows(n, 5);
    rules.push(tcp_rule(
        Direction::Ingress,
        Action::Allow,
        1,
        22,
        Remote::Group(from),
    ));
    rules
}

/// Rules for groups `a`, `b`, `c` of the variant tests: `rules_a` and `rules_b`, and `c`
/// denying TCP 22 from `a`'s members; endpoints `ab` (10.0.0.1, key 0, in `a` and `b`) and
/// `a` (10.0.0.2, in `a`).
fn trusting_groups(cloud: &mut Cloud, [a, b, c]: [GroupKey; 3], rules_a: Vec<Rule>, rules_b: Vec<Rule>) {
    add_rules(cloud, a, rules_a);
    add_rules(cloud, b, rules_b);
    let deny = tcp_rule(Direction::Ingress, Action::Deny, 1, 22, Remote::Group(a));
    add_rules(cloud, c, vec![deny]);
    attach(cloud, "ab", &["10.0.0.1"], &[a, b]);
    attach(cloud, "a", &["10.0.0.2"], &[a]);
}

/// ECS groups whose members may talk (`InnerAccessPolicy=Accept`): a member joining with
/// a new combination of groups gives the tables that trust those groups a new variant,
/// derived from an existing one (its classifiers kept, the new intra-group entries in an
/// overlay), answering as a fresh build and the reference.
#[test]
fn a_new_combination_derives_variants_from_existing_classifiers() {
    let (mut cloud, [a, b, c]) = accepting_groups();
    let rules = numbered_allows(40, 7);
    trusting_groups(&mut cloud, [a, b, c], rules.clone(), rules);
    let mut engine = Engine::build(&cloud).expect("build");
    let mut changed = cloud.clone();
    bc_joins_with_a_derived_variant(&mut changed, &mut engine, [b, c], "the identity {b, c}: ");
    assert_fresh_and_right(
        &changed,
        &engine,
        &packets_between(&["10.0.0.1", "10.0.0.2", "10.0.1.1", "10.9.9.9"]),
        "derived",
    );
    engine.compact(&changed).expect("compact");
    assert_fresh_and_right(
        &changed,
        &engine,
        &packets_between(&["10.0.0.1", "10.0.0.2", "10.0.1.1", "10.9.9.9"]),
        "compacted",
    );
}

/// An ECS group's intra-group entry decides every packet of its members ahead of the rules,
/// so an identity that holds such a group takes the variant of that group alone (the first
/// such group of the list): a new combination that holds one adds no variant to the
/// tables that have that group's, and answers as a fresh build and the reference.
#[test]
fn a_new_combination_takes_the_variant_of_its_first_intra_group() {
    let (mut cloud, [a, b, c]) = accepting_groups();
    let rules = numbered_allows(40, 7);
    trusting_groups(&mut cloud, [a, b, c], rules.clone(), rules);
    // `c`'s list: `c`'s intra-group entry, then its deny of `a`'s members.
    let only_c = attach(&mut cloud, "c", &["10.0.0.3"], &[c]);
    let mut engine = Engine::build(&cloud).expect("build");
    let variants = |e: &Engine| e.set_of(only_c).expect("set").v4[0].variant_list().len();
    let before = variants(&engine);
    // `{a, c}` and `{b, c}`: new identities, which `c`'s entry decides at `c` (the first
    // would otherwise need a variant of its own there: `a`'s members are denied).
    let mut changed = cloud.clone();
    for (name, addr, groups) in [("ac", "10.0.1.1", [a, c]), ("bc", "10.0.1.2", [b, c])] {
        let key = attach(&mut changed, name, &[addr], &groups);
        engine.refresh(&changed, Update::Endpoint(key)).expect("refresh");
    }
    assert_eq!(variants(&engine), before, "no variant for the new combinations");
    assert_fresh_and_right(
        &changed,
        &engine,
        &packets_between(&[
            "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.1.1", "10.0.1.2", "10.9.9.9",
        ]),
        "new combinations",
    );
}

/// Two lists of the same accepting ECS groups in other orders: their tables reference the
/// same groups but are led by the groups' intra-group entries in other orders, so a table
/// built after the other's must not take its variants (`table::Twin`): an identity of
/// both groups is decided at each endpoint by the entry of the group its list names first,
/// in a build and in a refresh that makes the second list.
#[test]
fn lists_of_the_same_groups_in_other_orders_keep_their_own_heads() {
    let mut cloud = Cloud::new(Provider::Ecs, Options::default());
    let accept = GroupKind::EcsBasic {
        inner: InnerPolicy::Accept,
    };
    let [a, b] = [0; 2].map(|_| add_group(&mut cloud, accept));
    let x = attach(&mut cloud, "x", &["10.0.0.1"], &[a, b]);
    let before = cloud.clone();
    let y = attach(&mut cloud, "y", &["10.0.0.2"], &[b, a]);
    let mut refreshed = Engine::build(&before).expect("build");
    refreshed.refresh(&cloud, Update::Endpoint(y)).expect("refresh");
    let built = Engine::build(&cloud).expect("build");
    let to_y = Packet::tcp(ip("10.0.0.1"), ip("10.0.0.2"), 22);
    let to_x = Packet::tcp(ip("10.0.0.2"), ip("10.0.0.1"), 22);
    for (engine, how) in [(&built, "built"), (&refreshed, "refreshed")] {
        let at_y = engine.evaluate(y, Direction::Ingress, &to_y);
        assert_eq!(at_y.reason, Reason::IntraGroup { group: b }, "{how}: {at_y:?}");
        let at_x = engine.evaluate(x, Direction::Ingress, &to_x);
        assert_eq!(at_x.reason, Reason::IntraGroup { group: a }, "{how}: {at_x:?}");
        assert_fresh_and_right(
            &cloud,
            engine,
            &packets_between(&["10.0.0.1", "10.0.0.2", "10.9.9.9"]),
            how,
        );
    }
}

/// An ECS group's intra-group policy turned off while a rule still names its members: the
/// table's referenced groups stay the same, but the identities the policy decided must go
/// back to the variant of all their referenced groups (here `c`'s deny comes first).
#[test]
fn an_intra_group_policy_turned_off_under_a_rule_naming_the_group() {
    let mut cloud = Cloud::new(Provider::Ecs, Options::default());
    let accept = GroupKind::EcsBasic {
        inner: InnerPolicy::Accept,
    };
    let [a, b, c] = [0; 3].map(|_| add_group(&mut cloud, accept));
    let from_a = tcp_rule(Direction::Ingress, Action::Allow, 1, 22, Remote::Group(a));
    add_rules(&mut cloud, a, vec![from_a]);
    let deny_c = tcp_rule(Direction::Ingress, Action::Deny, 1, 22, Remote::Group(c));
    add_rules(&mut cloud, b, vec![deny_c]);
    let x = attach(&mut cloud, "x", &["10.0.0.1"], &[a, b]);
    attach(&mut cloud, "y", &["10.0.0.2"], &[a, c]);
    let mut engine = Engine::build(&cloud).expect("build");
    let ssh = Packet::tcp(ip("10.0.0.2"), ip("10.0.0.1"), 22);
    let d = engine.evaluate(x, Direction::Ingress, &ssh);
    assert_eq!(d.reason, Reason::IntraGroup { group: a });
    cloud.edit_with(|t| {
        t.group_mut(a, |g| {
            g.kind = GroupKind::EcsBasic {
                inner: InnerPolicy::Drop,
            }
        })
    });
    engine.refresh(&cloud, Update::Group(a)).expect("refresh");
    let d = engine.evaluate(x, Direction::Ingress, &ssh);
    assert_eq!(d.verdict, Verdict::Deny, "{d:?}");
    assert_fresh_and_right(
        &cloud,
        &engine,
        &packets_between(&["10.0.0.1", "10.0.0.2", "10.9.9.9"]),
        "policy off",
    );
}

/// A new list's tables of few entries answer from overlays (no classifiers): every
/// variant but the first holds the list up to its last entry for its groups' members and
/// shares the rest of the first variant's list, answering as a fresh build and the
/// reference (packets past those entries, to every rule's port), before and after
/// `compact`.
#[test]
fn a_new_lists_small_tables_share_the_first_variants_list() {
    let mut cloud = Cloud::new(Provider::Ecs, Options::default());
    // Enterprise groups: no intra-group entries, which would answer every member's packet
    // ahead of the shared part.
    let [a, b, c] = [0; 3].map(|_| add_group(&mut cloud, GroupKind::EcsEnterprise));
    add_rules(&mut cloud, a, allows_and_ssh_from(12, b));
    add_rules(
        &mut cloud,
        c,
        vec![tcp_rule(
            Direction::Ingress,
            Action::Deny,
            1,
            22,
            Remote::Group(a),
        )],
    );
    attach(&mut cloud, "ab", &["10.0.0.1"], &[a, b]);
    attach(&mut cloud, "a", &["10.0.0.2"], &[a]);
    let mut engine = Engine::build(&cloud).expect("build");
    let mut changed = cloud.clone();
    let key = attach(&mut changed, "abc", &["10.0.2.1"], &[a, b, c]);
    engine.refresh(&changed, Update::Endpoint(key)).expect("refresh");
    let table = &engine.set_of(key).expect("set").v4[0];
    assert!(table.overlaid(), "the new list's table was built");
    // Variants: no group, {a, b} (`ab`, `abc`), {a}.
    assert_eq!(table.variant_list().len(), 3);
    assert_eq!(
        table.lent_list_users(),
        3,
        "the first lends its list, the others share its end"
    );
    let addrs = ["10.0.0.1", "10.0.0.2", "10.0.2.1", "10.9.9.9"];
    let mut packets = packets_between(&addrs);
    for (s, d) in addrs.iter().flat_map(|s| addrs.iter().map(move |d| (s, d))) {
        packets.extend((999..1013).map(|port| Packet {
            dst_port: port,
            ..Packet::new(ip(s), ip(d), TCP)
        }));
    }
    assert_fresh_and_right(&changed, &engine, &packets, "shared");
    engine.compact(&changed).expect("compact");
    assert_fresh_and_right(&changed, &engine, &packets, "compacted");
}

/// A group's change refreshed while the cloud also gained an endpoint whose identity is new
/// (the endpoint not named by any update yet): the tables the change recompiles must
/// learn that identity as every other table does. `db` references `web`; `new` joins
/// `web` with `ops` (a new identity), then `db` gains a rule: both taken in by one
/// `Update::Group(db)`, for a change that is patched under overlays (one rule), an address
/// group's change, and one that rebuilds (many rules).
#[test]
fn a_group_refresh_teaches_the_recompiled_tables_the_identities_of_new_endpoints() {
    let packets = packets_between(&["10.0.0.1", "10.0.1.1", "10.0.2.1", "10.0.3.1", "198.51.100.7"]);
    for case in 0..3 {
        let (mut cloud, [web, db, ops], ag) = topology(false);
        let mut engine = Engine::build(&cloud).expect("build");
        attach(&mut cloud, "new", &["10.0.3.1"], &[ops, web]);
        let update = match case {
            0 => {
                add_rules(
                    &mut cloud,
                    db,
                    vec![tcp_rule(Direction::Ingress, Action::Deny, 3, 22, Remote::Any)],
                );
                Update::Group(db)
            }
            1 => {
                let mut changed = cloud.address_group(ag).expect("address group").clone();
                changed.entries.push(AddressEntry::Net(net("10.0.2.0/24")));
                cloud.edit_with(|t| t.insert_address_group(changed));
                Update::AddressGroup(ag)
            }
            _ => {
                let many: Vec<Rule> = (0..=super::table::MAX_OVERLAY as u16)
                    .map(|i| tcp_rule(Direction::Ingress, Action::Deny, 3, 2000 + i, Remote::Any))
                    .collect();
                add_rules(&mut cloud, db, many);
                Update::Group(db)
            }
        };
        engine.refresh(&cloud, update).expect("refresh");
        // From the new member to db's port 5432: allowed by db's rule naming web.
        let from_new = Packet::tcp(ip("10.0.3.1"), ip("10.0.1.1"), 5432);
        assert!(
            engine
                .evaluate(EndpointKey::new(2), Direction::Ingress, &from_new)
                .is_allow(),
            "case {case}: the recompiled table does not know the new identity"
        );
        assert_fresh_and_right(&cloud, &engine, &packets, &format!("case {case}"));
    }
}

/// As [`a_new_combination_derives_variants_from_existing_classifiers`], with the variant
/// derived from already under an overlay (a rule spliced in since the build): the new
/// variant compares the lists (the general way) rather than reading the tags alone, and
/// answers as a fresh build and the reference, before and after `compact`.
#[test]
fn a_new_combination_derives_from_a_variant_under_an_overlay() {
    let (mut cloud, [a, b, c]) = accepting_groups();
    let rules = numbered_allows(30, 5);
    add_rules(&mut cloud, a, rules.clone());
    add_rules(&mut cloud, b, rules);
    attach(&mut cloud, "ab", &["10.0.0.1"], &[a, b]);
    attach(&mut cloud, "a", &["10.0.0.2"], &[a]);
    let mut engine = Engine::build(&cloud).expect("build");
    let ab = EndpointKey::new(0);
    add_rules(
        &mut cloud,
        b,
        vec![tcp_rule(
            Direction::Ingress,
            Action::Deny,
            2,
            1003,
            Remote::Cidr(net("10.0.1.0/24")),
        )],
    );
    engine.refresh(&cloud, Update::Group(b)).expect("refresh");
    assert!(
        engine.set_of(ab).expect("set").v4[0].overlaid(),
        "the rule was spliced under an overlay"
    );
    let packets = packets_between(&["10.0.0.1", "10.0.0.2", "10.0.1.1", "10.9.9.9"]);
    assert_fresh_and_right(&cloud, &engine, &packets, "spliced");
    bc_joins_with_a_derived_variant(&mut cloud, &mut engine, [b, c], "");
    assert_fresh_and_right(&cloud, &engine, &packets, "derived under an overlay");
    engine.compact(&cloud).expect("compact");
    assert_fresh_and_right(&cloud, &engine, &packets, "compacted");
}

/// As [`a_new_combination_derives_variants_from_existing_classifiers`], after a rule was
/// added and removed again: the variants then answer from their classifiers alone but
/// were built from lists the table no longer holds (the splices replaced them). The new
/// identity's variant is still derived in place (the variant derived from taken as built
/// from the current lists), sharing the classifiers, and answers as a fresh build and the
/// reference. With the rule kept (spliced under overlays) the variants keep their
/// overlays: packets to the rule's port tell.
#[test]
fn a_new_combination_after_rules_came_and_went_derives_in_place() {
    let addrs = ["10.0.0.1", "10.0.0.2", "10.0.1.1", "10.9.9.9"];
    let mut packets = packets_between(&addrs);
    for s in addrs {
        for d in addrs {
            packets.extend([1003, 1005, 1017].map(|port| Packet::tcp(ip(s), ip(d), port)));
        }
    }
    for keep in [false, true] {
        let (mut cloud, [a, b, c]) = accepting_groups();
        let rules = numbered_allows(40, 7);
        trusting_groups(&mut cloud, [a, b, c], rules.clone(), rules);
        let mut engine = Engine::build(&cloud).expect("build");
        let ab = EndpointKey::new(0);
        let deny = |port| {
            tcp_rule(
                Direction::Ingress,
                Action::Deny,
                2,
                port,
                Remote::Cidr(net("10.9.9.0/24")),
            )
        };
        let key = add_rules(&mut cloud, b, vec![deny(1003)])[0];
        engine.refresh(&cloud, Update::Group(b)).expect("add");
        if !keep {
            cloud.edit_with(|t| t.remove_rules(b, &[key]));
            engine.refresh(&cloud, Update::Group(b)).expect("remove");
        }
        let table = &engine.set_of(ab).expect("set").v4[0];
        assert_eq!(table.overlaid(), keep, "keep {keep}: the overlays");
        assert!(
            (0..table.variant_list().len()).all(|v| !table.built_from_current(v)),
            "keep {keep}: the splices replaced the lists the variants were built from"
        );
        assert_fresh_and_right(&cloud, &engine, &packets, &format!("keep {keep}: spliced"));
        let new = bc_joins_with_a_derived_variant(&mut cloud, &mut engine, [b, c], &format!("keep {keep}: "));
        if !keep {
            let table = &engine.set_of(ab).expect("set").v4[0];
            assert!(
                table.built_from_current(new),
                "the new variant was derived by comparing copies of the lists, not in place"
            );
        }
        assert_fresh_and_right(&cloud, &engine, &packets, &format!("keep {keep}: derived"));
        engine.compact(&cloud).expect("compact");
        assert_fresh_and_right(&cloud, &engine, &packets, &format!("keep {keep}: compacted"));
    }
}

/// A new list whose tables are another list's (its other group adds no entry) shares them;
/// the new identity must then be pointed at its variant in the shared tables as seen from
/// both lists (the copy teaching makes of a table two sets hold goes to both).
#[test]
fn a_new_list_sharing_tables_points_the_new_identity_in_them() {
    let mut cloud = Cloud::new(Provider::Ecs, Options::default());
    let accept = GroupKind::EcsBasic {
        inner: InnerPolicy::Accept,
    };
    let a = add_group(&mut cloud, accept);
    let [e, f] = [0; 2].map(|_| add_group(&mut cloud, plain_kind(Provider::Ecs)));
    add_rules(
        &mut cloud,
        a,
        vec![tcp_rule(
            Direction::Ingress,
            Action::Allow,
            1,
            80,
            Remote::Cidr(net("10.9.0.0/16")),
        )],
    );
    attach(&mut cloud, "ae", &["10.0.0.1"], &[a, e]);
    let mut engine = Engine::build(&cloud).expect("build");
    let key = attach(&mut cloud, "af", &["10.0.0.2"], &[a, f]);
    engine.refresh(&cloud, Update::Endpoint(key)).expect("refresh");
    let (ae, af) = (
        engine.set_of(EndpointKey::new(0)).expect("ae"),
        engine.set_of(key).expect("af"),
    );
    assert!(
        Arc::ptr_eq(&ae.v4[0], &af.v4[0]),
        "the lists' ingress tables are one table"
    );
    let from_af = Packet::tcp(ip("10.0.0.2"), ip("10.0.0.2"), 22);
    assert!(
        engine.evaluate(key, Direction::Ingress, &from_af).is_allow(),
        "a member of `a` is let in by `a`'s intra-group entry"
    );
    let packets = packets_between(&["10.0.0.1", "10.0.0.2", "10.9.9.9"]);
    assert_fresh_and_right(&cloud, &engine, &packets, "shared tables");
}

/// A fingerprint only proposes a table to share: two tables of different lists filed
/// under one fingerprint (a collision of the fast entry hash, forced here) are not taken
/// for each other.
#[test]
fn a_table_of_the_same_fingerprint_but_other_lists_is_not_shared() {
    let mut cloud = Cloud::new(Provider::Ecs, Options::default());
    let plain = plain_kind(Provider::Ecs);
    let [a, b] = [0; 2].map(|_| add_group(&mut cloud, plain));
    let any = Remote::Cidr(net("10.0.0.0/8"));
    add_rules(
        &mut cloud,
        a,
        vec![tcp_rule(Direction::Ingress, Action::Allow, 1, 22, any.clone())],
    );
    add_rules(
        &mut cloud,
        b,
        vec![tcp_rule(Direction::Ingress, Action::Deny, 1, 22, any)],
    );
    let ctx = super::lower::Ctx::new(&cloud);
    let identities = super::identity::Identities::default();
    let limits = BuildLimits::default();
    let mut cache = super::ByPrint::<u32>::default();
    let name = String::new;
    let build = |cache: &mut super::ByPrint<u32>, g: GroupKey| {
        super::table::<u32>(
            &ctx,
            &identities,
            cache,
            limits,
            &[g],
            Direction::Ingress,
            None,
            &name,
            false,
            &mut None,
            &mut None,
            &[],
            &|_, _| None,
        )
        .expect("table")
    };
    let ta = build(&mut cache, a);
    let lowered_b =
        super::lower::lower::<u32>(&ctx, &[b], Direction::Ingress, limits.max_entries).expect("lower");
    let fp_b = super::table::fingerprint(&lowered_b);
    assert_ne!(ta.fingerprint, fp_b);
    cache.clear();
    cache.insert(fp_b, Arc::clone(&ta));
    let tb = build(&mut cache, b);
    assert!(
        !Arc::ptr_eq(&ta, &tb),
        "a's table was taken for b's by fingerprint alone"
    );
    assert_eq!(*tb.lowered(), lowered_b);
    // The same lists are shared.
    let again = build(&mut cache, b);
    assert!(Arc::ptr_eq(&tb, &again));
}

/// A build lets a variant that differs from the first by its group's intra-group entry
/// answer from the first's classifiers ([`super::table::MAX_SHARED`]); a rule then added
/// and removed reaches it through the overlay of the variant as built alone, without
/// building a classifier, and the answers stay a fresh build's and the reference's.
#[test]
fn a_shared_variant_takes_rule_changes_without_a_build() {
    let (mut cloud, [a, b, c]) = accepting_groups();
    // Lists longer than an overlay, and a rule added at their end: the shared overlay
    // (at the front) and the change would be one overlay of them all.
    let rules = numbered_allows(2 * super::table::MAX_OVERLAY as u16, 7);
    trusting_groups(&mut cloud, [a, b, c], rules.clone(), rules);
    attach(&mut cloud, "bc", &["10.0.1.1"], &[b, c]);
    let mut engine = Engine::build(&cloud).expect("build");
    let ab = EndpointKey::new(0);
    let table = |e: &Engine| Arc::clone(&e.set_of(ab).expect("set").v4[0]);
    let built = table(&engine);
    let list = built.variant_list();
    assert!(list.len() >= 2, "ab's table has a variant per identity");
    assert!(
        list[1..].iter().any(|v| Arc::ptr_eq(&v.subs, &list[0].subs)),
        "a variant shares the first's classifiers"
    );
    assert!(!built.overlaid(), "a build leaves nothing to compact");
    let held = built.classifiers_held();
    let packets = packets_between(&["10.0.0.1", "10.0.0.2", "10.0.1.1", "10.9.9.9"]);
    let deny = tcp_rule(
        Direction::Ingress,
        Action::Deny,
        100,
        1003,
        Remote::Cidr(net("10.0.0.0/8")),
    );
    let key = add_rules(&mut cloud, b, vec![deny])[0];
    engine.refresh(&cloud, Update::Group(b)).expect("add");
    let spliced = table(&engine);
    assert!(spliced.overlaid(), "the rule was spliced under overlays");
    for v in spliced.variant_list() {
        assert!(
            held.contains(&Arc::as_ptr(&v.subs)),
            "a variant's classifiers were built for one rule"
        );
    }
    assert_fresh_and_right(&cloud, &engine, &packets, "added");
    cloud.edit_with(|t| t.remove_rules(b, &[key]));
    engine.refresh(&cloud, Update::Group(b)).expect("remove");
    assert_fresh_and_right(&cloud, &engine, &packets, "removed");
    engine.compact(&cloud).expect("compact");
    assert!(!table(&engine).overlaid(), "compact leaves nothing to compact");
    assert_eq!(
        engine.compact(&cloud).expect("compact"),
        0,
        "nothing left to compact"
    );
    assert_fresh_and_right(&cloud, &engine, &packets, "compacted");
}
/// A change past the overlays' limit rebuilds one variant of a table: the others (ECS
/// groups whose members may talk, each identity's intra-group entries its own) are
/// derived from it under an overlay of what their groups add. Both ways a change reaches
/// a table: many rules at once (the lists compared) and one rule at a time (spliced); the
/// answers are a fresh build's and the reference's, before and after `compact`.
#[test]
fn a_change_past_the_overlay_builds_one_variant_and_derives_the_others() {
    let (mut cloud, [a, b, c]) = accepting_groups();
    let rules = |from: u16, n: u16| -> Vec<Rule> {
        (from..from + n)
            .map(|i| {
                tcp_rule(
                    Direction::Ingress,
                    if i % 3 == 0 { Action::Deny } else { Action::Allow },
                    1 + (i % 5) as u8,
                    1000 + i,
                    Remote::Cidr(net(if i % 2 == 0 { "10.0.0.0/8" } else { "10.0.1.0/24" })),
                )
            })
            .collect()
    };
    trusting_groups(&mut cloud, [a, b, c], rules(0, 20), rules(20, 20));
    attach(&mut cloud, "bc", &["10.0.1.1"], &[b, c]);
    let mut engine = Engine::build(&cloud).expect("build");
    let ab = EndpointKey::new(0);
    let packets = packets_between(&["10.0.0.1", "10.0.0.2", "10.0.1.1", "10.0.1.9", "10.9.9.9"]);
    let shared = |e: &Engine| {
        let table = &e.set_of(ab).expect("set").v4[0];
        let list = table.variant_list();
        assert!(list.len() >= 3, "ab's table has a variant per identity");
        list[1..].iter().all(|v| Arc::ptr_eq(&v.subs, &list[0].subs))
    };
    // A build lets variants that differ by a few entries answer from the first's
    // classifiers ([`super::table::MAX_SHARED`]).
    assert!(shared(&engine), "a build shares the first variant's classifiers");
    // Many rules at once.
    let added = add_rules(&mut cloud, a, rules(40, super::table::MAX_OVERLAY as u16 + 1));
    engine.refresh(&cloud, Update::Group(a)).expect("refresh");
    assert!(shared(&engine), "every variant was built");
    assert_fresh_and_right(&cloud, &engine, &packets, "derived");
    // One rule at a time, until the overlays pass their limit again.
    for (n, key) in added.iter().enumerate() {
        cloud.edit_with(|t| t.remove_rules(a, &[*key]));
        engine.refresh(&cloud, Update::Group(a)).expect("refresh");
        if n % 16 == 0 {
            assert_fresh_and_right(&cloud, &engine, &packets, &format!("removed {n}"));
        }
    }
    assert_fresh_and_right(&cloud, &engine, &packets, "spliced");
    assert!(shared(&engine), "past the limit, every variant was built");
    engine.compact(&cloud).expect("compact");
    assert!(
        !engine.set_of(ab).expect("set").v4[0].overlaid(),
        "compact leaves no overlay"
    );
    assert_fresh_and_right(&cloud, &engine, &packets, "compacted");
}

/// A new identity whose variants every table has already (its groups' projections are
/// those of existing identities) is taught without building: a table the engine alone
/// holds is changed in place, a table held twice (two group lists share it, or a clone of
/// the engine holds it) is copied once for every list that has it, and the clone keeps
/// answering as before.
#[test]
fn a_new_identity_of_known_variants_is_taught_in_place_or_on_one_shared_copy() {
    let mut cloud = Cloud::new(Provider::Ecs, Options::default());
    let accept = GroupKind::EcsBasic {
        inner: InnerPolicy::Accept,
    };
    let plain = plain_kind(Provider::Ecs);
    let a = add_group(&mut cloud, accept);
    let [c, d] = [0; 2].map(|_| add_group(&mut cloud, plain));
    add_rules(
        &mut cloud,
        c,
        vec![tcp_rule(
            Direction::Ingress,
            Action::Allow,
            1,
            22,
            Remote::Group(a),
        )],
    );
    // `a`'s ingress table differs from its egress one (else they are one table).
    add_rules(
        &mut cloud,
        a,
        vec![tcp_rule(
            Direction::Ingress,
            Action::Allow,
            1,
            80,
            Remote::Cidr(net("10.0.0.0/8")),
        )],
    );
    let m = attach(&mut cloud, "m", &["10.0.0.1"], &[a]);
    let x = attach(&mut cloud, "x", &["10.0.1.1"], &[c]);
    let y = attach(&mut cloud, "y", &["10.0.1.2"], &[c, d]);
    let packets = packets_between(&["10.0.0.1", "10.0.1.1", "10.0.1.2", "10.0.2.1", "10.9.9.9"]);
    let ingress = |e: &Engine, k: EndpointKey| Arc::as_ptr(&e.set_of(k).expect("set").v4[0]);
    for cloned in [false, true] {
        let mut engine = Engine::build(&cloud).expect("build");
        assert_eq!(
            ingress(&engine, x),
            ingress(&engine, y),
            "[c] and [c, d] share their ingress table"
        );
        let kept = cloned.then(|| engine.clone());
        let (before_m, before_x) = (ingress(&engine, m), ingress(&engine, x));
        let mut changed = cloud.clone();
        // {a, d}: the variant of `a` in every table that references `a`, a new identity
        // (`a` second, so that the list's tables are not `m`'s).
        attach(&mut changed, "n", &["10.0.2.1"], &[d, a]);
        let n = EndpointKey::new(3);
        engine.refresh(&changed, Update::Endpoint(n)).expect("refresh");
        assert_eq!(
            ingress(&engine, m) == before_m,
            !cloned,
            "cloned {cloned}: in place only when the engine alone holds the table"
        );
        assert_ne!(
            ingress(&engine, x),
            before_x,
            "cloned {cloned}: a shared table is copied"
        );
        assert_eq!(
            ingress(&engine, x),
            ingress(&engine, y),
            "cloned {cloned}: one copy for both lists"
        );
        let ssh = Packet::tcp(ip("10.0.2.1"), ip("10.0.1.1"), 22);
        assert!(engine.evaluate(x, Direction::Ingress, &ssh).is_allow());
        assert!(engine.evaluate(y, Direction::Ingress, &ssh).is_allow());
        assert_fresh_and_right(&changed, &engine, &packets, &format!("cloned {cloned}"));
        if let Some(kept) = kept {
            assert_agrees(&cloud, &kept, &packets);
            assert_eq!(ingress(&kept, x), before_x, "the clone keeps its tables");
        }
    }
}

// ---- new group lists' tables merged from other lists' tables ----

/// For each group of `groups`, a set of `engine` that holds it (the first, or the one of the
/// fewest groups as the refresh picks), when every group has one.
fn donor_sets<'e>(engine: &'e Engine, groups: &[GroupKey], fewest: bool) -> Option<Vec<&'e super::TableSet>> {
    groups
        .iter()
        .map(|g| {
            let mut holding = engine.sets.iter().flatten().filter(|s| s.groups.contains(g));
            if fewest {
                holding.min_by_key(|s| s.groups.len())
            } else {
                holding.next()
            }
            .map(|s| &**s)
        })
        .collect()
}

/// Whether [`super::lower::merged`] of `groups` from `donors` (tables of one direction and
/// family) gives what lowering gives; `true` when it merged (else it fell back).
fn merges_as_lowered<A: super::lower::FamilyAddr + std::fmt::Debug>(
    cloud: &Cloud,
    groups: &[GroupKey],
    direction: Direction,
    donors: &[&super::lower::Lowered<A>],
) -> bool {
    use super::lower::{lower, merged, Ctx};
    let ctx = Ctx::new(cloud);
    let limit = BuildLimits::default().max_entries;
    let Some(m) = merged::<A>(&ctx, groups, direction, limit, donors) else {
        return false;
    };
    assert_eq!(
        Ok(&m),
        lower::<A>(&ctx, groups, direction, limit).as_ref(),
        "{direction}"
    );
    true
}

/// [`merges_as_lowered`] for every direction and family; how many tables were merged.
fn merged_as_lowered(cloud: &Cloud, groups: &[GroupKey], donors: &[&super::TableSet]) -> usize {
    let mut count = 0;
    for (d, direction) in [Direction::Ingress, Direction::Egress].into_iter().enumerate() {
        let d4: Vec<_> = donors.iter().map(|s| s.v4[d].lowered()).collect();
        let d6: Vec<_> = donors.iter().map(|s| s.v6[d].lowered()).collect();
        count += usize::from(merges_as_lowered::<u32>(cloud, groups, direction, &d4));
        count += usize::from(merges_as_lowered::<u128>(cloud, groups, direction, &d6));
    }
    count
}

#[test]
fn new_lists_are_merged_from_other_lists_tables_for_every_provider() {
    let packets = packets_between(&[
        "10.0.0.1",
        "10.0.0.2",
        "10.0.1.1",
        "10.0.2.1",
        "2001:db8::1",
        "2001:db8::2",
    ]);
    for provider in Provider::ALL {
        let mut cloud = Cloud::new(provider, Options::default());
        // ECS: members of `a` and `b` trusted (intra-group entries); others plain.
        let trusted = match provider {
            Provider::Ecs => GroupKind::EcsBasic {
                inner: InnerPolicy::Accept,
            },
            p => plain_kind(p),
        };
        let [a, b] = [0; 2].map(|_| add_group(&mut cloud, trusted));
        let c = add_group(&mut cloud, plain_kind(provider));
        let any4 = Remote::Cidr(net("0.0.0.0/0"));
        let ag = add_address_group(
            &mut cloud,
            Family::V4,
            vec![AddressEntry::Range(ip("10.0.0.2"), ip("10.0.0.9"))],
        );
        // Many rules, deny and allow at the same priorities across groups, group
        // references, an address group, IPv6.
        let mut rules_a = Vec::new();
        let mut rules_b = Vec::new();
        for i in 0..40u16 {
            let action = if i % 3 == 0 { Action::Deny } else { Action::Allow };
            let remote = match i % 5 {
                0 => Remote::Group(b),
                1 => Remote::AddressGroup(ag),
                2 => Remote::Cidr(net("2001:db8::/64")),
                _ => any4.clone(),
            };
            let direction = if i % 4 == 3 {
                Direction::Egress
            } else {
                Direction::Ingress
            };
            rules_a.push(tcp_rule(
                direction,
                action,
                (i % 7) as u8 + 1,
                20 + i,
                remote.clone(),
            ));
            let other = if i % 2 == 0 { Action::Allow } else { Action::Deny };
            rules_b.push(tcp_rule(direction, other, (i % 7) as u8 + 1, 20 + i, remote));
        }
        let ssh = tcp_rule(Direction::Ingress, Action::Allow, 3, 22, Remote::Group(a));
        for (g, rules) in [(a, rules_a), (b, rules_b), (c, vec![ssh])] {
            add_rules(&mut cloud, g, rules);
        }
        attach(&mut cloud, "a-1", &["10.0.0.1", "2001:db8::1"], &[a]);
        attach(&mut cloud, "bc-1", &["10.0.0.2"], &[b, c]);
        let mut engine = Engine::build(&cloud).expect("build");
        // New lists, in both orders (group order decides for Huawei and Gcore, and breaks
        // ECS ties).
        let mut lists = 0;
        for (n, groups) in [vec![b, a], vec![a, b], vec![c, a, b], vec![a, c]]
            .into_iter()
            .enumerate()
        {
            let donors = donor_sets(&engine, &groups, true).expect("every group has a set");
            assert_eq!(
                merged_as_lowered(&cloud, &groups, &donors),
                4,
                "{provider} {groups:?}"
            );
            let ips = [format!("10.0.2.{}", n + 1), format!("2001:db8::{:x}", n + 2)];
            let key = attach(&mut cloud, &format!("new-{n}"), &[&ips[0], &ips[1]], &groups);
            engine.refresh(&cloud, Update::Endpoint(key)).expect("refresh");
            assert_fresh_and_right(
                &cloud,
                &engine,
                &packets,
                &format!("{provider} new list {groups:?}"),
            );
            lists += 1;
        }
        assert_eq!(lists, 4);
    }
}

#[test]
fn lists_with_icmp_lanes_or_a_catch_all_are_lowered_not_merged() {
    let mut cloud = Cloud::new(Provider::Gcore, Options::default());
    let [a, b] = [0; 2].map(|_| add_group(&mut cloud, GroupKind::Gcore));
    let mut icmp = rule(Direction::Ingress, Action::Allow, 1);
    icmp.protocol = Some(ICMP);
    icmp.icmp = IcmpMatch {
        icmp_type: Some(8),
        icmp_code: None,
    };
    icmp.remote = Remote::Cidr(net("10.0.0.0/8"));
    add_rules(&mut cloud, a, vec![icmp]);
    let all = rule(Direction::Ingress, Action::Allow, 1);
    add_rules(&mut cloud, b, vec![all]);
    attach(&mut cloud, "a-1", &["10.0.0.1"], &[a]);
    attach(&mut cloud, "b-1", &["10.0.0.2"], &[b]);
    let engine = Engine::build(&cloud).expect("build");
    let donors = donor_sets(&engine, &[a, b], true).expect("sets");
    let ctx = super::lower::Ctx::new(&cloud);
    let limit = BuildLimits::default().max_entries;
    let d4: Vec<_> = donors.iter().map(|s| s.v4[0].lowered()).collect();
    assert!(super::lower::merged::<u32>(&ctx, &[a, b], Direction::Ingress, limit, &d4).is_none());
    // Either alone: `a`'s table has an ICMP lane, `b`'s is cut after its catch-all rule.
    assert!(super::lower::merged::<u32>(&ctx, &[a], Direction::Ingress, limit, &d4[..1]).is_none());
    assert!(super::lower::merged::<u32>(&ctx, &[b], Direction::Ingress, limit, &d4[1..]).is_none());
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    /// A list's tables merged from any lists' tables that hold its groups are the lowered
    /// tables, on generated clouds of every provider.
    #[test]
    fn merged_tables_equal_lowered_tables_on_generated_clouds(
        spec in cloud_spec(),
        lists in prop::collection::vec(prop::collection::vec(0usize..3, 1..4), 1..4),
        fewest in any::<bool>(),
    ) {
        let cloud = build_cloud(&spec);
        let engine = Engine::build(&cloud).expect("build");
        let keys: Vec<GroupKey> = cloud.groups().map(|g| g.key).collect();
        for list in lists {
            let mut groups: Vec<GroupKey> = Vec::new();
            for g in list {
                let k = keys[g % keys.len()];
                if !groups.contains(&k) {
                    groups.push(k);
                }
            }
            if let Some(donors) = donor_sets(&engine, &groups, fewest) {
                merged_as_lowered(&cloud, &groups, &donors);
            }
        }
    }
}

/// The slots' addresses live in one vector: runs reused in place, appended when they grow,
/// moved together when most are dead; every address still maps to its endpoint, and the
/// engine answers as a fresh build.
#[test]
fn endpoint_addresses_stay_right_as_their_vector_is_reused_and_compacted() {
    let (mut cloud, [web, db, _], _) = topology(false);
    let mut engine = Engine::build(&cloud).expect("build");
    let step = |cloud: &mut Cloud, engine: &mut Engine, change: &dyn Fn(&mut Cloud)| {
        let before = cloud.clone();
        change(cloud);
        for update in updates(&before, cloud) {
            engine.refresh(cloud, update).expect("refresh");
        }
    };
    // One or two addresses each, so that keys moving down after a detach change run sizes.
    for i in 0..150u32 {
        step(&mut cloud, &mut engine, &|c| {
            let v4 = format!("10.9.{}.{}", i / 200, i % 200 + 1);
            let v6 = format!("2001:db8:9::{:x}", i + 1);
            let ips: Vec<&str> = if i % 3 == 0 { vec![&v4, &v6] } else { vec![&v4] };
            let groups = if i % 2 == 0 { [web] } else { [db] };
            attach(c, &format!("n{i}"), &ips, &groups);
        });
    }
    // From the front (every later key moves down) and from the back (slots emptied).
    for i in (0..150u32).filter(|i| i % 5 == 0) {
        step(&mut cloud, &mut engine, &|c| {
            c.detach(&format!("n{i}")).expect("detach");
        });
    }
    for i in (100..150u32).rev().filter(|i| i % 5 != 0) {
        step(&mut cloud, &mut engine, &|c| {
            c.detach(&format!("n{i}")).expect("detach");
        });
    }
    let live: usize = cloud.endpoints().iter().map(|ep| ep.ips.len()).sum();
    assert!(
        engine.addrs.len() - engine.dead_addrs == live && engine.addrs.len() < 2 * live + 64,
        "{} addresses held, {} dead, {live} live",
        engine.addrs.len(),
        engine.dead_addrs
    );
    for (e, ep) in cloud.endpoints().iter().enumerate() {
        let slot = engine.slots[e].as_ref().expect("slot");
        assert_eq!(slot.ips(&engine.addrs), &ep.ips[..], "endpoint {e}");
        for &ip in &ep.ips {
            let owner = engine.identities.owner(ip).expect("mapped");
            assert_eq!(owner.endpoint, e as u32, "{ip}");
        }
    }
    assert!(engine.slots[cloud.endpoints().len()..]
        .iter()
        .all(Option::is_none));
    assert_same_as_fresh(&cloud, &engine);
}

/// A refresh's new list whose lanes have more than [`super::table::MAX_OVERLAY`] entries and
/// at most [`super::table::MAX_FLAT`] gets flat classifiers (built in one pass), answers as
/// the reference and a fresh build do, and `compact` builds its trees; past `MAX_FLAT` the
/// refresh builds trees. Deny rules of `b` interleave with `a`'s allows by priority, and
/// a rule naming `a`'s members gives the table a variant per identity.
#[test]
fn a_new_lists_lanes_past_the_overlay_limit_are_built_flat_until_compact() {
    for (n, flat) in [(70u16, true), (140, false)] {
        let mut cloud = Cloud::new(Provider::Ecs, Options::default());
        let [a, b] = [0; 2].map(|_| add_group(&mut cloud, GroupKind::EcsEnterprise));
        add_rules(&mut cloud, a, allows_and_ssh_from(n, b));
        let denies: Vec<Rule> = (0..n)
            .map(|i| {
                tcp_rule(
                    Direction::Ingress,
                    Action::Deny,
                    1 + (i % 7) as u8,
                    1000 + 2 * i,
                    Remote::Cidr(net("10.1.0.0/16")),
                )
            })
            .collect();
        add_rules(&mut cloud, b, denies);
        attach(&mut cloud, "a", &["10.0.0.1"], &[a]);
        attach(&mut cloud, "b", &["10.0.0.2"], &[b]);
        let mut engine = Engine::build(&cloud).expect("build");
        let mut changed = cloud.clone();
        let key = attach(&mut changed, "ab", &["10.1.0.1"], &[a, b]);
        engine.refresh(&changed, Update::Endpoint(key)).expect("refresh");
        let table = &engine.set_of(key).expect("set").v4[0];
        let entries = table.lowered().main.len();
        assert!(entries > super::table::MAX_OVERLAY, "{n}: {entries} entries");
        assert_eq!(table.flat(), flat, "{n} rules a group: {entries} entries, flat");
        assert_eq!(table.overlaid(), flat, "{n}: compact has work when flat");
        let addrs = ["10.0.0.1", "10.0.0.2", "10.1.0.1", "10.1.9.9", "10.9.9.9"];
        let mut packets = packets_between(&addrs);
        for (s, d) in addrs.iter().flat_map(|s| addrs.iter().map(move |d| (s, d))) {
            packets.extend((998..1000 + 2 * n + 2).step_by(3).map(|port| Packet {
                dst_port: port,
                ..Packet::new(ip(s), ip(d), TCP)
            }));
        }
        assert_fresh_and_right(&changed, &engine, &packets, "refreshed");
        assert_eq!(
            engine.compact(&changed).expect("compact") > 0,
            flat,
            "{n}: compacted"
        );
        let table = &engine.set_of(key).expect("set").v4[0];
        assert!(!table.flat() && !table.overlaid(), "{n}: compact leaves trees");
        assert_fresh_and_right(&changed, &engine, &packets, "compacted");
    }
}

/// A new list's entries for a group are merged only from a set whose list holds that group,
/// even where a list of fewer groups holds another group of the same filter bits (numbers
/// 1 and 577: the same `g % 64` and the same [`super::sets::filter2`] bit).
#[test]
fn a_donor_holds_its_group_when_another_group_shares_its_filter_bits() {
    let mut cloud = Cloud::new(Provider::Ecs, Options::default());
    let groups: Vec<GroupKey> = (0..578)
        .map(|_| add_group(&mut cloud, GroupKind::EcsEnterprise))
        .collect();
    let (a, b, c, d) = (groups[1], groups[577], groups[2], groups[3]);
    assert_eq!(a.get() % 64, b.get() % 64, "the same first bit");
    assert_eq!(
        super::sets::filter2(&[a]),
        super::sets::filter2(&[b]),
        "the same second bit"
    );
    let any4 = || Remote::Cidr(net("0.0.0.0/0"));
    for (g, action, port) in [
        (a, Action::Allow, 22),
        (b, Action::Allow, 80),
        (c, Action::Allow, 443),
        (d, Action::Deny, 22),
    ] {
        add_rules(
            &mut cloud,
            g,
            vec![tcp_rule(Direction::Ingress, action, 1, port, any4())],
        );
    }
    // `a` is held by a list of two groups only; `b`, of `a`'s bits, by a list of one.
    attach(&mut cloud, "ac", &["10.0.0.1"], &[a, c]);
    attach(&mut cloud, "b", &["10.0.0.2"], &[b]);
    attach(&mut cloud, "d", &["10.0.0.3"], &[d]);
    let mut engine = Engine::build(&cloud).expect("build");
    let mut changed = cloud.clone();
    let key = attach(&mut changed, "ad", &["10.0.1.1"], &[a, d]);
    engine.refresh(&changed, Update::Endpoint(key)).expect("refresh");
    let packets = packets_between(&["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.1.1", "10.9.9.9"]);
    assert_fresh_and_right(&changed, &engine, &packets, "a new list of a and d");
}

/// A table whose members' groups make more than 255 variants (each subset of nine
/// referenced groups held by some endpoint) answers as the reference and a fresh build do,
/// built and after a refresh that adds endpoints of new combinations: a narrower map from
/// identities to variants (PERFORMANCE.md, "A byte an identity, tried") must keep them.
#[test]
fn a_table_of_more_than_255_variants_answers_for_every_identity() {
    let mut cloud = Cloud::new(Provider::Ecs, Options::default());
    let target = add_group(&mut cloud, GroupKind::EcsEnterprise);
    let remotes: Vec<GroupKey> = (0..9)
        .map(|_| add_group(&mut cloud, GroupKind::EcsEnterprise))
        .collect();
    // Group i's members may reach port 1000 + i; a deny from group 8 at a higher priority
    // on port 1000 makes the order matter.
    let mut rules: Vec<Rule> = remotes
        .iter()
        .enumerate()
        .map(|(i, &g)| {
            tcp_rule(
                Direction::Ingress,
                Action::Allow,
                2,
                1000 + i as u16,
                Remote::Group(g),
            )
        })
        .collect();
    rules.push(tcp_rule(
        Direction::Ingress,
        Action::Deny,
        1,
        1000,
        Remote::Group(remotes[8]),
    ));
    add_rules(&mut cloud, target, rules);
    attach(&mut cloud, "target", &["10.0.0.1"], &[target]);
    let addr = |m: u32| format!("10.1.{}.{}", m / 200, m % 200 + 1);
    let subset =
        |m: u32| -> Vec<GroupKey> { (0..9).filter(|b| m >> b & 1 == 1).map(|b| remotes[b]).collect() };
    // Every subset but the last few: the build makes more than 255 variants.
    for m in 1..500u32 {
        attach(&mut cloud, &format!("m{m}"), &[&addr(m)], &subset(m));
    }
    let ports: Vec<u16> = (999..1010).collect();
    let packets_to = |last: u32| -> Vec<Packet> {
        (1..last)
            .flat_map(|m| {
                ports.iter().map(move |&p| Packet {
                    dst_port: p,
                    ..Packet::new(ip(&addr(m)), ip("10.0.0.1"), TCP)
                })
            })
            .collect()
    };
    let mut engine = Engine::build(&cloud).expect("build");
    let table = &engine
        .set_of(cloud.endpoint_by_name("target").expect("target"))
        .expect("set")
        .v4[0];
    assert!(table.variant_count() > 256, "{} variants", table.variant_count());
    assert_fresh_and_right(&cloud, &engine, &packets_to(500), "built");
    let mut changed = cloud.clone();
    let mut keys = Vec::new();
    for m in 500..512u32 {
        keys.push(attach(&mut changed, &format!("m{m}"), &[&addr(m)], &subset(m)));
    }
    for key in keys {
        engine.refresh(&changed, Update::Endpoint(key)).expect("refresh");
    }
    assert_fresh_and_right(&changed, &engine, &packets_to(512), "refreshed");
}

/// A group list whose last member left is kept (up to [`super::IDLE_SETS`] such lists) and
/// taken again by the next member with that list, without compiling it; a change of one of
/// its groups (rules changed, the group deleted) frees it instead of compiling it; and
/// past the bound the oldest unused list is freed. Answers stay the reference's throughout.
#[test]
fn a_list_left_by_its_last_member_is_kept_for_the_next_one() {
    let mut cloud = Cloud::new(Provider::Huawei, Options::default());
    let kind = plain_kind(Provider::Huawei);
    let base = add_group(&mut cloud, kind);
    add_rules(
        &mut cloud,
        base,
        vec![tcp_rule(Direction::Ingress, Action::Allow, 1, 22, Remote::Any)],
    );
    let extra: Vec<GroupKey> = (0..super::IDLE_SETS as u16 + 3)
        .map(|i| {
            let g = add_group(&mut cloud, kind);
            let remote = Remote::Cidr(net("192.0.2.0/24"));
            add_rules(
                &mut cloud,
                g,
                vec![tcp_rule(Direction::Ingress, Action::Allow, 1, 1000 + i, remote)],
            );
            g
        })
        .collect();
    let a = attach(&mut cloud, "a", &["10.0.0.1"], &[base]);
    let b = attach(&mut cloud, "b", &["10.0.0.2"], &[base]);
    let packets: Vec<Packet> = (0..super::IDLE_SETS as u16 + 3)
        .flat_map(|i| {
            [
                Packet::tcp(ip("192.0.2.9"), ip("10.0.0.1"), 1000 + i),
                Packet::tcp(ip("192.0.2.9"), ip("10.0.0.2"), 1000 + i),
            ]
        })
        .chain([Packet::tcp(ip("198.51.100.1"), ip("10.0.0.1"), 22)])
        .collect();
    let mut engine = Engine::build(&cloud).expect("build");
    let ids = |cloud: &Cloud, gs: &[GroupKey]| -> Vec<String> {
        gs.iter()
            .map(|g| cloud.group(*g).expect("group").id.clone())
            .collect()
    };
    let move_to = |cloud: &mut Cloud, engine: &mut Engine, e: EndpointKey, name: &str, gs: &[GroupKey]| {
        let gs = ids(cloud, gs);
        cloud.set_groups(name, &gs).expect("set_groups");
        engine.refresh(cloud, Update::Endpoint(e)).expect("refresh");
        assert_fresh_and_right(cloud, engine, &packets, &format!("{name} to {gs:?}"));
        assert_eq!(
            engine.stats().group_lists,
            Engine::build(cloud).expect("fresh").stats().group_lists
        );
    };
    let set = |e: &Engine, k: EndpointKey| e.set_of(k).expect("set") as *const _;

    // b takes [base, extra0] and leaves it; a takes it next: the same tables.
    move_to(&mut cloud, &mut engine, b, "b", &[base, extra[0]]);
    let first = set(&engine, b);
    move_to(&mut cloud, &mut engine, b, "b", &[base]);
    assert_eq!(engine.idle.len(), 1, "the list left is kept");
    move_to(&mut cloud, &mut engine, a, "a", &[base, extra[0]]);
    assert_eq!(set(&engine, a), first, "the kept list is taken again");
    assert!(engine.idle.is_empty() || engine.users[*engine.idle.front().unwrap() as usize] > 0);

    // Taken and left again and again: kept every time (not crowded out by itself).
    move_to(&mut cloud, &mut engine, b, "b", &[base, extra[1]]);
    let again = set(&engine, b);
    for _ in 0..super::IDLE_SETS + 1 {
        move_to(&mut cloud, &mut engine, b, "b", &[base]);
        move_to(&mut cloud, &mut engine, b, "b", &[base, extra[1]]);
        assert_eq!(set(&engine, b), again, "the list is kept each time it is left");
    }
    move_to(&mut cloud, &mut engine, b, "b", &[base]);

    // a leaves it; extra0's rules change: the unused list is freed, not compiled, and a
    // member taking it again gets it compiled with the new rules.
    move_to(&mut cloud, &mut engine, a, "a", &[base]);
    let sets_before = engine.sets.iter().flatten().count();
    add_rules(
        &mut cloud,
        extra[0],
        vec![tcp_rule(
            Direction::Ingress,
            Action::Deny,
            1,
            1000,
            Remote::Cidr(net("192.0.2.9/32")),
        )],
    );
    engine.refresh(&cloud, Update::Group(extra[0])).expect("refresh");
    assert_eq!(
        engine.sets.iter().flatten().count(),
        sets_before - 1,
        "the unused list is freed"
    );
    assert_fresh_and_right(&cloud, &engine, &packets, "extra0 changed");
    move_to(&mut cloud, &mut engine, a, "a", &[base, extra[0]]);
    move_to(&mut cloud, &mut engine, a, "a", &[base]);

    // A group deleted while only an unused list names it.
    let gone = *extra.last().expect("a group");
    move_to(&mut cloud, &mut engine, b, "b", &[base, gone]);
    move_to(&mut cloud, &mut engine, b, "b", &[base]);
    cloud.edit_with(|t| assert!(t.remove_group(gone)));
    engine
        .refresh(&cloud, Update::Group(gone))
        .expect("refresh after the delete");
    assert_fresh_and_right(&cloud, &engine, &packets, "a group of an unused list deleted");

    // More unused lists than kept: the oldest are freed.
    for &g in &extra[..extra.len() - 1] {
        move_to(&mut cloud, &mut engine, b, "b", &[base, g]);
    }
    move_to(&mut cloud, &mut engine, b, "b", &[base]);
    let used = engine.users.iter().filter(|&&u| u > 0).count();
    assert_eq!(engine.sets.iter().flatten().count(), used + super::IDLE_SETS);
    assert_eq!(engine.idle.len(), super::IDLE_SETS);
}
