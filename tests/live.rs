//! Live updates under load: reader threads evaluate through a [`Live`] handle (its compiled
//! engine, refreshed incrementally on every write) while a writer applies provider calls and
//! membership changes. Every answer a reader got must equal the reference evaluator's answer
//! on the state of the version it was given, where that state is rebuilt independently from
//! the writer's log.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use sgeval::flow::{self, Flow};
use sgeval::live::{Live, LiveError};
use sgeval::scenario::{Call, EndpointSpec};
use sgeval::{reference, Cloud, Packet, Provider, Request, Scenario, Verdict};

#[path = "live_common/rng.rs"]
mod rng;
use rng::Rng;

fn body(v: Value) -> Request {
    Request {
        body: Some(v),
        ..Default::default()
    }
}

/// One change the writer made, enough to rebuild the state without the handle.
#[derive(Clone, Debug)]
enum Op {
    Call(String, Request),
    /// The endpoint list after the change (shared specs: a long run's log holds pointers).
    Endpoints(Vec<Arc<EndpointSpec>>),
}

/// The writer's log: the state of version `v` is the replay of the calls made up to it with
/// the endpoint list as of `v`.
struct Log {
    provider: Provider,
    /// (version, op) in order.
    ops: Vec<(u64, Op)>,
}

impl Log {
    /// Visits the state of every version in `wanted`, in order, rebuilt the way a scenario
    /// replay builds it: the calls in order on a fresh cloud, then the endpoints of that
    /// version attached. One state at a time, so a long run's check needs the memory of one
    /// cloud, not of every version the readers saw.
    fn visit_states(&self, wanted: &HashSet<u64>, mut visit: impl FnMut(u64, &Cloud)) {
        let mut calls_only = Cloud::new(self.provider, Default::default());
        let mut endpoints: &[Arc<EndpointSpec>] = &[];
        let build = |calls_only: &Cloud, endpoints: &[Arc<EndpointSpec>]| {
            let mut cloud = calls_only.clone();
            for e in endpoints {
                cloud
                    .attach(&e.name, &e.ips, &e.groups)
                    .expect("the log's endpoints attach");
            }
            cloud
        };
        if wanted.contains(&0) {
            visit(0, &build(&calls_only, endpoints));
        }
        for (i, (version, op)) in self.ops.iter().enumerate() {
            match op {
                Op::Call(api, request) => {
                    calls_only.call(api, request);
                }
                Op::Endpoints(list) => endpoints = list,
            }
            // A version's state is complete after its last op.
            let last_of_version = self.ops.get(i + 1).is_none_or(|(next, _)| next != version);
            if last_of_version && wanted.contains(version) {
                visit(*version, &build(&calls_only, endpoints));
            }
        }
    }

    /// The last state as a scenario replay builds it (calls with literal ids, then endpoints).
    fn replay(&self) -> Cloud {
        let mut calls = Vec::new();
        let mut endpoints = Vec::new();
        for (_, op) in &self.ops {
            match op {
                Op::Call(api, request) => calls.push(Call {
                    api: api.clone(),
                    reference: None,
                    request: request.clone(),
                    id: None,
                    ids: None,
                    defaults: true,
                }),
                Op::Endpoints(list) => endpoints = list.iter().map(|e| (**e).clone()).collect(),
            }
        }
        let scenario = Scenario {
            provider: self.provider,
            options: Default::default(),
            calls,
            endpoints,
            acknowledged: Vec::new(),
            unresolved: Vec::new(),
        };
        let replay = scenario.replay().expect("the log replays");
        assert!(replay.endpoint_error.is_none(), "{:?}", replay.endpoint_error);
        replay.cloud
    }
}

/// A compact fingerprint of a whole answer (every hop's endpoint, direction and decision,
/// and the verdict).
fn fingerprint(flow: &Flow) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    flow.verdict.hash(&mut h);
    for hop in &flow.hops {
        hop.endpoint.hash(&mut h);
        hop.direction.hash(&mut h);
        hop.decision.hash(&mut h);
    }
    h.finish()
}

