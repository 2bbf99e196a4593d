"""The Spark job (local mode) gives the report `sgeval replay --json` gives on the same inputs:
the fixtures of tests/fixtures/flowlogs/ and a generated log (as CSV and as Parquet), split
into many partitions and Arrow batches so that accumulators merge and connections span
partitions."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip(
    "pyspark",
    reason="pyspark is not installed: `pip install pyspark` (with Java 17) runs the Spark replay tests",
)
pytest.importorskip("pyarrow")

from replay_common import FLOWLOGS, cli_replay, comparable, csv_to_parquet, generate_alibaba_csv  # noqa: E402
from sgeval import spark as sgspark  # noqa: E402
from sgeval.replay import ReplayError  # noqa: E402

ALIBABA = FLOWLOGS / "alibaba-scenario.json"
NEW = FLOWLOGS / "alibaba-scenario-new.json"
HUAWEI = FLOWLOGS / "huawei-scenario.json"


@pytest.fixture(scope="module")
def spark():
    from pyspark.sql import SparkSession

    # The executors' Python is this one, with sgeval installed.
    os.environ["PYSPARK_PYTHON"] = sys.executable
    session = (
        SparkSession.builder.master("local[2]")
        .appName("sgeval-test")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", "2")
        # Small splits and batches: several partitions and batches even for the fixtures.
        .config("spark.sql.files.maxPartitionBytes", "1024")
        .config("spark.sql.files.openCostInBytes", "1")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", "3")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


READERS = ["native", "spark"]


def same(report, cli, reader):
    """The job's report is the CLI's: to the byte with sgeval's readers in the tasks; with
    Spark's readers, but for the line numbers of malformed rows (Spark gives none)."""
    if reader == "native":
        assert report.summary == cli
    else:
        assert comparable(report.summary) == comparable(cli)


def both(spark, scenario, logs, *extra, reader="native"):
    """The CLI's and the Spark job's reports for the same arguments."""
    args = [str(scenario), *map(str, logs), *extra]
    code, cli, err = cli_replay(args)
    assert code in (0, 3), err
    opts = {"against": None, "skip_bad": "--skip-bad" in extra}
    if "--against" in extra:
        opts["against"] = str(extra[extra.index("--against") + 1])
    fmt = extra[extra.index("--format") + 1] if "--format" in extra else "auto"
    columns = extra[extra.index("--columns") + 1] if "--columns" in extra else None
    report = sgspark.replay_files(
        spark, str(scenario), [str(p) for p in logs], opts["against"], format=fmt, columns=columns,
        skip_bad=opts["skip_bad"], reader=reader,
    )
    assert report.breaks == (code == 3)
    return cli, report


@pytest.mark.parametrize(
    "scenario,logs,extra",
    [
        (ALIBABA, ["alibaba.csv"], []),
        (ALIBABA, ["alibaba.jsonl"], []),
        (ALIBABA, ["alibaba.csv", "alibaba.jsonl"], ["--against", NEW]),
        (HUAWEI, ["huawei.log"], []),
        (ALIBABA, ["alibaba-bad.csv"], ["--skip-bad"]),
        (HUAWEI, ["huawei.log", "huawei-bad.log"], ["--skip-bad"]),
    ],
)
@pytest.mark.parametrize("reader", READERS)
def test_fixtures_give_the_cli_report(spark, scenario, logs, extra, reader):
    cli, report = both(spark, scenario, [FLOWLOGS / name for name in logs], *extra, reader=reader)
    same(report, cli, reader)
    assert report.summary["records"] > 0
    if "--skip-bad" in extra:
        assert report.summary["skipped"] > 0
        if reader == "spark":
            assert all(row["line"] is None for row in report.summary["bad_rows"])
        else:
            assert all(row["line"] > 1 for row in report.summary["bad_rows"])


def test_a_generated_log_as_csv_and_parquet_gives_the_cli_report(spark, tmp_path):
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(256 * 1024))
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "1000")
    try:
        csv_path = tmp_path / "gen.csv"
        generate_alibaba_csv(csv_path, 20000, seed=11, bad=3)
        parquet_path = tmp_path / "gen.parquet"
        csv_to_parquet(csv_path, parquet_path)
        for path in (csv_path, parquet_path):
            for reader in READERS:
                cli, report = both(spark, ALIBABA, [path], "--against", NEW, "--skip-bad", reader=reader)
                same(report, cli, reader)
                # Connections whose two directions were split between partitions still count.
                assert cli["established"] > 20 and cli["changed"] > 0 and cli["skipped"] == 3
        # The partitions really were several, and so were the native job's parts.
        assert spark.read.csv(str(csv_path), header=True).rdd.getNumPartitions() > 2
        split = sgspark._split_bytes(spark, [os.path.getsize(csv_path), os.path.getsize(parquet_path)])
        units = sgspark.plan_units([(str(csv_path), "csv"), (str(parquet_path), "parquet")], split)
        assert sum(1 for u in units if u[1] == "csv") > 2 and sum(1 for u in units if u[1] == "parquet") > 1
    finally:
        spark.conf.set("spark.sql.files.maxPartitionBytes", "1024")
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "3")


