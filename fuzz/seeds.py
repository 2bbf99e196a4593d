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
    src = open(f"../src/provider/{provider}.rs", encoding="utf-8").read()
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
