//! The shared corpus: loading cases and checking them against an engine.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;
use sgeval::flow::{self, PacketSpec};
use sgeval::scenario::Replay;
use sgeval::{Cloud, Family, Scenario};

/// One corpus case.
pub struct Case {
    pub file: String,
    pub name: String,
    pub source: String,
    pub scenario: Value,
    pub answers: Vec<Value>,
    pub error: Option<String>,
    pub checks: Vec<Check>,
}

/// One packet check of a case.
pub struct Check {
    pub spec: PacketSpec,
    pub verdict: String,
    pub hops: Option<Vec<String>>,
    /// When set, describing the packet must fail with a message containing this.
    pub spec_error: Option<String>,
    pub raw: Value,
}

pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Every case of every corpus file, sorted by file then order.
pub fn load_all() -> Vec<Case> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let mut cases = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let root: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let file = path.file_name().unwrap().to_string_lossy().into_owned();
        for c in root["cases"]
            .as_array()
            .unwrap_or_else(|| panic!("{file}: no `cases` array"))
        {
            cases.push(parse_case(&file, c));
        }
    }
    let mut names = std::collections::BTreeSet::new();
    for c in &cases {
        assert!(
            names.insert(c.name.clone()),
            "case name `{}` appears twice",
            c.name
        );
    }
    cases
}

fn parse_case(file: &str, c: &Value) -> Case {
    let name = c["name"]
        .as_str()
        .unwrap_or_else(|| panic!("{file}: a case without `name`"))
        .to_owned();
    let source = c["source"].as_str().unwrap_or_default().to_owned();
    assert!(
        !source.trim().is_empty(),
        "{file}: case `{name}` cites no `source`"
    );
    let checks = c["checks"]
        .as_array()
        .map(|a| a.iter().map(|k| parse_check(&name, k)).collect())
        .unwrap_or_default();
    Case {
        file: file.to_owned(),
        name: name.clone(),
        source,
        scenario: c["scenario"].clone(),
        answers: c["answers"].as_array().cloned().unwrap_or_default(),
        error: c["error"].as_str().map(str::to_owned),
        checks,
    }
}

fn parse_check(case: &str, k: &Value) -> Check {
    let text = |f: &str| k[f].as_str().map(str::to_owned);
    let num = |f: &str| k[f].as_u64();
    let proto = match &k["proto"] {
        Value::String(s) => {
            s.parse::<sgeval::Protocol>()
                .unwrap_or_else(|_| panic!("{case}: unknown proto `{s}`"))
                .0
        }
        Value::Number(n) => n.as_u64().unwrap() as u8,
        other => panic!("{case}: check without proto: {other}"),
    };
    let family = text("family").map(|f| match f.as_str() {
        "IPv4" => Family::V4,
        "IPv6" => Family::V6,
        other => panic!("{case}: family `{other}`"),
    });
    Check {
        spec: PacketSpec {
            from: text("from").unwrap_or_else(|| panic!("{case}: check without from")),
            to: text("to").unwrap_or_else(|| panic!("{case}: check without to")),
            protocol: proto,
            dport: num("dport").map(|v| v as u16),
            sport: num("sport").map(|v| v as u16),
            icmp_type: num("icmp_type").map(|v| v as u8),
            icmp_code: num("icmp_code").map(|v| v as u8),
            established: k["established"].as_bool().unwrap_or(false),
            family,
        },
        verdict: text("verdict")
            .or_else(|| text("spec_error").map(|_| String::new()))
            .unwrap_or_else(|| panic!("{case}: check without verdict")),
        spec_error: text("spec_error"),
        hops: k["hops"]
            .as_array()
            .map(|a| a.iter().map(|h| h.as_str().unwrap().to_owned()).collect()),
        raw: k.clone(),
    }
}

/// Replaces `$ref`s in an expected label with the ids the replay produced.
pub fn resolve_label(label: &str, refs: &BTreeMap<String, String>) -> String {
    let mut parts: Vec<String> = label.split(':').map(str::to_owned).collect();
    for p in parts.iter_mut() {
        if let Some(name) = p.strip_prefix('$') {
            if let Some(id) = refs.get(name) {
                *p = id.clone();
            }
        }
    }
    parts.join(":")
}

/// Whether `actual` contains `expected` (objects: listed keys; arrays: same length, element-wise).
pub fn json_contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|x| json_contains(x, v))),
        (Value::Array(a), Value::Array(e)) => {
            a.len() == e.len() && a.iter().zip(e).all(|(x, y)| json_contains(x, y))
        }
        _ => actual == expected,
    }
}

