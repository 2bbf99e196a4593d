//! `terraform show -json` of a state (import-formats.md sections 2 and 3; the shapes of
//! `tests/fixtures/import/terraform`): `format_version` 1.0, `values.root_module.resources[]`
//! sorted by address as Terraform prints them, each with `address`, `mode`, `type`, `name`,
//! `provider_name`, `schema_version`, `values` and `sensitive_values`.
//!
//! SDKv2 providers (alicloud, huaweicloud) store unset strings as `""` and unset numbers as
//! `0`; the gcore v2 provider (plugin framework) stores `null` (trap 17). A set-typed
//! attribute is listed sorted, as Terraform lists a set of strings (trap 19): that is the
//! order the importer sees, not the association order.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_json::{json, Map, Value};

use super::{rule_view, timestamp, view, ExportError, HuaweiMembers, TerraformOptions};
use crate::group::{GroupKind, InnerPolicy};
use crate::{Cloud, Endpoint, Group, Provider, Rule};

const F: &str = "terraform";

const ALICLOUD: &str = "registry.terraform.io/aliyun/alicloud";
const HUAWEICLOUD: &str = "registry.terraform.io/huaweicloud/huaweicloud";
const GCORE: &str = "registry.terraform.io/g-core/gcore";

/// The resource names the export gives, so addresses sort in creation order: group `i` is
/// `group_IIII`, its rule `j` `group_IIII_rule_JJJJ`, endpoint `k` `endpoint_KKKK`, an ENS
/// endpoint's `m`-th extra group attachment `endpoint_KKKK_group_MM`.
pub struct Names;

impl Names {
    /// The name of the `i`-th group.
    pub fn group(i: usize) -> String {
        format!("group_{i:04}")
    }

    /// The name of rule `j` of group `i`.
    pub fn rule(i: usize, j: usize) -> String {
        format!("group_{i:04}_rule_{j:04}")
    }

    /// The name of endpoint `k`.
    pub fn endpoint(k: usize) -> String {
        format!("endpoint_{k:04}")
    }
}

fn resource(provider: &str, rtype: &str, name: &str, values: Value) -> Value {
    json!({
        "address": format!("{rtype}.{name}"),
        "mode": "managed",
        "type": rtype,
        "name": name,
        "provider_name": provider,
        "schema_version": 0,
        "values": values,
        "sensitive_values": {},
    })
}

/// The state document of `cloud`.
pub(super) fn state(cloud: &Cloud, options: &TerraformOptions) -> Result<Value, ExportError> {
    let mut resources = match cloud.provider() {
        Provider::Ecs => ecs(cloud)?,
        Provider::Ens => ens(cloud)?,
        Provider::Huawei => huawei(cloud, options.huawei_members)?,
        Provider::Gcore => gcore(cloud)?,
    };
    resources.sort_by(|a, b| a["address"].as_str().cmp(&b["address"].as_str()));
    Ok(json!({
        "format_version": "1.0",
        "terraform_version": "1.9.5",
        "values": {"outputs": {}, "root_module": {"resources": resources}},
    }))
}

/// A shown text field, `""` when absent or `null`.
fn text(shown: &Map<String, Value>, key: &str) -> String {
    match shown.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => String::new(),
    }
}

fn sorted_ids(cloud: &Cloud, e: &Endpoint) -> Vec<String> {
    let ids: BTreeSet<String> = e
        .groups
        .iter()
        .filter_map(|k| cloud.group(*k))
        .map(|g| g.id.clone())
        .collect();
    ids.into_iter().collect()
}

fn ordered_ids(cloud: &Cloud, e: &Endpoint) -> Vec<String> {
    e.groups
        .iter()
        .filter_map(|k| cloud.group(*k))
        .map(|g| g.id.clone())
        .collect()
}

fn sorted_ips(ips: &[IpAddr]) -> Vec<String> {
    let set: BTreeSet<String> = ips.iter().map(ToString::to_string).collect();
    set.into_iter().collect()
}

fn priority(id: &str, shown: &Map<String, Value>, key: &str) -> Result<u64, ExportError> {
    match shown.get(key) {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| ExportError::new(F, id, key, "the rule shows no priority"))
}

// ---------------------------------------------------------------------------------------
// alicloud: ECS

