//! Limits on untrusted input, with the providers' quotas as defaults.
//!
//! A scenario file or a provider request may come from anywhere. Before sgeval parses and
//! replays one, [`load_scenario`] (or [`check_text`], [`check_value`] and
//! [`check_request`] one by one) refuses input whose size alone would cost unbounded time or
//! memory: too many bytes, nesting too deep, too many calls, endpoints, rules in one call,
//! groups on one endpoint, or strings too long. Each refusal names the limit, the field and
//! the offending count; everything within the limits goes on to the provider front ends,
//! which answer with the provider's own error codes.
//!
//! | limit | default | source |
//! |---|---|---|
//! | bytes of input | 16 MiB | sgeval's choice |
//! | JSON nesting depth | 64 | sgeval's choice; serde_json itself stops at 128 |
//! | calls per scenario | 10,000 | sgeval's choice |
//! | endpoints per scenario | 10,000 | sgeval's choice |
//! | rules in one call | ten times the provider's quota: ECS 1,000 (quota 100, `Permissions.N`, A6), ENS 2,000 (200, E1), Huawei 2,000 (200, batch create, H3), Gcore 1,000 (100, Neutron's default rule quota, N1) | 10 × [`Profile::rules_per_call`] |
//! | groups per endpoint | ten times the provider's quota: ECS, ENS 100 (10, A1), Huawei 50 (5, H4b), Gcore 1,000 | 10 × [`Profile::groups_per_nic`] |
//! | addresses per endpoint | 64 | sgeval's choice |
//! | characters in one string | 65,536 | sgeval's choice (the longest documented field is 512) |
//!
//! The per-provider values stand ten times above the provider's [`Profile`] quotas (see
//! [`Profile`] for their sources): a call over a quota is the provider's to answer, with its
//! own error code, and `sgeval api` prints that answer; these limits stop only input no
//! provider would answer at all. [`Limits::default`] takes the largest of them.
//!
//! Every limit is a public field: build a [`Limits`] with other values to raise or lower one.
//!
//! A whole account's state (what `sgeval import` writes from 100 MB of describe output:
//! some 150,000 rule calls) passes the whole-scenario sizes above; [`Limits::account`]
//! raises those three (bytes 512 MiB, calls 2,000,000, endpoints 1,000,000), keeping every
//! per-call, per-endpoint and per-string limit, and [`load_account_scenario`] loads with
//! them. The CLI reads every scenario so: any command may be pointed at an imported account.

use serde_json::{json, Map, Value};

use crate::cloud::{Request, Response};
use crate::profile::Profile;
use crate::provider::Provider;
use crate::scenario::{Scenario, ScenarioError};

/// The limits applied to untrusted input. See the [module docs](self) for the defaults.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes of text.
    pub max_input_bytes: usize,
    /// Deepest nesting of JSON arrays and objects.
    pub max_depth: usize,
    /// Most calls in a scenario.
    pub max_calls: usize,
    /// Most endpoints in a scenario.
    pub max_endpoints: usize,
    /// Most rules (array items, or `Name.N` indexes of Alibaba flat parameters) in one call.
    pub max_items_per_call: usize,
    /// Most groups one endpoint lists.
    pub max_groups_per_endpoint: usize,
    /// Most addresses one endpoint lists.
    pub max_ips_per_endpoint: usize,
    /// Most characters in one string (keys included).
    pub max_string_chars: usize,
}

/// How far above a provider's quota the guards stand: a call over the quota still reaches
/// the front end, which answers with the provider's own error; only input no provider
/// would answer at all (a size bomb) stops here.
const HEADROOM: usize = 10;

impl Limits {
    /// The limits for `provider`: ten times its per-call rule maximum and its groups per
    /// NIC ([`Provider::profile`]), so the provider's own answer decides everything a
    /// provider would answer.
    pub fn for_provider(provider: Provider) -> Limits {
        let profile = provider.profile();
        Limits {
            max_items_per_call: HEADROOM * profile.rules_per_call,
            max_groups_per_endpoint: HEADROOM * profile.groups_per_nic,
            ..Limits::default()
        }
    }
}

impl Limits {
    /// These limits with the whole-scenario sizes raised to what an account's imported
    /// state needs (see the [module docs](self)); the rest stays as it is.
    pub fn account(self) -> Limits {
        Limits {
            max_input_bytes: 512 << 20,
            max_calls: 2_000_000,
            max_endpoints: 1_000_000,
            ..self
        }
    }
}

