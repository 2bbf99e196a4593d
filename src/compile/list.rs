//! Entry lists held in shared pieces: what a lowered table keeps of each of its lists.
//!
//! A rule added to a table or removed from it changes a few entries of one list. A list in
//! one piece would be copied whole with the change (`web`'s 854 entries: 22 of the 26 KB a
//! rule change allocated so, and the page faults of a change on a cold copy of an engine).
//! Held in pieces of about [`PIECE`] entries, the changed list shares every piece the change
//! does not touch with the list it was made from, and copies one.

use std::hash::{Hash, Hasher};
use std::ops::{Deref, Range};
use std::sync::Arc;

use super::classifier::{Addr, Rule as Entry};
use super::lower::Part;
use crate::decision::Decision;
use crate::group::GroupKey;

/// Entries a piece holds when a list is cut into pieces; a piece grows to twice this by
/// insertions before it is cut again.
pub(crate) const PIECE: usize = 64;

/// An entry list (entries, decisions and tags, as a [`Part`]) in pieces that lists share.
///
/// Compared and hashed by its entries, not by how they are cut into pieces.
#[derive(Clone, Debug)]
pub(crate) struct List<A: Addr> {
    /// The pieces in order; none is empty.
    pieces: Vec<Piece<A>>,
    /// Entries in all the pieces.
    len: usize,
}

/// A piece of a [`List`]: entries that lists share.
#[derive(Clone, Debug)]
pub(crate) struct Piece<A: Addr> {
    part: Arc<Part<A>>,
    /// How many of its entries are tagged (most pieces have none: counting their tags is
    /// then no scan, [`List::count_tags`]).
    tagged: u32,
}

impl<A: Addr> Piece<A> {
    /// How many of its entries hold for `mask` ([`List::variant`]).
    fn visible_len(&self, mask: &[GroupKey]) -> usize {
        if self.tagged == 0 {
            return self.entries.len();
        }
        self.tags.iter().filter(|t| holds(t, mask)).count()
    }

    fn new(part: Part<A>) -> Piece<A> {
        let tagged = part.tags.iter().filter(|t| t.is_some()).count() as u32;
        Piece {
            part: Arc::new(part),
            tagged,
        }
    }
}

/// Whether an entry of tag `tag` holds for a remote identity whose referenced groups are
/// `mask` (sorted): untagged, or tagged with one of them ([`List::variant`]).
fn holds(tag: &Option<GroupKey>, mask: &[GroupKey]) -> bool {
    tag.is_none_or(|g| mask.binary_search(&g).is_ok())
}

/// What two lists' variants have alike at either end ([`List::common_ends`]).
pub(crate) struct CommonEnds {
    /// Leading entries alike.
    pub(crate) head: usize,
    /// Trailing entries alike, past the leading ones.
    pub(crate) tail: usize,
    /// The two variants' lengths.
    pub(crate) lens: (usize, usize),
}

/// The entries of `pieces` that hold for `mask`, with their decisions, in order.
fn visible<'a, A: Addr>(
    pieces: &'a [Piece<A>],
    mask: &'a [GroupKey],
) -> impl DoubleEndedIterator<Item = (&'a Entry<A>, &'a Decision)> + 'a {
    pieces.iter().flat_map(move |p| {
        p.entries
            .iter()
            .zip(&p.decisions)
            .zip(&p.tags)
            .filter(move |(_, t)| holds(t, mask))
            .map(|(ed, _)| ed)
    })
}

impl<A: Addr> Deref for Piece<A> {
    type Target = Part<A>;

    fn deref(&self) -> &Part<A> {
        &self.part
    }
}

impl<A: Addr> Default for List<A> {
    fn default() -> Self {
        List {
            pieces: Vec::new(),
            len: 0,
        }
    }
}

impl<A: Addr> From<Part<A>> for List<A> {
    /// The list of `part`: kept as one piece (not copied) up to twice [`PIECE`] entries,
    /// else cut into pieces of [`PIECE`] ([`List::fine`] cuts the piece later).
    fn from(part: Part<A>) -> List<A> {
        let len = part.entries.len();
        let pieces = if len == 0 {
            Vec::new()
        } else if len <= 2 * PIECE {
            vec![Piece::new(part)]
        } else {
            cut(&part)
        };
        List { pieces, len }
    }
}

/// `part` in pieces of [`PIECE`].
fn cut<A: Addr>(part: &Part<A>) -> Vec<Piece<A>> {
    let len = part.entries.len();
    (0..len)
        .step_by(PIECE)
        .map(|start| {
            let mut piece = Part::default();
            extend(&mut piece, part, start..len.min(start + PIECE));
            Piece::new(piece)
        })
        .collect()
}

