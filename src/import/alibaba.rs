//! Alibaba Cloud ECS and ENS describe answers: `DescribeSecurityGroups`,
//! `DescribeSecurityGroupAttribute`, `DescribeNetworkInterfaces`, `DescribeInstances` and
//! (ECS) `DescribePrefixListAttributes`, as the CLI prints them [E1]-[E10], [N1]-[N4].
//!
//! Each answer may come as one page, as a Tea-SDK dump `{"headers","statusCode","body"}`
//! [E9], as `aliyun --pager` output (only the aggregated array) [E10], or as a JSON array
//! of pages. Arrays come wrapped (`{"Permissions": {"Permission": [...]}}`) or flattened.
//! Rules are kept as the `AuthorizeSecurityGroup[Egress]` permission parameters: `""` is
//! dropped (unset, trap 4), `Priority` becomes a number (trap 2), `IpProtocol`, `Policy`
//! and `NicType` are read in any case and written in one spelling (trap 3), and the peer
//! fields are the direction's own (trap 5: `Source*` on ingress, `Dest*` on egress, the
//! names both the describe answer and the Authorize calls use).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::build::{Builder, References};
use super::detect::unwrap_envelope;
use super::json::{ip, key, show, At};
use super::{
    EndpointRecord, ImportError, Inventory, Origin, PrefixListRecord, RuleRecord, Skipped, UnresolvedKind,
};
use crate::{Direction, Family, Provider};

/// Rule fields of the answer that are not create parameters (names, times, ids).
const INFORMATIONAL: &[&str] = &[
    "SecurityGroupRuleId",
    "Direction",
    "CreateTime",
    "CreationTime",
    "ModifyTime",
    "SourceGroupName",
    "DestGroupName",
    "SourcePrefixListName",
    "DestPrefixListName",
    "PortRangeListName",
];

/// Create parameters of either direction.
const COMMON: &[&str] = &[
    "IpProtocol",
    "PortRange",
    "SourcePortRange",
    "PortRangeListId",
    "Policy",
    "Priority",
    "NicType",
    "Description",
    "SourceCidrIp",
    "Ipv6SourceCidrIp",
    "DestCidrIp",
    "Ipv6DestCidrIp",
];

/// The remote-side group and prefix-list parameters of an ingress rule ...
const INGRESS_PEERS: &[&str] = &[
    "SourceGroupId",
    "SourceGroupOwnerAccount",
    "SourceGroupOwnerId",
    "SourcePrefixListId",
];
/// ... and of an egress rule (`AuthorizeSecurityGroupEgress` takes the `Dest*` names).
const EGRESS_PEERS: &[&str] = &[
    "DestGroupId",
    "DestGroupOwnerAccount",
    "DestGroupOwnerId",
    "DestPrefixListId",
];

/// Parameters ENS rules do not have (no group or prefix-list peers, no NIC type) [N1].
const ECS_ONLY: &[&str] = &[
    "NicType",
    "PortRangeListId",
    "SourceGroupId",
    "SourceGroupOwnerAccount",
    "SourceGroupOwnerId",
    "SourcePrefixListId",
    "DestGroupId",
    "DestGroupOwnerAccount",
    "DestGroupOwnerId",
    "DestPrefixListId",
];

const ECS_REFERENCES: References = References {
    groups: &["SourceGroupId", "DestGroupId"],
    address_groups: &[],
    prefix_lists: &["SourcePrefixListId", "DestPrefixListId"],
};

/// Endpoint ranks: an ENI from DescribeNetworkInterfaces knows its own groups; the primary
/// ENI of DescribeInstances carries the instance's groups; an instance without ENI entries
/// is named by its id.
const RANK_INSTANCE: u8 = 0;
const RANK_INSTANCE_ENI: u8 = 1;
const RANK_NIC: u8 = 2;

#[derive(Default)]
pub(crate) struct Reader {
    b: Builder,
    /// Groups listed by DescribeSecurityGroups (whose type is known).
    typed: HashSet<String>,
    /// Instances whose primary ENI was read (so an instance-named endpoint is redundant).
    primary_of: HashSet<String>,
    /// Secondary ENIs DescribeInstances lists without their groups.
    secondary: Vec<(String, Origin)>,
    noted_ipv6: bool,
}

