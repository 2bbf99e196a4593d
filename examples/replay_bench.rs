//! Writes the inputs of the `sgeval replay` benchmark (README, "Replaying flow logs"):
//! an ECS scenario whose every NIC carries 1,000 rules, and the same flow-log records as
//! Alibaba CSV and as Parquet, logged with the compiled engine's own verdicts.
//!
//! The Parquet file is written as Log Service ships flow logs to OSS (its "Parquet format"
//! page): snappy, Alibaba's field names as columns, strings as STRING and numbers in the
//! types it offers (INT32 ports and protocol, INT64 counters and times), with the writer's
//! default dictionary encoding (a column's dictionary page up to 1 MiB, then plain pages:
//! the remote addresses, random over the IPv4 space, overflow it), row groups of 2^20 rows.
//!
//! ```sh
//! cargo run --release --all-features --example replay_bench -- /tmp/sgeval-replay-bench 5000000
//! ```

use std::io::{BufWriter, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::sync::Arc;

use arrow_array::{ArrayRef, Int32Array, Int64Array, RecordBatch, StringArray};
use serde_json::json;
use sgeval::compile::Engine;
use sgeval::{Direction, Packet, Scenario};

/// One Parquet batch being filled, column by column.
#[derive(Default)]
struct Columns {
    eni: Vec<String>,
    src: Vec<String>,
    dst: Vec<String>,
    sport: Vec<i32>,
    dport: Vec<i32>,
    proto: Vec<i32>,
    direction: Vec<&'static str>,
    packets: Vec<i64>,
    bytes: Vec<i64>,
    start: Vec<i64>,
    end: Vec<i64>,
    action: Vec<&'static str>,
    status: Vec<&'static str>,
}

/// Deterministic pseudo-random numbers (xorshift).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const ENDPOINTS: u32 = 64;
const GROUPS: usize = 5;
const RULES_PER_GROUP: usize = 200;

fn scenario(rng: &mut Rng) -> serde_json::Value {
    let mut calls = Vec::new();
    for g in 0..GROUPS {
        calls.push(
            json!({"api": "CreateSecurityGroup", "ref": format!("g{g}"), "params": {
            "RegionId": "cn-hangzhou", "VpcId": "vpc-bench", "SecurityGroupName": format!("g{g}"),
            "SecurityGroupType": "enterprise"}}),
        );
        for chunk in 0..RULES_PER_GROUP / 100 {
            let (mut ingress, mut egress) = (Vec::new(), Vec::new());
            for _ in 0..100 {
                let proto = if rng.below(4) == 0 { "UDP" } else { "TCP" };
                let lo = 1 + rng.below(60000) as u16;
                let span = if rng.below(3) == 0 { 2000 } else { 1 };
                let hi = lo + rng.below(span) as u16;
                let len = 8 + rng.below(21);
                let net = Ipv4Addr::from((rng.next() as u32) & (u32::MAX << (32 - len)));
                let policy = if rng.below(4) == 0 { "drop" } else { "accept" };
                let prio = (1 + rng.below(100)).to_string();
                let range = format!("{lo}/{hi}");
                let cidr = format!("{net}/{len}");
                if rng.below(3) == 0 {
                    egress.push(json!({"IpProtocol": proto, "PortRange": range, "DestCidrIp": cidr, "Policy": policy, "Priority": prio}));
                } else {
                    ingress.push(json!({"IpProtocol": proto, "PortRange": range, "SourceCidrIp": cidr, "Policy": policy, "Priority": prio}));
                }
            }
            let _ = chunk;
            for (api, perms) in [
                ("AuthorizeSecurityGroup", ingress),
                ("AuthorizeSecurityGroupEgress", egress),
            ] {
                if !perms.is_empty() {
                    calls.push(json!({"api": api, "params": {"RegionId": "cn-hangzhou", "SecurityGroupId": format!("$g{g}"), "Permissions": perms}}));
                }
            }
        }
    }
    let groups: Vec<String> = (0..GROUPS).map(|g| format!("$g{g}")).collect();
    let endpoints: Vec<serde_json::Value> = (0..ENDPOINTS)
        .map(|e| json!({"name": format!("eni-bench{e:08}"), "ips": [format!("172.16.{}.{}", e / 200, 1 + e % 200)], "groups": groups}))
        .collect();
    json!({"provider": "ecs", "calls": calls, "endpoints": endpoints})
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "/tmp/sgeval-replay-bench".into()));
    let n: usize = args
        .next()
        .map_or(5_000_000, |s| s.parse().expect("a record count"));
    std::fs::create_dir_all(&dir).expect("the output directory");
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let scenario_json = scenario(&mut rng);
    std::fs::write(
        dir.join("scenario.json"),
        serde_json::to_string_pretty(&scenario_json).unwrap(),
    )
    .unwrap();
    let cloud = Scenario::from_json(&scenario_json.to_string())
        .unwrap()
        .build()
        .unwrap();
    let engine = Engine::build(&cloud).unwrap();
    let stats = engine.stats();
    eprintln!(
        "scenario: {} endpoints, {} rules per endpoint, {} classifier entries",
        ENDPOINTS,
        GROUPS * RULES_PER_GROUP,
        stats.entries
    );

    let header = "__topic__,version,vswitch-id,vm-id,vpc-id,account-id,eni-id,region,srcaddr,srcport,dstaddr,dstport,protocol,direction,packets,bytes,start,end,log-status,action,tcp-flags";
    let mut csv = BufWriter::with_capacity(1 << 20, std::fs::File::create(dir.join("flows.csv")).unwrap());
    writeln!(csv, "{header}").unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_compression(parquet::basic::Compression::SNAPPY)
        .set_max_row_group_row_count(Some(1 << 20))
        .build();
    let mut parquet_writer: Option<parquet::arrow::ArrowWriter<std::fs::File>> = None;
    let batch_rows = 1 << 16;
    let mut cols = Columns::default();
    let keys: Vec<_> = cloud.endpoint_keys().collect();
    for i in 0..n {
        let e = rng.below(u64::from(ENDPOINTS)) as usize;
        let ep = cloud.endpoint(keys[e]).unwrap();
        let own = ep.ips[0];
        let remote = IpAddr::V4(Ipv4Addr::from(rng.next() as u32));
        let direction = if rng.below(2) == 0 {
            Direction::Ingress
        } else {
            Direction::Egress
        };
        let proto = if rng.below(4) == 0 { 17u8 } else { 6 };
        let (src, dst) = if direction == Direction::Ingress {
            (remote, own)
        } else {
            (own, remote)
        };
        let dport = 1 + rng.below(60000) as u16;
        let sport = 1024 + rng.below(60000) as u16;
        let packet = Packet {
            src_port: sport,
            dst_port: dport,
            ..Packet::new(src, dst, proto)
        };
        let allow = engine.evaluate(keys[e], direction, &packet).is_allow();
        let action = if allow { "ACCEPT" } else { "REJECT" };
        let dir_text = if direction == Direction::Ingress {
            "in"
        } else {
            "out"
        };
        let start = 1_700_000_000 + (i as u64 / 1000);
        let packets = 1 + rng.below(100);
        writeln!(
            csv,
            "flow_log,1,vsw-bench,i-bench,vpc-bench,1234567890123456,{},cn-hangzhou,{src},{sport},{dst},{dport},{proto},{dir_text},{packets},{},{start},{},OK,{action},0",
            ep.name,
            packets * 100,
            start + 60
        )
        .unwrap();
        cols.eni.push(ep.name.clone());
        cols.src.push(src.to_string());
        cols.dst.push(dst.to_string());
        cols.sport.push(i32::from(sport));
        cols.dport.push(i32::from(dport));
        cols.proto.push(i32::from(proto));
        cols.direction.push(dir_text);
        cols.packets.push(packets as i64);
        cols.bytes.push(packets as i64 * 100);
        cols.start.push(start as i64);
        cols.end.push(start as i64 + 60);
        cols.action.push(action);
        cols.status.push("OK");
        if cols.eni.len() == batch_rows || i + 1 == n {
            let c = std::mem::take(&mut cols);
            let batch = RecordBatch::try_from_iter([
                ("eni-id", Arc::new(StringArray::from(c.eni)) as ArrayRef),
                ("srcaddr", Arc::new(StringArray::from(c.src))),
                ("dstaddr", Arc::new(StringArray::from(c.dst))),
                ("srcport", Arc::new(Int32Array::from(c.sport))),
                ("dstport", Arc::new(Int32Array::from(c.dport))),
                ("protocol", Arc::new(Int32Array::from(c.proto))),
                ("direction", Arc::new(StringArray::from(c.direction))),
                ("packets", Arc::new(Int64Array::from(c.packets))),
                ("bytes", Arc::new(Int64Array::from(c.bytes))),
                ("start", Arc::new(Int64Array::from(c.start))),
                ("end", Arc::new(Int64Array::from(c.end))),
                ("action", Arc::new(StringArray::from(c.action))),
                ("log-status", Arc::new(StringArray::from(c.status))),
            ])
            .unwrap();
            let w = parquet_writer.get_or_insert_with(|| {
                parquet::arrow::ArrowWriter::try_new(
                    std::fs::File::create(dir.join("flows.parquet")).unwrap(),
                    batch.schema(),
                    Some(props.clone()),
                )
                .unwrap()
            });
            w.write(&batch).unwrap();
        }
    }
    csv.flush().unwrap();
    if let Some(w) = parquet_writer {
        w.close().unwrap();
    }
    eprintln!(
        "wrote {n} records to {}/flows.csv and flows.parquet",
        dir.display()
    );
}
