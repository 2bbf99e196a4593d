//! A connection tracker: the stateful firewall of one scenario, for simulators.
//!
//! Security groups of every provider are stateful (Decision 2): once a connection is allowed,
//! its later packets and its replies pass without consulting rules. [`flow::trace`] answers
//! for one packet in a given [`ConnState`]; a [`Tracker`] keeps the connections itself, on a
//! clock the caller advances, so a simulator can step packets through time:
//!
//! ```
//! use sgeval::conntrack::Tracker;
//! use sgeval::{reference, Packet, Provider, Reason, Scenario, Verdict};
//! # let scenario = Scenario::from_json(r#"{"provider": "huawei", "calls": [
//! #   {"api": "CreateSecurityGroup", "ref": "web", "body": {"security_group": {"name": "web"}}},
//! #   {"api": "CreateSecurityGroupRule", "body": {"security_group_rule": {
//! #      "security_group_id": "$web", "direction": "ingress", "protocol": "tcp",
//! #      "multiport": "443", "remote_ip_prefix": "0.0.0.0/0", "action": "allow", "priority": 1}}},
//! #   {"api": "CreateSecurityGroupRule", "body": {"security_group_rule": {
//! #      "security_group_id": "$web", "direction": "egress", "protocol": "tcp",
//! #      "remote_ip_prefix": "0.0.0.0/0", "action": "deny", "priority": 1}}}],
//! #   "endpoints": [{"name": "vm-a", "ips": ["192.168.0.10"], "groups": ["$web"]}]}"#).unwrap();
//! # let cloud = scenario.build().unwrap();
//! // `cloud`: a Huawei scenario whose vm-a (192.168.0.10) admits TCP 443 from anywhere and
//! // sends no TCP of its own.
//! let engine = reference::Evaluator::new(&cloud);
//! let mut tracker = Tracker::new(Provider::Huawei, 10_000);
//! let client = "203.0.113.7".parse().unwrap();
//! let server = "192.168.0.10".parse().unwrap();
//! let request = Packet::tcp(client, server, 443).with_src_port(40000);
//! assert_eq!(tracker.process(&cloud, &engine, &request).verdict, Verdict::Allow);
//!
//! // The reply passes as established, although no rule admits it.
//! let reply = Packet::tcp(server, client, 40000).with_src_port(443);
//! assert!(!tracker.is_established(&Packet::tcp(server, client, 40001).with_src_port(443)));
//! let flow = tracker.process(&cloud, &engine, &reply);
//! assert_eq!(flow.verdict, Verdict::Allow);
//! assert_eq!(flow.hops[0].decision.reason, Reason::Established);
//!
//! // Huawei keeps an idle TCP connection 600 s; after that the reply is a new packet.
//! tracker.advance(600);
//! assert_eq!(tracker.process(&cloud, &engine, &reply).verdict, Verdict::Deny);
//! ```
//!
//! # What is a connection
//!
//! - **Port protocols** (TCP, UDP, DCCP, SCTP, UDP-Lite): the 5-tuple. A packet with the
//!   same tuple is a later packet; the reversed tuple (addresses and ports swapped) is a reply.
//! - **ICMP and ICMPv6**: query messages open connections, keyed by the two addresses, the
//!   protocol and the request type (echo 8/128, timestamp 13, information 15, address mask
//!   17). Another request of the same type between the same addresses is a later packet; the
//!   matching reply type in the other direction (0/129, 14, 16, 18) is a reply. Other ICMP
//!   messages (errors) are decided by the rules and never open a connection: sgeval's packet
//!   carries no embedded header to relate them to a connection (Linux's RELATED state is not
//!   modelled), which can only deny, never allow, what a real cloud would.
//! - **Other protocols** (GRE, ESP, ...): the two addresses and the protocol, as Huawei (H4a)
//!   and AWS document: same direction is a later packet, the other direction a reply.
//!
//! A packet is *established* when it matches a live entry; it passes at every hop with
//! [`Decision::ESTABLISHED`] and refreshes the entry. Any other packet is decided as a new
//! connection by [`flow::trace`] (the packet's own [`ConnState`] is ignored: the tracker, not
//! the caller, knows the state), and when it is allowed and has at least one hop an entry is
//! created. A packet that meets no endpoint is answered as `trace` answers and not tracked.
//!
//! # Timeouts
//!
//! Each entry lives for its idle timeout after its last packet: a packet `timeout - 1`
//! seconds after the last one is established, one `timeout` seconds after starts over as
//! new. [`Timeouts::for_provider`] gives each provider's documented values:
//!
//! | provider | TCP | UDP | ICMP | other | source |
//! |---|---|---|---|---|---|
//! | ECS | 910 s | 910 s | 910 s | 910 s | A1: "a session can last up to 910 seconds" |
//! | ENS | 910 s | 910 s | 910 s | 910 s | assumption: as ECS (the ENS documents say nothing) |
//! | Huawei | 600 s | 30 s one way, 180 s both ways | 30 s | 30 s one way, 180 s both ways | H4a, H4b |
//! | Gcore | 432000 s | 30 s one way, 120 s both ways | 30 s | 600 s | Linux `nf_conntrack` defaults (Neutron, N2) |
//!
//! Gcore runs OpenStack Neutron, whose security groups are Linux conntrack; its timeouts are
//! the kernel defaults (`nf_conntrack_tcp_timeout_established`, `..._udp_timeout`,
//! `..._udp_timeout_stream`, `..._icmp_timeout`, `..._generic_timeout`). sgeval's packets
//! carry no TCP flags, so a tracked TCP connection has its established timeout from its first
//! packet (no SYN_SENT, FIN or TIME_WAIT states).
//!
//! # Bounded memory
//!
//! A tracker holds at most `capacity` entries ([`Tracker::memory_bound`] gives the bytes that
//! costs, at most). When a new connection needs room in a full table, the tracker first
//! drops every expired entry, then the least recently used one (the entry whose last packet
//! is oldest). Eviction only drops state: the evicted connection's next packet is decided
//! by the rules as a new one, so eviction can turn an allow into a deny, never a deny into
//! an allow. A capacity of 0 tracks nothing.
//!
//! # Rule and membership changes under open connections
//!
//! Call [`Tracker::rules_changed`] after every change to the cloud (a rule call, a group or
//! membership change). Each provider documents what happens to open connections, and the
//! tracker re-decides each entry's first packet as a new connection and drops the entries
//! the provider would cut:
//!
//! - **Huawei**: changes apply at once to connections *established by inbound traffic*; the
//!   provider clears their conntrack entries and re-establishes them only when the new
//!   inbound rules allow. Outbound connections keep the rule they were admitted by
//!   (Huawei VPC FAQ "Does a New Security Group Rule or Network ACL Rule Take Effect
//!   Immediately for Existing Connections?", vpc_faq_0074; H4a). The tracker drops an entry
//!   when its destination endpoint's ingress now denies its first packet.
//! - **ECS, ENS**: "when a rule or group change alters the rules acting on a NIC, sessions
//!   whose rule behaviour is unchanged are not affected" (A1, Chinese edition); so sessions
//!   whose behaviour changed are cut. The tracker drops an entry when any hop (egress at the
//!   source, ingress at the destination) now denies its first packet. ENS: as ECS
//!   (assumption, the ENS documents say nothing).
//! - **Gcore**: Neutron deletes the conntrack entries of a deleted rule and of removed
//!   remote-group members, in both directions (openstack/neutron
//!   `agent/linux/iptables_firewall.py` `_clean_deleted_sg_rule_conntrack_entries`,
//!   `ip_conntrack.py`); a connection that another rule still allows is picked up again by
//!   its next packet. The tracker drops an entry when any hop now denies its first packet.
//!
//! Where a dropped connection's next packet is a reply, a real Linux conntrack would decide
//! it as a new packet in the reply direction; the tracker does the same (the entry is gone).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::mem::size_of;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

