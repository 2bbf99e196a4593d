//! Churn as provider calls: random streams of endpoint creation and removal, joins and
//! leaves (ECS/ENS `JoinSecurityGroup`/`LeaveSecurityGroup`, Huawei ordered
//! `AddSecurityGroups`/`RemoveSecurityGroups`, Gcore `AssignSecurityGroup`/
//! `UnassignSecurityGroup`), group creation and `DeleteSecurityGroup`, on all four providers.
//!
//! Each step goes to a plain [`Cloud`] and, the same call, to a [`Live`] handle, whose engine
//! is not rebuilt but refreshed with what each call changed (the path simulators take), and
//! now and then compacted. After every step a freshly compiled engine and the handle's
//! engine must give the reference's full `Decision` on every packet, for every endpoint and
//! direction and along every flow (the style of `tests/equality.rs`); both must answer
//! every call alike and hold the same state; and a call the provider refuses must leave the
//! cloud exactly as it was. The streams are built so that
//! most calls succeed and some are refused (a group still in use, a NIC's last group, a
//! repeated join), so both paths are exercised; the counts are printed.
//!
//! Case count: 64 streams per provider by default, `PROPTEST_CASES` to change it.

use std::net::IpAddr;

use proptest::prelude::*;
use proptest::test_runner::TestRunner;
use serde_json::json;
use sgeval::compile::Engine;
use sgeval::flow;
use sgeval::live::Live;
use sgeval::provider::{RuleDraft, Target};
use sgeval::reference::Evaluator;
use sgeval::rule::IcmpMatch;
use sgeval::{
    Action, Cloud, ConnState, Direction, EndpointKey, Family, Options, Packet, PortRange, Provider, Request,
};

/// Endpoint `i` has `10.0.0.{i+1}` and, when odd, `fd00::{i+1}`.
const ENDPOINTS: usize = 5;
const PORTS: &[u16] = &[22, 80, 443, 5432];

/// One step of a stream; indexes pick among what exists (modulo).
#[derive(Clone, Debug)]
enum Step {
    /// Attach endpoint `i` (if absent) with one or two groups.
    Attach(usize, usize, Option<usize>),
    /// Detach endpoint `i`.
    Detach(usize),
    /// Endpoint `i` joins group `g` (Huawei: at place `at`; `at` 3 writes it as a v1 port
    /// update of the whole list).
    Join(usize, usize, usize),
    /// Endpoint `i` leaves group `g` (Huawei: `at` 3 writes it as a v1 port update).
    Leave(usize, usize, usize),
    /// Delete group `g`.
    Delete(usize),
    /// Create a group with a rule.
    Create(RuleSeed),
    /// Add a rule to group `g`.
    Rule(usize, RuleSeed),
    /// Remove rule `n` of those the stream added to group `g` (by the provider's remove
    /// call: by id, ENS by its fields).
    Revoke(usize, usize),
    /// Set endpoint `i`'s groups to `a` (and `b`) at once (`Cloud::set_groups`).
    SetGroups(usize, usize, Option<usize>),
    /// Compact the handle's engine (`Live::compact`): later refreshes start from trees.
    Compact,
}

/// A rule of a small pool: allow or deny a port from anywhere, a prefix, or a group.
#[derive(Clone, Debug)]
struct RuleSeed {
    egress: bool,
    v6: bool,
    port: usize,
    /// 0 any, 1 a prefix, 2 a group.
    remote: u8,
    group: usize,
    deny: bool,
    priority: u8,
}

