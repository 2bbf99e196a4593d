//! Gcore Cloud describe answers: security groups (one, or a `{count, results}` list)
//! [G1][G3], an instance's interfaces (`/interfaces`: addresses, `port_security_enabled`)
//! [G2] and ports (`/ports`: each port's groups) [G4], joined by `port_id == id`
//! (trap 16). Rules are kept as the rule create body; `protocol: "any"` is every protocol
//! and is left unset, as the create body says "all" (trap 15).

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::build::{Builder, References};
use super::json::{ip, key, show, At};
use super::{EndpointRecord, ImportError, Inventory, Origin, RuleRecord, Skipped, UnresolvedKind};
use crate::{Direction, Provider};

const INFORMATIONAL: &[&str] = &[
    "id",
    "security_group_id",
    "created_at",
    "updated_at",
    "revision_number",
];

const REFERENCES: References = References {
    groups: &["remote_group_id"],
    address_groups: &[],
    prefix_lists: &[],
};

/// An interface of `/interfaces`, waiting for its groups.
struct Interface {
    port_id: String,
    ips: Vec<std::net::IpAddr>,
    port_security: bool,
    origin: Origin,
}

#[derive(Default)]
pub(crate) struct Reader {
    b: Builder,
    interfaces: Vec<Interface>,
    /// `/ports` entries: port id -> groups (in the order given) and where.
    ports: HashMap<String, (Vec<String>, Origin)>,
    port_order: Vec<String>,
}

impl Reader {
    pub(crate) fn add(&mut self, file: &str, value: &Value) -> Result<(), ImportError> {
        self.response(file, "", value)
    }

    fn response(&mut self, file: &str, path: &str, value: &Value) -> Result<(), ImportError> {
        let at = At::new(file, path);
        match value {
            Value::Array(pages) => {
                for (i, page) in pages.iter().enumerate() {
                    self.response(file, &format!("{path}[{i}]"), page)?;
                }
                Ok(())
            }
            Value::Object(o) if o.contains_key("results") => {
                for (p, item) in at.array(o, "results")? {
                    self.item(&At::new(file, &p), item)?;
                }
                Ok(())
            }
            Value::Object(_) => self.item(&at, value),
            other => Err(at.error_here(format!(
                "an answer must be an object or an array of pages, found `{}`",
                show(other)
            ))),
        }
    }

    /// One object of a list (or a single answer), classified by its fields.
    fn item(&mut self, at: &At<'_>, v: &Value) -> Result<(), ImportError> {
        let o = at.object(v, "a list entry")?;
        if o.contains_key("security_group_rules") {
            self.group(at, o)
        } else if o.contains_key("port_id") && o.contains_key("ip_assignments") {
            self.interface(at, o)
        } else if o.contains_key("id")
            && o.get("security_groups").is_some_and(Value::is_array)
            && !o.contains_key("flavor")
            && !o.contains_key("addresses")
        {
            self.port(at, o)
        } else {
            let keys: Vec<&str> = o.keys().map(String::as_str).take(8).collect();
            let reason = if o.contains_key("flavor") || o.contains_key("addresses") {
                "an instance lists its groups by name and instance-wide only; give its /ports and /interfaces answers".to_owned()
            } else {
                format!(
                    "keys `{}` match no answer sgeval reads (security groups, /interfaces, /ports)",
                    keys.join("`, `")
                )
            };
            self.b.skipped.push(Skipped {
                origin: at.origin(),
                kind: "a Gcore answer".to_owned(),
                reason,
            });
            Ok(())
        }
    }

