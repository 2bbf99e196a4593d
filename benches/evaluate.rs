//! The compiled engine on a security-group-shaped endpoint: evaluate one at a time and
//! batched (IPv4 and IPv6), compile time, and update latency, for ECS and Huawei.
//!
//! The endpoint `web` carries ECS: 10 groups of 100 rules (999 and 1,000 for the update) (60 ingress, 40 egress; 70%
//! IPv4, random prefixes /8../32 and /16../128, TCP/UDP port ranges, ICMP, ALL; 20% drops;
//! priorities 1..100). Huawei, within its own limits: 5 groups per NIC of 50 rules (the
//! per-group quota: the 4 default rules and 46 custom ones, multiport lists of 1..3 items). One ingress and one egress
//! rule reference the group `fleet` of 5,000 other endpoints, each with an IPv4 and an
//! IPv6 address: scattered (`sparse`, one classifier entry per member) for both providers,
//! and consecutive (`dense`, members collapse into a few prefixes) for ECS. Scenarios go through the public `Scenario` API and the provider front
//! ends.
//!
//! `cargo bench --bench evaluate` (criterion). Set `SGEVAL_BENCH_QUICK=1` for short runs.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use serde_json::Value;
use sgeval::compile::{Engine, Update};
use sgeval::{reference, Cloud, Decision, Direction, GroupKey, Provider};

mod shapes;

use shapes::*;

type Make = fn(u64, Fleet, bool) -> (Value, Vec<Aim>);

/// Times `update` of `engine` to `updated`, each time on a fresh clone of `engine`.
fn bench_refresh(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    engine: &Engine,
    updated: &Cloud,
    update: Update,
) {
    group.bench_function(name, |b| {
        b.iter_batched(
            || engine.clone(),
            |mut e| {
                e.refresh(updated, update).expect("refresh");
                e
            },
            BatchSize::SmallInput,
        )
    });
}

/// Asserts that `refreshed` answers as `fresh` (a build of the same cloud) at `at` for the
/// first 512 of `packets`, ingress.
fn assert_same_at(refreshed: &Engine, fresh: &Engine, at: sgeval::EndpointKey, packets: &[sgeval::Packet]) {
    for p in packets.iter().take(512) {
        assert_eq!(
            refreshed.evaluate(at, Direction::Ingress, p),
            fresh.evaluate(at, Direction::Ingress, p)
        );
    }
}

/// `cloud` with a member more, `combo`, in the groups of ids `groups` (a new combination),
/// and that member's key.
fn with_combo_member(cloud: &Cloud, groups: &[String]) -> (Cloud, sgeval::EndpointKey) {
    let mut with = cloud.clone();
    let ips = [
        "192.0.2.77".parse().expect("ip"),
        "fd00:e::1".parse().expect("ip"),
    ];
    let key = with.attach("combo", &ips, groups).expect("attach combo");
    (with, key)
}

