//! Gcore's tasks: every group or rule call keeps one, finished when created, for the life
//! of the cloud (`GetTask` reads them back).

use serde_json::{json, Value};

use crate::ids;
use crate::model::shared_log::{Log, Shared};
use crate::model::FastMap;
use crate::provider::rest;

/// The Gcore front end and its bookkeeping: the tasks, each finished when created.
/// Changed only by a committed call ([`Effect`]).
///
/// PERF: tasks only grow (one per rule or group call) and every state a
/// [`crate::live::Live`] writer keeps holds them all. The states share one append-only
/// log and each sees its first `len` tasks, so keeping a task is one push into the log
/// and bringing a state up to date ([`Frontend::sync_from`]) is a pointer copy; a task is
/// kept inline, its ids as numbers, without an allocation of its own. Each state with its
/// own `Vec` and hash set of shared tasks (four ids and an `Arc` allocated per task, every
/// task pushed and hashed into every state, the sets rehashed as they grew),
/// `live_profile gcore rules 100000 100` took 0.70-0.77 user seconds and 42.7 MB (Huawei's
/// 0.60-0.62), now 0.50-0.51 and 30.4 MB (with the shared call counts of
/// [`crate::model`]; three runs each, in turns).
#[derive(Clone, Debug, Default)]
pub(crate) struct Frontend {
    /// The tasks, shared by the states made from this one (clones, spares brought up to
    /// date).
    log: Shared<Tasks>,
}

/// Tasks in the order they were kept, and where each id is first.
#[derive(Debug, Default)]
struct Tasks {
    tasks: Vec<Task>,
    by_id: FastMap<Text, usize>,
}

impl Log for Tasks {
    fn len(&self) -> usize {
        self.tasks.len()
    }

    fn prefix(&self, len: usize) -> Tasks {
        let mut log = Tasks::default();
        for task in &self.tasks[..len] {
            log.push(task.clone());
        }
        log
    }
}

impl Tasks {
    fn push(&mut self, task: Task) {
        self.by_id.entry(task.id.clone()).or_insert(self.tasks.len());
        self.tasks.push(task);
    }
}

impl PartialEq for Frontend {
    /// The same tasks, whatever the order they were kept in.
    fn eq(&self, other: &Frontend) -> bool {
        if self.log.shares_log_with(&other.log) {
            return self.log.len() == other.log.len();
        }
        // One lock at a time: two held at once could deadlock with `other == self`.
        let mine = self.log.own();
        let len = other.log.len();
        other.log.read(|theirs| {
            let distinct = theirs.by_id.values().filter(|&&i| i < len).count();
            mine.by_id.len() == distinct
                && mine
                    .tasks
                    .iter()
                    .all(|t| (theirs.by_id.get(&t.id)).is_some_and(|&i| i < len && theirs.tasks[i] == *t))
        })
    }
}

/// An id as kept: the shapes the emulator writes as numbers (no allocation), anything
/// else as text. Each text has exactly one form, so two ids are equal as `Text` exactly
/// when their texts are.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Text {
    /// A UUID, `8-4-4-4-12` lowercase hex digits.
    Uuid(u128),
    /// 32 lowercase hex digits.
    Hex(u128),
    /// Any other text.
    Other(Box<str>),
}

