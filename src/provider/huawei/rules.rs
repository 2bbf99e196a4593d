//! Huawei rules on the wire, both directions: `parse_rule` reads a `security_group_rule`
//! (validated with the VPC codes, H2-H4), `emit` writes a [`RuleDraft`] as one
//! (`CreateSecurityGroupRule`, `BatchCreateSecurityGroupRules`); and the rule calls
//! themselves (create, batch create, delete) with their conflict and quota checks.

use serde_json::{Map, Value};
use smallvec::SmallVec;

use super::*;
use crate::packet;
use crate::provider::draft::{RuleDraft, Target};
use crate::request::Request;
use crate::rule::PortRange;

/// The project a path names when the target gives none.
const DEFAULT_PROJECT: &str = "project";

/// `protocol`: the four names the API takes, else the number as text.
fn protocol_text(p: u8) -> String {
    match p {
        packet::ICMP => "icmp".into(),
        packet::TCP => "tcp".into(),
        packet::UDP => "udp".into(),
        packet::ICMPV6 => "icmpv6".into(),
        n => n.to_string(),
    }
}

/// `multiport`: `80` or `8000-8080` items joined by commas.
fn multiport(ranges: &[PortRange]) -> String {
    let mut out = String::with_capacity(12 * ranges.len());
    for (i, r) in ranges.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        crate::provider::push_decimal(&mut out, r.lo.into());
        if r.lo != r.hi {
            out.push('-');
            crate::provider::push_decimal(&mut out, r.hi.into());
        }
    }
    out
}

/// One rule object, without `security_group_id` (what a batch call's
/// `security_group_rules` items hold).
pub(crate) fn entry(d: &RuleDraft) -> Map<String, Value> {
    let mut m = Map::with_capacity(9);
    entry_into(&mut m, d);
    m
}

/// [`entry`]'s fields, added to `m`.
///
/// PERF: values written as the strings they serialize to, not through `json!` (the
/// serializer per field), into the one map the request holds (not a map then copied into
/// another, every key hashed twice).
fn entry_into(m: &mut Map<String, Value>, d: &RuleDraft) {
    let text = |s: &str| Value::String(s.to_owned());
    m.insert("direction".into(), text(d.direction.as_str()));
    m.insert("ethertype".into(), text(d.family.as_str()));
    if let Some(p) = d.protocol {
        m.insert("protocol".into(), Value::String(protocol_text(p)));
    }
    if let Some(net) = d.remote_cidr {
        m.insert(
            "remote_ip_prefix".into(),
            Value::String(crate::provider::cidr_text(&net)),
        );
    }
    if let Some(g) = &d.remote_group {
        m.insert("remote_group_id".into(), text(g));
    }
    if let Some(a) = &d.remote_address_group {
        m.insert("remote_address_group_id".into(), text(a));
    }
    m.insert("action".into(), text(d.action.as_str()));
    m.insert("priority".into(), Value::from(d.priority));
    if !d.description.is_empty() {
        m.insert("description".into(), text(&d.description));
    }
    // Last, where `--fix` has always shown it.
    if d.protocol.is_some() && !d.dst_ports.is_empty() && !d.dst_ports.contains(&PortRange::ANY) {
        m.insert("multiport".into(), Value::String(multiport(&d.dst_ports)));
    }
}

fn body_call(api: &'static str, body: Value) -> (&'static str, Request) {
    (
        api,
        Request {
            body: Some(body),
            ..Request::default()
        },
    )
}

/// The call that adds one rule: `CreateSecurityGroupRule`.
pub(crate) fn emit(target: &Target, d: &RuleDraft) -> (&'static str, Request) {
    let mut rule = Map::with_capacity(10);
    rule.insert("security_group_id".into(), Value::String(target.group.clone()));
    entry_into(&mut rule, d);
    body_call(
        "CreateSecurityGroupRule",
        rest::object([("security_group_rule", Value::Object(rule))]),
    )
}

/// The calls that add `rules`: one `BatchCreateSecurityGroupRules` when `batch` (and
/// there are rules), else one `CreateSecurityGroupRule` each.
pub(crate) fn emit_all(target: &Target, rules: &[RuleDraft], batch: bool) -> Vec<(&'static str, Request)> {
    if batch && !rules.is_empty() {
        let items: Vec<Value> = rules.iter().map(|d| Value::Object(entry(d))).collect();
        return vec![body_call(
            "BatchCreateSecurityGroupRules",
            rest::object([
                ("security_group_id", target.group.as_str().into()),
                ("security_group_rules", Value::Array(items)),
            ]),
        )];
    }
    rules.iter().map(|d| emit(target, d)).collect()
}

