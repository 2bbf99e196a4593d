//! The scenarios of the `evaluate` benchmark, shared with `examples/lookup_count.rs`
//! (instruction counts of the same lookups under callgrind): the endpoint `web` with ECS's
//! or Huawei's groups and rules, the referenced group `fleet`, the packets aimed at them,
//! and the `flow::trace` clouds.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde_json::{json, Value};
use sgeval::{Cloud, Packet, Scenario};

/// Groups on `web`: ECS lets a NIC join 10 (A1); Huawei 5 (H4b).
pub const ECS_GROUPS: usize = 10;
pub const HUAWEI_GROUPS: usize = 5;
pub const FLEET: usize = 5000;
pub const PACKETS: usize = 4096;

/// SplitMix64: a small deterministic generator, so every run measures the same scenario.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// What a generated rule matches, for aiming packets at it.
#[derive(Clone, Debug)]
pub struct Aim {
    pub net: Option<IpNet>,
    pub v6: bool,
    pub protocol: u8,
    pub ports: (u16, u16),
}

pub fn random_net(rng: &mut Rng, v6: bool) -> IpNet {
    if v6 {
        let lens = [16u8, 32, 48, 56, 64, 96, 112, 128];
        let len = lens[rng.below(lens.len() as u64) as usize];
        let addr = (0xfd00u128 << 112) | (u128::from(rng.next()) << 64 | u128::from(rng.next())) >> 8;
        IpNet::V6(Ipv6Net::new(Ipv6Addr::from(addr), len).expect("len").trunc())
    } else {
        let bases = [0x0a00_0000u32, 0xac10_0000, 0xc0a8_0000, rng.next() as u32];
        let base = bases[rng.below(4) as usize];
        let len = 8 + rng.below(25) as u8;
        let addr = base | (rng.next() as u32 & 0x00ff_ffff);
        IpNet::V4(Ipv4Net::new(Ipv4Addr::from(addr), len).expect("len").trunc())
    }
}

pub fn random_ports(rng: &mut Rng) -> (u16, u16) {
    const COMMON: [u16; 10] = [22, 53, 80, 443, 3306, 5432, 6379, 8080, 8443, 9000];
    match rng.below(3) {
        0 => {
            let p = COMMON[rng.below(10) as usize];
            (p, p)
        }
        1 => {
            let lo = 1 + rng.below(60000) as u16;
            (lo, lo + rng.below(2000) as u16)
        }
        _ => (1024, 65535),
    }
}

/// The members of the referenced group: how many, and how their addresses lie.
#[derive(Clone, Copy, Debug)]
pub struct Fleet {
    pub size: usize,
    /// Dense: consecutive addresses (`10.128.0.1`, ...), which collapse into a few
    /// prefixes. Sparse: scattered over `10.128.0.0/9` and `fd00:f::/64`, one classifier
    /// entry per member.
    pub sparse: bool,
}

impl Fleet {
    pub fn addrs(self, i: usize) -> (IpAddr, IpAddr) {
        if self.sparse {
            // An odd multiplier permutes the 23-bit host space: distinct members stay distinct.
            let host = (i as u32 + 1).wrapping_mul(0x0005_bd1f) & 0x007f_ffff;
            let low = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            (
                IpAddr::V4(Ipv4Addr::from(0x0a80_0000 | host)),
                IpAddr::V6(Ipv6Addr::from((0xfd00_000f_u128 << 96) | u128::from(low))),
            )
        } else {
            (
                IpAddr::V4(Ipv4Addr::new(10, 128, (i / 250) as u8, (i % 250 + 1) as u8)),
                IpAddr::V6(Ipv6Addr::new(0xfd00, 0xf, 0, 0, 0, 0, 0, i as u16 + 1)),
            )
        }
    }

    pub fn grown(self) -> Fleet {
        Fleet {
            size: self.size + 1,
            ..self
        }
    }
}

pub const WEB_V4: &str = "172.16.0.10";
pub const WEB_V6: &str = "fd00:1::10";

pub fn endpoints(fleet: Fleet, fleet_ref: &str, groups: &[String]) -> Vec<Value> {
    let mut out = vec![json!({"name": "web", "ips": [WEB_V4, WEB_V6], "groups": groups})];
    for i in 0..fleet.size {
        let (a, b) = fleet.addrs(i);
        out.push(json!({"name": format!("fleet-{i}"), "ips": [a.to_string(), b.to_string()], "groups": [fleet_ref]}));
    }
    out
}

