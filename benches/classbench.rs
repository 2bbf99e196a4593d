//! ClassBench throughput of the compiled classifier: one key at a time, batches of 64, and
//! build time, on acl1 / fw1 / ipc1 at 1k, 10k and 100k rules.
//!
//! The data are not part of the repository (academic-only licence); they are read from
//! `../shared/data/classbench` next to the repository root, or from the directory named by
//! `SGEVAL_CLASSBENCH_DIR`. Sets that are absent are skipped with a message. Pick sets with
//! criterion's filter, e.g. `cargo bench --bench classbench -- acl1_1k`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sgeval::classbench;
use sgeval::compile::classifier::{Classifier, Key, Rule};

const SETS: [&str; 9] = [
    "acl1_1k",
    "fw1_1k",
    "ipc1_1k",
    "acl1_10k",
    "fw1_10k",
    "ipc1_10k",
    "acl1_100k",
    "fw1_100k",
    "ipc1_100k",
];

fn data_dir() -> PathBuf {
    std::env::var_os("SGEVAL_CLASSBENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/data/classbench"))
}

/// Opens `name` or `name.gz`.
fn open(dir: &Path, name: &str) -> Option<Box<dyn BufRead>> {
    if let Ok(f) = File::open(dir.join(name)) {
        return Some(Box::new(BufReader::new(f)));
    }
    let f = File::open(dir.join(format!("{name}.gz"))).ok()?;
    Some(Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(f))))
}

fn load(dir: &Path, set: &str) -> Option<(Vec<Rule<u32>>, Vec<Key<u32>>)> {
    let rules = classbench::parse_rules(open(dir, set)?).ok()?;
    let trace = classbench::parse_trace(open(dir, &format!("{set}_trace"))?).ok()?;
    Some((rules, trace))
}

fn classbench(c: &mut Criterion) {
    let dir = data_dir();
    for set in SETS {
        let Some((rules, keys)) = load(&dir, set) else {
            eprintln!(
                "classbench: skipping {set}: no readable data in {}",
                dir.display()
            );
            continue;
        };
        let classifier = Classifier::build(&rules).expect("classbench sets build");
        let mut out = vec![None; keys.len()];

        let mut group = c.benchmark_group(format!("classbench/{set}"));
        group.sample_size(10).warm_up_time(Duration::from_millis(500));
        group.throughput(Throughput::Elements(keys.len() as u64));
        group.bench_function("one_at_a_time", |b| {
            b.iter(|| {
                for (k, o) in keys.iter().zip(out.iter_mut()) {
                    *o = classifier.classify(k);
                }
            })
        });
        group.bench_function(BenchmarkId::new("batch", 64), |b| {
            b.iter(|| {
                for (ks, os) in keys.chunks(64).zip(out.chunks_mut(64)) {
                    classifier.classify_batch(ks, os);
                }
            })
        });
        group.throughput(Throughput::Elements(rules.len() as u64));
        group.bench_function("build", |b| b.iter(|| Classifier::build(&rules).expect("builds")));
        group.finish();
    }
}

criterion_group!(benches, classbench);
criterion_main!(benches);
