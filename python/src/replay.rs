//! Flow-log replay from Python (`sgeval.replay`, `sgeval.spark`): `NativeReplayer`, the
//! compiled engine(s) of a scenario (and of the version replayed against) judging Arrow
//! record batches of flow records, and `NativeAccumulator`, the mergeable counts a batch is
//! judged into. A Spark partition judges its batches into its own accumulator and ships it
//! back as JSON; the driver merges them and asks for the report: the same report as
//! `sgeval replay` on the same records (connection state is settled after the merge).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use arrow::pyarrow::{FromPyArrow, ToPyArrow};
use arrow::record_batch::RecordBatch;
use pyo3::create_exception;
use pyo3::prelude::*;
use serde_json::Value;
use sgeval::replay::alibaba::JsonRow;
use sgeval::replay::batch::{evaluate_record_batch, judge_columns, BatchColumns};
use sgeval::replay::run::{replay_part, Format, Input, Part, RunOptions};
use sgeval::replay::table::Positions;
use sgeval::replay::{alibaba, huawei, Accumulator, BadRow, ColumnMap, Field, Location, Options, Replayer};
use sgeval::Cloud;

use crate::cloud::load_scenario;
use crate::errors::{field_error, plain, scenario_error, SgevalError};

create_exception!(
    sgeval,
    ReplayError,
    SgevalError,
    "Flow records that cannot be replayed: a missing column, a malformed row (without `skip_bad`), an accumulator that is not one."
);

/// The clouds a replayer judges against; the replayer borrows them.
struct Clouds {
    base: Cloud,
    against: Option<Cloud>,
}

self_cell::self_cell!(
    /// The clouds and the replayer compiled over them, kept together (the replayer borrows).
    struct Compiled {
        owner: Clouds,
        #[covariant]
        dependent: Replayer,
    }
);

/// The compiled engine(s) of a scenario, and of a new version of it when replaying against
/// one, with the column names of the batches.
#[pyclass(module = "sgeval._sgeval", name = "NativeReplayer", frozen)]
pub struct NativeReplayer {
    compiled: Compiled,
    columns: ColumnMap,
}

/// What a replay has counted so far (see `sgeval::replay::Accumulator`).
#[pyclass(module = "sgeval._sgeval", name = "NativeAccumulator", frozen)]
pub struct NativeAccumulator {
    acc: Mutex<Accumulator>,
}

impl NativeAccumulator {
    fn lock(&self) -> std::sync::MutexGuard<'_, Accumulator> {
        self.acc.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn cloud_of(py: Python<'_>, field: &str, text: &str) -> PyResult<Cloud> {
    let scenario = load_scenario(py, text)?;
    scenario.build().map_err(|e| {
        let err = scenario_error(py, &e);
        // Name which scenario failed: the base one or the one replayed against.
        let message = format!("{field}: {e}");
        let _ = err.value(py).setattr("message", &message);
        let _ = err.value(py).setattr("args", (message,));
        err
    })
}

fn import_batch(obj: &Bound<'_, PyAny>) -> PyResult<RecordBatch> {
    RecordBatch::from_pyarrow_bound(obj)
        .map_err(|e| field_error::<ReplayError>("batch", format!("not an Arrow record batch: {e}")))
}

/// How a line of text is read.
enum Lines {
    Huawei(Positions),
    Json(Positions),
}

/// A column of a batch as strings.
fn strings(batch: &RecordBatch, name: &str) -> PyResult<arrow::array::StringArray> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| field_error::<ReplayError>(name, format!("no column `{name}` in the batch")))?;
    let cast = arrow::compute::cast(array, &arrow::datatypes::DataType::Utf8)
        .map_err(|e| field_error::<ReplayError>(name, format!("column `{name}`: {e}")))?;
    cast.as_any()
        .downcast_ref::<arrow::array::StringArray>()
        .cloned()
        .ok_or_else(|| field_error::<ReplayError>(name, format!("column `{name}` is not text")))
}

