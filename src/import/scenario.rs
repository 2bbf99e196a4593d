//! An [`Inventory`] as a scenario: each provider's own create calls, with the ids the cloud
//! gave pinned (`id`, `ids`), so every answer names the user's real groups and rules.
//!
//! - ECS: `CreateSecurityGroup` (RegionId, VpcId, SecurityGroupType, name),
//!   `ModifySecurityGroupPolicy` for a basic group's `InnerAccessPolicy`, then one
//!   `AuthorizeSecurityGroup[Egress]` per rule with its id. A prefix-list peer whose entries
//!   were given becomes one rule per entry, each named `<rule id>[<entry>]`: the entries
//!   share the rule's priority, policy, group and place in creation order, so the verdict
//!   is the rule's and the deciding entry names it. Over the group quota, the rule stays
//!   unresolved instead.
//! - ENS: `CreateSecurityGroup` with the rules inline (`Permissions`; ENS rules have no ids).
//! - Huawei: `CreateAddressGroup` with its id, `CreateSecurityGroup` with `defaults: false`
//!   (the listing shows whatever default rules the group kept), one
//!   `CreateSecurityGroupRule` per rule with its id.
//! - Gcore: `CreateSecurityGroup` with `rules: []` and `defaults: false`, one
//!   `CreateSecurityGroupRule` per rule with its id. A group from a Terraform configuration
//!   gets the defaults its provider's create request gets (`Converter::gcore_defaults`).
//!
//! Groups come first, then rules (so group references resolve), in the order read; every
//! call and endpoint carries its record's origin as `description`. A rule whose peer,
//! ports or protocol the documents do not give is not created: it stays in the scenario's
//! `unresolved` list with what is known of it ([`Effect`]), and answers that depend on it
//! say so ([`crate::query::unresolved`]). Nothing is dropped silently.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use serde_json::{json, Map, Value};

use super::{
    Defaults, EndpointRecord, GroupRecord, ImportError, Inventory, Origin, RuleRecord, Skipped,
    UnresolvedKind,
};
use crate::cloud::Request;
use crate::query::unresolved::{Aspect, Effect, Item, Placeholder};
use crate::{Direction, Family, Provider, Scenario};

/// An imported scenario, as the JSON `sgeval import` prints.
#[derive(Clone, Debug)]
pub struct Imported {
    /// The scenario file's JSON.
    pub value: Value,
    /// What the documents did not settle, with what each leaves open (also in `value`).
    pub unresolved: Vec<Item>,
    /// Resources the readers did not use.
    pub skipped: Vec<Skipped>,
    /// Facts worth telling that change no verdict.
    pub notes: Vec<String>,
}

impl Imported {
    /// The scenario `value` holds, parsed.
    ///
    /// # Errors
    /// [`ImportError::Field`] when it does not parse (an id or field no scenario can carry).
    pub fn scenario(&self) -> Result<Scenario, ImportError> {
        Scenario::from_value(&self.value).map_err(|e| ImportError::Field {
            origin: Origin::new("(import)", ""),
            message: format!("the imported scenario does not parse: {e}"),
        })
    }
}

/// The scenario of `inv`: its JSON and the same parsed.
///
/// # Errors
/// As [`Imported::scenario`].
pub fn to_scenario(inv: &Inventory) -> Result<(Imported, Scenario), ImportError> {
    let imported = to_json(inv);
    let scenario = imported.scenario()?;
    Ok((imported, scenario))
}

/// The scenario of `inv` as JSON only (a large import need not hold it twice).
pub fn to_json(inv: &Inventory) -> Imported {
    Converter::new(inv, Calls::Keep(Vec::new())).run().0
}

/// Writes the scenario of `inv` to `out` as pretty-printed JSON, each call as it is made, so
/// a large import is never held whole. Returns the rest, as [`to_json`] would: `value`
/// holds every field but `calls`, and the number of calls written.
///
/// # Errors
/// The writer's error.
pub fn write_json(inv: &Inventory, out: &mut dyn Write) -> std::io::Result<(Imported, usize)> {
    let head = header(inv);
    let indent = |v: &Value| serde_json::to_string_pretty(v).map(|t| t.replace('\n', "\n  "));
    write!(
        out,
        "{{\n  \"provider\": {},\n  \"description\": {},\n  \"options\": {},\n  \"calls\": [",
        head["provider"],
        head["description"],
        indent(&head["options"])?
    )?;
    let (imported, calls) = Converter::new(
        inv,
        Calls::Write {
            out,
            count: 0,
            error: None,
        },
    )
    .run();
    let (out, calls) = match calls {
        Calls::Write { error: Some(e), .. } => return Err(e),
        Calls::Write { out, count, .. } => (out, count),
        Calls::Keep(_) => return Err(std::io::Error::other("the calls were not written")),
    };
    write!(
        out,
        "{}],\n  \"endpoints\": {}",
        if calls > 0 { "\n  " } else { "" },
        indent(&imported.value["endpoints"])?
    )?;
    if let Some(u) = imported.value.get("unresolved") {
        write!(out, ",\n  \"unresolved\": {}", indent(u)?)?;
    }
    writeln!(out, "\n}}")?;
    Ok((imported, calls))
}

