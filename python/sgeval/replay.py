"""Replaying flow logs from Python: the engine of ``sgeval replay`` over Arrow batches.

A :class:`Replayer` compiles a scenario (and, to see what a change would break, the new
version replayed against) once, then judges Arrow record batches of flow records: with
per-row verdict columns (:meth:`Replayer.evaluate`) or only into an :class:`Accumulator`
(:meth:`Replayer.accumulate`, :meth:`Replayer.accumulate_lines` for text lines read as
``sgeval replay`` reads Huawei logs and JSON lines). Accumulators of parts of the input
serialize (:meth:`Accumulator.to_json`) and merge; :meth:`Replayer.report` settles the
connection state of the whole and gives the report ``sgeval replay`` gives, whatever the
split. :mod:`sgeval.spark` runs this on Spark.

Columns are found by name: Alibaba Cloud's flow-log field names by default (``eni-id``,
``srcaddr``, ``srcport``, ``dstaddr``, ``dstport``, ``protocol``, ``direction``,
``packets``, ``bytes``, ``start``, ``end``, ``action``, ``log-status``), others mapped with
``columns="src=source_ip,dst=dest_ip,..."`` as ``sgeval replay --columns`` does.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Union

from . import _sgeval

ReplayError = _sgeval.ReplayError

__all__ = ["Accumulator", "ReplayError", "ReplayReport", "Replayer", "scenario_text"]

Scenario = Union[str, "os.PathLike[str]", Mapping[str, Any]]


def scenario_text(scenario: Scenario) -> str:
    """A scenario as JSON text: a mapping is dumped, text starting with ``{`` is taken as
    it is, anything else is a path to read."""
    if isinstance(scenario, Mapping):
        return json.dumps(scenario)
    if isinstance(scenario, str) and scenario.lstrip().startswith("{"):
        return scenario
    with open(os.fspath(scenario), encoding="utf-8") as f:
        return f.read()


class Accumulator:
    """What a replay has counted so far: counts, grouped rows and connection state,
    mergeable and serializable (to ship from Spark executors to the driver)."""

    __slots__ = ("_native",)

    def __init__(self, native: Any) -> None:
        self._native = native

    def to_json(self) -> str:
        """The accumulator as JSON text."""
        return self._native.to_json()

    @classmethod
    def from_json(cls, text: str) -> "Accumulator":
        """An accumulator from :meth:`to_json`'s text (raises :class:`ReplayError`)."""
        return cls(_sgeval.NativeAccumulator.from_json(text))

    def merge(self, other: "Accumulator") -> None:
        """Adds ``other``'s counts, groups and connection state to this one; ``other`` is
        emptied."""
        self._native.merge(other._native)

    def counts(self) -> Dict[str, int]:
        """The counts so far (replies not yet settled as established)."""
        return json.loads(self._native.counts_json())


@dataclass(frozen=True)
class ReplayReport:
    """A replay's report: ``summary`` is the object ``sgeval replay --json`` prints
    (integer counts ``records``, ``agreements``, ``disagreements``, ``unplaced``, with
    ``against`` ``changed`` and ``broken``, beside the grouped rows), ``text`` what it
    prints without ``--json``."""

    summary: Dict[str, Any]
    text: str

    @property
    def breaks(self) -> bool:
        """Whether the change replayed against denies traffic the logs show accepted
        (``sgeval replay --against`` exits 3)."""
        return int(self.summary.get("broken", 0)) > 0


class Replayer:
    """The compiled engine(s) of ``scenario`` and, when given, of ``against`` (a path,
    JSON text or a mapping each), judging Arrow batches of flow records.

    ``columns`` maps fields to column names (``sgeval replay --columns``);
    ``state_capacity`` bounds the connection-state entries per configuration."""

    __slots__ = ("_native", "scenario_json", "against_json", "columns", "state_capacity")

    def __init__(
        self,
        scenario: Scenario,
        against: Optional[Scenario] = None,
        *,
        columns: Optional[str] = None,
        state_capacity: Optional[int] = None,
    ) -> None:
        self.scenario_json = scenario_text(scenario)
        self.against_json = None if against is None else scenario_text(against)
        self.columns = columns
        self.state_capacity = state_capacity
        self._native = _sgeval.NativeReplayer(
            self.scenario_json, self.against_json, columns, state_capacity
        )

    @property
    def has_against(self) -> bool:
        """Whether a second configuration is replayed against."""
        return self._native.has_against

    def accumulator(self) -> Accumulator:
        """An empty accumulator."""
        return Accumulator(self._native.accumulator())

    def evaluate(self, batch: Any, acc: Optional[Accumulator] = None, *, skip_bad: bool = False) -> Any:
        """Judges a ``pyarrow.RecordBatch`` (into ``acc`` when given) and returns the
        per-row columns as a ``pyarrow.RecordBatch``: ``sgeval_status`` (``judged``,
        ``pending`` for a denied record the report may settle as an established reply,
        ``unplaced:<reason>``, ``undetermined``, ``nodata``, ``skipdata``, ``bad``),
        ``sgeval_verdict`` and ``sgeval_rule`` (as a new connection), with ``against``
        ``sgeval_against_verdict`` and ``sgeval_against_rule``, and ``sgeval_agrees``."""
        native = (acc or self.accumulator())._native
        return self._native.evaluate(batch, native, skip_bad)

    def accumulate(
        self,
        batch: Any,
        acc: Accumulator,
        *,
        skip_bad: bool = False,
        file_column: Optional[str] = None,
        file: str = "<batch>",
    ) -> int:
        """Judges a ``pyarrow.RecordBatch`` into ``acc``; malformed rows name the file of
        column ``file_column`` (or ``file``). Returns the rows read."""
        return self._native.accumulate(batch, acc._native, skip_bad, file_column, file)

    def accumulate_lines(
        self,
        batch: Any,
        acc: Accumulator,
        format: str,
        *,
        skip_bad: bool = False,
        file_column: Optional[str] = None,
        file: str = "<batch>",
        column: str = "value",
    ) -> int:
        """Judges a ``pyarrow.RecordBatch`` of text lines (column ``column``) into ``acc``,
        each read as ``sgeval replay`` reads a file of ``format``: ``huawei`` or ``jsonl``.
        Returns the lines read."""
        return self._native.accumulate_lines(batch, acc._native, format, skip_bad, file_column, file, column)

    def replay_part(
        self, path: str, format: str, start: int, end: int, acc: Accumulator, *, skip_bad: bool = False
    ) -> None:
        """Reads part of a flow-log file with ``sgeval replay``'s own readers and judges
        it into ``acc``: rows ``start:end`` of a Parquet file (``format`` ``parquet``), or
        the lines that start in bytes ``start:end`` of a ``csv``, ``jsonl`` or ``huawei``
        file (parts that tile a file read every line once). Malformed rows keep their file
        and line (or row) numbers; with ``skip_bad`` they are counted and listed."""
        self._native.replay_part(os.fspath(path), format, start, end, acc._native, skip_bad)

    def report(self, acc: Accumulator, *, lines: bool = True) -> ReplayReport:
        """Settles the connection state of everything in ``acc`` (which is emptied) and
        gives the report. Without ``lines`` the malformed rows listed carry no line
        number (``line`` null)."""
        summary, text = self._native.report(acc._native, lines)
        return ReplayReport(json.loads(summary), text)
