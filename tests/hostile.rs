//! Hostile input: the committed corpus (tests/hostile/inputs, written by tests/hostile/gen.py)
//! and inputs too large to commit, generated here. Every input gets a clear error (the
//! provider's code where it has one) or a documented answer, without a panic, within a
//! time bound, and never an allow the reference evaluator would not give.
//!
//! tests/hostile/intent.json says what each input must get (`error`, `ok`, `either`) and
//! why; tests/hostile/expect.json records the outcome (which error, which code), so a change
//! of answer is seen. `HOSTILE_RECORD=1 cargo test --test hostile` rewrites expect.json.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use sgeval::conntrack::Tracker;
use sgeval::limits::{self, LimitError, Limits, LoadError};
use sgeval::live::Live;
use sgeval::testkit::error_code;
use sgeval::{flow, reference, Cloud, Packet, Provider, Reason, Request, ScenarioError, Verdict};

/// This thread's CPU time. The bounds below are on work done, so they read the CPU clock:
/// wall time moves with whatever else shares the machine.
fn thread_cpu() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid, writable timespec; CLOCK_THREAD_CPUTIME_ID exists on Linux.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

/// How long one committed input may take (debug build, shared machine).
const BOUND: Duration = Duration::from_secs(3);

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/hostile")
}

/// Packets between every endpoint address and outside addresses, both families.
fn probes(cloud: &Cloud) -> Vec<Packet> {
    let mut addrs: Vec<IpAddr> = cloud
        .endpoints()
        .iter()
        .flat_map(|e| e.ips.iter().copied())
        .take(6)
        .collect();
    addrs.extend(["10.9.9.9", "203.0.113.1", "2001:db8:9::9"].map(|a| a.parse::<IpAddr>().unwrap()));
    let mut out = Vec::new();
    for &s in &addrs {
        for &d in &addrs {
            for port in [22u16, 80] {
                out.push(Packet::tcp(s, d, port));
            }
            out.push(Packet::new(s, d, if s.is_ipv4() { 1 } else { 58 }).with_icmp(8, 0));
        }
    }
    out
}

/// Whatever state an input left: flows are consistent, the tracker and a live handle never
/// allow a new packet the reference denies.
fn check_state(cloud: &Cloud) {
    let engine = reference::Evaluator::new(cloud);
    let mut tracker = Tracker::new(cloud.provider(), 64);
    for p in probes(cloud) {
        let want = flow::trace(cloud, &engine, &p);
        if want.verdict == Verdict::Allow {
            assert!(want.hops.iter().all(|h| h.decision.is_allow()), "{p}");
            assert!(p.family().is_some(), "{p}: allowed across families");
        }
        let got = tracker.process(cloud, &engine, &p);
        if got.verdict == Verdict::Allow && want.verdict == Verdict::Deny {
            assert!(
                got.hops.iter().all(|h| h.decision.reason == Reason::Established),
                "{p}: tracker allows"
            );
        }
    }
}

/// The outcome of one input, as recorded in expect.json.
fn outcome(data: &[u8]) -> (String, String) {
    let Ok(text) = std::str::from_utf8(data) else {
        return ("utf8".into(), "not UTF-8 text".into());
    };
    let scenario = match limits::load_scenario(text, None) {
        Ok(s) => s,
        Err(LoadError::Limit(e)) => return ("limit".into(), e.to_string()),
        Err(LoadError::Scenario(ScenarioError::Json(m))) => return ("json".into(), m),
        Err(LoadError::Scenario(e)) => return ("scenario".into(), e.to_string()),
    };
    let replay = match scenario.replay() {
        Ok(r) => r,
        Err(e) => return ("ref".into(), e.to_string()),
    };
    check_state(&replay.cloud);
    let failures = replay.failures();
    if !failures.is_empty() {
        let mut detail = Vec::new();
        for f in &failures {
            if f.not_sent.is_some() {
                // Not sent: sgeval's own answer, after the earlier call's real error.
                assert!(failures.iter().any(|g| g.index < f.index && g.not_sent.is_none()));
                detail.push(format!("call {}: not sent", f.index));
                continue;
            }
            let code = error_code(&f.response.body);
            assert!(
                code.is_some(),
                "call {} answered {} without a provider code: {}",
                f.index,
                f.response.status,
                f.response.body
            );
            assert!(
                (400..500).contains(&f.response.status),
                "call {}: a client error must be 4xx: {}",
                f.index,
                f.response.body
            );
            detail.push(format!(
                "call {}: {} {}",
                f.index,
                f.response.status,
                code.unwrap_or_default()
            ));
        }
        return ("call".into(), detail.join("; "));
    }
    if let Some(e) = replay.endpoint_error {
        return ("endpoint".into(), e.to_string());
    }
    // A documented answer: the scenario loads; a live handle agrees with the reference.
    let live = Live::from_scenario(&scenario).expect("a scenario that replays starts a live handle");
    for p in probes(&replay.cloud) {
        let want = flow::trace(&replay.cloud, &reference::Evaluator::new(&replay.cloud), &p);
        assert_eq!(live.trace(&p), want, "{p}");
    }
    ("ok".into(), String::new())
}

