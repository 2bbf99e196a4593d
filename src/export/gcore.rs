//! Gcore Cloud answers (import-formats.md 1.4; the shapes of `tests/fixtures/import/gcore`):
//! the group list `{count, results}` with each group's rules inline (`null` for unset
//! protocol, ports and peers), and per endpoint its instance's `/interfaces`
//! (`port_id`, `ip_assignments`) and `/ports` (each port's groups as `{id, name}`, trap 16)
//! answers, joined by port id.

use serde_json::{json, Value};

use super::{rule_view, view, Answer, ExportError};
use crate::group::GroupKind;
use crate::{Cloud, Provider};

const F: &str = "describe";

/// The group list, then per endpoint its `/interfaces` and `/ports` answers.
pub(super) fn describe(cloud: &Cloud) -> Result<Vec<Answer>, ExportError> {
    let mut groups = Vec::new();
    for g in cloud.groups() {
        if g.kind != GroupKind::Gcore {
            return Err(ExportError::new(
                F,
                &g.id,
                "security_group",
                format!("a {:?} group in a Gcore cloud", g.kind),
            ));
        }
        let mut group = view(F, &g.id, &g.shown)?.clone();
        let rules = g
            .rules
            .iter()
            .map(|r| rule_view(F, Provider::Gcore, r).map(|v| Value::Object(v.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        group.insert("security_group_rules".into(), Value::Array(rules));
        groups.push(Value::Object(group));
    }
    let mut out = vec![Answer {
        call: "GET /cloud/v1/securitygroups".to_owned(),
        body: json!({"count": groups.len(), "results": groups}),
    }];
    for e in cloud.endpoints() {
        let ips: Vec<Value> = e
            .ips
            .iter()
            .map(|a| json!({"ip_address": a.to_string()}))
            .collect();
        out.push(Answer {
            call: format!("GET /cloud/v1/instances/.../interfaces ({})", e.name),
            body: json!({"count": 1, "results": [{
                "port_id": e.name,
                "port_security_enabled": true,
                "ip_assignments": ips,
                "floatingip_details": [],
                "sub_ports": [],
                "allowed_address_pairs": [],
            }]}),
        });
        let groups: Vec<Value> = e
            .groups
            .iter()
            .filter_map(|k| cloud.group(*k))
            .map(|g| json!({"id": g.id, "name": g.name}))
            .collect();
        out.push(Answer {
            call: format!("GET /cloud/v1/instances/.../ports ({})", e.name),
            body: json!({"count": 1, "results": [{"id": e.name, "security_groups": groups}]}),
        });
    }
    Ok(out)
}
