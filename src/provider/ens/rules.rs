//! ENS rules on the wire, both directions: `parse_permission` reads a rule in either
//! style (a `CreateSecurityGroup` `Permissions.N` entry, or the older single-rule calls'
//! parameters, E3); `entry` and `emit` write a [`RuleDraft`] in those two styles; and
//! the older single-rule calls themselves (authorize, revoke).

use ipnet::IpNet;
use serde_json::{json, Map, Value};

use super::*;
use crate::provider::alibaba::rules::{cidr_field, match_fields, ports_text, proto_of, src_ports_text};
use crate::provider::alibaba::{FieldName, Proto};
use crate::provider::draft::{RuleDraft, Target};
use crate::request::Request;
use crate::rule::{Action, Direction, Family};

/// One `CreateSecurityGroup` `Permissions.N` entry (uppercase protocol, `Accept`/`Drop`,
/// the rule's own `Direction`).
pub(crate) fn entry(d: &RuleDraft) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("Direction".into(), json!(d.direction.to_string()));
    match_fields(&mut m, d);
    let policy = match d.action {
        Action::Allow => "Accept",
        Action::Deny => "Drop",
    };
    m.insert("Policy".into(), json!(policy));
    m.insert("Priority".into(), json!(d.priority));
    if !d.description.is_empty() {
        m.insert("Description".into(), json!(d.description));
    }
    m
}

/// The older single-rule call (`AuthorizeSecurityGroup[Egress]`, or with `revoke`
/// `RevokeSecurityGroup[Egress]`, E3): lowercase protocol and policy, the remote as an
/// IPv4 `SourceCidrIp` (ingress) or `DestCidrIp` (egress). `None` for what those calls
/// cannot say: no IPv4 remote prefix, a remote group, a local prefix, ICMPv6 or a
/// protocol they do not name. They take no description.
pub(crate) fn emit_legacy(target: &Target, d: &RuleDraft, revoke: bool) -> Option<(&'static str, Request)> {
    let net = match d.remote_cidr {
        Some(n @ IpNet::V4(_)) => n,
        _ => return None,
    };
    let proto = proto_of(d.protocol);
    let named = d.protocol.is_none() || proto != Proto::All;
    if d.local.is_some() || d.remote_group.is_some() || proto == Proto::Icmpv6 || !named {
        return None;
    }
    let api = match (revoke, d.direction) {
        (false, Direction::Ingress) => "AuthorizeSecurityGroup",
        (false, Direction::Egress) => "AuthorizeSecurityGroupEgress",
        (true, Direction::Ingress) => "RevokeSecurityGroup",
        (true, Direction::Egress) => "RevokeSecurityGroupEgress",
    };
    let mut m = Map::new();
    m.insert("SecurityGroupId".into(), json!(target.group));
    m.insert("IpProtocol".into(), json!(proto.lower()));
    m.insert("PortRange".into(), Value::String(ports_text(proto, &d.dst_ports)));
    if let Some(s) = src_ports_text(proto, d) {
        m.insert("SourcePortRange".into(), Value::String(s));
    }
    m.insert(
        cidr_field(d.direction, true, Family::V4).into(),
        Value::String(crate::provider::cidr_text(&net)),
    );
    m.insert("Policy".into(), json!(d.policy_lower()));
    m.insert("Priority".into(), json!(d.priority));
    Some((
        api,
        Request {
            params: Some(Value::Object(m)),
            ..Request::default()
        },
    ))
}

/// The call that adds one rule: the older single-rule call.
pub(crate) fn emit(target: &Target, d: &RuleDraft) -> Option<(&'static str, Request)> {
    emit_legacy(target, d, false)
}

/// The spelling a rule is shown in: CreateSecurityGroup's (`TCP`, `Accept`) or the older
/// calls' (`tcp`, `accept`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Style {
    Create,
    Legacy,
}

/// One validated rule.
pub(super) struct Perm {
    pub(super) spec: RuleSpec,
    /// The spelling the rule is shown in, once created (a revoke never shows it).
    pub(super) style: Style,
    pub(super) priority_given: bool,
}

/// A CIDR field of one family; anything else is `InvalidParameter.CidrIp`.
pub(super) fn cidr(q: &mut Params, key: &str, family: Family) -> Result<Option<IpNet>, ApiError> {
    alibaba::cidr(q, key, codes::INVALID_PARAMETER_CIDR_IP, family)
}

