//! Counting what a replay finds: a mergeable [`Accumulator`] (one per thread, per file, per
//! Spark partition) and the [`Report`] it finishes into, as JSON or text.

use std::hash::Hash;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use smallvec::SmallVec;

use crate::decision::{Decision, Reason};
use crate::flow;
use crate::group::EndpointKey;
use crate::packet::Packet;
use crate::protocol::Protocol;
use crate::rule::Direction;

use super::place::Unplaced;
use super::record::{BadRow, FlowRecord, Logged, Status};
use super::{ConnKey, Options, Replayer};

/// Integer counts of a replay.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counts {
    /// Records of traffic (`log-status` `OK`) read: placed or not.
    pub records: u64,
    /// Records whose logged action matches the base configuration's verdict.
    pub agreements: u64,
    /// Records whose logged action differs from it.
    pub disagreements: u64,
    /// Records that no endpoint could be found for.
    pub unplaced: u64,
    /// ICMP records at endpoints whose rules filter ICMP types (the log gives no type).
    pub undetermined: u64,
    /// `NODATA` rows.
    pub nodata: u64,
    /// `SKIPDATA` rows.
    pub skipdata: u64,
    /// Malformed rows skipped (`--skip-bad`).
    pub skipped: u64,
    /// Records the base configuration allows only as replies of an allowed connection.
    pub established: u64,
    /// Records judged as new because the connection-state table was full.
    pub state_overflow: u64,
    /// Records counted but whose group was not listed (the group lists are bounded).
    pub unlisted: u64,
    /// Records whose verdict differs between the two configurations (`--against`).
    pub changed: u64,
    /// Changed records the log shows `ACCEPT` that the new configuration denies.
    pub broken: u64,
    /// Packets of the records of traffic.
    pub packets: u64,
    /// Bytes of the records of traffic.
    pub bytes: u64,
}

impl Counts {
    fn add(&mut self, o: &Counts) {
        self.records += o.records;
        self.agreements += o.agreements;
        self.disagreements += o.disagreements;
        self.unplaced += o.unplaced;
        self.undetermined += o.undetermined;
        self.nodata += o.nodata;
        self.skipdata += o.skipdata;
        self.skipped += o.skipped;
        self.established += o.established;
        self.state_overflow += o.state_overflow;
        self.unlisted += o.unlisted;
        self.changed += o.changed;
        self.broken += o.broken;
        self.packets += o.packets;
        self.bytes += o.bytes;
    }
}

/// Records, packets and bytes of a group.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    /// Records.
    pub records: u64,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
}

impl Tally {
    fn add(&mut self, o: &Tally) {
        self.records += o.records;
        self.packets += o.packets;
        self.bytes += o.bytes;
    }
}

/// The traffic of a group: where it was judged and its endpoint pair, protocol and port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Traffic {
    /// The endpoint that captured the records (base configuration).
    pub endpoint: EndpointKey,
    /// The direction at that endpoint.
    pub direction: Direction,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IANA protocol number.
    pub protocol: u8,
    /// Destination port (0 for protocols without ports).
    pub port: u16,
    /// What the log says the cloud did.
    pub logged: Logged,
}

/// A group of disagreeing records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Disagreement {
    /// The traffic.
    pub traffic: Traffic,
    /// What the base configuration decided.
    pub decision: Decision,
}

/// A group of records whose verdict changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Change {
    /// The traffic.
    pub traffic: Traffic,
    /// The base configuration's decision.
    pub before: Decision,
    /// The new configuration's decision.
    pub after: Decision,
}

/// A group of unplaced records.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UnplacedGroup {
    /// Why.
    pub reason: Unplaced,
    /// The interface the record named.
    pub interface: Option<String>,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
}

/// A record waiting for the connection-state check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pending {
    pub endpoint: EndpointKey,
    pub direction: Direction,
    pub packet: Packet,
    pub key: ConnKey,
    pub action: Logged,
    pub packets: u64,
    pub bytes: u64,
    pub start: u64,
    pub end: u64,
    pub base: Decision,
    pub against: Option<Decision>,
    /// Per configuration: denied as new, and its opener would be allowed.
    pub candidate: [bool; 2],
}

/// A capture window of an opener, Unix seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Window {
    start: u64,
    end: u64,
}

