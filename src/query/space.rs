//! The header space of a flow: dimensions, regions of it ([`Shape`]), and the two sides
//! of a query ([`Side`]).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde_json::{json, Value};

use super::ranges::{addr_value, family_max, value_addr, Ranges};
use crate::cloud::Cloud;
use crate::group::EndpointKey;
use crate::packet::{ConnState, Packet};
use crate::rule::Family;

/// Protocol number dimension.
pub(crate) const PROTO: usize = 0;
/// ICMP type dimension (meaningful for ICMP and ICMPv6 only).
pub(crate) const ITYPE: usize = 1;
/// ICMP code dimension (meaningful for ICMP and ICMPv6 only).
pub(crate) const ICODE: usize = 2;
/// Destination port dimension.
pub(crate) const DPORT: usize = 3;
/// Source port dimension.
pub(crate) const SPORT: usize = 4;
/// Source address dimension.
pub(crate) const SRC: usize = 5;
/// Destination address dimension.
pub(crate) const DST: usize = 6;
/// How many dimensions.
pub(crate) const NDIM: usize = 7;

/// A box of the header space of one family: one set per dimension.
pub(crate) type Cube = [Ranges; NDIM];

/// The largest value of a dimension.
pub(crate) fn dim_max(d: usize, family: Family) -> u128 {
    match d {
        PROTO | ITYPE | ICODE => 255,
        DPORT | SPORT => 65535,
        _ => family_max(family),
    }
}

/// The whole space of one family.
pub(crate) fn full_cube(family: Family) -> Cube {
    std::array::from_fn(|d| Ranges::range(0, dim_max(d, family)))
}

/// Whether a protocol number carries ICMP type and code.
pub(crate) fn is_icmp_proto(p: u128) -> bool {
    u8::try_from(p).is_ok_and(|p| crate::Protocol(p).is_icmp())
}

/// Whether a cube's protocols all carry ICMP type and code (`Some(true)`), none do
/// (`Some(false)`), or both kinds are present (`None`).
pub(crate) fn icmp_kind(protocols: &Ranges) -> Option<bool> {
    let icmp = Ranges::from_ranges([(1, 1), (58, 58)]);
    let some = protocols.intersects(&icmp);
    let all = icmp.is_superset(protocols);
    match (some, all) {
        (_, true) => Some(true),
        (false, _) => Some(false),
        _ => None,
    }
}

/// A region of the header space: a product of sets, one per packet field.
///
/// ICMP type and code constrain ICMP and ICMPv6 packets only; for other protocols they are
/// every value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shape {
    /// Address family of every packet in the region.
    pub family: Family,
    /// Source addresses.
    pub src: Ranges,
    /// Destination addresses.
    pub dst: Ranges,
    /// IANA protocol numbers.
    pub protocols: Ranges,
    /// Source ports.
    pub src_ports: Ranges,
    /// Destination ports.
    pub dst_ports: Ranges,
    /// ICMP types (ICMP and ICMPv6 packets only).
    pub icmp_types: Ranges,
    /// ICMP codes (ICMP and ICMPv6 packets only).
    pub icmp_codes: Ranges,
}

impl Shape {
    pub(crate) fn from_cube(family: Family, c: &Cube) -> Shape {
        Shape {
            family,
            src: c[SRC].clone(),
            dst: c[DST].clone(),
            protocols: c[PROTO].clone(),
            src_ports: c[SPORT].clone(),
            dst_ports: c[DPORT].clone(),
            icmp_types: c[ITYPE].clone(),
            icmp_codes: c[ICODE].clone(),
        }
    }

    /// Whether a packet (of either connection state) lies in the region.
    pub fn contains(&self, p: &Packet) -> bool {
        p.family() == Some(self.family)
            && self.src.contains(addr_value(p.src))
            && self.dst.contains(addr_value(p.dst))
            && self.protocols.contains(p.protocol as u128)
            && self.src_ports.contains(p.src_port as u128)
            && self.dst_ports.contains(p.dst_port as u128)
            && (!p.is_icmp()
                || (self.icmp_types.contains(p.icmp_type as u128)
                    && self.icmp_codes.contains(p.icmp_code as u128)))
    }

