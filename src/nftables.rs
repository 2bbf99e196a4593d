//! Export: an endpoint's decisions as a Linux nftables ruleset (`table inet sgeval`).
//!
//! The ruleset decides every packet as the compiled engine does, so a Linux host or a
//! network namespace (containerlab, Mininet, `ip netns`) can enforce a cloud's semantics,
//! and the kernel can serve as an oracle that shares no code with sgeval
//! (`tests/nft_oracle.rs`).
//!
//! Shape of the table:
//!
//! - one base chain per direction (`ingress` on `hook input`, `egress` on `hook output`,
//!   `priority filter`), whose first rule is `ct state established,related accept`
//!   (Decision 2) and whose policy is the provider's default (one endpoint) or `accept`
//!   (every endpoint: an address that is no endpoint imposes no decision, Decision 1);
//! - the base chain jumps, by family (`meta nfproto`), address or interface, to one regular
//!   chain per endpoint, direction and family, which holds the rules in the provider's
//!   decision order (the order the compiled engine lowers, `compile::lower::ordered`), each
//!   `accept` or `drop` and so first match wins, and ends with the provider default;
//! - the member addresses of referenced groups and the entries of address groups are named
//!   interval sets, one per family, so a membership change is a set update
//!   ([`set_updates`]);
//! - every rule pins its family (`ip`/`ip6` address matches or `meta nfproto`), matches
//!   ports only through `tcp`/`udp`/`dccp`/`sctp`/`udplite` `sport`/`dport` (a bare
//!   `th dport` would read the first bytes of any protocol), and carries
//!   `comment "<rule id>"` so the kernel's trace names the deciding rule.
//!
//! What the kernel cannot express exactly is refused ([`ExportError::Inexpressible`]),
//! never approximated.
//!
//! ```
//! use sgeval::nftables::{self, Export};
//! use sgeval::Scenario;
//!
//! let scenario = Scenario::from_json(r#"{
//!   "provider": "huawei",
//!   "calls": [
//!     {"api": "CreateSecurityGroup", "ref": "web", "body": {"security_group": {"name": "web"}}},
//!     {"api": "CreateSecurityGroupRule", "body": {"security_group_rule": {
//!        "security_group_id": "$web", "direction": "ingress", "protocol": "tcp",
//!        "multiport": "443", "remote_ip_prefix": "0.0.0.0/0", "action": "allow", "priority": 1}}}
//!   ],
//!   "endpoints": [{"name": "vm-a", "ips": ["192.168.0.10"], "groups": ["$web"]}]
//! }"#).unwrap();
//! let cloud = scenario.build().unwrap();
//! let vm = cloud.endpoint_by_name("vm-a").unwrap();
//! let text = nftables::table(&cloud, &Export::endpoint(vm)).unwrap();
//! assert!(text.contains("ip saddr 0.0.0.0/0 tcp dport 443 accept"));
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::cloud::Cloud;
use crate::compile::lower::{ordered, Source};
use crate::decision::{Decision, Reason, Verdict};
use crate::group::{AddressEntry, AddressGroupKey, EndpointKey, GroupKey};
use crate::order::fallback;
use crate::packet::{ICMP, ICMPV6};
use crate::rule::{Direction, Family, PortRange, Ports, Remote, Rule};

/// The table every export defines (`table inet sgeval`).
pub const TABLE: &str = "sgeval";

/// Longest comment the kernel stores (`NFT_USERDATA_MAXLEN` for comments).
const MAX_COMMENT: usize = 128;

/// IPv6 next-header values the kernel's transport lookup (`ipv6_find_hdr`) walks over
/// rather than reports: hop-by-hop, routing, fragment, AH, no next header, destination
/// options.
const IPV6_WALKED: [u8; 6] = [0, 43, 44, 51, 59, 60];

/// Longest interface name (`IFNAMSIZ` - 1).
const MAX_IFNAME: usize = 15;

/// How `--all` tells endpoints apart in the base chains.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// By the endpoint's addresses: `ip daddr` on ingress, `ip saddr` on egress (a host
    /// that owns every endpoint address).
    Address,
    /// By interface, named like the endpoint: `iifname` on ingress, `oifname` on egress (a
    /// host with one interface per endpoint).
    Interface,
}

/// Which endpoints an export covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// One endpoint: every packet through the hooks is its packet.
    Endpoint(EndpointKey),
    /// Every endpoint of the cloud, told apart by [`Key`].
    All(Key),
}

/// What to export.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Export {
    /// The endpoints.
    pub scope: Scope,
    /// The directions, each a base chain (ingress first when both).
    pub directions: Vec<Direction>,
}

