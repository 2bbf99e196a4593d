//! Which endpoint, and which direction at it, a record belongs to.
//!
//! A flow-log record is captured at one interface (an ENI, a port), in one direction. Its
//! security-group decision is that interface's hop: ingress when the traffic enters it,
//! egress when it leaves. The record is placed:
//!
//! 1. **by interface id**, when the record names one and the scenario has an endpoint of
//!    that name (imported scenarios name endpoints by their ENI or port id);
//! 2. **by address** otherwise: inbound records at the endpoint that owns `dstaddr`,
//!    outbound at the one that owns `srcaddr`.
//!
//! The direction is the record's own (Alibaba `direction`) when it has one. Huawei records
//! have none: it is inferred from the interface's own addresses, `dstaddr` its own means
//! inbound, `srcaddr` its own outbound. Where that does not settle it (neither address is the
//! interface's, or both are; an unknown interface whose record joins two endpoints, or
//! none), the record is **unplaced**, with the reason: nothing is guessed. Both lookups are
//! the cloud's maps (name to endpoint, address to endpoint), not scans.

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::cloud::Cloud;
use crate::group::EndpointKey;
use crate::rule::Direction;

use super::record::FlowRecord;

/// Why a record has no endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Unplaced {
    /// The record names no known interface and the address on its interface's side belongs
    /// to no endpoint.
    NoEndpoint,
    /// A record without a direction whose interface owns neither address.
    InterfaceOwnsNeither,
    /// A record without a direction whose interface owns both addresses.
    InterfaceOwnsBoth,
    /// A record with neither a known interface nor a direction, whose two addresses both
    /// belong to endpoints: either could have captured it.
    Ambiguous,
}

impl fmt::Display for Unplaced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Unplaced::NoEndpoint => "no endpoint of the scenario has the interface or the address",
            Unplaced::InterfaceOwnsNeither => {
                "no direction given and neither address belongs to the interface"
            }
            Unplaced::InterfaceOwnsBoth => "no direction given and both addresses belong to the interface",
            Unplaced::Ambiguous => {
                "interface unknown, no direction given, and both addresses belong to endpoints"
            }
        })
    }
}

/// Places records in one cloud.
#[derive(Clone, Copy, Debug)]
pub struct Placer<'c> {
    cloud: &'c Cloud,
}

impl<'c> Placer<'c> {
    /// A placer over `cloud`'s endpoints.
    pub fn new(cloud: &'c Cloud) -> Placer<'c> {
        Placer { cloud }
    }

    /// The endpoint and direction of a record.
    ///
    /// # Errors
    /// Why it cannot be placed.
    pub fn place(&self, record: &FlowRecord<'_>) -> Result<(EndpointKey, Direction), Unplaced> {
        let known = record.interface.and_then(|i| self.cloud.endpoint_by_name(i));
        self.place_known(record, known)
    }

    /// [`Placer::place`] with the endpoint the record's interface names already looked up
    /// (`known`: the cloud's endpoint of that name, `None` without one or without an
    /// interface).
    ///
    /// # Errors
    /// Why it cannot be placed.
    pub fn place_known(
        &self,
        record: &FlowRecord<'_>,
        known: Option<EndpointKey>,
    ) -> Result<(EndpointKey, Direction), Unplaced> {
        match (known, record.direction) {
            (Some(ep), Some(dir)) => Ok((ep, dir)),
            (Some(ep), None) => {
                let owns = |a: IpAddr| self.cloud.endpoint_by_addr(a) == Some(ep);
                match (owns(record.src), owns(record.dst)) {
                    (false, true) => Ok((ep, Direction::Ingress)),
                    (true, false) => Ok((ep, Direction::Egress)),
                    (false, false) => Err(Unplaced::InterfaceOwnsNeither),
                    (true, true) => Err(Unplaced::InterfaceOwnsBoth),
                }
            }
            (None, Some(dir)) => {
                let own = match dir {
                    Direction::Ingress => record.dst,
                    Direction::Egress => record.src,
                };
                self.cloud
                    .endpoint_by_addr(own)
                    .map(|ep| (ep, dir))
                    .ok_or(Unplaced::NoEndpoint)
            }
            (None, None) => {
                let src = self.cloud.endpoint_by_addr(record.src);
                let dst = self.cloud.endpoint_by_addr(record.dst);
                match (src, dst) {
                    (Some(ep), None) => Ok((ep, Direction::Egress)),
                    (None, Some(ep)) => Ok((ep, Direction::Ingress)),
                    (None, None) => Err(Unplaced::NoEndpoint),
                    (Some(_), Some(_)) => Err(Unplaced::Ambiguous),
                }
            }
        }
    }
}
