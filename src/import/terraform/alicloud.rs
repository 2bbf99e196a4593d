//! `aliyun/alicloud` resources (import-formats.md 2.1) [T1]-[T5].
//!
//! ECS: `alicloud_security_group` (type and inner policy: trap 7's two facts in one
//! resource), `alicloud_security_group_rule`, `alicloud_ecs_prefix_list`, `alicloud_instance`
//! (its `security_groups` set is harmless: ECS pools the rules of all groups, trap 19),
//! `alicloud_ecs_network_interface` = `alicloud_network_interface` and their
//! `_attachment`. ENS: `alicloud_ens_security_group` (inline `permissions`),
//! `alicloud_ens_instance` (`security_id`) and
//! `alicloud_ens_instance_security_group_attachment`.
//!
//! Rules become the permission parameters the describe reader produces. Trap 18:
//! `alicloud_security_group_rule` names an egress rule's peer with the ingress-named
//! fields (`cidr_ip` is the destination, `source_security_group_id` the destination group);
//! they become `DestCidrIp`/`DestGroupId`/... as `AuthorizeSecurityGroupEgress` takes them.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::value::{Got, Node};
use super::{refuse_unknown_attributes, subject, Ctx, Instance, Ref};
use crate::import::{Defaults, EndpointRecord, ImportError, PrefixListRecord, RuleRecord, UnresolvedKind};
use crate::{Direction, Family, Provider};

/// ECS resource types read.
pub(crate) const ECS_TYPES: &[&str] = &[
    "alicloud_security_group",
    "alicloud_security_group_rule",
    "alicloud_ecs_prefix_list",
    "alicloud_instance",
    "alicloud_ecs_network_interface",
    "alicloud_network_interface",
    "alicloud_ecs_network_interface_attachment",
    "alicloud_network_interface_attachment",
];

/// ENS resource types read.
pub(crate) const ENS_TYPES: &[&str] = &[
    "alicloud_ens_security_group",
    "alicloud_ens_instance",
    "alicloud_ens_instance_security_group_attachment",
];

const GROUPS: &[&str] = &["alicloud_security_group"];
const ENS_GROUPS: &[&str] = &["alicloud_ens_security_group"];
const NICS: &[&str] = &["alicloud_ecs_network_interface", "alicloud_network_interface"];
const INSTANCES: &[&str] = &["alicloud_instance"];

/// `alicloud_security_group_rule` attributes [T2].
const RULE_ATTRIBUTES: &[&str] = &[
    "id",
    "security_group_id",
    "type",
    "ip_protocol",
    "port_range",
    "policy",
    "priority",
    "nic_type",
    "cidr_ip",
    "ipv6_cidr_ip",
    "source_security_group_id",
    "source_group_owner_account",
    "source_group_owner_id",
    "prefix_list_id",
    "description",
    "security_group_rule_id",
    "timeouts",
];

/// The peer attributes: (attribute, ingress parameter, egress parameter) (trap 18).
const PEERS: &[(&str, &str, &str)] = &[
    ("cidr_ip", "SourceCidrIp", "DestCidrIp"),
    ("ipv6_cidr_ip", "Ipv6SourceCidrIp", "Ipv6DestCidrIp"),
    (
        "source_group_owner_account",
        "SourceGroupOwnerAccount",
        "DestGroupOwnerAccount",
    ),
    ("source_group_owner_id", "SourceGroupOwnerId", "DestGroupOwnerId"),
];

/// An ENS permission's attributes and their parameters [T5][N1].
const ENS_PERMISSION: &[(&str, &str)] = &[
    ("ip_protocol", "IpProtocol"),
    ("port_range", "PortRange"),
    ("source_port_range", "SourcePortRange"),
    ("source_cidr_ip", "SourceCidrIp"),
    ("dest_cidr_ip", "DestCidrIp"),
    ("ipv6_source_cidr_ip", "Ipv6SourceCidrIp"),
    ("ipv6_dest_cidr_ip", "Ipv6DestCidrIp"),
    ("policy", "Policy"),
    ("priority", "Priority"),
    ("description", "Description"),
];

