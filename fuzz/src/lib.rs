//! The fuzz targets' bodies and the properties they check (see README.md). They live in a
//! library so the stable `replay` test can run every committed corpus file through them
//! without a nightly toolchain.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde_json::{json, Value};
use sgeval::cloud::EndpointError;
use sgeval::compile::Update;
use sgeval::conntrack::Tracker;
use sgeval::flow::{self, Flow};
use sgeval::group::EndpointKey;
use sgeval::live::{Change, Live, LiveError, Outcome, Snapshot};
use sgeval::rule::Remote;
use sgeval::testkit::error_code;
use sgeval::{
    reference, Cloud, Decision, Direction, Family, Packet, Provider, Request, Response, Scenario, Verdict,
};

/// A request that creates a group with the provider's least required fields.
fn create_group(provider: Provider, name: &str) -> Request {
    match provider {
        Provider::Ecs => Request {
            params: Some(json!({"RegionId": "cn-hangzhou", "VpcId": "vpc-fuzz", "SecurityGroupName": name})),
            ..Default::default()
        },
        Provider::Ens => Request {
            params: Some(json!({"SecurityGroupName": name})),
            ..Default::default()
        },
        Provider::Huawei => Request {
            body: Some(json!({"security_group": {"name": name}})),
            ..Default::default()
        },
        Provider::Gcore => Request {
            body: Some(json!({"name": name})),
            ..Default::default()
        },
    }
}

/// A cloud with two groups (`$g0`, `$g1` in fuzz inputs) and two endpoints, when the
/// provider's front end creates groups; the ids of the groups.
pub fn setup(provider: Provider) -> (Cloud, Vec<String>) {
    let mut cloud = Cloud::new(provider, Default::default());
    let mut ids = Vec::new();
    for name in ["fuzz-a", "fuzz-b"] {
        if let Some(id) = cloud
            .call("CreateSecurityGroup", &create_group(provider, name))
            .created
        {
            ids.push(id);
        }
    }
    if ids.len() == 2 {
        let a: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
        let b: Vec<IpAddr> = vec!["10.0.0.2".parse().unwrap()];
        let _ = cloud.attach("a", &a, &ids[..1]);
        let _ = cloud.attach("b", &b, &ids[1..]);
    }
    (cloud, ids)
}

/// Replaces the strings `$g0` and `$g1` anywhere in `v` with the setup's group ids.
fn substitute(v: Value, ids: &[String]) -> Value {
    match v {
        Value::String(s) => {
            let mut s = s;
            for (i, id) in ids.iter().enumerate() {
                s = s.replace(&format!("$g{i}"), id);
            }
            Value::String(s)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(|x| substitute(x, ids)).collect()),
        Value::Object(map) => Value::Object(map.into_iter().map(|(k, x)| (k, substitute(x, ids))).collect()),
        other => other,
    }
}

/// What a refused call must leave unchanged.
fn observable(cloud: &Cloud) -> Value {
    json!({
        "groups": cloud.groups().collect::<Vec<_>>(),
        "address_groups": cloud.address_groups().collect::<Vec<_>>(),
        "endpoints": cloud.endpoints(),
    })
}

/// Every answer is an HTTP status; every error names the provider's code.
pub fn check_response(api: &str, response: &Response) {
    assert!(
        (100..600).contains(&response.status),
        "{api}: status {}",
        response.status
    );
    if !response.is_success() {
        assert!(
            error_code(&response.body).is_some(),
            "{api}: error {} without a provider code: {}",
            response.status,
            response.body
        );
    }
}

/// The lowered rules are well formed: priorities in range, port ranges ordered, the remote
/// and local prefixes of the rule's family, references to things that exist, unique keys.
pub fn check_invariants(cloud: &Cloud) {
    let mut keys = std::collections::HashSet::new();
    for g in cloud.groups() {
        for r in &g.rules {
            assert!(keys.insert(r.key), "rule key {} repeats", r.key);
            match cloud.provider() {
                Provider::Gcore => assert_eq!(r.priority, 0, "{r}"),
                _ => assert!((1..=100).contains(&r.priority), "{r}: priority {}", r.priority),
            }
            for ports in [&r.dst_ports, &r.src_ports] {
                assert!(!ports.0.is_empty(), "{r}: an empty port set");
                assert!(ports.0.iter().all(|p| p.lo <= p.hi), "{r}: a reversed port range");
            }
            if let (Some(f), Remote::Cidr(net)) = (r.family, &r.remote) {
                assert_eq!(Family::of_net(net), f, "{r}: remote prefix of the other family");
            }
            if let (Some(f), Some(net)) = (r.family, &r.local) {
                assert_eq!(Family::of_net(net), f, "{r}: local prefix of the other family");
            }
            match r.remote {
                Remote::Group(k) => assert!(cloud.group(k).is_some(), "{r}: dangling group"),
                Remote::AddressGroup(k) => {
                    assert!(cloud.address_group(k).is_some(), "{r}: dangling address group")
                }
                _ => {}
            }
        }
    }
}

/// Packets between every endpoint address and two outside addresses, a few protocols.
fn probes(cloud: &Cloud) -> Vec<Packet> {
    let mut addrs: Vec<IpAddr> = cloud
        .endpoints()
        .iter()
        .flat_map(|e| e.ips.iter().copied())
        .take(8)
        .collect();
    addrs.push("203.0.113.9".parse().unwrap());
    addrs.push("2001:db8:ffff::9".parse().unwrap());
    let mut out = Vec::new();
    for &s in &addrs {
        for &d in &addrs {
            out.push(Packet::tcp(s, d, 22));
            out.push(Packet::udp(s, d, 53).with_src_port(1));
            out.push(Packet::new(s, d, if s.is_ipv4() { 1 } else { 58 }).with_icmp(8, 0));
            out.push(Packet::new(s, d, 47));
        }
    }
    out
}

