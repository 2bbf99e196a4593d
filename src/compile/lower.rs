//! Lowering: the groups of an endpoint, for one direction and address family, become an
//! ordered list of classifier entries whose first match is the provider's answer.
//!
//! The provider's decision procedure lives entirely in the ORDER of the entries, the order
//! of [`crate::order`]: an ECS `InnerAccessPolicy=Accept` group becomes an entry for any
//! remote address (reason [`Reason::IntraGroup`]) ahead of every rule, tagged with the group.
//!
//! Rules then become entries: the remote side expands to prefixes (an address group to its
//! entries, ranges to prefixes), multiport lists and source port lists to their cross
//! product. A group reference does not expand: its entries hold any remote address and are
//! tagged with the group, and they count only for remote addresses whose identity holds
//! the group ([`super::identity`]): the table keeps one classifier per set of tagged groups
//! that some identity holds ([`Lowered::variant`]).
//!
//! ICMP packets (protocol 1 and 58) are classified by separate entry lists, one per protocol,
//! when a rule that can match them filters the ICMP type or code (Gcore), because the filter
//! applies to them on top of the rule's port ranges (the reference compares ports for every
//! protocol, [`crate::Rule::matches_header`]); without such a rule the main list decides
//! them, with their real ports and protocol. In an ICMP list the
//! classifier's protocol field carries the ICMP type, the source port field the real source
//! port, and the destination port field either the real destination port (when no rule of
//! the list filters the ICMP code) or `class << 8 | code`, where `class` is the index of the
//! elementary interval of the list's destination port boundaries that holds the port.

use std::cell::RefCell;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;

use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};
use smallvec::{smallvec, SmallVec};

use super::classifier::{Addr, PortRange, Prefix, Rule as Entry};
use super::list::List;
use crate::cloud::Cloud;
use crate::decision::{Decision, Reason, RuleRef, Verdict};
use crate::group::{AddressEntry, GroupKey};
use crate::key::RuleKey;
use crate::order;
use crate::protocol::Protocol;
use crate::rule::{Direction, Family, Remote, Rule};

/// The two ICMP protocols that have their own entry lists, in list order.
pub(crate) const ICMP_PROTOCOLS: [u8; 2] = [Protocol::ICMP.0, Protocol::ICMPV6.0];

/// Most elementary destination-port intervals an ICMP list can encode next to the code.
const MAX_PORT_CLASSES: usize = 256;

/// An address type of one family, with the conversions lowering needs.
pub(crate) trait FamilyAddr: Addr + Default {
    /// The family.
    const FAMILY: Family;
    /// The prefix of a network of this family.
    fn of_net(net: &IpNet) -> Option<Prefix<Self>>;
    /// Appends the prefixes that cover exactly the addresses `a` of this family with
    /// `first <= a <= last` (ordering as [`IpAddr`]'s, which puts IPv4 before IPv6), the
    /// set [`AddressEntry::contains`] holds.
    fn range(first: IpAddr, last: IpAddr, out: &mut Vec<Prefix<Self>>);
}

impl FamilyAddr for u32 {
    const FAMILY: Family = Family::V4;

    fn of_net(net: &IpNet) -> Option<Prefix<u32>> {
        match net {
            IpNet::V4(n) => Some(Prefix {
                addr: u32::from(n.network()),
                len: n.prefix_len(),
            }),
            IpNet::V6(_) => None,
        }
    }

    fn range(first: IpAddr, last: IpAddr, out: &mut Vec<Prefix<u32>>) {
        let IpAddr::V4(first) = first else { return };
        let last = match last {
            IpAddr::V4(l) => l,
            // Every IPv4 address orders before every IPv6 one.
            IpAddr::V6(_) => Ipv4Addr::BROADCAST,
        };
        if first > last {
            return;
        }
        out.extend(Ipv4Subnets::new(first, last, 0).map(|n| Prefix {
            addr: u32::from(n.network()),
            len: n.prefix_len(),
        }));
    }
}

impl FamilyAddr for u128 {
    const FAMILY: Family = Family::V6;

    fn of_net(net: &IpNet) -> Option<Prefix<u128>> {
        match net {
            IpNet::V6(n) => Some(Prefix {
                addr: u128::from(n.network()),
                len: n.prefix_len(),
            }),
            IpNet::V4(_) => None,
        }
    }

    fn range(first: IpAddr, last: IpAddr, out: &mut Vec<Prefix<u128>>) {
        let IpAddr::V6(first) = first else { return };
        // An IPv4 `last` orders before every IPv6 address: the range holds none.
        let IpAddr::V6(last) = last else { return };
        if first > last {
            return;
        }
        out.extend(Ipv6Subnets::new(first, last, 0).map(|n| Prefix {
            addr: u128::from(n.network()),
            len: n.prefix_len(),
        }));
    }
}

/// Entries with the decision each gives when it is the first match.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Part<A: Addr> {
    /// Classifier entries, first match first.
    pub entries: Vec<Entry<A>>,
    /// `decisions[i]` is the answer when `entries[i]` is the first match.
    pub decisions: Vec<Decision>,
    /// `tags[i]`: the group whose members `entries[i]` is for (its remote field holds any
    /// address), or `None` for an entry that holds for every remote identity.
    pub tags: Vec<Option<GroupKey>>,
}