fn rule_seed() -> impl Strategy<Value = RuleSeed> {
    (
        prop::bool::weighted(0.3),
        prop::bool::weighted(0.25),
        0..PORTS.len(),
        prop_oneof![2 => Just(0u8), 2 => Just(1u8), 3 => Just(2u8)],
        0usize..8,
        prop::bool::weighted(0.3),
        prop::sample::select(vec![1u8, 50, 100]),
    )
        .prop_map(|(egress, v6, port, remote, group, deny, priority)| RuleSeed {
            egress,
            v6,
            port,
            remote,
            group,
            deny,
            priority,
        })
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..ENDPOINTS, 0usize..8, prop::option::weighted(0.4, 0usize..8)).prop_map(|(i, a, b)| Step::Attach(i, a, b)),
        1 => (0..ENDPOINTS).prop_map(Step::Detach),
        4 => (0..ENDPOINTS, 0usize..8, 0usize..4).prop_map(|(i, g, at)| Step::Join(i, g, at)),
        3 => (0..ENDPOINTS, 0usize..8, 0usize..4).prop_map(|(i, g, at)| Step::Leave(i, g, at)),
        2 => (0usize..8).prop_map(Step::Delete),
        2 => rule_seed().prop_map(Step::Create),
        2 => (0usize..8, rule_seed()).prop_map(|(g, r)| Step::Rule(g, r)),
        2 => (0usize..8, 0usize..8).prop_map(|(g, n)| Step::Revoke(g, n)),
        1 => (0..ENDPOINTS, 0usize..8, prop::option::weighted(0.4, 0usize..8)).prop_map(|(i, a, b)| Step::SetGroups(i, a, b)),
        1 => Just(Step::Compact),
    ]
}

fn ip(i: usize, v6: bool) -> IpAddr {
    if v6 {
        format!("fd00::{}", i + 1).parse().expect("v6")
    } else {
        format!("10.0.0.{}", i + 1).parse().expect("v4")
    }
}

fn name(i: usize) -> String {
    format!("ep{i}")
}

/// The stream's state beside the cloud: the same cloud behind a `Live` handle, the groups
/// it created, in order, by id and name, and the rules it added that are still there.
struct World {
    provider: Provider,
    cloud: Cloud,
    live: Live,
    groups: Vec<(String, String)>,
    /// Group id, rule id, the rule as drafted.
    rules: Vec<(String, String, RuleDraft)>,
    made: usize,
}

impl World {
    fn new(provider: Provider) -> World {
        let mut w = World {
            provider,
            cloud: Cloud::new(provider, Options::default()),
            live: Live::new(provider, Options::default()),
            groups: Vec::new(),
            rules: Vec::new(),
            made: 0,
        };
        for port in 0..3 {
            w.create(&RuleSeed {
                egress: false,
                v6: false,
                port,
                remote: u8::from(port == 2) * 2,
                group: 0,
                deny: false,
                priority: 50,
            });
        }
        w
    }

    fn group(&self, g: usize) -> Option<&(String, String)> {
        (!self.groups.is_empty()).then(|| &self.groups[g % self.groups.len()])
    }

    fn draft(&self, r: &RuleSeed) -> RuleDraft {
        let family = if r.v6 { Family::V6 } else { Family::V4 };
        let group = self.group(r.group).map(|g| g.0.clone());
        let (remote_cidr, remote_group) = match (r.remote, self.provider, group) {
            // ENS has no group references: a prefix instead.
            (2, Provider::Ens, _) | (1, _, _) | (2, _, None) => {
                let net = if r.v6 { "fd00::/126" } else { "10.0.0.0/30" };
                (Some(net.parse().expect("net")), None)
            }
            (2, _, Some(id)) => (None, Some(id)),
            (_, Provider::Ecs | Provider::Ens, _) => (Some(family.any_net()), None),
            _ => (None, None),
        };
        let port = PORTS[r.port];
        RuleDraft {
            direction: if r.egress {
                Direction::Egress
            } else {
                Direction::Ingress
            },
            family,
            protocol: Some(6),
            dst_ports: vec![PortRange::new(port, port).expect("port")],
            src_ports: None,
            icmp: IcmpMatch::ANY,
            remote_cidr,
            remote_group,
            remote_address_group: None,
            local: None,
            action: if r.deny && self.provider != Provider::Gcore {
                Action::Deny
            } else {
                Action::Allow
            },
            priority: r.priority,
            description: String::new(),
        }
    }