impl Reader {
    /// Reads one document.
    pub(crate) fn add(&mut self, file: &str, value: &Value) -> Result<(), ImportError> {
        self.response(file, "", value)
    }

    fn response(&mut self, file: &str, path: &str, value: &Value) -> Result<(), ImportError> {
        let inner = unwrap_envelope(value);
        let path = if std::ptr::eq(inner, value) {
            path.to_owned()
        } else {
            key(path, "body")
        };
        let at = At::new(file, &path);
        match inner {
            Value::Array(pages) => {
                for (i, page) in pages.iter().enumerate() {
                    self.response(file, &format!("{path}[{i}]"), page)?;
                }
                Ok(())
            }
            Value::Object(o) => {
                if o.contains_key("Permissions") {
                    self.attribute(&at, o)
                } else if o.contains_key("SecurityGroups") {
                    self.groups(&at, o)
                } else if o.contains_key("NetworkInterfaceSets") {
                    self.nics(&at, o)
                } else if o.contains_key("Instances") {
                    self.instances(&at, o)
                } else if o.contains_key("PrefixListId") && o.contains_key("Entries") {
                    self.prefix_list(&at, o)
                } else {
                    let keys: Vec<&str> = o.keys().map(String::as_str).take(8).collect();
                    self.b.skipped.push(Skipped {
                        origin: at.origin(),
                        kind: "an Alibaba answer".to_owned(),
                        reason: format!(
                            "keys `{}` match no answer sgeval reads (DescribeSecurityGroups, DescribeSecurityGroupAttribute, DescribeNetworkInterfaces, DescribeInstances, DescribePrefixListAttributes)",
                            keys.join("`, `")
                        ),
                    });
                    Ok(())
                }
            }
            other => Err(at.error_here(format!(
                "an answer must be an object or an array of pages, found `{}`",
                show(other)
            ))),
        }
    }

    /// DescribeSecurityGroupAttribute: the group's rules and `InnerAccessPolicy` [E1][E2][N1].
    fn attribute(&mut self, at: &At<'_>, o: &Map<String, Value>) -> Result<(), ImportError> {
        let Some(gid) = at.text(o, "SecurityGroupId")? else {
            return Err(at.error(
                "SecurityGroupId",
                "is missing beside `Permissions`: the rules cannot be joined to their group (`aliyun --pager` keeps only the aggregated array; give the pages as printed without --pager)".to_owned(),
            ));
        };
        let gi = self.b.group(&gid, at);
        self.b.rules_listed.insert(gid.clone());
        self.b
            .name(gi, at.text(o, "SecurityGroupName")?, at, "SecurityGroupName")?;
        self.group_attributes(gi, at, o)?;
        if let Some(p) = at.text(o, "InnerAccessPolicy")? {
            let canon = match p.to_ascii_lowercase().as_str() {
                "accept" => "Accept",
                "drop" => "Drop",
                _ => return Err(at.error("InnerAccessPolicy", format!("`{p}` must be Accept or Drop"))),
            };
            self.b.attribute(
                gi,
                "InnerAccessPolicy",
                Value::from(canon),
                at,
                "InnerAccessPolicy",
            )?;
        }
        for (path, perm) in at.wrapped(o, "Permissions", "Permission")? {
            let pat = At::new(at.file, &path);
            let (rule, created) = permission(&pat, perm)?;
            if rule.fields.contains_key("PortRangeListId") {
                let subject = rule.id.clone().unwrap_or_else(|| rule.origin.to_string());
                self.b.unresolved(
                    UnresolvedKind::PortRangeList,
                    &subject,
                    Some("PortRangeListId"),
                    rule.origin.clone(),
                    format!(
                        "rule of group `{gid}` uses port list `{}` whose ports no document gives (sgeval does not read port lists)",
                        show(&rule.fields["PortRangeListId"])
                    ),
                );
            }
            self.b.rule(gi, rule, created, &pat)?;
        }
        Ok(())
    }

