//! `sgeval reach`, `diff` and `lint` on the example scenarios: JSON shapes, exit codes,
//! and that the answers agree with `sgeval`'s own library.

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn sgeval(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sgeval"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs")
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sgeval-query-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn is_range_list(v: &Value) -> bool {
    v.as_array().is_some_and(|a| {
        a.iter().all(|r| {
            r.as_array()
                .is_some_and(|p| p.len() == 2 && p[0].as_u64().is_some() && p[0].as_u64() <= p[1].as_u64())
        })
    })
}

#[test]
fn reach_json_has_the_documented_shape() {
    let out = sgeval(&[
        "reach",
        "examples/reach-shop.json",
        "--from",
        "internet",
        "--to",
        "web-1",
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    let regions = v["regions"].as_array().unwrap();
    assert!(!regions.is_empty());
    for r in regions {
        assert!(matches!(r["verdict"].as_str(), Some("allow" | "deny")));
        for key in ["protocols", "src_ports", "dst_ports"] {
            assert!(is_range_list(&r[key]), "{key}: {}", r[key]);
        }
        for key in ["src", "dst"] {
            let nets = r[key].as_array().unwrap();
            assert!(nets
                .iter()
                .all(|n| n.as_str().is_some_and(|s| s.parse::<ipnet::IpNet>().is_ok())));
        }
        let hops = r["hops"].as_array().unwrap();
        assert!(hops
            .iter()
            .any(|h| h["endpoint"] == "web-1" && h["direction"] == "ingress"));
        assert!(r["witness"]["src"].is_string());
    }
    // The office SSH rule shows up as an allowed region on port 22 decided by that rule.
    assert!(regions.iter().any(|r| r["verdict"] == "allow"
        && r["dst_ports"] == serde_json::json!([[22, 22]])
        && r["hops"][0]["rule_text"]
            .as_str()
            .unwrap_or_default()
            .contains("address group")));
    assert!(v["exposure"].as_array().is_some_and(|e| !e.is_empty()));
}

#[test]
fn reach_expect_none_gates_on_the_verdict() {
    let gate = |from: &str, verdict: &str| {
        sgeval(&[
            "reach",
            "examples/reach-shop.json",
            "--from",
            from,
            "--to",
            "db-1",
            "--expect-none",
            verdict,
        ])
        .status
        .code()
    };
    // Nothing outside the private network reaches the database, nor does any address
    // that is no endpoint's (`internet`) ...
    assert_eq!(gate("internet,!10.0.0.0/8", "allow"), Some(0));
    assert_eq!(gate("internet", "allow"), Some(0));
    assert_eq!(gate("internet", "deny"), Some(3));
    // ... but the web tier does, so "nothing from any address" fails.
    assert_eq!(gate("any", "allow"), Some(3));
    assert_eq!(gate("any", "deny"), Some(3));
    assert_eq!(gate("web-1", "deny"), Some(3));
}

#[test]
fn reach_modes_and_narrowing() {
    let run = |extra: &[&str]| {
        let mut args = vec![
            "reach",
            "examples/reach-shop.json",
            "--from",
            "web-2",
            "--to",
            "db-1",
            "--json",
        ];
        args.extend_from_slice(extra);
        json(&sgeval(&args))
    };
    let est = run(&["--established"]);
    assert_eq!(est["mode"], "established");
    assert!(est["regions"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["verdict"] == "allow"));
    let rt = run(&["--round-trip", "--proto", "tcp", "--dport", "5432"]);
    assert_eq!(rt["mode"], "round_trip");
    let regions = rt["regions"].as_array().unwrap();
    assert_eq!(regions.len(), 1);
    assert_eq!(regions[0]["verdict"], "allow");
    // Forward hops, then the replies' (established).
    let by: Vec<&str> = regions[0]["hops"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["by"].as_str().unwrap())
        .collect();
    assert_eq!(by, ["rule", "rule", "established", "established"]);
}

#[test]
fn reach_refuses_bad_input_with_status_2() {
    let code = |args: &[&str]| sgeval(args).status.code();
    assert_eq!(
        code(&[
            "reach",
            "examples/reach-shop.json",
            "--from",
            "nosuch",
            "--to",
            "web-1"
        ]),
        Some(2)
    );
    assert_eq!(
        code(&[
            "reach",
            "no/such/file.json",
            "--from",
            "internet",
            "--to",
            "web-1"
        ]),
        Some(2)
    );
    assert_eq!(
        code(&[
            "reach",
            "examples/reach-shop.json",
            "--from",
            "internet",
            "--to",
            "web-1",
            "--dport",
            "9-1"
        ]),
        Some(2)
    );
    assert_eq!(
        code(&[
            "reach",
            "examples/reach-shop.json",
            "--from",
            "internet",
            "--to",
            "web-1",
            "--proto",
            "bogus"
        ]),
        Some(2)
    );
    let broken = temp_file(
        "broken.json",
        r#"{"provider": "huawei", "calls": [{"api": "Nope"}]}"#,
    );
    let out = sgeval(&[
        "reach",
        broken.to_str().unwrap(),
        "--from",
        "internet",
        "--to",
        "internet",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sgeval: error:"));
}

#[test]
fn diff_lists_the_changes_of_the_example_edit() {
    let out = sgeval(&[
        "diff",
        "examples/diff-old.json",
        "examples/diff-new.json",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["equivalent"], false);
    let changes = v["changes"].as_array().unwrap();
    // The temporary SSH rule opens tcp/22 on both web servers to the internet.
    assert!(changes.iter().any(|c| c["from"] == "internet"
        && c["to"] == "web-1"
        && c["before"] == "deny"
        && c["after"] == "allow"
        && c["dst_ports"] == serde_json::json!([[22, 22]])));
    // Narrowing the database rule to web-1 cuts web-2 off.
    assert!(changes.iter().any(|c| c["from"] == "web-2"
        && c["to"] == "db-1"
        && c["before"] == "allow"
        && c["after"] == "deny"
        && c["witness"]["dport"] == 5432));
    for c in changes {
        assert!(c["before_hops"].is_array() && c["after_hops"].is_array() && c["witness"].is_object());
    }
    let gate = sgeval(&[
        "diff",
        "examples/diff-old.json",
        "examples/diff-new.json",
        "--expect-equivalent",
    ]);
    assert_eq!(gate.status.code(), Some(3));
}

#[test]
fn diff_of_a_scenario_with_itself_is_empty() {
    for example in [
        "examples/reach-shop.json",
        "examples/lint-ecs.json",
        "examples/diff-old.json",
    ] {
        let out = sgeval(&["diff", example, example, "--json", "--expect-equivalent"]);
        assert_eq!(out.status.code(), Some(0), "{example}");
        assert_eq!(json(&out)["changes"], serde_json::json!([]));
    }
    let one_pair = sgeval(&[
        "diff",
        "examples/diff-old.json",
        "examples/diff-new.json",
        "--from",
        "web-2",
        "--to",
        "db-1",
        "--json",
    ]);
    let v = json(&one_pair);
    let changes = v["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0]["from"], "web-2");
}

#[test]
fn lint_names_each_finding_with_the_rule_as_the_provider_shows_it() {
    let out = sgeval(&["lint", "examples/lint-ecs.json", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    let findings = v["findings"].as_array().unwrap();
    let kinds: Vec<&str> = findings.iter().map(|f| f["kind"].as_str().unwrap()).collect();
    for kind in ["shadowed", "conflict", "match_nothing", "widened"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
    for f in findings {
        let rule = &f["rule"];
        assert!(rule["group"].as_str().is_some_and(|g| g.starts_with("sg-")));
        assert!(rule["rule"].as_str().is_some_and(|r| r.starts_with("sgr-")));
        // ECS shows a rule with its own field names, the description included.
        assert!(rule["shown"]["IpProtocol"].is_string() && rule["shown"]["Description"].is_string());
    }
    let shadowed = findings.iter().find(|f| f["kind"] == "shadowed").unwrap();
    assert!(shadowed["witness"].is_object() && !shadowed["related"].as_array().unwrap().is_empty());
    assert_eq!(
        sgeval(&["lint", "examples/lint-ecs.json", "--strict"])
            .status
            .code(),
        Some(3)
    );
    let huawei = json(&sgeval(&["lint", "examples/lint-huawei.json", "--json"]));
    let kinds: Vec<&str> = huawei["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["kind"].as_str().unwrap())
        .collect();
    for kind in ["shadowed", "match_nothing", "all_ports"] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
}

#[test]
fn exposure_counts_are_exact_decimal_strings_in_both_families() {
    // Every IPv6 source reaches web-1 on tcp/443 (the ::/0 rule, and the endpoints' own
    // egress allows it): 2^128 addresses, not the largest u128.
    let out = sgeval(&[
        "reach",
        "examples/reach-shop.json",
        "--from",
        "any",
        "--to",
        "web-1",
        "--proto",
        "tcp",
        "--dport",
        "443",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    let exposure = v["exposure"].as_array().unwrap();
    let pick = |family: &str| {
        exposure
            .iter()
            .find(|e| e["verdict"] == "allow" && e["family"] == family)
            .unwrap_or_else(|| panic!("no allow {family} exposure in {v}"))
    };
    assert_eq!(
        pick("IPv6")["src_addresses"],
        "340282366920938463463374607431768211456"
    );
    assert_eq!(pick("IPv4")["src_addresses"], "4294967040");
    assert_eq!(pick("IPv4")["dst_addresses"], "1");
    // `internet` leaves the endpoints out: both web servers' IPv6 addresses.
    let out = sgeval(&[
        "reach",
        "examples/reach-shop.json",
        "--from",
        "internet",
        "--to",
        "web-1",
        "--proto",
        "tcp",
        "--dport",
        "443",
        "--json",
    ]);
    let v = json(&out);
    let v6 = v["exposure"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["verdict"] == "allow" && e["family"] == "IPv6")
        .cloned()
        .unwrap();
    assert_eq!(v6["src_addresses"], "340282366920938463463374607431768211454");
}

#[test]
fn contradictory_flags_are_refused_naming_the_flag() {
    let refused = |args: &[&str], says: &str| {
        let out = sgeval(args);
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
    };
    let check = [
        "check",
        "examples/ecs-web-db.json",
        "--from",
        "203.0.113.9",
        "--to",
        "web-1",
    ];
    let with = |extra: &[&'static str]| {
        check
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect::<Vec<_>>()
    };
    refused(
        &with(&["--proto", "tcp", "--dport", "443", "--icmp-type", "8"]),
        "`icmp_type` does not apply to protocol `tcp`",
    );
    refused(
        &with(&["--proto", "icmp", "--dport", "443"]),
        "`dport` does not apply to protocol `icmp`",
    );
    refused(
        &with(&["--proto", "udp", "--dport", "53", "--icmp-code", "0"]),
        "`icmp_code` does not apply",
    );
    refused(
        &with(&["--proto", "tcp", "--dport", "-1"]),
        "`-1` is out of range: a port is 0 to 65535",
    );
    refused(&with(&["--proto", "tcp", "--dport", "65536"]), "out of range");
    let reach = [
        "reach",
        "examples/reach-shop.json",
        "--from",
        "internet",
        "--to",
        "web-1",
    ];
    let with = |extra: &[&'static str]| {
        reach
            .iter()
            .copied()
            .chain(extra.iter().copied())
            .collect::<Vec<_>>()
    };
    refused(
        &with(&["--proto", "icmp", "--dport", "22"]),
        "icmp carries no ports",
    );
    refused(&with(&["--proto", "all", "--dport", "22"]), "carry no ports");
    refused(&with(&["--dport", "22"]), "needs the protocols it applies to");
    refused(&with(&["--proto", "tcp,icmp", "--sport", "22"]), "`--sport`");
    // Still fine: ports with port protocols only.
    assert_eq!(
        sgeval(&with(&["--proto", "tcp,udp", "--dport", "22"]))
            .status
            .code(),
        Some(0)
    );
}

#[test]
fn widened_rules_are_flagged_on_every_provider_and_can_be_acknowledged() {
    // One ingress allow from every IPv4 address per provider.
    let scenarios = [
        (
            "ecs",
            r#"{"provider": "ecs", "calls": [
  {"api": "CreateSecurityGroup", "ref": "web", "params": {"RegionId": "cn-hangzhou", "VpcId": "vpc-1"}},
  {"api": "AuthorizeSecurityGroup", "params": {"RegionId": "cn-hangzhou", "SecurityGroupId": "$web",
    "Permissions": [{"IpProtocol": "TCP", "PortRange": "443/443", "SourceCidrIp": "0.0.0.0/0", "Policy": "Accept", "Priority": "1"}]}}],
 "endpoints": [{"name": "web-1", "ips": ["172.16.1.10"], "groups": ["$web"]}]"#,
        ),
        (
            "ens",
            r#"{"provider": "ens", "calls": [
  {"api": "CreateSecurityGroup", "ref": "web", "params": {"SecurityGroupName": "web",
    "Permissions": [{"Direction": "ingress", "IpProtocol": "TCP", "PortRange": "443/443", "SourceCidrIp": "0.0.0.0/0", "Policy": "Accept", "Priority": 1}]}}],
 "endpoints": [{"name": "web-1", "ips": ["10.8.0.5"], "groups": ["$web"]}]"#,
        ),
        (
            "huawei",
            r#"{"provider": "huawei", "calls": [
  {"api": "CreateSecurityGroup", "ref": "web", "body": {"security_group": {"name": "web"}}},
  {"api": "CreateSecurityGroupRule", "ref": "https", "body": {"security_group_rule": {"security_group_id": "$web",
    "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "multiport": "443", "remote_ip_prefix": "0.0.0.0/0",
    "action": "allow", "priority": 1}}}],
 "endpoints": [{"name": "web-1", "ips": ["192.168.0.10"], "groups": ["$web"]}]"#,
        ),
        (
            "gcore",
            r#"{"provider": "gcore", "calls": [
  {"api": "CreateSecurityGroup", "ref": "web", "path": "/cloud/v2/security_groups/1/1",
   "body": {"name": "web", "rules": [{"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
     "port_range_min": 443, "port_range_max": 443, "remote_ip_prefix": "0.0.0.0/0"}]}}],
 "endpoints": [{"name": "web-1", "ips": ["10.0.0.12"], "groups": ["$web"]}]"#,
        ),
    ];
    for (provider, body) in scenarios {
        let file = temp_file(&format!("widened-{provider}.json"), &format!("{body}}}"));
        let out = sgeval(&["lint", file.to_str().unwrap(), "--json", "--strict"]);
        let v = json(&out);
        let widened: Vec<&Value> = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == "widened" && f["message"].as_str().unwrap().contains("every address"))
            .collect();
        assert_eq!(widened.len(), 1, "{provider}: {v}");
        assert_eq!(
            out.status.code(),
            Some(3),
            "{provider}: a widened rule fails --strict"
        );
        // Acknowledged by its rule id, the finding stays listed and --strict passes.
        let id = widened[0]["rule"]["rule"].as_str().unwrap().to_owned();
        let ack = format!("widened:{id}=public https");
        let out = sgeval(&[
            "lint",
            file.to_str().unwrap(),
            "--json",
            "--strict",
            "--ack",
            &ack,
        ]);
        let v = json(&out);
        assert_eq!(out.status.code(), Some(0), "{provider}: {v}");
        assert!(v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["acknowledged"] == "public https"));
    }
    // In the scenario itself, by `$ref` (Huawei's rule call creates one rule).
    let with_ack = format!(
        r#"{}, "acknowledged": [{{"kind": "widened", "rule": "$https", "reason": "public web tier"}}]}}"#,
        scenarios[2].1
    );
    let file = temp_file("widened-ack.json", &with_ack);
    let out = sgeval(&["lint", file.to_str().unwrap(), "--strict"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("acknowledged: public web tier"));
    // An acknowledgement that names no finding is reported, not silently kept.
    let out = sgeval(&["lint", file.to_str().unwrap(), "--ack", "shadowed:nope"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("names no finding"));
    // A malformed one is bad input naming the field.
    let bad = temp_file(
        "widened-bad-ack.json",
        &format!(
            r#"{}, "acknowledged": [{{"kind": "widened", "rule": "$https"}}]}}"#,
            scenarios[2].1
        ),
    );
    let out = sgeval(&["lint", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("acknowledged[0].reason"));
}

/// `check --fix` names groups by the scenario's `$ref`s (text and `scenario_call` in JSON),
/// and the call pasted back into the scenario flips the verdict: on ECS params, a Huawei
/// body, a Gcore path, and a removal whose path also names a generated rule id.
#[test]
fn fix_calls_use_the_scenarios_refs_and_paste_back() {
    let cases = [
        ("examples/ecs-web-db.json", "web-1", "db-1", "22", "$db"),
        ("examples/huawei-app.json", "8.8.8.8", "app-1", "22", "$app"),
        (
            "examples/gcore-bastion.json",
            "8.8.8.8",
            "worker",
            "22",
            "$private",
        ),
        (
            "examples/gcore-bastion.json",
            "worker",
            "8.8.8.8",
            "443",
            "$private",
        ),
    ];
    for (i, (file, from, to, dport, reference)) in cases.into_iter().enumerate() {
        let args = [
            "check", file, "--from", from, "--to", to, "--proto", "tcp", "--dport", dport, "--fix",
        ];
        let text = String::from_utf8_lossy(&sgeval(&args).stdout).into_owned();
        let call_line = text
            .lines()
            .find_map(|l| l.trim_start().strip_prefix("call: "))
            .unwrap_or_else(|| panic!("no call in {text}"));
        let call: Value = serde_json::from_str(call_line).unwrap();
        assert!(call_line.contains(reference), "{call_line}");
        let mut with_json = args.to_vec();
        with_json.push("--json");
        let before = sgeval(&with_json);
        let answer = json(&before);
        assert_eq!(answer["fix"]["scenario_call"], call);
        // The plain call has the cloud's ids instead, where the scenario has refs.
        assert!(!answer["fix"]["call"].to_string().contains(reference));
        let mut scenario: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
        scenario["calls"].as_array_mut().unwrap().push(call);
        let fixed = temp_file(&format!("fixed-{i}.json"), &scenario.to_string());
        let mut again = with_json.clone();
        again[1] = fixed.to_str().unwrap();
        let after = json(&sgeval(&again));
        assert_ne!(
            after["verdict"], answer["verdict"],
            "{file}: the pasted fix did not flip it"
        );
        assert_ne!(sgeval(&again).status.code(), before.status.code());
    }
}

/// `reach`, `lint` and `diff` print each group's name beside its id, as `check` does.
#[test]
fn text_answers_name_groups_beside_their_ids() {
    let runs: [(&[&str], &str); 4] = [
        (
            &[
                "reach",
                "examples/reach-shop.json",
                "--from",
                "internet",
                "--to",
                "web-1",
                "--proto",
                "tcp",
            ],
            "examples/reach-shop.json",
        ),
        (
            &["lint", "examples/lint-huawei.json"],
            "examples/lint-huawei.json",
        ),
        (&["lint", "examples/lint-ecs.json"], "examples/lint-ecs.json"),
        (
            &["diff", "examples/diff-old.json", "examples/diff-new.json"],
            "examples/diff-new.json",
        ),
    ];
    for (args, file) in runs {
        let text = String::from_utf8_lossy(&sgeval(args).stdout).into_owned();
        let cloud = sgeval::Scenario::from_json(&std::fs::read_to_string(file).unwrap())
            .unwrap()
            .build()
            .unwrap();
        let mut seen = 0;
        for g in cloud.groups() {
            for (at, _) in text.match_indices(&g.id) {
                let rest = text[at + g.id.len()..].trim_start_matches('`');
                assert!(
                    rest.starts_with(&format!(" ({})", g.name)),
                    "{args:?}: `{}` without its name in\n{text}",
                    g.id
                );
                seen += 1;
            }
        }
        assert!(seen > 0, "{args:?} names no group:\n{text}");
    }
}
