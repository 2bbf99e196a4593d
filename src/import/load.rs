//! Loading documents: a file, a directory of files, standard input (`-`), each holding one
//! JSON document, several concatenated ones, or JSON lines (one response per line).
//!
//! A file is streamed: a JSON-lines bundle is parsed one line at a time and each document
//! handed on before the next is read, so memory holds one document (plus what the reader
//! keeps of it), never the whole file as one value.

use std::fs;
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;

use serde_json::Value;

use super::{ImportError, Origin, Skipped};

/// One JSON document and where it came from.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    /// The file as the user named it (`-` for standard input), with `:LINE` for a document
    /// of a JSON-lines file holding several, or `#N` for the N-th of several concatenated
    /// multi-line documents.
    pub file: String,
    /// The document.
    pub value: Value,
}

impl Document {
    /// A document read from `file`.
    pub fn new(file: impl Into<String>, value: Value) -> Document {
        Document {
            file: file.into(),
            value,
        }
    }
}

/// File names a directory walk reads; others are listed as skipped.
const EXTENSIONS: &[&str] = &["json", "jsonl", "ndjson", "tfstate"];

/// The documents of a text (a file's content), in order.
///
/// # Errors
/// [`ImportError::Json`] with the line and column of the first malformed or truncated
/// document; nothing is returned then.
pub fn parse_str(file: &str, text: &str) -> Result<Vec<Document>, ImportError> {
    let mut docs = Vec::new();
    from_reader(file, text.as_bytes(), &mut |d| {
        docs.push(d);
        Ok(())
    })?;
    Ok(docs)
}

/// Every document under `path` (a file, a directory walked in name order, or `-` for
/// standard input), each handed to `sink` as soon as it is parsed. Returns the files of a
/// directory that were not read (not `.json`, `.jsonl`, `.ndjson` or `.tfstate`).
///
/// # Errors
/// [`ImportError::Io`] when a file cannot be read, [`ImportError::Json`] for a malformed
/// document, and whatever `sink` returns.
pub fn load_path(
    path: &str,
    sink: &mut dyn FnMut(Document) -> Result<(), ImportError>,
) -> Result<Vec<Skipped>, ImportError> {
    let mut skipped = Vec::new();
    if path == "-" {
        let stdin = io::stdin();
        from_reader("-", stdin.lock(), sink)?;
        return Ok(skipped);
    }
    walk(Path::new(path), path, sink, &mut skipped)?;
    Ok(skipped)
}

fn io_error(file: &str, e: &io::Error) -> ImportError {
    ImportError::Io {
        file: file.to_owned(),
        message: e.to_string(),
    }
}

fn walk(
    path: &Path,
    shown: &str,
    sink: &mut dyn FnMut(Document) -> Result<(), ImportError>,
    skipped: &mut Vec<Skipped>,
) -> Result<(), ImportError> {
    let meta = fs::metadata(path).map_err(|e| io_error(shown, &e))?;
    if meta.is_dir() {
        let mut entries: Vec<_> = fs::read_dir(path)
            .map_err(|e| io_error(shown, &e))?
            .map(|e| e.map(|e| e.path()).map_err(|e| io_error(shown, &e)))
            .collect::<Result<_, _>>()?;
        entries.sort();
        for entry in entries {
            let name = entry.display().to_string();
            let hidden = entry
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with('.'));
            if entry.is_dir() {
                if !hidden {
                    walk(&entry, &name, sink, skipped)?;
                }
                continue;
            }
            let ext = entry.extension().and_then(|e| e.to_str()).unwrap_or("");
            if hidden || !EXTENSIONS.contains(&ext) {
                skipped.push(Skipped {
                    origin: Origin::new(name, ""),
                    kind: "file".to_owned(),
                    reason: "not a .json, .jsonl, .ndjson or .tfstate file".to_owned(),
                });
                continue;
            }
            let file = fs::File::open(&entry).map_err(|e| io_error(&name, &e))?;
            from_reader(&name, BufReader::with_capacity(1 << 16, file), sink)?;
        }
        return Ok(());
    }
    let file = fs::File::open(path).map_err(|e| io_error(shown, &e))?;
    from_reader(shown, BufReader::with_capacity(1 << 16, file), sink)
}

fn json_error(file: &str, line: usize, column: usize, e: &serde_json::Error) -> ImportError {
    // serde_json's message ends with " at line L column C"; the error carries them apart.
    let text = e.to_string();
    let message = match text.rfind(" at line ") {
        Some(at) => text[..at].to_owned(),
        None => text,
    };
    ImportError::Json {
        file: file.to_owned(),
        line,
        column,
        message,
    }
}

/// Reads the documents of one stream. The first non-blank line decides the layout: a
/// complete JSON value on it makes the stream JSON lines (each further non-blank line one
/// document); otherwise the stream is one or more multi-line documents.
///
/// # Errors
/// [`ImportError::Io`], [`ImportError::Json`] (with line and column), or the sink's error.
pub fn from_reader<R: BufRead>(
    file: &str,
    mut reader: R,
    sink: &mut dyn FnMut(Document) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let mut line = String::new();
    let mut lineno = 0usize;
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(|e| io_error(file, &e))? == 0 {
            return Err(ImportError::Unrecognised {
                file: file.to_owned(),
                message: "the file is empty: no JSON document".to_owned(),
            });
        }
        lineno += 1;
        // A byte-order mark (PowerShell redirections write one) is not part of the JSON.
        if lineno == 1 && line.starts_with('\u{feff}') {
            line.drain(..'\u{feff}'.len_utf8());
        }
        if !line.trim().is_empty() {
            break;
        }
    }
    match serde_json::from_str::<Value>(&line) {
        Ok(first) => json_lines(file, reader, first, lineno, sink),
        Err(e) if e.is_eof() => {
            // Keep the line numbers of serde_json's errors those of the file.
            let mut prefix = "\n".repeat(lineno - 1);
            prefix.push_str(&line);
            multi_line(file, prefix.as_bytes().chain(reader), sink)
        }
        Err(e) => Err(json_error(file, lineno, e.column(), &e)),
    }
}

