//! Logs already in a table (CSV with a header, Parquet, Arrow batches): which column holds
//! which field, and reading one row from its fields.

use std::fmt;

use super::record::{self, FieldError, FlowRecord, Row, Status};

/// A field of a flow record, whatever the column is called.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Field {
    /// ENI or port id (`eni-id`).
    Interface,
    /// Source address (`srcaddr`).
    Src,
    /// Destination address (`dstaddr`).
    Dst,
    /// Source port (`srcport`).
    SrcPort,
    /// Destination port (`dstport`).
    DstPort,
    /// IANA protocol number (`protocol`).
    Protocol,
    /// `in` or `out` (`direction`).
    Direction,
    /// Packet count (`packets`).
    Packets,
    /// Byte count (`bytes`).
    Bytes,
    /// Window start, Unix seconds (`start`).
    Start,
    /// Window end, Unix seconds (`end`).
    End,
    /// `ACCEPT` or `REJECT` (`action`).
    Action,
    /// `OK`, `NODATA` or `SKIPDATA` (`log-status`).
    Status,
}

impl Field {
    /// Every field, in the order of [`ColumnMap`]'s slots.
    pub const ALL: [Field; 13] = [
        Field::Interface,
        Field::Src,
        Field::Dst,
        Field::SrcPort,
        Field::DstPort,
        Field::Protocol,
        Field::Direction,
        Field::Packets,
        Field::Bytes,
        Field::Start,
        Field::End,
        Field::Action,
        Field::Status,
    ];

    /// The name `--columns` uses for the field.
    pub fn key(self) -> &'static str {
        match self {
            Field::Interface => "interface",
            Field::Src => "src",
            Field::Dst => "dst",
            Field::SrcPort => "sport",
            Field::DstPort => "dport",
            Field::Protocol => "protocol",
            Field::Direction => "direction",
            Field::Packets => "packets",
            Field::Bytes => "bytes",
            Field::Start => "start",
            Field::End => "end",
            Field::Action => "action",
            Field::Status => "status",
        }
    }

    /// The Alibaba Cloud flow-log field name, the default column name.
    pub fn alibaba_name(self) -> &'static str {
        match self {
            Field::Interface => "eni-id",
            Field::Src => "srcaddr",
            Field::Dst => "dstaddr",
            Field::SrcPort => "srcport",
            Field::DstPort => "dstport",
            Field::Protocol => "protocol",
            Field::Direction => "direction",
            Field::Packets => "packets",
            Field::Bytes => "bytes",
            Field::Start => "start",
            Field::End => "end",
            Field::Action => "action",
            Field::Status => "log-status",
        }
    }

    /// Whether a table must have the field: the addresses, ports, protocol and action.
    /// Without `interface` records are placed by address; without `direction` the direction
    /// is inferred from the interface's addresses; counts default to 0, times to 0 (every
    /// record in one window), status to `OK`.
    pub fn required(self) -> bool {
        matches!(
            self,
            Field::Src | Field::Dst | Field::SrcPort | Field::DstPort | Field::Protocol | Field::Action
        )
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Which column holds each field, by column name. The default is Alibaba Cloud's field
/// names (`eni-id`, `srcaddr`, ..., `log-status`), as Log Service exports them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnMap {
    names: [String; 13],
}

impl Default for ColumnMap {
    fn default() -> Self {
        ColumnMap {
            names: Field::ALL.map(|f| f.alibaba_name().to_owned()),
        }
    }
}

/// A `--columns` text that could not be read, or a table without a required column.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ColumnError {
    /// An entry not of the form `field=column` or naming no known field.
    #[error(
        "`--columns` entry `{0}`: expected FIELD=COLUMN with FIELD one of interface, src, dst, \
         sport, dport, protocol, direction, packets, bytes, start, end, action, status"
    )]
    Entry(String),
    /// A required field's column is not in the table.
    #[error("no column `{column}` for field `{field}` (columns present: {present}); map it with `--columns {field}=NAME`")]
    Missing {
        /// The field's `--columns` key.
        field: &'static str,
        /// The column looked for.
        column: String,
        /// The table's columns.
        present: String,
    },
}

