//! `sgeval replay`: flow logs against the scenario (does the model agree with what the
//! cloud did?) or against a new version of it (what would the change break?).

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sgeval::replay::run::{self, Format, Input, RunOptions};
use sgeval::replay::{ColumnMap, Options, Replayer};
use sgeval::Cloud;

use crate::util::{bad_input, emit, read_scenario, warn_unresolved, EXIT_DENIED};

/// The format of the log files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// From each file's first bytes: Parquet magic, JSON object, CSV header, else Huawei.
    Auto,
    /// Alibaba Cloud flow logs exported from Log Service as CSV (header of field names).
    AlibabaCsv,
    /// Alibaba Cloud flow logs exported from Log Service as JSON lines.
    AlibabaJson,
    /// Huawei Cloud flow logs (space-separated, as in LTS).
    Huawei,
    /// CSV with a header; columns by `--columns`.
    Csv,
    /// Parquet; columns by `--columns`.
    Parquet,
}

/// Arguments of `sgeval replay`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The scenario the logs were recorded under (JSON).
    pub scenario: PathBuf,
    /// Flow-log files, or directories of them (read in name order).
    #[arg(required = true)]
    pub logs: Vec<PathBuf>,
    /// A new version of the scenario: list every record whose verdict changes; exit 3 when a
    /// change denies traffic the logs show accepted.
    #[arg(long, value_name = "NEW")]
    pub against: Option<PathBuf>,
    /// Print JSON: integer counts (`records`, `agreements`, `disagreements`, `unplaced`,
    /// `changed` with `--against`, ...) beside the grouped rows.
    #[arg(long)]
    pub json: bool,
    /// Count malformed rows and go on (the first 100 are listed) instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
    /// The format of the log files.
    #[arg(long, value_enum, default_value_t = FormatArg::Auto)]
    pub format: FormatArg,
    /// Column names for CSV, JSON lines and Parquet, over Alibaba's field names:
    /// `src=source_ip,dst=dest_ip,...` (fields: interface, src, dst, sport, dport, protocol,
    /// direction, packets, bytes, start, end, action, status).
    #[arg(long, value_name = "FIELD=COLUMN,...")]
    pub columns: Option<String>,
    /// Worker threads (default: the machine's cores).
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,
    /// Most connection-state entries kept per configuration (default 4194304).
    #[arg(long, value_name = "N")]
    pub state_capacity: Option<usize>,
}

fn build(path: &Path) -> Result<Cloud, String> {
    let scenario = read_scenario(path)?;
    warn_unresolved(path, &scenario);
    scenario.build().map_err(|e| format!("{}: {e}", path.display()))
}

/// The files of the arguments, directories expanded in name order.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut inner: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| format!("cannot read `{}`: {e}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            inner.sort();
            out.extend(inner);
        } else {
            out.push(p.clone());
        }
    }
    Ok(out)
}

/// Runs `sgeval replay`.
pub fn run(args: Args) -> ExitCode {
    let base = match build(&args.scenario) {
        Ok(c) => c,
        Err(e) => return bad_input(e),
    };
    let against = match args.against.as_deref().map(build).transpose() {
        Ok(c) => c,
        Err(e) => return bad_input(e),
    };
    let columns = match args.columns.as_deref().map(ColumnMap::parse).transpose() {
        Ok(c) => c.unwrap_or_default(),
        Err(e) => return bad_input(e),
    };
    let paths = match files(&args.logs) {
        Ok(p) => p,
        Err(e) => return bad_input(e),
    };
    let mut inputs = Vec::with_capacity(paths.len());
    for path in paths {
        let format = match args.format {
            FormatArg::Auto => match Format::detect(&path) {
                Ok(f) => f,
                Err(e) => return bad_input(e),
            },
            FormatArg::AlibabaCsv | FormatArg::Csv => Format::Csv,
            FormatArg::AlibabaJson => Format::JsonLines,
            FormatArg::Huawei => Format::Huawei,
            FormatArg::Parquet => Format::Parquet,
        };
        inputs.push(Input { path, format });
    }
    let mut options = Options::default();
    if let Some(n) = args.state_capacity {
        options.state_capacity = n;
    }
    let replayer = match Replayer::new(&base, against.as_ref(), options) {
        Ok(r) => r,
        Err(e) => return bad_input(e),
    };
    let threads = args
        .threads
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
        .max(1);
    let progress = AtomicU64::new(0);
    let run_options = RunOptions {
        threads,
        skip_bad: args.skip_bad,
        columns,
        progress: Some(&progress),
    };
    // A progress bar only on a terminal: bytes of text files and rows of Parquet files.
    let bar = std::io::stderr().is_terminal().then(|| {
        let total: u64 = inputs
            .iter()
            .map(|i| std::fs::metadata(&i.path).map_or(0, |m| m.len()))
            .sum();
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} replaying [{wide_bar}] {percent}% {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        bar
    });
    let result = std::thread::scope(|scope| {
        let job = scope.spawn(|| run::run(&replayer, &inputs, &run_options));
        if let Some(bar) = &bar {
            while !job.is_finished() {
                bar.set_position(progress.load(Ordering::Relaxed));
                std::thread::sleep(Duration::from_millis(100));
            }
            bar.finish_and_clear();
        }
        job.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    });
    let report = match result {
        Ok(r) => r,
        Err(e) => return bad_input(e),
    };
    if args.json {
        emit(&report.to_json(&replayer).to_string());
    } else {
        for line in report.to_text(&replayer).lines() {
            emit(line);
        }
    }
    if report.against && report.breaks() {
        ExitCode::from(EXIT_DENIED)
    } else {
        ExitCode::SUCCESS
    }
}
