//! Exporting a [`Cloud`] as the documents users hand to [`crate::import`]: each provider's
//! describe/list answers ([`describe`]) and `terraform show -json` of a state
//! ([`terraform`]), in the published shapes the importers read (the same shapes as
//! `tests/fixtures/import/`, whose READMEs cite the sources; `import-formats.md`).
//!
//! The exporters are the other half of the import round trip (issue 17 item 4): a cloud
//! exported and imported back gives the same [`crate::Decision`] on every packet, naming
//! the same rules, except where a format renames something (listed per format below) or
//! cannot carry a fact, which the exporter refuses with [`ExportError::Unrepresentable`]
//! naming what (never a silent drop of a verdict-deciding field), or the importer marks
//! unresolved (Huawei group order in a Terraform set).
//!
//! What the model does not hold is left out rather than invented: no instance ids, subnets,
//! MAC addresses or regions the cloud was not given. The documents therefore carry:
//!
//! - every group under its id, with its name, description and the attributes the provider
//!   shows (ECS `SecurityGroupType`, `VpcId`, `RegionId`, `InnerAccessPolicy`);
//! - every rule as the provider shows it ([`crate::Rule::shown`]), in creation order
//!   (creation times count up in that order where the format has them);
//! - every endpoint as one NIC (ECS/ENS ENI, Huawei port, Gcore instance port) whose id is
//!   the endpoint's name, with its addresses and its groups in association order.
//!
//! The scenario's [`crate::Options`] (sgeval's readings where the documents are silent)
//! are no provider's data and are not written: an import starts from the defaults. Of
//! them only `ens_egress_default` changes a built cloud's verdicts.

mod alibaba;
mod gcore;
mod huawei;
mod terraform;

pub use terraform::Names;

use serde_json::Value;

use crate::{Cloud, Provider};

/// Why a cloud could not be exported.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ExportError {
    /// The format cannot carry a fact a verdict depends on.
    #[error("{format}: {subject}: `{field}` cannot be written: {reason}")]
    Unrepresentable {
        /// The format (`describe`, `terraform`).
        format: &'static str,
        /// The group, rule or endpoint concerned (its id or name).
        subject: String,
        /// The field or attribute that cannot be carried.
        field: String,
        /// Why.
        reason: String,
    },
}

impl ExportError {
    pub(crate) fn new(
        format: &'static str,
        subject: impl Into<String>,
        field: impl Into<String>,
        reason: impl Into<String>,
    ) -> ExportError {
        ExportError::Unrepresentable {
            format,
            subject: subject.into(),
            field: field.into(),
            reason: reason.into(),
        }
    }
}

/// One provider answer: the call that gives it and its JSON body.
#[derive(Clone, Debug, PartialEq)]
pub struct Answer {
    /// The call (`DescribeSecurityGroupAttribute`, `ShowSecurityGroup`,
    /// `GET /cloud/v1/securitygroups`, ...), for the reader's eye; not part of the document.
    pub call: String,
    /// The answer as the provider's CLI or SDK prints it.
    pub body: Value,
}

/// The describe/list answers that describe `cloud`, one per call, in the order a user
/// would fetch them:
///
/// - ECS: `DescribeSecurityGroups` (one per region), `DescribeSecurityGroupAttribute` per
///   group, `DescribeNetworkInterfaces`.
/// - ENS: `DescribeSecurityGroups`, `DescribeSecurityGroupAttribute` per group (rules
///   without ids, as ENS shows them, with `CreationTime`), `DescribeNetworkInterfaces`
///   (`SecurityGroupIds.SecurityGroup`).
/// - Huawei: `ShowSecurityGroup` per group (its rules inline), `ListAddressGroup`,
///   `ListPorts` (each port's groups in association order).
/// - Gcore: the group list `{count, results}` (rules inline), then per endpoint its
///   instance's `/interfaces` and `/ports` answers, joined by port id.
///
/// Renamed on the way: ENS rules have no ids in ENS answers, so the importer names each by
/// its place (`FILE#Permissions.Permission[i]`, `i` its position in its group).
///
/// # Errors
/// [`ExportError::Unrepresentable`] for a group or rule that has no provider view (a cloud
/// built without provider calls).
pub fn describe(cloud: &Cloud) -> Result<Vec<Answer>, ExportError> {
    match cloud.provider() {
        Provider::Ecs => alibaba::ecs(cloud),
        Provider::Ens => alibaba::ens(cloud),
        Provider::Huawei => huawei::describe(cloud),
        Provider::Gcore => gcore::describe(cloud),
    }
}

