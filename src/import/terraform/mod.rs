//! Terraform: `terraform show -json` of a state or a plan, and raw `.tfstate` (version 4),
//! read into the same [`Inventory`] the describe readers fill (import-formats.md sections
//! 2 and 3, traps 17-20).
//!
//! * **State** (`show -json`): `values.root_module.resources[]` and, recursively,
//!   `child_modules[]` \[TF1\]\[TF2\]. `format_version` from 0.1 up to (not including) 2.0 is
//!   read (minor versions only add keys); a new major is refused.
//! * **Raw state** (`terraform.tfstate`, `version` 4): `resources[].instances[].attributes`,
//!   addresses rebuilt from `module`, `mode`, `type`, `name` and `index_key` \[TF7\].
//! * **Plan** (`show -json plan.out`): [`read_plan`] gives both sides. *Before* is
//!   `prior_state` (empty when absent); *after* is before with every managed
//!   `resource_changes[]` entry applied (section 3): `delete` removes, `create`/`update`/
//!   replace take `change.after` with `after_unknown`, `no-op`/`read` keep, `forget` keeps
//!   (the object stays in the cloud, unmanaged). An id unknown until apply becomes
//!   [`Id::Planned`] (key `tf:<address>`), and a value referring to one is resolved through
//!   the `configuration` block's `references` (module-relative, un-indexed; `var.` and
//!   module outputs traced where simple). Every unknown value a verdict depends on (rule
//!   ports, protocol, peers, action, priority; membership; group order) becomes an
//!   [`UnresolvedKind::PlanUnknown`] item naming the address and the attribute.
//!
//! Resource types are read per provider (`alicloud.rs`, `huaweicloud.rs`, `gcore.rs`), the
//! rules in the same create-request fields the describe readers produce; a resource of
//! another type (data sources too) is listed in [`Inventory::skipped`] with its address,
//! never guessed at. Keyed on `type`, not on `provider_name` (section 2.0).

mod alicloud;
mod gcore;
mod huaweicloud;
mod resolve;
mod value;

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::build::{Builder, References};
use super::json::{key, show};
use super::{
    Defaults, Document, EndpointRecord, Id, ImportError, Inventory, Origin, RuleRecord, Skipped,
    UnresolvedKind,
};
use crate::Provider;
use resolve::Resolver;
use value::{Got, Node};

/// The two sides of a plan.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanInventories {
    /// The prior state the plan starts from (empty when the plan has none).
    pub before: Inventory,
    /// The state the plan would leave: before with every managed change applied; ids
    /// unknown until apply are `tf:<address>` keys ([`Id::Planned`]), and every unknown
    /// value a verdict depends on is an unresolved item.
    pub after: Inventory,
}

/// Which kind of Terraform document.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `terraform show -json` of a state.
    State,
    /// `terraform show -json` of a saved plan.
    Plan,
    /// A raw `terraform.tfstate` file (version 4).
    RawState,
}

/// Tells which kind of Terraform document `value` is, after checking its version.
///
/// # Errors
/// [`ImportError::Field`] for a `format_version` of a new major (2.0 and later) or not of
/// the form `MAJOR.MINOR`, or a raw state of another `version` than 4;
/// [`ImportError::Unrecognised`] for a document that is not Terraform JSON.
pub fn kind(file: &str, value: &Value) -> Result<Kind, ImportError> {
    let Some(o) = value.as_object() else {
        return Err(ImportError::Unrecognised {
            file: file.to_owned(),
            message: "not a Terraform document (a top-level object is expected)".to_owned(),
        });
    };
    if o.contains_key("format_version") {
        format_version(file, "format_version", &o["format_version"])?;
        if o.contains_key("resource_changes")
            || o.contains_key("prior_state")
            || o.contains_key("planned_values")
        {
            return Ok(Kind::Plan);
        }
        return Ok(Kind::State);
    }
    if let Some(v) = o.get("version") {
        if v.as_u64() == Some(4) {
            return Ok(Kind::RawState);
        }
        return Err(ImportError::Field {
            origin: Origin::new(file, "version"),
            message: format!(
                "`{}`: sgeval reads raw state files of version 4 (Terraform 0.12 and later); run `terraform show -json` instead",
                show(v)
            ),
        });
    }
    Err(ImportError::Unrecognised {
        file: file.to_owned(),
        message: "not a Terraform document: no `format_version` and no raw-state `version`".to_owned(),
    })
}

/// `format_version` must be `0.x` (x >= 1) or `1.x` \[TF1\]\[TF2\].
fn format_version(file: &str, path: &str, v: &Value) -> Result<(), ImportError> {
    let text = v.as_str().unwrap_or_default();
    let parsed = text
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)));
    let error = |why: &str| ImportError::Field {
        origin: Origin::new(file, path),
        message: format!("`{}`: {why}", show(v)),
    };
    match parsed {
        Some((0, minor)) if minor >= 1 => Ok(()),
        Some((1, _)) => Ok(()),
        Some((major, _)) if major >= 2 => Err(error(
            "a new major version of Terraform's JSON format; sgeval reads 0.1 up to 1.x",
        )),
        _ => Err(error(
            "not a Terraform JSON format version (MAJOR.MINOR, 0.1 up to 1.x)",
        )),
    }
}

/// One resource instance: its address and values (and, on a plan's planned side, which of
/// them are unknown).
#[derive(Clone, Debug)]
pub(crate) struct Instance {
    /// Full address (`module.net[0].alicloud_security_group.web["a"]`).
    pub address: String,
    /// Module instance address (`module.net[0]`, `""` at the root).
    pub module: String,
    /// Absolute un-indexed configuration address (`module.net.alicloud_security_group.web`).
    pub config_address: String,
    /// Resource type.
    pub rtype: String,
    /// Managed resource (not a data source).
    pub managed: bool,
    /// The attribute values.
    pub values: Value,
    /// `after_unknown` on a plan's planned side.
    pub unknown: Option<Value>,
    /// JSON path of `values` in the document.
    pub path: String,
    /// The file it was read from.
    pub file: String,
}

impl Instance {
    pub(crate) fn node(&self) -> Node<'_> {
        Node::root(&self.values, self.unknown.as_ref(), &self.file, &self.path)
    }

    pub(crate) fn origin(&self) -> Origin {
        Origin::new(self.file.clone(), self.address.clone())
    }

    /// An origin below the resource (`<address>.rules[2]`).
    pub(crate) fn origin_at(&self, path: &str) -> Origin {
        Origin::new(self.file.clone(), value::join(&self.address, path))
    }

    /// The instance's own key: its id, or `tf:<address>` while the id is unknown.
    pub(crate) fn key(&self) -> Result<String, ImportError> {
        let file = self.file.as_str();
        match self.node().get("id").text("id")? {
            Got::Known(id) => Ok(id),
            Got::Unknown => Ok(Id::Planned(self.address.clone()).key()),
            Got::Unset if self.unknown.is_some() => Ok(Id::Planned(self.address.clone()).key()),
            Got::Unset => Err(ImportError::Field {
                origin: Origin::new(file, value::join(&self.path, "id")),
                message: format!("resource `{}` has no `id`", self.address),
            }),
        }
    }
}

/// `[0]` or `["key"]`.
fn index_text(file: &str, path: &str, v: &Value) -> Result<String, ImportError> {
    match v {
        Value::Number(n) if n.is_u64() => Ok(format!("[{n}]")),
        Value::String(s) => Ok(format!("[{}]", Value::from(s.clone()))),
        other => Err(ImportError::Field {
            origin: Origin::new(file, path),
            message: format!("`{}` is not a count index or for_each key", show(other)),
        }),
    }
}

fn field_error(file: &str, path: &str, message: String) -> ImportError {
    ImportError::Field {
        origin: Origin::new(file, path),
        message,
    }
}

fn obj<'v>(file: &str, path: &str, v: &'v Value, what: &str) -> Result<&'v Map<String, Value>, ImportError> {
    v.as_object().ok_or_else(|| {
        field_error(
            file,
            path,
            format!("{what} must be an object, found `{}`", show(v)),
        )
    })
}

fn arr<'v>(file: &str, path: &str, v: Option<&'v Value>) -> Result<&'v [Value], ImportError> {
    match v {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(field_error(
            file,
            path,
            format!("must be an array, found `{}`", show(other)),
        )),
    }
}

fn string<'v>(file: &str, path: &str, o: &'v Map<String, Value>, k: &str) -> Result<&'v str, ImportError> {
    match o.get(k) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        other => Err(field_error(
            file,
            &key(path, k),
            format!(
                "must be a non-empty string, found `{}`",
                show(other.unwrap_or(&Value::Null))
            ),
        )),
    }
}

