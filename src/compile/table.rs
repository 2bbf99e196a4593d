//! One compiled table: the classifiers of an endpoint group list for one direction and
//! family, and the decision each entry gives.
//!
//! A table whose rules name groups' members keeps one [`Variant`] per set of those groups
//! that some remote identity holds ([`super::identity`]), and the variant of each identity:
//! a packet is classified by the variant of its remote address's identity. An identity that
//! holds a group whose entry leads every list (an ECS group's intra-group policy, which
//! decides any packet of its members) takes the variant of the first such group alone
//! ([`Table::heads`]). A new member whose identity exists changes nothing here.
//!
//! A rule added or removed does not rebuild the classifiers: [`Table::spliced`] (the
//! rule's entries lowered alone and put in place, see [`super::lower::splice`]) or
//! [`Table::patched`] (the lists compared) keeps them and lays an overlay over each lane,
//! the entries inserted and the range of entries removed since they were built (one
//! contiguous change against the built list: its common prefix and suffix with the new list
//! stay in the classifier). The first match is the classifier's when it lies before the
//! change, else the first inserted entry that matches, else the classifier's (past a
//! removed entry, the first kept entry after the change that matches, scanned). Past
//! [`MAX_OVERLAY`] entries the variant is rebuilt; once one variant of the table is built
//! in a refresh, the others past the limit (or under a larger overlay) are derived from it
//! under an overlay of the entries their referenced groups add, when those are few
//! ([`Variant::rebuilt`]): one build per table rather than one per variant. An engine
//! whose builds run apart ([`super::background`]) asks for a variant's build at
//! [`BUILD_AT`] entries ([`Table::builds`]), takes the result in when it comes
//! ([`Table::installed`]) and lets the overlay grow to [`MAX_OVERLAY_APART`] meanwhile.
//!
//! Refreshes leave classifier builds for later where they can: a new variant is derived
//! from an existing one under an overlay ([`Variant::derived`]), a small new table's
//! variants hold their entries in overlays over empty classifiers, and a larger one's
//! lanes of at most [`MAX_FLAT`] entries get flat classifiers (the entries in blocks of
//! eight, checked in order: built in one pass, looked up more slowly than trees).
//! [`Table::compact`] builds their trees, off the read path.
//!
//! A build or [`Table::compact`] lets a variant that differs from the first by a few
//! entries ([`MAX_SHARED`]) answer from the first's classifiers under an overlay of them
//! ([`Variant::shared_from`]), keeping itself built alone for rule changes to overlay
//! ([`Variant::changing`]): a batch then classifies the packets of both in one classifier
//! batch per lane.

use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, OnceLock, Weak};

use smallvec::SmallVec;

use super::by_identity::ByIdentity;
use super::classifier::{self, Addr, Classifier, Key, Rule as Entry};
use super::identity::{Identities, IdentityId};
use super::lower::{port_class, Lowered, Part, Splice, ICMP_PROTOCOLS};
use crate::decision::{Decision, Reason};
use crate::group::GroupKey;
use crate::packet::Packet;

/// A classifier and the decision of each of its entries.
#[derive(Clone, Debug)]
pub(super) struct Sub<A: Addr> {
    classifier: Classifier<A>,
    /// INVARIANT: one decision per classifier entry, so every index the classifier answers
    /// is in range.
    decisions: Box<[Decision]>,
    /// The classifier's entries in order, made the first time an overlay that removes
    /// built entries needs them ([`Overlay::suffix`]), then shared by every variant that
    /// answers from this classifier.
    // PERF: one copy per variant before (a new combination of 3 ECS groups: ten variants
    // of a 127-entry list, ~3.5 KB each).
    entries: OnceLock<Arc<[Entry<A>]>>,
}

impl<A: Addr> Sub<A> {
    /// `flat`: built as a list checked in blocks ([`Classifier::build_flat`]), for
    /// [`Table::compact`] to build again as trees.
    fn build(part: Part<A>, flat: bool) -> Result<Sub<A>, classifier::CapacityError> {
        let classifier = if flat {
            Classifier::build_flat(&part.entries)?
        } else {
            Classifier::build_with(&part.entries, classifier::Options::COMPACT)?
        };
        Ok(Sub {
            classifier,
            decisions: part.decisions.into_boxed_slice(),
            entries: OnceLock::new(),
        })
    }

    /// The classifier's entries in order; `list` gives them the first time.
    fn entries(&self, list: impl FnOnce() -> Vec<Entry<A>>) -> Arc<[Entry<A>]> {
        Arc::clone(self.entries.get_or_init(|| list().into()))
    }

    fn memory_usage(&self) -> usize {
        self.classifier.memory_usage()
            + std::mem::size_of_val(&*self.decisions)
            + self.entries.get().map_or(0, |e| std::mem::size_of_val(&**e))
    }
}

/// Most entries an overlay lane may insert, and most it may remove, before the variant's
/// classifiers are rebuilt instead.
pub(crate) const MAX_OVERLAY: usize = 64;

/// Most entries a lane of a refresh's new table may have and be built flat
/// ([`Classifier::build_flat`]: one pass over the entries) rather than as trees, until
/// [`Table::compact`]; a lookup then checks the entries in blocks of eight up to the first
/// match.
// PERF: a new combination of `fleet` and three of web's ECS groups makes lanes of 79-134
// entries, whose tree builds were 35% of the refresh (`update_latency 0 5000` under
// callgrind); see PERFORMANCE.md, "Flat classifiers for new lists".
pub(crate) const MAX_FLAT: usize = 4 * MAX_OVERLAY;

/// Most entries (over the lanes) the overlays of a variant may hold when it is derived from
/// another one rebuilt in the same refresh instead of being built ([`Variant::rebuilt`]):
/// few, since lookups scan them until the next rebuild or [`Table::compact`].
const MAX_DERIVED: usize = MAX_OVERLAY / 4;

/// Most entries (over the lanes) the overlays of a variant may hold when a build or
/// [`Table::compact`] lets it answer from the first variant's classifiers under them
/// ([`Variant::shared_from`]) rather than building classifiers of its own: an ECS group's
/// intra-group entry or two, which its identity's lookups scan beside the tree.
// PERF: a batch classifies the packets of every variant sharing the first's classifiers in
// one classifier batch per lane, rather than one per variant; and the classifiers are kept
// once (see PERFORMANCE.md, "One classifier batch per lane").
pub(crate) const MAX_SHARED: usize = 4;

/// Entries (over the lanes) a variant's overlays may hold before a build of its classifiers
/// is asked for off the writer's path ([`Table::builds`]): well before [`MAX_OVERLAY`], so
/// that the build is done (and taken in, [`Table::installed`]) before a change would have
/// to rebuild the variant itself.
pub(crate) const BUILD_AT: usize = MAX_OVERLAY / 2;

/// Most entries an overlay lane may insert, and most it may remove, in an engine whose
/// builds run apart ([`super::Engine::build_apart`]): room for the rule changes made while
/// a build runs, so that it is not done again by the change that passes [`MAX_OVERLAY`].
/// Lookups past the overlay's start scan its entries until the build is taken in.
pub(crate) const MAX_OVERLAY_APART: usize = 3 * MAX_OVERLAY;

/// Variants a [`Job`] built, each with its referenced groups.
pub(crate) type Built<A> = Vec<(Arc<[GroupKey]>, Arc<Variant<A>>)>;

/// A build of some variants' classifiers from the lists their table answers for when the
/// job was made: run anywhere ([`Job::run`]), then taken in by the table as it is by then
/// ([`Table::installed`]).
#[derive(Clone, Debug)]
pub(crate) struct Job<A: Addr> {
    lowered: Arc<Lowered<A>>,
    /// The variants' referenced groups, in the table's order (the first variant's first).
    masks: Vec<Arc<[GroupKey]>>,
}

impl<A: Addr> Job<A> {
    /// The variants, each for its mask: the first built, the others derived from it under
    /// a small overlay of what their referenced groups add where that is few entries, as a
    /// refresh's rebuild does ([`Variant::rebuilt`]), else built.
    // PERF: one build per table rather than one per variant (Gcore's `web` has two).
    pub(crate) fn run(&self) -> Result<Built<A>, classifier::CapacityError> {
        let mut fresh = Vec::new();
        let mut out = Vec::with_capacity(self.masks.len());
        for mask in &self.masks {
            let v = Arc::new(Variant::rebuilt(&self.lowered, mask, None, &fresh)?);
            Variant::note_fresh(&mut fresh, &v, &self.lowered);
            out.push((Arc::clone(mask), v));
        }
        Ok(out)
    }
}

/// Entries with their decisions, in order, as an overlay inserts them (shared between
/// overlays: [`Overlay::tail`]).
type Inserted<A> = Arc<[(Entry<A>, Decision)]>;

/// What changed in one lane since its classifier was built: the built list with entries
/// `start..end` replaced by `inserted`.
#[derive(Clone, Debug, Default)]
struct Overlay<A: Addr> {
    /// Built entries before `start` are kept and come first.
    start: u32,
    /// Built entries from `end` on are kept and come after `inserted`.
    end: u32,
    /// The entries that replace `start..end`, with their decisions, in order (then those
    /// of `tail`).
    inserted: Box<[(Entry<A>, Decision)]>,
    /// More entries after `inserted`, from a list that overlays share ([`Variant::deferred`]:
    /// the variants of a table without classifiers hold whole lists, which differ by a few
    /// entries at the front: the first variant lends its list and the others hold their
    /// front and share the rest); `None` otherwise.
    // PERF: a new combination of 3 ECS groups made ten variants of each IPv6 table, each
    // with its own copy of a 38-62 entry list (~3.5-6 KB). Boxed: the overlays of rule
    // changes (most overlays) stay as small as before.
    tail: Option<Box<Tail<A>>>,
    /// The built entries (only when `start < end`: to find the first kept match after a
    /// removed one, from `end` on); shared by the overlays of a lane until it is rebuilt.
    suffix: Arc<[Entry<A>]>,
}

/// Entries an overlay shares with others ([`Overlay::tail`]).
#[derive(Clone, Debug)]
struct Tail<A: Addr> {
    /// The shared list; the overlay's entries are `list[from..]`.
    list: Inserted<A>,
    from: u32,
    /// When the overlay lends `list` (its whole list): the lists it is the untagged entries
    /// of, so that a variant of the same lists may share it without comparing (weak: the
    /// lists are not kept for this; their allocation is, so its address is not another's).
    lends: Option<Weak<Lowered<A>>>,
}

