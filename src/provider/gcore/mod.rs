//! Gcore Cloud v2 front end (OpenStack Neutron underneath).
//!
//! Requests are Gcore's own bodies; answers are Gcore's shapes: creating a group or a rule
//! answers `200 {"tasks": ["<uuid>"]}` and the emulator finishes every task at once, so
//! `GetTask` reports it `FINISHED` with the ids it created (Decision 6). Errors follow
//! Gcore's documented error shape (gcore.com "Error handling"): `{exception_class, message,
//! request_id}` plus `invalid_fields` for a `ValidationError`. Rule validation is Neutron's
//! (N1, `securitygroups_db.py`) and its exception names are the `exception_class`:
//!
//! | class | status | when |
//! |---|---|---|
//! | `ValidationError` | 400 | a missing or mistyped field, an unknown field, a bad enum value |
//! | `NotFoundError` | 404 | the group, rule or task named in the path does not exist |
//! | `SecurityGroupNotFound` | 404 | `remote_group_id` names no group |
//! | `SecurityGroupRuleInvalidProtocol` | 400 | a protocol that is no name or number 0-255 |
//! | `InvalidInput` | 400 | `remote_ip_prefix` is no address or CIDR |
//! | `SecurityGroupRuleParameterConflict` | 400 | the prefix's family is not `ethertype` |
//! | `SecurityGroupRemoteGroupAndRemoteIpPrefix` | 400 | both remote fields given |
//! | `SecurityGroupProtocolRequiredWithPorts` | 400 | ports without a protocol |
//! | `SecurityGroupInvalidPortValue` | 400 | a port outside 0-65535, or 0 for a port protocol |
//! | `SecurityGroupInvalidPortRange` | 400 | a port protocol without both ports, or min > max |
//! | `SecurityGroupInvalidIcmpValue` | 400 | an ICMP type or code outside 0-255 |
//! | `SecurityGroupMissingIcmpType` | 400 | an ICMP code without a type |
//! | `SecurityGroupInvalidProtocolForPort` | 400 | ports with a protocol that has none |
//! | `SecurityGroupEthertypeConflictWithProtocol` | 400 | an IPv6-only protocol with `IPv4` |
//! | `DuplicateSecurityGroupRuleInPost` | 409 | the same rule twice in one request |
//! | `SecurityGroupRuleExists` | 409 | the rule exists in the group already |
//!
//! Whether Gcore answers Neutron's rule errors synchronously (as here) or as a task `ERROR`
//! is unconfirmed (provider-semantics.md 4.1).
//!
//! Requests may give the URL in `path`; without one, the ids the URL would carry come from
//! the body: `group_id` (rule create and delete, GetSecurityGroup), `rule_id`, `task_id`.
//! The emulation is one tenant: `project_id` and `region_id` are checked to be integers and
//! shown, not used to separate groups.

pub(crate) mod rules;

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde_json::{json, Map, Value};

use crate::cloud::{Cloud, Request, Response};
use crate::group::{Group, GroupKind};
use crate::provider::{rest, ApiError, GcoreDefaults};
use crate::rule::{Action, Direction, Family, IcmpMatch, PortRange, Ports, Remote, Rule, RuleKey};

/// The API names this front end answers.
pub const APIS: &[&str] = &[
    "CreateSecurityGroup",
    "GetSecurityGroup",
    "CreateSecurityGroupRule",
    "DeleteSecurityGroupRule",
    "GetTask",
];

const SALT_REQUEST: u64 = 2;
const SALT_GROUP: u64 = 4;
const SALT_RULE: u64 = 6;
const SALT_TASK: u64 = 8;

const CREATE_GROUP_PATH: &str = "/cloud/v2/security_groups/{project_id}/{region_id}";
const GET_GROUP_PATH: &str = "/cloud/v1/securitygroups/{project_id}/{region_id}/{group_id}";
const RULES_PATH: &str = "/cloud/v2/security_groups/{project_id}/{region_id}/{group_id}/rules";
const RULE_PATH: &str = "/cloud/v2/security_groups/{project_id}/{region_id}/{group_id}/rules/{rule_id}";
const TASK_PATH: &str = "/cloud/v1/tasks/{task_id}";

/// Bookkeeping of this front end: the tasks, each finished when created.
#[derive(Clone, Debug, Default)]
pub(crate) struct State {
    tasks: BTreeMap<String, Value>,
}

/// A Gcore error before it is shaped into the error body.
/// Gcore's `exception_class` of a failed request body check.
const VALIDATION: &str = "ValidationError";

