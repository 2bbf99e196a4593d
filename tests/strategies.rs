//! The public strategies do what they promise: valid requests succeed, invalid ones get the
//! named error code, generated scenarios build, and generated packets reach the decisions
//! that matter.
#![cfg(feature = "proptest")]

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use sgeval::strategy::{self, error_code};
use sgeval::{flow, reference, Cloud, Provider, Reason, Verdict};

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

/// A cloud with one group made by the provider's simplest valid create (ECS: basic).
fn with_group(provider: Provider) -> (Cloud, String) {
    let mut cloud = Cloud::new(provider, Default::default());
    let mut r = runner(1);
    let call = strategy::create_group_of(provider, false)
        .new_tree(&mut r)
        .unwrap()
        .current();
    let response = call.apply(&mut cloud);
    assert!(response.is_success(), "{provider}: {:?}", response.body);
    let id = response.created.expect("a created id");
    (cloud, id)
}

#[test]
fn valid_create_group_requests_succeed() {
    for provider in Provider::ALL {
        runner(64)
            .run(&strategy::create_group(provider), |call| {
                let mut cloud = Cloud::new(provider, Default::default());
                let response = call.apply(&mut cloud);
                prop_assert!(
                    response.is_success(),
                    "{}: {:?} -> {}",
                    provider,
                    call.request,
                    response.body
                );
                prop_assert!(response.created.is_some());
                Ok(())
            })
            .unwrap();
    }
}

#[test]
fn valid_rule_calls_succeed() {
    for provider in Provider::ALL {
        let (cloud, group) = with_group(provider);
        runner(128)
            .run(&strategy::rule_call(provider, group.clone()), |call| {
                let mut cloud = cloud.clone();
                let before: usize = cloud.groups().map(|g| g.rules.len()).sum();
                let response = call.apply(&mut cloud);
                prop_assert!(
                    response.is_success(),
                    "{}: {:?} -> {}",
                    provider,
                    call.request,
                    response.body
                );
                let after: usize = cloud.groups().map(|g| g.rules.len()).sum();
                prop_assert_eq!(after, before + 1, "one rule added");
                Ok(())
            })
            .unwrap();
    }
}

#[test]
fn invalid_calls_get_the_named_code_and_change_nothing() {
    let mut wrong = Vec::new();
    for provider in Provider::ALL {
        let (cloud, group) = with_group(provider);
        // Each case once, deterministically, so every case is known to be checked.
        let mut codes = BTreeSet::new();
        for bad in all_invalid(provider, &group) {
            let response = bad.call.apply(&mut cloud.clone());
            if error_code(&response) != Some(bad.code) {
                wrong.push(format!(
                    "{provider}: {}: want {}, got {}",
                    bad.mutation, bad.code, response.body
                ));
            }
            codes.insert(bad.code);
        }
        assert!(codes.len() >= 3, "{provider}: few distinct codes: {codes:?}");
        runner(64)
            .run(&strategy::invalid_call(provider, group.clone()), |bad| {
                let mut cloud = cloud.clone();
                let before: Vec<_> = cloud.groups().cloned().collect();
                let response = bad.call.apply(&mut cloud);
                prop_assert!(
                    !response.is_success(),
                    "{}: {} was accepted",
                    provider,
                    bad.mutation
                );
                let after: Vec<_> = cloud.groups().cloned().collect();
                prop_assert_eq!(after, before, "a refused call changed nothing");
                Ok(())
            })
            .unwrap();
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// Every invalid case of a provider, drawn until no new mutation shows up.
fn all_invalid(provider: Provider, group: &str) -> Vec<strategy::InvalidCall> {
    let s = strategy::invalid_call(provider, group.to_owned());
    let mut r = runner(1);
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for _ in 0..2000 {
        let c = s.new_tree(&mut r).unwrap().current();
        if seen.insert(c.mutation) {
            out.push(c);
        }
    }
    out
}

#[test]
fn generated_scenarios_build_and_their_packets_reach_every_kind_of_decision() {
    for provider in Provider::ALL {
        let mut verdicts = BTreeSet::new();
        let mut reasons = BTreeSet::new();
        let cases = strategy::scenario(provider).prop_flat_map(|s| {
            let cloud = s.build();
            let packets = match &cloud {
                Ok(c) => strategy::packets(c, 32).boxed(),
                Err(_) => Just(vec![]).boxed(),
            };
            (Just(s), Just(cloud), packets)
        });
        let mut r = runner(48);
        for _ in 0..48 {
            let (scenario, cloud, packets) = cases.new_tree(&mut r).unwrap().current();
            let cloud = match cloud {
                Ok(c) => c,
                Err(e) => panic!("{provider}: a generated scenario does not build: {e}\n{scenario:?}"),
            };
            assert_eq!(cloud.endpoints().len(), scenario.endpoints.len());
            let engine = reference::Evaluator::new(&cloud);
            for p in &packets {
                let f = flow::trace(&cloud, &engine, p);
                verdicts.insert(f.verdict);
                for h in &f.hops {
                    reasons.insert(match h.decision.reason {
                        Reason::Rule(_) => "rule",
                        Reason::IntraGroup { .. } => "intra",
                        Reason::Default { .. } => "default",
                        Reason::Established => "established",
                        Reason::MixedFamily => "mixed",
                    });
                }
            }
        }
        assert_eq!(verdicts.len(), 2, "{provider}: both verdicts");
        for want in ["rule", "default", "established", "mixed"] {
            assert!(
                reasons.contains(want),
                "{provider}: no packet decided by {want}: {reasons:?}"
            );
        }
        let _ = Verdict::Allow;
    }
}

#[test]
fn scenarios_use_shared_priorities_and_both_families() {
    let mut shared = 0;
    let mut v6 = 0;
    let mut r = runner(1);
    for _ in 0..64 {
        let s = strategy::scenario(Provider::Huawei)
            .new_tree(&mut r)
            .unwrap()
            .current();
        let cloud = s.build().unwrap();
        for g in cloud.groups() {
            let mut seen = BTreeSet::new();
            for rule in &g.rules {
                if !seen.insert((rule.priority, rule.direction)) {
                    shared += 1;
                }
                if rule.family == Some(sgeval::Family::V6) {
                    v6 += 1;
                }
            }
        }
    }
    assert!(
        shared > 10 && v6 > 10,
        "shared priorities {shared}, IPv6 rules {v6}"
    );
}

#[test]
fn calls_at_the_documented_maximum_succeed() {
    for provider in Provider::ALL {
        let (cloud, group) = with_group(provider);
        runner(4)
            .run(&strategy::limit_call(provider, group.clone()), |(call, n)| {
                let mut cloud = cloud.clone();
                let before: usize = cloud.groups().map(|g| g.rules.len()).sum();
                let response = call.apply(&mut cloud);
                prop_assert!(response.is_success(), "{}: {}", provider, response.body);
                let after: usize = cloud.groups().map(|g| g.rules.len()).sum();
                prop_assert!(
                    after >= before + n,
                    "{}: {} rules added, {} asked",
                    provider,
                    after - before,
                    n
                );
                Ok(())
            })
            .unwrap();
    }
}
