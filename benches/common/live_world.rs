//! The cloud and the change streams of the `Live` benchmarks (`benches/live.rs`) and of
//! their instruction counts (`examples/live_profile.rs`), for each provider, so both measure
//! the same thing.
//!
//! The cloud: group `web` (20 rules: TCP 22 from group `fleet`, ENS from `fleet`'s
//! prefix, as ENS rules name no groups; TCP 1000-1018 from 19 prefixes) on endpoint `web`,
//! group `fleet` on 1,000 endpoints `fleet-N` (10.0.0.2 up), group `ops` with no rules.
//! Every change is the provider's own call, built by the provider's request writers
//! ([`Provider::emit`]) where the library has them.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use serde_json::{json, Value};
use sgeval::live::{Applied, Change, Live, Outcome};
use sgeval::provider::{RuleDraft, Target};
use sgeval::rule::IcmpMatch;
use sgeval::{Action, Direction, Family, Options, PortRange, Provider, Quotas, Request};

/// Endpoints in group `fleet`.
pub const FLEET: usize = 1000;

/// The address of `fleet-i`.
pub fn addr(i: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | (i as u32 + 2)))
}

/// What a stream changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// The provider's membership calls: `fleet-N` joins `ops` and leaves it, NIC after NIC
    /// (ECS/ENS `JoinSecurityGroup`/`LeaveSecurityGroup`, Huawei
    /// `AddSecurityGroups`/`RemoveSecurityGroups`, Gcore
    /// `AssignSecurityGroup`/`UnassignSecurityGroup`).
    Members,
    /// Huawei's v1 `UpdatePort`, setting the port's whole list (`[fleet, ops]`, then
    /// `[fleet]`).
    PortUpdate,
    /// The provider's rule calls on `web`: ECS `AuthorizeSecurityGroup` /
    /// `RevokeSecurityGroup` (by fields), ENS the single-rule `AuthorizeSecurityGroup` /
    /// `RevokeSecurityGroup`, Huawei and Gcore `CreateSecurityGroupRule` /
    /// `DeleteSecurityGroupRule` (by the id the create answered).
    Rules,
    /// [`Live::set_groups`] (no provider call: the handle's own cost).
    SetGroups,
    /// Add-only: the provider's rule calls adding rules to `web` (TCP from 198.51.101.0/24,
    /// a port each) until it holds [`World::rule_cap`] rules; then [`World::room`] is 0
    /// and [`World::reset_adds`] removes them again (not part of the stream).
    RuleAdds,
}

impl Stream {
    /// The stream's name in the benchmarks' output.
    pub fn name(self) -> &'static str {
        match self {
            Stream::Members => "members",
            Stream::PortUpdate => "port_update",
            Stream::Rules => "rules",
            Stream::SetGroups => "set_groups",
            Stream::RuleAdds => "rule_adds",
        }
    }
}

/// Rules of `web` before any stream: 20.
const WEB_RULES: usize = 20;

/// A bench cloud behind a [`Live`] handle, and the state of its streams.
pub struct World {
    /// The handle, which reader threads share.
    pub live: Arc<Live>,
    /// The provider.
    pub provider: Provider,
    /// Group ids.
    pub web: String,
    /// Group ids.
    pub fleet: String,
    /// Group ids.
    pub ops: String,
    /// Changes made so far by [`World::changes`].
    next: u64,
    /// Rules created and not yet deleted (Huawei and Gcore delete by id), oldest first.
    pending: VecDeque<String>,
    /// The add-only stream's rules now in `web`: their draft number and, where the
    /// provider deletes by id, the id the create answered.
    added: Vec<(u64, Option<String>)>,
    /// The stream of the last [`World::changes`].
    last: Stream,
}

fn params(v: Value) -> Request {
    Request {
        params: Some(v),
        ..Default::default()
    }
}

fn body(v: Value) -> Request {
    Request {
        body: Some(v),
        ..Default::default()
    }
}