/// The Huawei workload: three groups, endpoints with both families, random rules, batches,
/// deletions, membership changes, detach and attach.
struct Huawei {
    rng: Rng,
    groups: Vec<String>,
    endpoints: Vec<Arc<EndpointSpec>>,
    next_host: u32,
}

const PREFIXES_V4: &[&str] = &[
    "0.0.0.0/0",
    "10.0.0.0/24",
    "10.0.0.2/32",
    "203.0.113.0/24",
    "10.0.0.0/30",
];
const PREFIXES_V6: &[&str] = &["::/0", "2001:db8::/64", "2001:db8::3/128"];
const PORTS: &[&str] = &["22", "80", "443", "1-1024", "22,80,443", "8000-9000"];

impl Huawei {
    fn rule(&mut self, group: &str) -> Value {
        let v6 = self.rng.below(4) == 0;
        let mut r = json!({
            "direction": if self.rng.below(2) == 0 { "ingress" } else { "egress" },
            "ethertype": if v6 { "IPv6" } else { "IPv4" },
            "action": if self.rng.below(3) == 0 { "deny" } else { "allow" },
            "priority": *self.rng.pick(&[1, 1, 2, 50, 100]),
        });
        match self.rng.below(4) {
            0 => {}
            1 => r["protocol"] = json!("udp"),
            _ => r["protocol"] = json!("tcp"),
        }
        if r.get("protocol").is_some() && self.rng.below(3) != 0 {
            r["multiport"] = json!(self.rng.pick(PORTS));
        }
        if self.rng.below(4) == 0 {
            r["remote_group_id"] = json!(self.rng.pick(&self.groups).clone());
        } else if v6 {
            r["remote_ip_prefix"] = json!(self.rng.pick(PREFIXES_V6));
        } else {
            r["remote_ip_prefix"] = json!(self.rng.pick(PREFIXES_V4));
        }
        r["security_group_id"] = json!(group);
        r
    }

    fn random_groups(&mut self) -> Vec<String> {
        let mut gs = self.groups.clone();
        // A random order and a random non-empty prefix of it.
        for i in (1..gs.len()).rev() {
            gs.swap(i, self.rng.below(i + 1));
        }
        gs.truncate(1 + self.rng.below(gs.len()));
        gs
    }