impl<A: Addr> Default for Part<A> {
    fn default() -> Self {
        Part {
            entries: Vec::new(),
            decisions: Vec::new(),
            tags: Vec::new(),
        }
    }
}

/// The entry list of one ICMP protocol.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct IcmpPart<A: Addr> {
    /// The entries.
    pub part: List<A>,
    /// Empty: the destination port field holds the real destination port. Otherwise the
    /// sorted first ports of the elementary destination-port intervals (the first is 0),
    /// and the field holds `interval index << 8 | ICMP code`.
    pub classes: Vec<u16>,
}

impl<A: Addr> Lowered<A> {
    /// The groups some entry is tagged with, sorted: the groups whose members the table's
    /// rules name.
    pub(crate) fn refs(&self) -> Vec<GroupKey> {
        let mut refs: Vec<GroupKey> = Vec::new();
        for list in [&self.main, &self.icmp[0].part, &self.icmp[1].part] {
            for piece in list.parts() {
                refs.extend(piece.tags.iter().flatten());
            }
        }
        refs.sort_unstable();
        refs.dedup();
        refs
    }

    /// The main list and the two ICMP lists for remote identities whose groups among
    /// [`Lowered::refs`] are `mask` (sorted).
    pub(crate) fn variant(&self, mask: &[GroupKey]) -> [Part<A>; 3] {
        [
            self.main.variant(mask),
            self.icmp[0].part.variant(mask),
            self.icmp[1].part.variant(mask),
        ]
    }
}

/// The lowered table of one endpoint group list, direction and family.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Lowered<A: Addr> {
    /// Entries for every protocol whose packets have no list of their own.
    pub main: List<A>,
    /// Entries for ICMP packets, then for ICMPv6 packets ([`ICMP_PROTOCOLS`]), used where
    /// `lanes` says so.
    pub icmp: [IcmpPart<A>; 2],
    /// Whether ICMP, then ICMPv6, packets are decided by their own list (some rule that can
    /// match them filters the ICMP type or code) rather than by `main`.
    pub lanes: [bool; 2],
    /// The answer when nothing matches.
    pub fallback: Decision,
    /// The sum of the entries' hashes ([`entry_hash`]), for the fingerprint: kept as
    /// entries are spliced in and out.
    pub sum: u64,
    /// Per list (main, ICMP, ICMPv6): the order key ([`order::key`]) of the source whose
    /// entry matches every packet of the list, after which nothing was lowered.
    pub cut: [Option<u128>; 3],
    /// Whether the entries are in ascending order of their sources' keys: no group is
    /// twice in the list and every group's rule keys increase in creation order. Only
    /// then can [`splice`] place a rule by its key.
    pub simple: bool,
}

/// Why lowering stopped: a limit, naming the rule that crossed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum LowerError {
    /// The table would hold more than `limit` entries.
    TooManyEntries {
        /// The rule (or intra-group policy) being expanded.
        rule: String,
        /// The limit.
        limit: usize,
    },
    /// An ICMP list would need more than [`MAX_PORT_CLASSES`] destination port intervals.
    IcmpPortClasses {
        /// The rule whose ports crossed the limit.
        rule: String,
    },
}

/// Shared state of one build or refresh: the cloud, and what was read of its groups' rules.
pub(crate) struct Ctx<'c> {
    pub cloud: &'c Cloud,
    /// Per group, [`Ctx::ranks`], read once.
    // PERF: a new combination's four tables each walked the same groups' rules for their
    // order ([`Ctx::is_simple`]) and, in [`merged`], searched a group's rules (~250 bytes
    // each) once per rule merged: with timers around it (a scratch build, `update_latency
    // 0 5000`), `merged` took 20-23 µs of a new combination's refresh (mean), 16 with this.
    ranks: RefCell<crate::model::FastMap<GroupKey, Ranks>>,
}

/// A group's rules as (key, [`order::rank_key`]) in creation order, when their keys
/// increase ([`Ctx::ranks`]).
type Ranks = Option<Rc<[(RuleKey, u32)]>>;

