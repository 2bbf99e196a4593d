//! `sgeval diff --plan`: the prior state against the planned values of a Terraform plan,
//! with the CI gates `--expect-no-new allow`, `--policy` and `--allow-unknown`.
//!
//! The plans are the published-shape fixtures of `tests/fixtures/import/terraform/` (their
//! README cites each shape's source) and three small plans of one ECS group in
//! `plans/` beside them (same shapes: `prior_state`, `resource_changes` with
//! `no-op`/`create`, `after_unknown`, `configuration` references; [TF1][TF2][TF4][TF5]).

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

const EXIT_DENIED: i32 = 3;
const EXIT_UNRESOLVED: i32 = 4;
const TF: &str = "tests/fixtures/import/terraform";

fn sgeval(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sgeval"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs")
}

/// `sgeval diff --plan PLAN ARGS...`: exit status, stdout, stderr.
fn plan(plan: &str, args: &[&str]) -> (Option<i32>, String, String) {
    let path = format!("{TF}/{plan}");
    let out = sgeval(&[&["diff", "--plan", path.as_str()], args].concat());
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn plan_json(file: &str, args: &[&str]) -> (Option<i32>, Value) {
    let (code, stdout, stderr) = plan(file, &[&["--json"], args].concat());
    let v = serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}{stderr}"));
    (code, v)
}

