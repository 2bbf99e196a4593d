//! Alibaba ECS and ENS describe answers (import-formats.md 1.1, 1.2; the shapes of
//! `tests/fixtures/import/ecs` and `ens`): arrays wrapped in singular-named objects (trap 1),
//! every permission field present with `""` for unset (trap 4), direction-dependent peer
//! fields (trap 5); ENS rules without ids, with `CreationTime` and an integer `Priority`
//! (trap 9), ENS NICs' groups as `SecurityGroupIds.SecurityGroup`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{json, Map, Value};

use super::{request_id, rule_view, timestamp, view, Answer, ExportError};
use crate::group::{GroupKind, InnerPolicy};
use crate::{Cloud, Endpoint, Provider, Rule};

const F: &str = "describe";

/// ECS permission fields the emulator's view leaves out but every real answer carries
/// (`""` when unset, E3).
const ECS_EMPTY: &[&str] = &[
    "SourceGroupOwnerAccount",
    "DestGroupOwnerAccount",
    "PortRangeListId",
];

fn group_ids(cloud: &Cloud, e: &Endpoint) -> Vec<Value> {
    e.groups
        .iter()
        .filter_map(|k| cloud.group(*k))
        .map(|g| Value::from(g.id.clone()))
        .collect()
}

fn split_ips(e: &Endpoint) -> (Vec<IpAddr>, Vec<IpAddr>) {
    e.ips.iter().partition(|a| a.is_ipv4())
}

/// ECS: `DescribeSecurityGroups` per region, `DescribeSecurityGroupAttribute` per group,
/// `DescribeNetworkInterfaces`.
pub(super) fn ecs(cloud: &Cloud) -> Result<Vec<Answer>, ExportError> {
    let mut out = Vec::new();
    let mut regions: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    let mut attributes = Vec::new();
    let mut clock = 0usize;
    for (n, g) in cloud.groups().enumerate() {
        let shown = view(F, &g.id, &g.shown)?;
        let text = |k: &str| shown.get(k).cloned().unwrap_or_else(|| Value::from(""));
        let region = shown
            .get("RegionId")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let (kind, inner) = match g.kind {
            GroupKind::EcsBasic { inner } => ("normal", inner),
            GroupKind::EcsEnterprise => ("enterprise", InnerPolicy::Drop),
            other => {
                return Err(ExportError::new(
                    F,
                    &g.id,
                    "SecurityGroupType",
                    format!("a {other:?} group in an ECS cloud"),
                ))
            }
        };
        let mut permissions = Vec::new();
        let mut group_rules = 0;
        for r in &g.rules {
            let mut p = rule_view(F, Provider::Ecs, r)?.clone();
            for k in ECS_EMPTY {
                p.entry(*k).or_insert_with(|| Value::from(""));
            }
            if ["SourceGroupId", "DestGroupId"]
                .iter()
                .any(|k| p.get(*k).and_then(Value::as_str).is_some_and(|s| !s.is_empty()))
            {
                group_rules += 1;
            }
            p.insert("CreateTime".into(), Value::from(timestamp(clock)));
            clock += 1;
            permissions.push(Value::Object(p));
        }
        regions.entry(region.clone()).or_default().push(json!({
            "SecurityGroupId": g.id,
            "SecurityGroupName": g.name,
            "SecurityGroupType": kind,
            "VpcId": text("VpcId"),
            "ServiceManaged": false,
            "RuleCount": g.rules.len(),
            "GroupToGroupRuleCount": group_rules,
            "ResourceGroupId": "",
            "CreationTime": timestamp(n),
            "Tags": {"Tag": []},
        }));
        attributes.push(Answer {
            call: format!("DescribeSecurityGroupAttribute {}", g.id),
            body: json!({
                "RequestId": request_id(100 + n, true),
                "RegionId": region,
                "SecurityGroupId": g.id,
                "SecurityGroupName": g.name,
                "Description": g.description,
                "VpcId": text("VpcId"),
                "InnerAccessPolicy": if inner == InnerPolicy::Accept { "Accept" } else { "Drop" },
                "NextToken": "",
                "Permissions": {"Permission": permissions},
            }),
        });
    }
    for (i, (region, groups)) in regions.into_iter().enumerate() {
        out.push(Answer {
            call: format!("DescribeSecurityGroups {region}"),
            body: json!({
                "RequestId": request_id(i, true),
                "RegionId": region,
                "NextToken": "",
                "SecurityGroups": {"SecurityGroup": groups},
            }),
        });
    }
    out.extend(attributes);
    let nics: Vec<Value> = cloud
        .endpoints()
        .iter()
        .map(|e| nic(cloud, e, "PrivateIpAddress", "SecurityGroupId"))
        .collect();
    out.push(Answer {
        call: "DescribeNetworkInterfaces".to_owned(),
        body: json!({
            "RequestId": request_id(90, true),
            "TotalCount": nics.len(),
            "NextToken": "",
            "NetworkInterfaceSets": {"NetworkInterfaceSet": nics},
        }),
    });
    Ok(out)
}

