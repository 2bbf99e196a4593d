//! Live updates under load: one writer changes the cloud while many readers evaluate.
//!
//! A [`Live`] handle holds the current [`Snapshot`]: an immutable cloud and the compiled engine
//! ([`crate::compile::Engine`]) built for it, tagged with a version. Readers take the snapshot (an atomic pointer load that never
//! waits for the writer) and evaluate as long as they like; a writer builds the next state on
//! a state no reader holds and publishes it with one atomic swap. So a reader never blocks on
//! a writer and never sees a half-applied change: every answer is the answer of the state
//! before or after each change (or batch of changes), never of something in between.
//!
//! ```
//! use std::sync::Arc;
//! use sgeval::live::Live;
//! use sgeval::{Packet, Provider, Request, Verdict};
//! use serde_json::json;
//!
//! let live = Arc::new(Live::new(Provider::Huawei, Default::default()));
//! let created = live.call("CreateSecurityGroup", &Request {
//!     body: Some(json!({"security_group": {"name": "web"}})),
//!     ..Default::default()
//! });
//! let group = created.created.clone().expect("the id of the new group");
//! live.attach("vm-a", &["192.168.0.10".parse().unwrap()], &[group.clone()]).unwrap();
//!
//! let reader = {
//!     let live = Arc::clone(&live);
//!     std::thread::spawn(move || {
//!         let snapshot = live.snapshot(); // a consistent state, never a torn one
//!         let p = Packet::tcp("203.0.113.7".parse().unwrap(), "192.168.0.10".parse().unwrap(), 443);
//!         (snapshot.version(), snapshot.trace(&p).verdict)
//!     })
//! };
//! live.call("CreateSecurityGroupRule", &Request {
//!     body: Some(json!({"security_group_rule": {"security_group_id": group, "direction": "ingress",
//!         "protocol": "tcp", "multiport": "443", "remote_ip_prefix": "0.0.0.0/0"}})),
//!     ..Default::default()
//! });
//! let (version, verdict) = reader.join().unwrap();
//! // Before the rule: deny; after it: allow.
//! assert_eq!(verdict == Verdict::Allow, version == live.version());
//! ```
//!
//! # Membership changes
//!
//! [`Live::attach`] adds an endpoint; [`Live::set_groups`] and [`Live::detach`] change or
//! remove one, through [`Cloud::set_groups`] and [`Cloud::detach`]. The provider's own
//! membership calls (`JoinSecurityGroup`, `AddSecurityGroups`, `UpdatePort`,
//! `AssignSecurityGroup`, ...) go through [`Live::call`] and change the same endpoints, so both
//! kinds mix freely: each one changes the next state, which is published whole.
//!
//! # Batches
//!
//! [`Live::apply`] takes a stream of [`Change`]s (calls and endpoint changes) and publishes
//! once, after the last: readers see the state before the batch until the state after it.
//! Each change that takes effect counts one version, as it would alone, so a version names
//! the state after a prefix of everything the handle was given, whether the changes came
//! one at a time or in batches, and every published state is such a prefix. How stale a
//! reader's state can be is the caller's choice: a batch is published when it ends, so
//! readers lag the writer by at most one batch; [`Live::apply_within`] bounds that lag in
//! time as well, publishing the state reached so far whenever `max_delay` passed.
//!
//! # Engines and states
//!
//! Each snapshot carries a compiled engine. A write neither copies the cloud nor compares
//! whole clouds. The cloud reports what each committed change touched
//! ([`Cloud::take_changes`]: groups, address groups, endpoints), and the writer keeps the
//! last few published states ("spares"): the next state is the newest spare no reader holds
//! any more, brought up to date by copying only what changed since it was current
//! ([`Cloud::sync_from`]) and by handing those changes to
//! [`crate::compile::Engine::refresh`], which recompiles only the tables they can reach and
//! shares the rest. Only when readers still hold every spare does a write copy the current
//! state whole. When the engine cannot
//! be compiled (a table past the compile limits), the snapshot answers with the reference
//! evaluator instead ([`Snapshot::is_compiled`] tells which): slower, never different.
//!
//! Writes stay cheap by leaving classifier builds for later: rules spliced in under
//! overlays, new group lists' small tables answering from overlays alone (see
//! [`crate::compile::Engine::compact`]). [`Live::compact`] does that work off the read path
//! when writes pause and publishes the same state with the compacted engine; the writes
//! after it start from that engine. On the bench cloud after `live_profile ecs rules 1000
//! 100` it rebuilt 8 tables (547,000 instructions) and cut a lookup at `web` from 450 to
//! 348 instructions (ENS 418 to 313, Huawei 381 to 341, Gcore 381 to 341):
//! `LOOKUPS=40 valgrind --tool=callgrind target/release/examples/live_profile ecs rules
//! 1000 100`, then `callgrind_annotate --inclusive=yes` for `lookups_as_left`,
//! `lookups_compacted` and `Live::compact`, divided by the 10,240 lookups.
//!
//! # Builds on a thread of their own
//!
//! Rules added one after another (a group filling up, as `terraform apply` does) grow a
//! table's overlays until the change that passes their limit rebuilds its classifiers: at
//! `web`'s 1,000 Gcore rules, one add in about 30 cost 1.5 million instructions, and the
//! 99th percentile of an add was 222-253 µs. The writer therefore sends each table variant
//! whose overlays reach a few dozen entries (`BUILD_AT` in `compile::table`) to a build
//! thread it starts at the first such change (`sgeval-build`, ended with the handle), and
//! the next publication after the build takes the new classifiers in, under an overlay of
//! the changes made meanwhile (a few entries, compared list against list, 2-3 µs at 1,000
//! rules); overlays may grow to three times their usual limit while a build runs, and past
//! that the change rebuilds as before. The answers are the same either way.
//! [`Stats::builds_taken_in`] counts the builds taken in. `examples/add_latency.rs`
//! measures rules added one after another (see the README for the figures).
//!
//! # Cost
//!
//! A write costs the changes themselves (the provider call's own work), plus,
//! per publication, copying what changed into a spare and refreshing its engine: time in
//! the size of the change, not of the cloud, except for detaching an endpoint in the middle
//! of the list (the later endpoints' keys move) and for a write that finds every spare held
//! (a whole copy, as before). The writer keeps up to four states (the current one and three
//! spares) in memory. Reads cost one atomic load and the evaluation itself.
//!
//! Measured on the bench cloud (`benches/common/live_world.rs`: 1,001 endpoints, a 20-rule
//! group `web` admitting a 1,000-member group) for every provider, with 2 reader threads
//! evaluating throughout. Rule streams: `rules` adds and removes rules of `web` in pairs
//! (ECS and ENS revoke by fields at once; Huawei and Gcore delete by id in the next batch,
//! so `web` holds about half a batch more, steadily), `rule_adds` only adds, up to the
//! provider's rules per group (ECS and ENS 200, Huawei 50, Gcore none documented: 1,000,
//! our choice), the group emptied again untimed whenever full:
//!
//! ```sh
//! SGEVAL_BENCH_QUICK=1 cargo bench --bench live -- sustained   # or `sustained/gcore` etc.
//! cargo build --release --example live_profile   # instructions, which load does not move:
//! valgrind --tool=callgrind target/release/examples/live_profile gcore rules 1000 100
//! ```
//!
//! In instructions per change (`callgrind_annotate --inclusive=yes`: `Live::write` less the
//! setup's write, divided by the changes; the engine's refresh, `live::refresh`, then named
//! `live::refreshed`, in parentheses), one at a time / in batches of 100, before the
//! duplicate print index (e096426^) and after it:
//!
//! | stream | before | after |
//! |---|---|---|
//! | ECS `rules` | 150,000 (34,000) / 103,000 (8,700) | 146,000 / 97,000 |
//! | ENS `rules` | 110,000 (26,000) / 75,000 (8,500) | 106,000 / 70,000 |
//! | Huawei `rules` | 129,000 (57,000) / 142,000 (29,000) | 129,000 / 100,000 |
//! | Gcore `rules` | 163,000 (47,000) / 223,000 (22,000) | 127,000 / 99,000 |
//! | Gcore `rules`, batches of 1,000 (`web` near 1,000 rules) | 1,167,000 (14,500) | 149,000 |
//! | ECS `adds` (with the removals that empty the group) | 457,000 (121,000) / 308,000 (31,000) | 411,000 / 249,000 |
//! | ENS / Huawei `adds`, batches of 100 | 238,000 / 158,000 | 181,000 / 138,000 |
//! | Gcore `adds` (to 1,000 rules) | 2,133,000 (366,000) / 1,540,000 (87,000) | 891,000 / 347,000 |
//!
//! Where the time went before: each rule call's duplicate check scanned the group (ECS
//! and ENS lowered the request once per existing rule; Huawei and Gcore read every rule
//! back into a spec, Gcore hashing them all into a set: 1.5 million instructions per
//! create with `web` near 1,000 rules, which is why `gcore/rules/1000` ran for minutes on a
//! loaded machine), and a rule removal moved every rule of the group into a new list
//! (313,000 per Gcore delete at 1,000 rules). Now the model counts each group's rules by
//! a print of the fields the provider's check compares (`Model::may_hold_print`), so a
//! check scans only on a hit (a real duplicate or, rarely, a hash collision), and a
//! removal takes the rule out in place (still a move of the rules after it: 208,000
//! instructions, mostly `memmove`, per Gcore delete at 1,000 rules). The refresh figures
//! did not move. What is left of a rule call is the front end's
//! parsing and answer (ECS `AuthorizeSecurityGroup` 93,000 instructions, of which
//! parsing the permission about 50,000 and the shown rule 17,000; ENS 52,000; Huawei
//! `CreateSecurityGroupRule` 68,000), the copy into a spare and the engine's refresh,
//! which grows with the table (366,000 per Gcore add at 1,000 rules, one at a time): the
//! engine's write path, not this module's.
//!
//! Front ends cut (2026-12-05, `rules 1000 100`, the same count, f2f12b7 → this change):
//! ECS 101,800 → 82,700 instructions per change, ENS 74,500 → 56,500 (field names
//! written only for errors, `IpProtocol` compared in place, specs matched without copying
//! the description, the shown rule built once with its id, ENS's only for rules created);
//! Huawei 104,700 → 105,300 and Gcore 103,800 → 104,200: the rule id index now keeps each
//! id's groups, so Huawei `DeleteSecurityGroupRule` finds the rule's group by lookup, not
//! by a scan of every group, which on the bench cloud's few groups costs about as much as
//! it saves. What is left of an ECS call: `Params::parse` (12,500 per change: a key
//! written per field, every value copied), the shown rule (18,000 per rule created, mostly
//! `serde_json` map inserts), the call's id seed (`ids::canonical`, about 4,000); Huawei
//! and Gcore: the shown rule (`lower`, 21,000 and 17,000 per rule created) and the
//! engine's refresh (29,000 and 22,000).
//!
//! Gcore's tasks and cheaper front ends (2026-12-05, 08e6981 → this change; a non-LTO
//! build, `CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16`, so not
//! comparable with the figures above): Gcore rule calls ran at half Huawei's rate with the
//! same instructions because every call keeps a task and every state held all of them in a
//! `BTreeMap<String, _>` (a string copy and a cache-cold walk of string compares per state,
//! growing with the cloud's age): `live_profile gcore rules 100000 100` took 3.54 s and 305
//! MB, now 1.53 s and 43 MB (Huawei 1.45 s), the tasks kept typed and shared. The shown
//! rules are built at their final size (`rest::object`), ECS parameters without `format!`
//! per key, and answers and requests (Huawei's created rule, ECS's and Huawei's request
//! writers) take their JSON values moved, not serialized into a copy by `json!`.
//! `Live::write` per change less the setup's, `rules 1000 100` / `adds 1000 100`: ECS
//! 77,500 → 69,100 / 212,300 → 196,000, ENS 51,100 → 46,400 / 146,800 → 137,800, Huawei
//! 100,000 → 89,700 / 137,300 → 118,900, Gcore 98,800 → 81,300 / 346,600 → 312,400 (and
//! outside the write, mostly `Provider::emit` writing the requests, ECS 24,800 → 14,000).
//! What is left: each created rule's shown form (a `serde_json` map of 13 to 17 keys) costs
//! about 10,000 instructions to build and as much again for each copy (the answer's, and
//! the spare's when it is brought up to date): only a shown form shared or written when
//! read removes those. Huawei's and Gcore's refresh (25,000 and 18,000 per change) is the
//! stream's shape, not the hand-over (every provider hands the engine `Update::Group`):
//! their batches delete the last batch's 50 rules and create 50, so each publication
//! changes most of `web`'s ~70 rules and `Table::patched` rebuilds the variant
//! (`Variant::build`, 1.9 million instructions a publication for Huawei), while ECS's and
//! ENS's batches add and revoke each rule within the batch and publish an unchanged table.
//! Wall clock, `SGEVAL_BENCH_QUICK=1` bench binaries of both (non-LTO, `--bench
//! /rules/100`) run in turn, before / after, at load average 4-6 on the shared 2-core
//! machine (so noisy): rule pairs in batches of 100, ECS 19,000-19,700 / 23,100-24,100 per
//! second, ENS 32,900-34,000 / 35,700-36,800, Huawei 14,300-15,200 / 17,000-30,700, Gcore
//! 9,500-10,600 / 16,600-29,100.
//!
//! Rule calls without the scans and copies they did not need (2026-12-05, 711f6a2 → this
//! change; `live_profile <provider> rules 1000 100` under callgrind, `Live::write` less
//! the `none` run's, per change, and the whole run): ECS 65,200 → 47,300 instructions
//! (96.3 → 75.0 million the run), ENS 43,400 → 38,100 (70.4 → 62.0 million), Huawei
//! 85,200 → 81,200 (118.3 → 112.5 million), Gcore 77,400 → 73,700 (103.0 → 97.5 million).
//! ECS `AuthorizeSecurityGroup` scanned every endpoint for the per-NIC rule limit (17,000
//! instructions on the bench cloud): now only when all groups' rules together could pass
//! it. Alibaba parameters live in a sorted vector, not a `BTreeMap` (a 600-byte node per
//! map, two or three maps a call), and `Params::list` moves its keys out at once, each
//! key's allocation reused for its leaf. The model's indexes (rule ids and prints, group
//! ids and names, endpoint names, call seeds) hash with foldhash, not SipHash (9 million
//! instructions of the ECS run). CIDR blocks, port ranges and ids are written without the
//! formatter (`Ipv4Addr`'s `Display` alone cost 1,400 instructions a block), and emitted
//! permissions take their texts moved. What is left of an ECS call: `Params::parse` (5,000,
//! a key and a value copied per field), the shown rule (14,000 per rule created, `serde_json`
//! map inserts hashed with SipHash by `serde_json`'s `preserve_order`), the call's id seed
//! (4,000, FNV over the request's canonical text, fixed so ids stay the same) and the
//! engine's refresh (7,500).
//!
//! Huawei and Gcore rule calls without copies of their shown rules (2026-12-05, a9ed917 →
//! this change; `live_profile <provider> rules 1000 100` under callgrind, the non-LTO build
//! above, `Live::write` less the `none` run's, per change, three runs each): Huawei 82,550
//! → 62,300 instructions, Gcore 75,290 → 51,730, ECS 51,530 → 48,800, ENS 41,300 → 39,540.
//! A rule's shown form is shared ([`crate::Rule::shown`] is an `Arc`), so a spare copies a
//! pointer where it copied a map of 13 to 17 keys (11,000 instructions a rule); shown rules
//! and answers copy a template's keys and table instead of hashing each key with SipHash;
//! paths are matched without lists of segments, their ids borrowed; timestamps, project ids
//! and field names are written without the formatter, or only for an error; duplicate
//! prints hash a rule's fields borrowed, not a spec read back; a body's fields are found by
//! a scan of its keys. What is left, Huawei / Gcore: the engine's refresh (25,000 / 18,700,
//! `compile`), the shown rule (7,300 / 5,800 a rule created) and, for Huawei, its copy in
//! the answer (8,000: the answer is a `Value` of its own), the removal's move of the rules
//! after the one removed (14,800 / 15,000 a delete: callgrind counts `memmove`'s `rep
//! movsb` byte by byte, 160 bytes a `Rule`), the copy into a spare (6,300 / 6,600 a change,
//! mostly the removed rules' shown maps freed and the id and print indexes) and the call's
//! id seed (3,400 / 3,100).
//!
//! The engine's side of the same streams (2026-12-05, merged with the above): a change past
//! a table's overlays builds one variant and derives its other variants from it under an
//! overlay of at most 16 entries (`compile::table`), where every variant was built:
//! `Engine::refresh` in `live_profile huawei rules 1000 100` 24.9 → 15.0 million
//! instructions, Gcore 18.6 → 14.5 million. Wall clock, the bench binaries of a9ed917 and of
//! the merge run in turns, two rounds, load under 2.5 with nothing else running, rule pairs
//! in batches of 100: Huawei 62,000-65,000 → 86,000-92,000 per second, Gcore 34,500-35,100
//! → 55,000-67,000 (ECS 104,000 → 112,000, whose batches publish unchanged tables). The
//! readers paid for it: 41-42 → 29-31 million lookups/s during Huawei's and Gcore's streams
//! (ECS's 59 million in both), as lookups at `web` go through the derived variants'
//! overlays (381 instructions a lookup after `live_profile huawei rules 1000 100`, 341 once
//! [`Live::compact`] ran).
//!
//! State that grows with the cloud's age, shared (2026-12-05, 6193fd7 → this change): Gcore
//! rule calls cost the writer more time than their instructions said because every call
//! keeps a task for good, and every state the writer keeps held all of them (a `Vec` and a
//! hash set each, four ids and an `Arc` allocated per task, every task hashed into every
//! state); every call's content seed was counted the same way in every state
//! (`Model::begin_call`, a map per state and a set of seeds per publication). Both are now
//! one append-only log the states share, each state seeing its own prefix (a state that is
//! not the log's end and goes on continues in a copy of its prefix), so bringing a spare
//! up to date copies a pointer; tasks are kept inline, their ids as numbers. Instructions
//! barely moved (`live_profile <provider> rules 1000 100`, non-LTO bench-profile build,
//! `Live::write` less the `none` run's, per change): Huawei 52,800 → 51,200, Gcore 49,000
//! → 48,600, ECS 47,900 → 46,600, ENS 39,300 → 38,100 (the whole run less `none`, with the
//! requests' writing, Huawei 67,300 → 61,600: its `emit` writes one map with its values
//! in place, not `json!` per field copied into a second map). Time did: one writer alone,
//! `live_profile <provider> rules 300000 100`, user seconds over three runs each, in turns:
//! Gcore 2.77-3.06 → 1.54-1.62 (115 → 86 MB), Huawei 1.82-1.90 → 1.60-1.67 (17.1 → 14.9
//! MB), ECS 1.73-1.76 → 1.66-1.69, ENS 1.35-1.48 → 1.28-1.50. The call log cost 8 bytes a
//! call for good (ECS and ENS, whose bench streams repeat the same calls, 4.7 → 7.0-7.4 MB
//! after 300,000 changes; streams of distinct calls paid 16 bytes a call in each state
//! before); it now forgets the calls no state needs (see `model::Seen`), and `BEHIND`
//! keeps a spare a reader once held from holding them. With 2 readers evaluating
//! (`--bench sustained/<provider>/rules/100`, the two bench binaries in turns): with
//! nothing else running (readers at 28-32 million lookups/s), Huawei 98,600-111,700 →
//! 113,900-124,000 rule calls per second (four runs each), Gcore 76,600-84,200 →
//! 111,000-128,900 (four and five runs); one run of the
//! other batch sizes, one at a time / batches of 1,000: Huawei 35,300 / 65,400 → 34,300 /
//! 79,700, Gcore 30,700 / 37,400 → 34,300 / 73,900. While another job took a core (load
//! average 3.5-4.7, readers at 14-16 million lookups/s, three rounds): Huawei
//! 40,100-46,800 → 51,200-63,800, Gcore 36,900-44,200 → 53,000-74,100. What is left is
//! the front ends' JSON (the shown rule built and copied into the answer, 16 keys each),
//! the engine's refresh (`compile`), the copy of each changed rule into a spare, and
//! `malloc`: glibc's allocator runs about a third of the writer's instructions (every
//! 16-key map is a large-bin request that consolidates the fast bins);
//! `GLIBC_TUNABLES=glibc.malloc.tcache_count=1000` alone takes Huawei's 300,000 changes
//! from 1.64-1.65 to 1.42-1.46 user seconds.
//!
//! Wall clock (`SGEVAL_BENCH_QUICK=1`, the bench binary run with `--bench sustained`) on
//! a 2-core machine shared with other jobs at load average 16-20, so pessimistic by a
//! factor of several (to be measured again on a quiet machine), with 2 readers at 3-19
//! million lookups/s: in batches of 100, `set_groups` 35,000-120,000/s, provider
//! membership calls 7,000-40,000/s, rule pairs 2,700-8,800/s (batches of 1,000: Gcore
//! 3,300/s, done in 2.4 s), add-only rule calls 1,000-4,300/s; rule pairs again at load
//! average 8-10 (readers at 10-23 million lookups/s): ECS 9,900, ENS 17,700, Huawei
//! 10,500, Gcore 4,900 per second in batches of 100. On an idle machine before
//! this change (load under 1.5): membership calls 160,000-326,000/s in batches of 100,
//! rule calls 16,000 (Gcore) to 77,000 (ENS) per second.
//!
//! One change a publication, and rules added to a long group (2026-12-07, a79deb7 →
//! f661797; figures and commands in `PERFORMANCE.md`, section `Live`): an engine keeps the
//! tables of a group list whose last endpoint left, for the next endpoint that takes it
//! (the membership streams compiled and freed them at every publication: ECS membership
//! calls one at a time 51,000 → 19,100 instructions a change); a spare takes a group's
//! changed rules in place, keeping the rest where they are; and the engine's refresh is
//! told which rules changed ([`Changes`] names them), so the other rules are not compared
//! (a Gcore add with `web` growing to 980 rules, one at a time: 522,800 → 294,700).
//!
//! What every publication costs the writer (2026-12-07, 841f488 → this change): the state
//! it writes keeps its spare's `Arc` (a new 1,336-byte snapshot a publication went to
//! glibc's large bins, about 1,400 instructions to allocate and as much to free), and
//! [`Changes`] keeps its few keys inline (its `BTreeSet`s allocated a node each, cloned and
//! merged twice a publication). Instructions a change, one at a time: membership calls
//! 16,500-21,400 → 12,900-17,400, `set_groups` 12,200-12,800 → 8,700-9,200, rule pairs
//! 6-9% fewer (figures in `PERFORMANCE.md`, section `Live`).
//!
//! A spare's engine catches up by taking tables, not by compiling (2026-12-07, 3e947fc →
//! ddf0c10): the spare written next is a publication behind (two while readers hold the
//! newer one), and its engine took in the changes it missed again, so every rule change
//! was spliced twice, once into each engine. It now takes the sets of the group lists
//! those changes reached, and the groups' snapshots, from the current engine
//! (`compile::Engine::adopt`), when they changed groups alone and the two engines number
//! identities alike (a table maps identity numbers to its variants), and when that leaves
//! fewer rules to splice than taking both in together (`fewer_edits`: a rule added, then
//! revoked, before the spare took either in is no edit at all); else it compiles both
//! together as before. Rule calls one at a time, instructions a change: ECS 67,100 →
//! 56,700, ENS 49,300 → 44,000, Huawei 75,100 → 50,600, Gcore 63,300 → 46,200; rules
//! added one at a time 11-32% fewer; batches as before, membership changes about 100 more
//! (figures and wall-clock times in `PERFORMANCE.md`, section `Live`).
//!
//! # With a connection tracker
//!
//! A [`Snapshot`] implements [`Evaluate`], so a simulator steps packets with
//! `tracker.process(snapshot.cloud(), &*snapshot, &packet)` and, after each write,
//! `tracker.rules_changed(new.cloud(), &*new)` ([`crate::conntrack`]).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};

