//! Huawei Cloud VPC v3 front end.
//!
//! The request bodies are the v3 API's own (`security_group`, `security_group_rule`,
//! `security_group_rules`, `address_group`), answers are shaped as the provider's
//! (`{request_id, security_group: {...}}`, errors `{request_id, error_code, error_msg}`).
//! H1, H2, H4 and Decisions 5, 7, 8 fix the behaviour:
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
//! - `DeleteSecurityGroup` is refused while a port is in the group; rules of other groups
//!   that reference it go with it. A port's groups change through the v3 insert/remove calls
//!   and the v1 `UpdatePort` (`ports.rs`), in the order that decides (Decision 5).
//!
//! A request may give the URL in `path`, checked against the API's URI template; without
//! one, the ids the URL would carry come from the body (`security_group_id` for
//! ShowSecurityGroup and BatchCreateSecurityGroupRules, `security_group_rule_id` for
//! DeleteSecurityGroupRule). The emulation is one tenant: any `project_id` is accepted.
//!
//! Error codes come from the VPC error-code page (H7, `错误码.md`). That page lists codes
//! for the v1-era wrapped APIs; the v3 reference only points to it. Where it names no code
//! for a case, the closest documented one is used and marked *unconfirmed* below.

mod address_groups;
mod codes;
mod groups;
mod ports;
pub(crate) mod rules;

use crate::profile::{known, Profile};
use address_groups::*;
use groups::*;
use ports::*;
use rules::*;

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::{json, Map, Value};

use crate::group::{AddressEntry, AddressGroup, AddressGroupKey, Group, GroupKind};
use crate::model::{EndpointError, Model};
use crate::provider::rest::{self, Body};
use crate::provider::{ApiError, CallContext};
use crate::request::{Request, Response};
use crate::rule::{Action, Direction, Family, IcmpMatch, Ports, Remote, Rule, RuleKey};

/// The API names this front end answers.
pub const APIS: &[&str] = &[
    "CreateSecurityGroup",
    "ShowSecurityGroup",
    "CreateSecurityGroupRule",
    "BatchCreateSecurityGroupRules",
    "DeleteSecurityGroupRule",
    "CreateAddressGroup",
    "DeleteSecurityGroup",
    "AddSecurityGroups",
    "RemoveSecurityGroups",
    "UpdatePort",
];

/// Salts of the deterministic ids.
const SALT_PROJECT: u64 = 1;
const SALT_REQUEST: u64 = 2;
const SALT_GROUP: u64 = 4;
const SALT_RULE: u64 = 6;
const SALT_ADDRESS_GROUP: u64 = 8;

/// Most items in one `multiport` (H2, H4c), from [`Profile::HUAWEI`].
const MULTIPORT_ITEMS: usize = known(Profile::HUAWEI.multiport_items);
/// Most rules in one batch create (BatchCreateSecurityGroupRules: "当前最多能传入200条规则").
const BATCH_RULES: usize = Profile::HUAWEI.rules_per_call;

/// The Huawei front end and its bookkeeping: the tenant's quotas (H4b, 2024 snapshot),
/// which no call changes.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Frontend {
    /// Security groups per account.
    group_quota: usize,
    /// Rules per group, the four default rules included.
    rule_quota: usize,
    /// Default `max_capacity` of an address group's `ip_set`.
    ip_set_capacity: u64,
}

