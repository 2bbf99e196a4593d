//! Huawei Cloud VPC flow logs: one record per line, fourteen fields separated by spaces
//! (Huawei Cloud VPC user guide, "Viewing a VPC Flow Log", FlowLog_0004):
//!
//! ```text
//! <version> <project-id> <interface-id> <srcaddr> <dstaddr> <srcport> <dstport> <protocol> <packets> <bytes> <start> <end> <action> <log-status>
//! 1 5f67944957444bd6bb4fe3b367de8f3d 1d515d18-1b36-47dc-a983-bd6512aed4bd 192.168.0.154 192.168.3.25 38929 53 17 1 96 1548752136 1548752736 ACCEPT OK
//! 1 5f67944957444bd6bb4fe3b367de8f3d 1d515d18-1b36-47dc-a983-bd6512aed4bd - - - - - - - 1431280876 1431280934 - NODATA
//! ```
//!
//! There is no direction field: the record's direction at the interface is inferred from the
//! interface's own addresses (see [`super::place`]). `NODATA` and `SKIPDATA` rows carry `-`
//! in every traffic field.

use super::record::{FieldError, Row};
use super::table::{self, Positions};

/// The field names, in order.
pub const FIELDS: [&str; 14] = [
    "version",
    "project-id",
    "interface-id",
    "srcaddr",
    "dstaddr",
    "srcport",
    "dstport",
    "protocol",
    "packets",
    "bytes",
    "start",
    "end",
    "action",
    "log-status",
];

/// The positions of a Huawei record's fields.
pub fn positions() -> Positions {
    // The order of `table::Field::ALL`: interface, src, dst, sport, dport, protocol,
    // direction, packets, bytes, start, end, action, status.
    let at = [
        Some(2),
        Some(3),
        Some(4),
        Some(5),
        Some(6),
        Some(7),
        None,
        Some(8),
        Some(9),
        Some(10),
        Some(11),
        Some(12),
        Some(13),
    ];
    let names = [
        FIELDS[2],
        FIELDS[3],
        FIELDS[4],
        FIELDS[5],
        FIELDS[6],
        FIELDS[7],
        "direction",
        FIELDS[8],
        FIELDS[9],
        FIELDS[10],
        FIELDS[11],
        FIELDS[12],
        FIELDS[13],
    ];
    Positions::fixed(at, names)
}

/// Reads one line (without its line end). `None` for a blank line.
///
/// # Errors
/// A line without exactly fourteen fields, or a field that cannot be read.
pub fn parse<'a>(pos: &Positions, line: &'a str) -> Option<Result<Row<'a>, FieldError>> {
    if line.trim().is_empty() {
        return None;
    }
    let mut fields: [&str; 14] = [""; 14];
    let mut n = 0;
    for f in line.split_ascii_whitespace() {
        if n < 14 {
            fields[n] = f;
        }
        n += 1;
    }
    if n != 14 {
        return Some(Err(FieldError::new(
            "record",
            line,
            format!(
                "expected 14 space-separated fields ({}), found {n}",
                FIELDS.join(" ")
            ),
        )));
    }
    Some(table::row(pos, |i| fields.get(i).copied()))
}
