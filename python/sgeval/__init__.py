"""sgeval: cloud security groups (Alibaba ECS/ENS, Huawei VPC v3, Gcore v2), evaluated
exactly as each provider documents them.

The Rust library does the work (``sgeval._sgeval``); this layer gives it a Pythonic face:

- :class:`Cloud`: a cloud built from a scenario (``Cloud.from_scenario``), imported from
  your provider's describe/list output (``Cloud.import_``) or made call by call
  (``Cloud.empty`` + ``cloud.call``); the questions ``check``, ``why``, ``fix``,
  ``reach``, ``lint`` and the module function :func:`diff`.
- :class:`Engine`: the compiled engine, one packet at a time or a batch of Arrow arrays
  (zero-copy in, the GIL released while deciding).
- :class:`Live`: a cloud one thread changes while others evaluate.
- Answers are frozen dataclasses with ``to_dict()`` and ``to_rows()`` (flat dicts, one per
  row, for ``pandas.DataFrame``); errors derive from :class:`SgevalError`, with ``field``
  (the field they name) and ``code`` (the provider's error code, when a provider answered).
- ``sgeval.strategies``: Hypothesis strategies (valid requests, scenarios, packets at rule
  edges, invalid requests with the codes providers answer).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from . import _sgeval
from ._sgeval import (
    BuildError,
    EndpointError,
    ImportDocumentError,
    LiveError,
    PacketError,
    ProviderError,
    QueryError,
    ScenarioError,
    SgevalError,
)

__all__ = [
    "BatchResult",
    "BuildError",
    "Change",
    "Cloud",
    "Decision",
    "Diff",
    "Endpoint",
    "EndpointError",
    "Engine",
    "Exposure",
    "Finding",
    "Fix",
    "Flow",
    "Group",
    "Hop",
    "HopWhy",
    "ImportDocumentError",
    "Lint",
    "Live",
    "LiveError",
    "Miss",
    "Packet",
    "PacketError",
    "ProviderError",
    "QueryError",
    "Reach",
    "Region",
    "Rule",
    "ScenarioError",
    "SgevalError",
    "diff",
]

for _cls in (SgevalError, ScenarioError, ProviderError, PacketError, QueryError, EndpointError, BuildError,
             LiveError, ImportDocumentError):
    # Defaults for instances raised from Python; the native module sets them on its own.
    _cls.message = None  # type: ignore[attr-defined]
    _cls.field = None  # type: ignore[attr-defined]
    _cls.code = None  # type: ignore[attr-defined]
ScenarioError.failures = ()  # type: ignore[attr-defined]
ProviderError.status = None  # type: ignore[attr-defined]
ProviderError.body_json = "null"  # type: ignore[attr-defined]
ProviderError.body = property(lambda self: json.loads(self.body_json))  # type: ignore[attr-defined]

Proto = Union[str, int]
Json = Dict[str, Any]


def _flatten(value: Any, prefix: str, out: Dict[str, Any]) -> None:
    """Flat columns: nested dicts as ``a.b``, lists of scalars joined by ``,``, other lists
    as JSON text."""
    if isinstance(value, Mapping):
        for k, v in value.items():
            _flatten(v, f"{prefix}.{k}" if prefix else str(k), out)
    elif isinstance(value, (list, tuple)):
        if all(isinstance(v, (str, int, float, bool)) or v is None for v in value):
            out[prefix] = ",".join("" if v is None else str(v) for v in value)
        else:
            out[prefix] = json.dumps(value)
    else:
        out[prefix] = value


def _row(data: Mapping[str, Any]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    _flatten(data, "", out)
    return out


def _dataframe(rows: List[Dict[str, Any]]) -> Any:
    import pandas  # imported only when asked for

    return pandas.DataFrame(rows)


# ---------------------------------------------------------------------------------------
# Packets and decisions


@dataclass(frozen=True)
class Packet:
    """A packet as the engines see it: every field given (``check`` fills in defaults,
    this does not). ``protocol`` is a name (``tcp``) or a number."""

    src: str
    dst: str
    protocol: Proto
    src_port: int = 0
    dst_port: int = 0
    icmp_type: int = 0
    icmp_code: int = 0
    established: bool = False

    def _args(self) -> Tuple[str, str, str, int, int, int, int, bool]:
        return (str(self.src), str(self.dst), str(self.protocol), self.src_port, self.dst_port,
                self.icmp_type, self.icmp_code, self.established)

    def to_dict(self) -> Json:
        return {"src": str(self.src), "dst": str(self.dst), "protocol": self.protocol,
                "src_port": self.src_port, "dst_port": self.dst_port, "icmp_type": self.icmp_type,
                "icmp_code": self.icmp_code, "established": self.established}


@dataclass(frozen=True)
class Decision:
    """One endpoint's decision in one direction: ``verdict`` (``allow``/``deny``),
    ``reason`` (``rule``, ``intra_group``, ``default``, ``established``, ``mixed_family``),
    the label and words of what decided, and the deciding group and rule when there are."""

    verdict: str
    reason: str
    decided_by: str
    explanation: str
    group_id: Optional[str] = None
    rule_id: Optional[str] = None
    rule: Optional[Json] = None
    rule_index: int = -1
    data: Json = field(default_factory=dict, repr=False, compare=False)

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"

    @classmethod
    def _of(cls, data: Json, rule_index: int = -1) -> "Decision":
        return cls(verdict=data["verdict"], reason=data["reason"], decided_by=data["decided_by"],
                   explanation=data["explanation"], group_id=(data.get("group") or {}).get("id"),
                   rule_id=data.get("rule_id"), rule=data.get("rule"), rule_index=rule_index, data=data)

    def to_dict(self) -> Json:
        return dict(self.data)

    def to_row(self) -> Dict[str, Any]:
        return _row(self.data)


@dataclass(frozen=True)
class Hop:
    """One hop of a flow: the decision of ``endpoint`` in ``direction``; with an import's
    unresolved items, the verdicts it may have and what it depends on."""

    endpoint: str
    direction: str
    verdict: str
    reason: str
    decided_by: str
    explanation: str
    group_id: Optional[str] = None
    rule_id: Optional[str] = None
    rule: Optional[Json] = None
    possible_verdicts: Tuple[str, ...] = ()
    depends_on: Tuple[Json, ...] = ()

    @classmethod
    def _of(cls, h: Json) -> "Hop":
        return cls(endpoint=h["endpoint"], direction=h["direction"], verdict=h["verdict"], reason=h["reason"],
                   decided_by=h["decided_by"], explanation=h["explanation"],
                   group_id=(h.get("group") or {}).get("id"), rule_id=h.get("rule_id"), rule=h.get("rule"),
                   possible_verdicts=tuple(h.get("possible_verdicts", ())),
                   depends_on=tuple(h.get("depends_on", ())))


@dataclass(frozen=True)
class Flow:
    """A packet's way: the egress hop at its source endpoint, the ingress hop at its
    destination endpoint. ``verdict`` is ``allow``, ``deny`` or, when an imported
    scenario's unresolved items could give either, ``unresolved``."""

    verdict: str
    hops: Tuple[Hop, ...]
    packet: Json
    possible_verdicts: Tuple[str, ...] = ()
    depends_on: Tuple[Json, ...] = ()
    data: Json = field(default_factory=dict, repr=False, compare=False)

    @property
    def allowed(self) -> bool:
        return self.verdict == "allow"

    @property
    def rule_ids(self) -> Tuple[str, ...]:
        """The ids of the rules that decided, hop by hop (hops decided otherwise have none)."""
        return tuple(h.rule_id for h in self.hops if h.rule_id is not None)

    @classmethod
    def _of(cls, text: str) -> "Flow":
        d = json.loads(text)
        return cls(verdict=d["verdict"], hops=tuple(Hop._of(h) for h in d["hops"]), packet=d["packet"],
                   possible_verdicts=tuple(d.get("possible_verdicts", ())),
                   depends_on=tuple(d.get("depends_on", ())), data=d)

    def to_dict(self) -> Json:
        """As ``sgeval check --json`` prints it."""
        return json.loads(json.dumps(self.data))

    def to_rows(self) -> List[Dict[str, Any]]:
        """One flat row per hop, with the flow's verdict and packet."""
        base = {"flow_verdict": self.verdict, **{f"packet.{k}": v for k, v in self.packet.items()}}
        return [{**base, **_row(h)} for h in self.data["hops"]]


