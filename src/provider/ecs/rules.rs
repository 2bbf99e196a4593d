//! ECS rules on the wire: `emit` writes a [`RuleDraft`] as a `Permissions.N` entry of
//! `AuthorizeSecurityGroup[Egress]` (the reading side is the front end's
//! `parse_permission`).

use serde_json::{json, Map, Value};

use crate::cloud::Request;
use crate::provider::alibaba::rules::{cidr_field, group_field, ports_text, proto_of, src_ports_text};
use crate::provider::draft::{RuleDraft, Target};
use crate::rule::{Direction, Family};

/// The region a call names when the target gives none.
const DEFAULT_REGION: &str = "cn-hangzhou";

/// Rules one `AuthorizeSecurityGroup` call takes (A6).
const PER_CALL: usize = 100;

/// One `Permissions.N` entry (the direction is the API's, not a field).
pub(crate) fn entry(d: &RuleDraft) -> Map<String, Value> {
    let proto = proto_of(d.protocol);
    let mut m = Map::new();
    m.insert("IpProtocol".into(), json!(proto.upper()));
    m.insert("PortRange".into(), json!(ports_text(proto, &d.dst_ports)));
    if let Some(s) = src_ports_text(proto, d) {
        m.insert("SourcePortRange".into(), json!(s));
    }
    if let Some(net) = d.remote_cidr {
        m.insert(
            cidr_field(d.direction, true, Family::of_net(&net)).into(),
            json!(net.to_string()),
        );
    }
    if let Some(g) = &d.remote_group {
        m.insert(group_field(d.direction).into(), json!(g));
    }
    if let Some(net) = d.local {
        m.insert(
            cidr_field(d.direction, false, Family::of_net(&net)).into(),
            json!(net.to_string()),
        );
    }
    m.insert("Policy".into(), json!(d.policy_lower()));
    m.insert("Priority".into(), json!(d.priority.to_string()));
    if !d.description.is_empty() {
        m.insert("Description".into(), json!(d.description));
    }
    m
}

fn authorize_api(direction: Direction) -> &'static str {
    match direction {
        Direction::Ingress => "AuthorizeSecurityGroup",
        Direction::Egress => "AuthorizeSecurityGroupEgress",
    }
}

fn call(target: &Target, api: &'static str, key: &str, value: Value) -> (&'static str, Request) {
    let region = target.region.as_deref().unwrap_or(DEFAULT_REGION);
    let params = json!({"RegionId": region, "SecurityGroupId": target.group, key: value});
    (
        api,
        Request {
            params: Some(params),
            ..Request::default()
        },
    )
}

/// The call that adds one rule: `AuthorizeSecurityGroup[Egress]` with one permission.
pub(crate) fn emit(target: &Target, d: &RuleDraft) -> (&'static str, Request) {
    call(
        target,
        authorize_api(d.direction),
        "Permissions",
        json!([Value::Object(entry(d))]),
    )
}

/// The calls that add `rules`: ingress then egress, up to 100 permissions a call.
pub(crate) fn emit_all(target: &Target, rules: &[RuleDraft]) -> Vec<(&'static str, Request)> {
    let mut out = Vec::new();
    for direction in Direction::ALL {
        let perms: Vec<Value> = rules
            .iter()
            .filter(|d| d.direction == direction)
            .map(|d| Value::Object(entry(d)))
            .collect();
        for part in perms.chunks(PER_CALL) {
            out.push(call(
                target,
                authorize_api(direction),
                "Permissions",
                Value::Array(part.to_vec()),
            ));
        }
    }
    out
}

/// The call that removes the rule `rule_id` of `direction`: `RevokeSecurityGroup[Egress]`
/// by `SecurityGroupRuleId`.
pub(crate) fn emit_remove(target: &Target, direction: Direction, rule_id: &str) -> (&'static str, Request) {
    let api = match direction {
        Direction::Ingress => "RevokeSecurityGroup",
        Direction::Egress => "RevokeSecurityGroupEgress",
    };
    call(target, api, "SecurityGroupRuleId", json!([rule_id]))
}
