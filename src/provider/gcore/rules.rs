//! Gcore rules on the wire: `emit` writes a [`RuleDraft`] as a rule body
//! (`CreateSecurityGroupRule`, the `rules` items of `CreateSecurityGroup`); the reading
//! side is the front end's `parse_rule`.

use super::*;
use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::model::FastSet;
use crate::packet;
use crate::provider::draft::{RuleDraft, Target};
use crate::request::Request;

/// The project and region a path names when the target gives none.
const DEFAULT_TENANT: &str = "1";

/// The name the API takes for a protocol number (G2), without the aliases `icmpv6` and
/// `ipencap` (written as `ipv6-icmp` and `ipip`).
pub(crate) fn protocol_name(p: u8) -> Option<&'static str> {
    crate::Protocol::NAMES
        .iter()
        .find(|&&(name, n)| n == p && name != "icmpv6" && name != "ipencap")
        .map(|&(name, _)| name)
}

/// One rule body (without the group, which the path names).
pub(crate) fn entry(d: &RuleDraft) -> Map<String, Value> {
    // PERF: values written as the strings and numbers they serialize to, not through
    // `json!` (the serializer per field), into a map made at its final size.
    let text = |s: &str| Value::String(s.to_owned());
    let number = |n: Option<u16>| n.map_or(Value::Null, Value::from);
    let mut m = Map::with_capacity(8);
    m.insert("direction".into(), text(d.direction.as_str()));
    m.insert("ethertype".into(), text(d.family.as_str()));
    // `protocol` and the port fields are always written, `null` for none (Neutron's
    // shape, and what `--fix` has always shown).
    let protocol = d
        .protocol
        .map(|p| protocol_name(p).map_or_else(|| p.to_string(), str::to_owned));
    m.insert("protocol".into(), protocol.map_or(Value::Null, Value::String));
    let icmp = matches!(d.protocol, Some(packet::ICMP | packet::ICMPV6));
    // ICMP type and code ride in the port fields (Neutron).
    let (min, max) = match (d.protocol, d.icmp.icmp_type) {
        (_, Some(t)) if icmp => (Some(u16::from(t)), d.icmp.icmp_code.map(u16::from)),
        (Some(p), _) if crate::Protocol(p).has_ports() => match d.dst_ports.first() {
            Some(r) => (Some(r.lo), Some(r.hi)),
            None => (None, None),
        },
        _ => (None, None),
    };
    m.insert("port_range_min".into(), number(min));
    m.insert("port_range_max".into(), number(max));
    if let Some(net) = d.remote_cidr {
        m.insert(
            "remote_ip_prefix".into(),
            Value::String(crate::provider::cidr_text(&net)),
        );
    }
    if let Some(g) = &d.remote_group {
        m.insert("remote_group_id".into(), text(g));
    }
    if !d.description.is_empty() {
        m.insert("description".into(), text(&d.description));
    }
    m
}

fn rules_path(target: &Target) -> String {
    let project = target.project.as_deref().unwrap_or(DEFAULT_TENANT);
    let region = target.region.as_deref().unwrap_or(DEFAULT_TENANT);
    format!(
        "/cloud/v2/security_groups/{project}/{region}/{}/rules",
        target.group
    )
}

/// The call that adds one rule: `CreateSecurityGroupRule`, the group in the path.
pub(crate) fn emit(target: &Target, d: &RuleDraft) -> (&'static str, Request) {
    (
        "CreateSecurityGroupRule",
        Request {
            body: Some(Value::Object(entry(d))),
            path: Some(rules_path(target)),
            ..Request::default()
        },
    )
}

/// The call that removes the rule `rule_id`: `DeleteSecurityGroupRule` by path.
pub(crate) fn emit_remove(target: &Target, rule_id: &str) -> (&'static str, Request) {
    (
        "DeleteSecurityGroupRule",
        Request {
            path: Some(format!("{}/{rule_id}", rules_path(target))),
            ..Request::default()
        },
    )
}

// ---- rules: parsing and Neutron validation ----

