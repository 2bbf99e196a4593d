//! `sgeval bench`: throughput of the engines on ClassBench files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use sgeval_classifier::classbench;
use sgeval_classifier::{Classifier, Key, Rule};

use crate::util::{bad_input, EXIT_DENIED};

/// Benchmarks.
#[derive(Debug, clap::Subcommand)]
pub enum BenchCmd {
    /// Classify a ClassBench trace against a ClassBench filter set and report throughput.
    ///
    /// Prints one line: `rules=N build_ms=F memory_bytes=N batch=B lookups_per_s=F
    /// mismatches=N`. Exits non-zero when any answer differs from the truth file.
    Classbench(ClassbenchArgs),
}

/// Which classifier `sgeval bench classbench` runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum EngineArg {
    /// The compiled classifier (`sgeval_classifier::Classifier`).
    Compiled,
    /// A plain linear scan over the rules.
    Reference,
}

/// Arguments of `sgeval bench classbench`.
#[derive(Debug, clap::Args)]
pub struct ClassbenchArgs {
    /// ClassBench filter file (plain or gzip).
    pub rules: PathBuf,
    /// ClassBench trace file (plain or gzip).
    pub trace: PathBuf,
    /// Expected answer per trace line (plain or gzip); every answer is checked against it.
    #[arg(long)]
    pub truth: Option<PathBuf>,
    /// Keys per batch call; 1 classifies one key at a time.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1_048_576))]
    pub batch: u32,
    /// The engine to measure.
    #[arg(long, value_enum, default_value_t = EngineArg::Compiled)]
    pub engine: EngineArg,
    /// Minimum measuring time in seconds (the whole trace runs at least once).
    #[arg(long, default_value_t = 1.0)]
    pub seconds: f64,
    /// Which clock measures throughput: `wall` time, or `cpu`, the time this thread spent
    /// on a CPU (Linux `/proc/thread-self/schedstat`; for busy shared machines).
    #[arg(long, value_enum, default_value_t = ClockArg::Wall)]
    pub clock: ClockArg,
}

/// The clock `sgeval bench classbench` measures with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ClockArg {
    /// Elapsed wall-clock time.
    Wall,
    /// Time the measuring thread spent running on a CPU.
    Cpu,
}

/// Nanoseconds this thread has run on a CPU, when the kernel tells.
fn thread_cpu_ns() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// A stopwatch on the chosen clock.
struct Stopwatch {
    wall: Instant,
    cpu: Option<u64>,
}

impl Stopwatch {
    fn start(clock: ClockArg) -> Result<Stopwatch, String> {
        let cpu = match clock {
            ClockArg::Wall => None,
            ClockArg::Cpu => Some(thread_cpu_ns().ok_or("`--clock cpu` needs /proc/thread-self/schedstat")?),
        };
        Ok(Stopwatch {
            wall: Instant::now(),
            cpu,
        })
    }

    fn elapsed(&self) -> Duration {
        match (self.cpu, thread_cpu_ns()) {
            (Some(start), Some(now)) => Duration::from_nanos(now.saturating_sub(start)),
            _ => self.wall.elapsed(),
        }
    }
}

/// Runs a benchmark command.
pub fn run(cmd: BenchCmd) -> ExitCode {
    match cmd {
        BenchCmd::Classbench(args) => match classbench_run(&args) {
            Ok(code) => code,
            Err(message) => bad_input(message),
        },
    }
}

fn read<T>(
    path: &Path,
    parse: impl FnOnce(Box<dyn std::io::BufRead>) -> Result<T, classbench::ParseError>,
) -> Result<T, String> {
    let reader = classbench::open(path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    parse(reader).map_err(|e| format!("{}: {e}", path.display()))
}

/// The comparison engine: the matching definition, first match wins, nothing shared with the
/// compiled classifier.
struct LinearScan(Vec<Rule<u32>>);

impl LinearScan {
    fn classify(&self, k: &Key<u32>) -> Option<u32> {
        for (i, r) in self.0.iter().enumerate() {
            let src_mask = if r.src.len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(r.src.len))
            };
            let dst_mask = if r.dst.len == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(r.dst.len))
            };
            if k.src & src_mask == r.src.addr
                && k.dst & dst_mask == r.dst.addr
                && r.src_ports.lo <= k.src_port
                && k.src_port <= r.src_ports.hi
                && r.dst_ports.lo <= k.dst_port
                && k.dst_port <= r.dst_ports.hi
                && k.proto & r.proto_mask == r.proto
            {
                return Some(i as u32);
            }
        }
        None
    }
}

