//! Telling a document's format and provider from its keys (import-formats.md section 5).
//!
//! Terraform: `format_version` with `values`/`planned_values`/`resource_changes`/
//! `prior_state`, or a raw state (`version` 4 with `resources`). Alibaba: PascalCase
//! response keys; ENS is told from ECS by fields only one of them has. Huawei and Gcore:
//! snake_case, told apart by their list envelopes (`page_info` vs `{count, results}`) and
//! fields (`multiport`, `revision_number`, `ip_assignments`).

use serde_json::{Map, Value};

use crate::Provider;

/// What kind of document.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Format {
    /// A provider's describe/list API answer (CLI or SDK output).
    Describe,
    /// `terraform show -json` of a state or plan, or a raw `.tfstate`.
    Terraform,
}

impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Describe => "describe",
            Format::Terraform => "terraform",
        })
    }
}

/// The cloud a describe document belongs to, as far as its keys tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Vendor {
    /// Alibaba Cloud: ECS or ENS (the same response envelope).
    Alibaba,
    /// Huawei Cloud.
    Huawei,
    /// Gcore.
    Gcore,
}

impl Vendor {
    /// The vendor of a provider.
    pub fn of(provider: Provider) -> Vendor {
        match provider {
            Provider::Ecs | Provider::Ens => Vendor::Alibaba,
            Provider::Huawei => Vendor::Huawei,
            Provider::Gcore => Vendor::Gcore,
        }
    }
}

/// What a document looks like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Detection {
    /// Its format.
    pub format: Format,
    /// Its vendor, when the keys tell.
    pub vendor: Option<Vendor>,
    /// Its provider, when the keys tell (for Alibaba: when ECS-only or ENS-only fields are
    /// present).
    pub provider: Option<Provider>,
}

/// The body of a Tea-SDK response dump `{"headers", "statusCode", "body"}` (trap 1, E9), or
/// the value itself.
pub fn unwrap_envelope(value: &Value) -> &Value {
    match value.as_object() {
        Some(o) if o.contains_key("body") && (o.contains_key("statusCode") || o.contains_key("headers")) => {
            &o["body"]
        }
        _ => value,
    }
}

/// Whether a document is Terraform JSON.
pub fn is_terraform(value: &Value) -> bool {
    let Some(o) = value.as_object() else { return false };
    let show = o.contains_key("format_version")
        && [
            "values",
            "planned_values",
            "resource_changes",
            "prior_state",
            "configuration",
        ]
        .iter()
        .any(|k| o.contains_key(*k));
    // A raw state: version 4 (`resources`), or an older one (`modules`, version 3) that the
    // Terraform reader then refuses with its own message.
    let raw = match o.get("version").and_then(Value::as_u64) {
        Some(4) => o.get("resources").is_some_and(Value::is_array),
        Some(_) => {
            (o.contains_key("lineage") || o.contains_key("serial"))
                && (o.get("resources").is_some_and(Value::is_array)
                    || o.get("modules").is_some_and(Value::is_array))
        }
        None => false,
    };
    show || raw || (o.contains_key("format_version") && o.contains_key("terraform_version"))
}

const ALIBABA_KEYS: &[&str] = &[
    "Permissions",
    "SecurityGroups",
    "NetworkInterfaceSets",
    "Instances",
    "PrefixListId",
    "PrefixLists",
    "SecurityGroupId",
    "RequestId",
    "InnerAccessPolicy",
    "EnsRegionId",
];

const HUAWEI_KEYS: &[&str] = &[
    "security_group",
    "security_groups",
    "security_group_rules",
    "security_group_rule",
    "address_groups",
    "address_group",
    "ports",
    "port",
    "page_info",
    "request_id",
    "security_group_rules_links",
    "ports_links",
    "servers",
];

/// Detects a document's format and provider.
pub fn detect(value: &Value) -> Detection {
    let value = unwrap_envelope(value);
    if is_terraform(value) {
        return Detection {
            format: Format::Terraform,
            vendor: None,
            provider: None,
        };
    }
    let mut out = Detection {
        format: Format::Describe,
        vendor: None,
        provider: None,
    };
    match value {
        // An array of pages: the first page that tells decides.
        Value::Array(pages) => {
            for page in pages {
                let d = detect(page);
                if d.vendor.is_some() {
                    out.vendor = d.vendor;
                    out.provider = out.provider.or(d.provider);
                    if out.provider.is_some() {
                        break;
                    }
                }
            }
        }
        Value::Object(o) => {
            if ALIBABA_KEYS.iter().any(|k| o.contains_key(*k)) {
                out.vendor = Some(Vendor::Alibaba);
                let mut ev = Evidence::default();
                ev.walk(value, 0, None);
                out.provider = match (ev.ecs, ev.ens) {
                    (true, false) => Some(Provider::Ecs),
                    (false, true) => Some(Provider::Ens),
                    _ => None,
                };
            } else if is_gcore(o) {
                out.vendor = Some(Vendor::Gcore);
                out.provider = Some(Provider::Gcore);
            } else if HUAWEI_KEYS.iter().any(|k| o.contains_key(*k)) {
                out.vendor = Some(Vendor::Huawei);
                out.provider = Some(Provider::Huawei);
            }
        }
        _ => {}
    }
    out
}

