//! What ECS and ENS share when they write a rule: protocol names, `PortRange` text and the
//! CIDR field names (the reading side is in the parent module: [`super::Proto`],
//! [`super::port_range`], [`super::cidr`]).

use serde_json::{Map, Value};

use crate::packet;
use crate::provider::draft::RuleDraft;
use crate::rule::{Direction, Family, PortRange};

use super::Proto;

/// The `IpProtocol` of a protocol number (`ALL` for every protocol and for a number the
/// products cannot name).
pub(crate) fn proto_of(protocol: Option<u8>) -> Proto {
    match protocol {
        Some(packet::TCP) => Proto::Tcp,
        Some(packet::UDP) => Proto::Udp,
        Some(packet::ICMP) => Proto::Icmp,
        Some(packet::ICMPV6) => Proto::Icmpv6,
        Some(packet::GRE) => Proto::Gre,
        _ => Proto::All,
    }
}

/// `a/b` of the first range (`1/65535` for every port) for TCP and UDP, `-1/-1` otherwise.
pub(crate) fn ports_text(proto: Proto, ranges: &[PortRange]) -> String {
    match ranges.first() {
        Some(r) if proto.has_ports() => super::range_text(*r),
        None if proto.has_ports() => "1/65535".into(),
        _ => "-1/-1".into(),
    }
}

/// The `SourcePortRange` of a draft, for TCP and UDP only.
pub(crate) fn src_ports_text(proto: Proto, draft: &RuleDraft) -> Option<String> {
    draft
        .src_ports
        .filter(|_| proto.has_ports())
        .map(super::range_text)
}

/// The CIDR field of a rule's remote (`true`) or local (`false`) side in `family`:
/// `SourceCidrIp`, `Ipv6DestCidrIp`, ...
pub(crate) fn cidr_field(direction: Direction, remote: bool, family: Family) -> &'static str {
    let source = (direction == Direction::Ingress) == remote;
    match (source, family) {
        (true, Family::V4) => "SourceCidrIp",
        (true, Family::V6) => "Ipv6SourceCidrIp",
        (false, Family::V4) => "DestCidrIp",
        (false, Family::V6) => "Ipv6DestCidrIp",
    }
}

/// The group field of a rule's remote: `SourceGroupId` (ingress) or `DestGroupId`.
pub(crate) fn group_field(direction: Direction) -> &'static str {
    match direction {
        Direction::Ingress => "SourceGroupId",
        Direction::Egress => "DestGroupId",
    }
}

/// Writes what a rule matches on as both products name it: `IpProtocol` (uppercase),
/// `PortRange`, `SourcePortRange`, the remote CIDR or group and the local CIDR.
pub(crate) fn match_fields(m: &mut Map<String, Value>, d: &RuleDraft) {
    let proto = proto_of(d.protocol);
    // The texts moved in (`json!` would serialize each into a copy).
    m.insert("IpProtocol".into(), proto.upper().into());
    m.insert("PortRange".into(), Value::String(ports_text(proto, &d.dst_ports)));
    if let Some(s) = src_ports_text(proto, d) {
        m.insert("SourcePortRange".into(), Value::String(s));
    }
    if let Some(net) = d.remote_cidr {
        m.insert(
            cidr_field(d.direction, true, Family::of_net(&net)).into(),
            Value::String(crate::provider::cidr_text(&net)),
        );
    }
    if let Some(g) = &d.remote_group {
        m.insert(group_field(d.direction).into(), g.as_str().into());
    }
    if let Some(net) = d.local {
        m.insert(
            cidr_field(d.direction, false, Family::of_net(&net)).into(),
            Value::String(crate::provider::cidr_text(&net)),
        );
    }
}
