//! Alibaba Cloud ENS (Edge Node Service, 2017-11-10) security groups:
//! `CreateSecurityGroup` with inline `Permissions` (seed 002), and the older single-rule
//! calls `AuthorizeSecurityGroup[Egress]` / `RevokeSecurityGroup[Egress]` (E3),
//! validated with the codes of seed 002's table and lowered to [`crate::Rule`]s
//! ([`crate::GroupKind::Ens`]: no group references, no intra-group policy).
//!
//! Readings fixed here (SEMANTICS.md states them):
//! - Each rule names its remote side by direction: an ingress rule's remote is
//!   `SourceCidrIp` / `Ipv6SourceCidrIp`, an egress rule's `DestCidrIp` / `Ipv6DestCidrIp`.
//!   The other pair, when given, narrows the instance's own address (the ECS quintuple
//!   reading: `DestCidrIp` on ingress, `SourceCidrIp` on egress). The remote is required
//!   (`MissingSourceCidrIp` / `MissingDestCidrIp`). This is our reading, not ENS's: seed 002
//!   marks every address field optional and says nothing of a rule without one, which could
//!   mean "any address" or be refused; we refuse it rather than guess (fail closed,
//!   Decision 8).
//! - One rule is one family: v4 and v6 fields of one side conflict
//!   (`InvalidParameter.SourceIpConflict` / `DestIpConflict`), and a v4 remote with a v6
//!   local (or the reverse) is `InvalidParameter.CidrIp`.
//! - `IpProtocol` is read in any case. CreateSecurityGroup takes TCP, UDP, ICMP, ALL and
//!   (as CreateSecurityGroupPermissions does, E4) ICMPv6; the older Authorize calls take
//!   tcp, udp, icmp, gre, all and IPv4 addresses only (E3).
//! - A rule identical to one of the group's (every matching field, action and priority)
//!   is `SecurityGroupRuleConflict.Duplicated`, within one request or against the group.
//! - Revoking a rule that does not exist succeeds and removes nothing (unconfirmed).
//! - 100 groups per account (`QuotaExceed.SecurityGroup`, 400): ENS documents the code,
//!   not the number (unconfirmed; ECS's default).
//! - Parameters ENS does not define for the API are refused (`InvalidParameter`).

pub(crate) mod rules;

use ipnet::IpNet;
use serde_json::{json, Map, Value};

use crate::cloud::{Cloud, Request, Response};
use crate::group::{Group, GroupKey, GroupKind};
use crate::provider::alibaba::{
    self, check_proto_family, created_group, group_id, into_map, net_text, one_family, parse_policy,
    port_range, port_text, starts_with_http, valid_name, Dialect, Params, Proto, RuleSpec,
};
use crate::provider::ApiError;
use crate::rule::{Action, Direction, Family, Remote, Rule, RuleKey};

/// The API names this front end answers.
pub const APIS: &[&str] = &[
    "CreateSecurityGroup",
    "AuthorizeSecurityGroup",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroup",
    "RevokeSecurityGroupEgress",
];

/// Rules per group, inline or added later (seed 002: `Permissions` N = 0..200).
pub const RULES_PER_GROUP: usize = 200;
/// Security groups per account (unconfirmed).
pub const GROUPS_PER_ACCOUNT: usize = 100;

/// Bookkeeping of this front end (ENS keeps none beyond the groups themselves).
#[derive(Clone, Debug, Default)]
pub(crate) struct State {}

type Answer = Result<(Map<String, Value>, Option<String>), ApiError>;

pub(crate) fn call(cloud: &mut Cloud, api: &str, request: &Request) -> Response {
    let answer = Params::parse(request).and_then(|params| match api {
        "CreateSecurityGroup" => create(cloud, params),
        "AuthorizeSecurityGroup" => authorize(cloud, params, Direction::Ingress, api),
        "AuthorizeSecurityGroupEgress" => authorize(cloud, params, Direction::Egress, api),
        "RevokeSecurityGroup" => revoke(cloud, params, Direction::Ingress, api),
        "RevokeSecurityGroupEgress" => revoke(cloud, params, Direction::Egress, api),
        other => Err(ApiError::new(
            400,
            "InvalidAction.NotFound",
            format!("`{other}` is not an ENS security group API ({})", APIS.join(", ")),
        )),
    });
    match answer {
        Ok((fields, created)) => alibaba::ok(cloud, Dialect::Ens, fields, created),
        Err(e) => alibaba::error(cloud, Dialect::Ens, e),
    }
}

