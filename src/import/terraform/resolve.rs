//! Which object an unknown value of a plan will come from: the `configuration` block's
//! `references` [TF1][TF4] (trap 20).
//!
//! Configuration addresses are module-relative and un-indexed: one block per resource,
//! whatever its `count`/`for_each`; references come in every form from the most to the
//! least specific (`alicloud_security_group.web[0].id`, `alicloud_security_group.web[0]`,
//! `alicloud_security_group.web`). A `var.` reference is traced through the calling
//! module's `module_calls.<name>.expressions`, a `module.<name>.<output>` one through the
//! called module's `outputs`; `local.`, `data.`, `count.`, `each.` and the like are opaque,
//! and a value that depends on anything opaque stays unresolved: nothing is guessed.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::Instance;

/// A planned object an unknown value refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// The instance address.
    pub address: String,
    /// Its id when the plan knows it, else `None` (created or replaced).
    pub id: Option<String>,
}

/// What the references of one attribute lead to.
#[derive(Clone, Debug, Default)]
pub(crate) struct Traced {
    /// Instances of the wanted types, each once, in reference order.
    pub targets: Vec<Target>,
    /// Whether some reference could not be followed (a local, a data source, `count.index`,
    /// an instance of another type whose id is unknown): the value may come from there.
    pub opaque: bool,
    /// Whether the configuration has an expression for the attribute at all.
    pub configured: bool,
}

/// The configuration of a plan and its planned instances.
pub(crate) struct Resolver<'a> {
    /// Expressions of each configured resource, by absolute un-indexed address.
    resources: HashMap<String, &'a Map<String, Value>>,
    /// Each module's configuration, by un-indexed module path (`""` for the root).
    modules: HashMap<String, &'a Value>,
    /// The planned instances: (type, config address, module instance, address, id).
    instances: Vec<(String, String, String, String, Option<String>)>,
}

/// A module path without instance keys: `module.net[0].module.x["a"]` -> `module.net.module.x`.
pub(crate) fn strip_indexes(address: &str) -> String {
    let mut out = String::with_capacity(address.len());
    let mut depth = 0usize;
    let mut quoted = false;
    let mut escaped = false;
    for c in address.chars() {
        if depth > 0 {
            if quoted {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '"' {
                    quoted = false;
                }
            } else if c == '"' {
                quoted = true;
            } else if c == ']' {
                depth -= 1;
            }
            continue;
        }
        if c == '[' {
            depth += 1;
        } else {
            out.push(c);
        }
    }
    out
}

fn prefixed(module: &str, rest: &str) -> String {
    if module.is_empty() {
        rest.to_owned()
    } else {
        format!("{module}.{rest}")
    }
}

/// The module path one level up: `module.a.module.b` -> `module.a`, and the call name `b`.
fn parent(module: &str) -> Option<(String, String)> {
    let at = module.rfind("module.")?;
    let name = strip_indexes(&module[at + "module.".len()..]);
    let up = module[..at].trim_end_matches('.').to_owned();
    Some((up, name))
}

/// Every `references` list in an expression (nested blocks included).
fn collect(expr: &Value, out: &mut Vec<String>) {
    match expr {
        Value::Object(o) => {
            if let Some(Value::Array(refs)) = o.get("references") {
                out.extend(refs.iter().filter_map(Value::as_str).map(str::to_owned));
            } else if !o.contains_key("constant_value") {
                for v in o.values() {
                    collect(v, out);
                }
            }
        }
        Value::Array(items) => {
            for v in items {
                collect(v, out);
            }
        }
        _ => {}
    }
}

/// A resource reference `type.name[key].attr`: the `type.name` and the key, if any.
fn resource_ref(r: &str) -> Option<(String, Option<String>)> {
    let (rtype, rest) = r.split_once('.')?;
    if rtype.is_empty() || !rtype.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    let end = rest.find(['.', '[']).unwrap_or(rest.len());
    let name = &rest[..end];
    if name.is_empty() {
        return None;
    }
    let key = if rest[end..].starts_with('[') {
        let close = rest[end..].find(']')? + end;
        Some(rest[end..=close].to_owned())
    } else {
        None
    };
    Some((format!("{rtype}.{name}"), key))
}

