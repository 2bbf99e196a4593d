//! The error codes ECS and ENS share whose name is built from a parameter or a
//! namespace: every one a `&'static str` of this table.

/// `Missing<Param>` (400), the POP gateway's code for an absent required parameter,
/// of the parameter's last name segment (`Permissions.1.IpProtocol` → `IpProtocol`).
/// A parameter outside the table (none today) gets the generic `MissingParameter`.
pub(crate) fn missing(leaf: &str) -> &'static str {
    match leaf {
        "DestCidrIp" => "MissingDestCidrIp",
        "Direction" => "MissingDirection",
        "IpProtocol" => "MissingIpProtocol",
        "Policy" => "MissingPolicy",
        "PortRange" => "MissingPortRange",
        "Priority" => "MissingPriority",
        "RegionId" => "MissingRegionId",
        "SecurityGroupId" => "MissingSecurityGroupId",
        "SourceCidrIp" => "MissingSourceCidrIp",
        _ => "MissingParameter",
    }
}

/// `Invalid<Param>` (400, ENS, E1: `Invalid%s`) of the parameter's last name
/// segment; a parameter outside the table (none today) gets `InvalidParameter`.
pub(crate) fn invalid(leaf: &str) -> &'static str {
    match leaf {
        "Description" => "InvalidDescription",
        "Direction" => "InvalidDirection",
        "IpProtocol" => "InvalidIpProtocol",
        "Policy" => "InvalidPolicy",
        "Priority" => "InvalidPriority",
        _ => "InvalidParameter",
    }
}

/// `<namespace>.Ipv4ProtocolConflictWithIpv6Address` (ECS: `InvalidParam`, ENS:
/// `InvalidParameter`).
pub(crate) fn v4_protocol_with_v6_address(namespace: &str) -> &'static str {
    match namespace {
        "InvalidParam" => "InvalidParam.Ipv4ProtocolConflictWithIpv6Address",
        _ => "InvalidParameter.Ipv4ProtocolConflictWithIpv6Address",
    }
}

/// `<namespace>.Ipv6ProtocolConflictWithIpv4Address` (ECS: `InvalidParam`, ENS:
/// `InvalidParameter`).
pub(crate) fn v6_protocol_with_v4_address(namespace: &str) -> &'static str {
    match namespace {
        "InvalidParam" => "InvalidParam.Ipv6ProtocolConflictWithIpv4Address",
        _ => "InvalidParameter.Ipv6ProtocolConflictWithIpv4Address",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_codes_are_the_parameter_names() {
        for leaf in [
            "DestCidrIp",
            "Direction",
            "IpProtocol",
            "Policy",
            "PortRange",
            "Priority",
            "RegionId",
            "SecurityGroupId",
            "SourceCidrIp",
        ] {
            assert_eq!(missing(leaf), format!("Missing{leaf}"));
        }
        for leaf in ["Description", "Direction", "IpProtocol", "Policy", "Priority"] {
            assert_eq!(invalid(leaf), format!("Invalid{leaf}"));
        }
    }
}
