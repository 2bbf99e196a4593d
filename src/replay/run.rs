//! Replaying files on one machine: streaming readers with bounded memory, in parallel.
//!
//! A reader thread cuts each text file into blocks of whole lines (about 1 MiB) and hands
//! them to the worker threads through a bounded queue, so memory stays at a few blocks per
//! thread whatever the size of the input; Parquet files are split by row group, each worker
//! reading its own. Every worker judges into its own [`Accumulator`]; they are merged and
//! finished at the end, so the report does not depend on the number of threads. Records
//! must not span lines (flow logs never do; a quoted CSV field with a line break inside is
//! read as a malformed row).

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver};
use std::sync::{Arc, Mutex};

use arrow_schema::{DataType, Field as ArrowField, Schema};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder, RowSelection, RowSelector,
};
use parquet::arrow::ProjectionMask;
use parquet::basic::Encoding;
use parquet::file::metadata::PageIndexPolicy;

use super::alibaba::{self, JsonRow};
use super::batch::{judge_columns, BatchColumns};
use super::huawei;
use super::record::{BadRow, FieldError, Location};
use super::table::{ColumnError, ColumnMap, Field, Positions};
use super::{Accumulator, Replayer, Report};

mod part;
pub use self::part::{replay_part, Part};

/// How a file's records are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// CSV with a header row; columns by [`ColumnMap`] (default: Alibaba's field names, as
    /// Log Service exports them).
    Csv,
    /// JSON lines, one object per record (Log Service's JSON export); keys by [`ColumnMap`].
    JsonLines,
    /// Huawei Cloud's space-separated records.
    Huawei,
    /// Parquet; columns by [`ColumnMap`].
    Parquet,
}

impl Format {
    /// Guesses a file's format from its first bytes: Parquet's `PAR1` magic, a `{` (JSON
    /// lines), a first line with a comma (CSV), else Huawei's space-separated records.
    ///
    /// # Errors
    /// A file that cannot be read.
    pub fn detect(path: &Path) -> Result<Format, RunError> {
        let io = |e| RunError::Io {
            path: path.to_owned(),
            error: e,
        };
        let mut head = Vec::with_capacity(4096);
        File::open(path)
            .map_err(io)?
            .take(4096)
            .read_to_end(&mut head)
            .map_err(io)?;
        if head.starts_with(b"PAR1") {
            return Ok(Format::Parquet);
        }
        let text = String::from_utf8_lossy(&head);
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        Ok(if first.trim_start().starts_with('{') {
            Format::JsonLines
        } else if first.contains(',') {
            Format::Csv
        } else {
            Format::Huawei
        })
    }
}

/// One input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Input {
    /// The file.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
}

/// How to run a replay.
#[derive(Debug)]
pub struct RunOptions<'p> {
    /// Worker threads (at least 1).
    pub threads: usize,
    /// Count malformed rows and go on, instead of stopping at the first.
    pub skip_bad: bool,
    /// Column names for CSV, JSON lines and Parquet.
    pub columns: ColumnMap,
    /// Bytes of the files read so far (a Parquet row group counts its compressed size), for
    /// a progress bar.
    pub progress: Option<&'p AtomicU64>,
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// A file that cannot be read.
    #[error("cannot read `{path}`: {error}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        error: std::io::Error,
    },
    /// A table without a required column.
    #[error("`{path}`: {error}")]
    Columns {
        /// The file.
        path: PathBuf,
        /// The error.
        error: ColumnError,
    },
    /// A Parquet file that cannot be decoded.
    #[error("`{path}`: {message}")]
    Parquet {
        /// The file.
        path: PathBuf,
        /// The decoder's message.
        message: String,
    },
    /// A malformed row (without `skip_bad`).
    #[error("{0} (use --skip-bad to count such rows and go on)")]
    Bad(BadRow),
}

/// How a text block is read.
#[derive(Debug)]
enum Text {
    Csv(Positions),
    Json(Box<ColumnMap>, Positions),
    Huawei(Positions),
}

