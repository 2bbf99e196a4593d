//! The connection tracker: replies and later packets of allowed connections, each provider's
//! timeouts at their exact edges, bounded memory, and rule changes under open connections.

use std::net::IpAddr;

use proptest::prelude::*;
use serde_json::{json, Value};
use sgeval::conntrack::{Timeouts, Tracker};
use sgeval::flow::Flow;
use sgeval::{reference, Cloud, Packet, Provider, Reason, Scenario, Verdict};

const SRV: &str = "10.0.0.10";
const PEER: &str = "10.0.0.20";
const EXT: &str = "203.0.113.7";
const WEB: &str = "198.51.100.9";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// Which rules the server's group has.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Rules {
    /// Ingress TCP 443, UDP 53, ICMP (and GRE where the provider has it) from anywhere;
    /// egress only TCP 80 to 198.51.100.0/24; everything else denied both ways.
    Open,
    /// As `Open` without the ingress TCP 443 and the egress TCP 80 rules.
    Closed,
    /// As `Open` with the egress TCP 80 rule only (ingress TCP 443 closed).
    EgressOnly,
    /// As `Open` with the ingress TCP 443 rule only (egress TCP 80 closed).
    IngressOnly,
}

impl Rules {
    fn ingress_443(self) -> bool {
        matches!(self, Rules::Open | Rules::IngressOnly)
    }
    fn egress_80(self) -> bool {
        matches!(self, Rules::Open | Rules::EgressOnly)
    }
}

/// The server `srv` (10.0.0.10) in group `srv`, and `peer` (10.0.0.20) in group `peer`, which
/// admits nothing and sends anything where `peer_egress` (else no TCP).
fn scenario(provider: Provider, rules: Rules, peer_egress: bool) -> Cloud {
    let calls = match provider {
        Provider::Huawei => huawei(rules, peer_egress),
        Provider::Ecs => ecs(rules, peer_egress),
        Provider::Ens => ens(rules, peer_egress),
        Provider::Gcore => gcore(rules, peer_egress),
    };
    let value = json!({
        "provider": provider.name(),
        "calls": calls,
        "endpoints": [
            {"name": "srv", "ips": [SRV], "groups": ["$srv"]},
            {"name": "peer", "ips": [PEER], "groups": ["$peer"]},
        ]
    });
    let scenario = Scenario::from_value(&value).unwrap_or_else(|e| panic!("{provider}: {e}"));
    scenario
        .build()
        .unwrap_or_else(|e| panic!("{provider} {rules:?}: {e}"))
}

fn huawei(rules: Rules, peer_egress: bool) -> Vec<Value> {
    let rule = |group: &str,
                direction: &str,
                protocol: Option<&str>,
                port: Option<&str>,
                remote: &str,
                action: &str,
                priority: u32| {
        let mut r = json!({"security_group_id": format!("${group}"), "direction": direction,
            "ethertype": "IPv4", "remote_ip_prefix": remote, "action": action, "priority": priority});
        if let Some(p) = protocol {
            r["protocol"] = json!(p);
        }
        if let Some(p) = port {
            r["multiport"] = json!(p);
        }
        json!({"api": "CreateSecurityGroupRule", "body": {"security_group_rule": r}})
    };
    let mut calls = vec![
        json!({"api": "CreateSecurityGroup", "ref": "srv", "body": {"security_group": {"name": "srv"}}}),
        json!({"api": "CreateSecurityGroup", "ref": "peer", "body": {"security_group": {"name": "peer"}}}),
    ];
    if rules.ingress_443() {
        calls.push(rule(
            "srv",
            "ingress",
            Some("tcp"),
            Some("443"),
            "0.0.0.0/0",
            "allow",
            1,
        ));
    }
    calls.push(rule(
        "srv",
        "ingress",
        Some("udp"),
        Some("53"),
        "0.0.0.0/0",
        "allow",
        1,
    ));
    calls.push(rule(
        "srv",
        "ingress",
        Some("icmp"),
        None,
        "0.0.0.0/0",
        "allow",
        1,
    ));
    calls.push(rule("srv", "ingress", Some("47"), None, "0.0.0.0/0", "allow", 1));
    if rules.egress_80() {
        calls.push(rule(
            "srv",
            "egress",
            Some("tcp"),
            Some("80"),
            "198.51.100.0/24",
            "allow",
            1,
        ));
    }
    for p in ["tcp", "udp", "icmp", "47"] {
        calls.push(rule("srv", "egress", Some(p), None, "0.0.0.0/0", "deny", 50));
    }
    if !peer_egress {
        calls.push(rule("peer", "egress", Some("tcp"), None, "0.0.0.0/0", "deny", 50));
    }
    calls
}

