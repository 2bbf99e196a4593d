//! Replaying flow logs: what the cloud did with real traffic, against what sgeval says the
//! security groups decide, now or after a change.
//!
//! A flow log records, per interface (ENI, port), capture window and 5-tuple, how many
//! packets and bytes passed or were dropped. [`Replayer`] judges each record at the endpoint
//! that captured it ([`place`]) with the compiled engine, in the record's direction: the
//! record's hop, not the whole path (the other side's hop is that side's own record, when
//! it is logged too).
//!
//! - **Agreement**: how the logged `action` compares with sgeval's verdict. A disagreement is
//!   listed with its deciding rule; it is a place where the model and the cloud differ
//!   (a network ACL, which flow logs also account for and sgeval does not model, shows up
//!   here too).
//! - **Against a new configuration**: every record whose verdict changes, with the deciding
//!   rule on both sides. A change from allow to deny of traffic the log shows `ACCEPT` breaks
//!   carried traffic.
//!
//! ```
//! use sgeval::replay::{huawei, Options, Replayer};
//! use sgeval::Scenario;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let cloud = Scenario::from_json(r#"{"provider": "huawei", "calls": [
//!   {"api": "CreateSecurityGroup", "ref": "dns", "body": {"security_group": {"name": "dns"}}},
//!   {"api": "CreateSecurityGroupRule", "body": {"security_group_rule": {
//!     "security_group_id": "$dns", "direction": "ingress", "protocol": "udp",
//!     "multiport": "53", "remote_ip_prefix": "192.168.0.0/16", "action": "allow", "priority": 1}}}],
//!   "endpoints": [{"name": "port-dns", "ips": ["192.168.3.25"], "groups": ["$dns"]}]}"#)?.build()?;
//! let replayer = Replayer::new(&cloud, None, Options::default())?;
//! let mut acc = replayer.accumulator();
//! let pos = huawei::positions();
//! for line in [
//!     "1 p port-dns 192.168.0.154 192.168.3.25 38929 53 17 1 96 1548752136 1548752736 ACCEPT OK",
//!     "1 p port-dns 203.0.113.9 192.168.3.25 40000 22 6 1 60 1548752136 1548752736 ACCEPT OK",
//! ] {
//!     let row = huawei::parse(&pos, line).expect("not blank")?;
//!     replayer.judge(&row, &mut acc);
//! }
//! let report = acc.finish(&replayer);
//! // The DNS query agrees; the SSH record the cloud accepted is one the groups deny.
//! assert_eq!((report.counts.agreements, report.counts.disagreements), (1, 1));
//! # Ok(())
//! # }
//! ```
//!
//! # Connection state
//!
//! Security groups are stateful: a reply passes without consulting rules. A flow log holds
//! both directions of a connection as separate records, so a reply record whose own
//! direction the rules deny must be judged as established. The rule, in the terms of
//! [`crate::conntrack`]: a record is first judged as a new connection. When that denies it,
//! it is judged **established** ([`Decision::ESTABLISHED`]) if the same endpoint has a
//! record of the connection it replies to (the reversed 5-tuple, in the other direction,
//! for ports protocols; the two addresses and the protocol otherwise, as `conntrack` keys
//! connections) that is allowed as a new connection in the same configuration, and whose
//! lifetime covers it: the opener's window starts no later than the reply's ends, and the
//! reply starts no later than the opener's end plus the provider's idle timeout
//! ([`crate::conntrack::Timeouts::for_provider`], both directions seen). The order of
//! records in the files does not matter (capture windows of both directions overlap and are
//! exported in any order), so the reply check is made once every record has been read.
//!
//! Only what could matter is kept: an allowed record is kept as an opener only when its
//! reply would be denied as new, a denied record as a possible reply only when its opener
//! would be allowed. Both are bounded by [`Options::state_capacity`]; past it a record is
//! judged as new (which can only turn an allow into a deny, never the other way) and counted
//! in `state_overflow`.
//!
//! # ICMP
//!
//! Flow logs give no ICMP type or code. An ICMP record is judged only at an endpoint whose
//! groups have no rule that filters the ICMP type in that direction (then every type is
//! decided alike, and the echo request stands for them); elsewhere it is counted and listed
//! as `undetermined`, not guessed. ICMP connections are keyed by the two addresses, as the
//! log cannot tell a request from a reply.

