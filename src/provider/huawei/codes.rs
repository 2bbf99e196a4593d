//! The error codes the Huawei front end answers with (H7, the VPC error-code page).

/// 400 "安全组参数错误" (security group parameter error): documented for
/// CreateSecurityGroup (`Creating securitygroup name is invalid.`) and the group queries;
/// used for every invalid parameter of a group or rule request (for rules: unconfirmed).
pub const PARAM: &str = "VPC.0601";
/// 409 for rule create: "Security group rule already exists." and "Quota exceeded for
/// resources: ['security_group_rule']" (documented). Also used for a rule that repeats
/// another with the opposite action at the same priority (code unconfirmed).
pub const RULE_CONFLICT: &str = "VPC.0602";
/// 404 "Securitygroup is not exist." (documented for the group query); also used for a
/// missing rule on delete (unconfirmed).
pub const NOT_FOUND: &str = "VPC.0603";
/// 409 "Quota exceeded for resources: ['security_group']" (documented).
pub const GROUP_QUOTA: &str = "VPC.0604";
/// 400 "EnterpriseProjectId is invalid" (documented, public).
pub const ENTERPRISE_PROJECT: &str = "VPC.0011";
/// 400 tag errors, e.g. "Tag length is invalid. The key length must be in range [1,36]
/// and value in range [0,43]" (documented for the tag APIs).
pub const TAG: &str = "VPC.1801";
/// 400 "Invalid ip_set" / "Duplicate ip_set in request body" (documented); also used
/// for the address group's other parameters (unconfirmed).
pub const ADDRESS_GROUP_PARAM: &str = "VPC.9901";
/// 404 "Address_group xxx could not be found." (documented for address group update;
/// used for a rule's `remote_address_group_id`).
pub const ADDRESS_GROUP_NOT_FOUND: &str = "VPC.9904";
/// 404 of the API gateway for a URL that is no API (documented gateway code).
pub const NO_SUCH_API: &str = "APIGW.0101";
/// 409 for a security group still associated with a port on delete (H13 states the
/// constraint; no code is documented for it: unconfirmed, the 409 code of the
/// security-group module).
pub const IN_USE: &str = "VPC.0602";
/// 404 for a port that does not exist (unconfirmed: the error-code page names no v3 port
/// code; this is the security-group module's 404 code, as for a missing rule).
pub const PORT_NOT_FOUND: &str = "VPC.0603";
