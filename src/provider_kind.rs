//! The providers sgeval models: the name every layer shares (vocabulary; the front ends
//! that answer each provider's calls are in [`crate::provider`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

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

    /// How many security groups one NIC may join ([`crate::Profile::groups_per_nic`]).
    pub fn groups_per_nic(self) -> usize {
        self.profile().groups_per_nic
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