    /// Sends the call to the cloud and the handle, which must answer alike; a refused call
    /// must leave the cloud as it was. Whether it succeeded, and the id it created.
    fn send(&mut self, api: &str, request: Request) -> (bool, Option<String>) {
        let before = (
            self.cloud.groups().cloned().collect::<Vec<_>>(),
            self.cloud.endpoints().to_vec(),
        );
        let answer = self.cloud.call(api, &request);
        assert_eq!(
            self.live.call(api, &request),
            answer,
            "{api}: the handle answered otherwise"
        );
        if !answer.is_success() {
            let after = (
                self.cloud.groups().cloned().collect::<Vec<_>>(),
                self.cloud.endpoints().to_vec(),
            );
            assert_eq!(
                before, after,
                "{api} answered {} {} and changed the cloud",
                answer.status, answer.body
            );
        }
        (answer.is_success(), answer.created)
    }

    fn call(&mut self, api: &str, request: Request) -> bool {
        self.send(api, request).0
    }

    fn create(&mut self, r: &RuleSeed) -> bool {
        let name = format!("g{}", self.made);
        self.made += 1;
        let request = match self.provider {
            Provider::Ecs => {
                json!({"params": {"RegionId": "cn-hangzhou", "VpcId": "vpc-1", "SecurityGroupName": name}})
            }
            Provider::Ens => json!({"params": {"SecurityGroupName": name}}),
            Provider::Huawei => json!({"body": {"security_group": {"name": name}}}),
            Provider::Gcore => json!({"body": {"name": name}}),
        };
        let request: Request = serde_json::from_value(request).expect("request");
        let (true, Some(id)) = self.send("CreateSecurityGroup", request) else {
            return false;
        };
        self.groups.push((id, name));
        let at = self.groups.len() - 1;
        self.rule(at, r);
        true
    }

    fn rule(&mut self, g: usize, r: &RuleSeed) -> bool {
        let Some((id, _)) = self.group(g).cloned() else {
            return false;
        };
        let draft = self.draft(r);
        let Some((api, request)) = self.provider.emit(&Target::group(id.clone()), &draft) else {
            return false;
        };
        let (done, created) = self.send(api, request);
        // A success without an id: a repeated rule the provider takes as done.
        if let (true, Some(rule)) = (done, created) {
            self.rules.push((id, rule, draft));
        }
        done
    }

    /// The ids of groups `a` and `b` (once each), for an endpoint's list.
    fn ids(&self, a: usize, b: Option<usize>) -> Vec<String> {
        let mut groups: Vec<String> = Vec::new();
        for g in std::iter::once(a).chain(b) {
            if let Some((id, _)) = self.group(g) {
                if !groups.contains(id) {
                    groups.push(id.clone());
                }
            }
        }
        groups
    }

    /// Removes rule `n` of those added to group `g`, by the provider's remove call.
    fn revoke(&mut self, g: usize, n: usize) -> bool {
        let Some((id, _)) = self.group(g).cloned() else {
            return false;
        };
        let mine: Vec<usize> = (0..self.rules.len()).filter(|&k| self.rules[k].0 == id).collect();
        if mine.is_empty() {
            return false;
        }
        let at = mine[n % mine.len()];
        let (_, rule, draft) = &self.rules[at];
        let Some((api, request)) = self.provider.emit_remove(&Target::group(id.clone()), rule, draft) else {
            return false;
        };
        let gone = rule.clone();
        let done = self.call(api, request);
        if done {
            self.rules.remove(at);
            assert!(
                self.cloud
                    .group_by_id(&id)
                    .is_some_and(|g| g.rules.iter().all(|r| r.id != gone)),
                "{gone} revoked but still in {id}"
            );
        }
        done
    }

