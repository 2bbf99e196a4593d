//! One flow-log record as every reader gives it, whatever the provider's format.

use std::fmt;
use std::net::IpAddr;
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

/// Parses an address field.
pub(crate) fn addr(field: &str, text: &str) -> Result<IpAddr, FieldError> {
    text.parse()
        .map_err(|_| FieldError::new(field, text, "expected an IPv4 or IPv6 address"))
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
