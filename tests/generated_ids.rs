//! Generated ids come from a call's content, not its position: within a cloud every group,
//! rule and address group has its own id, and two scenarios that differ in one call give
//! that call's objects new ids and every other object the same id.
#![cfg(feature = "proptest")]

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::{select, Index};
use serde_json::{json, Value};
use sgeval::scenario::Call;
use sgeval::strategy;
use sgeval::{Cloud, Provider, Request, Scenario};

fn call(api: &str, reference: Option<&str>, body: Value) -> Call {
    Call {
        api: api.into(),
        reference: reference.map(str::to_owned),
        request: Request {
            body: Some(body),
            ..Request::default()
        },
        id: None,
        ids: None,
        defaults: true,
    }
}

/// Every generated id of the cloud: groups, rules, address groups.
fn all_ids(cloud: &Cloud) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    for g in cloud.groups() {
        ids.push(g.id.clone());
        ids.extend(g.rules.iter().map(|r| r.id.clone()));
    }
    ids.extend(cloud.address_groups().map(|a| a.id.clone()));
    ids
}

/// The scenario's calls up to (not including) `n`, replayed; endpoints left out.
fn prefix(s: &Scenario, n: usize) -> Cloud {
    let mut s = s.clone();
    s.calls.truncate(n);
    s.endpoints.clear();
    s.replay().expect("a prefix replays").cloud
}

/// Sets the description of the first rule object in `v` (an ECS/ENS permission, a Huawei
/// or Gcore rule); false when `v` holds none.
fn change_first_rule(v: &mut Value) -> bool {
    match v {
        Value::Object(map) => {
            if map.contains_key("IpProtocol") {
                map.insert("Description".into(), json!("changed by the test"));
                return true;
            }
            if map.contains_key("direction")
                && (map.contains_key("ethertype") || map.contains_key("protocol"))
            {
                map.insert("description".into(), json!("changed by the test"));
                return true;
            }
            map.values_mut().any(change_first_rule)
        }
        Value::Array(items) => items.iter_mut().any(change_first_rule),
        _ => false,
    }
}

/// A generated scenario, then each group creation again, identical (a repeated call must
/// give new ids), and on Huawei address groups, two of them identical.
fn with_repeats(mut s: Scenario) -> Scenario {
    let creates: Vec<Call> = s
        .calls
        .iter()
        .filter(|c| c.reference.is_some())
        .cloned()
        .collect();
    for (i, mut c) in creates.into_iter().enumerate() {
        c.reference = Some(format!("again{i}"));
        s.calls.push(c);
    }
    if s.provider == Provider::Huawei {
        let ag =
            |name: &str| json!({"address_group": {"name": name, "ip_version": 4, "ip_set": ["10.0.0.0/8"]}});
        s.calls
            .push(call("CreateAddressGroup", Some("ag0"), ag("office")));
        s.calls
            .push(call("CreateAddressGroup", Some("ag1"), ag("office")));
        s.calls.push(call("CreateAddressGroup", Some("ag2"), ag("lab")));
    }
    s
}

fn scenarios() -> impl Strategy<Value = Scenario> {
    select(Provider::ALL.to_vec()).prop_flat_map(strategy::scenario)
}