def test_parquet_with_unsigned_counters_gives_the_cli_report(spark, tmp_path):
    # Spark reads Parquet's unsigned 64-bit integers as DECIMAL(20,0): the job reads them
    # as the numbers they are (as `examples/replay_bench.rs` writes packets, bytes, times).
    import pyarrow as pa
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    types = {"srcport": pa.uint16(), "dstport": pa.uint16(), "protocol": pa.uint8()}
    types.update({name: pa.uint64() for name in ("packets", "bytes", "start", "end")})
    table = pacsv.read_csv(
        FLOWLOGS / "alibaba.csv", convert_options=pacsv.ConvertOptions(column_types=types)
    )
    path = tmp_path / "unsigned.parquet"
    pq.write_table(table, path, row_group_size=4)
    assert "decimal" in str(spark.read.parquet(str(path)).schema["packets"].dataType).lower()
    for reader in READERS:
        cli, report = both(spark, ALIBABA, [path], "--against", NEW, reader=reader)
        same(report, cli, reader)
        assert report.summary["records"] > 0 and report.summary["changed"] > 0


def test_a_malformed_row_stops_the_job_unless_skipped(spark):
    bad = FLOWLOGS / "alibaba-bad.csv"
    code, _, err = cli_replay([str(ALIBABA), str(bad)])
    assert code == 2 and "alibaba-bad.csv:3: field `srcaddr`" in err
    with pytest.raises(ReplayError) as e:
        sgspark.replay_files(spark, str(ALIBABA), [str(bad)], reader="spark")
    assert str(bad) in str(e.value) and "--skip-bad" in str(e.value)
    assert any(f in str(e.value) for f in ("`srcaddr` = `192.0.2.300`", "`action` = `MAYBE`", "`dstport` = `70000`"))
    # sgeval's readers in the tasks know the line: the CLI's message.
    with pytest.raises(ReplayError) as e:
        sgspark.replay_files(spark, str(ALIBABA), [str(bad)])
    assert str(e.value) in err


def test_a_dataframe_with_a_column_map(spark):
    """`replay_dataframe` on a DataFrame whose columns have other names (mapped), with
    integer columns: the CLI's report of the file with the same map."""
    df = spark.read.csv(str(FLOWLOGS / "alibaba.csv"), header=True)
    renamed = df.withColumnRenamed("srcaddr", "source_ip").withColumnRenamed("dstaddr", "dest_ip")
    renamed = renamed.withColumn("dstport", renamed["dstport"].cast("int"))
    report = sgspark.replay_dataframe(renamed, ALIBABA, NEW, columns="src=source_ip,dst=dest_ip")
    _, cli, _ = cli_replay([str(ALIBABA), str(FLOWLOGS / "alibaba.csv"), "--against", str(NEW)])
    assert report.summary == cli
    with pytest.raises(ReplayError, match="no column `srcaddr` for field `src`"):
        sgspark.replay_dataframe(renamed, ALIBABA)


def test_lines_dataframe(spark):
    df = spark.read.text(str(FLOWLOGS / "huawei.log"))
    report = sgspark.replay_dataframe(df, HUAWEI, lines="huawei")
    _, cli, _ = cli_replay([str(HUAWEI), str(FLOWLOGS / "huawei.log")])
    assert report.summary == cli


def test_per_row_columns(spark):
    """`evaluate_dataframe` (the per-row `mapInArrow`) gives, row for row, what the
    replayer gives the whole file as one batch."""
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from replay_common import FIELDS
    from sgeval.replay import Replayer

    path = FLOWLOGS / "alibaba.csv"
    df = spark.read.csv(str(path), header=True)
    out = sgspark.evaluate_dataframe(df, ALIBABA, NEW)
    cols = ["sgeval_status", "sgeval_verdict", "sgeval_rule", "sgeval_against_verdict", "sgeval_against_rule", "sgeval_agrees"]
    assert out.columns == df.columns + cols
    got = sorted(tuple(str(r[c]) for c in ["srcaddr", "dstaddr", "srcport", "direction", "eni-id"] + cols) for r in out.collect())
    table = pacsv.read_csv(
        path,
        convert_options=pacsv.ConvertOptions(column_types={n: pa.string() for n in FIELDS}, strings_can_be_null=True),
    )
    r = Replayer(ALIBABA, NEW)
    want_cols = r.evaluate(table.to_batches()[0])
    want = sorted(
        tuple(str(v) for v in vals)
        for vals in zip(
            *[table.column(c).to_pylist() for c in ["srcaddr", "dstaddr", "srcport", "direction", "eni-id"]],
            *[want_cols.column(c).to_pylist() for c in cols],
        )
    )
    assert got == want
    # The reply of row 1 (and other denied records whose opener would pass) wait for the report.
    assert sum(1 for row in got if row[5] == "pending") >= 1