fn ecs(rules: Rules, peer_egress: bool) -> Vec<Value> {
    let group = |name: &str| {
        json!({"api": "CreateSecurityGroup", "ref": name, "params": {"RegionId": "eu-central-1",
            "VpcId": "vpc-1", "SecurityGroupName": name, "SecurityGroupType": "enterprise"}})
    };
    let perm = |proto: &str, ports: &str, cidr_key: &str, cidr: &str| json!({"IpProtocol": proto, "PortRange": ports, cidr_key: cidr, "Policy": "accept", "Priority": "1"});
    let mut ingress = vec![
        perm("UDP", "53/53", "SourceCidrIp", "0.0.0.0/0"),
        perm("ICMP", "-1/-1", "SourceCidrIp", "0.0.0.0/0"),
        perm("GRE", "-1/-1", "SourceCidrIp", "0.0.0.0/0"),
    ];
    if rules.ingress_443() {
        ingress.push(perm("TCP", "443/443", "SourceCidrIp", "0.0.0.0/0"));
    }
    let mut calls = vec![
        group("srv"),
        group("peer"),
        json!({"api": "AuthorizeSecurityGroup", "params": {"RegionId": "eu-central-1",
            "SecurityGroupId": "$srv", "Permissions": ingress}}),
    ];
    if peer_egress {
        calls.push(
            json!({"api": "AuthorizeSecurityGroupEgress", "params": {"RegionId": "eu-central-1",
            "SecurityGroupId": "$peer", "Permissions": [perm("ALL", "-1/-1", "DestCidrIp", "0.0.0.0/0")]}}),
        );
    }
    if rules.egress_80() {
        calls.push(json!({"api": "AuthorizeSecurityGroupEgress", "params": {"RegionId": "eu-central-1",
            "SecurityGroupId": "$srv", "Permissions": [perm("TCP", "80/80", "DestCidrIp", "198.51.100.0/24")]}}));
    }
    calls
}

fn ens(rules: Rules, peer_egress: bool) -> Vec<Value> {
    let perm = |dir: &str, proto: &str, ports: &str, cidr: &str, policy: &str, prio: u32| {
        let key = if dir == "ingress" {
            "SourceCidrIp"
        } else {
            "DestCidrIp"
        };
        json!({"Direction": dir, "IpProtocol": proto, "PortRange": ports, key: cidr, "Policy": policy, "Priority": prio})
    };
    let mut srv = vec![
        perm("ingress", "UDP", "53/53", "0.0.0.0/0", "Accept", 1),
        perm("ingress", "ICMP", "-1/-1", "0.0.0.0/0", "Accept", 1),
        perm("egress", "ALL", "-1/-1", "0.0.0.0/0", "Drop", 50),
    ];
    if rules.ingress_443() {
        srv.push(perm("ingress", "TCP", "443/443", "0.0.0.0/0", "Accept", 1));
    }
    if rules.egress_80() {
        srv.push(perm("egress", "TCP", "80/80", "198.51.100.0/24", "Accept", 1));
    }
    let mut peer = vec![];
    if !peer_egress {
        peer.push(perm("egress", "TCP", "1/65535", "0.0.0.0/0", "Drop", 1));
    }
    vec![
        json!({"api": "CreateSecurityGroup", "ref": "srv", "params": {"SecurityGroupName": "srv", "Permissions": srv}}),
        json!({"api": "CreateSecurityGroup", "ref": "peer", "params": {"SecurityGroupName": "peer", "Permissions": peer}}),
    ]
}

