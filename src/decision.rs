//! What an engine answers: the verdict and what decided it.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::group::GroupKey;
use crate::rule::RuleKey;

/// Allow or deny.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// The packet passes.
    Allow,
    /// The packet is discarded.
    Deny,
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Verdict::Allow => "allow",
            Verdict::Deny => "deny",
        })
    }
}

impl From<crate::rule::Action> for Verdict {
    fn from(action: crate::rule::Action) -> Verdict {
        match action {
            crate::rule::Action::Allow => Verdict::Allow,
            crate::rule::Action::Deny => Verdict::Deny,
        }
    }
}

/// A rule, named by its group and its own key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RuleRef {
    /// The group that holds the rule.
    pub group: GroupKey,
    /// The rule.
    pub rule: RuleKey,
}

/// Which implicit default decided when no rule did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fallback {
    /// ECS basic group, ingress, no rule matched: deny.
    EcsBasicIngress,
    /// ECS basic group, egress, no rule matched: allow.
    EcsBasicEgress,
    /// ECS advanced (enterprise) group, no rule matched: deny, both directions.
    EcsEnterprise,
    /// ENS, ingress, no rule matched: deny.
    EnsIngress,
    /// ENS, egress, no rule matched: allow by default (a switch, see SEMANTICS.md).
    EnsEgress,
    /// Huawei or Gcore: no rule of any group matched, deny.
    NoMatch,
    /// The endpoint has no security group (only where the provider allows that): deny.
    NoGroup,
}

impl fmt::Display for Fallback {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Fallback::EcsBasicIngress => "ECS basic group default: ingress denied",
            Fallback::EcsBasicEgress => "ECS basic group default: egress allowed",
            Fallback::EcsEnterprise => "ECS advanced group default: denied",
            Fallback::EnsIngress => "ENS default: ingress denied",
            Fallback::EnsEgress => "ENS default for egress",
            Fallback::NoMatch => "no rule matched: denied",
            Fallback::NoGroup => "endpoint has no security group: denied",
        })
    }
}

/// What decided a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Reason {
    /// A rule matched and decided.
    Rule(RuleRef),
    /// ECS `InnerAccessPolicy=Accept` of this basic group let members talk.
    IntraGroup {
        /// The group whose members the two endpoints both are.
        group: GroupKey,
    },
    /// No rule matched; a provider default decided.
    Default {
        /// Which default.
        fallback: Fallback,
    },
    /// The packet belongs to an established connection (Decision 2).
    Established,
    /// The packet mixes IPv4 and IPv6 addresses and cannot be evaluated: denied (Decision 8).
    MixedFamily,
}

/// A verdict and what decided it. Two engines agree when their `Decision`s are equal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Decision {
    /// Allow or deny.
    pub verdict: Verdict,
    /// What decided.
    pub reason: Reason,
}

impl Decision {
    /// A decision made by a rule.
    pub fn rule(verdict: Verdict, rule: RuleRef) -> Decision {
        Decision {
            verdict,
            reason: Reason::Rule(rule),
        }
    }

    /// A decision made by a provider default.
    pub fn fallback(verdict: Verdict, fallback: Fallback) -> Decision {
        Decision {
            verdict,
            reason: Reason::Default { fallback },
        }
    }

    /// Allowed as part of an established connection.
    pub const ESTABLISHED: Decision = Decision {
        verdict: Verdict::Allow,
        reason: Reason::Established,
    };

    /// Denied because the packet mixes address families.
    pub const MIXED_FAMILY: Decision = Decision {
        verdict: Verdict::Deny,
        reason: Reason::MixedFamily,
    };

    /// Whether the verdict is allow.
    pub fn is_allow(&self) -> bool {
        self.verdict == Verdict::Allow
    }
}
