//! The CLI: the corpus through `sgeval check --json`, exit codes, `api --json`, bad input,
//! and `sgeval bench classbench` (report line, truth checks, gzip, mismatch exit code).

mod common;

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
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
    let s = &check.spec();
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
                let verdict = check.verdict.map(|v| v.to_string()).unwrap_or_default();
                let want_code = if verdict == "allow" { 0 } else { 3 };
                if json["verdict"] != verdict.as_str() || out.status.code() != Some(want_code) {
                    failures.push(format!(
                        "{} check {i} [{engine}]: verdict {} exit {:?} (want {} exit {want_code})",
                        case.name,
                        json["verdict"],
                        out.status.code(),
                        verdict
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

// ---- sgeval bench classbench ----

/// A small ClassBench-format rule set, a trace aimed at its rules and the first-match
/// answers, computed here by a plain scan that shares nothing with sgeval.
struct ClassbenchFiles {
    rules: String,
    trace: String,
    truth: Vec<i64>,
}

fn classbench_files() -> ClassbenchFiles {
    let mut x = 0x2545_F491u32;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    let mask = |len: u32| u32::MAX.checked_shl(32 - len).unwrap_or(0);
    // (src, src_len, dst, dst_len, sport lo/hi, dport lo/hi, proto, proto mask)
    type R = (u32, u32, u32, u32, (u16, u16), (u16, u16), u8, u8);
    let mut rules: Vec<R> = Vec::new();
    for i in 0..300u32 {
        let (a, b, c) = (next(), next(), next());
        let sl = [0, 8, 16, 24, 32][(a % 5) as usize];
        let dl = [8, 16, 24, 30, 32][(b % 5) as usize];
        let lo = (c % 1024) as u16;
        let dp = if i % 4 == 0 {
            (0, 65535)
        } else {
            (lo, lo + (c >> 20) as u16 % 100)
        };
        let (proto, pmask) = [(6, 0xff), (17, 0xff), (0, 0)][(c % 3) as usize];
        rules.push((a & mask(sl), sl, b & mask(dl), dl, (0, 65535), dp, proto, pmask));
    }
    let ip = |v: u32| std::net::Ipv4Addr::from(v).to_string();
    let mut text = String::new();
    for r in &rules {
        text += &format!(
            "@{}/{}\t{}/{}\t{} : {}\t{} : {}\t0x{:02x}/0x{:02x}\t0x0000/0x0000\n",
            ip(r.0),
            r.1,
            ip(r.2),
            r.3,
            r.4 .0,
            r.4 .1,
            r.5 .0,
            r.5 .1,
            r.6,
            r.7
        );
    }
    let mut trace = String::new();
    let mut truth = Vec::new();
    for i in 0..2000u32 {
        let r = rules[(next() % 300) as usize];
        let key = (
            r.0 | (next() & !mask(r.1)),
            r.2 | (next() & !mask(r.3)),
            (next() % 65536) as u16,
            if i % 9 == 0 { 65000 } else { r.5 .0 },
            if i % 11 == 0 { 1 } else { r.6 | 6 },
        );
        trace += &format!("{}\t{}\t{}\t{}\t{}\t0\t0\n", key.0, key.1, key.2, key.3, key.4);
        let first = rules.iter().position(|r| {
            key.0 & mask(r.1) == r.0
                && key.1 & mask(r.3) == r.2
                && (r.4 .0..=r.4 .1).contains(&key.2)
                && (r.5 .0..=r.5 .1).contains(&key.3)
                && key.4 & r.7 == r.6
        });
        truth.push(first.map_or(-1, |p| p as i64));
    }
    assert!(truth.contains(&-1) && truth.iter().filter(|&&t| t >= 0).count() > 1000);
    ClassbenchFiles {
        rules: text,
        trace,
        truth,
    }
}

fn truth_text(truth: &[i64]) -> String {
    truth.iter().map(|t| format!("{t}\n")).collect()
}

fn gzip(path: &std::path::Path) -> PathBuf {
    use std::io::Write;
    let gz = path.with_extension("gz");
    let mut enc =
        flate2::write::GzEncoder::new(std::fs::File::create(&gz).unwrap(), flate2::Compression::fast());
    enc.write_all(&std::fs::read(path).unwrap()).unwrap();
    enc.finish().unwrap();
    gz
}

/// `sgeval bench classbench RULES TRACE ARGS...`: exit code, stdout and stderr.
fn bench_classbench(rules: &Path, trace: &Path, args: &[&OsStr]) -> (Option<i32>, Vec<u8>, String) {
    let out = sgeval()
        .args(["bench", "classbench"])
        .args([rules, trace])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code(), out.stdout, stderr)
}

/// The fields of a `bench classbench` report line.
fn report(stdout: &[u8]) -> std::collections::BTreeMap<String, String> {
    let text = String::from_utf8_lossy(stdout);
    let line = text.trim();
    assert_eq!(line.lines().count(), 1, "{text}");
    line.split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or_else(|| panic!("`{kv}` in `{line}`"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

#[test]
fn bench_classbench_checks_every_answer_on_plain_and_gzip_files() {
    let files = classbench_files();
    let rules = temp_file("cb_rules", &files.rules);
    let trace = temp_file("cb_trace", &files.trace);
    let truth = temp_file("cb_truth", &truth_text(&files.truth));
    let gz = [gzip(&rules), gzip(&trace), gzip(&truth)];
    for (r, t, a) in [(&rules, &trace, &truth), (&gz[0], &gz[1], &gz[2])] {
        for engine in ["compiled", "reference"] {
            for batch in ["1", "64"] {
                let args = [
                    "--truth",
                    "--batch",
                    batch,
                    "--engine",
                    engine,
                    "--seconds",
                    "0.05",
                ];
                let mut args: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
                args.insert(1, a.as_os_str());
                let (code, stdout, stderr) = bench_classbench(r, t, &args);
                assert_eq!(code, Some(0), "{engine} batch {batch}: {stderr}");
                let f = report(&stdout);
                let keys: Vec<&str> = f.keys().map(String::as_str).collect();
                assert_eq!(
                    keys,
                    [
                        "batch",
                        "build_ms",
                        "lookups_per_s",
                        "memory_bytes",
                        "mismatches",
                        "rules"
                    ]
                );
                assert_eq!(f["rules"], "300");
                assert_eq!(f["batch"], batch);
                assert_eq!(f["mismatches"], "0");
                assert!(f["lookups_per_s"].parse::<f64>().unwrap() > 0.0);
                assert!(f["memory_bytes"].parse::<u64>().unwrap() > 0);
            }
        }
    }
}

#[test]
fn bench_classbench_fails_on_a_wrong_answer_and_names_the_line() {
    let files = classbench_files();
    let rules = temp_file("cbw_rules", &files.rules);
    let trace = temp_file("cbw_trace", &files.trace);
    let mut wrong = files.truth.clone();
    wrong[1234] = if wrong[1234] == 0 { 1 } else { 0 };
    let truth = temp_file("cbw_truth", &truth_text(&wrong));
    for batch in ["1", "64"] {
        let args = [
            OsStr::new("--truth"),
            truth.as_os_str(),
            OsStr::new("--batch"),
            OsStr::new(batch),
            OsStr::new("--seconds"),
            OsStr::new("0"),
        ];
        let (code, stdout, stderr) = bench_classbench(&rules, &trace, &args);
        assert_eq!(code, Some(3), "batch {batch}");
        assert_eq!(report(&stdout)["mismatches"], "1");
        assert!(stderr.contains("trace line 1235"), "{stderr}");
    }
}

#[test]
fn bench_classbench_names_the_bad_line() {
    let files = classbench_files();
    let trace = temp_file("cbb_trace", &files.trace);
    let mut lines: Vec<&str> = files.rules.lines().collect();
    lines[41] = "@10.0.0.0/33\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x06/0xFF";
    let rules = temp_file("cbb_rules", &(lines.join("\n") + "\n"));
    let (code, _, stderr) = bench_classbench(&rules, &trace, &[]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("line 42") && stderr.contains("source prefix length `33`"),
        "{stderr}"
    );
    // A truth file of the wrong length is bad input too, not a mismatch.
    let truth = temp_file("cbb_truth", "0\n-1\n");
    let good = temp_file("cbb_rules_ok", &files.rules);
    let (code, _, stderr) = bench_classbench(&good, &trace, &[OsStr::new("--truth"), truth.as_os_str()]);
    assert_eq!(code, Some(2));
    assert!(
        stderr.contains("2 answers") && stderr.contains("2000 packets"),
        "{stderr}"
    );
}

#[test]
fn a_failed_call_leads_every_answer_and_api_prints_the_calls_it_made_impossible() {
    // Call 0 lacks its RegionId; call 1 and the endpoint name its `$web`.
    let file = temp_file(
        "failed-ref.json",
        r#"{"provider": "ecs", "calls": [
  {"api": "CreateSecurityGroup", "ref": "web", "params": {"VpcId": "vpc-1"}},
  {"api": "AuthorizeSecurityGroup", "params": {"RegionId": "cn-hangzhou", "SecurityGroupId": "$web",
    "Permissions": [{"IpProtocol": "TCP", "PortRange": "443/443", "SourceCidrIp": "0.0.0.0/0", "Policy": "Accept", "Priority": "1"}]}}],
 "endpoints": [{"name": "web-1", "ips": ["172.16.1.10"], "groups": ["$web"]}]}"#,
    );
    let path = file.to_str().unwrap();
    let out = sgeval().args(["api", path, "--json"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("api prints JSON");
    assert_eq!(v["calls"][0]["status"], 400);
    assert_eq!(v["calls"][0]["body"]["Code"], "MissingRegionId");
    assert!(v["calls"][1]["not_sent"]
        .as_str()
        .unwrap()
        .contains("call 0 (CreateSecurityGroup)"));
    assert!(v["endpoint_error"]
        .as_str()
        .unwrap()
        .contains("call 0 (CreateSecurityGroup)"));
    let text = sgeval().args(["api", path]).output().unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("call 1 AuthorizeSecurityGroup -> not sent"));
    for cmd in [
        vec![
            "check", path, "--from", "1.2.3.4", "--to", "web-1", "--proto", "tcp", "--dport", "443",
        ],
        vec!["reach", path, "--from", "internet", "--to", "web-1"],
        vec!["lint", path],
    ] {
        let out = sgeval().args(&cmd).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{cmd:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        let first = err.find("call 0 (CreateSecurityGroup) answered 400 MissingRegionId");
        let second = err.find("call 1 (AuthorizeSecurityGroup) not sent");
        assert!(
            first.is_some() && second.is_some() && first < second,
            "{cmd:?}: {err}"
        );
    }
}

#[test]
fn a_call_over_a_provider_quota_gets_the_providers_own_answer() {
    // ENS takes at most 200 `Permissions` (E1): 201 is ENS's to refuse, not sgeval's limits.
    let perms: Vec<Value> = (1..=201)
        .map(|p| {
            serde_json::json!({"Direction": "ingress", "IpProtocol": "TCP", "PortRange": format!("{p}/{p}"),
                "SourceCidrIp": "0.0.0.0/0", "Policy": "Accept", "Priority": 1})
        })
        .collect();
    let scenario = serde_json::json!({"provider": "ens", "calls": [
        {"api": "CreateSecurityGroup", "params": {"SecurityGroupName": "web", "Permissions": perms}}]});
    let file = temp_file("ens-201.json", &scenario.to_string());
    let out = sgeval()
        .args(["api", file.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["calls"][0]["status"], 400);
    assert_eq!(v["calls"][0]["body"]["Code"], "AuthorizationLimitExceed");
}

#[test]
fn api_answers_membership_and_delete_calls_as_the_provider_does() {
    // Huawei: a port gets a group inserted first, loses another, the group is deleted;
    // then a delete of a group still on the port is refused.
    let file = temp_file(
        "membership-calls.json",
        r#"{"provider": "huawei", "calls": [
  {"api": "CreateSecurityGroup", "ref": "web", "body": {"security_group": {"name": "web"}}},
  {"api": "CreateSecurityGroup", "ref": "ops", "body": {"security_group": {"name": "ops"}}},
  {"api": "CreateSecurityGroup", "ref": "old", "body": {"security_group": {"name": "old"}}},
  {"api": "AttachEndpoint", "body": {"name": "port-1", "ips": ["192.168.0.10"], "groups": ["$web", "$old"]}},
  {"api": "AddSecurityGroups", "body": {"port_id": "port-1", "port": {"security_groups": ["$ops"], "index": 0}}},
  {"api": "RemoveSecurityGroups", "body": {"port_id": "port-1", "port": {"security_groups": ["$old"]}}},
  {"api": "DeleteSecurityGroup", "body": {"security_group_id": "$old"}},
  {"api": "DeleteSecurityGroup", "body": {"security_group_id": "$web"}}]}"#,
    );
    let out = sgeval()
        .args(["api", file.to_str().unwrap(), "--json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "the last call fails");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("api prints JSON");
    let calls = v["calls"].as_array().expect("calls");
    let status: Vec<u64> = calls.iter().map(|c| c["status"].as_u64().unwrap_or(0)).collect();
    assert_eq!(status, [201, 201, 201, 200, 200, 200, 204, 409]);
    // The port's groups in their new order: ops first, then web.
    let ids = |i: usize| calls[i]["body"]["security_group"]["id"].clone();
    assert_eq!(
        calls[5]["body"]["port"]["security_groups"],
        serde_json::json!([ids(1), ids(0)])
    );
    assert_eq!(calls[7]["body"]["error_code"], "VPC.0602");
}