/// A flow is consistent: allow only when every hop allows, deny across families.
pub fn check_flow(packet: &Packet, flow: &Flow) {
    if flow.verdict == Verdict::Allow {
        assert!(
            flow.hops.iter().all(|h| h.decision.is_allow()),
            "{packet}: allow with a denying hop"
        );
        assert!(packet.family().is_some(), "{packet}: allow across families");
    }
}

/// Evaluates the probes with the reference evaluator and a tracker.
pub fn probe(cloud: &Cloud) {
    let engine = reference::Evaluator::new(cloud);
    let mut tracker = Tracker::new(cloud.provider(), 16);
    for p in probes(cloud) {
        let flow = flow::trace(cloud, &engine, &p);
        check_flow(&p, &flow);
        let tracked = tracker.process(cloud, &engine, &p);
        check_flow(&p, &tracked);
        assert!(tracker.len() <= 16);
        if tracked.verdict == Verdict::Allow && flow.verdict == Verdict::Deny {
            assert!(
                tracked
                    .hops
                    .iter()
                    .all(|h| h.decision.reason == sgeval::Reason::Established),
                "{p}: the tracker allows what the rules deny, outside a connection"
            );
        }
    }
}

/// Target `request_<provider>`: the first byte picks the API, the rest is the JSON of the
/// request: an object with `params`/`body`/`path` (a scenario call's shape), or any other
/// JSON value, given as `params` (Alibaba) or `body` (Huawei, Gcore). `$g0`/`$g1` name the
/// setup's groups.
pub fn request(provider: Provider, data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let apis = provider.apis();
    if apis.is_empty() {
        return;
    }
    let api = apis[selector as usize % apis.len()];
    let Ok(value) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    let (mut cloud, ids) = setup(provider);
    let value = substitute(value, &ids);
    let call_shape = value
        .as_object()
        .is_some_and(|m| !m.is_empty() && m.keys().all(|k| ["params", "body", "path"].contains(&k.as_str())));
    let request = if call_shape {
        match serde_json::from_value::<Request>(value) {
            Ok(r) => r,
            Err(_) => return,
        }
    } else {
        match provider {
            Provider::Ecs | Provider::Ens => Request {
                params: Some(value),
                ..Default::default()
            },
            Provider::Huawei | Provider::Gcore => Request {
                body: Some(value),
                ..Default::default()
            },
        }
    };
    let before = observable(&cloud);
    let response = cloud.call(api, &request);
    check_response(api, &response);
    if !response.is_success() {
        assert_eq!(
            observable(&cloud),
            before,
            "{api}: a refused call changed the cloud"
        );
    }
    check_invariants(&cloud);
    probe(&cloud);
}

/// Target `scenario_replay`: any text as a scenario; parsed, replayed, evaluated.
pub fn scenario(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // The limits loader accepts a subset of what the plain reader accepts, and reads it the
    // same way.
    let plain = Scenario::from_json(text);
    match sgeval::limits::load_scenario(text, None) {
        Ok(s) => assert_eq!(
            plain.as_ref().ok(),
            Some(&s),
            "the loader and the reader disagree"
        ),
        Err(sgeval::limits::LoadError::Scenario(e)) => {
            assert_eq!(
                plain.as_ref().err(),
                Some(&e),
                "the loader and the reader disagree"
            )
        }
        Err(sgeval::limits::LoadError::Limit(_)) => {}
    }
    let Ok(scenario) = plain else {
        return;
    };
    let Ok(replay) = scenario.replay() else {
        return;
    };
    for outcome in &replay.outcomes {
        if outcome.not_sent.is_some() {
            // sgeval's own answer for a call whose `$ref` names a failed call.
            assert_eq!(outcome.response.status, 424);
            continue;
        }
        check_response(&outcome.api, &outcome.response);
    }
    check_invariants(&replay.cloud);
    probe(&replay.cloud);
}

