//! A packet's way from one address to another: the egress hop at the source endpoint, then
//! the ingress hop at the destination endpoint (Decision 1).

use std::net::IpAddr;

use serde::Serialize;
use smallvec::SmallVec;

use crate::cloud::Cloud;
use crate::decision::{Decision, Reason, Verdict};
use crate::group::EndpointKey;
use crate::packet::Packet;
use crate::protocol::Protocol;
use crate::rule::{Direction, Family};

/// Anything that decides a packet at one endpoint and direction: [`crate::reference::Evaluator`],
/// [`crate::compile::Engine`] and [`crate::live::Snapshot`]. `evaluate` is the crate's one
/// verb for that decision; each engine also has it as an inherent method.
pub trait Evaluate {
    /// The decision of `endpoint`'s groups for `packet` in `direction`.
    fn evaluate(&self, endpoint: EndpointKey, direction: Direction, packet: &Packet) -> Decision;

    /// [`trace`]'s answer: `packet`'s way through the endpoints of `cloud` that own its
    /// addresses. The default finds them in the cloud's address index and asks
    /// [`Evaluate::evaluate`] at each; the compiled engine overrides it to look each address
    /// up once in its own address map (owner, identity and tables in one entry), as an
    /// engine answers for the cloud it was built from or last refreshed with. An override
    /// gives the default's answer.
    fn flow(&self, cloud: &Cloud, packet: &Packet) -> Flow {
        let hop = |endpoint: Option<EndpointKey>, direction| {
            endpoint.map(|endpoint| Hop {
                endpoint,
                direction,
                decision: self.evaluate(endpoint, direction, packet),
            })
        };
        Flow::of(
            hop(cloud.endpoint_by_addr(packet.src), Direction::Egress),
            hop(cloud.endpoint_by_addr(packet.dst), Direction::Ingress),
            packet,
        )
    }

    /// [`trace_batch`]'s answer: [`Evaluate::flow`] of each packet into the same position of
    /// `out`. The default traces one packet at a time; the compiled engine overrides it to
    /// look up the addresses of several packets before any of their hops, so that the
    /// cache misses of a large cloud's address map overlap. Entries of `out` beyond
    /// `packets` are left untouched; packets beyond `out`'s length are not traced.
    fn flow_batch(&self, cloud: &Cloud, packets: &[Packet], out: &mut [Flow]) {
        for (packet, flow) in packets.iter().zip(out) {
            *flow = self.flow(cloud, packet);
        }
    }
}

/// One endpoint's decision on a packet's way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Hop {
    /// The endpoint that decides.
    pub endpoint: EndpointKey,
    /// Egress at the source, ingress at the destination.
    pub direction: Direction,
    /// What it decided.
    pub decision: Decision,
}

/// The hops of a packet and the overall verdict: allow only when every hop allows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Flow {
    /// Egress hop (when the source is an endpoint), then ingress hop (when the destination is).
    pub hops: SmallVec<[Hop; 2]>,
    /// Allow when every hop allows. A packet between two addresses that are not endpoints
    /// meets no security group and has no hops.
    pub verdict: Verdict,
}

impl Flow {
    /// The flow of the egress hop at the source and the ingress hop at the destination
    /// (each when that address is an endpoint's): allow when every hop allows and the
    /// packet's addresses are of one family.
    pub(crate) fn of(egress: Option<Hop>, ingress: Option<Hop>, packet: &Packet) -> Flow {
        let hops: SmallVec<[Hop; 2]> = egress.into_iter().chain(ingress).collect();
        let verdict = if packet.family().is_none() {
            Verdict::Deny
        } else if hops.iter().all(|h: &Hop| h.decision.is_allow()) {
            Verdict::Allow
        } else {
            Verdict::Deny
        };
        Flow { hops, verdict }
    }
}

/// Follows `packet` through the endpoints that own its source and destination addresses
/// ([`Evaluate::flow`]: one address lookup each on the compiled engine).
pub fn trace<E: Evaluate + ?Sized>(cloud: &Cloud, engine: &E, packet: &Packet) -> Flow {
    engine.flow(cloud, packet)
}

