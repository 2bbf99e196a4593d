//! `sgeval import` on every describe fixture set, then `sgeval check` on what it printed,
//! naming the cloud's real ids; answers that depend on unresolved items exit 4.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const EXIT_UNRESOLVED: i32 = 4;

fn sgeval(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sgeval"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs")
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("sgeval-import-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Imports `args` and writes the scenario to a file, as `sgeval import ... > cloud.json`.
fn import(name: &str, args: &[&str]) -> (PathBuf, String) {
    let out = sgeval(&[&["import"], args].concat());
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let path = dir().join(format!("{name}.json"));
    std::fs::write(&path, &out.stdout).unwrap();
    (path, stderr)
}

fn check(scenario: &Path, args: &[&str]) -> (Option<i32>, Value) {
    let out = sgeval(&[&["check", scenario.to_str().unwrap(), "--json"], args].concat());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), v)
}

#[test]
fn ecs_import_then_check_names_the_real_rule() {
    let (cloud, stderr) = import("ecs", &["tests/fixtures/import/ecs"]);
    assert!(
        stderr.contains("sgeval import: ecs: 2 group(s), 5 rule(s), 1 endpoint(s)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("port_range_list `sgr-bp1r00000000000d3`"),
        "{stderr}"
    );
    assert!(stderr.contains("README.md"), "skipped files are listed: {stderr}");
    let (code, v) = check(
        &cloud,
        &[
            "--from",
            "203.0.113.5",
            "--to",
            "eni-bp1nic00000000d5",
            "--proto",
            "tcp",
            "--dport",
            "22",
        ],
    );
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(
        v["hops"][0]["rule"]["SecurityGroupRuleId"],
        "sgr-bp1r00000000000c3"
    );
    assert_eq!(v["hops"][0]["group"]["id"], "sg-bp1web0000000000a1");
    // The egress drop of the web group, by its real id.
    let (code, v) = check(
        &cloud,
        &[
            "--from",
            "eni-bp1nic00000000d5",
            "--to",
            "192.0.2.80",
            "--proto",
            "tcp",
            "--dport",
            "80",
        ],
    );
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(
        v["hops"][0]["rule"]["SecurityGroupRuleId"],
        "sgr-bp1r00000000000c4"
    );
}

#[test]
fn an_unresolved_port_list_rule_that_could_decide_gives_the_unresolved_exit_code() {
    let (cloud, _) = import("ecs-ports", &["tests/fixtures/import/ecs"]);
    // UDP from 10/8: the accept with the unknown port list (priority 5) could decide.
    let (code, v) = check(
        &cloud,
        &[
            "--from",
            "10.1.1.1",
            "--to",
            "eni-bp1nic00000000d5",
            "--proto",
            "udp",
            "--dport",
            "53",
        ],
    );
    assert_eq!(code, Some(EXIT_UNRESOLVED), "{v}");
    assert_eq!(v["verdict"], "unresolved");
    assert_eq!(v["possible_verdicts"], serde_json::json!(["allow", "deny"]));
    assert_eq!(v["depends_on"][0]["subject"], "sgr-bp1r00000000000d3");
    assert_eq!(v["depends_on"][0]["kind"], "port_range_list");
    // TCP is not that rule's protocol: a normal answer.
    let (code, v) = check(
        &cloud,
        &[
            "--from",
            "10.1.1.1",
            "--to",
            "eni-bp1nic00000000d5",
            "--proto",
            "tcp",
            "--dport",
            "53",
        ],
    );
    assert_eq!((code, &v["verdict"]), (Some(3), &Value::from("deny")), "{v}");
    assert!(v.get("depends_on").is_none(), "{v}");
    // `--expect` cannot be met by an unresolved answer either.
    let out = sgeval(&[
        "check",
        cloud.to_str().unwrap(),
        "--from",
        "10.1.1.1",
        "--to",
        "eni-bp1nic00000000d5",
        "--proto",
        "udp",
        "--dport",
        "53",
        "--expect",
        "deny",
    ]);
    assert_eq!(out.status.code(), Some(EXIT_UNRESOLVED));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("verdict: unresolved") && text.contains("sgr-bp1r00000000000d3"),
        "{text}"
    );
}

