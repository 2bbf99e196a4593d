//! Huawei rules on the wire: `emit` writes a [`RuleDraft`] as a `security_group_rule`
//! (`CreateSecurityGroupRule`, `BatchCreateSecurityGroupRules`); the reading side is the
//! front end's `parse_rule`.

use serde_json::{json, Map, Value};

use crate::cloud::Request;
use crate::packet;
use crate::provider::draft::{RuleDraft, Target};
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
    ranges
        .iter()
        .map(|r| {
            if r.lo == r.hi {
                r.lo.to_string()
            } else {
                format!("{}-{}", r.lo, r.hi)
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// One rule object, without `security_group_id` (what a batch call's
/// `security_group_rules` items hold).
pub(crate) fn entry(d: &RuleDraft) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("direction".into(), json!(d.direction));
    m.insert("ethertype".into(), json!(d.family));
    if let Some(p) = d.protocol {
        m.insert("protocol".into(), json!(protocol_text(p)));
        if !d.dst_ports.is_empty() && !d.dst_ports.contains(&PortRange::ANY) {
            m.insert("multiport".into(), json!(multiport(&d.dst_ports)));
        }
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
    m
}

fn body(api: &'static str, body: Value) -> (&'static str, Request) {
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
    let mut rule = Map::new();
    rule.insert("security_group_id".into(), json!(target.group));
    rule.extend(entry(d));
    body(
        "CreateSecurityGroupRule",
        json!({ "security_group_rule": Value::Object(rule) }),
    )
}

/// The calls that add `rules`: one `BatchCreateSecurityGroupRules` when `batch` (and
/// there are rules), else one `CreateSecurityGroupRule` each.
pub(crate) fn emit_all(target: &Target, rules: &[RuleDraft], batch: bool) -> Vec<(&'static str, Request)> {
    if batch && !rules.is_empty() {
        let items: Vec<Value> = rules.iter().map(|d| Value::Object(entry(d))).collect();
        return vec![body(
            "BatchCreateSecurityGroupRules",
            json!({"security_group_id": target.group, "security_group_rules": items}),
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
