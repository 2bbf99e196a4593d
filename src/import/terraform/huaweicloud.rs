//! `huaweicloud/huaweicloud` resources (import-formats.md 2.2) [T7]-[T9].
//!
//! `huaweicloud_networking_secgroup` with its computed `rules` (every rule of the group as
//! read back, default rules and rule resources included: de-duplicated against the rule
//! resources by id, which also drops a rule a plan deletes while the group's list still
//! shows it); `delete_default_rules` decides [`Defaults`] when the list is not known.
//! `huaweicloud_networking_secgroup_rule`, `huaweicloud_vpc_address_group`,
//! `huaweicloud_compute_instance` (trap 19: `security_group_ids` is a set in the provider
//! source, so its JSON order is not the association order: `order_known` is false and an
//! [`UnresolvedKind::GroupOrder`] item is listed, unless one group or an update that
//! appends one group to a known order settles it), and the port-level resources that keep
//! a list: `huaweicloud_networking_port_v2`, `huaweicloud_vpc_network_interface`,
//! `huaweicloud_compute_interface_attach`.
//!
//! Rules become the v3 `security_group_rule` body the describe reader produces. `action`
//! and `priority` left unset (`""`/`0` in a state read back without v3, unknown in a plan
//! when the configuration omits them) are [`UnresolvedKind::ContestedDefault`]: the docs
//! say priority 1, the v3 API definitions 100 or 1, and action allow or deny (section 6).

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::value::{Got, Node};
use super::{refuse_unknown_attributes, Ctx, Instance, Ref};
use crate::import::{AddressGroupRecord, Defaults, EndpointRecord, ImportError, RuleRecord, UnresolvedKind};

/// Resource types read.
pub(crate) const TYPES: &[&str] = &[
    "huaweicloud_networking_secgroup",
    "huaweicloud_networking_secgroup_rule",
    "huaweicloud_vpc_address_group",
    "huaweicloud_compute_instance",
    "huaweicloud_networking_port_v2",
    "huaweicloud_vpc_network_interface",
    "huaweicloud_compute_interface_attach",
];

const GROUPS: &[&str] = &["huaweicloud_networking_secgroup"];
const ADDRESS_GROUPS: &[&str] = &["huaweicloud_vpc_address_group"];
const PORTS: &[&str] = &[
    "huaweicloud_networking_port_v2",
    "huaweicloud_vpc_network_interface",
];

/// `huaweicloud_networking_secgroup_rule` attributes [T8].
const RULE_ATTRIBUTES: &[&str] = &[
    "id",
    "region",
    "security_group_id",
    "direction",
    "ethertype",
    "protocol",
    "ports",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
    "remote_address_group_id",
    "action",
    "priority",
    "description",
    "timeouts",
];

/// Attributes of an entry of a group's computed `rules` [T7].
const LISTED_ATTRIBUTES: &[&str] = &[
    "id",
    "description",
    "direction",
    "ethertype",
    "protocol",
    "ports",
    "port_range_min",
    "port_range_max",
    "remote_ip_prefix",
    "remote_group_id",
    "remote_address_group_id",
    "action",
    "priority",
];

/// Reads one resource in `pass` (0 groups, 1 rules, 2 instances and ports, 3 attachments).
pub(crate) fn read(ctx: &mut Ctx<'_>, inst: &Instance, pass: u8) -> Result<bool, ImportError> {
    match (inst.rtype.as_str(), pass) {
        ("huaweicloud_networking_secgroup", 0) => group(ctx, inst)?,
        ("huaweicloud_vpc_address_group", 0) => address_group(ctx, inst)?,
        ("huaweicloud_networking_secgroup_rule", 1) => rule(ctx, inst)?,
        ("huaweicloud_compute_instance", 2) => instance(ctx, inst)?,
        ("huaweicloud_networking_port_v2" | "huaweicloud_vpc_network_interface", 2) => port(ctx, inst)?,
        ("huaweicloud_compute_interface_attach", 3) => attach(ctx, inst)?,
        (t, _) => return Ok(TYPES.contains(&t)),
    }
    Ok(true)
}

