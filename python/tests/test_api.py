"""Every API of the package on the bundled examples and fixtures, checked against what the
CLI answers for the same questions (README, examples) and against the reference."""

import json
import threading
from pathlib import Path

import pyarrow as pa
import pytest

import sgeval
from sgeval import Cloud, Engine, Live, Packet

ROOT = Path(__file__).resolve().parents[2]
EX = ROOT / "examples"

HUAWEI = {
    "provider": "huawei",
    "calls": [
        {"api": "CreateSecurityGroup", "ref": "web", "body": {"security_group": {"name": "web"}}},
        {"api": "CreateSecurityGroupRule", "ref": "https", "body": {"security_group_rule": {
            "security_group_id": "$web", "direction": "ingress", "protocol": "tcp",
            "multiport": "443", "remote_ip_prefix": "0.0.0.0/0", "action": "allow", "priority": 1}}},
    ],
    "endpoints": [{"name": "vm-a", "ips": ["192.168.0.10"], "groups": ["$web"]}],
}


def test_from_scenario_path_and_dict_give_the_same_cloud():
    a = Cloud.from_scenario(EX / "ecs-web-db.json")
    b = Cloud.from_scenario(json.loads((EX / "ecs-web-db.json").read_text()))
    assert a.provider == "ecs"
    assert a.endpoints == b.endpoints
    assert [g.id for g in a.groups] == [g.id for g in b.groups]
    assert {e.name for e in a.endpoints} == {"web-1", "db-1"}


def test_endpoints_and_groups_are_read_only_objects():
    c = Cloud.from_scenario(HUAWEI)
    (vm,) = c.endpoints
    assert vm.name == "vm-a" and vm.ips == ("192.168.0.10",)
    (web,) = c.groups
    assert vm.groups == (web.id,) and web.name == "web"
    assert c.refs["web"] == web.id
    # Huawei adds its default rules; the scenario's rule is there with its provider fields.
    https = [r for r in web.rules if r.id == c.refs["https"]]
    assert len(https) == 1 and https[0].shown["multiport"] == "443" and https[0].action == "allow"
    with pytest.raises(Exception):
        vm.name = "other"  # frozen
    assert c.endpoint("vm-a") == vm and c.group(web.id) == web
    with pytest.raises(KeyError):
        c.endpoint("nope")


def test_check_gives_verdict_hops_and_deciding_rules_as_the_cli():
    c = Cloud.from_scenario(EX / "ecs-web-db.json")
    allowed = c.check("203.0.113.9", "web-1", "tcp", 443)
    assert allowed.verdict == "allow" and allowed.allowed
    assert len(allowed.rule_ids) == 1 and allowed.hops[0].endpoint == "web-1"
    # README: drop prio 1 outranks accept prio 10 for the blocked /24.
    denied = c.check("192.0.2.7", "web-1", "tcp", 443)
    assert denied.verdict == "deny" and denied.hops[0].verdict == "deny" and denied.hops[0].reason == "rule"
    assert denied.rule_ids != allowed.rule_ids
    # Both engines give the same flow.
    assert c.check("192.0.2.7", "web-1", "tcp", 443, engine="reference").to_dict() == denied.to_dict()
    rows = denied.to_rows()
    assert rows[0]["flow_verdict"] == "deny" and rows[0]["endpoint"] == "web-1"
    assert denied.to_dict()["packet"]["dst_port"] == 443


def test_why_and_fix():
    c = Cloud.from_scenario(EX / "ecs-web-db.json")
    assert c.check("web-1", "db-1", "tcp", 22).verdict == "deny"
    why = c.why("web-1", "db-1", "tcp", 22)
    assert [h.direction for h in why] == ["egress", "ingress"]
    assert any("22" in m.detail for m in why[1].misses)
    assert why[1].to_rows()[0]["endpoint"] == "db-1"
    fix = c.fix("web-1", "db-1", "tcp", 22)
    assert fix is not None and fix.endpoint == "db-1" and fix.direction == "ingress"
    assert fix.call["api"] == "AuthorizeSecurityGroup"
    assert fix.scenario_call["params"]["SecurityGroupId"] == "$db"
    assert fix.to_dict()["summary"] == fix.summary and "22" in fix.summary
    # Applying the fix's call flips the verdict.
    c.call(fix.call["api"], {"params": fix.call["params"]}, check=True)
    assert c.check("web-1", "db-1", "tcp", 22).verdict == "allow"
    assert c.fix("203.0.113.9", "web-1", "tcp", 443) is not None  # a deny fix exists too


