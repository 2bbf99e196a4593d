//! The hot path does not allocate: `Engine::evaluate`, `Engine::evaluate_batch`, a live
//! snapshot's `evaluate`, and the classifier's `classify` / `classify_batch`, counted by a
//! global allocator that tallies this thread's allocations.
//!
//! Every bundled example scenario is compiled; each of its endpoints is asked, in both
//! directions, about IPv4, IPv6, mixed-family, established and ICMP packets from and to
//! every endpoint address and a few outside ones.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::IpAddr;

use sgeval::compile::Engine;
use sgeval::flow::{self, Flow};
use sgeval::live::Live;
use sgeval::{ConnState, Decision, Direction, EndpointKey, Packet, Scenario};
use sgeval_classifier::{Classifier, Key, PortRange, Prefix, Rule};

/// `System`, counting the allocations (and reallocations) of the calling thread.
struct Counting;

thread_local! {
    // `const` and without `Drop`, so touching it never allocates itself.
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

fn count() {
    // `try_with`: a thread being torn down may still free or allocate.
    let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as given.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count();
        // SAFETY: forwarded as given.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count();
        // SAFETY: forwarded as given.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded as given.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Allocations this thread makes while running `f`.
fn allocations<T>(f: impl FnOnce() -> T) -> (u64, T) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (ALLOCATIONS.with(Cell::get) - before, out)
}

#[test]
fn the_counter_sees_an_allocation() {
    // Without this, a broken counter would let every test below pass.
    let (n, v) = allocations(|| std::hint::black_box(Vec::<u8>::with_capacity(16)));
    assert!(n >= 1, "an allocation was not counted");
    drop(v);
}

/// The packets asked of each scenario: every pair of its addresses plus outside ones, in
/// several shapes.
fn packets(addrs: &[IpAddr]) -> Vec<Packet> {
    let mut all: Vec<IpAddr> = addrs.to_vec();
    for outside in ["203.0.113.9", "10.255.0.1", "2001:db8::9", "fd00::ffff"] {
        all.push(outside.parse().unwrap());
    }
    let mut out = Vec::new();
    for &src in &all {
        for &dst in &all {
            out.push(Packet::tcp(src, dst, 22));
            out.push(Packet::tcp(src, dst, 443).with_src_port(40000));
            out.push(Packet::udp(src, dst, 53));
            out.push(Packet::new(src, dst, if src.is_ipv4() { 1 } else { 58 }).with_icmp(8, 0));
            out.push(Packet::new(src, dst, 47));
            out.push(Packet::tcp(src, dst, 80).with_state(ConnState::Established));
        }
    }
    out
}

#[test]
fn compiled_evaluation_does_not_allocate() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut scenarios = 0;
    let mut asked = 0usize;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let cloud = Scenario::from_json(&text).unwrap().build().unwrap();
        let engine = Engine::build(&cloud).unwrap();
        let addrs: Vec<IpAddr> = cloud
            .endpoints()
            .iter()
            .flat_map(|e| e.ips.iter().copied())
            .collect();
        let packets = packets(&addrs);
        let mut out = vec![Decision::MIXED_FAMILY; packets.len()];
        // Traces, one at a time and batched (into flows made beforehand).
        let (n, ()) = allocations(|| {
            for p in &packets {
                std::hint::black_box(flow::trace(&cloud, &engine, p));
            }
        });
        assert_eq!(n, 0, "{}: trace allocated {n} times", path.display());
        let mut flows: Vec<Flow> = packets
            .iter()
            .map(|_| flow::trace(&cloud, &engine, &packets[0]))
            .collect();
        let (n, ()) = allocations(|| flow::trace_batch(&cloud, &engine, &packets, &mut flows));
        assert_eq!(n, 0, "{}: trace_batch allocated {n} times", path.display());
        for (p, f) in packets.iter().zip(&flows) {
            assert_eq!(*f, flow::trace(&cloud, &engine, p));
        }
        for e in 0..cloud.endpoints().len() + 1 {
            // One past the last endpoint: the no-group answer must not allocate either.
            // Keys are minted by clouds; the one past the last comes from its number.
            let endpoint: EndpointKey = serde_json::from_value(e.into()).expect("a key");
            for direction in [Direction::Ingress, Direction::Egress] {
                let (n, ()) = allocations(|| {
                    for p in &packets {
                        std::hint::black_box(engine.evaluate(endpoint, direction, p));
                    }
                });
                assert_eq!(n, 0, "{}: evaluate allocated {n} times", path.display());
                let (n, ()) = allocations(|| engine.evaluate_batch(endpoint, direction, &packets, &mut out));
                assert_eq!(n, 0, "{}: evaluate_batch allocated {n} times", path.display());
                // Not vacuous: the batch answered, and answered as one at a time does.
                for (p, d) in packets.iter().zip(&out) {
                    assert_eq!(*d, engine.evaluate(endpoint, direction, p));
                }
                asked += packets.len();
            }
        }
        scenarios += 1;
    }
    assert!(
        scenarios >= 4,
        "only {scenarios} example scenarios found in {}",
        dir.display()
    );
    assert!(asked > 10_000, "only {asked} packets asked");
}