/// Target `conntrack`: a byte program of packets, clock steps and rule changes run through
/// a small tracker and an unbounded one over a fixed two-endpoint scenario; the small one
/// never allows what the unbounded one denies, and neither allows a new packet the rules
/// deny unless it belongs to a connection.
pub fn conntrack(data: &[u8]) {
    let Some((&p, program)) = data.split_first() else {
        return;
    };
    let provider = Provider::ALL[p as usize % 4];
    let (open, ids) = setup(provider);
    if ids.len() < 2 {
        return;
    }
    // A changed cloud: the same groups, endpoint `a` moved to the second group.
    let mut changed = Cloud::new(provider, Default::default());
    for name in ["fuzz-a", "fuzz-b"] {
        changed.call("CreateSecurityGroup", &create_group(provider, name));
    }
    let a: Vec<IpAddr> = vec!["10.0.0.1".parse().unwrap(), "2001:db8::1".parse().unwrap()];
    let _ = changed.attach("a", &a, &ids[1..]);
    let _ = changed.attach("b", &["10.0.0.2".parse().unwrap()], &ids[1..]);
    let addrs: [IpAddr; 5] = [
        "10.0.0.1".parse().unwrap(),
        "10.0.0.2".parse().unwrap(),
        "203.0.113.9".parse().unwrap(),
        "2001:db8::1".parse().unwrap(),
        "2001:db8::9".parse().unwrap(),
    ];
    let mut small = Tracker::new(provider, (p as usize / 4) % 4);
    let mut big = Tracker::new(provider, 1 << 16);
    let mut cloud = &open;
    for op in program.chunks(4) {
        let [kind, x, y, z] = [
            op[0],
            *op.get(1).unwrap_or(&0),
            *op.get(2).unwrap_or(&0),
            *op.get(3).unwrap_or(&0),
        ];
        match kind % 8 {
            0 => {
                let secs = u64::from(x) << (y % 20);
                small.advance(secs);
                big.advance(secs);
            }
            1 => {
                cloud = if std::ptr::eq(cloud, &open) {
                    &changed
                } else {
                    &open
                };
                let engine = reference::Evaluator::new(cloud);
                small.rules_changed(cloud, &engine);
                big.rules_changed(cloud, &engine);
            }
            _ => {
                let src = addrs[x as usize % 5];
                let dst = addrs[y as usize % 5];
                let protocol = [6u8, 17, 1, 58, 47, 132][z as usize % 6];
                let mut packet = Packet::new(src, dst, protocol);
                if protocol == 1 || protocol == 58 {
                    packet = packet.with_icmp([0, 8, 3, 128, 129][kind as usize % 5], 0);
                } else {
                    packet.src_port = 1000 + u16::from(kind % 4);
                    packet.dst_port = [22, 53, 80, 1000][z as usize % 4];
                }
                let engine = reference::Evaluator::new(cloud);
                let a = small.process(cloud, &engine, &packet);
                let b = big.process(cloud, &engine, &packet);
                check_flow(&packet, &a);
                check_flow(&packet, &b);
                assert!(small.len() <= small.capacity());
                let rules = flow::trace(cloud, &engine, &packet);
                for f in [&a, &b] {
                    if f.verdict == Verdict::Allow && rules.verdict == Verdict::Deny {
                        assert!(
                            f.hops
                                .iter()
                                .all(|h| h.decision.reason == sgeval::Reason::Established),
                            "{packet}: an allow the rules deny, outside a connection"
                        );
                    }
                }
                if a.verdict == Verdict::Allow {
                    assert_eq!(
                        b.verdict,
                        Verdict::Allow,
                        "{packet}: eviction turned a deny into an allow"
                    );
                }
            }
        }
    }
}

/// Target `classbench`: any bytes as a ClassBench filter, trace and truth file. The parsers
/// never panic, an error names a line of the input, and parsed rules match parsed packets
/// without panicking.
pub fn classbench(data: &[u8]) {
    use sgeval_classifier::classbench;
    let lines = data.split(|&b| b == b'\n').count();
    let line_ok = |line: usize| (1..=lines + 1).contains(&line);
    let rules = classbench::parse_rules(data);
    if let Err(e) = &rules {
        assert!(line_ok(e.line()), "rules: line {} of {lines}: {e}", e.line());
    }
    let trace = classbench::parse_trace(data);
    if let Err(e) = &trace {
        assert!(line_ok(e.line()), "trace: line {} of {lines}: {e}", e.line());
    }
    if let Err(e) = classbench::parse_truth(data) {
        assert!(line_ok(e.line()), "truth: line {} of {lines}: {e}", e.line());
    }
    if let Ok(text) = std::str::from_utf8(data) {
        for line in text.lines().take(64) {
            let _ = classbench::parse_rule_line(line);
            let _ = classbench::parse_trace_line(line);
        }
    }
    if let (Ok(rules), Ok(trace)) = (rules, trace) {
        for r in rules.iter().take(64) {
            for k in trace.iter().take(64) {
                let _ = r.matches(k);
            }
        }
    }
}