impl Export {
    /// One endpoint, both directions.
    pub fn endpoint(endpoint: EndpointKey) -> Export {
        Export {
            scope: Scope::Endpoint(endpoint),
            directions: Direction::ALL.to_vec(),
        }
    }

    /// Every endpoint keyed by `key`, both directions.
    pub fn all(key: Key) -> Export {
        Export {
            scope: Scope::All(key),
            directions: Direction::ALL.to_vec(),
        }
    }
}

/// Why an export was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// The endpoint key names no endpoint of the cloud.
    #[error("endpoint `{0:?}` is not in the scenario")]
    UnknownEndpoint(EndpointKey),
    /// A rule the kernel cannot match exactly.
    #[error("rule `{rule}`: {why}; nftables cannot express it exactly, so it is not exported")]
    Inexpressible {
        /// The rule id.
        rule: String,
        /// What the kernel lacks.
        why: String,
    },
    /// A name that cannot go into the ruleset as it is (comment, interface).
    #[error("{what} `{value}`: {why}")]
    BadName {
        /// What the name is.
        what: &'static str,
        /// The name.
        value: String,
        /// Why it does not fit.
        why: &'static str,
    },
    /// Two endpoints share an address, so `--all` keyed by address cannot tell them apart.
    #[error("address `{addr}` belongs to endpoints `{first}` and `{second}`; key by interface instead")]
    SharedAddress {
        /// The address.
        addr: IpAddr,
        /// The first endpoint holding it.
        first: String,
        /// The second.
        second: String,
    },
    /// No direction to export.
    #[error("no direction to export")]
    NoDirection,
}

/// The ruleset text for `nft -f`: it replaces `table inet sgeval` atomically (the table
/// is declared, deleted and defined again in one transaction).
///
/// # Errors
/// An unknown endpoint, a rule the kernel cannot express exactly, a name that does not fit
/// (see [`ExportError`]).
pub fn table(cloud: &Cloud, export: &Export) -> Result<String, ExportError> {
    let built = Builder::build(cloud, export)?;
    Ok(built.render())
}

/// The set and map updates that bring a loaded export's named sets to `cloud`'s group
/// memberships, address groups and (for [`Scope::All`] keyed by address) endpoint
/// addresses, as one `nft -f` transaction (each set flushed and refilled). Valid when only
/// memberships changed: compare [`table`]'s output otherwise.
///
/// # Errors
/// As [`table`].
pub fn set_updates(cloud: &Cloud, export: &Export) -> Result<String, ExportError> {
    let built = Builder::build(cloud, export)?;
    let mut out = String::new();
    for set in built.sets.values() {
        let _ = writeln!(out, "flush set inet {TABLE} {}", set.name);
        if !set.elements.is_empty() {
            let _ = writeln!(
                out,
                "add element inet {TABLE} {} {{ {} }}",
                set.name,
                set.elements.join(", ")
            );
        }
    }
    for map in &built.maps {
        let _ = writeln!(out, "flush map inet {TABLE} {}", map.name);
        if !map.elements.is_empty() {
            let _ = writeln!(
                out,
                "add element inet {TABLE} {} {{ {} }}",
                map.name,
                map.elements.join(", ")
            );
        }
    }
    Ok(out)
}

/// A named interval set of addresses of one family.
struct Set {
    name: String,
    family: Family,
    comment: String,
    elements: Vec<String>,
}

/// A named verdict map (endpoint address or interface to its chain).
struct Map {
    name: String,
    key_type: &'static str,
    elements: Vec<String>,
}

/// A chain and its rules.
struct Chain {
    name: String,
    /// `type filter hook H priority filter; policy P;` for base chains.
    base: Option<(&'static str, Verdict)>,
    rules: Vec<String>,
}

/// Where set names and chains are collected.
struct Builder<'c> {
    cloud: &'c Cloud,
    /// Sets by (kind, key, family); kind 0 is a group's members, 1 an address group.
    sets: BTreeMap<(u8, u32, Family), Set>,
    maps: Vec<Map>,
    chains: Vec<Chain>,
    names: HashSet<String>,
}

