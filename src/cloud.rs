//! The emulated control plane: the data of one cloud (`src/model.rs`: groups, rules,
//! address groups, endpoints) and the provider front end that answers calls on it. Every
//! change goes through one transaction, committed only when the front end answered
//! success, so a call (or an endpoint attachment) applies whole or not at all.

use std::net::IpAddr;

use crate::group::{AddressGroup, AddressGroupKey, Endpoint, EndpointKey, Group, GroupKey};
use crate::model::{Model, Transaction};
use crate::options::Options;
use crate::provider::Frontend;
use crate::provider_kind::Provider;
use crate::rule::{Rule, RuleKey};
use crate::RuleRef;

pub use crate::model::{Changes, EndpointError};
pub use crate::request::{Request, Response};

/// The emulated cloud of one provider.
#[derive(Clone, Debug)]
pub struct Cloud {
    model: Model,
    /// The provider's front end, with its own bookkeeping (idempotency tokens, tasks, ...).
    frontend: Frontend,
}

impl Cloud {
    /// An empty cloud of `provider` with the given semantic switches.
    pub fn new(provider: Provider, options: Options) -> Cloud {
        Cloud {
            model: Model::new(provider, options),
            frontend: Frontend::new(provider),
        }
    }

    /// The provider.
    pub fn provider(&self) -> Provider {
        self.model.provider()
    }

    /// The semantic switches.
    pub fn options(&self) -> &Options {
        self.model.options()
    }

    /// Applies one provider call. The call takes effect whole or not at all: an error answer
    /// leaves the cloud as it was.
    pub fn call(&mut self, api: &str, request: &Request) -> Response {
        self.call_then(api, request, |_, _| Ok::<(), ()>(())).0
    }

