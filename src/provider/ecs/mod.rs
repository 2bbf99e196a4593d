//! Alibaba Cloud ECS (2014-05-26) security groups: `CreateSecurityGroup`, the rule calls
//! `AuthorizeSecurityGroup[Egress]` / `RevokeSecurityGroup[Egress]`,
//! `ModifySecurityGroupPolicy` and `DescribeSecurityGroupAttribute`, validated with ECS's own
//! error codes (A4, A4-2019 and the current API reference
//! error tables) and lowered to [`crate::Rule`]s.
//!
//! Readings fixed here (SEMANTICS.md states them):
//! - Every group is a VPC group: `VpcId` is required (A4, A4-2019: 403
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
//! - `DeleteSecurityGroup` is refused (`DependencyViolation`, 403) while a NIC is in the
//!   group or another group's rule references it (A11); `JoinSecurityGroup` /
//!   `LeaveSecurityGroup` (A12, A13) are shared with ENS (`alibaba/members.rs`).
//! - `ClientToken` makes every changing call idempotent: the same token with the same
//!   parameters answers as the first call did and changes nothing; with other parameters
//!   `IdempotentParameterMismatch` (400). Only successful calls are remembered.

mod codes;
mod groups;
pub(crate) mod rules;

use crate::profile::{known, Profile};
use groups::*;
use rules::*;

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::group::{Group, GroupKey, GroupKind, InnerPolicy};
use crate::model::{EndpointError, Model};
use crate::provider::alibaba::{
    self, check_proto_family, cidr, created_group, group_id, into_map, net_text, one_family, parse_policy,
    port_range, port_text, starts_with_http, valid_name, Dialect, Params, PortError, Proto, RuleSpec,
};
use crate::provider::{ApiError, CallContext, Provider};
use crate::request::{Request, Response};
use crate::rule::{Action, Direction, Remote, RuleKey};

/// The API names this front end answers.
pub const APIS: &[&str] = &[
    "CreateSecurityGroup",
    "AuthorizeSecurityGroup",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroup",
    "RevokeSecurityGroupEgress",
    "ModifySecurityGroupPolicy",
    "DescribeSecurityGroupAttribute",
    "DeleteSecurityGroup",
    "JoinSecurityGroup",
    "LeaveSecurityGroup",
];

// The quotas, from the one table of them ([`Profile::ECS`]).
const P: &Profile = &Profile::ECS;
/// Security groups per region (A4: "at least 100"; the default quota).
pub(crate) const GROUPS_PER_REGION: usize = known(P.groups_per_tenant);
/// Inbound plus outbound rules per group (A6).
pub(crate) const RULES_PER_GROUP: usize = known(P.rules_per_group);
/// Rules per basic group that reference another group (A2, `AuthorizedGroupRule.LimitExceed`).
pub(crate) const GROUP_RULES_PER_GROUP: usize = known(P.group_rules_per_group);
/// `Permissions.N` / `SecurityGroupRuleId.N` entries per call (A6).
pub(crate) const ENTRIES_PER_CALL: u32 = P.rules_per_call as u32;
/// `Tag.N` entries per group (A4).
pub(crate) const TAGS_PER_GROUP: u32 = known(P.tags_per_group) as u32;
/// Rules across all groups of one NIC (A1, A6: "cannot exceed 1,000").
pub(crate) const RULES_PER_NIC: usize = known(P.rules_per_nic);

/// The ECS front end and its bookkeeping: idempotency tokens and each group's region and
/// VPC. Changed only by a committed call ([`Effect`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Frontend {
    tokens: BTreeMap<String, Remembered>,
    groups: BTreeMap<GroupKey, Meta>,
}

/// What one call adds to the bookkeeping, kept only if the call commits.
#[derive(Debug, Default)]
pub(crate) struct Effect {
    token: Option<(String, Remembered)>,
    group: Option<(GroupKey, Meta)>,
    /// A group the call deleted.
    deleted: Option<GroupKey>,
}

impl Frontend {
    /// Keeps what a committed call adds.
    pub(crate) fn apply(&mut self, effect: Effect) {
        self.tokens.extend(effect.token);
        self.groups.extend(effect.group);
        if let Some(key) = effect.deleted {
            self.groups.remove(&key);
        }
    }
}