def test_reach_counts_what_the_readme_says():
    c = Cloud.from_scenario(HUAWEI)
    r = c.reach("internet,!192.168.0.0/16", "vm-a", proto="tcp", dport="443")
    (allowed,) = [e for e in r.exposure if e.verdict == "allow" and e.family == "IPv4"]
    assert allowed.src_addresses == 2**32 - 2**16
    assert all(reg.verdict in ("allow", "deny") for reg in r.regions)
    assert r.allowed() and r.to_dict()["mode"] == "new"
    assert allowed.to_dict()["src_addresses"] == allowed.src_addresses
    assert r.regions[0].to_dict() == r.to_dict()["regions"][0]
    row = r.to_rows()[0]
    assert {"verdict", "family", "src", "witness.dport"} <= set(row)
    with pytest.raises(sgeval.QueryError) as e:
        c.reach("nowhere", "vm-a")
    assert e.value.field == "src" and "nowhere" in str(e.value)
    with pytest.raises(sgeval.QueryError) as e:
        c.reach("internet", "vm-a", proto="tcp", dport="70000")
    assert e.value.field == "dport"


def test_diff_and_lint():
    old, new = Cloud.from_scenario(EX / "diff-old.json"), Cloud.from_scenario(EX / "diff-new.json")
    d = sgeval.diff(old, new)
    assert not d.equivalent and d.changes
    first = d.changes[0]
    assert first.before != first.after and first.witness["proto"]
    assert sgeval.diff(old, old).equivalent
    assert d.to_rows()[0]["before"] == first.before
    lint = Cloud.from_scenario(EX / "lint-huawei.json").lint()
    kinds = {f.kind for f in lint.findings}
    assert {"shadowed", "match_nothing", "all_ports", "widened"} <= kinds
    assert sum(lint.counts.values()) == len(lint.findings)
    assert lint.warnings()
    widened = [f for f in lint.findings if f.kind == "widened"][0]
    acked = Cloud.from_scenario(EX / "lint-huawei.json").lint(
        [{"kind": "widened", "subject": widened.rule_id, "reason": "public"}])
    assert [f for f in acked.findings if f.kind == "widened"][0].acknowledged is not None
    rows = lint.to_rows()
    assert len(rows) == len(lint.findings) and rows[0]["kind"] == lint.findings[0].kind
    assert lint.to_dict()["counts"] == lint.counts and lint.findings[0].to_dict()["kind"] == lint.findings[0].kind
    with pytest.raises(sgeval.QueryError) as e:
        Cloud.from_scenario(EX / "lint-huawei.json").lint([{"kind": "nonsense", "subject": "x"}])
    assert e.value.field == "acks[0].kind"
    stale = Cloud.from_scenario(EX / "lint-huawei.json").lint([{"kind": "widened", "subject": "sgr-none"}])
    assert stale.stale == ({"kind": "widened", "subject": "sgr-none"},)
    # A `$ref` names the scenario's own rule, as in the scenario's `acknowledged` list.
    web = Cloud.from_scenario(HUAWEI)
    widened = [f for f in web.lint().findings if f.kind == "widened"]
    assert widened and widened[0].acknowledged is None
    acked = [f for f in web.lint([{"kind": "widened", "subject": "$https"}]).findings if f.kind == "widened"]
    assert acked[0].acknowledged is not None
    assert [f.acknowledged for f in Cloud.from_scenario(
        {**HUAWEI, "acknowledged": [{"kind": "widened", "rule": "$https", "reason": "public"}]}).lint().findings
        if f.kind == "widened"][0] is not None


def test_call_returns_the_provider_answer_and_errors_carry_the_code():
    c = Cloud.empty("huawei")
    created = c.call("CreateSecurityGroup", {"security_group": {"name": "web"}})
    assert created["status"] in (200, 201) and created["created"]
    group = created["created"]
    ok = c.call("CreateSecurityGroupRule", {"security_group_rule": {
        "security_group_id": group, "direction": "ingress", "protocol": "tcp", "multiport": "22",
        "remote_ip_prefix": "10.0.0.0/8", "action": "allow", "priority": 1}})
    assert ok["status"] in (200, 201) and ok["code"] is None
    bad = c.call("CreateSecurityGroupRule", {"security_group_rule": {
        "security_group_id": group, "direction": "sideways", "protocol": "tcp"}})
    assert bad["status"] == 400 and bad["code"]
    with pytest.raises(sgeval.ProviderError) as e:
        c.call("CreateSecurityGroupRule", {"security_group_rule": {
            "security_group_id": group, "direction": "sideways", "protocol": "tcp"}}, check=True)
    assert e.value.code == bad["code"] and e.value.status == 400
    # The body is the provider's error answer (its request id differs from call to call).
    assert e.value.body["error_code"] == bad["code"] and e.value.body["error_msg"] == bad["body"]["error_msg"]
    assert "security_group_rule.direction" in str(e.value)
    assert isinstance(e.value, sgeval.SgevalError)
    c.attach("vm", ["10.1.0.5"], [group])
    assert c.check("10.2.0.1", "vm", "tcp", 22).verdict == "allow"
    with pytest.raises(sgeval.EndpointError):
        c.attach("vm", ["10.1.0.6"], [group])


