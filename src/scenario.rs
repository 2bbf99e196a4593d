//! The scenario file: a provider, its calls in order, and the endpoints that join groups.
//!
//! ```json
//! {"provider": "huawei",
//!  "calls": [{"api": "CreateSecurityGroup", "ref": "web", "body": {"security_group": {"name": "web"}}}],
//!  "endpoints": [{"name": "vm-a", "ips": ["192.168.0.10"], "groups": ["$web"]}]}
//! ```
//!
//! `"$web"` anywhere in a later string stands for the id that the call with `ref: "web"`
//! created; `$$` is a literal `$` ([`substitute_refs`] applies this to any string).
//!
//! Besides the provider's APIs, `calls` may hold sgeval's own [`ENDPOINT_APIS`]:
//! `{"api": "AttachEndpoint", "body": {"name", "ips", "groups"}}` and
//! `{"api": "DetachEndpoint", "body": {"name"}}` create and remove an endpoint at that point
//! of the stream, so the provider's membership calls (`JoinSecurityGroup`, ...) can name it.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

use crate::cloud::{Cloud, EndpointError, Request, Response};
use crate::json_text::describe;
use crate::provider::{Options, Provider};

/// Why a scenario could not be read or replayed. Each names where (call index, field) and
/// the offending value.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    /// The text is not JSON.
    #[error("scenario is not valid JSON: {0}")]
    Json(String),
    /// A field is missing or has the wrong type or value.
    #[error("`{field}`: {message}")]
    Field {
        /// Path of the field, e.g. `calls[2].api`.
        field: String,
        /// What is wrong, with the value.
        message: String,
    },
    /// An `api` the provider front end does not answer.
    #[error("call {index}: `api` `{api}` is not a {provider} API (known: {known})")]
    UnknownApi {
        /// Call index (0-based).
        index: usize,
        /// The api as given.
        api: String,
        /// The provider.
        provider: Provider,
        /// The APIs it answers.
        known: String,
    },
    /// A `$ref` that names no earlier call's result.
    #[error("call {index}: `{field}` = `{value}`: {reason}")]
    UnknownRef {
        /// Call index, or the endpoint index for endpoints.
        index: usize,
        /// Path of the field.
        field: String,
        /// The string that holds the reference.
        value: String,
        /// Why it does not resolve.
        reason: String,
    },
    /// An endpoint the cloud refuses.
    #[error("`endpoints[{index}]`: {error}")]
    Endpoint {
        /// Endpoint index.
        index: usize,
        /// Why.
        error: EndpointError,
    },
    /// Calls answered with errors, so the cloud is not the one the scenario describes.
    #[error("{} call(s) failed, so the scenario does not describe a valid state: {}", .0.len(), .0.iter().map(|f| f.to_string()).collect::<Vec<_>>().join("; "))]
    FailedCalls(Vec<FailedCall>),
}

/// A call that the provider answered with an error, or that was not sent because a `$ref`
/// it uses names a call that failed.
#[derive(Clone, Debug, PartialEq)]
pub struct FailedCall {
    /// Call index (0-based).
    pub index: usize,
    /// The api.
    pub api: String,
    /// The provider's answer (for a call not sent: see [`Outcome::not_sent`]).
    pub response: Response,
    /// Why the call was not sent, when it was not.
    pub not_sent: Option<String>,
}

impl std::fmt::Display for FailedCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.not_sent {
            Some(why) => write!(f, "call {} ({}) not sent: {why}", self.index, self.api),
            None => write!(
                f,
                "call {} ({}) answered {} {}",
                self.index,
                self.api,
                self.response.status,
                crate::provider::error_summary(&self.response.body)
            ),
        }
    }
}

/// One call of a scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// API name as the provider spells it (`CreateSecurityGroup`, ...).
    pub api: String,
    /// Name under which later strings refer to the id this call creates.
    pub reference: Option<String>,
    /// The request (`params`, `body`, `path`).
    pub request: Request,
    /// The id the cloud really gave the group (or address group) this call creates: an
    /// imported scenario names `sg-...` and UUIDs as the user's cloud has them, not the
    /// ids sgeval would generate. `$ref`s to the call stand for this id.
    pub id: Option<String>,
    /// The ids the cloud gave the rules this call creates, in creation order, one per rule.
    pub ids: Option<Vec<String>>,
    /// `false`: the group this call creates starts with none of the rules the provider's
    /// create call adds by itself (Huawei's default rules): an imported group lists the
    /// rules it really has. Only for a create call that names no rules of its own.
    pub defaults: bool,
}