@dataclass(frozen=True)
class Miss:
    """A rule of a hop that did not decide, and why (the first field it failed)."""

    rule_id: str
    group_id: str
    why: Json
    detail: str


@dataclass(frozen=True)
class HopWhy:
    """Every other rule of one hop and why it did not decide."""

    endpoint: str
    direction: str
    misses: Tuple[Miss, ...]

    def to_dict(self) -> Json:
        return {"endpoint": self.endpoint, "direction": self.direction,
                "misses": [m.__dict__.copy() for m in self.misses]}

    def to_rows(self) -> List[Dict[str, Any]]:
        return [_row({"endpoint": self.endpoint, "direction": self.direction, **m.__dict__}) for m in self.misses]


@dataclass(frozen=True)
class Fix:
    """The smallest single-rule change that flips a flow's verdict: where, in words, and
    as the provider's own call (``call`` with the cloud's ids, ``scenario_call`` naming
    groups by the scenario's ``$ref``s)."""

    endpoint: str
    direction: str
    summary: str
    call: Json
    scenario_call: Json
    data: Json = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> Json:
        return json.loads(json.dumps(self.data))


# ---------------------------------------------------------------------------------------
# What-if answers


@dataclass(frozen=True)
class Region:
    """A region of the header space with one verdict and the same deciding rules: CIDRs,
    protocol and port ranges (``[lo, hi]``), hops and a witness packet."""

    verdict: str
    family: str
    src: Tuple[str, ...]
    dst: Tuple[str, ...]
    protocols: Tuple[Tuple[int, int], ...]
    src_ports: Tuple[Tuple[int, int], ...]
    dst_ports: Tuple[Tuple[int, int], ...]
    hops: Tuple[Json, ...]
    witness: Json
    unresolved: Tuple[Json, ...] = ()
    data: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def _of(cls, r: Json) -> "Region":
        return cls(verdict=r["verdict"], family=r["family"], src=tuple(r["src"]), dst=tuple(r["dst"]),
                   protocols=tuple(tuple(x) for x in r["protocols"]),
                   src_ports=tuple(tuple(x) for x in r["src_ports"]),
                   dst_ports=tuple(tuple(x) for x in r["dst_ports"]), hops=tuple(r["hops"]),
                   witness=r["witness"], unresolved=tuple(r.get("unresolved", ())), data=r)

    def to_dict(self) -> Json:
        return json.loads(json.dumps(self.data))

    def to_row(self) -> Dict[str, Any]:
        return _row(self.data)


