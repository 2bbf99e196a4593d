//! Logs that only grow, shared by the states that hold a prefix of them.
//!
//! Some bookkeeping only grows with a cloud's age (Gcore's tasks, the calls that seed ids),
//! and every state a [`crate::live::Live`] writer keeps holds all of it. The states share one
//! log and each sees its own first `len` entries, so keeping an entry is one push and
//! bringing a state up to date is a pointer copy. A state that is not the log's end and
//! goes on (a clone that diverged) continues in a copy of its own prefix.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// What a [`Shared`] log holds: entries that only grow.
pub(crate) trait Log: Default {
    /// How many entries it holds.
    fn len(&self) -> usize;
    /// A log of its first `len` entries.
    fn prefix(&self, len: usize) -> Self;
}

/// A state's view of a log shared with other states: the log's first `len` entries.
#[derive(Debug, Default)]
pub(crate) struct Shared<L> {
    log: Arc<Mutex<L>>,
    len: usize,
}

impl<L> Clone for Shared<L> {
    /// Shares the log (no entry copied).
    fn clone(&self) -> Self {
        Shared {
            log: Arc::clone(&self.log),
            len: self.len,
        }
    }
}

fn lock<L>(log: &Mutex<L>) -> MutexGuard<'_, L> {
    // Appends are the only writes, and a panic cannot leave one half done.
    log.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<L: Log> Shared<L> {
    /// How many of the log's entries are this state's.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Appends with `append` (which only pushes entries) and answers what it answers.
    pub(crate) fn append<R>(&mut self, append: impl FnOnce(&mut L) -> R) -> R {
        let mut log = lock(&self.log);
        if log.len() != self.len {
            // Another state sharing the log went on from here: go on in a copy of ours.
            let mine = log.prefix(self.len);
            drop(log);
            self.log = Arc::new(Mutex::new(mine));
            log = lock(&self.log);
        }
        let answer = append(&mut log);
        self.len = log.len();
        answer
    }

    /// Reads the log (whose entries past [`Shared::len`] are not this state's).
    pub(crate) fn read<R>(&self, read: impl FnOnce(&L) -> R) -> R {
        read(&lock(&self.log))
    }

    /// A copy of this state's entries alone.
    pub(crate) fn own(&self) -> L {
        lock(&self.log).prefix(self.len)
    }

    /// Makes this view equal to `newer`'s, a later state of it: shares its log.
    pub(crate) fn sync_from(&mut self, newer: &Shared<L>) {
        self.log = Arc::clone(&newer.log);
        self.len = newer.len;
    }

    /// Whether both views share one log.
    pub(crate) fn shares_log_with(&self, other: &Shared<L>) -> bool {
        Arc::ptr_eq(&self.log, &other.log)
    }
}
