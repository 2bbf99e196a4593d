//! Answers as JSON values (the Python layer turns them into dataclasses): flows and
//! decisions as `sgeval check --json` writes them, and what-if queries built as the CLI's
//! `reach` and `diff` build them.

use pyo3::prelude::*;
use serde_json::{json, Value};
use sgeval::flow::{self, Flow};
use sgeval::query::unresolved::{FlowDepends, Unknowns};
use sgeval::query::{Mode, Query, Restrict, Side};
use sgeval::{Cloud, Decision, EndpointKey, Packet, Reason};

use crate::errors::{field_error, QueryError};

/// The name of an endpoint (empty for a key the cloud does not have).
pub fn endpoint_name(cloud: &Cloud, key: EndpointKey) -> String {
    cloud.endpoint(key).map(|e| e.name.clone()).unwrap_or_default()
}

/// One decision: verdict, what decided (`decided_by` as the CLI labels it, `explanation`
/// in words, `reason` kind) and the deciding group and rule when there are.
pub fn decision_json(cloud: &Cloud, d: &Decision) -> Value {
    let mut out = json!({
        "verdict": d.verdict,
        "reason": match d.reason {
            Reason::Rule(_) => "rule",
            Reason::IntraGroup { .. } => "intra_group",
            Reason::Default { .. } => "default",
            Reason::Established => "established",
            Reason::MixedFamily => "mixed_family",
        },
        "decided_by": flow::label(cloud, d),
        "explanation": flow::describe(cloud, d),
    });
    let group = match d.reason {
        Reason::Rule(r) => {
            if let Some(rule) = cloud.rule(r) {
                out["rule_id"] = json!(rule.id);
                out["rule"] = (*rule.shown).clone();
            }
            Some(r.group)
        }
        Reason::IntraGroup { group } => Some(group),
        _ => None,
    };
    if let Some(g) = group.and_then(|g| cloud.group(g)) {
        out["group"] = json!({"id": g.id, "name": g.name});
    }
    out
}

/// A flow as `sgeval check --json` writes it, each hop with its decision; with an imported
/// scenario's unresolved items, what each hop may answer and what the flow depends on.
pub fn flow_json(cloud: &Cloud, packet: &Packet, flow: &Flow, unknowns: Option<&Unknowns>) -> Value {
    let hops: Vec<Value> = flow
        .hops
        .iter()
        .map(|h| {
            let mut hop = decision_json(cloud, &h.decision);
            hop["endpoint"] = json!(endpoint_name(cloud, h.endpoint));
            hop["direction"] = json!(h.direction);
            hop
        })
        .collect();
    let mut out = json!({"verdict": flow.verdict, "packet": packet, "hops": hops});
    let Some(u) = unknowns else { return out };
    FlowDepends::of(cloud, packet, flow, Some(u)).mark_json(u, &mut out);
    out
}

/// A query from `src` to `dst` as the CLI's `reach` and `diff` build it: sides as
/// `--from`/`--to` take them, protocols and port lists as `--proto`, `--dport`, `--sport`,
/// and a mode (`new`, `established`, `round_trip`).
pub fn build_query(
    src: &str,
    dst: &str,
    proto: Option<&str>,
    dport: Option<&str>,
    sport: Option<&str>,
    mode: &str,
) -> PyResult<Query> {
    let side = |field: &str, text: &str| -> PyResult<Side> {
        text.parse::<Side>()
            .map_err(|e| field_error::<QueryError>(field, format!("`{field}`: {e}")))
    };
    let mode = match mode {
        "new" => Mode::New,
        "established" => Mode::Established,
        "round_trip" | "round-trip" => Mode::RoundTrip,
        other => {
            return Err(field_error::<QueryError>(
                "mode",
                format!("`mode` = `{other}`: expected `new`, `established` or `round_trip`"),
            ))
        }
    };
    let mut restrict = Restrict::default();
    let bad = |field: &str, e: sgeval::query::QueryError| field_error::<QueryError>(field, e.to_string());
    if let Some(p) = proto {
        restrict.protocols = Some(Restrict::parse_protocols(p).map_err(|e| bad("proto", e))?);
    }
    if let Some(p) = dport {
        restrict.dst_ports = Some(Restrict::parse_ports("dport", p).map_err(|e| bad("dport", e))?);
    }
    if let Some(p) = sport {
        restrict.src_ports = Some(Restrict::parse_ports("sport", p).map_err(|e| bad("sport", e))?);
    }
    Ok(Query {
        from: side("src", src)?,
        to: side("dst", dst)?,
        mode,
        restrict,
    })
}