impl<'c> Builder<'c> {
    fn build(cloud: &'c Cloud, export: &Export) -> Result<Builder<'c>, ExportError> {
        if export.directions.is_empty() {
            return Err(ExportError::NoDirection);
        }
        let mut directions = export.directions.clone();
        directions.sort();
        directions.dedup();
        let mut b = Builder {
            cloud,
            sets: BTreeMap::new(),
            maps: Vec::new(),
            chains: Vec::new(),
            names: ["ingress", "egress"].iter().map(|s| s.to_string()).collect(),
        };
        match export.scope {
            Scope::Endpoint(key) => {
                let endpoint = cloud.endpoint(key).ok_or(ExportError::UnknownEndpoint(key))?;
                let mut bases = Vec::new();
                for &direction in &directions {
                    let default = fallback(cloud, &endpoint.groups, direction);
                    let base = base_name(direction);
                    let mut rules = vec![established_rule()];
                    for family in [Family::V4, Family::V6] {
                        let chain = b.family_chain(
                            &format!("{base}_{}", family_suffix(family)),
                            key,
                            direction,
                            family,
                        )?;
                        rules.push(format!("meta nfproto {} jump {chain}", nfproto(family)));
                    }
                    bases.push(Chain {
                        name: base.to_owned(),
                        base: Some((hook(direction), default.verdict)),
                        rules,
                    });
                }
                let rest = std::mem::take(&mut b.chains);
                b.chains = bases;
                b.chains.extend(rest);
            }
            Scope::All(key_kind) => {
                let mut bases = Vec::new();
                for &direction in &directions {
                    let base = base_name(direction);
                    let mut rules = vec![established_rule()];
                    let mut v4 = Vec::new();
                    let mut v6 = Vec::new();
                    let mut ifaces = Vec::new();
                    let mut owner: HashMap<IpAddr, &str> = HashMap::new();
                    for (key, endpoint) in cloud.endpoint_keys().zip(cloud.endpoints()) {
                        let stem = b.unique(&format!("ep_{}_{base}", sanitize(&endpoint.name)));
                        let c4 = b.family_chain(&format!("{stem}_v4"), key, direction, Family::V4)?;
                        let c6 = b.family_chain(&format!("{stem}_v6"), key, direction, Family::V6)?;
                        match key_kind {
                            Key::Address => {
                                for &ip in &endpoint.ips {
                                    if let Some(first) = owner.insert(ip, &endpoint.name) {
                                        if first != endpoint.name {
                                            return Err(ExportError::SharedAddress {
                                                addr: ip,
                                                first: first.to_owned(),
                                                second: endpoint.name.clone(),
                                            });
                                        }
                                        continue;
                                    }
                                    match ip {
                                        IpAddr::V4(a) => v4.push((u32::from(a), format!("{a} : jump {c4}"))),
                                        IpAddr::V6(a) => v6.push((u128::from(a), format!("{a} : jump {c6}"))),
                                    }
                                }
                            }
                            Key::Interface => {
                                let name = interface_name(&endpoint.name)?;
                                // `stem` is reserved for this chain already.
                                let dispatch = stem.clone();
                                b.chains.push(Chain {
                                    name: dispatch.clone(),
                                    base: None,
                                    rules: vec![
                                        format!("meta nfproto ipv4 jump {c4}"),
                                        format!("meta nfproto ipv6 jump {c6}"),
                                    ],
                                });
                                ifaces.push(format!("\"{name}\" : jump {dispatch}"));
                            }
                        }
                    }
                    let (field, iface) = match direction {
                        Direction::Ingress => ("daddr", "iifname"),
                        Direction::Egress => ("saddr", "oifname"),
                    };
                    match key_kind {
                        Key::Address => {
                            v4.sort();
                            v6.sort();
                            for (family, elements) in [
                                (Family::V4, v4.into_iter().map(|e| e.1).collect::<Vec<_>>()),
                                (Family::V6, v6.into_iter().map(|e| e.1).collect()),
                            ] {
                                let name = format!("{base}_{}", family_suffix(family));
                                rules.push(format!("{} {field} vmap @{name}", addr_keyword(family)));
                                b.maps.push(Map {
                                    name,
                                    key_type: match family {
                                        Family::V4 => "ipv4_addr",
                                        Family::V6 => "ipv6_addr",
                                    },
                                    elements,
                                });
                            }
                        }
                        Key::Interface => {
                            let name = format!("{base}_ifaces");
                            rules.push(format!("{iface} vmap @{name}"));
                            b.maps.push(Map {
                                name,
                                key_type: "ifname",
                                elements: ifaces,
                            });
                        }
                    }
                    bases.push(Chain {
                        name: base.to_owned(),
                        base: Some((hook(direction), Verdict::Allow)),
                        rules,
                    });
                }
                let rest = std::mem::take(&mut b.chains);
                b.chains = bases;
                b.chains.extend(rest);
            }
        }
        Ok(b)
    }

    /// A chain name not used yet, from `stem`.
    fn unique(&mut self, stem: &str) -> String {
        let mut name = stem.to_owned();
        let mut n = 2;
        while !self.names.insert(name.clone()) {
            name = format!("{stem}_{n}");
            n += 1;
        }
        name
    }

    /// Adds the regular chain that decides `endpoint`'s packets of `family` in `direction`,
    /// ending with the provider default; returns its name.
    fn family_chain(
        &mut self,
        stem: &str,
        endpoint: EndpointKey,
        direction: Direction,
        family: Family,
    ) -> Result<String, ExportError> {
        let cloud = self.cloud;
        let groups = &cloud
            .endpoint(endpoint)
            .ok_or(ExportError::UnknownEndpoint(endpoint))?
            .groups;
        let name = self.unique(stem);
        let mut rules = Vec::new();
        for source in ordered(cloud, groups, direction, family) {
            match source {
                Source::Intra(g) => {
                    let set = self.group_set(g, family);
                    let id = cloud.group(g).map_or_else(|| g.to_string(), |g| g.id.clone());
                    let comment = comment(&format!("InnerAccessPolicy=Accept {id}"))?;
                    rules.push(format!(
                        "{} {} @{set} accept comment {comment}",
                        addr_keyword(family),
                        remote_field(direction)
                    ));
                }
                Source::Rule(_, rule) => {
                    let verdict = crate::order::verdict(cloud.provider(), rule);
                    rules.extend(self.rule_lines(rule, verdict, direction, family)?);
                }
            }
        }
        let default = fallback(cloud, groups, direction);
        rules.push(format!(
            "{} comment {}",
            verdict_word(default.verdict),
            comment(&default_label(&default))?
        ));
        self.chains.push(Chain {
            name: name.clone(),
            base: None,
            rules,
        });
        Ok(name)
    }

    /// The rules that together match exactly the packets of `family` that `rule` matches.
    fn rule_lines(
        &mut self,
        rule: &Rule,
        verdict: Verdict,
        direction: Direction,
        family: Family,
    ) -> Result<Vec<String>, ExportError> {
        let kw = addr_keyword(family);
        let mut addrs = Vec::new();
        match &rule.remote {
            Remote::Any => {}
            Remote::Cidr(net) => {
                if Family::of_net(net) != family {
                    return Ok(Vec::new());
                }
                addrs.push(format!("{kw} {} {}", remote_field(direction), net.trunc()));
            }
            Remote::Group(g) => {
                let set = self.group_set(*g, family);
                addrs.push(format!("{kw} {} @{set}", remote_field(direction)));
            }
            Remote::AddressGroup(a) => match self.address_group_set(*a, family) {
                Some(set) => addrs.push(format!("{kw} {} @{set}", remote_field(direction))),
                // An address group of the other family, or one that is gone, holds nothing.
                None => return Ok(Vec::new()),
            },
        }
        if let Some(local) = &rule.local {
            if Family::of_net(local) != family {
                return Ok(Vec::new());
            }
            addrs.push(format!("{kw} {} {}", local_field(direction), local.trunc()));
        }
        if addrs.is_empty() {
            addrs.push(format!("meta nfproto {}", nfproto(family)));
        }
        let Some(alternatives) = protocol_matches(rule, family)? else {
            return Ok(Vec::new());
        };
        let tail = format!("{} comment {}", verdict_word(verdict), comment(&rule.id)?);
        let head = addrs.join(" ");
        Ok(alternatives
            .into_iter()
            .map(|alt| {
                if alt.is_empty() {
                    format!("{head} {tail}")
                } else {
                    format!("{head} {alt} {tail}")
                }
            })
            .collect())
    }

    /// The set of `group`'s member addresses of `family`.
    fn group_set(&mut self, group: GroupKey, family: Family) -> String {
        let cloud = self.cloud;
        let entry = self.sets.entry((0, group.get(), family));
        if let std::collections::btree_map::Entry::Occupied(e) = &entry {
            return e.get().name.clone();
        }
        let id = cloud
            .group(group)
            .map_or_else(|| group.to_string(), |g| g.id.clone());
        let mut ranges: Vec<(u128, u128)> = cloud
            .members(group)
            .flat_map(|m| m.ips.iter())
            .filter(|ip| Family::of(ip) == family)
            .map(|&ip| {
                let a = addr_u128(ip);
                (a, a)
            })
            .collect();
        let elements = elements(&mut ranges, family);
        let name = unique_set_name(
            &self.sets,
            &format!("members_{}_{}", sanitize(&id), family_suffix(family)),
        );
        self.sets.insert(
            (0, group.get(), family),
            Set {
                name: name.clone(),
                family,
                comment: format!("members of {id}"),
                elements,
            },
        );
        name
    }

    /// The set of address group `a`'s entries, when it is of `family`.
    fn address_group_set(&mut self, a: AddressGroupKey, family: Family) -> Option<String> {
        let cloud = self.cloud;
        if let Some(set) = self.sets.get(&(1, a.get(), family)) {
            return Some(set.name.clone());
        }
        let ag = cloud.address_group(a)?;
        if ag.family != family {
            return None;
        }
        // The same reading as `AddressEntry::contains` and the compiled lowering: a range
        // holds the addresses of its first address's family between its ends, in
        // `IpAddr` order (every IPv4 address before every IPv6 one).
        let mut ranges = Vec::new();
        for entry in &ag.entries {
            match *entry {
                AddressEntry::Net(net) => {
                    if Family::of_net(&net) == family {
                        ranges.push((addr_u128(net.network()), addr_u128(net.broadcast())));
                    }
                }
                AddressEntry::Range(first, last) => match (family, first, last) {
                    (Family::V4, IpAddr::V4(f), IpAddr::V4(l)) if f <= l => {
                        ranges.push((u128::from(u32::from(f)), u128::from(u32::from(l))))
                    }
                    (Family::V4, IpAddr::V4(f), IpAddr::V6(_)) => {
                        ranges.push((u128::from(u32::from(f)), u128::from(u32::MAX)))
                    }
                    (Family::V6, IpAddr::V6(f), IpAddr::V6(l)) if f <= l => {
                        ranges.push((u128::from(f), u128::from(l)))
                    }
                    _ => {}
                },
            }
        }
        let elements = elements(&mut ranges, family);
        let name = unique_set_name(
            &self.sets,
            &format!("ag_{}_{}", sanitize(&ag.id), family_suffix(family)),
        );
        self.sets.insert(
            (1, a.get(), family),
            Set {
                name: name.clone(),
                family,
                comment: format!("address group {}", ag.id),
                elements,
            },
        );
        Some(name)
    }

    fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# generated by sgeval export nftables; load with `nft -f`");
        // Declare, delete, define: one transaction that replaces the table whether or not
        // it exists.
        let _ = writeln!(out, "table inet {TABLE}");
        let _ = writeln!(out, "delete table inet {TABLE}");
        let _ = writeln!(out, "table inet {TABLE} {{");
        for set in self.sets.values() {
            let _ = writeln!(out, "\tset {} {{", set.name);
            let _ = writeln!(
                out,
                "\t\ttype {}",
                match set.family {
                    Family::V4 => "ipv4_addr",
                    Family::V6 => "ipv6_addr",
                }
            );
            let _ = writeln!(out, "\t\tflags interval");
            let _ = writeln!(out, "\t\tcomment {}", quote(&set.comment));
            if !set.elements.is_empty() {
                let _ = writeln!(out, "\t\telements = {{ {} }}", set.elements.join(", "));
            }
            let _ = writeln!(out, "\t}}");
        }
        for map in &self.maps {
            let _ = writeln!(out, "\tmap {} {{", map.name);
            let _ = writeln!(out, "\t\ttype {} : verdict", map.key_type);
            if !map.elements.is_empty() {
                let _ = writeln!(out, "\t\telements = {{ {} }}", map.elements.join(", "));
            }
            let _ = writeln!(out, "\t}}");
        }
        for chain in &self.chains {
            let _ = writeln!(out, "\tchain {} {{", chain.name);
            if let Some((hook, policy)) = chain.base {
                let _ = writeln!(
                    out,
                    "\t\ttype filter hook {hook} priority filter; policy {};",
                    verdict_word(policy)
                );
            }
            for rule in &chain.rules {
                let _ = writeln!(out, "\t\t{rule}");
            }
            let _ = writeln!(out, "\t}}");
        }
        let _ = writeln!(out, "}}");
        out
    }
}