/// The call that removes the rule `rule_id`: `DeleteSecurityGroupRule` by path.
pub(crate) fn emit_remove(target: &Target, rule_id: &str) -> (&'static str, Request) {
    let project = target.project.as_deref().unwrap_or(DEFAULT_PROJECT);
    (
        "DeleteSecurityGroupRule",
        Request {
            path: Some(format!("/v3/{project}/vpc/security-group-rules/{rule_id}")),
            ..Request::default()
        },
    )
}

// ---- rules ----

/// A rule request, validated but not yet checked against the cloud.
#[derive(Clone, Debug)]
pub(super) struct RuleSpec {
    pub(super) direction: Direction,
    pub(super) family: Family,
    pub(super) protocol: Option<u8>,
    /// `protocol` as the provider shows it (lowercase name or number), `None` for all.
    pub(super) protocol_text: Option<String>,
    /// Destination port ranges, empty for every port.
    pub(super) ports: Vec<PortRange>,
    pub(super) multiport_text: Option<String>,
    pub(super) remote: RemoteSpec,
    pub(super) action: Action,
    pub(super) priority: u8,
    pub(super) enabled: bool,
    pub(super) description: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(super) enum RemoteSpec {
    None,
    Prefix(IpNet),
    Group(String),
    AddressGroup(String),
}

impl RuleSpec {
    /// What makes two rules the same rule apart from action and priority: direction,
    /// family, protocol, ports and remote, with `0.0.0.0/0` / `::/0` the same as no remote.
    fn match_key(&self) -> (Direction, Family, Option<u8>, Vec<PortRange>, RemoteSpec) {
        let mut ports = self.ports.clone();
        ports.sort();
        let remote = match &self.remote {
            RemoteSpec::Prefix(net) if net.prefix_len() == 0 => RemoteSpec::None,
            other => other.clone(),
        };
        (self.direction, self.family, self.protocol, ports, remote)
    }
}

/// The fields of a rule request, then `extra` ones: one list for both constants below.
macro_rules! rule_fields {
    ($($extra:literal),*) => {
        &[
            "description",
            "direction",
            "ethertype",
            "protocol",
            "multiport",
            "remote_ip_prefix",
            "remote_group_id",
            "remote_address_group_id",
            "action",
            "priority",
            "enabled",
            $($extra),*
        ]
    };
}

/// The fields of a rule request (`CreateSecurityGroupRuleOption` and
/// `BatchCreateSecurityGroupRulesOption`).
pub(super) const RULE_FIELDS: &[&str] = rule_fields!();

/// The fields of `CreateSecurityGroupRule`'s rule: [`RULE_FIELDS`] and the group.
pub(super) const CREATE_FIELDS: &[&str] = rule_fields!("security_group_id");

pub(super) fn parse_rule(
    rule: &Map<String, Value>,
    path: &str,
    default_priority: u8,
    default_action: Action,
) -> Result<RuleSpec, ApiError> {
    let direction = match Body::new(rule, path, codes::PARAM).str("direction")? {
        Some("ingress") => Direction::Ingress,
        Some("egress") => Direction::Egress,
        Some(other) => {
            return Err(param(format!(
                "`{path}direction` `{other}` is invalid (ingress or egress)"
            )))
        }
        None => return Err(param(format!("`{path}direction` is missing (ingress or egress)"))),
    };
    let family = match Body::new(rule, path, codes::PARAM).str("ethertype")? {
        None => Family::V4,
        Some("IPv4") => Family::V4,
        Some("IPv6") => Family::V6,
        Some(other) => {
            return Err(param(format!(
                "`{path}ethertype` `{other}` is invalid (IPv4 or IPv6)"
            )))
        }
    };
    let (protocol, protocol_text) = protocol(rule, path)?;
    match (protocol, family) {
        (Some(1), Family::V6) => {
            return Err(param(format!(
                "`{path}protocol` `icmp` needs `ethertype` IPv4 (use icmpv6 for IPv6)"
            )))
        }
        (Some(58), Family::V4) => {
            return Err(param(format!(
                "`{path}protocol` `icmpv6` needs `ethertype` IPv6 (use icmp for IPv4)"
            )))
        }
        _ => {}
    }
    let multiport_text = match rest::field(rule, "multiport") {
        None => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.trim().to_owned()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => {
            return Err(param(format!(
                "`{path}multiport` must be a string, found `{other}`"
            )))
        }
    };
    let ports = match &multiport_text {
        None => Vec::new(),
        Some(text) => {
            parse_multiport(text).map_err(|why| param(format!("`{path}multiport` `{text}`: {why}")))?
        }
    };
    if !ports.is_empty() {
        match protocol {
            None => {
                return Err(param(format!(
                    "`{path}multiport` `{}` needs a port-bearing `protocol` (tcp, udp, or 33, 132, 136)",
                    multiport_text.as_deref().unwrap_or_default()
                )))
            }
            // Every protocol whose packets carry ports: tcp (6), udp (17), dccp (33), sctp
            // (132), udplite (136), as names where v3 takes names, else as numbers. The docs
            // state no limit; ports on a protocol without them could never match (Decision 8).
            Some(p) if crate::protocol::Protocol(p).has_ports() => {}
            Some(_) => {
                return Err(param(format!(
                    "`{path}multiport` needs a port-bearing protocol (tcp, udp, or 33, 132, 136), not `{}`",
                    protocol_text.as_deref().unwrap_or_default()
                )))
            }
        }
    }
    let prefix = Body::new(rule, path, codes::PARAM).nonempty_str("remote_ip_prefix")?;
    let group = Body::new(rule, path, codes::PARAM).nonempty_str("remote_group_id")?;
    let address_group = Body::new(rule, path, codes::PARAM).nonempty_str("remote_address_group_id")?;
    let given: Vec<&str> = [
        ("remote_ip_prefix", prefix.is_some()),
        ("remote_group_id", group.is_some()),
        ("remote_address_group_id", address_group.is_some()),
    ]
    .iter()
    .filter(|(_, set)| *set)
    .map(|(name, _)| *name)
    .collect();
    if given.len() > 1 {
        return Err(param(format!(
            "`{path}{}` and `{path}{}` are mutually exclusive (give at most one remote)",
            given[0], given[1]
        )));
    }
    let remote = if let Some(text) = prefix {
        let net = parse_prefix(text).ok_or_else(|| {
            param(format!(
                "`{path}remote_ip_prefix` `{text}` is not an ip address or cidr"
            ))
        })?;
        if Family::of_net(&net) != family {
            return Err(param(format!(
                "`{path}remote_ip_prefix` `{text}` is not an {family} prefix, as `ethertype` {family} requires"
            )));
        }
        RemoteSpec::Prefix(net)
    } else if let Some(id) = group {
        RemoteSpec::Group(id.to_owned())
    } else if let Some(id) = address_group {
        RemoteSpec::AddressGroup(id.to_owned())
    } else {
        RemoteSpec::None
    };
    let action = match Body::new(rule, path, codes::PARAM).str("action")? {
        // Decision 5: allow; the `huawei_default_action` switch takes H1's "deny".
        None => default_action,
        Some("allow") => Action::Allow,
        Some("deny") => Action::Deny,
        Some(other) => {
            return Err(param(format!(
                "`{path}action` `{other}` is invalid (allow or deny)"
            )))
        }
    };
    let priority = match rest::field(rule, "priority") {
        None => default_priority,
        Some(v) => {
            let n = match v {
                Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                    s.parse::<u64>().ok()
                }
                Value::Number(n) => n.as_u64(),
                _ => None,
            };
            match n {
                Some(p @ 1..=100) => p as u8,
                _ => {
                    return Err(param(format!(
                        "`{path}priority` `{v}` is invalid (an integer 1-100)"
                    )))
                }
            }
        }
    };
    let enabled = Body::new(rule, path, codes::PARAM)
        .bool("enabled")?
        .unwrap_or(true);
    let description = description(rule, path, codes::PARAM)?;
    Ok(RuleSpec {
        direction,
        family,
        protocol,
        protocol_text,
        ports,
        multiport_text,
        remote,
        action,
        priority,
        enabled,
        description,
    })
}

