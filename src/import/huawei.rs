//! Huawei Cloud VPC describe answers: v3 `ShowSecurityGroup`, `ListSecurityGroups`,
//! `ListSecurityGroupRules`, `ShowSecurityGroupRule`, `ListAddressGroup` and the port
//! lists (v3, v1, Neutron) [H1]-[H11].
//!
//! Rules are kept as the v3 `security_group_rule` create body: `null` and `""` are unset
//! (trap 12: a `null` protocol is every protocol, three `null` remotes any peer),
//! `multiport` is text whether the answer gave a string or a number (trap 11), enums are
//! read in any case. v1/Neutron rules (no `action`, no `priority`, trap 10) are refused
//! unless accepted as allow-only, each then listed as unresolved. Ports keep their
//! groups in the order given (the association order decides Huawei verdicts) and
//! `port_security_enabled` (trap 14).

use serde_json::{Map, Value};

use super::build::{Builder, References};
use super::json::{ip, key, show, At};
use super::{
    AddressGroupRecord, EndpointRecord, ImportError, Inventory, Origin, RuleRecord, Skipped, UnresolvedKind,
};
use crate::{Direction, Provider};

/// Rule fields that are not part of the create body.
const INFORMATIONAL: &[&str] = &[
    "id",
    "security_group_id",
    "created_at",
    "updated_at",
    "project_id",
    "tenant_id",
    "revision_number",
    "tags",
    "standard_attr_id",
    "normalized_cidr",
    "belongs_to_default_sg",
    "remote_group_name",
    "remote_address_group_name",
];

const REFERENCES: References = References {
    groups: &["remote_group_id"],
    address_groups: &["remote_address_group_id"],
    prefix_lists: &[],
};

/// The lowest priority, given to v1 rules accepted as allow-only.
const LOWEST_PRIORITY: i64 = 100;

#[derive(Default)]
pub(crate) struct Reader {
    b: Builder,
    noted_port_security: bool,
}

impl Reader {
    pub(crate) fn add(&mut self, file: &str, value: &Value, accept_v1: bool) -> Result<(), ImportError> {
        self.response(file, "", value, accept_v1)
    }

    fn response(
        &mut self,
        file: &str,
        path: &str,
        value: &Value,
        accept_v1: bool,
    ) -> Result<(), ImportError> {
        let at = At::new(file, path);
        let o = match value {
            Value::Array(pages) => {
                for (i, page) in pages.iter().enumerate() {
                    self.response(file, &format!("{path}[{i}]"), page, accept_v1)?;
                }
                return Ok(());
            }
            Value::Object(o) => o,
            other => {
                return Err(at.error_here(format!(
                    "an answer must be an object or an array of pages, found `{}`",
                    show(other)
                )))
            }
        };
        let mut read = false;
        if let Some(g) = o.get("security_group") {
            let p = key(path, "security_group");
            self.group(&At::new(file, &p), g, accept_v1)?;
            read = true;
        }
        for (p, g) in at.array(o, "security_groups")? {
            self.group(&At::new(file, &p), g, accept_v1)?;
            read = true;
        }
        if let Some(r) = o.get("security_group_rule") {
            let p = key(path, "security_group_rule");
            self.listed_rule(&At::new(file, &p), r, accept_v1)?;
            read = true;
        }
        for (p, r) in at.array(o, "security_group_rules")? {
            self.listed_rule(&At::new(file, &p), r, accept_v1)?;
            read = true;
        }
        if let Some(a) = o.get("address_group") {
            let p = key(path, "address_group");
            self.address_group(&At::new(file, &p), a)?;
            read = true;
        }
        for (p, a) in at.array(o, "address_groups")? {
            self.address_group(&At::new(file, &p), a)?;
            read = true;
        }
        if let Some(port) = o.get("port") {
            let p = key(path, "port");
            self.port(&At::new(file, &p), port)?;
            read = true;
        }
        for (p, port) in at.array(o, "ports")? {
            self.port(&At::new(file, &p), port)?;
            read = true;
        }
        if !read {
            let keys: Vec<&str> = o.keys().map(String::as_str).take(8).collect();
            let reason = if o.contains_key("servers") {
                "server details carry server-level groups only, not per port and not in port order; give the port list (ListPorts)".to_owned()
            } else {
                format!(
                    "keys `{}` match no answer sgeval reads (ShowSecurityGroup, ListSecurityGroups, ListSecurityGroupRules, ListAddressGroup, ListPorts)",
                    keys.join("`, `")
                )
            };
            self.b.skipped.push(Skipped {
                origin: at.origin(),
                kind: "a Huawei answer".to_owned(),
                reason,
            });
        }
        Ok(())
    }

