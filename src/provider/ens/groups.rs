//! ENS security groups: `CreateSecurityGroup`, which also takes the group's rules
//! (`Permissions`, both families).

use super::*;

pub(super) fn create(cloud: &mut Cx<'_, '_>, mut p: Params) -> Answer {
    let name = p.text("SecurityGroupName", codes::INVALID_SECURITY_GROUP_NAME)?;
    if let Some(n) = &name {
        if !valid_name(n, 2, 128, &[':', '_', '-']) {
            return Err(bad(
                codes::INVALID_SECURITY_GROUP_NAME,
                format!(
                    "`SecurityGroupName` `{n}` must be 2 to 128 characters, start with a letter, not start with http:// or https://, and hold only letters, digits, `:`, `_` and `-`"
                ),
            ));
        }
    }
    let description = p.text("Description", codes::INVALID_DESCRIPTION)?;
    if let Some(d) = &description {
        let ok = (2..=256).contains(&d.chars().count())
            && d.chars().next().is_some_and(char::is_alphabetic)
            && !starts_with_http(d);
        if !ok {
            return Err(bad(
                codes::INVALID_DESCRIPTION,
                format!("`Description` `{d}` must be 2 to 256 characters, start with a letter and not start with http:// or https://"),
            ));
        }
    }
    let entries = p.list("Permissions", codes::INVALID_PERMISSIONS)?;
    p.finish("CreateSecurityGroup")?;
    if entries.len() > RULES_PER_GROUP || entries.last().is_some_and(|(n, _)| *n as usize > RULES_PER_GROUP) {
        return Err(bad(
            codes::AUTHORIZATION_LIMIT_EXCEED,
            format!("at most {RULES_PER_GROUP} rules (`Permissions.1` to `Permissions.{RULES_PER_GROUP}`) per group"),
        ));
    }
    let mut perms: Vec<Perm> = Vec::with_capacity(entries.len());
    let mut places: Vec<String> = Vec::with_capacity(entries.len());
    for (_, mut q) in entries {
        let at = q.field("").trim_end_matches('.').to_owned();
        let perm = parse_permission(&mut q, None, Style::Create)?;
        q.finish("CreateSecurityGroup")?;
        if let Some(i) = perms.iter().position(|other| other.spec.same_spec(&perm.spec)) {
            return Err(duplicated(&at, &format!("as `{}`", places[i])));
        }
        perms.push(perm);
        places.push(at);
    }
    if cloud.enforces_quotas() && cloud.groups().count() >= GROUPS_PER_ACCOUNT {
        return Err(bad(
            codes::QUOTA_EXCEED_SECURITY_GROUP,
            format!("the account already has {GROUPS_PER_ACCOUNT} security groups, the maximum"),
        ));
    }
    let key = cloud.next_group_key();
    let id = group_id(cloud, key);
    let rules = finish_rules(cloud, &perms);
    let name = name.unwrap_or_default();
    let description = description.unwrap_or_default();
    let shown = json!({
        "SecurityGroupId": id,
        "SecurityGroupName": name,
        "Description": description,
    });
    cloud.insert_group(Group {
        key,
        id: id.clone(),
        name,
        description,
        kind: GroupKind::Ens,
        rules: rules.into_iter().map(std::sync::Arc::new).collect(),
        shown,
    });
    Ok(created_group(id))
}

// ---- DeleteSecurityGroup, JoinSecurityGroup, LeaveSecurityGroup ----

/// `DeleteSecurityGroup` (E5): `SecurityGroupId` required; refused while an instance is in
/// the group (E5: "make sure that no instances exist in the security group"; the code,
/// `DependencyViolation` 403, is ECS's: unconfirmed for ENS). ENS groups reference no
/// groups, so nothing else can hold one.
pub(super) fn delete_group(cloud: &mut Cx<'_, '_>, mut p: Params) -> Answer {
    let key = target(cloud, &mut p)?.key;
    p.finish("DeleteSecurityGroup")?;
    alibaba::members::delete(cloud, key)
}

/// `JoinSecurityGroup` / `LeaveSecurityGroup` (E6): `SecurityGroupId` required, one of
/// `InstanceId` / `NetworkInterfaceId`. The codes are ECS's (unconfirmed for ENS).
pub(super) fn membership(cloud: &mut Cx<'_, '_>, mut p: Params, join: bool) -> Answer {
    let api = if join {
        "JoinSecurityGroup"
    } else {
        "LeaveSecurityGroup"
    };
    let key = target(cloud, &mut p)?.key;
    let nic = alibaba::members::nic(cloud, &mut p, Dialect::Ens)?;
    p.finish(api)?;
    if join {
        alibaba::members::join(cloud, nic, key, |_, _, _| Ok(()))
    } else {
        alibaba::members::leave(cloud, nic, key)
    }
}
