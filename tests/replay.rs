//! `sgeval replay` and `sgeval::replay`: hand-checked counts on the fixtures of
//! `tests/fixtures/flowlogs/` (see its README), errors naming file and line, agreement on
//! records made from the reference evaluator's own verdicts, connection state, merging, and
//! the Arrow and Parquet paths.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int64Array, RecordBatch, StringArray};
use serde_json::Value;
use sgeval::replay::batch::evaluate_record_batch;
use sgeval::replay::{ColumnMap, FlowRecord, Logged, Options, Replayer, Row};
use sgeval::{reference, Cloud, Direction, Packet, Protocol, Scenario};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/flowlogs")
        .join(name)
}

fn sgeval(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_sgeval"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn replay_json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["replay", "--json"];
    all.extend_from_slice(args);
    let (code, out, err) = sgeval(&all);
    let v = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} {err}"));
    (code, v)
}

fn path(name: &str) -> String {
    fixture(name).display().to_string()
}

fn cloud(name: &str) -> Cloud {
    let text = std::fs::read_to_string(fixture(name)).unwrap();
    Scenario::from_json(&text).unwrap().build().unwrap()
}

fn counts(v: &Value, keys: &[&str]) -> Vec<u64> {
    keys.iter()
        .map(|k| v[*k].as_u64().unwrap_or_else(|| panic!("`{k}` in {v}")))
        .collect()
}

const KEYS: [&str; 7] = [
    "records",
    "agreements",
    "disagreements",
    "unplaced",
    "nodata",
    "skipdata",
    "established",
];

#[test]
fn alibaba_csv_counts_are_the_hand_checked_ones() {
    let (code, v) = replay_json(&[&path("alibaba-scenario.json"), &path("alibaba.csv")]);
    assert_eq!(code, 0);
    assert_eq!(counts(&v, &KEYS), [13, 11, 1, 1, 1, 1, 1]);
    let groups = v["disagreement_groups"].as_array().unwrap();
    assert_eq!(groups.len(), 1);
    let g = &groups[0];
    assert_eq!(g["endpoint"], "eni-bp1web00000000000001");
    assert_eq!(g["direction"], "ingress");
    assert_eq!(
        (g["src"].as_str(), g["dst"].as_str()),
        (Some("198.51.100.9"), Some("10.0.1.10"))
    );
    assert_eq!(
        (g["protocol"].as_str(), g["port"].as_u64()),
        (Some("tcp"), Some(22))
    );
    assert_eq!(g["logged"], "ACCEPT");
    assert_eq!(g["decision"]["verdict"], "deny");
    assert_eq!(g["decision"]["rule"], "default:ecs_basic_ingress");
    assert_eq!(
        (g["records"].as_u64(), g["packets"].as_u64(), g["bytes"].as_u64()),
        (Some(1), Some(4), Some(240))
    );
    let unplaced = v["unplaced_groups"].as_array().unwrap();
    assert_eq!(unplaced.len(), 1);
    assert_eq!(unplaced[0]["interface"], "eni-bp1zzz000000000000009");
    assert_eq!(unplaced[0]["reason"], "no_endpoint");
    assert!(v.get("changed").is_none(), "`changed` only with --against");
}

#[test]
fn alibaba_json_lines_give_the_same_report_as_csv() {
    let scenario = path("alibaba-scenario.json");
    let (_, csv) = replay_json(&[&scenario, &path("alibaba.csv")]);
    let (_, json) = replay_json(&[&scenario, &path("alibaba.jsonl")]);
    assert_eq!(csv, json);
    // Forcing the format gives the same too.
    let (_, forced) = replay_json(&[&scenario, &path("alibaba.jsonl"), "--format", "alibaba-json"]);
    assert_eq!(forced, json);
}