fn bad(code: &'static str, message: String) -> ApiError {
    ApiError::new(400, code, message)
}

/// `Invalid<Param>` (seed 002: `Invalid%s`), named by the field's last segment.
fn invalid(field: &str, message: String) -> ApiError {
    let leaf = field.rsplit('.').next().unwrap_or(field);
    bad(alibaba::codes::invalid(leaf), message).at(field)
}

/// The spelling a rule is shown in: CreateSecurityGroup's (`TCP`, `Accept`) or the older
/// calls' (`tcp`, `accept`).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Style {
    Create,
    Legacy,
}

/// One validated rule.
struct Perm {
    spec: RuleSpec,
    shown: Map<String, Value>,
    priority_given: bool,
}

/// A CIDR field of one family; anything else is `InvalidParameter.CidrIp`.
fn cidr(q: &mut Params, key: &str, family: Family) -> Result<Option<IpNet>, ApiError> {
    alibaba::cidr(q, key, "InvalidParameter.CidrIp", family)
}

/// Reads one rule. `direction` is `None` when the rule carries its own `Direction`
/// (CreateSecurityGroup).
fn parse_permission(q: &mut Params, direction: Option<Direction>, style: Style) -> Result<Perm, ApiError> {
    let direction = match direction {
        Some(d) => d,
        None => {
            let field = q.field("Direction");
            let text = q.required("Direction", "InvalidDirection")?;
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
    let proto_field = q.field("IpProtocol");
    let proto_text = q.required("IpProtocol", "InvalidIpProtocol")?;
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
                &proto_field,
                format!("`{proto_field}` `{proto_text}` must be {allowed}"),
            )
        })?;
    let port_field = q.field("PortRange");
    let port_text_given = q.required("PortRange", "InvalidParameter.PortRange")?;
    let ports = port_range(proto, &port_text_given).map_err(|_| {
        bad(
            "InvalidParameter.PortRange",
            format!(
                "`{port_field}` `{port_text_given}` is not valid for `{}`: TCP and UDP take `start/end` within 1..65535, ICMP and ALL `-1/-1`",
                proto.upper()
            ),
        )
    })?;
    let sport_field = q.field("SourcePortRange");
    let src_ports = match q.text("SourcePortRange", "InvalidParameter.PortRange")? {
        Some(text) => port_range(proto, &text).map_err(|_| {
            bad(
                "InvalidParameter.PortRange",
                format!(
                    "`{sport_field}` `{text}` is not valid for `{}`: TCP and UDP take `start/end` within 1..65535, ICMP and ALL `-1/-1`",
                    proto.upper()
                ),
            )
        })?,
        None => None,
    };
    let policy_field = q.field("Policy");
    let policy = match style {
        Style::Create => Some(q.required("Policy", "InvalidPolicy")?),
        Style::Legacy => q.text("Policy", "InvalidPolicy")?,
    };
    let action = match policy {
        None => Action::Allow,
        Some(t) => parse_policy(&t).ok_or_else(|| {
            invalid(
                &policy_field,
                format!("`{policy_field}` `{t}` must be Accept or Drop"),
            )
        })?,
    };
    let prio_field = q.field("Priority");
    let prio_text = match style {
        Style::Create => Some(q.required("Priority", "InvalidPriority")?),
        Style::Legacy => q.text("Priority", "InvalidPriority")?,
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
                    &prio_field,
                    format!("`{prio_field}` `{t}` must be an integer from 1 to 100"),
                )
            })?,
    };
    let description = if style == Style::Create {
        let field = q.field("Description");
        let d = q.text("Description", "InvalidDescription")?.unwrap_or_default();
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
        "InvalidParameter.SourceIpConflict",
        "at the same time",
    )?;
    one_family(
        q,
        (dst4.is_some(), dst6.is_some()),
        ("DestCidrIp", "Ipv6DestCidrIp"),
        "InvalidParameter.DestIpConflict",
        "at the same time",
    )?;
    let (src, dst) = (src4.or(src6), dst4.or(dst6));
    let (remote, local, remote_names) = match direction {
        Direction::Ingress => (src, dst, ("SourceCidrIp", "Ipv6SourceCidrIp")),
        Direction::Egress => (dst, src, ("DestCidrIp", "Ipv6DestCidrIp")),
    };
    // Our reading, not a documented rule: seed 002 marks the address fields optional. A
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
                "InvalidParameter.CidrIp",
                format!(
                    "the remote `{remote}` and the local `{l}` CIDR blocks of one rule mix IPv4 and IPv6"
                ),
            ));
        }
    }
    check_proto_family(
        proto,
        Some(Family::of_net(&remote)),
        "InvalidParameter",
        &proto_field,
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
    let shown = shown_permission(&spec, style);
    Ok(Perm {
        spec,
        shown,
        priority_given,
    })
}

