//! One part of one file, replayed into an accumulator of its own: what a job that spreads
//! a file's parts over processes runs (the Spark job of the Python package, where each
//! task reads its part with these readers and the driver merges the accumulators and
//! finishes once, as [`run`](super::run) does with its threads).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};
use std::ops::Range;
use std::sync::Arc;

use parquet::arrow::arrow_reader::{ArrowReaderMetadata, ArrowReaderOptions};
use parquet::file::metadata::PageIndexPolicy;

use super::{csv_header, fill, row_group, text_block, Format, Input, RunError, RunOptions, Text, BLOCK};
use crate::replay::alibaba;
use crate::replay::huawei;
use crate::replay::Accumulator;
use crate::replay::Replayer;

/// A part of one input file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Part {
    /// Rows `start..end` of a Parquet file, counted from 0 across its row groups (a range
    /// past the end stops at it).
    Rows(Range<u64>),
    /// The lines of a text file whose first byte lies in `start..end`: parts that tile a
    /// file read every line once, whatever their bounds. Lines keep their numbers in the
    /// file, and a CSV file's header is read from the file's start whatever the range.
    Bytes(Range<u64>),
}

/// Replays `part` of `input` into `acc`, as [`run`](super::run) reads that file (same
/// readers, same row and line numbers); `acc` is not finished, so the parts of a run can be
/// judged apart, merged ([`Accumulator::merge`]) and finished once. `options.threads` and
/// `options.progress` are not used.
///
/// # Errors
/// As [`run`](super::run): an unreadable file, a missing column, a malformed row (unless
/// `options.skip_bad`), the first in the part.
pub fn replay_part(
    replayer: &Replayer<'_>,
    input: &Input,
    part: &Part,
    options: &RunOptions<'_>,
    acc: &mut Accumulator,
) -> Result<(), RunError> {
    let io = |e| RunError::Io {
        path: input.path.clone(),
        error: e,
    };
    match (input.format, part) {
        (Format::Parquet, Part::Rows(rows)) => {
            let file = File::open(&input.path).map_err(io)?;
            let load = ArrowReaderOptions::new().with_offset_index_policy(PageIndexPolicy::Optional);
            let meta = ArrowReaderMetadata::load(&file, load).map_err(|e| RunError::Parquet {
                path: input.path.clone(),
                message: e.to_string(),
            })?;
            let names: Vec<&str> = meta.schema().fields().iter().map(|f| f.name().as_str()).collect();
            options
                .columns
                .resolve(names.iter().copied())
                .map_err(|error| RunError::Columns {
                    path: input.path.clone(),
                    error,
                })?;
            let mut first_row = 0u64;
            for (index, rg) in meta.metadata().row_groups().iter().enumerate() {
                let n = rg.num_rows().max(0) as u64;
                let (lo, hi) = (rows.start.max(first_row), rows.end.min(first_row + n));
                if lo < hi {
                    let rows = ((lo - first_row) as usize, (hi - lo) as usize);
                    row_group(replayer, &input.path, &meta, index, rows, first_row, options, acc)?;
                }
                first_row += n;
            }
            Ok(())
        }
        (Format::Parquet, Part::Bytes(_)) | (_, Part::Rows(_)) => Err(RunError::Io {
            path: input.path.clone(),
            error: std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "a Parquet file is split by rows, a text file by bytes",
            ),
        }),
        (_, Part::Bytes(bytes)) => {
            let mut reader = BufReader::with_capacity(BLOCK, File::open(&input.path).map_err(io)?);
            let how = match input.format {
                Format::Csv => match csv_header(input, &mut reader, &options.columns)? {
                    Some(how) => how,
                    None => return Ok(()),
                },
                Format::JsonLines => Text::Json(
                    Box::new(options.columns.clone()),
                    alibaba::json_positions(&options.columns),
                ),
                _ => Text::Huawei(huawei::positions()),
            };
            // The part's first line: the first that starts at or after `bytes.start`. Its
            // number is known only at the file's start; elsewhere the part's lines are
            // numbered from 1 and the malformed rows among them shifted at the end by the
            // line ends before the part, counted then, so that a part without one does not
            // read the file up to its start.
            let mut line = 1u64;
            let mut at = 0u64;
            let mut unnumbered = false;
            if bytes.start > 0 {
                reader.seek(SeekFrom::Start(bytes.start - 1)).map_err(io)?;
                at = bytes.start - 1;
                // The rest of the line byte `start - 1` is in belongs to the part before.
                let mut rest = Vec::new();
                at += reader.read_until(b'\n', &mut rest).map_err(io)? as u64;
                unnumbered = true;
            } else if input.format == Format::Csv {
                // The header line, read above.
                reader.seek(SeekFrom::Start(0)).map_err(io)?;
                let mut head = Vec::new();
                at = reader.read_until(b'\n', &mut head).map_err(io)? as u64;
                line = 2;
            }
            let first = at;
            let (listed, _) = acc.listed_bad_from(usize::MAX);
            let how = Arc::new(how);
            let mut block: Vec<u8> = Vec::new();
            let mut result = Ok(());
            while at < bytes.end {
                let eof = fill(&mut reader, &mut block).map_err(io)? < BLOCK;
                if block.is_empty() {
                    break;
                }
                // The last line of the part ends at the first line end at or after byte
                // `end - 1`; before it, blocks are cut after their last line end.
                let last = (bytes.end - 1).saturating_sub(at);
                let (cut, done) = match usize::try_from(last).ok().filter(|&l| l < block.len()) {
                    Some(l) => match memchr::memchr(b'\n', &block[l..]) {
                        Some(j) => (l + j + 1, true),
                        None if eof => (block.len(), true),
                        None => continue,
                    },
                    None => match memchr::memrchr(b'\n', &block) {
                        _ if eof => (block.len(), true),
                        Some(i) => (i + 1, false),
                        // A line longer than a block: keep reading it.
                        None => continue,
                    },
                };
                let carry = block.split_off(cut);
                if let Err(e) = text_block(replayer, &input.path, &how, line, &block, options.skip_bad, acc) {
                    result = Err(e);
                    break;
                }
                line += memchr::memchr_iter(b'\n', &block).count() as u64;
                at += cut as u64;
                block = carry;
                if done {
                    break;
                }
            }
            let (now, _) = acc.listed_bad_from(listed);
            if unnumbered && (now > listed || matches!(result, Err(RunError::Bad(_)))) {
                let before = newlines(&input.path, first).map_err(io)?;
                for b in acc.listed_bad_from(listed).1 {
                    b.location.line += before;
                }
                if let Err(RunError::Bad(b)) = &mut result {
                    b.location.line += before;
                }
            }
            result
        }
    }
}

