//! `sgeval import`: provider describe/list output as a scenario every other command reads.

use std::io::Write;
use std::process::ExitCode;

use serde_json::json;
use sgeval::import::scenario::{to_json, write_json, Imported};
use sgeval::import::{self, Format, Inventory, Options};
use sgeval::Provider;

use crate::util::bad_input;

/// A document format.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatChoice {
    /// A provider's describe/list answers (CLI or SDK output).
    Describe,
    /// `terraform show -json` of a state or plan, or a raw `.tfstate`.
    Terraform,
}

/// Arguments of `sgeval import`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Documents: files, directories, JSON-lines bundles, `-` for standard input.
    #[arg(required = true)]
    files: Vec<String>,
    /// The provider (ecs, ens, huawei, gcore); a document of another provider is refused.
    /// Detected from the documents when not given.
    #[arg(long, value_parser = parse_provider)]
    provider: Option<Provider>,
    /// The format of every document; detected per document when not given.
    #[arg(long, value_enum)]
    format: Option<FormatChoice>,
    /// Accept Huawei v1/Neutron rule listings (no action, no priority) as allow rules whose
    /// priority stays unresolved.
    #[arg(long)]
    accept_v1: bool,
    /// Print `{"scenario", "unresolved", "skipped", "notes"}` instead of the scenario alone.
    #[arg(long)]
    json: bool,
}

fn parse_provider(s: &str) -> Result<Provider, String> {
    s.parse()
}

/// Runs `sgeval import`. Exit status: 0 imported (unresolved items are listed on standard
/// error and kept in the scenario), 2 bad input (the error names file, JSON path and value).
pub fn run(args: Args) -> ExitCode {
    let options = Options {
        provider: args.provider,
        format: args.format.map(|f| match f {
            FormatChoice::Describe => Format::Describe,
            FormatChoice::Terraform => Format::Terraform,
        }),
        accept_v1: args.accept_v1,
    };
    let paths: Vec<&str> = args.files.iter().map(String::as_str).collect();
    let inventory = match import::read_paths(&paths, &options) {
        Ok(i) => i,
        Err(e) => return bad_input(e),
    };
    if !args.json {
        // PERF: each call is written as it is made; a large import is never held whole.
        let mut w = std::io::BufWriter::new(std::io::stdout().lock());
        let (imported, calls) = match write_json(&inventory, &mut w) {
            Ok(done) => done,
            Err(_) => std::process::exit(141),
        };
        if w.flush().is_err() {
            std::process::exit(141);
        }
        summary(&inventory, &imported, calls);
        return ExitCode::SUCCESS;
    }
    let imported = to_json(&inventory);
    summary(&inventory, &imported, count(&imported.value["calls"]));
    drop(inventory);
    let Imported {
        value,
        unresolved,
        skipped,
        notes,
    } = imported;
    write(&json!({
        "scenario": value,
        "unresolved": unresolved,
        "skipped": skipped,
        "notes": notes,
    }));
    ExitCode::SUCCESS
}

/// Streams `out` to standard output, pretty-printed; a closed pipe ends the program as
/// [`crate::util::emit`] does.
fn write(out: &serde_json::Value) {
    let mut w = std::io::BufWriter::new(std::io::stdout().lock());
    if serde_json::to_writer_pretty(&mut w, out).is_err() || writeln!(w).is_err() || w.flush().is_err() {
        std::process::exit(141);
    }
}

/// The summary on standard error: counts, every unresolved item, every skipped resource.
fn summary(inv: &Inventory, imported: &Imported, calls: usize) {
    let rules: usize = inv.groups.iter().map(|g| g.rules.len()).sum();
    let mut counts = format!(
        "sgeval import: {}: {} group(s), {rules} rule(s), {} endpoint(s)",
        inv.provider.name(),
        inv.groups.len(),
        count(&imported.value["endpoints"])
    );
    if !inv.address_groups.is_empty() {
        counts.push_str(&format!(", {} address group(s)", inv.address_groups.len()));
    }
    if !inv.prefix_lists.is_empty() {
        counts.push_str(&format!(", {} prefix list(s)", inv.prefix_lists.len()));
    }
    counts.push_str(&format!(
        "; {} call(s); {} unresolved, {} skipped",
        calls,
        imported.unresolved.len(),
        imported.skipped.len()
    ));
    eprintln!("{counts}");
    if !imported.unresolved.is_empty() {
        eprintln!("unresolved (answers that depend on these say so):");
        for u in &imported.unresolved {
            eprintln!("  {u}");
        }
    }
    if !imported.skipped.is_empty() {
        eprintln!("skipped:");
        for s in &imported.skipped {
            let at = if s.origin.path.is_empty() {
                s.origin.file.clone()
            } else {
                s.origin.to_string()
            };
            eprintln!("  {at}: {}: {}", s.kind, s.reason);
        }
    }
    for n in &imported.notes {
        eprintln!("note: {n}");
    }
}

fn count(v: &serde_json::Value) -> usize {
    v.as_array().map_or(0, Vec::len)
}