use arc_swap::ArcSwap;

use crate::cloud::{Changes, Cloud, EndpointError, Request, Response};
use crate::compile;
use crate::decision::Decision;
use crate::flow::{self, Evaluate, Flow};
use crate::group::EndpointKey;
use crate::limits::{LimitError, Limits};
use crate::packet::Packet;
use crate::provider::{Options, Provider};
use crate::reference;
use crate::rule::Direction;
use crate::scenario::{Scenario, ScenarioError};

/// An immutable state of the cloud and the engine that answers for it. A clone copies the
/// whole cloud and engine.
#[derive(Clone, Debug)]
pub struct Snapshot {
    version: u64,
    cloud: Cloud,
    /// `None` when the cloud could not be compiled: the reference answers.
    engine: Option<compile::Engine>,
}

impl Snapshot {
    /// The version: 0 for the initial state, then one more for every change published.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The cloud of this state.
    pub fn cloud(&self) -> &Cloud {
        &self.cloud
    }

    /// Whether the compiled engine answers (else the reference evaluator does, because the
    /// cloud is past the compile limits).
    pub fn is_compiled(&self) -> bool {
        self.engine.is_some()
    }

    /// The compiled engine of this state; `None` when the cloud is past the compile limits
    /// and the reference answers.
    pub fn engine(&self) -> Option<&compile::Engine> {
        self.engine.as_ref()
    }