fn unique_set_name(sets: &BTreeMap<(u8, u32, Family), Set>, stem: &str) -> String {
    let taken = |n: &str| sets.values().any(|s| s.name == n);
    let mut name = stem.to_owned();
    let mut n = 2;
    while taken(&name) {
        name = format!("{stem}_{n}");
        n += 1;
    }
    name
}

/// The protocol and port matches whose union is the rule's header match for packets of
/// `family` (one nft rule each, all with the rule's verdict); `None` when the rule matches
/// no packet. `""` stands for "every protocol".
fn protocol_matches(rule: &Rule, family: Family) -> Result<Option<Vec<String>>, ExportError> {
    let sport = merged(&rule.src_ports);
    let dport = merged(&rule.dst_ports);
    if sport.is_empty() || dport.is_empty() {
        return Ok(None);
    }
    let all_ports = sport == [PortRange::ANY] && dport == [PortRange::ANY];
    let icmp_filter = rule.icmp.icmp_type.is_some() || rule.icmp.icmp_code.is_some();
    let no_ports = |what: String| ExportError::Inexpressible {
        rule: rule.id.clone(),
        why: format!("it filters ports on {what}, whose packets carry none"),
    };
    let icmp_match = |protocol: u8| -> String {
        let (kw, native) = match (protocol, family) {
            (ICMP, Family::V4) => ("icmp", true),
            (ICMPV6, Family::V6) => ("icmpv6", true),
            _ => ("", false),
        };
        let mut parts = Vec::new();
        if !native {
            parts.push(format!("meta l4proto {protocol}"));
        }
        // Type and code are the first two bytes of the ICMP header; `@th` reads them for
        // ICMP carried in the other family, which has no named header here.
        if let Some(t) = rule.icmp.icmp_type {
            parts.push(if native {
                format!("{kw} type {t}")
            } else {
                format!("@th,0,8 {t}")
            });
        }
        if let Some(c) = rule.icmp.icmp_code {
            parts.push(if native {
                format!("{kw} code {c}")
            } else {
                format!("@th,8,8 {c}")
            });
        }
        if parts.is_empty() {
            parts.push(format!("meta l4proto {protocol}"));
        }
        parts.join(" ")
    };
    let out = match rule.protocol {
        None => {
            if !all_ports {
                return Err(no_ports("every protocol".to_owned()));
            }
            if icmp_filter {
                // The filter applies to ICMP and ICMPv6 packets only; the rest match on
                // addresses alone.
                vec![
                    format!("meta l4proto != {{ {ICMP}, {ICMPV6} }}"),
                    icmp_match(ICMP),
                    icmp_match(ICMPV6),
                ]
            } else {
                vec![String::new()]
            }
        }
        // ipv6_find_hdr walks over these next-header values, so `meta l4proto` never
        // equals them (59 leaves it unset): the kernel has no match for the number itself.
        Some(p) if family == Family::V6 && IPV6_WALKED.contains(&p) => {
            return Err(ExportError::Inexpressible {
                rule: rule.id.clone(),
                why: format!(
                    "IPv6 protocol {p} is an extension header or \"no next header\", which the kernel's \
                     `meta l4proto` walks over"
                ),
            });
        }
        Some(p) => match port_protocol(p) {
            Some(name) => {
                if all_ports {
                    vec![format!("meta l4proto {p}")]
                } else {
                    let mut parts = Vec::new();
                    if sport != [PortRange::ANY] {
                        parts.push(format!("{name} sport {}", port_list(&sport)));
                    }
                    if dport != [PortRange::ANY] {
                        parts.push(format!("{name} dport {}", port_list(&dport)));
                    }
                    vec![parts.join(" ")]
                }
            }
            None => {
                if !all_ports {
                    return Err(no_ports(format!("protocol {p}")));
                }
                if icmp_filter && (p == ICMP || p == ICMPV6) {
                    vec![icmp_match(p)]
                } else {
                    vec![format!("meta l4proto {p}")]
                }
            }
        },
    };
    Ok(Some(out))
}

