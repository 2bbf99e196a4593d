//! Alibaba Cloud ECS (2014-05-26) security groups: `CreateSecurityGroup`, the rule calls
//! `AuthorizeSecurityGroup[Egress]` / `RevokeSecurityGroup[Egress]`,
//! `ModifySecurityGroupPolicy` and `DescribeSecurityGroupAttribute`, validated with ECS's own
//! error codes (seeds 000/001, provider-semantics.md section 1, the current API reference
//! error tables) and lowered to [`crate::Rule`]s.
//!
//! Readings fixed here (SEMANTICS.md states them):
//! - Every group is a VPC group: `VpcId` is required (seed 000/001: 403
//!   `InvalidVpcId.NotFound` "vpc id must not empty when only support vpc vm"); an
//!   `enterprise` group without one answers `InvalidParams.VpcIdGroupType`. VPCs are not
//!   modelled, so any non-empty id exists; `ResourceGroupId` must look like `rg-...`.
//! - `RegionId` must be `xx-yyy`-shaped (lowercase letters, digits, `-`); groups are
//!   regional: rule calls name the group's region or get `InvalidSecurityGroupId.NotFound`.
//!   A referenced group must be in that region too (else `Invalid{Source,Dest}GroupId.NotFound`,
//!   404: it does not exist there) and in the group's VPC (else `...GroupId.Mismatch`).
//! - A CIDR with host bits set is accepted and read as its network (`10.1.2.3/8` is
//!   `10.0.0.0/8`); a bare address is a /32 or /128.
//! - Source precedence (A6): a CIDR beats a group reference, which is then ignored
//!   entirely; a prefix list is ignored when anything else is given, and a prefix list
//!   alone is refused (`InvalidParameter.PrefixListUnsupported`): prefix lists are not
//!   modelled. Cross-account owner fields (`SourceGroupOwnerAccount`, ...) are accepted and
//!   ignored: the referenced group must exist in the scenario.
//! - A rule's family comes from its remote CIDR, else its local CIDR (quintuple
//!   `DestCidrIp` on ingress, `SourceCidrIp` on egress), else the protocol (ICMP: IPv4,
//!   ICMPv6: IPv6); a pure group reference of another protocol has no family and matches
//!   members' addresses of both families.
//! - A NIC joins groups of one region and VPC only (JoinSecurityGroup), holding at most
//!   1,000 rules across them (A1, A6): checked when a NIC attaches
//!   ([`crate::Cloud::attach`]) and when a rule call would pass it for a NIC already attached
//!   (`AuthorizationLimitExceed`, the per-group limit's code: unconfirmed for this limit).
//! - The 20-reference limit counts rules that reference a group (the error text of
//!   `AuthorizedGroupRule.LimitExceed` and the limits page: "up to 20 such rules").
//! - A rule that exists already, or that an earlier entry of the same request gives, is
//!   not created again and the call succeeds (A6).
//! - Revoking by rule fields matches every field as Authorize reads them (defaults
//!   included: `Policy` accept); `Priority` only counts when given. No match: success,
//!   nothing removed. Revoking by `SecurityGroupRuleId.N` fails for an id that is not a
//!   rule of the group in that direction (`InvalidParam.SecurityGroupRuleId`, July 2024).
//! - Parameters ECS does not define for the API, or that sgeval does not model, are
//!   refused (`InvalidParameter`) instead of ignored, so a misspelt field cannot widen a
//!   rule (Decision 8).
//! - `ClientToken` makes every changing call idempotent: the same token with the same
//!   parameters answers as the first call did and changes nothing; with other parameters
//!   `IdempotentParameterMismatch` (400). Only successful calls are remembered.

pub(crate) mod rules;

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::cloud::{Cloud, EndpointError, Request, Response};
use crate::group::{Group, GroupKey, GroupKind, InnerPolicy};
use crate::provider::alibaba::{
    self, check_proto_family, cidr, created_group, group_id, into_map, net_text, one_family, parse_policy,
    port_range, port_text, starts_with_http, valid_name, Dialect, Params, PortError, Proto, RuleSpec,
};
use crate::provider::{ApiError, Provider, State as ProviderState};
use crate::rule::{Action, Direction, Family, Remote, RuleKey};

/// The API names this front end answers.
pub const APIS: &[&str] = &[
    "CreateSecurityGroup",
    "AuthorizeSecurityGroup",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroup",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupPolicy",
    "DescribeSecurityGroupAttribute",
];

/// Security groups per region (A4: "at least 100"; the default quota).
pub const GROUPS_PER_REGION: usize = 100;
/// Inbound plus outbound rules per group (A6).
pub const RULES_PER_GROUP: usize = 200;
/// Rules per basic group that reference another group (A2, `AuthorizedGroupRule.LimitExceed`).
pub const GROUP_RULES_PER_GROUP: usize = 20;
/// `Permissions.N` / `SecurityGroupRuleId.N` entries per call (A6).
pub const ENTRIES_PER_CALL: u32 = 100;
/// `Tag.N` entries per group (seed 001).
pub const TAGS_PER_GROUP: u32 = 20;
/// Rules across all groups of one NIC (A1, A6: "cannot exceed 1,000").
pub const RULES_PER_NIC: usize = 1000;

/// Bookkeeping of this front end: idempotency tokens and each group's region and VPC.
#[derive(Clone, Debug, Default)]
pub(crate) struct State {
    tokens: BTreeMap<String, Remembered>,
    groups: BTreeMap<GroupKey, Meta>,
}

/// A successful call made with a `ClientToken`.
#[derive(Clone, Debug)]
struct Remembered {
    api: String,
    params: Value,
    fields: Map<String, Value>,
    created: Option<String>,
}

/// Where a group lives.
#[derive(Clone, Debug)]
struct Meta {
    region: String,
    vpc: String,
}

type Answer = Result<(Map<String, Value>, Option<String>), ApiError>;

pub(crate) fn call(cloud: &mut Cloud, api: &str, request: &Request) -> Response {
    match run(cloud, api, request) {
        Ok((fields, created)) => alibaba::ok(cloud, Dialect::Ecs, fields, created),
        Err(e) => alibaba::error(cloud, Dialect::Ecs, e),
    }
}

fn internal() -> ApiError {
    ApiError::new(
        500,
        "InternalError",
        "the ECS front end has no state in this cloud",
    )
}

fn state(cloud: &Cloud) -> Result<&State, ApiError> {
    match &cloud.state {
        ProviderState::Ecs(s) => Ok(s),
        _ => Err(internal()),
    }
}

