//! The four provider front ends. Each is a folder of the same shape:
//!
//! | file | what |
//! |---|---|
//! | `<name>/mod.rs` | the API table (`APIS`) and `call`, which dispatches and shapes answers |
//! | `<name>/groups.rs` | the group calls and the rules a create call makes by itself |
//! | `<name>/rules.rs` | both directions of the rule wire format: the parser of a rule request (pure, in the provider's field names, with its error codes) and `emit`, which writes a [`RuleDraft`] back as a request; and the rule calls |
//! | `huawei/address_groups.rs` | Huawei address groups |
//! | `<name>/codes.rs` | the error codes (Huawei, Gcore with its error body; ECS and ENS share `alibaba/codes.rs`) |
//!
//! `alibaba/` holds what ECS and ENS share (RPC parameters read by `Params`, answer and
//! error bodies, ids, the rule vocabulary), `rest.rs` what Huawei and Gcore share (the
//! JSON body reader `Body`, URL templates, ids). Every front end fails with one
//! [`ApiError`] shape, which each shapes into its provider's error body.
//! `tests/roundtrip.rs` checks that each provider's parser reads back what its `emit`
//! writes. The decision procedures live in [`crate::reference`] (the oracle) and
//! [`crate::compile`] (the fast engine).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::cloud::{Cloud, EndpointError, Request, Response};
use crate::decision::Verdict;
use crate::group::GroupKey;

pub mod alibaba;
mod draft;
pub mod ecs;
pub mod ens;
pub mod gcore;
pub mod huawei;
mod rest;

pub use draft::{RuleDraft, Target};

/// The providers sgeval models.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// Alibaba Cloud ECS (basic and advanced groups).
    Ecs,
    /// Alibaba Cloud ENS (edge).
    Ens,
    /// Huawei Cloud VPC v3.
    Huawei,
    /// Gcore Cloud v2.
    Gcore,
}

impl Provider {
    /// Every provider.
    pub const ALL: [Provider; 4] = [Provider::Ecs, Provider::Ens, Provider::Huawei, Provider::Gcore];

    /// The scenario-file name of the provider.
    pub fn name(self) -> &'static str {
        match self {
            Provider::Ecs => "ecs",
            Provider::Ens => "ens",
            Provider::Huawei => "huawei",
            Provider::Gcore => "gcore",
        }
    }

    /// The API names the front end answers.
    pub fn apis(self) -> &'static [&'static str] {
        match self {
            Provider::Ecs => ecs::APIS,
            Provider::Ens => ens::APIS,
            Provider::Huawei => huawei::APIS,
            Provider::Gcore => gcore::APIS,
        }
    }

    /// The call that adds `rule` to the group `target`, written in the provider's own
    /// request shape (each provider's `rules::emit`): ECS `AuthorizeSecurityGroup[Egress]`
    /// with one permission, ENS the older single-rule call, Huawei and Gcore
    /// `CreateSecurityGroupRule`. `None` when that call cannot state the rule (ENS: an
    /// IPv6 or group remote, a local prefix, ICMPv6).
    pub fn emit(self, target: &Target, rule: &RuleDraft) -> Option<(&'static str, Request)> {
        match self {
            Provider::Ecs => Some(ecs::rules::emit(target, rule)),
            Provider::Ens => ens::rules::emit(target, rule),
            Provider::Huawei => Some(huawei::rules::emit(target, rule)),
            Provider::Gcore => Some(gcore::rules::emit(target, rule)),
        }
    }

    /// The calls that add `rules` to the group `target`: ECS one `Authorize` call per
    /// direction and 100 rules; Huawei one `BatchCreateSecurityGroupRules` when `batch`;
    /// otherwise one [`Provider::emit`] call per rule (ENS: the rules it can state).
    pub fn emit_all(self, target: &Target, rules: &[RuleDraft], batch: bool) -> Vec<(&'static str, Request)> {
        match self {
            Provider::Ecs => ecs::rules::emit_all(target, rules),
            Provider::Huawei => huawei::rules::emit_all(target, rules, batch),
            Provider::Ens | Provider::Gcore => rules.iter().filter_map(|r| self.emit(target, r)).collect(),
        }
    }

    /// A rule as one item of a rule list: ECS `Permissions.N`, ENS `CreateSecurityGroup`
    /// `Permissions.N` (with its `Direction`), Huawei `security_group_rules` items, Gcore
    /// `CreateSecurityGroup` `rules` items.
    pub fn emit_entry(self, rule: &RuleDraft) -> serde_json::Value {
        serde_json::Value::Object(match self {
            Provider::Ecs => ecs::rules::entry(rule),
            Provider::Ens => ens::rules::entry(rule),
            Provider::Huawei => huawei::rules::entry(rule),
            Provider::Gcore => gcore::rules::entry(rule),
        })
    }

    /// The call that removes the rule `rule_id` (`rule` as a draft) from the group
    /// `target`: by id, except ENS, whose older revoke calls name the rule by its fields
    /// (`None` when they cannot state it).
    pub fn emit_remove(
        self,
        target: &Target,
        rule_id: &str,
        rule: &RuleDraft,
    ) -> Option<(&'static str, Request)> {
        match self {
            Provider::Ecs => Some(ecs::rules::emit_remove(target, rule.direction, rule_id)),
            Provider::Ens => ens::rules::emit_legacy(target, rule, true),
            Provider::Huawei => Some(huawei::rules::emit_remove(target, rule_id)),
            Provider::Gcore => Some(gcore::rules::emit_remove(target, rule_id)),
        }
    }

    /// How many security groups one NIC may join. ECS: 10 (A1); ENS: as ECS; Huawei: 5
    /// ("By default, you can add an ECS or extension NIC to up to five security groups",
    /// support.huaweicloud.com/intl/en-us/eu-west-0-usermanual-ecs/en-us_topic_0140323157.html);
    /// Gcore: no documented limit, 100.
    pub fn groups_per_nic(self) -> usize {
        match self {
            Provider::Ecs | Provider::Ens => 10,
            Provider::Huawei => 5,
            Provider::Gcore => 100,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Provider {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| p.name() == s)
            .ok_or_else(|| format!("unknown provider `{s}` (ecs, ens, huawei or gcore)"))
    }
}