/// A field naming the rule's peer or ports through another object, and what its absence
/// leaves unknown.
fn aspect_of(field: Option<&str>) -> Aspect {
    match field.unwrap_or("") {
        "SourcePrefixListId"
        | "DestPrefixListId"
        | "SourceGroupId"
        | "DestGroupId"
        | "SourceCidrIp"
        | "DestCidrIp"
        | "Ipv6SourceCidrIp"
        | "Ipv6DestCidrIp"
        | "remote_group_id"
        | "remote_address_group_id"
        | "remote_ip_prefix" => Aspect::Remote,
        "PortRangeListId" | "PortRange" | "SourcePortRange" | "multiport" | "port_range_min"
        | "port_range_max" => Aspect::Ports,
        "IpProtocol" | "protocol" | "ethertype" => Aspect::Protocol,
        "Policy" | "action" => Aspect::Action,
        "Priority" | "priority" => Aspect::Priority,
        _ => Aspect::All,
    }
}

/// Fields that go with a peer field (names shown beside ids).
fn peer_fields(field: &str) -> &'static [&'static str] {
    match field {
        "SourcePrefixListId" => &["SourcePrefixListId", "SourcePrefixListName"],
        "DestPrefixListId" => &["DestPrefixListId", "DestPrefixListName"],
        "SourceGroupId" => &[
            "SourceGroupId",
            "SourceGroupName",
            "SourceGroupOwnerAccount",
            "SourceGroupOwnerId",
        ],
        "DestGroupId" => &[
            "DestGroupId",
            "DestGroupName",
            "DestGroupOwnerAccount",
            "DestGroupOwnerId",
        ],
        "PortRangeListId" => &["PortRangeListId", "PortRangeListName"],
        "remote_group_id" => &["remote_group_id"],
        "remote_address_group_id" => &["remote_address_group_id"],
        _ => &[],
    }
}

/// `$` is the scenario's reference sign: a literal one in a document's text is `$$` in
/// the requests and endpoint groups (`id`, `ids` and endpoint names are taken as written).
fn escape(v: &Value) -> Value {
    match v {
        Value::String(s) if s.contains('$') => Value::String(s.replace('$', "$$")),
        Value::Array(a) => Value::Array(a.iter().map(escape).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), escape(v))).collect()),
        other => other.clone(),
    }
}

fn text(s: &str) -> Value {
    Value::from(s.replace('$', "$$"))
}

/// What becomes of one rule.
enum Fate {
    /// Created as read.
    Create,
    /// Created once per prefix-list entry: (peer field to set, entry) in entry order.
    Expand(Vec<(&'static str, String)>),
    /// Not created: the aspects the documents leave unknown.
    Open(Vec<Aspect>),
    /// Created, but its priority or action is in doubt.
    Doubt(Vec<Aspect>),
}

/// Where calls go: kept for one JSON value, or written out as they are made.
enum Calls<'w> {
    Keep(Vec<Value>),
    Write {
        out: &'w mut dyn Write,
        count: usize,
        error: Option<std::io::Error>,
    },
}

/// The scenario's first fields. The documents show state the cloud already accepted, so
/// the count quotas do not hold on its replay (`"quotas": "lifted"`, SEMANTICS.md
/// "Imported state"): an account may have them raised.
fn header(inv: &Inventory) -> Value {
    json!({
        "provider": inv.provider.name(),
        "description": format!("imported by sgeval import: {} group(s), {} endpoint(s)", inv.groups.len(), inv.endpoints.len()),
        "options": {"quotas": "lifted"},
    })
}

struct Converter<'a, 'w> {
    inv: &'a Inventory,
    calls: Calls<'w>,
    items: Vec<Item>,
    notes: Vec<String>,
}

impl<'a, 'w> Converter<'a, 'w> {
    fn new(inv: &'a Inventory, calls: Calls<'w>) -> Converter<'a, 'w> {
        Converter {
            inv,
            calls,
            items: Vec::new(),
            notes: inv.notes.clone(),
        }
    }

