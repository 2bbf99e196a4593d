//! The error codes the ECS front end answers with (ECS 2014-05-26 API reference and error
//! center; the notes A1-A9 of SEMANTICS.md say which calls give which). The templated
//! `Missing<Param>` codes and the protocol-family conflicts are in `alibaba/codes.rs`.

pub(super) const AUTHORIZATION_LIMIT_EXCEED: &str = "AuthorizationLimitExceed";
pub(super) const DUPLICATE_TAG_KEY: &str = "Duplicate.TagKey";
pub(super) const IDEMPOTENT_PARAMETER_MISMATCH: &str = "IdempotentParameterMismatch";
pub(super) const INVALID_ACTION_NOT_FOUND: &str = "InvalidAction.NotFound";
pub(super) const INVALID_CLIENT_TOKEN_MALFORMED: &str = "InvalidClientToken.Malformed";
pub(super) const INVALID_DESCRIPTION_MALFORMED: &str = "InvalidDescription.Malformed";
pub(super) const INVALID_DEST_CIDR_IP_MALFORMED: &str = "InvalidDestCidrIp.Malformed";
pub(super) const INVALID_DEST_GROUP_ID_MISMATCH: &str = "InvalidDestGroupId.Mismatch";
pub(super) const INVALID_DEST_GROUP_ID_NOT_FOUND: &str = "InvalidDestGroupId.NotFound";
pub(super) const INVALID_DIRECTION_MALFORMED: &str = "InvalidDirection.Malformed";
pub(super) const INVALID_GROUP_AUTH_PARAMETER_OPERATION_DENIED: &str =
    "InvalidGroupAuthParameter.OperationDenied";
pub(super) const INVALID_GROUP_PARAMETER_OPERATION_DENIED: &str = "InvalidGroupParameter.OperationDenied";
pub(super) const INVALID_IP_PROTOCOL_VALUE_NOT_SUPPORTED: &str = "InvalidIpProtocol.ValueNotSupported";
pub(super) const INVALID_MAX_RESULTS_MALFORMED: &str = "InvalidMaxResults.Malformed";
pub(super) const INVALID_NEXT_TOKEN_MALFORMED: &str = "InvalidNextToken.Malformed";
pub(super) const INVALID_NIC_TYPE_VALUE_NOT_SUPPORTED: &str = "InvalidNicType.ValueNotSupported";
pub(super) const INVALID_PARAM: &str = "InvalidParam";
pub(super) const INVALID_PARAM_DEST_IP: &str = "InvalidParam.DestIp";
pub(super) const INVALID_PARAM_IPV6_DEST_CIDR_IP: &str = "InvalidParam.Ipv6DestCidrIp";
pub(super) const INVALID_PARAM_IPV6_SOURCE_CIDR_IP: &str = "InvalidParam.Ipv6SourceCidrIp";
pub(super) const INVALID_PARAM_PERMISSIONS: &str = "InvalidParam.Permissions";
pub(super) const INVALID_PARAM_PORT_RANGE: &str = "InvalidParam.PortRange";
pub(super) const INVALID_PARAM_SECURITY_GROUP_RULE_ID: &str = "InvalidParam.SecurityGroupRuleId";
pub(super) const INVALID_PARAM_SECURITY_GROUP_RULE_ID_REPEATED: &str =
    "InvalidParam.SecurityGroupRuleIdRepeated";
pub(super) const INVALID_PARAM_SOURCE_IP: &str = "InvalidParam.SourceIp";
pub(super) const INVALID_PARAMETER: &str = "InvalidParameter";
pub(super) const INVALID_PARAMETER_CONFLICT: &str = "InvalidParameter.Conflict";
pub(super) const INVALID_PARAMETER_PORT_RANGE_LIST_UNSUPPORTED: &str =
    "InvalidParameter.PortRangeListUnsupported";