/// An endpoint of a scenario: a NIC with addresses and groups in association order.
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointSpec {
    /// Unique name.
    pub name: String,
    /// Addresses.
    pub ips: Vec<IpAddr>,
    /// Group ids or `$ref`s, in association order.
    pub groups: Vec<String>,
}

/// A parsed scenario.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The provider.
    pub provider: Provider,
    /// Semantic switches (`options` in the file).
    pub options: Options,
    /// Calls in order.
    pub calls: Vec<Call>,
    /// Endpoints, attached after the calls.
    pub endpoints: Vec<EndpointSpec>,
    /// Lint findings the user accepts (`acknowledged` in the file: `[{"kind": "widened",
    /// "rule": "sgr-..." or "$ref", "reason": "public web tier"}]`; `group` instead of
    /// `rule` for group findings). `$ref`s are the scenario's own.
    pub acknowledged: Vec<crate::query::lint::Ack>,
    /// What the documents an imported scenario came from did not settle (`unresolved` in the
    /// file): replay ignores them; answers that depend on them say so
    /// ([`crate::query::unresolved`]).
    pub unresolved: Vec<crate::query::unresolved::Item>,
}

/// A call and the provider's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The api.
    pub api: String,
    /// The answer. For a call that was not sent, sgeval's own: status 424 ("failed
    /// dependency") and `{"not_sent": reason}`, never a provider's.
    pub response: Response,
    /// Why the call was not sent: a `$ref` in it names an earlier call that failed (or
    /// created nothing), so the id it stands for does not exist.
    pub not_sent: Option<String>,
}

/// What a `$ref` name stands for while the calls replay.
#[derive(Clone, Debug)]
enum Target {
    /// The id the call created (or was pinned to).
    Id(String),
    /// The call (index, api) failed or created nothing.
    Missing(usize, String),
}

/// Why a string could not be substituted.
enum Unresolved {
    /// The scenario is malformed (unknown name, a later call, a lone `$`).
    Error(ScenarioError),
    /// The name is an earlier call that failed: the dependent call is not sent.
    Failed {
        /// Path of the field that holds the reference.
        field: String,
        /// The string that holds it.
        value: String,
        /// Which call failed.
        reason: String,
    },
}

impl From<ScenarioError> for Unresolved {
    fn from(e: ScenarioError) -> Unresolved {
        Unresolved::Error(e)
    }
}

/// The result of replaying a scenario: the cloud and every call's answer.
#[derive(Clone, Debug)]
pub struct Replay {
    /// The cloud after every call (failed calls changed nothing).
    pub cloud: Cloud,
    /// Each call's answer, in order.
    pub outcomes: Vec<Outcome>,
    /// Why endpoints could not be attached, if they could not (then none are).
    pub endpoint_error: Option<ScenarioError>,
    /// The id each `ref` name stands for (calls that failed or created nothing are absent).
    pub refs: BTreeMap<String, String>,
}

impl Replay {
    /// The calls that failed.
    pub fn failures(&self) -> Vec<FailedCall> {
        self.outcomes
            .iter()
            .enumerate()
            .filter(|(_, o)| !o.response.is_success())
            .map(|(index, o)| FailedCall {
                index,
                api: o.api.clone(),
                response: o.response.clone(),
                not_sent: o.not_sent.clone(),
            })
            .collect()
    }

    /// The cloud, when every call succeeded and every endpoint attached.
    ///
    /// # Errors
    /// [`ScenarioError::FailedCalls`] naming each failed call, or the endpoint error.
    pub fn into_cloud(self) -> Result<Cloud, ScenarioError> {
        let failures = self.failures();
        if !failures.is_empty() {
            return Err(ScenarioError::FailedCalls(failures));
        }
        if let Some(e) = self.endpoint_error {
            return Err(e);
        }
        Ok(self.cloud)
    }
}

fn field_err(field: impl Into<String>, message: impl Into<String>) -> ScenarioError {
    ScenarioError::Field {
        field: field.into(),
        message: message.into(),
    }
}

fn string_field(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Option<String>, ScenarioError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(field_err(
            format!("{path}.{key}"),
            format!("expected a string, found {}", describe(other)),
        )),
    }
}

