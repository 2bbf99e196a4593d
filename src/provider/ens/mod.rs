//! Alibaba Cloud ENS (Edge Node Service, 2017-11-10) security groups:
//! `CreateSecurityGroup` with inline `Permissions` (E1), and the older single-rule
//! calls `AuthorizeSecurityGroup[Egress]` / `RevokeSecurityGroup[Egress]` (E3),
//! validated with the codes of E1's table and lowered to [`crate::Rule`]s
//! ([`crate::GroupKind::Ens`]: no group references, no intra-group policy).
//!
//! Readings fixed here (SEMANTICS.md states them):
//! - Each rule names its remote side by direction: an ingress rule's remote is
//!   `SourceCidrIp` / `Ipv6SourceCidrIp`, an egress rule's `DestCidrIp` / `Ipv6DestCidrIp`.
//!   The other pair, when given, narrows the instance's own address (the ECS quintuple
//!   reading: `DestCidrIp` on ingress, `SourceCidrIp` on egress). The remote is required
//!   (`MissingSourceCidrIp` / `MissingDestCidrIp`). This is our reading, not ENS's: E1
//!   marks every address field optional and says nothing of a rule without one, which could
//!   mean "any address" or be refused; we refuse it rather than guess (fail closed,
//!   Decision 8).
//! - One rule is one family: v4 and v6 fields of one side conflict
//!   (`InvalidParameter.SourceIpConflict` / `DestIpConflict`), and a v4 remote with a v6
//!   local (or the reverse) is `InvalidParameter.CidrIp`.
//! - `IpProtocol` is read in any case. CreateSecurityGroup takes TCP, UDP, ICMP, ALL and
//!   (as CreateSecurityGroupPermissions does, E4) ICMPv6; the older Authorize calls take
//!   tcp, udp, icmp, gre, all and IPv4 addresses only (E3).
//! - A rule identical to one of the group's (every matching field, action and priority)
//!   is `SecurityGroupRuleConflict.Duplicated`, within one request or against the group.
//! - Revoking a rule that does not exist succeeds and removes nothing (unconfirmed).
//! - 100 groups per account (`QuotaExceed.SecurityGroup`, 400): ENS documents the code,
//!   not the number (unconfirmed; ECS's default).
//! - Parameters ENS does not define for the API are refused (`InvalidParameter`).

mod codes;
mod groups;
pub(crate) mod rules;

use crate::profile::{known, Profile};
use groups::*;
use rules::*;

use serde_json::{json, Map, Value};

use crate::group::{Group, GroupKind};
use crate::model::Model;
use crate::provider::alibaba::{
    self, check_proto_family, created_group, group_id, net_text, one_family, parse_policy, port_range,
    port_text, starts_with_http, valid_name, Dialect, Params, RuleSpec,
};
use crate::provider::{ApiError, CallContext};
use crate::request::{Request, Response};
use crate::rule::{Direction, Remote, Rule, RuleKey};

/// The API names this front end answers.
pub const APIS: &[&str] = &[
    "CreateSecurityGroup",
    "AuthorizeSecurityGroup",
    "AuthorizeSecurityGroupEgress",
    "RevokeSecurityGroup",
    "RevokeSecurityGroupEgress",
    "DeleteSecurityGroup",
    "JoinSecurityGroup",
    "LeaveSecurityGroup",
];

/// Rules per group, inline or added later (E1: `Permissions` N = 0..200), from
/// [`Profile::ENS`].
pub(crate) const RULES_PER_GROUP: usize = known(Profile::ENS.rules_per_group);
/// Security groups per account (unconfirmed).
pub(crate) const GROUPS_PER_ACCOUNT: usize = known(Profile::ENS.groups_per_tenant);

/// The ENS front end (it keeps no bookkeeping beyond the groups themselves).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Frontend {}

/// A call in progress on this front end.
pub(crate) type Cx<'c, 'm> = CallContext<'c, 'm, Frontend, ()>;