impl Default for Limits {
    /// Limits that hold for every provider (ten times the largest of the providers' values).
    fn default() -> Limits {
        Limits {
            max_input_bytes: 16 << 20,
            max_depth: 64,
            max_calls: 10_000,
            max_endpoints: 10_000,
            max_items_per_call: HEADROOM * largest(|p| p.rules_per_call),
            max_groups_per_endpoint: HEADROOM * largest(|p| p.groups_per_nic),
            max_ips_per_endpoint: 64,
            max_string_chars: 65_536,
        }
    }
}

/// The largest value of a profile field over every provider.
fn largest(field: impl Fn(&Profile) -> usize) -> usize {
    Provider::ALL
        .iter()
        .map(|p| field(p.profile()))
        .max()
        .unwrap_or(0)
}

/// Input over a limit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// The text is too long.
    #[error("input has {bytes} bytes; at most {limit} are accepted")]
    TooLarge {
        /// Bytes given.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// Arrays and objects nest too deep.
    #[error("input nests arrays and objects deeper than {limit} levels (at byte {at})")]
    TooDeep {
        /// Byte offset where the limit was passed.
        at: usize,
        /// The limit.
        limit: usize,
    },
    /// Too many items of one kind.
    #[error("`{field}` has {count} {what}; at most {limit} are accepted")]
    TooMany {
        /// What is counted (`calls`, `rules`, `groups`, ...).
        what: &'static str,
        /// Where.
        field: String,
        /// How many were given.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A string is too long.
    #[error("`{field}` is a string of {chars} characters; at most {limit} are accepted")]
    StringTooLong {
        /// Where.
        field: String,
        /// Characters given.
        chars: usize,
        /// The limit.
        limit: usize,
    },
}

impl LimitError {
    /// The refusal as `provider` would answer a request over its quota: HTTP 400 and the
    /// provider's error shape, with the provider's code for too many rules in one call
    /// where it has one (ECS `InvalidParam.Permissions`, ENS `AuthorizationLimitExceed`,
    /// Huawei `VPC.0601`, Gcore `ValidationError`), else `LimitExceeded`.
    pub fn response(&self, provider: Provider) -> Response {
        let rules = matches!(self, LimitError::TooMany { what: "rules", .. });
        let message = self.to_string();
        let body = match provider {
            Provider::Ecs => {
                json!({"Code": if rules { "InvalidParam.Permissions" } else { "LimitExceeded" }, "Message": message})
            }
            Provider::Ens => {
                json!({"Code": if rules { "AuthorizationLimitExceed" } else { "LimitExceeded" }, "Message": message})
            }
            Provider::Huawei => {
                json!({"error_code": if rules { "VPC.0601" } else { "LimitExceeded" }, "error_msg": message})
            }
            Provider::Gcore => {
                json!({"exception_class": if rules { "ValidationError" } else { "LimitExceeded" }, "message": message})
            }
        };
        Response {
            status: 400,
            body,
            created: None,
        }
    }
}

/// Why a scenario could not be loaded.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum LoadError {
    /// Over a limit.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// Not a scenario.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
}