/// The answers as JSON lines (one compact document a line), the bundle `sgeval import`
/// reads in one pass.
pub fn json_lines(answers: &[Answer]) -> String {
    let mut out = String::new();
    for r in answers {
        out.push_str(&r.body.to_string());
        out.push('\n');
    }
    out
}

/// How Huawei endpoints are written in Terraform.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HuaweiMembers {
    /// Each endpoint a `huaweicloud_networking_port_v2` whose `security_group_ids` is a
    /// list: the association order is carried.
    #[default]
    Ports,
    /// Each endpoint a `huaweicloud_compute_instance` whose `security_group_ids` is a set
    /// (trap 19): listed sorted, so the association order of an endpoint with more than one
    /// group is not carried, and the importer marks it unresolved
    /// ([`crate::import::UnresolvedKind::GroupOrder`]).
    Instances,
}

/// Choices of the Terraform export.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TerraformOptions {
    /// How Huawei endpoints are written.
    pub huawei_members: HuaweiMembers,
}

/// `terraform show -json` of a state holding `cloud` (format version 1.0), with
/// [`TerraformOptions::default`]: every group, rule and endpoint as the provider's
/// resources, named as [`Names`] says so that addresses sort in creation order (the order
/// the importer takes rules in, where no creation time is read).
///
/// - ECS: `alicloud_security_group`, `alicloud_security_group_rule` (egress peers in the
///   ingress-named fields, trap 18; `security_group_rule_id` the rule's id, so decisions
///   name the same rules), each endpoint an `alicloud_ecs_network_interface` whose
///   `security_group_ids` is a set, listed sorted (ECS pools the groups' rules, so the
///   verdict does not depend on the order; the rule named among equals may, as for any
///   set-typed membership).
/// - ENS: `alicloud_ens_security_group` with its rules inline (`permissions`, no ids:
///   the importer names each by its place, `<address>.permissions[i]`), each endpoint an
///   `alicloud_ens_instance` (`security_id`, its first group) and one
///   `alicloud_ens_instance_security_group_attachment` per further group.
/// - Huawei: `huaweicloud_networking_secgroup` (`delete_default_rules = true`, every rule,
///   the defaults too, a `huaweicloud_networking_secgroup_rule`; the computed `rules` lists
///   them all), `huaweicloud_vpc_address_group`, endpoints as [`HuaweiMembers`] says.
/// - Gcore: the v2 line, `gcore_cloud_security_group` (its read-only
///   `security_group_rules` lists every rule), a `gcore_cloud_security_group_rule` per rule
///   (`group_id`), each endpoint a `gcore_cloud_instance` with one interface (its groups as
///   `security_groups[] {id}`, its addresses in `ip_address` and `fixed_ip_assignments`).
///
/// # Errors
/// [`ExportError::Unrepresentable`] for what a resource has no attribute for, naming the
/// rule or endpoint and the field: an ECS source-port filter (`SourcePortRange`), the
/// local address of an ECS quintuple rule, a disabled Huawei rule (`enabled`), an ENS
/// endpoint with other than one IPv4 address (`private_ip_address`), a Huawei instance
/// with more than one address of a family.
pub fn terraform(cloud: &Cloud) -> Result<Value, ExportError> {
    terraform_with(cloud, &TerraformOptions::default())
}

