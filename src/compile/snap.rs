//! What the engine compiled of each group: the rules as it lowered them, to find the rules
//! a later change added, removed or edited ([`super::Engine`]'s splices).
//!
//! A snapshot's rules are kept in chunks shared between snapshots: a change copies the
//! chunks it touches and shares the others, so taking one rule added to a group of 1,000
//! in costs a few dozen reference counts, not 1,000 (each an atomic add, then an atomic
//! subtract when the older snapshot goes).

use std::sync::Arc;

use smallvec::SmallVec;

use crate::group::{Group, GroupKind};
use crate::key::RuleKey;
use crate::rule::Rule;

/// Most rules a chunk holds. A chunk a change copies costs this many reference counts; a
/// snapshot holds `len / CHUNK` to `2 * len / CHUNK` chunks.
const CHUNK: usize = 64;

/// What the engine compiled of one group: its kind and, per rule in creation order, the
/// rule as it was compiled.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Snap {
    pub(super) kind: GroupKind,
    pub(super) rules: Rules,
}

/// One rule of a [`Snap`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct SnapRule {
    /// `rule.key`, inline for the binary searches over a snapshot's rules.
    pub(super) key: RuleKey,
    /// The rule as the engine compiled it. A rule behind an `Arc` is never changed in
    /// place while this holds it too (`Arc::make_mut` copies a shared rule), so a group
    /// that still holds this `Arc` holds the rule unchanged ([`SnapRule::is`]).
    pub(super) rule: Arc<Rule>,
    /// [`crate::order::rank_key`].
    pub(super) rank: u32,
}

/// A snapshot's rules in order, in chunks of at most [`CHUNK`] shared between snapshots.
/// Every chunk but the last holds at least half of [`CHUNK`].
#[derive(Clone, Debug)]
pub(super) struct Rules {
    /// PERF: inline up to two (a group of up to 64 rules takes no allocation for them).
    chunks: Chunks,
    /// Whether the keys increase from each rule to the next ([`Rules::increasing`]).
    increasing: bool,
}

type Chunks = SmallVec<[Arc<[SnapRule]>; 2]>;

impl PartialEq for Rules {
    fn eq(&self, other: &Rules) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Rules {}

impl Snap {
    /// The snapshot of `group` as it is.
    pub(super) fn of(group: &Group) -> Snap {
        let mut rules = Builder::with_capacity(group.rules.len());
        for r in &group.rules {
            rules.push(SnapRule::of(r));
        }
        Snap {
            kind: group.kind,
            rules: rules.finish(),
        }
    }
}

impl SnapRule {
    pub(super) fn of(r: &Arc<Rule>) -> SnapRule {
        SnapRule {
            key: r.key,
            rule: Arc::clone(r),
            rank: crate::order::rank_key(r),
        }
    }

    /// Whether `r` is the rule this was taken from, unchanged in every field lowering
    /// reads (direction, family, protocol, ports, ICMP filter, remote, local prefix,
    /// action, priority, enabled; not the id, description or shown form).
    // PERF: the same `Arc` first (a group of 1,000 Gcore rules compared field by field
    // on every `Engine::refresh` of one added: `add_latency gcore`).
    pub(super) fn is(&self, r: &Arc<Rule>) -> bool {
        if Arc::ptr_eq(&self.rule, r) {
            return true;
        }
        let o = &*self.rule;
        o.key == r.key
            && o.same_traffic(r)
            && o.icmp == r.icmp
            && o.action == r.action
            && o.priority == r.priority
            && o.enabled == r.enabled
    }
}

impl Rules {
    /// The rules in order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &SnapRule> {
        self.chunks.iter().flat_map(|c| c.iter())
    }

    /// The chunks in order, for a [`Builder`] to share.
    pub(super) fn chunks(&self) -> &[Arc<[SnapRule]>] {
        &self.chunks
    }

    /// Whether the keys increase from each rule to the next (known as they were taken).
    pub(super) fn increasing(&self) -> bool {
        self.increasing
    }

    /// The rule of key `key`, by halving (the keys increasing: [`Rules::increasing`]).
    pub(super) fn get(&self, key: RuleKey) -> Option<&SnapRule> {
        let chunk = match &self.chunks[..] {
            [one] => one,
            // The first chunk whose last key is `key` or more.
            chunks => chunks.get(chunks.partition_point(|c| c.last().is_some_and(|r| r.key < key)))?,
        };
        let at = chunk.binary_search_by_key(&key, |r| r.key).ok()?;
        Some(&chunk[at])
    }
}

/// Rules taken one at a time or a shared chunk at a time into a new [`Rules`].
#[derive(Debug)]
pub(super) struct Builder {
    chunks: Chunks,
    /// The last key taken, and whether the keys increased so far.
    last: Option<RuleKey>,
    increasing: bool,
    /// Rules not yet in a chunk: fewer than [`CHUNK`].
    pending: Vec<SnapRule>,
    /// How many rules the snapshot will hold, about.
    hint: usize,
}

