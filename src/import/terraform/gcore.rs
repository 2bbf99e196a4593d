//! `G-Core/gcore` resources of both provider lines (import-formats.md 2.3) [T10]-[T12].
//!
//! v0.x (SDKv2): `gcore_securitygroup` with its inline `security_group_rules` set (trap
//! 17: `port_range_min/max` `0` is every port, `""` an unset remote), `gcore_instance`
//! (`interface[]` with per-interface `security_groups`) and `gcore_instancev2`.
//! v2 (plugin framework, `null` for unset): `gcore_cloud_security_group` (its read-only
//! `security_group_rules` lists every rule, de-duplicated against rule resources; the input
//! `rules` when that list is not known), `gcore_cloud_security_group_rule` (`group_id`),
//! `gcore_cloud_instance` (`interfaces[].security_groups[].id`; a dual-stack interface's
//! second address from `fixed_ip_assignments`). In v2, `0` in `port_range_min/max` is a
//! value (ICMP type or code 0), not "every port".
//!
//! Rules become the rule body the describe reader produces: `protocol` `any` is every
//! protocol and left unset (trap 15). Rules are allow-only; group order does not matter
//! (groups are unioned), so instance set order is harmless here.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::value::{Got, Node};
use super::{refuse_unknown_attributes, Ctx, Instance, Ref};
use crate::import::{Defaults, EndpointRecord, ImportError, RuleRecord, UnresolvedKind};

/// Resource types read.
pub(crate) const TYPES: &[&str] = &[
    "gcore_securitygroup",
    "gcore_cloud_security_group",
    "gcore_cloud_security_group_rule",
    "gcore_instance",
    "gcore_instancev2",
    "gcore_cloud_instance",
];

const GROUPS: &[&str] = &["gcore_securitygroup", "gcore_cloud_security_group"];

/// Attributes of a rule (inline or resource) [T10][T12].
const RULE_ATTRIBUTES: &[&str] = &[
    "id",
    "group_id",
    "security_group_id",
    "direction",
    "ethertype",
    "protocol",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
    "description",
    "project_id",
    "region_id",
    "created_at",
    "updated_at",
    "revision_number",
];

/// Reads one resource in `pass` (0 groups, 1 rule resources, 2 instances).
pub(crate) fn read(ctx: &mut Ctx<'_>, inst: &Instance, pass: u8) -> Result<bool, ImportError> {
    match (inst.rtype.as_str(), pass) {
        ("gcore_securitygroup", 0) => group(ctx, inst, "security_group_rules", Defaults::Added)?,
        ("gcore_cloud_security_group", 0) => {
            let listed = inst.node().get("security_group_rules");
            if !listed.unknown() && matches!(listed.value(), Some(Value::Array(_))) {
                group(ctx, inst, "security_group_rules", Defaults::Listed)?
            } else {
                group(ctx, inst, "rules", Defaults::Added)?;
                if listed.unknown() && !ctx.configured(inst, "rules") {
                    let id = inst.key()?;
                    ctx.carry_listed(&id, inst)?;
                }
            }
        }
        ("gcore_cloud_security_group_rule", 1) => rule_resource(ctx, inst)?,
        ("gcore_instance", 2) => instance(ctx, inst, "interface", false)?,
        ("gcore_instancev2", 2) => instance(ctx, inst, "interface", false)?,
        ("gcore_cloud_instance", 2) => instance(ctx, inst, "interfaces", true)?,
        (t, _) => return Ok(TYPES.contains(&t)),
    }
    Ok(true)
}

fn group(ctx: &mut Ctx<'_>, inst: &Instance, list: &str, defaults: Defaults) -> Result<(), ImportError> {
    let n = inst.node();
    let id = inst.key()?;
    let gi = ctx.group(inst, &id, defaults);
    let at = crate::import::json::At::new(&inst.file, &inst.address);
    ctx.b.name(gi, n.get("name").text("name")?.known(), &at, "name")?;
    for attr in ["project_id", "region_id"] {
        if let Got::Known(v) = n.get(attr).int(attr, true)? {
            ctx.b.attribute(gi, attr, Value::from(v), &at, attr)?;
        }
    }
    let rules = n.get(list);
    if rules.unknown() {
        // v2's `rules` is Optional+Computed: omitted, it is unknown in a plan and the group
        // has no inline rules (the API's default egress rules are `Defaults::Added`).
        if ctx.configured(inst, list) {
            ctx.plan_unknown(&id, list, inst, "every rule of the group");
        }
        return Ok(());
    }
    super::listed_rules(
        ctx,
        inst,
        &rules,
        list,
        gi,
        RULE_ATTRIBUTES,
        defaults == Defaults::Listed,
        |ctx, inst, r, path, subject| rule_fields(ctx, inst, r, path, subject, None),
    )
}

