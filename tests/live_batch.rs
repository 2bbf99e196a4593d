//! Batched and sustained [`Live`] writes: readers evaluating while a writer applies a random
//! stream of rule, membership and endpoint changes (one at a time and in batches) only ever
//! get the answers of a whole state, the state after some prefix of the stream; and a batch
//! published at once ends where the same changes applied one by one end.

use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use proptest::prelude::*;
use serde_json::{json, Value};
use sgeval::live::{Change, Live, Outcome};
use sgeval::{flow, reference, Cloud, Direction, Packet, Provider, Request};

#[path = "live_common/rng.rs"]
mod rng;
use rng::Rng;

fn body(v: Value) -> Request {
    Request {
        body: Some(v),
        ..Default::default()
    }
}

const PREFIXES_V4: &[&str] = &["0.0.0.0/0", "10.0.0.0/24", "10.0.0.2/32", "203.0.113.0/24"];
const PREFIXES_V6: &[&str] = &["::/0", "2001:db8::/64", "2001:db8::3/128"];
const PORTS: &[&str] = &["22", "80", "443", "1-1024", "22,80,443"];

/// A random stream of Huawei changes: rules created and deleted (by ids the stream has
/// seen answered), endpoints attached, moved between groups and detached, some of them
/// refused (an unknown endpoint, a repeated address).
struct Stream {
    rng: Rng,
    groups: Vec<String>,
    names: Vec<String>,
    rule_ids: Vec<String>,
    next_host: u32,
}

impl Stream {
    fn new(seed: u64, groups: Vec<String>) -> Stream {
        Stream {
            rng: Rng(seed),
            groups,
            names: Vec::new(),
            rule_ids: Vec::new(),
            next_host: 0,
        }
    }

    fn rule(&mut self) -> Value {
        let v6 = self.rng.below(4) == 0;
        let mut r = json!({
            "security_group_id": self.rng.pick(&self.groups).clone(),
            "direction": if self.rng.below(2) == 0 { "ingress" } else { "egress" },
            "ethertype": if v6 { "IPv6" } else { "IPv4" },
            "action": if self.rng.below(3) == 0 { "deny" } else { "allow" },
            "priority": *self.rng.pick(&[1, 2, 50]),
            "protocol": "tcp",
            "multiport": *self.rng.pick(PORTS),
        });
        if self.rng.below(3) == 0 {
            r["remote_group_id"] = json!(self.rng.pick(&self.groups).clone());
        } else if v6 {
            r["remote_ip_prefix"] = json!(self.rng.pick(PREFIXES_V6));
        } else {
            r["remote_ip_prefix"] = json!(self.rng.pick(PREFIXES_V4));
        }
        r
    }

    fn some_groups(&mut self) -> Vec<String> {
        let mut gs = self.groups.clone();
        for i in (1..gs.len()).rev() {
            gs.swap(i, self.rng.below(i + 1));
        }
        gs.truncate(1 + self.rng.below(gs.len()));
        gs
    }

    fn next(&mut self) -> Change {
        match self.rng.below(12) {
            0..=3 => Change::call(
                "CreateSecurityGroupRule",
                body(json!({"security_group_rule": self.rule()})),
            ),
            4 | 5 => {
                let id = if self.rule_ids.is_empty() || self.rng.below(8) == 0 {
                    "no-such-rule".to_owned()
                } else {
                    let i = self.rng.below(self.rule_ids.len());
                    self.rule_ids.swap_remove(i)
                };
                Change::call(
                    "DeleteSecurityGroupRule",
                    body(json!({"security_group_rule_id": id})),
                )
            }
            6 | 7 if !self.names.is_empty() => Change::SetGroups {
                name: self.rng.pick(&self.names).clone(),
                groups: self.some_groups(),
            },
            8 if self.names.len() > 2 => {
                let i = self.rng.below(self.names.len());
                Change::Detach {
                    name: self.names.remove(i),
                }
            }
            9 => Change::Detach {
                name: "nobody".to_owned(),
            },
            _ => {
                self.next_host += 1;
                let n = self.next_host % 40 + 1;
                let mut ips: Vec<IpAddr> = vec![format!("10.0.0.{n}").parse().unwrap()];
                if n % 2 == 0 {
                    ips.push(format!("2001:db8::{n:x}").parse().unwrap());
                }
                let name = format!("vm-{}", self.next_host);
                // An address still in use makes the cloud refuse it: the stream keeps the
                // name only if it was attached (see `learn`).
                Change::Attach {
                    name,
                    ips,
                    groups: self.some_groups(),
                }
            }
        }
    }

