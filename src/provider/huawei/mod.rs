//! Huawei Cloud VPC v3 front end.
//!
//! The request bodies are the v3 API's own (`security_group`, `security_group_rule`,
//! `security_group_rules`, `address_group`), answers are shaped as the provider's
//! (`{request_id, security_group: {...}}`, errors `{request_id, error_code, error_msg}`).
//! provider-semantics.md section 3 and Decisions 5, 7, 8 fix the behaviour:
//!
//! - CreateSecurityGroup creates four real rules (ingress from the group itself and egress
//!   to anywhere, IPv4 and IPv6, allow, priority 100) in the order of the seed example;
//!   `dry_run: true` (group, rule and batch create) runs every check, answers 202 and
//!   creates nothing. Batch create's `ignore_duplicate: true` skips a rule that repeats one
//!   of the group or one earlier in the request instead of failing the request (H3).
//! - Single-rule create defaults priority to 100, batch create to 1; action defaults to
//!   allow; `protocol` empty or null means every protocol; `multiport` takes `80`, `1-30`,
//!   `22,3389,80` and mixes (at most 20 items, 1..65535, no overlap); the three remote fields
//!   are mutually exclusive and must name something that exists.
//! - An identical rule is refused (409), and so is an otherwise identical rule with the
//!   opposite action at the same priority, a true contradiction (our reading: H11 says only
//!   that importing such a pair fails). At another priority the opposite action is accepted
//!   and priority decides, so "deny all egress" at priority 1 can sit next to the default
//!   "allow all egress" at 100. A group holds at most 50 rules, its default rules included.
//!
//! A request may give the URL in `path`, checked against the API's URI template; without
//! one, the ids the URL would carry come from the body (`security_group_id` for
//! ShowSecurityGroup and BatchCreateSecurityGroupRules, `security_group_rule_id` for
//! DeleteSecurityGroupRule). The emulation is one tenant: any `project_id` is accepted.
//!
//! Error codes come from the VPC error-code page (H7, `错误码.md`). That page lists codes
//! for the v1-era wrapped APIs; the v3 reference only points to it. Where it names no code
//! for a case, the closest documented one is used and marked *unconfirmed* below.

pub(crate) mod rules;

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{json, Map, Value};

use crate::cloud::{Cloud, Request, Response};
use crate::group::{AddressEntry, AddressGroup, AddressGroupKey, Group, GroupKind};
use crate::provider::rest::{self, Body};
use crate::provider::ApiError;
use crate::rule::{Action, Direction, Family, IcmpMatch, PortRange, Ports, Remote, Rule, RuleKey};

/// The API names this front end answers.
pub const APIS: &[&str] = &[
    "CreateSecurityGroup",
    "ShowSecurityGroup",
    "CreateSecurityGroupRule",
    "BatchCreateSecurityGroupRules",
    "DeleteSecurityGroupRule",
    "CreateAddressGroup",
];

/// The error codes this front end answers with.
mod code {
    /// 400 "安全组参数错误" (security group parameter error): documented for
    /// CreateSecurityGroup (`Creating securitygroup name is invalid.`) and the group queries;
    /// used for every invalid parameter of a group or rule request (for rules: unconfirmed).
    pub const PARAM: &str = "VPC.0601";
    /// 409 for rule create: "Security group rule already exists." and "Quota exceeded for
    /// resources: ['security_group_rule']" (documented). Also used for a rule that repeats
    /// another with the opposite action at the same priority (code unconfirmed).
    pub const RULE_CONFLICT: &str = "VPC.0602";
    /// 404 "Securitygroup is not exist." (documented for the group query); also used for a
    /// missing rule on delete (unconfirmed).
    pub const NOT_FOUND: &str = "VPC.0603";
    /// 409 "Quota exceeded for resources: ['security_group']" (documented).
    pub const GROUP_QUOTA: &str = "VPC.0604";
    /// 400 "EnterpriseProjectId is invalid" (documented, public).
    pub const ENTERPRISE_PROJECT: &str = "VPC.0011";
    /// 400 tag errors, e.g. "Tag length is invalid. The key length must be in range [1,36]
    /// and value in range [0,43]" (documented for the tag APIs).
    pub const TAG: &str = "VPC.1801";
    /// 400 "Invalid ip_set" / "Duplicate ip_set in request body" (documented); also used
    /// for the address group's other parameters (unconfirmed).
    pub const ADDRESS_GROUP_PARAM: &str = "VPC.9901";
    /// 404 "Address_group xxx could not be found." (documented for address group update;
    /// used for a rule's `remote_address_group_id`).
    pub const ADDRESS_GROUP_NOT_FOUND: &str = "VPC.9904";
    /// 404 of the API gateway for a URL that is no API (documented gateway code).
    pub const NO_SUCH_API: &str = "APIGW.0101";
}

/// Salts of the deterministic ids.
const SALT_PROJECT: u64 = 1;
const SALT_REQUEST: u64 = 2;
const SALT_GROUP: u64 = 4;
const SALT_RULE: u64 = 6;
const SALT_ADDRESS_GROUP: u64 = 8;

/// Most items in one `multiport` (H2, H4c).
const MULTIPORT_ITEMS: usize = 20;
/// Most rules in one batch create (BatchCreateSecurityGroupRules: "当前最多能传入200条规则").
const BATCH_RULES: usize = 200;

/// Bookkeeping of this front end: the tenant's quotas (H4b, 2024 snapshot).
#[derive(Clone, Debug)]
pub(crate) struct State {
    /// Security groups per account.
    group_quota: usize,
    /// Rules per group, the four default rules included.
    rule_quota: usize,
    /// Default `max_capacity` of an address group's `ip_set`.
    ip_set_capacity: u64,
}

impl Default for State {
    fn default() -> Self {
        State {
            group_quota: 100,
            rule_quota: 50,
            ip_set_capacity: 20,
        }
    }
}

