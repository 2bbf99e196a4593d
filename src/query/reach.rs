//! Reachability maps: the exact partition of the traffic from X to Y into regions, each
//! with its verdict and what decided it at each hop.

use std::collections::HashMap;

use serde_json::{json, Value};
use smallvec::SmallVec;

use super::hop::{hop_list, HopList};
use super::partition::{merge, partition, Picks};
use super::ranges::{Count, Ranges};
use super::render::{count_json, hop_json, hop_text};
use super::space::{parts, Mode, Part, QueryError, Restrict, Shape, Side, DST, SRC};
use super::unresolved::{Item, Unknowns};
use crate::cloud::Cloud;
use crate::decision::{Decision, Verdict};
use crate::flow::Hop;
use crate::group::EndpointKey;
use crate::packet::ConnState;
use crate::provider::Provider;
use crate::rule::{Direction, Family};

/// A flow query: from X to Y, which connection state, and optionally which protocols
/// and ports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    /// Where packets come from.
    pub from: Side,
    /// Where packets go.
    pub to: Side,
    /// New connections, established packets, or round trips.
    pub mode: Mode,
    /// Narrowing of the protocols and ports.
    pub restrict: Restrict,
}

impl Query {
    /// New connections from `from` to `to`, every protocol and port.
    pub fn new(from: Side, to: Side) -> Query {
        Query {
            from,
            to,
            mode: Mode::New,
            restrict: Restrict::default(),
        }
    }

    /// The same query in another mode.
    pub fn with_mode(mut self, mode: Mode) -> Query {
        self.mode = mode;
        self
    }
}

/// One region of a reachability map.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// The packets.
    pub shape: Shape,
    /// Allow when every hop allows.
    pub verdict: Verdict,
    /// Egress at the source endpoint (when the source is one), then ingress at the
    /// destination endpoint (when it is one); for round trips, then the reply hops.
    pub hops: Vec<Hop>,
}

/// How much of the space has one verdict, in one family.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Exposure {
    /// The verdict.
    pub verdict: Verdict,
    /// The family.
    pub family: Family,
    /// How many regions.
    pub regions: usize,
    /// How many distinct source addresses appear in those regions, exactly (up to 2^128
    /// for all of IPv6).
    pub src_addresses: Count,
    /// How many distinct destination addresses.
    pub dst_addresses: Count,
    /// How many distinct protocols.
    pub protocols: Count,
    /// How many distinct source ports.
    pub src_ports: Count,
    /// How many distinct destination ports.
    pub dst_ports: Count,
}

/// A reachability map.
#[derive(Clone, Debug)]
pub struct Reach {
    /// The mode asked.
    pub mode: Mode,
    /// Disjoint regions that together cover the queried space (packets mixing address
    /// families are not part of it: no such packet exists, and every engine denies one).
    pub regions: Vec<Region>,
    provider: Provider,
}

/// One flow problem: one family, one part of each side, and the hops that decide
/// there, as indexes into an arena (per cloud, in order).
pub(crate) struct Run {
    pub family: Family,
    pub from: Part,
    pub to: Part,
    /// Hop indexes of each cloud (egress first, then ingress).
    pub hops: Vec<SmallVec<[usize; 2]>>,
}

/// The runs of a query over one or more clouds, and the hop arena they index.
pub(crate) fn runs(clouds: &[&Cloud], query: &Query) -> Result<(Vec<Run>, Vec<HopList>), QueryError> {
    query.restrict.check()?;
    let from = query.from.resolve(clouds)?;
    let to = query.to.resolve(clouds)?;
    let established = query.mode == Mode::Established;
    let mut arena: Vec<HopList> = Vec::new();
    let mut cache: HashMap<(usize, EndpointKey, Direction, Family), usize> = HashMap::new();
    let mut hop = |c: usize, e: EndpointKey, dir: Direction, family: Family| -> usize {
        *cache.entry((c, e, dir, family)).or_insert_with(|| {
            arena.push(hop_list(clouds[c], e, dir, family, established));
            arena.len() - 1
        })
    };
    let mut out = Vec::new();
    for (fi, family) in [Family::V4, Family::V6].into_iter().enumerate() {
        if from[fi].is_empty() || to[fi].is_empty() {
            continue;
        }
        let src_parts = parts(&from[fi], family, clouds);
        let dst_parts = parts(&to[fi], family, clouds);
        for s in &src_parts {
            for d in &dst_parts {
                let mut hops = Vec::with_capacity(clouds.len());
                for c in 0..clouds.len() {
                    let mut h = SmallVec::new();
                    if let Some(e) = s.owners[c] {
                        h.push(hop(c, e, Direction::Egress, family));
                    }
                    if let Some(e) = d.owners[c] {
                        h.push(hop(c, e, Direction::Ingress, family));
                    }
                    hops.push(h);
                }
                out.push(Run {
                    family,
                    from: s.clone(),
                    to: d.clone(),
                    hops,
                });
            }
        }
    }
    Ok((out, arena))
}

