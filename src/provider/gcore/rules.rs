//! Gcore rules on the wire: `emit` writes a [`RuleDraft`] as a rule body
//! (`CreateSecurityGroupRule`, the `rules` items of `CreateSecurityGroup`); the reading
//! side is the front end's `parse_rule`.

use serde_json::{json, Map, Value};

use crate::cloud::Request;
use crate::packet;
use crate::provider::draft::{RuleDraft, Target};

use super::{PORT_PROTOCOLS, PROTOCOL_NAMES};

/// The project and region a path names when the target gives none.
const DEFAULT_TENANT: &str = "1";

/// The name the API takes for a protocol number (G2), without the aliases `icmpv6` and
/// `ipencap` (written as `ipv6-icmp` and `ipip`).
pub(crate) fn protocol_name(p: u8) -> Option<&'static str> {
    PROTOCOL_NAMES
        .iter()
        .find(|&&(name, n)| n == p && name != "icmpv6" && name != "ipencap")
        .map(|&(name, _)| name)
}

/// One rule body (without the group, which the path names).
pub(crate) fn entry(d: &RuleDraft) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("direction".into(), json!(d.direction));
    m.insert("ethertype".into(), json!(d.family));
    if let Some(p) = d.protocol {
        match protocol_name(p) {
            Some(name) => m.insert("protocol".into(), json!(name)),
            None => m.insert("protocol".into(), json!(p.to_string())),
        };
    }
    let icmp = matches!(d.protocol, Some(packet::ICMP | packet::ICMPV6));
    // ICMP type and code ride in the port fields (Neutron).
    let (min, max) = match (d.protocol, d.icmp.icmp_type) {
        (_, Some(t)) if icmp => (Some(u16::from(t)), d.icmp.icmp_code.map(u16::from)),
        (Some(p), _) if PORT_PROTOCOLS.contains(&p) => match d.dst_ports.first() {
            Some(r) => (Some(r.lo), Some(r.hi)),
            None => (None, None),
        },
        _ => (None, None),
    };
    if let Some(min) = min {
        m.insert("port_range_min".into(), json!(min));
    }
    if let Some(max) = max {
        m.insert("port_range_max".into(), json!(max));
    }
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
