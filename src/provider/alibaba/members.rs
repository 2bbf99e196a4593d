//! What ECS and ENS share about memberships: `JoinSecurityGroup`, `LeaveSecurityGroup`
//! and `DeleteSecurityGroup`'s refusal of a group still in use, with each product's codes
//! (SEMANTICS.md, "Memberships and deletion", A11-A13, E5-E6).
//!
//! A NIC is an endpoint of the scenario; `InstanceId` and `NetworkInterfaceId` both name it
//! by its endpoint name (sgeval models one NIC per instance, so the two name the same thing;
//! the parameter only chooses the not-found code).

use serde_json::{Map, Value};

use crate::group::{EndpointKey, GroupKey};
use crate::model::{EndpointError, Model, Transaction};
use crate::provider::alibaba::{missing, Dialect, Params};
use crate::provider::ApiError;

/// `InvalidParameter.Conflict` (ECS) / `InvalidParameter` (ENS): `InstanceId` and
/// `NetworkInterfaceId` together (both documents forbid it; neither names the code).
fn conflict_code(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Ecs => "InvalidParameter.Conflict",
        Dialect::Ens => "InvalidParameter",
    }
}

/// The NIC a membership call names: exactly one of `InstanceId`, `NetworkInterfaceId`.
///
/// # Errors
/// Both (`InvalidParameter.Conflict` / ENS `InvalidParameter`, 400), neither
/// (`MissingParameter`, 400), or no such endpoint (`InvalidInstanceId.NotFound` /
/// `InvalidNetworkInterfaceId.NotFound`, 404).
pub(crate) fn nic(cloud: &Model, p: &mut Params, dialect: Dialect) -> Result<EndpointKey, ApiError> {
    let instance = p.text("InstanceId", "InvalidInstanceId.Malformed")?;
    let eni = p.text("NetworkInterfaceId", "InvalidNetworkInterfaceId.Malformed")?;
    let (field, id, not_found) = match (instance, eni) {
        (Some(i), Some(n)) => {
            return Err(ApiError::new(
                400,
                conflict_code(dialect),
                format!("`InstanceId` `{i}` and `NetworkInterfaceId` `{n}` cannot be given together"),
            ))
        }
        (None, None) => return Err(missing("InstanceId")),
        (Some(i), None) => ("InstanceId", i, "InvalidInstanceId.NotFound"),
        (None, Some(n)) => ("NetworkInterfaceId", n, "InvalidNetworkInterfaceId.NotFound"),
    };
    cloud.endpoint_by_name(&id).ok_or_else(|| {
        ApiError::new(
            404,
            not_found,
            format!("`{field}` `{id}` does not exist (no endpoint of the scenario has this name)"),
        )
    })
}

/// The groups of endpoint `key`.
fn groups_of(cloud: &Model, key: EndpointKey) -> Vec<GroupKey> {
    cloud.endpoint(key).map(|e| e.groups.clone()).unwrap_or_default()
}

fn group_id(cloud: &Model, key: GroupKey) -> String {
    cloud.group(key).map(|g| g.id.clone()).unwrap_or_default()
}

/// `JoinSecurityGroup`: appends `group` to the NIC's groups.
///
/// # Errors
/// Already a member (`InvalidInstanceId.AlreadyExists`, 403); more groups than a NIC takes
/// (`InstanceSecurityGroupLimitExceeded`, 400); a group of another region or VPC, or basic
/// and advanced groups together (`InvalidInstanceId.Mismatch`, 400); more than 1,000 rules
/// across the NIC's groups (`AuthorizationLimitExceed`, 403).
pub(crate) fn join(
    txn: &mut Transaction<'_>,
    nic: EndpointKey,
    group: GroupKey,
    check: impl FnOnce(&Model, &str, &[GroupKey]) -> Result<(), EndpointError>,
) -> Result<(Map<String, Value>, Option<String>), ApiError> {
    let mut groups = groups_of(txn, nic);
    let name = txn.endpoint(nic).map(|e| e.name.clone()).unwrap_or_default();
    if groups.contains(&group) {
        return Err(ApiError::new(
            403,
            "InvalidInstanceId.AlreadyExists",
            format!("`{name}` is already in security group `{}`", group_id(txn, group)),
        ));
    }
    groups.push(group);
    txn.set_groups(nic, groups, check).map_err(|e| match e {
        EndpointError::TooManyGroups { limit, .. } => ApiError::new(
            400,
            "InstanceSecurityGroupLimitExceeded",
            format!("`{name}` is in {limit} security groups already, the most a NIC may join"),
        ),
        EndpointError::GroupsInDifferentNetworks { .. } | EndpointError::MixedEcsGroupTypes(_) => {
            ApiError::new(400, "InvalidInstanceId.Mismatch", e.to_string())
        }
        EndpointError::TooManyRules { .. } => ApiError::new(403, "AuthorizationLimitExceed", e.to_string()),
        other => ApiError::new(500, "InternalError", other.to_string()),
    })?;
    Ok((Map::new(), None))
}

/// `LeaveSecurityGroup`: removes `group` from the NIC's groups, keeping the others' order.
///
/// # Errors
/// Not a member (`InvalidSecurityGroupAssociation.NotFound`, 404); the NIC's last group
/// (`InstanceLastSecurityGroup`, 403).
pub(crate) fn leave(
    txn: &mut Transaction<'_>,
    nic: EndpointKey,
    group: GroupKey,
) -> Result<(Map<String, Value>, Option<String>), ApiError> {
    let mut groups = groups_of(txn, nic);
    let name = txn.endpoint(nic).map(|e| e.name.clone()).unwrap_or_default();
    let id = group_id(txn, group);
    if !groups.contains(&group) {
        return Err(ApiError::new(
            404,
            "InvalidSecurityGroupAssociation.NotFound",
            format!("`{name}` is not in security group `{id}`"),
        ));
    }
    if groups.len() == 1 {
        return Err(ApiError::new(
            403,
            "InstanceLastSecurityGroup",
            format!("security group `{id}` is the last security group of `{name}`; a NIC keeps at least one"),
        ));
    }
    groups.retain(|g| *g != group);
    txn.set_groups(nic, groups, |_, _, _| Ok(()))
        .map_err(|e| ApiError::new(500, "InternalError", e.to_string()))?;
    Ok((Map::new(), None))
}

/// `DeleteSecurityGroup`: removes `group` with its rules, unless a NIC is still in it or
/// (ECS) a rule of another group references it.
///
/// # Errors
/// `DependencyViolation` (403) naming the member or the referencing group.
pub(crate) fn delete(
    txn: &mut Transaction<'_>,
    group: GroupKey,
) -> Result<(Map<String, Value>, Option<String>), ApiError> {
    let id = group_id(txn, group);
    if let Some(member) = txn.members(group).next() {
        return Err(ApiError::new(
            403,
            "DependencyViolation",
            format!(
                "There is still instance(s) in the specified security group: `{}` is in `{id}`",
                member.name
            ),
        ));
    }
    if let Some((other, _)) = txn.references_to(group).first() {
        return Err(ApiError::new(
            403,
            "DependencyViolation",
            format!(
                "The specified security group has been authorized in another one: a rule of `{}` references `{id}`",
                group_id(txn, *other)
            ),
        ));
    }
    if !txn.remove_group(group) {
        return Err(ApiError::new(
            500,
            "InternalError",
            format!("security group `{id}` could not be removed"),
        ));
    }
    Ok((Map::new(), None))
}