fn group(ctx: &mut Ctx<'_>, inst: &Instance) -> Result<(), ImportError> {
    let n = inst.node();
    let id = inst.key()?;
    let rules = n.get("rules");
    let listed = !rules.unknown() && matches!(rules.value(), Some(Value::Array(_)));
    let defaults = if listed {
        Defaults::Listed
    } else if n.get("delete_default_rules").boolean("delete_default_rules")? == Got::Known(true) {
        Defaults::Deleted
    } else {
        Defaults::Added
    };
    let gi = ctx.group(inst, &id, defaults);
    let at = crate::import::json::At::new(&inst.file, &inst.address);
    ctx.b.name(gi, n.get("name").text("name")?.known(), &at, "name")?;
    for attr in ["enterprise_project_id", "description"] {
        if let Got::Known(v) = n.get(attr).text(attr)? {
            ctx.b.attribute(gi, attr, Value::from(v), &at, attr)?;
        }
    }
    if !listed {
        if rules.unknown() {
            ctx.carry_listed(&id, inst)?;
        }
        return Ok(());
    }
    super::listed_rules(
        ctx,
        inst,
        &rules,
        "rules",
        gi,
        LISTED_ATTRIBUTES,
        true,
        |ctx, inst, r, path, subject| rule_fields(ctx, inst, r, path, subject, false),
    )
}

/// An address-group entry: an address, a CIDR or a `first-last` range of one family [H4].
fn valid_entry(entry: &str, version: u8) -> bool {
    let family_ok = |a: &IpAddr| (a.is_ipv4() && version == 4) || (a.is_ipv6() && version == 6);
    if let Some((lo, hi)) = entry.split_once('-') {
        return match (lo.trim().parse::<IpAddr>(), hi.trim().parse::<IpAddr>()) {
            (Ok(lo), Ok(hi)) => family_ok(&lo) && family_ok(&hi) && lo <= hi,
            _ => false,
        };
    }
    if let Ok(net) = entry.parse::<ipnet::IpNet>() {
        return family_ok(&net.addr());
    }
    entry.parse::<IpAddr>().is_ok_and(|a| family_ok(&a))
}

fn address_group(ctx: &mut Ctx<'_>, inst: &Instance) -> Result<(), ImportError> {
    let n = inst.node();
    let id = inst.key()?;
    let ip_version = match n.get("ip_version").int("ip_version", true)? {
        Got::Known(4) | Got::Unset => 4,
        Got::Known(6) => 6,
        Got::Known(v) => return Err(n.error("ip_version", format!("`{v}` must be 4 or 6"))),
        Got::Unknown => {
            ctx.plan_unknown(
                &id,
                "ip_version",
                inst,
                "every rule that peers with the address group",
            );
            return Ok(());
        }
    };
    let mut ip_set = Vec::new();
    let addresses = n.get("addresses");
    let extra = n.get("ip_extra_set");
    if addresses.unknown() || (!addresses.is_set() && extra.unknown()) {
        ctx.plan_unknown(
            &id,
            "addresses",
            inst,
            "every rule that peers with the address group",
        );
        return Ok(());
    }
    for (i, a) in addresses.items("addresses")?.iter().enumerate() {
        match a.text(&format!("addresses[{i}]"))? {
            Got::Known(t) => ip_set.push(t),
            Got::Unknown => {
                ctx.plan_unknown(
                    &id,
                    "addresses",
                    inst,
                    "every rule that peers with the address group",
                );
                return Ok(());
            }
            Got::Unset => {}
        }
    }
    for (i, e) in extra.items("ip_extra_set")?.iter().enumerate() {
        match e.get("ip").text(&format!("ip_extra_set[{i}].ip"))? {
            Got::Known(t) => ip_set.push(t),
            Got::Unknown => {
                ctx.plan_unknown(
                    &id,
                    "ip_extra_set",
                    inst,
                    "every rule that peers with the address group",
                );
                return Ok(());
            }
            Got::Unset => {}
        }
    }
    for (i, entry) in ip_set.iter().enumerate() {
        if !valid_entry(entry, ip_version) {
            return Err(n.error(
                &format!("addresses[{i}]"),
                format!("`{entry}` is not an IPv{ip_version} address, CIDR or `first-last` range"),
            ));
        }
    }
    ctx.address_group_address(&id, &inst.address);
    let at = crate::import::json::At::new(&inst.file, &inst.address);
    ctx.b.address_group(
        AddressGroupRecord {
            id,
            address: Some(inst.address.clone()),
            name: n.get("name").text("name")?.known(),
            origin: inst.origin(),
            ip_version,
            ip_set,
        },
        &at,
    )
}

