//! Packets from Python: checked field by field, each error naming its field and value.

use std::net::IpAddr;

use pyo3::prelude::*;
use sgeval::flow::PacketSpec;
use sgeval::{ConnState, Direction, Family, Packet, Protocol};

use crate::errors::{field_error, PacketError};

/// `value` as a number of type `T`, or an error naming `field` and the range.
pub fn number<T: TryFrom<i64>>(field: &str, value: i64, range: &str) -> PyResult<T> {
    T::try_from(value).map_err(|_| {
        field_error::<PacketError>(field, format!("`{field}` = {value} is out of range: {range}"))
    })
}

/// A port, `0..=65535`.
pub fn port(field: &str, value: Option<i64>) -> PyResult<Option<u16>> {
    value
        .map(|v| number(field, v, "a port is 0 to 65535"))
        .transpose()
}

/// An ICMP type or code, `0..=255`.
pub fn icmp(field: &str, value: Option<i64>) -> PyResult<Option<u8>> {
    value
        .map(|v| number(field, v, "an ICMP type or code is 0 to 255"))
        .transpose()
}

/// A protocol: a name (`tcp`, `icmpv6`, ...) or a number `0..=255`.
pub fn protocol(text: &str) -> PyResult<u8> {
    text.parse::<Protocol>()
        .map(|p| p.0)
        .map_err(|e| field_error::<PacketError>("proto", format!("`proto`: {e}")))
}

/// An address.
pub fn addr(field: &str, text: &str) -> PyResult<IpAddr> {
    text.trim()
        .parse()
        .map_err(|_| field_error::<PacketError>(field, format!("`{field}` = `{text}` is not an IP address")))
}

/// A direction, `ingress` or `egress`.
pub fn direction(text: &str) -> PyResult<Direction> {
    match text.to_ascii_lowercase().as_str() {
        "ingress" => Ok(Direction::Ingress),
        "egress" => Ok(Direction::Egress),
        _ => Err(field_error::<PacketError>(
            "direction",
            format!("`direction` = `{text}`: expected `ingress` or `egress`"),
        )),
    }
}

/// An address family, `IPv4` or `IPv6` (any case, `v4`, `4`, ...).
pub fn family(text: &str) -> PyResult<Family> {
    match text.to_ascii_lowercase().as_str() {
        "ipv4" | "v4" | "4" => Ok(Family::V4),
        "ipv6" | "v6" | "6" => Ok(Family::V6),
        _ => Err(field_error::<PacketError>(
            "family",
            format!("`family` = `{text}`: expected `IPv4` or `IPv6`"),
        )),
    }
}

/// What `check`, `why` and `fix` take, as the Python side passes it (one tuple): sides by
/// name or address, as the CLI's `check`; `None` ports and ICMP fields take the CLI's
/// defaults.
#[derive(FromPyObject)]
pub struct SpecArgs(
    String,
    String,
    String,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    bool,
    Option<String>,
);

impl SpecArgs {
    /// The packet specification, each field checked.
    pub fn spec(&self) -> PyResult<PacketSpec> {
        let SpecArgs(src, dst, proto, dport, sport, icmp_type, icmp_code, established, family_name) = self;
        Ok(PacketSpec {
            from: src.clone(),
            to: dst.clone(),
            protocol: protocol(proto)?,
            dport: port("dport", *dport)?,
            sport: port("sport", *sport)?,
            icmp_type: icmp("icmp_type", *icmp_type)?,
            icmp_code: icmp("icmp_code", *icmp_code)?,
            established: *established,
            family: family_name.as_deref().map(family).transpose()?,
        })
    }
}

/// A raw packet as the Python side passes it (one tuple, `Packet._args()`): every field as
/// given, no defaults filled in, as the engines see it.
#[derive(FromPyObject)]
pub struct RawArgs(String, String, String, i64, i64, i64, i64, bool);

impl RawArgs {
    /// The packet, each field checked.
    pub fn packet(&self) -> PyResult<Packet> {
        let RawArgs(src, dst, proto, src_port, dst_port, icmp_type, icmp_code, established) = self;
        let mut p = Packet::new(addr("src", src)?, addr("dst", dst)?, protocol(proto)?);
        p.src_port = number("src_port", *src_port, "a port is 0 to 65535")?;
        p.dst_port = number("dst_port", *dst_port, "a port is 0 to 65535")?;
        p.icmp_type = number("icmp_type", *icmp_type, "an ICMP type or code is 0 to 255")?;
        p.icmp_code = number("icmp_code", *icmp_code, "an ICMP type or code is 0 to 255")?;
        if *established {
            p.state = ConnState::Established;
        }
        Ok(p)
    }
}
