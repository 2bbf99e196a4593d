//! A fixed number of ClassBench lookups, for instruction counts that do not move with the
//! machine's load: run it under `valgrind --tool=callgrind --toggle-collect='*lookups*'`
//! and divide the instructions by the lookups.
//!
//! ```sh
//! cargo build --release -p sgeval-classifier --features gzip --example count
//! valgrind --tool=callgrind --toggle-collect='*lookups*' --callgrind-out-file=/dev/null \
//!     target/release/examples/count ../shared/data/classbench/ipc1_1k 64 100000
//! ```
//!
//! Arguments: the rule file (its trace and truth are `RULES_trace` and `RULES_trace.truth`,
//! plain or `.gz`), the batch size (1: one key at a time) and the number of lookups. Prints
//! the rules, the memory, the wall-clock rate of the counted lookups, whether node steps use AVX2 and the mismatches against the truth
//! file, and exits 1 on any. `SGEVAL_PORTABLE=1` turns the AVX2 node step off;
//! `SGEVAL_COMPACT=1` builds with `Options::COMPACT` (trees only, as sgeval's engine does).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use sgeval_classifier::{classbench, Classifier, Key, Options};

/// `path`, or `path.gz` when only that exists.
fn either(path: &str) -> PathBuf {
    let plain = PathBuf::from(path);
    if plain.exists() {
        plain
    } else {
        PathBuf::from(format!("{path}.gz"))
    }
}

fn read<T>(
    path: &Path,
    parse: impl FnOnce(Box<dyn std::io::BufRead>) -> Result<T, classbench::ParseError>,
) -> T {
    let reader = classbench::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    parse(reader).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The measured part: `lookups` lookups through the trace, `batch` keys per call.
#[inline(never)]
fn lookups(c: &Classifier<u32>, keys: &[Key<u32>], out: &mut [Option<u32>], batch: usize, lookups: usize) {
    let mut done = 0;
    while done < lookups {
        let n = (lookups - done).min(keys.len());
        if batch > 1 {
            for (ks, os) in keys[..n].chunks(batch).zip(out[..n].chunks_mut(batch)) {
                c.classify_batch(ks, os);
            }
        } else {
            for (k, o) in keys[..n].iter().zip(&mut out[..n]) {
                *o = c.classify(k);
            }
        }
        done += n;
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [rules, batch, count] = &args[..] else {
        eprintln!("usage: count RULES BATCH LOOKUPS");
        return ExitCode::from(2);
    };
    let batch: usize = batch.parse().expect("BATCH is a number");
    let count: usize = count.parse().expect("LOOKUPS is a number");
    let rules_v = read(&either(rules), classbench::parse_rules);
    let keys = read(&either(&format!("{rules}_trace")), classbench::parse_trace);
    let truth = read(&either(&format!("{rules}_trace.truth")), classbench::parse_truth);
    let started = std::time::Instant::now();
    let options = if std::env::var_os("SGEVAL_COMPACT").is_some_and(|v| v == "1") {
        Options::COMPACT
    } else {
        Options::default()
    };
    let mut c = Classifier::build_with(&rules_v, options).expect("builds");
    let build_ms = started.elapsed().as_secs_f64() * 1e3;
    if std::env::var_os("SGEVAL_PORTABLE").is_some_and(|v| v == "1") {
        c = c.without_simd();
    }
    let mut out = vec![None; keys.len()];
    // One full pass first, so every answer is checked even when `count` is short.
    lookups(&c, &keys, &mut out, batch, keys.len());
    let mismatches = truth.iter().zip(&out).filter(|(t, o)| t != o).count();
    let started = std::time::Instant::now();
    lookups(&c, &keys, &mut out, batch, count);
    let secs = started.elapsed().as_secs_f64();
    println!(
        "rules={} build_ms={build_ms:.1} memory_bytes={} avx2={} batch={batch} lookups={} mismatches={mismatches} timed_lookups_per_s={:.0}",
        rules_v.len(),
        c.memory_usage(),
        c.uses_simd(),
        count + keys.len(),
        count as f64 / secs
    );
    if mismatches == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