/// A rule (a rule resource, or an entry of a group's `rules`) as the v3 body; `None` when
/// its direction is unknown (listed as unresolved).
fn rule_fields(
    ctx: &mut Ctx<'_>,
    inst: &Instance,
    r: &Node<'_>,
    path: &str,
    subject: &str,
    resource: bool,
) -> Result<Option<super::RuleBody>, ImportError> {
    let p = |a: &str| super::value::join(path, a);
    // In a plan, an Optional+Computed attribute the configuration omits is unknown; for
    // these it becomes the API's documented "all" (unset), for action and priority a
    // contested default.
    let omitted = |ctx: &Ctx<'_>, a: &str| resource && !ctx.configured(inst, a);
    let mut fields = Map::new();
    let Some(direction) = super::neutron_head(ctx, inst, r, path, subject, &omitted, &mut fields)? else {
        return Ok(None);
    };
    let verdict = "what the rule matches";
    match r.get("protocol").text(&p("protocol"))? {
        Got::Known(t) => {
            fields.insert("protocol".into(), Value::from(t.to_ascii_lowercase()));
        }
        Got::Unknown if !omitted(ctx, "protocol") => ctx.plan_unknown(subject, &p("protocol"), inst, verdict),
        _ => {}
    }
    let ports = r.get("ports").text(&p("ports"))?;
    let lo = r.get("port_range_min").int(&p("port_range_min"), true)?;
    let hi = r.get("port_range_max").int(&p("port_range_max"), true)?;
    match (ports, lo, hi) {
        (Got::Known(t), _, _) => {
            fields.insert("multiport".into(), Value::from(t));
        }
        (Got::Unknown, _, _) if !omitted(ctx, "ports") => {
            ctx.plan_unknown(subject, &p("ports"), inst, verdict)
        }
        (_, Got::Unknown, _) | (_, _, Got::Unknown)
            if !omitted(ctx, "port_range_min") || !omitted(ctx, "port_range_max") =>
        {
            ctx.plan_unknown(subject, &p("port_range_min"), inst, verdict);
        }
        (_, Got::Known(a), b) => {
            let b = b.known().unwrap_or(a);
            let proto = fields.get("protocol").and_then(Value::as_str).unwrap_or("");
            if !matches!(proto, "tcp" | "udp" | "6" | "17" | "33" | "132" | "136") {
                return Err(r.error(
                    &p("port_range_min"),
                    format!("`{a}`/`{b}` on protocol `{proto}`: ICMP type/code has no v3 form sgeval reads"),
                ));
            }
            let text = if a == b { a.to_string() } else { format!("{a}-{b}") };
            fields.insert("multiport".into(), Value::from(text));
        }
        (_, Got::Unset, Got::Known(b)) => {
            return Err(r.error(&p("port_range_max"), format!("`{b}` without `port_range_min`")))
        }
        _ => {}
    }
    match r.get("remote_ip_prefix").text(&p("remote_ip_prefix"))? {
        // Trap 12: the provider stores `""` for "all addresses", the API `null`: both unset.
        Got::Known(t) => {
            fields.insert("remote_ip_prefix".into(), Value::from(t));
        }
        Got::Unknown if !omitted(ctx, "remote_ip_prefix") => {
            ctx.plan_unknown(subject, &p("remote_ip_prefix"), inst, "the rule's peer")
        }
        _ => {}
    }
    for (attr, want, what) in [
        ("remote_group_id", GROUPS, "security group"),
        ("remote_address_group_id", ADDRESS_GROUPS, "address group"),
    ] {
        let node = r.get(attr);
        if node.unknown() && omitted(ctx, attr) {
            continue;
        }
        let got = if resource {
            ctx.reference(inst, node, &[attr], want, subject, what)?
        } else {
            match node.text(&p(attr))? {
                Got::Known(v) => Ref::Id(v),
                Got::Unknown => {
                    ctx.plan_unknown(subject, &p(attr), inst, "the rule's peer");
                    Ref::Open
                }
                Got::Unset => Ref::Unset,
            }
        };
        if let Ref::Id(v) = got {
            fields.insert(attr.into(), Value::from(v));
        }
    }
    match r.get("action").text(&p("action"))? {
        Got::Known(a) => {
            let a = a.to_ascii_lowercase();
            if a != "allow" && a != "deny" {
                return Err(r.error(&p("action"), format!("`{a}` must be allow or deny")));
            }
            fields.insert("action".into(), Value::from(a));
        }
        Got::Unknown if !omitted(ctx, "action") => {
            ctx.plan_unknown(subject, &p("action"), inst, "the rule's action")
        }
        _ => contested(
            ctx,
            inst,
            subject,
            &p("action"),
            "action: the v3 create option says allow, the SDK's response model says deny",
        ),
    }
    match r.get("priority").int(&p("priority"), true)? {
        Got::Known(v) if (1..=100).contains(&v) => {
            fields.insert("priority".into(), Value::from(v));
        }
        Got::Known(v) => return Err(r.error(&p("priority"), format!("`{v}` must be from 1 to 100"))),
        Got::Unknown if !omitted(ctx, "priority") => {
            ctx.plan_unknown(subject, &p("priority"), inst, "the rule's priority")
        }
        _ => contested(
            ctx,
            inst,
            subject,
            &p("priority"),
            "priority: the provider docs say 1, the v3 API definitions 100 (CreateSecurityGroupRule) or 1 (BatchCreateSecurityGroupRules)",
        ),
    }
    if let Got::Known(d) = r.get("description").text(&p("description"))? {
        fields.insert("description".into(), Value::from(d));
    }
    Ok(Some((direction, fields)))
}