/// A TCP rule of `web`: port `port` from `from` (a prefix or a group id).
fn draft(port: u16, prefix: Option<&str>, group: Option<&str>, priority: u8) -> RuleDraft {
    RuleDraft {
        direction: Direction::Ingress,
        family: Family::V4,
        protocol: Some(6),
        dst_ports: vec![PortRange::new(port, port).expect("port")],
        src_ports: None,
        icmp: IcmpMatch::ANY,
        remote_cidr: prefix.map(|p| p.parse().expect("prefix")),
        remote_group: group.map(str::to_owned),
        remote_address_group: None,
        local: None,
        action: Action::Allow,
        priority,
        description: String::new(),
    }
}

impl World {
    /// The bench cloud of `provider`. Huawei's quota of 50 rules per group is lifted, so a
    /// batch's rule creations can wait for their deletions in the next batch.
    pub fn new(provider: Provider) -> World {
        let options = Options {
            quotas: if provider == Provider::Huawei {
                Quotas::Lifted
            } else {
                Quotas::Enforced
            },
            ..Options::default()
        };
        let live = Arc::new(Live::new(provider, options));
        let create = |name: &str| {
            let request = match provider {
                Provider::Ecs => {
                    params(json!({"RegionId": "cn-hangzhou", "VpcId": "vpc-1", "SecurityGroupName": name}))
                }
                Provider::Ens => params(json!({"SecurityGroupName": name})),
                Provider::Huawei => body(json!({"security_group": {"name": name}})),
                Provider::Gcore => body(json!({"name": name})),
            };
            let r = live.call("CreateSecurityGroup", &request);
            assert!(r.is_success(), "CreateSecurityGroup: {} {}", r.status, r.body);
            r.created.expect("a group id")
        };
        let (web, fleet, ops) = (create("web"), create("fleet"), create("ops"));
        let mut changes = Vec::new();
        let first = match provider {
            Provider::Ens => draft(22, Some("10.0.0.0/22"), None, 1),
            _ => draft(22, None, Some(&fleet), 1),
        };
        let drafts = std::iter::once(first)
            .chain((0..19u16).map(|i| draft(1000 + i, Some(&format!("192.0.{i}.0/24")), None, 1 + i as u8)));
        for d in drafts {
            let (api, request) = provider.emit(&Target::group(&web), &d).expect("a rule call");
            changes.push(Change::call(api, request));
        }
        changes.push(Change::Attach {
            name: "web".into(),
            ips: vec!["10.0.0.1".parse().expect("ip")],
            groups: vec![web.clone()],
        });
        for i in 0..FLEET {
            changes.push(Change::Attach {
                name: format!("fleet-{i}"),
                ips: vec![addr(i)],
                groups: vec![fleet.clone()],
            });
        }
        check(&live.apply(&changes));
        World {
            live,
            provider,
            web,
            fleet,
            ops,
            next: 0,
            pending: VecDeque::new(),
            added: Vec::new(),
            last: Stream::SetGroups,
        }
    }

    /// How many rules the add-only stream fills `web` up to: the provider's rules per
    /// group (ECS and ENS 200, Huawei's default quota of 50). Gcore documents no limit per
    /// group: 1,000 here, our choice (ten times Neutron's default project quota of 100).
    pub fn rule_cap(&self) -> usize {
        self.provider.profile().rules_per_group.unwrap_or(1000)
    }

    /// How many more rules the add-only stream may add before [`World::reset_adds`].
    pub fn room(&self) -> usize {
        self.rule_cap().saturating_sub(WEB_RULES + self.added.len())
    }

    /// The calls that delete the rules the rule stream created and has not deleted yet
    /// (Huawei and Gcore: the last batch's creates), so that the next stream starts from
    /// `web`'s own rules; apply them and give the outcome to [`World::record`].
    // `examples/live_profile.rs` runs one stream a process: it has nothing to settle.
    #[allow(dead_code)]
    pub fn settle(&mut self) -> Vec<Change> {
        let target = Target::group(&self.web);
        self.last = Stream::Rules;
        std::mem::take(&mut self.pending)
            .into_iter()
            .map(|id| {
                let (api, request) = self
                    .provider
                    .emit_remove(&target, &id, &self.rule(0))
                    .expect("a remove call");
                Change::call(api, request)
            })
            .collect()
    }