    fn run(mut self) -> (Imported, Calls<'w>) {
        let inv = self.inv;
        let rule_subjects: HashMap<String, (usize, usize)> = inv
            .groups
            .iter()
            .enumerate()
            .flat_map(|(gi, g)| {
                g.rules
                    .iter()
                    .enumerate()
                    .map(move |(ri, r)| (subject_of(r), (gi, ri)))
            })
            .collect();
        // Per rule, the items about it.
        let mut about: HashMap<(usize, usize), Vec<usize>> = HashMap::new();
        let group_ids: HashMap<&str, usize> = inv
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| (g.id.as_str(), i))
            .collect();
        let endpoint_names: HashSet<&str> = inv.endpoints.iter().map(|e| e.name.as_str()).collect();
        for (i, u) in inv.unresolved.iter().enumerate() {
            let mut item = Item {
                kind: u.kind.clone(),
                subject: u.subject.clone(),
                field: u.field.clone(),
                origin: u.origin.clone(),
                message: u.message.clone(),
                effect: None,
            };
            if let Some(&at) = rule_subjects.get(&u.subject) {
                about.entry(at).or_default().push(i);
            } else if let Some(&gi) = group_ids.get(u.subject.as_str()) {
                item.effect = Some(Effect::Group {
                    group: inv.groups[gi].id.clone(),
                    endpoint: None,
                    position: None,
                });
            } else if u.kind == UnresolvedKind::GroupOrder && endpoint_names.contains(u.subject.as_str()) {
                item.effect = Some(Effect::GroupOrder {
                    endpoint: u.subject.clone(),
                });
            }
            self.items.push(item);
        }
        let quota = inv.provider.profile().rules_per_group;
        let mut fates: Vec<Vec<Fate>> = Vec::with_capacity(inv.groups.len());
        for (gi, g) in inv.groups.iter().enumerate() {
            let mut count = g.rules.len();
            let mut group_fates = Vec::with_capacity(g.rules.len());
            for (ri, r) in g.rules.iter().enumerate() {
                let mine = about.get(&(gi, ri)).cloned().unwrap_or_default();
                let mut fate = self.fate(r, &mine);
                if let Fate::Expand(entries) = &fate {
                    // INVARIANT: an expansion keeps the group within its quota, or the rule
                    // stays unresolved: never a scenario the front end refuses.
                    if quota.is_some_and(|q| (count + entries.len()).saturating_sub(1) > q) {
                        let why = format!(
                            "the prefix list's {} entries, one rule each, would pass group `{}`'s quota of {} rules",
                            entries.len(),
                            g.id,
                            quota.unwrap_or_default()
                        );
                        fate = self.leave_open(r, why);
                        about.entry((gi, ri)).or_default().push(self.items.len() - 1);
                    } else {
                        count = (count + entries.len()).saturating_sub(1);
                    }
                }
                group_fates.push(fate);
            }
            fates.push(group_fates);
        }
        // The same for the rules of all groups of one NIC (ECS: 1,000).
        if let Some(limit) = inv.provider.profile().rules_per_nic {
            let extra: Vec<isize> = fates
                .iter()
                .map(|f| {
                    f.iter()
                        .map(|f| match f {
                            Fate::Expand(e) => e.len() as isize - 1,
                            _ => 0,
                        })
                        .sum()
                })
                .collect();
            for e in &inv.endpoints {
                let of = |gid: &String| group_ids.get(gid.as_str()).copied();
                let listed: usize = e
                    .groups
                    .iter()
                    .filter_map(of)
                    .map(|gi| inv.groups[gi].rules.len())
                    .sum();
                let added: isize = e.groups.iter().filter_map(of).map(|gi| extra[gi]).sum();
                if added <= 0 || (listed as isize + added) as usize <= limit {
                    continue;
                }
                for gi in e.groups.iter().filter_map(of) {
                    for (ri, r) in inv.groups[gi].rules.iter().enumerate() {
                        if let Fate::Expand(entries) = &fates[gi][ri] {
                            if entries.len() > 1 {
                                let why = format!(
                                    "one rule per prefix-list entry would give NIC `{}` more than the {limit} rules its groups may hold",
                                    e.name
                                );
                                fates[gi][ri] = self.leave_open(r, why);
                                about.entry((gi, ri)).or_default().push(self.items.len() - 1);
                            }
                        }
                    }
                }
            }
        }
        if inv.provider == Provider::Huawei {
            for a in &inv.address_groups {
                let mut body = json!({"ip_version": a.ip_version, "ip_set": escape(&json!(a.ip_set))});
                body["name"] = text(a.name.as_deref().unwrap_or(&a.id));
                self.emit(json!({"api": "CreateAddressGroup", "id": a.id,
                    "description": text(&place(&a.origin)), "body": {"address_group": body}}));
            }
        }
        for (g, group_fates) in inv.groups.iter().zip(&fates) {
            self.group(g, group_fates);
        }
        for (gi, (g, group_fates)) in inv.groups.iter().zip(fates).enumerate() {
            for (ri, (r, fate)) in g.rules.iter().zip(group_fates).enumerate() {
                let mine = about.get(&(gi, ri)).cloned().unwrap_or_default();
                self.rule(g, r, fate, &mine);
            }
        }
        let endpoints = self.endpoints();
        let mut root = header(inv);
        if let Calls::Keep(calls) = &mut self.calls {
            root["calls"] = Value::Array(std::mem::take(calls));
        }
        root["endpoints"] = Value::Array(endpoints);
        if !self.items.is_empty() {
            root["unresolved"] = serde_json::to_value(&self.items).unwrap_or_default();
        }
        let imported = Imported {
            value: root,
            unresolved: self.items,
            skipped: inv.skipped.clone(),
            notes: self.notes,
        };
        (imported, self.calls)
    }

    /// One call, kept or written out.
    fn emit(&mut self, call: Value) {
        match &mut self.calls {
            Calls::Keep(calls) => calls.push(call),
            Calls::Write { out, count, error } => {
                if error.is_some() {
                    return;
                }
                let text = serde_json::to_string_pretty(&call).unwrap_or_default();
                // INVARIANT: JSON text holds no raw newline inside strings, so indenting
                // every line keeps the call intact.
                let sep = if *count == 0 { "\n    " } else { ",\n    " };
                if let Err(e) = write!(out, "{sep}{}", text.replace('\n', "\n    ")) {
                    *error = Some(e);
                }
                *count += 1;
            }
        }
    }

    /// An ECS prefix-list rule that cannot be expanded: an unresolved item about it.
    fn leave_open(&mut self, r: &RuleRecord, why: String) -> Fate {
        let field = ["SourcePrefixListId", "DestPrefixListId"]
            .into_iter()
            .find(|f| r.fields.contains_key(*f))
            .unwrap_or("SourcePrefixListId");
        self.items.push(Item {
            kind: UnresolvedKind::PrefixListEntries,
            subject: subject_of(r),
            field: Some(field.to_owned()),
            origin: r.origin.clone(),
            message: format!("{why}; sgeval does not model prefix lists, so the rule is left open"),
            effect: None,
        });
        Fate::Open(vec![Aspect::Remote])
    }

