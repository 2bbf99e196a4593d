//! Every describe fixture set, imported and turned into a scenario, builds through the
//! provider front ends with the cloud's own ids: each rule read is in the cloud under its
//! real id, or listed unresolved with what is known of it; nothing is dropped silently.

use serde_json::Value;
use sgeval::import::scenario::{to_scenario, Imported};
use sgeval::import::{self, Inventory, Options, UnresolvedKind};
use sgeval::query::unresolved::{Aspect, Effect, Unknowns};
use sgeval::{flow, reference, Cloud, Packet, Provider, Scenario, Verdict};

fn imported(name: &str, options: Options) -> (Inventory, Imported, Cloud) {
    let inv = import::read_paths(&[&format!("tests/fixtures/import/{name}")], &options).unwrap();
    let (out, scenario) = to_scenario(&inv).unwrap();
    // The printed JSON parses back to the same scenario.
    let again = Scenario::from_json(&serde_json::to_string_pretty(&out.value).unwrap()).unwrap();
    assert_eq!(again, scenario);
    let cloud = scenario.build().unwrap_or_else(|e| panic!("{name}: {e}"));
    (inv, out, cloud)
}

/// Every rule of the inventory: in the cloud under its id, or the subject of an
/// unresolved item of the scenario with an effect.
fn every_rule_accounted_for(inv: &Inventory, out: &Imported, cloud: &Cloud) -> (usize, usize) {
    let (mut created, mut open) = (0, 0);
    for g in &inv.groups {
        let group = cloud
            .group_by_id(&g.id)
            .unwrap_or_else(|| panic!("group {} missing", g.id));
        for r in &g.rules {
            let Some(id) = &r.id else { continue };
            let exact = group.rules.iter().any(|x| x.id == *id);
            let expanded = group.rules.iter().any(|x| x.id.starts_with(&format!("{id}[")));
            let listed = out
                .unresolved
                .iter()
                .any(|u| u.subject == *id && matches!(u.effect, Some(Effect::Rule { .. })));
            assert!(
                exact || expanded || listed,
                "rule {id} of {} neither created nor unresolved",
                g.id
            );
            if exact || expanded {
                created += 1;
            } else {
                open += 1;
            }
        }
    }
    (created, open)
}

#[test]
fn ecs_import_builds_with_real_ids_and_expands_the_given_prefix_list() {
    let (inv, out, cloud) = imported("ecs", Options::default());
    assert_eq!(every_rule_accounted_for(&inv, &out, &cloud), (4, 1));
    let ops = cloud.group_by_id("sg-bp1ops0000000000a9").unwrap();
    let ids: Vec<&str> = ops.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "sgr-bp1r00000000000d1[203.0.113.0/24]",
            "sgr-bp1r00000000000d1[198.51.100.0/25]",
            "sgr-bp1r00000000000d2"
        ]
    );
    // The port-list rule is not created: it is unresolved with its ports unknown.
    let open = out
        .unresolved
        .iter()
        .find(|u| u.kind == UnresolvedKind::PortRangeList)
        .unwrap();
    match &open.effect {
        Some(Effect::Rule {
            unknown,
            request,
            rule,
            ..
        }) => {
            assert_eq!(unknown, &[Aspect::Ports]);
            assert!(rule.is_none() && request.is_some());
        }
        other => panic!("{other:?}"),
    }
    // Origins travel with the calls.
    let calls = out.value["calls"].as_array().unwrap();
    assert!(calls
        .iter()
        .all(|c| c["description"].as_str().is_some_and(|d| d.contains(".json"))));
    // The endpoint is the ENI, with both groups.
    let eni = cloud.endpoint_by_name("eni-bp1nic00000000d5").unwrap();
    assert_eq!(cloud.endpoint(eni).unwrap().groups.len(), 2);
    // A packet from the second prefix-list entry is allowed by the expansion naming the rule.
    let engine = reference::Evaluator::new(&cloud);
    let p = Packet::tcp(
        "198.51.100.9".parse().unwrap(),
        "172.16.1.10".parse().unwrap(),
        443,
    );
    let f = flow::trace(&cloud, &engine, &p);
    assert_eq!(f.verdict, Verdict::Allow);
    assert!(flow::describe(&cloud, &f.hops[0].decision).contains("sgr-bp1r00000000000d1[198.51.100.0/25]"));
}