/// The windows of one connection's openers; overlapping ones are merged, others kept apart
/// (the same tuple can open connections hours apart).
type Windows = SmallVec<[Window; 1]>;

/// Adds a window, merging it into one it overlaps. Returns whether a window was added.
fn add_window(windows: &mut Windows, w: Window) -> bool {
    if let Some(o) = windows.iter_mut().find(|o| w.start <= o.end && o.start <= w.end) {
        o.start = o.start.min(w.start);
        o.end = o.end.max(w.end);
        false
    } else {
        windows.push(w);
        true
    }
}

/// The accumulator's maps: hashed with foldhash, not SipHash (a replay hashes one or two
/// keys per record; the keys come from the logs being read, and a map only grows to the
/// bounds of [`Options`]).
type HashMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

/// Maps serialized as lists of pairs (their keys are not strings).
mod pairs {
    use std::hash::Hash;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::HashMap;

    pub fn serialize<S: Serializer, K: Serialize, V: Serialize>(
        m: &HashMap<K, V>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        s.collect_seq(m.iter())
    }

    pub fn deserialize<'de, D, K, V>(d: D) -> Result<HashMap<K, V>, D::Error>
    where
        D: Deserializer<'de>,
        K: Deserialize<'de> + Eq + Hash,
        V: Deserialize<'de>,
    {
        Ok(Vec::<(K, V)>::deserialize(d)?.into_iter().collect())
    }
}

/// Most groups listed per kind; past it records are counted in `unlisted`.
const GROUPS_LISTED: usize = 100_000;

/// What a replay has counted so far. Accumulators of parts of the input (threads, files,
/// Spark partitions) [`merge`](Accumulator::merge) into the accumulator of the whole, and
/// [`finish`](Accumulator::finish) settles the connection state once everything is in: the
/// same report whatever the split. It serializes (`to_json`, `from_json`) to travel between
/// processes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Accumulator {
    against: bool,
    state_capacity: usize,
    bad_rows_listed: usize,
    counts: Counts,
    #[serde(with = "pairs")]
    disagreements: HashMap<Disagreement, Tally>,
    #[serde(with = "pairs")]
    changes: HashMap<Change, Tally>,
    #[serde(with = "pairs")]
    unplaced: HashMap<UnplacedGroup, Tally>,
    #[serde(with = "pairs")]
    undetermined: HashMap<Traffic, Tally>,
    bad: Vec<BadRow>,
    #[serde(with = "pairs")]
    openers_base: HashMap<ConnKey, Windows>,
    #[serde(with = "pairs")]
    openers_against: HashMap<ConnKey, Windows>,
    /// Windows held in the two opener maps, against `state_capacity`.
    windows: [usize; 2],
    pending: Vec<Pending>,
}

fn bump<K: Eq + Hash>(map: &mut HashMap<K, Tally>, key: K, t: Tally, unlisted: &mut u64) {
    if let Some(v) = map.get_mut(&key) {
        v.add(&t);
    } else if map.len() < GROUPS_LISTED {
        map.insert(key, t);
    } else {
        *unlisted += t.records;
    }
}

impl Accumulator {
    /// An empty accumulator; `against` when two configurations are compared.
    pub fn new(against: bool, options: Options) -> Accumulator {
        Accumulator {
            against,
            state_capacity: options.state_capacity,
            bad_rows_listed: options.bad_rows_listed,
            counts: Counts::default(),
            disagreements: HashMap::default(),
            changes: HashMap::default(),
            unplaced: HashMap::default(),
            undetermined: HashMap::default(),
            bad: Vec::new(),
            openers_base: HashMap::default(),
            openers_against: HashMap::default(),
            windows: [0; 2],
            pending: Vec::new(),
        }
    }

    /// Limits this accumulator's connection state to `capacity` entries per configuration
    /// (a thread's share of the whole).
    pub fn set_state_capacity(&mut self, capacity: usize) {
        self.state_capacity = capacity;
    }

    /// The counts so far (connection state not yet settled).
    pub fn counts(&self) -> &Counts {
        &self.counts
    }

    pub(crate) fn status(&mut self, s: Status) {
        match s {
            Status::Ok => {}
            Status::NoData => self.counts.nodata += 1,
            Status::SkipData => self.counts.skipdata += 1,
        }
    }