impl Run {
    /// The run's space: the query's narrowing, with its parts' addresses.
    pub(crate) fn cube(&self, restrict: &Restrict) -> super::space::Cube {
        let mut c = restrict.cube(self.family);
        c[SRC] = self.from.addrs.clone();
        c[DST] = self.to.addrs.clone();
        c
    }

    /// The hops of every cloud, flattened.
    pub(crate) fn all_hops<'a>(&self, arena: &'a [HopList]) -> Vec<&'a HopList> {
        self.hops.iter().flatten().map(|&i| &arena[i]).collect()
    }
}

/// The hops of one cloud for a leaf's picks (`offset`: where that cloud's picks start),
/// with the reply hops of a round trip.
pub(crate) fn leaf_hops(
    run: &Run,
    cloud: usize,
    arena: &[HopList],
    picks: &Picks,
    offset: usize,
    mode: Mode,
) -> Vec<Hop> {
    let mut hops: Vec<Hop> = run.hops[cloud]
        .iter()
        .enumerate()
        .map(|(j, &h)| {
            let list = &arena[h];
            Hop {
                endpoint: list.endpoint,
                direction: list.direction,
                decision: list.decision(picks[offset + j]),
            }
        })
        .collect();
    if mode == Mode::RoundTrip {
        if let Some(e) = run.to.owners[cloud] {
            hops.push(Hop {
                endpoint: e,
                direction: Direction::Egress,
                decision: Decision::ESTABLISHED,
            });
        }
        if let Some(e) = run.from.owners[cloud] {
            hops.push(Hop {
                endpoint: e,
                direction: Direction::Ingress,
                decision: Decision::ESTABLISHED,
            });
        }
    }
    hops
}

/// Allow when every hop allows.
pub(crate) fn verdict_of(hops: &[Hop]) -> Verdict {
    if hops.iter().all(|h| h.decision.is_allow()) {
        Verdict::Allow
    } else {
        Verdict::Deny
    }
}

/// The reachability map of `query` in `cloud`.
///
/// # Errors
/// A side that names no endpoint of the cloud and is not an address or CIDR.
pub fn reach(cloud: &Cloud, query: &Query) -> Result<Reach, QueryError> {
    let (runs, arena) = runs(&[cloud], query)?;
    let mut keyed: Vec<((usize, Picks), super::space::Cube)> = Vec::new();
    for (r, run) in runs.iter().enumerate() {
        let hops = run.all_hops(&arena);
        for leaf in partition(&hops, &run.cube(&query.restrict)) {
            keyed.push(((r, leaf.picks), leaf.cube));
        }
    }
    let mut regions: Vec<Region> = merge(keyed)
        .into_iter()
        .map(|((r, picks), cube)| {
            let run = &runs[r];
            let hops = leaf_hops(run, 0, &arena, &picks, 0, query.mode);
            Region {
                shape: Shape::from_cube(run.family, &cube),
                verdict: verdict_of(&hops),
                hops,
            }
        })
        .collect();
    regions.sort_by(|a, b| a.shape.cmp(&b.shape));
    Ok(Reach {
        mode: query.mode,
        regions,
        provider: cloud.provider(),
    })
}

impl Region {
    /// The smallest packet of the region.
    pub fn witness(&self, mode: Mode) -> crate::Packet {
        self.shape.witness(if mode == Mode::Established {
            ConnState::Established
        } else {
            ConnState::New
        })
    }
}

impl Reach {
    /// The regions with a verdict.
    pub fn with_verdict(&self, verdict: Verdict) -> impl Iterator<Item = &Region> {
        self.regions.iter().filter(move |r| r.verdict == verdict)
    }

    /// Per verdict and family, how much of the space it covers (the exposure).
    pub fn exposure(&self) -> Vec<Exposure> {
        let mut out = Vec::new();
        for verdict in [Verdict::Allow, Verdict::Deny] {
            for family in [Family::V4, Family::V6] {
                let regions: Vec<&Region> = self
                    .regions
                    .iter()
                    .filter(|r| r.verdict == verdict && r.shape.family == family)
                    .collect();
                if regions.is_empty() {
                    continue;
                }
                let union = |f: fn(&Shape) -> &Ranges| {
                    regions
                        .iter()
                        .fold(Ranges::empty(), |acc, r| acc.union(f(&r.shape)))
                        .count()
                };
                out.push(Exposure {
                    verdict,
                    family,
                    regions: regions.len(),
                    src_addresses: union(|s| &s.src),
                    dst_addresses: union(|s| &s.dst),
                    protocols: union(|s| &s.protocols),
                    src_ports: union(|s| &s.src_ports),
                    dst_ports: union(|s| &s.dst_ports),
                });
            }
        }
        out
    }

    /// The map as JSON: `{"mode", "regions": [{"verdict", "family", "src", "dst",
    /// "protocols", "src_ports", "dst_ports", ["icmp_types", "icmp_codes"], "hops",
    /// "witness"}], "exposure": [...]}`.
    pub fn to_json(&self, cloud: &Cloud) -> Value {
        self.json(cloud, None)
    }