pub mod alibaba;
pub mod batch;
pub mod huawei;
pub mod place;
pub mod record;
pub mod report;
pub mod run;
pub mod table;

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::cloud::Cloud;
use crate::compile::{BuildError, Engine};
use crate::conntrack::Timeouts;
use crate::decision::{Decision, Fallback, Reason, Verdict};
use crate::group::EndpointKey;
use crate::packet::{ConnState, Packet};
use crate::protocol::Protocol;
use crate::rule::Direction;

pub use self::place::{Placer, Unplaced};
pub use self::record::{BadRow, FieldError, FlowRecord, Location, Logged, Row, Status};
pub use self::report::{Accumulator, Report};
pub use self::table::{ColumnMap, Field};

/// Tuning of a replay.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Options {
    /// Most connection-state entries (openers plus possible replies) kept, per configuration.
    /// Default 4,194,304.
    pub state_capacity: usize,
    /// Most malformed rows listed (all are counted). Default 100.
    pub bad_rows_listed: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            state_capacity: 1 << 22,
            bad_rows_listed: 100,
        }
    }
}

/// One configuration: a cloud, its compiled engine, and where its groups filter ICMP types.
#[derive(Debug)]
pub struct Config<'c> {
    cloud: &'c Cloud,
    engine: Engine,
    /// Per endpoint, per direction (ingress, egress): some rule filters the ICMP type or code.
    icmp_typed: Vec<[bool; 2]>,
    timeouts: Timeouts,
}

impl<'c> Config<'c> {
    /// Compiles `cloud`.
    ///
    /// # Errors
    /// The engine's limits ([`BuildError`]).
    pub fn new(cloud: &'c Cloud) -> Result<Config<'c>, BuildError> {
        let engine = Engine::build(cloud)?;
        let icmp_typed = cloud
            .endpoints()
            .iter()
            .map(|ep| {
                Direction::ALL.map(|dir| {
                    ep.groups.iter().filter_map(|&g| cloud.group(g)).any(|g| {
                        g.rules.iter().any(|r| {
                            r.direction == dir && (r.icmp.icmp_type.is_some() || r.icmp.icmp_code.is_some())
                        })
                    })
                })
            })
            .collect();
        Ok(Config {
            cloud,
            engine,
            icmp_typed,
            timeouts: Timeouts::for_provider(cloud.provider()),
        })
    }

    /// The cloud.
    pub fn cloud(&self) -> &'c Cloud {
        self.cloud
    }

    /// The compiled engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }
}

/// What a replay answers for one record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// No endpoint: counted and listed as unplaced.
    Unplaced(Unplaced),
    /// An ICMP record at an endpoint whose rules filter ICMP types: the log does not say
    /// which type it was.
    Undetermined,
    /// Judged as a new connection in each configuration; `pending` when a denied record may
    /// still turn out to be an established reply (settled by [`Accumulator::finish`]).
    Judged {
        /// The endpoint (in the base configuration) and direction.
        endpoint: EndpointKey,
        /// The direction at the endpoint.
        direction: Direction,
        /// The decision of the base configuration, as a new connection.
        base: Decision,
        /// The decision of the configuration replayed against, as a new connection.
        against: Option<Decision>,
        /// Whether the record waits for the connection-state check.
        pending: bool,
    },
}

/// Judges records against one configuration, or two (`--against`).
#[derive(Debug)]
pub struct Replayer<'c> {
    base: Config<'c>,
    against: Option<Config<'c>>,
    /// The base endpoint's counterpart in the configuration replayed against (by name).
    counterpart: Vec<Option<EndpointKey>>,
    options: Options,
}