impl Scenario {
    /// Parses a scenario from JSON text.
    ///
    /// # Errors
    /// Malformed JSON, a missing or mistyped field, an unknown provider or api.
    pub fn from_json(text: &str) -> Result<Scenario, ScenarioError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ScenarioError::Json(e.to_string()))?;
        Scenario::from_owned_value(value)
    }

    /// Parses a scenario from a JSON value (a copy of it: [`Scenario::from_owned_value`]
    /// moves the requests out instead).
    ///
    /// # Errors
    /// As [`Scenario::from_json`].
    pub fn from_value(value: &Value) -> Result<Scenario, ScenarioError> {
        Scenario::from_owned_value(value.clone())
    }

    /// Parses a scenario from a JSON value it takes: each call's request is moved out of
    /// it, not copied, so an account-sized scenario is not held twice.
    ///
    /// # Errors
    /// As [`Scenario::from_json`].
    pub fn from_owned_value(value: Value) -> Result<Scenario, ScenarioError> {
        let mut root = match value {
            Value::Object(root) => root,
            other => {
                return Err(field_err(
                    "(root)",
                    format!("expected an object, found {}", describe(&other)),
                ))
            }
        };
        for key in root.keys() {
            if ![
                "provider",
                "options",
                "calls",
                "endpoints",
                "acknowledged",
                "unresolved",
                "description",
                "name",
            ]
            .contains(&key.as_str())
            {
                return Err(field_err(
                    key.clone(),
                    "unknown field (expected provider, options, calls, endpoints, acknowledged, unresolved, description)",
                ));
            }
        }
        let provider_text = string_field(&root, "provider", "(root)")?
            .ok_or_else(|| field_err("provider", "missing (ecs, ens, huawei or gcore)"))?;
        let provider: Provider = provider_text
            .parse()
            .map_err(|e: String| field_err("provider", e))?;
        let options = match root.get("options") {
            None | Some(Value::Null) => Options::default(),
            Some(v) if !v.is_object() => {
                return Err(field_err(
                    "options",
                    format!("expected an object, found {}", describe(v)),
                ))
            }
            Some(v) => {
                // A switch of another provider's semantics would be ignored: refuse it.
                for key in v.as_object().into_iter().flat_map(|m| m.keys()) {
                    if let Some(&(_, owner)) = OPTION_PROVIDERS.iter().find(|(k, _)| k == key) {
                        if owner != provider {
                            return Err(field_err(
                                format!("options.{key}"),
                                format!("applies to {owner} scenarios, not to this {provider} one"),
                            ));
                        }
                    }
                }
                serde_json::from_value(v.clone()).map_err(|e| field_err("options", e.to_string()))?
            }
        };
        let calls_value = root.remove("calls").unwrap_or(Value::Array(vec![]));
        let Value::Array(call_values) = calls_value else {
            return Err(field_err(
                "calls",
                format!("expected an array, found {}", describe(&calls_value)),
            ));
        };
        let mut calls = Vec::with_capacity(call_values.len());
        let mut refs: BTreeMap<String, usize> = BTreeMap::new();
        for (index, v) in call_values.into_iter().enumerate() {
            let path = format!("calls[{index}]");
            let mut obj = match v {
                Value::Object(obj) => obj,
                other => {
                    return Err(field_err(
                        &path,
                        format!("expected an object, found {}", describe(&other)),
                    ))
                }
            };
            for key in obj.keys() {
                if ![
                    "api",
                    "ref",
                    "params",
                    "body",
                    "path",
                    "id",
                    "ids",
                    "defaults",
                    "comment",
                    "description",
                ]
                .contains(&key.as_str())
                {
                    return Err(field_err(
                        format!("{path}.{key}"),
                        "unknown field (expected api, ref, params, body, path, id, ids, defaults)",
                    ));
                }
            }
            let api = string_field(&obj, "api", &path)?
                .ok_or_else(|| field_err(format!("{path}.api"), "missing"))?;
            if !provider.apis().contains(&api.as_str()) && !ENDPOINT_APIS.contains(&api.as_str()) {
                return Err(ScenarioError::UnknownApi {
                    index,
                    api,
                    provider,
                    known: provider.apis().join(", "),
                });
            }
            let reference = string_field(&obj, "ref", &path)?;
            if let Some(r) = &reference {
                if r.is_empty()
                    || !r
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
                {
                    return Err(field_err(
                        format!("{path}.ref"),
                        format!("`{r}` is not a name (letters, digits, `_`, `-`)"),
                    ));
                }
                if let Some(first) = refs.insert(r.clone(), index) {
                    return Err(field_err(
                        format!("{path}.ref"),
                        format!("`{r}` is already the ref of call {first}"),
                    ));
                }
            }
            let params = obj.remove("params");
            if let Some(p) = &params {
                if !p.is_object() {
                    return Err(field_err(
                        format!("{path}.params"),
                        format!("expected an object, found {}", describe(p)),
                    ));
                }
            }
            let body = obj.remove("body");
            if let Some(b) = &body {
                if !b.is_object() {
                    return Err(field_err(
                        format!("{path}.body"),
                        format!("expected an object, found {}", describe(b)),
                    ));
                }
            }
            let req_path = string_field(&obj, "path", &path)?;
            let id = string_field(&obj, "id", &path)?;
            let ids = match obj.get("ids") {
                None | Some(Value::Null) => None,
                Some(_) => Some(string_list(&obj, "ids", &path)?),
            };
            let defaults = match obj.get("defaults") {
                None | Some(Value::Null) => true,
                Some(Value::Bool(b)) => *b,
                Some(other) => {
                    return Err(field_err(
                        format!("{path}.defaults"),
                        format!("expected a boolean, found {}", describe(other)),
                    ))
                }
            };
            if ENDPOINT_APIS.contains(&api.as_str()) {
                if params.is_some() || req_path.is_some() || id.is_some() || ids.is_some() || !defaults {
                    return Err(field_err(
                        &path,
                        format!("`{api}` is sgeval's own call: it takes `body` (and `ref`) only"),
                    ));
                }
                if !body.as_ref().is_some_and(Value::is_object) {
                    return Err(field_err(
                        format!("{path}.body"),
                        format!("`{api}` needs a `body` object"),
                    ));
                }
            }
            calls.push(Call {
                api,
                reference,
                request: Request {
                    params,
                    body,
                    path: req_path,
                },
                id,
                ids,
                defaults,
            });
        }
        let endpoint_values = match root.remove("endpoints") {
            None | Some(Value::Null) => vec![],
            Some(Value::Array(a)) => a,
            Some(other) => {
                return Err(field_err(
                    "endpoints",
                    format!("expected an array, found {}", describe(&other)),
                ))
            }
        };
        let mut endpoints = Vec::with_capacity(endpoint_values.len());
        for (index, v) in endpoint_values.iter().enumerate() {
            let path = format!("endpoints[{index}]");
            let obj = v
                .as_object()
                .ok_or_else(|| field_err(&path, format!("expected an object, found {}", describe(v))))?;
            for key in obj.keys() {
                if !["name", "ips", "groups", "description"].contains(&key.as_str()) {
                    return Err(field_err(
                        format!("{path}.{key}"),
                        "unknown field (expected name, ips, groups)",
                    ));
                }
            }
            let name = string_field(obj, "name", &path)?
                .ok_or_else(|| field_err(format!("{path}.name"), "missing"))?;
            let ips = string_list(obj, "ips", &path)?
                .into_iter()
                .enumerate()
                .map(|(i, s)| {
                    s.parse::<IpAddr>().map_err(|_| {
                        field_err(
                            format!("{path}.ips[{i}]"),
                            format!("`{s}` is not an IP address (no prefix length, no zone)"),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            let groups = string_list(obj, "groups", &path)?;
            endpoints.push(EndpointSpec { name, ips, groups });
        }
        let acknowledged = acknowledgements(root.get("acknowledged"))?;
        let unresolved = match root.remove("unresolved") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    serde_json::from_value(v)
                        .map_err(|e| field_err(format!("unresolved[{i}]"), e.to_string()))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(field_err(
                    "unresolved",
                    format!("expected an array, found {}", describe(&other)),
                ))
            }
        };
        Ok(Scenario {
            provider,
            options,
            calls,
            endpoints,
            acknowledged,
            unresolved,
        })
    }

    /// Replays the calls in order, then attaches the endpoints.
    ///
    /// A call the provider refuses is recorded with its error answer and changes nothing;
    /// see [`Replay::into_cloud`] for a cloud only when everything succeeded.
    ///
    /// # Errors
    /// A `$ref` that resolves to nothing (unknown name, later call, or a call that failed).
    pub fn replay(&self) -> Result<Replay, ScenarioError> {
        let mut cloud = Cloud::new(self.provider, self.options.clone());
        let mut ids: BTreeMap<String, Target> = BTreeMap::new();
        let mut outcomes: Vec<Outcome> = Vec::with_capacity(self.calls.len());
        for (index, call) in self.calls.iter().enumerate() {
            let substituted = (|| -> Result<Request, Unresolved> {
                Ok(Request {
                    params: call
                        .request
                        .params
                        .as_ref()
                        .map(|p| substitute_value(p, &ids, index, "params"))
                        .transpose()?,
                    body: call
                        .request
                        .body
                        .as_ref()
                        .map(|b| substitute_value(b, &ids, index, "body"))
                        .transpose()?,
                    path: call
                        .request
                        .path
                        .as_ref()
                        .map(|p| substitute(p, &ids, index, "path"))
                        .transpose()?,
                })
            })();
            let request = match substituted {
                Ok(r) => r,
                Err(Unresolved::Error(e)) => return Err(e),
                Err(Unresolved::Failed { field, value, reason }) => {
                    let why = format!("`{field}` = `{value}`: {reason}");
                    // Not sent: what it depends on does not exist. The real error is the
                    // earlier call's, which stays first among the failures.
                    if let Some(r) = &call.reference {
                        ids.insert(r.clone(), Target::Missing(index, call.api.clone()));
                    }
                    outcomes.push(Outcome {
                        api: call.api.clone(),
                        response: Response {
                            status: 424,
                            body: serde_json::json!({ "not_sent": why }),
                            created: None,
                        },
                        not_sent: Some(why),
                    });
                    continue;
                }
            };
            if ENDPOINT_APIS.contains(&call.api.as_str()) {
                let response = endpoint_call(&mut cloud, &call.api, request.body.as_ref(), index)?;
                if let Some(r) = &call.reference {
                    let target = match response.created.clone().filter(|_| response.is_success()) {
                        Some(id) => Target::Id(id),
                        None => Target::Missing(index, call.api.clone()),
                    };
                    ids.insert(r.clone(), target);
                }
                outcomes.push(Outcome {
                    api: call.api.clone(),
                    response,
                    not_sent: None,
                });
                continue;
            }
            let mark = cloud.rule_key_mark();
            // Pinning is part of the call's transaction: a pin error leaves nothing of the
            // call behind (and aborts the replay).
            let (response, pinned) =
                cloud.call_then(&call.api, &request, |txn, response| -> Result<(), String> {
                    if call.id.is_some() || call.ids.is_some() || !call.defaults {
                        txn.pin_ids(
                            response.created.as_deref(),
                            call.id.as_deref(),
                            mark,
                            call.ids.as_deref(),
                            !call.defaults,
                        )?;
                    }
                    Ok(())
                });
            pinned.map_err(|message| field_err(format!("calls[{index}]"), message))?;
            let mut created = response.created.clone();
            if response.is_success() && call.id.is_some() {
                created.clone_from(&call.id);
            }
            if let Some(r) = &call.reference {
                let target = match created.filter(|_| response.is_success()) {
                    Some(id) => Target::Id(id),
                    None => Target::Missing(index, call.api.clone()),
                };
                ids.insert(r.clone(), target);
            }
            outcomes.push(Outcome {
                api: call.api.clone(),
                response,
                not_sent: None,
            });
        }
        let mut endpoint_error = None;
        let before = cloud.clone();
        for (index, spec) in self.endpoints.iter().enumerate() {
            let mut groups = Vec::with_capacity(spec.groups.len());
            for (i, g) in spec.groups.iter().enumerate() {
                let field = format!("endpoints[{index}].groups[{i}]");
                match substitute(g, &ids, index, &field) {
                    Ok(id) => groups.push(id),
                    Err(Unresolved::Error(e)) => {
                        endpoint_error.get_or_insert(e);
                    }
                    Err(Unresolved::Failed { field, reason, .. }) => {
                        endpoint_error.get_or_insert(field_err(field, reason));
                    }
                }
            }
            if endpoint_error.is_some() {
                break;
            }
            if let Err(error) = cloud.attach(&spec.name, &spec.ips, &groups) {
                endpoint_error = Some(ScenarioError::Endpoint { index, error });
                break;
            }
        }
        if endpoint_error.is_some() {
            // All endpoints or none: never a partial state.
            cloud = before;
        }
        let refs = ids
            .into_iter()
            .filter_map(|(name, target)| match target {
                Target::Id(id) => Some((name, id)),
                Target::Missing(..) => None,
            })
            .collect();
        Ok(Replay {
            cloud,
            outcomes,
            endpoint_error,
            refs,
        })
    }

    /// Replays the scenario and returns the cloud when every call succeeded.
    ///
    /// # Errors
    /// As [`Scenario::replay`] and [`Replay::into_cloud`].
    pub fn build(&self) -> Result<Cloud, ScenarioError> {
        self.replay()?.into_cloud()
    }
}

/// sgeval's own calls in a scenario's `calls`, beside the provider's: an endpoint (a NIC:
/// an instance's or a port) is created or removed at that point of the stream, so churn can
/// be written the way it happens. `AttachEndpoint` takes `{"name", "ips", "groups"}` as
/// `endpoints` entries do (its `ref` stands for the name); `DetachEndpoint` takes
/// `{"name"}`. A refused one (see [`EndpointError`]) answers 409 with
/// `{"code": <the error's name>, "message"}` and changes nothing, as a refused provider
/// call does.
pub const ENDPOINT_APIS: [&str; 2] = ["AttachEndpoint", "DetachEndpoint"];

/// Runs one of [`ENDPOINT_APIS`] with its (substituted) body.
fn endpoint_call(
    cloud: &mut Cloud,
    api: &str,
    body: Option<&Value>,
    index: usize,
) -> Result<Response, ScenarioError> {
    let path = format!("calls[{index}].body");
    let obj = body
        .and_then(Value::as_object)
        .ok_or_else(|| field_err(&path, "expected an object"))?;
    let allowed: &[&str] = if api == "AttachEndpoint" {
        &["name", "ips", "groups"]
    } else {
        &["name"]
    };
    if let Some(key) = obj.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(field_err(
            format!("{path}.{key}"),
            format!("unknown field (expected {})", allowed.join(", ")),
        ));
    }
    let name =
        string_field(obj, "name", &path)?.ok_or_else(|| field_err(format!("{path}.name"), "missing"))?;
    let result = if api == "AttachEndpoint" {
        let ips = string_list(obj, "ips", &path)?
            .into_iter()
            .enumerate()
            .map(|(i, s)| {
                s.parse::<IpAddr>().map_err(|_| {
                    field_err(
                        format!("{path}.ips[{i}]"),
                        format!("`{s}` is not an IP address (no prefix length, no zone)"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let groups = string_list(obj, "groups", &path)?;
        cloud.attach(&name, &ips, &groups)
    } else {
        cloud.detach(&name)
    };
    Ok(match result {
        Ok(key) => Response {
            status: 200,
            body: serde_json::json!({"endpoint": name, "key": key}),
            created: Some(name),
        },
        Err(e) => Response {
            status: 409,
            body: serde_json::json!({"code": e.code(), "message": e.to_string()}),
            created: None,
        },
    })
}

/// The provider whose semantics each `options` switch changes.
const OPTION_PROVIDERS: [(&str, Provider); 3] = [
    ("ens_egress_default", Provider::Ens),
    ("gcore_defaults", Provider::Gcore),
    ("huawei_default_action", Provider::Huawei),
];

/// `acknowledged`: `[{"kind", "rule" | "group", "reason"}]`.
fn acknowledgements(v: Option<&Value>) -> Result<Vec<crate::query::lint::Ack>, ScenarioError> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => {
            return Err(field_err(
                "acknowledged",
                format!("expected an array, found {}", describe(other)),
            ))
        }
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let path = format!("acknowledged[{i}]");
        let obj = item
            .as_object()
            .ok_or_else(|| field_err(&path, format!("expected an object, found {}", describe(item))))?;
        if let Some(key) = obj
            .keys()
            .find(|k| !["kind", "rule", "group", "reason"].contains(&k.as_str()))
        {
            return Err(field_err(
                format!("{path}.{key}"),
                "unknown field (expected kind, rule or group, reason)",
            ));
        }
        let kind = string_field(obj, "kind", &path)?
            .ok_or_else(|| field_err(format!("{path}.kind"), "missing"))?
            .parse()
            .map_err(|e: String| field_err(format!("{path}.kind"), e))?;
        let subject = match (
            string_field(obj, "rule", &path)?,
            string_field(obj, "group", &path)?,
        ) {
            (Some(s), None) | (None, Some(s)) => s,
            _ => {
                return Err(field_err(
                    &path,
                    "name exactly one of `rule` (a rule id) or `group` (a group id)",
                ))
            }
        };
        let reason = string_field(obj, "reason", &path)?
            .filter(|r| !r.trim().is_empty())
            .ok_or_else(|| {
                field_err(
                    format!("{path}.reason"),
                    "missing: say why the finding is acceptable",
                )
            })?;
        out.push(crate::query::lint::Ack {
            kind,
            subject,
            reason,
        });
    }
    Ok(out)
}

fn string_list(
    obj: &serde_json::Map<String, Value>,
    key: &str,
    path: &str,
) -> Result<Vec<String>, ScenarioError> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(vec![]),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.clone()),
                other => Err(field_err(
                    format!("{path}.{key}[{i}]"),
                    format!("expected a string, found {}", describe(other)),
                )),
            })
            .collect(),
        Some(other) => Err(field_err(
            format!("{path}.{key}"),
            format!("expected an array of strings, found {}", describe(other)),
        )),
    }
}