#[test]
fn huawei_counts_infer_the_direction_from_the_interface() {
    let (code, v) = replay_json(&[&path("huawei-scenario.json"), &path("huawei.log")]);
    assert_eq!(code, 0);
    assert_eq!(counts(&v, &KEYS), [8, 6, 1, 1, 1, 1, 1]);
    let g = &v["disagreement_groups"][0];
    assert_eq!(g["endpoint"], "4b3c6a5e-2f1d-4c8b-9a7e-0d1f2e3c4b5a");
    assert_eq!(
        (g["direction"].as_str(), g["port"].as_u64()),
        (Some("ingress"), Some(3389))
    );
    assert_eq!(g["decision"]["rule"], "default:no_match");
    assert_eq!(v["unplaced_groups"][0]["reason"], "interface_owns_neither");
}

#[test]
fn against_a_change_lists_what_breaks_and_exits_3() {
    let (code, v) = replay_json(&[
        &path("alibaba-scenario.json"),
        &path("alibaba.csv"),
        "--against",
        &path("alibaba-scenario-new.json"),
    ]);
    assert_eq!(code, 3);
    assert_eq!(
        counts(&v, &["changed", "broken", "records", "agreements"]),
        [3, 3, 13, 11]
    );
    let changes = v["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 3);
    let mut seen: Vec<(String, u64, String, String)> = changes
        .iter()
        .map(|c| {
            assert_eq!(c["breaks"], true);
            assert_eq!(c["before"]["verdict"], "allow");
            assert_eq!(c["after"]["verdict"], "deny");
            (
                c["src"].as_str().unwrap().to_owned(),
                c["port"].as_u64().unwrap(),
                c["before"]["rule"]
                    .as_str()
                    .unwrap()
                    .split(':')
                    .next()
                    .unwrap()
                    .to_owned(),
                c["after"]["rule"]
                    .as_str()
                    .unwrap()
                    .split(':')
                    .next()
                    .unwrap()
                    .to_owned(),
            )
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (
                "10.0.1.10".to_owned(),
                40000,
                "established".to_owned(),
                "rule".to_owned()
            ),
            (
                "2001:db8:ffff::1".to_owned(),
                443,
                "rule".to_owned(),
                "default".to_owned()
            ),
            (
                "203.0.113.7".to_owned(),
                443,
                "rule".to_owned(),
                "default".to_owned()
            ),
        ]
    );
    // Against itself nothing changes and the gate passes.
    let (code, v) = replay_json(&[
        &path("alibaba-scenario.json"),
        &path("alibaba.csv"),
        "--against",
        &path("alibaba-scenario.json"),
    ]);
    assert_eq!(code, 0);
    assert_eq!(counts(&v, &["changed", "broken"]), [0, 0]);
}

#[test]
fn a_malformed_row_is_an_error_naming_file_and_line_unless_skipped() {
    let (code, out, err) = sgeval(&["replay", &path("alibaba-scenario.json"), &path("alibaba-bad.csv")]);
    assert_eq!(code, 2, "{out}");
    assert!(
        err.contains("alibaba-bad.csv:3: field `srcaddr` = `192.0.2.300`"),
        "{err}"
    );
    let (code, v) = replay_json(&[
        &path("alibaba-scenario.json"),
        &path("alibaba-bad.csv"),
        "--skip-bad",
    ]);
    assert_eq!(code, 0);
    assert_eq!(counts(&v, &["skipped", "records", "agreements"]), [3, 3, 3]);
    let lines: Vec<u64> = v["bad_rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [3, 5, 6]);
    assert!(v["bad_rows"][2]["error"]
        .as_str()
        .unwrap()
        .contains("`dstport` = `70000`"));

    let (code, _, err) = sgeval(&["replay", &path("huawei-scenario.json"), &path("huawei-bad.log")]);
    assert_eq!(code, 2);
    assert!(
        err.contains("huawei-bad.log:2:") && err.contains("found 13"),
        "{err}"
    );
    let (_, v) = replay_json(&[
        &path("huawei-scenario.json"),
        &path("huawei-bad.log"),
        "--skip-bad",
    ]);
    assert_eq!(counts(&v, &["skipped", "records"]), [2, 2]);
    assert!(v["bad_rows"][1]["error"]
        .as_str()
        .unwrap()
        .contains("`protocol` = `tcp`"));
}

#[test]
fn threads_do_not_change_the_report() {
    let scenario = path("alibaba-scenario.json");
    let logs = [path("alibaba.csv"), path("alibaba.jsonl"), path("alibaba.csv")];
    let run = |threads: &str| {
        let mut args = vec![scenario.as_str()];
        args.extend(logs.iter().map(String::as_str));
        args.extend(["--threads", threads]);
        replay_json(&args).1
    };
    let one = run("1");
    assert_eq!(
        counts(&one, &["records", "disagreements", "established"]),
        [39, 3, 3]
    );
    assert_eq!(one["disagreement_groups"][0]["records"], 3);
    assert_eq!(one, run("3"));
}

#[test]
fn parquet_with_a_column_map_gives_the_csv_report() {
    // The CSV fixture's rows as a Parquet file with other column names and integer ports.
    let text = std::fs::read_to_string(fixture("alibaba.csv")).unwrap();
    let mut rows = text.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let rows: Vec<Vec<&str>> = rows.map(|l| l.split(',').collect()).collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let strings = |name: &str| -> ArrayRef {
        let i = col(name);
        Arc::new(StringArray::from(
            rows.iter()
                .map(|r| Some(r[i]).filter(|s| !s.is_empty()))
                .collect::<Vec<_>>(),
        ))
    };
    let ints = |name: &str| -> ArrayRef {
        let i = col(name);
        Arc::new(Int64Array::from(
            rows.iter().map(|r| r[i].parse::<i64>().ok()).collect::<Vec<_>>(),
        ))
    };
    let batch = RecordBatch::try_from_iter([
        ("nic", strings("eni-id")),
        ("source_ip", strings("srcaddr")),
        ("dest_ip", strings("dstaddr")),
        ("srcport", ints("srcport")),
        ("dstport", ints("dstport")),
        ("protocol", ints("protocol")),
        ("direction", strings("direction")),
        ("packets", ints("packets")),
        ("bytes", ints("bytes")),
        ("start", ints("start")),
        ("end", ints("end")),
        ("action", strings("action")),
        ("log-status", strings("log-status")),
    ])
    .unwrap();
    let dir = std::env::temp_dir().join(format!("sgeval-replay-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("flows.parquet");
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(4))
        .build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&file).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let scenario = path("alibaba-scenario.json");
    let map = "interface=nic,src=source_ip,dst=dest_ip";
    let (code, parquet) = replay_json(&[
        &scenario,
        file.to_str().unwrap(),
        "--columns",
        map,
        "--threads",
        "2",
    ]);
    assert_eq!(code, 0);
    let (_, csv) = replay_json(&[&scenario, &path("alibaba.csv")]);
    assert_eq!(parquet, csv);
    // Dictionary-encoded string columns (the writer's default above, read as Arrow
    // dictionaries) and plain ones give the same report.
    let plain_file = dir.join("flows-plain.parquet");
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(4))
        .set_dictionary_enabled(false)
        .build();
    let mut writer = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(&plain_file).unwrap(),
        batch.schema(),
        Some(props),
    )
    .unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    let (code, plain) = replay_json(&[&scenario, plain_file.to_str().unwrap(), "--columns", map]);
    assert_eq!(code, 0);
    assert_eq!(plain, csv);
    // Without the map the error names the missing column and how to map it.
    let (code, _, err) = sgeval(&["replay", &scenario, file.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no column `srcaddr` for field `src`") && err.contains("--columns src=NAME"),
        "{err}"
    );

    // The Arrow entry point: per-row columns beside the same counts.
    let base = cloud("alibaba-scenario.json");
    let replayer = Replayer::new(&base, None, Options::default()).unwrap();
    let mut acc = replayer.accumulator();
    let map = ColumnMap::parse(map).unwrap();
    let out = evaluate_record_batch(&replayer, &batch, &map, &mut acc, false).unwrap();
    assert_eq!(out.num_rows(), batch.num_rows());
    let column = |name: &str| -> Vec<Option<String>> {
        let a = out
            .column_by_name(name)
            .unwrap()
            .as_any()
            .downcast_ref::<StringArray>()
            .unwrap();
        a.iter().map(|v| v.map(str::to_owned)).collect()
    };
    let status = column("sgeval_status");
    assert_eq!(status[0].as_deref(), Some("judged"));
    assert_eq!(
        status[1].as_deref(),
        Some("pending"),
        "the reply waits for the state check"
    );
    assert_eq!(status[8].as_deref(), Some("nodata"));
    assert_eq!(status[9].as_deref(), Some("skipdata"));
    assert_eq!(status[12].as_deref(), Some("unplaced:no_endpoint"));
    assert_eq!(column("sgeval_verdict")[4].as_deref(), Some("deny"));
    assert_eq!(
        column("sgeval_rule")[4].as_deref(),
        Some("default:ecs_basic_ingress")
    );
    let report = acc.finish(&replayer);
    assert_eq!(report.to_json(&replayer), csv);
}

/// Deterministic pseudo-random numbers (xorshift), so the test is the same every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[(self.next() % items.len() as u64) as usize]
    }
}

