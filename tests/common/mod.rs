//! The corpus harness: the one loader of `tests/corpus/*.json`, the typed case format
//! (documented field by field in `tests/corpus/README.md`), the list of engines every case
//! runs through, and the checks of a case against an engine.
//!
//! Every test that reads the corpus (`tests/corpus.rs`, `tests/cli.rs`,
//! `tests/query_scenarios.rs`) loads it through [`load_all`]; a field the format does not
//! know is an error (`deny_unknown_fields`), so a misspelt expectation cannot pass unseen.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::de::{self, Deserializer};
use serde::Deserialize;
use serde_json::Value;
use sgeval::flow::{self, Evaluate, PacketSpec};
use sgeval::live::{Live, Snapshot};
use sgeval::scenario::Replay;
pub use sgeval::testkit::error_code;
use sgeval::testkit::InvalidRequests;
use sgeval::{
    reference, Cloud, Decision, Direction, EndpointKey, Family, Packet, Request, Scenario, Verdict,
};

/// One corpus file: `{"cases": [...]}`, or the invalid-request table
/// (`{"invalid_requests": {...}}`, `invalid_requests.json`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CorpusFile {
    #[serde(default)]
    cases: Vec<Case>,
    #[serde(default)]
    invalid_requests: Option<InvalidRequests>,
}

/// One corpus case: a scenario, the answers its calls must get, and packet checks.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// The file the case is in (set by the loader).
    #[serde(skip)]
    pub file: String,
    /// Unique over the whole corpus.
    pub name: String,
    /// Where the expected behaviour is documented: SEMANTICS.md decisions and source keys.
    pub source: String,
    /// A scenario as `Scenario::from_value` reads it.
    pub scenario: Value,
    /// Expected answers of calls; a call that fails must be listed here.
    #[serde(default)]
    pub answers: Vec<Answer>,
    /// When set, parsing, replaying or building the scenario fails with a message that
    /// contains this text.
    #[serde(default)]
    pub error: Option<String>,
    /// Packets and what every engine must decide for them.
    #[serde(default)]
    pub checks: Vec<Check>,
}

/// The expected answer of one call of a case's scenario.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Answer {
    /// The call's 0-based index in `scenario.calls`.
    pub call: usize,
    /// The HTTP status.
    pub status: u16,
    /// The provider error code (`Code`, `error_code`, `code` or `exception_class`).
    #[serde(default)]
    pub code: Option<String>,
    /// JSON the response body must contain (objects: the listed keys; arrays: same length,
    /// element-wise); `$ref` strings stand for the ids the replay produced.
    #[serde(default)]
    pub contains: Option<Value>,
}

/// One packet check of a case.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    /// Source: an endpoint name or an address.
    pub from: String,
    /// Destination: an endpoint name or an address.
    pub to: String,
    /// Protocol name (`tcp`, `icmpv6`, ...) or IANA number.
    #[serde(deserialize_with = "protocol")]
    pub proto: u8,
    /// Destination port.
    #[serde(default)]
    pub dport: Option<u16>,
    /// Source port.
    #[serde(default)]
    pub sport: Option<u16>,
    /// ICMP type.
    #[serde(default)]
    pub icmp_type: Option<u8>,
    /// ICMP code.
    #[serde(default)]
    pub icmp_code: Option<u8>,
    /// A packet of an established connection.
    #[serde(default)]
    pub established: bool,
    /// `IPv4` or `IPv6`, when both sides have both.
    #[serde(default)]
    pub family: Option<Family>,
    /// The flow's verdict (`allow`, `deny`); exactly one of `verdict` and `spec_error`.
    #[serde(default)]
    pub verdict: Option<Verdict>,
    /// What decided at each hop, as `flow::label` writes it (`rule:$g:0`, ...).
    #[serde(default)]
    pub hops: Option<Vec<String>>,
    /// Describing the packet must fail with a message containing this.
    #[serde(default)]
    pub spec_error: Option<String>,
}