    /// The calls that remove every rule the add-only stream added (by fields for ECS and
    /// ENS, by id for Huawei and Gcore); apply them and give the outcome to
    /// [`World::record`].
    pub fn reset_adds(&mut self) -> Vec<Change> {
        let target = Target::group(&self.web);
        self.last = Stream::Rules;
        std::mem::take(&mut self.added)
            .into_iter()
            .map(|(i, id)| {
                let d = self.added_rule(i);
                let (api, request) = match (self.provider, id) {
                    (Provider::Ecs, _) => {
                        let (_, request) = self.provider.emit(&target, &d).expect("a rule call");
                        ("RevokeSecurityGroup", request)
                    }
                    (_, id) => self
                        .provider
                        .emit_remove(&target, id.as_deref().unwrap_or(""), &d)
                        .expect("a remove call"),
                };
                Change::call(api, request)
            })
            .collect()
    }

    /// The `i`th rule of the add-only stream (a source prefix of its own, so never a
    /// duplicate of the rule stream's).
    fn added_rule(&self, i: u64) -> RuleDraft {
        draft(8000 + (i % 50_000) as u16, Some("198.51.101.0/24"), None, 5)
    }

    /// The next `n` changes of `stream` (`n` even: every pair of membership changes puts
    /// the cloud back as it was; rules created by one batch are deleted by the next one,
    /// for Huawei and Gcore, which delete by id). Apply them, then give the outcome to
    /// [`World::record`].
    pub fn changes(&mut self, stream: Stream, n: usize) -> Vec<Change> {
        let mut out = Vec::with_capacity(n);
        self.last = stream;
        if stream == Stream::RuleAdds {
            let target = Target::group(&self.web);
            for _ in 0..n.min(self.room()) {
                let d = self.added_rule(self.next);
                let (api, request) = self.provider.emit(&target, &d).expect("a rule call");
                out.push(Change::call(api, request));
                self.added.push((self.next, None));
                self.next += 1;
            }
            return out;
        }
        if stream == Stream::Rules && matches!(self.provider, Provider::Huawei | Provider::Gcore) {
            while out.len() < n / 2 {
                let Some(id) = self.pending.pop_front() else { break };
                let (api, request) = self
                    .provider
                    .emit_remove(&Target::group(&self.web), &id, &self.rule(0))
                    .expect("a remove call");
                out.push(Change::call(api, request));
            }
            while out.len() < n {
                let d = self.rule(self.next);
                let (api, request) = self
                    .provider
                    .emit(&Target::group(&self.web), &d)
                    .expect("a rule call");
                out.push(Change::call(api, request));
                self.next += 1;
            }
            return out;
        }
        for _ in 0..n {
            out.push(self.change(stream, self.next));
            self.next += 1;
        }
        out
    }

    /// Takes note of what a batch of [`World::changes`] did (the ids of created rules),
    /// checking that every change succeeded.
    pub fn record(&mut self, applied: &Applied) {
        check(applied);
        if self.last == Stream::RuleAdds {
            // The creates are the last of `added`, in order.
            let from = self.added.len() - applied.outcomes.len();
            for (slot, o) in self.added[from..].iter_mut().zip(&applied.outcomes) {
                if let Outcome::Call { response, .. } = o {
                    slot.1 = response.created.clone();
                }
            }
            return;
        }
        if matches!(self.provider, Provider::Huawei | Provider::Gcore) {
            for o in &applied.outcomes {
                if let Outcome::Call { response, .. } = o {
                    if let Some(id) = &response.created {
                        self.pending.push_back(id.clone());
                    }
                }
            }
        }
    }

