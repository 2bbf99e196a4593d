//! Classifier builds off the writer's path.
//!
//! A rule change lays an overlay over the classifiers it reaches ([`mod@super::table`]), and a
//! variant whose overlays pass [`super::table::MAX_OVERLAY`] entries is rebuilt by the change that
//! passes them: one rebuild in some 64 rule adds, most of an add's cost at 1,000 rules. A
//! [`Build`] lets that work run elsewhere first: [`Engine::take_builds`] asks for one for each
//! variant a group's change left under [`super::table::BUILD_AT`] entries or more, any thread runs
//! it ([`Build::run`]), and [`Engine::install`] takes the result in, the variant then
//! answering from the new classifiers under an overlay of whatever changed since the job
//! was made. The answers never change: the overlay is the built and current lists compared,
//! and a result the table cannot take in so (a change since reached the classifiers' keys,
//! or outgrew an overlay) is dropped.
//!
//! [`crate::live::Live`] runs the builds on a thread of its own; an embedder of a plain
//! [`Engine`] runs them where it likes (the [compile module's docs](super#builds-apart)).

use std::sync::Arc;

use super::table::{Job, Table};
use super::{Engine, TableSet};
use crate::group::GroupKey;

/// Where a build's variants belong: a group list's table of one family and direction.
/// Two builds of one target build variants of the same table, so a caller keeps one in
/// flight a target ([`Build::target`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Target {
    groups: Arc<[GroupKey]>,
    /// `false`: IPv4, `true`: IPv6.
    v6: bool,
    /// The direction's index ([`super::dir_index`]).
    dir: usize,
}

/// A build of some variants of one table ([`Engine::take_builds`]): the classifiers of the
/// table's lists as they were when the build was asked for. `Send`: run it on any thread.
#[derive(Debug)]
pub struct Build {
    target: Target,
    job: Either<Job<u32>, Job<u128>>,
}

/// Of either family.
#[derive(Clone, Debug)]
enum Either<A, B> {
    V4(A),
    V6(B),
}

/// Variants, each with its referenced groups.
type Variants<A> = super::table::Built<A>;

/// A build's result, for [`Engine::install`]: it may be offered to several engines (the
/// states of one cloud, older and newer), each taking it in where it still fits.
#[derive(Clone, Debug)]
pub struct Built {
    target: Target,
    variants: Either<Variants<u32>, Variants<u128>>,
}

impl Build {
    /// Where the result belongs: two builds of one target build the same table's variants
    /// (of the lists as each was made).
    pub fn target(&self) -> &Target {
        &self.target
    }

    /// The variants, built: the work of a rebuild, milliseconds at thousands of entries.
    /// `None` when the classifier refuses their entries (the table then keeps its
    /// overlays, and a change past them compiles it as it would have).
    pub fn run(&self) -> Option<Built> {
        let variants = match &self.job {
            Either::V4(j) => Either::V4(j.run().ok()?),
            Either::V6(j) => Either::V6(j.run().ok()?),
        };
        Some(Built {
            target: self.target.clone(),
            variants,
        })
    }
}

impl TableSet {
    /// Whether a variant of a table holds overlays of [`super::table::BUILD_AT`] entries
    /// or more.
    pub(super) fn heavy(&self) -> bool {
        let at = super::table::BUILD_AT;
        self.v4.iter().any(|t| t.heavy(at)) || self.v6.iter().any(|t| t.heavy(at))
    }

    /// Appends to `out` the builds of the tables' variants whose overlays hold `at` entries
    /// or more.
    fn builds(&self, at: usize, out: &mut Vec<Build>) {
        for dir in 0..2 {
            let target = |v6: bool| Target {
                groups: Arc::clone(&self.groups),
                v6,
                dir,
            };
            out.extend(self.v4[dir].builds(at).map(|job| Build {
                target: target(false),
                job: Either::V4(job),
            }));
            out.extend(self.v6[dir].builds(at).map(|job| Build {
                target: target(true),
                job: Either::V6(job),
            }));
        }
    }
}