/// The provider error code in an error body of any provider's shape.
pub fn error_code(body: &Value) -> Option<String> {
    ["Code", "error_code", "code", "exception_class"]
        .iter()
        .find_map(|k| body.get(*k).and_then(|v| v.as_str()).map(str::to_owned))
}

/// Replays a case's scenario and checks its `answers` and `error`. Returns the replay when
/// the case has checks to run.
pub fn replay_case(case: &Case) -> Result<Option<(Replay, Cloud)>, String> {
    let scenario = match Scenario::from_value(&case.scenario) {
        Ok(s) => s,
        Err(e) => {
            return match &case.error {
                Some(want) if e.to_string().contains(want.as_str()) => Ok(None),
                Some(want) => Err(format!("error `{e}` does not contain `{want}`")),
                None => Err(format!("scenario rejected: {e}")),
            };
        }
    };
    let replay = match scenario.replay() {
        Ok(r) => r,
        Err(e) => {
            return match &case.error {
                Some(want) if e.to_string().contains(want.as_str()) => Ok(None),
                Some(want) => Err(format!("error `{e}` does not contain `{want}`")),
                None => Err(format!("replay failed: {e}")),
            };
        }
    };
    let listed: Vec<u64> = case.answers.iter().filter_map(|a| a["call"].as_u64()).collect();
    for (i, outcome) in replay.outcomes.iter().enumerate() {
        if !listed.contains(&(i as u64)) && !outcome.response.is_success() {
            return Err(format!(
                "call {i} ({}) answered {} {} but the case does not list it in `answers`",
                outcome.api, outcome.response.status, outcome.response.body
            ));
        }
    }
    for a in &case.answers {
        let i = a["call"].as_u64().ok_or("an answer without `call`")? as usize;
        let outcome = replay.outcomes.get(i).ok_or(format!("no call {i}"))?;
        if let Some(status) = a["status"].as_u64() {
            if outcome.response.status as u64 != status {
                return Err(format!(
                    "call {i} ({}): status {} (want {status}), body {}",
                    outcome.api, outcome.response.status, outcome.response.body
                ));
            }
        }
        if let Some(code) = a["code"].as_str() {
            let got = error_code(&outcome.response.body);
            if got.as_deref() != Some(code) {
                return Err(format!(
                    "call {i} ({}): code {got:?} (want {code}), body {}",
                    outcome.api, outcome.response.body
                ));
            }
        }
        if let Some(want) = a.get("contains") {
            let want = resolve_refs_in(want, &replay.refs);
            if !json_contains(&outcome.response.body, &want) {
                return Err(format!(
                    "call {i} ({}): body {} does not contain {want}",
                    outcome.api, outcome.response.body
                ));
            }
        }
    }
    let built = replay.clone().into_cloud();
    match (&case.error, built) {
        (Some(want), Err(e)) if e.to_string().contains(want.as_str()) => Ok(None),
        (Some(want), Err(e)) => Err(format!("error `{e}` does not contain `{want}`")),
        (Some(want), Ok(_)) => Err(format!(
            "expected an error containing `{want}`, the scenario built"
        )),
        // A case about error answers only: its failed calls are all listed in `answers`.
        (None, Err(_)) if case.checks.is_empty() => Ok(None),
        (None, Err(e)) => Err(format!("scenario does not build: {e}")),
        (None, Ok(cloud)) => Ok(Some((replay, cloud))),
    }
}

fn resolve_refs_in(v: &Value, refs: &BTreeMap<String, String>) -> Value {
    match v {
        Value::String(s) if s.starts_with('$') => refs
            .get(&s[1..])
            .map(|id| Value::String(id.clone()))
            .unwrap_or(v.clone()),
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve_refs_in(x, refs)).collect()),
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), resolve_refs_in(x, refs)))
                .collect(),
        ),
        _ => v.clone(),
    }
}

/// Checks one packet check against an engine's flow.
pub fn check_flow(
    cloud: &Cloud,
    refs: &BTreeMap<String, String>,
    check: &Check,
    flow: &flow::Flow,
) -> Result<(), String> {
    let got_hops: Vec<String> = flow
        .hops
        .iter()
        .map(|h| flow::label(cloud, &h.decision))
        .collect();
    if flow.verdict.to_string() != check.verdict {
        return Err(format!(
            "verdict {} (want {}), hops {got_hops:?}",
            flow.verdict, check.verdict
        ));
    }
    if let Some(want) = &check.hops {
        let want: Vec<String> = want.iter().map(|l| resolve_label(l, refs)).collect();
        if want != got_hops {
            return Err(format!("hops {got_hops:?} (want {want:?})"));
        }
    }
    Ok(())
}