def test_scenario_errors_name_the_field_and_the_provider_code():
    with pytest.raises(sgeval.ScenarioError) as e:
        Cloud.from_scenario({"provider": "huawei", "calls": [{"api": "NoSuchApi", "body": {}}]})
    assert e.value.field == "calls[0].api" and "NoSuchApi" in str(e.value)
    with pytest.raises(sgeval.ScenarioError) as e:
        Cloud.from_scenario({"provider": "huawei", "calls": [
            {"api": "CreateSecurityGroup", "body": {"security_group": {"name": "x" * 65}}}]})
    assert e.value.code and e.value.field == "calls[0]"
    assert e.value.failures[0]["code"] == e.value.code
    with pytest.raises(sgeval.ScenarioError) as e:
        Cloud.from_scenario({"provider": "nimbus"})
    assert e.value.field == "provider"


def test_packet_errors_name_the_field():
    c = Cloud.from_scenario(HUAWEI)
    cases = [
        (dict(src="203.0.113.7", dst="vm-a", proto="tcp", dport=70000), "dport"),
        (dict(src="203.0.113.7", dst="vm-a", proto="tcp"), "dport"),
        (dict(src="203.0.113.7", dst="vm-a", proto="icmp", dport=22), "dport"),
        (dict(src="nowhere", dst="vm-a", proto="tcp", dport=22), "src"),
        (dict(src="203.0.113.7", dst="vm-a", proto="tcpx", dport=22), "proto"),
    ]
    for kwargs, field in cases:
        with pytest.raises(sgeval.PacketError) as e:
            c.check(**kwargs)
        assert e.value.field == field, (kwargs, str(e.value))
    with pytest.raises(sgeval.PacketError):
        c.check("203.0.113.7", "203.0.113.8", "tcp", 22)  # neither side is an endpoint


def test_import_marks_what_depends_on_unresolved_items():
    c = Cloud.import_(ROOT / "tests/fixtures/import/ecs")
    assert c.provider == "ecs" and c.imported["unresolved"]
    assert any(e.name == "eni-bp1nic00000000d5" for e in c.endpoints)
    # README: this packet's answer depends on a port list no document gives.
    f = c.check("10.1.1.1", "eni-bp1nic00000000d5", "udp", 53)
    assert f.verdict == "unresolved" and set(f.possible_verdicts) == {"allow", "deny"} and f.depends_on
    with pytest.raises(sgeval.ImportDocumentError):
        Cloud.import_(ROOT / "tests/fixtures/import/ecs", provider="gcore")


def test_engine_evaluate_equals_the_reference():
    c = Cloud.from_scenario(EX / "ecs-web-db.json")
    e = Engine(c)
    p = Packet("192.0.2.7", "172.16.1.10", "tcp", 49152, 443)
    d = e.evaluate("web-1", "ingress", p)
    assert d == e.evaluate_reference("web-1", "ingress", p)
    assert d.verdict == "deny" and d.rule_id == e.rule_ids[d.rule_index]
    assert d.to_row()["verdict"] == "deny" and d.to_dict()["rule_id"] == d.rule_id
    assert e.trace(p).to_dict() == c.trace(p).to_dict()
    assert e.memory_usage() > 0
    with pytest.raises(sgeval.PacketError) as err:
        e.evaluate("nope", "ingress", p)
    assert err.value.field == "endpoint"
    with pytest.raises(sgeval.PacketError) as err:
        e.evaluate("web-1", "inward", p)
    assert err.value.field == "direction"


