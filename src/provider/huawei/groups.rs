//! Huawei security groups: `CreateSecurityGroup` (with the four default rules, H4b) and
//! `ShowSecurityGroup`.

use super::*;

// ---- CreateSecurityGroup ----

pub(super) fn create_security_group(
    cloud: &mut Cx<'_, '_>,
    request: &Request,
    request_id: &str,
) -> Result<Response, ApiError> {
    check_path(request, &[GROUPS_PATH])?;
    let body = body(request, codes::PARAM)?;
    Body::new(body, "", codes::PARAM).check_keys(&["security_group", "dry_run"])?;
    let dry_run = Body::new(body, "", codes::PARAM)
        .bool("dry_run")?
        .unwrap_or(false);
    let sg = Body::new(body, "", codes::PARAM).object("security_group")?;
    let path = "security_group.";
    Body::new(sg, path, codes::PARAM).check_keys(&[
        "name",
        "description",
        "enterprise_project_id",
        "tags",
    ])?;
    let name = Body::new(sg, path, codes::PARAM)
        .str("name")?
        .ok_or_else(|| param(format!("`{path}name` is missing (1-64 characters)")))?;
    check_name(name, &format!("{path}name"), codes::PARAM)?;
    let description = description(sg, path, codes::PARAM)?;
    let enterprise_project_id = enterprise_project_id(sg, path, codes::PARAM)?;
    let tags = tags(sg, path)?;
    let state = cloud.frontend;
    if cloud.enforces_quotas() && cloud.groups().count() >= state.group_quota {
        return Err(ApiError::new(
            409,
            codes::GROUP_QUOTA,
            format!(
                "quota exceeded for resources: ['security_group'] (at most {} groups)",
                state.group_quota
            ),
        ));
    }
    if dry_run {
        return Ok(accepted(request_id));
    }

    let key = cloud.next_group_key();
    let group_id = rest::uuid(cloud, SALT_GROUP, cloud.group_ordinal(key));
    let project_id = project_id(cloud);
    let now = rest::timestamp(cloud.call_count());
    // The order of the seed example (003): ingress IPv6, egress IPv6, egress IPv4, ingress IPv4.
    let defaults = [
        (Direction::Ingress, Family::V6),
        (Direction::Egress, Family::V6),
        (Direction::Egress, Family::V4),
        (Direction::Ingress, Family::V4),
    ];
    let keys: Vec<RuleKey> = cloud.next_rule_keys(defaults.len()).collect();
    let rules: Vec<Rule> = defaults
        .iter()
        .zip(keys)
        .map(|(&(direction, family), rule_key)| {
            let spec = RuleSpec {
                direction,
                family,
                protocol: None,
                protocol_text: None,
                ports: Vec::new(),
                multiport_text: None,
                remote: match direction {
                    Direction::Ingress => RemoteSpec::Group(group_id.clone()),
                    Direction::Egress => RemoteSpec::None,
                },
                action: Action::Allow,
                priority: 100,
                enabled: true,
                description: String::new(),
            };
            let remote = match direction {
                Direction::Ingress => Remote::Group(key),
                Direction::Egress => Remote::Any,
            };
            lower(cloud, &spec, remote, rule_key, &group_id, &project_id, &now)
        })
        .collect();
    let shown = json!({
        "id": group_id,
        "name": name,
        "project_id": project_id,
        "description": description,
        "enterprise_project_id": enterprise_project_id,
        "tags": tags,
        "created_at": now,
        "updated_at": now,
    });
    let mut answer = shown.clone();
    if let Value::Object(map) = &mut answer {
        map.insert(
            "security_group_rules".into(),
            Value::Array(rules.iter().map(|r| Value::clone(&r.shown)).collect()),
        );
    }
    cloud.insert_group(Group {
        key,
        id: group_id.clone(),
        name: name.to_owned(),
        description,
        kind: GroupKind::Huawei,
        rules: rules.into_iter().map(std::sync::Arc::new).collect(),
        shown,
    });
    Ok(Response {
        status: 201,
        body: json!({"request_id": request_id, "security_group": answer}),
        created: Some(group_id),
    })
}

pub(super) fn show_security_group(
    cloud: &mut Cx<'_, '_>,
    request: &Request,
    request_id: &str,
) -> Result<Response, ApiError> {
    let group_id = match path_ids(request, &[GROUP_PATH])? {
        Some(ids) => ids[1].to_owned(),
        None => {
            let body = body(request, codes::PARAM)?;
            Body::new(body, "", codes::PARAM).check_keys(&["security_group_id"])?;
            Body::new(body, "", codes::PARAM)
                .str("security_group_id")?
                .ok_or_else(|| param("`security_group_id` is missing".to_owned()))?
                .to_owned()
        }
    };
    let group = find_group(cloud, &group_id, ("", "security_group_id"))?;
    let mut answer = group.shown.clone();
    if let Value::Object(map) = &mut answer {
        map.insert(
            "security_group_rules".into(),
            Value::Array(group.rules.iter().map(|r| Value::clone(&r.shown)).collect()),
        );
    }
    Ok(Response {
        status: 200,
        body: json!({"request_id": request_id, "security_group": answer}),
        created: None,
    })
}
