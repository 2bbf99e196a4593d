//! `NativeCloud`: a [`sgeval::Cloud`] with what its scenario adds (the `$ref` names, an
//! import's unresolved items, acknowledged lint findings), and the questions asked of it.
//! Answers go to Python as JSON text.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::Arc;

use pyo3::prelude::*;
use serde_json::{json, Value};
use sgeval::flow::{self, PacketSpec};
use sgeval::import;
use sgeval::limits::{self, LoadError};
use sgeval::query::{self, explain, lint::Ack, unresolved::Item, unresolved::Unknowns};
use sgeval::{Cloud, Options, Provider, Request, Scenario};

use crate::errors::{self, error, field_error, plain, scenario_error};
use crate::packet;
use crate::query::{build_query, endpoint_name, flow_json};

/// A cloud and what its scenario says beside the calls.
#[pyclass(module = "sgeval._sgeval", name = "NativeCloud", frozen)]
pub struct NativeCloud {
    pub state: std::sync::RwLock<State>,
}

/// The cloud (shared with engines built from it: a change copies it) and its scenario's
/// extras.
#[derive(Clone)]
pub struct State {
    pub cloud: Arc<Cloud>,
    /// The id each scenario `ref` stands for.
    pub refs: BTreeMap<String, String>,
    /// An imported scenario's unresolved items.
    pub unresolved: Vec<Item>,
    /// The scenario's acknowledged lint findings, `$ref`s resolved.
    pub acknowledged: Vec<Ack>,
}

impl NativeCloud {
    pub fn new(state: State) -> NativeCloud {
        NativeCloud {
            state: std::sync::RwLock::new(state),
        }
    }

    /// A copy of the current state (the cloud itself is shared, not copied).
    pub fn snapshot(&self) -> State {
        self.state
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn unknowns(state: &State) -> Option<Unknowns> {
        (!state.unresolved.is_empty()).then(|| Unknowns::new(&state.cloud, &state.unresolved))
    }
}

/// A provider by name.
pub fn provider(name: &str) -> PyResult<Provider> {
    name.parse::<Provider>()
        .map_err(|e| field_error::<errors::ScenarioError>("provider", format!("`provider`: {e}")))
}

/// A scenario from JSON text, within the default input limits (as the CLI reads files).
pub fn load_scenario(py: Python<'_>, text: &str) -> PyResult<Scenario> {
    limits::load_scenario(text, None).map_err(|e| match e {
        LoadError::Scenario(s) => scenario_error(py, &s),
        LoadError::Limit(l) => error::<errors::ScenarioError>(py, l.to_string(), None, None),
    })
}

/// The state a scenario describes (every call must succeed and every endpoint attach).
pub fn state_of(py: Python<'_>, scenario: &Scenario) -> PyResult<State> {
    let replay = scenario.replay().map_err(|e| scenario_error(py, &e))?;
    let refs = replay.refs.clone();
    let mut acknowledged = Vec::with_capacity(scenario.acknowledged.len());
    for ack in &scenario.acknowledged {
        let mut ack = ack.clone();
        if let Some(name) = ack.subject.strip_prefix('$') {
            match refs.get(name) {
                Some(id) => ack.subject.clone_from(id),
                None => {
                    return Err(field_error::<errors::ScenarioError>(
                        "acknowledged",
                        format!(
                            "acknowledged `{}`: no call has ref `{name}` (or it created nothing)",
                            ack.subject
                        ),
                    ))
                }
            }
        }
        acknowledged.push(ack);
    }
    let cloud = replay.into_cloud().map_err(|e| scenario_error(py, &e))?;
    Ok(State {
        cloud: Arc::new(cloud),
        refs,
        unresolved: scenario.unresolved.clone(),
        acknowledged,
    })
}

fn to_json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn parse_json(field: &str, text: &str) -> PyResult<Value> {
    serde_json::from_str(text)
        .map_err(|e| field_error::<errors::SgevalError>(field, format!("`{field}`: {e}")))
}

#[pymethods]
impl NativeCloud {
    /// An empty cloud of `provider` with the semantic switches `options` (JSON).
    #[staticmethod]
    #[pyo3(signature = (provider_name, options_json=None))]
    fn empty(provider_name: &str, options_json: Option<&str>) -> PyResult<NativeCloud> {
        let provider = provider(provider_name)?;
        let options: Options = match options_json {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| field_error::<errors::ScenarioError>("options", format!("`options`: {e}")))?,
            None => Options::default(),
        };
        Ok(NativeCloud::new(State {
            cloud: Arc::new(Cloud::new(provider, options)),
            refs: BTreeMap::new(),
            unresolved: Vec::new(),
            acknowledged: Vec::new(),
        }))
    }