    /// A new endpoint on the lowest of the probed hosts (`packets`: 10.0.0.1-12) that no
    /// endpoint holds, so that addresses come back to new owners and stay probed however
    /// long the stress runs; past the hosts' number on a host of its own.
    fn new_endpoint(&mut self) -> EndpointSpec {
        self.next_host += 1;
        let held: HashSet<IpAddr> = self
            .endpoints
            .iter()
            .flat_map(|e| e.ips.iter().copied())
            .collect();
        let v4 = |n: u32| IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n));
        let n = (1..=12)
            .find(|&n| !held.contains(&v4(n)))
            .unwrap_or(12 + self.next_host);
        let mut ips: Vec<IpAddr> = vec![v4(n)];
        if n % 2 == 0 {
            ips.push(format!("2001:db8::{n:x}").parse().unwrap());
        }
        EndpointSpec {
            name: format!("vm-{}", self.next_host),
            ips,
            groups: self.random_groups(),
        }
    }

    /// One random change: applied to `live`, recorded in `log`.
    fn step(&mut self, live: &Live, log: &mut Log) {
        let kind = self.rng.below(10);
        let (op, version) = match kind {
            0..=3 => {
                let group = self.rng.pick(&self.groups).clone();
                let rule = self.rule(&group);
                let request = body(json!({"security_group_rule": rule}));
                let (_, v) = live.call_versioned("CreateSecurityGroupRule", &request);
                (Op::Call("CreateSecurityGroupRule".into(), request), v)
            }
            4 | 5 => {
                let group = self.rng.pick(&self.groups).clone();
                let rules: Vec<Value> = (0..2 + self.rng.below(3))
                    .map(|_| {
                        let mut r = self.rule(&group);
                        r.as_object_mut().unwrap().remove("security_group_id");
                        r
                    })
                    .collect();
                let request = body(json!({"security_group_id": group, "security_group_rules": rules}));
                let (_, v) = live.call_versioned("BatchCreateSecurityGroupRules", &request);
                (Op::Call("BatchCreateSecurityGroupRules".into(), request), v)
            }
            6 | 7 => {
                let snapshot = live.snapshot();
                let ids: Vec<String> = snapshot
                    .cloud()
                    .groups()
                    .flat_map(|g| g.rules.iter().map(|r| r.id.clone()))
                    .collect();
                let id = if ids.is_empty() {
                    "none".to_owned()
                } else {
                    self.rng.pick(&ids).clone()
                };
                let request = body(json!({"security_group_rule_id": id}));
                let (_, v) = live.call_versioned("DeleteSecurityGroupRule", &request);
                (Op::Call("DeleteSecurityGroupRule".into(), request), v)
            }
            8 => {
                let at = self.rng.below(self.endpoints.len());
                let groups = self.random_groups();
                let v = live
                    .set_groups(&self.endpoints[at].name, &groups)
                    .expect("set_groups");
                Arc::make_mut(&mut self.endpoints[at]).groups = groups;
                (Op::Endpoints(self.endpoints.clone()), v)
            }
            _ => {
                if self.endpoints.len() > 2 && self.rng.below(2) == 0 {
                    let at = self.rng.below(self.endpoints.len());
                    let name = self.endpoints.remove(at).name.clone();
                    let v = live.detach(&name).expect("detach");
                    (Op::Endpoints(self.endpoints.clone()), v)
                } else {
                    let e = self.new_endpoint();
                    let v = live.attach(&e.name, &e.ips, &e.groups).expect("attach");
                    self.endpoints.push(Arc::new(e));
                    (Op::Endpoints(self.endpoints.clone()), v)
                }
            }
        };
        log.ops.push((version, op));
    }
}

/// Packets between the endpoints' addresses (present and future) and outside addresses,
/// both families, the ports the rules use and their edges.
fn packets() -> Vec<Packet> {
    let mut v4: Vec<IpAddr> = (1..=12).map(|n| format!("10.0.0.{n}").parse().unwrap()).collect();
    v4.push("203.0.113.9".parse().unwrap());
    let mut v6: Vec<IpAddr> = (2..=12)
        .step_by(2)
        .map(|n| format!("2001:db8::{n:x}").parse().unwrap())
        .collect();
    v6.push("2001:db8:1::9".parse().unwrap());
    let mut out = Vec::new();
    let mut rng = Rng(7);
    for _ in 0..160 {
        let fam = if rng.below(4) == 0 { &v6 } else { &v4 };
        let src = *rng.pick(fam);
        let dst = *rng.pick(fam);
        let port = *rng.pick(&[22u16, 80, 443, 1024, 1025, 8000, 9000, 9001]);
        out.push(if rng.below(3) == 0 {
            Packet::udp(src, dst, port)
        } else {
            Packet::tcp(src, dst, port)
        });
    }
    out
}