/// The URI templates (without the leading `/v3/{project_id}/vpc`).
const GROUPS_PATH: &str = "/v3/{project_id}/vpc/security-groups";
const GROUP_PATH: &str = "/v3/{project_id}/vpc/security-groups/{security_group_id}";
const RULES_PATH: &str = "/v3/{project_id}/vpc/security-group-rules";
const RULE_PATH: &str = "/v3/{project_id}/vpc/security-group-rules/{security_group_rule_id}";
const BATCH_PATH: &str =
    "/v3/{project_id}/vpc/security-groups/{security_group_id}/security-group-rules/batch-create";
/// The current reference spells it `address-groups`; the 2019 page `address_groups`.
const ADDRESS_GROUPS_PATHS: &[&str] = &[
    "/v3/{project_id}/vpc/address-groups",
    "/v3/{project_id}/vpc/address_groups",
];

pub(crate) fn call(cloud: &mut Cloud, api: &str, request: &Request) -> Response {
    let request_id = rest::request_id(cloud, SALT_REQUEST);
    let result = match api {
        "CreateSecurityGroup" => create_security_group(cloud, request, &request_id),
        "ShowSecurityGroup" => show_security_group(cloud, request, &request_id),
        "CreateSecurityGroupRule" => create_rule(cloud, request, &request_id),
        "BatchCreateSecurityGroupRules" => batch_create_rules(cloud, request, &request_id),
        "DeleteSecurityGroupRule" => delete_rule(cloud, request),
        "CreateAddressGroup" => create_address_group(cloud, request, &request_id),
        other => Err(ApiError::new(
            404,
            code::NO_SUCH_API,
            format!(
                "`{other}` is not a huawei vpc v3 api (known: {})",
                APIS.join(", ")
            ),
        )),
    };
    match result {
        Ok(response) => response,
        Err(e) => Response {
            status: e.status,
            body: json!({"request_id": request_id, "error_code": e.code, "error_msg": e.message}),
            created: None,
        },
    }
}

// ---- CreateSecurityGroup ----

fn create_security_group(
    cloud: &mut Cloud,
    request: &Request,
    request_id: &str,
) -> Result<Response, ApiError> {
    check_path(request, &[GROUPS_PATH])?;
    let body = body(request, code::PARAM)?;
    Body::new(body, "", code::PARAM).check_keys(&["security_group", "dry_run"])?;
    let dry_run = Body::new(body, "", code::PARAM).bool("dry_run")?.unwrap_or(false);
    let sg = Body::new(body, "", code::PARAM).object("security_group")?;
    let path = "security_group.";
    Body::new(sg, path, code::PARAM).check_keys(&["name", "description", "enterprise_project_id", "tags"])?;
    let name = Body::new(sg, path, code::PARAM)
        .str("name")?
        .ok_or_else(|| param(format!("`{path}name` is missing (1-64 characters)")))?;
    check_name(name, &format!("{path}name"), code::PARAM)?;
    let description = description(sg, path, code::PARAM)?;
    let enterprise_project_id = enterprise_project_id(sg, path, code::PARAM)?;
    let tags = tags(sg, path)?;
    let state = state(cloud)?;
    if cloud.groups().count() >= state.group_quota {
        return Err(ApiError::new(
            409,
            code::GROUP_QUOTA,
            format!(
                "quota exceeded for resources: ['security_group'] (at most {} groups)",
                state.group_quota
            ),
        ));
    }
    if dry_run {
        return Ok(accepted(request_id));
    }

    let key = cloud.next_group_key();
    let group_id = rest::uuid(cloud, SALT_GROUP, key.0 as u64);
    let project_id = project_id(cloud);
    let now = rest::timestamp(cloud.call_count());
    // The order of the seed example (003): ingress IPv6, egress IPv6, egress IPv4, ingress IPv4.
    let defaults = [
        (Direction::Ingress, Family::V6),
        (Direction::Egress, Family::V6),
        (Direction::Egress, Family::V4),
        (Direction::Ingress, Family::V4),
    ];
    let keys: Vec<RuleKey> = cloud.next_rule_keys(defaults.len()).collect();
    let rules: Vec<Rule> = defaults
        .iter()
        .zip(keys)
        .map(|(&(direction, family), rule_key)| {
            let spec = RuleSpec {
                direction,
                family,
                protocol: None,
                protocol_text: None,
                ports: Vec::new(),
                multiport_text: None,
                remote: match direction {
                    Direction::Ingress => RemoteSpec::Group(group_id.clone()),
                    Direction::Egress => RemoteSpec::None,
                },
                action: Action::Allow,
                priority: 100,
                enabled: true,
                description: String::new(),
            };
            let remote = match direction {
                Direction::Ingress => Remote::Group(key),
                Direction::Egress => Remote::Any,
            };
            lower(cloud, &spec, remote, rule_key, &group_id, &project_id, &now)
        })
        .collect();
    let shown = json!({
        "id": group_id,
        "name": name,
        "project_id": project_id,
        "description": description,
        "enterprise_project_id": enterprise_project_id,
        "tags": tags,
        "created_at": now,
        "updated_at": now,
    });
    let mut answer = shown.clone();
    if let Value::Object(map) = &mut answer {
        map.insert(
            "security_group_rules".into(),
            Value::Array(rules.iter().map(|r| r.shown.clone()).collect()),
        );
    }
    cloud.insert_group(Group {
        key,
        id: group_id.clone(),
        name: name.to_owned(),
        description,
        kind: GroupKind::Huawei,
        rules,
        shown,
    });
    Ok(Response {
        status: 201,
        body: json!({"request_id": request_id, "security_group": answer}),
        created: Some(group_id),
    })
}

fn show_security_group(cloud: &mut Cloud, request: &Request, request_id: &str) -> Result<Response, ApiError> {
    let group_id = match path_ids(request, &[GROUP_PATH])? {
        Some(ids) => ids[1].clone(),
        None => {
            let body = body(request, code::PARAM)?;
            Body::new(body, "", code::PARAM).check_keys(&["security_group_id"])?;
            Body::new(body, "", code::PARAM)
                .str("security_group_id")?
                .ok_or_else(|| param("`security_group_id` is missing".to_owned()))?
                .to_owned()
        }
    };
    let group = find_group(cloud, &group_id, "security_group_id")?;
    let mut answer = group.shown.clone();
    if let Value::Object(map) = &mut answer {
        map.insert(
            "security_group_rules".into(),
            Value::Array(group.rules.iter().map(|r| r.shown.clone()).collect()),
        );
    }
    Ok(Response {
        status: 200,
        body: json!({"request_id": request_id, "security_group": answer}),
        created: None,
    })
}

