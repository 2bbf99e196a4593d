//! Logs that only grow, shared by the states that hold a prefix of them.
//!
//! Some bookkeeping only grows with a cloud's age (Gcore's tasks, the calls that seed ids),
//! and every state a [`crate::live::Live`] writer keeps holds all of it. The states share one
//! log and each sees its own first `len` entries, so keeping an entry is one push and
//! bringing a state up to date is a pointer copy. A state that is not the log's end and
//! goes on (a clone that diverged) continues in a copy of its own prefix.
//!
//! The log knows the length of every view of it (each view holds a slot), so a log that
//! needs no entry below the shortest view ([`Log::kept`], [`Log::forget_below`]: the call
//! counts, which keep the end's counts) forgets those: its memory follows how far apart the
//! live states are, not the cloud's age. A view's slot is its own atomic length, so dropping
//! a view (a reader letting go of an old state) takes no lock: the log finds dropped views
//! by their slots' handle counts when it scans.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// What a [`Shared`] log holds: entries that only grow.
pub(crate) trait Log: Default {
    /// How many entries it holds (forgotten ones too: the length of the longest view).
    fn len(&self) -> usize;
    /// A log of its first `len` entries (never below what it forgot).
    fn prefix(&self, len: usize) -> Self;
    /// How many entries it keeps that it could forget: 0 (the default) for a log that
    /// forgets nothing, whose [`Log::forget_below`] is then never called.
    fn kept(&self) -> usize {
        0
    }
    /// Forgets what only views shorter than `len` needed: no such view is left.
    fn forget_below(&mut self, _len: usize) {}
}

/// A view's length, shared by the view and its log: the view drops its handle without
/// the log's lock (readers drop old states), and the log finds dropped views by the count
/// of handles when it needs the shortest length.
type Slot = Arc<AtomicUsize>;

/// A log and the lengths of its views.
#[derive(Debug)]
struct Inner<L> {
    log: L,
    /// The views' slots (dropped views' too, until a scan finds them gone).
    views: Vec<Slot>,
    /// How many slots it holds before it looks for dropped views again.
    clean_at: usize,
    /// [`Log::kept`] past which the log forgets what no view needs.
    forget_at: usize,
    /// The shortest view at the last forgetting, when it held entries back: once it is
    /// dropped or moves on, the next append forgets again, however far back it was.
    holder: Option<Slot>,
    /// How many times it forgot: tests check they reach forgetting.
    #[cfg(test)]
    forgot: usize,
}

/// The fewest entries a log keeps before it forgets any, so each forgetting (a scan of the
/// views' lengths and a move of the kept entries) is shared by thousands of appends. Tests
/// forget sooner, so that short runs of calls reach it.
///
/// PERF: `Shared::append` for the call counts, forgetting and the lengths included, takes
/// 210 instructions a call (`live_profile huawei rules 20000 100` under callgrind,
/// inclusive), 118 for ECS; 199 and 115 when the log kept every call.
pub(crate) const FORGET_AT: usize = if cfg!(test) { 64 } else { 4096 };

impl<L: Log> Inner<L> {
    /// A log with one view, of length `len`, in `slot`.
    fn new(log: L, slot: &Slot) -> Inner<L> {
        Inner {
            log,
            views: vec![Arc::clone(slot)],
            clean_at: 16,
            forget_at: FORGET_AT,
            holder: None,
            #[cfg(test)]
            forgot: 0,
        }
    }

    /// A slot for a new view of length `len`.
    fn register(&mut self, len: usize) -> Slot {
        if self.views.len() >= self.clean_at {
            self.release_holder();
            self.views.retain(|v| Arc::strong_count(v) > 1);
            self.clean_at = (2 * self.views.len()).max(16);
        }
        let slot = Arc::new(AtomicUsize::new(len));
        self.views.push(Arc::clone(&slot));
        slot
    }

    /// Moves the view of `slot` to length `len`.
    fn moved(&mut self, slot: &Slot, len: usize) {
        // Relaxed: every store and load of a length happens under the log's lock.
        slot.store(len, Ordering::Relaxed);
        if self.holder.as_ref().is_some_and(|h| Arc::ptr_eq(h, slot)) {
            self.holder = None;
            self.forget_at = FORGET_AT;
        }
    }

    /// Lets go of the holder once its view is dropped (only the log and `holder` hold its
    /// slot), so that the next append forgets what it held back.
    fn release_holder(&mut self) {
        if self.holder.as_ref().is_some_and(|h| Arc::strong_count(h) <= 2) {
            self.holder = None;
            self.forget_at = FORGET_AT;
        }
    }

    /// Forgets what no view needs once the log keeps more than `forget_at` entries; the
    /// next time at twice what is left (at least [`FORGET_AT`]), so a view held far back
    /// (a reader's old snapshot) costs amortized constant time per append, not a scan each.
    fn forget(&mut self) {
        self.release_holder();
        if self.log.kept() > self.forget_at {
            self.holder = None;
            self.views.retain(|v| Arc::strong_count(v) > 1);
            self.clean_at = (2 * self.views.len()).max(16);
            // INVARIANT: the appending view is registered, so some view is.
            let shortest = self
                .views
                .iter()
                .min_by_key(|v| v.load(Ordering::Relaxed))
                .map(Arc::clone);
            let len = self.log.len();
            if let Some(s) = shortest {
                let at = s.load(Ordering::Relaxed).min(len);
                self.log.forget_below(at);
                if at < len {
                    self.holder = Some(s);
                }
            }
            self.forget_at = (2 * self.log.kept()).max(FORGET_AT);
            #[cfg(test)]
            {
                self.forgot += 1;
            }
        }
    }
}