    /// Follows `packet` from its source endpoint's egress to its destination endpoint's
    /// ingress in this state (see [`flow::trace`]).
    pub fn trace(&self, packet: &Packet) -> Flow {
        flow::trace(&self.cloud, self, packet)
    }

    /// The decision of `endpoint`'s groups for `packet` in `direction` in this state, from
    /// the compiled engine or, past the compile limits, the reference evaluator.
    pub fn evaluate(&self, endpoint: EndpointKey, direction: Direction, packet: &Packet) -> Decision {
        match &self.engine {
            Some(engine) => engine.evaluate(endpoint, direction, packet),
            None => reference::Evaluator::new(&self.cloud).evaluate(endpoint, direction, packet),
        }
    }
}

impl Evaluate for Snapshot {
    fn evaluate(&self, endpoint: EndpointKey, direction: Direction, packet: &Packet) -> Decision {
        Snapshot::evaluate(self, endpoint, direction, packet)
    }

    /// The compiled engine's trace (one address lookup each) when it answers.
    fn flow(&self, cloud: &Cloud, packet: &Packet) -> Flow {
        match &self.engine {
            Some(engine) => engine.flow(cloud, packet),
            None => reference::Evaluator::new(&self.cloud).flow(cloud, packet),
        }
    }

    /// The compiled engine's batched trace when it answers.
    fn flow_batch(&self, cloud: &Cloud, packets: &[Packet], out: &mut [Flow]) {
        match &self.engine {
            Some(engine) => engine.flow_batch(cloud, packets, out),
            None => reference::Evaluator::new(&self.cloud).flow_batch(cloud, packets, out),
        }
    }
}

