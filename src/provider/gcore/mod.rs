//! Gcore Cloud v2 front end (OpenStack Neutron underneath).
//!
//! Requests are Gcore's own bodies; answers are Gcore's shapes: creating a group or a rule
//! answers `200 {"tasks": ["<uuid>"]}` and the emulator finishes every task at once, so
//! `GetTask` reports it `FINISHED` with the ids it created (Decision 6). Errors follow
//! Gcore's documented error shape (gcore.com "Error handling"): `{exception_class, message,
//! request_id}` plus `invalid_fields` for a `ValidationError`. Rule validation is Neutron's
//! (N1, `securitygroups_db.py`) and its exception names are the `exception_class`:
//!
//! | class | status | when |
//! |---|---|---|
//! | `ValidationError` | 400 | a missing or mistyped field, an unknown field, a bad enum value |
//! | `NotFoundError` | 404 | the group, rule or task named in the path does not exist |
//! | `SecurityGroupNotFound` | 404 | `remote_group_id` names no group |
//! | `SecurityGroupRuleInvalidProtocol` | 400 | a protocol that is no name or number 0-255 |
//! | `InvalidInput` | 400 | `remote_ip_prefix` is no address or CIDR |
//! | `SecurityGroupRuleParameterConflict` | 400 | the prefix's family is not `ethertype` |
//! | `SecurityGroupRemoteGroupAndRemoteIpPrefix` | 400 | both remote fields given |
//! | `SecurityGroupProtocolRequiredWithPorts` | 400 | ports without a protocol |
//! | `SecurityGroupInvalidPortValue` | 400 | a port outside 0-65535, or 0 for a port protocol |
//! | `SecurityGroupInvalidPortRange` | 400 | a port protocol without both ports, or min > max |
//! | `SecurityGroupInvalidIcmpValue` | 400 | an ICMP type or code outside 0-255 |
//! | `SecurityGroupMissingIcmpType` | 400 | an ICMP code without a type |
//! | `SecurityGroupInvalidProtocolForPort` | 400 | ports with a protocol that has none |
//! | `SecurityGroupEthertypeConflictWithProtocol` | 400 | an IPv6-only protocol with `IPv4` |
//! | `DuplicateSecurityGroupRuleInPost` | 409 | the same rule twice in one request |
//! | `SecurityGroupRuleExists` | 409 | the rule exists in the group already |
//! | `SecurityGroupInUse` | 409 | deleting a group an instance is still in (N1) |
//! | `NoUniqueMatch` | 409 | assign/unassign: several groups have the name |
//! | `SecurityGroupExistsForInstance` | 400 | assign: the instance has the group (unconfirmed class) |
//! | `SecurityGroupNotExistsForInstance` | 400 | unassign: the instance lacks the group (unconfirmed class) |
//!
//! Whether Gcore answers Neutron's rule errors synchronously (as here) or as a task `ERROR`
//! is unconfirmed (G1, G2).
//!
//! Requests may give the URL in `path`; without one, the ids the URL would carry come from
//! the body: `group_id` (rule create and delete, GetSecurityGroup), `rule_id`, `task_id`.
//! The emulation is one tenant: `project_id` and `region_id` are checked to be integers and
//! shown, not used to separate groups.

mod codes;
mod groups;
mod instances;
pub(crate) mod rules;
mod tasks;

use codes::*;
use groups::*;
use instances::*;
use rules::*;
use tasks::Task;
pub(crate) use tasks::{Effect, Frontend};

use ipnet::IpNet;
use serde_json::{json, Map, Value};

use crate::group::{Group, GroupKind};
use crate::model::Model;
use crate::provider::{rest, ApiError, CallContext, GcoreDefaults};
use crate::request::{Request, Response};
use crate::rule::{Action, Direction, Family, IcmpMatch, PortRange, Ports, Remote, Rule, RuleKey};

/// The API names this front end answers.
pub const APIS: &[&str] = &[
    "CreateSecurityGroup",
    "GetSecurityGroup",
    "CreateSecurityGroupRule",
    "DeleteSecurityGroupRule",
    "GetTask",
    "DeleteSecurityGroup",
    "AssignSecurityGroup",
    "UnassignSecurityGroup",
];

const SALT_REQUEST: u64 = 2;
const SALT_GROUP: u64 = 4;
const SALT_RULE: u64 = 6;
const SALT_TASK: u64 = 8;