/// Reads one rule. `direction` is `None` when the rule carries its own `Direction`
/// (CreateSecurityGroup).
pub(super) fn parse_permission(
    q: &mut Params,
    direction: Option<Direction>,
    style: Style,
) -> Result<Perm, ApiError> {
    // Field names are written out only for an error message.
    let prefix = q.prefix().to_owned();
    let field = |key: &'static str| FieldName(&prefix, key);
    let direction = match direction {
        Some(d) => d,
        None => {
            let field = q.field("Direction");
            let text = q.required("Direction", codes::INVALID_DIRECTION)?;
            match text.as_str() {
                "ingress" => Direction::Ingress,
                "egress" => Direction::Egress,
                _ => {
                    return Err(invalid(
                        &field,
                        format!("`{field}` `{text}` must be ingress or egress"),
                    ))
                }
            }
        }
    };
    let proto_field = field("IpProtocol");
    let proto_text = q.required("IpProtocol", codes::INVALID_IP_PROTOCOL)?;
    let proto = Proto::parse(&proto_text)
        .filter(|p| match style {
            Style::Create => *p != Proto::Gre,
            Style::Legacy => *p != Proto::Icmpv6,
        })
        .ok_or_else(|| {
            let allowed = match style {
                Style::Create => "TCP, UDP, ICMP, ICMPv6 or ALL",
                Style::Legacy => "tcp, udp, icmp, gre or all",
            };
            invalid(
                &proto_field.to_string(),
                format!("`{proto_field}` `{proto_text}` must be {allowed}"),
            )
        })?;
    let port_field = field("PortRange");
    let port_text_given = q.required("PortRange", codes::INVALID_PARAMETER_PORT_RANGE)?;
    let ports = port_range(proto, &port_text_given).map_err(|_| {
        bad(
            codes::INVALID_PARAMETER_PORT_RANGE,
            format!(
                "`{port_field}` `{port_text_given}` is not valid for `{}`: TCP and UDP take `start/end` within 1..65535, ICMP and ALL `-1/-1`",
                proto.upper()
            ),
        )
    })?;
    let sport_field = field("SourcePortRange");
    let src_ports = match q.text("SourcePortRange", codes::INVALID_PARAMETER_PORT_RANGE)? {
        Some(text) => port_range(proto, &text).map_err(|_| {
            bad(
                codes::INVALID_PARAMETER_PORT_RANGE,
                format!(
                    "`{sport_field}` `{text}` is not valid for `{}`: TCP and UDP take `start/end` within 1..65535, ICMP and ALL `-1/-1`",
                    proto.upper()
                ),
            )
        })?,
        None => None,
    };
    let policy_field = field("Policy");
    let policy = match style {
        Style::Create => Some(q.required("Policy", codes::INVALID_POLICY)?),
        Style::Legacy => q.text("Policy", codes::INVALID_POLICY)?,
    };
    let action = match policy {
        None => Action::Allow,
        Some(t) => parse_policy(&t).ok_or_else(|| {
            invalid(
                &policy_field.to_string(),
                format!("`{policy_field}` `{t}` must be Accept or Drop"),
            )
        })?,
    };
    let prio_field = field("Priority");
    let prio_text = match style {
        Style::Create => Some(q.required("Priority", codes::INVALID_PRIORITY)?),
        Style::Legacy => q.text("Priority", codes::INVALID_PRIORITY)?,
    };
    let priority_given = prio_text.is_some();
    let priority = match prio_text {
        None => 1,
        Some(t) => t
            .parse::<u8>()
            .ok()
            .filter(|p| (1..=100).contains(p))
            .ok_or_else(|| {
                invalid(
                    &prio_field.to_string(),
                    format!("`{prio_field}` `{t}` must be an integer from 1 to 100"),
                )
            })?,
    };
    let description = if style == Style::Create {
        let field = q.field("Description");
        let d = q
            .text("Description", codes::INVALID_DESCRIPTION)?
            .unwrap_or_default();
        if !d.is_empty() && (!(2..=256).contains(&d.chars().count()) || starts_with_http(&d)) {
            return Err(invalid(
                &field,
                format!("`{field}` `{d}` must be 2 to 256 characters and not start with http:// or https://"),
            ));
        }
        d
    } else {
        String::new()
    };
    let (src4, src6, dst4, dst6) = match style {
        Style::Create => (
            cidr(q, "SourceCidrIp", Family::V4)?,
            cidr(q, "Ipv6SourceCidrIp", Family::V6)?,
            cidr(q, "DestCidrIp", Family::V4)?,
            cidr(q, "Ipv6DestCidrIp", Family::V6)?,
        ),
        // The older calls name only the remote side, IPv4 only (E3).
        Style::Legacy => match direction {
            Direction::Ingress => (cidr(q, "SourceCidrIp", Family::V4)?, None, None, None),
            Direction::Egress => (None, None, cidr(q, "DestCidrIp", Family::V4)?, None),
        },
    };
    one_family(
        q,
        (src4.is_some(), src6.is_some()),
        ("SourceCidrIp", "Ipv6SourceCidrIp"),
        codes::INVALID_PARAMETER_SOURCE_IP_CONFLICT,
        "at the same time",
    )?;
    one_family(
        q,
        (dst4.is_some(), dst6.is_some()),
        ("DestCidrIp", "Ipv6DestCidrIp"),
        codes::INVALID_PARAMETER_DEST_IP_CONFLICT,
        "at the same time",
    )?;
    let (src, dst) = (src4.or(src6), dst4.or(dst6));
    let (remote, local, remote_names) = match direction {
        Direction::Ingress => (src, dst, ("SourceCidrIp", "Ipv6SourceCidrIp")),
        Direction::Egress => (dst, src, ("DestCidrIp", "Ipv6DestCidrIp")),
    };
    // Our reading, not a documented rule: E1 marks the address fields optional. A
    // rule without its remote could mean "any address"; we refuse it (fail closed).
    let Some(remote) = remote else {
        let also = if style == Style::Create {
            format!(" (or `{}`)", q.field(remote_names.1))
        } else {
            String::new()
        };
        let field = q.field(remote_names.0);
        let mut e = alibaba::missing(&field);
        e.message = format!("`{field}`{also} is mandatory for an {direction} rule");
        return Err(e);
    };
    if let Some(l) = local {
        if Family::of_net(&l) != Family::of_net(&remote) {
            return Err(bad(
                codes::INVALID_PARAMETER_CIDR_IP,
                format!(
                    "the remote `{remote}` and the local `{l}` CIDR blocks of one rule mix IPv4 and IPv6"
                ),
            ));
        }
    }
    check_proto_family(
        proto,
        Some(Family::of_net(&remote)),
        codes::INVALID_PARAMETER,
        proto_field,
        &proto_text,
    )?;
    let spec = RuleSpec {
        direction,
        proto,
        ports,
        src_ports,
        remote: Remote::Cidr(remote),
        local,
        action,
        priority,
        description,
    };
    Ok(Perm {
        spec,
        style,
        priority_given,
    })
}