#[test]
fn an_unresolved_prefix_list_rule_decides_only_where_it_could_match() {
    // The ECS set without its DescribePrefixListAttributes answer.
    let d = dir().join("ecs-no-prefix-list");
    std::fs::create_dir_all(&d).unwrap();
    for f in std::fs::read_dir("tests/fixtures/import/ecs").unwrap() {
        let f = f.unwrap().path();
        if !f.ends_with("describe_prefix_list_attributes.json") {
            std::fs::copy(&f, d.join(f.file_name().unwrap())).unwrap();
        }
    }
    let (cloud, stderr) = import("ecs-no-pl", &[d.to_str().unwrap()]);
    assert!(
        stderr.contains("prefix_list_entries `sgr-bp1r00000000000d1`"),
        "{stderr}"
    );
    // 443 from anywhere: the prefix-list accept (priority 1) could decide.
    let (code, v) = check(
        &cloud,
        &[
            "--from",
            "192.0.2.1",
            "--to",
            "eni-bp1nic00000000d5",
            "--proto",
            "tcp",
            "--dport",
            "443",
        ],
    );
    assert_eq!(code, Some(EXIT_UNRESOLVED), "{v}");
    assert_eq!(v["depends_on"][0]["subject"], "sgr-bp1r00000000000d1");
    assert_eq!(
        v["hops"][0]["possible_verdicts"],
        serde_json::json!(["allow", "deny"])
    );
    // A wrong port: the rule cannot match whatever the list holds; a normal deny.
    let (code, v) = check(
        &cloud,
        &[
            "--from",
            "192.0.2.1",
            "--to",
            "eni-bp1nic00000000d5",
            "--proto",
            "tcp",
            "--dport",
            "8443",
        ],
    );
    assert_eq!((code, &v["verdict"]), (Some(3), &Value::from("deny")), "{v}");
}

#[test]
fn ens_huawei_and_gcore_imports_check_with_real_ids() {
    let (ens, stderr) = import("ens", &["tests/fixtures/import/ens", "--provider", "ens"]);
    assert!(stderr.contains("eni-5ledge00000m14"), "{stderr}");
    let (code, v) = check(
        &ens,
        &[
            "--from",
            "198.51.100.1",
            "--to",
            "eni-5ledge00000i10",
            "--proto",
            "tcp",
            "--dport",
            "443",
        ],
    );
    assert_eq!(code, Some(0), "{v}");
    // ENS rules have no ids: the answer names where the rule was read.
    assert!(
        v["hops"][0]["explanation"]
            .as_str()
            .unwrap()
            .contains("describe_security_group_attribute.json#Permissions.Permission[0]"),
        "{v}"
    );
    // The secondary ENI whose groups are not listed is reported with the answer.
    assert_eq!(v["not_tied"][0]["subject"], "eni-5ledge00000m14");

    let (huawei, _) = import("huawei", &["tests/fixtures/import/huawei"]);
    let port = "c0ffee00-0000-4aaa-8bbb-0123456789ab";
    let (code, v) = check(
        &huawei,
        &[
            "--from",
            "198.51.100.20",
            "--to",
            port,
            "--proto",
            "tcp",
            "--dport",
            "3389",
        ],
    );
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["hops"][0]["rule"]["id"], "9a8b7c6d-0000-4e5f-8a9b-0c1d2e3f4a5b");
    let (code, v) = check(
        &huawei,
        &[
            "--from",
            "192.0.2.10",
            "--to",
            port,
            "--proto",
            "tcp",
            "--dport",
            "333",
        ],
    );
    assert_eq!(code, Some(3), "{v}");
    assert_eq!(v["hops"][0]["rule"]["id"], "2c3d4e5f-0000-4a6b-8c7d-9e0f1a2b3c4d");

    let (gcore, _) = import("gcore", &["tests/fixtures/import/gcore"]);
    let (code, v) = check(
        &gcore,
        &[
            "--from",
            "203.0.113.1",
            "--to",
            "e3f4a5b6-0000-4c7d-8e9f-0a1b2c3d4e5f",
            "--proto",
            "tcp",
            "--dport",
            "443",
        ],
    );
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["hops"][0]["rule"]["id"], "a1b2c3d4-0000-4e5f-8a9b-0c1d2e3f4a5b");
}