impl ColumnMap {
    /// The default names with `field=column` pairs (comma separated) applied over them.
    ///
    /// # Errors
    /// An entry that is not `field=column` with a known field.
    pub fn parse(text: &str) -> Result<ColumnMap, ColumnError> {
        let mut map = ColumnMap::default();
        for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let (key, column) = entry
                .split_once('=')
                .ok_or_else(|| ColumnError::Entry(entry.to_owned()))?;
            let field = Field::ALL
                .into_iter()
                .find(|f| f.key() == key.trim())
                .ok_or_else(|| ColumnError::Entry(entry.to_owned()))?;
            map.names[field.index()] = column.trim().to_owned();
        }
        Ok(map)
    }

    /// The column name of a field.
    pub fn name(&self, field: Field) -> &str {
        &self.names[field.index()]
    }

    /// Finds each field's column among `header`.
    ///
    /// # Errors
    /// A required field whose column is not there.
    pub fn resolve<'h>(
        &self,
        header: impl IntoIterator<Item = &'h str> + Clone,
    ) -> Result<Positions, ColumnError> {
        let mut at = [None; 13];
        for field in Field::ALL {
            let name = self.name(field);
            at[field.index()] = header.clone().into_iter().position(|h| h.trim() == name);
            if at[field.index()].is_none() && field.required() {
                return Err(ColumnError::Missing {
                    field: field.key(),
                    column: name.to_owned(),
                    present: header
                        .into_iter()
                        .map(|h| format!("`{h}`"))
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        Ok(Positions {
            at,
            names: self.names.clone(),
        })
    }
}

/// Each field's column position in one table, with the names errors use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Positions {
    at: [Option<usize>; 13],
    names: [String; 13],
}

impl Positions {
    /// Fixed positions (a format without a header), named as given.
    pub(crate) fn fixed(at: [Option<usize>; 13], names: [&str; 13]) -> Positions {
        Positions {
            at,
            names: names.map(str::to_owned),
        }
    }

    /// The column of a field, if the table has it.
    pub fn column(&self, field: Field) -> Option<usize> {
        self.at[field.index()]
    }

    /// The name errors give a field.
    pub fn name(&self, field: Field) -> &str {
        &self.names[field.index()]
    }
}

impl fmt::Display for Positions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = Field::ALL
            .iter()
            .filter_map(|&fl| self.column(fl).map(|c| format!("{}={}", fl.key(), c)))
            .collect();
        f.write_str(&parts.join(","))
    }
}

/// Reads one row from its fields, `get(column)` giving a column's text.
pub(crate) fn row<'a>(
    pos: &Positions,
    get: impl Fn(usize) -> Option<&'a str>,
) -> Result<Row<'a>, FieldError> {
    let text = |field: Field| pos.column(field).and_then(&get);
    let required = |field: Field| -> Result<&'a str, FieldError> {
        text(field).ok_or_else(|| FieldError::new(pos.name(field), "", "missing field"))
    };
    let name = |field: Field| pos.name(field);
    let status = match text(Field::Status) {
        Some(t) => record::status(name(Field::Status), t.trim())?,
        None => Status::Ok,
    };
    if status != Status::Ok {
        return Ok(Row::Status(status));
    }
    let protocol = int(
        name(Field::Protocol),
        required(Field::Protocol)?,
        "an IANA protocol number 0..=255",
    )?;
    let counter = |field: Field| -> Result<u64, FieldError> {
        match text(field) {
            Some(t) => int(name(field), t, "a non-negative integer"),
            None => Ok(0),
        }
    };
    Ok(Row::Flow(FlowRecord {
        interface: text(Field::Interface)
            .map(str::trim)
            .filter(|t| !t.is_empty() && *t != "-"),
        src: record::addr(name(Field::Src), required(Field::Src)?.trim())?,
        dst: record::addr(name(Field::Dst), required(Field::Dst)?.trim())?,
        src_port: record::port(name(Field::SrcPort), required(Field::SrcPort)?.trim(), protocol)?,
        dst_port: record::port(name(Field::DstPort), required(Field::DstPort)?.trim(), protocol)?,
        protocol,
        direction: match text(Field::Direction) {
            Some(t) => Some(record::direction(name(Field::Direction), t.trim())?),
            None => None,
        },
        packets: counter(Field::Packets)?,
        bytes: counter(Field::Bytes)?,
        start: counter(Field::Start)?,
        end: counter(Field::End)?,
        action: record::action(name(Field::Action), required(Field::Action)?.trim())?,
    }))
}

fn int<T: std::str::FromStr>(field: &str, text: &str, what: &str) -> Result<T, FieldError> {
    record::int(field, text.trim(), what)
}