/// Target `differential`: a scenario, then `\n#\n`, then packet bytes (8 per packet: source
/// and destination as indexes into the cloud's edge addresses
/// (`sgeval::testkit::edge_addresses`), protocol, source and destination port, ICMP type and
/// code). The compiled engine gives the reference
/// evaluator's full decision (verdict and what decided) at every endpoint, both directions,
/// for every packet; built once whole and once by refreshing an engine of the empty cloud;
/// then along a stream of changes ([`stream`]), and through a [`Live`] handle ([`live`]).
pub fn differential(data: &[u8]) {
    let split = data.windows(3).position(|w| w == b"\n#\n");
    let (text, packet_bytes) = match split {
        Some(at) => (&data[..at], &data[at + 3..]),
        None => (data, &[][..]),
    };
    let Ok(text) = std::str::from_utf8(text) else {
        return;
    };
    let Ok(scenario) = Scenario::from_json(text) else {
        return;
    };
    let Ok(replay) = scenario.replay() else {
        return;
    };
    let cloud = &replay.cloud;
    let Ok(compiled) = sgeval::compile::Engine::build(cloud) else {
        return; // only limits make compiling fail
    };
    // The same engine grown by refreshes from the empty cloud's, one change at a time.
    let empty = Cloud::new(cloud.provider(), cloud.options().clone());
    let mut refreshed = sgeval::compile::Engine::build(&empty).expect("an empty cloud compiles");
    let changes = cloud
        .groups()
        .map(|g| Update::Group(g.key))
        .chain(cloud.address_groups().map(|a| Update::AddressGroup(a.key)))
        .chain(cloud.endpoint_keys().map(Update::Endpoint));
    for change in changes {
        if refreshed.refresh(cloud, change).is_err() {
            return;
        }
    }
    let reference = reference::Evaluator::new(cloud);
    let addrs = sgeval::testkit::edge_addresses(cloud);
    let mut packets = probes(cloud);
    for b in packet_bytes.chunks(8).take(256) {
        let byte = |i: usize| *b.get(i).unwrap_or(&0);
        let src = addrs[byte(0) as usize % addrs.len()];
        let dst = addrs[byte(1) as usize % addrs.len()];
        let protocol = [6u8, 17, 1, 58, 47, 132, byte(2)][byte(2) as usize % 7];
        let mut p = Packet::new(src, dst, protocol);
        p.src_port = u16::from_be_bytes([byte(3), byte(4)]);
        p.dst_port = u16::from_be_bytes([byte(5), byte(6)]);
        p.icmp_type = byte(7);
        p.icmp_code = byte(7) % 4;
        packets.push(p);
    }
    for p in &packets {
        for key in cloud.endpoint_keys() {
            for direction in sgeval::Direction::ALL {
                let want = reference.evaluate(key, direction, p);
                let got = compiled.evaluate(key, direction, p);
                assert_eq!(got, want, "endpoint {key} {direction} {p}");
                let grown = refreshed.evaluate(key, direction, p);
                assert_eq!(grown, want, "refreshed: endpoint {key} {direction} {p}");
            }
        }
        assert_eq!(
            flow::trace(cloud, &compiled, p),
            flow::trace(cloud, &reference, p),
            "{p}"
        );
    }
    stream(&scenario, cloud, packet_bytes, &packets);
    live(&scenario, cloud, packet_bytes, &packets);
}

/// What differs between two states of a cloud, as the engine's updates (`Live` compares
/// states the same way).
fn updates(before: &Cloud, after: &Cloud) -> Vec<Update> {
    let mut out: Vec<Update> = Vec::new();
    let mut groups: Vec<_> = before.groups().chain(after.groups()).map(|g| g.key).collect();
    groups.sort_unstable();
    groups.dedup();
    out.extend(
        groups
            .into_iter()
            .filter(|&g| before.group(g) != after.group(g))
            .map(Update::Group),
    );
    let mut address_groups: Vec<_> = before
        .address_groups()
        .chain(after.address_groups())
        .map(|a| a.key)
        .collect();
    address_groups.sort_unstable();
    address_groups.dedup();
    out.extend(
        address_groups
            .into_iter()
            .filter(|&a| before.address_group(a) != after.address_group(a))
            .map(Update::AddressGroup),
    );
    let keys = |c: &Cloud| c.endpoint_keys().collect::<Vec<_>>();
    let (old, new) = (keys(before), keys(after));
    for &k in old.iter().chain(new.iter().skip(old.len())) {
        if before.endpoint(k) != after.endpoint(k) {
            out.push(Update::Endpoint(k));
        }
    }
    out
}

/// The engine refreshed with `updates(before, after)` answers on `packets` as a fresh build
/// of `after` and as the reference, at every endpoint and direction.
fn step(engine: &mut sgeval::compile::Engine, before: &Cloud, after: &Cloud, packets: &[Packet]) -> bool {
    for update in updates(before, after) {
        if engine.refresh(after, update).is_err() {
            return false; // only limits make compiling fail
        }
    }
    let Ok(fresh) = sgeval::compile::Engine::build(after) else {
        return false;
    };
    let reference = reference::Evaluator::new(after);
    decide_alike(
        after,
        &reference,
        packets,
        &[
            ("fresh", &|k, d, p| fresh.evaluate(k, d, p)),
            ("stream", &|k, d, p| engine.evaluate(k, d, p)),
        ],
        "",
    );
    true
}

/// An engine's answer for an endpoint, a direction and a packet.
type Answer<'a> = &'a dyn Fn(EndpointKey, Direction, &Packet) -> Decision;