enum Work {
    Text {
        file: Arc<Path>,
        how: Arc<Text>,
        first_line: u64,
        bytes: Vec<u8>,
    },
    RowGroup {
        file: Arc<Path>,
        /// The file's footer, read once for all its row groups.
        meta: Arc<ArrowReaderMetadata>,
        index: usize,
        /// The rows of the group to read: the first (counted in the group) and how many.
        rows: (usize, usize),
        /// The file's row number of the group's first row.
        first_row: u64,
    },
}

/// Most rows of a Parquet work item when several threads share the file: a row group is
/// cut in slices so that threads share a file of few row groups evenly (each slice skips
/// to its pages through the file's offset index, when it has one).
/// (Three rows in unit tests, so that small files are cut too.)
const SLICE: usize = if cfg!(test) { 3 } else { 1 << 18 };

/// Block size handed to a worker.
const BLOCK: usize = 1 << 20;

/// Replays `inputs` and gives the report.
///
/// # Errors
/// An unreadable file, a missing column, a malformed row (unless `skip_bad`): the first by
/// file order and line.
pub fn run(replayer: &Replayer<'_>, inputs: &[Input], options: &RunOptions<'_>) -> Result<Report, RunError> {
    let threads = options.threads.max(1);
    let (tx, rx) = sync_channel::<Work>(threads * 2);
    let rx = Arc::new(Mutex::new(rx));
    let stop = AtomicBool::new(false);
    let failure: Mutex<Option<((usize, u64), RunError)>> = Mutex::new(None);
    let order: Vec<Arc<Path>> = inputs.iter().map(|i| Arc::from(i.path.as_path())).collect();
    // The first error by file order and line wins, whichever thread meets it first.
    let fail = |e: RunError| {
        let rank = |e: &RunError| match e {
            RunError::Bad(b) => (
                order
                    .iter()
                    .position(|p| **p == *b.location.file)
                    .unwrap_or(usize::MAX),
                b.location.line,
            ),
            RunError::Io { path, .. } | RunError::Columns { path, .. } | RunError::Parquet { path, .. } => {
                (order.iter().position(|p| **p == **path).unwrap_or(usize::MAX), 0)
            }
        };
        let mut slot = failure.lock().unwrap_or_else(|p| p.into_inner());
        let r = rank(&e);
        // Work items are taken in file order, so every item before a failing one has been
        // taken and runs to its end: the earliest error is among those reported.
        if slot.as_ref().is_none_or(|(old, _)| r < *old) {
            *slot = Some((r, e));
        }
        stop.store(true, Ordering::Relaxed);
    };
    let share = (replayer.options().state_capacity / threads).max(1);
    let accumulators: Vec<Accumulator> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let rx = Arc::clone(&rx);
                let fail = &fail;
                scope.spawn(move || {
                    let mut acc = replayer.accumulator();
                    acc.set_state_capacity(share);
                    worker(replayer, &rx, options, &mut acc, fail);
                    acc
                })
            })
            .collect();
        for (input, path) in inputs.iter().zip(&order) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            if let Err(e) = produce(input, path, &options.columns, threads, &tx, &stop) {
                fail(e);
                break;
            }
        }
        drop(tx);
        workers
            .into_iter()
            .map(|w| w.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    if let Some((_, e)) = failure.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(e);
    }
    let mut all = replayer.accumulator();
    for acc in accumulators {
        all.merge(acc);
    }
    Ok(all.finish(replayer))
}

/// Appends up to [`BLOCK`] bytes of `reader` to `block`, reading on after short reads (a
/// short read is not the end of the file); the number of bytes appended, 0 at its end.
pub(super) fn fill(reader: &mut impl Read, block: &mut Vec<u8>) -> std::io::Result<usize> {
    block.reserve(BLOCK);
    reader.take(BLOCK as u64).read_to_end(block)
}

