//! The shown rules and the rule calls' answers of every provider, byte for byte, over rules of
//! every shape the request writers make: a guard for the builders of the shown forms.

use serde_json::{json, Value};
use sgeval::provider::{RuleDraft, Target};
use sgeval::rule::IcmpMatch;
use sgeval::{Action, Cloud, Direction, Family, PortRange, Provider, Request};

fn req(params: bool, v: Value) -> Request {
    if params {
        Request {
            params: Some(v),
            ..Default::default()
        }
    } else {
        Request {
            body: Some(v),
            ..Default::default()
        }
    }
}

/// What `provider`'s rule calls answer and how its rules show, line by line: two groups,
/// then rules of every direction, protocol shape and remote kind the provider's request
/// writer takes, then the group as described.
fn lines(provider: Provider) -> Vec<String> {
    let mut out = Vec::new();
    {
        let mut c = Cloud::new(provider, Default::default());
        let mk = |c: &mut Cloud, name: &str, out: &mut Vec<String>| {
            let r = match provider {
                Provider::Ecs => req(
                    true,
                    json!({"RegionId": "cn-hangzhou", "VpcId": "vpc-1", "SecurityGroupName": name}),
                ),
                Provider::Ens => req(true, json!({"SecurityGroupName": name})),
                Provider::Huawei => req(false, json!({"security_group": {"name": name}})),
                Provider::Gcore => req(false, json!({"name": name})),
            };
            let r = c.call("CreateSecurityGroup", &r);
            out.push(format!(
                "{provider} create {}",
                serde_json::to_string(&r.body).unwrap()
            ));
            r.created.unwrap()
        };
        let web = mk(&mut c, "web", &mut out);
        let other = mk(&mut c, "other", &mut out);
        let mut ag = None;
        if provider == Provider::Huawei {
            let r = c.call(
                "CreateAddressGroup",
                &req(
                    false,
                    json!({"address_group": {"name": "office", "ip_version": 4, "ip_set": ["192.168.3.2"]}}),
                ),
            );
            out.push(format!("ag {}", serde_json::to_string(&r.body).unwrap()));
            ag = r.created;
        }
        let mut n = 0u32;
        for dir in [Direction::Ingress, Direction::Egress] {
            for (proto, ports, icmp) in [
                (None, vec![], IcmpMatch::ANY),
                (Some(6u8), vec![(22u16, 22u16)], IcmpMatch::ANY),
                (Some(17), vec![(1000, 2000)], IcmpMatch::ANY),
                (Some(6), vec![(80, 80), (443, 443)], IcmpMatch::ANY),
                (
                    Some(1),
                    vec![],
                    IcmpMatch {
                        icmp_type: Some(8),
                        icmp_code: Some(0),
                    },
                ),
                (Some(1), vec![], IcmpMatch::ANY),
                (Some(58), vec![], IcmpMatch::ANY),
                (Some(47), vec![], IcmpMatch::ANY),
            ] {
                for remote in 0..5 {
                    n += 1;
                    let v6 = remote == 1 || proto == Some(58);
                    let d = RuleDraft {
                        direction: dir,
                        family: if v6 { Family::V6 } else { Family::V4 },
                        protocol: proto,
                        dst_ports: ports
                            .iter()
                            .map(|&(a, b)| PortRange::new(a, b).unwrap())
                            .collect(),
                        src_ports: (remote == 4).then(|| PortRange::new(5, 6).unwrap()),
                        icmp,
                        remote_cidr: match remote {
                            0 => Some("10.1.0.0/16".parse().unwrap()),
                            1 => Some("2001:db8::/32".parse().unwrap()),
                            4 => Some(format!("172.16.{}.0/24", n % 250).parse().unwrap()),
                            _ => None,
                        },
                        remote_group: (remote == 2).then(|| other.clone()),
                        remote_address_group: (remote == 3).then(|| ag.clone()).flatten(),
                        local: (remote == 4 && provider == Provider::Ecs)
                            .then(|| "10.9.0.0/24".parse().unwrap()),
                        action: if n % 3 == 0 { Action::Deny } else { Action::Allow },
                        priority: (n % 100 + 1) as u8,
                        description: if n % 2 == 0 {
                            format!("rule \"{n}\" é")
                        } else {
                            String::new()
                        },
                    };
                    let Some((api, r)) = provider.emit(&Target::group(&web), &d) else {
                        out.push(format!("noemit {n}"));
                        continue;
                    };
                    let r = c.call(api, &r);
                    out.push(format!(
                        "{provider} {n} {api} {} {}",
                        r.status,
                        serde_json::to_string(&r.body).unwrap()
                    ));
                }
            }
        }
        let g = c.group_by_id(&web).unwrap();
        for rule in &g.rules {
            out.push(format!(
                "{provider} shown {}",
                serde_json::to_string(&rule.shown).unwrap()
            ));
        }
        let describe = match provider {
            Provider::Ecs => c.call(
                "DescribeSecurityGroupAttribute",
                &req(true, json!({"RegionId": "cn-hangzhou", "SecurityGroupId": web})),
            ),
            Provider::Ens => c.call(
                "DescribeSecurityGroupAttribute",
                &req(true, json!({"SecurityGroupId": web})),
            ),
            Provider::Huawei => c.call(
                "ShowSecurityGroup",
                &req(false, json!({"security_group_id": web})),
            ),
            Provider::Gcore => c.call("GetSecurityGroup", &req(false, json!({"group_id": web}))),
        };
        out.push(format!(
            "{provider} describe {} {}",
            describe.status,
            serde_json::to_string(&describe.body).unwrap()
        ));
    }
    out
}