/// Each of `engines` (named for messages) gives `reference`'s full decision on `cloud` for
/// every one of `packets` at every endpoint, both directions.
fn decide_alike(
    cloud: &Cloud,
    reference: &reference::Evaluator,
    packets: &[Packet],
    engines: &[(&str, Answer<'_>)],
    what: &str,
) {
    for p in packets {
        for key in cloud.endpoint_keys() {
            for direction in Direction::ALL {
                let want = reference.evaluate(key, direction, p);
                for (name, answer) in engines {
                    assert_eq!(
                        answer(key, direction, p),
                        want,
                        "{what}{name}: endpoint {key} {direction} {p}"
                    );
                }
            }
        }
    }
}

/// `cloud`'s endpoints: name, addresses and group ids.
fn endpoints(cloud: &Cloud) -> Vec<(String, Vec<IpAddr>, Vec<String>)> {
    cloud
        .endpoints()
        .iter()
        .map(|e| {
            let groups = e
                .groups
                .iter()
                .filter_map(|&g| cloud.group(g).map(|g| g.id.clone()))
                .collect();
            (e.name.clone(), e.ips.clone(), groups)
        })
        .collect()
}

/// A stream of every change kind, checked after each step, in an order the packet bytes
/// (`choices`) pick: the scenario's calls a few at a time (rules and groups added and
/// removed), an endpoint moved to groups the bytes pick (members joining and leaving), an
/// endpoint detached or attached again. An endpoint holds those of its groups that exist
/// at that point of the calls (it joins the others when their create comes), so rules change
/// after memberships as well as before. The stream ends with every call made and the
/// endpoints detached one by one.
fn stream(scenario: &Scenario, cloud: &Cloud, choices: &[u8], packets: &[Packet]) {
    const MAX_STEPS: usize = 24;
    let empty = Cloud::new(cloud.provider(), cloud.options().clone());
    let Ok(mut engine) = sgeval::compile::Engine::build(&empty) else {
        return;
    };
    let calls = scenario.calls.len();
    let stride = calls.div_ceil(MAX_STEPS / 2).max(1);
    // The cloud of the first `k` calls, without endpoints (the model attaches only), as
    // `Live` would hold it; kept by `k`.
    let mut bases: std::collections::HashMap<usize, Cloud> = std::collections::HashMap::new();
    let mut base = |k: usize| -> Option<Cloud> {
        if let Some(c) = bases.get(&k) {
            return Some(c.clone());
        }
        let prefix = Scenario {
            calls: scenario.calls[..k].to_vec(),
            endpoints: Vec::new(),
            ..scenario.clone()
        };
        let c = prefix.replay().ok()?.cloud;
        bases.insert(k, c.clone());
        Some(c)
    };
    let Some(last) = base(calls) else {
        return;
    };
    let ids: Vec<String> = last.groups().map(|g| g.id.clone()).collect();
    // Endpoints as the final cloud has them: name, addresses, group ids; and whether
    // each is attached now.
    let mut records: Vec<(String, Vec<IpAddr>, Vec<String>, bool)> = endpoints(cloud)
        .into_iter()
        .map(|(name, ips, groups)| (name, ips, groups, true))
        .collect();
    let world = |mut c: Cloud, records: &[(String, Vec<IpAddr>, Vec<String>, bool)]| {
        for (name, ips, groups, on) in records {
            let here: Vec<String> = groups
                .iter()
                .filter(|g| c.group_by_id(g).is_some())
                .cloned()
                .collect();
            if *on && !here.is_empty() {
                let _ = c.attach(name, ips, &here);
            }
        }
        c
    };
    // Each state checked against the one before; `false` ends the stream (a limit).
    let mut before = empty;
    let mut checked = |after: Cloud| {
        let ok = step(&mut engine, &before, &after, packets);
        before = after;
        ok
    };
    let mut k = 0;
    let mut choice = choices.iter().copied().cycle();
    let mut next = || usize::from(choice.next().unwrap_or(0));
    let mut steps = 0;
    while steps < MAX_STEPS && (k < calls || !records.is_empty()) {
        steps += 1;
        match next() % 4 {
            // Calls come first in half the steps until all are made.
            0 | 1 if k < calls => k = (k + stride).min(calls),
            2 if !records.is_empty() && !ids.is_empty() => {
                let i = next() % records.len();
                let mut groups: Vec<String> = Vec::new();
                for _ in 0..1 + next() % 3 {
                    let id = &ids[next() % ids.len()];
                    if !groups.contains(id) {
                        groups.push(id.clone());
                    }
                }
                records[i].2 = groups;
            }
            _ if !records.is_empty() => {
                let i = next() % records.len();
                records[i].3 = !records[i].3;
            }
            _ => k = (k + stride).min(calls),
        }
        let Some(b) = base(k) else {
            return;
        };
        if !checked(world(b, &records)) {
            return;
        }
    }
    // The rest of the calls, then the endpoints detached one by one.
    if !checked(world(last.clone(), &records)) {
        return;
    }
    while !records.is_empty() {
        records.remove(next() % records.len());
        if !checked(world(last.clone(), &records)) {
            return;
        }
    }
}

/// The input's bytes as a stream of choices, cycled (0 when there are none).
struct Choices<'a>(std::iter::Cycle<std::slice::Iter<'a, u8>>);

impl Choices<'_> {
    fn next(&mut self) -> usize {
        usize::from(self.0.next().copied().unwrap_or(0))
    }
}

/// What a change did to the model, which the `Live` handle must report alike.
#[derive(Debug)]
enum Expected {
    /// A call reached the provider (success or error): one version.
    Answered(Response),
    /// A call over the handle's limits, answered without reaching the provider: no version.
    Limited,
    /// An endpoint change taken in: one version.
    Done,
    /// An endpoint change refused: no version. `None`: over the handle's limits.
    Refused(Option<LiveError>),
}

/// The `Live` leg's writer: the handle, the plain cloud that models it, and how far the
/// scenario's calls went.
struct Writes<'a> {
    live: Live,
    model: Cloud,
    /// The handle's version to be: one per change that took effect in the model.
    version: u64,
    calls: &'a [sgeval::scenario::Call],
    made: usize,
    /// The id each `ref` stands for in this run (its ids are the model's, not the
    /// replay's: pins are not sent); `None` when its call failed or was not sent.
    refs: HashMap<String, Option<String>>,
    /// The scenario's endpoints as its final cloud has them: name, addresses, group ids.
    nics: Vec<(String, Vec<IpAddr>, Vec<String>)>,
}

/// `text` with each `$name` replaced by the id `refs` holds for it (`$$` is a `$`), as
/// `Scenario::replay` substitutes; `None` when a name stands for nothing here, so the call
/// is not sent.
fn resolve(text: &str, refs: &HashMap<String, Option<String>>) -> Option<String> {
    sgeval::scenario::substitute_refs(text, |name| refs.get(name).and_then(Option::as_deref).ok_or(())).ok()
}

