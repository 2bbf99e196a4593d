//! The what-if queries against brute force: small random clouds of every provider, and
//! every packet of a reduced header space that still holds one packet of every
//! elementary box the rules can tell apart (addresses around every prefix edge the
//! generator uses, ports around every range edge, every kind of protocol). Each answer is
//! checked packet by packet against `reference::Evaluator` through `flow::trace`.
//!
//! Case counts are moderate; set `PROPTEST_CASES` to run more.

use std::net::IpAddr;

use ipnet::IpNet;
use proptest::prelude::*;
use sgeval::group::{AddressEntry, GroupKind, InnerPolicy};
use sgeval::query::testkit::{self, Builder};
use sgeval::query::{self, Mode, Query, Side};
use sgeval::rule::{IcmpMatch, PortRange};
use sgeval::{
    flow, reference, Action, Cloud, ConnState, Direction, Family, Options, Packet, Ports, Provider, Remote,
    Verdict,
};
use smallvec::smallvec;

// ---------- the generator ----------

const V4_ADDRS: [&str; 4] = ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3"];
const V6_ADDRS: [&str; 4] = ["2001:db8::", "2001:db8::1", "2001:db8::2", "2001:db8::3"];
const V4_NETS: [&str; 7] = [
    "0.0.0.0/0",
    "10.0.0.0/8",
    "10.0.0.0/30",
    "10.0.0.0/31",
    "10.0.0.2/31",
    "10.0.0.1/32",
    "10.0.0.2/32",
];
const V6_NETS: [&str; 7] = [
    "::/0",
    "2001:db8::/32",
    "2001:db8::/126",
    "2001:db8::/127",
    "2001:db8::2/127",
    "2001:db8::1/128",
    "2001:db8::2/128",
];
/// One address in every elementary interval the nets and addresses above delimit.
const V4_SAMPLES: [&str; 7] = [
    "1.1.1.1", "10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "11.0.0.0",
];
const V6_SAMPLES: [&str; 7] = [
    "::1",
    "2001:db8::",
    "2001:db8::1",
    "2001:db8::2",
    "2001:db8::3",
    "2001:db8::4",
    "2001:db9::",
];

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn net(family: Family, i: u8) -> IpNet {
    let list = match family {
        Family::V4 => &V4_NETS,
        Family::V6 => &V6_NETS,
    };
    list[i as usize % list.len()].parse().unwrap()
}

fn addr(family: Family, i: u8) -> IpAddr {
    match family {
        Family::V4 => ip(V4_ADDRS[i as usize % 4]),
        Family::V6 => ip(V6_ADDRS[i as usize % 4]),
    }
}

/// A random cloud as plain bytes (so proptest can shrink it).
#[derive(Clone, Debug)]
struct Gen {
    provider: u8,
    flavour: u8,
    groups: u8,
    address_groups: Vec<[u8; 4]>,
    rules: Vec<[u8; 12]>,
    /// Owner of each universe address (4 IPv4 then 4 IPv6): endpoint 0..=2, or none.
    owners: [u8; 8],
    /// Per endpoint: which groups, and their order.
    memberships: [[u8; 2]; 3],
}

fn gen() -> impl Strategy<Value = Gen> {
    (
        any::<u8>(),
        any::<u8>(),
        1u8..=3,
        prop::collection::vec(any::<[u8; 4]>(), 0..=2),
        prop::collection::vec(any::<[u8; 12]>(), 0..=9),
        any::<[u8; 8]>(),
        any::<[[u8; 2]; 3]>(),
    )
        .prop_map(
            |(provider, flavour, groups, address_groups, rules, owners, memberships)| Gen {
                provider,
                flavour,
                groups,
                address_groups,
                rules,
                owners,
                memberships,
            },
        )
}

fn port_set(i: u8) -> Ports {
    let r = |lo, hi| PortRange { lo, hi };
    match i % 5 {
        0 => Ports::any(),
        1 => Ports(smallvec![r(1, 1)]),
        2 => Ports(smallvec![r(1, 3)]),
        3 => Ports(smallvec![r(2, 2)]),
        _ => Ports(smallvec![r(1, 1), r(3, 3)]),
    }
}

impl Gen {
    fn provider(&self) -> Provider {
        Provider::ALL[self.provider as usize % 4]
    }

