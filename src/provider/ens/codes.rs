//! The error codes the ENS front end answers with (ENS 2017-11-10 API reference; the notes
//! E1-E3 of SEMANTICS.md). The templated `Missing<Param>` and `Invalid<Param>` codes and the
//! protocol-family conflicts are in `alibaba/codes.rs`.

pub(super) const AUTHORIZATION_LIMIT_EXCEED: &str = "AuthorizationLimitExceed";
pub(super) const INVALID_ACTION_NOT_FOUND: &str = "InvalidAction.NotFound";
pub(super) const INVALID_DESCRIPTION: &str = "InvalidDescription";
pub(super) const INVALID_DIRECTION: &str = "InvalidDirection";
pub(super) const INVALID_IP_PROTOCOL: &str = "InvalidIpProtocol";
pub(super) const INVALID_PARAMETER: &str = "InvalidParameter";
pub(super) const INVALID_PARAMETER_CIDR_IP: &str = "InvalidParameter.CidrIp";
pub(super) const INVALID_PARAMETER_DEST_IP_CONFLICT: &str = "InvalidParameter.DestIpConflict";
pub(super) const INVALID_PARAMETER_PORT_RANGE: &str = "InvalidParameter.PortRange";
pub(super) const INVALID_PARAMETER_SOURCE_IP_CONFLICT: &str = "InvalidParameter.SourceIpConflict";
pub(super) const INVALID_PERMISSIONS: &str = "InvalidPermissions";
pub(super) const INVALID_POLICY: &str = "InvalidPolicy";
pub(super) const INVALID_PRIORITY: &str = "InvalidPriority";
pub(super) const INVALID_SECURITY_GROUP_ID: &str = "InvalidSecurityGroupId";
pub(super) const INVALID_SECURITY_GROUP_ID_NOT_FOUND: &str = "InvalidSecurityGroupId.NotFound";
pub(super) const INVALID_SECURITY_GROUP_NAME: &str = "InvalidSecurityGroupName";
pub(super) const QUOTA_EXCEED_SECURITY_GROUP: &str = "QuotaExceed.SecurityGroup";
pub(super) const SECURITY_GROUP_RULE_CONFLICT_DUPLICATED: &str = "SecurityGroupRuleConflict.Duplicated";
