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
use std::ops::{Deref, DerefMut};

use crate::group::GroupKey;
use crate::model::{EndpointError, Model, Transaction};
use crate::request::{Request, Response};

pub mod alibaba;
mod draft;
pub mod ecs;
pub mod ens;
pub mod gcore;
pub mod huawei;
mod rest;

pub use crate::options::{GcoreDefaults, Options, Quotas};
pub use crate::provider_kind::Provider;
pub use draft::{RuleDraft, Target};

/// A CIDR block as its `Display` writes it (`10.0.0.0/8`, `2001:db8::/32`). PERF: IPv4
/// written octet by octet; `Ipv4Addr`'s `Display` (which pads) cost 1,400 instructions a
/// block, and every rule shown or emitted writes one or two.
pub(crate) fn cidr_text(net: &ipnet::IpNet) -> String {
    match net {
        ipnet::IpNet::V4(v4) => {
            let mut s = String::with_capacity(18);
            for (i, octet) in v4.addr().octets().into_iter().enumerate() {
                if i > 0 {
                    s.push('.');
                }
                push_decimal(&mut s, u64::from(octet));
            }
            s.push('/');
            push_decimal(&mut s, u64::from(v4.prefix_len()));
            s
        }
        ipnet::IpNet::V6(_) => net.to_string(),
    }
}

/// Appends `n` in decimal (what `write!(s, "{n}")` writes, without the formatting
/// machinery).
pub(crate) fn push_decimal(s: &mut String, n: u64) {
    s.push_str(itoa::Buffer::new().format(n));
}

/// A stored rule's duplicate print under `provider`'s duplicate check: a hash of the
/// fields that check compares, read back from the rule the way the check reads it, so two
/// rules the check calls the same (or contradicting, for Huawei) have the same print.
/// `None` for a rule the check never matches. The model counts each group's prints
/// ([`Model::may_hold_print`]), so a check scans the group only when the new rule's print
/// is there.
pub(crate) fn rule_print(provider: Provider, rule: &crate::rule::Rule) -> Option<u64> {
    match provider {
        Provider::Ecs | Provider::Ens => Some(alibaba::rule_print(rule)),
        Provider::Huawei => huawei::rules::rule_print(rule),
        Provider::Gcore => Some(gcore::rules::rule_print(rule)),
    }
}

/// The print of `fields` ([`rule_print`]): a fixed hash, so equal models have equal
/// indexes.
pub(crate) fn print_of(fields: impl std::hash::Hash) -> u64 {
    use std::hash::BuildHasher;
    foldhash::fast::FixedState::default().hash_one(fields)
}

impl Provider {
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

/// The cloud's provider front end: one typed front end per provider, each owning its
/// bookkeeping, matched once here.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Frontend {
    Ecs(ecs::Frontend),
    Ens(ens::Frontend),
    Huawei(huawei::Frontend),
    Gcore(gcore::Frontend),
}

/// One call in progress, as a front end sees it: the model's transaction (reads see the
/// call's own writes), the front end's bookkeeping as the committed calls left it, and what
/// this call adds to that bookkeeping (`effect`, applied only when the call commits).
pub(crate) struct CallContext<'c, 'm, F, E> {
    txn: &'c mut Transaction<'m>,
    /// The front end's bookkeeping before this call.
    pub(crate) frontend: &'c F,
    /// What this call adds to the bookkeeping once committed.
    pub(crate) effect: E,
}

impl<'m, F, E> Deref for CallContext<'_, 'm, F, E> {
    type Target = Transaction<'m>;
    fn deref(&self) -> &Transaction<'m> {
        self.txn
    }
}

impl<F, E> DerefMut for CallContext<'_, '_, F, E> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.txn
    }
}

impl Frontend {
    /// The front end of `provider`, with no bookkeeping yet.
    pub(crate) fn new(provider: Provider) -> Frontend {
        match provider {
            Provider::Ecs => Frontend::Ecs(Default::default()),
            Provider::Ens => Frontend::Ens(Default::default()),
            Provider::Huawei => Frontend::Huawei(Default::default()),
            Provider::Gcore => Frontend::Gcore(Default::default()),
        }
    }