const CREATE_GROUP_PATH: &str = "/cloud/v2/security_groups/{project_id}/{region_id}";
const GET_GROUP_PATH: &str = "/cloud/v1/securitygroups/{project_id}/{region_id}/{group_id}";
const RULES_PATH: &str = "/cloud/v2/security_groups/{project_id}/{region_id}/{group_id}/rules";
const RULE_PATH: &str = "/cloud/v2/security_groups/{project_id}/{region_id}/{group_id}/rules/{rule_id}";
const TASK_PATH: &str = "/cloud/v1/tasks/{task_id}";

/// A call in progress on this front end.
pub(crate) type Cx<'c, 'm> = CallContext<'c, 'm, Frontend, Effect>;

/// Answers one call: `Ok` for success only.
pub(crate) fn call(cloud: &mut Cx<'_, '_>, api: &str, request: &Request) -> Result<Response, Response> {
    let request_id = rest::request_id(cloud, SALT_REQUEST);
    let result = match api {
        "CreateSecurityGroup" => create_security_group(cloud, request, &request_id),
        "GetSecurityGroup" => get_security_group(cloud, request),
        "CreateSecurityGroupRule" => create_rule(cloud, request, &request_id),
        "DeleteSecurityGroupRule" => delete_rule(cloud, request, &request_id),
        "GetTask" => get_task(cloud, request),
        "DeleteSecurityGroup" => delete_security_group(cloud, request),
        "AssignSecurityGroup" => assign(cloud, request),
        "UnassignSecurityGroup" => unassign(cloud, request),
        other => Err(neutron(
            404,
            "HTTPError",
            format!("`{other}` is not a gcore cloud api (known: {})", APIS.join(", ")),
        )),
    };
    result.map_err(|e| error_body(e, &request_id))
}

fn get_task(cloud: &mut Cx<'_, '_>, request: &Request) -> Result<Response, ApiError> {
    let task_id = match path_ids(request, TASK_PATH)? {
        Some([task_id]) => task_id.to_owned(),
        None => id_from_body(request, "task_id", &[])?,
    };
    let task = cloud
        .frontend
        .shown(&task_id)
        .ok_or_else(|| not_found(format!("task `{task_id}` could not be found")))?;
    Ok(Response {
        status: 200,
        body: task,
        created: None,
    })
}

/// Records a task that finished at once (the emulator has no asynchrony) and answers it
/// (`{"tasks": [id]}`); `created` is the kind (`security_groups`, `security_group_rules`)
/// and id of the resource the call made.
fn finish_task(
    cloud: &mut Cx<'_, '_>,
    task_type: &'static str,
    (project_id, region_id, request_id): (u64, u64, &str),
    created: Option<(&'static str, String)>,
) -> Result<Response, ApiError> {
    let id = rest::uuid(cloud, SALT_TASK, 0);
    let task = Task::new(
        &id,
        task_type,
        cloud.call_count(),
        (project_id, region_id, request_id),
        created.as_ref(),
    );
    let created = created.map(|(_, id)| id);
    cloud.effect.tasks.push(task);
    // The id moved in: `json!` would serialize it into a copy.
    static ANSWER: rest::Template = rest::Template::new();
    Ok(Response {
        status: 200,
        body: ANSWER.object([("tasks", Value::Array(vec![id.into()]))]),
        created,
    })
}

// ---- helpers ----

fn body(request: &Request) -> Result<&Map<String, Value>, ApiError> {
    rest::body_object(request).map_err(|found| match found {
        Some(other) => validation("(body)", format!("`{other}` is not an object")),
        None => validation("(body)", "field required"),
    })
}

/// An id the path would carry, read from the body instead; `others` are the other fields
/// the body may hold.
fn id_from_body(request: &Request, key: &str, others: &[&str]) -> Result<String, ApiError> {
    let map = body(request)?;
    if let Some(k) = map.keys().find(|k| *k != key && !others.contains(&k.as_str())) {
        return Err(validation(k, "extra inputs are not permitted"));
    }
    match map.get(key) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(validation(key, "field required (or give the request path)")),
    }
}

