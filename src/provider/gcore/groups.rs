//! Gcore security groups: `CreateSecurityGroup` (with the default rules of Decision 6)
//! and `GetSecurityGroup`.

use super::*;

// ---- the calls ----

pub(super) fn create_security_group(
    cloud: &mut Cx<'_, '_>,
    request: &Request,
    request_id: &str,
) -> Result<Response, ApiError> {
    let (project_id, region_id) = match path_ids(request, CREATE_GROUP_PATH)? {
        Some([project, region]) => tenant(project, region)?,
        None => (1, 1),
    };
    let body = body(request)?;
    if let Some(k) = body
        .keys()
        .find(|k| !["name", "description", "rules", "tags"].contains(&k.as_str()))
    {
        return Err(validation(k, "extra inputs are not permitted"));
    }
    let name = match rest::field(body, "name") {
        Some(Value::String(s)) if s.chars().count() <= 255 => s.clone(),
        Some(Value::String(_)) => return Err(validation("name", "at most 255 characters are allowed")),
        None => return Err(validation("name", "field required")),
        Some(other) => return Err(validation("name", format!("`{other}` is not a string"))),
    };
    let description = match rest::field(body, "description") {
        None => None,
        Some(Value::String(s)) if s.chars().count() <= 255 => Some(s.clone()),
        Some(Value::String(_)) => {
            return Err(validation("description", "at most 255 characters are allowed"))
        }
        Some(other) => return Err(validation("description", format!("`{other}` is not a string"))),
    };
    let tags = tags(body)?;
    let given = match rest::field(body, "rules") {
        None => None,
        Some(Value::Array(items)) => Some(items),
        Some(other) => return Err(validation("rules", format!("`{other}` is not an array"))),
    };
    // Neutron validates each rule whole (fields, then its remote group), then duplicates.
    let mut specs = Vec::new();
    let mut remotes = Vec::new();
    for (i, item) in given.into_iter().flatten().enumerate() {
        let path = format!("rules[{i}].");
        let map = item
            .as_object()
            .ok_or_else(|| validation(&format!("rules[{i}]"), format!("`{item}` is not an object")))?;
        let spec = parse_rule(map, &path)?;
        remotes.push(resolve_remote(cloud, &spec, None, &path)?);
        specs.push(spec);
    }
    check_duplicates(&[], &specs, None)?;
    let key = cloud.next_group_key();
    let group_id = rest::uuid(cloud, SALT_GROUP, cloud.group_ordinal(key));
    // Decision 6: the defaults a create adds.
    let defaults: &[(Direction, Family)] = match (cloud.options().gcore_defaults, given) {
        (GcoreDefaults::EgressWhenNone, Some(list)) if list.is_empty() => &[],
        (GcoreDefaults::EgressWhenNone, _) if specs.iter().any(|s| s.direction == Direction::Egress) => &[],
        (GcoreDefaults::EgressWhenNone, _) => {
            &[(Direction::Egress, Family::V4), (Direction::Egress, Family::V6)]
        }
        (GcoreDefaults::Template, None) => &[
            (Direction::Ingress, Family::V4),
            (Direction::Ingress, Family::V6),
            (Direction::Egress, Family::V4),
            (Direction::Egress, Family::V6),
        ],
        (GcoreDefaults::Template, Some(_)) => &[],
    };
    for &(direction, family) in defaults {
        specs.push(RuleSpec::allow_all(direction, family));
        remotes.push(Remote::Any);
    }

    let now = rest::timestamp(cloud.call_count());
    let keys: Vec<RuleKey> = cloud.next_rule_keys(specs.len()).collect();
    let rules: Vec<Rule> = specs
        .iter()
        .zip(remotes)
        .zip(keys)
        .map(|((spec, remote), k)| {
            let id = rest::uuid(cloud, SALT_RULE, cloud.rule_ordinal(k));
            lower(spec, remote, k, id, &group_id, &now)
        })
        .collect();
    let shown = json!({
        "id": group_id,
        "name": name,
        "description": description,
        "project_id": project_id,
        "region_id": region_id,
        "revision_number": 0,
        "tags_v2": tags,
        "created_at": now,
        "updated_at": now,
    });
    cloud.insert_group(Group {
        key,
        id: group_id.clone(),
        name,
        description: description.unwrap_or_default(),
        kind: GroupKind::Gcore,
        rules: rules.into_iter().map(std::sync::Arc::new).collect(),
        shown,
    });
    finish_task(
        cloud,
        "create_security_group",
        (project_id, region_id, request_id),
        Some(("security_groups", group_id)),
    )
}

pub(super) fn get_security_group(cloud: &mut Cx<'_, '_>, request: &Request) -> Result<Response, ApiError> {
    let group_id = match path_ids(request, GET_GROUP_PATH)? {
        Some([project, region, group_id]) => {
            tenant(project, region)?;
            group_id.to_owned()
        }
        None => id_from_body(request, "group_id", &[])?,
    };
    let group = find_group(cloud, &group_id)?;
    let mut answer = group.shown.clone();
    if let Value::Object(map) = &mut answer {
        map.insert(
            "security_group_rules".into(),
            Value::Array(group.rules.iter().map(|r| Value::clone(&r.shown)).collect()),
        );
    }
    Ok(Response {
        status: 200,
        body: answer,
        created: None,
    })
}