    /// Remembers what an applied change made: new rule ids, attached names.
    fn learn(&mut self, change: &Change, outcome: &Outcome) {
        match (change, outcome) {
            (Change::Call { api, .. }, Outcome::Call { response, .. })
                if api == "CreateSecurityGroupRule" && response.is_success() =>
            {
                self.rule_ids.extend(response.created.clone());
            }
            (Change::Attach { name, .. }, Outcome::Done { .. }) => self.names.push(name.clone()),
            _ => {}
        }
    }
}

/// A Huawei handle with three groups, and the same state as a plain cloud.
fn start() -> (Live, Cloud, Vec<String>) {
    let live = Live::new(Provider::Huawei, Default::default());
    let mut cloud = Cloud::new(Provider::Huawei, Default::default());
    let mut groups = Vec::new();
    for name in ["web", "app", "db"] {
        let request = body(json!({"security_group": {"name": name}}));
        let response = live.call("CreateSecurityGroup", &request);
        assert_eq!(cloud.call("CreateSecurityGroup", &request), response);
        groups.push(response.created.expect("a group id"));
    }
    (live, cloud, groups)
}

/// Applies a change to a plain cloud as the handle does one at a time; whether it took
/// effect (a version counted).
fn apply_plain(cloud: &mut Cloud, change: &Change) -> bool {
    match change {
        Change::Call { api, request } => {
            cloud.call(api, request);
            true
        }
        Change::Attach { name, ips, groups } => cloud.attach(name, ips, groups).is_ok(),
        Change::SetGroups { name, groups } => cloud.set_groups(name, groups).is_ok(),
        Change::Detach { name } => cloud.detach(name).is_ok(),
    }
}

/// A fingerprint of a cloud's whole state as evaluation sees it, and its call count.
fn fingerprint(cloud: &Cloud) -> u64 {
    let mut h = DefaultHasher::new();
    cloud.call_count().hash(&mut h);
    for g in cloud.groups() {
        g.key.hash(&mut h);
        g.id.hash(&mut h);
        format!("{:?}", g.rules).hash(&mut h);
    }
    for e in cloud.endpoints() {
        e.name.hash(&mut h);
        e.ips.hash(&mut h);
        e.groups.hash(&mut h);
    }
    h.finish()
}

fn packets() -> Vec<Packet> {
    let mut rng = Rng(11);
    let v4: Vec<IpAddr> = (1..=41)
        .map(|n| format!("10.0.0.{n}").parse().unwrap())
        .chain(["203.0.113.9".parse().unwrap()])
        .collect();
    let v6: Vec<IpAddr> = (2..=40)
        .step_by(2)
        .map(|n| format!("2001:db8::{n:x}").parse().unwrap())
        .collect();
    (0..200)
        .map(|_| {
            let fam = if rng.below(4) == 0 { &v6 } else { &v4 };
            let (src, dst) = (*rng.pick(fam), *rng.pick(fam));
            Packet::tcp(src, dst, *rng.pick(&[22u16, 80, 443, 1024, 1025]))
        })
        .collect()
}