use crate::cloud::Cloud;
use crate::decision::{Decision, Verdict};
use crate::flow::{self, Evaluate, Flow, Hop};
use crate::packet::{ConnState, Packet, ICMP, ICMPV6};
use crate::provider::Provider;
use crate::rule::Direction;

/// Idle timeouts in seconds, by protocol and by whether both directions were seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Timeouts {
    /// TCP connections.
    pub tcp: u64,
    /// UDP (and DCCP, SCTP, UDP-Lite) while only the first direction was seen.
    pub udp_one_way: u64,
    /// UDP (and DCCP, SCTP, UDP-Lite) once a reply was seen.
    pub udp_both_ways: u64,
    /// ICMP and ICMPv6 query connections.
    pub icmp: u64,
    /// Other protocols while only the first direction was seen.
    pub other_one_way: u64,
    /// Other protocols once a reply was seen.
    pub other_both_ways: u64,
}

impl Timeouts {
    /// ECS: every session up to 910 s (A1).
    pub const ECS: Timeouts = Timeouts::uniform(910);

    /// ENS: as ECS (assumption; the ENS documents are silent).
    pub const ENS: Timeouts = Timeouts::uniform(910);

    /// Huawei: TCP 600 s, ICMP 30 s, other protocols (UDP included) 180 s once both
    /// directions were seen, 30 s while only one was (H4a, H4b).
    pub const HUAWEI: Timeouts = Timeouts {
        tcp: 600,
        udp_one_way: 30,
        udp_both_ways: 180,
        icmp: 30,
        other_one_way: 30,
        other_both_ways: 180,
    };