/// `protocol`: `icmp`, `tcp`, `udp`, `icmpv6` or an IP protocol number 0-255; empty or null
/// is every protocol.
pub(super) fn protocol(
    rule: &Map<String, Value>,
    path: &str,
) -> Result<(Option<u8>, Option<String>), ApiError> {
    let invalid = |v: &dyn std::fmt::Display| {
        param(format!(
            "`{path}protocol` `{v}` is invalid (icmp, tcp, udp, icmpv6, a number 0-255, or empty for all)"
        ))
    };
    match rest::field(rule, "protocol") {
        None => Ok((None, None)),
        Some(Value::String(s)) if s.is_empty() => Ok((None, None)),
        Some(Value::String(s)) => {
            let lower = s.to_ascii_lowercase();
            let number = match lower.as_str() {
                "icmp" => Some(1),
                "tcp" => Some(6),
                "udp" => Some(17),
                "icmpv6" => Some(58),
                digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => {
                    digits.parse::<u8>().ok()
                }
                _ => None,
            };
            match number {
                Some(n) => Ok((Some(n), Some(lower))),
                None => Err(invalid(s)),
            }
        }
        Some(Value::Number(n)) => match n.as_u64().and_then(|n| u8::try_from(n).ok()) {
            Some(p) => Ok((Some(p), Some(p.to_string()))),
            None => Err(invalid(n)),
        },
        Some(other) => Err(invalid(other)),
    }
}