/// The line ends in the first `end` bytes of a file.
fn newlines(path: &std::path::Path, end: u64) -> std::io::Result<u64> {
    let mut skip = File::open(path)?.take(end);
    let mut buf = vec![0u8; BLOCK];
    let mut count = 0u64;
    loop {
        let n = skip.read(&mut buf)?;
        if n == 0 {
            return Ok(count);
        }
        count += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{fixture, parquet_of};
    use super::*;
    use crate::replay::{Options, Report};
    use crate::Scenario;

    fn options(skip_bad: bool) -> RunOptions<'static> {
        super::super::tests::options(1, skip_bad)
    }

    /// The report of `parts` of `input`, each judged into its own accumulator and merged.
    fn parts(
        replayer: &Replayer<'_>,
        input: &Input,
        parts: &[Part],
        skip_bad: bool,
    ) -> Result<Report, RunError> {
        let mut all = replayer.accumulator();
        for part in parts {
            let mut acc = replayer.accumulator();
            replay_part(replayer, input, part, &options(skip_bad), &mut acc)?;
            all.merge(acc);
        }
        Ok(all.finish(replayer))
    }

    /// Text files cut at every byte size from 1 to past the file's length, and Parquet rows
    /// cut in ranges of every size, give `run`'s report: every line read once, with its
    /// number (malformed rows listed by line).
    #[test]
    fn parts_that_tile_a_file_give_the_whole_report() {
        let cases = [
            ("alibaba-scenario.json", "alibaba.csv", Format::Csv),
            ("alibaba-scenario.json", "alibaba.jsonl", Format::JsonLines),
            ("alibaba-scenario.json", "alibaba-bad.csv", Format::Csv),
            ("huawei-scenario.json", "huawei.log", Format::Huawei),
            ("huawei-scenario.json", "huawei-bad.log", Format::Huawei),
        ];
        for (scenario, log, format) in cases {
            let text = std::fs::read_to_string(fixture(scenario)).unwrap();
            let cloud = Scenario::from_json(&text).unwrap().build().unwrap();
            let replayer = Replayer::new(&cloud, None, Options::default()).unwrap();
            let input = Input {
                path: fixture(log),
                format,
            };
            let whole = super::super::run(&replayer, std::slice::from_ref(&input), &options(true)).unwrap();
            assert!(whole.counts.records > 0, "{log}");
            let len = std::fs::metadata(&input.path).unwrap().len();
            // Sizes around line lengths and a few larger ones (a part per byte, too).
            for size in [
                1,
                2,
                3,
                5,
                17,
                40,
                41,
                64,
                97,
                128,
                200,
                333,
                512,
                len / 2,
                len,
                len + 1,
            ] {
                let cut: Vec<Part> = (0..=len / size)
                    .map(|i| Part::Bytes(i * size..(i + 1) * size))
                    .collect();
                let got = parts(&replayer, &input, &cut, true).unwrap();
                assert_eq!(got, whole, "{log} in parts of {size} bytes");
                if let Some(first) = whole.bad.first() {
                    // Without skip_bad, the part holding the first malformed row names its
                    // line, wherever the part starts.
                    match parts(&replayer, &input, &cut, false).unwrap_err() {
                        RunError::Bad(b) => {
                            assert_eq!(b.location, first.location, "{log} in parts of {size} bytes")
                        }
                        other => panic!("{other}"),
                    }
                }
            }
            if whole.counts.skipped > 0 {
                // Without skip_bad, the part holding the first malformed row names it.
                let first = &whole.bad[0].location;
                let err = parts(&replayer, &input, &[Part::Bytes(0..len)], false).unwrap_err();
                match err {
                    RunError::Bad(b) => assert_eq!(&b.location, first),
                    other => panic!("{other}"),
                }
            }
        }
    }

    #[test]
    fn parquet_rows_in_parts_give_the_whole_report() {
        let dir = std::env::temp_dir().join(format!("sgeval-run-parts-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("flows.parquet");
        // Row groups of 4 rows: parts cross their bounds.
        let props = parquet::file::properties::WriterProperties::builder()
            .set_max_row_group_row_count(Some(4))
            .build();
        let n = parquet_of("alibaba-bad.csv", &path, Some(props));

        let scenario = std::fs::read_to_string(fixture("alibaba-scenario.json")).unwrap();
        let cloud = Scenario::from_json(&scenario).unwrap().build().unwrap();
        let replayer = Replayer::new(&cloud, None, Options::default()).unwrap();
        let input = Input {
            path: path.clone(),
            format: Format::Parquet,
        };
        let whole = super::super::run(&replayer, std::slice::from_ref(&input), &options(true)).unwrap();
        assert!(
            whole.counts.records > 2 && whole.counts.skipped > 0,
            "{:?}",
            whole.counts
        );
        for size in 1..=n + 1 {
            let cut: Vec<Part> = (0..=n / size)
                .map(|i| Part::Rows(i * size..(i + 1) * size))
                .collect();
            assert_eq!(
                parts(&replayer, &input, &cut, true).unwrap(),
                whole,
                "parts of {size} rows"
            );
        }
        let wrong = parts(&replayer, &input, &[Part::Bytes(0..10)], true).unwrap_err();
        assert!(wrong.to_string().contains("split by rows"), "{wrong}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
