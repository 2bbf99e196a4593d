//! The semantic switches a scenario may set (vocabulary shared by the model, the front ends
//! and the engines).

use serde::{Deserialize, Serialize};

use crate::decision::Verdict;

/// What Gcore adds to a group created without egress rules (Decision 6).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GcoreDefaults {
    /// Jan-May 2026 spec: egress allow-all for IPv4 and IPv6 when the request has no egress
    /// rule (also when `rules` is absent); `rules: []` adds nothing. The default.
    #[default]
    EgressWhenNone,
    /// July 2026 wording: `rules` absent adds an ingress and egress allow-all template;
    /// a non-empty list gets nothing appended; `[]` adds nothing.
    Template,
}

/// Whether the providers' count quotas hold on replay (see SEMANTICS.md, "Imported state").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Quotas {
    /// A call over a quota (groups per region or account, rules per group, rules across a
    /// NIC's groups, group-reference rules per group, groups per NIC) gets the provider's
    /// error. The default: `sgeval api` answers as the provider.
    #[default]
    Enforced,
    /// The scenario describes state the cloud already holds (`sgeval import` writes it):
    /// the counts it shows are the cloud's own answer, whatever quotas the account has
    /// (raised where the provider lets it, or the defaults of another time), so they are
    /// not checked. Every other check (fields, values, duplicates, per-call limits) holds.
    Lifted,
}

/// The semantic switches: where the providers' documents are silent or contradict each
/// other, SEMANTICS.md fixes a default and these let a user take the other reading.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Options {
    /// ENS, egress with no matching rule (Decision 4): allow by default.
    pub ens_egress_default: Verdict,
    /// Gcore defaults on create (Decision 6).
    pub gcore_defaults: GcoreDefaults,
    /// Huawei: the action of a rule created without `action` (Decision 5: allow; H1's
    /// response table says deny, see SEMANTICS.md "Contradictions").
    pub huawei_default_action: crate::rule::Action,
    /// Whether the count quotas hold ([`Quotas`]; imported scenarios lift them).
    pub quotas: Quotas,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ens_egress_default: Verdict::Allow,
            gcore_defaults: GcoreDefaults::EgressWhenNone,
            huawei_default_action: crate::rule::Action::Allow,
            quotas: Quotas::Enforced,
        }
    }
}