    fn group(&mut self, at: &At<'_>, g: &Map<String, Value>) -> Result<(), ImportError> {
        let Some(id) = at.text(g, "id")? else {
            return Err(at.error("id", "is missing".to_owned()));
        };
        let gi = self.b.group(&id, at);
        self.b.rules_listed.insert(id.clone());
        self.b.name(gi, at.text(g, "name")?, at, "name")?;
        for name in ["project_id", "region_id"] {
            match g.get(name) {
                None | Some(Value::Null) => {}
                Some(v @ (Value::Number(_) | Value::String(_))) => {
                    self.b.attribute(gi, name, v.clone(), at, name)?
                }
                Some(other) => {
                    return Err(at.error(name, format!("must be a number, found `{}`", show(other))))
                }
            }
        }
        for (p, r) in at.array(g, "security_group_rules")? {
            let rat = At::new(at.file, &p);
            let (rule, created) = rule(&rat, r)?;
            if let Some(own) = rat.text(rat.object(r, "a rule")?, "security_group_id")? {
                if own != id {
                    return Err(rat.error("security_group_id", format!("`{own}` inside group `{id}`")));
                }
            }
            self.b.rule(gi, rule, created, &rat)?;
        }
        Ok(())
    }

    fn interface(&mut self, at: &At<'_>, o: &Map<String, Value>) -> Result<(), ImportError> {
        let Some(port_id) = at.text(o, "port_id")? else {
            return Err(at.error("port_id", "is missing".to_owned()));
        };
        let port_security = at.boolean(o, "port_security_enabled")?.unwrap_or(true);
        let mut ips = Vec::new();
        for (p, a) in at.array(o, "ip_assignments")? {
            let aat = At::new(at.file, &p);
            if let Some(t) = aat.text(aat.object(a, "an address entry")?, "ip_address")? {
                ips.push(ip(at.file, &key(&p, "ip_address"), &t)?);
            }
        }
        self.interfaces.push(Interface {
            port_id,
            ips,
            port_security,
            origin: at.origin(),
        });
        // Trunk sub-ports are ports of their own, with their own addresses.
        for (p, s) in at.array(o, "sub_ports")? {
            let sat = At::new(at.file, &p);
            let so = sat.object(s, "a sub-port")?;
            if so.contains_key("port_id") {
                self.interface(&sat, so)?;
            }
        }
        Ok(())
    }

    fn port(&mut self, at: &At<'_>, o: &Map<String, Value>) -> Result<(), ImportError> {
        let Some(id) = at.text(o, "id")? else {
            return Err(at.error("id", "is missing".to_owned()));
        };
        let mut groups = Vec::new();
        for (p, g) in at.array(o, "security_groups")? {
            let gat = At::new(at.file, &p);
            let Some(gid) = gat.text(gat.object(g, "a port's group")?, "id")? else {
                return Err(gat.error(
                    "id",
                    "is missing (a group named only by `name` cannot be joined)".to_owned(),
                ));
            };
            groups.push(gid);
        }
        match self.ports.get(&id) {
            Some((old, first)) if *old != groups => {
                return Err(at.error_here(format!(
                    "port `{id}` is listed again with other groups (first at {first})"
                )))
            }
            Some(_) => {}
            None => {
                self.port_order.push(id.clone());
                self.ports.insert(id, (groups, at.origin()));
            }
        }
        Ok(())
    }

    pub(crate) fn finish(mut self) -> Result<Inventory, ImportError> {
        let mut joined = std::collections::HashSet::new();
        for i in std::mem::take(&mut self.interfaces) {
            let at = At::new(&i.origin.file, &i.origin.path);
            match self.ports.get(&i.port_id) {
                Some((groups, _)) => {
                    joined.insert(i.port_id.clone());
                    let e = EndpointRecord {
                        name: i.port_id.clone(),
                        address: None,
                        instance: None,
                        origin: i.origin.clone(),
                        ips: i.ips,
                        groups: groups.clone(),
                        order_known: true,
                        port_security: i.port_security,
                    };
                    self.b.endpoint(e, 0, &at)?;
                }
                // No group filters a port with port security off: its groups do not matter.
                None if !i.port_security => {
                    let e = EndpointRecord {
                        name: i.port_id.clone(),
                        address: None,
                        instance: None,
                        origin: i.origin.clone(),
                        ips: i.ips,
                        groups: Vec::new(),
                        order_known: true,
                        port_security: false,
                    };
                    self.b.endpoint(e, 0, &at)?;
                }
                None => self.b.unresolved(
                    UnresolvedKind::MissingObject,
                    &i.port_id,
                    Some("security_groups"),
                    i.origin.clone(),
                    format!(
                        "interface `{}`: its groups are listed only by the instance's /ports answer; add it",
                        i.port_id
                    ),
                ),
            }
        }
        for id in &self.port_order {
            if !joined.contains(id) {
                let origin = self.ports[id].1.clone();
                self.b.unresolved(
                    UnresolvedKind::MissingObject,
                    id,
                    Some("ip_assignments"),
                    origin,
                    format!("port `{id}`: its addresses are listed only by the instance's /interfaces answer; add it"),
                );
            }
        }
        Ok(self.b.finish(Provider::Gcore, &REFERENCES))
    }
}