fn gcore(rules: Rules, peer_egress: bool) -> Vec<Value> {
    let rule = |dir: &str, proto: &str, ports: Option<(u16, u16)>, remote: &str| {
        let mut r =
            json!({"direction": dir, "ethertype": "IPv4", "protocol": proto, "remote_ip_prefix": remote});
        if let Some((lo, hi)) = ports {
            r["port_range_min"] = json!(lo);
            r["port_range_max"] = json!(hi);
        }
        r
    };
    let mut srv = vec![
        rule("ingress", "udp", Some((53, 53)), "0.0.0.0/0"),
        rule("ingress", "icmp", None, "0.0.0.0/0"),
        rule("ingress", "gre", None, "0.0.0.0/0"),
        // An egress rule that matches nothing of these tests keeps the default egress out.
        rule("egress", "udp", Some((9, 9)), "192.0.2.0/24"),
    ];
    if rules.ingress_443() {
        srv.push(rule("ingress", "tcp", Some((443, 443)), "0.0.0.0/0"));
    }
    if rules.egress_80() {
        srv.push(rule("egress", "tcp", Some((80, 80)), "198.51.100.0/24"));
    }
    let peer = if peer_egress {
        vec![json!({"direction": "egress", "ethertype": "IPv4"})]
    } else {
        vec![rule("egress", "udp", Some((9, 9)), "192.0.2.0/24")]
    };
    vec![
        json!({"api": "CreateSecurityGroup", "ref": "srv", "body": {"name": "srv", "rules": srv}}),
        json!({"api": "CreateSecurityGroup", "ref": "peer", "body": {"name": "peer", "rules": peer}}),
    ]
}

fn tcp(src: &str, sport: u16, dst: &str, dport: u16) -> Packet {
    Packet::tcp(ip(src), ip(dst), dport).with_src_port(sport)
}

fn udp(src: &str, sport: u16, dst: &str, dport: u16) -> Packet {
    Packet::udp(ip(src), ip(dst), dport).with_src_port(sport)
}

fn icmp(src: &str, dst: &str, t: u8) -> Packet {
    Packet::new(ip(src), ip(dst), sgeval::Protocol::ICMP.0).with_icmp(t, 0)
}

fn established(flow: &Flow) -> bool {
    flow.verdict == Verdict::Allow
        && !flow.hops.is_empty()
        && flow.hops.iter().all(|h| h.decision.reason == Reason::Established)
}

fn process(t: &mut Tracker, cloud: &Cloud, p: &Packet) -> Flow {
    t.process(cloud, &reference::Evaluator::new(cloud), p)
}

#[test]
fn replies_and_later_packets_pass_as_established_for_every_provider() {
    for provider in Provider::ALL {
        let cloud = scenario(provider, Rules::Open, false);
        let mut t = Tracker::new(provider, 100);
        let request = tcp(EXT, 40000, SRV, 443);
        let reply = tcp(SRV, 443, EXT, 40000);
        // Without a connection the reply is denied by the server's egress.
        assert_eq!(
            process(&mut t, &cloud, &reply).verdict,
            Verdict::Deny,
            "{provider}"
        );
        let first = process(&mut t, &cloud, &request);
        assert_eq!(first.verdict, Verdict::Allow, "{provider}");
        assert!(
            matches!(first.hops[0].decision.reason, Reason::Rule(_)),
            "{provider}"
        );
        assert!(established(&process(&mut t, &cloud, &reply)), "{provider}: reply");
        assert!(
            established(&process(&mut t, &cloud, &request)),
            "{provider}: later packet"
        );
        // Another source port is another connection: its reply is not admitted.
        assert_eq!(
            process(&mut t, &cloud, &tcp(SRV, 443, EXT, 40001)).verdict,
            Verdict::Deny
        );
        // The caller's claim of an established state does not count.
        let forged = tcp(SRV, 443, EXT, 50000).with_state(sgeval::ConnState::Established);
        assert_eq!(
            process(&mut t, &cloud, &forged).verdict,
            Verdict::Deny,
            "{provider}"
        );
        assert_eq!(t.len(), 1);
    }
}

#[test]
fn icmp_echo_replies_are_admitted_but_errors_and_unsolicited_replies_are_not() {
    for provider in Provider::ALL {
        let cloud = scenario(provider, Rules::Open, false);
        let mut t = Tracker::new(provider, 100);
        assert_eq!(
            process(&mut t, &cloud, &icmp(SRV, EXT, 0)).verdict,
            Verdict::Deny,
            "{provider}"
        );
        assert_eq!(
            process(&mut t, &cloud, &icmp(EXT, SRV, 8)).verdict,
            Verdict::Allow
        );
        assert!(
            established(&process(&mut t, &cloud, &icmp(SRV, EXT, 0))),
            "{provider}"
        );
        // A destination-unreachable is not related to anything the tracker knows.
        assert_eq!(
            process(&mut t, &cloud, &icmp(SRV, EXT, 3)).verdict,
            Verdict::Deny,
            "{provider}"
        );
        // A timestamp reply does not answer an echo request.
        assert_eq!(
            process(&mut t, &cloud, &icmp(SRV, EXT, 14)).verdict,
            Verdict::Deny,
            "{provider}"
        );
        // An allowed echo reply opens nothing.
        assert_eq!(
            process(&mut t, &cloud, &icmp("203.0.113.8", SRV, 0)).verdict,
            Verdict::Allow
        );
        assert_eq!(t.len(), 1, "{provider}");
    }
}