    /// Per region, the unresolved items (indices into [`Unknowns::items`]) its answer may
    /// depend on, conservatively ([`Unknowns::touches`]); none for established packets,
    /// which no rule decides.
    pub fn unresolved(&self, cloud: &Cloud, unknowns: &Unknowns) -> Vec<Vec<usize>> {
        self.regions
            .iter()
            .map(|r| match self.mode {
                Mode::Established => Vec::new(),
                _ => unknowns.touches(cloud, &r.hops),
            })
            .collect()
    }

    /// As [`Reach::to_json`], with `"unresolved": [items]` on each region whose answer may
    /// depend on an unresolved item ([`Reach::unresolved`]) and `"unresolved_regions"`,
    /// their count. Without items, exactly [`Reach::to_json`].
    pub fn to_json_marked(&self, cloud: &Cloud, unknowns: &Unknowns) -> Value {
        if unknowns.items().is_empty() {
            return self.to_json(cloud);
        }
        self.json(cloud, Some(unknowns))
    }

    fn json(&self, cloud: &Cloud, unknowns: Option<&Unknowns>) -> Value {
        let marks = unknowns.map(|u| self.unresolved(cloud, u));
        let icmp = self.provider == Provider::Gcore;
        let regions: Vec<Value> = self
            .regions
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let mut m = serde_json::Map::new();
                m.insert("verdict".into(), json!(r.verdict));
                r.shape.write_json(&mut m, icmp);
                m.insert(
                    "hops".into(),
                    Value::Array(r.hops.iter().map(|h| hop_json(cloud, h)).collect()),
                );
                m.insert("witness".into(), super::space::packet_json(&r.witness(self.mode)));
                if let (Some(u), Some(items)) = (unknowns, marks.as_ref().map(|m| &m[i])) {
                    if !items.is_empty() {
                        let items: Vec<&Item> = items.iter().map(|&k| &u.items()[k]).collect();
                        m.insert("unresolved".into(), json!(items));
                    }
                }
                Value::Object(m)
            })
            .collect();
        let exposure: Vec<Value> = self
            .exposure()
            .iter()
            .map(|e| {
                json!({
                    "verdict": e.verdict,
                    "family": e.family,
                    "regions": e.regions,
                    "src_addresses": e.src_addresses.to_string(),
                    "dst_addresses": e.dst_addresses.to_string(),
                    "protocols": count_json(e.protocols),
                    "src_ports": count_json(e.src_ports),
                    "dst_ports": count_json(e.dst_ports),
                })
            })
            .collect();
        let mut out = json!({"mode": self.mode.name(), "regions": regions, "exposure": exposure});
        if let Some(marks) = &marks {
            out["unresolved_regions"] = json!(marks.iter().filter(|m| !m.is_empty()).count());
        }
        out
    }

    /// The map for people: one block per region, then the exposure.
    pub fn to_text(&self, cloud: &Cloud) -> String {
        self.text(cloud, None)
    }

    /// As [`Reach::to_text`], with a line `unresolved: ...` naming the items under each
    /// region whose answer may depend on them ([`Reach::unresolved`]), and their count at
    /// the end. Without items, exactly [`Reach::to_text`].
    pub fn to_text_marked(&self, cloud: &Cloud, unknowns: &Unknowns) -> String {
        if unknowns.items().is_empty() {
            return self.to_text(cloud);
        }
        self.text(cloud, Some(unknowns))
    }

    fn text(&self, cloud: &Cloud, unknowns: Option<&Unknowns>) -> String {
        let marks = unknowns.map(|u| self.unresolved(cloud, u));
        let icmp = self.provider == Provider::Gcore;
        let mut s = String::new();
        for (i, r) in self.regions.iter().enumerate() {
            s.push_str(&format!(
                "{:<5} {}\n",
                r.verdict.to_string().to_uppercase(),
                r.shape.text(icmp)
            ));
            if r.hops.is_empty() {
                s.push_str("      no security group on the way (neither side is an endpoint)\n");
            }
            for h in &r.hops {
                s.push_str(&format!("      {}\n", hop_text(cloud, h)));
            }
            if let (Some(u), Some(items)) = (unknowns, marks.as_ref().map(|m| &m[i])) {
                for &k in items {
                    s.push_str(&format!("      unresolved: {}\n", u.items()[k]));
                }
            }
        }
        if self.regions.is_empty() {
            s.push_str("no traffic: the two sides share no address family\n");
        }
        for e in self.exposure() {
            s.push_str(&format!(
                "{} {}: {} region(s), {} source address(es), {} destination address(es), {} protocol(s), \
                 {} destination port(s)\n",
                e.verdict, e.family, e.regions, e.src_addresses, e.dst_addresses, e.protocols, e.dst_ports
            ));
        }
        if let Some(marks) = &marks {
            s.push_str(&format!(
                "{} region(s) may depend on unresolved items (their answer is the cloud as built)\n",
                marks.iter().filter(|m| !m.is_empty()).count()
            ));
        }
        s
    }
}