impl<'c> Ctx<'c> {
    pub(crate) fn new(cloud: &'c Cloud) -> Ctx<'c> {
        Ctx {
            cloud,
            ranks: RefCell::default(),
        }
    }

    /// Group `g`'s rules as (key, [`order::rank_key`]) in creation order, when their keys
    /// increase (empty for a group the cloud does not have); `None` when they do not.
    pub(crate) fn ranks(&self, g: GroupKey) -> Ranks {
        if let Some(r) = self.ranks.borrow().get(&g) {
            return r.clone();
        }
        let rules = self.cloud.group(g).map_or(&[][..], |group| &group.rules[..]);
        let ranks: Ranks = rules
            .windows(2)
            .all(|w| w[0].key < w[1].key)
            .then(|| rules.iter().map(|r| (r.key, order::rank_key(r))).collect());
        self.ranks.borrow_mut().insert(g, ranks.clone());
        ranks
    }

    /// Whether the entries of `groups`' tables are in their sources' key order: no group is
    /// twice in the list and every group's rule keys increase in creation order.
    pub(crate) fn is_simple(&self, groups: &[GroupKey]) -> bool {
        let unique = groups.iter().enumerate().all(|(i, g)| !groups[..i].contains(g));
        unique && groups.iter().all(|&g| self.ranks(g).is_some())
    }
}

/// Replaces `prefixes` by the fewest prefixes that hold exactly the same addresses, sorted:
/// an address group's entries, often adjacent or overlapping, become fewer entries.
pub(crate) fn aggregate<A: Addr>(prefixes: &mut Vec<Prefix<A>>) {
    let mut ranges: Vec<(u128, u128)> = prefixes
        .iter()
        .map(|p| (p.first().to_u128(), p.last().to_u128()))
        .collect();
    ranges.sort_unstable();
    prefixes.clear();
    let mut current: Option<(u128, u128)> = None;
    for (lo, hi) in ranges {
        current = match current {
            // Overlapping or adjacent: one range.
            Some((clo, chi)) if chi.checked_add(1).is_none_or(|next| lo <= next) => Some((clo, chi.max(hi))),
            Some((clo, chi)) => {
                push_range(clo, chi, prefixes);
                Some((lo, hi))
            }
            None => Some((lo, hi)),
        };
    }
    if let Some((lo, hi)) = current {
        push_range(lo, hi, prefixes);
    }
}

/// Appends the fewest prefixes that cover `lo..=hi` exactly (addresses as integers of the
/// family `A`, `lo <= hi`), in ascending order.
fn push_range<A: Addr>(mut lo: u128, hi: u128, out: &mut Vec<Prefix<A>>) {
    let bits = A::BITS;
    loop {
        // The largest aligned block that starts at `lo` and ends at or before `hi`.
        let align = if lo == 0 {
            bits
        } else {
            lo.trailing_zeros().min(bits)
        };
        let fit = match (hi - lo).checked_add(1) {
            Some(count) => 127 - count.leading_zeros(),
            None => 128,
        };
        let k = align.min(fit);
        out.push(Prefix {
            addr: A::from_u128_truncating(lo),
            len: (bits - k) as u8,
        });
        let last = if k >= 128 {
            u128::MAX
        } else {
            lo | ((1u128 << k) - 1)
        };
        if last >= hi {
            break;
        }
        lo = last + 1;
    }
}

/// What an ordered source of entries is.
pub(crate) enum Source<'c> {
    /// ECS `InnerAccessPolicy=Accept`: every member address of the group, any traffic.
    Intra(GroupKey),
    /// A rule of a group.
    Rule(GroupKey, &'c Rule),
}

/// The rules (and intra-group sources) of `groups` for a direction and family, in the order
/// in which the provider lets the first match decide ([`crate::order`]).
pub(crate) fn ordered<'c>(
    cloud: &'c Cloud,
    groups: &[GroupKey],
    direction: Direction,
    family: Family,
) -> Vec<Source<'c>> {
    let applies = |r: &Rule| r.enabled && r.direction == direction && r.family.is_none_or(|f| f == family);
    let mut out: Vec<Source<'c>> = order::intra_groups(cloud, groups).map(Source::Intra).collect();
    out.extend(
        order::rules(cloud, groups, applies)
            .into_iter()
            .map(|(g, r)| Source::Rule(g, r)),
    );
    out
}

/// A source resolved to the fields of its entries.
struct Resolved<A: Addr> {
    decision: Decision,
    /// The group whose members the remote side is (then `remote` is any address).
    tag: Option<GroupKey>,
    /// Remote-side prefixes (source on ingress, destination on egress).
    remote: SmallVec<[Prefix<A>; 1]>,
    local: Prefix<A>,
    src_ports: SmallVec<[PortRange; 2]>,
    dst_ports: SmallVec<[PortRange; 2]>,
    protocol: Option<u8>,
    icmp_type: Option<u8>,
    icmp_code: Option<u8>,
    /// What to name in an error ([`Resolved::name`]).
    what: (GroupKey, Option<RuleKey>),
}

impl<A: Addr> Resolved<A> {
    /// The source as errors name it: the rule's id and its group's, or the group's
    /// intra-group policy. PERF: made only for an error.
    fn name(&self, cloud: &Cloud) -> String {
        let (g, rule) = self.what;
        let group = cloud.group(g);
        match rule {
            None => match group {
                Some(group) => format!("InnerAccessPolicy=Accept of group {}", group.id),
                None => format!("InnerAccessPolicy=Accept of {g}"),
            },
            Some(key) => match group.and_then(|gr| Some((gr, gr.rules.iter().find(|r| r.key == key)?))) {
                Some((gr, r)) => format!("{} of group {}", r.id, gr.id),
                None => key.to_string(),
            },
        }
    }

    /// Whether one of the source's entries holds every address and port pair (protocol
    /// and ICMP fields aside).
    fn catches_all(&self) -> bool {
        self.tag.is_none()
            && self.local == Prefix::ANY
            && self.remote.contains(&Prefix::ANY)
            && self.src_ports.contains(&PortRange::ANY)
            && self.dst_ports.contains(&PortRange::ANY)
    }
}

fn ranges(ports: &crate::rule::Ports) -> SmallVec<[PortRange; 2]> {
    // A range with lo > hi holds no port; PortRange's fields are public, so drop such ones.
    ports.0.iter().copied().filter(|r| r.lo <= r.hi).collect()
}

