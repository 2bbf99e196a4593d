//! What the Hypothesis strategies (`sgeval/strategies.py`) draw from: the Rust strategies
//! (`sgeval::strategy`) run on a seed Hypothesis chooses, the invalid-request table with
//! the codes each provider answers, and a cloud's edges. The Python side never re-derives
//! what a provider accepts or refuses.

use std::collections::BTreeSet;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};
use pyo3::prelude::*;
use serde_json::{json, Value};
use sgeval::scenario::Scenario;
use sgeval::{strategy, Cloud, Protocol};

use crate::cloud::provider;
use crate::errors::{field_error, plain, SgevalError};

/// The value `strategy` draws with the random generator seeded by `seed`.
fn draw<S: Strategy>(strategy: S, seed: u64) -> PyResult<S::Value> {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&seed.to_le_bytes());
    let mut runner = TestRunner::new_with_rng(
        Config::default(),
        TestRng::from_seed(RngAlgorithm::ChaCha, &bytes),
    );
    strategy
        .new_tree(&mut runner)
        .map(|tree| tree.current())
        .map_err(|e| plain::<SgevalError>(format!("seed {seed}: the strategy drew nothing: {e}")))
}

/// A call as JSON: `{"api", "request": {"params" | "body", "path"}}`.
fn call_json(call: &strategy::ApiCall) -> Value {
    json!({"api": call.api, "request": call.request})
}

/// A scenario as the scenario file writes it.
pub fn scenario_json(s: &Scenario) -> Value {
    let calls: Vec<Value> = s
        .calls
        .iter()
        .map(|c| {
            let mut v = serde_json::to_value(&c.request).unwrap_or_else(|_| json!({}));
            v["api"] = json!(c.api);
            if let Some(r) = &c.reference {
                v["ref"] = json!(r);
            }
            if let Some(id) = &c.id {
                v["id"] = json!(id);
            }
            if let Some(ids) = &c.ids {
                v["ids"] = json!(ids);
            }
            if !c.defaults {
                v["defaults"] = json!(false);
            }
            v
        })
        .collect();
    let endpoints: Vec<Value> = s
        .endpoints
        .iter()
        .map(|e| json!({"name": e.name, "ips": e.ips, "groups": e.groups}))
        .collect();
    let mut out = json!({"provider": s.provider.name(), "calls": calls, "endpoints": endpoints});
    // Only the switches that differ from the defaults: a scenario may set only those that
    // apply to its provider.
    let (given, default) = (json!(s.options), json!(sgeval::Options::default()));
    if let (Some(given), Some(default)) = (given.as_object(), default.as_object()) {
        let changed: serde_json::Map<String, Value> = given
            .iter()
            .filter(|(k, v)| default.get(k.as_str()) != Some(v))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        if !changed.is_empty() {
            out["options"] = Value::Object(changed);
        }
    }
    out
}

/// One draw of a Rust strategy of `provider` on `seed`, as JSON: `create_group` (`enterprise`
/// fixes the ECS group type), `rule_call` and `limit_call` (for `group`), `scenario`.
#[pyfunction]
#[pyo3(signature = (kind, provider_name, seed, group=None, enterprise=None))]
pub fn sample(
    py: Python<'_>,
    kind: &str,
    provider_name: &str,
    seed: u64,
    group: Option<String>,
    enterprise: Option<bool>,
) -> PyResult<String> {
    let p = provider(provider_name)?;
    let group_of = |group: Option<String>| {
        group.ok_or_else(|| {
            field_error::<SgevalError>("group", format!("`{kind}` needs `group`: an existing group id"))
        })
    };
    let out = match kind {
        "create_group" => {
            let call = match enterprise {
                Some(e) => draw(strategy::create_group_of(p, e), seed)?,
                None => draw(strategy::create_group(p), seed)?,
            };
            call_json(&call)
        }
        "rule_call" => call_json(&draw(strategy::rule_call(p, group_of(group)?), seed)?),
        "limit_call" => {
            let (call, n) = draw(strategy::limit_call(p, group_of(group)?), seed)?;
            let mut v = call_json(&call);
            v["rules"] = json!(n);
            v
        }
        "scenario" => {
            let s = py.detach(|| draw(strategy::scenario(p), seed))?;
            let v = scenario_json(&s);
            // The JSON must read back as the very scenario drawn.
            match Scenario::from_value(&v) {
                Ok(back) if back == s => v,
                Ok(_) => {
                    return Err(plain::<SgevalError>(
                        "a drawn scenario does not read back as itself",
                    ))
                }
                Err(e) => {
                    return Err(plain::<SgevalError>(format!(
                        "a drawn scenario does not read back: {e}"
                    )))
                }
            }
        }
        other => {
            return Err(field_error::<SgevalError>(
                "kind",
                format!("`kind` = `{other}`: expected create_group, rule_call, limit_call or scenario"),
            ))
        }
    };
    Ok(out.to_string())
}

/// The rows of the invalid-request table for `provider` against group `group` (`"$group"`
/// replaced), each `{"api", "request", "status", "code", "mutation", "source"}`, and the
/// setup request that creates such a group: `{"setup": {"api", "request"}, "rows": [...]}`.
#[pyfunction]
pub fn invalid_calls(provider_name: &str, group: &str) -> PyResult<String> {
    let p = provider(provider_name)?;
    let table = sgeval::testkit::invalid_requests();
    let rows: Vec<Value> = table
        .rows
        .iter()
        .filter(|r| r.provider == p)
        .map(|r| {
            json!({"api": r.api, "request": r.request_for(group), "status": r.status, "code": r.code,
                   "mutation": r.mutation, "source": r.source})
        })
        .collect();
    let setup = table
        .setup
        .get(&p)
        .map(|r| json!({"api": "CreateSecurityGroup", "request": r}));
    Ok(json!({"setup": setup, "rows": rows}).to_string())
}

/// The places where `cloud`'s decisions change, as `sgeval::strategy::packet` aims at them:
/// addresses per family, ports, protocols (the usual ones and every rule's) and ICMP
/// types (the usual ones and every rule's).
pub fn edges_json(cloud: &Cloud) -> String {
    let addrs = sgeval::testkit::edge_addresses(cloud);
    let v4: Vec<String> = addrs
        .iter()
        .filter(|a| a.is_ipv4())
        .map(ToString::to_string)
        .collect();
    let v6: Vec<String> = addrs
        .iter()
        .filter(|a| a.is_ipv6())
        .map(ToString::to_string)
        .collect();
    let mut protocols: BTreeSet<u8> = [6u8, 17, 1, 58, 47, 132].into_iter().collect();
    let mut icmp_types: BTreeSet<u8> = [0u8, 3, 8, 128, 129].into_iter().collect();
    for g in cloud.groups() {
        for r in &g.rules {
            protocols.extend(r.protocol);
            icmp_types.extend(r.icmp.icmp_type);
        }
    }
    // Which of them carry ports and which are ICMP, from the one protocol table.
    let with_ports: Vec<u8> = protocols
        .iter()
        .copied()
        .filter(|&p| Protocol(p).has_ports())
        .collect();
    let icmp: Vec<u8> = protocols
        .iter()
        .copied()
        .filter(|&p| Protocol(p).is_icmp())
        .collect();
    json!({"v4": v4, "v6": v6, "ports": sgeval::testkit::edge_ports(cloud),
           "protocols": protocols, "icmp_types": icmp_types, "with_ports": with_ports, "icmp": icmp})
    .to_string()
}