impl<A: Addr> Overlay<A> {
    /// The decision of the first inserted entry that matches `key` when the inserted
    /// entries come first in the changed list (no built entry before them): then it is the
    /// first match, and the classifier need not be asked.
    #[inline(always)]
    fn ahead(&self, key: &Key<A>) -> Option<Decision> {
        if self.start != 0 {
            return None;
        }
        self.inserted
            .iter()
            .find(|(e, _)| e.matches(key))
            .map(|(_, d)| *d)
    }

    /// The first match of the changed list, given the classifier's `hit` in the built list.
    #[inline(never)]
    fn first(&self, sub: &Sub<A>, key: &Key<A>, hit: Option<u32>) -> Option<Decision> {
        let built = |i: u32| sub.decisions.get(i as usize).copied();
        if let Some(i) = hit {
            if i < self.start {
                return built(i);
            }
        }
        if let Some((_, d)) = self
            .inserted
            .iter()
            .chain(self.tail())
            .find(|(e, _)| e.matches(key))
        {
            return Some(*d);
        }
        match hit {
            Some(i) if i >= self.end => built(i),
            // A removed entry was the first match: the next kept one after the change.
            Some(_) => self
                .suffix
                .get(self.end as usize..)
                .unwrap_or_default()
                .iter()
                .position(|e| e.matches(key))
                .and_then(|j| built(self.end + j as u32)),
            None => None,
        }
    }

    /// The entries inserted after `inserted`.
    fn tail(&self) -> &[(Entry<A>, Decision)] {
        self.tail
            .as_deref()
            .and_then(|t| t.list.get(t.from as usize..))
            .unwrap_or_default()
    }

    /// The whole list this overlay lends to others ([`Overlay::tail`]): the untagged
    /// entries of `lowered`'s lane, when it was made from those lists.
    fn lent(&self, lowered: &Arc<Lowered<A>>) -> Option<&Inserted<A>> {
        let tail = self.tail.as_deref()?;
        let from = tail
            .lends
            .as_ref()
            .is_some_and(|l| std::ptr::eq(l.as_ptr(), Arc::as_ptr(lowered)));
        from.then_some(&tail.list)
    }

    /// Entries inserted: `inserted`, then `tail`'s.
    fn inserted_len(&self) -> usize {
        self.inserted.len() + self.tail().len()
    }

    /// The entries inserted, in one list.
    fn all_inserted(&self) -> Vec<(Entry<A>, Decision)> {
        [&self.inserted[..], self.tail()].concat()
    }

    /// Bytes of the overlay over `sub`'s classifier; a suffix that is the classifier's
    /// entries ([`Sub::entries`]) is counted with the classifier.
    fn memory_usage(&self, sub: &Sub<A>) -> usize {
        let cached = sub.entries.get().is_some_and(|e| Arc::ptr_eq(e, &self.suffix));
        let suffix = if cached {
            0
        } else {
            std::mem::size_of_val(&*self.suffix)
        };
        // A list that overlays share is counted in shares.
        let share = |l: &Inserted<A>| std::mem::size_of_val(&**l) / Arc::strong_count(l);
        std::mem::size_of::<Self>()
            + std::mem::size_of_val(&*self.inserted)
            + self
                .tail
                .as_ref()
                .map_or(0, |t| std::mem::size_of::<Tail<A>>() + share(&t.list))
            + suffix
    }
}

/// The classifiers of one set of referenced groups: main, ICMP, ICMPv6 (the ICMP lists'
/// destination port field is encoded, see [`super::lower`]), and what changed since they
/// were built.
#[derive(Clone, Debug)]
pub(crate) struct Variant<A: Addr> {
    pub(super) subs: Arc<[Sub<A>; 3]>,
    /// The lists the classifiers were built from (the table's lowered entries then), to
    /// compare a changed list with.
    built: Arc<Lowered<A>>,
    /// Per lane, when it changed since it was built.
    overlay: [Option<Arc<Overlay<A>>>; 3],
    /// The referenced groups `built` was filtered by for the classifiers (another
    /// variant's when this one was derived from it, [`Variant::derived`]).
    built_mask: Arc<[GroupKey]>,
    /// When the variant answers from the first variant's classifiers
    /// ([`Variant::shared_from`]): itself built alone, with classifiers of its own and no
    /// overlay, for a rule change to overlay instead ([`Variant::changing`]): the first
    /// variant's overlay and the shared one would be two changes, which one overlay
    /// cannot hold.
    // PERF: without it, every rule change that reached such a variant rebuilt its
    // classifiers (`update_latency 400 500 0` under callgrind, `Engine::refresh`: 40.6M
    // instructions before sharing, 217.8M with it and without this).
    alone: Option<Arc<Variant<A>>>,
}

/// What a lookup reads of a variant (its classifiers and overlays), held in the table's
/// array of them ([`Table::hot`]) rather than behind the variant's `Arc`: a copy that
/// shares both, made whenever the table takes a variant in.
// PERF: one dependent load fewer between the remote identity and the tree walk (identity,
// `by_identity`, this entry, the classifiers, the forest's roots): `lookup_count` one at a
// time, thread CPU time in turns with the `Arc`s (load 3-5), ECS dense 30.9-31.1 -> 29.7-29.8
// ns, ECS sparse 31.0-31.3 -> 30.5-30.7, Huawei sparse 28.3-28.7 -> 27.9; instructions alike.
#[derive(Clone, Debug)]
pub(crate) struct Hot<A: Addr> {
    /// The variant's classifiers (its `subs`).
    pub(super) subs: Arc<[Sub<A>; 3]>,
    /// The variant's overlays.
    overlay: [Option<Arc<Overlay<A>>>; 3],
}

impl<A: Addr> Hot<A> {
    /// The lookup entry of `v`.
    fn of(v: &Variant<A>) -> Hot<A> {
        Hot {
            subs: Arc::clone(&v.subs),
            overlay: v.overlay.clone(),
        }
    }

    /// The lookup entries of `variants`, in order.
    fn all(variants: &[Arc<Variant<A>>]) -> Vec<Hot<A>> {
        variants.iter().map(|v| Hot::of(v)).collect()
    }

    /// [`Table::shared`] of the lookup entries `hot`.
    fn shared(hot: &[Hot<A>]) -> u64 {
        let first = hot.first().map(|h| &h.subs);
        hot.iter()
            .take(64)
            .enumerate()
            .filter(|(v, h)| *v == 0 || first.is_some_and(|f| Arc::ptr_eq(f, &h.subs)))
            .fold(0, |bits, (v, _)| bits | 1 << v)
    }
}

impl<A: Addr> Variant<A> {
    /// The variant without classifiers when every lane has at most [`MAX_OVERLAY`]
    /// entries: each lane's entries in its overlay (over an empty classifier), for
    /// [`Table::compact`] to build later; else built.
    /// `like`: a variant without classifiers ([`Variant::unbuilt`]) whose empty
    /// classifiers and lists to share, if the table has one.
    /// `first`: the table's first variant (of no referenced group), whose lists this one
    /// shares where they end alike, when it has no classifiers either; `lends`: (for the
    /// first variant) the lists are to be shared so.
    fn deferred(
        lowered: &Arc<Lowered<A>>,
        mask: &[GroupKey],
        like: Option<&Variant<A>>,
        first: Option<&Variant<A>>,
        lends: bool,
    ) -> Result<Variant<A>, classifier::CapacityError> {
        let pass = |t: &Option<GroupKey>| t.is_none_or(|g| mask.binary_search(&g).is_ok());
        let first = first.filter(|f| f.unbuilt() && f.built_mask.is_empty());
        // PERF: each lane's entries for `mask` go straight into its overlay.
        let mut lanes: [Vec<(Entry<A>, Decision)>; 3] = Default::default();
        // Per lane: the first variant's list it ends with, from where.
        let mut tails: [Option<(Inserted<A>, u32)>; 3] = Default::default();
        for (l, (out, tail)) in lanes.iter_mut().zip(&mut tails).enumerate() {
            let part = match l {
                0 => &lowered.main,
                i => &lowered.icmp[i - 1].part,
            };
            // The entries for `mask`, the untagged ones, and the last entry for a group of
            // `mask` with how many of each come up to it.
            let (mut n, mut untagged, mut last) = (0, 0, None);
            // PERF: piece by piece (a flattened iterator cost ~15% more in a new combination).
            let mut i = 0;
            for piece in part.parts() {
                for t in &piece.tags {
                    match t {
                        None => {
                            n += 1;
                            untagged += 1;
                        }
                        Some(g) if mask.binary_search(g).is_ok() => {
                            n += 1;
                            last = Some((i, n, untagged));
                        }
                        Some(_) => {}
                    }
                    i += 1;
                }
            }
            if n > MAX_OVERLAY {
                return Variant::of_parts(lowered, lowered.variant(mask), mask, MAX_FLAT);
            }
            // Past the last entry for a group of `mask` only untagged entries pass: the
            // first variant's list (every untagged entry) from the same one on.
            let lent = first
                .and_then(|f| f.overlay[l].as_deref())
                .and_then(|o| o.lent(lowered));
            let (split, head) = match (lent, last) {
                (Some(list), Some((p, head, from))) if list.len() == untagged => {
                    *tail = Some((Arc::clone(list), from as u32));
                    (p + 1, head)
                }
                _ => (part.len(), n),
            };
            out.reserve_exact(head);
            let mut left = split;
            for piece in part.parts() {
                let k = left.min(piece.entries.len());
                for ((e, d), t) in piece.entries[..k].iter().zip(&piece.decisions).zip(&piece.tags) {
                    if pass(t) {
                        out.push((*e, *d));
                    }
                }
                left -= k;
                if left == 0 {
                    break;
                }
            }
            if lends && mask.is_empty() && !out.is_empty() {
                *tail = Some((std::mem::take(out).into(), 0));
            }
        }
        let (subs, built) = match like {
            Some(v) => (Arc::clone(&v.subs), Arc::clone(&v.built)),
            None => {
                let empty = || Part {
                    entries: Vec::new(),
                    decisions: Vec::new(),
                    tags: Vec::new(),
                };
                let subs = Arc::new([
                    Sub::build(empty(), false)?,
                    Sub::build(empty(), false)?,
                    Sub::build(empty(), false)?,
                ]);
                (subs, Arc::new(lowered.emptied()))
            }
        };
        // PERF: one empty suffix for the lanes (`like`'s when it has one), not one each.
        let suffix: Arc<[Entry<A>]> = like
            .and_then(|v| v.overlay.iter().flatten().next())
            .map(|o| Arc::clone(&o.suffix))
            .filter(|s| s.is_empty())
            .unwrap_or_else(|| Arc::from([]));
        let mut tails = tails.into_iter();
        let overlay = lanes.map(|inserted| {
            let tail = tails.next().flatten();
            (!inserted.is_empty() || tail.is_some()).then(|| {
                let lends = (lends && mask.is_empty()).then(|| Arc::downgrade(lowered));
                let tail = tail.map(|(list, from)| Box::new(Tail { list, from, lends }));
                Arc::new(Overlay {
                    start: 0,
                    end: 0,
                    inserted: inserted.into(),
                    tail,
                    suffix: Arc::clone(&suffix),
                })
            })
        });
        Ok(Variant {
            subs,
            built,
            overlay,
            built_mask: mask.into(),
            alone: None,
        })
    }