/// [`resolve`] on every string of `v`.
fn resolve_value(v: &Value, refs: &HashMap<String, Option<String>>) -> Option<Value> {
    Some(match v {
        Value::String(s) => Value::String(resolve(s, refs)?),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|x| resolve_value(x, refs))
                .collect::<Option<_>>()?,
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, x)| Some((k.clone(), resolve_value(x, refs)?)))
                .collect::<Option<_>>()?,
        ),
        other => other.clone(),
    })
}

/// A scenario's `AttachEndpoint`/`DetachEndpoint` body as the change it stands for.
fn endpoint_call(api: &str, body: Option<&Value>) -> Option<Change> {
    let name = body?.get("name")?.as_str()?.to_owned();
    if api == "DetachEndpoint" {
        return Some(Change::Detach { name });
    }
    let strings = |key: &str| -> Option<Vec<String>> {
        match body?.get(key) {
            None | Some(Value::Null) => Some(Vec::new()),
            Some(v) => v
                .as_array()?
                .iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect(),
        }
    };
    let ips = strings("ips")?
        .iter()
        .map(|s| s.parse().ok())
        .collect::<Option<_>>()?;
    Some(Change::Attach {
        name,
        ips,
        groups: strings("groups")?,
    })
}

impl<'a> Writes<'a> {
    fn new(scenario: &'a Scenario, cloud: &Cloud) -> Writes<'a> {
        let nics = endpoints(cloud);
        Writes {
            live: Live::new(scenario.provider, scenario.options.clone()),
            model: Cloud::new(scenario.provider, scenario.options.clone()),
            version: 0,
            calls: &scenario.calls,
            made: 0,
            refs: HashMap::new(),
            nics,
        }
    }

    /// Applies `change` to the model as the handle would (its limits first) and counts
    /// the version; what it did.
    fn model(&mut self, change: &Change) -> Expected {
        let limits = self.live.limits();
        let within = |ips: usize, groups: usize| {
            ips <= limits.max_ips_per_endpoint && groups <= limits.max_groups_per_endpoint
        };
        let refused = |e: EndpointError| match e {
            EndpointError::UnknownEndpoint(name) => LiveError::UnknownEndpoint(name),
            e => LiveError::Endpoint(e),
        };
        let endpoint = |r: Result<_, EndpointError>| match r {
            Ok(_) => Expected::Done,
            Err(e) => Expected::Refused(Some(refused(e))),
        };
        let expected = match change {
            Change::Call { api, request } => match sgeval::limits::check_request(request, limits) {
                Err(_) => Expected::Limited,
                Ok(()) => Expected::Answered(self.model.call(api, request)),
            },
            Change::Attach { name, ips, groups } if within(ips.len(), groups.len()) => {
                endpoint(self.model.attach(name, ips, groups))
            }
            Change::SetGroups { name, groups } if within(0, groups.len()) => {
                endpoint(self.model.set_groups(name, groups))
            }
            Change::Detach { name } => endpoint(self.model.detach(name)),
            Change::Attach { .. } | Change::SetGroups { .. } => Expected::Refused(None),
        };
        if matches!(expected, Expected::Answered(_) | Expected::Done) {
            self.version += 1;
        }
        expected
    }

    /// The scenario's next call that can be sent (one whose `$ref`s all stand for
    /// something here), applied to the model: the change, what it did, the version after
    /// it. `None` when every call was made.
    fn call(&mut self) -> Option<(Change, Expected, u64)> {
        while let Some(call) = self.calls.get(self.made) {
            self.made += 1;
            let r = &call.request;
            let refs = &self.refs;
            let value = |v: &Option<Value>| v.as_ref().map(|v| resolve_value(v, refs));
            let request = match (
                value(&r.params),
                value(&r.body),
                r.path.as_ref().map(|p| resolve(p, refs)),
            ) {
                (Some(None), ..) | (_, Some(None), _) | (.., Some(None)) => None,
                (params, body, path) => Some(Request {
                    params: params.flatten(),
                    body: body.flatten(),
                    path: path.flatten(),
                }),
            };
            let change = match request {
                Some(request) if sgeval::scenario::ENDPOINT_APIS.contains(&call.api.as_str()) => {
                    endpoint_call(&call.api, request.body.as_ref())
                }
                Some(request) => Some(Change::call(&call.api, request)),
                None => None,
            };
            let Some(change) = change else {
                // Not sent, as the replay would not send it.
                if let Some(name) = &call.reference {
                    self.refs.insert(name.clone(), None);
                }
                continue;
            };
            let expected = self.model(&change);
            if let Some(name) = &call.reference {
                let id = match (&expected, &change) {
                    (Expected::Answered(r), _) if r.is_success() => r.created.clone(),
                    (Expected::Done, Change::Attach { name, .. }) => Some(name.clone()),
                    _ => None,
                };
                self.refs.insert(name.clone(), id);
            }
            return Some((change, expected, self.version));
        }
        None
    }

    /// An endpoint change the bytes pick, applied to the model: one of the scenario's
    /// endpoints attached (with its own groups that exist now, or picked ones), moved to
    /// groups picked among those that exist now, or detached; now and then a detach of
    /// one not attached, which the handle refuses.
    fn endpoint(&mut self, choices: &mut Choices) -> Option<(Change, Expected, u64)> {
        if self.nics.is_empty() {
            return None;
        }
        let (name, ips, own) = &self.nics[choices.next() % self.nics.len()];
        let ids: Vec<String> = self.model.groups().map(|g| g.id.clone()).collect();
        let mut picked: Vec<String> = Vec::new();
        if !ids.is_empty() {
            for _ in 0..1 + choices.next() % 3 {
                let id = &ids[choices.next() % ids.len()];
                if !picked.contains(id) {
                    picked.push(id.clone());
                }
            }
        }
        let name = name.clone();
        let change = if self.model.endpoint_by_name(&name).is_some() {
            match choices.next() % 3 {
                2 => Change::Detach { name },
                _ => Change::SetGroups { name, groups: picked },
            }
        } else {
            let own: Vec<String> = own
                .iter()
                .filter(|g| self.model.group_by_id(g).is_some())
                .cloned()
                .collect();
            match choices.next() % 8 {
                7 => Change::Detach { name },
                0..=3 if !own.is_empty() => Change::Attach {
                    name,
                    ips: ips.clone(),
                    groups: own,
                },
                _ => Change::Attach {
                    name,
                    ips: ips.clone(),
                    groups: picked,
                },
            }
        };
        let expected = self.model(&change);
        Some((change, expected, self.version))
    }

    /// A call or an endpoint change, as the bytes pick, while either is left.
    fn change(&mut self, choices: &mut Choices) -> Option<(Change, Expected, u64)> {
        if self.made < self.calls.len() && (self.nics.is_empty() || choices.next().is_multiple_of(2)) {
            if let Some(c) = self.call() {
                return Some(c);
            }
        }
        self.endpoint(choices).or_else(|| self.call())
    }

    /// Sends one change through its own method ([`Live::call`], [`Live::attach`], ...).
    fn single(&self, change: &Change) -> Outcome {
        let done = |r: Result<u64, LiveError>| match r {
            Ok(version) => Outcome::Done { version },
            Err(e) => Outcome::Refused(e),
        };
        match change {
            Change::Call { api, request } => {
                let (response, version) = self.live.call_versioned(api, request);
                Outcome::Call { response, version }
            }
            Change::Attach { name, ips, groups } => done(self.live.attach(name, ips, groups)),
            Change::SetGroups { name, groups } => done(self.live.set_groups(name, groups)),
            Change::Detach { name } => done(self.live.detach(name)),
        }
    }

    /// The handle's current snapshot holds the model's state at the version counted, and
    /// answers as the reference on it, and (with `fresh`) so does a fresh build (see
    /// [`agree`]).
    fn check(&self, packets: &[Packet], fresh: bool, what: &str) {
        assert_eq!(self.live.version(), self.version, "{what}: the handle's version");
        agree(
            &self.live.snapshot(),
            &self.model,
            self.version,
            packets,
            fresh,
            what,
        );
    }
}

/// A change in a few words, for messages (a request's `Debug` is long).
fn label(change: &Change) -> String {
    match change {
        Change::Call { api, .. } => format!("call {api}"),
        Change::Attach { name, groups, .. } => format!("attach {name} to {groups:?}"),
        Change::SetGroups { name, groups } => format!("set {name}'s groups to {groups:?}"),
        Change::Detach { name } => format!("detach {name}"),
    }
}

/// The handle reported a change as the model had it: the same answer, version, refusal.
fn reported(outcome: &Outcome, expected: &Expected, version: u64, change: &Change, what: &str) {
    let ok = match (outcome, expected) {
        (Outcome::Call { response, version: v }, Expected::Answered(want)) => {
            assert_eq!(response, want, "{what}: the answer to {change:?}");
            *v == version
        }
        (Outcome::Call { version: v, .. }, Expected::Limited) => *v == version,
        (Outcome::Done { version: v }, Expected::Done) => *v == version,
        (Outcome::Refused(e), Expected::Refused(want)) => {
            want.as_ref().is_none_or(|want| e == want) && (want.is_some() || matches!(e, LiveError::Limit(_)))
        }
        _ => false,
    };
    assert!(
        ok,
        "{what}: the handle reported {outcome:?} where the model had {expected:?} at version {version}, for {change:?}"
    );
}

/// `snapshot` holds `model`'s groups (rules in order), address groups and endpoints at
/// `version`, and at every endpoint, both directions, its answers (engine or reference)
/// are the reference's full decision on `model`, as are (with `fresh`) a fresh build's of
/// its cloud; its flows are the reference's. A snapshot answers with the reference only
/// when its cloud cannot be compiled.
fn agree(snapshot: &Snapshot, model: &Cloud, version: u64, packets: &[Packet], fresh: bool, what: &str) {
    assert_eq!(snapshot.version(), version, "{what}: the snapshot's version");
    let cloud = snapshot.cloud();
    let rules = |c: &Cloud| {
        c.groups()
            .map(|g| {
                (
                    g.id.clone(),
                    g.rules.iter().map(|r| r.id.clone()).collect::<Vec<_>>(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(rules(cloud), rules(model), "{what}: groups and their rule ids");
    for (got, want) in cloud.groups().zip(model.groups()) {
        assert!(
            got == want,
            "{what}: group {} differs:\n{got:?}\n{want:?}",
            want.id
        );
    }
    assert!(
        cloud.address_groups().eq(model.address_groups()),
        "{what}: address groups differ"
    );
    assert_eq!(cloud.endpoints(), model.endpoints(), "{what}: endpoints");
    let fresh = fresh
        .then(|| sgeval::compile::Engine::build(cloud).ok())
        .flatten();
    assert!(
        snapshot.is_compiled() || fresh.is_none(),
        "{what}: the snapshot answers with the reference, yet its cloud compiles"
    );
    let reference = reference::Evaluator::new(model);
    let live: Answer<'_> = &|k, d, p| snapshot.evaluate(k, d, p);
    let built = fresh
        .as_ref()
        .map(|f| move |k, d, p: &Packet| f.evaluate(k, d, p));
    let mut engines = vec![("live", live)];
    if let Some(built) = &built {
        engines.push(("fresh", built));
    }
    decide_alike(model, &reference, packets, &engines, &format!("{what}: "));
    for p in packets {
        assert_eq!(
            snapshot.trace(p),
            flow::trace(model, &reference, p),
            "{what}: live flow {p}"
        );
    }
}

/// The `Live` leg: the scenario's calls and changes of its endpoints, in an order the
/// bytes (`choices`) pick, through a [`Live`] handle and into a plain cloud (the model),
/// checked after every write ([`agree`], [`reported`]). Writes come one change at a time
/// through each change's own method, as batches ([`Live::apply`], or
/// [`Live::apply_within`] publishing after every change), or as [`Live::compact`], so
/// the writer's spares fall one or more publications behind and catch up
/// ([`Cloud::sync_from`], `Engine::adopt`); readers hold snapshots across writes at
/// times, so a write finds spares (or all of them) held. The rest of the calls come last
/// as one batch, then a compaction.
fn live(scenario: &Scenario, cloud: &Cloud, choices: &[u8], packets: &[Packet]) {
    const MAX_WRITES: usize = 24;
    const MAX_BATCH: usize = 6;
    // More than the writer's three spares: a write then finds every one held.
    const MAX_HELD: usize = 4;
    let mut writes = Writes::new(scenario, cloud);
    let mut packets = packets.to_vec();
    if writes.nics.is_empty() {
        // Two endpoints of the leg's own (their groups picked as it goes), so memberships
        // change on every scenario; packets between them and an outside address.
        let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
        let (a, b) = (vec![ip("10.0.0.1"), ip("2001:db8::1")], vec![ip("10.0.0.2")]);
        let addrs: Vec<IpAddr> = a.iter().chain(&b).copied().chain([ip("203.0.113.9")]).collect();
        for &s in &addrs {
            for &d in &addrs {
                packets.push(Packet::tcp(s, d, 22));
                packets.push(Packet::udp(s, d, 53).with_src_port(1));
                packets.push(Packet::new(s, d, if s.is_ipv4() { 1 } else { 58 }).with_icmp(8, 0));
            }
        }
        writes.nics = vec![("live-a".into(), a, Vec::new()), ("live-b".into(), b, Vec::new())];
    }
    let packets = &packets[..];
    let mut choices = Choices(choices.iter().cycle());
    // Snapshots readers hold, each with the model and version of its state.
    let mut held: Vec<(Arc<Snapshot>, Cloud, u64)> = Vec::new();
    let batch = |writes: &mut Writes, changes: Vec<(Change, Expected, u64)>, within: bool, what: &str| {
        let sent: Vec<Change> = changes.iter().map(|(c, ..)| c.clone()).collect();
        let applied = if within {
            // A zero delay publishes after every change that took effect.
            writes.live.apply_within(&sent, Some(std::time::Duration::ZERO))
        } else {
            writes.live.apply(&sent)
        };
        assert_eq!(applied.outcomes.len(), changes.len(), "{what}: outcomes");
        for (outcome, (change, expected, version)) in applied.outcomes.iter().zip(&changes) {
            reported(outcome, expected, *version, change, what);
        }
        assert_eq!(applied.version, writes.version, "{what}: the batch's version");
        writes.check(packets, true, what);
    };
    for write in 0..MAX_WRITES {
        match choices.next() % 4 {
            1 if held.len() < MAX_HELD => {
                held.push((writes.live.snapshot(), writes.model.clone(), writes.version));
            }
            2 if !held.is_empty() => {
                let (snapshot, model, version) = held.remove(choices.next() % held.len());
                let what = format!("write {write}: a snapshot held since version {version}");
                // Checked against a fresh build when it was current.
                agree(&snapshot, &model, version, packets, false, &what);
            }
            _ => {}
        }
        match choices.next() % 8 {
            kind @ 4..=6 => {
                let size = 2 + choices.next() % (MAX_BATCH - 1);
                let changes: Vec<_> = (0..size).map_while(|_| writes.change(&mut choices)).collect();
                let what = format!("write {write}: a batch of {}", changes.len());
                batch(&mut writes, changes, kind == 6, &what);
            }
            7 => {
                let what = format!("write {write}: compact");
                let _ = writes.live.compact();
                // The same state as before: only the engine is new.
                writes.check(packets, false, &what);
            }
            _ => {
                let Some((change, expected, version)) = writes.change(&mut choices) else {
                    break;
                };
                let what = format!("write {write}: {}", label(&change));
                reported(&writes.single(&change), &expected, version, &change, &what);
                writes.check(packets, true, &what);
            }
        }
    }
    let rest: Vec<_> = std::iter::from_fn(|| writes.call()).collect();
    if !rest.is_empty() {
        batch(&mut writes, rest, false, "the rest of the calls");
    }
    let _ = writes.live.compact();
    writes.check(packets, false, "the end, compacted");
    // What readers held never changed under them.
    for (snapshot, model, version) in &held {
        let what = format!("the end: a snapshot held since version {version}");
        agree(snapshot, model, *version, packets, false, &what);
    }
}