def test_batch_equals_one_at_a_time_on_every_address_form():
    c = Cloud.from_scenario(EX / "huawei-app.json")
    e = Engine(c)
    ep = c.endpoints[0]
    v4 = [a for a in ep.ips if ":" not in a][0]
    srcs = ["10.0.0.1", "10.255.255.255", "11.0.0.1", "192.0.2.1", "2001:db8::1", "2001:db9::1"]
    rows = [(s, p, port) for s in srcs for p in (6, 17, 1, 58, 47) for port in (0, 22, 8080, 8443, 65535)]
    dst = [v4 if ":" not in s else [a for a in ep.ips if ":" in a][0] for s, _, _ in rows]
    table = pa.table({
        "src": pa.array([r[0] for r in rows]), "dst": pa.array(dst),
        "protocol": pa.array([r[1] for r in rows], pa.uint8()),
        "dst_port": pa.array([r[2] for r in rows], pa.uint16()),
        "src_port": pa.array([40000] * len(rows), pa.uint16()),
    })
    out = e.evaluate_batch(ep.name, "ingress", table)
    assert len(out.verdict) == len(rows)
    for i, (s, p, port) in enumerate(rows):
        one = e.evaluate(ep.name, "ingress", Packet(s, dst[i], p, 40000, port))
        assert out.verdict[i].as_py() == one.allowed
        assert out.rule[i].as_py() == one.rule_index
        assert BatchResultReasons[out.reason[i].as_py()] == one.reason
    # IPv4 as uint32 and IPv6 as 16 bytes give the same answers as text.
    import ipaddress
    v4rows = [i for i, r in enumerate(rows) if ":" not in r[0]]
    as_int = e.evaluate_batch(
        ep.name, "ingress",
        src=pa.array([int(ipaddress.ip_address(rows[i][0])) for i in v4rows], pa.uint32()),
        dst=pa.array([int(ipaddress.ip_address(dst[i])) for i in v4rows], pa.uint32()),
        protocol=pa.array([rows[i][1] for i in v4rows], pa.uint8()),
        dst_port=pa.array([rows[i][2] for i in v4rows], pa.uint16()),
        src_port=pa.array([40000] * len(v4rows), pa.uint16()))
    assert as_int.verdict.to_pylist() == [out.verdict[i].as_py() for i in v4rows]
    v6rows = [i for i, r in enumerate(rows) if ":" in r[0]]
    as_bytes = e.evaluate_batch(
        ep.name, "ingress",
        src=pa.array([ipaddress.ip_address(rows[i][0]).packed for i in v6rows], pa.binary(16)),
        dst=pa.array([ipaddress.ip_address(dst[i]).packed for i in v6rows], pa.binary(16)),
        protocol=[rows[i][1] for i in v6rows],  # plain lists are converted (and cast)
        dst_port=[rows[i][2] for i in v6rows], src_port=[40000] * len(v6rows))
    assert as_bytes.rule.to_pylist() == [out.rule[i].as_py() for i in v6rows]
    rb = out.to_record_batch()
    assert rb.num_rows == len(rows) and rb.schema.names == ["verdict", "rule", "reason"]


BatchResultReasons = sgeval.BatchResult.REASONS


def test_batch_errors_name_the_column():
    c = Cloud.from_scenario(HUAWEI)
    e = Engine(c)
    with pytest.raises(sgeval.PacketError) as err:
        e.evaluate_batch("vm-a", "ingress", src=pa.array(["10.0.0.1"]), dst=pa.array(["192.168.0.10", "x"]),
                         protocol=pa.array([6], pa.uint8()))
    assert err.value.field == "dst"
    with pytest.raises(sgeval.PacketError) as err:
        e.evaluate_batch("vm-a", "ingress", src=pa.array(["10.0.0.1", None]),
                         dst=pa.array(["192.168.0.10", "192.168.0.10"]), protocol=pa.array([6, 6], pa.uint8()))
    assert err.value.field == "src" and "null" in str(err.value)
    with pytest.raises(sgeval.PacketError) as err:
        e.evaluate_batch("vm-a", "ingress", src=pa.array([1.5]), dst=pa.array(["192.168.0.10"]),
                         protocol=pa.array([6], pa.uint8()))
    assert err.value.field == "src"
    with pytest.raises(sgeval.PacketError) as err:
        e.evaluate_batch("vm-a", "ingress", src=pa.array(["10.0.0.300"]), dst=pa.array(["192.168.0.10"]),
                         protocol=pa.array([6], pa.uint8()))
    assert "10.0.0.300" in str(err.value)
    with pytest.raises(sgeval.PacketError) as err:
        e.evaluate_batch("vm-a", "ingress", src=pa.array(["10.0.0.1"]), dst=pa.array(["192.168.0.10"]))
    assert err.value.field == "protocol"
    with pytest.raises(pa.ArrowInvalid):
        e.evaluate_batch("vm-a", "ingress", src=["10.0.0.1"], dst=["192.168.0.10"], protocol=[6], dst_port=[70000])