impl<'a> Resolver<'a> {
    /// A resolver of `configuration` (when the plan has one) over the planned instances.
    pub(crate) fn new(configuration: Option<&'a Value>, planned: &[Instance]) -> Resolver<'a> {
        let mut r = Resolver {
            resources: HashMap::new(),
            modules: HashMap::new(),
            instances: planned
                .iter()
                .filter(|i| i.managed)
                .map(|i| {
                    let id = match (&i.unknown, i.values.get("id")) {
                        (Some(u), _) if u.get("id") == Some(&Value::Bool(true)) => None,
                        (_, Some(Value::String(s))) if !s.is_empty() => Some(s.clone()),
                        _ => None,
                    };
                    (
                        i.rtype.clone(),
                        i.config_address.clone(),
                        i.module.clone(),
                        i.address.clone(),
                        id,
                    )
                })
                .collect(),
        };
        if let Some(root) = configuration.and_then(|c| c.get("root_module")) {
            r.module(String::new(), root);
        }
        r
    }

    fn module(&mut self, path: String, m: &'a Value) {
        for res in m.get("resources").and_then(Value::as_array).into_iter().flatten() {
            let (Some(addr), Some(expr)) = (
                res.get("address").and_then(Value::as_str),
                res.get("expressions").and_then(Value::as_object),
            ) else {
                continue;
            };
            self.resources.insert(prefixed(&path, addr), expr);
        }
        if let Some(calls) = m.get("module_calls").and_then(Value::as_object) {
            for (name, call) in calls {
                if let Some(inner) = call.get("module") {
                    self.module(prefixed(&path, &format!("module.{name}")), inner);
                }
            }
        }
        self.modules.insert(path, m);
    }

    /// The expression of an attribute path (`["network_interfaces", "0", "security_group_ids"]`).
    fn expression(&self, config_address: &str, path: &[&str]) -> Option<&'a Value> {
        let mut node: &'a Value = self.resources.get(config_address).copied()?.get(path[0])?;
        for seg in &path[1..] {
            if node.get("references").is_some() || node.get("constant_value").is_some() {
                break;
            }
            node = match node {
                Value::Array(items) => match seg.parse::<usize>() {
                    Ok(i) => items.get(i).or_else(|| items.first())?,
                    Err(_) => break,
                },
                Value::Object(o) => match o.get(*seg) {
                    Some(n) => n,
                    None => break,
                },
                _ => break,
            };
        }
        Some(node)
    }

    /// Whether the configuration sets the attribute (`false` for one left to its default).
    /// Without a configuration block, every attribute counts as set.
    pub(crate) fn configured(&self, inst: &Instance, attr: &str) -> bool {
        match self.resources.get(&inst.config_address) {
            Some(m) => m.contains_key(attr),
            None => self.resources.is_empty(),
        }
    }

    /// Whether the configuration sets the attribute at `path` inside nested blocks
    /// (`["permissions", "0", "source_port_range"]`); without a configuration block, every
    /// attribute counts as set.
    pub(crate) fn configured_path(&self, inst: &Instance, path: &[&str]) -> bool {
        let Some(m) = self.resources.get(&inst.config_address) else {
            return self.resources.is_empty();
        };
        let Some(mut node) = m.get(path[0]) else {
            return false;
        };
        for seg in &path[1..] {
            if node.get("references").is_some() || node.get("constant_value").is_some() {
                // One expression for the whole attribute: it sets what it sets.
                return true;
            }
            node = match node {
                Value::Array(items) => match seg.parse::<usize>().ok().and_then(|i| items.get(i)) {
                    Some(n) => n,
                    None => return false,
                },
                Value::Object(o) => match o.get(*seg) {
                    Some(n) => n,
                    None => return false,
                },
                _ => return false,
            };
        }
        true
    }