    /// Whether the variant has no classifier entries and was built from empty lists (as
    /// [`Variant::deferred`] makes it): its entries, if any, are all in its overlays.
    fn unbuilt(&self) -> bool {
        let lists = [
            &self.built.main,
            &self.built.icmp[0].part,
            &self.built.icmp[1].part,
        ];
        self.subs.iter().all(|s| s.decisions.is_empty()) && lists.iter().all(|p| p.is_empty())
    }

    /// The variant for `mask` of the table whose lists are `lowered`, from this one (of
    /// the same table, for a subset of `mask`): this variant's classifiers under overlays
    /// that hold what differs (the entries for the members of the groups `mask` adds: an
    /// ECS group's intra-group entries, ahead of the rules). `None` when that passes
    /// [`MAX_OVERLAY`].
    fn derived(&self, lowered: &Arc<Lowered<A>>, mask: &[GroupKey]) -> Option<Variant<A>> {
        if let Some(fast) = self.derived_in_place(lowered, mask) {
            return fast;
        }
        let parts = lowered.variant(mask);
        let mut next = self.clone();
        next.alone = None;
        for (lane, new) in parts.iter().enumerate() {
            let current = next.current(lane);
            let n = new.entries.len();
            let same = |i: usize, j: usize| current[i] == (new.entries[j], new.decisions[j]);
            let mut a = 0;
            while a < current.len() && a < n && same(a, a) {
                a += 1;
            }
            let mut tail = 0;
            while tail < current.len() - a && tail < n - a && same(current.len() - 1 - tail, n - 1 - tail) {
                tail += 1;
            }
            let (b, new_end) = (current.len() - tail, n - tail);
            if a == b && a == new_end {
                continue;
            }
            let inserted: Vec<(Entry<A>, Decision)> =
                (a..new_end).map(|j| (new.entries[j], new.decisions[j])).collect();
            next = next.overlaid(lane, (a, b), inserted, MAX_OVERLAY)?;
        }
        Some(next)
    }

    /// [`Variant::derived`] when this variant answers from its classifiers alone, built
    /// from `lowered` for a subset of `mask`: the entries `mask` adds are found by their
    /// tags in one pass over each list, without copying the lists (`None` otherwise: the
    /// general way compares the lists).
    #[allow(clippy::option_option)]
    fn derived_in_place(&self, lowered: &Arc<Lowered<A>>, mask: &[GroupKey]) -> Option<Option<Variant<A>>> {
        let within = |g: &GroupKey| mask.binary_search(g).is_ok();
        if self.overlaid_lanes() || !Arc::ptr_eq(&self.built, lowered) || !self.built_mask.iter().all(within)
        {
            return None;
        }
        let old = |t: &Option<GroupKey>| t.is_none_or(|g| self.built_mask.binary_search(&g).is_ok());
        let new = |t: &Option<GroupKey>| t.is_none_or(|g| within(&g));
        let mut next = self.clone();
        next.alone = None;
        for lane in 0..3 {
            let part = match lane {
                0 => &lowered.main,
                l => &lowered.icmp[l - 1].part,
            };
            // The first and last entry `mask` adds, and the built list's place of each.
            let mut span: Option<(usize, usize, usize, usize)> = None;
            let (mut at, mut added) = (0, 0);
            let mut i = 0;
            for piece in part.parts() {
                for t in &piece.tags {
                    if old(t) {
                        at += 1;
                    } else if new(t) {
                        let s = span.get_or_insert((i, at, i, at));
                        (s.2, s.3) = (i, at);
                        added += 1;
                    }
                    i += 1;
                }
            }
            let Some((first, a, last, b)) = span else { continue };
            // PERF: reserved at its size (the built entries of the span and those added).
            let mut inserted: Vec<(Entry<A>, Decision)> = Vec::with_capacity(b - a + added);
            inserted.extend(
                part.range(first, last + 1)
                    .filter(|(_, _, t)| new(t))
                    .map(|(e, d, _)| (*e, *d)),
            );
            match next.overlaid(lane, (a, b), inserted, MAX_OVERLAY) {
                Some(v) => next = v,
                None => return Some(None),
            }
        }
        Some(Some(next))
    }

    /// The list lane `lane` answers for: the built list as the overlay changes it.
    fn current(&self, lane: usize) -> Vec<(Entry<A>, Decision)> {
        let decisions = &self.subs[lane].decisions;
        let built: Vec<(Entry<A>, Decision)> = self
            .built_entries(lane, 0..decisions.len())
            .into_iter()
            .zip(decisions.iter().copied())
            .collect();
        match self.overlay[lane].as_deref() {
            None => built,
            Some(o) => {
                let (s, e) = (o.start as usize, o.end as usize);
                let mut out = built.get(..s).unwrap_or_default().to_vec();
                out.extend_from_slice(&o.inserted);
                out.extend_from_slice(o.tail());
                out.extend_from_slice(built.get(e..).unwrap_or_default());
                out
            }
        }
    }

    /// Whether `v` answers from the classifiers of `first` (the table's first variant,
    /// answering from them alone) under overlays of at most [`MAX_SHARED`] entries.
    fn settled_on(v: &Variant<A>, first: &Variant<A>) -> bool {
        Arc::ptr_eq(&v.subs, &first.subs) && !first.overlaid_lanes() && v.overlay_weight() <= MAX_SHARED
    }

    /// Whether some lane answers from an overlay.
    fn overlaid_lanes(&self) -> bool {
        self.overlay.iter().any(Option::is_some)
    }

    fn build(lowered: &Arc<Lowered<A>>, mask: &[GroupKey]) -> Result<Variant<A>, classifier::CapacityError> {
        Variant::of_parts(lowered, lowered.variant(mask), mask, 0)
    }

    /// Whether some lane's classifier is flat ([`MAX_FLAT`]), for [`Table::compact`] to
    /// build as trees.
    fn flat(&self) -> bool {
        self.subs.iter().any(|s| s.classifier.is_flat())
    }

    /// The variant for `mask` of the lists `lowered` as `first`'s classifiers (the first
    /// variant of the table, of no referenced group, built from `lowered`) under overlays
    /// of at most [`MAX_SHARED`] entries, when that is what it differs by; else `None`.
    fn shared_from(first: &Variant<A>, lowered: &Arc<Lowered<A>>, mask: &[GroupKey]) -> Option<Variant<A>> {
        if !first.built_mask.is_empty() || first.unbuilt() {
            return None;
        }
        first
            .derived_in_place(lowered, mask)
            .flatten()
            .filter(|v| v.overlay_weight() <= MAX_SHARED)
    }

    /// The variant for `mask` as [`Variant::shared_from`] gives it (with itself built
    /// alone, [`Variant::alone`]), else built.
    fn shared_or_built(
        first: &Variant<A>,
        lowered: &Arc<Lowered<A>>,
        mask: &[GroupKey],
    ) -> Result<Variant<A>, classifier::CapacityError> {
        let built = Variant::build(lowered, mask)?;
        Ok(match Variant::shared_from(first, lowered, mask) {
            Some(mut v) => {
                v.alone = Some(Arc::new(built));
                v
            }
            None => built,
        })
    }

    /// The variant a rule change is to overlay: the variant built alone when this one
    /// answers from the first variant's classifiers ([`Variant::alone`]), else this one.
    fn changing(&self) -> &Variant<A> {
        self.alone.as_deref().unwrap_or(self)
    }

    /// The variant whose lists (`lowered` for its mask) are `parts`, built.
    /// Lanes of at most `flat` entries are built flat ([`MAX_FLAT`]; `0`: none).
    fn of_parts(
        lowered: &Arc<Lowered<A>>,
        parts: [Part<A>; 3],
        mask: &[GroupKey],
        flat: usize,
    ) -> Result<Variant<A>, classifier::CapacityError> {
        let sub = |p: Part<A>| {
            let flat = !p.entries.is_empty() && p.entries.len() <= flat;
            Sub::build(p, flat)
        };
        let [main, icmp, icmp6] = parts;
        Ok(Variant {
            subs: Arc::new([sub(main)?, sub(icmp)?, sub(icmp6)?]),
            built: Arc::clone(lowered),
            overlay: [None, None, None],
            built_mask: mask.into(),
            alone: None,
        })
    }

    /// This variant for the changed lists `lowered` (for `mask`): each lane's classifier
    /// kept under an overlay of the change; `None` when a lane's change passes `limit`
    /// entries ([`MAX_OVERLAY`]; the variant is to be rebuilt, [`Variant::rebuilt`]).
    fn patched(&self, lowered: &Arc<Lowered<A>>, mask: &[GroupKey], limit: usize) -> Option<Variant<A>> {
        let mut overlay: [Option<Arc<Overlay<A>>>; 3] = [None, None, None];
        for (lane, slot) in overlay.iter_mut().enumerate() {
            let (b, n) = match lane {
                0 => (&self.built.main, &lowered.main),
                l => (&self.built.icmp[l - 1].part, &lowered.icmp[l - 1].part),
            };
            let ends = b.common_ends(&self.built_mask, n, mask);
            let (start, tail, (b_len, n_len)) = (ends.head, ends.tail, ends.lens);
            let (end, new_end) = (b_len - tail, n_len - tail);
            if start == end && start == new_end {
                continue; // unchanged lane
            }
            if end - start > limit || new_end - start > limit {
                return None;
            }
            *slot = Some(Arc::new(Overlay {
                start: start as u32,
                end: end as u32,
                inserted: n
                    .visible(mask)
                    .skip(start)
                    .take(new_end - start)
                    .map(|(e, d)| (*e, *d))
                    .collect(),
                tail: None,
                suffix: if start < end {
                    self.subs[lane].entries(|| self.built_entries(lane, 0..b_len))
                } else {
                    Arc::from([])
                },
            }));
        }
        Some(Variant {
            subs: Arc::clone(&self.subs),
            built: Arc::clone(&self.built),
            overlay,
            built_mask: Arc::clone(&self.built_mask),
            alone: None,
        })
    }

