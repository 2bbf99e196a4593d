//! What a matching rule does: allow or deny.

use std::fmt;

use serde::{Deserialize, Serialize};

/// What a matching rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// Let the packet through (ECS/ENS `accept`, Huawei `allow`, every Gcore rule).
    Allow,
    /// Discard the packet (ECS/ENS `drop`, Huawei `deny`).
    Deny,
}

impl Action {
    /// The action as Huawei writes it: `allow`, `deny` (also its `Display`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