    /// How many malformed rows are listed, and those from the `from`-th on: a part read
    /// before its first line's number is known numbers its rows from 1, then shifts them.
    pub(crate) fn listed_bad_from(&mut self, from: usize) -> (usize, &mut [BadRow]) {
        let n = self.bad.len();
        (n, &mut self.bad[from.min(n)..])
    }

    /// Counts a malformed row that was skipped, listing the first ones.
    pub fn skipped(&mut self, bad: BadRow) {
        self.counts.skipped += 1;
        if self.bad.len() < self.bad_rows_listed {
            self.bad.push(bad);
        }
    }

    pub(crate) fn count_record(&mut self, r: &FlowRecord<'_>) {
        self.counts.records += 1;
        self.counts.packets += r.packets;
        self.counts.bytes += r.bytes;
    }

    pub(crate) fn unplaced(&mut self, reason: Unplaced, r: &FlowRecord<'_>) {
        self.counts.unplaced += 1;
        let key = UnplacedGroup {
            reason,
            interface: r.interface.map(str::to_owned),
            src: r.src,
            dst: r.dst,
        };
        bump(
            &mut self.unplaced,
            key,
            tally(r.packets, r.bytes),
            &mut self.counts.unlisted,
        );
    }

    pub(crate) fn undetermined(&mut self, endpoint: EndpointKey, direction: Direction, r: &FlowRecord<'_>) {
        self.counts.undetermined += 1;
        let key = Traffic {
            endpoint,
            direction,
            src: r.src,
            dst: r.dst,
            protocol: r.protocol,
            port: 0,
            logged: r.action,
        };
        bump(
            &mut self.undetermined,
            key,
            tally(r.packets, r.bytes),
            &mut self.counts.unlisted,
        );
    }

    fn openers(&mut self, side: usize) -> &mut HashMap<ConnKey, Windows> {
        if side == 0 {
            &mut self.openers_base
        } else {
            &mut self.openers_against
        }
    }

    pub(crate) fn opener(&mut self, side: usize, key: ConnKey, start: u64, end: u64) {
        let full = self.windows[side] >= self.state_capacity;
        let map = self.openers(side);
        let w = Window { start, end };
        let added = match map.get_mut(&key) {
            Some(ws) if !full || ws.iter().any(|o| w.start <= o.end && o.start <= w.end) => add_window(ws, w),
            None if !full => {
                map.insert(key, smallvec::smallvec![w]);
                true
            }
            _ => {
                self.counts.state_overflow += 1;
                false
            }
        };
        if added {
            self.windows[side] += 1;
        }
    }

    pub(crate) fn defer(&mut self, p: Pending) {
        if self.pending.len() < self.state_capacity {
            self.pending.push(p);
        } else {
            self.counts.state_overflow += 1;
            self.tally(
                p.endpoint,
                p.direction,
                &p.packet,
                p.action,
                p.packets,
                p.bytes,
                p.base,
                p.against,
            );
        }
    }

    /// Counts one judged record.
    #[allow(clippy::too_many_arguments)]
    #[inline]
    pub(crate) fn tally(
        &mut self,
        endpoint: EndpointKey,
        direction: Direction,
        packet: &Packet,
        logged: Logged,
        packets: u64,
        bytes: u64,
        base: Decision,
        against: Option<Decision>,
    ) {
        if matches!(base.reason, Reason::Established) {
            self.counts.established += 1;
        }
        // The group key is built only for a record that is listed (most agree).
        let traffic = || Traffic {
            endpoint,
            direction,
            src: packet.src,
            dst: packet.dst,
            protocol: packet.protocol,
            port: packet.dst_port,
            logged,
        };
        let t = tally(packets, bytes);
        if base.is_allow() == logged.is_accept() {
            self.counts.agreements += 1;
        } else {
            self.counts.disagreements += 1;
            let key = Disagreement {
                traffic: traffic(),
                decision: base,
            };
            bump(&mut self.disagreements, key, t, &mut self.counts.unlisted);
        }
        if let Some(after) = against {
            if after.verdict != base.verdict {
                self.counts.changed += 1;
                if base.is_allow() && logged.is_accept() {
                    self.counts.broken += 1;
                }
                let key = Change {
                    traffic: traffic(),
                    before: base,
                    after,
                };
                bump(&mut self.changes, key, t, &mut self.counts.unlisted);
            }
        }
    }