fn state_mut(cloud: &mut Cloud) -> Result<&mut State, ApiError> {
    match &mut cloud.state {
        ProviderState::Ecs(s) => Ok(s),
        _ => Err(internal()),
    }
}

fn run(cloud: &mut Cloud, api: &str, request: &Request) -> Answer {
    let mut params = Params::parse(request)?;
    if api == "DescribeSecurityGroupAttribute" {
        return describe(cloud, params);
    }
    let canonical = params.canonical("ClientToken");
    // Unconfirmed code: ECS documents the 64-ASCII rule but no error for breaking it.
    let token = params.text("ClientToken", "InvalidClientToken.Malformed")?;
    if let Some(t) = &token {
        if t.len() > 64 || !t.is_ascii() {
            return Err(ApiError::new(
                400,
                "InvalidClientToken.Malformed",
                format!("`ClientToken` `{t}` must be at most 64 ASCII characters"),
            ));
        }
        if let Some(prev) = state(cloud)?.tokens.get(t) {
            if prev.api == api && prev.params == canonical {
                return Ok((prev.fields.clone(), prev.created.clone()));
            }
            return Err(ApiError::new(
                400,
                "IdempotentParameterMismatch",
                format!("`ClientToken` `{t}` was used before by a request with other parameters"),
            ));
        }
    }
    let (fields, created) = match api {
        "CreateSecurityGroup" => create(cloud, params)?,
        "AuthorizeSecurityGroup" => authorize(cloud, params, Direction::Ingress, api)?,
        "AuthorizeSecurityGroupEgress" => authorize(cloud, params, Direction::Egress, api)?,
        "RevokeSecurityGroup" => revoke(cloud, params, Direction::Ingress, api)?,
        "RevokeSecurityGroupEgress" => revoke(cloud, params, Direction::Egress, api)?,
        "ModifySecurityGroupPolicy" => modify_policy(cloud, params)?,
        other => {
            return Err(ApiError::new(
                400,
                "InvalidAction.NotFound",
                format!("`{other}` is not an ECS security group API ({})", APIS.join(", ")),
            ))
        }
    };
    if let Some(t) = token {
        state_mut(cloud)?.tokens.insert(
            t,
            Remembered {
                api: api.to_owned(),
                params: canonical,
                fields: fields.clone(),
                created: created.clone(),
            },
        );
    }
    Ok((fields, created))
}

