//! The shared corpus (tests/corpus/*.json, format in tests/corpus/README.md) through every
//! engine of the harness (`common::engines`: reference, compiled, live, live-replayed).

mod common;

use common::{check_flow, engines, error_code, invalid_requests, load_all, replay_case, ENGINES};
use sgeval::{flow, Cloud, Provider, Scenario};

#[test]
fn corpus_passes_through_every_engine() {
    let cases = load_all();
    let mut failures = Vec::new();
    let mut checks = 0;
    let mut per_engine = [0usize; ENGINES.len()];
    for case in &cases {
        let built = match replay_case(case) {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("{} ({}): {e}", case.name, case.file));
                continue;
            }
        };
        let Some((replay, cloud)) = built else { continue };
        let scenario = Scenario::from_value(&case.scenario).expect("the scenario replayed");
        let engines = match engines(&scenario, &replay, &cloud) {
            Ok(e) => e,
            Err(e) => {
                failures.push(format!("{} ({}): {e}", case.name, case.file));
                continue;
            }
        };
        for (i, check) in case.checks.iter().enumerate() {
            let packet = match (check.spec().packet(&cloud), &check.spec_error) {
                (Err(e), Some(want)) if e.to_string().contains(want.as_str()) => continue,
                (Err(e), Some(want)) => {
                    failures.push(format!(
                        "{} check {i}: error `{e}` does not contain `{want}`",
                        case.name
                    ));
                    continue;
                }
                (Ok(p), Some(want)) => {
                    failures.push(format!(
                        "{} check {i}: {p} was accepted, expected an error with `{want}`",
                        case.name
                    ));
                    continue;
                }
                (Ok(p), None) => p,
                (Err(e), None) => {
                    failures.push(format!("{} check {i}: {e}", case.name));
                    continue;
                }
            };
            for (at, (name, engine)) in engines.iter().enumerate() {
                checks += 1;
                per_engine[at] += 1;
                let got = flow::trace(&cloud, &**engine, &packet);
                if let Err(e) = check_flow(&cloud, &replay.refs, check, &got) {
                    failures.push(format!("{} check {i} [{name}] {packet}: {e}", case.name));
                }
            }
        }
    }
    println!("{} cases, {checks} engine checks", cases.len());
    for (name, n) in ENGINES.iter().zip(per_engine) {
        println!("  {name}: {n} checks");
        assert!(n > 300, "{name}: only {n} checks ran");
    }
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_invalid_request_gets_its_status_and_code_and_changes_nothing() {
    let table = invalid_requests();
    // The library's copy (what `strategy::invalid_call` draws from) is this file.
    assert_eq!(&table, sgeval::testkit::invalid_requests());
    let mut failures = Vec::new();
    for provider in Provider::ALL {
        let mut cloud = Cloud::new(provider, Default::default());
        let setup = &table.setup[&provider];
        let created = cloud.call("CreateSecurityGroup", setup);
        let group = created.created.expect("the setup creates a group");
        let rows: Vec<_> = table.rows.iter().filter(|r| r.provider == provider).collect();
        assert!(rows.len() >= 5, "{provider}: only {} rows", rows.len());
        for row in rows {
            let mut after = cloud.clone();
            let response = after.call(&row.api, &row.request_for(&group));
            let code = error_code(&response.body);
            if response.status != row.status || code != Some(row.code.as_str()) {
                failures.push(format!(
                    "{provider} {} ({}): {} {code:?}, want {} {}: {}",
                    row.api, row.mutation, response.status, row.status, row.code, response.body
                ));
            }
            let groups = |c: &Cloud| c.groups().cloned().collect::<Vec<_>>();
            if groups(&after) != groups(&cloud) {
                failures.push(format!(
                    "{provider} {} ({}): a refused call changed the groups",
                    row.api, row.mutation
                ));
            }
        }
    }
    println!("{} invalid requests", table.rows.len());
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