/// The short form of a detail kept in expect.json: codes as they are; for other errors the
/// field the message names (its first `quoted` part), so rewording does not count as a change.
fn short(kind: &str, detail: &str) -> String {
    match kind {
        "call" | "ok" => detail.to_owned(),
        _ => match detail.split('`').nth(1) {
            Some(field) if !field.is_empty() => format!("`{field}`"),
            _ => detail.chars().take(60).collect(),
        },
    }
}

#[test]
fn every_committed_hostile_input_gets_a_clear_answer() {
    let intent: BTreeMap<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(dir().join("intent.json")).unwrap()).unwrap();
    let expect_path = dir().join("expect.json");
    let expected: BTreeMap<String, Value> = std::fs::read_to_string(&expect_path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default();
    let record = std::env::var_os("HOSTILE_RECORD").is_some();
    let mut recorded = BTreeMap::new();
    let mut problems = Vec::new();
    let mut files: Vec<_> = std::fs::read_dir(dir().join("inputs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 200, "the corpus has {} inputs", files.len());
    for path in &files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let data = std::fs::read(path).unwrap();
        let started = thread_cpu();
        let result = catch_unwind(AssertUnwindSafe(|| outcome(&data)));
        let took = thread_cpu() - started;
        let (kind, detail) = match result {
            Ok(o) => o,
            Err(e) => {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                problems.push(format!("{name}: PANIC {msg}"));
                continue;
            }
        };
        if took > BOUND {
            problems.push(format!("{name}: took {took:?}"));
        }
        if kind != "ok" && detail.trim().is_empty() {
            problems.push(format!("{name}: {kind} without a message"));
        }
        let want = intent
            .get(&name)
            .and_then(|i| i["want"].as_str())
            .unwrap_or("missing");
        match (want, kind.as_str()) {
            ("error", "ok") => problems.push(format!(
                "{name}: accepted, but must be refused ({})",
                intent[&name]["why"]
            )),
            ("ok", k) if k != "ok" => {
                problems.push(format!("{name}: refused ({k}: {detail}), but must load"))
            }
            ("missing", _) => problems.push(format!("{name}: not in intent.json")),
            _ => {}
        }
        let short = short(&kind, &detail);
        if !record {
            match expected.get(&name) {
                Some(e) if e["outcome"] == kind.as_str() && e["detail"] == short.as_str() => {}
                Some(e) => problems.push(format!(
                    "{name}: now {kind} `{short}`, expected {} `{}`",
                    e["outcome"], e["detail"]
                )),
                None => problems.push(format!("{name}: not in expect.json (run with HOSTILE_RECORD=1)")),
            }
        }
        recorded.insert(name, json!({"outcome": kind, "detail": short}));
    }
    if record {
        let text = serde_json::to_string_pretty(&recorded).unwrap() + "\n";
        std::fs::write(&expect_path, text).unwrap();
    }
    let counts = recorded.values().fold(BTreeMap::new(), |mut m, v| {
        *m.entry(v["outcome"].as_str().unwrap_or_default().to_owned())
            .or_insert(0) += 1;
        m
    });
    eprintln!("hostile corpus: {} inputs: {counts:?}", recorded.len());
    assert!(
        problems.is_empty(),
        "{} problem(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// `n` rules in one call of `provider`, as the provider spells a rule list.
fn many_rules(provider: Provider, n: usize) -> Value {
    match provider {
        Provider::Ecs => json!({"provider": "ecs", "calls": [
            {"api": "CreateSecurityGroup", "ref": "g", "params": {"RegionId": "cn-hangzhou", "VpcId": "v", "SecurityGroupName": "web"}},
            {"api": "AuthorizeSecurityGroup", "params": {"RegionId": "cn-hangzhou", "SecurityGroupId": "$g",
                "Permissions": (0..n).map(|i| json!({"IpProtocol": "TCP", "PortRange": format!("{0}/{0}", 1 + i % 65535), "SourceCidrIp": "10.0.0.0/8"})).collect::<Vec<_>>()}}]}),
        Provider::Ens => json!({"provider": "ens", "calls": [
            {"api": "CreateSecurityGroup", "params": {"SecurityGroupName": "web",
                "Permissions": (0..n).map(|i| json!({"Direction": "ingress", "IpProtocol": "TCP", "PortRange": format!("{0}/{0}", 1 + i % 65535),
                    "SourceCidrIp": "10.0.0.0/8", "Policy": "Accept", "Priority": 1})).collect::<Vec<_>>()}}]}),
        Provider::Huawei => json!({"provider": "huawei", "calls": [
            {"api": "CreateSecurityGroup", "ref": "g", "body": {"security_group": {"name": "web"}}},
            {"api": "BatchCreateSecurityGroupRules", "body": {"security_group_id": "$g",
                "security_group_rules": (0..n).map(|i| json!({"direction": "ingress", "protocol": "tcp", "multiport": (1 + i % 65535).to_string()})).collect::<Vec<_>>()}}]}),
        Provider::Gcore => json!({"provider": "gcore", "calls": [
            {"api": "CreateSecurityGroup", "body": {"name": "web",
                "rules": (0..n).map(|i| json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 1 + i % 65535, "port_range_max": 1 + i % 65535})).collect::<Vec<_>>()}}]}),
    }
}

#[test]
fn a_hundred_thousand_rules_in_one_call_are_refused_quickly_with_the_providers_code() {
    for provider in Provider::ALL {
        let value = many_rules(provider, 100_000);
        let text = value.to_string();
        let started = thread_cpu();
        let err = limits::load_scenario(&text, None).expect_err("over the per-call limit");
        assert!(
            matches!(
                err,
                LoadError::Limit(LimitError::TooMany {
                    what: "rules",
                    count: 100_000,
                    ..
                })
            ),
            "{provider}: {err}"
        );
        assert!(
            (thread_cpu() - started) < Duration::from_secs(5),
            "{provider}: {:?}",
            (thread_cpu() - started)
        );
        // The same call through a live handle: refused before the front end, in the
        // provider's error shape.
        let live = Live::new(provider, Default::default());
        let call = &value["calls"][value["calls"].as_array().unwrap().len() - 1];
        let request: Request =
            serde_json::from_value(json!({"params": call.get("params"), "body": call.get("body")})).unwrap();
        let started = thread_cpu();
        let response = live.call(call["api"].as_str().unwrap(), &request);
        assert_eq!(response.status, 400, "{provider}");
        assert!(
            error_code(&response.body).is_some(),
            "{provider}: {}",
            response.body
        );
        assert_eq!(live.version(), 0, "{provider}: nothing published");
        assert!(
            (thread_cpu() - started) < Duration::from_secs(5),
            "{provider}: {:?}",
            (thread_cpu() - started)
        );
    }
}

#[test]
fn the_providers_per_call_maximum_itself_is_accepted() {
    for (provider, n) in [
        (Provider::Ecs, 100),
        (Provider::Ens, 200),
        (Provider::Huawei, 46),
        (Provider::Gcore, 100),
    ] {
        let scenario =
            limits::load_scenario(&many_rules(provider, n).to_string(), None).expect("within the limits");
        let replay = scenario.replay().unwrap();
        assert!(
            replay.failures().is_empty(),
            "{provider}: {:?}",
            replay.failures()
        );
    }
}

#[test]
fn ten_thousand_groups_on_one_endpoint_are_refused() {
    let groups: Vec<String> = (0..10_000).map(|i| format!("$g{i}")).collect();
    let value = json!({"provider": "gcore", "calls": [], "endpoints": [{"name": "a", "ips": ["10.0.0.1"], "groups": groups}]});
    let err = limits::load_scenario(&value.to_string(), None).unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Limit(LimitError::TooMany {
                what: "groups",
                count: 10_000,
                limit: 1000,
                ..
            })
        ),
        "{err}"
    );
    // Without the loader's limits the cloud refuses the endpoint itself, before resolving
    // 10,000 group ids.
    let mut cloud = Cloud::new(Provider::Gcore, Default::default());
    let ids: Vec<String> = (0..10_000).map(|i| format!("id-{i}")).collect();
    let started = thread_cpu();
    assert!(cloud.attach("a", &["10.0.0.1".parse().unwrap()], &ids).is_err());
    assert!((thread_cpu() - started) < Duration::from_secs(1));
    // And a live handle too.
    let live = Live::new(Provider::Gcore, Default::default());
    assert!(live.attach("a", &["10.0.0.1".parse().unwrap()], &ids).is_err());
}