    /// Whether some packet of the region is ICMP or ICMPv6.
    pub fn has_icmp(&self) -> bool {
        icmp_kind(&self.protocols) != Some(false)
    }

    /// The canonical witness: the smallest value of every field (ICMP type and code only
    /// for ICMP packets, else zero), in the given connection state.
    pub fn witness(&self, state: ConnState) -> Packet {
        let protocol = self.protocols.first().unwrap_or(0) as u8;
        let icmp = is_icmp_proto(protocol as u128);
        Packet {
            src: value_addr(self.src.first().unwrap_or(0), self.family),
            dst: value_addr(self.dst.first().unwrap_or(0), self.family),
            protocol,
            src_port: self.src_ports.first().unwrap_or(0) as u16,
            dst_port: self.dst_ports.first().unwrap_or(0) as u16,
            icmp_type: if icmp {
                self.icmp_types.first().unwrap_or(0) as u8
            } else {
                0
            },
            icmp_code: if icmp {
                self.icmp_codes.first().unwrap_or(0) as u8
            } else {
                0
            },
            state,
        }
    }

    /// Whether ICMP type/code are worth showing: the region has ICMP packets and the sets
    /// are not everything, or the provider filters on them.
    pub(crate) fn show_icmp(&self, provider_filters_icmp: bool) -> bool {
        self.has_icmp()
            && (provider_filters_icmp
                || self.icmp_types != Ranges::range(0, 255)
                || self.icmp_codes != Ranges::range(0, 255))
    }

    /// The region as JSON fields (`family`, `src`, `dst`, `protocols`, `src_ports`,
    /// `dst_ports`, and `icmp_types`/`icmp_codes` when shown), added to `out`.
    pub(crate) fn write_json(&self, out: &mut serde_json::Map<String, Value>, provider_filters_icmp: bool) {
        out.insert("family".into(), json!(self.family));
        out.insert("src".into(), cidrs_json(&self.src, self.family));
        out.insert("dst".into(), cidrs_json(&self.dst, self.family));
        out.insert("protocols".into(), ranges_json(&self.protocols));
        out.insert("src_ports".into(), ranges_json(&self.src_ports));
        out.insert("dst_ports".into(), ranges_json(&self.dst_ports));
        if self.show_icmp(provider_filters_icmp) {
            out.insert("icmp_types".into(), ranges_json(&self.icmp_types));
            out.insert("icmp_codes".into(), ranges_json(&self.icmp_codes));
        }
    }

    /// One line for people: `203.0.113.0/24 -> 10.0.0.5 tcp dport 22 sport any`
    /// (`provider_filters_icmp`: show ICMP type and code even when they are every value;
    /// `reach` and `diff` pass `true` for Gcore clouds).
    pub fn text(&self, provider_filters_icmp: bool) -> String {
        let mut s = format!(
            "{} -> {} {}",
            cidrs_text(&self.src, self.family),
            cidrs_text(&self.dst, self.family),
            protocols_text(&self.protocols)
        );
        if self.dst_ports != Ranges::range(0, 65535) {
            s.push_str(&format!(" dport {}", numbers_text(&self.dst_ports)));
        }
        if self.src_ports != Ranges::range(0, 65535) {
            s.push_str(&format!(" sport {}", numbers_text(&self.src_ports)));
        }
        if self.show_icmp(provider_filters_icmp) {
            s.push_str(&format!(
                " icmp type {} code {}",
                numbers_text(&self.icmp_types),
                numbers_text(&self.icmp_codes)
            ));
        }
        s
    }
}

/// `[[lo, hi], ...]`.
pub(crate) fn ranges_json(r: &Ranges) -> Value {
    Value::Array(r.iter().map(|(lo, hi)| json!([lo as u64, hi as u64])).collect())
}