/// 64-bit FNV-1a: a fixed digest, so the texts below stay comparable across Rust releases.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The answers and shown rules are the texts the code wrote when the shown rules were
/// built with `json!` (before `rest::object`): the digest of every line (542 lines in all), and
/// two shown rules of each provider in full.
#[test]
fn shown_rules_and_answers_are_as_before() {
    let want: [(Provider, usize, u64, [&str; 2]); 4] = [
        (
            Provider::Ecs,
            139,
            0x7a4b37c616343975,
            [
                r#"{"SecurityGroupRuleId":"sgr-t8v4uh1cxtwr9nb4z5ui","Direction":"ingress","IpProtocol":"ALL","PortRange":"-1/-1","SourcePortRange":"","SourceCidrIp":"10.1.0.0/16","Ipv6SourceCidrIp":"","SourceGroupId":"","SourcePrefixListId":"","DestCidrIp":"","Ipv6DestCidrIp":"","DestGroupId":"","DestPrefixListId":"","Policy":"Accept","Priority":"2","NicType":"intranet","Description":""}"#,
                r#"{"SecurityGroupRuleId":"sgr-0tpvh866uaxva06ut5ou","Direction":"egress","IpProtocol":"ALL","PortRange":"-1/-1","SourcePortRange":"","SourceCidrIp":"","Ipv6SourceCidrIp":"","SourceGroupId":"","SourcePrefixListId":"","DestCidrIp":"10.1.0.0/16","Ipv6DestCidrIp":"","DestGroupId":"","DestPrefixListId":"","Policy":"Accept","Priority":"42","NicType":"intranet","Description":""}"#,
            ],
        ),
        (
            Provider::Ens,
            111,
            0x2bf3f5d0b298154c,
            [
                r#"{"SecurityGroupRuleId":"sgr-s9devshiielvms6i5hvj","Direction":"ingress","IpProtocol":"all","PortRange":"-1/-1","SourcePortRange":"","SourceCidrIp":"10.1.0.0/16","DestCidrIp":"","Ipv6SourceCidrIp":"","Ipv6DestCidrIp":"","Policy":"accept","Priority":2,"Description":""}"#,
                r#"{"SecurityGroupRuleId":"sgr-n0iewmjk3e4yt1z3mayz","Direction":"egress","IpProtocol":"all","PortRange":"-1/-1","SourcePortRange":"","SourceCidrIp":"","DestCidrIp":"10.1.0.0/16","Ipv6SourceCidrIp":"","Ipv6DestCidrIp":"","Policy":"accept","Priority":42,"Description":""}"#,
            ],
        ),
        (
            Provider::Huawei,
            134,
            0xdcd26acb3bb203df,
            [
                r#"{"id":"8ef9c88f-fbc9-4307-8e5c-0740eaf4a5d6","project_id":"a551e295781bbd544aa6bae9badcf404","security_group_id":"2ef17168-e48a-4dbc-81e7-1c3b4b46710a","remote_group_id":"2ef17168-e48a-4dbc-81e7-1c3b4b46710a","direction":"ingress","protocol":null,"description":"","created_at":"2024-01-01T00:00:01Z","updated_at":"2024-01-01T00:00:01Z","ethertype":"IPv6","remote_ip_prefix":null,"multiport":null,"remote_address_group_id":null,"action":"allow","priority":100,"enabled":true}"#,
                r#"{"id":"f523ab09-0186-4d7c-85a0-6c4d64fd7005","project_id":"a551e295781bbd544aa6bae9badcf404","security_group_id":"2ef17168-e48a-4dbc-81e7-1c3b4b46710a","remote_group_id":"27c7755e-9ee0-41b7-b009-bd002fd096d6","direction":"ingress","protocol":"icmp","description":"","created_at":"2024-01-01T00:00:26Z","updated_at":"2024-01-01T00:00:26Z","ethertype":"IPv4","remote_ip_prefix":null,"multiport":null,"remote_address_group_id":null,"action":"allow","priority":24,"enabled":true}"#,
            ],
        ),
        (
            Provider::Gcore,
            158,
            0x2361f7af8658e5f,
            [
                r#"{"id":"3d9b55fd-d44e-4a79-8194-e8460e361d77","security_group_id":"92efbbbd-1b2b-4131-89a9-2a0aeeafacf5","direction":"egress","ethertype":"IPv4","protocol":null,"port_range_min":null,"port_range_max":null,"remote_ip_prefix":null,"remote_group_id":null,"description":null,"revision_number":0,"created_at":"2024-01-01T00:00:01Z","updated_at":"2024-01-01T00:00:01Z"}"#,
                r#"{"id":"231ecaf9-6fbb-4e67-8ad3-5876000385d3","security_group_id":"92efbbbd-1b2b-4131-89a9-2a0aeeafacf5","direction":"ingress","ethertype":"IPv4","protocol":"gre","port_range_min":null,"port_range_max":null,"remote_ip_prefix":null,"remote_group_id":null,"description":null,"revision_number":0,"created_at":"2024-01-01T00:00:41Z","updated_at":"2024-01-01T00:00:41Z"}"#,
            ],
        ),
    ];
    for (provider, count, digest, examples) in want {
        let lines = lines(provider);
        let shown: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.strip_prefix(&format!("{provider} shown ")))
            .collect();
        assert_eq!(shown[0], examples[0], "{provider}");
        assert_eq!(shown[shown.len() / 2], examples[1], "{provider}");
        assert_eq!(lines.len(), count, "{provider}");
        assert_eq!(fnv(lines.join("\n").as_bytes()), digest, "{provider}: {lines:#?}");
    }
}