#[test]
fn deep_nesting_is_refused_by_the_limits_and_by_serde_json_itself() {
    let deep = |n: usize| "[".repeat(n) + &"]".repeat(n);
    // serde_json's own recursion limit (128) lets 127 levels through and stops the 128th.
    assert!(serde_json::from_str::<Value>(&deep(127)).is_ok());
    let e = serde_json::from_str::<Value>(&deep(128)).unwrap_err();
    assert!(e.to_string().contains("recursion limit exceeded"), "{e}");
    // 100,000 levels: refused by the byte scan before parsing, no stack used.
    let text = format!(r#"{{"provider": "ecs", "x": {}}}"#, deep(100_000));
    assert!(matches!(
        limits::load_scenario(&text, None),
        Err(LoadError::Limit(LimitError::TooDeep { .. }))
    ));
    // Scenario::from_json without the limits still refuses it (serde_json's limit).
    assert!(matches!(
        sgeval::Scenario::from_json(&text),
        Err(ScenarioError::Json(_))
    ));
}

#[test]
fn oversized_input_and_counts_are_refused() {
    let big = format!(
        r#"{{"provider": "ecs", "description": "{}"}}"#,
        "x".repeat(16 << 20)
    );
    assert!(matches!(
        limits::load_scenario(&big, None),
        Err(LoadError::Limit(LimitError::TooLarge { .. }))
    ));
    let long = json!({"provider": "huawei", "description": "x".repeat(70_000)}).to_string();
    assert!(matches!(
        limits::load_scenario(&long, None),
        Err(LoadError::Limit(LimitError::StringTooLong { .. }))
    ));
    let endpoints: Vec<Value> = (0..10_001)
        .map(|i| json!({"name": format!("e{i}"), "ips": ["10.0.0.1"], "groups": ["$g"]}))
        .collect();
    let many = json!({"provider": "huawei", "endpoints": endpoints}).to_string();
    assert!(matches!(
        limits::load_scenario(&many, None),
        Err(LoadError::Limit(LimitError::TooMany {
            what: "endpoints",
            ..
        }))
    ));
    let calls: Vec<Value> = (0..10_001)
        .map(|_| json!({"api": "CreateSecurityGroup"}))
        .collect();
    let many = json!({"provider": "huawei", "calls": calls}).to_string();
    assert!(matches!(
        limits::load_scenario(&many, None),
        Err(LoadError::Limit(LimitError::TooMany { what: "calls", .. }))
    ));
    // Limits are configurable: a caller may lower them.
    let strict = Limits {
        max_calls: 1,
        ..Limits::for_provider(Provider::Huawei)
    };
    let two = json!({"provider": "huawei", "calls": [{"api": "CreateSecurityGroup"}, {"api": "CreateSecurityGroup"}]}).to_string();
    assert!(limits::load_scenario(&two, Some(&strict)).is_err());
    assert!(limits::load_scenario(&two, None).is_ok());
}