/// Records at every endpoint of `cloud`, each logged with the reference evaluator's own
/// verdict for it as a new connection, windows far apart so none is a reply of another.
fn reference_records(cloud: &Cloud, n: usize, seed: u64) -> Vec<(String, FlowRecord<'static>)> {
    let reference = reference::Evaluator::new(cloud);
    let mut rng = Rng(seed);
    let outside: [IpAddr; 4] = [
        "203.0.113.9".parse().unwrap(),
        "192.0.2.77".parse().unwrap(),
        "2001:db8:ffff::9".parse().unwrap(),
        "10.0.2.99".parse().unwrap(),
    ];
    let mut out = Vec::new();
    while out.len() < n {
        let key = *rng.pick(&cloud.endpoint_keys().collect::<Vec<_>>());
        let ep = cloud.endpoint(key).unwrap();
        let own = *rng.pick(&ep.ips);
        let others: Vec<IpAddr> = cloud
            .endpoints()
            .iter()
            .flat_map(|e| e.ips.iter().copied())
            .chain(outside)
            .filter(|a| a.is_ipv4() == own.is_ipv4() && *a != own)
            .collect();
        if others.is_empty() {
            continue;
        }
        let other = *rng.pick(&others);
        let direction = *rng.pick(&Direction::ALL);
        let protocol = *rng.pick(&[6u8, 6, 17, if own.is_ipv4() { 1 } else { 58 }, 47]);
        let (src, dst) = match direction {
            Direction::Ingress => (other, own),
            Direction::Egress => (own, other),
        };
        let mut packet = Packet::new(src, dst, protocol);
        if Protocol(protocol).has_ports() {
            packet.src_port = 1024 + (rng.next() % 60000) as u16;
            packet.dst_port = *rng.pick(&[22u16, 53, 80, 443, 3389, 5432, 8080, 8443]);
        } else if Protocol(protocol).is_icmp() {
            packet.icmp_type = if protocol == 1 { 8 } else { 128 };
        }
        let verdict = reference.evaluate_hop(key, direction, &packet);
        let i = out.len() as u64;
        out.push((
            ep.name.clone(),
            FlowRecord {
                interface: None,
                src,
                dst,
                src_port: packet.src_port,
                dst_port: packet.dst_port,
                protocol,
                direction: Some(direction),
                packets: 1 + i % 7,
                bytes: 60 * (1 + i % 7),
                start: i * 1_000_000,
                end: i * 1_000_000 + 60,
                action: if verdict { Logged::Accept } else { Logged::Reject },
            },
        ));
    }
    out
}

