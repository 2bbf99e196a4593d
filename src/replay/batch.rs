//! Columnar evaluation: an Arrow [`RecordBatch`] of flow records judged against the compiled
//! engine, with per-row verdict and rule columns, into a mergeable [`Accumulator`].
//!
//! This is the entry point for Spark's `mapInArrow` (through the Python package): each
//! partition calls [`evaluate_record_batch`] on its batches with its own accumulator,
//! ships the accumulator back ([`Accumulator::to_json`]), and the driver merges them and
//! calls [`Accumulator::finish`]: the same report as `sgeval replay` on the same records,
//! whatever the partitioning, because connection state is settled only after the merge.
//!
//! Columns are found by name through a [`ColumnMap`] (default: Alibaba Cloud's field
//! names). Addresses, interface, direction, action and status are strings (`Utf8` or
//! `LargeUtf8`); numbers are any integer type or strings.

use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{BooleanBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{
    Int16Type, Int32Type, Int64Type, Int8Type, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field as ArrowField, Schema};

use crate::flow;
use crate::group::EndpointKey;
use crate::rule::Direction;

use super::record::{self, BadRow, FieldError, FlowRecord, Location, Logged, Row, Status};
use super::table::{ColumnError, ColumnMap, Field};
use super::{Accumulator, Outcome, Replayer};

/// One column, read as its type allows.
#[derive(Clone, Copy)]
enum Col<'a> {
    Absent,
    Str(&'a arrow_array::StringArray),
    LargeStr(&'a arrow_array::LargeStringArray),
    View(&'a arrow_array::StringViewArray),
    I8(&'a arrow_array::Int8Array),
    I16(&'a arrow_array::Int16Array),
    I32(&'a arrow_array::Int32Array),
    I64(&'a arrow_array::Int64Array),
    U8(&'a arrow_array::UInt8Array),
    U16(&'a arrow_array::UInt16Array),
    U32(&'a arrow_array::UInt32Array),
    U64(&'a arrow_array::UInt64Array),
    /// Strings as a dictionary (Parquet's encoding of repeated strings, kept as it is):
    /// the keys, and the values they index.
    Dict(&'a arrow_array::Int32Array, &'a arrow_array::StringArray),
}

/// A value of a column at a row.
enum Cell<'a> {
    Null,
    Text(&'a str),
    Int(i128),
}

impl<'a> Col<'a> {
    fn of(array: &'a ArrayRef) -> Option<Col<'a>> {
        Some(match array.data_type() {
            DataType::Utf8 => Col::Str(array.as_string::<i32>()),
            DataType::LargeUtf8 => Col::LargeStr(array.as_string::<i64>()),
            DataType::Utf8View => Col::View(array.as_string_view()),
            DataType::Int8 => Col::I8(array.as_primitive::<Int8Type>()),
            DataType::Int16 => Col::I16(array.as_primitive::<Int16Type>()),
            DataType::Int32 => Col::I32(array.as_primitive::<Int32Type>()),
            DataType::Int64 => Col::I64(array.as_primitive::<Int64Type>()),
            DataType::UInt8 => Col::U8(array.as_primitive::<UInt8Type>()),
            DataType::UInt16 => Col::U16(array.as_primitive::<UInt16Type>()),
            DataType::UInt32 => Col::U32(array.as_primitive::<UInt32Type>()),
            DataType::UInt64 => Col::U64(array.as_primitive::<UInt64Type>()),
            DataType::Dictionary(key, value) if **key == DataType::Int32 && **value == DataType::Utf8 => {
                let dict = array.as_dictionary::<Int32Type>();
                Col::Dict(dict.keys(), dict.values().as_string::<i32>())
            }
            _ => return None,
        })
    }

    #[inline]
    fn cell(&self, i: usize) -> Cell<'a> {
        macro_rules! get {
            ($a:expr, $wrap:expr) => {
                if $a.is_null(i) {
                    Cell::Null
                } else {
                    $wrap($a.value(i))
                }
            };
        }
        match *self {
            Col::Absent => Cell::Null,
            Col::Str(a) => get!(a, Cell::Text),
            Col::LargeStr(a) => get!(a, Cell::Text),
            Col::View(a) => get!(a, Cell::Text),
            Col::I8(a) => get!(a, |v| Cell::Int(i128::from(v))),
            Col::I16(a) => get!(a, |v| Cell::Int(i128::from(v))),
            Col::I32(a) => get!(a, |v| Cell::Int(i128::from(v))),
            Col::I64(a) => get!(a, |v| Cell::Int(i128::from(v))),
            Col::U8(a) => get!(a, |v| Cell::Int(i128::from(v))),
            Col::U16(a) => get!(a, |v| Cell::Int(i128::from(v))),
            Col::U32(a) => get!(a, |v| Cell::Int(i128::from(v))),
            Col::U64(a) => get!(a, |v| Cell::Int(i128::from(v))),
            Col::Dict(keys, values) => match usize::try_from(keys.value(i)) {
                Ok(k) if !keys.is_null(i) && k < values.len() && !values.is_null(k) => {
                    Cell::Text(values.value(k))
                }
                _ => Cell::Null,
            },
        }
    }
}

/// A dictionary column's values read once: per value, the field it holds (`None` when it
/// does not hold one; such rows are read one by one, for their error).
struct Parsed<'a, T> {
    keys: &'a arrow_array::Int32Array,
    values: Vec<Option<T>>,
}

impl<'a, T: Copy> Parsed<'a, T> {
    /// Reads each value of `col`'s dictionary with `read`, when `col` is a dictionary.
    fn of(col: Col<'a>, read: impl Fn(&str) -> Option<T>) -> Option<Parsed<'a, T>> {
        match col {
            Col::Dict(keys, values) => Some(Parsed {
                keys,
                values: (0..values.len())
                    .map(|k| {
                        (!values.is_null(k))
                            .then(|| read(record::trim(values.value(k))))
                            .flatten()
                    })
                    .collect(),
            }),
            _ => None,
        }
    }

    #[inline]
    fn get(&self, i: usize) -> Option<T> {
        if self.keys.is_null(i) {
            return None;
        }
        usize::try_from(self.keys.value(i))
            .ok()
            .and_then(|k| self.values.get(k).copied().flatten())
    }
}

/// A batch's columns, found by a [`ColumnMap`].
pub struct BatchColumns<'a> {
    cols: [Col<'a>; 13],
    names: [String; 13],
    rows: usize,
    status: Option<Parsed<'a, Status>>,
    action: Option<Parsed<'a, Logged>>,
    direction: Option<Parsed<'a, Direction>>,
    /// Per numeric field, its integer column's values, when it has no null.
    nums: [Option<Ints<'a>>; 13],
    /// The source and destination addresses read ahead ([`addresses`]).
    addrs: [Option<Vec<Option<IpAddr>>>; 2],
    /// The integer fields read ahead, when every field of a row can be taken by
    /// [`BatchColumns::fast`].
    flat: Option<Flat>,
    /// An interface column's dictionary values, trimmed (`None` for a null, empty or `-`
    /// one), when it is a dictionary.
    interfaces: Option<Vec<Option<&'a str>>>,
}

/// An integer column without nulls, as the slice of its values: read per row without the
/// null check and the dispatch of [`Col::cell`] (nor a copy of the column).
#[derive(Clone, Copy)]
enum Ints<'a> {
    I8(&'a [i8]),
    I16(&'a [i16]),
    I32(&'a [i32]),
    I64(&'a [i64]),
    U8(&'a [u8]),
    U16(&'a [u16]),
    U32(&'a [u32]),
    U64(&'a [u64]),
}

impl<'a> Ints<'a> {
    /// The values of an integer column, when it has no null.
    fn of(col: Col<'a>) -> Option<Ints<'a>> {
        macro_rules! all {
            ($a:expr, $v:ident) => {
                ($a.null_count() == 0).then(|| Ints::$v($a.values()))
            };
        }
        match col {
            Col::I8(a) => all!(a, I8),
            Col::I16(a) => all!(a, I16),
            Col::I32(a) => all!(a, I32),
            Col::I64(a) => all!(a, I64),
            Col::U8(a) => all!(a, U8),
            Col::U16(a) => all!(a, U16),
            Col::U32(a) => all!(a, U32),
            Col::U64(a) => all!(a, U64),
            _ => None,
        }
    }

    /// Every value as `u64` in one pass, [`Flat::NONE`] for a negative one.
    fn fill(self) -> Vec<u64> {
        macro_rules! signed {
            ($v:expr) => {
                $v.iter()
                    .map(|&x| u64::try_from(x).unwrap_or(Flat::NONE))
                    .collect()
            };
        }
        match self {
            Ints::I8(v) => signed!(v),
            Ints::I16(v) => signed!(v),
            Ints::I32(v) => signed!(v),
            Ints::I64(v) => signed!(v),
            Ints::U8(v) => v.iter().map(|&x| u64::from(x)).collect(),
            Ints::U16(v) => v.iter().map(|&x| u64::from(x)).collect(),
            Ints::U32(v) => v.iter().map(|&x| u64::from(x)).collect(),
            Ints::U64(v) => v.to_vec(),
        }
    }

    /// Row `i`'s value as `u64`; `None` when it is negative (or past the column).
    #[inline]
    fn get(self, i: usize) -> Option<u64> {
        match self {
            Ints::I8(v) => v.get(i).and_then(|&x| u64::try_from(x).ok()),
            Ints::I16(v) => v.get(i).and_then(|&x| u64::try_from(x).ok()),
            Ints::I32(v) => v.get(i).and_then(|&x| u64::try_from(x).ok()),
            Ints::I64(v) => v.get(i).and_then(|&x| u64::try_from(x).ok()),
            Ints::U8(v) => v.get(i).map(|&x| u64::from(x)),
            Ints::U16(v) => v.get(i).map(|&x| u64::from(x)),
            Ints::U32(v) => v.get(i).map(|&x| u64::from(x)),
            Ints::U64(v) => v.get(i).copied(),
        }
    }
}

/// The integer fields of a batch whose every field [`BatchColumns::fast`] can take, read
/// ahead in one pass per column (a loop over a slice of one type, not a dispatch per row).
struct Flat {
    /// Protocol, source port, destination port, packets, bytes, start, end: per row the
    /// value, [`Flat::NONE`] where it is negative (an absent counter column reads 0).
    ints: [Vec<u64>; 7],
}

impl Flat {
    /// Not a value ([`BatchColumns::row`] then reads the row field by field: a `u64` column
    /// holding this value gets it there).
    const NONE: u64 = u64::MAX;

    /// The fields of [`Flat::ints`], in order.
    const FIELDS: [Field; 7] = [
        Field::Protocol,
        Field::SrcPort,
        Field::DstPort,
        Field::Packets,
        Field::Bytes,
        Field::Start,
        Field::End,
    ];
}

/// An address column read ahead, in one pass over the batch: per row the address, `None`
/// where there is none or the text is not one (that row is then read again through
/// [`Col::cell`], which gives its error). A dictionary's values are parsed once each; a
/// string-view column (how `sgeval replay` reads Parquet strings that are not all
/// dictionary-encoded) remembers its recent values by view: a view of up to 12 bytes holds
/// the string itself, a longer one its buffer and offset, so an equal view is the same
/// text, and a repeated address (an endpoint's own, on every record it captures) is parsed
/// once per batch, not per row. Other columns give `None`: their rows are read one by one.
fn addresses(col: Col<'_>, rows: usize) -> Option<Vec<Option<IpAddr>>> {
    // The dotted quad first: no error to build for the common case.
    let parse = |t: &str| match record::dotted_quad(t.as_bytes()) {
        Some(v4) => Some(IpAddr::V4(v4)),
        None => record::addr("", record::trim(t)).ok(),
    };
    match col {
        Col::Dict(keys, values) if values.len() <= rows.max(64) => {
            let parsed: Vec<Option<IpAddr>> = (0..values.len())
                .map(|k| (!values.is_null(k)).then(|| parse(values.value(k))).flatten())
                .collect();
            Some(
                (0..keys.len())
                    .map(|i| {
                        if keys.is_null(i) {
                            return None;
                        }
                        usize::try_from(keys.value(i))
                            .ok()
                            .and_then(|k| parsed.get(k).copied().flatten())
                    })
                    .collect(),
            )
        }
        Col::View(a) => {
            /// Slots of the cache of recent views (direct-mapped).
            const SLOTS: usize = 1024;
            let mut cache = vec![None::<(u128, Option<IpAddr>)>; SLOTS];
            let views = a.views();
            Some(
                (0..a.len())
                    .map(|i| {
                        if a.is_null(i) {
                            return None;
                        }
                        let view = views[i];
                        let h = ((view as u64) ^ ((view >> 64) as u64)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                        let slot = &mut cache[(h >> 54) as usize % SLOTS];
                        match *slot {
                            Some((v, ip)) if v == view => ip,
                            _ => {
                                let ip = parse(a.value(i));
                                *slot = Some((view, ip));
                                ip
                            }
                        }
                    })
                    .collect(),
            )
        }
        _ => None,
    }
}

impl<'a> BatchColumns<'a> {
    /// Finds each field's column in `batch`.
    ///
    /// # Errors
    /// A required column missing, or a column of a type that cannot hold its field.
    pub fn new(batch: &'a RecordBatch, map: &ColumnMap) -> Result<BatchColumns<'a>, ColumnError> {
        let schema = batch.schema();
        let present = || {
            schema
                .fields()
                .iter()
                .map(|f| format!("`{}`", f.name()))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut cols = [Col::Absent; 13];
        for (i, field) in Field::ALL.into_iter().enumerate() {
            let name = map.name(field);
            match schema.index_of(name) {
                Ok(at) => {
                    cols[i] = Col::of(batch.column(at)).ok_or_else(|| {
                        ColumnError::Entry(format!(
                            "{}={name}: column of type {} (expected strings or integers)",
                            field.key(),
                            batch.column(at).data_type()
                        ))
                    })?;
                }
                Err(_) if field.required() => {
                    return Err(ColumnError::Missing {
                        field: field.key(),
                        column: name.to_owned(),
                        present: present(),
                    })
                }
                Err(_) => {}
            }
        }
        let small = |c: Col<'a>| match c {
            // Read a dictionary's values ahead only when there are fewer than rows.
            Col::Dict(_, values) if values.len() <= batch.num_rows().max(64) => c,
            _ => Col::Absent,
        };
        let mut columns = BatchColumns {
            status: Parsed::of(small(cols[Field::Status as usize]), |t| {
                record::status("", t).ok()
            }),
            action: Parsed::of(small(cols[Field::Action as usize]), Logged::parse),
            direction: Parsed::of(small(cols[Field::Direction as usize]), |t| {
                record::direction("", t).ok()
            }),
            nums: Field::ALL.map(|f| match f {
                Field::Protocol
                | Field::SrcPort
                | Field::DstPort
                | Field::Packets
                | Field::Bytes
                | Field::Start
                | Field::End => Ints::of(cols[f as usize]),
                _ => None,
            }),
            addrs: [Field::Src, Field::Dst].map(|f| addresses(cols[f as usize], batch.num_rows())),
            flat: None,
            interfaces: match cols[Field::Interface as usize] {
                Col::Dict(_, values) if values.len() <= batch.num_rows().max(64) => Some(
                    (0..values.len())
                        .map(|k| {
                            (!values.is_null(k))
                                .then(|| record::trim(values.value(k)))
                                .filter(|t| !t.is_empty() && *t != "-")
                        })
                        .collect(),
                ),
                _ => None,
            },
            cols,
            names: Field::ALL.map(|f| map.name(f).to_owned()),
            rows: batch.num_rows(),
        };
        columns.flat = columns.flatten();
        Ok(columns)
    }

    /// [`Flat`], when [`BatchColumns::fast`] can take every field: status, action and
    /// direction read once per dictionary value (status and direction may be absent),
    /// addresses read ahead, integers in integer columns without nulls (counters may be
    /// absent), the interface absent or a string column.
    fn flatten(&self) -> Option<Flat> {
        let absent = |f: Field| matches!(self.cols[f as usize], Col::Absent);
        let ready = (self.status.is_some() || absent(Field::Status))
            && self.action.is_some()
            && (self.direction.is_some() || absent(Field::Direction))
            && self.addrs.iter().all(Option::is_some)
            && matches!(
                self.cols[Field::Interface as usize],
                Col::Absent | Col::Str(_) | Col::LargeStr(_) | Col::View(_) | Col::Dict(..)
            );
        if !ready {
            return None;
        }
        let mut ints: [Vec<u64>; 7] = Default::default();
        for (out, f) in ints.iter_mut().zip(Flat::FIELDS) {
            *out = match self.nums[f as usize] {
                Some(v) => v.fill(),
                None if absent(f) && !f.required() => vec![0; self.rows],
                None => return None,
            };
        }
        Some(Flat { ints })
    }

    /// Rows in the batch.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// Whether the batch has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The interface column's dictionary, when it is one: its values, and per row the key
    /// (placement is then looked up once per value, not per row).
    fn interface_dict(&self) -> Option<(&'a arrow_array::Int32Array, &'a arrow_array::StringArray)> {
        match self.cols[Field::Interface as usize] {
            Col::Dict(keys, values) => Some((keys, values)),
            _ => None,
        }
    }

    #[inline]
    fn cell(&self, field: Field, i: usize) -> Cell<'a> {
        self.cols[field as usize].cell(i)
    }

    #[inline]
    fn name(&self, field: Field) -> &str {
        &self.names[field as usize]
    }

    #[inline]
    fn text(&self, field: Field, i: usize) -> Result<Option<&'a str>, FieldError> {
        match self.cell(field, i) {
            Cell::Null => Ok(None),
            Cell::Text(t) => Ok(Some(t)),
            Cell::Int(v) => Err(FieldError::new(
                self.name(field),
                &v.to_string(),
                "expected a string column",
            )),
        }
    }

    /// A numeric field's value from its integer column without nulls, when it is not
    /// negative and fits `T` (otherwise the row is read through [`Col::cell`], for its error).
    #[inline]
    fn num<T: TryFrom<u64>>(&self, field: Field, i: usize) -> Option<T> {
        self.nums[field as usize]
            .and_then(|v| v.get(i))
            .and_then(|v| T::try_from(v).ok())
    }

    #[inline]
    fn int<T: TryFrom<i128> + TryFrom<u64> + std::str::FromStr>(
        &self,
        field: Field,
        i: usize,
        what: &str,
        default: Option<T>,
    ) -> Result<T, FieldError> {
        if let Some(v) = self.num(field, i) {
            return Ok(v);
        }
        match self.cell(field, i) {
            Cell::Null => default.ok_or_else(|| FieldError::new(self.name(field), "", "missing field")),
            Cell::Int(v) => T::try_from(v)
                .map_err(|_| FieldError::new(self.name(field), &v.to_string(), format!("expected {what}"))),
            Cell::Text(t) => record::int(self.name(field), record::trim(t), what),
        }
    }

    #[inline]
    fn addr(&self, field: Field, i: usize) -> Result<IpAddr, FieldError> {
        let ahead = match field {
            Field::Src => &self.addrs[0],
            _ => &self.addrs[1],
        };
        if let Some(Some(ip)) = ahead.as_ref().and_then(|v| v.get(i)) {
            return Ok(*ip);
        }
        match self.text(field, i)? {
            Some(t) => record::addr(self.name(field), record::trim(t)),
            None => Err(FieldError::new(self.name(field), "", "missing field")),
        }
    }

    #[inline]
    fn port(&self, field: Field, i: usize, protocol: u8) -> Result<u16, FieldError> {
        if let Some(v) = self.num(field, i) {
            return Ok(v);
        }
        let what = "a port number 0..=65535";
        match self.cell(field, i) {
            Cell::Text(t) => record::port(self.name(field), record::trim(t), protocol),
            Cell::Int(v) => u16::try_from(v)
                .map_err(|_| FieldError::new(self.name(field), &v.to_string(), format!("expected {what}"))),
            Cell::Null if !crate::Protocol(protocol).has_ports() => Ok(0),
            Cell::Null => Err(FieldError::new(self.name(field), "", "missing field")),
        }
    }

    /// Row `i` as a record of traffic when every field of it was read ahead (dictionary
    /// values parsed once, integer columns without nulls, addresses of [`addresses`]) and
    /// holds a value: no per-row dispatch on column types, no error to build. `None` for a
    /// status row, a field not read ahead, or one that does not hold its value:
    /// [`BatchColumns::row`] then reads the row field by field, the same values or the
    /// row's error.
    #[inline]
    fn fast(&self, i: usize) -> Option<FlowRecord<'a>> {
        let flat = self.flat.as_ref()?;
        // `flat` is there only when status and direction are read once per dictionary value
        // or absent, and the action and addresses are read ahead.
        let status = match &self.status {
            Some(p) => p.get(i)?,
            None => Status::Ok,
        };
        if status != Status::Ok {
            return None;
        }
        let [protocol, src_port, dst_port, packets, bytes, start, end] = flat
            .ints
            .each_ref()
            .map(|v| v.get(i).copied().unwrap_or(Flat::NONE));
        if protocol > 255
            || src_port > 65535
            || dst_port > 65535
            || [packets, bytes, start, end].contains(&Flat::NONE)
        {
            return None;
        }
        let action = self.action.as_ref()?.get(i)?;
        let src = (*self.addrs[0].as_ref()?.get(i)?)?;
        let dst = (*self.addrs[1].as_ref()?.get(i)?)?;
        let direction = match &self.direction {
            Some(p) => Some(p.get(i)?),
            None => None,
        };
        let interface = match (&self.interfaces, self.cols[Field::Interface as usize]) {
            // As `Col::cell` reads a dictionary: a null or unknown key is no interface.
            (Some(names), Col::Dict(keys, _)) => match usize::try_from(keys.value(i)) {
                Ok(k) if !keys.is_null(i) => names.get(k).copied().flatten(),
                _ => None,
            },
            _ => match self.cell(Field::Interface, i) {
                Cell::Null => None,
                Cell::Text(t) => Some(record::trim(t)).filter(|t| !t.is_empty() && *t != "-"),
                Cell::Int(_) => return None,
            },
        };
        Some(FlowRecord {
            interface,
            src,
            dst,
            src_port: src_port as u16,
            dst_port: dst_port as u16,
            protocol: protocol as u8,
            direction,
            packets,
            bytes,
            start,
            end,
            action,
        })
    }

    /// Row `i` as a flow-log row.
    ///
    /// # Errors
    /// A field that cannot be read, named by its column.
    #[inline]
    pub fn row(&self, i: usize) -> Result<Row<'a>, FieldError> {
        if let Some(r) = self.fast(i) {
            return Ok(Row::Flow(r));
        }
        // Dictionary columns give their value read once; others are read here.
        let status = match self.status.as_ref().and_then(|p| p.get(i)) {
            Some(s) => s,
            None => match self.text(Field::Status, i)? {
                Some(t) => record::status(self.name(Field::Status), record::trim(t))?,
                None => Status::Ok,
            },
        };
        if status != Status::Ok {
            return Ok(Row::Status(status));
        }
        let protocol: u8 = self.int(Field::Protocol, i, "an IANA protocol number 0..=255", None)?;
        let action = match self.action.as_ref().and_then(|p| p.get(i)) {
            Some(a) => a,
            None => match self.text(Field::Action, i)? {
                Some(t) => record::action(self.name(Field::Action), record::trim(t))?,
                None => return Err(FieldError::new(self.name(Field::Action), "", "missing field")),
            },
        };
        Ok(Row::Flow(FlowRecord {
            interface: self
                .text(Field::Interface, i)?
                .map(record::trim)
                .filter(|t| !t.is_empty() && *t != "-"),
            src: self.addr(Field::Src, i)?,
            dst: self.addr(Field::Dst, i)?,
            src_port: self.port(Field::SrcPort, i, protocol)?,
            dst_port: self.port(Field::DstPort, i, protocol)?,
            protocol,
            direction: match self.direction.as_ref().and_then(|p| p.get(i)) {
                Some(d) => Some(d),
                None => match self.text(Field::Direction, i)? {
                    Some(t) => Some(record::direction(self.name(Field::Direction), record::trim(t))?),
                    None => None,
                },
            },
            packets: self.int(Field::Packets, i, "a non-negative integer", Some(0))?,
            bytes: self.int(Field::Bytes, i, "a non-negative integer", Some(0))?,
            start: self.int(Field::Start, i, "a non-negative integer", Some(0))?,
            end: self.int(Field::End, i, "a non-negative integer", Some(0))?,
            action,
        }))
    }
}

/// Why a batch could not be judged.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    /// The batch lacks a column, or has one of the wrong type.
    #[error(transparent)]
    Columns(#[from] ColumnError),
    /// A malformed row (without `skip_bad`).
    #[error(transparent)]
    Bad(#[from] BadRow),
}

/// Judges every row of `columns` into `acc`, rows numbered from `first_row` (0-based) in
/// `file` for error messages. Malformed rows stop it unless `skip_bad`, which counts them.
///
/// # Errors
/// The first malformed row, without `skip_bad`.
pub fn judge_columns(
    replayer: &Replayer<'_>,
    columns: &BatchColumns<'_>,
    acc: &mut Accumulator,
    file: &Path,
    first_row: u64,
    skip_bad: bool,
    mut each: impl FnMut(usize, Result<Option<Outcome>, ()>),
) -> Result<(), BadRow> {
    // Per interface dictionary value: its endpoint by name, looked up on first use.
    let dict = columns
        .interface_dict()
        .filter(|(_, values)| values.len() <= columns.len().max(1024));
    let mut known: Vec<Option<Option<EndpointKey>>> = vec![None; dict.map_or(0, |(_, v)| v.len())];
    let base = replayer.base().cloud();
    let mut flow = |i: usize, r: &FlowRecord<'_>, acc: &mut Accumulator| {
        let by_name = match (dict, r.interface) {
            (Some((keys, _)), Some(name)) => {
                // INVARIANT: a row with an interface has a valid key (`Col::cell`).
                let k = keys.value(i) as usize;
                Some(*known[k].get_or_insert_with(|| base.endpoint_by_name(name)))
            }
            _ => None,
        };
        replayer.judge_flow_named(r, by_name, acc)
    };
    for i in 0..columns.len() {
        // The common row first, without wrapping it in a `Row` and a `Result`.
        if let Some(r) = columns.fast(i) {
            let out = flow(i, &r, acc);
            each(i, Ok(Some(out)));
            continue;
        }
        match columns.row(i) {
            Ok(Row::Flow(r)) => {
                let out = flow(i, &r, acc);
                each(i, Ok(Some(out)));
            }
            Ok(row) => each(i, Ok(replayer.judge(&row, acc))),
            Err(error) => {
                let bad = BadRow {
                    location: Location {
                        file: file.to_owned(),
                        line: first_row + i as u64 + 1,
                    },
                    error,
                };
                if !skip_bad {
                    return Err(bad);
                }
                acc.skipped(bad);
                each(i, Err(()));
            }
        }
    }
    Ok(())
}

/// Judges an Arrow batch into `acc` and returns per-row columns beside it:
///
/// - `sgeval_status`: `judged`, `pending` (denied as new, may be an established reply: the
///   report settles it), `unplaced:<reason>`, `undetermined`, `nodata`, `skipdata`, `bad`;
/// - `sgeval_verdict`, `sgeval_rule` (as [`crate::flow::label`]): the base configuration's
///   decision as a new connection (null when not judged);
/// - with a configuration to compare against, `sgeval_against_verdict` and
///   `sgeval_against_rule`;
/// - `sgeval_agrees`: whether the logged action matches `sgeval_verdict`.
///
/// # Errors
/// A missing column; a malformed row unless `skip_bad`.
pub fn evaluate_record_batch(
    replayer: &Replayer<'_>,
    batch: &RecordBatch,
    map: &ColumnMap,
    acc: &mut Accumulator,
    skip_bad: bool,
) -> Result<RecordBatch, BatchError> {
    let columns = BatchColumns::new(batch, map)?;
    let n = columns.len();
    let base_cloud = replayer.base().cloud();
    let new_cloud = replayer.against().map(|a| a.cloud());
    let mut status = StringBuilder::with_capacity(n, n * 8);
    let mut verdict = StringBuilder::with_capacity(n, n * 5);
    let mut rule = StringBuilder::with_capacity(n, n * 24);
    let mut a_verdict = StringBuilder::new();
    let mut a_rule = StringBuilder::new();
    let mut agrees = BooleanBuilder::with_capacity(n);
    let logged = |i: usize| match columns.row(i) {
        Ok(Row::Flow(r)) => Some(r.action),
        _ => None,
    };
    judge_columns(
        replayer,
        &columns,
        acc,
        Path::new("<batch>"),
        0,
        skip_bad,
        |i, out| {
            let nulls = |v: &mut StringBuilder, r: &mut StringBuilder| {
                v.append_null();
                r.append_null();
            };
            match out {
                Ok(Some(Outcome::Judged {
                    base,
                    against,
                    pending,
                    ..
                })) => {
                    status.append_value(if pending { "pending" } else { "judged" });
                    verdict.append_value(base.verdict.to_string());
                    rule.append_value(flow::label(base_cloud, &base));
                    agrees.append_option(logged(i).map(|l| l.is_accept() == base.is_allow()));
                    match (against, new_cloud) {
                        (Some(d), Some(c)) => {
                            a_verdict.append_value(d.verdict.to_string());
                            a_rule.append_value(flow::label(c, &d));
                        }
                        _ => nulls(&mut a_verdict, &mut a_rule),
                    }
                }
                other => {
                    status.append_value(match other {
                        Ok(Some(Outcome::Unplaced(why))) => {
                            format!(
                                "unplaced:{}",
                                serde_json::to_value(why)
                                    .ok()
                                    .and_then(|v| v.as_str().map(str::to_owned))
                                    .unwrap_or_default()
                            )
                        }
                        Ok(Some(Outcome::Undetermined)) => "undetermined".into(),
                        Ok(None) => match columns.row(i) {
                            Ok(Row::Status(Status::NoData)) => "nodata".into(),
                            _ => "skipdata".into(),
                        },
                        _ => "bad".into(),
                    });
                    nulls(&mut verdict, &mut rule);
                    nulls(&mut a_verdict, &mut a_rule);
                    agrees.append_null();
                }
            }
        },
    )?;
    let mut fields = vec![
        ArrowField::new("sgeval_status", DataType::Utf8, false),
        ArrowField::new("sgeval_verdict", DataType::Utf8, true),
        ArrowField::new("sgeval_rule", DataType::Utf8, true),
    ];
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(status.finish()),
        Arc::new(verdict.finish()),
        Arc::new(rule.finish()),
    ];
    if replayer.against().is_some() {
        fields.push(ArrowField::new("sgeval_against_verdict", DataType::Utf8, true));
        fields.push(ArrowField::new("sgeval_against_rule", DataType::Utf8, true));
        arrays.push(Arc::new(a_verdict.finish()));
        arrays.push(Arc::new(a_rule.finish()));
    }
    fields.push(ArrowField::new("sgeval_agrees", DataType::Boolean, true));
    arrays.push(Arc::new(agrees.finish()));
    // INVARIANT: every column has one value per row and matches its field's type.
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays).expect("columns of one length"))
}