@dataclass(frozen=True)
class Exposure:
    """How much of a verdict there is, per family: exact counts (addresses up to 2**128)."""

    verdict: str
    family: str
    regions: int
    src_addresses: int
    dst_addresses: int
    protocols: int
    src_ports: int
    dst_ports: int

    @classmethod
    def _of(cls, e: Json) -> "Exposure":
        return cls(verdict=e["verdict"], family=e["family"], regions=int(e["regions"]),
                   src_addresses=int(e["src_addresses"]), dst_addresses=int(e["dst_addresses"]),
                   protocols=int(e["protocols"]), src_ports=int(e["src_ports"]), dst_ports=int(e["dst_ports"]))

    def to_dict(self) -> Json:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Reach:
    """The exact partition of the traffic from X to Y into allowed and denied regions."""

    mode: str
    regions: Tuple[Region, ...]
    exposure: Tuple[Exposure, ...]
    data: Json = field(default_factory=dict, repr=False, compare=False)

    def allowed(self) -> Tuple[Region, ...]:
        return tuple(r for r in self.regions if r.verdict == "allow")

    def to_dict(self) -> Json:
        """As ``sgeval reach --json`` prints it."""
        return json.loads(json.dumps(self.data))

    def to_rows(self) -> List[Dict[str, Any]]:
        return [r.to_row() for r in self.regions]

    def to_dataframe(self) -> Any:
        """The regions as a pandas DataFrame (needs pandas)."""
        return _dataframe(self.to_rows())


@dataclass(frozen=True)
class Change:
    """A region whose verdict differs between two clouds, with both sides' hops and a
    witness packet."""

    src: str
    dst: str
    before: str
    after: str
    family: str
    witness: Json
    data: Json = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> Json:
        return json.loads(json.dumps(self.data))

    def to_row(self) -> Dict[str, Any]:
        return _row(self.data)