/// Opens a connection with `open`, then checks that `reply` stays established while each
/// gap is `timeout - 1` seconds, and dies after a gap of exactly `timeout`.
fn check_edge(provider: Provider, open: Packet, reply: Packet, first_gap: u64, timeout: u64) {
    let cloud = scenario(provider, Rules::Open, false);
    let mut t = Tracker::new(provider, 100);
    assert_eq!(
        process(&mut t, &cloud, &open).verdict,
        Verdict::Allow,
        "{provider}"
    );
    t.advance(first_gap - 1);
    assert!(
        established(&process(&mut t, &cloud, &reply)),
        "{provider}: {reply} after {first_gap}-1 s"
    );
    t.advance(timeout - 1);
    assert!(
        established(&process(&mut t, &cloud, &reply)),
        "{provider}: {reply} after {timeout}-1 s"
    );
    t.advance(timeout);
    assert!(t.is_empty(), "{provider}: the entry expired after {timeout} s");
    assert!(
        !established(&process(&mut t, &cloud, &reply)),
        "{provider}: {reply} after {timeout} s"
    );
}

#[test]
fn tcp_timeouts_hold_until_the_last_second_for_every_provider() {
    for (provider, secs) in [
        (Provider::Ecs, 910),
        (Provider::Ens, 910),
        (Provider::Huawei, 600),
        (Provider::Gcore, 432_000),
    ] {
        assert_eq!(Timeouts::for_provider(provider).tcp, secs);
        check_edge(
            provider,
            tcp(EXT, 40000, SRV, 443),
            tcp(SRV, 443, EXT, 40000),
            secs,
            secs,
        );
    }
}

#[test]
fn icmp_timeouts_hold_until_the_last_second() {
    for (provider, secs) in [
        (Provider::Ecs, 910),
        (Provider::Ens, 910),
        (Provider::Huawei, 30),
        (Provider::Gcore, 30),
    ] {
        check_edge(provider, icmp(EXT, SRV, 8), icmp(SRV, EXT, 0), secs, secs);
    }
}

#[test]
fn udp_and_other_protocols_live_longer_once_both_directions_were_seen() {
    // (provider, one way, both ways); the first gap is the one-way timeout, later ones are
    // the both-ways timeout.
    for (provider, one, both) in [
        (Provider::Ecs, 910, 910),
        (Provider::Ens, 910, 910),
        (Provider::Huawei, 30, 180),
        (Provider::Gcore, 30, 120),
    ] {
        check_edge(
            provider,
            udp(EXT, 5353, SRV, 53),
            udp(SRV, 53, EXT, 5353),
            one,
            both,
        );
    }
    // GRE: Huawei 30 s / 180 s, Gcore generic 600 s; keyed by addresses and protocol only.
    for (provider, one, both) in [
        (Provider::Huawei, 30, 180),
        (Provider::Gcore, 600, 600),
        (Provider::Ecs, 910, 910),
    ] {
        let gre = |s: &str, d: &str| Packet::new(ip(s), ip(d), 47);
        check_edge(provider, gre(EXT, SRV), gre(SRV, EXT), one, both);
    }
}

#[test]
fn a_one_way_udp_flow_expires_at_the_one_way_timeout() {
    let cloud = scenario(Provider::Huawei, Rules::Open, false);
    let mut t = Tracker::new(Provider::Huawei, 100);
    let q = udp(EXT, 5353, SRV, 53);
    process(&mut t, &cloud, &q);
    t.advance(29);
    assert!(
        established(&process(&mut t, &cloud, &q)),
        "a later packet refreshes"
    );
    t.advance(30);
    let again = process(&mut t, &cloud, &q);
    assert!(
        matches!(again.hops[0].decision.reason, Reason::Rule(_)),
        "decided anew: {again:?}"
    );
    assert_eq!(Timeouts::HUAWEI.of(sgeval::Protocol::UDP.0, false), 30);
}