/// `tags`: an object of string values, keys 1-255 and values up to 255 characters
/// (G1), shown as `tags_v2`.
fn tags(body: &Map<String, Value>) -> Result<Value, ApiError> {
    let map = match rest::field(body, "tags") {
        None => return Ok(json!([])),
        Some(Value::Object(map)) => map,
        Some(other) => return Err(validation("tags", format!("`{other}` is not an object"))),
    };
    let mut out = Vec::with_capacity(map.len());
    for (k, v) in map {
        let field = format!("tags.{k}");
        let Value::String(v) = v else {
            return Err(validation(&field, format!("`{v}` is not a string")));
        };
        if k.is_empty() || k.chars().count() > 255 || v.chars().count() > 255 {
            return Err(validation(
                &field,
                "keys of 1-255 and values of at most 255 characters are allowed",
            ));
        }
        out.push(json!({"key": k, "value": v, "read_only": false}));
    }
    Ok(Value::Array(out))
}

fn find_group<'a>(cloud: &'a Model, id: &str) -> Result<&'a Group, ApiError> {
    cloud
        .group_by_id(id)
        .filter(|g| g.kind == GroupKind::Gcore)
        .ok_or_else(|| not_found(format!("security group `{id}` could not be found")))
}

/// A path id that must be an integer (`project_id`, `region_id`).
fn int_id(text: &str, field: &str) -> Result<u64, ApiError> {
    text.parse::<u64>()
        .map_err(|_| validation(field, format!("`{text}` is not a valid integer")))
}

/// The `project_id` and `region_id` every path template starts with.
fn tenant(project: &str, region: &str) -> Result<(u64, u64), ApiError> {
    Ok((int_id(project, "project_id")?, int_id(region, "region_id")?))
}

