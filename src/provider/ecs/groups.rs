//! ECS security groups: `CreateSecurityGroup` (with its tags), `ModifySecurityGroupPolicy`
//! and `DescribeSecurityGroupAttribute`.

use super::*;

// ---- CreateSecurityGroup ----

pub(super) fn create(cloud: &mut Cx<'_, '_>, mut p: Params) -> Answer {
    let region = region_param(&mut p)?;
    let vpc = p.text("VpcId", codes::INVALID_VPC_ID_MALFORMED)?;
    let enterprise = match p
        .text("SecurityGroupType", codes::INVALID_PARAMS_GROUP_TYPE)?
        .as_deref()
    {
        None | Some("normal") => false,
        Some("enterprise") => true,
        Some(other) => {
            return Err(ApiError::new(
                400,
                codes::INVALID_PARAMS_GROUP_TYPE,
                format!("`SecurityGroupType` `{other}` must be `normal` or `enterprise`"),
            ))
        }
    };
    let vpc = match vpc {
        Some(v) => v,
        None if enterprise => {
            return Err(ApiError::new(
                400,
                codes::INVALID_PARAMS_VPC_ID_GROUP_TYPE,
                "`SecurityGroupType` `enterprise` needs a `VpcId`: only VPC instances support advanced security groups",
            ))
        }
        None => {
            return Err(ApiError::new(
                403,
                codes::INVALID_VPC_ID_NOT_FOUND,
                "`VpcId` must not be empty: the region only supports VPC instances (vpc id must not empty when only support vpc vm)",
            ))
        }
    };
    let name = p.text("SecurityGroupName", codes::INVALID_SECURITY_GROUP_NAME_MALFORMED)?;
    if let Some(n) = &name {
        if !valid_name(n, 2, 128, &[':', '_', '.', '-']) {
            return Err(ApiError::new(
                400,
                codes::INVALID_SECURITY_GROUP_NAME_MALFORMED,
                format!(
                    "`SecurityGroupName` `{n}` must be 2 to 128 characters, start with a letter, not start with http:// or https://, and hold only letters, digits, `:`, `_`, `.` and `-`"
                ),
            ));
        }
    }
    let description = p.text("Description", codes::INVALID_DESCRIPTION_MALFORMED)?;
    if let Some(d) = &description {
        if !(2..=256).contains(&d.chars().count()) || starts_with_http(d) {
            return Err(ApiError::new(
                400,
                codes::INVALID_DESCRIPTION_MALFORMED,
                format!(
                    "`Description` `{d}` must be 2 to 256 characters and not start with http:// or https://"
                ),
            ));
        }
    }
    if let Some(rg) = p.text("ResourceGroupId", codes::INVALID_RESOURCE_GROUP_NOT_FOUND)? {
        if !rg.starts_with("rg-") {
            return Err(ApiError::new(
                404,
                codes::INVALID_RESOURCE_GROUP_NOT_FOUND,
                format!("`ResourceGroupId` `{rg}` does not exist (resource group ids look like `rg-...`)"),
            ));
        }
    }
    if let Some(sm) = p.text("ServiceManaged", codes::INVALID_SERVICE_MANAGED_MALFORMED)? {
        if !sm.eq_ignore_ascii_case("true") && !sm.eq_ignore_ascii_case("false") {
            return Err(ApiError::new(
                400,
                codes::INVALID_SERVICE_MANAGED_MALFORMED,
                format!("`ServiceManaged` `{sm}` must be true or false"),
            ));
        }
    }
    tags(&mut p)?;
    p.finish("CreateSecurityGroup")?;
    // Counted only where the quota holds (imported state lifts it).
    let in_region = match cloud.enforces_quotas() {
        true => cloud
            .frontend
            .groups
            .values()
            .filter(|m| m.region == region)
            .count(),
        false => 0,
    };
    if in_region >= GROUPS_PER_REGION {
        return Err(ApiError::new(
            403,
            codes::QUOTA_EXCEED_SECURITY_GROUP,
            format!("region `{region}` already has {in_region} security groups, the maximum"),
        ));
    }
    let key = cloud.next_group_key();
    let id = group_id(cloud, key);
    let kind = if enterprise {
        GroupKind::EcsEnterprise
    } else {
        GroupKind::EcsBasic {
            inner: InnerPolicy::Accept,
        }
    };
    let name = name.unwrap_or_default();
    let description = description.unwrap_or_default();
    let shown = json!({
        "RegionId": region,
        "SecurityGroupId": id,
        "SecurityGroupName": name,
        "Description": description,
        "VpcId": vpc,
        "InnerAccessPolicy": if enterprise { "Drop" } else { "Accept" },
    });
    cloud.insert_group(Group {
        key,
        id: id.clone(),
        name,
        description,
        kind,
        rules: Vec::new(),
        shown,
    });
    cloud.effect.group = Some((key, Meta { region, vpc }));
    Ok(created_group(id))
}