/// What an endpoint not in a configuration decides: it has no group.
const NO_ENDPOINT: Decision = Decision {
    verdict: Verdict::Deny,
    reason: Reason::Default {
        fallback: Fallback::NoGroup,
    },
};

impl<'c> Replayer<'c> {
    /// Compiles `base`, and `against` when given.
    ///
    /// # Errors
    /// The engine's limits.
    pub fn new(
        base: &'c Cloud,
        against: Option<&'c Cloud>,
        options: Options,
    ) -> Result<Replayer<'c>, BuildError> {
        let base_config = Config::new(base)?;
        let (against, counterpart) = match against {
            Some(new) => (
                Some(Config::new(new)?),
                base.endpoints()
                    .iter()
                    .map(|ep| new.endpoint_by_name(&ep.name))
                    .collect(),
            ),
            None => (None, Vec::new()),
        };
        Ok(Replayer {
            base: base_config,
            against,
            counterpart,
            options,
        })
    }

    /// The base configuration.
    pub fn base(&self) -> &Config<'c> {
        &self.base
    }

    /// The configuration replayed against, if any.
    pub fn against(&self) -> Option<&Config<'c>> {
        self.against.as_ref()
    }

    /// The options.
    pub fn options(&self) -> Options {
        self.options
    }

    /// A new accumulator for this replayer's records.
    pub fn accumulator(&self) -> Accumulator {
        Accumulator::new(self.against.is_some(), self.options)
    }

    /// Judges one row into `acc` and says what it found.
    pub fn judge(&self, row: &Row<'_>, acc: &mut Accumulator) -> Option<Outcome> {
        match row {
            Row::Status(s) => {
                acc.status(*s);
                None
            }
            Row::Flow(r) => Some(self.judge_flow(r, acc)),
        }
    }

    /// Judges one record of traffic into `acc`.
    pub fn judge_flow(&self, r: &FlowRecord<'_>, acc: &mut Accumulator) -> Outcome {
        self.judge_flow_named(r, None, acc)
    }

    /// [`Replayer::judge_flow`] with the record's interface already looked up by name
    /// (`by_name`: `Some` of the base cloud's `endpoint_by_name` of `r.interface`), as a
    /// column of repeated interface ids does once per value.
    #[inline]
    pub(crate) fn judge_flow_named(
        &self,
        r: &FlowRecord<'_>,
        by_name: Option<Option<EndpointKey>>,
        acc: &mut Accumulator,
    ) -> Outcome {
        acc.count_record(r);
        let placer = Placer::new(self.base.cloud);
        let placed = match by_name {
            Some(known) => placer.place_known(r, known),
            None => placer.place(r),
        };
        let (endpoint, direction) = match placed {
            Ok(p) => p,
            Err(why) => {
                acc.unplaced(why, r);
                return Outcome::Unplaced(why);
            }
        };
        let icmp = Protocol(r.protocol).is_icmp();
        let new_ep = self.counterpart.get(endpoint.get() as usize).copied().flatten();
        if icmp {
            let typed = |c: &Config<'_>, ep: Option<EndpointKey>| {
                ep.and_then(|e| c.icmp_typed.get(e.get() as usize))
                    .is_some_and(|t| t[dir_index(direction)])
            };
            if typed(&self.base, Some(endpoint)) || self.against.as_ref().is_some_and(|a| typed(a, new_ep)) {
                acc.undetermined(endpoint, direction, r);
                return Outcome::Undetermined;
            }
        }
        let packet = packet_of(r);
        let reverse = reversed(&packet);
        let opposite = opposite(direction);
        // Built only for a record that connection state keeps (most are not).
        let key = || ConnKey::of(endpoint, direction, &packet);
        let mut pending = [false; 2];
        let base = self.base.engine.evaluate(endpoint, direction, &packet);
        self.state(
            0,
            &self.base,
            Some(endpoint),
            opposite,
            &base,
            &reverse,
            key,
            r,
            acc,
            &mut pending,
        );
        let against = self.against.as_ref().map(|a| {
            let d = match new_ep {
                Some(ep) => a.engine.evaluate(ep, direction, &packet),
                None => NO_ENDPOINT,
            };
            self.state(1, a, new_ep, opposite, &d, &reverse, key, r, acc, &mut pending);
            d
        });
        let waits = pending[0] || pending[1];
        if waits {
            acc.defer(report::Pending {
                endpoint,
                direction,
                packet,
                key: key(),
                action: r.action,
                packets: r.packets,
                bytes: r.bytes,
                start: r.start,
                end: r.end,
                base,
                against,
                candidate: pending,
            });
        } else {
            acc.tally(
                endpoint, direction, &packet, r.action, r.packets, r.bytes, base, against,
            );
        }
        Outcome::Judged {
            endpoint,
            direction,
            base,
            against,
            pending: waits,
        }
    }

    /// Records the connection state one decision needs: an allowed record whose reply would
    /// be denied is an opener; a denied one whose opener would be allowed may be a reply.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn state(
        &self,
        side: usize,
        config: &Config<'_>,
        endpoint: Option<EndpointKey>,
        opposite: Direction,
        decision: &Decision,
        reverse: &Packet,
        key: impl Fn() -> ConnKey,
        r: &FlowRecord<'_>,
        acc: &mut Accumulator,
        pending: &mut [bool; 2],
    ) {
        let Some(ep) = endpoint else { return };
        let other = config.engine.evaluate(ep, opposite, reverse);
        if decision.is_allow() {
            if !other.is_allow() {
                acc.opener(side, key(), r.start, r.end);
            }
        } else if other.is_allow() {
            pending[side] = true;
        }
    }

    /// The idle timeout a configuration gives a connection of `protocol`, both ways seen.
    pub(crate) fn timeout(&self, side: usize, protocol: u8) -> u64 {
        let config = if side == 0 {
            Some(&self.base)
        } else {
            self.against.as_ref()
        };
        config.map_or(0, |c| c.timeouts.of(protocol, true))
    }
}