fn contested(ctx: &mut Ctx<'_>, inst: &Instance, subject: &str, field: &str, why: &str) {
    let message = format!(
        "`{}`: `{field}` is left to Huawei's default, and the documents disagree on it ({why}); every verdict that depends on this rule is unresolved",
        inst.address
    );
    ctx.open(
        UnresolvedKind::ContestedDefault,
        subject,
        field,
        inst.origin(),
        message,
    );
}

fn rule(ctx: &mut Ctx<'_>, inst: &Instance) -> Result<(), ImportError> {
    let n = inst.node();
    refuse_unknown_attributes(n, &inst.values, "", RULE_ATTRIBUTES)?;
    let id = inst.key()?;
    let gid = match ctx.reference(
        inst,
        n.get("security_group_id"),
        &["security_group_id"],
        GROUPS,
        &id,
        "security group",
    )? {
        Ref::Id(g) => g,
        Ref::Open => return Ok(()),
        Ref::Unset => return Err(n.error("security_group_id", "is missing".to_owned())),
    };
    let Some((direction, fields)) = rule_fields(ctx, inst, &n, "", &id, true)? else {
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

fn ip_list(n: &Node<'_>, attrs: &[&str]) -> Result<Vec<IpAddr>, ImportError> {
    let mut out = Vec::new();
    for attr in attrs {
        let a = n.get(attr);
        let texts: Vec<String> = match a.value() {
            Some(Value::Array(_)) => a
                .items(attr)?
                .iter()
                .filter_map(|x| match x.value() {
                    Some(Value::Object(_)) => x.get("ip_address").text(attr).ok().and_then(Got::known),
                    _ => x.text(attr).ok().and_then(Got::known),
                })
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

/// The association order of an instance's groups (trap 19): known with one group, or on
/// an update that keeps the prior (known) order and appends one group; else unknown.
fn instance_order(ctx: &Ctx<'_>, inst: &Instance, groups: &[String]) -> (Vec<String>, bool) {
    if groups.len() <= 1 {
        return (groups.to_vec(), true);
    }
    let prior = ctx.before.and_then(|b| {
        b.endpoints
            .iter()
            .find(|e| e.address.as_deref() == Some(inst.address.as_str()) && e.order_known)
    });
    if let Some(prior) = prior {
        // On update the provider takes removed groups off and appends added ones.
        let mut order: Vec<String> = prior
            .groups
            .iter()
            .filter(|g| groups.contains(g))
            .cloned()
            .collect();
        let added: Vec<&String> = groups.iter().filter(|g| !prior.groups.contains(g)).collect();
        if added.len() <= 1 {
            order.extend(added.into_iter().cloned());
            return (order, true);
        }
    }
    (groups.to_vec(), false)
}

fn instance(ctx: &mut Ctx<'_>, inst: &Instance) -> Result<(), ImportError> {
    let n = inst.node();
    let key = inst.key()?;
    let (ids, complete) = ctx.references(
        inst,
        n.get("security_group_ids"),
        &["security_group_ids"],
        GROUPS,
        &key,
        "the instance's groups and their order",
    )?;
    if ids.is_empty() && complete {
        if n.get("security_groups").is_set() {
            ctx.open(
                UnresolvedKind::MissingObject,
                &key,
                "security_groups",
                inst.origin(),
                format!(
                    "`{}` names its groups only by name: give `security_group_ids`",
                    inst.address
                ),
            );
        } else {
            ctx.open(
                UnresolvedKind::CloudDefault,
                &key,
                "security_group_ids",
                inst.origin(),
                format!("`{}` names no security group: Huawei applies the project's default group, which no document shows", inst.address),
            );
        }
    }
    let (groups, order_known) = instance_order(ctx, inst, &ids);
    let nets = n.get("network").items("network")?;
    let mut names = Vec::new();
    for (i, net) in nets.iter().enumerate() {
        let path = format!("network[{i}]");
        let name = match net.get("port").text(&format!("{path}.port"))? {
            Got::Known(p) => p,
            _ if i == 0 => key.clone(),
            _ => format!("{key}.{path}"),
        };
        let ips = ip_list(net, &["fixed_ip_v4", "fixed_ip_v6"])?;
        names.push((name, ips, inst.origin_at(&path)));
    }
    if names.is_empty() {
        names.push((
            key.clone(),
            ip_list(&n, &["access_ip_v4", "access_ip_v6"])?,
            inst.origin(),
        ));
    }
    for (name, ips, origin) in names {
        if !order_known {
            ctx.open(
                UnresolvedKind::GroupOrder,
                &name,
                "security_group_ids",
                origin.clone(),
                format!(
                    "`{}`: `security_group_ids` is a set in the provider's schema: its order in the JSON is not the order Huawei applies the groups in; answers that depend on the order are unresolved (attach the groups through a port resource to fix the order)",
                    inst.address
                ),
            );
        }
        ctx.endpoint(
            EndpointRecord {
                name,
                address: Some(inst.address.clone()),
                instance: Some(key.clone()),
                origin,
                ips,
                groups: groups.clone(),
                order_known,
                port_security: true,
            },
            false,
        );
    }
    Ok(())
}

fn port(ctx: &mut Ctx<'_>, inst: &Instance) -> Result<(), ImportError> {
    let n = inst.node();
    let name = inst.key()?;
    let (mut groups, _) = ctx.references(
        inst,
        n.get("security_group_ids"),
        &["security_group_ids"],
        GROUPS,
        &name,
        "the port's groups",
    )?;
    let mut order_known = true;
    if groups.is_empty()
        && n.get("all_security_group_ids").is_set()
        && !n.get("all_security_group_ids").unknown()
    {
        // Read back from the port; a set in the schema, so its order is known only for one.
        for (i, g) in n
            .get("all_security_group_ids")
            .items("all_security_group_ids")?
            .iter()
            .enumerate()
        {
            if let Got::Known(g) = g.text(&format!("all_security_group_ids[{i}]"))? {
                groups.push(g);
            }
        }
        order_known = groups.len() <= 1;
    }
    let port_security = !matches!(
        n.get("port_security_enabled").boolean("port_security_enabled")?,
        Got::Known(false)
    ) && !matches!(
        n.get("no_security_groups").boolean("no_security_groups")?,
        Got::Known(true)
    );
    if !order_known {
        ctx.open(
            UnresolvedKind::GroupOrder,
            &name,
            "all_security_group_ids",
            inst.origin(),
            format!(
                "`{}`: the port's groups are known only from a set: their order is unresolved",
                inst.address
            ),
        );
    }
    let instance = match n.get("instance_id").text("instance_id")? {
        Got::Known(i) => Some(i),
        _ => n.get("device_id").text("device_id")?.known(),
    };
    ctx.endpoint(
        EndpointRecord {
            name,
            address: Some(inst.address.clone()),
            instance,
            origin: inst.origin(),
            ips: ip_list(&n, &["fixed_ip", "all_fixed_ips", "fixed_ip_v4", "fixed_ip_v6"])?,
            groups,
            order_known,
            port_security,
        },
        true,
    );
    Ok(())
}

fn attach(ctx: &mut Ctx<'_>, inst: &Instance) -> Result<(), ImportError> {
    let n = inst.node();
    let subject = inst.address.clone();
    let instance = match ctx.reference(
        inst,
        n.get("instance_id"),
        &["instance_id"],
        &["huaweicloud_compute_instance"],
        &subject,
        "instance",
    )? {
        Ref::Id(i) => Some(i),
        _ => None,
    };
    let port = ctx.reference(inst, n.get("port_id"), &["port_id"], PORTS, &subject, "port")?;
    let name = match &port {
        Ref::Id(p) => p.clone(),
        _ => inst.key()?,
    };
    let (groups, _) = ctx.references(
        inst,
        n.get("security_group_ids"),
        &["security_group_ids"],
        GROUPS,
        &name,
        "the port's groups",
    )?;
    let ips = ip_list(&n, &["fixed_ip", "fixed_ipv6"])?;
    if let Some(e) = ctx.endpoint_mut(&name) {
        if e.instance.is_none() {
            e.instance = instance;
        }
        if !groups.is_empty() {
            // The attachment sets the port's groups, in its list's order.
            e.groups = groups;
            e.order_known = true;
        }
        return Ok(());
    }
    if groups.is_empty() {
        let (kind, why) = if matches!(port, Ref::Id(_)) {
            (
                UnresolvedKind::MissingObject,
                "attaches a port the document does not describe: its groups are not known",
            )
        } else {
            (UnresolvedKind::CloudDefault, "creates a port without security groups: Huawei applies the project's default group, which no document shows")
        };
        ctx.open(
            kind,
            &name,
            "security_group_ids",
            inst.origin(),
            format!("`{}` {why}", inst.address),
        );
    }
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