    /// A security group (ShowSecurityGroup, a ListSecurityGroups entry); its rules when the
    /// answer carries them.
    fn group(&mut self, at: &At<'_>, v: &Value, accept_v1: bool) -> Result<(), ImportError> {
        let g = at.object(v, "a security group")?;
        let Some(id) = at.text(g, "id")? else {
            return Err(at.error("id", "is missing".to_owned()));
        };
        let gi = self.b.group(&id, at);
        self.b.name(gi, at.text(g, "name")?, at, "name")?;
        for name in ["enterprise_project_id", "description"] {
            if let Some(v) = at.text(g, name)? {
                self.b.attribute(gi, name, Value::from(v), at, name)?;
            }
        }
        if g.contains_key("security_group_rules") {
            self.b.rules_listed.insert(id.clone());
            for (p, r) in at.array(g, "security_group_rules")? {
                let rat = At::new(at.file, &p);
                self.rule(&rat, r, Some(&id), gi, accept_v1)?;
            }
        }
        Ok(())
    }

    /// A rule of a rule list: its group is `security_group_id`.
    fn listed_rule(&mut self, at: &At<'_>, v: &Value, accept_v1: bool) -> Result<(), ImportError> {
        let r = at.object(v, "a security group rule")?;
        let Some(gid) = at.text(r, "security_group_id")? else {
            return Err(at.error(
                "security_group_id",
                "is missing: the rule cannot be joined to its group".to_owned(),
            ));
        };
        let gi = self.b.group(&gid, at);
        self.b.rules_listed.insert(gid.clone());
        self.rule(at, v, Some(&gid), gi, accept_v1)
    }

    fn rule(
        &mut self,
        at: &At<'_>,
        v: &Value,
        group: Option<&str>,
        gi: usize,
        accept_v1: bool,
    ) -> Result<(), ImportError> {
        let (rule, created, v1) = rule(at, v, accept_v1)?;
        if let (Some(g), Some(own)) = (group, at.text(at.object(v, "a rule")?, "security_group_id")?) {
            if own != g {
                return Err(at.error("security_group_id", format!("`{own}` inside group `{g}`")));
            }
        }
        if v1 {
            let subject = rule.id.clone().unwrap_or_else(|| rule.origin.to_string());
            self.b.unresolved(
                UnresolvedKind::V1Rule,
                &subject,
                Some("action"),
                rule.origin.clone(),
                "a v1/Neutron rule: the listing shows no action and no priority, so deny rules and priorities are invisible; taken as allow at the lowest priority. Give the v3 ListSecurityGroupRules answer to settle it".to_owned(),
            );
        }
        self.b.rule(gi, rule, created, at)
    }

    /// An address group (ListAddressGroup): entries may be CIDRs, addresses or `a-b`
    /// ranges (trap 13) [H4].
    fn address_group(&mut self, at: &At<'_>, v: &Value) -> Result<(), ImportError> {
        let a = at.object(v, "an address group")?;
        let Some(id) = at.text(a, "id")? else {
            return Err(at.error("id", "is missing".to_owned()));
        };
        let ip_version = match at.integer(a, "ip_version")? {
            Some(4) => 4,
            Some(6) => 6,
            Some(n) => return Err(at.error("ip_version", format!("`{n}` must be 4 or 6"))),
            None => return Err(at.error("ip_version", "is missing".to_owned())),
        };
        let mut ip_set = at.strings(&at.array(a, "ip_set")?)?;
        if ip_set.is_empty() {
            // Newer answers give entries with remarks as `ip_extra_set[] {ip, remarks}`.
            for (p, e) in at.array(a, "ip_extra_set")? {
                let eat = At::new(at.file, &p);
                if let Some(ip) = eat.text(eat.object(e, "an address entry")?, "ip")? {
                    ip_set.push(ip);
                }
            }
        }
        for (i, entry) in ip_set.iter().enumerate() {
            if !valid_entry(entry, ip_version) {
                return Err(at.error(
                    &format!("ip_set[{i}]"),
                    format!("`{entry}` is not an IPv{ip_version} address, CIDR or `first-last` range"),
                ));
            }
        }
        self.b.address_group(
            AddressGroupRecord {
                id,
                address: None,
                name: at.text(a, "name")?,
                origin: at.origin(),
                ip_version,
                ip_set,
            },
            at,
        )
    }