/// The fewest CIDRs, as strings.
pub(crate) fn cidrs_json(r: &Ranges, family: Family) -> Value {
    Value::Array(r.to_cidrs(family).iter().map(|n| json!(n.to_string())).collect())
}

/// CIDRs joined with commas; `any` for the whole family; a bare address for a host.
pub(crate) fn cidrs_text(r: &Ranges, family: Family) -> String {
    if *r == Ranges::family(family) {
        return format!("any {family}");
    }
    let list = |nets: &[IpNet]| {
        let shown: Vec<String> = nets
            .iter()
            .take(6)
            .map(|n| {
                if n.prefix_len() == n.max_prefix_len() {
                    n.addr().to_string()
                } else {
                    n.to_string()
                }
            })
            .collect();
        let mut s = shown.join(",");
        if nets.len() > 6 {
            s.push_str(&format!(",... ({} prefixes)", nets.len()));
        }
        s
    };
    let nets = r.to_cidrs(family);
    let rest = Ranges::family(family).subtract(r).to_cidrs(family);
    if rest.len() < nets.len() {
        format!("any {family} except {}", list(&rest))
    } else {
        list(&nets)
    }
}

/// `22,80-90` or `any`.
pub(crate) fn numbers_text(r: &Ranges) -> String {
    if r.is_empty() {
        return "none".into();
    }
    if r.first() == Some(0) && r.range_count() == 1 && matches!(r.last(), Some(255) | Some(65535)) {
        return "any".into();
    }
    r.iter()
        .map(|(lo, hi)| {
            if lo == hi {
                lo.to_string()
            } else {
                format!("{lo}-{hi}")
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// `tcp`, `tcp,udp`, `all protocols`, or numbers.
pub(crate) fn protocols_text(r: &Ranges) -> String {
    if *r == Ranges::range(0, 255) {
        return "all protocols".into();
    }
    if r.count().get().is_some_and(|n| n <= 4) {
        let mut names = Vec::new();
        for (lo, hi) in r.iter() {
            for p in lo..=hi {
                names.push(
                    crate::Protocol(p as u8)
                        .name()
                        .map(str::to_owned)
                        .unwrap_or_else(|| format!("protocol {p}")),
                );
            }
        }
        return names.join(",");
    }
    format!("protocols {}", numbers_text(r))
}

/// A packet as JSON: the fields of [`Packet`] with protocol by name where it has one.
pub(crate) fn packet_json(p: &Packet) -> Value {
    let mut v = json!({
        "src": p.src.to_string(),
        "dst": p.dst.to_string(),
        "proto": crate::Protocol(p.protocol).name().map(|s| json!(s)).unwrap_or(json!(p.protocol)),
        "sport": p.src_port,
        "dport": p.dst_port,
        "established": p.state == ConnState::Established,
    });
    if p.is_icmp() {
        v["icmp_type"] = json!(p.icmp_type);
        v["icmp_code"] = json!(p.icmp_code);
    }
    v
}

/// Why a query could not be answered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A side names neither an endpoint nor an address or prefix.
    #[error("`{0}` is not an endpoint of the scenario, an address or a CIDR")]
    UnknownSide(String),
    /// A side is empty.
    #[error("an empty side (give an endpoint name, an address or a CIDR such as `0.0.0.0/0`)")]
    EmptySide,
    /// A restriction is not a valid set.
    #[error("`{field}` `{value}`: {reason}")]
    BadRestriction {
        /// The option.
        field: &'static str,
        /// The value as given.
        value: String,
        /// Why.
        reason: String,
    },
}

/// One item of a side.
#[derive(Clone, Debug, PartialEq, Eq)]
enum SideItem {
    Endpoint(String),
    Net(IpNet),
    /// Every address, of both families, that is no endpoint's.
    Internet,
}

/// One side of a flow query: endpoint names, addresses and CIDRs, comma-separated
/// (`vm-a`, `203.0.113.7`, `0.0.0.0/0,::/0`); `any` for every address of both families,
/// endpoints included; `internet` for every address that belongs to no endpoint of the
/// scenario (of either scenario, in `diff`). An item written `!item` is taken out
/// (`internet,!10.0.0.0/8`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Side {
    text: String,
    /// Items with whether they are taken out.
    items: Vec<(bool, SideItem)>,
}

impl Side {
    /// Every address of both families that belongs to no endpoint: `internet`.
    pub fn internet() -> Side {
        Side {
            text: "internet".into(),
            items: vec![(false, SideItem::Internet)],
        }
    }

    /// Every address of both families, endpoints included: `any`.
    pub fn any() -> Side {
        Side {
            text: "any".into(),
            items: vec![
                (false, SideItem::Net(Family::V4.any_net())),
                (false, SideItem::Net(Family::V6.any_net())),
            ],
        }
    }

    /// The side as written.
    pub fn label(&self) -> &str {
        &self.text
    }

    /// The label of the part of the side that is no endpoint's: `internet` for `any`
    /// (what is left of every address once the endpoints are named is the internet),
    /// otherwise the side as written.
    pub fn rest_label(&self) -> &str {
        if self.text.eq_ignore_ascii_case("any") {
            "internet"
        } else {
            &self.text
        }
    }

    /// The addresses of the side in each family (`[IPv4, IPv6]`): an endpoint stands for
    /// all its addresses in any of `clouds`.
    ///
    /// # Errors
    /// [`QueryError::UnknownSide`] for a name no cloud has as an endpoint.
    pub fn resolve(&self, clouds: &[&Cloud]) -> Result<[Ranges; 2], QueryError> {
        // [included, excluded] per family, as (lo, hi) ranges.
        let mut sets: [[Vec<(u128, u128)>; 2]; 2] = Default::default();
        for (out, item) in &self.items {
            let mut push = |lo: IpAddr, hi: IpAddr| {
                let f = usize::from(Family::of(&lo) == Family::V6);
                sets[usize::from(*out)][f].push((addr_value(lo), addr_value(hi)));
            };
            match item {
                SideItem::Net(net) => push(net.network(), net.broadcast()),
                SideItem::Internet => {
                    // Every address but the endpoints': the gaps between their addresses.
                    for (f, family) in [Family::V4, Family::V6].into_iter().enumerate() {
                        let taken =
                            Ranges::from_ranges(clouds.iter().flat_map(|c| c.endpoints()).flat_map(|e| {
                                e.ips
                                    .iter()
                                    .filter(|ip| Family::of(ip) == family)
                                    .map(|ip| (addr_value(*ip), addr_value(*ip)))
                            }));
                        let rest = Ranges::family(family).subtract(&taken);
                        sets[usize::from(*out)][f].extend(rest.iter());
                    }
                }
                SideItem::Endpoint(name) => {
                    let mut found = false;
                    for cloud in clouds {
                        if let Some(key) = cloud.endpoint_by_name(name) {
                            found = true;
                            for ip in cloud.endpoint(key).map(|e| e.ips.as_slice()).unwrap_or(&[]) {
                                push(*ip, *ip);
                            }
                        }
                    }
                    if !found {
                        return Err(QueryError::UnknownSide(name.clone()));
                    }
                }
            }
        }
        let [inc, exc] = sets;
        let [i4, i6] = inc;
        let [e4, e6] = exc;
        Ok([
            Ranges::from_ranges(i4).subtract(&Ranges::from_ranges(e4)),
            Ranges::from_ranges(i6).subtract(&Ranges::from_ranges(e6)),
        ])
    }
}

impl FromStr for Side {
    type Err = QueryError;

    /// Parses comma-separated items; anything that is not an address, a CIDR, `any` or
    /// `internet` is taken as an endpoint name (checked by [`Side::resolve`]).
    fn from_str(s: &str) -> Result<Side, QueryError> {
        let mut items = Vec::new();
        for token in s.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (out, token) = match token.strip_prefix('!') {
                Some(rest) => (true, rest.trim()),
                None => (false, token),
            };
            if token.eq_ignore_ascii_case("internet") {
                items.push((out, SideItem::Internet));
            } else if token.eq_ignore_ascii_case("any") {
                items.push((out, SideItem::Net(Family::V4.any_net())));
                items.push((out, SideItem::Net(Family::V6.any_net())));
            } else if let Ok(net) = token.parse::<IpNet>() {
                items.push((out, SideItem::Net(net.trunc())));
            } else if let Ok(addr) = token.parse::<IpAddr>() {
                items.push((out, SideItem::Net(IpNet::from(addr))));
            } else if token.is_empty() {
                return Err(QueryError::EmptySide);
            } else {
                items.push((out, SideItem::Endpoint(token.to_owned())));
            }
        }
        if items.iter().all(|(out, _)| *out) {
            return Err(QueryError::EmptySide);
        }
        Ok(Side {
            text: s.trim().to_owned(),
            items,
        })
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Which packets a flow query is about.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Mode {
    /// New connections from X to Y: the rules decide.
    #[default]
    New,
    /// Packets of established connections from X to Y: every hop lets them through
    /// without consulting rules (Decision 2).
    Established,
    /// Round trips: a new connection from X to Y and its replies from Y to X. The replies
    /// are established, so (Decision 2, as every provider documents) a round trip is
    /// allowed exactly when the new connection is; the reply hops are listed as
    /// `established`.
    RoundTrip,
}

impl Mode {
    /// `new`, `established` or `round_trip`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::New => "new",
            Mode::Established => "established",
            Mode::RoundTrip => "round_trip",
        }
    }
}

/// Optional narrowing of a query's header space (e.g. only `tcp` to port 22).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Restrict {
    /// Only these protocol numbers.
    pub protocols: Option<Ranges>,
    /// Only these destination ports.
    pub dst_ports: Option<Ranges>,
    /// Only these source ports.
    pub src_ports: Option<Ranges>,
}

