//! Classifier builds off the writer's path.
//!
//! A rule change lays an overlay over the classifiers it reaches ([`mod@super::table`]), and a
//! variant whose overlays pass [`super::table::MAX_OVERLAY`] entries is rebuilt by the change that
//! passes them: one rebuild in some 64 rule adds, most of an add's cost at 1,000 rules. A
//! [`Build`] lets that work run elsewhere first: [`Engine::builds`] asks for one for each
//! variant a group's change left under [`super::table::BUILD_AT`] entries or more, any thread runs
//! it ([`Build::run`]), and [`Engine::install`] takes the result in, the variant then
//! answering from the new classifiers under an overlay of whatever changed since the job
//! was made. The answers never change: the overlay is the built and current lists compared,
//! and a result the table cannot take in so (a change since reached the classifiers' keys,
//! or outgrew an overlay) is dropped.
//!
//! [`crate::live::Live`] runs the builds on a thread of its own.

use std::sync::Arc;

use super::table::{Job, Variant};
use super::{Engine, TableSet};
use crate::group::GroupKey;

/// Where a build's variant belongs: a group list's table of one family and direction, and
/// the variant's referenced groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    groups: Arc<[GroupKey]>,
    /// `false`: IPv4, `true`: IPv6.
    v6: bool,
    /// The direction's index ([`super::dir_index`]).
    dir: usize,
    mask: Arc<[GroupKey]>,
}

/// A build of one table variant's classifiers ([`Engine::builds`]).
#[derive(Debug)]
pub(crate) struct Build {
    target: Target,
    job: Either<Job<u32>, Job<u128>>,
}

/// A variant of either family.
#[derive(Clone, Debug)]
enum Either<A, B> {
    V4(A),
    V6(B),
}

/// A build's result, for [`Engine::install`].
#[derive(Clone, Debug)]
pub(crate) struct Built {
    target: Target,
    variant: Either<Arc<Variant<u32>>, Arc<Variant<u128>>>,
}

impl Build {
    /// Where the result belongs: two builds of one target build the same variant (of the
    /// lists as each was made).
    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// The variant, built; `None` when the classifier refuses its entries (the table then
    /// keeps its overlays, and a change past them compiles it as it would have).
    pub(crate) fn run(&self) -> Option<Built> {
        let variant = match &self.job {
            Either::V4(j) => Either::V4(j.run().ok()?),
            Either::V6(j) => Either::V6(j.run().ok()?),
        };
        Some(Built {
            target: self.target.clone(),
            variant,
        })
    }
}

impl Built {
    /// Where the variant belongs.
    pub(crate) fn target(&self) -> &Target {
        &self.target
    }
}

impl Engine {
    /// Lets rule changes lay overlays of up to [`super::table::MAX_OVERLAY_APART`] entries
    /// rather than [`super::table::MAX_OVERLAY`], for an engine whose caller runs its
    /// [`Engine::builds`] apart and takes them in: a build then has the time of many rule
    /// changes to be done in. Kept by clones and refreshes.
    pub(crate) fn build_apart(&mut self) {
        self.overlay_limit = super::table::MAX_OVERLAY_APART;
    }

    /// Builds of the variants of group `g`'s tables (those of every group list that holds
    /// it) whose overlays hold [`super::table::BUILD_AT`] entries or more.
    pub(crate) fn builds(&self, g: GroupKey) -> Vec<Build> {
        self.builds_at(g, super::table::BUILD_AT)
    }

    /// [`Engine::builds`] of the variants whose overlays hold `at` entries or more.
    pub(crate) fn builds_at(&self, g: GroupKey, at: usize) -> Vec<Build> {
        let mut out = Vec::new();
        for set in self.sets.iter().flatten() {
            if !set.groups.contains(&g) {
                continue;
            }
            for dir in 0..2 {
                let target = |v6: bool, mask: &Arc<[GroupKey]>| Target {
                    groups: Arc::clone(&set.groups),
                    v6,
                    dir,
                    mask: Arc::clone(mask),
                };
                out.extend(set.v4[dir].builds(at).map(|job| Build {
                    target: target(false, job.mask()),
                    job: Either::V4(job),
                }));
                out.extend(set.v6[dir].builds(at).map(|job| Build {
                    target: target(true, job.mask()),
                    job: Either::V6(job),
                }));
            }
        }
        out
    }

    /// Takes `built` in where its table still answers as the job's lists did but for a
    /// change an overlay holds, and the variant would overlay fewer entries than it does
    /// now ([`super::table::Table::installed`]). `true` when taken in; the answers are the same
    /// either way.
    pub(crate) fn install(&mut self, built: &Built) -> bool {
        let t = &built.target;
        let Some(&i) = self.by_groups.get(&t.groups[..]) else {
            return false;
        };
        let Some(Some(set)) = self.sets.get(i as usize) else {
            return false;
        };
        let mut next = TableSet::clone(set);
        match &built.variant {
            Either::V4(v) => match set.v4[t.dir].installed(v, &t.mask, self.overlay_limit) {
                Some(table) => next.v4[t.dir] = Arc::new(table),
                None => return false,
            },
            Either::V6(v) => match set.v6[t.dir].installed(v, &t.mask, self.overlay_limit) {
                Some(table) => next.v6[t.dir] = Arc::new(table),
                None => return false,
            },
        }
        self.sets.put(i as usize, Some(Arc::new(next)));
        true
    }
}