/// `Tag.N.Key` / `Tag.N.Value` (and the deprecated lowercase `key` / `value`), N = 1..20.
pub(super) fn tags(p: &mut Params) -> Result<(), ApiError> {
    let entries = p.list("Tag", codes::INVALID_TAG_KEY_MALFORMED)?;
    if entries.len() > TAGS_PER_GROUP as usize || entries.last().is_some_and(|(n, _)| *n > TAGS_PER_GROUP) {
        return Err(ApiError::new(
            403,
            codes::QUOTA_EXCEED_TAGS,
            format!("at most {TAGS_PER_GROUP} tags (`Tag.1` to `Tag.{TAGS_PER_GROUP}`) may be given"),
        ));
    }
    let mut seen: Vec<String> = Vec::new();
    for (_, mut t) in entries {
        let key_field = t.field("Key");
        let key = t.text("Key", codes::INVALID_TAG_KEY_MALFORMED)?;
        let old_key = t.text("key", codes::INVALID_TAG_KEY_MALFORMED)?;
        let value = t.text("Value", codes::INVALID_TAG_VALUE_MALFORMED)?;
        let old_value = t.text("value", codes::INVALID_TAG_VALUE_MALFORMED)?;
        let key = match (key, old_key) {
            (Some(a), Some(b)) if a != b => {
                return Err(ApiError::new(
                    400,
                    codes::INVALID_TAG_KEY_MALFORMED,
                    format!("`{key_field}` `{a}` and the deprecated lowercase `key` `{b}` differ"),
                ))
            }
            (Some(k), _) | (None, Some(k)) => k,
            (None, None) => {
                return Err(ApiError::new(
                    400,
                    codes::INVALID_TAG_KEY_MALFORMED,
                    format!("`{key_field}` must not be empty"),
                ))
            }
        };
        if key.chars().count() > 128
            || key.starts_with("aliyun")
            || key.starts_with("acs:")
            || alibaba::contains_http(&key)
        {
            return Err(ApiError::new(
                400,
                codes::INVALID_TAG_KEY_MALFORMED,
                format!(
                    "`{key_field}` `{key}` must be at most 128 characters, not start with `aliyun` or `acs:` and not contain http:// or https://"
                ),
            ));
        }
        let value = value.or(old_value).unwrap_or_default();
        if value.chars().count() > 128 || alibaba::contains_http(&value) {
            return Err(ApiError::new(
                400,
                codes::INVALID_TAG_VALUE_MALFORMED,
                format!(
                    "`{}` `{value}` must be at most 128 characters and not contain http:// or https://",
                    t.field("Value")
                ),
            ));
        }
        t.finish("CreateSecurityGroup")?;
        if seen.contains(&key) {
            return Err(ApiError::new(
                400,
                codes::DUPLICATE_TAG_KEY,
                format!("tag key `{key}` is given twice (`{key_field}`)"),
            ));
        }
        seen.push(key);
    }
    Ok(())
}

// ---- ModifySecurityGroupPolicy, DescribeSecurityGroupAttribute ----

pub(super) fn modify_policy(cloud: &mut Cx<'_, '_>, mut p: Params) -> Answer {
    let target = target(cloud, &mut p)?;
    let text = p.text("InnerAccessPolicy", codes::INVALID_POLICY_MALFORMED)?;
    let (inner, shown) = match text.as_deref() {
        Some(t) if t.eq_ignore_ascii_case("accept") => (InnerPolicy::Accept, "Accept"),
        Some(t) if t.eq_ignore_ascii_case("drop") => (InnerPolicy::Drop, "Drop"),
        Some(t) => {
            return Err(bad(
                codes::INVALID_POLICY_MALFORMED,
                format!("`InnerAccessPolicy` `{t}` is invalid: only Accept and Drop are supported"),
            ))
        }
        None => {
            return Err(bad(
                codes::INVALID_POLICY_MALFORMED,
                "`InnerAccessPolicy` must be given: only Accept and Drop are supported".into(),
            ))
        }
    };
    p.finish("ModifySecurityGroupPolicy")?;
    if target.enterprise {
        // Unconfirmed code: A8 says advanced groups' policy cannot be modified but names no
        // error; this is the documented code for setting a "Policy" of an enterprise group.
        return Err(bad(
            codes::INVALID_GROUP_PARAMETER_OPERATION_DENIED,
            "the intra-group policy of an advanced (enterprise) security group is fixed to isolation and cannot be modified"
                .into(),
        ));
    }
    // `target` found the group in this call.
    let key = target.key;
    cloud.group_mut(key, |group| {
        group.kind = GroupKind::EcsBasic { inner };
        if let Value::Object(m) = &mut group.shown {
            m.insert("InnerAccessPolicy".into(), Value::String(shown.into()));
        }
    });
    Ok((Map::new(), None))
}

