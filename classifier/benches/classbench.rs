//! ClassBench throughput of the compiled classifier: one key at a time, batches of 64, and
//! build time, on acl1 / fw1 / ipc1 at 1k, 10k and 100k rules; the same on a synthetic
//! security-group-shaped list, IPv4 and IPv6.
//!
//! The data are not part of the repository (academic-only licence); they are read from
//! `../shared/data/classbench` next to the repository (workspace) root, or from the
//! directory named by `SGEVAL_CLASSBENCH_DIR`. Sets that are absent are skipped with a
//! message. Pick sets with criterion's filter, e.g. `cargo bench -p sgeval-classifier --bench classbench -- acl1_1k`.

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sgeval_classifier::{classbench, Addr, Classifier, Key, PortRange, Prefix, Rule};

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
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data/classbench"))
}

/// Opens `name` or `name.gz`.
fn open(dir: &Path, name: &str) -> Option<Box<dyn BufRead>> {
    if let Ok(f) = File::open(dir.join(name)) {
        return Some(Box::new(BufReader::new(f)));
    }
    let f = File::open(dir.join(format!("{name}.gz"))).ok()?;
    Some(Box::new(BufReader::new(flate2::read::MultiGzDecoder::new(f))))
}

/// A rule set and its trace.
type Set = (Vec<Rule<u32>>, Vec<Key<u32>>);

fn load(dir: &Path, set: &str) -> Option<Set> {
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

/// A security-group-shaped rule list: ten groups of a hundred rules (prefixes of every
/// length, a few ports) followed by a reference to a 5,000-member group expanded into host
/// prefixes, all towards one local address; keys from members, group prefixes and misses.
fn sg_shaped<A: Addr>(host: impl Fn(u64) -> A) -> (Vec<Rule<A>>, Vec<Key<A>>) {
    let bits = A::BITS as u8;
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let local = host(1);
    let ports = [22u16, 80, 443, 3306, 5432, 6379, 8080];
    let mut rules = Vec::new();
    for _ in 0..1000 {
        let r = next();
        let len = [0, bits / 4, bits / 2, bits - 8, bits][(r % 5) as usize];
        let lo = ports[(r >> 8) as usize % ports.len()];
        let dst_ports = if r >> 16 & 3 == 0 {
            PortRange::new(lo, lo + 10).unwrap_or(PortRange::ANY)
        } else {
            PortRange::single(lo)
        };
        rules.push(Rule {
            src: Prefix::truncating(host(r >> 20), len).unwrap_or(Prefix::ANY),
            dst: Prefix::new(local, bits).unwrap_or(Prefix::ANY),
            src_ports: PortRange::ANY,
            dst_ports,
            proto: [6, 17, 0][(r >> 24) as usize % 3],
            proto_mask: [0xff, 0xff, 0][(r >> 24) as usize % 3],
        });
    }
    for m in 0..5000 {
        rules.push(Rule {
            src: Prefix::new(host(1000 + m), bits).unwrap_or(Prefix::ANY),
            dst: Prefix::new(local, bits).unwrap_or(Prefix::ANY),
            src_ports: PortRange::ANY,
            dst_ports: PortRange::single(5432),
            proto: 6,
            proto_mask: 0xff,
        });
    }
    let keys = (0..100_000)
        .map(|_| {
            let r = next();
            let src = if r & 1 == 0 {
                host(1000 + (r >> 8) % 5000)
            } else {
                host(r >> 20)
            };
            Key {
                src,
                dst: local,
                src_port: (r >> 40) as u16,
                dst_port: ports[(r >> 4) as usize % ports.len()],
                proto: 6,
            }
        })
        .collect();
    (rules, keys)
}

fn security_group_shaped(c: &mut Criterion) {
    fn run<A: Addr>(c: &mut Criterion, name: &str, host: impl Fn(u64) -> A) {
        let (rules, keys) = sg_shaped(host);
        let classifier = Classifier::build(&rules).expect("builds");
        let mut out = vec![None; keys.len()];
        let mut group = c.benchmark_group(format!("sg_shaped/{name}"));
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
    run(c, "v4", |n| 0x0a00_0000u32 | (n as u32 & 0x00ff_ffff));
    run(c, "v6", |n| {
        (0x2001_0db8u128 << 96) | u128::from(n & 0xffff_ffff_ffff)
    });
}

criterion_group!(benches, classbench, security_group_shaped);
criterion_main!(benches);