/// A rule as the rule body; `None` when its direction is unknown. `resource` is set for a
/// rule resource (whose omitted attributes are `null` = unset, and whose references are
/// resolved through the configuration).
fn rule_fields(
    ctx: &mut Ctx<'_>,
    inst: &Instance,
    r: &Node<'_>,
    path: &str,
    subject: &str,
    resource: Option<()>,
) -> Result<Option<super::RuleBody>, ImportError> {
    let p = |a: &str| super::value::join(path, a);
    let omitted = |ctx: &Ctx<'_>, a: &str| resource.is_some() && !ctx.configured(inst, a);
    let mut fields = Map::new();
    let Some(direction) = super::neutron_head(ctx, inst, r, path, subject, &omitted, &mut fields)? else {
        return Ok(None);
    };
    let verdict = "what the rule matches";
    match r.get("protocol").text(&p("protocol"))? {
        // Trap 15: `any` is every protocol, unset in the rule body.
        Got::Known(t) if t.eq_ignore_ascii_case("any") => {}
        Got::Known(t) => {
            fields.insert("protocol".into(), Value::from(t.to_ascii_lowercase()));
        }
        Got::Unknown if !omitted(ctx, "protocol") => ctx.plan_unknown(subject, &p("protocol"), inst, verdict),
        _ => {}
    }
    // Trap 17: v0.x (SDKv2) writes 0 for "every port" (the API refuses a port 0); the v2
    // line (plugin framework) writes `null` for unset, so there 0 is a value: ICMP type 0
    // (echo reply) or code 0, which must not widen to every ICMP message.
    let v2 = inst.rtype.starts_with("gcore_cloud_");
    for attr in ["port_range_min", "port_range_max"] {
        match r.get(attr).int(&p(attr), !v2)? {
            Got::Known(v) if (i64::from(!v2)..=65_535).contains(&v) => {
                fields.insert(attr.into(), Value::from(v));
            }
            Got::Known(v) => {
                return Err(r.error(
                    &p(attr),
                    format!("`{v}` is not a port, ICMP type or code (0-65535)"),
                ))
            }
            Got::Unknown if !omitted(ctx, attr) => ctx.plan_unknown(subject, &p(attr), inst, verdict),
            _ => {}
        }
    }
    match r.get("remote_ip_prefix").text(&p("remote_ip_prefix"))? {
        Got::Known(t) => {
            fields.insert("remote_ip_prefix".into(), Value::from(t));
        }
        Got::Unknown if !omitted(ctx, "remote_ip_prefix") => {
            ctx.plan_unknown(subject, &p("remote_ip_prefix"), inst, "the rule's peer")
        }
        _ => {}
    }
    let node = r.get("remote_group_id");
    if !(node.unknown() && omitted(ctx, "remote_group_id")) {
        let got = if resource.is_some() {
            ctx.reference(
                inst,
                node,
                &["remote_group_id"],
                GROUPS,
                subject,
                "security group",
            )?
        } else {
            match node.text(&p("remote_group_id"))? {
                Got::Known(v) => Ref::Id(v),
                Got::Unknown => {
                    // An inline rule's peer: the configuration expression is the block's.
                    let i_path: Vec<&str> = path.split(['[', ']', '.']).filter(|s| !s.is_empty()).collect();
                    let mut full = i_path.clone();
                    full.push("remote_group_id");
                    ctx.reference(inst, node, &full, GROUPS, subject, "security group")?
                }
                Got::Unset => Ref::Unset,
            }
        };
        if let Ref::Id(v) = got {
            fields.insert("remote_group_id".into(), Value::from(v));
        }
    }
    if let Got::Known(d) = r.get("description").text(&p("description"))? {
        fields.insert("description".into(), Value::from(d));
    }
    Ok(Some((direction, fields)))
}

fn rule_resource(ctx: &mut Ctx<'_>, inst: &Instance) -> Result<(), ImportError> {
    let n = inst.node();
    refuse_unknown_attributes(n, &inst.values, "", RULE_ATTRIBUTES)?;
    let id = inst.key()?;
    let gid = match ctx.reference(
        inst,
        n.get("group_id"),
        &["group_id"],
        GROUPS,
        &id,
        "security group",
    )? {
        Ref::Id(g) => g,
        Ref::Open => return Ok(()),
        Ref::Unset => return Err(n.error("group_id", "is missing".to_owned())),
    };
    let Some((direction, fields)) = rule_fields(ctx, inst, &n, "", &id, Some(()))? else {
        return Ok(());
    };
    let gi = ctx.group_index(&gid, inst);
    ctx.rule(
        gi,
        RuleRecord {
            id: Some(id),
            address: Some(inst.address.clone()),
            origin: inst.origin(),
            direction,
            fields,
            default: false,
        },
    )
}