fn resolve<A: FamilyAddr>(ctx: &Ctx<'_>, source: &Source<'_>) -> Option<Resolved<A>> {
    match *source {
        Source::Intra(g) => Some(Resolved {
            decision: Decision {
                verdict: Verdict::Allow,
                reason: Reason::IntraGroup { group: g },
            },
            tag: Some(g),
            remote: smallvec![Prefix::ANY],
            local: Prefix::ANY,
            src_ports: smallvec![PortRange::ANY],
            dst_ports: smallvec![PortRange::ANY],
            protocol: None,
            icmp_type: None,
            icmp_code: None,
            what: (g, None),
        }),
        Source::Rule(g, rule) => {
            let local = match &rule.local {
                None => Prefix::ANY,
                // A local prefix of the other family never holds the packet's address.
                Some(net) => A::of_net(net)?,
            };
            let tag = match rule.remote {
                Remote::Group(target) => Some(target),
                _ => None,
            };
            let remote = match &rule.remote {
                Remote::Any | Remote::Group(_) => smallvec![Prefix::ANY],
                Remote::Cidr(net) => smallvec![A::of_net(net)?],
                Remote::AddressGroup(a) => {
                    let ag = ctx.cloud.address_group(*a)?;
                    let mut out = Vec::new();
                    for entry in &ag.entries {
                        match *entry {
                            AddressEntry::Net(net) => out.extend(A::of_net(&net)),
                            AddressEntry::Range(first, last) => A::range(first, last, &mut out),
                        }
                    }
                    aggregate(&mut out);
                    SmallVec::from_vec(out)
                }
            };
            Some(Resolved {
                decision: Decision::rule(
                    order::verdict(ctx.cloud.provider(), rule),
                    RuleRef {
                        group: g,
                        rule: rule.key,
                    },
                ),
                tag,
                remote,
                local,
                src_ports: ranges(&rule.src_ports),
                dst_ports: ranges(&rule.dst_ports),
                protocol: rule.protocol,
                icmp_type: rule.icmp.icmp_type,
                icmp_code: rule.icmp.icmp_code,
                what: (g, Some(rule.key)),
            })
        }
    }
}

/// Appends the cross product of a resolved source's fields to `part`.
#[allow(clippy::too_many_arguments)]
fn emit<A: Addr>(
    cloud: &Cloud,
    part: &mut Part<A>,
    r: &Resolved<A>,
    direction: Direction,
    dst_ports: &[PortRange],
    proto: (u8, u8),
    total: &mut usize,
    limit: usize,
    place: (usize, u128, &mut u64),
) -> Result<(), LowerError> {
    let (list, key, sum) = place;
    let mut index = 0u32;
    let n = r.remote.len() * r.src_ports.len() * dst_ports.len();
    *total = total.saturating_add(n);
    if *total > limit {
        return Err(LowerError::TooManyEntries {
            rule: r.name(cloud),
            limit,
        });
    }
    part.entries.reserve(n);
    part.decisions.reserve(n);
    part.tags.reserve(n);
    for &remote in &r.remote {
        let (src, dst) = match direction {
            Direction::Ingress => (remote, r.local),
            Direction::Egress => (r.local, remote),
        };
        for &sp in &r.src_ports {
            for &dp in dst_ports {
                let entry = Entry {
                    src,
                    dst,
                    src_ports: sp,
                    dst_ports: dp,
                    proto: proto.0,
                    proto_mask: proto.1,
                };
                *sum = sum.wrapping_add(entry_hash(list, &entry, &r.decision, r.tag, key, index));
                index += 1;
                part.entries.push(entry);
                part.decisions.push(r.decision);
                part.tags.push(r.tag);
            }
        }
    }
    Ok(())
}

/// The elementary-interval index of `port` among `classes` (sorted first ports, `classes[0]`
/// is 0).
#[inline]
pub(crate) fn port_class(classes: &[u16], port: u16) -> u16 {
    // PERF: only ICMP packets of lists with a code filter come here; the list is short.
    classes.partition_point(|&b| b <= port).saturating_sub(1) as u16
}