    /// Group attributes both answers may carry.
    fn group_attributes(
        &mut self,
        gi: usize,
        at: &At<'_>,
        o: &Map<String, Value>,
    ) -> Result<(), ImportError> {
        for name in ["VpcId", "RegionId", "Description", "ResourceGroupId"] {
            if let Some(v) = at.text(o, name)? {
                self.b.attribute(gi, name, Value::from(v), at, name)?;
            }
        }
        Ok(())
    }

    /// DescribeSecurityGroups: the group type (ECS) and names [E5][N4].
    fn groups(&mut self, at: &At<'_>, o: &Map<String, Value>) -> Result<(), ImportError> {
        let region = at.text(o, "RegionId")?;
        for (path, item) in at.wrapped(o, "SecurityGroups", "SecurityGroup")? {
            let gat = At::new(at.file, &path);
            let g = gat.object(item, "a security group")?;
            let Some(gid) = gat.text(g, "SecurityGroupId")? else {
                return Err(gat.error("SecurityGroupId", "is missing".to_owned()));
            };
            let gi = self.b.group(&gid, &gat);
            self.b
                .name(gi, gat.text(g, "SecurityGroupName")?, &gat, "SecurityGroupName")?;
            self.group_attributes(gi, &gat, g)?;
            if let Some(r) = &region {
                self.b
                    .attribute(gi, "RegionId", Value::from(r.clone()), at, "RegionId")?;
            }
            if let Some(t) = gat.text(g, "SecurityGroupType")? {
                let canon = match t.to_ascii_lowercase().as_str() {
                    "normal" => "normal",
                    "enterprise" => "enterprise",
                    _ => {
                        return Err(
                            gat.error("SecurityGroupType", format!("`{t}` must be normal or enterprise"))
                        )
                    }
                };
                self.b.attribute(
                    gi,
                    "SecurityGroupType",
                    Value::from(canon),
                    &gat,
                    "SecurityGroupType",
                )?;
                self.typed.insert(gid);
            }
        }
        Ok(())
    }

    /// DescribeNetworkInterfaces: every ENI with its own groups, the membership source [E6][N3].
    fn nics(&mut self, at: &At<'_>, o: &Map<String, Value>) -> Result<(), ImportError> {
        for (path, item) in at.wrapped(o, "NetworkInterfaceSets", "NetworkInterfaceSet")? {
            let nat = At::new(at.file, &path);
            let n = nat.object(item, "a network interface")?;
            let Some(id) = nat.text(n, "NetworkInterfaceId")? else {
                return Err(nat.error("NetworkInterfaceId", "is missing".to_owned()));
            };
            let instance = nat.text(n, "InstanceId")?;
            let primary = nat
                .text(n, "Type")?
                .is_some_and(|t| t.eq_ignore_ascii_case("primary"));
            if primary {
                if let Some(i) = &instance {
                    self.primary_of.insert(i.clone());
                }
            }
            let mut ips = eni_ips(&nat, n)?;
            for (p, v) in nat.wrapped(n, "Ipv6Sets", "Ipv6Set")? {
                let a = At::new(at.file, &p);
                if let Some(t) = a.text(a.object(v, "an IPv6 entry")?, "Ipv6Address")? {
                    push_ip(&mut ips, ip(at.file, &key(&p, "Ipv6Address"), &t)?);
                }
            }
            let groups = group_ids(&nat, n)?;
            let e = EndpointRecord {
                name: id,
                address: None,
                instance,
                origin: nat.origin(),
                ips,
                groups,
                order_known: true,
                port_security: true,
            };
            self.b.endpoint(e, RANK_NIC, &nat)?;
        }
        Ok(())
    }