#[test]
fn ecs_prefix_list_without_entries_stays_unresolved_and_decides_answers_it_can_reach() {
    let dir = std::env::temp_dir().join(format!("sgeval-import-scenario-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for f in std::fs::read_dir("tests/fixtures/import/ecs").unwrap() {
        let f = f.unwrap().path();
        if !f.ends_with("describe_prefix_list_attributes.json") {
            std::fs::copy(&f, dir.join(f.file_name().unwrap())).unwrap();
        }
    }
    let inv = import::read_paths(&[dir.to_str().unwrap()], &Options::default()).unwrap();
    let (out, scenario) = to_scenario(&inv).unwrap();
    let cloud = scenario.build().unwrap();
    assert_eq!(every_rule_accounted_for(&inv, &out, &cloud), (3, 2));
    let unknowns = Unknowns::new(&cloud, &scenario.unresolved);
    assert_eq!(
        unknowns.untied().count(),
        0,
        "{:?}",
        unknowns.untied().collect::<Vec<_>>()
    );
    let engine = reference::Evaluator::new(&cloud);
    let verdicts = |dport: u16| {
        let p = Packet::tcp(
            "192.0.2.1".parse().unwrap(),
            "172.16.1.10".parse().unwrap(),
            dport,
        );
        let f = flow::trace(&cloud, &engine, &p);
        let h = &f.hops[0];
        unknowns.hop(&cloud, h.endpoint, h.direction, &p, &h.decision)
    };
    // 443 from anywhere: the prefix-list allow (priority 1) could decide: unresolved.
    let https = verdicts(443);
    assert!(https.is_unresolved(), "{https:?}");
    assert_eq!(
        scenario.unresolved[https.items[0]].subject,
        "sgr-bp1r00000000000d1"
    );
    // 8443: the prefix-list rule is for 443 only; deny, whatever the list holds.
    let other = verdicts(8443);
    assert!(!other.is_unresolved(), "{other:?}");
    assert_eq!(other.verdicts.into_iter().collect::<Vec<_>>(), [Verdict::Deny]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ens_import_builds_with_inline_permissions() {
    let (inv, out, cloud) = imported("ens", Options::default());
    let g = cloud.group_by_id("sg-5ledge000000h9").unwrap();
    assert_eq!(g.rules.len(), inv.groups[0].rules.len());
    assert!(cloud.endpoint_by_name("eni-5ledge00000i10").is_some());
    // The secondary ENI whose groups no document lists is not in the scenario: the item is
    // kept, tied to nothing.
    let unknowns = Unknowns::new(&cloud, &out.scenario().unwrap().unresolved);
    assert_eq!(unknowns.untied().count(), 1);
}

#[test]
fn huawei_import_builds_without_defaults_and_keeps_port_order() {
    let (inv, out, cloud) = imported("huawei", Options::default());
    assert_eq!(every_rule_accounted_for(&inv, &out, &cloud), (4, 0));
    for g in &inv.groups {
        // `defaults: false`: only the rules listed, no default rules added again.
        assert_eq!(cloud.group_by_id(&g.id).unwrap().rules.len(), g.rules.len());
    }
    assert!(cloud
        .address_group_by_id("0150a3a7-0000-4569-865c-04e46e5e9249")
        .is_some());
    let port = cloud
        .endpoint_by_name("c0ffee00-0000-4aaa-8bbb-0123456789ab")
        .unwrap();
    let ids: Vec<String> = cloud
        .endpoint(port)
        .unwrap()
        .groups
        .iter()
        .map(|g| cloud.group(*g).unwrap().id.clone())
        .collect();
    assert_eq!(
        ids,
        [
            "7a6b5c4d-0000-4e3f-8a2b-1c0d9e8f7a6b",
            "4f1c7a2e-0000-4b3d-9e8f-1a2b3c4d5e6f"
        ]
    );
    // The port with security off is no endpoint, and the notes say why.
    assert!(cloud
        .endpoint_by_name("c0ffee01-0000-4aaa-8bbb-0123456789ac")
        .is_none());
    assert!(out
        .notes
        .iter()
        .any(|n| n.contains("c0ffee01") && n.contains("port_security_enabled")));
    // The deny rule of `ops` (address group, multiport 333) decides first, by group order.
    let engine = reference::Evaluator::new(&cloud);
    let p = Packet::tcp(
        "192.0.2.25".parse().unwrap(),
        "192.168.0.10".parse().unwrap(),
        333,
    );
    let f = flow::trace(&cloud, &engine, &p);
    assert_eq!(f.verdict, Verdict::Deny);
    assert!(flow::describe(&cloud, &f.hops[0].decision).contains("2c3d4e5f-0000-4a6b-8c7d-9e0f1a2b3c4d"));
}

#[test]
fn huawei_v1_rules_are_created_and_their_priority_stays_in_doubt() {
    let (inv, out, cloud) = imported(
        "huawei-v1",
        Options {
            accept_v1: true,
            ..Options::default()
        },
    );
    assert_eq!(every_rule_accounted_for(&inv, &out, &cloud), (2, 0));
    let v1: Vec<_> = out
        .unresolved
        .iter()
        .filter(|u| u.kind == UnresolvedKind::V1Rule)
        .collect();
    assert_eq!(v1.len(), 2);
    for u in v1 {
        match &u.effect {
            Some(Effect::Rule { unknown, rule, .. }) => {
                assert_eq!(unknown, &[Aspect::Priority]);
                assert_eq!(rule.as_deref(), Some(u.subject.as_str()));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn gcore_import_builds_without_the_default_egress_rules() {
    let (inv, out, cloud) = imported("gcore", Options::default());
    assert_eq!(every_rule_accounted_for(&inv, &out, &cloud), (2, 0));
    let g = cloud.group_by_id("6d1f2a3b-0000-4c5d-8e6f-7a8b9c0d1e2f").unwrap();
    assert_eq!(g.rules.len(), 2);
    assert_eq!(out.value["provider"], Value::from(Provider::Gcore.name()));
    assert!(cloud
        .endpoint_by_name("e3f4a5b6-0000-4c7d-8e9f-0a1b2c3d4e5f")
        .is_some());
}

#[test]
fn the_streamed_scenario_is_the_same_text_as_the_json_value() {
    for (name, accept_v1) in [
        ("ecs", false),
        ("ens", false),
        ("huawei", false),
        ("huawei-v1", true),
        ("gcore", false),
    ] {
        let inv = import::read_paths(
            &[&format!("tests/fixtures/import/{name}")],
            &Options {
                accept_v1,
                ..Options::default()
            },
        )
        .unwrap();
        let whole = sgeval::import::scenario::to_json(&inv);
        let mut out = Vec::new();
        let (rest, calls) = sgeval::import::scenario::write_json(&inv, &mut out).unwrap();
        assert_eq!(calls, whole.value["calls"].as_array().unwrap().len(), "{name}");
        assert_eq!(rest.unresolved, whole.unresolved, "{name}");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            format!("{}\n", serde_json::to_string_pretty(&whole.value).unwrap()),
            "{name}"
        );
    }
}
