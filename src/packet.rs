//! The query tuple: what a packet looks like to a security group.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::family::Family;
use crate::protocol::Protocol;

// Byte forms of `Protocol`'s constants, for code that matches on a protocol byte (the
// Alibaba front end, the `--fix` renderer, conntrack). Transitional: they move next to
// `Protocol` (or give way to it) once the provider restructuring has landed.
pub(crate) const ICMP: u8 = Protocol::ICMP.0;
pub(crate) const TCP: u8 = Protocol::TCP.0;
pub(crate) const UDP: u8 = Protocol::UDP.0;
pub(crate) const GRE: u8 = Protocol::GRE.0;
pub(crate) const ICMPV6: u8 = Protocol::ICMPV6.0;

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
    /// IANA protocol number (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6, ...; see [`Protocol`]).
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
            ..Packet::new(src, dst, Protocol::TCP.0)
        }
    }

    /// A UDP packet to `dst_port` from an ephemeral source port.
    pub fn udp(src: IpAddr, dst: IpAddr, dst_port: u16) -> Packet {
        Packet {
            src_port: 49152,
            dst_port,
            ..Packet::new(src, dst, Protocol::UDP.0)
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
        Protocol(self.protocol).is_icmp()
    }
}

impl fmt::Display for Packet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let proto = Protocol(self.protocol);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mixed_family_packet_has_no_family() {
        let p = Packet::tcp("10.0.0.1".parse().unwrap(), "::1".parse().unwrap(), 22);
        assert_eq!(p.family(), None);
    }
}