fn protocol<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Proto {
        Number(u8),
        Name(String),
    }
    match Proto::deserialize(d)? {
        Proto::Number(n) => Ok(n),
        // As the CLI's `--proto` reads it: a name or a number written as text ("132").
        Proto::Name(s) => s
            .parse::<sgeval::Protocol>()
            .map(|p| p.0)
            .map_err(de::Error::custom),
    }
}

impl Check {
    /// The packet as the CLI and `flow::PacketSpec` describe it.
    pub fn spec(&self) -> PacketSpec {
        PacketSpec {
            from: self.from.clone(),
            to: self.to.clone(),
            protocol: self.proto,
            dport: self.dport,
            sport: self.sport,
            icmp_type: self.icmp_type,
            icmp_code: self.icmp_code,
            established: self.established,
            family: self.family,
        }
    }

    /// What the check expects is well formed: a verdict or a spec error, not both, and hops
    /// only with a verdict.
    fn validate(&self) -> Result<(), String> {
        match (&self.verdict, &self.spec_error, &self.hops) {
            (Some(_), None, _) | (None, Some(_), None) => Ok(()),
            (None, None, _) => Err("a check without `verdict` or `spec_error`".into()),
            (Some(_), Some(_), _) => Err("a check with both `verdict` and `spec_error`".into()),
            (None, Some(_), Some(_)) => Err("`hops` on a check that expects a `spec_error`".into()),
        }
    }
}

/// The corpus directory.
pub fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

/// Every corpus file, parsed, sorted by name.
fn load_files() -> Vec<(String, CorpusFile)> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir())
        .expect("tests/corpus exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let file = path.file_name().unwrap().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let parsed: CorpusFile = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{file}: {e}"));
            (file, parsed)
        })
        .collect()
}

/// Every case of every corpus file, sorted by file then order. Panics on a file that does
/// not follow the format, a case without a `source`, or a name used twice.
pub fn load_all() -> Vec<Case> {
    let mut cases = Vec::new();
    for (file, parsed) in load_files() {
        for mut case in parsed.cases {
            assert!(
                !case.source.trim().is_empty(),
                "{file}: case `{}` cites no `source`",
                case.name
            );
            for (i, check) in case.checks.iter().enumerate() {
                if let Err(e) = check.validate() {
                    panic!("{file}: case `{}` check {i}: {e}", case.name);
                }
            }
            case.file = file.clone();
            cases.push(case);
        }
    }
    let mut names = BTreeSet::new();
    for c in &cases {
        assert!(
            names.insert(c.name.clone()),
            "case name `{}` appears twice",
            c.name
        );
    }
    cases
}

/// The invalid-request table (`invalid_requests.json`): exactly one file holds it, and every
/// row cites a source.
pub fn invalid_requests() -> InvalidRequests {
    let mut tables: Vec<(String, InvalidRequests)> = load_files()
        .into_iter()
        .filter_map(|(file, parsed)| Some((file, parsed.invalid_requests?)))
        .collect();
    assert_eq!(tables.len(), 1, "files with `invalid_requests`: {tables:?}");
    let (file, table) = tables.remove(0);
    for (i, row) in table.rows.iter().enumerate() {
        assert!(!row.source.trim().is_empty(), "{file}: row {i} cites no `source`");
    }
    table
}

/// Replaces `$ref`s in an expected label with the ids the replay produced.
pub fn resolve_label(label: &str, refs: &BTreeMap<String, String>) -> String {
    resolve_parts(label, ':', refs)
}