/// Region ids are lowercase `area-place[-n]` (`cn-hangzhou`, `eu-central-1`).
fn valid_region(region: &str) -> bool {
    region.len() <= 64
        && region.contains('-')
        && !region.starts_with('-')
        && !region.ends_with('-')
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn region_param(p: &mut Params) -> Result<String, ApiError> {
    let region = p.required("RegionId", "InvalidRegionId.Malformed")?;
    if !valid_region(&region) {
        return Err(ApiError::new(
            404,
            "InvalidRegionId.NotFound",
            format!("`RegionId` `{region}` is not a region id (lowercase, such as `cn-hangzhou`)"),
        ));
    }
    Ok(region)
}

// ---- CreateSecurityGroup ----

fn create(cloud: &mut Cloud, mut p: Params) -> Answer {
    let region = region_param(&mut p)?;
    let vpc = p.text("VpcId", "InvalidVpcId.Malformed")?;
    let enterprise = match p.text("SecurityGroupType", "InvalidParams.GroupType")?.as_deref() {
        None | Some("normal") => false,
        Some("enterprise") => true,
        Some(other) => {
            return Err(ApiError::new(
                400,
                "InvalidParams.GroupType",
                format!("`SecurityGroupType` `{other}` must be `normal` or `enterprise`"),
            ))
        }
    };
    let vpc = match vpc {
        Some(v) => v,
        None if enterprise => {
            return Err(ApiError::new(
                400,
                "InvalidParams.VpcIdGroupType",
                "`SecurityGroupType` `enterprise` needs a `VpcId`: only VPC instances support advanced security groups",
            ))
        }
        None => {
            return Err(ApiError::new(
                403,
                "InvalidVpcId.NotFound",
                "`VpcId` must not be empty: the region only supports VPC instances (vpc id must not empty when only support vpc vm)",
            ))
        }
    };
    let name = p.text("SecurityGroupName", "InvalidSecurityGroupName.Malformed")?;
    if let Some(n) = &name {
        if !valid_name(n, 2, 128, &[':', '_', '.', '-']) {
            return Err(ApiError::new(
                400,
                "InvalidSecurityGroupName.Malformed",
                format!(
                    "`SecurityGroupName` `{n}` must be 2 to 128 characters, start with a letter, not start with http:// or https://, and hold only letters, digits, `:`, `_`, `.` and `-`"
                ),
            ));
        }
    }
    let description = p.text("Description", "InvalidDescription.Malformed")?;
    if let Some(d) = &description {
        if !(2..=256).contains(&d.chars().count()) || starts_with_http(d) {
            return Err(ApiError::new(
                400,
                "InvalidDescription.Malformed",
                format!(
                    "`Description` `{d}` must be 2 to 256 characters and not start with http:// or https://"
                ),
            ));
        }
    }
    if let Some(rg) = p.text("ResourceGroupId", "InvalidResourceGroup.NotFound")? {
        if !rg.starts_with("rg-") {
            return Err(ApiError::new(
                404,
                "InvalidResourceGroup.NotFound",
                format!("`ResourceGroupId` `{rg}` does not exist (resource group ids look like `rg-...`)"),
            ));
        }
    }
    if let Some(sm) = p.text("ServiceManaged", "InvalidServiceManaged.Malformed")? {
        if !sm.eq_ignore_ascii_case("true") && !sm.eq_ignore_ascii_case("false") {
            return Err(ApiError::new(
                400,
                "InvalidServiceManaged.Malformed",
                format!("`ServiceManaged` `{sm}` must be true or false"),
            ));
        }
    }
    tags(&mut p)?;
    p.finish("CreateSecurityGroup")?;
    let in_region = state(cloud)?
        .groups
        .values()
        .filter(|m| m.region == region)
        .count();
    if in_region >= GROUPS_PER_REGION {
        return Err(ApiError::new(
            403,
            "QuotaExceed.SecurityGroup",
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
    state_mut(cloud)?.groups.insert(key, Meta { region, vpc });
    Ok(created_group(id))
}

/// `Tag.N.Key` / `Tag.N.Value` (and the deprecated lowercase `key` / `value`), N = 1..20.
fn tags(p: &mut Params) -> Result<(), ApiError> {
    let entries = p.list("Tag", "InvalidTagKey.Malformed")?;
    if entries.len() > TAGS_PER_GROUP as usize || entries.last().is_some_and(|(n, _)| *n > TAGS_PER_GROUP) {
        return Err(ApiError::new(
            403,
            "QuotaExceed.Tags",
            format!("at most {TAGS_PER_GROUP} tags (`Tag.1` to `Tag.{TAGS_PER_GROUP}`) may be given"),
        ));
    }
    let mut seen: Vec<String> = Vec::new();
    for (_, mut t) in entries {
        let key_field = t.field("Key");
        let key = t.text("Key", "InvalidTagKey.Malformed")?;
        let old_key = t.text("key", "InvalidTagKey.Malformed")?;
        let value = t.text("Value", "InvalidTagValue.Malformed")?;
        let old_value = t.text("value", "InvalidTagValue.Malformed")?;
        let key = match (key, old_key) {
            (Some(a), Some(b)) if a != b => {
                return Err(ApiError::new(
                    400,
                    "InvalidTagKey.Malformed",
                    format!("`{key_field}` `{a}` and the deprecated lowercase `key` `{b}` differ"),
                ))
            }
            (Some(k), _) | (None, Some(k)) => k,
            (None, None) => {
                return Err(ApiError::new(
                    400,
                    "InvalidTagKey.Malformed",
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
                "InvalidTagKey.Malformed",
                format!(
                    "`{key_field}` `{key}` must be at most 128 characters, not start with `aliyun` or `acs:` and not contain http:// or https://"
                ),
            ));
        }
        let value = value.or(old_value).unwrap_or_default();
        if value.chars().count() > 128 || alibaba::contains_http(&value) {
            return Err(ApiError::new(
                400,
                "InvalidTagValue.Malformed",
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
                "Duplicate.TagKey",
                format!("tag key `{key}` is given twice (`{key_field}`)"),
            ));
        }
        seen.push(key);
    }
    Ok(())
}

// ---- attaching a NIC ----

/// A NIC joins groups of one region and VPC only (JoinSecurityGroup: "the security group
/// and the instance must be in the same region ... if the network type is VPC, they must
/// also belong to the same VPC"), and their rules together may not pass [`RULES_PER_NIC`]
/// (A1, A6).
pub(crate) fn check_attach(cloud: &Cloud, endpoint: &str, groups: &[GroupKey]) -> Result<(), EndpointError> {
    let ProviderState::Ecs(st) = &cloud.state else {
        return Ok(());
    };
    let id = |k: &GroupKey| cloud.group(*k).map(|g| g.id.clone()).unwrap_or_default();
    let network = |m: &Meta| format!("region `{}`, VPC `{}`", m.region, m.vpc);
    let mut first: Option<(&GroupKey, &Meta)> = None;
    for key in groups {
        let Some(meta) = st.groups.get(key) else { continue };
        match first {
            None => first = Some((key, meta)),
            Some((fk, fm)) if fm.region != meta.region || fm.vpc != meta.vpc => {
                return Err(EndpointError::GroupsInDifferentNetworks {
                    endpoint: endpoint.to_owned(),
                    group: id(key),
                    network: network(meta),
                    first: id(fk),
                    provider: Provider::Ecs,
                })
            }
            Some(_) => {}
        }
    }
    let count: usize = groups
        .iter()
        .filter_map(|k| cloud.group(*k))
        .map(|g| g.rules.len())
        .sum();
    if count > RULES_PER_NIC {
        return Err(EndpointError::TooManyRules {
            endpoint: endpoint.to_owned(),
            count,
            provider: Provider::Ecs,
            limit: RULES_PER_NIC,
        });
    }
    Ok(())
}

// ---- the group a rule call names ----

struct Target {
    key: GroupKey,
    enterprise: bool,
    /// The region the call names (the group's own).
    region: String,
}

fn target(cloud: &Cloud, p: &mut Params) -> Result<Target, ApiError> {
    let region = region_param(p)?;
    let id = p.required("SecurityGroupId", "InvalidSecurityGroupId.Malformed")?;
    if !id.starts_with("sg-") {
        return Err(ApiError::new(
            400,
            "InvalidSecurityGroupId.Malformed",
            format!("`SecurityGroupId` `{id}` is not a security group id (`sg-...`)"),
        ));
    }
    let st = state(cloud)?;
    let group = cloud
        .group_by_id(&id)
        .filter(|g| st.groups.get(&g.key).is_some_and(|m| m.region == region))
        .ok_or_else(|| {
            ApiError::new(
                404,
                "InvalidSecurityGroupId.NotFound",
                format!("`SecurityGroupId` `{id}` does not exist in region `{region}`"),
            )
        })?;
    Ok(Target {
        key: group.key,
        enterprise: group.kind == GroupKind::EcsEnterprise,
        region,
    })
}

// ---- rules ----

/// The fields of one rule, un-prefixed (legacy) or under `Permissions.N.`, in either
/// direction; the address fields are the [`Side`]'s.
const RULE_FIELDS: &[&str] = &[
    "IpProtocol",
    "PortRange",
    "PortRangeListId",
    "SourcePortRange",
    "Policy",
    "Priority",
    "NicType",
    "Description",
];

/// The rules of a call: `Permissions.N` (1..100) or the deprecated un-prefixed fields,
/// never both (A6).
fn permissions(p: &mut Params, direction: Direction) -> Result<Vec<Params>, ApiError> {
    let side = side(direction);
    let fields: Vec<&str> = RULE_FIELDS.iter().chain(side.fields).copied().collect();
    let listed = p.list("Permissions", "InvalidParam.Permissions")?;
    if let Some(legacy) = fields.iter().find(|f| p.has(f)) {
        if !listed.is_empty() {
            return Err(ApiError::new(
                400,
                "InvalidParam.Permissions",
                format!("`Permissions.N` cannot be mixed with the deprecated un-prefixed `{legacy}`"),
            ));
        }
    }
    if listed.is_empty() {
        return Ok(vec![p.split_off(&fields)]);
    }
    // Unconfirmed code: ECS documents the 100-entry limit but no error for it.
    if listed.len() > ENTRIES_PER_CALL as usize || listed.last().is_some_and(|(n, _)| *n > ENTRIES_PER_CALL) {
        return Err(ApiError::new(
            400,
            "InvalidParam.Permissions",
            format!("at most {ENTRIES_PER_CALL} rules (`Permissions.1` to `Permissions.{ENTRIES_PER_CALL}`) per call"),
        ));
    }
    Ok(listed.into_iter().map(|(_, q)| q).collect())
}

/// One validated rule of a call.
struct Perm {
    spec: RuleSpec,
    /// The rule as DescribeSecurityGroupAttribute shows it, without its id.
    shown: Map<String, Value>,
    /// The referenced group and the field that named it.
    group_ref: Option<(GroupKey, String)>,
    priority_given: bool,
}

/// The codes of the remote-side fields, by direction.
struct Side {
    /// The remote side's fields, then the local CIDR fields (the other side's).
    fields: &'static [&'static str],
    group: &'static str,
    prefix_list: &'static str,
    owners: [&'static str; 2],
    group_not_found: &'static str,
    group_mismatch: &'static str,
    missing: &'static str,
}

const INGRESS_SIDE: Side = Side {
    fields: &[
        "SourceCidrIp",
        "Ipv6SourceCidrIp",
        "SourceGroupId",
        "SourcePrefixListId",
        "SourceGroupOwnerAccount",
        "SourceGroupOwnerId",
        "DestCidrIp",
        "Ipv6DestCidrIp",
    ],
    group: "SourceGroupId",
    prefix_list: "SourcePrefixListId",
    owners: ["SourceGroupOwnerAccount", "SourceGroupOwnerId"],
    group_not_found: "InvalidSourceGroupId.NotFound",
    group_mismatch: "InvalidSourceGroupId.Mismatch",
    missing: "MissingParameter.Source",
};

const EGRESS_SIDE: Side = Side {
    fields: &[
        "DestCidrIp",
        "Ipv6DestCidrIp",
        "DestGroupId",
        "DestPrefixListId",
        "DestGroupOwnerAccount",
        "DestGroupOwnerId",
        "SourceCidrIp",
        "Ipv6SourceCidrIp",
    ],
    group: "DestGroupId",
    prefix_list: "DestPrefixListId",
    owners: ["DestGroupOwnerAccount", "DestGroupOwnerId"],
    group_not_found: "InvalidDestGroupId.NotFound",
    group_mismatch: "InvalidDestGroupId.Mismatch",
    missing: "MissingParameter.Dest",
};

fn side(direction: Direction) -> &'static Side {
    match direction {
        Direction::Ingress => &INGRESS_SIDE,
        Direction::Egress => &EGRESS_SIDE,
    }
}

fn bad(code: &'static str, message: String) -> ApiError {
    ApiError::new(400, code, message)
}

/// Where a rule's fields are, for messages: ` in `Permissions.2`` or nothing (un-prefixed).
fn place(q: &Params) -> String {
    let prefix = q.field("");
    match prefix.strip_suffix('.') {
        Some(p) => format!(" in `{p}`"),
        None => String::new(),
    }
}

/// Reads one rule as ECS validates it. Group references must exist in `region` (groups are
/// regional: a group of another region is not found from this one); the checks that depend
/// on the group the rule goes into are [`check_reference`]'s.
fn parse_permission(
    cloud: &Cloud,
    q: &mut Params,
    direction: Direction,
    region: &str,
) -> Result<Perm, ApiError> {
    let side = side(direction);
    let proto_field = q.field("IpProtocol");
    let proto_text = q.required("IpProtocol", "InvalidIpProtocol.ValueNotSupported")?;
    let proto = Proto::parse(&proto_text).ok_or_else(|| {
        bad(
            "InvalidIpProtocol.ValueNotSupported",
            format!("`{proto_field}` `{proto_text}` must be TCP, UDP, ICMP, ICMPv6, GRE or ALL (any case)"),
        )
    })?;
    let port_field = q.field("PortRange");
    let port_list = q.text("PortRangeListId", "InvalidPortRangeListId.NotFound")?;
    let ports = match q.text("PortRange", "InvalidParam.PortRange")? {
        Some(text) => port_range(proto, &text).map_err(|e| match e {
            PortError::Malformed => bad(
                "InvalidParam.PortRange",
                format!("`{port_field}` `{text}` must be two integers `start/end` with 1 <= start <= end <= 65535"),
            ),
            PortError::Mismatch => bad(
                "OperationDenied",
                format!(
                    "`{port_field}` `{text}` does not fit `IpProtocol` `{}`: TCP and UDP take `start/end`, the others `-1/-1`",
                    proto.upper()
                ),
            ),
        })?,
        None if port_list.is_some() => {
            return Err(bad(
                "InvalidParameter.PortRangeListUnsupported",
                format!("`{}` alone cannot be evaluated: port lists are not modelled by sgeval; give `{port_field}`", q.field("PortRangeListId")),
            ))
        }
        None => return Err(bad("InvalidPortRange.Malformed", format!("`{port_field}` must be set"))),
    };
    let sport_field = q.field("SourcePortRange");
    let src_ports = match q.text("SourcePortRange", "InvalidSourcePortRange.Malformed")? {
        Some(text) => port_range(proto, &text).map_err(|_| {
            bad(
                "InvalidSourcePortRange.Malformed",
                format!(
                    "`{sport_field}` `{text}` is not valid for `IpProtocol` `{}` (TCP and UDP: `start/end` within 1..65535; others: `-1/-1`)",
                    proto.upper()
                ),
            )
        })?,
        None => None,
    };
    let policy_field = q.field("Policy");
    let action = match q.text("Policy", "InvalidPolicy.Malformed")? {
        None => Action::Allow,
        Some(t) => parse_policy(&t).ok_or_else(|| {
            bad(
                "InvalidPolicy.Malformed",
                format!("`{policy_field}` `{t}` must be accept or drop"),
            )
        })?,
    };
    let prio_field = q.field("Priority");
    let prio_text = q.text("Priority", "InvalidPriority.Malformed")?;
    let priority_given = prio_text.is_some();
    let priority = match prio_text {
        None => 1,
        Some(t) => {
            let n: i64 = t.parse().map_err(|_| {
                bad(
                    "InvalidPriority.Malformed",
                    format!("`{prio_field}` `{t}` is not an integer"),
                )
            })?;
            u8::try_from(n)
                .ok()
                .filter(|p| (1..=100).contains(p))
                .ok_or_else(|| {
                    bad(
                        "InvalidPriority.ValueNotSupported",
                        format!("`{prio_field}` `{t}` must be from 1 to 100"),
                    )
                })?
        }
    };
    let nic_field = q.field("NicType");
    let nic_internet = match q.text("NicType", "InvalidNicType.ValueNotSupported")? {
        None => false,
        Some(t) if t.eq_ignore_ascii_case("intranet") => false,
        Some(t) if t.eq_ignore_ascii_case("internet") => true,
        Some(t) => {
            return Err(bad(
                "InvalidNicType.ValueNotSupported",
                format!("`{nic_field}` `{t}` must be internet or intranet"),
            ))
        }
    };
    let desc_field = q.field("Description");
    let description = q
        .text("Description", "InvalidSecurityGroupDiscription.Malformed")?
        .unwrap_or_default();
    if description.chars().count() > 512 {
        return Err(bad(
            "InvalidSecurityGroupDiscription.Malformed",
            format!("`{desc_field}` must be 1 to 512 characters"),
        ));
    }
    let src4 = cidr(q, "SourceCidrIp", "InvalidSourceCidrIp.Malformed", Family::V4)?;
    let src6 = cidr(q, "Ipv6SourceCidrIp", "InvalidParam.Ipv6SourceCidrIp", Family::V6)?;
    let dst4 = cidr(q, "DestCidrIp", "InvalidDestCidrIp.Malformed", Family::V4)?;
    let dst6 = cidr(q, "Ipv6DestCidrIp", "InvalidParam.Ipv6DestCidrIp", Family::V6)?;
    one_family(
        q,
        (src4.is_some(), src6.is_some()),
        ("SourceCidrIp", "Ipv6SourceCidrIp"),
        "InvalidParam.SourceIp",
        "together",
    )?;
    one_family(
        q,
        (dst4.is_some(), dst6.is_some()),
        ("DestCidrIp", "Ipv6DestCidrIp"),
        "InvalidParam.DestIp",
        "together",
    )?;
    let (src, dst) = (src4.or(src6), dst4.or(dst6));
    if let (Some(s), Some(d)) = (src, dst) {
        if Family::of_net(&s) != Family::of_net(&d) {
            return Err(bad(
                "InvalidParameter.Conflict",
                format!("source `{s}` and destination `{d}` mix IPv4 and IPv6 in one rule"),
            ));
        }
        if s == d {
            return Err(bad(
                "InvalidParamter.Conflict",
                format!("the source CIDR `{s}` must differ from the destination CIDR"),
            ));
        }
    }
    let (remote_net, local) = match direction {
        Direction::Ingress => (src, dst),
        Direction::Egress => (dst, src),
    };
    let group_field = q.field(side.group);
    let group_text = q.text(side.group, side.group_not_found)?;
    let prefix_field = q.field(side.prefix_list);
    let prefix_list = q.text(side.prefix_list, "InvalidPrefixListId.NotFound")?;
    for owner in side.owners {
        q.text(owner, "InvalidParameter")?;
    }
    check_proto_family(
        proto,
        remote_net.or(local).map(|n| Family::of_net(&n)),
        "InvalidParam",
        &proto_field,
        &proto_text,
    )?;
    let (remote, group_ref) = if let Some(net) = remote_net {
        (Remote::Cidr(net), None)
    } else if let Some(gid) = group_text {
        let st = state(cloud)?;
        let group = cloud
            .group_by_id(&gid)
            .filter(|g| matches!(g.kind, GroupKind::EcsBasic { .. } | GroupKind::EcsEnterprise))
            .filter(|g| st.groups.get(&g.key).is_some_and(|m| m.region == region))
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    side.group_not_found,
                    format!("`{group_field}` `{gid}` does not exist in region `{region}`"),
                )
            })?;
        if nic_internet {
            return Err(ApiError::new(
                403,
                side.group_mismatch,
                format!("`{group_field}` `{gid}`: a rule that references a group needs `NicType` intranet"),
            ));
        }
        (Remote::Group(group.key), Some((group.key, group_field.clone())))
    } else if let Some(pl) = prefix_list {
        return Err(bad(
            "InvalidParameter.PrefixListUnsupported",
            format!("`{prefix_field}` `{pl}` cannot be evaluated: prefix lists are not modelled by sgeval; give a CIDR or a group instead"),
        ));
    } else {
        let names = match direction {
            Direction::Ingress => "SourceCidrIp, Ipv6SourceCidrIp, SourceGroupId or SourcePrefixListId",
            Direction::Egress => "DestCidrIp, Ipv6DestCidrIp, DestGroupId or DestPrefixListId",
        };
        return Err(bad(
            side.missing,
            format!("one of {names} must be given{}", place(q)),
        ));
    };
    let spec = RuleSpec {
        direction,
        proto,
        ports,
        src_ports,
        remote,
        local,
        action,
        priority,
        description,
    };
    let shown = shown_permission(cloud, &spec);
    Ok(Perm {
        spec,
        shown,
        group_ref,
        priority_given,
    })
}

/// A permission as DescribeSecurityGroupAttribute shows it (every field, empty when unset).
fn shown_permission(cloud: &Cloud, spec: &RuleSpec) -> Map<String, Value> {
    let remote_net = match &spec.remote {
        Remote::Cidr(net) => Some(net),
        _ => None,
    };
    let remote_group = match &spec.remote {
        Remote::Group(g) => cloud.group(*g).map(|g| g.id.clone()).unwrap_or_default(),
        _ => String::new(),
    };
    let (src, dst, src_group, dst_group) = match spec.direction {
        Direction::Ingress => (remote_net, spec.local.as_ref(), remote_group, String::new()),
        Direction::Egress => (spec.local.as_ref(), remote_net, String::new(), remote_group),
    };
    let fields = json!({
        "Direction": spec.direction.to_string(),
        "IpProtocol": spec.proto.upper(),
        "PortRange": port_text(spec.ports),
        "SourcePortRange": spec.src_ports.map(|r| port_text(Some(r))).unwrap_or_default(),
        "SourceCidrIp": net_text(src, Family::V4),
        "Ipv6SourceCidrIp": net_text(src, Family::V6),
        "SourceGroupId": src_group,
        "SourcePrefixListId": "",
        "DestCidrIp": net_text(dst, Family::V4),
        "Ipv6DestCidrIp": net_text(dst, Family::V6),
        "DestGroupId": dst_group,
        "DestPrefixListId": "",
        "Policy": if spec.action == Action::Allow { "Accept" } else { "Drop" },
        "Priority": spec.priority.to_string(),
        "NicType": "intranet",
        "Description": spec.description,
    });
    into_map(fields)
}

/// The reference rules that depend on the group the rule goes into (A2, A6, A9e).
fn check_reference(
    cloud: &Cloud,
    target: &Target,
    perm: &Perm,
    direction: Direction,
) -> Result<(), ApiError> {
    let Some((referenced, field)) = &perm.group_ref else {
        return Ok(());
    };
    let rid = cloud.group(*referenced).map(|g| g.id.clone()).unwrap_or_default();
    if target.enterprise {
        return Err(bad(
            "InvalidGroupParameter.OperationDenied",
            format!(
                "`{field}` `{rid}`: rules of an advanced (enterprise) security group cannot reference groups"
            ),
        ));
    }
    if *referenced == target.key {
        return Err(match direction {
            Direction::Ingress => ApiError::new(
                403,
                "InvalidParamter.Conflict",
                format!("`{field}` `{rid}` must differ from `SecurityGroupId`"),
            ),
            Direction::Egress => ApiError::new(
                403,
                "InvalidSecurityGroup.IsSame",
                format!("`{field}` `{rid}` must differ from `SecurityGroupId`"),
            ),
        });
    }
    if cloud.group(*referenced).map(|g| g.kind) == Some(GroupKind::EcsEnterprise) {
        return Err(bad(
            "InvalidGroupAuthParameter.OperationDenied",
            format!(
                "`{field}` `{rid}` is an advanced (enterprise) security group, which cannot be referenced"
            ),
        ));
    }
    let st = state(cloud)?;
    let vpc = |k: &GroupKey| st.groups.get(k).map(|m| m.vpc.as_str());
    if vpc(referenced) != vpc(&target.key) {
        return Err(bad(
            if direction == Direction::Ingress {
                "InvalidSourceGroupId.Mismatch"
            } else {
                "InvalidDestGroupId.Mismatch"
            },
            format!(
                "`{field}` `{rid}` is in VPC `{}`, not in the group's VPC `{}`",
                vpc(referenced).unwrap_or_default(),
                vpc(&target.key).unwrap_or_default()
            ),
        ));
    }
    Ok(())
}

fn authorize(cloud: &mut Cloud, mut p: Params, direction: Direction, api: &str) -> Answer {
    let target = target(cloud, &mut p)?;
    let entries = permissions(&mut p, direction)?;
    p.finish(api)?;
    let mut perms: Vec<Perm> = Vec::with_capacity(entries.len());
    for mut q in entries {
        let perm = parse_permission(cloud, &mut q, direction, &target.region)?;
        q.finish(api)?;
        check_reference(cloud, &target, &perm, direction)?;
        // A rule repeated within the request is one rule: like a rule that exists already
        // (A6), the repeat succeeds and creates nothing.
        if !perms.iter().any(|other| other.spec.same_spec(&perm.spec)) {
            perms.push(perm);
        }
    }
    let group = cloud.group(target.key).ok_or_else(internal)?;
    // A rule that exists already: the call succeeds and creates nothing for it (A6).
    let new: Vec<&Perm> = perms
        .iter()
        .filter(|perm| !group.rules.iter().any(|r| perm.spec.same_as(r, true)))
        .collect();
    if group.rules.len() + new.len() > RULES_PER_GROUP {
        return Err(ApiError::new(
            403,
            "AuthorizationLimitExceed",
            format!(
                "`SecurityGroupId` `{}` has {} rules; {} more would pass the limit of {RULES_PER_GROUP}",
                group.id,
                group.rules.len(),
                new.len()
            ),
        ));
    }
    // The rules of all groups of one NIC may not pass RULES_PER_NIC (A1, A6); the code is
    // unconfirmed (the documented one for the per-group limit).
    if !new.is_empty() {
        for member in cloud.members(target.key) {
            let held: usize = member
                .groups
                .iter()
                .filter_map(|k| cloud.group(*k))
                .map(|g| g.rules.len())
                .sum();
            if held + new.len() > RULES_PER_NIC {
                return Err(ApiError::new(
                    403,
                    "AuthorizationLimitExceed",
                    format!(
                        "`SecurityGroupId` `{}`: NIC `{}` would hold {} rules across its groups; at most {RULES_PER_NIC} are allowed",
                        group.id,
                        member.name,
                        held + new.len()
                    ),
                ));
            }
        }
    }
    let is_ref = |remote: &Remote| matches!(remote, Remote::Group(_));
    let refs_new = new.iter().filter(|perm| is_ref(&perm.spec.remote)).count();
    let refs_old = group.rules.iter().filter(|r| is_ref(&r.remote)).count();
    if refs_new > 0 && refs_old + refs_new > GROUP_RULES_PER_GROUP {
        return Err(bad(
            "AuthorizedGroupRule.LimitExceed",
            format!(
                "`SecurityGroupId` `{}` has {refs_old} rules that reference groups; at most {GROUP_RULES_PER_GROUP} are allowed",
                group.id
            ),
        ));
    }
    let rules = alibaba::lower_rules(cloud, new.iter().map(|perm| (&perm.spec, &perm.shown)));
    let created = match rules.as_slice() {
        [only] => Some(only.id.clone()),
        _ => None,
    };
    cloud.push_rules(target.key, rules);
    Ok((Map::new(), created))
}

fn revoke(cloud: &mut Cloud, mut p: Params, direction: Direction, api: &str) -> Answer {
    let target = target(cloud, &mut p)?;
    let ids = p.text_list("SecurityGroupRuleId", "InvalidParam.SecurityGroupRuleId")?;
    let group = cloud.group(target.key).ok_or_else(internal)?;
    let mut remove: Vec<RuleKey> = Vec::new();
    if !ids.is_empty() {
        if !p.is_empty() {
            return Err(bad(
                "InvalidParam.Permissions",
                "`SecurityGroupRuleId.N` cannot be combined with rule fields (`Permissions.N` or un-prefixed)".into(),
            ));
        }
        if ids.len() > ENTRIES_PER_CALL as usize || ids.last().is_some_and(|(n, _)| *n > ENTRIES_PER_CALL) {
            return Err(bad(
                "InvalidParam.SecurityGroupRuleId",
                format!("at most {ENTRIES_PER_CALL} rule ids per call"),
            ));
        }
        for (n, id) in &ids {
            let field = format!("SecurityGroupRuleId.{n}");
            if ids.iter().filter(|(_, other)| other == id).count() > 1 {
                return Err(bad(
                    "InvalidParam.SecurityGroupRuleIdRepeated",
                    format!("`{field}` `{id}` is given more than once"),
                ));
            }
            let rule = group
                .rules
                .iter()
                .find(|r| &r.id == id && r.direction == direction)
                .ok_or_else(|| {
                    bad(
                        "InvalidParam.SecurityGroupRuleId",
                        format!("`{field}` `{id}` is not an {direction} rule of `{}`", group.id),
                    )
                })?;
            remove.push(rule.key);
        }
    } else {
        let entries = permissions(&mut p, direction)?;
        p.finish(api)?;
        let mut perms = Vec::with_capacity(entries.len());
        for mut q in entries {
            let perm = parse_permission(cloud, &mut q, direction, &target.region)?;
            q.finish(api)?;
            perms.push(perm);
        }
        remove = group
            .rules
            .iter()
            .filter(|r| perms.iter().any(|perm| perm.spec.same_as(r, perm.priority_given)))
            .map(|r| r.key)
            .collect();
    }
    cloud.remove_rules(target.key, &remove);
    Ok((Map::new(), None))
}

// ---- ModifySecurityGroupPolicy, DescribeSecurityGroupAttribute ----

fn modify_policy(cloud: &mut Cloud, mut p: Params) -> Answer {
    let target = target(cloud, &mut p)?;
    let text = p.text("InnerAccessPolicy", "InvalidPolicy.Malformed")?;
    let (inner, shown) = match text.as_deref() {
        Some(t) if t.eq_ignore_ascii_case("accept") => (InnerPolicy::Accept, "Accept"),
        Some(t) if t.eq_ignore_ascii_case("drop") => (InnerPolicy::Drop, "Drop"),
        Some(t) => {
            return Err(bad(
                "InvalidPolicy.Malformed",
                format!("`InnerAccessPolicy` `{t}` is invalid: only Accept and Drop are supported"),
            ))
        }
        None => {
            return Err(bad(
                "InvalidPolicy.Malformed",
                "`InnerAccessPolicy` must be given: only Accept and Drop are supported".into(),
            ))
        }
    };
    p.finish("ModifySecurityGroupPolicy")?;
    if target.enterprise {
        // Unconfirmed code: A8 says advanced groups' policy cannot be modified but names no
        // error; this is the documented code for setting a "Policy" of an enterprise group.
        return Err(bad(
            "InvalidGroupParameter.OperationDenied",
            "the intra-group policy of an advanced (enterprise) security group is fixed to isolation and cannot be modified"
                .into(),
        ));
    }
    let group = cloud.group_mut(target.key).ok_or_else(internal)?;
    group.kind = GroupKind::EcsBasic { inner };
    if let Value::Object(m) = &mut group.shown {
        m.insert("InnerAccessPolicy".into(), Value::String(shown.into()));
    }
    Ok((Map::new(), None))
}

fn describe(cloud: &mut Cloud, mut p: Params) -> Answer {
    let target = target(cloud, &mut p)?;
    let direction = match p.text("Direction", "InvalidDirection.Malformed")?.as_deref() {
        None | Some("all") => None,
        Some("ingress") => Some(Direction::Ingress),
        Some("egress") => Some(Direction::Egress),
        Some(other) => {
            return Err(bad(
                "InvalidDirection.Malformed",
                format!("`Direction` `{other}` must be all, ingress or egress"),
            ))
        }
    };
    p.text("NicType", "InvalidNicType.ValueNotSupported")?;
    p.text("MaxResults", "InvalidMaxResults.Malformed")?;
    p.text("NextToken", "InvalidNextToken.Malformed")?;
    p.finish("DescribeSecurityGroupAttribute")?;
    let group = cloud.group(target.key).ok_or_else(internal)?;
    let mut fields = into_map(group.shown.clone());
    let permissions: Vec<Value> = group
        .rules
        .iter()
        .filter(|r| direction.is_none_or(|d| d == r.direction))
        .map(|r| r.shown.clone())
        .collect();
    fields.insert("Permissions".into(), json!({ "Permission": permissions }));
    Ok((fields, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::{Options, Provider};

    fn cloud() -> Cloud {
        Cloud::new(Provider::Ecs, Options::default())
    }

    use crate::provider::alibaba::call_with as call;

    fn code(r: &Response) -> &str {
        r.body.get("Code").and_then(Value::as_str).unwrap_or("")
    }

    fn group(cloud: &mut Cloud) -> String {
        let r = call(
            cloud,
            "CreateSecurityGroup",
            json!({"RegionId": "cn-hangzhou", "VpcId": "vpc-1"}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        r.created.expect("created")
    }

    #[test]
    fn a_failed_call_changes_nothing() {
        let mut c = cloud();
        let sg = group(&mut c);
        let r = call(
            &mut c,
            "AuthorizeSecurityGroup",
            json!({"RegionId": "cn-hangzhou", "SecurityGroupId": sg, "Permissions": [
                {"IpProtocol": "TCP", "PortRange": "22/22", "SourceCidrIp": "10.0.0.0/8"},
                {"IpProtocol": "TCP", "PortRange": "22/22", "SourceCidrIp": "10.0.0.0/33"}]}),
        );
        assert_eq!(code(&r), "InvalidSourceCidrIp.Malformed");
        assert!(c.group_by_id(&sg).expect("group").rules.is_empty());
    }

    #[test]
    fn client_token_replays_and_mismatches() {
        let mut c = cloud();
        let params = json!({"RegionId": "cn-hangzhou", "VpcId": "vpc-1", "ClientToken": "t-1"});
        let first = call(&mut c, "CreateSecurityGroup", params.clone());
        let again = call(&mut c, "CreateSecurityGroup", params);
        assert_eq!(first.body["SecurityGroupId"], again.body["SecurityGroupId"]);
        assert_ne!(first.body["RequestId"], again.body["RequestId"]);
        assert_eq!(c.groups().count(), 1);
        let other = call(
            &mut c,
            "CreateSecurityGroup",
            json!({"RegionId": "cn-hangzhou", "VpcId": "vpc-2", "ClientToken": "t-1"}),
        );
        assert_eq!((other.status, code(&other)), (400, "IdempotentParameterMismatch"));
    }

    #[test]
    fn the_region_quota_is_one_hundred_groups() {
        let mut c = cloud();
        for _ in 0..GROUPS_PER_REGION {
            group(&mut c);
        }
        let r = call(
            &mut c,
            "CreateSecurityGroup",
            json!({"RegionId": "cn-hangzhou", "VpcId": "vpc-1"}),
        );
        assert_eq!((r.status, code(&r)), (403, "QuotaExceed.SecurityGroup"));
        let elsewhere = call(
            &mut c,
            "CreateSecurityGroup",
            json!({"RegionId": "cn-beijing", "VpcId": "vpc-1"}),
        );
        assert_eq!(elsewhere.status, 200);
    }

    #[test]
    fn two_hundred_rules_then_authorization_limit() {
        let mut c = cloud();
        let sg = group(&mut c);
        for batch in 0..2u32 {
            let perms: Vec<Value> = (1..=100u32)
                .map(|i| json!({"IpProtocol": "TCP", "PortRange": format!("{0}/{0}", batch * 100 + i), "SourceCidrIp": "10.0.0.0/8"}))
                .collect();
            let r = call(
                &mut c,
                "AuthorizeSecurityGroup",
                json!({"RegionId": "cn-hangzhou", "SecurityGroupId": sg, "Permissions": perms}),
            );
            assert_eq!(r.status, 200, "{}", r.body);
        }
        let r = call(
            &mut c,
            "AuthorizeSecurityGroupEgress",
            json!({"RegionId": "cn-hangzhou", "SecurityGroupId": sg, "IpProtocol": "ALL", "PortRange": "-1/-1", "DestCidrIp": "0.0.0.0/0"}),
        );
        assert_eq!((r.status, code(&r)), (403, "AuthorizationLimitExceed"));
        // A rule that exists already still succeeds: it creates nothing.
        let dup = call(
            &mut c,
            "AuthorizeSecurityGroup",
            json!({"RegionId": "cn-hangzhou", "SecurityGroupId": sg, "IpProtocol": "tcp", "PortRange": "1/1", "SourceCidrIp": "10.0.0.0/8"}),
        );
        assert_eq!(dup.status, 200, "{}", dup.body);
        assert_eq!(c.group_by_id(&sg).expect("group").rules.len(), RULES_PER_GROUP);
    }

    /// Fills a group with `n` distinct ingress rules (ports `base+1..=base+n`).
    fn fill(c: &mut Cloud, sg: &str, base: u32, n: u32) {
        for start in (0..n).step_by(ENTRIES_PER_CALL as usize) {
            let perms: Vec<Value> = (start..n.min(start + ENTRIES_PER_CALL))
                .map(|i| json!({"IpProtocol": "TCP", "PortRange": format!("{0}/{0}", base + i + 1), "SourceCidrIp": "10.0.0.0/8"}))
                .collect();
            let r = call(
                c,
                "AuthorizeSecurityGroup",
                json!({"RegionId": "cn-hangzhou", "SecurityGroupId": sg, "Permissions": perms}),
            );
            assert_eq!(r.status, 200, "{}", r.body);
        }
    }

    #[test]
    fn a_nic_holds_at_most_a_thousand_rules() {
        let mut c = cloud();
        let groups: Vec<String> = (0..6).map(|_| group(&mut c)).collect();
        for (i, sg) in groups.iter().enumerate() {
            let n = if i == 5 { 1 } else { RULES_PER_GROUP as u32 };
            fill(&mut c, sg, i as u32 * 1000, n);
        }
        let ip: std::net::IpAddr = "10.0.0.1".parse().expect("ip");
        let err = c.attach("x", &[ip], &groups).expect_err("1001 rules");
        assert!(
            matches!(
                err,
                EndpointError::TooManyRules {
                    count: 1001,
                    limit: 1000,
                    ..
                }
            ),
            "{err}"
        );
        // Exactly 1,000 attach; one more rule on any of the groups is then refused.
        let key = c.attach("x", &[ip], &groups[..5]).expect("1000 rules");
        assert_eq!(c.endpoint(key).map(|e| e.groups.len()), Some(5));
        let r = call(
            &mut c,
            "AuthorizeSecurityGroupEgress",
            json!({"RegionId": "cn-hangzhou", "SecurityGroupId": groups[4], "IpProtocol": "ALL", "PortRange": "-1/-1", "DestCidrIp": "0.0.0.0/0"}),
        );
        assert_eq!((r.status, code(&r)), (403, "AuthorizationLimitExceed"));
        // A rule that exists already creates nothing and still succeeds.
        let dup = call(
            &mut c,
            "AuthorizeSecurityGroup",
            json!({"RegionId": "cn-hangzhou", "SecurityGroupId": groups[0], "IpProtocol": "tcp", "PortRange": "1/1", "SourceCidrIp": "10.0.0.0/8"}),
        );
        assert_eq!(dup.status, 200, "{}", dup.body);
        // The sixth group is on no NIC: it still takes rules.
        fill(&mut c, &groups[5], 9000, 1);
    }

    #[test]
    fn a_nic_joins_groups_of_one_region_and_vpc() {
        let mut c = cloud();
        let a = group(&mut c);
        let r = call(
            &mut c,
            "CreateSecurityGroup",
            json!({"RegionId": "cn-hangzhou", "VpcId": "vpc-2"}),
        );
        let b = r.created.expect("created");
        let ip: std::net::IpAddr = "10.0.0.1".parse().expect("ip");
        let err = c
            .attach("x", &[ip], &[a.clone(), b.clone()])
            .expect_err("two VPCs");
        assert!(
            matches!(err, EndpointError::GroupsInDifferentNetworks { .. }),
            "{err}"
        );
        assert!(err.to_string().contains("VPC `vpc-2`"), "{err}");
        assert!(c.endpoints().is_empty());
    }

    #[test]
    fn at_most_twenty_group_reference_rules() {
        let mut c = cloud();
        let sg = group(&mut c);
        let other = group(&mut c);
        let perms: Vec<Value> = (1..=21u32)
            .map(|i| json!({"IpProtocol": "TCP", "PortRange": format!("{i}/{i}"), "SourceGroupId": other}))
            .collect();
        let r = call(
            &mut c,
            "AuthorizeSecurityGroup",
            json!({"RegionId": "cn-hangzhou", "SecurityGroupId": sg, "Permissions": perms[..20]}),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let r = call(
            &mut c,
            "AuthorizeSecurityGroup",
            json!({"RegionId": "cn-hangzhou", "SecurityGroupId": sg, "Permissions": perms[20..]}),
        );
        assert_eq!((r.status, code(&r)), (400, "AuthorizedGroupRule.LimitExceed"));
    }

    #[test]
    fn describe_shows_rules_in_creation_order() {
        let mut c = cloud();
        let sg = group(&mut c);
        call(
            &mut c,
            "AuthorizeSecurityGroupEgress",
            json!({"RegionId": "cn-hangzhou", "SecurityGroupId": sg, "Permissions": [{"IpProtocol": "udp", "PortRange": "53/53", "DestCidrIp": "8.8.8.8", "Policy": "Drop", "Priority": 5}]}),
        );
        let r = call(
            &mut c,
            "DescribeSecurityGroupAttribute",
            json!({"RegionId": "cn-hangzhou", "SecurityGroupId": sg}),
        );
        let p = &r.body["Permissions"]["Permission"][0];
        assert_eq!(p["DestCidrIp"], "8.8.8.8/32");
        assert_eq!(p["IpProtocol"], "UDP");
        assert_eq!(p["Policy"], "Drop");
        assert_eq!(p["Priority"], "5");
        assert_eq!(r.body["InnerAccessPolicy"], "Accept");
        assert!(p["SecurityGroupRuleId"]
            .as_str()
            .is_some_and(|s| s.starts_with("sgr-") && s.len() == 24));
    }
}
