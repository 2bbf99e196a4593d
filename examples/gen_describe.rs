//! Writes the describe output of a large invented account as JSON lines, to measure
//! `sgeval import` and `sgeval check` at scale (see the README's import section):
//!
//! ```text
//! cargo run --release --example gen_describe -- ecs 2000 60 5000 3 > /tmp/ecs.jsonl
//! cargo run --release --example gen_describe -- huawei 3000 70 10000 3 > /tmp/huawei.jsonl
//! ```
//!
//! Arguments: provider (`ecs`, `huawei`), groups, rules per group, NICs, groups per NIC.
//! The counts written go to standard error.

#[path = "../tests/common/describe_gen.rs"]
mod describe_gen;

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: gen_describe ecs|huawei GROUPS RULES_PER_GROUP NICS GROUPS_PER_NIC";
    let [provider, groups, rules, nics, per] = args.as_slice() else {
        eprintln!("{usage}");
        std::process::exit(2);
    };
    let num = |s: &String| -> usize {
        s.parse().unwrap_or_else(|_| {
            eprintln!("`{s}` is not a count; {usage}");
            std::process::exit(2)
        })
    };
    let size = describe_gen::Size {
        groups: num(groups),
        rules_per_group: num(rules),
        nics: num(nics),
        groups_per_nic: num(per),
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let counts = match provider.as_str() {
        "ecs" => describe_gen::ecs(&mut out, size),
        "huawei" => describe_gen::huawei(&mut out, size),
        _ => {
            eprintln!("{usage}");
            std::process::exit(2);
        }
    };
    match counts.and_then(|c| out.flush().map(|()| c)) {
        Ok(c) => eprintln!(
            "{provider}: {} group(s), {} rule(s), {} endpoint(s), {} bytes",
            c.groups, c.rules, c.endpoints, c.bytes
        ),
        Err(e) => {
            eprintln!("gen_describe: {e}");
            std::process::exit(1);
        }
    }
}