/// A `ValidationError` (400): `field` and what is wrong with it (the body's
/// `invalid_fields`).
fn validation(field: &str, why: impl Into<String>) -> ApiError {
    ApiError::new(400, VALIDATION, why).at(field)
}

/// One of Neutron's exceptions (`class` is the `exception_class`).
fn neutron(status: u16, class: &'static str, message: String) -> ApiError {
    ApiError::new(status, class, message)
}

fn not_found(message: String) -> ApiError {
    neutron(404, "NotFoundError", message)
}

/// Gcore's error body: `{exception_class, message, request_id}`, and for a
/// `ValidationError` the message `validation error: `<field>`: <why>` and
/// `invalid_fields: {<field>: [<why>]}`.
fn error_body(e: ApiError, request_id: &str) -> Response {
    let invalid = e
        .field
        .filter(|_| e.code == VALIDATION)
        .map(|f| (f, e.message.clone()));
    let message = match &invalid {
        Some((field, why)) => format!("validation error: `{field}`: {why}"),
        None => e.message,
    };
    let mut body = json!({"exception_class": e.code, "message": message, "request_id": request_id});
    if let (Some((field, why)), Value::Object(map)) = (invalid, &mut body) {
        map.insert("invalid_fields".into(), json!({ field: [why] }));
    }
    Response {
        status: e.status,
        body,
        created: None,
    }
}

pub(crate) fn call(cloud: &mut Cloud, api: &str, request: &Request) -> Response {
    let request_id = rest::request_id(cloud, SALT_REQUEST);
    let result = match api {
        "CreateSecurityGroup" => create_security_group(cloud, request, &request_id),
        "GetSecurityGroup" => get_security_group(cloud, request),
        "CreateSecurityGroupRule" => create_rule(cloud, request, &request_id),
        "DeleteSecurityGroupRule" => delete_rule(cloud, request, &request_id),
        "GetTask" => get_task(cloud, request),
        other => Err(neutron(
            404,
            "HTTPError",
            format!("`{other}` is not a gcore cloud api (known: {})", APIS.join(", ")),
        )),
    };
    match result {
        Ok(response) => response,
        Err(e) => error_body(e, &request_id),
    }
}

// ---- rules: parsing and Neutron validation ----

/// A rule request after Neutron's validation and normalisation.
#[derive(Clone, Debug)]
struct RuleSpec {
    direction: Direction,
    family: Family,
    /// IANA number, `None` for every protocol.
    protocol: Option<u8>,
    /// The protocol as stored and shown (lowercase name or number), `None` for all.
    protocol_text: Option<String>,
    port_min: Option<u32>,
    port_max: Option<u32>,
    /// Normalised prefix (network address, with the prefix length).
    prefix: Option<IpNet>,
    remote_group: Option<String>,
    description: Option<String>,
}

impl RuleSpec {
    /// Neutron's `_rule_to_key`: the fields that make two rules the same, with the
    /// all-addresses prefixes the same as none and the protocol by number.
    fn key(&self) -> impl Eq + std::hash::Hash + '_ {
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