#[test]
fn accepted_v1_rules_keep_their_priority_in_doubt() {
    // Refused without the flag, naming the file and path.
    let out = sgeval(&["import", "tests/fixtures/import/huawei-v1"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("list_security_group_rules_v1.json") && err.contains("security_group_rules[0]"),
        "{err}"
    );
    let (scenario, stderr) = import(
        "v1",
        &["tests/fixtures/import/huawei-v1", "--accept-v1", "--json"],
    );
    assert!(stderr.contains("v1_rule"), "{stderr}");
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&scenario).unwrap()).unwrap();
    assert_eq!(v["unresolved"].as_array().unwrap().len(), 2);
    assert_eq!(v["scenario"]["provider"], "huawei");
    assert!(v["skipped"].is_array() && v["notes"].is_array());
}

#[test]
fn a_document_of_another_provider_is_refused() {
    let out = sgeval(&["import", "tests/fixtures/import/huawei", "--provider", "gcore"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("huawei") && err.contains(".json"), "{err}");
    let out = sgeval(&["import", "tests/fixtures/import/nothing-here.json"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn reach_and_lint_read_an_import_and_warn_of_its_unresolved_items() {
    let (cloud, _) = import("ecs-reach", &["tests/fixtures/import/ecs"]);
    let path = cloud.to_str().unwrap();
    let out = sgeval(&[
        "reach",
        path,
        "--from",
        "internet",
        "--to",
        "eni-bp1nic00000000d5",
        "--proto",
        "tcp",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("1 unresolved item(s)") && err.contains("sgeval check"),
        "{err}"
    );
    let out = sgeval(&["lint", path]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("1 unresolved item(s)"));
    // A scenario without unresolved items: no warning.
    let (huawei, _) = import("huawei-reach", &["tests/fixtures/import/huawei"]);
    let out = sgeval(&["lint", huawei.to_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("unresolved"));
}

/// The ECS fixture set without its DescribePrefixListAttributes answer, imported.
fn ecs_without_prefix_list(name: &str) -> PathBuf {
    let d = dir().join(format!("{name}-docs"));
    std::fs::create_dir_all(&d).unwrap();
    for f in std::fs::read_dir("tests/fixtures/import/ecs").unwrap() {
        let f = f.unwrap().path();
        if !f.ends_with("describe_prefix_list_attributes.json") {
            std::fs::copy(&f, d.join(f.file_name().unwrap())).unwrap();
        }
    }
    import(name, &[d.to_str().unwrap()]).0
}

#[test]
fn reach_marks_the_regions_an_unresolved_item_could_touch_and_gates_exit_4() {
    let cloud = ecs_without_prefix_list("ecs-reach-marks");
    let path = cloud.to_str().unwrap();
    // 443 from the internet: denied as built, but the prefix-list accept could allow it.
    let q = [
        "reach",
        path,
        "--from",
        "internet",
        "--to",
        "eni-bp1nic00000000d5",
        "--proto",
        "tcp",
        "--dport",
        "443",
    ];
    let out = sgeval(&[&q[..], &["--json"]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let regions = v["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 2, "{v}");
    for r in regions {
        assert_eq!(r["verdict"], "deny", "{r}");
        let subjects: Vec<&str> = r["unresolved"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["subject"].as_str().unwrap())
            .collect();
        assert!(subjects.contains(&"sgr-bp1r00000000000d1"), "{r}");
    }
    assert_eq!(v["unresolved_regions"], 2);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("2 unresolved item(s)") && err.contains("marked"),
        "{err}"
    );
    // Text: a line under each region, and the count.
    let out = sgeval(&q);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("      unresolved: prefix_list_entries `sgr-bp1r00000000000d1`")
            .count(),
        2,
        "{text}"
    );
    assert!(
        text.contains("2 region(s) may depend on unresolved items"),
        "{text}"
    );
    // The gate passes only as built: exit 4, unless --allow-unknown.
    let out = sgeval(&[&q[..], &["--expect-none", "allow"]].concat());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(EXIT_UNRESOLVED), "{err}");
    assert!(err.contains("sgr-bp1r00000000000d1"), "{err}");
    let out = sgeval(&[&q[..], &["--expect-none", "allow", "--allow-unknown"]].concat());
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // An allowed region still fails with 3, unknown items or not.
    let out = sgeval(&[
        "reach",
        path,
        "--from",
        "internet",
        "--to",
        "eni-bp1nic00000000d5",
        "--proto",
        "tcp",
        "--dport",
        "22",
        "--expect-none",
        "allow",
        "--allow-unknown",
    ]);
    assert_eq!(out.status.code(), Some(3));
    // Established packets: no rule decides, nothing is marked.
    let out = sgeval(&[&q[..], &["--established", "--json"]].concat());
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["unresolved_regions"], 0, "{v}");
    assert!(v["regions"][0].get("unresolved").is_none(), "{v}");
}

#[test]
fn reach_without_unresolved_items_prints_what_it_did() {
    // No unresolved items: exactly the unmarked map, text and JSON.
    let path = "examples/reach-shop.json";
    let scenario = sgeval::limits::load_scenario(&std::fs::read_to_string(path).unwrap(), None).unwrap();
    assert!(scenario.unresolved.is_empty());
    let cloud = scenario.build().unwrap();
    let query = sgeval::query::Query {
        from: "internet,!10.0.0.0/8".parse().unwrap(),
        to: "db-1".parse().unwrap(),
        mode: sgeval::query::Mode::New,
        restrict: sgeval::query::Restrict::default(),
    };
    let map = sgeval::query::reach(&cloud, &query).unwrap();
    let args = ["reach", path, "--from", "internet,!10.0.0.0/8", "--to", "db-1"];
    let out = sgeval(&args);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", map.to_text(&cloud).trim_end())
    );
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = sgeval(&[&args[..], &["--json"]].concat());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "{}\n",
            serde_json::to_string_pretty(&map.to_json(&cloud)).unwrap()
        )
    );
    let out = sgeval(&[&args[..], &["--expect-none", "allow"]].concat());
    assert_eq!(out.status.code(), Some(0));
}

fn lint_json(path: &Path) -> Value {
    let out = sgeval(&["lint", path.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn lint_marks_the_findings_an_unresolved_item_concerns() {
    let cloud = ecs_without_prefix_list("ecs-lint-marks");
    // Both items are ingress rules of the ops group; both findings are about egress.
    let v = lint_json(&cloud);
    let findings = v["findings"].as_array().unwrap();
    assert_eq!(findings.len(), 2, "{v}");
    assert!(findings.iter().all(|f| f.get("unresolved").is_none()), "{v}");
    // The prefix-list rule made an egress rule of the ops group: it concerns the shadowed
    // ops rule and the egress at the endpoint the ops group is on.
    let mut s: Value = serde_json::from_str(&std::fs::read_to_string(&cloud).unwrap()).unwrap();
    let items = s["unresolved"].as_array_mut().unwrap();
    let k = items
        .iter()
        .position(|i| i["subject"] == "sgr-bp1r00000000000d1")
        .unwrap();
    items[k]["effect"]["direction"] = Value::from("egress");
    items[k]["effect"].as_object_mut().unwrap().remove("request");
    let egress = dir().join("ecs-lint-egress.json");
    std::fs::write(&egress, serde_json::to_vec(&s).unwrap()).unwrap();
    let v = lint_json(&egress);
    for f in v["findings"].as_array().unwrap() {
        let marked: Vec<&str> = f["unresolved"]
            .as_array()
            .unwrap_or_else(|| panic!("{f}"))
            .iter()
            .map(|i| i["subject"].as_str().unwrap())
            .collect();
        assert_eq!(marked, ["sgr-bp1r00000000000d1"], "{f}");
    }
    let out = sgeval(&["lint", egress.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("    unresolved: prefix_list_entries `sgr-bp1r00000000000d1`")
            .count(),
        2,
        "{text}"
    );
    // Without unresolved items, nothing changes.
    let out = sgeval(&["lint", "examples/reach-shop.json", "--json"]);
    assert!(!String::from_utf8_lossy(&out.stdout).contains("\"unresolved\""));
}

#[test]
fn plain_diff_marks_changes_that_depend_on_unresolved_items_on_either_side() {
    // OLD knows the prefix list's entries (its accept rule is expanded); NEW does not, so
    // what the entries allowed is denied there as built, and that answer is in doubt.
    let (full, _) = import("ecs-diff-full", &["tests/fixtures/import/ecs"]);
    // The full import still leaves a port list open; without that item (the rule is not in
    // the scenario either), OLD has nothing unresolved and every mark is NEW's.
    let mut v: Value = serde_json::from_slice(&std::fs::read(&full).unwrap()).unwrap();
    assert_eq!(
        v["unresolved"].as_array().unwrap().len(),
        1,
        "{}",
        v["unresolved"]
    );
    v["unresolved"] = Value::Array(Vec::new());
    std::fs::write(&full, serde_json::to_vec(&v).unwrap()).unwrap();
    let partial = ecs_without_prefix_list("ecs-diff-partial");
    let (full, partial) = (full.to_str().unwrap(), partial.to_str().unwrap());
    let out = sgeval(&["diff", full, partial, "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("marked `unresolved`"), "{err}");
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let changes = v["changes"].as_array().unwrap();
    assert!(!changes.is_empty(), "{v}");
    let mut marked = 0;
    for c in changes {
        assert_eq!(
            (&c["before"], &c["after"]),
            (&Value::from("allow"), &Value::from("deny")),
            "{c}"
        );
        // Every change here is the prefix list's doing: each is marked, by the new side.
        assert_eq!(c["unresolved"], true, "{c}");
        assert!(c.get("before_depends_on").is_none(), "{c}");
        let subjects: Vec<&str> = c["after_depends_on"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["subject"].as_str().unwrap())
            .collect();
        assert!(subjects.contains(&"sgr-bp1r00000000000d1"), "{c}");
        marked += 1;
    }
    assert_eq!(v["unresolved_regions"], marked, "{v}");
    // Text: a line under each change and the count.
    let out = sgeval(&["diff", full, partial]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.matches("      unresolved (after):  prefix_list_entries `sgr-bp1r00000000000d1`")
            .count(),
        marked,
        "{text}"
    );
    assert!(
        text.contains(&format!("{marked} change(s) may depend on unresolved items")),
        "{text}"
    );
    // Gates as with --plan: closing something fails `--expect-no-new deny` on the cloud
    // as built (3); `--expect-no-new allow` has no newly allowed region, but every change
    // is in doubt: 4, unless --allow-unknown.
    let gate = |args: &[&str]| sgeval(&[&["diff", full, partial], args].concat()).status.code();
    assert_eq!(gate(&["--expect-no-new", "deny"]), Some(3));
    assert_eq!(gate(&["--expect-no-new", "allow"]), Some(EXIT_UNRESOLVED));
    assert_eq!(gate(&["--expect-no-new", "allow", "--allow-unknown"]), Some(0));
    // The other way round the old side is in doubt: it counts as well.
    let out = sgeval(&["diff", partial, full, "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let changes = v["changes"].as_array().unwrap();
    assert_eq!(changes.len(), marked, "{v}");
    for c in changes {
        assert_eq!(c["after"], "allow", "{c}");
        assert_eq!(c["unresolved"], true, "{c}");
        assert!(
            c["before_depends_on"].is_array() && c.get("after_depends_on").is_none(),
            "{c}"
        );
    }
    assert_eq!(v["unresolved_regions"], marked);
    let gate = |args: &[&str]| sgeval(&[&["diff", partial, full], args].concat()).status.code();
    assert_eq!(gate(&["--expect-no-new", "allow", "--allow-unknown"]), Some(3));
    assert_eq!(gate(&["--expect-no-new", "deny"]), Some(EXIT_UNRESOLVED));
    assert_eq!(gate(&["--expect-no-new", "deny", "--allow-unknown"]), Some(0));
    // Established packets: no rule decides, nothing is marked.
    let out = sgeval(&["diff", partial, full, "--json", "--established"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["unresolved_regions"], 0, "{v}");
    // Without unresolved items on either side: the unmarked answer.
    let (huawei, _) = import("huawei-diff", &["tests/fixtures/import/huawei"]);
    let h = huawei.to_str().unwrap();
    let out = sgeval(&["diff", h, h, "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v.get("unresolved_regions").is_none(), "{v}");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("unresolved"));
}