/// `multiport`: comma-separated ports and `lo-hi` ranges, 1-65535, at most 20 items, no
/// overlap.
pub(super) fn parse_multiport(text: &str) -> Result<Vec<PortRange>, String> {
    // The items `split(',')` gives, counted without a list of them.
    let count = text.bytes().filter(|&b| b == b',').count() + 1;
    if count > MULTIPORT_ITEMS {
        return Err(format!("{count} items, at most {MULTIPORT_ITEMS} are allowed"));
    }
    let port = |s: &str| -> Result<u16, String> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format!("`{s}` is not a port number"));
        }
        match s.parse::<u32>() {
            Ok(p @ 1..=65535) => Ok(p as u16),
            _ => Err(format!("port `{s}` is out of range 1-65535")),
        }
    };
    let mut ranges = Vec::with_capacity(count);
    for item in text.split(',').map(str::trim) {
        let range = match item.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (port(lo)?, port(hi)?);
                PortRange::new(lo, hi).ok_or_else(|| format!("range `{item}` starts after it ends"))?
            }
            None => PortRange::single(port(item)?),
        };
        ranges.push(range);
    }
    let mut sorted: SmallVec<[PortRange; 4]> = SmallVec::from_slice(&ranges);
    sorted.sort();
    for pair in sorted.windows(2) {
        if pair[1].lo <= pair[0].hi {
            return Err(format!("items `{}` and `{}` overlap", pair[0], pair[1]));
        }
    }
    Ok(ranges)
}

/// A rule checked against the cloud: its remote resolved.
pub(super) struct Checked {
    pub(super) spec: RuleSpec,
    pub(super) remote: Remote,
}

/// Resolves a rule's remote ids; the remote group may be the rule's own group.
pub(super) fn resolve_remote(cloud: &Model, spec: &RuleSpec, path: &str) -> Result<Remote, ApiError> {
    Ok(match &spec.remote {
        RemoteSpec::None => Remote::Any,
        RemoteSpec::Prefix(net) => Remote::Cidr(*net),
        RemoteSpec::Group(id) => Remote::Group(find_group(cloud, id, (path, "remote_group_id"))?.key),
        RemoteSpec::AddressGroup(id) => {
            let group = cloud.address_group_by_id(id).ok_or_else(|| {
                ApiError::new(
                    404,
                    codes::ADDRESS_GROUP_NOT_FOUND,
                    format!("`{path}remote_address_group_id`: address_group `{id}` could not be found"),
                )
            })?;
            if group.family != spec.family {
                return Err(param(format!(
                    "`{path}remote_address_group_id` `{id}` holds {} addresses, not {} as `ethertype` requires",
                    group.family, spec.family
                )));
            }
            Remote::AddressGroup(group.key)
        }
    })
}

/// Refuses a rule that repeats an existing one (or one earlier in the same request), or
/// that contradicts one: otherwise identical, same priority, opposite action. At another
/// priority the opposite action is accepted (priority decides; our reading, H11 only says
/// that importing such a pair fails). With `ignore_duplicate`, a repeat is dropped instead
/// (`Ok(false)`); a contradiction is refused all the same.
pub(super) fn check_conflicts(
    existing: &[&RuleSpec],
    spec: &RuleSpec,
    what: &str,
    ignore_duplicate: bool,
) -> Result<bool, ApiError> {
    let key = spec.match_key();
    for other in existing {
        if other.match_key() != key || other.priority != spec.priority {
            continue;
        }
        if other.action != spec.action {
            return Err(ApiError::new(
                409,
                codes::RULE_CONFLICT,
                format!(
                    "{what}: an otherwise identical rule with action `{}` exists at priority {}; opposite actions at one priority contradict each other",
                    other.action, other.priority
                ),
            ));
        }
        if ignore_duplicate {
            return Ok(false);
        }
        return Err(ApiError::new(
            409,
            codes::RULE_CONFLICT,
            format!("{what}: security group rule already exists"),
        ));
    }
    Ok(true)
}

