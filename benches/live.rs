//! Sustained [`Live`] writes while two reader threads evaluate through the handle: one
//! iteration is one write (a `JoinSecurityGroup` or `LeaveSecurityGroup` of one NIC, or an
//! `AuthorizeSecurityGroup` / `RevokeSecurityGroup` of one rule), published as a new
//! snapshot. The readers' lookups per second over the whole run are printed at the end of
//! each benchmark; `live/cloud_clone` measures what a whole copy of the cloud costs (a write
//! makes one only when readers hold every spare state).
//!
//! Then `live/sustained`: streams of changes (provider membership calls, rule calls, and
//! the handle's own `set_groups`) applied for a few seconds one at a time and in batches of
//! 100 and 1,000 (`Live::apply`, one publication per batch) while the two readers
//! evaluate; each prints updates/s and the readers' lookups/s.
//!
//! The cloud: ECS, group `web` (20 rules, one admitting group `fleet`) on NIC `web`, group
//! `fleet` on 1,000 NICs, group `ops` with no rules.
//!
//! `cargo bench --bench live` (criterion). Set `SGEVAL_BENCH_QUICK=1` for short runs.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};
use sgeval::live::{Change, Live, Outcome};
use sgeval::{Direction, Packet, Request, Scenario};

const FLEET: usize = 1000;
const READERS: usize = 2;

fn addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i as u32 + 2)))
}

fn scenario() -> Scenario {
    let mut calls = vec![
        json!({"api": "CreateSecurityGroup", "ref": "web", "params": {"RegionId": "eu-central-1", "VpcId": "vpc-1"}}),
        json!({"api": "CreateSecurityGroup", "ref": "fleet", "params": {"RegionId": "eu-central-1", "VpcId": "vpc-1"}}),
        json!({"api": "CreateSecurityGroup", "ref": "ops", "params": {"RegionId": "eu-central-1", "VpcId": "vpc-1"}}),
        json!({"api": "AuthorizeSecurityGroup", "params": {"RegionId": "eu-central-1", "SecurityGroupId": "$web",
            "Permissions": [{"IpProtocol": "TCP", "PortRange": "22/22", "SourceGroupId": "$fleet", "Priority": 1}]}}),
    ];
    for i in 0..19 {
        calls.push(
            json!({"api": "AuthorizeSecurityGroup", "params": {"RegionId": "eu-central-1",
            "SecurityGroupId": "$web", "Permissions": [{"IpProtocol": "TCP",
            "PortRange": format!("{}/{}", 1000 + i, 1000 + i), "SourceCidrIp": format!("192.0.{i}.0/24"),
            "Priority": 1 + i % 100}]}}),
        );
    }
    let mut endpoints = vec![json!({"name": "web", "ips": ["10.0.0.1"], "groups": ["$web"]})];
    for i in 0..FLEET {
        endpoints
            .push(json!({"name": format!("fleet-{i}"), "ips": [addr(i).to_string()], "groups": ["$fleet"]}));
    }
    let text = json!({"provider": "ecs", "calls": calls, "endpoints": endpoints}).to_string();
    Scenario::from_json(&text).expect("bench scenario")
}

fn params(v: Value) -> Request {
    Request {
        params: Some(v),
        ..Default::default()
    }
}

/// `READERS` threads evaluating 64 packets to `web` per snapshot until `stop`, adding up
/// their lookups in `lookups`.
fn spawn_readers(
    live: &Arc<Live>,
    stop: &Arc<AtomicBool>,
    lookups: &Arc<AtomicU64>,
) -> Vec<std::thread::JoinHandle<()>> {
    (0..READERS)
        .map(|r| {
            let (live, stop, lookups) = (Arc::clone(live), Arc::clone(stop), Arc::clone(lookups));
            std::thread::spawn(move || {
                let packets: Vec<Packet> = (0..64)
                    .map(|k| Packet::tcp(addr((k * 37 + r) % (FLEET + 50)), "10.0.0.1".parse().unwrap(), 22))
                    .collect();
                let mut n = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let snapshot = live.snapshot();
                    let web = snapshot.cloud().endpoint_by_name("web").expect("web");
                    for p in &packets {
                        black_box(snapshot.evaluate(web, Direction::Ingress, black_box(p)));
                    }
                    n += packets.len() as u64;
                }
                lookups.fetch_add(n, Ordering::Relaxed);
            })
        })
        .collect()
}