/// `engine` refreshed in place with what `changes` touched since it was compiled for
/// `cloud`, or built afresh (`None` when the cloud cannot be compiled).
// PERF: in place, not moved out of the state and back: the engine lives inline in the
// snapshot, and a move wrote all of its bytes, lines that readers had read while the
// state was current (each then taken back from their core).
fn refresh(engine: &mut Option<compile::Engine>, cloud: &Cloud, changes: &Changes) {
    let Some(e) = engine.as_mut() else {
        *engine = compile::Engine::build(cloud).ok();
        return;
    };
    for update in changes.updates(cloud.endpoints().len()) {
        // The tracking names the rules that changed: the others are not compared.
        let changed = match update {
            compile::Update::Group(g) => changes.rules_of(g),
            _ => None,
        };
        if e.refresh_knowing(cloud, update, changed.as_deref()).is_err() {
            *engine = compile::Engine::build(cloud).ok();
            return;
        }
    }
}

/// What `state`'s engine is to take in: `behind` (the changes between its version and
/// `current`'s, whose cloud `state` held before `changes`, its own) with `changes`; or
/// `changes` alone when the engine took `behind`'s tables from `current`'s engine
/// instead ([`compile::Engine::adopt`]: changes of groups alone, identities numbered
/// alike), which it does when that leaves fewer rules to splice ([`fewer_edits`]).
// PERF: a spare is a publication behind, so its engine spliced every rule change a
// second time (`live_profile huawei rules 4000`: two rule edits a publication where
// one is new).
fn caught_up(state: &mut Snapshot, current: &Snapshot, mut behind: Changes, changes: Changes) -> Changes {
    if let (Some(engine), Some(newer)) = (state.engine.as_mut(), current.engine.as_ref()) {
        // PERF: the cheap tests first (a membership change is never taken from `current`).
        if !behind.is_empty()
            && behind.groups_alone()
            && fewer_edits(engine, newer, &state.cloud, &behind, &changes)
            && engine.adopt(newer, &behind.updates(state.cloud.endpoints().len()))
        {
            return changes;
        }
    }
    behind.merge(changes);
    behind
}

/// Most rules a change may touch for [`fewer_edits`] to weigh adopting: twice what the
/// engine splices into a group's tables at once (past that it compiles them anew).
const SPLICED_AT_MOST: usize = 2 * compile::MAX_SPLICED_RULES;