    /// The cloud a scenario (JSON text) describes.
    #[staticmethod]
    fn from_scenario_json(py: Python<'_>, text: &str) -> PyResult<NativeCloud> {
        let scenario = load_scenario(py, text)?;
        Ok(NativeCloud::new(state_of(py, &scenario)?))
    }

    /// The provider's name.
    fn provider(&self) -> &'static str {
        self.snapshot().cloud.provider().name()
    }

    /// One provider call (request as JSON: `params`, `body`, `path`); the answer as JSON
    /// ([`answer_json`]); with `check`, an error answer raises `ProviderError`. A request over the provider's input limits is refused
    /// as [`sgeval::live::Live`] refuses it, before the provider sees it.
    #[pyo3(signature = (api, request_json, check=false))]
    fn call(&self, py: Python<'_>, api: &str, request_json: &str, check: bool) -> PyResult<String> {
        let request: Request = serde_json::from_str(request_json)
            .map_err(|e| field_error::<errors::SgevalError>("request", format!("`request`: {e}")))?;
        let mut state = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let provider = state.cloud.provider();
        let response = match limits::check_request(&request, &limits::Limits::for_provider(provider)) {
            Err(e) => e.response(provider),
            Ok(()) => Arc::make_mut(&mut state.cloud).call(api, &request),
        };
        if check && !response.is_success() {
            return Err(errors::provider_error(py, api, &response));
        }
        Ok(answer_json(&response))
    }

    /// Attaches an endpoint; its index.
    fn attach(&self, name: &str, ips: Vec<String>, groups: Vec<String>) -> PyResult<usize> {
        let ips: Vec<IpAddr> = ips
            .iter()
            .enumerate()
            .map(|(i, a)| packet::addr(&format!("ips[{i}]"), a))
            .collect::<PyResult<_>>()?;
        let mut state = self
            .state
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let key = Arc::make_mut(&mut state.cloud)
            .attach(name, &ips, &groups)
            .map_err(plain::<errors::EndpointError>)?;
        Ok(state
            .cloud
            .endpoint_keys()
            .position(|k| k == key)
            .unwrap_or_default())
    }

    /// Every endpoint: name, addresses, group ids in association order.
    fn endpoints_json(&self) -> String {
        let state = self.snapshot();
        let cloud = &state.cloud;
        let list: Vec<Value> = cloud
            .endpoints()
            .iter()
            .map(|e| {
                let groups: Vec<&str> = e
                    .groups
                    .iter()
                    .filter_map(|&g| cloud.group(g).map(|g| g.id.as_str()))
                    .collect();
                json!({"name": e.name, "ips": e.ips, "groups": groups})
            })
            .collect();
        to_json(&list)
    }

    /// Every group with its rules, as the provider shows them.
    fn groups_json(&self) -> String {
        let state = self.snapshot();
        let list: Vec<Value> = state
            .cloud
            .groups()
            .map(|g| {
                let rules: Vec<Value> = g
                    .rules
                    .iter()
                    .map(|r| {
                        json!({"id": r.id, "direction": r.direction, "action": r.action, "priority": r.priority,
                               "enabled": r.enabled, "description": r.description, "text": r.to_string(), "shown": r.shown})
                    })
                    .collect();
                json!({"id": g.id, "name": g.name, "description": g.description, "kind": g.kind,
                       "rules": rules, "shown": g.shown})
            })
            .collect();
        to_json(&list)
    }

    /// The scenario `ref` names and the ids they stand for.
    fn refs(&self) -> BTreeMap<String, String> {
        self.snapshot().refs
    }

    /// One packet, as `sgeval check`: the flow with each hop's decision (JSON).
    #[pyo3(signature = (spec, engine))]
    fn check(&self, py: Python<'_>, spec: packet::SpecArgs, engine: &str) -> PyResult<String> {
        let spec = spec.spec()?;
        let state = self.snapshot();
        let packet = spec_packet(&state.cloud, &spec)?;
        trace(py, &state, &packet, engine)
    }

    /// A raw packet (every field as given) traced through the cloud (JSON flow).
    #[pyo3(signature = (packet, engine))]
    fn trace(&self, py: Python<'_>, packet: packet::RawArgs, engine: &str) -> PyResult<String> {
        let packet = packet.packet()?;
        trace(py, &self.snapshot(), &packet, engine)
    }

    /// Why each hop decided as it did: every other rule and the first field it failed
    /// (`sgeval check --why`), as JSON `[{"endpoint", "direction", "misses": [...]}]`.
    #[pyo3(signature = (spec))]
    fn why(&self, spec: packet::SpecArgs) -> PyResult<String> {
        let spec = spec.spec()?;
        let state = self.snapshot();
        let cloud = &state.cloud;
        let packet = spec_packet(cloud, &spec)?;
        let engine = sgeval::reference::Evaluator::new(cloud);
        let flow = flow::trace(cloud, &engine, &packet);
        let hops: Vec<Value> = flow
            .hops
            .iter()
            .map(|h| {
                json!({"endpoint": endpoint_name(cloud, h.endpoint), "direction": h.direction,
                       "misses": explain::why(cloud, h.endpoint, h.direction, &packet)})
            })
            .collect();
        Ok(to_json(&hops))
    }

    /// The smallest single-rule change that flips the flow's verdict (`sgeval check --fix`),
    /// as JSON, or `null` when none does.
    #[pyo3(signature = (spec))]
    fn fix(&self, spec: packet::SpecArgs) -> PyResult<String> {
        let spec = spec.spec()?;
        let state = self.snapshot();
        let cloud = &state.cloud;
        let packet = spec_packet(cloud, &spec)?;
        let out = match explain::fix_flow(cloud, &packet) {
            Some((endpoint, direction, f)) => {
                let mut v = f.to_json(cloud);
                v["scenario_call"] = f.call_json_with_refs(&state.refs);
                v["endpoint"] = json!(endpoint_name(cloud, endpoint));
                v["direction"] = json!(direction);
                v
            }
            None => Value::Null,
        };
        Ok(to_json(&out))
    }

    /// The exact reachability map from `src` to `dst` (`sgeval reach --json`), regions that
    /// may depend on an import's unresolved items marked.
    #[pyo3(signature = (src, dst, proto, dport, sport, mode))]
    #[allow(clippy::too_many_arguments)]
    fn reach(
        &self,
        py: Python<'_>,
        src: &str,
        dst: &str,
        proto: Option<&str>,
        dport: Option<&str>,
        sport: Option<&str>,
        mode: &str,
    ) -> PyResult<String> {
        let q = build_query(src, dst, proto, dport, sport, mode)?;
        let state = self.snapshot();
        let cloud = Arc::clone(&state.cloud);
        let unresolved = state.unresolved.clone();
        // The partition may take a while on large clouds: other Python threads run meanwhile.
        let out = py.detach(move || {
            query::reach(&cloud, &q).map(|map| {
                let unknowns = Unknowns::new(&cloud, &unresolved);
                to_json(&map.to_json_marked(&cloud, &unknowns))
            })
        });
        out.map_err(|e| query_error(e, src))
    }

    /// Lint findings (`sgeval lint --json`), acknowledgements from the scenario and
    /// `acks_json` (`[{"kind", "subject", "reason"}]`, subjects may be `$ref`s); acks that
    /// name no finding are listed under `stale`.
    fn lint(&self, py: Python<'_>, acks_json: &str) -> PyResult<String> {
        let state = self.snapshot();
        let extra = parse_json("acks", acks_json)?;
        let mut acks = state.acknowledged.clone();
        for (i, a) in extra.as_array().into_iter().flatten().enumerate() {
            let field = format!("acks[{i}]");
            let kind_text = a.get("kind").and_then(Value::as_str).unwrap_or_default();
            let kind = kind_text
                .parse()
                .map_err(|e: String| field_error::<errors::QueryError>(&format!("{field}.kind"), e))?;
            let mut subject = a
                .get("subject")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned();
            if subject.is_empty() {
                return Err(field_error::<errors::QueryError>(
                    &format!("{field}.subject"),
                    format!("`{field}.subject` is empty (a rule id, or a group id for group findings)"),
                ));
            }
            if let Some(name) = subject.strip_prefix('$') {
                subject = state.refs.get(name).cloned().ok_or_else(|| {
                    field_error::<errors::QueryError>(
                        &format!("{field}.subject"),
                        format!("`{field}.subject` = `{subject}`: no call has ref `{name}`"),
                    )
                })?;
            }
            let reason = a
                .get("reason")
                .and_then(Value::as_str)
                .unwrap_or("acknowledged from Python")
                .to_owned();
            acks.push(Ack {
                kind,
                subject,
                reason,
            });
        }
        let cloud = Arc::clone(&state.cloud);
        let unresolved = state.unresolved;
        Ok(py.detach(move || {
            let mut findings = query::lint(&cloud);
            let stale = query::lint::acknowledge(&cloud, &mut findings, &acks);
            let unknowns = Unknowns::new(&cloud, &unresolved);
            let mut v = query::lint::to_json(&cloud, &findings);
            for (f, finding) in v["findings"].as_array_mut().into_iter().flatten().zip(&findings) {
                let marks = unknowns.concerns(&cloud, finding);
                if !marks.is_empty() {
                    let items: Vec<&Item> = marks.iter().map(|&k| &unknowns.items()[k]).collect();
                    f["unresolved"] = json!(items);
                }
            }
            v["stale"] = stale
                .iter()
                .map(|a| json!({"kind": a.kind.to_string(), "subject": a.subject}))
                .collect();
            to_json(&v)
        }))
    }

    /// The addresses, ports, protocols and ICMP types where this cloud's decisions change
    /// (what the Rust packet strategy aims at), as JSON.
    fn edges(&self) -> String {
        let state = self.snapshot();
        crate::strategies::edges_json(&state.cloud)
    }

    fn __repr__(&self) -> String {
        let state = self.snapshot();
        format!(
            "Cloud(provider={:?}, groups={}, endpoints={})",
            state.cloud.provider().name(),
            state.cloud.groups().count(),
            state.cloud.endpoints().len()
        )
    }
}