    /// DescribeInstances: the instance's (primary ENI's) groups; secondary ENIs carry none [E8][N2].
    fn instances(&mut self, at: &At<'_>, o: &Map<String, Value>) -> Result<(), ImportError> {
        for (path, item) in at.wrapped(o, "Instances", "Instance")? {
            let iat = At::new(at.file, &path);
            let inst = iat.object(item, "an instance")?;
            let Some(id) = iat.text(inst, "InstanceId")? else {
                return Err(iat.error("InstanceId", "is missing".to_owned()));
            };
            let groups = group_ids(&iat, inst)?;
            // ECS wraps ENIs as `NetworkInterface`, ENS as `NetworkInterfaces` (trap 9).
            let inner = match inst.get("NetworkInterfaces") {
                Some(Value::Object(w)) if w.contains_key("NetworkInterfaces") => "NetworkInterfaces",
                _ => "NetworkInterface",
            };
            let mut primary_seen = false;
            for (p, v) in iat.wrapped(inst, "NetworkInterfaces", inner)? {
                let eat = At::new(at.file, &p);
                let eni = eat.object(v, "a network interface")?;
                let Some(eid) = eat.text(eni, "NetworkInterfaceId")? else {
                    return Err(eat.error("NetworkInterfaceId", "is missing".to_owned()));
                };
                let primary = eat
                    .text(eni, "Type")?
                    .is_some_and(|t| t.eq_ignore_ascii_case("primary"));
                if !primary {
                    self.secondary.push((eid, eat.origin()));
                    continue;
                }
                primary_seen = true;
                self.primary_of.insert(id.clone());
                let e = EndpointRecord {
                    name: eid,
                    address: None,
                    instance: Some(id.clone()),
                    origin: eat.origin(),
                    ips: eni_ips(&eat, eni)?,
                    groups: groups.clone(),
                    order_known: true,
                    port_security: true,
                };
                self.b.endpoint(e, RANK_INSTANCE_ENI, &eat)?;
            }
            if !primary_seen {
                let mut ips = Vec::new();
                for (outer, inner) in [
                    ("VpcAttributes", "PrivateIpAddress"),
                    ("NetworkAttributes", "PrivateIpAddress"),
                ] {
                    if let Some(Value::Object(attrs)) = inst.get(outer) {
                        let p = key(&path, outer);
                        let aat = At::new(at.file, &p);
                        for (ip_path, v) in aat.wrapped(attrs, inner, "IpAddress")? {
                            if let Value::String(t) = v {
                                push_ip(&mut ips, ip(at.file, &ip_path, t)?);
                            }
                        }
                    }
                }
                // ENS: `PrivateIpAddresses.PrivateIpAddress[].Ip` [N2].
                for (p, v) in iat.wrapped(inst, "PrivateIpAddresses", "PrivateIpAddress")? {
                    let a = At::new(at.file, &p);
                    if let Some(t) = a.text(a.object(v, "an address entry")?, "Ip")? {
                        push_ip(&mut ips, ip(at.file, &key(&p, "Ip"), &t)?);
                    }
                }
                let e = EndpointRecord {
                    name: id.clone(),
                    address: None,
                    instance: Some(id),
                    origin: iat.origin(),
                    ips,
                    groups,
                    order_known: true,
                    port_security: true,
                };
                self.b.endpoint(e, RANK_INSTANCE, &iat)?;
            }
            if !self.noted_ipv6 {
                self.noted_ipv6 = true;
                self.b.notes.push(
                    "DescribeInstances lists IPv6 addresses only when called with AdditionalAttributes NETWORK_PRIMARY_ENI_IP; give DescribeNetworkInterfaces for the addresses and groups of every ENI".to_owned(),
                );
            }
        }
        Ok(())
    }

    /// DescribePrefixListAttributes: a prefix list's entries [E7].
    fn prefix_list(&mut self, at: &At<'_>, o: &Map<String, Value>) -> Result<(), ImportError> {
        let Some(id) = at.text(o, "PrefixListId")? else {
            return Err(at.error("PrefixListId", "is missing".to_owned()));
        };
        let family = match at.text(o, "AddressFamily")? {
            Some(f) if f.eq_ignore_ascii_case("ipv4") => Family::V4,
            Some(f) if f.eq_ignore_ascii_case("ipv6") => Family::V6,
            Some(f) => return Err(at.error("AddressFamily", format!("`{f}` must be IPv4 or IPv6"))),
            None => return Err(at.error("AddressFamily", "is missing".to_owned())),
        };
        let mut entries = Vec::new();
        for (p, v) in at.wrapped(o, "Entries", "Entry")? {
            let eat = At::new(at.file, &p);
            let Some(cidr) = eat.text(eat.object(v, "a prefix-list entry")?, "Cidr")? else {
                return Err(eat.error("Cidr", "is missing".to_owned()));
            };
            let net: Option<ipnet::IpNet> = cidr
                .parse()
                .ok()
                .or_else(|| cidr.parse::<std::net::IpAddr>().ok().map(Into::into));
            match net {
                Some(n) if crate::Family::of_net(&n) == family => entries.push(cidr),
                _ => return Err(eat.error("Cidr", format!("`{cidr}` is not an {family} CIDR"))),
            }
        }
        self.b.prefix_list(
            PrefixListRecord {
                id,
                origin: at.origin(),
                family,
                entries,
            },
            at,
        )
    }