@dataclass(frozen=True)
class Diff:
    """Every region whose verdict changes; ``equivalent`` when there is none (proven)."""

    mode: str
    equivalent: bool
    changes: Tuple[Change, ...]
    data: Json = field(default_factory=dict, repr=False, compare=False)

    def to_dict(self) -> Json:
        """As ``sgeval diff --json`` prints it."""
        return json.loads(json.dumps(self.data))

    def to_rows(self) -> List[Dict[str, Any]]:
        return [c.to_row() for c in self.changes]

    def to_dataframe(self) -> Any:
        return _dataframe(self.to_rows())


@dataclass(frozen=True)
class Finding:
    """A lint finding: kind (``shadowed``, ``redundant``, ``widened``, ...), severity,
    where, and the rule and the rules related to it."""

    kind: str
    severity: str
    message: str
    group: Optional[str]
    rule_id: Optional[str]
    endpoints: Tuple[str, ...]
    direction: Optional[str]
    acknowledged: Optional[Any]
    unresolved: Tuple[Json, ...] = ()
    data: Json = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def _of(cls, f: Json) -> "Finding":
        rule = f.get("rule") or {}
        return cls(kind=f["kind"], severity=f["severity"], message=f.get("message", ""), group=f.get("group"),
                   rule_id=rule.get("rule") if isinstance(rule, dict) else None,
                   endpoints=tuple(f.get("endpoints") or ()), direction=f.get("direction"),
                   acknowledged=f.get("acknowledged"), unresolved=tuple(f.get("unresolved", ())), data=f)

    def to_dict(self) -> Json:
        return json.loads(json.dumps(self.data))

    def to_row(self) -> Dict[str, Any]:
        return _row(self.data)


@dataclass(frozen=True)
class Lint:
    """Every finding, their counts by kind, and acknowledgements that named no finding."""

    findings: Tuple[Finding, ...]
    counts: Dict[str, int]
    stale: Tuple[Json, ...] = ()
    data: Json = field(default_factory=dict, repr=False, compare=False)

    def warnings(self) -> Tuple[Finding, ...]:
        """Unacknowledged findings of severity ``warning`` (what ``lint --strict`` fails on)."""
        return tuple(f for f in self.findings if f.severity == "warning" and f.acknowledged is None)

    def to_dict(self) -> Json:
        """As ``sgeval lint --json`` prints it (plus ``stale``)."""
        return json.loads(json.dumps(self.data))

    def to_rows(self) -> List[Dict[str, Any]]:
        return [f.to_row() for f in self.findings]

    def to_dataframe(self) -> Any:
        return _dataframe(self.to_rows())


# ---------------------------------------------------------------------------------------
# The cloud


@dataclass(frozen=True)
class Rule:
    """A rule as the cloud holds it: ``shown`` is the rule in the provider's own fields."""

    id: str
    direction: str
    action: str
    priority: int
    enabled: bool
    description: str
    text: str
    shown: Json


@dataclass(frozen=True)
class Group:
    """A security group and its rules, read-only."""

    id: str
    name: str
    description: str
    kind: Any
    rules: Tuple[Rule, ...]
    shown: Json


@dataclass(frozen=True)
class Endpoint:
    """An endpoint (NIC): its addresses and its groups' ids in association order."""

    name: str
    ips: Tuple[str, ...]
    groups: Tuple[str, ...]


def _scenario_text(scenario: Union[str, os.PathLike, Mapping[str, Any]]) -> str:
    if isinstance(scenario, Mapping):
        return json.dumps(scenario)
    with open(scenario, encoding="utf-8") as f:
        return f.read()


def _request(provider: str, request: Optional[Mapping[str, Any]], path: Optional[str]) -> str:
    """A request: ``{"params"|"body"|"path": ...}`` as given, or bare parameters (ECS, ENS)
    or a bare body (Huawei, Gcore)."""
    request = dict(request or {})
    if request and set(request) <= {"params", "body", "path"}:
        out = request
    elif provider in ("ecs", "ens"):
        out = {"params": request}
    else:
        out = {"body": request}
    if path is not None:
        out["path"] = path
    return json.dumps(out)