/// Runs of equal values of a string column (the file each row was read from), as
/// `(first row, rows, value)`; one run of `default` without the column.
fn runs(batch: &RecordBatch, column: Option<&str>, default: &str) -> PyResult<Vec<(usize, usize, String)>> {
    let n = batch.num_rows();
    let Some(name) = column else {
        return Ok(vec![(0, n, default.to_owned())]);
    };
    let strings = strings(batch, name)?;
    let value = |i: usize| {
        if arrow::array::Array::is_null(&strings, i) {
            default
        } else {
            strings.value(i)
        }
    };
    let mut out: Vec<(usize, usize, String)> = Vec::new();
    for i in 0..n {
        match out.last_mut() {
            Some((_, len, v)) if v == value(i) => *len += 1,
            _ => out.push((i, 1, value(i).to_owned())),
        }
    }
    Ok(out)
}

#[pymethods]
impl NativeReplayer {
    /// Compiles the scenario (JSON text) and, when given, the scenario replayed against.
    /// `columns` maps fields to column names as `sgeval replay --columns` does
    /// (`src=source_ip,...`, over Alibaba's field names).
    #[new]
    #[pyo3(signature = (scenario_json, against_json=None, columns=None, state_capacity=None))]
    fn new(
        py: Python<'_>,
        scenario_json: &str,
        against_json: Option<&str>,
        columns: Option<&str>,
        state_capacity: Option<usize>,
    ) -> PyResult<NativeReplayer> {
        let base = cloud_of(py, "scenario", scenario_json)?;
        let against = against_json.map(|t| cloud_of(py, "against", t)).transpose()?;
        let columns = match columns {
            Some(text) => {
                ColumnMap::parse(text).map_err(|e| field_error::<ReplayError>("columns", e.to_string()))?
            }
            None => ColumnMap::default(),
        };
        let mut options = Options::default();
        if let Some(n) = state_capacity {
            options.state_capacity = n;
        }
        let compiled = py
            .detach(|| {
                Compiled::try_new(Clouds { base, against }, |c| {
                    Replayer::new(&c.base, c.against.as_ref(), options)
                })
            })
            .map_err(plain::<crate::errors::BuildError>)?;
        Ok(NativeReplayer { compiled, columns })
    }

    /// Checks that a table with these column names has every required field's column
    /// (the error `sgeval replay` gives a file without one).
    fn check_columns(&self, names: Vec<String>) -> PyResult<()> {
        self.columns
            .resolve(names.iter().map(String::as_str))
            .map(|_| ())
            .map_err(|e| field_error::<ReplayError>("columns", e.to_string()))
    }

    /// The column name of every field, as the column map gives them (what a job needs to
    /// read of a table; other columns can be left unread).
    #[getter]
    fn column_names(&self) -> Vec<String> {
        Field::ALL
            .iter()
            .map(|&f| self.columns.name(f).to_owned())
            .collect()
    }

    /// Whether a second configuration is replayed against.
    #[getter]
    fn has_against(&self) -> bool {
        self.compiled.borrow_dependent().against().is_some()
    }

    /// An empty accumulator for this replayer's records.
    fn accumulator(&self) -> NativeAccumulator {
        NativeAccumulator {
            acc: Mutex::new(self.compiled.borrow_dependent().accumulator()),
        }
    }