type Answer = Result<(Map<String, Value>, Option<String>), ApiError>;

/// Answers one call: `Ok` for success only.
pub(crate) fn call(cloud: &mut Cx<'_, '_>, api: &str, request: &Request) -> Result<Response, Response> {
    let answer = Params::parse(request).and_then(|params| match api {
        "CreateSecurityGroup" => create(cloud, params),
        "AuthorizeSecurityGroup" => authorize(cloud, params, Direction::Ingress, api),
        "AuthorizeSecurityGroupEgress" => authorize(cloud, params, Direction::Egress, api),
        "RevokeSecurityGroup" => revoke(cloud, params, Direction::Ingress, api),
        "RevokeSecurityGroupEgress" => revoke(cloud, params, Direction::Egress, api),
        "DeleteSecurityGroup" => delete_group(cloud, params),
        "JoinSecurityGroup" => membership(cloud, params, true),
        "LeaveSecurityGroup" => membership(cloud, params, false),
        other => Err(ApiError::new(
            400,
            codes::INVALID_ACTION_NOT_FOUND,
            format!("`{other}` is not an ENS security group API ({})", APIS.join(", ")),
        )),
    });
    match answer {
        Ok((fields, created)) => Ok(alibaba::ok(cloud, Dialect::Ens, fields, created)),
        Err(e) => Err(alibaba::error(cloud, Dialect::Ens, e)),
    }
}

fn bad(code: &'static str, message: String) -> ApiError {
    ApiError::new(400, code, message)
}

/// `Invalid<Param>` (E1: `Invalid%s`), named by the field's last segment.
fn invalid(field: &str, message: String) -> ApiError {
    let leaf = field.rsplit('.').next().unwrap_or(field);
    bad(alibaba::codes::invalid(leaf), message).at(field)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Cloud;
    use crate::provider::{Options, Provider};

    use crate::provider::alibaba::call_with as call;

    #[test]
    fn request_ids_are_32_lowercase_hex_digits() {
        let mut c = Cloud::new(Provider::Ens, Options::default());
        let r = call(&mut c, "CreateSecurityGroup", json!({}));
        let id = r.body["RequestId"].as_str().unwrap_or_default();
        assert_eq!(id.len(), 32);
        assert!(id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        assert!(r.created.is_some_and(|g| g.starts_with("sg-") && g.len() == 23));
    }

    #[test]
    fn the_account_quota_is_one_hundred_groups() {
        let mut c = Cloud::new(Provider::Ens, Options::default());
        for _ in 0..GROUPS_PER_ACCOUNT {
            assert_eq!(call(&mut c, "CreateSecurityGroup", json!({})).status, 200);
        }
        let r = call(&mut c, "CreateSecurityGroup", json!({}));
        assert_eq!(
            (r.status, r.body["Code"].as_str()),
            (400, Some("QuotaExceed.SecurityGroup"))
        );
    }

    #[test]
    fn a_full_group_refuses_one_more_rule() {
        let mut c = Cloud::new(Provider::Ens, Options::default());
        let perms: Vec<Value> = (1..=200u32)
            .map(|i| json!({"Direction": "ingress", "IpProtocol": "TCP", "PortRange": format!("{i}/{i}"), "SourceCidrIp": "0.0.0.0/0", "Policy": "Accept", "Priority": 1}))
            .collect();
        let r = call(&mut c, "CreateSecurityGroup", json!({"Permissions": perms}));
        assert_eq!(r.status, 200, "{}", r.body);
        let sg = r.created.unwrap_or_default();
        let r = call(
            &mut c,
            "AuthorizeSecurityGroupEgress",
            json!({"SecurityGroupId": sg, "IpProtocol": "all", "PortRange": "-1/-1", "DestCidrIp": "0.0.0.0/0"}),
        );
        assert_eq!(r.body["Code"], "AuthorizationLimitExceed");
        assert_eq!(c.group_by_id(&sg).map(|g| g.rules.len()), Some(200));
    }
}