    /// The membership call of the provider for endpoint `i` and group `g`.
    fn member(&mut self, i: usize, g: usize, at: usize, join: bool) -> bool {
        let Some((id, gname)) = self.group(g).cloned() else {
            return false;
        };
        let ep = name(i);
        let (api, request) = match (self.provider, join) {
            (Provider::Ecs | Provider::Ens, true) => (
                "JoinSecurityGroup",
                json!({"params": {"SecurityGroupId": id, "InstanceId": ep}}),
            ),
            (Provider::Ecs | Provider::Ens, false) => (
                "LeaveSecurityGroup",
                json!({"params": {"SecurityGroupId": id, "NetworkInterfaceId": ep}}),
            ),
            (Provider::Huawei, _) => {
                let current: Vec<String> = self
                    .cloud
                    .endpoint_by_name(&ep)
                    .and_then(|k| self.cloud.endpoint(k))
                    .map(|e| {
                        e.groups
                            .iter()
                            .filter_map(|g| self.cloud.group(*g).map(|g| g.id.clone()))
                            .collect()
                    })
                    .unwrap_or_default();
                let index = at % (current.len() + 1);
                if at == 3 {
                    // The v1 update sets the whole list: the same change written as a set.
                    let mut list = current;
                    if join {
                        list.insert(index.min(list.len()), id);
                    } else {
                        list.retain(|g| *g != id);
                    }
                    (
                        "UpdatePort",
                        json!({"body": {"port_id": ep, "port": {"security_groups": list}}}),
                    )
                } else if join {
                    (
                        "AddSecurityGroups",
                        json!({"body": {"port_id": ep, "port": {"security_groups": [id], "index": index}}}),
                    )
                } else {
                    (
                        "RemoveSecurityGroups",
                        json!({"body": {"port_id": ep, "port": {"security_groups": [id]}}}),
                    )
                }
            }
            (Provider::Gcore, true) => (
                "AssignSecurityGroup",
                json!({"body": {"instance_id": ep, "name": gname}}),
            ),
            (Provider::Gcore, false) => (
                "UnassignSecurityGroup",
                json!({"body": {"instance_id": ep, "ports_security_group_names": [{"port_id": null, "security_group_names": [gname]}]}}),
            ),
        };
        self.call(api, serde_json::from_value(request).expect("request"))
    }

    fn delete(&mut self, g: usize) -> bool {
        let Some((id, _)) = self.group(g).cloned() else {
            return false;
        };
        let request = match self.provider {
            Provider::Ecs => json!({"params": {"RegionId": "cn-hangzhou", "SecurityGroupId": id}}),
            Provider::Ens => json!({"params": {"SecurityGroupId": id}}),
            Provider::Huawei => json!({"body": {"security_group_id": id}}),
            Provider::Gcore => json!({"body": {"group_id": id}}),
        };
        let done = self.call(
            "DeleteSecurityGroup",
            serde_json::from_value(request).expect("request"),
        );
        if done {
            self.groups.retain(|(x, _)| *x != id);
            self.rules.retain(|(x, _, _)| *x != id);
            assert!(
                self.cloud.group_by_id(&id).is_none(),
                "{id} deleted but still there"
            );
        }
        done
    }

    fn apply(&mut self, step: &Step) -> bool {
        match step {
            Step::Attach(i, a, b) => {
                let ips: Vec<IpAddr> = if i % 2 == 1 {
                    vec![ip(*i, false), ip(*i, true)]
                } else {
                    vec![ip(*i, false)]
                };
                let groups = self.ids(*a, *b);
                let before = self.cloud.endpoints().to_vec();
                let done = self.cloud.attach(&name(*i), &ips, &groups).is_ok();
                assert_eq!(
                    self.live.attach(&name(*i), &ips, &groups).is_ok(),
                    done,
                    "attach: the handle answered otherwise"
                );
                if !done {
                    assert_eq!(
                        before,
                        self.cloud.endpoints(),
                        "a refused attach changed the endpoints"
                    );
                }
                done
            }
            Step::Detach(i) => {
                let before = self.cloud.endpoints().to_vec();
                let result = self.cloud.detach(&name(*i));
                assert_eq!(
                    self.live.detach(&name(*i)).is_ok(),
                    result.is_ok(),
                    "detach: the handle answered otherwise"
                );
                match result {
                    Ok(key) => {
                        let mut expected = before;
                        expected.remove(key_index(key));
                        assert_eq!(
                            expected,
                            self.cloud.endpoints(),
                            "detach removes exactly one endpoint"
                        );
                        for (k, e) in self.cloud.endpoint_keys().zip(self.cloud.endpoints()) {
                            assert_eq!(
                                self.cloud.endpoint_by_name(&e.name),
                                Some(k),
                                "name index after detach"
                            );
                            for a in &e.ips {
                                assert_eq!(
                                    self.cloud.endpoint_by_addr(*a),
                                    Some(k),
                                    "address index after detach"
                                );
                            }
                        }
                        true
                    }
                    Err(_) => {
                        assert_eq!(before, self.cloud.endpoints());
                        false
                    }
                }
            }
            Step::Join(i, g, at) => self.member(*i, *g, *at, true),
            Step::Leave(i, g, at) => self.member(*i, *g, *at, false),
            Step::Delete(g) => self.delete(*g),
            Step::Create(r) => self.create(r),
            Step::Rule(g, r) => self.rule(*g, r),
            Step::Revoke(g, n) => self.revoke(*g, *n),
            Step::SetGroups(i, a, b) => {
                let groups = self.ids(*a, *b);
                let done = self.cloud.set_groups(&name(*i), &groups).is_ok();
                assert_eq!(
                    self.live.set_groups(&name(*i), &groups).is_ok(),
                    done,
                    "set_groups: the handle answered otherwise"
                );
                done
            }
            Step::Compact => self.live.compact().expect("compacting a compiled state") > 0,
        }
    }