    /// Adds another accumulator's counts, groups and connection state to this one.
    pub fn merge(&mut self, other: Accumulator) {
        self.counts.add(&other.counts);
        self.against |= other.against;
        let mut unlisted = 0;
        for (k, v) in other.disagreements {
            bump(&mut self.disagreements, k, v, &mut unlisted);
        }
        for (k, v) in other.changes {
            bump(&mut self.changes, k, v, &mut unlisted);
        }
        for (k, v) in other.unplaced {
            bump(&mut self.unplaced, k, v, &mut unlisted);
        }
        for (k, v) in other.undetermined {
            bump(&mut self.undetermined, k, v, &mut unlisted);
        }
        self.counts.unlisted += unlisted;
        for b in other.bad {
            if self.bad.len() < self.bad_rows_listed {
                self.bad.push(b);
            }
        }
        for (side, map) in [(0, other.openers_base), (1, other.openers_against)] {
            let mut added = 0;
            let mine = self.openers(side);
            for (k, ws) in map {
                let entry = mine.entry(k).or_default();
                for w in ws {
                    added += usize::from(add_window(entry, w));
                }
            }
            self.windows[side] += added;
        }
        self.pending.extend(other.pending);
    }

    /// The accumulator as JSON, to send to another process.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// An accumulator from [`Accumulator::to_json`]'s text.
    ///
    /// # Errors
    /// Text that is not such an accumulator.
    pub fn from_json(text: &str) -> Result<Accumulator, serde_json::Error> {
        serde_json::from_str(text)
    }

    /// Settles the records that may be replies (see the [module docs](super)) and gives the
    /// report. `replayer` must be the one the records were judged with.
    pub fn finish(mut self, replayer: &Replayer<'_>) -> Report {
        let pending = std::mem::take(&mut self.pending);
        for p in pending {
            let mut base = p.base;
            let mut against = p.against;
            let opener = p.key.opener();
            let established = |side: usize, map: &HashMap<ConnKey, Windows>| {
                let timeout = replayer.timeout(side, p.packet.protocol);
                map.get(&opener).is_some_and(|ws| {
                    ws.iter()
                        .any(|w| w.start <= p.end && p.start <= w.end.saturating_add(timeout))
                })
            };
            if p.candidate[0] && established(0, &self.openers_base) {
                base = Decision::ESTABLISHED;
            }
            if p.candidate[1] && established(1, &self.openers_against) {
                against = Some(Decision::ESTABLISHED);
            }
            self.tally(
                p.endpoint,
                p.direction,
                &p.packet,
                p.action,
                p.packets,
                p.bytes,
                base,
                against,
            );
        }
        let mut bad = self.bad;
        bad.sort_by(|a, b| a.location.cmp(&b.location));
        Report {
            against: self.against,
            counts: self.counts,
            disagreements: sorted(self.disagreements),
            changes: sorted(self.changes),
            unplaced: sorted(self.unplaced),
            undetermined: sorted(self.undetermined),
            bad,
        }
    }
}

fn tally(packets: u64, bytes: u64) -> Tally {
    Tally {
        records: 1,
        packets,
        bytes,
    }
}

/// Groups by records (most first), then by their serialized key: the same order whatever
/// the order of the input.
fn sorted<K: Serialize>(map: HashMap<K, Tally>) -> Vec<(K, Tally)> {
    let mut rows: Vec<(String, K, Tally)> = map
        .into_iter()
        .map(|(k, t)| (serde_json::to_string(&k).unwrap_or_default(), k, t))
        .collect();
    rows.sort_by(|a, b| b.2.records.cmp(&a.2.records).then_with(|| a.0.cmp(&b.0)));
    rows.into_iter().map(|(_, k, t)| (k, t)).collect()
}

/// The result of a replay.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// Whether two configurations were compared.
    pub against: bool,
    /// The counts.
    pub counts: Counts,
    /// Disagreeing groups, most records first.
    pub disagreements: Vec<(Disagreement, Tally)>,
    /// Groups whose verdict changes, most records first.
    pub changes: Vec<(Change, Tally)>,
    /// Unplaced groups, most records first.
    pub unplaced: Vec<(UnplacedGroup, Tally)>,
    /// Undetermined ICMP groups, most records first.
    pub undetermined: Vec<(Traffic, Tally)>,
    /// The first malformed rows skipped, by file and line.
    pub bad: Vec<BadRow>,
}