class Cloud:
    """An emulated cloud of one provider: groups, rules and endpoints, changed only
    through provider calls."""

    def __init__(self, native: "_sgeval.NativeCloud", scenario: Optional[Json] = None,
                 imported: Optional[Json] = None) -> None:
        self._native = native
        #: The scenario the cloud was built from, when it was.
        self.scenario = scenario
        #: For an imported cloud: ``unresolved``, ``skipped`` and ``notes`` of the import.
        self.imported = imported

    @classmethod
    def from_scenario(cls, scenario: Union[str, os.PathLike, Mapping[str, Any]]) -> "Cloud":
        """The cloud a scenario describes: a path to a scenario file, or the scenario as a
        dict. Raises :class:`ScenarioError` naming the field (``field``) and, when a call
        failed, the provider's code (``code``)."""
        text = _scenario_text(scenario)
        return cls(_sgeval.NativeCloud.from_scenario_json(text), scenario=json.loads(text))

    @classmethod
    def empty(cls, provider: str, options: Optional[Mapping[str, Any]] = None) -> "Cloud":
        """An empty cloud of ``provider`` (``ecs``, ``ens``, ``huawei``, ``gcore``)."""
        return cls(_sgeval.NativeCloud.empty(provider, None if options is None else json.dumps(options)))

    @classmethod
    def import_(cls, paths: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]], *,
                provider: Optional[str] = None, format: Optional[str] = None,
                accept_v1: bool = False) -> "Cloud":
        """Your cloud from its describe/list output (files, directories, JSON-lines
        bundles), as ``sgeval import`` reads it, under the real ids. What the documents do
        not settle is kept as unresolved items (``cloud.imported["unresolved"]``), and the
        answers that depend on them say so."""
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        out = json.loads(_sgeval.import_paths([os.fspath(p) for p in paths], provider, format, accept_v1))
        scenario = out.pop("scenario")
        return cls(_sgeval.NativeCloud.from_scenario_json(json.dumps(scenario)), scenario=scenario, imported=out)

    @property
    def provider(self) -> str:
        """``ecs``, ``ens``, ``huawei`` or ``gcore``."""
        return self._native.provider()

    @property
    def refs(self) -> Dict[str, str]:
        """The id each scenario ``ref`` stands for."""
        return self._native.refs()

    def call(self, api: str, request: Optional[Mapping[str, Any]] = None, *, path: Optional[str] = None,
             check: bool = False) -> Json:
        """One provider call; the provider's answer as a dict: ``status``, ``body``,
        ``created`` (the id a create call made) and ``code`` (the error code of an error
        answer). ``request`` is the parameters (ECS, ENS) or the body (Huawei, Gcore), or
        ``{"params"|"body"|"path": ...}``. An error answer changes nothing; with
        ``check=True`` it raises :class:`ProviderError` (``code``, ``status``, ``body``)."""
        return json.loads(self._native.call(api, _request(self.provider, request, path), check))

    def attach(self, name: str, ips: Iterable[str], groups: Iterable[str]) -> Endpoint:
        """Attaches an endpoint with its addresses and groups (ids, association order)."""
        i = self._native.attach(name, [str(a) for a in ips], list(groups))
        return self.endpoints[i]

    @property
    def endpoints(self) -> Tuple[Endpoint, ...]:
        """Every endpoint, in the order attached."""
        return tuple(Endpoint(e["name"], tuple(e["ips"]), tuple(e["groups"]))
                     for e in json.loads(self._native.endpoints_json()))

    @property
    def groups(self) -> Tuple[Group, ...]:
        """Every group with its rules."""
        return tuple(Group(id=g["id"], name=g["name"], description=g["description"], kind=g["kind"],
                           rules=tuple(Rule(**r) for r in g["rules"]), shown=g["shown"])
                     for g in json.loads(self._native.groups_json()))

    def endpoint(self, name: str) -> Endpoint:
        """The endpoint named ``name`` (KeyError when none is)."""
        for e in self.endpoints:
            if e.name == name:
                return e
        raise KeyError(name)

    def group(self, id: str) -> Group:
        """The group with provider id ``id`` (KeyError when none has it)."""
        for g in self.groups:
            if g.id == id:
                return g
        raise KeyError(id)

    def check(self, src: str, dst: str, proto: Proto, dport: Optional[int] = None, *,
              sport: Optional[int] = None, icmp_type: Optional[int] = None, icmp_code: Optional[int] = None,
              established: bool = False, family: Optional[str] = None, engine: str = "compiled") -> Flow:
        """One packet, as ``sgeval check``: sides are endpoint names or addresses; ports
        and ICMP type/code default as the CLI's (source port 49152, echo request)."""
        return Flow._of(self._native.check(_spec(src, dst, proto, dport, sport, icmp_type, icmp_code,
                                                 established, family), engine))

    def trace(self, packet: Packet, *, engine: str = "reference") -> Flow:
        """A raw packet's flow (no defaults filled in), by the reference evaluator (the
        oracle) or the compiled engine."""
        return Flow._of(self._native.trace(packet._args(), engine))

    def why(self, src: str, dst: str, proto: Proto, dport: Optional[int] = None, *,
            sport: Optional[int] = None, icmp_type: Optional[int] = None, icmp_code: Optional[int] = None,
            established: bool = False, family: Optional[str] = None) -> Tuple[HopWhy, ...]:
        """For each hop, every rule that did not decide and the first field it failed."""
        hops = json.loads(self._native.why(_spec(src, dst, proto, dport, sport, icmp_type, icmp_code,
                                                 established, family)))
        return tuple(HopWhy(h["endpoint"], h["direction"],
                            tuple(Miss(m["rule_id"], m["group_id"], m["why"], m["detail"]) for m in h["misses"]))
                     for h in hops)

    def fix(self, src: str, dst: str, proto: Proto, dport: Optional[int] = None, *,
            sport: Optional[int] = None, icmp_type: Optional[int] = None, icmp_code: Optional[int] = None,
            established: bool = False, family: Optional[str] = None) -> Optional[Fix]:
        """The smallest single-rule change that flips the verdict, or None."""
        d = json.loads(self._native.fix(_spec(src, dst, proto, dport, sport, icmp_type, icmp_code,
                                              established, family)))
        if d is None:
            return None
        return Fix(endpoint=d["endpoint"], direction=d["direction"], summary=d["summary"], call=d["call"],
                   scenario_call=d["scenario_call"], data=d)

    def reach(self, src: str = "any", dst: str = "any", *, proto: Optional[str] = None,
              dport: Optional[str] = None, sport: Optional[str] = None, mode: str = "new") -> Reach:
        """The exact reachability map from ``src`` to ``dst`` (endpoint names, addresses,
        CIDRs, ``internet``, ``any``, lists, ``!`` exclusions); ``proto`` like
        ``"tcp,udp"``, ports like ``"22,80-90"``; ``mode`` ``new``, ``established`` or
        ``round_trip``."""
        d = json.loads(self._native.reach(src, dst, _text(proto), _text(dport), _text(sport), mode))
        return Reach(mode=d["mode"], regions=tuple(Region._of(r) for r in d["regions"]),
                     exposure=tuple(Exposure._of(e) for e in d["exposure"]), data=d)

    def lint(self, acks: Iterable[Mapping[str, str]] = ()) -> Lint:
        """Rules that never decide, redundant rules, conflicts, provider traps; ``acks``
        (``{"kind", "subject", "reason"}``) acknowledge findings as ``--ack`` does."""
        d = json.loads(self._native.lint(json.dumps(list(acks))))
        return Lint(findings=tuple(Finding._of(f) for f in d["findings"]), counts=d["counts"],
                    stale=tuple(d.get("stale", ())), data=d)

    def edges(self) -> Json:
        """The addresses (``v4``, ``v6``), ports, protocols and ICMP types where this
        cloud's decisions change (what ``sgeval.strategies.packets`` aims at)."""
        return json.loads(self._native.edges())

    def __repr__(self) -> str:
        return repr(self._native)


