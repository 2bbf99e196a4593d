//! Scenario calls that carry the ids the cloud really gave (`id`, `ids`) and groups that
//! start without the provider's create-time defaults (`defaults: false`): the shape an
//! imported scenario takes.

use sgeval::{flow, reference, Packet, Scenario, ScenarioError, Verdict};

fn huawei(extra_rule: &str) -> String {
    format!(
        r#"{{"provider": "huawei", "calls": [
  {{"api": "CreateSecurityGroup", "ref": "web", "id": "4f1c7a2e-0000-4b3d-9e8f-1a2b3c4d5e6f", "defaults": false,
    "body": {{"security_group": {{"name": "web"}}}}}},
  {{"api": "CreateSecurityGroupRule", "ids": ["9a8b7c6d-0000-4e5f-8a9b-0c1d2e3f4a5b"],
    "body": {{"security_group_rule": {{"security_group_id": "$web", "direction": "ingress", "ethertype": "IPv4",
      "protocol": "tcp", "multiport": "22", "remote_ip_prefix": "198.51.100.0/24", "action": "allow", "priority": 1}}}}}}
  {extra_rule}
], "endpoints": [{{"name": "vm", "ips": ["192.168.0.10"], "groups": ["4f1c7a2e-0000-4b3d-9e8f-1a2b3c4d5e6f"]}}]}}"#
    )
}

#[test]
fn pinned_ids_name_the_group_and_rule_and_defaults_are_left_out() {
    let cloud = Scenario::from_json(&huawei("")).unwrap().build().unwrap();
    let group = cloud
        .group_by_id("4f1c7a2e-0000-4b3d-9e8f-1a2b3c4d5e6f")
        .expect("pinned group id");
    // Without `defaults: false` Huawei adds four default rules; here only the listed one.
    assert_eq!(group.rules.len(), 1);
    assert_eq!(group.rules[0].id, "9a8b7c6d-0000-4e5f-8a9b-0c1d2e3f4a5b");
    assert_eq!(
        group.rules[0].shown["security_group_id"],
        "4f1c7a2e-0000-4b3d-9e8f-1a2b3c4d5e6f"
    );
    assert_eq!(group.rules[0].shown["id"], "9a8b7c6d-0000-4e5f-8a9b-0c1d2e3f4a5b");
    let engine = reference::Evaluator::new(&cloud);
    let ssh = Packet::tcp(
        "198.51.100.7".parse().unwrap(),
        "192.168.0.10".parse().unwrap(),
        22,
    );
    let f = flow::trace(&cloud, &engine, &ssh);
    assert_eq!(f.verdict, Verdict::Allow);
    assert!(flow::describe(&cloud, &f.hops[0].decision).contains("9a8b7c6d-0000-4e5f-8a9b-0c1d2e3f4a5b"));
    // The default rules would have let the group's own members in: they are not there.
    let other = Packet::tcp(
        "192.168.0.11".parse().unwrap(),
        "192.168.0.10".parse().unwrap(),
        80,
    );
    assert_eq!(flow::trace(&cloud, &engine, &other).verdict, Verdict::Deny);
}