fn stress_secs() -> f64 {
    std::env::var("LIVE_STRESS_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2.0)
}

#[test]
fn readers_only_ever_see_whole_states_while_a_writer_changes_the_cloud() {
    let provider = Provider::Huawei;
    let live = Arc::new(Live::new(provider, Default::default()));
    let mut log = Log {
        provider,
        ops: Vec::new(),
    };
    let mut w = Huawei {
        rng: Rng(0x5eed),
        groups: Vec::new(),
        endpoints: Vec::new(),
        next_host: 0,
    };
    for name in ["web", "app", "db"] {
        let request = body(json!({"security_group": {"name": name}}));
        let (response, v) = live.call_versioned("CreateSecurityGroup", &request);
        assert!(response.is_success(), "{response:?}");
        w.groups.push(response.created.clone().expect("a group id"));
        log.ops.push((v, Op::Call("CreateSecurityGroup".into(), request)));
    }
    for _ in 0..4 {
        let e = w.new_endpoint();
        let v = live.attach(&e.name, &e.ips, &e.groups).expect("attach");
        w.endpoints.push(Arc::new(e));
        log.ops.push((v, Op::Endpoints(w.endpoints.clone())));
    }

    let packets = Arc::new(packets());
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|id| {
            let (live, packets, stop) = (Arc::clone(&live), Arc::clone(&packets), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut rng = Rng(100 + id);
                let mut seen: HashSet<(u64, usize, u64)> = HashSet::new();
                let mut reads = 0u64;
                let mut last = 0;
                while !stop.load(Ordering::Relaxed) {
                    let snapshot = live.snapshot();
                    assert!(snapshot.version() >= last, "versions never go back");
                    last = snapshot.version();
                    for _ in 0..8 {
                        let i = rng.below(packets.len());
                        let flow = snapshot.trace(&packets[i]);
                        seen.insert((snapshot.version(), i, fingerprint(&flow)));
                        reads += 1;
                    }
                }
                (seen, reads)
            })
        })
        .collect();

    let started = Instant::now();
    let budget = Duration::from_secs_f64(stress_secs());
    let mut writes = 0u64;
    while started.elapsed() < budget {
        w.step(&live, &mut log);
        writes += 1;
    }
    stop.store(true, Ordering::Relaxed);
    let mut seen = HashSet::new();
    let mut reads = 0;
    for r in readers {
        let (s, n) = r.join().expect("a reader panicked");
        assert!(n > 0, "every reader made progress while the writer wrote");
        reads += n;
        seen.extend(s);
    }

    let versions: HashSet<u64> = seen.iter().map(|&(v, _, _)| v).collect();
    let mut by_version: HashMap<u64, Vec<(usize, u64)>> = HashMap::new();
    for &(version, i, got) in &seen {
        by_version.entry(version).or_default().push((i, got));
    }
    let mut checked = 0usize;
    log.visit_states(&versions, |version, cloud| {
        let evaluator = reference::Evaluator::new(cloud);
        let mut expected: HashMap<usize, u64> = HashMap::new();
        for &(i, got) in &by_version[&version] {
            let want = *expected
                .entry(i)
                .or_insert_with(|| fingerprint(&flow::trace(cloud, &evaluator, &packets[i])));
            assert_eq!(
                got, want,
                "version {version}, packet {}: the answer is not the state's",
                packets[i]
            );
            checked += 1;
        }
    });
    assert_eq!(
        checked,
        seen.len(),
        "every observed answer was checked against its state"
    );
    let final_version = live.version();
    assert!(
        live.snapshot().is_compiled(),
        "the readers were answered by the compiled engine"
    );
    eprintln!(
        "live stress: {:.1} s, {writes} writes (last version {final_version}), {reads} reads by 3 readers, \
         {} versions observed, {} distinct answers checked",
        started.elapsed().as_secs_f64(),
        versions.len(),
        seen.len()
    );
    assert!(
        writes >= 20,
        "the writer made too few changes to mean anything: {writes}"
    );
    assert!(versions.len() > 1, "readers observed several versions");
}