def _text(v: Union[None, str, int, Iterable[Any]]) -> Optional[str]:
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, int):
        return str(v)
    return ",".join(str(x) for x in v)


def diff(old: Cloud, new: Cloud, src: str = "any", dst: str = "any", *, proto: Optional[str] = None,
         dport: Optional[str] = None, sport: Optional[str] = None, mode: str = "new") -> Diff:
    """Every region whose verdict differs between two clouds (``sgeval diff``); empty
    ``changes`` means proven equivalent."""
    d = json.loads(_sgeval.diff(old._native, new._native, src, dst, _text(proto), _text(dport), _text(sport), mode))
    changes = tuple(Change(src=c["from"], dst=c["to"], before=c["before"], after=c["after"], family=c["family"],
                           witness=c["witness"], data=c) for c in d["changes"])
    return Diff(mode=d["mode"], equivalent=d["equivalent"], changes=changes, data=d)


# ---------------------------------------------------------------------------------------
# Engines


@dataclass(frozen=True)
class BatchResult:
    """The answers of a batch, one per packet, as pyarrow arrays: ``verdict`` (bool, True
    = allow), ``rule`` (int32: index into ``rule_ids``, -1 when no rule decided) and
    ``reason`` (uint8: 0 rule, 1 ECS intra-group policy, 2 provider default, 3 established,
    4 mixed families)."""

    verdict: Any
    rule: Any
    reason: Any
    rule_ids: Tuple[str, ...]
    version: Optional[int] = None

    REASONS = ("rule", "intra_group", "default", "established", "mixed_family")

    def to_record_batch(self) -> Any:
        import pyarrow as pa

        return pa.RecordBatch.from_arrays([self.verdict, self.rule, self.reason], names=["verdict", "rule", "reason"])

    def rule_id(self, i: int) -> Optional[str]:
        """The id of the rule that decided packet ``i``, or None."""
        r = self.rule[i].as_py()
        return None if r < 0 else self.rule_ids[r]