fn ecs(cloud: &Cloud) -> Result<Vec<Value>, ExportError> {
    let mut out = Vec::new();
    for (i, g) in cloud.groups().enumerate() {
        let shown = view(F, &g.id, &g.shown)?;
        let (kind, inner) = match g.kind {
            GroupKind::EcsBasic { inner } => ("normal", inner),
            GroupKind::EcsEnterprise => ("enterprise", InnerPolicy::Drop),
            other => {
                return Err(ExportError::new(
                    F,
                    &g.id,
                    "security_group_type",
                    format!("a {other:?} group in an ECS cloud"),
                ))
            }
        };
        out.push(resource(
            ALICLOUD,
            "alicloud_security_group",
            &Names::group(i),
            json!({
                "id": g.id,
                "security_group_name": g.name,
                "name": g.name,
                "description": g.description,
                "vpc_id": text(shown, "VpcId"),
                "security_group_type": kind,
                "inner_access_policy": if inner == InnerPolicy::Accept { "Accept" } else { "Drop" },
                "resource_group_id": "",
                "tags": {},
                "create_time": timestamp(i),
                "timeouts": null,
            }),
        ));
        for (j, r) in g.rules.iter().enumerate() {
            out.push(resource(
                ALICLOUD,
                "alicloud_security_group_rule",
                &Names::rule(i, j),
                ecs_rule(g, r)?,
            ));
        }
    }
    for (k, e) in cloud.endpoints().iter().enumerate() {
        let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = e.ips.iter().partition(|a| a.is_ipv4());
        out.push(resource(
            ALICLOUD,
            "alicloud_ecs_network_interface",
            &Names::endpoint(k),
            json!({
                "id": e.name,
                "network_interface_name": "",
                "security_group_ids": sorted_ids(cloud, e),
                "primary_ip_address": v4.first().map(ToString::to_string).unwrap_or_default(),
                "private_ip_addresses": sorted_ips(v4.get(1..).unwrap_or_default()),
                "ipv6_addresses": sorted_ips(&v6),
                "status": "InUse",
            }),
        ));
    }
    Ok(out)
}

/// An `alicloud_security_group_rule` of an ECS permission as shown. The resource names
/// the peer with ingress-named fields in both directions (trap 18) and has no attribute
/// for a source-port filter or the local address of a quintuple rule.
fn ecs_rule(g: &Group, rule: &Rule) -> Result<Value, ExportError> {
    let id = rule.id.as_str();
    let p = rule_view(F, Provider::Ecs, rule)?;
    let direction = text(p, "Direction");
    let egress = direction.eq_ignore_ascii_case("egress");
    let (peer, local) = if egress {
        (
            ["DestCidrIp", "Ipv6DestCidrIp", "DestGroupId", "DestPrefixListId"],
            ["SourceCidrIp", "Ipv6SourceCidrIp"],
        )
    } else {
        (
            [
                "SourceCidrIp",
                "Ipv6SourceCidrIp",
                "SourceGroupId",
                "SourcePrefixListId",
            ],
            ["DestCidrIp", "Ipv6DestCidrIp"],
        )
    };
    let no = |field: &str, why: &str| ExportError::new(F, id, field, why);
    if !text(p, "SourcePortRange").is_empty() {
        return Err(no(
            "SourcePortRange",
            "alicloud_security_group_rule has no source-port attribute",
        ));
    }
    for field in local {
        if !text(p, field).is_empty() {
            return Err(no(
                field,
                "alicloud_security_group_rule has no attribute for the local address of a quintuple rule",
            ));
        }
    }
    if !text(p, "PortRangeListId").is_empty() {
        return Err(no(
            "PortRangeListId",
            "alicloud_security_group_rule has no port-list attribute",
        ));
    }
    let proto = text(p, "IpProtocol").to_ascii_lowercase();
    let policy = text(p, "Policy").to_ascii_lowercase();
    let prio = priority(id, p, "Priority")?;
    let nic = match text(p, "NicType") {
        t if t.is_empty() => "intranet".to_owned(),
        t => t.to_ascii_lowercase(),
    };
    let (cidr, cidr6, group, list) = (
        text(p, peer[0]),
        text(p, peer[1]),
        text(p, peer[2]),
        text(p, peer[3]),
    );
    let peer_text = [&cidr, &cidr6, &group, &list]
        .into_iter()
        .find(|s| !s.is_empty())
        .cloned()
        .unwrap_or_default();
    Ok(json!({
        // The provider's composite id: sg:type:proto:range:nic:peer:policy:priority (2.1).
        "id": format!("{}:{direction}:{proto}:{}:{nic}:{peer_text}:{policy}:{prio}", g.id, text(p, "PortRange")),
        "security_group_id": g.id,
        "type": direction,
        "ip_protocol": proto,
        "port_range": text(p, "PortRange"),
        "policy": policy,
        "priority": prio,
        "nic_type": nic,
        "cidr_ip": cidr,
        "ipv6_cidr_ip": cidr6,
        "source_security_group_id": group,
        "source_group_owner_account": "",
        "source_group_owner_id": "",
        "prefix_list_id": list,
        "description": text(p, "Description"),
        "security_group_rule_id": id,
    }))
}