    /// Gcore (Neutron on Linux): the kernel's `nf_conntrack` defaults: TCP established
    /// 432000 s (5 days), UDP 30 s unreplied / 120 s replied, ICMP 30 s, generic 600 s.
    pub const GCORE: Timeouts = Timeouts {
        tcp: 432_000,
        udp_one_way: 30,
        udp_both_ways: 120,
        icmp: 30,
        other_one_way: 600,
        other_both_ways: 600,
    };

    /// The same timeout for everything.
    pub const fn uniform(secs: u64) -> Timeouts {
        Timeouts {
            tcp: secs,
            udp_one_way: secs,
            udp_both_ways: secs,
            icmp: secs,
            other_one_way: secs,
            other_both_ways: secs,
        }
    }

    /// The provider's documented timeouts (see the module docs for sources).
    pub fn for_provider(provider: Provider) -> Timeouts {
        match provider {
            Provider::Ecs => Timeouts::ECS,
            Provider::Ens => Timeouts::ENS,
            Provider::Huawei => Timeouts::HUAWEI,
            Provider::Gcore => Timeouts::GCORE,
        }
    }

    /// The idle timeout of a connection of `protocol`, `replied` when both directions were
    /// seen.
    pub fn of(&self, protocol: u8, replied: bool) -> u64 {
        match (protocol, replied) {
            (crate::packet::TCP, _) => self.tcp,
            (ICMP | ICMPV6, _) => self.icmp,
            (p, false) if crate::Protocol(p).has_ports() => self.udp_one_way,
            (p, true) if crate::Protocol(p).has_ports() => self.udp_both_ways,
            (_, false) => self.other_one_way,
            (_, true) => self.other_both_ways,
        }
    }
}

/// What a tracked connection is known by: protocol, originator and responder addresses, and
/// ports (port protocols) or the ICMP request type (ICMP; `b_port`), zero otherwise.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Key {
    protocol: u8,
    a: IpAddr,
    b: IpAddr,
    a_port: u16,
    b_port: u16,
}

/// The ICMP reply type that answers a query type, per family.
fn icmp_reply_of(protocol: u8, request: u8) -> Option<u8> {
    match (protocol, request) {
        (ICMP, 8) => Some(0),
        (ICMP, 13) => Some(14),
        (ICMP, 15) => Some(16),
        (ICMP, 17) => Some(18),
        (ICMPV6, 128) => Some(129),
        _ => None,
    }
}

/// The ICMP query type a reply type answers.
fn icmp_request_of(protocol: u8, reply: u8) -> Option<u8> {
    match (protocol, reply) {
        (ICMP, 0) => Some(8),
        (ICMP, 14) => Some(13),
        (ICMP, 16) => Some(15),
        (ICMP, 18) => Some(17),
        (ICMPV6, 129) => Some(128),
        _ => None,
    }
}