/// The ECS scenario: 999 rules on `web`; `extra` adds the 1,000th to group 3 (for the update
/// bench).
pub fn ecs(seed: u64, fleet: Fleet, extra: bool) -> (Value, Vec<Aim>) {
    let mut rng = Rng(seed);
    let mut calls = vec![json!({"api": "CreateSecurityGroup", "ref": "fleet", "params": {
        "RegionId": "cn-hangzhou", "VpcId": "vpc-1", "SecurityGroupName": "fleet"}})];
    let mut aims = Vec::new();
    for g in 0..ECS_GROUPS {
        calls.push(
            json!({"api": "CreateSecurityGroup", "ref": format!("g{g}"), "params": {
            "RegionId": "cn-hangzhou", "VpcId": "vpc-1", "SecurityGroupName": format!("g{g}")}}),
        );
    }
    for g in 0..ECS_GROUPS {
        for egress in [false, true] {
            // Group 3 keeps room for the update bench's extra rule (ECS: at most 1,000 rules
            // across a NIC's groups).
            let count = match (egress, g) {
                (true, _) => 40,
                (false, 3) => 59,
                (false, _) => 60,
            };
            let mut perms = Vec::new();
            for i in 0..count {
                let v6 = rng.chance(30);
                let (proto, protocol) = match rng.below(20) {
                    0..=11 => ("TCP", 6),
                    12..=16 => ("UDP", 17),
                    17..=18 if v6 => ("ICMPv6", 58),
                    17..=18 => ("ICMP", 1),
                    _ => ("ALL", 0),
                };
                let ports = if protocol == 6 || protocol == 17 {
                    random_ports(&mut rng)
                } else {
                    (0, 65535)
                };
                let range = if protocol == 6 || protocol == 17 {
                    format!("{}/{}", ports.0, ports.1)
                } else {
                    "-1/-1".into()
                };
                let policy = if rng.chance(20) { "drop" } else { "accept" };
                let priority = 1 + rng.below(100);
                let mut p = json!({"IpProtocol": proto, "PortRange": range, "Policy": policy,
                    "Priority": priority.to_string()});
                let (cidr_field, group_field) = match (egress, v6) {
                    (false, false) => ("SourceCidrIp", "SourceGroupId"),
                    (false, true) => ("Ipv6SourceCidrIp", "SourceGroupId"),
                    (true, false) => ("DestCidrIp", "DestGroupId"),
                    (true, true) => ("Ipv6DestCidrIp", "DestGroupId"),
                };
                let reference = i == 0 && ((g == 0 && !egress) || (g == 1 && egress));
                let net = if reference {
                    p = json!({"IpProtocol": "TCP", "PortRange": if egress { "5432/5432" } else { "22/22" },
                        "Policy": "accept", "Priority": "1", group_field: "$fleet"});
                    None
                } else {
                    let net = random_net(&mut rng, v6);
                    p[cidr_field] = json!(net.to_string());
                    Some(net)
                };
                if !egress {
                    aims.push(Aim {
                        net,
                        v6,
                        protocol,
                        ports,
                    });
                }
                perms.push(p);
            }
            let api = if egress {
                "AuthorizeSecurityGroupEgress"
            } else {
                "AuthorizeSecurityGroup"
            };
            calls.push(
                json!({"api": api, "params": {"RegionId": "cn-hangzhou", "SecurityGroupId": format!("$g{g}"),
                "Permissions": perms}}),
            );
        }
    }
    if extra {
        calls.push(
            json!({"api": "AuthorizeSecurityGroup", "params": {"RegionId": "cn-hangzhou", "SecurityGroupId": "$g3",
            "Permissions": [{"IpProtocol": "TCP", "PortRange": "7000/7010", "SourceCidrIp": "10.1.2.0/24",
            "Policy": "drop", "Priority": "1"}]}}),
        );
    }
    let groups: Vec<String> = (0..ECS_GROUPS).map(|g| format!("$g{g}")).collect();
    let scenario =
        json!({"provider": "ecs", "calls": calls, "endpoints": endpoints(fleet, "$fleet", &groups)});
    (scenario, aims)
}