    /// Builds the cloud; `provider` overrides the generated one.
    fn build_as(&self, provider: Provider) -> Cloud {
        let options = Options {
            ens_egress_default: if self.flavour & 8 == 0 {
                Verdict::Allow
            } else {
                Verdict::Deny
            },
            ..Options::default()
        };
        let mut b = Builder::new(provider, options);
        let groups: Vec<_> = (0..self.groups)
            .map(|i| {
                b.group(match provider {
                    Provider::Ecs => match self.flavour % 3 {
                        0 => GroupKind::EcsBasic {
                            inner: InnerPolicy::Accept,
                        },
                        1 => GroupKind::EcsBasic {
                            inner: if i % 2 == 0 {
                                InnerPolicy::Accept
                            } else {
                                InnerPolicy::Drop
                            },
                        },
                        _ => GroupKind::EcsEnterprise,
                    },
                    Provider::Ens => GroupKind::Ens,
                    Provider::Huawei => GroupKind::Huawei,
                    Provider::Gcore => GroupKind::Gcore,
                })
            })
            .collect();
        let ags: Vec<_> = self
            .address_groups
            .iter()
            .map(|a| {
                let family = if a[0] % 2 == 0 { Family::V4 } else { Family::V6 };
                let mut entries = Vec::new();
                for &x in &a[1..(1 + a[0] as usize / 2 % 4).min(4)] {
                    entries.push(if x % 2 == 0 {
                        AddressEntry::Net(net(family, x / 2))
                    } else {
                        let lo = x / 2 % 4;
                        let hi = lo + x / 8 % (4 - lo);
                        AddressEntry::Range(addr(family, lo), addr(family, hi))
                    });
                }
                b.address_group(family, entries)
            })
            .collect();
        let alibaba = matches!(provider, Provider::Ecs | Provider::Ens);
        for (i, r) in self.rules.iter().enumerate() {
            let mut rule = testkit::rule(if r[1] % 2 == 0 {
                Direction::Ingress
            } else {
                Direction::Egress
            });
            // A description keeps generated rules from looking like the ones a provider
            // adds by itself (which lint leaves out).
            rule.description = format!("generated rule {i}");
            rule.family = [None, Some(Family::V4), Some(Family::V6)][r[2] as usize % 3];
            rule.protocol = [None, Some(6), Some(17), Some(1), Some(58)][r[3] as usize % 5];
            rule.dst_ports = port_set(r[4]);
            if alibaba {
                rule.src_ports = port_set(r[5] % 3 * 2);
            }
            if provider == Provider::Gcore {
                rule.icmp = match r[6] % 3 {
                    0 => IcmpMatch::ANY,
                    1 => IcmpMatch {
                        icmp_type: Some(0),
                        icmp_code: None,
                    },
                    _ => IcmpMatch {
                        icmp_type: Some(0),
                        icmp_code: Some(0),
                    },
                };
            }
            let net_family = match rule.family {
                Some(f) if r[9] % 5 != 0 => f,
                Some(Family::V4) => Family::V6,
                Some(Family::V6) => Family::V4,
                None => {
                    if r[9] % 2 == 0 {
                        Family::V4
                    } else {
                        Family::V6
                    }
                }
            };
            rule.remote = match r[7] % 5 {
                0 => Remote::Any,
                1 | 2 => Remote::Cidr(net(net_family, r[8])),
                3 => Remote::Group(groups[r[8] as usize % groups.len()]),
                _ if !ags.is_empty() => Remote::AddressGroup(ags[r[8] as usize % ags.len()]),
                _ => Remote::Any,
            };
            if alibaba && r[10] % 4 == 0 {
                rule.local = Some(net(net_family, r[10] / 4 + 2));
            }
            if provider == Provider::Gcore {
                rule.priority = 0;
            } else {
                rule.action = if r[11] % 2 == 0 {
                    Action::Allow
                } else {
                    Action::Deny
                };
                rule.priority = r[11] / 2 % 3 + 1;
            }
            if provider == Provider::Huawei {
                rule.enabled = r[10] / 4 % 5 != 0;
            }
            b.rule(groups[r[0] as usize % groups.len()], rule);
        }
        for e in 0..3u8 {
            let ips: Vec<IpAddr> = (0..8)
                .filter(|&i| self.owners[i] % 4 == e)
                .map(|i| {
                    if i < 4 {
                        addr(Family::V4, i as u8)
                    } else {
                        addr(Family::V6, i as u8 - 4)
                    }
                })
                .collect();
            if ips.is_empty() {
                continue;
            }
            let m = self.memberships[e as usize];
            let mut member: Vec<_> = (0..groups.len()).filter(|&i| m[0] >> i & 1 == 1).collect();
            if member.is_empty() {
                member.push(m[0] as usize % groups.len());
            }
            if m[1] % 2 == 1 {
                member.reverse();
            }
            let gs: Vec<_> = member.iter().map(|&i| groups[i]).collect();
            b.endpoint(&format!("ep{e}"), &ips, &gs).expect("valid endpoint");
        }
        b.build()
    }

    fn build(&self) -> Cloud {
        self.build_as(self.provider())
    }
}