/// How a packet may belong to a connection: as a packet of the originator (`forward`) or as
/// a reply (`reply`), each the key it would have.
fn keys_of(p: &Packet) -> (Option<Key>, Option<Key>) {
    let key = |a, b, a_port, b_port| Key {
        protocol: p.protocol,
        a,
        b,
        a_port,
        b_port,
    };
    if p.is_icmp() {
        let forward =
            icmp_reply_of(p.protocol, p.icmp_type).map(|_| key(p.src, p.dst, 0, u16::from(p.icmp_type)));
        let reply = icmp_request_of(p.protocol, p.icmp_type).map(|req| key(p.dst, p.src, 0, u16::from(req)));
        (forward, reply)
    } else if crate::Protocol(p.protocol).has_ports() {
        (
            Some(key(p.src, p.dst, p.src_port, p.dst_port)),
            Some(key(p.dst, p.src, p.dst_port, p.src_port)),
        )
    } else {
        (Some(key(p.src, p.dst, 0, 0)), Some(key(p.dst, p.src, 0, 0)))
    }
}

#[derive(Clone, Debug)]
struct Entry {
    /// The packet that opened the connection (state [`ConnState::New`]), re-decided on rule
    /// changes.
    first: Packet,
    /// Whether a reply was seen.
    replied: bool,
    /// Last use, unique and increasing: the LRU order.
    touch: u64,
    /// The instant from which the entry is dead.
    expires_at: u64,
}

/// Which hops of a connection a provider re-decides when rules change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Recheck {
    /// Only the ingress hop at the destination (Huawei: inbound connections).
    Inbound,
    /// Every hop (ECS, ENS, Gcore).
    AllHops,
}

/// The stateful firewall of one scenario. See the [module docs](self) for what a connection
/// is, the timeouts, eviction and rule changes.
#[derive(Clone, Debug)]
pub struct Tracker {
    provider: Provider,
    timeouts: Timeouts,
    capacity: usize,
    now: u64,
    next_touch: u64,
    entries: HashMap<Key, Entry>,
    /// touch -> key: the least recently used entry first.
    lru: BTreeMap<u64, Key>,
    /// (expires_at, touch): the first entry to expire first.
    expiry: BTreeSet<(u64, u64)>,
    evicted: u64,
}

impl Tracker {
    /// A tracker with `provider`'s timeouts holding at most `capacity` connections; the clock
    /// starts at 0.
    pub fn new(provider: Provider, capacity: usize) -> Tracker {
        Tracker::with_timeouts(provider, capacity, Timeouts::for_provider(provider))
    }

    /// A tracker with the given timeouts (the provider still decides what a rule change
    /// cuts).
    pub fn with_timeouts(provider: Provider, capacity: usize, timeouts: Timeouts) -> Tracker {
        Tracker {
            provider,
            timeouts,
            capacity,
            now: 0,
            next_touch: 0,
            entries: HashMap::new(),
            lru: BTreeMap::new(),
            expiry: BTreeSet::new(),
            evicted: 0,
        }
    }

    /// The provider whose behaviour the tracker follows.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// The timeouts in use.
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// The clock, in seconds since the tracker was made.
    pub fn now(&self) -> u64 {
        self.now
    }

    /// Moves the clock forward by `secs` (saturating) and drops the entries that expired.
    pub fn advance(&mut self, secs: u64) {
        self.now = self.now.saturating_add(secs);
        self.purge_expired();
    }