    /// Judges a pyarrow `RecordBatch` into `acc` and returns the per-row columns as a
    /// `RecordBatch` (`sgeval_status`, `sgeval_verdict`, `sgeval_rule`, with `against`
    /// `sgeval_against_verdict` and `sgeval_against_rule`, and `sgeval_agrees`), the GIL
    /// released while judging.
    #[pyo3(signature = (batch, acc, skip_bad=false))]
    fn evaluate<'py>(
        &self,
        py: Python<'py>,
        batch: &Bound<'py, PyAny>,
        acc: &NativeAccumulator,
        skip_bad: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let batch = import_batch(batch)?;
        let replayer = self.compiled.borrow_dependent();
        let out = py
            .detach(|| {
                let mut acc = acc.lock();
                evaluate_record_batch(replayer, &batch, &self.columns, &mut acc, skip_bad)
            })
            .map_err(plain::<ReplayError>)?;
        out.to_pyarrow(py)
    }

    /// Judges a pyarrow `RecordBatch` into `acc` without per-row columns. Malformed rows
    /// name the file of column `file_column` (or `file` when there is none) and their row
    /// in the batch; with `skip_bad` they are counted and listed instead of raised. Returns
    /// the rows judged.
    #[pyo3(signature = (batch, acc, skip_bad=false, file_column=None, file="<batch>"))]
    fn accumulate(
        &self,
        py: Python<'_>,
        batch: &Bound<'_, PyAny>,
        acc: &NativeAccumulator,
        skip_bad: bool,
        file_column: Option<&str>,
        file: &str,
    ) -> PyResult<usize> {
        let batch = import_batch(batch)?;
        let runs = runs(&batch, file_column, file)?;
        let replayer = self.compiled.borrow_dependent();
        py.detach(|| {
            let mut acc = acc.lock();
            for (first, len, file) in runs {
                let part = batch.slice(first, len);
                let columns = BatchColumns::new(&part, &self.columns).map_err(|e| e.to_string())?;
                judge_columns(
                    replayer,
                    &columns,
                    &mut acc,
                    Path::new(&file),
                    first as u64,
                    skip_bad,
                    |_, _| {},
                )
                .map_err(|e| e.to_string())?;
            }
            Ok::<usize, String>(batch.num_rows())
        })
        .map_err(plain::<ReplayError>)
    }

    /// Judges a pyarrow `RecordBatch` of text lines (column `column`, as Spark's text reader
    /// gives them) into `acc`, each line read as `sgeval replay` reads a file of `format`:
    /// `huawei` (Huawei Cloud's space-separated records) or `jsonl` (JSON lines, keys by
    /// the column map). Blank lines are passed over; malformed ones name the file of column
    /// `file_column` (or `file`) and, with `skip_bad`, are counted and listed instead of
    /// raised. Returns the lines read.
    #[pyo3(signature = (batch, acc, format, skip_bad=false, file_column=None, file="<batch>", column="value"))]
    #[allow(clippy::too_many_arguments)]
    fn accumulate_lines(
        &self,
        py: Python<'_>,
        batch: &Bound<'_, PyAny>,
        acc: &NativeAccumulator,
        format: &str,
        skip_bad: bool,
        file_column: Option<&str>,
        file: &str,
        column: &str,
    ) -> PyResult<usize> {
        let how = match format {
            "huawei" => Lines::Huawei(huawei::positions()),
            "jsonl" => Lines::Json(alibaba::json_positions(&self.columns)),
            other => {
                return Err(field_error::<ReplayError>(
                    "format",
                    format!("format `{other}`: expected `huawei` or `jsonl`"),
                ))
            }
        };
        let batch = import_batch(batch)?;
        let runs = runs(&batch, file_column, file)?;
        let text = strings(&batch, column)?;
        let replayer = self.compiled.borrow_dependent();
        py.detach(|| {
            let mut acc = acc.lock();
            for (first, len, file) in runs {
                for i in first..first + len {
                    if arrow::array::Array::is_null(&text, i) {
                        continue;
                    }
                    let line = text.value(i);
                    let line = line.strip_suffix('\r').unwrap_or(line);
                    let judged = match &how {
                        Lines::Huawei(pos) => {
                            huawei::parse(pos, line).map(|r| r.map(|row| replayer.judge(&row, &mut acc)))
                        }
                        Lines::Json(pos) => JsonRow::parse(&self.columns, line)
                            .map(|r| r.and_then(|j| j.row(pos).map(|row| replayer.judge(&row, &mut acc)))),
                    };
                    if let Some(Err(error)) = judged {
                        let bad = BadRow {
                            location: Location {
                                file: PathBuf::from(&file),
                                line: (i - first) as u64 + 1,
                            },
                            error,
                        };
                        if !skip_bad {
                            return Err(bad.to_string());
                        }
                        acc.skipped(bad);
                    }
                }
            }
            Ok(batch.num_rows())
        })
        .map_err(plain::<ReplayError>)
    }

    /// Reads part of a flow-log file with `sgeval replay`'s own readers and judges it into
    /// `acc`, the GIL released: rows `start..end` of a Parquet file (`format` `parquet`), or
    /// the lines starting in bytes `start..end` of a text file (`csv`, `jsonl`, `huawei`;
    /// parts that tile a file read each line once, a CSV header from the file's start).
    /// Malformed rows keep their file (`path` as given) and line or row numbers; with
    /// `skip_bad` they are counted and listed instead of raised. A task of the Spark job
    /// (`sgeval.spark.replay_files`) runs one part.
    #[pyo3(signature = (path, format, start, end, acc, skip_bad=false))]
    #[allow(clippy::too_many_arguments)]
    fn replay_part(
        &self,
        py: Python<'_>,
        path: PathBuf,
        format: &str,
        start: u64,
        end: u64,
        acc: &NativeAccumulator,
        skip_bad: bool,
    ) -> PyResult<()> {
        let (format, part) = match format {
            "parquet" => (Format::Parquet, Part::Rows(start..end)),
            "csv" | "alibaba-csv" => (Format::Csv, Part::Bytes(start..end)),
            "jsonl" | "alibaba-json" => (Format::JsonLines, Part::Bytes(start..end)),
            "huawei" => (Format::Huawei, Part::Bytes(start..end)),
            other => {
                return Err(field_error::<ReplayError>(
                    "format",
                    format!("format `{other}`: expected `parquet`, `csv`, `jsonl` or `huawei`"),
                ))
            }
        };
        let input = Input { path, format };
        let options = RunOptions {
            threads: 1,
            skip_bad,
            columns: self.columns.clone(),
            progress: None,
        };
        let replayer = self.compiled.borrow_dependent();
        py.detach(|| {
            let mut acc = acc.lock();
            replay_part(replayer, &input, &part, &options, &mut acc)
        })
        .map_err(plain::<ReplayError>)
    }

    /// Settles the connection state of everything `acc` holds and gives the report as
    /// `(json, text)`: the JSON text `sgeval replay --json` prints and the text it prints
    /// without `--json`. `acc` is emptied. Without `lines` (a Spark job does not know line
    /// numbers), the malformed rows listed have `line` null in the JSON and are named by
    /// file alone in the text.
    #[pyo3(signature = (acc, lines=true))]
    fn report(&self, py: Python<'_>, acc: &NativeAccumulator, lines: bool) -> (String, String) {
        let replayer = self.compiled.borrow_dependent();
        let all = std::mem::replace(&mut *acc.lock(), replayer.accumulator());
        py.detach(|| {
            let mut report = all.finish(replayer);
            let mut json = report.to_json(replayer);
            if lines {
                return (json.to_string(), report.to_text(replayer));
            }
            if let Some(Value::Array(rows)) = json.get_mut("bad_rows") {
                for row in rows {
                    row["line"] = Value::Null;
                }
            }
            let bad = std::mem::take(&mut report.bad);
            let mut text = report.to_text(replayer);
            if !bad.is_empty() {
                text.push_str(&format!("malformed rows skipped (first {}):\n", bad.len()));
                for b in bad {
                    text.push_str(&format!("  {}: {}\n", b.location.file.display(), b.error));
                }
            }
            (json.to_string(), text)
        })
    }
}