    /// [`Cloud::call`], then `then` on the call's transaction when the front end answered
    /// success; the call is committed only if `then` succeeds too, so an error of `then`
    /// leaves nothing of the call behind (the answer is returned all the same).
    pub(crate) fn call_then<E>(
        &mut self,
        api: &str,
        request: &Request,
        then: impl FnOnce(&mut Transaction<'_>, &Response) -> Result<(), E>,
    ) -> (Response, Result<(), E>) {
        self.frontend
            .call(self.model.begin_call(api, request), api, request, then)
    }

    /// Starts recording what committed changes touch (calls, attachments, membership
    /// changes), from nothing, so a caller keeping derived state (a compiled engine) learns
    /// what to update without comparing whole clouds. Recording goes on in copies of the
    /// cloud; a refused change records nothing.
    pub fn track_changes(&mut self) {
        self.model.track_changes();
    }

    /// What committed changes touched since [`Cloud::track_changes`] or the last take
    /// (nothing when not tracking); recording goes on.
    pub fn take_changes(&mut self) -> Changes {
        self.model.take_changes()
    }

    /// Makes this cloud equal to `newer`, a later state of it, where `changes` is
    /// everything [`Cloud::take_changes`] reported on the way from this state to `newer`:
    /// copies the objects that changed (and the front end's bookkeeping) instead of the
    /// whole cloud. With changes that miss something, the result is not `newer`: keep to
    /// what tracking reported.
    pub fn sync_from(&mut self, newer: &Cloud, changes: &Changes) {
        self.model.sync_from(&newer.model, changes);
        self.frontend.sync_from(&newer.frontend);
        // Tests run with debug assertions: there, a change tracking missed shows at once.
        debug_assert!(
            self.model == newer.model && self.frontend == newer.frontend,
            "sync_from: the changes missed something"
        );
    }

    /// How many calls were made so far (the seed of deterministic timestamps).
    pub fn call_count(&self) -> u64 {
        self.model.call_count()
    }

    /// Every group, by key.
    pub fn groups(&self) -> impl Iterator<Item = &Group> {
        self.model.groups()
    }

    /// A group by key.
    pub fn group(&self, key: GroupKey) -> Option<&Group> {
        self.model.group(key)
    }

    /// A group by its provider id.
    pub fn group_by_id(&self, id: &str) -> Option<&Group> {
        self.model.group_by_id(id)
    }

    /// A rule by reference.
    pub fn rule(&self, r: RuleRef) -> Option<&Rule> {
        self.model.rule(r)
    }

    /// Every address group.
    pub fn address_groups(&self) -> impl Iterator<Item = &AddressGroup> {
        self.model.address_groups()
    }

    /// An address group by key.
    pub fn address_group(&self, key: AddressGroupKey) -> Option<&AddressGroup> {
        self.model.address_group(key)
    }

    /// An address group by its provider id.
    pub fn address_group_by_id(&self, id: &str) -> Option<&AddressGroup> {
        self.model.address_group_by_id(id)
    }

    /// Every endpoint, in the order attached.
    pub fn endpoints(&self) -> &[Endpoint] {
        self.model.endpoints()
    }

    /// The keys of every endpoint, in the order attached (the order of [`Cloud::endpoints`]).
    pub fn endpoint_keys(&self) -> impl DoubleEndedIterator<Item = EndpointKey> + ExactSizeIterator {
        (0..self.endpoints().len() as u32).map(EndpointKey::new)
    }

    /// An endpoint by key.
    pub fn endpoint(&self, key: EndpointKey) -> Option<&Endpoint> {
        self.model.endpoint(key)
    }

    /// An endpoint by name.
    pub fn endpoint_by_name(&self, name: &str) -> Option<EndpointKey> {
        self.model.endpoint_by_name(name)
    }

    /// The endpoint that owns an address.
    pub fn endpoint_by_addr(&self, addr: IpAddr) -> Option<EndpointKey> {
        self.model.endpoint_by_addr(addr)
    }

    /// Attaches a NIC with its addresses and its groups (by provider id, in association order).
    ///
    /// # Errors
    /// A repeated name or address, no address, no group, an unknown or repeated group, more
    /// groups than the provider allows per NIC, ECS basic and advanced groups together, or a
    /// provider's own limit (ECS: groups of one region and VPC, at most 1,000 rules across
    /// them). Nothing changes then.
    pub fn attach(
        &mut self,
        name: &str,
        ips: &[IpAddr],
        group_ids: &[String],
    ) -> Result<EndpointKey, EndpointError> {
        let frontend = &self.frontend;
        let mut txn = self.model.begin();
        let key = txn.attach(name, ips, group_ids, |model, name, keys| {
            frontend.check_attach(model, name, keys)
        })?;
        txn.commit();
        Ok(key)
    }

    /// Replaces the groups of endpoint `name` (by provider id, in association order), with
    /// the checks of [`Cloud::attach`] on groups and the provider's own (ECS: one region and
    /// VPC, at most 1,000 rules across them). The endpoint keeps its key and addresses. This
    /// is the scenario's (and [`crate::live::Live`]'s) change of membership outside provider
    /// calls; the provider calls that change memberships (ECS/ENS `JoinSecurityGroup`,
    /// Huawei `AddSecurityGroups`, ...) answer with their own codes.
    ///
    /// # Errors
    /// [`EndpointError::UnknownEndpoint`], or what [`Cloud::attach`] refuses about groups.
    /// Nothing changes then.
    pub fn set_groups(&mut self, name: &str, group_ids: &[String]) -> Result<EndpointKey, EndpointError> {
        let key = self
            .endpoint_by_name(name)
            .ok_or_else(|| EndpointError::UnknownEndpoint(name.to_owned()))?;
        let frontend = &self.frontend;
        let mut txn = self.model.begin();
        txn.set_group_ids(key, group_ids, |model, name, keys| {
            frontend.check_attach(model, name, keys)
        })?;
        txn.commit();
        Ok(key)
    }

    /// Removes endpoint `name`. The endpoints attached after it move down by one place in
    /// [`Cloud::endpoints`], so their [`EndpointKey`]s go down by one. Returns the key the
    /// endpoint had.
    ///
    /// # Errors
    /// [`EndpointError::UnknownEndpoint`]; nothing changes then.
    pub fn detach(&mut self, name: &str) -> Result<EndpointKey, EndpointError> {
        let key = self
            .endpoint_by_name(name)
            .ok_or_else(|| EndpointError::UnknownEndpoint(name.to_owned()))?;
        let mut txn = self.model.begin();
        txn.detach(key)?;
        txn.commit();
        Ok(key)
    }

    /// The endpoints that are members of a group.
    pub fn members(&self, group: GroupKey) -> impl Iterator<Item = &Endpoint> {
        self.model.members(group)
    }

    /// The key the next rule will get: every rule a call creates has a key at or above the
    /// one read before the call.
    pub(crate) fn rule_key_mark(&self) -> RuleKey {
        self.model.rule_key_mark()
    }

    /// A change of the model outside provider calls (tests and `query::explain`'s check of
    /// a candidate fix on a copy): the same transaction handle the front ends get.
    pub(crate) fn edit(&mut self) -> Transaction<'_> {
        self.model.begin()
    }

