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
    /// Per list (`security_group_rules`, `ports`, ...): whether a page said more follow
    /// (`page_info.next_marker`), and whether a last page was read.
    pages: std::collections::BTreeMap<&'static str, (bool, bool)>,
}

const LISTS: &[&str] = &[
    "security_groups",
    "security_group_rules",
    "address_groups",
    "ports",
];

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
        let more = o
            .get("page_info")
            .and_then(|p| p.get("next_marker"))
            .is_some_and(|m| !m.is_null() && m != "");
        for list in LISTS {
            if o.contains_key(*list) {
                let seen = self.pages.entry(list).or_default();
                if more {
                    seen.0 = true;
                } else {
                    seen.1 = true;
                }
            }
        }
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
        // An empty page of a list (no ports, no address groups) is an answer read, not an
        // unknown document.
        read |= LISTS.iter().any(|l| o.get(*l).is_some_and(Value::is_array));
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
        for (list, (more, last)) in &self.pages {
            if *more && !*last {
                self.b.notes.push(format!(
                    "a `{list}` page has `page_info.next_marker` and no last page was given: later pages are missing"
                ));
            }
        }
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

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::import::{read, read_with, Document, ImportError, Inventory, Options, UnresolvedKind};
    use crate::Provider;

    fn docs(values: &[Value]) -> Vec<Document> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Document::new(format!("h{i}.json"), v.clone()))
            .collect()
    }

    fn huawei(values: &[Value]) -> Result<Inventory, ImportError> {
        read(&docs(values), Some(Provider::Huawei), None)
    }

    fn v3(extra: Value) -> Value {
        let mut r = json!({"id": "r-1", "security_group_id": "g-1", "direction": "ingress", "ethertype": "IPv4",
                           "protocol": "tcp", "multiport": "22", "action": "allow", "priority": 1,
                           "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": null, "remote_address_group_id": null});
        for (k, v) in extra.as_object().unwrap() {
            r[k] = v.clone();
        }
        r
    }

    fn show(rules: Value) -> Value {
        json!({"request_id": "x", "security_group": {"id": "g-1", "name": "web", "security_group_rules": rules}})
    }

    fn fields(inv: &Inventory) -> Value {
        Value::Object(inv.groups[0].rules[0].fields.clone())
    }

    #[test]
    fn trap10_v1_rules_are_refused_unless_accepted_as_allow_only() {
        let v1 = json!({"security_group_rules": [{"id": "r-1", "security_group_id": "g-1", "direction": "ingress",
            "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 80, "port_range_max": 90,
            "remote_ip_prefix": "0.0.0.0/0", "tenant_id": "t"}]});
        let err = huawei(std::slice::from_ref(&v1)).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("h0.json: security_group_rules[0]: a v1/Neutron rule"),
            "{err}"
        );
        let accepted = read_with(
            &docs(&[v1]),
            &Options {
                accept_v1: true,
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(
            fields(&accepted),
            json!({"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "remote_ip_prefix": "0.0.0.0/0",
                   "multiport": "80-90", "action": "allow", "priority": 100})
        );
        assert_eq!(accepted.unresolved[0].kind, UnresolvedKind::V1Rule);
        assert_eq!(accepted.unresolved[0].subject, "r-1");
        // ICMP type/code has no v3 form: refused even when v1 is accepted.
        let icmp = json!({"security_group_rules": [{"id": "r-2", "security_group_id": "g-1", "direction": "ingress",
            "protocol": "icmp", "port_range_min": 8, "port_range_max": 0}]});
        let options = Options {
            accept_v1: true,
            ..Options::default()
        };
        assert!(read_with(&docs(&[icmp]), &options).is_err());
        // A v3 rule missing only one of action and priority is malformed, not v1.
        let half = v3(json!({"priority": null}));
        let err = huawei(&[show(json!([half]))]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "h0.json: security_group.security_group_rules[0].priority: is missing from a v3 rule"
        );
    }

    #[test]
    fn trap11_multiport_string_or_number() {
        let s = huawei(&[show(json!([v3(json!({"multiport": "333"}))]))]).unwrap();
        let n = huawei(&[show(json!([v3(json!({"multiport": 333}))]))]).unwrap();
        assert_eq!(fields(&s)["multiport"], json!("333"));
        assert_eq!(fields(&s), fields(&n));
    }

    #[test]
    fn trap12_null_protocol_and_peers_are_unset() {
        let inv = huawei(&[show(json!([v3(
            json!({"protocol": null, "multiport": null, "remote_ip_prefix": null,
                                                  "description": null, "ethertype": "ipv6", "action": "DENY"})
        )]))])
        .unwrap();
        assert_eq!(
            fields(&inv),
            json!({"direction": "ingress", "ethertype": "IPv6", "action": "deny", "priority": 1})
        );
    }

    #[test]
    fn trap13_address_group_entries_may_be_ranges() {
        let ag = json!({"address_groups": [{"id": "a-1", "name": "office", "ip_version": 4,
            "ip_set": ["198.51.100.0/24", "192.0.2.10", "192.0.2.20-192.0.2.30"]}]});
        let rule = v3(json!({"remote_ip_prefix": null, "remote_address_group_id": "a-1"}));
        let inv = huawei(&[show(json!([rule.clone()])), ag]).unwrap();
        assert_eq!(inv.address_groups[0].ip_set.len(), 3);
        assert!(inv.unresolved.is_empty(), "{:?}", inv.unresolved);
        let missing = huawei(&[show(json!([rule]))]).unwrap();
        assert_eq!(
            missing.unresolved[0].field.as_deref(),
            Some("remote_address_group_id")
        );
        let bad =
            json!({"address_groups": [{"id": "a-2", "ip_version": 4, "ip_set": ["192.0.2.30-192.0.2.20"]}]});
        let err = huawei(&[bad]).unwrap_err();
        assert!(
            err.to_string()
                .contains("ip_set[0]: `192.0.2.30-192.0.2.20` is not an IPv4"),
            "{err}"
        );
        let v6 = json!({"address_groups": [{"id": "a-3", "ip_version": "6", "ip_set": ["2001:db8::1-2001:db8::9"]}]});
        assert_eq!(huawei(&[v6]).unwrap().address_groups[0].ip_version, 6);
    }

    #[test]
    fn trap14_ports_keep_group_order_and_port_security() {
        let ports = json!({"ports": [
            {"id": "p-1", "device_id": "vm-1", "port_security_enabled": false, "security_groups": ["g-2", "g-1"],
             "private_ips": [{"ip_address": "192.168.0.10"}]},
            {"id": "p-2", "device_id": "", "security_groups": ["g-1"], "fixed_ips": [{"subnet_id": "s", "ip_address": "192.168.0.11"}]}]});
        let inv = huawei(&[show(json!([])), ports]).unwrap();
        assert_eq!(inv.endpoints[0].groups, ["g-2", "g-1"], "never sorted");
        assert!(!inv.endpoints[0].port_security);
        assert_eq!(inv.endpoints[0].instance.as_deref(), Some("vm-1"));
        assert!(inv.endpoints[1].port_security, "absent reads as the API default");
        assert_eq!(inv.endpoints[1].instance, None);
        assert!(inv.notes.iter().any(|n| n.contains("port_security_enabled")));
        assert_eq!(inv.unresolved[0].subject, "p-1", "g-2 is not described");
    }

    #[test]
    fn rule_lists_join_groups_and_pages() {
        let groups = json!({"security_groups": [{"id": "g-1", "name": "web"}, {"id": "g-2", "name": "ops"}], "page_info": {}});
        let page1 = json!({"security_group_rules": [v3(json!({}))], "page_info": {"next_marker": "r-1"}});
        let page2 = json!({"security_group_rules": [v3(json!({"id": "r-2", "security_group_id": "g-2", "remote_group_id": "g-1", "remote_ip_prefix": null}))]});
        let inv = huawei(&[json!([page1, page2]), groups]).unwrap();
        assert_eq!(inv.groups.len(), 2);
        assert_eq!(inv.groups[0].name.as_deref(), Some("web"));
        assert_eq!(inv.groups[1].rules[0].fields["remote_group_id"], json!("g-1"));
        assert!(inv.unresolved.is_empty(), "{:?}", inv.unresolved);
        // A group whose rules were never listed is unresolved.
        let only = huawei(&[json!({"security_groups": [{"id": "g-9"}]})]).unwrap();
        assert_eq!(only.unresolved[0].field.as_deref(), Some("security_group_rules"));
    }

    #[test]
    fn a_page_announcing_more_without_the_last_is_noted() {
        let page = json!({"security_group_rules": [v3(json!({}))], "page_info": {"next_marker": "r-1", "current_count": 1}});
        let inv = huawei(&[page]).unwrap();
        assert!(
            inv.notes.iter().any(|n| n.contains("next_marker")),
            "{:?}",
            inv.notes
        );
    }

    #[test]
    fn a_rule_inside_another_group_is_refused() {
        let err = huawei(&[show(json!([v3(json!({"security_group_id": "g-2"}))]))]).unwrap_err();
        assert!(err.to_string().contains("`g-2` inside group `g-1`"), "{err}");
    }

    #[test]
    fn unknown_huawei_answers_are_skipped() {
        let inv = huawei(&[show(json!([])), json!({"servers": [], "count": 0})]).unwrap();
        assert!(inv.skipped[0].reason.contains("ListPorts"));
    }

    #[test]
    fn a_gcore_document_in_a_huawei_import_is_refused() {
        let err = huawei(&[json!({"count": 0, "results": []})]).unwrap_err();
        assert!(matches!(
            err,
            ImportError::ProviderMismatch {
                expected: Provider::Huawei,
                found: Provider::Gcore,
                ..
            }
        ));
    }
}
