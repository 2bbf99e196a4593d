//! `NativeLive`: a [`sgeval::live::Live`] handle. One thread applies calls and membership
//! changes while others evaluate; every method releases the GIL while it works, so Python
//! threads really run side by side, and each evaluation reads one consistent snapshot.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use pyo3::prelude::*;
use sgeval::live::{Live, LiveError as RustLiveError};
use sgeval::{EndpointKey, Request};

use crate::cloud::{answer_json, load_scenario, provider, NativeCloud, State};
use crate::engine::{batch_arrays, endpoint_key, run_batch, ColumnArgs, Columns, RuleTable};
use crate::errors::{self, error, field_error, plain, scenario_error};
use crate::packet;
use crate::query::{decision_json, flow_json};

/// A live cloud shared by threads.
#[pyclass(module = "sgeval._sgeval", name = "NativeLive", frozen)]
pub struct NativeLive {
    live: Arc<Live>,
    /// The rule numbering of the last snapshot a batch used, by version.
    rules: Mutex<Option<(u64, Arc<RuleTable>)>>,
}

fn live_error(e: RustLiveError) -> PyErr {
    let field = match &e {
        RustLiveError::UnknownEndpoint(_) => Some("name".to_owned()),
        RustLiveError::Limit(sgeval::limits::LimitError::TooMany { field, .. }) => Some(field.clone()),
        _ => None,
    };
    Python::attach(|py| error::<errors::LiveError>(py, e.to_string(), field, None))
}

fn addrs(ips: &[String]) -> PyResult<Vec<IpAddr>> {
    ips.iter()
        .enumerate()
        .map(|(i, a)| packet::addr(&format!("ips[{i}]"), a))
        .collect()
}

impl NativeLive {
    fn rule_table(&self, snapshot: &sgeval::live::Snapshot) -> Arc<RuleTable> {
        let mut cached = self
            .rules
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        match &*cached {
            Some((v, t)) if *v == snapshot.version() => Arc::clone(t),
            _ => {
                let t = Arc::new(RuleTable::of(snapshot.cloud()));
                *cached = Some((snapshot.version(), Arc::clone(&t)));
                t
            }
        }
    }
}

#[pymethods]
impl NativeLive {
    /// An empty live cloud of `provider`.
    #[new]
    #[pyo3(signature = (provider_name, options_json=None))]
    fn new(provider_name: &str, options_json: Option<&str>) -> PyResult<NativeLive> {
        let provider = provider(provider_name)?;
        let options = match options_json {
            Some(text) => serde_json::from_str(text)
                .map_err(|e| field_error::<errors::ScenarioError>("options", format!("`options`: {e}")))?,
            None => Default::default(),
        };
        Ok(NativeLive {
            live: Arc::new(Live::new(provider, options)),
            rules: Mutex::new(None),
        })
    }

    /// The state a scenario (JSON text) describes, as version 0.
    #[staticmethod]
    fn from_scenario_json(py: Python<'_>, text: &str) -> PyResult<NativeLive> {
        let scenario = load_scenario(py, text)?;
        let live = Live::from_scenario(&scenario).map_err(|e| scenario_error(py, &e))?;
        Ok(NativeLive {
            live: Arc::new(live),
            rules: Mutex::new(None),
        })
    }

    /// The current version.
    fn version(&self) -> u64 {
        self.live.version()
    }

    /// Applies one provider call and publishes the state: `(answer JSON, version)`.
    fn call(&self, py: Python<'_>, api: &str, request_json: &str) -> PyResult<(String, u64)> {
        let request: Request = serde_json::from_str(request_json)
            .map_err(|e| field_error::<errors::SgevalError>("request", format!("`request`: {e}")))?;
        let (response, version) = py.detach(|| self.live.call_versioned(api, &request));
        Ok((answer_json(&response), version))
    }

    /// Attaches an endpoint; the version published.
    fn attach(&self, py: Python<'_>, name: &str, ips: Vec<String>, groups: Vec<String>) -> PyResult<u64> {
        let ips = addrs(&ips)?;
        py.detach(|| self.live.attach(name, &ips, &groups))
            .map_err(live_error)
    }

    /// Replaces an endpoint's groups; the version published.
    fn set_groups(&self, py: Python<'_>, name: &str, groups: Vec<String>) -> PyResult<u64> {
        py.detach(|| self.live.set_groups(name, &groups))
            .map_err(live_error)
    }

    /// Removes an endpoint; the version published.
    fn detach(&self, py: Python<'_>, name: &str) -> PyResult<u64> {
        py.detach(|| self.live.detach(name)).map_err(live_error)
    }

    /// The current state as a cloud of its own, for the what-if queries.
    fn cloud(&self) -> NativeCloud {
        let snapshot = self.live.snapshot();
        NativeCloud::new(State {
            cloud: Arc::new(snapshot.cloud().clone()),
            refs: Default::default(),
            unresolved: Vec::new(),
            acknowledged: Vec::new(),
        })
    }

    /// A raw packet traced in the current state: `(flow JSON, version)`.
    #[pyo3(signature = (packet))]
    fn trace(&self, py: Python<'_>, packet: packet::RawArgs) -> PyResult<(String, u64)> {
        let p = packet.packet()?;
        Ok(py.detach(|| {
            let snapshot = self.live.snapshot();
            let f = snapshot.trace(&p);
            (
                flow_json(snapshot.cloud(), &p, &f, None).to_string(),
                snapshot.version(),
            )
        }))
    }

    /// One decision at an endpoint and direction in the current state: `(decision JSON,
    /// version)`.
    #[pyo3(signature = (endpoint, direction, packet))]
    fn evaluate(
        &self,
        py: Python<'_>,
        endpoint: &str,
        direction: &str,
        packet: packet::RawArgs,
    ) -> PyResult<(String, u64)> {
        let direction = packet::direction(direction)?;
        let p = packet.packet()?;
        let snapshot = self.live.snapshot();
        let key = endpoint_key(snapshot.cloud(), endpoint)?;
        let d = py.detach(|| snapshot.evaluate(key, direction, &p));
        Ok((
            decision_json(snapshot.cloud(), &d).to_string(),
            snapshot.version(),
        ))
    }

    /// A batch of Arrow arrays decided in one snapshot (GIL released): `(verdict, rule,
    /// reason, version, rule_ids)`, rule numbers indexing `rule_ids` of that snapshot.
    #[pyo3(signature = (endpoint, direction, columns))]
    fn evaluate_batch<'py>(
        &self,
        py: Python<'py>,
        endpoint: &str,
        direction: &str,
        columns: ColumnArgs<'py>,
    ) -> PyResult<(Bound<'py, pyo3::types::PyTuple>, u64, Vec<String>)> {
        let direction = packet::direction(direction)?;
        let columns = Columns::import(&columns)?;
        let snapshot = self.live.snapshot();
        let key: EndpointKey = endpoint_key(snapshot.cloud(), endpoint)?;
        let rules = self.rule_table(&snapshot);
        let out = py
            .detach(|| {
                // Every row in this one snapshot (its compiled engine, or the reference past
                // the compile limits).
                run_batch(&rules, &columns, |packets, decided| {
                    for (p, d) in packets.iter().zip(decided) {
                        *d = snapshot.evaluate(key, direction, p);
                    }
                })
            })
            .map_err(plain::<errors::PacketError>)?;
        Ok((batch_arrays(py, out)?, snapshot.version(), rules.ids.clone()))
    }
}
