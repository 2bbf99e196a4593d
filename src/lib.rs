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
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod action;
pub mod classbench;
pub mod cloud;
pub mod compile;
pub mod conntrack;
pub mod decision;
mod direction;
mod family;
pub mod flow;
pub mod group;
mod ids;
pub mod import;
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
pub use provider::{Options, Provider};
pub use rule::{Action, Direction, Family, PortRange, Ports, Remote, Rule, RuleKey};
pub use scenario::{Scenario, ScenarioError};