/// [`trace`] of each of `packets` into the same position of `out` ([`Evaluate::flow_batch`]:
/// on the compiled engine, the address lookups of several packets overlap). Entries of
/// `out` beyond `packets` are left untouched; packets beyond `out`'s length are not traced.
/// Does not allocate on the compiled engine.
pub fn trace_batch<E: Evaluate + ?Sized>(cloud: &Cloud, engine: &E, packets: &[Packet], out: &mut [Flow]) {
    engine.flow_batch(cloud, packets, out);
}

/// Why a packet could not be made from a [`PacketSpec`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpecError {
    /// Neither an endpoint name nor an address.
    #[error("`{field}` = `{value}` is neither an endpoint of the scenario nor an IP address")]
    UnknownSide {
        /// `from` or `to`.
        field: &'static str,
        /// The text given.
        value: String,
    },
    /// The two sides have no address family in common.
    #[error("`from` = `{from}` and `to` = `{to}` have no address family in common{hint}")]
    NoCommonFamily {
        /// The source as given.
        from: String,
        /// The destination as given.
        to: String,
        /// A hint about `family`.
        hint: String,
    },
    /// ICMP over IPv6 or ICMPv6 over IPv4.
    #[error("protocol `{protocol}` does not exist over {family} (use `{instead}`)")]
    ProtocolFamily {
        /// The protocol as named.
        protocol: &'static str,
        /// The packet's family.
        family: Family,
        /// The protocol to use instead.
        instead: &'static str,
    },
    /// A port-bearing protocol without a destination port.
    #[error("protocol `{0}` needs a destination port (`dport`)")]
    MissingPort(String),
    /// A field that does not apply to the protocol (a port of ICMP, an ICMP type of TCP):
    /// a contradiction, refused rather than ignored.
    #[error("`{field}` does not apply to protocol `{protocol}`: {why}")]
    NotApplicable {
        /// The field (`dport`, `sport`, `icmp_type`, `icmp_code`).
        field: &'static str,
        /// The protocol as named.
        protocol: String,
        /// Which protocols the field applies to.
        why: &'static str,
    },
}

/// One end of a packet in a [`PacketSpec`]: an endpoint (by name) or a bare address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Peer {
    /// An endpoint of the scenario.
    Endpoint(EndpointKey),
    /// An address; it means its endpoint when an endpoint owns it.
    Address(IpAddr),
}

impl Peer {
    /// Reads an endpoint name or an address.
    ///
    /// # Errors
    /// Text that is neither.
    fn parse(cloud: &Cloud, field: &'static str, text: &str) -> Result<Peer, SpecError> {
        if let Some(key) = cloud.endpoint_by_name(text) {
            return Ok(Peer::Endpoint(key));
        }
        text.parse::<IpAddr>()
            .map(Peer::Address)
            .map_err(|_| SpecError::UnknownSide {
                field,
                value: text.to_owned(),
            })
    }

    fn family_addr(&self, cloud: &Cloud, family: Family) -> Option<IpAddr> {
        match self {
            Peer::Address(a) => (Family::of(a) == family).then_some(*a),
            Peer::Endpoint(k) => cloud
                .endpoint(*k)?
                .ips
                .iter()
                .copied()
                .find(|a| Family::of(a) == family),
        }
    }
}

/// A packet described the way the CLI and the corpus describe it: sides by name or address,
/// protocol, ports, ICMP type and code, state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PacketSpec {
    /// Source: endpoint name or address.
    pub from: String,
    /// Destination: endpoint name or address.
    pub to: String,
    /// IANA protocol number.
    pub protocol: u8,
    /// Destination port (required for TCP, UDP, SCTP, DCCP, UDP-Lite).
    pub dport: Option<u16>,
    /// Source port; default 49152 for port-bearing protocols, else 0.
    pub sport: Option<u16>,
    /// ICMP type; default echo request (8, or 128 for ICMPv6).
    pub icmp_type: Option<u8>,
    /// ICMP code; default 0.
    pub icmp_code: Option<u8>,
    /// A packet of an established connection.
    pub established: bool,
    /// The family when both sides are endpoints with both families.
    pub family: Option<Family>,
}