impl Report {
    /// Whether a change breaks carried traffic: some record the log shows `ACCEPT` is
    /// allowed now and denied by the new configuration.
    pub fn breaks(&self) -> bool {
        self.counts.broken > 0
    }

    /// The share of judged records whose logged action agrees with the verdict.
    pub fn agreement_rate(&self) -> f64 {
        let judged = self.counts.agreements + self.counts.disagreements;
        if judged == 0 {
            1.0
        } else {
            self.counts.agreements as f64 / judged as f64
        }
    }

    /// The report as JSON: the integer counts at the top level beside the grouped rows.
    pub fn to_json(&self, replayer: &Replayer<'_>) -> Value {
        let base = replayer.base().cloud();
        let new = replayer.against().map(|a| a.cloud());
        let c = &self.counts;
        let mut out = json!({
            "records": c.records,
            "agreements": c.agreements,
            "disagreements": c.disagreements,
            "agreement_rate": self.agreement_rate(),
            "unplaced": c.unplaced,
            "undetermined": c.undetermined,
            "nodata": c.nodata,
            "skipdata": c.skipdata,
            "skipped": c.skipped,
            "established": c.established,
            "state_overflow": c.state_overflow,
            "unlisted": c.unlisted,
            "packets": c.packets,
            "bytes": c.bytes,
        });
        let map = out.as_object_mut().expect("an object");
        if self.against {
            map.insert("changed".into(), json!(c.changed));
            map.insert("broken".into(), json!(c.broken));
            let rows: Vec<Value> = self
                .changes
                .iter()
                .map(|(g, t)| {
                    let mut row = traffic_json(base, &g.traffic, t);
                    row["before"] = decision_json(base, &g.before);
                    row["after"] = match new {
                        Some(n) => decision_json(n, &g.after),
                        None => Value::Null,
                    };
                    row["breaks"] =
                        json!(g.before.is_allow() && !g.after.is_allow() && g.traffic.logged.is_accept());
                    row
                })
                .collect();
            map.insert("changes".into(), Value::Array(rows));
        }
        let rows: Vec<Value> = self
            .disagreements
            .iter()
            .map(|(g, t)| {
                let mut row = traffic_json(base, &g.traffic, t);
                row["decision"] = decision_json(base, &g.decision);
                row
            })
            .collect();
        map.insert("disagreement_groups".into(), Value::Array(rows));
        let rows: Vec<Value> = self
            .unplaced
            .iter()
            .map(|(g, t)| {
                json!({
                    "reason": g.reason,
                    "why": g.reason.to_string(),
                    "interface": g.interface,
                    "src": g.src.to_string(),
                    "dst": g.dst.to_string(),
                    "records": t.records, "packets": t.packets, "bytes": t.bytes,
                })
            })
            .collect();
        map.insert("unplaced_groups".into(), Value::Array(rows));
        let rows: Vec<Value> = self
            .undetermined
            .iter()
            .map(|(g, t)| traffic_json(base, g, t))
            .collect();
        map.insert("undetermined_groups".into(), Value::Array(rows));
        let rows: Vec<Value> = self
            .bad
            .iter()
            .map(|b| json!({"file": b.location.file.display().to_string(), "line": b.location.line, "error": b.error.to_string()}))
            .collect();
        map.insert("bad_rows".into(), Value::Array(rows));
        out
    }

