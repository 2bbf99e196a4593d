//! Traffic direction: into or out of the endpoint whose groups decide.

use std::fmt;

use serde::{Deserialize, Serialize};

/// Traffic direction, seen from the endpoint whose groups decide.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Into the endpoint: the remote address is the packet's source.
    Ingress,
    /// Out of the endpoint: the remote address is the packet's destination.
    Egress,
}

impl Direction {
    /// Both directions, ingress first.
    pub const ALL: [Direction; 2] = [Direction::Ingress, Direction::Egress];

    /// The direction as the providers write it: `ingress`, `egress` (also its `Display`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