impl Text {
    fn new(text: &str) -> Text {
        let b = text.as_bytes();
        let uuid = b.len() == 36 && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-');
        // PERF: a digit's value from a table, each run of digits folded into 64 bits
        // (every Gcore call keeps two or three ids: their parse cost 700 instructions each).
        static VALUE: [u8; 256] = {
            let mut t = [0xff; 256];
            let mut i = 0;
            while i < 16 {
                t[b"0123456789abcdef"[i] as usize] = i as u8;
                i += 1;
            }
            t
        };
        let hex = |run: &[u8]| -> Option<u64> {
            run.iter().try_fold(0u64, |v, &c| match VALUE[usize::from(c)] {
                0xff => None,
                d => Some(v << 4 | u64::from(d)),
            })
        };
        let wide = |hi: u64, lo: u64| u128::from(hi) << 64 | u128::from(lo);
        let parsed = if uuid {
            // 8-4-4-4-12 digits: the first three groups are the high half.
            (|| {
                let hi = hex(&b[..8])? << 32 | hex(&b[9..13])? << 16 | hex(&b[14..18])?;
                let lo = hex(&b[19..23])? << 48 | hex(&b[24..])?;
                Some(Text::Uuid(wide(hi, lo)))
            })()
        } else if b.len() == 32 {
            (|| Some(Text::Hex(wide(hex(&b[..16])?, hex(&b[16..])?))))()
        } else {
            None
        };
        parsed.unwrap_or_else(|| Text::Other(text.into()))
    }

    fn text(&self) -> String {
        match self {
            Text::Uuid(v) => {
                let (hi, lo) = ((v >> 64) as u64, *v as u64);
                let mut out = String::with_capacity(36);
                ids::push_hex(&mut out, hi >> 32, 8);
                out.push('-');
                ids::push_hex(&mut out, hi >> 16, 4);
                out.push('-');
                ids::push_hex(&mut out, hi, 4);
                out.push('-');
                ids::push_hex(&mut out, lo >> 48, 4);
                out.push('-');
                ids::push_hex(&mut out, lo, 12);
                out
            }
            Text::Hex(v) => {
                let mut out = String::with_capacity(32);
                ids::push_hex(&mut out, (v >> 64) as u64, 16);
                ids::push_hex(&mut out, *v as u64, 16);
                out
            }
            Text::Other(s) => s.to_string(),
        }
    }
}

/// A task as kept: its JSON ([`Task::shown`]) is written only when read (`GetTask`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Task {
    id: Text,
    task_type: &'static str,
    /// The call count when it finished (its timestamps).
    at: u64,
    project_id: u64,
    region_id: u64,
    request_id: Text,
    /// What it created: the kind (`security_groups`, `security_group_rules`) and the id.
    created: Option<(&'static str, Text)>,
}

impl Task {
    /// Task `id` of type `task_type`, finished at call count `at`.
    pub(super) fn new(
        id: &str,
        task_type: &'static str,
        at: u64,
        (project_id, region_id, request_id): (u64, u64, &str),
        created: Option<&(&'static str, String)>,
    ) -> Task {
        Task {
            id: Text::new(id),
            task_type,
            at,
            project_id,
            region_id,
            request_id: Text::new(request_id),
            created: created.map(|(kind, id)| (*kind, Text::new(id))),
        }
    }

    /// The task as `GetTask` answers it.
    fn shown(&self) -> Value {
        let now = rest::timestamp(self.at);
        json!({
            "id": self.id.text(),
            "task_type": self.task_type,
            "state": "FINISHED",
            "created_on": now,
            "updated_on": now,
            "finished_on": now,
            "user_id": 1,
            "project_id": self.project_id,
            "region_id": self.region_id,
            "request_id": self.request_id.text(),
            "created_resources": self.created.as_ref().map(|(kind, id)| json!({ *kind: [id.text()] })),
            "error": null,
        })
    }
}

/// What one call adds to the bookkeeping (its tasks), kept only if the call commits.
#[derive(Debug, Default)]
pub(crate) struct Effect {
    pub(super) tasks: Vec<Task>,
}

impl Frontend {
    /// Keeps what a committed call adds.
    pub(crate) fn apply(&mut self, effect: Effect) {
        if effect.tasks.is_empty() {
            return;
        }
        self.log.append(|log| {
            for task in effect.tasks {
                log.push(task);
            }
        });
    }

    /// Makes this bookkeeping equal to `newer`, a later state of it: shares its log.
    pub(crate) fn sync_from(&mut self, newer: &Frontend) {
        self.log.sync_from(&newer.log);
    }