impl Restrict {
    /// Checks that the restrictions can hold together: a port filter needs a protocol
    /// list of port protocols only (tcp, udp, sctp, dccp, udplite); `icmp` with a port,
    /// `all` with a port, or a port with no protocol named is a contradiction, not a query.
    ///
    /// # Errors
    /// [`QueryError::BadRestriction`] naming the port option and the protocols.
    pub fn check(&self) -> Result<(), QueryError> {
        for (field, ports) in [("--dport", &self.dst_ports), ("--sport", &self.src_ports)] {
            let Some(ports) = ports else { continue };
            let value = numbers_text(ports);
            let portless: Vec<String> = match &self.protocols {
                None => {
                    return Err(QueryError::BadRestriction {
                        field,
                        value,
                        reason: "a port filter needs the protocols it applies to: add `--proto tcp` (or udp, sctp, dccp, udplite)".into(),
                    })
                }
                Some(protocols) => protocols
                    .iter()
                    .flat_map(|(lo, hi)| lo..=hi)
                    .filter(|&p| !crate::Protocol(p as u8).has_ports())
                    .map(|p| crate::Protocol(p as u8).to_string())
                    .collect(),
            };
            if !portless.is_empty() {
                let shown = if portless.len() > 4 {
                    format!("{}, ... ({} protocols)", portless[..4].join(", "), portless.len())
                } else {
                    portless.join(", ")
                };
                return Err(QueryError::BadRestriction {
                    field,
                    value,
                    reason: format!("{shown} carr{} no ports; name only port protocols (tcp, udp, sctp, dccp, udplite) with a port filter", if portless.len() == 1 { "ies" } else { "y" }),
                });
            }
        }
        Ok(())
    }

