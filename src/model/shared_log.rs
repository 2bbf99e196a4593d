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
//! live states are, not the cloud's age.

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

/// A log and the lengths of its views.
#[derive(Debug)]
struct Inner<L> {
    log: L,
    /// Each view's length by slot; `usize::MAX` for a free slot.
    lens: Vec<usize>,
    free: Vec<usize>,
    /// [`Log::kept`] past which the log forgets what no view needs.
    forget_at: usize,
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
    fn new(log: L, len: usize) -> Inner<L> {
        Inner {
            log,
            lens: vec![len],
            free: Vec::new(),
            forget_at: FORGET_AT,
            #[cfg(test)]
            forgot: 0,
        }
    }

    /// A slot for a view of length `len`.
    fn register(&mut self, len: usize) -> usize {
        match self.free.pop() {
            Some(slot) => {
                self.lens[slot] = len;
                slot
            }
            None => {
                self.lens.push(len);
                self.lens.len() - 1
            }
        }
    }

    fn deregister(&mut self, slot: usize) {
        self.leave(self.lens[slot]);
        self.lens[slot] = usize::MAX;
        self.free.push(slot);
    }

    /// Moves the view in `slot` to length `len`.
    fn moved(&mut self, slot: usize, len: usize) {
        self.leave(self.lens[slot]);
        self.lens[slot] = len;
    }

    /// A view leaves length `len`: when it held what the log keeps (it is no longer than
    /// what was forgotten), the next append forgets again, however far back it was.
    fn leave(&mut self, len: usize) {
        if len + self.log.kept() <= self.log.len() {
            self.forget_at = FORGET_AT;
        }
    }

    /// Forgets what no view needs once the log keeps more than `forget_at` entries; the
    /// next time at twice what is left (at least [`FORGET_AT`]), so a view held far back
    /// (a reader's old snapshot) costs amortized constant time per append, not a scan each.
    fn forget(&mut self) {
        if self.log.kept() > self.forget_at {
            // INVARIANT: the appending view is registered, so some length is.
            let shortest = self.lens.iter().copied().min().unwrap_or(usize::MAX);
            self.log.forget_below(shortest.min(self.log.len()));
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
    /// This view's place in the log's lengths.
    slot: usize,
}

impl<L: Log> Default for Shared<L> {
    fn default() -> Self {
        Shared {
            log: Arc::new(Mutex::new(Inner::new(L::default(), 0))),
            len: 0,
            slot: 0,
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

impl<L: Log> Drop for Shared<L> {
    fn drop(&mut self) {
        lock(&self.log).deregister(self.slot);
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
            inner.deregister(self.slot);
            drop(inner);
            self.log = Arc::new(Mutex::new(Inner::new(mine, self.len)));
            self.slot = 0;
            inner = lock(&self.log);
        }
        let answer = append(&mut inner.log);
        self.len = inner.log.len();
        // Not `moved`: a view at the log's end held back no kept entry, nothing to check.
        inner.lens[self.slot] = self.len;
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
            lock(&self.log).moved(self.slot, newer.len);
        } else {
            lock(&self.log).deregister(self.slot);
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