/// A provider's answer as JSON: `status`, `body`, `created` (the id a create call made) and
/// `code` (the provider's error code of an error answer).
pub fn answer_json(response: &sgeval::Response) -> String {
    to_json(
        &json!({"status": response.status, "body": response.body, "created": response.created,
                    "code": sgeval::testkit::error_code(&response.body)}),
    )
}

/// The packet a spec describes in `cloud`, refused (as `sgeval check` refuses it) when
/// neither side is an endpoint.
pub fn spec_packet(cloud: &Cloud, spec: &PacketSpec) -> PyResult<sgeval::Packet> {
    let packet = spec.packet(cloud).map_err(|e| {
        let field = match &e {
            flow::SpecError::UnknownSide { field, .. } => Some(if *field == "from" { "src" } else { "dst" }),
            flow::SpecError::MissingPort(_) => Some("dport"),
            flow::SpecError::NotApplicable { field, .. } => Some(match *field {
                "dport" => "dport",
                "sport" => "sport",
                "icmp_type" => "icmp_type",
                _ => "icmp_code",
            }),
            flow::SpecError::ProtocolFamily { .. } => Some("proto"),
            flow::SpecError::NoCommonFamily { .. } => None,
        };
        Python::attach(|py| error::<errors::PacketError>(py, e.to_string(), field.map(str::to_owned), None))
    })?;
    if cloud.endpoint_by_addr(packet.src).is_none() && cloud.endpoint_by_addr(packet.dst).is_none() {
        return Err(plain::<errors::PacketError>(format!(
            "neither `{}` nor `{}` is an endpoint of the scenario, so no security group decides",
            spec.from, spec.to
        )));
    }
    Ok(packet)
}