/// Reads one input into work items.
fn produce(
    input: &Input,
    path: &Arc<Path>,
    columns: &ColumnMap,
    threads: usize,
    tx: &std::sync::mpsc::SyncSender<Work>,
    stop: &AtomicBool,
) -> Result<(), RunError> {
    let io = |e| RunError::Io {
        path: input.path.clone(),
        error: e,
    };
    if input.format == Format::Parquet {
        let file = File::open(&input.path).map_err(io)?;
        // The offset index (when the file has one) lets a slice of a row group skip pages.
        let load = ArrowReaderOptions::new().with_offset_index_policy(PageIndexPolicy::Optional);
        let meta = ArrowReaderMetadata::load(&file, load).map_err(|e| RunError::Parquet {
            path: input.path.clone(),
            message: e.to_string(),
        })?;
        let meta = Arc::new(meta);
        // Check the columns once, before any worker reads.
        let schema = meta.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        columns
            .resolve(names.iter().copied())
            .map_err(|error| RunError::Columns {
                path: input.path.clone(),
                error,
            })?;
        let mut first_row = 0u64;
        for (index, rg) in meta.metadata().row_groups().iter().enumerate() {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            let n = usize::try_from(rg.num_rows()).unwrap_or(0);
            let slice = if threads > 1 { SLICE } else { n.max(1) };
            for start in (0..n).step_by(slice) {
                let work = Work::RowGroup {
                    file: Arc::clone(path),
                    meta: Arc::clone(&meta),
                    index,
                    rows: (start, slice.min(n - start)),
                    first_row,
                };
                if tx.send(work).is_err() {
                    return Ok(());
                }
            }
            first_row += rg.num_rows() as u64;
        }
        return Ok(());
    }
    let mut reader = BufReader::with_capacity(BLOCK, File::open(&input.path).map_err(io)?);
    let mut line_no = 1u64;
    let how = match input.format {
        Format::Csv => {
            let Some(how) = csv_header(input, &mut reader, columns)? else {
                return Ok(());
            };
            line_no += 1;
            how
        }
        Format::JsonLines => Text::Json(Box::new(columns.clone()), alibaba::json_positions(columns)),
        Format::Huawei => Text::Huawei(huawei::positions()),
        Format::Parquet => return Ok(()),
    };
    let how = Arc::new(how);
    let mut carry: Vec<u8> = Vec::new();
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let mut block = std::mem::take(&mut carry);
        let at_end = fill(&mut reader, &mut block).map_err(io)? == 0;
        if block.is_empty() {
            return Ok(());
        }
        let cut = if at_end {
            block.len()
        } else {
            match memchr::memrchr(b'\n', &block) {
                Some(i) => i + 1,
                // A line longer than a block: keep reading it.
                None => {
                    carry = block;
                    continue;
                }
            }
        };
        carry = block.split_off(cut);
        let lines = memchr::memchr_iter(b'\n', &block).count() as u64;
        let work = Work::Text {
            file: Arc::clone(path),
            how: Arc::clone(&how),
            first_line: line_no,
            bytes: block,
        };
        line_no += lines;
        if tx.send(work).is_err() || at_end {
            return Ok(());
        }
    }
}

/// A CSV file's header: the positions of the mapped columns, or `None` for an empty file.
fn csv_header(
    input: &Input,
    reader: &mut BufReader<File>,
    columns: &ColumnMap,
) -> Result<Option<Text>, RunError> {
    let mut head = Vec::new();
    reader.read_until(b'\n', &mut head).map_err(|e| RunError::Io {
        path: input.path.clone(),
        error: e,
    })?;
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(&head[..]);
    let mut record = csv::StringRecord::new();
    let ok = csv.read_record(&mut record).map_err(|e| {
        RunError::Bad(BadRow {
            location: Location {
                file: input.path.clone(),
                line: 1,
            },
            error: FieldError::new("header", &String::from_utf8_lossy(&head), e.to_string()),
        })
    })?;
    if !ok {
        return Ok(None);
    }
    let pos = columns
        .resolve(record.iter())
        .map_err(|error| RunError::Columns {
            path: input.path.clone(),
            error,
        })?;
    Ok(Some(Text::Csv(pos)))
}

