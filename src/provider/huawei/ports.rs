//! Huawei VPC v3 calls on a group's life and a port's ordered groups:
//! `DeleteSecurityGroup` (H13), `AddSecurityGroups` (`insert-security-groups`, H14),
//! `RemoveSecurityGroups` (`remove-security-groups`, H14) and the v1 `UpdatePort` (H15),
//! which sets the whole ordered list.
//!
//! A port is an endpoint of the scenario, named by its endpoint name as `port_id`. Its
//! groups are tried in list order (Decision 5), so where a group is inserted decides: `index`
//! counts from 0 (0 puts it first, `n` after the n-th group), absent appends (H14, the API
//! definition's `InsertSecurityGroupOption.index`).

use super::*;

use crate::group::{EndpointKey, GroupKey};

const PORT_INSERT_PATH: &str = "/v3/{project_id}/ports/{port_id}/insert-security-groups";
const PORT_REMOVE_PATH: &str = "/v3/{project_id}/ports/{port_id}/remove-security-groups";
const PORT_UPDATE_PATH: &str = "/v1/{project_id}/ports/{port_id}";

/// `DeleteSecurityGroup`: `DELETE /v3/{project_id}/vpc/security-groups/{security_group_id}`
/// (or `security_group_id` in the body), answered 204. Refused (409) while a port is in the
/// group (H13: "ensure that the security group is not associated with any instance"). Rules
/// of other groups that reference it are deleted with it (the v3 page says nothing of them;
/// Neutron's `remote_group_id` foreign key cascades, N6).
pub(super) fn delete_security_group(cloud: &mut Cx<'_, '_>, request: &Request) -> Result<Response, ApiError> {
    let group_id = match path_ids(request, &[GROUP_PATH])? {
        Some(ids) => {
            if request
                .body
                .as_ref()
                .and_then(Value::as_object)
                .is_some_and(|m| !m.is_empty())
            {
                return Err(param(
                    "DELETE takes no body; the path names the security group".to_owned(),
                ));
            }
            ids[1].to_owned()
        }
        None => {
            let body = body(request, codes::PARAM)?;
            Body::new(body, "", codes::PARAM).check_keys(&["security_group_id"])?;
            Body::new(body, "", codes::PARAM)
                .nonempty_str("security_group_id")?
                .ok_or_else(|| param("`security_group_id` is missing (or give the request path)".to_owned()))?
                .to_owned()
        }
    };
    let key = find_group(cloud, &group_id, ("", "security_group_id"))?.key;
    if let Some(member) = cloud.members(key).next() {
        return Err(ApiError::new(
            409,
            codes::IN_USE,
            format!(
                "security group `{group_id}` is associated with port `{}`; remove it from every port first",
                member.name
            ),
        ));
    }
    for (group, rule) in cloud.references_to(key) {
        cloud.remove_rules(group, &[rule]);
    }
    if !cloud.remove_group(key) {
        return Err(ApiError::new(
            500,
            codes::PARAM,
            format!("security group `{group_id}` could not be removed"),
        ));
    }
    Ok(Response {
        status: 204,
        body: Value::Null,
        created: None,
    })
}

/// The port and the `port` object of an insert or remove request, and `dry_run`.
fn port_request<'r>(
    cloud: &Cx<'_, '_>,
    request: &'r Request,
    template: &str,
    extra: &[&str],
) -> Result<(EndpointKey, &'r Map<String, Value>, bool), ApiError> {
    let map = body(request, codes::PARAM)?;
    let top = Body::new(map, "", codes::PARAM);
    // The v1 update has no `dry_run`.
    let keys: &[&str] = if template == PORT_UPDATE_PATH {
        &["port"]
    } else {
        &["port", "dry_run"]
    };
    let port_id = match path_ids(request, &[template])? {
        Some(ids) => {
            top.check_keys(keys)?;
            ids[1].to_owned()
        }
        None => {
            top.check_keys(&[keys, &["port_id"]].concat())?;
            top.nonempty_str("port_id")?
                .ok_or_else(|| param("`port_id` is missing (or give the request path)".to_owned()))?
                .to_owned()
        }
    };
    let dry_run = top.bool("dry_run")?.unwrap_or(false);
    let port = top.object("port")?;
    let mut allowed = vec!["security_groups"];
    allowed.extend_from_slice(extra);
    Body::new(port, "port.", codes::PARAM).check_keys(&allowed)?;
    let key = cloud.endpoint_by_name(&port_id).ok_or_else(|| {
        ApiError::new(
            404,
            codes::PORT_NOT_FOUND,
            format!("port `{port_id}` does not exist (no endpoint of the scenario has this name)"),
        )
    })?;
    Ok((key, port, dry_run))
}

/// `port.security_groups`: a non-empty list of existing groups, none twice.
fn group_list(cloud: &Cx<'_, '_>, port: &Map<String, Value>) -> Result<Vec<GroupKey>, ApiError> {
    let Some(value) = rest::field(port, "security_groups") else {
        return Err(param("`port.security_groups` is missing".to_owned()).at("port.security_groups"));
    };
    let Some(items) = value.as_array() else {
        return Err(param(format!(
            "`port.security_groups` must be a list of ids, found `{value}`"
        )));
    };
    if items.is_empty() {
        return Err(param(
            "`port.security_groups` is empty: a port without security groups is not modelled (sgeval keeps at least one group per port)".into(),
        ));
    }
    let mut keys = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let field = format!("port.security_groups[{i}]");
        let id = item
            .as_str()
            .ok_or_else(|| param(format!("`{field}` must be a security group id, found `{item}`")))?;
        let key = find_group(cloud, id, (&field, ""))?.key;
        if keys.contains(&key) {
            return Err(param(format!("`{field}`: security group `{id}` is given twice")));
        }
        keys.push(key);
    }
    Ok(keys)
}