/// `table` with each of `variants` taken in where it can be ([`Table::installed`], under
/// overlays of at most `limit` entries); `None` when none was.
fn installed_all<A: super::classifier::Addr>(
    table: &Arc<Table<A>>,
    variants: &Variants<A>,
    limit: usize,
) -> Option<Arc<Table<A>>> {
    let mut taken: Option<Arc<Table<A>>> = None;
    for (mask, v) in variants {
        if let Some(t) = taken.as_ref().unwrap_or(table).installed(v, mask, limit) {
            taken = Some(Arc::new(t));
        }
    }
    taken
}

impl Built {
    /// Where the variants belong.
    pub fn target(&self) -> &Target {
        &self.target
    }
}

impl Engine {
    /// Lets rule changes lay overlays of up to 192 entries a lane rather than 64, for an
    /// engine whose caller runs its [`Engine::take_builds`] apart and takes them in with
    /// [`Engine::install`]: a build then has the time of many rule changes to be done in.
    /// Kept by clones and refreshes. Lookups scan what the overlays hold, so an engine whose
    /// builds are not run keeps larger overlays for longer: call this only where they are.
    pub fn build_apart(&mut self) {
        self.overlay_limit = super::table::MAX_OVERLAY_APART;
    }

    /// Builds of the variants that rule changes since the last call left with overlays of
    /// 32 entries or more, none when there are none (and always none in an engine whose
    /// builds do not run apart: [`Engine::build_apart`]). Run each ([`Build::run`]) and
    /// give the result to [`Engine::install`], of this engine or of a later state of it.
    /// Every call after a change to a heavy table asks again: keep one build a target in
    /// flight ([`Build::target`]) and drop the others.
    // PERF: noted by the splices, not looked for: a scan of the sets of the changed group
    // at every publication was 1.2% of `live_profile ecs rules 4000`.
    pub fn take_builds(&mut self) -> Vec<Build> {
        let mut out = Vec::new();
        for i in std::mem::take(&mut self.heavy) {
            if let Some(Some(set)) = self.sets.get(i as usize) {
                set.builds(super::table::BUILD_AT, &mut out);
            }
        }
        out
    }

    /// Builds of the variants of group `g`'s tables (those of every group list that holds
    /// it) whose overlays hold `at` entries or more, for tests.
    #[cfg(test)]
    pub(crate) fn builds_at(&self, g: GroupKey, at: usize) -> Vec<Build> {
        let mut out = Vec::new();
        for set in self.sets.iter().flatten().filter(|s| s.groups.contains(&g)) {
            set.builds(at, &mut out);
        }
        out
    }

    /// [`Engine::builds_at`] at [`super::table::BUILD_AT`], for tests.
    #[cfg(test)]
    pub(crate) fn builds(&self, g: GroupKey) -> Vec<Build> {
        self.builds_at(g, super::table::BUILD_AT)
    }

    /// Takes `built` in where its table still answers as the build's lists did but for a
    /// change an overlay can hold, and its variants would overlay fewer entries than they
    /// do now (`Table::installed`). `true` when taken in; the answers are the same either
    /// way, so a result that came too late, or belongs to another engine, is safe to
    /// offer: it is compared, not trusted.
    pub fn install(&mut self, built: &Built) -> bool {
        let t = &built.target;
        let Some(&i) = self.by_groups.get(&t.groups[..]) else {
            return false;
        };
        let Some(Some(set)) = self.sets.get(i as usize) else {
            return false;
        };
        // PERF: the set is copied only when a table changes (a result is offered to several
        // publications, most of which have it already).
        let limit = self.overlay_limit;
        let next = match &built.variants {
            Either::V4(vs) => {
                let Some(table) = installed_all(&set.v4[t.dir], vs, limit) else {
                    return false;
                };
                let mut next = TableSet::clone(set);
                next.v4[t.dir] = table;
                next
            }
            Either::V6(vs) => {
                let Some(table) = installed_all(&set.v6[t.dir], vs, limit) else {
                    return false;
                };
                let mut next = TableSet::clone(set);
                next.v6[t.dir] = table;
                next
            }
        };
        self.sets.put(i as usize, Some(Arc::new(next)));
        true
    }
}
