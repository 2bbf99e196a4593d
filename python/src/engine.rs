//! `NativeEngine`: the compiled engine over a snapshot of a cloud, one packet at a time or
//! in batches of Arrow arrays taken through the Arrow C data interface without copying.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;
use std::time::Instant;

use arrow::array::{
    make_array, Array, ArrayRef, BooleanArray, FixedSizeBinaryArray, Int32Array, LargeStringArray,
    StringArray, UInt16Array, UInt32Array, UInt8Array,
};
use arrow::buffer::BooleanBuffer;
use arrow::datatypes::DataType;
use arrow::pyarrow::{FromPyArrow, ToPyArrow};
use pyo3::prelude::*;
use sgeval::flow;
use sgeval::{compile, Cloud, ConnState, Decision, EndpointKey, Packet, Reason, RuleKey};

use crate::cloud::NativeCloud;
use crate::errors::{field_error, plain, BuildError, PacketError};
use crate::packet;
use crate::query::{decision_json, flow_json};

/// A hasher for rule keys (a `u32` each): one multiply. The map is built from the cloud's
/// own keys, so nothing adversarial reaches it.
#[derive(Default)]
pub struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u32(&mut self, n: u32) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    }
}

/// Every rule of a cloud numbered in group order, then rule order: the numbers the batch
/// path answers with (`rule` array), and their provider ids.
pub struct RuleTable {
    pub ids: Vec<String>,
    index: HashMap<RuleKey, i32, BuildHasherDefault<KeyHasher>>,
}

impl RuleTable {
    pub fn of(cloud: &Cloud) -> RuleTable {
        let mut ids = Vec::new();
        let mut index = HashMap::default();
        for g in cloud.groups() {
            for r in &g.rules {
                index.insert(r.key, ids.len() as i32);
                ids.push(r.id.clone());
            }
        }
        RuleTable { ids, index }
    }

    /// The number of the deciding rule, -1 when no rule decided.
    #[inline]
    pub fn of_decision(&self, d: &Decision) -> i32 {
        match d.reason {
            Reason::Rule(r) => self.index.get(&r.rule).copied().unwrap_or(-1),
            _ => -1,
        }
    }
}

/// What decided, as a small number: 0 a rule, 1 the ECS intra-group policy, 2 a provider
/// default, 3 an established connection, 4 mixed families.
#[inline]
pub fn reason_code(d: &Decision) -> u8 {
    match d.reason {
        Reason::Rule(_) => 0,
        Reason::IntraGroup { .. } => 1,
        Reason::Default { .. } => 2,
        Reason::Established => 3,
        Reason::MixedFamily => 4,
    }
}

/// An address column: IPv4 as `uint32` (host order numbers), IPv6 as
/// `fixed_size_binary(16)` (network order bytes), or text (parsed, so not zero-copy).
enum AddrColumn {
    V4(UInt32Array),
    V6(FixedSizeBinaryArray),
    Text(StringArray),
    LargeText(LargeStringArray),
}

impl AddrColumn {
    fn of(field: &'static str, array: ArrayRef) -> PyResult<AddrColumn> {
        let any = array.as_any();
        let column = match array.data_type() {
            DataType::UInt32 => any.downcast_ref::<UInt32Array>().cloned().map(AddrColumn::V4),
            DataType::FixedSizeBinary(16) => any
                .downcast_ref::<FixedSizeBinaryArray>()
                .cloned()
                .map(AddrColumn::V6),
            DataType::Utf8 => any.downcast_ref::<StringArray>().cloned().map(AddrColumn::Text),
            DataType::LargeUtf8 => any
                .downcast_ref::<LargeStringArray>()
                .cloned()
                .map(AddrColumn::LargeText),
            _ => None,
        };
        column.ok_or_else(|| {
            field_error::<PacketError>(
                field,
                format!(
                    "`{field}` is an array of {}: expected uint32 (IPv4), fixed_size_binary(16) (IPv6) or string",
                    array.data_type()
                ),
            )
        })
    }

    #[inline]
    fn get(&self, field: &'static str, i: usize) -> Result<IpAddr, String> {
        match self {
            AddrColumn::V4(a) => Ok(IpAddr::V4(Ipv4Addr::from(a.values()[i]))),
            AddrColumn::V6(a) => {
                let bytes: [u8; 16] = a
                    .value(i)
                    .try_into()
                    .map_err(|_| format!("`{field}`[{i}]: not 16 bytes"))?;
                Ok(IpAddr::V6(Ipv6Addr::from(bytes)))
            }
            AddrColumn::Text(a) => parse_addr(field, i, a.value(i)),
            AddrColumn::LargeText(a) => parse_addr(field, i, a.value(i)),
        }
    }
}