    /// Entries the overlays insert and remove, over the lanes: what a lookup may scan
    /// besides the classifier, and how close the variant is to a rebuild.
    fn overlay_weight(&self) -> usize {
        self.overlay
            .iter()
            .flatten()
            .map(|o| o.inserted_len() + (o.end - o.start) as usize)
            .sum()
    }

    /// The variant for `mask` of the lists `lowered` after a change, given `changed`, this
    /// one's classifiers under an overlay of the change (`None` past [`MAX_OVERLAY`]), and
    /// `fresh`, the table's variants built from `lowered` so far in the same refresh
    /// ([`Variant::note_fresh`]).
    ///
    /// The variants of a table differ only by the entries for their referenced groups'
    /// members, so one built from `lowered` (the first, of no referenced group, comes
    /// first) serves the others under a small overlay of what their groups add
    /// ([`Variant::derived_in_place`]). That is taken when it overlays at most
    /// [`MAX_DERIVED`] entries and no more than `changed` does; else `changed`; else the
    /// variant is built.
    // PERF: a change past the overlay reaches every variant of the table alike; Huawei's
    // rule stream (`live_profile huawei rules 1000 100`) built three variants of ~70 entries
    // per publication, ~1.46M instructions, where one build and two derivations do.
    fn rebuilt(
        lowered: &Arc<Lowered<A>>,
        mask: &[GroupKey],
        changed: Option<Variant<A>>,
        fresh: &[Arc<Variant<A>>],
    ) -> Result<Variant<A>, classifier::CapacityError> {
        let within = |m: &[GroupKey]| m.iter().all(|g| mask.binary_search(g).is_ok());
        let base = fresh
            .iter()
            .filter(|v| within(&v.built_mask))
            .max_by_key(|v| v.built_mask.len());
        let derived = base
            .and_then(|b| b.derived_in_place(lowered, mask).flatten())
            .filter(|d| d.overlay_weight() <= MAX_DERIVED);
        match (derived, changed) {
            (Some(d), Some(c)) if c.overlay_weight() < d.overlay_weight() => Ok(c),
            (Some(d), _) => Ok(d),
            (None, Some(c)) => Ok(c),
            (None, None) => Variant::build(lowered, mask),
        }
    }

    /// `v` (of mask `mask`) with `lowered` as the lists its classifiers were built from
    /// when it answers from those classifiers alone: their lists are then exactly
    /// `lowered`'s for `mask` (an overlay is dropped only where the built list holds the
    /// change, [`Variant::overlaid`]), so that a new identity's variant derives from it in
    /// place ([`Variant::derived_in_place`]) rather than by comparing copies of the lists.
    // PERF: after rules were added and removed again (`update_latency 200 500 10` under
    // callgrind) every variant was built from a list no longer the table's, and a new
    // combination's refresh cost 434K instructions instead of 215K, half of them copying
    // `web`'s lists to derive its new variant. Done when a variant is derived
    // ([`Table::admit_as`]), not by the rule changes: rebasing there cost them 1.3%.
    fn rebased(v: &mut Arc<Variant<A>>, lowered: &Arc<Lowered<A>>, mask: &Arc<[GroupKey]>) {
        if v.alone.is_some() {
            Variant::rebased_alone(v, lowered, mask);
        } else {
            Variant::rebased_plain(v, lowered, mask);
        }
    }

    /// [`Variant::rebased`] of a variant without [`Variant::alone`].
    #[inline]
    fn rebased_plain(v: &mut Arc<Variant<A>>, lowered: &Arc<Lowered<A>>, mask: &Arc<[GroupKey]>) {
        if Arc::ptr_eq(&v.built, lowered) || v.overlaid_lanes() || v.unbuilt() {
            return;
        }
        *v = Arc::new(Variant {
            subs: Arc::clone(&v.subs),
            built: Arc::clone(lowered),
            overlay: [None, None, None],
            built_mask: Arc::clone(mask),
            alone: None,
        });
    }

    /// [`Variant::rebased`] of a variant sharing the first's classifiers: no change reached
    /// its list since it was built alone (a change makes it answer from that one,
    /// [`Variant::changing`]), so the one built alone is rebased.
    // PERF: apart (and `rebased_plain` not recursive), so that `rebased` stays inlined in
    // `admit_as`'s loop over every variant (recursive, it was not: `Engine::refresh` over
    // `update_latency 0 500 175` under callgrind 185.0M instructions against 184.3M).
    #[inline(never)]
    fn rebased_alone(v: &mut Arc<Variant<A>>, lowered: &Arc<Lowered<A>>, mask: &Arc<[GroupKey]>) {
        let Some(alone) = &v.alone else { return };
        if Arc::ptr_eq(&alone.built, lowered) {
            return;
        }
        let mut a = Arc::clone(alone);
        Variant::rebased_plain(&mut a, lowered, mask);
        if !Arc::ptr_eq(&a, alone) {
            let mut next = Variant::clone(v);
            next.alone = Some(a);
            *v = Arc::new(next);
        }
    }

    /// Puts `v` in `fresh` when it answers from classifiers built from `lowered` alone,
    /// for [`Variant::rebuilt`] to derive others from.
    // PERF: kept apart from the variants done, so that a table of many variants looks at
    // the few built in the refresh, not at every one done before (quadratic).
    fn note_fresh(fresh: &mut Vec<Arc<Variant<A>>>, v: &Arc<Variant<A>>, lowered: &Arc<Lowered<A>>) {
        if Arc::ptr_eq(&v.built, lowered) && !v.overlaid_lanes() {
            fresh.push(Arc::clone(v));
        }
    }

    /// The entries of lane `lane` of the list this variant was built from (the
    /// classifier's entries, in order) at `range`.
    fn built_entries(&self, lane: usize, range: std::ops::Range<usize>) -> Vec<Entry<A>> {
        let mask = &self.built_mask;
        let part = match lane {
            0 => &self.built.main,
            l => &self.built.icmp[l - 1].part,
        };
        part.iter()
            .filter(|(_, _, t)| t.is_none_or(|g| mask.binary_search(&g).is_ok()))
            .map(|(e, _, _)| *e)
            .skip(range.start)
            .take(range.len())
            .collect()
    }

    /// This variant with entries `a..b` of lane `lane`'s current list (the built list as
    /// the overlay changes it) replaced by `new`: the lane's overlay widened to cover both
    /// changes (and trimmed of what the built list already holds, so a rule added and
    /// removed again leaves no overlay). `None` when the overlay would pass `limit`
    /// entries ([`MAX_OVERLAY`], or [`MAX_OVERLAY_APART`]): the variant is to be rebuilt.
    fn overlaid(
        &self,
        lane: usize,
        (a, b): (usize, usize),
        new: Vec<(Entry<A>, Decision)>,
        limit: usize,
    ) -> Option<Variant<A>> {
        let decisions = &self.subs[lane].decisions;
        let current = self.overlay[lane].as_deref();
        // An overlay with a shared tail, in one list (PERF: a copy only then).
        let joined = current.filter(|o| o.tail.is_some()).map(Overlay::all_inserted);
        let (s, e, ins): (usize, usize, &[(Entry<A>, Decision)]) = match (current, &joined) {
            (Some(o), Some(all)) => (o.start as usize, o.end as usize, all),
            (Some(o), None) => (o.start as usize, o.end as usize, &o.inserted),
            (None, _) => (a, a, &[]),
        };
        let m = ins.len();
        let (lo, hi) = (a.min(s), b.max(s + m));
        // `hi` in the built list's places (at or past the overlay's end).
        let hi_b = (hi + e).checked_sub(s + m)?;
        if hi_b < lo || hi_b - lo > 4 * limit || (a - lo) + new.len() + (hi - b) > 4 * limit {
            return None;
        }
        // The built entries lo..hi_b, with their decisions.
        let full = current.filter(|o| !o.suffix.is_empty());
        let cached = self.subs[lane].entries.get();
        // PERF: borrowed where the entries are at hand (a copy per lane and change was a
        // tenth of a Huawei rule call's publication, `live_profile huawei rules`).
        let span: std::borrow::Cow<'_, [Entry<A>]> = match full.map(|o| &o.suffix).or(cached) {
            Some(all) => std::borrow::Cow::Borrowed(all.get(lo..hi_b)?),
            None => std::borrow::Cow::Owned(self.built_entries(lane, lo..hi_b)),
        };
        if span.len() != hi_b - lo || decisions.len() < hi_b {
            return None;
        }
        let built = |i: usize| (span[i - lo], decisions[i]);
        // The current list at `i` (lo <= i < hi, outside a..b).
        let at = |i: usize| {
            if i < s {
                built(i)
            } else if i < s + m {
                ins[i - s]
            } else {
                built(i + e - s - m)
            }
        };
        // PERF: sized once (collected, then grown twice, it was reallocated twice).
        let mut inserted: Vec<(Entry<A>, Decision)> = Vec::with_capacity((a - lo) + new.len() + (hi - b));
        inserted.extend((lo..a).map(at));
        inserted.extend(new);
        inserted.extend((b..hi).map(at));
        // What the built list holds at either end is no change.
        let (mut start, mut end) = (lo, hi_b);
        let mut first = 0;
        while first < inserted.len() && start < end && inserted[first] == built(start) {
            first += 1;
            start += 1;
        }
        let mut last = inserted.len();
        while last > first && end > start && inserted[last - 1] == built(end - 1) {
            last -= 1;
            end -= 1;
        }
        // PERF: trimmed in place and boxed as it is (copied into a new box, the list was
        // cloned entry by entry: 650 instructions a lane and change).
        inserted.truncate(last);
        inserted.drain(..first);
        if end - start > limit || inserted.len() > limit {
            return None;
        }
        let mut overlay = self.overlay.clone();
        overlay[lane] = if start == end && inserted.is_empty() {
            None
        } else {
            let suffix: Arc<[Entry<A>]> = if start == end {
                Arc::from([])
            } else {
                match full {
                    Some(o) => Arc::clone(&o.suffix),
                    None => self.subs[lane].entries(|| self.built_entries(lane, 0..decisions.len())),
                }
            };
            Some(Arc::new(Overlay {
                start: start as u32,
                end: end as u32,
                inserted: inserted.into_boxed_slice(),
                tail: None,
                suffix,
            }))
        };
        Some(Variant {
            subs: Arc::clone(&self.subs),
            built: Arc::clone(&self.built),
            overlay,
            built_mask: Arc::clone(&self.built_mask),
            alone: None,
        })
    }

    /// Bytes of the variant; its classifiers only when `classifiers` (not when another
    /// variant counted them already: they are shared).
    fn memory_usage(&self, classifiers: bool) -> usize {
        let subs = if classifiers {
            self.subs.iter().map(Sub::memory_usage).sum::<usize>()
        } else {
            0
        };
        let alone = self.alone.as_deref().map_or(0, |a| a.memory_usage(true));
        let overlays = self
            .overlay
            .iter()
            .zip(self.subs.iter())
            .filter_map(|(o, sub)| Some(o.as_deref()?.memory_usage(sub)))
            .sum::<usize>();
        alone + subs + overlays
    }
}