/// A rule request after Neutron's validation and normalisation.
#[derive(Clone, Debug)]
pub(super) struct RuleSpec {
    pub(super) direction: Direction,
    pub(super) family: Family,
    /// IANA number, `None` for every protocol.
    pub(super) protocol: Option<u8>,
    /// The protocol as stored and shown (lowercase name or number), `None` for all.
    pub(super) protocol_text: Option<String>,
    pub(super) port_min: Option<u32>,
    pub(super) port_max: Option<u32>,
    /// Normalised prefix (network address, with the prefix length).
    pub(super) prefix: Option<IpNet>,
    pub(super) remote_group: Option<String>,
    pub(super) description: Option<String>,
}

impl RuleSpec {
    /// Neutron's `_rule_to_key`: the fields that make two rules the same, with the
    /// all-addresses prefixes the same as none and the protocol by number.
    pub(super) fn key(&self) -> impl Eq + std::hash::Hash + '_ {
        let prefix = self.prefix.filter(|p| p.prefix_len() != 0);
        (
            self.direction,
            self.family,
            self.port_max,
            self.port_min,
            self.protocol,
            self.remote_group.as_deref(),
            prefix,
        )
    }

    pub(super) fn allow_all(direction: Direction, family: Family) -> RuleSpec {
        RuleSpec {
            direction,
            family,
            protocol: None,
            protocol_text: None,
            port_min: None,
            port_max: None,
            prefix: None,
            remote_group: None,
            description: None,
        }
    }
}

pub(super) const RULE_FIELDS: &[&str] = &[
    "direction",
    "description",
    "ethertype",
    "port_range_max",
    "port_range_min",
    "protocol",
    "remote_group_id",
    "remote_ip_prefix",
];

// Protocol names, which carry ports and which exist only for IPv6 (Neutron's
// `_validate_ethertype_and_protocol`): the crate's one table, [`crate::Protocol`].

/// Neutron's `convert_protocol`: `null`, `any` and `0` are every protocol; a name from the
/// list or a number 0-255 otherwise. `path` prefixes the field's name in errors.
pub(super) fn protocol(
    rule: &Map<String, Value>,
    path: &str,
) -> Result<(Option<u8>, Option<String>), ApiError> {
    let invalid = |v: &dyn std::fmt::Display| {
        neutron(
            400,
            "SecurityGroupRuleInvalidProtocol",
            format!("`{path}protocol` `{v}` is not supported (a protocol name such as tcp, a number 0-255, `any` or null)"),
        )
    };
    match rest::field(rule, "protocol") {
        None => Ok((None, None)),
        Some(Value::String(s)) => {
            let lower = s.to_ascii_lowercase();
            if lower == "any" || lower == "0" {
                return Ok((None, None));
            }
            if let Some(&(_, n)) = crate::Protocol::NAMES.iter().find(|(name, _)| *name == lower) {
                return Ok((Some(n), Some(lower)));
            }
            if !lower.is_empty() && lower.bytes().all(|b| b.is_ascii_digit()) {
                if let Ok(n) = lower.parse::<u8>() {
                    return Ok((Some(n), Some(n.to_string())));
                }
            }
            Err(invalid(s))
        }
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| u8::try_from(n).ok()) {
            Some(0) => Ok((None, None)),
            Some(p) => Ok((Some(p), Some(p.to_string()))),
            None => Err(invalid(n)),
        },
        Some(other) => Err(invalid(other)),
    }
}

/// A port field: an integer or null; outside 0-65535 is Neutron's
/// `SecurityGroupInvalidPortValue` (`convert_validate_port_value`).
pub(super) fn port(rule: &Map<String, Value>, key: &str, path: &str) -> Result<Option<u32>, ApiError> {
    // Named only for errors: a port given costs no string.
    let field = || format!("{path}{key}");
    match rest::field(rule, key) {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_i64()) {
            (Some(p), _) if p <= 65_535 => Ok(Some(p as u32)),
            (Some(_), _) | (None, Some(_)) => Err(neutron(
                400,
                "SecurityGroupInvalidPortValue",
                format!("`{}` `{n}`: invalid value for port (0-65535)", field()),
            )),
            (None, None) => Err(validation(&field(), format!("`{n}` is not an integer"))),
        },
        Some(other) => Err(validation(&field(), format!("`{other}` is not an integer"))),
    }
}