/// A remote as [`RuleSpec::match_key`] compares it, borrowed.
#[derive(Hash)]
enum RemoteKey<'a> {
    None,
    Prefix(IpNet),
    Group(&'a str),
    AddressGroup(&'a str),
}

/// The duplicate print of a rule's fields ([`crate::provider::rule_print`]): a hash of
/// what [`check_conflicts`] compares, [`RuleSpec::match_key`] and the priority.
///
/// PERF: from borrowed fields, not a [`RuleSpec`] read back: the model prints a rule when
/// it is added and removed, and again for every spare it is copied into or out of.
fn print(
    (direction, family, protocol): (Direction, Family, Option<u8>),
    ports: &[PortRange],
    remote: RemoteKey<'_>,
    priority: u8,
) -> u64 {
    let mut ports: SmallVec<[PortRange; 4]> = SmallVec::from_slice(ports);
    ports.sort();
    let remote = match remote {
        RemoteKey::Prefix(net) if net.prefix_len() == 0 => RemoteKey::None,
        other => other,
    };
    crate::provider::print_of(((direction, family, protocol, &ports[..], remote), priority))
}

/// The duplicate print of a spec.
pub(super) fn spec_print(spec: &RuleSpec) -> u64 {
    let remote = match &spec.remote {
        RemoteSpec::None => RemoteKey::None,
        RemoteSpec::Prefix(net) => RemoteKey::Prefix(*net),
        RemoteSpec::Group(id) => RemoteKey::Group(id),
        RemoteSpec::AddressGroup(id) => RemoteKey::AddressGroup(id),
    };
    let fields = (spec.direction, spec.family, spec.protocol);
    print(fields, &spec.ports, remote, spec.priority)
}

/// The duplicate print of a stored rule, read back as [`check_conflicts`] reads it
/// ([`spec_of`]); `None` when it does not read back (no check ever matches it).
pub(crate) fn rule_print(rule: &Rule) -> Option<u64> {
    let shown = rule.shown.as_object()?;
    let remote = match &rule.remote {
        Remote::Any => RemoteKey::None,
        Remote::Cidr(net) => RemoteKey::Prefix(*net),
        Remote::Group(_) => RemoteKey::Group(shown.get("remote_group_id")?.as_str()?),
        Remote::AddressGroup(_) => RemoteKey::AddressGroup(shown.get("remote_address_group_id")?.as_str()?),
    };
    // As `read_back` lists the ports: none for every port.
    let ports: &[PortRange] = if rule.dst_ports.is_any() {
        &[]
    } else {
        &rule.dst_ports.0
    };
    let fields = (rule.direction, rule.family?, rule.protocol);
    Some(print(fields, ports, remote, rule.priority))
}

/// The provider-level view of a group's existing rules, for conflict checks.
pub(super) fn existing_specs(group: &Group) -> Vec<RuleSpec> {
    group.rules.iter().filter_map(|r| spec_of(r)).collect()
}

/// Reads a rule's spec back from its shown form (every rule of a Huawei group was made by
/// this front end, so its shown form parses).
pub(super) fn spec_of(rule: &Rule) -> Option<RuleSpec> {
    read_back(rule, rule.description.clone())
}

/// [`spec_of`] with `description` for the rule's.
fn read_back(rule: &Rule, description: String) -> Option<RuleSpec> {
    let shown = rule.shown.as_object()?;
    let remote = match &rule.remote {
        Remote::Any => RemoteSpec::None,
        Remote::Cidr(net) => RemoteSpec::Prefix(*net),
        Remote::Group(_) => RemoteSpec::Group(shown.get("remote_group_id")?.as_str()?.to_owned()),
        Remote::AddressGroup(_) => {
            RemoteSpec::AddressGroup(shown.get("remote_address_group_id")?.as_str()?.to_owned())
        }
    };
    Some(RuleSpec {
        direction: rule.direction,
        family: rule.family?,
        protocol: rule.protocol,
        protocol_text: None,
        ports: if rule.dst_ports.is_any() {
            Vec::new()
        } else {
            rule.dst_ports.0.to_vec()
        },
        multiport_text: None,
        remote,
        action: rule.action,
        priority: rule.priority,
        enabled: rule.enabled,
        description,
    })
}

pub(super) fn quota_check(state: &Frontend, group: &Group, adding: usize) -> Result<(), ApiError> {
    if group.rules.len() + adding > state.rule_quota {
        return Err(ApiError::new(
            409,
            codes::RULE_CONFLICT,
            format!(
                "quota exceeded for resources: ['security_group_rule'] (group `{}` has {} rules, at most {})",
                group.id,
                group.rules.len(),
                state.rule_quota
            ),
        ));
    }
    Ok(())
}

pub(super) fn create_rule(
    cloud: &mut Cx<'_, '_>,
    request: &Request,
    request_id: &str,
) -> Result<Response, ApiError> {
    check_path(request, &[RULES_PATH])?;
    let body = body(request, codes::PARAM)?;
    Body::new(body, "", codes::PARAM).check_keys(&["security_group_rule", "dry_run"])?;
    let dry_run = Body::new(body, "", codes::PARAM)
        .bool("dry_run")?
        .unwrap_or(false);
    let rule = Body::new(body, "", codes::PARAM).object("security_group_rule")?;
    let path = "security_group_rule.";
    Body::new(rule, path, codes::PARAM).check_keys(CREATE_FIELDS)?;
    let group_id = Body::new(rule, path, codes::PARAM)
        .nonempty_str("security_group_id")?
        .ok_or_else(|| param(format!("`{path}security_group_id` is missing")))?
        .to_owned();
    let spec = parse_rule(rule, path, 100, cloud.options().huawei_default_action)?;
    let group = find_group(cloud, &group_id, (path, "security_group_id"))?;
    let remote = resolve_remote(cloud, &spec, path)?;
    // Only rules at the new rule's priority can repeat or contradict it
    // ([`check_conflicts`] passes over the others): only they are read back, in order.
    // Only rules of the same print can (the print index says whether there is one).
    let existing: Vec<RuleSpec> = if cloud.may_hold_print(group.key, spec_print(&spec)) {
        group
            .rules
            .iter()
            .filter(|r| r.priority == spec.priority)
            .filter_map(|r| spec_of(r))
            .collect()
    } else {
        Vec::new()
    };
    check_conflicts(
        &existing.iter().collect::<Vec<_>>(),
        &spec,
        "security_group_rule",
        false,
    )?;
    if cloud.enforces_quotas() {
        quota_check(cloud.frontend, group, 1)?;
    }
    if dry_run {
        return Ok(accepted(request_id));
    }
    let group_key = group.key;
    let created = apply_rules(cloud, &group_id, vec![Checked { spec, remote }]);
    let shown = created
        .first()
        .map(|r| Value::clone(&r.shown))
        .unwrap_or(Value::Null);
    let rule_id = created.first().map(|r| r.id.clone());
    cloud.push_rules(group_key, created);
    // The shown rule moved in: `json!` would serialize it into a copy.
    static ANSWER: rest::Template = rest::Template::new();
    Ok(Response {
        status: 201,
        body: ANSWER.object([("request_id", request_id.into()), ("security_group_rule", shown)]),
        created: rule_id,
    })
}

pub(super) fn batch_create_rules(
    cloud: &mut Cx<'_, '_>,
    request: &Request,
    request_id: &str,
) -> Result<Response, ApiError> {
    let body = body(request, codes::PARAM)?;
    // BatchCreateSecurityGroupRulesRequestBody: `security_group_rules`, `ignore_duplicate`
    // and `dry_run` (H3); `security_group_id` stands in for the path when none is given.
    let group_id = match path_ids(request, &[BATCH_PATH])? {
        Some(ids) => {
            Body::new(body, "", codes::PARAM).check_keys(&[
                "security_group_rules",
                "ignore_duplicate",
                "dry_run",
            ])?;
            ids[1].to_owned()
        }
        None => {
            Body::new(body, "", codes::PARAM).check_keys(&[
                "security_group_id",
                "security_group_rules",
                "ignore_duplicate",
                "dry_run",
            ])?;
            Body::new(body, "", codes::PARAM)
                .nonempty_str("security_group_id")?
                .ok_or_else(|| param("`security_group_id` is missing (or give the request path)".to_owned()))?
                .to_owned()
        }
    };
    // `ignore_duplicate: true`: a rule repeated in the request or repeating a rule of the
    // group is skipped without error; `false` (the default): the request fails (H3).
    let ignore_duplicate = Body::new(body, "", codes::PARAM)
        .bool("ignore_duplicate")?
        .unwrap_or(false);
    // `dry_run: true`: every check (parameters, conflicts, quota), then 202 and nothing created.
    let dry_run = Body::new(body, "", codes::PARAM)
        .bool("dry_run")?
        .unwrap_or(false);
    let items = match rest::field(body, "security_group_rules") {
        Some(Value::Array(items)) => items,
        None => return Err(param("`security_group_rules` is missing".to_owned())),
        Some(other) => {
            return Err(param(format!(
                "`security_group_rules` must be an array, found `{other}`"
            )))
        }
    };
    if items.is_empty() || items.len() > BATCH_RULES {
        return Err(param(format!(
            "`security_group_rules` has {} rules (1-{BATCH_RULES} are allowed)",
            items.len()
        )));
    }
    let mut specs = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("security_group_rules[{i}].");
        let map = item.as_object().ok_or_else(|| {
            param(format!(
                "`security_group_rules[{i}]` must be an object, found `{item}`"
            ))
        })?;
        Body::new(map, &path, codes::PARAM).check_keys(RULE_FIELDS)?;
        // Batch create defaults priority to 1 (H3 BatchCreateSecurityGroupRules).
        specs.push(parse_rule(map, &path, 1, cloud.options().huawei_default_action)?);
    }
    let group = find_group(cloud, &group_id, ("", "security_group_id"))?;
    // The group's rules matter only if one has the print of a new rule (the index says).
    let existing = if specs
        .iter()
        .any(|spec| cloud.may_hold_print(group.key, spec_print(spec)))
    {
        existing_specs(group)
    } else {
        Vec::new()
    };
    let mut kept: Vec<Checked> = Vec::with_capacity(specs.len());
    for (i, spec) in specs.into_iter().enumerate() {
        let path = format!("security_group_rules[{i}].");
        let remote = resolve_remote(cloud, &spec, &path)?;
        let seen: Vec<&RuleSpec> = existing.iter().chain(kept.iter().map(|c| &c.spec)).collect();
        if check_conflicts(
            &seen,
            &spec,
            &format!("security_group_rules[{i}]"),
            ignore_duplicate,
        )? {
            kept.push(Checked { spec, remote });
        }
    }
    if cloud.enforces_quotas() {
        quota_check(cloud.frontend, group, kept.len())?;
    }
    if dry_run {
        return Ok(accepted(request_id));
    }
    let group_key = group.key;
    let created = apply_rules(cloud, &group_id, kept);
    let shown: Vec<Value> = created.iter().map(|r| Value::clone(&r.shown)).collect();
    let single = (created.len() == 1).then(|| created[0].id.clone());
    cloud.push_rules(group_key, created);
    Ok(Response {
        status: 201,
        body: rest::object([
            ("request_id", request_id.into()),
            ("security_group_rules", Value::Array(shown)),
        ]),
        created: single,
    })
}