/// Which sub-classifier a packet goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lane {
    /// Every protocol but ICMP and ICMPv6.
    Main,
    /// ICMP (1) or ICMPv6 (58), by index in [`ICMP_PROTOCOLS`].
    Icmp(usize),
}

impl Lane {
    /// A small index: 0 main, 1 ICMP, 2 ICMPv6.
    #[inline]
    pub(crate) fn index(self) -> usize {
        match self {
            Lane::Main => 0,
            Lane::Icmp(i) => 1 + i,
        }
    }
}

/// A compiled table. Cheap to clone: the classifiers are shared.
#[derive(Clone, Debug)]
pub(crate) struct Table<A: Addr> {
    /// The lowered entries, to build the variant of a new set of groups.
    lowered: Arc<Lowered<A>>,
    /// The groups whose members some entry is for, sorted.
    refs: Box<[GroupKey]>,
    /// Bit `n % 64` set for every group numbered `n` in `refs`: most groups of an identity
    /// are not referenced, and this rules most of those out without a search.
    refs_filter: u64,
    /// The groups whose entries come first in every list the table uses, in their order,
    /// each an entry for any packet from the group's members (ECS `InnerAccessPolicy=Accept`,
    /// see [`heads`]). An identity that holds one of them is decided by the first it holds,
    /// whatever its other groups: it takes the variant of that group alone (see
    /// [`Table::mask_of`]), so that the variants are one per head group and one per set of
    /// the other referenced groups, not one per combination.
    // PERF: a new combination of groups made a variant in every table of an ECS group it
    // shares (`web`'s four held one per combination of the `update_latency` run).
    heads: Arc<[GroupKey]>,
    /// When `refs` holds at most 64 groups: the place in `refs` of each of `heads`, in
    /// order (else empty), for [`Table::bits`] to find an identity's first head among the
    /// referenced groups it holds.
    // PERF: a refresh asks each new table about every identity (`update_latency 0 5000`
    // under callgrind: `Table::bits` with its own search of the heads, 10% of a new
    // combination's refresh).
    // PERF: held inline (`mask_bits` is one pointer from the table): a refresh asks every
    // table of the engine about a new identity, and each pointer followed was a cache miss
    // a table (`update_latency 0 5000`, callgrind `--cache-sim=yes`).
    heads_at: SmallVec<[u8; 8]>,
    /// The variants; the first is for identities that hold none of `refs`. Lookups read
    /// them through `hot`.
    // PERF: an `Arc` per variant, kept: with the variants held inline (`Vec<Variant>`,
    // one dependent load fewer on the way to the classifiers) one-at-a-time IPv4
    // lookups took 1.0-1.7 ns more (`lookup_count` in turns, load 5-7), batched ones
    // at most 1 ns less; instructions, L1 misses and mispredicts alike. `hot` (32 bytes
    // a variant, what a lookup reads) measured faster, see [`Hot`].
    variants: Vec<Arc<Variant<A>>>,
    /// By variant: what its lookups read, in the order of `variants` (INVARIANT: one
    /// entry a variant, of that variant; a variant replaced in place, as
    /// [`Variant::rebased`] does, keeps its classifiers and overlays).
    hot: Vec<Hot<A>>,
    /// `hot[0]` again, in the table itself: the variant of addresses of no endpoint's
    /// group, found without loading `hot`'s pointer first.
    // PERF: `lookup_count` one at a time in turns with `hot[0]` (load 5, three rounds):
    // ECS sparse 29.6-30.6 -> 28.8-29.5 ns, ECS dense 28.7-29.4 -> 28.2-29.2, Huawei sparse
    // 26.7-27.0 -> 26.2-28.6 (one outlier).
    first: Hot<A>,
    /// Bit `v` set for each variant `v` below 64 that answers from the first variant's
    /// classifiers (the same `subs`), under its own overlays: a batch classifies its
    /// packets with the first variant's ([`Table::shares_first`]). Bit 0 always set.
    shared: u64,
    /// The groups of `refs` each variant is for, sorted (empty for the first); shared
    /// between the copies a refresh makes of the table.
    masks: Vec<Arc<[GroupKey]>>,
    /// Each variant's mask as bits of `refs` (bit `i` for `refs[i]`) when `refs` holds at
    /// most 64 groups, else empty: [`Table::known_variant`] compares one number per
    /// variant rather than a list of groups.
    // PERF: a `Vec`, not shared: a copy of the table copies `masks` (an `Arc` each) anyway,
    // and a variant added pushes in place (an `Arc<[u64]>` was collected anew for each, so
    // a table of `n` variants built in one pass copied n²/2 words).
    mask_bits: Vec<u64>,
    /// By identity: its variant (identities not held: the first).
    by_identity: ByIdentity,
    /// By ICMP list: the destination-port interval starts (see [`super::lower`]).
    classes: [Box<[u16]>; 2],
    /// Whether ICMP, then ICMPv6, packets go to their own list.
    lanes: [bool; 2],
    fallback: Decision,
    /// Hash of the lowered input (a 64-bit hash of the full entry lists and decisions):
    /// tables of different fingerprints differ; tables of equal ones are compared by their
    /// lists before one is taken for the other.
    pub(crate) fingerprint: u64,
}

/// The fingerprint of a lowered table.
///
/// The lanes, port classes and fallback are hashed; the entries are summed from their
/// hashes ([`super::lower::entry_hash`], kept in [`Lowered::sum`]), so that a table
/// spliced one rule at a time gets the fingerprint of the same table lowered in full.
/// The sum holds each entry with its source's order key and its index among the source's
/// entries, which give the lists' order when the table is [`Lowered::simple`]; otherwise
/// the lists are hashed in order as well.
// PERF: foldhash with a fixed seed (fingerprints stay the same between runs) instead of
// SipHash, which took 1.4% of a new combination's refresh (callgrind, `update_latency 0 5000 60`).
pub(crate) fn fingerprint<A: Addr>(lowered: &Lowered<A>) -> u64 {
    const SEED: u64 = 0x5eed_f1e6_e4b7_0a11;
    let mut h = foldhash::fast::FixedState::with_seed(SEED).build_hasher();
    (lowered.lanes, &lowered.icmp[0].classes, &lowered.icmp[1].classes).hash(&mut h);
    (lowered.fallback, lowered.simple, lowered.cut).hash(&mut h);
    if !lowered.simple {
        (&lowered.main, &lowered.icmp[0].part, &lowered.icmp[1].part).hash(&mut h);
    }
    h.finish().wrapping_add(lowered.sum)
}

/// The groups whose entries lead every list of `lowered` that lookups use (the main list,
/// and each ICMP list in use), in order: entries that match any packet (an ECS group's
/// intra-group policy), each for its group's members. Empty when the lists do not all
/// start with the same ones.
fn heads<A: Addr>(lowered: &Lowered<A>) -> smallvec::SmallVec<[GroupKey; 8]> {
    let lead = |part: &super::list::List<A>| -> smallvec::SmallVec<[GroupKey; 8]> {
        part.iter()
            .map_while(|(e, d, t)| match (d.reason, *t) {
                (Reason::IntraGroup { group }, Some(g)) if g == group && *e == Entry::ANY => Some(g),
                _ => None,
            })
            .collect()
    };
    let main = lead(&lowered.main);
    if (0..2).all(|i| !lowered.lanes[i] || lead(&lowered.icmp[i].part) == main) {
        main
    } else {
        smallvec::SmallVec::new()
    }
}

/// How a table built before in the same build or refresh takes the identities: its
/// referenced and head groups, its variants' masks in order and its variant by identity. A
/// table of the same referenced and head groups takes the same masks for the same
/// identities, in the same order ([`Table::build_as`]), whatever its entries.
// PERF: a new list's four tables (two directions, two families) mostly reference the same
// groups; each asked every identity of the engine for its mask (`update_latency 0 5000`:
// 8.0-8.7 µs of a new combination's refresh, timed in a scratch build).
#[derive(Clone, Debug, Default)]
pub(crate) struct Twin {
    refs: Box<[GroupKey]>,
    heads: Arc<[GroupKey]>,
    masks: Vec<Arc<[GroupKey]>>,
    by_identity: ByIdentity,
}

impl<A: Addr> Table<A> {
    /// How this table takes the identities, for [`Table::build_as`] to build a table of
    /// the same referenced groups from; `None` for a table of no or more than 64
    /// referenced groups.
    pub(crate) fn twin(&self) -> Option<Twin> {
        (!self.refs.is_empty() && self.refs.len() <= 64).then(|| Twin {
            refs: self.refs.clone(),
            heads: Arc::clone(&self.heads),
            masks: self.masks.clone(),
            by_identity: self.by_identity.clone(),
        })
    }

