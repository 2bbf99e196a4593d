//! The query tuple: what a packet looks like to a security group.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::rule::Family;

/// IANA protocol number of ICMP (IPv4).
pub const ICMP: u8 = 1;
/// IANA protocol number of TCP.
pub const TCP: u8 = 6;
/// IANA protocol number of UDP.
pub const UDP: u8 = 17;
/// IANA protocol number of GRE.
pub const GRE: u8 = 47;
/// IANA protocol number of ICMPv6.
pub const ICMPV6: u8 = 58;

/// Protocol names every front end and the CLI accept, with their IANA numbers
/// (provider-semantics.md section 5, OpenStack N3, `/etc/protocols` aliases).
pub const PROTOCOL_NAMES: &[(&str, u8)] = &[
    ("icmp", 1),
    ("igmp", 2),
    ("ipip", 4),
    ("ipencap", 4),
    ("tcp", 6),
    ("egp", 8),
    ("udp", 17),
    ("dccp", 33),
    ("ipv6-encap", 41),
    ("ipv6-route", 43),
    ("ipv6-frag", 44),
    ("rsvp", 46),
    ("gre", 47),
    ("esp", 50),
    ("ah", 51),
    ("icmpv6", 58),
    ("ipv6-icmp", 58),
    ("ipv6-nonxt", 59),
    ("ipv6-opts", 60),
    ("ospf", 89),
    ("vrrp", 112),
    ("pgm", 113),
    ("sctp", 132),
    ("udplite", 136),
];

/// Parses a protocol given by name (case-insensitive) or by number `0..=255`.
///
/// Returns `None` for anything else.
pub fn protocol_number(text: &str) -> Option<u8> {
    let lower = text.trim().to_ascii_lowercase();
    PROTOCOL_NAMES
        .iter()
        .find(|(name, _)| *name == lower)
        .map(|&(_, n)| n)
        .or_else(|| lower.parse::<u8>().ok())
}

/// The usual name of an IANA protocol number, if it has one.
pub fn protocol_name(number: u8) -> Option<&'static str> {
    PROTOCOL_NAMES
        .iter()
        .find(|&&(_, n)| n == number)
        .map(|&(name, _)| name)
}

/// Whether a packet starts a connection or belongs to one already allowed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnState {
    /// The first packet of a flow: the rules decide.
    #[default]
    New,
    /// A reply or later packet of an allowed connection: every provider is stateful
    /// and lets it through without consulting rules (Decision 2).
    Established,
}

/// A packet as a security group sees it.
///
/// Ports are meaningful for port-bearing protocols (TCP, UDP, SCTP, ...); the ICMP type and
/// code for ICMP and ICMPv6. Fields that do not apply are ignored by every engine
/// only where the provider ignores them; keep them at zero otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Packet {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IANA protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...).
    pub protocol: u8,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// ICMP type (ICMP and ICMPv6 only).
    pub icmp_type: u8,
    /// ICMP code (ICMP and ICMPv6 only).
    pub icmp_code: u8,
    /// Connection state.
    pub state: ConnState,
}

impl Packet {
    /// A new-connection packet with zero ports and ICMP fields.
    pub fn new(src: IpAddr, dst: IpAddr, protocol: u8) -> Packet {
        Packet {
            src,
            dst,
            protocol,
            src_port: 0,
            dst_port: 0,
            icmp_type: 0,
            icmp_code: 0,
            state: ConnState::New,
        }
    }

    /// A TCP packet to `dst_port` from an ephemeral source port.
    pub fn tcp(src: IpAddr, dst: IpAddr, dst_port: u16) -> Packet {
        Packet {
            src_port: 49152,
            dst_port,
            ..Packet::new(src, dst, TCP)
        }
    }

    /// A UDP packet to `dst_port` from an ephemeral source port.
    pub fn udp(src: IpAddr, dst: IpAddr, dst_port: u16) -> Packet {
        Packet {
            src_port: 49152,
            dst_port,
            ..Packet::new(src, dst, UDP)
        }
    }

    /// Returns the packet with the given source port.
    pub fn with_src_port(mut self, port: u16) -> Packet {
        self.src_port = port;
        self
    }

    /// Returns the packet with the given ICMP type and code.
    pub fn with_icmp(mut self, icmp_type: u8, icmp_code: u8) -> Packet {
        self.icmp_type = icmp_type;
        self.icmp_code = icmp_code;
        self
    }

    /// Returns the packet with the given connection state.
    pub fn with_state(mut self, state: ConnState) -> Packet {
        self.state = state;
        self
    }

    /// The address family, or `None` when source and destination differ in family
    /// (such a packet cannot exist; every engine denies it).
    pub fn family(&self) -> Option<Family> {
        match (self.src, self.dst) {
            (IpAddr::V4(_), IpAddr::V4(_)) => Some(Family::V4),
            (IpAddr::V6(_), IpAddr::V6(_)) => Some(Family::V6),
            _ => None,
        }
    }

    /// Whether the protocol is ICMP or ICMPv6.
    pub fn is_icmp(&self) -> bool {
        self.protocol == ICMP || self.protocol == ICMPV6
    }
}

impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = protocol_name(self.protocol)
            .map(str::to_owned)
            .unwrap_or_else(|| self.protocol.to_string());
        if self.is_icmp() {
            write!(
                f,
                "{} {} -> {} type {} code {}",
                proto, self.src, self.dst, self.icmp_type, self.icmp_code
            )?;
        } else {
            write!(
                f,
                "{} {}:{} -> {}:{}",
                proto, self.src, self.src_port, self.dst, self.dst_port
            )?;
        }
        if self.state == ConnState::Established {
            f.write_str(" (established)")?;
        }
        Ok(())
    }
}

/// A protocol named on the command line or in a request: a name or a number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ProtocolArg(pub u8);

impl FromStr for ProtocolArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        protocol_number(s)
            .map(ProtocolArg)
            .ok_or_else(|| format!("unknown protocol `{s}` (a name such as tcp, or a number 0-255)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_names_and_numbers_parse() {
        assert_eq!(protocol_number("TCP"), Some(6));
        assert_eq!(protocol_number("ipv6-icmp"), Some(58));
        assert_eq!(protocol_number("132"), Some(132));
        assert_eq!(protocol_number("256"), None);
        assert_eq!(protocol_number("bogus"), None);
    }

    #[test]
    fn mixed_family_packet_has_no_family() {
        let p = Packet::tcp("10.0.0.1".parse().unwrap(), "::1".parse().unwrap(), 22);
        assert_eq!(p.family(), None);
    }
}