#[test]
fn the_final_state_equals_a_replay_of_the_log() {
    let provider = Provider::Huawei;
    let live = Live::new(provider, Default::default());
    let mut log = Log {
        provider,
        ops: Vec::new(),
    };
    let mut w = Huawei {
        rng: Rng(42),
        groups: Vec::new(),
        endpoints: Vec::new(),
        next_host: 0,
    };
    for name in ["a", "b"] {
        let request = body(json!({"security_group": {"name": name}}));
        let (response, v) = live.call_versioned("CreateSecurityGroup", &request);
        w.groups.push(response.created.clone().unwrap());
        log.ops.push((v, Op::Call("CreateSecurityGroup".into(), request)));
    }
    let e = w.new_endpoint();
    let v = live.attach(&e.name, &e.ips, &e.groups).unwrap();
    w.endpoints.push(Arc::new(e));
    log.ops.push((v, Op::Endpoints(w.endpoints.clone())));
    for _ in 0..300 {
        w.step(&live, &mut log);
    }
    let last = live.version();
    assert_eq!(
        log.ops.last().map(|(v, _)| *v),
        Some(last),
        "every change published one version"
    );
    let model = &log.replay();
    let snapshot = live.snapshot();
    assert!(snapshot.is_compiled());
    assert_eq!(snapshot.cloud().endpoints(), model.endpoints());
    let rules = |c: &Cloud| -> BTreeMap<String, Vec<String>> {
        c.groups()
            .map(|g| (g.id.clone(), g.rules.iter().map(|r| r.to_string()).collect()))
            .collect()
    };
    assert_eq!(rules(snapshot.cloud()), rules(model));
    let mut allows = 0;
    for p in packets() {
        let got = snapshot.trace(&p);
        assert_eq!(
            got,
            flow::trace(model, &reference::Evaluator::new(model), &p),
            "{p}"
        );
        allows += usize::from(got.verdict == Verdict::Allow);
    }
    assert!(allows > 0, "the workload opens something");
}

#[test]
fn a_refused_membership_change_publishes_nothing() {
    let live = Live::new(Provider::Huawei, Default::default());
    let g = live
        .call(
            "CreateSecurityGroup",
            &body(json!({"security_group": {"name": "g"}})),
        )
        .created
        .unwrap();
    live.attach("a", &["10.0.0.1".parse().unwrap()], std::slice::from_ref(&g))
        .unwrap();
    let before = live.version();
    assert!(matches!(
        live.set_groups("a", &["sg-missing".into()]),
        Err(LiveError::Endpoint(_))
    ));
    assert!(matches!(
        live.set_groups("zz", std::slice::from_ref(&g)),
        Err(LiveError::UnknownEndpoint(_))
    ));
    assert!(matches!(live.detach("zz"), Err(LiveError::UnknownEndpoint(_))));
    assert!(live.attach("a", &["10.0.0.2".parse().unwrap()], &[g]).is_err());
    assert_eq!(live.version(), before);
    assert_eq!(live.snapshot().cloud().endpoints().len(), 1);
}

#[test]
fn a_scenario_starts_a_live_handle_whose_memberships_can_change() {
    let scenario = Scenario::from_json(
        r#"{"provider": "huawei",
            "calls": [{"api": "CreateSecurityGroup", "ref": "a", "body": {"security_group": {"name": "a"}}},
                      {"api": "CreateSecurityGroup", "ref": "b", "body": {"security_group": {"name": "b"}}}],
            "endpoints": [{"name": "x", "ips": ["10.0.0.1"], "groups": ["$a"]},
                          {"name": "y", "ips": ["10.0.0.2"], "groups": ["$b"]}]}"#,
    )
    .unwrap();
    let live = Live::from_scenario(&scenario).unwrap();
    let p = Packet::tcp("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap(), 22);
    // Huawei's default ingress admits members of the same group only.
    assert_eq!(live.trace(&p).verdict, Verdict::Deny);
    let b = live
        .snapshot()
        .cloud()
        .group(live.snapshot().cloud().endpoints()[1].groups[0])
        .unwrap()
        .id
        .clone();
    live.set_groups("x", &[b]).unwrap();
    assert_eq!(live.trace(&p).verdict, Verdict::Allow);
    assert_eq!(live.version(), 1);
}

/// One change of the mixed workload, replayable on a fresh [`Cloud`].
#[derive(Clone, Debug)]
enum Mixed {
    Call(String, Request),
    Attach(String, Vec<IpAddr>, Vec<String>),
    SetGroups(String, Vec<String>),
    Detach(String),
}

