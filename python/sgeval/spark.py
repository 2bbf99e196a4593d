"""Replaying flow logs on Spark: ``sgeval replay`` scaled out with ``mapInArrow``.

Each Spark partition judges its Arrow batches with the compiled engine into its own
accumulator (:mod:`sgeval.replay`) and yields it as one row of JSON; the driver merges the
rows and settles the connection state once everything is in, so the report is the one
``sgeval replay`` gives on the same records, whatever the partitioning. The scenario texts
travel to the executors as a broadcast variable; each Python worker compiles them once and
keeps the engine for the tasks it runs next.

- :func:`replay_dataframe`: the report of a DataFrame of flow records (columns by name,
  Alibaba's field names by default, ``columns=`` as ``sgeval replay --columns``), or of a
  DataFrame of text lines (``lines="huawei"`` / ``"jsonl"``, as ``spark.read.text`` gives).
- :func:`replay_files`: files as ``sgeval replay`` takes them (Alibaba CSV and JSON lines,
  Huawei logs, CSV and Parquet; directories read in name order). By default Spark only
  distributes parts of the files (Parquet row ranges, text byte ranges moved to line
  ends: :func:`plan_units`) and each task reads its parts with ``sgeval replay``'s own
  readers (:func:`replay_units`), so the per-record cost is the CLI's and the report is
  the CLI's to the line numbers; ``reader="spark"`` has Spark's readers read them into
  ``mapInArrow`` instead (any path Spark reads, no line numbers).
- :func:`evaluate_dataframe` / :func:`evaluate_partition`: per-row verdict columns added to
  a DataFrame (the ``mapInArrow`` function and its schema).
- The job: ``python -m sgeval.spark replay SCENARIO LOGS... [--against NEW] [--json]
  [--skip-bad] [--format F] [--columns MAP] [--master URL]`` prints what ``sgeval replay``
  prints and exits as it does (2 on bad input, 3 when ``--against`` breaks carried traffic).
  ``python -m sgeval.spark cds`` makes the class-data-sharing archive of Spark's classes
  that later jobs' JVMs map instead of loading the classes (:func:`make_cds_archive`).

Differences, by necessity: through Spark's readers (DataFrames, ``reader="spark"``) the
malformed rows listed name their file and field but have ``line`` null (Spark gives no line
numbers); and without ``--skip-bad`` every job stops after reading everything (not at the
first malformed row), naming the first one it listed.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import unquote, urlparse

from . import SgevalError
from .replay import Accumulator, ReplayError, ReplayReport, Replayer, Scenario

__all__ = [
    "ACCUMULATOR_SCHEMA",
    "accumulate_partition",
    "cds_archive",
    "driver_java_options",
    "evaluate_dataframe",
    "evaluate_partition",
    "main",
    "make_cds_archive",
    "plan_units",
    "replay_dataframe",
    "replay_files",
    "replay_units",
]

#: The schema of the rows :func:`accumulate_partition` yields: one accumulator per partition.
ACCUMULATOR_SCHEMA = "accumulator string"

#: The column the file-reading job adds: the file each row was read from.
FILE_COLUMN = "__sgeval_file"

# What a replayer is built from: scenario text, text replayed against, column map, state
# capacity. The broadcast value, and the key of the per-worker cache.
Config = Tuple[str, Optional[str], Optional[str], Optional[int]]

# Replayers built in this Python process, by configuration: a Spark worker that runs many
# tasks compiles each configuration once.
_REPLAYERS: Dict[Config, Replayer] = {}


def _replayer_for(config: Config) -> Replayer:
    replayer = _REPLAYERS.get(config)
    if replayer is None:
        if len(_REPLAYERS) >= 4:
            _REPLAYERS.clear()
        scenario, against, columns, state_capacity = config
        replayer = Replayer(scenario, against, columns=columns, state_capacity=state_capacity)
        _REPLAYERS[config] = replayer
    return replayer


def _config(replayer: Replayer) -> Config:
    return (replayer.scenario_json, replayer.against_json, replayer.columns, replayer.state_capacity)


def accumulate_partition(
    config: Any,
    lines: Optional[str],
    file_column: Optional[str],
    column: str,
    batches: Iterator[Any],
) -> Iterator[Any]:
    """The ``mapInArrow`` function of a replay (bind the first four arguments with
    ``functools.partial``): judges every batch of the partition into one accumulator and
    yields it as one row (:data:`ACCUMULATOR_SCHEMA`). ``config`` is a broadcast of
    ``(scenario_json, against_json, columns, state_capacity)``; ``lines`` reads batches of
    text lines (column ``column``) as ``huawei`` or ``jsonl``, else batches are tables of
    flow records. Malformed rows are counted and listed (the driver decides whether they
    stop the run)."""
    import pyarrow as pa

    replayer = _replayer_for(config.value)
    acc = replayer.accumulator()
    for batch in batches:
        if lines is None:
            replayer.accumulate(batch, acc, skip_bad=True, file_column=file_column)
        else:
            replayer.accumulate_lines(
                batch, acc, lines, skip_bad=True, file_column=file_column, column=column
            )
    yield pa.RecordBatch.from_pydict({"accumulator": [acc.to_json()]})


def evaluate_partition(config: Any, skip_bad: bool, batches: Iterator[Any]) -> Iterator[Any]:
    """The ``mapInArrow`` function of per-row verdicts (bind ``config``, a broadcast as for
    :func:`accumulate_partition`, and ``skip_bad`` with ``functools.partial``): each batch
    with the columns of :meth:`sgeval.replay.Replayer.evaluate` added."""
    import pyarrow as pa

    replayer = _replayer_for(config.value)
    acc = replayer.accumulator()
    for batch in batches:
        out = replayer.evaluate(batch, acc, skip_bad=skip_bad)
        yield pa.RecordBatch.from_arrays(
            list(batch.columns) + list(out.columns),
            names=list(batch.schema.names) + list(out.schema.names),
        )


def _replayer(
    scenario: Scenario, against: Optional[Scenario], columns: Optional[str], state_capacity: Optional[int]
) -> Replayer:
    # Built on the driver first: a bad scenario fails here, with its message, not in a task.
    return Replayer(scenario, against, columns=columns, state_capacity=state_capacity)


def evaluate_dataframe(
    df: Any,
    scenario: Scenario,
    against: Optional[Scenario] = None,
    *,
    columns: Optional[str] = None,
    skip_bad: bool = False,
    state_capacity: Optional[int] = None,
) -> Any:
    """``df`` with per-row verdict columns: ``sgeval_status``, ``sgeval_verdict``,
    ``sgeval_rule``, with ``against`` ``sgeval_against_verdict`` and
    ``sgeval_against_rule``, and ``sgeval_agrees`` (see
    :meth:`sgeval.replay.Replayer.evaluate`; a ``pending`` row is denied as a new
    connection and may be an established reply, which only the report settles)."""
    from pyspark.sql.types import BooleanType, StringType, StructField, StructType

    replayer = _replayer(scenario, against, columns, state_capacity)
    replayer._native.check_columns(list(df.columns))
    names = ["sgeval_status", "sgeval_verdict", "sgeval_rule"]
    if replayer.has_against:
        names += ["sgeval_against_verdict", "sgeval_against_rule"]
    fields = list(df.schema.fields) + [StructField(n, StringType(), True) for n in names]
    fields.append(StructField("sgeval_agrees", BooleanType(), True))
    config = df.sparkSession.sparkContext.broadcast(_config(replayer))
    return df.mapInArrow(functools.partial(evaluate_partition, config, skip_bad), StructType(fields))


def _kept(df: Any, replayer: Replayer, keep: Sequence[str] = ()) -> List[Any]:
    """The columns of ``df`` a replay reads (the mapped fields present, and ``keep``), in
    ``df``'s order: selecting only them, Spark's Parquet and CSV readers decode nothing
    else, and the Arrow batches sent to Python carry nothing else."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DecimalType

    wanted = set(replayer._native.column_names) | set(keep)
    kept = []
    for field in df.schema.fields:
        if field.name not in wanted:
            continue
        # Quoted: a name with a dot is a column, not a field of a struct.
        col = F.col("`" + field.name.replace("`", "``") + "`")
        if isinstance(field.dataType, DecimalType) and field.dataType.scale == 0:
            # Spark reads Parquet's unsigned 64-bit integers (packets, bytes, times) as
            # DECIMAL(20,0); as text they reach the replay exactly, as numbers it reads.
            col = col.cast("string").alias(field.name)
        kept.append(col)
    return kept