fn worker(
    replayer: &Replayer<'_>,
    rx: &Mutex<Receiver<Work>>,
    options: &RunOptions<'_>,
    acc: &mut Accumulator,
    fail: &(dyn Fn(RunError) + Sync),
) {
    loop {
        let work = {
            let rx = rx.lock().unwrap_or_else(|p| p.into_inner());
            rx.recv()
        };
        let Ok(work) = work else { return };
        // An item taken is run to its end even after another failed (the reader sends no
        // more then): an earlier error may be in it, and the first one in file order wins.
        let result = match work {
            Work::Text {
                file,
                how,
                first_line,
                bytes,
            } => {
                let r = text_block(replayer, &file, &how, first_line, &bytes, options.skip_bad, acc);
                if let Some(p) = options.progress {
                    p.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                }
                r
            }
            Work::RowGroup {
                file,
                meta,
                index,
                rows,
                first_row,
            } => row_group(replayer, &file, &meta, index, rows, first_row, options, acc),
        };
        if let Err(e) = result {
            fail(e);
        }
    }
}

/// Judges the lines of one block.
fn text_block(
    replayer: &Replayer<'_>,
    file: &Path,
    how: &Text,
    first_line: u64,
    bytes: &[u8],
    skip_bad: bool,
    acc: &mut Accumulator,
) -> Result<(), RunError> {
    let bad = |line: u64, error: FieldError, acc: &mut Accumulator| -> Result<(), RunError> {
        let b = BadRow {
            location: Location {
                file: file.to_owned(),
                line,
            },
            error,
        };
        if skip_bad {
            acc.skipped(b);
            Ok(())
        } else {
            Err(RunError::Bad(b))
        }
    };
    match how {
        Text::Csv(pos) => {
            let mut csv = csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .from_reader(bytes);
            let mut record = csv::StringRecord::new();
            loop {
                let line = first_line + csv.position().line() - 1;
                match csv.read_record(&mut record) {
                    Ok(false) => return Ok(()),
                    Ok(true) => {
                        let line = first_line + record.position().map_or(line, |p| p.line()) - 1;
                        if record.len() == 1 && record[0].trim().is_empty() {
                            continue;
                        }
                        match super::table::row(pos, |i| record.get(i)) {
                            Ok(row) => {
                                replayer.judge(&row, acc);
                            }
                            Err(e) => bad(line, e, acc)?,
                        }
                    }
                    Err(e) => {
                        let line = e.position().map_or(line, |p| first_line + p.line() - 1);
                        bad(
                            line,
                            FieldError::new("record", "", format!("not a CSV record: {e}")),
                            acc,
                        )?;
                        // The reader resumes at the next record after an error.
                    }
                }
            }
        }
        Text::Json(map, pos) => lines(
            bytes,
            first_line,
            |line, text, acc| match JsonRow::parse(map, text) {
                None => Ok(()),
                Some(Err(e)) => bad(line, e, acc),
                Some(Ok(j)) => match j.row(pos) {
                    Ok(row) => {
                        replayer.judge(&row, acc);
                        Ok(())
                    }
                    Err(e) => bad(line, e, acc),
                },
            },
            &bad,
            acc,
        ),
        Text::Huawei(pos) => lines(
            bytes,
            first_line,
            |line, text, acc| match huawei::parse(pos, text) {
                None => Ok(()),
                Some(Err(e)) => bad(line, e, acc),
                Some(Ok(row)) => {
                    replayer.judge(&row, acc);
                    Ok(())
                }
            },
            &bad,
            acc,
        ),
    }
}

/// Calls `each` with every line of a block (line end and `\r` cut), numbered from
/// `first_line`; a line that is not UTF-8 is a malformed row.
fn lines(
    bytes: &[u8],
    first_line: u64,
    mut each: impl FnMut(u64, &str, &mut Accumulator) -> Result<(), RunError>,
    bad: &dyn Fn(u64, FieldError, &mut Accumulator) -> Result<(), RunError>,
    acc: &mut Accumulator,
) -> Result<(), RunError> {
    let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
    if body.is_empty() {
        return Ok(());
    }
    for (n, raw) in body.split(|&b| b == b'\n').enumerate() {
        let line = first_line + n as u64;
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        match std::str::from_utf8(raw) {
            Ok(text) => each(line, text, acc)?,
            Err(_) => bad(
                line,
                FieldError::new("record", &String::from_utf8_lossy(raw), "not UTF-8"),
                acc,
            )?,
        }
    }
    Ok(())
}