/// A policy file with `text`, in a directory of this test run.
fn policy(name: &str, text: &str) -> String {
    let d = std::env::temp_dir().join(format!("sgeval-plan-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    let p: PathBuf = d.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_owned()
}

#[test]
fn a_plan_that_opens_a_port_fails_expect_no_new_allow_naming_the_rule() {
    let (code, out, err) = plan("plans/open_ssh.json", &["--expect-no-new", "allow"]);
    assert_eq!(code, Some(EXIT_DENIED), "{out}{err}");
    assert!(out.starts_with("1 change(s)\n"), "{out}");
    assert!(
        out.contains("internet -> eni-bp1gate0000000d1: deny -> allow"),
        "{out}"
    );
    // The rule on each side: the default before, the new rule by id and address after.
    assert!(
        out.contains(
            "before: ingress at eni-bp1gate0000000d1 (alicloud_instance.gate): deny: ECS basic group default"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "[rule tf:alicloud_security_group_rule.ssh_world at alicloud_security_group_rule.ssh_world]"
        ),
        "{out}"
    );
    assert!(out.contains("e.g. tcp 0.0.0.0:0 -> 172.16.2.10:22"), "{out}");
    assert!(
        err.contains("newly allow: internet -> eni-bp1gate0000000d1 (tcp 0.0.0.0:0 -> 172.16.2.10:22): allow by rule tf:alicloud_security_group_rule.ssh_world at alicloud_security_group_rule.ssh_world"),
        "{err}"
    );
    // Nothing is unknown here: `--allow-unknown` changes nothing.
    assert_eq!(
        plan(
            "plans/open_ssh.json",
            &["--expect-no-new", "allow", "--allow-unknown"]
        )
        .0,
        Some(EXIT_DENIED)
    );
    // Without a gate the diff is printed and the exit is 0; closing nothing, `deny` passes.
    assert_eq!(plan("plans/open_ssh.json", &[]).0, Some(0));
    assert_eq!(
        plan("plans/open_ssh.json", &["--expect-no-new", "deny"]).0,
        Some(0)
    );
}

#[test]
fn the_json_names_each_deciding_rule_by_id_and_address_with_a_witness() {
    let (code, v) = plan_json("plans/open_ssh.json", &["--expect-no-new", "allow"]);
    assert_eq!(code, Some(EXIT_DENIED));
    assert_eq!(v["equivalent"], false);
    let c = &v["changes"][0];
    assert_eq!(
        (c["before"].as_str(), c["after"].as_str()),
        (Some("deny"), Some("allow"))
    );
    assert_eq!(c["dst"], serde_json::json!(["172.16.2.10/32"]));
    assert_eq!(c["dst_ports"], serde_json::json!([[22, 22]]));
    assert_eq!(c["before_hops"][0]["by"], "default");
    let hop = &c["after_hops"][0];
    assert_eq!(hop["rule"], "tf:alicloud_security_group_rule.ssh_world");
    assert_eq!(hop["address"], "alicloud_security_group_rule.ssh_world");
    assert_eq!(hop["group"], "sg-bp1gate00000000a1");
    assert_eq!(hop["endpoint_address"], "alicloud_instance.gate");
    assert_eq!(c["witness"]["dport"], 22);
    assert_eq!(c["witness"]["dst"], "172.16.2.10");
    assert_eq!(c["unresolved"], false);
    assert_eq!(v["gate"]["passed"], false);
    assert_eq!(v["gate"]["failed"].as_array().unwrap().len(), 1);
    assert_eq!(v["unknown"], serde_json::json!([]));
}

#[test]
fn a_no_op_plan_passes_every_gate() {
    let pol = policy(
        "noop.txt",
        "# nothing new from outside the office\ntcp/22 from 198.51.100.0/24\n",
    );
    let (code, out, err) = plan("plans/noop.json", &["--expect-no-new", "allow", "--policy", &pol]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("no change: the prior state and the planned values decide every packet alike"),
        "{out}"
    );
    assert!(
        out.contains("policy line 2 `tcp/22 from 198.51.100.0/24`: holds"),
        "{out}"
    );
    let (code, v) = plan_json("plans/noop.json", &["--expect-no-new", "allow", "--policy", &pol]);
    assert_eq!(code, Some(0));
    assert_eq!(v["equivalent"], true);
    assert_eq!(v["gate"]["passed"], true);
    assert_eq!(v["policy"][0]["holds"], true);
}

#[test]
fn a_policy_violation_fails_naming_the_rule_address_and_a_witness() {
    let pol = policy("ssh.txt", "tcp/22,3389 from 198.51.100.0/24\n");
    let (code, out, err) = plan("plans/open_ssh.json", &["--policy", &pol]);
    assert_eq!(code, Some(EXIT_DENIED), "{out}{err}");
    assert!(
        out.contains("policy line 1 `tcp/22,3389 from 198.51.100.0/24`: VIOLATED in 1 region(s)"),
        "{out}"
    );
    assert!(
        out.contains("ALLOW 198.51.100.0/24 -> 172.16.2.10 tcp dport 22"),
        "{out}"
    );
    assert!(
        err.contains("policy line 1 `tcp/22,3389 from 198.51.100.0/24`: allowed tcp 198.51.100.0:0 -> 172.16.2.10:22: allow by rule tf:alicloud_security_group_rule.ssh_world at alicloud_security_group_rule.ssh_world"),
        "{err}"
    );
    let (_, v) = plan_json("plans/open_ssh.json", &["--policy", &pol]);
    let violation = &v["policy"][0]["violations"][0];
    assert_eq!(
        violation["hops"][0]["address"],
        "alicloud_security_group_rule.ssh_world"
    );
    assert_eq!(violation["witness"]["src"], "198.51.100.0");
    // The prior state's own rule is named by its real id and address.
    let office = policy(
        "office.txt",
        "tcp/22 from 203.0.113.0/24 to eni-bp1gate0000000d1\n",
    );
    let (code, _, err) = plan("plans/noop.json", &["--policy", &office]);
    assert_eq!(code, Some(EXIT_DENIED));
    assert!(
        err.contains("allow by rule sgr-bp1gate0000000c1 at alicloud_security_group_rule.ssh"),
        "{err}"
    );
    // A port the plan leaves closed holds.
    let rdp = policy(
        "rdp.txt",
        "tcp/3389 from internet\nall from internet to 10.9.9.9\n",
    );
    assert_eq!(plan("plans/open_ssh.json", &["--policy", &rdp]).0, Some(0));
}

#[test]
fn an_unknown_value_fails_unless_allow_unknown() {
    // A new rule whose port range is a `random_integer` result: the clouds as built are
    // alike, but the rule may open anything on the group's instance.
    let (code, out, err) = plan("plans/unknown_port.json", &["--expect-no-new", "allow"]);
    assert_eq!(code, Some(EXIT_UNRESOLVED), "{out}{err}");
    assert!(out.contains("no change"), "{out}");
    assert!(out.contains("unknown until apply"), "{out}");
    assert!(
        out.contains("plan_unknown `tf:alicloud_security_group_rule.app` (port_range)"),
        "{out}"
    );
    assert!(
        out.contains("at eni-bp1gate0000000d1 (alicloud_instance.gate)"),
        "{out}"
    );
    assert!(err.contains("`--allow-unknown`"), "{err}");
    let (code, _, err) = plan(
        "plans/unknown_port.json",
        &["--expect-no-new", "allow", "--allow-unknown"],
    );
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("warning (--allow-unknown)"), "{err}");
    // A policy whose answer the unknown rule may change: denied only as built.
    let pol = policy("unknown.txt", "tcp/8080 from internet\n");
    let (code, out, _) = plan("plans/unknown_port.json", &["--policy", &pol]);
    assert_eq!(code, Some(EXIT_UNRESOLVED), "{out}");
    assert!(out.contains("holds only as built (unresolved)"), "{out}");
    assert_eq!(
        plan("plans/unknown_port.json", &["--policy", &pol, "--allow-unknown"]).0,
        Some(0)
    );
    let (_, v) = plan_json("plans/unknown_port.json", &["--policy", &pol]);
    assert_eq!(v["policy"][0]["holds"], true);
    assert_eq!(
        v["policy"][0]["unresolved"][0]["depends_on"][0]["subject"],
        "tf:alicloud_security_group_rule.app"
    );
    // The no-op plan has no unknowns: the gate passes without the flag.
    assert_eq!(plan("plans/noop.json", &["--expect-no-new", "allow"]).0, Some(0));
}

#[test]
fn published_alicloud_plan_opens_rdp_through_a_new_group_marked_unresolved() {
    let (code, out, err) = plan("alicloud/plan.json", &["--expect-no-new", "allow"]);
    assert_eq!(code, Some(EXIT_DENIED), "{out}{err}");
    assert!(
        out.contains("internet -> eni-bp1nic00000000d5: deny -> allow"),
        "{out}"
    );
    assert!(
        err.contains("allow by rule tf:alicloud_security_group_rule.rdp at alicloud_security_group_rule.rdp"),
        "{err}"
    );
    // The deleted rule closes 22 for the office; named by its real id and address.
    assert!(
        out.contains("[rule sgr-bp1r00000000000c3 at alicloud_security_group_rule.ssh]"),
        "{out}"
    );
    let (_, v) = plan_json("alicloud/plan.json", &[]);
    let open = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["after"] == "allow")
        .unwrap();
    // The new group's type and policy are unknown until apply: the change says so.
    assert_eq!(open["unresolved"], true);
    let subjects: Vec<&str> = open["after_depends_on"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["field"].as_str())
        .collect();
    assert!(subjects.contains(&"security_group_type"), "{subjects:?}");
    // The bastion has no address until apply: listed, never silently dropped.
    let unknown = v["unknown"].to_string();
    assert!(unknown.contains("alicloud_instance.bastion"), "{unknown}");
}