/// The nft header keyword of a protocol whose packets carry ports (`flow::has_ports`).
fn port_protocol(p: u8) -> Option<&'static str> {
    match p {
        6 => Some("tcp"),
        17 => Some("udp"),
        33 => Some("dccp"),
        132 => Some("sctp"),
        136 => Some("udplite"),
        _ => None,
    }
}

/// The port ranges of `ports` that hold a port, merged and sorted.
fn merged(ports: &Ports) -> Vec<PortRange> {
    let mut ranges: Vec<PortRange> = ports.0.iter().copied().filter(|r| r.lo <= r.hi).collect();
    ranges.sort();
    let mut out: Vec<PortRange> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(last) if u32::from(r.lo) <= u32::from(last.hi) + 1 => last.hi = last.hi.max(r.hi),
            _ => out.push(r),
        }
    }
    out
}

fn port_list(ranges: &[PortRange]) -> String {
    match ranges {
        [one] => one.to_string(),
        _ => format!(
            "{{ {} }}",
            ranges
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn addr_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn addr_text(a: u128, family: Family) -> String {
    match family {
        Family::V4 => Ipv4Addr::from(a as u32).to_string(),
        Family::V6 => Ipv6Addr::from(a).to_string(),
    }
}

/// Set elements for address ranges: merged (an interval set refuses overlaps), each a
/// prefix where it is one, else `first-last`.
fn elements(ranges: &mut [(u128, u128)], family: Family) -> Vec<String> {
    ranges.sort_unstable();
    let bits = match family {
        Family::V4 => 32,
        Family::V6 => 128,
    };
    let mut merged: Vec<(u128, u128)> = Vec::new();
    for &(lo, hi) in ranges.iter() {
        match merged.last_mut() {
            Some(last) if last.1.checked_add(1).is_none_or(|n| lo <= n) => last.1 = last.1.max(hi),
            _ => merged.push((lo, hi)),
        }
    }
    merged
        .into_iter()
        .map(|(lo, hi)| {
            if lo == hi {
                return addr_text(lo, family);
            }
            let span = hi - lo;
            // A prefix: the span is 2^k - 1 and `lo` is aligned to it.
            if span.checked_add(1).is_none_or(|n| n.is_power_of_two()) && lo & span == 0 {
                let k = 128 - span.leading_zeros();
                format!("{}/{}", addr_text(lo, family), bits - k)
            } else {
                format!("{}-{}", addr_text(lo, family), addr_text(hi, family))
            }
        })
        .collect()
}

fn established_rule() -> String {
    "ct state established,related accept comment \"established\"".to_owned()
}

fn default_label(d: &Decision) -> String {
    match d.reason {
        Reason::Default { fallback } => match serde_json::to_value(fallback) {
            Ok(serde_json::Value::String(s)) => format!("default {s}"),
            _ => "default".to_owned(),
        },
        _ => "default".to_owned(),
    }
}

fn base_name(direction: Direction) -> &'static str {
    match direction {
        Direction::Ingress => "ingress",
        Direction::Egress => "egress",
    }
}

fn hook(direction: Direction) -> &'static str {
    match direction {
        Direction::Ingress => "input",
        Direction::Egress => "output",
    }
}

fn remote_field(direction: Direction) -> &'static str {
    match direction {
        Direction::Ingress => "saddr",
        Direction::Egress => "daddr",
    }
}