impl Builder {
    /// A builder of about `rules` rules.
    pub(super) fn with_capacity(rules: usize) -> Builder {
        Builder {
            chunks: SmallVec::with_capacity(rules.div_ceil(CHUNK / 2)),
            last: None,
            increasing: true,
            pending: Vec::new(),
            hint: rules,
        }
    }

    /// Appends `rule`.
    // PERF: always inlined: a call per rule kept was 64 instructions a rule
    // (`live_profile gcore rules`).
    #[inline(always)]
    pub(super) fn push(&mut self, rule: SnapRule) {
        self.follow(rule.key, rule.key, true);
        if self.pending.capacity() == 0 {
            self.reserve();
        }
        self.pending.push(rule);
        if self.pending.len() == CHUNK {
            self.flush();
        }
    }

    /// Room for the next chunk's rules.
    // PERF: sized once (grown a rule at a time, it was reallocated on the way).
    #[cold]
    fn reserve(&mut self) {
        self.pending.reserve_exact(self.hint.clamp(1, CHUNK));
    }

    /// Appends the rules of `chunk` (of another snapshot, whose keys increase): shared where
    /// nothing waits before it and it is at least half full, else copied with what waits.
    pub(super) fn share(&mut self, chunk: &Arc<[SnapRule]>) {
        let (Some(first), Some(last)) = (chunk.first(), chunk.last()) else {
            return;
        };
        debug_assert!(
            chunk.windows(2).all(|w| w[0].key < w[1].key),
            "a chunk of increasing keys"
        );
        self.follow(first.key, last.key, true);
        if self.pending.is_empty() && chunk.len() >= CHUNK / 2 {
            self.chunks.push(Arc::clone(chunk));
            return;
        }
        self.pending.extend(chunk.iter().cloned());
        // Out in one or two chunks at least half full, so the chunks after it are shared
        // again (kept waiting, every later chunk would be copied too).
        let n = self.pending.len();
        if n >= CHUNK / 2 {
            if n > CHUNK {
                self.chunks.push(self.pending.drain(..n / 2).collect());
            }
            self.flush();
        }
    }

    /// Notes rules from key `first` to key `last` taken next (`up`: increasing among
    /// themselves).
    #[inline(always)]
    fn follow(&mut self, first: RuleKey, last: RuleKey, up: bool) {
        self.increasing &= up && self.last.is_none_or(|l| l < first);
        self.last = Some(last);
    }

    /// The waiting rules out in a chunk.
    fn flush(&mut self) {
        // PERF: the buffer becomes the chunk (copied whole, not moved rule by rule).
        self.chunks.push(Arc::from(std::mem::take(&mut self.pending)));
    }

    /// The rules taken.
    pub(super) fn finish(mut self) -> Rules {
        if !self.pending.is_empty() {
            self.flush();
        }
        Rules {
            chunks: self.chunks,
            increasing: self.increasing,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::rule::{Action, Direction};

    fn rule(key: u32) -> SnapRule {
        let mut rule = super::super::tests::rule(Direction::Ingress, Action::Allow, 1);
        rule.key = RuleKey::new(key);
        SnapRule::of(&Arc::new(rule))
    }

    proptest! {
        /// Rules built from pushes and shared chunks of other snapshots hold the rules in
        /// the order given, every chunk but the last at least half full, and find each by
        /// key.
        #[test]
        fn builder_keeps_order_and_chunk_sizes(
            steps in prop::collection::vec((any::<bool>(), 1usize..3 * CHUNK), 1..12),
        ) {
            let mut next = 0u32;
            let mut want = Vec::new();
            let mut b = Builder::with_capacity(0);
            for (shared, n) in steps {
                if shared {
                    let mut other = Builder::with_capacity(0);
                    for _ in 0..n {
                        other.push(rule(next));
                        want.push(next);
                        next += 1;
                    }
                    for c in other.finish().chunks() {
                        b.share(c);
                    }
                } else {
                    for _ in 0..n {
                        b.push(rule(next));
                        want.push(next);
                        next += 1;
                    }
                }
            }
            let rules = b.finish();
            let got: Vec<u32> = rules.iter().map(|r| r.key.get()).collect();
            prop_assert_eq!(&got, &want);
            prop_assert!(rules.increasing());
            let chunks = rules.chunks();
            for c in &chunks[..chunks.len() - 1] {
                prop_assert!(c.len() >= CHUNK / 2 && c.len() <= CHUNK, "chunk of {}", c.len());
            }
            for k in 0..next + 2 {
                prop_assert_eq!(rules.get(RuleKey::new(k)).map(|r| r.key), (k < next).then(|| RuleKey::new(k)));
            }
        }
    }
}
