"""What the replay tests share: the CLI binary, the fixtures, a generated flow log, and
reports put in a comparable form."""

from __future__ import annotations

import csv
import json
import os
import random
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Sequence, Tuple

ROOT = Path(__file__).resolve().parents[2]
FLOWLOGS = ROOT / "tests" / "fixtures" / "flowlogs"

_BIN: List[str] = []


def sgeval_bin() -> str:
    """The `sgeval` CLI: `$SGEVAL_BIN`, else built by cargo in the repository (debug, with
    the features `cargo test --all-features` builds it with, so CI reuses that build)."""
    if not _BIN:
        given = os.environ.get("SGEVAL_BIN")
        if given:
            _BIN.append(given)
        else:
            out = subprocess.run(
                ["cargo", "build", "--quiet", "--all-features", "--bin", "sgeval", "--message-format=json"],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            exe = [
                m["executable"]
                for m in map(json.loads, out.splitlines())
                if m.get("reason") == "compiler-artifact" and m.get("executable")
            ]
            assert exe, "cargo built no `sgeval` executable"
            _BIN.append(exe[-1])
    return _BIN[0]


def cli_replay(args: Sequence[str]) -> Tuple[int, Dict[str, Any], str]:
    """`sgeval replay --json ARGS`: exit code, the JSON printed (empty on error), stderr."""
    p = subprocess.run([sgeval_bin(), "replay", "--json", *args], capture_output=True, text=True)
    summary = json.loads(p.stdout) if p.stdout.strip() else {}
    return p.returncode, summary, p.stderr


def comparable(summary: Dict[str, Any]) -> Dict[str, Any]:
    """A report with its malformed rows as sorted (file, error) pairs: Spark does not know
    their line numbers, everything else must be equal."""
    out = dict(summary)
    out["bad_rows"] = sorted((r["file"], r["error"]) for r in summary.get("bad_rows", []))
    return out


FIELDS = [
    "__topic__", "version", "vswitch-id", "vm-id", "vpc-id", "account-id", "eni-id", "region",
    "srcaddr", "srcport", "dstaddr", "dstport", "protocol", "direction", "packets", "bytes",
    "start", "end", "log-status", "action", "tcp-flags",
]

WEB = ("eni-bp1web00000000000001", ["10.0.1.10", "2001:db8::10"])
DB = ("eni-bp1db000000000000001", ["10.0.2.20"])


def generate_alibaba_csv(path: Path, rows: int, seed: int, bad: int = 0) -> None:
    """A random Alibaba CSV flow log over `alibaba-scenario.json`'s two ENIs: both
    directions of connections (replies a window or two after their openers, shuffled so
    they land in other partitions), remote and unknown addresses, TCP, UDP and ICMP, both
    actions, NODATA and SKIPDATA rows, and `bad` malformed rows."""
    rng = random.Random(seed)
    remotes = ["203.0.113.7", "192.0.2.5", "198.51.100.9", "10.9.9.9", "2001:db8:ffff::1"]
    out: List[List[str]] = []
    base = 1_700_000_000

    def record(eni: str, src: str, sport: int, dst: str, dport: int, proto: int, direction: str, t: int) -> List[str]:
        action = "ACCEPT" if rng.random() < 0.7 else "REJECT"
        return [
            "flow_log", "1", "vsw-1", "i-1", "vpc-1", "1", eni, "cn-hangzhou", src, str(sport), dst,
            str(dport), str(proto), direction, str(rng.randint(1, 50)), str(rng.randint(40, 9000)),
            str(t), str(t + 60), "OK", action, "2",
        ]

    while len(out) < rows:
        (eni, ips), (_, peer_ips) = rng.choice([(WEB, DB), (DB, WEB)])
        me = rng.choice(ips)
        v6 = ":" in me
        others = [a for a in remotes + peer_ips if (":" in a) == v6]
        other = rng.choice(others)
        proto = rng.choice([6, 6, 6, 17, 1])
        port = rng.choice([443, 22, 5432, 53, rng.randint(1, 65535)]) if proto != 1 else 0
        eph = rng.randint(1024, 65535) if proto != 1 else 0
        t = base + 60 * rng.randint(0, 30)
        roll = rng.random()
        if roll < 0.02:
            status = rng.choice(["NODATA", "SKIPDATA"])
            out.append(["flow_log", "1", "vsw-1", "i-1", "vpc-1", "1", eni, "cn-hangzhou"] + [""] * 10 + [status, "", ""])
            continue
        if roll < 0.05:
            eni = "eni-unknown0000000000001"
            if roll < 0.035:
                # An address of no endpoint either: unplaced.
                me = "2001:db8:eeee::1" if v6 else "10.8.0.1"
        inbound = rng.random() < 0.5
        if inbound:
            out.append(record(eni, other, eph, me, port, proto, "in", t))
            if rng.random() < 0.5:
                out.append(record(eni, me, port, other, eph, proto, "out", t + 60 * rng.randint(0, 2)))
        else:
            out.append(record(eni, me, eph, other, port, proto, "out", t))
            if rng.random() < 0.5:
                out.append(record(eni, other, port, me, eph, proto, "in", t + 60 * rng.randint(0, 2)))
    rng.shuffle(out)
    for i in range(bad):
        row = list(out[(i * 7919) % len(out)])
        row[FIELDS.index(rng.choice(["srcaddr", "dstport", "action"]))] = rng.choice(["10.0.0.300", "70000", "MAYBE"])
        out[(i * 7919) % len(out)] = row
    with open(path, "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(FIELDS)
        w.writerows(out)


def csv_to_parquet(csv_path: Path, parquet_path: Path) -> None:
    """The CSV as Parquet with integer columns for the numbers (and several row groups)."""
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    numbers = ["srcport", "dstport", "protocol", "packets", "bytes", "start", "end"]
    types = {name: (pa.int64() if name in numbers else pa.string()) for name in FIELDS}
    table = pacsv.read_csv(csv_path, convert_options=pacsv.ConvertOptions(column_types=types))
    pq.write_table(table, parquet_path, row_group_size=4096)