fn local_field(direction: Direction) -> &'static str {
    match direction {
        Direction::Ingress => "daddr",
        Direction::Egress => "saddr",
    }
}

fn addr_keyword(family: Family) -> &'static str {
    match family {
        Family::V4 => "ip",
        Family::V6 => "ip6",
    }
}

fn nfproto(family: Family) -> &'static str {
    match family {
        Family::V4 => "ipv4",
        Family::V6 => "ipv6",
    }
}

fn family_suffix(family: Family) -> &'static str {
    match family {
        Family::V4 => "v4",
        Family::V6 => "v6",
    }
}

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Allow => "accept",
        Verdict::Deny => "drop",
    }
}

/// A part of an nft identifier: letters, digits and `_` (callers put a prefix first, so
/// the identifier starts with a letter).
fn sanitize(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect()
}

/// A quoted nft string; quotes and control characters (never in the ids sgeval generates)
/// become `_`. Rule comments go through [`comment`], which refuses them instead.
fn quote(s: &str) -> String {
    let clean: String = s
        .chars()
        .map(|c| if c == '"' || c.is_control() { '_' } else { c })
        .collect();
    format!("\"{clean}\"")
}

/// A rule comment carrying `text` unchanged, or an error when the kernel cannot keep it.
fn comment(text: &str) -> Result<String, ExportError> {
    if text.len() >= MAX_COMMENT {
        return Err(ExportError::BadName {
            what: "comment",
            value: text.to_owned(),
            why: "longer than the 127 bytes nftables keeps",
        });
    }
    if text.chars().any(|c| c == '"' || c.is_control()) {
        return Err(ExportError::BadName {
            what: "comment",
            value: text.to_owned(),
            why: "holds a quote or control character",
        });
    }
    Ok(quote(text))
}