    /// Builds the classifiers of a lowered table, with a variant for every identity's
    /// groups among those the table references; with `deferred` the variants of at most
    /// [`MAX_OVERLAY`] entries per lane without classifiers (their entries in overlays),
    /// for [`Table::compact`] to build off the read path.
    ///
    /// `like`: a table whose empty classifiers and lists ([`Variant::unbuilt`]) to share,
    /// if there is one (the tables a refresh builds share one set). `twin`: how a table
    /// built before with the same `identities` takes them ([`Table::twin`]), followed when
    /// it references the same groups with the same heads.
    pub(crate) fn build_as(
        mut lowered: Lowered<A>,
        fingerprint: u64,
        identities: &Identities,
        deferred: bool,
        like: Option<&Table<A>>,
        twin: Option<&Twin>,
    ) -> Result<Table<A>, classifier::CapacityError> {
        // A built table's lists in pieces of [`super::list::PIECE`], for rule changes to
        // share; a refresh's new tables keep theirs as made ([`super::list::List::fine`]).
        if !deferred {
            lowered.fine();
        }
        let refs: Box<[GroupKey]> = lowered.refs().into();
        let refs_any = !refs.is_empty();
        let heads: Arc<[GroupKey]> = heads(&lowered).as_slice().into();
        let heads_at: SmallVec<[u8; 8]> = if refs.len() <= 64 {
            heads
                .iter()
                .filter_map(|g| refs.binary_search(g).ok())
                .map(|i| i as u8)
                .collect()
        } else {
            SmallVec::new()
        };
        debug_assert!(
            heads.iter().all(|g| refs.binary_search(g).is_ok()),
            "a head not referenced"
        );
        // Room for a few variants at once (PERF: grown one at a time otherwise).
        let room = if refs_any { identities.len().min(8) } else { 1 };
        let lowered = Arc::new(lowered);
        let first = if deferred {
            let like = like.and_then(|t| t.variants.iter().find(|v| v.unbuilt()));
            Variant::deferred(&lowered, &[], like.map(|v| &**v), None, refs_any)?
        } else {
            Variant::build(&lowered, &[])?
        };
        let mut table = Table {
            classes: [
                lowered.icmp[0].classes.clone().into_boxed_slice(),
                lowered.icmp[1].classes.clone().into_boxed_slice(),
            ],
            lanes: lowered.lanes,
            fallback: lowered.fallback,
            lowered,
            refs_filter: super::sets::filter(&refs),
            refs,
            heads_at,
            heads,
            variants: Vec::with_capacity(room),
            hot: Vec::with_capacity(room),
            first: Hot::of(&first),
            shared: 1,
            masks: Vec::with_capacity(room),
            mask_bits: Vec::with_capacity(room),
            by_identity: ByIdentity::default(),
            fingerprint,
        };
        table.hot.push(Hot::of(&first));
        table.variants.push(Arc::new(first));
        table.masks.push(Arc::from([]));
        if table.refs.len() <= 64 {
            table.mask_bits.push(0);
        }
        if table.refs.len() > 64 {
            for (id, groups) in identities.iter() {
                table.admit_as(id, groups, deferred)?;
            }
        } else if let Some(twin) = twin.filter(|t| t.refs == table.refs && t.heads == table.heads) {
            // The same masks in the same order: each identity takes the variant at the same
            // place (the variants built from this table's own lists).
            for mask in twin.masks.iter().skip(1) {
                table.add_variant(SmallVec::from_slice(mask), deferred)?;
            }
            table.by_identity.clone_from(&twin.by_identity);
        } else if refs_any {
            // PERF: the variant of an identity found by one number per variant
            // ([`Table::mask_bits`]; a refresh builds new tables for every identity of the
            // engine). Identities of none of the referenced groups stay on the first
            // variant, unasked; the others are taken in the order of their numbers, as
            // `identities.iter()` would.
            let holding = identities.holding(&table.refs);
            if let Some(&last) = holding.last() {
                table.by_identity.reserve(last, holding.len());
            }
            for &id in holding.iter() {
                let groups = identities.groups(id);
                let mask = table.bits(groups).unwrap_or(0);
                match table.mask_bits.iter().position(|&k| k == mask) {
                    Some(v) => table.map_identity(id, v as u32),
                    None => table.admit_as(id, groups, deferred)?,
                }
            }
        }
        Ok(table)
    }

    /// Whether some variant has empty classifiers to share ([`Variant::unbuilt`]), for
    /// [`Table::build_as`]'s `like`.
    pub(crate) fn has_unbuilt(&self) -> bool {
        self.variants.iter().any(|v| v.unbuilt())
    }

    /// Whether some variant answers partly from overlays other than those of a variant
    /// that answers from the first variant's classifiers (answering from them alone) under
    /// at most [`MAX_SHARED`] entries, as a build leaves it, or from flat classifiers
    /// ([`MAX_FLAT`]): what [`Table::compact`] does.
    pub(crate) fn overlaid(&self) -> bool {
        let first = &self.variants[0];
        first.overlaid_lanes()
            || first.flat()
            || self.variants[1..]
                .iter()
                .any(|v| v.flat() || (v.overlaid_lanes() && !Variant::settled_on(v, first)))
    }

    /// How many variants the table has.
    #[cfg(test)]
    pub(crate) fn variant_count(&self) -> usize {
        self.variants.len()
    }

    /// Whether some variant has a flat classifier ([`MAX_FLAT`]).
    #[cfg(test)]
    pub(crate) fn flat(&self) -> bool {
        self.variants.iter().any(|v| v.flat())
    }

    /// This table with the classifiers of every variant built from its lists, or (as a
    /// build does) the first variant's under an overlay of at most [`MAX_SHARED`] entries
    /// ([`Variant::shared_from`]): no other overlay left (the same answers).
    pub(crate) fn compact(&self) -> Result<Table<A>, classifier::CapacityError> {
        let old = &self.variants[0];
        let mut first = Arc::clone(old);
        if first.overlaid_lanes() || first.flat() {
            first = Arc::new(Variant::build(&self.lowered, &self.masks[0])?);
        } else {
            // Answering from its classifiers alone: taken as built from the current lists,
            // to derive the others from in place.
            Variant::rebased(&mut first, &self.lowered, &self.masks[0]);
        }
        let same_first = Arc::ptr_eq(&first.subs, &old.subs);
        let mut variants = Vec::with_capacity(self.variants.len());
        variants.push(Arc::clone(&first));
        for (v, mask) in self.variants.iter().zip(&self.masks).skip(1) {
            let keep = !v.flat() && (!v.overlaid_lanes() || (same_first && Variant::settled_on(v, old)));
            variants.push(if keep {
                Arc::clone(v)
            } else {
                Arc::new(Variant::shared_or_built(&first, &self.lowered, mask)?)
            });
        }
        let hot = Hot::all(&variants);
        Ok(Table {
            shared: Hot::shared(&hot),
            hot,
            first: Hot::of(&variants[0]),
            variants,
            ..self.clone()
        })
    }

    /// This table with new lists `lowered` (of fingerprint `fingerprint`) and their
    /// `variants`; the referenced groups, masks, identities, port classes and lanes kept.
    fn relisted(
        &self,
        lowered: Arc<Lowered<A>>,
        variants: Vec<Arc<Variant<A>>>,
        fingerprint: u64,
    ) -> Table<A> {
        let hot = Hot::all(&variants);
        Table {
            fallback: lowered.fallback,
            lowered,
            refs: self.refs.clone(),
            refs_filter: self.refs_filter,
            heads: Arc::clone(&self.heads),
            heads_at: self.heads_at.clone(),
            shared: Hot::shared(&hot),
            hot,
            first: Hot::of(&variants[0]),
            variants,
            masks: self.masks.clone(),
            mask_bits: self.mask_bits.clone(),
            by_identity: self.by_identity.clone(),
            classes: self.classes.clone(),
            lanes: self.lanes,
            fingerprint,
        }
    }

    /// Whether lists `lowered` encode the classifiers' keys as this table's do (its ICMP
    /// lanes and port classes).
    fn same_keys(&self, lowered: &Lowered<A>) -> bool {
        lowered.lanes == self.lanes && (0..2).all(|i| lowered.icmp[i].classes[..] == self.classes[i][..])
    }

    /// This table changed to the lists `lowered` (of fingerprint `fingerprint`) without
    /// rebuilding its classifiers where the change is small (overlays); `Err(lowered)` when
    /// the change reaches what the classifiers' keys encode (ICMP lanes, port classes) or
    /// the referenced groups, so that the table must be built anew.
    pub(crate) fn patched(
        &self,
        lowered: Lowered<A>,
        fingerprint: u64,
    ) -> Result<Result<Table<A>, Lowered<A>>, classifier::CapacityError> {
        if !self.same_keys(&lowered)
            || lowered.refs()[..] != self.refs[..]
            || heads(&lowered)[..] != self.heads[..]
        {
            return Ok(Err(lowered));
        }
        let lowered = Arc::new(lowered);
        let mut variants = Vec::with_capacity(self.variants.len());
        let mut fresh = Vec::new();
        for (v, mask) in self.variants.iter().zip(&self.masks) {
            let next = Arc::new(Variant::rebuilt(
                &lowered,
                mask,
                v.changing().patched(&lowered, mask, MAX_OVERLAY),
                &fresh,
            )?);
            Variant::note_fresh(&mut fresh, &next, &lowered);
            variants.push(next);
        }
        Ok(Ok(self.relisted(lowered, variants, fingerprint)))
    }

    /// This table changed to `lowered` (of fingerprint `fingerprint`), which differs from
    /// the table's lists by one contiguous change per list, `changes` (from
    /// [`super::lower::splice`]): each variant's lanes take the change in their overlays,
    /// or are rebuilt past `limit` entries ([`MAX_OVERLAY`], or [`MAX_OVERLAY_APART`] in
    /// an engine whose builds run apart). The referenced groups, lanes and port classes
    /// are the table's. `None` when the change reaches the entries that lead the lists
    /// ([`Table::heads`]), by which the identities' variants were chosen.
    pub(crate) fn spliced(
        &self,
        lowered: Lowered<A>,
        changes: [Splice; 3],
        fingerprint: u64,
        limit: usize,
    ) -> Result<Option<Table<A>>, classifier::CapacityError> {
        // A splice puts rule entries in place and takes them out: past the leading
        // entries, it leaves them leading (PERF: not recomputed for each rule change).
        if changes.iter().flatten().any(|&(a, _, _)| a < self.heads.len()) {
            return Ok(None);
        }
        let lowered = Arc::new(lowered);
        let mut variants = Vec::with_capacity(self.variants.len());
        let mut fresh = Vec::new();
        for (v, mask) in self.variants.iter().zip(&self.masks) {
            let pass = |t: &Option<GroupKey>| t.is_none_or(|g| mask.binary_search(&g).is_ok());
            let mut next: Option<Variant<A>> = None;
            let mut past = false;
            for (lane, change) in changes.iter().enumerate() {
                let Some((a, b, n)) = *change else { continue };
                let (old, new) = match lane {
                    0 => (&self.lowered.main, &lowered.main),
                    i => (&self.lowered.icmp[i - 1].part, &lowered.icmp[i - 1].part),
                };
                let av = old.count_tags(0, a, pass);
                let bv = av + old.count_tags(a, b, pass);
                let ins: Vec<(Entry<A>, Decision)> = new
                    .range(a, a + n)
                    .filter(|(_, _, t)| pass(t))
                    .map(|(e, d, _)| (*e, *d))
                    .collect();
                if av == bv && ins.is_empty() {
                    continue;
                }
                let current = next.as_ref().unwrap_or(v.changing());
                match current.overlaid(lane, (av, bv), ins, limit) {
                    Some(o) => next = Some(o),
                    None => {
                        past = true;
                        break;
                    }
                }
            }
            variants.push(match (next, past) {
                (None, false) => Arc::clone(v),
                // PERF: the usual case (no variant rebuilt yet, this one's change in its
                // overlays) without looking further.
                (Some(changed), false) if fresh.is_empty() => Arc::new(changed),
                (changed, past) => {
                    let changed = changed.filter(|_| !past);
                    let next = Arc::new(Variant::rebuilt(&lowered, mask, changed, &fresh)?);
                    Variant::note_fresh(&mut fresh, &next, &lowered);
                    next
                }
            });
        }
        Ok(Some(self.relisted(lowered, variants, fingerprint)))
    }