/// Gcore: `{count, results}` lists, or a group object with Gcore-only fields.
fn is_gcore(o: &Map<String, Value>) -> bool {
    (o.contains_key("count") && o.contains_key("results"))
        || (o.contains_key("security_group_rules")
            && (o.contains_key("revision_number")
                || o.contains_key("region_id")
                || o.contains_key("tags_v2")))
        || o.contains_key("ip_assignments")
        // A single Gcore object (an instance, a group) carries its numeric region.
        || o.get("region_id").is_some_and(Value::is_number)
}

/// Fields only ECS or only ENS answers carry (import-formats.md 1.1, 1.2; trap 9).
#[derive(Default)]
struct Evidence {
    ecs: bool,
    ens: bool,
}

impl Evidence {
    fn walk(&mut self, v: &Value, depth: usize, parent: Option<&str>) {
        if depth > 8 {
            return;
        }
        match v {
            Value::Array(items) => {
                for item in items {
                    self.walk(item, depth + 1, parent);
                }
            }
            Value::Object(o) => {
                for (k, child) in o {
                    match (parent, k.as_str()) {
                        (_, "EnsRegionId" | "InstanceIds" | "NetworkInterfaceIds") => self.ens = true,
                        (Some("Permission"), "CreationTime") => self.ens = true,
                        (Some("SecurityGroupIds"), "SecurityGroup") => self.ens = true,
                        (Some("NetworkInterfaces"), "NetworkInterfaces") => self.ens = true,
                        (
                            _,
                            "SecurityGroupRuleId"
                            | "NicType"
                            | "InnerAccessPolicy"
                            | "SecurityGroupType"
                            | "VpcAttributes"
                            | "PrefixListId"
                            | "PortRangeListId"
                            | "ServiceManaged",
                        ) => self.ecs = true,
                        (Some("Permission"), "CreateTime") => self.ecs = true,
                        (Some("NetworkInterfaces"), "NetworkInterface") => self.ecs = true,
                        (Some("SecurityGroup"), "VpcId") => self.ecs = true,
                        _ => {}
                    }
                    self.walk(child, depth + 1, Some(k.as_str()));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn ecs_attribute_is_ecs() {
        let d = detect(
            &json!({"SecurityGroupId": "sg-1", "InnerAccessPolicy": "Accept", "Permissions": {"Permission": []}}),
        );
        assert_eq!(
            (d.vendor, d.provider),
            (Some(Vendor::Alibaba), Some(Provider::Ecs))
        );
    }

    #[test]
    fn ens_rule_creation_time_is_ens() {
        let d = detect(
            &json!({"SecurityGroupId": "sg-1", "Permissions": {"Permission": [{"CreationTime": "x"}]}}),
        );
        assert_eq!(d.provider, Some(Provider::Ens));
    }

    #[test]
    fn ens_nic_group_wrapping_is_ens() {
        let d = detect(
            &json!({"NetworkInterfaceSets": {"NetworkInterfaceSet": [{"SecurityGroupIds": {"SecurityGroup": ["sg-1"]}}]}}),
        );
        assert_eq!(d.provider, Some(Provider::Ens));
    }

    #[test]
    fn an_alibaba_document_without_tell_tale_fields_is_undecided() {
        let d = detect(&json!({"SecurityGroupId": "sg-1", "Permissions": {"Permission": []}}));
        assert_eq!((d.vendor, d.provider), (Some(Vendor::Alibaba), None));
    }

    #[test]
    fn tea_envelope_is_looked_through() {
        let d = detect(
            &json!({"headers": {}, "statusCode": 200, "body": {"SecurityGroups": {"SecurityGroup": [{"SecurityGroupType": "normal"}]}}}),
        );
        assert_eq!(d.provider, Some(Provider::Ecs));
    }

    #[test]
    fn huawei_and_gcore_are_told_apart() {
        assert_eq!(
            detect(&json!({"security_groups": [], "page_info": {}})).provider,
            Some(Provider::Huawei)
        );
        assert_eq!(
            detect(&json!({"count": 0, "results": []})).provider,
            Some(Provider::Gcore)
        );
        assert_eq!(
            detect(&json!({"id": "x", "security_group_rules": [], "revision_number": 1})).provider,
            Some(Provider::Gcore)
        );
    }

    #[test]
    fn terraform_is_terraform() {
        assert_eq!(
            detect(&json!({"format_version": "1.0", "values": {}})).format,
            Format::Terraform
        );
        assert_eq!(
            detect(&json!({"version": 4, "resources": []})).format,
            Format::Terraform
        );
        assert_eq!(
            detect(&json!({"version": 3, "serial": 1, "lineage": "x", "modules": []})).format,
            Format::Terraform
        );
        assert_eq!(
            detect(&json!({"version": 3, "modules": []})).format,
            Format::Describe
        );
    }

    #[test]
    fn unknown_shapes_have_no_vendor() {
        assert_eq!(detect(&json!({"Vpcs": {"Vpc": []}})).vendor, None);
        assert_eq!(detect(&json!(42)).vendor, None);
    }
}