_COLUMNS = ("src", "dst", "protocol", "src_port", "dst_port", "icmp_type", "icmp_code", "established")
_TYPES = {"protocol": "uint8", "src_port": "uint16", "dst_port": "uint16", "icmp_type": "uint8",
          "icmp_code": "uint8", "established": "bool_"}


def _columns(batch: Any, columns: Mapping[str, Any]) -> Dict[str, Any]:
    """The packet columns from a RecordBatch/Table (by name) and/or keyword arrays;
    integer columns of another type are cast (a copy; give uint8/uint16 for zero-copy)."""
    import pyarrow as pa

    got: Dict[str, Any] = {}
    if batch is not None:
        names = batch.schema.names
        unknown = [n for n in names if n not in _COLUMNS]
        if unknown:
            raise PacketError(f"unknown column(s) {unknown}: expected some of {list(_COLUMNS)}")
        for n in names:
            col = batch.column(n)
            got[n] = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    for k, v in columns.items():
        if k not in _COLUMNS:
            raise PacketError(f"unknown column `{k}`: expected some of {list(_COLUMNS)}")
        if v is not None:
            got[k] = v
    for k in ("src", "dst", "protocol"):
        if k not in got:
            e = PacketError(f"`{k}` is missing: a batch needs src, dst and protocol")
            e.field = k
            raise e
    for k, v in list(got.items()):
        if not isinstance(v, (pa.Array, pa.ChunkedArray)):
            v = pa.array(v)
        if isinstance(v, pa.ChunkedArray):
            v = v.combine_chunks()
        want = _TYPES.get(k)
        if want is not None and v.type != getattr(pa, want)():
            v = v.cast(getattr(pa, want)())  # raises ArrowInvalid when a value does not fit
        got[k] = v
    return got


def _spec(src: str, dst: str, proto: Proto, dport: Optional[int], sport: Optional[int],
          icmp_type: Optional[int], icmp_code: Optional[int], established: bool,
          family: Optional[str]) -> Tuple[Any, ...]:
    """What the native check, why and fix take: one tuple."""
    return (str(src), str(dst), str(proto), dport, sport, icmp_type, icmp_code, established, family)


def _batch_args(got: Mapping[str, Any]) -> Tuple[Any, ...]:
    return tuple(got.get(k) for k in _COLUMNS)


