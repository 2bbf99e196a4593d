//! The shared corpus (tests/corpus/*.json) through every engine and through the CLI.

mod common;

use common::{check_flow, load_all, replay_case};
use sgeval::flow::{self, Engine};
use sgeval::reference;

/// The engines every case must pass, by name.
fn engines(cloud: &sgeval::Cloud) -> Vec<(&'static str, Box<dyn Engine + '_>)> {
    let compiled = sgeval::compile::Engine::build(cloud).expect("corpus scenarios compile");
    vec![
        ("reference", Box::new(reference::Evaluator::new(cloud))),
        ("compiled", Box::new(compiled)),
    ]
}

#[test]
fn corpus_passes_through_every_engine() {
    let cases = load_all();
    let mut failures = Vec::new();
    let mut checks = 0;
    for case in &cases {
        let built = match replay_case(case) {
            Ok(b) => b,
            Err(e) => {
                failures.push(format!("{} ({}): {e}", case.name, case.file));
                continue;
            }
        };
        let Some((replay, cloud)) = built else { continue };
        for (i, check) in case.checks.iter().enumerate() {
            let packet = match (check.spec.packet(&cloud), &check.spec_error) {
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
            for (name, engine) in engines(&cloud) {
                checks += 1;
                let got = flow::trace(&cloud, &*engine, &packet);
                if let Err(e) = check_flow(&cloud, &replay.refs, check, &got) {
                    failures.push(format!("{} check {i} [{name}] {packet}: {e}", case.name));
                }
            }
        }
    }
    println!("{} cases, {checks} engine checks", cases.len());
    assert!(
        failures.is_empty(),
        "{} failure(s):\n{}",
        failures.len(),
        failures.join("\n")
    );
}
