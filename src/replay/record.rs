//! One flow-log record as every reader gives it, whatever the provider's format.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::rule::Direction;

/// What the cloud did with the traffic of a record (`action`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Logged {
    /// `ACCEPT`: the traffic passed.
    Accept,
    /// `REJECT`: the traffic was dropped.
    Reject,
}

impl Logged {
    /// Reads `ACCEPT` or `REJECT` (either case, as exports differ).
    pub fn parse(text: &str) -> Option<Logged> {
        if text.eq_ignore_ascii_case("ACCEPT") {
            Some(Logged::Accept)
        } else if text.eq_ignore_ascii_case("REJECT") {
            Some(Logged::Reject)
        } else {
            None
        }
    }

    /// Whether the logged action means the traffic passed.
    pub fn is_accept(self) -> bool {
        self == Logged::Accept
    }
}

impl fmt::Display for Logged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Logged::Accept => "ACCEPT",
            Logged::Reject => "REJECT",
        })
    }
}

/// `log-status` of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// `OK`: a record of traffic.
    Ok,
    /// `NODATA`: no traffic on the interface in the capture window.
    NoData,
    /// `SKIPDATA`: the cloud skipped records in the capture window.
    SkipData,
}

impl Status {
    /// Reads `OK`, `NODATA` or `SKIPDATA` (either case).
    pub fn parse(text: &str) -> Option<Status> {
        if text.eq_ignore_ascii_case("OK") {
            Some(Status::Ok)
        } else if text.eq_ignore_ascii_case("NODATA") {
            Some(Status::NoData)
        } else if text.eq_ignore_ascii_case("SKIPDATA") {
            Some(Status::SkipData)
        } else {
            None
        }
    }
}

/// One record of traffic (`log-status` `OK`), borrowing its interface id from the line it
/// was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowRecord<'a> {
    /// The ENI (Alibaba `eni-id`) or port (Huawei `interface-id`) the record was captured at,
    /// when the format gives one.
    pub interface: Option<&'a str>,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (0 for protocols without ports).
    pub src_port: u16,
    /// Destination port (0 for protocols without ports).
    pub dst_port: u16,
    /// IANA protocol number.
    pub protocol: u8,
    /// Inbound or outbound at the interface, when the format says (Alibaba `direction`);
    /// `None` when it is to be inferred from the interface's own addresses (Huawei).
    pub direction: Option<Direction>,
    /// Packets in the capture window.
    pub packets: u64,
    /// Bytes in the capture window.
    pub bytes: u64,
    /// Start of the capture window (Unix seconds).
    pub start: u64,
    /// End of the capture window (Unix seconds).
    pub end: u64,
    /// What the cloud did.
    pub action: Logged,
}

/// One row of a flow log: traffic, or a status row without traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Row<'a> {
    /// A record of traffic.
    Flow(FlowRecord<'a>),
    /// A `NODATA` or `SKIPDATA` row (its other fields are `-` or empty).
    Status(Status),
}

/// Where a row was read: the file and its 1-based line (or row, for Parquet).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// 1-based line of a text file, or 1-based row of a Parquet file.
    pub line: u64,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A field of a row that could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("field `{field}` = `{value}`: {why}")]
pub struct FieldError {
    /// The field, by the provider's name (`srcaddr`, `direction`, ...).
    pub field: String,
    /// The text found (cut to 80 characters).
    pub value: String,
    /// What was expected.
    pub why: String,
}

impl FieldError {
    /// An error about `field`, with the value cut to a readable length.
    pub fn new(field: impl Into<String>, value: &str, why: impl Into<String>) -> FieldError {
        let value = if value.chars().count() > 80 {
            let cut: String = value.chars().take(80).collect();
            format!("{cut}...")
        } else {
            value.to_owned()
        };
        FieldError {
            field: field.into(),
            value,
            why: why.into(),
        }
    }
}

/// A row that could not be read, with where it is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, Deserialize)]
#[error("{location}: {error}")]
pub struct BadRow {
    /// File and line.
    pub location: Location,
    /// What was wrong.
    pub error: FieldError,
}

/// A field without surrounding white space; most fields have none, which this checks with
/// two byte tests before `str::trim`.
#[inline]
pub(crate) fn trim(text: &str) -> &str {
    match (text.as_bytes().first(), text.as_bytes().last()) {
        (Some(a), Some(b)) if a.is_ascii_whitespace() || b.is_ascii_whitespace() => text.trim(),
        _ => text,
    }
}

/// Parses an address field.
#[inline]
pub(crate) fn addr(field: &str, text: &str) -> Result<IpAddr, FieldError> {
    if let Some(v4) = dotted_quad(text.as_bytes()) {
        return Ok(IpAddr::V4(v4));
    }
    text.parse()
        .map_err(|_| FieldError::new(field, text, "expected an IPv4 or IPv6 address"))
}