pub(super) fn parse_rule(rule: &Map<String, Value>, path: &str) -> Result<RuleSpec, ApiError> {
    if let Some(k) = rest::Body::new(rule, path, VALIDATION).unknown_key(RULE_FIELDS) {
        return Err(validation(
            &format!("{path}{k}"),
            "extra inputs are not permitted",
        ));
    }
    let direction = match rest::field(rule, "direction") {
        Some(Value::String(s)) if s == "ingress" => Direction::Ingress,
        Some(Value::String(s)) if s == "egress" => Direction::Egress,
        None => return Err(validation(&format!("{path}direction"), "field required")),
        Some(other) => {
            return Err(validation(
                &format!("{path}direction"),
                format!("`{other}` is not `ingress` or `egress`"),
            ))
        }
    };
    let family = match rest::field(rule, "ethertype") {
        None => Family::V4,
        Some(Value::String(s)) if s == "IPv4" => Family::V4,
        Some(Value::String(s)) if s == "IPv6" => Family::V6,
        Some(other) => {
            return Err(validation(
                &format!("{path}ethertype"),
                format!("`{other}` is not `IPv4` or `IPv6`"),
            ))
        }
    };
    let (mut protocol, mut protocol_text) = protocol(rule, path)?;
    let port_min = port(rule, "port_range_min", path)?;
    let port_max = port(rule, "port_range_max", path)?;
    let prefix = match rest::field(rule, "remote_ip_prefix") {
        None => None,
        Some(Value::String(text)) => Some(rest::parse_prefix(text).ok_or_else(|| {
            neutron(
                400,
                "InvalidInput",
                format!("invalid input for `{path}remote_ip_prefix`: `{text}` is not a valid ip prefix"),
            )
        })?),
        Some(other) => {
            return Err(validation(
                &format!("{path}remote_ip_prefix"),
                format!("`{other}` is not a string"),
            ))
        }
    };
    let remote_group = match rest::field(rule, "remote_group_id") {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(validation(
                &format!("{path}remote_group_id"),
                format!("`{other}` is not a string"),
            ))
        }
    };
    let description = match rest::field(rule, "description") {
        None => None,
        Some(Value::String(s)) if s.chars().count() <= 255 => Some(s.clone()),
        Some(Value::String(s)) => {
            return Err(validation(
                &format!("{path}description"),
                format!("{} characters, at most 255 are allowed", s.chars().count()),
            ))
        }
        Some(other) => {
            return Err(validation(
                &format!("{path}description"),
                format!("`{other}` is not a string"),
            ))
        }
    };

    // Neutron `_validate_port_range`.
    if port_min.is_some() || port_max.is_some() {
        let shown = |p: Option<u32>| p.map_or("null".to_owned(), |p| p.to_string());
        match protocol {
            None => {
                return Err(neutron(
                    400,
                    "SecurityGroupProtocolRequiredWithPorts",
                    format!("`{path}protocol`: must be specified when `port_range_min` or `port_range_max` is given"),
                ))
            }
            Some(p) if crate::Protocol(p).has_ports() => {
                if port_min == Some(0) || port_max == Some(0) {
                    return Err(neutron(
                        400,
                        "SecurityGroupInvalidPortValue",
                        format!("`{path}port_range_min`/`port_range_max`: invalid value for port `0`"),
                    ));
                }
                match (port_min, port_max) {
                    (Some(lo), Some(hi)) if lo <= hi => {}
                    _ => {
                        return Err(neutron(
                            400,
                            "SecurityGroupInvalidPortRange",
                            format!(
                                "`{path}port_range_min` `{}` and `port_range_max` `{}`: both are required and min must be <= max",
                                shown(port_min),
                                shown(port_max)
                            ),
                        ))
                    }
                }
            }
            Some(1) | Some(58) => {
                for (value, attr, what) in [(port_min, "port_range_min", "type"), (port_max, "port_range_max", "code")] {
                    if let Some(v) = value.filter(|&v| v > 255) {
                        return Err(neutron(
                            400,
                            "SecurityGroupInvalidIcmpValue",
                            format!("`{path}{attr}` `{v}`: invalid icmp {what} (0-255)"),
                        ));
                    }
                }
                if port_min.is_none() {
                    return Err(neutron(
                        400,
                        "SecurityGroupMissingIcmpType",
                        format!(
                            "`{path}port_range_max` `{}`: icmp code given without an icmp type (`port_range_min`)",
                            shown(port_max)
                        ),
                    ));
                }
            }
            Some(_) => {
                return Err(neutron(
                    400,
                    "SecurityGroupInvalidProtocolForPort",
                    format!(
                        "`{path}protocol` `{}`: only tcp, udp, dccp, sctp, udplite take ports, and icmp takes type and code",
                        protocol_text.as_deref().unwrap_or_default()
                    ),
                ))
            }
        }
    }
    // Neutron `_validate_ip_prefix`.
    if let Some(net) = prefix {
        if Family::of_net(&net) != family {
            return Err(neutron(
                400,
                "SecurityGroupRuleParameterConflict",
                format!("`{path}ethertype` `{family}` conflicts with `remote_ip_prefix` `{net}`"),
            ));
        }
    }
    // Neutron `_validate_ethertype_and_protocol`.
    if let Some(p) =
        protocol.filter(|&p| crate::Protocol(p).family() == Some(Family::V6) && family == Family::V4)
    {
        return Err(neutron(
            400,
            "SecurityGroupEthertypeConflictWithProtocol",
            format!(
                "`{path}protocol` `{}` (number {p}) is IPv6 only, not allowed with `ethertype` IPv4",
                protocol_text.as_deref().unwrap_or_default()
            ),
        ));
    }
    if prefix.is_some() && remote_group.is_some() {
        return Err(neutron(
            400,
            "SecurityGroupRemoteGroupAndRemoteIpPrefix",
            format!("`{path}remote_ip_prefix` and `{path}remote_group_id` may not both be given"),
        ));
    }
    // With IPv6, `icmp` is ICMPv6: Neutron stores it as ipv6-icmp.
    if family == Family::V6 && protocol == Some(1) {
        protocol = Some(58);
        protocol_text = Some("ipv6-icmp".to_owned());
    }
    Ok(RuleSpec {
        direction,
        family,
        protocol,
        protocol_text,
        port_min,
        port_max,
        prefix,
        remote_group,
        description,
    })
}