def test_the_job_from_the_command_line(tmp_path):
    """`python -m sgeval.spark replay ... --json` prints the CLI's JSON and exits 3 when the
    change breaks carried traffic, 2 on a malformed row."""
    logs = [str(FLOWLOGS / "alibaba.csv"), str(FLOWLOGS / "alibaba.jsonl")]
    args = [str(ALIBABA), *logs, "--against", str(NEW)]
    code, cli, _ = cli_replay(args)
    # A class-data-sharing archive the JVM cannot map (not one) where the job looks for
    # it: the job runs without it.
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, XDG_CACHE_HOME=str(tmp_path / "cache"))
    garbage = _archive_in(env)
    os.makedirs(os.path.dirname(garbage))
    with open(garbage, "wb") as f:
        f.write(os.urandom(1 << 16))
    job = subprocess.run(
        [sys.executable, "-m", "sgeval.spark", "replay", *args, "--json", "--master", "local[2]"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert job.returncode == code == 3, job.stderr[-2000:]
    assert json.loads(job.stdout) == cli
    bad = subprocess.run(
        [sys.executable, "-m", "sgeval.spark", "replay", str(ALIBABA), str(FLOWLOGS / "alibaba-bad.csv"),
         "--master", "local[1]", "--reader", "spark"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert bad.returncode == 2 and "sgeval: error:" in bad.stderr and "alibaba-bad.csv" in bad.stderr


def _archive_in(env):
    """Where the job run with ``env`` looks for its class-data-sharing archive."""
    code = "from sgeval.spark import cds_archive; print(cds_archive())"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout.strip()


def test_driver_options_name_the_archive_only_when_there(tmp_path, monkeypatch):
    lean = sgspark.LEAN_DRIVER["spark.driver.extraJavaOptions"]
    assert sgspark.driver_java_options(str(tmp_path / "none.jsa")) == lean
    (tmp_path / "empty.jsa").write_bytes(b"")
    assert sgspark.driver_java_options(str(tmp_path / "empty.jsa")) == lean
    (tmp_path / "a.jsa").write_bytes(b"x")
    options = sgspark.driver_java_options(str(tmp_path / "a.jsa"))
    assert options.startswith(lean + " ") and f"-XX:SharedArchiveFile={tmp_path / 'a.jsa'} " in options
    # The JVM's log to stderr: stdout carries the report.
    assert options.endswith("-Xlog:disable -Xlog:all=warning:stderr")
    # A path the JVM options cannot carry as one word: no archive.
    (tmp_path / "a b.jsa").write_bytes(b"x")
    assert sgspark.driver_java_options(str(tmp_path / "a b.jsa")) == lean
    # One archive per Java and Spark, in the user's cache.
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    path = sgspark.cds_archive()
    assert path.startswith(str(tmp_path / "cache" / "sgeval") + os.sep) and path.endswith(".jsa")
    monkeypatch.setenv("JAVA_HOME", str(tmp_path / "another-java"))
    assert sgspark.cds_archive() != path


def test_the_job_with_a_class_data_sharing_archive(tmp_path):
    """`python -m sgeval.spark cds` writes the archive where the job looks for it, and the
    job that maps it prints the CLI's JSON."""
    env = dict(os.environ, PYSPARK_PYTHON=sys.executable, XDG_CACHE_HOME=str(tmp_path / "cache"))
    made = subprocess.run(
        [sys.executable, "-m", "sgeval.spark", "cds"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr[-2000:]
    path = made.stdout.strip()
    assert path == _archive_in(env) and os.path.getsize(path) > 1 << 20
    assert os.listdir(os.path.dirname(path)) == [os.path.basename(path)]
    args = [str(ALIBABA), str(FLOWLOGS / "alibaba.csv"), "--against", str(NEW)]
    code, cli, _ = cli_replay(args)
    job = subprocess.run(
        [sys.executable, "-m", "sgeval.spark", "replay", *args, "--json", "--master", "local[1]"],
        capture_output=True, text=True, env=env, cwd=tmp_path,
    )
    assert job.returncode == code == 3, job.stderr[-2000:]
    assert json.loads(job.stdout) == cli