    /// Parses a protocol list such as `tcp,udp` or `6,17` or `all`.
    ///
    /// # Errors
    /// An unknown protocol name.
    pub fn parse_protocols(text: &str) -> Result<Ranges, QueryError> {
        let mut out = Vec::new();
        for t in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if t.eq_ignore_ascii_case("all") || t.eq_ignore_ascii_case("any") {
                out.push((0, 255));
                continue;
            }
            let p =
                t.parse::<crate::Protocol>()
                    .map(u8::from)
                    .map_err(|reason| QueryError::BadRestriction {
                        field: "--proto",
                        value: text.to_owned(),
                        reason,
                    })?;
            out.push((p as u128, p as u128));
        }
        Ok(Ranges::from_ranges(out))
    }

    /// Parses a port list such as `22,80-90`.
    ///
    /// # Errors
    /// A value that is not a port or a range `lo-hi` with `lo <= hi`.
    pub fn parse_ports(field: &'static str, text: &str) -> Result<Ranges, QueryError> {
        let bad = |reason: String| QueryError::BadRestriction {
            field,
            value: text.to_owned(),
            reason,
        };
        let mut out = Vec::new();
        for t in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            let (lo, hi) = match t.split_once('-') {
                Some((a, b)) => (a.trim(), b.trim()),
                None => (t, t),
            };
            let lo: u16 = lo
                .parse()
                .map_err(|_| bad(format!("`{lo}` is not a port 0-65535")))?;
            let hi: u16 = hi
                .parse()
                .map_err(|_| bad(format!("`{hi}` is not a port 0-65535")))?;
            if lo > hi {
                return Err(bad(format!("range `{t}` ends before it starts")));
            }
            out.push((lo as u128, hi as u128));
        }
        Ok(Ranges::from_ranges(out))
    }

    /// The whole space of `family`, narrowed.
    pub(crate) fn cube(&self, family: Family) -> Cube {
        let mut c = full_cube(family);
        if let Some(p) = &self.protocols {
            c[PROTO] = c[PROTO].intersect(p);
        }
        if let Some(p) = &self.dst_ports {
            c[DPORT] = c[DPORT].intersect(p);
        }
        if let Some(p) = &self.src_ports {
            c[SPORT] = c[SPORT].intersect(p);
        }
        c
    }
}