/// A NIC as `DescribeNetworkInterfaces` shows it; ECS and ENS name the primary address
/// (`primary`) and the group id list's items (`group_item`) differently.
fn nic(cloud: &Cloud, e: &Endpoint, primary: &str, group_item: &str) -> Value {
    let (v4, v6) = split_ips(e);
    let private: Vec<Value> = v4
        .iter()
        .enumerate()
        .map(|(i, a)| json!({"PrivateIpAddress": a.to_string(), "Primary": i == 0}))
        .collect();
    let ipv6: Vec<Value> = v6.iter().map(|a| json!({"Ipv6Address": a.to_string()})).collect();
    let mut nic = json!({
        "NetworkInterfaceId": e.name,
        "Type": "Primary",
        "Status": "InUse",
        "PrivateIpSets": {"PrivateIpSet": private},
        "Ipv6Sets": {"Ipv6Set": ipv6},
    });
    nic[primary] = json!(v4.first().map(ToString::to_string).unwrap_or_default());
    nic["SecurityGroupIds"] = json!({ group_item: group_ids(cloud, e) });
    nic
}

/// An ENS permission as ENS shows it: no id (N1), `CreationTime`, integer `Priority`.
fn ens_permission(rule: &Rule, created: String) -> Result<Value, ExportError> {
    let id = rule.id.as_str();
    let mut p: Map<String, Value> = rule_view(F, Provider::Ens, rule)?.clone();
    p.remove("SecurityGroupRuleId");
    match p.get("Priority") {
        Some(Value::Number(_)) => {}
        Some(Value::String(s)) => {
            let n: u8 = s
                .parse()
                .map_err(|_| ExportError::new(F, id, "Priority", format!("`{s}` is not an integer")))?;
            p.insert("Priority".into(), Value::from(n));
        }
        _ => return Err(ExportError::new(F, id, "Priority", "the rule shows none")),
    }
    p.insert("CreationTime".into(), Value::from(created));
    Ok(Value::Object(p))
}

/// ENS: `DescribeSecurityGroups`, `DescribeSecurityGroupAttribute` per group,
/// `DescribeNetworkInterfaces`.
pub(super) fn ens(cloud: &Cloud) -> Result<Vec<Answer>, ExportError> {
    let mut groups = Vec::new();
    let mut attributes = Vec::new();
    let mut clock = 0usize;
    for (n, g) in cloud.groups().enumerate() {
        if g.kind != GroupKind::Ens {
            return Err(ExportError::new(
                F,
                &g.id,
                "SecurityGroupId",
                format!("a {:?} group in an ENS cloud", g.kind),
            ));
        }
        let mut permissions = Vec::new();
        for r in &g.rules {
            permissions.push(ens_permission(r, timestamp(clock))?);
            clock += 1;
        }
        let members: Vec<Value> = cloud
            .members(g.key)
            .map(|e| Value::from(e.name.clone()))
            .collect();
        groups.push(json!({
            "SecurityGroupId": g.id,
            "SecurityGroupName": g.name,
            "Description": g.description,
            "CreationTime": timestamp(n),
            // The model has NICs, not instances: no `InstanceIds` or `InstanceCount`.
            "NetworkInterfaceIds": {"NetworkInterfaceId": members},
        }));
        attributes.push(Answer {
            call: format!("DescribeSecurityGroupAttribute {}", g.id),
            body: json!({
                "RequestId": request_id(100 + n, true),
                "SecurityGroupId": g.id,
                "SecurityGroupName": g.name,
                "Description": g.description,
                "Permissions": {"Permission": permissions},
            }),
        });
    }
    let mut out = vec![Answer {
        call: "DescribeSecurityGroups".to_owned(),
        body: json!({
            "RequestId": request_id(0, true),
            "TotalCount": groups.len(),
            "PageNumber": 1,
            "PageSize": groups.len().max(10),
            "SecurityGroups": {"SecurityGroup": groups},
        }),
    }];
    out.extend(attributes);
    let nics: Vec<Value> = cloud
        .endpoints()
        .iter()
        .map(|e| nic(cloud, e, "PrimaryIp", "SecurityGroup"))
        .collect();
    out.push(Answer {
        call: "DescribeNetworkInterfaces".to_owned(),
        body: json!({
            "TotalCount": nics.len(),
            "PageNumber": 1,
            "PageSize": nics.len().max(10),
            "NetworkInterfaceSets": {"NetworkInterfaceSet": nics},
        }),
    });
    Ok(out)
}