#[pymethods]
impl NativeAccumulator {
    /// The accumulator as JSON text (to ship between processes).
    fn to_json(&self, py: Python<'_>) -> String {
        py.detach(|| self.lock().to_json())
    }

    /// An accumulator from `to_json`'s text.
    #[staticmethod]
    fn from_json(py: Python<'_>, text: &str) -> PyResult<NativeAccumulator> {
        let acc = py.detach(|| Accumulator::from_json(text)).map_err(|e| {
            field_error::<ReplayError>("accumulator", format!("not a replay accumulator: {e}"))
        })?;
        Ok(NativeAccumulator { acc: Mutex::new(acc) })
    }

    /// Adds `other`'s counts, groups and connection state to this one (`other` is emptied).
    fn merge(&self, py: Python<'_>, other: &NativeAccumulator) -> PyResult<()> {
        if std::ptr::eq(self, other) {
            return Err(plain::<ReplayError>("cannot merge an accumulator into itself"));
        }
        let taken = {
            let mut o = other.lock();
            let empty = Accumulator::new(false, Options::default());
            std::mem::replace(&mut *o, empty)
        };
        py.detach(|| self.lock().merge(taken));
        Ok(())
    }

    /// The counts so far as JSON text (connection state not yet settled).
    fn counts_json(&self) -> String {
        serde_json::to_string(self.lock().counts()).unwrap_or_else(|_| "null".into())
    }
}

/// Registers the classes and the exception on the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("ReplayError", m.py().get_type::<ReplayError>())?;
    m.add_class::<NativeReplayer>()?;
    m.add_class::<NativeAccumulator>()?;
    Ok(())
}
