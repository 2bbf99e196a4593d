//! Describe output of a large invented account, written as JSON lines (one provider answer
//! per line, as `aliyun ... | jq -c` or an SDK dump gives them), for the import scale test
//! (`tests/import_scale.rs`) and the measurement program (`examples/gen_describe.rs`).
//!
//! The answers have the published shapes of the fixtures in `tests/fixtures/import/` (every
//! field an ECS rule carries, `""` for unset, `Priority` as string and number; Huawei v3
//! rules with `null` remotes, `multiport` as string and number, `page_info` paging). The
//! account passes the default quotas where a real one can have them raised (ECS 100 groups
//! per region, Huawei 100 groups and 50 rules per group) and keeps within the fixed ones
//! (ECS 200 rules per group, 20 group references per group, 1,000 rules across a NIC's
//! groups, 10 groups per NIC; Huawei 5 groups per port).
#![allow(dead_code)]

use std::io::{self, Write};

use serde_json::{json, Value};

/// How big an account to write.
#[derive(Clone, Copy, Debug)]
pub struct Size {
    /// Security groups.
    pub groups: usize,
    /// Rules in each group.
    pub rules_per_group: usize,
    /// NICs (ECS) or ports (Huawei), each with an address.
    pub nics: usize,
    /// Groups each NIC joins.
    pub groups_per_nic: usize,
}

/// What was written: what a complete import must count.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Groups.
    pub groups: usize,
    /// Rules.
    pub rules: usize,
    /// Endpoints (NICs, ports).
    pub endpoints: usize,
    /// Bytes written.
    pub bytes: u64,
}

/// Counts the bytes that pass.
struct Counting<'a> {
    inner: &'a mut dyn Write,
    bytes: u64,
}

impl Write for Counting<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn line(w: &mut Counting<'_>, v: &Value) -> io::Result<()> {
    serde_json::to_writer(&mut *w, v)?;
    w.write_all(b"\n")
}

/// The groups of NIC `n`: `per` distinct groups spread over all of them.
fn nic_groups(n: usize, per: usize, groups: usize) -> Vec<usize> {
    let per = per.min(groups);
    (0..per)
        .map(|k| (n + k * (groups / per).max(1)) % groups)
        .collect()
}

/// A private IPv4 address for NIC `n` in 172.16.0.0/12 (up to a million NICs).
fn nic_ip(n: usize) -> String {
    format!("172.{}.{}.{}", 16 + (n >> 16), (n >> 8) & 255, n & 255)
}

/// A source CIDR for rule `j` of group `g`, distinct within the group.
fn peer(g: usize, j: usize) -> String {
    format!("10.{}.{}.{}/32", g % 256, j >> 8 & 255, j & 255)
}