#[test]
fn the_table_never_exceeds_its_capacity_and_evicts_the_least_recently_used() {
    let cloud = scenario(Provider::Huawei, Rules::Open, false);
    let mut t = Tracker::new(Provider::Huawei, 3);
    let conn = |port| tcp(EXT, port, SRV, 443);
    let reply = |port| tcp(SRV, 443, EXT, port);
    for port in [1000, 1001, 1002] {
        process(&mut t, &cloud, &conn(port));
    }
    assert_eq!(t.len(), 3);
    // Refresh 1000, so 1001 is now the least recently used.
    assert!(established(&process(&mut t, &cloud, &reply(1000))));
    process(&mut t, &cloud, &conn(1003));
    assert_eq!(t.len(), 3);
    assert_eq!(t.evicted(), 1);
    assert!(!t.is_established(&reply(1001)), "the least recently used went");
    for port in [1000, 1002, 1003] {
        assert!(t.is_established(&reply(port)), "{port} stays");
    }
    // Thousands of connections: the table stays at its capacity.
    for port in 2000..7000 {
        process(&mut t, &cloud, &conn(port));
        assert!(t.len() <= 3);
    }
    assert!(t.memory_bound() >= 3 * Tracker::bytes_per_entry());
}

#[test]
fn expired_entries_make_room_before_live_ones_are_evicted() {
    let cloud = scenario(Provider::Huawei, Rules::Open, false);
    let mut t = Tracker::new(Provider::Huawei, 2);
    process(&mut t, &cloud, &udp(EXT, 5353, SRV, 53)); // 30 s
    process(&mut t, &cloud, &tcp(EXT, 1000, SRV, 443)); // 600 s
    t.advance(30);
    assert_eq!(t.len(), 1, "the UDP entry expired");
    process(&mut t, &cloud, &tcp(EXT, 1001, SRV, 443));
    assert_eq!(t.evicted(), 0);
    assert!(t.is_established(&tcp(SRV, 443, EXT, 1000)));
    assert!(t.is_established(&tcp(SRV, 443, EXT, 1001)));
}

#[test]
fn a_zero_capacity_tracker_tracks_nothing() {
    let cloud = scenario(Provider::Ecs, Rules::Open, false);
    let mut t = Tracker::new(Provider::Ecs, 0);
    assert_eq!(
        process(&mut t, &cloud, &tcp(EXT, 1000, SRV, 443)).verdict,
        Verdict::Allow
    );
    assert!(t.is_empty());
    assert_eq!(
        process(&mut t, &cloud, &tcp(SRV, 443, EXT, 1000)).verdict,
        Verdict::Deny
    );
}

/// An inbound connection (EXT -> srv:443) and an outbound one (srv -> WEB:80), then the
/// server's rules change to `after`; returns whether each reply still passes.
fn after_change(provider: Provider, after: Rules) -> (bool, bool) {
    let before = scenario(provider, Rules::Open, false);
    let changed = scenario(provider, after, false);
    let mut t = Tracker::new(provider, 100);
    assert_eq!(
        process(&mut t, &before, &tcp(EXT, 40000, SRV, 443)).verdict,
        Verdict::Allow
    );
    assert_eq!(
        process(&mut t, &before, &tcp(SRV, 40001, WEB, 80)).verdict,
        Verdict::Allow
    );
    assert_eq!(t.len(), 2);
    let dropped = t.rules_changed(&changed, &reference::Evaluator::new(&changed));
    let inbound = process(&mut t, &changed, &tcp(SRV, 443, EXT, 40000)).verdict == Verdict::Allow;
    let outbound = process(&mut t, &changed, &tcp(WEB, 80, SRV, 40001)).verdict == Verdict::Allow;
    assert_eq!(
        dropped,
        usize::from(!inbound) + usize::from(!outbound),
        "{provider} {after:?}"
    );
    (inbound, outbound)
}

#[test]
fn unchanged_behaviour_keeps_every_connection() {
    for provider in Provider::ALL {
        assert_eq!(after_change(provider, Rules::Open), (true, true), "{provider}");
    }
}

#[test]
fn huawei_cuts_inbound_connections_that_the_new_rules_deny_and_keeps_outbound_ones() {
    // Source: Huawei VPC FAQ vpc_faq_0074; semantics 3.4.
    assert_eq!(after_change(Provider::Huawei, Rules::Closed), (false, true));
    assert_eq!(after_change(Provider::Huawei, Rules::EgressOnly), (false, true));
    assert_eq!(after_change(Provider::Huawei, Rules::IngressOnly), (true, true));
}