/// A piece of one side: addresses whose owner (endpoint or none) is the same in each
/// cloud of the query.
#[derive(Clone, Debug)]
pub(crate) struct Part {
    pub addrs: Ranges,
    pub owners: Vec<Option<EndpointKey>>,
}

/// Splits a side's addresses of one family by owner in each cloud.
pub(crate) fn parts(side: &Ranges, family: Family, clouds: &[&Cloud]) -> Vec<Part> {
    let mut points: BTreeMap<u128, Vec<Option<EndpointKey>>> = BTreeMap::new();
    for (c, cloud) in clouds.iter().enumerate() {
        for (i, e) in cloud.endpoints().iter().enumerate() {
            for ip in &e.ips {
                if Family::of(ip) != family {
                    continue;
                }
                let v = addr_value(*ip);
                if side.contains(v) {
                    points.entry(v).or_insert_with(|| vec![None; clouds.len()])[c] =
                        Some(EndpointKey::new(i as u32));
                }
            }
        }
    }
    let mut groups: Vec<Part> = Vec::new();
    let mut taken = Vec::new();
    for (v, owners) in points {
        taken.push((v, v));
        match groups.iter_mut().find(|p| p.owners == owners) {
            Some(p) => p.addrs = p.addrs.union(&Ranges::single(v)),
            None => groups.push(Part {
                addrs: Ranges::single(v),
                owners,
            }),
        }
    }
    let rest = side.subtract(&Ranges::from_ranges(taken));
    if !rest.is_empty() {
        groups.push(Part {
            addrs: rest,
            owners: vec![None; clouds.len()],
        });
    }
    groups
}