    /// A port (v3/v1 `private_ips`, Neutron `fixed_ips`) with its groups in order [H3][H9].
    fn port(&mut self, at: &At<'_>, v: &Value) -> Result<(), ImportError> {
        let p = at.object(v, "a port")?;
        let Some(id) = at.text(p, "id")? else {
            return Err(at.error("id", "is missing".to_owned()));
        };
        let instance = match at.text(p, "instance_id")? {
            Some(i) => Some(i),
            None => at.text(p, "device_id")?,
        };
        let mut ips = Vec::new();
        for list in ["private_ips", "fixed_ips"] {
            for (ip_path, e) in at.array(p, list)? {
                let eat = At::new(at.file, &ip_path);
                if let Some(t) = eat.text(eat.object(e, "an address entry")?, "ip_address")? {
                    let a = ip(at.file, &key(&ip_path, "ip_address"), &t)?;
                    if !ips.contains(&a) {
                        ips.push(a);
                    }
                }
            }
        }
        let groups = at.strings(&at.array(p, "security_groups")?)?;
        let port_security = match at.boolean(p, "port_security_enabled")? {
            Some(b) => b,
            None => {
                if !self.noted_port_security {
                    self.noted_port_security = true;
                    self.b.notes.push(format!(
                        "{}: a port without `port_security_enabled` is taken as enabled (the API's default)",
                        at.origin()
                    ));
                }
                true
            }
        };
        let e = EndpointRecord {
            name: id,
            address: None,
            instance,
            origin: at.origin(),
            ips,
            groups,
            order_known: true,
            port_security,
        };
        self.b.endpoint(e, 0, at)
    }

    pub(crate) fn finish(mut self) -> Result<Inventory, ImportError> {
        let missing: Vec<(String, Origin)> = self
            .b
            .groups()
            .iter()
            .filter(|g| !self.b.rules_listed.contains(&g.id))
            .map(|g| (g.id.clone(), g.origin.clone()))
            .collect();
        for (id, origin) in missing {
            self.b.unresolved(
                UnresolvedKind::MissingObject,
                &id,
                Some("security_group_rules"),
                origin,
                format!("group `{id}`: its rules were not listed; add ShowSecurityGroup or ListSecurityGroupRules"),
            );
        }
        Ok(self.b.finish(Provider::Huawei, &REFERENCES))
    }
}

/// An address-group entry: an address, a CIDR or a `first-last` range of one family.
fn valid_entry(entry: &str, version: u8) -> bool {
    let family_ok = |a: &std::net::IpAddr| (a.is_ipv4() && version == 4) || (a.is_ipv6() && version == 6);
    if let Some((lo, hi)) = entry.split_once('-') {
        return match (
            lo.trim().parse::<std::net::IpAddr>(),
            hi.trim().parse::<std::net::IpAddr>(),
        ) {
            (Ok(lo), Ok(hi)) => family_ok(&lo) && family_ok(&hi) && lo <= hi,
            _ => false,
        };
    }
    if let Ok(net) = entry.parse::<ipnet::IpNet>() {
        return family_ok(&net.addr());
    }
    entry.parse::<std::net::IpAddr>().is_ok_and(|a| family_ok(&a))
}