fn json_lines<R: BufRead>(
    file: &str,
    mut reader: R,
    first: Value,
    first_line: usize,
    sink: &mut dyn FnMut(Document) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    // The first document is labelled once it is known whether more follow.
    let mut pending = Some((first_line, first));
    let mut line = String::new();
    let mut lineno = first_line;
    loop {
        line.clear();
        if reader.read_line(&mut line).map_err(|e| io_error(file, &e))? == 0 {
            break;
        }
        lineno += 1;
        if line.trim().is_empty() {
            continue;
        }
        let value: Value =
            serde_json::from_str(&line).map_err(|e| json_error(file, lineno, e.column(), &e))?;
        if let Some((n, v)) = pending.take() {
            sink(Document::new(format!("{file}:{n}"), v))?;
        }
        sink(Document::new(format!("{file}:{lineno}"), value))?;
    }
    if let Some((_, v)) = pending {
        sink(Document::new(file, v))?;
    }
    Ok(())
}

fn multi_line<R: Read>(
    file: &str,
    reader: R,
    sink: &mut dyn FnMut(Document) -> Result<(), ImportError>,
) -> Result<(), ImportError> {
    let stream = serde_json::Deserializer::from_reader(reader).into_iter::<Value>();
    let mut pending: Option<Value> = None;
    let mut count = 0usize;
    for value in stream {
        let value = value.map_err(|e| json_error(file, e.line(), e.column(), &e))?;
        count += 1;
        if let Some(v) = pending.take() {
            sink(Document::new(format!("{file}#1"), v))?;
        }
        if count == 1 {
            pending = Some(value);
        } else {
            sink(Document::new(format!("{file}#{count}"), value))?;
        }
    }
    if let Some(v) = pending {
        sink(Document::new(file, v))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pretty_document_keeps_the_file_name() {
        let docs = parse_str("a.json", "{\n  \"a\": 1\n}\n").unwrap();
        assert_eq!(docs, vec![Document::new("a.json", serde_json::json!({"a": 1}))]);
    }

    #[test]
    fn json_lines_are_labelled_by_line() {
        let docs = parse_str("b.jsonl", "{\"a\":1}\n\n{\"a\":2}\n").unwrap();
        let names: Vec<_> = docs.iter().map(|d| d.file.as_str()).collect();
        assert_eq!(names, ["b.jsonl:1", "b.jsonl:3"]);
    }

    #[test]
    fn concatenated_documents_are_numbered() {
        let docs = parse_str("c.json", "{\n\"a\":1}\n{\n\"a\":2}").unwrap();
        let names: Vec<_> = docs.iter().map(|d| d.file.as_str()).collect();
        assert_eq!(names, ["c.json#1", "c.json#2"]);
    }

    #[test]
    fn a_bad_json_line_names_its_line_and_column() {
        let err = parse_str("d.jsonl", "{\"a\":1}\n{\"a\":1}\n{\"a\":tru}\n").unwrap_err();
        match err {
            ImportError::Json {
                file, line, column, ..
            } => {
                assert_eq!((file.as_str(), line), ("d.jsonl", 3));
                assert!(column >= 6, "column {column}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_truncated_document_is_an_error_at_its_end() {
        let err = parse_str("e.json", "{\n  \"Permissions\": {\n    \"Permission\": [\n").unwrap_err();
        match err {
            ImportError::Json { line, message, .. } => {
                assert_eq!(line, 4);
                assert!(message.contains("EOF"), "{message}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        let docs = parse_str("bom.json", "\u{feff}{\n\"a\": 1\n}").unwrap();
        assert_eq!(docs[0].value, serde_json::json!({"a": 1}));
        let docs = parse_str("bom.jsonl", "\u{feff}{\"a\": 1}\n{\"a\": 2}\n").unwrap();
        assert_eq!(docs.len(), 2);
    }

    #[test]
    fn an_empty_file_is_refused() {
        assert!(matches!(
            parse_str("f.json", "\n \n"),
            Err(ImportError::Unrecognised { .. })
        ));
    }

    #[test]
    fn a_directory_is_read_in_name_order_and_other_files_are_skipped() {
        let dir = std::env::temp_dir().join(format!("sgeval-load-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join("b.json"), "{\"b\":1}").unwrap();
        fs::write(dir.join("a.jsonl"), "{\"a\":1}\n{\"a\":2}\n").unwrap();
        fs::write(dir.join("notes.txt"), "hello").unwrap();
        let mut seen = Vec::new();
        let skipped = load_path(dir.to_str().unwrap(), &mut |d| {
            seen.push(d.value);
            Ok(())
        })
        .unwrap();
        fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            seen,
            vec![
                serde_json::json!({"a":1}),
                serde_json::json!({"a":2}),
                serde_json::json!({"b":1})
            ]
        );
        assert_eq!(skipped.len(), 1);
        assert!(skipped[0].origin.file.ends_with("notes.txt"));
    }
}