fn substitute_value(
    v: &Value,
    ids: &BTreeMap<String, Target>,
    index: usize,
    path: &str,
) -> Result<Value, Unresolved> {
    Ok(match v {
        Value::String(s) => Value::String(substitute(s, ids, index, path)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, x)| substitute_value(x, ids, index, &format!("{path}[{i}]")))
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, x)| {
                    Ok((
                        k.clone(),
                        substitute_value(x, ids, index, &format!("{path}.{k}"))?,
                    ))
                })
                .collect::<Result<_, Unresolved>>()?,
        ),
        other => other.clone(),
    })
}

/// Replaces each `$name` in `s` with the id the call with `ref: name` created.
fn substitute(
    s: &str,
    ids: &BTreeMap<String, Target>,
    index: usize,
    path: &str,
) -> Result<String, Unresolved> {
    substitute_refs(s, |name| match ids.get(name) {
        Some(Target::Id(id)) => Ok(id.as_str()),
        Some(Target::Missing(call, api)) => Err(Unresolved::Failed {
            field: path.to_owned(),
            value: s.to_owned(),
            reason: format!(
                "`${name}` stands for what call {call} ({api}) creates, {}",
                "and that call failed or created nothing"
            ),
        }),
        None => {
            let reason = if name.is_empty() {
                "a lone `$` (write `$$` for a literal dollar sign)".to_owned()
            } else {
                format!("no earlier call has ref `{name}`")
            };
            Err(ScenarioError::UnknownRef {
                index,
                field: path.to_owned(),
                value: s.to_owned(),
                reason,
            }
            .into())
        }
    })
}