    /// A build of the variants whose overlays hold `at` entries or more ([`BUILD_AT`]), for
    /// [`Table::installed`] to take in later; `None` when there is none.
    pub(crate) fn builds(&self, at: usize) -> Option<Job<A>> {
        let masks: Vec<Arc<[GroupKey]>> = self
            .variants
            .iter()
            .zip(&self.masks)
            .filter(|(v, _)| Self::builds_variant(v, at))
            .map(|(_, mask)| Arc::clone(mask))
            .collect();
        (!masks.is_empty()).then(|| Job {
            lowered: Arc::clone(&self.lowered),
            masks,
        })
    }

    /// Whether [`Table::builds`] has a build for `at` (without making it).
    pub(crate) fn heavy(&self, at: usize) -> bool {
        self.variants.iter().any(|v| Self::builds_variant(v, at))
    }

    /// Whether [`Table::builds`] builds `v`: its overlays hold `at` entries or more.
    fn builds_variant(v: &Variant<A>, at: usize) -> bool {
        v.alone.is_none() && v.overlay_weight() >= at.max(1)
    }

    /// This table with `built` (a [`Job`]'s variant for `mask`, built from earlier lists)
    /// answering for `mask`'s variant under an overlay of what changed since, when that
    /// overlays fewer entries than the variant does now; `None` when it does not (or the
    /// change since reaches what the classifiers' keys encode, or the table has no such
    /// variant any more). The answers are the same: the overlay is the lists compared.
    pub(crate) fn installed(&self, built: &Variant<A>, mask: &[GroupKey], limit: usize) -> Option<Table<A>> {
        let i = self.masks.iter().position(|m| m[..] == *mask)?;
        let current = &self.variants[i];
        if current.alone.is_some() || Arc::ptr_eq(&current.subs, &built.subs) {
            return None;
        }
        // A variant derived from another one's classifiers (built for fewer groups) is
        // taken in too: the comparison below is of its classifiers' list with `mask`'s.
        debug_assert!(self.same_keys(&self.lowered), "a table's lists encode its keys");
        if !self.same_keys(&built.built) {
            return None;
        }
        let now = &self.lowered;
        let next = built.patched(now, mask, limit)?;
        if next.overlay_weight() >= current.overlay_weight() {
            return None;
        }
        let mut variants = self.variants.clone();
        variants[i] = Arc::new(next);
        Some(self.relisted(Arc::clone(now), variants, self.fingerprint))
    }

    /// Entries the variants' overlays hold, over them all, for tests.
    #[cfg(test)]
    pub(crate) fn overlay_weights(&self) -> usize {
        self.variants.iter().map(|v| v.overlay_weight()).sum()
    }

    /// The variants, for tests.
    #[cfg(test)]
    pub(crate) fn variant_list(&self) -> &[Arc<Variant<A>>] {
        &self.variants
    }

    /// The classifiers the variants hold (theirs, and those of variants built alone,
    /// [`Variant::alone`]), for tests.
    #[cfg(test)]
    pub(crate) fn classifiers_held(&self) -> Vec<*const [Sub<A>; 3]> {
        self.variants
            .iter()
            .flat_map(|v| std::iter::once(&v.subs).chain(v.alone.as_deref().map(|a| &a.subs)))
            .map(Arc::as_ptr)
            .collect()
    }

    /// Whether variant `v` has classifiers built from the table's current lists, for tests.
    #[cfg(test)]
    pub(crate) fn built_from_current(&self, v: usize) -> bool {
        Arc::ptr_eq(&self.variants[v].built, &self.lowered)
    }

    /// How many variants' main lanes answer from the first variant's lent list
    /// ([`Overlay::tail`]), the first's own included, for tests.
    #[cfg(test)]
    pub(crate) fn lent_list_users(&self) -> usize {
        let tail = |v: &Variant<A>| {
            v.overlay[0]
                .as_ref()
                .and_then(|o| Some(Arc::clone(&o.tail.as_deref()?.list)))
        };
        let Some(lent) = tail(&self.variants[0]) else {
            return 0;
        };
        self.variants
            .iter()
            .filter(|v| tail(v).is_some_and(|t| Arc::ptr_eq(&t, &lent)))
            .count()
    }

    /// The lowered lists the table answers for.
    pub(crate) fn lowered(&self) -> &Lowered<A> {
        &self.lowered
    }

    /// Whether the table's answer depends on the remote address's identity.
    #[inline]
    pub(crate) fn has_refs(&self) -> bool {
        !self.refs.is_empty()
    }

    /// The referenced groups, sorted.
    pub(crate) fn refs(&self) -> &[GroupKey] {
        &self.refs
    }

    /// Takes in identity `id` of `groups` (sorted): points it at the variant of its
    /// referenced groups, building that variant when no identity had them before (as
    /// [`Table::build_as`] does with `deferred`).
    pub(crate) fn admit_as(
        &mut self,
        id: IdentityId,
        groups: &[GroupKey],
        deferred: bool,
    ) -> Result<(), classifier::CapacityError> {
        if self.admit_known(id, groups) {
            return Ok(());
        }
        let index = self.add_variant(self.mask_of(groups), deferred)?;
        self.map_identity(id, index);
        Ok(())
    }

    /// Builds the variant of `mask` (referenced groups, sorted) as [`Table::admit_as`] does
    /// and appends it: its index.
    fn add_variant(
        &mut self,
        mask: SmallVec<[GroupKey; 8]>,
        deferred: bool,
    ) -> Result<u32, classifier::CapacityError> {
        let built = if deferred {
            // Variants left without overlays by rule changes answer for the current lists:
            // taken as built from them, to derive from in place.
            let lowered = Arc::clone(&self.lowered);
            for (v, m) in self.variants.iter_mut().zip(&self.masks) {
                Variant::rebased(v, &lowered, m);
            }
            // From the variant of the most groups among these: its classifiers
            // under an overlay of what the others add, when that is small. A variant
            // without classifier entries gives nothing to derive from (its entries are
            // all in overlays, as a deferred variant's are).
            // PERF: by the masks' bits where the table has them (a table referenced by many
            // identities, as `web`'s, has a variant for each: two binary searches a group of
            // each mask, per new identity).
            let bits = self.bits(&mask);
            let subset = |v: &usize| match bits {
                Some(b) => self.mask_bits.get(*v).is_some_and(|m| m & !b == 0),
                None => self.masks[*v].iter().all(|g| mask.binary_search(g).is_ok()),
            };
            let base = (0..self.masks.len())
                .filter(subset)
                .filter(|&v| !self.variants[v].unbuilt())
                .max_by_key(|&v| self.masks[v].len());
            // PERF: first from the variant of the most groups among these that answers
            // from its classifiers alone ([`Variant::derived_in_place`]: one pass over the
            // tags, no copy of the lists); deriving from an overlaid variant compares
            // copies of whole lists (~40% of a new combination's `admit_as`).
            let plain = (0..self.masks.len())
                .filter(subset)
                .filter(|&v| {
                    // A variant sharing the first's classifiers: derived from as built alone.
                    let x = self.variants[v].changing();
                    !x.overlaid_lanes() && !x.unbuilt() && Arc::ptr_eq(&x.built, &self.lowered)
                })
                .max_by_key(|&v| self.masks[v].len());
            let fast = match plain {
                Some(v) if Some(v) != base => self.variants[v]
                    .changing()
                    .derived_in_place(&self.lowered, &mask)
                    .flatten(),
                _ => None,
            };
            match fast
                .or_else(|| base.and_then(|v| self.variants[v].changing().derived(&self.lowered, &mask)))
            {
                Some(derived) => derived,
                None => {
                    let like = self.variants.iter().find(|v| v.unbuilt()).map(|v| &**v);
                    let first = self.variants.first().map(|v| &**v);
                    Variant::deferred(&self.lowered, &mask, like, first, false)?
                }
            }
        } else {
            Variant::shared_or_built(&self.variants[0], &self.lowered, &mask)?
        };
        // The variant's mask when it is this one (PERF: one allocation fewer).
        let mask: Arc<[GroupKey]> = if built.built_mask[..] == mask[..] {
            Arc::clone(&built.built_mask)
        } else {
            Arc::from(&mask[..])
        };
        let index = self.variants.len() as u32;
        if index < 64 && Arc::ptr_eq(&built.subs, &self.first.subs) {
            self.shared |= 1 << index;
        }
        self.hot.push(Hot::of(&built));
        self.variants.push(Arc::new(built));
        if let Some(bits) = self.bits(&mask) {
            self.mask_bits.push(bits);
        }
        self.masks.push(mask);
        Ok(index)
    }

    /// The mask of an identity of `groups` ([`Table::mask_of`]) as bits of `refs`
    /// ([`Table::mask_bits`]); `None` when `refs` holds more than 64 groups.
    fn bits(&self, groups: &[GroupKey]) -> Option<u64> {
        if self.refs.len() > 64 {
            return None;
        }
        let held = groups
            .iter()
            .filter_map(|&g| self.ref_index(g))
            .fold(0u64, |b, i| b | 1 << i);
        if held == 0 || self.heads_at.is_empty() {
            return Some(held);
        }
        // The first head held, alone ([`Table::mask_of`]).
        Some(
            self.heads_at
                .iter()
                .find(|&&i| held >> i & 1 == 1)
                .map_or(held, |&i| 1 << i),
        )
    }

    /// The first of [`Table::heads`] that `groups` (sorted) holds. Asked when a variant is
    /// made and, past 64 referenced groups, for every identity (else [`Table::bits`] finds
    /// it by `heads_at`).
    fn head(&self, groups: &[GroupKey]) -> Option<GroupKey> {
        // INVARIANT: every head is in `refs` (its entry is tagged with it), so its mask is
        // a mask of referenced groups.
        self.heads
            .iter()
            .copied()
            .find(|g| groups.binary_search(g).is_ok())
    }

    /// The groups of the variant of an identity of `groups` (sorted): its first head group
    /// alone ([`Table::heads`]: that group's entry decides every packet of the identity,
    /// ahead of any other), else the referenced groups it holds.
    fn mask_of(&self, groups: &[GroupKey]) -> smallvec::SmallVec<[GroupKey; 8]> {
        match self.head(groups) {
            Some(g) => smallvec::smallvec![g],
            None => groups
                .iter()
                .copied()
                .filter(|&g| self.ref_index(g).is_some())
                .collect(),
        }
    }

