//! Alibaba Cloud VPC flow logs as Log Service (SLS) exports them: CSV with a header row of
//! the field names, or JSON lines (one object per record, values as strings or numbers).
//!
//! The fields (Simple Log Service, "VPC flow log fields",
//! <https://www.alibabacloud.com/help/en/sls/vpc>): `__topic__` (`flow_log`), `version`,
//! `vswitch-id`, `vm-id`, `vpc-id`, `account-id`, `eni-id`, `region`, `srcaddr`, `srcport`,
//! `dstaddr`, `dstport`, `protocol` (IANA number), `direction` (`in`, `out`), `packets`,
//! `bytes`, `start`, `end` (Unix seconds), `log-status` (`OK`, `NODATA`, `SKIPDATA`),
//! `action` (`ACCEPT`, `REJECT`), `tcp-flags`, and optional `traffic_path`, `srctype`,
//! `dsttype`. Only the fields of [`super::table::Field`] are read; the others are ignored,
//! so the CSV reader is the table reader with the default [`super::table::ColumnMap`].

use serde_json::Value;

use super::record::{FieldError, Row};
use super::table::{self, ColumnMap, Field, Positions};

/// Positions for JSON objects: field `i` of [`Field::ALL`] is slot `i` of [`JsonRow`].
pub fn json_positions(map: &ColumnMap) -> Positions {
    let at: [Option<usize>; 13] = std::array::from_fn(Some);
    let names: [&str; 13] = Field::ALL.map(|f| map.name(f));
    Positions::fixed(at, names)
}

/// The fields of one JSON line, as text.
pub struct JsonRow {
    slots: [Option<String>; 13],
}

impl JsonRow {
    /// Reads one line's object and takes the mapped fields. `None` for a blank line.
    ///
    /// # Errors
    /// A line that is not a JSON object, or a field that is neither a string nor a number.
    pub fn parse(map: &ColumnMap, line: &str) -> Option<Result<JsonRow, FieldError>> {
        if line.trim().is_empty() {
            return None;
        }
        let object: serde_json::Map<String, Value> = match serde_json::from_str(line) {
            Ok(o) => o,
            Err(e) => {
                return Some(Err(FieldError::new(
                    "record",
                    line,
                    format!("not a JSON object: {e}"),
                )))
            }
        };
        let mut slots: [Option<String>; 13] = Default::default();
        for (i, field) in Field::ALL.into_iter().enumerate() {
            let name = map.name(field);
            slots[i] = match object.get(name) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(Value::Number(n)) => Some(n.to_string()),
                Some(other) => {
                    return Some(Err(FieldError::new(
                        name,
                        &other.to_string(),
                        "expected a string or a number",
                    )))
                }
            };
        }
        Some(Ok(JsonRow { slots }))
    }

    /// The row, borrowing the interface id from `self`.
    ///
    /// # Errors
    /// A field that cannot be read.
    pub fn row<'a>(&'a self, pos: &Positions) -> Result<Row<'a>, FieldError> {
        table::row(pos, |i| self.slots.get(i).and_then(|s| s.as_deref()))
    }
}
