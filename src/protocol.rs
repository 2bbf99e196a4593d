//! IP protocols: IANA numbers, the names every front end and the CLI accept, and what a
//! protocol's packets carry (ports, ICMP type and code).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::family::Family;

/// An IP protocol, by its IANA number. Every number `0..=255` is a protocol; the well-known
/// ones have names ([`Protocol::NAMES`]).
///
/// [`crate::Packet::protocol`] and [`crate::Rule::protocol`] hold the bare number (the hot
/// path compares bytes); `Protocol` wraps one to name it, parse it or ask about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Protocol(pub u8);

impl Protocol {
    /// ICMP (IPv4), 1.
    pub const ICMP: Protocol = Protocol(1);
    /// TCP, 6.
    pub const TCP: Protocol = Protocol(6);
    /// UDP, 17.
    pub const UDP: Protocol = Protocol(17);
    /// DCCP, 33.
    pub const DCCP: Protocol = Protocol(33);
    /// GRE, 47.
    pub const GRE: Protocol = Protocol(47);
    /// ICMPv6, 58.
    pub const ICMPV6: Protocol = Protocol(58);
    /// SCTP, 132.
    pub const SCTP: Protocol = Protocol(132);
    /// UDP-Lite, 136.
    pub const UDPLITE: Protocol = Protocol(136);

    /// Protocol names every front end and the CLI accept, with their IANA numbers
    /// (OpenStack Neutron's names, N1, and `/etc/protocols` aliases). A number's first
    /// name is its usual one.
    pub const NAMES: &'static [(&'static str, u8)] = &[
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

    /// The protocol with a name of [`Protocol::NAMES`], ignoring ASCII case.
    pub fn from_name(name: &str) -> Option<Protocol> {
        Protocol::NAMES
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|&(_, number)| Protocol(number))
    }

    /// The usual name of the protocol, if it has one.
    pub fn name(self) -> Option<&'static str> {
        Protocol::NAMES
            .iter()
            .find(|&&(_, n)| n == self.0)
            .map(|&(name, _)| name)
    }

    /// Whether the protocol's packets carry ports: TCP, UDP, DCCP, SCTP, UDP-Lite (Neutron's
    /// `SG_PORT_PROTO_NAMES`).
    #[inline]
    pub const fn has_ports(self) -> bool {
        matches!(
            self,
            Protocol::TCP | Protocol::UDP | Protocol::DCCP | Protocol::SCTP | Protocol::UDPLITE
        )
    }

    /// Whether the protocol's packets carry an ICMP type and code: ICMP or ICMPv6.
    #[inline]
    pub const fn is_icmp(self) -> bool {
        matches!(self, Protocol::ICMP | Protocol::ICMPV6)
    }

    /// The ICMP of a family: ICMP over IPv4, ICMPv6 over IPv6.
    pub const fn icmp_of(family: Family) -> Protocol {
        match family {
            Family::V4 => Protocol::ICMP,
            Family::V6 => Protocol::ICMPV6,
        }
    }

    /// The one family the protocol exists in, if it is tied to one: ICMP is IPv4's; the
    /// IPv6 extension headers and ICMPv6 (ipv6-encap, ipv6-route, ipv6-frag, ipv6-icmp,
    /// ipv6-nonxt, ipv6-opts: Neutron's `_validate_ethertype_and_protocol`) are IPv6's.
    pub const fn family(self) -> Option<Family> {
        match self.0 {
            1 => Some(Family::V4),
            41 | 43 | 44 | 58 | 59 | 60 => Some(Family::V6),
            _ => None,
        }
    }
}

impl From<Protocol> for u8 {
    fn from(p: Protocol) -> u8 {
        p.0
    }
}

impl fmt::Display for Protocol {
    /// The usual name, or the number.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => f.write_str(name),
            None => write!(f, "{}", self.0),
        }
    }
}

impl FromStr for Protocol {
    type Err = String;

    /// A name of [`Protocol::NAMES`] (any ASCII case) or a number `0..=255`, blanks around
    /// it ignored.
    fn from_str(s: &str) -> Result<Protocol, String> {
        let text = s.trim();
        Protocol::from_name(text)
            .or_else(|| text.parse::<u8>().ok().map(Protocol))
            .ok_or_else(|| format!("unknown protocol `{s}` (a name such as tcp, or a number 0-255)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_numbers_parse() {
        let parse = |s: &str| s.parse::<Protocol>().ok().map(u8::from);
        assert_eq!(parse("TCP"), Some(6));
        assert_eq!(parse(" ipv6-icmp "), Some(58));
        assert_eq!(parse("132"), Some(132));
        assert_eq!(parse("256"), None);
        assert_eq!(parse("bogus"), None);
        assert_eq!(
            "bogus".parse::<Protocol>().unwrap_err(),
            "unknown protocol `bogus` (a name such as tcp, or a number 0-255)"
        );
    }

    #[test]
    fn every_number_has_its_first_name_and_names_round_trip() {
        for &(name, n) in Protocol::NAMES {
            assert_eq!(Protocol::from_name(name), Some(Protocol(n)));
            let usual = Protocol(n).name().expect("named");
            assert_eq!(Protocol::from_name(usual), Some(Protocol(n)));
        }
        assert_eq!(Protocol(58).to_string(), "icmpv6");
        assert_eq!(Protocol(4).to_string(), "ipip");
        assert_eq!(Protocol(250).to_string(), "250");
    }

    #[test]
    fn ports_and_icmp_by_protocol() {
        let ported: Vec<u8> = (0..=255u8).filter(|&p| Protocol(p).has_ports()).collect();
        assert_eq!(ported, [6, 17, 33, 132, 136]);
        let icmp: Vec<u8> = (0..=255u8).filter(|&p| Protocol(p).is_icmp()).collect();
        assert_eq!(icmp, [1, 58]);
        for family in [Family::V4, Family::V6] {
            assert_eq!(Protocol::icmp_of(family).family(), Some(family));
        }
        assert_eq!(Protocol::TCP.family(), None);
    }
}