/// Appends entries `range` of `from` (with their decisions and tags) to `out`.
fn extend<A: Addr>(out: &mut Part<A>, from: &Part<A>, range: Range<usize>) {
    out.entries.extend_from_slice(&from.entries[range.clone()]);
    out.decisions.extend_from_slice(&from.decisions[range.clone()]);
    out.tags.extend_from_slice(&from.tags[range]);
}

impl<A: Addr> List<A> {
    /// How many entries the list holds.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Whether the list holds no entry.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Cuts pieces of more than [`PIECE`] entries into pieces of [`PIECE`], so that a change
    /// copies at most that many (the lists of a build: those a refresh makes stay as they
    /// are, as a new table's lists are often not changed before it is rebuilt).
    // PERF: `churn/huawei-sparse/rule_add_remove` (a 117-entry list) 5.63-5.71 µs with the
    // list in one piece, 4.95-5.28 in pieces of 64 (4a40735: 4.99-5.12), in turns; cutting
    // the lists of new combinations too cost them ~5% (`update_latency 0 5000`).
    pub(crate) fn fine(&mut self) {
        if self.pieces.iter().all(|p| p.entries.len() <= PIECE) {
            return;
        }
        let mut pieces = Vec::with_capacity(self.len.div_ceil(PIECE) + self.pieces.len());
        for p in self.pieces.drain(..) {
            if p.entries.len() <= PIECE {
                pieces.push(p);
            } else {
                pieces.extend(cut(&p));
            }
        }
        self.pieces = pieces;
    }

    /// The pieces, in order (none empty): for loops that a flattened iterator slows.
    pub(crate) fn parts(&self) -> &[Piece<A>] {
        &self.pieces
    }