/// Reads one resource in `pass` (0 groups and prefix lists, 1 rules, 2 NICs, 3 attachments).
/// `false` for a type this reader does not know.
pub(crate) fn read(ctx: &mut Ctx<'_>, inst: &Instance, pass: u8) -> Result<bool, ImportError> {
    let ens_type = ENS_TYPES.contains(&inst.rtype.as_str());
    if ens_type != (ctx.provider == Provider::Ens) {
        if pass == 0 {
            let other = if ens_type { "an ENS" } else { "an ECS" };
            ctx.skip(
                inst,
                format!("{other} resource in a {} import", ctx.provider.name()),
            );
        }
        return Ok(true);
    }
    match (inst.rtype.as_str(), pass) {
        ("alicloud_security_group", 0) => group(ctx, inst)?,
        ("alicloud_ecs_prefix_list", 0) => prefix_list(ctx, inst)?,
        ("alicloud_security_group_rule", 1) => rule(ctx, inst)?,
        ("alicloud_instance", 2) => instance(ctx, inst)?,
        ("alicloud_ecs_network_interface" | "alicloud_network_interface", 2) => nic(ctx, inst)?,
        ("alicloud_ecs_network_interface_attachment" | "alicloud_network_interface_attachment", 3) => {
            attachment(ctx, inst)?
        }
        ("alicloud_ens_security_group", 0) => ens_group(ctx, inst)?,
        ("alicloud_ens_instance", 2) => ens_instance(ctx, inst)?,
        ("alicloud_ens_instance_security_group_attachment", 3) => ens_attachment(ctx, inst)?,
        (t, _) => return Ok(ECS_TYPES.contains(&t) || ENS_TYPES.contains(&t)),
    }
    Ok(true)
}

fn group(ctx: &mut Ctx<'_>, inst: &Instance) -> Result<(), ImportError> {
    let n = inst.node();
    let id = inst.key()?;
    let gi = ctx.group(inst, &id, Defaults::Added);
    let at = crate::import::json::At::new(&inst.file, &inst.address);
    let name = match n.get("security_group_name").text("security_group_name")? {
        Got::Known(s) => Some(s),
        _ => n.get("name").text("name")?.known(),
    };
    ctx.b.name(gi, name, &at, "security_group_name")?;
    if !matches!(n.get("vpc_id").text("vpc_id")?, Got::Unset) {
        ctx.vpc_groups.insert(id.clone());
    }
    for (attr, param) in [
        ("vpc_id", "VpcId"),
        ("description", "Description"),
        ("resource_group_id", "ResourceGroupId"),
    ] {
        if let Got::Known(v) = n.get(attr).text(attr)? {
            ctx.b.attribute(gi, param, Value::from(v), &at, attr)?;
        }
    }
    match n.get("security_group_type").text("security_group_type")? {
        Got::Known(t) => {
            let canon = match t.to_ascii_lowercase().as_str() {
                "normal" => "normal",
                "enterprise" => "enterprise",
                _ => {
                    return Err(n.error(
                        "security_group_type",
                        format!("`{t}` must be normal or enterprise"),
                    ))
                }
            };
            ctx.b
                .attribute(gi, "SecurityGroupType", Value::from(canon), &at, "security_group_type")?;
        }
        Got::Unknown => ctx.plan_unknown(
            &id,
            "security_group_type",
            inst,
            "whether the group is basic or advanced (its implicit policies)",
        ),
        Got::Unset => ctx.open(
            UnresolvedKind::MissingObject,
            &id,
            "security_group_type",
            inst.origin(),
            format!(
                "`{}` has no `security_group_type` (normal or enterprise): the group's implicit policies depend on it",
                inst.address
            ),
        ),
    }
    let policy = match n.get("inner_access_policy").text("inner_access_policy")? {
        Got::Unset => match n.get("inner_access").boolean("inner_access")? {
            // The deprecated boolean: true is Accept [T3].
            Got::Known(b) => Got::Known(if b { "Accept" } else { "Drop" }.to_owned()),
            _ => Got::Unset,
        },
        other => other,
    };
    match policy {
        Got::Known(p) => {
            let canon = match p.to_ascii_lowercase().as_str() {
                "accept" => "Accept",
                "drop" => "Drop",
                _ => return Err(n.error("inner_access_policy", format!("`{p}` must be Accept or Drop"))),
            };
            ctx.b.attribute(
                gi,
                "InnerAccessPolicy",
                Value::from(canon),
                &at,
                "inner_access_policy",
            )?;
        }
        Got::Unknown => ctx.plan_unknown(
            &id,
            "inner_access_policy",
            inst,
            "traffic between the group's own members",
        ),
        Got::Unset => {}
    }
    Ok(())
}