def _finish(
    replayer: Replayer,
    accumulators: Any,
    skip_bad: bool,
    names: Optional[Dict[str, str]] = None,
    order: Sequence[str] = (),
) -> ReplayReport:
    """Merges the partitions' accumulators (a DataFrame of :data:`ACCUMULATOR_SCHEMA`) and
    gives the report; raises on malformed rows without ``skip_bad``."""
    acc = replayer.accumulator()
    for row in accumulators.collect():
        acc.merge(Accumulator.from_json(row[0]))
    report = replayer.report(acc, lines=False)
    summary, text = report.summary, report.text
    for row in summary.get("bad_rows", []):
        shown = (names or {}).get(_local_path(row["file"]), row["file"])
        if shown != row["file"]:
            text = text.replace(row["file"], shown)
            row["file"] = shown
    rank = {name: i for i, name in enumerate(order)}
    summary["bad_rows"] = sorted(summary.get("bad_rows", []), key=lambda r: (rank.get(r["file"], len(rank)), r["file"]))
    if not skip_bad and summary.get("skipped", 0):
        first = summary["bad_rows"][0]
        raise ReplayError(
            f"{first['file']}: {first['error']} ({summary['skipped']} malformed row(s); "
            "use --skip-bad to count such rows and go on)"
        )
    return ReplayReport(summary, text)


