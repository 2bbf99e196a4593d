//! Gcore calls on a group's life and an instance's groups: `DeleteSecurityGroup`
//! (`DELETE /cloud/v1/securitygroups/{project_id}/{region_id}/{group_id}`, answered 204
//! with no body, G2 `security_groups.py` `delete`), and `AssignSecurityGroup` /
//! `UnassignSecurityGroup` (`POST /cloud/v1/instances/{project_id}/{region_id}/{instance_id}/addsecuritygroup`
//! and `.../delsecuritygroup`, G2 `instances.py`), which name groups by **name**: `{"name":
//! ...}` for every port of the instance, or `{"ports_security_group_names": [{"port_id":
//! null, "security_group_names": [...]}]}`.
//!
//! An instance is an endpoint of the scenario (one port), named by its endpoint name as
//! `instance_id`. Ports are not modelled apart, so `port_id` must be `null` (all ports).

use super::*;

use crate::group::{EndpointKey, GroupKey};
use crate::model::EndpointError;

const DELETE_GROUP_PATH: &str = "/cloud/v1/securitygroups/{project_id}/{region_id}/{group_id}";
const ASSIGN_PATH: &str = "/cloud/v1/instances/{project_id}/{region_id}/{instance_id}/addsecuritygroup";
const UNASSIGN_PATH: &str = "/cloud/v1/instances/{project_id}/{region_id}/{instance_id}/delsecuritygroup";

/// `DeleteSecurityGroup`: refused while a port is in the group (`SecurityGroupInUse`, 409,
/// Neutron's `delete_security_group`, N1); the rules of other groups that reference it go
/// with it (Neutron's `remote_group_id` foreign key cascades, N6).
pub(super) fn delete_security_group(cloud: &mut Cx<'_, '_>, request: &Request) -> Result<Response, ApiError> {
    let group_id = match path_ids(request, DELETE_GROUP_PATH)? {
        Some([project, region, group_id]) => {
            tenant(project, region)?;
            group_id.to_owned()
        }
        None => id_from_body(request, "group_id", &[])?,
    };
    let key = find_group(cloud, &group_id)?.key;
    if let Some(member) = cloud.members(key).next() {
        return Err(neutron(
            409,
            "SecurityGroupInUse",
            format!(
                "Security Group {group_id} in use: instance `{}` has it",
                member.name
            ),
        ));
    }
    for (group, rule) in cloud.references_to(key) {
        cloud.remove_rules(group, &[rule]);
    }
    if !cloud.remove_group(key) {
        return Err(neutron(
            500,
            "InternalError",
            format!("security group `{group_id}` could not be removed"),
        ));
    }
    Ok(Response {
        status: 204,
        body: Value::Null,
        created: None,
    })
}

/// The instance and the group names of an assign or unassign request.
fn instance_request(
    cloud: &Cx<'_, '_>,
    request: &Request,
    template: &str,
) -> Result<(EndpointKey, Vec<String>), ApiError> {
    let (instance_id, body) = match path_ids(request, template)? {
        Some([project, region, instance_id]) => {
            tenant(project, region)?;
            (instance_id.to_owned(), body(request)?)
        }
        None => {
            let map = body(request)?;
            let id = match map.get("instance_id") {
                Some(Value::String(s)) if !s.is_empty() => s.clone(),
                _ => {
                    return Err(validation(
                        "instance_id",
                        "field required (or give the request path)",
                    ))
                }
            };
            (id, map)
        }
    };
    if let Some(k) = body
        .keys()
        .find(|k| !["name", "ports_security_group_names", "instance_id"].contains(&k.as_str()))
    {
        return Err(validation(k, "extra inputs are not permitted"));
    }
    let mut names = Vec::new();
    match (
        rest::field(body, "name"),
        rest::field(body, "ports_security_group_names"),
    ) {
        (Some(_), Some(_)) => {
            return Err(validation(
                "name",
                "give `name` or `ports_security_group_names`, not both",
            ))
        }
        (None, None) => {
            return Err(validation(
                "name",
                "field required (or `ports_security_group_names`)",
            ))
        }
        (Some(Value::String(n)), None) if !n.is_empty() => names.push(n.clone()),
        (Some(other), None) => return Err(validation("name", format!("`{other}` is not a group name"))),
        (None, Some(Value::Array(items))) if !items.is_empty() => {
            for (i, item) in items.iter().enumerate() {
                let at = format!("ports_security_group_names[{i}]");
                let Some(map) = item.as_object() else {
                    return Err(validation(&at, format!("`{item}` is not an object")));
                };
                if let Some(k) = map
                    .keys()
                    .find(|k| !["port_id", "security_group_names"].contains(&k.as_str()))
                {
                    return Err(validation(&format!("{at}.{k}"), "extra inputs are not permitted"));
                }
                match map.get("port_id") {
                    Some(Value::Null) => {}
                    None => return Err(validation(&format!("{at}.port_id"), "field required")),
                    Some(other) => {
                        return Err(validation(
                            &format!("{at}.port_id"),
                            format!("`{other}`: ports are not modelled apart from their instance; give null (every port)"),
                        ))
                    }
                }
                let list = match map.get("security_group_names") {
                    Some(Value::Array(list)) => list,
                    _ => {
                        return Err(validation(
                            &format!("{at}.security_group_names"),
                            "field required (a list of names)",
                        ))
                    }
                };
                for (j, n) in list.iter().enumerate() {
                    match n {
                        Value::String(s) if !s.is_empty() => names.push(s.clone()),
                        other => {
                            return Err(validation(
                                &format!("{at}.security_group_names[{j}]"),
                                format!("`{other}` is not a group name"),
                            ))
                        }
                    }
                }
            }
        }
        (None, Some(other)) => {
            return Err(validation(
                "ports_security_group_names",
                format!("`{other}` is not a non-empty list"),
            ))
        }
    }
    let key = cloud
        .endpoint_by_name(&instance_id)
        .ok_or_else(|| not_found(format!("instance `{instance_id}` could not be found")))?;
    Ok((key, names))
}