/// Alibaba ECS: `DescribeSecurityGroups` pages (100 groups each), one
/// `DescribeSecurityGroupAttribute` per group, `DescribeNetworkInterfaces` pages (100 each).
pub fn ecs(out: &mut dyn Write, size: Size) -> io::Result<Counts> {
    let mut w = Counting { inner: out, bytes: 0 };
    let vpc = "vpc-bp1gen0000000000";
    let gid = |g: usize| format!("sg-bp1gen{g:011}");
    let pages = size.groups.div_ceil(100);
    for p in 0..pages {
        let groups: Vec<Value> = (p * 100..((p + 1) * 100).min(size.groups))
            .map(|g| {
                json!({
                    "SecurityGroupId": gid(g), "SecurityGroupName": format!("gen-{g}"),
                    "SecurityGroupType": "normal", "VpcId": vpc, "ServiceManaged": false,
                    "RuleCount": size.rules_per_group, "GroupToGroupRuleCount": 0,
                    "ResourceGroupId": "", "CreationTime": "2025-03-01T07:59:00Z",
                    "Tags": {"Tag": []}
                })
            })
            .collect();
        let next = if p + 1 < pages {
            format!("page{}", p + 1)
        } else {
            String::new()
        };
        line(
            &mut w,
            &json!({"RequestId": format!("gen-groups-{p}"), "RegionId": "cn-hangzhou",
                    "NextToken": next, "SecurityGroups": {"SecurityGroup": groups}}),
        )?;
    }
    let mut rules = 0;
    for g in 0..size.groups {
        let permissions: Vec<Value> = (0..size.rules_per_group)
            .map(|j| {
                let egress = j % 10 == 9;
                // Two rules per group name another group (ECS allows 20).
                let by_group = j < 2 && size.groups > 1;
                let port = 1024 + j;
                let cidr = peer(g, j);
                let other = gid((g + 1 + j) % size.groups);
                let s = |cond: bool, v: &str| if cond { v.to_owned() } else { String::new() };
                let priority = if j % 2 == 0 {
                    json!(((j % 100) + 1).to_string())
                } else {
                    json!((j % 100) + 1)
                };
                json!({
                    "SecurityGroupRuleId": format!("sgr-bp1gen{g:06}{j:05}"),
                    "Direction": if egress { "egress" } else { "ingress" },
                    "IpProtocol": "TCP", "PortRange": format!("{port}/{port}"),
                    "SourcePortRange": "",
                    "SourceCidrIp": s(!egress && !by_group, &cidr), "Ipv6SourceCidrIp": "",
                    "SourceGroupId": s(!egress && by_group, &other), "SourceGroupName": "",
                    "SourceGroupOwnerAccount": "", "SourcePrefixListId": "", "SourcePrefixListName": "",
                    "DestCidrIp": s(egress, &cidr), "Ipv6DestCidrIp": "",
                    "DestGroupId": "", "DestGroupName": "", "DestGroupOwnerAccount": "",
                    "DestPrefixListId": "", "DestPrefixListName": "",
                    "PortRangeListId": "", "PortRangeListName": "",
                    "Policy": if j % 7 == 3 { "Drop" } else { "Accept" },
                    "Priority": priority, "NicType": "intranet",
                    "Description": format!("generated rule {j} of group {g}"),
                    "CreateTime": "2025-03-02T08:00:00Z"
                })
            })
            .collect();
        rules += permissions.len();
        line(
            &mut w,
            &json!({"RequestId": format!("gen-attr-{g}"), "RegionId": "cn-hangzhou",
                    "SecurityGroupId": gid(g), "SecurityGroupName": format!("gen-{g}"),
                    "Description": "", "VpcId": vpc, "InnerAccessPolicy": "Accept", "NextToken": "",
                    "Permissions": {"Permission": permissions}}),
        )?;
    }
    let pages = size.nics.div_ceil(100);
    for p in 0..pages {
        let nics: Vec<Value> = (p * 100..((p + 1) * 100).min(size.nics))
            .map(|n| {
                let ip = nic_ip(n);
                let groups: Vec<String> = nic_groups(n, size.groups_per_nic, size.groups)
                    .into_iter()
                    .map(gid)
                    .collect();
                json!({
                    "NetworkInterfaceId": format!("eni-bp1gen{n:010}"), "Type": "Primary",
                    "Status": "InUse", "InstanceId": format!("i-bp1gen{n:011}"),
                    "VpcId": vpc, "VSwitchId": "vsw-bp1gen00000000",
                    "PrivateIpAddress": ip,
                    "PrivateIpSets": {"PrivateIpSet": [{"PrivateIpAddress": ip, "Primary": true}]},
                    "Ipv6Sets": {"Ipv6Set": []},
                    "SecurityGroupIds": {"SecurityGroupId": groups},
                    "SourceDestCheck": false
                })
            })
            .collect();
        let next = if p + 1 < pages {
            format!("nic{}", p + 1)
        } else {
            String::new()
        };
        line(
            &mut w,
            &json!({"RequestId": format!("gen-nics-{p}"), "TotalCount": size.nics, "NextToken": next,
                    "NetworkInterfaceSets": {"NetworkInterfaceSet": nics}}),
        )?;
    }
    w.flush()?;
    Ok(Counts {
        groups: size.groups,
        rules,
        endpoints: size.nics,
        bytes: w.bytes,
    })
}