#[test]
fn ecs_ens_and_gcore_cut_every_connection_whose_decision_changed() {
    // ECS: A1 (changed rule behaviour affects established sessions); ENS as ECS; Gcore:
    // Neutron deletes the conntrack entries of deleted rules.
    for provider in [Provider::Ecs, Provider::Ens, Provider::Gcore] {
        assert_eq!(
            after_change(provider, Rules::Closed),
            (false, false),
            "{provider}"
        );
        assert_eq!(
            after_change(provider, Rules::EgressOnly),
            (false, true),
            "{provider}"
        );
        assert_eq!(
            after_change(provider, Rules::IngressOnly),
            (true, false),
            "{provider}"
        );
    }
}

/// A connection from `peer` to `srv`:443, then a change: `rules` at the server, the peer's
/// egress closed when `!peer_egress`. Returns whether the reply still passes.
fn between_endpoints_after(provider: Provider, rules: Rules, peer_egress: bool) -> bool {
    let before = scenario(provider, Rules::Open, true);
    let after = scenario(provider, rules, peer_egress);
    let mut t = Tracker::new(provider, 100);
    let flow = process(&mut t, &before, &tcp(PEER, 40000, SRV, 443));
    assert_eq!(flow.verdict, Verdict::Allow, "{provider}: {flow:?}");
    assert_eq!(flow.hops.len(), 2);
    let reply = tcp(SRV, 443, PEER, 40000);
    let back = process(&mut t, &before, &reply);
    assert!(established(&back) && back.hops.len() == 2, "{provider}");
    t.rules_changed(&after, &reference::Evaluator::new(&after));
    process(&mut t, &after, &reply).verdict == Verdict::Allow
}

#[test]
fn a_connection_between_two_endpoints_is_cut_when_the_receiver_closes() {
    for provider in Provider::ALL {
        assert!(
            !between_endpoints_after(provider, Rules::EgressOnly, true),
            "{provider}"
        );
        assert!(between_endpoints_after(provider, Rules::Open, true), "{provider}");
    }
}

#[test]
fn when_the_sender_closes_only_huawei_keeps_the_connection() {
    assert!(between_endpoints_after(Provider::Huawei, Rules::Open, false));
    for provider in [Provider::Ecs, Provider::Ens, Provider::Gcore] {
        assert!(
            !between_endpoints_after(provider, Rules::Open, false),
            "{provider}"
        );
    }
}

#[derive(Clone, Debug)]
enum Step {
    Packet(Packet),
    Advance(u64),
}

fn step() -> impl Strategy<Value = Step> {
    let addr = prop::sample::select(vec![SRV, PEER, EXT, WEB]);
    let port = prop::sample::select(vec![22u16, 53, 80, 443, 1000, 1001]);
    let proto = prop::sample::select(vec![6u8, 17, 1, 47]);
    let packet = (
        addr.clone(),
        port.clone(),
        addr,
        port,
        proto,
        prop::sample::select(vec![0u8, 3, 8]),
    )
        .prop_map(|(s, sp, d, dp, proto, t)| {
            let mut p = Packet::new(ip(s), ip(d), proto);
            if proto == 1 {
                p = p.with_icmp(t, 0);
            } else if proto != 47 {
                p.src_port = sp;
                p.dst_port = dp;
            }
            Step::Packet(p)
        });
    prop_oneof![4 => packet, 1 => (0u64..200).prop_map(Step::Advance)]
}

proptest! {
    /// Eviction only drops state: a small table allows nothing an unbounded one does not,
    /// and every allow is either the rules' own or a live connection's.
    #[test]
    fn a_small_table_never_allows_what_an_unbounded_one_denies(
        provider in prop::sample::select(Provider::ALL.to_vec()),
        capacity in 0usize..4,
        steps in prop::collection::vec(step(), 1..80),
    ) {
        let cloud = scenario(provider, Rules::Open, true);
        let engine = reference::Evaluator::new(&cloud);
        let mut small = Tracker::new(provider, capacity);
        let mut big = Tracker::new(provider, 1 << 20);
        for s in steps {
            match s {
                Step::Advance(n) => { small.advance(n); big.advance(n); }
                Step::Packet(p) => {
                    let a = small.process(&cloud, &engine, &p);
                    let b = big.process(&cloud, &engine, &p);
                    prop_assert!(small.len() <= capacity);
                    if a.verdict == Verdict::Allow {
                        prop_assert_eq!(b.verdict, Verdict::Allow, "{}", p);
                    }
                    let rules = sgeval::flow::trace(&cloud, &engine, &p);
                    if b.verdict == Verdict::Allow && rules.verdict == Verdict::Deny {
                        prop_assert!(established(&b), "an allow the rules deny must be established: {}", p);
                    }
                }
            }
        }
    }
}