/// Runs `write(i)` as the benchmark while `READERS` threads evaluate packets to `web`
/// through `live.snapshot()`; prints the readers' lookups per second.
fn with_readers(c: &mut Criterion, name: &str, live: &Arc<Live>, write: impl Fn(u64)) {
    let quick = std::env::var_os("SGEVAL_BENCH_QUICK").is_some();
    let stop = Arc::new(AtomicBool::new(false));
    let lookups = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let readers = spawn_readers(live, &stop, &lookups);
    let mut group = c.benchmark_group("live");
    group.sample_size(if quick { 10 } else { 30 });
    group.measurement_time(Duration::from_secs(if quick { 2 } else { 6 }));
    let mut i = 0u64;
    group.bench_function(name, |b| {
        b.iter(|| {
            write(i);
            i += 1;
        })
    });
    group.finish();
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader");
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "live/{name}: {READERS} readers did {:.0} lookups/s over {secs:.1} s ({} writes)",
        lookups.load(Ordering::Relaxed) as f64 / secs,
        i
    );
}

fn bench(c: &mut Criterion) {
    let scenario = scenario();
    let live = Arc::new(Live::from_scenario(&scenario).expect("live"));
    let cloud = live.snapshot().cloud().clone();
    let id = |name: &str| {
        let e = cloud.endpoint_by_name(name).expect(name);
        cloud
            .group(cloud.endpoint(e).expect(name).groups[0])
            .expect("group")
            .id
            .clone()
    };
    let (web, fleet) = (id("web"), id("fleet-0"));
    let ops = cloud
        .groups()
        .map(|g| g.id.clone())
        .find(|g| *g != web && *g != fleet)
        .expect("ops");

    c.benchmark_group("live")
        .bench_function("cloud_clone", |b| b.iter(|| black_box(cloud.clone())));

    // fleet-7 joins `ops` and leaves it again, alternately.
    with_readers(c, "join_leave_with_2_readers", &live, |i| {
        let api = if i % 2 == 0 {
            "JoinSecurityGroup"
        } else {
            "LeaveSecurityGroup"
        };
        let r = live.call(
            api,
            &params(json!({"SecurityGroupId": ops, "InstanceId": "fleet-7"})),
        );
        assert!(r.is_success(), "{api}: {} {}", r.status, r.body);
    });
    // fleet-7 moves between `fleet` and `ops` through the handle.
    with_readers(c, "set_groups_with_2_readers", &live, |i| {
        let to = if i % 2 == 0 { &ops } else { &fleet };
        live.set_groups("fleet-7", std::slice::from_ref(to))
            .expect("set_groups");
    });
    // One rule of `web` added and revoked, alternately.
    with_readers(c, "rule_add_remove_with_2_readers", &live, |i| {
        let api = if i % 2 == 0 {
            "AuthorizeSecurityGroup"
        } else {
            "RevokeSecurityGroup"
        };
        let r = live.call(
            api,
            &params(json!({"RegionId": "eu-central-1", "SecurityGroupId": web, "Permissions": [
                {"IpProtocol": "TCP", "PortRange": "8080/8080", "SourceCidrIp": "198.51.100.0/24", "Priority": 5}]})),
        );
        assert!(r.is_success(), "{api}: {} {}", r.status, r.body);
    });
}

/// The streams of the sustained benchmark.
#[derive(Clone, Copy, Debug)]
enum Stream {
    /// `JoinSecurityGroup` then `LeaveSecurityGroup` of `ops`, NIC after NIC.
    JoinLeave,
    /// `AuthorizeSecurityGroup` then `RevokeSecurityGroup` of one rule of `web`, port after port.
    Rules,
    /// [`Live::set_groups`] moving NIC after NIC to `ops` and back (no provider call: the
    /// handle's own cost).
    SetGroups,
}