#[test]
fn published_huawei_and_gcore_plans() {
    // Huawei: a new 443 rule whose action and priority are left to contested defaults.
    let (code, out, err) = plan("huaweicloud/plan.json", &["--expect-no-new", "allow"]);
    assert_eq!(code, Some(EXIT_DENIED), "{out}{err}");
    assert!(
        err.contains("allow by rule tf:huaweicloud_networking_secgroup_rule.https at huaweicloud_networking_secgroup_rule.https"),
        "{err}"
    );
    assert!(
        out.contains("contested_default `tf:huaweicloud_networking_secgroup_rule.https` (action)"),
        "{out}"
    );
    // Gcore: a new group and instance. The instance's address was no endpoint's, so the
    // diff shows it open before; what its groups let in is newly allowed all the same.
    let (code, out, err) = plan("gcore/plan.json", &["--expect-no-new", "allow"]);
    assert_eq!(code, Some(EXIT_DENIED), "{out}{err}");
    assert!(out.contains("allowed into endpoints the plan adds"), "{out}");
    assert!(
        err.contains("newly allow into an endpoint the plan adds: any IPv4 except 10.0.0.20 -> 10.0.0.20 tcp dport 443 (tcp 0.0.0.0:0 -> 10.0.0.20:443): allow by rule tf:gcore_cloud_security_group_rule.https at gcore_cloud_security_group_rule.https"),
        "{err}"
    );
    // One rule's peer is a data source's id, unknown until apply: listed, and the region
    // it may change is marked.
    assert!(out.contains("gcore_cloud_security_group_rule.from_peer"), "{out}");
    let (_, v) = plan_json("gcore/plan.json", &[]);
    let added = &v["added_endpoints"][0];
    assert_eq!(
        added["hops"][0]["address"],
        "gcore_cloud_security_group_rule.https"
    );
    assert_eq!(added["unresolved"], true);
    // Nothing new allowed, only a region the unknown peer may change: exit 4, then 0.
    let (code, _, err) = plan("gcore/plan.json", &["--expect-no-new", "deny"]);
    assert_eq!(code, Some(EXIT_UNRESOLVED), "{err}");
    assert_eq!(
        plan("gcore/plan.json", &["--expect-no-new", "deny", "--allow-unknown"]).0,
        Some(0)
    );
}