#[test]
fn without_defaults_false_the_provider_adds_its_default_rules() {
    let text = huawei("").replace(r#""defaults": false,"#, "");
    let cloud = Scenario::from_json(&text).unwrap().build().unwrap();
    let group = cloud.group_by_id("4f1c7a2e-0000-4b3d-9e8f-1a2b3c4d5e6f").unwrap();
    assert_eq!(group.rules.len(), 5);
    // Every default rule names the pinned group wherever the provider shows a group id.
    for r in &group.rules {
        assert_eq!(
            r.shown["security_group_id"],
            "4f1c7a2e-0000-4b3d-9e8f-1a2b3c4d5e6f"
        );
    }
}

fn field_error(text: &str) -> String {
    match Scenario::from_json(text).unwrap().build() {
        Err(e @ ScenarioError::Field { .. }) => e.to_string(),
        other => panic!("expected a field error, got {other:?}"),
    }
}

#[test]
fn ids_that_do_not_fit_are_refused_naming_the_call() {
    let twice = huawei(
        r#", {"api": "CreateSecurityGroupRule", "ids": ["9a8b7c6d-0000-4e5f-8a9b-0c1d2e3f4a5b"],
    "body": {"security_group_rule": {"security_group_id": "$web", "direction": "ingress", "ethertype": "IPv4",
      "protocol": "tcp", "multiport": "23", "remote_ip_prefix": "198.51.100.0/24", "action": "allow", "priority": 1}}}"#,
    );
    let e = field_error(&twice);
    assert!(
        e.contains("calls[2]") && e.contains("already names another object"),
        "{e}"
    );
    let count = huawei("").replace(
        r#""ids": ["9a8b7c6d-0000-4e5f-8a9b-0c1d2e3f4a5b"]"#,
        r#""ids": ["a", "b"]"#,
    );
    let e = field_error(&count);
    assert!(
        e.contains("calls[1]") && e.contains("2 id(s)") && e.contains("created 1 rule"),
        "{e}"
    );
    // `id` names whatever one object the call created: here its one rule.
    let one_rule = huawei("").replace(
        r#""ids": ["9a8b7c6d-0000-4e5f-8a9b-0c1d2e3f4a5b"]"#,
        r#""id": "x""#,
    );
    let cloud = Scenario::from_json(&one_rule).unwrap().build().unwrap();
    let rule = &cloud
        .group_by_id("4f1c7a2e-0000-4b3d-9e8f-1a2b3c4d5e6f")
        .unwrap()
        .rules[0];
    assert_eq!(
        (rule.id.as_str(), &rule.shown["id"]),
        ("x", &serde_json::json!("x"))
    );
    let taken = huawei("").replace(
        r#""ids": ["9a8b7c6d-0000-4e5f-8a9b-0c1d2e3f4a5b"]"#,
        r#""id": "4f1c7a2e-0000-4b3d-9e8f-1a2b3c4d5e6f""#,
    );
    let e = field_error(&taken);
    assert!(
        e.contains("calls[1]") && e.contains("already names another object"),
        "{e}"
    );
    let defaults_on_a_rule = huawei("").replace(
        r#""ids": ["9a8b7c6d-0000-4e5f-8a9b-0c1d2e3f4a5b"]"#,
        r#""defaults": false"#,
    );
    let e = field_error(&defaults_on_a_rule);
    assert!(
        e.contains("calls[1]") && e.contains("creates a security group"),
        "{e}"
    );
    let e = Scenario::from_json(&huawei("").replace(r#""defaults": false"#, r#""defaults": "no""#))
        .unwrap_err()
        .to_string();
    assert!(e.contains("calls[0].defaults") && e.contains("boolean"), "{e}");
}

#[test]
fn a_pinned_group_id_is_what_refs_and_peers_show() {
    let text = r#"{"provider": "ecs", "calls": [
  {"api": "CreateSecurityGroup", "ref": "web", "id": "sg-bp1web0000000000a1", "params": {"RegionId": "cn-hangzhou", "VpcId": "vpc-1"}},
  {"api": "CreateSecurityGroup", "ref": "db", "id": "sg-bp1db00000000000a2", "params": {"RegionId": "cn-hangzhou", "VpcId": "vpc-1"}},
  {"api": "AuthorizeSecurityGroup", "ids": ["sgr-bp1r00000000000c3"], "params": {"RegionId": "cn-hangzhou", "SecurityGroupId": "$db",
    "Permissions": [{"IpProtocol": "TCP", "PortRange": "5432/5432", "SourceGroupId": "$web", "Policy": "Accept", "Priority": "1"}]}}
], "endpoints": [
  {"name": "web-1", "ips": ["172.16.1.10"], "groups": ["$web"]},
  {"name": "db-1", "ips": ["172.16.2.10"], "groups": ["sg-bp1db00000000000a2"]}]}"#;
    let cloud = Scenario::from_json(text).unwrap().build().unwrap();
    let db = cloud.group_by_id("sg-bp1db00000000000a2").unwrap();
    assert_eq!(db.rules[0].id, "sgr-bp1r00000000000c3");
    assert_eq!(db.rules[0].shown["SourceGroupId"], "sg-bp1web0000000000a1");
    let engine = reference::Evaluator::new(&cloud);
    let p = Packet::tcp(
        "172.16.1.10".parse().unwrap(),
        "172.16.2.10".parse().unwrap(),
        5432,
    );
    let f = flow::trace(&cloud, &engine, &p);
    assert_eq!(f.verdict, Verdict::Allow);
    assert!(flow::describe(&cloud, &f.hops[1].decision).contains("sgr-bp1r00000000000c3"));
}