class Engine:
    """The compiled engine over a cloud as it is now (build another after changing the
    cloud). Gives the reference evaluator's decision on every input."""

    def __init__(self, cloud: Cloud) -> None:
        self._native = _sgeval.NativeEngine(cloud._native)
        self.rule_ids: Tuple[str, ...] = tuple(self._native.rule_ids())

    def memory_usage(self) -> int:
        """Bytes the compiled tables take."""
        return self._native.memory_usage()

    def evaluate(self, endpoint: str, direction: str, packet: Packet) -> Decision:
        """The decision of ``endpoint``'s groups for ``packet`` in ``direction``."""
        d, i = self._native.evaluate(endpoint, direction, packet._args())
        return Decision._of(json.loads(d), i)

    def evaluate_reference(self, endpoint: str, direction: str, packet: Packet) -> Decision:
        """The same question answered by the reference evaluator (the oracle)."""
        d, i = self._native.evaluate_reference(endpoint, direction, packet._args())
        return Decision._of(json.loads(d), i)

    def trace(self, packet: Packet) -> Flow:
        """``packet``'s flow decided by this engine."""
        return Flow._of(self._native.trace(packet._args()))

    def evaluate_batch(self, endpoint: str, direction: str, batch: Any = None, **columns: Any) -> BatchResult:
        """Decides many packets at one endpoint and direction. Columns come from ``batch``
        (a pyarrow RecordBatch or Table) or as keyword arrays: ``src``, ``dst`` (uint32
        IPv4, fixed_size_binary(16) IPv6, or strings), ``protocol`` (uint8), and optional
        ``src_port``, ``dst_port`` (uint16), ``icmp_type``, ``icmp_code`` (uint8),
        ``established`` (bool). Arrays of these types are read in place (Arrow C data
        interface), and the GIL is released while deciding."""
        got = _columns(batch, columns)
        verdict, rule, reason = self._native.evaluate_batch(endpoint, direction, _batch_args(got))
        return BatchResult(verdict, rule, reason, self.rule_ids)


class Live:
    """A cloud that one thread changes (``call``, ``attach``, ``set_groups``, ``detach``)
    while others evaluate: every evaluation reads one consistent snapshot, never a
    half-applied change, and releases the GIL while it works."""

    def __init__(self, provider: str, options: Optional[Mapping[str, Any]] = None) -> None:
        self._native = _sgeval.NativeLive(provider, None if options is None else json.dumps(options))
        self._provider = provider

    @classmethod
    def from_scenario(cls, scenario: Union[str, os.PathLike, Mapping[str, Any]]) -> "Live":
        """The state a scenario describes, as version 0."""
        text = _scenario_text(scenario)
        live = cls.__new__(cls)
        live._native = _sgeval.NativeLive.from_scenario_json(text)
        live._provider = json.loads(text)["provider"]
        return live

    @property
    def version(self) -> int:
        """The current version: 0 at the start, one more per change published."""
        return self._native.version()

    def call(self, api: str, request: Optional[Mapping[str, Any]] = None, *, path: Optional[str] = None) -> Json:
        """Applies one provider call and publishes the state; the answer as
        :meth:`Cloud.call` gives it, plus ``version``."""
        answer, version = self._native.call(api, _request(self._provider, request, path))
        out = json.loads(answer)
        out["version"] = version
        return out

    def attach(self, name: str, ips: Iterable[str], groups: Iterable[str]) -> int:
        """Attaches an endpoint; the version published."""
        return self._native.attach(name, [str(a) for a in ips], list(groups))

    def set_groups(self, name: str, groups: Iterable[str]) -> int:
        """Replaces an endpoint's groups (ids, association order); the version published."""
        return self._native.set_groups(name, list(groups))

    def detach(self, name: str) -> int:
        """Removes an endpoint; the version published."""
        return self._native.detach(name)

    def cloud(self) -> Cloud:
        """The current state as a :class:`Cloud` of its own (for the what-if queries)."""
        return Cloud(self._native.cloud())

    def trace(self, packet: Packet) -> Tuple[Flow, int]:
        """``packet``'s flow in the current state, and that state's version."""
        f, v = self._native.trace(packet._args())
        return Flow._of(f), v

    def evaluate(self, endpoint: str, direction: str, packet: Packet) -> Tuple[Decision, int]:
        """One decision in the current state, and that state's version."""
        d, v = self._native.evaluate(endpoint, direction, packet._args())
        return Decision._of(json.loads(d)), v

    def evaluate_batch(self, endpoint: str, direction: str, batch: Any = None, **columns: Any) -> BatchResult:
        """As :meth:`Engine.evaluate_batch`, every packet in one snapshot (``version``)."""
        got = _columns(batch, columns)
        (verdict, rule, reason), version, rule_ids = self._native.evaluate_batch(endpoint, direction,
                                                                                 _batch_args(got))
        return BatchResult(verdict, rule, reason, tuple(rule_ids), version)
