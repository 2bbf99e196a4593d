"""Packets per second: the Python batch path (pyarrow arrays in, through the Arrow C data
interface, verdict/rule/reason arrays out) against the Rust batch path
(`compile::Engine::evaluate_batch` over the same packets, already formed as `Packet`s), on
the same cloud and packets, in the same process and build.

    pip install ./python pyarrow          # a release build (maturin's default for pip)
    python python/bench/batch.py [--packets 1000000] [--rounds 5]

The cloud: ECS, one endpoint in 10 basic groups of 99 ingress rules each (990 rules;
random prefixes from /8 to /32, TCP/UDP port ranges, accept and drop, priorities 1-100).
The packets: IPv4 TCP/UDP/ICMP to the endpoint, half of them from inside some rule's
prefix and to a port inside its range, the rest random. Each figure is the best of
`--rounds` runs.
"""

from __future__ import annotations

import argparse
import ipaddress
import random
import sys
import time

import pyarrow as pa

import sgeval

WEB = "172.16.1.10"


def scenario(rng: random.Random, groups: int = 10, rules: int = 99):
    calls, prefixes = [], []
    for g in range(groups):
        calls.append({"api": "CreateSecurityGroup", "ref": f"g{g}",
                      "params": {"RegionId": "cn-hangzhou", "VpcId": "vpc-bench", "SecurityGroupName": f"bench-{g}"}})
        perms, seen = [], set()
        while len(perms) < rules:
            length = rng.choice([8, 12, 16, 20, 24, 28, 32])
            net = ipaddress.ip_network((rng.getrandbits(32), length), strict=False)
            proto = rng.choice(["TCP", "UDP"])
            lo = rng.randint(1, 65000)
            hi = min(65535, lo + rng.choice([0, 0, 10, 100, 1000]))
            key = (str(net), proto, lo, hi)
            if key in seen:
                continue
            seen.add(key)
            prefixes.append((net, lo, hi))
            perms.append({"IpProtocol": proto, "PortRange": f"{lo}/{hi}", "SourceCidrIp": str(net),
                          "Policy": rng.choice(["accept", "accept", "drop"]), "Priority": str(rng.randint(1, 100))})
        calls.append({"api": "AuthorizeSecurityGroup",
                      "params": {"RegionId": "cn-hangzhou", "SecurityGroupId": f"$g{g}", "Permissions": perms}})
    endpoints = [{"name": "web", "ips": [WEB], "groups": [f"$g{g}" for g in range(groups)]}]
    return {"provider": "ecs", "calls": calls, "endpoints": endpoints}, prefixes


def packets(rng: random.Random, prefixes, n: int):
    src, proto, sport, dport = [], [], [], []
    for _ in range(n):
        if rng.random() < 0.5:
            net, lo, hi = rng.choice(prefixes)
            src.append(int(net.network_address) + rng.randrange(net.num_addresses))
            dport.append(rng.randint(lo, hi))
        else:
            src.append(rng.getrandbits(32))
            dport.append(rng.randrange(65536))
        proto.append(rng.choice([6, 6, 17, 1]))
        sport.append(rng.randrange(1024, 65536))
    dst = int(ipaddress.ip_address(WEB))
    return dict(src=pa.array(src, pa.uint32()), dst=pa.array([dst] * n, pa.uint32()),
                protocol=pa.array(proto, pa.uint8()), src_port=pa.array(sport, pa.uint16()),
                dst_port=pa.array(dport, pa.uint16()))


def best(f, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        times.append(f())
    return min(times)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--packets", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    sc, prefixes = scenario(rng)
    cloud = sgeval.Cloud.from_scenario(sc)
    engine = sgeval.Engine(cloud)
    cols = packets(rng, prefixes, args.packets)
    n = args.packets

    def python_batch() -> float:
        t = time.perf_counter()
        out = engine.evaluate_batch("web", "ingress", **cols)
        elapsed = time.perf_counter() - t
        assert len(out.verdict) == n
        return elapsed

    def rust_batch() -> float:
        return engine._native._rust_batch_seconds(
            "web", "ingress", (cols["src"], cols["dst"], cols["protocol"], cols["src_port"], cols["dst_port"],
                               None, None, None), 1)

    # Warm up both (page in the tables and the arrays).
    python_batch()
    rust_batch()
    py_s = best(python_batch, args.rounds)
    rs_s = best(rust_batch, args.rounds)
    out = engine.evaluate_batch("web", "ingress", **cols)
    allowed = sum(out.verdict.to_pylist())
    one_n = min(n, 20_000)
    sample = [sgeval.Packet(str(ipaddress.ip_address(cols["src"][i].as_py())), WEB, cols["protocol"][i].as_py(),
                            cols["src_port"][i].as_py(), cols["dst_port"][i].as_py()) for i in range(one_n)]
    t = time.perf_counter()
    for p in sample:
        engine.evaluate("web", "ingress", p)
    one_s = time.perf_counter() - t
    print(f"rules=990 packets={n} allowed={allowed} rounds={args.rounds} (best of)")
    print(f"python batch (pyarrow): {n / py_s / 1e6:8.2f} M packets/s  {py_s / n * 1e9:7.1f} ns/packet")
    print(f"rust batch (Packet[]):  {n / rs_s / 1e6:8.2f} M packets/s  {rs_s / n * 1e9:7.1f} ns/packet")
    print(f"python/rust time ratio: {py_s / rs_s:.2f}")
    print(f"python one at a time:   {one_n / one_s / 1e6:8.3f} M packets/s  ({one_n} packets, Engine.evaluate)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