/// Replaces every `sep`-separated part of `text` that is a `$ref` with its id.
fn resolve_parts(text: &str, sep: char, refs: &BTreeMap<String, String>) -> String {
    let mut parts: Vec<String> = text.split(sep).map(str::to_owned).collect();
    for p in parts.iter_mut() {
        if let Some(name) = p.strip_prefix('$') {
            if let Some(id) = refs.get(name) {
                *p = id.clone();
            }
        }
    }
    parts.join(&sep.to_string())
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

/// Whether `error` is the failure `want` announces: `Ok(true)` when the case expects it,
/// `Err` when the case expects another one or none (`what` says which step failed).
fn expected_error(case: &Case, error: &dyn std::fmt::Display, what: &str) -> Result<(), String> {
    match &case.error {
        Some(want) if error.to_string().contains(want.as_str()) => Ok(()),
        Some(want) => Err(format!("error `{error}` does not contain `{want}`")),
        None => Err(format!("{what}: {error}")),
    }
}

/// Replays a case's scenario and checks its `answers` and `error`. Returns the replay and
/// the cloud when the case has a cloud to check packets against.
pub fn replay_case(case: &Case) -> Result<Option<(Replay, Cloud)>, String> {
    let scenario = match Scenario::from_value(&case.scenario) {
        Ok(s) => s,
        Err(e) => return expected_error(case, &e, "scenario rejected").map(|()| None),
    };
    let replay = match scenario.replay() {
        Ok(r) => r,
        Err(e) => return expected_error(case, &e, "replay failed").map(|()| None),
    };
    let listed: Vec<usize> = case.answers.iter().map(|a| a.call).collect();
    for (i, outcome) in replay.outcomes.iter().enumerate() {
        if !listed.contains(&i) && !outcome.response.is_success() {
            return Err(format!(
                "call {i} ({}) answered {} {} but the case does not list it in `answers`",
                outcome.api, outcome.response.status, outcome.response.body
            ));
        }
    }
    for a in &case.answers {
        let i = a.call;
        let outcome = replay.outcomes.get(i).ok_or(format!("no call {i}"))?;
        if outcome.response.status != a.status {
            return Err(format!(
                "call {i} ({}): status {} (want {}), body {}",
                outcome.api, outcome.response.status, a.status, outcome.response.body
            ));
        }
        if let Some(code) = &a.code {
            let got = error_code(&outcome.response.body);
            if got != Some(code.as_str()) {
                return Err(format!(
                    "call {i} ({}): code {got:?} (want {code}), body {}",
                    outcome.api, outcome.response.body
                ));
            }
        }
        if let Some(want) = &a.contains {
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
        (Some(_), Err(e)) => expected_error(case, &e, "").map(|()| None),
        (Some(want), Ok(_)) => Err(format!(
            "expected an error containing `{want}`, the scenario built"
        )),
        // A case about error answers only: its failed calls are all listed in `answers`.
        (None, Err(_)) if case.checks.is_empty() => Ok(None),
        (None, Err(e)) => Err(format!("scenario does not build: {e}")),
        (None, Ok(cloud)) => Ok(Some((replay, cloud))),
    }
}

/// `v` with every string `$name` replaced by the id `name` stands for.
pub fn resolve_refs_in(v: &Value, refs: &BTreeMap<String, String>) -> Value {
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

// ---------------------------------------------------------------------------------------
// The engines

/// A live snapshot shared with its handle, as an engine.
struct SharedSnapshot(Arc<Snapshot>);

impl Evaluate for SharedSnapshot {
    fn evaluate(&self, endpoint: EndpointKey, direction: Direction, packet: &Packet) -> Decision {
        self.0.evaluate(endpoint, direction, packet)
    }

    /// The snapshot's own trace (its engine's, when compiled), as `Live::trace` answers.
    fn flow(&self, cloud: &sgeval::Cloud, packet: &Packet) -> flow::Flow {
        self.0.flow(cloud, packet)
    }
}

/// Engines by name, as [`engines`] gives them.
pub type Engines<'c> = Vec<(&'static str, Box<dyn Evaluate + 'c>)>;

/// The names of [`engines`], in order.
pub const ENGINES: [&str; 4] = ["reference", "compiled", "live", "live-replayed"];

/// Every implementation of `flow::Evaluate`, built for `replay`'s cloud (which `cloud` is):
///
/// - `reference`: `reference::Evaluator`, the oracle;
/// - `compiled`: `compile::Engine::build`;
/// - `live`: the snapshot of `live::Live::from_scenario`;
/// - `live-replayed`: the snapshot of a `live::Live` that got the scenario's calls one at a
///   time and then its endpoints (its compiled engine grown by `compile::Engine::refresh`).
///
/// # Errors
/// An engine that cannot be built, or a live handle whose state is not the replay's.
pub fn engines<'c>(scenario: &Scenario, replay: &Replay, cloud: &'c Cloud) -> Result<Engines<'c>, String> {
    let compiled = sgeval::compile::Engine::build(cloud).map_err(|e| format!("compile: {e}"))?;
    let live = Live::from_scenario(scenario).map_err(|e| format!("live: {e}"))?;
    let replayed = live_replayed(scenario, replay)?;
    let mut out: Engines<'c> = vec![
        ("reference", Box::new(reference::Evaluator::new(cloud))),
        ("compiled", Box::new(compiled)),
    ];
    for (name, handle) in [("live", live), ("live-replayed", replayed)] {
        let snapshot = handle.snapshot();
        same_state(name, snapshot.cloud(), cloud)?;
        if !snapshot.is_compiled() {
            return Err(format!(
                "{name}: the snapshot fell back to the reference evaluator"
            ));
        }
        out.push((name, Box::new(SharedSnapshot(snapshot))));
    }
    debug_assert_eq!(out.iter().map(|(n, _)| *n).collect::<Vec<_>>(), ENGINES);
    Ok(out)
}