/// Lowers `groups` for a direction and family.
pub(crate) fn lower<A: FamilyAddr>(
    ctx: &Ctx<'_>,
    groups: &[GroupKey],
    direction: Direction,
    limit: usize,
) -> Result<Lowered<A>, LowerError> {
    let cloud = ctx.cloud;
    let sources = ordered(cloud, groups, direction, A::FAMILY);
    let simple = ctx.is_simple(groups);
    let mut resolved: Vec<Resolved<A>> = Vec::with_capacity(sources.len());
    let mut keys: Vec<u128> = Vec::with_capacity(sources.len());
    for s in &sources {
        if let Some(r) = resolve::<A>(ctx, s) {
            if !r.remote.is_empty() && !r.src_ports.is_empty() && !r.dst_ports.is_empty() {
                resolved.push(r);
                keys.push(source_key(cloud, groups, s));
            }
        }
    }
    let mut sum = 0u64;
    let mut cut: [Option<u128>; 3] = [None; 3];
    // An ICMP protocol needs its own list only when a rule that can match its packets
    // filters the ICMP type or code; otherwise the main list decides its packets exactly.
    let lanes = ICMP_PROTOCOLS.map(|protocol| {
        resolved.iter().any(|r| {
            r.protocol.is_none_or(|p| p == protocol) && (r.icmp_type.is_some() || r.icmp_code.is_some())
        })
    });
    let laned = |p: u8| ICMP_PROTOCOLS.iter().zip(lanes).any(|(&q, on)| on && q == p);
    let mut total = 0usize;
    let mut main = Part::default();
    // Most sources give one entry: room for them at once rather than growing per source.
    main.entries.reserve(resolved.len());
    main.decisions.reserve(resolved.len());
    main.tags.reserve(resolved.len());
    for (r, &key) in resolved.iter().zip(&keys) {
        let proto = match r.protocol {
            // These rules can only match packets that their ICMP list decides.
            Some(p) if laned(p) => continue,
            Some(p) => (p, 0xff),
            None => (0, 0),
        };
        emit(
            cloud,
            &mut main,
            r,
            direction,
            &r.dst_ports,
            proto,
            &mut total,
            limit,
            (0, key, &mut sum),
        )?;
        if r.protocol.is_none() && r.catches_all() {
            // Nothing after an entry that matches every packet can be a first match.
            cut[0] = Some(key);
            break;
        }
    }
    let mut icmp: [IcmpPart<A>; 2] = Default::default();
    for (l, ((slot, &protocol), on)) in icmp.iter_mut().zip(ICMP_PROTOCOLS.iter()).zip(lanes).enumerate() {
        if !on {
            continue;
        }
        let (members, member_keys): (Vec<&Resolved<A>>, Vec<u128>) = resolved
            .iter()
            .zip(&keys)
            .filter(|(r, _)| r.protocol.is_none_or(|p| p == protocol))
            .unzip();
        let coded = members.iter().any(|r| r.icmp_code.is_some());
        let mut part = Part::default();
        let classes = if coded {
            port_classes(cloud, &members)?
        } else {
            Vec::new()
        };
        for (r, key) in members.into_iter().zip(member_keys) {
            let proto = match r.icmp_type {
                Some(t) => (t, 0xff),
                None => (0, 0),
            };
            let dst_ports: Vec<PortRange> = if classes.is_empty() {
                r.dst_ports.to_vec()
            } else {
                let mut out = Vec::new();
                for range in &r.dst_ports {
                    let (lo, hi) = (port_class(&classes, range.lo), port_class(&classes, range.hi));
                    match r.icmp_code {
                        None => out.push(PortRange {
                            lo: lo << 8,
                            hi: hi << 8 | 0xff,
                        }),
                        Some(code) => {
                            out.extend((lo..=hi).map(|c| PortRange::single(c << 8 | u16::from(code))))
                        }
                    }
                }
                out
            };
            emit(
                cloud,
                &mut part,
                r,
                direction,
                &dst_ports,
                proto,
                &mut total,
                limit,
                (1 + l, key, &mut sum),
            )?;
            if r.icmp_type.is_none() && r.icmp_code.is_none() && r.catches_all() {
                cut[1 + l] = Some(key);
                break;
            }
        }
        slot.part = part.into();
        slot.classes = classes;
    }
    Ok(Lowered {
        main: main.into(),
        icmp,
        lanes,
        fallback: order::fallback(cloud, groups, direction),
        sum,
        cut,
        simple,
    })
}