    /// The `i`th rule of the rule stream: TCP to a port of its own from
    /// 198.51.100.0/24 (ports repeat only after 50,000 rules, so no two live rules are
    /// duplicates).
    fn rule(&self, i: u64) -> RuleDraft {
        draft(8000 + (i % 50_000) as u16, Some("198.51.100.0/24"), None, 5)
    }

    /// The `i`th change of a stream that pairs changes (every stream but Huawei's and
    /// Gcore's rules).
    fn change(&self, stream: Stream, i: u64) -> Change {
        let k = (i / 2) % FLEET as u64;
        let first = i % 2 == 0;
        let nic = format!("fleet-{k}");
        let (ops, fleet) = (&self.ops, &self.fleet);
        let call = |api: &str, request: Request| Change::call(api, request);
        match (stream, self.provider) {
            (Stream::SetGroups, _) => Change::SetGroups {
                name: nic,
                groups: vec![if first { ops.clone() } else { fleet.clone() }],
            },
            (Stream::Members, Provider::Ecs | Provider::Ens) => call(
                if first {
                    "JoinSecurityGroup"
                } else {
                    "LeaveSecurityGroup"
                },
                params(json!({"SecurityGroupId": ops, "InstanceId": nic})),
            ),
            (Stream::Members, Provider::Huawei) if first => call(
                "AddSecurityGroups",
                body(json!({"port_id": nic, "port": {"security_groups": [ops], "index": 1}})),
            ),
            (Stream::Members, Provider::Huawei) => call(
                "RemoveSecurityGroups",
                body(json!({"port_id": nic, "port": {"security_groups": [ops]}})),
            ),
            (Stream::Members, Provider::Gcore) if first => call(
                "AssignSecurityGroup",
                body(json!({"instance_id": nic, "name": "ops"})),
            ),
            (Stream::Members, Provider::Gcore) => call(
                "UnassignSecurityGroup",
                body(json!({"instance_id": nic, "ports_security_group_names":
                    [{"port_id": null, "security_group_names": ["ops"]}]})),
            ),
            (Stream::PortUpdate, Provider::Huawei) => {
                let groups = if first { vec![fleet, ops] } else { vec![fleet] };
                call(
                    "UpdatePort",
                    body(json!({"port_id": nic, "port": {"security_groups": groups}})),
                )
            }
            (Stream::PortUpdate, p) => panic!("{p:?} has no port update"),
            (Stream::RuleAdds, _) => unreachable!("made by World::changes"),
            (Stream::Rules, _) => {
                let d = self.rule(k % 100);
                let target = Target::group(&self.web);
                let (api, request) = if first {
                    self.provider.emit(&target, &d).expect("a rule call")
                } else if self.provider == Provider::Ecs {
                    // Revoked by the fields it was authorized with.
                    let (_, request) = self.provider.emit(&target, &d).expect("a rule call");
                    ("RevokeSecurityGroup", request)
                } else {
                    self.provider.emit_remove(&target, "", &d).expect("a remove call")
                };
                call(api, request)
            }
        }
    }

    /// Applies `changes` one at a time (each published on its own), as [`Live::apply`]
    /// would report them.
    pub fn one_by_one(&self, changes: &[Change]) -> Applied {
        let mut outcomes = Vec::with_capacity(changes.len());
        for c in changes {
            outcomes.push(match c {
                Change::Call { api, request } => {
                    let (response, version) = self.live.call_versioned(api, request);
                    Outcome::Call { response, version }
                }
                Change::SetGroups { name, groups } => match self.live.set_groups(name, groups) {
                    Ok(version) => Outcome::Done { version },
                    Err(e) => Outcome::Refused(e),
                },
                other => unreachable!("{other:?}"),
            });
        }
        Applied {
            outcomes,
            version: self.live.version(),
        }
    }
}

/// Every change of `applied` succeeded.
pub fn check(applied: &Applied) {
    for o in &applied.outcomes {
        let ok = match o {
            Outcome::Call { response, .. } => response.is_success(),
            Outcome::Done { .. } => true,
            Outcome::Refused(_) => false,
        };
        assert!(ok, "{o:?}");
    }
}