    /// Every entry with its decision and tag, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&Entry<A>, &Decision, &Option<GroupKey>)> + '_ {
        self.pieces.iter().flat_map(|p| triples(p, 0))
    }

    /// The entries `start..end` (clamped to the list) with their decisions and tags.
    pub(crate) fn range(
        &self,
        start: usize,
        end: usize,
    ) -> impl Iterator<Item = (&Entry<A>, &Decision, &Option<GroupKey>)> + '_ {
        let (piece, offset) = self.locate(start);
        let first = self.pieces.get(piece).map(|p| triples(p, offset));
        let rest = self.pieces.get(piece + 1..).unwrap_or_default();
        first
            .into_iter()
            .flatten()
            .chain(rest.iter().flat_map(|p| triples(p, 0)))
            .take(end.saturating_sub(start))
    }

    /// The place of the first entry whose decision satisfies `pred`.
    pub(crate) fn position(&self, pred: impl Fn(&Decision) -> bool) -> Option<usize> {
        let mut base = 0;
        for p in &self.pieces {
            if let Some(i) = p.decisions.iter().position(&pred) {
                return Some(base + i);
            }
            base += p.decisions.len();
        }
        None
    }

    /// How many of the entries `start..end` have a tag that satisfies `pred`.
    // PERF: piece by piece: a rule change counts this for every variant of its table.
    pub(crate) fn count_tags(
        &self,
        start: usize,
        end: usize,
        pred: impl Fn(&Option<GroupKey>) -> bool,
    ) -> usize {
        let untagged = pred(&None);
        let mut base = 0;
        let mut n = 0;
        for p in &self.pieces {
            let len = p.tags.len();
            if base >= end {
                break;
            }
            if base + len > start {
                let (a, b) = (start.saturating_sub(base), (end - base).min(len));
                n += match p.tagged {
                    0 if untagged => b - a,
                    0 => 0,
                    _ => p.tags[a..b].iter().filter(|t| pred(t)).count(),
                };
            }
            base += len;
        }
        n
    }

    /// The tags, in order.
    pub(crate) fn tags(&self) -> impl Iterator<Item = &Option<GroupKey>> + '_ {
        self.pieces.iter().flat_map(|p| p.tags.iter())
    }

    /// The piece that holds entry `i` and its place there (past the end: the number of
    /// pieces, 0).
    fn locate(&self, mut i: usize) -> (usize, usize) {
        for (n, p) in self.pieces.iter().enumerate() {
            if i < p.entries.len() {
                return (n, i);
            }
            i -= p.entries.len();
        }
        (self.pieces.len(), 0)
    }

    /// The number of leading entries whose decision satisfies `pred` (which holds for a
    /// prefix of the list), as [`slice::partition_point`].
    pub(crate) fn partition_point(&self, mut pred: impl FnMut(&Decision) -> bool) -> usize {
        // The first piece whose last entry fails `pred` holds the point (INVARIANT: pieces
        // are not empty); found by halving, as `pred` may be dear (an order key).
        let k = self
            .pieces
            .partition_point(|p| p.decisions.last().is_some_and(&mut pred));
        let before: usize = self.pieces[..k].iter().map(|p| p.decisions.len()).sum();
        match self.pieces.get(k) {
            Some(p) => before + p.decisions.partition_point(pred),
            None => before,
        }
    }

    /// The list with entries `start..end` (`start <= end <= len`) replaced by `new`'s: the
    /// pieces the change touches are copied (and cut again past twice [`PIECE`]), the
    /// others shared.
    pub(crate) fn replaced(&self, start: usize, end: usize, new: &Part<A>) -> List<A> {
        debug_assert!(start <= end && end <= self.len, "{start}..{end} of {}", self.len);
        let n = self.pieces.len();
        if n == 0 {
            return List::from(new.clone());
        }
        // The piece the change starts in and the place there: an insertion at the list's
        // end goes into the last piece.
        let (first, from) = match self.locate(start) {
            (i, at) if i < n => (i, at),
            _ => (n - 1, self.pieces[n - 1].entries.len()),
        };
        // The piece the change ends in (that of its last removed entry, if any) and the
        // place there after the change.
        let (last, to) = if end > start {
            let (i, at) = self.locate(end - 1);
            (i, at + 1)
        } else {
            (first, from)
        };
        let (p, q) = (&self.pieces[first], &self.pieces[last]);
        let mut part = Part::default();
        let size = from + new.entries.len() + (q.entries.len() - to);
        part.entries.reserve_exact(size);
        part.decisions.reserve_exact(size);
        part.tags.reserve_exact(size);
        extend(&mut part, p, 0..from);
        extend(&mut part, new, 0..new.entries.len());
        extend(&mut part, q, to..q.entries.len());
        let mut pieces = Vec::with_capacity(n + 1);
        pieces.extend(self.pieces[..first].iter().cloned());
        match part.entries.len() {
            0 => {}
            n if n <= 2 * PIECE => pieces.push(Piece::new(part)),
            _ => pieces.extend(cut(&part)),
        }
        pieces.extend(self.pieces[last + 1..].iter().cloned());
        List {
            pieces,
            len: self.len - (end - start) + new.entries.len(),
        }
    }

    /// The entries that hold for a remote identity whose groups (among the tags) are
    /// `mask` (sorted), untagged, in one piece.
    pub(crate) fn variant(&self, mask: &[GroupKey]) -> Part<A> {
        let mut out = Part {
            entries: Vec::with_capacity(self.len),
            decisions: Vec::with_capacity(self.len),
            tags: Vec::with_capacity(self.len),
        };
        for (e, d) in visible(&self.pieces, mask) {
            out.entries.push(*e);
            out.decisions.push(*d);
            out.tags.push(None);
        }
        out
    }

    /// The entries [`List::variant`] keeps for `mask`, with their decisions, in order (not
    /// copied).
    pub(crate) fn visible<'a>(
        &'a self,
        mask: &'a [GroupKey],
    ) -> impl DoubleEndedIterator<Item = (&'a Entry<A>, &'a Decision)> + 'a {
        visible(&self.pieces, mask)
    }

    /// How many entries [`List::variant`] keeps for `mask`.
    pub(crate) fn visible_len(&self, mask: &[GroupKey]) -> usize {
        self.pieces.iter().map(|p| p.visible_len(mask)).sum()
    }

    /// How many leading entries the variants for `mask` of this list and for `other_mask`
    /// of `other` have alike (entries and decisions), then how many trailing ones past
    /// those, and each variant's length: what [`List::variant`] of both, compared from
    /// either end, would give. Pieces the two lists share are passed whole, not compared.
    // PERF: a build run apart was taken in by comparing both variants' copies, 32-128 µs
    // at `web`'s 1,000 Gcore rules (`add_latency gcore`).
    pub(crate) fn common_ends(
        &self,
        mask: &[GroupKey],
        other: &List<A>,
        other_mask: &[GroupKey],
    ) -> CommonEnds {
        let same_mask = mask == other_mask;
        let shared =
            |a: &Piece<A>, b: &Piece<A>| Arc::ptr_eq(&a.part, &b.part) && (a.tagged == 0 || same_mask);
        let (a, b) = (&self.pieces[..], &other.pieces[..]);
        let mut k = 0;
        let mut head = 0;
        while k < a.len() && k < b.len() && shared(&a[k], &b[k]) {
            head += a[k].visible_len(mask);
            k += 1;
        }
        head += visible(&a[k..], mask)
            .zip(visible(&b[k..], other_mask))
            .take_while(|(x, y)| x == y)
            .count();
        let mut m = 0;
        let mut tail = 0;
        while m < a.len() - k && m < b.len() - k && shared(&a[a.len() - 1 - m], &b[b.len() - 1 - m]) {
            tail += a[a.len() - 1 - m].visible_len(mask);
            m += 1;
        }
        tail += visible(&a[..a.len() - m], mask)
            .rev()
            .zip(visible(&b[..b.len() - m], other_mask).rev())
            .take_while(|(x, y)| x == y)
            .count();
        let lens = (self.visible_len(mask), other.visible_len(other_mask));
        let room = lens.0.min(lens.1) - head;
        CommonEnds {
            head,
            tail: tail.min(room),
            lens,
        }
    }

    /// Bytes of the pieces not in `seen` (whose addresses it then holds): pieces that
    /// lists share are counted once.
    pub(crate) fn memory_usage(&self, seen: &mut Vec<*const Part<A>>) -> usize {
        let mut bytes = self.pieces.capacity() * std::mem::size_of::<Piece<A>>();
        for p in &self.pieces {
            if seen.contains(&Arc::as_ptr(&p.part)) {
                continue;
            }
            seen.push(Arc::as_ptr(&p.part));
            // The `Arc`'s counts, the part and its lists.
            bytes += 16
                + std::mem::size_of::<Part<A>>()
                + p.entries.capacity() * std::mem::size_of::<Entry<A>>()
                + p.decisions.capacity() * std::mem::size_of::<Decision>()
                + p.tags.capacity() * std::mem::size_of::<Option<GroupKey>>();
        }
        bytes
    }
}