/// What [`lower`] gives for `groups` and `direction`, made from tables already lowered
/// instead of from the rules: `donors[i]` is a table of another group list for the same
/// direction and family that holds `groups[i]`, whose entries for that group (its rules'
/// and its intra-group entry, found by their decisions) are taken as they are and merged
/// in the order keys of `groups` (each group's entries are in the same relative order in
/// every list: [`order::key`] orders one group's sources by rank and creation alone).
/// The entry hashes are taken again (the keys hold the group's place in the list).
///
/// `None` where that might not give [`lower`]'s lists, for [`lower`] to do the work: a
/// list or a donor that is not [`Lowered::simple`], a donor with ICMP lists (the lanes
/// depend on every group's rules) or cut short after a rule that matches everything (its
/// later sources are missing), an entry whose rule the cloud no longer has, more entries
/// than `limit` (for [`lower`] to name the rule).
pub(crate) fn merged<A: FamilyAddr>(
    ctx: &Ctx<'_>,
    groups: &[GroupKey],
    direction: Direction,
    limit: usize,
    donors: &[&Lowered<A>],
) -> Option<Lowered<A>> {
    let cloud = ctx.cloud;
    let provider = cloud.provider();
    if donors.len() != groups.len() || !ctx.is_simple(groups) {
        return None;
    }
    let plain = |d: &&Lowered<A>| d.simple && d.lanes == [false, false] && d.cut == [None; 3];
    if !donors.iter().all(plain) {
        return None;
    }
    // Per group: its entries in its donor (piece, place in the piece) with their order keys.
    type Run = Vec<(u128, (u32, u32))>;
    let mut runs: SmallVec<[Run; 8]> = SmallVec::with_capacity(groups.len());
    let mut total = 0usize;
    for (at, (&g, donor)) in groups.iter().zip(donors).enumerate() {
        // INVARIANT: some, as the list is simple.
        let ranks = ctx.ranks(g)?;
        // PERF: room for the donor's every entry (grown one push at a time otherwise).
        let mut run = Vec::with_capacity(donor.main.len());
        let mut last: Option<(Reason, u128)> = None;
        // PERF: piece by piece (a flattened iterator over a donor of ~850 entries cost more).
        for (n, piece) in donor.main.parts().iter().enumerate() {
            for (i, d) in piece.decisions.iter().enumerate() {
                let of_g = match d.reason {
                    Reason::Rule(r) => r.group == g,
                    Reason::IntraGroup { group } => group == g,
                    // Lowering makes no other entries; should one appear, lower afresh rather
                    // than drop it (a deny lost would let the fallback answer).
                    _ => return None,
                };
                if !of_g {
                    continue;
                }
                let key = match last {
                    Some((reason, key)) if reason == d.reason => key,
                    _ => {
                        let key = match d.reason {
                            Reason::Rule(r) => {
                                // The rule's rank as it is now (simple: keys increase).
                                let k = ranks.binary_search_by_key(&r.rule, |x| x.0).ok()?;
                                order::key(provider, at, Some((ranks[k].1, r.rule.get())))
                            }
                            _ => order::key(provider, at, None),
                        };
                        last = Some((d.reason, key));
                        key
                    }
                };
                run.push((key, (n as u32, i as u32)));
            }
        }
        total += run.len();
        runs.push(run);
    }
    if total > limit {
        return None;
    }
    let mut main = Part {
        entries: Vec::with_capacity(total),
        decisions: Vec::with_capacity(total),
        tags: Vec::with_capacity(total),
    };
    let mut sum = 0u64;
    // A k-way merge by key: each run is in key order, no two runs share a key.
    let mut heads: SmallVec<[usize; 8]> = smallvec![0; runs.len()];
    let (mut key_of_last, mut index) = (None, 0u32);
    for _ in 0..total {
        let mut best: Option<(u128, usize)> = None;
        for (r, run) in runs.iter().enumerate() {
            if let Some(&(key, _)) = run.get(heads[r]) {
                if best.is_none_or(|(k, _)| key < k) {
                    best = Some((key, r));
                }
            }
        }
        let (key, r) = best?;
        let i = runs[r][heads[r]].1;
        heads[r] += 1;
        let piece = &donors[r].main.parts()[i.0 as usize];
        let i = i.1 as usize;
        let (entry, decision, tag) = (piece.entries[i], piece.decisions[i], piece.tags[i]);
        index = if key_of_last == Some(key) { index + 1 } else { 0 };
        key_of_last = Some(key);
        sum = sum.wrapping_add(entry_hash(0, &entry, &decision, tag, key, index));
        main.entries.push(entry);
        main.decisions.push(decision);
        main.tags.push(tag);
    }
    Some(Lowered {
        main: main.into(),
        icmp: Default::default(),
        lanes: [false, false],
        fallback: order::fallback(cloud, groups, direction),
        sum,
        cut: [None; 3],
        simple: true,
    })
}

/// The first ports of the elementary intervals that the destination port ranges of `rules`
/// cut `0..=65535` into.
fn port_classes<A: Addr>(cloud: &Cloud, rules: &[&Resolved<A>]) -> Result<Vec<u16>, LowerError> {
    let mut bounds = vec![0u16];
    for r in rules {
        for range in &r.dst_ports {
            bounds.push(range.lo);
            if let Some(next) = range.hi.checked_add(1) {
                bounds.push(next);
            }
        }
        bounds.sort_unstable();
        bounds.dedup();
        if bounds.len() > MAX_PORT_CLASSES {
            return Err(LowerError::IcmpPortClasses { rule: r.name(cloud) });
        }
    }
    Ok(bounds)
}

/// The hash of one entry of list `list` (0 main, 1 ICMP, 2 ICMPv6): its fields, decision
/// and tag, its source's order key and its index among that source's entries. A lowered
/// table's fingerprint sums these (with [`Lowered::sum`]), so entries spliced in or out
/// change it without hashing the rest; with the order keys, the sum tells the lists of a
/// [`Lowered::simple`] table apart as the lists themselves would.
///
/// PERF: the fields are packed into ten 64-bit words and mixed two at a time by a
/// folded multiply (as foldhash mixes integers), rather than hashed as bytes (foldhash
/// over a packed 56-byte layout took ~106 instructions an entry, 6% of a new combination's
/// refresh in `update_latency 0 5000` under callgrind; SipHash over `derive(Hash)` before
/// it ~330). A fingerprint is no proof of equal tables: the engine compares the lists of
/// tables whose fingerprints are equal before sharing one (`compile::table`), and keys the
/// copies a refresh makes by table, not fingerprint.
pub(crate) fn entry_hash<A: Addr>(
    list: usize,
    entry: &Entry<A>,
    decision: &Decision,
    tag: Option<GroupKey>,
    key: u128,
    index: u32,
) -> u64 {
    // Lowering makes only rule and intra-group decisions; any other is hashed in full.
    let (kind, a, c) = match decision.reason {
        Reason::Rule(r) => (1u64, r.group.get(), r.rule.get()),
        Reason::IntraGroup { group } => (2, group.get(), 0),
        other => {
            let mut h = DefaultHasher::new();
            other.hash(&mut h);
            let x = h.finish();
            (3, x as u32, (x >> 32) as u32)
        }
    };
    let (tagged, g) = tag.map_or((0u64, 0u64), |g| (1, g.get().into()));
    let (src, dst) = (entry.src.addr.to_u128(), entry.dst.addr.to_u128());
    let r = |p: PortRange| u64::from(p.lo) | u64::from(p.hi) << 16;
    let words = [
        list as u64
            | u64::from(entry.src.len) << 8
            | u64::from(entry.dst.len) << 16
            | u64::from(entry.proto) << 24
            | u64::from(entry.proto_mask) << 32
            | u64::from(decision.verdict as u8) << 40
            | kind << 48
            | tagged << 56,
        r(entry.src_ports) | r(entry.dst_ports) << 32,
        u64::from(a) | u64::from(c) << 32,
        g | u64::from(index) << 32,
        key as u64,
        (key >> 64) as u64,
        src as u64,
        (src >> 64) as u64,
        dst as u64,
        (dst >> 64) as u64,
    ];
    // Fixed constants, so that fingerprints do not change between runs.
    const SEED: u64 = 0x5eed_e4e7_a11f_0dd5;
    const K: [u64; 2] = [0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344];
    let fold = |x: u64, y: u64| {
        let p = u128::from(x) * u128::from(y);
        (p as u64) ^ (p >> 64) as u64
    };
    let h = words
        .chunks_exact(2)
        .fold(SEED, |h, w| fold(w[0] ^ h ^ K[0], w[1] ^ K[1]));
    fold(h ^ K[1], K[0])
}