/// Parses the rules of a request, checks duplicates among them
/// (`DuplicateSecurityGroupRuleInPost`) and against `existing` (`SecurityGroupRuleExists`).
pub(super) fn check_duplicates(
    existing: &[RuleSpec],
    new: &[RuleSpec],
    group_id: Option<&str>,
) -> Result<(), ApiError> {
    // PERF: hashed keys keep a call of many rules linear, not quadratic (foldhash, not
    // SipHash: every rule call checks its rule here).
    let old: FastSet<_> = existing.iter().map(RuleSpec::key).collect();
    let mut seen = FastSet::with_capacity_and_hasher(new.len(), Default::default());
    for (i, spec) in new.iter().enumerate() {
        if !seen.insert(spec.key()) {
            return Err(neutron(
                409,
                "DuplicateSecurityGroupRuleInPost",
                format!("duplicate security group rule in post: rule {i} repeats an earlier one"),
            ));
        }
        if old.contains(&spec.key()) {
            return Err(neutron(
                409,
                "SecurityGroupRuleExists",
                format!(
                    "security group rule already exists. group id is `{}`",
                    group_id.unwrap_or_default()
                ),
            ));
        }
    }
    Ok(())
}

/// The duplicate print of a stored rule ([`crate::provider::rule_print`]): Neutron's key
/// ([`RuleSpec::key`]) of the rule read back as the duplicate check reads it.
pub(crate) fn rule_print(rule: &Rule) -> u64 {
    // PERF: [`spec_of`]'s fields borrowed, as `key` holds them (the same tuple, so the
    // same print): the model prints a rule when it is added and removed, and again for
    // every spare it is copied into or out of.
    // The three shown fields in one pass over the (13) keys: a lookup hashes its key with
    // SipHash (`serde_json`'s `preserve_order` map).
    let (mut min, mut max, mut remote_group) = (None, None, None);
    if let Value::Object(shown) = &*rule.shown {
        for (k, v) in shown {
            match k.as_str() {
                "port_range_min" => min = Some(v),
                "port_range_max" => max = Some(v),
                "remote_group_id" => remote_group = Some(v),
                _ => {}
            }
        }
    }
    let port = |v: Option<&Value>| v.and_then(Value::as_u64).map(|p| p as u32);
    let prefix = match rule.remote {
        Remote::Cidr(net) if net.prefix_len() != 0 => Some(net),
        _ => None,
    };
    crate::provider::print_of((
        rule.direction,
        rule.family.unwrap_or(Family::V4),
        port(max),
        port(min),
        rule.protocol,
        remote_group.and_then(Value::as_str),
        prefix,
    ))
}