/// The endpoint name as an interface name, when it is one.
fn interface_name(name: &str) -> Result<&str, ExportError> {
    let bad = |why| ExportError::BadName {
        what: "interface name",
        value: name.to_owned(),
        why,
    };
    if name.is_empty() || name.len() > MAX_IFNAME {
        return Err(bad("an interface name has 1 to 15 bytes"));
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_graphic() && c != '/' && c != '"' && c != ':')
    {
        return Err(bad(
            "an interface name has printable characters other than `/`, `:`, `\"` only",
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_are_prefixes_where_aligned_and_ranges_elsewhere() {
        let v4 = |s: &str| u128::from(u32::from(s.parse::<Ipv4Addr>().unwrap()));
        let mut r = vec![
            (v4("10.0.0.0"), v4("10.0.0.255")),
            (v4("10.0.1.0"), v4("10.0.1.4")),
            (v4("192.0.2.1"), v4("192.0.2.1")),
            (v4("10.0.0.7"), v4("10.0.0.9")),
        ];
        assert_eq!(
            elements(&mut r, Family::V4),
            vec!["10.0.0.0-10.0.1.4".to_owned(), "192.0.2.1".to_owned()]
        );
        let mut all = vec![(0, u128::from(u32::MAX))];
        assert_eq!(elements(&mut all, Family::V4), vec!["0.0.0.0/0".to_owned()]);
        let mut all6 = vec![(0, u128::MAX)];
        assert_eq!(elements(&mut all6, Family::V6), vec!["::/0".to_owned()]);
        let mut p = vec![(v4("10.0.2.0"), v4("10.0.3.255"))];
        assert_eq!(elements(&mut p, Family::V4), vec!["10.0.2.0/23".to_owned()]);
    }

    #[test]
    fn port_ranges_merge_and_print_as_nft_lists() {
        let ports = Ports(
            [
                PortRange { lo: 80, hi: 90 },
                PortRange::single(22),
                PortRange { lo: 91, hi: 95 },
                PortRange { lo: 9, hi: 3 },
            ]
            .into_iter()
            .collect(),
        );
        let m = merged(&ports);
        assert_eq!(port_list(&m), "{ 22, 80-95 }");
        assert_eq!(port_list(&merged(&Ports::any())), "0-65535");
    }

    fn rule(protocol: Option<u8>, dst_ports: Ports, icmp: crate::rule::IcmpMatch) -> Rule {
        Rule {
            key: crate::rule::RuleKey::new(1),
            id: "r1".into(),
            direction: Direction::Ingress,
            family: None,
            protocol,
            dst_ports,
            src_ports: Ports::any(),
            icmp,
            remote: Remote::Any,
            local: None,
            action: crate::rule::Action::Allow,
            priority: 1,
            enabled: true,
            description: String::new(),
            shown: serde_json::Value::Null.into(),
        }
    }

    #[test]
    fn protocol_matches_are_exact_or_refused() {
        use crate::rule::IcmpMatch;
        let any = IcmpMatch::ANY;
        let p80 = Ports::range(PortRange::single(80));
        let ok = |r: &Rule, f| {
            protocol_matches(r, f)
                .expect("expressible")
                .expect("matches something")
        };
        // Ports only where the protocol has them, through its own header.
        assert_eq!(
            ok(&rule(Some(6), p80.clone(), any), Family::V4),
            vec!["tcp dport 80"]
        );
        assert_eq!(
            ok(&rule(Some(136), p80.clone(), any), Family::V6),
            vec!["udplite dport 80"]
        );
        for p in [None, Some(47), Some(1)] {
            let e = protocol_matches(&rule(p, p80.clone(), any), Family::V4);
            assert!(
                matches!(e, Err(ExportError::Inexpressible { .. })),
                "{p:?}: {e:?}"
            );
        }
        // IPv6 extension header numbers are refused for IPv6 only.
        assert!(protocol_matches(&rule(Some(43), Ports::any(), any), Family::V6).is_err());
        assert_eq!(
            ok(&rule(Some(43), Ports::any(), any), Family::V4),
            vec!["meta l4proto 43"]
        );
        // ICMP type and code: native headers in their family, raw bytes across.
        let echo = IcmpMatch {
            icmp_type: Some(8),
            icmp_code: Some(0),
        };
        assert_eq!(
            ok(&rule(Some(1), Ports::any(), echo), Family::V4),
            vec!["icmp type 8 icmp code 0"]
        );
        assert_eq!(
            ok(&rule(Some(1), Ports::any(), echo), Family::V6),
            vec!["meta l4proto 1 @th,0,8 8 @th,8,8 0"]
        );
        // A filter on "every protocol" applies to ICMP and ICMPv6 only.
        assert_eq!(
            ok(&rule(None, Ports::any(), echo), Family::V6),
            vec![
                "meta l4proto != { 1, 58 }".to_owned(),
                "meta l4proto 1 @th,0,8 8 @th,8,8 0".to_owned(),
                "icmpv6 type 8 icmpv6 code 0".to_owned()
            ]
        );
        assert_eq!(
            ok(&rule(None, Ports::any(), any), Family::V4),
            vec![String::new()]
        );
        // Empty port sets match nothing.
        let empty = Ports([PortRange { lo: 9, hi: 3 }].into_iter().collect());
        assert_eq!(protocol_matches(&rule(Some(6), empty, any), Family::V4), Ok(None));
    }

    #[test]
    fn comments_that_the_kernel_would_cut_are_refused() {
        assert!(comment(&"x".repeat(127)).is_ok());
        assert!(matches!(
            comment(&"x".repeat(128)),
            Err(ExportError::BadName { .. })
        ));
        assert!(comment("a\"b").is_err());
        assert!(interface_name("eth0").is_ok());
        assert!(interface_name("a-very-long-interface").is_err());
    }
}