    /// The inventory of `provider` (ECS or ENS).
    pub(crate) fn finish(mut self, provider: Provider) -> Result<Inventory, ImportError> {
        let primary_of = std::mem::take(&mut self.primary_of);
        // An instance-named endpoint stands for the primary ENI; drop it when that ENI was read.
        self.b.retain_endpoints(|e, rank| {
            rank != RANK_INSTANCE || !e.instance.as_ref().is_some_and(|i| primary_of.contains(i))
        });
        for (eni, origin) in std::mem::take(&mut self.secondary) {
            if !self.b.has_endpoint(&eni) {
                self.b.unresolved(
                    UnresolvedKind::MissingObject,
                    &eni,
                    Some("SecurityGroupIds"),
                    origin,
                    format!("secondary ENI `{eni}`: DescribeInstances does not list its groups; add DescribeNetworkInterfaces"),
                );
            }
        }
        let mut missing = Vec::new();
        for g in self.b.groups() {
            if provider == Provider::Ens {
                for r in &g.rules {
                    if let Some(f) = ECS_ONLY.iter().find(|f| r.fields.contains_key(**f)) {
                        return Err(ImportError::Field {
                            origin: Origin::new(r.origin.file.clone(), key(&r.origin.path, f)),
                            message: format!(
                                "`{}` is an ECS field; ENS rules have none (is this an ECS answer?)",
                                show(&r.fields[*f])
                            ),
                        });
                    }
                }
            }
            if !self.b.rules_listed.contains(&g.id) {
                missing.push((
                    g.id.clone(),
                    "Permissions",
                    g.origin.clone(),
                    "its rules come only from DescribeSecurityGroupAttribute".to_owned(),
                ));
            }
            // Trap 7: the type (basic or advanced) comes only from DescribeSecurityGroups.
            if provider == Provider::Ecs && !self.typed.contains(&g.id) {
                missing.push((
                    g.id.clone(),
                    "SecurityGroupType",
                    g.origin.clone(),
                    "its type (normal or enterprise) comes only from DescribeSecurityGroups".to_owned(),
                ));
            }
        }
        for (id, field, origin, why) in missing {
            self.b.unresolved(
                UnresolvedKind::MissingObject,
                &id,
                Some(field),
                origin,
                format!("group `{id}`: {why}; add that answer"),
            );
        }
        let refs = if provider == Provider::Ecs {
            ECS_REFERENCES
        } else {
            References {
                groups: &[],
                address_groups: &[],
                prefix_lists: &[],
            }
        };
        Ok(self.b.finish(provider, &refs))
    }
}

fn push_ip(ips: &mut Vec<std::net::IpAddr>, a: std::net::IpAddr) {
    if !ips.contains(&a) {
        ips.push(a);
    }
}

/// An ENI's IPv4 addresses: `PrivateIpSets.PrivateIpSet[].PrivateIpAddress`, else its
/// primary address field.
fn eni_ips(at: &At<'_>, n: &Map<String, Value>) -> Result<Vec<std::net::IpAddr>, ImportError> {
    let mut ips = Vec::new();
    for (p, v) in at.wrapped(n, "PrivateIpSets", "PrivateIpSet")? {
        let a = At::new(at.file, &p);
        if let Some(t) = a.text(a.object(v, "a private IP entry")?, "PrivateIpAddress")? {
            push_ip(&mut ips, ip(at.file, &key(&p, "PrivateIpAddress"), &t)?);
        }
    }
    for name in ["PrivateIpAddress", "PrimaryIpAddress", "PrimaryIp"] {
        if let Some(Value::String(t)) = n.get(name) {
            if !t.is_empty() {
                push_ip(&mut ips, ip(at.file, &key(at.path, name), t)?);
            }
        }
    }
    Ok(ips)
}