    /// The group's create call (and ECS policy call).
    fn group(&mut self, g: &GroupRecord, fates: &[Fate]) {
        let provider = self.inv.provider;
        let name = g.name.clone().unwrap_or_else(|| g.id.clone());
        let described = place(&g.origin);
        let mut call = match provider {
            Provider::Ecs => {
                let mut params = Map::new();
                for key in ["RegionId", "VpcId", "SecurityGroupType"] {
                    if let Some(v) = g.attributes.get(key) {
                        params.insert(key.to_owned(), escape(v));
                    }
                }
                if !params.contains_key("RegionId") {
                    // The region changes no verdict; the front end wants one.
                    params.insert("RegionId".to_owned(), json!("cn-hangzhou"));
                    self.notes.push(format!(
                        "group `{}`: no RegionId in the documents; `cn-hangzhou` stands in (no verdict depends on it)",
                        g.id
                    ));
                }
                if let Some(n) = &g.name {
                    params.insert("SecurityGroupName".to_owned(), text(n));
                }
                json!({"api": "CreateSecurityGroup", "params": params})
            }
            Provider::Ens => {
                // ENS rules are created with their group; an open one is left out.
                let perms: Vec<Value> = g
                    .rules
                    .iter()
                    .zip(fates)
                    .filter(|(_, f)| !matches!(f, Fate::Open(_)))
                    .map(|(r, _)| {
                        let mut p = r.fields.clone();
                        p.insert("Direction".to_owned(), Value::from(r.direction.to_string()));
                        escape(&Value::Object(p))
                    })
                    .collect();
                // ENS rules have no ids: each is named by where it was read, so an answer
                // points at the record.
                let ids: Vec<Value> = g
                    .rules
                    .iter()
                    .zip(fates)
                    .filter(|(_, f)| !matches!(f, Fate::Open(_)))
                    .map(|(r, _)| {
                        Value::from(
                            r.id.clone()
                                .unwrap_or_else(|| format!("{}#{}", r.origin.file, r.origin.path)),
                        )
                    })
                    .collect();
                let mut params = json!({"Permissions": perms});
                if let Some(n) = &g.name {
                    params["SecurityGroupName"] = text(n);
                }
                let mut call = json!({"api": "CreateSecurityGroup", "params": params});
                if !ids.is_empty() {
                    call["ids"] = Value::Array(ids);
                }
                call
            }
            Provider::Huawei => {
                json!({"api": "CreateSecurityGroup", "body": {"security_group": {"name": text(&name)}}})
            }
            Provider::Gcore => {
                let mut body = json!({"name": text(&name), "rules": []});
                if g.defaults == Defaults::Added && !g.rules.iter().any(|r| r.default) {
                    self.gcore_defaults(g, &mut body);
                }
                json!({"api": "CreateSecurityGroup", "body": body})
            }
        };
        call["id"] = Value::from(g.id.clone());
        call["description"] = text(&described);
        if matches!(provider, Provider::Huawei | Provider::Gcore) {
            // The records list every rule the group has (the provider's defaults it kept,
            // or the ones the importer added); only a configuration that relies on the
            // provider adding them, without records of them, keeps the create-time rules.
            let added_by_provider = g.defaults == Defaults::Added && !g.rules.iter().any(|r| r.default);
            if !added_by_provider {
                call["defaults"] = json!(false);
            }
        }
        self.emit(call);
        if provider == Provider::Ecs {
            let basic = g
                .attributes
                .get("SecurityGroupType")
                .and_then(Value::as_str)
                .is_none_or(|t| t.eq_ignore_ascii_case("normal"));
            if let (true, Some(policy)) = (basic, g.attributes.get("InnerAccessPolicy")) {
                let region = g
                    .attributes
                    .get("RegionId")
                    .cloned()
                    .unwrap_or(json!("cn-hangzhou"));
                self.emit(json!({"api": "ModifySecurityGroupPolicy", "description": text(&described),
                    "params": {"RegionId": escape(&region), "SecurityGroupId": text(&g.id), "InnerAccessPolicy": escape(policy)}}));
            }
        }
    }

    /// A Gcore group described by its configuration gets what the API adds on create
    /// (Decision 6), as its Terraform provider asks for it. The v2 provider leaves an unset
    /// `rules` out of the request (its encoder omits null attributes), so the API adds its
    /// defaults: the create call here leaves `rules` out too, and the front end adds them
    /// as the scenario's `gcore_defaults` reads the documents (egress allow-all, or the
    /// template). Inline rules with an egress rule get nothing added under either reading
    /// (v0 always sends one: it refuses a group without). Inline rules without one get
    /// egress allow-all under the default reading and nothing under the template's; the
    /// rules are created one by one here, so that is left unresolved, not guessed.
    fn gcore_defaults(&mut self, g: &GroupRecord, body: &mut Value) {
        let inline: Vec<&RuleRecord> = g.rules.iter().filter(|r| r.address.is_none()).collect();
        if inline.is_empty() {
            if let Value::Object(m) = body {
                m.remove("rules");
            }
        } else if !inline.iter().any(|r| r.direction == Direction::Egress) {
            self.items.push(Item {
                kind: UnresolvedKind::CloudDefault,
                subject: g.id.clone(),
                field: Some("rules".to_owned()),
                origin: g.origin.clone(),
                message: format!(
                    "group `{}` is created with inline rules and no egress rule: Gcore adds egress allow-all (IPv4 and IPv6) by the January-May 2026 wording and nothing by the July 2026 one (SEMANTICS.md Decision 6); its egress answers depend on which",
                    g.id
                ),
                effect: Some(Effect::Rule {
                    group: g.id.clone(),
                    direction: Direction::Egress,
                    unknown: vec![Aspect::All],
                    rule: None,
                    request: None,
                }),
            });
        }
    }