    /// How many connections are tracked (expired ones are dropped when the clock moves, so
    /// every counted entry is live).
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no connection is tracked.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The most connections the tracker holds.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many live entries were evicted to make room so far (expired entries dropped are
    /// not counted).
    pub fn evicted(&self) -> u64 {
        self.evicted
    }

    /// An upper bound of the bytes the tracker's tables take when full: the entry table at
    /// its worst load factor plus both ordered indexes with half-full nodes. The bound is
    /// linear in the capacity and independent of the traffic.
    pub fn memory_bound(&self) -> usize {
        Tracker::bytes_per_entry().saturating_mul(self.capacity) + size_of::<Tracker>()
    }

    /// The worst-case bytes of one entry across the three tables (see
    /// [`Tracker::memory_bound`]).
    pub fn bytes_per_entry() -> usize {
        // Hash table: slot + control byte, at most 8/7 load and a doubling step: x 2.3 < x 3.
        let table = 3 * (size_of::<Key>() + size_of::<Entry>() + 1);
        // B-trees: nodes at least half full, plus edges: x 3 is generous.
        let lru = 3 * (size_of::<u64>() + size_of::<Key>() + size_of::<usize>());
        let expiry = 3 * (2 * size_of::<u64>() + size_of::<usize>());
        table + lru + expiry
    }

    /// Whether `packet` would pass as part of a tracked, live connection (without
    /// refreshing it).
    pub fn is_established(&self, packet: &Packet) -> bool {
        self.find(packet).is_some()
    }

    /// Decides `packet` at the current instant: established when it belongs to a live
    /// tracked connection (the connection is refreshed), else decided by `engine` as a new
    /// connection through [`flow::trace`], opening a connection when allowed.
    pub fn process<E: Evaluate + ?Sized>(&mut self, cloud: &Cloud, engine: &E, packet: &Packet) -> Flow {
        let packet = packet.with_state(ConnState::New);
        if let Some((key, is_reply)) = self.find(&packet) {
            self.refresh(key, is_reply);
            return established(cloud, &packet);
        }
        let flow = flow::trace(cloud, engine, &packet);
        if flow.verdict == Verdict::Allow && !flow.hops.is_empty() {
            if let (Some(key), _) = keys_of(&packet) {
                self.open(key, packet);
            }
        }
        flow
    }

    /// Re-decides every tracked connection after a change to `cloud` (rules, groups or
    /// memberships) and drops those the provider cuts (see the module docs). Returns how
    /// many were dropped.
    pub fn rules_changed<E: Evaluate + ?Sized>(&mut self, cloud: &Cloud, engine: &E) -> usize {
        let recheck = match self.provider {
            Provider::Huawei => Recheck::Inbound,
            Provider::Ecs | Provider::Ens | Provider::Gcore => Recheck::AllHops,
        };
        let cut: Vec<Key> = self
            .entries
            .iter()
            .filter(|(_, e)| !still_allowed(cloud, engine, &e.first, recheck))
            .map(|(k, _)| *k)
            .collect();
        for key in &cut {
            self.remove(key);
        }
        cut.len()
    }

    /// Drops every tracked connection.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.lru.clear();
        self.expiry.clear();
    }

    /// The live entry a packet belongs to, and whether it is a reply.
    fn find(&self, packet: &Packet) -> Option<(Key, bool)> {
        // Mixed-family packets belong to no connection.
        packet.family()?;
        let (forward, reply) = keys_of(packet);
        let live = |k: &Key| self.entries.get(k).is_some_and(|e| self.now < e.expires_at);
        if let Some(k) = forward.filter(live) {
            return Some((k, false));
        }
        reply.filter(live).map(|k| (k, true))
    }

    fn refresh(&mut self, key: Key, is_reply: bool) {
        let touch = self.next_touch;
        let Some(entry) = self.entries.get_mut(&key) else {
            return;
        };
        self.next_touch += 1;
        self.lru.remove(&entry.touch);
        self.expiry.remove(&(entry.expires_at, entry.touch));
        entry.replied |= is_reply;
        entry.touch = touch;
        entry.expires_at = self
            .now
            .saturating_add(self.timeouts.of(key.protocol, entry.replied));
        self.lru.insert(touch, key);
        self.expiry.insert((entry.expires_at, touch));
    }

    fn open(&mut self, key: Key, first: Packet) {
        if self.capacity == 0 {
            return;
        }
        if !self.entries.contains_key(&key) && self.entries.len() >= self.capacity {
            self.purge_expired();
            if self.entries.len() >= self.capacity {
                // INVARIANT: eviction only drops state, so it can never admit a packet
                // the rules deny.
                if let Some((_, lru_key)) = self.lru.first_key_value().map(|(t, k)| (*t, *k)) {
                    self.remove(&lru_key);
                    self.evicted += 1;
                }
            }
        }
        self.remove(&key);
        let touch = self.next_touch;
        self.next_touch += 1;
        let expires_at = self.now.saturating_add(self.timeouts.of(key.protocol, false));
        self.entries.insert(
            key,
            Entry {
                first,
                replied: false,
                touch,
                expires_at,
            },
        );
        self.lru.insert(touch, key);
        self.expiry.insert((expires_at, touch));
    }