/// Reads a stored rule's spec back (for duplicate checks) from the rule and its shown form.
pub(super) fn spec_of(rule: &Rule) -> RuleSpec {
    let shown = &rule.shown;
    let port = |k: &str| shown.get(k).and_then(Value::as_u64).map(|p| p as u32);
    RuleSpec {
        direction: rule.direction,
        family: rule.family.unwrap_or(Family::V4),
        protocol: rule.protocol,
        protocol_text: None,
        port_min: port("port_range_min"),
        port_max: port("port_range_max"),
        prefix: match rule.remote {
            Remote::Cidr(net) => Some(net),
            _ => None,
        },
        remote_group: shown
            .get("remote_group_id")
            .and_then(Value::as_str)
            .map(str::to_owned),
        description: None,
    }
}

/// Resolves `remote_group_id` (Neutron `_check_security_group`): the group must exist;
/// `own` is the id of the rule's own group (a rule may refer to its own group).
pub(super) fn resolve_remote(
    cloud: &Model,
    spec: &RuleSpec,
    own: Option<(&str, crate::GroupKey)>,
    path: &str,
) -> Result<Remote, ApiError> {
    if let Some(id) = &spec.remote_group {
        if let Some((own_id, key)) = own {
            if own_id == id {
                return Ok(Remote::Group(key));
            }
        }
        return match cloud.group_by_id(id) {
            Some(g) => Ok(Remote::Group(g.key)),
            None => Err(neutron(
                404,
                "SecurityGroupNotFound",
                format!("`{path}remote_group_id`: security group `{id}` does not exist"),
            )),
        };
    }
    Ok(match spec.prefix {
        Some(net) => Remote::Cidr(net),
        None => Remote::Any,
    })
}