fn bench(c: &mut Criterion) {
    let quick = std::env::var_os("SGEVAL_BENCH_QUICK").is_some();
    let dense = Fleet {
        size: FLEET,
        sparse: false,
    };
    let sparse = Fleet {
        size: FLEET,
        sparse: true,
    };
    let shapes: [(Provider, Make, Fleet); 3] = [
        (Provider::Ecs, ecs, sparse),
        (Provider::Huawei, huawei, sparse),
        (Provider::Ecs, ecs, dense),
    ];
    for (provider, make, fleet) in shapes {
        let name = format!("{provider}-{}", if fleet.sparse { "sparse" } else { "dense" });
        let (scenario, aims) = make(7, fleet, false);
        let cloud = build(&scenario);
        let web = cloud.endpoint_by_name("web").expect("web");
        let engine = Engine::build(&cloud).expect("bench engine builds");
        let stats = engine.stats();
        let groups = cloud.endpoint(web).map_or(0, |e| e.groups.len());
        let rules: usize = cloud.endpoint(web).map_or(0, |e| {
            e.groups
                .iter()
                .filter_map(|&g| cloud.group(g))
                .map(|g| g.rules.len())
                .sum()
        });
        println!(
            "{name}: web has {rules} rules in {groups} groups; engine: {} endpoints, {} group lists, \
             {} identities, {} tables, {} classifier entries, {} bytes",
            stats.endpoints,
            stats.group_lists,
            stats.identities,
            stats.tables,
            stats.entries,
            stats.memory_bytes
        );

        let mut group = c.benchmark_group(format!("evaluate/{name}"));
        group.sample_size(if quick { 10 } else { 30 });
        group.warm_up_time(Duration::from_millis(if quick { 300 } else { 1000 }));
        group.measurement_time(Duration::from_secs(if quick { 1 } else { 4 }));
        for (family, v6) in [("v4", false), ("v6", true)] {
            let packets = packets(&aims, fleet, v6, 11);
            // Every answer checked once against the reference, on a sample.
            let reference = reference::Evaluator::new(&cloud);
            for p in packets.iter().step_by(64) {
                assert_eq!(
                    engine.evaluate(web, Direction::Ingress, p),
                    reference.evaluate(web, Direction::Ingress, p)
                );
            }
            let allowed = packets
                .iter()
                .filter(|p| engine.evaluate(web, Direction::Ingress, p).is_allow())
                .count();
            println!("{name} {family}: {allowed} of {} packets allowed", packets.len());
            group.throughput(Throughput::Elements(packets.len() as u64));
            group.bench_function(BenchmarkId::new("one", family), |b| {
                b.iter(|| {
                    for p in &packets {
                        black_box(engine.evaluate(web, Direction::Ingress, black_box(p)));
                    }
                })
            });
            let mut out = vec![Decision::ESTABLISHED; packets.len()];
            group.bench_function(BenchmarkId::new("batch", family), |b| {
                b.iter(|| {
                    engine.evaluate_batch(web, Direction::Ingress, black_box(&packets), &mut out);
                    black_box(&out);
                })
            });
            let few = &packets[..64];
            group.throughput(Throughput::Elements(few.len() as u64));
            group.bench_function(BenchmarkId::new("reference", family), |b| {
                b.iter(|| {
                    for p in few {
                        black_box(reference.evaluate(web, Direction::Ingress, black_box(p)));
                    }
                })
            });
        }
        group.finish();

        let mut group = c.benchmark_group(format!("compile/{name}"));
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(if quick { 2 } else { 8 }));
        group.bench_function("build", |b| {
            b.iter(|| Engine::build(black_box(&cloud)).expect("build"))
        });
        group.finish();

        // Updates: one rule added to group 3 of `web`; one member added to `fleet`.
        let (with_rule, _) = make(7, fleet, true);
        let with_rule = build(&with_rule);
        let g3 = with_rule
            .group(web_group(&with_rule, 3))
            .map(|g| g.key)
            .expect("group 3");
        let (with_member, _) = make(7, fleet.grown(), false);
        let with_member = build(&with_member);
        let new_member = with_member.endpoint_keys().last().expect("the new member");
        // A member whose groups are a new combination: `fleet` and web's group 0.
        let combo_ids = [
            fleet_id(&cloud),
            cloud.group(web_group(&cloud, 0)).expect("g0").id.clone(),
        ];
        let (with_combo, combo_member) = with_combo_member(&cloud, &combo_ids);
        for (updated, change) in [
            (&with_rule, Update::Group(g3)),
            (&with_member, Update::Endpoint(new_member)),
            (&with_combo, Update::Endpoint(combo_member)),
        ] {
            let mut e = engine.clone();
            e.refresh(updated, change).expect("refresh");
            let fresh = Engine::build(updated).expect("fresh");
            assert_same_at(&e, &fresh, web, &packets(&aims, fleet, false, 5));
        }
        let mut group = c.benchmark_group(format!("update/{name}"));
        group.sample_size(if quick { 10 } else { 20 });
        group.measurement_time(Duration::from_secs(if quick { 2 } else { 6 }));
        bench_refresh(&mut group, "add_rule", &engine, &with_rule, Update::Group(g3));
        bench_refresh(
            &mut group,
            "add_member",
            &engine,
            &with_member,
            Update::Endpoint(new_member),
        );
        bench_refresh(
            &mut group,
            "add_member_new_combination",
            &engine,
            &with_combo,
            Update::Endpoint(combo_member),
        );
        // The same new combination beside 1,000 lists of other groups (ECS shapes): the
        // change should not cost more for lists that take no part in it.
        if provider == Provider::Ecs {
            let (mut scenario, _) = make(7, fleet, false);
            with_other_lists(&mut scenario, 1000);
            let beside = build(&scenario);
            let beside_engine = Engine::build(&beside).expect("bench engine builds");
            let (beside_combo, member) = with_combo_member(&beside, &combo_ids);
            let mut e = beside_engine.clone();
            e.refresh(&beside_combo, Update::Endpoint(member))
                .expect("refresh");
            let fresh = Engine::build(&beside_combo).expect("fresh");
            assert_same_at(&e, &fresh, web, &packets(&aims, fleet, false, 5));
            println!(
                "{name} beside 1,000 other lists: {} tables, {} bytes",
                beside_engine.stats().tables,
                beside_engine.stats().memory_bytes
            );
            bench_refresh(
                &mut group,
                "add_member_new_combination_beside_1000_lists",
                &beside_engine,
                &beside_combo,
                Update::Endpoint(member),
            );
        }
        group.finish();

        // Churn: the same member joins and leaves `fleet` over and over, with 64 lookups
        // (fleet members and others, to `web`) after each change; one iteration is one
        // join, one leave and 128 lookups.
        let mut group = c.benchmark_group(format!("churn/{name}"));
        group.sample_size(if quick { 10 } else { 20 });
        group.measurement_time(Duration::from_secs(if quick { 2 } else { 6 }));
        let mixed = packets(&aims, fleet, false, 17);
        let mixed = &mixed[..64];
        let mut churned = engine.clone();
        // The same without lookups: one join and one leave on a warm engine.
        group.bench_function("join_leave", |b| {
            b.iter(|| {
                churned
                    .refresh(&with_member, Update::Endpoint(new_member))
                    .expect("join");
                churned
                    .refresh(&cloud, Update::Endpoint(new_member))
                    .expect("leave");
            })
        });
        // The same beside 1,000 lists whose tables all name `fleet` (ECS shapes): a member
        // whose groups form an existing identity is one address-map entry, whatever the
        // tables that reference its group.
        if provider == Provider::Ecs {
            let (mut scenario, _) = make(7, fleet, false);
            with_referencing_lists(&mut scenario, 1000);
            let referencing = build(&scenario);
            let mut joined = referencing.clone();
            let (v4, v6) = fleet.addrs(fleet.size);
            let member = joined
                .attach("fleet-new", &[v4, v6], &[fleet_id(&referencing)])
                .expect("attach fleet-new");
            let mut e = Engine::build(&referencing).expect("bench engine builds");
            let stats = e.stats();
            e.refresh(&joined, Update::Endpoint(member)).expect("join");
            let fresh = Engine::build(&joined).expect("fresh");
            // The lists allow SSH from the new member (they do reference `fleet`), and the
            // refreshed engine answers as a fresh build there and at `web`.
            let mut allowed = 0;
            for o in (0..1000).step_by(37) {
                let other = joined.endpoint_by_name(&format!("other-{o}")).expect("other");
                let at = joined.endpoint(other).expect("other").ips[0];
                let p = sgeval::Packet::tcp(v4, at, 22).with_src_port(40000);
                let d = e.evaluate(other, Direction::Ingress, &p);
                assert_eq!(d, fresh.evaluate(other, Direction::Ingress, &p));
                allowed += usize::from(d.is_allow());
            }
            assert_eq!(allowed, 28, "the lists allow SSH from fleet's new member");
            assert_same_at(&e, &fresh, web, &packets(&aims, fleet, false, 5));
            e.refresh(&referencing, Update::Endpoint(member)).expect("leave");
            println!(
                "{name} beside 1,000 lists that reference fleet: {} tables, {} bytes",
                stats.tables, stats.memory_bytes
            );
            group.bench_function("join_leave_referenced_by_1000_lists", |b| {
                b.iter(|| {
                    e.refresh(&joined, Update::Endpoint(member)).expect("join");
                    e.refresh(&referencing, Update::Endpoint(member)).expect("leave");
                })
            });
        }
        // One rule added to group 3 of `web` and removed again, on a warm engine.
        group.bench_function("rule_add_remove", |b| {
            b.iter(|| {
                churned.refresh(&with_rule, Update::Group(g3)).expect("add");
                churned.refresh(&cloud, Update::Group(g3)).expect("remove");
            })
        });
        // The same, each change timed alone: criterion reports the median of the pairs;
        // the single changes' median and 99th percentile are printed after the group.
        let mut each: Vec<Duration> = Vec::new();
        group.bench_function("rule_add_remove_each", |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    for target in [&with_rule, &cloud] {
                        let t = Instant::now();
                        churned.refresh(target, Update::Group(g3)).expect("change");
                        let took = t.elapsed();
                        total += took;
                        each.push(took);
                    }
                }
                total
            })
        });
        group.bench_function("join_leave_with_lookups", |b| {
            b.iter(|| {
                churned
                    .refresh(&with_member, Update::Endpoint(new_member))
                    .expect("join");
                for p in mixed {
                    black_box(churned.evaluate(web, Direction::Ingress, black_box(p)));
                }
                churned
                    .refresh(&cloud, Update::Endpoint(new_member))
                    .expect("leave");
                for p in mixed {
                    black_box(churned.evaluate(web, Direction::Ingress, black_box(p)));
                }
            })
        });
        group.finish();
        if !each.is_empty() {
            each.sort_unstable();
            let at = |q: f64| each[((each.len() as f64 * q) as usize).min(each.len() - 1)];
            println!(
                "churn/{name}/rule_add_remove_each: {} single changes, median {:.2} us, p99 {:.2} us, max {:.2} us",
                each.len(),
                at(0.5).as_secs_f64() * 1e6,
                at(0.99).as_secs_f64() * 1e6,
                each[each.len() - 1].as_secs_f64() * 1e6
            );
        }
    }
}