impl Mixed {
    /// Applies the change to `cloud`: the provider's answer or whether the cloud took it.
    fn apply(&self, cloud: &mut Cloud) -> Result<String, String> {
        match self {
            Mixed::Call(api, request) => {
                let r = cloud.call(api, request);
                Ok(format!("{} {}", r.status, r.body))
            }
            Mixed::Attach(name, ips, groups) => cloud.attach(name, ips, groups).map(|k| k.to_string()),
            Mixed::SetGroups(name, groups) => cloud.set_groups(name, groups).map(|k| k.to_string()),
            Mixed::Detach(name) => cloud.detach(name).map(|k| k.to_string()),
        }
        .map_err(|e: sgeval::cloud::EndpointError| e.code().to_owned())
    }
}

#[test]
fn provider_membership_calls_and_handle_membership_changes_mix() {
    let provider = Provider::Ecs;
    let live = Live::new(provider, Default::default());
    let ecs = |params: Value| Request {
        params: Some(params),
        ..Default::default()
    };
    let mut log: Vec<Mixed> = Vec::new();
    let mut groups = Vec::new();
    for _ in 0..3 {
        let r = live.call(
            "CreateSecurityGroup",
            &ecs(json!({"RegionId": "eu-central-1", "VpcId": "vpc-main"})),
        );
        groups.push(r.created.clone().unwrap());
        log.push(Mixed::Call(
            "CreateSecurityGroup".into(),
            ecs(json!({"RegionId": "eu-central-1", "VpcId": "vpc-main"})),
        ));
    }
    let mut rng = Rng(7);
    let mut names: Vec<String> = Vec::new();
    let mut next = 0u32;
    let mut kinds = [0usize; 7];
    for step in 0..160 {
        let kind = if names.is_empty() { 0 } else { rng.below(7) };
        let name = if names.is_empty() {
            String::new()
        } else {
            rng.pick(&names).clone()
        };
        let group = rng.pick(&groups).clone();
        let op = match kind {
            0 => {
                next += 1;
                let n = format!("vm-{next}");
                let ip: IpAddr = format!("10.0.{}.{}", next / 200, next % 200 + 1).parse().unwrap();
                Mixed::Attach(n, vec![ip], vec![group])
            }
            1 | 2 => Mixed::Call(
                if kind == 1 {
                    "JoinSecurityGroup"
                } else {
                    "LeaveSecurityGroup"
                }
                .into(),
                ecs(json!({"RegionId": "eu-central-1", "SecurityGroupId": group, "InstanceId": name})),
            ),
            3 => {
                let mut set = vec![group];
                let other = rng.pick(&groups).clone();
                if !set.contains(&other) {
                    set.push(other);
                }
                Mixed::SetGroups(name, set)
            }
            4 => Mixed::Detach(name),
            _ => {
                // A rule that admits another group's members, so memberships change answers.
                let source = rng.pick(&groups).clone();
                let port = 20 + rng.below(5);
                Mixed::Call(
                    "AuthorizeSecurityGroup".into(),
                    ecs(json!({"RegionId": "eu-central-1", "SecurityGroupId": group,
                        "Permissions": [{"IpProtocol": "TCP", "PortRange": format!("{port}/{port}"),
                            "SourceGroupId": source, "Policy": if rng.below(4) == 0 { "drop" } else { "accept" },
                            "Priority": 1 + rng.below(3)}]})),
                )
            }
        };
        let before = live.version();
        let got: Result<String, String> = match &op {
            Mixed::Call(api, request) => {
                let r = live.call(api, request);
                Ok(format!("{} {}", r.status, r.body))
            }
            Mixed::Attach(n, ips, g) => live
                .attach(n, ips, g)
                .map(|_| String::new())
                .map_err(|e| e.to_string()),
            Mixed::SetGroups(n, g) => live
                .set_groups(n, g)
                .map(|_| String::new())
                .map_err(|e| e.to_string()),
            Mixed::Detach(n) => live.detach(n).map(|_| String::new()).map_err(|e| e.to_string()),
        };
        if got.is_ok() {
            kinds[kind] += 1;
        }
        match (&op, &got) {
            (Mixed::Attach(n, ..), Ok(_)) => names.push(n.clone()),
            (Mixed::Detach(n), Ok(_)) => names.retain(|x| x != n),
            _ => {}
        }
        // A call always publishes (its call counter moved); a refused membership change does not.
        let published = matches!(op, Mixed::Call(..)) || got.is_ok();
        assert_eq!(
            live.version(),
            before + u64::from(published),
            "step {step}: {op:?}"
        );
        log.push(op.clone());
        // A fresh cloud replaying the log answers every change the same and ends in the same
        // state; the handle's compiled engine answers as the reference on it.
        let mut model = Cloud::new(provider, Default::default());
        let mut last = Ok(String::new());
        for o in &log {
            last = o.apply(&mut model);
        }
        if let (Mixed::Call(..), Ok(want)) = (&op, &last) {
            assert_eq!(got.as_ref().ok(), Some(want), "step {step}: {op:?}");
        }
        assert_eq!(got.is_ok(), last.is_ok(), "step {step}: {op:?} {got:?} {last:?}");
        let snapshot = live.snapshot();
        assert!(snapshot.is_compiled());
        assert_eq!(
            snapshot.cloud().endpoints(),
            model.endpoints(),
            "step {step}: {op:?}"
        );
        let reference = reference::Evaluator::new(&model);
        let ips: Vec<IpAddr> = model.endpoints().iter().flat_map(|e| e.ips.clone()).collect();
        for &src in &ips {
            for &dst in &ips {
                for port in 20..25 {
                    let p = Packet::tcp(src, dst, port);
                    assert_eq!(
                        snapshot.trace(&p),
                        flow::trace(&model, &reference, &p),
                        "step {step}: {op:?}: {p}"
                    );
                }
            }
        }
    }
    // Every kind of change took effect at least once.
    assert!(kinds.iter().all(|&n| n > 0), "{kinds:?}");
}