/// Whether taking `behind` from `newer` leaves `engine` fewer rules to splice than taking
/// `behind` and `changes` in together, `cloud` being the state after both: a rule counts
/// where the engine that starts from it or `cloud` holds it (a rule added, then revoked,
/// before `engine` took either in, counts nowhere). Only a choice of the cheaper path:
/// either answers the same.
fn fewer_edits(
    engine: &compile::Engine,
    newer: &compile::Engine,
    cloud: &Cloud,
    behind: &Changes,
    changes: &Changes,
) -> bool {
    // A batch of more rules than a splice takes is compiled past its overlays either way:
    // taking `behind` first would save nothing (PERF: nor are its rules looked up).
    if changes.rule_count() > SPLICED_AT_MOST {
        return false;
    }
    if behind.any_whole() || changes.any_whole() {
        return true;
    }
    type Rule = (crate::group::GroupKey, crate::key::RuleKey);
    // Not `Group::place_of`, which scans the group for a rule halving did not find
    // (correct for rules out of key order): a weighing may miss such a rule, and most
    // rules looked up here are gone (revoked), so each would cost a scan.
    let in_cloud = |(g, r): Rule| {
        cloud
            .group(g)
            .is_some_and(|group| group.rules.binary_search_by_key(&r, |x| x.key).is_ok())
    };
    let edits = |from: &compile::Engine, rule: Rule| from.holds_rule(rule.0, rule.1) || in_cloud(rule);
    let alone = changes.rules().filter(|&r| edits(newer, r)).count();
    let together = behind
        .rules()
        .filter(|&r| !changes.touched_rule(r))
        .filter(|&r| edits(engine, r))
        .count()
        + changes.rules().filter(|&r| edits(engine, r)).count();
    alone < together
}

/// One change of a [`Live`] cloud, for [`Live::apply`]: what [`Live::call`],
/// [`Live::attach`], [`Live::set_groups`] and [`Live::detach`] do one at a time.
#[derive(Clone, Debug, PartialEq)]
pub enum Change {
    /// A provider call.
    Call {
        /// The API name (`AuthorizeSecurityGroup`, `CreateSecurityGroupRule`, ...).
        api: String,
        /// The request.
        request: Request,
    },
    /// A new endpoint, its groups by provider id in association order.
    Attach {
        /// The endpoint's name.
        name: String,
        /// Its addresses.
        ips: Vec<IpAddr>,
        /// Its groups.
        groups: Vec<String>,
    },
    /// New groups of an endpoint, by provider id in association order.
    SetGroups {
        /// The endpoint's name.
        name: String,
        /// Its groups.
        groups: Vec<String>,
    },
    /// An endpoint removed.
    Detach {
        /// The endpoint's name.
        name: String,
    },
}

impl Change {
    /// A provider call.
    pub fn call(api: &str, request: Request) -> Change {
        Change::Call {
            api: api.to_owned(),
            request,
        }
    }
}

/// What one change of a batch did ([`Live::apply`]).
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// A call's answer, success or error, and the version of the state after it. A call
    /// over the handle's limits is answered without reaching the provider and changes
    /// nothing: its version is the one before it.
    Call {
        /// The answer.
        response: Response,
        /// The version of the state after the call.
        version: u64,
    },
    /// An endpoint change taken in, and the version of the state after it.
    Done {
        /// The version of the state after the change.
        version: u64,
    },
    /// An endpoint change refused: nothing of it took effect, no version counts it.
    Refused(LiveError),
}

/// What a batch did: each change's [`Outcome`] in order, and the version published.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// Each change's outcome, in the order given.
    pub outcomes: Vec<Outcome>,
    /// The version of the state after the whole batch (the current version when nothing
    /// took effect).
    pub version: u64,
}

/// Why a membership change was refused. Nothing was published.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LiveError {
    /// The cloud refused the endpoint.
    #[error(transparent)]
    Endpoint(#[from] EndpointError),
    /// Over the handle's limits.
    #[error(transparent)]
    Limit(#[from] LimitError),
    /// No endpoint has this name.
    #[error("no endpoint is named `{0}`")]
    UnknownEndpoint(String),
}

/// The cloud's refusal, with an unknown name as [`LiveError::UnknownEndpoint`] (as before
/// the cloud could change memberships itself).
fn refused(e: EndpointError) -> LiveError {
    match e {
        EndpointError::UnknownEndpoint(name) => LiveError::UnknownEndpoint(name),
        e => LiveError::Endpoint(e),
    }
}

/// How many earlier states the writer keeps to reuse ([`Writer::spares`]): the newest one no
/// reader holds any more becomes the next state, so a write copies nothing unless readers
/// hold all of them.
const SPARES: usize = 3;

/// How many versions (changes) a spare may fall behind before it is dropped. Writes take
/// the newest spare no reader holds, so one a reader held at a write stays below the newer
/// ones; once free it is taken when half this far behind, brought up to date from the log.
/// One a reader holds for good is dropped here: kept, it would hold the log of changes from
/// its version on, and every state's shared logs (the call counts', Gcore's tasks) from its
/// calls on, growing with every write for good.
///
/// PERF: long enough for a reader descheduled while holding a state (three busy threads
/// on two cores: for milliseconds, hundreds of one-at-a-time writes). At 64 publications
/// such a spare was dropped, and a later write found the spares left held and copied the
/// current state whole, 1.7 million instructions (`sustained/gcore/rules/1`: 334 whole
/// copies in 93,342 writes, a tenth of the writer's work; 3-6 at 1,024 publications). In
/// changes, not publications: at 1,024 publications the states of batches of 100 shared
/// logs of 100,000 calls, and Huawei's and Gcore's rule pairs in batches of 100 ran a fifth
/// slower.
const BEHIND: u64 = 4096;

/// The writer's side of a [`Live`] handle.
#[derive(Debug, Default)]
struct Writer {
    /// Earlier published states, oldest first (their versions ascending, at most
    /// [`SPARES`]). Readers may still hold them; one that no reader holds is brought up to
    /// date by copying what changed since ([`Cloud::sync_from`]) and published as the next
    /// state, instead of a copy of the whole cloud.
    spares: Vec<Arc<Snapshot>>,
    /// What each publication after version `log_floor` changed, with the version it
    /// published, in order.
    log: VecDeque<(u64, Changes)>,
    log_floor: u64,
    /// What the writer did so far ([`Live::stats`]).
    stats: Stats,
    /// Classifier builds on a thread of their own.
    background: Background,
}

/// Results a [`Background`] keeps offering to the states the writer publishes next: a
/// spare that did not take a result in from the state it catches up with takes it itself.
const RECENT: usize = SPARES + 1;

/// The writer's classifier builds, run on a thread of its own ([`compile::Build`]): the
/// rebuild a rule change past an overlay's limit would do, done beforehand, so that a rule
/// change stays a splice under an overlay (rules added one after another to a 1,000-rule
/// group among them).
#[derive(Debug, Default)]
struct Background {
    /// To the build thread, once started.
    jobs: Option<mpsc::Sender<compile::Build>>,
    /// From it: each job's target and its result (`None`: refused by the classifier).
    done: Option<mpsc::Receiver<(compile::Target, Option<compile::Built>)>>,
    /// The build thread could not be started: builds stay where they were, in the changes.
    off: bool,
    /// Targets of the jobs sent and not back: one job per target at a time.
    pending: Vec<compile::Target>,
    /// The latest results, each with how many more publications to offer it to and whether
    /// a state took it in.
    recent: VecDeque<(compile::Built, usize, bool)>,
}

impl Background {
    /// Takes the results back in `engine` (the state about to be published) and sends the
    /// builds its splices called for. Returns how many results a state took in for the
    /// first time.
    fn step(&mut self, engine: &mut compile::Engine) -> u64 {
        if !self.off {
            engine.build_apart();
        }
        if let Some(done) = &self.done {
            while let Ok((target, built)) = done.try_recv() {
                self.pending.retain(|t| *t != target);
                if let Some(built) = built {
                    self.recent.retain(|(b, _, _)| b.target() != built.target());
                    self.recent.push_back((built, RECENT, false));
                }
            }
        }
        let mut first = 0;
        for (built, left, taken) in self.recent.iter_mut() {
            if engine.install(built) && !*taken {
                *taken = true;
                first += 1;
            }
            *left -= 1;
        }
        self.recent.retain(|&(_, left, _)| left > 0);
        let builds = engine.take_builds();
        if self.off {
            return first;
        }
        for build in builds {
            if self.pending.contains(build.target()) {
                continue;
            }
            let target = build.target().clone();
            if self.send(build) {
                self.pending.push(target);
            }
        }
        first
    }

    /// Sends `build` to the build thread (started the first time); `false` when there is
    /// none.
    fn send(&mut self, build: compile::Build) -> bool {
        if self.jobs.is_none() {
            let (jobs, inbox) = mpsc::channel::<compile::Build>();
            let (outbox, done) = mpsc::channel();
            let started = std::thread::Builder::new()
                .name("sgeval-build".into())
                .spawn(move || {
                    // Ends when the handle (its writer, the jobs' sender) is dropped.
                    for build in inbox {
                        if outbox.send((build.target().clone(), build.run())).is_err() {
                            break;
                        }
                    }
                });
            if started.is_err() {
                self.off = true;
                return false;
            }
            (self.jobs, self.done) = (Some(jobs), Some(done));
        }
        self.jobs.as_ref().is_some_and(|j| j.send(build).is_ok())
    }
}

/// What a [`Live`] writer did since the handle was made: how the states it published came
/// about ([`Live::stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// States published (one per write that took effect, or per `max_delay` of
    /// [`Live::apply_within`]), [`Live::compact`]'s included.
    pub publications: u64,
    /// Writes that found every spare state held by readers (or too far behind) and copied
    /// the current state whole: the slow path, in the size of the cloud.
    pub whole_copies: u64,
    /// Classifier builds the writer's build thread ran (for rule changes that grew a
    /// table's overlays, see the [module docs](self#builds-on-a-thread-of-their-own)) that a published
    /// state took in.
    pub builds_taken_in: u64,
}

