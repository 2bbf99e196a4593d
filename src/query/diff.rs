//! Differences between two configurations: every region of traffic whose verdict
//! changes, with the rules responsible on each side and a witness packet.

use serde_json::{json, Value};

use super::partition::{merge, partition, Picks};
use super::reach::{leaf_hops, runs, verdict_of, Query, Run};
use super::render::{endpoint_name, hop_json, hop_text};
use super::space::{packet_json, Cube, Mode, QueryError, Shape, Side};
use super::unresolved::{Item, Unknowns};
use crate::cloud::Cloud;
use crate::decision::Verdict;
use crate::flow::Hop;
use crate::packet::{ConnState, Packet};
use crate::provider::Provider;

/// A region whose verdict differs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The source side: the endpoint that owns the source addresses (in the new cloud,
    /// else the old), or the query's `from` as written.
    pub from: String,
    /// The destination side, named the same way.
    pub to: String,
    /// The packets.
    pub shape: Shape,
    /// Verdict in the old cloud.
    pub before: Verdict,
    /// Verdict in the new cloud.
    pub after: Verdict,
    /// What decided in the old cloud, hop by hop.
    pub before_hops: Vec<Hop>,
    /// What decides in the new cloud.
    pub after_hops: Vec<Hop>,
}

impl Difference {
    /// The smallest packet of the region (smallest addresses, protocol and ports).
    pub fn witness(&self, mode: Mode) -> Packet {
        self.shape.witness(if mode == Mode::Established {
            ConnState::Established
        } else {
            ConnState::New
        })
    }
}

/// The changes between two clouds. Empty means the two are equivalent on the space asked.
#[derive(Clone, Debug)]
pub struct Diff {
    /// The mode asked.
    pub mode: Mode,
    /// The changes, ordered by region.
    pub changes: Vec<Difference>,
    gcore: bool,
}

/// Every endpoint pair and the internet, both families: `from any to any`, where the part
/// of `any` that is no endpoint is labelled `internet`.
pub fn everything() -> Query {
    Query::new(Side::any(), Side::any())
}

/// The regions of `query` whose verdict differs between `old` and `new` (which may be
/// clouds of different providers: each is read with its own semantics).
///
/// An endpoint named in the query stands for its addresses in either cloud; an address
/// decides as an endpoint in a cloud only where that cloud has it as one.
///
/// # Errors
/// A side that names no endpoint of either cloud and is not an address or CIDR.
pub fn diff(old: &Cloud, new: &Cloud, query: &Query) -> Result<Diff, QueryError> {
    let (runs, arena) = runs(&[old, new], query)?;
    let mut keyed: Vec<((usize, Picks), Cube)> = Vec::new();
    for (r, run) in runs.iter().enumerate() {
        if run.hops.iter().all(|h| h.is_empty()) {
            // No security group on either side: allowed in both clouds.
            continue;
        }
        let hops = run.all_hops(&arena);
        let split = run.hops[0].len();
        for leaf in partition(&hops, &run.cube(&query.restrict)) {
            let before = hops[..split]
                .iter()
                .zip(&leaf.picks)
                .all(|(h, &p)| h.decision(p).is_allow());
            let after = hops[split..]
                .iter()
                .zip(&leaf.picks[split..])
                .all(|(h, &p)| h.decision(p).is_allow());
            if before != after {
                keyed.push(((r, leaf.picks), leaf.cube));
            }
        }
    }
    let label = |run: &Run, to: bool| -> String {
        let part = if to { &run.to } else { &run.from };
        match (part.owners[1], part.owners[0]) {
            (Some(e), _) => endpoint_name(new, e),
            (None, Some(e)) => endpoint_name(old, e),
            (None, None) => {
                if to {
                    query.to.rest_label().to_owned()
                } else {
                    query.from.rest_label().to_owned()
                }
            }
        }
    };
    let mut changes: Vec<Difference> = merge(keyed)
        .into_iter()
        .map(|((r, picks), cube)| {
            let run = &runs[r];
            let split = run.hops[0].len();
            let before_hops = leaf_hops(run, 0, &arena, &picks, 0, query.mode);
            let after_hops = leaf_hops(run, 1, &arena, &picks, split, query.mode);
            Difference {
                from: label(run, false),
                to: label(run, true),
                shape: Shape::from_cube(run.family, &cube),
                before: verdict_of(&before_hops),
                after: verdict_of(&after_hops),
                before_hops,
                after_hops,
            }
        })
        .collect();
    changes.sort_by(|a, b| (&a.from, &a.to, &a.shape).cmp(&(&b.from, &b.to, &b.shape)));
    Ok(Diff {
        mode: query.mode,
        changes,
        gcore: old.provider() == Provider::Gcore || new.provider() == Provider::Gcore,
    })
}

impl Diff {
    /// Whether the two clouds decide every packet of the space alike.
    pub fn is_equivalent(&self) -> bool {
        self.changes.is_empty()
    }

    /// `{"mode", "equivalent", "changes": [{"from", "to", "before", "after", ...region...,
    /// "before_hops", "after_hops", "witness"}]}`.
    pub fn to_json(&self, old: &Cloud, new: &Cloud) -> Value {
        self.json(old, new, None)
    }

    /// Per change, the unresolved items (indices into each side's [`Unknowns::items`]) its
    /// answer may depend on: `(before, after)`, each conservative as [`Unknowns::touches`]
    /// on that side's hops. Both sides count: a change whose old answer is in doubt may be
    /// no change at all. None for established packets, which no rule decides.
    pub fn unresolved(&self, old: &Cloud, new: &Cloud, marks: Marks<'_>) -> Vec<(Vec<usize>, Vec<usize>)> {
        self.changes
            .iter()
            .map(|c| match self.mode {
                Mode::Established => (Vec::new(), Vec::new()),
                _ => (
                    marks.old.touches(old, &c.before_hops),
                    marks.new.touches(new, &c.after_hops),
                ),
            })
            .collect()
    }