enum Engine {
    Compiled(Classifier<u32>),
    Reference(LinearScan),
}

impl Engine {
    fn pass(&self, keys: &[Key<u32>], out: &mut [Option<u32>], batch: usize) {
        match self {
            Engine::Compiled(c) if batch > 1 => {
                for (ks, os) in keys.chunks(batch).zip(out.chunks_mut(batch)) {
                    c.classify_batch(ks, os);
                }
            }
            Engine::Compiled(c) => {
                for (k, o) in keys.iter().zip(out.iter_mut()) {
                    *o = c.classify(k);
                }
            }
            Engine::Reference(scan) => {
                for (k, o) in keys.iter().zip(out.iter_mut()) {
                    *o = scan.classify(k);
                }
            }
        }
    }

    fn memory_usage(&self) -> usize {
        match self {
            Engine::Compiled(c) => c.memory_usage(),
            Engine::Reference(scan) => scan.0.capacity() * std::mem::size_of::<Rule<u32>>(),
        }
    }
}

fn classbench_run(args: &ClassbenchArgs) -> Result<ExitCode, String> {
    let rules = read(&args.rules, classbench::parse_rules)?;
    let keys = read(&args.trace, classbench::parse_trace)?;
    let truth = match &args.truth {
        Some(path) => {
            let truth = read(path, classbench::parse_truth)?;
            if truth.len() != keys.len() {
                return Err(format!(
                    "`{}` has {} answers but the trace has {} packets",
                    path.display(),
                    truth.len(),
                    keys.len()
                ));
            }
            Some(truth)
        }
        None => None,
    };
    if !(args.seconds.is_finite() && args.seconds >= 0.0) {
        return Err(format!(
            "`--seconds` `{}` is not a non-negative number",
            args.seconds
        ));
    }

    // Build time is always wall-clock: the CPU clock ticks too coarsely for short builds.
    let started = Instant::now();
    let engine = match args.engine {
        EngineArg::Compiled => Engine::Compiled(Classifier::build(&rules).map_err(|e| e.to_string())?),
        EngineArg::Reference => Engine::Reference(LinearScan(rules.clone())),
    };
    let build = started.elapsed();
    let batch = args.batch as usize;
    let mut out = vec![None; keys.len()];
    let min = Duration::from_secs_f64(args.seconds);
    let mut passes = 0u64;
    let started = Stopwatch::start(args.clock)?;
    // PERF: the clock is read about every 100,000 lookups, not after every short pass.
    let per_check = (100_000 / keys.len().max(1)).max(1) as u64;
    loop {
        engine.pass(&keys, &mut out, batch);
        passes += 1;
        if passes % per_check == 0 && started.elapsed() >= min {
            break;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let lookups = passes as f64 * keys.len() as f64;

    let mismatches = truth.as_ref().map_or(0, |t| {
        t.iter().zip(&out).filter(|(want, got)| want != got).count()
    });
    if let Some(t) = &truth {
        if let Some((i, (want, got))) = t.iter().zip(&out).enumerate().find(|(_, (w, g))| w != g) {
            eprintln!(
                "sgeval: first mismatch at trace line {}: expected {want:?}, got {got:?}",
                i + 1
            );
        }
    }
    println!(
        "rules={} build_ms={:.3} memory_bytes={} batch={} lookups_per_s={:.0} mismatches={}",
        rules.len(),
        build.as_secs_f64() * 1e3,
        engine.memory_usage(),
        batch,
        if elapsed > 0.0 { lookups / elapsed } else { 0.0 },
        mismatches
    );
    Ok(if mismatches == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_DENIED)
    })
}