/// The entries of `p` from `offset` on with their decisions and tags.
fn triples<A: Addr>(
    p: &Part<A>,
    offset: usize,
) -> impl Iterator<Item = (&Entry<A>, &Decision, &Option<GroupKey>)> + '_ {
    let at = offset.min(p.entries.len());
    p.entries[at..]
        .iter()
        .zip(&p.decisions[at..])
        .zip(&p.tags[at..])
        .map(|((e, d), t)| (e, d, t))
}

impl<A: Addr> PartialEq for List<A> {
    fn eq(&self, other: &List<A>) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

impl<A: Addr> Eq for List<A> {}

impl<A: Addr> Hash for List<A> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.len.hash(state);
        for item in self.iter() {
            item.hash(state);
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::compile::classifier::{PortRange, Prefix};
    use crate::decision::{Reason, Verdict};

    /// A part of `n` entries numbered from `from` (the number in the destination port
    /// and in the tag of some).
    fn part(from: u16, n: usize) -> Part<u32> {
        let mut p = Part::default();
        for i in 0..n as u16 {
            let k = from + i;
            p.entries.push(Entry {
                src: Prefix { addr: 0, len: 0 },
                dst: Prefix { addr: 0, len: 0 },
                src_ports: PortRange::ANY,
                dst_ports: PortRange::single(k),
                proto: 6,
                proto_mask: 0xff,
            });
            p.decisions.push(Decision {
                verdict: if k % 2 == 0 { Verdict::Allow } else { Verdict::Deny },
                reason: Reason::IntraGroup {
                    group: GroupKey::new(u32::from(k)),
                },
            });
            // Tagged in every other run of 100 numbers: some pieces have no tag.
            p.tags
                .push((k % 3 == 0 && k / 100 % 2 == 0).then(|| GroupKey::new(u32::from(k))));
        }
        p
    }

    fn flat(list: &List<u32>) -> Vec<(Entry<u32>, Decision, Option<GroupKey>)> {
        list.iter().map(|(e, d, t)| (*e, *d, *t)).collect()
    }

    fn model(p: &Part<u32>) -> Vec<(Entry<u32>, Decision, Option<GroupKey>)> {
        (0..p.entries.len())
            .map(|i| (p.entries[i], p.decisions[i], p.tags[i]))
            .collect()
    }

    proptest! {
        /// A list spliced again and again holds what one flat list spliced alike holds,
        /// in pieces of at most twice [`PIECE`] entries, none empty; its reads (`range`,
        /// `partition_point`) agree with the flat list's.
        #[test]
        fn splices_keep_the_entries_of_a_flat_list(
            len in 0usize..400,
            edits in proptest::collection::vec((any::<u16>(), 0usize..80, 0usize..150), 1..12),
        ) {
            let mut list = List::from(part(0, len));
            let mut flat_list = model(&part(0, len));
            let mut next = 1000u16;
            for (at, remove, insert) in edits {
                let start = usize::from(at) % (flat_list.len() + 1);
                let end = (start + remove).min(flat_list.len());
                let new = part(next, insert);
                next += insert as u16;
                if at % 2 == 0 {
                    list.fine();
                    prop_assert!(list.parts().iter().all(|p| p.entries.len() <= PIECE));
                }
                let before = list.clone();
                list = list.replaced(start, end, &new);
                flat_list.splice(start..end, model(&new));
                // The list spliced from is unchanged.
                prop_assert_eq!(before.len(), flat(&before).len());
                prop_assert_eq!(list.len(), flat_list.len());
                let target = new.decisions.first();
                prop_assert_eq!(
                    list.position(|d| Some(d) == target),
                    flat_list.iter().position(|x| Some(&x.1) == target)
                );
                let tagged = |t: &Option<GroupKey>| t.is_some();
                let (a, b) = (start.min(flat_list.len()), (start + insert).min(flat_list.len()));
                prop_assert_eq!(
                    list.count_tags(a, b, tagged),
                    flat_list[a..b].iter().filter(|x| x.2.is_some()).count()
                );
                prop_assert_eq!(
                    list.count_tags(0, flat_list.len(), tagged),
                    flat_list.iter().filter(|x| x.2.is_some()).count()
                );
                let plain = |t: &Option<GroupKey>| t.is_none_or(|g| g.get() % 2 == 0);
                prop_assert_eq!(
                    list.count_tags(a, b, plain),
                    flat_list[a..b].iter().filter(|x| plain(&x.2)).count()
                );
                prop_assert_eq!(&flat(&list), &flat_list);
                prop_assert!(list.parts().iter().all(|p| !p.entries.is_empty() && p.entries.len() <= 2 * PIECE));
                let a = usize::from(at) % (flat_list.len() + 1);
                let b = (a + remove).min(flat_list.len());
                let got: Vec<_> = list.range(a, b).map(|(e, d, t)| (*e, *d, *t)).collect();
                prop_assert_eq!(&got[..], &flat_list[a..b]);
                let first = list.range(a, a + 1).next().map(|(e, d, t)| (*e, *d, *t));
                prop_assert_eq!(first, flat_list.get(a).copied());
                let allow = |d: &Decision| d.verdict == Verdict::Allow;
                let cut = flat_list.iter().take_while(|x| allow(&x.1)).count();
                // `partition_point` of a predicate true on a prefix only.
                let within = |d: &Decision| {
                    flat_list.iter().position(|x| x.1 == *d).is_some_and(|p| p < cut)
                };
                prop_assert_eq!(list.partition_point(within), cut);
                // Equal contents compare and hash equal however they are cut.
                let whole = List::from(Part {
                    entries: flat_list.iter().map(|x| x.0).collect(),
                    decisions: flat_list.iter().map(|x| x.1).collect(),
                    tags: flat_list.iter().map(|x| x.2).collect(),
                });
                prop_assert!(whole == list);
                let hash = |l: &List<u32>| {
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    l.hash(&mut h);
                    h.finish()
                };
                prop_assert_eq!(hash(&whole), hash(&list));
            }
        }
    }

    /// A change to a long list copies the piece it touches and shares the others.
    #[test]
    fn a_splice_shares_the_pieces_it_does_not_touch() {
        let list = List::from(part(0, 854));
        assert_eq!(list.parts().len(), 854usize.div_ceil(PIECE));
        let added = list.replaced(300, 300, &part(5000, 2));
        let shared = added
            .parts()
            .iter()
            .filter(|p| list.parts().iter().any(|q| Arc::ptr_eq(&p.part, &q.part)))
            .count();
        assert_eq!(shared, list.parts().len() - 1);
        let removed = added.replaced(300, 302, &Part::default());
        assert!(removed == list);
        let mut seen = Vec::new();
        let one = list.memory_usage(&mut seen);
        let both = one + added.memory_usage(&mut seen);
        // The second list adds its piece list and one piece of about `PIECE` entries.
        assert!(both - one < one / 4, "{one} {both}");
    }
}