/// The Huawei scenario (50 rules per group, the quota: the 4 defaults and 46 custom ones;
/// group 3 has 45 and gets the 46th with `extra`).
pub fn huawei(seed: u64, fleet: Fleet, extra: bool) -> (Value, Vec<Aim>) {
    let mut rng = Rng(seed);
    let mut calls = vec![json!({"api": "CreateSecurityGroup", "ref": "fleet",
        "body": {"security_group": {"name": "fleet"}}})];
    let mut aims = Vec::new();
    for g in 0..HUAWEI_GROUPS {
        calls.push(json!({"api": "CreateSecurityGroup", "ref": format!("g{g}"),
            "body": {"security_group": {"name": format!("g{g}")}}}));
    }
    for g in 0..HUAWEI_GROUPS {
        // Group 3 keeps room for the update bench's extra rule.
        let custom = if g == 3 { 45 } else { 46 };
        let mut rules = Vec::new();
        for i in 0..custom {
            let egress = i % 5 >= 3;
            let v6 = rng.chance(30);
            let (proto, protocol) = match rng.below(20) {
                0..=11 => (Some("tcp"), 6),
                12..=16 => (Some("udp"), 17),
                17..=18 if v6 => (Some("icmpv6"), 58),
                17..=18 => (Some("icmp"), 1),
                _ => (None, 0),
            };
            let mut r = json!({"direction": if egress { "egress" } else { "ingress" },
                "ethertype": if v6 { "IPv6" } else { "IPv4" },
                "action": if rng.chance(20) { "deny" } else { "allow" },
                "priority": 1 + rng.below(100)});
            let mut ports = (0, 65535);
            if let Some(p) = proto {
                r["protocol"] = json!(p);
                if protocol == 6 || protocol == 17 {
                    // 1..3 non-overlapping items.
                    let mut items: Vec<(u16, u16)> = Vec::new();
                    for _ in 0..1 + rng.below(3) {
                        let (lo, hi) = random_ports(&mut rng);
                        if items.iter().all(|&(a, b)| hi < a || b < lo) {
                            items.push((lo, hi));
                        }
                    }
                    ports = items[0];
                    let text: Vec<String> = items
                        .iter()
                        .map(|&(lo, hi)| {
                            if lo == hi {
                                lo.to_string()
                            } else {
                                format!("{lo}-{hi}")
                            }
                        })
                        .collect();
                    r["multiport"] = json!(text.join(","));
                }
            }
            let reference = i == 0 && (g == 0 || g == 1);
            let net = if reference {
                r = json!({"direction": if g == 1 { "egress" } else { "ingress" }, "ethertype": "IPv4",
                    "protocol": "tcp", "multiport": if g == 1 { "5432" } else { "22" },
                    "remote_group_id": "$fleet", "action": "allow", "priority": 1});
                None
            } else {
                let net = random_net(&mut rng, v6);
                r["remote_ip_prefix"] = json!(net.to_string());
                Some(net)
            };
            if !egress {
                aims.push(Aim {
                    net,
                    v6,
                    protocol,
                    ports,
                });
            }
            rules.push(r);
        }
        calls.push(json!({"api": "BatchCreateSecurityGroupRules",
            "path": format!("/v3/p/vpc/security-groups/$g{g}/security-group-rules/batch-create"),
            "body": {"security_group_rules": rules}}));
    }
    if extra {
        calls.push(
            json!({"api": "CreateSecurityGroupRule", "body": {"security_group_rule": {
            "security_group_id": "$g3", "direction": "ingress", "protocol": "tcp", "multiport": "7000-7010",
            "remote_ip_prefix": "10.1.2.0/24", "action": "deny", "priority": 1}}}),
        );
    }
    let groups: Vec<String> = (0..HUAWEI_GROUPS).map(|g| format!("$g{g}")).collect();
    let scenario =
        json!({"provider": "huawei", "calls": calls, "endpoints": endpoints(fleet, "$fleet", &groups)});
    (scenario, aims)
}

pub fn build(scenario: &Value) -> Cloud {
    let replay = Scenario::from_value(scenario)
        .expect("bench scenario parses")
        .replay()
        .expect("bench scenario replays");
    let failures = replay.failures();
    // Random rules may now and then repeat one (refused as a duplicate); keep the rest.
    assert!(
        failures.len() <= 3,
        "{} bench calls failed: {:?}",
        failures.len(),
        failures.first()
    );
    assert!(replay.endpoint_error.is_none(), "{:?}", replay.endpoint_error);
    replay.cloud
}

