//! ClassBench filter and trace files.
//!
//! ClassBench (Taylor & Turner) is the usual benchmark for packet classifiers: synthetic
//! five-field rule sets ("filters") and packet-header traces. This module reads the three
//! files the benchmark data come in:
//!
//! - a filter file, one rule per line, the first line being the highest priority:
//!   `@10.0.0.0/8<TAB>192.168.1.0/24<TAB>0 : 65535<TAB>80 : 80<TAB>0x06/0xFF<TAB>0x0000/0x0000`
//!   (the last field, TCP flags, is optional and ignored);
//! - a trace file, one packet per line: source and destination address as host-order
//!   decimal integers, source and destination port, protocol, then optional flags and
//!   filter id columns, which are ignored;
//! - a truth file, one answer per trace line: the 0-based index of the first matching rule,
//!   or `-1` when none matches.
//!
//! The parsers take any [`BufRead`], never panic, and name the line and the offending text
//! in their errors. With the `gzip` feature, [`open`] reads plain or gzip-compressed files.
//!
//! ```
//! use sgeval_classifier::classbench;
//!
//! let rules = classbench::parse_rules("@10.0.0.0/8\t0.0.0.0/0\t0 : 65535\t80 : 80\t0x06/0xFF\n".as_bytes())?;
//! let trace = classbench::parse_trace("167772161\t3232235777\t5000\t80\t6\t0\t0\n".as_bytes())?;
//! assert!(rules[0].matches(&trace[0]));
//! # Ok::<(), classbench::ParseError>(())
//! ```

use std::io::BufRead;
use std::net::Ipv4Addr;

use crate::{Key, PortRange, Prefix, Rule};

/// Why a ClassBench file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The reader failed.
    #[error("line {line}: cannot read: {source}")]
    Io {
        /// 1-based line number being read.
        line: usize,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A line does not have the expected shape.
    #[error("line {line}: {message}")]
    Syntax {
        /// 1-based line number.
        line: usize,
        /// What is wrong, naming the field and the offending text.
        message: String,
    },
}

impl ParseError {
    /// The 1-based line number the error is about.
    pub fn line(&self) -> usize {
        match self {
            ParseError::Io { line, .. } | ParseError::Syntax { line, .. } => *line,
        }
    }
}

/// Calls `f` on every non-blank line with its 1-based number.
fn for_each_line(
    mut reader: impl BufRead,
    mut f: impl FnMut(usize, &str) -> Result<(), String>,
) -> Result<(), ParseError> {
    let mut buf = Vec::new();
    let mut line = 0usize;
    loop {
        buf.clear();
        line += 1;
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|source| ParseError::Io { line, source })?;
        if n == 0 {
            return Ok(());
        }
        let text = std::str::from_utf8(&buf).map_err(|_| ParseError::Syntax {
            line,
            message: "line is not valid UTF-8".to_string(),
        })?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        f(line, text).map_err(|message| ParseError::Syntax { line, message })?;
    }
}

fn parse_prefix(field: &str, text: &str) -> Result<Prefix<u32>, String> {
    let (addr, len) = text
        .split_once('/')
        .ok_or_else(|| format!("{field} `{text}` is not an address/length prefix"))?;
    let addr: Ipv4Addr = addr
        .parse()
        .map_err(|_| format!("{field} address `{addr}` is not an IPv4 address"))?;
    let len: u8 = len
        .parse()
        .ok()
        .filter(|l| *l <= 32)
        .ok_or_else(|| format!("{field} prefix length `{len}` is not in 0..=32"))?;
    Prefix::new(u32::from(addr), len).ok_or_else(|| format!("{field} prefix `{text}` has host bits set"))
}

fn parse_port(field: &str, text: &str) -> Result<u16, String> {
    text.parse()
        .map_err(|_| format!("{field} `{text}` is not a port in 0..=65535"))
}

fn parse_hex_u8(field: &str, text: &str) -> Result<u8, String> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    u8::from_str_radix(digits, 16).map_err(|_| format!("{field} `{text}` is not a byte in hex"))
}

fn parse_hex_u16(field: &str, text: &str) -> Result<u16, String> {
    let digits = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .unwrap_or(text);
    u16::from_str_radix(digits, 16).map_err(|_| format!("{field} `{text}` is not a 16-bit value in hex"))
}