/// The group named `name`: exactly one Gcore group has it.
fn group_named(cloud: &Model, name: &str) -> Result<GroupKey, ApiError> {
    // The name index, not a scan of every group.
    let mut found = cloud.groups_named(name).filter(|g| g.kind == GroupKind::Gcore);
    match (found.next(), found.next()) {
        (Some(g), None) => Ok(g.key),
        (None, _) => Err(neutron(
            404,
            "SecurityGroupNotFound",
            format!("security group named `{name}` could not be found"),
        )),
        (Some(_), Some(_)) => Err(neutron(
            409,
            "NoUniqueMatch",
            format!("several security groups are named `{name}`; a name must pick one group"),
        )),
    }
}

/// `AssignSecurityGroup` (`addsecuritygroup`): appends the named groups to the instance's.
pub(super) fn assign(cloud: &mut Cx<'_, '_>, request: &Request) -> Result<Response, ApiError> {
    let (key, names) = instance_request(cloud, request, ASSIGN_PATH)?;
    let mut groups = cloud.endpoint(key).map(|e| e.groups.clone()).unwrap_or_default();
    for name in &names {
        let g = group_named(cloud, name)?;
        if groups.contains(&g) {
            return Err(neutron(
                400,
                "SecurityGroupExistsForInstance",
                format!("security group `{name}` is already associated with the instance"),
            ));
        }
        groups.push(g);
    }
    set(cloud, key, groups)
}

/// `UnassignSecurityGroup` (`delsecuritygroup`): removes the named groups from the
/// instance's; the others keep their order.
pub(super) fn unassign(cloud: &mut Cx<'_, '_>, request: &Request) -> Result<Response, ApiError> {
    let (key, names) = instance_request(cloud, request, UNASSIGN_PATH)?;
    let mut groups = cloud.endpoint(key).map(|e| e.groups.clone()).unwrap_or_default();
    for name in &names {
        let g = group_named(cloud, name)?;
        if !groups.contains(&g) {
            return Err(neutron(
                400,
                "SecurityGroupNotExistsForInstance",
                format!("security group `{name}` is not associated with the instance"),
            ));
        }
        groups.retain(|x| *x != g);
    }
    if groups.is_empty() {
        // Not modelled: an instance without security groups (sgeval's NICs have at least one).
        return Err(validation(
            "name",
            "removing every security group of the instance is not modelled (sgeval keeps at least one group per instance)",
        ));
    }
    set(cloud, key, groups)
}

fn set(cloud: &mut Cx<'_, '_>, key: EndpointKey, groups: Vec<GroupKey>) -> Result<Response, ApiError> {
    cloud
        .set_groups(key, groups, |_, _, _| Ok(()))
        .map_err(|e| match e {
            EndpointError::TooManyGroups { .. } => validation("name", e.to_string()),
            other => neutron(500, "InternalError", other.to_string()),
        })?;
    Ok(Response {
        status: 204,
        body: Value::Null,
        created: None,
    })
}