    fn remove(&mut self, key: &Key) {
        if let Some(e) = self.entries.remove(key) {
            self.lru.remove(&e.touch);
            self.expiry.remove(&(e.expires_at, e.touch));
        }
    }

    fn purge_expired(&mut self) {
        while let Some(&(at, touch)) = self.expiry.first() {
            if at > self.now {
                break;
            }
            self.expiry.pop_first();
            if let Some(key) = self.lru.remove(&touch) {
                self.entries.remove(&key);
            }
        }
    }
}

/// The flow of an established packet: every hop passes as established.
fn established(cloud: &Cloud, packet: &Packet) -> Flow {
    let mut hops: SmallVec<[Hop; 2]> = SmallVec::new();
    if let Some(src) = cloud.endpoint_by_addr(packet.src) {
        hops.push(Hop {
            endpoint: src,
            direction: Direction::Egress,
            decision: Decision::ESTABLISHED,
        });
    }
    if let Some(dst) = cloud.endpoint_by_addr(packet.dst) {
        hops.push(Hop {
            endpoint: dst,
            direction: Direction::Ingress,
            decision: Decision::ESTABLISHED,
        });
    }
    Flow {
        hops,
        verdict: Verdict::Allow,
    }
}

/// Whether a connection survives a change: its first packet is re-decided as new at the
/// hops the provider re-checks.
fn still_allowed<E: Evaluate + ?Sized>(cloud: &Cloud, engine: &E, first: &Packet, recheck: Recheck) -> bool {
    match recheck {
        Recheck::AllHops => flow::trace(cloud, engine, first).verdict == Verdict::Allow,
        Recheck::Inbound => match cloud.endpoint_by_addr(first.dst) {
            Some(dst) => engine.evaluate(dst, Direction::Ingress, first).is_allow(),
            None => true,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tcp(src: &str, dst: &str, sport: u16, dport: u16) -> Packet {
        Packet::tcp(src.parse().unwrap(), dst.parse().unwrap(), dport).with_src_port(sport)
    }

    #[test]
    fn replies_reverse_the_tuple_and_icmp_pairs_request_and_reply_types() {
        let p = tcp("10.0.0.1", "10.0.0.2", 1000, 80);
        let (f, r) = keys_of(&p);
        let back = tcp("10.0.0.2", "10.0.0.1", 80, 1000);
        assert_eq!(keys_of(&back).1, f);
        assert_eq!(keys_of(&back).0, r);
        let ping =
            Packet::new("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), ICMP).with_icmp(8, 0);
        let pong =
            Packet::new("10.0.0.2".parse().unwrap(), "10.0.0.1".parse().unwrap(), ICMP).with_icmp(0, 0);
        assert_eq!(keys_of(&pong).1, keys_of(&ping).0);
        assert!(keys_of(&pong).0.is_none(), "a reply type opens nothing");
        let unreachable = pong.with_icmp(3, 1);
        assert_eq!(keys_of(&unreachable), (None, None));
    }

    #[test]
    fn huawei_udp_timeout_grows_once_replied() {
        let t = Timeouts::HUAWEI;
        assert_eq!(t.of(crate::packet::UDP, false), 30);
        assert_eq!(t.of(crate::packet::UDP, true), 180);
        assert_eq!(t.of(47, true), 180);
        assert_eq!(t.of(ICMPV6, true), 30);
        assert_eq!(Timeouts::GCORE.of(crate::packet::UDP, true), 120);
    }

    #[test]
    fn memory_bound_is_linear_in_capacity() {
        let a = Tracker::new(Provider::Ecs, 1000).memory_bound();
        let b = Tracker::new(Provider::Ecs, 2000).memory_bound();
        assert_eq!(b - a, 1000 * Tracker::bytes_per_entry());
    }
}