    /// The instances of types `want` the attribute at `path` refers to.
    pub(crate) fn trace(&self, inst: &Instance, path: &[&str], want: &[&str]) -> Traced {
        let mut out = Traced::default();
        let Some(expr) = self.expression(&inst.config_address, path) else {
            out.opaque = true;
            return out;
        };
        out.configured = true;
        let mut refs = Vec::new();
        collect(expr, &mut refs);
        let module_path = strip_indexes(&inst.module);
        let mut work: Vec<(String, String, String, usize)> = refs
            .into_iter()
            .map(|r| (r, module_path.clone(), inst.module.clone(), 0))
            .collect();
        // Per resource (module path + type.name + scope): the keys referenced, if any.
        let mut seen: Vec<(String, String, Option<String>)> = Vec::new();
        while let Some((r, module, scope, depth)) = work.pop() {
            if depth > 8 {
                out.opaque = true;
                continue;
            }
            if let Some(var) = r.strip_prefix("var.") {
                let var = var.split(['.', '[']).next().unwrap_or(var);
                let Some((up, call)) = parent(&module) else {
                    // A root variable is known at plan time: it names no planned object.
                    out.opaque = true;
                    continue;
                };
                let up_scope = parent(&scope).map(|(s, _)| s).unwrap_or_default();
                match self
                    .modules
                    .get(&up)
                    .and_then(|m| m.get("module_calls"))
                    .and_then(|c| c.get(&call))
                    .and_then(|c| c.get("expressions"))
                    .and_then(|e| e.get(var))
                {
                    Some(e) => {
                        let mut more = Vec::new();
                        collect(e, &mut more);
                        if more.is_empty() {
                            out.opaque = true;
                        }
                        work.extend(
                            more.into_iter()
                                .map(|m| (m, up.clone(), up_scope.clone(), depth + 1)),
                        );
                    }
                    None => out.opaque = true,
                }
                continue;
            }
            if let Some(rest) = r.strip_prefix("module.") {
                let mut parts = rest.splitn(2, '.');
                let call = parts.next().unwrap_or_default();
                let call = strip_indexes(call);
                let Some(output) = parts.next() else {
                    // `module.net` alone accompanies `module.net.<output>`.
                    continue;
                };
                let output = output.split(['.', '[']).next().unwrap_or(output);
                let down = prefixed(&module, &format!("module.{call}"));
                let down_scope = prefixed(&scope, &format!("module.{call}"));
                match self
                    .modules
                    .get(&down)
                    .and_then(|m| m.get("outputs"))
                    .and_then(|o| o.get(output))
                    .and_then(|o| o.get("expression"))
                {
                    Some(e) => {
                        let mut more = Vec::new();
                        collect(e, &mut more);
                        if more.is_empty() {
                            out.opaque = true;
                        }
                        work.extend(
                            more.into_iter()
                                .map(|m| (m, down.clone(), down_scope.clone(), depth + 1)),
                        );
                    }
                    None => out.opaque = true,
                }
                continue;
            }
            let opaque_root = [
                "local.",
                "data.",
                "count.",
                "each.",
                "path.",
                "terraform.",
                "self.",
            ];
            if opaque_root.iter().any(|p| r.starts_with(p)) {
                out.opaque = true;
                continue;
            }
            let Some((resource, key)) = resource_ref(&r) else {
                out.opaque = true;
                continue;
            };
            let config = prefixed(&module, &resource);
            seen.push((config, scope, key));
        }
        // The most specific form of each resource reference: keyed ones where any exist.
        let mut chosen: Vec<(String, String, Option<String>)> = Vec::new();
        for (config, scope, key) in seen.iter().rev() {
            let keyed = seen
                .iter()
                .any(|(c, s, k)| c == config && s == scope && k.is_some());
            if keyed && key.is_none() {
                continue;
            }
            let entry = (config.clone(), scope.clone(), key.clone());
            if !chosen.contains(&entry) {
                chosen.push(entry);
            }
        }
        for (config, scope, key) in chosen {
            for (rtype, c, module, address, id) in &self.instances {
                if *c != config || !module.starts_with(&scope) {
                    continue;
                }
                if let Some(k) = &key {
                    if !address.ends_with(k.as_str()) {
                        continue;
                    }
                }
                if want.contains(&rtype.as_str()) {
                    let t = Target {
                        address: address.clone(),
                        id: id.clone(),
                    };
                    if !out.targets.contains(&t) {
                        out.targets.push(t);
                    }
                } else if id.is_none() {
                    out.opaque = true;
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_are_stripped_from_module_paths() {
        assert_eq!(
            strip_indexes("module.net[0].module.x[\"a]b\"]"),
            "module.net.module.x"
        );
        assert_eq!(strip_indexes(""), "");
    }

    #[test]
    fn resource_references_parse_with_and_without_keys() {
        assert_eq!(
            resource_ref("alicloud_security_group.web[0].id"),
            Some(("alicloud_security_group.web".to_owned(), Some("[0]".to_owned())))
        );
        assert_eq!(
            resource_ref("alicloud_security_group.web"),
            Some(("alicloud_security_group.web".to_owned(), None))
        );
        assert_eq!(
            parent("module.a.module.b[1]"),
            Some(("module.a".to_owned(), "b".to_owned()))
        );
        assert_eq!(parent("module.a"), Some((String::new(), "a".to_owned())));
    }
}