#[test]
fn a_scenario_with_endpoint_calls_starts_a_live_handle() {
    let scenario = Scenario::from_json(
        r#"{"provider": "ecs",
            "calls": [
              {"api": "CreateSecurityGroup", "ref": "web", "params": {"RegionId": "eu-central-1", "VpcId": "vpc-main"}},
              {"api": "CreateSecurityGroup", "ref": "ops", "params": {"RegionId": "eu-central-1", "VpcId": "vpc-main"}},
              {"api": "CreateSecurityGroup", "ref": "app", "params": {"RegionId": "eu-central-1", "VpcId": "vpc-main"}},
              {"api": "AuthorizeSecurityGroup", "params": {"RegionId": "eu-central-1", "SecurityGroupId": "$web",
                "Permissions": [{"IpProtocol": "TCP", "PortRange": "22/22", "SourceGroupId": "$ops", "Policy": "accept", "Priority": 1}]}},
              {"api": "AttachEndpoint", "body": {"name": "vm-1", "ips": ["10.0.1.10"], "groups": ["$web"]}},
              {"api": "AttachEndpoint", "body": {"name": "vm-2", "ips": ["10.0.1.11"], "groups": ["$web"]}},
              {"api": "AttachEndpoint", "body": {"name": "vm-3", "ips": ["10.0.1.12"], "groups": ["$app"]}},
              {"api": "JoinSecurityGroup", "params": {"SecurityGroupId": "$ops", "InstanceId": "vm-3"}},
              {"api": "DetachEndpoint", "body": {"name": "vm-2"}}],
            "endpoints": [{"name": "vm-4", "ips": ["10.0.1.13"], "groups": ["$ops"]}]}"#,
    )
    .unwrap();
    let live = Live::from_scenario(&scenario).unwrap();
    let want = scenario.build().unwrap();
    let snapshot = live.snapshot();
    assert_eq!(snapshot.version(), 0);
    // No endpoint twice: vm-1, vm-3 (vm-2 detached), then vm-4.
    let names: Vec<&str> = snapshot
        .cloud()
        .endpoints()
        .iter()
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(names, ["vm-1", "vm-3", "vm-4"]);
    assert_eq!(snapshot.cloud().endpoints(), want.endpoints());
    let ssh = |from: &str| Packet::tcp(from.parse().unwrap(), "10.0.1.10".parse().unwrap(), 22);
    // vm-3 joined ops, so it reaches vm-1's ssh; vm-4 is in ops too.
    assert_eq!(live.trace(&ssh("10.0.1.12")).verdict, Verdict::Allow);
    assert_eq!(live.trace(&ssh("10.0.1.13")).verdict, Verdict::Allow);
    // Memberships keep changing, through the provider and through the handle.
    let ops = want.group(want.endpoints()[2].groups[0]).unwrap().id.clone();
    let app = want.group(want.endpoints()[1].groups[0]).unwrap().id.clone();
    let r = live.call(
        "LeaveSecurityGroup",
        &Request {
            params: Some(json!({"SecurityGroupId": ops, "InstanceId": "vm-3"})),
            ..Default::default()
        },
    );
    assert!(r.is_success(), "{} {}", r.status, r.body);
    assert_eq!(live.trace(&ssh("10.0.1.12")).verdict, Verdict::Deny);
    // (Not web: ECS admits members of the same group by default.)
    live.set_groups("vm-4", &[app]).unwrap();
    assert_eq!(live.trace(&ssh("10.0.1.13")).verdict, Verdict::Deny);
    live.detach("vm-1").unwrap();
    assert_eq!(live.snapshot().cloud().endpoints().len(), 2);
    assert_eq!(live.version(), 3);
}