/// What Gcore adds to a group created without egress rules (Decision 6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GcoreDefaults {
    /// Jan-May 2026 spec: egress allow-all for IPv4 and IPv6 when the request has no egress
    /// rule (also when `rules` is absent); `rules: []` adds nothing. The default.
    #[default]
    EgressWhenNone,
    /// July 2026 wording: `rules` absent adds an ingress and egress allow-all template;
    /// a non-empty list gets nothing appended; `[]` adds nothing.
    Template,
}

/// The semantic switches: where the providers' documents are silent or contradict each
/// other, SEMANTICS.md fixes a default and these let a user take the other reading.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// ENS, egress with no matching rule (Decision 4): allow by default.
    pub ens_egress_default: Verdict,
    /// Gcore defaults on create (Decision 6).
    pub gcore_defaults: GcoreDefaults,
    /// Huawei: the action of a rule created without `action` (Decision 5: allow; seed 003's
    /// response table says deny, see SEMANTICS.md "Contradictions").
    pub huawei_default_action: crate::rule::Action,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ens_egress_default: Verdict::Allow,
            gcore_defaults: GcoreDefaults::EgressWhenNone,
            huawei_default_action: crate::rule::Action::Allow,
        }
    }
}

/// A provider error before it is shaped into the provider's error body: the one error
/// shape of every front end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: u16,
    /// The provider's error code from its code table (`InvalidSourceCidrIp.Malformed`,
    /// `VPC.0601`, Gcore's `exception_class` `ValidationError`, ...).
    pub code: &'static str,
    /// The offending field, in the provider's names (`Permissions.1.PortRange`,
    /// `rules[0].protocol`), where one field is at fault.
    pub field: Option<String>,
    /// Message naming the field and the offending value.
    pub message: String,
}

impl ApiError {
    /// An error with status, code and message.
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            field: None,
            message: message.into(),
        }
    }

    /// The error, naming the offending field.
    pub fn at(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

/// Each front end's own bookkeeping inside the cloud.
#[derive(Clone, Debug)]
pub(crate) enum State {
    Ecs(ecs::State),
    Ens(ens::State),
    Huawei(huawei::State),
    Gcore(gcore::State),
}

impl State {
    pub(crate) fn new(provider: Provider) -> State {
        match provider {
            Provider::Ecs => State::Ecs(Default::default()),
            Provider::Ens => State::Ens(Default::default()),
            Provider::Huawei => State::Huawei(Default::default()),
            Provider::Gcore => State::Gcore(Default::default()),
        }
    }
}

/// Routes a call to the cloud's provider front end.
pub(crate) fn call(cloud: &mut Cloud, api: &str, request: &Request) -> Response {
    match cloud.provider() {
        Provider::Ecs => ecs::call(cloud, api, request),
        Provider::Ens => ens::call(cloud, api, request),
        Provider::Huawei => huawei::call(cloud, api, request),
        Provider::Gcore => gcore::call(cloud, api, request),
    }
}

/// The provider's own checks when a NIC joins `groups` (keys of existing groups, in
/// association order), beyond the common ones of [`Cloud::attach`]. ECS: the groups are of
/// one region and VPC, and hold at most 1,000 rules together (A1, A6).
///
/// # Errors
/// The [`EndpointError`] naming the endpoint and what it breaks.
pub(crate) fn check_attach(cloud: &Cloud, endpoint: &str, groups: &[GroupKey]) -> Result<(), EndpointError> {
    match cloud.provider() {
        Provider::Ecs => ecs::check_attach(cloud, endpoint, groups),
        Provider::Ens | Provider::Huawei | Provider::Gcore => Ok(()),
    }
}

/// A one-line summary of a provider error body (`Code: Message` in any provider's shape).
pub fn error_summary(body: &serde_json::Value) -> String {
    let pick = |keys: &[&str]| {
        keys.iter()
            .find_map(|k| body.get(*k).and_then(|v| v.as_str()).map(str::to_owned))
    };
    let code = pick(&["Code", "error_code", "code", "exception_class"]);
    let message = pick(&["Message", "error_msg", "message"]);
    match (code, message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c,
        (None, Some(m)) => m,
        (None, None) => body.to_string(),
    }
}