trait Hop {
    fn evaluate_hop(&self, endpoint: sgeval::EndpointKey, direction: Direction, packet: &Packet) -> bool;
}

impl Hop for reference::Evaluator<'_> {
    fn evaluate_hop(&self, endpoint: sgeval::EndpointKey, direction: Direction, packet: &Packet) -> bool {
        self.evaluate(endpoint, direction, packet).is_allow()
    }
}

#[test]
fn records_logged_with_the_reference_verdicts_agree_fully_and_a_flip_disagrees() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for (i, name) in [
        "ecs-web-db.json",
        "huawei-app.json",
        "gcore-bastion.json",
        "ens-edge.json",
        "reach-shop.json",
    ]
    .into_iter()
    .enumerate()
    {
        let text = std::fs::read_to_string(examples.join(name)).unwrap();
        let cloud = Scenario::from_json(&text).unwrap().build().unwrap();
        let replayer = Replayer::new(&cloud, None, Options::default()).unwrap();
        let records = reference_records(&cloud, 2000, 0x9e37_79b9_7f4a_7c15 + i as u64);
        let judge = |records: &[(String, FlowRecord<'static>)]| {
            let mut acc = replayer.accumulator();
            for (name, r) in records {
                let r = FlowRecord {
                    interface: Some(name.as_str()),
                    ..*r
                };
                replayer.judge(&Row::Flow(r), &mut acc);
            }
            acc.finish(&replayer)
        };
        let report = judge(&records);
        let c = report.counts;
        assert_eq!(c.records, 2000, "{name}");
        assert_eq!(c.unplaced, 0, "{name}");
        assert_eq!(c.disagreements, 0, "{name}: {:?}", report.disagreements.first());
        assert_eq!(c.agreements + c.undetermined, 2000, "{name}");
        assert!(c.agreements > 1500, "{name}: {c:?}");
        // Flip one judged record's action: exactly that record disagrees.
        let mut flipped = records.clone();
        let at = (0..flipped.len())
            .find(|&k| !Protocol(flipped[k].1.protocol).is_icmp())
            .unwrap();
        flipped[at].1.action = match flipped[at].1.action {
            Logged::Accept => Logged::Reject,
            Logged::Reject => Logged::Accept,
        };
        let report = judge(&flipped);
        assert_eq!(report.counts.disagreements, 1, "{name}");
        let (group, tally) = &report.disagreements[0];
        assert_eq!(
            (group.traffic.src, group.traffic.dst),
            (flipped[at].1.src, flipped[at].1.dst)
        );
        assert_eq!(group.traffic.logged, flipped[at].1.action);
        assert_eq!(tally.records, 1);
    }
}

