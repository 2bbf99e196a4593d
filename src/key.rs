//! Stable keys of what the cloud holds: groups, rules, address groups, endpoints.
//!
//! A key's number is private. Only the cloud's counters mint keys
//! ([`crate::Cloud`]'s crate-private `next_*` methods, and the endpoint list's length), and
//! nothing is ever removed from a counter, so a group, rule or address-group key is never
//! reused: a [`crate::Decision`] naming a rule stays meaningful while the cloud changes. An
//! endpoint key is the endpoint's place in the list, so removing an endpoint
//! ([`crate::Cloud::detach`]) moves the later ones down by one. Users compare, order, hash,
//! print and (de)serialize keys; they get them from the cloud (`Group::key`, `Rule::key`,
//! [`crate::Cloud::endpoint_keys`], ...).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Declares a key: a `u32` newtype with a private number, `Display` as `<label>#<number>`,
/// and serde as the bare number.
macro_rules! key {
    ($(#[$doc:meta])* $name:ident, $label:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(u32);

        impl $name {
            /// The key numbered `n`. INVARIANT: only the cloud's counters (and fixtures for
            /// rules that never enter a cloud) call this, so keys are never reused.
            #[inline]
            pub(crate) const fn new(n: u32) -> $name {
                $name(n)
            }

            /// The key's number (dense from the counter's start: tables indexed by key,
            /// provider ids derived from it).
            #[inline]
            pub(crate) const fn get(self) -> u32 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($label, "#{}"), self.0)
            }
        }
    };
}

key!(
    /// Stable internal key of a security group, unique in a cloud, never reused.
    GroupKey,
    "group"
);

key!(
    /// Stable internal key of a rule, unique in a cloud (across groups), never reused.
    RuleKey,
    "rule"
);

key!(
    /// Stable internal key of an address group, unique in a cloud, never reused.
    AddressGroupKey,
    "address-group"
);

key!(
    /// Key of an endpoint: its place in the cloud's endpoint list. Stable while no endpoint
    /// is removed; [`crate::Cloud::detach`] moves the later endpoints (and keys) down by one.
    EndpointKey,
    "endpoint"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_print_with_their_kind_and_serialize_as_numbers() {
        assert_eq!(GroupKey::new(3).to_string(), "group#3");
        assert_eq!(RuleKey::new(7).to_string(), "rule#7");
        assert_eq!(AddressGroupKey::new(2).to_string(), "address-group#2");
        assert_eq!(EndpointKey::new(0).to_string(), "endpoint#0");
        assert_eq!(serde_json::to_string(&RuleKey::new(7)).unwrap(), "7");
        assert_eq!(serde_json::from_str::<GroupKey>("3").unwrap(), GroupKey::new(3));
    }
}
