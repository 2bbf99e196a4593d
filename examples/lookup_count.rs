//! The lookups of `benches/evaluate.rs` (the `evaluate/*` and `trace` groups) without
//! criterion, so that callgrind counts their instructions (load-independent, unlike
//! timings):
//!
//! ```text
//! cargo build --release --no-default-features --example lookup_count
//! valgrind --tool=callgrind --toggle-collect='lookup_count::measure_*' \
//!     --callgrind-out-file=cg.out target/release/examples/lookup_count ecs-sparse
//! callgrind_annotate --inclusive=yes cg.out | grep measure_
//! ```
//!
//! The argument is a shape: `ecs-sparse`, `huawei-sparse`, `ecs-dense` (the bench's
//! `evaluate/*` groups: `web`'s ingress packets, IPv4 and IPv6, one at a time and batched,
//! each in its own `measure_*` function), or `trace-10`, `trace-100000` (the `trace`
//! group: `flow::trace` one packet at a time), or `trace-batch-10`, `trace-batch-100000`
//! (`flow::trace_batch` over the same packets); `trace-N/M` (and `trace-batch-N/M`): N
//! endpoints, the packets between the first M alone, so that `trace-100000/10` traces
//! `trace-10`'s very packets over the map of 100,000 addresses. Each `measure_*` function
//! makes `ROUNDS` passes over the shape's 4,096 packets (one pass first, outside, to warm
//! up): divide its inclusive instructions by `ROUNDS * 4096` for a lookup's.

use std::hint::black_box;

use sgeval::compile::Engine;
use sgeval::flow::Flow;
use sgeval::{Cloud, Decision, Direction, EndpointKey, Packet};

#[path = "../benches/shapes/mod.rs"]
mod shapes;

/// Passes over the packets per measured function.
const ROUNDS: usize = 10;

#[inline(always)]
fn one(engine: &Engine, web: EndpointKey, packets: &[Packet], rounds: usize) -> u64 {
    let mut allowed = 0;
    for _ in 0..rounds {
        for p in packets {
            allowed +=
                u64::from(black_box(engine.evaluate(web, Direction::Ingress, black_box(p))).is_allow());
        }
    }
    allowed
}

#[inline(always)]
fn batch(engine: &Engine, web: EndpointKey, packets: &[Packet], out: &mut [Decision], rounds: usize) -> u64 {
    for _ in 0..rounds {
        engine.evaluate_batch(web, Direction::Ingress, black_box(packets), out);
        black_box(&out);
    }
    out.iter().filter(|d| d.is_allow()).count() as u64
}

#[inline(never)]
fn measure_one_v4(engine: &Engine, web: EndpointKey, packets: &[Packet]) -> u64 {
    // A distinct constant, so that the compiler does not merge the identical functions.
    black_box(1);
    one(engine, web, packets, ROUNDS)
}

#[inline(never)]
fn measure_one_v6(engine: &Engine, web: EndpointKey, packets: &[Packet]) -> u64 {
    // A distinct constant, so that the compiler does not merge the identical functions.
    black_box(2);
    one(engine, web, packets, ROUNDS)
}

#[inline(never)]
fn measure_batch_v4(engine: &Engine, web: EndpointKey, packets: &[Packet], out: &mut [Decision]) -> u64 {
    // A distinct constant, so that the compiler does not merge the identical functions.
    black_box(3);
    batch(engine, web, packets, out, ROUNDS)
}

#[inline(never)]
fn measure_batch_v6(engine: &Engine, web: EndpointKey, packets: &[Packet], out: &mut [Decision]) -> u64 {
    // A distinct constant, so that the compiler does not merge the identical functions.
    black_box(4);
    batch(engine, web, packets, out, ROUNDS)
}

#[inline(always)]
fn trace(cloud: &Cloud, engine: &Engine, packets: &[Packet], rounds: usize) -> u64 {
    let mut allowed = 0;
    for _ in 0..rounds {
        for p in packets {
            let flow = sgeval::flow::trace(cloud, engine, black_box(p));
            allowed += u64::from(black_box(flow).verdict == sgeval::Verdict::Allow);
        }
    }
    allowed
}

#[inline(never)]
fn measure_trace(cloud: &Cloud, engine: &Engine, packets: &[Packet]) -> u64 {
    // A distinct constant, so that the compiler does not merge the identical functions.
    black_box(5);
    trace(cloud, engine, packets, ROUNDS)
}

#[inline(always)]
fn trace_batch(cloud: &Cloud, engine: &Engine, packets: &[Packet], out: &mut [Flow], rounds: usize) -> u64 {
    // Counted each pass, as `trace` counts every packet, so that both print the same total.
    let mut allowed = 0;
    for _ in 0..rounds {
        sgeval::flow::trace_batch(cloud, engine, black_box(packets), out);
        allowed += black_box(&out)
            .iter()
            .filter(|f| f.verdict == sgeval::Verdict::Allow)
            .count() as u64;
    }
    allowed
}

#[inline(never)]
fn measure_trace_batch(cloud: &Cloud, engine: &Engine, packets: &[Packet], out: &mut [Flow]) -> u64 {
    // A distinct constant, so that the compiler does not merge the identical functions.
    black_box(6);
    trace_batch(cloud, engine, packets, out, ROUNDS)
}