    /// What becomes of a rule, given the items about it.
    fn fate(&self, r: &RuleRecord, items: &[usize]) -> Fate {
        let mut aspects: Vec<Aspect> = items
            .iter()
            .map(|&i| {
                let item = &self.items[i];
                match item.kind {
                    // Accepted as allow (`--accept-v1`); only its place is in doubt.
                    UnresolvedKind::V1Rule => Aspect::Priority,
                    UnresolvedKind::PrefixListEntries => Aspect::Remote,
                    UnresolvedKind::PortRangeList => Aspect::Ports,
                    _ => aspect_of(item.field.as_deref()),
                }
            })
            .collect();
        aspects.sort_unstable();
        aspects.dedup();
        if !aspects.is_empty() {
            return if aspects
                .iter()
                .all(|a| matches!(a, Aspect::Priority | Aspect::Action))
            {
                Fate::Doubt(aspects)
            } else {
                Fate::Open(aspects)
            };
        }
        if self.inv.provider == Provider::Ecs {
            for (field, v4, v6) in [
                ("SourcePrefixListId", "SourceCidrIp", "Ipv6SourceCidrIp"),
                ("DestPrefixListId", "DestCidrIp", "Ipv6DestCidrIp"),
            ] {
                let Some(id) = r.fields.get(field).and_then(Value::as_str) else {
                    continue;
                };
                if let Some(list) = self.inv.prefix_lists.iter().find(|p| p.id == id) {
                    let peer = if list.family == Family::V6 { v6 } else { v4 };
                    return if list.entries.is_empty() {
                        // An empty list matches nothing: the rule never decides.
                        Fate::Expand(Vec::new())
                    } else {
                        Fate::Expand(list.entries.iter().map(|e| (peer, e.clone())).collect())
                    };
                }
            }
        }
        Fate::Create
    }

    /// The rule's create call(s), or its unresolved item's effect.
    fn rule(&mut self, g: &GroupRecord, r: &RuleRecord, fate: Fate, items: &[usize]) {
        let described = place(&r.origin);
        match fate {
            Fate::Create | Fate::Doubt(_) => {
                if self.inv.provider != Provider::Ens {
                    let mut call = self.rule_call(g, r.direction, &r.fields);
                    if let Some(id) = &r.id {
                        call["ids"] = json!([id]);
                    }
                    call["description"] = text(&described);
                    self.emit(call);
                }
                if let Fate::Doubt(aspects) = fate {
                    for &i in items {
                        self.items[i].effect = Some(Effect::Rule {
                            group: g.id.clone(),
                            direction: r.direction,
                            unknown: aspects.clone(),
                            rule: r.id.clone(),
                            request: None,
                        });
                    }
                }
            }
            Fate::Expand(entries) => {
                if entries.is_empty() {
                    self.notes.push(format!(
                        "rule `{}` ({described}): its prefix list has no entries, so it matches nothing and is not created",
                        subject_of(r)
                    ));
                }
                let many = entries.len() > 1;
                for (peer, entry) in entries {
                    let mut fields = r.fields.clone();
                    for f in [
                        "SourcePrefixListId",
                        "SourcePrefixListName",
                        "DestPrefixListId",
                        "DestPrefixListName",
                    ] {
                        fields.remove(f);
                    }
                    fields.insert(peer.to_owned(), Value::from(entry.clone()));
                    let mut call = self.rule_call(g, r.direction, &fields);
                    if let Some(id) = &r.id {
                        let id = if many {
                            format!("{id}[{entry}]")
                        } else {
                            id.clone()
                        };
                        call["ids"] = json!([id]);
                    }
                    call["description"] = text(&format!("{described} (prefix-list entry {entry})"));
                    self.emit(call);
                }
            }
            Fate::Open(aspects) => {
                let request = self.widened(g, r, items, &aspects);
                for &i in items {
                    self.items[i].effect = Some(Effect::Rule {
                        group: g.id.clone(),
                        direction: r.direction,
                        unknown: aspects.clone(),
                        rule: None,
                        request: request.clone(),
                    });
                }
            }
        }
    }

    /// The create call of one rule of `g`, in the provider's shape (ids as read).
    fn rule_call(&self, g: &GroupRecord, direction: Direction, fields: &Map<String, Value>) -> Value {
        let fields = escape(&Value::Object(fields.clone()));
        match self.inv.provider {
            Provider::Ecs | Provider::Ens => {
                let api = match direction {
                    Direction::Ingress => "AuthorizeSecurityGroup",
                    Direction::Egress => "AuthorizeSecurityGroupEgress",
                };
                let mut params = json!({"SecurityGroupId": text(&g.id), "Permissions": [fields]});
                if self.inv.provider == Provider::Ecs {
                    params["RegionId"] =
                        escape(g.attributes.get("RegionId").unwrap_or(&json!("cn-hangzhou")));
                }
                json!({"api": api, "params": params})
            }
            Provider::Huawei => {
                let mut body = fields;
                body["security_group_id"] = text(&g.id);
                json!({"api": "CreateSecurityGroupRule", "body": {"security_group_rule": body}})
            }
            Provider::Gcore => {
                let mut body = fields;
                body["group_id"] = text(&g.id);
                json!({"api": "CreateSecurityGroupRule", "body": body})
            }
        }
    }