fn stress_secs() -> f64 {
    std::env::var("LIVE_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0)
}

#[test]
fn two_readers_get_only_whole_states_of_a_prefix_while_a_writer_streams_changes() {
    let (live, mut plain, groups) = start();
    let live = Arc::new(live);
    // The state of every version, as the same changes one by one make it.
    let mut states: HashMap<u64, u64> = HashMap::from([(live.version(), fingerprint(&plain))]);
    let packets = Arc::new(packets());
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2u64)
        .map(|id| {
            let (live, packets, stop) = (Arc::clone(&live), Arc::clone(&packets), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut rng = Rng(100 + id);
                let mut seen: HashSet<(u64, u64)> = HashSet::new();
                let (mut answers, mut last) = (0u64, 0u64);
                while !stop.load(Ordering::Relaxed) {
                    let snapshot = live.snapshot();
                    assert!(snapshot.version() >= last, "versions never go back");
                    last = snapshot.version();
                    let cloud = snapshot.cloud();
                    let reference = reference::Evaluator::new(cloud);
                    for _ in 0..4 {
                        let p = &packets[rng.below(packets.len())];
                        // The whole flow, then each endpoint's own decision both ways.
                        assert_eq!(
                            snapshot.trace(p),
                            flow::trace(cloud, &reference, p),
                            "version {}: {p}",
                            snapshot.version()
                        );
                        for e in cloud.endpoint_keys() {
                            for d in [Direction::Ingress, Direction::Egress] {
                                assert_eq!(
                                    snapshot.evaluate(e, d, p),
                                    reference.evaluate(e, d, p),
                                    "version {}: endpoint {e} {d:?} {p}",
                                    snapshot.version()
                                );
                            }
                        }
                        answers += 1;
                    }
                    seen.insert((snapshot.version(), fingerprint(cloud)));
                }
                (seen, answers)
            })
        })
        .collect();

    let mut stream = Stream::new(0x5eed, groups);
    let mut rng = Rng(3);
    let (started, budget) = (Instant::now(), Duration::from_secs_f64(stress_secs()));
    let (mut changes, mut publications) = (0usize, 0usize);
    while started.elapsed() < budget || publications < 40 {
        let batch: Vec<Change> = (0..1 + rng.below(12)).map(|_| stream.next()).collect();
        let applied = if batch.len() == 1 && rng.below(2) == 0 {
            // One at a time through the single-change methods.
            let version = match &batch[0] {
                Change::Call { api, request } => {
                    let (response, version) = live.call_versioned(api, request);
                    Outcome::Call { response, version }
                }
                Change::Attach { name, ips, groups } => match live.attach(name, ips, groups) {
                    Ok(version) => Outcome::Done { version },
                    Err(e) => Outcome::Refused(e),
                },
                Change::SetGroups { name, groups } => match live.set_groups(name, groups) {
                    Ok(version) => Outcome::Done { version },
                    Err(e) => Outcome::Refused(e),
                },
                Change::Detach { name } => match live.detach(name) {
                    Ok(version) => Outcome::Done { version },
                    Err(e) => Outcome::Refused(e),
                },
            };
            vec![version]
        } else {
            live.apply(&batch).outcomes
        };
        assert_eq!(applied.len(), batch.len());
        let mut version = *states.keys().max().expect("version 0");
        for (change, outcome) in batch.iter().zip(&applied) {
            stream.learn(change, outcome);
            if apply_plain(&mut plain, change) {
                version += 1;
                states.insert(version, fingerprint(&plain));
            }
            match outcome {
                Outcome::Call { version: v, .. } | Outcome::Done { version: v } => {
                    assert_eq!(*v, version, "{change:?}")
                }
                Outcome::Refused(_) => {}
            }
        }
        assert_eq!(live.version(), version);
        changes += batch.len();
        publications += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let mut versions = HashSet::new();
    let mut answers = 0;
    for r in readers {
        let (seen, n) = r.join().expect("a reader found a wrong answer");
        assert!(n > 0, "every reader made progress while the writer wrote");
        answers += n;
        for (version, fp) in seen {
            assert_eq!(
                states.get(&version),
                Some(&fp),
                "version {version} as published is not the state after that prefix"
            );
            versions.insert(version);
        }
    }
    assert_eq!(fingerprint(live.snapshot().cloud()), fingerprint(&plain));
    assert!(live.snapshot().is_compiled());
    assert!(versions.len() > 1, "readers observed several versions");
    eprintln!(
        "live batch stress: {changes} changes in {publications} writes, last version {}, \
         {answers} packets checked by 2 readers over {} versions",
        live.version(),
        versions.len()
    );
}