/// Huawei Cloud VPC v3: `ListSecurityGroups` pages, `ListSecurityGroupRules` pages (1,000
/// rules each), `ListPorts` pages (1,000 each), with `page_info.next_marker` on every page
/// but the last.
pub fn huawei(out: &mut dyn Write, size: Size) -> io::Result<Counts> {
    let mut w = Counting { inner: out, bytes: 0 };
    let project = "0a1b2c3d4e5f60718293a4b5c6d7e8f9";
    let gid = |g: usize| format!("{g:08x}-0000-4e3f-8a2b-1c0d9e8f7a6b");
    let page_info = |last: bool, marker: String| {
        if last {
            json!({"previous_marker": marker, "current_count": 1000})
        } else {
            json!({"previous_marker": marker, "next_marker": marker, "current_count": 1000})
        }
    };
    let chunks = size.groups.div_ceil(1000);
    for p in 0..chunks {
        let groups: Vec<Value> = (p * 1000..((p + 1) * 1000).min(size.groups))
            .map(|g| {
                json!({"id": gid(g), "name": format!("gen-{g}"), "description": "",
                       "project_id": project, "enterprise_project_id": "0",
                       "created_at": "2025-05-01T02:00:00Z", "updated_at": "2025-05-01T02:05:00Z",
                       "tags": []})
            })
            .collect();
        line(
            &mut w,
            &json!({"request_id": format!("gen-groups-{p}"), "security_groups": groups,
                    "page_info": page_info(p + 1 == chunks, gid(p * 1000))}),
        )?;
    }
    let total = size.groups * size.rules_per_group;
    let chunks = total.div_ceil(1000);
    for p in 0..chunks {
        let rules: Vec<Value> = (p * 1000..((p + 1) * 1000).min(total))
            .map(|i| {
                let (g, j) = (i / size.rules_per_group, i % size.rules_per_group);
                let egress = j % 10 == 9;
                let by_group = j < 2 && size.groups > 1;
                let port = 1024 + j;
                let multiport = if j % 2 == 0 {
                    json!(port.to_string())
                } else {
                    json!(port)
                };
                let (prefix, group) = if by_group {
                    (Value::Null, json!(gid((g + 1 + j) % size.groups)))
                } else {
                    (json!(peer(g, j)), Value::Null)
                };
                json!({
                    "id": format!("{g:08x}-{j:04x}-4a6b-8c7d-9e0f1a2b3c4d"),
                    "security_group_id": gid(g),
                    "direction": if egress { "egress" } else { "ingress" },
                    "ethertype": "IPv4", "protocol": "tcp", "multiport": multiport,
                    "action": if j % 7 == 3 { "deny" } else { "allow" },
                    "priority": (j % 100) + 1,
                    "remote_ip_prefix": prefix, "remote_group_id": group,
                    "remote_address_group_id": null,
                    "description": format!("generated rule {j} of group {g}"),
                    "created_at": "2025-05-02T02:00:00Z", "updated_at": "2025-05-02T02:00:00Z",
                    "project_id": project
                })
            })
            .collect();
        line(
            &mut w,
            &json!({"request_id": format!("gen-rules-{p}"), "security_group_rules": rules,
                    "page_info": page_info(p + 1 == chunks, format!("rules-{p}"))}),
        )?;
    }
    let chunks = size.nics.div_ceil(1000);
    for p in 0..chunks {
        let ports: Vec<Value> = (p * 1000..((p + 1) * 1000).min(size.nics))
            .map(|n| {
                let groups: Vec<String> = nic_groups(n, size.groups_per_nic, size.groups)
                    .into_iter()
                    .map(gid)
                    .collect();
                json!({
                    "id": format!("{n:08x}-0000-4aaa-8bbb-0123456789ab"),
                    "device_id": format!("{n:08x}-0000-4b5c-8d9e-0f1a2b3c4d5e"),
                    "device_owner": "compute:cn-north-4a", "status": "ACTIVE",
                    "port_security_enabled": true, "security_groups": groups,
                    "private_ips": [{"subnet_id": "5e6f7a8b-0000-4c9d-8e0f-1a2b3c4d5e6f",
                                     "ip_address": nic_ip(n)}],
                    "allowed_address_pairs": [], "vpc_id": "3b4c5d6e-0000-4f7a-8b9c-0d1e2f3a4b5c",
                    "virsubnet_id": "5e6f7a8b-0000-4c9d-8e0f-1a2b3c4d5e6f"
                })
            })
            .collect();
        line(
            &mut w,
            &json!({"request_id": format!("gen-ports-{p}"), "ports": ports,
                    "page_info": page_info(p + 1 == chunks, format!("ports-{p}"))}),
        )?;
    }
    w.flush()?;
    Ok(Counts {
        groups: size.groups,
        rules: total,
        endpoints: size.nics,
        bytes: w.bytes,
    })
}
