//! How answers name hops, rules and decisions, for people and as JSON.

use serde_json::{json, Value};

use super::ranges::Count;
use crate::cloud::Cloud;
use crate::decision::{Decision, Reason, RuleRef};
use crate::flow::Hop;
use crate::group::{EndpointKey, GroupKey};

/// The endpoint's name (or its key when unknown).
pub(crate) fn endpoint_name(cloud: &Cloud, e: EndpointKey) -> String {
    cloud
        .endpoint(e)
        .map(|e| e.name.clone())
        .unwrap_or_else(|| format!("endpoint#{}", e.get()))
}

/// The group's provider id.
pub(crate) fn group_id(cloud: &Cloud, g: GroupKey) -> String {
    cloud
        .group(g)
        .map(|g| g.id.clone())
        .unwrap_or_else(|| g.to_string())
}

/// The group for people: `id (name)` (see [`crate::flow::group_text`]).
pub(crate) fn group_text(cloud: &Cloud, g: GroupKey) -> String {
    crate::flow::group_text(cloud, g)
}

/// The group in a sentence: `` `id` (name) ``, or `` `id` `` when it has no name.
pub(crate) fn group_quoted(cloud: &Cloud, g: GroupKey) -> String {
    match cloud.group(g) {
        Some(group) => quoted(&group.id, &group.name),
        None => format!("`{g}`"),
    }
}

/// `` `id` (name) ``, or `` `id` `` when the name is empty.
pub(crate) fn quoted(id: &str, name: &str) -> String {
    if name.is_empty() {
        format!("`{id}`")
    } else {
        format!("`{id}` ({name})")
    }
}

/// The rule's provider id.
pub(crate) fn rule_id(cloud: &Cloud, r: RuleRef) -> String {
    cloud
        .rule(r)
        .map(|r| r.id.clone())
        .unwrap_or_else(|| r.rule.to_string())
}

/// `{"group", "rule", "shown"}`: a rule as the provider shows it.
pub(crate) fn rule_json(cloud: &Cloud, r: RuleRef) -> Value {
    json!({
        "group": group_id(cloud, r.group),
        "rule": rule_id(cloud, r),
        "shown": cloud.rule(r).map(|r| Value::clone(&r.shown)).unwrap_or(Value::Null),
    })
}

/// A rule in one line: its text and its group (id and name).
pub(crate) fn rule_text(cloud: &Cloud, r: RuleRef) -> String {
    match cloud.rule(r) {
        Some(rule) => {
            let mut s = format!(
                "{} in group {}",
                crate::flow::describe_rule(cloud, rule),
                group_text(cloud, r.group)
            );
            if !rule.description.is_empty() {
                s.push_str(&format!(" \"{}\"", rule.description));
            }
            s
        }
        None => format!("{} of {}", r.rule, group_text(cloud, r.group)),
    }
}

/// What decided, in words.
pub(crate) fn decision_text(cloud: &Cloud, d: &Decision) -> String {
    match d.reason {
        Reason::Rule(r) => format!("{} by rule {}", d.verdict, rule_text(cloud, r)),
        Reason::IntraGroup { group } => format!(
            "{} by the intra-group policy (InnerAccessPolicy=Accept) of {}",
            d.verdict,
            group_text(cloud, group)
        ),
        Reason::Default { fallback } => format!("{} by default ({fallback})", d.verdict),
        Reason::Established => format!("{} as an established connection", d.verdict),
        Reason::MixedFamily => format!("{}: addresses of two families", d.verdict),
    }
}

/// The decision's JSON fields: `verdict`, `by`, and `group`/`rule`/`rule_text`/`fallback`.
pub(crate) fn decision_json(cloud: &Cloud, d: &Decision) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("verdict".into(), json!(d.verdict));
    match d.reason {
        Reason::Rule(r) => {
            m.insert("by".into(), json!("rule"));
            m.insert("group".into(), json!(group_id(cloud, r.group)));
            m.insert("rule".into(), json!(rule_id(cloud, r)));
            if let Some(rule) = cloud.rule(r) {
                m.insert("rule_text".into(), json!(crate::flow::describe_rule(cloud, rule)));
            }
        }
        Reason::IntraGroup { group } => {
            m.insert("by".into(), json!("intra_group"));
            m.insert("group".into(), json!(group_id(cloud, group)));
        }
        Reason::Default { fallback } => {
            m.insert("by".into(), json!("default"));
            m.insert("fallback".into(), json!(fallback));
        }
        Reason::Established => {
            m.insert("by".into(), json!("established"));
        }
        Reason::MixedFamily => {
            m.insert("by".into(), json!("mixed_family"));
        }
    }
    m
}

/// `{"endpoint", "direction", "verdict", "by", ...}`.
pub(crate) fn hop_json(cloud: &Cloud, h: &Hop) -> Value {
    let mut m = serde_json::Map::new();
    m.insert("endpoint".into(), json!(endpoint_name(cloud, h.endpoint)));
    m.insert("direction".into(), json!(h.direction));
    m.extend(decision_json(cloud, &h.decision));
    Value::Object(m)
}

/// `egress at vm-a: allow by rule ...`.
pub(crate) fn hop_text(cloud: &Cloud, h: &Hop) -> String {
    format!(
        "{} at {}: {}",
        h.direction,
        endpoint_name(cloud, h.endpoint),
        decision_text(cloud, &h.decision)
    )
}

/// A count as JSON: a number when it fits in 64 bits, else a decimal string.
pub(crate) fn count_json(n: Count) -> Value {
    // Protocol, port and ICMP counts are small: JSON numbers. Address counts go out as
    // decimal strings (see `Exposure`), since 2^128 fits no JSON number a reader trusts.
    match n.get().and_then(|v| u64::try_from(v).ok()) {
        Some(v) => json!(v),
        None => json!(n.to_string()),
    }
}