/// A live handle that got the scenario's calls one by one (`$ref`s resolved from the
/// replay), then its endpoints.
fn live_replayed(scenario: &Scenario, replay: &Replay) -> Result<Live, String> {
    let live = Live::new(scenario.provider, scenario.options.clone());
    let resolve = |v: &Option<Value>| v.as_ref().map(|v| resolve_refs_in(v, &replay.refs));
    for (i, call) in scenario.calls.iter().enumerate() {
        let request = Request {
            params: resolve(&call.request.params),
            body: resolve(&call.request.body),
            path: call
                .request
                .path
                .as_ref()
                .map(|p| resolve_parts(p, '/', &replay.refs)),
        };
        let want = &replay.outcomes[i].response;
        // sgeval's own endpoint calls go to the handle's endpoint methods; the states are
        // compared after the replay.
        if sgeval::scenario::ENDPOINT_APIS.contains(&call.api.as_str()) {
            let body = request.body.clone().unwrap_or_default();
            let name = body["name"].as_str().unwrap_or_default().to_owned();
            let done = if call.api == "AttachEndpoint" {
                let list = |k: &str| -> Vec<String> {
                    body[k]
                        .as_array()
                        .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect())
                        .unwrap_or_default()
                };
                let ips: Vec<std::net::IpAddr> = list("ips").iter().filter_map(|s| s.parse().ok()).collect();
                live.attach(&name, &ips, &list("groups")).map(|_| ())
            } else {
                live.detach(&name).map(|_| ())
            };
            if done.is_ok() != want.is_success() {
                return Err(format!(
                    "live-replayed: call {i} ({}) gave {done:?}, the replay {} {}",
                    call.api, want.status, want.body
                ));
            }
            continue;
        }
        let got = live.call(&call.api, &request);
        if got != *want {
            return Err(format!(
                "live-replayed: call {i} ({}) answered {} {}, the replay {} {}",
                call.api, got.status, got.body, want.status, want.body
            ));
        }
    }
    for e in &scenario.endpoints {
        let groups: Vec<String> = e.groups.iter().map(|g| resolve_label(g, &replay.refs)).collect();
        live.attach(&e.name, &e.ips, &groups)
            .map_err(|err| format!("live-replayed: endpoint {}: {err}", e.name))?;
    }
    Ok(live)
}

/// Whether a live handle holds the same groups, address groups and endpoints as `cloud`.
fn same_state(name: &str, got: &Cloud, want: &Cloud) -> Result<(), String> {
    let groups = |c: &Cloud| c.groups().cloned().collect::<Vec<_>>();
    let address_groups = |c: &Cloud| c.address_groups().cloned().collect::<Vec<_>>();
    if groups(got) != groups(want)
        || address_groups(got) != address_groups(want)
        || got.endpoints() != want.endpoints()
    {
        return Err(format!("{name}: the handle's state differs from the replay's"));
    }
    Ok(())
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
    let want = check
        .verdict
        .ok_or("a check that expects a spec error has no flow")?;
    if flow.verdict != want {
        return Err(format!(
            "verdict {} (want {want}), hops {got_hops:?}",
            flow.verdict
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