/// The provider id of the referenced group `fleet`.
fn fleet_id(cloud: &Cloud) -> String {
    let member = cloud.endpoint_by_name("fleet-0").expect("fleet-0");
    let g = cloud.endpoint(member).expect("fleet-0").groups[0];
    cloud.group(g).expect("fleet").id.clone()
}

/// The key of `web`'s group number `i`.
fn web_group(cloud: &Cloud, i: usize) -> GroupKey {
    let web = cloud.endpoint_by_name("web").expect("web");
    cloud.endpoint(web).expect("web").groups[i]
}

/// `flow::trace` over clouds of 10 and 100,000 endpoints of one ECS group (a few rules, no
/// group reference, so every evaluation costs the same): finding the endpoints of a packet's
/// addresses is a map lookup, so the two should take the same time. One packet at a time
/// (`endpoints/N`) and batched (`batched/N`: `flow::trace_batch`). `N = 100000-hot-10` traces
/// the 10-endpoint cloud's very packets over the cloud of 100,000: the same work over a map
/// of 100,000 addresses, of which the packets touch 10 (what is left of the difference
/// between 10 and 100,000 is then the cache misses of touching 100,000).
fn trace(c: &mut Criterion) {
    let quick = std::env::var_os("SGEVAL_BENCH_QUICK").is_some();
    let mut group = c.benchmark_group("trace");
    group.sample_size(if quick { 10 } else { 30 });
    group.warm_up_time(Duration::from_millis(if quick { 300 } else { 1000 }));
    group.measurement_time(Duration::from_secs(if quick { 1 } else { 4 }));
    for (n, hot) in [(10usize, 10usize), (100_000, 100_000), (100_000, 10)] {
        let (cloud, packets) = trace_cloud(n, hot);
        let id = if hot < n {
            format!("{n}-hot-{hot}")
        } else {
            n.to_string()
        };
        let engine = Engine::build(&cloud).expect("engine");
        let allowed = packets
            .iter()
            .filter(|p| sgeval::flow::trace(&cloud, &engine, p).verdict == sgeval::Verdict::Allow)
            .count();
        println!(
            "trace over {n} endpoints (packets between {hot}): {allowed} of {} packets allowed",
            packets.len()
        );
        group.throughput(Throughput::Elements(packets.len() as u64));
        group.bench_function(BenchmarkId::new("endpoints", &id), |b| {
            b.iter(|| {
                for p in &packets {
                    black_box(sgeval::flow::trace(&cloud, &engine, black_box(p)));
                }
            })
        });
        // The same packets through `flow::trace_batch`, into flows made beforehand.
        let mut out: Vec<_> = packets
            .iter()
            .map(|p| sgeval::flow::trace(&cloud, &engine, p))
            .collect();
        group.bench_function(BenchmarkId::new("batched", &id), |b| {
            b.iter(|| {
                sgeval::flow::trace_batch(&cloud, &engine, black_box(&packets), &mut out);
                black_box(&out);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench, trace);
criterion_main!(benches);
