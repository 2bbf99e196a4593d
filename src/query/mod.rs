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

pub mod diff;
pub mod explain;
mod hop;
pub mod lint;
mod partition;
pub mod ranges;
pub mod reach;
mod render;
pub mod space;
#[doc(hidden)]
pub mod testkit;

pub use diff::{diff, Change, Diff};
pub use lint::{lint, Finding, FindingKind};
pub use ranges::Ranges;
pub use reach::{reach, Exposure, Query, Reach, Region};
pub use space::{packet_json, Mode, QueryError, Restrict, Shape, Side};