/// A rule as ENS shows it.
fn shown_permission(spec: &RuleSpec, style: Style) -> Map<String, Value> {
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
    let v = json!({
        "Direction": spec.direction.to_string(),
        "IpProtocol": proto,
        "PortRange": port_text(spec.ports),
        "SourcePortRange": spec.src_ports.map(|r| port_text(Some(r))).unwrap_or_default(),
        "SourceCidrIp": text(src, Family::V4),
        "DestCidrIp": text(dst, Family::V4),
        "Ipv6SourceCidrIp": text(src, Family::V6),
        "Ipv6DestCidrIp": text(dst, Family::V6),
        "Policy": policy,
        "Priority": spec.priority,
        "Description": spec.description,
    });
    into_map(v)
}

fn duplicated(at: &str, what: &str) -> ApiError {
    bad(
        "SecurityGroupRuleConflict.Duplicated",
        format!("the rule of `{at}` already exists {what}"),
    )
}

fn finish_rules(cloud: &Cloud, perms: &[Perm]) -> Vec<Rule> {
    alibaba::lower_rules(cloud, perms.iter().map(|p| (&p.spec, &p.shown)))
}

fn create(cloud: &mut Cloud, mut p: Params) -> Answer {
    let name = p.text("SecurityGroupName", "InvalidSecurityGroupName")?;
    if let Some(n) = &name {
        if !valid_name(n, 2, 128, &[':', '_', '-']) {
            return Err(bad(
                "InvalidSecurityGroupName",
                format!(
                    "`SecurityGroupName` `{n}` must be 2 to 128 characters, start with a letter, not start with http:// or https://, and hold only letters, digits, `:`, `_` and `-`"
                ),
            ));
        }
    }
    let description = p.text("Description", "InvalidDescription")?;
    if let Some(d) = &description {
        let ok = (2..=256).contains(&d.chars().count())
            && d.chars().next().is_some_and(char::is_alphabetic)
            && !starts_with_http(d);
        if !ok {
            return Err(bad(
                "InvalidDescription",
                format!("`Description` `{d}` must be 2 to 256 characters, start with a letter and not start with http:// or https://"),
            ));
        }
    }
    let entries = p.list("Permissions", "InvalidPermissions")?;
    p.finish("CreateSecurityGroup")?;
    if entries.len() > RULES_PER_GROUP || entries.last().is_some_and(|(n, _)| *n as usize > RULES_PER_GROUP) {
        return Err(bad(
            "AuthorizationLimitExceed",
            format!("at most {RULES_PER_GROUP} rules (`Permissions.1` to `Permissions.{RULES_PER_GROUP}`) per group"),
        ));
    }
    let mut perms: Vec<Perm> = Vec::with_capacity(entries.len());
    let mut places: Vec<String> = Vec::with_capacity(entries.len());
    for (_, mut q) in entries {
        let at = q.field("").trim_end_matches('.').to_owned();
        let perm = parse_permission(&mut q, None, Style::Create)?;
        q.finish("CreateSecurityGroup")?;
        if let Some(i) = perms.iter().position(|other| other.spec.same_spec(&perm.spec)) {
            return Err(duplicated(&at, &format!("as `{}`", places[i])));
        }
        perms.push(perm);
        places.push(at);
    }
    if cloud.groups().count() >= GROUPS_PER_ACCOUNT {
        return Err(bad(
            "QuotaExceed.SecurityGroup",
            format!("the account already has {GROUPS_PER_ACCOUNT} security groups, the maximum"),
        ));
    }
    let key = cloud.next_group_key();
    let id = group_id(cloud, key);
    let rules = finish_rules(cloud, &perms);
    let name = name.unwrap_or_default();
    let description = description.unwrap_or_default();
    let shown = json!({
        "SecurityGroupId": id,
        "SecurityGroupName": name,
        "Description": description,
    });
    cloud.insert_group(Group {
        key,
        id: id.clone(),
        name,
        description,
        kind: GroupKind::Ens,
        rules,
        shown,
    });
    Ok(created_group(id))
}

