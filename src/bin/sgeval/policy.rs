//! `sgeval diff --policy FILE`: forbidden exposures, one per line.
//!
//! ```text
//! # comments and blank lines are ignored
//! tcp/22,3389 from internet
//! udp/53 from 0.0.0.0/0 to web
//! all from internet
//! ```
//!
//! A line is `PROTOCOLS[/PORTS] from SIDE [to SIDE]`: the protocols and destination ports
//! as `--proto`/`--dport` take them (`all` for every protocol), the sides as `--from`/`--to`
//! (endpoint names, addresses, CIDRs, `internet`, `any`, comma lists); `to` defaults to
//! every address, so every endpoint. Each line is a new-connection query; any region of it
//! the planned state allows is a violation.

use sgeval::query::{Mode, Query, Restrict, Side};

/// One forbidden exposure.
#[derive(Clone, Debug)]
pub struct Forbidden {
    /// 1-based line number in the file.
    pub line: usize,
    /// The line as written (without its comment).
    pub text: String,
    /// The packets that must not pass.
    pub query: Query,
}

/// Parses a policy file's text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Vec<Forbidden>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let query = parse_line(line).map_err(|e| format!("{file}:{}: `{line}`: {e}", i + 1))?;
        out.push(Forbidden {
            line: i + 1,
            text: line.to_owned(),
            query,
        });
    }
    if out.is_empty() {
        return Err(format!(
            "{file}: no forbidden exposure in the file (a line is `tcp/22,3389 from internet`)"
        ));
    }
    Ok(out)
}

/// `PROTOCOLS[/PORTS] from SIDE [to SIDE]`.
fn parse_line(line: &str) -> Result<Query, String> {
    let mut tokens = line.split_whitespace();
    let spec = tokens.next().unwrap_or_default();
    if !tokens.next().is_some_and(|t| t.eq_ignore_ascii_case("from")) {
        return Err("expected `PROTOCOLS[/PORTS] from SIDE [to SIDE]`".into());
    }
    let rest: Vec<&str> = tokens.collect();
    let split = rest.iter().position(|t| t.eq_ignore_ascii_case("to"));
    let (from, to) = match split {
        Some(k) => (rest[..k].concat(), rest[k + 1..].concat()),
        None => (rest.concat(), "any".to_owned()),
    };
    if from.is_empty() {
        return Err("no source after `from`".into());
    }
    if to.is_empty() {
        return Err("no destination after `to`".into());
    }
    let (protocols, ports) = match spec.split_once('/') {
        Some((p, ports)) => (p, Some(ports)),
        None => (spec, None),
    };
    let mut restrict = Restrict::default();
    if !protocols.eq_ignore_ascii_case("all") {
        restrict.protocols = Some(Restrict::parse_protocols(protocols).map_err(|e| e.to_string())?);
    }
    if let Some(ports) = ports {
        restrict.dst_ports = Some(Restrict::parse_ports("ports", ports).map_err(|e| e.to_string())?);
    }
    restrict.check().map_err(|e| e.to_string())?;
    let from: Side = from.parse().map_err(|e| format!("source: {e}"))?;
    let to: Side = to.parse().map_err(|e| format!("destination: {e}"))?;
    Ok(Query {
        from,
        to,
        mode: Mode::New,
        restrict,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_parse_into_queries() {
        let p = parse(
            "p",
            "# forbidden\n\ntcp/22,3389 from internet\nudp/53 from 0.0.0.0/0 to web # dns\nall from internet\n",
        )
        .unwrap();
        assert_eq!(p.iter().map(|f| f.line).collect::<Vec<_>>(), [3, 4, 5]);
        assert_eq!(p[0].query.from.label(), "internet");
        assert_eq!(p[0].query.to.label(), "any");
        assert_eq!(
            p[0].query.restrict.dst_ports,
            Some(Restrict::parse_ports("p", "22,3389").unwrap())
        );
        assert_eq!(
            p[0].query.restrict.protocols,
            Some(Restrict::parse_protocols("tcp").unwrap())
        );
        assert_eq!(p[1].query.to.label(), "web");
        assert_eq!(p[1].text, "udp/53 from 0.0.0.0/0 to web");
        assert_eq!(p[2].query.restrict, Restrict::default());
    }

    #[test]
    fn bad_lines_are_refused_with_file_and_line() {
        for (text, needle) in [
            ("tcp/22 internet", "expected"),
            ("tcp/22 from", "no source"),
            ("tcp/22 from internet to", "no destination"),
            ("tcpx/22 from internet", "tcpx"),
            ("icmp/8 from internet", "no ports"),
            ("tcp/99999 from internet", "99999"),
        ] {
            let e = parse("pol.txt", text).unwrap_err();
            assert!(e.starts_with("pol.txt:1: "), "{e}");
            assert!(e.contains(needle), "{text}: {e}");
        }
        assert!(parse("pol.txt", "# nothing\n")
            .unwrap_err()
            .contains("no forbidden"));
    }
}