/// Ingress packets to `web` of one family: a quarter from fleet members, half aimed at a
/// rule (an address in its prefix, its protocol, a port in its range), the rest random.
pub fn packets(aims: &[Aim], fleet: Fleet, v6: bool, seed: u64) -> Vec<Packet> {
    let mut rng = Rng(seed);
    let aims: Vec<&Aim> = aims.iter().filter(|a| a.v6 == v6).collect();
    let dst: IpAddr = (if v6 { WEB_V6 } else { WEB_V4 }).parse().expect("web");
    (0..PACKETS)
        .map(|_| {
            let random_addr = |rng: &mut Rng| -> IpAddr {
                if v6 {
                    IpAddr::V6(Ipv6Addr::from((0xfd00u128 << 112) | u128::from(rng.next())))
                } else {
                    IpAddr::V4(Ipv4Addr::from(rng.next() as u32))
                }
            };
            let (mut protocol, mut port) = ([6u8, 17, 1][rng.below(3) as usize], rng.below(65536) as u16);
            if v6 && protocol == 1 {
                protocol = 58;
            }
            let src = match rng.below(4) {
                0 => {
                    let (a, b) = fleet.addrs(rng.below(fleet.size as u64) as usize);
                    port = 22;
                    protocol = 6;
                    if v6 {
                        b
                    } else {
                        a
                    }
                }
                1 | 2 if !aims.is_empty() => {
                    let aim = aims[rng.below(aims.len() as u64) as usize];
                    if aim.protocol != 0 {
                        protocol = aim.protocol;
                    }
                    port = aim.ports.0 + rng.below(u64::from(aim.ports.1 - aim.ports.0) + 1) as u16;
                    match aim.net {
                        Some(IpNet::V4(n)) => {
                            let host = rng.next() as u32 & !u32::from(n.netmask());
                            IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) | host))
                        }
                        Some(IpNet::V6(n)) => {
                            let host = (u128::from(rng.next()) << 64 | u128::from(rng.next()))
                                & !u128::from(n.netmask());
                            IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) | host))
                        }
                        None => random_addr(&mut rng),
                    }
                }
                _ => random_addr(&mut rng),
            };
            let mut p = Packet::new(src, dst, protocol);
            if protocol == 1 || protocol == 58 {
                p = p.with_icmp(8, 0);
            } else {
                p.dst_port = port;
                p.src_port = 32768 + rng.below(28000) as u16;
            }
            p
        })
        .collect()
}

/// The `flow::trace` cloud: `n` endpoints of one ECS group (a few rules, no group
/// reference, so every evaluation costs the same), and packets between the first `hot` of
/// them (two hops) and from an outside address (one hop), on mixed ports. The draws depend
/// on `hot` alone, so `trace_cloud(100_000, 10)` has `trace_cloud(10, 10)`'s very packets:
/// the two differ in the size of the address map, not in what the packets touch of it.
pub fn trace_cloud(n: usize, hot: usize) -> (Cloud, Vec<Packet>) {
    let hot = hot.clamp(1, n.max(1));
    let scenario = json!({"provider": "ecs", "calls": [
        {"api": "CreateSecurityGroup", "ref": "g", "params": {
            "RegionId": "cn-hangzhou", "VpcId": "vpc-1", "SecurityGroupName": "trace"}},
        {"api": "AuthorizeSecurityGroup", "params": {"RegionId": "cn-hangzhou",
            "SecurityGroupId": "$g", "IpProtocol": "TCP", "PortRange": "22/22",
            "SourceCidrIp": "10.0.0.0/8", "Priority": "1"}},
        {"api": "AuthorizeSecurityGroup", "params": {"RegionId": "cn-hangzhou",
            "SecurityGroupId": "$g", "IpProtocol": "TCP", "PortRange": "443/443",
            "SourceCidrIp": "0.0.0.0/0", "Priority": "2"}}
    ]});
    let mut cloud = build(&scenario);
    let g = cloud.groups().next().expect("group g").id.clone();
    let addr = |i: usize| IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i as u32 + 1)));
    for i in 0..n {
        cloud
            .attach(&format!("ep-{i}"), &[addr(i)], std::slice::from_ref(&g))
            .expect("attach");
    }
    let mut rng = Rng(3);
    let packets: Vec<Packet> = (0..PACKETS)
        .map(|k| {
            let dst = addr(rng.below(hot as u64) as usize);
            let src = if k % 4 == 0 {
                IpAddr::V4(Ipv4Addr::from(0xc633_6400 | (rng.next() as u32 & 0xff)))
            } else {
                addr(rng.below(hot as u64) as usize)
            };
            Packet::tcp(src, dst, [22, 443, 80][rng.below(3) as usize])
        })
        .collect();
    (cloud, packets)
}

