//! A provider call and its answer, as scenarios, front ends and users exchange them
//! (vocabulary: the front ends read `Request`s and shape `Response`s without knowing the
//! [`crate::Cloud`] that dispatches them).

use serde::{Deserialize, Serialize};

/// A provider call as the scenario gives it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Alibaba RPC-style parameters (nested or flat `Permissions.1.IpProtocol` form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<serde_json::Value>,
    /// Huawei / Gcore JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<serde_json::Value>,
    /// Huawei / Gcore path (ids in the URL, e.g. `/v3/p/vpc/security-group-rules/{id}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// A provider's answer: HTTP status and body shaped as the provider's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Response {
    /// HTTP status.
    pub status: u16,
    /// Body as the provider would send it (success or error).
    pub body: serde_json::Value,
    /// The id of what the call created (a group, an address group), for `$ref`s.
    #[serde(skip)]
    pub created: Option<String>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}