/// Lowers checked rules with fresh keys; the caller pushes them.
pub(super) fn apply_rules(cloud: &Model, group_id: &str, rules: Vec<Checked>) -> Vec<Rule> {
    let project_id = project_id(cloud);
    let now = rest::timestamp(cloud.call_count());
    let keys: Vec<RuleKey> = cloud.next_rule_keys(rules.len()).collect();
    rules
        .into_iter()
        .zip(keys)
        .map(|(c, key)| lower(cloud, &c.spec, c.remote, key, group_id, &project_id, &now))
        .collect()
}

/// Builds the neutral rule: family from `ethertype`, ports from `multiport` (every port when
/// empty), every source port, every ICMP type and code (v3 has no type/code fields).
pub(super) fn lower(
    cloud: &Model,
    spec: &RuleSpec,
    remote: Remote,
    key: RuleKey,
    group_id: &str,
    project_id: &str,
    now: &str,
) -> Rule {
    let id = rest::uuid(cloud, SALT_RULE, cloud.rule_ordinal(key));
    let (prefix, remote_group, remote_address_group) = match &spec.remote {
        RemoteSpec::None => (Value::Null, Value::Null, Value::Null),
        RemoteSpec::Prefix(net) => (
            Value::String(crate::provider::cidr_text(net)),
            Value::Null,
            Value::Null,
        ),
        RemoteSpec::Group(id) => (Value::Null, id.as_str().into(), Value::Null),
        RemoteSpec::AddressGroup(id) => (Value::Null, Value::Null, id.as_str().into()),
    };
    static SHOWN: rest::Template = rest::Template::new();
    let shown = SHOWN.object([
        ("id", id.as_str().into()),
        ("project_id", project_id.into()),
        ("security_group_id", group_id.into()),
        ("remote_group_id", remote_group),
        ("direction", spec.direction.as_str().into()),
        ("protocol", spec.protocol_text.as_deref().into()),
        ("description", spec.description.as_str().into()),
        ("created_at", now.into()),
        ("updated_at", now.into()),
        ("ethertype", spec.family.as_str().into()),
        ("remote_ip_prefix", prefix),
        ("multiport", spec.multiport_text.as_deref().into()),
        ("remote_address_group_id", remote_address_group),
        ("action", spec.action.as_str().into()),
        ("priority", spec.priority.into()),
        ("enabled", spec.enabled.into()),
    ]);
    Rule {
        key,
        id,
        direction: spec.direction,
        family: Some(spec.family),
        protocol: spec.protocol,
        dst_ports: if spec.ports.is_empty() {
            Ports::any()
        } else {
            Ports(spec.ports.iter().copied().collect())
        },
        src_ports: Ports::any(),
        icmp: IcmpMatch::ANY,
        remote,
        local: None,
        action: spec.action,
        priority: spec.priority,
        enabled: spec.enabled,
        description: spec.description.clone(),
        shown: shown.into(),
    }
}