/// The answer to a port change: the port as the provider shows it (its id and its groups in
/// order), or 202 for a dry run.
fn port_answer(cloud: &Cx<'_, '_>, key: EndpointKey, request_id: &str, dry_run: bool) -> Response {
    if dry_run {
        return accepted(request_id);
    }
    let (name, groups) = cloud.endpoint(key).map_or((String::new(), Vec::new()), |e| {
        let ids: Vec<String> = e
            .groups
            .iter()
            .filter_map(|g| cloud.group(*g).map(|g| g.id.clone()))
            .collect();
        (e.name.clone(), ids)
    });
    Response {
        status: 200,
        body: json!({"request_id": request_id, "port": {"id": name, "security_groups": groups}}),
        created: None,
    }
}

/// `AddSecurityGroups`: `PUT /v3/{project_id}/ports/{port_id}/insert-security-groups`,
/// body `{"port": {"security_groups": [...], "index": n}, "dry_run": bool}`.
pub(super) fn add_security_groups(
    cloud: &mut Cx<'_, '_>,
    request: &Request,
    request_id: &str,
) -> Result<Response, ApiError> {
    let (key, port, dry_run) = port_request(cloud, request, PORT_INSERT_PATH, &["index"])?;
    let new = group_list(cloud, port)?;
    let mut groups = cloud.endpoint(key).map(|e| e.groups.clone()).unwrap_or_default();
    if let Some(g) = new.iter().find(|g| groups.contains(g)) {
        let id = cloud.group(*g).map(|g| g.id.clone()).unwrap_or_default();
        return Err(param(format!(
            "security group `{id}` is already associated with the port"
        )));
    }
    let index = match rest::field(port, "index") {
        None => groups.len(),
        Some(v) => match v.as_u64() {
            Some(i) if i as usize <= groups.len() => i as usize,
            _ => {
                return Err(param(format!(
                    "`port.index` `{v}` must be an integer from 0 to {} (the port has {} security groups)",
                    groups.len(),
                    groups.len()
                ))
                .at("port.index"))
            }
        },
    };
    groups.splice(index..index, new);
    set_port_groups(cloud, key, groups, dry_run)?;
    Ok(port_answer(cloud, key, request_id, dry_run))
}

/// `RemoveSecurityGroups`: `PUT /v3/{project_id}/ports/{port_id}/remove-security-groups`,
/// body `{"port": {"security_groups": [...]}, "dry_run": bool}`; the others keep their order.
pub(super) fn remove_security_groups(
    cloud: &mut Cx<'_, '_>,
    request: &Request,
    request_id: &str,
) -> Result<Response, ApiError> {
    let (key, port, dry_run) = port_request(cloud, request, PORT_REMOVE_PATH, &[])?;
    let gone = group_list(cloud, port)?;
    let mut groups = cloud.endpoint(key).map(|e| e.groups.clone()).unwrap_or_default();
    if let Some(g) = gone.iter().find(|g| !groups.contains(g)) {
        let id = cloud.group(*g).map(|g| g.id.clone()).unwrap_or_default();
        return Err(param(format!(
            "security group `{id}` is not associated with the port"
        )));
    }
    groups.retain(|g| !gone.contains(g));
    if groups.is_empty() {
        // Not modelled: a port without security groups (sgeval's NICs have at least one).
        return Err(param(
            "removing every security group of the port is not modelled (sgeval keeps at least one group per port)".into(),
        ));
    }
    set_port_groups(cloud, key, groups, dry_run)?;
    Ok(port_answer(cloud, key, request_id, dry_run))
}

/// Sets the port's groups (a dry run only checks); past the per-port limit (five, H12)
/// the call is refused.
fn set_port_groups(
    cloud: &mut Cx<'_, '_>,
    key: EndpointKey,
    groups: Vec<GroupKey>,
    dry_run: bool,
) -> Result<(), ApiError> {
    let limit = cloud.provider().groups_per_nic();
    if dry_run && groups.len() > limit {
        return Err(param(format!(
            "a port may be associated with at most {limit} security groups; this would make {}",
            groups.len()
        )));
    }
    if dry_run {
        return Ok(());
    }
    cloud
        .set_groups(key, groups, |_, _, _| Ok(()))
        .map_err(|e| match e {
            EndpointError::TooManyGroups { count, limit, .. } => param(format!(
                "a port may be associated with at most {limit} security groups; this would make {count}"
            )),
            other => param(other.to_string()),
        })
}

/// `UpdatePort` (v1): `PUT /v1/{project_id}/ports/{port_id}`, body `{"port":
/// {"security_groups": [ids]}}`, sets the port's groups to the list in its order (H15: "you
/// can update the security group of the cloud service resource that the port belongs to").
/// The port's other attributes (name, address pairs, DHCP options) are not modelled and
/// refused. Answers `{"port": {"id", "security_groups"}}`.
pub(super) fn update_port(cloud: &mut Cx<'_, '_>, request: &Request) -> Result<Response, ApiError> {
    let (key, port, _) = port_request(cloud, request, PORT_UPDATE_PATH, &[])?;
    let groups = group_list(cloud, port)?;
    set_port_groups(cloud, key, groups, false)?;
    let mut answer = port_answer(cloud, key, "", false);
    if let Value::Object(map) = &mut answer.body {
        // v1 answers carry no request id.
        map.remove("request_id");
    }
    Ok(answer)
}