/// A `show -json` module: its resources and, recursively, its child modules'.
fn walk_module(file: &str, path: &str, m: &Value, out: &mut Vec<Instance>) -> Result<(), ImportError> {
    let mo = obj(file, path, m, "a module")?;
    let module = match mo.get("address") {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    for (i, r) in arr(file, &key(path, "resources"), mo.get("resources"))?
        .iter()
        .enumerate()
    {
        let rpath = format!("{}[{i}]", key(path, "resources"));
        let ro = obj(file, &rpath, r, "a resource")?;
        let address = string(file, &rpath, ro, "address")?.to_owned();
        let rtype = string(file, &rpath, ro, "type")?.to_owned();
        let name = string(file, &rpath, ro, "name")?;
        if ro.get("deposed_key").is_some_and(|d| !d.is_null()) {
            // An object `create_before_destroy` replaced, pending deletion: not the address's
            // current object (it is under the same address), so it is left out.
            continue;
        }
        let managed = ro.get("mode").and_then(Value::as_str) != Some("data");
        let values = match ro.get("values") {
            None | Some(Value::Null) => Value::Object(Map::new()),
            Some(v @ Value::Object(_)) => v.clone(),
            Some(other) => {
                return Err(field_error(
                    file,
                    &key(&rpath, "values"),
                    format!("must be an object, found `{}`", show(other)),
                ))
            }
        };
        let data = if managed { "" } else { "data." };
        out.push(Instance {
            config_address: resolve::strip_indexes(&format!(
                "{}{data}{rtype}.{name}",
                if module.is_empty() {
                    String::new()
                } else {
                    format!("{module}.")
                }
            )),
            address,
            module: module.clone(),
            rtype,
            managed,
            values,
            unknown: None,
            path: key(&rpath, "values"),
            file: file.to_owned(),
        });
    }
    for (i, c) in arr(file, &key(path, "child_modules"), mo.get("child_modules"))?
        .iter()
        .enumerate()
    {
        walk_module(file, &format!("{}[{i}]", key(path, "child_modules")), c, out)?;
    }
    Ok(())
}

/// The instances of a `show -json` state representation (`values.root_module`).
fn state_instances(file: &str, path: &str, state: &Value) -> Result<Vec<Instance>, ImportError> {
    let mut out = Vec::new();
    let so = obj(file, path, state, "a state")?;
    if let Some(fv) = so.get("format_version") {
        format_version(file, &key(path, "format_version"), fv)?;
    }
    match so.get("values") {
        None | Some(Value::Null) => {}
        Some(values) => {
            let vpath = key(path, "values");
            let vo = obj(file, &vpath, values, "`values`")?;
            if let Some(root) = vo.get("root_module") {
                walk_module(file, &key(&vpath, "root_module"), root, &mut out)?;
            }
        }
    }
    Ok(out)
}

/// The instances of a raw `.tfstate` (version 4) \[TF7\].
fn raw_instances(file: &str, state: &Value) -> Result<Vec<Instance>, ImportError> {
    let mut out = Vec::new();
    let so = obj(file, "", state, "a state")?;
    for (i, r) in arr(file, "resources", so.get("resources"))?.iter().enumerate() {
        let rpath = format!("resources[{i}]");
        let ro = obj(file, &rpath, r, "a resource")?;
        let rtype = string(file, &rpath, ro, "type")?.to_owned();
        let name = string(file, &rpath, ro, "name")?;
        let module = match ro.get("module") {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        let managed = ro.get("mode").and_then(Value::as_str) != Some("data");
        let data = if managed { "" } else { "data." };
        let base = format!(
            "{}{data}{rtype}.{name}",
            if module.is_empty() {
                String::new()
            } else {
                format!("{module}.")
            }
        );
        for (j, inst) in arr(file, &key(&rpath, "instances"), ro.get("instances"))?
            .iter()
            .enumerate()
        {
            let ipath = format!("{}[{j}]", key(&rpath, "instances"));
            let io = obj(file, &ipath, inst, "an instance")?;
            if io.contains_key("deposed") {
                // A deposed object (create_before_destroy) has no address of its own.
                continue;
            }
            let index = match io.get("index_key") {
                None | Some(Value::Null) => String::new(),
                Some(k) => index_text(file, &key(&ipath, "index_key"), k)?,
            };
            let values = match io.get("attributes") {
                Some(v @ Value::Object(_)) => v.clone(),
                Some(other) => {
                    return Err(field_error(
                        file,
                        &key(&ipath, "attributes"),
                        format!("must be an object, found `{}`", show(other)),
                    ))
                }
                None if io.contains_key("attributes_flat") => {
                    return Err(field_error(
                        file,
                        &key(&ipath, "attributes_flat"),
                        "flatmap attributes (a state upgraded from Terraform 0.11) are not read; run `terraform refresh` or `terraform show -json`".to_owned(),
                    ))
                }
                None => Value::Object(Map::new()),
            };
            out.push(Instance {
                address: format!("{base}{index}"),
                module: module.clone(),
                config_address: resolve::strip_indexes(&base),
                rtype: rtype.clone(),
                managed,
                values,
                unknown: None,
                path: key(&ipath, "attributes"),
                file: file.to_owned(),
            });
        }
    }
    Ok(out)
}

/// One `resource_changes[]` entry as read.
struct Change {
    address: String,
    /// The address the object had before a `moved` block.
    previous: Option<String>,
    actions: Vec<String>,
    instance: Option<Instance>,
    deposed: bool,
}

fn changes(file: &str, plan: &Map<String, Value>) -> Result<Vec<Change>, ImportError> {
    let mut out = Vec::new();
    for (i, c) in arr(file, "resource_changes", plan.get("resource_changes"))?
        .iter()
        .enumerate()
    {
        let cpath = format!("resource_changes[{i}]");
        let co = obj(file, &cpath, c, "a resource change")?;
        let address = string(file, &cpath, co, "address")?.to_owned();
        let rtype = string(file, &cpath, co, "type")?.to_owned();
        let name = string(file, &cpath, co, "name")?;
        let managed = co.get("mode").and_then(Value::as_str) != Some("data");
        let module = match co.get("module_address") {
            Some(Value::String(s)) => s.clone(),
            _ => String::new(),
        };
        let chpath = key(&cpath, "change");
        let change = obj(
            file,
            &chpath,
            co.get("change").unwrap_or(&Value::Null),
            "`change`",
        )?;
        let apath = key(&chpath, "actions");
        let actions: Vec<String> = arr(file, &apath, change.get("actions"))?
            .iter()
            .enumerate()
            .map(|(j, a)| match a {
                Value::String(s)
                    if matches!(
                        s.as_str(),
                        "no-op" | "create" | "read" | "update" | "delete" | "forget"
                    ) =>
                {
                    Ok(s.clone())
                }
                other => Err(field_error(
                    file,
                    &format!("{apath}[{j}]"),
                    format!(
                        "`{}` is not a Terraform plan action (no-op, create, read, update, delete, forget)",
                        show(other)
                    ),
                )),
            })
            .collect::<Result<_, _>>()?;
        if actions.is_empty() {
            return Err(field_error(
                file,
                &apath,
                "is empty: a change names its actions".to_owned(),
            ));
        }
        let instance = match change.get("after") {
            None | Some(Value::Null) => None,
            Some(after @ Value::Object(_)) => {
                let unknown = match change.get("after_unknown") {
                    None | Some(Value::Null) | Some(Value::Bool(false)) => Value::Object(Map::new()),
                    Some(u @ (Value::Object(_) | Value::Bool(true))) => u.clone(),
                    Some(other) => {
                        return Err(field_error(
                            file,
                            &key(&chpath, "after_unknown"),
                            format!("must be an object, found `{}`", show(other)),
                        ))
                    }
                };
                let data = if managed { "" } else { "data." };
                Some(Instance {
                    config_address: resolve::strip_indexes(&format!(
                        "{}{data}{rtype}.{name}",
                        if module.is_empty() {
                            String::new()
                        } else {
                            format!("{module}.")
                        }
                    )),
                    address: address.clone(),
                    module,
                    rtype,
                    managed,
                    values: after.clone(),
                    unknown: Some(unknown),
                    path: key(&chpath, "after"),
                    file: file.to_owned(),
                })
            }
            Some(other) => {
                return Err(field_error(
                    file,
                    &key(&chpath, "after"),
                    format!("must be an object or null, found `{}`", show(other)),
                ))
            }
        };
        out.push(Change {
            previous: co
                .get("previous_address")
                .and_then(Value::as_str)
                .filter(|p| *p != address)
                .map(str::to_owned),
            address,
            actions,
            instance,
            deposed: co.get("deposed").is_some_and(|d| !d.is_null()),
        });
    }
    Ok(out)
}

/// The planned side: the prior instances with every change applied (section 3).
fn apply(
    file: &str,
    prior: &[Instance],
    changes: Vec<Change>,
    notes: &mut Vec<String>,
) -> Result<Vec<Instance>, ImportError> {
    let mut after: Vec<Option<Instance>> = prior.iter().cloned().map(Some).collect();
    let mut at: HashMap<String, usize> = prior
        .iter()
        .enumerate()
        .map(|(i, r)| (r.address.clone(), i))
        .collect();
    for (i, c) in changes.into_iter().enumerate() {
        if c.deposed {
            // A deposed object is destroyed by the plan; it is not among the current objects.
            notes.push(format!(
                "{file}: resource_changes[{i}]: a deposed object of `{}` ({:?}) is not modelled",
                c.address, c.actions
            ));
            continue;
        }
        if let Some(prev) = &c.previous {
            // `moved`: the prior object now lives at the new address.
            if let Some(j) = at.remove(prev) {
                if let Some(mut old) = after[j].take() {
                    old.address.clone_from(&c.address);
                    at.insert(c.address.clone(), after.len());
                    after.push(Some(old));
                }
            }
        }
        let acts: Vec<&str> = c.actions.iter().map(String::as_str).collect();
        match acts.as_slice() {
            ["no-op"] | ["read"] | ["forget"] => {
                if !at.contains_key(&c.address) {
                    if let Some(inst) = c.instance {
                        at.insert(c.address.clone(), after.len());
                        after.push(Some(inst));
                    }
                }
            }
            ["delete"] => {
                if let Some(&j) = at.get(&c.address) {
                    after[j] = None;
                }
            }
            ["create"] | ["update"] | ["delete", "create"] | ["create", "delete"] | ["create", "forget"] => {
                let Some(inst) = c.instance else {
                    return Err(field_error(
                        file,
                        &format!("resource_changes[{i}].change.after"),
                        format!(
                            "is null for a `{}` change of `{}`",
                            c.actions.join("/"),
                            c.address
                        ),
                    ));
                };
                if acts == ["create", "forget"] {
                    // The old object leaves the state but stays in the cloud.
                    if let Some(&j) = at.get(&c.address) {
                        if let Some(mut old) = after[j].take() {
                            old.address = format!("{} (forgotten)", old.address);
                            after.push(Some(old));
                        }
                    }
                }
                match at.get(&c.address) {
                    Some(&j) => after[j] = Some(inst),
                    None => {
                        at.insert(c.address.clone(), after.len());
                        after.push(Some(inst));
                    }
                }
            }
            other => {
                return Err(field_error(
                    file,
                    &format!("resource_changes[{i}].change.actions"),
                    format!("`{other:?}` is not a combination of actions Terraform plans"),
                ))
            }
        }
    }
    Ok(after.into_iter().flatten().collect())
}

/// Which provider's reader knows a resource type.
fn provider_of(rtype: &str) -> Option<Provider> {
    if alicloud::ENS_TYPES.contains(&rtype) {
        Some(Provider::Ens)
    } else if alicloud::ECS_TYPES.contains(&rtype) {
        Some(Provider::Ecs)
    } else if huaweicloud::TYPES.contains(&rtype) {
        Some(Provider::Huawei)
    } else if gcore::TYPES.contains(&rtype) {
        Some(Provider::Gcore)
    } else {
        None
    }
}

/// The provider of a set of instances: the one asked for, or the only one whose resources
/// they hold.
fn decide(file: &str, instances: &[&Instance], asked: Option<Provider>) -> Result<Provider, ImportError> {
    let mut found: Vec<(Provider, &str)> = Vec::new();
    for i in instances.iter().filter(|i| i.managed) {
        if let Some(p) = provider_of(&i.rtype) {
            if !found.iter().any(|(q, _)| *q == p) {
                found.push((p, &i.address));
            }
        }
    }
    match asked {
        Some(p) => {
            if !found.is_empty() && !found.iter().any(|(q, _)| *q == p) {
                return Err(ImportError::ProviderMismatch {
                    file: file.to_owned(),
                    expected: p,
                    found: found[0].0,
                });
            }
            Ok(p)
        }
        None => match found.as_slice() {
            [(p, _)] => Ok(*p),
            [] => Err(ImportError::Unrecognised {
                file: file.to_owned(),
                message: "a Terraform document without a resource of a type sgeval reads (alicloud, huaweicloud or gcore security groups, rules, instances, interfaces); give the provider to import an empty state".to_owned(),
            }),
            many => Err(ImportError::Unrecognised {
                file: file.to_owned(),
                message: format!(
                    "resources of several providers ({}); give the provider to import",
                    many.iter()
                        .map(|(p, a)| format!("{} at `{a}`", p.name()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        },
    }
}

/// A rule's direction and its request fields.
pub(crate) type RuleBody = (crate::Direction, Map<String, Value>);

/// What a reference to another object came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ref {
    /// Not set.
    Unset,
    /// The object's id (or `tf:<address>` key).
    Id(String),
    /// Unknown and not resolvable; an unresolved item was recorded.
    Open,
}

/// The head of a Neutron-shaped rule (Huawei, Gcore): its direction, and its ethertype
/// written into `fields`; `None` when the direction is unknown until apply (listed as
/// unresolved). `omitted` says whether the configuration leaves an attribute to the
/// provider.
pub(super) fn neutron_head(
    ctx: &mut Ctx<'_>,
    inst: &Instance,
    r: &Node<'_>,
    path: &str,
    subject: &str,
    omitted: &dyn Fn(&Ctx<'_>, &str) -> bool,
    fields: &mut Map<String, Value>,
) -> Result<Option<crate::Direction>, ImportError> {
    let p = |a: &str| value::join(path, a);
    let direction = match r.get("direction").text(&p("direction"))? {
        Got::Known(d) if d.eq_ignore_ascii_case("ingress") => crate::Direction::Ingress,
        Got::Known(d) if d.eq_ignore_ascii_case("egress") => crate::Direction::Egress,
        Got::Known(d) => return Err(r.error(&p("direction"), format!("`{d}` must be ingress or egress"))),
        Got::Unknown => {
            ctx.plan_unknown(subject, &p("direction"), inst, "the rule's direction");
            return Ok(None);
        }
        Got::Unset => return Err(r.error(&p("direction"), "is missing".to_owned())),
    };
    fields.insert("direction".into(), Value::from(direction.to_string()));
    match r.get("ethertype").text(&p("ethertype"))? {
        Got::Known(e) => {
            let canon = match e.to_ascii_lowercase().as_str() {
                "ipv4" => "IPv4",
                "ipv6" => "IPv6",
                _ => return Err(r.error(&p("ethertype"), format!("`{e}` must be IPv4 or IPv6"))),
            };
            fields.insert("ethertype".into(), Value::from(canon));
        }
        Got::Unknown if !omitted(ctx, "ethertype") => {
            ctx.plan_unknown(subject, &p("ethertype"), inst, "what the rule matches")
        }
        _ => {}
    }
    Ok(Some(direction))
}

/// The reader's state while building one inventory.
pub(crate) struct Ctx<'a> {
    pub provider: Provider,
    pub b: Builder,
    resolver: Option<&'a Resolver<'a>>,
    /// Group key -> its Terraform address and defaults, for groups a resource describes.
    groups: HashMap<String, (Option<String>, Defaults)>,
    /// Rule ids owned by rule resources anywhere in the document (both sides of a plan):
    /// a group's computed rule list repeats them, and may still show deleted ones.
    pub managed_rule_ids: &'a HashSet<String>,
    /// The prior side when building a plan's planned side.
    pub before: Option<&'a Inventory>,
    endpoints: Vec<EndpointRecord>,
    endpoint_index: HashMap<String, usize>,
    /// Endpoint name -> whether the groups came from a source of its own (a port, an ENI).
    endpoint_rank: HashMap<String, u8>,
    /// Address groups by key -> Terraform address.
    address_group_addresses: HashMap<String, String>,
    /// ECS groups in a VPC (their `vpc_id` known or unknown, but set).
    pub vpc_groups: HashSet<String>,
}

impl<'a> Ctx<'a> {
    /// Records an unresolved item about `subject` read at `inst`.
    pub(crate) fn open(
        &mut self,
        kind: UnresolvedKind,
        subject: &str,
        field: &str,
        origin: Origin,
        message: String,
    ) {
        self.b.unresolved(kind, subject, Some(field), origin, message);
    }

    /// A value unknown until apply.
    pub(crate) fn plan_unknown(&mut self, subject: &str, field: &str, inst: &Instance, what: &str) {
        let message = format!(
            "`{}`: `{field}` is unknown until apply; {what} depends on it",
            inst.address
        );
        self.open(
            UnresolvedKind::PlanUnknown,
            subject,
            field,
            inst.origin(),
            message,
        );
    }

    /// Whether the configuration sets an attribute (a plan's planned side only).
    pub(crate) fn configured(&self, inst: &Instance, attr: &str) -> bool {
        self.resolver.is_none_or(|r| r.configured(inst, attr))
    }

    /// Whether the configuration sets an attribute inside nested blocks.
    pub(crate) fn configured_path(&self, inst: &Instance, path: &[&str]) -> bool {
        self.resolver.is_none_or(|r| r.configured_path(inst, path))
    }

    /// A single reference to an object of types `want` (a group id, an instance id): known,
    /// unset, or resolved to the planned object through the configuration.
    pub(crate) fn reference(
        &mut self,
        inst: &Instance,
        node: Node<'_>,
        path: &[&str],
        want: &[&str],
        subject: &str,
        what: &str,
    ) -> Result<Ref, ImportError> {
        let shown = path.join(".");
        match node.text(&shown)? {
            Got::Unset => Ok(Ref::Unset),
            Got::Known(id) => Ok(Ref::Id(id)),
            Got::Unknown => {
                if let Some(r) = self.resolver {
                    let traced = r.trace(inst, path, want);
                    let planned: Vec<_> = traced.targets.iter().filter(|t| t.id.is_none()).collect();
                    if !traced.opaque && planned.len() == 1 {
                        return Ok(Ref::Id(Id::Planned(planned[0].address.clone()).key()));
                    }
                }
                let message = format!(
                    "`{}`: `{shown}` is unknown until apply and its configuration references do not name one planned {what}",
                    inst.address
                );
                self.open(
                    UnresolvedKind::PlanUnknown,
                    subject,
                    &shown,
                    inst.origin(),
                    message,
                );
                Ok(Ref::Open)
            }
        }
    }

    /// A list of references (group ids of a NIC): the ids, and whether the list is complete.
    /// Unknown elements resolve when the configuration references exactly as many planned
    /// objects of types `want` as there are unknown elements.
    pub(crate) fn references(
        &mut self,
        inst: &Instance,
        node: Node<'_>,
        path: &[&str],
        want: &[&str],
        subject: &str,
        what: &str,
    ) -> Result<(Vec<String>, bool), ImportError> {
        let shown = path.join(".");
        if node.unknown() {
            let traced = self.resolver.map(|r| r.trace(inst, path, want));
            // A wholly unknown list: its length is not known either.
            let mut ids: Vec<String> = traced
                .iter()
                .flat_map(|t| t.targets.iter())
                .map(|t| {
                    t.id.clone()
                        .unwrap_or_else(|| Id::Planned(t.address.clone()).key())
                })
                .collect();
            ids.dedup();
            let message = format!(
                "`{}`: `{shown}` is unknown until apply (the whole list); {what}",
                inst.address
            );
            self.open(
                UnresolvedKind::PlanUnknown,
                subject,
                &shown,
                inst.origin(),
                message,
            );
            return Ok((ids, false));
        }
        let items = node.items(&shown)?;
        self.resolve_items(inst, &items, path, want, subject, what)
    }

    /// The ids of list elements (each node at the id), unknown ones resolved as
    /// [`Ctx::references`] does.
    pub(crate) fn resolve_items(
        &mut self,
        inst: &Instance,
        items: &[Node<'_>],
        path: &[&str],
        want: &[&str],
        subject: &str,
        what: &str,
    ) -> Result<(Vec<String>, bool), ImportError> {
        let shown = path.join(".");
        let mut ids = Vec::new();
        let mut unknown = 0usize;
        for (i, item) in items.iter().enumerate() {
            match item.text(&format!("{shown}[{i}]"))? {
                Got::Known(id) => ids.push(id),
                Got::Unset => {}
                Got::Unknown => unknown += 1,
            }
        }
        if unknown == 0 {
            return Ok((ids, true));
        }
        let traced = self.resolver.map(|r| r.trace(inst, path, want));
        let planned: Vec<String> = traced
            .iter()
            .flat_map(|t| t.targets.iter())
            .filter(|t| t.id.is_none())
            .map(|t| Id::Planned(t.address.clone()).key())
            .collect();
        let opaque = traced.as_ref().is_none_or(|t| t.opaque);
        if !opaque && planned.len() == unknown {
            ids.extend(planned);
            return Ok((ids, true));
        }
        let message = format!(
            "`{}`: {unknown} element(s) of `{shown}` are unknown until apply and the configuration references do not name as many planned objects; {what}",
            inst.address
        );
        self.open(
            UnresolvedKind::PlanUnknown,
            subject,
            &shown,
            inst.origin(),
            message,
        );
        Ok((ids, false))
    }

    /// Registers a group a resource describes.
    pub(crate) fn group(&mut self, inst: &Instance, id: &str, defaults: Defaults) -> usize {
        let at = super::json::At::new(&inst.file, &inst.address);
        let gi = self.b.group(id, &at);
        self.groups
            .insert(id.to_owned(), (Some(inst.address.clone()), defaults));
        gi
    }

    /// The index of the group with key `id` (created, undescribed, on first sight).
    pub(crate) fn group_index(&mut self, id: &str, inst: &Instance) -> usize {
        let at = super::json::At::new(&inst.file, &inst.address);
        self.b.group(id, &at)
    }

    /// For an existing group whose computed rule list a plan shows unknown (an update): the
    /// rules of the prior list that no rule resource owns (defaults kept, console rules) stay,
    /// and the group counts as listed. `false` when there is no such prior list.
    pub(crate) fn carry_listed(&mut self, id: &str, inst: &Instance) -> Result<bool, ImportError> {
        let Some(prior) = self
            .before
            .and_then(|b| b.group(id))
            .filter(|g| g.defaults == Defaults::Listed)
        else {
            return Ok(false);
        };
        let carried: Vec<RuleRecord> = prior
            .rules
            .iter()
            .filter(|r| r.address.is_none())
            .cloned()
            .collect();
        let gi = self.group_index(id, inst);
        self.groups
            .insert(id.to_owned(), (Some(inst.address.clone()), Defaults::Listed));
        for r in carried {
            self.rule(gi, r)?;
        }
        self.b.notes.push(format!(
            "{}: `{}`: its rule list is unknown until apply; the rules of the prior list that no rule resource owns are kept",
            inst.file, inst.address
        ));
        Ok(true)
    }

    /// Adds a rule to group `gi`.
    pub(crate) fn rule(&mut self, gi: usize, rule: RuleRecord) -> Result<(), ImportError> {
        let (file, path) = (rule.origin.file.clone(), rule.origin.path.clone());
        let at = super::json::At::new(&file, &path);
        self.b.rule(gi, rule, None, &at)
    }

    /// Adds an endpoint, or merges it into one of the same name: a source that describes
    /// the NIC itself (`own`, a port or ENI resource) gives the groups over one that
    /// describes it through its instance; addresses and the instance are joined.
    pub(crate) fn endpoint(&mut self, e: EndpointRecord, own: bool) {
        let rank = u8::from(own);
        match self.endpoint_index.get(&e.name) {
            None => {
                self.endpoint_index.insert(e.name.clone(), self.endpoints.len());
                self.endpoint_rank.insert(e.name.clone(), rank);
                self.endpoints.push(e);
            }
            Some(&i) => {
                let old = &mut self.endpoints[i];
                let old_rank = self.endpoint_rank[&e.name];
                for ip in e.ips {
                    if !old.ips.contains(&ip) {
                        old.ips.push(ip);
                    }
                }
                if old.instance.is_none() {
                    old.instance = e.instance;
                }
                if rank > old_rank || (rank == old_rank && old.groups.is_empty()) {
                    old.groups = e.groups;
                    old.order_known = e.order_known;
                    old.origin = e.origin;
                    old.address = e.address.or(old.address.take());
                    self.endpoint_rank.insert(e.name.clone(), rank);
                }
                old.port_security &= e.port_security;
            }
        }
    }

    /// The endpoint of that name, to amend.
    pub(crate) fn endpoint_mut(&mut self, name: &str) -> Option<&mut EndpointRecord> {
        let i = *self.endpoint_index.get(name)?;
        Some(&mut self.endpoints[i])
    }

    /// Remembers the Terraform address of an address group.
    pub(crate) fn address_group_address(&mut self, id: &str, address: &str) {
        self.address_group_addresses
            .insert(id.to_owned(), address.to_owned());
    }

    /// Skips a resource.
    pub(crate) fn skip(&mut self, inst: &Instance, reason: String) {
        self.b.skipped.push(Skipped {
            origin: inst.origin(),
            kind: inst.rtype.clone(),
            reason,
        });
    }
}

/// Refuses an attribute of a rule that is not in `known` and holds anything: sgeval cannot
/// tell whether it changes what the rule matches.
pub(crate) fn refuse_unknown_attributes(
    node: Node<'_>,
    values: &Value,
    path: &str,
    known: &[&str],
) -> Result<(), ImportError> {
    let Some(o) = values.as_object() else {
        return Ok(());
    };
    for (k, v) in o {
        if known.contains(&k.as_str()) {
            continue;
        }
        if node.get(k).is_set() {
            return Err(node.error(
                &value::join(path, k),
                format!(
                    "`{}`: a rule attribute sgeval does not know; it cannot tell whether it changes the rule",
                    show(v)
                ),
            ));
        }
    }
    Ok(())
}

/// The rules group resource `inst` lists inline in `rules` (at `list`), each read by
/// `fields` into group `gi`: unknown attributes (not in `known`) refused, rules that a rule
/// resource owns skipped when `skip_managed` (read there, or deleted by the plan), and rules
/// whose direction is unknown left out (`fields` gives `None` and records why).
#[allow(clippy::too_many_arguments)]
pub(crate) fn listed_rules(
    ctx: &mut Ctx<'_>,
    inst: &Instance,
    rules: &Node<'_>,
    list: &str,
    gi: usize,
    known: &[&str],
    skip_managed: bool,
    mut fields: impl FnMut(
        &mut Ctx<'_>,
        &Instance,
        &Node<'_>,
        &str,
        &str,
    ) -> Result<Option<RuleBody>, ImportError>,
) -> Result<(), ImportError> {
    for (i, r) in rules.items(list)?.iter().enumerate() {
        let path = format!("{list}[{i}]");
        let rid = r.get("id").text(&format!("{path}.id"))?.known();
        if skip_managed && rid.as_ref().is_some_and(|x| ctx.managed_rule_ids.contains(x)) {
            continue;
        }
        refuse_unknown_attributes(*r, r.value().unwrap_or(&Value::Null), &path, known)?;
        let origin = inst.origin_at(&path);
        let subject = subject(rid.as_deref(), &origin);
        let Some((direction, fields)) = fields(ctx, inst, r, &path, &subject)? else {
            continue;
        };
        ctx.rule(
            gi,
            RuleRecord {
                id: rid,
                address: None,
                origin,
                direction,
                fields,
                default: false,
            },
        )?;
    }
    Ok(())
}

/// Rule subject for unresolved items: its id, else its address (or origin).
pub(crate) fn subject(rule_id: Option<&str>, origin: &Origin) -> String {
    rule_id.map_or_else(|| origin.to_string(), str::to_owned)
}

/// Peer fields naming other objects, per provider (checked when finishing).
fn references_of(provider: Provider) -> References {
    match provider {
        Provider::Ecs => References {
            groups: &["SourceGroupId", "DestGroupId"],
            address_groups: &[],
            prefix_lists: &["SourcePrefixListId", "DestPrefixListId"],
        },
        Provider::Ens => References {
            groups: &[],
            address_groups: &[],
            prefix_lists: &[],
        },
        Provider::Huawei => References {
            groups: &["remote_group_id"],
            address_groups: &["remote_address_group_id"],
            prefix_lists: &[],
        },
        Provider::Gcore => References {
            groups: &["remote_group_id"],
            address_groups: &[],
            prefix_lists: &[],
        },
    }
}

/// Reads one side into an inventory: groups (and address groups, prefix lists) first, then
/// rules, then membership, so a resource may come in any order in the document.
fn build(
    instances: &[Instance],
    provider: Provider,
    resolver: Option<&Resolver<'_>>,
    managed_rule_ids: &HashSet<String>,
    before: Option<&Inventory>,
) -> Result<Inventory, ImportError> {
    let mut ctx = Ctx {
        provider,
        b: Builder::default(),
        resolver,
        groups: HashMap::new(),
        managed_rule_ids,
        before,
        endpoints: Vec::new(),
        endpoint_index: HashMap::new(),
        endpoint_rank: HashMap::new(),
        address_group_addresses: HashMap::new(),
        vpc_groups: HashSet::new(),
    };
    for pass in 0..4u8 {
        for inst in instances {
            if !inst.managed {
                if pass == 0 {
                    ctx.skip(
                        inst,
                        "a data source: it reads objects, it manages none".to_owned(),
                    );
                }
                continue;
            }
            let known = match provider_of(&inst.rtype) {
                Some(Provider::Ecs | Provider::Ens) if matches!(provider, Provider::Ecs | Provider::Ens) => {
                    alicloud::read(&mut ctx, inst, pass)?
                }
                Some(Provider::Huawei) if provider == Provider::Huawei => {
                    huaweicloud::read(&mut ctx, inst, pass)?
                }
                Some(Provider::Gcore) if provider == Provider::Gcore => gcore::read(&mut ctx, inst, pass)?,
                Some(other) => {
                    if pass == 0 {
                        ctx.skip(
                            inst,
                            format!("a {} resource in a {} import", other.name(), provider.name()),
                        );
                    }
                    true
                }
                None => false,
            };
            if !known && pass == 0 {
                ctx.skip(inst, "a resource type sgeval does not read".to_owned());
            }
        }
    }
    let endpoints = std::mem::take(&mut ctx.endpoints);
    for e in endpoints.iter().filter(|e| e.ips.is_empty()) {
        ctx.b.notes.push(format!(
            "{}: endpoint `{}` has no address in the document (unknown until apply, or not given): a rule that names its group as a peer matches no address of it",
            e.origin, e.name
        ));
    }
    for e in endpoints {
        let (efile, epath) = (e.origin.file.clone(), e.origin.path.clone());
        ctx.b.endpoint(e, 0, &super::json::At::new(&efile, &epath))?;
    }
    // Groups a rule or NIC names but no resource describes: managed elsewhere.
    let undescribed: Vec<(String, Origin)> = ctx
        .b
        .groups()
        .iter()
        .filter(|g| !ctx.groups.contains_key(&g.id))
        .map(|g| (g.id.clone(), g.origin.clone()))
        .collect();
    for (id, origin) in undescribed {
        let message = format!(
            "group `{id}` is not managed in this document: its other rules and attributes are not known; add its describe answer or its Terraform state"
        );
        ctx.b.unresolved(
            UnresolvedKind::MissingObject,
            &id,
            Some("security_group_id"),
            origin,
            message,
        );
    }
    let groups = std::mem::take(&mut ctx.groups);
    let addresses = std::mem::take(&mut ctx.address_group_addresses);
    let mut inv = ctx.b.finish(provider, &references_of(provider));
    for g in &mut inv.groups {
        match groups.get(&g.id) {
            Some((address, defaults)) => {
                g.address.clone_from(address);
                g.defaults = *defaults;
            }
            None => g.defaults = Defaults::Listed,
        }
    }
    for a in &mut inv.address_groups {
        a.address = addresses.get(&a.id).cloned();
    }
    Ok(inv)
}

/// Rule ids owned by rule resources (Huawei, Gcore v2) among `instances`.
fn rule_ids(instances: &[Instance], into: &mut HashSet<String>) {
    for i in instances {
        if matches!(
            i.rtype.as_str(),
            "huaweicloud_networking_secgroup_rule" | "gcore_cloud_security_group_rule"
        ) {
            if let Some(Value::String(id)) = i.values.get("id") {
                if !id.is_empty() {
                    into.insert(id.clone());
                }
            }
        }
    }
}

/// The instances of a state document (`show -json` or raw).
fn state_of(doc: &Document) -> Result<Vec<Instance>, ImportError> {
    match kind(&doc.file, &doc.value)? {
        Kind::State => state_instances(&doc.file, "", &doc.value),
        Kind::RawState => raw_instances(&doc.file, &doc.value),
        Kind::Plan => Err(ImportError::Unrecognised {
            file: doc.file.clone(),
            message: "a plan, where a state was expected".to_owned(),
        }),
    }
}

/// Reads Terraform states (`show -json` or raw) into one inventory.
///
/// # Errors
/// As [`kind`]; [`ImportError::Field`] for a malformed document (naming the file, the JSON
/// path and the value); [`ImportError::ProviderMismatch`] when `provider` is given and the
/// documents hold another provider's resources; [`ImportError::Unrecognised`] when no
/// provider is given and the documents hold several providers' resources or none.
pub fn read_states(docs: &[&Document], provider: Option<Provider>) -> Result<Inventory, ImportError> {
    let mut all = Vec::new();
    for doc in docs {
        all.extend(state_of(doc)?);
    }
    let first = docs.first().map(|d| d.file.as_str()).unwrap_or_default();
    let provider = decide(first, &all.iter().collect::<Vec<_>>(), provider)?;
    let mut ids = HashSet::new();
    rule_ids(&all, &mut ids);
    // Several states are one build, so references from one state to another join.
    build(&all, provider, None, &ids, None)
}

/// Reads a plan (`terraform show -json plan.out`) into its two sides.
///
/// ```
/// use sgeval::import::{terraform, Document};
/// let plan = Document::new("plan.json", serde_json::json!({
///     "format_version": "1.2",
///     "resource_changes": [{
///         "address": "gcore_securitygroup.web", "mode": "managed",
///         "type": "gcore_securitygroup", "name": "web",
///         "change": {"actions": ["create"], "before": null,
///             "after": {"name": "web", "security_group_rules": [{"direction": "ingress",
///                 "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 22,
///                 "port_range_max": 22, "remote_ip_prefix": "", "remote_group_id": "",
///                 "description": ""}]},
///             "after_unknown": {"id": true, "security_group_rules": [{"id": true}]}}}]
/// }));
/// let sides = terraform::read_plan(&plan, None).unwrap();
/// assert!(sides.before.groups.is_empty());
/// assert_eq!(sides.after.groups[0].id, "tf:gcore_securitygroup.web");
/// ```
///
/// # Errors
/// As [`read_states`]; [`ImportError::Unrecognised`] when the document is not a plan.
pub fn read_plan(doc: &Document, provider: Option<Provider>) -> Result<PlanInventories, ImportError> {
    let file = doc.file.as_str();
    if kind(file, &doc.value)? != Kind::Plan {
        return Err(ImportError::Unrecognised {
            file: file.to_owned(),
            message: "not a plan (no `resource_changes`, `prior_state` or `planned_values`); read a state with `read`".to_owned(),
        });
    }
    let plan = obj(file, "", &doc.value, "a plan")?;
    let prior = match plan.get("prior_state") {
        None | Some(Value::Null) => Vec::new(),
        Some(s) => state_instances(file, "prior_state", s)?,
    };
    let mut notes = Vec::new();
    let changes = changes(file, plan)?;
    let after = apply(file, &prior, changes, &mut notes)?;
    let both: Vec<&Instance> = prior.iter().chain(after.iter()).collect();
    let provider = decide(file, &both, provider)?;
    let mut ids = HashSet::new();
    rule_ids(&prior, &mut ids);
    rule_ids(&after, &mut ids);
    let before = build(&prior, provider, None, &ids, None)?;
    let resolver = Resolver::new(plan.get("configuration"), &after);
    let mut after = build(&after, provider, Some(&resolver), &ids, Some(&before))?;
    if plan.get("complete") == Some(&Value::Bool(false)) {
        after.notes.push(format!(
            "{file}: the plan is not complete (`complete: false`: -target or deferred changes); objects it leaves out are as in the prior state"
        ));
    }
    if let Some(d) = plan.get("deferred_changes").and_then(Value::as_array) {
        if !d.is_empty() {
            let message = format!(
                "{file}: {} deferred change(s) are not in this plan: their objects are unknown",
                d.len()
            );
            after.unresolved.push(super::Unresolved {
                kind: UnresolvedKind::PlanUnknown,
                subject: "deferred_changes".to_owned(),
                field: None,
                origin: Origin::new(file, "deferred_changes"),
                message,
            });
        }
    }
    after.notes.extend(notes);
    Ok(PlanInventories { before, after })
}

/// Reads the Terraform documents of one import: states (merged), or one plan alone (its
/// planned side, with a note; [`read_plan`] gives both sides).
pub(crate) fn read_documents(
    docs: &[Document],
    provider: Option<Provider>,
) -> Result<Inventory, ImportError> {
    let mut plans = Vec::new();
    let mut states = Vec::new();
    for d in docs {
        match kind(&d.file, &d.value)? {
            Kind::Plan => plans.push(d),
            _ => states.push(d),
        }
    }
    match (plans.as_slice(), states.is_empty()) {
        ([], _) => read_states(&states, provider),
        ([plan], true) => {
            let mut sides = read_plan(plan, provider)?;
            sides.after.notes.insert(
                0,
                format!(
                    "{}: a plan: this is its planned side (the state after apply); compare both sides with a plan diff",
                    plan.file
                ),
            );
            Ok(sides.after)
        }
        ([plan, ..], _) => Err(ImportError::Unrecognised {
            file: plan.file.clone(),
            message: "a plan is read alone: one plan per import, without states or other plans".to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::Direction;

    fn state(resources: Value) -> Document {
        Document::new(
            "s.json",
            json!({"format_version": "1.0", "values": {"root_module": {"resources": resources}}}),
        )
    }

    fn res(address: &str, rtype: &str, values: Value) -> Value {
        let name = address.rsplit('.').next().unwrap().split('[').next().unwrap();
        json!({"address": address, "mode": "managed", "type": rtype, "name": name, "values": values})
    }

    fn change(
        address: &str,
        rtype: &str,
        actions: Value,
        before: Value,
        after: Value,
        unknown: Value,
    ) -> Value {
        let name = address.rsplit('.').next().unwrap().split('[').next().unwrap();
        json!({"address": address, "mode": "managed", "type": rtype, "name": name,
               "change": {"actions": actions, "before": before, "after": after, "after_unknown": unknown}})
    }

    fn plan(prior: Value, changes: Value, config: Value) -> Document {
        Document::new(
            "p.json",
            json!({"format_version": "1.2",
                   "prior_state": {"format_version": "1.0", "values": {"root_module": {"resources": prior}}},
                   "resource_changes": changes, "configuration": {"root_module": config}}),
        )
    }

    fn fields(inv: &Inventory, gi: usize, ri: usize) -> Value {
        Value::Object(inv.groups[gi].rules[ri].fields.clone())
    }

    fn open(inv: &Inventory) -> Vec<(UnresolvedKind, String, String)> {
        inv.unresolved
            .iter()
            .map(|u| {
                (
                    u.kind.clone(),
                    u.subject.clone(),
                    u.field.clone().unwrap_or_default(),
                )
            })
            .collect()
    }

    fn sg(id: &str) -> Value {
        json!({"id": id, "name": id, "vpc_id": "vpc-1", "security_group_type": "normal", "inner_access_policy": "Accept"})
    }

    fn ali_rule(typ: &str, extra: Value) -> Value {
        let mut v = json!({"id": "x", "security_group_id": "sg-1", "type": typ, "ip_protocol": "tcp", "port_range": "22/22",
                           "policy": "accept", "priority": 1, "nic_type": "intranet", "cidr_ip": "", "ipv6_cidr_ip": "",
                           "source_security_group_id": "", "source_group_owner_account": "", "prefix_list_id": "",
                           "description": "", "security_group_rule_id": "sgr-1"});
        for (k, x) in extra.as_object().unwrap() {
            v[k] = x.clone();
        }
        v
    }

    #[test]
    fn trap17_unset_is_empty_string_zero_or_null_per_provider() {
        // alicloud (SDKv2): `""` peers are unset; a `0` priority is unset.
        let inv = read_states(
            &[&state(json!([
                res("alicloud_security_group.a", "alicloud_security_group", sg("sg-1")),
                res(
                    "alicloud_security_group_rule.r",
                    "alicloud_security_group_rule",
                    ali_rule("ingress", json!({"cidr_ip": "10.0.0.0/8", "priority": 0}))
                )
            ]))],
            None,
        )
        .unwrap();
        assert_eq!(
            fields(&inv, 0, 0),
            json!({"IpProtocol": "TCP", "PortRange": "22/22", "Policy": "Accept", "NicType": "intranet", "SourceCidrIp": "10.0.0.0/8"})
        );
        // gcore v0.x (SDKv2): port 0 is every port, `""` remote unset; v2 writes null.
        let v0 = json!({"id": "g", "name": "g", "security_group_rules": [
            {"id": "r", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": 0, "port_range_max": 0,
             "remote_ip_prefix": "", "remote_group_id": "", "description": ""}]});
        let v2 = json!({"id": "g", "name": "g", "rules": null, "security_group_rules": [
            {"id": "r", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "port_range_min": null, "port_range_max": null,
             "remote_ip_prefix": null, "remote_group_id": null, "description": null}]});
        let a = read_states(
            &[&state(json!([res(
                "gcore_securitygroup.g",
                "gcore_securitygroup",
                v0
            )]))],
            None,
        )
        .unwrap();
        let b = read_states(
            &[&state(json!([res(
                "gcore_cloud_security_group.g",
                "gcore_cloud_security_group",
                v2
            )]))],
            None,
        )
        .unwrap();
        let want = json!({"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp"});
        assert_eq!(fields(&a, 0, 0), want);
        assert_eq!(fields(&b, 0, 0), want);
        // huaweicloud: `""` remote is "all addresses" (unset); `""`/`0` action and priority
        // are left to a default the documents disagree on.
        let rule = json!({"id": "r1", "security_group_id": "h1", "direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
                          "ports": "", "port_range_min": 80, "port_range_max": 90, "remote_ip_prefix": "", "remote_group_id": "",
                          "remote_address_group_id": "", "action": "", "priority": 0, "description": ""});
        let inv = read_states(
            &[&state(json!([
                res(
                    "huaweicloud_networking_secgroup.h",
                    "huaweicloud_networking_secgroup",
                    json!({"id": "h1", "name": "h"})
                ),
                res(
                    "huaweicloud_networking_secgroup_rule.r",
                    "huaweicloud_networking_secgroup_rule",
                    rule
                )
            ]))],
            None,
        )
        .unwrap();
        assert_eq!(
            fields(&inv, 0, 0),
            json!({"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp", "multiport": "80-90"})
        );
        assert_eq!(
            open(&inv),
            [
                (
                    UnresolvedKind::ContestedDefault,
                    "r1".to_owned(),
                    "action".to_owned()
                ),
                (
                    UnresolvedKind::ContestedDefault,
                    "r1".to_owned(),
                    "priority".to_owned()
                )
            ]
        );
        assert_eq!(
            inv.groups[0].defaults,
            Defaults::Added,
            "no computed `rules` read: defaults to add"
        );
    }

    #[test]
    fn trap18_egress_rules_name_their_destination_with_ingress_named_fields() {
        let inv = read_states(
            &[&state(json!([
                res("alicloud_security_group.a", "alicloud_security_group", sg("sg-1")),
                res("alicloud_security_group.b", "alicloud_security_group", sg("sg-2")),
                res(
                    "alicloud_security_group_rule.out",
                    "alicloud_security_group_rule",
                    ali_rule(
                        "egress",
                        json!({"cidr_ip": "0.0.0.0/0", "policy": "drop", "priority": 100})
                    )
                ),
                res(
                    "alicloud_security_group_rule.to_b",
                    "alicloud_security_group_rule",
                    ali_rule(
                        "egress",
                        json!({"source_security_group_id": "sg-2", "source_group_owner_account": "123",
                                              "security_group_rule_id": "sgr-2"})
                    )
                ),
                res(
                    "alicloud_security_group_rule.v6",
                    "alicloud_security_group_rule",
                    ali_rule(
                        "ingress",
                        json!({"ipv6_cidr_ip": "2001:db8::/32", "security_group_rule_id": "sgr-3"})
                    )
                )
            ]))],
            None,
        )
        .unwrap();
        let g = &inv.groups[0];
        assert_eq!(g.rules[0].direction, Direction::Egress);
        assert_eq!(g.rules[0].fields["DestCidrIp"], json!("0.0.0.0/0"));
        assert!(!g.rules[0].fields.contains_key("SourceCidrIp"));
        assert_eq!(g.rules[1].fields["DestGroupId"], json!("sg-2"));
        assert_eq!(g.rules[1].fields["DestGroupOwnerAccount"], json!("123"));
        assert!(!g.rules[1].fields.contains_key("SourceGroupId"));
        assert_eq!(g.rules[2].fields["Ipv6SourceCidrIp"], json!("2001:db8::/32"));
        assert!(inv.unresolved.is_empty(), "{:?}", inv.unresolved);
    }

    fn hw_instance(groups: Value) -> Value {
        json!({"id": "vm-1", "security_group_ids": groups, "security_groups": [],
               "network": [{"uuid": "n", "fixed_ip_v4": "192.168.0.10", "port": "port-1"}]})
    }

    fn hw_groups() -> Vec<Value> {
        ["h1", "h2"]
            .iter()
            .map(|id| {
                res(
                    &format!("huaweicloud_networking_secgroup.{id}"),
                    "huaweicloud_networking_secgroup",
                    json!({"id": id, "name": id, "rules": []}),
                )
            })
            .collect()
    }

    #[test]
    fn trap19_a_huawei_instance_group_set_is_no_association_order() {
        let mut r = hw_groups();
        r.push(res(
            "huaweicloud_compute_instance.vm",
            "huaweicloud_compute_instance",
            hw_instance(json!(["h1", "h2"])),
        ));
        let inv = read_states(&[&state(Value::Array(r))], None).unwrap();
        let e = &inv.endpoints[0];
        assert_eq!((e.name.as_str(), e.order_known), ("port-1", false));
        assert_eq!(
            open(&inv),
            [(
                UnresolvedKind::GroupOrder,
                "port-1".to_owned(),
                "security_group_ids".to_owned()
            )]
        );
        // One group has one order; a port resource's list is an order.
        let mut r = hw_groups();
        r.push(res(
            "huaweicloud_compute_instance.vm",
            "huaweicloud_compute_instance",
            hw_instance(json!(["h2"])),
        ));
        r.push(res("huaweicloud_networking_port_v2.p", "huaweicloud_networking_port_v2",
                   json!({"id": "port-2", "security_group_ids": ["h2", "h1"], "fixed_ip": [{"ip_address": "192.168.0.11"}]})));
        let inv = read_states(&[&state(Value::Array(r))], None).unwrap();
        assert!(inv.endpoints.iter().all(|e| e.order_known));
        assert_eq!(inv.endpoints[1].groups, ["h2", "h1"], "never sorted");
        assert!(inv.unresolved.is_empty(), "{:?}", inv.unresolved);
        // An update appends the added group after the existing ones (provider code, trap 19).
        let prior = json!([res(
            "huaweicloud_compute_instance.vm",
            "huaweicloud_compute_instance",
            hw_instance(json!(["h2"]))
        )]);
        let mut prior_all = hw_groups();
        prior_all.extend(prior.as_array().unwrap().iter().cloned());
        let doc = plan(
            Value::Array(prior_all),
            json!([change(
                "huaweicloud_compute_instance.vm",
                "huaweicloud_compute_instance",
                json!(["update"]),
                hw_instance(json!(["h2"])),
                hw_instance(json!(["h1", "h2"])),
                json!({})
            )]),
            json!({}),
        );
        let sides = read_plan(&doc, None).unwrap();
        assert_eq!(sides.after.endpoints[0].groups, ["h2", "h1"]);
        assert!(sides.after.endpoints[0].order_known);
        // ECS pools its groups: a set is harmless there.
        let inv = read_states(
            &[&state(json!([res("alicloud_instance.i", "alicloud_instance",
                json!({"id": "i-1", "security_groups": ["sg-2", "sg-1"], "private_ip": "10.0.0.1", "network_interface_id": "eni-1"}))]))],
            None,
        )
        .unwrap();
        assert!(inv.endpoints[0].order_known);
        assert!(inv
            .unresolved
            .iter()
            .all(|u| u.kind == UnresolvedKind::MissingObject));
    }

    fn ali_config(resources: Value) -> Value {
        json!({"resources": resources})
    }

    fn cfg(address: &str, expressions: Value) -> Value {
        json!({"address": address, "mode": "managed", "type": address.split('.').next().unwrap(),
               "name": address.split('.').nth(1).unwrap(), "expressions": expressions})
    }

    #[test]
    fn trap20_plan_unknowns_resolve_through_references_or_stay_unresolved() {
        let new_sg = change(
            "alicloud_security_group.web",
            "alicloud_security_group",
            json!(["create"]),
            Value::Null,
            json!({"security_group_name": "web", "vpc_id": "vpc-1", "security_group_type": "normal",
                                   "inner_access_policy": "Accept"}),
            json!({"id": true}),
        );
        let inst = |name: &str, groups: Value, unknown: Value| {
            change(
                &format!("alicloud_instance.{name}"),
                "alicloud_instance",
                json!(["create"]),
                Value::Null,
                json!({"security_groups": groups}),
                json!({"id": true, "security_groups": unknown, "private_ip": true}),
            )
        };
        let rule = change(
            "alicloud_security_group_rule.r[1]",
            "alicloud_security_group_rule",
            json!(["create"]),
            Value::Null,
            json!({"type": "ingress", "ip_protocol": "tcp", "port_range": "22/22", "policy": "accept", "priority": 1,
                                 "cidr_ip": "0.0.0.0/0"}),
            json!({"id": true, "security_group_id": true, "security_group_rule_id": true, "nic_type": true}),
        );
        let refs = json!({"references": ["alicloud_security_group.web.id", "alicloud_security_group.web"]});
        let doc = plan(
            json!([]),
            json!([
                new_sg,
                inst("a", json!([null]), json!([true])),
                inst("b", Value::Null, json!(true)),
                inst("c", json!([null]), json!([true])),
                rule
            ]),
            ali_config(json!([
                cfg("alicloud_instance.a", json!({"security_groups": refs})),
                cfg("alicloud_instance.b", json!({"security_groups": refs})),
                cfg(
                    "alicloud_instance.c",
                    json!({"security_groups": {"references": ["local.groups"]}})
                ),
                cfg(
                    "alicloud_security_group_rule.r",
                    json!({"security_group_id": {"references": ["alicloud_security_group.web", "count.index"]}})
                )
            ])),
        );
        let sides = read_plan(&doc, None).unwrap();
        let after = &sides.after;
        assert!(sides.before.groups.is_empty() && sides.before.endpoints.is_empty());
        assert_eq!(after.groups[0].id, "tf:alicloud_security_group.web");
        let groups = |name: &str| {
            after
                .endpoints
                .iter()
                .find(|e| e.name == name)
                .unwrap()
                .groups
                .clone()
        };
        // `[null]` with `[true]`: the one planned group the configuration names.
        assert_eq!(
            groups("tf:alicloud_instance.a"),
            ["tf:alicloud_security_group.web"]
        );
        // A wholly unknown list: the named group, and the list itself unresolved.
        assert_eq!(
            groups("tf:alicloud_instance.b"),
            ["tf:alicloud_security_group.web"]
        );
        // A local is opaque: nothing guessed.
        assert!(groups("tf:alicloud_instance.c").is_empty());
        // `web[count.index]` is not traced: the rule stays out, unresolved.
        assert!(after.groups[0].rules.is_empty());
        assert_eq!(
            open(after),
            [
                (
                    UnresolvedKind::PlanUnknown,
                    "tf:alicloud_security_group_rule.r[1]".to_owned(),
                    "security_group_id".to_owned()
                ),
                (
                    UnresolvedKind::PlanUnknown,
                    "tf:alicloud_instance.b".to_owned(),
                    "security_groups".to_owned()
                ),
                (
                    UnresolvedKind::PlanUnknown,
                    "tf:alicloud_instance.c".to_owned(),
                    "security_groups".to_owned()
                ),
            ]
        );
        assert!(after.unresolved[0]
            .message
            .contains("`alicloud_security_group_rule.r[1]`"));
    }

    #[test]
    fn trap20_module_outputs_and_indexed_references_are_traced() {
        let sg = |addr: &str, module: &str| {
            let mut c = change(
                addr,
                "alicloud_security_group",
                json!(["create"]),
                Value::Null,
                json!({"security_group_name": "g", "vpc_id": "vpc-1", "security_group_type": "normal",
                                      "inner_access_policy": "Accept"}),
                json!({"id": true}),
            );
            if !module.is_empty() {
                c["module_address"] = json!(module);
            }
            c
        };
        let inst = change(
            "alicloud_instance.i",
            "alicloud_instance",
            json!(["create"]),
            Value::Null,
            json!({"security_groups": [null, null]}),
            json!({"id": true, "security_groups": [true, true]}),
        );
        let config = json!({
            "resources": [cfg("alicloud_instance.i", json!({"security_groups": {"references": [
                "module.net.sg_id", "module.net", "alicloud_security_group.g[1].id", "alicloud_security_group.g[1]", "alicloud_security_group.g"]}}))],
            "module_calls": {"net": {"module": {
                "resources": [cfg("alicloud_security_group.x", json!({}))],
                "outputs": {"sg_id": {"expression": {"references": ["alicloud_security_group.x.id", "alicloud_security_group.x"]}}}}}}
        });
        let doc = plan(
            json!([]),
            json!([
                sg("alicloud_security_group.g[0]", ""),
                sg("alicloud_security_group.g[1]", ""),
                sg("module.net.alicloud_security_group.x", "module.net"),
                inst
            ]),
            config,
        );
        let after = read_plan(&doc, None).unwrap().after;
        let e = after
            .endpoints
            .iter()
            .find(|e| e.name == "tf:alicloud_instance.i")
            .unwrap();
        let mut groups = e.groups.clone();
        groups.sort();
        assert_eq!(
            groups,
            [
                "tf:alicloud_security_group.g[1]",
                "tf:module.net.alicloud_security_group.x"
            ]
        );
        assert!(after.unresolved.is_empty(), "{:?}", after.unresolved);
    }

    #[test]
    fn plan_actions_delete_replace_and_forget() {
        let g = |id: &str| res("alicloud_security_group.g", "alicloud_security_group", sg(id));
        let doc = |actions: Value, after: Value| {
            plan(
                json!([g("sg-1")]),
                json!([change(
                    "alicloud_security_group.g",
                    "alicloud_security_group",
                    actions,
                    sg("sg-1"),
                    after,
                    json!({"id": true})
                )]),
                json!({}),
            )
        };
        let ids = |d: Document| -> Vec<String> {
            read_plan(&d, Some(Provider::Ecs))
                .unwrap()
                .after
                .groups
                .iter()
                .map(|g| g.id.clone())
                .collect()
        };
        assert!(ids(doc(json!(["delete"]), Value::Null)).is_empty());
        assert_eq!(
            ids(doc(json!(["delete", "create"]), sg("x"))),
            ["tf:alicloud_security_group.g"]
        );
        assert_eq!(ids(doc(json!(["forget"]), Value::Null)), ["sg-1"]);
        assert_eq!(ids(doc(json!(["no-op"]), sg("sg-1"))), ["sg-1"]);
        assert_eq!(ids(doc(json!(["create", "forget"]), sg("x"))).len(), 2);
        let err = read_plan(&doc(json!(["update"]), Value::Null), None).unwrap_err();
        assert_eq!(err.to_string(), "p.json: resource_changes[0].change.after: is null for a `update` change of `alicloud_security_group.g`");
    }

    #[test]
    fn format_versions_from_0_1_to_1_x_are_read() {
        for (v, ok) in [
            ("0.1", true),
            ("0.2", true),
            ("1.0", true),
            ("1.9", true),
            ("0.0", false),
            ("2.0", false),
            ("x", false),
        ] {
            let doc = json!({"format_version": v, "values": null});
            assert_eq!(kind("f", &doc).is_ok(), ok, "{v}");
        }
        let err = kind("f", &json!({"format_version": 1.0, "values": {}})).unwrap_err();
        assert_eq!(
            err.to_string(),
            "f: format_version: `1.0`: not a Terraform JSON format version (MAJOR.MINOR, 0.1 up to 1.x)"
        );
    }

    #[test]
    fn an_unknown_rule_attribute_is_refused_and_an_unknown_type_skipped() {
        let err = read_states(
            &[&state(json!([res(
                "alicloud_security_group_rule.r",
                "alicloud_security_group_rule",
                ali_rule(
                    "ingress",
                    json!({"cidr_ip": "10.0.0.0/8", "port_range_list_id": "prl-1"})
                )
            )]))],
            None,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "s.json: values.root_module.resources[0].values.port_range_list_id: `\"prl-1\"`: a rule attribute sgeval does not know; it cannot tell whether it changes the rule"
        );
        let inv = read_states(
            &[&state(json!([
                res("alicloud_security_group.a", "alicloud_security_group", sg("sg-1")),
                res("alicloud_slb.lb", "alicloud_slb", json!({"id": "lb-1"}))
            ]))],
            None,
        )
        .unwrap();
        assert_eq!(inv.skipped[0].origin.path, "alicloud_slb.lb");
        assert_eq!(inv.skipped[0].kind, "alicloud_slb");
    }

    #[test]
    fn several_providers_need_a_provider() {
        let doc = state(json!([
            res("alicloud_security_group.a", "alicloud_security_group", sg("sg-1")),
            res(
                "gcore_securitygroup.g",
                "gcore_securitygroup",
                json!({"id": "g", "security_group_rules": []})
            )
        ]));
        let err = read_states(&[&doc], None).unwrap_err();
        assert!(
            err.to_string()
                .contains("several providers (ecs at `alicloud_security_group.a`, gcore"),
            "{err}"
        );
        let inv = read_states(&[&doc], Some(Provider::Gcore)).unwrap();
        assert_eq!(inv.groups.len(), 1);
        assert_eq!(inv.skipped[0].reason, "a ecs resource in a gcore import");
    }

    #[test]
    fn omitted_optional_computed_attributes_are_defaults_not_unknowns() {
        // gcore v2 `rules` omitted: unknown in the plan, no inline rules.
        let g = change(
            "gcore_cloud_security_group.g",
            "gcore_cloud_security_group",
            json!(["create"]),
            Value::Null,
            json!({"name": "g", "project_id": 1, "region_id": 76}),
            json!({"id": true, "rules": true, "security_group_rules": true}),
        );
        let e = change(
            "alicloud_ens_security_group.e",
            "alicloud_ens_security_group",
            json!(["create"]),
            Value::Null,
            json!({"security_group_name": "e", "permissions": [{"direction": "ingress", "ip_protocol": "TCP",
                              "port_range": "22/22", "source_cidr_ip": "10.0.0.0/8", "policy": "Accept", "priority": 1}]}),
            json!({"id": true, "permissions": [{"source_port_range": true, "description": true, "creation_time": true,
                              "dest_cidr_ip": true}]}),
        );
        let config = json!({"resources": [
            cfg("gcore_cloud_security_group.g", json!({"name": {"constant_value": "g"}})),
            cfg("alicloud_ens_security_group.e", json!({"permissions": [{"direction": {"constant_value": "ingress"},
                "dest_cidr_ip": {"references": ["var.x"]}}]}))]});
        let after = read_plan(&plan(json!([]), json!([g.clone()]), config.clone()), None)
            .unwrap()
            .after;
        assert_eq!(after.groups[0].defaults, Defaults::Added);
        assert!(after.unresolved.is_empty(), "{:?}", after.unresolved);
        let after = read_plan(&plan(json!([]), json!([e]), config), None)
            .unwrap()
            .after;
        assert_eq!(
            open(&after),
            [(
                UnresolvedKind::PlanUnknown,
                "p.json: alicloud_ens_security_group.e.permissions[0]".to_owned(),
                "permissions[0].dest_cidr_ip".to_owned()
            )]
        );
        assert!(!after.groups[0].rules[0].fields.contains_key("SourcePortRange"));
    }

    #[test]
    fn a_deposed_object_is_not_the_current_one() {
        let mut deposed = res(
            "alicloud_security_group.a",
            "alicloud_security_group",
            sg("sg-old"),
        );
        deposed["deposed_key"] = json!("00000001");
        let inv = read_states(
            &[&state(json!([
                res("alicloud_security_group.a", "alicloud_security_group", sg("sg-1")),
                deposed
            ]))],
            None,
        )
        .unwrap();
        let ids: Vec<_> = inv.groups.iter().map(|g| g.id.as_str()).collect();
        assert_eq!(ids, ["sg-1"]);
    }

    #[test]
    fn an_updated_group_keeps_the_prior_rules_no_resource_owns() {
        let listed = |rules: Value| json!({"id": "h1", "name": "h", "description": "", "rules": rules});
        let default = json!({"id": "d1", "direction": "egress", "ethertype": "IPv4", "protocol": "", "ports": "",
                             "remote_ip_prefix": "", "remote_group_id": "", "remote_address_group_id": "", "action": "allow",
                             "priority": 100, "description": ""});
        let prior = json!([res(
            "huaweicloud_networking_secgroup.h",
            "huaweicloud_networking_secgroup",
            listed(json!([default]))
        )]);
        let mut after = listed(Value::Null);
        after["description"] = json!("new");
        let doc = plan(
            prior,
            json!([change(
                "huaweicloud_networking_secgroup.h",
                "huaweicloud_networking_secgroup",
                json!(["update"]),
                listed(json!([default])),
                after,
                json!({"rules": true})
            )]),
            json!({}),
        );
        let sides = read_plan(&doc, None).unwrap();
        let g = &sides.after.groups[0];
        assert_eq!(g.defaults, Defaults::Listed);
        assert_eq!(g.rules.len(), 1);
        assert_eq!(g.rules[0].id.as_deref(), Some("d1"));
        assert!(sides
            .after
            .notes
            .iter()
            .any(|n| n.contains("rule list is unknown until apply")));
    }

    #[test]
    fn several_states_join_by_id() {
        let a = state(json!([res(
            "alicloud_security_group.a",
            "alicloud_security_group",
            sg("sg-1")
        )]));
        let mut b = state(json!([res(
            "alicloud_security_group_rule.r",
            "alicloud_security_group_rule",
            ali_rule("ingress", json!({"cidr_ip": "10.0.0.0/8"}))
        )]));
        b.file = "b.json".to_owned();
        let inv = read_states(&[&a, &b], None).unwrap();
        assert_eq!(inv.groups.len(), 1);
        assert_eq!(inv.groups[0].rules[0].origin.file, "b.json");
        assert_eq!(inv.groups[0].origin.file, "s.json");
        assert!(inv.unresolved.is_empty(), "{:?}", inv.unresolved);
        // Alone, the rule's group is not described: its other rules are not known.
        let inv = read_states(&[&b], None).unwrap();
        assert_eq!(inv.unresolved[0].kind, UnresolvedKind::MissingObject);
        assert_eq!(inv.unresolved[0].subject, "sg-1");
    }

    #[test]
    fn a_moved_object_is_one_object() {
        let g = sg("sg-1");
        let mut c = change(
            "alicloud_security_group.new",
            "alicloud_security_group",
            json!(["no-op"]),
            g.clone(),
            g.clone(),
            json!({}),
        );
        c["previous_address"] = json!("alicloud_security_group.old");
        let doc = plan(
            json!([res("alicloud_security_group.old", "alicloud_security_group", g)]),
            json!([c]),
            json!({}),
        );
        let after = read_plan(&doc, None).unwrap().after;
        assert_eq!(after.groups.len(), 1);
        assert_eq!(
            after.groups[0].address.as_deref(),
            Some("alicloud_security_group.new")
        );
    }
}
