//! `Live` writes to count under callgrind (instruction counts do not move with the
//! machine's load, unlike timings): the ECS cloud of `benches/live.rs`, then `N` writes of
//! one kind. Subtract the `none` run (the setup alone) and divide by the writes:
//!
//! ```sh
//! cargo build --release --example live_profile
//! valgrind --tool=callgrind target/release/examples/live_profile join 200   # also: none, set, rule, batch, ...
//! ```
//!
//! Modes: `join` (`JoinSecurityGroup`/`LeaveSecurityGroup` calls), `set` (`set_groups`),
//! `rule` (`AuthorizeSecurityGroup`/`RevokeSecurityGroup`), `batch` (100 membership calls
//! per `Live::apply`), and the parts a write used to make: `clone_cloud`, `clone_engine`,
//! `diff` (the whole-cloud comparison), `refresh` (one membership refresh of the engine).
use serde_json::json;
use sgeval::compile::{Engine, Update};
use sgeval::live::{Change, Live};
use sgeval::Cloud;
use sgeval::{Request, Scenario};
use std::net::{IpAddr, Ipv4Addr};

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
    for i in 0..1000 {
        endpoints
            .push(json!({"name": format!("fleet-{i}"), "ips": [addr(i).to_string()], "groups": ["$fleet"]}));
    }
    Scenario::from_json(&json!({"provider": "ecs", "calls": calls, "endpoints": endpoints}).to_string())
        .unwrap()
}

fn main() {
    let mode = std::env::args().nth(1).unwrap();
    let n: u64 = std::env::args().nth(2).unwrap().parse().unwrap();
    let live = Live::from_scenario(&scenario()).unwrap();
    let cloud = live.snapshot().cloud().clone();
    let gid = |name: &str| {
        let e = cloud.endpoint_by_name(name).unwrap();
        cloud
            .group(cloud.endpoint(e).unwrap().groups[0])
            .unwrap()
            .id
            .clone()
    };
    let (web, fleet) = (gid("web"), gid("fleet-0"));
    let ops = cloud
        .groups()
        .map(|g| g.id.clone())
        .find(|g| *g != web && *g != fleet)
        .unwrap();
    let engine = Engine::build(&cloud).unwrap();
    let mut engine2 = engine.clone();
    let mut moved = cloud.clone();
    moved.set_groups("fleet-7", std::slice::from_ref(&ops)).unwrap();
    let key = cloud.endpoint_by_name("fleet-7").unwrap();
    let p = |v| Request {
        params: Some(v),
        ..Default::default()
    };
    for i in 0..n {
        match mode.as_str() {
            "join" => {
                let api = if i % 2 == 0 {
                    "JoinSecurityGroup"
                } else {
                    "LeaveSecurityGroup"
                };
                assert!(live
                    .call(api, &p(json!({"SecurityGroupId": ops, "InstanceId": "fleet-7"})))
                    .is_success());
            }
            "set" => {
                let to = if i % 2 == 0 { &ops } else { &fleet };
                live.set_groups("fleet-7", std::slice::from_ref(to)).unwrap();
            }
            "rule" => {
                let api = if i % 2 == 0 {
                    "AuthorizeSecurityGroup"
                } else {
                    "RevokeSecurityGroup"
                };
                assert!(live.call(api, &p(json!({"RegionId": "eu-central-1", "SecurityGroupId": web, "Permissions": [
                {"IpProtocol": "TCP", "PortRange": "8080/8080", "SourceCidrIp": "198.51.100.0/24", "Priority": 5}]}))).is_success());
            }
            "none" => {}
            "batch" => {
                let api = if i % 2 == 0 {
                    "JoinSecurityGroup"
                } else {
                    "LeaveSecurityGroup"
                };
                let _ = api;
                let changes: Vec<Change> = (0..100)
                    .map(|k| {
                        Change::call(
                            if k % 2 == 0 {
                                "JoinSecurityGroup"
                            } else {
                                "LeaveSecurityGroup"
                            },
                            p(json!({"SecurityGroupId": ops, "InstanceId": format!("fleet-{}", k / 2)})),
                        )
                    })
                    .collect();
                assert!(live.apply(&changes).outcomes.len() == 100);
            }
            "clone_cloud" => {
                std::hint::black_box(cloud.clone());
            }
            "clone_engine" => {
                std::hint::black_box(engine.clone());
            }
            "diff" => {
                std::hint::black_box(diff(&cloud, &moved));
            }
            "refresh" => {
                let c = if i % 2 == 0 { &moved } else { &cloud };
                engine2.refresh(c, Update::Endpoint(key)).unwrap();
            }
            _ => panic!(),
        }
    }
    println!("{}", live.version());
}

/// The whole-cloud comparison every write used to make (what changed, by group, address
/// group and endpoint place).
fn diff(before: &Cloud, after: &Cloud) -> Vec<usize> {
    let mut out = Vec::new();
    let groups: std::collections::BTreeSet<_> =
        before.groups().chain(after.groups()).map(|g| g.key).collect();
    for g in groups {
        if before.group(g) != after.group(g) {
            out.push(0);
        }
    }
    let ags: std::collections::BTreeSet<_> = before
        .address_groups()
        .chain(after.address_groups())
        .map(|a| a.key)
        .collect();
    for a in ags {
        if before.address_group(a) != after.address_group(a) {
            out.push(1);
        }
    }
    for i in 0..before.endpoints().len().max(after.endpoints().len()) {
        if before.endpoints().get(i) != after.endpoints().get(i) {
            out.push(i);
        }
    }
    out
}
