//! Huawei address groups: `CreateAddressGroup` and its `ip_set` entries (addresses,
//! CIDR blocks and ranges of one family).

use super::*;

// ---- CreateAddressGroup ----

pub(super) fn create_address_group(
    cloud: &mut Cx<'_, '_>,
    request: &Request,
    request_id: &str,
) -> Result<Response, ApiError> {
    check_path(request, ADDRESS_GROUPS_PATHS)?;
    let c = codes::ADDRESS_GROUP_PARAM;
    let body = body(request, c)?;
    Body::new(body, "", c).check_keys(&["address_group", "dry_run"])?;
    let dry_run = Body::new(body, "", c).bool("dry_run")?.unwrap_or(false);
    let ag = Body::new(body, "", c).object("address_group")?;
    let path = "address_group.";
    Body::new(ag, path, c).check_keys(&[
        "name",
        "description",
        "ip_version",
        "ip_set",
        "max_capacity",
        "enterprise_project_id",
    ])?;
    let err = |m: String| ApiError::new(400, c, m);
    let name = Body::new(ag, path, c)
        .str("name")?
        .ok_or_else(|| err(format!("`{path}name` is missing (1-64 characters)")))?;
    check_name(name, &format!("{path}name"), c)?;
    let description = description(ag, path, c)?;
    let family = match rest::field(ag, "ip_version") {
        Some(v) if v.as_u64() == Some(4) => Family::V4,
        Some(v) if v.as_u64() == Some(6) => Family::V6,
        None => return Err(err(format!("`{path}ip_version` is missing (4 or 6)"))),
        Some(other) => return Err(err(format!("`{path}ip_version` `{other}` is invalid (4 or 6)"))),
    };
    let capacity = match rest::field(ag, "max_capacity") {
        None => cloud.frontend.ip_set_capacity,
        Some(v) => match v.as_u64() {
            Some(n @ 1..=20) => n,
            _ => {
                return Err(err(format!(
                    "`{path}max_capacity` `{v}` is invalid (an integer 1-20)"
                )))
            }
        },
    };
    let enterprise_project_id = enterprise_project_id(ag, path, c)?;
    let items: Vec<&str> = match rest::field(ag, "ip_set") {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_str()
                    .ok_or_else(|| err(format!("invalid ip_set `{v}` in `{path}ip_set[{i}]` (a string)")))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(err(format!("`{path}ip_set` must be an array, found `{other}`"))),
    };
    if items.len() as u64 > capacity {
        return Err(err(format!(
            "`{path}ip_set` has {} entries, more than `max_capacity` {capacity}",
            items.len()
        )));
    }
    let mut entries: Vec<AddressEntry> = Vec::with_capacity(items.len());
    for (i, text) in items.iter().enumerate() {
        let entry = parse_ip_set_entry(text, family)
            .map_err(|why| err(format!("invalid ip_set `{text}` in `{path}ip_set[{i}]`: {why}")))?;
        if entries.contains(&entry) {
            return Err(err(format!("duplicate ip_set `{text}` in `{path}ip_set[{i}]`")));
        }
        entries.push(entry);
    }
    if dry_run {
        return Ok(accepted(request_id));
    }
    let key: AddressGroupKey = cloud.next_address_group_key();
    let id = rest::uuid(cloud, SALT_ADDRESS_GROUP, cloud.address_group_ordinal(key));
    let now = rest::timestamp(cloud.call_count());
    let shown = json!({
        "id": id,
        "name": name,
        "tenant_id": project_id(cloud),
        "ip_version": if family == Family::V4 { 4 } else { 6 },
        "ip_set": items,
        "max_capacity": capacity,
        "enterprise_project_id": enterprise_project_id,
        "created_at": now,
        "updated_at": now,
        "description": description,
    });
    cloud.insert_address_group(AddressGroup {
        key,
        id: id.clone(),
        name: name.to_owned(),
        family,
        entries,
        shown: shown.clone(),
    });
    Ok(Response {
        status: 201,
        body: json!({"address_group": shown, "request_id": request_id}),
        created: Some(id),
    })
}

/// One `ip_set` entry: an address, a CIDR or a `first-last` range, all of `family`.
pub(super) fn parse_ip_set_entry(text: &str, family: Family) -> Result<AddressEntry, String> {
    let wrong_family = |what: &str| format!("{what} is not {family}");
    if let Some((first, last)) = text.split_once('-') {
        let first: IpAddr = first
            .trim()
            .parse()
            .map_err(|_| format!("`{first}` is not an ip address"))?;
        let last: IpAddr = last
            .trim()
            .parse()
            .map_err(|_| format!("`{last}` is not an ip address"))?;
        if Family::of(&first) != family || Family::of(&last) != family {
            return Err(wrong_family("the range"));
        }
        if first > last {
            return Err("the range starts after it ends".to_owned());
        }
        return Ok(AddressEntry::Range(first, last));
    }
    let net = parse_prefix(text).ok_or_else(|| "not an ip address, cidr or range".to_owned())?;
    if Family::of_net(&net) != family {
        return Err(wrong_family("the address"));
    }
    Ok(AddressEntry::Net(net))
}