fn prefix_list(ctx: &mut Ctx<'_>, inst: &Instance) -> Result<(), ImportError> {
    let n = inst.node();
    let id = inst.key()?;
    let family = match n.get("address_family").text("address_family")? {
        Got::Known(f) if f.eq_ignore_ascii_case("ipv4") => Family::V4,
        Got::Known(f) if f.eq_ignore_ascii_case("ipv6") => Family::V6,
        Got::Known(f) => return Err(n.error("address_family", format!("`{f}` must be IPv4 or IPv6"))),
        _ => {
            ctx.plan_unknown(&id, "address_family", inst, "the prefix list's entries");
            return Ok(());
        }
    };
    let entries = n.get("entry");
    if entries.unknown() {
        ctx.plan_unknown(&id, "entry", inst, "every rule that peers with the prefix list");
        return Ok(());
    }
    let mut cidrs = Vec::new();
    for (i, e) in entries.items("entry")?.iter().enumerate() {
        let path = format!("entry[{i}].cidr");
        match e.get("cidr").text(&path)? {
            Got::Known(c) => {
                let net: Option<ipnet::IpNet> = c
                    .parse()
                    .ok()
                    .or_else(|| c.parse::<IpAddr>().ok().map(Into::into));
                match net {
                    Some(net) if Family::of_net(&net) == family => cidrs.push(c),
                    _ => return Err(n.error(&path, format!("`{c}` is not an {family} CIDR"))),
                }
            }
            Got::Unknown => {
                ctx.plan_unknown(&id, &path, inst, "every rule that peers with the prefix list");
                return Ok(());
            }
            Got::Unset => {}
        }
    }
    let at = crate::import::json::At::new(&inst.file, &inst.address);
    ctx.b.prefix_list(
        PrefixListRecord {
            id,
            origin: inst.origin(),
            family,
            entries: cidrs,
        },
        &at,
    )
}