/// A call in progress on this front end.
pub(crate) type Cx<'c, 'm> = CallContext<'c, 'm, Frontend, Effect>;

/// A successful call made with a `ClientToken`.
#[derive(Clone, Debug, PartialEq)]
struct Remembered {
    api: String,
    params: Value,
    fields: Map<String, Value>,
    created: Option<String>,
}

/// Where a group lives.
#[derive(Clone, Debug, PartialEq)]
struct Meta {
    region: String,
    vpc: String,
}

type Answer = Result<(Map<String, Value>, Option<String>), ApiError>;

/// Answers one call: `Ok` for success only.
pub(crate) fn call(cloud: &mut Cx<'_, '_>, api: &str, request: &Request) -> Result<Response, Response> {
    match run(cloud, api, request) {
        Ok((fields, created)) => Ok(alibaba::ok(cloud, Dialect::Ecs, fields, created)),
        Err(e) => Err(alibaba::error(cloud, Dialect::Ecs, e)),
    }
}

fn run(cloud: &mut Cx<'_, '_>, api: &str, request: &Request) -> Answer {
    let mut params = Params::parse(request)?;
    if api == "DescribeSecurityGroupAttribute" {
        return describe(cloud, params);
    }
    // Unconfirmed code: ECS documents the 64-ASCII rule but no error for breaking it.
    let token = params.text("ClientToken", codes::INVALID_CLIENT_TOKEN_MALFORMED)?;
    // The parameters but `ClientToken`, before any other is read: needed only to remember
    // a call made with a token, so only then copied.
    let canonical = token.as_ref().map(|_| params.canonical("ClientToken"));
    if let (Some(t), Some(canonical)) = (&token, &canonical) {
        if t.len() > 64 || !t.is_ascii() {
            return Err(ApiError::new(
                400,
                codes::INVALID_CLIENT_TOKEN_MALFORMED,
                format!("`ClientToken` `{t}` must be at most 64 ASCII characters"),
            ));
        }
        if let Some(prev) = cloud.frontend.tokens.get(t) {
            if prev.api == api && prev.params == *canonical {
                return Ok((prev.fields.clone(), prev.created.clone()));
            }
            return Err(ApiError::new(
                400,
                codes::IDEMPOTENT_PARAMETER_MISMATCH,
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
        "DeleteSecurityGroup" => delete_group(cloud, params)?,
        "JoinSecurityGroup" => membership(cloud, params, true)?,
        "LeaveSecurityGroup" => membership(cloud, params, false)?,
        other => {
            return Err(ApiError::new(
                400,
                codes::INVALID_ACTION_NOT_FOUND,
                format!("`{other}` is not an ECS security group API ({})", APIS.join(", ")),
            ))
        }
    };
    if let (Some(t), Some(canonical)) = (token, canonical) {
        cloud.effect.token = Some((
            t,
            Remembered {
                api: api.to_owned(),
                params: canonical,
                fields: fields.clone(),
                created: created.clone(),
            },
        ));
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
    let region = p.required("RegionId", codes::INVALID_REGION_ID_MALFORMED)?;
    if !valid_region(&region) {
        return Err(ApiError::new(
            404,
            codes::INVALID_REGION_ID_NOT_FOUND,
            format!("`RegionId` `{region}` is not a region id (lowercase, such as `cn-hangzhou`)"),
        ));
    }
    Ok(region)
}

// ---- attaching a NIC ----

impl Frontend {
    /// A NIC joins groups of one region and VPC only (JoinSecurityGroup: "the security group
    /// and the instance must be in the same region ... if the network type is VPC, they must
    /// also belong to the same VPC"), and their rules together may not pass [`RULES_PER_NIC`]
    /// (A1, A6).
    pub(crate) fn check_attach(
        &self,
        cloud: &Model,
        endpoint: &str,
        groups: &[GroupKey],
    ) -> Result<(), EndpointError> {
        let st = self;
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
        if cloud.enforces_quotas() && count > RULES_PER_NIC {
            return Err(EndpointError::TooManyRules {
                endpoint: endpoint.to_owned(),
                count,
                provider: Provider::Ecs,
                limit: RULES_PER_NIC,
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Cloud;
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
