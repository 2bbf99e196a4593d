"""sgeval.replay without Spark: Arrow batches judged in parts, accumulators shipped as JSON
and merged, give the report `sgeval replay --json` gives on the same file."""

from __future__ import annotations

import json

import pytest

pa = pytest.importorskip("pyarrow")
import pyarrow.csv as pacsv  # noqa: E402

from replay_common import FIELDS, FLOWLOGS, cli_replay, comparable, generate_alibaba_csv  # noqa: E402
from sgeval import ScenarioError  # noqa: E402
from sgeval.replay import Accumulator, ReplayError, Replayer  # noqa: E402

SCENARIO = FLOWLOGS / "alibaba-scenario.json"
NEW = FLOWLOGS / "alibaba-scenario-new.json"


def strings_table(path):
    types = {name: pa.string() for name in FIELDS}
    return pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(column_types=types, strings_can_be_null=True),
    )


def split_report(replayer, table, pieces, skip_bad=False):
    """Judges `table` in `pieces` batches, each into its own accumulator sent through JSON,
    merged in reverse order (the order must not matter)."""
    step = max(1, -(-table.num_rows // pieces))
    parts = []
    for batch in table.to_batches(max_chunksize=step):
        acc = replayer.accumulator()
        replayer.accumulate(batch, acc, skip_bad=skip_bad, file="f.csv")
        parts.append(acc.to_json())
    total = replayer.accumulator()
    for text in reversed(parts):
        total.merge(Accumulator.from_json(text))
    return replayer.report(total, lines=False)


@pytest.mark.parametrize("against", [None, NEW])
def test_fixture_split_in_batches_gives_the_cli_report(against):
    args = [str(SCENARIO), str(FLOWLOGS / "alibaba.csv")]
    if against:
        args += ["--against", str(against)]
    code, cli, _ = cli_replay(args)
    assert code == (3 if against else 0)
    replayer = Replayer(SCENARIO, against)
    table = strings_table(FLOWLOGS / "alibaba.csv")
    for pieces in (1, 4, table.num_rows):
        report = split_report(replayer, table, pieces)
        assert report.summary == cli, pieces
        assert report.breaks == bool(against)
    # The hand-checked counts of the fixture README, so the comparison is not vacuous.
    assert (cli["records"], cli["agreements"], cli["disagreements"], cli["unplaced"]) == (13, 11, 1, 1)
    assert cli["established"] == 1


def test_a_generated_log_split_anyhow_gives_the_cli_report(tmp_path):
    path = tmp_path / "gen.csv"
    generate_alibaba_csv(path, 3000, seed=7, bad=5)
    code, cli, _ = cli_replay([str(SCENARIO), str(path), "--against", str(NEW), "--skip-bad"])
    assert code in (0, 3)
    assert cli["skipped"] == 5 and cli["established"] > 0 and cli["disagreements"] > 0
    replayer = Replayer(SCENARIO, NEW)
    table = strings_table(path)
    for pieces in (1, 7, 64):
        report = split_report(replayer, table, pieces, skip_bad=True)
        got = comparable(report.summary)
        want = comparable(cli)
        # The CLI names the file it read; these batches were named f.csv.
        want["bad_rows"] = [("f.csv", e) for _, e in want["bad_rows"]]
        assert got == want, pieces


def test_per_row_columns_and_their_counts():
    replayer = Replayer(SCENARIO, NEW)
    table = strings_table(FLOWLOGS / "alibaba.csv")
    acc = replayer.accumulator()
    out = replayer.evaluate(table.to_batches()[0], acc)
    assert out.schema.names == [
        "sgeval_status",
        "sgeval_verdict",
        "sgeval_rule",
        "sgeval_against_verdict",
        "sgeval_against_rule",
        "sgeval_agrees",
    ]
    status = out.column("sgeval_status").to_pylist()
    assert status.count("nodata") == 1 and status.count("skipdata") == 1
    assert status.count("unplaced:no_endpoint") == 1
    # Row 2 is the reply judged as established only by the report: pending here.
    assert status[1] == "pending"
    assert out.column("sgeval_verdict").to_pylist()[0] == "allow"
    assert out.column("sgeval_against_verdict").to_pylist()[0] == "deny"
    # The accumulator filled by `evaluate` gives the CLI's report.
    _, cli, _ = cli_replay([str(SCENARIO), str(FLOWLOGS / "alibaba.csv"), "--against", str(NEW)])
    assert replayer.report(acc).summary == cli


def test_huawei_lines_read_as_the_cli_reads_them():
    log = FLOWLOGS / "huawei.log"
    scenario = FLOWLOGS / "huawei-scenario.json"
    _, cli, _ = cli_replay([str(scenario), str(log)])
    replayer = Replayer(scenario)
    lines = log.read_text().splitlines()
    acc = replayer.accumulator()
    for i in range(0, len(lines), 3):
        batch = pa.RecordBatch.from_pydict({"value": lines[i : i + 3]})
        replayer.accumulate_lines(batch, acc, "huawei", file=str(log))
    assert replayer.report(acc).summary == cli


def test_errors_name_what_is_wrong():
    replayer = Replayer(SCENARIO)
    acc = replayer.accumulator()
    with pytest.raises(ReplayError, match="no column `srcaddr` for field `src`"):
        replayer.accumulate(pa.RecordBatch.from_pydict({"x": ["1"]}), acc)
    bad = strings_table(FLOWLOGS / "alibaba-bad.csv").to_batches()[0]
    with pytest.raises(ReplayError, match=r"bad.csv:\d+: field `srcaddr` = `192.0.2.300`"):
        replayer.accumulate(bad, acc, file="bad.csv")
    with pytest.raises(ReplayError, match="not a replay accumulator"):
        Accumulator.from_json("{}")
    with pytest.raises(ReplayError, match="format `csv`"):
        replayer.accumulate_lines(pa.RecordBatch.from_pydict({"value": ["x"]}), acc, "csv")
    with pytest.raises(ScenarioError, match="^scenario: "):
        Replayer(json.dumps({"provider": "ecs", "calls": [{"api": "AuthorizeSecurityGroup", "params": {}}]}))


def test_file_parts_read_by_sgeval_give_the_cli_report(tmp_path):
    """`Replayer.replay_part` over parts that tile a file (byte ranges of a CSV file cut
    anywhere, row ranges of its Parquet copy), each into its own accumulator through JSON:
    the CLI's report to the line numbers of malformed rows; and the parts planned as the
    Spark job plans them tile the file."""
    from replay_common import csv_to_parquet
    from sgeval.spark import plan_units

    csv_path = tmp_path / "gen.csv"
    generate_alibaba_csv(csv_path, 3000, seed=5, bad=2)
    clean_path = tmp_path / "clean.csv"
    generate_alibaba_csv(clean_path, 3000, seed=6)
    parquet_path = tmp_path / "gen.parquet"
    csv_to_parquet(clean_path, parquet_path)
    r = Replayer(SCENARIO, NEW)
    for path, kind, split, bad in ((csv_path, "csv", 9999, 2), (parquet_path, "parquet", 7000, 0)):
        _, cli, _ = cli_replay([str(SCENARIO), str(path), "--against", str(NEW), "--skip-bad"])
        units = plan_units([(str(path), kind)], split)
        assert len(units) > 2
        total = r.accumulator()
        for unit_path, unit_kind, start, end in reversed(units):
            acc = r.accumulator()
            r.replay_part(unit_path, unit_kind, start, end, acc, skip_bad=True)
            total.merge(Accumulator.from_json(acc.to_json()))
        assert r.report(total).summary == cli, kind
        assert cli["skipped"] == bad and cli["established"] > 0
    with pytest.raises(ReplayError, match="format `xml`"):
        r.replay_part(str(csv_path), "xml", 0, 10, r.accumulator())
    with pytest.raises(ReplayError, match="gen.csv:.*--skip-bad"):
        r.replay_part(str(csv_path), "csv", 0, 1 << 40, r.accumulator())