/// `s` with each reference `$name` replaced by what `id` gives for `name`, as a
/// scenario's calls write references to the ids earlier calls created: a name is the
/// longest run of ASCII letters, digits, `_` and `-` after the `$` (empty for a lone `$`),
/// and `$$` stands for a literal `$`. The first error `id` gives is returned.
///
/// ```
/// use sgeval::scenario::substitute_refs;
///
/// let ids = |name: &str| if name == "web" { Ok("sg-123") } else { Err(name.to_owned()) };
/// assert_eq!(substitute_refs("groups/$web/rules, $$5", ids), Ok("groups/sg-123/rules, $5".to_owned()));
/// assert_eq!(substitute_refs("$db", ids), Err("db".to_owned()));
/// ```
///
/// # Errors
/// The first error `id` returns.
pub fn substitute_refs<'a, E>(s: &str, mut id: impl FnMut(&str) -> Result<&'a str, E>) -> Result<String, E> {
    if !s.contains('$') {
        return Ok(s.to_owned());
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
            .unwrap_or(after.len());
        out.push_str(id(&after[..len])?);
        rest = &after[len..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_option_of_another_provider_is_refused_naming_it() {
        let e = Scenario::from_json(r#"{"provider": "huawei", "options": {"gcore_defaults": "template"}}"#)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("options.gcore_defaults")
                && e.contains("applies to gcore scenarios, not to this huawei one"),
            "{e}"
        );
        let e = Scenario::from_json(r#"{"provider": "ecs", "options": {"ens_egress_default": "deny"}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("options.ens_egress_default"), "{e}");
        // The provider's own switch is taken.
        let s =
            Scenario::from_json(r#"{"provider": "ens", "options": {"ens_egress_default": "deny"}}"#).unwrap();
        assert_eq!(s.options.ens_egress_default, crate::Verdict::Deny);
    }
}