/// The group a rule call names.
fn target(cloud: &Cloud, p: &mut Params) -> Result<GroupKey, ApiError> {
    let id = p.required("SecurityGroupId", "InvalidSecurityGroupId")?;
    // Unconfirmed code: ENS lists none for an unknown group; this is ECS's.
    cloud
        .group_by_id(&id)
        .filter(|g| g.kind == GroupKind::Ens)
        .map(|g| g.key)
        .ok_or_else(|| {
            ApiError::new(
                404,
                "InvalidSecurityGroupId.NotFound",
                format!("`SecurityGroupId` `{id}` does not exist"),
            )
        })
}

/// The un-prefixed fields of the older single-rule calls (E3).
fn legacy_fields(direction: Direction) -> &'static [&'static str] {
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
fn legacy_rule(
    cloud: &Cloud,
    mut p: Params,
    direction: Direction,
    api: &str,
) -> Result<(GroupKey, Perm), ApiError> {
    let key = target(cloud, &mut p)?;
    let mut q = p.split_off(legacy_fields(direction));
    p.finish(api)?;
    let perm = parse_permission(&mut q, Some(direction), Style::Legacy)?;
    q.finish(api)?;
    Ok((key, perm))
}

fn authorize(cloud: &mut Cloud, p: Params, direction: Direction, api: &str) -> Answer {
    let (key, perm) = legacy_rule(cloud, p, direction, api)?;
    let group = cloud
        .group(key)
        .ok_or_else(|| ApiError::new(500, "InternalError", "group vanished"))?;
    if group.rules.iter().any(|r| perm.spec.same_as(r, true)) {
        return Err(duplicated(api, &format!("in `{}`", group.id)));
    }
    if group.rules.len() >= RULES_PER_GROUP {
        return Err(bad(
            "AuthorizationLimitExceed",
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

fn revoke(cloud: &mut Cloud, p: Params, direction: Direction, api: &str) -> Answer {
    let (key, perm) = legacy_rule(cloud, p, direction, api)?;
    let group = cloud
        .group(key)
        .ok_or_else(|| ApiError::new(500, "InternalError", "group vanished"))?;
    let remove: Vec<RuleKey> = group
        .rules
        .iter()
        .filter(|r| perm.spec.same_as(r, perm.priority_given))
        .map(|r| r.key)
        .collect();
    cloud.remove_rules(key, &remove);
    Ok((Map::new(), None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Options, Provider};

    use crate::provider::alibaba::call_with as call;

    #[test]
    fn request_ids_are_32_lowercase_hex_digits() {
        let mut c = Cloud::new(Provider::Ens, Options::default());
        let r = call(&mut c, "CreateSecurityGroup", json!({}));
        let id = r.body["RequestId"].as_str().unwrap_or_default();
        assert_eq!(id.len(), 32);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert!(r.created.is_some_and(|g| g.starts_with("sg-") && g.len() == 23));
    }

    #[test]
    fn the_account_quota_is_one_hundred_groups() {
        let mut c = Cloud::new(Provider::Ens, Options::default());
        for _ in 0..GROUPS_PER_ACCOUNT {
            assert_eq!(call(&mut c, "CreateSecurityGroup", json!({})).status, 200);
        }
        let r = call(&mut c, "CreateSecurityGroup", json!({}));
        assert_eq!(
            (r.status, r.body["Code"].as_str()),
            (400, Some("QuotaExceed.SecurityGroup"))
        );
    }

    #[test]
    fn a_full_group_refuses_one_more_rule() {
        let mut c = Cloud::new(Provider::Ens, Options::default());
        let perms: Vec<Value> = (1..=200u32)
            .map(|i| json!({"Direction": "ingress", "IpProtocol": "TCP", "PortRange": format!("{i}/{i}"), "SourceCidrIp": "0.0.0.0/0", "Policy": "Accept", "Priority": 1}))
            .collect();
        let r = call(&mut c, "CreateSecurityGroup", json!({"Permissions": perms}));
        assert_eq!(r.status, 200, "{}", r.body);
        let sg = r.created.unwrap_or_default();
        let r = call(
            &mut c,
            "AuthorizeSecurityGroupEgress",
            json!({"SecurityGroupId": sg, "IpProtocol": "all", "PortRange": "-1/-1", "DestCidrIp": "0.0.0.0/0"}),
        );
        assert_eq!(r.body["Code"], "AuthorizationLimitExceed");
        assert_eq!(c.group_by_id(&sg).map(|g| g.rules.len()), Some(200));
    }
}