/// A rule as ENS shows it, its id first.
pub(super) fn shown_permission(spec: &RuleSpec, style: Style, id: &str) -> Value {
    let remote = match &spec.remote {
        Remote::Cidr(net) => Some(*net),
        _ => None,
    };
    let (src, dst) = match spec.direction {
        Direction::Ingress => (remote, spec.local),
        Direction::Egress => (spec.local, remote),
    };
    let text = |net: Option<IpNet>, family: Family| net_text(net.as_ref(), family);
    let (proto, policy) = match (style, spec.action) {
        (Style::Create, Action::Allow) => (spec.proto.upper(), "Accept"),
        (Style::Create, Action::Deny) => (spec.proto.upper(), "Drop"),
        (Style::Legacy, Action::Allow) => (spec.proto.lower(), "accept"),
        (Style::Legacy, Action::Deny) => (spec.proto.lower(), "drop"),
    };
    static SHOWN: crate::provider::rest::Template = crate::provider::rest::Template::new();
    SHOWN.object([
        ("SecurityGroupRuleId", id.into()),
        ("Direction", spec.direction.as_str().into()),
        ("IpProtocol", proto.into()),
        ("PortRange", Value::String(port_text(spec.ports))),
        (
            "SourcePortRange",
            Value::String(spec.src_ports.map(|r| port_text(Some(r))).unwrap_or_default()),
        ),
        ("SourceCidrIp", Value::String(text(src, Family::V4))),
        ("DestCidrIp", Value::String(text(dst, Family::V4))),
        ("Ipv6SourceCidrIp", Value::String(text(src, Family::V6))),
        ("Ipv6DestCidrIp", Value::String(text(dst, Family::V6))),
        ("Policy", policy.into()),
        ("Priority", spec.priority.into()),
        ("Description", spec.description.as_str().into()),
    ])
}

