//! What-if queries on an endpoint with 1,000 rules across 10 groups (5 for Huawei,
//! whose NICs join at most 5): `reach` from the
//! internet, `diff` of every endpoint pair and the internet after a ten-rule edit, and
//! `lint` of the whole cloud.
//!
//! `cargo bench --bench query`

use std::net::IpAddr;

use criterion::{criterion_group, criterion_main, Criterion};
use sgeval::group::{GroupKind, InnerPolicy};
use sgeval::query::testkit::{self, Builder};
use sgeval::query::{self, Query, Side};
use sgeval::rule::PortRange;
use sgeval::{Action, Cloud, Direction, Family, Options, Ports, Provider, Remote};

/// xorshift64*: a fixed, dependency-free stream of pseudo-random numbers.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const SERVICES: [(u16, u16); 12] = [
    (22, 22),
    (80, 80),
    (443, 443),
    (3306, 3306),
    (5432, 5432),
    (6379, 6379),
    (8080, 8090),
    (9000, 9100),
    (30000, 32767),
    (53, 53),
    (123, 123),
    (1024, 65535),
];

/// A realistic rule: mostly TCP/UDP services from office hosts, partner /24s, VPC /16s,
/// a few to the whole internet; a few drops; priorities spread over 1..=100.
fn rule(rng: &mut Rng, provider: Provider) -> sgeval::Rule {
    let direction = if rng.below(5) == 0 {
        Direction::Egress
    } else {
        Direction::Ingress
    };
    let mut r = testkit::rule(direction);
    let v6 = rng.below(8) == 0;
    r.family = Some(if v6 { Family::V6 } else { Family::V4 });
    r.protocol = match rng.below(20) {
        0 => None,
        1 => Some(if v6 { 58 } else { 1 }),
        2..=5 => Some(17),
        _ => Some(6),
    };
    if matches!(r.protocol, Some(6) | Some(17)) {
        let (lo, hi) = if rng.below(3) == 0 {
            let p = 1 + rng.below(65000) as u16;
            (p, p)
        } else {
            SERVICES[rng.below(SERVICES.len() as u64) as usize]
        };
        r.dst_ports = Ports::range(PortRange { lo, hi });
    }
    let net = if v6 {
        match rng.below(4) {
            0 => format!("2001:db8:{:x}::/48", rng.below(4096)),
            1 => format!("2001:db8:{:x}:{:x}::/64", rng.below(4096), rng.below(65536)),
            2 => format!("2001:db8:{:x}::{:x}/128", rng.below(4096), rng.below(65536)),
            _ => "::/0".into(),
        }
    } else {
        match rng.below(10) {
            0 => "0.0.0.0/0".into(),
            1 | 2 => format!("10.{}.0.0/16", rng.below(256)),
            3..=5 => format!("203.0.{}.0/24", rng.below(256)),
            _ => format!("198.51.{}.{}/32", rng.below(256), rng.below(256)),
        }
    };
    r.remote = Remote::Cidr(net.parse().unwrap());
    if provider == Provider::Gcore {
        r.priority = 0;
    } else {
        r.action = if rng.below(10) == 0 {
            Action::Deny
        } else {
            Action::Allow
        };
        r.priority = 1 + rng.below(100) as u8;
    }
    r
}

/// The endpoint `web` with 1,000 rules across 10 groups (100 each; Huawei lets a NIC
/// join 5 groups, so there 5 groups of 200), and three small endpoints around it.
fn cloud(provider: Provider, seed: u64) -> Cloud {
    let mut rng = Rng(seed);
    let mut b = Builder::new(provider, Options::default());
    let kind = match provider {
        Provider::Ecs => GroupKind::EcsBasic {
            inner: InnerPolicy::Accept,
        },
        Provider::Ens => GroupKind::Ens,
        Provider::Huawei => GroupKind::Huawei,
        Provider::Gcore => GroupKind::Gcore,
    };
    let n = provider.groups_per_nic().min(10);
    let groups: Vec<_> = (0..n).map(|_| b.group(kind)).collect();
    for &g in &groups {
        for _ in 0..1000 / n {
            let r = rule(&mut rng, provider);
            b.rule(g, r);
        }
    }
    let small = b.group(kind);
    for _ in 0..10 {
        let r = rule(&mut rng, provider);
        b.rule(small, r);
    }
    let ip = |s: &str| -> IpAddr { s.parse().unwrap() };
    b.endpoint("web", &[ip("10.0.0.10"), ip("2001:db8::10")], &groups)
        .unwrap();
    for i in 0..3 {
        b.endpoint(
            &format!("app-{i}"),
            &[ip(&format!("10.0.1.{}", 10 + i))],
            &[small, groups[0]],
        )
        .unwrap();
    }
    b.build()
}

/// The same cloud after an edit of ten rules (five removed, five added).
fn edited(old: &Cloud, provider: Provider) -> Cloud {
    let mut c = old.clone();
    let mut rng = Rng(99);
    let groups: Vec<_> = c.groups().map(|g| g.key).collect();
    for i in 0..5 {
        let g = c.group(groups[i % 5]).unwrap();
        let r = sgeval::RuleRef {
            group: g.key,
            rule: g.rules[rng.below(g.rules.len() as u64) as usize].key,
        };
        testkit::remove_rule(&mut c, r);
        testkit::add_rule(&mut c, groups[(i + 5) % groups.len()], rule(&mut rng, provider));
    }
    c
}

fn bench(c: &mut Criterion) {
    for provider in [Provider::Ecs, Provider::Huawei, Provider::Gcore] {
        let cloud = cloud(provider, 0x5eed);
        let new = edited(&cloud, provider);
        let to_web = Query::new(Side::internet(), "web".parse().unwrap());
        let map = query::reach(&cloud, &to_web).unwrap();
        let d = query::diff(&cloud, &new, &query::diff::everything()).unwrap();
        let findings = query::lint(&cloud);
        eprintln!(
            "{provider}: reach {} regions, diff {} changes, lint {} findings",
            map.regions.len(),
            d.changes.len(),
            findings.len()
        );
        c.bench_function(&format!("{provider}/reach internet->web (1000 rules)"), |b| {
            b.iter(|| query::reach(&cloud, &to_web).unwrap())
        });
        c.bench_function(
            &format!("{provider}/diff all pairs (1000 rules, 10 edited)"),
            |b| b.iter(|| query::diff(&cloud, &new, &query::diff::everything()).unwrap()),
        );
        c.bench_function(&format!("{provider}/lint (1000 rules)"), |b| {
            b.iter(|| query::lint(&cloud))
        });
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10);
    targets = bench
}
criterion_main!(benches);