/// Every packet of the reduced header space, both families.
fn packets(state: ConnState) -> Vec<Packet> {
    let mut out = Vec::new();
    for samples in [&V4_SAMPLES, &V6_SAMPLES] {
        for s in samples.iter() {
            for d in samples.iter() {
                for proto in [0u8, 1, 6, 17, 58, 200] {
                    let icmp = proto == 1 || proto == 58;
                    for dport in [0u16, 1, 2, 3, 65535] {
                        for sport in [0u16, 1, 2, 65535] {
                            let types: &[u8] = if icmp { &[0, 9] } else { &[0] };
                            let codes: &[u8] = if icmp { &[0, 7] } else { &[0] };
                            for &t in types {
                                for &c in codes {
                                    out.push(Packet {
                                        src: ip(s),
                                        dst: ip(d),
                                        protocol: proto,
                                        src_port: sport,
                                        dst_port: dport,
                                        icmp_type: t,
                                        icmp_code: c,
                                        state,
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

fn config(default_cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    ProptestConfig {
        cases,
        ..ProptestConfig::default()
    }
}

/// Checks a map packet by packet: each packet in exactly one region, with the verdict
/// and the hops the reference gives.
fn check_reach(
    cloud: &Cloud,
    query: &Query,
    inside: &dyn Fn(&Packet) -> bool,
) -> Result<usize, TestCaseError> {
    let map = query::reach(cloud, query).expect("sides resolve");
    let engine = reference::Evaluator::new(cloud);
    let state = if query.mode == Mode::Established {
        ConnState::Established
    } else {
        ConnState::New
    };
    let mut checked = 0;
    for p in packets(state) {
        let holding: Vec<_> = map.regions.iter().filter(|r| r.shape.contains(&p)).collect();
        if !inside(&p) {
            prop_assert!(holding.is_empty(), "{p} is outside the query but in a region");
            continue;
        }
        prop_assert_eq!(holding.len(), 1, "{} is in {} regions", p, holding.len());
        let expected = flow::trace(cloud, &engine, &p);
        let region = holding[0];
        let mut hops: Vec<_> = expected.hops.to_vec();
        if query.mode == Mode::RoundTrip {
            if let Some(e) = cloud.endpoint_by_addr(p.dst) {
                hops.push(flow::Hop {
                    endpoint: e,
                    direction: Direction::Egress,
                    decision: sgeval::Decision::ESTABLISHED,
                });
            }
            if let Some(e) = cloud.endpoint_by_addr(p.src) {
                hops.push(flow::Hop {
                    endpoint: e,
                    direction: Direction::Ingress,
                    decision: sgeval::Decision::ESTABLISHED,
                });
            }
        }
        prop_assert_eq!(region.verdict, expected.verdict, "verdict of {}", p);
        prop_assert_eq!(&region.hops, &hops, "hops of {}", p);
        checked += 1;
    }
    // The witness of every region is in it and decided as the region says.
    for r in &map.regions {
        let w = r.witness(query.mode);
        prop_assert!(r.shape.contains(&w));
        prop_assert_eq!(
            flow::trace(cloud, &engine, &w).verdict,
            r.verdict,
            "witness {}",
            w
        );
    }
    Ok(checked)
}

/// Whether an address is on a side.
type OnSide = Box<dyn Fn(&IpAddr) -> bool>;

fn side_of(cloud: &Cloud, pick: u8) -> (Side, OnSide) {
    match pick % 5 {
        0 if pick / 5 % 2 == 0 => ("any".parse().unwrap(), Box::new(|_| true)),
        0 => {
            // `internet`: every address that is no endpoint's.
            let taken: Vec<IpAddr> = cloud.endpoints().iter().flat_map(|e| e.ips.clone()).collect();
            ("internet".parse().unwrap(), Box::new(move |a| !taken.contains(a)))
        }
        1 if !cloud.endpoints().is_empty() => {
            let e = &cloud.endpoints()[pick as usize / 4 % cloud.endpoints().len()];
            let ips = e.ips.clone();
            (e.name.parse().unwrap(), Box::new(move |a| ips.contains(a)))
        }
        4 => {
            let n4 = net(Family::V4, pick / 5);
            let n6 = net(Family::V6, pick / 5 + 2);
            (
                format!("any,!{n4},!{n6}").parse().unwrap(),
                Box::new(move |a| !n4.contains(a) && !n6.contains(a)),
            )
        }
        _ => {
            let n4 = net(Family::V4, pick / 4);
            let n6 = net(Family::V6, pick / 4 + 1);
            (
                format!("{n4},{n6}").parse().unwrap(),
                Box::new(move |a| n4.contains(a) || n6.contains(a)),
            )
        }
    }
}

proptest! {
    #![proptest_config(config(40))]

    #[test]
    fn reach_matches_the_reference_on_every_packet(g in gen(), mode in 0u8..3, sides in any::<[u8; 2]>()) {
        let cloud = g.build();
        let mode = [Mode::New, Mode::Established, Mode::RoundTrip][mode as usize];
        let (from, in_from) = side_of(&cloud, sides[0]);
        let (to, in_to) = side_of(&cloud, sides[1]);
        let query = Query::new(from, to).with_mode(mode);
        check_reach(&cloud, &query, &|p| in_from(&p.src) && in_to(&p.dst))?;
    }

    #[test]
    fn diff_reports_exactly_the_packets_whose_verdict_changes(
        old in gen(), new in gen(), same_provider in any::<bool>(), round_trip in any::<bool>()
    ) {
        let old_cloud = old.build();
        // The new configuration keeps the old endpoints (names and addresses).
        let mut new = new;
        new.owners = old.owners;
        new.memberships = old.memberships;
        new.groups = old.groups;
        let new_cloud = new.build_as(if same_provider { old.provider() } else { new.provider() });
        let mode = if round_trip { Mode::RoundTrip } else { Mode::New };
        let d = query::diff(&old_cloud, &new_cloud, &query::diff::everything().with_mode(mode)).unwrap();
        let (eo, en) = (reference::Evaluator::new(&old_cloud), reference::Evaluator::new(&new_cloud));
        for p in packets(ConnState::New) {
            let before = flow::trace(&old_cloud, &eo, &p);
            let after = flow::trace(&new_cloud, &en, &p);
            let holding: Vec<_> = d.changes.iter().filter(|c| c.shape.contains(&p)).collect();
            if before.verdict == after.verdict {
                prop_assert!(holding.is_empty(), "{} changes nothing but is reported", p);
                continue;
            }
            prop_assert_eq!(holding.len(), 1, "{} changes but is in {} changes", p, holding.len());
            let c = holding[0];
            prop_assert_eq!((c.before, c.after), (before.verdict, after.verdict), "{}", p);
            prop_assert_eq!(&c.before_hops[..before.hops.len()], &before.hops[..], "{}", p);
            prop_assert_eq!(&c.after_hops[..after.hops.len()], &after.hops[..], "{}", p);
        }
        // A cloud never differs from itself.
        prop_assert!(query::diff(&old_cloud, &old_cloud, &query::diff::everything()).unwrap().is_equivalent());
    }
}

// ---------- lint ----------

/// The reference's matching, written out again (remote, local and header fields).
fn rule_matches(cloud: &Cloud, rule: &sgeval::Rule, direction: Direction, p: &Packet) -> bool {
    let (remote, local) = match direction {
        Direction::Ingress => (p.src, p.dst),
        Direction::Egress => (p.dst, p.src),
    };
    let remote_ok = match &rule.remote {
        Remote::Any => true,
        Remote::Cidr(n) => n.contains(&remote),
        Remote::Group(g) => cloud.members(*g).any(|m| m.ips.contains(&remote)),
        Remote::AddressGroup(a) => cloud.address_group(*a).is_some_and(|ag| ag.contains(&remote)),
    };
    rule.enabled
        && rule.direction == direction
        && rule.matches_header(p)
        && rule.local.is_none_or(|n| n.contains(&local))
        && remote_ok
}

/// Every packet of the reduced space at one endpoint, direction and family.
fn hop_packets(cloud: &Cloud, e: sgeval::EndpointKey, direction: Direction, family: Family) -> Vec<Packet> {
    let ep = cloud.endpoint(e).unwrap();
    let remotes: Vec<IpAddr> = match family {
        Family::V4 => V4_SAMPLES.iter().map(|s| ip(s)).collect(),
        Family::V6 => V6_SAMPLES.iter().map(|s| ip(s)).collect(),
    };
    let alibaba = matches!(cloud.provider(), Provider::Ecs | Provider::Ens);
    let gcore = cloud.provider() == Provider::Gcore;
    let mut out = Vec::new();
    for &local in ep.ips.iter().filter(|a| Family::of(a) == family) {
        for &remote in &remotes {
            let (src, dst) = match direction {
                Direction::Ingress => (remote, local),
                Direction::Egress => (local, remote),
            };
            for proto in [0u8, 1, 6, 17, 58] {
                let icmp = proto == 1 || proto == 58;
                for dport in [0u16, 1, 2, 3, 65535] {
                    let sports: &[u16] = if alibaba { &[0, 1, 2, 65535] } else { &[0] };
                    for &sport in sports {
                        let types: &[u8] = if icmp && gcore { &[0, 9] } else { &[0] };
                        let codes: &[u8] = if icmp && gcore { &[0, 7] } else { &[0] };
                        for &t in types {
                            for &c in codes {
                                out.push(Packet {
                                    src,
                                    dst,
                                    protocol: proto,
                                    src_port: sport,
                                    dst_port: dport,
                                    icmp_type: t,
                                    icmp_code: c,
                                    state: ConnState::New,
                                });
                            }
                        }
                    }
                }
            }
        }
    }
    out
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn lint_findings_agree_with_brute_force(g in gen()) {
        use sgeval::query::FindingKind;
        let cloud = g.build();
        let findings = query::lint(&cloud);
        let engine = reference::Evaluator::new(&cloud);
        let reported = |kind: FindingKind, r: sgeval::RuleRef, e: sgeval::EndpointKey, d: Direction| {
            findings.iter().any(|f| {
                f.kind == kind
                    && f.rule == Some(r)
                    && (f.endpoints.is_empty() || (f.endpoints.contains(&e) && f.direction == Some(d)))
            })
        };
        for (e, ep) in cloud.endpoint_keys().zip(cloud.endpoints()) {
            for d in Direction::ALL {
                let fams: Vec<Family> = [Family::V4, Family::V6]
                    .into_iter()
                    .filter(|f| ep.ips.iter().any(|a| Family::of(a) == *f))
                    .collect();
                let pkts: Vec<Packet> = fams.iter().flat_map(|&f| hop_packets(&cloud, e, d, f)).collect();
                let base: Vec<_> = pkts.iter().map(|p| engine.evaluate(e, d, p)).collect();
                for &gk in &ep.groups {
                    for rule in &cloud.group(gk).unwrap().rules {
                        let r = sgeval::RuleRef { group: gk, rule: rule.key };
                        if rule.direction != d {
                            continue;
                        }
                        let lives = pkts.iter().any(|p| rule_matches(&cloud, rule, d, p));
                        let decides = base.iter().any(|dec| dec.reason == sgeval::Reason::Rule(r));
                        let mut without = cloud.clone();
                        testkit::remove_rule(&mut without, r);
                        let ew = reference::Evaluator::new(&without);
                        let changes = pkts
                            .iter()
                            .zip(&base)
                            .any(|(p, dec)| ew.evaluate(e, d, p).verdict != dec.verdict);
                        let shadowed = reported(FindingKind::Shadowed, r, e, d);
                        let redundant = reported(FindingKind::Redundant, r, e, d);
                        let nothing = reported(FindingKind::MatchNothing, r, e, d);
                        prop_assert!(!(lives && nothing), "{} matches packets but is reported as matching nothing", rule);
                        prop_assert_eq!(shadowed, lives && !decides, "shadowed {} at {}", rule, ep.name);
                        prop_assert_eq!(redundant, decides && !changes, "redundant {} at {}", rule, ep.name);
                    }
                }
            }
        }
        for f in findings.iter().filter(|f| f.kind == FindingKind::Conflict) {
            let w = f.witness.expect("a conflict has a witness");
            let e = f.endpoints[0];
            let d = f.direction.unwrap();
            let loser = cloud.rule(f.rule.unwrap()).unwrap();
            prop_assert!(rule_matches(&cloud, loser, d, &w), "the losing rule matches the witness");
            let decision = engine.evaluate(e, d, &w);
            prop_assert_eq!(decision.reason, f.related[0], "the winner decides the witness");
            prop_assert_ne!(decision.verdict, Verdict::from(loser.action));
        }
    }
}

// ---------- explain ----------

/// Whether `field` is the first field `rule` fails for `p`, in the documented order.
fn first_failing_is(
    cloud: &Cloud,
    rule: &sgeval::Rule,
    d: Direction,
    p: &Packet,
    field: query::explain::Field,
) -> bool {
    use query::explain::Field as F;
    let local = match d {
        Direction::Ingress => p.dst,
        Direction::Egress => p.src,
    };
    let checks: [(F, bool); 9] = [
        (F::Disabled, rule.enabled),
        (F::Direction, rule.direction == d),
        (F::Family, rule.family.is_none_or(|f| Some(f) == p.family())),
        (F::Protocol, rule.protocol.is_none_or(|x| x == p.protocol)),
        (F::Port, rule.dst_ports.contains(p.dst_port)),
        (F::SourcePort, rule.src_ports.contains(p.src_port)),
        (
            F::Icmp,
            !p.is_icmp() || rule.icmp.matches(p.icmp_type, p.icmp_code),
        ),
        (F::RemoteAddress, {
            let mut only_remote = rule.clone();
            only_remote.local = None;
            only_remote.enabled = true;
            only_remote.direction = d;
            only_remote.family = None;
            only_remote.protocol = None;
            only_remote.dst_ports = Ports::any();
            only_remote.src_ports = Ports::any();
            only_remote.icmp = IcmpMatch::ANY;
            rule_matches(cloud, &only_remote, d, p)
        }),
        (F::LocalAddress, rule.local.is_none_or(|n| n.contains(&local))),
    ];
    match checks.iter().position(|(_, ok)| !ok) {
        Some(i) => checks[i].0 == field,
        None => false,
    }
}

proptest! {
    #![proptest_config(config(48))]

    #[test]
    fn why_names_each_other_rule_and_its_first_failing_field(g in gen(), stride in 1usize..40) {
        use query::explain::{why, Why};
        let cloud = g.build();
        let engine = reference::Evaluator::new(&cloud);
        for (e, ep) in cloud.endpoint_keys().zip(cloud.endpoints()) {
            let total: usize = ep.groups.iter().map(|g| cloud.group(*g).unwrap().rules.len()).sum();
            for d in Direction::ALL {
                for fam in [Family::V4, Family::V6] {
                    for p in hop_packets(&cloud, e, d, fam).into_iter().step_by(stride) {
                        let decision = engine.evaluate(e, d, &p);
                        let misses = why(&cloud, e, d, &p);
                        let decided_by_rule = matches!(decision.reason, sgeval::Reason::Rule(_));
                        prop_assert_eq!(misses.len(), total - usize::from(decided_by_rule));
                        for m in &misses {
                            let rule = cloud.rule(m.rule).unwrap();
                            match m.why {
                                Why::Outranked => prop_assert!(rule_matches(&cloud, rule, d, &p), "{} outranked but fails {}", rule, p),
                                Why::Failed { field } => prop_assert!(
                                    first_failing_is(&cloud, rule, d, &p, field),
                                    "{} for {}: {:?}", rule, p, field
                                ),
                                Why::NotConsulted => prop_assert!(false, "new packets consult rules"),
                            }
                        }
                        // An established packet consults no rule.
                        let est = p.with_state(ConnState::Established);
                        prop_assert!(why(&cloud, e, d, &est).iter().all(|m| m.why == Why::NotConsulted));
                    }
                }
            }
        }
    }

    #[test]
    fn fix_flips_the_verdict_with_one_rule(g in gen(), stride in 1usize..40) {
        use query::explain::Edit;
        let cloud = g.build();
        let engine = reference::Evaluator::new(&cloud);
        for e in cloud.endpoint_keys() {
            for d in Direction::ALL {
                for fam in [Family::V4, Family::V6] {
                    for p in hop_packets(&cloud, e, d, fam).into_iter().step_by(stride) {
                        let before = engine.evaluate(e, d, &p);
                        let mut removal_flips = false;
                        if let sgeval::Reason::Rule(r) = before.reason {
                            let rule = cloud.rule(r).unwrap();
                            // ENS's revoke call names IPv4 CIDR rules without a local prefix only.
                            let ens_unsayable = cloud.provider() == Provider::Ens
                                && (fam == Family::V6
                                    || rule.local.is_some()
                                    || !matches!(rule.remote, Remote::Cidr(_))
                                    || rule.protocol.is_some_and(|p| ![1, 6, 17, 47].contains(&p)));
                            let mut c = cloud.clone();
                            testkit::remove_rule(&mut c, r);
                            removal_flips = !ens_unsayable
                                && reference::Evaluator::new(&c).evaluate(e, d, &p).verdict != before.verdict;
                        }
                        let port_zero = (p.protocol == 6 || p.protocol == 17) && p.dst_port == 0;
                        let fallback = matches!(before.reason, sgeval::Reason::Default { .. });
                        let gcore_deny = cloud.provider() == Provider::Gcore && before.verdict == Verdict::Allow;
                        // ENS's single-rule calls take IPv4 addresses only (E3).
                        let ens_v6 = cloud.provider() == Provider::Ens && fam == Family::V6;
                        match testkit::fix_without_replay(&cloud, e, d, &p) {
                            None => {
                                prop_assert!(!removal_flips, "removing the decider flips {} but no fix", p);
                                prop_assert!(!fallback || port_zero || gcore_deny || ens_v6, "a default decides {} but no fix", p);
                            }
                            Some(f) => {
                                let mut c = cloud.clone();
                                match &f.change {
                                    Edit::Add { group, rule } => {
                                        let mut rule = (**rule).clone();
                                        rule.id.clear();
                                        testkit::add_rule(&mut c, *group, rule);
                                    }
                                    Edit::Remove { rule } => testkit::remove_rule(&mut c, *rule),
                                }
                                let after = reference::Evaluator::new(&c).evaluate(e, d, &p);
                                prop_assert_ne!(after.verdict, before.verdict, "fix {} does not flip {}", f.summary, p);
                                prop_assert_eq!(after.verdict, f.after.verdict);
                                prop_assert!(f.call_json()["api"].is_string());
                            }
                        }
                    }
                }
            }
        }
        // Flow fixes flip the flow.
        for p in packets(ConnState::New).into_iter().step_by(97) {
            if let Some((_, _, f)) = testkit::fix_flow_without_replay(&cloud, &p) {
                let mut c = cloud.clone();
                match &f.change {
                    Edit::Add { group, rule } => { testkit::add_rule(&mut c, *group, (**rule).clone()); }
                    Edit::Remove { rule } => testkit::remove_rule(&mut c, *rule),
                }
                let b = flow::trace(&cloud, &engine, &p).verdict;
                let a = flow::trace(&c, &reference::Evaluator::new(&c), &p).verdict;
                prop_assert_ne!(a, b, "flow fix {} does not flip {}", f.summary, p);
            }
        }
    }
}

// ---------- pinned behaviour ----------

fn tcp_from(src: &str, dst: &str, port: u16) -> Packet {
    Packet::tcp(ip(src), ip(dst), port)
}

fn one_endpoint(
    provider: Provider,
    kinds: &[GroupKind],
    rules: &[(usize, sgeval::Rule)],
) -> (Cloud, sgeval::EndpointKey, Vec<sgeval::GroupKey>) {
    let mut b = Builder::new(provider, Options::default());
    let groups: Vec<_> = kinds.iter().map(|k| b.group(*k)).collect();
    for (g, r) in rules {
        b.rule(groups[*g], r.clone());
    }
    let e = b.endpoint("vm", &[ip("10.0.0.5")], &groups).unwrap();
    (b.build(), e, groups)
}

fn ingress(action: Action, priority: u8, port: u16, cidr: &str) -> sgeval::Rule {
    let mut r = testkit::rule(Direction::Ingress);
    r.protocol = Some(6);
    r.dst_ports = Ports::range(PortRange { lo: port, hi: port });
    r.remote = Remote::Cidr(cidr.parse().unwrap());
    r.action = action;
    r.priority = priority;
    r.family = Some(Family::V4);
    r
}

#[test]
fn fix_outranks_the_decider_by_the_least_it_can() {
    use query::explain::Edit;
    let basic = GroupKind::EcsBasic {
        inner: InnerPolicy::Accept,
    };
    let p = tcp_from("203.0.113.9", "10.0.0.5", 22);
    // ECS: a drop at priority 5 decides; an accept at priority 4 beats it.
    let (cloud, e, groups) = one_endpoint(
        Provider::Ecs,
        &[basic],
        &[(0, ingress(Action::Deny, 5, 22, "0.0.0.0/0"))],
    );
    let f = testkit::fix_without_replay(&cloud, e, Direction::Ingress, &p).unwrap();
    match &f.change {
        Edit::Add { group, rule } => {
            assert_eq!(
                (*group, rule.priority, rule.action),
                (groups[0], 4, Action::Allow)
            );
            assert_eq!(rule.remote, Remote::Cidr("203.0.113.9/32".parse().unwrap()));
            assert_eq!(rule.dst_ports, Ports::range(PortRange::single(22)));
        }
        other => panic!("{other:?}"),
    }
    // ECS: an accept at priority 7 decides; a drop at the same priority wins the tie.
    let (cloud, e, _) = one_endpoint(
        Provider::Ecs,
        &[basic],
        &[(0, ingress(Action::Allow, 7, 22, "0.0.0.0/0"))],
    );
    let f = testkit::fix_without_replay(&cloud, e, Direction::Ingress, &p).unwrap();
    assert!(matches!(&f.change, Edit::Add { rule, .. } if rule.priority == 7 && rule.action == Action::Deny));
    // ECS: a drop at priority 1 cannot be outranked: remove it, when an accept below
    // then decides; with nothing below, the default denies anyway and there is no fix.
    let drop1 = ingress(Action::Deny, 1, 22, "0.0.0.0/0");
    let accept10 = ingress(Action::Allow, 10, 22, "0.0.0.0/0");
    let (cloud, e, _) = one_endpoint(Provider::Ecs, &[basic], &[(0, drop1.clone()), (0, accept10)]);
    let f = testkit::fix_without_replay(&cloud, e, Direction::Ingress, &p).unwrap();
    assert!(matches!(f.change, Edit::Remove { .. }));
    let (cloud, e, _) = one_endpoint(Provider::Ecs, &[basic], &[(0, drop1)]);
    assert!(testkit::fix_without_replay(&cloud, e, Direction::Ingress, &p).is_none());
    // ECS default: an accept at the lowest priority, in the first group.
    let (cloud, e, groups) = one_endpoint(Provider::Ecs, &[basic, basic], &[]);
    let f = testkit::fix_without_replay(&cloud, e, Direction::Ingress, &p).unwrap();
    assert!(matches!(&f.change, Edit::Add { group, rule } if *group == groups[0] && rule.priority == 100));
    // Huawei: a priority-1 deny in the second group: an allow in the first group wins.
    let hw = [GroupKind::Huawei, GroupKind::Huawei];
    let (cloud, e, groups) = one_endpoint(
        Provider::Huawei,
        &hw,
        &[(1, ingress(Action::Deny, 1, 22, "0.0.0.0/0"))],
    );
    let f = testkit::fix_without_replay(&cloud, e, Direction::Ingress, &p).unwrap();
    assert!(matches!(&f.change, Edit::Add { group, rule } if *group == groups[0] && rule.priority == 100));
    // Huawei: an allow at priority 10: a deny at priority 10 in the same group goes first.
    let (cloud, e, groups) = one_endpoint(
        Provider::Huawei,
        &hw,
        &[(1, ingress(Action::Allow, 10, 22, "0.0.0.0/0"))],
    );
    let f = testkit::fix_without_replay(&cloud, e, Direction::Ingress, &p).unwrap();
    assert!(
        matches!(&f.change, Edit::Add { group, rule } if *group == groups[1] && rule.priority == 10 && rule.action == Action::Deny)
    );
    // Gcore: one allowing rule is removed; two cannot be undone by one change.
    let g = [GroupKind::Gcore];
    let mut allow = ingress(Action::Allow, 0, 22, "0.0.0.0/0");
    allow.description = "a".into();
    let (cloud, e, _) = one_endpoint(Provider::Gcore, &g, &[(0, allow.clone())]);
    let f = testkit::fix_without_replay(&cloud, e, Direction::Ingress, &p).unwrap();
    assert!(matches!(f.change, Edit::Remove { .. }));
    let mut other = ingress(Action::Allow, 0, 22, "203.0.113.0/24");
    other.description = "b".into();
    let (cloud, e, _) = one_endpoint(Provider::Gcore, &g, &[(0, allow), (0, other)]);
    assert!(testkit::fix_without_replay(&cloud, e, Direction::Ingress, &p).is_none());
    // ECS intra-group policy: no rule outranks it.
    let mut b = Builder::new(Provider::Ecs, Options::default());
    let g = b.group(basic);
    let e = b.endpoint("a", &[ip("10.0.0.5")], &[g]).unwrap();
    b.endpoint("b", &[ip("10.0.0.6")], &[g]).unwrap();
    let cloud = b.build();
    let p = tcp_from("10.0.0.6", "10.0.0.5", 22);
    assert!(testkit::fix_without_replay(&cloud, e, Direction::Ingress, &p).is_none());
}

#[test]
fn exposure_counts_the_addresses_that_reach_a_port() {
    let basic = GroupKind::EcsBasic {
        inner: InnerPolicy::Accept,
    };
    let (cloud, _, _) = one_endpoint(
        Provider::Ecs,
        &[basic],
        &[
            (0, ingress(Action::Allow, 1, 22, "198.51.100.0/24")),
            (0, ingress(Action::Deny, 1, 22, "198.51.100.128/25")),
        ],
    );
    // (The endpoint itself is left out: ECS lets a group's members reach each other.)
    let mut q = Query::new("0.0.0.0/0,!10.0.0.5".parse().unwrap(), "vm".parse().unwrap());
    q.restrict.protocols = Some(query::Ranges::single(6));
    q.restrict.dst_ports = Some(query::Ranges::single(22));
    let map = query::reach(&cloud, &q).unwrap();
    let allow: Vec<_> = map
        .exposure()
        .into_iter()
        .filter(|e| e.verdict == Verdict::Allow)
        .collect();
    // The drop wins the tie for the upper half: 128 addresses can open tcp/22.
    assert_eq!(allow.len(), 1);
    assert_eq!(allow[0].src_addresses, 128);
    assert_eq!(map.with_verdict(Verdict::Allow).count(), 1);
}

#[test]
fn lint_reports_rule_counts_past_the_quota() {
    let mut b = Builder::new(Provider::Ecs, Options::default());
    let groups: Vec<_> = (0..2)
        .map(|_| {
            b.group(GroupKind::EcsBasic {
                inner: InnerPolicy::Accept,
            })
        })
        .collect();
    for (i, &g) in groups.iter().enumerate() {
        for port in 1..=(if i == 0 { 201 } else { 200 }) {
            b.rule(g, ingress(Action::Allow, 1, port, "10.0.0.0/8"));
        }
    }
    b.endpoint("vm", &[ip("10.0.0.5")], &groups).unwrap();
    let cloud = b.build();
    let quotas: Vec<_> = query::lint(&cloud)
        .into_iter()
        .filter(|f| f.kind == query::FindingKind::Quota)
        .collect();
    // The first group has 201 rules; ECS allows 200 per group.
    assert_eq!(quotas.len(), 1, "{quotas:?}");
    assert_eq!(quotas[0].group, Some(groups[0]));
}

#[test]
fn sides_parse_names_addresses_prefixes_and_exclusions() {
    let mut b = Builder::new(Provider::Gcore, Options::default());
    let g = b.group(GroupKind::Gcore);
    b.endpoint("vm", &[ip("10.0.0.5"), ip("2001:db8::5")], &[g])
        .unwrap();
    let cloud = b.build();
    let side: Side = "vm,192.0.2.0/24,!192.0.2.128/25".parse().unwrap();
    let [v4, v6] = side.resolve(&[&cloud]).unwrap();
    assert_eq!(v4.count(), 129);
    assert_eq!(v6.count(), 1);
    assert!(matches!(
        "nosuch".parse::<Side>().unwrap().resolve(&[&cloud]),
        Err(query::QueryError::UnknownSide(_))
    ));
    assert!("".parse::<Side>().is_err());
    assert!("!10.0.0.0/8".parse::<Side>().is_err());
}