/// ", packets between M of them" when the packets address fewer than all `n` endpoints.
fn hot_text(n: usize, hot: usize) -> String {
    if hot < n {
        format!(", packets between {hot} of them")
    } else {
        String::new()
    }
}

/// `LOOKUP_TIME=ROUNDS`: also time the lookups, `ROUNDS` passes a measure.
fn timed_rounds() -> Option<usize> {
    std::env::var("LOOKUP_TIME").ok()?.parse().ok()
}

/// This thread's CPU time in nanoseconds.
fn thread_time() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec to write to.
    #[allow(unsafe_code)]
    unsafe {
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t);
    }
    t.tv_sec as f64 * 1e9 + t.tv_nsec as f64
}

fn main() {
    let Some(shape) = std::env::args().nth(1) else {
        eprintln!(
            "usage: lookup_count (ecs-sparse | huawei-sparse | ecs-dense | trace-N[/M] | trace-batch-N[/M])"
        );
        std::process::exit(2);
    };
    if let Some(n) = shape.strip_prefix("trace-") {
        let (batched, n) = match n.strip_prefix("batch-") {
            Some(n) => (true, n),
            None => (false, n),
        };
        // `N/M`: N endpoints, packets between the first M alone (`trace-100000/10` traces
        // `trace-10`'s packets over a map of 100,000 addresses).
        let (n, hot) = n.split_once('/').unwrap_or((n, n));
        let n: usize = n.parse().expect("trace-N or trace-batch-N: N endpoints");
        let hot: usize = hot.parse().expect("trace-N/M: packets between M endpoints");
        let (cloud, packets) = shapes::trace_cloud(n, hot);
        let engine = Engine::build(&cloud).expect("engine");
        let what = if batched { "batched trace" } else { "trace" };
        // Warm up, and check the batch against one at a time.
        let mut out: Vec<Flow> = packets
            .iter()
            .map(|p| sgeval::flow::trace(&cloud, &engine, p))
            .collect();
        trace_batch(&cloud, &engine, &packets, &mut out, 1);
        for (p, f) in packets.iter().zip(&out) {
            assert_eq!(*f, sgeval::flow::trace(&cloud, &engine, p));
        }
        let allowed = if batched {
            measure_trace_batch(&cloud, &engine, &packets, &mut out)
        } else {
            measure_trace(&cloud, &engine, &packets)
        };
        println!(
            "{what} over {n} endpoints{}: {} lookups, {allowed} allowed",
            hot_text(n, hot),
            ROUNDS * packets.len()
        );
        if let Some(rounds) = timed_rounds() {
            let ns = (0..5)
                .map(|_| {
                    let t = thread_time();
                    if batched {
                        black_box(trace_batch(&cloud, &engine, &packets, &mut out, rounds));
                    } else {
                        black_box(trace(&cloud, &engine, &packets, rounds));
                    }
                    (thread_time() - t) / (rounds * packets.len()) as f64
                })
                .fold(f64::INFINITY, f64::min);
            println!(
                "{what} over {n} endpoints{}: {ns:.1} ns a packet (thread CPU time, best of 5)",
                hot_text(n, hot)
            );
        }
        return;
    }
    let (name, cloud, packets) = shapes::lookup_shapes()
        .into_iter()
        .find(|(name, _, _)| *name == shape)
        .expect("shape: ecs-sparse, huawei-sparse, ecs-dense or trace-N");
    let web = cloud.endpoint_by_name("web").expect("web");
    let engine = Engine::build(&cloud).expect("engine");
    eprintln!("{name}: {:?}", engine.stats());
    let lookups = ROUNDS * packets[0].len();
    let mut out = vec![Decision::ESTABLISHED; packets[0].len()];
    for (family, packets) in ["v4", "v6"].into_iter().zip(&packets) {
        // Warm up, and check the batch against one at a time.
        one(&engine, web, packets, 1);
        batch(&engine, web, packets, &mut out, 1);
        for (p, d) in packets.iter().zip(&out) {
            assert_eq!(*d, engine.evaluate(web, Direction::Ingress, p));
        }
        let (allowed_one, allowed_batch) = if family == "v4" {
            (
                measure_one_v4(&engine, web, packets),
                measure_batch_v4(&engine, web, packets, &mut out),
            )
        } else {
            (
                measure_one_v6(&engine, web, packets),
                measure_batch_v6(&engine, web, packets, &mut out),
            )
        };
        println!("{name} {family}: {lookups} lookups per measure_*; allowed {allowed_one} one at a time, {allowed_batch} per batch pass");
        if let Some(rounds) = timed_rounds() {
            // Thread CPU time (time other processes take is not counted; their use of the
            // caches is), the best of 5.
            let best = |f: &mut dyn FnMut()| {
                (0..5)
                    .map(|_| {
                        let t = thread_time();
                        f();
                        (thread_time() - t) / (rounds * packets.len()) as f64
                    })
                    .fold(f64::INFINITY, f64::min)
            };
            let one_ns = best(&mut || {
                black_box(one(&engine, web, packets, rounds));
            });
            let batch_ns = best(&mut || {
                black_box(batch(&engine, web, packets, &mut out, rounds));
            });
            println!("{name} {family}: {one_ns:.1} ns one at a time, {batch_ns:.1} ns batched (thread CPU time, best of 5)");
        }
    }
}