    /// The handle holds the plain cloud's state, and its engine, refreshed call by call,
    /// answers as the reference.
    fn check_live(&self, packets: &[Packet]) -> Result<usize, String> {
        let snapshot = self.live.snapshot();
        let cloud = snapshot.cloud();
        let groups = |c: &Cloud| c.groups().cloned().collect::<Vec<_>>();
        if groups(cloud) != groups(&self.cloud) || cloud.endpoints() != self.cloud.endpoints() {
            return Err("the handle's cloud differs from the plain cloud".into());
        }
        let engine = snapshot.engine().ok_or("the handle's state is not compiled")?;
        compare_engine(cloud, engine, packets, "handle")
    }
}

fn key_index(key: EndpointKey) -> usize {
    serde_json::to_value(key)
        .ok()
        .and_then(|v| v.as_u64())
        .expect("a key is a number") as usize
}

fn packets() -> Vec<Packet> {
    let mut addrs: Vec<IpAddr> = (0..ENDPOINTS).flat_map(|i| [ip(i, false), ip(i, true)]).collect();
    addrs.push("203.0.113.7".parse().expect("v4"));
    addrs.push("2001:db8::7".parse().expect("v6"));
    let mut out = Vec::new();
    for (n, &src) in addrs.iter().enumerate() {
        for (m, &dst) in addrs.iter().enumerate() {
            if src == dst || src.is_ipv4() != dst.is_ipv4() {
                continue;
            }
            let port = PORTS[(n + m) % PORTS.len()];
            out.push(Packet::tcp(src, dst, port));
            if (n + m) % 5 == 0 {
                out.push(Packet {
                    state: ConnState::Established,
                    ..Packet::tcp(src, dst, PORTS[(n * 3 + m) % PORTS.len()])
                });
            }
        }
    }
    out
}

/// A fresh engine against the reference: every flow, every endpoint and direction.
fn compare(cloud: &Cloud, packets: &[Packet]) -> Result<usize, String> {
    let engine = Engine::build(cloud).map_err(|e| format!("build: {e}"))?;
    compare_engine(cloud, &engine, packets, "compiled")
}

/// `engine` (`who`) against the reference on `cloud`: every flow, every endpoint and
/// direction; how many answers were compared.
fn compare_engine(cloud: &Cloud, engine: &Engine, packets: &[Packet], who: &str) -> Result<usize, String> {
    let reference = Evaluator::new(cloud);
    let mut checked = 0;
    for p in packets {
        let (want, got) = (flow::trace(cloud, &reference, p), flow::trace(cloud, engine, p));
        if want != got {
            return Err(format!("flow {p}: {who} {got:?}, reference {want:?}"));
        }
        checked += 1;
        for e in cloud.endpoint_keys() {
            for direction in Direction::ALL {
                let (want, got) = (
                    reference.evaluate(e, direction, p),
                    engine.evaluate(e, direction, p),
                );
                if want != got {
                    return Err(format!("{e} {direction} {p}: {who} {got:?}, reference {want:?}"));
                }
                checked += 1;
            }
        }
    }
    Ok(checked)
}