def replay_dataframe(
    df: Any,
    scenario: Scenario,
    against: Optional[Scenario] = None,
    *,
    columns: Optional[str] = None,
    skip_bad: bool = False,
    state_capacity: Optional[int] = None,
    file_column: Optional[str] = None,
    lines: Optional[str] = None,
    line_column: str = "value",
) -> ReplayReport:
    """The report ``sgeval replay`` gives for the flow records of ``df``.

    ``df`` holds records in columns (found by ``columns``, Alibaba's field names by
    default; strings or integers), or, with ``lines="huawei"`` or ``"jsonl"``, text lines
    in column ``line_column`` read as ``sgeval replay`` reads such files. ``file_column``
    names the column that tells which file a row came from, for the malformed rows
    listed. Raises :class:`sgeval.replay.ReplayError` on malformed rows unless
    ``skip_bad``."""
    replayer = _replayer(scenario, against, columns, state_capacity)
    if lines is None:
        replayer._native.check_columns(list(df.columns))
        df = df.select(*_kept(df, replayer, [file_column] if file_column else []))
    config = df.sparkSession.sparkContext.broadcast(_config(replayer))
    accumulators = df.mapInArrow(
        functools.partial(accumulate_partition, config, lines, file_column, line_column),
        ACCUMULATOR_SCHEMA,
    )
    return _finish(replayer, accumulators, skip_bad)


# Formats, as `sgeval replay --format` names them.
FORMATS = ("auto", "alibaba-csv", "alibaba-json", "huawei", "csv", "parquet")

# What reads the files of `replay_files`: sgeval's own readers in the tasks, or Spark's.
READERS = ("native", "spark")

# The reader of each format (None: detected from the file).
_KINDS: Dict[str, Optional[str]] = {
    "auto": None,
    "alibaba-csv": "csv",
    "csv": "csv",
    "alibaba-json": "jsonl",
    "huawei": "huawei",
    "parquet": "parquet",
}

# A part of a file a task reads: path, format (`parquet`, `csv`, `jsonl`, `huawei`), and
# the range `start:end` of rows (Parquet) or bytes (text).
Unit = Tuple[str, str, int, int]


def _split_bytes(spark: Any, sizes: Sequence[int]) -> int:
    """The most bytes of a part, as Spark sizes the partitions of a file scan
    (``FilePartition.maxSplitBytes``): ``spark.sql.files.maxPartitionBytes``, less when
    the files spread thinner over the default parallelism, at least
    ``spark.sql.files.openCostInBytes``. ``spark`` is a session (its SQL settings) or a
    bare ``SparkContext`` (the settings it was started with)."""
    sc = _context(spark)
    # A session's settings; a bare context's, without starting a session's SQL state.
    conf = spark.conf if sc is not spark else sc.getConf()
    max_bytes = _bytes(conf.get("spark.sql.files.maxPartitionBytes", "128m"))
    open_cost = _bytes(conf.get("spark.sql.files.openCostInBytes", "4m"))
    total = sum(size + open_cost for size in sizes)
    per_core = total // max(1, sc.defaultParallelism)
    return max(1, min(max_bytes, max(open_cost, per_core)))


def _context(spark: Any) -> Any:
    """The ``SparkContext`` of a session, or ``spark`` itself when it is one."""
    return getattr(spark, "sparkContext", spark)