// ---- rules ----

/// A rule request, validated but not yet checked against the cloud.
#[derive(Clone, Debug)]
struct RuleSpec {
    direction: Direction,
    family: Family,
    protocol: Option<u8>,
    /// `protocol` as the provider shows it (lowercase name or number), `None` for all.
    protocol_text: Option<String>,
    /// Destination port ranges, empty for every port.
    ports: Vec<PortRange>,
    multiport_text: Option<String>,
    remote: RemoteSpec,
    action: Action,
    priority: u8,
    enabled: bool,
    description: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum RemoteSpec {
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

/// The fields of a rule request (`CreateSecurityGroupRuleOption` and
/// `BatchCreateSecurityGroupRulesOption`).
const RULE_FIELDS: &[&str] = &[
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
];

fn parse_rule(
    rule: &Map<String, Value>,
    path: &str,
    default_priority: u8,
    default_action: Action,
) -> Result<RuleSpec, ApiError> {
    let direction = match Body::new(rule, path, code::PARAM).str("direction")? {
        Some("ingress") => Direction::Ingress,
        Some("egress") => Direction::Egress,
        Some(other) => {
            return Err(param(format!(
                "`{path}direction` `{other}` is invalid (ingress or egress)"
            )))
        }
        None => return Err(param(format!("`{path}direction` is missing (ingress or egress)"))),
    };
    let family = match Body::new(rule, path, code::PARAM).str("ethertype")? {
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
    let multiport_text = match rule.get("multiport") {
        None | Some(Value::Null) => None,
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
            Some(p) if crate::flow::has_ports(p) => {}
            Some(_) => {
                return Err(param(format!(
                    "`{path}multiport` needs a port-bearing protocol (tcp, udp, or 33, 132, 136), not `{}`",
                    protocol_text.as_deref().unwrap_or_default()
                )))
            }
        }
    }
    let prefix = Body::new(rule, path, code::PARAM).nonempty_str("remote_ip_prefix")?;
    let group = Body::new(rule, path, code::PARAM).nonempty_str("remote_group_id")?;
    let address_group = Body::new(rule, path, code::PARAM).nonempty_str("remote_address_group_id")?;
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
    let action = match Body::new(rule, path, code::PARAM).str("action")? {
        // Decision 5: allow; the `huawei_default_action` switch takes seed 003's "deny".
        None => default_action,
        Some("allow") => Action::Allow,
        Some("deny") => Action::Deny,
        Some(other) => {
            return Err(param(format!(
                "`{path}action` `{other}` is invalid (allow or deny)"
            )))
        }
    };
    let priority = match rule.get("priority") {
        None | Some(Value::Null) => default_priority,
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
    let enabled = Body::new(rule, path, code::PARAM)
        .bool("enabled")?
        .unwrap_or(true);
    let description = description(rule, path, code::PARAM)?;
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
fn protocol(rule: &Map<String, Value>, path: &str) -> Result<(Option<u8>, Option<String>), ApiError> {
    let invalid = |v: &dyn std::fmt::Display| {
        param(format!(
            "`{path}protocol` `{v}` is invalid (icmp, tcp, udp, icmpv6, a number 0-255, or empty for all)"
        ))
    };
    match rule.get("protocol") {
        None | Some(Value::Null) => Ok((None, None)),
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
fn parse_multiport(text: &str) -> Result<Vec<PortRange>, String> {
    let items: Vec<&str> = text.split(',').map(str::trim).collect();
    if items.len() > MULTIPORT_ITEMS {
        return Err(format!(
            "{} items, at most {MULTIPORT_ITEMS} are allowed",
            items.len()
        ));
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
    let mut ranges = Vec::with_capacity(items.len());
    for item in &items {
        let range = match item.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (port(lo)?, port(hi)?);
                PortRange::new(lo, hi).ok_or_else(|| format!("range `{item}` starts after it ends"))?
            }
            None => PortRange::single(port(item)?),
        };
        ranges.push(range);
    }
    let mut sorted = ranges.clone();
    sorted.sort();
    for pair in sorted.windows(2) {
        if pair[1].lo <= pair[0].hi {
            return Err(format!("items `{}` and `{}` overlap", pair[0], pair[1]));
        }
    }
    Ok(ranges)
}

/// A rule checked against the cloud: its remote resolved.
struct Checked {
    spec: RuleSpec,
    remote: Remote,
}

/// Resolves a rule's remote ids; the remote group may be the rule's own group.
fn resolve_remote(cloud: &Cloud, spec: &RuleSpec, path: &str) -> Result<Remote, ApiError> {
    Ok(match &spec.remote {
        RemoteSpec::None => Remote::Any,
        RemoteSpec::Prefix(net) => Remote::Cidr(*net),
        RemoteSpec::Group(id) => Remote::Group(find_group(cloud, id, &format!("{path}remote_group_id"))?.key),
        RemoteSpec::AddressGroup(id) => {
            let group = cloud.address_group_by_id(id).ok_or_else(|| {
                ApiError::new(
                    404,
                    code::ADDRESS_GROUP_NOT_FOUND,
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
fn check_conflicts(
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
                code::RULE_CONFLICT,
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
            code::RULE_CONFLICT,
            format!("{what}: security group rule already exists"),
        ));
    }
    Ok(true)
}

/// The provider-level view of a group's existing rules, for conflict checks.
fn existing_specs(group: &Group) -> Vec<RuleSpec> {
    group.rules.iter().filter_map(spec_of).collect()
}

/// Reads a rule's spec back from its shown form (every rule of a Huawei group was made by
/// this front end, so its shown form parses).
fn spec_of(rule: &Rule) -> Option<RuleSpec> {
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
        description: rule.description.clone(),
    })
}

fn quota_check(state: &State, group: &Group, adding: usize) -> Result<(), ApiError> {
    if group.rules.len() + adding > state.rule_quota {
        return Err(ApiError::new(
            409,
            code::RULE_CONFLICT,
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

fn create_rule(cloud: &mut Cloud, request: &Request, request_id: &str) -> Result<Response, ApiError> {
    check_path(request, &[RULES_PATH])?;
    let body = body(request, code::PARAM)?;
    Body::new(body, "", code::PARAM).check_keys(&["security_group_rule", "dry_run"])?;
    let dry_run = Body::new(body, "", code::PARAM).bool("dry_run")?.unwrap_or(false);
    let rule = Body::new(body, "", code::PARAM).object("security_group_rule")?;
    let path = "security_group_rule.";
    let mut fields = RULE_FIELDS.to_vec();
    fields.push("security_group_id");
    Body::new(rule, path, code::PARAM).check_keys(&fields)?;
    let group_id = Body::new(rule, path, code::PARAM)
        .nonempty_str("security_group_id")?
        .ok_or_else(|| param(format!("`{path}security_group_id` is missing")))?
        .to_owned();
    let spec = parse_rule(rule, path, 100, cloud.options().huawei_default_action)?;
    let group = find_group(cloud, &group_id, &format!("{path}security_group_id"))?;
    let remote = resolve_remote(cloud, &spec, path)?;
    let existing = existing_specs(group);
    check_conflicts(
        &existing.iter().collect::<Vec<_>>(),
        &spec,
        "security_group_rule",
        false,
    )?;
    quota_check(state(cloud)?, group, 1)?;
    if dry_run {
        return Ok(accepted(request_id));
    }
    let group_key = group.key;
    let created = apply_rules(cloud, &group_id, vec![Checked { spec, remote }]);
    let shown = created.first().map(|r| r.shown.clone()).unwrap_or(Value::Null);
    let rule_id = created.first().map(|r| r.id.clone());
    cloud.push_rules(group_key, created);
    Ok(Response {
        status: 201,
        body: json!({"request_id": request_id, "security_group_rule": shown}),
        created: rule_id,
    })
}

fn batch_create_rules(cloud: &mut Cloud, request: &Request, request_id: &str) -> Result<Response, ApiError> {
    let body = body(request, code::PARAM)?;
    // BatchCreateSecurityGroupRulesRequestBody: `security_group_rules`, `ignore_duplicate`
    // and `dry_run` (H3); `security_group_id` stands in for the path when none is given.
    let group_id = match path_ids(request, &[BATCH_PATH])? {
        Some(ids) => {
            Body::new(body, "", code::PARAM).check_keys(&[
                "security_group_rules",
                "ignore_duplicate",
                "dry_run",
            ])?;
            ids[1].clone()
        }
        None => {
            Body::new(body, "", code::PARAM).check_keys(&[
                "security_group_id",
                "security_group_rules",
                "ignore_duplicate",
                "dry_run",
            ])?;
            Body::new(body, "", code::PARAM)
                .nonempty_str("security_group_id")?
                .ok_or_else(|| param("`security_group_id` is missing (or give the request path)".to_owned()))?
                .to_owned()
        }
    };
    // `ignore_duplicate: true`: a rule repeated in the request or repeating a rule of the
    // group is skipped without error; `false` (the default): the request fails (H3).
    let ignore_duplicate = Body::new(body, "", code::PARAM)
        .bool("ignore_duplicate")?
        .unwrap_or(false);
    // `dry_run: true`: every check (parameters, conflicts, quota), then 202 and nothing created.
    let dry_run = Body::new(body, "", code::PARAM).bool("dry_run")?.unwrap_or(false);
    let items = match body.get("security_group_rules") {
        Some(Value::Array(items)) => items,
        None | Some(Value::Null) => return Err(param("`security_group_rules` is missing".to_owned())),
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
        Body::new(map, &path, code::PARAM).check_keys(RULE_FIELDS)?;
        // Batch create defaults priority to 1 (H3 BatchCreateSecurityGroupRules).
        specs.push(parse_rule(map, &path, 1, cloud.options().huawei_default_action)?);
    }
    let group = find_group(cloud, &group_id, "security_group_id")?;
    let existing = existing_specs(group);
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
    quota_check(state(cloud)?, group, kept.len())?;
    if dry_run {
        return Ok(accepted(request_id));
    }
    let group_key = group.key;
    let created = apply_rules(cloud, &group_id, kept);
    let shown: Vec<Value> = created.iter().map(|r| r.shown.clone()).collect();
    let single = (created.len() == 1).then(|| created[0].id.clone());
    cloud.push_rules(group_key, created);
    Ok(Response {
        status: 201,
        body: json!({"request_id": request_id, "security_group_rules": shown}),
        created: single,
    })
}

/// Lowers checked rules with fresh keys; the caller pushes them.
fn apply_rules(cloud: &Cloud, group_id: &str, rules: Vec<Checked>) -> Vec<Rule> {
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
fn lower(
    cloud: &Cloud,
    spec: &RuleSpec,
    remote: Remote,
    key: RuleKey,
    group_id: &str,
    project_id: &str,
    now: &str,
) -> Rule {
    let id = rest::uuid(cloud, SALT_RULE, key.0 as u64);
    let (prefix, remote_group, remote_address_group) = match &spec.remote {
        RemoteSpec::None => (Value::Null, Value::Null, Value::Null),
        RemoteSpec::Prefix(net) => (json!(net.to_string()), Value::Null, Value::Null),
        RemoteSpec::Group(id) => (Value::Null, json!(id), Value::Null),
        RemoteSpec::AddressGroup(id) => (Value::Null, Value::Null, json!(id)),
    };
    let shown = json!({
        "id": id,
        "project_id": project_id,
        "security_group_id": group_id,
        "remote_group_id": remote_group,
        "direction": spec.direction.to_string(),
        "protocol": spec.protocol_text,
        "description": spec.description,
        "created_at": now,
        "updated_at": now,
        "ethertype": spec.family.to_string(),
        "remote_ip_prefix": prefix,
        "multiport": spec.multiport_text,
        "remote_address_group_id": remote_address_group,
        "action": spec.action.to_string(),
        "priority": spec.priority,
        "enabled": spec.enabled,
    });
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
        shown,
    }
}

fn delete_rule(cloud: &mut Cloud, request: &Request) -> Result<Response, ApiError> {
    let rule_id = match path_ids(request, &[RULE_PATH])? {
        Some(ids) => {
            if let Some(body) = &request.body {
                if body.as_object().is_some_and(|m| !m.is_empty()) {
                    return Err(param("DELETE takes no body; the path names the rule".to_owned()));
                }
            }
            ids[1].clone()
        }
        None => {
            let body = body(request, code::PARAM)?;
            Body::new(body, "", code::PARAM).check_keys(&["security_group_rule_id"])?;
            Body::new(body, "", code::PARAM)
                .nonempty_str("security_group_rule_id")?
                .ok_or_else(|| {
                    param("`security_group_rule_id` is missing (or give the request path)".to_owned())
                })?
                .to_owned()
        }
    };
    let found = cloud
        .groups()
        .find_map(|g| g.rules.iter().find(|r| r.id == rule_id).map(|r| (g.key, r.key)));
    let Some((group, key)) = found else {
        return Err(ApiError::new(
            404,
            code::NOT_FOUND,
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

// ---- CreateAddressGroup ----

fn create_address_group(
    cloud: &mut Cloud,
    request: &Request,
    request_id: &str,
) -> Result<Response, ApiError> {
    check_path(request, ADDRESS_GROUPS_PATHS)?;
    let c = code::ADDRESS_GROUP_PARAM;
    let body = body(request, c)?;
    Body::new(body, "", c).check_keys(&["address_group", "dry_run"])?;
    let dry_run = Body::new(body, "", c).bool("dry_run")?.unwrap_or(false);
    let ag = Body::new(body, "", c).object("address_group")?;
    let path = "address_group.";
    Body::new(ag, path, c).check_keys(&[
        "name",
        "description",
        "ip_version",
        "ip_set",
        "max_capacity",
        "enterprise_project_id",
    ])?;
    let err = |m: String| ApiError::new(400, c, m);
    let name = Body::new(ag, path, c)
        .str("name")?
        .ok_or_else(|| err(format!("`{path}name` is missing (1-64 characters)")))?;
    check_name(name, &format!("{path}name"), c)?;
    let description = description(ag, path, c)?;
    let family = match ag.get("ip_version") {
        Some(v) if v.as_u64() == Some(4) => Family::V4,
        Some(v) if v.as_u64() == Some(6) => Family::V6,
        None | Some(Value::Null) => return Err(err(format!("`{path}ip_version` is missing (4 or 6)"))),
        Some(other) => return Err(err(format!("`{path}ip_version` `{other}` is invalid (4 or 6)"))),
    };
    let capacity = match ag.get("max_capacity") {
        None | Some(Value::Null) => state(cloud)?.ip_set_capacity,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=20) => n,
            _ => {
                return Err(err(format!(
                    "`{path}max_capacity` `{v}` is invalid (an integer 1-20)"
                )))
            }
        },
    };
    let enterprise_project_id = enterprise_project_id(ag, path, c)?;
    let items: Vec<&str> = match ag.get("ip_set") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .ok_or_else(|| err(format!("invalid ip_set `{v}` in `{path}ip_set[{i}]` (a string)")))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(err(format!("`{path}ip_set` must be an array, found `{other}`"))),
    };
    if items.len() as u64 > capacity {
        return Err(err(format!(
            "`{path}ip_set` has {} entries, more than `max_capacity` {capacity}",
            items.len()
        )));
    }
    let mut entries: Vec<AddressEntry> = Vec::with_capacity(items.len());
    for (i, text) in items.iter().enumerate() {
        let entry = parse_ip_set_entry(text, family)
            .map_err(|why| err(format!("invalid ip_set `{text}` in `{path}ip_set[{i}]`: {why}")))?;
        if entries.contains(&entry) {
            return Err(err(format!("duplicate ip_set `{text}` in `{path}ip_set[{i}]`")));
        }
        entries.push(entry);
    }
    if dry_run {
        return Ok(accepted(request_id));
    }
    let key: AddressGroupKey = cloud.next_address_group_key();
    let id = rest::uuid(cloud, SALT_ADDRESS_GROUP, key.0 as u64);
    let now = rest::timestamp(cloud.call_count());
    let shown = json!({
        "id": id,
        "name": name,
        "tenant_id": project_id(cloud),
        "ip_version": if family == Family::V4 { 4 } else { 6 },
        "ip_set": items,
        "max_capacity": capacity,
        "enterprise_project_id": enterprise_project_id,
        "created_at": now,
        "updated_at": now,
        "description": description,
    });
    cloud.insert_address_group(AddressGroup {
        key,
        id: id.clone(),
        name: name.to_owned(),
        family,
        entries,
        shown: shown.clone(),
    });
    Ok(Response {
        status: 201,
        body: json!({"address_group": shown, "request_id": request_id}),
        created: Some(id),
    })
}

/// One `ip_set` entry: an address, a CIDR or a `first-last` range, all of `family`.
fn parse_ip_set_entry(text: &str, family: Family) -> Result<AddressEntry, String> {
    let wrong_family = |what: &str| format!("{what} is not {family}");
    if let Some((first, last)) = text.split_once('-') {
        let first: IpAddr = first
            .trim()
            .parse()
            .map_err(|_| format!("`{first}` is not an ip address"))?;
        let last: IpAddr = last
            .trim()
            .parse()
            .map_err(|_| format!("`{last}` is not an ip address"))?;
        if Family::of(&first) != family || Family::of(&last) != family {
            return Err(wrong_family("the range"));
        }
        if first > last {
            return Err("the range starts after it ends".to_owned());
        }
        return Ok(AddressEntry::Range(first, last));
    }
    let net = parse_prefix(text).ok_or_else(|| "not an ip address, cidr or range".to_owned())?;
    if Family::of_net(&net) != family {
        return Err(wrong_family("the address"));
    }
    Ok(AddressEntry::Net(net))
}

// ---- request helpers ----

fn state(cloud: &Cloud) -> Result<&State, ApiError> {
    match &cloud.state {
        super::State::Huawei(s) => Ok(s),
        _ => Err(ApiError::new(
            500,
            "VPC.0602",
            "internal error: not a huawei cloud",
        )),
    }
}

fn param(message: String) -> ApiError {
    ApiError::new(400, code::PARAM, message)
}

fn accepted(request_id: &str) -> Response {
    Response {
        status: 202,
        body: json!({"request_id": request_id}),
        created: None,
    }
}

fn body<'a>(request: &'a Request, code: &'static str) -> Result<&'a Map<String, Value>, ApiError> {
    rest::body_object(request).map_err(|found| match found {
        Some(other) => ApiError::new(
            400,
            code,
            format!("the request body must be an object, found `{other}`"),
        ),
        None => ApiError::new(400, code, "the request body is missing"),
    })
}

/// Names: 1-64 characters, letters, digits, Chinese characters, `_`, `-`, `.`.
fn check_name(name: &str, field: &str, code: &'static str) -> Result<(), ApiError> {
    let len = name.chars().count();
    if !(1..=64).contains(&len) {
        return Err(ApiError::new(
            400,
            code,
            format!("`{field}` `{name}` has {len} characters (1-64 are allowed)"),
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|&c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') || is_chinese(c)))
    {
        return Err(ApiError::new(
            400,
            code,
            format!("`{field}` `{name}` contains `{c}` (letters, digits, chinese characters, `_`, `-`, `.` are allowed)"),
        ));
    }
    Ok(())
}

fn is_chinese(c: char) -> bool {
    matches!(c as u32, 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xF900..=0xFAFF | 0x20000..=0x2FA1F)
}

/// `description`: at most 255 characters, no `<` or `>`.
fn description(map: &Map<String, Value>, path: &str, code: &'static str) -> Result<String, ApiError> {
    let Some(text) = Body::new(map, path, code).str("description")? else {
        return Ok(String::new());
    };
    let len = text.chars().count();
    if len > 255 {
        return Err(ApiError::new(
            400,
            code,
            format!("`{path}description` has {len} characters (at most 255 are allowed)"),
        ));
    }
    if text.contains(['<', '>']) {
        return Err(ApiError::new(
            400,
            code,
            format!("`{path}description` `{text}` contains `<` or `>`"),
        ));
    }
    Ok(text.to_owned())
}

/// `tags`: `[{key, value}]`, key 1-36 characters, value 0-43 (VPC.1801 text), keys unique.
fn tags(map: &Map<String, Value>, path: &str) -> Result<Value, ApiError> {
    let tag_err = |m: String| ApiError::new(400, code::TAG, m);
    let items = match map.get("tags") {
        None | Some(Value::Null) => return Ok(json!([])),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(tag_err(format!("`{path}tags` must be an array, found `{other}`"))),
    };
    let mut keys: Vec<&str> = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("{path}tags[{i}]");
        let tag = item.as_object().ok_or_else(|| {
            tag_err(format!(
                "`{field}` must be an object with `key` and `value`, found `{item}`"
            ))
        })?;
        Body::new(tag, &format!("{field}."), code::TAG).check_keys(&["key", "value"])?;
        let key = Body::new(tag, &format!("{field}."), code::TAG)
            .str("key")?
            .unwrap_or_default();
        let value = Body::new(tag, &format!("{field}."), code::TAG)
            .str("value")?
            .unwrap_or_default();
        let (kl, vl) = (key.chars().count(), value.chars().count());
        if !(1..=36).contains(&kl) || vl > 43 {
            return Err(tag_err(format!(
                "`{field}`: tag length is invalid (key `{key}` has {kl} characters, value {vl}; the key length must be in range [1,36] and value in range [0,43])"
            )));
        }
        if keys.contains(&key) {
            return Err(tag_err(format!(
                "`{field}.key` `{key}` is repeated (keys must be unique)"
            )));
        }
        keys.push(key);
    }
    Ok(Value::Array(items.clone()))
}

/// An IP address (a full-length prefix) or a CIDR, normalised to its network address;
/// Huawei allows white space around it.
fn parse_prefix(text: &str) -> Option<IpNet> {
    rest::parse_prefix(text.trim())
}

/// `enterprise_project_id`: a uuid with hyphens or `0` (the default); a value of the wrong
/// type is `type_code`.
fn enterprise_project_id(
    map: &Map<String, Value>,
    path: &str,
    type_code: &'static str,
) -> Result<String, ApiError> {
    match Body::new(map, path, type_code).str("enterprise_project_id")? {
        None => Ok("0".to_owned()),
        Some(id) if id == "0" || is_uuid(id) => Ok(id.to_owned()),
        Some(id) => Err(ApiError::new(
            400,
            code::ENTERPRISE_PROJECT,
            format!("`{path}enterprise_project_id` `{id}` is invalid (a uuid with hyphens, or `0`)"),
        )),
    }
}

fn is_uuid(s: &str) -> bool {
    s.len() == 36
        && s.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn find_group<'a>(cloud: &'a Cloud, id: &str, field: &str) -> Result<&'a Group, ApiError> {
    cloud
        .group_by_id(id)
        .filter(|g| g.kind == GroupKind::Huawei)
        .ok_or_else(|| {
            ApiError::new(
                404,
                code::NOT_FOUND,
                format!("`{field}`: security group `{id}` does not exist"),
            )
        })
}

/// Checks `request.path` (when given) against the templates.
fn check_path(request: &Request, templates: &[&str]) -> Result<(), ApiError> {
    path_ids(request, templates).map(|_| ())
}

/// The `{...}` segments of `request.path` matched against the first template that fits, or
/// `None` when the request has no path.
fn path_ids(request: &Request, templates: &[&str]) -> Result<Option<Vec<String>>, ApiError> {
    let Some(path) = rest::request_path(request) else {
        return Ok(None);
    };
    match rest::match_templates(templates, path) {
        Some(ids) => Ok(Some(ids)),
        None => Err(ApiError::new(
            404,
            code::NO_SUCH_API,
            format!("path `{path}` does not match `{}`", templates[0]),
        )),
    }
}

// ---- deterministic ids and times ----

/// The tenant's project id: 32 lowercase hex digits, as Huawei shows it.
fn project_id(cloud: &Cloud) -> String {
    format!(
        "{:016x}{:016x}",
        cloud.id_bits(SALT_PROJECT, 0),
        cloud.id_bits(SALT_PROJECT, 1)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Options, Provider};

    fn cloud() -> Cloud {
        Cloud::new(Provider::Huawei, Options::default())
    }

    fn req(body: Value) -> Request {
        Request {
            body: Some(body),
            ..Request::default()
        }
    }

    fn create_group(cloud: &mut Cloud, name: &str) -> String {
        let r = cloud.call(
            "CreateSecurityGroup",
            &req(json!({"security_group": {"name": name}})),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        r.created.expect("group id")
    }

    /// A cloud with one group, `web`, and that group's id.
    fn cloud_with_group() -> (Cloud, String) {
        let mut c = cloud();
        let g = create_group(&mut c, "web");
        (c, g)
    }

    fn status_and_code(r: &Response) -> (u16, Option<&str>) {
        (r.status, r.body["error_code"].as_str())
    }

    fn add_rule(cloud: &mut Cloud, rule: Value) -> Response {
        cloud.call(
            "CreateSecurityGroupRule",
            &req(json!({ "security_group_rule": rule })),
        )
    }

    #[test]
    fn create_makes_the_four_default_rules_in_seed_order() {
        let mut c = cloud();
        let id = create_group(&mut c, "security_group_1");
        let g = c.group_by_id(&id).unwrap();
        let summary: Vec<(Direction, Option<Family>, &Remote)> = g
            .rules
            .iter()
            .map(|r| (r.direction, r.family, &r.remote))
            .collect();
        assert_eq!(
            summary,
            vec![
                (Direction::Ingress, Some(Family::V6), &Remote::Group(g.key)),
                (Direction::Egress, Some(Family::V6), &Remote::Any),
                (Direction::Egress, Some(Family::V4), &Remote::Any),
                (Direction::Ingress, Some(Family::V4), &Remote::Group(g.key)),
            ]
        );
        assert!(g
            .rules
            .iter()
            .all(|r| r.priority == 100 && r.action == Action::Allow));
        assert_eq!(g.rules[0].shown["remote_group_id"], json!(id));
    }

    #[test]
    fn dry_run_validates_and_creates_nothing() {
        let mut c = cloud();
        let r = c.call(
            "CreateSecurityGroup",
            &req(json!({"security_group": {"name": "a"}, "dry_run": true})),
        );
        assert_eq!(r.status, 202);
        assert_eq!(c.groups().count(), 0);
        let r = c.call(
            "CreateSecurityGroup",
            &req(json!({"security_group": {"name": "bad name"}, "dry_run": true})),
        );
        assert_eq!(status_and_code(&r), (400, Some("VPC.0601")));
    }

    #[test]
    fn multiport_parses_lists_and_rejects_overlap() {
        assert_eq!(
            parse_multiport("22,3389,80").unwrap(),
            vec![
                PortRange::single(22),
                PortRange::single(3389),
                PortRange::single(80)
            ]
        );
        assert_eq!(
            parse_multiport("1-30").unwrap(),
            vec![PortRange::new(1, 30).unwrap()]
        );
        assert!(parse_multiport("20-30,25").is_err());
        assert!(parse_multiport("0").is_err());
        assert!(parse_multiport("65536").is_err());
        assert!(parse_multiport("30-20").is_err());
        assert!(parse_multiport("22,,80").is_err());
        let many = (1..=21).map(|p| p.to_string()).collect::<Vec<_>>().join(",");
        assert!(parse_multiport(&many).is_err());
    }

    #[test]
    fn rule_defaults_and_priority_as_string() {
        let (mut c, g) = cloud_with_group();
        let r = add_rule(
            &mut c,
            json!({"security_group_id": g, "direction": "ingress", "protocol": "tcp", "multiport": "443"}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["security_group_rule"]["priority"], json!(100));
        assert_eq!(r.body["security_group_rule"]["action"], json!("allow"));
        assert_eq!(r.body["security_group_rule"]["ethertype"], json!("IPv4"));
        let r = add_rule(
            &mut c,
            json!({"security_group_id": g, "direction": "ingress", "protocol": "udp", "priority": "7"}),
        );
        assert_eq!(r.body["security_group_rule"]["priority"], json!(7));
        let rule = c.rule(crate::RuleRef {
            group: c.group_by_id(&g).unwrap().key,
            rule: c.group_by_id(&g).unwrap().rules[5].key,
        });
        assert_eq!(rule.map(|r| r.priority), Some(7));
    }

    #[test]
    fn duplicates_conflicts_and_quota_are_refused() {
        let (mut c, g) = cloud_with_group();
        let rule = json!({"security_group_id": g, "direction": "ingress", "protocol": "tcp", "multiport": "22", "remote_ip_prefix": "10.0.0.0/8"});
        assert_eq!(add_rule(&mut c, rule.clone()).status, 201);
        let again = add_rule(&mut c, rule.clone());
        assert_eq!(status_and_code(&again), (409, Some("VPC.0602")));
        // The opposite action at the same priority contradicts; at another it is accepted.
        let mut deny = rule.clone();
        deny["action"] = json!("deny");
        deny["priority"] = json!(100);
        assert_eq!(add_rule(&mut c, deny.clone()).status, 409);
        deny["priority"] = json!(1);
        assert_eq!(add_rule(&mut c, deny).status, 201);
        for port in 1..=44 {
            let r = add_rule(
                &mut c,
                json!({"security_group_id": g, "direction": "egress", "protocol": "tcp", "multiport": port.to_string()}),
            );
            assert_eq!(r.status, 201, "rule {port}: {}", r.body);
        }
        let r = add_rule(
            &mut c,
            json!({"security_group_id": g, "direction": "egress", "protocol": "tcp", "multiport": "999"}),
        );
        assert_eq!(status_and_code(&r), (409, Some("VPC.0602")));
        assert_eq!(c.group_by_id(&g).unwrap().rules.len(), 50);
    }

    #[test]
    fn family_and_remote_checks() {
        let (mut c, g) = cloud_with_group();
        for bad in [
            json!({"security_group_id": g, "direction": "ingress", "protocol": "icmp", "ethertype": "IPv6"}),
            json!({"security_group_id": g, "direction": "ingress", "protocol": "icmpv6"}),
            json!({"security_group_id": g, "direction": "ingress", "remote_ip_prefix": "2001:db8::/32"}),
            json!({"security_group_id": g, "direction": "ingress", "multiport": "80"}),
            json!({"security_group_id": g, "direction": "ingress", "protocol": "icmp", "multiport": "80"}),
            json!({"security_group_id": g, "direction": "ingress", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": g}),
            json!({"security_group_id": g, "direction": "ingress", "priority": 0}),
            json!({"security_group_id": g, "direction": "ingress", "port_range_min": 22}),
            json!({"security_group_id": g, "direction": "ingress", "description": "<b>"}),
        ] {
            let r = add_rule(&mut c, bad.clone());
            assert_eq!(status_and_code(&r), (400, Some("VPC.0601")), "{bad}");
        }
        let r = add_rule(
            &mut c,
            json!({"security_group_id": g, "direction": "ingress", "remote_group_id": "nope"}),
        );
        assert_eq!(status_and_code(&r), (404, Some("VPC.0603")));
        let r = add_rule(
            &mut c,
            json!({"security_group_id": g, "direction": "ingress", "remote_address_group_id": "nope"}),
        );
        assert_eq!(status_and_code(&r), (404, Some("VPC.9904")));
        assert_eq!(c.group_by_id(&g).unwrap().rules.len(), 4);
    }

    #[test]
    fn batch_is_all_or_nothing_and_defaults_priority_to_one() {
        let (mut c, g) = cloud_with_group();
        let path = format!("/v3/p/vpc/security-groups/{g}/security-group-rules/batch-create");
        let ok = Request {
            body: Some(json!({"security_group_rules": [
                {"direction": "ingress", "protocol": "tcp", "multiport": "80"},
                {"direction": "ingress", "protocol": "tcp", "multiport": "443"}
            ]})),
            path: Some(path.clone()),
            ..Request::default()
        };
        let r = c.call("BatchCreateSecurityGroupRules", &ok);
        assert_eq!(r.status, 201, "{}", r.body);
        assert_eq!(r.body["security_group_rules"][0]["priority"], json!(1));
        let bad = Request {
            body: Some(json!({"security_group_rules": [
                {"direction": "ingress", "protocol": "tcp", "multiport": "8080"},
                {"direction": "ingress", "protocol": "tcp", "multiport": "8080"}
            ]})),
            path: Some(path.clone()),
            ..Request::default()
        };
        assert_eq!(c.call("BatchCreateSecurityGroupRules", &bad).status, 409);
        assert_eq!(c.group_by_id(&g).unwrap().rules.len(), 6);
        let ignore = Request {
            body: Some(json!({"ignore_duplicate": true, "security_group_rules": [
                {"direction": "ingress", "protocol": "tcp", "multiport": "8080"},
                {"direction": "ingress", "protocol": "tcp", "multiport": "8080"}
            ]})),
            path: Some(path),
            ..Request::default()
        };
        assert_eq!(c.call("BatchCreateSecurityGroupRules", &ignore).status, 201);
        assert_eq!(c.group_by_id(&g).unwrap().rules.len(), 7);
    }

    #[test]
    fn delete_takes_the_id_from_the_path() {
        let (mut c, g) = cloud_with_group();
        let rule_id = c.group_by_id(&g).unwrap().rules[0].id.clone();
        let wrong = Request {
            path: Some(format!("/v3/p/vpc/security-group/{rule_id}")),
            ..Request::default()
        };
        assert_eq!(c.call("DeleteSecurityGroupRule", &wrong).status, 404);
        let right = Request {
            path: Some(format!("/v3/p/vpc/security-group-rules/{rule_id}")),
            ..Request::default()
        };
        assert_eq!(c.call("DeleteSecurityGroupRule", &right).status, 204);
        assert_eq!(c.group_by_id(&g).unwrap().rules.len(), 3);
        assert_eq!(c.call("DeleteSecurityGroupRule", &right).status, 404);
    }

    #[test]
    fn address_groups_hold_ranges_and_check_family() {
        let mut c = cloud();
        let r = c.call(
            "CreateAddressGroup",
            &req(json!({"address_group": {"name": "office", "ip_version": 4,
                "ip_set": ["192.168.3.2", "192.168.3.20-192.168.3.100", "192.168.5.0/24"]}})),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        let ag = c.address_group_by_id(r.created.as_deref().unwrap()).unwrap();
        assert!(ag.contains(&"192.168.3.50".parse().unwrap()));
        assert!(!ag.contains(&"192.168.3.101".parse().unwrap()));
        for bad in [
            json!({"address_group": {"name": "x", "ip_version": 4, "ip_set": ["2001:db8::1"]}}),
            json!({"address_group": {"name": "x", "ip_version": 4, "ip_set": ["10.0.0.9-10.0.0.1"]}}),
            json!({"address_group": {"name": "x", "ip_version": 4, "ip_set": ["10.0.0.1", "10.0.0.1"]}}),
            json!({"address_group": {"name": "x", "ip_version": 5}}),
        ] {
            let r = c.call("CreateAddressGroup", &req(bad.clone()));
            assert_eq!(status_and_code(&r), (400, Some("VPC.9901")), "{bad}");
        }
    }
}
