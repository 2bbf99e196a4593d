//! What-if queries: reachability maps, diffs, hygiene and explanations.
//!
//! Every query works on the exact header space of a flow from X to Y: source and
//! destination address (IPv4 or IPv6), protocol, source and destination port, and ICMP
//! type and code (which only Gcore rules filter). A flow composes the egress hop at X's
//! endpoint and the ingress hop at Y's endpoint (Decision 1; an address that is not an
//! endpoint imposes nothing). Each hop is read as an ordered first-match list in the
//! provider's own order, exactly as [`crate::reference`] decides, and the space is split
//! symbolically on the boundaries of the rules until every box is decided by one entry
//! per hop ([`reach()`]). Adjacent boxes with the same verdict and deciding rules are
//! merged, so answers are small and do not depend on the order the rules were read in.
//!
//! - [`reach()`]: the partition of the traffic from X to Y into allowed and denied regions.
//! - [`diff()`]: the regions whose verdict differs between two clouds.
//! - [`lint()`]: rules that never decide, redundant rules, conflicts, traps.
//! - [`explain`]: why a hop decided as it did, and the smallest single-rule fix.
//!
//! Connection state (Decision 2): [`Mode::Established`] packets pass every hop without
//! consulting rules; a [`Mode::RoundTrip`] is allowed exactly when its new connection is,
//! because the replies are established.
//!
//! Sides ([`Side`]) are endpoint names, addresses or CIDRs, comma-separated; `internet`
//! is `0.0.0.0/0,::/0`, and `!item` takes an item out. A CIDR that holds endpoint
//! addresses covers those endpoints too: their egress hop then decides as well.
//! Packets that mix address families are not part of any answer (none exists; every
//! engine denies one).
//!
//! ```
//! use sgeval::query::{self, Query, Restrict, Side};
//! use sgeval::{Scenario, Verdict};
//!
//! let cloud = Scenario::from_json(r#"{
//!   "provider": "huawei",
//!   "calls": [
//!     {"api": "CreateSecurityGroup", "ref": "web", "body": {"security_group": {"name": "web"}}},
//!     {"api": "CreateSecurityGroupRule", "body": {"security_group_rule": {
//!        "security_group_id": "$web", "direction": "ingress", "protocol": "tcp",
//!        "multiport": "22", "remote_ip_prefix": "198.51.100.0/24", "action": "allow", "priority": 1}}}
//!   ],
//!   "endpoints": [{"name": "vm-a", "ips": ["192.168.0.10"], "groups": ["$web"]}]
//! }"#).unwrap().build().unwrap();
//!
//! // How many internet addresses can open tcp/22 on vm-a?
//! let mut q = Query::new("internet,!192.168.0.0/16".parse().unwrap(), "vm-a".parse().unwrap());
//! q.restrict.protocols = Some(Restrict::parse_protocols("tcp").unwrap());
//! q.restrict.dst_ports = Some(Restrict::parse_ports("--dport", "22").unwrap());
//! let map = query::reach(&cloud, &q).unwrap();
//! let allowed = map.exposure().into_iter().find(|e| e.verdict == Verdict::Allow).unwrap();
//! assert_eq!(allowed.src_addresses, 256);
//!
//! // A cloud decides every packet as itself.
//! assert!(query::diff(&cloud, &cloud, &query::diff::everything()).unwrap().is_equivalent());
//! ```

pub mod diff;
pub mod explain;
mod hop;
pub mod lint;
mod partition;
mod ranges;
mod reach;
mod render;
mod space;
// Builds clouds without provider calls, for the query tests and benches only.
#[cfg(any(test, feature = "testkit"))]
#[doc(hidden)]
pub mod testkit;
pub mod unresolved;

pub use diff::{diff, Diff, Difference, Marks};
pub use lint::{lint, Finding, FindingKind};
pub use ranges::{Count, Ranges};
pub use reach::{reach, Exposure, Query, Reach, Region};
pub use space::{Mode, QueryError, Restrict, Shape, Side};