fn trace(py: Python<'_>, state: &State, packet: &sgeval::Packet, engine: &str) -> PyResult<String> {
    let cloud = &state.cloud;
    let flow = match engine {
        "reference" => flow::trace(cloud, &sgeval::reference::Evaluator::new(cloud), packet),
        "compiled" => {
            let engine = sgeval::compile::Engine::build(cloud).map_err(plain::<errors::BuildError>)?;
            flow::trace(cloud, &engine, packet)
        }
        other => {
            return Err(error::<errors::SgevalError>(
                py,
                format!("`engine` = `{other}`: expected `compiled` or `reference`"),
                Some("engine".into()),
                None,
            ))
        }
    };
    let unknowns = NativeCloud::unknowns(state);
    Ok(to_json(&flow_json(cloud, packet, &flow, unknowns.as_ref())))
}

/// Imports provider documents (files, directories, JSON-lines bundles) as `sgeval import
/// --json` does: `{"scenario", "unresolved", "skipped", "notes"}` as JSON text.
#[pyfunction]
#[pyo3(signature = (paths, provider_name=None, format=None, accept_v1=false))]
pub fn import_paths(
    py: Python<'_>,
    paths: Vec<String>,
    provider_name: Option<&str>,
    format: Option<&str>,
    accept_v1: bool,
) -> PyResult<String> {
    let options = import::Options {
        provider: provider_name.map(provider).transpose()?,
        format: match format {
            None => None,
            Some("describe") => Some(import::Format::Describe),
            Some("terraform") => Some(import::Format::Terraform),
            Some(other) => {
                return Err(field_error::<errors::ImportDocumentError>(
                    "format",
                    format!("`format` = `{other}`: expected `describe` or `terraform`"),
                ))
            }
        },
        accept_v1,
    };
    py.detach(move || {
        let refs: Vec<&str> = paths.iter().map(String::as_str).collect();
        let inventory = import::read_paths(&refs, &options).map_err(|e| e.to_string())?;
        let imported = import::scenario::to_json(&inventory);
        Ok(to_json(&json!({
            "scenario": imported.value,
            "unresolved": imported.unresolved,
            "skipped": imported.skipped,
            "notes": imported.notes,
        })))
    })
    .map_err(|e: String| plain::<errors::ImportDocumentError>(e))
}