/// The group ids of a `security_groups` attribute: ids (v0.x) or `{id}` objects (v2).
fn group_ids(
    ctx: &mut Ctx<'_>,
    inst: &Instance,
    node: Node<'_>,
    path: &[&str],
    subject: &str,
) -> Result<(Vec<String>, bool), ImportError> {
    if node.unknown() {
        return ctx.references(inst, node, path, GROUPS, subject, "the interface's groups");
    }
    let items = node.items(&path.join("."))?;
    let ids: Vec<Node<'_>> = items
        .iter()
        .map(|i| match i.value() {
            Some(Value::Object(_)) => i.get("id"),
            _ => *i,
        })
        .collect();
    ctx.resolve_items(inst, &ids, path, GROUPS, subject, "the interface's groups")
}

fn instance(ctx: &mut Ctx<'_>, inst: &Instance, list: &str, v2: bool) -> Result<(), ImportError> {
    let n = inst.node();
    let key = inst.key()?;
    // v2's deprecated instance-wide `security_groups[] {id}` applies to every interface
    // [T12]; v0's computed `security_group[]` is not per port (trap 16) and is not used.
    let wide = if v2 {
        group_ids(ctx, inst, n.get("security_groups"), &["security_groups"], &key)?.0
    } else {
        Vec::new()
    };
    let interfaces = n.get(list);
    if interfaces.unknown() {
        ctx.plan_unknown(&key, list, inst, "the instance's interfaces and their groups");
        return Ok(());
    }
    for (i, itf) in interfaces.items(list)?.iter().enumerate() {
        let path = format!("{list}[{i}]");
        let name = match itf.get("port_id").text(&format!("{path}.port_id"))? {
            Got::Known(p) => p,
            _ if i == 0 => key.clone(),
            _ => format!("{key}.{path}"),
        };
        let i_str = i.to_string();
        let (mut groups, _) = group_ids(
            ctx,
            inst,
            itf.get("security_groups"),
            &[list, &i_str, "security_groups"],
            &name,
        )?;
        if groups.is_empty() {
            groups.clone_from(&wide);
        }
        if groups.is_empty() {
            ctx.open(
                UnresolvedKind::CloudDefault,
                &name,
                "security_groups",
                inst.origin_at(&path),
                format!(
                    "`{}` {path} names no security group: Gcore applies the project's default group, which no document shows",
                    inst.address
                ),
            );
        }
        let mut ips = Vec::new();
        if let Got::Known(t) = itf.get("ip_address").text(&format!("{path}.ip_address"))? {
            let ip: IpAddr = t.parse().map_err(|_| {
                itf.error(
                    &format!("{path}.ip_address"),
                    format!("`{t}` is not an IP address"),
                )
            })?;
            ips.push(ip);
        }
        if v2 {
            // An interface of `ip_family` `dual` has an address per family; the second one
            // is only in the instance's computed `fixed_ip_assignments` [T12]. An entry is
            // this interface's when the instance has one interface, or when both name the
            // same subnet; external (floating) addresses are not the port's.
            let subnet = itf.get("subnet_id").text(&format!("{path}.subnet_id"))?.known();
            let single = interfaces.items(list)?.len() == 1;
            let fixed = n.get("fixed_ip_assignments");
            if !fixed.unknown() {
                for (j, a) in fixed.items("fixed_ip_assignments")?.iter().enumerate() {
                    let apath = format!("fixed_ip_assignments[{j}]");
                    if a.get("external").boolean(&format!("{apath}.external"))? == Got::Known(true) {
                        continue;
                    }
                    let theirs = a.get("subnet_id").text(&format!("{apath}.subnet_id"))?.known();
                    let mine = single || (subnet.is_some() && theirs == subnet);
                    if let (true, Got::Known(t)) =
                        (mine, a.get("ip_address").text(&format!("{apath}.ip_address"))?)
                    {
                        let ip: IpAddr = t.parse().map_err(|_| {
                            a.error(
                                &format!("{apath}.ip_address"),
                                format!("`{t}` is not an IP address"),
                            )
                        })?;
                        if !ips.contains(&ip) {
                            ips.push(ip);
                        }
                    }
                }
            }
        }
        ctx.endpoint(
            EndpointRecord {
                name,
                address: Some(inst.address.clone()),
                instance: Some(key.clone()),
                origin: inst.origin_at(&path),
                ips,
                groups,
                order_known: true,
                port_security: true,
            },
            true,
        );
    }
    Ok(())
}