    fn allow_all(direction: Direction, family: Family) -> RuleSpec {
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

const RULE_FIELDS: &[&str] = &[
    "direction",
    "description",
    "ethertype",
    "port_range_max",
    "port_range_min",
    "protocol",
    "remote_group_id",
    "remote_ip_prefix",
];

/// Port-bearing protocols (Neutron `SG_PORT_PROTO_NAMES`): tcp, udp, dccp, sctp, udplite.
pub(super) const PORT_PROTOCOLS: &[u8] = &[6, 17, 33, 132, 136];
/// Protocols that exist only for IPv6 (Neutron `_validate_ethertype_and_protocol`):
/// ipv6-encap, ipv6-route, ipv6-frag, ipv6-icmp, ipv6-nonxt, ipv6-opts.
const IPV6_ONLY: &[u8] = &[41, 43, 44, 58, 59, 60];

/// Protocol names Gcore and Neutron accept (provider-semantics.md section 5), plus the
/// legacy `icmpv6` alias of Neutron.
pub(super) const PROTOCOL_NAMES: &[(&str, u8)] = &[
    ("ah", 51),
    ("dccp", 33),
    ("egp", 8),
    ("esp", 50),
    ("gre", 47),
    ("icmp", 1),
    ("icmpv6", 58),
    ("igmp", 2),
    ("ipencap", 4),
    ("ipip", 4),
    ("ipv6-encap", 41),
    ("ipv6-frag", 44),
    ("ipv6-icmp", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ipv6-route", 43),
    ("ospf", 89),
    ("pgm", 113),
    ("rsvp", 46),
    ("sctp", 132),
    ("tcp", 6),
    ("udp", 17),
    ("udplite", 136),
    ("vrrp", 112),
];

/// Neutron's `convert_protocol`: `null`, `any` and `0` are every protocol; a name from the
/// list or a number 0-255 otherwise.
fn protocol(rule: &Map<String, Value>, field: &str) -> Result<(Option<u8>, Option<String>), ApiError> {
    let invalid = |v: &dyn std::fmt::Display| {
        neutron(
            400,
            "SecurityGroupRuleInvalidProtocol",
            format!("`{field}` `{v}` is not supported (a protocol name such as tcp, a number 0-255, `any` or null)"),
        )
    };
    match rule.get("protocol") {
        None | Some(Value::Null) => Ok((None, None)),
        Some(Value::String(s)) => {
            let lower = s.to_ascii_lowercase();
            if lower == "any" || lower == "0" {
                return Ok((None, None));
            }
            if let Some(&(_, n)) = PROTOCOL_NAMES.iter().find(|(name, _)| *name == lower) {
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
fn port(rule: &Map<String, Value>, key: &str, path: &str) -> Result<Option<u32>, ApiError> {
    let field = format!("{path}{key}");
    match rule.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_i64()) {
            (Some(p), _) if p <= 65_535 => Ok(Some(p as u32)),
            (Some(_), _) | (None, Some(_)) => Err(neutron(
                400,
                "SecurityGroupInvalidPortValue",
                format!("`{field}` `{n}`: invalid value for port (0-65535)"),
            )),
            (None, None) => Err(validation(&field, format!("`{n}` is not an integer"))),
        },
        Some(other) => Err(validation(&field, format!("`{other}` is not an integer"))),
    }
}

fn parse_rule(rule: &Map<String, Value>, path: &str) -> Result<RuleSpec, ApiError> {
    if let Some(k) = rest::Body::new(rule, path, VALIDATION).unknown_key(RULE_FIELDS) {
        return Err(validation(
            &format!("{path}{k}"),
            "extra inputs are not permitted",
        ));
    }
    let direction = match rule.get("direction") {
        Some(Value::String(s)) if s == "ingress" => Direction::Ingress,
        Some(Value::String(s)) if s == "egress" => Direction::Egress,
        None | Some(Value::Null) => return Err(validation(&format!("{path}direction"), "field required")),
        Some(other) => {
            return Err(validation(
                &format!("{path}direction"),
                format!("`{other}` is not `ingress` or `egress`"),
            ))
        }
    };
    let family = match rule.get("ethertype") {
        None | Some(Value::Null) => Family::V4,
        Some(Value::String(s)) if s == "IPv4" => Family::V4,
        Some(Value::String(s)) if s == "IPv6" => Family::V6,
        Some(other) => {
            return Err(validation(
                &format!("{path}ethertype"),
                format!("`{other}` is not `IPv4` or `IPv6`"),
            ))
        }
    };
    let (mut protocol, mut protocol_text) = protocol(rule, &format!("{path}protocol"))?;
    let port_min = port(rule, "port_range_min", path)?;
    let port_max = port(rule, "port_range_max", path)?;
    let prefix = match rule.get("remote_ip_prefix") {
        None | Some(Value::Null) => None,
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
    let remote_group = match rule.get("remote_group_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(validation(
                &format!("{path}remote_group_id"),
                format!("`{other}` is not a string"),
            ))
        }
    };
    let description = match rule.get("description") {
        None | Some(Value::Null) => None,
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
            Some(p) if PORT_PROTOCOLS.contains(&p) => {
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
    if let Some(p) = protocol.filter(|p| IPV6_ONLY.contains(p) && family == Family::V4) {
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
fn check_duplicates(existing: &[RuleSpec], new: &[RuleSpec], group_id: Option<&str>) -> Result<(), ApiError> {
    // PERF: hashed keys keep a call of many rules linear, not quadratic.
    let old: std::collections::HashSet<_> = existing.iter().map(RuleSpec::key).collect();
    let mut seen = std::collections::HashSet::with_capacity(new.len());
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

/// Reads a stored rule's spec back (for duplicate checks) from the rule and its shown form.
fn spec_of(rule: &Rule) -> RuleSpec {
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
fn resolve_remote(
    cloud: &Cloud,
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
fn lower(spec: &RuleSpec, remote: Remote, key: RuleKey, id: String, group_id: &str, now: &str) -> Rule {
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
    let shown = json!({
        "id": id,
        "security_group_id": group_id,
        "direction": spec.direction.to_string(),
        "ethertype": spec.family.to_string(),
        "protocol": spec.protocol_text,
        "port_range_min": spec.port_min,
        "port_range_max": spec.port_max,
        "remote_ip_prefix": spec.prefix.map(|p| p.to_string()),
        "remote_group_id": spec.remote_group,
        "description": spec.description,
        "revision_number": 0,
        "created_at": now,
        "updated_at": now,
    });
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
        shown,
    }
}

// ---- the calls ----

fn create_security_group(
    cloud: &mut Cloud,
    request: &Request,
    request_id: &str,
) -> Result<Response, ApiError> {
    // The task is recorded after the change: make sure it can be, so the call stays whole.
    state(cloud)?;
    let (project_id, region_id) = match path_ids(request, &[CREATE_GROUP_PATH])? {
        Some(ids) => tenant(&ids)?,
        None => (1, 1),
    };
    let body = body(request)?;
    if let Some(k) = body
        .keys()
        .find(|k| !["name", "description", "rules", "tags"].contains(&k.as_str()))
    {
        return Err(validation(k, "extra inputs are not permitted"));
    }
    let name = match body.get("name") {
        Some(Value::String(s)) if s.chars().count() <= 255 => s.clone(),
        Some(Value::String(_)) => return Err(validation("name", "at most 255 characters are allowed")),
        None | Some(Value::Null) => return Err(validation("name", "field required")),
        Some(other) => return Err(validation("name", format!("`{other}` is not a string"))),
    };
    let description = match body.get("description") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.chars().count() <= 255 => Some(s.clone()),
        Some(Value::String(_)) => {
            return Err(validation("description", "at most 255 characters are allowed"))
        }
        Some(other) => return Err(validation("description", format!("`{other}` is not a string"))),
    };
    let tags = tags(body)?;
    let given = match body.get("rules") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(items),
        Some(other) => return Err(validation("rules", format!("`{other}` is not an array"))),
    };
    // Neutron validates each rule whole (fields, then its remote group), then duplicates.
    let mut specs = Vec::new();
    let mut remotes = Vec::new();
    for (i, item) in given.into_iter().flatten().enumerate() {
        let path = format!("rules[{i}].");
        let map = item
            .as_object()
            .ok_or_else(|| validation(&format!("rules[{i}]"), format!("`{item}` is not an object")))?;
        let spec = parse_rule(map, &path)?;
        remotes.push(resolve_remote(cloud, &spec, None, &path)?);
        specs.push(spec);
    }
    check_duplicates(&[], &specs, None)?;
    let key = cloud.next_group_key();
    let group_id = rest::uuid(cloud, SALT_GROUP, key.0 as u64);
    // Decision 6: the defaults a create adds.
    let defaults: &[(Direction, Family)] = match (cloud.options().gcore_defaults, given) {
        (GcoreDefaults::EgressWhenNone, Some(list)) if list.is_empty() => &[],
        (GcoreDefaults::EgressWhenNone, _) if specs.iter().any(|s| s.direction == Direction::Egress) => &[],
        (GcoreDefaults::EgressWhenNone, _) => {
            &[(Direction::Egress, Family::V4), (Direction::Egress, Family::V6)]
        }
        (GcoreDefaults::Template, None) => &[
            (Direction::Ingress, Family::V4),
            (Direction::Ingress, Family::V6),
            (Direction::Egress, Family::V4),
            (Direction::Egress, Family::V6),
        ],
        (GcoreDefaults::Template, Some(_)) => &[],
    };
    for &(direction, family) in defaults {
        specs.push(RuleSpec::allow_all(direction, family));
        remotes.push(Remote::Any);
    }

    let now = rest::timestamp(cloud.call_count());
    let keys: Vec<RuleKey> = cloud.next_rule_keys(specs.len()).collect();
    let rules: Vec<Rule> = specs
        .iter()
        .zip(remotes)
        .zip(keys)
        .map(|((spec, remote), k)| {
            let id = rest::uuid(cloud, SALT_RULE, k.0 as u64);
            lower(spec, remote, k, id, &group_id, &now)
        })
        .collect();
    let shown = json!({
        "id": group_id,
        "name": name,
        "description": description,
        "project_id": project_id,
        "region_id": region_id,
        "revision_number": 0,
        "tags_v2": tags,
        "created_at": now,
        "updated_at": now,
    });
    cloud.insert_group(Group {
        key,
        id: group_id.clone(),
        name,
        description: description.unwrap_or_default(),
        kind: GroupKind::Gcore,
        rules,
        shown,
    });
    finish_task(
        cloud,
        "create_security_group",
        json!({"security_groups": [group_id]}),
        (project_id, region_id, request_id),
        Some(group_id),
    )
}

fn get_security_group(cloud: &mut Cloud, request: &Request) -> Result<Response, ApiError> {
    let group_id = match path_ids(request, &[GET_GROUP_PATH])? {
        Some(ids) => {
            tenant(&ids)?;
            ids[2].clone()
        }
        None => id_from_body(request, "group_id", &[])?,
    };
    let group = find_group(cloud, &group_id)?;
    let mut answer = group.shown.clone();
    if let Value::Object(map) = &mut answer {
        map.insert(
            "security_group_rules".into(),
            Value::Array(group.rules.iter().map(|r| r.shown.clone()).collect()),
        );
    }
    Ok(Response {
        status: 200,
        body: answer,
        created: None,
    })
}

fn create_rule(cloud: &mut Cloud, request: &Request, request_id: &str) -> Result<Response, ApiError> {
    // The task is recorded after the change: make sure it can be, so the call stays whole.
    state(cloud)?;
    let body = body(request)?;
    let (group_id, project_id, region_id, rule_body) = match path_ids(request, &[RULES_PATH])? {
        Some(ids) => {
            let (project_id, region_id) = tenant(&ids)?;
            (ids[2].clone(), project_id, region_id, body.clone())
        }
        None => {
            let id = match body.get("group_id") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                _ => {
                    return Err(validation(
                        "group_id",
                        "field required (or give the request path)",
                    ))
                }
            };
            let mut rest = body.clone();
            rest.remove("group_id");
            (id, 1, 1, rest)
        }
    };
    let spec = parse_rule(&rule_body, "")?;
    let group = find_group(cloud, &group_id)?;
    let group_key = group.key;
    let remote = resolve_remote(cloud, &spec, Some((&group_id, group_key)), "")?;
    let existing: Vec<RuleSpec> = group.rules.iter().map(spec_of).collect();
    check_duplicates(&existing, std::slice::from_ref(&spec), Some(&group_id))?;
    let now = rest::timestamp(cloud.call_count());
    let Some(key) = cloud.next_rule_keys(1).next() else {
        return Err(neutron(500, "InternalError", "no rule key available".to_owned()));
    };
    let rule_id = rest::uuid(cloud, SALT_RULE, key.0 as u64);
    let rule = lower(&spec, remote, key, rule_id.clone(), &group_id, &now);
    cloud.push_rules(group_key, vec![rule]);
    finish_task(
        cloud,
        "create_security_group_rule",
        json!({"security_group_rules": [rule_id]}),
        (project_id, region_id, request_id),
        Some(rule_id),
    )
}

fn delete_rule(cloud: &mut Cloud, request: &Request, request_id: &str) -> Result<Response, ApiError> {
    // The task is recorded after the change: make sure it can be, so the call stays whole.
    state(cloud)?;
    let (group_id, rule_id, project_id, region_id) = match path_ids(request, &[RULE_PATH])? {
        Some(ids) => {
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
            let (project_id, region_id) = tenant(&ids)?;
            (ids[2].clone(), ids[3].clone(), project_id, region_id)
        }
        None => (
            id_from_body(request, "group_id", &["rule_id"])?,
            id_from_body(request, "rule_id", &["group_id"])?,
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
        Value::Null,
        (project_id, region_id, request_id),
        None,
    )
}

fn get_task(cloud: &mut Cloud, request: &Request) -> Result<Response, ApiError> {
    let task_id = match path_ids(request, &[TASK_PATH])? {
        Some(ids) => ids[0].clone(),
        None => id_from_body(request, "task_id", &[])?,
    };
    let task = state(cloud)?
        .tasks
        .get(&task_id)
        .cloned()
        .ok_or_else(|| not_found(format!("task `{task_id}` could not be found")))?;
    Ok(Response {
        status: 200,
        body: task,
        created: None,
    })
}

/// Records a task that finished at once (the emulator has no asynchrony) and answers it
/// (`{"tasks": [id]}`, `created` the resource the call made).
fn finish_task(
    cloud: &mut Cloud,
    task_type: &str,
    created_resources: Value,
    (project_id, region_id, request_id): (u64, u64, &str),
    created: Option<String>,
) -> Result<Response, ApiError> {
    let n = cloud.call_count();
    let id = rest::uuid(cloud, SALT_TASK, n);
    let now = rest::timestamp(n);
    let task = json!({
        "id": id,
        "task_type": task_type,
        "state": "FINISHED",
        "created_on": now,
        "updated_on": now,
        "finished_on": now,
        "user_id": 1,
        "project_id": project_id,
        "region_id": region_id,
        "request_id": request_id,
        "created_resources": created_resources,
        "error": null,
    });
    match &mut cloud.state {
        super::State::Gcore(s) => {
            s.tasks.insert(id.clone(), task);
            Ok(Response {
                status: 200,
                body: json!({ "tasks": [id] }),
                created,
            })
        }
        _ => Err(neutron(500, "InternalError", "not a gcore cloud".to_owned())),
    }
}

// ---- helpers ----

fn state(cloud: &Cloud) -> Result<&State, ApiError> {
    match &cloud.state {
        super::State::Gcore(s) => Ok(s),
        _ => Err(neutron(500, "InternalError", "not a gcore cloud".to_owned())),
    }
}

fn body(request: &Request) -> Result<&Map<String, Value>, ApiError> {
    rest::body_object(request).map_err(|found| match found {
        Some(other) => validation("(body)", format!("`{other}` is not an object")),
        None => validation("(body)", "field required"),
    })
}

/// An id the path would carry, read from the body instead; `others` are the other fields
/// the body may hold.
fn id_from_body(request: &Request, key: &str, others: &[&str]) -> Result<String, ApiError> {
    let map = body(request)?;
    if let Some(k) = map.keys().find(|k| *k != key && !others.contains(&k.as_str())) {
        return Err(validation(k, "extra inputs are not permitted"));
    }
    match map.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(validation(key, "field required (or give the request path)")),
    }
}

/// `tags`: an object of string values, keys 1-255 and values up to 255 characters
/// (seed 004), shown as `tags_v2`.
fn tags(body: &Map<String, Value>) -> Result<Value, ApiError> {
    let map = match body.get("tags") {
        None | Some(Value::Null) => return Ok(json!([])),
        Some(Value::Object(map)) => map,
        Some(other) => return Err(validation("tags", format!("`{other}` is not an object"))),
    };
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        let field = format!("tags.{k}");
        let Value::String(v) = v else {
            return Err(validation(&field, format!("`{v}` is not a string")));
        };
        if k.is_empty() || k.chars().count() > 255 || v.chars().count() > 255 {
            return Err(validation(
                &field,
                "keys of 1-255 and values of at most 255 characters are allowed",
            ));
        }
        out.push(json!({"key": k, "value": v, "read_only": false}));
    }
    Ok(Value::Array(out))
}

fn find_group<'a>(cloud: &'a Cloud, id: &str) -> Result<&'a Group, ApiError> {
    cloud
        .group_by_id(id)
        .filter(|g| g.kind == GroupKind::Gcore)
        .ok_or_else(|| not_found(format!("security group `{id}` could not be found")))
}

/// A path id that must be an integer (`project_id`, `region_id`).
fn int_id(text: &str, field: &str) -> Result<u64, ApiError> {
    text.parse::<u64>()
        .map_err(|_| validation(field, format!("`{text}` is not a valid integer")))
}

/// The `project_id` and `region_id` every path template starts with.
fn tenant(ids: &[String]) -> Result<(u64, u64), ApiError> {
    match ids {
        [project, region, ..] => Ok((int_id(project, "project_id")?, int_id(region, "region_id")?)),
        _ => Err(neutron(
            500,
            "InternalError",
            "a path without its project and region".to_owned(),
        )),
    }
}

fn path_ids(request: &Request, templates: &[&str]) -> Result<Option<Vec<String>>, ApiError> {
    let Some(path) = rest::request_path(request) else {
        return Ok(None);
    };
    match rest::match_templates(templates, path) {
        Some(ids) => Ok(Some(ids)),
        None => Err(neutron(
            404,
            "HTTPError",
            format!("not found: path `{path}` does not match `{}`", templates[0]),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Options, Provider};

    fn cloud_with(defaults: GcoreDefaults) -> Cloud {
        Cloud::new(
            Provider::Gcore,
            Options {
                gcore_defaults: defaults,
                ..Options::default()
            },
        )
    }

    fn req(body: Value) -> Request {
        Request {
            body: Some(body),
            ..Request::default()
        }
    }

    fn directions(cloud: &Cloud, id: &str) -> Vec<(Direction, Option<Family>)> {
        cloud
            .group_by_id(id)
            .unwrap()
            .rules
            .iter()
            .map(|r| (r.direction, r.family))
            .collect()
    }

    #[test]
    fn create_answers_a_finished_task_naming_the_group() {
        let mut c = cloud_with(GcoreDefaults::EgressWhenNone);
        let r = c.call("CreateSecurityGroup", &req(json!({"name": "web"})));
        assert_eq!(r.status, 200, "{}", r.body);
        let task_id = r.body["tasks"][0].as_str().unwrap().to_owned();
        let group_id = r.created.clone().unwrap();
        assert_ne!(task_id, group_id);
        let t = c.call(
            "GetTask",
            &Request {
                path: Some(format!("/cloud/v1/tasks/{task_id}")),
                ..Request::default()
            },
        );
        assert_eq!(t.status, 200);
        assert_eq!(t.body["state"], json!("FINISHED"));
        assert_eq!(t.body["created_resources"]["security_groups"], json!([group_id]));
    }

    #[test]
    fn defaults_follow_decision_6() {
        let egress = vec![
            (Direction::Egress, Some(Family::V4)),
            (Direction::Egress, Some(Family::V6)),
        ];
        let ingress22 =
            json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22});
        let mut c = cloud_with(GcoreDefaults::EgressWhenNone);
        let absent = c
            .call("CreateSecurityGroup", &req(json!({"name": "a"})))
            .created
            .unwrap();
        assert_eq!(directions(&c, &absent), egress);
        let empty = c
            .call("CreateSecurityGroup", &req(json!({"name": "b", "rules": []})))
            .created
            .unwrap();
        assert_eq!(directions(&c, &empty), vec![]);
        let only_ingress = c
            .call(
                "CreateSecurityGroup",
                &req(json!({"name": "c", "rules": [ingress22]})),
            )
            .created
            .unwrap();
        assert_eq!(directions(&c, &only_ingress).len(), 3);
        let with_egress = c
            .call(
                "CreateSecurityGroup",
                &req(json!({"name": "d", "rules": [{"direction": "egress", "protocol": "udp", "port_range_min": 53, "port_range_max": 53}]})),
            )
            .created
            .unwrap();
        assert_eq!(directions(&c, &with_egress).len(), 1);

        let mut t = cloud_with(GcoreDefaults::Template);
        let absent = t
            .call("CreateSecurityGroup", &req(json!({"name": "a"})))
            .created
            .unwrap();
        assert_eq!(directions(&t, &absent).len(), 4);
        let some = t
            .call(
                "CreateSecurityGroup",
                &req(json!({"name": "b", "rules": [ingress22]})),
            )
            .created
            .unwrap();
        assert_eq!(
            directions(&t, &some),
            vec![(Direction::Ingress, Some(Family::V4))]
        );
    }

    #[test]
    fn neutron_validation_names_the_exception() {
        let cases = [
            (
                json!({"direction": "ingress", "port_range_min": 22, "port_range_max": 22}),
                "SecurityGroupProtocolRequiredWithPorts",
            ),
            (
                json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 0, "port_range_max": 22}),
                "SecurityGroupInvalidPortValue",
            ),
            (
                json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 70000, "port_range_max": 70000}),
                "SecurityGroupInvalidPortValue",
            ),
            (
                json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 30, "port_range_max": 20}),
                "SecurityGroupInvalidPortRange",
            ),
            (
                json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 30}),
                "SecurityGroupInvalidPortRange",
            ),
            (
                json!({"direction": "ingress", "protocol": "icmp", "port_range_max": 0}),
                "SecurityGroupMissingIcmpType",
            ),
            (
                json!({"direction": "ingress", "protocol": "icmp", "port_range_min": 256}),
                "SecurityGroupInvalidIcmpValue",
            ),
            (
                json!({"direction": "ingress", "protocol": "gre", "port_range_min": 1, "port_range_max": 2}),
                "SecurityGroupInvalidProtocolForPort",
            ),
            (
                json!({"direction": "ingress", "protocol": "ipv6-icmp"}),
                "SecurityGroupEthertypeConflictWithProtocol",
            ),
            (
                json!({"direction": "ingress", "remote_ip_prefix": "2001:db8::/32"}),
                "SecurityGroupRuleParameterConflict",
            ),
            (
                json!({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/33"}),
                "InvalidInput",
            ),
            (
                json!({"direction": "ingress", "protocol": "bogus"}),
                "SecurityGroupRuleInvalidProtocol",
            ),
            (
                json!({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "x"}),
                "SecurityGroupRemoteGroupAndRemoteIpPrefix",
            ),
            (json!({"direction": "sideways"}), "ValidationError"),
            (
                json!({"direction": "ingress", "multiport": "22"}),
                "ValidationError",
            ),
            (
                json!({"direction": "ingress", "remote_group_id": "nope"}),
                "SecurityGroupNotFound",
            ),
        ];
        for (rule, class) in cases {
            let mut c = cloud_with(GcoreDefaults::EgressWhenNone);
            let r = c.call(
                "CreateSecurityGroup",
                &req(json!({"name": "x", "rules": [rule.clone()]})),
            );
            assert_eq!(
                r.body["exception_class"].as_str(),
                Some(class),
                "{rule}: {}",
                r.body
            );
            assert_eq!(c.groups().count(), 0);
        }
    }

    #[test]
    fn duplicates_in_post_and_against_existing_rules() {
        let mut c = cloud_with(GcoreDefaults::EgressWhenNone);
        let a = json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"});
        let b = json!({"direction": "ingress", "protocol": "6", "port_range_min": 22, "port_range_max": 22});
        let r = c.call(
            "CreateSecurityGroup",
            &req(json!({"name": "x", "rules": [a.clone(), b.clone()]})),
        );
        assert_eq!(
            (r.status, r.body["exception_class"].as_str()),
            (409, Some("DuplicateSecurityGroupRuleInPost"))
        );
        let g = c
            .call("CreateSecurityGroup", &req(json!({"name": "x", "rules": [a]})))
            .created
            .unwrap();
        let path = format!("/cloud/v2/security_groups/1/1/{g}/rules");
        let r = c.call(
            "CreateSecurityGroupRule",
            &Request {
                body: Some(b),
                path: Some(path),
                ..Request::default()
            },
        );
        assert_eq!(
            (r.status, r.body["exception_class"].as_str()),
            (409, Some("SecurityGroupRuleExists"))
        );
    }

    #[test]
    fn icmp_with_ipv6_becomes_ipv6_icmp_and_keeps_type_and_code() {
        let mut c = cloud_with(GcoreDefaults::EgressWhenNone);
        let g = c
            .call(
                "CreateSecurityGroup",
                &req(json!({"name": "x", "rules": [{"direction": "ingress", "ethertype": "IPv6", "protocol": "icmp", "port_range_min": 128, "port_range_max": 0}]})),
            )
            .created
            .unwrap();
        let rule = &c.group_by_id(&g).unwrap().rules[0];
        assert_eq!(rule.protocol, Some(58));
        assert_eq!(rule.shown["protocol"], json!("ipv6-icmp"));
        assert_eq!(
            rule.icmp,
            IcmpMatch {
                icmp_type: Some(128),
                icmp_code: Some(0)
            }
        );
        assert!(rule.dst_ports.is_any());
    }

    #[test]
    fn rules_are_added_and_deleted_through_tasks() {
        let mut c = cloud_with(GcoreDefaults::EgressWhenNone);
        let g = c
            .call("CreateSecurityGroup", &req(json!({"name": "x"})))
            .created
            .unwrap();
        let r = c.call(
            "CreateSecurityGroupRule",
            &Request {
                body: Some(json!({"direction": "ingress", "remote_group_id": g})),
                path: Some(format!("/cloud/v2/security_groups/1/1/{g}/rules")),
                ..Request::default()
            },
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let rule_id = r.created.unwrap();
        let group = c.group_by_id(&g).unwrap();
        assert_eq!(group.rules[2].remote, Remote::Group(group.key));
        let bad_path = Request {
            path: Some(format!("/cloud/v2/security_groups/x/1/{g}/rules/{rule_id}")),
            ..Request::default()
        };
        assert_eq!(
            c.call("DeleteSecurityGroupRule", &bad_path).body["exception_class"],
            json!("ValidationError")
        );
        let del = Request {
            path: Some(format!("/cloud/v2/security_groups/1/1/{g}/rules/{rule_id}")),
            ..Request::default()
        };
        assert_eq!(c.call("DeleteSecurityGroupRule", &del).status, 200);
        assert_eq!(c.group_by_id(&g).unwrap().rules.len(), 2);
        assert_eq!(c.call("DeleteSecurityGroupRule", &del).status, 404);
    }
}