/// Parses one filter line (without its line number).
///
/// # Errors
/// A message naming the field and the offending text.
pub fn parse_rule_line(text: &str) -> Result<Rule<u32>, String> {
    let body = text
        .trim()
        .strip_prefix('@')
        .ok_or_else(|| "filter line does not start with `@`".to_string())?;
    let tokens: Vec<&str> = body.split_whitespace().collect();
    // src dst lo : hi lo : hi proto/mask [flags/mask]
    if tokens.len() != 9 && tokens.len() != 10 {
        return Err(format!(
            "expected `@src/len dst/len lo : hi lo : hi proto/mask [flags/mask]`, found {} fields",
            tokens.len()
        ));
    }
    let src = parse_prefix("source", tokens[0])?;
    let dst = parse_prefix("destination", tokens[1])?;
    let range = |field: &str, lo: &str, colon: &str, hi: &str| -> Result<PortRange, String> {
        if colon != ":" {
            return Err(format!("{field} range `{lo} {colon} {hi}` is not `lo : hi`"));
        }
        let (lo_n, hi_n) = (parse_port(field, lo)?, parse_port(field, hi)?);
        PortRange::new(lo_n, hi_n).ok_or_else(|| format!("{field} range `{lo} : {hi}` is empty (lo > hi)"))
    };
    let src_ports = range("source port", tokens[2], tokens[3], tokens[4])?;
    let dst_ports = range("destination port", tokens[5], tokens[6], tokens[7])?;
    let (proto, mask) = tokens[8]
        .split_once('/')
        .ok_or_else(|| format!("protocol `{}` is not `value/mask`", tokens[8]))?;
    let proto = parse_hex_u8("protocol", proto)?;
    let proto_mask = parse_hex_u8("protocol mask", mask)?;
    if let Some(flags) = tokens.get(9) {
        let (value, mask) = flags
            .split_once('/')
            .ok_or_else(|| format!("flags `{flags}` are not `value/mask`"))?;
        parse_hex_u16("flags", value)?;
        parse_hex_u16("flags mask", mask)?;
    }
    Ok(Rule {
        src,
        dst,
        src_ports,
        dst_ports,
        proto,
        proto_mask,
    })
}

/// Parses a filter file: one rule per line, in priority order.
///
/// # Errors
/// The first line that is not a filter, with its number.
pub fn parse_rules(reader: impl BufRead) -> Result<Vec<Rule<u32>>, ParseError> {
    let mut rules = Vec::new();
    for_each_line(reader, |_, text| {
        rules.push(parse_rule_line(text)?);
        Ok(())
    })?;
    Ok(rules)
}

/// Parses one trace line: `src dst sport dport proto [flags [filter id]]`.
///
/// # Errors
/// A message naming the field and the offending text.
pub fn parse_trace_line(text: &str) -> Result<Key<u32>, String> {
    let tokens: Vec<&str> = text.split_whitespace().collect();
    if !(5..=7).contains(&tokens.len()) {
        return Err(format!(
            "expected `src dst sport dport proto [flags [filter]]`, found {} fields",
            tokens.len()
        ));
    }
    let addr = |field: &str, t: &str| -> Result<u32, String> {
        t.parse()
            .map_err(|_| format!("{field} `{t}` is not a 32-bit unsigned integer"))
    };
    let key = Key {
        src: addr("source address", tokens[0])?,
        dst: addr("destination address", tokens[1])?,
        src_port: parse_port("source port", tokens[2])?,
        dst_port: parse_port("destination port", tokens[3])?,
        proto: tokens[4]
            .parse()
            .map_err(|_| format!("protocol `{}` is not in 0..=255", tokens[4]))?,
    };
    for (field, t) in ["flags", "filter id"].iter().zip(&tokens[5..]) {
        t.parse::<u64>()
            .map_err(|_| format!("{field} `{t}` is not an unsigned integer"))?;
    }
    Ok(key)
}

/// Parses a trace file: one packet header per line.
///
/// # Errors
/// The first line that is not a packet header, with its number.
pub fn parse_trace(reader: impl BufRead) -> Result<Vec<Key<u32>>, ParseError> {
    let mut keys = Vec::new();
    for_each_line(reader, |_, text| {
        keys.push(parse_trace_line(text)?);
        Ok(())
    })?;
    Ok(keys)
}

/// Parses a truth file: per line, the index of the first matching rule or `-1` for none.
///
/// # Errors
/// The first line that is not an index or `-1`, with its number.
pub fn parse_truth(reader: impl BufRead) -> Result<Vec<Option<u32>>, ParseError> {
    let mut answers = Vec::new();
    for_each_line(reader, |_, text| {
        let answer = match text {
            "-1" => None,
            _ => Some(
                text.parse::<u32>()
                    .map_err(|_| format!("answer `{text}` is not a rule index or `-1`"))?,
            ),
        };
        answers.push(answer);
        Ok(())
    })?;
    Ok(answers)
}