/// One Alibaba record at `web` of the fixture scenario.
fn web(
    src: &str,
    sport: u16,
    dst: &str,
    dport: u16,
    direction: Direction,
    start: u64,
) -> FlowRecord<'static> {
    FlowRecord {
        interface: Some("eni-bp1web00000000000001"),
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        src_port: sport,
        dst_port: dport,
        protocol: 6,
        direction: Some(direction),
        packets: 1,
        bytes: 60,
        start,
        end: start + 60,
        action: Logged::Accept,
    }
}

#[test]
fn a_reply_is_established_only_within_the_connection_lifetime_and_merging_keeps_it() {
    let base = cloud("alibaba-scenario.json");
    let replayer = Replayer::new(&base, None, Options::default()).unwrap();
    let opener = web("203.0.113.7", 40000, "10.0.1.10", 443, Direction::Ingress, 1000);
    // ECS keeps a session 910 s: a reply starting 900 s after the opener's end is
    // established, one 1000 s after is not.
    for (start, established) in [(1000, true), (1960, true), (2100, false)] {
        let reply = web("10.0.1.10", 443, "203.0.113.7", 40000, Direction::Egress, start);
        let mut acc = replayer.accumulator();
        replayer.judge(&Row::Flow(reply), &mut acc);
        replayer.judge(&Row::Flow(opener), &mut acc);
        let c = acc.finish(&replayer).counts;
        assert_eq!(c.established, u64::from(established), "reply at {start}");
        assert_eq!(c.disagreements, u64::from(!established), "reply at {start}");
    }
    // A reply to another port is no reply.
    let mut acc = replayer.accumulator();
    replayer.judge(&Row::Flow(opener), &mut acc);
    replayer.judge(
        &Row::Flow(web(
            "10.0.1.10",
            443,
            "203.0.113.7",
            40001,
            Direction::Egress,
            1000,
        )),
        &mut acc,
    );
    assert_eq!(acc.finish(&replayer).counts.established, 0);
    // Opener and reply in different accumulators (threads, partitions), one of them sent
    // through JSON: merged, the reply is established.
    let mut a = replayer.accumulator();
    let mut b = replayer.accumulator();
    replayer.judge(&Row::Flow(opener), &mut a);
    replayer.judge(
        &Row::Flow(web(
            "10.0.1.10",
            443,
            "203.0.113.7",
            40000,
            Direction::Egress,
            1000,
        )),
        &mut b,
    );
    let mut a = sgeval::replay::Accumulator::from_json(&a.to_json()).unwrap();
    a.merge(b);
    let report = a.finish(&replayer);
    assert_eq!(
        (
            report.counts.established,
            report.counts.agreements,
            report.counts.disagreements
        ),
        (1, 2, 0)
    );
}

