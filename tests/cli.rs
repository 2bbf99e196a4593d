//! The CLI: the corpus through `sgeval check --json`, exit codes, `api --json`, bad input.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::{load_all, replay_case, resolve_label};
use serde_json::Value;

fn sgeval() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sgeval"))
}

fn temp_file(name: &str, contents: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sgeval-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path
}

fn check_args(check: &common::Check) -> Vec<String> {
    let s = &check.spec;
    let mut args = vec![
        "--from".into(),
        s.from.clone(),
        "--to".into(),
        s.to.clone(),
        "--proto".into(),
        s.protocol.to_string(),
    ];
    for (flag, v) in [("--dport", s.dport), ("--sport", s.sport)] {
        if let Some(v) = v {
            args.extend([flag.to_owned(), v.to_string()]);
        }
    }
    for (flag, v) in [("--icmp-type", s.icmp_type), ("--icmp-code", s.icmp_code)] {
        if let Some(v) = v {
            args.extend([flag.to_owned(), v.to_string()]);
        }
    }
    if s.established {
        args.push("--established".into());
    }
    if let Some(f) = s.family {
        args.extend(["--family".to_owned(), f.to_string()]);
    }
    args
}

#[test]
fn corpus_passes_through_the_cli() {
    let mut failures = Vec::new();
    let mut runs = 0;
    for case in load_all() {
        let Ok(Some((replay, _))) = replay_case(&case) else {
            continue;
        };
        let path = temp_file(&format!("{}.json", case.name), &case.scenario.to_string());
        for (i, check) in case.checks.iter().enumerate() {
            if check.spec_error.is_some() {
                let out = sgeval()
                    .arg("check")
                    .arg(&path)
                    .args(check_args(check))
                    .output()
                    .unwrap();
                let stderr = String::from_utf8_lossy(&out.stderr);
                if out.status.code() != Some(2)
                    || !stderr.contains(check.spec_error.as_deref().unwrap_or_default())
                {
                    failures.push(format!(
                        "{} check {i}: exit {:?}, stderr {stderr}",
                        case.name,
                        out.status.code()
                    ));
                }
                continue;
            }
            for engine in ["reference", "compiled"] {
                runs += 1;
                let out = sgeval()
                    .arg("check")
                    .arg(&path)
                    .args(check_args(check))
                    .args(["--engine", engine, "--json"])
                    .output()
                    .unwrap();
                let json: Value = match serde_json::from_slice(&out.stdout) {
                    Ok(v) => v,
                    Err(e) => {
                        failures.push(format!(
                            "{} check {i} [{engine}]: not JSON ({e}): {}",
                            case.name,
                            String::from_utf8_lossy(&out.stderr)
                        ));
                        continue;
                    }
                };
                let want_code = if check.verdict == "allow" { 0 } else { 3 };
                if json["verdict"] != check.verdict.as_str() || out.status.code() != Some(want_code) {
                    failures.push(format!(
                        "{} check {i} [{engine}]: verdict {} exit {:?} (want {} exit {want_code})",
                        case.name,
                        json["verdict"],
                        out.status.code(),
                        check.verdict
                    ));
                }
                if let Some(hops) = &check.hops {
                    let got: Vec<String> = json["hops"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|h| h["decided_by"].as_str().unwrap().to_owned())
                        .collect();
                    let want: Vec<String> = hops.iter().map(|l| resolve_label(l, &replay.refs)).collect();
                    if got != want {
                        failures.push(format!(
                            "{} check {i} [{engine}]: hops {got:?} (want {want:?})",
                            case.name
                        ));
                    }
                }
            }
        }
    }
    println!("{runs} CLI runs");
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn bad_input_exits_2_and_names_the_problem() {
    let cases: &[(&str, &str)] = &[
        ("{not json", "not valid JSON"),
        (r#"{"provider": "aws", "calls": []}"#, "unknown provider `aws`"),
        (
            r#"{"provider": "ecs", "calls": [{"api": "Nope"}]}"#,
            "call 0: `api` `Nope`",
        ),
        (r#"{"provider": "ecs", "calls": [{"api": 42}]}"#, "calls[0].api"),
        (
            r#"{"provider": "ecs", "calls": [], "endpoints": [{"name": "a", "ips": ["10.0.0.1/33"], "groups": []}]}"#,
            "endpoints[0].ips[0]",
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let path = temp_file(&format!("bad-{i}.json"), text);
        let out = sgeval()
            .args(["check"])
            .arg(&path)
            .args([
                "--from", "10.0.0.1", "--to", "10.0.0.2", "--proto", "tcp", "--dport", "22",
            ])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "case {i}: {stderr}");
        assert!(
            stderr.contains(want),
            "case {i}: `{stderr}` does not contain `{want}`"
        );
        assert!(!stderr.contains("panicked"), "case {i} panicked: {stderr}");
    }
}

#[test]
fn unknown_ref_names_call_field_and_value() {
    let text = r#"{"provider": "huawei", "calls": [
        {"api": "CreateSecurityGroupRule", "body": {"security_group_rule": {"security_group_id": "$nope", "direction": "ingress"}}}
    ]}"#;
    let path = temp_file("unknown-ref.json", text);
    let out = sgeval().arg("api").arg(&path).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("call 0"), "{stderr}");
    assert!(
        stderr.contains("body.security_group_rule.security_group_id"),
        "{stderr}"
    );
    assert!(stderr.contains("$nope"), "{stderr}");
}

#[test]
fn check_why_and_fix_explain_a_denied_packet() {
    let out = sgeval()
        .args([
            "check",
            "examples/ecs-web-db.json",
            "--from",
            "web-1",
            "--to",
            "db-1",
        ])
        .args(["--proto", "tcp", "--dport", "22", "--why", "--fix", "--json"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let misses = json["hops"][1]["not_deciding"].as_array().unwrap();
    assert_eq!(misses.len(), 1, "{json}");
    assert_eq!(misses[0]["why"]["field"], "port");
    let call = &json["fix"]["call"];
    assert_eq!(call["api"], "AuthorizeSecurityGroup");
    assert_eq!(call["params"]["Permissions"][0]["PortRange"], "22/22");
    assert_eq!(json["fix"]["after"], "allow");
}