    /// Answers one call on the call's transaction `txn`. A front end answers `Ok` only for
    /// success; then `then` runs on the transaction, and only if it succeeds too are the
    /// transaction and the front end's bookkeeping effects committed. Otherwise `txn` is
    /// dropped, which leaves the model as it was, and the effects are dropped with it.
    pub(crate) fn call<X>(
        &mut self,
        mut txn: Transaction<'_>,
        api: &str,
        request: &Request,
        then: impl FnOnce(&mut Transaction<'_>, &Response) -> Result<(), X>,
    ) -> (Response, Result<(), X>) {
        fn run<'c, 'm, F, E: Default>(
            txn: &'c mut Transaction<'m>,
            frontend: &'c F,
            answer: impl FnOnce(&mut CallContext<'c, 'm, F, E>) -> Result<Response, Response>,
        ) -> Result<(Response, E), Response> {
            let mut cx = CallContext {
                txn,
                frontend,
                effect: E::default(),
            };
            let response = answer(&mut cx)?;
            Ok((response, cx.effect))
        }
        fn finish<E, X>(
            outcome: Result<(Response, E), Response>,
            mut txn: Transaction<'_>,
            then: impl FnOnce(&mut Transaction<'_>, &Response) -> Result<(), X>,
            apply: impl FnOnce(E),
        ) -> (Response, Result<(), X>) {
            match outcome {
                Err(refused) => (refused, Ok(())),
                Ok((response, effect)) => {
                    debug_assert!(response.is_success(), "{response:?}");
                    if let Err(e) = then(&mut txn, &response) {
                        return (response, Err(e));
                    }
                    txn.commit();
                    apply(effect);
                    (response, Ok(()))
                }
            }
        }
        match self {
            Frontend::Ecs(f) => {
                let outcome = run(&mut txn, &*f, |cx| ecs::call(cx, api, request));
                finish(outcome, txn, then, |e| f.apply(e))
            }
            Frontend::Ens(f) => {
                let outcome = run(&mut txn, &*f, |cx| ens::call(cx, api, request));
                finish(outcome, txn, then, |()| {})
            }
            Frontend::Huawei(f) => {
                let outcome = run(&mut txn, &*f, |cx| huawei::call(cx, api, request));
                finish(outcome, txn, then, |()| {})
            }
            Frontend::Gcore(f) => {
                let outcome = run(&mut txn, &*f, |cx| gcore::call(cx, api, request));
                finish(outcome, txn, then, |e| f.apply(e))
            }
        }
    }

    /// Makes this bookkeeping equal to `newer`, a later state of the same front end (see
    /// [`crate::Cloud::sync_from`]): Gcore's tasks, which only grow, copied from where this
    /// state's end; the others' (small) bookkeeping copied when it differs.
    pub(crate) fn sync_from(&mut self, newer: &Frontend) {
        match (&mut *self, newer) {
            (Frontend::Gcore(mine), Frontend::Gcore(new)) => mine.sync_from(new),
            (mine, new) => {
                if mine != new {
                    mine.clone_from(new);
                }
            }
        }
    }

    /// The provider's own checks when a NIC joins `groups` (keys of existing groups, in
    /// association order), beyond the common ones of [`crate::Cloud::attach`]. ECS: the
    /// groups are of one region and VPC, and hold at most 1,000 rules together (A1, A6).
    ///
    /// # Errors
    /// The [`EndpointError`] naming the endpoint and what it breaks.
    pub(crate) fn check_attach(
        &self,
        model: &Model,
        endpoint: &str,
        groups: &[GroupKey],
    ) -> Result<(), EndpointError> {
        match self {
            Frontend::Ecs(f) => f.check_attach(model, endpoint, groups),
            Frontend::Ens(_) | Frontend::Huawei(_) | Frontend::Gcore(_) => Ok(()),
        }
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

#[cfg(test)]
mod cidr_text_tests {
    use super::cidr_text;

    #[test]
    fn cidr_text_writes_what_display_writes() {
        for text in [
            "0.0.0.0/0",
            "10.0.0.0/8",
            "192.168.100.7/32",
            "255.255.255.255/32",
            "1.20.199.0/24",
            "::/0",
            "2001:db8::/32",
            "::ffff:10.0.0.1/128",
        ] {
            let net: ipnet::IpNet = text.parse().expect("CIDR");
            assert_eq!(cidr_text(&net), net.to_string());
        }
    }
}
