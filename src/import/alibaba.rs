//! Alibaba Cloud ECS and ENS describe answers: `DescribeSecurityGroups`,
//! `DescribeSecurityGroupAttribute`, `DescribeNetworkInterfaces`, `DescribeInstances` and
//! (ECS) `DescribePrefixListAttributes`, as the CLI prints them [E1]-[E10], [N1]-[N4].
//!
//! Each answer may come as one page, as a Tea-SDK dump `{"headers","statusCode","body"}`
//! [E9], as `aliyun --pager` output (only the aggregated array) [E10], or as a JSON array
//! of pages. Arrays come wrapped (`{"Permissions": {"Permission": [...]}}`) or flattened.
//! Rules are kept as permission parameters: ECS as `AuthorizeSecurityGroup[Egress]` takes
//! them, ENS as a `CreateSecurityGroup` `Permissions.N` entry (the only ENS call that takes
//! IPv6 peers and descriptions) without `Direction`, which is the record's. `""` is
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
    /// Groups of which an attribute page announced a next page (`NextToken`) ...
    continued: Vec<(String, Origin)>,
    /// ... and groups of which a last page (no `NextToken`) was read.
    last_page: HashSet<String>,
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
        match at.text(o, "NextToken")? {
            Some(_) => self.continued.push((gid.clone(), at.origin())),
            None => {
                self.last_page.insert(gid.clone());
            }
        }
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
        // A page that says more follow, of a group whose last page is not among the documents.
        for (gid, origin) in std::mem::take(&mut self.continued) {
            if !self.last_page.contains(&gid) {
                self.last_page.insert(gid.clone());
                self.b.unresolved(
                    UnresolvedKind::MissingObject,
                    &gid,
                    Some("NextToken"),
                    origin,
                    format!("group `{gid}`: a DescribeSecurityGroupAttribute page has a `NextToken` and no last page was given; add the remaining pages (or the `--pager` output)"),
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

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::import::{read, Document, ImportError, Inventory, UnresolvedKind};
    use crate::{Direction, Provider};

    fn docs(values: &[Value]) -> Vec<Document> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Document::new(format!("d{i}.json"), v.clone()))
            .collect()
    }

    fn ecs(values: &[Value]) -> Result<Inventory, ImportError> {
        read(&docs(values), Some(Provider::Ecs), None)
    }

    fn perm(extra: Value) -> Value {
        let mut p = json!({"SecurityGroupRuleId": "sgr-1", "Direction": "ingress", "IpProtocol": "TCP",
                           "PortRange": "22/22", "SourceCidrIp": "10.0.0.0/8", "Policy": "Accept", "Priority": 1});
        for (k, v) in extra.as_object().unwrap() {
            p[k] = v.clone();
        }
        p
    }

    fn attribute(perms: Value) -> Value {
        json!({"SecurityGroupId": "sg-1", "VpcId": "vpc-1", "InnerAccessPolicy": "Accept", "Permissions": {"Permission": perms}})
    }

    fn groups() -> Value {
        json!({"SecurityGroups": {"SecurityGroup": [{"SecurityGroupId": "sg-1", "SecurityGroupType": "normal", "VpcId": "vpc-1"}]}})
    }

    fn fields(inv: &Inventory) -> Value {
        Value::Object(inv.groups[0].rules[0].fields.clone())
    }

    #[test]
    fn trap01_wrapped_and_flattened_arrays_read_alike() {
        let wrapped = ecs(&[attribute(json!([perm(json!({}))])), groups()]).unwrap();
        let flat = ecs(&[
            json!({"SecurityGroupId": "sg-1", "VpcId": "vpc-1", "InnerAccessPolicy": "Accept", "Permissions": [perm(json!({}))]}),
            json!({"SecurityGroups": [{"SecurityGroupId": "sg-1", "SecurityGroupType": "normal", "VpcId": "vpc-1"}]}),
        ])
        .unwrap();
        assert_eq!(fields(&wrapped), fields(&flat));
        assert_eq!(flat.groups[0].rules[0].origin.path, "Permissions[0]");
        assert_eq!(
            wrapped.groups[0].rules[0].origin.path,
            "Permissions.Permission[0]"
        );
    }

    #[test]
    fn trap01_tea_envelope_is_unwrapped() {
        let inv = ecs(&[
            json!({"headers": {"x-acs-request-id": "r"}, "statusCode": 200, "body": attribute(json!([perm(json!({}))]))}),
            groups(),
        ])
        .unwrap();
        assert_eq!(
            inv.groups[0].rules[0].origin.path,
            "body.Permissions.Permission[0]"
        );
        assert_eq!(inv.groups[0].attributes["InnerAccessPolicy"], json!("Accept"));
    }

    #[test]
    fn trap01_pages_as_an_array_and_as_documents_are_merged() {
        let page1 = attribute(json!([perm(json!({}))]));
        let page2 = attribute(json!([perm(
            json!({"SecurityGroupRuleId": "sgr-2", "PortRange": "80/80"})
        )]));
        let as_array = ecs(&[json!([page1.clone(), page2.clone()]), groups()]).unwrap();
        let as_docs = ecs(&[page1.clone(), page2, groups(), page1]).unwrap();
        for inv in [&as_array, &as_docs] {
            let ids: Vec<_> = inv.groups[0]
                .rules
                .iter()
                .map(|r| r.id.clone().unwrap())
                .collect();
            assert_eq!(ids, ["sgr-1", "sgr-2"], "the repeated page adds nothing");
        }
        assert_eq!(
            as_array.groups[0].rules[1].origin.path,
            "[1].Permissions.Permission[0]"
        );
    }

    #[test]
    fn trap01_pager_merged_output_keeps_only_the_array_and_still_joins() {
        // `aliyun ecs DescribeNetworkInterfaces --pager`: no RequestId, no TotalCount [E10].
        let nics = json!({"NetworkInterfaceSets": {"NetworkInterfaceSet": [
            {"NetworkInterfaceId": "eni-1", "Type": "Primary", "InstanceId": "i-1", "PrivateIpAddress": "10.0.0.5",
             "SecurityGroupIds": {"SecurityGroupId": ["sg-1"]}}]}});
        let inv = ecs(&[attribute(json!([perm(json!({}))])), groups(), nics]).unwrap();
        assert_eq!(inv.endpoints[0].groups, ["sg-1"]);
        assert!(inv.unresolved.is_empty(), "{:?}", inv.unresolved);
    }

    #[test]
    fn trap01_pager_merged_attribute_without_group_id_is_refused() {
        let err = ecs(&[json!({"Permissions": {"Permission": [perm(json!({}))]}})]).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("d0.json: SecurityGroupId: is missing beside `Permissions`"),
            "{err}"
        );
    }

    #[test]
    fn trap01_a_page_announcing_more_without_the_last_page_is_unresolved() {
        let mut first = attribute(json!([perm(json!({}))]));
        first["NextToken"] = json!("AAAAAdDWBF2");
        let inv = ecs(&[first.clone(), groups()]).unwrap();
        assert_eq!(inv.unresolved.len(), 1);
        assert_eq!(inv.unresolved[0].field.as_deref(), Some("NextToken"));
        let last = attribute(json!([perm(
            json!({"SecurityGroupRuleId": "sgr-2", "PortRange": "80/80"})
        )]));
        let inv = ecs(&[first, last, groups()]).unwrap();
        assert!(inv.unresolved.is_empty(), "{:?}", inv.unresolved);
        assert_eq!(inv.groups[0].rules.len(), 2);
    }

    #[test]
    fn a_rule_id_listed_again_with_other_fields_is_refused() {
        let page1 = attribute(json!([perm(json!({}))]));
        let page2 = attribute(json!([perm(json!({"PortRange": "23/23"}))]));
        let err = ecs(&[page1, page2]).unwrap_err();
        assert!(
            err.to_string().contains("listed again with other fields"),
            "{err}"
        );
    }

    #[test]
    fn trap02_priority_as_string_or_number() {
        let a = ecs(&[attribute(json!([perm(json!({"Priority": "7"}))])), groups()]).unwrap();
        let b = ecs(&[attribute(json!([perm(json!({"Priority": 7}))])), groups()]).unwrap();
        assert_eq!(fields(&a)["Priority"], json!(7));
        assert_eq!(fields(&a), fields(&b));
        let err = ecs(&[attribute(json!([perm(json!({"Priority": "0"}))]))]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "d0.json: Permissions.Permission[0].Priority: `0` must be from 1 to 100"
        );
    }

    #[test]
    fn trap03_enums_in_any_case() {
        let inv = ecs(&[
            attribute(json!([perm(json!({"Direction": "INGRESS", "IpProtocol": "tcp", "Policy": "accept", "NicType": "Intranet"})),
                             perm(json!({"SecurityGroupRuleId": "sgr-2", "IpProtocol": "icmp6", "PortRange": "-1/-1",
                                         "SourceCidrIp": "", "Ipv6SourceCidrIp": "2001:db8::/32", "Policy": "DROP"}))])),
            groups(),
        ])
        .unwrap();
        let r = &inv.groups[0].rules;
        assert_eq!(r[0].direction, Direction::Ingress);
        assert_eq!(
            (
                &r[0].fields["IpProtocol"],
                &r[0].fields["Policy"],
                &r[0].fields["NicType"]
            ),
            (&json!("TCP"), &json!("Accept"), &json!("intranet"))
        );
        assert_eq!(
            (&r[1].fields["IpProtocol"], &r[1].fields["Policy"]),
            (&json!("ICMPv6"), &json!("Drop"))
        );
        let err = ecs(&[attribute(json!([perm(json!({"Policy": "maybe"}))]))]).unwrap_err();
        assert!(
            err.to_string().contains("Policy: `maybe` must be Accept or Drop"),
            "{err}"
        );
    }

    #[test]
    fn trap04_empty_strings_are_unset_never_everything() {
        let inv = ecs(&[
            attribute(json!([perm(json!({"SourceCidrIp": "", "SourceGroupId": "", "SourcePrefixListId": "", "DestCidrIp": "",
                                          "Ipv6SourceCidrIp": "", "SourcePortRange": "", "PortRangeListId": "", "Description": "",
                                          "SourceGroupId2": null}))])),
            groups(),
        ])
        .unwrap();
        assert_eq!(
            fields(&inv),
            json!({"IpProtocol": "TCP", "PortRange": "22/22", "Policy": "Accept", "Priority": 1})
        );
    }

    #[test]
    fn trap05_egress_peers_use_the_dest_fields_authorize_egress_takes() {
        let egress = perm(
            json!({"Direction": "egress", "SourceCidrIp": "", "DestGroupId": "sg-1", "DestGroupOwnerAccount": "",
                                  "SourceGroupId": "", "DestGroupName": "self"}),
        );
        let inv = ecs(&[attribute(json!([egress])), groups()]).unwrap();
        assert_eq!(inv.groups[0].rules[0].direction, Direction::Egress);
        assert_eq!(
            fields(&inv),
            json!({"IpProtocol": "TCP", "PortRange": "22/22", "Policy": "Accept", "Priority": 1, "DestGroupId": "sg-1"})
        );
        // An egress rule may narrow its own (local) side with SourceCidrIp: kept.
        let local =
            perm(json!({"Direction": "egress", "SourceCidrIp": "10.1.0.0/16", "DestCidrIp": "0.0.0.0/0"}));
        let inv = ecs(&[attribute(json!([local])), groups()]).unwrap();
        assert_eq!(fields(&inv)["SourceCidrIp"], json!("10.1.0.0/16"));
    }

    #[test]
    fn trap05_a_peer_field_of_the_other_direction_is_refused() {
        let err = ecs(&[attribute(json!([perm(
            json!({"Direction": "egress", "SourceGroupId": "sg-2"})
        )]))])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "d0.json: Permissions.Permission[0].SourceGroupId: `sg-2` on an egress rule: this peer field belongs to the other direction"
        );
    }

    #[test]
    fn an_unknown_rule_field_is_refused_not_ignored() {
        let err = ecs(&[attribute(json!([perm(json!({"SourceMacAddress": "aa"}))]))]).unwrap_err();
        assert!(
            err.to_string()
                .contains("SourceMacAddress: `\"aa\"`: a rule field sgeval does not know"),
            "{err}"
        );
    }

    #[test]
    fn trap06_prefix_list_without_entries_is_unresolved() {
        let rule = perm(json!({"SourceCidrIp": "", "SourcePrefixListId": "pl-1"}));
        let inv = ecs(&[attribute(json!([rule.clone()])), groups()]).unwrap();
        assert_eq!(inv.unresolved.len(), 1);
        assert_eq!(inv.unresolved[0].kind, UnresolvedKind::PrefixListEntries);
        assert_eq!(
            (
                inv.unresolved[0].subject.as_str(),
                inv.unresolved[0].field.as_deref()
            ),
            ("sgr-1", Some("SourcePrefixListId"))
        );
        let pl = json!({"PrefixListId": "pl-1", "AddressFamily": "IPv4", "Entries": {"Entry": [{"Cidr": "192.0.2.0/24"}]}});
        let inv = ecs(&[attribute(json!([rule])), groups(), pl]).unwrap();
        assert!(inv.unresolved.is_empty(), "{:?}", inv.unresolved);
        assert_eq!(inv.prefix_lists[0].entries, ["192.0.2.0/24"]);
    }

    #[test]
    fn trap06_port_range_list_is_unresolved() {
        let inv = ecs(&[
            attribute(json!([perm(
                json!({"PortRange": "", "PortRangeListId": "prl-1"})
            )])),
            groups(),
        ])
        .unwrap();
        assert_eq!(inv.unresolved.len(), 1);
        assert_eq!(inv.unresolved[0].kind, UnresolvedKind::PortRangeList);
        assert_eq!(fields(&inv)["PortRangeListId"], json!("prl-1"));
    }

    #[test]
    fn trap07_type_and_inner_policy_need_both_answers() {
        let only_attribute = ecs(&[attribute(json!([]))]).unwrap();
        assert_eq!(only_attribute.unresolved.len(), 1);
        assert_eq!(
            only_attribute.unresolved[0].field.as_deref(),
            Some("SecurityGroupType")
        );
        let only_list = ecs(&[groups()]).unwrap();
        assert_eq!(only_list.unresolved.len(), 1);
        assert_eq!(only_list.unresolved[0].field.as_deref(), Some("Permissions"));
        let both = ecs(&[groups(), attribute(json!([]))]).unwrap();
        assert!(both.unresolved.is_empty());
        assert_eq!(both.groups[0].attributes["SecurityGroupType"], json!("normal"));
        assert_eq!(both.groups[0].attributes["InnerAccessPolicy"], json!("Accept"));
        let conflicting =
            json!({"SecurityGroups": {"SecurityGroup": [{"SecurityGroupId": "sg-1", "VpcId": "vpc-2"}]}});
        let err = ecs(&[attribute(json!([])), conflicting]).unwrap_err();
        assert!(
            err.to_string()
                .contains("`\"vpc-2\"` here, but `\"vpc-1\"` at d0.json"),
            "{err}"
        );
    }

    #[test]
    fn trap08_secondary_eni_groups_need_describe_network_interfaces() {
        let instances = json!({"Instances": {"Instance": [{"InstanceId": "i-1",
            "SecurityGroupIds": {"SecurityGroupId": ["sg-1"]},
            "NetworkInterfaces": {"NetworkInterface": [
                {"NetworkInterfaceId": "eni-p", "Type": "Primary", "PrimaryIpAddress": "10.0.0.5"},
                {"NetworkInterfaceId": "eni-s", "Type": "Secondary", "PrimaryIpAddress": "10.0.1.5"}]}}]}});
        let inv = ecs(&[attribute(json!([])), groups(), instances.clone()]).unwrap();
        assert_eq!(inv.endpoints.len(), 1);
        assert_eq!(
            (inv.endpoints[0].name.as_str(), inv.endpoints[0].groups.as_slice()),
            ("eni-p", &["sg-1".to_owned()][..])
        );
        assert_eq!(inv.unresolved.len(), 1);
        assert_eq!(
            (inv.unresolved[0].subject.as_str(), &inv.unresolved[0].kind),
            ("eni-s", &UnresolvedKind::MissingObject)
        );
        let nics = json!({"NetworkInterfaceSets": {"NetworkInterfaceSet": [
            {"NetworkInterfaceId": "eni-s", "Type": "Secondary", "InstanceId": "i-1", "PrivateIpAddress": "10.0.1.5",
             "SecurityGroupIds": {"SecurityGroupId": ["sg-1"]}}]}});
        let inv = ecs(&[attribute(json!([])), groups(), instances, nics]).unwrap();
        assert_eq!(inv.endpoints.len(), 2);
        assert!(inv.unresolved.is_empty(), "{:?}", inv.unresolved);
        // An instance without ENI entries stands for its primary ENI, named by the instance.
        let bare = json!({"Instances": {"Instance": [{"InstanceId": "i-2", "SecurityGroupIds": {"SecurityGroupId": ["sg-1"]},
            "VpcAttributes": {"PrivateIpAddress": {"IpAddress": ["10.0.0.9"]}}}]}});
        let inv = ecs(&[attribute(json!([])), groups(), bare]).unwrap();
        assert_eq!(inv.endpoints[0].name, "i-2");
        assert_eq!(
            inv.endpoints[0].ips,
            ["10.0.0.9".parse::<std::net::IpAddr>().unwrap()]
        );
        assert!(inv.notes.iter().any(|n| n.contains("NETWORK_PRIMARY_ENI_IP")));
    }

    #[test]
    fn trap09_ens_shapes_are_read_and_detected() {
        let attr = json!({"SecurityGroupId": "sg-e", "Permissions": {"Permission": [
            {"Direction": "ingress", "IpProtocol": "TCP", "PortRange": "443/443", "SourceCidrIp": "0.0.0.0/0",
             "Policy": "Accept", "Priority": 1, "CreationTime": "2025-04-02T10:00:00Z"}]}});
        let nics = json!({"NetworkInterfaceSets": {"NetworkInterfaceSet": [{"NetworkInterfaceId": "eni-e", "Type": "Primary",
            "InstanceId": "i-e", "PrimaryIp": "10.8.0.5", "SecurityGroupIds": {"SecurityGroup": ["sg-e"]}}]}});
        let instances = json!({"Instances": {"Instance": [{"InstanceId": "i-e", "EnsRegionId": "r",
            "SecurityGroupIds": {"SecurityGroupId": ["sg-e"]},
            "NetworkInterfaces": {"NetworkInterfaces": [{"NetworkInterfaceId": "eni-e", "Type": "Primary", "PrimaryIpAddress": "10.8.0.5"}]}}]}});
        let inv = read(&docs(&[attr.clone(), nics, instances]), None, None).unwrap();
        assert_eq!(inv.provider, Provider::Ens);
        assert_eq!(inv.endpoints.len(), 1);
        assert_eq!(inv.endpoints[0].groups, ["sg-e"]);
        assert!(inv.groups[0].rules[0].id.is_none());
        // ECS-only fields in a document read as ENS are refused.
        let mut ecsish = attr;
        ecsish["Permissions"]["Permission"][0]["SourceGroupId"] = json!("sg-x");
        let err = read(&docs(&[ecsish]), Some(Provider::Ens), None).unwrap_err();
        assert!(err.to_string().contains("is an ECS field"), "{err}");
        // An ENS document in an ECS import is refused.
        let ens_nic = json!({"NetworkInterfaceSets": {"NetworkInterfaceSet": [{"NetworkInterfaceId": "eni-e", "EnsRegionId": "r"}]}});
        assert!(matches!(
            ecs(&[ens_nic]),
            Err(ImportError::ProviderMismatch {
                expected: Provider::Ecs,
                found: Provider::Ens,
                ..
            })
        ));
    }

    #[test]
    fn ecs_or_ens_undecided_asks_for_the_provider() {
        let err = read(&docs(&[attribute(json!([]))]), None, None);
        assert!(err.is_ok(), "InnerAccessPolicy tells ECS");
        let plain = json!({"SecurityGroupId": "sg-1", "Permissions": {"Permission": []}});
        let err = read(&docs(std::slice::from_ref(&plain)), None, None).unwrap_err();
        assert!(err.to_string().contains("tells ECS from ENS"), "{err}");
        assert_eq!(
            read(&docs(&[plain]), Some(Provider::Ens), None).unwrap().provider,
            Provider::Ens
        );
    }

    #[test]
    fn unknown_alibaba_answers_are_skipped() {
        let inv = ecs(&[
            attribute(json!([])),
            groups(),
            json!({"RequestId": "x", "Vpcs": {"Vpc": []}}),
        ])
        .unwrap();
        assert_eq!(inv.skipped.len(), 1);
        assert!(
            inv.skipped[0].reason.contains("`RequestId`, `Vpcs`"),
            "{}",
            inv.skipped[0].reason
        );
    }

    #[test]
    fn rules_are_ordered_by_creation_time() {
        let late = perm(json!({"SecurityGroupRuleId": "sgr-late", "CreateTime": "2025-03-02T00:00:00Z"}));
        let early = perm(
            json!({"SecurityGroupRuleId": "sgr-early", "PortRange": "80/80", "CreateTime": "2025-03-01T00:00:00Z"}),
        );
        let inv = ecs(&[attribute(json!([late, early])), groups()]).unwrap();
        let ids: Vec<_> = inv.groups[0]
            .rules
            .iter()
            .map(|r| r.id.clone().unwrap())
            .collect();
        assert_eq!(ids, ["sgr-early", "sgr-late"]);
    }
}
