"""Hypothesis strategies mirroring ``sgeval::strategy`` (the Rust proptest strategies).

What a provider accepts or refuses is never re-derived here: valid requests and whole
scenarios are drawn by the Rust strategies themselves on a seed Hypothesis chooses
(``create_group``, ``rule_call``, ``limit_call``, ``scenarios``); invalid requests come
from the invalid-request table the Rust corpus test sends to every front end, each with
the status and error code the provider must answer (``invalid_calls``); packets are aimed
at the edges the Rust side computes for a cloud (``packets``), drawn here so that
Hypothesis shrinks them field by field. Seeded draws shrink towards seed 0, not towards a
smaller request.

A suite of your own with the reference evaluator as the oracle::

    from hypothesis import given, settings, strategies as st
    import sgeval
    from sgeval import strategies as sgst

    def my_firewall(cloud, packet):          # your model; sgeval's compiled engine stands in
        return sgeval.Engine(cloud).trace(packet).verdict

    @settings(max_examples=25, deadline=None)
    @given(st.data())
    def test_my_firewall_agrees(data):
        cloud = data.draw(sgst.clouds("gcore"))
        for packet in data.draw(st.lists(sgst.packets(cloud), min_size=1, max_size=16)):
            assert my_firewall(cloud, packet) == cloud.trace(packet, engine="reference").verdict
"""

from __future__ import annotations

import json
from typing import Any, Dict, Optional

from hypothesis import strategies as st

from . import Cloud, Packet, _sgeval

__all__ = [
    "PROVIDERS",
    "clouds",
    "create_group",
    "invalid_calls",
    "invalid_setup",
    "limit_call",
    "packets",
    "providers",
    "rule_call",
    "scenarios",
]

#: The providers, as the scenario file names them.
PROVIDERS = ("ecs", "ens", "huawei", "gcore")

_SEEDS = st.integers(min_value=0, max_value=2**64 - 1)


def providers() -> st.SearchStrategy[str]:
    """One of :data:`PROVIDERS`."""
    return st.sampled_from(PROVIDERS)


def _sampled(kind: str, provider: str, group: Optional[str] = None,
             enterprise: Optional[bool] = None) -> st.SearchStrategy[Dict[str, Any]]:
    return _SEEDS.map(lambda seed: json.loads(_sgeval.sample(kind, provider, seed, group, enterprise)))


def create_group(provider: str, enterprise: Optional[bool] = None) -> st.SearchStrategy[Dict[str, Any]]:
    """Valid ``CreateSecurityGroup`` calls ``{"api", "request"}`` of ``provider``: names,
    descriptions and tags at their documented bounds; ``enterprise`` fixes the ECS group
    type (drawn otherwise)."""
    return _sampled("create_group", provider, enterprise=enterprise)


def rule_call(provider: str, group: str) -> st.SearchStrategy[Dict[str, Any]]:
    """Valid calls that add one rule to the existing group ``group`` (ECS: a basic group),
    every protocol, port and address form."""
    return _sampled("rule_call", provider, group=group)


def limit_call(provider: str, group: str) -> st.SearchStrategy[Dict[str, Any]]:
    """A valid call at the provider's documented maximum of rules (``rules``: how many it
    adds): ECS 100 ``Permissions``, ENS 200 inline, Huawei a 46-rule batch, Gcore 100."""
    return _sampled("limit_call", provider, group=group)


def scenarios(provider: Optional[str] = None) -> st.SearchStrategy[Dict[str, Any]]:
    """Whole valid scenarios (as dicts in the scenario file's shape): 1-4 groups, up to 12
    rules each with shared priorities, group references and both families, 1-5 endpoints.
    Every call succeeds and every endpoint attaches."""
    if provider is None:
        return providers().flatmap(lambda p: _sampled("scenario", p))
    return _sampled("scenario", provider)


def clouds(provider: Optional[str] = None) -> st.SearchStrategy[Cloud]:
    """Clouds built from :func:`scenarios`."""
    return scenarios(provider).map(Cloud.from_scenario)


def packets(cloud: Cloud) -> st.SearchStrategy[Packet]:
    """Packets aimed at ``cloud``'s edges, as ``sgeval::strategy::packet``: addresses among
    the endpoints' and the first, last and just-outside addresses of every prefix (one in
    thirteen across families), the usual protocols and the rules' own, ports at and beside
    every range end, the ICMP types rules name, codes 0-2, one in twenty established."""
    e = cloud.edges()
    v4, v6 = e["v4"], e["v6"]
    same = st.one_of(st.tuples(st.sampled_from(v4), st.sampled_from(v4)),
                     st.tuples(st.sampled_from(v6), st.sampled_from(v6)))
    across = st.tuples(st.sampled_from(v4), st.sampled_from(v6))
    pair = st.integers(0, 12).flatmap(lambda k: across if k == 0 else same)
    with_ports, icmp = set(e["with_ports"]), set(e["icmp"])

    @st.composite
    def packet(draw: Any) -> Packet:
        src, dst = draw(pair)
        protocol = draw(st.sampled_from(e["protocols"]))
        sport = draw(st.sampled_from(e["ports"]))
        dport = draw(st.sampled_from(e["ports"]))
        icmp_type = draw(st.sampled_from(e["icmp_types"]))
        icmp_code = draw(st.integers(0, 2))
        established = draw(st.integers(0, 19)) == 0
        ports = protocol in with_ports
        is_icmp = protocol in icmp
        return Packet(src, dst, protocol, src_port=sport if ports else 0, dst_port=dport if ports else 0,
                      icmp_type=icmp_type if is_icmp else 0, icmp_code=icmp_code if is_icmp else 0,
                      established=established)

    return packet()


def invalid_setup(provider: str) -> Dict[str, Any]:
    """The ``CreateSecurityGroup`` call whose group the invalid calls' rule calls name."""
    return json.loads(_sgeval.invalid_calls(provider, "$group"))["setup"]


def invalid_calls(provider: str, group: str) -> st.SearchStrategy[Dict[str, Any]]:
    """Invalid calls of ``provider`` against the existing group ``group`` (made by
    :func:`invalid_setup`'s call): ``{"api", "request", "status", "code", "mutation",
    "source"}``, where ``code`` is the error code the provider must answer and ``source``
    the SEMANTICS.md keys that document it."""
    rows = json.loads(_sgeval.invalid_calls(provider, group))["rows"]
    return st.sampled_from(rows)