pub(super) fn duplicated(at: &str, what: &str) -> ApiError {
    bad(
        codes::SECURITY_GROUP_RULE_CONFLICT_DUPLICATED,
        format!("the rule of `{at}` already exists {what}"),
    )
}

pub(super) fn finish_rules(cloud: &Model, perms: &[Perm]) -> Vec<Rule> {
    alibaba::lower_rules(
        cloud,
        perms.iter(),
        |p| &p.spec,
        |p, id| shown_permission(&p.spec, p.style, id),
    )
}
/// The group a rule call names.
pub(super) fn target<'a>(cloud: &'a Model, p: &mut Params) -> Result<&'a Group, ApiError> {
    let id = p.required("SecurityGroupId", codes::INVALID_SECURITY_GROUP_ID)?;
    // Unconfirmed code: ENS lists none for an unknown group; this is ECS's.
    cloud
        .group_by_id(&id)
        .filter(|g| g.kind == GroupKind::Ens)
        .ok_or_else(|| {
            ApiError::new(
                404,
                codes::INVALID_SECURITY_GROUP_ID_NOT_FOUND,
                format!("`SecurityGroupId` `{id}` does not exist"),
            )
        })
}

/// The un-prefixed fields of the older single-rule calls (E3).
pub(super) fn legacy_fields(direction: Direction) -> &'static [&'static str] {
    match direction {
        Direction::Ingress => &[
            "IpProtocol",
            "PortRange",
            "SourcePortRange",
            "Policy",
            "Priority",
            "SourceCidrIp",
        ],
        Direction::Egress => &[
            "IpProtocol",
            "PortRange",
            "SourcePortRange",
            "Policy",
            "Priority",
            "DestCidrIp",
        ],
    }
}

/// The group and the rule an older single-rule call names (E3).
pub(super) fn legacy_rule<'a>(
    cloud: &'a Model,
    mut p: Params,
    direction: Direction,
    api: &str,
) -> Result<(&'a Group, Perm), ApiError> {
    let group = target(cloud, &mut p)?;
    let mut q = p.split_off(legacy_fields(direction));
    p.finish(api)?;
    let perm = parse_permission(&mut q, Some(direction), Style::Legacy)?;
    q.finish(api)?;
    Ok((group, perm))
}

pub(super) fn authorize(cloud: &mut Cx<'_, '_>, p: Params, direction: Direction, api: &str) -> Answer {
    let (group, perm) = legacy_rule(cloud, p, direction, api)?;
    let key = group.key;
    if perm.spec.may_be_in(cloud, key) && group.rules.iter().map(|r| &**r).any(perm.spec.matcher(true)) {
        return Err(duplicated(api, &format!("in `{}`", group.id)));
    }
    if cloud.enforces_quotas() && group.rules.len() >= RULES_PER_GROUP {
        return Err(bad(
            codes::AUTHORIZATION_LIMIT_EXCEED,
            format!(
                "`SecurityGroupId` `{}` already has {RULES_PER_GROUP} rules, the maximum",
                group.id
            ),
        ));
    }
    let rules = finish_rules(cloud, std::slice::from_ref(&perm));
    let created = rules.first().map(|r| r.id.clone());
    cloud.push_rules(key, rules);
    Ok((Map::new(), created))
}

pub(super) fn revoke(cloud: &mut Cx<'_, '_>, p: Params, direction: Direction, api: &str) -> Answer {
    let (group, perm) = legacy_rule(cloud, p, direction, api)?;
    let key = group.key;
    // The print index says whether any rule can match before the group is scanned.
    let remove: Vec<RuleKey> = if perm.spec.may_be_in(cloud, key) {
        let same = perm.spec.matcher(perm.priority_given);
        group.rules.iter().filter(|r| same(r)).map(|r| r.key).collect()
    } else {
        Vec::new()
    };
    cloud.remove_rules(key, &remove);
    Ok((Map::new(), None))
}
