//! Runs every committed corpus file (corpus/<target>/*, and the findings in
//! regressions/<target>/*) through its target's body on the stable toolchain, so CI checks
//! the fuzz corpora even where nightly and cargo-fuzz are missing.

use std::path::Path;

use sgeval::Provider;

fn each(target: &str, run: impl Fn(&[u8])) -> usize {
    let mut n = 0;
    for dir in ["corpus", "regressions"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).join(target);
        let Ok(entries) = std::fs::read_dir(&path) else {
            continue;
        };
        let mut files: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).unwrap();
            eprintln!("{}", file.display());
            run(&data);
            n += 1;
        }
    }
    n
}

#[test]
fn request_corpora_hold_their_properties() {
    for (target, provider) in [
        ("request_ecs", Provider::Ecs),
        ("request_ens", Provider::Ens),
        ("request_huawei", Provider::Huawei),
        ("request_gcore", Provider::Gcore),
    ] {
        if provider.apis().is_empty() {
            continue; // a front end not written yet has nothing to fuzz
        }
        let n = each(target, |d| sgeval_fuzz::request(provider, d));
        assert!(n > 0, "{target}: no seed committed");
    }
}

#[test]
fn scenario_corpus_holds_its_properties() {
    assert!(each("scenario_replay", sgeval_fuzz::scenario) > 0);
}

#[test]
fn conntrack_corpus_holds_its_properties() {
    assert!(each("conntrack", sgeval_fuzz::conntrack) > 0);
}

#[test]
fn classbench_corpus_holds_its_properties() {
    assert!(each("classbench", sgeval_fuzz::classbench) > 0);
}

#[test]
fn differential_corpus_holds_its_properties() {
    assert!(each("differential", sgeval_fuzz::differential) > 0);
}