#[test]
fn live_snapshot_evaluation_does_not_allocate() {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/ecs-web-db.json")).unwrap();
    let scenario = Scenario::from_json(&text).unwrap();
    let live = Live::from_scenario(&scenario).unwrap();
    let snapshot = live.snapshot();
    assert!(snapshot.is_compiled());
    let addrs: Vec<IpAddr> = snapshot
        .cloud()
        .endpoints()
        .iter()
        .flat_map(|e| e.ips.iter().copied())
        .collect();
    let packets = packets(&addrs);
    let cloud = snapshot.cloud();
    let mut flows: Vec<Flow> = packets
        .iter()
        .map(|_| flow::trace(cloud, &*snapshot, &packets[0]))
        .collect();
    let (n, ()) = allocations(|| flow::trace_batch(cloud, &*snapshot, &packets, &mut flows));
    assert_eq!(n, 0, "snapshot trace_batch allocated {n} times");
    for (p, f) in packets.iter().zip(&flows) {
        assert_eq!(*f, flow::trace(cloud, &*snapshot, p));
    }
    for e in snapshot.cloud().endpoint_keys() {
        for direction in [Direction::Ingress, Direction::Egress] {
            let (n, ()) = allocations(|| {
                for p in &packets {
                    std::hint::black_box(snapshot.evaluate(e, direction, p));
                }
            });
            assert_eq!(n, 0, "snapshot evaluate allocated {n} times");
        }
    }
}

#[test]
fn classifier_lookup_does_not_allocate() {
    // A ClassBench-like set with overlapping prefixes and port ranges, large enough to get
    // several trees and root tables.
    let mut rules = Vec::new();
    let mut x = 0x9E37_79B9u32;
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    for _ in 0..3000 {
        let (a, b, c) = (next(), next(), next());
        let src_len = [0, 8, 16, 24, 32][(a % 5) as usize];
        let dst_len = [0, 16, 24, 28, 32][(b % 5) as usize];
        let lo = (c % 60000) as u16;
        rules.push(Rule {
            src: Prefix::truncating(a, src_len).unwrap(),
            dst: Prefix::truncating(b, dst_len).unwrap(),
            src_ports: PortRange::ANY,
            dst_ports: PortRange::new(lo, lo.saturating_add((c >> 16) as u16 % 2000)).unwrap(),
            proto: [6, 17, 0][(c % 3) as usize],
            proto_mask: if c % 3 == 2 { 0 } else { 0xff },
        });
    }
    let classifier = Classifier::build(&rules).unwrap();
    let keys: Vec<Key<u32>> = (0..4096)
        .map(|i| {
            let r = &rules[(next() as usize) % rules.len()];
            Key {
                src: r.src.first() | (next() & u32::MAX.checked_shr(u32::from(r.src.len)).unwrap_or(0)),
                dst: r.dst.first(),
                src_port: next() as u16,
                dst_port: r.dst_ports.lo,
                proto: if i % 7 == 0 { 1 } else { r.proto | 6 },
            }
        })
        .collect();
    let mut out = vec![None; keys.len()];
    let (n, ()) = allocations(|| {
        for k in &keys {
            std::hint::black_box(classifier.classify(k));
        }
    });
    assert_eq!(n, 0, "classify allocated {n} times");
    let (n, ()) = allocations(|| classifier.classify_batch(&keys, &mut out));
    assert_eq!(n, 0, "classify_batch allocated {n} times");
    assert!(
        out.iter().any(Option::is_some),
        "no key matched: the test asked nothing"
    );
    for (k, o) in keys.iter().zip(&out) {
        assert_eq!(*o, classifier.classify(k));
    }
}