fn dir_index(d: Direction) -> usize {
    match d {
        Direction::Ingress => 0,
        Direction::Egress => 1,
    }
}

fn opposite(d: Direction) -> Direction {
    match d {
        Direction::Ingress => Direction::Egress,
        Direction::Egress => Direction::Ingress,
    }
}

/// The packet a record stands for, as a new connection. ICMP records stand for the echo
/// request (judged only where the type does not matter).
pub fn packet_of(r: &FlowRecord<'_>) -> Packet {
    let mut p = Packet::new(r.src, r.dst, r.protocol);
    if Protocol(r.protocol).has_ports() {
        p.src_port = r.src_port;
        p.dst_port = r.dst_port;
    } else if p.is_icmp() {
        p.icmp_type = if r.protocol == Protocol::ICMPV6.0 { 128 } else { 8 };
    }
    p.state = ConnState::New;
    p
}

/// The packet of the other direction of the same connection.
fn reversed(p: &Packet) -> Packet {
    Packet {
        src: p.dst,
        dst: p.src,
        src_port: p.dst_port,
        dst_port: p.src_port,
        ..*p
    }
}

/// A connection as one endpoint sees it: opened in `direction` by `packet`. A reply looks
/// itself up with its direction and tuple reversed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ConnKey {
    endpoint: EndpointKey,
    direction: Direction,
    protocol: u8,
    src: IpAddr,
    dst: IpAddr,
    src_port: u16,
    dst_port: u16,
}

impl ConnKey {
    fn of(endpoint: EndpointKey, direction: Direction, p: &Packet) -> ConnKey {
        ConnKey {
            endpoint,
            direction,
            protocol: p.protocol,
            src: p.src,
            dst: p.dst,
            src_port: p.src_port,
            dst_port: p.dst_port,
        }
    }

    /// The key of the connection a record with this key would reply to.
    fn opener(&self) -> ConnKey {
        ConnKey {
            direction: opposite(self.direction),
            src: self.dst,
            dst: self.src,
            src_port: self.dst_port,
            dst_port: self.src_port,
            ..*self
        }
    }
}