def test_live_updates_from_one_thread_while_others_evaluate():
    live = Live.from_scenario({**HUAWEI, "calls": HUAWEI["calls"][:1]})
    group = live.cloud().groups[0].id
    p = Packet("203.0.113.7", "192.168.0.10", "tcp", 49152, 443)
    assert live.trace(p)[0].verdict == "deny"
    n = 2000
    batch = dict(src=pa.array(["203.0.113.7"] * n), dst=pa.array(["192.168.0.10"] * n),
                 protocol=pa.array([6] * n, pa.uint8()), dst_port=pa.array([443] * n, pa.uint16()))
    seen, errors, stop = [], [], threading.Event()

    def reader():
        try:
            while not stop.is_set():
                out = live.evaluate_batch("vm-a", "ingress", **batch)
                vs = set(out.verdict.to_pylist())
                # One snapshot per batch: never a torn answer.
                assert len(vs) == 1
                seen.append((out.version, vs.pop()))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    answer = live.call("CreateSecurityGroupRule", {"security_group_rule": {
        "security_group_id": group, "direction": "ingress", "protocol": "tcp", "multiport": "443",
        "remote_ip_prefix": "0.0.0.0/0", "action": "allow", "priority": 1}})
    assert answer["status"] in (200, 201)
    after = answer["version"]
    while not any(v >= after for v, _ in seen) and not errors:
        pass
    stop.set()
    for t in threads:
        t.join()
    assert not errors, errors
    assert all(allowed == (v >= after) for v, allowed in seen)
    d, v = live.evaluate("vm-a", "ingress", p)
    assert d.verdict == "allow" and v == live.version
    assert live.set_groups("vm-a", [group]) == live.version
    live.detach("vm-a")
    with pytest.raises(sgeval.LiveError) as e:
        live.detach("vm-a")
    assert e.value.field == "name"
    live.attach("vm-b", ["192.168.0.11"], [group])
    assert live.trace(Packet("203.0.113.7", "192.168.0.11", "tcp", 49152, 443))[0].verdict == "allow"
    empty = Live("gcore")
    assert empty.version == 0 and empty.cloud().provider == "gcore"


def test_the_batch_path_releases_the_gil():
    """Another Python thread runs while a batch is decided: the main thread's iterations
    fall inside the native call's time window (with the GIL held there would be none)."""
    import time

    c = Cloud.from_scenario(EX / "ecs-web-db.json")
    e = Engine(c)
    n = 200_000
    cols = dict(src=pa.array([0xCB007109] * n, pa.uint32()), dst=pa.array([0xAC10010A] * n, pa.uint32()),
                protocol=pa.array([6] * n, pa.uint8()), dst_port=pa.array([443] * n, pa.uint16()))
    args = ("web-1", "ingress", (cols["src"], cols["dst"], cols["protocol"], None, cols["dst_port"], None, None, None))
    window = []

    def work():
        for _ in range(3):
            t0 = time.perf_counter()
            e._native.evaluate_batch(*args)
            window.append((t0, time.perf_counter()))

    t = threading.Thread(target=work)
    ticks = []
    t.start()
    while t.is_alive():
        ticks.append(time.perf_counter())
    t.join()
    inside = [x for x in ticks if any(a + 0.001 < x < b - 0.001 for a, b in window)]
    longest = max(b - a for a, b in window)
    assert longest > 0.005, "the batch is too short to tell"
    assert len(inside) > 100, (len(inside), longest)


def test_answers_convert_to_pandas_rows():
    pandas = pytest.importorskip("pandas")  # installed by .ci/run
    c = Cloud.from_scenario(HUAWEI)
    r = c.reach("internet", "vm-a", proto="tcp", dport="443")
    frame = r.to_dataframe()
    assert isinstance(frame, pandas.DataFrame)
    assert len(frame) == len(r.regions)
    assert list(frame["verdict"]) == [reg.verdict for reg in r.regions]
    lint = Cloud.from_scenario(EX / "lint-huawei.json").lint()
    frame = lint.to_dataframe()
    assert list(frame["kind"]) == [f.kind for f in lint.findings]
    d = sgeval.diff(Cloud.from_scenario(EX / "diff-old.json"), Cloud.from_scenario(EX / "diff-new.json"))
    assert list(d.to_dataframe()["before"]) == [ch.before for ch in d.changes]