/// What applying one change to a cloud did.
enum Effect {
    /// A call reached the provider (the call counter moved, whatever the answer).
    Answered(Response),
    /// A call over the handle's limits, answered without reaching the provider.
    Limited(Response),
    /// An endpoint change taken in.
    Done,
    /// An endpoint change refused.
    Refused(LiveError),
}

/// A cloud that many threads evaluate through while one thread at a time changes it.
/// See the [module docs](self).
#[derive(Debug)]
pub struct Live {
    current: ArcSwap<Snapshot>,
    /// Held by the one writer: the state it changes is the current snapshot.
    writer: Mutex<Writer>,
    limits: Limits,
}

impl Live {
    /// An empty cloud of `provider`, with the provider's default [`Limits`].
    pub fn new(provider: Provider, options: Options) -> Live {
        Live::with_limits(provider, options, Limits::for_provider(provider))
    }

    /// An empty cloud of `provider` whose calls and endpoints are held to `limits`.
    pub fn with_limits(provider: Provider, options: Options, limits: Limits) -> Live {
        Live::starting_at(Cloud::new(provider, options), limits)
    }

    /// The state a scenario describes (its calls, `AttachEndpoint`/`DetachEndpoint` among
    /// them, then its endpoints), as version 0.
    ///
    /// # Errors
    /// As [`Scenario::build`].
    pub fn from_scenario(scenario: &Scenario) -> Result<Live, ScenarioError> {
        Ok(Live::starting_at(
            scenario.build()?,
            Limits::for_provider(scenario.provider),
        ))
    }

    fn starting_at(mut cloud: Cloud, limits: Limits) -> Live {
        // The writer learns what each change touched from the cloud itself.
        cloud.track_changes();
        Live {
            limits,
            current: ArcSwap::from_pointee(Snapshot {
                version: 0,
                engine: compile::Engine::build(&cloud).ok(),
                cloud,
            }),
            writer: Mutex::new(Writer::default()),
        }
    }