/// Rules added one after another to one group: past a few dozen, the writer's build thread
/// builds the group's classifiers and the states after take them in. Every published state
/// answers as the reference on its own cloud, before and after.
#[test]
fn rules_added_one_after_another_are_built_apart_and_taken_in() {
    // Gcore: no limit of rules per group (Huawei's default quota is 50).
    let live = Live::new(Provider::Gcore, Default::default());
    let at = |path: String, v: Value| Request {
        body: Some(v),
        path: Some(path),
        ..Default::default()
    };
    let created = live.call(
        "CreateSecurityGroup",
        &at("/cloud/v2/security_groups/1/1".into(), json!({"name": "web"})),
    );
    let group = created.created.clone().expect("the new group's id");
    let vm: IpAddr = "192.168.0.10".parse().unwrap();
    live.attach("vm-a", &[vm], std::slice::from_ref(&group)).unwrap();
    let packets: Vec<Packet> = (0..40u16)
        .flat_map(|i| {
            let src: IpAddr = format!("203.0.113.{}", i * 5).parse().unwrap();
            [
                Packet::tcp(src, vm, 1000 + i * 5),
                Packet::tcp(src, vm, 1001 + i * 5),
            ]
        })
        .collect();
    let check = |what: &str| {
        let snapshot = live.snapshot();
        assert!(snapshot.is_compiled(), "{what}");
        let model = snapshot.cloud();
        let reference = reference::Evaluator::new(model);
        for p in &packets {
            assert_eq!(
                snapshot.trace(p),
                flow::trace(model, &reference, p),
                "{what}: {p}"
            );
        }
    };
    let add = |n: u16| {
        let rule = json!({"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
            "port_range_min": 1000 + n, "port_range_max": 1000 + n,
            "remote_ip_prefix": format!("203.0.113.{}/32", n % 200)});
        let path = format!("/cloud/v2/security_groups/1/1/{group}/rules");
        let response = live.call("CreateSecurityGroupRule", &at(path, rule));
        assert!(response.is_success(), "rule {n}: {response:?}");
    };
    for n in 0..200 {
        add(n);
        if n % 10 == 0 {
            check(&format!("after rule {n}"));
        }
    }
    // The builds run on their own thread: more rules until a state took one in (bounded,
    // so that a build thread that never answers fails the test rather than hanging it).
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut n = 200;
    while live.stats().builds_taken_in == 0 {
        assert!(Instant::now() < deadline, "no build taken in after {n} rules");
        std::thread::sleep(Duration::from_millis(2));
        add(n);
        n += 1;
    }
    check("after a build was taken in");
}