    /// [`Cloud::edit`] with `f`, committed.
    pub(crate) fn edit_with<R>(&mut self, f: impl FnOnce(&mut Transaction<'_>) -> R) -> R {
        let mut txn = self.edit();
        let r = f(&mut txn);
        txn.commit();
        r
    }
}

#[cfg(all(test, feature = "proptest"))]
mod tests {
    use super::*;
    use crate::strategy::{self, ApiCall};
    use proptest::prelude::*;
    use proptest::sample::select;
    use serde_json::Value;

    /// Stands for the id of the group the sequence creates first.
    const GROUP: &str = "GROUP-PLACEHOLDER";

    fn replace_in(v: &mut Value, id: &str) {
        match v {
            Value::String(s) if s.contains(GROUP) => *s = s.replace(GROUP, id),
            Value::Array(items) => items.iter_mut().for_each(|x| replace_in(x, id)),
            Value::Object(map) => map.values_mut().for_each(|x| replace_in(x, id)),
            _ => {}
        }
    }

    fn with_group(call: &ApiCall, id: &str) -> Request {
        let mut r = call.request.clone();
        r.params
            .iter_mut()
            .chain(r.body.iter_mut())
            .for_each(|v| replace_in(v, id));
        if let Some(p) = &mut r.path {
            *p = p.replace(GROUP, id);
        }
        r
    }

    /// A provider, its first group, then a mix of valid rule calls, invalid calls and
    /// group creations.
    fn sequence() -> impl Strategy<Value = (Provider, ApiCall, Vec<ApiCall>)> {
        select(Provider::ALL.to_vec()).prop_flat_map(|p| {
            let step = prop_oneof![
                3 => strategy::rule_call(p, GROUP.into()),
                3 => strategy::invalid_call(p, GROUP.into()).prop_map(|i| i.call),
                1 => strategy::create_group_of(p, false),
                1 => Just(delete_group(p)),
            ];
            (
                Just(p),
                strategy::create_group_of(p, false),
                prop::collection::vec(step, 1..12),
            )
        })
    }

    /// The provider's `DeleteSecurityGroup` of the sequence's first group (it has no
    /// members, so it succeeds until the group is gone).
    fn delete_group(provider: Provider) -> ApiCall {
        let (params, body) = match provider {
            Provider::Ecs => (
                Some(serde_json::json!({"RegionId": "cn-hangzhou", "SecurityGroupId": GROUP})),
                None,
            ),
            Provider::Ens => (Some(serde_json::json!({"SecurityGroupId": GROUP})), None),
            Provider::Huawei => (None, Some(serde_json::json!({"security_group_id": GROUP}))),
            Provider::Gcore => (None, Some(serde_json::json!({"group_id": GROUP}))),
        };
        ApiCall {
            api: "DeleteSecurityGroup".into(),
            request: Request {
                params,
                body,
                path: None,
            },
        }
    }