    /// The current state. Never waits for a writer; the snapshot stays valid (and unchanged)
    /// for as long as it is held.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.current.load_full()
    }

    /// The current version.
    pub fn version(&self) -> u64 {
        self.current.load().version
    }

    /// Follows `packet` in the current state.
    pub fn trace(&self, packet: &Packet) -> Flow {
        self.current.load().trace(packet)
    }

    /// Applies one provider call and publishes the resulting state (also when the call
    /// answers an error: the provider's call counter, which seeds ids, moved on). A request
    /// over the handle's [`Limits`] is refused before it reaches the provider (HTTP 400, see
    /// [`LimitError::response`]) and publishes nothing.
    pub fn call(&self, api: &str, request: &Request) -> Response {
        self.call_versioned(api, request).0
    }

    /// As [`Live::call`], also giving the version published.
    pub fn call_versioned(&self, api: &str, request: &Request) -> (Response, u64) {
        if let Err(e) = crate::limits::check_request(request, &self.limits) {
            let current = self.current.load();
            return (e.response(current.cloud.provider()), current.version);
        }
        // Checked above: the write does not check again.
        let mut applied = self.write(&[Step::Checked(api, request)], None);
        match applied.outcomes.pop() {
            Some(Outcome::Call { response, version }) => (response, version),
            // INVARIANT: one call in, one call's outcome out.
            _ => unreachable!("a call's outcome is an answer"),
        }
    }

    /// Attaches a new endpoint (groups by provider id, in association order) and publishes
    /// the state. Returns the version published.
    ///
    /// # Errors
    /// What [`Cloud::attach`] refuses; nothing is published then.
    pub fn attach(&self, name: &str, ips: &[IpAddr], groups: &[String]) -> Result<u64, LiveError> {
        self.one(Step::Attach(name, ips, groups))
    }

    /// Replaces the groups of endpoint `name` (by provider id, in association order) and
    /// publishes the state. Returns the version.
    ///
    /// # Errors
    /// An unknown endpoint, or groups the cloud refuses ([`Cloud::set_groups`]); nothing is
    /// published then.
    pub fn set_groups(&self, name: &str, groups: &[String]) -> Result<u64, LiveError> {
        self.one(Step::SetGroups(name, groups))
    }

    /// Removes endpoint `name` (later endpoints' keys move down by one) and publishes the
    /// state. Returns the version.
    ///
    /// # Errors
    /// An unknown endpoint; nothing is published then.
    pub fn detach(&self, name: &str) -> Result<u64, LiveError> {
        self.one(Step::Detach(name))
    }

    /// Builds the classifiers that writes left for later ([`compile::Engine::compact`]:
    /// rules spliced in under overlays, new group lists' small tables answering from
    /// overlays alone) and publishes the same state with the compacted engine, so lookups
    /// are again as fast as after a fresh build. Answers and the version do not change.
    /// The work happens off the read path: readers go on evaluating the current state
    /// meanwhile; writers wait for it. Call it when writes pause. Returns how many tables
    /// were rebuilt (0: nothing was left, nothing is published).
    ///
    /// # Errors
    /// The classifier refused a table's entries; nothing is published then.
    pub fn compact(&self) -> Result<usize, compile::BuildError> {
        let mut w = self.lock();
        let current = self.current.load_full();
        let Some(engine) = &current.engine else {
            return Ok(0);
        };
        let mut engine = engine.clone();
        let rebuilt = engine.compact(&current.cloud)?;
        if rebuilt == 0 {
            return Ok(0);
        }
        let (mut next, _) = self.working_state(&mut w, &current);
        Arc::make_mut(&mut next).engine = Some(engine.clone());
        let version = current.version;
        drop(current);
        let old = self.current.swap(next);
        w.stats.publications += 1;
        // Writes start from a spare's engine: an older spare would bring back what was
        // just compacted, so only the replaced state (of this same version) is kept, with
        // the compacted engine, when no reader holds it; else the next write copies the
        // current state whole.
        w.spares.clear();
        w.log.clear();
        w.log_floor = version;
        if let Ok(mut old) = Arc::try_unwrap(old) {
            old.engine = Some(engine);
            w.spares.push(Arc::new(old));
        }
        Ok(rebuilt)
    }

    /// The limits the handle holds calls and endpoints to.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// What the writer did so far: publications, and writes that copied the state whole
    /// because readers held every spare. Waits for a write in progress.
    pub fn stats(&self) -> Stats {
        self.lock().stats
    }

    /// Applies `changes` in order, each as its own method would ([`Live::call`],
    /// [`Live::attach`], ...), and publishes the state after the last one: one publication
    /// for the batch, so readers see the state before the batch until the state after it.
    /// Each change that takes effect counts one version, as it would alone (a refused
    /// endpoint change and a call over the limits count none), so the version published
    /// is the one the same changes made one at a time would reach, with the same state.
    pub fn apply(&self, changes: &[Change]) -> Applied {
        self.apply_within(changes, None)
    }

    /// As [`Live::apply`], but publishing the state reached so far whenever `max_delay`
    /// passed since the last publication while changes remain, so readers never see a
    /// state older than about `max_delay` plus one change while a long batch runs. Every
    /// state published is the state after some prefix of `changes`.
    pub fn apply_within(&self, changes: &[Change], max_delay: Option<std::time::Duration>) -> Applied {
        let steps: Vec<Step<'_>> = changes.iter().map(Change::step).collect();
        self.write(&steps, max_delay)
    }

    /// [`Live::apply_within`] on borrowed changes.
    fn write(&self, changes: &[Step<'_>], max_delay: Option<std::time::Duration>) -> Applied {
        let total = changes.len();
        let mut w = self.lock();
        let mut current = self.current.load_full();
        let (mut next, mut touched) = self.working_state(&mut w, &current);
        let mut outcomes = Vec::with_capacity(total);
        let mut version = current.version;
        let mut since = max_delay.map(|_| std::time::Instant::now());
        for (i, &change) in changes.iter().enumerate() {
            let effect = apply_one(&mut Arc::make_mut(&mut next).cloud, change, &self.limits);
            if matches!(effect, Effect::Answered(_) | Effect::Done) {
                version += 1;
            }
            outcomes.push(match effect {
                Effect::Answered(response) | Effect::Limited(response) => Outcome::Call { response, version },
                Effect::Done => Outcome::Done { version },
                Effect::Refused(e) => Outcome::Refused(e),
            });
            let due = match (since, max_delay) {
                (Some(t), Some(d)) => i + 1 < total && t.elapsed() >= d,
                _ => false,
            };
            if due && version > current.version {
                self.publish(&mut w, next, touched, &current, version);
                current = self.current.load_full();
                (next, touched) = self.working_state(&mut w, &current);
                since = Some(std::time::Instant::now());
            }
        }
        if version > current.version {
            self.publish(&mut w, next, touched, &current, version);
        } else {
            // Nothing took effect: the state is the current one; kept for the next write.
            let state = Arc::make_mut(&mut next);
            let touched = caught_up(state, &current, touched, Changes::default());
            refresh(&mut state.engine, &state.cloud, &touched);
            w.spares.push(next);
            w.trim();
        }
        Applied { outcomes, version }
    }

    /// Applies one endpoint change and publishes it.
    fn one(&self, change: Step<'_>) -> Result<u64, LiveError> {
        let mut applied = self.write(&[change], None);
        match applied.outcomes.pop() {
            Some(Outcome::Done { version }) => Ok(version),
            Some(Outcome::Refused(e)) => Err(e),
            // INVARIANT: one endpoint change in, its outcome out.
            _ => unreachable!("an endpoint change is done or refused"),
        }
    }

    /// The state the writer changes next, at the current version, and what changed since
    /// its engine was compiled: the newest spare no reader holds (or the oldest, once half
    /// [`BEHIND`] versions behind), brought up to date by
    /// copying what changed since its version; else (readers hold every spare) a copy of
    /// the current state. The state comes in its own `Arc` (no reader holds it), so that
    /// [`Arc::make_mut`] changes it in place and it is published as it is.
    ///
    /// PERF: a spare keeps its allocation. A snapshot (1,336 bytes) is past the allocator's
    /// per-thread cache: a new `Arc` a publication cost about 1,400 instructions in glibc's
    /// `malloc` (a consolidation of its small free chunks each time) and as much in `free`.
    fn working_state(&self, w: &mut Writer, current: &Arc<Snapshot>) -> (Arc<Snapshot>, Changes) {
        loop {
            // The newest spare no reader holds; or the oldest free one once it is half way
            // to falling out of the log ([`BEHIND`]), brought up to date while it still can
            // be, so that a spare a reader held for long comes back into use.
            let mut newest = None;
            let mut oldest = None;
            for i in (0..w.spares.len()).rev() {
                if Arc::get_mut(&mut w.spares[i]).is_some() {
                    newest.get_or_insert(i);
                    oldest = Some(i);
                }
            }
            let (Some(mut i), Some(old)) = (newest, oldest) else {
                break;
            };
            if current.version.saturating_sub(w.spares[old].version) > BEHIND / 2 {
                i = old;
            }
            let mut spare = w.spares.remove(i);
            let Some(state) = Arc::get_mut(&mut spare) else {
                // INVARIANT: free just above, and readers reach only the current state.
                w.spares.insert(i, spare);
                break;
            };
            if let Some(changes) = w.since(state.version) {
                state.cloud.sync_from(&current.cloud, &changes);
                state.version = current.version;
                return (spare, changes);
            }
            // The log no longer reaches back to it: dropped.
        }
        w.stats.whole_copies += 1;
        (Arc::new(Snapshot::clone(current)), Changes::default())
    }

    /// Publishes `next` as version `version`, its engine refreshed with what changed since
    /// it was compiled; the state it replaces becomes a spare.
    /// `behind` is what `next`'s engine lacked of `current`, the state `next` was brought up
    /// to before the changes it publishes.
    fn publish(
        &self,
        w: &mut Writer,
        mut next: Arc<Snapshot>,
        behind: Changes,
        current: &Snapshot,
        version: u64,
    ) {
        let state = Arc::make_mut(&mut next);
        let changes = state.cloud.take_changes();
        w.log.push_back((version, changes.clone()));
        let touched = caught_up(state, current, behind, changes);
        refresh(&mut state.engine, &state.cloud, &touched);
        if let Some(engine) = state.engine.as_mut() {
            w.stats.builds_taken_in += w.background.step(engine);
        }
        state.version = version;
        let old = self.current.swap(next);
        w.stats.publications += 1;
        w.spares.push(old);
        w.trim();
    }

    fn lock(&self) -> MutexGuard<'_, Writer> {
        // A writer that panicked published nothing half-done (states are swapped whole), so
        // the current snapshot is still consistent; its spares and log may be behind, so
        // they are dropped.
        match self.writer.lock() {
            Ok(w) => w,
            Err(poisoned) => {
                let mut w = poisoned.into_inner();
                *w = Writer {
                    log_floor: self.current.load().version,
                    stats: w.stats,
                    ..Writer::default()
                };
                self.writer.clear_poison();
                w
            }
        }
    }
}