fn parse_addr(field: &str, i: usize, text: &str) -> Result<IpAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{field}`[{i}] = `{text}` is not an IP address"))
}

/// The columns of a batch of packets, checked: equal lengths, no nulls, the expected types.
pub struct Columns {
    pub len: usize,
    src: AddrColumn,
    dst: AddrColumn,
    protocol: UInt8Array,
    src_port: Option<UInt16Array>,
    dst_port: Option<UInt16Array>,
    icmp_type: Option<UInt8Array>,
    icmp_code: Option<UInt8Array>,
    established: Option<BooleanArray>,
}

fn import(field: &'static str, obj: &Bound<'_, PyAny>) -> PyResult<ArrayRef> {
    let data = arrow::array::ArrayData::from_pyarrow_bound(obj)
        .map_err(|e| field_error::<PacketError>(field, format!("`{field}`: not an Arrow array: {e}")))?;
    let array = make_array(data);
    if array.null_count() > 0 {
        return Err(field_error::<PacketError>(
            field,
            format!(
                "`{field}` has {} null(s): every packet needs a value",
                array.null_count()
            ),
        ));
    }
    Ok(array)
}

fn typed<T: Array + Clone + 'static>(field: &'static str, array: ArrayRef, want: &str) -> PyResult<T> {
    array.as_any().downcast_ref::<T>().cloned().ok_or_else(|| {
        field_error::<PacketError>(
            field,
            format!("`{field}` is an array of {}: expected {want}", array.data_type()),
        )
    })
}

/// The arrays of a batch as the Python side passes them (one tuple, `_batch_args`): `src`,
/// `dst`, `protocol`, then the optional `src_port`, `dst_port`, `icmp_type`, `icmp_code`,
/// `established` (`None` where not given).
#[derive(FromPyObject)]
pub struct ColumnArgs<'py>(
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Bound<'py, PyAny>,
    Option<Bound<'py, PyAny>>,
    Option<Bound<'py, PyAny>>,
    Option<Bound<'py, PyAny>>,
    Option<Bound<'py, PyAny>>,
    Option<Bound<'py, PyAny>>,
);

impl Columns {
    /// The columns of `args`, each checked: an Arrow array (read in place) of the expected
    /// type, without nulls, as long as `src`.
    pub fn import(args: &ColumnArgs<'_>) -> PyResult<Columns> {
        let ColumnArgs(src, dst, protocol, src_port, dst_port, icmp_type, icmp_code, established) = args;
        let s = import("src", src)?;
        let len = s.len();
        let check = |field: &'static str, a: ArrayRef| -> PyResult<ArrayRef> {
            if a.len() != len {
                return Err(field_error::<PacketError>(
                    field,
                    format!("`{field}` has {} values but `src` has {len}", a.len()),
                ));
            }
            Ok(a)
        };
        let opt = |field: &'static str, o: &Option<Bound<'_, PyAny>>| -> PyResult<Option<ArrayRef>> {
            o.as_ref()
                .map(|o| import(field, o).and_then(|a| check(field, a)))
                .transpose()
        };
        Ok(Columns {
            len,
            src: AddrColumn::of("src", s)?,
            dst: AddrColumn::of("dst", check("dst", import("dst", dst)?)?)?,
            protocol: typed(
                "protocol",
                check("protocol", import("protocol", protocol)?)?,
                "uint8",
            )?,
            src_port: opt("src_port", src_port)?
                .map(|a| typed("src_port", a, "uint16"))
                .transpose()?,
            dst_port: opt("dst_port", dst_port)?
                .map(|a| typed("dst_port", a, "uint16"))
                .transpose()?,
            icmp_type: opt("icmp_type", icmp_type)?
                .map(|a| typed("icmp_type", a, "uint8"))
                .transpose()?,
            icmp_code: opt("icmp_code", icmp_code)?
                .map(|a| typed("icmp_code", a, "uint8"))
                .transpose()?,
            established: opt("established", established)?
                .map(|a| typed("established", a, "bool"))
                .transpose()?,
        })
    }

    /// The packets of rows `start..start + out.len()` into `out`, column by column (each
    /// column's slice read once; two IPv4 columns, the common case, without a branch per
    /// row).
    pub fn fill(&self, start: usize, out: &mut [Packet]) -> Result<(), String> {
        let m = out.len();
        let rows = start..start + m;
        let protocol = &self.protocol.values()[rows.clone()];
        match (&self.src, &self.dst) {
            (AddrColumn::V4(s), AddrColumn::V4(d)) => {
                let (s, d) = (&s.values()[rows.clone()], &d.values()[rows.clone()]);
                for (j, p) in out.iter_mut().enumerate() {
                    *p = Packet::new(
                        IpAddr::V4(Ipv4Addr::from(s[j])),
                        IpAddr::V4(Ipv4Addr::from(d[j])),
                        protocol[j],
                    );
                }
            }
            (src, dst) => {
                for (j, p) in out.iter_mut().enumerate() {
                    *p = Packet::new(
                        src.get("src", start + j)?,
                        dst.get("dst", start + j)?,
                        protocol[j],
                    );
                }
            }
        }
        if let Some(a) = &self.src_port {
            for (p, &v) in out.iter_mut().zip(&a.values()[rows.clone()]) {
                p.src_port = v;
            }
        }
        if let Some(a) = &self.dst_port {
            for (p, &v) in out.iter_mut().zip(&a.values()[rows.clone()]) {
                p.dst_port = v;
            }
        }
        if let Some(a) = &self.icmp_type {
            for (p, &v) in out.iter_mut().zip(&a.values()[rows.clone()]) {
                p.icmp_type = v;
            }
        }
        if let Some(a) = &self.icmp_code {
            for (p, &v) in out.iter_mut().zip(&a.values()[rows.clone()]) {
                p.icmp_code = v;
            }
        }
        if let Some(a) = &self.established {
            for (j, p) in out.iter_mut().enumerate() {
                if a.value(start + j) {
                    p.state = ConnState::Established;
                }
            }
        }
        Ok(())
    }

    /// Every packet (for the Rust-side benchmark, which starts from packets).
    pub fn packets(&self) -> Result<Vec<Packet>, String> {
        let mut out = vec![
            Packet::new(
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                0
            );
            self.len
        ];
        self.fill(0, &mut out)?;
        Ok(out)
    }
}

/// The answers of a batch: verdict (allow = true), deciding rule number, reason code.
pub struct BatchOut {
    pub verdict: Vec<bool>,
    pub rule: Vec<i32>,
    pub reason: Vec<u8>,
}

/// Packets in chunks of this many are formed from the columns and decided together.
pub const CHUNK: usize = 1024;

/// Decides every row of `columns`, `CHUNK` packets at a time: `decide` fills the decisions
/// of a chunk of packets (the compiled engine's batch path, or a snapshot one by one).
pub fn run_batch(
    rules: &RuleTable,
    columns: &Columns,
    mut decide: impl FnMut(&[Packet], &mut [Decision]),
) -> Result<BatchOut, String> {
    let n = columns.len;
    let mut out = BatchOut {
        verdict: vec![false; n],
        rule: vec![-1; n],
        reason: vec![0; n],
    };
    let unspecified = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    let mut packets = vec![Packet::new(unspecified, unspecified, 0); CHUNK.min(n)];
    let mut decisions = vec![Decision::MIXED_FAMILY; CHUNK.min(n)];
    // The rule that decided last: runs of packets decided by one rule skip the lookup.
    let mut last: Option<(RuleKey, i32)> = None;
    let mut start = 0;
    while start < n {
        let m = CHUNK.min(n - start);
        let (packets, decided) = (&mut packets[..m], &mut decisions[..m]);
        columns.fill(start, packets)?;
        decide(packets, decided);
        let rows = start..start + m;
        let (verdict, rule, reason) = (
            &mut out.verdict[rows.clone()],
            &mut out.rule[rows.clone()],
            &mut out.reason[rows],
        );
        for (j, d) in decided.iter().enumerate() {
            verdict[j] = d.is_allow();
            reason[j] = reason_code(d);
            if let Reason::Rule(r) = d.reason {
                rule[j] = match last {
                    Some((k, v)) if k == r.rule => v,
                    _ => {
                        let v = rules.of_decision(d);
                        last = Some((r.rule, v));
                        v
                    }
                };
            }
        }
        start += m;
    }
    Ok(out)
}

/// The compiled engine over a snapshot of a cloud.
#[pyclass(module = "sgeval._sgeval", name = "NativeEngine", frozen)]
pub struct NativeEngine {
    cloud: Arc<Cloud>,
    engine: compile::Engine,
    rules: RuleTable,
}

impl NativeEngine {
    fn endpoint(&self, name: &str) -> PyResult<EndpointKey> {
        endpoint_key(&self.cloud, name)
    }
}

/// An endpoint by name, or an error naming it.
pub fn endpoint_key(cloud: &Cloud, name: &str) -> PyResult<EndpointKey> {
    cloud.endpoint_by_name(name).ok_or_else(|| {
        field_error::<PacketError>(
            "endpoint",
            format!("`endpoint` = `{name}` is not an endpoint of the cloud"),
        )
    })
}

/// The outputs of a batch as pyarrow arrays: `(verdict, rule, reason)`.
pub fn batch_arrays<'py>(py: Python<'py>, out: BatchOut) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
    let verdict = BooleanArray::new(BooleanBuffer::from(out.verdict), None);
    let rule = Int32Array::from(out.rule);
    let reason = UInt8Array::from(out.reason);
    pyo3::types::PyTuple::new(
        py,
        [
            verdict.to_data().to_pyarrow(py)?,
            rule.to_data().to_pyarrow(py)?,
            reason.to_data().to_pyarrow(py)?,
        ],
    )
}

#[pymethods]
impl NativeEngine {
    /// Compiles every endpoint of the cloud as it is now (later calls on the cloud do not
    /// reach this engine: build another).
    #[new]
    fn new(py: Python<'_>, cloud: &NativeCloud) -> PyResult<NativeEngine> {
        let cloud = cloud.snapshot().cloud;
        let (engine, rules) = py.detach(|| (compile::Engine::build(&cloud), RuleTable::of(&cloud)));
        Ok(NativeEngine {
            engine: engine.map_err(plain::<BuildError>)?,
            rules,
            cloud,
        })
    }

    /// The provider ids of the rules, in the numbering of the batch path's `rule` array.
    fn rule_ids(&self) -> Vec<String> {
        self.rules.ids.clone()
    }

    /// Bytes the compiled tables take.
    fn memory_usage(&self) -> usize {
        self.engine.memory_usage()
    }

    /// One decision at an endpoint and direction (JSON), with the rule's number.
    #[pyo3(signature = (endpoint, direction, packet))]
    fn evaluate(&self, endpoint: &str, direction: &str, packet: packet::RawArgs) -> PyResult<(String, i32)> {
        let key = self.endpoint(endpoint)?;
        let direction = packet::direction(direction)?;
        let p = packet.packet()?;
        let d = self.engine.evaluate(key, direction, &p);
        Ok((
            decision_json(&self.cloud, &d).to_string(),
            self.rules.of_decision(&d),
        ))
    }

    /// A raw packet traced with this engine (JSON flow).
    #[pyo3(signature = (packet))]
    fn trace(&self, packet: packet::RawArgs) -> PyResult<String> {
        let p = packet.packet()?;
        let f = flow::trace(&self.cloud, &self.engine, &p);
        Ok(flow_json(&self.cloud, &p, &f, None).to_string())
    }

    /// Decides a batch given as Arrow arrays (zero-copy in; the GIL is released while
    /// deciding): `(verdict, rule, reason)` pyarrow arrays.
    #[pyo3(signature = (endpoint, direction, columns))]
    fn evaluate_batch<'py>(
        &self,
        py: Python<'py>,
        endpoint: &str,
        direction: &str,
        columns: ColumnArgs<'py>,
    ) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
        let key = self.endpoint(endpoint)?;
        let direction = packet::direction(direction)?;
        let columns = Columns::import(&columns)?;
        let out = py
            .detach(|| {
                run_batch(&self.rules, &columns, |p, d| {
                    self.engine.evaluate_batch(key, direction, p, d)
                })
            })
            .map_err(plain::<PacketError>)?;
        batch_arrays(py, out)
    }

    /// Benchmark helper: the packets of the columns formed once, then `rounds` passes of
    /// the Rust batch path (`Engine::evaluate_batch` over all of them, 64 at a time as the
    /// engine interleaves); the seconds the passes took (GIL released).
    #[pyo3(signature = (endpoint, direction, columns, rounds=1))]
    fn _rust_batch_seconds(
        &self,
        py: Python<'_>,
        endpoint: &str,
        direction: &str,
        columns: ColumnArgs<'_>,
        rounds: usize,
    ) -> PyResult<f64> {
        let key = self.endpoint(endpoint)?;
        let direction = packet::direction(direction)?;
        let columns = Columns::import(&columns)?;
        let packets = columns.packets().map_err(plain::<PacketError>)?;
        Ok(py.detach(|| {
            let mut out = vec![Decision::MIXED_FAMILY; packets.len()];
            let start = Instant::now();
            for _ in 0..rounds {
                self.engine.evaluate_batch(key, direction, &packets, &mut out);
                std::hint::black_box(&out);
            }
            start.elapsed().as_secs_f64()
        }))
    }

    /// The reference evaluator's decision for the same question (JSON), for oracles.
    #[pyo3(signature = (endpoint, direction, packet))]
    fn evaluate_reference(
        &self,
        endpoint: &str,
        direction: &str,
        packet: packet::RawArgs,
    ) -> PyResult<(String, i32)> {
        let key = self.endpoint(endpoint)?;
        let direction = packet::direction(direction)?;
        let p = packet.packet()?;
        let d = sgeval::reference::Evaluator::new(&self.cloud).evaluate(key, direction, &p);
        Ok((
            decision_json(&self.cloud, &d).to_string(),
            self.rules.of_decision(&d),
        ))
    }
}