    /// The rule with its unknown fields widened, as a placeholder request (no `$` escapes:
    /// it is replayed as is), or `None` when nothing of it is known.
    fn widened(
        &self,
        g: &GroupRecord,
        r: &RuleRecord,
        items: &[usize],
        aspects: &[Aspect],
    ) -> Option<Box<Placeholder>> {
        if aspects.contains(&Aspect::All) || self.inv.provider == Provider::Ens {
            return None;
        }
        let mut fields = r.fields.clone();
        for &i in items {
            if let Some(f) = &self.items[i].field {
                for peer in peer_fields(f) {
                    fields.remove(*peer);
                }
            }
        }
        let v6 = |fields: &Map<String, Value>| {
            fields
                .get("ethertype")
                .and_then(Value::as_str)
                .is_some_and(|e| e.eq_ignore_ascii_case("ipv6"))
        };
        match self.inv.provider {
            Provider::Ecs => {
                let peers = [
                    "SourceCidrIp",
                    "Ipv6SourceCidrIp",
                    "SourceGroupId",
                    "SourcePrefixListId",
                    "DestCidrIp",
                    "Ipv6DestCidrIp",
                    "DestGroupId",
                    "DestPrefixListId",
                ];
                if aspects.contains(&Aspect::Remote) || !peers.iter().any(|p| fields.contains_key(*p)) {
                    for p in peers {
                        fields.remove(p);
                    }
                    let key = match r.direction {
                        Direction::Ingress => "SourceCidrIp",
                        Direction::Egress => "DestCidrIp",
                    };
                    fields.insert(key.to_owned(), json!("0.0.0.0/0"));
                }
                if aspects.contains(&Aspect::Ports) && !fields.contains_key("PortRange") {
                    fields.insert("PortRange".to_owned(), json!("1/65535"));
                }
            }
            Provider::Huawei | Provider::Gcore => {
                if aspects.contains(&Aspect::Remote) {
                    fields.remove("remote_group_id");
                    fields.remove("remote_address_group_id");
                    let any = if v6(&fields) { "::/0" } else { "0.0.0.0/0" };
                    fields.insert("remote_ip_prefix".to_owned(), json!(any));
                }
            }
            Provider::Ens => {}
        }
        let call = self.rule_call(g, r.direction, &fields);
        let unescaped = |v: &Value| -> Value {
            // The placeholder is replayed without `$` substitution.
            serde_json::from_str(&v.to_string().replace("$$", "$")).unwrap_or_else(|_| v.clone())
        };
        Some(Box::new(Placeholder {
            api: call["api"].as_str().unwrap_or_default().to_owned(),
            request: Request {
                params: call.get("params").map(unescaped),
                body: call.get("body").map(unescaped),
                path: None,
            },
        }))
    }

    /// The endpoints: NIC ids as names, groups in association order; a group no document
    /// describes is left out and stands as an unresolved group at its place.
    fn endpoints(&mut self) -> Vec<Value> {
        let inv = self.inv;
        let described: HashSet<&str> = inv.groups.iter().map(|g| g.id.as_str()).collect();
        let mut out = Vec::new();
        for e in &inv.endpoints {
            if !e.port_security {
                self.notes.push(format!(
                    "port `{}` ({}): security groups are off (`port_security_enabled: false`), so no group filters its traffic; it is not an endpoint of the scenario (an address of it is decided by the other side alone)",
                    e.name, e.origin
                ));
                continue;
            }
            let groups: Vec<&String> = e
                .groups
                .iter()
                .filter(|g| described.contains(g.as_str()))
                .collect();
            for (position, gid) in e.groups.iter().enumerate() {
                if !described.contains(gid.as_str()) {
                    self.missing_group(e, gid, position);
                }
            }
            if groups.is_empty() {
                self.notes.push(format!(
                    "endpoint `{}` ({}): none of its groups is described, so it is left out; add the groups' describe/list answers",
                    e.name, e.origin
                ));
                continue;
            }
            if !e.order_known
                && inv.provider == Provider::Huawei
                && !self
                    .items
                    .iter()
                    .any(|i| i.kind == UnresolvedKind::GroupOrder && i.subject == e.name)
            {
                self.items.push(Item {
                    kind: UnresolvedKind::GroupOrder,
                    subject: e.name.clone(),
                    field: Some("groups".to_owned()),
                    origin: e.origin.clone(),
                    message: format!(
                        "the association order of `{}`'s groups is not in the documents, and Huawei decides by it",
                        e.name
                    ),
                    effect: None,
                });
            }
            for item in &mut self.items {
                if item.kind == UnresolvedKind::GroupOrder && item.subject == e.name {
                    item.effect = Some(Effect::GroupOrder {
                        endpoint: e.name.clone(),
                    });
                }
            }
            out.push(json!({
                "name": e.name,
                "ips": e.ips,
                "groups": groups.iter().map(|g| text(g)).collect::<Vec<_>>(),
                "description": text(&place(&e.origin)),
            }));
        }
        out
    }