    /// As [`Diff::to_json`], with on every change `"unresolved": true|false` (whether its
    /// answer may depend on an unresolved item of either side, [`Diff::unresolved`]) and
    /// the items as `"before_depends_on"` / `"after_depends_on"` where there are some, and
    /// `"unresolved_regions"`, the count of marked changes. Without items on either side,
    /// exactly [`Diff::to_json`].
    pub fn to_json_marked(&self, old: &Cloud, new: &Cloud, marks: Marks<'_>) -> Value {
        if marks.is_empty() {
            return self.to_json(old, new);
        }
        self.json(old, new, Some(marks))
    }

    fn json(&self, old: &Cloud, new: &Cloud, marks: Option<Marks<'_>>) -> Value {
        let deps = marks.map(|m| self.unresolved(old, new, m));
        let items = |u: &Unknowns, ks: &[usize]| -> Value {
            json!(ks.iter().map(|&k| &u.items()[k]).collect::<Vec<&Item>>())
        };
        let changes: Vec<Value> = self
            .changes
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let mut m = serde_json::Map::new();
                m.insert("from".into(), json!(c.from));
                m.insert("to".into(), json!(c.to));
                m.insert("before".into(), json!(c.before));
                m.insert("after".into(), json!(c.after));
                c.shape.write_json(&mut m, self.gcore);
                m.insert(
                    "before_hops".into(),
                    Value::Array(c.before_hops.iter().map(|h| hop_json(old, h)).collect()),
                );
                m.insert(
                    "after_hops".into(),
                    Value::Array(c.after_hops.iter().map(|h| hop_json(new, h)).collect()),
                );
                m.insert("witness".into(), packet_json(&c.witness(self.mode)));
                if let (Some(mk), Some((b, a))) = (marks, deps.as_ref().map(|d| &d[i])) {
                    m.insert("unresolved".into(), json!(!b.is_empty() || !a.is_empty()));
                    if !b.is_empty() {
                        m.insert("before_depends_on".into(), items(mk.old, b));
                    }
                    if !a.is_empty() {
                        m.insert("after_depends_on".into(), items(mk.new, a));
                    }
                }
                Value::Object(m)
            })
            .collect();
        let mut out =
            json!({"mode": self.mode.name(), "equivalent": self.is_equivalent(), "changes": changes});
        if let Some(deps) = &deps {
            out["unresolved_regions"] = json!(marked(deps));
        }
        out
    }

    /// The changes for people.
    pub fn to_text(&self, old: &Cloud, new: &Cloud) -> String {
        self.text(old, new, None)
    }

    /// As [`Diff::to_text`], with a line `unresolved (before|after): ...` naming the items
    /// under each change whose answer may depend on them ([`Diff::unresolved`]), and their
    /// count at the end. Without items on either side, exactly [`Diff::to_text`].
    pub fn to_text_marked(&self, old: &Cloud, new: &Cloud, marks: Marks<'_>) -> String {
        if marks.is_empty() {
            return self.to_text(old, new);
        }
        self.text(old, new, Some(marks))
    }

    fn text(&self, old: &Cloud, new: &Cloud, marks: Option<Marks<'_>>) -> String {
        let deps = marks.map(|m| self.unresolved(old, new, m));
        let mut s = if self.changes.is_empty() {
            "no change: the two configurations decide every packet alike\n".to_owned()
        } else {
            format!("{} change(s)\n", self.changes.len())
        };
        for (i, c) in self.changes.iter().enumerate() {
            s.push_str(&format!(
                "{} -> {}: {} -> {}  {}\n",
                c.from,
                c.to,
                c.before,
                c.after,
                c.shape.text(self.gcore)
            ));
            for h in &c.before_hops {
                s.push_str(&format!("      before: {}\n", hop_text(old, h)));
            }
            for h in &c.after_hops {
                s.push_str(&format!("      after:  {}\n", hop_text(new, h)));
            }
            s.push_str(&format!("      e.g. {}\n", c.witness(self.mode)));
            if let (Some(mk), Some((b, a))) = (marks, deps.as_ref().map(|d| &d[i])) {
                for &k in b {
                    s.push_str(&format!("      unresolved (before): {}\n", mk.old.items()[k]));
                }
                for &k in a {
                    s.push_str(&format!("      unresolved (after):  {}\n", mk.new.items()[k]));
                }
            }
        }
        if let Some(deps) = &deps {
            s.push_str(&format!(
                "{} change(s) may depend on unresolved items (their answers are the clouds as built)\n",
                marked(deps)
            ));
        }
        s
    }
}

/// The unresolved items of both sides of a diff ([`Diff::to_text_marked`]).
#[derive(Clone, Copy, Debug)]
pub struct Marks<'a> {
    /// The old side's.
    pub old: &'a Unknowns,
    /// The new side's.
    pub new: &'a Unknowns,
}

impl Marks<'_> {
    /// Whether neither side has an item.
    pub fn is_empty(&self) -> bool {
        self.old.items().is_empty() && self.new.items().is_empty()
    }
}

/// How many changes are marked.
fn marked(deps: &[(Vec<usize>, Vec<usize>)]) -> usize {
    deps.iter()
        .filter(|(b, a)| !b.is_empty() || !a.is_empty())
        .count()
}