pub(super) fn delete_rule(cloud: &mut Cx<'_, '_>, request: &Request) -> Result<Response, ApiError> {
    let rule_id = match path_ids(request, &[RULE_PATH])? {
        Some(ids) => {
            if let Some(body) = &request.body {
                if body.as_object().is_some_and(|m| !m.is_empty()) {
                    return Err(param("DELETE takes no body; the path names the rule".to_owned()));
                }
            }
            ids[1].to_owned()
        }
        None => {
            let body = body(request, codes::PARAM)?;
            Body::new(body, "", codes::PARAM).check_keys(&["security_group_rule_id"])?;
            Body::new(body, "", codes::PARAM)
                .nonempty_str("security_group_rule_id")?
                .ok_or_else(|| {
                    param("`security_group_rule_id` is missing (or give the request path)".to_owned())
                })?
                .to_owned()
        }
    };
    // The first group (in key order) holding the id, by the index, not a scan of every
    // group.
    let found = cloud
        .groups_with_rule_id(&rule_id)
        .next()
        .and_then(|key| cloud.group(key))
        .and_then(|g| g.rules.iter().find(|r| r.id == rule_id).map(|r| (g.key, r.key)));
    let Some((group, key)) = found else {
        return Err(ApiError::new(
            404,
            codes::NOT_FOUND,
            format!("security group rule `{rule_id}` does not exist"),
        ));
    };
    cloud.remove_rules(group, &[key]);
    Ok(Response {
        status: 204,
        body: Value::Null,
        created: None,
    })
}