/// Opens a file for reading, decompressing it when it starts with the gzip magic bytes.
///
/// # Errors
/// The file cannot be opened or read.
#[cfg(feature = "gzip")]
pub fn open(path: &std::path::Path) -> std::io::Result<Box<dyn BufRead>> {
    use std::io::BufReader;

    let mut reader = BufReader::with_capacity(1 << 16, std::fs::File::open(path)?);
    let gzip = reader.fill_buf()?.starts_with(&[0x1f, 0x8b]);
    Ok(if gzip {
        Box::new(BufReader::with_capacity(
            1 << 16,
            flate2::bufread::MultiGzDecoder::new(reader),
        ))
    } else {
        Box::new(reader)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_line_with_flags_and_trailing_tab_parses() {
        let r = parse_rule_line(
            "@30.73.49.192/28\t30.73.54.112/28\t123 : 123\t80 : 80\t0x11/0xFF\t0x0000/0x0000\t",
        )
        .unwrap();
        assert_eq!(r.src, Prefix::new(0x1e49_31c0, 28).unwrap());
        assert_eq!(r.dst, Prefix::new(0x1e49_3670, 28).unwrap());
        assert_eq!(r.src_ports, PortRange::single(123));
        assert_eq!(r.dst_ports, PortRange::single(80));
        assert_eq!((r.proto, r.proto_mask), (0x11, 0xff));
    }

    #[test]
    fn filter_errors_name_line_field_and_text() {
        let text = "@0.0.0.0/0\t0.0.0.0/0\t0 : 65535\t0 : 65535\t0x00/0x00\n\n@1.2.3.4/8\t0.0.0.0/0\t0 : 1\t0 : 1\t0x06/0xFF\n";
        let e = parse_rules(text.as_bytes()).unwrap_err();
        assert_eq!(e.line(), 3);
        assert_eq!(
            e.to_string(),
            "line 3: source prefix `1.2.3.4/8` has host bits set"
        );
        for (line, needle) in [
            ("@1.2.3.0/33 0.0.0.0/0 0 : 1 0 : 1 0x06/0xFF", "`33`"),
            ("@1.2.3.0/24 0.0.0.0/0 5 : 1 0 : 1 0x06/0xFF", "empty"),
            ("@1.2.3.0/24 0.0.0.0/0 0 : 70000 0 : 1 0x06/0xFF", "`70000`"),
            ("@1.2.3.0/24 0.0.0.0/0 0 - 1 0 : 1 0x06/0xFF", "`0 - 1`"),
            ("@1.2.3.0/24 0.0.0.0/0 0 : 1 0 : 1 0x106/0xFF", "`0x106`"),
            ("1.2.3.0/24 0.0.0.0/0 0 : 1 0 : 1 0x06/0xFF", "`@`"),
            ("@1.2.3.0/24 0.0.0.0/0 0 : 1", "found 5 fields"),
            ("@1.2.3/24 0.0.0.0/0 0 : 1 0 : 1 0x06/0xFF", "`1.2.3`"),
        ] {
            let e = parse_rule_line(line).unwrap_err();
            assert!(e.contains(needle), "{line}: {e}");
        }
    }

    #[test]
    fn trace_and_truth_parse_and_reject_bad_values() {
        let keys = parse_trace("1044126168\t1559590493\t0\t65535\t6\t0\t743\n".as_bytes()).unwrap();
        assert_eq!(
            keys,
            vec![Key {
                src: 1044126168,
                dst: 1559590493,
                src_port: 0,
                dst_port: 65535,
                proto: 6
            }]
        );
        let e = parse_trace("1 2 3 4 6\n1 2 3 65536 6\n".as_bytes()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "line 2: destination port `65536` is not a port in 0..=65535"
        );
        assert!(parse_trace_line("4294967296 1 2 3 4").is_err());
        assert!(parse_trace_line("1 1 2 3 256").is_err());
        assert_eq!(
            parse_truth("3\n-1\n0\n".as_bytes()).unwrap(),
            vec![Some(3), None, Some(0)]
        );
        assert_eq!(parse_truth("3\n-2\n".as_bytes()).unwrap_err().line(), 2);
    }

    #[test]
    fn invalid_utf8_is_an_error_not_a_panic() {
        let e = parse_truth(&b"1\n\xff\xfe\n"[..]).unwrap_err();
        assert_eq!(e.line(), 2);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, ..Default::default() })]
        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200),
                               text in "[@0-9./: \\t\\nx-]{0,120}") {
            let _ = parse_rules(&bytes[..]);
            let _ = parse_trace(&bytes[..]);
            let _ = parse_truth(&bytes[..]);
            let _ = parse_rules(text.as_bytes());
            let _ = parse_trace(text.as_bytes());
            let _ = parse_truth(text.as_bytes());
        }
    }
}
