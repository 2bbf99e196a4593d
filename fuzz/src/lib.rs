//! The fuzz targets' bodies and the properties they check (see README.md). They live in a
//! library so the stable `replay` test can run every committed corpus file through them
//! without a nightly toolchain.

use std::net::IpAddr;

use serde_json::{json, Value};
use sgeval::compile::Update;
use sgeval::conntrack::Tracker;
use sgeval::flow::{self, Flow};
use sgeval::rule::Remote;
use sgeval::testkit::error_code;
use sgeval::{reference, Cloud, Family, Packet, Provider, Request, Response, Scenario, Verdict};

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
/// for every packet; built once whole and once by refreshing an engine of the empty cloud.
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
    for p in packets {
        for key in after.endpoint_keys() {
            for direction in sgeval::Direction::ALL {
                let want = reference.evaluate(key, direction, p);
                assert_eq!(
                    fresh.evaluate(key, direction, p),
                    want,
                    "fresh: endpoint {key} {direction} {p}"
                );
                assert_eq!(
                    engine.evaluate(key, direction, p),
                    want,
                    "stream: endpoint {key} {direction} {p}"
                );
            }
        }
    }
    true
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
    let mut records: Vec<(String, Vec<IpAddr>, Vec<String>, bool)> = cloud
        .endpoints()
        .iter()
        .map(|e| {
            let groups = e
                .groups
                .iter()
                .filter_map(|&g| cloud.group(g).map(|g| g.id.clone()))
                .collect();
            (e.name.clone(), e.ips.clone(), groups, true)
        })
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