    /// The report for people.
    pub fn to_text(&self, replayer: &Replayer<'_>) -> String {
        use std::fmt::Write;
        let base = replayer.base().cloud();
        let new = replayer.against().map(|a| a.cloud());
        let c = &self.counts;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "{} records ({} packets, {} bytes); {} NODATA, {} SKIPDATA rows; {} malformed rows skipped",
            c.records, c.packets, c.bytes, c.nodata, c.skipdata, c.skipped
        );
        let _ = writeln!(
            s,
            "agreement: {} of {} judged records ({:.4}%), {} disagreements; {} allowed as established replies",
            c.agreements,
            c.agreements + c.disagreements,
            self.agreement_rate() * 100.0,
            c.disagreements,
            c.established
        );
        let _ = writeln!(
            s,
            "unplaced: {}; undetermined (ICMP type not logged): {}; judged as new for want of state room: {}; not listed: {}",
            c.unplaced, c.undetermined, c.state_overflow, c.unlisted
        );
        if self.against {
            let _ = writeln!(
                s,
                "changed: {} records; breaking carried traffic: {}",
                c.changed, c.broken
            );
            for (g, t) in &self.changes {
                let mark = if g.before.is_allow() && !g.after.is_allow() && g.traffic.logged.is_accept() {
                    "BREAKS "
                } else {
                    ""
                };
                let after = match new {
                    Some(n) => format!("{} by {}", g.after.verdict, flow::describe(n, &g.after)),
                    None => g.after.verdict.to_string(),
                };
                let _ = writeln!(
                    s,
                    "  {mark}{}: {} by {} -> {after}",
                    traffic_text(base, &g.traffic, t),
                    g.before.verdict,
                    flow::describe(base, &g.before)
                );
            }
        }
        if !self.disagreements.is_empty() {
            let _ = writeln!(s, "disagreements:");
            for (g, t) in &self.disagreements {
                let _ = writeln!(
                    s,
                    "  {}: sgeval {} by {}",
                    traffic_text(base, &g.traffic, t),
                    g.decision.verdict,
                    flow::describe(base, &g.decision)
                );
            }
        }
        if !self.unplaced.is_empty() {
            let _ = writeln!(s, "unplaced:");
            for (g, t) in &self.unplaced {
                let _ = writeln!(
                    s,
                    "  interface {} {} -> {}: {} ({} records)",
                    g.interface.as_deref().unwrap_or("-"),
                    g.src,
                    g.dst,
                    g.reason,
                    t.records
                );
            }
        }
        if !self.undetermined.is_empty() {
            let _ = writeln!(
                s,
                "undetermined (the rules filter ICMP types, the log gives none):"
            );
            for (g, t) in &self.undetermined {
                let _ = writeln!(s, "  {}", traffic_text(base, g, t));
            }
        }
        if !self.bad.is_empty() {
            let _ = writeln!(s, "malformed rows skipped (first {}):", self.bad.len());
            for b in &self.bad {
                let _ = writeln!(s, "  {b}");
            }
        }
        s
    }
}

fn endpoint_name(cloud: &crate::Cloud, key: EndpointKey) -> String {
    cloud
        .endpoint(key)
        .map(|e| e.name.clone())
        .unwrap_or_else(|| key.to_string())
}

fn side(cloud: &crate::Cloud, addr: IpAddr) -> String {
    match cloud.endpoint_by_addr(addr) {
        Some(k) => format!("{addr} ({})", endpoint_name(cloud, k)),
        None => addr.to_string(),
    }
}

fn protocol_text(p: u8) -> String {
    Protocol(p).to_string()
}

fn traffic_json(cloud: &crate::Cloud, t: &Traffic, n: &Tally) -> Value {
    let name = |a: IpAddr| cloud.endpoint_by_addr(a).map(|k| endpoint_name(cloud, k));
    json!({
        "endpoint": endpoint_name(cloud, t.endpoint),
        "direction": t.direction,
        "src": t.src.to_string(),
        "src_endpoint": name(t.src),
        "dst": t.dst.to_string(),
        "dst_endpoint": name(t.dst),
        "protocol": protocol_text(t.protocol),
        "port": t.port,
        "logged": t.logged,
        "records": n.records,
        "packets": n.packets,
        "bytes": n.bytes,
    })
}

fn decision_json(cloud: &crate::Cloud, d: &Decision) -> Value {
    json!({
        "verdict": d.verdict,
        "rule": flow::label(cloud, d),
        "why": flow::describe(cloud, d),
    })
}

fn traffic_text(cloud: &crate::Cloud, t: &Traffic, n: &Tally) -> String {
    let port = if Protocol(t.protocol).has_ports() {
        format!("/{}", t.port)
    } else {
        String::new()
    };
    format!(
        "{} at {}: {} -> {} {}{port}, logged {} ({} records, {} packets, {} bytes)",
        t.direction,
        endpoint_name(cloud, t.endpoint),
        side(cloud, t.src),
        side(cloud, t.dst),
        protocol_text(t.protocol),
        t.logged,
        n.records,
        n.packets,
        n.bytes
    )
}