pub(super) const INVALID_PARAMETER_PREFIX_LIST_UNSUPPORTED: &str = "InvalidParameter.PrefixListUnsupported";
pub(super) const INVALID_PARAMS_GROUP_TYPE: &str = "InvalidParams.GroupType";
pub(super) const INVALID_PARAMS_VPC_ID_GROUP_TYPE: &str = "InvalidParams.VpcIdGroupType";
pub(super) const INVALID_PARAMTER_CONFLICT: &str = "InvalidParamter.Conflict";
pub(super) const INVALID_POLICY_MALFORMED: &str = "InvalidPolicy.Malformed";
pub(super) const INVALID_PORT_RANGE_MALFORMED: &str = "InvalidPortRange.Malformed";
pub(super) const INVALID_PORT_RANGE_LIST_ID_NOT_FOUND: &str = "InvalidPortRangeListId.NotFound";
pub(super) const INVALID_PREFIX_LIST_ID_NOT_FOUND: &str = "InvalidPrefixListId.NotFound";
pub(super) const INVALID_PRIORITY_MALFORMED: &str = "InvalidPriority.Malformed";
pub(super) const INVALID_PRIORITY_VALUE_NOT_SUPPORTED: &str = "InvalidPriority.ValueNotSupported";
pub(super) const INVALID_REGION_ID_MALFORMED: &str = "InvalidRegionId.Malformed";
pub(super) const INVALID_REGION_ID_NOT_FOUND: &str = "InvalidRegionId.NotFound";
pub(super) const INVALID_RESOURCE_GROUP_NOT_FOUND: &str = "InvalidResourceGroup.NotFound";
pub(super) const INVALID_SECURITY_GROUP_IS_SAME: &str = "InvalidSecurityGroup.IsSame";
pub(super) const INVALID_SECURITY_GROUP_DISCRIPTION_MALFORMED: &str =
    "InvalidSecurityGroupDiscription.Malformed";
pub(super) const INVALID_SECURITY_GROUP_ID_MALFORMED: &str = "InvalidSecurityGroupId.Malformed";
pub(super) const INVALID_SECURITY_GROUP_ID_NOT_FOUND: &str = "InvalidSecurityGroupId.NotFound";
pub(super) const INVALID_SECURITY_GROUP_NAME_MALFORMED: &str = "InvalidSecurityGroupName.Malformed";
pub(super) const INVALID_SERVICE_MANAGED_MALFORMED: &str = "InvalidServiceManaged.Malformed";
pub(super) const INVALID_SOURCE_CIDR_IP_MALFORMED: &str = "InvalidSourceCidrIp.Malformed";
pub(super) const INVALID_SOURCE_GROUP_ID_MISMATCH: &str = "InvalidSourceGroupId.Mismatch";
pub(super) const INVALID_SOURCE_GROUP_ID_NOT_FOUND: &str = "InvalidSourceGroupId.NotFound";
pub(super) const INVALID_SOURCE_PORT_RANGE_MALFORMED: &str = "InvalidSourcePortRange.Malformed";
pub(super) const INVALID_TAG_KEY_MALFORMED: &str = "InvalidTagKey.Malformed";
pub(super) const INVALID_TAG_VALUE_MALFORMED: &str = "InvalidTagValue.Malformed";
pub(super) const INVALID_VPC_ID_MALFORMED: &str = "InvalidVpcId.Malformed";
pub(super) const INVALID_VPC_ID_NOT_FOUND: &str = "InvalidVpcId.NotFound";
pub(super) const MISSING_PARAMETER_DEST: &str = "MissingParameter.Dest";
pub(super) const MISSING_PARAMETER_SOURCE: &str = "MissingParameter.Source";
pub(super) const OPERATION_DENIED: &str = "OperationDenied";
pub(super) const QUOTA_EXCEED_SECURITY_GROUP: &str = "QuotaExceed.SecurityGroup";
pub(super) const QUOTA_EXCEED_TAGS: &str = "QuotaExceed.Tags";
