//! ENS rules on the wire: `entry` writes a [`RuleDraft`] as a `CreateSecurityGroup`
//! `Permissions.N` entry, `emit` as an older single-rule call (E3); the reading side is
//! the front end's `parse_permission` in the same two styles.

use ipnet::IpNet;
use serde_json::{json, Map, Value};

use crate::cloud::Request;
use crate::provider::alibaba::rules::{cidr_field, ports_text, proto_of, src_ports_text};
use crate::provider::alibaba::Proto;
use crate::provider::draft::{RuleDraft, Target};
use crate::rule::{Action, Direction, Family};

/// One `CreateSecurityGroup` `Permissions.N` entry (uppercase protocol, `Accept`/`Drop`,
/// the rule's own `Direction`).
pub(crate) fn entry(d: &RuleDraft) -> Map<String, Value> {
    let proto = proto_of(d.protocol);
    let mut m = Map::new();
    m.insert("Direction".into(), json!(d.direction.to_string()));
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
    if let Some(net) = d.local {
        m.insert(
            cidr_field(d.direction, false, Family::of_net(&net)).into(),
            json!(net.to_string()),
        );
    }
    let policy = match d.action {
        Action::Allow => "Accept",
        Action::Deny => "Drop",
    };
    m.insert("Policy".into(), json!(policy));
    m.insert("Priority".into(), json!(d.priority));
    if !d.description.is_empty() {
        m.insert("Description".into(), json!(d.description));
    }
    m
}

/// The older single-rule call (`AuthorizeSecurityGroup[Egress]`, or with `revoke`
/// `RevokeSecurityGroup[Egress]`, E3): lowercase protocol and policy, the remote as an
/// IPv4 `SourceCidrIp` (ingress) or `DestCidrIp` (egress). `None` for what those calls
/// cannot say: no IPv4 remote prefix, a remote group, a local prefix, ICMPv6 or a
/// protocol they do not name. They take no description.
pub(crate) fn emit_legacy(target: &Target, d: &RuleDraft, revoke: bool) -> Option<(&'static str, Request)> {
    let net = match d.remote_cidr {
        Some(n @ IpNet::V4(_)) => n,
        _ => return None,
    };
    let proto = proto_of(d.protocol);
    let named = d.protocol.is_none() || proto != Proto::All;
    if d.local.is_some() || d.remote_group.is_some() || proto == Proto::Icmpv6 || !named {
        return None;
    }
    let api = match (revoke, d.direction) {
        (false, Direction::Ingress) => "AuthorizeSecurityGroup",
        (false, Direction::Egress) => "AuthorizeSecurityGroupEgress",
        (true, Direction::Ingress) => "RevokeSecurityGroup",
        (true, Direction::Egress) => "RevokeSecurityGroupEgress",
    };
    let mut m = Map::new();
    m.insert("SecurityGroupId".into(), json!(target.group));
    m.insert("IpProtocol".into(), json!(proto.lower()));
    m.insert("PortRange".into(), json!(ports_text(proto, &d.dst_ports)));
    if let Some(s) = src_ports_text(proto, d) {
        m.insert("SourcePortRange".into(), json!(s));
    }
    m.insert(
        cidr_field(d.direction, true, Family::V4).into(),
        json!(net.to_string()),
    );
    m.insert("Policy".into(), json!(d.policy_lower()));
    m.insert("Priority".into(), json!(d.priority));
    Some((
        api,
        Request {
            params: Some(Value::Object(m)),
            ..Request::default()
        },
    ))
}

/// The call that adds one rule: the older single-rule call.
pub(crate) fn emit(target: &Target, d: &RuleDraft) -> Option<(&'static str, Request)> {
    emit_legacy(target, d, false)
}