/// One rule as the v3 create body; `true` when it is a v1/Neutron rule.
fn rule(at: &At<'_>, v: &Value, accept_v1: bool) -> Result<(RuleRecord, Option<String>, bool), ImportError> {
    let r = at.object(v, "a security group rule")?;
    let mut fields = Map::new();
    let direction = match at.text(r, "direction")? {
        Some(d) if d.eq_ignore_ascii_case("ingress") => Direction::Ingress,
        Some(d) if d.eq_ignore_ascii_case("egress") => Direction::Egress,
        Some(d) => return Err(at.error("direction", format!("`{d}` must be ingress or egress"))),
        None => return Err(at.error("direction", "is missing".to_owned())),
    };
    fields.insert("direction".to_owned(), Value::from(direction.to_string()));
    for (name, value) in r {
        let name = name.as_str();
        if INFORMATIONAL.contains(&name) || name == "direction" {
            continue;
        }
        let known = matches!(
            name,
            "ethertype"
                | "protocol"
                | "multiport"
                | "remote_ip_prefix"
                | "remote_group_id"
                | "remote_address_group_id"
                | "action"
                | "priority"
                | "description"
                | "enabled"
                | "port_range_min"
                | "port_range_max"
        );
        if !known {
            if value.is_null() {
                continue;
            }
            return Err(at.error(
                name,
                format!(
                    "`{}`: a rule field sgeval does not know; it cannot tell whether it changes the rule",
                    show(value)
                ),
            ));
        }
        if name == "enabled" {
            if let Some(b) = at.boolean(r, name)? {
                fields.insert(name.to_owned(), Value::from(b));
            }
            continue;
        }
        if name.starts_with("port_range") {
            continue;
        }
        let Some(text) = at.text(r, name)? else { continue };
        let canon = match name {
            "ethertype" => Value::from(match text.to_ascii_lowercase().as_str() {
                "ipv4" => "IPv4",
                "ipv6" => "IPv6",
                _ => return Err(at.error(name, format!("`{text}` must be IPv4 or IPv6"))),
            }),
            "protocol" | "action" => Value::from(text.to_ascii_lowercase()),
            "priority" => {
                let n = at.integer(r, name)?.unwrap_or_default();
                if !(1..=100).contains(&n) {
                    return Err(at.error(name, format!("`{text}` must be from 1 to 100")));
                }
                Value::from(n)
            }
            // Trap 11: a number in the answer, text in the create body.
            _ => Value::from(text),
        };
        fields.insert(name.to_owned(), canon);
    }
    if let Some(Value::String(a)) = fields.get("action") {
        if a != "allow" && a != "deny" {
            return Err(at.error("action", format!("`{a}` must be allow or deny")));
        }
    }
    let has_action = fields.contains_key("action");
    let has_priority = fields.contains_key("priority");
    let v1 = !has_action && !has_priority;
    if v1 {
        if !accept_v1 {
            return Err(at.error_here(
                "a v1/Neutron rule (no `action`, no `priority`): this listing hides deny rules and priorities; give the v3 ListSecurityGroupRules (or ShowSecurityGroup) answer, or accept v1 listings as allow-only".to_owned(),
            ));
        }
        v1_ports(at, r, &mut fields)?;
        fields.insert("action".to_owned(), Value::from("allow"));
        fields.insert("priority".to_owned(), Value::from(LOWEST_PRIORITY));
    } else if !has_action || !has_priority {
        let absent = if has_action { "priority" } else { "action" };
        return Err(at.error(absent, "is missing from a v3 rule".to_owned()));
    } else if !fields.contains_key("multiport")
        && (non_null(r, "port_range_min") || non_null(r, "port_range_max"))
    {
        // A v3 answer speaks `multiport`; port fields without it are a shape we do not know.
        return Err(at.error(
            "port_range_min",
            "is given without `multiport` in a v3 rule: sgeval does not know which ports the rule covers"
                .to_owned(),
        ));
    }
    let rule = RuleRecord {
        id: at.text(r, "id")?,
        address: None,
        origin: at.origin(),
        direction,
        fields,
        default: false,
    };
    Ok((rule, at.text(r, "created_at")?, v1))
}

fn non_null(r: &Map<String, Value>, name: &str) -> bool {
    r.get(name).is_some_and(|v| !v.is_null())
}

/// v1/Neutron `port_range_min`/`max` as a v3 `multiport`.
fn v1_ports(at: &At<'_>, r: &Map<String, Value>, fields: &mut Map<String, Value>) -> Result<(), ImportError> {
    let lo = at.integer(r, "port_range_min")?;
    let hi = at.integer(r, "port_range_max")?;
    if lo.is_none() && hi.is_none() {
        return Ok(());
    }
    let proto = fields.get("protocol").and_then(Value::as_str).unwrap_or("");
    if !matches!(proto, "tcp" | "udp" | "6" | "17" | "33" | "132" | "136") {
        // ICMP type/code (or ports on a portless protocol) cannot be written as v3 multiport.
        return Err(at.error(
            "port_range_min",
            format!(
                "`{}`/`{}` on protocol `{proto}`: v1 ICMP type/code has no v3 form; give the v3 listing",
                lo.map_or("null".to_owned(), |n| n.to_string()),
                hi.map_or("null".to_owned(), |n| n.to_string())
            ),
        ));
    }
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Err(at.error("port_range_max", "must be given with `port_range_min`".to_owned()));
    };
    let text = if lo == hi {
        lo.to_string()
    } else {
        format!("{lo}-{hi}")
    };
    fields.insert("multiport".to_owned(), Value::from(text));
    Ok(())
}