/// Checks the size and nesting depth of JSON text without parsing it.
///
/// # Errors
/// [`LimitError::TooLarge`] or [`LimitError::TooDeep`].
pub fn check_text(text: &str, limits: &Limits) -> Result<(), LimitError> {
    if text.len() > limits.max_input_bytes {
        return Err(LimitError::TooLarge {
            bytes: text.len(),
            limit: limits.max_input_bytes,
        });
    }
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for (at, b) in text.bytes().enumerate() {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limits.max_depth {
                    return Err(LimitError::TooDeep {
                        at,
                        limit: limits.max_depth,
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

fn too_many(what: &'static str, field: String, count: usize, limit: usize) -> Result<(), LimitError> {
    if count > limit {
        Err(LimitError::TooMany {
            what,
            field,
            count,
            limit,
        })
    } else {
        Ok(())
    }
}

/// Where a value sits, rendered only when a limit is passed.
#[derive(Clone, Copy)]
enum At<'a> {
    Root(&'a str),
    Key(&'a At<'a>, &'a str),
    Index(&'a At<'a>, usize),
}

impl At<'_> {
    fn render(&self) -> String {
        match self {
            At::Root(name) => (*name).to_owned(),
            At::Key(parent, key) => format!("{}.{key}", parent.render()),
            At::Index(parent, i) => format!("{}[{i}]", parent.render()),
        }
    }
}

/// Checks every string (and key) of `value` for length, and its nesting depth.
fn check_strings(value: &Value, at: &At<'_>, depth: usize, limits: &Limits) -> Result<(), LimitError> {
    if depth > limits.max_depth {
        return Err(LimitError::TooDeep {
            at: 0,
            limit: limits.max_depth,
        });
    }
    let long = |s: &str, at: &At<'_>| {
        // PERF: a string of at most `max` bytes has at most `max` characters; count only
        // the longer ones.
        if s.len() <= limits.max_string_chars {
            return Ok(());
        }
        let chars = s.chars().count();
        if chars > limits.max_string_chars {
            Err(LimitError::StringTooLong {
                field: at.render(),
                chars,
                limit: limits.max_string_chars,
            })
        } else {
            Ok(())
        }
    };
    match value {
        Value::String(s) => long(s, at),
        Value::Array(items) => items
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_strings(v, &At::Index(at, i), depth + 1, limits)),
        Value::Object(map) => map.iter().try_for_each(|(k, v)| {
            let here = At::Key(at, k);
            long(k, &here)?;
            check_strings(v, &here, depth + 1, limits)
        }),
        _ => Ok(()),
    }
}

/// The largest `N` of Alibaba flat parameters `Name.N...` per `Name`, and the longest array.
fn items_in(map: &Map<String, Value>, field: &At<'_>, limits: &Limits) -> Result<(), LimitError> {
    // PERF: field names are written only for an error (every call passes here, Huawei's
    // through a nested object).
    let limit = limits.max_items_per_call;
    for (key, value) in map {
        let at = At::Key(field, key);
        match value {
            Value::Array(items) if items.len() > limit => too_many("rules", at.render(), items.len(), limit)?,
            Value::Object(inner) => items_in(inner, &at, limits)?,
            _ => {}
        }
        // `Name.N...`: the second of the key's `.`-separated parts.
        if let Some((name, rest)) = key.split_once('.') {
            let n = rest.split_once('.').map_or(rest, |(n, _)| n);
            if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) {
                let n = n.parse::<usize>().unwrap_or(usize::MAX);
                if n > limit {
                    too_many("rules", format!("{}.{name}.N", field.render()), n, limit)?;
                }
            }
        }
    }
    Ok(())
}

/// Checks one provider request against `limits`: string lengths, depth, and rules in one
/// call (array lengths and Alibaba `Name.N` indexes).
///
/// # Errors
/// The first limit passed.
pub fn check_request(request: &Request, limits: &Limits) -> Result<(), LimitError> {
    for (name, part) in [("params", &request.params), ("body", &request.body)] {
        if let Some(v) = part {
            if let Value::Object(map) = v {
                items_in(map, &At::Root(name), limits)?;
            }
            check_strings(v, &At::Root(name), 0, limits)?;
        }
    }
    if let Some(path) = &request.path {
        check_strings(&Value::String(path.clone()), &At::Root("path"), 0, limits)?;
    }
    Ok(())
}

/// Checks a parsed scenario value against `limits` (the provider's, when `limits` is
/// `None` and the value names a known provider; else [`Limits::default`]).
///
/// # Errors
/// The first limit passed.
pub fn check_value(value: &Value, limits: Option<&Limits>) -> Result<(), LimitError> {
    let own;
    let limits = match limits {
        Some(l) => l,
        None => {
            own = value
                .get("provider")
                .and_then(Value::as_str)
                .and_then(|p| p.parse::<Provider>().ok())
                .map(Limits::for_provider)
                .unwrap_or_default();
            &own
        }
    };
    if let Some(Value::Array(calls)) = value.get("calls") {
        too_many("calls", "calls".into(), calls.len(), limits.max_calls)?;
        for (i, call) in calls.iter().enumerate() {
            for part in ["params", "body"] {
                if let Some(Value::Object(map)) = call.get(part) {
                    items_in(map, &At::Root(&format!("calls[{i}].{part}")), limits)?;
                }
            }
        }
    }
    if let Some(Value::Array(endpoints)) = value.get("endpoints") {
        too_many(
            "endpoints",
            "endpoints".into(),
            endpoints.len(),
            limits.max_endpoints,
        )?;
        for (i, e) in endpoints.iter().enumerate() {
            if let Some(Value::Array(groups)) = e.get("groups") {
                too_many(
                    "groups",
                    format!("endpoints[{i}].groups"),
                    groups.len(),
                    limits.max_groups_per_endpoint,
                )?;
            }
            if let Some(Value::Array(ips)) = e.get("ips") {
                too_many(
                    "addresses",
                    format!("endpoints[{i}].ips"),
                    ips.len(),
                    limits.max_ips_per_endpoint,
                )?;
            }
        }
    }
    check_strings(value, &At::Root("(root)"), 0, limits)
}

/// Loads a scenario from untrusted text: checks size and depth, parses, checks the counts
/// against `limits` (the scenario provider's defaults when `None`), then reads the
/// scenario.
///
/// # Errors
/// A limit passed ([`LoadError::Limit`]) or what [`Scenario::from_value`] refuses.
pub fn load_scenario(text: &str, limits: Option<&Limits>) -> Result<Scenario, LoadError> {
    check_text(text, limits.unwrap_or(&Limits::default()))?;
    let value: Value = serde_json::from_str(text).map_err(|e| ScenarioError::Json(e.to_string()))?;
    check_value(&value, limits)?;
    Ok(Scenario::from_owned_value(value)?)
}

/// Loads a scenario that may hold a whole account's state: as [`load_scenario`] with the
/// scenario provider's limits, raised by [`Limits::account`].
///
/// # Errors
/// As [`load_scenario`].
pub fn load_account_scenario(text: &str) -> Result<Scenario, LoadError> {
    check_text(text, &Limits::default().account())?;
    let value: Value = serde_json::from_str(text).map_err(|e| ScenarioError::Json(e.to_string()))?;
    let limits = value
        .get("provider")
        .and_then(Value::as_str)
        .and_then(|p| p.parse::<Provider>().ok())
        .map(Limits::for_provider)
        .unwrap_or_default()
        .account();
    check_value(&value, Some(&limits))?;
    Ok(Scenario::from_owned_value(value)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        let l = Limits {
            max_depth: 2,
            ..Limits::default()
        };
        assert!(check_text(r#"[["[[[[", "\"[[["]]"#, &l).is_ok());
        assert!(matches!(
            check_text("[[[]]]", &l),
            Err(LimitError::TooDeep { at: 2, .. })
        ));
    }

    #[test]
    fn defaults_stand_ten_times_above_the_largest_provider_quota() {
        let d = Limits::default();
        assert_eq!((d.max_items_per_call, d.max_groups_per_endpoint), (2000, 1000));
        for p in Provider::ALL {
            let l = Limits::for_provider(p);
            assert!(l.max_items_per_call <= d.max_items_per_call, "{p}");
            assert!(l.max_groups_per_endpoint <= d.max_groups_per_endpoint, "{p}");
            // Far above the quota: the front end answers a call over it.
            assert_eq!(l.max_items_per_call, 10 * p.profile().rules_per_call, "{p}");
        }
        let huawei = Limits::for_provider(Provider::Huawei);
        assert_eq!(
            (huawei.max_items_per_call, huawei.max_groups_per_endpoint),
            (2000, 50)
        );
    }

    #[test]
    fn flat_alibaba_indexes_count_as_rules() {
        let l = Limits::for_provider(Provider::Ecs);
        let ok = Request {
            params: Some(json!({"Permissions.1000.IpProtocol": "TCP"})),
            ..Default::default()
        };
        assert!(check_request(&ok, &l).is_ok());
        let over = Request {
            params: Some(json!({"Permissions.1001.IpProtocol": "TCP"})),
            ..Default::default()
        };
        assert!(matches!(
            check_request(&over, &l),
            Err(LimitError::TooMany { count: 1001, .. })
        ));
        let huge = Request {
            params: Some(json!({"Permissions.99999999999999999999999.IpProtocol": "TCP"})),
            ..Default::default()
        };
        assert!(matches!(
            check_request(&huge, &l),
            Err(LimitError::TooMany {
                count: usize::MAX,
                ..
            })
        ));
    }
}