/// Judges one Parquet row group.
///
/// Only the mapped columns are decoded, and a string column whose every page in the row
/// group is dictionary-encoded (interface ids, directions, actions: few distinct values) is
/// read as an Arrow dictionary, as it is stored: no string is copied per row, and the
/// interface of a dictionary value is looked up once. Other string columns (addresses,
/// whose dictionary overflows into plain pages on real traffic) are read as string views
/// into the pages, not copied.
#[allow(clippy::too_many_arguments)]
fn row_group(
    replayer: &Replayer<'_>,
    file: &Path,
    meta: &ArrowReaderMetadata,
    index: usize,
    (start, len): (usize, usize),
    first_row: u64,
    options: &RunOptions<'_>,
    acc: &mut Accumulator,
) -> Result<(), RunError> {
    let parquet = |e: parquet::errors::ParquetError| RunError::Parquet {
        path: file.to_owned(),
        message: e.to_string(),
    };
    let f = File::open(file).map_err(|e| RunError::Io {
        path: file.to_owned(),
        error: e,
    })?;
    let Some(rg) = meta.metadata().row_groups().get(index) else {
        return Ok(());
    };
    let whole = usize::try_from(rg.num_rows()).unwrap_or(0);
    // The slice's share of the group's bytes, for the progress bar.
    let size = (rg.compressed_size().max(0) as u64).saturating_mul(len as u64) / (whole.max(1) as u64);
    let wanted: Vec<&str> = Field::ALL.iter().map(|&f| options.columns.name(f)).collect();
    let schema = meta.schema();
    let roots: Vec<usize> = schema
        .fields()
        .iter()
        .enumerate()
        .filter(|(_, f)| wanted.contains(&f.name().as_str()))
        .map(|(i, _)| i)
        .collect();
    let leaves = meta.parquet_schema();
    let dictionary = |root: usize| {
        // A flat column: one leaf under the root, its chunk in this row group.
        let mut leaf = (0..leaves.num_columns()).filter(|&l| leaves.get_column_root_idx(l) == root);
        match (leaf.next(), leaf.next()) {
            (Some(l), None) => rg.columns().get(l).is_some_and(|c| {
                c.dictionary_page_offset().is_some()
                    && c.page_encoding_stats_mask().is_some_and(|m| {
                        m.is_only(Encoding::PLAIN_DICTIONARY) || m.is_only(Encoding::RLE_DICTIONARY)
                    })
            }),
            _ => false,
        }
    };
    let mut hinted = false;
    let fields: Vec<ArrowField> = schema
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| {
            if roots.contains(&i) && *f.data_type() == DataType::Utf8 {
                hinted = true;
                f.as_ref().clone().with_data_type(if dictionary(i) {
                    DataType::Dictionary(Box::new(DataType::Int32), Box::new(DataType::Utf8))
                } else {
                    // Views into the pages (and into the dictionary, for its pages): no
                    // string is copied, and UTF-8 is checked per page, not per value.
                    DataType::Utf8View
                })
            } else {
                f.as_ref().clone()
            }
        })
        .collect();
    let meta = if hinted {
        let hint = Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()));
        ArrowReaderMetadata::try_new(
            Arc::clone(meta.metadata()),
            ArrowReaderOptions::new().with_schema(hint),
        )
        .map_err(parquet)?
    } else {
        meta.clone()
    };
    let mask = ProjectionMask::roots(meta.parquet_schema(), roots);
    let mut builder = ParquetRecordBatchReaderBuilder::new_with_metadata(f, meta)
        .with_row_groups(vec![index])
        .with_projection(mask)
        .with_batch_size(8192);
    if (start, len) != (0, whole) {
        let mut slice = vec![RowSelector::skip(start), RowSelector::select(len)];
        if start + len < whole {
            slice.push(RowSelector::skip(whole - start - len));
        }
        builder = builder.with_row_selection(RowSelection::from(slice));
    }
    let reader = builder.build().map_err(parquet)?;
    let mut row = first_row + start as u64;
    for batch in reader {
        let batch = batch.map_err(|e| RunError::Parquet {
            path: file.to_owned(),
            message: e.to_string(),
        })?;
        let columns = BatchColumns::new(&batch, &options.columns).map_err(|error| RunError::Columns {
            path: file.to_owned(),
            error,
        })?;
        judge_columns(replayer, &columns, acc, file, row, options.skip_bad, |_, _| {})
            .map_err(RunError::Bad)?;
        row += batch.num_rows() as u64;
    }
    // Progress counts file bytes: the row group's share of the file.
    if let Some(p) = options.progress {
        p.fetch_add(size, Ordering::Relaxed);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow_array::{ArrayRef, RecordBatch, StringArray};
    use parquet::file::properties::WriterProperties;

    use super::*;
    use crate::replay::{Options, Replayer};
    use crate::Scenario;

    /// A file of `tests/fixtures/flowlogs` (also for [`part`]'s tests).
    pub(super) fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/flowlogs")
            .join(name)
    }

    /// A Parquet copy of a CSV fixture (every column strings, as exported), written with
    /// `props` (the writer's defaults: one row group); gives its number of rows.
    pub(super) fn parquet_of(csv: &str, out: &Path, props: Option<WriterProperties>) -> u64 {
        let text = std::fs::read_to_string(fixture(csv)).unwrap();
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
        let columns = header.iter().enumerate().map(|(i, name)| {
            let values: Vec<Option<&str>> = rows
                .iter()
                .map(|r| r.get(i).copied().filter(|v| !v.is_empty()))
                .collect();
            (*name, Arc::new(StringArray::from(values)) as ArrayRef)
        });
        let batch = RecordBatch::try_from_iter(columns).unwrap();
        let mut w =
            parquet::arrow::ArrowWriter::try_new(File::create(out).unwrap(), batch.schema(), props).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        rows.len() as u64
    }

    /// Options of a run with `threads` and `skip_bad` (also for [`part`]'s tests).
    pub(super) fn options(threads: usize, skip_bad: bool) -> RunOptions<'static> {
        RunOptions {
            threads,
            skip_bad,
            columns: ColumnMap::default(),
            progress: None,
        }
    }

    /// A row group cut in slices between threads gives the report of one thread reading
    /// it whole, and of the CSV it was made from; a malformed row is named by its file row
    /// whichever slice read it.
    #[test]
    fn row_group_slices_give_the_whole_report() {
        let dir = std::env::temp_dir().join(format!("sgeval-run-slices-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let scenario = std::fs::read_to_string(fixture("alibaba-scenario.json")).unwrap();
        let cloud = Scenario::from_json(&scenario).unwrap().build().unwrap();
        let replayer = Replayer::new(&cloud, None, Options::default()).unwrap();
        let file = dir.join("flows.parquet");
        parquet_of("alibaba.csv", &file, None);
        let input = |path: &Path, format| Input {
            path: path.to_owned(),
            format,
        };
        let whole = run(&replayer, &[input(&file, Format::Parquet)], &options(1, false)).unwrap();
        let sliced = run(&replayer, &[input(&file, Format::Parquet)], &options(3, false)).unwrap();
        let csv = run(
            &replayer,
            &[input(&fixture("alibaba.csv"), Format::Csv)],
            &options(1, false),
        )
        .unwrap();
        assert_eq!(whole, sliced);
        assert_eq!(whole, csv);
        assert!(whole.counts.records > 6, "{:?}", whole.counts);

        let bad = dir.join("bad.parquet");
        parquet_of("alibaba-bad.csv", &bad, None);
        let skipped = |threads| {
            let r = run(
                &replayer,
                &[input(&bad, Format::Parquet)],
                &options(threads, true),
            )
            .unwrap();
            (
                r.counts,
                r.bad.iter().map(|b| b.location.line).collect::<Vec<_>>(),
            )
        };
        let (counts, lines) = skipped(1);
        assert!(counts.skipped > 0 && !lines.is_empty());
        assert_eq!(skipped(3), (counts, lines.clone()));
        let first = run(&replayer, &[input(&bad, Format::Parquet)], &options(3, false)).unwrap_err();
        match first {
            RunError::Bad(b) => assert_eq!(b.location.line, lines[0]),
            other => panic!("{other}"),
        }
        std::fs::remove_dir_all(&dir).ok();
    }
}
