//! Rules in a provider-neutral vocabulary.
//!
//! Each provider front end validates its own request shape and lowers it to [`Rule`]; the
//! rule keeps the provider's id, priority and the provider's own view of it
//! ([`Rule::shown`]) so answers can name it the way the provider does.

use std::fmt;
use std::sync::Arc;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

pub use crate::action::Action;
pub use crate::direction::Direction;
pub use crate::family::Family;
pub use crate::key::RuleKey;
use crate::key::{AddressGroupKey, GroupKey};

// One port range type for rules and the classifier entries they compile to.
pub use sgeval_classifier::PortRange;

/// A set of port ranges (Huawei `multiport` lists several); a port matches when any range
/// holds it. [`Ports::any`] holds every port.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Ports(pub SmallVec<[PortRange; 2]>);

impl Ports {
    /// Every port.
    pub fn any() -> Ports {
        Ports(SmallVec::from_slice(&[PortRange::ANY]))
    }

    /// One range.
    pub fn range(range: PortRange) -> Ports {
        Ports(SmallVec::from_slice(&[range]))
    }

    /// Whether `port` is in the set.
    pub fn contains(&self, port: u16) -> bool {
        self.0.iter().any(|r| r.contains(port))
    }

    /// Whether the set holds every port.
    pub fn is_any(&self) -> bool {
        self.0.contains(&PortRange::ANY)
    }
}

impl Default for Ports {
    fn default() -> Self {
        Ports::any()
    }
}

impl fmt::Display for Ports {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_any() {
            return f.write_str("any");
        }
        for (i, r) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{r}")?;
        }
        Ok(())
    }
}

/// ICMP type and code filter (Gcore/Neutron only: `port_range_min`/`max` carry them).
/// `None` matches every value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IcmpMatch {
    /// ICMP type, or every type.
    pub icmp_type: Option<u8>,
    /// ICMP code, or every code (a code is only given together with a type).
    pub icmp_code: Option<u8>,
}

impl IcmpMatch {
    /// Matches every ICMP type and code.
    pub const ANY: IcmpMatch = IcmpMatch {
        icmp_type: None,
        icmp_code: None,
    };

    /// Whether a packet's ICMP type and code match.
    pub fn matches(&self, icmp_type: u8, icmp_code: u8) -> bool {
        self.icmp_type.is_none_or(|t| t == icmp_type) && self.icmp_code.is_none_or(|c| c == icmp_code)
    }
}

/// The far side of a rule: the packet's source on ingress, its destination on egress.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Remote {
    /// Every address of the rule's family.
    Any,
    /// Addresses in a prefix.
    Cidr(IpNet),
    /// The private addresses of the endpoints that are members of a group.
    Group(GroupKey),
    /// The entries of a (Huawei) address group.
    AddressGroup(AddressGroupKey),
}

/// A security group rule, lowered from a provider request.
///
/// Matching (the same for every provider, see SEMANTICS.md): the direction equals the hop's
/// direction; the family (when set) equals the packet's; the protocol (when set) equals the
/// packet's; the destination port is in `dst_ports` and the source port in `src_ports`
/// (ports are compared for every protocol: front ends store [`Ports::any`] where a provider
/// does not filter); ICMP type/code match `icmp` for ICMP packets; the remote address is in
/// `remote`; the endpoint's own address is in `local` when set.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// Stable internal key, unique in the cloud, never reused.
    pub key: RuleKey,
    /// The id the provider shows (generated deterministically).
    pub id: String,
    /// Direction the rule applies to.
    pub direction: Direction,
    /// Address family, or `None` when the rule names no address and so takes the family of
    /// the group members it refers to (an ECS `SourceGroupId` rule).
    pub family: Option<Family>,
    /// IANA protocol number ([`crate::Protocol`]), or `None` for every protocol.
    pub protocol: Option<u8>,
    /// Destination ports of the packet (the endpoint's port on ingress, the remote's on egress).
    pub dst_ports: Ports,
    /// Source ports of the packet.
    pub src_ports: Ports,
    /// ICMP type/code filter, applied to ICMP and ICMPv6 packets only.
    pub icmp: IcmpMatch,
    /// The remote side.
    pub remote: Remote,
    /// ECS quintuple rules: the endpoint's own address must be in this prefix
    /// (`DestCidrIp` on ingress, `SourceCidrIp` on egress).
    pub local: Option<IpNet>,
    /// What the rule does when it matches.
    pub action: Action,
    /// 1 (first) ..= 100 (last); Gcore rules have none and carry 0.
    pub priority: u8,
    /// Disabled rules (Huawei `enabled: false`) never match.
    pub enabled: bool,
    /// The rule's description as given.
    pub description: String,
    /// The rule as the provider shows it in its answers (field names and values of the
    /// provider's API). Shared: a copy of the rule (into the next state of a
    /// [`crate::live::Live`] cloud) copies a pointer, not a map of a dozen keys.
    pub shown: Arc<serde_json::Value>,
}

impl Rule {
    /// Whether `other` matches what this rule matches by the fields the front ends compare
    /// rules by: direction, family, protocol, destination and source ports, remote and
    /// local prefix (not the ICMP filter, action, priority or state).
    pub(crate) fn same_traffic(&self, other: &Rule) -> bool {
        self.direction == other.direction
            && self.family == other.family
            && self.protocol == other.protocol
            && self.dst_ports == other.dst_ports
            && self.src_ports == other.src_ports
            && self.remote == other.remote
            && self.local == other.local
    }

    /// Whether the rule's protocol, ports, ICMP and family fields match a packet. The remote
    /// and local addresses are checked by the engines, which know group members.
    pub fn matches_header(&self, packet: &crate::Packet) -> bool {
        self.family.is_none_or(|f| Some(f) == packet.family())
            && self.protocol.is_none_or(|p| p == packet.protocol)
            && self.dst_ports.contains(packet.dst_port)
            && self.src_ports.contains(packet.src_port)
            && (!packet.is_icmp() || self.icmp.matches(packet.icmp_type, packet.icmp_code))
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.id, self.direction, self.action)?;
        if self.priority > 0 {
            write!(f, " priority {}", self.priority)?;
        }
        match self.protocol {
            None => f.write_str(" all protocols")?,
            Some(p) => match crate::Protocol(p).name() {
                Some(name) => write!(f, " {name}")?,
                None => write!(f, " protocol {p}")?,
            },
        }
        if !self.dst_ports.is_any() {
            write!(f, " port {}", self.dst_ports)?;
        }
        if !self.src_ports.is_any() {
            write!(f, " source port {}", self.src_ports)?;
        }
        if let Some(t) = self.icmp.icmp_type {
            write!(f, " icmp type {t}")?;
            if let Some(c) = self.icmp.icmp_code {
                write!(f, " code {c}")?;
            }
        }
        let side = match self.direction {
            Direction::Ingress => "from",
            Direction::Egress => "to",
        };
        match &self.remote {
            Remote::Any => match self.family {
                Some(fam) => write!(f, " {side} any {fam}")?,
                None => write!(f, " {side} any")?,
            },
            Remote::Cidr(net) => write!(f, " {side} {net}")?,
            Remote::Group(g) => write!(f, " {side} members of {g}")?,
            Remote::AddressGroup(a) => write!(f, " {side} address group {a}")?,
        }
        if let Some(local) = &self.local {
            write!(f, " (local {local})")?;
        }
        Ok(())
    }
}
