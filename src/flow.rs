//! A packet's way from one address to another: the egress hop at the source endpoint, then
//! the ingress hop at the destination endpoint (Decision 1).

use serde::Serialize;
use smallvec::SmallVec;

use crate::cloud::Cloud;
use crate::decision::{Decision, Verdict};
use crate::group::EndpointKey;
use crate::packet::Packet;
use crate::rule::Direction;

/// Anything that decides a packet at one endpoint and direction.
pub trait Engine {
    /// The decision of `endpoint`'s groups for `packet` in `direction`.
    fn evaluate(&self, endpoint: EndpointKey, direction: Direction, packet: &Packet) -> Decision;
}

/// One endpoint's decision on a packet's way.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Hop {
    /// The endpoint that decides.
    pub endpoint: EndpointKey,
    /// Egress at the source, ingress at the destination.
    pub direction: Direction,
    /// What it decided.
    pub decision: Decision,
}

/// The hops of a packet and the overall verdict: allow only when every hop allows.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Flow {
    /// Egress hop (when the source is an endpoint), then ingress hop (when the destination is).
    pub hops: SmallVec<[Hop; 2]>,
    /// Allow when every hop allows. A packet between two addresses that are not endpoints
    /// meets no security group and has no hops.
    pub verdict: Verdict,
}

/// Follows `packet` through the endpoints that own its source and destination addresses.
pub fn trace(cloud: &Cloud, engine: &impl Engine, packet: &Packet) -> Flow {
    let mut hops = SmallVec::new();
    if let Some(src) = cloud.endpoint_by_addr(packet.src) {
        hops.push(Hop {
            endpoint: src,
            direction: Direction::Egress,
            decision: engine.evaluate(src, Direction::Egress, packet),
        });
    }
    if let Some(dst) = cloud.endpoint_by_addr(packet.dst) {
        hops.push(Hop {
            endpoint: dst,
            direction: Direction::Ingress,
            decision: engine.evaluate(dst, Direction::Ingress, packet),
        });
    }
    let verdict = if packet.family().is_none() {
        Verdict::Deny
    } else if hops.iter().all(|h: &Hop| h.decision.is_allow()) {
        Verdict::Allow
    } else {
        Verdict::Deny
    };
    Flow { hops, verdict }
}