/// The order key of a source of `groups`' tables ([`order::key`]).
fn source_key(cloud: &Cloud, groups: &[GroupKey], source: &Source<'_>) -> u128 {
    let at = |g: GroupKey| groups.iter().position(|&x| x == g).unwrap_or(usize::MAX >> 32);
    match *source {
        Source::Intra(g) => order::key(cloud.provider(), at(g), None),
        Source::Rule(g, rule) => order::key(
            cloud.provider(),
            at(g),
            Some((order::rank_key(rule), rule.key.get())),
        ),
    }
}

/// One rule change of a group, for [`splice`].
#[derive(Clone, Copy, Debug)]
pub(crate) enum Edit<'c> {
    /// A rule the tables were lowered with is gone.
    Remove {
        /// Its group.
        group: GroupKey,
        /// The rule.
        rule: RuleKey,
        /// Its rank ([`order::rank_key`]) when it was lowered.
        rank: u32,
        /// Whether it filtered the ICMP type or code (then the ICMP lists may change as a
        /// whole).
        icmp_filter: bool,
    },
    /// A rule is new.
    Add {
        /// Its group.
        group: GroupKey,
        /// The rule (in the cloud after the change).
        rule: &'c Rule,
    },
}

/// What [`splice`] changed in one list: entries `.0..​.1` of the old list became entries
/// `.0..​.0 + .2` of the new one.
pub(crate) type Splice = Option<(usize, usize, usize)>;

fn list_mut<A: Addr>(lowered: &mut Lowered<A>, l: usize) -> &mut List<A> {
    match l {
        0 => &mut lowered.main,
        _ => &mut lowered.icmp[l - 1].part,
    }
}

