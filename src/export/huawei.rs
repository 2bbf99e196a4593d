//! Huawei VPC v3 answers (import-formats.md 1.3; the shapes of
//! `tests/fixtures/import/huawei`): `ShowSecurityGroup` with its v3 rules inline (`null`
//! for unset protocol, ports and peers, trap 12), `ListAddressGroup` (`ip_set` entries as
//! given, ranges included, trap 13), `ListPorts` with each port's groups in association
//! order and `port_security_enabled` (trap 14).

use serde_json::{json, Value};

use super::{request_id, rule_view, view, Answer, ExportError};
use crate::group::GroupKind;
use crate::{Cloud, Provider};

const F: &str = "describe";

/// `ShowSecurityGroup` per group, `ListAddressGroup`, `ListPorts`.
pub(super) fn describe(cloud: &Cloud) -> Result<Vec<Answer>, ExportError> {
    let mut out = Vec::new();
    for (n, g) in cloud.groups().enumerate() {
        if g.kind != GroupKind::Huawei {
            return Err(ExportError::new(
                F,
                &g.id,
                "security_group",
                format!("a {:?} group in a Huawei cloud", g.kind),
            ));
        }
        let mut group = view(F, &g.id, &g.shown)?.clone();
        let rules = g
            .rules
            .iter()
            .map(|r| rule_view(F, Provider::Huawei, r).map(|v| Value::Object(v.clone())))
            .collect::<Result<Vec<_>, _>>()?;
        group.insert("security_group_rules".into(), Value::Array(rules));
        out.push(Answer {
            call: format!("ShowSecurityGroup {}", g.id),
            body: json!({"request_id": request_id(n, false), "security_group": group}),
        });
    }
    let address_groups = cloud
        .address_groups()
        .map(|a| view(F, &a.id, &a.shown).map(|v| Value::Object(v.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    if !address_groups.is_empty() {
        let count = address_groups.len();
        out.push(Answer {
            call: "ListAddressGroup".to_owned(),
            body: json!({
                "address_groups": address_groups,
                "page_info": {"current_count": count},
            }),
        });
    }
    let ports: Vec<Value> = cloud
        .endpoints()
        .iter()
        .map(|e| {
            let groups: Vec<Value> = e
                .groups
                .iter()
                .filter_map(|k| cloud.group(*k))
                .map(|g| Value::from(g.id.clone()))
                .collect();
            let ips: Vec<Value> = e
                .ips
                .iter()
                .map(|a| json!({"ip_address": a.to_string()}))
                .collect();
            json!({
                "id": e.name,
                "status": "ACTIVE",
                "port_security_enabled": true,
                "security_groups": groups,
                "private_ips": ips,
                "allowed_address_pairs": [],
            })
        })
        .collect();
    let count = ports.len();
    out.push(Answer {
        call: "ListPorts".to_owned(),
        body: json!({"ports": ports, "page_info": {"current_count": count}}),
    });
    Ok(out)
}