/// The lookup shapes of the benchmark: ECS sparse, Huawei sparse, ECS dense, each with its
/// name, its cloud, `web`'s packets (IPv4, IPv6) and the key of `web`.
pub fn lookup_shapes() -> Vec<(String, Cloud, [Vec<Packet>; 2])> {
    type Make = fn(u64, Fleet, bool) -> (Value, Vec<Aim>);
    let dense = Fleet {
        size: FLEET,
        sparse: false,
    };
    let sparse = Fleet {
        size: FLEET,
        sparse: true,
    };
    let shapes: [(&str, Make, Fleet); 3] = [
        ("ecs-sparse", ecs, sparse),
        ("huawei-sparse", huawei, sparse),
        ("ecs-dense", ecs, dense),
    ];
    shapes
        .into_iter()
        .map(|(name, make, fleet)| {
            let (scenario, aims) = make(7, fleet, false);
            let cloud = build(&scenario);
            let packets = [packets(&aims, fleet, false, 11), packets(&aims, fleet, true, 11)];
            (name.to_string(), cloud, packets)
        })
        .collect()
}

/// Groups of the lists [`other_lists`] adds (with `fleet` and `web`'s ten, 99 groups: an
/// ECS region holds 100 at most).
pub const OTHER_GROUPS: usize = 88;

/// ECS `calls` and `endpoints` with `others` endpoints more, each in its own pair of
/// [`OTHER_GROUPS`] groups, which no rule names: lists that take no part in a change of
/// `fleet` or `web`'s groups. Group `o`'s ingress permissions are `rules(o)`, asked in the
/// groups' order. Addresses from 172.20.0.0/16.
pub fn other_lists(
    calls: &mut Vec<Value>,
    endpoints: &mut Vec<Value>,
    others: usize,
    mut rules: impl FnMut(usize) -> Vec<Value>,
) {
    let pairs: Vec<(usize, usize)> = (0..OTHER_GROUPS)
        .flat_map(|a| (a + 1..OTHER_GROUPS).map(move |b| (a, b)))
        .take(others)
        .collect();
    let made = pairs.iter().map(|p| p.1 + 1).max().unwrap_or(0);
    for o in 0..made {
        calls.push(
            json!({"api": "CreateSecurityGroup", "ref": format!("o{o}"), "params": {
            "RegionId": "cn-hangzhou", "VpcId": "vpc-1", "SecurityGroupName": format!("o{o}")}}),
        );
        calls.push(
            json!({"api": "AuthorizeSecurityGroup", "params": {"RegionId": "cn-hangzhou",
            "SecurityGroupId": format!("$o{o}"), "Permissions": rules(o)}}),
        );
    }
    for (o, (a, b)) in pairs.into_iter().enumerate() {
        let ip = std::net::Ipv4Addr::from(0xac14_0000 | o as u32);
        endpoints.push(json!({"name": format!("other-{o}"), "ips": [ip.to_string()],
            "groups": [format!("$o{a}"), format!("$o{b}")]}));
    }
}

/// `scenario` (ECS) with [`other_lists`], each group's five rules allowing TCP 8000-8004
/// from a /24 of its own.
pub fn with_other_lists(scenario: &mut Value, others: usize) {
    add_lists(scenario, others, |o| {
        (0..5)
            .map(|r| {
                json!({"IpProtocol": "TCP", "PortRange": format!("{0}/{0}", 8000 + r), "Policy": "accept",
                    "Priority": "1", "SourceCidrIp": format!("10.{o}.{r}.0/24")})
            })
            .collect()
    });
}

/// `scenario` (ECS) with [`other_lists`] that reference `fleet`: each group allows SSH from
/// `fleet`'s members, then TCP 8001-8004 from a /24 of its own, so that every one of the
/// `others` lists has tables that name `fleet` (a member joining `fleet` should not cost
/// more for them).
pub fn with_referencing_lists(scenario: &mut Value, others: usize) {
    add_lists(scenario, others, |o| {
        let mut rules = vec![
            json!({"IpProtocol": "TCP", "PortRange": "22/22", "Policy": "accept",
            "Priority": "1", "SourceGroupId": "$fleet"}),
        ];
        rules.extend((1..5).map(|r| {
            json!({"IpProtocol": "TCP", "PortRange": format!("{0}/{0}", 8000 + r), "Policy": "accept",
                "Priority": "1", "SourceCidrIp": format!("10.{o}.{r}.0/24")})
        }));
        rules
    });
}

/// `scenario` (ECS) with [`other_lists`] of group rules `rules`.
fn add_lists(scenario: &mut Value, others: usize, rules: impl FnMut(usize) -> Vec<Value>) {
    let mut calls = std::mem::take(&mut scenario["calls"]);
    let mut endpoints = std::mem::take(&mut scenario["endpoints"]);
    let (Some(c), Some(e)) = (calls.as_array_mut(), endpoints.as_array_mut()) else {
        panic!("an ECS scenario has calls and endpoints");
    };
    other_lists(c, e, others, rules);
    scenario["calls"] = calls;
    scenario["endpoints"] = endpoints;
}