#[test]
fn bad_input_exits_2_naming_the_file() {
    let bad = policy("bad.txt", "tcp/22 internet\n");
    let (code, _, err) = plan("plans/noop.json", &["--policy", &bad]);
    assert_eq!(code, Some(2));
    assert!(err.contains("bad.txt:1: `tcp/22 internet`"), "{err}");
    let nobody = policy("nobody.txt", "tcp/22 from internet to nobody\n");
    let (code, _, err) = plan("plans/noop.json", &["--policy", &nobody]);
    assert_eq!(code, Some(2));
    assert!(err.contains("nobody"), "{err}");
    // A state is not a plan.
    let (code, _, err) = plan("alicloud/state.json", &[]);
    assert_eq!(code, Some(2));
    assert!(err.contains("not a plan"), "{err}");
    // `--plan` or OLD NEW, not both.
    let out = sgeval(&["diff", "a.json", "b.json", "--plan", "p.json"]);
    assert_eq!(out.status.code(), Some(2));
    let out = sgeval(&["diff", "--plan", "does-not-exist.json"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("does-not-exist.json"));
}

#[test]
fn ecs_takes_a_tf_group_id_only_when_a_call_pinned_it() {
    // An imported plan pins a group created by the plan as `tf:<address>`; the ECS front
    // end takes it in `SecurityGroupId`, and still refuses any other id not `sg-...`.
    let scenario = |gid: &str| {
        serde_json::json!({"provider": "ecs", "calls": [
            {"api": "CreateSecurityGroup", "id": "tf:alicloud_security_group.admin",
             "params": {"RegionId": "cn-hangzhou", "VpcId": "vpc-1"}},
            {"api": "AuthorizeSecurityGroup", "params": {"RegionId": "cn-hangzhou", "SecurityGroupId": gid,
             "Permissions": [{"IpProtocol": "TCP", "PortRange": "22/22", "SourceCidrIp": "0.0.0.0/0",
                              "Policy": "Accept", "Priority": "1"}]}}]})
    };
    let build = |gid: &str| sgeval::Scenario::from_value(&scenario(gid)).unwrap().build();
    let cloud = build("tf:alicloud_security_group.admin").unwrap();
    let g = cloud.group_by_id("tf:alicloud_security_group.admin").unwrap();
    assert_eq!(g.rules.len(), 1);
    for other in ["tf:alicloud_security_group.other", "admin"] {
        let err = build(other).unwrap_err().to_string();
        assert!(err.contains("InvalidSecurityGroupId.Malformed"), "{other}: {err}");
    }
}

#[test]
fn a_policy_on_a_plan_with_an_instance_of_unknown_address_is_unresolved() {
    // The bastion joins the new admin group (3389 from anywhere) but its address is not
    // known until apply: no region reaches it, so a policy cannot pass without the flag.
    let pol = policy("bastion.txt", "tcp/8443 from internet\n");
    let (code, out, err) = plan("alicloud/plan.json", &["--policy", &pol]);
    assert_eq!(code, Some(EXIT_UNRESOLVED), "{out}{err}");
    assert!(
        err.contains("endpoint `tf:alicloud_instance.bastion (alicloud_instance.bastion)` has no address"),
        "{err}"
    );
    assert_eq!(
        plan("alicloud/plan.json", &["--policy", &pol, "--allow-unknown"]).0,
        Some(0)
    );
    // 3389 is open on the web instance through the new group: a violation as built.
    let rdp = policy("rdp-open.txt", "tcp/3389 from internet\n");
    let (code, _, err) = plan("alicloud/plan.json", &["--policy", &rdp, "--allow-unknown"]);
    assert_eq!(code, Some(EXIT_DENIED), "{err}");
    assert!(err.contains("at alicloud_security_group_rule.rdp"), "{err}");
}

#[test]
fn the_gates_work_on_two_scenario_files_and_leave_the_plain_answer_as_it_was() {
    let (old, new) = ("examples/diff-old.json", "examples/diff-new.json");
    let plain = sgeval(&["diff", old, new, "--json"]);
    assert_eq!(plain.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&plain.stdout).unwrap();
    assert!(v.get("gate").is_none() && v.get("policy").is_none(), "{v}");
    // The example's temporary ssh rule opens 22 to the internet.
    let out = sgeval(&["diff", old, new, "--expect-no-new", "allow"]);
    assert_eq!(out.status.code(), Some(EXIT_DENIED));
    assert!(String::from_utf8_lossy(&out.stderr).contains("newly allow: internet -> web-1"));
    let pol = policy("files.txt", "tcp/22 from 192.0.2.0/24\n");
    let out = sgeval(&["diff", old, new, "--policy", &pol, "--json"]);
    assert_eq!(out.status.code(), Some(EXIT_DENIED));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["policy"][0]["holds"], false);
    assert_eq!(v["gate"]["passed"], false);
    let out = sgeval(&["diff", old, old, "--policy", &pol, "--expect-no-new", "allow"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_gcore_group_planned_without_rules_gets_the_apis_default_egress() {
    // `gcore_cloud_security_group.api` leaves `rules` unset: the v2 provider's encoder
    // leaves a null attribute out of the create request, and the API adds its egress
    // allow-all rules (Decision 6). The planned instance may reach the internet.
    let (_, v) = plan_json("gcore/plan.json", &[]);
    let changes = v["changes"].as_array().unwrap();
    assert!(!changes.is_empty(), "{v}");
    for c in changes {
        assert!(
            !(c["from"] == "tf:gcore_cloud_instance.api" && c["to"] == "internet"),
            "the new instance's egress is not denied: {c}"
        );
        for h in c["after_hops"].as_array().unwrap() {
            assert!(!(h["direction"] == "egress" && h["verdict"] == "deny"), "{c}");
        }
    }
    let out = sgeval(&[
        "diff",
        "--plan",
        &format!("{TF}/gcore/plan.json"),
        "--from",
        "tf:gcore_cloud_instance.api",
        "--to",
        "internet",
        "--json",
    ]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["changes"], serde_json::json!([]), "{v}");
    // The import of the plan leaves `rules` out of the create call, as the provider does.
    let out = sgeval(&["import", &format!("{TF}/gcore/plan.json")]);
    let s: Value = serde_json::from_slice(&out.stdout).unwrap();
    let create = s["calls"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["api"] == "CreateSecurityGroup")
        .unwrap();
    assert!(create["body"].get("rules").is_none(), "{create}");
    assert!(create.get("defaults").is_none(), "{create}");
}