#[cfg(test)]
mod emit_tests {
    use super::*;
    use crate::provider::Target;
    use serde_json::json;

    /// The request as `json!` wrote it, field by field, before `emit` wrote values in place.
    fn by_json(target: &Target, d: &RuleDraft) -> Value {
        let mut m = Map::new();
        m.insert("security_group_id".into(), json!(target.group));
        m.insert("direction".into(), json!(d.direction));
        m.insert("ethertype".into(), json!(d.family));
        if let Some(p) = d.protocol {
            m.insert("protocol".into(), json!(protocol_text(p)));
        }
        if let Some(net) = d.remote_cidr {
            m.insert("remote_ip_prefix".into(), json!(net.to_string()));
        }
        if let Some(g) = &d.remote_group {
            m.insert("remote_group_id".into(), json!(g));
        }
        if let Some(a) = &d.remote_address_group {
            m.insert("remote_address_group_id".into(), json!(a));
        }
        m.insert("action".into(), json!(d.action));
        m.insert("priority".into(), json!(d.priority));
        if !d.description.is_empty() {
            m.insert("description".into(), json!(d.description));
        }
        if d.protocol.is_some() && !d.dst_ports.is_empty() && !d.dst_ports.contains(&PortRange::ANY) {
            let items: Vec<String> = (d.dst_ports.iter())
                .map(|r| {
                    if r.lo == r.hi {
                        r.lo.to_string()
                    } else {
                        format!("{}-{}", r.lo, r.hi)
                    }
                })
                .collect();
            m.insert("multiport".into(), json!(items.join(",")));
        }
        json!({ "security_group_rule": m })
    }

    #[test]
    fn emit_writes_what_json_wrote() {
        let target = Target::group("sg-1");
        let port = |lo, hi| PortRange::new(lo, hi).unwrap();
        let base = RuleDraft {
            direction: Direction::Ingress,
            family: Family::V4,
            protocol: Some(6),
            dst_ports: vec![port(22, 22), port(8000, 8080)],
            src_ports: None,
            icmp: crate::rule::IcmpMatch::ANY,
            remote_cidr: Some("10.1.0.0/16".parse().unwrap()),
            remote_group: None,
            remote_address_group: None,
            local: None,
            action: Action::Allow,
            priority: 7,
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
                action: Action::Deny,
                priority: 100,
                description: String::new(),
                ..base.clone()
            },
            RuleDraft {
                protocol: Some(17),
                dst_ports: vec![PortRange::ANY],
                remote_cidr: None,
                remote_address_group: Some("ag-1".into()),
                ..base.clone()
            },
            RuleDraft {
                protocol: Some(132),
                dst_ports: vec![port(1, 65535)],
                remote_cidr: Some("2001:db8::/32".parse().unwrap()),
                family: Family::V6,
                ..base.clone()
            },
        ];
        for d in &drafts {
            let (api, request) = emit(&target, d);
            assert_eq!(api, "CreateSecurityGroupRule");
            let (got, want) = (request.body.unwrap(), by_json(&target, d));
            assert_eq!(
                serde_json::to_string(&got).unwrap(),
                serde_json::to_string(&want).unwrap()
            );
        }
    }
}