/// `lowered` (the table of `groups` for `direction`) after one rule change, the same as
/// [`lower`] would give on the changed cloud, with what changed per list. `Ok(None)`:
/// the change leaves the table as it is. `Err(())`: the change reaches beyond one rule's
/// entries (the ICMP lists' encoding, the referenced groups, a catch-all rule, a limit, an
/// order the keys do not give) and the table must be lowered anew.
///
/// `rank` gives the rank ([`order::rank_key`]) of a rule of the table's sources in the
/// changed cloud.
#[allow(clippy::type_complexity)]
pub(crate) fn splice<A: FamilyAddr>(
    ctx: &Ctx<'_>,
    lowered: &Lowered<A>,
    groups: &[GroupKey],
    direction: Direction,
    limit: usize,
    edit: Edit<'_>,
    rank: &dyn Fn(GroupKey, RuleKey) -> Option<u32>,
) -> Result<Option<(Lowered<A>, [Splice; 3])>, ()> {
    // An ICMP list that encodes codes takes its port classes from every rule that may
    // match ICMP, listed or not (past a cut): any change may move them.
    if !lowered.simple || lowered.icmp.iter().any(|i| !i.classes.is_empty()) {
        return Err(());
    }
    let provider = ctx.cloud.provider();
    let at = |g: GroupKey| groups.iter().position(|&x| x == g);
    let part = |l: usize| -> &List<A> {
        match l {
            0 => &lowered.main,
            _ => &lowered.icmp[l - 1].part,
        }
    };
    match edit {
        Edit::Remove {
            group,
            rule,
            rank,
            icmp_filter,
        } => {
            if icmp_filter {
                return Err(());
            }
            let key = order::key(provider, at(group).ok_or(())?, Some((rank, rule.get())));
            let target = Reason::Rule(RuleRef { group, rule });
            let mut out: Option<Lowered<A>> = None;
            let mut changes: [Splice; 3] = [None; 3];
            let mut tag = None;
            for (l, change) in changes.iter_mut().enumerate() {
                let p = part(l);
                let Some(start) = p.position(|d| d.reason == target) else {
                    continue;
                };
                if lowered.cut[l] == Some(key) || (l > 0 && !lowered.icmp[l - 1].classes.is_empty()) {
                    return Err(());
                }
                let o = out.get_or_insert_with(|| lowered.emptied());
                let mut end = start;
                for (e, d, t) in p.range(start, p.len()).take_while(|(_, d, _)| d.reason == target) {
                    let h = entry_hash(l, e, d, *t, key, (end - start) as u32);
                    o.sum = o.sum.wrapping_sub(h);
                    tag = tag.or(*t);
                    end += 1;
                }
                *list_mut(o, l) = p.replaced(start, end, &Part::default());
                *change = Some((start, end, 0));
            }
            let Some(mut out) = out else {
                return Ok(None);
            };
            for (l, change) in changes.iter().enumerate() {
                if change.is_none() {
                    *list_mut(&mut out, l) = part(l).clone();
                }
            }
            // The last entry for a group's members gone: the table references fewer groups.
            if let Some(t) = tag {
                if !out.refs().contains(&t) {
                    return Err(());
                }
            }
            Ok(Some((out, changes)))
        }
        Edit::Add { group, rule } => {
            let applies =
                rule.enabled && rule.direction == direction && rule.family.is_none_or(|f| f == A::FAMILY);
            if !applies {
                return Ok(None);
            }
            let gi = at(group).ok_or(())?;
            let Some(r) = resolve::<A>(ctx, &Source::Rule(group, rule)) else {
                return Ok(None);
            };
            if r.remote.is_empty() || r.src_ports.is_empty() || r.dst_ports.is_empty() {
                return Ok(None);
            }
            if r.icmp_type.is_some() || r.icmp_code.is_some() || (r.protocol.is_none() && r.catches_all()) {
                return Err(());
            }
            if let Some(t) = r.tag {
                let known = (0..3).any(|l| part(l).tags().any(|x| *x == Some(t)));
                if !known {
                    return Err(());
                }
            }
            let key = order::key(provider, gi, Some((order::rank_key(rule), rule.key.get())));
            let key_of = |d: &Decision| -> Option<u128> {
                match d.reason {
                    Reason::Rule(r) => Some(order::key(
                        provider,
                        at(r.group)?,
                        Some((rank(r.group, r.rule)?, r.rule.get())),
                    )),
                    Reason::IntraGroup { group } => Some(order::key(provider, at(group)?, None)),
                    _ => None,
                }
            };
            let mut total: usize = (0..3).map(|l| part(l).len()).sum();
            let mut out = lowered.emptied();
            let mut changes: [Splice; 3] = [None; 3];
            let mut lists: [Option<List<A>>; 3] = [None, None, None];
            for l in 0..3 {
                let proto = if l == 0 {
                    match r.protocol {
                        Some(p)
                            if ICMP_PROTOCOLS
                                .iter()
                                .zip(lowered.lanes)
                                .any(|(&q, on)| on && q == p) =>
                        {
                            continue
                        }
                        Some(p) => (p, 0xff),
                        None => (0, 0),
                    }
                } else {
                    let protocol = ICMP_PROTOCOLS[l - 1];
                    if !lowered.lanes[l - 1] || r.protocol.is_some_and(|p| p != protocol) {
                        continue;
                    }
                    // A rule that holds every address and port ends an ICMP list (lowering
                    // cuts the list after it), as would a port-class encoding change it.
                    if !lowered.icmp[l - 1].classes.is_empty() || r.catches_all() {
                        return Err(());
                    }
                    (0, 0)
                };
                if lowered.cut[l].is_some_and(|c| key > c) {
                    continue;
                }
                let mut new = Part::default();
                emit(
                    ctx.cloud,
                    &mut new,
                    &r,
                    direction,
                    &r.dst_ports,
                    proto,
                    &mut total,
                    limit,
                    (l, key, &mut out.sum),
                )
                .map_err(|_| ())?;
                let p = part(l);
                let mut broken = false;
                let pos = p.partition_point(|d| match key_of(d) {
                    Some(k) => k < key,
                    None => {
                        broken = true;
                        false
                    }
                });
                if broken {
                    return Err(());
                }
                lists[l] = Some(p.replaced(pos, pos, &new));
                changes[l] = Some((pos, pos, new.entries.len()));
            }
            if changes.iter().all(Option::is_none) {
                return Ok(None);
            }
            for (l, list) in lists.into_iter().enumerate() {
                *list_mut(&mut out, l) = list.unwrap_or_else(|| part(l).clone());
            }
            Ok(Some((out, changes)))
        }
    }
}

impl<A: Addr> Lowered<A> {
    /// [`List::fine`] of every list.
    pub(crate) fn fine(&mut self) {
        self.main.fine();
        for i in &mut self.icmp {
            i.part.fine();
        }
    }

    /// This table's lanes, port classes, fallback, sum and cuts, with empty lists.
    pub(crate) fn emptied(&self) -> Lowered<A> {
        Lowered {
            main: List::default(),
            icmp: [0, 1].map(|i| IcmpPart {
                part: List::default(),
                classes: self.icmp[i].classes.clone(),
            }),
            lanes: self.lanes,
            fallback: self.fallback,
            sum: self.sum,
            cut: self.cut,
            simple: self.simple,
        }
    }
}