/// One rule as the rule create body, with its creation time.
fn rule(at: &At<'_>, v: &Value) -> Result<(RuleRecord, Option<String>), ImportError> {
    let r = at.object(v, "a security group rule")?;
    let direction = match at.text(r, "direction")? {
        Some(d) if d.eq_ignore_ascii_case("ingress") => Direction::Ingress,
        Some(d) if d.eq_ignore_ascii_case("egress") => Direction::Egress,
        Some(d) => return Err(at.error("direction", format!("`{d}` must be ingress or egress"))),
        None => return Err(at.error("direction", "is missing".to_owned())),
    };
    let mut fields = Map::new();
    fields.insert("direction".to_owned(), Value::from(direction.to_string()));
    for (name, value) in r {
        let name = name.as_str();
        if INFORMATIONAL.contains(&name) || name == "direction" {
            continue;
        }
        match name {
            "port_range_min" | "port_range_max" => match at.integer(r, name)? {
                None => {}
                Some(n) if (0..=65_535).contains(&n) => {
                    fields.insert(name.to_owned(), Value::from(n));
                }
                Some(n) => return Err(at.error(name, format!("`{n}` is not a port (0-65535)"))),
            },
            "ethertype" => match at.text(r, name)? {
                None => {}
                Some(t) if t.eq_ignore_ascii_case("ipv4") => {
                    fields.insert(name.to_owned(), Value::from("IPv4"));
                }
                Some(t) if t.eq_ignore_ascii_case("ipv6") => {
                    fields.insert(name.to_owned(), Value::from("IPv6"));
                }
                Some(t) => return Err(at.error(name, format!("`{t}` must be IPv4 or IPv6"))),
            },
            "protocol" => match at.text(r, name)? {
                // Trap 15: `any` in answers is every protocol, unset in the create body.
                Some(t) if t.eq_ignore_ascii_case("any") => {}
                Some(t) => {
                    fields.insert(name.to_owned(), Value::from(t.to_ascii_lowercase()));
                }
                None => {}
            },
            "remote_ip_prefix" | "remote_group_id" | "description" => {
                if let Some(t) = at.text(r, name)? {
                    fields.insert(name.to_owned(), Value::from(t));
                }
            }
            _ if value.is_null() => {}
            _ => {
                return Err(at.error(
                    name,
                    format!(
                        "`{}`: a rule field sgeval does not know; it cannot tell whether it changes the rule",
                        show(value)
                    ),
                ))
            }
        }
    }
    let rule = RuleRecord {
        id: at.text(r, "id")?,
        address: None,
        origin: at.origin(),
        direction,
        fields,
        default: false,
    };
    Ok((rule, at.text(r, "created_at")?))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::import::{read, Document, ImportError, Inventory, UnresolvedKind};
    use crate::Provider;

    fn docs(values: &[Value]) -> Vec<Document> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| Document::new(format!("g{i}.json"), v.clone()))
            .collect()
    }

    fn gcore(values: &[Value]) -> Result<Inventory, ImportError> {
        read(&docs(values), None, None)
    }

    fn group(rules: Value) -> Value {
        json!({"id": "g-1", "name": "web", "project_id": 1, "region_id": 76, "revision_number": 0, "security_group_rules": rules})
    }

    #[test]
    fn trap15_count_results_lists_and_protocol_any() {
        let list = json!({"count": 1, "results": [group(json!([
            {"id": "r-1", "security_group_id": "g-1", "direction": "egress", "ethertype": "IPv4", "protocol": "any",
             "port_range_min": null, "port_range_max": null, "remote_ip_prefix": null, "remote_group_id": null},
            {"id": "r-2", "security_group_id": "g-1", "direction": "ingress", "ethertype": "IPv6", "protocol": "TCP",
             "port_range_min": 22, "port_range_max": "22", "remote_ip_prefix": "::/0", "remote_group_id": null}]))]});
        let inv = gcore(&[list]).unwrap();
        assert_eq!(inv.provider, Provider::Gcore);
        let r = &inv.groups[0].rules;
        assert_eq!(
            Value::Object(r[0].fields.clone()),
            json!({"direction": "egress", "ethertype": "IPv4"})
        );
        assert_eq!(
            Value::Object(r[1].fields.clone()),
            json!({"direction": "ingress", "ethertype": "IPv6", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "::/0"})
        );
        assert_eq!(inv.groups[0].attributes["project_id"], json!(1));
    }

    #[test]
    fn trap16_groups_come_from_ports_joined_by_port_id() {
        let interfaces = json!({"count": 2, "results": [
            {"port_id": "p-1", "port_security_enabled": true, "ip_assignments": [{"ip_address": "10.0.0.12", "subnet_id": "s"}],
             "sub_ports": [{"port_id": "p-3", "ip_assignments": [{"ip_address": "10.0.9.1"}]}]},
            {"port_id": "p-2", "port_security_enabled": false, "ip_assignments": [{"ip_address": "10.0.0.13"}]}]});
        let ports = json!({"count": 2, "results": [
            {"id": "p-1", "name": "eth0", "security_groups": [{"id": "g-1", "name": "web"}]},
            {"id": "p-4", "name": "eth9", "security_groups": []}]});
        let inv = gcore(&[
            json!({"count": 1, "results": [group(json!([]))]}),
            interfaces,
            ports,
        ])
        .unwrap();
        let names: Vec<_> = inv.endpoints.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(
            names,
            ["p-1", "p-2"],
            "p-2 has port security off; p-3 has no groups listed"
        );
        assert_eq!(inv.endpoints[0].groups, ["g-1"]);
        assert!(!inv.endpoints[1].port_security);
        let open: Vec<_> = inv
            .unresolved
            .iter()
            .map(|u| (u.subject.as_str(), u.field.as_deref()))
            .collect();
        assert_eq!(
            open,
            [("p-3", Some("security_groups")), ("p-4", Some("ip_assignments"))]
        );
        assert!(inv
            .unresolved
            .iter()
            .all(|u| u.kind == UnresolvedKind::MissingObject));
    }

    #[test]
    fn an_instance_with_group_names_only_is_skipped() {
        let instance = json!({"id": "i-1", "region_id": 76, "flavor": {}, "security_groups": [{"name": "web"}], "addresses": {}});
        let inv = gcore(&[json!({"count": 1, "results": [group(json!([]))]}), instance]).unwrap();
        assert_eq!(inv.skipped.len(), 1);
        assert!(inv.skipped[0].reason.contains("by name"));
    }

    #[test]
    fn a_remote_group_not_described_is_unresolved() {
        let inv = gcore(&[group(
            json!([{"id": "r-1", "direction": "ingress", "remote_group_id": "g-9"}]),
        )])
        .unwrap();
        assert_eq!(inv.unresolved[0].field.as_deref(), Some("remote_group_id"));
        assert_eq!(inv.unresolved[0].subject, "r-1");
    }

    #[test]
    fn a_bad_port_names_the_field() {
        let err = gcore(&[group(
            json!([{"id": "r-1", "direction": "ingress", "port_range_min": 70000}]),
        )])
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "g0.json: security_group_rules[0].port_range_min: `70000` is not a port (0-65535)"
        );
    }
}