impl PacketSpec {
    /// Resolves the sides in `cloud` and builds the packet.
    ///
    /// The family is `family` when given, else the family of a side given as an address, else
    /// IPv4 when both sides have an IPv4 address, else IPv6.
    ///
    /// # Errors
    /// An unknown side, no common family, a missing destination port.
    pub fn packet(&self, cloud: &Cloud) -> Result<Packet, SpecError> {
        let from = Peer::parse(cloud, "from", &self.from)?;
        let to = Peer::parse(cloud, "to", &self.to)?;
        let given = |s: &Peer| match s {
            Peer::Address(a) => Some(Family::of(a)),
            Peer::Endpoint(_) => None,
        };
        let candidates: Vec<Family> = match self.family.or(given(&from)).or(given(&to)) {
            Some(f) => vec![f],
            None => vec![Family::V4, Family::V6],
        };
        let pair = candidates
            .iter()
            .find_map(|&f| Some((from.family_addr(cloud, f)?, to.family_addr(cloud, f)?)));
        let Some((src, dst)) = pair else {
            return Err(SpecError::NoCommonFamily {
                from: self.from.clone(),
                to: self.to.clone(),
                hint: if self.family.is_some() {
                    " in the family asked for".into()
                } else {
                    String::new()
                },
            });
        };
        let protocol = Protocol(self.protocol);
        let not_applicable = |field, why| SpecError::NotApplicable {
            field,
            protocol: protocol.to_string(),
            why,
        };
        if !protocol.has_ports() {
            let ports = "only tcp, udp, sctp, dccp and udplite carry ports";
            if self.dport.is_some() {
                return Err(not_applicable("dport", ports));
            }
            if self.sport.is_some() {
                return Err(not_applicable("sport", ports));
            }
        }
        if !protocol.is_icmp() {
            let icmp = "only icmp and icmpv6 carry a type and code";
            if self.icmp_type.is_some() {
                return Err(not_applicable("icmp_type", icmp));
            }
            if self.icmp_code.is_some() {
                return Err(not_applicable("icmp_code", icmp));
            }
        }
        let family = Family::of(&src);
        let instead = Protocol::icmp_of(family);
        if protocol.is_icmp() && protocol != instead {
            // Both ICMPs are named (`icmp`, `icmpv6`).
            return Err(SpecError::ProtocolFamily {
                protocol: protocol.name().unwrap_or_default(),
                family,
                instead: instead.name().unwrap_or_default(),
            });
        }
        let mut packet = Packet::new(src, dst, self.protocol);
        if protocol.has_ports() {
            packet.dst_port = self
                .dport
                .ok_or_else(|| SpecError::MissingPort(protocol.name().unwrap_or("?").to_owned()))?;
            packet.src_port = self.sport.unwrap_or(49152);
        } else {
            packet.dst_port = self.dport.unwrap_or(0);
            packet.src_port = self.sport.unwrap_or(0);
        }
        if packet.is_icmp() {
            let echo = if protocol == Protocol::ICMPV6 { 128 } else { 8 };
            packet.icmp_type = self.icmp_type.unwrap_or(echo);
            packet.icmp_code = self.icmp_code.unwrap_or(0);
        }
        if self.established {
            packet.state = crate::packet::ConnState::Established;
        }
        Ok(packet)
    }
}

/// The compact label of what decided, as the corpus and `check --json` write it:
/// `rule:<group id>:<n>` (n = the rule's 0-based place in its group's creation order),
/// `intra:<group id>`, `default:<fallback>`, `established`, `mixed_family`.
pub fn label(cloud: &Cloud, decision: &Decision) -> String {
    let group_id = |g| {
        cloud
            .group(g)
            .map(|g| g.id.clone())
            .unwrap_or_else(|| g.to_string())
    };
    match decision.reason {
        Reason::Rule(r) => {
            let place = cloud
                .group(r.group)
                .and_then(|g| g.rules.iter().position(|x| x.key == r.rule))
                .map(|i| i.to_string())
                .unwrap_or_else(|| r.rule.to_string());
            format!("rule:{}:{}", group_id(r.group), place)
        }
        Reason::IntraGroup { group } => format!("intra:{}", group_id(group)),
        Reason::Default { fallback } => format!(
            "default:{}",
            serde_json::to_value(fallback)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ),
        Reason::Established => "established".into(),
        Reason::MixedFamily => "mixed_family".into(),
    }
}

