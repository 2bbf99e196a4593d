//! `sgeval import` of a generated account of a few MB (JSON lines of describe answers, past
//! the providers' default quotas: more than 100 groups, Huawei groups of more than 50
//! rules): the import is complete (every group, rule and NIC counted), leaves nothing
//! unresolved or skipped, and its scenario replays with no call refused, deciding packets
//! as the generated rules say. The 100 MB figures in the README come from the same
//! generator at full size (`examples/gen_describe.rs`).

#[path = "common/describe_gen.rs"]
mod describe_gen;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use describe_gen::{Counts, Size};
use sgeval::{Provider, Quotas};

fn sgeval(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_sgeval"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("runs")
}

fn dir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("sgeval-import-scale-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// 120 groups of 55 rules (past ECS's and Huawei's 100 groups and Huawei's 50 rules per
/// group), 400 NICs in 3 groups each.
const SIZE: Size = Size {
    groups: 120,
    rules_per_group: 55,
    nics: 400,
    groups_per_nic: 3,
};

/// Writes the account, imports it, checks the summary and the replay; returns the scenario.
fn import_all(name: &str, write: fn(&mut dyn std::io::Write, Size) -> std::io::Result<Counts>) -> PathBuf {
    let docs = dir().join(format!("{name}.jsonl"));
    let mut file = std::io::BufWriter::new(std::fs::File::create(&docs).unwrap());
    let counts = write(&mut file, SIZE).unwrap();
    drop(file);
    assert!(counts.bytes > 2_000_000, "a few MB: {counts:?}");
    assert_eq!(counts.rules, SIZE.groups * SIZE.rules_per_group);
    let out = sgeval(&["import", docs.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains(&format!(
            "sgeval import: {name}: {} group(s), {} rule(s), {} endpoint(s)",
            counts.groups, counts.rules, counts.endpoints
        )),
        "{stderr}"
    );
    assert!(stderr.contains("0 unresolved, 0 skipped"), "{stderr}");
    let path = dir().join(format!("{name}.json"));
    std::fs::write(&path, &out.stdout).unwrap();
    // The scenario replays whole: no call refused, every object there under its real id.
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.len() > 1_000_000);
    let scenario = sgeval::limits::load_account_scenario(&text).unwrap();
    assert_eq!(scenario.options.quotas, Quotas::Lifted);
    let replay = scenario.replay().unwrap();
    assert!(replay.failures().is_empty(), "{:?}", &replay.failures()[..1]);
    assert!(replay.endpoint_error.is_none(), "{:?}", replay.endpoint_error);
    let cloud = replay.cloud;
    assert_eq!(cloud.groups().count(), counts.groups);
    assert_eq!(cloud.groups().map(|g| g.rules.len()).sum::<usize>(), counts.rules);
    assert_eq!(cloud.endpoints().len(), counts.endpoints);
    path
}

/// `check` on the imported scenario: (exit status, verdict line).
fn check(path: &Path, from: &str, to: &str, dport: &str) -> (Option<i32>, String) {
    let out = sgeval(&[
        "check",
        path.to_str().unwrap(),
        "--from",
        from,
        "--to",
        to,
        "--proto",
        "tcp",
        "--dport",
        dport,
    ]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code(), text)
}

#[test]
fn a_generated_ecs_account_past_the_default_quotas_imports_whole() {
    let path = import_all("ecs", describe_gen::ecs);
    // NIC 1 (172.16.0.1) is in group 1; its rule 5 accepts tcp/1029 from 10.1.0.5, its
    // rule 3 drops tcp/1027 from 10.1.0.3 (at priority 4, before nothing that accepts it).
    let (code, text) = check(&path, "10.1.0.5", "172.16.0.1", "1029");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("sgr-bp1gen00000100005"), "{text}");
    let (code, text) = check(&path, "10.1.0.3", "172.16.0.1", "1027");
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains("sgr-bp1gen00000100003"), "{text}");
    // With the quotas enforced (any scenario not imported), the 101st group is refused
    // with ECS's own answer.
    let mut enforced =
        sgeval::limits::load_account_scenario(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(enforced.provider, Provider::Ecs);
    enforced.options.quotas = Quotas::Enforced;
    let failures = enforced.replay().unwrap().failures();
    let first = failures.first().expect("the quota refuses a call");
    assert_eq!(first.api, "CreateSecurityGroup", "{first}");
    let groups_before = enforced.calls[..first.index]
        .iter()
        .filter(|c| c.api == "CreateSecurityGroup")
        .count();
    assert_eq!(groups_before, 100, "{first}");
    assert_eq!(first.response.status, 403, "{first}");
    assert!(first.to_string().contains("QuotaExceed.SecurityGroup"), "{first}");
}

#[test]
fn a_generated_huawei_account_past_the_default_quotas_imports_whole() {
    let path = import_all("huawei", describe_gen::huawei);
    let rule = |g: usize, j: usize| format!("{g:08x}-{j:04x}-4a6b-8c7d-9e0f1a2b3c4d");
    // Port 1 is in group 1 first: rule 5 allows tcp/1029 from 10.1.0.5; rule 3 denies
    // tcp/1027 from 10.1.0.3.
    let (code, text) = check(&path, "10.1.0.5", "172.16.0.1", "1029");
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains(&rule(1, 5)), "{text}");
    let (code, text) = check(&path, "10.1.0.3", "172.16.0.1", "1027");
    assert_eq!(code, Some(3), "{text}");
    assert!(text.contains(&rule(1, 3)), "{text}");
}