#[test]
fn icmp_records_are_undetermined_where_rules_filter_icmp_types() {
    let scenario = r#"{"provider": "gcore", "calls": [
        {"api": "CreateSecurityGroup", "ref": "g", "body": {"name": "g", "rules": [
          {"direction": "ingress", "ethertype": "IPv4", "protocol": "icmp", "port_range_min": 8,
           "remote_ip_prefix": "0.0.0.0/0"}]}},
        {"api": "CreateSecurityGroup", "ref": "h", "body": {"name": "h", "rules": [
          {"direction": "ingress", "ethertype": "IPv4", "protocol": "icmp", "remote_ip_prefix": "0.0.0.0/0"}]}}],
      "endpoints": [{"name": "typed", "ips": ["10.0.0.1"], "groups": ["$g"]},
                    {"name": "any", "ips": ["10.0.0.2"], "groups": ["$h"]}]}"#;
    let cloud = Scenario::from_json(scenario).unwrap().build().unwrap();
    let replayer = Replayer::new(&cloud, None, Options::default()).unwrap();
    let mut acc = replayer.accumulator();
    for dst in ["10.0.0.1", "10.0.0.2"] {
        let r = FlowRecord {
            interface: None,
            src: "203.0.113.1".parse().unwrap(),
            dst: dst.parse().unwrap(),
            src_port: 0,
            dst_port: 0,
            protocol: 1,
            direction: Some(Direction::Ingress),
            packets: 1,
            bytes: 84,
            start: 0,
            end: 60,
            action: Logged::Accept,
        };
        replayer.judge(&Row::Flow(r), &mut acc);
    }
    let report = acc.finish(&replayer);
    assert_eq!((report.counts.undetermined, report.counts.agreements), (1, 1));
    assert_eq!(
        report.undetermined[0].0.dst,
        "10.0.0.1".parse::<IpAddr>().unwrap()
    );
}