/// 48 cases unless PROPTEST_CASES says otherwise, a failure reported, not persisted; rejects
/// allowed in proportion to the cases (a quarter of `changing_one_call_changes_only_its_objects_ids`'s
/// picks change no rule, which passed proptest's fixed 1,024 at PROPTEST_CASES=5000).
fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|c| c.parse().ok())
        .unwrap_or(48);
    ProptestConfig {
        cases,
        failure_persistence: None,
        max_global_rejects: cases.max(1024),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    /// No two groups, rules or address groups of one cloud share an id, repeated calls
    /// included; and the same scenario always gives the same ids.
    #[test]
    fn every_generated_id_in_a_cloud_is_distinct(s in scenarios()) {
        let s = with_repeats(s);
        let replay = s.replay().expect("the scenario replays");
        let ids = all_ids(&replay.cloud);
        let distinct: BTreeSet<&String> = ids.iter().collect();
        prop_assert_eq!(distinct.len(), ids.len(), "a repeated id among {:?}", ids);
        prop_assert_eq!(all_ids(&s.replay().unwrap().cloud), ids);
        // The repeated creations made objects of their own (else the test proves little).
        for (name, id) in &replay.refs {
            if let Some(first) = name.strip_prefix("again").map(|n| format!("g{n}")) {
                prop_assert_ne!(replay.refs.get(&first), Some(id));
            }
        }
        prop_assert!(replay.refs.keys().any(|n| n.starts_with("again")), "no repeated creation succeeded");
    }

    /// Changing one rule of one call gives the objects that call made new ids, never an id
    /// of the original scenario, and every other object keeps its id.
    #[test]
    fn changing_one_call_changes_only_its_objects_ids(s in scenarios(), pick in any::<Index>()) {
        prop_assume!(!s.calls.is_empty());
        let i = pick.index(s.calls.len());
        let mut changed = s.clone();
        let request = &mut changed.calls[i].request;
        let touched = request.params.as_mut().is_some_and(change_first_rule)
            || request.body.as_mut().is_some_and(change_first_rule);
        prop_assume!(touched);
        // A changed group creation changes the calls that name the group as well.
        if let Some(r) = &s.calls[i].reference {
            let named = s.calls[i + 1..].iter().any(|c| serde_json::to_string(&c.request).unwrap().contains(&format!("${r}")));
            prop_assume!(!named);
        }
        let old = s.replay().unwrap();
        let new = changed.replay().unwrap();
        prop_assume!(new.outcomes[i].response.is_success() && old.outcomes[i].response.is_success());
        // What call `i` made: in the cloud after it, not before it.
        let (before, after) = (prefix(&s, i), prefix(&s, i + 1));
        let made_groups: BTreeSet<_> = after.groups().map(|g| g.key).filter(|k| before.group(*k).is_none()).collect();
        let rule_keys = |c: &Cloud| -> BTreeSet<_> { c.groups().flat_map(|g| g.rules.iter().map(|r| r.key)).collect() };
        let made_rules: BTreeSet<_> = rule_keys(&after).difference(&rule_keys(&before)).copied().collect();
        prop_assert!(!made_rules.is_empty(), "call {} made no rule", i);
        let old_ids: BTreeSet<String> = all_ids(&old.cloud).into_iter().collect();
        for g in old.cloud.groups() {
            let other = new.cloud.group(g.key).expect("the same groups");
            if made_groups.contains(&g.key) {
                prop_assert!(!old_ids.contains(&other.id), "group {} kept an old id", other.id);
            } else {
                prop_assert_eq!(&g.id, &other.id);
            }
            for r in &g.rules {
                let r2 = other.rules.iter().find(|x| x.key == r.key).expect("the same rules");
                if made_rules.contains(&r.key) {
                    prop_assert!(!old_ids.contains(&r2.id), "rule {} of the changed call kept an old id", r2.id);
                } else {
                    prop_assert_eq!(&r.id, &r2.id);
                }
            }
        }
    }
}

