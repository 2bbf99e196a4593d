//! A user's own property-based test suite, with sgeval's public strategies generating
//! provider scenarios and packets and sgeval's reference evaluator as the oracle.
//!
//! The "system under test" here is a small Gcore (OpenStack Neutron) firewall model written
//! independently of sgeval's engines, as a simulator author would write one: a NIC allows a
//! packet when any rule of any of its groups matches. Every generated packet must get the
//! oracle's verdict. A second property checks a stateful use: a connection tracker admits the
//! first packet of a connection exactly when the oracle does, for every provider.
//!
//! Run with `cargo run --example oracle --features proptest` (set `PROPTEST_CASES` for more
//! cases).

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use sgeval::conntrack::Tracker;
use sgeval::rule::Remote;
use sgeval::{
    flow, reference, strategy, Cloud, ConnState, Direction, EndpointKey, Packet, Provider, Verdict,
};

/// The model under test: Neutron's union of allow rules, per NIC and direction.
fn my_neutron_firewall(cloud: &Cloud, packet: &Packet) -> Verdict {
    if packet.family().is_none() {
        return Verdict::Deny;
    }
    if packet.state == ConnState::Established {
        return Verdict::Allow;
    }
    let nic_allows = |nic: EndpointKey, direction: Direction| {
        let Some(endpoint) = cloud.endpoint(nic) else {
            return false;
        };
        let remote = if direction == Direction::Ingress {
            packet.src
        } else {
            packet.dst
        };
        endpoint
            .groups
            .iter()
            .filter_map(|&g| cloud.group(g))
            .flat_map(|g| &g.rules)
            .any(|rule| {
                rule.enabled
                    && rule.direction == direction
                    && rule.matches_header(packet)
                    && match &rule.remote {
                        Remote::Any => true,
                        Remote::Cidr(net) => net.contains(&remote),
                        Remote::Group(g) => cloud.members(*g).any(|m| m.ips.contains(&remote)),
                        Remote::AddressGroup(a) => {
                            cloud.address_group(*a).is_some_and(|ag| ag.contains(&remote))
                        }
                    }
            })
    };
    let egress_ok = cloud
        .endpoint_by_addr(packet.src)
        .is_none_or(|nic| nic_allows(nic, Direction::Egress));
    let ingress_ok = cloud
        .endpoint_by_addr(packet.dst)
        .is_none_or(|nic| nic_allows(nic, Direction::Ingress));
    if egress_ok && ingress_ok {
        Verdict::Allow
    } else {
        Verdict::Deny
    }
}

fn cases(provider: Provider) -> impl Strategy<Value = (Cloud, Vec<Packet>)> {
    strategy::scenario(provider).prop_flat_map(|scenario| {
        let cloud = scenario.build().expect("the strategies generate valid scenarios");
        let packets = strategy::packets(&cloud, 64);
        (Just(cloud), packets)
    })
}

fn main() {
    let config = Config {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(64),
        failure_persistence: None,
        ..Config::default()
    };

    // Property 1: the model agrees with the oracle on every generated Gcore packet.
    TestRunner::new(config.clone())
        .run(&cases(Provider::Gcore), |(cloud, packets)| {
            let oracle = reference::Evaluator::new(&cloud);
            for p in &packets {
                let want = flow::trace(&cloud, &oracle, p).verdict;
                prop_assert_eq!(my_neutron_firewall(&cloud, p), want, "packet {}", p);
            }
            Ok(())
        })
        .expect("the Neutron model agrees with sgeval's oracle");
    println!(
        "gcore: the independent Neutron model matched the oracle on {} scenarios",
        config.cases
    );

    // Property 2: a fresh connection tracker decides first packets as the oracle does.
    for provider in Provider::ALL {
        TestRunner::new(config.clone())
            .run(&cases(provider), |(cloud, packets)| {
                let oracle = reference::Evaluator::new(&cloud);
                for p in packets.iter().filter(|p| p.state == ConnState::New) {
                    let mut tracker = Tracker::new(provider, 1024);
                    let want = flow::trace(&cloud, &oracle, p).verdict;
                    prop_assert_eq!(tracker.process(&cloud, &oracle, p).verdict, want, "packet {}", p);
                }
                Ok(())
            })
            .expect("the tracker decides first packets as the oracle");
        println!("{provider}: first packets through the tracker matched the oracle");
    }
}
