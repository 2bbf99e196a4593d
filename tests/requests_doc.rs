//! REQUESTS.md cannot drift from the front ends: every ```json block of it that names a
//! `"provider"` is a scenario, replayed here. A block succeeds call by call, unless the line
//! just before its fence is `<!-- expect: CODE -->`: then every call but the last succeeds
//! and the last is answered with the error code CODE. Every API of every provider's `APIS`
//! must be called by some block, so a new API cannot go undocumented.

use std::collections::BTreeSet;

use serde_json::Value;
use sgeval::testkit::error_code;
use sgeval::{Provider, Scenario};

/// One scenario block of the page.
struct Block {
    /// The line of its opening fence (1-based), for messages.
    line: usize,
    /// The error code the last call must answer with, when it is an error example.
    expect: Option<String>,
    text: String,
}

fn page() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/REQUESTS.md");
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// The ```json blocks with a `"provider"` key, each with the expectation marker before it.
/// A marker that is not directly followed by a scenario block is an error of the page.
fn blocks(page: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = page.lines().enumerate();
    let mut marker: Option<(usize, String)> = None;
    while let Some((i, line)) = lines.next() {
        let trimmed = line.trim();
        if let Some(code) = trimmed
            .strip_prefix("<!-- expect:")
            .and_then(|rest| rest.strip_suffix("-->"))
        {
            assert!(
                marker.is_none(),
                "REQUESTS.md:{}: two expect markers in a row",
                i + 1
            );
            marker = Some((i + 1, code.trim().to_owned()));
            continue;
        }
        if trimmed != "```json" {
            assert!(
                marker.is_none() || trimmed.is_empty(),
                "REQUESTS.md:{}: an expect marker must come just before a ```json block",
                marker.as_ref().map_or(0, |m| m.0)
            );
            continue;
        }
        let mut text = String::new();
        for (j, body) in lines.by_ref() {
            if body.trim() == "```" {
                break;
            }
            assert!(
                !body.trim_start().starts_with("```"),
                "REQUESTS.md:{}: unclosed block",
                j + 1
            );
            text.push_str(body);
            text.push('\n');
        }
        let value: Value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("REQUESTS.md:{}: not JSON: {e}", i + 1));
        let expect = marker.take().map(|m| m.1);
        if value.get("provider").is_some() {
            out.push(Block {
                line: i + 1,
                expect,
                text,
            });
        } else {
            assert!(
                expect.is_none(),
                "REQUESTS.md:{}: an expect marker before a block that is no scenario",
                i + 1
            );
        }
    }
    out
}

#[test]
fn every_scenario_of_requests_md_answers_as_documented() {
    let page = page();
    let blocks = blocks(&page);
    let mut called: BTreeSet<(Provider, String)> = BTreeSet::new();
    let mut errors = 0;
    for block in &blocks {
        let at = format!("REQUESTS.md:{}", block.line);
        let scenario = Scenario::from_json(&block.text).unwrap_or_else(|e| panic!("{at}: {e}"));
        let replay = scenario.replay().unwrap_or_else(|e| panic!("{at}: {e}"));
        for o in &replay.outcomes {
            called.insert((scenario.provider, o.api.clone()));
        }
        let last = replay.outcomes.len().checked_sub(1);
        for (n, o) in replay.outcomes.iter().enumerate() {
            let body = &o.response.body;
            match &block.expect {
                Some(code) if Some(n) == last => {
                    assert!(
                        !o.response.is_success(),
                        "{at}: call {n} ({}) should fail with {code}, but answered {} {body}",
                        o.api,
                        o.response.status
                    );
                    assert_eq!(
                        error_code(body),
                        Some(code.as_str()),
                        "{at}: call {n} ({}) answered {} {body}",
                        o.api,
                        o.response.status
                    );
                    errors += 1;
                }
                _ => assert!(
                    o.response.is_success(),
                    "{at}: call {n} ({}) failed: {} {body}",
                    o.api,
                    o.response.status
                ),
            }
        }
        assert!(
            block.expect.is_some() || replay.endpoint_error.is_none(),
            "{at}: endpoints: {:?}",
            replay.endpoint_error
        );
        assert!(
            block.expect.is_none() || last.is_some(),
            "{at}: an error example without calls"
        );
    }
    for provider in Provider::ALL {
        for api in provider.apis() {
            assert!(
                called.contains(&(provider, (*api).to_owned())),
                "REQUESTS.md calls no {} `{api}`",
                provider.name()
            );
        }
    }
    // The page documents errors too; an edit that drops every marker would test nothing of them.
    assert!(errors >= 8, "only {errors} error examples");
}

#[test]
fn an_expect_marker_is_read_and_a_wrong_code_fails() {
    // The harness itself: a marked block is an error example; a replay of it answers the code.
    let page = "<!-- expect: MissingRegionId -->\n```json\n{\"provider\": \"ecs\", \"calls\": [\
                {\"api\": \"CreateSecurityGroup\", \"params\": {\"VpcId\": \"vpc-1\"}}]}\n```\n\
                ```json\n{\"not\": \"a scenario\"}\n```\n";
    let found = blocks(page);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].expect.as_deref(), Some("MissingRegionId"));
    let replay = Scenario::from_json(&found[0].text).unwrap().replay().unwrap();
    assert_eq!(
        error_code(&replay.outcomes[0].response.body),
        Some("MissingRegionId")
    );
}