    /// `cloud` as it is after one more call of `api` with `request` that changed nothing
    /// (the call count and the call's id seed move).
    fn counted(cloud: &Cloud, api: &str, request: &Request) -> Cloud {
        let mut c = cloud.clone();
        drop(c.model.begin_call(api, request));
        c
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// Every call, made once with a step after it that fails (as a scenario's pin
        /// can), leaves the cloud exactly as it was, front-end bookkeeping included; made
        /// for real, an error answer leaves it as it was too.
        #[test]
        fn a_call_failing_after_its_mutations_changes_nothing((provider, create, steps) in sequence()) {
            let mut cloud = Cloud::new(provider, Options::default());
            let r = create.apply(&mut cloud);
            prop_assume!(r.is_success());
            let id = r.created.expect("a created group");
            for step in &steps {
                let request = with_group(step, &id);
                let expected = counted(&cloud, &step.api, &request);
                let (answer, then) = cloud.call_then(&step.api, &request, |txn, _| {
                    // Reads see the call's own writes; the step still fails.
                    let _ = txn.rule_key_mark();
                    Err("refused after the call")
                });
                prop_assert_eq!(then.is_err(), answer.is_success());
                prop_assert!(cloud.model == expected.model && cloud.frontend == expected.frontend,
                    "{} changed the cloud though its step failed", step.api);
                let expected = counted(&cloud, &step.api, &request);
                let answer = cloud.call(&step.api, &request);
                if !answer.is_success() {
                    prop_assert!(cloud.model == expected.model && cloud.frontend == expected.frontend,
                        "{} answered {} and changed the cloud", step.api, answer.status);
                }
                // The duplicate print index is what a scan of the rules finds, after
                // every call, its undo included.
                prop_assert!(cloud.model.prints_match_rules(), "{} left the print index behind", step.api);
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        /// A copy taken at any point and brought up to date with what tracking reported
        /// since ([`Cloud::sync_from`]) equals the cloud, front-end bookkeeping included,
        /// whatever calls came in between (rule calls, invalid ones, groups created and
        /// deleted).
        #[test]
        fn a_copy_synced_with_the_tracked_changes_equals_the_cloud(
            (provider, create, steps) in sequence(),
            cut in 0usize..12,
        ) {
            let mut cloud = Cloud::new(provider, Options::default());
            cloud.track_changes();
            let r = create.apply(&mut cloud);
            prop_assume!(r.is_success());
            let id = r.created.expect("a created group");
            let cut = cut.min(steps.len());
            for step in &steps[..cut] {
                cloud.call(&step.api, &with_group(step, &id));
            }
            let mut copy = cloud.clone();
            let _ = cloud.take_changes();
            let mut changes = Changes::default();
            for (i, step) in steps[cut..].iter().enumerate() {
                cloud.call(&step.api, &with_group(step, &id));
                changes.merge(cloud.take_changes());
                if i % 3 == 0 {
                    // Brought up to date on the way too, not only at the end.
                    copy.sync_from(&cloud, &changes);
                    changes = Changes::default();
                    prop_assert!(copy.model == cloud.model && copy.frontend == cloud.frontend);
                    prop_assert!(copy.model.prints_match_rules());
                }
            }
            copy.sync_from(&cloud, &changes);
            prop_assert!(copy.model == cloud.model && copy.frontend == cloud.frontend);
        }
    }

    #[test]
    fn set_groups_and_detach_change_memberships_whole_or_not_at_all() {
        let mut cloud = Cloud::new(Provider::Ecs, Options::default());
        let group = |cloud: &mut Cloud, vpc: &str, kind: &str| {
            let request = Request {
                params: Some(
                    serde_json::json!({"RegionId": "cn-hangzhou", "VpcId": vpc, "SecurityGroupType": kind}),
                ),
                ..Request::default()
            };
            cloud
                .call("CreateSecurityGroup", &request)
                .created
                .expect("a group")
        };
        let (a, b) = (
            group(&mut cloud, "vpc-1", "normal"),
            group(&mut cloud, "vpc-1", "normal"),
        );
        let (other_vpc, advanced) = (
            group(&mut cloud, "vpc-2", "normal"),
            group(&mut cloud, "vpc-1", "enterprise"),
        );
        let ip = |s: &str| -> IpAddr { s.parse().expect("ip") };
        cloud
            .attach("x", &[ip("10.0.0.1")], std::slice::from_ref(&a))
            .expect("x");
        cloud
            .attach("y", &[ip("10.0.0.2")], std::slice::from_ref(&a))
            .expect("y");
        cloud
            .attach("z", &[ip("10.0.0.3")], std::slice::from_ref(&b))
            .expect("z");
        // A new order of groups, kept as given.
        let key = cloud.set_groups("y", &[b.clone(), a.clone()]).expect("set");
        let keys = |c: &Cloud, ids: &[&String]| {
            ids.iter()
                .map(|id| c.group_by_id(id).expect("group").key)
                .collect::<Vec<_>>()
        };
        assert_eq!(cloud.endpoint(key).expect("y").groups, keys(&cloud, &[&b, &a]));
        // Refusals change nothing.
        let before = cloud.endpoints().to_vec();
        for (groups, want) in [
            (vec![], "NoGroup"),
            (vec![a.clone(), a.clone()], "RepeatedGroup"),
            (vec![a.clone(), other_vpc.clone()], "GroupsInDifferentNetworks"),
            (vec![a.clone(), advanced.clone()], "MixedEcsGroupTypes"),
            (vec!["sg-nope".to_owned()], "UnknownGroup"),
        ] {
            let e = cloud.set_groups("y", &groups).expect_err("refused");
            assert_eq!(e.code(), want, "{e}");
            assert_eq!(cloud.endpoints(), &before[..]);
        }
        assert_eq!(
            cloud
                .set_groups("nope", std::slice::from_ref(&a))
                .map_err(|e| e.code()),
            Err("UnknownEndpoint")
        );
        // Detaching the middle endpoint moves the last one down, indexes with it.
        assert_eq!(cloud.detach("y"), Ok(key));
        assert_eq!(cloud.endpoints().len(), 2);
        assert_eq!(cloud.endpoint_by_name("y"), None);
        assert_eq!(cloud.endpoint_by_addr(ip("10.0.0.2")), None);
        assert_eq!(cloud.endpoint_by_name("z"), Some(key));
        assert_eq!(cloud.endpoint_by_addr(ip("10.0.0.3")), Some(key));
        assert_eq!(cloud.detach("y").map_err(|e| e.code()), Err("UnknownEndpoint"));
        // The freed address and name can be attached again.
        cloud.attach("y", &[ip("10.0.0.2")], &[b]).expect("again");
    }

    #[test]
    fn an_ecs_client_token_is_remembered_only_when_the_call_commits() {
        let mut cloud = Cloud::new(Provider::Ecs, Options::default());
        let create = |token: &str, vpc: &str| Request {
            params: Some(serde_json::json!({"RegionId": "cn-hangzhou", "VpcId": vpc, "ClientToken": token})),
            ..Request::default()
        };
        let (answer, then) = cloud.call_then("CreateSecurityGroup", &create("t-1", "vpc-1"), |_, _| Err(()));
        assert!(answer.is_success() && then.is_err());
        assert_eq!(cloud.groups().count(), 0);
        // Not remembered: the same token with other parameters is a first use.
        let answer = cloud.call("CreateSecurityGroup", &create("t-1", "vpc-2"));
        assert!(answer.is_success(), "{}", answer.body);
        assert_eq!(cloud.groups().count(), 1);
        // Remembered now: other parameters are refused.
        let answer = cloud.call("CreateSecurityGroup", &create("t-1", "vpc-3"));
        assert_eq!(answer.status, 400, "{}", answer.body);
    }
}