    /// An endpoint's group that no document describes: the unresolved item about it (the
    /// reader's, or a new one) stands for it at its place.
    fn missing_group(&mut self, e: &EndpointRecord, gid: &str, position: usize) {
        let effect = Effect::Group {
            group: gid.to_owned(),
            endpoint: Some(e.name.clone()),
            position: Some(position),
        };
        let mention = format!("`{gid}`");
        if let Some(item) = self
            .items
            .iter_mut()
            .find(|i| i.subject == e.name && i.effect.is_none() && i.message.contains(&mention))
        {
            item.effect = Some(effect);
            return;
        }
        self.items.push(Item {
            kind: UnresolvedKind::MissingObject,
            subject: e.name.clone(),
            field: Some("groups".to_owned()),
            origin: e.origin.clone(),
            message: format!(
                "endpoint `{}` is in group `{gid}` that no document describes",
                e.name
            ),
            effect: Some(effect),
        });
    }
}

/// Where a record was read, for a `description`: the file, and the JSON path when there is one.
fn place(o: &Origin) -> String {
    if o.path.is_empty() {
        o.file.clone()
    } else {
        o.to_string()
    }
}

/// The subject unresolved items use for a rule: its id, or where it was read.
fn subject_of(r: &RuleRecord) -> String {
    r.id.clone().unwrap_or_else(|| r.origin.to_string())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn dollar_signs_of_the_documents_stay_literal() {
        let mut inv = Inventory::new(Provider::Gcore);
        let mut fields = Map::new();
        fields.insert("direction".into(), json!("ingress"));
        fields.insert("protocol".into(), json!("tcp"));
        fields.insert("port_range_min".into(), json!(22));
        fields.insert("port_range_max".into(), json!(22));
        fields.insert("remote_ip_prefix".into(), json!("0.0.0.0/0"));
        fields.insert("description".into(), json!("costs $5"));
        inv.groups.push(GroupRecord {
            id: "g$1".into(),
            address: None,
            name: Some("web$".into()),
            origin: Origin::new("a$.json", "results[0]"),
            attributes: Map::new(),
            rules: vec![RuleRecord {
                id: Some("r$1".into()),
                address: None,
                origin: Origin::new("a$.json", "results[0].security_group_rules[0]"),
                direction: Direction::Ingress,
                fields,
                default: false,
            }],
            defaults: Defaults::Listed,
        });
        inv.endpoints.push(EndpointRecord {
            name: "port$".into(),
            address: None,
            instance: None,
            origin: Origin::new("p.json", "results[0]"),
            ips: vec!["10.0.0.5".parse().unwrap()],
            groups: vec!["g$1".into()],
            order_known: true,
            port_security: true,
        });
        let (_, scenario) = to_scenario(&inv).unwrap();
        let cloud = scenario.build().unwrap();
        let g = cloud.group_by_id("g$1").unwrap();
        assert_eq!(g.name, "web$");
        assert_eq!(g.rules[0].id, "r$1");
        assert_eq!(g.rules[0].description, "costs $5");
        assert!(cloud.endpoint_by_name("port$").is_some());
    }

    fn ecs_rule(i: usize, peer: (&str, &str)) -> RuleRecord {
        let mut fields = Map::new();
        fields.insert("IpProtocol".into(), json!("TCP"));
        fields.insert("PortRange".into(), json!(format!("{}/{}", 1000 + i, 1000 + i)));
        fields.insert(peer.0.into(), json!(peer.1));
        fields.insert("Policy".into(), json!("Accept"));
        fields.insert("Priority".into(), json!(1));
        RuleRecord {
            id: Some(format!("sgr-{i}")),
            address: None,
            origin: Origin::new("a.json", format!("Permissions.Permission[{i}]")),
            direction: Direction::Ingress,
            fields,
            default: false,
        }
    }

    fn ecs_group(id: &str, rules: Vec<RuleRecord>) -> GroupRecord {
        let mut attributes = Map::new();
        attributes.insert("RegionId".into(), json!("cn-hangzhou"));
        attributes.insert("VpcId".into(), json!("vpc-1"));
        GroupRecord {
            id: id.into(),
            address: None,
            name: None,
            origin: Origin::new("a.json", ""),
            attributes,
            rules,
            defaults: Defaults::Listed,
        }
    }

    #[test]
    fn an_expansion_over_the_nic_quota_leaves_the_rules_open() {
        let mut inv = Inventory::new(Provider::Ecs);
        // Six groups, 1,000 rules on the NIC as listed; each group has one prefix-list rule
        // of two entries, which would make 1,006.
        let mut n = 0;
        for (g, plain) in [198, 198, 198, 198, 198, 4].into_iter().enumerate() {
            let mut rules: Vec<RuleRecord> = (0..plain)
                .map(|_| {
                    n += 1;
                    ecs_rule(n, ("SourceCidrIp", "10.0.0.0/8"))
                })
                .collect();
            n += 1;
            rules.push(ecs_rule(n, ("SourcePrefixListId", "pl-1")));
            inv.groups.push(ecs_group(&format!("sg-{g}"), rules));
        }
        inv.prefix_lists.push(super::super::PrefixListRecord {
            id: "pl-1".into(),
            origin: Origin::new("pl.json", ""),
            family: Family::V4,
            entries: vec!["192.0.2.0/24".into(), "198.51.100.0/24".into()],
        });
        inv.endpoints.push(EndpointRecord {
            name: "eni-1".into(),
            address: None,
            instance: None,
            origin: Origin::new("n.json", ""),
            ips: vec!["10.0.0.5".parse().unwrap()],
            groups: (0..6).map(|g| format!("sg-{g}")).collect(),
            order_known: true,
            port_security: true,
        });
        let (out, scenario) = to_scenario(&inv).unwrap();
        let cloud = scenario.build().unwrap();
        assert_eq!(cloud.groups().map(|g| g.rules.len()).sum::<usize>(), 994);
        assert_eq!(out.unresolved.len(), 6);
        assert!(out.unresolved.iter().all(|u| u.message.contains("NIC `eni-1`")));
    }

    #[test]
    fn an_expansion_over_the_group_quota_leaves_the_rule_open() {
        let mut inv = Inventory::new(Provider::Ecs);
        let mut rules: Vec<RuleRecord> = (0..199)
            .map(|i| ecs_rule(i, ("SourceCidrIp", "10.0.0.0/8")))
            .collect();
        rules.push(ecs_rule(199, ("SourcePrefixListId", "pl-1")));
        inv.groups.push(ecs_group("sg-1", rules));
        inv.prefix_lists.push(super::super::PrefixListRecord {
            id: "pl-1".into(),
            origin: Origin::new("pl.json", ""),
            family: Family::V4,
            entries: vec!["192.0.2.0/24".into(), "198.51.100.0/24".into()],
        });
        let (out, scenario) = to_scenario(&inv).unwrap();
        // 199 + 2 entries would pass the quota of 200: the rule stays open, not refused.
        let cloud = scenario.build().unwrap();
        assert_eq!(cloud.group_by_id("sg-1").unwrap().rules.len(), 199);
        assert_eq!(out.unresolved.len(), 1);
        assert_eq!(out.unresolved[0].subject, "sgr-199");
        assert!(matches!(out.unresolved[0].effect, Some(Effect::Rule { .. })));
        // One entry fits: expanded under the rule's own id.
        inv.prefix_lists[0].entries.pop();
        let (out, scenario) = to_scenario(&inv).unwrap();
        let cloud = scenario.build().unwrap();
        assert!(out.unresolved.is_empty());
        assert!(cloud
            .group_by_id("sg-1")
            .unwrap()
            .rules
            .iter()
            .any(|r| r.id == "sgr-199"));
    }

    /// A Gcore group from its configuration (`Defaults::Added`) with inline rules in the
    /// given directions and one rule resource (ingress, with an address).
    fn gcore_configured(inline: &[Direction]) -> Inventory {
        let mut inv = Inventory::new(Provider::Gcore);
        let rule = |i: usize, direction: Direction, address: Option<String>| {
            let mut fields = Map::new();
            fields.insert("direction".into(), json!(direction));
            fields.insert("protocol".into(), json!("tcp"));
            fields.insert("port_range_min".into(), json!(1000 + i));
            fields.insert("port_range_max".into(), json!(1000 + i));
            fields.insert("remote_ip_prefix".into(), json!("192.0.2.0/24"));
            RuleRecord {
                id: None,
                address,
                origin: Origin::new("plan.json", format!("rules[{i}]")),
                direction,
                fields,
                default: false,
            }
        };
        let mut rules: Vec<RuleRecord> = inline
            .iter()
            .enumerate()
            .map(|(i, d)| rule(i, *d, None))
            .collect();
        rules.push(rule(
            9,
            Direction::Ingress,
            Some("gcore_cloud_security_group_rule.r".into()),
        ));
        inv.groups.push(GroupRecord {
            id: "tf:gcore_cloud_security_group.g".into(),
            address: Some("gcore_cloud_security_group.g".into()),
            name: Some("g".into()),
            origin: Origin::new("plan.json", "gcore_cloud_security_group.g"),
            attributes: Map::new(),
            rules,
            defaults: Defaults::Added,
        });
        inv
    }

    #[test]
    fn a_configured_gcore_group_gets_the_defaults_its_create_request_gets() {
        let egress_rules = |inv: &Inventory| {
            let (imported, scenario) = to_scenario(inv).unwrap();
            let cloud = scenario.build().unwrap();
            let g = cloud.group_by_id("tf:gcore_cloud_security_group.g").unwrap();
            let n = g
                .rules
                .iter()
                .filter(|r| r.direction == Direction::Egress)
                .count();
            (n, g.rules.len(), imported.unresolved)
        };
        // No inline rules (`rules` unset): the request has none, the API adds egress
        // allow-all for IPv4 and IPv6 (the default reading of Decision 6).
        let (egress, all, unresolved) = egress_rules(&gcore_configured(&[]));
        assert_eq!((egress, all), (2, 3));
        assert!(unresolved.is_empty(), "{unresolved:?}");
        // An inline egress rule: nothing is added under either reading.
        let (egress, all, unresolved) =
            egress_rules(&gcore_configured(&[Direction::Ingress, Direction::Egress]));
        assert_eq!((egress, all), (1, 3));
        assert!(unresolved.is_empty(), "{unresolved:?}");
        // Inline rules, none egress: the readings differ; the group's egress is unresolved.
        let (egress, all, unresolved) = egress_rules(&gcore_configured(&[Direction::Ingress]));
        assert_eq!((egress, all), (0, 2));
        assert_eq!(unresolved.len(), 1, "{unresolved:?}");
        assert_eq!(unresolved[0].kind, UnresolvedKind::CloudDefault);
        assert!(matches!(
            &unresolved[0].effect,
            Some(Effect::Rule {
                direction: Direction::Egress,
                ..
            })
        ));
    }
}