    /// Where group `g` is in `refs`, if it is there.
    #[inline]
    fn ref_index(&self, g: GroupKey) -> Option<usize> {
        // PERF: refreshes ask every table about each new identity's groups; most are not
        // referenced.
        if self.refs_filter & super::sets::filter(&[g]) == 0 {
            return None;
        }
        self.refs.binary_search(&g).ok()
    }

    /// The variant of identity `groups` (sorted) when the table has it: the first for
    /// an identity that holds none of the referenced groups.
    pub(crate) fn known_variant(&self, groups: &[GroupKey]) -> Option<u32> {
        // PERF: refreshes ask every table about each new identity: one number compared
        // per variant (a new combination's refresh in `update_latency` spent 14% here
        // comparing the masks as lists, 11% with this; a binary search over sorted
        // numbers measured slower, as most tables have few variants).
        if let Some(bits) = self.bits(groups) {
            return self.mask_bits.iter().position(|&b| b == bits).map(|v| v as u32);
        }
        // More than 64 referenced groups: the mask compared with each.
        let mask = self.mask_of(groups);
        if mask.is_empty() {
            return Some(0);
        }
        self.masks
            .iter()
            .position(|m| m[..] == mask[..])
            .map(|v| v as u32)
    }

    /// Points identity `id` of `groups` (sorted) at its variant when the table has that
    /// variant (no classifier built, so it cannot fail): `false` when it has not, and the
    /// table is unchanged.
    pub(crate) fn admit_known(&mut self, id: IdentityId, groups: &[GroupKey]) -> bool {
        match self.known_variant(groups) {
            Some(v) => {
                self.map_identity(id, v);
                true
            }
            None => false,
        }
    }

    /// Points identity `id` at variant `variant` (one [`Table::known_variant`] gave).
    pub(crate) fn point(&mut self, id: IdentityId, variant: u32) {
        self.map_identity(id, variant);
    }

    /// Puts identity `id` on variant `variant`.
    #[inline]
    fn map_identity(&mut self, id: IdentityId, variant: u32) {
        // [`Table::variant`] takes identity 0 (no group) to the first variant unread.
        debug_assert!(id != 0 || variant == 0, "identity 0 on variant {variant}");
        self.by_identity.set(id, variant);
    }

    /// The decision of a variant for a key of a lane.
    // PERF: always inlined, so that inside `Engine::evaluate`'s AVX2 function the node steps
    // inline too (out of line, `decide` was compiled without AVX2).
    #[inline(always)]
    pub(crate) fn decide(
        &self,
        variant: &Hot<A>,
        lane: Lane,
        key: &Key<A>,
        simd: Option<classifier::Simd>,
    ) -> Decision {
        // PERF: the lane's classifier found once, for the lookup and the answer.
        let l = lane.index();
        if let Some(d) = self.ahead(variant, lane, key) {
            return d;
        }
        let sub = &variant.subs[l];
        self.answer_in(variant, l, sub, key, sub.classifier.classify_in(key, simd))
    }

    /// The decision for `key` in a lane of a variant when its overlay's inserted entries
    /// come first and one matches ([`Overlay::ahead`]): then without the classifier.
    // PERF: a variant that shares the first's classifiers ([`MAX_SHARED`]) holds an ECS
    // group's intra-group entry ahead of the rules, which its packets match: answered
    // here, they skip the tree walk their own classifier would have ended early.
    #[inline(always)]
    pub(crate) fn ahead(&self, variant: &Hot<A>, lane: Lane, key: &Key<A>) -> Option<Decision> {
        variant.overlay[lane.index()]
            .as_deref()
            .and_then(|o| o.ahead(key))
    }

    /// The variant of a remote identity.
    #[inline]
    pub(crate) fn variant(&self, identity: IdentityId) -> &Hot<A> {
        // PERF: identity 0 (an address of no endpoint, or of one in no group: most remote
        // addresses) is always on the first variant, so a branch rather than a load of
        // `by_identity`: predicted, the tree walk starts before the identity lookup ends.
        // `lookup_count` one at a time in turns (load 5, two rounds): ECS dense 30.5-30.7
        // -> 28.9-29.1 ns, ECS sparse 30.8-31.7 -> 29.3-30.7, Huawei sparse 28.1 ->
        // 26.7-26.8; under callgrind 8 instructions fewer (314 -> 306 on ECS), 0.1 more
        // mispredicted branches a lookup (the quarter of packets from fleet members).
        if identity == 0 {
            return self.plain();
        }
        self.variant_at(self.variant_index(identity))
    }

    /// The index of the variant of a remote identity.
    #[inline]
    pub(crate) fn variant_index(&self, identity: IdentityId) -> u32 {
        self.by_identity.get(identity)
    }

    /// The variant at an index [`Table::variant_index`] gave.
    #[inline]
    pub(crate) fn variant_at(&self, index: u32) -> &Hot<A> {
        // INVARIANT: `by_identity` holds indexes of `variants` (and `hot`), whose first
        // always exists.
        self.hot.get(index as usize).unwrap_or(&self.first)
    }

    /// Whether the variant at an index [`Table::variant_index`] gave answers from the first
    /// variant's classifiers (under its own overlays), so that a batch classifies its
    /// packets with the first variant's.
    #[inline]
    pub(crate) fn shares_first(&self, index: u32) -> bool {
        index < 64 && self.shared >> (index & 63) & 1 != 0
    }

    /// The first variant: the one of every identity when the table references no group.
    #[inline]
    pub(crate) fn plain(&self) -> &Hot<A> {
        &self.first
    }

    /// The lane that decides packets of `protocol`.
    #[inline]
    pub(crate) fn lane(&self, protocol: u8) -> Lane {
        // PERF: one compare for the common case (no ICMP lists, or a non-ICMP packet).
        if protocol == ICMP_PROTOCOLS[0] && self.lanes[0] {
            Lane::Icmp(0)
        } else if protocol == ICMP_PROTOCOLS[1] && self.lanes[1] {
            Lane::Icmp(1)
        } else {
            Lane::Main
        }
    }

    /// The classifier key of a packet for a lane.
    #[inline]
    pub(crate) fn key(&self, lane: Lane, src: A, dst: A, packet: &Packet) -> Key<A> {
        match lane {
            Lane::Main => Key {
                src,
                dst,
                src_port: packet.src_port,
                dst_port: packet.dst_port,
                proto: packet.protocol,
            },
            Lane::Icmp(i) => {
                let classes = &self.classes[i];
                let dst_port = match classes.len() {
                    0 => packet.dst_port,
                    1 => u16::from(packet.icmp_code),
                    _ => port_class(classes, packet.dst_port) << 8 | u16::from(packet.icmp_code),
                };
                Key {
                    src,
                    dst,
                    src_port: packet.src_port,
                    dst_port,
                    proto: packet.icmp_type,
                }
            }
        }
    }

    /// The decision for a classifier answer for `key` in a lane of a variant.
    #[inline]
    pub(crate) fn answer(&self, variant: &Hot<A>, lane: Lane, key: &Key<A>, hit: Option<u32>) -> Decision {
        let l = lane.index();
        self.answer_in(variant, l, &variant.subs[l], key, hit)
    }

    /// [`Table::answer`] for lane index `l`, whose classifier and decisions are `sub`.
    #[inline(always)]
    fn answer_in(
        &self,
        variant: &Hot<A>,
        l: usize,
        sub: &Sub<A>,
        key: &Key<A>,
        hit: Option<u32>,
    ) -> Decision {
        if let Some(overlay) = variant.overlay.get(l).and_then(Option::as_deref) {
            return overlay.first(sub, key, hit).unwrap_or(self.fallback);
        }
        // INVARIANT: `decisions` has one entry per classifier entry; `get` keeps the hot
        // path free of panics all the same.
        hit.and_then(|i| sub.decisions.get(i as usize).copied())
            .unwrap_or(self.fallback)
    }

    /// Classifies keys of one lane of a variant.
    #[inline]
    pub(crate) fn classify_batch(
        &self,
        variant: &Hot<A>,
        lane: Lane,
        keys: &[Key<A>],
        out: &mut [Option<u32>],
    ) {
        variant.subs[lane.index()].classifier.classify_batch(keys, out);
    }

    /// Bytes of the table, heap included (the lowered entries kept for new variants and
    /// for overlays too).
    pub(crate) fn memory_usage(&self) -> usize {
        // Pieces of the lists that lists share, each once.
        let mut seen = Vec::new();
        let mut lowered = |l: &Lowered<A>| {
            std::mem::size_of::<Lowered<A>>()
                + l.main.memory_usage(&mut seen)
                + l.icmp
                    .iter()
                    .map(|i| i.part.memory_usage(&mut seen) + i.classes.capacity() * 2)
                    .sum::<usize>()
        };
        // Lists older variants were built from (kept for their overlays), each once.
        let mut older: Vec<&Arc<Lowered<A>>> = Vec::new();
        for v in &self.variants {
            if !Arc::ptr_eq(&v.built, &self.lowered) && !older.iter().any(|o| Arc::ptr_eq(o, &v.built)) {
                older.push(&v.built);
            }
        }
        std::mem::size_of::<Self>()
            + lowered(&self.lowered)
            + older.iter().map(|l| lowered(l)).sum::<usize>()
            + self
                .variants
                .iter()
                .zip(self.first_with_subs())
                .map(|(v, first)| v.memory_usage(first))
                .sum::<usize>()
            + self
                .masks
                .iter()
                .map(|m| std::mem::size_of_val(&**m) + 16)
                .sum::<usize>()
            + self.by_identity.memory_usage()
            + self.hot.capacity() * std::mem::size_of::<Hot<A>>()
            + self.mask_bits.capacity() * 8
            + self.refs.len() * 4
            + std::mem::size_of_val(&*self.heads)
            + 16
            + if self.heads_at.spilled() {
                self.heads_at.capacity()
            } else {
                0
            }
            + self.classes.iter().map(|c| c.len() * 2).sum::<usize>()
    }

    /// Classifier entries, all lanes and variants (classifiers that variants share
    /// counted once; those of a sharing variant built alone, [`Variant::alone`], too).
    pub(crate) fn entries(&self) -> usize {
        let count = |v: &Variant<A>| v.subs.iter().map(|s| s.classifier.len()).sum::<usize>();
        self.variants
            .iter()
            .zip(self.first_with_subs())
            .map(|(v, first)| v.alone.as_deref().map_or(0, count) + if first { count(v) } else { 0 })
            .sum()
    }

    /// By variant: whether it is the first whose classifiers they are (variants may share
    /// them), to count each once.
    fn first_with_subs(&self) -> Vec<bool> {
        let mut seen = std::collections::HashSet::new();
        self.variants
            .iter()
            .map(|v| seen.insert(Arc::as_ptr(&v.subs)))
            .collect()
    }
}