/// The README's `diff` pair: the web group's call changed (two rules added), the database
/// group's rule changed; the groups keep their ids, and no rule id of one file names
/// another rule in the other.
#[test]
fn the_readme_diff_pair_shares_no_rule_id_between_different_rules() {
    let load = |p: &str| {
        Scenario::from_json(&std::fs::read_to_string(p).unwrap())
            .unwrap()
            .build()
            .unwrap()
    };
    let (old, new) = (load("examples/diff-old.json"), load("examples/diff-new.json"));
    let groups = |c: &Cloud| {
        c.groups()
            .map(|g| (g.name.clone(), g.id.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(groups(&old), groups(&new));
    for g in old.groups() {
        for r in &g.rules {
            if let Some(same_id) = new.groups().flat_map(|g| &g.rules).find(|x| x.id == r.id) {
                assert_eq!(
                    (same_id.description.as_str(), same_id.priority, &same_id.remote),
                    (r.description.as_str(), r.priority, &r.remote),
                    "rule id {} names two different rules",
                    r.id
                );
            }
        }
    }
}

/// One rule changed in its own call: only it gets a new id; every group, every other rule
/// (the ones before and after it) keep theirs. On each provider with single-rule calls.
#[test]
fn a_rule_changed_in_its_own_call_alone_gets_a_new_id() {
    let ecs = |port: u16| {
        let rule = |p: u16, prio: u8| {
            json!({"api": "AuthorizeSecurityGroup", "params": {"RegionId": "cn-hangzhou", "SecurityGroupId": "$web",
                "Permissions": [{"IpProtocol": "TCP", "PortRange": format!("{p}/{p}"), "SourceCidrIp": "10.0.0.0/8", "Priority": prio}]}})
        };
        json!({"provider": "ecs", "calls": [
            {"api": "CreateSecurityGroup", "ref": "web", "params": {"RegionId": "cn-hangzhou", "VpcId": "vpc-1", "SecurityGroupName": "web"}},
            {"api": "CreateSecurityGroup", "ref": "db", "params": {"RegionId": "cn-hangzhou", "VpcId": "vpc-1", "SecurityGroupName": "db"}},
            rule(22, 1), rule(port, 2), rule(443, 3)
        ]})
    };
    let huawei = |port: u16| {
        let rule = |p: u16| {
            json!({"api": "CreateSecurityGroupRule", "body": {"security_group_rule": {"security_group_id": "$web",
                "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "multiport": p.to_string(), "remote_ip_prefix": "10.0.0.0/8"}}})
        };
        json!({"provider": "huawei", "calls": [
            {"api": "CreateSecurityGroup", "ref": "web", "body": {"security_group": {"name": "web"}}},
            {"api": "CreateAddressGroup", "ref": "ag", "body": {"address_group": {"name": "a", "ip_version": 4, "ip_set": ["10.0.0.1"]}}},
            rule(22), rule(port), rule(443)
        ]})
    };
    let gcore = |port: u16| {
        let rule = |p: u16| {
            json!({"api": "CreateSecurityGroupRule", "path": "/cloud/v2/security_groups/1/1/$web/rules",
                "body": {"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": p, "port_range_max": p}})
        };
        json!({"provider": "gcore", "calls": [
            {"api": "CreateSecurityGroup", "ref": "web", "path": "/cloud/v2/security_groups/1/1", "body": {"name": "web"}},
            rule(22), rule(port), rule(443)
        ]})
    };
    for make in [&ecs as &dyn Fn(u16) -> Value, &huawei, &gcore] {
        let build = |v: Value| Scenario::from_value(&v).unwrap().replay().unwrap();
        let (a, b) = (build(make(80)), build(make(8080)));
        for o in a.outcomes.iter().chain(&b.outcomes) {
            assert!(o.response.is_success(), "{} {}", o.api, o.response.body);
        }
        let describe = |c: &Cloud| {
            let mut v: Vec<(String, String)> = Vec::new();
            for g in c.groups() {
                v.push((g.id.clone(), g.name.clone()));
                v.extend(
                    g.rules
                        .iter()
                        .map(|r| (r.id.clone(), serde_json::to_string(&r.dst_ports).unwrap())),
                );
            }
            v.extend(c.address_groups().map(|g| (g.id.clone(), "address group".into())));
            v
        };
        let (da, db) = (describe(&a.cloud), describe(&b.cloud));
        assert_eq!(da.len(), db.len());
        let differing: Vec<_> = da.iter().zip(&db).filter(|(x, y)| x.0 != y.0).collect();
        assert_eq!(differing.len(), 1, "{da:?}\n{db:?}");
        let (x, y) = differing[0];
        assert!(x.1.contains("80") && y.1.contains("8080"), "{x:?} {y:?}");
        assert!(
            !da.iter().any(|o| o.0 == y.0),
            "the new rule's id names an old object"
        );
    }
}