impl Default for Frontend {
    fn default() -> Self {
        Frontend {
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

/// A call in progress on this front end.
pub(crate) type Cx<'c, 'm> = CallContext<'c, 'm, Frontend, ()>;

/// Answers one call: `Ok` for success only.
pub(crate) fn call(cloud: &mut Cx<'_, '_>, api: &str, request: &Request) -> Result<Response, Response> {
    let request_id = rest::request_id(cloud, SALT_REQUEST);
    let result = match api {
        "CreateSecurityGroup" => create_security_group(cloud, request, &request_id),
        "ShowSecurityGroup" => show_security_group(cloud, request, &request_id),
        "CreateSecurityGroupRule" => create_rule(cloud, request, &request_id),
        "BatchCreateSecurityGroupRules" => batch_create_rules(cloud, request, &request_id),
        "DeleteSecurityGroupRule" => delete_rule(cloud, request),
        "CreateAddressGroup" => create_address_group(cloud, request, &request_id),
        "DeleteSecurityGroup" => delete_security_group(cloud, request),
        "AddSecurityGroups" => add_security_groups(cloud, request, &request_id),
        "RemoveSecurityGroups" => remove_security_groups(cloud, request, &request_id),
        "UpdatePort" => update_port(cloud, request),
        other => Err(ApiError::new(
            404,
            codes::NO_SUCH_API,
            format!(
                "`{other}` is not a huawei vpc v3 api (known: {})",
                APIS.join(", ")
            ),
        )),
    };
    result.map_err(|e| Response {
        status: e.status,
        body: json!({"request_id": request_id, "error_code": e.code, "error_msg": e.message}),
        created: None,
    })
}

// ---- request helpers ----

fn param(message: String) -> ApiError {
    ApiError::new(400, codes::PARAM, message)
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
    let tag_err = |m: String| ApiError::new(400, codes::TAG, m);
    let items = match rest::field(map, "tags") {
        None => return Ok(json!([])),
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
        Body::new(tag, &format!("{field}."), codes::TAG).check_keys(&["key", "value"])?;
        let key = Body::new(tag, &format!("{field}."), codes::TAG)
            .str("key")?
            .unwrap_or_default();
        let value = Body::new(tag, &format!("{field}."), codes::TAG)
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
            codes::ENTERPRISE_PROJECT,
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

/// The Huawei group `id`; not found names the field `<path><key>` (written only then).
fn find_group<'a>(cloud: &'a Model, id: &str, (path, key): (&str, &str)) -> Result<&'a Group, ApiError> {
    cloud
        .group_by_id(id)
        .filter(|g| g.kind == GroupKind::Huawei)
        .ok_or_else(|| {
            ApiError::new(
                404,
                codes::NOT_FOUND,
                format!("`{path}{key}`: security group `{id}` does not exist"),
            )
        })
}

/// Checks `request.path` (when given) against the templates.
fn check_path(request: &Request, templates: &[&str]) -> Result<(), ApiError> {
    path_ids(request, templates).map(|_| ())
}

/// The `{...}` segments of `request.path` matched against the first template that fits, or
/// `None` when the request has no path.
fn path_ids<'r>(request: &'r Request, templates: &[&str]) -> Result<Option<rest::Ids<'r>>, ApiError> {
    let Some(path) = rest::request_path(request) else {
        return Ok(None);
    };
    match rest::match_templates(templates, path) {
        Some(ids) => Ok(Some(ids)),
        None => Err(ApiError::new(
            404,
            codes::NO_SUCH_API,
            format!("path `{path}` does not match `{}`", templates[0]),
        )),
    }
}

// ---- deterministic ids and times ----

/// The tenant's project id: 32 lowercase hex digits, as Huawei shows it.
fn project_id(cloud: &Model) -> String {
    // `{:016x}{:016x}`, digit by digit (every rule created shows it).
    let mut id = String::with_capacity(32);
    crate::ids::push_hex(&mut id, cloud.fixed_bits(SALT_PROJECT, 0), 16);
    crate::ids::push_hex(&mut id, cloud.fixed_bits(SALT_PROJECT, 1), 16);
    id
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Cloud;
    use crate::provider::{Options, Provider};
    use crate::rule::PortRange;

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

    /// A stored rule's print, from its fields borrowed (`rules::rule_print`), is the print
    /// of the spec it reads back as (what a new rule's check computes), whatever the rule:
    /// else a duplicate would go unnoticed.
    #[test]
    fn a_stored_rules_print_is_the_print_of_its_spec() {
        let (mut c, g) = cloud_with_group();
        let other = create_group(&mut c, "other");
        for rule in [
            json!({"direction": "ingress", "protocol": "tcp", "multiport": "443,22,1000-2000", "remote_ip_prefix": "10.0.0.0/8"}),
            json!({"direction": "ingress", "protocol": "udp", "remote_ip_prefix": "0.0.0.0/0", "priority": 5}),
            json!({"direction": "egress", "ethertype": "IPv6", "protocol": "tcp", "multiport": "80", "remote_group_id": other}),
            json!({"direction": "ingress", "protocol": "icmp", "action": "deny"}),
            json!({"direction": "egress", "ethertype": "IPv6", "protocol": "udp", "remote_ip_prefix": "::/0"}),
        ] {
            let mut rule = rule;
            rule["security_group_id"] = json!(g);
            let r = add_rule(&mut c, rule);
            assert_eq!(r.status, 201, "{}", r.body);
        }
        let group = c.group_by_id(&g).unwrap();
        for rule in &group.rules {
            let spec = rules::spec_of(rule).expect("reads back");
            assert_eq!(
                rules::rule_print(rule),
                Some(rules::spec_print(&spec)),
                "{}",
                rule.shown
            );
        }
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