/// Applies `changes` through the handle's single-change methods.
fn one_by_one(live: &Live, changes: &[Change]) -> Vec<Outcome> {
    changes
        .iter()
        .map(|change| match change {
            Change::Call { api, request } => {
                let (response, version) = live.call_versioned(api, request);
                Outcome::Call { response, version }
            }
            Change::Attach { name, ips, groups } => match live.attach(name, ips, groups) {
                Ok(version) => Outcome::Done { version },
                Err(e) => Outcome::Refused(e),
            },
            Change::SetGroups { name, groups } => match live.set_groups(name, groups) {
                Ok(version) => Outcome::Done { version },
                Err(e) => Outcome::Refused(e),
            },
            Change::Detach { name } => match live.detach(name) {
                Ok(version) => Outcome::Done { version },
                Err(e) => Outcome::Refused(e),
            },
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// A stream cut into batches, each published at once, gives the same outcomes,
    /// versions, state and answers as the same changes one by one.
    #[test]
    fn a_batch_published_at_once_equals_its_changes_one_by_one(
        seed in any::<u64>(),
        cuts in prop::collection::vec(1usize..10, 1..8),
    ) {
        let (single, _, groups) = start();
        let (batched, _, _) = start();
        let mut stream = Stream::new(seed, groups);
        for size in cuts {
            let batch: Vec<Change> = (0..size).map(|_| stream.next()).collect();
            let want = one_by_one(&single, &batch);
            let got = batched.apply(&batch);
            prop_assert_eq!(&got.outcomes, &want);
            prop_assert_eq!(got.version, single.version());
            for (change, outcome) in batch.iter().zip(&want) {
                stream.learn(change, outcome);
            }
        }
        let (a, b) = (single.snapshot(), batched.snapshot());
        prop_assert_eq!(a.version(), b.version());
        prop_assert_eq!(fingerprint(a.cloud()), fingerprint(b.cloud()));
        prop_assert!(a.cloud().groups().eq(b.cloud().groups()));
        prop_assert_eq!(a.cloud().endpoints(), b.cloud().endpoints());
        let reference = reference::Evaluator::new(b.cloud());
        for p in packets().iter().take(60) {
            prop_assert_eq!(b.trace(p), a.trace(p));
            prop_assert_eq!(b.trace(p), flow::trace(b.cloud(), &reference, p));
        }
    }
}

/// A long batch with a delay bound publishes intermediate states, each the state after a
/// prefix of the batch, and ends where the batch without a bound ends.
#[test]
fn a_bounded_batch_publishes_prefixes_and_ends_at_the_whole_batch() {
    let (bounded, _, groups) = start();
    let (whole, _, _) = start();
    let mut stream = Stream::new(42, groups);
    let batch: Vec<Change> = (0..200).map(|_| stream.next()).collect();
    let before = bounded.version();
    let got = bounded.apply_within(&batch, Some(Duration::ZERO));
    let want = whole.apply(&batch);
    assert_eq!(got, want);
    assert!(got.version > before);
    assert_eq!(
        fingerprint(bounded.snapshot().cloud()),
        fingerprint(whole.snapshot().cloud())
    );
}

/// Applies `n` changes of `stream` to `live` in batches of 100 and to `plain` one by one;
/// the changes.
fn stream_into(live: &Live, plain: &mut Cloud, stream: &mut Stream, n: usize) -> Vec<Change> {
    let mut all = Vec::new();
    for _ in 0..n / 100 {
        let changes: Vec<Change> = (0..100).map(|_| stream.next()).collect();
        let applied = live.apply(&changes);
        for (change, outcome) in changes.iter().zip(&applied.outcomes) {
            apply_plain(plain, change);
            stream.learn(change, outcome);
        }
        all.extend(changes);
    }
    all
}

/// A reader's snapshot held over thousands of changes (the writer's states going on, the
/// call counts' log keeping the calls after it, a spare it held dropped) stays the cloud it
/// was: a copy of it goes on making the ids a plain cloud makes from the same prefix (ids
/// are seeded by how many identical calls came before), and so does the writer, before
/// and after the reader lets go.
#[test]
fn a_snapshot_held_over_many_changes_goes_on_as_its_cloud() {
    let (live, mut plain, groups) = start();
    let (_, mut at_held, _) = start();
    let mut stream = Stream::new(29, groups.clone());
    // A cloud of its own (no state shared with `plain`) given the changes up to `held`.
    for change in stream_into(&live, &mut plain, &mut stream, 1_000) {
        apply_plain(&mut at_held, &change);
    }
    let held = live.snapshot();
    stream_into(&live, &mut plain, &mut stream, 10_000);
    assert_eq!(fingerprint(live.snapshot().cloud()), fingerprint(&plain));
    let (mut copy, mut again) = (held.cloud().clone(), at_held);
    assert_eq!(fingerprint(&copy), fingerprint(&again));
    // Without `learn`: rules are created (identical ones among them), never deleted.
    let mut other = Stream::new(31, groups);
    for i in 0..2_000 {
        match other.next() {
            Change::Call { api, request } => {
                assert_eq!(
                    copy.call(&api, &request),
                    again.call(&api, &request),
                    "change {i}"
                );
            }
            change => assert_eq!(apply_plain(&mut copy, &change), apply_plain(&mut again, &change)),
        }
    }
    assert_eq!(fingerprint(&copy), fingerprint(&again));
    drop(held);
    stream_into(&live, &mut plain, &mut stream, 10_000);
    assert_eq!(fingerprint(live.snapshot().cloud()), fingerprint(&plain));
}

/// Readers holding old states at random (so the writer sometimes reuses an earlier state
/// and sometimes copies the current one): after every write, the current state's answers
/// are the reference's on its own cloud.
/// Asserts that `snapshot` answers as the reference on its cloud at every endpoint.
fn answers_as_reference(snapshot: &sgeval::live::Snapshot, packets: &[Packet], context: &str) {
    let cloud = snapshot.cloud();
    let reference = reference::Evaluator::new(cloud);
    for p in packets.iter().step_by(7) {
        for e in cloud.endpoint_keys() {
            for d in [Direction::Ingress, Direction::Egress] {
                assert_eq!(
                    snapshot.evaluate(e, d, p),
                    reference.evaluate(e, d, p),
                    "{context}: endpoint {e} {d:?} {p}"
                );
            }
        }
    }
}

/// Keeps `snapshot` as a reader would, or lets go of a held one, at random.
fn hold_some(
    rng: &mut Rng,
    held: &mut Vec<Arc<sgeval::live::Snapshot>>,
    snapshot: Arc<sgeval::live::Snapshot>,
) {
    match rng.below(3) {
        0 => held.push(snapshot),
        1 if !held.is_empty() => {
            let i = rng.below(held.len());
            held.swap_remove(i);
        }
        _ => {}
    }
}

#[test]
fn every_state_answers_as_its_cloud_whatever_readers_hold() {
    let (live, mut plain, groups) = start();
    let mut stream = Stream::new(9, groups);
    let mut rng = Rng(5);
    let mut held: Vec<Arc<sgeval::live::Snapshot>> = Vec::new();
    let packets = packets();
    for step in 0..150 {
        let batch: Vec<Change> = (0..1 + rng.below(4)).map(|_| stream.next()).collect();
        let applied = live.apply(&batch);
        for (change, outcome) in batch.iter().zip(&applied.outcomes) {
            stream.learn(change, outcome);
            apply_plain(&mut plain, change);
        }
        let snapshot = live.snapshot();
        assert_eq!(fingerprint(snapshot.cloud()), fingerprint(&plain), "step {step}");
        answers_as_reference(&snapshot, &packets, &format!("step {step} {batch:?}"));
        hold_some(&mut rng, &mut held, snapshot);
    }
}

/// Whether `snapshot`'s engine has work left for [`sgeval::compile::Engine::compact`].
fn uncompacted(snapshot: &sgeval::live::Snapshot) -> usize {
    let mut engine = snapshot.engine().expect("compiled").clone();
    engine.compact(snapshot.cloud()).expect("compacts")
}

/// `Live::compact` publishes the same state with the deferred classifiers built: the
/// version and every answer stay, nothing is left to compact, and the writes after it keep
/// the compaction (they start from the compacted engine, not from an older spare's), also
/// while readers hold earlier states.
#[test]
fn compacting_keeps_the_state_and_later_writes_start_from_it() {
    let (live, mut plain, groups) = start();
    let mut stream = Stream::new(21, groups);
    let mut rng = Rng(8);
    let mut held: Vec<Arc<sgeval::live::Snapshot>> = Vec::new();
    let packets = packets();
    let mut rebuilt = 0;
    for step in 0..150 {
        let batch: Vec<Change> = (0..1 + rng.below(6)).map(|_| stream.next()).collect();
        let applied = live.apply(&batch);
        for (change, outcome) in batch.iter().zip(&applied.outcomes) {
            stream.learn(change, outcome);
            apply_plain(&mut plain, change);
        }
        if rng.below(3) == 0 {
            let version = live.version();
            let before = uncompacted(&live.snapshot());
            let n = live.compact().expect("compacts");
            assert_eq!(n, before, "step {step}: the tables left for later");
            rebuilt += n;
            assert_eq!(live.version(), version, "step {step}");
            assert_eq!(uncompacted(&live.snapshot()), 0, "step {step}");
            assert_eq!(live.compact().expect("compacts"), 0, "step {step}");
            // A call that changes no rule (a refused delete) still publishes a state:
            // it must carry the compacted engine on.
            live.call(
                "DeleteSecurityGroupRule",
                &body(json!({"security_group_rule_id": "no-such-rule"})),
            );
            plain.call(
                "DeleteSecurityGroupRule",
                &body(json!({"security_group_rule_id": "no-such-rule"})),
            );
            assert_eq!(
                uncompacted(&live.snapshot()),
                0,
                "step {step}: a write undid the compaction"
            );
        }
        let snapshot = live.snapshot();
        assert_eq!(fingerprint(snapshot.cloud()), fingerprint(&plain), "step {step}");
        answers_as_reference(&snapshot, &packets, &format!("step {step} {batch:?}"));
        hold_some(&mut rng, &mut held, snapshot);
    }
    assert!(
        rebuilt > 0,
        "the stream left nothing to compact: the test proves nothing"
    );
}

/// Streams batches of changes into a cloud and refreshes an engine once per batch with what
/// the cloud reported for the whole batch, handed over in the order `reversed` says; after
/// every batch the engine answers as the reference on the cloud.
fn refresh_per_batch(reversed: bool) {
    use sgeval::compile::{Engine, Update};
    let (_, mut cloud, groups) = start();
    cloud.track_changes();
    let mut stream = Stream::new(9, groups);
    let mut rng = Rng(5);
    let packets = packets();
    let mut engine = Engine::build(&cloud).unwrap();
    for step in 0..150 {
        let n = 1 + rng.below(8);
        let mut batch = Vec::new();
        for _ in 0..n {
            let change = stream.next();
            let took = apply_plain(&mut cloud, &change);
            let outcome = if took {
                Outcome::Done { version: 0 }
            } else {
                Outcome::Refused(sgeval::live::LiveError::UnknownEndpoint(String::new()))
            };
            if let Change::Call { api, .. } = &change {
                if api == "CreateSecurityGroupRule" {
                    // learn the rule ids from the cloud instead
                    stream.rule_ids = cloud
                        .groups()
                        .flat_map(|g| g.rules.iter().map(|r| r.id.clone()))
                        .collect();
                }
            } else {
                stream.learn(&change, &outcome);
            }
            batch.push(change);
        }
        let changes = cloud.take_changes();
        let updates: Vec<Update> = changes.updates(cloud.endpoints().len());
        let ordered: Vec<&Update> = if reversed {
            updates.iter().rev().collect()
        } else {
            updates.iter().collect()
        };
        for u in ordered {
            engine.refresh(&cloud, *u).unwrap();
        }
        let reference = reference::Evaluator::new(&cloud);
        for p in packets.iter().step_by(7) {
            for e in cloud.endpoint_keys() {
                for d in [Direction::Ingress, Direction::Egress] {
                    assert_eq!(
                        engine.evaluate(e, d, p),
                        reference.evaluate(e, d, p),
                        "step {step} {updates:?} {batch:?}: endpoint {e} {d:?} {p}"
                    );
                }
            }
        }
    }
}

/// An engine refreshed once per batch with what the cloud reported for the whole batch
/// (`Changes::updates`, endpoints first) answers as the reference on the cloud after it.
#[test]
fn an_engine_refreshed_with_a_batchs_changes_answers_as_the_reference() {
    refresh_per_batch(false);
}

/// The same with the batch's updates handed over in reverse (groups before the endpoints
/// that joined them): once all are taken in, the engine answers as the reference.
#[test]
fn an_engine_refreshed_with_a_batchs_changes_in_any_order_answers_as_the_reference() {
    refresh_per_batch(true);
}