def _bytes(text: str) -> int:
    """A Spark size (``134217728``, ``128m``, ``4MB``) in bytes."""
    t = text.strip().lower().rstrip("b")
    for suffix, scale in (("k", 1 << 10), ("m", 1 << 20), ("g", 1 << 30), ("t", 1 << 40)):
        if t.endswith(suffix):
            return int(float(t[:-1]) * scale)
    return int(t)


def plan_units(files: Sequence[Tuple[str, str]], split_bytes: int) -> List[Unit]:
    """The parts of ``files`` (path and format) that tasks read, each about
    ``split_bytes`` of the file: text files cut in byte ranges (the readers move each cut
    to a line end), Parquet files in row ranges of the same share of their bytes."""
    units: List[Unit] = []
    for path, kind in files:
        size = os.path.getsize(path)
        if kind == "parquet":
            import pyarrow.parquet as pq

            rows = pq.read_metadata(path).num_rows
            step = max(1, -(-rows * split_bytes // max(1, size)))
            units.extend((path, kind, start, min(rows, start + step)) for start in range(0, rows, step))
        else:
            units.extend((path, kind, start, min(size, start + split_bytes)) for start in range(0, size, split_bytes))
    return units


def replay_units(config: Any, units: Iterator[Unit]) -> Iterator[str]:
    """The function a task of the native job runs (bind ``config``, a broadcast as for
    :func:`accumulate_partition`, with ``functools.partial``): reads its parts with
    ``sgeval replay``'s readers into one accumulator and yields it as JSON. Malformed rows
    are counted and listed (the driver decides whether they stop the run)."""
    replayer = _replayer_for(config.value)
    acc = replayer.accumulator()
    for path, kind, start, end in units:
        replayer.replay_part(path, kind, start, end, acc, skip_bad=True)
    yield acc.to_json()


def _replay_native(spark: Any, replayer: Replayer, files: Sequence[Tuple[str, str]], skip_bad: bool) -> ReplayReport:
    """``replay_files`` with the files read by sgeval's readers in the tasks."""
    split = _split_bytes(spark, [os.path.getsize(path) for path, _ in files])
    units = plan_units(files, split)
    acc = replayer.accumulator()
    if units:
        sc = _context(spark)
        config = sc.broadcast(_config(replayer))
        for text in sc.parallelize(units, len(units)).mapPartitions(functools.partial(replay_units, config)).collect():
            acc.merge(Accumulator.from_json(text))
    report = replayer.report(acc)
    if not skip_bad and report.summary.get("skipped", 0):
        # The first malformed row, as `sgeval replay` names it where it stops.
        first = report.summary["bad_rows"][0]
        raise ReplayError(
            f"{first['file']}:{first['line']}: {first['error']} "
            "(use --skip-bad to count such rows and go on)"
        )
    return report


def detect_format(path: str) -> str:
    """A file's format from its first bytes, as ``sgeval replay`` guesses it: Parquet's
    ``PAR1`` magic, a ``{`` (JSON lines), a first line with a comma (CSV), else Huawei."""
    with open(path, "rb") as f:
        head = f.read(4096)
    if head.startswith(b"PAR1"):
        return "parquet"
    text = head.decode("utf-8", errors="replace")
    first = next((line for line in text.splitlines() if line.strip()), "")
    if first.lstrip().startswith("{"):
        return "jsonl"
    if "," in first:
        return "csv"
    return "huawei"


def _files(paths: Sequence[str]) -> List[str]:
    out: List[str] = []
    for p in paths:
        if os.path.isdir(p):
            inner = sorted(os.path.join(p, n) for n in os.listdir(p))
            out.extend(f for f in inner if os.path.isfile(f))
        elif os.path.exists(p):
            out.append(p)
        else:
            raise ReplayError(f"cannot read `{p}`: No such file or directory")
    return out


def _local_path(uri: str) -> str:
    """A Spark file path (``file:/...``) as a local absolute path; other URIs as they are."""
    if uri.startswith("file:"):
        return os.path.normpath(unquote(urlparse(uri).path))
    return uri


def _first_line(path: str) -> str:
    with open(path, "rb") as f:
        return f.readline().decode("utf-8", errors="replace").rstrip("\r\n")


def replay_files(
    spark: Any,
    scenario: Scenario,
    logs: Sequence[str],
    against: Optional[Scenario] = None,
    *,
    format: str = "auto",
    columns: Optional[str] = None,
    skip_bad: bool = False,
    state_capacity: Optional[int] = None,
    reader: str = "native",
) -> ReplayReport:
    """The report ``sgeval replay SCENARIO LOGS...`` gives, computed on ``spark``: a
    ``SparkSession``, or with the native reader a bare ``SparkContext`` (which spares the
    JVM a session's SQL state: the job's command does so).

    With ``reader="native"`` (the default) Spark only distributes the work: each task
    reads a part of a file (a range of Parquet rows, or of text lines cut at line ends, cut
    as Spark cuts files into partitions) with ``sgeval replay``'s own readers
    (:meth:`sgeval.replay.Replayer.replay_part`), so the files must be readable at the same
    path on every executor (local mode, or a shared file system); malformed rows keep their
    line numbers, and the report is ``sgeval replay``'s to the byte. With
    ``reader="spark"`` Spark reads the files (any path it can read): Huawei logs and JSON
    lines as text lines parsed as ``sgeval replay`` parses them, CSV by Spark's CSV reader
    (every value a string; files grouped by header), Parquet by Spark's Parquet reader,
    each partition's Arrow batches judged in ``mapInArrow``; malformed rows then have no
    line number."""
    from pyspark.sql import functions as F

    if format not in FORMATS:
        raise ReplayError(f"format `{format}`: expected one of {', '.join(FORMATS)}")
    if reader not in READERS:
        raise ReplayError(f"reader `{reader}`: expected one of {', '.join(READERS)}")
    replayer = _replayer(scenario, against, columns, state_capacity)
    files = _files(logs)
    kinds = [_KINDS[format] or detect_format(path) for path in files]
    if reader == "native":
        return _replay_native(spark, replayer, list(zip(files, kinds)), skip_bad)
    if _context(spark) is spark:
        from pyspark.sql import SparkSession

        # Spark's readers need a session: the one on this context.
        spark = SparkSession(spark)
    groups: Dict[Tuple[str, str], List[str]] = {}
    for path, kind in zip(files, kinds):
        key = (kind, _first_line(path) if kind == "csv" else "")
        groups.setdefault(key, []).append(os.path.abspath(path))
    config = spark.sparkContext.broadcast(_config(replayer))
    frames = []
    for (kind, _), paths in groups.items():
        if kind in ("huawei", "jsonl"):
            df = spark.read.text(paths)
            lines: Optional[str] = kind
        elif kind == "csv":
            df = spark.read.csv(paths, header=True, inferSchema=False, mode="PERMISSIVE")
            lines = None
        else:
            df = spark.read.option("mergeSchema", "true").parquet(*paths)
            lines = None
        if lines is None:
            try:
                replayer._native.check_columns(list(df.columns))
            except ReplayError as e:
                raise ReplayError(f"`{paths[0]}`: {e}") from None
        # Only the columns read are decoded (Parquet and CSV prune the others) and shipped.
        kept = _kept(df, replayer) if lines is None else [F.col("value")]
        df = df.select(*kept, F.col("_metadata.file_path").alias(FILE_COLUMN))
        frames.append(
            df.mapInArrow(
                functools.partial(accumulate_partition, config, lines, FILE_COLUMN, "value"),
                ACCUMULATOR_SCHEMA,
            )
        )
    if not frames:
        return replayer.report(replayer.accumulator(), lines=False)
    accumulators = functools.reduce(lambda a, b: a.union(b), frames)
    names = {os.path.abspath(p): p for p in files}
    return _finish(replayer, accumulators, skip_bad, names, files)


#: Spark settings of the job with ``--reader native``, each unless already set: the JVM
#: compiles with C1 alone and collects with the serial collector (its JIT and GC threads
#: were most of Spark's fixed CPU cost, and the per-record work is not in the JVM), and
#: serves no web UI. In local mode the driver's JVM is the executor too. With a
#: class-data-sharing archive made by ``python -m sgeval.spark cds``, the JVM also maps
#: Spark's classes from it (:func:`driver_java_options`).
LEAN_DRIVER = {
    "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC",
    "spark.ui.enabled": "false",
}

# The JVM's own log (CDS warnings, for an archive it cannot map) to stderr, never to the
# stdout the report is printed on; warnings and errors only, as by default.
_JVM_LOG = "-Xlog:disable -Xlog:all=warning:stderr"


def cds_archive() -> str:
    """Where ``python -m sgeval.spark cds`` writes the class-data-sharing archive of Spark's
    classes and where the job looks for it: ``$XDG_CACHE_HOME/sgeval`` (else
    ``~/.cache/sgeval``), named after what the archive depends on (the ``java`` that runs,
    the pyspark version and its ``SPARK_HOME``), so that another Java or Spark looks for
    an archive of its own."""
    import hashlib
    import shutil

    import pyspark
    from pyspark.find_spark_home import _find_spark_home

    java_home = os.environ.get("JAVA_HOME")
    java = os.path.join(java_home, "bin", "java") if java_home else shutil.which("java") or "java"
    java = os.path.realpath(java)
    try:
        stamp = os.stat(java).st_mtime_ns
    except OSError:
        stamp = 0
    key = "\0".join([java, str(stamp), pyspark.__version__, os.path.realpath(_find_spark_home())])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "sgeval", f"spark-{pyspark.__version__}-{digest}.jsa")


def driver_java_options(archive: Optional[str] = None) -> str:
    """The driver's JVM options of the lean job (:data:`LEAN_DRIVER`), with
    ``-XX:SharedArchiveFile`` when the archive (default :func:`cds_archive`) is there.
    The JVM checks the archive before it maps it (its Java build, the class path's jars)
    and runs without it, as the job does without one, when it does not fit. A path with
    white space or quotes (which Spark's option string would split) is not used."""
    options = LEAN_DRIVER["spark.driver.extraJavaOptions"]
    path = archive if archive is not None else cds_archive()
    if _plain(path) and os.path.isfile(path) and os.path.getsize(path) > 0:
        options += f" -XX:SharedArchiveFile={path} {_JVM_LOG}"
    return options


def _plain(path: str) -> bool:
    """Whether ``path`` goes in Spark's JVM option string as one word."""
    return not any(c.isspace() or c in "\"'\\" for c in path)


def make_cds_archive(path: Optional[str] = None, *, timeout: float = 600.0) -> str:
    """Makes the class-data-sharing archive of the classes a native replay job loads
    (``python -m sgeval.spark cds``): runs such a job on one record with
    ``-XX:ArchiveClassesAtExit`` (Java 13 and later) and moves the archive the JVM writes
    as it exits to ``path`` (default :func:`cds_archive`). Gives the path; raises
    :class:`RuntimeError` when no archive was written. Run it again after upgrading Java or
    pyspark (the archive of the old ones is no longer used)."""
    import tempfile

    from pyspark import SparkConf, SparkContext

    if "PYSPARK_GATEWAY_PORT" in os.environ:
        raise RuntimeError("a JVM already runs (spark-submit): run `python -m sgeval.spark cds` on its own")
    target = os.path.abspath(path or cds_archive())
    if not _plain(target):
        raise RuntimeError(f"`{target}`: a path without white space or quotes is needed (JVM options)")
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="sgeval-cds-") as tmp:
        scenario = os.path.join(tmp, "scenario.json")
        with open(scenario, "w") as f:
            f.write('{"provider": "ecs", "calls": [], "endpoints": []}')
        log = os.path.join(tmp, "flows.csv")
        with open(log, "w") as f:
            f.write("eni-id,srcaddr,dstaddr,srcport,dstport,protocol,direction,packets,bytes,start,end,action,log-status\n")
            f.write("eni-1,10.0.0.1,10.0.0.2,40000,443,6,in,1,60,1700000000,1700000060,ACCEPT,OK\n")
        # Beside the target (one file system), moved in place once whole.
        dump = f"{target}.{os.getpid()}.tmp"
        options = f"{LEAN_DRIVER['spark.driver.extraJavaOptions']} -XX:ArchiveClassesAtExit={dump} {_JVM_LOG}"
        conf = (
            SparkConf()
            .setMaster("local[1]")
            .setAppName("sgeval cds")
            .set("spark.ui.enabled", "false")
            .set("spark.driver.extraJavaOptions", options)
        )
        # As the job's command runs: a bare context, sgeval's readers in the task.
        sc = SparkContext.getOrCreate(conf)
        sc.setLogLevel("ERROR")
        gateway = sc._gateway
        try:
            replay_files(sc, scenario, [log])
        finally:
            sc.stop()
        # The JVM writes the archive as it exits, which it does when its stdin closes.
        proc = getattr(gateway, "proc", None)
        if proc is not None:
            gateway.shutdown()
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout)
        if not os.path.isfile(dump) or os.path.getsize(dump) == 0:
            if os.path.exists(dump):
                os.unlink(dump)
            raise RuntimeError("the JVM wrote no class-data-sharing archive (needs Java 13 or later)")
        os.replace(dump, target)
    return target


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m sgeval.spark replay SCENARIO LOGS... [--against NEW] [--json] ...``, or
    ``python -m sgeval.spark cds [--path FILE]`` (:func:`make_cds_archive`)."""
    parser = argparse.ArgumentParser(
        prog="python -m sgeval.spark",
        description="sgeval on Spark: `sgeval replay` with each partition judged by the compiled engine.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("replay", help="flow logs against the scenario, or against a new version of it")
    p.add_argument("scenario", help="the scenario the logs were recorded under (JSON)")
    p.add_argument("logs", nargs="+", help="flow-log files, or directories of them (read in name order)")
    p.add_argument("--against", metavar="NEW", help="a new version of the scenario; exit 3 when it breaks carried traffic")
    p.add_argument("--json", action="store_true", help="print the JSON summary and grouped rows")
    p.add_argument("--skip-bad", action="store_true", help="count malformed rows and go on")
    p.add_argument("--format", choices=FORMATS, default="auto", help="the format of the log files")
    p.add_argument("--columns", metavar="FIELD=COLUMN,...", help="column names for CSV, JSON lines and Parquet")
    p.add_argument("--state-capacity", type=int, metavar="N", help="most connection-state entries per configuration")
    p.add_argument("--master", help="Spark master URL (default: as spark-submit or pyspark sets it, else local[*])")
    p.add_argument(
        "--reader",
        choices=READERS,
        default="native",
        help="native: tasks read parts of the files with sgeval's readers (paths readable on every executor); "
        "spark: Spark's readers, Arrow batches judged in mapInArrow",
    )
    c = sub.add_parser(
        "cds",
        help="make the class-data-sharing archive of Spark's classes that cuts the job's start "
        "(kept in ~/.cache/sgeval, used by later jobs with --reader native)",
    )
    c.add_argument("--path", help="where to write it (default: where the job looks for it)")
    args = parser.parse_args(argv)

    if args.command == "cds":
        try:
            print(make_cds_archive(args.path))
        except (OSError, RuntimeError) as e:
            print(f"sgeval: error: {e}", file=sys.stderr)
            return 1
        return 0

    if args.reader == "native":
        from pyspark import SparkConf, SparkContext

        # The driver's JVM only hands out parts of files and collects accumulators: unless
        # configured otherwise, it starts lean (see LEAN_DRIVER), with the archive of
        # Spark's classes when there is one, and without a SQL session (whose state costs
        # the JVM a second of CPU to build). Without effect when the JVM already runs
        # (spark-submit, a session before this one).
        conf = SparkConf().setIfMissing("spark.app.name", "sgeval replay")
        if args.master:
            conf.setMaster(args.master)
        elif not conf.contains("spark.master"):
            conf.setMaster("local[*]")
        for key, value in LEAN_DRIVER.items():
            if not conf.contains(key):
                conf.set(key, driver_java_options() if key == "spark.driver.extraJavaOptions" else value)
        spark: Any = SparkContext.getOrCreate(conf)
        spark.setLogLevel("ERROR")
    else:
        from pyspark.sql import SparkSession

        builder = SparkSession.builder.appName("sgeval replay")
        if args.master:
            builder = builder.master(args.master)
        spark = builder.getOrCreate()
        spark.sparkContext.setLogLevel("ERROR")
    try:
        report = replay_files(
            spark,
            args.scenario,
            args.logs,
            args.against,
            format=args.format,
            columns=args.columns,
            skip_bad=args.skip_bad,
            state_capacity=args.state_capacity,
            reader=args.reader,
        )
    except (OSError, SgevalError) as e:
        # sgeval's errors (scenario, build, replay) and unreadable files: bad input.
        print(f"sgeval: error: {e}", file=sys.stderr)
        return 2
    finally:
        spark.stop()
    if args.json:
        import json

        print(json.dumps(report.summary, separators=(",", ":")))
    else:
        sys.stdout.write(report.text)
    return 3 if args.against and report.breaks else 0


if __name__ == "__main__":
    # Run the installed module's `main`, so the functions Spark ships to the executors are
    # `sgeval.spark`'s (importable there), not this `__main__`'s.
    from sgeval.spark import main as _main

    sys.exit(_main())
