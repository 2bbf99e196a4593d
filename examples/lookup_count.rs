//! The lookups of `benches/evaluate.rs` (the `evaluate/*` and `trace` groups) without
//! criterion, so that callgrind counts their instructions (load-independent, unlike
//! timings):
//!
//! ```text
//! cargo build --release --no-default-features --example lookup_count
//! valgrind --tool=callgrind --toggle-collect='lookup_count::one' target/release/examples/lookup_count ecs-sparse v4 one
//! ```
//!
//! Arguments: a shape (`ecs-sparse`, `huawei-sparse`, `ecs-dense`, or `trace-10`,
//! `trace-100000`), a family (`v4`, `v6`) and a mode (`one`, `batch`; `trace` for the trace
//! shapes). Each run does `ROUNDS` passes over the shape's 4,096 packets inside the
//! collected function (`one`, `batch` or `trace`), and prints the packets decided: divide
//! the collected instructions by that.

use std::hint::black_box;

use sgeval::compile::Engine;
use sgeval::{Cloud, Decision, Direction, EndpointKey, Packet};

#[path = "../benches/shapes/mod.rs"]
mod shapes;

const ROUNDS: usize = 10;

#[inline(never)]
fn one(engine: &Engine, web: EndpointKey, packets: &[Packet]) -> u64 {
    let mut allowed = 0;
    for _ in 0..ROUNDS {
        for p in packets {
            allowed +=
                u64::from(black_box(engine.evaluate(web, Direction::Ingress, black_box(p))).is_allow());
        }
    }
    allowed
}

#[inline(never)]
fn batch(engine: &Engine, web: EndpointKey, packets: &[Packet], out: &mut [Decision]) {
    for _ in 0..ROUNDS {
        engine.evaluate_batch(web, Direction::Ingress, black_box(packets), out);
        black_box(&out);
    }
}

#[inline(never)]
fn trace(cloud: &Cloud, engine: &Engine, packets: &[Packet]) -> u64 {
    let mut allowed = 0;
    for _ in 0..ROUNDS {
        for p in packets {
            allowed += u64::from(
                black_box(sgeval::flow::trace(cloud, engine, black_box(p))).verdict == sgeval::Verdict::Allow,
            );
        }
    }
    allowed
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (shape, family, mode) = match &args[..] {
        [s, f, m] => (s.as_str(), f.as_str(), m.as_str()),
        [s] if s.starts_with("trace-") => (s.as_str(), "v4", "trace"),
        _ => {
            eprintln!("usage: lookup_count SHAPE (v4|v6) (one|batch) | lookup_count trace-N");
            std::process::exit(2);
        }
    };
    if let Some(n) = shape.strip_prefix("trace-") {
        let n: usize = n.parse().expect("trace-N: N endpoints");
        let (cloud, packets) = shapes::trace_cloud(n);
        let engine = Engine::build(&cloud).expect("engine");
        let allowed = trace(&cloud, &engine, &packets);
        println!(
            "trace over {n} endpoints: {} lookups, {allowed} allowed",
            ROUNDS * packets.len()
        );
        return;
    }
    let (name, cloud, packets) = shapes::lookup_shapes()
        .into_iter()
        .find(|(name, _, _)| name == shape)
        .expect("shape: ecs-sparse, huawei-sparse, ecs-dense");
    let packets = &packets[usize::from(family == "v6")];
    let web = cloud.endpoint_by_name("web").expect("web");
    let engine = Engine::build(&cloud).expect("engine");
    let stats = engine.stats();
    eprintln!("{name}: {stats:?}");
    match mode {
        "one" => {
            let allowed = one(&engine, web, packets);
            println!(
                "{name} {family} one: {} lookups, {allowed} allowed",
                ROUNDS * packets.len()
            );
        }
        "batch" => {
            let mut out = vec![Decision::ESTABLISHED; packets.len()];
            batch(&engine, web, packets, &mut out);
            let allowed = out.iter().filter(|d| d.is_allow()).count();
            println!(
                "{name} {family} batch: {} lookups, {allowed} allowed per pass",
                ROUNDS * packets.len()
            );
        }
        _ => panic!("mode: one or batch"),
    }
}