/// The neutral rule: ports for port protocols, ICMP type and code for ICMP, every source
/// port; allow, priority 0.
pub(super) fn lower(
    spec: &RuleSpec,
    remote: Remote,
    key: RuleKey,
    id: String,
    group_id: &str,
    now: &str,
) -> Rule {
    let is_icmp = matches!(spec.protocol, Some(1) | Some(58));
    let dst_ports = match (spec.port_min, spec.port_max) {
        (Some(lo), Some(hi)) if !is_icmp => {
            PortRange::new(lo as u16, hi as u16).map_or_else(Ports::any, Ports::range)
        }
        _ => Ports::any(),
    };
    let icmp = if is_icmp {
        IcmpMatch {
            icmp_type: spec.port_min.map(|t| t as u8),
            icmp_code: spec.port_max.map(|c| c as u8),
        }
    } else {
        IcmpMatch::ANY
    };
    static SHOWN: rest::Template = rest::Template::new();
    let shown = SHOWN.object([
        ("id", id.as_str().into()),
        ("security_group_id", group_id.into()),
        ("direction", spec.direction.as_str().into()),
        ("ethertype", spec.family.as_str().into()),
        ("protocol", spec.protocol_text.as_deref().into()),
        ("port_range_min", spec.port_min.into()),
        ("port_range_max", spec.port_max.into()),
        (
            "remote_ip_prefix",
            spec.prefix.as_ref().map(crate::provider::cidr_text).into(),
        ),
        ("remote_group_id", spec.remote_group.as_deref().into()),
        ("description", spec.description.as_deref().into()),
        ("revision_number", 0.into()),
        ("created_at", now.into()),
        ("updated_at", now.into()),
    ]);
    Rule {
        key,
        id,
        direction: spec.direction,
        family: Some(spec.family),
        protocol: spec.protocol,
        dst_ports,
        src_ports: Ports::any(),
        icmp,
        remote,
        local: None,
        action: Action::Allow,
        priority: 0,
        enabled: true,
        description: spec.description.clone().unwrap_or_default(),
        shown: shown.into(),
    }
}

pub(super) fn create_rule(
    cloud: &mut Cx<'_, '_>,
    request: &Request,
    request_id: &str,
) -> Result<Response, ApiError> {
    // The task is recorded after the change: make sure it can be, so the call stays whole.
    let body = body(request)?;
    let (group_id, project_id, region_id, rule_body) = match path_ids(request, RULES_PATH)? {
        Some([project, region, group_id]) => {
            let (project_id, region_id) = tenant(project, region)?;
            // The body is the rule: read in place, not copied.
            (group_id, project_id, region_id, Cow::Borrowed(body))
        }
        None => {
            let id = match body.get("group_id") {
                Some(Value::String(s)) if !s.is_empty() => s.as_str(),
                _ => {
                    return Err(validation(
                        "group_id",
                        "field required (or give the request path)",
                    ))
                }
            };
            let mut rest = body.clone();
            rest.remove("group_id");
            (id, 1, 1, Cow::Owned(rest))
        }
    };
    let spec = parse_rule(&rule_body, "")?;
    let group = find_group(cloud, group_id)?;
    let group_key = group.key;
    let remote = resolve_remote(cloud, &spec, Some((group_id, group_key)), "")?;
    // The group's rules are read back only when one has the new rule's print.
    let existing: Vec<RuleSpec> = if cloud.may_hold_print(group_key, crate::provider::print_of(spec.key())) {
        group.rules.iter().map(|r| spec_of(r)).collect()
    } else {
        Vec::new()
    };
    check_duplicates(&existing, std::slice::from_ref(&spec), Some(group_id))?;
    let now = rest::timestamp(cloud.call_count());
    let key = cloud.rule_key_mark();
    let rule_id = rest::uuid(cloud, SALT_RULE, cloud.rule_ordinal(key));
    let rule = lower(&spec, remote, key, rule_id.clone(), group_id, &now);
    cloud.push_rules(group_key, vec![rule]);
    finish_task(
        cloud,
        "create_security_group_rule",
        (project_id, region_id, request_id),
        Some(("security_group_rules", rule_id)),
    )
}

pub(super) fn delete_rule(
    cloud: &mut Cx<'_, '_>,
    request: &Request,
    request_id: &str,
) -> Result<Response, ApiError> {
    // The task is recorded after the change: make sure it can be, so the call stays whole.
    let (group_id, rule_id, project_id, region_id) = match path_ids(request, RULE_PATH)? {
        Some([project, region, group_id, rule_id]) => {
            if request
                .body
                .as_ref()
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
            {
                return Err(validation(
                    "(body)",
                    "DELETE takes no body; the path names the rule",
                ));
            }
            let (project_id, region_id) = tenant(project, region)?;
            (
                Cow::Borrowed(group_id),
                Cow::Borrowed(rule_id),
                project_id,
                region_id,
            )
        }
        None => (
            Cow::Owned(id_from_body(request, "group_id", &["rule_id"])?),
            Cow::Owned(id_from_body(request, "rule_id", &["group_id"])?),
            1,
            1,
        ),
    };
    let group = find_group(cloud, &group_id)?;
    let Some(rule) = group.rules.iter().find(|r| r.id == rule_id) else {
        return Err(not_found(format!(
            "security group rule `{rule_id}` could not be found in security group `{group_id}`"
        )));
    };
    let (group_key, rule_key) = (group.key, rule.key);
    cloud.remove_rules(group_key, &[rule_key]);
    finish_task(
        cloud,
        "delete_security_group_rule",
        (project_id, region_id, request_id),
        None,
    )
}