    /// Task `id` as `GetTask` answers it, if this state has it.
    pub(super) fn shown(&self, id: &str) -> Option<Value> {
        let len = self.log.len();
        self.log.read(|log| {
            let &i = log.by_id.get(&Text::new(id))?;
            (i < len).then(|| log.tasks[i].shown())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(n: u64) -> Task {
        let id = ids::uuid(n, n);
        Task::new(
            &id,
            "create_security_group",
            n,
            (1, 1, "0825a4e813a640aa95df60e8f1e07bc4"),
            None,
        )
    }

    fn keep(f: &mut Frontend, n: u64) {
        f.apply(Effect { tasks: vec![task(n)] });
    }

    /// States sharing a log are equal when they hold the same tasks, also after one of
    /// them went on in a copy, and a later state brought up to date equals the newer one.
    #[test]
    fn shared_and_forked_logs_compare_by_their_tasks() {
        let mut a = Frontend::default();
        keep(&mut a, 1);
        let mut b = a.clone();
        assert!(a == b);
        keep(&mut a, 2);
        assert!(a != b);
        keep(&mut b, 2);
        assert!(!a.log.shares_log_with(&b.log), "b went on in a copy");
        assert!(a == b);
        keep(&mut b, 3);
        assert!(a != b);
        a.sync_from(&b);
        assert!(a == b);
        let old = Frontend::default();
        assert!(old != a);
        for n in [1, 2, 3] {
            assert!(a.shown(&ids::uuid(n, n)).is_some());
            assert!(old.shown(&ids::uuid(n, n)).is_none());
        }
    }

    /// Tasks are never forgotten, however many states went on past them (the call counts
    /// sharing the same kind of log are).
    #[test]
    fn every_task_stays_readable() {
        let (mut current, mut spare) = (Frontend::default(), Frontend::default());
        for n in 1..=1000 {
            if n % 10 == 1 {
                spare.sync_from(&current);
                std::mem::swap(&mut current, &mut spare);
            }
            keep(&mut current, n);
        }
        for n in [1, 2, 500, 1000] {
            assert!(current.shown(&ids::uuid(n, n)).is_some(), "task {n}");
        }
        assert!(spare.shown(&ids::uuid(1000, 1000)).is_none());
        assert!(spare.shown(&ids::uuid(990, 990)).is_some());
    }

    /// Ids of the shapes the emulator writes come back as they were given; others too.
    #[test]
    fn ids_read_back_as_given() {
        for text in [
            "30b85fd1-13c9-4521-93ed-fcf2c4785542",
            "0825a4e813a640aa95df60e8f1e07bc4",
            "30B85FD1-13C9-4521-93ED-FCF2C4785542",
            "30b85fd1-13c9-4521-93ed_fcf2c4785542",
            "30b85fd1-13c9-4521-93ed-fcf2c478554g",
            "g825a4e813a640aa95df60e8f1e07bc4",
            "0825a4e813a640aa-5df60e8f1e07bc4",
            "",
            "task",
        ] {
            assert_eq!(Text::new(text).text(), text);
        }
        for n in 0..64 {
            let (a, b) = (ids::mix(n, 1), ids::mix(n, 2));
            let id = ids::uuid(a, b);
            assert!(matches!(Text::new(&id), Text::Uuid(_)), "{id}");
            assert_eq!(Text::new(&id).text(), id);
        }
        assert!(matches!(
            Text::new("30b85fd1-13c9-4521-93ed-fcf2c4785542"),
            Text::Uuid(_)
        ));
        assert!(matches!(
            Text::new("0825a4e813a640aa95df60e8f1e07bc4"),
            Text::Hex(_)
        ));
        assert_ne!(
            Text::new("00000000000000000000000000000000"),
            Text::new("00000000-0000-0000-0000-000000000000")
        );
    }
}