/// The `i`th change of `stream`; every pair of changes puts the cloud back as it was.
fn stream_change(stream: Stream, i: u64, ids: &Ids) -> Change {
    let k = (i / 2) % FLEET as u64;
    let first = i % 2 == 0;
    let nic = format!("fleet-{k}");
    match stream {
        Stream::JoinLeave => Change::call(
            if first {
                "JoinSecurityGroup"
            } else {
                "LeaveSecurityGroup"
            },
            params(json!({"SecurityGroupId": ids.ops, "InstanceId": nic})),
        ),
        Stream::Rules => Change::call(
            if first {
                "AuthorizeSecurityGroup"
            } else {
                "RevokeSecurityGroup"
            },
            params(
                json!({"RegionId": "eu-central-1", "SecurityGroupId": ids.web, "Permissions": [
                {"IpProtocol": "TCP", "PortRange": format!("{0}/{0}", 8000 + k % 100),
                 "SourceCidrIp": "198.51.100.0/24", "Priority": 5}]}),
            ),
        ),
        Stream::SetGroups => Change::SetGroups {
            name: nic,
            groups: vec![if first { ids.ops.clone() } else { ids.fleet.clone() }],
        },
    }
}

/// The ids of the bench cloud's groups.
struct Ids {
    web: String,
    fleet: String,
    ops: String,
}

/// Sustained updates while `READERS` threads evaluate: `stream` applied for a few seconds
/// in batches of `batch` changes (1: every change published on its own, through
/// [`Live::call`] or [`Live::set_groups`]); prints updates/s and the readers' lookups/s.
fn sustained(live: &Arc<Live>, ids: &Ids, stream: Stream, batch: usize) {
    let quick = std::env::var_os("SGEVAL_BENCH_QUICK").is_some();
    let budget = Duration::from_secs(if quick { 2 } else { 6 });
    let stop = Arc::new(AtomicBool::new(false));
    let lookups = Arc::new(AtomicU64::new(0));
    let readers = spawn_readers(live, &stop, &lookups);
    let started = Instant::now();
    let (mut i, mut publications) = (0u64, 0u64);
    // Whole pairs only, so the next run starts from the same cloud.
    let batch = batch.max(2) / 2 * 2;
    let single = batch == 2;
    while started.elapsed() < budget {
        if single {
            for j in i..i + 2 {
                match stream_change(stream, j, ids) {
                    Change::Call { api, request } => {
                        let r = live.call(&api, &request);
                        assert!(r.is_success(), "{api}: {} {}", r.status, r.body);
                    }
                    Change::SetGroups { name, groups } => {
                        live.set_groups(&name, &groups).expect("set_groups");
                    }
                    other => unreachable!("{other:?}"),
                }
            }
            publications += 2;
        } else {
            let changes: Vec<Change> = (i..i + batch as u64)
                .map(|j| stream_change(stream, j, ids))
                .collect();
            let applied = live.apply(&changes);
            for o in &applied.outcomes {
                let ok = match o {
                    Outcome::Call { response, .. } => response.is_success(),
                    Outcome::Done { .. } => true,
                    Outcome::Refused(_) => false,
                };
                assert!(ok, "{o:?}");
            }
            publications += 1;
        }
        i += batch as u64;
    }
    let secs = started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader");
    }
    println!(
        "live/sustained {stream:?}, batches of {}: {:.0} updates/s ({i} updates in {publications} publications \
         over {secs:.1} s), {READERS} readers did {:.0} lookups/s",
        if single { 1 } else { batch },
        i as f64 / secs,
        lookups.load(Ordering::Relaxed) as f64 / secs
    );
}

fn sustained_updates(_: &mut Criterion) {
    let live = Arc::new(Live::from_scenario(&scenario()).expect("live"));
    let cloud = live.snapshot().cloud().clone();
    let first_group = |name: &str| {
        let e = cloud.endpoint_by_name(name).expect(name);
        cloud
            .group(cloud.endpoint(e).expect(name).groups[0])
            .expect(name)
            .id
            .clone()
    };
    let (web, fleet) = (first_group("web"), first_group("fleet-0"));
    let ops = cloud
        .groups()
        .map(|g| g.id.clone())
        .find(|g| *g != web && *g != fleet)
        .expect("ops");
    let ids = Ids { web, fleet, ops };
    for stream in [Stream::SetGroups, Stream::JoinLeave, Stream::Rules] {
        for batch in [1, 100, 1000] {
            sustained(&live, &ids, stream, batch);
        }
    }
}

criterion_group!(benches, bench, sustained_updates);
criterion_main!(benches);