fn run(provider: Provider) {
    let mut runner = TestRunner::new(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|n| n.parse().ok())
            .unwrap_or(64),
        failure_persistence: None,
        ..ProptestConfig::default()
    });
    let packets = packets();
    let counts = std::cell::Cell::new((0usize, 0usize, 0usize));
    // Rules added and revoked, so the stream is seen to remove rules too.
    let kinds = std::cell::Cell::new((0usize, 0usize));
    let result = runner.run(&prop::collection::vec(step(), 1..28), |steps| {
        let mut world = World::new(provider);
        // Three NICs to start with, so that most membership calls have a NIC to name.
        let start = [
            Step::Attach(0, 0, None),
            Step::Attach(1, 1, Some(2)),
            Step::Attach(2, 2, Some(0)),
        ];
        for (n, s) in start.iter().chain(&steps).enumerate() {
            let done = world.apply(s);
            let fail = |e: String| {
                TestCaseError::fail(format!(
                    "after step {n} {s:?} ({}): {e}",
                    if done { "applied" } else { "refused" }
                ))
            };
            let checked = compare(&world.cloud, &packets).map_err(fail)?;
            let live = world.check_live(&packets).map_err(fail)?;
            let (rules, revokes) = kinds.get();
            kinds.set((
                rules + usize::from(done && matches!(s, Step::Rule(..) | Step::Create(_))),
                revokes + usize::from(done && matches!(s, Step::Revoke(..))),
            ));
            let checked = checked + live;
            let (ok, refused, c) = counts.get();
            counts.set(if done {
                (ok + 1, refused, c + checked)
            } else {
                (ok, refused + 1, c + checked)
            });
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{provider}: {e}");
    }
    let (ok, refused, checked) = counts.get();
    let (rules, revokes) = kinds.get();
    println!(
        "{provider}: {ok} steps applied ({rules} rule adds, {revokes} revokes), {refused} refused, \
         {checked} decisions compared"
    );
    assert!(revokes > 0, "{provider}: no revoke went through");
    // Both paths must be exercised, or the stream tests less than it says.
    assert!(
        ok > 0 && refused > 0,
        "{provider}: {ok} applied, {refused} refused"
    );
}

#[test]
fn churn_keeps_the_compiled_engine_equal_to_the_reference_ecs() {
    run(Provider::Ecs);
}

#[test]
fn churn_keeps_the_compiled_engine_equal_to_the_reference_ens() {
    run(Provider::Ens);
}

#[test]
fn churn_keeps_the_compiled_engine_equal_to_the_reference_huawei() {
    run(Provider::Huawei);
}

#[test]
fn churn_keeps_the_compiled_engine_equal_to_the_reference_gcore() {
    run(Provider::Gcore);
}

/// Each membership call really changes what decides: a stream that joins a group with an
/// allow rule and then leaves it flips a packet from deny to allow and back, on every
/// provider.
#[test]
fn a_join_then_a_leave_flips_the_verdict() {
    for provider in Provider::ALL {
        let mut w = World::new(provider);
        // World::new made g0-g2 (ports 22, 80, 443); g3 allows 5432 from anywhere.
        assert!(w.create(&RuleSeed {
            egress: false,
            v6: false,
            port: 3,
            remote: 0,
            group: 0,
            deny: false,
            priority: 1,
        }));
        assert!(w.apply(&Step::Attach(0, 1, None)), "{provider}: attach");
        let p = Packet::tcp("203.0.113.7".parse().expect("v4"), ip(0, false), 5432);
        let verdict = |w: &World| flow::trace(&w.cloud, &Evaluator::new(&w.cloud), &p).verdict;
        let before = verdict(&w);
        assert!(w.apply(&Step::Join(0, 3, 0)), "{provider}: join");
        let joined = verdict(&w);
        assert!(w.apply(&Step::Leave(0, 3, 0)), "{provider}: leave");
        assert_eq!(verdict(&w), before, "{provider}: leave restores");
        assert_ne!(joined, before, "{provider}: the join changed nothing");
        // Now no NIC is in g3: it can be deleted; a second delete is refused.
        assert!(w.apply(&Step::Delete(3)), "{provider}: delete");
    }
}