impl Writer {
    /// What the publications after version `version` changed together; `None` when the log
    /// no longer reaches back to it.
    fn since(&self, version: u64) -> Option<Changes> {
        if version < self.log_floor {
            return None;
        }
        let mut all = Changes::default();
        for (_, changes) in self.log.iter().filter(|(v, _)| *v > version) {
            all.merge(changes.clone());
        }
        Some(all)
    }

    /// Keeps at most [`SPARES`] spares, none more than [`BEHIND`] versions behind,
    /// and the log from the oldest one on.
    fn trim(&mut self) {
        if self.spares.len() > SPARES {
            self.spares.drain(..self.spares.len() - SPARES);
        }
        // Oldest first (versions ascend).
        while let Some(oldest) = self.spares.first().map(|s| s.version) {
            while self.log.front().is_some_and(|(v, _)| *v <= oldest) {
                self.log.pop_front();
            }
            self.log_floor = self.log_floor.max(oldest);
            if self
                .log
                .back()
                .is_none_or(|&(newest, _)| newest.saturating_sub(oldest) <= BEHIND)
            {
                break;
            }
            self.spares.remove(0);
        }
    }
}

/// Applies one change to `cloud`.
fn apply_one(cloud: &mut Cloud, step: Step<'_>, limits: &Limits) -> Effect {
    let endpoint = |r: Result<EndpointKey, EndpointError>| match r {
        Ok(_) => Effect::Done,
        Err(e) => Effect::Refused(refused(e)),
    };
    match step {
        Step::Call(api, request) => match crate::limits::check_request(request, limits) {
            Err(e) => Effect::Limited(e.response(cloud.provider())),
            Ok(()) => Effect::Answered(cloud.call(api, request)),
        },
        Step::Checked(api, request) => Effect::Answered(cloud.call(api, request)),
        Step::Attach(name, ips, groups) => match check_endpoint(limits, ips, groups) {
            Err(e) => Effect::Refused(e),
            Ok(()) => endpoint(cloud.attach(name, ips, groups)),
        },
        Step::SetGroups(name, groups) => match check_endpoint(limits, &[], groups) {
            Err(e) => Effect::Refused(e),
            Ok(()) => endpoint(cloud.set_groups(name, groups)),
        },
        Step::Detach(name) => endpoint(cloud.detach(name)),
    }
}

/// A [`Change`] borrowed, so the single-change methods copy nothing to apply one.
#[derive(Clone, Copy)]
enum Step<'a> {
    Call(&'a str, &'a Request),
    /// A call already found within the limits.
    Checked(&'a str, &'a Request),
    Attach(&'a str, &'a [IpAddr], &'a [String]),
    SetGroups(&'a str, &'a [String]),
    Detach(&'a str),
}

impl Change {
    fn step(&self) -> Step<'_> {
        match self {
            Change::Call { api, request } => Step::Call(api, request),
            Change::Attach { name, ips, groups } => Step::Attach(name, ips, groups),
            Change::SetGroups { name, groups } => Step::SetGroups(name, groups),
            Change::Detach { name } => Step::Detach(name),
        }
    }
}

/// An endpoint's addresses and groups within `limits`.
fn check_endpoint(limits: &Limits, ips: &[IpAddr], groups: &[String]) -> Result<(), LiveError> {
    let over = |what, count: usize, limit: usize| {
        (count > limit).then(|| LimitError::TooMany {
            what,
            field: what.to_owned(),
            count,
            limit,
        })
    };
    match over("ips", ips.len(), limits.max_ips_per_endpoint)
        .or_else(|| over("groups", groups.len(), limits.max_groups_per_endpoint))
    {
        Some(e) => Err(LiveError::Limit(e)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Provider;

    /// A Huawei handle with groups `a` and `b` and an endpoint `vm` in `a`, and a write
    /// that always takes effect: `vm` moved to the other group.
    fn handle() -> (Live, impl Fn(&Live)) {
        let live = Live::new(Provider::Huawei, Default::default());
        let ids: Vec<String> = ["a", "b"]
            .iter()
            .map(|name| {
                let create = Request {
                    body: Some(serde_json::json!({"security_group": {"name": name}})),
                    ..Default::default()
                };
                live.call("CreateSecurityGroup", &create)
                    .created
                    .expect("a group")
            })
            .collect();
        let ip = "10.0.0.1".parse().expect("an address");
        live.attach("vm", &[ip], &ids[..1]).expect("attached");
        let flip = move |live: &Live| {
            let now = live.snapshot();
            let a = now.cloud().group_by_id(&ids[0]).map(|g| g.key);
            let next = usize::from(now.cloud().endpoints()[0].groups.first() == a.as_ref());
            live.set_groups("vm", &ids[next..=next]).expect("moved");
        };
        (live, flip)
    }

    /// A spare a reader holds for good is dropped once [`BEHIND`] versions behind, with
    /// the log of changes it held: the log stays bounded.
    #[test]
    fn a_spare_held_for_good_is_dropped_once_behind() {
        let (live, flip) = handle();
        let held = live.snapshot();
        for _ in 0..2 * BEHIND {
            flip(&live);
        }
        assert_eq!(live.version(), held.version() + 2 * BEHIND);
        let w = live.lock();
        assert!(
            w.log.len() as u64 <= BEHIND,
            "{} publications logged",
            w.log.len()
        );
        let behind = live.version() - w.spares[0].version;
        assert!(behind <= BEHIND, "a spare {behind} versions behind");
    }

    /// A spare a reader held across many writes (readers are descheduled for thousands of
    /// them on a busy machine) is taken again once released, brought up to date from the
    /// log before it falls out: its allocation comes back as a published state, and no
    /// write copies the current state whole for want of a free spare.
    #[test]
    fn a_spare_held_for_long_is_taken_again_once_released() {
        let (live, flip) = handle();
        let held = live.snapshot();
        let at = Arc::as_ptr(&held);
        for _ in 0..100 {
            flip(&live);
        }
        // The first writes filled the handle's spares by whole copies; none after.
        let copies = live.stats().whole_copies;
        drop(held);
        let mut back = None;
        for i in 0..BEHIND {
            flip(&live);
            if Arc::as_ptr(&live.snapshot()) == at {
                back = Some(i);
                break;
            }
        }
        let back = back.expect("the released spare published again");
        assert_eq!(live.stats().whole_copies, copies);
        assert!(
            back + 100 >= BEHIND / 2,
            "taken after {back} writes, while newer spares were free"
        );
        // It holds the state it was brought to: that of a handle no reader held.
        let (twin, flip_twin) = handle();
        for _ in 0..100 + back + 1 {
            flip_twin(&twin);
        }
        let (now, then) = (live.snapshot(), twin.snapshot());
        assert_eq!(now.version(), then.version());
        assert_eq!(now.cloud().endpoints(), then.cloud().endpoints());
    }

    /// A write that finds every spare held copies the current state whole, and says so.
    #[test]
    fn a_write_with_every_spare_held_copies_the_state_whole() {
        let (live, flip) = handle();
        let before = live.stats();
        let mut held = Vec::new();
        for _ in 0..=SPARES {
            held.push(live.snapshot());
            flip(&live);
        }
        let after = live.stats();
        assert_eq!(after.publications, before.publications + SPARES as u64 + 1);
        // The first write took the spare the handle's making left; each later one found
        // every spare held.
        assert_eq!(after.whole_copies - before.whole_copies, SPARES as u64);
        drop(held);
        flip(&live);
        assert_eq!(live.stats().whole_copies, after.whole_copies);
    }
}