/// Group ids of an ENI or instance: ECS `SecurityGroupIds.SecurityGroupId`, ENS NICs
/// `SecurityGroupIds.SecurityGroup` (trap 9), or a flattened array.
fn group_ids(at: &At<'_>, o: &Map<String, Value>) -> Result<Vec<String>, ImportError> {
    let inner = match o.get("SecurityGroupIds") {
        Some(Value::Object(w)) if w.contains_key("SecurityGroup") => "SecurityGroup",
        _ => "SecurityGroupId",
    };
    at.strings(&at.wrapped(o, "SecurityGroupIds", inner)?)
}

/// One `Permission` as `AuthorizeSecurityGroup[Egress]` parameters, with its creation time.
fn permission(at: &At<'_>, v: &Value) -> Result<(RuleRecord, Option<String>), ImportError> {
    let p = at.object(v, "a permission")?;
    let direction = match at.text(p, "Direction")? {
        Some(d) if d.eq_ignore_ascii_case("ingress") => Direction::Ingress,
        Some(d) if d.eq_ignore_ascii_case("egress") => Direction::Egress,
        Some(d) => return Err(at.error("Direction", format!("`{d}` must be ingress or egress"))),
        None => return Err(at.error("Direction", "is missing".to_owned())),
    };
    let (own, other) = match direction {
        Direction::Ingress => (INGRESS_PEERS, EGRESS_PEERS),
        Direction::Egress => (EGRESS_PEERS, INGRESS_PEERS),
    };
    let mut fields = Map::new();
    for (name, value) in p {
        let name = name.as_str();
        if INFORMATIONAL.contains(&name) {
            continue;
        }
        let known = COMMON.contains(&name) || own.contains(&name);
        let Some(text) = at.text(p, name)? else { continue };
        if other.contains(&name) {
            return Err(at.error(
                name,
                format!("`{text}` on an {direction} rule: this peer field belongs to the other direction"),
            ));
        }
        if !known {
            return Err(at.error(
                name,
                format!(
                    "`{}`: a rule field sgeval does not know; it cannot tell whether it changes the rule",
                    show(value)
                ),
            ));
        }
        let canon = match name {
            "IpProtocol" => Value::from(match text.to_ascii_lowercase().as_str() {
                "tcp" => "TCP",
                "udp" => "UDP",
                "icmp" => "ICMP",
                // Open point of import-formats.md section 6: both spellings are seen.
                "icmpv6" | "icmp6" => "ICMPv6",
                "gre" => "GRE",
                "all" => "ALL",
                _ => {
                    return Err(at.error(
                        name,
                        format!("`{text}` must be TCP, UDP, ICMP, ICMPv6, GRE or ALL"),
                    ))
                }
            }),
            "Policy" => Value::from(match text.to_ascii_lowercase().as_str() {
                "accept" => "Accept",
                "drop" => "Drop",
                _ => return Err(at.error(name, format!("`{text}` must be Accept or Drop"))),
            }),
            "Priority" => {
                let n = at.integer(p, name)?.unwrap_or_default();
                if !(1..=100).contains(&n) {
                    return Err(at.error(name, format!("`{text}` must be from 1 to 100")));
                }
                Value::from(n)
            }
            "NicType" => Value::from(text.to_ascii_lowercase()),
            _ => Value::from(text),
        };
        fields.insert(name.to_owned(), canon);
    }
    let created = match at.text(p, "CreateTime")? {
        Some(t) => Some(t),
        None => at.text(p, "CreationTime")?,
    };
    let rule = RuleRecord {
        id: at.text(p, "SecurityGroupRuleId")?,
        address: None,
        origin: at.origin(),
        direction,
        fields,
        default: false,
    };
    Ok((rule, created))
}