/// [`terraform`] with `options`.
///
/// # Errors
/// As [`terraform`].
pub fn terraform_with(cloud: &Cloud, options: &TerraformOptions) -> Result<Value, ExportError> {
    terraform::state(cloud, options)
}

/// A rule's or group's provider view as an object, or an error naming it.
pub(crate) fn view<'a>(
    format: &'static str,
    subject: &str,
    shown: &'a Value,
) -> Result<&'a serde_json::Map<String, Value>, ExportError> {
    shown.as_object().ok_or_else(|| {
        ExportError::new(
            format,
            subject,
            "shown",
            "it has no provider view (made without provider calls); nothing to export",
        )
    })
}

/// The fields a rule's provider view must have for a verdict to be read back from it
/// (the others may be absent or `null`: "all", "any", "none").
fn required(provider: Provider) -> (&'static str, &'static [&'static str]) {
    match provider {
        Provider::Ecs | Provider::Ens => (
            "Direction",
            &["Direction", "IpProtocol", "PortRange", "Policy", "Priority"],
        ),
        Provider::Huawei => ("direction", &["direction", "ethertype", "action", "priority"]),
        Provider::Gcore => ("direction", &["direction", "ethertype"]),
    }
}

/// A rule's provider view, checked: an object with every verdict-deciding field its
/// provider always shows, in the rule's direction. A view that is not (a cloud built
/// without provider calls) is an error naming the rule and the field, never a document
/// that silently says something else.
pub(crate) fn rule_view<'a>(
    format: &'static str,
    provider: Provider,
    rule: &'a crate::Rule,
) -> Result<&'a serde_json::Map<String, Value>, ExportError> {
    let v = view(format, &rule.id, &rule.shown)?;
    let (direction, fields) = required(provider);
    for f in fields {
        if v.get(*f).is_none_or(Value::is_null) {
            return Err(ExportError::new(
                format,
                &rule.id,
                *f,
                format!("the rule's {} view has no `{f}`", provider.name()),
            ));
        }
    }
    let shown = v.get(direction).and_then(Value::as_str).unwrap_or("");
    if !shown.eq_ignore_ascii_case(&rule.direction.to_string()) {
        return Err(ExportError::new(
            format,
            &rule.id,
            direction,
            format!("the view says `{shown}`, the rule is {}", rule.direction),
        ));
    }
    Ok(v)
}

/// `YYYY-MM-DDTHH:MM:SSZ`, `n` seconds after 2025-01-01T00:00:00Z (within 2025; creation
/// times that count up in creation order, where the model keeps none).
pub(crate) fn timestamp(n: usize) -> String {
    const DAYS: [u64; 12] = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
    let n = n as u64 % (365 * 86_400);
    let (mut day, secs) = (n / 86_400, n % 86_400);
    let mut month = 0;
    while day >= DAYS[month] {
        day -= DAYS[month];
        month += 1;
    }
    format!(
        "2025-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        month + 1,
        day + 1,
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// A request id in the provider's style, from a counter.
pub(crate) fn request_id(n: usize, dashed: bool) -> String {
    let hex = format!(
        "{:032X}",
        0x5E6E_0000_0000_0000_0000_0000_0000_0000u128 + n as u128
    );
    if dashed {
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..]
        )
    } else {
        hex.to_ascii_lowercase()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_count_up_in_text_order() {
        assert_eq!(timestamp(0), "2025-01-01T00:00:00Z");
        assert_eq!(timestamp(86_400 * 31 + 3661), "2025-02-01T01:01:01Z");
        assert_eq!(timestamp(86_400 * 364 + 86_399), "2025-12-31T23:59:59Z");
        let t: Vec<String> = (0..200_000).step_by(997).map(timestamp).collect();
        assert!(t.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn request_ids_look_like_the_providers() {
        assert_eq!(request_id(1, true), "5E6E0000-0000-0000-0000-000000000001");
        assert_eq!(request_id(2, false), "5e6e0000000000000000000000000002");
    }
}
