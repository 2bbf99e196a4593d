//! # sgeval: cloud security groups, evaluated exactly as each provider documents them
//!
//! sgeval models the security groups of four clouds: Alibaba Cloud ECS (basic and advanced
//! groups), Alibaba Cloud ENS, Huawei Cloud VPC v3 and Gcore Cloud v2. It takes each
//! provider's own API requests, validates them as the provider does, and answers whether a
//! packet passes, naming what decided.
//!
//! ## The data's way
//!
//! 1. A [`Scenario`] lists provider calls (`CreateSecurityGroup`, rule calls, ...) and the
//!    endpoints (NICs) that join groups.
//! 2. [`Scenario::replay`] feeds the calls to a [`Cloud`], whose provider front end
//!    ([`provider`]) validates each request with the provider's error codes and lowers it
//!    to provider-neutral [`Rule`]s.
//! 3. An engine decides a [`Packet`] at an endpoint and direction, giving a [`Decision`]:
//!    the verdict and what decided it (a rule, the ECS intra-group policy, a provider
//!    default, or an established connection). [`reference::Evaluator`] is the plain
//!    oracle.
//! 4. [`flow::trace`] follows a packet from its source endpoint's egress to its destination
//!    endpoint's ingress (Decision 1 of SEMANTICS.md).
//!
//! ```
//! use sgeval::{flow, reference, Packet, Scenario, Verdict};
//!
//! let scenario = Scenario::from_json(r#"{
//!   "provider": "huawei",
//!   "calls": [
//!     {"api": "CreateSecurityGroup", "ref": "web", "body": {"security_group": {"name": "web"}}},
//!     {"api": "CreateSecurityGroupRule", "body": {"security_group_rule": {
//!        "security_group_id": "$web", "direction": "ingress", "protocol": "tcp",
//!        "multiport": "443", "remote_ip_prefix": "0.0.0.0/0", "action": "allow", "priority": 1}}}
//!   ],
//!   "endpoints": [{"name": "vm-a", "ips": ["192.168.0.10"], "groups": ["$web"]}]
//! }"#).unwrap();
//! let cloud = scenario.build().unwrap();
//! let engine = reference::Evaluator::new(&cloud);
//! let packet = Packet::tcp("203.0.113.7".parse().unwrap(), "192.168.0.10".parse().unwrap(), 443);
//! assert_eq!(flow::trace(&cloud, &engine, &packet).verdict, Verdict::Allow);
//! ```
//!
//! ## Which engine do I use?
//!
//! Three engines answer the same question, "what does this endpoint decide for this packet
//! in this direction?", through one verb, `evaluate`, and one trait, [`flow::Evaluate`]
//! (so [`flow::trace`], [`conntrack::Tracker`] and your own code take any of them). They
//! give the same whole [`Decision`] on every input: the corpus, `tests/equality.rs` and the
//! `differential` fuzz target hold the compiled engine to the reference.
//!
//! - [`reference::Evaluator`]: a linear scan over the provider-level rules, written like
//!   SEMANTICS.md. Nothing to build, nothing to keep up to date: it borrows the [`Cloud`]
//!   and reads it as it is now. Use it as the oracle in your tests, for one-off questions,
//!   and when the cloud changes between almost every question. Cost: linear in the rules
//!   an endpoint carries (0.5 to 2.7 µs a decision on 1,000 rules in README's Performance).
//! - [`compile::Engine`]: every endpoint's groups compiled into indexed first-match tables.
//!   Use it when many packets meet a cloud that changes rarely: simulators, replaying
//!   traces, benchmarks. Evaluation never allocates, and [`compile::Engine::evaluate_batch`]
//!   interleaves packets. Cost: building (6 to 45 ms and under 1 MB for README's
//!   1,000-rule endpoints beside 5,000 members), then about 20 to 30 ns an IPv4 decision
//!   (README's Performance, 2026-12-05); after a change of the cloud call
//!   [`compile::Engine::refresh`], which recompiles only the tables the change reaches.
//! - [`live::Live`]: one writer applying provider calls while many threads read. Each
//!   [`live::Snapshot`] pairs an immutable cloud with its compiled engine; readers never
//!   block and never see half a change. Use it for a control-plane emulator under load.
//!   Cost: a write copies the cloud and refreshes the engine; a read is one atomic load and
//!   the compiled engine's evaluation.
//!
//! The what-if [`query`] module does not evaluate packet by packet: it splits the whole
//! header space symbolically, in the reference's order.
//!
//! ```
//! use sgeval::flow::{self, Evaluate};
//! use sgeval::{compile, live::Live, reference, Direction, Packet, Scenario, Verdict};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let scenario = Scenario::from_json(r#"{
//!   "provider": "huawei",
//!   "calls": [
//!     {"api": "CreateSecurityGroup", "ref": "web", "body": {"security_group": {"name": "web"}}},
//!     {"api": "CreateSecurityGroupRule", "body": {"security_group_rule": {
//!        "security_group_id": "$web", "direction": "ingress", "protocol": "tcp",
//!        "multiport": "443", "remote_ip_prefix": "0.0.0.0/0", "action": "allow", "priority": 1}}}
//!   ],
//!   "endpoints": [{"name": "vm-a", "ips": ["192.168.0.10"], "groups": ["$web"]}]
//! }"#)?;
//! let cloud = scenario.build()?;
//! let vm = cloud.endpoint_by_name("vm-a").expect("vm-a is attached");
//! let packet = Packet::tcp("203.0.113.7".parse()?, "192.168.0.10".parse()?, 443);
//!
//! // Any engine, through the one trait.
//! fn ingress(engine: &impl Evaluate, vm: sgeval::EndpointKey, packet: &Packet) -> sgeval::Decision {
//!     engine.evaluate(vm, Direction::Ingress, packet)
//! }
//! let oracle = ingress(&reference::Evaluator::new(&cloud), vm, &packet);
//! assert_eq!(oracle.verdict, Verdict::Allow);
//! assert_eq!(ingress(&compile::Engine::build(&cloud)?, vm, &packet), oracle);
//!
//! let live = Live::from_scenario(&scenario)?;
//! let snapshot = live.snapshot();
//! let vm_live = snapshot.cloud().endpoint_by_name("vm-a").expect("vm-a is attached");
//! assert_eq!(ingress(&*snapshot, vm_live, &packet), oracle);
//! assert_eq!(flow::trace(snapshot.cloud(), &*snapshot, &packet).verdict, Verdict::Allow);
//! # Ok(())
//! # }
//! ```
//!
//! ## Organization
//!
//! Modules in layer order, from the vocabulary to the simulators (DESIGN.md has the
//! picture). The vocabulary types are re-exported at the crate root.
//!
//! - [`packet`]: [`Packet`], the query tuple, and [`ConnState`].
//! - [`rule`]: [`Rule`], a provider-neutral rule, with [`Direction`], [`Family`],
//!   [`Action`], [`Ports`] and [`Remote`]; [`Protocol`], the one protocol name table.
//! - [`group`]: security groups, address groups, endpoints (NICs) and their keys.
//! - [`decision`]: the answer: [`Decision`], its [`Verdict`] and [`Reason`].
//! - [`cloud`]: [`Cloud`], the emulated control plane: groups, rules and endpoints,
//!   changed only through provider calls.
//! - [`provider`]: the front ends: each provider's requests validated with its own error
//!   codes and lowered to [`Rule`]s; [`Provider`], [`Options`], quotas in [`Profile`].
//! - [`limits`]: size and count limits on untrusted input, checked before parsing deeply.
//! - [`flow`]: [`flow::Evaluate`], the trait every engine implements, and a packet's way
//!   through one (egress at its source, ingress at its destination); [`flow::PacketSpec`],
//!   packets as the CLI and the corpus write them.
//! - [`reference`](mod@reference): the oracle, a linear scan written like SEMANTICS.md.
//! - [`compile`]: the compiled engine, built on the `sgeval-classifier` workspace crate.
//! - [`query`]: what-if queries: reachability, diffs, lint, why and how to fix.
//! - [`conntrack`]: a connection tracker on your clock, with each provider's timeouts.
//! - [`live`]: live updates: readers on atomic snapshots while a writer applies calls.
//! - [`scenario`]: scenario files: parsing with precise errors, replay, endpoints.
//! - [`import`], [`export`]: reading provider describe output and Terraform state into
//!   a scenario, and writing a cloud back out in those formats.
//! - `strategy` (feature `proptest`): proptest strategies for your own test suites.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod action;
pub mod cloud;
pub mod compile;
pub mod conntrack;
pub mod decision;
mod direction;
pub mod export;
mod family;
pub mod flow;
pub mod group;
mod ids;
pub mod import;
mod json_text;
mod key;
pub mod limits;
pub mod live;
mod model;
pub mod nftables;
mod options;
mod order;
pub mod packet;
mod profile;
mod protocol;
pub mod provider;
mod provider_kind;
pub mod query;
pub mod reference;
#[cfg(feature = "replay")]
pub mod replay;
mod request;
pub mod rule;
pub mod scenario;
#[cfg(feature = "proptest")]
pub mod strategy;
#[cfg(feature = "testkit")]
#[doc(hidden)]
pub mod testkit;

pub use cloud::{Cloud, Request, Response};
pub use decision::{Decision, Fallback, Reason, RuleRef, Verdict};
pub use group::{AddressGroup, Endpoint, EndpointKey, Group, GroupKey, GroupKind};
pub use packet::{ConnState, Packet};
pub use profile::Profile;
pub use protocol::Protocol;
pub use provider::{Options, Provider, Quotas};
pub use rule::{Action, Direction, Family, PortRange, Ports, Remote, Rule, RuleKey};
pub use scenario::{Scenario, ScenarioError};

// The README's Rust blocks compile and run as doc tests, so its library example stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