/// A sentence saying what decided, naming the rule as the provider shows it.
pub fn describe(cloud: &Cloud, decision: &Decision) -> String {
    let group_text = |g| group_text(cloud, g);
    match decision.reason {
        Reason::Rule(r) => match cloud.rule(r) {
            Some(rule) => format!(
                "group {} rule {}",
                group_text(r.group),
                describe_rule(cloud, rule).replacen(' ', ": ", 1)
            ),
            None => format!("{} of group {}", r.rule, group_text(r.group)),
        },
        Reason::IntraGroup { group } => {
            format!(
                "intra-group policy Accept of basic group {}: members may talk",
                group_text(group)
            )
        }
        Reason::Default { fallback } => fallback.to_string(),
        Reason::Established => "established connection: stateful groups let it through".into(),
        Reason::MixedFamily => "source and destination are of different address families".into(),
    }
}

/// A group for people: its provider id, then its name in brackets when it has one
/// (`sg-... (web)`), so ids that look alike are told apart.
pub(crate) fn group_text(cloud: &Cloud, g: crate::GroupKey) -> String {
    match cloud.group(g) {
        Some(g) => with_name(&g.id, &g.name),
        None => g.to_string(),
    }
}

/// `id (name)`, or `id` alone when the name is empty.
fn with_name(id: &str, name: &str) -> String {
    if name.is_empty() {
        id.to_owned()
    } else {
        format!("{id} ({name})")
    }
}

/// A rule in words, with group and address-group references shown by their provider ids
/// and names.
pub(crate) fn describe_rule(cloud: &Cloud, rule: &crate::Rule) -> String {
    let text = rule.to_string();
    match rule.remote {
        crate::Remote::Group(g) => match cloud.group(g) {
            Some(_) => text.replace(
                &format!("members of {g}"),
                &format!("members of group {}", group_text(cloud, g)),
            ),
            None => text,
        },
        crate::Remote::AddressGroup(a) => match cloud.address_group(a) {
            Some(ag) => text.replace(
                &format!("address group {a}"),
                &format!("address group {}", with_name(&ag.id, &ag.name)),
            ),
            None => text,
        },
        _ => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Provider;

    fn spec(from: &str, to: &str, protocol: u8) -> PacketSpec {
        PacketSpec {
            from: from.into(),
            to: to.into(),
            protocol,
            dport: None,
            sport: None,
            icmp_type: None,
            icmp_code: None,
            established: false,
            family: None,
        }
    }

    #[test]
    fn icmp_of_the_other_family_and_missing_ports_are_refused_by_name() {
        let cloud = Cloud::new(Provider::Huawei, Default::default());
        let err = |s: PacketSpec| s.packet(&cloud).unwrap_err().to_string();
        assert_eq!(
            err(spec("::1", "::2", 1)),
            "protocol `icmp` does not exist over IPv6 (use `icmpv6`)"
        );
        assert_eq!(
            err(spec("10.0.0.1", "10.0.0.2", 58)),
            "protocol `icmpv6` does not exist over IPv4 (use `icmp`)"
        );
        assert_eq!(
            err(spec("10.0.0.1", "10.0.0.2", 132)),
            "protocol `sctp` needs a destination port (`dport`)"
        );
        let ping6 = spec("::1", "::2", 58).packet(&cloud).unwrap();
        assert_eq!((ping6.icmp_type, ping6.icmp_code, ping6.dst_port), (128, 0, 0));
        let gre = spec("10.0.0.1", "10.0.0.2", 47).packet(&cloud).unwrap();
        assert_eq!((gre.src_port, gre.dst_port), (0, 0));
    }
}