/// However a Parquet file stores its strings, the report is the CSV's: addresses in pages
/// that are all dictionary-encoded (read as Arrow dictionaries), in plain pages, and in
/// column chunks whose dictionary overflowed into plain pages (read as string views, with
/// the per-batch cache of repeated views), over IPv4 and IPv6 addresses of every length,
/// status rows, and malformed rows counted with `--skip-bad` (and named without it).
#[test]
fn parquet_string_encodings_give_the_csv_report() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let text = std::fs::read_to_string(examples.join("ecs-web-db.json")).unwrap();
    let cloud = Scenario::from_json(&text).unwrap().build().unwrap();
    let records = reference_records(&cloud, 3000, 0x5eed);
    let dir = std::env::temp_dir().join(format!("sgeval-replay-enc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scenario = dir.join("scenario.json");
    std::fs::write(&scenario, &text).unwrap();
    // Rows as text: the records, a status row and two malformed addresses among them.
    let mut rows: Vec<[String; 13]> = records
        .iter()
        .map(|(eni, r)| {
            [
                eni.clone(),
                r.src.to_string(),
                r.dst.to_string(),
                r.src_port.to_string(),
                r.dst_port.to_string(),
                r.protocol.to_string(),
                if r.direction == Some(Direction::Ingress) {
                    "in"
                } else {
                    "out"
                }
                .to_owned(),
                r.packets.to_string(),
                r.bytes.to_string(),
                r.start.to_string(),
                r.end.to_string(),
                r.action.to_string(),
                "OK".to_owned(),
            ]
        })
        .collect();
    rows[700][1] = "10.0.1.300".to_owned();
    rows[2100][2] = "2001:db8::zz".to_owned();
    // A NODATA row: no addresses, ports or protocol.
    for v in rows[1500].iter_mut().skip(1).take(5) {
        *v = "-".to_owned();
    }
    rows[1500][12] = "NODATA".to_owned();
    let header = [
        "eni-id",
        "srcaddr",
        "dstaddr",
        "srcport",
        "dstport",
        "protocol",
        "direction",
        "packets",
        "bytes",
        "start",
        "end",
        "action",
        "log-status",
    ];
    let csv = dir.join("flows.csv");
    let mut body = header.join(",") + "\n";
    for r in &rows {
        body += &r.join(",");
        body += "\n";
    }
    std::fs::write(&csv, body).unwrap();
    let batch = RecordBatch::try_from_iter(header.iter().enumerate().map(|(i, name)| {
        let values: Vec<&str> = rows.iter().map(|r| r[i].as_str()).collect();
        (*name, Arc::new(StringArray::from(values)) as ArrayRef)
    }))
    .unwrap();
    let write = |name: &str, props: parquet::file::properties::WriterProperties| {
        let file = dir.join(name);
        let mut w = parquet::arrow::ArrowWriter::try_new(
            std::fs::File::create(&file).unwrap(),
            batch.schema(),
            Some(props),
        )
        .unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        file.display().to_string()
    };
    let props = parquet::file::properties::WriterProperties::builder;
    let files = [
        // Few rows per group: every page of a chunk dictionary-encoded.
        write(
            "dict.parquet",
            props().set_max_row_group_row_count(Some(500)).build(),
        ),
        write("plain.parquet", props().set_dictionary_enabled(false).build()),
        // A dictionary page too small for the addresses: it overflows into plain pages.
        write(
            "mixed.parquet",
            props()
                .set_dictionary_page_size_limit(64)
                .set_data_page_row_count_limit(100)
                .set_write_batch_size(100)
                .build(),
        ),
    ];
    // The files store `srcaddr` (column 1) as intended: the data pages of each chunk all
    // dictionary-encoded, none, or some of each.
    let pages = |file: &str| {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let reader = SerializedFileReader::new(std::fs::File::open(file).unwrap()).unwrap();
        let stats = reader
            .metadata()
            .row_group(0)
            .column(1)
            .page_encoding_stats_mask()
            .copied();
        let stats = stats.unwrap();
        (
            stats.is_set(parquet::basic::Encoding::RLE_DICTIONARY),
            stats.is_set(parquet::basic::Encoding::PLAIN),
        )
    };
    assert_eq!(pages(&files[0]), (true, false));
    assert_eq!(pages(&files[1]), (false, true));
    assert_eq!(pages(&files[2]), (true, true));
    let scenario = scenario.display().to_string();
    let (code, want) = replay_json(&[&scenario, &csv.display().to_string(), "--skip-bad"]);
    assert_eq!(code, 0);
    assert_eq!(want["skipped"], 2, "{want}");
    assert_eq!(want["nodata"], 1, "{want}");
    assert_eq!(want["records"], 2997, "{want}");
    for file in &files {
        for threads in ["1", "2"] {
            let (code, got) = replay_json(&[&scenario, file, "--skip-bad", "--threads", threads]);
            assert_eq!(code, 0, "{file}");
            // Malformed rows are named by line in CSV (header first) and by row in Parquet.
            let mut got = got;
            let mut want = want.clone();
            got["bad_rows"] = Value::Null;
            want["bad_rows"] = Value::Null;
            assert_eq!(got, want, "{file} with {threads} threads");
        }
        let (code, _, err) = sgeval(&["replay", &scenario, file]);
        assert_eq!(code, 2, "{file}");
        assert!(
            err.contains(":701: field `srcaddr` = `10.0.1.300`: expected an IPv4 or IPv6 address"),
            "{file}: {err}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}