/// The `N` `{...}` segments of `request.path` matched against `template`, or `None` when
/// the request has no path.
fn path_ids<'r, const N: usize>(
    request: &'r Request,
    template: &str,
) -> Result<Option<[&'r str; N]>, ApiError> {
    let Some(path) = rest::request_path(request) else {
        return Ok(None);
    };
    // A template has its `N` segments, so a match converts; a path that does not match
    // is not found.
    match rest::match_templates(&[template], path).and_then(|ids| <[&str; N]>::try_from(&ids[..]).ok()) {
        Some(ids) => Ok(Some(ids)),
        None => Err(neutron(
            404,
            "HTTPError",
            format!("not found: path `{path}` does not match `{template}`"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloud::Cloud;
    use crate::provider::{Options, Provider};

    fn cloud_with(defaults: GcoreDefaults) -> Cloud {
        Cloud::new(
            Provider::Gcore,
            Options {
                gcore_defaults: defaults,
                ..Options::default()
            },
        )
    }

    fn req(body: Value) -> Request {
        Request {
            body: Some(body),
            ..Request::default()
        }
    }

    fn directions(cloud: &Cloud, id: &str) -> Vec<(Direction, Option<Family>)> {
        cloud
            .group_by_id(id)
            .unwrap()
            .rules
            .iter()
            .map(|r| (r.direction, r.family))
            .collect()
    }

    /// A stored rule's print, from its fields borrowed (`rules::rule_print`), is the print
    /// of Neutron's key of the spec it reads back as (what a new rule's check computes):
    /// else a duplicate would go unnoticed.
    #[test]
    fn a_stored_rules_print_is_the_print_of_its_key() {
        let mut c = cloud_with(GcoreDefaults::EgressWhenNone);
        let other = c
            .call("CreateSecurityGroup", &req(json!({"name": "other"})))
            .created
            .unwrap();
        let r = c.call(
            "CreateSecurityGroup",
            &req(json!({"name": "web", "rules": [
                {"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 80, "remote_ip_prefix": "10.0.0.0/8"},
                {"direction": "ingress", "protocol": "udp", "remote_ip_prefix": "0.0.0.0/0"},
                {"direction": "ingress", "ethertype": "IPv6", "protocol": "any", "remote_group_id": other},
                {"direction": "egress", "protocol": "icmp", "port_range_min": 8, "port_range_max": 0},
                {"direction": "ingress", "ethertype": "IPv6", "protocol": "58", "remote_ip_prefix": "2001:db8::/32"}
            ]})),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let group = c.group_by_id(&r.created.unwrap()).unwrap();
        assert!(group.rules.len() >= 5);
        for rule in &group.rules {
            let key = crate::provider::print_of(rules::spec_of(rule).key());
            assert_eq!(rules::rule_print(rule), key, "{}", rule.shown);
        }
    }

    #[test]
    fn create_answers_a_finished_task_naming_the_group() {
        let mut c = cloud_with(GcoreDefaults::EgressWhenNone);
        let r = c.call("CreateSecurityGroup", &req(json!({"name": "web"})));
        assert_eq!(r.status, 200, "{}", r.body);
        let task_id = r.body["tasks"][0].as_str().unwrap().to_owned();
        let group_id = r.created.clone().unwrap();
        assert_ne!(task_id, group_id);
        let t = c.call(
            "GetTask",
            &Request {
                path: Some(format!("/cloud/v1/tasks/{task_id}")),
                ..Request::default()
            },
        );
        assert_eq!(t.status, 200);
        assert_eq!(t.body["state"], json!("FINISHED"));
        assert_eq!(t.body["created_resources"]["security_groups"], json!([group_id]));
    }

    #[test]
    fn defaults_follow_decision_6() {
        let egress = vec![
            (Direction::Egress, Some(Family::V4)),
            (Direction::Egress, Some(Family::V6)),
        ];
        let ingress22 =
            json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22});
        let mut c = cloud_with(GcoreDefaults::EgressWhenNone);
        let absent = c
            .call("CreateSecurityGroup", &req(json!({"name": "a"})))
            .created
            .unwrap();
        assert_eq!(directions(&c, &absent), egress);
        let empty = c
            .call("CreateSecurityGroup", &req(json!({"name": "b", "rules": []})))
            .created
            .unwrap();
        assert_eq!(directions(&c, &empty), vec![]);
        let only_ingress = c
            .call(
                "CreateSecurityGroup",
                &req(json!({"name": "c", "rules": [ingress22]})),
            )
            .created
            .unwrap();
        assert_eq!(directions(&c, &only_ingress).len(), 3);
        let with_egress = c
            .call(
                "CreateSecurityGroup",
                &req(json!({"name": "d", "rules": [{"direction": "egress", "protocol": "udp", "port_range_min": 53, "port_range_max": 53}]})),
            )
            .created
            .unwrap();
        assert_eq!(directions(&c, &with_egress).len(), 1);

        let mut t = cloud_with(GcoreDefaults::Template);
        let absent = t
            .call("CreateSecurityGroup", &req(json!({"name": "a"})))
            .created
            .unwrap();
        assert_eq!(directions(&t, &absent).len(), 4);
        let some = t
            .call(
                "CreateSecurityGroup",
                &req(json!({"name": "b", "rules": [ingress22]})),
            )
            .created
            .unwrap();
        assert_eq!(
            directions(&t, &some),
            vec![(Direction::Ingress, Some(Family::V4))]
        );
    }

    #[test]
    fn neutron_validation_names_the_exception() {
        let cases = [
            (
                json!({"direction": "ingress", "port_range_min": 22, "port_range_max": 22}),
                "SecurityGroupProtocolRequiredWithPorts",
            ),
            (
                json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 0, "port_range_max": 22}),
                "SecurityGroupInvalidPortValue",
            ),
            (
                json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 70000, "port_range_max": 70000}),
                "SecurityGroupInvalidPortValue",
            ),
            (
                json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 30, "port_range_max": 20}),
                "SecurityGroupInvalidPortRange",
            ),
            (
                json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 30}),
                "SecurityGroupInvalidPortRange",
            ),
            (
                json!({"direction": "ingress", "protocol": "icmp", "port_range_max": 0}),
                "SecurityGroupMissingIcmpType",
            ),
            (
                json!({"direction": "ingress", "protocol": "icmp", "port_range_min": 256}),
                "SecurityGroupInvalidIcmpValue",
            ),
            (
                json!({"direction": "ingress", "protocol": "gre", "port_range_min": 1, "port_range_max": 2}),
                "SecurityGroupInvalidProtocolForPort",
            ),
            (
                json!({"direction": "ingress", "protocol": "ipv6-icmp"}),
                "SecurityGroupEthertypeConflictWithProtocol",
            ),
            (
                json!({"direction": "ingress", "remote_ip_prefix": "2001:db8::/32"}),
                "SecurityGroupRuleParameterConflict",
            ),
            (
                json!({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/33"}),
                "InvalidInput",
            ),
            (
                json!({"direction": "ingress", "protocol": "bogus"}),
                "SecurityGroupRuleInvalidProtocol",
            ),
            (
                json!({"direction": "ingress", "remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "x"}),
                "SecurityGroupRemoteGroupAndRemoteIpPrefix",
            ),
            (json!({"direction": "sideways"}), "ValidationError"),
            (
                json!({"direction": "ingress", "multiport": "22"}),
                "ValidationError",
            ),
            (
                json!({"direction": "ingress", "remote_group_id": "nope"}),
                "SecurityGroupNotFound",
            ),
        ];
        for (rule, class) in cases {
            let mut c = cloud_with(GcoreDefaults::EgressWhenNone);
            let r = c.call(
                "CreateSecurityGroup",
                &req(json!({"name": "x", "rules": [rule.clone()]})),
            );
            assert_eq!(
                r.body["exception_class"].as_str(),
                Some(class),
                "{rule}: {}",
                r.body
            );
            assert_eq!(c.groups().count(), 0);
        }
    }

    #[test]
    fn duplicates_in_post_and_against_existing_rules() {
        let mut c = cloud_with(GcoreDefaults::EgressWhenNone);
        let a = json!({"direction": "ingress", "protocol": "tcp", "port_range_min": 22, "port_range_max": 22, "remote_ip_prefix": "0.0.0.0/0"});
        let b = json!({"direction": "ingress", "protocol": "6", "port_range_min": 22, "port_range_max": 22});
        let r = c.call(
            "CreateSecurityGroup",
            &req(json!({"name": "x", "rules": [a.clone(), b.clone()]})),
        );
        assert_eq!(
            (r.status, r.body["exception_class"].as_str()),
            (409, Some("DuplicateSecurityGroupRuleInPost"))
        );
        let g = c
            .call("CreateSecurityGroup", &req(json!({"name": "x", "rules": [a]})))
            .created
            .unwrap();
        let path = format!("/cloud/v2/security_groups/1/1/{g}/rules");
        let r = c.call(
            "CreateSecurityGroupRule",
            &Request {
                body: Some(b),
                path: Some(path),
                ..Request::default()
            },
        );
        assert_eq!(
            (r.status, r.body["exception_class"].as_str()),
            (409, Some("SecurityGroupRuleExists"))
        );
    }

    #[test]
    fn icmp_with_ipv6_becomes_ipv6_icmp_and_keeps_type_and_code() {
        let mut c = cloud_with(GcoreDefaults::EgressWhenNone);
        let g = c
            .call(
                "CreateSecurityGroup",
                &req(json!({"name": "x", "rules": [{"direction": "ingress", "ethertype": "IPv6", "protocol": "icmp", "port_range_min": 128, "port_range_max": 0}]})),
            )
            .created
            .unwrap();
        let rule = &c.group_by_id(&g).unwrap().rules[0];
        assert_eq!(rule.protocol, Some(58));
        assert_eq!(rule.shown["protocol"], json!("ipv6-icmp"));
        assert_eq!(
            rule.icmp,
            IcmpMatch {
                icmp_type: Some(128),
                icmp_code: Some(0)
            }
        );
        assert!(rule.dst_ports.is_any());
    }

    #[test]
    fn rules_are_added_and_deleted_through_tasks() {
        let mut c = cloud_with(GcoreDefaults::EgressWhenNone);
        let g = c
            .call("CreateSecurityGroup", &req(json!({"name": "x"})))
            .created
            .unwrap();
        let r = c.call(
            "CreateSecurityGroupRule",
            &Request {
                body: Some(json!({"direction": "ingress", "remote_group_id": g})),
                path: Some(format!("/cloud/v2/security_groups/1/1/{g}/rules")),
                ..Request::default()
            },
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let rule_id = r.created.unwrap();
        let group = c.group_by_id(&g).unwrap();
        assert_eq!(group.rules[2].remote, Remote::Group(group.key));
        let bad_path = Request {
            path: Some(format!("/cloud/v2/security_groups/x/1/{g}/rules/{rule_id}")),
            ..Request::default()
        };
        assert_eq!(
            c.call("DeleteSecurityGroupRule", &bad_path).body["exception_class"],
            json!("ValidationError")
        );
        let del = Request {
            path: Some(format!("/cloud/v2/security_groups/1/1/{g}/rules/{rule_id}")),
            ..Request::default()
        };
        assert_eq!(c.call("DeleteSecurityGroupRule", &del).status, 200);
        assert_eq!(c.group_by_id(&g).unwrap().rules.len(), 2);
        assert_eq!(c.call("DeleteSecurityGroupRule", &del).status, 404);
    }

    /// Clones share one task log: each sees its own tasks, also after both went on
    /// (the second to keep a task continues in a copy of its prefix).
    #[test]
    fn clones_that_diverge_keep_their_own_tasks() {
        let task_of = |r: &Response| r.body["tasks"][0].as_str().unwrap().to_owned();
        let get = |c: &mut Cloud, task: &str| {
            let r = c.call("GetTask", &req(json!({ "task_id": task })));
            (r.status, r.body["id"].as_str().map(str::to_owned))
        };
        let mut a = Cloud::new(Provider::Gcore, Options::default());
        let first = task_of(&a.call("CreateSecurityGroup", &req(json!({"name": "web"}))));
        let mut b = a.clone();
        let only_a = task_of(&a.call("CreateSecurityGroup", &req(json!({"name": "a"}))));
        let only_b = task_of(&b.call("CreateSecurityGroup", &req(json!({"name": "b"}))));
        assert_ne!(only_a, only_b);
        for c in [&mut a, &mut b] {
            assert_eq!(get(c, &first), (200, Some(first.clone())));
        }
        assert_eq!(get(&mut a, &only_a), (200, Some(only_a.clone())));
        assert_eq!(get(&mut a, &only_b).0, 404);
        assert_eq!(get(&mut b, &only_b), (200, Some(only_b.clone())));
        assert_eq!(get(&mut b, &only_a).0, 404);
        // Not the text of an id the emulator writes: never found, never an error of its own.
        assert_eq!(get(&mut a, &first.to_uppercase()).0, 404);
        let mut c = a.clone();
        let more = task_of(&c.call("CreateSecurityGroup", &req(json!({"name": "c"}))));
        assert_eq!(get(&mut a, &more).0, 404);
        assert_eq!(get(&mut c, &more), (200, Some(more.clone())));
    }

    /// Tasks are kept typed and written when read: `GetTask` answers, byte for byte, what
    /// it answered when each task was kept as JSON (these texts are that code's answers).
    #[test]
    fn get_task_answers_as_when_tasks_were_kept_as_json() {
        let mut c = Cloud::new(Provider::Gcore, Options::default());
        let g = c.call("CreateSecurityGroup", &req(json!({"name": "web"})));
        let gid = g.created.clone().unwrap();
        let r = c.call(
            "CreateSecurityGroupRule",
            &Request {
                body: Some(json!({"direction": "ingress", "protocol": "tcp",
                    "port_range_min": 22, "port_range_max": 22})),
                path: Some(format!("/cloud/v2/security_groups/7/9/{gid}/rules")),
                ..Request::default()
            },
        );
        let rid = r.created.clone().unwrap();
        let d = c.call(
            "DeleteSecurityGroupRule",
            &Request {
                path: Some(format!("/cloud/v2/security_groups/1/1/{gid}/rules/{rid}")),
                ..Request::default()
            },
        );
        let before = [
            r#"{"id":"30b85fd1-13c9-4521-93ed-fcf2c4785542","task_type":"create_security_group","state":"FINISHED","created_on":"2024-01-01T00:00:01Z","updated_on":"2024-01-01T00:00:01Z","finished_on":"2024-01-01T00:00:01Z","user_id":1,"project_id":1,"region_id":1,"request_id":"0825a4e813a640aa95df60e8f1e07bc4","created_resources":{"security_groups":["92efbbbd-1b2b-4131-89a9-2a0aeeafacf5"]},"error":null}"#,
            r#"{"id":"e755bbc4-0678-4e77-8a53-50e41102a9d9","task_type":"create_security_group_rule","state":"FINISHED","created_on":"2024-01-01T00:00:02Z","updated_on":"2024-01-01T00:00:02Z","finished_on":"2024-01-01T00:00:02Z","user_id":1,"project_id":7,"region_id":9,"request_id":"5f437695da2b220b4659ceee27704cc5","created_resources":{"security_group_rules":["9251b5f5-592f-424c-8851-a48d716efa1e"]},"error":null}"#,
            r#"{"id":"f0e4147f-ee85-4e9e-b48b-0749a2e769b8","task_type":"delete_security_group_rule","state":"FINISHED","created_on":"2024-01-01T00:00:03Z","updated_on":"2024-01-01T00:00:03Z","finished_on":"2024-01-01T00:00:03Z","user_id":1,"project_id":1,"region_id":1,"request_id":"55aa5e7cb2159d92e10f802597a4f610","created_resources":null,"error":null}"#,
        ];
        for (call, want) in [&g, &r, &d].into_iter().zip(before) {
            let task = call.body["tasks"][0].as_str().unwrap();
            let got = c.call(
                "GetTask",
                &Request {
                    path: Some(format!("/cloud/v1/tasks/{task}")),
                    ..Request::default()
                },
            );
            assert_eq!(serde_json::to_string(&got.body).unwrap(), want);
        }
    }
}