/// Every region whose verdict differs between two clouds (`sgeval diff --json`).
#[pyfunction]
#[pyo3(signature = (old, new, src, dst, proto, dport, sport, mode))]
#[allow(clippy::too_many_arguments)]
pub fn diff(
    py: Python<'_>,
    old: &NativeCloud,
    new: &NativeCloud,
    src: &str,
    dst: &str,
    proto: Option<&str>,
    dport: Option<&str>,
    sport: Option<&str>,
    mode: &str,
) -> PyResult<String> {
    let q = build_query(src, dst, proto, dport, sport, mode)?;
    let (a, b) = (old.snapshot().cloud, new.snapshot().cloud);
    py.detach(move || query::diff(&a, &b, &q).map(|d| to_json(&d.to_json(&a, &b))))
        .map_err(|e| query_error(e, src))
}

/// A query error as `QueryError`, naming the side (`src`, `dst`) or restriction it is about.
fn query_error(e: query::QueryError, src: &str) -> PyErr {
    let field = match &e {
        query::QueryError::UnknownSide(item) => {
            let in_src = src
                .split(',')
                .any(|i| i.trim().trim_start_matches('!').trim() == item.as_str());
            Some(if in_src { "src" } else { "dst" }.to_owned())
        }
        query::QueryError::BadRestriction { field, .. } => Some((*field).to_owned()),
        query::QueryError::EmptySide => None,
    };
    Python::attach(|py| error::<errors::QueryError>(py, e.to_string(), field, None))
}