// ---------------------------------------------------------------------------------------
// alicloud: ENS

fn ens(cloud: &Cloud) -> Result<Vec<Value>, ExportError> {
    let mut out = Vec::new();
    let mut clock = 0;
    for (i, g) in cloud.groups().enumerate() {
        if g.kind != GroupKind::Ens {
            return Err(ExportError::new(
                F,
                &g.id,
                "alicloud_ens_security_group",
                format!("a {:?} group in an ENS cloud", g.kind),
            ));
        }
        let mut permissions = Vec::new();
        for r in &g.rules {
            let p = rule_view(F, Provider::Ens, r)?;
            permissions.push(json!({
                "direction": text(p, "Direction"),
                "ip_protocol": text(p, "IpProtocol"),
                "port_range": text(p, "PortRange"),
                "source_port_range": text(p, "SourcePortRange"),
                "source_cidr_ip": text(p, "SourceCidrIp"),
                "dest_cidr_ip": text(p, "DestCidrIp"),
                "ipv6_source_cidr_ip": text(p, "Ipv6SourceCidrIp"),
                "ipv6_dest_cidr_ip": text(p, "Ipv6DestCidrIp"),
                "policy": text(p, "Policy"),
                "priority": priority(&r.id, p, "Priority")?,
                "description": text(p, "Description"),
                "creation_time": timestamp(clock),
            }));
            clock += 1;
        }
        out.push(resource(
            ALICLOUD,
            "alicloud_ens_security_group",
            &Names::group(i),
            json!({
                "id": g.id,
                "security_group_name": g.name,
                "description": g.description,
                "permissions": permissions,
            }),
        ));
    }
    for (k, e) in cloud.endpoints().iter().enumerate() {
        // `private_ip_address` holds one IPv4 address [T5].
        let address = match e.ips.as_slice() {
            [a @ IpAddr::V4(_)] => a.to_string(),
            _ => {
                return Err(ExportError::new(
                    F,
                    &e.name,
                    "private_ip_address",
                    format!(
                        "alicloud_ens_instance holds one IPv4 address; the endpoint has {}",
                        sorted_ips(&e.ips).join(", ")
                    ),
                ))
            }
        };
        let groups = ordered_ids(cloud, e);
        let Some((first, rest)) = groups.split_first() else {
            return Err(ExportError::new(
                F,
                &e.name,
                "security_id",
                "alicloud_ens_instance needs a security group",
            ));
        };
        out.push(resource(
            ALICLOUD,
            "alicloud_ens_instance",
            &Names::endpoint(k),
            json!({"id": e.name, "security_id": first, "private_ip_address": address}),
        ));
        // Further groups, in association order (their names sort in it).
        for (m, gid) in rest.iter().enumerate() {
            out.push(resource(
                ALICLOUD,
                "alicloud_ens_instance_security_group_attachment",
                &format!("{}_group_{:02}", Names::endpoint(k), m + 1),
                json!({"id": format!("{}:{gid}", e.name), "instance_id": e.name, "security_group_id": gid}),
            ));
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// huaweicloud

/// A v3 rule as the provider stores it: `""`/`0` for unset (SDKv2), `ports` the multiport
/// text, `port_range_min/max` the single range it reads back through v1 (`0` for a list).
fn huawei_rule(rule: &Rule) -> Result<Map<String, Value>, ExportError> {
    let id = rule.id.as_str();
    let p = rule_view(F, Provider::Huawei, rule)?;
    if p.get("enabled") == Some(&Value::Bool(false)) {
        return Err(ExportError::new(
            F,
            id,
            "enabled",
            "huaweicloud_networking_secgroup_rule has no attribute for a disabled rule",
        ));
    }
    let ports = text(p, "multiport");
    let (lo, hi) = match ports.split_once('-') {
        _ if ports.contains(',') || ports.is_empty() => (0, 0),
        Some((a, b)) => (a.trim().parse().unwrap_or(0), b.trim().parse().unwrap_or(0)),
        None => {
            let a: u64 = ports.trim().parse().unwrap_or(0);
            (a, a)
        }
    };
    let mut m = Map::new();
    m.insert("id".into(), Value::from(id));
    m.insert("description".into(), Value::from(text(p, "description")));
    m.insert("direction".into(), Value::from(text(p, "direction")));
    m.insert("ethertype".into(), Value::from(text(p, "ethertype")));
    m.insert("protocol".into(), Value::from(text(p, "protocol")));
    m.insert("ports".into(), Value::from(ports));
    m.insert("port_range_min".into(), Value::from(lo));
    m.insert("port_range_max".into(), Value::from(hi));
    m.insert(
        "remote_ip_prefix".into(),
        Value::from(text(p, "remote_ip_prefix")),
    );
    m.insert("remote_group_id".into(), Value::from(text(p, "remote_group_id")));
    m.insert(
        "remote_address_group_id".into(),
        Value::from(text(p, "remote_address_group_id")),
    );
    m.insert("action".into(), Value::from(text(p, "action")));
    m.insert("priority".into(), Value::from(priority(id, p, "priority")?));
    Ok(m)
}

fn huawei(cloud: &Cloud, members: HuaweiMembers) -> Result<Vec<Value>, ExportError> {
    let mut out = Vec::new();
    for (i, a) in cloud.address_groups().enumerate() {
        let shown = view(F, &a.id, &a.shown)?;
        out.push(resource(
            HUAWEICLOUD,
            "huaweicloud_vpc_address_group",
            &format!("address_group_{i:04}"),
            json!({
                "id": a.id,
                "name": a.name,
                "description": text(shown, "description"),
                "ip_version": shown.get("ip_version").cloned().unwrap_or(Value::Null),
                "addresses": shown.get("ip_set").cloned().unwrap_or_else(|| json!([])),
                "ip_extra_set": [],
                "max_capacity": shown.get("max_capacity").cloned().unwrap_or(Value::Null),
                "enterprise_project_id": text(shown, "enterprise_project_id"),
                "force_destroy": false,
            }),
        ));
    }
    for (i, g) in cloud.groups().enumerate() {
        if g.kind != GroupKind::Huawei {
            return Err(ExportError::new(
                F,
                &g.id,
                "huaweicloud_networking_secgroup",
                format!("a {:?} group in a Huawei cloud", g.kind),
            ));
        }
        let shown = view(F, &g.id, &g.shown)?;
        let mut listed = Vec::new();
        for (j, r) in g.rules.iter().enumerate() {
            let body = huawei_rule(r)?;
            listed.push(Value::Object(body.clone()));
            let mut values = body;
            values.insert("region".into(), Value::from(""));
            values.insert("security_group_id".into(), Value::from(g.id.clone()));
            values.insert("timeouts".into(), Value::Null);
            out.push(resource(
                HUAWEICLOUD,
                "huaweicloud_networking_secgroup_rule",
                &Names::rule(i, j),
                Value::Object(values),
            ));
        }
        // Every rule is a rule resource (the defaults the group was created with too), so
        // the group is created without defaults; `rules` is the computed read-back of all.
        out.push(resource(
            HUAWEICLOUD,
            "huaweicloud_networking_secgroup",
            &Names::group(i),
            json!({
                "id": g.id,
                "region": "",
                "name": g.name,
                "description": g.description,
                "enterprise_project_id": text(shown, "enterprise_project_id"),
                "delete_default_rules": true,
                "tags": {},
                "created_at": text(shown, "created_at"),
                "updated_at": text(shown, "updated_at"),
                "rules": listed,
                "timeouts": null,
            }),
        ));
    }
    for (k, e) in cloud.endpoints().iter().enumerate() {
        let (v4, v6): (Vec<IpAddr>, Vec<IpAddr>) = e.ips.iter().partition(|a| a.is_ipv4());
        let values = match members {
            HuaweiMembers::Ports => json!({
                "id": e.name,
                "name": "",
                "security_group_ids": ordered_ids(cloud, e),
                "all_security_group_ids": sorted_ids(cloud, e),
                "fixed_ip": e.ips.iter().map(|a| json!({"subnet_id": "", "ip_address": a.to_string()})).collect::<Vec<_>>(),
                "all_fixed_ips": e.ips.iter().map(ToString::to_string).collect::<Vec<_>>(),
                "no_security_groups": false,
            }),
            HuaweiMembers::Instances => {
                if v4.len() > 1 || v6.len() > 1 {
                    return Err(ExportError::new(
                        F,
                        &e.name,
                        "network",
                        "a huaweicloud_compute_instance network holds one IPv4 and one IPv6 address",
                    ));
                }
                let names: BTreeSet<String> = e
                    .groups
                    .iter()
                    .filter_map(|g| cloud.group(*g))
                    .map(|g| g.name.clone())
                    .collect();
                json!({
                    "id": e.name,
                    "name": e.name,
                    // A set in the provider's schema (trap 19): listed sorted.
                    "security_group_ids": sorted_ids(cloud, e),
                    "security_groups": names.into_iter().collect::<Vec<_>>(),
                    "network": [{
                        "uuid": "",
                        "fixed_ip_v4": v4.first().map(ToString::to_string).unwrap_or_default(),
                        "fixed_ip_v6": v6.first().map(ToString::to_string).unwrap_or_default(),
                        "ipv6_enable": !v6.is_empty(),
                        "source_dest_check": true,
                        "access_network": false,
                        "port": e.name,
                        "mac": "",
                    }],
                })
            }
        };
        let rtype = match members {
            HuaweiMembers::Ports => "huaweicloud_networking_port_v2",
            HuaweiMembers::Instances => "huaweicloud_compute_instance",
        };
        out.push(resource(HUAWEICLOUD, rtype, &Names::endpoint(k), values));
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// gcore v2

/// The attributes a Gcore rule shows that `gcore_cloud_security_group_rule` also has.
const GCORE_RULE: &[&str] = &[
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
    "description",
];

fn gcore(cloud: &Cloud) -> Result<Vec<Value>, ExportError> {
    let mut out = Vec::new();
    let mut project = (Value::Null, Value::Null);
    for (i, g) in cloud.groups().enumerate() {
        if g.kind != GroupKind::Gcore {
            return Err(ExportError::new(
                F,
                &g.id,
                "gcore_cloud_security_group",
                format!("a {:?} group in a Gcore cloud", g.kind),
            ));
        }
        let shown = view(F, &g.id, &g.shown)?;
        let pick = |k: &str| shown.get(k).cloned().unwrap_or(Value::Null);
        if i == 0 {
            project = (pick("project_id"), pick("region_id"));
        }
        let mut listed = Vec::new();
        for (j, r) in g.rules.iter().enumerate() {
            let p = rule_view(F, Provider::Gcore, r)?;
            listed.push(Value::Object(p.clone()));
            let mut values = Map::new();
            values.insert("id".into(), Value::from(r.id.clone()));
            values.insert("group_id".into(), Value::from(g.id.clone()));
            for k in GCORE_RULE {
                values.insert((*k).into(), p.get(*k).cloned().unwrap_or(Value::Null));
            }
            values.insert("project_id".into(), pick("project_id"));
            values.insert("region_id".into(), pick("region_id"));
            out.push(resource(
                GCORE,
                "gcore_cloud_security_group_rule",
                &Names::rule(i, j),
                Value::Object(values),
            ));
        }
        out.push(resource(
            GCORE,
            "gcore_cloud_security_group",
            &Names::group(i),
            json!({
                "id": g.id,
                "name": g.name,
                "description": g.description,
                "project_id": pick("project_id"),
                "region_id": pick("region_id"),
                "tags": null,
                // Read-only: every rule of the group, the rule resources' included.
                "security_group_rules": listed,
                "revision_number": pick("revision_number"),
                "tags_v2": pick("tags_v2"),
                "created_at": pick("created_at"),
                "updated_at": pick("updated_at"),
            }),
        ));
    }
    for (k, e) in cloud.endpoints().iter().enumerate() {
        let groups: Vec<Value> = ordered_ids(cloud, e)
            .into_iter()
            .map(|id| json!({"id": id}))
            .collect();
        let family = match (
            e.ips.iter().any(IpAddr::is_ipv4),
            e.ips.iter().any(IpAddr::is_ipv6),
        ) {
            (true, true) => Value::from("dual"),
            (false, true) => Value::from("ipv6"),
            (true, false) => Value::from("ipv4"),
            (false, false) => Value::Null,
        };
        let assignments: Vec<Value> = e
            .ips
            .iter()
            .map(|a| json!({"external": false, "ip_address": a.to_string(), "subnet_id": null}))
            .collect();
        out.push(resource(
            GCORE,
            "gcore_cloud_instance",
            &Names::endpoint(k),
            json!({
                "id": e.name,
                "project_id": project.0,
                "region_id": project.1,
                "interfaces": [{
                    "type": "subnet",
                    "network_id": null,
                    "subnet_id": null,
                    "ip_address": e.ips.first().map(ToString::to_string),
                    "port_id": e.name,
                    "ip_family": family,
                    "interface_name": null,
                    "floating_ip": null,
                    "security_groups": groups,
                }],
                "security_groups": null,
                "fixed_ip_assignments": assignments,
            }),
        ));
    }
    Ok(out)
}
