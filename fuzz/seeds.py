#!/usr/bin/env python3
"""Regenerates the committed seed corpora from the shared test corpus and the examples.

Each scenario becomes a `scenario_replay` seed; each call becomes a `request_<provider>`
seed (first byte: the API's index in the provider's APIS list, then the call's JSON with the
first two `$ref`s renamed `$g0`/`$g1`, the groups the fuzz setup creates). `conntrack` seeds
are small byte programs. Run from the fuzz/ directory: `python3 seeds.py`.
"""
import glob
import hashlib
import json
import os
import re

APIS = {}
for provider in ["ecs", "ens", "huawei", "gcore"]:
    src = open(f"../src/provider/{provider}/mod.rs", encoding="utf-8").read()
    m = re.search(r"pub const APIS: &\[&str\] = &\[(.*?)\];", src, re.S)
    APIS[provider] = re.findall(r'"([A-Za-z]+)"', m.group(1)) if m else []

def write(target, data, limit):
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    if len(os.listdir(d)) >= limit:
        return
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

scenarios = []
for path in sorted(glob.glob("../tests/corpus/*.json")):
    for case in json.load(open(path, encoding="utf-8")).get("cases", []):
        if isinstance(case.get("scenario"), dict):
            scenarios.append(case["scenario"])
for path in sorted(glob.glob("../examples/*.json")):
    try:
        s = json.load(open(path, encoding="utf-8"))
    except ValueError:
        continue
    if isinstance(s, dict) and "provider" in s:
        scenarios.append(s)

per_provider = {}
for s in scenarios:
    text = json.dumps(s, separators=(",", ":"), ensure_ascii=False)
    provider = s.get("provider")
    per_provider[provider] = per_provider.get(provider, 0) + 1
    if len(text) < 4000 and per_provider[provider] <= 20:
        write("scenario_replay", text.encode(), 100)
    refs = [c["ref"] for c in s.get("calls", []) if isinstance(c, dict) and "ref" in c][:2]
    for call in s.get("calls", []):
        api = call.get("api")
        if provider not in APIS or api not in APIS[provider]:
            continue
        req = {k: call[k] for k in ("params", "body", "path") if k in call}
        text = json.dumps(req, separators=(",", ":"), ensure_ascii=False)
        for i, r in enumerate(refs):
            text = re.sub(r"\$" + re.escape(r) + r"(?![A-Za-z0-9_-])", f"$g{i}", text)
        if len(text) < 4000:
            write(f"request_{provider}", bytes([APIS[provider].index(api)]) + text.encode(), 40)

# conntrack: provider byte, then 4-byte ops (kind, x, y, z).
for p in range(16):
    prog = bytes([p])
    prog += bytes([2, 2, 0, 0, 3, 0, 2, 0, 0, 30, 0, 0, 4, 2, 0, 1, 1, 0, 0, 0, 5, 0, 2, 0])
    write("conntrack", prog, 16)

# differential: every other scenario seed, then "\n#\n" and packet bytes.
for i, path in enumerate(sorted(glob.glob("corpus/scenario_replay/*"))):
    if i % 2 == 0:
        data = open(path, "rb").read() + b"\n#\n" + bytes(range(i % 7, 64 + i % 7))
        write("differential", data, 60)

# classbench: the head of each 1k filter and trace file of the shared data, and one line of
# each file kind.
for name in ["acl1_1k", "fw1_1k", "ipc1_1k"]:
    for suffix in ["", "_trace"]:
        path = "../../shared/data/classbench/" + name + suffix
        if os.path.exists(path):
            head = open(path, "rb").read().split(b"\n")[:20]
            write("classbench", b"\n".join(head) + b"\n", 20)
write("classbench", b"@10.0.0.0/8\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x06/0xFF\n", 20)
write("classbench", b"167772161\t3232235777\t5000\t80\t6\t0\t0\n", 20)
write("classbench", b"0\n-1\n3\n", 20)