#[cfg(test)]
mod emit_tests {
    use super::*;
    use crate::rule::IcmpMatch;

    /// The rule object as `json!` wrote it, field by field, before `entry` wrote values in
    /// place.
    fn by_json(d: &RuleDraft) -> Map<String, Value> {
        let mut m = Map::new();
        m.insert("direction".into(), json!(d.direction));
        m.insert("ethertype".into(), json!(d.family));
        let protocol = d
            .protocol
            .map(|p| protocol_name(p).map_or_else(|| p.to_string(), str::to_owned));
        m.insert("protocol".into(), json!(protocol));
        let icmp = matches!(d.protocol, Some(packet::ICMP | packet::ICMPV6));
        let (min, max) = match (d.protocol, d.icmp.icmp_type) {
            (_, Some(t)) if icmp => (Some(u16::from(t)), d.icmp.icmp_code.map(u16::from)),
            (Some(p), _) if crate::Protocol(p).has_ports() => match d.dst_ports.first() {
                Some(r) => (Some(r.lo), Some(r.hi)),
                None => (None, None),
            },
            _ => (None, None),
        };
        m.insert("port_range_min".into(), json!(min));
        m.insert("port_range_max".into(), json!(max));
        if let Some(net) = d.remote_cidr {
            m.insert("remote_ip_prefix".into(), json!(net.to_string()));
        }
        if let Some(g) = &d.remote_group {
            m.insert("remote_group_id".into(), json!(g));
        }
        if !d.description.is_empty() {
            m.insert("description".into(), json!(d.description));
        }
        m
    }

    #[test]
    fn entry_writes_what_json_wrote() {
        let port = |lo, hi| PortRange::new(lo, hi).unwrap();
        let base = RuleDraft {
            direction: Direction::Ingress,
            family: Family::V4,
            protocol: Some(6),
            dst_ports: vec![port(22, 80)],
            src_ports: None,
            icmp: IcmpMatch::ANY,
            remote_cidr: Some("10.1.0.0/16".parse().unwrap()),
            remote_group: None,
            remote_address_group: None,
            local: None,
            action: Action::Allow,
            priority: 0,
            description: "web".into(),
        };
        let drafts = [
            base.clone(),
            RuleDraft {
                direction: Direction::Egress,
                family: Family::V6,
                protocol: None,
                dst_ports: vec![],
                remote_cidr: None,
                remote_group: Some("sg-2".into()),
                description: String::new(),
                ..base.clone()
            },
            RuleDraft {
                protocol: Some(1),
                icmp: IcmpMatch {
                    icmp_type: Some(8),
                    icmp_code: Some(0),
                },
                ..base.clone()
            },
            RuleDraft {
                protocol: Some(58),
                family: Family::V6,
                icmp: IcmpMatch {
                    icmp_type: Some(128),
                    icmp_code: None,
                },
                remote_cidr: Some("2001:db8::/32".parse().unwrap()),
                ..base.clone()
            },
            RuleDraft {
                protocol: Some(47),
                ..base.clone()
            },
            RuleDraft {
                protocol: Some(17),
                dst_ports: vec![],
                ..base.clone()
            },
        ];
        for d in &drafts {
            let (got, want) = (Value::Object(entry(d)), Value::Object(by_json(d)));
            assert_eq!(
                serde_json::to_string(&got).unwrap(),
                serde_json::to_string(&want).unwrap()
            );
        }
    }
}