/// The common case of an address field, four decimal octets, read without the standard
/// parser's generality (a fifth of a Parquet replay's time went there). It accepts only
/// what `Ipv4Addr::from_str` accepts (1-3 digits, no leading zero, at most 255) and gives
/// the same address; anything else is `None`, left to the standard parser.
#[inline]
pub(crate) fn dotted_quad(b: &[u8]) -> Option<Ipv4Addr> {
    if !(7..=15).contains(&b.len()) {
        return None;
    }
    // One octet from `at`: 1-3 digits, no leading zero, at most 255; and where it ends.
    #[inline(always)]
    fn octet(b: &[u8], at: usize) -> Option<(u8, usize)> {
        let digit = |i: usize| b.get(i).map(|c| c.wrapping_sub(b'0')).filter(|&d| d <= 9);
        let mut v = u32::from(digit(at)?);
        let mut end = at + 1;
        if let Some(d) = digit(end) {
            if v == 0 {
                return None;
            }
            v = v * 10 + u32::from(d);
            end += 1;
            if let Some(d) = digit(end) {
                v = v * 10 + u32::from(d);
                end += 1;
            }
        }
        Some((u8::try_from(v).ok()?, end))
    }
    let mut octets = [0u8; 4];
    let mut at = 0;
    for (n, o) in octets.iter_mut().enumerate() {
        let (v, end) = octet(b, at)?;
        *o = v;
        at = end;
        if n < 3 {
            if b.get(at) != Some(&b'.') {
                return None;
            }
            at += 1;
        }
    }
    // A fourth digit, or anything else after the last octet, is not for this path.
    (at == b.len()).then(|| Ipv4Addr::from(octets))
}

/// Parses an unsigned integer field; `-` and the empty text are refused (a record of
/// traffic has every field).
pub(crate) fn int<T: std::str::FromStr>(field: &str, text: &str, what: &str) -> Result<T, FieldError> {
    text.parse()
        .map_err(|_| FieldError::new(field, text, format!("expected {what}")))
}

/// Parses a port field: a number 0..=65535, or `-`/empty for protocols without ports
/// (read as 0).
pub(crate) fn port(field: &str, text: &str, protocol: u8) -> Result<u16, FieldError> {
    if (text == "-" || text.is_empty()) && !crate::Protocol(protocol).has_ports() {
        return Ok(0);
    }
    int(field, text, "a port number 0..=65535")
}

/// Parses a direction: `in`/`out` as Alibaba writes them, `ingress`/`egress` too.
pub(crate) fn direction(field: &str, text: &str) -> Result<Direction, FieldError> {
    match text {
        "in" | "IN" | "ingress" | "INGRESS" => Ok(Direction::Ingress),
        "out" | "OUT" | "egress" | "EGRESS" => Ok(Direction::Egress),
        _ => Err(FieldError::new(field, text, "expected `in` or `out`")),
    }
}

/// Parses an action field.
pub(crate) fn action(field: &str, text: &str) -> Result<Logged, FieldError> {
    Logged::parse(text).ok_or_else(|| FieldError::new(field, text, "expected `ACCEPT` or `REJECT`"))
}

/// Parses a status field; an empty one means `OK` (exports that leave it out).
pub(crate) fn status(field: &str, text: &str) -> Result<Status, FieldError> {
    if text.is_empty() {
        return Ok(Status::Ok);
    }
    Status::parse(text).ok_or_else(|| FieldError::new(field, text, "expected `OK`, `NODATA` or `SKIPDATA`"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fast path gives what the standard parser gives, or leaves the text to it.
    #[test]
    fn dotted_quad_agrees_with_std() {
        let mut texts: Vec<String> = [
            "0.0.0.0",
            "255.255.255.255",
            "10.0.1.10",
            "1.2.3.4",
            "01.2.3.4",
            "1.2.3.04",
            "1.2.3.256",
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "1.2.3.4 ",
            " 1.2.3.4",
            "1..3.4",
            "1.2.3.",
            ".1.2.3",
            "1.2.3.4567",
            "1234.1.1.1",
            "a.b.c.d",
            "1.2.3.-4",
            "+1.2.3.4",
            "::1",
            "::ffff:1.2.3.4",
            "1.2.3.4/8",
            "00.0.0.0",
            "0.0.0.00",
            "999.999.999.999",
            "192.168.000.1",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        // Every octet spelling of 0..=300 with one to three digits, zero-padded or not.
        for v in 0..=300u32 {
            for t in [format!("{v}"), format!("{v:02}"), format!("{v:03}")] {
                texts.push(format!("{t}.1.{t}.9"));
            }
        }
        for t in &texts {
            let std: Option<Ipv4Addr> = t.parse().ok();
            match dotted_quad(t.as_bytes()) {
                Some(fast) => assert_eq!(Some(fast), std, "{t}"),
                None => {
                    // Left to the standard parser: only texts it alone can read, or none.
                    let all_digits = t.len() <= 15 && t.split('.').count() == 4;
                    if let (Some(_), true) = (std, all_digits) {
                        panic!("{t} is a plain dotted quad the fast path refused");
                    }
                }
            }
            assert_eq!(addr("srcaddr", t).ok(), t.parse::<IpAddr>().ok(), "{t}");
        }
    }
}