/// `IpProtocol` as the describe reader writes it.
fn protocol(n: &Node<'_>, path: &str, text: &str) -> Result<&'static str, ImportError> {
    Ok(match text.to_ascii_lowercase().as_str() {
        "tcp" => "TCP",
        "udp" => "UDP",
        "icmp" => "ICMP",
        "icmpv6" | "icmp6" => "ICMPv6",
        "gre" => "GRE",
        "all" => "ALL",
        _ => {
            return Err(n.error(
                path,
                format!("`{text}` must be tcp, udp, icmp, icmpv6, gre or all"),
            ))
        }
    })
}

fn policy(n: &Node<'_>, path: &str, text: &str) -> Result<&'static str, ImportError> {
    match text.to_ascii_lowercase().as_str() {
        "accept" => Ok("Accept"),
        "drop" => Ok("Drop"),
        _ => Err(n.error(path, format!("`{text}` must be accept or drop"))),
    }
}

fn priority(n: &Node<'_>, path: &str, p: i64) -> Result<i64, ImportError> {
    if (1..=100).contains(&p) {
        Ok(p)
    } else {
        Err(n.error(path, format!("`{p}` must be from 1 to 100")))
    }
}

fn direction(n: &Node<'_>, path: &str, text: &str) -> Result<Direction, ImportError> {
    match text.to_ascii_lowercase().as_str() {
        "ingress" => Ok(Direction::Ingress),
        "egress" => Ok(Direction::Egress),
        _ => Err(n.error(path, format!("`{text}` must be ingress or egress"))),
    }
}

fn rule(ctx: &mut Ctx<'_>, inst: &Instance) -> Result<(), ImportError> {
    let n = inst.node();
    refuse_unknown_attributes(n, &inst.values, "", RULE_ATTRIBUTES)?;
    let id = match n.get("security_group_rule_id").text("security_group_rule_id")? {
        Got::Known(id) => Some(id),
        Got::Unknown => Some(crate::import::Id::Planned(inst.address.clone()).key()),
        Got::Unset if inst.unknown.is_some() => Some(crate::import::Id::Planned(inst.address.clone()).key()),
        Got::Unset => None,
    };
    let subject = subject(id.as_deref(), &inst.origin());
    let dir = match n.get("type").text("type")? {
        Got::Known(t) => direction(&n, "type", &t)?,
        Got::Unknown => {
            ctx.plan_unknown(&subject, "type", inst, "the rule's direction");
            return Ok(());
        }
        Got::Unset => return Err(n.error("type", "is missing (ingress or egress)".to_owned())),
    };
    let gid = match ctx.reference(
        inst,
        n.get("security_group_id"),
        &["security_group_id"],
        GROUPS,
        &subject,
        "security group",
    )? {
        Ref::Id(g) => g,
        Ref::Open => return Ok(()),
        Ref::Unset => return Err(n.error("security_group_id", "is missing".to_owned())),
    };
    let mut fields = Map::new();
    let verdict = "what the rule matches";
    match n.get("ip_protocol").text("ip_protocol")? {
        Got::Known(p) => {
            fields.insert("IpProtocol".into(), Value::from(protocol(&n, "ip_protocol", &p)?));
        }
        Got::Unknown => ctx.plan_unknown(&subject, "ip_protocol", inst, verdict),
        Got::Unset => return Err(n.error("ip_protocol", "is missing".to_owned())),
    }
    match n.get("port_range").text("port_range")? {
        Got::Known(p) => {
            fields.insert("PortRange".into(), Value::from(p));
        }
        Got::Unknown => ctx.plan_unknown(&subject, "port_range", inst, verdict),
        // The provider's default [T2].
        Got::Unset => {
            fields.insert("PortRange".into(), Value::from("-1/-1"));
        }
    }
    match n.get("policy").text("policy")? {
        Got::Known(p) => {
            fields.insert("Policy".into(), Value::from(policy(&n, "policy", &p)?));
        }
        Got::Unknown => ctx.plan_unknown(&subject, "policy", inst, "the rule's action"),
        Got::Unset => {}
    }
    match n.get("priority").int("priority", true)? {
        Got::Known(p) => {
            fields.insert("Priority".into(), Value::from(priority(&n, "priority", p)?));
        }
        Got::Unknown => ctx.plan_unknown(&subject, "priority", inst, "the rule's priority"),
        Got::Unset => {}
    }
    let gi = ctx.group_index(&gid, inst);
    match n.get("nic_type").text("nic_type")? {
        Got::Known(t) => {
            fields.insert("NicType".into(), Value::from(t.to_ascii_lowercase()));
        }
        Got::Unknown => {
            // A VPC group's rules are always intranet (E2); only a classic group's depend on it.
            if !ctx.vpc_groups.contains(&gid) {
                ctx.plan_unknown(
                    &subject,
                    "nic_type",
                    inst,
                    "which NICs of a classic group the rule applies to",
                );
            }
        }
        Got::Unset => {}
    }
    if let Got::Known(d) = n.get("description").text("description")? {
        fields.insert("Description".into(), Value::from(d));
    }
    let egress = dir == Direction::Egress;
    for (attr, ingress_param, egress_param) in PEERS {
        let param = if egress { egress_param } else { ingress_param };
        match n.get(attr).text(attr)? {
            Got::Known(v) => {
                fields.insert((*param).into(), Value::from(v));
            }
            Got::Unknown => ctx.plan_unknown(&subject, attr, inst, "the rule's peer"),
            Got::Unset => {}
        }
    }
    for (attr, want, ingress_param, egress_param, what) in [
        (
            "source_security_group_id",
            GROUPS,
            "SourceGroupId",
            "DestGroupId",
            "security group",
        ),
        (
            "prefix_list_id",
            &["alicloud_ecs_prefix_list"][..],
            "SourcePrefixListId",
            "DestPrefixListId",
            "prefix list",
        ),
    ] {
        let param = if egress { egress_param } else { ingress_param };
        if let Ref::Id(v) = ctx.reference(inst, n.get(attr), &[attr], want, &subject, what)? {
            fields.insert(param.into(), Value::from(v));
        }
    }
    ctx.rule(
        gi,
        RuleRecord {
            id,
            address: Some(inst.address.clone()),
            origin: inst.origin(),
            direction: dir,
            fields,
            default: false,
        },
    )
}

fn ens_group(ctx: &mut Ctx<'_>, inst: &Instance) -> Result<(), ImportError> {
    let n = inst.node();
    let id = inst.key()?;
    let gi = ctx.group(inst, &id, Defaults::Added);
    let at = crate::import::json::At::new(&inst.file, &inst.address);
    ctx.b.name(
        gi,
        n.get("security_group_name").text("security_group_name")?.known(),
        &at,
        "security_group_name",
    )?;
    if let Got::Known(d) = n.get("description").text("description")? {
        ctx.b
            .attribute(gi, "Description", Value::from(d), &at, "description")?;
    }
    let perms = n.get("permissions");
    if perms.unknown() {
        ctx.plan_unknown(&id, "permissions", inst, "every rule of the group");
        return Ok(());
    }
    for (i, p) in perms.items("permissions")?.iter().enumerate() {
        let path = format!("permissions[{i}]");
        let origin = inst.origin_at(&path);
        let subject = subject(None, &origin);
        let dir = match p.get("direction").text(&format!("{path}.direction"))? {
            Got::Known(d) => direction(p, &format!("{path}.direction"), &d)?,
            Got::Unknown => {
                ctx.plan_unknown(
                    &subject,
                    &format!("{path}.direction"),
                    inst,
                    "the rule's direction",
                );
                continue;
            }
            Got::Unset => return Err(p.error(&format!("{path}.direction"), "is missing".to_owned())),
        };
        let mut fields = Map::new();
        for (attr, param) in ENS_PERMISSION {
            let apath = format!("{path}.{attr}");
            let a = p.get(attr);
            let got = if *attr == "priority" {
                match a.int(&apath, true)? {
                    Got::Known(v) => Got::Known(Value::from(priority(p, &apath, v)?)),
                    Got::Unknown => Got::Unknown,
                    Got::Unset => Got::Unset,
                }
            } else {
                match a.text(&apath)? {
                    Got::Known(v) => Got::Known(match *attr {
                        "ip_protocol" => Value::from(protocol(p, &apath, &v)?),
                        "policy" => Value::from(policy(p, &apath, &v)?),
                        // `-1/-1` is Alibaba's "every port"; as a source-port filter it is none
                        // (the spelling ENS stores for "any" is unverified, section 6).
                        "source_port_range" if v == "-1/-1" => continue,
                        _ => Value::from(v),
                    }),
                    Got::Unknown => Got::Unknown,
                    Got::Unset => Got::Unset,
                }
            };
            match got {
                Got::Known(v) => {
                    fields.insert((*param).into(), v);
                }
                // Optional+Computed attributes a permission block omits: the source-port filter
                // and the description are then none (every source port, no text).
                Got::Unknown
                    if matches!(*attr, "source_port_range" | "description")
                        && !ctx.configured_path(inst, &["permissions", &i.to_string(), attr]) => {}
                Got::Unknown if *attr != "description" => {
                    ctx.plan_unknown(&subject, &apath, inst, "what the rule matches");
                }
                _ => {}
            }
        }
        ctx.rule(
            gi,
            RuleRecord {
                id: None,
                address: Some(inst.address.clone()),
                origin,
                direction: dir,
                fields,
                default: false,
            },
        )?;
    }
    Ok(())
}

/// Addresses of the `attrs` (single addresses or lists of them); unknown ones left out.
fn addresses(n: &Node<'_>, attrs: &[&str]) -> Result<Vec<IpAddr>, ImportError> {
    let mut out = Vec::new();
    for attr in attrs {
        let a = n.get(attr);
        let texts: Vec<String> = match a.value() {
            Some(Value::Array(_)) => a
                .items(attr)?
                .iter()
                .enumerate()
                .filter_map(|(i, x)| x.text(&format!("{attr}[{i}]")).ok().and_then(Got::known))
                .collect(),
            _ => a.text(attr)?.known().into_iter().collect(),
        };
        for t in texts {
            let ip: IpAddr = t
                .parse()
                .map_err(|_| n.error(attr, format!("`{t}` is not an IP address")))?;
            if !out.contains(&ip) {
                out.push(ip);
            }
        }
    }
    Ok(out)
}

fn instance(ctx: &mut Ctx<'_>, inst: &Instance) -> Result<(), ImportError> {
    let n = inst.node();
    let key = inst.key()?;
    let name = match n.get("network_interface_id").text("network_interface_id")? {
        Got::Known(eni) => eni,
        _ => key.clone(),
    };
    let (groups, _) = ctx.references(
        inst,
        n.get("security_groups"),
        &["security_groups"],
        GROUPS,
        &name,
        "the instance's groups",
    )?;
    let ips = addresses(
        &n,
        &[
            "private_ip",
            "primary_ip_address",
            "secondary_private_ips",
            "ipv6_addresses",
        ],
    )?;
    ctx.endpoint(
        EndpointRecord {
            name,
            address: Some(inst.address.clone()),
            instance: Some(key.clone()),
            origin: inst.origin(),
            ips,
            groups,
            order_known: true,
            port_security: true,
        },
        false,
    );
    // Secondary ENIs created with the instance, each with its own groups [T4].
    let blocks = n.get("network_interfaces");
    for (i, b) in blocks.items("network_interfaces")?.iter().enumerate() {
        let path = format!("network_interfaces[{i}]");
        let name = match b
            .get("network_interface_id")
            .text(&format!("{path}.network_interface_id"))?
        {
            Got::Known(eni) => eni,
            _ => format!("{key}.{path}"),
        };
        let i_str = i.to_string();
        let (groups, _) = ctx.references(
            inst,
            b.get("security_group_ids"),
            &["network_interfaces", &i_str, "security_group_ids"],
            GROUPS,
            &name,
            "the ENI's groups",
        )?;
        ctx.endpoint(
            EndpointRecord {
                name,
                address: Some(inst.address.clone()),
                instance: Some(key.clone()),
                origin: inst.origin_at(&path),
                ips: addresses(b, &["primary_ip_address", "private_ip"])?,
                groups,
                order_known: true,
                port_security: true,
            },
            true,
        );
    }
    Ok(())
}

fn nic(ctx: &mut Ctx<'_>, inst: &Instance) -> Result<(), ImportError> {
    let n = inst.node();
    let name = inst.key()?;
    let attr = if n.get("security_group_ids").is_set() || !n.get("security_groups").is_set() {
        "security_group_ids"
    } else {
        "security_groups"
    };
    let (groups, _) = ctx.references(inst, n.get(attr), &[attr], GROUPS, &name, "the ENI's groups")?;
    let ips = addresses(
        &n,
        &[
            "primary_ip_address",
            "private_ip",
            "private_ip_addresses",
            "private_ips",
            "ipv6_addresses",
        ],
    )?;
    let instance = n.get("instance_id").text("instance_id")?.known();
    ctx.endpoint(
        EndpointRecord {
            name,
            address: Some(inst.address.clone()),
            instance,
            origin: inst.origin(),
            ips,
            groups,
            order_known: true,
            port_security: true,
        },
        true,
    );
    Ok(())
}

fn attachment(ctx: &mut Ctx<'_>, inst: &Instance) -> Result<(), ImportError> {
    let n = inst.node();
    let subject = inst.address.clone();
    let eni = ctx.reference(
        inst,
        n.get("network_interface_id"),
        &["network_interface_id"],
        NICS,
        &subject,
        "network interface",
    )?;
    let instance = ctx.reference(
        inst,
        n.get("instance_id"),
        &["instance_id"],
        INSTANCES,
        &subject,
        "instance",
    )?;
    if let (Ref::Id(eni), Ref::Id(instance)) = (eni, instance) {
        match ctx.endpoint_mut(&eni) {
            Some(e) => e.instance = Some(instance),
            None => ctx.b.notes.push(format!(
                "{}: `{}` attaches ENI `{eni}` that the document does not describe",
                inst.file, inst.address
            )),
        }
    }
    Ok(())
}

fn ens_instance(ctx: &mut Ctx<'_>, inst: &Instance) -> Result<(), ImportError> {
    let n = inst.node();
    let key = inst.key()?;
    let mut groups = Vec::new();
    if let Ref::Id(g) = ctx.reference(
        inst,
        n.get("security_id"),
        &["security_id"],
        ENS_GROUPS,
        &key,
        "ENS security group",
    )? {
        groups.push(g);
    }
    ctx.endpoint(
        EndpointRecord {
            name: key.clone(),
            address: Some(inst.address.clone()),
            instance: Some(key),
            origin: inst.origin(),
            ips: addresses(&n, &["private_ip_address"])?,
            groups,
            order_known: true,
            port_security: true,
        },
        false,
    );
    Ok(())
}

fn ens_attachment(ctx: &mut Ctx<'_>, inst: &Instance) -> Result<(), ImportError> {
    let n = inst.node();
    let subject = inst.address.clone();
    let instance = ctx.reference(
        inst,
        n.get("instance_id"),
        &["instance_id"],
        &["alicloud_ens_instance"],
        &subject,
        "ENS instance",
    )?;
    // An unknown group is a gap in the instance's membership: name the instance.
    let member = match &instance {
        Ref::Id(i) => i.clone(),
        _ => subject.clone(),
    };
    let group = ctx.reference(
        inst,
        n.get("security_group_id"),
        &["security_group_id"],
        ENS_GROUPS,
        &member,
        "ENS security group",
    )?;
    if let (Ref::Id(instance), Ref::Id(group)) = (instance, group) {
        match ctx.endpoint_mut(&instance) {
            Some(e) => {
                if !e.groups.contains(&group) {
                    e.groups.push(group);
                }
            }
            None => ctx.endpoint(
                EndpointRecord {
                    name: instance.clone(),
                    address: Some(inst.address.clone()),
                    instance: Some(instance),
                    origin: inst.origin(),
                    ips: Vec::new(),
                    groups: vec![group],
                    order_known: true,
                    port_security: true,
                },
                false,
            ),
        }
    }
    Ok(())
}