pub(super) fn describe(cloud: &mut Cx<'_, '_>, mut p: Params) -> Answer {
    let target = target(cloud, &mut p)?;
    let direction = match p
        .text("Direction", codes::INVALID_DIRECTION_MALFORMED)?
        .as_deref()
    {
        None | Some("all") => None,
        Some("ingress") => Some(Direction::Ingress),
        Some("egress") => Some(Direction::Egress),
        Some(other) => {
            return Err(bad(
                codes::INVALID_DIRECTION_MALFORMED,
                format!("`Direction` `{other}` must be all, ingress or egress"),
            ))
        }
    };
    p.text("NicType", codes::INVALID_NIC_TYPE_VALUE_NOT_SUPPORTED)?;
    p.text("MaxResults", codes::INVALID_MAX_RESULTS_MALFORMED)?;
    p.text("NextToken", codes::INVALID_NEXT_TOKEN_MALFORMED)?;
    p.finish("DescribeSecurityGroupAttribute")?;
    let group = target.group;
    let mut fields = into_map(group.shown.clone());
    let permissions: Vec<Value> = group
        .rules
        .iter()
        .filter(|r| direction.is_none_or(|d| d == r.direction))
        .map(|r| Value::clone(&r.shown))
        .collect();
    fields.insert("Permissions".into(), json!({ "Permission": permissions }));
    Ok((fields, None))
}

// ---- DeleteSecurityGroup, JoinSecurityGroup, LeaveSecurityGroup ----

/// `DeleteSecurityGroup` (A11): `RegionId` and `SecurityGroupId` required; refused with
/// `DependencyViolation` (403) while a NIC is in the group or a rule of another group
/// references it.
pub(super) fn delete_group(cloud: &mut Cx<'_, '_>, mut p: Params) -> Answer {
    let target = target(cloud, &mut p)?;
    let key = target.key;
    p.finish("DeleteSecurityGroup")?;
    let answer = alibaba::members::delete(cloud, key)?;
    cloud.effect.deleted = Some(key);
    Ok(answer)
}

/// `JoinSecurityGroup` (A12) / `LeaveSecurityGroup` (A13): `SecurityGroupId` required, one
/// of `InstanceId` / `NetworkInterfaceId`, `RegionId` optional (when given, the group must
/// be in it).
pub(super) fn membership(cloud: &mut Cx<'_, '_>, mut p: Params, join: bool) -> Answer {
    let api = if join {
        "JoinSecurityGroup"
    } else {
        "LeaveSecurityGroup"
    };
    let id = p.required("SecurityGroupId", codes::INVALID_SECURITY_GROUP_ID_MALFORMED)?;
    let region = match p.has("RegionId") {
        true => Some(region_param(&mut p)?),
        false => None,
    };
    let nic = alibaba::members::nic(cloud, &mut p, Dialect::Ecs)?;
    p.finish(api)?;
    let st = &cloud.frontend;
    let key = cloud
        .group_by_id(&id)
        .filter(|g| {
            region
                .as_ref()
                .is_none_or(|r| st.groups.get(&g.key).is_some_and(|m| &m.region == r))
        })
        .map(|g| g.key)
        .ok_or_else(|| {
            ApiError::new(
                404,
                codes::INVALID_SECURITY_GROUP_ID_NOT_FOUND,
                match &region {
                    Some(r) => format!("`SecurityGroupId` `{id}` does not exist in region `{r}`"),
                    None => format!("`SecurityGroupId` `{id}` does not exist"),
                },
            )
        })?;
    if join {
        let frontend = cloud.frontend;
        alibaba::members::join(cloud, nic, key, |m, name, keys| {
            frontend.check_attach(m, name, keys)
        })
    } else {
        alibaba::members::leave(cloud, nic, key)
    }
}