/// A state's view of a log shared with other states: the log's first `len` entries.
#[derive(Debug)]
pub(crate) struct Shared<L: Log> {
    log: Arc<Mutex<Inner<L>>>,
    len: usize,
    /// This view's length as the log sees it.
    slot: Slot,
}

impl<L: Log> Default for Shared<L> {
    fn default() -> Self {
        let slot = Slot::default();
        Shared {
            log: Arc::new(Mutex::new(Inner::new(L::default(), &slot))),
            len: 0,
            slot,
        }
    }
}

impl<L: Log> Clone for Shared<L> {
    /// Shares the log (no entry copied).
    fn clone(&self) -> Self {
        Shared {
            log: Arc::clone(&self.log),
            len: self.len,
            slot: lock(&self.log).register(self.len),
        }
    }

    /// Shares `source`'s log (see [`Shared::sync_from`]).
    fn clone_from(&mut self, source: &Self) {
        self.sync_from(source);
    }
}

fn lock<L>(log: &Mutex<Inner<L>>) -> MutexGuard<'_, Inner<L>> {
    // Appends and slot changes are the only writes, and a panic cannot leave one half done.
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<L: Log> Shared<L> {
    /// How many of the log's entries are this state's.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends with `append` (which only pushes entries) and answers what it answers.
    pub(crate) fn append<R>(&mut self, append: impl FnOnce(&mut L) -> R) -> R {
        let mut inner = lock(&self.log);
        if inner.log.len() != self.len {
            // Another state sharing the log went on from here: go on in a copy of ours.
            let mine = inner.log.prefix(self.len);
            drop(inner);
            self.slot = Slot::new(AtomicUsize::new(self.len));
            self.log = Arc::new(Mutex::new(Inner::new(mine, &self.slot)));
            inner = lock(&self.log);
        }
        let answer = append(&mut inner.log);
        self.len = inner.log.len();
        // Not `moved`: a view at the log's end held back no kept entry, nothing to check.
        self.slot.store(self.len, Ordering::Relaxed);
        inner.forget();
        answer
    }

    /// Reads the log (whose entries past [`Shared::len`] are not this state's).
    pub(crate) fn read<R>(&self, read: impl FnOnce(&L) -> R) -> R {
        read(&lock(&self.log).log)
    }

    /// A copy of this state's entries alone.
    pub(crate) fn own(&self) -> L {
        lock(&self.log).log.prefix(self.len)
    }

    /// Makes this view equal to `newer`'s, a later state of it: shares its log.
    pub(crate) fn sync_from(&mut self, newer: &Shared<L>) {
        if Arc::ptr_eq(&self.log, &newer.log) {
            lock(&self.log).moved(&self.slot, newer.len);
        } else {
            self.log = Arc::clone(&newer.log);
            self.slot = lock(&self.log).register(newer.len);
        }
        self.len = newer.len;
    }

    /// Whether both views share one log.
    pub(crate) fn shares_log_with(&self, other: &Shared<L>) -> bool {
        Arc::ptr_eq(&self.log, &other.log)
    }

    /// How many entries the log keeps that it could forget ([`Log::kept`]).
    #[cfg(test)]
    pub(crate) fn kept(&self) -> usize {
        lock(&self.log).log.kept()
    }

    /// How many times the log forgot what no view needed.
    #[cfg(test)]
    pub(crate) fn forgot(&self) -> usize {
        lock(&self.log).forgot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    /// A log of numbers that forgets nothing.
    #[derive(Default)]
    struct Numbers(Vec<u64>);

    impl Log for Numbers {
        fn len(&self) -> usize {
            self.0.len()
        }
        fn prefix(&self, len: usize) -> Numbers {
            Numbers(self.0[..len].to_vec())
        }
    }

    /// Readers drop old states while the writer appends: dropping a view must not wait
    /// for the log's lock (held here by the test, as an append would).
    #[test]
    fn dropping_a_view_takes_no_lock() {
        let mut writer: Shared<Numbers> = Shared::default();
        writer.append(|l| l.0.push(1));
        let reader = writer.clone();
        let held = lock(&writer.log);
        let (done, dropped) = mpsc::channel();
        std::thread::spawn(move || {
            drop(reader);
            done.send(()).ok();
        });
        let answer = dropped.recv_timeout(Duration::from_secs(20));
        drop(held);
        assert!(answer.is_ok(), "the drop waited for the lock");
    }

    /// Views made and dropped by the thousand leave a bounded list of slots.
    #[test]
    fn dropped_views_leave_no_slots() {
        let mut writer: Shared<Numbers> = Shared::default();
        for i in 0..10_000 {
            writer.append(|l| l.0.push(i));
            drop(writer.clone());
        }
        let slots = lock(&writer.log).views.len();
        assert!(slots <= 32, "{slots} slots for one view");
    }
}
